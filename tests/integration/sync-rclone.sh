#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rclone interoperability, both ways, modification times included:
# tenant-init restores what `rclone copy` uploaded (mtime from rclone's
# x-amz-meta-mtime), and rclone downloads what tenant-init uploaded with
# the times tenant-init recorded. rclone's MD5 check (md5chksum on the
# multipart object) agrees too.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_have || skip_all "s3rver not installed (tests/deps.sh)"
command -v rclone >/dev/null || skip_all "rclone not installed"
s3_start || skip_all "s3rver did not start"

mk_tree() {
	mkdir -p "$1/sub dir/ünï"
	echo "alpha" >"$1/a.txt"
	: >"$1/empty"
	head -c 100000 /dev/urandom >"$1/sub dir/ünï/blob 1.bin"
	touch -d '2019-02-03 04:05:06.123456789' "$1/a.txt"
	touch -d '2001-09-09 01:46:40.5' "$1/empty"
	touch -d '2024-12-31 23:59:59.999999999' "$1/sub dir/ünï/blob 1.bin"
}
sig() {
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f \
		-printf '%P %s %T@\n' | LC_ALL=C sort)
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f -print0 |
		LC_ALL=C sort -z | xargs -0 md5sum)
}

# rclone -> tenant-init
RC=$TI_TMP/rclone-src
mk_tree "$RC"
rclone_s3 copy "$RC" "s3:$S3_BUCKET/r1/openclaw/" 2>"$TI_TMP/rc-up.log"
ok $? "rclone uploaded a tree"
is "$(s3_meta_mtime r1/openclaw/a.txt)" "1549166706.123456789" \
	"rclone's mtime metadata"
T1=$TI_TMP/ti-restored
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$T1" $(s3_env r1/) \
	"$TI_BIN" restore 2>"$TI_TMP/ti-restore.log"
is $? 0 "tenant-init restored rclone's upload"
is "$(sig "$T1")" "$(sig "$RC")" "contents and mtimes (ns) identical"

# tenant-init -> rclone (a multipart file included)
TS=$TI_TMP/ti-src
mk_tree "$TS"
head -c $((66 * 1024 * 1024)) /dev/urandom >"$TS/large.bin"
touch -d '2022-06-07 08:09:10.111222333' "$TS/large.bin"
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$TS" $(s3_env r2/) \
	"$TI_BIN" sync --once 2>"$TI_TMP/ti-up.log"
is $? 0 "tenant-init uploaded a tree"
R2=$TI_TMP/rclone-dst
rclone_s3 copy --fast-list "s3:$S3_BUCKET/r2/openclaw/" "$R2" 2>"$TI_TMP/rc-down.log"
ok $? "rclone downloaded it"
is "$(sig "$R2")" "$(sig "$TS")" "contents and mtimes (ns) identical"
rclone_s3 check --fast-list "$TS" "s3:$S3_BUCKET/r2/openclaw/" \
	--exclude '.tenant-init/**' >"$TI_TMP/rc-check.log" 2>&1
ok $? "rclone check (MD5s, including the multipart file) agrees"
grep -q "0 differences found" "$TI_TMP/rc-check.log"
ok $? "... 0 differences"
grep -q "could not be checked" "$TI_TMP/rc-check.log"
ok $((! $?)) "... and every hash could be checked"
for f in "$TI_TMP"/ti-*.log; do
	no_sanitizer_report "$f" || { ok 1 "sanitizer report in $f"; head -60 "$f"; }
done
done_testing
