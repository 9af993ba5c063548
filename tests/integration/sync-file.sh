#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The file:// backend (the embedded default of `make demo`): the same
# semantics as S3 -- objects are plain files, written atomically (no
# temporary file ever visible or left), with the modification time as the
# file's own mtime (so rclone's local backend reads it) and in an xattr,
# restored byte for byte; the agent keeps it in sync and flushes on
# SIGTERM; a symlink planted in the backup directory is not followed.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

have_unshare_pid || skip_all "cannot create a PID namespace"

B=$TI_TMP/backup
SRC=$TI_TMP/src
LOG=$TI_TMP/ti.log
mkdir -p "$SRC/x y/ü"
echo "one" >"$SRC/one.txt"
: >"$SRC/empty"
head -c 300000 /dev/urandom >"$SRC/x y/ü/blob.bin"
touch -d '2020-05-06 07:08:09.123456789' "$SRC/one.txt"
sig() {
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f \
		-printf '%P %s %T@\n' | LC_ALL=C sort)
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f -print0 |
		LC_ALL=C sort -z | xargs -0 md5sum)
}
fenv() { echo "TENANT_SYNC_URL=file://$B"; echo "OPENCLAW_STATE_DIR=$1"; }

env -i PATH="$PATH" $(fenv "$SRC") "$TI_BIN" sync --once 2>"$TI_TMP/once.log"
is $? 0 "sync --once to file://"
is "$(sig "$B/openclaw")" "$(sig "$SRC")" "objects are the files, mtimes included"
if python3 -c 'import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], "user.tenant-init.md5").decode())' \
	"$B/openclaw/one.txt" >"$TI_TMP/xattr" 2>/dev/null; then
	is "$(cat "$TI_TMP/xattr")" "$(md5sum <"$SRC/one.txt" | cut -d' ' -f1)" \
		"the MD5 (ETag) is kept in an xattr"
else
	skip "no user xattrs on this file system"
fi
DST=$TI_TMP/dst
env -i PATH="$PATH" $(fenv "$DST") "$TI_BIN" restore 2>"$TI_TMP/restore.log"
is $? 0 "restore from file://"
is "$(sig "$DST")" "$(sig "$SRC")" "restored byte for byte, mtimes included"
if command -v rclone >/dev/null; then
	env -u AWS_CA_BUNDLE rclone copy "$B/openclaw" "$TI_TMP/rc" 2>/dev/null
	is "$(sig "$TI_TMP/rc")" "$(sig "$SRC")" "rclone's local backend reads it, times too"
else
	skip "rclone not installed"
fi

# A symlink planted in the backup directory is not an object.
mkdir -p "$TI_TMP/secret"
echo "not yours" >"$TI_TMP/secret/s.txt"
ln -s "$TI_TMP/secret" "$B/openclaw/planted"
D2=$TI_TMP/dst2
env -i PATH="$PATH" $(fenv "$D2") "$TI_BIN" restore 2>/dev/null
[ ! -e "$D2/planted" ]
ok $? "a symlink in the backup directory is not followed"
rm "$B/openclaw/planted"

# The agent, under PID 1.
ti_pid1_start "$LOG" $(fenv "$DST") TENANT_SYNC_DEBOUNCE=200ms -- sleep 100000
wait_until 30 grep -q "sync: watching" "$LOG"
ok $? "agent watching (warm start)"
grep -q "0 files downloaded" "$LOG"
ok $? "nothing downloaded on a warm start"
echo "live" >"$DST/live.txt"
wait_until 15 test -f "$B/openclaw/live.txt"
ok $? "a new file reaches file://"
rm "$DST/one.txt"
wait_until 15 test ! -e "$B/openclaw/one.txt"
ok $? "a deletion too"
rm -rf "$DST/x y"
wait_until 15 test ! -e "$B/openclaw/x y"
ok $? "a deleted directory's objects go, and its empty directories"
for i in $(seq 1 30); do echo "$i" >"$DST/last-$i"; done
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "stopped"
is "$(ls "$B/openclaw" | grep -c '^last-')" 30 "the final flush wrote everything"
is "$(find "$B" -name '.tenant-init-tmp.*' | wc -l)" 0 "no temporary file left"
for f in "$TI_TMP"/*.log; do
	no_sanitizer_report "$f" || { ok 1 "sanitizer report in $f"; head -60 "$f"; }
done
done_testing
