/* SPDX-License-Identifier: MIT */
/*
 * One writer per tenant prefix: a lease object in storage.
 *
 * Rolling deploys, container replacements and machines restarted
 * elsewhere run two instances of one tenant for a while; both restore,
 * then both upload and delete, and the older one overwrites what the
 * newer one wrote or deletes what it created. Only the lease holder
 * writes. The lease is PREFIX.tenant-init/lease.json (outside every sync
 * root, so listings of the live tree do not show it), a small JSON
 * document written with conditional writes only: If-None-Match: * to
 * create it, If-Match: ETAG to renew it, to take it over, to ask for it
 * and to release it. Whoever loses a race learns it from a 412.
 *
 *   boot       GET it. Absent, released, or expired (its expires_at,
 *              by the storage's clock as sync/clock.c learns it, passed
 *              more than LEASE_GRACE_MS ago): take it. Held by a live
 *              instance: write our id into its "want" (a request to hand
 *              it over) and poll every ttl/3 until it is released or
 *              expires. The restore waits for the lease.
 *   holding    renew every ttl/3 with expires_at = now + ttl. Writes are
 *              allowed only until ttl*3/4 after the last renewal that
 *              succeeded was sent, so an instance cut off from storage
 *              stops writing well before anybody may take over. A renewal
 *              that finds the lease changed reads it: our own with a
 *              "want" is a handover request (the engine flushes, then
 *              releases); anybody else's means it was taken: lost.
 *   stop       after the final flush, release it (state "released"), so
 *              the next instance starts at once. A killed holder is taken
 *              over once its lease has expired.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct backend;
struct backend_status;
struct lease;

/* Past expires_at this long before a waiter takes the lease over. */
#define LEASE_GRACE_MS 2000

enum lease_state {
	LEASE_IDLE,	/* not asked for yet */
	LEASE_WAITING,	/* another instance holds it */
	LEASE_HELD,	/* ours (writes allowed while lease_may_write()) */
	LEASE_RELEASED, /* given up: after the stop, or handed over */
	LEASE_LOST,	/* taken by another instance */
};

struct lease_cbs {
	/* The state changed (see lease_state()). */
	void (*changed)(void *ctx, enum lease_state st);
	/*
	 * Another instance asked for the lease: flush, then call
	 * lease_release(). May be NULL (then it is released at once).
	 */
	void (*handover)(void *ctx, const char *requester);
	/* A request failed (and is retried): counted and logged there. */
	void (*error)(void *ctx, const struct backend_status *st);
};

/*
 * A lease on key in be, held ttl_ms at a time, as instance id (a unique
 * string: host and a random part). Returns NULL and sets errno.
 */
struct lease *lease_new(struct loop *loop, struct backend *be, const char *key,
			uint64_t ttl_ms, const char *id,
			const struct lease_cbs *cbs, void *ctx);

/* Cancel what is in flight (no release), free. NULL is accepted. */
void lease_free(struct lease *l);

/* Start taking it: cbs.changed follows (WAITING, HELD). */
void lease_acquire(struct lease *l);

/* Give it up (a held or waiting lease); done(ctx) once that is written,
 * or failed for good (the lease then expires by itself). */
void lease_release(struct lease *l, void (*done)(void *ctx), void *ctx);

enum lease_state lease_state(const struct lease *l);

/* May this instance write to storage now (held, renewal in time)? */
bool lease_may_write(const struct lease *l);

/*
 * A new instance name: the host name and 32 random bits (malloc'd; NULL
 * with errno on failure).
 */
char *lease_instance_id_new(void);

/* Who holds it, when known (for messages; "" otherwise). */
const char *lease_holder(const struct lease *l);
