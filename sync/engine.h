/* SPDX-License-Identifier: MIT */
/*
 * The sync engine: the storage backend, the local roots (one per
 * TENANT_SYNC_PATHS entry) and the three activities over them.
 *
 *   restore.c  storage -> disk, once at boot, before the gateway starts
 *   watch.c    inotify over every directory of every root
 *   upload.c   disk -> storage: debounced uploads, guarded deletions
 *
 * The engine owns what they share (roots, backend, counters, error and
 * throttle state) and sequences them: restore, then watch + upload, then
 * flush. It runs in the sync agent (agent_main.c) and, without inotify, in
 * the one-shot subcommands (cmd.c). Single-threaded, on one event loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "init/config.h"
#include "supervisor/status.h"

struct loop;
struct backend;
struct backend_status;
struct state;
struct watch;
struct restore;
struct uploader;
struct strmap;
struct loop_timer;
struct lease;
struct creds_watch;

/* One local directory and where it lives in storage. */
struct sync_root {
	size_t idx;
	const char *local;  /* absolute path (from the configuration) */
	const char *remote; /* "openclaw/" */
	char *key_prefix;   /* storage prefix + remote: keys start with it */
	int fd;		    /* the root directory */
	int statefd;	    /* ROOT/.tenant-init (root-owned, 0700) */
	dev_t state_dev;    /* ... and its identity, wherever it is moved */
	ino_t state_ino;
	int tmpfd; /* ROOT/.tenant-init/tmp: downloads, snapshots */
	struct state *state;
	/*
	 * Directories the watch cap left unwatched (rel -> NULL; none below
	 * another one): rescanned every TENANT_SYNC_RESCAN_INTERVAL.
	 */
	struct strmap *unwatched;
};

struct engine_cbs {
	/* The boot restore finished (ok) or was abandoned (!ok). */
	void (*restore_done)(void *ctx, bool ok, double seconds);
	/* The restore hit a storage error and keeps retrying. */
	void (*restore_retrying)(void *ctx);
	/* A flush finished: ok = everything dirty reached storage. */
	void (*flush_done)(void *ctx, bool ok);
	/* The counters changed (coalesced; at most a few times a second). */
	void (*stats)(void *ctx, const struct sync_stats *s, double restore_s);
};

struct engine {
	struct loop *loop;
	const struct sync_config *sc;
	uid_t uid; /* owner of restored files, (uid_t)-1 = unchanged */
	gid_t gid;
	struct backend *be;
	struct sync_root *roots;
	size_t nroots;
	struct watch *watch; /* NULL in one-shot mode */
	struct restore *restore;
	struct uploader *up;
	struct engine_cbs cbs;
	void *ctx;

	bool syncing;  /* restore done, uploads running */
	bool flushing; /* a flush is in progress */
	bool flush_reported;
	uint64_t flush_deadline_ms;
	struct loop_timer *flush_timer;
	struct loop_timer *rescan_timer;
	struct loop_timer *unwatched_timer;
	uint64_t restore_t0_ms;

	struct sync_stats stats;
	double restore_seconds;
	uint64_t fail_since_ms; /* first failure since the last success */
	struct loop_timer *degraded_timer;
	uint64_t throttle_until_ms; /* the store asked us to slow down */
	struct loop_timer *stats_timer;

	/*
	 * Local removals, gathered per root until they stop coming (a
	 * debounce of quiet, at most 5x from the first) and then handed to
	 * the uploader together: the deletion guard must judge a mass
	 * deletion as one batch, not in the slices inotify delivers it in.
	 */
	struct strmap **gone;
	struct loop_timer *gone_timer;
	uint64_t gone_first_ms; /* 0: nothing gathered */
	uint64_t held_depth;	/* queue depth at the last guard recheck */

	/* One writer per tenant prefix (lease.h); NULL when off. */
	struct lease *lease;
	bool restore_pending; /* the restore waits for the lease */
	bool handing_over;    /* flushing to hand the lease over */
	bool flush_ok;	      /* the final flush's result, until released */
	unsigned lease_fails; /* failures reaching it before the restore */
	struct loop_timer *lease_timer; /* bounds a handover / a release */
	struct creds_watch *creds;	/* credentials from files, or NULL */
};

/*
 * Open the roots (creating missing directories and each root's
 * .tenant-init), their state databases, and the backend. Returns NULL with
 * a reason in err.
 */
struct engine *engine_new(struct loop *loop, const struct sync_config *sc,
			  uid_t uid, gid_t gid, const struct engine_cbs *cbs,
			  void *ctx, char *err, size_t errlen);

/* Cancel everything (no callbacks), remove temporary files, free. */
void engine_free(struct engine *e);

/* Start the boot restore; cbs.restore_done follows. Returns 0 or -errno. */
int engine_restore(struct engine *e);

/*
 * Start syncing disk -> storage: an initial scan against the state, then
 * (with watch) inotify-driven uploads. Returns 0 or -errno.
 */
int engine_sync_start(struct engine *e, bool watch);

/* SIGUSR1: rescan, and upload everything pending now. */
void engine_sync_now(struct engine *e);

/*
 * Upload everything dirty now, bounded by timeout_ms; cbs.flush_done
 * follows exactly once. During a restore: abandon it (no partial files
 * stay) and report the flush done at once, ok.
 */
void engine_flush(struct engine *e, uint64_t timeout_ms);

/* ---- for restore.c, upload.c and watch.c ---- */

/* A storage operation failed: count it, track degraded and throttling. */
void engine_note_error(struct engine *e, const struct backend_status *st);

/* A storage operation succeeded. */
void engine_note_success(struct engine *e);

/*
 * Take no part in the lease (a read-only restore): before
 * engine_restore(). Writes are then not fenced.
 */
void engine_lease_off(struct engine *e);

/* May this instance write to storage (it holds the lease, or none)? */
bool engine_may_write(const struct engine *e);

/* Milliseconds until the store's throttling request ends (0: none). */
uint64_t engine_throttle_left(const struct engine *e);

/* The counters changed: push them soon. */
void engine_stats_changed(struct engine *e);

/* The uploader has nothing left to do (a flush may be complete). */
void engine_uploader_idle(struct engine *e);

/*
 * Walk rel_dir ("" = the root) of r: watch every directory (when
 * watching) and hand every regular file to the uploader's check (due now,
 * or debounced for a directory that just appeared). With seen, record the
 * files found. Returns 0 or -errno.
 */
int engine_scan(struct engine *e, struct sync_root *r, const char *rel_dir,
		struct strmap *seen, bool now);

/* Rescan every root and check the state for files that disappeared. */
void engine_rescan(struct engine *e, struct sync_root *only);

/* The storage key of rel in r (allocated), or NULL. */
char *engine_key(const struct sync_root *r, const char *rel);
