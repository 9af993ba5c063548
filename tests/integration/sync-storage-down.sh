#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Storage unreachable at boot: tenant-init (PID 1) keeps restoring with
# backoff, does not start the gateway on the empty directory, sends no
# deletion -- even though the sync state on the volume lists 150 files
# that are missing locally -- and finishes the restore once the storage
# is back; /readyz says `restoring` meanwhile. Then a storage outage while
# running: changes wait on disk and arrive when the storage returns, the
# tenant stays ready with the `sync-degraded` warning, and /metrics shows
# the errors and the lag. Last, a gateway-mode stop while the storage is
# down: the flush cannot finish, exit 75.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

DATA=$TI_TMP/data
LOG=$TI_TMP/ti.log
mkdir -p "$DATA"
for i in $(seq 1 150); do echo "file $i" >"$DATA/f$i"; done
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" $(s3_env d1/) \
	"$TI_BIN" sync --once 2>/dev/null
is "$(s3_keys d1/ | wc -l)" 150 "150 files backed up (and tracked in the state)"
# The volume keeps the sync state but loses the files: the worst case for
# a sync that would take "missing locally" for "deleted".
find "$DATA" -maxdepth 1 -name 'f*' -delete
s3_proxy_stop
: >"$S3_LOG"

HP=$(free_port)
GWP=$(free_port)
BASE=http://127.0.0.1:$HP
readyz() { curl -s -m 5 "$BASE/readyz"; }
readyz_code() { curl -s -o /dev/null -w '%{http_code}' -m 5 "$BASE/readyz"; }
metric() { curl -s -m 5 "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
metric_above() { awk -v v="$(metric "$1")" -v t="$2" 'BEGIN {exit !(v != "" && v + 0 > t)}'; }
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=200ms \
	TENANT_HEALTH_LISTEN=127.0.0.1:$HP TENANT_GATEWAY_PORT=$GWP \
	$(s3_env d1/) -- sh -c "touch $TI_TMP/gateway-started; exec $TI_HELPERS/fakegw --port $GWP"
ok $? "tenant-init started with the storage down"
wait_until 30 grep -q "restore: storage error" "$LOG"
ok $? "the restore reports the storage error"
wait_until 30 grep -q "retrying (attempt 10)" "$LOG"
ok $? "... and keeps retrying"
[ ! -e "$TI_TMP/gateway-started" ]
ok $? "the gateway is not started meanwhile"
is "$(ls "$DATA" | wc -l)" 0 "nothing restored yet"
is "$(readyz_code) $(readyz | grep -o '"reasons":\[[^]]*\]')" \
	'503 "reasons":["restoring"]' "/readyz: 503, restoring"
wait_until 30 metric_above tenant_sync_errors_total 0
ok $? "/metrics counts the restore's storage errors"

s3_proxy_start
wait_until 30 test -e "$TI_TMP/gateway-started"
ok $? "storage back: the restore finished and the gateway started"
is "$(ls "$DATA" | grep -c '^f')" 150 "all 150 files restored"
is "$(cat "$DATA/f42")" "file 42" "... with their content"
is "$(s3_count POST '\?delete')$(s3_count DELETE)" 00 "no deletion was ever sent"
# (openclaw.json, written at boot, may or may not be uploaded by now)
is "$(s3_keys d1/ | grep -c "^d1/openclaw/f")" 150 "the bucket still has everything"

# An outage while running: nothing lost, nothing dropped.
since=$(wc -l <"$LOG")
new_log() { tail -n +"$((since + 1))" "$LOG" | grep -q "$1"; }
s3_proxy_stop
echo "written during the outage" >"$DATA/during.txt"
rm "$DATA/f1"
wait_until 30 new_log "unable to sync d1/openclaw/during.txt"
ok $? "the upload fails while the storage is down"
wait_until 30 new_log "storage has been failing for 10 s"
ok $? "after 10 s of failures the agent reports itself degraded"
degraded() { readyz | grep -q '"warnings":\["sync-degraded"\]'; }
wait_until 10 degraded
ok $? "/readyz warns sync-degraded ($(readyz))"
is "$(readyz_code)" 200 "... and the tenant stays ready"
ok $(metric_above tenant_sync_lag_seconds 5; echo $?) \
	"/metrics: the lag grows during the outage ($(metric tenant_sync_lag_seconds) s)"
ok $(metric_above tenant_sync_queue_depth 0; echo $?) \
	"/metrics: the change waits in the queue"
s3_proxy_start
wait_until 60 test -f "$(s3_obj d1/openclaw/during.txt)"
ok $? "storage back: the change made during the outage arrives"
wait_until 60 test ! -e "$(s3_obj d1/openclaw/f1)"
ok $? "... and so does the deletion"
new_log "storage reachable again"
ok $? "recovery is logged"
not_degraded() { readyz | grep -q '"warnings":\[\]'; }
wait_until 30 not_degraded
ok $? "the warning clears once the storage is back"
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 0 "clean stop (tini mode: the stand-in's code, 0 on SIGTERM)"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"

# Gateway mode (no COMMAND), storage down at the stop: the gateway stops
# cleanly, the flush cannot finish within TENANT_FLUSH_TIMEOUT, exit 75;
# the file stays on disk (and in the dirty state) for the next boot.
LOG2=$TI_TMP/ti2.log
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=200ms \
	TENANT_HEALTH_LISTEN=127.0.0.1:$HP TENANT_GATEWAY_PORT=$GWP \
	TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port $GWP" \
	TENANT_FLUSH_TIMEOUT=2s $(s3_env d1/) \
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
	>"$LOG2" 2>&1 &
TI_NS_PID=$!
bg_track "$TI_NS_PID"
ready() { [ "$(readyz_code)" = 200 ]; }
wait_until 60 ready
ok $? "gateway mode: ready"
s3_proxy_stop
echo "written just before the stop" >"$DATA/last.txt"
wait_until 30 grep -q "unable to sync d1/openclaw/last.txt" "$LOG2"
ok $? "its upload fails: the storage is down"
t0=$(date +%s%N)
kill -TERM "$(pgrep -P "$TI_NS_PID" -x tenant-init)"
ti_pid1_wait 60
t1=$(date +%s%N)
is "$TI_RC" 75 "the flush did not finish: exit 75"
ok $(((t1 - t0) / 1000000 < 15000 ? 0 : 1)) \
	"... bounded by TENANT_FLUSH_TIMEOUT ($(((t1 - t0) / 1000000)) ms)"
is "$(cat "$DATA/last.txt")" "written just before the stop" "the file is kept on disk"
no_sanitizer_report "$LOG2"
ok $? "no sanitizer report"
done_testing
