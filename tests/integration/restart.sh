#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Gateway lifecycle with the fake gateway: a crashing gateway is restarted
# with growing delays (observed start times), a crash loop gives up with
# the child's exit code, a hung gateway (event loop stuck) is found by the
# liveness probe and restarted even though it exits 0 on SIGTERM (as
# OpenClaw does), and one that ignores SIGTERM is SIGKILLed at the stop
# timeout.
source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not available (needs root)"
command -v curl >/dev/null || skip_all "curl not installed"

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
export TENANT_GATEWAY_PORT=$gw TENANT_HEALTH_LISTEN=127.0.0.1:$hp
export OPENCLAW_STATE_DIR=$TI_TMP/data
mkdir -p "$OPENCLAW_STATE_DIR"

lines() {
	[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# Seconds between consecutive starts recorded by fakegw --count.
start_gaps() {
	awk 'NR > 1 {printf "%.3f\n", ($1 - prev) / 1000} {prev = $1}' "$1"
}

# in_range X LO HI
in_range() {
	awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN {exit !(x >= lo && x <= hi)}'
}

# ---- crash -> restart with growing delays, then ready ----
count=$TI_TMP/starts1
export TENANT_MAX_RESTARTS=10 TENANT_STOP_TIMEOUT=1s
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --exit-after 200 --exit-code 3 --only-starts 3 --ignore-term --count $count"
log=$TI_TMP/crash.log
run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "four starts: three crashes, then it stays up" wait_until 20 lines "$count" 4
ok_cmd "ready after the restarts" wait_until 10 readyz_has '"ready":true'
mapfile -t gaps < <(start_gaps "$count")
diag "gaps between starts (s): ${gaps[*]} (backoff 1, 2, 4 s + 0.2 s run, +10% jitter)"
in_range "${gaps[0]}" 1.1 2.5
ok $? "first restart after ~1 s (${gaps[0]})"
in_range "${gaps[1]}" 2.1 3.8
ok $? "second after ~2 s (${gaps[1]})"
in_range "${gaps[2]}" 4.1 6.5
ok $? "third after ~4 s (${gaps[2]})"
awk -v a="${gaps[0]}" -v b="${gaps[1]}" -v c="${gaps[2]}" 'BEGIN {exit !(b > a && c > b)}'
ok $? "delays grow"
is "$(metric tenant_gateway_restarts_total)" 3 "tenant_gateway_restarts_total is 3"
is "$(metric tenant_gateway_up)" 1 "tenant_gateway_up is 1"
tpid=$(ti_pid_below "$upid")
kill -TERM "$tpid"
reap_bounded "$upid"
is "$?" 0 "SIGTERM after recovery: exit 0"
ok_cmd "the gateway ignored SIGTERM and got SIGKILL at the stop timeout" \
	grep -q "sending SIGKILL" "$log"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

# ---- crash loop: give up with the child's code ----
count=$TI_TMP/starts2
export TENANT_MAX_RESTARTS=2
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --exit-after 0 --exit-code 7 --count $count"
log=$TI_TMP/loop.log
start=$SECONDS
run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"
wait_pid_exit "$upid" 20
ok $? "a crash loop ends tenant-init"
reap_bounded "$upid"
is "$?" 7 "exit code is the child's (7)"
is "$(wc -l <"$count")" 3 "TENANT_MAX_RESTARTS=2: given up after three starts"
ok_cmd "the log says crash loop" grep -q "crash loop" "$log"
ok_cmd "the gateway reached the crashloop state" \
	grep -q "gateway: backoff -> crashloop\|gateway: starting -> crashloop" "$log"
diag "crash loop took $((SECONDS - start)) s"

# ---- hung gateway: liveness failures -> restart, though it exits 0 ----
count=$TI_TMP/starts3
export TENANT_MAX_RESTARTS=10
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --hang-after 1500 --only-starts 1 --count $count"
log=$TI_TMP/hang.log
run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "ready before it hangs" wait_until 10 readyz_has '"ready":true'
hung_at=$SECONDS
ok_cmd "/readyz reports gateway-down while it does not answer" \
	wait_until 10 readyz_has gateway-down
is "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" 200 \
	"/healthz stays 200: the restart is within budget"
ok_cmd "restarted after the liveness failures" wait_until 25 lines "$count" 2
diag "hung -> restarted in $((SECONDS - hung_at)) s (6 failed rounds of 2 s)"
ok_cmd "the log names the wedge" grep -q "not answering its liveness probe" "$log"
ok_cmd "its SIGTERM exit (code 0) still counted as a failure" \
	grep -q "gateway: restarting in" "$log"
ok_cmd "ready again after the restart" wait_until 10 readyz_has '"ready":true'
tpid=$(ti_pid_below "$upid")
kill -TERM "$tpid"
wait_pid_exit "$upid" 10
ok $? "stops on SIGTERM"
reap_bounded "$upid"
is "$?" 0 "exit 0"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

diag_logs_if_failed "$TI_TMP"/*.log
done_testing
