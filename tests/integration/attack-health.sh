#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The security review's slowloris, performed from where the real attacker
# sits: the sandboxed gateway (an AI agent's shell tools), as nobody, under
# the built-in policy, with tenant-init as real PID 1. The "gateway" is a
# python3 script that opens 320 connections to the health server from 40
# loopback addresses (8 each: the per-address limit; 64 more than the
# server's slots), sends a request head one byte every 2 s, and reopens
# every connection the server closes. Meanwhile the orchestrator's side,
# from another loopback address and outside the sandbox, asks /healthz:
# every answer must be a 200 within 1 s, and `tenant-init health --live`
# (the Docker HEALTHCHECK) must exit 0.
#
# Against libmicrohttpd (main before the bounded responder) this fails:
# a byte every 2 s resets its 5 s inactivity timeout, so the attacker holds
# all 256 connections and every fresh client is closed unanswered.
#
# Its own network namespace: the attacker's 320 sockets and the probes'
# TIME_WAITs are this test's alone.
TI_NETNS=1 source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not available (needs root)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (the gateway runs as nobody)"
getent passwd nobody >/dev/null || skip_all "no 'nobody' user"
command -v python3 >/dev/null || skip_all "python3 not installed"
command -v curl >/dev/null || skip_all "curl not installed"

# The gateway runs as nobody: it must be able to enter $TI_TMP, read the
# script and use it as its working directory (tests/integration/policy.sh).
chmod 755 "$TI_TMP"
cd "$TI_TMP" || exit 1

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
export TENANT_GATEWAY_PORT=$gw TENANT_HEALTH_LISTEN=0.0.0.0:$hp
export OPENCLAW_STATE_DIR=$TI_TMP/data
export TENANT_GATEWAY_USER=nobody
mkdir -p "$OPENCLAW_STATE_DIR"

cat >"$TI_TMP/attacker.py" <<'PY'
# attacker.py PORT FIRST_HOST NADDR PER_ADDR: NADDR*PER_ADDR connections
# from 127.0.0.FIRST_HOST.., each sending its request head one byte every
# 2 s; one the server closes is opened again at the next round. Runs until
# killed (it is the gateway: exiting would end the tenant). One progress
# line per round on stdout, which tenant-init passes through.
import socket, sys, time
port, first, naddr, per = (int(a) for a in sys.argv[1:5])
total = {"opened": 0, "closed_by_server": 0, "open_failed": 0}

def opened(src):
    try:
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(3)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.setblocking(False)
        total["opened"] += 1
        return s
    except OSError:
        total["open_failed"] += 1
        return None

def dead(s):
    if s is None:
        return True
    try:
        s.recv(4096)  # EOF, or an answer (a 408): either way, over
        return True
    except BlockingIOError:
        pass
    except OSError:
        return True
    try:
        s.send(b"a")
    except BlockingIOError:
        pass
    except OSError:
        return True
    return False

srcs = ["127.0.0.%d" % (first + i // per) for i in range(naddr * per)]
socks = [opened(src) for src in srcs]
rounds = 0
while True:
    alive = 0
    for i, s in enumerate(socks):
        if dead(s):
            if s is not None:
                s.close()
                total["closed_by_server"] += 1
            socks[i] = opened(srcs[i])
        else:
            alive += 1
    rounds += 1
    print("attacker: round %d alive %d opened %d closed_by_server %d "
          "open_failed %d" % (rounds, alive, total["opened"],
                              total["closed_by_server"],
                              total["open_failed"]), flush=True)
    time.sleep(2)
PY
chmod 644 "$TI_TMP/attacker.py"
export TENANT_GATEWAY_CMD="python3 $TI_TMP/attacker.py $hp 10 40 8"

log=$TI_TMP/ti.log
run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"

# attacker_rounds: the last round the attacker reported (0 before any).
attacker_rounds() {
	sed -n 's/^attacker: round \([0-9]*\) .*/\1/p' "$log" | tail -1
}
rounds_at_least() {
	[ "$(attacker_rounds)" -ge "$1" ] 2>/dev/null
}
ok_cmd "the gateway (the attacker) is running as nobody" \
	wait_until 15 rounds_at_least 1
tpid=$(ti_pid_below "$upid")
apid=$(pgrep -f "attacker.py $hp" | head -1)
is "$(ps -o user= -p "${apid:-0}" 2>/dev/null | tr -d ' ')" nobody \
	"the attacker runs as nobody"
# Three rounds: every slot has been full, and peers have met deadlines.
ok_cmd "the attack has gone round three times" wait_until 20 rounds_at_least 3
diag "$(grep '^attacker: round' "$log" | tail -1)"

# Fresh /healthz from 127.0.0.1, each bounded by 1 s (curl -m 1), paced at
# five a second while the attacker goes round three more times (6 s of
# attack: every connection it holds meets a deadline and comes back).
bad=0
n=0
slowest=0
deadline=$((SECONDS + 30))
until rounds_at_least 6 && [ "$n" -ge 10 ]; do
	[ "$SECONDS" -lt "$deadline" ] || break
	res=$(curl -s -o /dev/null -m 1 -w '%{http_code} %{time_total}' \
		"$base/healthz")
	code=${res% *}
	t=${res#* }
	n=$((n + 1))
	if [ "$code" != 200 ]; then
		bad=$((bad + 1))
		diag "fresh /healthz: ${code:-none} after ${t:-?} s"
	fi
	slowest=$(awk -v a="$slowest" -v b="${t:-1}" 'BEGIN {print (b > a) ? b : a}')
	sleep 0.2 # pacing, not synchronisation
done
ok_cmd "$n fresh /healthz over three attack rounds" rounds_at_least 6
is "$bad" 0 "under attack from the gateway: $n fresh /healthz all 200 within 1 s"
diag "slowest fresh /healthz: ${slowest} s"
"$TI_BIN" health --live --url "$base" >"$TI_TMP/health.out" 2>&1
is "$?" 0 "tenant-init health --live exits 0 under attack"
diag "tenant-init health --live: $(head -1 "$TI_TMP/health.out")"
last=$(grep '^attacker: round' "$log" | tail -1)
diag "$last"
opened=$(sed -n 's/.* opened \([0-9]*\) .*/\1/p' <<<"$last")
[ "${opened:-0}" -ge 320 ]
ok $? "the attacker really had its 320 connections (opened ${opened:-0})"
ok_cmd "the attacker was still at it afterwards" kill -0 "${apid:-0}"

kill -0 "$tpid"
ok $? "PID 1 survived"
kill -TERM "$tpid"
reap_bounded "$upid"
is "$?" 0 "SIGTERM: exit 0"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

diag_logs_if_failed "$log"
done_testing
