/* SPDX-License-Identifier: MIT */
/*
 * Disk -> storage: the dirty set, debounced uploads, guarded deletions.
 *
 * Every path reported changed becomes an item that waits TENANT_SYNC_DEBOUNCE
 * after its last change, but never more than 5x that after its first, so a
 * file that never stops changing is still uploaded. When due it is looked
 * at again: unchanged against the sync state -> nothing to do; a regular
 * file -> uploaded (SQLite databases from an online-backup snapshot); gone
 * -> its object is deleted, but only when the state says this instance
 * synced it. A file that changes while it uploads is uploaded again. At
 * most TENANT_SYNC_CONCURRENCY transfers run at once (a delete batch
 * counts as one). Failures back off with full jitter and honour the
 * store's Retry-After; nothing is dropped.
 *
 * Deletion guard: when the pending deletions of a root would remove more
 * than half of the files it tracks, and more than 100, they are held back
 * (logged, and reported as sync_stats.deletes_held) until that is no
 * longer true -- a wiped or unmounted data directory must not empty the
 * bucket.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct engine;
struct sync_root;
struct uploader;

/* Held deletions: more than this share of a root's tracked files ... */
#define UPLOAD_GUARD_SHARE_NUM 1
#define UPLOAD_GUARD_SHARE_DEN 2
/* ... and more than this many. */
#define UPLOAD_GUARD_MIN 100

/* Returns NULL and sets errno. */
struct uploader *uploader_new(struct engine *e);

/* Abort transfers (no callbacks), free everything. NULL is accepted. */
void uploader_free(struct uploader *u);

/* rel changed (or disappeared): look at it after the debounce. */
void uploader_touch(struct uploader *u, struct sync_root *r, const char *rel);

/* As uploader_touch(), due now (scans, sync now). */
void uploader_touch_now(struct uploader *u, struct sync_root *r,
			const char *rel);

/*
 * A scan found rel with stat st: queue it (due now, or debounced) unless
 * the state says it is already synced as it is.
 */
void uploader_check(struct uploader *u, struct sync_root *r, const char *rel,
		    const struct stat *st, bool now);

/*
 * Flush mode on: everything waiting is due now, and later changes too (no
 * debounce). Failed transfers still back off.
 */
void uploader_flush(struct uploader *u);

/* Everything waiting is due now (sync now), once. */
void uploader_hurry(struct uploader *u);

/* Look at what is due again (writes became possible). */
void uploader_kick(struct uploader *u);

/* Nothing left to do (held deletions aside). */
bool uploader_is_idle(const struct uploader *u);

/* Abort every transfer and forget every pending item (no callbacks). */
void uploader_cancel_all(struct uploader *u);

/* Pending items (queue depth) and the age of the oldest, in seconds. */
uint64_t uploader_depth(const struct uploader *u);
double uploader_lag(const struct uploader *u);
