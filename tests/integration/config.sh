#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Configuration errors: every malformed value is exit 78 with a message that
# names the variable, never a crash; check-config prints the resolved
# configuration with secrets redacted.
source "$(dirname "$0")/../lib.sh"

# refuse VAR [ARGS --] ASSIGNMENT...: the environment made of the
# assignments must be refused with 78 and a message naming VAR. Without
# ARGS tenant-init runs in gateway mode's validation (check-config).
refuse() {
	local var=$1 out rc
	shift
	out=$(env -i PATH="$PATH" HOME="$TI_TMP" "$@" "$TI_BIN" check-config 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 78 ] && grep -q "$var" <<<"$out" &&
		no_sanitizer_report <(echo "$out"); then
		ok 0 "refused with 78: $*"
	else
		ok 1 "refused with 78: $*"
		diag "exit $rc: $out"
	fi
}

refuse TENANT_STOP_TIMEOUT TENANT_STOP_TIMEOUT=abc
refuse TENANT_STOP_TIMEOUT TENANT_STOP_TIMEOUT=-5s
refuse TENANT_STOP_TIMEOUT TENANT_STOP_TIMEOUT=10x
refuse TENANT_STOP_TIMEOUT TENANT_STOP_TIMEOUT=1h1h
refuse TENANT_STOP_TIMEOUT TENANT_STOP_TIMEOUT=5h
refuse TENANT_FLUSH_TIMEOUT TENANT_FLUSH_TIMEOUT=never
refuse TENANT_FLUSH_TIMEOUT TENANT_FLUSH_TIMEOUT=1.s
refuse TENANT_SYNC_DEBOUNCE TENANT_SYNC_DEBOUNCE=99999999999999999999s
refuse SANDBOX_SLEEP_AFTER SANDBOX_SLEEP_AFTER=soon
refuse SANDBOX_SLEEP_AFTER SANDBOX_SLEEP_AFTER=0
refuse SANDBOX_SLEEP_AFTER SANDBOX_SLEEP_AFTER=10m5
refuse TENANT_GATEWAY_PORT TENANT_GATEWAY_PORT=0
refuse TENANT_GATEWAY_PORT TENANT_GATEWAY_PORT=65536
refuse TENANT_GATEWAY_PORT TENANT_GATEWAY_PORT=http
refuse TENANT_GATEWAY_PORT TENANT_GATEWAY_PORT=-1
refuse TENANT_HEALTH_LISTEN TENANT_HEALTH_LISTEN=18790
refuse TENANT_HEALTH_LISTEN TENANT_HEALTH_LISTEN=host.example:18790
refuse TENANT_HEALTH_LISTEN TENANT_HEALTH_LISTEN=127.0.0.1:99999
refuse TENANT_HEALTH_LISTEN "TENANT_HEALTH_LISTEN=[::1"
refuse TENANT_HEALTH_LISTEN TENANT_HEALTH_LISTEN=0.0.0.0:18789
refuse TENANT_RESTART TENANT_RESTART=sometimes
refuse TENANT_MAX_RESTARTS TENANT_MAX_RESTARTS=many
refuse TENANT_MAX_RESTARTS TENANT_MAX_RESTARTS=100000
refuse TENANT_LOG_FORMAT TENANT_LOG_FORMAT=xml
refuse TENANT_LOG_LEVEL TENANT_LOG_LEVEL=loud
refuse TENANT_POLICY TENANT_POLICY=relative/policy.ini
refuse TENANT_SYNC_URL TENANT_SYNC_URL=ftp://bucket/x
refuse TENANT_SYNC_URL TENANT_SYNC_URL=s3://B/x
refuse TENANT_SYNC_URL TENANT_SYNC_URL=s3://bucket/../x
refuse TENANT_SYNC_URL TENANT_SYNC_URL=file://relative
refuse AWS_ACCESS_KEY_ID TENANT_SYNC_URL=s3://bucket/p
refuse AWS_ENDPOINT_URL AWS_ENDPOINT_URL=localhost:9000 TENANT_SYNC_URL=s3://bucket/p \
	AWS_ACCESS_KEY_ID=a AWS_SECRET_ACCESS_KEY=b
refuse TENANT_SYNC_PATHS TENANT_SYNC_PATHS=/data
refuse TENANT_SYNC_PATHS TENANT_SYNC_PATHS=data=openclaw/
refuse TENANT_SYNC_PATHS TENANT_SYNC_PATHS=/data=../up/
refuse TENANT_SYNC_PATHS TENANT_SYNC_PATHS=/data=a/,/data=b/
refuse TENANT_SYNC_EXCLUDE "TENANT_SYNC_EXCLUDE=/abs/**"
refuse TENANT_SYNC_EXCLUDE "TENANT_SYNC_EXCLUDE=*.log,$(printf 'bad\tglob')"
refuse TENANT_SYNC_CONCURRENCY TENANT_SYNC_CONCURRENCY=0
refuse TENANT_SYNC_CONCURRENCY TENANT_SYNC_CONCURRENCY=1000
refuse TENANT_API_KEY_FORMAT TENANT_API_KEY_FORMAT=rot13
refuse TENANT_API_KEY_ENV TENANT_API_KEY_ENV=poe_api_key
refuse TENANT_API_KEY_ENV TENANT_API_KEY_ENV=R2_SECRET_ACCESS_KEY
refuse TENANT_API_KEY_FILE TENANT_API_KEY_FILE=key.enc
refuse TENANT_GATEWAY_CMD "TENANT_GATEWAY_CMD=openclaw 'gateway"
refuse TENANT_GATEWAY_CMD "TENANT_GATEWAY_CMD=openclaw gateway | tee log"
refuse TENANT_GATEWAY_CMD 'TENANT_GATEWAY_CMD=openclaw ${R2_SECRET_ACCESS_KEY}'
refuse TENANT_GATEWAY_CMD 'TENANT_GATEWAY_CMD=openclaw ${PORT'
refuse TENANT_GATEWAY_CMD 'TENANT_GATEWAY_CMD=openclaw $(id)'
refuse TENANT_GATEWAY_CMD 'TENANT_GATEWAY_CMD=   '
refuse OPENCLAW_STATE_DIR OPENCLAW_STATE_DIR=data
refuse OPENCLAW_STATE_DIR OPENCLAW_STATE_DIR=/
refuse OPENCLAW_STATE_DIR OPENCLAW_STATE_DIR=/data/../etc
refuse OPENCLAW_DEV_MODE OPENCLAW_DEV_MODE=maybe
refuse ENCRYPTION_SECRET_FILE ENCRYPTION_SECRET_FILE=/nonexistent/secret
refuse ENCRYPTION_SECRET_FILE ENCRYPTION_SECRET=a ENCRYPTION_SECRET_FILE=/etc/hostname
: >"$TI_TMP/empty-secret"
refuse ENCRYPTION_SECRET_FILE ENCRYPTION_SECRET_FILE="$TI_TMP/empty-secret"
refuse R2_SECRET_ACCESS_KEY R2_ACCESS_KEY_ID=AKID
refuse CF_ACCOUNT_ID R2_ACCESS_KEY_ID=AKID R2_SECRET_ACCESS_KEY=x
refuse R2_USER_PREFIX R2_USER_PREFIX=a/b R2_ACCESS_KEY_ID=AKID \
	R2_SECRET_ACCESS_KEY=x CF_ACCOUNT_ID=abc
refuse R2_BUCKET_NAME R2_BUCKET_NAME=Bad_Bucket! R2_ACCESS_KEY_ID=AKID \
	R2_SECRET_ACCESS_KEY=x CF_ACCOUNT_ID=abc
refuse CF_ACCOUNT_ID CF_ACCOUNT_ID=abc.evil.com R2_ACCESS_KEY_ID=AKID \
	R2_SECRET_ACCESS_KEY=x

# The same refusal in run mode, as PID 1 would see it (tini mode too).
out=$(env -i PATH="$PATH" TENANT_STOP_TIMEOUT=abc "$TI_BIN" -- true 2>&1)
is "$?" 78 "run mode: a bad value is exit 78 before anything starts"
ok_cmd "run mode: the message names the variable and the value" \
	grep -q "TENANT_STOP_TIMEOUT: 'abc'" <<<"$out"

# Bad command-line options are configuration errors too.
"$TI_BIN" -e 256 -- true 2>/dev/null
is "$?" 78 "-e 256 is refused with 78"
"$TI_BIN" -p NOTASIGNAL -- true 2>/dev/null
is "$?" 78 "-p with an unknown signal is refused with 78"
"$TI_BIN" -Z -- true 2>/dev/null
is "$?" 78 "an unknown option is refused with 78"

# Empty values count as unset.
env -i PATH="$PATH" TENANT_STOP_TIMEOUT= TENANT_GATEWAY_PORT= "$TI_BIN" -- true 2>/dev/null
is "$?" 0 "empty values count as unset"

# Valid spellings of durations are accepted.
for d in 500ms 30s 10m 1h 2h30m 45 1.5 never; do
	env -i PATH="$PATH" SANDBOX_SLEEP_AFTER="$d" "$TI_BIN" -- true 2>/dev/null
	is "$?" 0 "SANDBOX_SLEEP_AFTER=$d is accepted"
done

# check-config: resolved values, secrets redacted.
out=$(env -i PATH="$PATH" TENANT_STOP_TIMEOUT=90s R2_ACCESS_KEY_ID=AKIDX \
	R2_SECRET_ACCESS_KEY=very-secret-r2 CF_ACCOUNT_ID=acc123 R2_USER_PREFIX=u42 \
	ENCRYPTION_SECRET=very-secret-enc OPENCLAW_GATEWAY_TOKEN=very-secret-tok \
	"$TI_BIN" check-config 2>&1)
is "$?" 0 "check-config exits 0 on a valid configuration"
ok_cmd "check-config shows the resolved stop timeout" grep -q '^TENANT_STOP_TIMEOUT=1m30s$' <<<"$out"
ok_cmd "check-config shows the R2 bucket layout" grep -q 's3://moltbot-data/users/u42/' <<<"$out"
ok_cmd "check-config shows the R2 endpoint" grep -q 'https://acc123.r2.cloudflarestorage.com' <<<"$out"
ok_cmd "check-config never prints a secret" bash -c "! grep -q very-secret <<<'$out'"
out=$(env -i PATH="$PATH" TENANT_GATEWAY_PORT=abc "$TI_BIN" check-config 2>&1)
is "$?" 78 "check-config exits 78 on a bad value"

# The default gateway command expands the port.
out=$(env -i PATH="$PATH" TENANT_GATEWAY_PORT=19999 "$TI_BIN" check-config 2>/dev/null)
ok_cmd "the default command carries the configured port" \
	grep -q '^TENANT_GATEWAY_CMD=openclaw gateway --port 19999 --bind lan --allow-unconfigured$' <<<"$out"
out=$(env -i PATH="$PATH" NAME="a b" TENANT_GATEWAY_CMD='run "$NAME" '\''$NAME'\'' x\ y "" ${NAME}' \
	"$TI_BIN" check-config 2>/dev/null)
ok_cmd "TENANT_GATEWAY_CMD is split like a shell splits words" \
	grep -qF 'TENANT_GATEWAY_CMD=run a b $NAME x y  a b' <<<"$out"

# JSON logs are one JSON object per line.
env -i PATH="$PATH" TENANT_LOG_FORMAT=json "$TI_BIN" -- true 2>"$TI_TMP/json.log"
ok_cmd "TENANT_LOG_FORMAT=json writes one JSON object per line" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for l in lines:
    o = json.loads(l)
    assert {"ts", "level", "pid", "msg"} <= set(o), o
' "$TI_TMP/json.log"

done_testing
