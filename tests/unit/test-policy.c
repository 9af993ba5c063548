/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the policy parser (policy/parse.c), fed strings, plus the
 * fixtures in tests/data and the parts of policy_compile() that need no
 * fork: name resolution, the environment filter and the printed form.
 */
#include "policy/policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "tests/tap.h"

static char state_dir[] = "/data";

static struct config test_config(void)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = state_dir;
	cfg.gateway_port = 18789;
	return cfg;
}

/* Parse text; returns the error message ("" when it parsed). */
static const char *parse_err(const char *text)
{
	static char err[POLICY_ERR_MAX];
	struct policy *pol = NULL;

	err[0] = '\0';
	if (policy_parse_string(text, "t.ini", &pol, err, sizeof(err)) == 0) {
		policy_free(pol);
		return "";
	}
	return err;
}

/* Parse + compile (as policy_boot does); returns the error or "". */
static const char *compile_err(const char *text, char *const *envp)
{
	static char err[POLICY_ERR_MAX];
	struct config cfg = test_config();
	struct policy *pol = NULL;
	struct policy_prog *prog = NULL;

	err[0] = '\0';
	if (policy_parse_string(text, "t.ini", &pol, err, sizeof(err)) < 0)
		return err;
	if (policy_compile(pol, &cfg, envp, &prog, err, sizeof(err)) < 0)
		return err;
	policy_prog_free(prog);
	return "";
}

static bool has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

static void test_default(void)
{
	struct policy *pol = policy_default_new();

	ok(pol != NULL, "built-in policy");
	if (!pol)
		return;
	ok(!pol->from_file, "built-in: not from a file");
	ok(pol->no_new_privs, "built-in: no_new_privs");
	ok(pol->loopback_up, "built-in: loopback up");
	is_int(pol->profile, POLICY_PROFILE_DEFAULT, "built-in: profile");
	is_int(pol->action, POLICY_ACTION_ERRNO, "built-in: action errno");
	ok(pol->limits[POLICY_LIMIT_CORE].set &&
	       pol->limits[POLICY_LIMIT_CORE].value == 0 &&
	       !pol->limits[POLICY_LIMIT_CORE].unlimited,
	   "built-in: core 0");
	is_int(pol->keep.n, 0, "built-in: no capability kept");
	ok(pol->user == NULL, "built-in: user unchanged");
	ok(pol->syscalls.n >= 50, "built-in: deny list has %zu syscalls",
	   pol->syscalls.n);
	for (const char *const *s =
		 (const char *const[]){
		     "ptrace", "process_vm_readv", "bpf", "mount", "keyctl",
		     "unshare", "setns", "userfaultfd", "perf_event_open",
		     "kexec_load", "open_by_handle_at", "clone3", NULL};
	     *s; s++) {
		bool found = false;
		for (size_t i = 0; i < pol->syscalls.n; i++)
			found |= strcmp(pol->syscalls.v[i].s, *s) == 0;
		ok(found, "built-in: %s denied", *s);
	}
	ok(policy_words_match(&pol->deny, "TENANT_API_KEY_SALT"),
	   "built-in: TENANT_* denied");
	ok(policy_words_match(&pol->deny, "R2_SECRET_ACCESS_KEY"),
	   "built-in: R2_* denied");
	ok(policy_words_match(&pol->deny, "AWS_SECRET_ACCESS_KEY"),
	   "built-in: AWS_* denied");
	ok(policy_words_match(&pol->deny, "ENCRYPTION_SECRET_FILE"),
	   "built-in: ENCRYPTION_* denied");
	ok(!policy_words_match(&pol->deny, "OPENCLAW_GATEWAY_TOKEN"),
	   "built-in: OpenClaw settings pass");
	ok(!policy_words_match(&pol->deny, "PATH"), "built-in: PATH passes");
	policy_free(pol);
}

static void test_values(void)
{
	struct policy *pol = NULL;
	char err[POLICY_ERR_MAX];
	int r;

	r = policy_parse_string(
	    "[gateway]\n"
	    "command = openclaw gateway --port $TENANT_GATEWAY_PORT\n"
	    "user = 1000:1000\n"
	    "umask = 027\n"
	    "[limits]\n"
	    "nofile = 1024\n"
	    "core = 2K\n"
	    "as = 1G\n"
	    "stack = unlimited\n"
	    "cpu = 2m\n"
	    "nproc = 0\n"
	    "[seccomp]\n"
	    "profile = none\n"
	    "deny = keyctl\n"
	    "   getpid , getppid\n"
	    "action = kill\n"
	    "[network]\n"
	    "loopback_up = off\n",
	    "v.ini", &pol, err, sizeof(err));
	is_int(r, 0, "values parse (%s)", err);
	if (r < 0)
		return;
	is_str(pol->user, "1000:1000", "user");
	is_int(pol->user_line, 3, "user line");
	is_int(pol->umask, 027, "umask");
	is_int(pol->limits[POLICY_LIMIT_NOFILE].value, 1024, "nofile");
	is_int(pol->limits[POLICY_LIMIT_CORE].value, 2048, "core 2K");
	is_int(pol->limits[POLICY_LIMIT_AS].value, 1ll << 30, "as 1G");
	ok(pol->limits[POLICY_LIMIT_STACK].unlimited, "stack unlimited");
	is_int(pol->limits[POLICY_LIMIT_CPU].value, 120, "cpu 2m");
	ok(pol->limits[POLICY_LIMIT_NPROC].set &&
	       pol->limits[POLICY_LIMIT_NPROC].value == 0,
	   "nproc 0");
	is_int(pol->limits[POLICY_LIMIT_NPROC].line, 11, "nproc line");
	is_int(pol->profile, POLICY_PROFILE_NONE, "profile none");
	is_int(pol->syscalls.n, 3, "continuation: three syscalls");
	if (pol->syscalls.n == 3) {
		is_str(pol->syscalls.v[2].s, "getppid", "continued word");
		is_int(pol->syscalls.v[2].line, 15, "continued word's line");
	}
	is_int(pol->action, POLICY_ACTION_KILL, "action kill");
	ok(!pol->loopback_up, "loopback_up off");
	policy_free(pol);

	r = policy_parse_string("[seccomp]\nallow = ptrace, keyctl\n", "a.ini",
				&pol, err, sizeof(err));
	is_int(r, 0, "allow parses");
	if (r == 0) {
		bool found = false;
		for (size_t i = 0; i < pol->syscalls.n; i++)
			found |= strcmp(pol->syscalls.v[i].s, "ptrace") == 0 ||
				 strcmp(pol->syscalls.v[i].s, "keyctl") == 0;
		ok(!found, "allow removes entries from the default list");
		ok(pol->syscalls.n > 40, "the rest of the default list stays");
		policy_free(pol);
	}

	r = policy_parse_string("[environment]\ndeny = FOO_*\n", "d.ini", &pol,
				err, sizeof(err));
	is_int(r, 0, "deny parses");
	if (r == 0) {
		ok(policy_words_match(&pol->deny, "FOO_BAR"), "file deny");
		ok(policy_words_match(&pol->deny, "TENANT_POLICY"),
		   "file deny adds to the built-in list");
		policy_free(pol);
	}

	r = policy_parse_string("\xef\xbb\xbf[limits]\ncore = unlimited\n",
				"bom.ini", &pol, err, sizeof(err));
	is_int(r, 0, "UTF-8 BOM accepted (%s)", err);
	if (r == 0) {
		ok(pol->limits[POLICY_LIMIT_CORE].unlimited, "core unlimited");
		policy_free(pol);
	}

	r = policy_parse_string("[security]\nno_new_privs = no\n[seccomp]\n"
				"profile = none\n",
				"n.ini", &pol, err, sizeof(err));
	is_int(r, 0, "no_new_privs off without a filter");
	if (r == 0) {
		ok(!pol->no_new_privs, "no_new_privs off");
		policy_free(pol);
	}
}

/* One generated malformed policy: the line and words the error names. */
struct bad {
	const char *text;
	unsigned line;
	const char *match;
};

static const struct bad bad[] = {
    {"[nope]\n", 1, "unknown section [nope]"},
    {"[gateway]\n[network]\n[nope]\n", 3, "unknown section [nope]"},
    {"[gateway]\n  [nope]\n", 2, "unknown section [nope]"},
    {"x = 1\n", 1, "'x' is outside any [section]"},
    {"[gateway]\nname = x\n", 2, "[gateway] unknown key 'name'"},
    {"[gateway]\nUser = x\n", 2, "unknown key 'User'"},
    {"[environment]\nkeep = X\n", 2, "unknown key 'keep'"},
    {"[capabilities]\ndrop = cap_chown\n", 2, "unknown key 'drop'"},
    {"[security]\nseccomp = yes\n", 2, "unknown key 'seccomp'"},
    {"[seccomp]\ndefault_action = allow\n", 2, "unknown key"},
    {"[limits]\nmemlock = 1\n", 2, "unknown key 'memlock'"},
    {"[network]\ninterfaces = lo\n", 2, "unknown key 'interfaces'"},
    {"[gateway]\nuser = a\nuser = b\n", 3, "[gateway] user: duplicate key"},
    {"[limits]\ncpu = 1\n\n\ncpu = 2\n", 5, "first set on line 2"},
    {"[seccomp]\ndeny = ptrace\ndeny = bpf\n", 3, "duplicate key"},
    {"[environment]\nset = A=1\nset = B=2\n", 3, "duplicate key"},
    {"[limits]\nnofile = ten\n", 2, "'ten' is not a number"},
    {"[limits]\nnofile = 10k\n", 2, "'10k' is not a number (a count)"},
    {"[limits]\nnproc = 1.5\n", 2, "'1.5' is not a number"},
    {"[limits]\nnproc = +5\n", 2, "'+5' is not a number"},
    {"[limits]\nnproc = 0x10\n", 2, "'0x10' is not a number"},
    {"[limits]\ncore = 1KB\n", 2, "unit must be K, M, G or T"},
    {"[limits]\nas = 18446744073709551615\n", 2, "too large"},
    {"[limits]\nas = 18446744073709551616\n", 2, "too large"},
    {"[limits]\nas = 17179869184G\n", 2, "too large"},
    {"[limits]\ncpu = 5d\n", 2, "unit must be s, m or h"},
    {"[limits]\nstack = -\n", 2, "'-' is not a number"},
    {"[limits]\ncore = unlimitted\n", 2, "not a number"},
    {"[security]\nno_new_privs = Yes\n", 2, "expected yes or no"},
    {"[network]\nloopback_up = y\n", 2, "expected yes or no"},
    {"[seccomp]\nprofile = Default\n", 2, "expected default or none"},
    {"[seccomp]\naction = EPERM\n", 2, "expected errno, kill or log"},
    {"[seccomp]\ndeny = sys_ptrace\n  ptrace()\n", 3,
     "'ptrace()' is not a syscall name"},
    {"[seccomp]\ndeny = a b a\n", 2, "'a' is listed twice"},
    {"[seccomp]\nallow = ptrace\ndeny = ptrace\n", 2,
     "'ptrace' is also denied on line 3"},
    {"[capabilities]\nkeep = CAP_CHOWN cap_chown\n", 2, "listed twice"},
    {"[capabilities]\nkeep = cap_\n", 2, "not a capability name"},
    {"[capabilities]\nkeep = all\n", 2, "not a capability name"},
    {"[gateway]\ngroups = wheel,, sudo!\n", 2,
     "'sudo!' is not a user or group name"},
    {"[gateway]\ngroup = a b\n", 2, "is not a group"},
    {"[gateway]\nuser = a b\n", 2, "expected a user name or uid[:gid]"},
    {"[gateway]\nworkdir = ./x\n", 2, "must be an absolute path"},
    {"[gateway]\numask = 8\n", 2, "expected an octal mode"},
    {"[gateway]\numask = 01777\n", 2, "expected an octal mode"},
    {"[gateway]\numask =\n", 2, "expected an octal mode"},
    {"[gateway]\ncommand =\n", 2, "empty command"},
    {"[gateway]\ncommand = a \"`b`\"\n", 2, "command substitution"},
    {"[gateway]\ncommand = a `b`\n", 2, "shell operator '`'"},
    {"[gateway]\ncommand = a $ENCRYPTION_SECRET\n", 2, "a secret"},
    {"[gateway]\ncommand = a > b\n", 2, "shell operator '>'"},
    {"[environment]\nset = =x\n", 2, "'=x' is not NAME=VALUE"},
    {"[environment]\nset = 1A=x\n", 2, "is not NAME=VALUE"},
    {"[environment]\nset = A-B=x\n", 2, "is not NAME=VALUE"},
    {"[environment]\nset = R2_BUCKET_NAME=x\n", 2, "denied variable"},
    {"[environment]\nset = AWS_REGION=x\n", 2, "denied variable"},
    {"[environment]\ndeny = X\nset = X=1\n", 3, "X is a denied variable"},
    {"[environment]\npass = A=B\n", 2, "not a variable name or glob"},
    {"[environment]\ndeny = $X\n", 2, "not a variable name or glob"},
    {"[gateway]\nuser = x\n  y\n", 3, "indented line read as a continuation"},
    {"[limits]\ncore = 0\n\tcpu = 1\n", 3, "only lists continue"},
    {"[security]\nno_new_privs = false\n", 2, "'no' needs"},
    {"[seccomp]\nprofile = none\ndeny = ptrace\n[security]\n"
     "no_new_privs = no\n",
     5, "'no' needs"},
    {"[gateway]\nuser\n", 2, "syntax error"},
    {"[gateway\n", 1, "syntax error"},
    {"[limits]\nnofile = 10\n[security\n", 3, "syntax error"},
};

static void test_bad(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char want[32];
		const char *e = parse_err(bad[i].text);

		(void)snprintf(want, sizeof(want), "t.ini:%u: ", bad[i].line);
		if (!ok(strncmp(e, want, strlen(want)) == 0 &&
			    has(e, bad[i].match),
			"malformed #%zu -> %s... %s", i + 1, want,
			bad[i].match))
			diag("got: '%s'", e);
	}
}

/* Syscall, capability, user and group names are checked at compile. */
static void test_compile_errors(void)
{
	static const struct bad cbad[] = {
	    {"[seccomp]\ndeny = ptrace nosuchcall\n", 2,
	     "[seccomp] deny: unknown syscall 'nosuchcall'"},
	    {"[seccomp]\nallow = nosuchcall\n", 2,
	     "[seccomp] allow: unknown syscall 'nosuchcall'"},
	    {"[seccomp]\nprofile = none\ndeny = getpid\n  nosuchcall2\n", 4,
	     "unknown syscall 'nosuchcall2'"},
	    {"[capabilities]\nkeep = cap_nosuch\n", 2,
	     "unknown capability 'cap_nosuch'"},
	    {"[gateway]\nuser = no-such-user-ti\n", 2, "no such user"},
	    {"[gateway]\nuser = 4000:no-such-group-ti\n", 2,
	     "'no-such-group-ti': no such group"},
	    {"[gateway]\ngroup = no-such-group-ti\n", 2, "no such group"},
	    {"[gateway]\ngroups = root\n\tno-such-group-ti\n", 3,
	     "[gateway] groups: 'no-such-group-ti': no such group"},
	    {"[gateway]\nworkdir = /no/such/dir\n", 2, "is not a directory"},
	    {"[limits]\nnofile = unlimited\n", 2, "cannot be unlimited"},
	    {"[environment]\nset = A=1 B=2\n  A=3\n", 3, "A is set twice"},
	    {"[environment]\nset = A=$AWS_SECRET_ACCESS_KEY\n", 2,
	     "refers to $AWS_SECRET_ACCESS_KEY"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cbad); i++) {
		char want[32];
		const char *e = compile_err(cbad[i].text, NULL);

		(void)snprintf(want, sizeof(want), "t.ini:%u: ", cbad[i].line);
		if (!ok(strncmp(e, want, strlen(want)) == 0 &&
			    has(e, cbad[i].match),
			"compile error #%zu -> %s... %s", i + 1, want,
			cbad[i].match))
			diag("got: '%s'", e);
	}
	is_str(compile_err("", NULL), "", "the empty policy compiles");
}

static void test_long_lines(void)
{
	char text[512];
	size_t n;

	/* Exactly the longest line inih reads whole, then one more. */
	n = (size_t)snprintf(text, sizeof(text), "[limits]\n; ");
	memset(text + n, 'x', 197 - 2);
	text[n + 195] = '\n';
	text[n + 196] = '\0';
	is_str(parse_err(text), "", "a 197-character line is accepted");
	memset(text + n, 'x', 198 - 2);
	text[n + 196] = '\n';
	text[n + 197] = '\0';
	ok(has(parse_err(text), "t.ini:2: line too long (198 characters"),
	   "a 198-character line is refused with its line");
	/* A CR before the LF does not count against the limit. */
	memset(text + n, 'x', 197 - 2);
	memcpy(text + n + 195, "\r\n", 3);
	is_str(parse_err(text), "", "CRLF: the CR is not counted");
	/* The last line, without a newline. */
	n = (size_t)snprintf(text, sizeof(text), "[seccomp]\ndeny = ");
	memset(text + n, 'a', 250);
	text[n + 250] = '\0';
	ok(has(parse_err(text), "t.ini:2: line too long"),
	   "an over-long last line is refused");
}

static void test_env(void)
{
	char *envp[] = {"PATH=/bin", "HOME=/root", "NAME=world",
			"R2_SECRET_ACCESS_KEY=s3cr3t", NULL};
	struct config cfg = test_config();
	struct policy *pol = NULL;
	struct policy_prog *prog = NULL;
	char err[POLICY_ERR_MAX];
	char *const *extra;
	int r;

	r = policy_parse_string(
	    "[environment]\n"
	    "pass = PATH LANG LC_*\n"
	    "set = GREETING=\"hello $NAME\" "
	    "PORT=$TENANT_GATEWAY_PORT D=${OPENCLAW_STATE_DIR}\n",
	    "e.ini", &pol, err, sizeof(err));
	is_int(r, 0, "environment policy parses (%s)", err);
	if (r < 0)
		return;
	r = policy_compile(pol, &cfg, envp, &prog, err, sizeof(err));
	is_int(r, 0, "environment policy compiles (%s)", err);
	if (r < 0)
		return;
	ok(policy_env_keep_cb("PATH", prog), "pass: PATH");
	ok(policy_env_keep_cb("LC_ALL", prog), "pass: LC_* glob");
	ok(!policy_env_keep_cb("HOME", prog), "not passed: HOME");
	ok(!policy_env_keep_cb("TENANT_PASS", prog), "denied: TENANT_*");
	extra = policy_env_extra(prog);
	ok(extra && extra[0] && strcmp(extra[0], "GREETING=hello world") == 0,
	   "set: $NAME expanded inside quotes");
	ok(extra && extra[0] && extra[1] && strcmp(extra[1], "PORT=18789") == 0,
	   "set: $TENANT_GATEWAY_PORT has its default");
	ok(extra && extra[0] && extra[1] && extra[2] &&
	       strcmp(extra[2], "D=/data") == 0,
	   "set: ${OPENCLAW_STATE_DIR} has its default");
	ok(policy_command(prog) == NULL, "no command in the policy");
	policy_prog_free(prog);

	/* Defaults: everything not denied passes. */
	pol = policy_default_new();
	r = pol ? policy_compile(pol, &cfg, envp, &prog, err, sizeof(err))
		: -ENOMEM;
	is_int(r, 0, "built-in policy compiles (%s)", err);
	if (r < 0)
		return;
	ok(policy_env_keep_cb("HOME", prog), "built-in: HOME passes");
	ok(!policy_env_keep_cb("AWS_REGION", prog), "built-in: AWS_* denied");
	ok(!policy_env_keep_cb("CF_ACCOUNT_ID", prog),
	   "built-in: CF_ACCOUNT_ID denied");
	ok(policy_wants_loopback(prog), "built-in: loopback");
	{
		uid_t u;
		gid_t g;
		ok(!policy_gateway_owner(prog, &u, &g) && u == geteuid(),
		   "built-in: the gateway keeps tenant-init's user");
	}
	policy_prog_free(prog);
}

/*
 * Found by fuzz-policy: the parser checked set words with every $NAME
 * expanded to nothing, so "set = $HOME A=1" passed as "A=1"; at compile
 * $HOME became a word without '=', and PID 1 wrote through a NULL
 * pointer. The NAME of a set word must be literal: an expansion there
 * could also turn it into a denied name ("R$X=v" with X=2_SECRET).
 */
static void test_set_name_literal(void)
{
	char *envp[] = {"HOME=/root", "X=2_ACCESS_KEY_ID", "Y=B", NULL};

	ok(has(parse_err("[environment]\nset = $HOME A=1\n"),
	       "t.ini:2: [environment] set:"),
	   "set: a word that is only $NAME is refused at parse time");
	ok(has(compile_err("[environment]\nset = $HOME A=1\n", envp),
	       "t.ini:2:"),
	   "set: ... and never reaches compile");
	ok(has(parse_err("[environment]\nset = R$X=v\n"), "t.ini:2:"),
	   "set: $NAME inside the name is refused");
	ok(has(parse_err("[environment]\nset = \"$Y\"=v\n"), "t.ini:2:"),
	   "set: a quoted $NAME as the name is refused");
	is_str(compile_err("[environment]\nset = A=$HOME B=\"$X\"\n", envp), "",
	       "set: $NAME in values still expands");
}

static void test_command(void)
{
	char *envp[] = {"PATH=/bin", NULL};
	struct config cfg = test_config();
	struct policy *pol = NULL;
	struct policy_prog *prog = NULL;
	char err[POLICY_ERR_MAX];
	const char *text = "[gateway]\ncommand = 'my gw' --port "
			   "$TENANT_GATEWAY_PORT\n";
	int r;

	r = policy_parse_string(text, "c.ini", &pol, err, sizeof(err));
	if (r == 0)
		r = policy_compile(pol, &cfg, envp, &prog, err, sizeof(err));
	is_int(r, 0, "command compiles (%s)", err);
	if (r == 0) {
		char *const *argv = policy_command(prog);
		ok(argv && strcmp(argv[0], "my gw") == 0 &&
		       strcmp(argv[2], "18789") == 0 && !argv[3],
		   "command split and expanded");
		policy_prog_free(prog);
	}
	/* TENANT_GATEWAY_CMD, and tini mode's COMMAND, win over the file. */
	cfg.gateway_cmd_set = true;
	r = policy_parse_string(text, "c.ini", &pol, err, sizeof(err));
	if (r == 0)
		r = policy_compile(pol, &cfg, envp, &prog, err, sizeof(err));
	if (r == 0) {
		ok(policy_command(prog) == NULL,
		   "TENANT_GATEWAY_CMD wins over [gateway] command");
		policy_prog_free(prog);
	}
	cfg.gateway_cmd_set = false;
	cfg.tini_mode = true;
	r = policy_parse_string(text, "c.ini", &pol, err, sizeof(err));
	if (r == 0)
		r = policy_compile(pol, &cfg, envp, &prog, err, sizeof(err));
	if (r == 0) {
		ok(policy_command(prog) == NULL,
		   "COMMAND wins over [gateway] command");
		policy_prog_free(prog);
	}
}

static void test_user_override(void)
{
	struct config cfg = test_config();
	struct policy *pol = NULL;
	struct policy_prog *prog = NULL;
	char err[POLICY_ERR_MAX];
	int r;

	r = policy_parse_string("[gateway]\nuser = no-such-user-ti\n", "u.ini",
				&pol, err, sizeof(err));
	is_int(r, 0, "user parses");
	if (r < 0)
		return;
	ok(policy_user_override(pol, "no-such-user-env") == 0, "override");
	r = policy_compile(pol, &cfg, NULL, &prog, err, sizeof(err));
	ok(r == -EINVAL && has(err, "TENANT_GATEWAY_USER: "
				    "'no-such-user-env': no such user"),
	   "TENANT_GATEWAY_USER wins and is named in the error");
	if (r == 0)
		policy_prog_free(prog);
	if (geteuid() != 0) {
		skip(2, "needs root");
		return;
	}
	r = policy_parse_string("", "u.ini", &pol, err, sizeof(err));
	if (r == 0 && policy_user_override(pol, "40123") == 0)
		r = policy_compile(pol, &cfg, NULL, &prog, err, sizeof(err));
	is_int(r, 0, "numeric user compiles (%s)", err);
	if (r == 0) {
		uid_t u;
		gid_t g;
		ok(policy_gateway_owner(prog, &u, &g) && u == 40123 &&
		       g == 40123,
		   "a uid without passwd entry gets the gid of the same "
		   "number");
		policy_prog_free(prog);
	}
}

static char *read_all(int fd)
{
	static char buf[16384];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_print(void)
{
	char *envp[] = {"TOK=tok-value-123", NULL};
	struct config cfg = test_config();
	struct policy *pol = NULL;
	struct policy_prog *prog = NULL;
	char err[POLICY_ERR_MAX];
	_cleanup_close_ int fd = -1;
	const char *out;
	int r;

	r = policy_parse_string(
	    "[environment]\n"
	    "set = API_TOKEN=supersecret-value PLAIN=shown\n"
	    "  VIA=$TOK\n",
	    "p.ini", &pol, err, sizeof(err));
	if (r == 0)
		r = policy_compile(pol, &cfg, envp, &prog, err, sizeof(err));
	is_int(r, 0, "print: compiles (%s)", err);
	if (r < 0)
		return;
	fd = memfd_create("out", MFD_CLOEXEC);
	ok(fd >= 0 && policy_print(prog, fd) == 0, "print: written");
	out = read_all(fd);
	ok(!has(out, "supersecret-value") && has(out, "API_TOKEN=(redacted)"),
	   "print: a secret-looking name's value is redacted");
	ok(!has(out, "tok-value-123") && has(out, "VIA=(redacted)"),
	   "print: an expanded value is redacted");
	ok(has(out, "PLAIN=shown"), "print: a plain value is shown");
	ok(has(out, "[seccomp]") && has(out, "ptrace"),
	   "print: seccomp list shown");
	policy_prog_free(prog);
}

/* images/policy.ini is the built-in policy written out. */
static void test_image_example(const char *top)
{
	char path[4096];
	struct config cfg = test_config();
	struct policy *a = NULL, *b = NULL;
	struct policy_prog *pa = NULL, *pb = NULL;
	char err[POLICY_ERR_MAX];
	_cleanup_close_ int fa = -1;
	_cleanup_close_ int fb = -1;
	char *ta;
	int r;

	(void)snprintf(path, sizeof(path), "%s/images/policy.ini", top);
	r = policy_load_file(path, &a, err, sizeof(err));
	is_int(r, 0, "images/policy.ini parses (%s)", err);
	b = policy_default_new();
	if (r < 0 || !b) {
		policy_free(a);
		policy_free(b);
		return;
	}
	if (policy_compile(a, &cfg, NULL, &pa, err, sizeof(err)) < 0 ||
	    policy_compile(b, &cfg, NULL, &pb, err, sizeof(err)) < 0) {
		ok(0, "images/policy.ini compiles: %s", err);
		policy_prog_free(pa);
		if (!pb)
			policy_free(b);
		return;
	}
	fa = memfd_create("a", MFD_CLOEXEC);
	fb = memfd_create("b", MFD_CLOEXEC);
	(void)policy_print(pa, fa);
	(void)policy_print(pb, fb);
	ta = strdup(strchr(read_all(fa), '\n'));
	is_str(ta, strchr(read_all(fb), '\n'),
	       "images/policy.ini resolves to the built-in policy");
	free(ta);
	policy_prog_free(pa);
	policy_prog_free(pb);
}

static void test_fixtures(const char *top)
{
	char dir[4096];
	struct dirent **ents = NULL;
	int n, nvalid = 0, ninvalid = 0;
	struct config cfg = test_config();

	(void)snprintf(dir, sizeof(dir), "%s/tests/data", top);
	n = scandir(dir, &ents, NULL, alphasort);
	ok(n > 0, "fixtures in %s", dir);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char path[8192], err[POLICY_ERR_MAX], want[8300];
		char line_s[32] = "", match[256] = "";
		struct policy *pol = NULL;
		struct policy_prog *prog = NULL;
		bool valid = strncmp(name, "valid", 5) == 0;
		bool invalid = strncmp(name, "invalid-", 8) == 0;
		int r;

		if ((!valid && !invalid) || !strstr(name, ".ini"))
			goto next;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
		r = policy_load_file(path, &pol, err, sizeof(err));
		if (valid) {
			nvalid++;
			/* Names (users, caps) resolve only as root. */
			if (r == 0 && geteuid() == 0)
				r = policy_compile(pol, &cfg, NULL, &prog, err,
						   sizeof(err));
			else
				policy_free(pol);
			is_int(r, 0, "%s is accepted (%s)", name, err);
			policy_prog_free(prog);
			goto next;
		}
		ninvalid++;
		{
			_cleanup_fclose_ FILE *f = fopen(path, "re");
			char l[512];
			while (f && fgets(l, sizeof(l), f)) {
				l[strcspn(l, "\n")] = '\0';
				if (!strncmp(l, "; expect-line: ", 15))
					(void)snprintf(line_s, sizeof(line_s),
						       "%.30s", l + 15);
				if (!strncmp(l, "; expect: ", 10))
					(void)snprintf(match, sizeof(match),
						       "%.250s", l + 10);
			}
		}
		if (r == 0)
			r = policy_compile(pol, &cfg, NULL, &prog, err,
					   sizeof(err));
		policy_prog_free(prog);
		(void)snprintf(want, sizeof(want), "%s:%s: ", path, line_s);
		if (!ok(r == -EINVAL && strncmp(err, want, strlen(want)) == 0 &&
			    *match && has(err, match),
			"%s is refused at line %s: %s", name, line_s, match))
			diag("got: '%s'", err);
	next:
		free(ents[i]);
	}
	free(ents);
	ok(nvalid >= 5 && ninvalid >= 40, "%d valid and %d invalid fixtures",
	   nvalid, ninvalid);
}

static void test_files(void)
{
	char path[] = "/tmp/ti-policy-XXXXXX";
	char err[POLICY_ERR_MAX];
	struct policy *pol = NULL;
	int fd = mkstemp(path);

	ok(fd >= 0, "temp file");
	if (fd < 0)
		return;
	ok(write(fd, "[limits]\ncore = 0\x00\n", 18) == 18, "write");
	close(fd);
	ok(policy_load_file(path, &pol, err, sizeof(err)) == -EINVAL &&
	       has(err, ":2: the file contains a NUL byte"),
	   "a NUL byte is refused with its line (%s)", err);
	unlink(path);
	ok(policy_load_file("/nonexistent/p.ini", &pol, err, sizeof(err)) ==
		   -EINVAL &&
	       has(err, "/nonexistent/p.ini: unable to open"),
	   "a missing file is an error naming it");
	ok(policy_load_file("/tmp", &pol, err, sizeof(err)) == -EINVAL &&
	       has(err, "not a regular file"),
	   "a directory is refused");
}

int main(void)
{
	const char *top = getenv("TI_TOP") ? getenv("TI_TOP") : ".";

	test_default();
	test_values();
	test_bad();
	test_compile_errors();
	test_long_lines();
	test_env();
	test_set_name_literal();
	test_command();
	test_user_override();
	test_print();
	test_image_example(top);
	test_fixtures(top);
	test_files();
	return tap_done();
}
