/* SPDX-License-Identifier: MIT */
/*
 * The health server: GET /healthz, /readyz and /metrics for the
 * orchestrator (DESIGN.md "Endpoints"), a bounded GET-only HTTP/1.x
 * responder of our own on PID 1's loop (DESIGN.md allows exactly this one
 * hand-written HTTP piece; no small maintained library fits on Debian 12,
 * and libmicrohttpd would bring GnuTLS into PID 1).
 *
 * It is the one network parser in PID 1, and inside the container the
 * attacker (the sandboxed gateway's tools) and the legitimate probe (a
 * Docker HEALTHCHECK) both come from loopback, so per-address limits alone
 * cannot protect the probe. What does:
 *
 *   - one request per connection, answered with Content-Length and
 *     "Connection: close", then a lingering close (FIN, drain what the
 *     peer still sends, bounded) so the answer is not lost to a reset;
 *   - absolute deadlines counted from accept, never reset by a byte: the
 *     request head within HEALTH_REQUEST_TIMEOUT_MS, the whole connection
 *     (writing to a slow reader included) within HEALTH_CONN_TIMEOUT_MS;
 *   - admission with eviction: at most HEALTH_CONN_LIMIT connections and
 *     HEALTH_PER_IP_LIMIT per source address; a newcomer that finds a
 *     quota full closes the oldest connection (of that address, for the
 *     per-address quota) that has not delivered a complete request, or
 *     that is only draining after its answer; failing those, the oldest
 *     one whose peer does not read its answer (a few KiB that leave in
 *     one send to any peer that reads). A probe sends its request within
 *     milliseconds of connecting, so it is never the oldest: a fresh
 *     probe is served while slowloris peers hold every slot;
 *   - bounded memory: a HEALTH_REQ_MAX buffer per connection (a longer
 *     head is 431, a longer request line 414), nothing else grows with
 *     input.
 *
 * Nothing here exits: client errors are logged at debug, server errors
 * (accept failing, out of memory) at warn, and the server goes on.
 *
 * The bodies are rendered from struct tenant_status on each request.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct loop;
struct tenant_status;
struct health;

/* Limits (documented in docs/HACKING.md). */
#define HEALTH_CONN_LIMIT	  256
#define HEALTH_PER_IP_LIMIT	  8
#define HEALTH_REQ_MAX		  (16 * 1024) /* request head, per connection */
#define HEALTH_REQUEST_TIMEOUT_MS 3000	      /* accept -> whole request head */
#define HEALTH_CONN_TIMEOUT_MS	  5000	      /* accept -> closed, in all */
#define HEALTH_LINGER_MAX	  (2 * 1024 * 1024) /* drained after the answer */
#define HEALTH_ACCEPT_BATCH	  64  /* accepts per listener wakeup */
#define HEALTH_ACCEPT_PAUSE_MS	  100 /* listener rest after EMFILE/ENFILE */
#define HEALTH_LISTEN_BACKLOG	  1024

struct health_params {
	const struct sockaddr *addr; /* where to listen */
	socklen_t addrlen;
	const char *listen_name;	/* "host:port", for messages */
	const struct tenant_status *st; /* read on every request */
	/* Called before a body is rendered, to bring st up to date. May be
	 * NULL. */
	void (*refresh)(void *ctx);
	void *ctx;
};

/*
 * Bind, listen and serve on loop. params' pointers must outlive the server.
 * Returns NULL with errno set and a message naming TENANT_HEALTH_LISTEN in
 * err (the caller exits 70).
 */
struct health *health_new(struct loop *loop, const struct health_params *params,
			  char *err, size_t errlen);

/* Close every connection and the listener; free (NULL is accepted). */
void health_free(struct health *h);

/* ---- the request parser (pure; the unit test and fuzz target drive it) ----
 */

/* What health_request_parse() made of a buffer. */
enum health_parse {
	HEALTH_PARSE_INCOMPLETE,   /* valid so far; the head has not ended */
	HEALTH_PARSE_OK,	   /* a whole, well-formed request head */
	HEALTH_PARSE_BAD,	   /* malformed: 400 */
	HEALTH_PARSE_URI_TOO_LONG, /* no request line within the cap: 414 */
	HEALTH_PARSE_TOO_LARGE,	   /* no end of head within the cap: 431 */
	HEALTH_PARSE_BAD_VERSION,  /* well-formed HTTP/x.y, not 1.0/1.1: 505 */
};

enum health_method {
	HEALTH_METHOD_GET,
	HEALTH_METHOD_HEAD,
	HEALTH_METHOD_OTHER, /* any other token: 405 */
};

enum health_endpoint {
	HEALTH_ENDPOINT_NONE, /* any other path: 404 */
	HEALTH_ENDPOINT_HEALTHZ,
	HEALTH_ENDPOINT_READYZ,
	HEALTH_ENDPOINT_METRICS,
};

/* A parsed request head (filled on HEALTH_PARSE_OK only). */
struct health_request {
	enum health_method method;
	enum health_endpoint
	    endpoint;	 /* NONE for methods other than GET/HEAD */
	unsigned minor;	 /* HTTP/1.minor: 0 or 1 */
	size_t head_len; /* bytes up to and including the empty line */
};

/*
 * Parse the request head at the start of buf[0..len). Pure: no allocation,
 * no state, buf need not be NUL-terminated, and bytes past the head
 * (a body, pipelined requests) are never looked at.
 *
 * Accepted: optional empty lines, then "METHOD SP TARGET SP HTTP/1.x"
 * and header lines, each ended by CRLF or a bare LF, then an empty line.
 * METHOD is a token, compared case-sensitively (only GET and HEAD are
 * served). TARGET is visible ASCII without '#'; for GET and HEAD it is
 * origin-form ("/path?query") or absolute-form ("http://host/path",
 * "https://..."; the scheme and authority are skipped, as RFC 9112 3.2.2
 * asks of a server). The query is ignored and the path compared exactly
 * (no percent-decoding): "/healthz", "/readyz", "/metrics". Header lines
 * are "token:value" with no blank before the colon, and values without
 * control characters other than HTAB; an obs-fold continuation line is
 * refused (RFC 9112 5.2). HTTP/1.1 needs exactly one Host header and
 * HTTP/1.0 at most one (RFC 9112 3.2). A Content-Length must be one
 * decimal number, given once (RFC 9112 6.3); otherwise neither it nor
 * Transfer-Encoding means anything here: the server never reads a body.
 *
 * Only the first HEALTH_REQ_MAX bytes count. The verdict is positional:
 * the first offending byte decides, so once a prefix of the input gets a
 * result other than INCOMPLETE, every longer input (within the cap) gets
 * the same one. The server relies on that to parse each buffer only when
 * a line ends, and the fuzz target checks it.
 *
 * Returns the verdict; *out is written on HEALTH_PARSE_OK.
 */
enum health_parse health_request_parse(const char *buf, size_t len,
				       struct health_request *out);

/* ---- bodies (pure) ---- */

/*
 * The /readyz body, exactly {"ready":bool,"reasons":[...],"warnings":[...]}
 * (malloc'd, NUL-terminated; NULL with errno on failure). *ready tells the
 * status: 200 when true, else 503.
 */
char *health_readyz_render(const struct tenant_status *st, bool *ready);

/* The /healthz body (malloc'd); *live: 200 when true, else 503. */
char *health_healthz_render(const struct tenant_status *st, bool *live);

/* The /metrics body in Prometheus text format 0.0.4 (malloc'd). */
char *health_metrics_render(const struct tenant_status *st);

/*
 * tenant-init health [--live] [--url URL]: GET URL/readyz (/healthz with
 * --live), exit 0 when it answers 200, else 1, with a one-line reason on
 * stdout; 78 on a usage error. URL defaults to TENANT_HEALTH_LISTEN with a
 * wildcard address replaced by loopback.
 */
int health_cmd(int argc, char **argv);
