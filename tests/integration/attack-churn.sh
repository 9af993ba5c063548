#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sandboxed gateway (nobody) makes the root sync agent's inotify work
# for it (issue 18):
#
#   watches   it makes 300 directories with TENANT_SYNC_MAX_WATCHES=100:
#             the agent holds at most 100 watches (each is charged to
#             root, node-wide where the container's root is the host's),
#             and a file written into a directory without a watch is
#             still synced, by the periodic rescan, as is its deletion
#   rename    it renames two names into each other as fast as it can, in
#             a tree of 6,000 files: the agent must not burn a core on
#             rescans (an unfixed agent did: 37 s of CPU in 40 s), and
#             files written meanwhile still reach storage
source "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (the gateway runs as nobody)"
have_unshare_pid || skip_all "unshare --pid not available"
getent passwd nobody >/dev/null || skip_all "no 'nobody' user"

chmod 755 "$TI_TMP"
cp "$TI_HELPERS/fakegw" "$TI_TMP/fakegw"
OUT=$TI_TMP/out
mkdir -p "$OUT"
chmod 1777 "$OUT"

cat >"$TI_TMP/renamer.py" <<'PY'
# renamer.py DIR SECONDS GO: once the file GO exists (at most 60 s),
# rename DIR/a <-> DIR/b as fast as possible for SECONDS.
import os, sys, time
d, secs, go = sys.argv[1], float(sys.argv[2]), sys.argv[3]
a, b = os.path.join(d, "a"), os.path.join(d, "b")
open(a, "w").write("x")
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.05)
end = time.monotonic() + secs
n = 0
while time.monotonic() < end:
    for _ in range(1000):
        os.rename(a, b)
        os.rename(b, a)
    n += 2000
print("renames=%d" % n)
PY

cat >"$TI_TMP/gw.sh" <<EOF
#!/bin/sh
A=\$1 D=\$2 P=\$3
cd "\$D" || exit 1
case "\$A" in
watches)
	i=0
	while [ \$i -lt 300 ]; do mkdir "dir\$i" || break; i=\$((i + 1)); done
	echo "made=\$i"
	;;
rename)
	mkdir churn && python3 $TI_TMP/renamer.py churn 15 $OUT/go
	;;
esac >"$OUT/\$A.out" 2>&1
touch "$OUT/\$A.done"
exec $TI_TMP/fakegw --port "\$P"
EOF
chmod 755 "$TI_TMP/gw.sh"

# start NAME ATTACK DATA REMOTE [VAR=VALUE...]: PID 1, gateway mode.
start() {
	local name=$1 attack=$2 data=$3 remote=$4
	shift 4
	rm -f "$OUT/$attack.done"
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$data" \
		TENANT_SYNC_URL="file://$remote" TENANT_GATEWAY_USER=nobody \
		TENANT_GATEWAY_PORT="$(free_port)" \
		TENANT_HEALTH_LISTEN="127.0.0.1:$(free_port)" \
		TENANT_GATEWAY_CMD="$TI_TMP/gw.sh $attack $data \$TENANT_GATEWAY_PORT" \
		TENANT_SYNC_DEBOUNCE=200ms TENANT_FLUSH_TIMEOUT=10s \
		SANDBOX_SLEEP_AFTER=never "$@" \
		unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" \
		>"$TI_TMP/$name.log" 2>&1 &
	UPID=$!
	bg_track "$UPID"
	wait_until 10 ti_pid_below "$UPID" >/dev/null
	TPID=$(ti_pid_below "$UPID")
}

stop() {
	kill -TERM "$TPID"
	reap_bounded "$UPID" 60
	RC=$?
}

agent_pid() {
	pgrep -P "$TPID" -x tenant-sync | head -1
}

# Watches held by pid's inotify descriptors.
watches() {
	local n=0 f c
	for f in /proc/"$1"/fdinfo/*; do
		# (an fd closed meanwhile has no fdinfo any more)
		c=$(grep -c '^inotify wd:' "$f" 2>/dev/null)
		n=$((n + ${c:-0}))
	done
	echo "$n"
}

# CPU seconds (user + system) of pid so far.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' \
		"/proc/$1/stat"
}

# ---- watches: more directories than the cap ----
D=$TI_TMP/d1 R=$TI_TMP/r1
mkdir -p "$D" "$R"
start watches watches "$D" "$R" TENANT_SYNC_MAX_WATCHES=100 \
	TENANT_SYNC_RESCAN_INTERVAL=2s
wait_until 30 test -e "$OUT/watches.done"
ok $? "watches: the gateway made its directories"
diag "gateway: $(tr '\n' ' ' <"$OUT/watches.out")"
AP=$(agent_pid)
wait_until 15 grep -q "TENANT_SYNC_MAX_WATCHES=100 reached" "$TI_TMP/watches.log"
ok $? "watches: the log says the cap was reached"
n=$(watches "$AP")
[ "$n" -le 100 ] && [ "$n" -ge 50 ]
ok $? "watches: the agent holds at most 100 watches ($n)"
ls "$D" | grep -c '^dir' >"$TI_TMP/ndirs"
# Which directories have no watch is the agent's business: write into
# every tenth, so that most land in one without.
for i in $(seq 0 10 299); do echo "in $i" >"$D/dir$i/f.txt"; done
all_up() {
	local i
	for i in $(seq 0 10 299); do
		[ -f "$R/openclaw/dir$i/f.txt" ] || return 1
	done
}
wait_until 20 all_up
ok $? "watches: files in directories with and without a watch are synced"
for i in $(seq 0 10 299); do rm "$D/dir$i/f.txt"; done
none_up() {
	! find "$R/openclaw" -name f.txt | grep -q .
}
wait_until 20 none_up
ok $? "watches: and so are their deletions"
n=$(watches "$AP")
[ "$n" -le 100 ]
ok $? "watches: still at most 100 watches after the rescans ($n)"
stop
is "$RC" 0 "watches: clean stop"

# ---- rename: a rename loop in a large tree ----
D=$TI_TMP/d2 R=$TI_TMP/r2
mkdir -p "$D" "$R"
python3 - "$D" <<'PY'
import os, sys
for i in range(600):
    d = os.path.join(sys.argv[1], "t%03d" % i)
    os.makedirs(d)
    for j in range(10):
        open(os.path.join(d, "f%d" % j), "w").write("%d/%d" % (i, j))
PY
start rename rename "$D" "$R"
wait_until 30 grep -q "sync: watching" "$TI_TMP/rename.log"
ok $? "rename: the agent watches the tree"
wait_until 30 test -f "$R/openclaw/t599/f9"
ok $? "rename: the tree is synced"
AP=$(agent_pid)
wait_until 10 test -e "$D/churn/a" -o -e "$D/churn/b"
touch "$OUT/go"
c0=$(cpu_s "$AP")
t0=$SECONDS
echo "written during the storm" >"$D/t000/storm.txt"
wait_until 40 test -e "$OUT/rename.done"
ok $? "rename: the storm ran"
c1=$(cpu_s "$AP")
t1=$SECONDS
diag "gateway: $(tr '\n' ' ' <"$OUT/rename.out")"
diag "agent CPU: $(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}') s in $((t1 - t0)) s"
if [ -z "${TI_ASAN:-}" ]; then
	awk -v a="$c0" -v b="$c1" -v t=$((t1 - t0)) \
		'BEGIN {exit !(b - a < 0.2 * t)}'
	ok $? "rename: the agent used less than 20% of a core during the storm"
else
	skip "CPU bound not meaningful under ASan"
fi
wait_until 40 test -f "$R/openclaw/t000/storm.txt"
ok $? "rename: a file written during the storm reached storage"
stop
is "$RC" 0 "rename: clean stop"

ok_cmd "no sanitizer report" bash -c \
	"! grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $TI_TMP/*.log"
diag_logs_if_failed "$TI_TMP"/*.log
done_testing
