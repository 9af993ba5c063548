/* SPDX-License-Identifier: MIT */
/* Unit tests for init/loop.c: fds, timers, re-entrancy. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "init/loop.h"
#include "tests/tap.h"

struct rec {
	char order[16];
	int n;
	struct loop *loop;
	struct loop_timer *self;
	struct loop_timer *victim;
	int rearm;
	int quit_at;
};

static void mark(struct rec *r, char c)
{
	if (r->n < (int)sizeof(r->order) - 1)
		r->order[r->n++] = c;
	r->order[r->n] = '\0';
}

static void tA(void *ctx)
{
	mark(ctx, 'A');
}
static void tB(void *ctx)
{
	mark(ctx, 'B');
}
static void tC(void *ctx)
{
	struct rec *r = ctx;
	mark(r, 'C');
	if (r->n >= r->quit_at)
		loop_quit(r->loop, 7);
}

static void t_rearm(void *ctx)
{
	struct rec *r = ctx;
	mark(r, 'R');
	if (r->rearm-- > 0)
		loop_timer_arm(r->self, 0);
	else
		loop_quit(r->loop, 0);
}

static void t_kill_other(void *ctx)
{
	struct rec *r = ctx;
	mark(r, 'K');
	loop_timer_free(r->victim);
	r->victim = NULL;
}

static void test_timers(void)
{
	struct loop *loop = loop_new();
	struct rec r = {.loop = loop, .quit_at = 3};
	struct loop_timer *a = loop_timer_new(loop, tA, &r);
	struct loop_timer *b = loop_timer_new(loop, tB, &r);
	struct loop_timer *c = loop_timer_new(loop, tC, &r);
	uint64_t t0 = loop_now_ms();

	loop_timer_arm(c, 60);
	loop_timer_arm(a, 20);
	loop_timer_arm(b, 40);
	ok(loop_timer_is_armed(a) && loop_timer_deadline(a) >= t0 + 20,
	   "armed timer reports its deadline");
	is_int(loop_run(loop), 7, "loop_run returns the loop_quit code");
	is_str(r.order, "ABC", "timers fire in deadline order");
	ok(loop_now_ms() - t0 >= 60, "not before the last deadline");
	ok(!loop_timer_is_armed(a), "a fired timer is disarmed");

	/* Re-arming with 0 from the callback runs once per pass, no spin. */
	struct rec r2 = {.loop = loop, .rearm = 3};
	struct loop_timer *rt = loop_timer_new(loop, t_rearm, &r2);
	r2.self = rt;
	loop_timer_arm(rt, 0);
	struct loop *l2 = loop;
	(void)l2;
	is_int(loop_run_once(loop, 1000), 1, "one pass");
	is_str(r2.order, "R",
	       "a timer re-armed from its callback waits a pass");
	for (int i = 0; i < 10 && r2.rearm >= 0; i++)
		(void)loop_run_once(loop, 1000);
	is_str(r2.order, "RRRR", "re-armed timer fired again each pass");

	/* Disarm and re-arm. */
	struct rec r3 = {.loop = loop};
	struct loop_timer *d = loop_timer_new(loop, tA, &r3);
	loop_timer_arm(d, 10);
	loop_timer_disarm(d);
	is_int(loop_run_once(loop, 50), 0, "a disarmed timer never fires");
	is_str(r3.order, "", "nothing fired");

	/*
	 * A deadline moved later: the timerfd may stay armed for the old
	 * one, whose wakeup must find nothing due; the timer fires at the
	 * new deadline, not before.
	 */
	struct rec r6 = {.loop = loop, .quit_at = 1};
	struct loop_timer *m = loop_timer_new(loop, tC, &r6);
	uint64_t t1 = loop_now_ms();
	loop_timer_arm(m, 20);
	loop_timer_arm(m, 120);
	for (int i = 0; i < 50 && !r6.n; i++)
		(void)loop_run_once(loop, 1000);
	ok(r6.n == 1, "a timer moved later fires");
	ok(loop_now_ms() - t1 >= 120, "... at its new deadline, not the old");
	is_str(r6.order, "C", "... once");
	loop_timer_free(m);

	/* A callback freeing another due timer: the freed one never runs. */
	struct rec r4 = {.loop = loop};
	struct loop_timer *k = loop_timer_new(loop, t_kill_other, &r4);
	r4.victim = loop_timer_new(loop, tA, &r4);
	/* Both already due; K's deadline is earlier, so K runs first. */
	loop_timer_arm_at(k, loop_now_ms() - 2);
	loop_timer_arm_at(r4.victim, loop_now_ms() - 1);
	(void)loop_run_once(loop, 1000);
	is_str(r4.order, "K",
	       "a due timer freed by an earlier callback never fires");
	struct rec r5 = {.loop = loop, .quit_at = 99};
	struct loop_timer *x = loop_timer_new(loop, tA, &r5);
	struct loop_timer *y = loop_timer_new(loop, tB, &r5);
	loop_timer_arm_at(y, loop_now_ms() - 5);
	loop_timer_arm_at(x, loop_now_ms() - 1);
	(void)loop_run_once(loop, 1000);
	is_str(r5.order, "BA", "timers due in one pass fire earliest first");
	loop_timer_free(x);
	loop_timer_free(y);
	loop_timer_free(r4.victim);
	loop_timer_free(k);
	loop_timer_free(d);
	loop_timer_free(rt);
	loop_timer_free(a);
	loop_timer_free(b);
	loop_timer_free(c);
	loop_free(loop);
}

struct fdrec {
	struct loop *loop;
	int fds[2];
	int other[2];
	int hits;
	int other_hits;
};

static void on_read_del_other(void *ctx, int fd, uint32_t ev)
{
	struct fdrec *f = ctx;
	char buf[8];

	(void)ev;
	(void)!read(fd, buf, sizeof(buf));
	f->hits++;
	/* Delete the other watched fd while its event may be in this batch. */
	(void)loop_fd_del(f->loop, f->other[0]);
	close(f->other[0]);
	f->other[0] = -1;
}

static void on_other(void *ctx, int fd, uint32_t ev)
{
	struct fdrec *f = ctx;
	char buf[8];

	(void)ev;
	(void)!read(fd, buf, sizeof(buf));
	f->other_hits++;
	(void)loop_fd_del(f->loop, f->fds[0]);
}

static void test_fds(void)
{
	struct loop *loop = loop_new();
	struct fdrec f = {.loop = loop};

	ok(pipe2(f.fds, O_CLOEXEC) == 0 && pipe2(f.other, O_CLOEXEC) == 0,
	   "pipes");
	is_int(loop_fd_add(loop, f.fds[0], EPOLLIN, on_read_del_other, &f), 0,
	       "add fd");
	is_int(loop_fd_add(loop, f.fds[0], EPOLLIN, on_read_del_other, &f),
	       -EEXIST, "adding the same fd twice is -EEXIST");
	is_int(loop_fd_add(loop, f.other[0], EPOLLIN, on_other, &f), 0,
	       "add other fd");
	(void)!write(f.fds[1], "x", 1);
	(void)!write(f.other[1], "y", 1);
	int n = loop_run_once(loop, 1000);
	ok(n >= 1, "events dispatched");
	ok(f.hits + f.other_hits == 1,
	   "the fd deleted by the first callback got no callback (%d+%d)",
	   f.hits, f.other_hits);
	is_int(loop_fd_mod(loop, 12345, EPOLLIN), -ENOENT,
	       "modifying an unknown fd is -ENOENT");
	is_int(loop_fd_del(loop, 12345), -ENOENT,
	       "deleting an unknown fd is -ENOENT");
	if (f.hits)
		(void)loop_fd_del(loop, f.fds[0]);
	else if (f.other[0] >= 0)
		(void)loop_fd_del(loop, f.other[0]);
	is_int(loop_run_once(loop, 20), 0, "nothing left to dispatch");
	close(f.fds[0]);
	close(f.fds[1]);
	if (f.other[0] >= 0)
		close(f.other[0]);
	close(f.other[1]);
	loop_free(loop);
}

int main(void)
{
	test_timers();
	test_fds();
	return tap_done();
}
