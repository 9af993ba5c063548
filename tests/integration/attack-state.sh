#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sandboxed gateway attacks the root sync agent's state (issue 18).
# The gateway (running as nobody, owning the data directory, as an AI
# agent's shell tools would) is a script that makes one attack and then
# serves as the fake gateway; the test then stops or reboots the tenant
# and checks that the attack changed nothing it must not:
#
#   critical  a row "../../rootonly/dir/file" written into the state DB:
#             the flush must not delete that root-only file
#   symlink   sync.db replaced by a symlink into a root-only directory,
#             directly and by swapping the whole state directory: the next
#             boot must not create a database there
#   rename    the state directory renamed away: the agent must not upload
#             (and loop on) its own database; the stop must be clean
#   shm       the live -shm and -wal overwritten: new files must still be
#             tracked, and their deletions propagate
source "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (the gateway runs as nobody)"
have_unshare_pid || skip_all "unshare --pid not available"
command -v sqlite3 >/dev/null || skip_all "sqlite3 (the CLI) not installed"
getent passwd nobody >/dev/null || skip_all "no 'nobody' user"

# nobody must reach the scripts and helpers: they live in $TI_TMP.
chmod 755 "$TI_TMP"
cp "$TI_HELPERS/fakegw" "$TI_TMP/fakegw"
OUT=$TI_TMP/out
# Root-only directories the attacks aim at (one each: the critical attack
# on an unfixed agent deletes its file and prunes the directories).
ROOTONLY=$TI_TMP/rootonly
ROOTONLY2=$TI_TMP/rootonly2
mkdir -p "$OUT" "$ROOTONLY/dir" "$ROOTONLY2"
chmod 1777 "$OUT"
chmod 700 "$ROOTONLY" "$ROOTONLY2"
echo "root's" >"$ROOTONLY/dir/file"

# gw.sh ATTACK DATA PORT: make the attack (results in $OUT/ATTACK.out),
# mark it done, then be the gateway.
cat >"$TI_TMP/gw.sh" <<EOF
#!/bin/sh
A=\$1 D=\$2 P=\$3
cd "\$D" || exit 1
case "\$A" in
critical)
	sqlite3 .tenant-init/sync.db \\
	    "INSERT INTO files VALUES('../../rootonly/dir/file',1,1,1,1,'','x');"
	echo "insert=\$?"
	;;
symlink)
	rm -f .tenant-init/sync.db && ln -s $ROOTONLY2/planted.db .tenant-init/sync.db
	echo "direct=\$?"
	mv .tenant-init swapped && mkdir .tenant-init &&
	    ln -s $ROOTONLY2/planted.db .tenant-init/sync.db
	echo "swap=\$?"
	;;
rename)
	mv .tenant-init stolen
	echo "rename=\$?"
	echo after >after-rename.txt
	;;
shm)
	for f in sync.db-shm sync.db-wal; do
		head -c 65536 /dev/urandom >.tenant-init/\$f
		echo "\$f=\$?"
	done
	;;
benign) ;;
esac >"$OUT/\$A.out" 2>&1
touch "$OUT/\$A.done"
exec $TI_TMP/fakegw --port "\$P"
EOF
chmod 755 "$TI_TMP/gw.sh"

# start NAME ATTACK DATA REMOTE: tenant-init as PID 1, gateway mode.
start() {
	local name=$1 attack=$2 data=$3 remote=$4
	rm -f "$OUT/$attack.done"
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$data" \
		TENANT_SYNC_URL="file://$remote" TENANT_GATEWAY_USER=nobody \
		TENANT_GATEWAY_PORT="$(free_port)" \
		TENANT_HEALTH_LISTEN="127.0.0.1:$(free_port)" \
		TENANT_GATEWAY_CMD="$TI_TMP/gw.sh $attack $data \$TENANT_GATEWAY_PORT" \
		TENANT_SYNC_DEBOUNCE=200ms TENANT_FLUSH_TIMEOUT=5s \
		SANDBOX_SLEEP_AFTER=never TENANT_LOG_LEVEL=debug \
		unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
		>"$TI_TMP/$name.log" 2>&1 &
	UPID=$!
	bg_track "$UPID"
	wait_until 30 test -e "$OUT/$attack.done"
}

# stop: SIGTERM to PID 1; RC gets its exit code.
stop() {
	local tpid
	tpid=$(ti_pid_below "$UPID")
	kill -TERM "$tpid"
	reap_bounded "$UPID" 60
	RC=$?
}

# ---- critical: an unsafe path in the state DB ----
D=$TI_TMP/d1 R=$TI_TMP/r1
mkdir -p "$D" "$R"
echo "keep" >"$D/seed.txt"
start critical critical "$D" "$R"
ok $? "critical: the gateway made its attempt"
diag "gateway: $(tr '\n' ' ' <"$OUT/critical.out")"
wait_until 15 test -f "$R/openclaw/seed.txt"
ok $? "critical: the tenant's own file was synced"
stop
is "$RC" 0 "critical: clean stop"
ok_cmd "critical: the root-only file survived the flush" \
	test -f "$ROOTONLY/dir/file"
is "$(stat -c %U "$D/.tenant-init/sync.db")" root \
	"critical: the state database is still root's"

# ---- symlink: sync.db replaced by a link (persistent volume) ----
D=$TI_TMP/d2 R=$TI_TMP/r2
mkdir -p "$D" "$R"
start symlink1 symlink "$D" "$R"
ok $? "symlink: the gateway made its attempts"
diag "gateway: $(tr '\n' ' ' <"$OUT/symlink.out")"
stop
is "$RC" 0 "symlink: clean stop"
start symlink2 benign "$D" "$R"
ok $? "symlink: booted again on the same volume"
wait_until 15 grep -q "sync: watching" "$TI_TMP/symlink2.log"
ok $? "symlink: the agent runs"
echo "after reboot" >"$D/after.txt"
wait_until 15 test -f "$R/openclaw/after.txt"
ok $? "symlink: and syncs"
stop
ok_cmd "symlink: no database created in the root-only directory" \
	test ! -e "$ROOTONLY2/planted.db"
st=$(stat -c '%U %a %F' "$D/.tenant-init" 2>/dev/null)
is "$st" "root 700 directory" "symlink: the state directory is root's own"
is "$(stat -c '%U %F' "$D/.tenant-init/sync.db" 2>/dev/null)" \
	"root regular file" "symlink: and its database a real file of root's"

# ---- rename: the state directory moved away ----
D=$TI_TMP/d3 R=$TI_TMP/r3
mkdir -p "$D" "$R"
echo "one" >"$D/one.txt"
start rename rename "$D" "$R"
ok $? "rename: the gateway made its attempt"
diag "gateway: $(tr '\n' ' ' <"$OUT/rename.out")"
wait_until 15 test -f "$R/openclaw/after-rename.txt"
ok $? "rename: a file written after the rename is synced"
rm "$D/one.txt"
wait_until 15 test ! -e "$R/openclaw/one.txt"
ok $? "rename: a deletion after the rename propagates (state still works)"
stop
is "$RC" 0 "rename: clean stop (the flush finished)"
ok_cmd "rename: the agent's database was not uploaded" \
	test -z "$(find "$R" -name 'sync.db*')"
# A later boot must not upload the old state directory either.
start rename2 benign "$D" "$R"
wait_until 15 grep -q "sync: watching" "$TI_TMP/rename2.log"
ok $? "rename: booted again"
stop
is "$RC" 0 "rename: clean stop again"
ok_cmd "rename: the moved state was not uploaded by the next boot" \
	test -z "$(find "$R" -name 'sync.db*')"

# ---- shm: the live -shm and -wal overwritten ----
D=$TI_TMP/d4 R=$TI_TMP/r4
mkdir -p "$D" "$R"
start shm shm "$D" "$R"
ok $? "shm: the gateway made its attempt"
diag "gateway: $(tr '\n' ' ' <"$OUT/shm.out")"
echo "new" >"$D/new.txt"
wait_until 15 test -f "$R/openclaw/new.txt"
ok $? "shm: a new file is uploaded"
rm "$D/new.txt"
wait_until 15 test ! -e "$R/openclaw/new.txt"
ok $? "shm: and its deletion propagates (it was tracked)"
stop
is "$RC" 0 "shm: clean stop"

for f in "$TI_TMP"/*.log; do
	no_sanitizer_report "$f" || diag "sanitizer report in $f"
done
ok_cmd "no sanitizer report" bash -c \
	"! grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $TI_TMP/*.log"
diag_logs_if_failed "$TI_TMP"/*.log
done_testing
