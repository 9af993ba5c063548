#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The test storage really checks signatures (s3rver alone does not), and
# tenant-init's requests pass that check: a wrong secret is refused for
# curl, rclone and tenant-init alike; rclone's and tenant-init's requests
# with the right one are accepted; a payload that does not match its
# x-amz-content-sha256 is refused. Then the two ways a healthy store says
# "not now": a clock 2 h off (RequestTimeTooSkewed, corrected from the
# Date header) and 503 SlowDown with Retry-After (honoured).
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_have || skip_all "s3rver not installed (tests/deps.sh)"
command -v rclone >/dev/null || skip_all "rclone not installed"
s3_start || skip_all "s3rver did not start"

DATA=$TI_TMP/data
mkdir -p "$DATA/sub"
echo "hello" >"$DATA/a.txt"
echo "ünïcode" >"$DATA/sub/b c.txt"

ti_once() { # ti_once PREFIX [ENV...]: tenant-init sync --once
	local prefix=$1
	shift
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$DATA" TENANT_FLUSH_TIMEOUT=5s \
		$(s3_env "$prefix") "$@" "$TI_BIN" sync --once
}

# -- the proxy itself, with curl's own SigV4 --
E=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
code=$(curl -s -o "$TI_TMP/out" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
	-u "$S3_KEY:not-the-secret" -H "x-amz-content-sha256: $E" \
	"$S3_ENDPOINT/$S3_BUCKET?list-type=2")
is "$code" 403 "curl with a wrong secret: 403"
grep -q SignatureDoesNotMatch "$TI_TMP/out"
ok $? "... SignatureDoesNotMatch"
code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
	-u "$S3_KEY:$S3_SECRET" -H "x-amz-content-sha256: $E" \
	"$S3_ENDPOINT/$S3_BUCKET?list-type=2")
is "$code" 200 "curl with the right secret: 200"
code=$(printf 'tampered' | curl -s -o "$TI_TMP/out" -w '%{http_code}' -T - \
	--aws-sigv4 "aws:amz:us-east-1:s3" -u "$S3_KEY:$S3_SECRET" \
	-H "x-amz-content-sha256: $E" "$S3_ENDPOINT/$S3_BUCKET/x")
grep -q XAmzContentSHA256Mismatch "$TI_TMP/out"
ok $? "a body that does not match x-amz-content-sha256 is refused ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/$S3_BUCKET?list-type=2")
is "$code" 403 "an unsigned request: 403"

# -- tenant-init --
ti_once t1/ AWS_SECRET_ACCESS_KEY=wrong-secret 2>"$TI_TMP/wrong.log"
is $? 75 "tenant-init with a wrong secret: flush incomplete (75)"
grep -q "SignatureDoesNotMatch" "$TI_TMP/wrong.log"
ok $? "... because the storage refused the signature"
is "$(s3_keys t1/ | wc -l)" 0 "... and nothing reached the bucket"

refused_before=$(s3_count PUT "t1/.* 403")
ti_once t1/ 2>"$TI_TMP/right.log"
is $? 0 "tenant-init with the right secret: uploaded"
is "$(s3_keys t1/ | tr '\n' ' ')" "t1/openclaw/a.txt t1/openclaw/sub/b c.txt " \
	"both files are in the bucket"
cmp -s "$(s3_obj 't1/openclaw/sub/b c.txt')" "$DATA/sub/b c.txt"
ok $? "byte-identical"
is "$(s3_count PUT "t1/.* 403")" "$refused_before" "no request of that run was refused"

# -- rclone --
rclone_s3 copy "$DATA" "s3:$S3_BUCKET/rc/" --exclude '.tenant-init/**' \
	2>"$TI_TMP/rclone.log"
ok $? "rclone's requests are accepted"
is "$(s3_keys rc/ | wc -l)" 2 "rclone uploaded both files"
rclone_s3 --s3-secret-access-key wrong lsf "s3:$S3_BUCKET/rc/" \
	>/dev/null 2>"$TI_TMP/rclone-wrong.log"
ok $((! $?)) "rclone with a wrong secret is refused"
grep -q SignatureDoesNotMatch "$TI_TMP/rclone-wrong.log"
ok $? "... SignatureDoesNotMatch"

# -- clock skew: the store's clock runs 2 h ahead --
s3_proxy_stop
s3_proxy_start --clock-offset 7200
echo "skewed" >"$DATA/c.txt"
ti_once t2/ 2>"$TI_TMP/skew.log"
is $? 0 "tenant-init uploads against a store 2 h ahead"
grep -q "RequestTimeTooSkewed" "$S3_LOG"
ok $? "... the first requests were refused as skewed"
grep -q "clock differs from ours by +7[12][0-9][0-9] s" "$TI_TMP/skew.log"
ok $? "... the skew was learnt from the Date header"
is "$(s3_keys t2/ | wc -l)" 3 "... and all three files arrived"
rclone_s3 lsf "s3:$S3_BUCKET/t2/" >/dev/null 2>&1
ok $((! $?)) "rclone (no skew correction) is refused by the same store"

# -- 503 SlowDown with Retry-After --
s3_proxy_stop
s3_proxy_start
echo '{"count":2,"status":503,"code":"SlowDown","retryAfter":2,"methods":["PUT"]}' \
	>"$S3_CTL/fail"
echo "slow" >"$DATA/d.txt"
start=$SECONDS
ti_once t3/ TENANT_SYNC_CONCURRENCY=1 TENANT_FLUSH_TIMEOUT=30s 2>"$TI_TMP/slow.log"
is $? 0 "uploads complete despite SlowDown"
is "$(s3_keys t3/ | wc -l)" 4 "... every file arrived"
is "$(s3_count PUT 't3/.* 503 .* SlowDown')" 2 "... after two SlowDown answers"
t_fail=$(grep ' 503 ' "$S3_LOG" | tail -1 | awk '{print $(NF-1)}')
t_next=$(awk -v t="$t_fail" '$(NF-1) > t && $1 == "PUT" {print $(NF-1); exit}' "$S3_LOG")
[ $((t_next - t_fail)) -ge 1900 ]
ok $? "... the next PUT waited at least ~2 s ($((t_next - t_fail)) ms)"
grep -q "SlowDown" "$TI_TMP/slow.log"
ok $? "the throttling was logged"

# -- a failed part: the multipart upload is aborted, then done again --
mkdir -p "$TI_TMP/large"
head -c $((65 * 1024 * 1024)) /dev/urandom >"$TI_TMP/large/large.bin"
echo '{"count":1,"status":500,"code":"InternalError","methods":["PUT"]}' \
	>"$S3_CTL/fail"
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$TI_TMP/large" TENANT_FLUSH_TIMEOUT=60s \
	$(s3_env t4/) "$TI_BIN" sync --once 2>"$TI_TMP/mpu.log"
is $? 0 "a 65 MiB upload whose first part fails still completes"
is "$(s3_count DELETE 't4/openclaw/large.bin\?uploadId=')" 1 \
	"... the failed multipart upload was aborted"
is "$(s3_count POST 't4/openclaw/large.bin\?uploads=')" 2 "... and started again"
cmp -s "$TI_TMP/large/large.bin" "$(s3_obj t4/openclaw/large.bin)"
ok $? "... the object is complete and identical"

for f in "$TI_TMP"/*.log; do
	no_sanitizer_report "$f" || { ok 1 "sanitizer report in $f"; cat "$f"; }
done
done_testing
