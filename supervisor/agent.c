/* SPDX-License-Identifier: MIT */
#include "supervisor/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/config.h"
#include "init/log.h"
#include "init/loop.h"
#include "init/reap.h"
#include "supervisor/launch.h"
#include "supervisor/status.h"
#include "sync/ipc.h"

/* Restart backoff: 1 s doubling to 30 s, reset after a minute up. */
#define RESTART_MIN_MS	 1000
#define RESTART_MAX_MS	 30000
#define RESTART_RESET_MS 60000
/* After the flush deadline, how long the agent gets to say so itself. */
#define FLUSH_GRACE_MS 3000

struct agent {
	struct loop *loop;
	const struct config *cfg;
	struct tenant_status *st;
	struct agent_cbs cbs;
	void *ctx;
	uid_t uid;
	gid_t gid;

	pid_t pid;
	int fd; /* our end of the socketpair, -1 when none */
	uint64_t started_ms;
	uint64_t backoff_ms;
	unsigned restarts;

	bool restore_ok;       /* the boot restore completed */
	bool restore_reported; /* restore_done() delivered */
	bool flush_requested;
	bool flush_reported;
	uint64_t flush_deadline_ms;

	struct loop_timer *restart_timer;
	struct loop_timer *flush_timer; /* backstop for a silent agent */
	struct loop_timer *report_timer;
	uint8_t *buf;
};

static void report_restore(struct agent *a, bool ok)
{
	if (a->restore_reported)
		return;
	a->restore_reported = true;
	a->st->restoring = false;
	a->cbs.restore_done(a->ctx, ok);
}

static void report_flush(struct agent *a, bool ok)
{
	if (a->flush_reported)
		return;
	a->flush_reported = true;
	loop_timer_disarm(a->flush_timer);
	a->cbs.flush_done(a->ctx, ok);
}

/* Deferred reports: never from inside the caller's frame. */
static void report_timer_cb(void *ctx)
{
	struct agent *a = ctx;

	if (a->cfg->sync.kind == SYNC_OFF || !a->restore_reported)
		report_restore(a, a->cfg->sync.kind == SYNC_OFF);
	if (a->flush_requested)
		report_flush(a, true);
}

static void close_ipc(struct agent *a)
{
	if (a->fd < 0)
		return;
	(void)loop_fd_del(a->loop, a->fd);
	(void)close(a->fd);
	a->fd = -1;
}

static void send_flush(struct agent *a)
{
	uint64_t now = loop_now_ms();
	uint64_t left =
	    a->flush_deadline_ms > now ? a->flush_deadline_ms - now : 0;
	int r = ipc_send(a->fd, IPC_FLUSH, &left, sizeof(left));

	if (r < 0)
		log_warn_errno(r, "sync: unable to ask the agent to flush");
}

/* ---- messages from the agent ---- */

static void handle(struct agent *a, uint32_t type, const uint8_t *p, size_t len)
{
	struct ipc_restore_done rd;
	struct ipc_stats s;

	switch ((enum ipc_type)type) {
	case IPC_RESTORE_DONE:
		if (len != sizeof(rd))
			break;
		memcpy(&rd, p, sizeof(rd));
		if (rd.ok) {
			a->restore_ok = true;
			a->st->restore_duration_seconds = rd.duration_seconds;
			log_info("sync: restore finished in %.1f s",
				 rd.duration_seconds);
		}
		report_restore(a, rd.ok);
		break;
	case IPC_RESTORE_RETRYING:
		log_debug("the restore is retrying");
		break;
	case IPC_FLUSH_DONE:
		if (len == 1)
			report_flush(a, p[0] != 0);
		break;
	case IPC_STATS:
		if (len != sizeof(s))
			break;
		memcpy(&s, p, sizeof(s));
		a->st->sync = s.sync;
		if (s.restore_duration_seconds > 0)
			a->st->restore_duration_seconds =
			    s.restore_duration_seconds;
		break;
	case IPC_CONFIG:
	case IPC_SYNC_NOW:
	case IPC_FLUSH:
	case IPC_STOP:
	default:
		log_warn("sync: unexpected message %u from the agent", type);
		break;
	}
}

static void ipc_cb(void *ctx, int fd, uint32_t events)
{
	struct agent *a = ctx;
	uint32_t type;
	size_t len;
	int r;

	(void)events;
	while ((r = ipc_recv(fd, &type, a->buf, IPC_MSG_MAX, &len)) > 0)
		handle(a, type, a->buf, len);
	/* End of stream or error: the exit status comes with SIGCHLD. */
	if (r != -EAGAIN)
		close_ipc(a);
}

/* ---- starting ---- */

static int spawn(struct agent *a)
{
	extern char **environ;
	static char *const argv[] = {"/proc/self/exe", "sync", "--agent",
				     "--ipc-fd",       "3",    NULL};
	struct agent_params ap = {
	    .uid = a->uid,
	    .gid = a->gid,
	    .skip_restore = a->restore_ok,
	    .log_level = (int)a->cfg->log_level,
	    .log_format = (int)a->cfg->log_format,
	};
	struct launch_spec spec = {
	    .argv = argv,
	    .envp = environ,
	    .new_pgrp = true, /* a Ctrl-C on the terminal is PID 1's */
	    .pdeathsig = SIGKILL,
	};
	uint8_t *cfg = NULL;
	size_t cfglen = 0;
	int sv[2], r;

	r = ipc_config_encode(&a->cfg->sync, &ap, &cfg, &cfglen);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		ipc_buf_free(cfg, cfglen);
		return r;
	}
	spec.ipc_fd = sv[1];
	r = launch_start(&spec, &a->pid);
	(void)close(sv[1]);
	if (r < 0) {
		(void)close(sv[0]);
		ipc_buf_free(cfg, cfglen);
		return r;
	}
	a->fd = sv[0];
	a->started_ms = loop_now_ms();
	/* The socket buffer takes the configuration before the child runs. */
	r = ipc_send(a->fd, IPC_CONFIG, cfg, cfglen);
	ipc_buf_free(cfg, cfglen);
	if (r < 0)
		log_warn_errno(r, "sync: unable to configure the agent");
	if (fcntl(a->fd, F_SETFL, O_NONBLOCK) < 0 ||
	    loop_fd_add(a->loop, a->fd, EPOLLIN, ipc_cb, a) < 0) {
		log_err("sync: unable to watch the agent's socket");
		close_ipc(a);
	}
	if (a->flush_requested && a->fd >= 0)
		send_flush(a);
	log_info("sync: agent started (pid %d)%s", (int)a->pid,
		 a->restore_ok ? "" : "; restoring");
	return 0;
}

static void restart_cb(void *ctx)
{
	struct agent *a = ctx;
	int r = spawn(a);

	if (r < 0) {
		log_err_errno(r, "sync: unable to start the agent");
		a->backoff_ms =
		    a->backoff_ms ? a->backoff_ms * 2 : RESTART_MIN_MS;
		if (a->backoff_ms > RESTART_MAX_MS)
			a->backoff_ms = RESTART_MAX_MS;
		loop_timer_arm(a->restart_timer, a->backoff_ms);
	}
}

static void flush_timer_cb(void *ctx)
{
	struct agent *a = ctx;

	if (a->flush_reported)
		return;
	log_err("sync: the agent did not finish its flush in time");
	if (a->pid > 0)
		(void)kill(a->pid, SIGKILL);
	report_flush(a, false);
}

/* ---- public ---- */

struct agent *agent_new(struct loop *loop, const struct config *cfg,
			struct tenant_status *st, const struct agent_cbs *cbs,
			void *ctx)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->loop = loop;
	a->cfg = cfg;
	a->st = st;
	a->cbs = *cbs;
	a->ctx = ctx;
	a->fd = -1;
	a->uid = (uid_t)-1;
	a->gid = (gid_t)-1;
	a->restart_timer = loop_timer_new(loop, restart_cb, a);
	a->flush_timer = loop_timer_new(loop, flush_timer_cb, a);
	a->report_timer = loop_timer_new(loop, report_timer_cb, a);
	if (cfg->sync.kind != SYNC_OFF)
		a->buf = malloc(IPC_MSG_MAX);
	if (!a->restart_timer || !a->flush_timer || !a->report_timer ||
	    (cfg->sync.kind != SYNC_OFF && !a->buf)) {
		agent_free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	close_ipc(a);
	loop_timer_free(a->restart_timer);
	loop_timer_free(a->flush_timer);
	loop_timer_free(a->report_timer);
	free(a->buf);
	free(a);
}

void agent_set_owner(struct agent *a, uid_t uid, gid_t gid)
{
	a->uid = uid;
	a->gid = gid;
}

int agent_start(struct agent *a)
{
	a->st->restoring = true;
	if (a->cfg->sync.kind == SYNC_OFF) {
		log_info("sync: off (no TENANT_SYNC_URL and no R2 "
			 "credentials); the data directory is not backed up");
		loop_timer_arm(a->report_timer, 0);
		return 0;
	}
	return spawn(a);
}

void agent_sync_now(struct agent *a)
{
	int r;

	if (a->cfg->sync.kind == SYNC_OFF) {
		log_info("sync: SIGUSR1 received; sync is off, nothing to do");
		return;
	}
	if (a->fd < 0) {
		log_info("sync: SIGUSR1 received while the agent restarts; "
			 "it rescans when it is back");
		return;
	}
	r = ipc_send(a->fd, IPC_SYNC_NOW, NULL, 0);
	if (r < 0)
		log_warn_errno(r, "sync: unable to signal the agent");
}

void agent_flush(struct agent *a, uint64_t timeout_ms)
{
	if (a->flush_requested)
		return;
	a->flush_requested = true;
	if (a->cfg->sync.kind == SYNC_OFF) {
		loop_timer_arm(a->report_timer, 0);
		return;
	}
	a->flush_deadline_ms = loop_now_ms() + timeout_ms;
	loop_timer_arm_at(a->flush_timer,
			  a->flush_deadline_ms + FLUSH_GRACE_MS);
	if (a->fd >= 0) {
		/* Also during the restore: the agent abandons it cleanly. */
		send_flush(a);
		return;
	}
	if (!a->restore_ok) {
		/* No agent and no restore: nothing was ever uploaded. */
		loop_timer_disarm(a->restart_timer);
		loop_timer_arm(a->report_timer, 0);
		return;
	}
	/* Between restarts: start it now, for the flush alone. */
	loop_timer_disarm(a->restart_timer);
	if (a->pid <= 0 && spawn(a) < 0) {
		log_err("sync: unable to start the agent for the final flush");
		report_flush(a, false);
	}
}

bool agent_child_exited(struct agent *a, pid_t pid, int status)
{
	int code;
	uint64_t up;

	if (pid <= 0 || pid != a->pid)
		return false;
	a->pid = 0;
	close_ipc(a);
	code = reap_exit_code(status);
	if (a->flush_requested) {
		if (a->flush_reported)
			return true;
		if (loop_now_ms() < a->flush_deadline_ms && a->restore_ok) {
			log_warn("sync: the agent died during the flush (code "
				 "%d); starting it again",
				 code);
			if (spawn(a) == 0)
				return true;
		}
		if (!a->restore_ok)
			report_restore(a, false);
		report_flush(a, !a->restore_ok ? true : false);
		return true;
	}
	up = loop_now_ms() - a->started_ms;
	if (up >= RESTART_RESET_MS)
		a->backoff_ms = 0;
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : RESTART_MIN_MS;
	if (a->backoff_ms > RESTART_MAX_MS)
		a->backoff_ms = RESTART_MAX_MS;
	a->restarts++;
	log_warn("sync: agent exited with code %d; restarting in %llu ms%s",
		 code, (unsigned long long)a->backoff_ms,
		 a->restore_ok ? "" : " (the restore starts over)");
	loop_timer_arm(a->restart_timer, a->backoff_ms);
	return true;
}

pid_t agent_pid(const struct agent *a)
{
	return a->pid;
}
