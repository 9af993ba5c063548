#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sandbox policy (issue 5): a probe launched as the gateway reports its
# ids, capability sets, no_new_privs, seccomp mode, limits, environment and
# the outcome of escape attempts against PID 1 and a stand-in for the sync
# agent (a root, non-dumpable process). Then every malformed policy fixture
# must stop tenant-init with exit 78 and FILE:LINE, and every valid one
# must pass check-config.
#
# Every run gets storage credentials, the encryption secret and TENANT_*
# settings in its environment: none may reach the gateway.
source "$(dirname "$0")/../lib.sh"

PROBE=$TI_HELPERS/policy-probe
[ -x "$PROBE" ] || skip_all "policy-probe not built (make helpers)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (user switching, namespaces)"
have_unshare_pid || skip_all "unshare --pid does not work here"
getent passwd nobody >/dev/null || skip_all "no 'nobody' user"
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)

# The probe runs as nobody: it must be able to reach the helpers and cwd.
chmod 755 "$TI_TMP"
# The checkout may be where nobody cannot enter (a clone under /root is
# 0700): the probe runs from a copy in $TI_TMP, and $TI_TMP is the cwd.
cp "$PROBE" "$TI_TMP/policy-probe"
PROBE=$TI_TMP/policy-probe
cd "$TI_TMP" || exit 1
DATA=$TI_TMP/data
REMOTE=$TI_TMP/remote
mkdir -p "$DATA" "$REMOTE"

# A real stored key: a secret without its blob is a configuration error.
printf 'poe-key-visible\n' | ENCRYPTION_SECRET=encryption-secret-LEAK \
	"$TI_BIN" encrypt-key >"$TI_TMP/key.enc" 2>/dev/null

BASE_ENV=(
	TENANT_API_KEY_FILE="$TI_TMP/key.enc"
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	HOME=/root LANG=C.UTF-8
	OPENCLAW_STATE_DIR="$DATA"
	TENANT_SYNC_URL="file://$REMOTE"
	TENANT_RESTART=never
	R2_ACCESS_KEY_ID=r2-id-LEAK R2_SECRET_ACCESS_KEY=r2-secret-LEAK
	CF_ACCOUNT_ID=cf-account-LEAK R2_BUCKET_NAME=bucket-LEAK
	R2_USER_PREFIX=prefix-LEAK
	AWS_ACCESS_KEY_ID=aws-id-LEAK AWS_SECRET_ACCESS_KEY=aws-secret-LEAK
	ENCRYPTION_SECRET=encryption-secret-LEAK
	TENANT_API_KEY_SALT=salt-LEAK TENANT_LOG_LEVEL=info
	VISIBLE_SETTING=visible
)

# run_ti NAME [VAR=VALUE...] -- TENANT-INIT-ARGS... : tenant-init (as a
# subreaper) with the secret-laden environment; NAME.out/NAME.err/NAME.rc.
run_ti() {
	_run_ti "$@"
}

# run_ti_pid1 NAME [VAR=VALUE...] -- ARGS... : the same, as real PID 1.
run_ti_pid1() {
	TI_WRAP="unshare --pid --fork --mount-proc --kill-child --" _run_ti "$@"
}

_run_ti() {
	local name=$1 vars=()
	shift
	while [ "$1" != "--" ]; do
		vars+=("$1")
		shift
	done
	shift
	# shellcheck disable=SC2086
	timeout -k 5 120 env -i "${BASE_ENV[@]}" \
		TENANT_HEALTH_LISTEN="127.0.0.1:$(free_port)" "${vars[@]}" \
		${TI_WRAP:-} "$TI_BIN" "$@" \
		>"$TI_TMP/$name.out" 2>"$TI_TMP/$name.err"
	echo $? >"$TI_TMP/$name.rc"
}

rc() { cat "$TI_TMP/$1.rc"; }

# field NAME KEY: the probe's value for KEY.
field() {
	grep -m1 "^$2=" "$TI_TMP/$1.out" | cut -d= -f2-
}

# The sanitizer build compiles the filter but does not load it.
is_sec() {
	if [ -n "${TI_ASAN:-}" ]; then
		skip "$3 (sanitizer build: seccomp not loaded)"
	else
		is "$1" "$2" "$3"
	fi
}

# A non-empty result that is not "ok" (the attempt failed).
refused() {
	local got=$1
	shift
	if [ -n "$got" ] && [ "$got" != ok ]; then
		ok 0 "$* ($got)"
	else
		ok 1 "$* (got '$got')"
	fi
}

no_secret_env() {
	local name=$1 what=$2
	! grep -qE '^env=(R2_|AWS_|ENCRYPTION_|TENANT_|CF_ACCOUNT_ID)' \
		"$TI_TMP/$name.out" && ! grep -q LEAK "$TI_TMP/$name.out"
	ok $? "$what: no R2_*, AWS_*, ENCRYPTION_*, TENANT_* or CF_ACCOUNT_ID"
}

all_caps_zero() {
	local name=$1 what=$2 c
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		is "$(field "$name" "status.$c")" 0000000000000000 "$what: $c"
	done
}

# A stand-in for the sync agent: a root process, non-dumpable.
"$PROBE" hold "$TI_TMP/hold.pid" &
bg_track $!
wait_until 10 test -s "$TI_TMP/hold.pid" || diag "stand-in did not start"
HOLD=$(cat "$TI_TMP/hold.pid")

# ---------------------------------------------------------------------
# 1. Tini mode + TENANT_GATEWAY_USER: the whole built-in policy applies.
# Files left in the data directory by "an earlier run", some hostile.
mkdir -p "$DATA/sub" "$TI_TMP/outside"
echo a >"$DATA/file"
echo b >"$DATA/sub/file"
echo c >"$TI_TMP/outside/target"
echo d >"$TI_TMP/outside/hard"
ln -s "$TI_TMP/outside/target" "$DATA/link"
ln "$TI_TMP/outside/hard" "$DATA/hardlink"

if [ -e /etc/tenant-init/policy.ini ]; then
	diag "/etc/tenant-init/policy.ini exists: the built-in policy is not" \
		"what applies here"
fi
run_ti builtin TENANT_GATEWAY_USER=nobody -- -- "$PROBE" report "$HOLD"
is "$(rc builtin)" 0 "built-in: the probe ran and exited 0"
is "$(field builtin done)" 1 "built-in: the probe reported everything"
is "$(field builtin uid)" "$NOBODY_UID,$NOBODY_UID,$NOBODY_UID" \
	"built-in: uid is nobody's (real, effective, saved)"
is "$(field builtin gid)" "$NOBODY_GID,$NOBODY_GID,$NOBODY_GID" \
	"built-in: gid is nobody's"
all_caps_zero builtin "built-in"
is "$(field builtin status.NoNewPrivs)" 1 "built-in: NoNewPrivs 1"
is_sec "$(field builtin status.Seccomp)" 2 "built-in: Seccomp 2 (filter)"
refused "$(field builtin ptrace_parent)" \
	"built-in: ptrace(PTRACE_ATTACH) on tenant-init fails"
refused "$(field builtin open_parent_mem)" \
	"built-in: tenant-init's /proc/PID/mem cannot be opened"
is "$(field builtin ptrace_target)" EPERM \
	"built-in: ptrace(PTRACE_ATTACH) on the sync-agent stand-in: EPERM"
is "$(field builtin open_target_mem)" EACCES \
	"built-in: the stand-in's /proc/PID/mem: EACCES"
is "$(field builtin open_target_environ)" EACCES \
	"built-in: the stand-in's /proc/PID/environ: EACCES"
is "$(field builtin vm_read_target)" EPERM \
	"built-in: process_vm_readv on the stand-in: EPERM"
is "$(field builtin setuid0)" EPERM "built-in: setuid(0) fails"
is "$(field builtin setgid0)" EPERM "built-in: setgid(0) fails"
is "$(field builtin setgroups)" EPERM "built-in: setgroups fails"
is "$(field builtin capset)" EPERM "built-in: capset(CAP_SYS_ADMIN) fails"
is_sec "$(field builtin keyctl)" EPERM "built-in: keyctl denied (EPERM)"
is_sec "$(field builtin userfaultfd)" EPERM "built-in: userfaultfd denied"
is_sec "$(field builtin perf_event_open)" EPERM \
	"built-in: perf_event_open denied"
is_sec "$(field builtin bpf)" EPERM "built-in: bpf denied"
is "$(field builtin mount)" EPERM "built-in: mount fails"
is_sec "$(field builtin unshare_user)" EPERM \
	"built-in: unshare(CLONE_NEWUSER) denied"
is_sec "$(field builtin clone_newuser)" EPERM \
	"built-in: clone(CLONE_NEWUSER) denied"
is_sec "$(field builtin clone3)" ENOSYS \
	"built-in: clone3 is ENOSYS (glibc falls back to clone)"
is_sec "$(field builtin io_uring_setup)" EPERM \
	"built-in: io_uring_setup denied"
is "$(field builtin thread)" ok "built-in: threads still start"
is "$(field builtin fork_exec)" exit:0 "built-in: fork + exec still work"
is_sec "$(field builtin x32)" signal:SYS \
	"built-in: an x32-ABI syscall kills the process"
is_sec "$(field builtin i386)" signal:SYS \
	"built-in: an i386 (int 0x80) syscall kills the process"
is "$(field builtin rlimit.core)" 0:0 "built-in: core size 0"
no_secret_env builtin "built-in"
grep -q '^env=VISIBLE_SETTING=visible$' "$TI_TMP/builtin.out"
ok $? "built-in: ordinary variables pass"
grep -q '^env=HOME=/nonexistent$' "$TI_TMP/builtin.out" ||
	grep -q "^env=HOME=$(getent passwd nobody | cut -d: -f6)\$" \
		"$TI_TMP/builtin.out"
ok $? "built-in: HOME is the gateway user's"
is "$(stat -c %U "$DATA")" nobody "chown: the data directory is nobody's"
is "$(stat -c %U "$DATA/file")" nobody "chown: a file in it"
is "$(stat -c %U "$DATA/sub/file")" nobody "chown: a file in a subdirectory"
is "$(stat -c %U "$DATA/link")" nobody "chown: a symlink itself"
is "$(stat -c %U "$TI_TMP/outside/target")" root \
	"chown: never through a symlink"
is "$(stat -c %U "$TI_TMP/outside/hard")" root \
	"chown: not a file with a hard link elsewhere"
if [ -n "${TI_ASAN:-}" ]; then
	grep -q "SANITIZER BUILD" "$TI_TMP/builtin.err"
	ok $? "sanitizer build says loudly that seccomp is not loaded"
fi
no_sanitizer_report "$TI_TMP/builtin.err"
ok $? "built-in: no sanitizer report"

# ---------------------------------------------------------------------
# 2. The same as real PID 1: PID 1 itself is out of reach.
run_ti_pid1 pid1 TENANT_GATEWAY_USER=nobody -- -- "$PROBE" report
is "$(rc pid1)" 0 "PID 1: the probe ran"
is "$(field pid1 uid)" "$NOBODY_UID,$NOBODY_UID,$NOBODY_UID" "PID 1: uid"
is "$(field pid1 ptrace_pid1)" EPERM "PID 1: ptrace(PTRACE_ATTACH, 1): EPERM"
is "$(field pid1 open_pid1_environ)" EACCES \
	"PID 1: /proc/1/environ cannot be read"
is "$(field pid1 open_pid1_mem)" EACCES "PID 1: /proc/1/mem cannot be opened"
is "$(field pid1 vm_read_pid1)" EPERM "PID 1: process_vm_readv on PID 1"
all_caps_zero pid1 "PID 1"
is_sec "$(field pid1 status.Seccomp)" 2 "PID 1: Seccomp 2"
no_secret_env pid1 "PID 1"

# The real sync agent (file:// sync on, so it runs) is out of reach too.
mkdir -p "$TI_TMP/agentdata" "$TI_TMP/agentbucket"
run_ti_pid1 agent TENANT_GATEWAY_USER=nobody \
	OPENCLAW_STATE_DIR="$TI_TMP/agentdata" \
	TENANT_SYNC_URL="file://$TI_TMP/agentbucket" -- -- "$PROBE" report agent
is "$(rc agent)" 0 "agent: the probe ran"
ok $([ "$(field agent agent_pid)" -gt 1 ] 2>/dev/null; echo $?) \
	"agent: the gateway sees the sync agent (pid $(field agent agent_pid))"
is "$(field agent ptrace_target)" EPERM \
	"agent: ptrace(PTRACE_ATTACH) on the sync agent: EPERM"
is "$(field agent open_target_environ)" EACCES \
	"agent: the sync agent's /proc/PID/environ: EACCES"
is "$(field agent open_target_mem)" EACCES \
	"agent: the sync agent's /proc/PID/mem: EACCES"
is "$(field agent vm_read_target)" EPERM \
	"agent: process_vm_readv on the sync agent: EPERM"

# 3. Without seccomp and without a user switch (root without
# capabilities), the kernel still refuses: PID 1 and the agent are
# non-dumpable. This is the wall under the filter.
printf '[seccomp]\nprofile = none\n' >"$TI_TMP/noseccomp.ini"
run_ti_pid1 rootpid1 TENANT_POLICY="$TI_TMP/noseccomp.ini" -- -- \
	"$PROBE" report
is "$(field rootpid1 uid)" 0,0,0 "no filter, root: uid stays 0"
is "$(field rootpid1 status.Seccomp)" 0 "no filter, root: Seccomp 0"
is "$(field rootpid1 keyctl)" ok "no filter, root: keyctl is not filtered"
all_caps_zero rootpid1 "no filter, root"
is "$(field rootpid1 ptrace_pid1)" EPERM \
	"no filter, root: ptrace on non-dumpable PID 1 still EPERM"
is "$(field rootpid1 open_pid1_environ)" EACCES \
	"no filter, root: /proc/1/environ still unreadable"
is "$(field rootpid1 open_pid1_mem)" EACCES \
	"no filter, root: /proc/1/mem still refused"
run_ti rootagent TENANT_POLICY="$TI_TMP/noseccomp.ini" -- -- \
	"$PROBE" report "$HOLD"
is "$(field rootagent ptrace_target)" EPERM \
	"no filter, root: ptrace on the non-dumpable stand-in EPERM"
is "$(field rootagent open_target_mem)" EACCES \
	"no filter, root: the stand-in's /proc/PID/mem refused"

# ---------------------------------------------------------------------
# 4. A policy file: limits, umask, workdir, groups, environment,
# capabilities kept through the ambient set.
mkdir -p "$TI_TMP/work"
chmod 755 "$TI_TMP/work"
cat >"$TI_TMP/limits.ini" <<EOF
[gateway]
user = nobody
groups = nogroup
workdir = $TI_TMP/work
umask = 0027

[environment]
pass = PATH LANG VISIBLE_*
set = GREETING="hello world" PORT=\$TENANT_GATEWAY_PORT

[capabilities]
keep = cap_net_bind_service

[limits]
nofile = 256
nproc = 4096
core = 1K
as = 4G
stack = 4M
cpu = 1h
EOF
run_ti_pid1 file TENANT_POLICY="$TI_TMP/limits.ini" -- -- "$PROBE" report
is "$(rc file)" 0 "file: the probe ran"
is "$(field file rlimit.nofile)" 256:256 "file: nofile 256"
is "$(field file rlimit.nproc)" 4096:4096 "file: nproc 4096"
is "$(field file rlimit.core)" 1024:1024 "file: core 1K"
is "$(field file rlimit.as)" 4294967296:4294967296 "file: as 4G"
is "$(field file rlimit.stack)" 4194304:4194304 "file: stack 4M"
is "$(field file rlimit.cpu)" 3600:3600 "file: cpu 1h"
is "$(field file umask)" 0027 "file: umask"
is "$(field file cwd)" "$TI_TMP/work" "file: workdir"
is "$(field file status.Groups)" "$(getent group nogroup | cut -d: -f3)" \
	"file: supplementary groups"
is "$(field file status.CapEff)" 0000000000000400 \
	"file: keep = cap_net_bind_service: effective"
is "$(field file status.CapAmb)" 0000000000000400 \
	"file: kept through the ambient set"
is "$(field file status.CapBnd)" 0000000000000400 \
	"file: bounding set holds only the kept capability"
is "$(field file status.CapInh)" 0000000000000400 "file: inheritable"
is "$(field file setuid0)" EPERM "file: setuid(0) still fails"
grep -q '^env=GREETING=hello world$' "$TI_TMP/file.out"
ok $? "file: set (quoted value)"
grep -q '^env=PORT=18789$' "$TI_TMP/file.out"
ok $? "file: set (\$TENANT_GATEWAY_PORT expanded)"
grep -q '^env=VISIBLE_SETTING=visible$' "$TI_TMP/file.out"
ok $? "file: pass (glob)"
! grep -q '^env=HOME=/root' "$TI_TMP/file.out"
ok $? "file: root's HOME does not pass"
no_secret_env file "file"

# 5. Seccomp actions.
printf '[seccomp]\naction = kill\n' >"$TI_TMP/kill.ini"
run_ti kill TENANT_POLICY="$TI_TMP/kill.ini" -- -- "$PROBE" denied
if [ -n "${TI_ASAN:-}" ]; then
	skip "action = kill (sanitizer build: seccomp not loaded)"
else
	is "$(rc kill)" 159 "action = kill: a denied syscall kills (128+SIGSYS)"
fi
run_ti errno TENANT_GATEWAY_USER=nobody -- -- "$PROBE" denied
is "$(rc errno)" 0 "action = errno: the process lives on"
is_sec "$(field errno keyctl)" EPERM "action = errno: EPERM"
printf '[seccomp]\naction = log\n' >"$TI_TMP/log.ini"
run_ti log TENANT_POLICY="$TI_TMP/log.ini" -- -- "$PROBE" report
is_sec "$(field log status.Seccomp)" 2 "action = log: a filter is loaded"
is "$(field log keyctl)" ok "action = log: the call is allowed"
printf '[seccomp]\nallow = keyctl\n' >"$TI_TMP/allow.ini"
run_ti allow TENANT_POLICY="$TI_TMP/allow.ini" -- -- "$PROBE" report
is "$(field allow keyctl)" ok "allow = keyctl: taken off the list"
is_sec "$(field allow ptrace_pid1)" EPERM "allow: the rest stays denied"
printf '[seccomp]\nprofile = none\ndeny = keyctl\n' >"$TI_TMP/only.ini"
run_ti only TENANT_POLICY="$TI_TMP/only.ini" -- -- "$PROBE" report
is_sec "$(field only keyctl)" EPERM "profile = none + deny: denied"
is "$(field only io_uring_setup)" EFAULT \
	"profile = none: the default list is not applied"

# 6. Loopback in a fresh network namespace.
printf '[network]\nloopback_up = yes\n' >"$TI_TMP/lo-yes.ini"
printf '[network]\nloopback_up = no\n' >"$TI_TMP/lo-no.ini"
TI_WRAP="unshare --net --" _run_ti loyes TENANT_POLICY="$TI_TMP/lo-yes.ini" \
	-- -- "$PROBE" report
is "$(field loyes lo_up)" 1 "loopback_up = yes: lo brought up"
grep -q "brought the loopback interface up" "$TI_TMP/loyes.err"
ok $? "loopback_up = yes: logged"
TI_WRAP="unshare --net --" _run_ti lono TENANT_POLICY="$TI_TMP/lo-no.ini" \
	-- -- "$PROBE" report
is "$(field lono lo_up)" 0 "loopback_up = no: lo left down"
TI_WRAP="unshare --net --" _run_ti lobuiltin TENANT_GATEWAY_USER=nobody \
	-- -- "$PROBE" report
is "$(field lobuiltin lo_up)" 1 "built-in: lo brought up"

# ---------------------------------------------------------------------
# 7. Gateway mode: the built-in policy applies with no user at all;
# TENANT_GATEWAY_CMD wins over [gateway] command; TENANT_GATEWAY_USER
# over [gateway] user.
run_ti_pid1 gwmode TENANT_GATEWAY_CMD="$PROBE report" --
is "$(rc gwmode)" 0 "gateway mode: the probe ran, clean exit"
is "$(field gwmode uid)" 0,0,0 "gateway mode: tenant-init's own user"
all_caps_zero gwmode "gateway mode"
is "$(field gwmode status.NoNewPrivs)" 1 "gateway mode: NoNewPrivs 1"
is_sec "$(field gwmode status.Seccomp)" 2 "gateway mode: Seccomp 2"
is "$(field gwmode rlimit.core)" 0:0 "gateway mode: core 0"
is "$(field gwmode ptrace_pid1)" EPERM "gateway mode: ptrace on PID 1 fails"
no_secret_env gwmode "gateway mode"

printf '[gateway]\ncommand = %s report\nuser = nobody\n' "$PROBE" \
	>"$TI_TMP/cmd.ini"
run_ti_pid1 filecmd TENANT_POLICY="$TI_TMP/cmd.ini" --
is "$(field filecmd uid)" "$NOBODY_UID,$NOBODY_UID,$NOBODY_UID" \
	"[gateway] command and user used"
run_ti_pid1 envcmd TENANT_POLICY="$TI_TMP/cmd.ini" \
	TENANT_GATEWAY_CMD="/bin/echo from-env" --
grep -q '^from-env$' "$TI_TMP/envcmd.out"
ok $? "TENANT_GATEWAY_CMD wins over [gateway] command"
run_ti_pid1 envuser TENANT_POLICY="$TI_TMP/cmd.ini" \
	TENANT_GATEWAY_USER=daemon --
is "$(field envuser uid)" "$(id -u daemon),$(id -u daemon),$(id -u daemon)" \
	"TENANT_GATEWAY_USER wins over [gateway] user"

# 8. Tini mode without a policy file or user: nothing applied (tini).
run_ti tini -- -- "$PROBE" report
is "$(field tini status.Seccomp)" 0 "tini mode: no filter"
is "$(field tini status.NoNewPrivs)" 0 "tini mode: no_new_privs untouched"
[ "$(field tini status.CapEff)" != 0000000000000000 ]
ok $? "tini mode: capabilities untouched"
! grep -qE '^env=(R2_|AWS_SECRET|ENCRYPTION_)' "$TI_TMP/tini.out"
ok $? "tini mode: secrets still never reach the child"

# ---------------------------------------------------------------------
# 9. Malformed policies: exit 78 with FILE:LINE, one by one.
check_invalid() {
	local f=$1 line=$2 match=$3 what=$4
	env -i "${BASE_ENV[@]}" TENANT_POLICY="$f" "$TI_BIN" check-config \
		>/dev/null 2>"$TI_TMP/invalid.err"
	local r=$?
	if [ "$r" -eq 78 ] && grep -qF "$f:$line: " "$TI_TMP/invalid.err" &&
		grep -qF -- "$match" "$TI_TMP/invalid.err"; then
		ok 0 "$what: exit 78, $f:$line: ...$match"
	else
		ok 1 "$what: want exit 78 with $f:$line: ...$match"
		diag "exit $r: $(head -c 400 "$TI_TMP/invalid.err")"
	fi
}

n_invalid=0
for f in "$TI_TOP"/tests/data/invalid-*.ini; do
	line=$(sed -n 's/^; expect-line: //p' "$f")
	match=$(sed -n 's/^; expect: //p' "$f")
	check_invalid "$f" "$line" "$match" "$(basename "$f")"
	n_invalid=$((n_invalid + 1))
done

# Generated: every limit key with each kind of bad value.
gen=$TI_TMP/gen.ini
for key in nofile nproc core as stack cpu; do
	for bad in abc -1 12q 99999999999999999999999; do
		printf '; generated\n[limits]\n%s = %s\n' "$key" "$bad" >"$gen"
		check_invalid "$gen" 3 "[limits] $key: '$bad'" "limits $key=$bad"
		n_invalid=$((n_invalid + 1))
	done
done
# Generated: every section with an unknown key.
for sec in gateway environment capabilities security seccomp limits network; do
	printf '[%s]\nbogus_key = 1\n' "$sec" >"$gen"
	check_invalid "$gen" 2 "[$sec] unknown key 'bogus_key'" "[$sec] bogus_key"
	n_invalid=$((n_invalid + 1))
done
ok "$([ "$n_invalid" -ge 50 ] && echo 0 || echo 1)" \
	"$n_invalid malformed policies checked (50 or more)"

# A bad policy stops the run before anything starts, in both modes.
env -i "${BASE_ENV[@]}" TENANT_POLICY="$TI_TOP/tests/data/invalid-unknown-key.ini" \
	"$TI_BIN" -- touch "$TI_TMP/started" 2>"$TI_TMP/bad-run.err"
is "$?" 78 "tini mode: a bad policy file is exit 78"
[ ! -e "$TI_TMP/started" ]
ok $? "tini mode: ... and the command never ran"
grep -qF "invalid-unknown-key.ini:4: [limits] unknown key 'nofiles'" \
	"$TI_TMP/bad-run.err"
ok $? "tini mode: ... with FILE:LINE and the key"
env -i "${BASE_ENV[@]}" TENANT_POLICY="$TI_TMP/missing.ini" \
	"$TI_BIN" -- true 2>"$TI_TMP/missing.err"
is "$?" 78 "an explicit TENANT_POLICY that does not exist is exit 78"
grep -q "TENANT_POLICY: '$TI_TMP/missing.ini': no such file" \
	"$TI_TMP/missing.err"
ok $? "... naming it"
env -i "${BASE_ENV[@]}" TENANT_GATEWAY_USER=no-such-user-ti \
	TENANT_GATEWAY_CMD=/bin/true "$TI_BIN" 2>"$TI_TMP/nouser.err"
is "$?" 78 "gateway mode: an unknown TENANT_GATEWAY_USER is exit 78"
grep -q "TENANT_GATEWAY_USER: 'no-such-user-ti': no such user" \
	"$TI_TMP/nouser.err"
ok $? "... naming the variable"

# 10. Valid fixtures pass check-config; it prints the policy redacted.
for f in "$TI_TOP"/tests/data/valid*.ini "$TI_TOP/images/policy.ini"; do
	env -i "${BASE_ENV[@]}" TENANT_POLICY="$f" "$TI_BIN" check-config \
		>"$TI_TMP/valid.out" 2>"$TI_TMP/valid.err"
	r=$?
	ok "$r" "$(basename "$f") passes check-config"
	[ "$r" -eq 0 ] || diag "$(head -c 300 "$TI_TMP/valid.err")"
done
printf '[environment]\nset = API_TOKEN=supersecret-value PLAIN=shown\n' \
	>"$TI_TMP/redact.ini"
env -i "${BASE_ENV[@]}" TENANT_POLICY="$TI_TMP/redact.ini" "$TI_BIN" \
	check-config >"$TI_TMP/redact.out" 2>&1
is "$?" 0 "check-config with set entries"
! grep -q supersecret-value "$TI_TMP/redact.out" &&
	grep -q 'API_TOKEN=(redacted)' "$TI_TMP/redact.out"
ok $? "check-config redacts a secret-looking set value"
! grep -q LEAK "$TI_TMP/redact.out"
ok $? "check-config prints no storage secret"
grep -q '^\[seccomp\]' "$TI_TMP/redact.out" &&
	grep -q '^profile = default' "$TI_TMP/redact.out"
ok $? "check-config prints the resolved policy"

done_testing
