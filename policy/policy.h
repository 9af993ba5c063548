/* SPDX-License-Identifier: MIT */
/*
 * The gateway's sandbox policy (DESIGN.md "Sandbox policy").
 *
 * Two halves, as minijail splits them:
 *
 *   parse.c   pure: INI text (inih) -> struct policy. No side effects
 *             beyond reading the policy file. Every diagnostic is
 *             "FILE:LINE: [section] key: problem".
 *   apply.c   everything with a side effect: resolving users, groups,
 *             capabilities and syscall names, compiling the seccomp
 *             filter (all in PID 1, before fork), and the pre-exec hook
 *             that drops privileges in the forked child.
 *   net.c     [network] loopback_up (rtnetlink through libnl-route).
 *   owner.c   making the data directory the gateway user's own.
 *   boot.c    which policy applies (tini vs gateway mode, file vs
 *             built-in, environment overrides), for main and check-config.
 *
 * struct policy is plain data so tests can build and inspect it; the
 * compiled form (struct policy_prog) is opaque and holds only what the
 * forked child needs, ready to use without allocating.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;

/* An error message buffer large enough for any policy diagnostic. */
#define POLICY_ERR_MAX 512

/* Largest policy file read (it is a short, hand-written file). */
#define POLICY_FILE_MAX (256 * 1024)

enum policy_limit_id {
	POLICY_LIMIT_NOFILE, /* RLIMIT_NOFILE, a count of descriptors */
	POLICY_LIMIT_NPROC,  /* RLIMIT_NPROC, a count of processes */
	POLICY_LIMIT_CORE,   /* RLIMIT_CORE, bytes */
	POLICY_LIMIT_AS,     /* RLIMIT_AS, bytes */
	POLICY_LIMIT_STACK,  /* RLIMIT_STACK, bytes */
	POLICY_LIMIT_CPU,    /* RLIMIT_CPU, seconds */
	POLICY_LIMIT_COUNT,
};

enum policy_profile {
	POLICY_PROFILE_DEFAULT, /* the built-in deny list, plus deny/allow */
	POLICY_PROFILE_NONE,	/* no filter (only explicit deny entries) */
};

enum policy_action {
	POLICY_ACTION_ERRNO, /* the call fails with EPERM */
	POLICY_ACTION_KILL,  /* the whole process is killed (SIGSYS) */
	POLICY_ACTION_LOG,   /* allowed, and logged by the kernel (audit) */
};

/* One word of a list value, with the line it came from (0 = built-in). */
struct policy_word {
	char *s;
	unsigned line;
};

struct policy_words {
	struct policy_word *v;
	size_t n;
};

/* A resource limit: soft and hard are both set to value. */
struct policy_limit {
	bool set;
	bool unlimited;
	uint64_t value; /* in the unit of enum policy_limit_id */
	unsigned line;
};

struct policy {
	char *source;	/* the file, or "(built-in)"; used in diagnostics */
	bool from_file; /* false: the built-in policy */

	/* [gateway] */
	char *command; /* NULL: TENANT_GATEWAY_CMD or its default */
	unsigned command_line;
	char *user;	    /* NULL: tenant-init's own user */
	unsigned user_line; /* 0 with user set: from TENANT_GATEWAY_USER */
	char *group;	    /* NULL: the user's primary group */
	unsigned group_line;
	bool groups_set; /* false: the user's groups from the group file */
	struct policy_words groups;
	char *workdir; /* NULL: unchanged */
	unsigned workdir_line;
	bool umask_set;
	unsigned umask;

	/* [environment] */
	bool pass_set; /* false: every inherited name not denied passes */
	struct policy_words pass; /* globs */
	struct policy_words set;  /* raw lines of NAME=VALUE words */
	struct policy_words
	    deny; /* globs: the built-in ones, then the file's */

	/* [capabilities] */
	struct policy_words keep; /* capability names */

	/* [security] */
	bool no_new_privs;
	unsigned no_new_privs_line;

	/*
	 * [seccomp] The effective deny list: the built-in list (profile
	 * default), plus the file's deny entries, minus its allow entries.
	 */
	enum policy_profile profile;
	enum policy_action action;
	struct policy_words syscalls;
	struct policy_words allow; /* as written (kept for printing) */

	/* [limits] */
	struct policy_limit limits[POLICY_LIMIT_COUNT];

	/* [network] */
	bool loopback_up;
};

/* ---- parse.c (pure) ---- */

/*
 * The built-in policy: every capability dropped, no_new_privs, the default
 * seccomp deny list with errno, core size 0, loopback up, the secret
 * variables denied. Returns NULL (errno ENOMEM) on allocation failure.
 * Free with policy_free().
 */
struct policy *policy_default_new(void);

/*
 * Parse INI text; name is used in diagnostics ("name:line: ..."). Keys the
 * text does not set keep their built-in values. Returns 0 and *out, or
 * -EINVAL with the first problem in err, or -ENOMEM.
 */
int policy_parse_string(const char *text, const char *name, struct policy **out,
			char *err, size_t errlen);

/*
 * Read path (at most POLICY_FILE_MAX bytes) and parse it as
 * policy_parse_string() does. Returns 0, -EINVAL (bad policy, or a file
 * that cannot be read: err says which), or -ENOMEM.
 */
int policy_load_file(const char *path, struct policy **out, char *err,
		     size_t errlen);

/*
 * Apply TENANT_GATEWAY_USER (name or uid[:gid]), which wins over the
 * file's user (and group, when it names one). Returns 0 or -ENOMEM.
 */
int policy_user_override(struct policy *pol, const char *user);

/* Free a policy (NULL is accepted). */
void policy_free(struct policy *pol);

/* "default"/"none", "errno"/"kill"/"log", "nofile"... for printing. */
const char *policy_profile_name(enum policy_profile p);
const char *policy_action_name(enum policy_action a);
const char *policy_limit_name(enum policy_limit_id id);

/*
 * Is name (a variable name) matched by one of the globs? Used for the
 * [environment] pass and deny lists.
 */
bool policy_words_match(const struct policy_words *globs, const char *name);

/*
 * "FILE:LINE" for a line of pol (or "FILE (built-in)" for line 0) into
 * buf, for diagnostics raised after parsing. Returns buf.
 */
const char *policy_where(const struct policy *pol, unsigned line, char *buf,
			 size_t cap);

/* ---- apply.c (side effects) ---- */

struct policy_prog;

/*
 * Resolve and compile pol for the gateway, in PID 1 before any fork:
 * users and groups through NSS, capability names through libcap, syscall
 * names through libseccomp, the seccomp filter to BPF for the native
 * architecture (every other architecture, x32 included, kills the
 * process), the gateway's extra environment entries ([environment] set,
 * expanded from envp, and HOME/USER/LOGNAME of a named gateway user).
 * cfg supplies the defaults $TENANT_GATEWAY_PORT/$OPENCLAW_STATE_DIR
 * expand to, and whether [gateway] command may replace the gateway
 * command (not in tini mode, nor when TENANT_GATEWAY_CMD is set).
 *
 * Takes ownership of pol in every case. Returns 0 and *out, or -EINVAL
 * with "FILE:LINE: problem" in err (a policy that cannot be applied: exit
 * 78), or -ENOMEM/-errno (internal).
 */
int policy_compile(struct policy *pol, const struct config *cfg,
		   char *const *envp, struct policy_prog **out, char *err,
		   size_t errlen);

/* Free a compiled policy and the policy it owns (NULL is accepted). */
void policy_prog_free(struct policy_prog *prog);

/*
 * The launch pre_exec hook (ctx is the struct policy_prog). Runs in the
 * forked child, and in this order: umask, rlimits, setgroups, setresgid,
 * setresuid, bounding set, cap_set_proc (+ ambient), workdir,
 * no_new_privs, seccomp last. Each step is re-checked. Async-signal-safe:
 * no allocation. Returns 0 or -errno (the child then exits 126).
 */
int policy_apply_cb(void *ctx);

/*
 * gwenv keep callback (ctx is the struct policy_prog): true when an
 * inherited variable passes [environment] pass and is not denied.
 */
bool policy_env_keep_cb(const char *name, void *ctx);

/*
 * The NAME=VALUE entries the policy adds to the gateway's environment
 * (NULL-terminated, owned by prog; values may be secret).
 */
char *const *policy_env_extra(const struct policy_prog *prog);

/* The gateway command from [gateway] command, or NULL (use the config). */
char *const *policy_command(const struct policy_prog *prog);

/*
 * The uid and gid the gateway runs as. Returns true when they differ from
 * tenant-init's own, i.e. files the gateway must own (the data directory,
 * restored files, openclaw.json) have to be given to them.
 */
bool policy_gateway_owner(const struct policy_prog *prog, uid_t *uid,
			  gid_t *gid);

/* Whether [network] loopback_up asks for lo to be brought up. */
bool policy_wants_loopback(const struct policy_prog *prog);

/* One log line summarising what will be applied (info level). */
void policy_log_summary(const struct policy_prog *prog);

/*
 * Print the resolved policy as INI to fd, values of [environment] set
 * whose names look secret redacted. Returns 0 or -errno.
 */
int policy_print(const struct policy_prog *prog, int fd);

/* ---- net.c ---- */

/*
 * Bring the loopback interface up in the current network namespace when
 * it is down (a fresh namespace starts with it down). Returns 1 when it
 * was brought up, 0 when it already was, or -errno (libnl's error is
 * logged).
 */
int policy_loopback_up(void);

/* ---- owner.c ---- */

/*
 * Give dir and everything below it to uid:gid, creating dir (0700) when
 * missing. Never follows a symlink (the link itself is lchown'ed), stays
 * on dir's filesystem, and leaves alone what a chown could turn into a
 * privilege: device nodes, sockets and fifos, and files with more than one
 * link (a hard link to a file outside the directory). The top-level
 * entries named in keep (NULL-terminated, may be NULL; "PREFIX*" names
 * every entry starting with PREFIX) are not touched at all: they belong
 * to tenant-init, not to the gateway. Returns 0 or the
 * first -errno (the walk goes on past errors; each is logged).
 */
int policy_chown_tree(const char *dir, uid_t uid, gid_t gid,
		      const char *const *keep);

/*
 * Make sure the entry name in the directory parentfd (where: its path, for
 * messages) is a directory of this process's own user that no group or
 * other may write -- a place the gateway can neither write nor have
 * planted. The gateway owns the directory around it, so it can rename the
 * real one away (only within parentfd: moving a directory it does not own
 * elsewhere needs write access to it) and put a symlink, a file or a
 * directory of its own under the name:
 *
 *  - what is there and is not ours is renamed to "NAME.untrusted-N"
 *    (kept, never deleted);
 *  - when the name is then free and witness is not NULL, a directory of
 *    parentfd that is ours in that sense and holds a regular file of ours
 *    named witness (the real one, renamed by the gateway) is put back
 *    under the name.
 *
 * Nothing is created. Returns 0 (the name is ours, or absent), or -errno.
 */
int policy_private_dir_claim(int parentfd, const char *where, const char *name,
			     const char *witness);

/* ---- boot.c ---- */

/*
 * Decide which policy applies for cfg and compile it (DESIGN.md): in
 * gateway mode the file at cfg->policy_path, or the built-in policy when
 * the default path has no file; in tini mode nothing (*out NULL) unless a
 * policy file exists or TENANT_GATEWAY_USER is set. An explicit
 * TENANT_POLICY that does not exist is an error. Returns as
 * policy_compile().
 */
int policy_boot(const struct config *cfg, char *const *envp,
		struct policy_prog **out, char *err, size_t errlen);
