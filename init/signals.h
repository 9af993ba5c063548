/* SPDX-License-Identifier: MIT */
/*
 * Signal plumbing for PID 1 and its children.
 *
 * PID 1 blocks every signal except the synchronous faults and reads them
 * from one signalfd; nothing runs in a signal handler. Children undo all of
 * it before exec: default dispositions and an empty mask.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/signalfd.h>

/*
 * Block all signals except SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP
 * and SIGSYS (faults must still kill us, loudly), ignore SIGPIPE (a closed
 * peer is an EPIPE, never a signal to forward), and open a non-blocking,
 * close-on-exec signalfd for the blocked set. Returns the fd or -errno.
 */
int signals_setup(void);

/*
 * In a forked child before exec: every disposition back to SIG_DFL and an
 * empty signal mask. Async-signal-safe.
 */
void signals_child_reset(void);

/*
 * Read one pending signal from the signalfd. Returns the signal number,
 * 0 when none is pending, or -errno. si may be NULL.
 */
int signals_read(int sfd, struct signalfd_siginfo *si);

/*
 * Signals PID 1 relays to the gateway as they are (tini's set): everything
 * catchable except SIGCHLD (reaping), SIGTERM/SIGINT (orderly shutdown),
 * SIGUSR1 (sync now) and SIGPIPE.
 */
bool signals_is_forwarded(int sig);

/* "SIGTERM" style name for logs (static storage). */
const char *signals_name(int sig);
