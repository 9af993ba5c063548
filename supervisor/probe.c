/* SPDX-License-Identifier: MIT */
#include "supervisor/probe.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"

#define PROBE_BODY_MAX	4096
#define PROBE_PORTS_MAX 32
#define PROBE_URL_MAX	64

enum req_kind {
	REQ_READYZ,
	REQ_HEALTHZ,
	REQ_CONNECT,
	REQ_COUNT,
};

struct req {
	struct probe *p;
	CURL *easy; /* non-NULL while in flight */
	char body[PROBE_BODY_MAX];
	size_t len;
	struct probe_answer ans;
};

/* A local port used by one of our connections. */
struct owned_port {
	int fd;		      /* -1 once closed */
	uint16_t port;	      /* 0 = free slot */
	uint64_t released_ms; /* when the socket was closed */
};

struct probe {
	struct loop *loop;
	struct probe_params prm;
	CURLM *multi;
	struct loop_timer *curl_timer;
	struct loop_timer *round_timer;
	pid_t pid;
	bool running;
	enum probe_mode round_mode; /* mode of the round in flight */
	struct probe_eval eval;
	enum probe_verdict last;
	struct req reqs[REQ_COUNT];
	unsigned inflight;
	struct owned_port ports[PROBE_PORTS_MAX];
	char urls[REQ_COUNT][PROBE_URL_MAX];
};

static const char *const verdict_names[] = {
    [PROBE_UNKNOWN] = "unknown",   [PROBE_READY] = "ready",
    [PROBE_UNREADY] = "not ready", [PROBE_DOWN] = "not answering",
    [PROBE_WEDGED] = "wedged",
};

const char *probe_verdict_name(enum probe_verdict v)
{
	return v <= PROBE_WEDGED ? verdict_names[v] : "?";
}

/* ---- judgement (pure) ---- */

bool probe_body_says_ready(const char *body)
{
	json_t *root, *ready;
	bool r = true;

	if (!body || !*body)
		return true;
	root = json_loads(body, 0, NULL);
	if (!root)
		return true;
	ready = json_is_object(root) ? json_object_get(root, "ready") : NULL;
	if (json_is_boolean(ready))
		r = json_is_true(ready);
	json_decref(root);
	return r;
}

/* The endpoint does not exist on this server (it answered, though). */
static bool not_served(const struct probe_answer *a)
{
	return a->answered &&
	       (a->status == 404 || a->status == 405 || a->status == 501);
}

enum probe_verdict probe_eval_round(struct probe_eval *e,
				    const struct probe_answer *readyz,
				    const struct probe_answer *healthz,
				    uint64_t now_ms)
{
	const struct probe_answer *r = readyz, *h = healthz;
	bool live, ready, counting;

	if (e->mode == PROBE_MODE_TCP || !r) {
		live = ready = h->answered;
	} else if (!e->seen_live && !r->answered && !h->answered &&
		   (r->not_http || h->not_http)) {
		/* It accepted the connection but speaks something else. */
		log_info("probe: the gateway does not answer HTTP; probing "
			 "with a TCP connect from now on");
		e->mode = PROBE_MODE_TCP;
		live = ready = true;
	} else if (not_served(r) && not_served(h)) {
		log_info("probe: the gateway serves neither /readyz nor "
			 "/healthz; probing with a TCP connect from now on");
		e->mode = PROBE_MODE_TCP;
		live = ready = true;
	} else {
		if (not_served(h))
			live = r->answered; /* any answer shows it turns */
		else
			live = h->answered && h->status < 500;
		if (not_served(r))
			ready = h->answered && h->status == 200;
		else
			ready = r->answered && r->status == 200 &&
				probe_body_says_ready(r->body);
		ready = ready && live;
	}
	if (live) {
		e->seen_live = true;
		e->failures = 0;
		return ready ? PROBE_READY : PROBE_UNREADY;
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	/*
	 * Before the first answer a failure is a slow start, not a wedge,
	 * until the grace is over.
	 */
	counting = e->seen_live || (e->grace_ms != UINT64_MAX &&
				    now_ms - e->started_ms >= e->grace_ms);
	if (!counting)
		return PROBE_UNREADY;
	return e->failures >= PROBE_WEDGED_FAILURES ? PROBE_WEDGED : PROBE_DOWN;
}

/* ---- own ports (for the idle detector) ---- */

static uint16_t fd_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * Called whenever curl hands us a socket to watch: by then connect() has
 * been issued, so the kernel has picked the local port.
 */
static void port_note_open(struct probe *p, int fd)
{
	struct owned_port *slot = NULL;
	uint64_t now = loop_now_ms();
	uint16_t port;

	for (size_t i = 0; i < PROBE_PORTS_MAX; i++)
		if (p->ports[i].port && p->ports[i].fd == fd)
			return; /* known */
	port = fd_local_port(fd);
	if (!port)
		return;
	for (size_t i = 0; i < PROBE_PORTS_MAX; i++) {
		struct owned_port *o = &p->ports[i];
		bool stale = o->port && o->fd < 0 &&
			     now - o->released_ms >= PROBE_PORT_MEMORY_MS;
		if (!o->port || stale || o->port == port) {
			slot = o;
			break;
		}
		/* Otherwise reuse the longest-closed slot. */
		if (o->fd < 0 && (!slot || o->released_ms < slot->released_ms))
			slot = o;
	}
	if (!slot) {
		log_warn("probe: too many probe connections to track; the "
			 "idle detector may count one as activity");
		return;
	}
	*slot = (struct owned_port){.fd = fd, .port = port};
}

static void port_note_closed(struct probe *p, int fd)
{
	for (size_t i = 0; i < PROBE_PORTS_MAX; i++) {
		if (p->ports[i].port && p->ports[i].fd == fd) {
			p->ports[i].fd = -1;
			p->ports[i].released_ms = loop_now_ms();
		}
	}
}

bool probe_owns_port(const struct probe *p, uint16_t port)
{
	uint64_t now = loop_now_ms();

	if (!p || !port)
		return false;
	for (size_t i = 0; i < PROBE_PORTS_MAX; i++) {
		const struct owned_port *o = &p->ports[i];
		if (o->port != port)
			continue;
		if (o->fd >= 0 || now - o->released_ms < PROBE_PORT_MEMORY_MS)
			return true;
	}
	return false;
}

/* ---- libcurl glue (ephiperfifo.c's shape, on init/loop) ---- */

static void drain(struct probe *p);

static void fd_cb(void *ctx, int fd, uint32_t events)
{
	struct probe *p = ctx;
	int flags = 0, running = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(p->multi, fd, flags, &running);
	drain(p);
}

static void curl_timer_cb(void *ctx)
{
	struct probe *p = ctx;
	int running = 0;

	(void)curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0,
				       &running);
	drain(p);
}

static int socket_fn(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct probe *p = userp;
	uint32_t ev = 0;
	int r;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		(void)loop_fd_del(p->loop, s);
		return 0;
	}
	port_note_open(p, s);
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	r = loop_fd_mod(p->loop, s, ev);
	if (r == -ENOENT)
		r = loop_fd_add(p->loop, s, ev, fd_cb, p);
	if (r < 0) {
		log_warn_errno(r, "probe: unable to watch a socket");
		return -1;
	}
	return 0;
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct probe *p = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_disarm(p->curl_timer);
	else
		loop_timer_arm(p->curl_timer, (uint64_t)timeout_ms);
	return 0;
}

/* Sockets are ours to create so they are close-on-exec. */
static curl_socket_t open_fn(void *clientp, curlsocktype purpose,
			     struct curl_sockaddr *a)
{
	(void)clientp;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int close_fn(void *clientp, curl_socket_t fd)
{
	struct probe *p = clientp;

	if (p) {
		(void)loop_fd_del(p->loop, fd);
		port_note_closed(p, fd);
	}
	return close(fd);
}

static size_t write_fn(char *data, size_t size, size_t n, void *userp)
{
	struct req *q = userp;
	size_t len = size * n;
	size_t room = sizeof(q->body) - 1 - q->len;

	/* Keep the head of an oversized body; the rest is not needed. */
	if (len > room)
		len = room;
	memcpy(q->body + q->len, data, len);
	q->len += len;
	q->body[q->len] = '\0';
	return size * n;
}

/* Options common to the PID-1 probe and the blocking fetch. */
static int easy_setup(CURL *e, const char *url, uint64_t timeout_ms,
		      void *write_ctx)
{
	CURLcode c = CURLE_OK;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (c == CURLE_OK)                                             \
			c = curl_easy_setopt(e, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	/* No signals (PID 1 owns them) and never a proxy from the env. */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_USERAGENT, "tenant-init-probe");
	SET(CURLOPT_WRITEFUNCTION, write_fn);
	SET(CURLOPT_WRITEDATA, write_ctx);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_fn);
#undef SET
	if (c != CURLE_OK) {
		log_warn("probe: unable to set up a request: %s",
			 curl_easy_strerror(c));
		return -EINVAL;
	}
	return 0;
}

static void req_start(struct probe *p, enum req_kind kind)
{
	struct req *q = &p->reqs[kind];
	CURL *e;
	CURLcode c = CURLE_OK;

	q->len = 0;
	q->body[0] = '\0';
	q->ans = (struct probe_answer){.body = q->body};
	e = curl_easy_init();
	if (!e) {
		log_warn("probe: unable to create a request");
		return;
	}
	if (easy_setup(e, p->urls[kind], PROBE_TIMEOUT_MS, q) < 0)
		goto fail;
	c = curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_fn);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, p);
	if (c == CURLE_OK && kind == REQ_CONNECT) {
		c = curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
		if (c == CURLE_OK)
			c = curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	}
	if (c != CURLE_OK) {
		log_warn("probe: unable to set up a request: %s",
			 curl_easy_strerror(c));
		goto fail;
	}
	if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
		log_warn("probe: unable to start a request");
		goto fail;
	}
	q->easy = e;
	p->inflight++;
	return;
fail:
	curl_easy_cleanup(e);
}

static void req_cancel(struct probe *p, struct req *q)
{
	if (!q->easy)
		return;
	(void)curl_multi_remove_handle(p->multi, q->easy);
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
	p->inflight--;
}

static void req_done(struct probe *p, struct req *q, CURLcode result)
{
	long status = 0;

	if (result == CURLE_OK) {
		if (q == &p->reqs[REQ_CONNECT]) {
			q->ans.answered = true;
		} else {
			(void)curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE,
						&status);
			q->ans.answered = status > 0;
			q->ans.status = status;
		}
	} else if (result == CURLE_WEIRD_SERVER_REPLY ||
		   result == CURLE_UNSUPPORTED_PROTOCOL ||
		   result == CURLE_GOT_NOTHING) {
		q->ans.not_http = true;
	}
	log_debug("probe %s: %s, status %ld", p->urls[q - p->reqs],
		  curl_easy_strerror(result), status);
	req_cancel(p, q);
}

static void round_done(struct probe *p)
{
	enum probe_verdict v;

	if (p->round_mode == PROBE_MODE_TCP)
		v = probe_eval_round(&p->eval, NULL, &p->reqs[REQ_CONNECT].ans,
				     loop_now_ms());
	else
		v = probe_eval_round(&p->eval, &p->reqs[REQ_READYZ].ans,
				     &p->reqs[REQ_HEALTHZ].ans, loop_now_ms());
	if (v == PROBE_WEDGED) {
		/* One verdict per process: the owner restarts it. */
		p->running = false;
		loop_timer_disarm(p->round_timer);
	}
	if (v == p->last)
		return;
	log_info("probe: gateway %s -> %s", probe_verdict_name(p->last),
		 probe_verdict_name(v));
	if (v == PROBE_DOWN || v == PROBE_WEDGED)
		log_warn("probe: gateway liveness failed %u time%s in a row",
			 p->eval.failures, p->eval.failures == 1 ? "" : "s");
	p->last = v;
	p->prm.verdict(p->prm.ctx, v);
}

static void drain(struct probe *p)
{
	CURLMsg *m;
	int left;
	bool finished = false;

	while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
		struct req *q = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					(char **)&q);
		if (!q)
			continue;
		req_done(p, q, m->data.result);
		finished = true;
	}
	/* The verdict callback may stop us: judge after the last touch. */
	if (finished && p->inflight == 0 && p->running)
		round_done(p);
}

static void round_cb(void *ctx)
{
	struct probe *p = ctx;

	if (!p->running)
		return;
	loop_timer_arm(p->round_timer, PROBE_INTERVAL_MS);
	if (p->inflight) /* cannot happen: timeout < interval */
		return;
	p->round_mode = p->eval.mode;
	if (p->round_mode == PROBE_MODE_TCP) {
		req_start(p, REQ_CONNECT);
	} else {
		req_start(p, REQ_READYZ);
		req_start(p, REQ_HEALTHZ);
		/* Half a round would judge on partial evidence. */
		if (p->inflight == 1) {
			req_cancel(p, &p->reqs[REQ_READYZ]);
			req_cancel(p, &p->reqs[REQ_HEALTHZ]);
		}
	}
}

/* ---- life cycle ---- */

#define FD_SNAP_MAX 1024

/* The set of open descriptors below FD_SNAP_MAX (a bitmap). */
static void fd_snapshot(uint64_t set[FD_SNAP_MAX / 64])
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	memset(set, 0, FD_SNAP_MAX / 8);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd == dirfd(d) || fd >= FD_SNAP_MAX)
			continue;
		set[fd / 64] |= 1ull << (fd % 64);
	}
	(void)closedir(d);
}

/*
 * curl_multi_init() opens a socketpair (its wakeup channel) without
 * close-on-exec, and offers no hook to create it ourselves: mark whatever
 * it opened. launch.c closes stray descriptors before exec anyway; this
 * keeps the rule "every fd is CLOEXEC" true in PID 1 itself.
 */
static CURLM *multi_init_cloexec(void)
{
	uint64_t before[FD_SNAP_MAX / 64], after[FD_SNAP_MAX / 64];
	CURLM *m;

	fd_snapshot(before);
	m = curl_multi_init();
	fd_snapshot(after);
	for (int fd = 0; fd < FD_SNAP_MAX; fd++) {
		uint64_t bit = 1ull << (fd % 64);
		if ((after[fd / 64] & bit) && !(before[fd / 64] & bit))
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return m;
}

struct probe *probe_new(struct loop *loop, const struct probe_params *params)
{
	struct probe *p = calloc(1, sizeof(*p));
	CURLMcode mc = CURLM_OK;

	if (!p)
		return NULL;
	p->loop = loop;
	p->prm = *params;
	for (size_t i = 0; i < PROBE_PORTS_MAX; i++)
		p->ports[i].fd = -1;
	/*
	 * The numeric loopback address: curl never calls the resolver (its
	 * threaded one would start a thread in PID 1, which forks).
	 */
	(void)snprintf(p->urls[REQ_READYZ], PROBE_URL_MAX,
		       "http://127.0.0.1:%u/readyz", params->port);
	(void)snprintf(p->urls[REQ_HEALTHZ], PROBE_URL_MAX,
		       "http://127.0.0.1:%u/healthz", params->port);
	(void)snprintf(p->urls[REQ_CONNECT], PROBE_URL_MAX,
		       "http://127.0.0.1:%u/", params->port);
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->multi = multi_init_cloexec();
	p->curl_timer = loop_timer_new(loop, curl_timer_cb, p);
	p->round_timer = loop_timer_new(loop, round_cb, p);
	if (!p->multi || !p->curl_timer || !p->round_timer)
		goto fail;
	mc = curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION,
				       timer_fn);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	/* Two endpoints on one host: keep-alive needs no more. */
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, 4L);
	if (mc != CURLM_OK)
		goto fail;
	return p;
fail:
	probe_free(p);
	errno = ENOMEM;
	return NULL;
}

void probe_stop(struct probe *p)
{
	if (!p)
		return;
	p->running = false;
	loop_timer_disarm(p->round_timer);
	for (size_t i = 0; i < REQ_COUNT; i++)
		req_cancel(p, &p->reqs[i]);
}

void probe_start(struct probe *p, pid_t pid)
{
	if (pid == p->pid)
		return;
	probe_stop(p);
	p->pid = pid;
	p->running = true;
	p->last = PROBE_UNKNOWN;
	p->eval = (struct probe_eval){
	    .mode = PROBE_MODE_HTTP,
	    .started_ms = loop_now_ms(),
	    .grace_ms = p->prm.startup_grace_ms,
	};
	loop_timer_arm(p->round_timer, PROBE_FIRST_MS);
}

void probe_free(struct probe *p)
{
	if (!p)
		return;
	probe_stop(p);
	/* Closing cached connections calls close_fn, which needs the loop. */
	if (p->multi)
		(void)curl_multi_cleanup(p->multi);
	loop_timer_free(p->curl_timer);
	loop_timer_free(p->round_timer);
	curl_global_cleanup();
	free(p);
}

/* ---- blocking fetch for `tenant-init health` ---- */

int probe_fetch(const char *url, uint64_t timeout_ms, long *status, char *body,
		size_t cap, char *err, size_t errlen)
{
	_cleanup_free_ struct req *q = calloc(1, sizeof(*q));
	CURL *e;
	CURLcode c;
	int r = 0;

	if (!q)
		return -ENOMEM;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	e = curl_easy_init();
	if (!e) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	if (easy_setup(e, url, timeout_ms, q) < 0) {
		(void)snprintf(err, errlen, "invalid request for %s", url);
		r = -EINVAL;
		goto out;
	}
	c = curl_easy_perform(e);
	if (c != CURLE_OK) {
		(void)snprintf(err, errlen, "%s", curl_easy_strerror(c));
		r = -EIO;
		goto out;
	}
	(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	if (cap) {
		size_t n = q->len < cap - 1 ? q->len : cap - 1;
		memcpy(body, q->body, n);
		body[n] = '\0';
	}
out:
	curl_easy_cleanup(e);
	curl_global_cleanup();
	return r;
}
