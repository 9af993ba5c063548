/* SPDX-License-Identifier: MIT */
/*
 * The sync agent: tenant-init re-executed by PID 1 (see
 * supervisor/agent.c). It is the only process that holds the storage
 * credentials and parses what storage sends back, so it gives up what it
 * can first: no core dumps or ptrace (PR_SET_DUMPABLE 0), no privilege
 * gain through exec (no_new_privs). It keeps root otherwise: restored
 * files must be given to the gateway's user, and the tenant's files read
 * whoever owns them.
 */
#include "sync/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/engine.h"
#include "sync/ipc.h"

/* PID 1 sends the configuration right after the fork. */
#define CONFIG_WAIT_MS 10000

struct agent_main {
	struct loop *loop;
	struct engine *e;
	int fd;
	int sigfd;
	uint8_t *buf;
};

static void send_msg(struct agent_main *m, uint32_t type, const void *p,
		     size_t n)
{
	int r = ipc_send(m->fd, type, p, n);

	if (r < 0 && r != -EPIPE)
		log_warn_errno(r, "unable to report to PID 1");
}

static void on_restore_done(void *ctx, bool ok, double seconds)
{
	struct agent_main *m = ctx;
	struct ipc_restore_done d;
	int r;

	/* The padding after .ok goes over the socket too: no stack bytes. */
	memset(&d, 0, sizeof(d));
	d.ok = ok;
	d.duration_seconds = seconds;
	send_msg(m, IPC_RESTORE_DONE, &d, sizeof(d));
	if (!ok)
		return;
	r = engine_sync_start(m->e, true);
	if (r < 0)
		log_err_errno(r, "unable to start watching for changes");
}

static void on_restore_retrying(void *ctx)
{
	send_msg(ctx, IPC_RESTORE_RETRYING, NULL, 0);
}

static void on_flush_done(void *ctx, bool ok)
{
	struct agent_main *m = ctx;
	uint8_t v = ok;

	send_msg(m, IPC_FLUSH_DONE, &v, sizeof(v));
	loop_quit(m->loop, 0);
}

static void on_stats(void *ctx, const struct sync_stats *s, double restore_s)
{
	struct ipc_stats st;

	/* As above: the struct's padding must not carry stack bytes. */
	memset(&st, 0, sizeof(st));
	st.sync = *s;
	st.restore_duration_seconds = restore_s;
	send_msg(ctx, IPC_STATS, &st, sizeof(st));
}

static void ipc_cb(void *ctx, int fd, uint32_t events)
{
	struct agent_main *m = ctx;
	uint32_t type;
	size_t len;
	int r;

	(void)events;
	while ((r = ipc_recv(fd, &type, m->buf, IPC_MSG_MAX, &len)) > 0) {
		uint64_t timeout;

		switch ((enum ipc_type)type) {
		case IPC_SYNC_NOW:
			engine_sync_now(m->e);
			break;
		case IPC_FLUSH:
			if (len != sizeof(timeout))
				break;
			memcpy(&timeout, m->buf, sizeof(timeout));
			engine_flush(m->e, timeout);
			break;
		case IPC_STOP:
			loop_quit(m->loop, 0);
			return;
		case IPC_CONFIG:
		case IPC_RESTORE_DONE:
		case IPC_RESTORE_RETRYING:
		case IPC_FLUSH_DONE:
		case IPC_STATS:
		default:
			log_warn("unexpected message %u from PID 1", type);
			break;
		}
	}
	if (r == 0) {
		/* PID 1 is gone: nobody to flush for. */
		log_warn("PID 1 closed the connection; stopping");
		loop_quit(m->loop, 0);
	} else if (r != -EAGAIN) {
		log_warn_errno(r, "unable to read from PID 1");
		loop_quit(m->loop, 0);
	}
}

static void signal_cb(void *ctx, int fd, uint32_t events)
{
	struct agent_main *m = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			engine_sync_now(m->e);
		} else {
			/* Not from PID 1's protocol: stop, leaving no mess. */
			log_info("signal %u received; stopping",
				 (unsigned)si.ssi_signo);
			loop_quit(m->loop, 0);
		}
	}
}

static int wait_config(struct agent_main *m, struct sync_config *sc,
		       struct agent_params *ap)
{
	struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
	uint32_t type;
	size_t len;
	int r;

	r = poll(&pfd, 1, CONFIG_WAIT_MS);
	if (r <= 0)
		return r == 0 ? -ETIMEDOUT : -errno;
	r = ipc_recv(m->fd, &type, m->buf, IPC_MSG_MAX, &len);
	if (r <= 0)
		return r == 0 ? -EPIPE : r;
	if (type != IPC_CONFIG)
		return -EBADMSG;
	r = ipc_config_decode(m->buf, len, sc, ap);
	explicit_bzero(m->buf, len);
	return r;
}

static int setup_signals(void)
{
	sigset_t set;
	int fd;

	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGTERM);
	(void)sigaddset(&set, SIGINT);
	(void)sigaddset(&set, SIGHUP);
	(void)sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	(void)signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int sync_agent_main(int ipc_fd)
{
	static const struct engine_cbs cbs = {
	    .restore_done = on_restore_done,
	    .restore_retrying = on_restore_retrying,
	    .flush_done = on_flush_done,
	    .stats = on_stats,
	};
	struct agent_main m = {.fd = ipc_fd, .sigfd = -1};
	struct sync_config sc;
	struct agent_params ap;
	char err[256] = "";
	int r, code = EXIT_INTERNAL;

	log_set_role("sync");
	(void)prctl(PR_SET_NAME, "tenant-sync");
	/* Credentials arrive next: no core dumps, no ptrace, no setuid. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		log_warn_errno(errno, "unable to restrict the sync agent");
	memset(&sc, 0, sizeof(sc));
	memset(&ap, 0, sizeof(ap));
	m.buf = malloc(IPC_MSG_MAX);
	if (!m.buf)
		return EXIT_INTERNAL;
	if (fcntl(ipc_fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_err_errno(errno, "no IPC descriptor %d", ipc_fd);
		goto out;
	}
	r = wait_config(&m, &sc, &ap);
	if (r < 0) {
		log_err_errno(r, "unable to receive the configuration");
		goto out;
	}
	log_set_level((enum log_level)ap.log_level);
	log_set_format((enum log_format)ap.log_format);
	r = setup_signals();
	if (r < 0 || fcntl(ipc_fd, F_SETFL, O_NONBLOCK) < 0) {
		log_err_errno(r < 0 ? r : -errno, "unable to set up");
		goto out;
	}
	m.sigfd = r;
	m.loop = loop_new();
	if (!m.loop) {
		log_err_errno(errno, "unable to create the event loop");
		goto out;
	}
	m.e =
	    engine_new(m.loop, &sc, ap.uid, ap.gid, &cbs, &m, err, sizeof(err));
	if (!m.e) {
		log_err("unable to start syncing: %s", err);
		goto out;
	}
	if (loop_fd_add(m.loop, ipc_fd, EPOLLIN, ipc_cb, &m) < 0 ||
	    loop_fd_add(m.loop, m.sigfd, EPOLLIN, signal_cb, &m) < 0) {
		log_err("unable to watch the IPC socket");
		goto out;
	}
	r = ap.skip_restore ? engine_sync_start(m.e, true)
			    : engine_restore(m.e);
	if (r < 0) {
		log_err_errno(r, "unable to start");
		goto out;
	}
	r = loop_run(m.loop);
	code = r < 0 ? EXIT_INTERNAL : 0;
out:
	engine_free(m.e);
	if (m.loop) {
		(void)loop_fd_del(m.loop, ipc_fd);
		if (m.sigfd >= 0)
			(void)loop_fd_del(m.loop, m.sigfd);
	}
	loop_free(m.loop);
	if (m.sigfd >= 0)
		(void)close(m.sigfd);
	(void)close(ipc_fd);
	ipc_sync_config_fini(&sc);
	free(m.buf);
	log_reset();
	return code;
}
