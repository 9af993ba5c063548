#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sandboxed gateway (nobody) makes files that cost the root sync agent
# more than they cost the gateway (issue 18):
#
#   sparse    a 1 GiB sparse file (no bytes on disk) and a dense file above
#             TENANT_SYNC_MAX_FILE_SIZE: neither is uploaded, the log says
#             why, the tenant's other files still sync and the stop is
#             clean (an unfixed agent uploads the holes at full size)
#   too big   an object larger than the whole data file system (left by an
#             older version): the next boot refuses it, restores the rest
#             and becomes ready instead of restoring for good
if [ -z "${TI_IN_MOUNTNS:-}" ]; then
	if unshare --mount --propagation private -- true 2>/dev/null; then
		exec unshare --mount --propagation private -- \
			env TI_IN_MOUNTNS=1 bash "$0" "$@"
	fi
	echo "1..0 # SKIP unshare --mount not available (needs root)"
	exit 0
fi
source "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (the gateway runs as nobody)"
have_unshare_pid || skip_all "unshare --pid not available"
getent passwd nobody >/dev/null || skip_all "no 'nobody' user"
command -v curl >/dev/null || skip_all "curl not installed"

chmod 755 "$TI_TMP"
cp "$TI_HELPERS/fakegw" "$TI_TMP/fakegw"
OUT=$TI_TMP/out
mkdir -p "$OUT"
chmod 1777 "$OUT"

cat >"$TI_TMP/gw.sh" <<EOF
#!/bin/sh
A=\$1 D=\$2 P=\$3
cd "\$D" || exit 1
case "\$A" in
sparse)
	truncate -s 1G holes.bin
	echo "truncate=\$?"
	head -c 3145728 /dev/zero >dense.bin
	echo "dense=\$?"
	echo small >small.txt
	;;
esac >"$OUT/\$A.out" 2>&1
touch "$OUT/\$A.done"
exec $TI_TMP/fakegw --port "\$P"
EOF
chmod 755 "$TI_TMP/gw.sh"

# start NAME ATTACK DATA REMOTE [VAR=VALUE...]: PID 1, gateway mode.
start() {
	local name=$1 attack=$2 data=$3 remote=$4
	shift 4
	HP=$(free_port)
	base=http://127.0.0.1:$HP
	rm -f "$OUT/$attack.done"
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$data" \
		TENANT_SYNC_URL="file://$remote" TENANT_GATEWAY_USER=nobody \
		TENANT_GATEWAY_PORT="$(free_port)" \
		TENANT_HEALTH_LISTEN="127.0.0.1:$HP" \
		TENANT_GATEWAY_CMD="$TI_TMP/gw.sh $attack $data \$TENANT_GATEWAY_PORT" \
		TENANT_SYNC_DEBOUNCE=200ms TENANT_FLUSH_TIMEOUT=10s \
		SANDBOX_SLEEP_AFTER=never "$@" \
		unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
		>"$TI_TMP/$name.log" 2>&1 &
	UPID=$!
	bg_track "$UPID"
}

stop() {
	local tpid
	tpid=$(ti_pid_below "$UPID")
	kill -TERM "$tpid"
	reap_bounded "$UPID" 60
	RC=$?
}

is_ready() {
	curl -s -m 2 "$base/readyz" | grep -q '"ready":true'
}

# ---- sparse and oversized files ----
D=$TI_TMP/d1 R=$TI_TMP/r1
mkdir -p "$D" "$R"
start sparse sparse "$D" "$R" TENANT_SYNC_MAX_FILE_SIZE=2M
wait_until 30 test -e "$OUT/sparse.done"
ok $? "sparse: the gateway made its files"
diag "gateway: $(tr '\n' ' ' <"$OUT/sparse.out")"
wait_until 15 test -f "$R/openclaw/small.txt"
ok $? "sparse: the tenant's other files sync"
wait_until 15 grep -q "not uploading $D/holes.bin: a sparse file" \
	"$TI_TMP/sparse.log"
ok $? "sparse: the log says the sparse file is not uploaded"
wait_until 15 grep -q "not uploading $D/dense.bin: 3145728 bytes, larger than TENANT_SYNC_MAX_FILE_SIZE=2M" \
	"$TI_TMP/sparse.log"
ok $? "sparse: the log says the oversized file is not uploaded"
stop
is "$RC" 0 "sparse: clean stop, flush complete"
ok_cmd "sparse: neither file is in storage" \
	test ! -e "$R/openclaw/holes.bin" -a ! -e "$R/openclaw/dense.bin"
is "$(grep -c 'not uploading .*holes.bin' "$TI_TMP/sparse.log")" 1 \
	"sparse: said once, not at every rescan"
rm -f "$D/holes.bin" "$D/dense.bin"

# ---- an object larger than the data file system ----
D=$TI_TMP/d2 R=$TI_TMP/r2
mkdir -p "$D" "$R/openclaw"
mount -t tmpfs -o size=8m,mode=0755 tenant-small "$D" ||
	skip_all "cannot mount a tmpfs"
trap 'umount "$D" 2>/dev/null; _cleanup' EXIT
truncate -s 64M "$R/openclaw/huge.bin"
echo "restore me" >"$R/openclaw/normal.txt"
start toobig benign "$D" "$R"
wait_until 30 is_ready
ok $? "too big: the tenant becomes ready"
ok_cmd "too big: the rest was restored" test -f "$D/normal.txt"
ok_cmd "too big: the huge object was not" test ! -e "$D/huge.bin"
grep -q "refusing object 'openclaw/huge.bin': 67108864 bytes, larger than the whole file system" \
	"$TI_TMP/toobig.log"
ok $? "too big: the log says why"
ok_cmd "too big: it stays in storage" test -e "$R/openclaw/huge.bin"
stop
is "$RC" 0 "too big: clean stop"
ok_cmd "too big: still in storage after the stop" \
	test -e "$R/openclaw/huge.bin"

ok_cmd "no sanitizer report" bash -c \
	"! grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $TI_TMP/*.log"
diag_logs_if_failed "$TI_TMP"/*.log
done_testing
