/* SPDX-License-Identifier: MIT */
/*
 * Policy parser: INI text -> struct policy, through inih. Pure: the only
 * side effect is reading the policy file in policy_load_file().
 *
 * inih (Debian's libinih, built with INI_HANDLER_LINENO 0 and INI_MAX_LINE
 * 200; we must not redefine either, the handler ABI would no longer match)
 * does not tell the handler which line it is on, silently splits a line
 * longer than its buffer into several "lines", and does not report a
 * section that has no keys. So the text is checked first (size, NUL
 * bytes, line length), then fed to ini_parse_stream() through a reader
 * that hands out one line per call and counts them: when the handler runs,
 * the reader's count is the line being handled. Section headers are
 * checked in the reader too, so "[typo]" with nothing under it is still an
 * error.
 *
 * Policy is a security boundary: every unknown section or key, repeated
 * key, malformed value is an error with the file and line, never a
 * warning. Names that need the system to check (users, capabilities,
 * syscalls) are checked in apply.c, still with their line.
 */
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/config.h"

/*
 * The longest line inih reads whole: its buffer holds INI_MAX_LINE bytes
 * including "\r\n" and the terminating NUL (ini.h: "must be 3 more than
 * the longest line").
 */
#define LINE_MAX_CHARS (INI_MAX_LINE - 3)

/*
 * The default seccomp deny list, modelled on Docker's default profile
 * (which allows these only with capabilities the gateway never has) and
 * trimmed to what a Node gateway that runs arbitrary tools can live
 * without. Documented, with the reasoning, in docs/policy.md. The
 * kernel refuses most of them anyway without capabilities; the filter is
 * the second wall, and it also closes the ones that need no capability at
 * all (ptrace of a same-uid process, userfaultfd, perf_event_open,
 * unprivileged user namespaces, io_uring, keyrings).
 *
 * Two entries are special in apply.c: "clone3" fails with ENOSYS (so
 * glibc falls back to clone(), whose flags the filter can see), and
 * "unshare" also denies clone() with any CLONE_NEW* flag.
 */
static const char *const default_syscalls[] = {
    /* other processes' memory, registers and descriptors */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "kcmp",
    /* loading code into, or replacing, the kernel */
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "bpf",
    /* the filesystem view is the container's to decide */
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    /* namespaces: unprivileged user namespaces are kernel attack surface */
    "unshare",
    "setns",
    "clone3",
    /* the kernel keyrings are not namespaced */
    "keyctl",
    "add_key",
    "request_key",
    /* large kernel attack surface, not needed by Node or common tools */
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* host-wide state: power, swap, accounting, clocks, names, log */
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "syslog",
    /* file handles bypass path-based checks ("shocker") */
    "open_by_handle_at",
    "name_to_handle_at",
    /* raw port I/O */
    "iopl",
    "ioperm",
    /* obsolete, or kernel debugging */
    "lookup_dcookie",
    "quotactl",
    "quotactl_fd",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
};

/*
 * Variables the gateway never sees, whatever the file says (deny entries
 * of a file add to these). gwenv also drops config_is_secret_var() names
 * on its own; this list adds tenant-init's own settings and the rest of
 * the storage configuration, which the gateway has no business knowing.
 */
static const char *const default_env_deny[] = {
    "TENANT_*", "R2_*", "AWS_*", "ENCRYPTION_*", "CF_ACCOUNT_ID",
};

/* ---- the key table ---- */

enum key_type {
	T_STR,	   /* one string */
	T_WORDS,   /* a list: words separated by blanks or commas */
	T_SET,	   /* NAME=VALUE words, shell-quoted */
	T_BOOL,	   /* yes/no */
	T_UMASK,   /* octal */
	T_PROFILE, /* default/none */
	T_ACTION,  /* errno/kill/log */
	T_LIMIT,   /* number with unit, or unlimited */
};

enum word_kind {
	W_NONE,
	W_NAME,	   /* a user/group name or number */
	W_GLOB,	   /* an environment variable name glob */
	W_SYSCALL, /* a syscall name */
	W_CAP,	   /* a capability name */
};

enum key_id {
	K_COMMAND,
	K_USER,
	K_GROUP,
	K_GROUPS,
	K_WORKDIR,
	K_UMASK,
	K_PASS,
	K_SET,
	K_ENV_DENY,
	K_KEEP,
	K_NNP,
	K_PROFILE,
	K_SC_DENY,
	K_SC_ALLOW,
	K_ACTION,
	K_NOFILE,
	K_NPROC,
	K_CORE,
	K_AS,
	K_STACK,
	K_CPU,
	K_LOOPBACK,
	K_COUNT,
};

struct key_def {
	const char *section;
	const char *name;
	enum key_type type;
	enum word_kind word;
	int limit; /* enum policy_limit_id for T_LIMIT */
};

static const struct key_def keys[K_COUNT] = {
    [K_COMMAND] = {"gateway", "command", T_STR, W_NONE, 0},
    [K_USER] = {"gateway", "user", T_STR, W_NONE, 0},
    [K_GROUP] = {"gateway", "group", T_STR, W_NONE, 0},
    [K_GROUPS] = {"gateway", "groups", T_WORDS, W_NAME, 0},
    [K_WORKDIR] = {"gateway", "workdir", T_STR, W_NONE, 0},
    [K_UMASK] = {"gateway", "umask", T_UMASK, W_NONE, 0},
    [K_PASS] = {"environment", "pass", T_WORDS, W_GLOB, 0},
    [K_SET] = {"environment", "set", T_SET, W_NONE, 0},
    [K_ENV_DENY] = {"environment", "deny", T_WORDS, W_GLOB, 0},
    [K_KEEP] = {"capabilities", "keep", T_WORDS, W_CAP, 0},
    [K_NNP] = {"security", "no_new_privs", T_BOOL, W_NONE, 0},
    [K_PROFILE] = {"seccomp", "profile", T_PROFILE, W_NONE, 0},
    [K_SC_DENY] = {"seccomp", "deny", T_WORDS, W_SYSCALL, 0},
    [K_SC_ALLOW] = {"seccomp", "allow", T_WORDS, W_SYSCALL, 0},
    [K_ACTION] = {"seccomp", "action", T_ACTION, W_NONE, 0},
    [K_NOFILE] = {"limits", "nofile", T_LIMIT, W_NONE, POLICY_LIMIT_NOFILE},
    [K_NPROC] = {"limits", "nproc", T_LIMIT, W_NONE, POLICY_LIMIT_NPROC},
    [K_CORE] = {"limits", "core", T_LIMIT, W_NONE, POLICY_LIMIT_CORE},
    [K_AS] = {"limits", "as", T_LIMIT, W_NONE, POLICY_LIMIT_AS},
    [K_STACK] = {"limits", "stack", T_LIMIT, W_NONE, POLICY_LIMIT_STACK},
    [K_CPU] = {"limits", "cpu", T_LIMIT, W_NONE, POLICY_LIMIT_CPU},
    [K_LOOPBACK] = {"network", "loopback_up", T_BOOL, W_NONE, 0},
};

static const char *const sections[] = {
    "gateway", "environment", "capabilities", "security",
    "seccomp", "limits",      "network",
};

/* ---- small helpers ---- */

const char *policy_profile_name(enum policy_profile p)
{
	switch (p) {
	case POLICY_PROFILE_DEFAULT:
		return "default";
	case POLICY_PROFILE_NONE:
		return "none";
	default:
		return "?";
	}
}

const char *policy_action_name(enum policy_action a)
{
	switch (a) {
	case POLICY_ACTION_ERRNO:
		return "errno";
	case POLICY_ACTION_KILL:
		return "kill";
	case POLICY_ACTION_LOG:
		return "log";
	default:
		return "?";
	}
}

const char *policy_limit_name(enum policy_limit_id id)
{
	static const char *const names[POLICY_LIMIT_COUNT] = {
	    [POLICY_LIMIT_NOFILE] = "nofile", [POLICY_LIMIT_NPROC] = "nproc",
	    [POLICY_LIMIT_CORE] = "core",     [POLICY_LIMIT_AS] = "as",
	    [POLICY_LIMIT_STACK] = "stack",   [POLICY_LIMIT_CPU] = "cpu",
	};

	return (unsigned)id < POLICY_LIMIT_COUNT ? names[id] : "?";
}

const char *policy_where(const struct policy *pol, unsigned line, char *buf,
			 size_t cap)
{
	if (line)
		(void)snprintf(buf, cap, "%s:%u", pol->source, line);
	else
		(void)snprintf(buf, cap, "(built-in)");
	return buf;
}

static int words_push(struct policy_words *w, const char *s, size_t len,
		      unsigned line)
{
	struct policy_word *v;
	char *d = strndup(s, len);

	if (!d)
		return -ENOMEM;
	v = realloc(w->v, (w->n + 1) * sizeof(*v));
	if (!v) {
		free(d);
		return -ENOMEM;
	}
	w->v = v;
	w->v[w->n++] = (struct policy_word){.s = d, .line = line};
	return 0;
}

static void words_free(struct policy_words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].s);
	free(w->v);
	*w = (struct policy_words){0};
}

static const struct policy_word *words_find(const struct policy_words *w,
					    const char *s)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->v[i].s, s) == 0)
			return &w->v[i];
	return NULL;
}

bool policy_words_match(const struct policy_words *globs, const char *name)
{
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i].s, name, 0) == 0)
			return true;
	return false;
}

void policy_free(struct policy *pol)
{
	if (!pol)
		return;
	free(pol->source);
	free(pol->command);
	free(pol->user);
	free(pol->group);
	words_free(&pol->groups);
	free(pol->workdir);
	words_free(&pol->pass);
	for (size_t i = 0; i < pol->set.n; i++)
		explicit_bzero(pol->set.v[i].s, strlen(pol->set.v[i].s));
	words_free(&pol->set);
	words_free(&pol->deny);
	words_free(&pol->keep);
	words_free(&pol->syscalls);
	words_free(&pol->allow);
	free(pol);
}

static struct policy *policy_alloc(const char *source)
{
	struct policy *pol = calloc(1, sizeof(*pol));

	if (!pol)
		return NULL;
	pol->source = strdup(source);
	if (!pol->source)
		goto fail;
	pol->no_new_privs = true;
	pol->loopback_up = true;
	pol->profile = POLICY_PROFILE_DEFAULT;
	pol->action = POLICY_ACTION_ERRNO;
	/* No core dumps: a dump of the gateway holds the tenant's key. */
	pol->limits[POLICY_LIMIT_CORE] =
	    (struct policy_limit){.set = true, .value = 0};
	for (size_t i = 0; i < ARRAY_SIZE(default_env_deny); i++)
		if (words_push(&pol->deny, default_env_deny[i],
			       strlen(default_env_deny[i]), 0) < 0)
			goto fail;
	return pol;
fail:
	policy_free(pol);
	errno = ENOMEM;
	return NULL;
}

/* ---- the parser ---- */

struct parse_state {
	struct policy *pol;
	/* reader */
	const char *cur, *end;
	const char *line; /* raw start of the line being handled */
	unsigned lineno;
	/* keys */
	unsigned seen[K_COUNT];
	int last_key; /* key of the previous key line, for continuations */
	char section[64];
	struct policy_words sc_deny; /* the file's [seccomp] deny */
	/* the first error */
	unsigned err_line;
	int err_code;
	char *err;
	size_t errlen;
};

static int perr(struct parse_state *st, const struct key_def *k,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the first error, "FILE:LINE: [section] key: problem". */
static int perr(struct parse_state *st, const struct key_def *k,
		const char *fmt, ...)
{
	char msg[POLICY_ERR_MAX / 2];
	va_list ap;

	if (st->err_line)
		return 0;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->err_line = st->lineno ? st->lineno : 1;
	st->err_code = -EINVAL;
	if (k)
		(void)snprintf(st->err, st->errlen, "%s:%u: [%s] %s: %s",
			       st->pol->source, st->err_line, k->section,
			       k->name, msg);
	else
		(void)snprintf(st->err, st->errlen, "%s:%u: %s",
			       st->pol->source, st->err_line, msg);
	return 0;
}

static int oom(struct parse_state *st)
{
	if (!st->err_line) {
		st->err_line = st->lineno ? st->lineno : 1;
		st->err_code = -ENOMEM;
		(void)snprintf(st->err, st->errlen, "out of memory");
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Check one list word; returns NULL when fine, else why not. */
static const char *word_problem(enum word_kind kind, const char *w)
{
	const char *p;

	switch (kind) {
	case W_NAME:
		/* POSIX portable user/group names, or a number */
		for (p = w; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
				return "is not a user or group name";
		return NULL;
	case W_GLOB:
		for (p = w; *p; p++)
			if (!isalnum((unsigned char)*p) &&
			    !strchr("_*?[]!-", *p))
				return "is not a variable name or glob";
		return NULL;
	case W_SYSCALL:
		for (p = w; *p; p++)
			if (!islower((unsigned char)*p) &&
			    !isdigit((unsigned char)*p) && *p != '_')
				return "is not a syscall name";
		return NULL;
	case W_CAP:
		if (strncasecmp(w, "cap_", 4) != 0 || !w[4])
			return "is not a capability name (cap_...)";
		for (p = w; *p; p++)
			if (!isalpha((unsigned char)*p) && *p != '_')
				return "is not a capability name (cap_...)";
		return NULL;
	case W_NONE:
	default:
		return NULL;
	}
}

static struct policy_words *words_of(struct parse_state *st, enum key_id id)
{
	struct policy *pol = st->pol;

	switch (id) {
	case K_GROUPS:
		return &pol->groups;
	case K_PASS:
		return &pol->pass;
	case K_SET:
		return &pol->set;
	case K_ENV_DENY:
		return &pol->deny;
	case K_KEEP:
		return &pol->keep;
	case K_SC_DENY:
		return &st->sc_deny;
	case K_SC_ALLOW:
		return &pol->allow;
	case K_COMMAND:
	case K_USER:
	case K_GROUP:
	case K_WORKDIR:
	case K_UMASK:
	case K_NNP:
	case K_PROFILE:
	case K_ACTION:
	case K_NOFILE:
	case K_NPROC:
	case K_CORE:
	case K_AS:
	case K_STACK:
	case K_CPU:
	case K_LOOPBACK:
	case K_COUNT:
	default:
		return NULL;
	}
}

static int parse_words(struct parse_state *st, enum key_id id,
		       const char *value)
{
	const struct key_def *k = &keys[id];
	struct policy_words *w = words_of(st, id);
	const char *p = value;

	while (*p) {
		const char *s;
		char word[128];
		size_t n;
		const char *why;

		while (is_blank(*p) || *p == ',')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && !is_blank(*p) && *p != ',')
			p++;
		n = (size_t)(p - s);
		if (n >= sizeof(word))
			return perr(st, k, "'%.40s...' is too long", s);
		memcpy(word, s, n);
		word[n] = '\0';
		why = word_problem(k->word, word);
		if (why)
			return perr(st, k, "'%s' %s", word, why);
		if (k->word == W_CAP)
			for (char *c = word; *c; c++)
				*c = (char)tolower((unsigned char)*c);
		if (words_find(w, word)) {
			/* deny globs may repeat the built-in ones */
			if (k->word == W_GLOB)
				continue;
			return perr(st, k, "'%s' is listed twice", word);
		}
		if (words_push(w, word, n, st->lineno) < 0)
			return oom(st);
	}
	return 1;
}

/* A lookup for validating "set" words: nothing is expanded yet. */
static const char *no_lookup(const char *name, void *ctx, bool *refuse)
{
	(void)ctx;
	*refuse = config_is_secret_var(name);
	return "";
}

/*
 * A lookup for checking "set" words: every $NAME stands for "$", which no
 * variable name contains, so a word whose NAME part has an expansion in
 * it fails is_env_name(). Only the VALUE may come from the environment:
 * an expanded NAME could lose its '=' ("set = $HOME") or become a denied
 * name that the deny check below never saw.
 */
static const char *set_lookup(const char *name, void *ctx, bool *refuse)
{
	(void)ctx;
	*refuse = config_is_secret_var(name);
	return "$";
}

static bool is_env_name(const char *s, size_t n)
{
	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static int parse_set(struct parse_state *st, const char *value)
{
	const struct key_def *k = &keys[K_SET];
	char why[200];
	char **v;

	if (!*value)
		return 1;
	v = config_words_split(value, set_lookup, NULL, why, sizeof(why));
	if (!v) {
		if (errno == ENOMEM && strcmp(why, "out of memory") == 0)
			return oom(st);
		return perr(st, k, "%s", why);
	}
	for (char **p = v; *p; p++) {
		const char *eq = strchr(*p, '=');
		if (!eq || !is_env_name(*p, (size_t)(eq - *p))) {
			perr(st, k,
			     "'%.60s' is not NAME=VALUE (a $NAME may only be "
			     "part of the VALUE)",
			     *p);
			config_strv_free(v);
			return 0;
		}
	}
	config_strv_free(v);
	if (words_push(&st->pol->set, value, strlen(value), st->lineno) < 0)
		return oom(st);
	return 1;
}

static int parse_bool(struct parse_state *st, const struct key_def *k,
		      const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = true;
			return 1;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = false;
			return 1;
		}
	}
	return perr(st, k, "'%s': expected yes or no", v);
}

/*
 * A limit: "unlimited", or a decimal number in the limit's unit: bytes for
 * core/as/stack (suffix K, M, G or T: powers of 1024), seconds for cpu
 * (suffix s, m or h), a plain count for nofile/nproc.
 */
static int parse_limit(struct parse_state *st, const struct key_def *k,
		       const char *v)
{
	struct policy_limit *l = &st->pol->limits[k->limit];
	uint64_t n = 0, mult = 1;
	const char *p = v;

	if (strcmp(v, "unlimited") == 0 || strcmp(v, "infinity") == 0) {
		*l = (struct policy_limit){
		    .set = true, .unlimited = true, .line = st->lineno};
		return 1;
	}
	if (!isdigit((unsigned char)*p))
		return perr(st, k, "'%s' is not a number (or unlimited)", v);
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return perr(st, k, "'%s' is too large", v);
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p) {
		static const char size_sfx[] = "KMGT";
		const char *s;

		switch (k->limit) {
		case POLICY_LIMIT_CORE:
		case POLICY_LIMIT_AS:
		case POLICY_LIMIT_STACK:
			s = strchr(size_sfx, toupper((unsigned char)*p));
			if (!s || p[1])
				return perr(st, k,
					    "'%s': unit must be K, M, G or T "
					    "(bytes without one)",
					    v);
			for (long i = 0; i <= s - size_sfx; i++)
				mult *= 1024;
			break;
		case POLICY_LIMIT_CPU:
			if (p[1] || !strchr("smh", *p))
				return perr(st, k,
					    "'%s': unit must be s, m or h "
					    "(seconds without one)",
					    v);
			mult = *p == 'h' ? 3600 : *p == 'm' ? 60 : 1;
			break;
		case POLICY_LIMIT_NOFILE:
		case POLICY_LIMIT_NPROC:
		case POLICY_LIMIT_COUNT:
		default:
			return perr(st, k, "'%s' is not a number (a count)", v);
		}
	}
	/* RLIM_INFINITY is all ones: a finite limit must stay below it. */
	if (n > (UINT64_MAX - 1) / mult)
		return perr(st, k, "'%s' is too large", v);
	*l = (struct policy_limit){
	    .set = true, .value = n * mult, .line = st->lineno};
	return 1;
}

static int set_str(struct parse_state *st, const struct key_def *k,
		   const char *v, char **field, unsigned *line)
{
	if (!*v)
		return perr(st, k, "empty value");
	if (has_control(v))
		return perr(st, k, "control character in value");
	free(*field);
	*field = strdup(v);
	if (!*field)
		return oom(st);
	if (line)
		*line = st->lineno;
	return 1;
}

static int parse_value(struct parse_state *st, enum key_id id, const char *v)
{
	const struct key_def *k = &keys[id];
	struct policy *pol = st->pol;
	char why[200];
	char **words;
	unsigned long u;
	char *end;

	switch (k->type) {
	case T_STR:
		if (id == K_COMMAND) {
			/* Check the syntax now; $NAMEs expand at compile. */
			words = config_words_split(v, no_lookup, NULL, why,
						   sizeof(why));
			if (!words)
				return errno == ENOMEM &&
					       strcmp(why, "out of memory") == 0
					   ? oom(st)
					   : perr(st, k, "%s", why);
			config_strv_free(words);
			return set_str(st, k, v, &pol->command,
				       &pol->command_line);
		}
		if (id == K_USER) {
			if (strchr(v, ' '))
				return perr(st, k,
					    "'%s': expected a user name or "
					    "uid[:gid]",
					    v);
			return set_str(st, k, v, &pol->user, &pol->user_line);
		}
		if (id == K_GROUP) {
			if (word_problem(W_NAME, v))
				return perr(st, k, "'%s' is not a group", v);
			return set_str(st, k, v, &pol->group, &pol->group_line);
		}
		if (v[0] != '/')
			return perr(st, k, "'%s': must be an absolute path", v);
		return set_str(st, k, v, &pol->workdir, &pol->workdir_line);
	case T_WORDS:
		if (id == K_GROUPS)
			pol->groups_set = true;
		if (id == K_PASS)
			pol->pass_set = true;
		return parse_words(st, id, v);
	case T_SET:
		return parse_set(st, v);
	case T_BOOL:
		if (id == K_NNP) {
			pol->no_new_privs_line = st->lineno;
			return parse_bool(st, k, v, &pol->no_new_privs);
		}
		return parse_bool(st, k, v, &pol->loopback_up);
	case T_UMASK:
		errno = 0;
		u = strtoul(v, &end, 8);
		if (!*v || *end || errno || u > 0777 || v[0] == '-' ||
		    v[0] == '+' || strlen(v) > 4)
			return perr(st, k,
				    "'%s': expected an octal mode such as 0027",
				    v);
		pol->umask_set = true;
		pol->umask = (unsigned)u;
		return 1;
	case T_PROFILE:
		if (strcmp(v, "default") == 0)
			pol->profile = POLICY_PROFILE_DEFAULT;
		else if (strcmp(v, "none") == 0)
			pol->profile = POLICY_PROFILE_NONE;
		else
			return perr(st, k, "'%s': expected default or none", v);
		return 1;
	case T_ACTION:
		if (strcmp(v, "errno") == 0)
			pol->action = POLICY_ACTION_ERRNO;
		else if (strcmp(v, "kill") == 0)
			pol->action = POLICY_ACTION_KILL;
		else if (strcmp(v, "log") == 0)
			pol->action = POLICY_ACTION_LOG;
		else
			return perr(st, k, "'%s': expected errno, kill or log",
				    v);
		return 1;
	case T_LIMIT:
		return parse_limit(st, k, v);
	default:
		return perr(st, k, "internal: unknown key type");
	}
}

static bool section_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (strcmp(name, sections[i]) == 0)
			return true;
	return false;
}

/* inih's handler: one call per key line (or continuation line). */
static int handler_cb(void *user, const char *section, const char *name,
		      const char *value)
{
	struct parse_state *st = user;
	bool indented = is_blank(st->line[0]);
	int id = -1;

	if (st->err_line)
		return 1; /* only the first problem is reported */
	/*
	 * inih reads an indented line after a key as more of that key's
	 * value (Python configparser's continuation lines). Lists may use
	 * that to stay under the line limit; anything else is a mistake.
	 */
	if (indented && st->last_key >= 0 &&
	    strcmp(section, keys[st->last_key].section) == 0 &&
	    strncmp(name, keys[st->last_key].name, strlen(name)) == 0) {
		const struct key_def *k = &keys[st->last_key];
		char buf[INI_MAX_LINE];
		char *c;

		if (k->type != T_WORDS && k->type != T_SET)
			return perr(st, k,
				    "indented line read as a continuation of "
				    "'%s' (only lists continue; remove the "
				    "indentation)",
				    k->name);
		/*
		 * inih 55 strips " ;" comments from key lines but not from
		 * continuation lines (later releases do): strip them here so
		 * both read alike.
		 */
		(void)snprintf(buf, sizeof(buf), "%s", value);
		for (c = buf; (c = strchr(c, ';')) != NULL; c++)
			if (c > buf && is_blank(c[-1])) {
				*c = '\0';
				break;
			}
		for (c = buf + strlen(buf); c > buf && is_blank(c[-1]); c--)
			c[-1] = '\0';
		return parse_value(st, (enum key_id)st->last_key, buf);
	}
	if (!*section)
		return perr(st, NULL, "'%s' is outside any [section]", name);
	if (!section_known(section))
		return perr(st, NULL, "unknown section [%s]", section);
	for (int i = 0; i < K_COUNT; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			id = i;
	if (id < 0)
		return perr(st, NULL, "[%s] unknown key '%s'", section, name);
	if (st->seen[id])
		return perr(st, &keys[id],
			    "duplicate key (first set on line %u)",
			    st->seen[id]);
	st->seen[id] = st->lineno;
	st->last_key = id;
	return parse_value(st, (enum key_id)id, value);
}

/*
 * The reader: one whole line per call (the text was checked to have no
 * line longer than inih's buffer), counting lines for the handler, and
 * checking section headers, which inih only reports through the keys
 * under them.
 */
static char *reader_cb(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	const char *nl, *s;
	size_t n;

	if (st->cur >= st->end || num < 2)
		return NULL;
	nl = memchr(st->cur, '\n', (size_t)(st->end - st->cur));
	n = nl ? (size_t)(nl - st->cur) + 1 : (size_t)(st->end - st->cur);
	if (n > (size_t)num - 1)
		n = (size_t)num - 1; /* cannot happen after the pre-check */
	memcpy(str, st->cur, n);
	str[n] = '\0';
	st->line = st->cur;
	st->cur += n;
	st->lineno++;

	for (s = st->line; is_blank(*s); s++)
		;
	if (*s == '[' && !(s > st->line && st->last_key >= 0)) {
		const char *close = memchr(s, ']', n - (size_t)(s - st->line));
		st->last_key = -1;
		if (close) {
			size_t len = (size_t)(close - s - 1);
			if (len >= sizeof(st->section))
				len = sizeof(st->section) - 1;
			memcpy(st->section, s + 1, len);
			st->section[len] = '\0';
			if (!section_known(st->section))
				perr(st, NULL, "unknown section [%s]",
				     st->section);
		}
	}
	return str;
}

/* Reject what inih would misread: NUL bytes and over-long lines. */
static int precheck(struct parse_state *st, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	if (memchr(text, '\0', len))
		return perr(st, NULL, "the file contains a NUL byte");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);

		st->lineno++;
		if (n && p[n - 1] == '\r')
			n--;
		if (n > LINE_MAX_CHARS)
			return perr(st, NULL,
				    "line too long (%zu characters; at most "
				    "%d: continue a list on indented lines)",
				    n, LINE_MAX_CHARS);
		p = nl ? nl + 1 : end;
	}
	st->lineno = 0;
	return 1;
}

/* After the whole file: the effective seccomp list, cross-key checks. */
static int finish(struct parse_state *st)
{
	struct policy *pol = st->pol;
	const struct policy_word *w;

	st->lineno = 0;
	for (size_t i = 0; i < st->sc_deny.n; i++) {
		w = words_find(&pol->allow, st->sc_deny.v[i].s);
		if (w) {
			st->lineno = w->line;
			return perr(st, &keys[K_SC_ALLOW],
				    "'%s' is also denied on line %u", w->s,
				    st->sc_deny.v[i].line);
		}
	}
	if (pol->profile == POLICY_PROFILE_DEFAULT)
		for (size_t i = 0; i < ARRAY_SIZE(default_syscalls); i++)
			if (!words_find(&pol->allow, default_syscalls[i]) &&
			    words_push(&pol->syscalls, default_syscalls[i],
				       strlen(default_syscalls[i]), 0) < 0)
				return oom(st);
	for (size_t i = 0; i < st->sc_deny.n; i++) {
		w = &st->sc_deny.v[i];
		if (!words_find(&pol->syscalls, w->s) &&
		    words_push(&pol->syscalls, w->s, strlen(w->s), w->line) < 0)
			return oom(st);
	}
	/* "deny always wins": a set entry may not name a denied variable. */
	for (size_t i = 0; i < pol->set.n; i++) {
		char why[64];
		char **v = config_words_split(pol->set.v[i].s, no_lookup, NULL,
					      why, sizeof(why));
		if (!v)
			return oom(st);
		for (char **p = v; *p; p++) {
			char *eq = strchr(*p, '=');
			*eq = '\0';
			if (policy_words_match(&pol->deny, *p) ||
			    config_is_secret_var(*p)) {
				st->lineno = pol->set.v[i].line;
				perr(st, &keys[K_SET],
				     "%s is a denied variable (deny wins)", *p);
				config_strv_free(v);
				return 0;
			}
		}
		config_strv_free(v);
	}
	/*
	 * Once capabilities are gone, only no_new_privs lets an unprivileged
	 * process load a seccomp filter (seccomp(2)); seccomp comes last.
	 */
	if (!pol->no_new_privs && pol->syscalls.n > 0) {
		st->lineno = pol->no_new_privs_line;
		return perr(st, &keys[K_NNP],
			    "'no' needs [seccomp] profile = none and no deny "
			    "entries (a filter cannot be loaded without "
			    "no_new_privs once capabilities are dropped)");
	}
	return 1;
}

int policy_parse_string(const char *text, const char *name, struct policy **out,
			char *err, size_t errlen)
{
	struct parse_state st = {
	    .cur = text,
	    .end = text + strlen(text),
	    .line = text,
	    .last_key = -1,
	    .err = err,
	    .errlen = errlen,
	};
	int r;

	*out = NULL;
	err[0] = '\0';
	st.pol = policy_alloc(name);
	if (!st.pol) {
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st.pol->from_file = true;
	if (precheck(&st, text, strlen(text))) {
		r = ini_parse_stream(reader_cb, &st, handler_cb, &st);
		/*
		 * inih reports lines it cannot parse at all ("key" without
		 * '=', "[section" without ']') only through its return value.
		 */
		if (r > 0 && (!st.err_line || (unsigned)r < st.err_line)) {
			st.err_line = 0;
			st.lineno = (unsigned)r;
			perr(&st, NULL,
			     "syntax error: expected '[section]' or "
			     "'key = value'");
		} else if (r < 0 && !st.err_line) {
			oom(&st);
		}
	}
	if (!st.err_line)
		(void)finish(&st);
	words_free(&st.sc_deny);
	if (st.err_line) {
		policy_free(st.pol);
		return st.err_code;
	}
	*out = st.pol;
	return 0;
}

int policy_load_file(const char *path, struct policy **out, char *err,
		     size_t errlen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat sb;
	size_t len = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		(void)snprintf(err, errlen, "%s: unable to open: %s", path,
			       strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(sb.st_mode)) {
		(void)snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (sb.st_size > POLICY_FILE_MAX) {
		(void)snprintf(err, errlen, "%s: larger than %d bytes", path,
			       POLICY_FILE_MAX);
		return -EINVAL;
	}
	buf = malloc(POLICY_FILE_MAX + 1);
	if (!buf) {
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = TEMP_FAILURE_RETRY(
		    read(fd, buf + len, POLICY_FILE_MAX + 1 - len));
		if (n < 0) {
			(void)snprintf(err, errlen, "%s: unable to read: %s",
				       path, strerror(errno));
			return -EINVAL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > POLICY_FILE_MAX) {
			(void)snprintf(err, errlen, "%s: larger than %d bytes",
				       path, POLICY_FILE_MAX);
			return -EINVAL;
		}
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		size_t line = 1;
		for (const char *p = buf; *p; p++)
			line += *p == '\n';
		(void)snprintf(err, errlen,
			       "%s:%zu: the file contains a NUL byte", path,
			       line);
		return -EINVAL;
	}
	return policy_parse_string(buf, path, out, err, errlen);
}

struct policy *policy_default_new(void)
{
	struct policy *pol;
	char err[POLICY_ERR_MAX];

	/* The empty file: every key at its built-in value. */
	if (policy_parse_string("", "(built-in)", &pol, err, sizeof(err)) < 0)
		return NULL;
	pol->from_file = false;
	return pol;
}

int policy_user_override(struct policy *pol, const char *user)
{
	char *u = strdup(user);

	if (!u)
		return -ENOMEM;
	free(pol->user);
	pol->user = u;
	pol->user_line = 0;
	return 0;
}
