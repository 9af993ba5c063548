/* SPDX-License-Identifier: MIT */
/*
 * Gateway lifecycle: start, watch, restart with backoff, give up, stop.
 *
 * An explicit state machine (s6's model): every transition is one entry of a
 * state x event table and is logged at info. Restarts follow the policy
 * (always / on-failure / never) with a 1 s backoff doubling to 60 s (or
 * TENANT_RESTART_BACKOFF_MAX), reset after 10 minutes up. More than
 * max_restarts restarts within 10 minutes is a crash loop: the gateway is
 * given up and its last exit code reported. Stopping sends SIGTERM to the
 * gateway's process group and SIGKILL after the stop timeout, never before.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "init/config.h"
#include "supervisor/launch.h"

struct loop;
struct gateway;

enum gateway_state {
	GW_STATE_IDLE,	    /* not started yet */
	GW_STATE_STARTING,  /* running, not ready */
	GW_STATE_READY,	    /* running and ready */
	GW_STATE_BACKOFF,   /* exited, restart pending */
	GW_STATE_STOPPING,  /* SIGTERM sent, waiting for exit */
	GW_STATE_CRASHLOOP, /* gave up: too many restarts */
	GW_STATE_EXITED,    /* done for good */
	GW_STATE_COUNT,
};

enum gateway_event {
	GW_EV_START,   /* owner asks for the first start */
	GW_EV_EXIT,    /* the process exited (status recorded) */
	GW_EV_TIMER,   /* backoff over, or stop deadline reached */
	GW_EV_STOP,    /* owner asks for an orderly stop */
	GW_EV_READY,   /* the probe saw it ready */
	GW_EV_UNREADY, /* the probe saw it not ready (but alive) */
	GW_EV_WEDGED,  /* liveness failed too often: restart it */
	GW_EV_COUNT,
};

struct gateway_params {
	char *const *argv;
	char *const *envp; /* the gateway's whole environment */
	enum restart_policy restart;
	unsigned max_restarts;
	/*
	 * Cap of the restart backoff (TENANT_RESTART_BACKOFF_MAX); 0 = the
	 * default 60 s. Never below the 1 s minimum between starts.
	 */
	uint64_t backoff_max_ms;
	uint64_t stop_timeout_ms; /* DURATION_NEVER: no SIGKILL */
	bool group_signals;	  /* -g: forwarded signals go to the group */
	bool tty_foreground;	  /* tini mode: child owns the terminal */
	launch_hook pre_exec;	  /* the sandbox policy, or NULL */
	void *pre_exec_ctx;
};

struct gateway_cbs {
	/*
	 * The gateway is finished for good (no restart will follow): it
	 * exited under the policy, gave up in a crash loop, or was stopped on
	 * request. code is its last exit code (128+N for signal N), or -1 if
	 * it never ran.
	 */
	void (*finished)(void *ctx, int code);
	/* Any state change (for readiness and metrics). May be NULL. */
	void (*changed)(void *ctx, enum gateway_state state);
};

/*
 * Create the supervisor for one gateway. params' pointers must outlive it.
 * Returns NULL and sets errno on failure.
 */
struct gateway *gateway_new(struct loop *loop,
			    const struct gateway_params *params,
			    const struct gateway_cbs *cbs, void *ctx);

/* Free it; a running gateway is not signalled (stop it first). */
void gateway_free(struct gateway *gw);

/* Feed an event into the state machine. */
void gateway_handle(struct gateway *gw, enum gateway_event ev);

/*
 * Offer a reaped child. Returns true (and consumes it) when pid is the
 * gateway's main process.
 */
bool gateway_child_exited(struct gateway *gw, pid_t pid, int status);

/*
 * Relay a signal: to the process, or to its group with group_signals.
 * A gateway that is not running is not an error. Returns 0 or -errno.
 */
int gateway_signal(struct gateway *gw, int sig);

/* Send SIGKILL to the group now (impatient second Ctrl-C). */
void gateway_kill(struct gateway *gw);

enum gateway_state gateway_state(const struct gateway *gw);

/* Process id while running, else 0. */
pid_t gateway_pid(const struct gateway *gw);

/* Restarts performed since start (for /metrics). */
uint64_t gateway_restarts(const struct gateway *gw);

/* Starts performed (first start included). */
uint64_t gateway_starts(const struct gateway *gw);

/* True while the process exists (starting, ready or stopping). */
bool gateway_is_running(const struct gateway *gw);

/* Name of a state, for logs and tests. */
const char *gateway_state_name(enum gateway_state state);
