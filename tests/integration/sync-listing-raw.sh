#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A storage server that ignores encoding-type=url (some S3-compatibles do;
# s3proxy.js's DIR/raw-listing.json) lists keys raw, and a key holding a
# control character then goes out as the bare byte, which XML 1.0 does not
# allow anywhere. One such key must not keep the tenant restoring forever
# (it once did: "malformed listing", retried without end):
#  - `tenant-init restore` finishes, exit 0, within a bound;
#  - every other object is restored byte-identical, also names that url
#    encoding would have changed and a private-use character;
#  - the key is refused, logged escaped (\x01), and nothing with its name
#    (or its name without the byte) appears locally;
#  - as PID 1 in gateway mode the tenant becomes ready, and the refused
#    key causes no deletion.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

SRC=$TI_TMP/src
P=lr/openclaw
BOUND=60
mkdir -p "$SRC/sub"
names=("plain.txt" "sub/nested.json" "with space+plus%41.txt" "amp&lt;.txt"
	$'\xc3\xbc.txt' $'\xee\x80\x81pua')
for n in "${names[@]}"; do
	head -c $((1000 + RANDOM % 5000)) /dev/urandom >"$SRC/$n"
done
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$SRC" $(s3_env lr/) \
	"$TI_BIN" sync --once 2>"$TI_TMP/seed.log"
is "$(s3_keys "$P/" | wc -l)" "${#names[@]}" "bucket seeded with ${#names[@]} objects"

echo '{"inject":["bad\u0001name"]}' >"$S3_CTL/raw-listing.json"

# What the proxy now answers to the agent's listing request.
curl -s -m 10 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" \
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	"$S3_ENDPOINT/$S3_BUCKET?encoding-type=url&list-type=2&prefix=lr%2Fopenclaw%2F" \
	>"$TI_TMP/listing.xml"
grep -qF "<Key>$P/bad"$'\x01'"name</Key>" "$TI_TMP/listing.xml" &&
	grep -qF "<Key>$P/with space+plus%41.txt</Key>" "$TI_TMP/listing.xml" &&
	! grep -q "<EncodingType>" "$TI_TMP/listing.xml"
ok $? "the listing ignores encoding-type=url and carries a raw 0x01 key"

# restored DIR: the files restored (state and config excluded), sorted.
restored() {
	(cd "$1" && find . -path ./.tenant-init -prune -o -type f \
		! -name openclaw.json -printf '%P\n') | LC_ALL=C sort
}
want=$(printf '%s\n' "${names[@]}" | LC_ALL=C sort)
# same DIR: how many of the seeded files DIR lacks or has different.
same() {
	local bad=0 n
	for n in "${names[@]}"; do
		cmp -s "$SRC/$n" "$1/$n" || bad=$((bad + 1))
	done
	echo "$bad"
}
# refused LOG: the key is named in LOG, escaped, as refused.
refused() {
	grep "refusing object" "$1" | grep -qF "'$P/bad\\x01name': control character"
}

# -- one-shot restore --
D=$TI_TMP/restored
RLOG=$TI_TMP/restore.log
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$D" $(s3_env lr/) \
	"$TI_BIN" restore 2>"$RLOG" &
rpid=$!
bg_track "$rpid"
wait_pid_exit "$rpid" "$BOUND"
ok $? "tenant-init restore finishes within $BOUND s"
reap_bounded "$rpid" 5
is "$?" 0 "... with exit 0"
! grep -q "malformed listing" "$RLOG"
ok $? "no malformed listing"
is "$(restored "$D")" "$want" "exactly the ordinary objects are restored"
is "$(same "$D")" 0 "... each byte-identical"
ok_cmd "the key with 0x01 is refused and logged escaped" refused "$RLOG"
is "$(find "$D" -name 'bad*' | wc -l)" 0 "nothing with that name exists locally"

# -- PID 1, gateway mode --
D2=$TI_TMP/pid1
LOG=$TI_TMP/pid1.log
gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
mkdir -p "$D2"
env -i PATH="$PATH" OPENCLAW_STATE_DIR="$D2" $(s3_env lr/) \
	TENANT_GATEWAY_PORT="$gw" TENANT_HEALTH_LISTEN="127.0.0.1:$hp" \
	TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port $gw" \
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
	>"$LOG" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "as PID 1: /readyz ready within $BOUND s" \
	wait_until "$BOUND" readyz_has '"ready":true'
is "$(restored "$D2")" "$want" "the ordinary objects are restored"
is "$(same "$D2")" 0 "... each byte-identical"
ok_cmd "the key with 0x01 is refused and logged escaped" refused "$LOG"
is "$(find "$D2" -name 'bad*' | wc -l)" 0 "nothing with that name exists locally"
tpid=$(ti_pid_below "$upid")
[ -n "$tpid" ] && kill -TERM "$tpid"
reap_bounded "$upid" 30
is "$?" 0 "a clean stop"
is "$(s3_count POST '\?delete')$(s3_count DELETE)" 00 "no deletion was ever sent"
is "$(s3_keys "$P/" | grep -c bad)" 0 "the bucket gained no object named like it"

for f in "$RLOG" "$LOG"; do
	no_sanitizer_report "$f" || ok 1 "sanitizer report in $f"
done
diag_logs_if_failed "$RLOG" "$LOG"
done_testing
