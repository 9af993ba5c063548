/* SPDX-License-Identifier: MIT */
/*
 * Sync state of one local root: which files are known to be in storage,
 * as what. One SQLite database per root, ROOT/.tenant-init/sync.db, in WAL
 * mode so that a kill -9 at any moment leaves it consistent; it lives with
 * the data, so a persistent volume keeps it across container lives.
 *
 * An entry means "this file, with this size/mtime/inode/ctime, is the
 * object with this etag": a file whose stat still matches its entry needs
 * no upload, and only a file with an entry may have its object deleted
 * (DESIGN.md: deletions only for files this instance saw synced).
 *
 * The root agent acts on these paths, so nothing in the database is
 * trusted: it is opened through its directory's descriptor (sqlvfs.h),
 * its files must be the agent's own, and a path read back that is not a
 * safe relative path is dropped, never acted on. A database that becomes
 * unusable while open is replaced by an empty one (safe: see above).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sync/hash.h"

#define STATE_ETAG_MAX 80

/* The database's name in the state directory. */
#define STATE_DB_NAME "sync.db"

struct state;

struct state_entry {
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
	int64_t ctime_ns;
	char md5[HASH_MD5_HEX];	   /* content MD5, hex; "" = unknown */
	char etag[STATE_ETAG_MAX]; /* the object's ETag, without quotes */
};

/*
 * Open (creating) the database in the state directory dirfd. remote_id
 * names the storage location the entries refer to; when it differs from
 * the one recorded, the entries are dropped (they say nothing about the
 * new location). A database that cannot be read is moved out of the way
 * and started afresh. Returns 0 with *out set, or -errno.
 */
int state_open(int dirfd, const char *remote_id, struct state **out);

/* Close (NULL is accepted). */
void state_close(struct state *s);

/* Look path up. Returns 0 with *e filled, -ENOENT, or -EIO. */
int state_get(struct state *s, const char *path, struct state_entry *e);

/* Insert or replace path's entry. Returns 0 or -EIO. */
int state_put(struct state *s, const char *path, const struct state_entry *e);

/* Remove path's entry (absent is fine). Returns 0 or -EIO. */
int state_del(struct state *s, const char *path);

/* Number of entries. */
uint64_t state_count(struct state *s);

/*
 * Call cb for every entry whose path starts with prefix (NULL or "" for
 * all). The paths are collected first, so cb may change the database.
 * Stops at the first non-zero return of cb and returns it; else 0, or
 * -errno.
 */
int state_foreach(struct state *s, const char *prefix,
		  int (*cb)(void *ctx, const char *path,
			    const struct state_entry *e),
		  void *ctx);

/* Group many changes into one transaction. Return 0 or -EIO. */
int state_begin(struct state *s);
int state_commit(struct state *s);

/* Fill size/mtime/inode/ctime of e from st (md5 and etag untouched). */
void state_entry_set_stat(struct state_entry *e, const struct stat *st);

/*
 * True when st is the file e describes: same size, mtime, inode and
 * ctime. Any difference counts as a change (a false "changed" costs one
 * upload; a false "unchanged" would lose data).
 */
bool state_entry_matches(const struct state_entry *e, const struct stat *st);
