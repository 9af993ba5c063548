/* SPDX-License-Identifier: MIT */
/*
 * The health server: GET /healthz, /readyz and /metrics for the
 * orchestrator (DESIGN.md "Endpoints"), served by libmicrohttpd in its
 * external-epoll mode from PID 1's loop (no MHD thread).
 *
 * It is the one network parser in PID 1, so every client is bounded: a
 * global connection limit, a per-IP limit, a small memory pool per
 * connection (a 1 MiB header is refused with 431 once the pool is full) and
 * an inactivity timeout. A fresh client keeps being served while one peer
 * floods, sends huge headers or trickles bytes (slowloris): those peers run
 * into their own per-IP limit, not into the orchestrator's.
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
#define HEALTH_CONN_LIMIT     256
#define HEALTH_PER_IP_LIMIT   8
#define HEALTH_CONN_MEMORY    (16 * 1024)
#define HEALTH_CONN_TIMEOUT_S 5
#define HEALTH_LISTEN_BACKLOG 1024

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
