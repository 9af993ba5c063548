#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Each init runs as PID 1 of new PID and network namespaces.
#
# Init benchmark: idle RSS as PID 1 supervising `sleep`, and the time to
# reap 10,000 orphaned zombies, for tenant-init beside tini, dumb-init and
# catatonit, measured the same way in the same run.
#
# Output: a markdown section on stdout, and one machine-readable line per
# figure ("BENCH <name> <value> <unit>") on fd 3 when it is open.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
TI=${TI_BIN:-$top/build/tenant-init}
ORPHANS=$top/build/tests/helpers/orphans
RUNS=${BENCH_RUNS:-5}
[ -n "${BENCH_QUICK:-}" ] && RUNS=${BENCH_RUNS:-2}
exec 4>/dev/null
{ true >&3; } 2>/dev/null && exec 4>&3

emit() { echo "BENCH $*" >&4; }

declare -A CMD=(
	[tenant-init]="$TI --"
	[tini]="$(command -v tini) --"
	[dumb-init]="$(command -v dumb-init)"
	[catatonit]="$(command -v catatonit) --"
)
ORDER=(tenant-init tini dumb-init catatonit)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# rss_of NAME: start the init as PID 1 over `sleep 1000`, read its memory
# once the sleep is running ("VmRSS RssAnon Pss", KiB), stop it.
rss_of() {
	local name=$1 ns pid child rss anon pss
	# shellcheck disable=SC2086
	SANDBOX_SLEEP_AFTER=never TENANT_HEALTH_LISTEN=127.0.0.1:$port \
		unshare --pid --net --fork --mount-proc --kill-child -- ${CMD[$name]} sleep 1000 \
		>/dev/null 2>&1 &
	ns=$!
	for _ in $(seq 500); do
		pid=$(cat /proc/$ns/task/$ns/children 2>/dev/null | awk '{print $1}')
		[ -n "$pid" ] && child=$(cat /proc/$pid/task/$pid/children 2>/dev/null) &&
			[ -n "$child" ] && grep -q sleep /proc/${child%% *}/comm 2>/dev/null && break
		sleep 0.01
	done
	sleep 0.2 # settled: past the boot
	rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null)
	anon=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null)
	pss=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup 2>/dev/null)
	kill -KILL $ns 2>/dev/null
	wait $ns 2>/dev/null
	echo "${rss:-0} ${anon:-0} ${pss:-0}"
}

# reap_of NAME: "WALL POST": wall ms for 10,000 orphans to be created and
# all reaped, and ms from the last one created until none was left (the
# orphans helper's own figure).
reap_of() {
	local name=$1 t0 t1 out
	t0=$(date +%s%N)
	# shellcheck disable=SC2086
	out=$(SANDBOX_SLEEP_AFTER=never TENANT_HEALTH_LISTEN=127.0.0.1:$port \
		unshare --pid --net --fork --mount-proc --kill-child -- \
		${CMD[$name]} "$ORPHANS" 10000 120 2>/dev/null)
	t1=$(date +%s%N)
	if grep -q reaped-all <<<"$out"; then
		echo "$(((t1 - t0) / 1000000)) $(sed -n 's/^reaped-all after \([0-9]*\) ms/\1/p' <<<"$out")"
	else
		echo "fail fail"
	fi
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

col() { awk -v c="$1" '{print $c}'; }

echo "### 5. Init: idle RSS and zombie reaping (median of $RUNS)"
echo
echo "Each init runs as PID 1 of new PID and network namespaces (\`unshare --pid"
echo "--net --fork --mount-proc\`), supervising \`sleep 1000\` (tenant-init in tini"
echo "mode, sync off); memory read 0.2 s after the sleep has started. Reaping:"
echo "tests/helpers/orphans makes 10,000 orphaned zombies under the init."
echo
echo "| init | idle VmRSS as PID 1 (KiB) | anonymous (KiB) | PSS (KiB) | 10,000 orphans created + reaped (ms) | last zombie reaped after the last was created (ms) |"
echo "|---|---|---|---|---|---|"
for name in "${ORDER[@]}"; do
	bin=${CMD[$name]%% *}
	if [ ! -x "$bin" ]; then
		echo "| $name | not installed | | | | |"
		continue
	fi
	m=$(for _ in $(seq "$RUNS"); do rss_of "$name"; done)
	r=$(for _ in $(seq "$RUNS"); do reap_of "$name"; done)
	rss=$(col 1 <<<"$m" | median)
	anon=$(col 2 <<<"$m" | median)
	pss=$(col 3 <<<"$m" | median)
	reap=$(col 1 <<<"$r" | median)
	post=$(col 2 <<<"$r" | median)
	echo "| $name | $rss | $anon | $pss | $reap | $post |"
	emit "init.idle_rss_kib.$name $rss KiB"
	emit "init.idle_anon_kib.$name $anon KiB"
	emit "init.idle_pss_kib.$name $pss KiB"
	emit "init.reap_10k_ms.$name $reap ms"
	emit "init.reap_10k_after_last_ms.$name $post ms"
done
echo
