/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the health server (supervisor/health.c), its pure request
 * parser and the server as a client sees it.
 *
 * The parser first: health_request_parse() on the input must give a
 * verdict in range; HEALTH_PARSE_OK must end its head inside the input
 * and the cap, at an empty line; the input cut to the cap parses the same;
 * and the verdict must be positional (health.h): a binary search finds
 * the shortest prefix with a verdict, and eight prefixes picked from the
 * input's hash must be INCOMPLETE below it and equal to the whole above.
 *
 * Then the server. One is made at start-up exactly as PID 1 makes it
 * (health_new on a struct loop, the production limits), on 127.0.0.1
 * inside a network namespace of its own when the process may make one
 * (root), so that thousands of connections a second neither use up nor
 * take the machine's loopback ports; otherwise on the shared loopback, on
 * a port the kernel picked. Each input is one TCP connection: the bytes
 * are sent as they are (HTTP or not, pipelined requests included) while
 * the one loop drives both the client socket and the server, as PID 1's
 * loop does; once nothing more happens, the client shuts down its sending
 * side and reads until the server closes. The tenant status the bodies
 * are rendered from is made from the input's bytes, so every body shape
 * is reachable.
 *
 * Invariants checked over TCP: the answer's status is the one the
 * parser's verdict on the same bytes calls for (a request cut short by
 * the client's EOF is a 400, no bytes get no answer); it is one HTTP/1.1
 * response with Content-Length and "Connection: close", whose body is
 * exactly Content-Length bytes (none for HEAD) and nothing after it;
 * and the server closes within HEALTH_CONN_TIMEOUT_MS (plus slack): a
 * connection it never closes is reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "init/config.h"
#include "init/loop.h"
#include "policy/policy.h"
#include "supervisor/health.h"
#include "supervisor/status.h"
#include "tests/fuzz/fuzz.h"

#define CLOSE_DEADLINE_MS (HEALTH_CONN_TIMEOUT_MS + 3000)
#define ANSWER_MAX	  16384 /* more than any answer; more is a finding */

static struct loop *loop;
static struct health *server;
static struct sockaddr_in addr;
static struct tenant_status status;
static uint32_t input_hash;

/* The client side of one run. */
static struct client {
	int fd;
	const uint8_t *data;
	size_t size, sent;
	bool writing, closed;
	char answer[ANSWER_MAX + 1]; /* what the server sent, NUL-terminated */
	size_t got;
} cl;

/* Called by the server before a body is rendered (and by the checks). */
static void refresh_cb(void *ctx)
{
	uint32_t h = input_hash;

	(void)ctx;
	status.restoring = h & 1;
	status.config_invalid = h & 2;
	status.shutting_down = h & 4;
	status.gateway_up = h & 8;
	status.gateway_ready = h & 16;
	status.gateway_unresponsive = h & 32;
	status.gateway_crashloop = h & 64;
	status.gateway_live = h & 128;
	status.sync.degraded = h & 256;
	status.sync.deletes_held = h & 512;
	status.gateway_restarts_total = h >> 10;
	status.idle_seconds = (double)(h % 7919) / 7.0;
	status.sleep_in_seconds = (h & 1024) ? -1.0 : 3600.0;
}

/* ---- the parser ---- */

static enum health_parse parse(const uint8_t *data, size_t len,
			       struct health_request *r)
{
	enum health_parse v;

	memset(r, 0, sizeof(*r));
	v = health_request_parse((const char *)data, len, r);
	FUZZ_ASSERT(v >= HEALTH_PARSE_INCOMPLETE &&
		    v <= HEALTH_PARSE_BAD_VERSION);
	return v;
}

static bool same(enum health_parse a, const struct health_request *ra,
		 enum health_parse b, const struct health_request *rb)
{
	return a == b &&
	       (a != HEALTH_PARSE_OK || memcmp(ra, rb, sizeof(*ra)) == 0);
}

/* The checks in the header comment; returns the whole input's verdict. */
static enum health_parse check_parser(const uint8_t *data, size_t size,
				      struct health_request *req)
{
	enum health_parse v = parse(data, size, req), vk;
	struct health_request rk;
	size_t lo = 0, hi = size, k;
	uint32_t h = input_hash;

	if (v == HEALTH_PARSE_OK) {
		size_t n = req->head_len;
		FUZZ_ASSERT(n >= 3 && n <= size && n <= HEALTH_REQ_MAX);
		FUZZ_ASSERT(data[n - 1] == '\n');
		FUZZ_ASSERT(data[n - 2] == '\n' ||
			    (data[n - 2] == '\r' && data[n - 3] == '\n'));
		FUZZ_ASSERT(req->minor <= 1);
		FUZZ_ASSERT(req->method <= HEALTH_METHOD_OTHER);
		FUZZ_ASSERT(req->endpoint <= HEALTH_ENDPOINT_METRICS);
		FUZZ_ASSERT(req->method != HEALTH_METHOD_OTHER ||
			    req->endpoint == HEALTH_ENDPOINT_NONE);
		vk = parse(data, n, &rk);
		FUZZ_ASSERT(same(v, req, vk, &rk));
	}
	if (v == HEALTH_PARSE_INCOMPLETE)
		FUZZ_ASSERT(size < HEALTH_REQ_MAX);
	if (v == HEALTH_PARSE_URI_TOO_LONG || v == HEALTH_PARSE_TOO_LARGE)
		FUZZ_ASSERT(size >= HEALTH_REQ_MAX);
	if (size > HEALTH_REQ_MAX) {
		vk = parse(data, HEALTH_REQ_MAX, &rk);
		FUZZ_ASSERT(same(v, req, vk, &rk));
	}
	if (v == HEALTH_PARSE_INCOMPLETE)
		return v;
	/* The shortest prefix with a verdict: (lo, hi]. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (parse(data, mid, &rk) == HEALTH_PARSE_INCOMPLETE)
			lo = mid;
		else
			hi = mid;
	}
	for (int i = 0; i < 8; i++, h = h * 1103515245u + 12345u) {
		k = (size_t)(h >> 8) % (size + 1);
		vk = parse(data, k, &rk);
		if (k < hi)
			FUZZ_ASSERT(vk == HEALTH_PARSE_INCOMPLETE);
		else
			FUZZ_ASSERT(same(v, req, vk, &rk));
	}
	return v;
}

/* The status the server must answer; 0: no answer at all. */
static unsigned expected_status(enum health_parse v,
				const struct health_request *r, size_t size)
{
	bool ok = false;
	char *body;

	switch (v) {
	case HEALTH_PARSE_INCOMPLETE:
		return size ? 400 : 0; /* the client's EOF cuts it short */
	case HEALTH_PARSE_BAD:
		return 400;
	case HEALTH_PARSE_URI_TOO_LONG:
		return 414;
	case HEALTH_PARSE_TOO_LARGE:
		return 431;
	case HEALTH_PARSE_BAD_VERSION:
		return 505;
	case HEALTH_PARSE_OK:
	default:
		break;
	}
	if (r->method == HEALTH_METHOD_OTHER)
		return 405;
	refresh_cb(NULL);
	switch (r->endpoint) {
	case HEALTH_ENDPOINT_HEALTHZ:
		body = health_healthz_render(&status, &ok);
		break;
	case HEALTH_ENDPOINT_READYZ:
		body = health_readyz_render(&status, &ok);
		break;
	case HEALTH_ENDPOINT_METRICS:
		return 200;
	case HEALTH_ENDPOINT_NONE:
	default:
		return 404;
	}
	free(body);
	return ok ? 200 : 503;
}

/* The answer as received: one response, framed as the contract says. */
static void check_answer(unsigned want, bool head)
{
	const char *a = cl.answer, *end, *cl_hdr;
	unsigned got_status = 0;
	size_t hlen, clen;

	FUZZ_ASSERT(cl.got <= ANSWER_MAX);
	cl.answer[cl.got] = '\0';
	if (!want) {
		FUZZ_ASSERT(cl.got == 0);
		return;
	}
	FUZZ_ASSERT(cl.got > 12 && memcmp(a, "HTTP/1.1 ", 9) == 0);
	FUZZ_ASSERT(sscanf(a + 9, "%3u", &got_status) == 1);
	if (got_status != want)
		fprintf(stderr, "status %u, the parser says %u\n", got_status,
			want);
	FUZZ_ASSERT(got_status == want);
	end = strstr(a, "\r\n\r\n");
	FUZZ_ASSERT(end);
	hlen = (size_t)(end - a) + 4;
	FUZZ_ASSERT(memmem(a, hlen, "\r\nConnection: close\r\n", 21));
	FUZZ_ASSERT(memmem(a, hlen, "\r\nCache-Control: no-store\r\n", 27));
	cl_hdr = memmem(a, hlen, "\r\nContent-Length: ", 18);
	FUZZ_ASSERT(cl_hdr && sscanf(cl_hdr + 18, "%zu", &clen) == 1);
	/* HEAD is known only for a request that parsed. */
	FUZZ_ASSERT(cl.got == hlen + (head ? 0 : clen));
}

/* ---- the client ---- */

static void client_cb(void *ctx, int fd, uint32_t events)
{
	struct client *c = ctx;
	char buf[4096];
	ssize_t n;

	if ((events & EPOLLOUT) && c->writing) {
		n = c->sent < c->size
			? send(fd, c->data + c->sent, c->size - c->sent,
			       MSG_NOSIGNAL | MSG_DONTWAIT)
			: 0;
		if (n > 0)
			c->sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			c->sent = c->size; /* the server is gone: stop */
		if (c->sent == c->size) {
			/* Writable forever now: stop asking, or it spins. */
			c->writing = false;
			(void)loop_fd_mod(loop, fd, EPOLLIN);
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			size_t k = (size_t)n;
			if (c->got < ANSWER_MAX) {
				if (k > ANSWER_MAX - c->got)
					k = ANSWER_MAX - c->got;
				memcpy(c->answer + c->got, buf, k);
			}
			/* Counted in full: an overlong answer is a finding. */
			c->got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->closed = true;
		return;
	}
}

/* Run the loop until deadline or until done() holds; false at deadline. */
static bool run_until(bool (*done)(void), uint64_t deadline)
{
	while (!done()) {
		if (loop_now_ms() >= deadline)
			return false;
		FUZZ_ASSERT(loop_run_once(loop, 100) >= 0);
	}
	return true;
}

static bool all_sent(void)
{
	return cl.closed || !cl.writing;
}

static bool closed(void)
{
	return cl.closed;
}

/*
 * Nothing more will happen without the client: no fd ready and no timer
 * due within a millisecond (loopback delivers inside send()).
 */
static bool idle(void)
{
	int r = loop_run_once(loop, 1);

	FUZZ_ASSERT(r >= 0);
	return r == 0 || cl.closed;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct health_params prm = {0};
	char err[256];
	socklen_t len = sizeof(addr);
	int fd;

	(void)argc;
	(void)argv;
	fuzz_begin();
	/* A private port space and TIME_WAIT table when allowed. */
	if (unshare(CLONE_NEWNET) == 0)
		FUZZ_ASSERT(policy_loopback_up() >= 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	FUZZ_ASSERT(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
	(void)close(fd);

	loop = loop_new();
	FUZZ_ASSERT(loop);
	prm.addr = (struct sockaddr *)&addr;
	prm.addrlen = sizeof(addr);
	prm.listen_name = "127.0.0.1 (fuzz)";
	prm.st = &status;
	prm.refresh = refresh_cb;
	server = health_new(loop, &prm, err, sizeof(err));
	if (!server)
		fprintf(stderr, "health_new: %s\n", err);
	FUZZ_ASSERT(server);
	fuzz_end();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct health_request req;
	enum health_parse v;
	uint64_t deadline;
	unsigned want;
	int r;

	fuzz_begin();
	input_hash = 2166136261u;
	for (size_t i = 0; i < size; i++)
		input_hash = (input_hash ^ data[i]) * 16777619u;
	v = check_parser(data, size, &req);
	want = expected_status(v, &req, size);

	memset(&cl, 0, sizeof(cl));
	cl.data = data;
	cl.size = size;
	cl.writing = true;
	cl.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_ASSERT(cl.fd >= 0);
	r = connect(cl.fd, (struct sockaddr *)&addr, sizeof(addr));
	FUZZ_ASSERT(r == 0 || errno == EINPROGRESS);
	FUZZ_ASSERT(
	    loop_fd_add(loop, cl.fd, EPOLLIN | EPOLLOUT, client_cb, &cl) == 0);

	/*
	 * Send everything, let the server do all it will with it, then
	 * half-close: a request the bytes left incomplete meets the end of
	 * its input (and an answered one the end of the server's drain).
	 */
	deadline = loop_now_ms() + CLOSE_DEADLINE_MS;
	FUZZ_ASSERT(run_until(all_sent, deadline));
	while (!idle())
		FUZZ_ASSERT(loop_now_ms() < deadline);
	(void)shutdown(cl.fd, SHUT_WR);
	FUZZ_ASSERT(run_until(closed, deadline));
	FUZZ_ASSERT(loop_fd_del(loop, cl.fd) == 0);
	(void)close(cl.fd);
	/* Let the server finish with its side before the next input. */
	while (loop_run_once(loop, 0) > 0)
		;

	check_answer(want,
		     v == HEALTH_PARSE_OK && req.method == HEALTH_METHOD_HEAD);
	fuzz_end();
	return 0;
}
