/* SPDX-License-Identifier: MIT */
/*
 * The gateway probe: is the gateway live, and is it ready?
 *
 * Every PROBE_INTERVAL_MS while a gateway process runs, PID 1 asks
 * http://127.0.0.1:PORT/readyz and /healthz at once, each bounded by
 * PROBE_TIMEOUT_MS, through libcurl's multi interface folded into PID 1's
 * epoll loop (nothing blocks, no thread: the numeric loopback address never
 * reaches a resolver). One round gives one verdict:
 *
 *   live   /healthz answered with a status below 500 (/readyz answering
 *          stands in when /healthz is not served: 404, 405 or 501);
 *   ready  /readyz answered 200 and its JSON does not say "ready": false.
 *
 * A command that serves neither endpoint (both 404/405/501), or that does
 * not speak HTTP at all (garbage, HTTP/0.9, or a close without a reply
 * before it ever answered HTTP), is probed with a plain TCP connect from
 * then on, for the rest of that process's life: connected = live = ready.
 * A TCP-only command therefore cannot be found wedged (the kernel accepts
 * connections for a stuck process), which is the best a port can tell.
 *
 * Liveness failures count only once the process has answered once, or
 * after the startup grace: OpenClaw takes 6-7 s to listen and 14-20 s to be
 * ready on 2 cores, and a slow start is not a wedge. PROBE_WEDGED_FAILURES
 * failed rounds in a row then mean a wedged event loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROBE_INTERVAL_MS      2000u
#define PROBE_FIRST_MS	       1000u /* first round after a start */
#define PROBE_TIMEOUT_MS       1000u
#define PROBE_WEDGED_FAILURES  6u
#define PROBE_STARTUP_GRACE_MS 60000u /* gateway mode; never in tini mode */

struct loop;
struct probe;

enum probe_verdict {
	PROBE_UNKNOWN, /* no round finished yet */
	PROBE_READY,   /* live and ready */
	PROBE_UNREADY, /* live, not ready (or still starting) */
	PROBE_DOWN,    /* liveness failing, fewer than the wedge count */
	PROBE_WEDGED,  /* liveness failed PROBE_WEDGED_FAILURES times */
};

enum probe_mode {
	PROBE_MODE_HTTP,
	PROBE_MODE_TCP,
};

/* What one request brought back. */
struct probe_answer {
	bool answered;	  /* an HTTP status line arrived in time */
	bool not_http;	  /* connected, but the peer does not speak HTTP */
	long status;	  /* HTTP status when answered */
	const char *body; /* NUL-terminated, may be NULL */
};

/* The per-process judgement; plain data so tests can drive it. */
struct probe_eval {
	enum probe_mode mode;
	bool seen_live;
	unsigned failures; /* failed rounds in a row */
	uint64_t started_ms;
	uint64_t grace_ms; /* UINT64_MAX: count only after the first answer */
};

struct probe_params {
	uint16_t port;
	uint64_t startup_grace_ms; /* UINT64_MAX: none */
	/* A new verdict (called only when it changes, from the loop). */
	void (*verdict)(void *ctx, enum probe_verdict v);
	void *ctx;
};

/*
 * Create the probe (idle until probe_start). params is copied. Returns NULL
 * and sets errno on failure.
 */
struct probe *probe_new(struct loop *loop, const struct probe_params *params);

/* Cancel everything and free (NULL is accepted). */
void probe_free(struct probe *p);

/*
 * Probe the gateway process pid. A new pid starts a fresh judgement (mode,
 * grace, failure count); the same pid again is a no-op.
 */
void probe_start(struct probe *p, pid_t pid);

/* Stop probing; requests in flight are abandoned. */
void probe_stop(struct probe *p);

/*
 * True when port is the local port of one of the probe's connections, open
 * now or closed within the last PROBE_PORT_MEMORY_MS (a TIME_WAIT lasts
 * 60 s). The idle detector uses it to ignore tenant-init's own traffic.
 */
#define PROBE_PORT_MEMORY_MS 120000u
bool probe_owns_port(const struct probe *p, uint16_t port);

/*
 * Judge one round. readyz is NULL in TCP mode (healthz then holds the
 * connect result, answered = connected). Updates e (mode, failures) and
 * returns the verdict.
 */
enum probe_verdict probe_eval_round(struct probe_eval *e,
				    const struct probe_answer *readyz,
				    const struct probe_answer *healthz,
				    uint64_t now_ms);

/*
 * Does a /readyz body mean ready? A JSON object whose "ready" member is a
 * boolean decides; any other body (not JSON, no such member) does not
 * contradict the status code and returns true.
 */
bool probe_body_says_ready(const char *body);

/*
 * Blocking GET of url for the `health` subcommand (never used in PID 1).
 * On success returns 0 with *status and up to cap-1 bytes of the body in
 * body (NUL-terminated); on a transport failure returns -EIO with the
 * reason in err.
 */
int probe_fetch(const char *url, uint64_t timeout_ms, long *status, char *body,
		size_t cap, char *err, size_t errlen);

/* Name of a verdict, for logs. */
const char *probe_verdict_name(enum probe_verdict v);
