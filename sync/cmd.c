/* SPDX-License-Identifier: MIT */
#include "sync/cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "init/config.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/engine.h"

struct oneshot {
	struct loop *loop;
	struct engine *e;
	struct config cfg;
	int sigfd;
	struct loop_timer *timeout;
};

static void once_flush_done(void *ctx, bool ok)
{
	struct oneshot *o = ctx;

	loop_quit(o->loop, ok ? 0 : EXIT_TEMPFAIL);
}

static void restore_done(void *ctx, bool ok, double seconds)
{
	struct oneshot *o = ctx;

	(void)seconds;
	loop_quit(o->loop, ok ? 0 : EXIT_TEMPFAIL);
}

static void timeout_cb(void *ctx)
{
	struct oneshot *o = ctx;

	log_err("restore: not finished within --timeout; the files restored "
		"so far are complete, the rest is missing");
	loop_quit(o->loop, EXIT_TEMPFAIL);
}

static void signal_cb(void *ctx, int fd, uint32_t events)
{
	struct oneshot *o = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_warn("interrupted by signal %u", (unsigned)si.ssi_signo);
		loop_quit(o->loop, EXIT_TEMPFAIL);
	}
}

/* Configuration, loop and engine for a one-shot command. */
static int oneshot_setup(struct oneshot *o, const struct engine_cbs *cbs)
{
	extern char **environ;
	char err[CONFIG_ERR_MAX];
	sigset_t set;
	int r;

	memset(o, 0, sizeof(*o));
	o->sigfd = -1;
	r = config_load(&o->cfg, environ, true, err, sizeof(err));
	log_set_level(o->cfg.log_level);
	log_set_format(o->cfg.log_format);
	log_set_role("sync");
	if (r < 0) {
		log_err("configuration: %s", err);
		return r == -ENOMEM ? EXIT_INTERNAL : EXIT_CONFIG;
	}
	if (o->cfg.sync.kind == SYNC_OFF) {
		log_err("sync is off: set TENANT_SYNC_URL, or R2_ACCESS_KEY_ID "
			"and R2_SECRET_ACCESS_KEY");
		return EXIT_CONFIG;
	}
	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGINT);
	(void)sigaddset(&set, SIGTERM);
	(void)sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return EXIT_INTERNAL;
	(void)signal(SIGPIPE, SIG_IGN);
	o->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	o->loop = loop_new();
	if (o->sigfd < 0 || !o->loop ||
	    loop_fd_add(o->loop, o->sigfd, EPOLLIN, signal_cb, o) < 0) {
		log_err_errno(errno, "unable to set up");
		return EXIT_INTERNAL;
	}
	o->e = engine_new(o->loop, &o->cfg.sync, (uid_t)-1, (gid_t)-1, cbs, o,
			  err, sizeof(err));
	if (!o->e) {
		log_err("unable to start: %s", err);
		return EXIT_INTERNAL;
	}
	return 0;
}

static void oneshot_fini(struct oneshot *o)
{
	engine_free(o->e);
	loop_timer_free(o->timeout);
	if (o->loop && o->sigfd >= 0)
		(void)loop_fd_del(o->loop, o->sigfd);
	loop_free(o->loop);
	if (o->sigfd >= 0)
		(void)close(o->sigfd);
	config_fini(&o->cfg);
	log_reset();
}

static int run_once(void)
{
	static const struct engine_cbs cbs = {.flush_done = once_flush_done};
	struct oneshot o;
	int code = oneshot_setup(&o, &cbs);

	if (code == 0) {
		int r = engine_sync_start(o.e, false);
		if (r < 0) {
			log_err_errno(r, "unable to scan");
			code = EXIT_INTERNAL;
		} else {
			engine_flush(o.e, o.cfg.flush_timeout_ms);
			code = loop_run(o.loop);
			if (code < 0)
				code = EXIT_INTERNAL;
		}
	}
	oneshot_fini(&o);
	return code;
}

int sync_cmd_sync(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--once") == 0)
		return run_once();
	if (argc == 4 && strcmp(argv[1], "--agent") == 0 &&
	    strcmp(argv[2], "--ipc-fd") == 0) {
		char *end;
		long fd = strtol(argv[3], &end, 10);
		if (*end || fd < 3 || fd > 1024) {
			log_err("sync: bad --ipc-fd '%s'", argv[3]);
			return EXIT_CONFIG;
		}
		return sync_agent_main((int)fd);
	}
	log_err("usage: tenant-init sync --once");
	return EXIT_CONFIG;
}

int sync_cmd_restore(int argc, char **argv)
{
	static const struct engine_cbs cbs = {.restore_done = restore_done};
	struct oneshot o;
	uint64_t timeout_ms = 0;
	int code;

	if (argc == 3 && strcmp(argv[1], "--timeout") == 0) {
		const char *why = NULL;
		if (config_duration_parse(argv[2], false, &timeout_ms, &why) <
		    0) {
			log_err("restore: --timeout '%s': %s", argv[2],
				why ? why : "invalid");
			return EXIT_CONFIG;
		}
	} else if (argc != 1) {
		log_err("usage: tenant-init restore [--timeout DURATION]");
		return EXIT_CONFIG;
	}
	code = oneshot_setup(&o, &cbs);
	if (code == 0 && timeout_ms) {
		o.timeout = loop_timer_new(o.loop, timeout_cb, &o);
		if (o.timeout)
			loop_timer_arm(o.timeout, timeout_ms);
	}
	if (code == 0) {
		int r;

		/* It only reads storage: no need to be its one writer. */
		engine_lease_off(o.e);
		r = engine_restore(o.e);
		code = r < 0 ? EXIT_INTERNAL : loop_run(o.loop);
		if (code < 0)
			code = EXIT_INTERNAL;
	}
	oneshot_fini(&o);
	return code;
}
