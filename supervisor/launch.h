/* SPDX-License-Identifier: MIT */
/*
 * The one way tenant-init starts a process: fork, prepare the child, exec.
 *
 * Every child (the gateway, the sync agent) goes through launch_start(). The
 * child gets its own process group when asked, default signal dispositions
 * and an empty mask, the sandbox policy through the pre_exec hook, and no
 * inherited descriptors beyond 0-2 (and the IPC fd when one is passed). The
 * program is looked up on the PATH of the child's own environment.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/*
 * Hook run in the child after the generic preparation, before exec. It runs
 * in a forked copy of PID 1: async-signal-safe work only, no allocation, no
 * locks. Return 0 to go on, or -errno: the child then logs and _exit()s with
 * LAUNCH_EXIT_SETUP.
 */
typedef int (*launch_hook)(void *ctx);

/* Exit codes of a child that never reached exec (tini's and bash's). */
#define LAUNCH_EXIT_SETUP    126 /* preparation or policy failed */
#define LAUNCH_EXIT_NOEXEC   126 /* found but not executable */
#define LAUNCH_EXIT_NOTFOUND 127 /* not found on PATH */

struct launch_spec {
	char *const *argv;   /* argv[0] is searched on the envp PATH */
	char *const *envp;   /* the child's whole environment */
	bool new_pgrp;	     /* setpgid(0, 0) */
	bool tty_foreground; /* make the new group the tty's foreground */
	int ipc_fd;	     /* >= 0: becomes fd 3 in the child */
	int pdeathsig;	     /* 0 or a signal sent when PID 1 dies */
	launch_hook pre_exec;
	void *pre_exec_ctx;
};

/*
 * Start the process. Returns 0 with *pid set, or -errno when fork fails.
 * Failures after fork show up as the child's exit status (126/127).
 */
int launch_start(const struct launch_spec *spec, pid_t *pid);

/*
 * Resolve argv0 against the PATH of envp the way the child will. Returns 0
 * and the path in buf, -ENOENT, -EACCES, or -ENAMETOOLONG. Used by
 * check-config to report a missing gateway before anything starts.
 */
int launch_resolve(const char *argv0, char *const *envp, char *buf, size_t cap);
