#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Round trip through S3, byte for byte: 2,000 files in nested directories
# with unicode and space names, empty files and a 70 MiB file (a multipart
# upload), backed up with `tenant-init sync --once` and restored into an
# empty directory with `tenant-init restore`; contents and mtimes (to the
# nanosecond) must match. A second restore onto the result downloads
# nothing. The restore is timed beside `rclone copy --transfers=16` of the
# same prefix, in the same run (figures as TAP diagnostics).
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

NFILES=2000
SRC=$TI_TMP/src
DST=$TI_TMP/dst
mkdir -p "$SRC"

# The tree: 20 directories of up to 3 levels, names with spaces and
# unicode, 1 in 10 files empty, the rest 1-3000 bytes; mtimes spread over
# years with nanoseconds.
python3 - "$SRC" "$NFILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
dirs = ["", "a", "a/b c", "a/b c/dé", "ü", "ü/日本", "sp ace/x", "z/y/x/w"]
dirs += ["d%02d/e%d" % (i, i % 3) for i in range(12)]
for i in range(n):
    d = dirs[i % len(dirs)]
    name = ["file %d.txt", "fïlé-%d.json", "%d", "données %d.md", "%d 🙂.bin"][i % 5] % i
    p = os.path.join(root, d, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    size = 0 if i % 10 == 0 else random.randint(1, 3000)
    with open(p, "wb") as f:
        f.write(os.urandom(size))
    ns = random.randint(1_000_000_000, 1_800_000_000) * 10**9 + random.randint(0, 10**9 - 1)
    os.utime(p, ns=(ns, ns))
PY
head -c $((70 * 1024 * 1024)) /dev/urandom >"$SRC/big file.bin"
touch -d '2021-03-04 05:06:07.123456789' "$SRC/big file.bin"
total=$((NFILES + 1))

tree_sig() { # path, size, mtime (ns) and MD5 of every file under $1
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f \
		-printf '%P\t%s\t%T@\n' | LC_ALL=C sort) >"$2.meta"
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f -print0 |
		LC_ALL=C sort -z | xargs -0 md5sum) >"$2.md5"
}

ti() {
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$1" TENANT_FLUSH_TIMEOUT=300s \
		TENANT_SYNC_CONCURRENCY=16 $(s3_env users/rt/) "${@:2}"
}

t0=$(date +%s%N)
ti "$SRC" "$TI_BIN" sync --once 2>"$TI_TMP/once.log"
is $? 0 "sync --once uploaded the tree"
t1=$(date +%s%N)
diag "upload of $total files: $(((t1 - t0) / 1000000)) ms"
is "$(s3_keys users/rt/openclaw/ | wc -l)" "$total" "every file is an object"
conns=$(awk '$1 == "PUT" || $1 == "POST" {print $NF}' "$S3_LOG" | sort -u | wc -l)
ok $((conns > 32)) "connections kept alive: $conns for $total uploads (16 in parallel)"
is "$(s3_count POST 'users/rt/openclaw/big file.bin\?uploads=')" 1 \
	"the 70 MiB file went as a multipart upload"
is "$(s3_count PUT 'users/rt/openclaw/big file.bin\?partNumber=')" 5 \
	"... in 5 parts of 16 MiB"
cmp -s "$SRC/big file.bin" "$(s3_obj 'users/rt/openclaw/big file.bin')"
ok $? "... and the object is byte-identical"
is "$(s3_meta_mtime 'users/rt/openclaw/big file.bin')" "1614834367.123456789" \
	"mtime metadata as rclone writes it"

mkdir -p "$DST"
t0=$(date +%s%N)
ti "$DST" "$TI_BIN" restore 2>"$TI_TMP/restore.log"
is $? 0 "restore into an empty directory"
t1=$(date +%s%N)
restore_ms=$(((t1 - t0) / 1000000))
tree_sig "$SRC" "$TI_TMP/src"
tree_sig "$DST" "$TI_TMP/dst"
cmp -s "$TI_TMP/src.md5" "$TI_TMP/dst.md5"
ok $? "restored contents are byte-identical ($total files)"
cmp -s "$TI_TMP/src.meta" "$TI_TMP/dst.meta"
ok $? "names, sizes and mtimes (ns) are identical"
[ -z "$(ls -A "$DST/.tenant-init/tmp")" ]
ok $? "no temporary file left behind"

gets_before=$(s3_count GET 'users/rt/openclaw/[^?]')
ti "$DST" "$TI_BIN" restore 2>"$TI_TMP/restore2.log"
is $? 0 "a second restore onto the restored tree"
is "$(s3_count GET 'users/rt/openclaw/[^?]')" "$gets_before" \
	"... downloads nothing (warm restart)"
grep -q "0 files downloaded" "$TI_TMP/restore2.log"
ok $? "... and says so"

if command -v rclone >/dev/null; then
	t0=$(date +%s%N)
	rclone_s3 copy --fast-list --transfers=16 "s3:$S3_BUCKET/users/rt/openclaw/" \
		"$TI_TMP/rclone-dst" 2>"$TI_TMP/rclone.log"
	ok $? "rclone copy --transfers=16 of the same prefix"
	t1=$(date +%s%N)
	rclone_ms=$(((t1 - t0) / 1000000))
	tree_sig "$TI_TMP/rclone-dst" "$TI_TMP/rc"
	cmp -s "$TI_TMP/src.md5" "$TI_TMP/rc.md5"
	ok $? "rclone's copy is identical too"
	diag "restore of $total files (70 MiB + small): tenant-init ${restore_ms} ms," \
		"rclone copy --transfers=16 ${rclone_ms} ms (same run)"
else
	skip "rclone not installed"
	skip "rclone not installed"
fi
for f in "$TI_TMP"/*.log; do
	no_sanitizer_report "$f" || { ok 1 "sanitizer report in $f"; head -50 "$f"; }
done
done_testing
