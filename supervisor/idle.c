/* SPDX-License-Identifier: MIT */
#include "supervisor/idle.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "init/config.h"
#include "init/log.h"
#include "init/loop.h"
#include "supervisor/sockdiag.h"
#include "supervisor/status.h"

/*
 * Every state a server-side connection passes through, LISTEN excluded:
 * TIME_WAIT too, so a connection that opened and closed between two
 * listings is still seen (when the gateway closed first).
 */
#define IDLE_STATES                                                            \
	(SOCKDIAG_STATE(TCP_ESTABLISHED) | SOCKDIAG_STATE(TCP_SYN_RECV) |      \
	 SOCKDIAG_STATE(TCP_FIN_WAIT1) | SOCKDIAG_STATE(TCP_FIN_WAIT2) |       \
	 SOCKDIAG_STATE(TCP_TIME_WAIT) | SOCKDIAG_STATE(TCP_CLOSE_WAIT) |      \
	 SOCKDIAG_STATE(TCP_LAST_ACK) | SOCKDIAG_STATE(TCP_CLOSING))

struct idle {
	struct loop *loop;
	struct idle_params prm;
	struct sockdiag *sd;
	struct loop_timer *timer;
	struct idle_table table;
	uint64_t tick_ms;
	uint64_t last_activity_ms;
	bool started;
	bool activity; /* seen by the listing under way */
	bool warned;   /* measuring failed; said so once */
};

/* ---- the connection table (pure) ---- */

/* Open states in which a close or a reset can only come from the client. */
static bool client_may_end(uint8_t state)
{
	return state == TCP_ESTABLISHED || state == TCP_SYN_RECV;
}

/* States a connection reaches when the client closed it first. */
static bool client_ended(uint8_t state)
{
	return state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK ||
	       state == TCP_CLOSING;
}

void idle_table_begin(struct idle_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->conns[i].seen = false;
}

bool idle_table_feed(struct idle_table *t, const struct sockdiag_sock *s)
{
	struct idle_conn *c = NULL;
	bool moved;

	for (size_t i = 0; i < t->n; i++) {
		if (t->conns[i].cookie == s->cookie) {
			c = &t->conns[i];
			break;
		}
	}
	if (!c) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct idle_conn *nc =
			    realloc(t->conns, cap * sizeof(*nc));
			if (!nc)
				return false;
			t->conns = nc;
			t->cap = cap;
		}
		c = &t->conns[t->n++];
		*c = (struct idle_conn){
		    .cookie = s->cookie,
		    .state = s->state,
		    .bytes_received = s->bytes_received,
		    .bytes_acked = s->bytes_acked,
		    .seen = true,
		};
		return t->primed;
	}
	c->seen = true;
	/* The client closing its connection is activity; our side is not. */
	moved = client_may_end(c->state) && client_ended(s->state);
	c->state = s->state;
	/* A TIME_WAIT entry has no counters: its last ones stay. */
	if (s->has_counters) {
		moved = moved || s->bytes_received != c->bytes_received ||
			s->bytes_acked != c->bytes_acked;
		c->bytes_received = s->bytes_received;
		c->bytes_acked = s->bytes_acked;
	}
	return moved && t->primed;
}

bool idle_table_end(struct idle_table *t)
{
	size_t keep = 0;
	bool ended = false;

	for (size_t i = 0; i < t->n; i++) {
		if (t->conns[i].seen)
			t->conns[keep++] = t->conns[i];
		/*
		 * An open connection that is gone was closed or reset by
		 * the client: its last request may have come and gone since
		 * the previous listing. A TIME_WAIT or FIN_WAIT entry timing
		 * out is not.
		 */
		else if (client_may_end(t->conns[i].state))
			ended = true;
	}
	t->n = keep;
	ended = ended && t->primed;
	t->primed = true;
	return ended;
}

void idle_table_fini(struct idle_table *t)
{
	free(t->conns);
	memset(t, 0, sizeof(*t));
}

/* ---- the detector ---- */

static void listing_cb(void *ctx, const struct sockdiag_sock *s)
{
	struct idle *d = ctx;

	if (d->prm.is_own && d->prm.is_own(d->prm.ctx, s))
		return;
	if (idle_table_feed(&d->table, s)) {
		log_debug("activity on port %u from port %u", s->local_port,
			  s->remote_port);
		d->activity = true;
	}
}

/*
 * One listing. Returns false when activity could not be measured: the
 * tenant then stays awake (sleeping on a blind guess could cut off a user).
 */
static bool measure(struct idle *d)
{
	int r;

	if (!d->sd) {
		d->sd = sockdiag_new();
		if (!d->sd) {
			r = -errno;
			goto fail;
		}
	}
	d->activity = false;
	idle_table_begin(&d->table);
	r = sockdiag_query_port(d->sd, d->prm.port, IDLE_STATES, listing_cb, d);
	if (r < 0) {
		/* Reopen next time: the socket may be in a bad state. */
		sockdiag_free(d->sd);
		d->sd = NULL;
		goto fail;
	}
	if (idle_table_end(&d->table)) {
		log_debug("activity: a client closed its connection");
		d->activity = true;
	}
	if (d->warned) {
		log_info("idle: measuring activity works again");
		d->warned = false;
	}
	return true;
fail:
	if (!d->warned)
		log_warn_errno(r,
			       "idle: unable to measure activity on port "
			       "%u; not sleeping while this fails",
			       d->prm.port);
	d->warned = true;
	return false;
}

static void tick_cb(void *ctx)
{
	struct idle *d = ctx;
	uint64_t now, idle, next;
	char buf[32];

	if (!measure(d) || d->activity)
		d->last_activity_ms = loop_now_ms();
	now = loop_now_ms();
	idle = now - d->last_activity_ms;
	if (d->prm.limit_ms != DURATION_NEVER && idle >= d->prm.limit_ms) {
		/* Whole seconds read best: "sleeping after 1h idle". */
		config_duration_format(idle >= 1000 ? idle - idle % 1000 : idle,
				       buf, sizeof(buf));
		log_info("sleeping after %s idle", buf);
		d->prm.expired(d->prm.ctx, idle);
		return;
	}
	next = d->tick_ms;
	/* Look once more exactly at the deadline. */
	if (d->prm.limit_ms != DURATION_NEVER && d->prm.limit_ms - idle < next)
		next = d->prm.limit_ms - idle;
	loop_timer_arm(d->timer, next);
}

struct idle *idle_new(struct loop *loop, const struct idle_params *params)
{
	struct idle *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->loop = loop;
	d->prm = *params;
	d->tick_ms = IDLE_TICK_MAX_MS;
	if (params->limit_ms != DURATION_NEVER) {
		d->tick_ms = params->limit_ms / 20;
		if (d->tick_ms < IDLE_TICK_MIN_MS)
			d->tick_ms = IDLE_TICK_MIN_MS;
		if (d->tick_ms > IDLE_TICK_MAX_MS)
			d->tick_ms = IDLE_TICK_MAX_MS;
	}
	d->timer = loop_timer_new(loop, tick_cb, d);
	if (!d->timer) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void idle_free(struct idle *d)
{
	if (!d)
		return;
	loop_timer_free(d->timer);
	sockdiag_free(d->sd);
	idle_table_fini(&d->table);
	free(d);
}

void idle_start(struct idle *d)
{
	if (d->started)
		return;
	d->started = true;
	d->last_activity_ms = loop_now_ms();
	if (d->prm.limit_ms == DURATION_NEVER)
		log_info("idle: SANDBOX_SLEEP_AFTER=never; the tenant does "
			 "not sleep");
	/* The first listing only primes the table: take it now. */
	loop_timer_arm(d->timer, 0);
}

void idle_stop(struct idle *d)
{
	if (d)
		loop_timer_disarm(d->timer);
}

void idle_status_update(const struct idle *d, struct tenant_status *st)
{
	uint64_t idle = 0;

	if (d->started)
		idle = loop_now_ms() - d->last_activity_ms;
	st->idle_seconds = (double)idle / 1000.0;
	if (d->prm.limit_ms == DURATION_NEVER)
		st->sleep_in_seconds = -1;
	else if (idle >= d->prm.limit_ms)
		st->sleep_in_seconds = 0;
	else
		st->sleep_in_seconds =
		    (double)(d->prm.limit_ms - idle) / 1000.0;
}
