#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sync engine under fault injection (issue "Reliability"): s3proxy.js's
# chaos mode (tests/helpers/s3proxy.js, "Chaos") makes 10% of the requests
# fail -- 500 InternalError (before the request was applied, or after),
# 503 SlowDown, TCP resets (while the body arrives, or after the store
# applied it), stalls (held then answered or reset; applied with the
# answer held; a body paused halfway) and truncated answers (cut short of
# their Content-Length, or inside their headers; request bodies cut off
# with 400 RequestTimeout), deterministic for a seed.
#
#  1. With tenant-init as PID 1 (tini mode), 1,000 files are written over
#     a 60 s window -- 20 s when TI_ASAN=1, to keep CI time down (the same
#     files, more densely): 0 B to 4 MiB and one 66 MiB file (a multipart
#     upload, whose first request the seed makes fail), 20 directories
#     with subdirectories, files rewritten, appended to, replaced through
#     a rename, 30 short-lived files deleted again. Then the faults stop
#     and the bucket must converge (bounded wait) to the disk byte for
#     byte and mtime, no key missing or extra (also checked through the
#     proxy with rclone), every fault kind injected, the retries visible
#     in /metrics (tenant_sync_errors_total), the agent never restarted,
#     PID 1 alive.
#  1b. Answers lost: an upload the store applied but answered 500 to, and
#     one whose answer was held until the agent was killed: the files
#     deleted, their objects must be deleted too (else the next restore
#     brings deleted files back). Then SIGTERM: exit 0.
#  2. A fresh data directory restored through the faults (back on): equal
#     to the original byte for byte and mtime, no temp file left, the
#     retries in /metrics; SIGTERM: exit 0.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

N=1000
WINDOW=60
[ -n "${TI_ASAN:-}" ] && WINDOW=20
STALL_MS=3000
KINDS="500 503 reset stall truncate"
DATA=$TI_TMP/data
DATA2=$TI_TMP/restored
LOG=$TI_TMP/ti.log
LOG2=$TI_TMP/ti2.log
P=fz/openclaw
OBJROOT=$S3_DATA/$S3_BUCKET/$P
FAULTS=$S3_CTL/chaos.log
mkdir -p "$DATA" "$DATA2"
: >"$FAULTS"

now_ms() { date +%s%3N; }

chaos_on() { # chaos_on SEED
	printf '{"rate":0.1,"kinds":["500","503","reset","stall","truncate"],"stallMs":%d,"seed":%d}\n' \
		"$STALL_MS" "$1" >"$S3_CTL/chaos.json.new" &&
		mv "$S3_CTL/chaos.json.new" "$S3_CTL/chaos.json"
}
chaos_off() { rm -f "$S3_CTL/chaos.json"; }

# faults_by_kind FROM-LINE: "KIND COUNT" lines of the faults logged since
faults_by_kind() {
	tail -n +"$1" "$FAULTS" | awk '{n[$1]++} END {for (k in n) print k, n[k]}'
}
fault_count() { # fault_count FROM-LINE KIND [VARIANT [METHOD]]
	tail -n +"$1" "$FAULTS" | awk -v k="$2" -v v="${3:-}" -v m="${4:-}" \
		'$1 == k && (v == "" || $2 == v) && (m == "" || $3 == m)' | wc -l
}
fault_variants() { # "KIND/VARIANT/METHOD:COUNT" since FROM-LINE
	tail -n +"$1" "$FAULTS" | awk '{print $1 "/" $2 "/" $3}' | sort | uniq -c |
		awk '{print $2 ":" $1}'
}

metric() { # metric PORT NAME
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
		awk -v m="$2" '$1 == m {print $2}'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }

# The comparison: "bucket DIR OBJDIR" compares a data directory with
# s3rver's copy of the prefix (every file's bytes and x-amz-meta-mtime, no
# key missing or extra); "dirs A B" two data directories (bytes, mtimes).
# Prints "files N missing N extra N differ N mtime N" and what differs.
cat >"$TI_TMP/compare.py" <<'PY'
import filecmp, json, os, sys

def walk(root, suffix=""):
    out = {}
    for d, dirs, files in os.walk(root):
        rel_d = os.path.relpath(d, root)
        if rel_d == ".tenant-init" or rel_d.startswith(".tenant-init/"):
            dirs[:] = []
            continue
        dirs[:] = [x for x in dirs if not (rel_d == "." and x == ".tenant-init")]
        for f in files:
            if suffix and not f.endswith(suffix):
                continue
            rel = os.path.normpath(os.path.join(rel_d, f[: len(f) - len(suffix)] if suffix else f))
            out[rel] = os.path.join(d, f)
    return out

mode, a, b = sys.argv[1:4]
left = walk(a)
if mode == "bucket":
    right = walk(b, "._S3rver_object") if os.path.isdir(b) else {}
else:
    right = walk(b)
missing = sorted(set(left) - set(right))
extra = sorted(set(right) - set(left))
differ, mtime = [], []
for rel in sorted(set(left) & set(right)):
    if not filecmp.cmp(left[rel], right[rel], shallow=False):
        differ.append(rel)
        continue
    want = os.stat(left[rel]).st_mtime_ns
    if mode == "bucket":
        meta = right[rel][: -len("object")] + "metadata.json"
        try:
            got = json.load(open(meta)).get("x-amz-meta-mtime", "")
            s, _, frac = got.partition(".")
            got_ns = int(s) * 10**9 + int((frac + "000000000")[:9])
        except (OSError, ValueError):
            got_ns = None
    else:
        got_ns = os.stat(right[rel]).st_mtime_ns
    if got_ns != want:
        mtime.append(rel)
print("files %d missing %d extra %d differ %d mtime %d"
      % (len(left), len(missing), len(extra), len(differ), len(mtime)))
for what, v in (("missing", missing), ("extra", extra), ("differ", differ),
                ("mtime", mtime)):
    for rel in v[:10]:
        print("#  %s: %s" % (what, rel))
sys.exit(0 if not (missing or extra or differ or mtime) else 1)
PY

# The writer: N files over WINDOW seconds, in a fixed random order.
cat >"$TI_TMP/writer.py" <<'PY'
import os, random, sys, time
root, n, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rnd = random.Random(20260917)
big = n // 3 + 1  # not one of the rewritten, appended or replaced

def size():
    x = rnd.random()
    if x < 0.05:
        return 0
    if x < 0.60:
        return rnd.randrange(1, 4096)
    if x < 0.90:
        return rnd.randrange(4096, 128 * 1024)
    if x < 0.99:
        return rnd.randrange(128 * 1024, 1024 * 1024)
    return rnd.randrange(1024 * 1024, 4 * 1024 * 1024)

def path(i):
    d = "d%02d" % (i % 20)
    if i % 20 == 5:
        d = "d05 with space"
    if i % 3:
        d = os.path.join(d, "s%d" % (i % 7), "t%d" % (i % 2))
    return os.path.join(d, "f%04d.bin" % i)

def write(rel, data, mode="wb"):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, mode) as f:
        f.write(data)

def replace(rel, data):
    # What editors and apps do: a temp file (excluded), then a rename.
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p + ".tmp", "wb") as f:
        f.write(data)
    os.rename(p + ".tmp", p)

# Events: (time, action). Files are created evenly over the window; one
# in ten is rewritten, one in twenty appended to, one in twenty replaced
# through a rename, some 1-3 s later, some within the debounce; 30 extra
# files are created and deleted again; one file is 66 MiB (multipart).
ev = []
for i in range(n):
    t = window * 0.9 * i / n
    ev.append((t, "create", i))
    if i % 10 == 3:
        ev.append((t + rnd.choice([0.1, 1.0, 2.5]), "rewrite", i))
    if i % 20 == 7:
        ev.append((t + rnd.uniform(0.2, 3), "append", i))
    if i % 20 == 11:
        ev.append((t + rnd.uniform(0.2, 3), "replace", i))
for k in range(30):
    t = rnd.uniform(0, window * 0.8)
    ev.append((t, "tmpcreate", k))
    ev.append((t + rnd.uniform(2, window * 0.15), "delete", k))
ev.sort(key=lambda e: e[0])
if root == "--big-path":
    print(path(big))
    sys.exit(0)
t0 = time.time()
for t, what, i in ev:
    d = t0 + t - time.time()
    if d > 0:
        time.sleep(d)
    if what == "create":
        data = os.urandom(66 * 1024 * 1024 + 12345) if i == big else os.urandom(size())
        write(path(i), data)
    elif what == "rewrite":
        write(path(i), os.urandom(size()))
    elif what == "append":
        write(path(i), os.urandom(rnd.randrange(1, 70000)), "ab")
    elif what == "replace":
        replace(path(i), os.urandom(size()))
    elif what == "tmpcreate":
        write("short-lived/g%02d.dat" % i, os.urandom(rnd.randrange(1, 20000)))
    elif what == "delete":
        os.unlink(os.path.join(root, "short-lived/g%02d.dat" % i))
print("%.1f" % (time.time() - t0))
PY

# The 66 MiB file goes as a multipart upload. Its first request line,
# POST KEY?uploads=, is always the same: pick the first seed that makes
# the proxy fail it, so that a multipart retry is always part of the run.
BIG=$(python3 "$TI_TMP/writer.py" --big-path "$N" "$WINDOW")
SEED1=$(python3 - "/$S3_BUCKET/$P/$BIG" <<'PY'
import hashlib, sys, urllib.parse
line = "POST %s?uploads=" % urllib.parse.quote(sys.argv[1])
for seed in range(1, 100000):
    h = hashlib.sha256(("%d\n%s\n1" % (seed, line)).encode()).digest()
    u = lambda i: int.from_bytes(h[4 * i:4 * i + 4], "big") / 2**32
    if u(0) < 0.1 and int(u(1) * 5) != 3:  # a fault, and not a stall
        print(seed)
        break
PY
)

# ---- 1. continuous sync through the faults ----
chaos_on "$SEED1"
HPORT=$(free_port)
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=500ms \
	TENANT_HEALTH_LISTEN="127.0.0.1:$HPORT" $(s3_env fz/) -- \
	sh -c "trap 'exit 0' TERM; sleep 100000 & wait"
ok $? "tenant-init started as PID 1"
wait_until 120 grep -q "sync: watching" "$LOG"
ok $? "the restore (of an empty prefix, through the faults) finished; agent watching"

t_start=$(now_ms)
took=$(python3 "$TI_TMP/writer.py" "$DATA" "$N" "$WINDOW")
ok $? "writer: $N files (plus rewrites, appends, renames, deletions) in ${took} s"
window_faults=$(wc -l <"$FAULTS")
window_reqs=$(wc -l <"$S3_LOG")
t_off=$(now_ms)
chaos_off
diag "faults during the ${WINDOW} s window: $window_faults of $window_reqs requests: $(faults_by_kind 1 | sort | tr '\n' ' ')"
diag "... by variant: $(fault_variants 1 | tr '\n' ' ')"

converged() {
	metric_is "$HPORT" tenant_sync_queue_depth 0 &&
		python3 "$TI_TMP/compare.py" bucket "$DATA" "$OBJROOT" >/dev/null
}
wait_until 300 converged
ok $? "faults off: the bucket converged"
t_conv=$(now_ms)
diag "converged $(((t_conv - t_off) / 1000)).$(((t_conv - t_off) % 1000 / 100)) s after the faults stopped ($(((t_conv - t_start) / 1000)) s after the first write)"
python3 "$TI_TMP/compare.py" bucket "$DATA" "$OBJROOT" >"$TI_TMP/cmp1.txt"
cat "$TI_TMP/cmp1.txt" | sed 's/^#//; s/^/# /'
read -r _ nfiles _ missing _ extra _ differ _ mtime <"$TI_TMP/cmp1.txt"
is "$nfiles" "$((N + 1))" "$((N + 1)) files on disk ($N written, and openclaw.json)"
is "$missing" 0 "no file is missing from the bucket (nothing lost)"
is "$differ" 0 "every object's bytes equal its file's"
is "$extra" 0 "no extra key (deleted files are gone, no temp names)"
is "$mtime" 0 "every object carries its file's mtime"
if command -v rclone >/dev/null; then
	# --fast-list: rclone's per-directory listings miss nested objects
	# of s3rver's; one recursive listing does not.
	rclone_s3 check --fast-list --download --exclude '.tenant-init/**' "$DATA" \
		"s3:$S3_BUCKET/$P" >"$TI_TMP/rclone-check.txt" 2>&1
	ok $? "rclone check --download through the proxy: identical" ||
		tail -5 "$TI_TMP/rclone-check.txt" | sed 's/^/# /'
else
	skip "rclone not installed"
fi

mpu=$(s3_count POST "$P/$BIG\\?uploads=")
ok $((mpu >= 2 ? 0 : 1)) "the multipart upload of $BIG failed and was started again ($mpu times)"
for k in $KINDS; do
	c=$(fault_count 1 "$k")
	ok $((c > 0 ? 0 : 1)) "fault kind $k was injected ($c times)"
done
c=$(($(fault_count 1 reset early PUT) + $(fault_count 1 truncate request PUT)))
ok $((c > 0 ? 0 : 1)) "... among them PUTs cut off before the store had them ($c)"
c=$(($(fault_count 1 reset late PUT) + $(fault_count 1 500 after PUT) +
	$(fault_count 1 truncate response PUT) + $(fault_count 1 truncate head PUT) +
	$(fault_count 1 stall late PUT)))
ok $((c > 0 ? 0 : 1)) "... and PUTs the store applied whose answer was lost or late ($c)"
ok $((window_faults * 100 >= window_reqs * 5 &&
	window_faults * 100 <= window_reqs * 20 ? 0 : 1)) \
	"about 10% of the requests failed ($window_faults of $window_reqs)"
errs=$(metric "$HPORT" tenant_sync_errors_total)
diag "tenant_sync_errors_total $errs"
ok $((${errs:-0} > 0 ? 0 : 1)) "the retries are visible in /metrics (tenant_sync_errors_total $errs)"
ups=$(metric "$HPORT" tenant_sync_uploaded_objects_total)
ok $((${ups:-0} >= N ? 0 : 1)) "tenant_sync_uploaded_objects_total $ups >= $N"
is "$(grep -c 'agent started' "$LOG")" 1 "the sync agent never crashed (started once)"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/healthz")" 200 \
	"PID 1 is alive and live"

# ---- 1b. answers lost, then the file deleted ----
# The store applied an upload whose answer never arrived (500 after the
# fact; held until the agent is killed): when the file is then deleted, its
# object must go too, or the next restore brings the deleted file back.
chaos_raw() { printf '%s\n' "$1" >"$S3_CTL/chaos.json.new" &&
	mv "$S3_CTL/chaos.json.new" "$S3_CTL/chaos.json"; }
mkdir -p "$DATA/lost"
chaos_raw '{"rate":1,"kinds":["500"],"variants":["after"],"methods":["PUT"]}'
echo "the store has it, the agent was told 500" >"$DATA/lost/a.txt"
wait_until 30 test -f "$(s3_obj "$P/lost/a.txt")"
ok $? "every PUT applied but answered 500: lost/a.txt is in the store anyway"
rm "$DATA/lost/a.txt"
chaos_off
wait_until 30 test ! -e "$(s3_obj "$P/lost/a.txt")"
ok $? "... the file deleted: its object is deleted too"

chaos_raw '{"rate":1,"kinds":["stall"],"variants":["late"],"stallMs":30000,"methods":["PUT"]}'
echo "applied, the answer held until the agent died" >"$DATA/lost/b.txt"
wait_until 30 test -f "$(s3_obj "$P/lost/b.txt")"
ok $? "the store applied the upload of lost/b.txt and holds its answer"
kill -KILL "$(ti_agent_pid)"
rm "$DATA/lost/b.txt"
chaos_off
restarted() { [ "$(grep -c 'agent started' "$LOG")" -ge 2 ]; }
wait_until 30 restarted
ok $? "PID 1 restarted the agent"
wait_until 30 test ! -e "$(s3_obj "$P/lost/b.txt")"
ok $? "... which deletes the object of the file deleted meanwhile"
is "$(s3_keys "$P/lost/" | wc -l)" 0 "nothing left under lost/"

kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 0 "SIGTERM: clean exit 0"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"

# ---- 2. restore of a fresh directory through the faults ----
from=$(($(wc -l <"$FAULTS") + 1))
chaos_on 2
HPORT2=$(free_port)
t_r0=$(now_ms)
ti_pid1_start "$LOG2" OPENCLAW_STATE_DIR="$DATA2" TENANT_SYNC_DEBOUNCE=500ms \
	TENANT_HEALTH_LISTEN="127.0.0.1:$HPORT2" $(s3_env fz/) -- \
	sh -c "touch $TI_TMP/gw2; trap 'exit 0' TERM; sleep 100000 & wait"
ok $? "tenant-init started on an empty data directory"
wait_until 300 test -e "$TI_TMP/gw2"
ok $? "the restore through the faults finished and the gateway started"
t_r1=$(now_ms)
diag "restore: $(((t_r1 - t_r0) / 1000)) s; faults: $(faults_by_kind "$from" | sort | tr '\n' ' ')"
python3 "$TI_TMP/compare.py" dirs "$DATA" "$DATA2" >"$TI_TMP/cmp2.txt"
ok $? "the restored directory equals the original byte for byte (and mtime)" ||
	sed 's/^#//; s/^/# /' "$TI_TMP/cmp2.txt"
head -1 "$TI_TMP/cmp2.txt" | sed 's/^/# restored: /'
is "$(ls -A "$DATA2/.tenant-init/tmp" | wc -l)" 0 "no download left in .tenant-init/tmp"
is "$(find "$DATA2" -path "$DATA2/.tenant-init" -prune -o -type f -name '*dl-*' -print | wc -l)" 0 \
	"no partial or temp file in the data directory"
rf=$(($(wc -l <"$FAULTS") - from + 1))
ok $((rf > 0 ? 0 : 1)) "faults were injected during the restore ($rf)"
diag "... by variant: $(fault_variants "$from" | tr '\n' ' ')"
c=$(fault_count "$from" truncate response GET)
ok $((c > 0 ? 0 : 1)) "... among them downloads cut short of their Content-Length ($c)"
c=$(fault_count "$from" truncate head GET)
ok $((c > 0 ? 0 : 1)) "... and answers cut inside their headers ($c)"
wait_until 10 metric_is "$HPORT2" tenant_sync_downloaded_objects_total "$((N + 1))"
ok $? "tenant_sync_downloaded_objects_total $(metric "$HPORT2" tenant_sync_downloaded_objects_total) = $((N + 1))"
errs2=$(metric "$HPORT2" tenant_sync_errors_total)
ok $((${errs2:-0} > 0 ? 0 : 1)) "the restore's retries are visible in /metrics ($errs2)"
chaos_off
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 0 "SIGTERM: clean exit 0"
no_sanitizer_report "$LOG2"
ok $? "no sanitizer report"
diag_logs_if_failed "$LOG" "$LOG2" "$TI_TMP/s3proxy.out"
done_testing
