/* SPDX-License-Identifier: MIT */
#include "init/pid1.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "init/reap.h"
#include "init/signals.h"
#include "policy/policy.h"
#include "supervisor/agent.h"
#include "supervisor/gateway.h"
#include "supervisor/gwenv.h"
#include "supervisor/health.h"
#include "supervisor/idle.h"
#include "supervisor/keys.h"
#include "supervisor/occonfig.h"
#include "supervisor/probe.h"
#include "supervisor/sockdiag.h"
#include "supervisor/status.h"
#include "sync/bootfiles.h"
#include "sync/glob.h"
#include "sync/lease.h"

/* How long the last phase waits for killed processes to be reaped. */
#define KILL_REST_TIMEOUT_MS 5000
/* How long the agent may take to exit by itself after its final flush. */
#define AGENT_EXIT_TIMEOUT_MS 5000

enum phase {
	PHASE_BOOT,	    /* restoring, preparing */
	PHASE_RUNNING,	    /* gateway supervised */
	PHASE_STOP_GATEWAY, /* waiting for the gateway to exit */
	PHASE_FLUSH,	    /* waiting for the final sync flush */
	PHASE_AGENT_EXIT,   /* waiting for the agent to exit after it */
	PHASE_KILL_REST,    /* killing and reaping what is left */
	PHASE_DONE,
};

enum stop_reason {
	STOP_NONE,
	STOP_SIGNAL,	   /* SIGTERM/SIGINT to PID 1 */
	STOP_SLEEP,	   /* idle past SANDBOX_SLEEP_AFTER */
	STOP_GATEWAY_DONE, /* the gateway finished under its policy */
	STOP_CONFIG,	   /* key or config could not be prepared */
};

struct pid1 {
	struct config *cfg;
	struct loop *loop;
	int sigfd;
	struct tenant_status st;
	struct gateway_params gwp;
	char **gw_env; /* the gateway's environment, built at prepare */
	struct gateway *gw;
	struct agent *agent;
	struct health *health;
	struct probe *probe;
	struct idle *idle;
	struct loop_timer *kill_timer;
	struct policy_prog *policy; /* the gateway's sandbox, or NULL */

	enum phase phase;
	enum stop_reason reason;
	int gateway_code; /* last exit code, -1 = never ran */
	bool flush_ok;
};

static const char *const phase_names[] = {
    [PHASE_BOOT] = "boot",
    [PHASE_RUNNING] = "running",
    [PHASE_STOP_GATEWAY] = "stopping gateway",
    [PHASE_FLUSH] = "flushing",
    [PHASE_AGENT_EXIT] = "waiting for the sync agent to exit",
    [PHASE_KILL_REST] = "killing remaining processes",
    [PHASE_DONE] = "done",
};

static void set_phase(struct pid1 *p, enum phase next)
{
	log_info("%s -> %s", phase_names[p->phase], phase_names[next]);
	p->phase = next;
}

/* ---- exit code ---- */

static int remap(const struct pid1 *p, int code)
{
	return config_is_success_code(&p->cfg->cli, code) ? 0 : code;
}

/*
 * DESIGN.md "Exit codes". Tini mode: always the child's code (remapped by
 * -e). Gateway mode: 0 for a clean stop, the child's code when it ended
 * under 'never' or after a crash loop, 75 when a clean stop could not make
 * the data durable in time, 78 for a configuration error.
 */
static int exit_code(const struct pid1 *p)
{
	int code;

	if (p->reason == STOP_CONFIG)
		return EXIT_CONFIG;
	if (p->cfg->tini_mode && p->gateway_code >= 0)
		return remap(p, p->gateway_code);
	if (p->reason == STOP_GATEWAY_DONE && p->gateway_code >= 0)
		code = remap(p, p->gateway_code);
	else
		code = 0;
	if (code == 0 && !p->flush_ok)
		return EXIT_TEMPFAIL;
	return code;
}

/* ---- shutdown sequence ---- */

/* Kill every process left: all of the namespace as PID 1, else children. */
static void kill_rest(struct pid1 *p)
{
	char path[64];
	_cleanup_fclose_ FILE *f = NULL;

	if (getpid() == 1) {
		if (kill(-1, SIGKILL) < 0 && errno != ESRCH)
			log_warn_errno(errno, "unable to kill the remaining "
					      "processes");
		return;
	}
	/*
	 * As a subreaper only our own children are ours to kill; their
	 * descendants are reparented to us as they die and are killed on the
	 * next SIGCHLD. /proc/PID/task/TID/children lists direct children.
	 */
	(void)p;
	(void)snprintf(path, sizeof(path), "/proc/self/task/%d/children",
		       (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return;
	for (int pid; fscanf(f, "%d", &pid) == 1;)
		if (pid > 1)
			(void)kill(pid, SIGKILL);
}

static void finish(struct pid1 *p)
{
	set_phase(p, PHASE_DONE);
	loop_timer_disarm(p->kill_timer);
	loop_quit(p->loop, exit_code(p));
}

static void start_kill_rest(struct pid1 *p)
{
	bool none_left = false;

	set_phase(p, PHASE_KILL_REST);
	(void)reap_children(NULL, NULL, &none_left);
	if (none_left) {
		finish(p);
		return;
	}
	kill_rest(p);
	loop_timer_arm(p->kill_timer, KILL_REST_TIMEOUT_MS);
}

static void kill_timer_cb(void *ctx)
{
	struct pid1 *p = ctx;

	if (p->phase == PHASE_AGENT_EXIT) {
		log_warn("sync: the agent did not exit within %d ms of its "
			 "flush; killing it",
			 AGENT_EXIT_TIMEOUT_MS);
		start_kill_rest(p);
		return;
	}
	log_warn("processes still present %d ms after SIGKILL (stuck in the "
		 "kernel?); exiting anyway",
		 KILL_REST_TIMEOUT_MS);
	finish(p);
}

static void start_flush(struct pid1 *p)
{
	set_phase(p, PHASE_FLUSH);
	agent_flush(p->agent, p->cfg->flush_timeout_ms);
}

static void flush_done_cb(void *ctx, bool ok)
{
	struct pid1 *p = ctx;

	p->flush_ok = ok;
	if (!ok)
		log_err("final flush did not complete within "
			"TENANT_FLUSH_TIMEOUT; some data is not durable yet");
	if (p->phase != PHASE_FLUSH)
		return;
	/*
	 * The agent quits by itself after FLUSH_DONE and frees what it holds
	 * on the way out; a SIGKILL now would cut that short (and with it
	 * the leak checks of valgrind and LSan). Its SIGCHLD moves on. An
	 * agent whose flush timed out is still at work: no waiting for it.
	 */
	if (ok && agent_pid(p->agent) > 0) {
		set_phase(p, PHASE_AGENT_EXIT);
		loop_timer_arm(p->kill_timer, AGENT_EXIT_TIMEOUT_MS);
		return;
	}
	start_kill_rest(p);
}

/* Begin the orderly shutdown (idempotent). */
static void shutdown_begin(struct pid1 *p, enum stop_reason reason)
{
	if (p->phase >= PHASE_STOP_GATEWAY)
		return;
	p->reason = reason;
	p->st.shutting_down = true;
	idle_stop(p->idle);
	if (gateway_state(p->gw) == GW_STATE_EXITED ||
	    gateway_state(p->gw) == GW_STATE_CRASHLOOP) {
		start_flush(p);
		return;
	}
	set_phase(p, PHASE_STOP_GATEWAY);
	/* The gateway reports back through gateway_finished_cb. */
	gateway_handle(p->gw, GW_EV_STOP);
}

/* ---- gateway and agent callbacks ---- */

static void gateway_finished_cb(void *ctx, int code)
{
	struct pid1 *p = ctx;

	p->gateway_code = code;
	if (p->phase == PHASE_STOP_GATEWAY) {
		start_flush(p);
		return;
	}
	/* It ended on its own: nothing left to supervise. */
	shutdown_begin(p, STOP_GATEWAY_DONE);
}

static void gateway_changed_cb(void *ctx, enum gateway_state state)
{
	struct pid1 *p = ctx;

	p->st.gateway_up = gateway_is_running(p->gw);
	p->st.gateway_ready = state == GW_STATE_READY;
	p->st.gateway_crashloop = state == GW_STATE_CRASHLOOP;
	p->st.gateway_restarts_total = gateway_restarts(p->gw);
	p->st.gateway_live =
	    state == GW_STATE_STARTING || state == GW_STATE_READY ||
	    state == GW_STATE_BACKOFF || state == GW_STATE_STOPPING;
	/* Probe the process while it runs; a new pid is judged afresh. */
	if (state == GW_STATE_STARTING || state == GW_STATE_READY) {
		if (gateway_pid(p->gw) > 0)
			probe_start(p->probe, gateway_pid(p->gw));
	} else {
		probe_stop(p->probe);
		p->st.gateway_unresponsive = false;
	}
	/* DESIGN.md: the idle clock starts when the gateway is first ready. */
	if (state == GW_STATE_READY && p->phase == PHASE_RUNNING)
		idle_start(p->idle);
}

static void probe_verdict_cb(void *ctx, enum probe_verdict v)
{
	struct pid1 *p = ctx;

	p->st.gateway_unresponsive = v == PROBE_DOWN || v == PROBE_WEDGED;
	switch (v) {
	case PROBE_READY:
		gateway_handle(p->gw, GW_EV_READY);
		break;
	case PROBE_UNREADY:
	case PROBE_DOWN:
		gateway_handle(p->gw, GW_EV_UNREADY);
		break;
	case PROBE_WEDGED:
		gateway_handle(p->gw, GW_EV_WEDGED);
		break;
	case PROBE_UNKNOWN:
	default:
		break;
	}
}

/* Connections of our own probe do not keep the tenant awake. */
static bool idle_is_own_cb(void *ctx, const struct sockdiag_sock *s)
{
	struct pid1 *p = ctx;

	return sockdiag_addr_is_loopback(s->family, s->remote_addr) &&
	       probe_owns_port(p->probe, s->remote_port);
}

static void idle_expired_cb(void *ctx, uint64_t idle_ms)
{
	(void)idle_ms;
	shutdown_begin(ctx, STOP_SLEEP);
}

static void health_refresh_cb(void *ctx)
{
	struct pid1 *p = ctx;

	idle_status_update(p->idle, &p->st);
}

/*
 * The stored API key: decrypted into an "ENV=key" entry for the gateway's
 * environment (*entry, wiped by the caller). The encryption secret is
 * wiped as soon as it has been used: nothing needs it again.
 */
/*
 * The platform's directory in the data directory ($OPENCLAW_STATE_DIR/
 * .tenant, the stored key's) must be tenant-init's: the gateway owns the
 * data directory and could have replaced it with one of its own (a blob
 * that never decrypts: exit 78 at every boot). What is not ours is set
 * aside, and the real one put back if the gateway only renamed it.
 */
static void claim_managed_dir(const struct config *cfg)
{
	_cleanup_close_ int fd =
	    open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -errno
		       : policy_private_dir_claim(fd, cfg->state_dir,
						  SYNC_MANAGED_DIR,
						  BOOTFILES_KEY_LEAF);

	if (r < 0 && r != -ENOENT)
		log_warn_errno(r, "unable to check %s/%s", cfg->state_dir,
			       SYNC_MANAGED_DIR);
}

static int prepare_key(struct pid1 *p, char **entry)
{
	struct config *cfg = p->cfg;
	struct secret key = {NULL, 0};
	char where[PATH_MAX + 64];
	enum keys_result kr;
	int r = 0;

	*entry = NULL;
	claim_managed_dir(cfg);
	kr = keys_load(cfg, NULL, &key, where, sizeof(where));
	secret_free(&cfg->encryption_secret);
	if (kr == KEYS_ERR_BLOB_READ)
		log_err_errno(errno, "stored API key %s: %s", where,
			      keys_strerror(kr));
	else if (kr == KEYS_ERR_NO_BLOB)
		log_err("stored API key (searched %s): %s", where,
			keys_strerror(kr));
	else if (kr != KEYS_OK)
		log_err("stored API key %s: %s", where, keys_strerror(kr));
	if (kr != KEYS_OK)
		return -EINVAL;
	if (!key.value) {
		log_info("no stored API key (looked in %s)", where);
		return 0;
	}
	/* From here on the key is never written to a log line. */
	(void)log_secret_add(key.value, key.len);
	if (asprintf(entry, "%s=%s", cfg->api_key_env, key.value) < 0) {
		*entry = NULL;
		r = -ENOMEM;
	} else {
		log_info("decrypted the stored API key from %s; the gateway "
			 "gets it as $%s",
			 where, cfg->api_key_env);
	}
	secret_free(&key);
	return r;
}

/*
 * openclaw.json in the data directory. In tini mode a missing data
 * directory means the command is not an OpenClaw gateway (tenant-init used
 * as a plain init): nothing is written. In gateway mode it is created.
 */
static int prepare_config(struct pid1 *p)
{
	struct config *cfg = p->cfg;
	const char *kval = gwenv_get(p->gw_env, cfg->api_key_env);
	struct occonfig_params op = {
	    .cfg = cfg,
	    .api_key_env = kval && *kval ? cfg->api_key_env : NULL,
	    .api_key_value = kval && *kval ? kval : NULL,
	    /* Owned by the gateway's user when the policy names one. */
	    .uid = (uid_t)-1,
	    .gid = (gid_t)-1,
	};
	char err[CONFIG_ERR_MAX];
	struct stat st;
	int r;

	if (p->policy)
		(void)policy_gateway_owner(p->policy, &op.uid, &op.gid);
	if (cfg->tini_mode &&
	    (stat(cfg->state_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		log_info("tini mode and no data directory %s: openclaw.json "
			 "not written",
			 cfg->state_dir);
		return 0;
	}
	r = occonfig_apply(cfg->state_dir, &op, !cfg->tini_mode, err,
			   sizeof(err));
	if (r == -EINVAL || r == -ELOOP || r == -EFBIG) {
		/*
		 * Unusable, and (with sync) not the version storage has: the
		 * restore prefers a good one. Refusing to start would make
		 * it an outage at every boot that whoever broke the file
		 * (the gateway owns it) causes at will: keep it aside, write
		 * a new one from the environment, and say so.
		 */
		char aside[64];
		int r2 =
		    occonfig_set_aside(cfg->state_dir, aside, sizeof(aside));

		log_err("openclaw.json: %s", err);
		if (r2 < 0) {
			log_err_errno(r2, "unable to set openclaw.json aside");
			return r;
		}
		log_err("openclaw.json kept as %s/%s; writing a new one from "
			"the environment (settings made only in the old file "
			"are in the copy)",
			cfg->state_dir, aside);
		p->st.config_recovered = true;
		r = occonfig_apply(cfg->state_dir, &op, !cfg->tini_mode, err,
				   sizeof(err));
	}
	if (r < 0)
		log_err("openclaw.json: %s", err);
	return r;
}

/*
 * Everything between "the data directory is restored" and "the gateway may
 * start": the decrypted key, the gateway's environment and openclaw.json.
 * Returns 0, or -errno after logging why; the tenant then stops with exit
 * 78 (a configuration it cannot run with).
 */
static int prepare_gateway(struct pid1 *p)
{
	extern char **environ;
	char *const *set = p->policy ? policy_env_extra(p->policy) : NULL;
	_cleanup_free_ char **extra = NULL;
	char *key = NULL;
	size_t n = 0;
	int r;

	r = prepare_key(p, &key);
	if (r < 0)
		return r;
	/*
	 * The entries meant for the gateway: the decrypted key first, so that
	 * a policy "set" of the same name cannot replace it, then the policy's
	 * own "set" values. Pointers only; gwenv_build copies them.
	 */
	for (char *const *e = set; e && *e; e++)
		n++;
	extra = calloc(n + 2, sizeof(*extra));
	if (extra) {
		size_t i = 0;
		if (key)
			extra[i++] = key;
		for (char *const *e = set; e && *e; e++)
			extra[i++] = *e;
	}
	gwenv_free(p->gw_env);
	p->gw_env = extra ? gwenv_build(environ, extra,
					p->policy ? policy_env_keep_cb : NULL,
					p->policy)
			  : NULL;
	r = p->gw_env ? 0 : -ENOMEM;
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	if (r < 0) {
		log_err_errno(r, "unable to build the gateway environment");
		return r;
	}
	p->gwp.envp = p->gw_env;
	return prepare_config(p);
}

/*
 * With a gateway user, the restored data directory (and whatever prepare
 * wrote into it) becomes that user's: the gateway must be able to write
 * its own state. A failure is logged; the gateway may still manage.
 */
static void own_data_dir(struct pid1 *p)
{
	uid_t uid;
	gid_t gid;

	/* The agent's state (and what it moved aside), the platform's files. */
	static const char *const keep[] = {SYNC_STATE_DIR "*", SYNC_MANAGED_DIR,
					   NULL};

	if (p->policy && policy_gateway_owner(p->policy, &uid, &gid))
		(void)policy_chown_tree(p->cfg->state_dir, uid, gid, keep);
}

static void restore_done_cb(void *ctx, bool ok)
{
	struct pid1 *p = ctx;

	p->st.restoring = false;
	if (p->phase != PHASE_BOOT)
		return;
	if (!ok) {
		/* Only a shutdown abandons the restore; it is under way. */
		return;
	}
	if (prepare_gateway(p) < 0) {
		p->st.config_invalid = true;
		shutdown_begin(p, STOP_CONFIG);
		return;
	}
	own_data_dir(p);
	set_phase(p, PHASE_RUNNING);
	gateway_handle(p->gw, GW_EV_START);
}

/* ---- signals and children ---- */

static void child_reaped_cb(void *ctx, pid_t pid, int status)
{
	struct pid1 *p = ctx;

	p->st.zombies_reaped_total++;
	if (agent_child_exited(p->agent, pid, status))
		return;
	if (gateway_child_exited(p->gw, pid, status))
		return;
	log_debug("reaped pid %d (code %d)", (int)pid, reap_exit_code(status));
}

static void on_sigchld(struct pid1 *p)
{
	bool none_left = false;
	int r = reap_children(child_reaped_cb, p, &none_left);

	if (r < 0)
		log_warn_errno(r, "unable to reap children");
	if (p->phase == PHASE_KILL_REST) {
		if (none_left)
			finish(p);
		else
			kill_rest(p);
	} else if (p->phase == PHASE_AGENT_EXIT && agent_pid(p->agent) <= 0) {
		start_kill_rest(p);
	}
}

static void on_stop_signal(struct pid1 *p, int sig)
{
	if (p->phase < PHASE_STOP_GATEWAY) {
		log_info("%s received: stopping", signals_name(sig));
		shutdown_begin(p, STOP_SIGNAL);
		return;
	}
	/* A second request while the gateway drains: do not wait for it. */
	if (p->phase == PHASE_STOP_GATEWAY) {
		log_warn("%s received again: killing the gateway now",
			 signals_name(sig));
		gateway_kill(p->gw);
	}
}

static void signal_cb(void *ctx, int fd, uint32_t events)
{
	struct pid1 *p = ctx;
	struct signalfd_siginfo si;
	int sig;

	(void)events;
	while ((sig = signals_read(fd, &si)) > 0) {
		switch (sig) {
		case SIGCHLD:
			on_sigchld(p);
			break;
		case SIGTERM:
		case SIGINT:
			on_stop_signal(p, sig);
			break;
		case SIGUSR1:
			agent_sync_now(p->agent);
			break;
		default:
			if (signals_is_forwarded(sig)) {
				int r = gateway_signal(p->gw, sig);
				if (r < 0)
					log_warn_errno(r,
						       "unable to forward %s",
						       signals_name(sig));
			}
			break;
		}
	}
	if (sig < 0)
		log_warn_errno(sig, "unable to read signals");
}

/* ---- construction ---- */

struct pid1 *pid1_new(struct config *cfg, char *err, size_t errlen)
{
	static const struct gateway_cbs gw_cbs = {
	    .finished = gateway_finished_cb,
	    .changed = gateway_changed_cb,
	};
	static const struct agent_cbs agent_cbs = {
	    .restore_done = restore_done_cb,
	    .flush_done = flush_done_cb,
	};
	struct pid1 *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->cfg = cfg;
	p->sigfd = -1;
	p->gateway_code = -1;
	p->flush_ok = true;
	p->st.sleep_in_seconds = -1;
	p->st.gateway_live = true; /* booting is not failing */

	if (getpid() != 1) {
		/*
		 * Not PID 1 (docker --init, a test, a laptop): become a child
		 * subreaper so orphans are still ours to reap.
		 */
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
			if (cfg->cli.warn_not_reaper || cfg->cli.subreaper)
				log_warn_errno(errno,
					       "not PID 1 and unable to become "
					       "a subreaper; zombies will not "
					       "be reaped");
		} else {
			log_debug("not PID 1: registered as a child "
				  "subreaper");
		}
	}
	if (cfg->cli.pdeathsig &&
	    prctl(PR_SET_PDEATHSIG, cfg->cli.pdeathsig) < 0)
		log_warn_errno(errno, "unable to set the parent death signal");

	r = signals_setup();
	if (r < 0) {
		(void)snprintf(err, errlen, "unable to set up signals: %s",
			       strerror(-r));
		goto fail;
	}
	p->sigfd = r;
	p->loop = loop_new();
	if (!p->loop) {
		(void)snprintf(err, errlen,
			       "unable to create the event loop: "
			       "%s",
			       strerror(errno));
		goto fail;
	}
	r = loop_fd_add(p->loop, p->sigfd, EPOLLIN, signal_cb, p);
	if (r < 0) {
		(void)snprintf(err, errlen, "unable to watch signals: %s",
			       strerror(-r));
		goto fail;
	}
	/* Boot order: the health server first, live and not ready. */
	p->health = health_new(p->loop,
			       &(struct health_params){
				   .addr = (struct sockaddr *)&cfg->health_addr,
				   .addrlen = cfg->health_addrlen,
				   .listen_name = cfg->health_listen,
				   .st = &p->st,
				   .refresh = health_refresh_cb,
				   .ctx = p,
			       },
			       err, errlen);
	if (!p->health)
		goto fail;
	p->probe =
	    probe_new(p->loop, &(struct probe_params){
				   .port = cfg->gateway_port,
				   .startup_grace_ms =
				       cfg->tini_mode ? UINT64_MAX
						      : PROBE_STARTUP_GRACE_MS,
				   .verdict = probe_verdict_cb,
				   .ctx = p,
			       });
	p->idle = idle_new(p->loop, &(struct idle_params){
					.port = cfg->gateway_port,
					.limit_ms = cfg->sleep_after_ms,
					.is_own = idle_is_own_cb,
					.expired = idle_expired_cb,
					.ctx = p,
				    });
	p->kill_timer = loop_timer_new(p->loop, kill_timer_cb, p);
	p->gwp = (struct gateway_params){
	    .argv = cfg->gateway_argv,
	    .envp = environ,
	    .restart = cfg->restart,
	    .max_restarts = cfg->max_restarts,
	    .backoff_max_ms = cfg->restart_backoff_max_ms,
	    .stop_timeout_ms = cfg->stop_timeout_ms,
	    .group_signals = cfg->cli.group_signals,
	    .tty_foreground = cfg->tini_mode,
	};
	p->gw = gateway_new(p->loop, &p->gwp, &gw_cbs, p);
	/* One name in the lease for this boot, whatever agent restarts. */
	if (!cfg->sync.instance_id)
		cfg->sync.instance_id = lease_instance_id_new();
	p->agent = agent_new(p->loop, cfg, &p->st, &agent_cbs, p);
	if (!p->kill_timer || !p->gw || !p->agent || !p->probe || !p->idle) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return p;
fail:
	pid1_free(p);
	return NULL;
}

void pid1_set_policy(struct pid1 *p, struct policy_prog *prog)
{
	p->policy = prog;
	if (!prog)
		return;
	p->gwp.pre_exec = policy_apply_cb;
	p->gwp.pre_exec_ctx = prog;
	if (policy_command(prog))
		p->gwp.argv = policy_command(prog);
	policy_log_summary(prog);
}

int pid1_run(struct pid1 *p)
{
	int r;

	/* Before anything starts: the agent may need 127.0.0.1 too. */
	if (p->policy && policy_wants_loopback(p->policy)) {
		r = policy_loopback_up();
		if (r > 0)
			log_info("network: brought the loopback interface up");
		else if (r < 0)
			log_warn_errno(r, "network: loopback interface not up");
	}
	/* Restored files belong to the gateway's user from the start. */
	if (p->policy) {
		uid_t uid;
		gid_t gid;
		if (policy_gateway_owner(p->policy, &uid, &gid))
			agent_set_owner(p->agent, uid, gid);
	}
	p->st.restoring = true;
	r = agent_start(p->agent);
	if (r < 0) {
		log_err_errno(r, "unable to start the sync agent");
		return EXIT_INTERNAL;
	}
	r = loop_run(p->loop);
	if (r < 0) {
		log_err_errno(r, "event loop failed");
		return EXIT_INTERNAL;
	}
	log_info("exiting with code %d", r);
	return r;
}

void pid1_free(struct pid1 *p)
{
	if (!p)
		return;
	agent_free(p->agent);
	gateway_free(p->gw);
	idle_free(p->idle);
	probe_free(p->probe);
	health_free(p->health);
	loop_timer_free(p->kill_timer);
	if (p->loop && p->sigfd >= 0)
		(void)loop_fd_del(p->loop, p->sigfd);
	loop_free(p->loop);
	if (p->sigfd >= 0)
		(void)close(p->sigfd);
	gwenv_free(p->gw_env);
	policy_prog_free(p->policy);
	free(p);
}
