/* SPDX-License-Identifier: MIT */
#include "sync/lease.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/backend.h"
#include "sync/backoff.h"
#include "sync/clock.h"

/* The lease document is small; a larger object is not ours. */
#define DOC_MAX 4096

enum intent {
	PUT_TAKE,    /* make it ours */
	PUT_RENEW,   /* keep it ours */
	PUT_ASK,     /* ask its holder to hand it over */
	PUT_RELEASE, /* give it up */
	PUT_UNASK,   /* take back our request (we stop waiting) */
};

struct lease {
	struct loop *loop;
	struct backend *be;
	char *key;
	uint64_t ttl_ms;
	char *id;
	struct lease_cbs cbs;
	void *ctx;

	enum lease_state state;
	struct backend_op *op; /* at most one request at a time */
	int fd;		       /* its body (a memfd) */
	enum intent intent;
	uint64_t sent_ms; /* when the PUT in flight was sent */
	struct loop_timer *timer;
	unsigned fails;

	/* The document as last read or written. */
	char etag[STATE_ETAG_MAX];
	bool exists;
	char holder[128];
	char want[128];
	bool released;
	int64_t expires_ms; /* by the storage's clock */

	uint64_t write_until_ms; /* writes allowed before this (monotonic) */
	bool handover_told;
	bool releasing;
	void (*release_done)(void *ctx);
	void *release_ctx;
};

static void get_start(struct lease *l);

static int64_t now_ms(void)
{
	return sync_clock_now_ns() / 1000000;
}

static void set_state(struct lease *l, enum lease_state st)
{
	static const char *const names[] = {"idle", "waiting", "held",
					    "released", "lost"};

	if (l->state == st)
		return;
	if (st == LEASE_WAITING || st == LEASE_LOST)
		log_info("sync: lease %s -> %s (holder %s)", names[l->state],
			 names[st], l->holder);
	else
		log_info("sync: lease %s -> %s", names[l->state], names[st]);
	l->state = st;
	if (l->cbs.changed)
		l->cbs.changed(l->ctx, st);
}

/* A fresh, empty body for the next request. */
static int body_reset(struct lease *l)
{
	if (l->fd >= 0)
		(void)close(l->fd);
	l->fd = memfd_create("lease", MFD_CLOEXEC);
	return l->fd < 0 ? -errno : 0;
}

/* A storage failure: the owner counts and logs it, or we log it. */
static void report(struct lease *l, const struct backend_status *st,
		   const char *what)
{
	log_debug("sync: unable to %s the lease: %s", what, st->detail);
	if (l->cbs.error)
		l->cbs.error(l->ctx, st);
	else
		log_warn("sync: unable to %s the lease: %s", what, st->detail);
}

/* A request failed: read the lease again after a backoff. */
static void retry_later(struct lease *l)
{
	l->fails++;
	/* As the restore does: the tenant may be waiting on this. */
	loop_timer_arm(
	    l->timer,
	    backoff_delay_ms(l->fails, 500,
			     l->ttl_ms / 3 < 5000 ? l->ttl_ms / 3 : 5000, 0));
}

/* ---- the document ---- */

static void copy_str(json_t *o, const char *k, char *dst, size_t cap)
{
	const char *v = json_string_value(json_object_get(o, k));

	(void)snprintf(dst, cap, "%s", v ? v : "");
}

/* Parse the body just read; false when it is not a lease document. */
static bool doc_parse(struct lease *l)
{
	char buf[DOC_MAX + 1];
	ssize_t n = pread(l->fd, buf, DOC_MAX + 1, 0);
	json_error_t jerr;
	json_t *o;
	bool ok;

	if (n < 0 || n > DOC_MAX)
		return false;
	o = json_loadb(buf, (size_t)n, 0, &jerr);
	ok = json_is_object(o) &&
	     json_is_integer(json_object_get(o, "expires_at_ms"));
	if (ok) {
		copy_str(o, "holder", l->holder, sizeof(l->holder));
		copy_str(o, "want", l->want, sizeof(l->want));
		l->released =
		    strcmp(json_string_value(json_object_get(o, "state")) ?: "",
			   "released") == 0;
		l->expires_ms =
		    json_integer_value(json_object_get(o, "expires_at_ms"));
	}
	json_decref(o);
	return ok;
}

/* Write the document for intent into a fresh body; its size, or -errno. */
static ssize_t doc_write(struct lease *l, enum intent in)
{
	bool rel = in == PUT_RELEASE;
	bool theirs = in == PUT_ASK || in == PUT_UNASK;
	const char *holder = theirs ? l->holder : l->id;
	const char *want = in == PUT_ASK     ? l->id
			   : in == PUT_RENEW ? l->want
					     : "";
	int64_t exp = theirs ? l->expires_ms
		      : rel  ? 0
			     : now_ms() + (int64_t)l->ttl_ms;
	json_t *o = json_pack(
	    "{s:i,s:s,s:s,s:I,s:I,s:s}", "version", 1, "holder", holder,
	    "state", rel ? "released" : "held", "expires_at_ms",
	    (json_int_t)exp, "ttl_ms", (json_int_t)l->ttl_ms, "want", want);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n = text ? strlen(text) : 0;
	int r = text ? body_reset(l) : -ENOMEM;

	json_decref(o);
	if (r == 0 && write(l->fd, text, n) != (ssize_t)n)
		r = -EIO;
	free(text);
	return r < 0 ? r : (ssize_t)n;
}

/* ---- requests ---- */

static void put_done(void *ctx, const struct backend_status *st,
		     const struct backend_obj *obj);

static void put_start(struct lease *l, enum intent in)
{
	ssize_t n = doc_write(l, in);
	const char *cond = l->exists ? l->etag : "*";
	int r;

	l->intent = in;
	l->sent_ms = loop_now_ms();
	r = n < 0
		? (int)n
		: backend_put_if(l->be, l->key, l->fd, (uint64_t)n,
				 now_ms() * 1000000, cond, put_done, l, &l->op);
	if (r < 0) {
		log_warn_errno(r, "sync: unable to write the lease");
		retry_later(l);
	}
}

/*
 * What to do with the lease as just read (or found absent): the heart of
 * the protocol (lease.h).
 */
static void decide(struct lease *l)
{
	bool mine = l->exists && strcmp(l->holder, l->id) == 0;
	bool expired = l->exists && !l->released &&
		       now_ms() > l->expires_ms + LEASE_GRACE_MS;

	if (l->releasing) {
		if (mine && !l->released) {
			put_start(l, PUT_RELEASE);
			return;
		}
		if (l->exists && !l->released && strcmp(l->want, l->id) == 0 &&
		    l->intent != PUT_UNASK) {
			put_start(l, PUT_UNASK);
			return;
		}
		if (l->state == LEASE_HELD)
			set_state(l, LEASE_LOST);
		if (l->release_done)
			l->release_done(l->release_ctx);
		l->release_done = NULL;
		return;
	}
	if (mine && !l->released) {
		if (l->state != LEASE_HELD) {
			/* Ours from a write whose answer was lost. */
			put_start(l, PUT_TAKE);
			return;
		}
		if (l->want[0] && !l->handover_told) {
			l->handover_told = true;
			log_info("sync: instance %s asks for the lease",
				 l->want);
			if (l->cbs.handover)
				l->cbs.handover(l->ctx, l->want);
			else
				lease_release(l, NULL, NULL);
			if (l->releasing)
				return;
		}
		put_start(l, PUT_RENEW);
		return;
	}
	if (!l->exists || l->released || expired) {
		if (l->state == LEASE_HELD) {
			/* Ours expired and nobody took it: take it again. */
			put_start(l, PUT_TAKE);
			return;
		}
		if (expired)
			log_warn("sync: the lease of %s expired %lld ms ago: "
				 "taking it over",
				 l->holder,
				 (long long)(now_ms() - l->expires_ms));
		put_start(l, PUT_TAKE);
		return;
	}
	/* Another instance holds it. */
	if (l->state == LEASE_HELD) {
		log_err("sync: the lease was taken by %s: this instance no "
			"longer writes to storage",
			l->holder);
		set_state(l, LEASE_LOST);
		return;
	}
	if (l->state == LEASE_LOST)
		return;
	set_state(l, LEASE_WAITING);
	if (strcmp(l->want, l->id) != 0) {
		put_start(l, PUT_ASK);
		return;
	}
	loop_timer_arm(l->timer, l->ttl_ms / 3);
}

static void get_done(void *ctx, const struct backend_status *st,
		     const struct backend_obj *obj)
{
	struct lease *l = ctx;

	l->op = NULL;
	if (st->err == -ENOENT) {
		l->exists = false;
		l->holder[0] = l->want[0] = '\0';
		l->released = false;
	} else if (st->err) {
		report(l, st, "read");
		retry_later(l);
		return;
	} else if (!obj || !doc_parse(l)) {
		log_err("sync: %s is not a lease document; not touching it "
			"(delete it to let this instance start)",
			l->key);
		retry_later(l);
		return;
	} else {
		l->exists = true;
		(void)snprintf(l->etag, sizeof(l->etag), "%s", obj->etag);
	}
	l->fails = 0;
	decide(l);
}

static void get_start(struct lease *l)
{
	int r = body_reset(l);

	if (r == 0)
		r = backend_get(l->be, l->key, l->fd, get_done, l, &l->op);
	if (r < 0) {
		log_warn_errno(r, "sync: unable to read the lease");
		retry_later(l);
	}
}

static void put_done(void *ctx, const struct backend_status *st,
		     const struct backend_obj *obj)
{
	struct lease *l = ctx;

	l->op = NULL;
	if (st->err == -EEXIST || st->err == -ENOENT) {
		/* Changed meanwhile: read it and decide again. */
		l->fails = 0;
		get_start(l);
		return;
	}
	if (l->intent == PUT_UNASK) {
		/* Done either way: we no longer wait. */
		if (!st->err)
			l->want[0] = '\0';
		if (l->release_done)
			l->release_done(l->release_ctx);
		l->release_done = NULL;
		return;
	}
	if (st->err || !obj) {
		report(l, st, "write");
		if (l->intent == PUT_RENEW) {
			/* Writes stop by themselves at write_until_ms. */
			l->fails++;
			loop_timer_arm(l->timer, 1000);
		} else {
			retry_later(l);
		}
		return;
	}
	l->fails = 0;
	l->exists = true;
	(void)snprintf(l->etag, sizeof(l->etag), "%s", obj->etag);
	switch (l->intent) {
	case PUT_TAKE:
	case PUT_RENEW: {
		/* Writes had stopped (renewals failing): they may go on. */
		bool resumed = l->state == LEASE_HELD &&
			       loop_now_ms() >= l->write_until_ms;

		(void)snprintf(l->holder, sizeof(l->holder), "%s", l->id);
		if (l->intent == PUT_TAKE)
			l->want[0] = '\0';
		l->released = false;
		l->write_until_ms = l->sent_ms + l->ttl_ms * 3 / 4;
		set_state(l, LEASE_HELD);
		if (l->releasing) {
			/* Given up while this was in flight. */
			put_start(l, PUT_RELEASE);
			break;
		}
		if (resumed && l->cbs.changed)
			l->cbs.changed(l->ctx, LEASE_HELD);
		loop_timer_arm(l->timer, l->ttl_ms / 3);
		break;
	}
	case PUT_ASK:
		(void)snprintf(l->want, sizeof(l->want), "%s", l->id);
		if (l->releasing) {
			put_start(l, PUT_UNASK);
			break;
		}
		log_info("sync: waiting for the lease held by %s (expires in "
			 "%lld ms unless renewed); asked for it",
			 l->holder, (long long)(l->expires_ms - now_ms()));
		loop_timer_arm(l->timer, l->ttl_ms / 3);
		break;
	case PUT_UNASK: /* handled above */
	case PUT_RELEASE:
	default:
		l->released = true;
		set_state(l, LEASE_RELEASED);
		if (l->release_done)
			l->release_done(l->release_ctx);
		l->release_done = NULL;
		break;
	}
}

static void timer_cb(void *ctx)
{
	struct lease *l = ctx;

	if (l->op)
		return;
	if (l->state == LEASE_HELD && !l->releasing && l->fails == 0)
		put_start(l, PUT_RENEW);
	else if (l->state != LEASE_RELEASED && l->state != LEASE_LOST)
		get_start(l);
}

/* ---- public ---- */

struct lease *lease_new(struct loop *loop, struct backend *be, const char *key,
			uint64_t ttl_ms, const char *id,
			const struct lease_cbs *cbs, void *ctx)
{
	struct lease *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->loop = loop;
	l->be = be;
	l->ttl_ms = ttl_ms < 300 ? 300 : ttl_ms; /* config: 3 s at least */
	l->fd = -1;
	if (cbs)
		l->cbs = *cbs;
	l->ctx = ctx;
	l->key = strdup(key);
	l->id = strdup(id);
	l->timer = loop_timer_new(loop, timer_cb, l);
	if (!l->key || !l->id || !l->timer) {
		lease_free(l);
		errno = ENOMEM;
		return NULL;
	}
	return l;
}

void lease_free(struct lease *l)
{
	if (!l)
		return;
	if (l->op)
		backend_cancel(l->be, l->op);
	if (l->fd >= 0)
		(void)close(l->fd);
	loop_timer_free(l->timer);
	free(l->key);
	free(l->id);
	free(l);
}

void lease_acquire(struct lease *l)
{
	if (l->state != LEASE_IDLE || l->op)
		return;
	get_start(l);
}

void lease_release(struct lease *l, void (*done)(void *ctx), void *ctx)
{
	l->releasing = true;
	l->release_done = done;
	l->release_ctx = ctx;
	if (l->op)
		return; /* its answer leads to decide(), which releases */
	loop_timer_disarm(l->timer);
	if (l->state == LEASE_HELD) {
		put_start(l, PUT_RELEASE);
		return;
	}
	if (l->state == LEASE_WAITING && l->exists &&
	    strcmp(l->want, l->id) == 0) {
		put_start(l, PUT_UNASK);
		return;
	}
	/* Lost, or never asked for: nothing of ours to give up. */
	if (done)
		done(ctx);
	l->release_done = NULL;
}

enum lease_state lease_state(const struct lease *l)
{
	return l->state;
}

bool lease_may_write(const struct lease *l)
{
	return l->state == LEASE_HELD && !l->releasing &&
	       loop_now_ms() < l->write_until_ms;
}

char *lease_instance_id_new(void)
{
	char host[HOST_NAME_MAX + 1] = "";
	char *id = NULL;
	uint32_t rnd = 0;

	(void)gethostname(host, sizeof(host) - 1);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	if (asprintf(&id, "%s-%08x", host[0] ? host : "host", rnd) < 0)
		return NULL;
	return id;
}

const char *lease_holder(const struct lease *l)
{
	return l->holder;
}
