#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Shutdown and "sync now", with tenant-init as PID 1 and the sync agent it
# starts (tini mode: `tenant-init -- sleep`, the gateway stand-in):
#  - 100 files written, SIGTERM 100 ms after the last write: all 100 are
#    in the bucket by the time tenant-init has exited (the final flush);
#  - SIGUSR1 uploads a change at once, whatever the debounce;
#  - SIGTERM during the restore: the gateway never starts, no partial
#    file is left, and tenant-init exits cleanly (the flush is reported).
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

DATA=$TI_TMP/data
LOG=$TI_TMP/ti.log
mkdir -p "$DATA"

# -- 100 files, SIGTERM 100 ms after the last write --
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" $(s3_env f1/) -- sleep 100000
ok $? "tenant-init started as PID 1"
wait_until 30 grep -q "sync: watching" "$LOG"
ok $? "restore done, changes watched"
python3 - "$DATA" <<'PY'
import os, sys, time
d = sys.argv[1]
for i in range(100):
    with open(os.path.join(d, "file-%03d.txt" % i), "w") as f:
        f.write("content %d\n" % i)
time.sleep(0.1)   # the contract: SIGTERM 100 ms after the last write
PY
kill -TERM "$TI_PID"
ti_pid1_wait 60
ok $? "tenant-init exited"
is "$TI_RC" 143 "tini mode: the child's code (SIGTERM) is the exit code"
is "$(s3_keys f1/openclaw/ | grep -c "/file-[0-9]*\.txt$")" 100 "all 100 files are in the bucket"
bad=0
for i in $(seq 0 99); do
	f=$(printf 'file-%03d.txt' "$i")
	[ "$(cat "$(s3_obj "f1/openclaw/$f")" 2>/dev/null)" = "content $i" ] ||
		bad=$((bad + 1))
done
is "$bad" 0 "... each with its content"
grep -q "final flush" "$LOG"
ok $? "the agent flushed on shutdown"
grep -qE "flushing -> (killing|waiting for the sync agent to exit)" "$LOG"
ok $? "PID 1 waited for the flush before killing the rest"
grep -q "waiting for the sync agent to exit -> killing" "$LOG"
ok $? "... and for the agent to exit by itself after it"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"

# -- SIGUSR1: sync now, with a debounce of a minute --
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=60s \
	$(s3_env f1/) -- sleep 100000
wait_until 30 grep -q "sync: watching" "$LOG"
ok $? "restarted with a 60 s debounce"
grep -q "0 files downloaded" "$LOG"
ok $? "the warm restart downloaded nothing"
echo "urgent" >"$DATA/urgent.txt"
t0=$SECONDS
kill -USR1 "$TI_PID"
wait_until 20 test -f "$(s3_obj f1/openclaw/urgent.txt)"
ok $? "SIGUSR1 to PID 1: uploaded"
ok $((SECONDS - t0 >= 30)) "... well before the 60 s debounce ($((SECONDS - t0)) s)"
grep -q "syncing now (SIGUSR1)" "$LOG"
ok $? "... and logged"
kill -TERM "$TI_PID"
ti_pid1_wait 30
is "$TI_RC" 143 "clean stop"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"

# -- SIGTERM during the restore --
SEED=$TI_TMP/seed
mkdir -p "$SEED"
for i in $(seq 1 40); do head -c 20000 /dev/urandom >"$SEED/s$i.bin"; done
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$SEED" $(s3_env f2/) \
	"$TI_BIN" sync --once 2>/dev/null
is "$(s3_keys f2/ | wc -l)" 40 "40 objects to restore"
echo 1500 >"$S3_CTL/delay-get"
R=$TI_TMP/restoring
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$R" TENANT_SYNC_CONCURRENCY=4 \
	$(s3_env f2/) -- sh -c "touch $TI_TMP/gateway-started; exec sleep 100000"
wait_until 20 grep -q "^GET f2/openclaw/s" "$S3_LOG"
ok $? "the restore is downloading"
kill -TERM "$TI_PID"
ti_pid1_wait 30
ok $? "tenant-init exited during the restore"
is "$TI_RC" 0 "a clean exit (nothing was at risk)"
rm -f "$S3_CTL/delay-get"
[ ! -e "$TI_TMP/gateway-started" ]
ok $? "the gateway was never started"
partial=0
for f in "$R"/*.bin; do
	[ -e "$f" ] || continue
	cmp -s "$f" "$SEED/$(basename "$f")" || partial=$((partial + 1))
done
is "$partial" 0 "no partial file ($(ls "$R" | grep -c bin || true) complete)"
is "$(ls -A "$R/.tenant-init/tmp" | wc -l)" 0 "no temporary file left"
is "$(s3_count POST 'f2/.*delete')$(s3_count DELETE f2/)" 00 \
	"nothing was deleted from the bucket"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"
done_testing
