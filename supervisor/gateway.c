/* SPDX-License-Identifier: MIT */
#include "supervisor/gateway.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "init/log.h"
#include "init/loop.h"
#include "init/reap.h"
#include "init/signals.h"

#define BACKOFF_MIN_MS	  1000u
#define BACKOFF_MAX_MS	  60000u /* default cap (TENANT_RESTART_BACKOFF_MAX) */
#define RESTART_WINDOW_MS (10u * 60u * 1000u)
#define HEALTHY_RESET_MS  (10u * 60u * 1000u)

struct gateway {
	struct loop *loop;
	const struct gateway_params *p;
	struct gateway_cbs cbs;
	void *ctx;

	enum gateway_state state;
	pid_t pid;
	int last_status;
	int last_code;		 /* -1 before the first exit */
	bool restart_after_stop; /* stopping because wedged, not asked to */
	bool wedged_exit;	 /* this exit was our kill of a wedged one */
	uint64_t started_at;
	uint64_t backoff_ms;
	uint64_t starts;
	uint64_t restarts;
	/* Restart times within the window, oldest first. */
	uint64_t *restart_times;
	size_t nrestart_times;
	struct loop_timer *timer;
};

static const char *const state_names[GW_STATE_COUNT] = {
    [GW_STATE_IDLE] = "idle",	      [GW_STATE_STARTING] = "starting",
    [GW_STATE_READY] = "ready",	      [GW_STATE_BACKOFF] = "backoff",
    [GW_STATE_STOPPING] = "stopping", [GW_STATE_CRASHLOOP] = "crashloop",
    [GW_STATE_EXITED] = "exited",
};

static const char *const event_names[GW_EV_COUNT] = {
    [GW_EV_START] = "start",   [GW_EV_EXIT] = "exit",
    [GW_EV_TIMER] = "timer",   [GW_EV_STOP] = "stop",
    [GW_EV_READY] = "ready",   [GW_EV_UNREADY] = "unready",
    [GW_EV_WEDGED] = "wedged",
};

const char *gateway_state_name(enum gateway_state state)
{
	return state < GW_STATE_COUNT ? state_names[state] : "?";
}

/* A handler returns the next state. */
typedef enum gateway_state (*gw_handler)(struct gateway *gw);

static void set_state(struct gateway *gw, enum gateway_state next,
		      enum gateway_event ev)
{
	enum gateway_state prev = gw->state;

	if (next == prev)
		return;
	gw->state = next;
	log_info("gateway: %s -> %s (%s)", state_names[prev], state_names[next],
		 event_names[ev]);
	if (gw->cbs.changed)
		gw->cbs.changed(gw->ctx, next);
}

/* ---- actions ---- */

static enum gateway_state do_spawn(struct gateway *gw)
{
	struct launch_spec spec = {
	    .argv = gw->p->argv,
	    .envp = gw->p->envp,
	    .new_pgrp = true,
	    .tty_foreground = gw->p->tty_foreground,
	    .ipc_fd = -1,
	    .pre_exec = gw->p->pre_exec,
	    .pre_exec_ctx = gw->p->pre_exec_ctx,
	};
	int r = launch_start(&spec, &gw->pid);

	gw->starts++;
	gw->started_at = loop_now_ms();
	if (r < 0) {
		/*
		 * fork failed (EAGAIN at pids.max, ENOMEM): treat it as an
		 * immediate failed exit, so backoff and the crash-loop budget
		 * apply and PID 1 never spins.
		 */
		log_err_errno(r, "unable to start the gateway");
		gw->pid = 0;
		gw->last_code = LAUNCH_EXIT_SETUP;
		gw->last_status = LAUNCH_EXIT_SETUP << 8;
		return GW_STATE_STARTING; /* an EXIT event follows at once */
	}
	log_info("gateway: started %s as pid %d", gw->p->argv[0], (int)gw->pid);
	return GW_STATE_STARTING;
}

static void signal_group(struct gateway *gw, int sig)
{
	if (gw->pid <= 0)
		return;
	/* The gateway leads its own group; its tools are in it too. */
	if (kill(-gw->pid, sig) < 0 && kill(gw->pid, sig) < 0 && errno != ESRCH)
		log_warn_errno(errno, "unable to send %s to the gateway",
			       signals_name(sig));
}

static uint64_t jitter(uint64_t ms)
{
	uint32_t rnd = 0;

	/* Up to +10%: restarts of many tenants on one host spread out. */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)loop_now_ms();
	return ms + (ms / 10 ? rnd % (ms / 10) : 0);
}

/*
 * The backoff's cap: the operator's, but never below the minimum, so that
 * starts stay at least 1 s apart whatever the parameters say.
 */
static uint64_t backoff_max(const struct gateway *gw)
{
	uint64_t max =
	    gw->p->backoff_max_ms ? gw->p->backoff_max_ms : BACKOFF_MAX_MS;

	return max < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : max;
}

/* Drop restart times older than the window; true if one more is allowed. */
static bool restart_allowed(struct gateway *gw, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < gw->nrestart_times; i++)
		if (now - gw->restart_times[i] < RESTART_WINDOW_MS)
			gw->restart_times[keep++] = gw->restart_times[i];
	gw->nrestart_times = keep;
	return gw->nrestart_times < gw->p->max_restarts;
}

static bool wants_restart(const struct gateway *gw, bool wedged)
{
	switch (gw->p->restart) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_ON_FAILURE:
		/*
		 * A wedged gateway failed whatever code it exits with after
		 * our SIGTERM (OpenClaw drains and exits 0).
		 */
		return gw->last_code != 0 || wedged;
	case RESTART_NEVER:
		return false;
	default:
		return false;
	}
}

static void finish(struct gateway *gw)
{
	if (gw->cbs.finished)
		gw->cbs.finished(gw->ctx, gw->last_code);
}

/* ---- handlers: one per (state, event) that does something ---- */

static enum gateway_state h_start(struct gateway *gw)
{
	return do_spawn(gw);
}

static enum gateway_state h_exit_running(struct gateway *gw)
{
	uint64_t now = loop_now_ms();
	bool wedged = gw->wedged_exit;
	uint64_t *nt;

	gw->wedged_exit = false;
	gw->pid = 0;
	log_info("gateway: exited with code %d after %llu ms", gw->last_code,
		 (unsigned long long)(now - gw->started_at));
	if (!wants_restart(gw, wedged)) {
		set_state(gw, GW_STATE_EXITED, GW_EV_EXIT);
		finish(gw);
		return GW_STATE_EXITED;
	}
	if (!restart_allowed(gw, now)) {
		log_err("gateway: crash loop: %zu restarts within 10 minutes "
			"(TENANT_MAX_RESTARTS=%u); giving up with code %d",
			gw->nrestart_times, gw->p->max_restarts, gw->last_code);
		set_state(gw, GW_STATE_CRASHLOOP, GW_EV_EXIT);
		finish(gw);
		return GW_STATE_CRASHLOOP;
	}
	nt = realloc(gw->restart_times, (gw->nrestart_times + 1) * sizeof(*nt));
	if (nt) {
		gw->restart_times = nt;
		gw->restart_times[gw->nrestart_times++] = now;
	}
	if (now - gw->started_at >= HEALTHY_RESET_MS || !gw->backoff_ms)
		gw->backoff_ms = BACKOFF_MIN_MS;
	else
		gw->backoff_ms = gw->backoff_ms * 2 > backoff_max(gw)
				     ? backoff_max(gw)
				     : gw->backoff_ms * 2;
	{
		uint64_t d = jitter(gw->backoff_ms);
		log_info("gateway: restarting in %llu ms",
			 (unsigned long long)d);
		loop_timer_arm(gw->timer, d);
	}
	return GW_STATE_BACKOFF;
}

static enum gateway_state h_backoff_over(struct gateway *gw)
{
	gw->restarts++;
	return do_spawn(gw);
}

static enum gateway_state h_stop_running(struct gateway *gw)
{
	signal_group(gw, SIGTERM);
	if (gw->p->stop_timeout_ms != DURATION_NEVER)
		loop_timer_arm(gw->timer, gw->p->stop_timeout_ms);
	return GW_STATE_STOPPING;
}

static enum gateway_state h_stop_idle(struct gateway *gw)
{
	loop_timer_disarm(gw->timer);
	set_state(gw, GW_STATE_EXITED, GW_EV_STOP);
	finish(gw);
	return GW_STATE_EXITED;
}

static enum gateway_state h_stop_deadline(struct gateway *gw)
{
	log_warn("gateway: still running %llu ms after SIGTERM; sending "
		 "SIGKILL",
		 (unsigned long long)gw->p->stop_timeout_ms);
	signal_group(gw, SIGKILL);
	return GW_STATE_STOPPING;
}

static enum gateway_state h_exit_stopping(struct gateway *gw)
{
	loop_timer_disarm(gw->timer);
	gw->pid = 0;
	log_info("gateway: stopped with code %d", gw->last_code);
	if (gw->restart_after_stop) {
		gw->restart_after_stop = false;
		/* A wedged gateway counts as a failure, with backoff. */
		gw->wedged_exit = true;
		return h_exit_running(gw);
	}
	set_state(gw, GW_STATE_EXITED, GW_EV_EXIT);
	finish(gw);
	return GW_STATE_EXITED;
}

static enum gateway_state h_stop_while_stopping(struct gateway *gw)
{
	/* Asked to stop for good while restarting a wedged one: keep going. */
	gw->restart_after_stop = false;
	return GW_STATE_STOPPING;
}

static enum gateway_state h_ready(struct gateway *gw)
{
	(void)gw;
	return GW_STATE_READY;
}

static enum gateway_state h_unready(struct gateway *gw)
{
	(void)gw;
	return GW_STATE_STARTING;
}

static enum gateway_state h_wedged(struct gateway *gw)
{
	log_warn("gateway: not answering its liveness probe; restarting it");
	gw->restart_after_stop = true;
	return h_stop_running(gw);
}

/*
 * The transition table. A NULL entry means the event changes nothing in
 * that state (a late probe result after exit, a second stop request).
 */
static const gw_handler table[GW_STATE_COUNT][GW_EV_COUNT] = {
    [GW_STATE_IDLE] =
	{
	    [GW_EV_START] = h_start,
	    [GW_EV_STOP] = h_stop_idle,
	},
    [GW_STATE_STARTING] =
	{
	    [GW_EV_EXIT] = h_exit_running,
	    [GW_EV_STOP] = h_stop_running,
	    [GW_EV_READY] = h_ready,
	    [GW_EV_WEDGED] = h_wedged,
	},
    [GW_STATE_READY] =
	{
	    [GW_EV_EXIT] = h_exit_running,
	    [GW_EV_STOP] = h_stop_running,
	    [GW_EV_UNREADY] = h_unready,
	    [GW_EV_WEDGED] = h_wedged,
	},
    [GW_STATE_BACKOFF] =
	{
	    [GW_EV_TIMER] = h_backoff_over,
	    [GW_EV_STOP] = h_stop_idle,
	},
    [GW_STATE_STOPPING] =
	{
	    [GW_EV_EXIT] = h_exit_stopping,
	    [GW_EV_TIMER] = h_stop_deadline,
	    [GW_EV_STOP] = h_stop_while_stopping,
	},
    [GW_STATE_CRASHLOOP] = {NULL},
    [GW_STATE_EXITED] = {NULL},
};

void gateway_handle(struct gateway *gw, enum gateway_event ev)
{
	gw_handler h;
	enum gateway_state next;

	if (gw->state >= GW_STATE_COUNT || ev >= GW_EV_COUNT)
		return;
	h = table[gw->state][ev];
	if (!h) {
		log_debug("gateway: %s ignored in state %s", event_names[ev],
			  state_names[gw->state]);
		return;
	}
	next = h(gw);
	set_state(gw, next, ev);
	/* A fork failure leaves no process: report its "exit" right away. */
	if (gw->state == GW_STATE_STARTING && gw->pid == 0)
		gateway_handle(gw, GW_EV_EXIT);
}

static void timer_cb(void *ctx)
{
	gateway_handle(ctx, GW_EV_TIMER);
}

struct gateway *gateway_new(struct loop *loop,
			    const struct gateway_params *params,
			    const struct gateway_cbs *cbs, void *ctx)
{
	struct gateway *gw = calloc(1, sizeof(*gw));

	if (!gw)
		return NULL;
	gw->loop = loop;
	gw->p = params;
	if (cbs)
		gw->cbs = *cbs;
	gw->ctx = ctx;
	gw->last_code = -1;
	gw->timer = loop_timer_new(loop, timer_cb, gw);
	if (!gw->timer) {
		free(gw);
		return NULL;
	}
	return gw;
}

void gateway_free(struct gateway *gw)
{
	if (!gw)
		return;
	loop_timer_free(gw->timer);
	free(gw->restart_times);
	free(gw);
}

bool gateway_child_exited(struct gateway *gw, pid_t pid, int status)
{
	if (gw->pid <= 0 || pid != gw->pid)
		return false;
	gw->last_status = status;
	gw->last_code = reap_exit_code(status);
	gateway_handle(gw, GW_EV_EXIT);
	return true;
}

int gateway_signal(struct gateway *gw, int sig)
{
	pid_t target;

	if (gw->pid <= 0)
		return 0;
	target = gw->p->group_signals ? -gw->pid : gw->pid;
	if (kill(target, sig) < 0) {
		if (errno == ESRCH) {
			log_warn("gateway: %s not delivered: no such process",
				 signals_name(sig));
			return 0;
		}
		return -errno;
	}
	log_debug("forwarded %s to %d", signals_name(sig), (int)target);
	return 0;
}

void gateway_kill(struct gateway *gw)
{
	signal_group(gw, SIGKILL);
}

enum gateway_state gateway_state(const struct gateway *gw)
{
	return gw->state;
}

pid_t gateway_pid(const struct gateway *gw)
{
	return gw->pid;
}

uint64_t gateway_restarts(const struct gateway *gw)
{
	return gw->restarts;
}

uint64_t gateway_starts(const struct gateway *gw)
{
	return gw->starts;
}

bool gateway_is_running(const struct gateway *gw)
{
	return gw->pid > 0;
}
