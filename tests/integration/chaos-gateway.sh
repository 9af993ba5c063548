#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Chaos: kill -9 of the gateway, 20 times in a row (gateway mode, the fake
# gateway). Each kill is followed by a restart; the observed delay from the
# kill to the next start is at least the 1 s minimum, grows (1 s, then
# 2 s), and stays at the cap TENANT_RESTART_BACKOFF_MAX=2s (plus its 10%
# jitter), so 20 kills take ~45 s instead of the ~15 min of the default
# 60 s cap. TENANT_MAX_RESTARTS=30 keeps it out of the crash-loop give-up;
# /healthz stays 200 throughout, and afterwards the gateway is ready,
# tenant_gateway_restarts_total says 20, and SIGTERM is a clean exit 0.
#
# The killer is a Python loop that reads fakegw's start records (pid and
# CLOCK_MONOTONIC ms) and notes its own kill times on the same clock.
source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not available (needs root)"
command -v curl >/dev/null || skip_all "curl not installed"

KILLS=20
gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
export TENANT_GATEWAY_PORT=$gw TENANT_HEALTH_LISTEN=127.0.0.1:$hp
export OPENCLAW_STATE_DIR=$TI_TMP/data
mkdir -p "$OPENCLAW_STATE_DIR"
count=$TI_TMP/starts
kills=$TI_TMP/kills
log=$TI_TMP/ti.log
: >"$count"
export TENANT_RESTART=on-failure TENANT_MAX_RESTARTS=30 \
	TENANT_RESTART_BACKOFF_MAX=2s TENANT_STOP_TIMEOUT=2s
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --count $count"

lines() {
	[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "the gateway started" wait_until 20 lines "$count" 1

# /healthz sampled all along: a restart within the budget is still live.
(
	while :; do
		curl -s -o /dev/null -m 2 -w '%{http_code}\n' "$base/healthz"
		sleep 0.2
	done
) >"$TI_TMP/healthz.codes" 2>/dev/null &
bg_track $!

# Kill every new start as soon as it is recorded (its process exists then;
# fakegw writes the record first thing in main). The record holds its pid
# inside the PID namespace: the host pid is the child of tenant-init whose
# NSpid ends with it. 90 s bounds the whole run.
tpid=$(ti_pid_below "$upid")
python3 - "$count" "$kills" "$KILLS" "$tpid" <<'PY'
import os, signal, sys, time
count, out, n, ti = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 90

def host_pid(nspid):
    try:
        kids = open("/proc/%s/task/%s/children" % (ti, ti)).read().split()
    except OSError:
        return None
    for k in kids:
        try:
            for line in open("/proc/%s/status" % k):
                if line.startswith("NSpid:") and line.split()[-1] == nspid:
                    return int(k)
        except OSError:
            pass
    return None

killed = 0
with open(out, "w") as f:
    while killed < n and time.monotonic() < deadline:
        starts = [l.split() for l in open(count) if l.strip()]
        if len(starts) > killed:
            pid = host_pid(starts[killed][1])
            if pid is None:
                time.sleep(0.002)  # forked, not yet listed: look again
                continue
            os.kill(pid, signal.SIGKILL)
            killed += 1
            f.write("%d %d\n" % (int(time.monotonic() * 1000), pid))
            f.flush()
        time.sleep(0.005)
PY
is "$(wc -l <"$kills")" "$KILLS" "$KILLS gateways killed with SIGKILL"
ok_cmd "restarted after the last kill too" wait_until 10 lines "$count" $((KILLS + 1))
is "$(awk '{print $2}' "$count" | sort -u | wc -l)" $((KILLS + 1)) \
	"$((KILLS + 1)) starts, each a new process"

# Delay i: from kill i to start i+1 (both CLOCK_MONOTONIC ms).
mapfile -t delays < <(awk 'NR == FNR {k[FNR] = $1; next}
	FNR > 1 {printf "%d\n", $1 - k[FNR - 1]}' "$kills" "$count")
diag "kill -> next start (ms): ${delays[*]}"
is "${#delays[@]}" "$KILLS" "a delay for every kill"
below=0 over=0
for d in "${delays[@]}"; do
	[ "$d" -lt 1000 ] && below=$((below + 1))
	# Cap 2 s + 10% jitter, plus scheduling slack on a busy machine.
	[ "$d" -gt 3200 ] && over=$((over + 1))
done
is "$below" 0 "no restart sooner than the 1 s minimum"
d0=${delays[0]:-0} d1=${delays[1]:-0}
ok $([ "$d0" -ge 1000 ] && [ "$d0" -lt 1900 ]; echo $?) \
	"first restart after ~1 s ($d0 ms)"
ok $([ "$d1" -ge 2000 ]; echo $?) \
	"second after >= 2 s ($d1 ms): the backoff doubled"
ok $([ "$d1" -gt "$d0" ]; echo $?) "delays grow"
capped=0
for d in "${delays[@]:1}"; do
	[ "$d" -ge 2000 ] && capped=$((capped + 1))
done
is "$capped" $((KILLS - 1)) "every later restart waits the full 2 s cap"
is "$over" 0 "... and not more: TENANT_RESTART_BACKOFF_MAX=2s holds"

ok_cmd "ready after the last restart" wait_until 15 readyz_has '"ready":true'
is "$(metric tenant_gateway_restarts_total)" "$KILLS" \
	"tenant_gateway_restarts_total is $KILLS"
is "$(metric tenant_gateway_up)" 1 "tenant_gateway_up is 1"
is "$(grep -cv '^200$' "$TI_TMP/healthz.codes")" 0 \
	"/healthz answered 200 throughout ($(wc -l <"$TI_TMP/healthz.codes") probes)"
ok $(! grep -q "crash loop" "$log"; echo $?) "no crash-loop give-up"
is "$(grep -c 'gateway: restarting in' "$log")" "$KILLS" \
	"the log announces each restart"
tpid=$(ti_pid_below "$upid")
kill -TERM "$tpid"
wait_pid_exit "$upid" 20
ok $? "SIGTERM stops it"
reap_bounded "$upid"
is "$?" 0 "clean exit 0"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

diag_logs_if_failed "$log"
done_testing
