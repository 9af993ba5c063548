#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Continuous sync by the agent under PID 1 (tini mode, a sleep as the
# gateway stand-in): the restore runs before the gateway starts; then
# creations, changes, deletions, new and renamed directories reach the
# bucket a debounce later; excluded files never do; a file that never
# stops changing is still uploaded (debounce bounded at 5x); a mass
# deletion is held back by the guard and nothing is deleted; an inotify
# queue overflow leads to a rescan that finds what was missed; and the
# write -> object-visible latency over 200 writes with the default 1 s
# debounce is measured (p50/p99 as TAP diagnostics); a file rewritten
# while its upload is in flight is uploaded again.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

DATA=$TI_TMP/data
SEED=$TI_TMP/seed
LOG=$TI_TMP/ti.log
P=c1/openclaw
mkdir -p "$DATA" "$SEED/.tenant"
echo "from the bucket" >"$SEED/seed.txt"
# A real stored key (a blob without its secret is a configuration error).
printf 'poe-key\n' | ENCRYPTION_SECRET=sync-test-secret "$TI_BIN" encrypt-key \
	>"$SEED/.tenant/api-key.enc" 2>/dev/null
BLOB=$(cat "$SEED/.tenant/api-key.enc")
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$SEED" $(s3_env c1/) \
	"$TI_BIN" sync --once 2>/dev/null
is "$(s3_keys "$P/" | wc -l)" 2 "bucket seeded (with the encrypted key)"

visible() { # visible KEY [CONTENT]
	local o
	o=$(s3_obj "$P/$1")
	[ -f "$o" ] && { [ $# -lt 2 ] || [ "$(cat "$o")" = "$2" ]; }
}
gone() { ! visible "$1"; }
keys_are() { [ "$(s3_keys "$1" | wc -l)" -eq "$2" ]; }

ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=300ms \
	ENCRYPTION_SECRET=sync-test-secret \
	$(s3_env c1/) -- sh -c "cat $DATA/seed.txt >$TI_TMP/gw-saw; exec sleep 100000"
wait_until 30 grep -q "sync: watching" "$LOG"
ok $? "agent watching"
wait_until 10 test -s "$TI_TMP/gw-saw"
is "$(cat "$TI_TMP/gw-saw")" "from the bucket" \
	"the gateway started on the restored directory"
is "$(cat "$DATA/.tenant/api-key.enc")" "$BLOB" \
	".tenant/api-key.enc restored"

echo one >"$DATA/new.txt"
wait_until 15 visible new.txt one
ok $? "a new file is uploaded"
echo two >"$DATA/new.txt"
wait_until 15 visible new.txt two
ok $? "a change is uploaded"
rm "$DATA/new.txt"
wait_until 15 gone new.txt
ok $? "a deletion reaches the bucket"
mkdir -p "$DATA/d1/d2/d3"
echo deep >"$DATA/d1/d2/d3/deep.txt"
wait_until 15 visible d1/d2/d3/deep.txt deep
ok $? "a file in new nested directories is uploaded"
mv "$DATA/d1" "$DATA/moved dir"
wait_until 15 visible "moved dir/d2/d3/deep.txt" deep
ok $? "a renamed directory: its files under the new name"
wait_until 15 gone d1/d2/d3/deep.txt
ok $? "... and gone under the old one"
echo "later" >"$DATA/moved dir/d2/d3/later.txt"
wait_until 15 visible "moved dir/d2/d3/later.txt" later
ok $? "the moved directory is still watched"
mkdir -p "$DATA/node_modules/x" "$DATA/.git"
echo x >"$DATA/app.log"
echo x >"$DATA/node_modules/x/i.js"
echo x >"$DATA/.git/HEAD"
echo marker >"$DATA/marker.txt"
wait_until 15 visible marker.txt
ok $? "marker uploaded"
is "$(s3_keys "$P/" | grep -cE 'app\.log|node_modules|\.git/|\.tenant-init')" 0 \
	"excluded files and the sync state never reach the bucket"

# A file rewritten every 100 ms for 4 s: a 300 ms debounce alone would
# never fire; bounded at 5x (1.5 s) it is uploaded while still changing.
python3 - "$DATA/busy.txt" "$(s3_obj "$P/busy.txt")" <<'PY' &
import os, sys, time
end = time.time() + 4
i = 0
while time.time() < end:
    with open(sys.argv[1], "w") as f:
        f.write("v%d\n" % i)
    i += 1
    time.sleep(0.1)
open(sys.argv[1] + ".done", "w").close()
PY
writer=$!
wait_until 10 test -f "$(s3_obj "$P/busy.txt")"
ok $? "a file that never settles is uploaded"
[ ! -e "$DATA/busy.txt.done" ]
ok $? "... while it was still being written (bounded debounce)"
wait "$writer"
wait_until 15 visible busy.txt "$(cat "$DATA/busy.txt")"
ok $? "... and its final version follows"

# The deletion guard.
mkdir -p "$DATA/many"
for i in $(seq 1 250); do echo "$i" >"$DATA/many/$i"; done
wait_until 60 keys_are "$P/many/" 250
ok $? "250 more files uploaded"
dels_before=$(($(s3_count POST '\?delete') + $(s3_count DELETE)))
rm -rf "$DATA/many" "$DATA/marker.txt" "$DATA/seed.txt" "$DATA/busy.txt"
wait_until 15 grep -q "holding back" "$LOG"
ok $? "deleting most tracked files trips the guard"
is "$(s3_keys "$P/many/" | wc -l)" 250 "... the objects stay"
is "$(($(s3_count POST '\?delete') + $(s3_count DELETE)))" "$dels_before" \
	"... no deletion was sent"
mkdir -p "$DATA/many"
for i in $(seq 1 250); do echo "$i" >"$DATA/many/$i"; done
echo marker >"$DATA/marker.txt"
wait_until 30 grep -q "no longer held back" "$LOG"
ok $? "the files come back: the guard lets go"
rm "$DATA/marker.txt"
wait_until 15 gone marker.txt
ok $? "an ordinary deletion goes through again"
is "$(s3_keys "$P/many/" | wc -l)" 250 "the returned files are all there"

# Lost events: with the agent stopped, flood its inotify queue past
# fs.inotify.max_queued_events (excluded *.tmp files: created, closed,
# deleted), then write files whose events the kernel has to drop.
agent=$(ti_agent_pid)
kill -STOP "$agent"
python3 - "$DATA" "$(cat /proc/sys/fs/inotify/max_queued_events)" <<'PY'
import os, sys
d, limit = sys.argv[1], int(sys.argv[2])
for i in range(limit // 3 + 100):
    p = os.path.join(d, "junk%d.tmp" % i)
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    os.unlink(p)
for i in range(5):
    with open(os.path.join(d, "after-overflow-%d" % i), "w") as f:
        f.write("x%d" % i)
PY
kill -CONT "$agent"
wait_until 15 grep -q "inotify queue overflowed .*; rescanning" "$LOG"
ok $? "the agent noticed the overflow"
overflow_done() {
	for i in 0 1 2 3 4; do visible "after-overflow-$i" "x$i" || return 1; done
}
wait_until 15 overflow_done
ok $? "the rescan found the files whose events were lost"

# Latency: 200 files written 20 ms apart, default debounce (1 s).
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "stopped"
ti_pid1_start "$LOG.2" OPENCLAW_STATE_DIR="$DATA" ENCRYPTION_SECRET=sync-test-secret \
	$(s3_env c1/) -- sleep 100000
wait_until 30 grep -q "sync: watching" "$LOG.2"
ok $? "restarted with the default debounce"
python3 - "$DATA/lat" "$S3_DATA/$S3_BUCKET/$P/lat" >"$TI_TMP/lat.txt" <<'PY'
import os, sys, threading, time
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(src, exist_ok=True)
time.sleep(0.5)  # let the new directory's watch be added
written, seen = {}, {}
def poll():
    while len(seen) < 200 and time.time() < deadline:
        for i in list(written):
            if i not in seen and os.path.exists(os.path.join(dst, "f%03d._S3rver_object" % i)):
                seen[i] = time.time()
        time.sleep(0.005)
deadline = time.time() + 120
t = threading.Thread(target=poll)
t.start()
for i in range(200):
    with open(os.path.join(src, "f%03d" % i), "w") as f:
        f.write("x" * 100)
    written[i] = time.time()
    time.sleep(0.02)
t.join()
lat = sorted(seen[i] - written[i] for i in seen)
n = len(lat)
print(n, "%.0f" % (1000 * lat[n // 2]) if n else -1,
      "%.0f" % (1000 * lat[min(n - 1, int(n * 0.99))]) if n else -1)
PY
read -r nseen p50 p99 <"$TI_TMP/lat.txt"
is "$nseen" 200 "all 200 writes became visible"
diag "write -> object visible, 200 writes, debounce 1 s: p50 ${p50} ms, p99 ${p99} ms"
ok $((p99 >= 10000)) "p99 within 10 s (${p99} ms)"

# A file rewritten while its upload is in flight is uploaded again: the
# proxy holds each PUT for 3 s; once the agent has the file open for its
# upload, the file is rewritten; the bucket must end with the new bytes.
echo 3000 >"$S3_CTL/delay-put"
head -c 300000 /dev/urandom >"$TI_TMP/v1"
head -c 200000 /dev/urandom >"$TI_TMP/v2"
cp "$TI_TMP/v1" "$DATA/racy.bin"
AGENT=$(ti_agent_pid)
agent_has_open() {
	local fd
	for fd in /proc/"$AGENT"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "$DATA/racy.bin" ] && return 0
	done
	return 1
}
wait_until 30 agent_has_open
ok $? "the agent has racy.bin open for its upload"
cat "$TI_TMP/v2" >"$DATA/racy.bin"
rm -f "$S3_CTL/delay-put"
wait_until 60 cmp -s "$(s3_obj "$P/racy.bin")" "$TI_TMP/v2"
ok $? "the bucket holds the version written during the upload"
# The proxy logs a PUT when its answer is sent, just after s3rver stored it.
racy_puts() { [ "$(s3_count PUT "$P/racy.bin")" -ge 2 ]; }
wait_until 10 racy_puts
ok $? "... uploaded again ($(s3_count PUT "$P/racy.bin") PUTs)"
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "stopped"
for f in "$LOG" "$LOG.2"; do
	no_sanitizer_report "$f" || { ok 1 "sanitizer report in $f"; head -60 "$f"; }
done
done_testing
