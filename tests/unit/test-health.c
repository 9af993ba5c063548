/* SPDX-License-Identifier: MIT */
/*
 * The health server: its bodies, rendered from struct tenant_status; its
 * request parser, fed strings; and the server itself on loopback, driven
 * by a loop in this process (answers, HEAD, eviction, deadlines, the
 * lingering close, EMFILE). Every wait is on a condition, bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/log.h"
#include "init/loop.h"
#include "supervisor/health.h"
#include "supervisor/status.h"
#include "tests/tap.h"

static void readyz(const struct tenant_status *st, const char *want,
		   bool want_ready, const char *what)
{
	bool ready = !want_ready;
	char *body = health_readyz_render(st, &ready);

	is_str(body, want, "%s", what);
	ok(ready == want_ready, "%s: %s", what, want_ready ? "200" : "503");
	free(body);
}

static const char *const metric_names[] = {
    "tenant_gateway_up",
    "tenant_gateway_restarts_total",
    "tenant_zombies_reaped_total",
    "tenant_idle_seconds",
    "tenant_sleep_in_seconds",
    "tenant_restore_duration_seconds",
    "tenant_sync_queue_depth",
    "tenant_sync_lag_seconds",
    "tenant_sync_uploaded_objects_total",
    "tenant_sync_uploaded_bytes_total",
    "tenant_sync_downloaded_objects_total",
    "tenant_sync_deleted_objects_total",
    "tenant_sync_errors_total",
    "tenant_sync_last_success_timestamp_seconds",
    "tenant_sync_lease_held",
};

static bool has_sample(const char *text, const char *name, const char *value)
{
	char line[128];

	(void)snprintf(line, sizeof(line), "\n%s %s\n", name, value);
	return strstr(text, line) != NULL;
}

static void test_bodies(void)
{
	struct tenant_status st = {0};
	char *m, *h;
	bool live = false;

	st.restoring = true;
	st.gateway_live = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"restoring\"],"
	       "\"warnings\":[]}",
	       false, "restoring (and the gateway not yet blamed)");
	st.restoring = false;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-down\"],"
	       "\"warnings\":[]}",
	       false, "gateway not running");
	st.gateway_up = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-starting\"],"
	       "\"warnings\":[]}",
	       false, "running, not ready");
	st.gateway_ready = true;
	readyz(&st, "{\"ready\":true,\"reasons\":[],\"warnings\":[]}", true,
	       "ready");
	st.sync.degraded = true;
	st.sync.deletes_held = true;
	readyz(&st,
	       "{\"ready\":true,\"reasons\":[],\"warnings\":"
	       "[\"sync-degraded\",\"sync-deletes-held\"]}",
	       true, "warnings do not make it unready");
	st.sync.degraded = st.sync.deletes_held = false;
	st.config_recovered = true;
	st.sync.lease_lost = true;
	readyz(&st,
	       "{\"ready\":true,\"reasons\":[],\"warnings\":"
	       "[\"config-recovered\",\"sync-lease-lost\"]}",
	       true, "config-recovered, sync-lease-lost: still ready");
	st.config_recovered = st.sync.lease_lost = false;
	st.restoring = true;
	st.sync.lease_wait = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"restoring\",\"lease-wait\"],"
	       "\"warnings\":[]}",
	       false, "waiting for the lease: restoring, lease-wait");
	st.restoring = st.sync.lease_wait = false;
	st.gateway_unresponsive = true;
	st.gateway_ready = false;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-down\"],"
	       "\"warnings\":[]}",
	       false, "not answering its liveness probe");
	st.gateway_unresponsive = false;
	st.gateway_up = false;
	st.gateway_crashloop = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-crashloop\"],"
	       "\"warnings\":[]}",
	       false, "crash loop");
	st.shutting_down = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"shutting-down\","
	       "\"gateway-crashloop\"],\"warnings\":[]}",
	       false, "shutting down after a crash loop");
	memset(&st, 0, sizeof(st));
	st.config_invalid = true;
	st.shutting_down = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"shutting-down\","
	       "\"config-invalid\"],\"warnings\":[]}",
	       false, "config invalid");

	memset(&st, 0, sizeof(st));
	st.gateway_live = true;
	st.gateway_up = true;
	h = health_healthz_render(&st, &live);
	is_str(h, "{\"status\":\"live\",\"gateway_up\":true}", "healthz live");
	ok(live, "healthz 200");
	free(h);
	st.gateway_live = false;
	h = health_healthz_render(&st, &live);
	ok(!live && h && strstr(h, "\"status\":\"down\""), "healthz 503");
	free(h);

	st.gateway_restarts_total = 3;
	st.zombies_reaped_total = 12;
	st.idle_seconds = 1.5;
	st.sleep_in_seconds = -1;
	st.sync.uploaded_bytes_total = 123456789012ull;
	m = health_metrics_render(&st);
	ok(m != NULL, "metrics rendered");
	if (!m)
		return;
	for (size_t i = 0; i < sizeof(metric_names) / sizeof(*metric_names);
	     i++) {
		char type[128];
		(void)snprintf(type, sizeof(type), "# TYPE %s ",
			       metric_names[i]);
		ok(strstr(m, type) != NULL, "%s is there", metric_names[i]);
	}
	ok(has_sample(m, "tenant_gateway_restarts_total", "3"), "restarts");
	ok(has_sample(m, "tenant_zombies_reaped_total", "12"), "zombies");
	ok(has_sample(m, "tenant_idle_seconds", "1.500"), "idle seconds");
	ok(has_sample(m, "tenant_sleep_in_seconds", "-1.000"),
	   "never sleeps: -1");
	ok(has_sample(m, "tenant_sync_uploaded_bytes_total", "123456789012"),
	   "64-bit counter");
	ok(m[strlen(m) - 1] == '\n', "ends with a newline");
	free(m);
}

/* ---- the parser ---- */

/* The status the server answers for a verdict (0: it waits for more). */
static unsigned status_of(enum health_parse v, const struct health_request *r)
{
	switch (v) {
	case HEALTH_PARSE_INCOMPLETE:
		return 0;
	case HEALTH_PARSE_OK:
		if (r->method == HEALTH_METHOD_OTHER)
			return 405;
		return r->endpoint == HEALTH_ENDPOINT_NONE ? 404 : 200;
	case HEALTH_PARSE_BAD:
		return 400;
	case HEALTH_PARSE_URI_TOO_LONG:
		return 414;
	case HEALTH_PARSE_TOO_LARGE:
		return 431;
	case HEALTH_PARSE_BAD_VERSION:
		return 505;
	default:
		return 1;
	}
}

struct pcase {
	const char *what;
	const char *in;
	size_t len;
	unsigned want; /* status_of(); 0: incomplete */
	enum health_endpoint ep;
	enum health_method method;
};

#define H11 " HTTP/1.1\r\nHost: t\r\n\r\n"
#define C(what, lit, want)                                                     \
	{                                                                      \
		what, lit, sizeof(lit) - 1, want, 0, 0                         \
	}
#define E(what, lit, ep, m)                                                    \
	{                                                                      \
		what, lit, sizeof(lit) - 1, 200, HEALTH_ENDPOINT_##ep,         \
		    HEALTH_METHOD_##m                                          \
	}

static const struct pcase pcases[] = {
    /* served */
    E("GET /healthz", "GET /healthz" H11, HEALTHZ, GET),
    E("GET /readyz", "GET /readyz" H11, READYZ, GET),
    E("GET /metrics", "GET /metrics" H11, METRICS, GET),
    E("HEAD /healthz", "HEAD /healthz" H11, HEALTHZ, HEAD),
    E("HEAD /metrics", "HEAD /metrics" H11, METRICS, HEAD),
    E("bare LF line endings", "GET /healthz HTTP/1.1\nHost: t\n\n", HEALTHZ,
      GET),
    E("mixed CRLF and LF", "GET /readyz HTTP/1.1\r\nHost: t\n\r\n", READYZ,
      GET),
    E("HTTP/1.0 without Host", "GET /metrics HTTP/1.0\r\n\r\n", METRICS, GET),
    E("HTTP/1.0 with Host", "GET /metrics HTTP/1.0\r\nHost: t\r\n\r\n", METRICS,
      GET),
    E("query string ignored", "GET /healthz?verbose=1&x=%20" H11, HEALTHZ, GET),
    E("empty query", "GET /readyz?" H11, READYZ, GET),
    E("query with a slash", "GET /metrics?a=/b/c" H11, METRICS, GET),
    E("absolute-form",
      "GET http://tenant:18790/healthz HTTP/1.1\r\nHost: tenant\r\n\r\n",
      HEALTHZ, GET),
    E("absolute-form, https, any case, query", "GET HTTPS://h/readyz?x" H11,
      READYZ, GET),
    E("leading empty lines ignored",
      "\r\n\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", HEALTHZ, GET),
    E("empty Host value", "GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", HEALTHZ,
      GET),
    E("host is case-insensitive", "GET /healthz HTTP/1.1\r\nhOsT: t\r\n\r\n",
      HEALTHZ, GET),
    E("OWS and obs-text in values",
      "GET /healthz HTTP/1.1\r\nHost: t \r\nX-A:\t caf\xc3\xa9 \t\r\n\r\n",
      HEALTHZ, GET),
    E("a valid Content-Length on a GET",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length:  4 \r\n\r\nbody",
      HEALTHZ, GET),
    E("pipelined bytes after the head",
      "GET /healthz" H11 "GET /readyz" H11 "garbage", HEALTHZ, GET),
    E("token characters in names",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX!#$%&'*+-.^_`|~9: v\r\n\r\n",
      HEALTHZ, GET),
    /* 404 */
    C("trailing slash", "GET /healthz/" H11, 404),
    C("longer path", "GET /healthzz" H11, 404),
    C("paths are case-sensitive", "GET /HEALTHZ" H11, 404),
    C("no percent-decoding", "GET /health%7A" H11, 404),
    C("root", "GET /" H11, 404),
    C("HEAD of an unknown path", "HEAD /nope" H11, 404),
    C("absolute-form without a path", "GET http://h" H11, 404),
    C("absolute-form, query only", "GET http://h?healthz" H11, 404),
    /* 405 */
    C("POST", "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n",
      405),
    C("DELETE", "DELETE /metrics" H11, 405),
    C("methods are case-sensitive", "get /healthz" H11, 405),
    C("OPTIONS *", "OPTIONS *" H11, 405),
    C("CONNECT authority-form", "CONNECT h:443" H11, 405),
    C("an unknown token", "BREW /readyz" H11, 405),
    /* 505 */
    C("HTTP/2.0", "GET /healthz HTTP/2.0\r\n\r\n", 505),
    C("HTTP/1.2", "GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n", 505),
    C("HTTP/0.9 spelled out", "GET /healthz HTTP/0.9\r\n\r\n", 505),
    C("505 is known at the end of the request line",
      "GET /healthz HTTP/3.0\r\n", 505),
    /* 400: request line */
    C("no version (HTTP/0.9)", "GET /healthz\r\n\r\n", 400),
    C("two spaces before the target", "GET  /healthz" H11, 400),
    C("two spaces before the version", "GET /healthz  HTTP/1.1\r\n\r\n", 400),
    C("space after the version", "GET /healthz HTTP/1.1 \r\n\r\n", 400),
    C("tab as separator", "GET\t/healthz" H11, 400),
    C("leading space", " GET /healthz" H11, 400),
    C("lower-case version", "GET /healthz http/1.1\r\n\r\n", 400),
    C("two-digit minor", "GET /healthz HTTP/1.10\r\n\r\n", 400),
    C("two-digit major", "GET /healthz HTTP/11.1\r\n\r\n", 400),
    C("version without a dot", "GET /healthz HTTP/11\r\n\r\n", 400),
    C("control character in the target", "GET /he\x01lthz" H11, 400),
    C("DEL in the target", "GET /he\x7flthz" H11, 400),
    C("non-ASCII target", "GET /h\xc3\xa9" H11, 400),
    C("fragment", "GET /healthz#top" H11, 400),
    C("asterisk-form on GET", "GET *" H11, 400),
    C("no leading slash", "GET healthz" H11, 400),
    C("authority-form on GET", "GET h:443" H11, 400),
    C("absolute-form, other scheme", "GET ftp://h/healthz" H11, 400),
    C("absolute-form, empty authority", "GET http:///healthz" H11, 400),
    C("bare CR after the version", "GET /healthz HTTP/1.1\rHost: t\r\n\r\n",
      400),
    C("bare CR before the request line", "\rGET /healthz" H11, 400),
    C("NUL in the method", "GE\0T /healthz" H11, 400),
    C("empty method", " /healthz" H11, 400),
    C("TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    C("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    /* 400: header section */
    C("HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400),
    C("two Host headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      400),
    C("two Host headers on HTTP/1.0",
      "GET /healthz HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    C("space before the colon", "GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n",
      400),
    C("obs-fold", "GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
      400),
    C("first header line folded", "GET /healthz HTTP/1.1\r\n Host: t\r\n\r\n",
      400),
    C("no colon", "GET /healthz HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400),
    C("empty field name", "GET /healthz HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n",
      400),
    C("control character in a value",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\x01z\r\n\r\n", 400),
    C("NUL in a value", "GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\0z\r\n\r\n",
      400),
    C("DEL in a value", "GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\x7fz\r\n\r\n",
      400),
    C("bare CR in a value",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\rz\r\n\r\n", 400),
    C("bare CR as the end of the head",
      "GET /healthz HTTP/1.1\r\nHost: t\r\n\rX", 400),
    C("non-numeric Content-Length",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    C("Content-Length list",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 1\r\n\r\n", 400),
    C("empty Content-Length",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n", 400),
    C("negative Content-Length",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    C("two Content-Length headers",
      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
      "content-length: 0\r\n\r\n",
      400),
    /* incomplete */
    C("nothing", "", 0),
    C("a method", "GET", 0),
    C("a request line without its end", "GET /healthz HTTP/1.1", 0),
    C("half a version", "GET /healthz HTTP/1.", 0),
    C("a request line", "GET /healthz HTTP/1.1\r\n", 0),
    C("a CR at the end", "GET /healthz HTTP/1.1\r", 0),
    C("a header without the empty line", "GET /healthz HTTP/1.1\r\nHost: t\r\n",
      0),
    C("the last CR of the head", "GET /healthz HTTP/1.1\r\nHost: t\r\n\r", 0),
    C("empty lines only", "\r\n\r\n", 0),
    C("a field name", "GET /healthz HTTP/1.1\r\nHos", 0),
};

static void test_parse_case(const struct pcase *c)
{
	struct health_request r = {0}, rp;
	enum health_parse v = health_request_parse(c->in, c->len, &r);
	unsigned got = status_of(v, &r);
	bool stable = true;

	is_int(got, c->want, "parse: %s -> %u", c->what, c->want);
	if (c->want == 200) {
		ok(r.endpoint == c->ep && r.method == c->method,
		   "parse: %s: endpoint %d method %d", c->what, r.endpoint,
		   r.method);
		ok(r.head_len <= c->len && c->in[r.head_len - 1] == '\n' &&
		       (c->in[r.head_len - 2] == '\n' ||
			(c->in[r.head_len - 2] == '\r' &&
			 c->in[r.head_len - 3] == '\n')),
		   "parse: %s: head_len %zu ends at the empty line", c->what,
		   r.head_len);
	}
	/* Positional: a shorter input has no verdict or the same one. */
	for (size_t k = 0; k < c->len && stable; k++) {
		enum health_parse vp = health_request_parse(c->in, k, &rp);
		if (vp == HEALTH_PARSE_INCOMPLETE)
			continue;
		stable = vp == v && (v != HEALTH_PARSE_OK ||
				     memcmp(&rp, &r, sizeof(r)) == 0);
		if (!stable)
			diag("prefix of %zu bytes: verdict %d", k, vp);
	}
	ok(stable, "parse: %s: every prefix agrees", c->what);
}

static void test_parser_cap(void)
{
	static const char line[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX: ";
	size_t cap = HEALTH_REQ_MAX, big = cap + 4096;
	char *buf = malloc(big);
	struct health_request r = {0};
	size_t fill;

	if (!ok(buf != NULL, "cap: buffer"))
		return;
	/* A head of exactly HEALTH_REQ_MAX bytes is served... */
	memcpy(buf, line, sizeof(line) - 1);
	fill = cap - (sizeof(line) - 1) - 4;
	memset(buf + sizeof(line) - 1, 'a', fill);
	memcpy(buf + cap - 4, "\r\n\r\n", 4);
	is_int(status_of(health_request_parse(buf, cap, &r), &r), 200,
	       "cap: a head of exactly %zu bytes -> 200", cap);
	is_int(r.head_len, cap, "cap: head_len is the cap");
	is_int(status_of(health_request_parse(buf, big, &r), &r), 200,
	       "cap: bytes after it do not matter");
	/* ...one more byte of header is not. */
	memset(buf + sizeof(line) - 1, 'a', fill + 1);
	memcpy(buf + cap - 3, "\r\n\r\n", 4);
	is_int(status_of(health_request_parse(buf, cap + 1, &r), &r), 431,
	       "cap: a head of %zu bytes -> 431", cap + 1);
	is_int(status_of(health_request_parse(buf, cap - 1, &r), &r), 0,
	       "cap: below the cap it is only incomplete");
	memset(buf + sizeof(line) - 1, 'a', big - (sizeof(line) - 1));
	is_int(status_of(health_request_parse(buf, big, &r), &r), 431,
	       "cap: a header section that never ends -> 431");
	/* A request line that does not end within the cap. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', big - 5);
	is_int(status_of(health_request_parse(buf, cap, &r), &r), 414,
	       "cap: a %zu-byte request target -> 414", cap);
	memset(buf, '\n', big);
	is_int(status_of(health_request_parse(buf, big, &r), &r), 414,
	       "cap: nothing but empty lines -> 414");
	/* An error within the cap wins over the cap. */
	memcpy(buf, line, sizeof(line) - 1);
	memset(buf + sizeof(line) - 1, 'a', big - (sizeof(line) - 1));
	buf[100] = '\x01';
	is_int(status_of(health_request_parse(buf, big, &r), &r), 400,
	       "cap: a bad byte before the cap -> 400");
	free(buf);
}

static void test_parser(void)
{
	for (size_t i = 0; i < sizeof(pcases) / sizeof(*pcases); i++)
		test_parse_case(&pcases[i]);
	test_parser_cap();
}

/* ---- the server on loopback ---- */

struct srv {
	struct loop *loop;
	struct health *h;
	struct sockaddr_in addr;
	struct tenant_status st;
	unsigned refreshes;
};

static void refresh_cb(void *ctx)
{
	struct srv *s = ctx;

	s->refreshes++;
}

/* Dispatch whatever is ready, waiting at most ms. */
static void pump(struct srv *s, int ms)
{
	(void)loop_run_once(s->loop, ms);
}

/* Dispatch until nothing happens for a few milliseconds (bounded). */
static void settle(struct srv *s)
{
	uint64_t end = loop_now_ms() + 2000;

	while (loop_run_once(s->loop, 5) > 0 && loop_now_ms() < end)
		;
}

/* A connected, non-blocking client socket from source address src. */
static int client(struct srv *s, const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	(void)inet_pton(AF_INET, src, &a.sin_addr);
	/* Loopback completes the handshake in the kernel: no pump needed. */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    connect(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

static bool send_str(int fd, const char *str)
{
	size_t n = strlen(str);

	return send(fd, str, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n;
}

/*
 * Read until the server closes (or ms pass), pumping its loop. Returns
 * the bytes read (NUL-terminated in buf), or -1 on timeout or error.
 */
static ssize_t read_all(struct srv *s, int fd, char *buf, size_t cap, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	size_t got = 0;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			if (got == cap - 1)
				break;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if (loop_now_ms() >= end)
			return -1;
		pump(s, 10);
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/*
 * Read what has arrived into buf (kept NUL-terminated, the rest dropped);
 * true once the server has closed the connection (EOF or reset).
 */
static bool drain_closed(int fd, char *buf, size_t cap, size_t *got)
{
	char tmp[4096];
	ssize_t n;

	for (;;) {
		n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			size_t k = (size_t)n;
			if (k > cap - 1 - *got)
				k = cap - 1 - *got;
			memcpy(buf + *got, tmp, k);
			*got += k;
			buf[*got] = '\0';
			continue;
		}
		return n == 0 || (errno != EAGAIN && errno != EINTR);
	}
}

/* True when the server has closed fd's connection (EOF or reset). */
static bool is_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

static bool server_start(struct srv *s)
{
	struct health_params prm = {0};
	socklen_t len = sizeof(s->addr);
	char err[256];
	int fd;

	memset(s, 0, sizeof(*s));
	s->addr.sin_family = AF_INET;
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A port the kernel picks, handed to health_new. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&s->addr, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&s->addr, &len) < 0)
		return false;
	(void)close(fd);
	s->loop = loop_new();
	if (!s->loop)
		return false;
	prm.addr = (struct sockaddr *)&s->addr;
	prm.addrlen = sizeof(s->addr);
	prm.listen_name = "127.0.0.1 (test)";
	prm.st = &s->st;
	prm.refresh = refresh_cb;
	prm.ctx = s;
	s->h = health_new(s->loop, &prm, err, sizeof(err));
	if (!s->h)
		diag("health_new: %s", err);
	return s->h != NULL;
}

static void server_stop(struct srv *s)
{
	health_free(s->h);
	loop_free(s->loop);
}

/* One request on a fresh connection from 127.0.0.1; the whole answer. */
static ssize_t roundtrip(struct srv *s, const char *req, char *buf, size_t cap)
{
	int fd = client(s, "127.0.0.1");
	ssize_t n = -1;

	if (fd >= 0 && send_str(fd, req))
		n = read_all(s, fd, buf, cap, 2000);
	if (fd >= 0)
		(void)close(fd);
	return n;
}

static void test_answers(struct srv *s)
{
	char buf[8192], want[256], *body, *end;
	unsigned before = s->refreshes;
	bool ready = true;
	ssize_t n;

	s->st.gateway_live = true;
	s->st.gateway_up = true;
	n = roundtrip(s, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", buf,
		      sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0,
	   "server: GET /healthz -> 200");
	ok(strstr(buf, "\r\nContent-Type: application/json\r\n") &&
	       strstr(buf, "\r\nCache-Control: no-store\r\n") &&
	       strstr(buf, "\r\nConnection: close\r\n") &&
	       strstr(buf, "\r\nDate: ") &&
	       strstr(buf, "\r\nContent-Length: 36\r\n"),
	   "server: its headers");
	end = strstr(buf, "\r\n\r\n");
	is_str(end ? end + 4 : NULL,
	       "{\"status\":\"live\",\"gateway_up\":true}\n",
	       "server: the body, with its newline");
	ok(s->refreshes == before + 1, "server: status refreshed first");

	body = health_readyz_render(&s->st, &ready);
	(void)snprintf(want, sizeof(want),
		       "HTTP/1.1 503 Service Unavailable\r\n");
	n = roundtrip(s, "HEAD /readyz HTTP/1.1\r\nHost: t\r\n\r\n", buf,
		      sizeof(buf));
	ok(n > 0 && strncmp(buf, want, strlen(want)) == 0,
	   "server: HEAD /readyz -> 503");
	(void)snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n",
		       body ? strlen(body) + 1 : 0);
	ok(strstr(buf, want) != NULL, "server: HEAD has the GET's length");
	end = strstr(buf, "\r\n\r\n");
	ok(end && end[4] == '\0', "server: HEAD has no body");
	free(body);

	n = roundtrip(s, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
	       strstr(buf, "\r\nContent-Type: text/plain; version=0.0.4; "
			   "charset=utf-8\r\n") &&
	       strstr(buf, "\ntenant_gateway_up 1\n"),
	   "server: /metrics over HTTP/1.0");
	n = roundtrip(s, "POST /healthz HTTP/1.1\r\nHost: t\r\n\r\n", buf,
		      sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 405 ", 13) == 0 &&
	       strstr(buf, "\r\nAllow: GET, HEAD\r\n"),
	   "server: POST -> 405 with Allow");
	n = roundtrip(s, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", buf,
		      sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 404 ", 13) == 0 &&
	       strstr(buf, "\r\n\r\nnot found\n"),
	   "server: unknown path -> 404");
	n = roundtrip(s, "GET /healthz HTTP/2.0\r\n\r\n", buf, sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 505 ", 13) == 0,
	   "server: HTTP/2.0 -> 505");
	n = roundtrip(s, "\x16\x03\x01\x02\x00", buf, sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 400 ", 13) == 0,
	   "server: TLS -> 400 at once");
	n = roundtrip(s,
		      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
		      "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n",
		      buf, sizeof(buf));
	ok(n > 0 && strstr(buf, "HTTP/1.1") == buf &&
	       !strstr(buf + 1, "HTTP/1.1"),
	   "server: pipelined requests get one answer, then the close");
	n = roundtrip(s,
		      "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5"
		      "\r\n\r\nhello",
		      buf, sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
	   "server: a body on GET is ignored");
}

static void test_trickle_and_eof(struct srv *s)
{
	static const char req[] = "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n";
	char buf[4096];
	int fd = client(s, "127.0.0.1");
	bool sent = fd >= 0;

	/* One byte per wakeup, with the loop run in between. */
	for (size_t i = 0; sent && i < sizeof(req) - 1; i++) {
		sent = send(fd, req + i, 1, MSG_NOSIGNAL) == 1;
		pump(s, 0);
	}
	ok(sent && read_all(s, fd, buf, sizeof(buf), 2000) > 0 &&
	       strncmp(buf, "HTTP/1.1 503 ", 13) == 0,
	   "server: a request sent byte by byte is answered");
	if (fd >= 0)
		(void)close(fd);

	fd = client(s, "127.0.0.1");
	sent = fd >= 0 && send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
	if (sent)
		(void)shutdown(fd, SHUT_WR);
	ok(sent && read_all(s, fd, buf, sizeof(buf), 2000) > 0 &&
	       strncmp(buf, "HTTP/1.1 400 ", 13) == 0,
	   "server: a request cut short by EOF -> 400");
	if (fd >= 0)
		(void)close(fd);
}

/* The 1 MiB header of hostile.sh: 431, read intact by the client. */
static void test_big_header(struct srv *s)
{
	size_t total = 1u << 20, sent = 0;
	uint64_t end = loop_now_ms() + 5000;
	char *big = malloc(total), buf[4096];
	int fd = client(s, "127.0.0.1");
	ssize_t n;

	if (!big || fd < 0) {
		ok(0, "server: 1 MiB header: setup");
		free(big);
		if (fd >= 0)
			(void)close(fd);
		return;
	}
	memset(big, 'a', total);
	memcpy(big, "GET /healthz HTTP/1.1\r\nX-Big: ", 30);
	while (sent < total && loop_now_ms() < end) {
		n = send(fd, big + sent, total - sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		pump(s, 1);
	}
	is_int(sent, total, "server: the whole 1 MiB is taken (drained)");
	n = read_all(s, fd, buf, sizeof(buf), 2000);
	ok(n > 0 && strncmp(buf, "HTTP/1.1 431 ", 13) == 0,
	   "server: 1 MiB header -> 431, not lost to a reset");
	(void)close(fd);
	free(big);
}

static void test_eviction(struct srv *s)
{
	enum {
		N = HEALTH_CONN_LIMIT
	};
	static const char partial[] = "GET /healthz HTTP/1.1\r\nX-Slow: ";
	int same[HEALTH_PER_IP_LIMIT + 1], many[N], fresh;
	char buf[4096], src[32];
	bool all = true, rest_open = true;
	ssize_t n;

	/* The per-address quota: the ninth from 127.0.0.2 evicts the first. */
	for (int i = 0; i <= HEALTH_PER_IP_LIMIT; i++) {
		same[i] = client(s, "127.0.0.2");
		all = all && same[i] >= 0 && send_str(same[i], partial);
		settle(s);
	}
	ok(all, "evict: %d slow connections from one address",
	   HEALTH_PER_IP_LIMIT + 1);
	ok(is_closed(same[0]), "evict: the oldest of them is closed");
	for (int i = 1; i <= HEALTH_PER_IP_LIMIT; i++)
		rest_open = rest_open && !is_closed(same[i]);
	ok(rest_open, "evict: the other %d stay", HEALTH_PER_IP_LIMIT);
	fresh = client(s, "127.0.0.2");
	n = fresh >= 0 &&
		    send_str(fresh, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
		? read_all(s, fresh, buf, sizeof(buf), 2000)
		: -1;
	ok(n > 0 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
	   "evict: a probe from the full address is served");
	ok(is_closed(same[1]), "evict: at the expense of the next oldest");
	if (fresh >= 0)
		(void)close(fresh);
	for (int i = 0; i <= HEALTH_PER_IP_LIMIT; i++)
		if (same[i] >= 0)
			(void)close(same[i]);
	settle(s);

	/* The global quota: N slow peers from N/8 addresses, then a probe. */
	all = true;
	for (int i = 0; i < N; i++) {
		(void)snprintf(src, sizeof(src), "127.0.1.%d",
			       1 + i / HEALTH_PER_IP_LIMIT);
		many[i] = client(s, src);
		all = all && many[i] >= 0 && send_str(many[i], partial);
		if (i % 32 == 31)
			settle(s);
	}
	settle(s);
	rest_open = all;
	for (int i = 0; i < N && rest_open; i++)
		rest_open = !is_closed(many[i]);
	ok(rest_open, "evict: %d slow peers hold every slot", N);
	fresh = client(s, "127.0.2.1");
	n = fresh >= 0 &&
		    send_str(fresh, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
		? read_all(s, fresh, buf, sizeof(buf), 2000)
		: -1;
	ok(n > 0 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
	   "evict: a fresh probe is served all the same");
	ok(is_closed(many[0]) && !is_closed(many[1]),
	   "evict: exactly the oldest slow peer made room");
	if (fresh >= 0)
		(void)close(fresh);
	for (int i = 0; i < N; i++)
		if (many[i] >= 0)
			(void)close(many[i]);
	settle(s);
}

/*
 * Absolute deadlines: a peer trickling a byte every 100 ms is cut off 3 s
 * after accept (with a 408), and one that keeps sending after its answer
 * 5 s after accept. Both run at once.
 */
static void test_deadlines(struct srv *s)
{
	uint64_t t0, end, closed_req = 0, closed_conn = 0, next_byte;
	int slow = client(s, "127.0.0.3"), body = client(s, "127.0.0.4");
	char got_req[4096] = "", got_conn[4096] = "";
	size_t n_req = 0, n_conn = 0;

	t0 = loop_now_ms();
	if (slow < 0 || body < 0 ||
	    !send_str(slow, "GET /healthz HTTP/1.1\r\nX-Slow: ") ||
	    !send_str(body, "GET /healthz HTTP/1.1\r\nHost: t\r\n"
			    "Content-Length: 100000000\r\n\r\n")) {
		ok(0, "deadlines: setup");
		goto out;
	}
	end = t0 + 10000;
	next_byte = t0;
	while ((!closed_req || !closed_conn) && loop_now_ms() < end) {
		uint64_t now = loop_now_ms();
		if (now >= next_byte) {
			if (!closed_req)
				(void)send(slow, "a", 1,
					   MSG_NOSIGNAL | MSG_DONTWAIT);
			/*
			 * The answer's FIN only half-closes: the server's
			 * close shows as a reset on the next sends.
			 */
			if (!closed_conn &&
			    send(body, "b", 1, MSG_NOSIGNAL | MSG_DONTWAIT) <
				0 &&
			    errno != EAGAIN)
				closed_conn = now;
			next_byte = now + 100;
		}
		pump(s, 10);
		if (!closed_req &&
		    drain_closed(slow, got_req, sizeof(got_req), &n_req))
			closed_req = loop_now_ms();
		(void)drain_closed(body, got_conn, sizeof(got_conn), &n_conn);
	}
	diag("request deadline hit after %" PRIu64 " ms, connection deadline "
	     "after %" PRIu64 " ms",
	     closed_req - t0, closed_conn - t0);
	ok(closed_req >= t0 + HEALTH_REQUEST_TIMEOUT_MS &&
	       closed_req < t0 + HEALTH_REQUEST_TIMEOUT_MS + 1500,
	   "deadlines: no request head within %d ms: closed, bytes or not",
	   HEALTH_REQUEST_TIMEOUT_MS);
	ok(strncmp(got_req, "HTTP/1.1 408 ", 13) == 0, "deadlines: with a 408");
	ok(strncmp(got_conn, "HTTP/1.1 200 ", 13) == 0,
	   "deadlines: the GET with a body was answered at once");
	ok(closed_conn >= t0 + HEALTH_CONN_TIMEOUT_MS &&
	       closed_conn < t0 + HEALTH_CONN_TIMEOUT_MS + 1500,
	   "deadlines: the whole connection is over after %d ms",
	   HEALTH_CONN_TIMEOUT_MS);
out:
	if (slow >= 0)
		(void)close(slow);
	if (body >= 0)
		(void)close(body);
	settle(s);
}

/* Out of descriptors: the listener rests instead of spinning, then serves. */
static void test_emfile(struct srv *s)
{
	struct rlimit old, low;
	char buf[4096];
	int fd = client(s, "127.0.0.5"), probe, events = 0;
	uint64_t end;
	ssize_t n = -1;

	if (fd < 0 ||
	    !send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n") ||
	    getrlimit(RLIMIT_NOFILE, &old) < 0) {
		ok(0, "emfile: setup");
		if (fd >= 0)
			(void)close(fd);
		return;
	}
	/* The lowest free descriptor becomes the limit: accept4 fails. */
	probe = dup(0);
	low = old;
	low.rlim_cur = (rlim_t)(probe >= 0 ? probe : 64);
	if (probe >= 0)
		(void)close(probe);
	ok(setrlimit(RLIMIT_NOFILE, &low) == 0, "emfile: limit lowered");
	pump(s, 50); /* the accept that fails */
	end = loop_now_ms() + HEALTH_ACCEPT_PAUSE_MS / 2;
	while (loop_now_ms() < end)
		events += loop_run_once(s->loop, 5) > 0;
	ok(events == 0, "emfile: no wakeups while the listener rests (%d)",
	   events);
	(void)setrlimit(RLIMIT_NOFILE, &old);
	n = read_all(s, fd, buf, sizeof(buf), 2000);
	/*
	 * valgrind emulates RLIMIT_NOFILE: the kernel's accept4 succeeds and
	 * valgrind closes the new descriptor before failing the call, so
	 * that connection is lost there (and only there).
	 */
	if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload"))
		skip(1, "valgrind closes the connection it refused");
	else
		ok(n > 0 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
		   "emfile: the waiting connection is served once "
		   "descriptors are back");
	(void)close(fd);
	n = roundtrip(s, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", buf,
		      sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
	   "emfile: and the listener is back");
}

static void test_server(void)
{
	struct srv s;
	bool started = server_start(&s);

	if (!ok(started, "server: started on 127.0.0.1:%u",
		ntohs(s.addr.sin_port)))
		return;
	test_answers(&s);
	test_trickle_and_eof(&s);
	test_big_header(&s);
	test_eviction(&s);
	test_deadlines(&s);
	test_emfile(&s);
	server_stop(&s);
}

int main(void)
{
	/* Debug logging runs every conn_debug format; it goes to /dev/null. */
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (devnull >= 0)
		log_set_fd(devnull);
	log_set_level(LOG_LEVEL_DEBUG);
	test_bodies();
	test_parser();
	test_server();
	log_reset();
	if (devnull >= 0)
		(void)close(devnull);
	return tap_done();
}
