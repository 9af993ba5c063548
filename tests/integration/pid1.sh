#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# PID-1 core: reaping, signal forwarding, exit codes, stop escalation, tini
# options, subreaper mode. tenant-init runs as the real PID 1 of a new PID
# namespace (unshare --pid --fork --mount-proc) unless a test says otherwise.
source "$(dirname "$0")/../lib.sh"

have_unshare_pid || skip_all "unshare --pid not permitted here"
H=$TI_HELPERS
export TENANT_HEALTH_LISTEN=127.0.0.1:$(free_port)
export TENANT_LOG_LEVEL=info

# start_pid1 LOG ARGS...: tenant-init as PID 1 in the background. Sets
# NS_PID (the unshare process) and TI_PID (tenant-init, as seen from here).
start_pid1() {
	local log=$1
	shift
	unshare --pid --fork --mount-proc --kill-child -- "$TI_BIN" "$@" \
		>"$log.out" 2>"$log" &
	NS_PID=$!
	bg_track "$NS_PID"
	TI_PID=
	wait_until 10 _find_child || return 1
}

_find_child() {
	TI_PID=$(cat "/proc/$NS_PID/task/$NS_PID/children" 2>/dev/null | awk '{print $1}')
	[ -n "$TI_PID" ]
}

# wait_ns_exit: wait for the background PID 1 and set RC.
wait_ns_exit() {
	wait_pid_exit "$NS_PID" "${1:-30}" || return 1
	wait "$NS_PID"
	RC=$?
	return 0
}

# --- reaping ---------------------------------------------------------------

out=$(run_pid1 -- "$H/orphans" 10000 60 2>"$TI_TMP/orphans.log")
rc=$?
is "$rc" 0 "10,000 orphaned grandchildren are all reaped by PID 1"
diag "$out"
ok_cmd "orphans: created all 10,000" grep -q '^created 10000$' <<<"$out"
ok_cmd "orphans: tenant-init log is clean" no_sanitizer_report "$TI_TMP/orphans.log"

# Subreaper: not PID 1, orphans still come back to tenant-init.
out=$("$TI_BIN" -- "$H/orphans" 500 30 2>"$TI_TMP/subreaper.log")
is "$?" 0 "as a subreaper (not PID 1) the orphans are reaped too"
ok_cmd "subreaper: no zombie left behind" grep -q '^reaped-all' <<<"$out"

# Grandchildren still running when the child exits are killed and reaped
# before tenant-init exits, as a subreaper too.
"$TI_BIN" -- sh -c 'sleep 1000 & sleep 1000 & echo $! > '"$TI_TMP/gc.pid"'; exit 5' \
	2>"$TI_TMP/gc.log"
rc=$?
is "$rc" 5 "subreaper: exit code is the child's with grandchildren alive"
gc=$(cat "$TI_TMP/gc.pid")
wait_until 5 _pid_gone "$gc"
ok $? "subreaper: the leftover grandchild was killed before exit"

# --- exit codes --------------------------------------------------------------

bad=0
for code in $(seq 0 255); do
	"$TI_BIN" -- sh -c "exit $code" 2>/dev/null
	got=$?
	if [ "$got" -ne "$code" ]; then
		bad=$((bad + 1))
		diag "exit $code came back as $got"
	fi
done
is "$bad" 0 "exit codes 0..255 pass through unchanged (tini mode)"

run_pid1 -- sh -c 'kill -KILL $$' 2>/dev/null
is "$?" 137 "child killed by SIGKILL -> 137"
run_pid1 -- sh -c 'kill -SEGV $$' 2>/dev/null
is "$?" 139 "child killed by SIGSEGV -> 139"
run_pid1 -e 3 -- sh -c 'exit 3' 2>/dev/null
is "$?" 0 "-e 3 remaps exit code 3 to 0"
run_pid1 -e 3 -- sh -c 'exit 4' 2>/dev/null
is "$?" 4 "-e 3 leaves exit code 4 alone"
run_pid1 -- /nonexistent/program 2>"$TI_TMP/enoent.log"
is "$?" 127 "a missing program -> 127"
ok_cmd "the missing program is named in the log" grep -q 'unable to exec /nonexistent/program' "$TI_TMP/enoent.log"
printf '#!/bin/sh\nexit 0\n' >"$TI_TMP/noexec"
chmod 0644 "$TI_TMP/noexec"
run_pid1 -- "$TI_TMP/noexec" 2>/dev/null
is "$?" 126 "a program that is not executable -> 126"
PATH=/nonexistent-dir:$PATH run_pid1 -- true 2>/dev/null
is "$?" 0 "the program is found on PATH past a missing directory"

# stdout belongs to the child; tenant-init logs only to stderr.
out=$(run_pid1 -- echo hello-from-child 2>/dev/null)
is "$out" "hello-from-child" "the child's stdout passes through, nothing of ours on stdout"

# --- signals -----------------------------------------------------------------

log=$TI_TMP/sig.log
start_pid1 "$TI_TMP/sig.ti" -- "$H/sigrecv" "$log" 42
ok $? "PID 1 with a signal-recording child started"
wait_until 10 grep -q '^ready$' "$log"
ok $? "the child installed its handlers"
ok_cmd "the child starts with an empty signal mask" bash -c "! grep -q '^blocked' '$log'"
ok_cmd "the child starts with no ignored signal (SIGPIPE included)" bash -c "! grep -q '^ignored' '$log'"

sigs=(HUP QUIT USR2 WINCH CONT TSTP TTIN TTOU ALRM VTALRM PROF URG XCPU XFSZ IO PWR STKFLT SYS)
for s in $(seq "$(kill -l RTMIN)" "$(kill -l RTMAX)"); do sigs+=("$s"); done
missing=()
for s in "${sigs[@]}"; do
	n=$(kill -l "$s" 2>/dev/null || echo "$s")
	[[ $s =~ ^[0-9]+$ ]] && n=$s
	[ "$s" = SYS ] && continue # a fault signal: never blocked, never forwarded
	kill -s "$n" "$TI_PID" 2>/dev/null
	if ! wait_until 5 grep -qx "$n" "$log"; then
		missing+=("$s")
	fi
done
is "${missing[*]-}" "" "every forwarded signal (${#sigs[@]} incl. real-time) reaches the child"
kill -USR1 "$TI_PID"
# USR1 means "sync now" for PID 1; a later signal proves it was processed.
kill -HUP "$TI_PID"
wait_until 5 bash -c "[ \$(grep -cx 1 '$log') -ge 2 ]"
ok_cmd "SIGUSR1 is kept by PID 1 (sync now), not forwarded" bash -c "! grep -qx 10 '$log'"
kill -TERM "$TI_PID"
wait_ns_exit 20
ok $? "SIGTERM stops PID 1"
is "$RC" 42 "SIGTERM: the child's exit code (42) is tenant-init's"
ok_cmd "SIGTERM reached the child" grep -qx 15 "$log"
ok_cmd "signals: tenant-init log is clean" no_sanitizer_report "$TI_TMP/sig.ti"

# SIGINT behaves as SIGTERM (orderly stop, the child gets SIGTERM).
log=$TI_TMP/int.log
start_pid1 "$TI_TMP/int.ti" -- "$H/sigrecv" "$log" 7
wait_until 10 grep -q '^ready$' "$log"
kill -INT "$TI_PID"
wait_ns_exit 20
is "$RC" 7 "SIGINT to PID 1 stops the child with SIGTERM (exit 7)"

# -e 143: a child killed by the SIGTERM we send counts as success.
start_pid1 "$TI_TMP/e143.ti" -e 143 -- sleep 1000
wait_until 10 bash -c "grep -q 'started sleep' '$TI_TMP/e143.ti'"
kill -TERM "$TI_PID"
wait_ns_exit 20
is "$RC" 0 "-e 143: killed by SIGTERM counts as success"
start_pid1 "$TI_TMP/143.ti" -- sleep 1000
wait_until 10 bash -c "grep -q 'started sleep' '$TI_TMP/143.ti'"
kill -TERM "$TI_PID"
wait_ns_exit 20
is "$RC" 143 "without -e: killed by SIGTERM -> 143"

# Stop escalation: a child that ignores SIGTERM is killed after
# TENANT_STOP_TIMEOUT, and not before.
log=$TI_TMP/ign.log
TENANT_STOP_TIMEOUT=2s start_pid1 "$TI_TMP/ign.ti" -- "$H/sigrecv" "$log" ignore-term
wait_until 10 grep -q '^ready$' "$log"
t0=$(date +%s%N)
kill -TERM "$TI_PID"
wait_until 5 grep -qx 15 "$log"
ok $? "the stubborn child received SIGTERM"
wait_ns_exit 30
t1=$(date +%s%N)
elapsed=$(((t1 - t0) / 1000000))
is "$RC" 137 "a child ignoring SIGTERM ends with SIGKILL -> 137"
ok "$([ "$elapsed" -ge 1950 ] && echo 0 || echo 1)" "SIGKILL not before the stop timeout (${elapsed} ms >= 2000 ms)"
ok "$([ "$elapsed" -lt 6000 ] && echo 0 || echo 1)" "SIGKILL soon after the stop timeout (${elapsed} ms)"

# A second SIGTERM while the child drains: kill it now.
log=$TI_TMP/twice.log
TENANT_STOP_TIMEOUT=60s start_pid1 "$TI_TMP/twice.ti" -- "$H/sigrecv" "$log" ignore-term
wait_until 10 grep -q '^ready$' "$log"
kill -TERM "$TI_PID"
wait_until 5 grep -qx 15 "$log"
kill -TERM "$TI_PID"
wait_ns_exit 10
ok $? "a second SIGTERM does not wait for the 60 s stop timeout"
is "$RC" 137 "second SIGTERM: the child was SIGKILLed"

# -g: forwarded signals reach the child's whole process group.
log=$TI_TMP/grp.log
# sh survives the SIGHUP (a trap) so the group outlives the signal.
start_pid1 "$TI_TMP/grp.ti" -g -- sh -c "trap : HUP; '$H/sigrecv' '$log.a' & '$H/sigrecv' '$log.b' & wait; wait"
wait_until 10 grep -q '^ready$' "$log.a"
wait_until 10 grep -q '^ready$' "$log.b"
kill -HUP "$TI_PID"
wait_until 5 grep -qx 1 "$log.a" && wait_until 5 grep -qx 1 "$log.b"
ok $? "-g: SIGHUP reaches every process in the child's group"
kill -TERM "$TI_PID"
wait_ns_exit 20

# Without -g only the child itself gets a forwarded signal.
log=$TI_TMP/nogrp.log
start_pid1 "$TI_TMP/nogrp.ti" -- sh -c "'$H/sigrecv' '$log.a' & wait"
wait_until 10 grep -q '^ready$' "$log.a"
kill -HUP "$TI_PID"
wait_until 10 bash -c "grep -q 'code 129' '$TI_TMP/nogrp.ti'"
ok $? "without -g: SIGHUP goes to the child (sh dies of it: 129)"
wait_ns_exit 20
ok_cmd "without -g: the grandchild did not get SIGHUP" bash -c "! grep -qx 1 '$log.a'"

# -p: tenant-init dies with its parent.
bash -c "'$TI_BIN' -p SIGKILL -- sleep 1000 2>/dev/null & echo \$! > '$TI_TMP/p.pid'; wait" &
parent=$!
bg_track "$parent"
wait_until 5 test -s "$TI_TMP/p.pid"
tipid=$(cat "$TI_TMP/p.pid")
wait_until 5 grep -q "sleep" "/proc/$tipid/task/$tipid/children" 2>/dev/null
wait_until 5 bash -c "[ -n \"\$(cat /proc/$tipid/task/$tipid/children)\" ]"
kill -KILL "$parent"
wait_pid_exit "$tipid" 5
ok $? "-p SIGKILL: tenant-init is killed when its parent dies"

# --- secrets are scrubbed from the environment -------------------------------

printf 'poe-key-value\n' | ENCRYPTION_SECRET=enc-secret-value-789 "$TI_BIN" encrypt-key \
	>"$TI_TMP/key.enc" 2>/dev/null
R2_ACCESS_KEY_ID=AKIDTEST R2_SECRET_ACCESS_KEY=r2-secret-value-123 CF_ACCOUNT_ID=abc123 \
	AWS_SECRET_ACCESS_KEY=aws-secret-value-456 ENCRYPTION_SECRET=enc-secret-value-789 \
	TENANT_API_KEY_FILE="$TI_TMP/key.enc" OPENCLAW_STATE_DIR="$TI_TMP/state" \
	TENANT_SYNC_URL=file://$TI_TMP/bucket \
	start_pid1 "$TI_TMP/env.ti" -- sh -c "tr '\\0' '\\n' < /proc/self/environ > '$TI_TMP/child.env'; exec sleep 1000"
wait_until 10 test -s "$TI_TMP/child.env"
ok $? "the child wrote its environment"
ok_cmd "no secret name or value reaches the child" bash -c \
	"! grep -E 'R2_|AWS_SECRET|ENCRYPTION_|secret-value' '$TI_TMP/child.env'"
ok_cmd "ordinary variables still reach the child" grep -q '^PATH=' "$TI_TMP/child.env"
ok_cmd "the decrypted key reaches the child under TENANT_API_KEY_ENV" \
	grep -qx 'POE_API_KEY=poe-key-value' "$TI_TMP/child.env"
tr '\0' '\n' <"/proc/$TI_PID/environ" >"$TI_TMP/pid1.env" 2>/dev/null
ok_cmd "PID 1's own /proc/1/environ no longer shows the secret values" bash -c \
	"test -s '$TI_TMP/pid1.env' && ! grep -E 'secret-value|AKIDTEST' '$TI_TMP/pid1.env'"
kill -TERM "$TI_PID"
wait_ns_exit 20
ok_cmd "no secret value in tenant-init's log" bash -c "! grep -E 'secret-value' '$TI_TMP/env.ti'"

done_testing
