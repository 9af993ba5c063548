#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Chaos: the data directory fills up during the boot restore. The data
# directory is a 1 MiB tmpfs (mounted in a mount namespace of the test's
# own), the bucket holds 40 objects of 64 KiB (2.5 MiB). Gateway mode, the
# fake gateway as TENANT_GATEWAY_CMD.
#
#  - the log names the problem: "No space left on device", with the file
#    and the directory;
#  - no partial file: every file in place is complete and byte-identical
#    to its object, and nothing but in-flight downloads is in the staging
#    directory (and nothing at all after the stop);
#  - the gateway is not started on a half-restored directory: /readyz
#    keeps saying "restoring", the fake gateway's start counter stays
#    empty, while the restore retries;
#  - once there is room (the tmpfs grown with a remount) the same restore
#    completes by itself and only then the gateway starts;
#  - SIGTERM while stuck: a clean exit 0 and an empty staging directory.
if [ -z "${TI_IN_MOUNTNS:-}" ]; then
	if unshare --mount --propagation private -- true 2>/dev/null; then
		exec unshare --mount --propagation private -- \
			env TI_IN_MOUNTNS=1 bash "$0" "$@"
	fi
	echo "1..0 # SKIP unshare --mount not available (needs root)"
	exit 0
fi
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_have || skip_all "s3rver not installed (tests/deps.sh)"
have_unshare_pid || skip_all "cannot create a PID namespace"
command -v curl >/dev/null || skip_all "curl not installed"

N=40
SEED=$TI_TMP/seed
DATA=$TI_TMP/data
P=f1/openclaw
mkdir -p "$SEED" "$DATA"
mount -t tmpfs -o size=1m,mode=0755 tenant-full "$DATA" ||
	skip_all "cannot mount a tmpfs"
# lib.sh's cleanup removes $TI_TMP: unmount first.
trap 'umount "$DATA" 2>/dev/null; _cleanup' EXIT
s3_start || skip_all "s3rver did not start"

python3 - "$SEED" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "blob%02d.bin" % i), "wb") as f:
        f.write(os.urandom(64 * 1024))
PY
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$SEED" $(s3_env f1/) \
	"$TI_BIN" sync --once 2>"$TI_TMP/seed.log"
is "$(s3_keys "$P/" | wc -l)" "$N" "bucket seeded: $N objects of 64 KiB"

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
count=$TI_TMP/gw-starts
LOG=$TI_TMP/ti.log
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" $(s3_env f1/) \
	TENANT_GATEWAY_PORT="$gw" TENANT_HEALTH_LISTEN="127.0.0.1:$hp" \
	TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port $gw --count $count" \
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
	>"$LOG" 2>&1 &
upid=$!
bg_track "$upid"

restored() {
	(cd "$DATA" && find . -path ./.tenant-init -prune -o -type f -printf '%P\n')
}
all_complete() { # every file in place is its object, byte for byte
	local f
	while IFS= read -r f; do
		[ "$f" = openclaw.json ] && continue
		cmp -s "$DATA/$f" "$(s3_obj "$P/$f")" || return 1
	done < <(restored)
}

ok_cmd "the log names the full disk" \
	wait_until 30 grep -q "No space left on device" "$LOG"
diag "$(grep -m1 "No space left on device" "$LOG" | sed 's/^.*\(warn\|error\): //')"
ok_cmd "... and says the restore retries" \
	wait_until 30 grep -qE "restore: .*No space left on device.*retrying" "$LOG"
# Let it retry a few rounds (each failure counts an attempt; the log
# shows the 1st and every 10th; the restore backs off up to 5 s).
ok_cmd "still retrying, not giving up (attempt 10 logged)" \
	wait_until 60 grep -qE "No space left on device; retrying \(attempt 10\)" "$LOG"
ok_cmd "/readyz stays 'restoring'" readyz_has '"restoring"'
is "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" 503 "... with 503"
ok $([ ! -s "$count" ]; echo $?) "the gateway was not started"
got=$(restored | wc -l)
ok $((got >= N)) "the restore is incomplete ($got of $N files in place)"
all_complete
ok $? "no partial file: every file in place is byte-identical to its object"

# Room again: the same restore goes on and finishes, then the gateway.
mount -o remount,size=16m "$DATA"
ok $? "tmpfs grown to 16 MiB"
ok_cmd "the restore completes and the gateway starts" \
	wait_until 40 test -s "$count"
is "$(restored | grep -vc '^openclaw.json$')" "$N" "all $N files restored"
all_complete
ok $? "... each byte-identical to its object"
ok_cmd "ready" wait_until 15 readyz_has '"ready":true'
tpid=$(ti_pid_below "$upid")
kill -TERM "$tpid"
wait_pid_exit "$upid" 30
reap_bounded "$upid"
is "$?" 0 "clean exit 0"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"

# Full again, and SIGTERM while the restore is stuck.
rm -rf "${DATA:?}"/* "$DATA/.tenant-init"
mount -o remount,size=1m "$DATA"
: >"$count"
LOG2=$TI_TMP/ti2.log
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" $(s3_env f1/) \
	TENANT_GATEWAY_PORT="$gw" TENANT_HEALTH_LISTEN="127.0.0.1:$hp" \
	TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port $gw --count $count" \
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
	>"$LOG2" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "second run: stuck on the full disk" \
	wait_until 30 grep -q "No space left on device" "$LOG2"
tpid=$(ti_pid_below "$upid")
kill -TERM "$tpid"
wait_pid_exit "$upid" 20
ok $? "SIGTERM ends it"
reap_bounded "$upid"
is "$?" 0 "clean exit 0"
is "$(ls -A "$DATA/.tenant-init/tmp" | wc -l)" 0 "the staging directory is empty"
all_complete
ok $? "no partial file"
ok $([ ! -s "$count" ]; echo $?) "the gateway never started"
no_sanitizer_report "$LOG2"
ok $? "no sanitizer report"
diag_logs_if_failed "$LOG" "$LOG2"
done_testing
