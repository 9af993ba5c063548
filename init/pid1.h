/* SPDX-License-Identifier: MIT */
/*
 * The PID-1 orchestrator: boot order, signal dispatch, reaping, the
 * shutdown sequence and the exit code.
 *
 * Boot:     sync agent restore -> prepare (key, config) -> gateway.
 * Shutdown: gateway stopped (SIGTERM, SIGKILL at the stop timeout) ->
 *           final flush (bounded) -> every remaining process killed and
 *           reaped -> exit.
 * Nothing here exits the process; pid1_run() returns the exit code.
 */
#pragma once

#include "init/config.h"

struct pid1;

/*
 * Set up signals, the loop and the supervised pieces for cfg (which must
 * outlive the object). Returns NULL with errno set and a message in err.
 */
struct pid1 *pid1_new(struct config *cfg, char *err, size_t errlen);

struct policy_prog;

/*
 * Hand over the compiled sandbox policy (owned from now on; NULL = none):
 * the gateway's pre-exec hook, environment filter and command, the
 * loopback, the data directory's owner.
 */
void pid1_set_policy(struct pid1 *p, struct policy_prog *prog);

/* Run until the tenant stops; returns the process exit code. */
int pid1_run(struct pid1 *p);

/* Free everything (after pid1_run). */
void pid1_free(struct pid1 *p);
