#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# kill -9 of the sync agent in the middle of uploads: PID 1 restarts it
# (without a second restore), the bucket converges to the disk, and the
# restarted agent does not upload everything again (the sync state is
# crash-safe). A deletion made while the agent was down propagates too.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

DATA=$TI_TMP/data
LOG=$TI_TMP/ti.log
N=120
mkdir -p "$DATA/a" "$DATA/b"
for i in $(seq 1 40); do echo "early $i" >"$DATA/a/e$i"; done

ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=100ms \
	TENANT_SYNC_CONCURRENCY=4 $(s3_env k1/) -- sleep 100000
wait_until 30 grep -q "sync: watching" "$LOG"
ok $? "agent watching"
keys_are() { [ "$(s3_keys "$1" | wc -l)" -eq "$2" ]; }
wait_until 30 keys_are k1/openclaw/a/ 40
is "$(s3_keys k1/openclaw/a/ | wc -l)" 40 "40 early files uploaded"
puts_early=$(s3_count PUT 'k1/openclaw/a/')

# Slow uploads down so that the kill lands mid-transfer.
echo 400 >"$S3_CTL/delay-put"
for i in $(seq 1 $N); do head -c 5000 /dev/urandom >"$DATA/b/f$i"; done
inflight() { grep -q "^PUT k1/openclaw/b/" "$S3_LOG"; }
wait_until 30 inflight
ok $? "uploads of the new files are under way"
agent=$(ti_agent_pid)
ok $([ -n "$agent" ]; echo $?) "sync agent found (pid $agent)"
kill -KILL "$agent"
rm "$DATA/a/e1"
wait_until 30 grep -q "agent exited with code 137" "$LOG"
ok $? "PID 1 saw the agent die"
rm -f "$S3_CTL/delay-put"
restarted() { [ "$(grep -c 'agent started' "$LOG")" -ge 2 ]; }
wait_until 30 restarted
ok $? "... and restarted it"
[ "$(grep -c 'restore:.*from' "$LOG")" -eq 1 ]
ok $? "the restarted agent did not restore again"

converged() {
	[ "$(s3_keys k1/openclaw/b/ | wc -l)" -eq "$N" ] &&
		[ ! -e "$(s3_obj k1/openclaw/a/e1)" ]
}
wait_until 60 converged
ok $? "the bucket converged: all $N new files, and the deletion"
bad=0
for i in $(seq 1 $N); do
	cmp -s "$DATA/b/f$i" "$(s3_obj "k1/openclaw/b/f$i")" || bad=$((bad + 1))
done
is "$bad" 0 "every object matches its file"
is "$(s3_count PUT 'k1/openclaw/a/')" "$puts_early" \
	"the early files were not uploaded again"
b_puts=$(s3_count PUT 'k1/openclaw/b/.* 200')
ok $((b_puts > N + 8)) "the new files were uploaded about once ($b_puts PUTs for $N)"
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "clean stop"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"
done_testing
