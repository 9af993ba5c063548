#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Boot benchmark: time from the exec of tenant-init (as PID 1 of new PID
# and mount namespaces) to the exec of the gateway, sync off (no restore).
#
# bench/boot.c, built static here, takes CLOCK_MONOTONIC right before
# execve(tenant-init -- STANDIN gw); the stand-in (the same static binary)
# takes it again as the first statement of its main() and prints it on
# stdout, which tenant-init passes through, then exits 0. T1 - T0 includes
# two execs: tenant-init's own (kernel + dynamic loader + its 44 shared
# libraries) and the stand-in's; the baseline row is the stand-in exec'd
# directly, i.e. the cost of the second exec alone, to subtract.
#
# Output: markdown on stdout, "BENCH name value unit" lines on fd 3.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
TI=${TI_BIN:-$top/build/tenant-init}
N=${BENCH_BOOT_N:-50}
[ -n "${BENCH_QUICK:-}" ] && N=${BENCH_BOOT_N:-10}
exec 4>/dev/null
{ true >&3; } 2>/dev/null && exec 4>&3
emit() { echo "BENCH $*" >&4; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ti-bench-boot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! gcc -O2 -static -o "$tmp/boot" "$top/bench/boot.c" 2>"$tmp/cc.log"; then
	echo "boot benchmark skipped: cannot build bench/boot.c statically"
	sed 's/^/    /' "$tmp/cc.log"
	exit 0
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/state"

# summary FILE -> "median p90 min first" of T1-T0 in µs, and of TEXIT-T0
summary() {
	python3 - "$1" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if len(r) == 4 and int(r[1]) > 0]
bad = len(rows) - len(ok)
d = [(int(r[1]) - int(r[0])) / 1000 for r in ok]
x = [(int(r[2]) - int(r[0])) / 1000 for r in ok]
def med(v): s = sorted(v); return s[(len(s) - 1) // 2] if s else float("nan")
def p90(v): s = sorted(v); return s[min(len(s) - 1, int(0.9 * len(s)))] if s else float("nan")
print("%.0f %.0f %.0f %.0f %.0f %d" % (med(d[1:] or d), p90(d[1:] or d), min(d) if d else -1,
                                      d[0] if d else -1, med(x), bad))
PY
}

run_boots() { # run_boots MODE INIT OUT
	env -i PATH="$PATH" TENANT_HEALTH_LISTEN="127.0.0.1:$port" \
		OPENCLAW_STATE_DIR="$tmp/state" SANDBOX_SLEEP_AFTER=never \
		"$tmp/boot" run "$N" "$1" "$2" "$tmp/boot" >"$3"
}

run_boots pid1 - "$tmp/base.txt"
run_boots pid1 "$TI" "$tmp/ti.txt"
run_boots plain "$TI" "$tmp/ti-plain.txt"
read -r b_med b_p90 b_min _ _ b_bad < <(summary "$tmp/base.txt")
read -r t_med t_p90 t_min t_first t_exit t_bad < <(summary "$tmp/ti.txt")
read -r s_med s_p90 s_min s_first _ s_bad < <(summary "$tmp/ti-plain.txt")
net=$((t_med - b_med))

# Where the time goes: one traced boot (syscall time stamps).
trace=
if command -v strace >/dev/null; then
	env -i PATH="$PATH" TENANT_HEALTH_LISTEN="127.0.0.1:$port" \
		OPENCLAW_STATE_DIR="$tmp/state" SANDBOX_SLEEP_AFTER=never \
		strace -f -ttt -o "$tmp/strace.txt" "$TI" -- "$tmp/boot" gw >/dev/null 2>&1
	trace=$(python3 - "$tmp/strace.txt" <<'PY'
import re, sys
ls = open(sys.argv[1]).read().splitlines()
t = lambda l: float(l.split()[1])
first = t(ls[0])
opens = sum(1 for l in ls if re.search(r'openat\(.*\.so', l) and 'ENOENT' not in l)
mm = sum(1 for l in ls if ' mmap(' in l or ' mprotect(' in l)
main_start = next((t(l) for l in ls if 'set_robust_list' in l or 'prlimit64' in l), first)
gw = [t(l) for l in ls if 'execve(' in l and 'boot", ["' in l and 'gw"' in l]
gw = gw[-1] if gw else float("nan")
lib_done = max((t(l) for l in ls[:400] if re.search(r'openat\(.*\.so', l)), default=first)
print("%.2f %.2f %d %d %d" % ((lib_done - first) * 1000, (gw - first) * 1000, opens, mm, len(ls)))
PY
)
fi

cat <<EOF
### 6. Boot: exec of tenant-init → exec of the gateway (no restore)

$N boots each, \`tenant-init -- STANDIN\` as PID 1 of new PID and mount
namespaces, sync off, health server on, a state directory kept between boots
(the first boot writes \`openclaw.json\`, the others re-apply it). Measured by
bench/boot.c (static): CLOCK_MONOTONIC before \`execve(tenant-init)\` → first
statement of the stand-in's \`main()\`. The baseline is the stand-in exec'd
directly (one exec of a static binary), so tenant-init's own cost ≈ the
difference.

| | median (µs) | p90 (µs) | min (µs) | first boot (µs) | failed |
|---|---|---|---|---|---|
| tenant-init as PID 1 → gateway main() | $t_med | $t_p90 | $t_min | $t_first | $t_bad |
| tenant-init not PID 1 (subreaper) | $s_med | $s_p90 | $s_min | $s_first | $s_bad |
| baseline: stand-in exec'd directly | $b_med | $b_p90 | $b_min | | $b_bad |
| **tenant-init's own share (median − baseline)** | **$net** | | | | |

Whole cycle (exec of tenant-init → the stand-in exited → tenant-init exited
and reaped): median $t_exit µs.
EOF
if [ -n "$trace" ]; then
	read -r tr_libs tr_gw tr_opens tr_mm tr_n <<<"$trace"
	cat <<EOF

One boot under \`strace -f -ttt\` (slowed down by the tracing, for the
shape only): $tr_n syscalls, $tr_opens shared libraries opened and
$tr_mm mmap/mprotect calls by the dynamic loader and the rest; the loader
had finished opening libraries ${tr_libs} ms after the exec, the gateway's
execve came ${tr_gw} ms after it.
EOF
fi
echo
emit "boot.us.tenant-init $t_med us"
emit "boot.p90_us.tenant-init $t_p90 us"
emit "boot.first_us.tenant-init $t_first us"
emit "boot.us.tenant-init-not-pid1 $s_med us"
emit "boot.us.baseline-exec $b_med us"
emit "boot.net_us.tenant-init $net us"
emit "boot.cycle_us.tenant-init $t_exit us"
