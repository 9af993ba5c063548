/* SPDX-License-Identifier: MIT */
/*
 * Boot-time probe for bench/boot.sh, built static by it (so the gateway
 * stand-in costs one exec and no dynamic linking).
 *
 *   boot run N MODE INIT GW [ARG...]   N boots, one line each on stdout:
 *                                      "T0_NS T1_NS TEXIT_NS STATUS"
 *   boot gw                            the gateway stand-in
 *
 * run: for each boot, a child (MODE "pid1": in new PID and mount
 * namespaces, as PID 1 with its own /proc; MODE "plain": as is) takes
 * CLOCK_MONOTONIC T0 right before execve(INIT, INIT -- GW gw), with
 * stdout a pipe to us. The stand-in takes T1 as the first thing in main()
 * and prints it on that stdout (which tenant-init passes through), then
 * exits 0, so INIT exits; TEXIT is when we have reaped the child. With
 * INIT "-" the child execs GW directly: the baseline cost of the exec
 * and start of the stand-in itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void child(int out, const char *mode, const char *init, const char *gw)
{
	char t0[64];
	int n;

	if (!strcmp(mode, "pid1")) {
		pid_t g;
		int st;

		if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0) {
			perror("unshare");
			_exit(120);
		}
		g = fork();
		if (g < 0)
			_exit(121);
		if (g > 0) {
			close(out);
			while (waitpid(g, &st, 0) < 0 && errno == EINTR)
				;
			_exit(WIFEXITED(st) ? WEXITSTATUS(st)
					    : 128 + WTERMSIG(st));
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("proc", "/proc", "proc",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
			perror("mount");
			_exit(122);
		}
	}
	if (dup2(out, 1) < 0)
		_exit(123);
	close(out);
	{
		int dn = open("/dev/null", O_WRONLY);
		if (dn >= 0 && getenv("BOOT_LOG") == NULL)
			dup2(dn, 2);
	}
	n = snprintf(t0, sizeof(t0), "T0 %lld\n", now_ns());
	if (write(1, t0, (size_t)n) != n)
		_exit(124);
	if (!strcmp(init, "-")) {
		char *argv[] = {(char *)gw, "gw", NULL};
		execve(gw, argv, environ);
	} else {
		char *argv[] = {(char *)init, "--", (char *)gw, "gw", NULL};
		execve(init, argv, environ);
	}
	_exit(127);
}

static int run(int n, const char *mode, const char *init, const char *gw)
{
	for (int i = 0; i < n; i++) {
		int p[2], st = 0;
		pid_t c;
		long long t0 = 0, t1 = 0, tx;
		char buf[4096];
		size_t len = 0;
		ssize_t r;

		if (pipe2(p, O_CLOEXEC) < 0)
			return 1;
		c = fork();
		if (c < 0)
			return 1;
		if (c == 0) {
			close(p[0]);
			/* the write end must survive the exec: no CLOEXEC */
			int w = dup(p[1]);
			close(p[1]);
			child(w, mode, init, gw);
		}
		close(p[1]);
		while ((r = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)r;
		close(p[0]);
		buf[len] = '\0';
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		tx = now_ns();
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
			if (!strncmp(l, "T0 ", 3))
				t0 = atoll(l + 3);
			else if (!strncmp(l, "T1 ", 3))
				t1 = atoll(l + 3);
		}
		printf("%lld %lld %lld %d\n", t0, t1, tx,
		       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "gw")) {
		long long t1 = now_ns();

		printf("T1 %lld\n", t1);
		return 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "run"))
		return run(atoi(argv[2]), argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: boot run N pid1|plain INIT|- GW | boot gw\n");
	return 2;
}
