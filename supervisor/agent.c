/* SPDX-License-Identifier: MIT */
#include "supervisor/agent.h"

#include <errno.h>
#include <stdlib.h>

#include "init/config.h"
#include "init/log.h"
#include "init/loop.h"
#include "supervisor/status.h"

struct agent {
	struct loop *loop;
	const struct config *cfg;
	struct tenant_status *st;
	struct agent_cbs cbs;
	void *ctx;
	struct loop_timer *restore_timer;
	struct loop_timer *flush_timer;
};

static void restore_timer_cb(void *ctx)
{
	struct agent *a = ctx;

	a->st->restoring = false;
	a->cbs.restore_done(a->ctx, true);
}

static void flush_timer_cb(void *ctx)
{
	struct agent *a = ctx;

	a->cbs.flush_done(a->ctx, true);
}

struct agent *agent_new(struct loop *loop, const struct config *cfg,
			struct tenant_status *st, const struct agent_cbs *cbs,
			void *ctx)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->loop = loop;
	a->cfg = cfg;
	a->st = st;
	a->cbs = *cbs;
	a->ctx = ctx;
	a->restore_timer = loop_timer_new(loop, restore_timer_cb, a);
	a->flush_timer = loop_timer_new(loop, flush_timer_cb, a);
	if (!a->restore_timer || !a->flush_timer) {
		agent_free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	loop_timer_free(a->restore_timer);
	loop_timer_free(a->flush_timer);
	free(a);
}

int agent_start(struct agent *a)
{
	if (a->cfg->sync.kind == SYNC_OFF)
		log_info("sync: off (no TENANT_SYNC_URL and no R2 "
			 "credentials); the data directory is not backed up");
	else
		log_warn("sync: configured, but this build has no sync "
			 "engine; the data directory is not backed up");
	a->st->restoring = true;
	/* Report from the loop, never from inside the caller's frame. */
	loop_timer_arm(a->restore_timer, 0);
	return 0;
}

void agent_sync_now(struct agent *a)
{
	(void)a;
	log_info("sync: SIGUSR1 received; sync is off, nothing to do");
}

void agent_flush(struct agent *a, uint64_t timeout_ms)
{
	(void)timeout_ms;
	loop_timer_arm(a->flush_timer, 0);
}

bool agent_child_exited(struct agent *a, pid_t pid, int status)
{
	(void)a;
	(void)pid;
	(void)status;
	return false;
}

pid_t agent_pid(const struct agent *a)
{
	(void)a;
	return 0;
}
