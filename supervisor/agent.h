/* SPDX-License-Identifier: MIT */
/*
 * PID 1's side of the sync agent: start it (tenant-init re-executed in its
 * sync mode), hand it the storage credentials, learn when the restore is
 * done, forward "sync now", ask for the final flush, restart it if it dies.
 *
 * The agent is /proc/self/exe re-executed as `tenant-init sync --agent
 * --ipc-fd 3`, in its own process group, with a SOCK_SEQPACKET socketpair
 * as fd 3 over which it gets its configuration, credentials included
 * (PID 1's environment no longer has them), and reports back (sync/ipc.h).
 * If it dies it is restarted with backoff (1 s doubling to 30 s); a
 * restart after the boot restore skips the restore and rescans instead.
 *
 * With sync off (no TENANT_SYNC_URL and no R2 credentials) no agent runs:
 * the restore is reported done at once and the flush is a no-op.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct config;
struct tenant_status;
struct agent;

struct agent_cbs {
	/* The boot restore finished (ok) or was abandoned (shutdown). */
	void (*restore_done)(void *ctx, bool ok);
	/* The final flush finished: ok = everything is durable. */
	void (*flush_done)(void *ctx, bool ok);
};

/* Returns NULL and sets errno on failure. cfg and st must outlive it. */
struct agent *agent_new(struct loop *loop, const struct config *cfg,
			struct tenant_status *st, const struct agent_cbs *cbs,
			void *ctx);

/* Stop watching (the process, if any, must already be gone) and free. */
void agent_free(struct agent *a);

/*
 * Owner of restored files and directories (the gateway's user), sent to
 * the agent when it starts; (uid_t)-1/(gid_t)-1 (the default) leave them
 * as created. Call before agent_start().
 */
void agent_set_owner(struct agent *a, uid_t uid, gid_t gid);

/* Start the agent and its boot restore. Returns 0 or -errno. */
int agent_start(struct agent *a);

/* SIGUSR1: sync everything now. */
void agent_sync_now(struct agent *a);

/*
 * Final flush, bounded by timeout_ms: upload everything dirty, then exit.
 * flush_done() follows exactly once.
 */
void agent_flush(struct agent *a, uint64_t timeout_ms);

/* Offer a reaped child; true when it was the agent. */
bool agent_child_exited(struct agent *a, pid_t pid, int status);

/* The agent's pid, or 0. */
pid_t agent_pid(const struct agent *a);
