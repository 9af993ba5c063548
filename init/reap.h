/* SPDX-License-Identifier: MIT */
/*
 * Reaping: collect every exited child, adopted orphans included.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef void (*reap_cb)(void *ctx, pid_t pid, int status);

/*
 * waitpid(-1, WNOHANG) until it returns 0 or ECHILD, calling cb for each
 * child collected. *none_left (may be NULL) tells whether it ended on
 * ECHILD: no child of ours exists any more. Returns the number reaped (>= 0)
 * or -errno for an error other than ECHILD.
 */
int reap_children(reap_cb cb, void *ctx, bool *none_left);

/*
 * Exit code for a wait status as a shell reports it: the exit code, or
 * 128+N when killed by signal N.
 */
int reap_exit_code(int status);
