/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one epoll set, fd callbacks, and monotonic one-shot
 * timers multiplexed onto a single timerfd.
 *
 * Everything in PID 1 and in the sync agent runs from one loop; there are no
 * periodic wakeups. A timer fires once at its deadline and is re-armed by its
 * callback when it wants to run again. Callbacks may add, modify or delete
 * any fd or timer, including their own, while the loop dispatches.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_timer;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, ...). */
typedef void (*loop_fd_cb)(void *ctx, int fd, uint32_t events);
typedef void (*loop_timer_cb)(void *ctx);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t loop_now_ms(void);

/* Create a loop. Returns NULL and sets errno on failure. */
struct loop *loop_new(void);

/* Free the loop, its timers and fd registrations (fds are not closed). */
void loop_free(struct loop *loop);

/*
 * Watch fd for events, calling cb(ctx, fd, events). The fd stays owned by
 * the caller, who must loop_fd_del() it before closing it.
 * Returns 0, -EEXIST when fd is already watched, or -errno.
 */
int loop_fd_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb,
		void *ctx);

/* Change the events watched on fd. Returns 0, -ENOENT or -errno. */
int loop_fd_mod(struct loop *loop, int fd, uint32_t events);

/* Stop watching fd; no callback for it runs after this. 0 or -ENOENT. */
int loop_fd_del(struct loop *loop, int fd);

/* Create a disarmed timer. Returns NULL and sets errno on failure. */
struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_cb cb,
				  void *ctx);

/* Disarm and free a timer (NULL is accepted). Safe inside its callback. */
void loop_timer_free(struct loop_timer *t);

/* Fire once, delay_ms from now. Re-arming replaces the previous deadline. */
void loop_timer_arm(struct loop_timer *t, uint64_t delay_ms);

/* Fire once at an absolute loop_now_ms() deadline. */
void loop_timer_arm_at(struct loop_timer *t, uint64_t deadline_ms);

/* Cancel a pending firing. */
void loop_timer_disarm(struct loop_timer *t);

/* True while a firing is pending. */
bool loop_timer_is_armed(const struct loop_timer *t);

/* The pending deadline (loop_now_ms() clock), or 0 when disarmed. */
uint64_t loop_timer_deadline(const struct loop_timer *t);

/*
 * Dispatch events until loop_quit() is called. Returns the code given to
 * loop_quit(), or -errno if epoll itself fails.
 */
int loop_run(struct loop *loop);

/*
 * Wait at most timeout_ms (-1: no bound) for events and dispatch one batch.
 * Returns the number of events dispatched (0 on timeout) or -errno.
 */
int loop_run_once(struct loop *loop, int timeout_ms);

/* Make loop_run() return code after the current dispatch. */
void loop_quit(struct loop *loop, int code);

/* True once loop_quit() has been called. */
bool loop_is_quitting(const struct loop *loop);
