#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Sleep after idle, inside a network namespace of its own (so nothing else
# on the machine touches the gateway port): with no client tenant-init
# exits 0 after SANDBOX_SLEEP_AFTER (its own probes every 2 s do not count);
# a client sending bytes every second keeps it awake; a client holding a
# silent connection does not; 'never' never sleeps.
TI_NETNS=1 source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not available (needs root)"
command -v curl >/dev/null || skip_all "curl not installed"

# The namespace is ours: the contract's default ports.
unset TENANT_GATEWAY_PORT TENANT_HEALTH_LISTEN
base=http://127.0.0.1:18790
export OPENCLAW_STATE_DIR=$TI_TMP/data
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --ready-after 1000"
mkdir -p "$OPENCLAW_STATE_DIR"

is_ready() {
	curl -s -m 2 "$base/readyz" | grep -q '"ready":true'
}

# in_range X LO HI
in_range() {
	awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN {exit !(x >= lo && x <= hi)}'
}

now() {
	date +%s.%N
}

elapsed() {
	awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'
}

# client MODE SECONDS: a TCP client of the gateway port. "chatty" sends a
# request every second, "silent" connects and says nothing.
client() {
	python3 - "$@" <<'PY'
import socket, sys, time
mode, secs = sys.argv[1], float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", 18789), timeout=5)
print("connected", flush=True)
end = time.monotonic() + secs
while True:
    if mode == "chatty":
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: gw\r\n\r\n")
        s.recv(4096)
    # Exit right after the last exchange: the test dates the quiet from it.
    if time.monotonic() + 1 > end:
        break
    time.sleep(1)
print("done", flush=True)
PY
}

# start LIMIT: tenant-init as PID 1; sets upid and log, waits for ready.
start() {
	export SANDBOX_SLEEP_AFTER=$1
	log=$TI_TMP/sleep-$1-$RANDOM.log
	run_pid1 >"$log" 2>&1 &
	upid=$!
	bg_track "$upid"
	wait_until 10 is_ready
	ok $? "SANDBOX_SLEEP_AFTER=$1: the gateway is ready"
	ready_at=$(now)
}

# ---- no client: sleeps after the limit, exit 0 ----
start 3s
sleep_in=$(metric tenant_sleep_in_seconds)
in_range "$sleep_in" 0.01 3
ok $? "tenant_sleep_in_seconds counts down ($sleep_in)"
wait_pid_exit "$upid" 10
ok $? "no client: tenant-init exits"
took=$(elapsed "$ready_at")
reap_bounded "$upid"
is "$?" 0 "exit 0"
in_range "$took" 2.8 6
ok $? "after ~3 s idle from ready (${took} s), despite the 2 s probes"
ok_cmd "the log says why" grep -q "sleeping after 3s idle" "$log"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

# ---- a client sending bytes every second keeps it awake ----
start 3s
client chatty 8 >"$TI_TMP/chatty.out"
ok $? "the chatty client ran for 8 s"
ok_cmd "it was connected" grep -q connected "$TI_TMP/chatty.out"
kill -0 "$upid" 2>/dev/null
ok $? "awake after 8 s of activity (limit 3 s)"
idle=$(metric tenant_idle_seconds)
in_range "$idle" 0 2.5
ok $? "tenant_idle_seconds was reset by the traffic ($idle)"
quiet_at=$(now)
wait_pid_exit "$upid" 10
ok $? "sleeps once the client is gone"
took=$(elapsed "$quiet_at")
in_range "$took" 2.5 6
ok $? "~3 s after the last bytes (${took} s)"
reap_bounded "$upid"
is "$?" 0 "exit 0"

# ---- a silent open connection does not keep it awake ----
start 3s
client silent 30 >"$TI_TMP/silent.out" &
cpid=$!
bg_track "$cpid"
ok_cmd "the silent client connected" wait_until 5 grep -q connected \
	"$TI_TMP/silent.out"
wait_pid_exit "$upid" 10
ok $? "sleeps with a silent connection open"
took=$(elapsed "$ready_at")
kill -0 "$cpid" 2>/dev/null
ok $? "the client still held its connection when tenant-init slept"
in_range "$took" 2.8 7
ok $? "within the limit plus one listing (${took} s)"
reap_bounded "$upid"
is "$?" 0 "exit 0"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null

# ---- never never sleeps ----
start never
is "$(metric tenant_sleep_in_seconds)" "-1.000" "tenant_sleep_in_seconds is -1"
wait_pid_exit "$upid" 7
ok $((!$?)) "still awake 7 s after ready with no client"
idle=$(metric tenant_idle_seconds)
in_range "$idle" 5 30
ok $? "tenant_idle_seconds still counts ($idle)"
kill -TERM "$(ti_pid_below "$upid")"
reap_bounded "$upid"
is "$?" 0 "SIGTERM: exit 0"
ok_cmd "no sleeping message" bash -c "! grep -q 'sleeping after' '$log'"

diag_logs_if_failed "$TI_TMP"/*.log
done_testing
