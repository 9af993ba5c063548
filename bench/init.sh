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

# rss_of NAME: start the init as PID 1 over `sleep 1000`, read its VmRSS
# once the sleep is running, stop it.
rss_of() {
	local name=$1 ns pid child rss
	# shellcheck disable=SC2086
	SANDBOX_SLEEP_AFTER=never \
		unshare --pid --net --fork --mount-proc --kill-child -- ${CMD[$name]} sleep 1000 \
		>/dev/null 2>&1 &
	ns=$!
	for _ in $(seq 500); do
		pid=$(cat /proc/$ns/task/$ns/children 2>/dev/null | awk '{print $1}')
		[ -n "$pid" ] && child=$(cat /proc/$pid/task/$pid/children 2>/dev/null) &&
			[ -n "$child" ] && grep -q sleep /proc/${child%% *}/comm 2>/dev/null && break
		sleep 0.01
	done
	rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null)
	kill -KILL $ns 2>/dev/null
	wait $ns 2>/dev/null
	echo "${rss:-0}"
}

# reap_of NAME: wall ms for 10,000 orphans to be created and all reaped.
reap_of() {
	local name=$1 t0 t1 out
	t0=$(date +%s%N)
	# shellcheck disable=SC2086
	out=$(unshare --pid --net --fork --mount-proc --kill-child -- \
		${CMD[$name]} "$ORPHANS" 10000 120 2>/dev/null)
	t1=$(date +%s%N)
	if grep -q reaped-all <<<"$out"; then
		echo $(((t1 - t0) / 1000000))
	else
		echo "fail"
	fi
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "### Init: idle RSS and zombie reaping (median of $RUNS)"
echo
echo "| init | idle RSS as PID 1 (KiB) | 10,000 orphans created + reaped (ms) |"
echo "|---|---|---|"
for name in "${ORDER[@]}"; do
	bin=${CMD[$name]%% *}
	if [ ! -x "$bin" ]; then
		echo "| $name | not installed | |"
		continue
	fi
	rss=$(for _ in $(seq "$RUNS"); do rss_of "$name"; done | median)
	reap=$(for _ in $(seq "$RUNS"); do reap_of "$name"; done | median)
	echo "| $name | $rss | $reap |"
	emit "init.idle_rss_kib.$name $rss KiB"
	emit "init.reap_10k_ms.$name $reap ms"
done
echo
