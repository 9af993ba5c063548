/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for supervisor/gateway.c with real processes: restart
 * policies, backoff, crash-loop give-up, stop and SIGKILL escalation.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "init/log.h"
#include "init/loop.h"
#include "init/reap.h"
#include "init/signals.h"
#include "supervisor/gateway.h"
#include "tests/tap.h"

struct harness {
	struct loop *loop;
	struct gateway *gw;
	int finished;
	int code;
	uint64_t start_times[8];
	int nstarts;
	enum gateway_state last;
	bool stop_on_start; /* send GW_EV_STOP when the act timer fires */
	bool wedge_once;    /* ... but first report it wedged once */
	struct loop_timer *act;
};

static void finished_cb(void *ctx, int code)
{
	struct harness *h = ctx;

	h->finished++;
	h->code = code;
	loop_quit(h->loop, 0);
}

static void changed_cb(void *ctx, enum gateway_state st)
{
	struct harness *h = ctx;

	h->last = st;
	if (st == GW_STATE_STARTING && h->nstarts < 8)
		h->start_times[h->nstarts++] = loop_now_ms();
	/* After a wedge restart, stop the new instance shortly. */
	if (st == GW_STATE_STARTING && h->nstarts == 2 && h->act)
		loop_timer_arm(h->act, 50);
}

static void reaped(void *ctx, pid_t pid, int status)
{
	struct harness *h = ctx;

	(void)gateway_child_exited(h->gw, pid, status);
}

static void sig_cb(void *ctx, int fd, uint32_t ev)
{
	(void)ev;
	while (signals_read(fd, NULL) > 0)
		;
	(void)reap_children(reaped, ctx, NULL);
}

static void act_cb(void *ctx)
{
	struct harness *h = ctx;

	if (h->wedge_once) {
		h->wedge_once = false;
		gateway_handle(h->gw, GW_EV_WEDGED);
	} else if (h->stop_on_start) {
		gateway_handle(h->gw, GW_EV_STOP);
	}
}

static void guard_cb(void *ctx)
{
	struct harness *h = ctx;

	diag("guard timer fired: test took too long");
	loop_quit(h->loop, 1);
}

/* gateway_params.backoff_max_ms of the next run() (0 = the default). */
static uint64_t backoff_max_ms;

/* Run argv under params until finished; returns the harness result. */
static struct harness run(char *const *argv, enum restart_policy rp,
			  unsigned max_restarts, uint64_t stop_ms,
			  int act_after_ms, bool wedge)
{
	static const struct gateway_cbs cbs = {finished_cb, changed_cb};
	extern char **environ;
	struct harness h = {0};
	struct gateway_params p = {
	    .argv = argv,
	    .envp = environ,
	    .restart = rp,
	    .max_restarts = max_restarts,
	    .backoff_max_ms = backoff_max_ms,
	    .stop_timeout_ms = stop_ms,
	};
	int sfd = signals_setup();
	struct loop_timer *act, *guard;

	h.loop = loop_new();
	(void)loop_fd_add(h.loop, sfd, EPOLLIN, sig_cb, &h);
	h.gw = gateway_new(h.loop, &p, &cbs, &h);
	act = loop_timer_new(h.loop, act_cb, &h);
	h.act = act;
	guard = loop_timer_new(h.loop, guard_cb, &h);
	loop_timer_arm(guard, 20000);
	h.wedge_once = wedge;
	h.stop_on_start = act_after_ms >= 0;
	if (act_after_ms >= 0)
		loop_timer_arm(act, (uint64_t)act_after_ms);
	gateway_handle(h.gw, GW_EV_START);
	(void)loop_run(h.loop);
	h.last = gateway_state(h.gw);
	loop_timer_free(act);
	loop_timer_free(guard);
	gateway_free(h.gw);
	h.gw = NULL;
	(void)loop_fd_del(h.loop, sfd);
	loop_free(h.loop);
	close(sfd);
	return h;
}

int main(void)
{
	char *t[] = {"true", NULL};
	char *f[] = {"sh", "-c", "exit 3", NULL};
	char *sl[] = {"sleep", "100", NULL};
	char *stubborn[] = {"sh", "-c", "trap '' TERM; exec sleep 100", NULL};
	char *missing[] = {"/nonexistent/gw", NULL};
	struct harness h;
	uint64_t t0;

	log_set_level(LOG_LEVEL_WARN);

	h = run(t, RESTART_NEVER, 10, 1000, -1, false);
	ok(h.finished == 1 && h.code == 0 && h.nstarts == 1,
	   "never: one start, finished with 0");
	is_str(gateway_state_name(h.last), "exited", "never: state exited");

	h = run(t, RESTART_ON_FAILURE, 10, 1000, -1, false);
	ok(h.finished == 1 && h.code == 0 && h.nstarts == 1,
	   "on-failure: exit 0 is final");

	h = run(f, RESTART_ON_FAILURE, 2, 1000, -1, false);
	is_int(h.nstarts, 3, "on-failure, max 2: three starts");
	is_int(h.code, 3, "crash loop reports the child's code");
	is_str(gateway_state_name(h.last), "crashloop", "state crashloop");
	ok(h.start_times[1] - h.start_times[0] >= 1000,
	   "first restart after >= 1 s (%llu ms)",
	   (unsigned long long)(h.start_times[1] - h.start_times[0]));
	ok(h.start_times[2] - h.start_times[1] >= 2000,
	   "second restart after >= 2 s (%llu ms): backoff doubles",
	   (unsigned long long)(h.start_times[2] - h.start_times[1]));
	ok(h.start_times[2] - h.start_times[1] < 3500,
	   "second restart not much later than 2 s + 10%% jitter");

	/*
	 * TENANT_RESTART_BACKOFF_MAX=1s: the delays stop doubling at the cap
	 * (1 s + at most 10% jitter), and never fall below the 1 s minimum.
	 */
	backoff_max_ms = 1000;
	h = run(f, RESTART_ON_FAILURE, 4, 1000, -1, false);
	backoff_max_ms = 0;
	is_int(h.nstarts, 5, "backoff max 1s, max 4 restarts: five starts");
	for (int i = 1; i < h.nstarts; i++) {
		uint64_t gap = h.start_times[i] - h.start_times[i - 1];
		ok(gap >= 1000 && gap < 1600,
		   "restart %d after 1 s (%llu ms): capped, not doubled", i,
		   (unsigned long long)gap);
	}

	/* A cap below the minimum (a caller's mistake) still waits 1 s. */
	backoff_max_ms = 10;
	h = run(f, RESTART_ON_FAILURE, 2, 1000, -1, false);
	backoff_max_ms = 0;
	is_int(h.nstarts, 3, "backoff max 10 ms: three starts");
	ok(h.start_times[1] - h.start_times[0] >= 1000 &&
	       h.start_times[2] - h.start_times[1] >= 1000,
	   "starts stay at least 1 s apart (%llu, %llu ms)",
	   (unsigned long long)(h.start_times[1] - h.start_times[0]),
	   (unsigned long long)(h.start_times[2] - h.start_times[1]));

	h = run(t, RESTART_ALWAYS, 0, 1000, -1, false);
	ok(h.nstarts == 1 && h.code == 0 && h.last == GW_STATE_CRASHLOOP,
	   "always, max 0: the first exit gives up");

	h = run(missing, RESTART_NEVER, 0, 1000, -1, false);
	is_int(h.code, 127, "a missing program finishes with 127");

	t0 = loop_now_ms();
	h = run(sl, RESTART_ON_FAILURE, 10, 5000, 50, false);
	ok(h.finished == 1 && h.code == 143 && h.nstarts == 1,
	   "stop: SIGTERM ends it (143), no restart");
	ok(loop_now_ms() - t0 < 4000, "stop did not wait for the timeout");

	t0 = loop_now_ms();
	h = run(stubborn, RESTART_ALWAYS, 10, 400, 100, false);
	is_int(h.code, 137, "stop: a child ignoring SIGTERM gets SIGKILL");
	ok(loop_now_ms() - t0 >= 500, "SIGKILL not before the stop timeout");
	is_int(h.nstarts, 1, "a requested stop is never restarted");

	h = run(sl, RESTART_ON_FAILURE, 10, 2000, 100, true);
	is_int(h.nstarts, 2, "a wedged gateway is stopped and started again");
	ok(h.start_times[1] - h.start_times[0] >= 1000,
	   "the wedge restart goes through the backoff");
	is_int(h.code, 143, "the restarted instance then stops on request");

	log_reset();
	return tap_done();
}
