/* SPDX-License-Identifier: MIT */
#include "init/signals.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const int fault_signals[] = {
    SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS,
};

int signals_setup(void)
{
	sigset_t set;
	struct sigaction sa;
	int fd;

	if (sigfillset(&set) < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(*fault_signals);
	     i++)
		(void)sigdelset(&set, fault_signals[i]);
	(void)sigdelset(&set, SIGPIPE);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	if (sigprocmask(SIG_SETMASK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void signals_child_reset(void)
{
	struct sigaction sa;
	sigset_t empty;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* glibc-internal real-time signals refuse; that is fine. */
		(void)sigaction(sig, &sa, NULL);
	}
	(void)sigemptyset(&empty);
	(void)sigprocmask(SIG_SETMASK, &empty, NULL);
}

int signals_read(int sfd, struct signalfd_siginfo *si)
{
	struct signalfd_siginfo buf;
	ssize_t n;

	do
		n = read(sfd, &buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != (ssize_t)sizeof(buf))
		return -EIO;
	if (si)
		*si = buf;
	return (int)buf.ssi_signo;
}

bool signals_is_forwarded(int sig)
{
	switch (sig) {
	case SIGCHLD:
	case SIGTERM:
	case SIGINT:
	case SIGUSR1:
	case SIGPIPE:
	case SIGKILL:
	case SIGSTOP:
		return false;
	default:
		return sig > 0 && sig < NSIG;
	}
}

const char *signals_name(int sig)
{
	static char buf[16];
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		(void)snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		(void)snprintf(buf, sizeof(buf), "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		(void)snprintf(buf, sizeof(buf), "signal %d", sig);
	return buf;
}
