/* SPDX-License-Identifier: MIT */
#include "init/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64

struct loop_fd {
	struct loop_fd *next;
	int fd;
	bool dead;
	loop_fd_cb cb;
	void *ctx;
};

struct loop_timer {
	struct loop_timer *next;
	struct loop *loop;
	loop_timer_cb cb;
	void *ctx;
	uint64_t deadline; /* 0 = disarmed */
	uint64_t gen;	   /* loop->gen when armed */
};

struct loop {
	int epfd;
	int tfd;
	bool quitting;
	int code;
	int dispatching;
	struct loop_fd *fds;
	struct loop_timer *timers;
	uint64_t armed_for; /* deadline the timerfd is set to, 0 = none */
	uint64_t gen;	    /* bumped per timer pass */
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = {.events = EPOLLIN};
	int saved;

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop->epfd < 0 || loop->tfd < 0)
		goto fail;
	/* The timerfd is tagged with a NULL pointer: no struct loop_fd. */
	ev.data.ptr = NULL;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->tfd, &ev) < 0)
		goto fail;
	return loop;
fail:
	saved = errno;
	if (loop->epfd >= 0)
		(void)close(loop->epfd);
	if (loop->tfd >= 0)
		(void)close(loop->tfd);
	free(loop);
	errno = saved;
	return NULL;
}

static void reap_dead_fds(struct loop *loop)
{
	struct loop_fd **pp = &loop->fds;

	while (*pp) {
		struct loop_fd *f = *pp;
		if (f->dead) {
			*pp = f->next;
			free(f);
		} else {
			pp = &f->next;
		}
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	while (loop->fds) {
		struct loop_fd *f = loop->fds;
		loop->fds = f->next;
		free(f);
	}
	while (loop->timers) {
		struct loop_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	(void)close(loop->tfd);
	(void)close(loop->epfd);
	free(loop);
}

static struct loop_fd *find_fd(struct loop *loop, int fd)
{
	for (struct loop_fd *f = loop->fds; f; f = f->next)
		if (f->fd == fd && !f->dead)
			return f;
	return NULL;
}

int loop_fd_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb,
		void *ctx)
{
	struct epoll_event ev = {.events = events};
	struct loop_fd *f;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (find_fd(loop, fd))
		return -EEXIST;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = fd;
	f->cb = cb;
	f->ctx = ctx;
	ev.data.ptr = f;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;
		free(f);
		return err;
	}
	f->next = loop->fds;
	loop->fds = f;
	return 0;
}

int loop_fd_mod(struct loop *loop, int fd, uint32_t events)
{
	struct loop_fd *f = find_fd(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!f)
		return -ENOENT;
	ev.data.ptr = f;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_fd_del(struct loop *loop, int fd)
{
	struct loop_fd *f = find_fd(loop, fd);

	if (!f)
		return -ENOENT;
	/*
	 * The fd may already be closed by a library that told us late (curl
	 * does this); EBADF/ENOENT from epoll is then harmless.
	 */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/*
	 * Events for this registration may still sit in the batch being
	 * dispatched: mark it dead and free it after the batch.
	 */
	f->dead = true;
	if (!loop->dispatching)
		reap_dead_fds(loop);
	return 0;
}

/* Point the timerfd at the earliest pending deadline (or disarm it). */
static void rearm_timerfd(struct loop *loop)
{
	uint64_t earliest = 0;
	struct itimerspec its;

	for (struct loop_timer *t = loop->timers; t; t = t->next)
		if (t->deadline && (!earliest || t->deadline < earliest))
			earliest = t->deadline;
	if (earliest == loop->armed_for)
		return;
	/*
	 * Armed for sooner than the earliest deadline: leave it. That wakeup
	 * finds nothing due and re-arms (fire_timers), one read instead of a
	 * timerfd_settime whenever a deadline moves later, which libcurl's
	 * timer callback does at every transfer's start and end: a restore
	 * of 2,000 files made 3,471 of them, now 485.
	 */
	if (earliest && loop->armed_for && loop->armed_for < earliest)
		return;
	memset(&its, 0, sizeof(its));
	if (earliest) {
		its.it_value.tv_sec = (time_t)(earliest / 1000u);
		its.it_value.tv_nsec = (long)(earliest % 1000u) * 1000000L;
	}
	/* Cannot fail with a valid fd and value; nothing useful to do if so. */
	(void)timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	loop->armed_for = earliest;
}

struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_cb cb,
				  void *ctx)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->ctx = ctx;
	t->next = loop->timers;
	loop->timers = t;
	return t;
}

void loop_timer_free(struct loop_timer *t)
{
	struct loop_timer **pp;

	if (!t)
		return;
	for (pp = &t->loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	if (t->deadline)
		rearm_timerfd(t->loop);
	free(t);
}

void loop_timer_arm_at(struct loop_timer *t, uint64_t deadline_ms)
{
	/* 0 means disarmed; a deadline at time 0 is simply "now". */
	t->deadline = deadline_ms ? deadline_ms : 1;
	t->gen = t->loop->gen;
	rearm_timerfd(t->loop);
}

void loop_timer_arm(struct loop_timer *t, uint64_t delay_ms)
{
	loop_timer_arm_at(t, loop_now_ms() + delay_ms);
}

void loop_timer_disarm(struct loop_timer *t)
{
	if (!t->deadline)
		return;
	t->deadline = 0;
	rearm_timerfd(t->loop);
}

bool loop_timer_is_armed(const struct loop_timer *t)
{
	return t->deadline != 0;
}

uint64_t loop_timer_deadline(const struct loop_timer *t)
{
	return t->deadline;
}

static void fire_timers(struct loop *loop)
{
	uint64_t expirations;
	uint64_t now = loop_now_ms();

	(void)!read(loop->tfd, &expirations, sizeof(expirations));
	loop->armed_for = 0;
	/*
	 * Timers armed during this pass carry the new generation and wait for
	 * the next one, so a callback that re-arms with delay 0 cannot spin.
	 * Rescan from the head after every callback: a callback may free or
	 * re-arm any timer, so no pointer survives it.
	 */
	loop->gen++;
	for (;;) {
		struct loop_timer *due = NULL;
		/* Earliest deadline first among those due. */
		for (struct loop_timer *t = loop->timers; t; t = t->next)
			if (t->deadline && t->deadline <= now &&
			    t->gen < loop->gen &&
			    (!due || t->deadline < due->deadline))
				due = t;
		if (!due)
			break;
		due->deadline = 0;
		due->cb(due->ctx);
	}
	rearm_timerfd(loop);
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->dispatching++;
	for (int i = 0; i < n; i++) {
		struct loop_fd *f = evs[i].data.ptr;
		if (!f) {
			fire_timers(loop);
			continue;
		}
		if (f->dead)
			continue;
		f->cb(f->ctx, f->fd, evs[i].events);
	}
	loop->dispatching--;
	if (!loop->dispatching)
		reap_dead_fds(loop);
	return n;
}

int loop_run(struct loop *loop)
{
	while (!loop->quitting) {
		int r = loop_run_once(loop, -1);
		if (r < 0)
			return r;
	}
	return loop->code;
}

void loop_quit(struct loop *loop, int code)
{
	loop->quitting = true;
	loop->code = code;
}

bool loop_is_quitting(const struct loop *loop)
{
	return loop->quitting;
}
