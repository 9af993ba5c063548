/* SPDX-License-Identifier: MIT */
#include "supervisor/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "init/log.h"
#include "init/signals.h"

#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *env_path(char *const *envp)
{
	for (char *const *p = envp; p && *p; p++)
		if (strncmp(*p, "PATH=", 5) == 0)
			return *p + 5;
	return DEFAULT_PATH;
}

/*
 * Walk PATH calling try(candidate). Mirrors execvp's rules: a name with a
 * slash is used as it is; an empty PATH element means the current directory;
 * EACCES is remembered but the search goes on.
 */
static int path_walk(const char *argv0, char *const *envp, char *buf,
		     size_t cap, int (*try)(const char *path, void *ctx),
		     void *ctx)
{
	const char *p = env_path(envp);
	bool eacces = false;

	if (!*argv0)
		return -ENOENT;
	if (strchr(argv0, '/'))
		return try(argv0, ctx);
	while (p) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		int r;

		if (dl + 1 + strlen(argv0) + 1 > cap)
			return -ENAMETOOLONG;
		if (dl == 0) {
			memcpy(buf, argv0, strlen(argv0) + 1);
		} else {
			memcpy(buf, p, dl);
			buf[dl] = '/';
			memcpy(buf + dl + 1, argv0, strlen(argv0) + 1);
		}
		r = try(buf, ctx);
		if (r == 0)
			return 0;
		if (r == -EACCES)
			eacces = true;
		else if (r != -ENOENT && r != -ENOTDIR)
			return r;
		p = colon ? colon + 1 : NULL;
	}
	return eacces ? -EACCES : -ENOENT;
}

static int try_access(const char *path, void *ctx)
{
	struct stat st;

	(void)ctx;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

int launch_resolve(const char *argv0, char *const *envp, char *buf, size_t cap)
{
	int r = path_walk(argv0, envp, buf, cap, try_access, NULL);

	if (r == 0 && strchr(argv0, '/')) {
		if (strlen(argv0) + 1 > cap)
			return -ENAMETOOLONG;
		memcpy(buf, argv0, strlen(argv0) + 1);
	}
	return r;
}

struct exec_ctx {
	char *const *argv;
	char *const *envp;
};

static int try_exec(const char *path, void *ctx)
{
	struct exec_ctx *e = ctx;

	(void)execve(path, e->argv, e->envp);
	return -errno;
}

/* Runs in the child only; never returns. */
static void child(const struct launch_spec *spec) __attribute__((noreturn));

static void child(const struct launch_spec *spec)
{
	char buf[PATH_MAX];
	struct exec_ctx e = {.argv = spec->argv, .envp = spec->envp};
	int r;

	if (spec->pdeathsig)
		(void)prctl(PR_SET_PDEATHSIG, spec->pdeathsig);
	if (spec->new_pgrp && setpgid(0, 0) < 0) {
		log_err_errno(errno, "unable to create a process group for %s",
			      spec->argv[0]);
		_exit(LAUNCH_EXIT_SETUP);
	}
	/*
	 * Taking the terminal's foreground from a background group raises
	 * SIGTTOU; it is still blocked here (PID 1's mask is inherited), so
	 * tcsetpgrp() just works. Only then are the signals reset.
	 */
	if (spec->tty_foreground && isatty(STDIN_FILENO))
		(void)tcsetpgrp(STDIN_FILENO, getpgrp());
	signals_child_reset();
	if (spec->ipc_fd >= 0) {
		if (spec->ipc_fd == 3) {
			int fl = fcntl(3, F_GETFD);
			if (fl < 0 || fcntl(3, F_SETFD, fl & ~FD_CLOEXEC) < 0)
				_exit(LAUNCH_EXIT_SETUP);
		} else if (dup2(spec->ipc_fd, 3) < 0) {
			_exit(LAUNCH_EXIT_SETUP);
		}
	}
	if (spec->pre_exec) {
		r = spec->pre_exec(spec->pre_exec_ctx);
		if (r < 0) {
			log_err_errno(r,
				      "unable to apply the sandbox policy "
				      "for %s",
				      spec->argv[0]);
			_exit(LAUNCH_EXIT_SETUP);
		}
	}
	/* Everything of ours is CLOEXEC; this is the belt to those braces. */
	(void)close_range(spec->ipc_fd >= 0 ? 4 : 3, ~0U, 0);
	r = path_walk(spec->argv[0], spec->envp, buf, sizeof(buf), try_exec,
		      &e);
	log_err_errno(r, "unable to exec %s", spec->argv[0]);
	_exit(r == -ENOENT ? LAUNCH_EXIT_NOTFOUND : LAUNCH_EXIT_NOEXEC);
}

int launch_start(const struct launch_spec *spec, pid_t *pid)
{
	pid_t p = fork();

	if (p < 0)
		return -errno;
	if (p == 0)
		child(spec);
	/*
	 * Set the group from the parent too: whichever runs first, the group
	 * exists before PID 1 signals it (the classic setpgid race).
	 */
	if (spec->new_pgrp)
		(void)setpgid(p, p);
	*pid = p;
	return 0;
}
