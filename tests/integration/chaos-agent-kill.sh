#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Chaos: kill -9 of the sync agent every couple of seconds while it
# uploads 2,000 files (s3rver behind the SigV4 proxy, each PUT held 120 ms
# there so the sync lasts long enough to be hit five times). PID 1 restarts
# the agent each time (1, 2, 4, 8, 16 s backoff) without a second restore;
# in the end the bucket holds exactly the 2,000 files, byte for byte, and
# no unchanged file that had already been uploaded is PUT again.
#
# "Already uploaded" is read from the proxy's log (one line per request,
# with its completion time): a repeated successful PUT of a key is only
# excused when the earlier one completed within 300 ms before a kill (the
# agent may have died before it read the answer and recorded it) or after
# it, before the next agent could have started (a PUT the proxy held and
# completed for a client that was gone). Anything else is a duplicate
# upload of an unchanged file, and there must be none.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

N=2000
KILLS=5
DATA=$TI_TMP/data
LOG=$TI_TMP/ti.log
P=k1/openclaw
KT=$TI_TMP/kill-times
mkdir -p "$DATA"
python3 - "$DATA" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "d%02d" % (i % 20))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d" % i), "wb") as f:
        f.write(os.urandom(500 + (i * 37) % 4000))
PY
echo 120 >"$S3_CTL/delay-put"
: >"$KT"

puts_ok() { grep -cE "^PUT $P/.* 200 " "$S3_LOG" || true; }
restarts() { grep -c 'sync: agent started' "$LOG"; }

ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=100ms \
	$(s3_env k1/) -- sleep 100000
ok $? "tenant-init started as PID 1"

# A kill every couple of seconds of the agent's life, while it uploads.
for k in $(seq 1 $KILLS); do
	want=$k
	wait_until 60 eval '[ "$(restarts)" -ge "$want" ]' || break
	agent=
	wait_until 10 eval 'agent=$(ti_agent_pid); [ -n "$agent" ]' || break
	before=$(puts_ok)
	wait_until 30 eval '[ "$(puts_ok)" -gt "$before" ]' || break
	sleep 1.5 # the cadence: the agent uploads for a while, then dies
	kill -KILL "$agent" || break
	date +%s%3N >>"$KT"
	wait_until 10 _pid_gone "$agent" || break
done
is "$(wc -l <"$KT")" "$KILLS" "the agent was killed $KILLS times (kill -9)"
diag "PUTs completed at each kill: $(python3 - "$S3_LOG" "$KT" <<'PY'
import sys
puts = [int(l.split()[5]) for l in open(sys.argv[1])
        if l.startswith("PUT ") and l.split()[2] == "200"]
print(" ".join(str(sum(t <= int(k) for t in puts))
               for k in open(sys.argv[2])))
PY
) of $N"
ok $([ "$(s3_keys "$P/" | wc -l)" -lt "$N" ]; echo $?) \
	"the last kill landed before the sync was complete"
wait_until 60 eval '[ "$(restarts)" -ge $((KILLS + 1)) ]'
ok $? "PID 1 restarted the agent after every kill"
is "$(grep -c 'agent exited with code 137' "$LOG")" "$KILLS" \
	"... and logged each death (code 137)"
is "$(grep -c 'restore:.*from' "$LOG")" 1 "no restarted agent restored again"

rm -f "$S3_CTL/delay-put"
# The disk: the 2,000 files and the openclaw.json that PID 1 wrote.
disk_files() {
	(cd "$DATA" && find . -path ./.tenant-init -prune -o -type f -printf '%P\n') |
		LC_ALL=C sort
}
is "$(disk_files | wc -l)" $((N + 1)) "on disk: $N files and openclaw.json"
keys_are() { [ "$(s3_keys "$P/" | wc -l)" -eq $((N + 1)) ]; }
wait_until 60 keys_are
ok $? "converged: $((N + 1)) objects in the bucket"
bad=0
while IFS= read -r f; do
	cmp -s "$DATA/$f" "$(s3_obj "$P/$f")" || bad=$((bad + 1))
done < <(disk_files)
is "$bad" 0 "every object is byte for byte its file"
is "$(s3_keys "$P/" | sed "s|^$P/||" | LC_ALL=C sort | md5sum)" \
	"$(disk_files | md5sum)" \
	"the bucket has no object the disk does not"

python3 - "$S3_LOG" "$KT" "$P/" >"$TI_TMP/dups.txt" <<'PY'
import sys
log, kt, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
kills = [int(l) for l in open(kt)]
BEFORE, AFTER = 300, 900  # ms; the restart backoff is at least 1 s
ok = {}
for line in open(log):
    f = line.split()
    if f[0] == "PUT" and f[1].startswith(prefix) and f[2] == "200":
        ok.setdefault(f[1], []).append(int(f[5]))
total = sum(len(v) for v in ok.values())
excused = dup = early = 0
for key, times in ok.items():
    for t1, t2 in zip(times, times[1:]):
        near = [k for k in kills if k - BEFORE <= t1 <= k + AFTER and k < t2]
        if near:
            excused += 1
            early += t1 <= near[0]
        else:
            dup += 1
            print("dup", key, t1, t2, file=sys.stderr)
print(total, excused, dup, early)
PY
read -r total excused dups early <"$TI_TMP/dups.txt"
diag "$total successful PUTs for $N files: $excused repeated after a kill caught them in flight ($early answered before the kill, $((excused - early)) after it)"
is "$dups" 0 "no unchanged, already uploaded file was PUT again"
ok $((excused > KILLS * 16)) "in-flight repeats bounded by the concurrency ($excused <= $((KILLS * 16)))"

kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "clean stop (tini mode: the child's 128+15)"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"
diag_logs_if_failed "$LOG"
done_testing
