#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs the libFuzzer targets built by `make fuzz-bins` (build/fuzz/fuzz-*).
#
#   tests/fuzz/run.sh SECONDS [REGEX]   `make fuzz`: every target (whose name
#                                       matches REGEX) for SECONDS, on its
#                                       seeds plus build/fuzz/corpus/NAME,
#                                       which keeps what the runs found
#   tests/fuzz/run.sh --tap NAME SECONDS
#                                       one target as a TAP suite for
#                                       tests/run.sh: the seeds replayed
#                                       once, then SECONDS of fuzzing into
#                                       a throw-away corpus
#
# Per target: tests/fuzz/corpus/NAME/ (seeds, committed), tests/fuzz/NAME.dict
# (optional dictionary), tests/fuzz/NAME.flags (optional extra libFuzzer
# flags, one line). A crash, leak, sanitizer report, timeout (-timeout=10)
# or failed invariant makes libFuzzer exit non-zero and write the input to
# build/fuzz/artifacts/NAME/; see docs/HACKING.md for what to do with it.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bindir=${TI_FUZZ_BUILD:-build/fuzz}

# fuzz_args NAME: the flags every run of NAME gets.
fuzz_args() {
	local name=$1
	mkdir -p "$bindir/artifacts/$name"
	args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		"-artifact_prefix=$bindir/artifacts/$name/")
	if [ -f "tests/fuzz/$name.dict" ]; then
		args+=("-dict=tests/fuzz/$name.dict")
	fi
	if [ -f "tests/fuzz/$name.flags" ]; then
		# shellcheck disable=SC2207
		args+=($(cat "tests/fuzz/$name.flags"))
	fi
}

# execs LOG: executions libFuzzer reported in its final stats.
execs() {
	sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -1
}

tap_one() {
	local name=$1 secs=$2
	local bin=$bindir/fuzz-$name seeds=tests/fuzz/corpus/$name
	local work log rc n start

	echo "1..2"
	if [ ! -x "$bin" ]; then
		echo "not ok 1 - fuzz-$name is not built (make fuzz-bins)"
		echo "not ok 2 - fuzz-$name: no fuzzing"
		return 1
	fi
	fuzz_args "$name"
	work=$(mktemp -d "${TMPDIR:-/tmp}/tenant-init-fuzz-corpus.XXXXXX")
	log=$work.log
	trap 'rm -rf "$work" "$log"' RETURN

	"$bin" "${args[@]}" -runs=0 "$seeds" >"$log" 2>&1
	rc=$?
	n=$(find "$seeds" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "ok 1 - fuzz-$name: the $n seeds replay cleanly"
	else
		echo "not ok 1 - fuzz-$name: a seed fails (exit $rc)"
		tail -40 "$log" | sed 's/^/# /'
	fi

	start=$SECONDS
	"$bin" "${args[@]}" -max_total_time="$secs" "$work" "$seeds" \
		>"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok 2 - fuzz-$name: $(execs "$log") executions in" \
			"$((SECONDS - start)) s, nothing found"
	else
		echo "not ok 2 - fuzz-$name: libFuzzer exited $rc"
		grep -E '^(==[0-9]+==|SUMMARY|.*runtime error|.*invariant)' \
			"$log" | head -20 | sed 's/^/# /'
		tail -20 "$log" | sed 's/^/# /'
		echo "# input saved under $bindir/artifacts/$name/"
	fi
}

if [ "${1:-}" = "--tap" ]; then
	tap_one "$2" "$3"
	exit $?
fi

secs=${1:-60}
only=${2:-}
failed=0
printf '%-22s %12s %8s %8s  %s\n' target executions seconds corpus result
for bin in "$bindir"/fuzz-*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz-}
	if [ -n "$only" ] && ! [[ $name =~ $only ]]; then
		continue
	fi
	fuzz_args "$name"
	work=$bindir/corpus/$name
	log=$bindir/logs/$name.log
	mkdir -p "$work" "$bindir/logs"
	start=$SECONDS
	"$bin" "${args[@]}" -max_total_time="$secs" "$work" \
		"tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	result=ok
	if [ "$rc" -ne 0 ]; then
		result="FAILED (exit $rc; $log, $bindir/artifacts/$name/)"
		failed=1
	fi
	printf '%-22s %12s %8s %8s  %s\n' "fuzz-$name" "$(execs "$log")" \
		$((SECONDS - start)) "$(find "$work" -type f | wc -l)" "$result"
done
exit $failed
