#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The health server and the probe with the fake gateway: /readyz 503 -> 200
# as the gateway becomes ready, `tenant-init health` 1 -> 0, 404/405, the
# /metrics text checked by a strict parser, PID 1 single-threaded, the TCP
# fallback for commands that serve neither endpoint, and a busy
# TENANT_HEALTH_LISTEN as exit 70.
source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not available (needs root)"
command -v curl >/dev/null || skip_all "curl not installed"

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
export TENANT_GATEWAY_PORT=$gw TENANT_HEALTH_LISTEN=127.0.0.1:$hp
export OPENCLAW_STATE_DIR=$TI_TMP/data
mkdir -p "$OPENCLAW_STATE_DIR"

# status URL: the HTTP status of a GET (000 when unreachable)
status() {
	curl -s -o /dev/null -m 2 -w '%{http_code}' "$@"
}

ready_status_is() {
	[ "$(status "$base/readyz")" = "$1" ]
}

# ---- readiness follows the gateway's own /readyz ----
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --ready-after 3000 --orphans 3"
log=$TI_TMP/ti.log
run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "/healthz answers while the gateway starts" wait_until 10 \
	curl -sf -o /dev/null "$base/healthz"
body=$(curl -s "$base/readyz")
code=$(status "$base/readyz")
is "$code" 503 "/readyz is 503 before the gateway is ready"
case "$body" in
'{"ready":false,"reasons":["gateway-starting"],"warnings":[]}' | \
	'{"ready":false,"reasons":["restoring"],"warnings":[]}') ok 0 "not-ready body: $body" ;;
*) ok 1 "not-ready body: $body" ;;
esac
out=$("$TI_BIN" health)
rc=$?
is "$rc" 1 "tenant-init health (TENANT_HEALTH_LISTEN) exits 1 while not ready"
case "$out" in "not ready: "*) ok 0 "one-line reason: $out" ;; *) ok 1 "one-line reason: $out" ;; esac
"$TI_BIN" health --live >/dev/null
is "$?" 0 "tenant-init health --live exits 0 (live)"
ok_cmd "/readyz turns 200 once the gateway is ready" wait_until 15 \
	ready_status_is 200
is "$(curl -s "$base/readyz")" '{"ready":true,"reasons":[],"warnings":[]}' \
	"ready body exactly"
out=$("$TI_BIN" health --url "$base/")
is "$?" 0 "tenant-init health --url exits 0 when ready"
is "$out" "ready" "and says ready"
"$TI_BIN" health --url "http://127.0.0.1:$(free_port)" >/dev/null
is "$?" 1 "tenant-init health: unreachable -> 1"
"$TI_BIN" health --bogus >/dev/null
is "$?" 78 "tenant-init health: usage error -> 78"

is "$(status "$base/nope")" 404 "unknown path -> 404"
is "$(status -X POST "$base/healthz")" 405 "POST -> 405"
is "$(status -X DELETE "$base/metrics")" 405 "DELETE -> 405"
is "$(status -I "$base/healthz")" 200 "HEAD /healthz -> 200"

# ---- /metrics is Prometheus text ----
curl -s "$base/metrics" >"$TI_TMP/metrics"
python3 - "$TI_TMP/metrics" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
required = """tenant_gateway_up tenant_gateway_restarts_total
tenant_zombies_reaped_total tenant_idle_seconds tenant_sleep_in_seconds
tenant_restore_duration_seconds tenant_sync_queue_depth
tenant_sync_lag_seconds tenant_sync_uploaded_objects_total
tenant_sync_uploaded_bytes_total tenant_sync_downloaded_objects_total
tenant_sync_deleted_objects_total tenant_sync_errors_total
tenant_sync_last_success_timestamp_seconds""".split()
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
types, helps, samples = {}, {}, {}
assert text.endswith("\n"), "no final newline"
for n, line in enumerate(text.split("\n")[:-1], 1):
    m = re.fullmatch(r"# HELP (%s) (.*)" % name_re, line)
    if m:
        assert m.group(1) not in helps, "line %d: second HELP" % n
        helps[m.group(1)] = m.group(2)
        continue
    m = re.fullmatch(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)" % name_re, line)
    if m:
        assert m.group(1) not in types, "line %d: second TYPE" % n
        assert m.group(1) not in samples, "line %d: TYPE after samples" % n
        types[m.group(1)] = m.group(2)
        continue
    assert not line.startswith("#"), "line %d: bad comment %r" % (n, line)
    m = re.fullmatch(r"(%s)(\{[^}]*\})? (\S+)( -?\d+)?" % name_re, line)
    assert m, "line %d: not a sample: %r" % (n, line)
    name, value = m.group(1), m.group(3)
    float(value)  # NaN, +Inf, -1.5 ... all parse; garbage does not
    assert name in types, "line %d: %s has no TYPE" % (n, name)
    assert name not in samples, "line %d: duplicate %s" % (n, name)
    if types[name] == "counter":
        assert name.endswith("_total"), name
        assert float(value) >= 0, name
    samples[name] = float(value)
missing = [r for r in required if r not in samples]
assert not missing, "missing: %s" % missing
assert samples["tenant_gateway_up"] == 1
print("# %d samples parsed" % len(samples))
PY
ok $? "/metrics parses as Prometheus text with every DESIGN.md metric"
# The fake gateway left 3 orphans; PID 1 reaped them (and counts them).
reaped() {
	local v
	v=$(curl -s "$base/metrics" | awk '$1 == "tenant_zombies_reaped_total" {print $2}')
	[ "${v:-0}" -ge 3 ]
}
ok_cmd "orphans of the gateway are reaped and counted" wait_until 5 reaped

tpid=$(ti_pid_below "$upid")
ok $? "found PID 1's host pid ($tpid)"
threads=$(awk '/^Threads:/ {print $2}' "/proc/$tpid/status")
is "$threads" 1 "PID 1 has one thread while gateway, probe and server run"
# Every descriptor PID 1 made itself (sockets, epoll, timers) is CLOEXEC.
leaky=0
for fdinfo in /proc/"$tpid"/fdinfo/*; do
	fd=${fdinfo##*/}
	target=$(readlink "/proc/$tpid/fd/$fd" 2>/dev/null) || continue
	case "$target" in socket:* | anon_inode:*) ;; *) continue ;; esac
	flags=$(awk '/^flags:/ {print $2}' "$fdinfo")
	if (((8#$flags & 8#2000000) == 0)); then
		diag "fd $fd ($target) lacks O_CLOEXEC"
		leaky=1
	fi
done
is "$leaky" 0 "PID 1's sockets and event fds are close-on-exec"

# ---- a second instance on the same address: exit 70, naming the variable ----
"$TI_BIN" -- true >"$TI_TMP/busy.log" 2>&1
is "$?" 70 "a busy TENANT_HEALTH_LISTEN is exit 70"
ok_cmd "the message names TENANT_HEALTH_LISTEN" \
	grep -q "unable to listen on TENANT_HEALTH_LISTEN=127.0.0.1:$hp" \
	"$TI_TMP/busy.log"

kill -TERM "$tpid"
reap_bounded "$upid"
is "$?" 0 "SIGTERM: clean exit 0"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

# ---- fallbacks: a command that serves neither endpoint, or no HTTP ----
for mode in --no-endpoints --tcp-only; do
	export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT $mode"
	log=$TI_TMP/ti$mode.log
	"$TI_BIN" >"$log" 2>&1 &
	tpid=$!
	bg_track "$tpid"
	ok_cmd "$mode: ready through the TCP-connect fallback" \
		wait_until 10 ready_status_is 200
	ok_cmd "$mode: the log says why" grep -q "probing with a TCP connect" "$log"
	kill -TERM "$tpid"
	reap_bounded "$tpid"
	is "$?" 0 "$mode: clean exit"
done

diag_logs_if_failed "$TI_TMP"/*.log
done_testing
