/* SPDX-License-Identifier: MIT */
/*
 * Test fixture: make N orphaned zombies, then wait until PID 1 (or the
 * subreaper above us) has reaped them all.
 *
 *   orphans N [TIMEOUT_S]
 *
 * Each of N children forks a grandchild and exits at once; the grandchild
 * exits too, so it becomes a zombie whose parent is gone: it is reparented
 * to the reaper, which must collect it. We reap our own children (they are
 * ours), then scan /proc until no zombie other than ourselves remains whose
 * parent is our reaper. Prints "created N" and "reaped-all after MS ms" or
 * "left K zombies" and exits 0 / 1.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Count zombies in /proc whose parent is reaper. */
static int count_zombies(pid_t reaper)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512], *p;
		FILE *f;
		char state;
		int ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(buf, sizeof(buf), f)) {
			fclose(f);
			continue;
		}
		fclose(f);
		/* comm may hold spaces and parens: parse after the last ')'. */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (state == 'Z' && ppid == reaper)
			n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	int timeout_s = argc > 2 ? atoi(argv[2]) : 60;
	pid_t reaper = getppid();
	long start, deadline;
	int created = 0, left = -1;

	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		if (c < 0) {
			perror("fork");
			/* Let the reaper catch up with what exists, retry. */
			while (waitpid(-1, NULL, 0) > 0)
				;
			i--;
			continue;
		}
		if (c == 0) {
			pid_t g = fork();
			if (g == 0)
				_exit(0); /* grandchild: becomes an orphan */
			_exit(0);
		}
		/* Reap our own child so only grandchildren are left over. */
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
		created++;
	}
	printf("created %d\n", created);
	fflush(stdout);
	start = now_ms();
	deadline = start + timeout_s * 1000L;
	while (now_ms() < deadline) {
		left = count_zombies(reaper);
		if (left == 0)
			break;
		usleep(10000);
	}
	if (left == 0) {
		printf("reaped-all after %ld ms\n", now_ms() - start);
		return 0;
	}
	printf("left %d zombies\n", left);
	return 1;
}
