/* SPDX-License-Identifier: MIT */
/*
 * Sleep after idle (SANDBOX_SLEEP_AFTER): measure client activity on the
 * gateway port and tell the owner when there was none for long enough.
 *
 * Activity is measured, not guessed: on its own timer the detector lists
 * the TCP sockets whose local port is the gateway's (sock_diag, see
 * sockdiag.h) and compares them with the previous listing, keyed by the
 * kernel's socket cookie:
 *   - a socket not seen before (a new connection, or one that came and went
 *     between two listings and now sits in TIME_WAIT) is activity;
 *   - bytes moving on a known one (tcpi_bytes_received or tcpi_bytes_acked
 *     changed) is activity;
 *   - the client closing or resetting an open connection is activity (its
 *     last request may have come and gone between two listings); the
 *     gateway closing one, or a TIME_WAIT running out, is not;
 *   - an open but silent connection is not;
 *   - tenant-init's own probe connections (loopback peer on a port the
 *     probe owns) never count.
 * The clock starts when the gateway is first ready (idle_start). A listing
 * runs every limit/20, clamped to [250 ms, 1 s], and once more at the
 * deadline; activity is dated to the listing that saw it. A connection
 * that opens and closes (client first) between two listings, in under a
 * second, is the one thing not seen.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct idle;
struct sockdiag_sock;
struct tenant_status;

#define IDLE_TICK_MIN_MS 250u
#define IDLE_TICK_MAX_MS 1000u

struct idle_params {
	uint16_t port;	   /* the gateway port */
	uint64_t limit_ms; /* UINT64_MAX (DURATION_NEVER): never sleeps */
	/* True for sockets of tenant-init's own probe. May be NULL. */
	bool (*is_own)(void *ctx, const struct sockdiag_sock *s);
	/* Idle past the limit: called once, with the idle time. */
	void (*expired)(void *ctx, uint64_t idle_ms);
	void *ctx;
};

/* Known connections: plain data, so tests can drive it. */
struct idle_conn {
	uint64_t cookie;
	uint8_t state; /* as last listed */
	uint64_t bytes_received;
	uint64_t bytes_acked;
	bool seen; /* in the current listing */
};

struct idle_table {
	struct idle_conn *conns;
	size_t n, cap;
	bool primed; /* a first listing was taken */
};

/* Mark every connection unseen before a listing. */
void idle_table_begin(struct idle_table *t);

/*
 * Offer one socket of the listing. Returns true when it shows activity (new,
 * or its counters moved). The first listing only primes the table. Returns
 * false on allocation failure too (the socket is then judged next time).
 */
bool idle_table_feed(struct idle_table *t, const struct sockdiag_sock *s);

/*
 * Forget connections the listing no longer showed. Returns true when one of
 * them was open (closed or reset by the client since: activity).
 */
bool idle_table_end(struct idle_table *t);

/* Free the table's memory. */
void idle_table_fini(struct idle_table *t);

/* Create the detector (stopped). Returns NULL and sets errno on failure. */
struct idle *idle_new(struct loop *loop, const struct idle_params *params);

/* Stop and free (NULL is accepted). */
void idle_free(struct idle *d);

/* Start the clock now (idempotent: later calls change nothing). */
void idle_start(struct idle *d);

/* Stop listing (shutdown). */
void idle_stop(struct idle *d);

/*
 * Put the idle time and the time left before sleeping, as of now, into
 * st->idle_seconds and st->sleep_in_seconds (-1: never).
 */
void idle_status_update(const struct idle *d, struct tenant_status *st);
