/* SPDX-License-Identifier: MIT */
#include "sync/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "policy/policy.h"
#include "sync/backend.h"
#include "sync/bootfiles.h"
#include "sync/clock.h"
#include "sync/creds.h"
#include "sync/glob.h"
#include "sync/lease.h"
#include "sync/pathsafe.h"
#include "sync/restore.h"
#include "sync/state.h"
#include "sync/strmap.h"
#include "sync/upload.h"
#include "sync/watch.h"

/* Storage failing this long makes /readyz warn "sync-degraded". */
#define DEGRADED_AFTER_MS 10000
/* Counters are pushed to PID 1 at most this often. */
#define STATS_COALESCE_MS 200
/* Overflows in a burst cause one rescan. */
#define RESCAN_COALESCE_MS 100
/* Removals keep being gathered at most this many debounces. */
#define GONE_BOUND 5
/* The lease object, below the storage prefix (outside every root). */
#define LEASE_KEY ".tenant-init/lease.json"
/* A handover flushes at most this long; the final release this long. */
#define LEASE_HANDOVER_MS 20000
#define LEASE_RELEASE_MS  3000

/* ---- keys ---- */

char *engine_key(const struct sync_root *r, const char *rel)
{
	char *k = NULL;

	if (asprintf(&k, "%s%s", r->key_prefix, rel) < 0)
		return NULL;
	return k;
}

/* ---- counters ---- */

static void stats_timer_cb(void *ctx)
{
	struct engine *e = ctx;

	if (e->up) {
		e->stats.queue_depth = uploader_depth(e->up);
		e->stats.lag_seconds = uploader_lag(e->up);
	}
	if (e->cbs.stats)
		e->cbs.stats(e->ctx, &e->stats, e->restore_seconds);
}

void engine_stats_changed(struct engine *e)
{
	if (!loop_timer_is_armed(e->stats_timer))
		loop_timer_arm(e->stats_timer, STATS_COALESCE_MS);
}

static void degraded_cb(void *ctx)
{
	struct engine *e = ctx;

	if (!e->fail_since_ms || e->stats.degraded)
		return;
	e->stats.degraded = true;
	log_warn("sync: storage has been failing for %d s; changes wait "
		 "on disk and are retried",
		 DEGRADED_AFTER_MS / 1000);
	engine_stats_changed(e);
}

void engine_note_error(struct engine *e, const struct backend_status *st)
{
	uint64_t now = loop_now_ms();

	e->stats.errors_total++;
	if (!e->fail_since_ms) {
		e->fail_since_ms = now;
		loop_timer_arm(e->degraded_timer, DEGRADED_AFTER_MS);
	}
	if (st->throttled) {
		uint64_t until = now + st->retry_after_ms;
		if (until > e->throttle_until_ms)
			e->throttle_until_ms = until;
	}
	engine_stats_changed(e);
}

void engine_note_success(struct engine *e)
{
	e->stats.last_success_timestamp =
	    (double)sync_clock_now_ns() / 1e9 - (double)sync_clock_skew();
	if (e->fail_since_ms) {
		e->fail_since_ms = 0;
		loop_timer_disarm(e->degraded_timer);
		if (e->stats.degraded)
			log_info("sync: storage reachable again");
		e->stats.degraded = false;
	}
	engine_stats_changed(e);
}

void engine_lease_off(struct engine *e)
{
	lease_free(e->lease);
	e->lease = NULL;
}

bool engine_may_write(const struct engine *e)
{
	return !e->lease || lease_may_write(e->lease);
}

uint64_t engine_throttle_left(const struct engine *e)
{
	uint64_t now = loop_now_ms();

	return e->throttle_until_ms > now ? e->throttle_until_ms - now : 0;
}

/* ---- scanning ---- */

/* Is rel, or a directory above it, in r's unwatched set? */
static bool unwatched_covers(const struct sync_root *r, const char *rel)
{
	_cleanup_free_ char *p = strdup(rel);
	char *slash;

	if (!p || !r->unwatched)
		return false;
	for (;;) {
		if (strmap_has(r->unwatched, p))
			return true;
		slash = strrchr(p, '/');
		if (!slash)
			return false;
		*slash = '\0';
	}
}

/*
 * rel in r could not be watched (the cap): rescan it on a timer instead.
 * Its subdirectories are rescanned with it.
 */
static void unwatched_add(struct engine *e, struct sync_root *r,
			  const char *rel)
{
	if (!r->unwatched && !(r->unwatched = strmap_new()))
		return;
	if (unwatched_covers(r, rel) ||
	    strmap_put(r->unwatched, rel, NULL, NULL) < 0)
		return;
	if (!loop_timer_is_armed(e->unwatched_timer))
		loop_timer_arm(e->unwatched_timer,
			       sync_config_rescan_ms(e->sc));
}

/*
 * Does the directory dfd hold sync state: root's (the agent's user's),
 * private, with a state database of root's in it? No gateway running as
 * another user can make one.
 */
static bool has_state_signature(int dfd)
{
	struct stat st, db;

	return fstat(dfd, &st) == 0 && st.st_uid == geteuid() &&
	       !(st.st_mode & 077) &&
	       fstatat(dfd, STATE_DB_NAME, &db, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(db.st_mode) && db.st_uid == geteuid();
}

/*
 * Put the state directory name (at the top of r, where the gateway
 * renamed it: it cannot move a directory it does not own to another
 * parent) back: under its own name when that is free, else under a
 * reserved one; neither is synced, and PID 1's chown leaves both alone.
 */
static void reclaim_state_dir(struct sync_root *r, const char *name)
{
	char to[NAME_MAX + 1];

	if (renameat2(r->fd, name, r->fd, SYNC_STATE_DIR, RENAME_NOREPLACE) ==
	    0) {
		log_warn("sync: sync state was renamed to %s/%s; put back",
			 r->local, name);
		return;
	}
	(void)snprintf(to, sizeof(to), "%s.moved-%llx", SYNC_STATE_DIR,
		       (unsigned long long)sync_clock_now_ns());
	if (renameat(r->fd, name, r->fd, to) < 0)
		log_warn_errno(errno, "sync: unable to move sync state %s/%s",
			       r->local, name);
	else
		log_warn("sync: sync state was renamed to %s/%s; moved to %s",
			 r->local, name, to);
}

/*
 * Is the directory dfd (rel in r) sync state rather than the tenant's
 * data? The gateway owns the data directory, so it can rename the state
 * directory to any name, and the scan would then upload the agent's own
 * database, which changes with every upload: a loop that never lets a
 * flush finish. So the state directory is recognised by what it is, not
 * by its name: the one this agent opened (same inode), or one an earlier
 * agent left (has_state_signature()).
 */
static bool is_state_dir(struct sync_root *r, int dfd, const char *rel)
{
	struct stat st;

	if (!rel[0] || fstat(dfd, &st) < 0)
		return false;
	if (!(st.st_dev == r->state_dev && st.st_ino == r->state_ino) &&
	    !has_state_signature(dfd))
		return false;
	if (!strchr(rel, '/'))
		reclaim_state_dir(r, rel);
	else
		log_debug("sync: %s/%s holds sync state: not synced", r->local,
			  rel);
	return true;
}

int engine_scan(struct engine *e, struct sync_root *r, const char *rel_dir,
		struct strmap *seen, bool now)
{
	_cleanup_close_ int dfd = -1;
	DIR *d;
	struct dirent *de;
	int fd, err = 0;

	dfd = pathsafe_open_dir(r->fd, rel_dir, false, (uid_t)-1, (gid_t)-1);
	if (dfd < 0)
		return dfd == -ENOENT ? 0 : dfd;
	if (is_state_dir(r, dfd, rel_dir))
		return 0;
	/*
	 * Watch first, then list: nothing created meanwhile is missed. No
	 * watch to be had (our cap, or the kernel's): rescanned instead.
	 */
	if (e->watch) {
		int w = watch_add(e->watch, r, dfd, rel_dir);
		if (w == -EDQUOT || w == -ENOSPC)
			unwatched_add(e, r, rel_dir);
	}
	fd = pathsafe_reopen_dir(dfd);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		(void)close(fd);
		return err;
	}
	while ((errno = 0, de = readdir(d))) {
		_cleanup_free_ char *rel = NULL;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (asprintf(&rel, "%s%s%s", rel_dir, rel_dir[0] ? "/" : "",
			     de->d_name) < 0) {
			rel = NULL;
			err = -ENOMEM;
			break;
		}
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone already */
		if (S_ISDIR(st.st_mode)) {
			if (!glob_excludes_dir(e->sc->excludes, rel))
				(void)engine_scan(e, r, rel, seen, now);
		} else if (S_ISREG(st.st_mode) &&
			   !glob_excludes_file(e->sc->excludes, rel)) {
			if (seen)
				(void)strmap_put(seen, rel, NULL, NULL);
			uploader_check(e->up, r, rel, &st, now);
		}
	}
	if (!err && errno)
		err = -errno;
	(void)closedir(d);
	return err;
}

struct missing {
	struct engine *e;
	struct sync_root *r;
	struct strmap *seen;
};

static int missing_cb(void *ctx, const char *path, const struct state_entry *se)
{
	struct missing *m = ctx;

	(void)se;
	if (!m->seen || !strmap_has(m->seen, path))
		uploader_touch_now(m->e->up, m->r, path);
	return 0;
}

void engine_rescan(struct engine *e, struct sync_root *only)
{
	for (size_t i = 0; i < e->nroots; i++) {
		struct sync_root *r = &e->roots[i];
		struct missing m = {.e = e, .r = r};
		int err;

		if (only && only != r)
			continue;
		/* The walk finds again whatever cannot be watched. */
		if (r->unwatched) {
			strmap_free(r->unwatched);
			r->unwatched = NULL;
		}
		m.seen = strmap_new();
		if (!m.seen) {
			log_err("sync: out of memory rescanning %s", r->local);
			continue;
		}
		err = engine_scan(e, r, "", m.seen, true);
		if (err < 0) {
			/* An incomplete walk must not look like deletions. */
			log_warn_errno(err, "sync: unable to scan %s",
				       r->local);
		} else {
			(void)state_foreach(r->state, NULL, missing_cb, &m);
		}
		strmap_free(m.seen);
	}
}

/* ---- directories without a watch ---- */

struct unwatched_scan {
	struct engine *e;
	struct sync_root *r;
	char **rels;
	size_t n, cap;
};

static bool unwatched_take_cb(void *ctx, const char *key, void *value)
{
	struct unwatched_scan *u = ctx;

	(void)value;
	if (u->n == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 16;
		char **v = realloc(u->rels, nc * sizeof(*v));
		if (!v)
			return false; /* kept: rescanned next time */
		u->rels = v;
		u->cap = nc;
	}
	if (!(u->rels[u->n] = strdup(key)))
		return false;
	u->n++;
	return true;
}

/*
 * Every TENANT_SYNC_RESCAN_INTERVAL while a directory has no watch: scan
 * those directories (and what is below them) as a rescan does, so changes
 * and deletions there are found without inotify. A directory that can be
 * watched again (watches freed) leaves the set by itself.
 */
static void unwatched_timer_cb(void *ctx)
{
	struct engine *e = ctx;

	for (size_t i = 0; i < e->nroots; i++) {
		struct sync_root *r = &e->roots[i];
		struct unwatched_scan u = {.e = e, .r = r};
		struct missing m = {.e = e, .r = r};

		if (!r->unwatched || !e->up)
			continue;
		strmap_foreach(r->unwatched, unwatched_take_cb, &u);
		m.seen = strmap_new();
		for (size_t k = 0; k < u.n; k++) {
			char *prefix = NULL;

			/* An incomplete walk must not look like deletions. */
			if (m.seen &&
			    engine_scan(e, r, u.rels[k], m.seen, true) == 0 &&
			    asprintf(&prefix, "%s/", u.rels[k]) >= 0) {
				(void)state_foreach(r->state, prefix,
						    missing_cb, &m);
				free(prefix);
			}
			free(u.rels[k]);
		}
		strmap_free(m.seen);
		free(u.rels);
	}
}

/* ---- gathered removals ---- */

struct release {
	struct engine *e;
	struct sync_root *r;
};

static bool release_cb(void *ctx, const char *key, void *value)
{
	struct release *rl = ctx;

	(void)value;
	uploader_touch_now(rl->e->up, rl->r, key);
	return true; /* handed over: drop it */
}

/* Hand every gathered removal to the uploader, all due now. */
static void gone_release(struct engine *e)
{
	loop_timer_disarm(e->gone_timer);
	e->gone_first_ms = 0;
	if (!e->gone || !e->up)
		return;
	for (size_t i = 0; i < e->nroots; i++) {
		struct release rl = {.e = e, .r = &e->roots[i]};
		if (e->gone[i])
			strmap_foreach(e->gone[i], release_cb, &rl);
	}
}

static void gone_timer_cb(void *ctx)
{
	gone_release(ctx);
}

/*
 * A path below r was removed: keep it until the removals stop. An rm -rf
 * of a thousand files reaches us as many inotify reads; handed over one
 * by one, each slice would look small to the deletion guard and go
 * through (DESIGN.md: a batch deleting an implausible share of the remote
 * is held back).
 */
static void gone_add(struct engine *e, struct sync_root *r, const char *rel)
{
	uint64_t now = loop_now_ms();
	uint64_t d = e->sc->debounce_ms;
	uint64_t at;

	if (!e->gone[r->idx])
		e->gone[r->idx] = strmap_new();
	if (!e->gone[r->idx] ||
	    strmap_put(e->gone[r->idx], rel, NULL, NULL) < 0) {
		/* No memory to gather it: let the uploader look at it. */
		uploader_touch(e->up, r, rel);
		return;
	}
	if (!e->gone_first_ms)
		e->gone_first_ms = now;
	at = now + d;
	if (at > e->gone_first_ms + GONE_BOUND * d)
		at = e->gone_first_ms + GONE_BOUND * d;
	loop_timer_arm_at(e->gone_timer, at);
}

/* ---- watch callbacks ---- */

static void w_changed(void *ctx, struct sync_root *r, const char *rel)
{
	struct engine *e = ctx;

	uploader_touch(e->up, r, rel);
}

static void w_removed(void *ctx, struct sync_root *r, const char *rel)
{
	gone_add(ctx, r, rel);
}

static int gone_below_cb(void *ctx, const char *path,
			 const struct state_entry *se)
{
	struct release *rl = ctx;

	(void)se;
	gone_add(rl->e, rl->r, path);
	return 0;
}

static void w_dir_added(void *ctx, struct sync_root *r, const char *rel)
{
	struct engine *e = ctx;

	(void)engine_scan(e, r, rel, NULL, false);
}

static void w_dir_removed(void *ctx, struct sync_root *r, const char *rel)
{
	struct engine *e = ctx;
	_cleanup_free_ char *prefix = NULL;
	struct release rl = {.e = e, .r = r};

	if (asprintf(&prefix, "%s/", rel) < 0) {
		prefix = NULL;
		return;
	}
	/* Everything tracked below it is now missing: removed, gathered. */
	(void)state_foreach(r->state, prefix, gone_below_cb, &rl);
}

static void rescan_cb(void *ctx)
{
	struct engine *e = ctx;

	engine_rescan(e, NULL);
}

static void w_overflow(void *ctx, struct sync_root *r)
{
	struct engine *e = ctx;

	(void)r;
	/* A burst of overflows (or lost roots) makes one rescan. */
	if (!loop_timer_is_armed(e->rescan_timer))
		loop_timer_arm(e->rescan_timer, RESCAN_COALESCE_MS);
}

/* ---- the lease ---- */

static void flush_released_cb(void *ctx);

/* The lease asked to be handed over is, once flushed (or in time). */
static void handover_finish(struct engine *e)
{
	if (!e->handing_over)
		return;
	e->handing_over = false;
	loop_timer_disarm(e->lease_timer);
	if (e->up && !uploader_is_idle(e->up))
		log_warn("sync: handing the lease over with %llu changes not "
			 "in storage",
			 (unsigned long long)uploader_depth(e->up));
	lease_release(e->lease, NULL, NULL);
}

static void lease_timer_cb(void *ctx)
{
	struct engine *e = ctx;

	if (e->handing_over) {
		handover_finish(e);
		return;
	}
	/* The final release did not finish in time: report the flush. */
	if (e->flushing)
		flush_released_cb(e);
}

static void lease_handover_cb(void *ctx, const char *requester)
{
	struct engine *e = ctx;

	log_info("sync: handing the lease over to %s once what is dirty is "
		 "in storage (at most %d s)",
		 requester, LEASE_HANDOVER_MS / 1000);
	e->handing_over = true;
	loop_timer_arm(e->lease_timer, LEASE_HANDOVER_MS);
	if (!e->up || uploader_is_idle(e->up)) {
		handover_finish(e);
		return;
	}
	uploader_flush(e->up);
}

static void lease_error_cb(void *ctx, const struct backend_status *st)
{
	struct engine *e = ctx;

	engine_note_error(e, st);
	if (!e->restore_pending) {
		log_warn("sync: unable to reach the lease: %s", st->detail);
		return;
	}
	/* At boot this is the restore waiting on storage: say it so. */
	if (e->lease_fails++ == 0 && e->cbs.restore_retrying)
		e->cbs.restore_retrying(e->ctx);
	if (e->lease_fails == 1 || e->lease_fails % 10 == 0)
		log_warn("restore: storage error (%s) reading the lease; "
			 "retrying (attempt %u)",
			 st->detail, e->lease_fails);
}

static void lease_changed_cb(void *ctx, enum lease_state st)
{
	struct engine *e = ctx;

	e->stats.lease_wait = st == LEASE_WAITING;
	e->stats.lease_held = st == LEASE_HELD;
	e->stats.lease_lost =
	    st == LEASE_LOST || (st == LEASE_RELEASED && !e->flushing);
	engine_stats_changed(e);
	if (st != LEASE_HELD)
		return;
	if (e->restore_pending) {
		e->restore_pending = false;
		e->lease_fails = 0;
		if (engine_restore(e) < 0)
			log_err("sync: unable to start the restore");
	}
	if (e->up)
		uploader_kick(e->up);
}

/* The lease, under the instance's name (PID 1's, or a new one). */
static int lease_open(struct engine *e, char *err, size_t errlen)
{
	static const struct lease_cbs cbs = {
	    .changed = lease_changed_cb,
	    .handover = lease_handover_cb,
	    .error = lease_error_cb,
	};
	_cleanup_free_ char *key = NULL;
	_cleanup_free_ char *made = NULL;
	const char *id = e->sc->instance_id;

	if (!sync_config_lease_ms(e->sc))
		return 0;
	if (!id && !(id = made = lease_instance_id_new())) {
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (asprintf(&key, "%s%s", e->sc->prefix ? e->sc->prefix : "",
		     LEASE_KEY) < 0) {
		key = NULL;
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->lease = lease_new(e->loop, e->be, key, sync_config_lease_ms(e->sc),
			     id, &cbs, e);
	if (!e->lease) {
		(void)snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	log_info("sync: instance %s; one writer per prefix through %s", id,
		 key);
	return 0;
}

/* ---- flush ---- */

static void flush_released_cb(void *ctx)
{
	struct engine *e = ctx;

	loop_timer_disarm(e->lease_timer);
	if (e->cbs.flush_done)
		e->cbs.flush_done(e->ctx, e->flush_ok);
}

static void report_flush(struct engine *e, bool ok)
{
	if (e->flush_reported)
		return;
	e->flush_reported = true;
	loop_timer_disarm(e->flush_timer);
	/*
	 * Everything is in storage (or the flush gave up): the lease goes,
	 * so the next instance need not wait for it to expire. The release
	 * gets a moment; past it, the lease expires by itself.
	 */
	if (e->lease && lease_state(e->lease) != LEASE_RELEASED &&
	    lease_state(e->lease) != LEASE_LOST) {
		e->flush_ok = ok;
		loop_timer_arm(e->lease_timer, LEASE_RELEASE_MS);
		lease_release(e->lease, flush_released_cb, e);
		return;
	}
	if (e->cbs.flush_done)
		e->cbs.flush_done(e->ctx, ok);
}

static void flush_timer_cb(void *ctx)
{
	struct engine *e = ctx;

	if (!e->up || uploader_is_idle(e->up)) {
		report_flush(e, true);
		return;
	}
	if (loop_now_ms() >= e->flush_deadline_ms) {
		log_err("sync: flush timed out with %llu changes not yet in "
			"storage%s%s",
			(unsigned long long)uploader_depth(e->up),
			e->lease && lease_state(e->lease) == LEASE_WAITING
			    ? ": the lease is held by "
			    : "",
			e->lease && lease_state(e->lease) == LEASE_WAITING
			    ? lease_holder(e->lease)
			    : "");
		uploader_cancel_all(e->up);
		report_flush(e, false);
		return;
	}
	loop_timer_arm_at(e->flush_timer, e->flush_deadline_ms);
}

void engine_uploader_idle(struct engine *e)
{
	if (e->flushing && !e->flush_reported)
		loop_timer_arm(e->flush_timer, 0);
	if (e->handing_over)
		handover_finish(e);
	/*
	 * Held deletions whose files came back (re-uploaded, their items
	 * gone): the uploader judges the guard again only when a deletion
	 * falls due, so the rest would stay held, and reported, for good.
	 * Hurrying an idle uploader (nothing queued but the held) makes it
	 * judge again; only when that set shrank, or this would loop. Not
	 * on each return: while files come back one by one, the share still
	 * missing soon looks plausible, and the rest, on their way back,
	 * would be deleted (tried; chaos-deletes.sh catches it).
	 */
	if (e->stats.deletes_held && e->up &&
	    uploader_depth(e->up) != e->held_depth) {
		e->held_depth = uploader_depth(e->up);
		uploader_hurry(e->up);
	}
}

void engine_flush(struct engine *e, uint64_t timeout_ms)
{
	if (e->flushing)
		return;
	e->flushing = true;
	e->flush_reported = false;
	if (!e->syncing) {
		/*
		 * Still restoring (or never started): abandon the restore,
		 * leaving no partial file. Nothing was ever uploaded from
		 * this instance, so there is nothing to flush.
		 */
		if (e->restore) {
			log_info("sync: stopping during the restore: "
				 "abandoned; files not yet in place are not "
				 "left half written");
			restore_cancel(e->restore);
			if (e->cbs.restore_done)
				e->cbs.restore_done(e->ctx, false, 0);
		}
		loop_timer_arm(e->flush_timer, 0);
		return;
	}
	if (e->lease && (lease_state(e->lease) == LEASE_LOST ||
			 lease_state(e->lease) == LEASE_RELEASED)) {
		log_warn("sync: final flush: the lease is another instance's "
			 "now; changes made here since are not synced");
		report_flush(e, true);
		return;
	}
	e->flush_deadline_ms = loop_now_ms() + timeout_ms;
	log_info("sync: final flush (at most %llu ms)",
		 (unsigned long long)timeout_ms);
	/* Events still queued, and anything they would have missed. */
	if (e->watch)
		watch_drain(e->watch);
	gone_release(e);
	engine_rescan(e, NULL);
	uploader_flush(e->up);
	loop_timer_arm(e->flush_timer, 0);
}

void engine_sync_now(struct engine *e)
{
	if (!e->syncing) {
		log_info("sync: restore in progress; sync now is implied");
		return;
	}
	log_info("sync: syncing now (SIGUSR1)");
	gone_release(e);
	engine_rescan(e, NULL);
	uploader_hurry(e->up);
}

/* ---- restore and sync ---- */

static void restore_done_cb(void *ctx)
{
	struct engine *e = ctx;

	e->restore_seconds =
	    (double)(loop_now_ms() - e->restore_t0_ms) / 1000.0;
	engine_stats_changed(e);
	if (e->cbs.restore_done)
		e->cbs.restore_done(e->ctx, true, e->restore_seconds);
}

int engine_restore(struct engine *e)
{
	if (e->lease && lease_state(e->lease) != LEASE_HELD) {
		/* The other instance's last writes first (lease.h). */
		e->restore_pending = true;
		lease_acquire(e->lease);
		return 0;
	}
	e->restore_t0_ms = loop_now_ms();
	if (!e->restore) {
		e->restore = restore_new(e, restore_done_cb, e);
		if (!e->restore)
			return -errno;
	}
	return restore_start(e->restore);
}

int engine_sync_start(struct engine *e, bool watch)
{
	static const struct watch_cbs wcbs = {
	    .changed = w_changed,
	    .removed = w_removed,
	    .dir_added = w_dir_added,
	    .dir_removed = w_dir_removed,
	    .overflow = w_overflow,
	};

	if (e->syncing)
		return 0;
	if (e->lease)
		lease_acquire(e->lease); /* a restarted agent's, say */
	e->up = uploader_new(e);
	if (!e->up)
		return -errno;
	if (watch) {
		e->watch = watch_new(e->loop, e->sc->excludes,
				     sync_config_max_watches(e->sc), &wcbs, e);
		if (!e->watch)
			return -errno;
	}
	e->syncing = true;
	engine_rescan(e, NULL);
	if (e->watch)
		log_info("sync: watching %u directories; uploads follow "
			 "changes after %llu ms",
			 watch_count(e->watch),
			 (unsigned long long)e->sc->debounce_ms);
	engine_stats_changed(e);
	return 0;
}

/* ---- rotated credentials ---- */

static void creds_changed_cb(void *ctx, const char *key_id,
			     const struct secret *secret,
			     const struct secret *token)
{
	struct engine *e = ctx;
	int r = backend_set_creds(e->be, key_id, secret, token);

	if (r < 0) {
		log_warn_errno(r, "sync: unable to use the new credentials");
		return;
	}
	/* What failed with the old ones need not wait out its backoff. */
	if (e->up)
		uploader_hurry(e->up);
}

/* ---- roots ---- */

/* Remove what a crash left in a temporary directory. */
static void clean_tmp(int tmpfd)
{
	int fd = pathsafe_reopen_dir(tmpfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			(void)close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			(void)unlinkat(tmpfd, de->d_name, 0);
	(void)closedir(d);
}

/*
 * Open the agent's private directory name in dfd (where: its path),
 * creating it 0700. policy_private_dir_claim() first sets aside whatever
 * the gateway put under the name and, given a witness, puts back the real
 * one if the gateway had renamed it; so a state directory survives such a
 * rename with its entries. Returns the fd or -errno.
 */
static int open_private_dir(int dfd, const char *where, const char *name,
			    const char *witness)
{
	struct stat st;
	int fd, r;

	r = policy_private_dir_claim(dfd, where, name, witness);
	if (r < 0)
		return r;
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Replaced between the claim and the open: not now. */
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
		(void)close(fd);
		return -EPERM;
	}
	/* Ours alone, whatever an older version left. */
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
		log_warn_errno(errno, "sync: unable to make %s/%s private",
			       where, name);
	return fd;
}

static int root_open(struct engine *e, struct sync_root *r, size_t idx,
		     const struct sync_path *p, char *err, size_t errlen)
{
	_cleanup_free_ char *id = NULL;
	struct stat st;
	bool created;
	int rc;

	r->idx = idx;
	r->local = p->local;
	r->remote = p->remote;
	r->fd = r->statefd = r->tmpfd = -1;
	if (asprintf(&r->key_prefix, "%s%s", e->sc->prefix ? e->sc->prefix : "",
		     p->remote) < 0) {
		r->key_prefix = NULL;
		return -ENOMEM;
	}
	created = stat(p->local, &st) < 0 && errno == ENOENT;
	rc = pathsafe_mkdir_p(p->local, 0700);
	if (rc == 0) {
		r->fd = open(p->local, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = r->fd < 0 ? -errno : 0;
	}
	if (rc < 0) {
		(void)snprintf(err, errlen, "unable to open %s: %s", p->local,
			       strerror(-rc));
		return rc;
	}
	if (created && (e->uid != (uid_t)-1 || e->gid != (gid_t)-1) &&
	    fchown(r->fd, e->uid, e->gid) < 0)
		log_warn_errno(errno,
			       "sync: unable to give %s to the gateway "
			       "user",
			       p->local);
	/* Before the restore writes into it: the platform's directory. */
	rc = policy_private_dir_claim(r->fd, p->local, SYNC_MANAGED_DIR,
				      BOOTFILES_KEY_LEAF);
	if (rc < 0)
		log_warn_errno(rc, "sync: unable to check %s/%s", p->local,
			       SYNC_MANAGED_DIR);
	r->statefd =
	    open_private_dir(r->fd, p->local, SYNC_STATE_DIR, STATE_DB_NAME);
	rc = r->statefd;
	if (rc >= 0 && fstat(r->statefd, &st) < 0)
		rc = -errno;
	if (rc >= 0) {
		r->state_dev = st.st_dev;
		r->state_ino = st.st_ino;
		r->tmpfd =
		    open_private_dir(r->statefd, SYNC_STATE_DIR, "tmp", NULL);
		rc = r->tmpfd;
	}
	if (rc < 0) {
		(void)snprintf(err, errlen, "unable to open %s/%s: %s",
			       p->local, SYNC_STATE_DIR, strerror(-rc));
		return rc;
	}
	clean_tmp(r->tmpfd);
	if (asprintf(&id, "%s %s", e->be->id, r->key_prefix) < 0) {
		id = NULL;
		return -ENOMEM;
	}
	rc = state_open(r->statefd, id, &r->state);
	if (rc < 0)
		(void)snprintf(err, errlen,
			       "unable to open the sync state in "
			       "%s/%s: %s",
			       p->local, SYNC_STATE_DIR, strerror(-rc));
	return rc;
}

static void root_close(struct sync_root *r)
{
	strmap_free(r->unwatched);
	state_close(r->state);
	if (r->tmpfd >= 0) {
		clean_tmp(r->tmpfd);
		(void)close(r->tmpfd);
	}
	if (r->statefd >= 0)
		(void)close(r->statefd);
	if (r->fd >= 0)
		(void)close(r->fd);
	free(r->key_prefix);
}

struct engine *engine_new(struct loop *loop, const struct sync_config *sc,
			  uid_t uid, gid_t gid, const struct engine_cbs *cbs,
			  void *ctx, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	unsigned conc = sc->concurrency ? sc->concurrency : 1;

	if (!e) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->loop = loop;
	e->sc = sc;
	e->uid = uid;
	e->gid = gid;
	e->cbs = *cbs;
	e->ctx = ctx;
	e->stats_timer = loop_timer_new(loop, stats_timer_cb, e);
	e->degraded_timer = loop_timer_new(loop, degraded_cb, e);
	e->flush_timer = loop_timer_new(loop, flush_timer_cb, e);
	e->rescan_timer = loop_timer_new(loop, rescan_cb, e);
	e->gone_timer = loop_timer_new(loop, gone_timer_cb, e);
	e->unwatched_timer = loop_timer_new(loop, unwatched_timer_cb, e);
	e->gone = calloc(sc->npaths ? sc->npaths : 1, sizeof(*e->gone));
	if (!e->stats_timer || !e->degraded_timer || !e->flush_timer ||
	    !e->rescan_timer || !e->gone_timer || !e->unwatched_timer ||
	    !e->gone) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	e->be = backend_new(loop, sc, conc, err, errlen);
	if (!e->be)
		goto fail;
	e->lease_timer = loop_timer_new(loop, lease_timer_cb, e);
	if (!e->lease_timer) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (lease_open(e, err, errlen) < 0)
		goto fail;
	if (sc->kind == SYNC_S3 && sync_creds_has_files(&sc->cred_files)) {
		e->creds =
		    creds_watch_new(loop, &sc->cred_files, sc->access_key_id,
				    &sc->secret_access_key, &sc->session_token,
				    creds_changed_cb, e);
		if (!e->creds)
			log_warn_errno(errno, "sync: credentials files are "
					      "not watched: no rotation");
	}
	e->roots = calloc(sc->npaths, sizeof(*e->roots));
	if (!e->roots) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < sc->npaths; i++) {
		e->nroots = i + 1;
		if (root_open(e, &e->roots[i], i, &sc->paths[i], err, errlen) <
		    0) {
			if (!err[0])
				(void)snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	return e;
fail:
	engine_free(e);
	return NULL;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	restore_free(e->restore);
	uploader_free(e->up);
	watch_free(e->watch);
	lease_free(e->lease);
	loop_timer_free(e->lease_timer);
	creds_watch_free(e->creds);
	backend_free(e->be);
	for (size_t i = 0; i < e->nroots; i++)
		root_close(&e->roots[i]);
	for (size_t i = 0; e->gone && i < e->sc->npaths; i++)
		strmap_free(e->gone[i]);
	free(e->gone);
	loop_timer_free(e->gone_timer);
	free(e->roots);
	loop_timer_free(e->stats_timer);
	loop_timer_free(e->degraded_timer);
	loop_timer_free(e->flush_timer);
	loop_timer_free(e->rescan_timer);
	loop_timer_free(e->unwatched_timer);
	free(e);
}
