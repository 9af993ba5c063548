#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sandboxed gateway (nobody) breaks the files tenant-init reads at
# boot (issue 18): the stored key and openclaw.json. Before, the damage
# was synced and every later boot stopped with exit 78, a permanent
# outage the gateway could cause at will. Now:
#
#   - a key blob of the gateway's (in a .tenant of its own, the real one
#     renamed away) and an openclaw.json replaced by a directory never
#     reach storage, and the deletions do not propagate;
#   - the next boot on a fresh volume (restored from storage) is ready;
#   - the next boot on the same volume is ready too: the real .tenant is
#     put back, the directory set aside, storage's openclaw.json restored;
#   - with no storage at all, an openclaw.json made garbage is kept aside
#     and a new one written: ready, with the /readyz warning
#     config-recovered.
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
SECRET=boot-files-secret

cat >"$TI_TMP/gw.sh" <<EOF
#!/bin/sh
A=\$1 D=\$2 P=\$3
cd "\$D" || exit 1
case "\$A" in
break)
	# Once the test has seen the tenant's files in storage.
	n=0
	while [ ! -e "$OUT/go" ] && [ \$n -lt 600 ]; do sleep 0.05; n=\$((n + 1)); done
	echo garbage >.tenant/api-key.enc
	echo "direct=\$?"
	mv .tenant tenant-stolen && mkdir .tenant &&
	    echo "tik1.AAAAgarbageAAAA" >.tenant/api-key.enc
	echo "swap=\$?"
	mv openclaw.json oc-stolen && mkdir openclaw.json &&
	    echo '{}' >openclaw.json/inner.json
	echo "config=\$?"
	;;
garbage)
	echo '{"gateway": {' >openclaw.json
	echo "garbage=\$?"
	;;
esac >"$OUT/\$A.out" 2>&1
touch "$OUT/\$A.done"
exec $TI_TMP/fakegw --port "\$P"
EOF
chmod 755 "$TI_TMP/gw.sh"

# start NAME ATTACK DATA [VAR=VALUE...]: PID 1, gateway mode, a stored key.
start() {
	local name=$1 attack=$2 data=$3
	shift 3
	HP=$(free_port)
	base=http://127.0.0.1:$HP
	rm -f "$OUT/$attack.done"
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$data" \
		ENCRYPTION_SECRET="$SECRET" TENANT_GATEWAY_USER=nobody \
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

# ready_or_exit: ready, or tenant-init gone (exit 78) -- whichever first.
ready_or_gone() {
	is_ready || ! kill -0 "$UPID" 2>/dev/null
}

# A tenant with a stored key and a good openclaw.json in storage.
D=$TI_TMP/d1 R=$TI_TMP/r1
mkdir -p "$D/.tenant" "$R"
printf 'poe-key-of-the-tenant\n' | ENCRYPTION_SECRET=$SECRET "$TI_BIN" \
	encrypt-key >"$D/.tenant/api-key.enc" 2>/dev/null
cp "$D/.tenant/api-key.enc" "$TI_TMP/good.enc"
start boot1 break "$D" TENANT_SYNC_URL="file://$R"
wait_until 30 test -f "$R/openclaw/openclaw.json" -a \
	-f "$R/openclaw/.tenant/api-key.enc"
ok $? "boot 1: the tenant's files are in storage"
touch "$OUT/go"
wait_until 30 test -e "$OUT/break.done"
ok $? "the gateway made its attempts"
diag "gateway: $(tr '\n' ' ' <"$OUT/break.out")"
wait_until 30 is_ready
ok $? "boot 1 ready"
stop
is "$RC" 0 "boot 1: clean stop"
ok_cmd "storage keeps the real key blob" \
	cmp -s "$R/openclaw/.tenant/api-key.enc" "$TI_TMP/good.enc"
ok_cmd "storage keeps an openclaw.json that is a JSON object" \
	python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), dict)' \
	"$R/openclaw/openclaw.json"
ok_cmd "nothing below the directory named openclaw.json was uploaded" \
	test ! -e "$R/openclaw/openclaw.json/inner.json"
grep -q "not uploading $D/.tenant/api-key.enc" "$TI_TMP/boot1.log"
ok $? "the log says the gateway's blob is not uploaded"

# A fresh volume, restored from storage.
D2=$TI_TMP/d2
mkdir -p "$D2"
start boot2 benign "$D2" TENANT_SYNC_URL="file://$R"
wait_until 30 ready_or_gone
ok_cmd "a fresh volume: the next boot is ready (not 78)" is_ready
ok_cmd "the real key was restored" cmp -s "$D2/.tenant/api-key.enc" \
	"$TI_TMP/good.enc"
is "$(stat -c %U "$D2/.tenant/api-key.enc")" root "and is root's"
stop
is "$RC" 0 "fresh volume: clean stop"

# The same volume.
start boot3 benign "$D" TENANT_SYNC_URL="file://$R"
wait_until 30 ready_or_gone
ok_cmd "the same volume: the next boot is ready (not 78)" is_ready
ok_cmd "the real .tenant is back" cmp -s "$D/.tenant/api-key.enc" \
	"$TI_TMP/good.enc"
ok_cmd "openclaw.json is a file again" test -f "$D/openclaw.json"
ls -d "$D"/openclaw.json.invalid-* >/dev/null 2>&1
ok $? "the directory in its place was kept aside"
stop
is "$RC" 0 "same volume: clean stop"

# No storage: the gateway writes garbage into openclaw.json.
D3=$TI_TMP/d3
mkdir -p "$D3/.tenant"
cp "$TI_TMP/good.enc" "$D3/.tenant/api-key.enc"
start boot4 garbage "$D3"
wait_until 30 test -e "$OUT/garbage.done"
ok $? "the gateway wrote garbage into openclaw.json"
stop
start boot5 benign "$D3"
wait_until 30 ready_or_gone
ok_cmd "no storage: the next boot is ready (not 78)" is_ready
readyz_has config-recovered
ok $? "/readyz warns config-recovered"
grep -q "openclaw.json kept as" "$TI_TMP/boot5.log"
ok $? "the log says where the broken file was kept"
stop
is "$RC" 0 "no storage: clean stop"

ok_cmd "no sanitizer report" bash -c \
	"! grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $TI_TMP/*.log"
diag_logs_if_failed "$TI_TMP"/*.log
done_testing
