#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The stored API key and the gateway's environment, through the binary:
# blobs made by Web Crypto (PoeClaw's recipe, seed 001's PBKDF2 recipe, v1)
# are decrypted by tenant-init and tenant-init's blobs by Web Crypto; every
# character of a blob changed is refused; each failure exits 78 with its
# own message; the gateway gets the key and none of tenant-init's secrets;
# no secret appears in a log or in a file of the data directory.
source "$(dirname "$0")/../lib.sh"

command -v node >/dev/null || skip_all "node is not installed"
WC=$TI_TOP/tests/data/webcrypto.mjs

SECRET='3f1c9a7e5b2d4c6e8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f'
PLAIN='pb-IntegrationKey-a1b2c3d4e5f6'
data=$TI_TMP/data
mkdir -p "$data/.tenant"
logs=$TI_TMP/logs
mkdir -p "$logs"
n=0

# A clean environment for every run: only what the test names.
ti() {
	env -i PATH=/usr/bin:/bin HOME="$TI_TMP" OPENCLAW_STATE_DIR="$data" \
		"$@"
}

# run_env LOG VAR=... : tenant-init in tini mode running env(1) as the
# gateway; stdout (the gateway's environment) to LOG.env, stderr to LOG.
run_env() {
	local log=$1
	shift
	ti "$@" "$TI_BIN" -- /usr/bin/env >"$log.env" 2>"$log"
}

# Nothing secret in any log or any file of the data directory.
no_leak() {
	local what=$1
	shift
	if grep -rqF -e "$PLAIN" -e "$SECRET" "$@" 2>/dev/null; then
		ok 1 "$what: no secret in $*"
		grep -rlF -e "$PLAIN" -e "$SECRET" "$@" | sed 's/^/#   leak: /'
	else
		ok 0 "$what: no secret in logs/files"
	fi
}

# ---- cross-implementation: Web Crypto -> tenant-init ----
for fmt in poeclaw pbkdf2 v1; do
	printf '%s\n' "$PLAIN" | ENCRYPTION_SECRET=$SECRET node "$WC" encrypt \
		$fmt >"$data/.tenant/api-key.enc"
	n=$((n + 1))
	want=$([ $fmt = pbkdf2 ] && echo pbkdf2 || echo auto)
	run_env "$logs/$n" ENCRYPTION_SECRET="$SECRET" \
		TENANT_API_KEY_FORMAT=$want
	rc=$?
	is "$rc" 0 "web crypto $fmt blob: tenant-init exits 0"
	is "$(grep '^POE_API_KEY=' "$logs/$n.env")" "POE_API_KEY=$PLAIN" \
		"web crypto $fmt blob: the gateway gets the key"
	grep -v '^POE_API_KEY=' "$logs/$n.env" >"$logs/$n.env.rest"
	no_leak "web crypto $fmt" "$logs/$n" "$logs/$n.env.rest" "$data"
done

# A custom pbkdf2 salt.
printf '%s' "$PLAIN" | ENCRYPTION_SECRET=$SECRET TENANT_API_KEY_SALT=pepper \
	node "$WC" encrypt pbkdf2 >"$data/.tenant/api-key.enc"
run_env "$logs/salt" ENCRYPTION_SECRET="$SECRET" TENANT_API_KEY_FORMAT=pbkdf2 \
	TENANT_API_KEY_SALT=pepper
is "$?" 0 "pbkdf2 with TENANT_API_KEY_SALT decrypts"
run_env "$logs/salt2" ENCRYPTION_SECRET="$SECRET" TENANT_API_KEY_FORMAT=pbkdf2
is "$?" 78 "pbkdf2 with the default salt does not"

# ---- cross-implementation: tenant-init -> Web Crypto ----
for fmt in poeclaw pbkdf2 v1; do
	blob=$(printf '%s\n' "$PLAIN" | ti ENCRYPTION_SECRET="$SECRET" \
		"$TI_BIN" encrypt-key --format $fmt 2>"$logs/enc-$fmt")
	is "$?" 0 "encrypt-key --format $fmt exits 0"
	got=$(printf '%s\n' "$blob" | ENCRYPTION_SECRET=$SECRET node "$WC" \
		decrypt $fmt)
	is "$got" "$PLAIN" "web crypto decrypts tenant-init's $fmt blob"
	case $blob in *"$PLAIN"* | *"$SECRET"*) ok 1 "$fmt blob leaks" ;;
	*) ok 0 "$fmt blob holds neither key nor secret" ;; esac
	no_leak "encrypt-key $fmt" "$logs/enc-$fmt"
done
blob=$(printf '%s' "$PLAIN" | ti ENCRYPTION_SECRET="$SECRET" "$TI_BIN" \
	encrypt-key)
case $blob in tik1.*) ok 0 "default format is v1" ;;
*) ok 1 "default format is v1" ;; esac
printf '%s' "$PLAIN" | ti ENCRYPTION_SECRET="$SECRET" "$TI_BIN" \
	encrypt-key --format=poeclaw >/dev/null 2>&1
is "$?" 0 "--format=VALUE form"

# ---- encrypt-key usage errors ----
printf 'k\n' | ti "$TI_BIN" encrypt-key >/dev/null 2>"$logs/e1"
is "$?" 78 "encrypt-key without a secret: 78"
printf 'k\n' | ti ENCRYPTION_SECRET=x "$TI_BIN" encrypt-key --format rot13 \
	>/dev/null 2>"$logs/e2"
is "$?" 78 "encrypt-key with a bad format: 78"
printf '' | ti ENCRYPTION_SECRET=x "$TI_BIN" encrypt-key >/dev/null \
	2>"$logs/e3"
is "$?" 78 "encrypt-key with an empty key: 78"
printf 'k\n\n' | ti ENCRYPTION_SECRET=x "$TI_BIN" encrypt-key >/dev/null \
	2>"$logs/e4"
is "$?" 78 "only one trailing newline is stripped"
head -c 5000 /dev/zero | tr '\0' 'a' | ti ENCRYPTION_SECRET=x "$TI_BIN" \
	encrypt-key >/dev/null 2>"$logs/e5"
is "$?" 78 "encrypt-key with an oversized key: 78"
printf 'k\n' | ti ENCRYPTION_SECRET=é "$TI_BIN" encrypt-key \
	--format poeclaw >/dev/null 2>"$logs/e6"
is "$?" 78 "encrypt-key poeclaw with a non-ASCII secret: 78"
echo "$SECRET" >"$TI_TMP/secret-file"
blob=$(printf '%s\n' "$PLAIN" | ti ENCRYPTION_SECRET_FILE="$TI_TMP/secret-file" \
	"$TI_BIN" encrypt-key)
got=$(printf '%s\n' "$blob" | ENCRYPTION_SECRET=$SECRET node "$WC" decrypt v1)
is "$got" "$PLAIN" "ENCRYPTION_SECRET_FILE (newline stripped) is the secret"

# ---- every character of a blob changed: refused ----
# One Web Crypto blob per format; each character XOR 0x01 in turn (the
# unit test only samples pbkdf2, whose key derivation is slow).
for fmt in poeclaw pbkdf2 v1; do
	good=$(printf '%s' "$PLAIN" | ENCRYPTION_SECRET=$SECRET node "$WC" \
		encrypt $fmt)
	mapfile -t flipped < <(python3 -c '
import sys
b = sys.argv[1]
for i in range(len(b)):
    print(b[:i] + chr(ord(b[i]) ^ 1) + b[i + 1:])' "$good")
	accepted=0
	for bad in "${flipped[@]}"; do
		printf '%s\n' "$bad" >"$data/.tenant/api-key.enc"
		ti ENCRYPTION_SECRET="$SECRET" TENANT_API_KEY_FORMAT=$fmt \
			"$TI_BIN" -- /bin/true >/dev/null 2>>"$logs/flip-$fmt"
		[ $? -eq 78 ] || accepted=$((accepted + 1))
	done
	is "$accepted" 0 "$fmt: all ${#flipped[@]} one-character changes exit 78"
	no_leak "flip $fmt" "$logs/flip-$fmt"
done

# ---- each failure: exit 78, its own message, no secret ----
good=$(printf '%s' "$PLAIN" | ENCRYPTION_SECRET=$SECRET node "$WC" encrypt \
	poeclaw)
# expect NAME EXPECTED-MESSAGE-FRAGMENT VAR=... (blob already in place)
expect() {
	local name=$1 msg=$2
	shift 2
	ti "$@" "$TI_BIN" -- /bin/true >/dev/null 2>"$logs/x-$name"
	is "$?" 78 "$name: exit 78"
	if grep -qF -- "$msg" "$logs/x-$name"; then
		ok 0 "$name: says '$msg'"
	else
		ok 1 "$name: says '$msg'"
		sed 's/^/#   /' "$logs/x-$name"
	fi
	no_leak "$name" "$logs/x-$name"
}
printf '%s\n' "$good" >"$data/.tenant/api-key.enc"
expect wrong-secret "GCM tag mismatch" ENCRYPTION_SECRET=not-the-secret
expect no-secret "neither ENCRYPTION_SECRET nor ENCRYPTION_SECRET_FILE" \
	TENANT_API_KEY_FORMAT=auto
expect non-ascii "needs an ASCII encryption secret" ENCRYPTION_SECRET=sécret
printf '%s\n' "${good:0:20}" >"$data/.tenant/api-key.enc"
expect short "too short" ENCRYPTION_SECRET="$SECRET"
printf 'this is !!! not base64\n' >"$data/.tenant/api-key.enc"
expect bad-base64 "not valid (canonical) base64" ENCRYPTION_SECRET="$SECRET"
printf '%s\n' "$good" >"$data/.tenant/api-key.enc"
expect not-v1 "does not start with 'tik1.'" ENCRYPTION_SECRET="$SECRET" \
	TENANT_API_KEY_FORMAT=v1
printf '\n\n' >"$data/.tenant/api-key.enc"
expect empty-blob "file is empty" ENCRYPTION_SECRET="$SECRET"
head -c 9000 /dev/zero | tr '\0' 'A' >"$data/.tenant/api-key.enc"
expect big-blob "larger than the limit" ENCRYPTION_SECRET="$SECRET"
rm -f "$data/.tenant/api-key.enc"
ln -s /etc/hostname "$data/.tenant/api-key.enc"
expect symlink-blob "not a regular file" ENCRYPTION_SECRET="$SECRET"
rm -f "$data/.tenant/api-key.enc"
mkfifo "$data/.tenant/api-key.enc"
expect fifo-blob "not a regular file" ENCRYPTION_SECRET="$SECRET"
rm -f "$data/.tenant/api-key.enc"
expect explicit-missing "TENANT_API_KEY_FILE does not exist" \
	TENANT_API_KEY_FILE="$TI_TMP/nope.enc"
if [ ! -e /tmp/poeclaw/encrypted-key ]; then
	expect no-blob "no encrypted API key was found" \
		ENCRYPTION_SECRET="$SECRET"
	grep -qF "$data/.tenant/api-key.enc" "$logs/x-no-blob"
	ok $? "no-blob: names the places searched"
else
	skip "/tmp/poeclaw/encrypted-key exists on this machine"
	skip "/tmp/poeclaw/encrypted-key exists on this machine"
	skip "/tmp/poeclaw/encrypted-key exists on this machine"
	skip "/tmp/poeclaw/encrypted-key exists on this machine"
fi
# An empty secret file is refused by the configuration itself.
: >"$TI_TMP/empty-secret"
expect empty-secret-file "is empty" ENCRYPTION_SECRET_FILE="$TI_TMP/empty-secret"

# ---- the gateway's environment, end to end, as PID 1 ----
printf '%s' "$PLAIN" | ENCRYPTION_SECRET=$SECRET node "$WC" encrypt v1 \
	>"$data/.tenant/api-key.enc"
secret_vars=(R2_ACCESS_KEY_ID=r2-id-123 R2_SECRET_ACCESS_KEY=r2-secret-456
	R2_ENDPOINT=http://127.0.0.1:9 R2_BUCKET_NAME=bkt
	R2_USER_PREFIX=u1 AWS_SECRET_ACCESS_KEY=aws-secret-789
	AWS_ACCESS_KEY_ID=aws-id ENCRYPTION_SECRET_FILE="$TI_TMP/secret-file")
# file:// sync wins over R2_*: the storage variables are present (and must
# be scrubbed) without any network storage being involved.
mkdir -p "$TI_TMP/remote"
if have_unshare_pid; then
	ti "${secret_vars[@]}" TENANT_SYNC_URL="file://$TI_TMP/remote" \
		OPENCLAW_GATEWAY_TOKEN=gw-tok-1 \
		TELEGRAM_BOT_TOKEN=123:tg LANG=C.UTF-8 TZ=UTC \
		NODE_OPTIONS=--max-old-space-size=512 \
		unshare --pid --fork --mount-proc --kill-child -- \
		"$TI_BIN" -- /usr/bin/env >"$logs/pid1.env" 2>"$logs/pid1"
	is "$?" 0 "as PID 1: exit 0"
	grep -qx "POE_API_KEY=$PLAIN" "$logs/pid1.env"
	ok $? "as PID 1: the gateway gets the decrypted key"
	for v in OPENCLAW_GATEWAY_TOKEN=gw-tok-1 TELEGRAM_BOT_TOKEN=123:tg \
		LANG=C.UTF-8 TZ=UTC NODE_OPTIONS=--max-old-space-size=512 \
		"OPENCLAW_STATE_DIR=$data" "HOME=$TI_TMP"; do
		grep -qxF "$v" "$logs/pid1.env"
		ok $? "the gateway gets ${v%%=*}"
	done
	! grep -E '^(R2_|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|ENCRYPTION_)' \
		"$logs/pid1.env"
	ok $? "no R2_*, AWS_*, ENCRYPTION_* in the gateway's environment"
	! grep -qE 'r2-secret-456|aws-secret-789' "$logs/pid1.env" "$logs/pid1"
	ok $? "storage secrets appear nowhere"
	grep -v '^POE_API_KEY=' "$logs/pid1.env" >"$logs/pid1.env.rest"
	no_leak "as PID 1" "$logs/pid1" "$logs/pid1.env.rest" "$data" \
		"$TI_TMP/remote"
	[ -z "${TI_ASAN:-}" ] || {
		no_sanitizer_report "$logs/pid1"
		ok $? "no sanitizer report"
	}
else
	skip_n=14
	for _ in $(seq $skip_n); do skip "unshare --pid unavailable"; done
fi

# ---- openclaw.json in the data directory ----
python3 - "$data/openclaw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
ref = {"source": "env", "provider": "default", "id": "POE_API_KEY"}
assert c["models"]["providers"]["poe"]["apiKey"] == ref, "poe ref"
assert c["gateway"]["auth"]["token"]["id"] == "OPENCLAW_GATEWAY_TOKEN"
assert c["channels"]["telegram"]["botToken"]["id"] == "TELEGRAM_BOT_TOKEN"
PY
ok $? "openclaw.json references the secrets by SecretRef"
is "$(stat -c %a "$data/openclaw.json")" 600 "openclaw.json is mode 0600"
! grep -rqF -e gw-tok-1 -e 123:tg "$data"
ok $? "no token in the data directory"

# Gateway mode creates a missing data directory and writes the config.
fresh=$TI_TMP/fresh/data
env -i PATH=/usr/bin:/bin HOME="$TI_TMP" OPENCLAW_STATE_DIR="$fresh" \
	TENANT_GATEWAY_CMD=/bin/true "$TI_BIN" >/dev/null 2>"$logs/gwmode"
is "$?" 0 "gateway mode, gateway exits 0: tenant-init exits 0"
[ -f "$fresh/openclaw.json" ]
ok $? "gateway mode creates the data directory and openclaw.json"

# Tini mode with no data directory: nothing written, still runs.
env -i PATH=/usr/bin:/bin OPENCLAW_STATE_DIR="$TI_TMP/absent" "$TI_BIN" -- \
	/bin/true 2>"$logs/tininodir"
is "$?" 0 "tini mode without a data directory runs"
[ ! -e "$TI_TMP/absent" ]
ok $? "and creates nothing"

# A malformed openclaw.json: kept aside byte for byte, a new one written
# (refusing to start would make it an outage at every boot).
printf '{"gateway": {"mode": "local",}}\n' >"$fresh/openclaw.json"
cp "$fresh/openclaw.json" "$TI_TMP/malformed.copy"
env -i PATH=/usr/bin:/bin OPENCLAW_STATE_DIR="$fresh" \
	TENANT_GATEWAY_CMD=/bin/true "$TI_BIN" >/dev/null 2>"$logs/malformed"
is "$?" 0 "malformed openclaw.json: the tenant still starts"
aside=$(ls "$fresh"/openclaw.json.invalid-* 2>/dev/null | head -1)
cmp -s "$aside" "$TI_TMP/malformed.copy"
ok $? "malformed openclaw.json kept aside, untouched ($aside)"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$fresh/openclaw.json"
ok $? "a new openclaw.json was written"
grep -q 'openclaw.json:1:' "$logs/malformed"
ok $? "the message gives line and column"

# Configuration errors the config is built from.
env -i PATH=/usr/bin:/bin TELEGRAM_BOT_TOKEN=x TELEGRAM_DM_POLICY=everyone \
	"$TI_BIN" check-config >/dev/null 2>"$logs/cc1"
is "$?" 78 "check-config: a bad TELEGRAM_DM_POLICY is 78"
env -i PATH=/usr/bin:/bin SLACK_BOT_TOKEN=xoxb "$TI_BIN" check-config \
	>/dev/null 2>"$logs/cc2"
is "$?" 78 "check-config: SLACK_BOT_TOKEN without SLACK_APP_TOKEN is 78"
env -i PATH=/usr/bin:/bin CF_AI_GATEWAY_MODEL=workers-ai/x "$TI_BIN" \
	check-config >/dev/null 2>"$logs/cc3"
is "$?" 78 "check-config: CF_AI_GATEWAY_MODEL without its variables is 78"

if [ -n "${TI_ASAN:-}" ]; then
	bad=0
	for f in "$logs"/*; do
		no_sanitizer_report "$f" || {
			bad=1
			echo "# sanitizer report in $f"
		}
	done
	is "$bad" 0 "no sanitizer report in any log"
fi

done_testing
