/* SPDX-License-Identifier: MIT */
/*
 * Applying the sandbox policy: everything with a side effect.
 *
 * Two phases, as minijail does it. In PID 1, before any fork,
 * policy_compile() resolves every name (users and groups through NSS,
 * capabilities through libcap, syscalls through libseccomp) and compiles
 * the seccomp filter to BPF, so a policy that cannot be applied is a
 * startup error (exit 78) with its file and line, never a gateway that
 * dies at every start. In the forked child, policy_apply_cb() only makes
 * system calls with what was prepared: no allocation, no NSS, no libseccomp
 * code generation (seccomp_load() would allocate; the exported BPF is
 * loaded with prctl instead).
 *
 * <seccomp.h> and <sys/capability.h> are included here and nowhere else
 * (STYLE.md 2.1).
 */
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "init/log.h"
#include "supervisor/gwenv.h"

/* Capabilities are numbered below 64 (CAP_LAST_CAP is 40 on Linux 6.x). */
#define CAP_BITS 64

/* Every CLONE_NEW* flag clone() takes (CLONE_NEWTIME only via clone3). */
static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

static const int rlimit_resource[POLICY_LIMIT_COUNT] = {
    [POLICY_LIMIT_NOFILE] = RLIMIT_NOFILE, [POLICY_LIMIT_NPROC] = RLIMIT_NPROC,
    [POLICY_LIMIT_CORE] = RLIMIT_CORE,	   [POLICY_LIMIT_AS] = RLIMIT_AS,
    [POLICY_LIMIT_STACK] = RLIMIT_STACK,   [POLICY_LIMIT_CPU] = RLIMIT_CPU,
};

struct prog_rlimit {
	int resource;
	const char *name;
	struct rlimit rl;
};

struct policy_prog {
	struct policy *pol;

	/* identity */
	uid_t self_uid, uid;
	gid_t self_gid, gid;
	bool change_uid, change_gid, change_groups;
	gid_t *groups;
	size_t ngroups;
	gid_t *groups_check; /* scratch for the re-check (ngroups + 1) */
	char *user_name;     /* from the passwd entry, or NULL */
	char *home;

	/* process */
	bool umask_set;
	mode_t umask;
	const char *workdir;
	struct prog_rlimit rl[POLICY_LIMIT_COUNT];
	size_t nrl;
	char **argv;		  /* [gateway] command, expanded; or NULL */
	char **env_extra;	  /* NULL-terminated NAME=VALUE */
	unsigned *env_extra_line; /* the set line each entry came from */

	/* capabilities */
	uint64_t keep; /* bit per capability */
	int cap_last;
	bool have_setpcap; /* tenant-init may change the bounding set */
	unsigned securebits;
	cap_t caps_mid;	  /* after setresuid: CAP_SETPCAP to drop bounding */
	cap_t caps_final; /* permitted = effective = inheritable = keep */

	/* no_new_privs and seccomp */
	bool no_new_privs;
	bool seccomp_load;
	struct sock_filter *filter;
	unsigned short filter_len;
};

static void cap_freep(cap_t *c)
{
	if (*c)
		(void)cap_free(*c);
}
#define _cleanup_cap_ __attribute__((cleanup(cap_freep)))

static void scmp_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}
#define _cleanup_scmp_ __attribute__((cleanup(scmp_releasep)))

static int perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int nomem(char *err, size_t errlen)
{
	(void)snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void policy_prog_free(struct policy_prog *prog)
{
	if (!prog)
		return;
	policy_free(prog->pol);
	free(prog->groups);
	free(prog->groups_check);
	free(prog->user_name);
	free(prog->home);
	config_strv_free(prog->argv);
	gwenv_free(prog->env_extra);
	free(prog->env_extra_line);
	if (prog->caps_mid)
		(void)cap_free(prog->caps_mid);
	if (prog->caps_final)
		(void)cap_free(prog->caps_final);
	free(prog->filter);
	free(prog);
}

/* ---- identity ---- */

/* A decimal id (no sign, no spaces, below (id_t)-1). */
static bool parse_id(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v >= UINT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool resolve_group(const char *s, gid_t *gid)
{
	unsigned id;
	struct group *gr;

	if (parse_id(s, &id)) {
		*gid = id;
		return true;
	}
	errno = 0;
	gr = getgrnam(s);
	if (!gr)
		return false;
	*gid = gr->gr_gid;
	return true;
}

/* "FILE:LINE: [gateway] KEY" or "TENANT_GATEWAY_USER" for messages. */
static const char *user_where(const struct policy *pol, char *buf, size_t cap)
{
	if (pol->user_line == 0)
		(void)snprintf(buf, cap, "TENANT_GATEWAY_USER");
	else
		(void)snprintf(buf, cap, "%s:%u: [gateway] user", pol->source,
			       pol->user_line);
	return buf;
}

static int resolve_identity(struct policy_prog *prog, char *err, size_t errlen)
{
	const struct policy *pol = prog->pol;
	char where[PATH_MAX + 64];
	struct passwd *pw = NULL;
	bool have_gid = false;
	gid_t gid = prog->self_gid;
	uid_t uid = prog->self_uid;

	if (pol->user) {
		_cleanup_free_ char *u = strdup(pol->user);
		char *colon;
		unsigned id;

		if (!u)
			return nomem(err, errlen);
		colon = strchr(u, ':');
		if (colon)
			*colon++ = '\0';
		user_where(pol, where, sizeof(where));
		if (parse_id(u, &id)) {
			uid = id;
			errno = 0;
			pw = getpwuid(uid);
		} else {
			errno = 0;
			pw = *u ? getpwnam(u) : NULL;
			if (!pw)
				return perr(err, errlen,
					    "%s: '%s': no such user", where,
					    pol->user);
			uid = pw->pw_uid;
		}
		if (pw) {
			prog->user_name = strdup(pw->pw_name);
			prog->home = strdup(pw->pw_dir);
			if (!prog->user_name || !prog->home)
				return nomem(err, errlen);
		}
		if (colon) {
			if (!resolve_group(colon, &gid))
				return perr(err, errlen,
					    "%s: '%s': no such group", where,
					    colon);
			have_gid = true;
		}
		prog->change_uid = true;
	}
	if (!have_gid && pol->group) {
		if (!resolve_group(pol->group, &gid))
			return perr(err, errlen,
				    "%s:%u: [gateway] group: '%s': no such "
				    "group",
				    pol->source, pol->group_line, pol->group);
		have_gid = true;
	}
	if (!have_gid && pol->user) {
		/*
		 * A uid without a passwd entry gets the group of the same
		 * number, never root's group 0 (Docker's choice for --user
		 * with an unknown uid).
		 */
		gid = pw ? pw->pw_gid : uid;
		have_gid = true;
	}
	prog->change_gid = have_gid;
	prog->uid = uid;
	prog->gid = gid;

	/*
	 * Supplementary groups: the listed ones; else the user's from the
	 * group database; else none. Any identity change replaces them, so
	 * root's groups never leak into the gateway.
	 */
	if (pol->groups_set) {
		prog->groups = calloc(pol->groups.n + 1, sizeof(gid_t));
		if (!prog->groups)
			return nomem(err, errlen);
		for (size_t i = 0; i < pol->groups.n; i++)
			if (!resolve_group(pol->groups.v[i].s,
					   &prog->groups[i]))
				return perr(err, errlen,
					    "%s:%u: [gateway] groups: '%s': no "
					    "such group",
					    pol->source, pol->groups.v[i].line,
					    pol->groups.v[i].s);
		prog->ngroups = pol->groups.n;
		prog->change_groups = true;
	} else if (prog->change_uid || prog->change_gid) {
		int n = 0;

		if (pw && prog->user_name) {
			(void)getgrouplist(prog->user_name, gid, NULL, &n);
			prog->groups = calloc((size_t)n + 1, sizeof(gid_t));
			if (!prog->groups)
				return nomem(err, errlen);
			if (getgrouplist(prog->user_name, gid, prog->groups,
					 &n) < 0)
				n = 0;
		} else {
			prog->groups = calloc(1, sizeof(gid_t));
			if (!prog->groups)
				return nomem(err, errlen);
		}
		prog->ngroups = (size_t)n;
		prog->change_groups = true;
	}
	if (prog->change_groups) {
		prog->groups_check =
		    calloc(prog->ngroups + 1, sizeof(*prog->groups_check));
		if (!prog->groups_check)
			return nomem(err, errlen);
	}
	if (geteuid() != 0 && (uid != prog->self_uid || gid != prog->self_gid ||
			       prog->change_groups))
		return perr(err, errlen,
			    "%s: running the gateway as another user needs "
			    "tenant-init to run as root",
			    pol->user ? user_where(pol, where, sizeof(where))
				      : pol->source);
	return 0;
}

/* ---- limits, capabilities ---- */

static int compile_limits(struct policy_prog *prog, char *err, size_t errlen)
{
	const struct policy *pol = prog->pol;

	for (int i = 0; i < POLICY_LIMIT_COUNT; i++) {
		const struct policy_limit *l = &pol->limits[i];
		struct prog_rlimit *r;
		char where[PATH_MAX + 32];

		if (!l->set)
			continue;
		if (i == POLICY_LIMIT_NOFILE && !l->unlimited) {
			/* Above fs.nr_open, setrlimit fails in the child. */
			_cleanup_fclose_ FILE *f =
			    fopen("/proc/sys/fs/nr_open", "re");
			unsigned long long max;
			if (f && fscanf(f, "%llu", &max) == 1 && l->value > max)
				return perr(err, errlen,
					    "%s: [limits] nofile: %llu is "
					    "above the kernel's fs.nr_open "
					    "(%llu)",
					    policy_where(pol, l->line, where,
							 sizeof(where)),
					    (unsigned long long)l->value, max);
		}
		if (i == POLICY_LIMIT_NOFILE && l->unlimited)
			return perr(
			    err, errlen,
			    "%s: [limits] nofile: cannot be unlimited "
			    "(the kernel caps it at fs.nr_open)",
			    policy_where(pol, l->line, where, sizeof(where)));
		r = &prog->rl[prog->nrl++];
		r->resource = rlimit_resource[i];
		r->name = policy_limit_name((enum policy_limit_id)i);
		r->rl.rlim_cur = r->rl.rlim_max =
		    l->unlimited ? RLIM_INFINITY : (rlim_t)l->value;
	}
	return 0;
}

static int compile_caps(struct policy_prog *prog, char *err, size_t errlen)
{
	const struct policy *pol = prog->pol;
	_cleanup_cap_ cap_t self = cap_get_proc();
	cap_value_t list[CAP_BITS];
	int n = 0;
	cap_flag_value_t v = CAP_CLEAR;

	if (!self)
		return nomem(err, errlen);
	prog->cap_last = (int)cap_max_bits() - 1;
	if (prog->cap_last < 0 || prog->cap_last >= CAP_BITS)
		return perr(err, errlen,
			    "unexpected number of capabilities "
			    "(%d)",
			    prog->cap_last + 1);
	for (size_t i = 0; i < pol->keep.n; i++) {
		const struct policy_word *w = &pol->keep.v[i];
		cap_value_t c;
		cap_flag_value_t held = CAP_CLEAR;

		if (cap_from_name(w->s, &c) < 0 || c > prog->cap_last)
			return perr(err, errlen,
				    "%s:%u: [capabilities] keep: unknown "
				    "capability '%s'",
				    pol->source, w->line, w->s);
		if (cap_get_flag(self, c, CAP_PERMITTED, &held) < 0 ||
		    held != CAP_SET)
			return perr(err, errlen,
				    "%s:%u: [capabilities] keep: '%s': "
				    "tenant-init does not hold it, so the "
				    "gateway cannot keep it",
				    pol->source, w->line, w->s);
		prog->keep |= 1ull << c;
		list[n++] = c;
	}
	(void)cap_get_flag(self, CAP_SETPCAP, CAP_EFFECTIVE, &v);
	prog->have_setpcap = v == CAP_SET;

	prog->caps_final = cap_init();
	prog->caps_mid = cap_init();
	if (!prog->caps_final || !prog->caps_mid)
		return nomem(err, errlen);
	if (n > 0 && (cap_set_flag(prog->caps_final, CAP_PERMITTED, n, list,
				   CAP_SET) < 0 ||
		      cap_set_flag(prog->caps_final, CAP_EFFECTIVE, n, list,
				   CAP_SET) < 0 ||
		      cap_set_flag(prog->caps_final, CAP_INHERITABLE, n, list,
				   CAP_SET) < 0 ||
		      cap_set_flag(prog->caps_mid, CAP_INHERITABLE, n, list,
				   CAP_SET) < 0))
		return nomem(err, errlen);
	list[n++] = CAP_SETPCAP;
	if (cap_set_flag(prog->caps_mid, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
	    cap_set_flag(prog->caps_mid, CAP_EFFECTIVE, n, list, CAP_SET) < 0)
		return nomem(err, errlen);

	/*
	 * Securebits (they need CAP_SETPCAP, so only when we have it):
	 * NOROOT keeps uid 0 from regaining capabilities at exec even where
	 * no_new_privs is off; with nothing kept, ambient raising is locked
	 * off for good. The LOCKED bits make both permanent for the gateway
	 * and everything it starts.
	 */
	prog->securebits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED;
	if (prog->keep == 0)
		prog->securebits |= SECBIT_NO_CAP_AMBIENT_RAISE |
				    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	return 0;
}

/* ---- seccomp ---- */

/*
 * SECCOMP_RET_KILL_PROCESS and SECCOMP_RET_LOG need Linux 4.14 (libseccomp
 * API level 3). Below that (or under valgrind, which hides seccomp(2)
 * from libseccomp's probe) killing falls back to the calling thread.
 */
static bool have_kill_process(void)
{
	return seccomp_api_get() >= 3;
}

static uint32_t scmp_action(enum policy_action a)
{
	switch (a) {
	case POLICY_ACTION_KILL:
		return have_kill_process() ? SCMP_ACT_KILL_PROCESS
					   : SCMP_ACT_KILL;
	case POLICY_ACTION_LOG:
		return SCMP_ACT_LOG;
	case POLICY_ACTION_ERRNO:
	default:
		return SCMP_ACT_ERRNO(EPERM);
	}
}

/* Export ctx's BPF through a memfd into prog (no allocation at load). */
static int export_filter(struct policy_prog *prog, scmp_filter_ctx ctx,
			 char *err, size_t errlen)
{
	_cleanup_close_ int fd =
	    memfd_create("tenant-init-seccomp", MFD_CLOEXEC);
	off_t size;
	int r;

	if (fd < 0)
		return perr(err, errlen,
			    "seccomp: unable to create a memfd: %s",
			    strerror(errno));
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return perr(err, errlen,
			    "seccomp: unable to export the filter: "
			    "%s",
			    strerror(-r));
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return perr(err, errlen, "seccomp: unexpected filter size %lld",
			    (long long)size);
	prog->filter = malloc((size_t)size);
	if (!prog->filter)
		return nomem(err, errlen);
	if (pread(fd, prog->filter, (size_t)size, 0) != size)
		return perr(err, errlen,
			    "seccomp: unable to read the filter "
			    "back");
	prog->filter_len = (unsigned short)(size / sizeof(struct sock_filter));
	return 0;
}

static int compile_seccomp(struct policy_prog *prog, char *err, size_t errlen)
{
	const struct policy *pol = prog->pol;
	_cleanup_scmp_ scmp_filter_ctx ctx = NULL;
	uint32_t act = scmp_action(pol->action);
	char where[PATH_MAX + 32];
	int r;

	/* allow entries must name real syscalls too (typos are errors). */
	for (size_t i = 0; i < pol->allow.n; i++)
		if (seccomp_syscall_resolve_name(pol->allow.v[i].s) ==
		    __NR_SCMP_ERROR)
			return perr(err, errlen,
				    "%s: [seccomp] allow: unknown syscall '%s'",
				    policy_where(pol, pol->allow.v[i].line,
						 where, sizeof(where)),
				    pol->allow.v[i].s);
	if (pol->syscalls.n == 0)
		return 0;
	if (pol->action == POLICY_ACTION_LOG && !have_kill_process())
		return perr(err, errlen,
			    "%s: [seccomp] action: 'log' needs Linux 4.14 or "
			    "later",
			    pol->source);
	if (!have_kill_process())
		log_warn("seccomp: this kernel cannot kill a whole process "
			 "from a filter; a foreign-architecture syscall kills "
			 "the calling thread");
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return nomem(err, errlen);
	/*
	 * seccomp_init() adds the native architecture only. Every other one
	 * (i386 through int 0x80, and x32, which libseccomp's x86_64 filter
	 * also refuses) kills the process: another syscall table would
	 * otherwise be a way around the deny list.
	 */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			     have_kill_process() ? SCMP_ACT_KILL_PROCESS
						 : SCMP_ACT_KILL);
	if (r < 0)
		return perr(err, errlen,
			    "seccomp: unable to set the bad-arch "
			    "action: %s",
			    strerror(-r));
	for (size_t i = 0; i < pol->syscalls.n; i++) {
		const struct policy_word *w = &pol->syscalls.v[i];
		int nr = seccomp_syscall_resolve_name(w->s);
		uint32_t a = act;

		if (nr == __NR_SCMP_ERROR)
			return perr(
			    err, errlen,
			    "%s: [seccomp] deny: unknown syscall '%s'",
			    policy_where(pol, w->line, where, sizeof(where)),
			    w->s);
		/*
		 * clone3 takes its flags in memory the filter cannot read.
		 * ENOSYS (not EPERM, and never kill) makes glibc fall back to
		 * clone(), whose flags the unshare rule below does check.
		 */
		if (strcmp(w->s, "clone3") == 0 &&
		    pol->action != POLICY_ACTION_LOG)
			a = SCMP_ACT_ERRNO(ENOSYS);
		r = seccomp_rule_add(ctx, a, nr, 0);
		if (r < 0)
			return perr(
			    err, errlen,
			    "%s: [seccomp] deny: unable to add '%s': "
			    "%s",
			    policy_where(pol, w->line, where, sizeof(where)),
			    w->s, strerror(-r));
		if (strcmp(w->s, "unshare") != 0)
			continue;
		/* Creating namespaces through clone() is unshare too. */
		for (size_t f = 0; f < ARRAY_SIZE(clone_ns_flags); f++) {
			r = seccomp_rule_add(ctx, act, SCMP_SYS(clone), 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ,
						     clone_ns_flags[f],
						     clone_ns_flags[f]));
			if (r < 0)
				return perr(err, errlen,
					    "seccomp: unable to add the clone "
					    "namespace rule: %s",
					    strerror(-r));
		}
	}
	r = export_filter(prog, ctx, err, errlen);
	if (r < 0)
		return r;
#ifdef TENANT_SANITIZED
	/*
	 * Sanitizer runtimes make syscalls of their own a filter does not
	 * expect (minijail skips the filter under ASan for the same reason).
	 * Decided at build time, and said loudly: this build is for tests.
	 */
	log_warn("seccomp: SANITIZER BUILD: the filter is compiled and "
		 "checked but NOT loaded; never ship this build");
	prog->seccomp_load = false;
#else
	prog->seccomp_load = true;
#endif
	return 0;
}

/* ---- environment and command ---- */

static int extra_push(struct policy_prog *prog, size_t *n, char *entry,
		      unsigned line)
{
	char **v = realloc(prog->env_extra, (*n + 2) * sizeof(*v));
	unsigned *l;

	if (!v) {
		free(entry);
		return -ENOMEM;
	}
	prog->env_extra = v;
	l = realloc(prog->env_extra_line, (*n + 1) * sizeof(*l));
	if (!l) {
		free(entry);
		return -ENOMEM;
	}
	prog->env_extra_line = l;
	v[*n] = entry;
	l[*n] = line;
	v[++*n] = NULL;
	return 0;
}

static bool extra_has(const struct policy_prog *prog, const char *name)
{
	size_t nl = strlen(name);

	for (char **p = prog->env_extra; p && *p; p++)
		if (strncmp(*p, name, nl) == 0 && (*p)[nl] == '=')
			return true;
	return false;
}

static int compile_env(struct policy_prog *prog, const struct config *cfg,
		       char *const *envp, char *err, size_t errlen)
{
	const struct policy *pol = prog->pol;
	size_t n = 0;
	char why[200];

	prog->env_extra = calloc(1, sizeof(char *));
	if (!prog->env_extra)
		return nomem(err, errlen);
	for (size_t i = 0; i < pol->set.n; i++) {
		char **v = config_expand_words(cfg, envp, pol->set.v[i].s, why,
					       sizeof(why));
		if (!v) {
			if (errno == ENOMEM &&
			    strcmp(why, "out of memory") == 0)
				return nomem(err, errlen);
			return perr(err, errlen, "%s:%u: [environment] set: %s",
				    pol->source, pol->set.v[i].line, why);
		}
		for (char **p = v; *p; p++) {
			char *eq = strchr(*p, '=');
			/* parse.c keeps NAMEs literal; never trust it in PID 1
			 */
			if (!eq) {
				(void)perr(err, errlen,
					   "%s:%u: [environment] set: a word "
					   "is not NAME=VALUE",
					   pol->source, pol->set.v[i].line);
				for (char **q = p; *q; q++)
					free(*q);
				free(v);
				return -EINVAL;
			}
			*eq = '\0';
			if (extra_has(prog, *p)) {
				(void)perr(err, errlen,
					   "%s:%u: [environment] set: %s is "
					   "set twice",
					   pol->source, pol->set.v[i].line, *p);
				/* Earlier words belong to env_extra now. */
				for (char **q = p; *q; q++)
					free(*q);
				free(v);
				return -EINVAL;
			}
			*eq = '=';
			if (extra_push(prog, &n, *p, pol->set.v[i].line) < 0) {
				*p = NULL; /* consumed (and freed) */
				for (char **q = p + 1; *q; q++)
					free(*q);
				free(v);
				return nomem(err, errlen);
			}
		}
		free(v); /* the strings now belong to env_extra */
	}
	/*
	 * A gateway that runs as a named user gets that user's HOME, USER
	 * and LOGNAME (as login and Docker do), unless set names them: root's
	 * HOME is neither readable nor writable for it.
	 */
	if (prog->change_uid && prog->user_name) {
		const char *names[] = {"HOME", "USER", "LOGNAME"};
		const char *vals[] = {prog->home, prog->user_name,
				      prog->user_name};

		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			char *e;
			if (extra_has(prog, names[i]) ||
			    policy_words_match(&pol->deny, names[i]))
				continue;
			if (asprintf(&e, "%s=%s", names[i], vals[i]) < 0)
				return nomem(err, errlen);
			if (extra_push(prog, &n, e, 0) < 0)
				return nomem(err, errlen);
		}
	}
	return 0;
}

/* ---- compile ---- */

int policy_compile(struct policy *pol, const struct config *cfg,
		   char *const *envp, struct policy_prog **out, char *err,
		   size_t errlen)
{
	struct policy_prog *prog = calloc(1, sizeof(*prog));
	char why[200];
	int r;

	*out = NULL;
	err[0] = '\0';
	if (!prog) {
		policy_free(pol);
		return nomem(err, errlen);
	}
	prog->pol = pol;
	prog->self_uid = geteuid();
	prog->self_gid = getegid();
	prog->no_new_privs = pol->no_new_privs;
	prog->umask_set = pol->umask_set;
	prog->umask = (mode_t)pol->umask;
	prog->workdir = pol->workdir;
	r = resolve_identity(prog, err, errlen);
	if (r == 0)
		r = compile_limits(prog, err, errlen);
	if (r == 0)
		r = compile_caps(prog, err, errlen);
	if (r == 0)
		r = compile_seccomp(prog, err, errlen);
	if (r == 0)
		r = compile_env(prog, cfg, envp, err, errlen);
	if (r == 0 && pol->workdir) {
		struct stat sb;
		if (stat(pol->workdir, &sb) < 0 || !S_ISDIR(sb.st_mode))
			r = perr(err, errlen,
				 "%s:%u: [gateway] workdir: '%s' is not a "
				 "directory",
				 pol->source, pol->workdir_line, pol->workdir);
	}
	if (r == 0 && pol->command && !cfg->tini_mode &&
	    !cfg->gateway_cmd_set) {
		prog->argv = config_expand_words(cfg, envp, pol->command, why,
						 sizeof(why));
		if (!prog->argv)
			r = errno == ENOMEM && strcmp(why, "out of memory") == 0
				? nomem(err, errlen)
				: perr(err, errlen,
				       "%s:%u: [gateway] command: %s",
				       pol->source, pol->command_line, why);
	}
	if (r < 0) {
		policy_prog_free(prog);
		return r;
	}
	*out = prog;
	return 0;
}

/* ---- accessors ---- */

bool policy_env_keep_cb(const char *name, void *ctx)
{
	const struct policy_prog *prog = ctx;
	const struct policy *pol = prog->pol;

	if (policy_words_match(&pol->deny, name))
		return false;
	return !pol->pass_set || policy_words_match(&pol->pass, name);
}

char *const *policy_env_extra(const struct policy_prog *prog)
{
	return prog->env_extra;
}

char *const *policy_command(const struct policy_prog *prog)
{
	return prog->argv;
}

bool policy_gateway_owner(const struct policy_prog *prog, uid_t *uid,
			  gid_t *gid)
{
	*uid = prog->uid;
	*gid = prog->gid;
	return prog->uid != prog->self_uid || prog->gid != prog->self_gid;
}

bool policy_wants_loopback(const struct policy_prog *prog)
{
	return prog->pol->loopback_up;
}

/* ---- the child: privilege drop ---- */

/* Log a failed step; text-mode logging does not allocate. */
static int step_fail(const char *what, int e)
{
	log_err("sandbox: %s: %s", what, strerror(e ? e : EPERM));
	return -(e ? e : EPERM);
}

/* Capability sets of this process as bit masks (capget, no allocation). */
static int caps_now(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = {
	    .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	/* valgrind's capget model marks only d[0] as written by the kernel. */
	memset(d, 0, sizeof(d));
	if (capget(&h, d) < 0)
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int apply_rlimits(const struct policy_prog *prog)
{
	/*
	 * Limits first, while still privileged: raising a hard limit needs
	 * CAP_SYS_RESOURCE, which is gone after the drop.
	 */
	for (size_t i = 0; i < prog->nrl; i++) {
		const struct prog_rlimit *r = &prog->rl[i];
		struct rlimit now;

		if (setrlimit(r->resource, &r->rl) < 0)
			return step_fail(r->name, errno);
		if (getrlimit(r->resource, &now) < 0 ||
		    now.rlim_cur != r->rl.rlim_cur ||
		    now.rlim_max != r->rl.rlim_max)
			return step_fail(r->name, EPERM);
	}
	return 0;
}

static int apply_ids(const struct policy_prog *prog)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/*
	 * Groups before the gid, the gid before the uid: each of these
	 * needs privileges the next step gives up.
	 */
	if (prog->change_groups) {
		int n;
		if (setgroups(prog->ngroups, prog->groups) < 0)
			return step_fail("setgroups", errno);
		n = getgroups((int)prog->ngroups + 1, prog->groups_check);
		if (n != (int)prog->ngroups)
			return step_fail("setgroups did not take effect", 0);
		for (int i = 0; i < n; i++)
			if (prog->groups_check[i] != prog->groups[i])
				return step_fail("setgroups did not take "
						 "effect",
						 0);
	}
	if (prog->change_gid) {
		if (setresgid(prog->gid, prog->gid, prog->gid) < 0)
			return step_fail("setresgid", errno);
		if (getresgid(&rg, &eg, &sg) < 0 || rg != prog->gid ||
		    eg != prog->gid || sg != prog->gid)
			return step_fail("setresgid did not take effect", 0);
	}
	if (prog->change_uid) {
		/*
		 * KEEPCAPS: keep the permitted set across the uid change, so
		 * the bounding set can still be dropped and kept
		 * capabilities passed on (through the ambient set) below.
		 * The kernel clears it again at exec.
		 */
		if ((prog->have_setpcap || prog->keep) &&
		    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return step_fail("PR_SET_KEEPCAPS", errno);
		if (setresuid(prog->uid, prog->uid, prog->uid) < 0)
			return step_fail("setresuid", errno);
		if (getresuid(&ru, &eu, &su) < 0 || ru != prog->uid ||
		    eu != prog->uid || su != prog->uid)
			return step_fail("setresuid did not take effect", 0);
	}
	return 0;
}

static int apply_caps(const struct policy_prog *prog)
{
	uint64_t eff = 0, prm = 0, inh = 0;
	int r;

	if (prog->have_setpcap) {
		/* A non-root uid came out of setresuid with no effective
		 * capabilities; CAP_SETPCAP is needed for the next steps. */
		if (prog->change_uid && prog->uid != 0 &&
		    cap_set_proc(prog->caps_mid) < 0)
			return step_fail("cap_set_proc (setpcap)", errno);
		if (prctl(PR_SET_SECUREBITS, prog->securebits, 0, 0, 0) < 0)
			return step_fail("PR_SET_SECUREBITS", errno);
		if (prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) !=
		    (int)prog->securebits)
			return step_fail("securebits did not take effect", 0);
		/*
		 * The bounding set: what any exec can ever grant again
		 * (setuid-root binaries, file capabilities, uid 0). Emptied
		 * but for the kept capabilities.
		 */
		for (int c = 0; c <= prog->cap_last; c++) {
			if (prog->keep & (1ull << c))
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
				return step_fail("PR_CAPBSET_DROP", errno);
			if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 0)
				return step_fail("bounding set drop did not "
						 "take effect",
						 0);
		}
	}
	/* permitted = effective = inheritable = keep (usually nothing). */
	if (cap_set_proc(prog->caps_final) < 0)
		return step_fail("cap_set_proc", errno);
	r = caps_now(&eff, &prm, &inh);
	if (r < 0)
		return step_fail("capget", -r);
	if (eff != prog->keep || prm != prog->keep || inh != prog->keep)
		return step_fail("capabilities were not dropped", 0);
	/* Ambient: the kept capabilities survive exec as a non-root uid. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return step_fail("PR_CAP_AMBIENT_CLEAR_ALL", errno);
	for (int c = 0; c <= prog->cap_last; c++) {
		bool want = prog->keep & (1ull << c);
		if (want &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return step_fail("PR_CAP_AMBIENT_RAISE", errno);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) !=
		    (want ? 1 : 0))
			return step_fail("ambient set is not as asked", 0);
	}
	/*
	 * The proof bwrap asks for: getting root back must fail now (unless
	 * the policy kept CAP_SETUID/CAP_SETGID on purpose).
	 */
	if (prog->change_uid && prog->uid != 0 &&
	    !(prog->keep & (1ull << CAP_SETUID)) && setuid(0) == 0)
		return step_fail("setuid(0) still works after the drop", 0);
	if (prog->change_gid && prog->gid != 0 &&
	    !(prog->keep & (1ull << CAP_SETGID)) && setgid(0) == 0)
		return step_fail("setgid(0) still works after the drop", 0);
	return 0;
}

int policy_apply_cb(void *ctx)
{
	const struct policy_prog *prog = ctx;
	int r;

	if (prog->umask_set)
		(void)umask(prog->umask);
	r = apply_rlimits(prog);
	if (r == 0)
		r = apply_ids(prog);
	if (r == 0)
		r = apply_caps(prog);
	if (r < 0)
		return r;
	/* As the gateway user: a directory it cannot enter is an error. */
	if (prog->workdir && chdir(prog->workdir) < 0)
		return step_fail(prog->workdir, errno);
	/*
	 * no_new_privs: no exec (setuid binary, file capabilities) can give
	 * back what was dropped, and an unprivileged process may install a
	 * seccomp filter.
	 */
	if (prog->no_new_privs) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return step_fail("PR_SET_NO_NEW_PRIVS", errno);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
			return step_fail("no_new_privs did not take effect", 0);
	}
	/*
	 * seccomp last, so that the filter need not allow anything the drop
	 * itself uses (set*id, capset, prctl); only exec follows.
	 */
	if (prog->seccomp_load) {
		struct sock_fprog fp = {.len = prog->filter_len,
					.filter = prog->filter};
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0)
			return step_fail("seccomp", errno);
		if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != SECCOMP_MODE_FILTER)
			return step_fail("seccomp did not take effect", 0);
	}
	return 0;
}

/* ---- reporting ---- */

static void cap_list(const struct policy_prog *prog, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int c = 0; c <= prog->cap_last; c++) {
		char *name;
		if (!(prog->keep & (1ull << c)))
			continue;
		name = cap_to_name(c);
		len +=
		    (size_t)snprintf(buf + len, len < cap ? cap - len : 0,
				     "%s%s", len ? " " : "", name ? name : "?");
		if (name)
			(void)cap_free(name);
	}
	if (!len)
		(void)snprintf(buf, cap, "none");
}

void policy_log_summary(const struct policy_prog *prog)
{
	const struct policy *pol = prog->pol;
	char caps[256];

	cap_list(prog, caps, sizeof(caps));
	log_info("policy: %s: gateway as uid %u gid %u%s; capabilities kept: "
		 "%s; no_new_privs %s; seccomp %s (%zu syscalls, %s%s)",
		 pol->from_file ? pol->source : "built-in", (unsigned)prog->uid,
		 (unsigned)prog->gid,
		 prog->change_uid ? "" : " (tenant-init's own)", caps,
		 prog->no_new_privs ? "on" : "off",
		 policy_profile_name(pol->profile), pol->syscalls.n,
		 policy_action_name(pol->action),
		 prog->filter && !prog->seccomp_load ? ", NOT LOADED" : "");
}

/* A name whose value check-config must not print. */
static bool looks_secret(const char *name, size_t n)
{
	static const char *const parts[] = {
	    "KEY", "TOKEN", "SECRET", "PASS", "CREDENTIAL", "AUTH", "PRIVATE"};
	char up[128];

	if (n >= sizeof(up))
		return true;
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		if (strstr(up, parts[i]))
			return true;
	return false;
}

/* Print a list as "key = w1 w2 ..." wrapped on indented lines. */
static void print_words(FILE *f, const char *key, const struct policy_words *w)
{
	size_t col = (size_t)fprintf(f, "%s =", key);

	for (size_t i = 0; i < w->n; i++) {
		size_t len = strlen(w->v[i].s);
		if (col + 1 + len > 76) {
			fputs("\n\t", f);
			col = 8;
		} else {
			fputc(' ', f);
			col++;
		}
		fputs(w->v[i].s, f);
		col += len;
	}
	fputc('\n', f);
}

int policy_print(const struct policy_prog *prog, int fd)
{
	const struct policy *pol = prog->pol;
	char caps[256];
	FILE *f;
	int fd2 = dup(fd);

	if (fd2 < 0)
		return -errno;
	f = fdopen(fd2, "w");
	if (!f) {
		(void)close(fd2);
		return -errno;
	}
	fprintf(f, "; resolved sandbox policy, from %s\n",
		pol->from_file ? pol->source : "the built-in policy");
	fprintf(f, "[gateway]\n");
	if (prog->argv) {
		fprintf(f, "command =");
		for (char **p = prog->argv; *p; p++)
			fprintf(f, " %s", *p);
		fputc('\n', f);
	} else {
		fprintf(f, "; command: TENANT_GATEWAY_CMD (or COMMAND)\n");
	}
	if (prog->change_uid)
		fprintf(f, "user = %u:%u\n", (unsigned)prog->uid,
			(unsigned)prog->gid);
	else if (prog->change_gid)
		fprintf(f, "group = %u\n", (unsigned)prog->gid);
	fprintf(f, "; runs as uid %u gid %u%s%s%s\n", (unsigned)prog->uid,
		(unsigned)prog->gid, prog->user_name ? " (" : "",
		prog->user_name ? prog->user_name : "",
		prog->user_name ? ")" : "");
	if (prog->change_groups) {
		fprintf(f, "groups =");
		for (size_t i = 0; i < prog->ngroups; i++)
			fprintf(f, " %u", (unsigned)prog->groups[i]);
		fputc('\n', f);
	}
	if (pol->workdir)
		fprintf(f, "workdir = %s\n", pol->workdir);
	if (pol->umask_set)
		fprintf(f, "umask = %04o\n", pol->umask);

	fprintf(f, "\n[environment]\n");
	if (pol->pass_set)
		print_words(f, "pass", &pol->pass);
	else
		fprintf(f, "; pass: every inherited variable not denied\n");
	for (char **p = prog->env_extra; p && *p; p++) {
		size_t i = (size_t)(p - prog->env_extra);
		const char *eq = strchr(*p, '=');
		size_t nl = (size_t)(eq - *p);
		const char *raw = NULL;

		for (size_t j = 0; j < pol->set.n; j++)
			if (pol->set.v[j].line == prog->env_extra_line[i])
				raw = pol->set.v[j].s;
		/* An expanded $NAME may have pulled in a token: redact. */
		if (looks_secret(*p, nl) || (raw && strchr(raw, '$')))
			fprintf(f, "set = %.*s=(redacted)\n", (int)nl, *p);
		else
			fprintf(f, "set = '%s'\n", *p);
	}
	print_words(f, "deny", &pol->deny);

	cap_list(prog, caps, sizeof(caps));
	fprintf(f, "\n[capabilities]\nkeep =%s%s\n", prog->keep ? " " : "",
		prog->keep ? caps : "");
	fprintf(f, "\n[security]\nno_new_privs = %s\n",
		pol->no_new_privs ? "yes" : "no");
	fprintf(f, "\n[seccomp]\nprofile = %s\naction = %s\n",
		policy_profile_name(pol->profile),
		policy_action_name(pol->action));
	fprintf(f, "; effective deny list (%zu syscalls)%s\n", pol->syscalls.n,
		prog->filter && !prog->seccomp_load
		    ? "; NOT LOADED: sanitizer build"
		    : "");
	print_words(f, "deny", &pol->syscalls);
	if (pol->allow.n)
		print_words(f, "allow", &pol->allow);

	fprintf(f, "\n[limits]\n");
	for (int i = 0; i < POLICY_LIMIT_COUNT; i++) {
		const struct policy_limit *l = &pol->limits[i];
		if (!l->set)
			continue;
		if (l->unlimited)
			fprintf(f, "%s = unlimited\n",
				policy_limit_name((enum policy_limit_id)i));
		else
			fprintf(f, "%s = %llu\n",
				policy_limit_name((enum policy_limit_id)i),
				(unsigned long long)l->value);
	}
	fprintf(f, "\n[network]\nloopback_up = %s\n",
		pol->loopback_up ? "yes" : "no");
	if (fclose(f) != 0)
		return -errno;
	return 0;
}
