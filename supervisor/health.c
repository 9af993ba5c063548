/* SPDX-License-Identifier: MIT */
#include "supervisor/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "supervisor/status.h"

enum conn_state {
	CONN_READING,  /* waiting for the whole request head */
	CONN_WRITING,  /* answer partly sent; waiting for EPOLLOUT */
	CONN_DRAINING, /* answered, FIN sent; discarding until the peer's EOF */
};

/* One client connection; at most HEALTH_CONN_LIMIT exist. */
struct conn {
	struct health *h;
	struct conn *prev, *next; /* accept order, oldest first */
	int fd;
	enum conn_state state;
	uint64_t accepted_ms;
	struct in6_addr peer; /* IPv4 as ::ffff:a.b.c.d, so both compare */
	uint16_t port;
	size_t len;	/* request bytes in buf */
	size_t drained; /* bytes discarded while draining */
	char *out;	/* the answer being written */
	size_t out_len, out_off;
	char buf[]; /* HEALTH_REQ_MAX bytes */
};

struct health {
	struct loop *loop;
	struct health_params prm;
	int listen_fd;
	bool listening;		  /* listen_fd is watched by the loop */
	uint64_t resume_ms;	  /* while !listening: when to watch it again */
	uint64_t pause_warn_ms;	  /* last warning about a paused listener */
	struct loop_timer *timer; /* the earliest deadline of all below */
	struct conn *head, *tail;
	unsigned nconns;
};

/* ---- the request parser (pure) ---- */

/* RFC 9110 5.6.2 tchar; by hand, so no locale can widen it. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte of a request target: visible ASCII; '#' never travels (RFC 9112). */
static bool is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#';
}

/* A byte of a field value: HTAB, SP, VCHAR or obs-text (RFC 9110 5.5). */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* OWS 1*DIGIT OWS: a Content-Length value. */
static bool is_decimal(const unsigned char *p, size_t n)
{
	size_t i = 0, digits = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return digits && i == n;
}

static bool span_is(const unsigned char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static bool span_is_nocase(const unsigned char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp((const char *)p, lit, n) == 0;
}

/*
 * A line ending at p[i]: CRLF or a bare LF. Returns 1 with *next after it,
 * 0 when the input ends inside it, -1 when p[i] is a CR without its LF or
 * no line ending at all.
 */
static int line_end(const unsigned char *p, size_t n, size_t i, size_t *next)
{
	if (i >= n)
		return 0;
	if (p[i] == '\n') {
		*next = i + 1;
		return 1;
	}
	if (p[i] != '\r')
		return -1;
	if (i + 1 >= n)
		return 0;
	if (p[i + 1] != '\n')
		return -1;
	*next = i + 2;
	return 1;
}

/*
 * The path of a GET/HEAD target, origin-form or absolute-form (with an
 * http or https scheme and a non-empty authority, which RFC 9110 4.2.1
 * requires). false for any other form ("*", "host:port", "healthz").
 */
static bool target_path(const unsigned char *t, size_t n,
			const unsigned char **path, size_t *plen)
{
	size_t i = 0, k;

	if (n && t[0] == '/') {
		i = 0;
	} else {
		if (n > 7 && strncasecmp((const char *)t, "http://", 7) == 0)
			i = 7;
		else if (n > 8 &&
			 strncasecmp((const char *)t, "https://", 8) == 0)
			i = 8;
		else
			return false;
		k = i;
		while (i < n && t[i] != '/' && t[i] != '?')
			i++;
		if (i == k)
			return false;
		/* "http://host" and "http://host?q" name the path "/". */
		if (i == n || t[i] == '?') {
			*path = (const unsigned char *)"/";
			*plen = 1;
			return true;
		}
	}
	k = i;
	while (k < n && t[k] != '?')
		k++;
	*path = t + i;
	*plen = k - i;
	return true;
}

static enum health_endpoint endpoint_of(const unsigned char *path, size_t n)
{
	if (span_is(path, n, "/healthz"))
		return HEALTH_ENDPOINT_HEALTHZ;
	if (span_is(path, n, "/readyz"))
		return HEALTH_ENDPOINT_READYZ;
	if (span_is(path, n, "/metrics"))
		return HEALTH_ENDPOINT_METRICS;
	return HEALTH_ENDPOINT_NONE;
}

/*
 * The request line at p[*i..n): "METHOD SP TARGET SP HTTP/D.D" and its
 * line end. Fills req's method, endpoint and minor and moves *i past the
 * line on HEALTH_PARSE_OK; more is the verdict when the input runs out.
 */
static enum health_parse request_line(const unsigned char *p, size_t n,
				      size_t *i, enum health_parse more,
				      struct health_request *req)
{
	static const char version_shape[] = "HTTP/D.D";
	const unsigned char *method, *target, *path;
	size_t k = *i, j, mlen, tlen, plen;
	int r;

	method = p + k;
	while (k < n && is_tchar(p[k]))
		k++;
	if (k == n)
		return more;
	mlen = (size_t)(p + k - method);
	if (!mlen || p[k] != ' ')
		return HEALTH_PARSE_BAD;
	target = p + ++k;
	while (k < n && is_target_char(p[k]))
		k++;
	if (k == n)
		return more;
	tlen = (size_t)(p + k - target);
	if (!tlen || p[k] != ' ')
		return HEALTH_PARSE_BAD;
	k++;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. */
	for (j = 0; j < sizeof(version_shape) - 1; j++, k++) {
		bool digit;
		if (k == n)
			return more;
		digit = p[k] >= '0' && p[k] <= '9';
		if (version_shape[j] == 'D' ? !digit : p[k] != version_shape[j])
			return HEALTH_PARSE_BAD;
	}
	r = line_end(p, n, k, &j);
	if (r == 0)
		return more;
	if (r < 0)
		return HEALTH_PARSE_BAD;
	if (p[k - 3] != '1' || (p[k - 1] != '0' && p[k - 1] != '1'))
		return HEALTH_PARSE_BAD_VERSION;
	req->minor = (unsigned)(p[k - 1] - '0');
	if (span_is(method, mlen, "GET"))
		req->method = HEALTH_METHOD_GET;
	else if (span_is(method, mlen, "HEAD"))
		req->method = HEALTH_METHOD_HEAD;
	else
		req->method = HEALTH_METHOD_OTHER;
	/* Another method is a 405 whatever its target ("OPTIONS *"). */
	req->endpoint = HEALTH_ENDPOINT_NONE;
	if (req->method != HEALTH_METHOD_OTHER) {
		if (!target_path(target, tlen, &path, &plen))
			return HEALTH_PARSE_BAD;
		req->endpoint = endpoint_of(path, plen);
	}
	*i = j;
	return HEALTH_PARSE_OK;
}

/*
 * The field lines at p[*i..n) up to and including the empty line that
 * ends the head: "token:value", counting Host headers into *hosts. Moves
 * *i past the head on HEALTH_PARSE_OK.
 */
static enum health_parse field_lines(const unsigned char *p, size_t n,
				     size_t *i, enum health_parse more,
				     unsigned *hosts)
{
	const unsigned char *name, *value;
	unsigned lengths = 0;
	size_t k = *i, j, nlen;
	bool is_cl;
	int r;

	for (;;) {
		r = line_end(p, n, k, &j);
		if (r == 0)
			return more;
		if (r > 0)
			break; /* the empty line */
		if (p[k] == '\r')
			return HEALTH_PARSE_BAD;
		/* A leading blank is obs-fold (or junk): refused, 5.2. */
		name = p + k;
		while (k < n && is_tchar(p[k]))
			k++;
		if (k == n)
			return more;
		/* No blank between name and colon (RFC 9112 5.1). */
		nlen = (size_t)(p + k - name);
		if (!nlen || p[k] != ':')
			return HEALTH_PARSE_BAD;
		if (span_is_nocase(name, nlen, "host") && ++*hosts > 1)
			return HEALTH_PARSE_BAD;
		is_cl = span_is_nocase(name, nlen, "content-length");
		if (is_cl && ++lengths > 1)
			return HEALTH_PARSE_BAD;
		value = p + ++k;
		while (k < n && is_value_char(p[k]))
			k++;
		r = line_end(p, n, k, &j);
		if (r == 0)
			return more;
		if (r < 0)
			return HEALTH_PARSE_BAD;
		/*
		 * No body is ever read, but RFC 9112 6.3 makes an invalid
		 * Content-Length a 400 all the same (a second one, even an
		 * equal one, is refused above, as 6.3 allows).
		 */
		if (is_cl && !is_decimal(value, (size_t)(p + k - value)))
			return HEALTH_PARSE_BAD;
		k = j;
	}
	*i = j;
	return HEALTH_PARSE_OK;
}

/*
 * One pass over the bytes; reaching the end of the input before the head
 * ends is INCOMPLETE (or, at the cap, 414/431), so a verdict depends only
 * on the bytes before the point where it is taken.
 */
enum health_parse health_request_parse(const char *buf, size_t len,
				       struct health_request *out)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t n = len < HEALTH_REQ_MAX ? len : HEALTH_REQ_MAX, i = 0, j;
	bool capped = len >= HEALTH_REQ_MAX;
	struct health_request req = {0};
	enum health_parse v;
	unsigned hosts = 0;
	int r;

	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while ((r = line_end(p, n, i, &j)) > 0)
		i = j;
	if (r == 0)
		return capped ? HEALTH_PARSE_URI_TOO_LONG
			      : HEALTH_PARSE_INCOMPLETE;
	v = request_line(
	    p, n, &i,
	    capped ? HEALTH_PARSE_URI_TOO_LONG : HEALTH_PARSE_INCOMPLETE, &req);
	if (v != HEALTH_PARSE_OK)
		return v;
	v = field_lines(
	    p, n, &i, capped ? HEALTH_PARSE_TOO_LARGE : HEALTH_PARSE_INCOMPLETE,
	    &hosts);
	if (v != HEALTH_PARSE_OK)
		return v;
	/* RFC 9112 3.2: an HTTP/1.1 request without Host is a 400. */
	if (req.minor == 1 && hosts == 0)
		return HEALTH_PARSE_BAD;
	req.head_len = i;
	*out = req;
	return HEALTH_PARSE_OK;
}

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
	if (st->restoring && st->sync.lease_wait)
		r |= add_str(reasons, "lease-wait");
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
	if (st->sync.lease_lost)
		r |= add_str(warnings, "sync-lease-lost");
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
	metric_u64(f, "tenant_sync_lease_held", "gauge",
		   "1 while this instance holds the tenant's storage lease "
		   "(may write).",
		   s->lease_held);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the server ---- */

static const char type_text[] = "text/plain; charset=utf-8";
static const char type_json[] = "application/json";
static const char type_metrics[] = "text/plain; version=0.0.4; charset=utf-8";

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

static const char *reason_of(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/*
 * "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7: an origin server with
 * a clock sends Date). By hand: strftime's names follow the locale.
 */
static void http_date(char *out, size_t cap)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;

	if (!gmtime_r(&now, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11) {
		out[0] = '\0';
		return;
	}
	(void)snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		       days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		       tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * Status line and headers for a body of blen bytes into out (NUL
 * terminated). Returns the length, or -ENOSPC.
 */
static int format_head(char *out, size_t cap, unsigned status, const char *type,
		       size_t blen)
{
	char date[40];
	int n;

	http_date(date, sizeof(date));
	n = snprintf(out, cap,
		     "HTTP/1.1 %u %s\r\n"
		     "%s%s%s"
		     "Content-Type: %s\r\n"
		     "Cache-Control: no-store\r\n"
		     "%s"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "\r\n",
		     status, reason_of(status), date[0] ? "Date: " : "", date,
		     date[0] ? "\r\n" : "", type,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "", blen);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

static void peer_format(const struct conn *c, char *out, size_t cap)
{
	const void *a = &c->peer;
	int af = AF_INET6;

	if (IN6_IS_ADDR_V4MAPPED(&c->peer)) {
		a = &c->peer.s6_addr[12];
		af = AF_INET;
	}
	if (!inet_ntop(af, a, out, (socklen_t)cap))
		(void)snprintf(out, cap, "?");
}

static void conn_debug(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A client's doings are its own business: debug only, with its address. */
static void conn_debug(const struct conn *c, const char *fmt, ...)
{
	char addr[INET6_ADDRSTRLEN], msg[160];
	va_list ap;

	if (!log_is_enabled(LOG_LEVEL_DEBUG))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	peer_format(c, addr, sizeof(addr));
	log_debug("%s port %u: %s", addr, c->port, msg);
}

static void conn_close(struct conn *c)
{
	struct health *h = c->h;

	(void)loop_fd_del(h->loop, c->fd);
	(void)close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		h->tail = c->prev;
	h->nconns--;
	free(c->out);
	free(c);
}

/* The deadline of c's current phase (loop_now_ms() clock). */
static uint64_t conn_deadline(const struct conn *c)
{
	return c->accepted_ms + (c->state == CONN_READING
				     ? HEALTH_REQUEST_TIMEOUT_MS
				     : HEALTH_CONN_TIMEOUT_MS);
}

/*
 * One timer for everything: the earliest connection deadline, or the end
 * of an accept pause. Connections are kept in accept order and a phase's
 * deadline is a fixed offset from accept, so the first connection in each
 * phase has that phase's earliest deadline.
 */
static void rearm(struct health *h)
{
	uint64_t next = h->listening ? 0 : h->resume_ms, d;
	bool seen_reading = false, seen_other = false;

	for (struct conn *c = h->head; c && !(seen_reading && seen_other);
	     c = c->next) {
		bool *seen =
		    c->state == CONN_READING ? &seen_reading : &seen_other;
		if (*seen)
			continue;
		*seen = true;
		d = conn_deadline(c);
		if (!next || d < next)
			next = d;
	}
	if (!next)
		loop_timer_disarm(h->timer);
	else if (loop_timer_deadline(h->timer) != next)
		loop_timer_arm_at(h->timer, next);
}

static void conn_drain(struct conn *c)
{
	ssize_t n;

	for (;;) {
		n = recv(c->fd, c->buf, HEALTH_REQ_MAX, 0);
		if (n > 0) {
			c->drained += (size_t)n;
			if (c->drained > HEALTH_LINGER_MAX) {
				conn_debug(c, "still sending after the "
					      "answer: closed");
				conn_close(c);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			conn_debug(c, "unable to read: %s", strerror(errno));
		conn_close(c);
		return;
	}
}

/* Called once the whole answer is in the kernel. */
static void conn_answered(struct conn *c, bool watching_out)
{
	free(c->out);
	c->out = NULL;
	/*
	 * Lingering close: FIN now, then read until the peer's EOF. Closing
	 * with unread bytes (a body, pipelined requests, the rest of a 1 MiB
	 * header) would send a reset, which can destroy the answer before
	 * the client has read it.
	 */
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_debug(c, "unable to shut down: %s", strerror(errno));
		conn_close(c);
		return;
	}
	c->state = CONN_DRAINING;
	if (watching_out && loop_fd_mod(c->h->loop, c->fd, EPOLLIN) < 0) {
		conn_close(c);
		return;
	}
	conn_drain(c);
}

static void conn_write(struct conn *c, bool watching_out)
{
	ssize_t n;
	int r;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/*
			 * EPOLLOUT only: the level-triggered EPOLLIN of a
			 * body we never read would wake us in a loop.
			 */
			if (watching_out)
				return;
			r = loop_fd_mod(c->h->loop, c->fd, EPOLLOUT);
			if (r < 0) {
				log_warn_errno(r, "health: unable to watch a "
						  "connection");
				conn_close(c);
			}
			return;
		}
		conn_debug(c, "unable to send the answer: %s",
			   n < 0 ? strerror(errno) : "no progress");
		conn_close(c);
		return;
	}
	conn_answered(c, watching_out);
}

/*
 * Queue "status" with a body (HEAD: its headers only) and start writing.
 * body is malloc'd or NULL when rendering failed (then 500); it is
 * consumed.
 */
static void conn_reply(struct conn *c, unsigned status, const char *type,
		       char *body, bool head_only)
{
	static const char oom[] = "out of memory\n";
	const char *text = body;
	char hdr[512];
	size_t blen, hsize;
	int hlen;

	if (!text) {
		log_warn("health: unable to render an answer: out of memory");
		status = 500;
		type = type_text;
		text = oom;
	}
	blen = strlen(text);
	hlen = format_head(hdr, sizeof(hdr), status, type, blen);
	hsize = hlen < 0 ? 0 : (size_t)hlen;
	c->out_len = hsize + (head_only ? 0 : blen);
	c->out = hlen < 0 ? NULL : malloc(c->out_len);
	if (!c->out) {
		log_warn("health: unable to queue an answer: %s",
			 hlen < 0 ? "header too long" : "out of memory");
		free(body);
		conn_close(c);
		return;
	}
	memcpy(c->out, hdr, hsize);
	if (!head_only)
		memcpy(c->out + hsize, text, blen);
	free(body);
	c->out_off = 0;
	c->state = CONN_WRITING;
	conn_debug(c, "answered %u", status);
	conn_write(c, false);
}

static void conn_serve(struct conn *c, enum health_parse verdict,
		       const struct health_request *req)
{
	const struct health_params *prm = &c->h->prm;
	bool head = false, ok = false;
	char *body;

	switch (verdict) {
	case HEALTH_PARSE_OK:
		break;
	case HEALTH_PARSE_URI_TOO_LONG:
		conn_reply(c, 414, type_text, strdup("request line too long\n"),
			   false);
		return;
	case HEALTH_PARSE_TOO_LARGE:
		conn_reply(c, 431, type_text,
			   strdup("request header fields too large\n"), false);
		return;
	case HEALTH_PARSE_BAD_VERSION:
		conn_reply(c, 505, type_text,
			   strdup("HTTP version not supported\n"), false);
		return;
	case HEALTH_PARSE_INCOMPLETE: /* cut short by the peer's EOF */
	case HEALTH_PARSE_BAD:
	default:
		conn_reply(c, 400, type_text, strdup("bad request\n"), false);
		return;
	}
	head = req->method == HEALTH_METHOD_HEAD;
	if (req->method == HEALTH_METHOD_OTHER) {
		conn_reply(c, 405, type_text, strdup("method not allowed\n"),
			   false);
		return;
	}
	if (req->endpoint != HEALTH_ENDPOINT_NONE && prm->refresh)
		prm->refresh(prm->ctx);
	switch (req->endpoint) {
	case HEALTH_ENDPOINT_HEALTHZ:
		body = with_newline(health_healthz_render(prm->st, &ok));
		conn_reply(c, ok ? 200 : 503, type_json, body, head);
		return;
	case HEALTH_ENDPOINT_READYZ:
		body = with_newline(health_readyz_render(prm->st, &ok));
		conn_reply(c, ok ? 200 : 503, type_json, body, head);
		return;
	case HEALTH_ENDPOINT_METRICS:
		conn_reply(c, 200, type_metrics, health_metrics_render(prm->st),
			   head);
		return;
	case HEALTH_ENDPOINT_NONE:
	default:
		conn_reply(c, 404, type_text, strdup("not found\n"), head);
		return;
	}
}

static void conn_read(struct conn *c)
{
	struct health_request req;
	enum health_parse v;
	ssize_t n;

	while (c->len < HEALTH_REQ_MAX) {
		size_t before = c->len;
		n = recv(c->fd, c->buf + c->len, HEALTH_REQ_MAX - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			/*
			 * A verdict is taken at a line end at the latest
			 * (health.h), so parsing only then keeps a peer that
			 * trickles a long head from making us rescan it per
			 * byte. The first bytes are parsed at once, so junk
			 * (TLS, say) is refused without waiting for a line.
			 */
			if (before && c->len < HEALTH_REQ_MAX &&
			    !memchr(c->buf + before, '\n', (size_t)n))
				continue;
			v = health_request_parse(c->buf, c->len, &req);
			if (v != HEALTH_PARSE_INCOMPLETE) {
				conn_serve(c, v, &req);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			conn_debug(c, "unable to read: %s", strerror(errno));
			conn_close(c);
			return;
		}
		/* EOF: the peer will send nothing more. */
		if (!c->len) {
			conn_close(c); /* a port check, say: nothing to say */
			return;
		}
		v = health_request_parse(c->buf, c->len, &req);
		conn_debug(c, "request cut short by EOF");
		conn_serve(c, v, &req);
		return;
	}
	/* Not reached: at the cap the parser always has a verdict. */
	conn_serve(c, HEALTH_PARSE_TOO_LARGE, NULL);
}

static void conn_cb(void *ctx, int fd, uint32_t events)
{
	struct conn *c = ctx;
	struct health *h = c->h;

	(void)fd;
	(void)events;
	switch (c->state) {
	case CONN_READING:
		conn_read(c);
		break;
	case CONN_WRITING:
		conn_write(c, true);
		break;
	case CONN_DRAINING:
		conn_drain(c);
		break;
	default:
		conn_close(c);
		break;
	}
	rearm(h);
}

static void peer_key(const struct sockaddr_storage *ss, struct in6_addr *key,
		     uint16_t *port)
{
	memset(key, 0, sizeof(*key));
	*port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)ss;
		*key = a6->sin6_addr;
		*port = ntohs(a6->sin6_port);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const void *)ss;
		key->s6_addr[10] = 0xff;
		key->s6_addr[11] = 0xff;
		memcpy(&key->s6_addr[12], &a4->sin_addr, 4);
		*port = ntohs(a4->sin_port);
	}
}

/*
 * The connection to close for a newcomer: the oldest one (of addr, when
 * addr is given) that has not delivered a complete request or is only
 * draining after its answer; failing those, the oldest writing to a peer
 * that does not read (an answer is a few KiB and leaves in one send to
 * any peer that reads, so such a connection holds its slot on purpose).
 * NULL when there is nothing to choose from.
 */
static struct conn *victim(struct health *h, const struct in6_addr *addr)
{
	struct conn *writer = NULL;

	for (struct conn *c = h->head; c; c = c->next) {
		if (addr && memcmp(&c->peer, addr, sizeof(*addr)) != 0)
			continue;
		if (c->state != CONN_WRITING)
			return c;
		if (!writer)
			writer = c;
	}
	return writer;
}

static unsigned count_from(const struct health *h, const struct in6_addr *addr)
{
	unsigned n = 0;

	for (const struct conn *c = h->head; c; c = c->next)
		n += memcmp(&c->peer, addr, sizeof(*addr)) == 0;
	return n;
}

/* Make room for a newcomer from addr. false: refuse it. */
static bool make_room(struct health *h, const struct conn *nc)
{
	struct conn *v = NULL;

	if (count_from(h, &nc->peer) >= HEALTH_PER_IP_LIMIT)
		v = victim(h, &nc->peer);
	else if (h->nconns >= HEALTH_CONN_LIMIT)
		v = victim(h, NULL);
	else
		return true;
	if (!v)
		return false;
	conn_debug(v, "evicted for a newcomer (%s)",
		   v->state == CONN_READING ? "request incomplete"
					    : "after its answer");
	conn_close(v);
	return true;
}

static void admit(struct health *h, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = malloc(sizeof(*c) + HEALTH_REQ_MAX);
	int r;

	if (!c) {
		log_warn("health: out of memory: connection refused");
		(void)close(fd);
		return;
	}
	/* Only the header: the buffer's pages stay untouched until used. */
	memset(c, 0, sizeof(*c));
	c->h = h;
	c->fd = fd;
	c->state = CONN_READING;
	c->accepted_ms = loop_now_ms();
	peer_key(ss, &c->peer, &c->port);
	if (!make_room(h, c)) {
		conn_debug(c, "refused: no connection to evict");
		(void)close(fd);
		free(c);
		return;
	}
	r = loop_fd_add(h->loop, fd, EPOLLIN, conn_cb, c);
	if (r < 0) {
		log_warn_errno(r, "health: unable to watch a connection");
		(void)close(fd);
		free(c);
		return;
	}
	c->prev = h->tail;
	if (h->tail)
		h->tail->next = c;
	else
		h->head = c;
	h->tail = c;
	h->nconns++;
	/* The request usually arrived with the handshake: no wakeup needed. */
	conn_read(c);
}

/* Out of descriptors (or memory): rest the listener instead of spinning. */
static void accept_pause(struct health *h, int err)
{
	uint64_t now = loop_now_ms();

	/* A pause that lasts is worth a warning every 10 s, not ten a second.
	 */
	if (!h->pause_warn_ms || now - h->pause_warn_ms >= 10000) {
		log_warn_errno(err,
			       "health: unable to accept connections; "
			       "pausing the listener for %d ms",
			       HEALTH_ACCEPT_PAUSE_MS);
		h->pause_warn_ms = now;
	} else {
		log_debug("accept: %s; pausing", strerror(err));
	}
	(void)loop_fd_del(h->loop, h->listen_fd);
	h->listening = false;
	h->resume_ms = now + HEALTH_ACCEPT_PAUSE_MS;
}

static void accept_cb(void *ctx, int fd, uint32_t events)
{
	struct health *h = ctx;
	struct sockaddr_storage ss;
	socklen_t sl;
	int cfd;

	(void)events;
	/* Bounded: the rest of PID 1's loop runs between batches. */
	for (int i = 0; i < HEALTH_ACCEPT_BATCH && h->listening; i++) {
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		cfd = accept4(fd, (struct sockaddr *)&ss, &sl,
			      SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			admit(h, cfd, &ss);
			continue;
		}
		switch (errno) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			goto out;
		/*
		 * accept(2): errors pending on the new connection are
		 * reported by accept; they are the client's, so go on.
		 */
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			log_debug("accept: %s", strerror(errno));
			continue;
		default:
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM, anything else. */
			accept_pause(h, errno);
			goto out;
		}
	}
out:
	rearm(h);
}

static int accept_resume(struct health *h)
{
	int r = loop_fd_add(h->loop, h->listen_fd, EPOLLIN, accept_cb, h);

	if (r < 0)
		return r;
	h->listening = true;
	h->resume_ms = 0;
	return 0;
}

/* Absolute deadlines: a byte now and then buys a peer nothing. */
static void timer_cb(void *ctx)
{
	struct health *h = ctx;
	uint64_t now = loop_now_ms();
	struct conn *c, *next;
	char hdr[512];
	int n;

	for (c = h->head; c; c = next) {
		next = c->next;
		if (conn_deadline(c) > now)
			continue;
		if (c->state == CONN_READING) {
			conn_debug(c, "no whole request within %d ms",
				   HEALTH_REQUEST_TIMEOUT_MS);
			/* Best effort, one non-blocking send: 408, no body. */
			n = format_head(hdr, sizeof(hdr), 408, type_text, 0);
			if (n > 0)
				(void)send(c->fd, hdr, (size_t)n,
					   MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			conn_debug(c, "not done within %d ms",
				   HEALTH_CONN_TIMEOUT_MS);
		}
		conn_close(c);
	}
	if (!h->listening && now >= h->resume_ms) {
		int r = accept_resume(h);
		if (r < 0) {
			log_warn_errno(r, "health: unable to watch the "
					  "listener");
			h->resume_ms = now + HEALTH_ACCEPT_PAUSE_MS;
		}
	}
	rearm(h);
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
	int r, err_no = ENOMEM;

	if (!h) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->loop = loop;
	h->prm = *params;
	h->listen_fd = -1;
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
	r = accept_resume(h);
	if (r < 0) {
		err_no = -r;
		(void)snprintf(err, errlen,
			       "unable to watch the health server on "
			       "TENANT_HEALTH_LISTEN=%s: %s",
			       params->listen_name, strerror(-r));
		goto fail;
	}
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
	while (h->head)
		conn_close(h->head);
	if (h->listening)
		(void)loop_fd_del(h->loop, h->listen_fd);
	if (h->listen_fd >= 0)
		(void)close(h->listen_fd);
	loop_timer_free(h->timer);
	free(h);
}
