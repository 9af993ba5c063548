#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Chaos: 1,000 synced files deleted locally at once (sync-continuous.sh
# covers 250). The deletion guard holds them back: no DELETE and no
# DeleteObjects request reaches storage, every object stays, /readyz
# carries the "sync-deletes-held" warning (while staying ready), the log
# says how many deletions are held and why, and
# tenant_sync_deleted_objects_total stays 0. When the files come back the
# guard lets go, the warning clears, and nothing was deleted either.
#
# Tini mode with the fake gateway as the command, so that /readyz is 200:
# the warning shows on a ready tenant.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

N=1000
KEEP=20
DATA=$TI_TMP/data
LOG=$TI_TMP/ti.log
P=d1/openclaw
hp=$(free_port)
gw=$(free_port)
base=http://127.0.0.1:$hp
mkdir -p "$DATA/keep"
make_files() {
	python3 - "$DATA" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "many%d" % (i % 10))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d" % i), "w") as f:
        f.write("file %d\n" % i)
PY
}
make_files
for i in $(seq 1 $KEEP); do echo "keep $i" >"$DATA/keep/k$i"; done

readyz() { curl -s -m 2 "$base/readyz"; }
deletes_sent() { echo $(($(s3_count POST '\?delete') + $(s3_count DELETE))); }
keys_are() { [ "$(s3_keys "$1" | wc -l)" -eq "$2" ]; }

# env -i drops the exported TENANT_HEALTH_LISTEN: give it ours after it.
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=200ms \
	$(s3_env d1/) TENANT_HEALTH_LISTEN="127.0.0.1:$hp" \
	TENANT_GATEWAY_PORT="$gw" -- "$TI_HELPERS/fakegw" --port "$gw"
wait_until 60 keys_are "$P/many" "$N"
ok $? "$N files uploaded"
wait_until 30 keys_are "$P/keep/" "$KEEP"
ok $? "... and $KEEP more"
ok_cmd "ready, no warning yet" \
	wait_until 10 eval 'readyz | grep -q "\"ready\":true.*\"warnings\":\[\]"'
is "$(deletes_sent)" 0 "no deletion sent so far"

rm -rf "$DATA"/many*
ok_cmd "the guard trips" wait_until 30 grep -q "holding back" "$LOG"
diag "$(grep -m1 'holding back' "$LOG" | sed 's/^.*warn: //')"
grep -m1 "holding back" "$LOG" | grep -q "holding back $N deletions"
ok $? "the log counts all $N deletions"
ok_cmd "/readyz warns sync-deletes-held" \
	wait_until 10 eval 'readyz | grep -q "sync-deletes-held"'
readyz | grep -q '"ready":true'
ok $? "... and the tenant stays ready"
# Give the uploader time to act on anything it might still send.
echo marker >"$DATA/keep/marker"
ok_cmd "uploads still flow meanwhile" wait_until 15 test -f "$(s3_obj "$P/keep/marker")"
is "$(deletes_sent)" 0 "no DELETE or DeleteObjects request reached storage"
is "$(s3_keys "$P/many" | wc -l)" "$N" "all $N objects are still there"
is "$(metric tenant_sync_deleted_objects_total)" 0 \
	"tenant_sync_deleted_objects_total is 0"

make_files
ok_cmd "the files come back: the guard lets go" \
	wait_until 30 grep -q "no longer held back" "$LOG"
ok_cmd "the warning clears" \
	wait_until 10 eval 'readyz | grep -q "\"warnings\":\[\]"'
is "$(deletes_sent)" 0 "still nothing deleted"
rm "$DATA/keep/marker"
ok_cmd "an ordinary deletion goes through again" \
	wait_until 15 eval '[ ! -e "$(s3_obj "$P/keep/marker")" ]'
is "$(s3_keys "$P/many" | wc -l)" "$N" "the $N objects are all there"

kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 0 "clean stop (tini mode: the child's code; fakegw exits 0 on SIGTERM)"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"
diag_logs_if_failed "$LOG"
done_testing
