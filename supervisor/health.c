/* SPDX-License-Identifier: MIT */
#include "supervisor/health.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "supervisor/status.h"

struct health {
	struct loop *loop;
	struct health_params prm;
	struct MHD_Daemon *mhd;
	int listen_fd; /* owned until MHD has it */
	int epoll_fd;  /* MHD's; registered with the loop */
	struct loop_timer *timer;
};

/* ---- bodies (pure) ---- */

/* Compact JSON text of root (consumed; NULL in, NULL out, errno set). */
static char *dump(json_t *root)
{
	char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (!out)
		errno = ENOMEM;
	return out;
}

static int add_str(json_t *arr, const char *s)
{
	return json_array_append_new(arr, json_string(s));
}

char *health_readyz_render(const struct tenant_status *st, bool *ready)
{
	json_t *reasons = json_array(), *warnings = json_array(), *root;
	int r = 0;

	if (!reasons || !warnings) {
		json_decref(reasons);
		json_decref(warnings);
		errno = ENOMEM;
		return NULL;
	}
	if (st->shutting_down)
		r |= add_str(reasons, "shutting-down");
	if (st->config_invalid)
		r |= add_str(reasons, "config-invalid");
	if (st->restoring)
		r |= add_str(reasons, "restoring");
	/*
	 * The gateway has a say only once boot got that far: while restoring
	 * it is not running by design, and that is not "down".
	 */
	if (!st->restoring && !st->config_invalid) {
		if (st->gateway_crashloop)
			r |= add_str(reasons, "gateway-crashloop");
		else if (!st->gateway_up || st->gateway_unresponsive)
			r |= add_str(reasons, "gateway-down");
		else if (!st->gateway_ready)
			r |= add_str(reasons, "gateway-starting");
	}
	if (st->sync.degraded)
		r |= add_str(warnings, "sync-degraded");
	if (st->sync.deletes_held)
		r |= add_str(warnings, "sync-deletes-held");
	if (st->config_recovered)
		r |= add_str(warnings, "config-recovered");
	*ready = json_array_size(reasons) == 0 && st->gateway_ready;
	if (!*ready && json_array_size(reasons) == 0)
		r |= add_str(reasons, "gateway-starting");
	/* "o" hands the arrays' references to root. */
	root = json_pack("{s:b,s:o,s:o}", "ready", *ready, "reasons", reasons,
			 "warnings", warnings);
	if (r < 0) {
		json_decref(root);
		root = NULL;
	}
	return dump(root);
}

char *health_healthz_render(const struct tenant_status *st, bool *live)
{
	*live = st->gateway_live;
	return dump(json_pack("{s:s,s:b}", "status", *live ? "live" : "down",
			      "gateway_up", st->gateway_up));
}

static void metric_head(FILE *f, const char *name, const char *type,
			const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric_u64(FILE *f, const char *name, const char *type,
		       const char *help, uint64_t v)
{
	metric_head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void metric_dbl(FILE *f, const char *name, const char *type,
		       const char *help, double v)
{
	metric_head(f, name, type, help);
	fprintf(f, "%s %.3f\n", name, v);
}

char *health_metrics_render(const struct tenant_status *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const struct sync_stats *s = &st->sync;

	if (!f)
		return NULL;
	metric_u64(f, "tenant_gateway_up", "gauge",
		   "1 while the gateway process runs.", st->gateway_up);
	metric_u64(f, "tenant_gateway_ready", "gauge",
		   "1 while the gateway reports ready.", st->gateway_ready);
	metric_u64(f, "tenant_gateway_restarts_total", "counter",
		   "Gateway restarts since boot.", st->gateway_restarts_total);
	metric_u64(f, "tenant_zombies_reaped_total", "counter",
		   "Processes reaped by tenant-init.",
		   st->zombies_reaped_total);
	metric_dbl(f, "tenant_idle_seconds", "gauge",
		   "Seconds since the last client activity on the gateway "
		   "port.",
		   st->idle_seconds);
	metric_dbl(f, "tenant_sleep_in_seconds", "gauge",
		   "Seconds until the tenant sleeps; -1 when it never does.",
		   st->sleep_in_seconds);
	metric_dbl(f, "tenant_restore_duration_seconds", "gauge",
		   "Duration of the boot restore.",
		   st->restore_duration_seconds);
	metric_u64(f, "tenant_sync_queue_depth", "gauge",
		   "Files waiting to be uploaded.", s->queue_depth);
	metric_dbl(f, "tenant_sync_lag_seconds", "gauge",
		   "Age of the oldest change not yet uploaded.",
		   s->lag_seconds);
	metric_u64(f, "tenant_sync_uploaded_objects_total", "counter",
		   "Objects uploaded.", s->uploaded_objects_total);
	metric_u64(f, "tenant_sync_uploaded_bytes_total", "counter",
		   "Bytes uploaded.", s->uploaded_bytes_total);
	metric_u64(f, "tenant_sync_downloaded_objects_total", "counter",
		   "Objects downloaded.", s->downloaded_objects_total);
	metric_u64(f, "tenant_sync_deleted_objects_total", "counter",
		   "Remote objects deleted.", s->deleted_objects_total);
	metric_u64(f, "tenant_sync_errors_total", "counter",
		   "Failed storage operations.", s->errors_total);
	metric_dbl(f, "tenant_sync_last_success_timestamp_seconds", "gauge",
		   "Unix time of the last successful sync; 0 = never.",
		   s->last_success_timestamp);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the server ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     char *body, const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	if (!body) {
		static const char oom[] = "out of memory\n";
		resp = MHD_create_response_from_buffer(
		    sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain; charset=utf-8";
	} else {
		resp = MHD_create_response_from_buffer(strlen(body), body,
						       MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(body);
	}
	if (!resp)
		return MHD_NO; /* MHD closes the connection */
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				      "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					      "GET, HEAD");
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static char *with_newline(char *json)
{
	size_t n;
	char *out;

	if (!json)
		return NULL;
	n = strlen(json);
	out = realloc(json, n + 2);
	if (!out) {
		free(json);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

static enum MHD_Result handler_cb(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static const char json[] = "application/json";
	struct health *h = cls;
	bool ok = false;
	char *body;

	(void)version;
	(void)upload_data;
	/*
	 * Other methods are refused on the first call, before any body is
	 * read (MHD then closes the connection: nothing here wants a body).
	 */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		*upload_data_size = 0;
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			     strdup("method not allowed\n"),
			     "text/plain; charset=utf-8");
	}
	/*
	 * GET: the first call only announces the request; answering on the
	 * second, once it is complete, keeps the connection alive.
	 */
	if (!*con_cls) {
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET body is ignored */
		return MHD_YES;
	}
	if (h->prm.refresh)
		h->prm.refresh(h->prm.ctx);
	if (strcmp(url, "/healthz") == 0) {
		body = with_newline(health_healthz_render(h->prm.st, &ok));
		return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			     body, json);
	}
	if (strcmp(url, "/readyz") == 0) {
		body = with_newline(health_readyz_render(h->prm.st, &ok));
		return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			     body, json);
	}
	if (strcmp(url, "/metrics") == 0)
		return reply(c, MHD_HTTP_OK, health_metrics_render(h->prm.st),
			     "text/plain; version=0.0.4; charset=utf-8");
	return reply(c, MHD_HTTP_NOT_FOUND, strdup("not found\n"),
		     "text/plain; charset=utf-8");
}

/* MHD's complaints are about clients; keep them out of the info log. */
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)cls;
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("microhttpd: %s", buf);
}

static void rearm(struct health *h)
{
	MHD_UNSIGNED_LONG_LONG to = 0;

	if (MHD_get_timeout(h->mhd, &to) == MHD_YES)
		loop_timer_arm(h->timer, (uint64_t)to);
	else
		loop_timer_disarm(h->timer);
}

static void run(struct health *h)
{
	if (MHD_run(h->mhd) != MHD_YES)
		log_debug("MHD_run failed");
	rearm(h);
}

static void epoll_cb(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	run(ctx);
}

static void timer_cb(void *ctx)
{
	run(ctx);
}

static int listen_on(const struct health_params *prm)
{
	_cleanup_close_ int fd = -1;
	int one = 1;

	fd = socket(prm->addr->sa_family,
		    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A restarted container must not wait out the old TIME_WAITs. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, prm->addr, prm->addrlen) < 0)
		return -errno;
	if (listen(fd, HEALTH_LISTEN_BACKLOG) < 0)
		return -errno;
	return steal_fd(&fd);
}

struct health *health_new(struct loop *loop, const struct health_params *params,
			  char *err, size_t errlen)
{
	struct health *h = calloc(1, sizeof(*h));
	const union MHD_DaemonInfo *info;
	int r, err_no = EIO;

	if (!h) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->loop = loop;
	h->prm = *params;
	h->listen_fd = -1;
	h->epoll_fd = -1;
	r = listen_on(params);
	if (r < 0) {
		err_no = -r;
		(void)snprintf(
		    err, errlen,
		    "unable to listen on TENANT_HEALTH_LISTEN=%s: %s",
		    params->listen_name, strerror(-r));
		goto fail;
	}
	h->listen_fd = r;
	h->timer = loop_timer_new(loop, timer_cb, h);
	if (!h->timer) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/*
	 * MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD: MHD starts
	 * no thread and does its work inside MHD_run(), called from our loop
	 * when its epoll fd is readable or its timeout is due.
	 */
	h->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler_cb, h,
	    MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)HEALTH_CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)HEALTH_PER_IP_LIMIT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HEALTH_CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HEALTH_CONN_TIMEOUT_S, MHD_OPTION_STRICT_FOR_CLIENT, 1,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL, MHD_OPTION_END);
	if (!h->mhd) {
		(void)snprintf(err, errlen,
			       "unable to start the health server on "
			       "TENANT_HEALTH_LISTEN=%s",
			       params->listen_name);
		goto fail;
	}
	h->listen_fd = -1; /* MHD_stop_daemon closes it */
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		(void)snprintf(err, errlen,
			       "unable to get the health server's epoll fd");
		goto fail;
	}
	h->epoll_fd = info->epoll_fd;
	r = loop_fd_add(loop, h->epoll_fd, EPOLLIN, epoll_cb, h);
	if (r < 0) {
		h->epoll_fd = -1;
		(void)snprintf(err, errlen,
			       "unable to watch the health server: %s",
			       strerror(-r));
		goto fail;
	}
	rearm(h);
	log_info("health server listening on %s", params->listen_name);
	return h;
fail:
	health_free(h);
	errno = err_no;
	return NULL;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	if (h->epoll_fd >= 0)
		(void)loop_fd_del(h->loop, h->epoll_fd);
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	if (h->listen_fd >= 0)
		(void)close(h->listen_fd);
	loop_timer_free(h->timer);
	free(h);
}
