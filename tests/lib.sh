# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared helpers for the integration tests (TAP on stdout).
#
#   source "$(dirname "$0")/../lib.sh"
#   ok COND-EXIT-STATUS "name"     ; ok_cmd "name" cmd...
#   skip_all "why"                 prerequisite missing (fails under TI_STRICT)
#   skip_all_by_design "why"       not run in this variant (ASan pass, ...)
#   is "$got" "$want" "name"
#   wait_until SECONDS cmd...      poll cmd (10 ms steps) until it succeeds,
#                                  bounded; returns 1 on timeout
#   wait_pid_exit PID SECONDS      wait for a process to be gone
#   free_port                      an unused loopback TCP port
#   bg_track PID                   killed (group and pid) when the test ends
#   tmpdir                         $TI_TMP, removed at the end
#   done_testing                   plan + summary, exit status
#
# TI_BIN is the tenant-init under test, TI_HELPERS the test helper binaries.
# Every server a test starts is tracked with bg_track and killed by PID at
# exit; every wait has a deadline.

set -uo pipefail

# A test that sets TI_NETNS=1 before sourcing this file runs in a network
# namespace of its own (lo up; a new namespace starts with it down), so
# nothing else on the machine shares its ports; it is skipped where that
# needs privileges it lacks. Re-executed before anything below is set up.
if [ -n "${TI_NETNS:-}" ] && [ -z "${TI_IN_NETNS:-}" ]; then
	if unshare --net -- true 2>/dev/null; then
		exec unshare --net -- bash -c \
			'ip link set lo up && exec env TI_IN_NETNS=1 bash "$0"' "$0"
	fi
	if [ -n "${TI_STRICT:-}" ]; then
		echo "1..1"
		echo "not ok 1 - unshare --net not available under make test"
		exit 1
	fi
	echo "1..0 # SKIP unshare --net not available (needs root)"
	echo "ok 1 # SKIP unshare --net not available (needs root)"
	exit 0
fi

TI_BIN=${TI_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tenant-init}
TI_HELPERS=${TI_HELPERS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tests/helpers}
TI_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TI_BIN TI_HELPERS TI_TOP

_tap_n=0
_tap_failed=0
_tracked=()

TI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ti-test.XXXXXX")
export TI_TMP

_cleanup() {
	local p
	for p in "${_tracked[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${_tracked[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TI_TMP"
}
trap _cleanup EXIT

bg_track() {
	_tracked+=("$1")
}

ok() {
	local status=$1
	shift
	_tap_n=$((_tap_n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $*"
	fi
	return "$status"
}

ok_cmd() {
	local name=$1
	shift
	"$@"
	ok $? "$name"
}

is() {
	local got=$1 want=$2
	shift 2
	if [ "$got" == "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		echo "#   got:  '$got'"
		echo "#   want: '$want'"
		return 1
	fi
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP $*"
}

# skip_all WHY: a prerequisite is missing. Under TI_STRICT=1 (make test,
# after tests/deps.sh has installed everything) that is a failure: a suite
# that silently skipped in CI would hide a broken install step.
skip_all() {
	if [ -n "${TI_STRICT:-}" ]; then
		echo "1..1"
		echo "not ok 1 - prerequisite missing under make test: $*"
		exit 1
	fi
	skip_all_by_design "$@"
}

# skip_all_by_design WHY: this suite does not run in this variant (the
# sanitizer pass, say), whatever is installed.
skip_all_by_design() {
	echo "1..0 # SKIP $*"
	echo "ok 1 # SKIP $*"
	exit 0
}

diag() {
	echo "# $*"
}

# wait_until SECONDS cmd... : poll with a deadline (the condition is the
# event; 10 ms steps only bound the latency of noticing it).
wait_until() {
	local limit=$1
	shift
	local deadline=$((SECONDS + limit))
	while ! "$@" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.01
	done
	return 0
}

_pid_gone() {
	! kill -0 "$1" 2>/dev/null
}

wait_pid_exit() {
	wait_until "$2" _pid_gone "$1"
}

# With $base the health server's URL (http://127.0.0.1:PORT):
# readyz_has TEXT       /readyz's body contains TEXT
# metric NAME           NAME's value in /metrics (empty when absent)
readyz_has() {
	curl -s -m 2 "$base/readyz" | grep -q "$1"
}

metric() {
	curl -s -m 2 "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# reap_bounded PID [SECONDS]: the exit status of a background job of this
# shell, waiting at most SECONDS (60) before killing it (status then 137):
# a bare `wait` on a job that never ends would hang the whole run.
reap_bounded() {
	if ! wait_pid_exit "$1" "${2:-60}"; then
		echo "# pid $1 still running after ${2:-60} s: killed"
		kill -KILL -- "-$1" 2>/dev/null
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1"
}

# An unused port for a server. Taken below the ephemeral range, so that
# no client socket of a busy machine can grab it before the server binds
# it; bind(0) only when the range leaves no room below it.
free_port() {
	python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
def free(port):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    if lo <= 10000:
        break
    port = random.randrange(10000, lo)
    if free(port):
        print(port)
        raise SystemExit
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# Every tenant-init binds TENANT_HEALTH_LISTEN (0.0.0.0:18790 by default)
# and a busy address is exit 70: each test gets its own unless it chose.
export TENANT_HEALTH_LISTEN=${TENANT_HEALTH_LISTEN:-127.0.0.1:$(free_port)}

# ti_pid_below PID: the host pid of the tenant-init at or below PID (a
# backgrounded run_pid1 runs it as subshell -> unshare -> tenant-init).
ti_pid_below() {
	local p=$1 bin exe
	bin=$(readlink -f "$TI_BIN")
	for _ in 1 2 3 4; do
		# " (deleted)": the binary was rebuilt while the test ran.
		exe=$(readlink "/proc/$p/exe" 2>/dev/null)
		if [ "${exe% (deleted)}" = "$bin" ]; then
			echo "$p"
			return 0
		fi
		p=$(pgrep -P "$p" | head -1)
		[ -n "$p" ] || return 1
	done
	return 1
}

# The log of tenant-init under ASan also carries sanitizer reports: a test
# that reads a log should check it holds none.
no_sanitizer_report() {
	! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"
}

# diag_logs_if_failed FILE...: after a failure, show the tail of each log
# (call it right before done_testing; the temp dir is removed at exit).
diag_logs_if_failed() {
	local f
	[ "$_tap_failed" -eq 0 ] && return 0
	for f in "$@"; do
		[ -f "$f" ] || continue
		echo "# ---- $f"
		tail -n 60 "$f" | sed 's/^/#   /'
	done
}

done_testing() {
	echo "1..$_tap_n"
	echo "# $((_tap_n - _tap_failed)) passed, $_tap_failed failed"
	[ "$_tap_failed" -eq 0 ]
}

# run_pid1 ARGS... : run tenant-init as PID 1 of a new PID namespace
# (with its own /proc), in the foreground; the exit status is tenant-init's.
run_pid1() {
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" "$@"
}

have_unshare_pid() {
	unshare --pid --fork --mount-proc -- true 2>/dev/null
}
