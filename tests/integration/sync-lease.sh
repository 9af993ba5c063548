#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# One writer per tenant prefix (issue 15, sync/lease.h), against s3rver
# behind the SigV4 proxy, which implements S3's conditional writes:
#
#   - the proxy itself refuses a stale If-Match and If-None-Match: * on an
#     existing key (what makes the lease safe);
#   - an instance that finds the lease held by a live holder waits:
#     /readyz says lease-wait, it does not restore, write or delete;
#   - two instances of one tenant started 1 s apart, a writer in each:
#     the older hands the lease over (after its flush), and no object is
#     ever written by it after the newer one's first write, nothing the
#     newer one wrote is deleted, and the newer one restored everything
#     the older one had stored;
#   - a clean stop releases the lease (the next instance starts at once);
#   - kill -9 of the holder: taken over once the lease has expired.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

mkdir -p "$TI_TMP/dump"
s3_require --dump "$TI_TMP/dump"

LEASE_KEY=t/.tenant-init/lease.json
LEASE_URL=$S3_ENDPOINT/$S3_BUCKET/$LEASE_KEY

# put_lease FILE [HEADER...]: a signed PUT of the lease with curl; prints
# the HTTP status.
put_lease() {
	local f=$1 h=()
	shift
	for x in "$@"; do h+=(-H "$x"); done
	curl -s -o /dev/null -w '%{http_code}' -m 10 \
		--aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "${h[@]}" \
		-T "$f" "$LEASE_URL"
}

# has_key KEY: KEY is in the bucket (exactly, or as a prefix).
has_key() {
	[ -n "$(s3_keys "$1")" ]
}

lease_etag() {
	curl -s -I -m 10 --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$S3_KEY:$S3_SECRET" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$LEASE_URL" |
		tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p'
}

# ---- the proxy's conditional writes ----
now_ms=$(($(date +%s%3N)))
printf '{"version":1,"holder":"someone-else","state":"held","expires_at_ms":%s,"ttl_ms":30000,"want":""}' \
	$((now_ms + 3600000)) >"$TI_TMP/foreign.json"
is "$(put_lease "$TI_TMP/foreign.json" 'If-None-Match: *')" 200 \
	"proxy: If-None-Match: * creates an absent key"
is "$(put_lease "$TI_TMP/foreign.json" 'If-None-Match: *')" 412 \
	"proxy: ... and refuses to replace an existing one"
is "$(put_lease "$TI_TMP/foreign.json" 'If-Match: "0123456789abcdef0123456789abcdef"')" \
	412 "proxy: a stale If-Match ETag is refused"
etag=$(lease_etag)
is "$(put_lease "$TI_TMP/foreign.json" "If-Match: $etag")" 200 \
	"proxy: the current ETag is accepted ($etag)"

# start NAME DATA [VAR=VALUE...]: tenant-init as PID 1 (tini mode, the fake
# gateway) on prefix t/; sets PID_<NAME> and HP_<NAME>.
start() {
	local name=$1 data=$2 hp gp
	shift 2
	hp=$(free_port)
	gp=$(free_port)
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$data" $(s3_env t/) \
		TENANT_HEALTH_LISTEN="127.0.0.1:$hp" TENANT_SYNC_DEBOUNCE=200ms \
		TENANT_GATEWAY_PORT="$gp" TENANT_SYNC_LEASE=6s "$@" \
		unshare --pid --fork --mount-proc --kill-child -- \
		"$TI_BIN" -- "$TI_HELPERS/fakegw" --port "$gp" \
		>"$TI_TMP/$name.log" 2>&1 &
	eval "PID_$name=$!"
	eval "HP_$name=$hp"
	bg_track "$!"
}

readyz_of() {
	local hp
	eval "hp=\$HP_$1"
	curl -s -m 2 "http://127.0.0.1:$hp/readyz"
}

ready() { readyz_of "$1" | grep -q '"ready":true'; }

# stop NAME: SIGTERM to its PID 1; its exit status in RC.
stop() {
	local p t
	eval "p=\$PID_$1"
	t=$(ti_pid_below "$p")
	[ -n "$t" ] && kill -TERM "$t"
	reap_bounded "$p" 60
	RC=$?
}

# ---- a live foreign holder: wait, and write nothing ----
mkdir -p "$TI_TMP/w"
echo "local" >"$TI_TMP/w/local.txt"
start W "$TI_TMP/w"
wait_until 15 bash -c "curl -s -m 2 http://127.0.0.1:$HP_W/readyz | grep -q lease-wait"
ok $? "waiting: /readyz says lease-wait"
diag "$(readyz_of W)"
is "$(curl -s -m 2 "http://127.0.0.1:$HP_W/metrics" | awk '$1 == "tenant_sync_lease_held" {print $2}')" \
	0 "waiting: tenant_sync_lease_held 0"
grep -q "asked for it" "$TI_TMP/W.log"
ok $? "waiting: it asked the holder for the lease"
is "$(s3_keys t/ | wc -l)" 0 "waiting: nothing written"
# The holder gives it up.
printf '{"version":1,"holder":"someone-else","state":"released","expires_at_ms":0,"ttl_ms":30000,"want":""}' \
	>"$TI_TMP/released.json"
is "$(put_lease "$TI_TMP/released.json" "If-Match: $(lease_etag)")" 200 \
	"the foreign holder releases it"
wait_until 15 ready W
ok $? "waiting: then it is ready"
wait_until 15 has_key t/openclaw/local.txt
ok $? "waiting: and syncs"
stop W
is "$RC" 0 "waiting: stopped cleanly"
grep -q '"state":"released"' "$(s3_obj $LEASE_KEY)"
ok $? "a clean stop released the lease"

# ---- two instances, one second apart, a writer in each ----
DA=$TI_TMP/a DB=$TI_TMP/b
mkdir -p "$DA" "$DB"
rm -f "$TI_TMP"/dump/*
start A "$DA"
wait_until 15 ready A
ok $? "A is ready"
# A's writer: a file a-N and shared.txt every 100 ms, 80 times.
(for i in $(seq 1 80); do
	echo "A:$i" >"$DA/a-$i"
	echo "A:$i" >"$DA/shared.txt"
	sleep 0.1
done) &
WA=$!
bg_track "$WA"
wait_until 10 has_key "t/openclaw/a-3\$"
ok $? "A's writes reach storage"
start B "$DB"
wait_until 30 ready B
ok $? "B became ready (A handed the lease over)"
grep -q "handing the lease over to" "$TI_TMP/A.log"
ok $? "A's log: it handed the lease over"
# B's writer: b-N and shared.txt.
for i in $(seq 1 20); do
	echo "B:$i" >"$DB/b-$i"
	echo "B:$i" >"$DB/shared.txt"
	sleep 0.1
done
wait_until 20 has_key t/openclaw/b-20
ok $? "B's writes reach storage"
reap_bounded "$WA" 30
# Everything A had stored before the handover, B restored.
missing=0
for k in $(s3_keys t/openclaw/a-); do
	[ -f "$DB/${k#t/openclaw/}" ] || missing=$((missing + 1))
done
is "$missing" 0 "B restored every a-N file in storage"
python3 - "$TI_TMP/dump" >"$TI_TMP/order.txt" <<'PY'
# The bodies PUT, in order: "A" or "B" by their content's first byte.
import os, sys
d = sys.argv[1]
for n in sorted(f for f in os.listdir(d) if not f.endswith(".key")):
    key = open(os.path.join(d, n + ".key")).read()
    if "/openclaw/" not in key:
        continue
    body = open(os.path.join(d, n), "rb").read(1)
    print(body.decode(errors="replace"), key)
PY
first_b=$(grep -n '^B ' "$TI_TMP/order.txt" | head -1 | cut -d: -f1)
late_a=$(tail -n +"${first_b:-1}" "$TI_TMP/order.txt" | grep -c '^A ')
ok $(( ${first_b:-0} == 0 || late_a != 0 )) \
	"no object written by A after B's first write ($late_a of $(wc -l <"$TI_TMP/order.txt") PUTs)"
is "$(cat "$(s3_obj t/openclaw/shared.txt)")" "B:20" \
	"shared.txt holds B's last write"
gone=0
for i in $(seq 1 20); do
	has_key "t/openclaw/b-$i\$" || gone=$((gone + 1))
done
is "$gone" 0 "nothing B wrote was deleted"
readyz_of A | grep -q sync-lease-lost
ok $? "A's /readyz warns sync-lease-lost"
stop A
is "$RC" 0 "A stops cleanly (its late changes are not synced, by design)"

# ---- kill -9 of the holder: taken over after the lease time ----
t=$(ti_pid_below "$PID_B")
kill -KILL "$t"
reap_bounded "$PID_B" 30
killed=$SECONDS
DC=$TI_TMP/c
mkdir -p "$DC"
start C "$DC"
wait_until 30 ready C
ok $? "C took over after B was killed"
took=$((SECONDS - killed))
[ "$took" -le 14 ]
ok $? "within the lease time plus a poll ($took s <= 14 s, lease 6 s)"
grep -q "expired .* ago: taking it over" "$TI_TMP/C.log"
ok $? "C's log: the lease had expired"
ok_cmd "C restored B's files" test -f "$DC/b-20"
stop C
is "$RC" 0 "C stops"

# ---- after a clean stop the next instance need not wait ----
start D "$DC"
wait_until 10 ready D
ok $? "D starts at once after C's clean stop"
! grep -q "lease-wait\|waiting for the lease" "$TI_TMP/D.log"
ok $? "D never waited"
stop D

ok_cmd "no sanitizer report" bash -c \
	"! grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $TI_TMP/*.log"
diag_logs_if_failed "$TI_TMP"/*.log
done_testing
