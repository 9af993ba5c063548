#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Storage unreachable at boot: tenant-init (PID 1) keeps restoring with
# backoff, does not start the gateway on the empty directory, sends no
# deletion -- even though the sync state on the volume lists 150 files
# that are missing locally -- and finishes the restore once the storage
# is back. Then a storage outage while running: changes wait on disk and
# arrive when the storage returns.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_have || skip_all "s3rver not installed (tests/deps.sh)"
have_unshare_pid || skip_all "cannot create a PID namespace"
s3_start || skip_all "s3rver did not start"

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

ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=200ms \
	$(s3_env d1/) -- sh -c "touch $TI_TMP/gateway-started; exec sleep 100000"
ok $? "tenant-init started with the storage down"
wait_until 30 grep -q "restore: storage error" "$LOG"
ok $? "the restore reports the storage error"
wait_until 30 grep -q "retrying (attempt 10)" "$LOG"
ok $? "... and keeps retrying"
[ ! -e "$TI_TMP/gateway-started" ]
ok $? "the gateway is not started meanwhile"
is "$(ls "$DATA" | wc -l)" 0 "nothing restored yet"

s3_proxy_start
wait_until 30 test -e "$TI_TMP/gateway-started"
ok $? "storage back: the restore finished and the gateway started"
is "$(ls "$DATA" | grep -c '^f')" 150 "all 150 files restored"
is "$(cat "$DATA/f42")" "file 42" "... with their content"
is "$(s3_count POST '\?delete')$(s3_count DELETE)" 00 "no deletion was ever sent"
is "$(s3_keys d1/ | wc -l)" 150 "the bucket still has everything"

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
s3_proxy_start
wait_until 60 test -f "$(s3_obj d1/openclaw/during.txt)"
ok $? "storage back: the change made during the outage arrives"
wait_until 60 test ! -e "$(s3_obj d1/openclaw/f1)"
ok $? "... and so does the deletion"
new_log "storage reachable again"
ok $? "recovery is logged"
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "clean stop"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"
done_testing
