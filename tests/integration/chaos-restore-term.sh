#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Chaos: SIGTERM to PID 1 in the middle of the boot restore (gateway mode,
# the fake gateway as TENANT_GATEWAY_CMD; 1,000 objects, each GET held
# 150 ms by the proxy so that downloads are in flight when it lands).
#
#  - tenant-init stops promptly and cleanly: exit 0. DESIGN.md "Exit
#    codes": 0 is a clean stop with everything flushed; nothing was
#    uploaded or changed before the restore completed, so the abandoned
#    restore leaves nothing to flush (not 75), and the gateway never ran
#    (no child's code to report);
#  - no partial file: the staging directory .tenant-init/tmp is empty,
#    no temporary name is left anywhere, and every file present is
#    complete and byte-identical to its object;
#  - the gateway never started (its start counter stays empty);
#  - the next boot completes the restore without downloading again what
#    the first one had already put in place, and only then starts the
#    gateway.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

N=1000
SEED=$TI_TMP/seed
DATA=$TI_TMP/data
P=r1/openclaw
mkdir -p "$SEED" "$DATA"
python3 - "$SEED" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "s%02d" % (i % 10))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d" % i), "wb") as f:
        f.write(os.urandom(2000 + (i * 53) % 30000))
PY
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$SEED" $(s3_env r1/) \
	"$TI_BIN" sync --once 2>"$TI_TMP/seed.log"
is "$(s3_keys "$P/" | wc -l)" "$N" "bucket seeded with $N objects"

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
count=$TI_TMP/gw-starts
# $1: log file. Gateway mode: the fake gateway is TENANT_GATEWAY_CMD.
boot() {
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" $(s3_env r1/) \
		TENANT_GATEWAY_PORT="$gw" TENANT_HEALTH_LISTEN="127.0.0.1:$hp" \
		TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port $gw --count $count" \
		unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
		>"$1" 2>&1 &
	upid=$!
	bg_track "$upid"
}
restored() { # files in place (the sync state and staging excluded)
	(cd "$DATA" && find . -path ./.tenant-init -prune -o -type f -printf '%P\n')
}
nrestored() { restored | wc -l; }

echo 150 >"$S3_CTL/delay-get"
LOG=$TI_TMP/boot1.log
boot "$LOG"
ok_cmd "restore under way: files arriving" \
	wait_until 60 eval '[ "$(nrestored)" -ge 100 ]'
ok_cmd "/readyz says restoring" readyz_has '"restoring"'
inflight() { ls "$DATA/.tenant-init/tmp" | grep -q .; }
ok_cmd "downloads in flight in the staging directory" wait_until 10 inflight
tpid=$(ti_pid_below "$upid")
t0=$SECONDS
kill -TERM "$tpid"
wait_pid_exit "$upid" 20
ok $? "SIGTERM during the restore: tenant-init exits"
reap_bounded "$upid"
is "$?" 0 "exit 0: a clean stop, nothing left to flush"
diag "stopped $((SECONDS - t0)) s after SIGTERM, $(nrestored) of $N files restored"
ok $(((SECONDS - t0) > 10)) "promptly: the restore was not finished first"
got=$(nrestored)
ok $((got >= N)) "the restore was cut short ($got of $N files)"
is "$(ls -A "$DATA/.tenant-init/tmp" | wc -l)" 0 "no temporary file left in .tenant-init/tmp"
is "$(find "$DATA" -name 'dl-*' -o -name '*.tmp' | wc -l)" 0 "no temporary name anywhere"
bad=0
while IFS= read -r f; do
	cmp -s "$DATA/$f" "$(s3_obj "$P/$f")" || bad=$((bad + 1))
done < <(restored)
is "$bad" 0 "every file present is complete and byte-identical to its object"
ok $([ ! -s "$count" ]; echo $?) "the gateway never started"
ok_cmd "the log says the restore was abandoned on the way out" \
	grep -q "stopping during the restore: abandoned" "$LOG"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"

# The next boot finishes the job and downloads only what was missing.
rm -f "$S3_CTL/delay-get"
gets_before=$(s3_count GET "$P/")
LOG2=$TI_TMP/boot2.log
boot "$LOG2"
ok_cmd "second boot: the gateway starts once the restore is done" \
	wait_until 60 test -s "$count"
is "$(restored | grep -vc '^openclaw.json$')" "$N" "all $N files restored"
bad=0
while IFS= read -r f; do
	[ "$f" = openclaw.json ] && continue
	cmp -s "$DATA/$f" "$(s3_obj "$P/$f")" || bad=$((bad + 1))
done < <(restored)
is "$bad" 0 "... each byte-identical to its object"
gets=$(($(s3_count GET "$P/") - gets_before))
is "$gets" $((N - got)) "only the $((N - got)) missing files were downloaded"
ok_cmd "ready" wait_until 15 readyz_has '"ready":true'
tpid=$(ti_pid_below "$upid")
kill -TERM "$tpid"
wait_pid_exit "$upid" 30
reap_bounded "$upid"
is "$?" 0 "second boot stops cleanly too"
no_sanitizer_report "$LOG2"
ok $? "no sanitizer report"
diag_logs_if_failed "$LOG" "$LOG2"
done_testing
