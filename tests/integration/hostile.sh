#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile clients against the health server while a fresh client keeps
# asking /healthz: a connection flood, slowloris clients, 1 MiB headers,
# garbage and a request flood, each from its own loopback address (the
# orchestrator is not the attacker). Then the security review's case: 320
# slowloris connections from 40 loopback addresses, a byte every 2 s each,
# which held every slot of libmicrohttpd's server for good. Every fresh
# /healthz must answer 200 well under a second, and PID 1 must come out of
# it unharmed.
#
# The attackers share the test machine's two cores with PID 1, which real
# remote attackers do not: the floods are paced (about a thousand
# connections a second each) so that they measure the server, not the
# scheduler. It runs in a network namespace of its own, so the kernel's
# listen-queue counters are the test's alone.
TI_NETNS=1 source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not available (needs root)"
command -v curl >/dev/null || skip_all "curl not installed"

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
export TENANT_GATEWAY_PORT=$gw TENANT_HEALTH_LISTEN=0.0.0.0:$hp
export OPENCLAW_STATE_DIR=$TI_TMP/data
export TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT"
mkdir -p "$OPENCLAW_STATE_DIR"

is_ready() {
	curl -s -m 2 "$base/readyz" | grep -q '"ready":true'
}

rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

cat >"$TI_TMP/attack.py" <<'PY'
# attack.py MODE SOURCE_IP PORT SECONDS READY_FILE
import os, random, socket, sys, threading, time
mode, src, port, secs, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
end = time.monotonic() + secs
stats = {"opened": 0, "refused": 0, "replies": {}}

def conn():
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(3)
    s.connect(("127.0.0.1", port))
    stats["opened"] += 1
    return s

def mark():
    open(ready, "w").close()

def flood():
    held = []
    while time.monotonic() < end:
        try:
            held.append(conn())
        except OSError:
            stats["refused"] += 1
        if len(held) >= 300:
            mark()
            for s in held:
                s.close()
            held = []
            time.sleep(0.2)
    mark()

def slowloris():
    socks = []
    for _ in range(20):
        try:
            s = conn()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            stats["refused"] += 1
    mark()
    while time.monotonic() < end:
        for s in socks:
            try:
                s.sendall(b"a")
            except OSError:
                pass
        time.sleep(0.5)

def bigheader():
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    while time.monotonic() < end:
        try:
            s = conn()
            try:
                s.sendall(big)
            except OSError:
                pass  # the server hung up mid-header
            line = s.recv(64).split(b"\r\n")[0].decode(errors="replace")
            key = line or "closed"
            stats["replies"][key] = stats["replies"].get(key, 0) + 1
            s.close()
        except OSError as e:
            stats["replies"][type(e).__name__] = stats["replies"].get(type(e).__name__, 0) + 1
        mark()
        time.sleep(0.02)

def garbage():
    while time.monotonic() < end:
        try:
            s = conn()
            s.sendall(os.urandom(random.randint(1, 8192)))
            s.close()
        except OSError:
            pass
        mark()
        time.sleep(0.001)

def reqflood():
    def one():
        while time.monotonic() < end:
            try:
                s = conn()
                for _ in range(50):
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not s.recv(65536):
                        break
                s.close()
            except OSError:
                pass
    ts = [threading.Thread(target=one) for _ in range(4)]
    for t in ts:
        t.start()
    mark()
    for t in ts:
        t.join()

{"flood": flood, "slowloris": slowloris, "bigheader": bigheader,
 "garbage": garbage, "reqflood": reqflood}[mode]()
print(mode, stats, flush=True)
PY

cat >"$TI_TMP/slowloris.py" <<'PY'
# slowloris.py PORT FIRST_HOST NADDR PER_ADDR SECONDS PROGRESS_FILE
# NADDR*PER_ADDR connections from 127.0.0.FIRST_HOST.., each trickling one
# header byte every 2 s; a connection the server closes is opened again
# at the next round, as a real attacker would. PROGRESS_FILE gets the
# number of rounds done.
import os, socket, sys, time
port, first, naddr, per = (int(a) for a in sys.argv[1:5])
secs, progress = float(sys.argv[5]), sys.argv[6]
end = time.monotonic() + secs
stats = {"opened": 0, "closed_by_server": 0, "open_failed": 0,
         "alive_min": None, "alive_max": 0, "rounds": 0}

def opened(src):
    try:
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(3)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.setblocking(False)
        stats["opened"] += 1
        return s
    except OSError:
        stats["open_failed"] += 1
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
while time.monotonic() < end:
    alive = 0
    for i, s in enumerate(socks):
        if dead(s):
            if s is not None:
                s.close()
                stats["closed_by_server"] += 1
            socks[i] = opened(srcs[i])
        else:
            alive += 1
    stats["alive_max"] = max(stats["alive_max"], alive)
    if stats["alive_min"] is None or alive < stats["alive_min"]:
        stats["alive_min"] = alive
    stats["rounds"] += 1
    with open(progress + ".tmp", "w") as f:
        f.write("%d\n" % stats["rounds"])
    os.replace(progress + ".tmp", progress)
    time.sleep(2)
print("slowloris-40", stats, flush=True)
PY

cat >"$TI_TMP/fresh.py" <<'PY'
# fresh.py PORT N: N fresh connections asking /healthz; latencies in ms.
import http.client, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
lat, bad = [], []
for i in range(n):
    t = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        if r.status != 200:
            bad.append(r.status)
        c.close()
    except Exception as e:
        bad.append(type(e).__name__)
    lat.append((time.monotonic() - t) * 1000)
    time.sleep(0.1)
lat.sort()
print("n=%d p50=%.1f p90=%.1f max=%.1f bad=%s" % (n, lat[n // 2], lat[int(n * 0.9)], lat[-1], bad))
sys.exit(0 if not bad else 1)
PY

log=$TI_TMP/ti.log
run_pid1 >"$log" 2>&1 &
upid=$!
bg_track "$upid"
ok_cmd "ready" wait_until 10 is_ready
tpid=$(ti_pid_below "$upid")
rss0=$(rss_kb "$tpid")
out=$(python3 "$TI_TMP/fresh.py" "$hp" 20)
ok $? "baseline: 20 fresh /healthz all 200"
diag "baseline latency (ms): $out"

duration=10
modes=(flood slowloris bigheader garbage reqflood)
i=2
for m in "${modes[@]}"; do
	python3 "$TI_TMP/attack.py" "$m" "127.0.0.$i" "$hp" "$duration" \
		"$TI_TMP/ready.$m" >"$TI_TMP/attack.$m" 2>&1 &
	bg_track $!
	pids+=($!)
	i=$((i + 1))
done
all_attacking() {
	local m
	for m in "${modes[@]}"; do
		[ -e "$TI_TMP/ready.$m" ] || return 1
	done
}
ok_cmd "every attacker is under way" wait_until 10 all_attacking
out=$(python3 "$TI_TMP/fresh.py" "$hp" 40)
rc=$?
diag "under attack (ms): $out"
ok $rc "under attack: 40 fresh /healthz all 200"
max=$(sed -n 's/.*max=\([0-9.]*\).*/\1/p' <<<"$out")
awk -v m="$max" 'BEGIN {exit !(m < 500)}'
ok $? "every answer well under a second (max ${max} ms < 500 ms)"
for p in "${pids[@]}"; do
	wait "$p"
done
for m in "${modes[@]}"; do
	diag "$(cat "$TI_TMP/attack.$m")"
done
! grep -q "HTTP/1.1 200" "$TI_TMP/attack.bigheader"
ok $? "a 1 MiB header is never served"
ok_cmd "the 1 MiB header got 431 at least once" \
	grep -q "431" "$TI_TMP/attack.bigheader"
# The review's case: 320 slowloris connections from 40 addresses, more
# than the 256 slots, at the per-address limit each. The fresh client
# (127.0.0.1) starts once the attacker has gone round twice, so the slots
# have been full and peers have met their deadlines.
rounds_at_least() {
	[ "$(cat "$TI_TMP/progress.wide" 2>/dev/null || echo 0)" -ge "$1" ]
}
python3 "$TI_TMP/slowloris.py" "$hp" 10 40 8 14 "$TI_TMP/progress.wide" \
	>"$TI_TMP/attack.wide" 2>&1 &
wide=$!
bg_track "$wide"
ok_cmd "320 slowloris connections from 40 addresses are under way" \
	wait_until 20 rounds_at_least 3
out=$(python3 "$TI_TMP/fresh.py" "$hp" 40)
rc=$?
diag "under 320 slowloris connections (ms): $out"
ok $rc "slowloris x320: 40 fresh /healthz all 200"
max=$(sed -n 's/.*max=\([0-9.]*\).*/\1/p' <<<"$out")
awk -v m="$max" 'BEGIN {exit !(m < 500)}'
ok $? "slowloris x320: every answer well under a second (max ${max} ms < 500 ms)"
reap_bounded "$wide" 30
diag "$(cat "$TI_TMP/attack.wide")"
ok_cmd "the slowloris peers were cut off and came back" \
	grep -qE "'closed_by_server': [1-9]" "$TI_TMP/attack.wide"

overflows=$(nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/ {print $2}')
diag "listen queue overflows in this namespace: ${overflows:-?}"
kill -0 "$tpid"
ok $? "PID 1 survived"
ok_cmd "still ready" is_ready
is "$(awk '/^Threads:/ {print $2}' "/proc/$tpid/status")" 1 \
	"still one thread"
rss1=$(rss_kb "$tpid")
diag "PID 1 RSS: ${rss0} kB before, ${rss1} kB after"
if [ -z "${TI_ASAN:-}" ]; then
	[ $((rss1 - rss0)) -lt 16384 ]
	ok $? "memory stayed bounded (+$((rss1 - rss0)) kB)"
else
	skip "RSS bound not meaningful under ASan"
fi
kill -TERM "$tpid"
reap_bounded "$upid"
is "$?" 0 "SIGTERM: exit 0"
no_sanitizer_report "$log"
ok $? "no sanitizer report"

diag_logs_if_failed "$TI_TMP"/*.log
done_testing
