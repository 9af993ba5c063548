#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs every suite and prints one summary line: "N passed, N failed".
#
#   unit tests            build/tests/test-*          (and under valgrind)
#   unit tests, ASan      build/asan/tests/test-*
#   integration           tests/integration/*.sh      (release binary)
#   integration, ASan     tests/integration/*.sh      (ASan binary)
#   e2e                   tests/e2e/*.sh              (release binary, real OpenClaw)
#   fuzz                  tests/fuzz/fuzz-*.c         (TI_FUZZ_SECONDS each, default 5)
#
# TI_ONLY=regex limits the suites by name; TI_SKIP_ASAN=1, TI_SKIP_VALGRIND=1
# and TI_SKIP_FUZZ=1 drop those passes (for quick local iterations only).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${TI_BUILD:-build}
asan=${TI_ASAN_BUILD:-build/asan}
only=${TI_ONLY:-}
logdir=$top/build/test-logs
mkdir -p "$logdir"

total_pass=0
total_fail=0
total_skip=0
failed_suites=()

# run_suite NAME CMD...: runs CMD, parses TAP from its stdout.
run_suite() {
	local name=$1
	shift
	if [ -n "$only" ] && ! [[ $name =~ $only ]]; then
		return
	fi
	local log=$logdir/${name//\//_}.log
	local start=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	local pass fail skip
	pass=$(grep -cE '^ok [0-9]+' "$log" || true)
	skip=$(grep -cE '^ok [0-9]+.*# SKIP' "$log" || true)
	fail=$(grep -cE '^not ok [0-9]+' "$log" || true)
	pass=$((pass - skip))
	# A suite that dies without reporting a failure still failed.
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$skip" -eq 0 ]; then
		fail=1
		echo "not ok - $name reported no test points" >>"$log"
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	printf '%-44s %4d passed %3d failed %3d skipped  %3ds\n' "$name" \
		"$pass" "$fail" "$skip" $((SECONDS - start))
	if [ "$fail" -ne 0 ]; then
		failed_suites+=("$name")
		grep -E -A3 '^not ok' "$log" | head -40 | sed 's/^/    /'
		echo "    (full log: $log)"
	fi
}

for t in "$build"/tests/test-*; do
	[ -x "$t" ] || continue
	run_suite "unit/$(basename "$t")" "$t"
done
if [ -z "${TI_SKIP_VALGRIND:-}" ] && command -v valgrind >/dev/null; then
	for t in "$build"/tests/test-*; do
		[ -x "$t" ] || continue
		run_suite "valgrind/$(basename "$t")" valgrind -q \
			--error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$t"
	done
fi
if [ -z "${TI_SKIP_ASAN:-}" ]; then
	for t in "$asan"/tests/test-*; do
		[ -x "$t" ] || continue
		run_suite "asan-unit/$(basename "$t")" "$t"
	done
fi
# libFuzzer targets: the seeds replayed, then a few seconds of fuzzing each.
if [ -z "${TI_SKIP_FUZZ:-}" ]; then
	for t in tests/fuzz/fuzz-*.c; do
		[ -f "$t" ] || continue
		t=${t##*/fuzz-}
		run_suite "fuzz/${t%.c}" tests/fuzz/run.sh --tap "${t%.c}" \
			"${TI_FUZZ_SECONDS:-5}"
	done
fi
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	run_suite "integration/$(basename "$t" .sh)" env \
		TI_BIN="$top/$build/tenant-init" TI_HELPERS="$top/$build/tests/helpers" \
		bash "$t"
done
if [ -z "${TI_SKIP_ASAN:-}" ]; then
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		run_suite "asan-integration/$(basename "$t" .sh)" env \
			TI_BIN="$top/$asan/tenant-init" \
			TI_HELPERS="$top/$build/tests/helpers" TI_ASAN=1 \
			bash "$t"
	done
fi
# End to end with the real OpenClaw gateway: once, against the release
# binary (a minute or two; ASan would only slow the gateway's boot).
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	run_suite "e2e/$(basename "$t" .sh)" env \
		TI_BIN="$top/$build/tenant-init" TI_HELPERS="$top/$build/tests/helpers" \
		bash "$t"
done

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed ($total_skip skipped)"
[ "$total_fail" -eq 0 ]
