/* SPDX-License-Identifier: MIT */
#include "init/reap.h"

#include <errno.h>
#include <sys/wait.h>

int reap_children(reap_cb cb, void *ctx, bool *none_left)
{
	int n = 0;

	if (none_left)
		*none_left = false;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid == 0)
			return n;
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				return -errno;
			if (none_left)
				*none_left = true;
			return n;
		}
		n++;
		if (cb)
			cb(ctx, pid, status);
	}
}

int reap_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}
