/* SPDX-License-Identifier: MIT */
/*
 * inotify over every directory of every sync root.
 *
 * One inotify descriptor in the agent's loop. Directories are added as
 * the engine's scans find them (a new directory is scanned, and so
 * watched, as soon as its creation is seen). Events become calls on the
 * engine's behalf: a file changed, a path disappeared, a directory
 * appeared; the queue overflowing (IN_Q_OVERFLOW), or a root itself going
 * away, asks for a full rescan against the sync state. After an overflow
 * the queue is not read for a while (1 s, doubling to 30 s while
 * overflows go on): a rename loop must not keep the agent rescanning. Excluded
 * paths and the .tenant-init state directory produce nothing.
 */
#pragma once

#include <stdbool.h>

struct loop;
struct sync_root;
struct watch;

struct watch_cbs {
	/* A file was written, created, moved in, or its attributes changed. */
	void (*changed)(void *ctx, struct sync_root *r, const char *rel);
	/* A file was deleted or moved away. */
	void (*removed)(void *ctx, struct sync_root *r, const char *rel);
	/* A directory appeared (created or moved in): scan it. */
	void (*dir_added)(void *ctx, struct sync_root *r, const char *rel);
	/* A directory and all below it disappeared. */
	void (*dir_removed)(void *ctx, struct sync_root *r, const char *rel);
	/* Events were lost: rescan r (NULL: every root). */
	void (*overflow)(void *ctx, struct sync_root *r);
};

/*
 * At most max directories are watched (TENANT_SYNC_MAX_WATCHES). Returns
 * NULL and sets errno.
 */
struct watch *watch_new(struct loop *loop, char *const *excludes, unsigned max,
			const struct watch_cbs *cbs, void *ctx);

/* Remove every watch and free. NULL is accepted. */
void watch_free(struct watch *w);

/*
 * Watch the directory dirfd, which is rel ("" = the root) in r. Adding a
 * directory already watched just refreshes its path. Returns 0 or -errno:
 * -EDQUOT when the cap is reached, -ENOSPC when the kernel's
 * fs.inotify.max_user_watches is (each logged once).
 */
int watch_add(struct watch *w, struct sync_root *r, int dirfd, const char *rel);

/*
 * Read and dispatch whatever events are queued now (before a flush). When
 * reading is paused after an overflow, the queue is dropped instead and
 * the caller must rescan.
 */
void watch_drain(struct watch *w);

/* Number of directories watched. */
unsigned watch_count(const struct watch *w);
