#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Storage credentials from files, rotated without a restart (issue 15):
#
#   - AWS_ACCESS_KEY_ID_FILE / AWS_SECRET_ACCESS_KEY_FILE laid out as a
#     Kubernetes secret volume (timestamped directory, ..data symlink):
#     the store's secret changes (the proxy restarted with another one),
#     uploads fail, the secret volume is updated by swapping ..data, and
#     the running agent uses the new secret from then on;
#   - AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE, rewritten in place;
#   - bad inputs are exit 78 naming the variable; neither the variables
#     nor the files' paths reach the gateway's environment.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

DATA=$TI_TMP/data
mkdir -p "$DATA"
# A secret volume as the kubelet writes it.
SV=$TI_TMP/secret
mkvol() { # mkvol GEN SECRET
	mkdir -p "$SV/..$1"
	printf '%s' "$S3_KEY" >"$SV/..$1/access_key_id"
	printf '%s\n' "$2" >"$SV/..$1/secret_access_key"
	ln -sfn "..$1" "$SV/..data_tmp"
	mv -T "$SV/..data_tmp" "$SV/..data"
	ln -sfn ..data/access_key_id "$SV/access_key_id"
	ln -sfn ..data/secret_access_key "$SV/secret_access_key"
}
mkvol 1 "$S3_SECRET"

has_key() { [ -n "$(s3_keys "$1")" ]; }

FILES=(AWS_ACCESS_KEY_ID_FILE="$SV/access_key_id"
	AWS_SECRET_ACCESS_KEY_FILE="$SV/secret_access_key")
envs() {
	echo "TENANT_SYNC_URL=s3://$S3_BUCKET/c/"
	echo "AWS_ENDPOINT_URL=$S3_ENDPOINT"
	echo "AWS_REGION=us-east-1"
}
ti_pid1_start "$TI_TMP/ti.log" OPENCLAW_STATE_DIR="$DATA" $(envs) \
	"${FILES[@]}" TENANT_SYNC_DEBOUNCE=200ms TENANT_LOG_LEVEL=debug \
	-- sh -c 'tr "\0" "\n" </proc/self/environ >'"$TI_TMP/gw.env"'; exec sleep 1000'
ok $? "started with the credentials in files"
echo one >"$DATA/one.txt"
wait_until 15 has_key c/openclaw/one.txt
ok $? "synced with them"
! grep -qE '^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_SHARED_CREDENTIALS_FILE|AWS_PROFILE|R2_)' \
	"$TI_TMP/gw.env" && ! grep -qF "$S3_SECRET" "$TI_TMP/gw.env"
ok $? "the gateway's environment holds no credential (nor their files' paths)"

# The store's secret rotates: the proxy now knows another one.
NEW=rotated-$RANDOM$RANDOM
s3_proxy_stop
S3_SECRET=$NEW
s3_proxy_start
echo two >"$DATA/two.txt"
wait_until 15 grep -q "SignatureDoesNotMatch" "$S3_LOG"
ok $? "with the old secret the store refuses the upload"
mkvol 2 "$NEW"
wait_until 15 grep -q "storage credentials changed in their files" "$TI_TMP/ti.log"
ok $? "the agent noticed the swapped secret volume"
wait_until 20 has_key c/openclaw/two.txt
ok $? "and the upload went through with the new secret"
! grep -q "$NEW" "$TI_TMP/ti.log"
ok $? "the new secret is never logged"
kill -TERM "$TI_PID"
ti_pid1_wait 60
ok $? "stopped"

# The AWS CLI's shared file, with a profile, rewritten in place.
CF=$TI_TMP/credentials
cat >"$CF" <<INI
[default]
aws_access_key_id = nobody
aws_secret_access_key = wrong

[tenant]
aws_access_key_id = $S3_KEY
aws_secret_access_key = $NEW
INI
echo three >"$DATA/three.txt"
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" $(envs) \
	AWS_SHARED_CREDENTIALS_FILE="$CF" AWS_PROFILE=tenant \
	"$TI_BIN" sync --once 2>"$TI_TMP/once.log"
is $? 0 "sync --once with AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE"
ok_cmd "... uploaded" has_key c/openclaw/three.txt
ti_pid1_start "$TI_TMP/ti2.log" OPENCLAW_STATE_DIR="$DATA" $(envs) \
	AWS_SHARED_CREDENTIALS_FILE="$CF" AWS_PROFILE=tenant \
	TENANT_SYNC_DEBOUNCE=200ms -- sleep 1000
wait_until 15 grep -q "sync: watching" "$TI_TMP/ti2.log"
ok $? "running on the shared file"
NEWER=again-$RANDOM$RANDOM
s3_proxy_stop
S3_SECRET=$NEWER
s3_proxy_start
sed -i "s/^aws_secret_access_key = $NEW\$/aws_secret_access_key = $NEWER/" "$CF"
echo four >"$DATA/four.txt"
wait_until 20 has_key c/openclaw/four.txt
ok $? "the shared file rewritten in place: the new secret is used"
kill -TERM "$TI_PID"
ti_pid1_wait 60

# Bad inputs: exit 78 naming the variable.
bad() { # bad WHAT PATTERN VAR=VALUE...
	local what=$1 pat=$2
	shift 2
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" $(envs) "$@" \
		"$TI_BIN" check-config >/dev/null 2>"$TI_TMP/bad.log"
	local rc=$?
	[ "$rc" -eq 78 ] && grep -q "$pat" "$TI_TMP/bad.log"
	ok $? "$what: exit 78 naming it ($(head -1 "$TI_TMP/bad.log"))"
}
bad "a missing secret file" AWS_SECRET_ACCESS_KEY_FILE \
	AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY_FILE=/nonexistent/secret
bad "a variable and its file both" AWS_ACCESS_KEY_ID_FILE \
	AWS_ACCESS_KEY_ID=x AWS_ACCESS_KEY_ID_FILE="$SV/access_key_id" \
	AWS_SECRET_ACCESS_KEY=y
bad "a profile the shared file lacks" AWS_SHARED_CREDENTIALS_FILE \
	AWS_SHARED_CREDENTIALS_FILE="$CF" AWS_PROFILE=missing
printf '[tenant\nbroken' >"$TI_TMP/broken.ini"
bad "a shared file that is no INI" "broken.ini:1" \
	AWS_SHARED_CREDENTIALS_FILE="$TI_TMP/broken.ini"
: >"$TI_TMP/empty"
bad "an empty secret file" AWS_SECRET_ACCESS_KEY_FILE \
	AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY_FILE="$TI_TMP/empty"

diag_logs_if_failed "$TI_TMP"/*.log
done_testing
