#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# valgrind memcheck over a representative run of PID 1 and the sync agent,
# and over the one-shot subcommands: zero errors, zero definite leaks.
#
#  - encrypt-key, check-config (valid and invalid), sync --once and
#    restore against s3rver, each under valgrind on its own;
#  - then tenant-init as PID 1 of a new PID namespace, in gateway mode, with
#    --trace-children=yes so that the sync agent it re-executes is checked
#    too (the gateway stand-in, fakegw, is not traced): the agent restores
#    the bucket (with the encrypted API key), PID 1 decrypts the key and
#    writes openclaw.json, the gateway starts, crashes once and is
#    restarted, the health server answers /healthz /readyz /metrics and
#    garbage, `tenant-init health` asks it, files are synced as they
#    change, SIGUSR1 forces a sync, the agent is stopped and restarted
#    (so that one agent exits by itself, through its cleanup), and SIGTERM
#    stops everything with a final flush.
#
# One log per traced process (--log-file=vg.%p). A log that reached its end
# must say "ERROR SUMMARY: 0 errors" and lose no byte definitely; every log
# (also one of a forked child that exec'd an untraced program, which only
# holds valgrind's preamble) must hold no error report. PID 1's log and an
# agent's log must both exist and be complete.
#
# valgrind specifics:
#  - PID 1 starts the agent with execve("/proc/self/exe"). Under valgrind
#    that link names valgrind's tool binary, not tenant-init, so the traced
#    child fails to load ("mmap(0x58000000) failed in UME"). A preloaded
#    shim (built below) turns exactly that path into the file the link
#    really names for the client (valgrind answers readlink of
#    /proc/self/exe with the client's path); nothing else changes.
#  - valgrind runs tenant-init 20-50 times slower: every wait here is long,
#    and TENANT_STOP_TIMEOUT / TENANT_FLUSH_TIMEOUT are raised.
#  - valgrind 3.19 has no seccomp(2): libseccomp's probe in PID 1 gets
#    ENOSYS (an "unhandled syscall 317" note in the log, and tenant-init's
#    warning that the kernel cannot kill a whole process); the gateway's
#    filter is still loaded (through prctl) before its exec.
#  - No suppression is needed today; tests/valgrind.supp, if it exists, is
#    passed along (third-party library internals only, never our code).
#
# Skipped under TI_ASAN=1 (valgrind cannot run an ASan binary) and where
# valgrind, a C compiler, s3rver or PID namespaces are missing.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

[ -z "${TI_ASAN:-}" ] || skip_all_by_design "valgrind cannot run the ASan binary"
command -v valgrind >/dev/null || skip_all "valgrind not installed"
command -v cc >/dev/null || skip_all "no C compiler for the exec shim"
command -v curl >/dev/null || skip_all "curl not installed"
have_unshare_pid || skip_all "cannot create a PID namespace"
s3_require

VGD=$TI_TMP/vg
mkdir -p "$VGD"
SUPP=$TI_TOP/tests/valgrind.supp
# 97: an exit code tenant-init never uses itself.
VG=(valgrind --error-exitcode=97 --leak-check=full
	--errors-for-leak-kinds=definite --show-leak-kinds=definite
	--num-callers=30)
[ -f "$SUPP" ] && VG+=("--suppressions=$SUPP")

# ---- the exec shim (see the header) ----
SHIM=$TI_TMP/vgexec.so
cat >"$TI_TMP/vgexec.c" <<'C'
#define _GNU_SOURCE
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int execve(const char *path, char *const argv[], char *const envp[])
{
	char self[4096];
	ssize_t n;

	if (strcmp(path, "/proc/self/exe") == 0 &&
	    (n = readlink(path, self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		path = self;
	}
	return (int)syscall(SYS_execve, path, argv, envp);
}
C
cc -O2 -shared -fPIC -o "$SHIM" "$TI_TMP/vgexec.c"
ok $? "exec shim built"

# ---- reading the logs ----

vg_complete() { grep -q "ERROR SUMMARY:" "$1"; }

vg_errors() {
	sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$1" | tr -d , |
		tail -1
}

# Bytes definitely lost (0 when valgrind found every block freed).
vg_definite() {
	local b
	b=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$1" |
		tr -d , | tail -1)
	echo "${b:-0}"
}

# Stack lines: valgrind prints one under every error and leak record.
vg_stacks() {
	grep -cE '^==[0-9]+== +(at|by) 0x' "$1" || true
}

vg_show() {
	echo "# ---- $1"
	grep -vE '^==[0-9]+== *(Copyright|Using Valgrind|Memcheck,)' "$1" |
		head -n 120 | sed 's/^/#   /'
}

# vg_clean NAME LOG: a complete log with no error and no definite leak.
vg_clean() {
	local name=$1 log=$2 e d
	if [ ! -f "$log" ]; then
		ok 1 "$name: valgrind log exists"
		return 1
	fi
	if ! vg_complete "$log"; then
		ok 1 "$name: valgrind reached the end of the process"
		vg_show "$log"
		return 1
	fi
	e=$(vg_errors "$log")
	d=$(vg_definite "$log")
	diag "$name: $e errors, $d bytes definitely lost ($(basename "$log"))"
	if [ "$e" = 0 ] && [ "$d" = 0 ]; then
		ok 0 "$name: valgrind: 0 errors, no definite leak"
	else
		ok 1 "$name: valgrind: 0 errors, no definite leak"
		vg_show "$log"
		return 1
	fi
}

# vg_one NAME EXPECTED-RC VAR=VALUE... -- ARGS...: tenant-init ARGS under
# valgrind in a clean environment (only PATH, HOME and the VARs), one log;
# its stdout in $TI_TMP/NAME.out, its stderr in $TI_TMP/NAME.err.
vg_one() {
	local name=$1 want=$2 rc envs=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		envs+=("$1")
		shift
	done
	shift
	env -i PATH="$PATH" HOME="$TI_TMP" "${envs[@]}" "${VG[@]}" \
		--log-file="$VGD/$name.%p" "$TI_BIN" "$@" >"$TI_TMP/$name.out" \
		2>"$TI_TMP/$name.err"
	rc=$?
	is "$rc" "$want" "$name: exit $want under valgrind"
	set -- "$VGD/$name".*
	is "$#" 1 "$name: one valgrind log"
	vg_clean "$name" "$1"
}

SECRET=vg-test-secret-0123456789abcdef
KEY=pb-valgrind-key-42
SEED=$TI_TMP/seed
DATA=$TI_TMP/data
P=vg/openclaw
mkdir -p "$SEED/.tenant" "$DATA"

# ---- the subcommands ----

printf '%s\n' "$KEY" >"$TI_TMP/key.txt"
vg_one encrypt-key 0 ENCRYPTION_SECRET="$SECRET" -- encrypt-key \
	<"$TI_TMP/key.txt"
cp "$TI_TMP/encrypt-key.out" "$SEED/.tenant/api-key.enc"
case $(cat "$SEED/.tenant/api-key.enc") in tik1.*) ok 0 "encrypt-key: a v1 blob" ;;
*) ok 1 "encrypt-key: a v1 blob" ;; esac

vg_one check-config 0 OPENCLAW_STATE_DIR="$SEED" TELEGRAM_BOT_TOKEN=123:tg \
	TENANT_SYNC_URL=s3://some-bucket/p AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y \
	-- check-config
vg_one check-config-bad 78 TELEGRAM_BOT_TOKEN=x TELEGRAM_DM_POLICY=everyone \
	-- check-config
grep -q TELEGRAM_DM_POLICY "$TI_TMP/check-config-bad.err"
ok $? "check-config: the bad variable is named"

echo "from the bucket" >"$SEED/seed.txt"
mkdir -p "$SEED/notes"
for i in 1 2 3; do echo "note $i" >"$SEED/notes/n$i.txt"; done
vg_one sync-once 0 OPENCLAW_STATE_DIR="$SEED" $(s3_env vg/) -- \
	sync --once
is "$(s3_keys "$P/" | wc -l)" 5 "sync --once: the seed is in the bucket"

R=$TI_TMP/restored
vg_one restore 0 OPENCLAW_STATE_DIR="$R" $(s3_env vg/) -- \
	restore
diff -r -x .tenant-init "$SEED" "$R" >/dev/null
ok $? "restore: the directory comes back identical"

diag "subcommands done at ${SECONDS} s"

# ---- PID 1 and the agent ----

gw=$(free_port)
hp=$(free_port)
base=http://127.0.0.1:$hp
count=$TI_TMP/starts
LOG=$TI_TMP/ti.log
# Skip everything the run execs except tenant-init itself.
skip='*/fakegw,*/sleep,*/sh,*/dash,*/bash,*/env,*/true,*/node,*/cat'
env -i PATH="$PATH" HOME="$TI_TMP" OPENCLAW_STATE_DIR="$DATA" \
	ENCRYPTION_SECRET="$SECRET" \
	TENANT_HEALTH_LISTEN=127.0.0.1:$hp TENANT_GATEWAY_PORT=$gw \
	TENANT_GATEWAY_CMD="$TI_HELPERS/fakegw --port \$TENANT_GATEWAY_PORT --exit-after 1500 --exit-code 3 --only-starts 1 --count $count" \
	TENANT_STOP_TIMEOUT=30s TENANT_FLUSH_TIMEOUT=60s TENANT_MAX_RESTARTS=5 \
	TENANT_LOG_LEVEL=debug $(s3_env vg/) \
	unshare --pid --fork --mount-proc --kill-child -- \
	env LD_PRELOAD="$SHIM" "${VG[@]}" --trace-children=yes \
	--trace-children-skip="$skip" --log-file="$VGD/ns.%p" \
	"$TI_BIN" >"$TI_TMP/ti.out" 2>"$LOG" &
NS_PID=$!
bg_track "$NS_PID"

# PID 1 is a child or grandchild of NS_PID (unshare may fork twice): the
# process whose innermost pid is 1, once valgrind's tool runs in it.
_find_pid1() {
	local p
	PID1=
	for p in $(pgrep -P "$NS_PID") $(pgrep -P "$(pgrep -P "$NS_PID" | head -1)"); do
		awk '/^NSpid:/ {exit !(NF > 2 && $NF == 1)}' "/proc/$p/status" \
			2>/dev/null || continue
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = memcheck-amd64- ] || continue
		PID1=$p
		return 0
	done
	return 1
}
wait_until 30 _find_pid1
ok $? "PID 1 started under valgrind (pid $PID1 here)"

agent_pid() {
	pgrep -P "$PID1" -x tenant-sync | head -1
}
visible() { # visible KEY [CONTENT]
	local o
	o=$(s3_obj "$P/$1")
	[ -f "$o" ] && { [ $# -lt 2 ] || [ "$(cat "$o")" = "$2" ]; }
}
gone() { ! visible "$1"; }
status() {
	curl -s -o /dev/null -m 10 -w '%{http_code}' "$@"
}
ready() {
	curl -s -m 10 "$base/readyz" | grep -q '"ready":true'
}
lines() {
	[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}
metric() {
	curl -s -m 10 "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

wait_until 120 grep -q "sync: watching" "$LOG"
ok $? "the agent restored the bucket and watches the data directory"
is "$(cat "$DATA/seed.txt" 2>/dev/null)" "from the bucket" "seed.txt restored"
wait_until 60 grep -q "decrypted the stored API key" "$LOG"
ok $? "PID 1 decrypted the restored API key"
wait_until 30 test -f "$DATA/openclaw.json"
ok $? "openclaw.json written"
ok_cmd "the gateway crashed once and was restarted" wait_until 60 lines "$count" 2
ok_cmd "ready after the restart" wait_until 60 ready
restarts=$(metric tenant_gateway_restarts_total)
ok $((${restarts:-0} < 1)) "tenant_gateway_restarts_total counts it (${restarts:-none})"
diag "PID 1 booted, gateway restarted and ready at ${SECONDS} s"

# ---- the health server ----
is "$(status "$base/healthz")" 200 "/healthz 200"
is "$(status "$base/readyz")" 200 "/readyz 200"
curl -s -m 10 "$base/metrics" >"$TI_TMP/metrics"
grep -q '^tenant_gateway_up 1$' "$TI_TMP/metrics"
ok $? "/metrics says the gateway is up"
is "$(status "$base/nope")" 404 "unknown path 404"
is "$(status -X POST -d x=1 "$base/healthz")" 405 "POST 405"
# raw KIND: the status line the health server answers a raw request of
# that kind with ("none" when it closes without one).
raw() {
	python3 - "$hp" "$1" <<'PY'
import socket, sys
port, kind = int(sys.argv[1]), sys.argv[2]
req = {
    "version": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    "nohost": b"GET /healthz HTTP/1.1\r\n\r\n",
    "badheader": b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    "garbage": b"GARBAGE\r\n\r\n",
    "bigheader": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
    "partial": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ",
}[kind]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
try:
    s.sendall(req)
except OSError:
    pass  # the server may close before the 1 MiB are sent
if kind == "partial":
    s.close()
    print("closed")
    raise SystemExit
try:
    data = s.recv(4096)
except OSError:
    data = b""
line = data.split(b"\r\n", 1)[0].decode("latin-1")
print(line if line else "none")
PY
}
is "$(raw version)" "HTTP/1.1 505 HTTP Version Not Supported" "HTTP/9.9: 505"
is "$(raw nohost)" "HTTP/1.1 400 Bad Request" "no Host header: 400"
is "$(raw badheader)" "HTTP/1.1 400 Bad Request" "a header line without a colon: 400"
is "$(raw garbage)" "HTTP/1.1 400 Bad Request" "garbage: 400"
case $(raw bigheader) in "HTTP/1.1 431"* | none) ok 0 "1 MiB header refused" ;;
*) ok 1 "1 MiB header refused" ;; esac
is "$(raw partial)" closed "a request cut off halfway"
is "$(status "$base/healthz")" 200 "/healthz still 200 after the bad requests"
vg_one health 0 TENANT_HEALTH_LISTEN=127.0.0.1:$hp -- health
is "$(cat "$TI_TMP/health.out")" ready "tenant-init health says ready"

# ---- continuous sync ----
echo one >"$DATA/new.txt"
wait_until 60 visible new.txt one
ok $? "a new file is uploaded"
echo two >"$DATA/new.txt"
wait_until 60 visible new.txt two
ok $? "a change is uploaded"
rm "$DATA/notes/n1.txt"
wait_until 60 gone notes/n1.txt
ok $? "a deletion reaches the bucket"
mkdir -p "$DATA/d1/d2"
echo deep >"$DATA/d1/d2/deep.txt"
wait_until 60 visible d1/d2/deep.txt deep
ok $? "a file in new nested directories is uploaded"

# ---- SIGUSR1 ----
echo urgent >"$DATA/urgent.txt"
kill -USR1 "$PID1"
wait_until 60 grep -q "syncing now (SIGUSR1)" "$LOG"
ok $? "SIGUSR1: the agent syncs now"
wait_until 60 visible urgent.txt urgent
ok $? "SIGUSR1: the change is uploaded"

# ---- the agent exits by itself (its cleanup runs) and comes back ----
first_agent=$(agent_pid)
ok_cmd "the agent is a child of PID 1 (pid $first_agent)" test -n "$first_agent"
kill -TERM "$first_agent"
wait_pid_exit "$first_agent" 60
ok $? "the agent stopped on SIGTERM"
wait_until 60 grep -q "agent exited with code" "$LOG"
ok $? "PID 1 saw it exit"
is "$(sed -n 's/.*sync: agent exited with code \([0-9]*\).*/\1/p' "$LOG" | head -1)" 0 \
	"... with code 0 (97: valgrind found an error in it)"
wait_until 60 bash -c "[ \$(grep -c 'sync: watching' '$LOG') -ge 2 ]"
ok $? "PID 1 restarted it; it watches again"
echo again >"$DATA/again.txt"
wait_until 60 visible again.txt again
ok $? "the restarted agent uploads"

# ---- SIGTERM: orderly stop with the final flush ----
echo last >"$DATA/last.txt"
kill -TERM "$PID1"
wait_pid_exit "$NS_PID" 120
ok $? "PID 1 exited after SIGTERM"
reap_bounded "$NS_PID"
is "$?" 0 "exit 0 (a clean stop, flushed; no valgrind error in PID 1)"
grep -q "final flush" "$LOG"
ok $? "the agent flushed"
visible last.txt last
ok $? "a file written right before SIGTERM is in the bucket"
grep -q "exiting with code 0" "$LOG"
ok $? "PID 1 logged its exit"

diag "PID 1 run done at ${SECONDS} s"

# ---- the logs ----
vg_clean "PID 1" "$VGD/ns.1"
agents=()
others=()
for f in "$VGD"/ns.*; do
	[ "$f" = "$VGD/ns.1" ] && continue
	if grep -q '^==[0-9]*== Command: .* sync --agent' "$f"; then
		agents+=("$f")
	else
		others+=("$f")
	fi
done
ok $((${#agents[@]} < 2)) "two agent logs (${#agents[@]}: the first, the restarted one)"
complete=0
for f in "${agents[@]}"; do
	if vg_complete "$f"; then
		complete=$((complete + 1))
		vg_clean "agent $(basename "$f")" "$f"
	else
		is "$(vg_stacks "$f")" 0 "agent $(basename "$f") (did not finish): no error report"
		[ "$(vg_stacks "$f")" = 0 ] || vg_show "$f"
	fi
done
ok $((complete < 1)) "an agent log is complete (the agent exited by itself)"
# The agent quits by itself after its final flush; PID 1 must let it
# finish freeing what it holds (not SIGKILL it at once with the rest), or
# the flushing agent's leak check never runs.
is "$complete" "${#agents[@]}" \
	"every agent exited by itself (also the one that flushed at shutdown)"
bad=0
for f in "${others[@]}"; do
	if [ "$(vg_stacks "$f")" != 0 ]; then
		bad=$((bad + 1))
		vg_show "$f"
	fi
done
# Their logs hold what ran between fork and exec: launch, policy apply.
is "$bad" 0 "no error report from the ${#others[@]} forked children before their exec"

diag_logs_if_failed "$LOG" "$TI_TMP"/*.err
done_testing
