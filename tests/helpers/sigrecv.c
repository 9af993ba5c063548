/* SPDX-License-Identifier: MIT */
/*
 * Test fixture: record every signal received.
 *
 *   sigrecv LOGFILE [TERM_EXIT_CODE|ignore-term]
 *
 * Handles every catchable signal and appends its number to LOGFILE as it
 * arrives ("ready" is written first, once the handlers are in place). On
 * SIGTERM it exits with TERM_EXIT_CODE (default 0), unless "ignore-term":
 * then SIGTERM is only logged and the process keeps running (to be killed).
 * It also checks the mask and dispositions it was started with: any blocked
 * or ignored signal is logged as "blocked N" / "ignored N".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int logfd = -1;
static volatile sig_atomic_t term_code = 0;
static volatile sig_atomic_t ignore_term = 0;

static void put(const char *s)
{
	(void)!write(logfd, s, strlen(s));
}

static void on_signal(int sig)
{
	char buf[16];
	int n = sig, i = (int)sizeof(buf) - 1;

	buf[i--] = '\0';
	buf[i--] = '\n';
	do {
		buf[i--] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	put(&buf[i + 1]);
	if (sig == SIGTERM && !ignore_term)
		_exit(term_code);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t cur;

	if (argc < 2)
		return 2;
	logfd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		return 2;
	if (argc > 2 && strcmp(argv[2], "ignore-term") == 0)
		ignore_term = 1;
	else if (argc > 2)
		term_code = atoi(argv[2]);
	(void)sigprocmask(SIG_SETMASK, NULL, &cur);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction old;
		char line[32];
		if (sigismember(&cur, sig) == 1) {
			snprintf(line, sizeof(line), "blocked %d\n", sig);
			put(line);
		}
		if (sigaction(sig, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN) {
			snprintf(line, sizeof(line), "ignored %d\n", sig);
			put(line);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	put("ready\n");
	for (;;)
		pause();
}
