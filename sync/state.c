/* SPDX-License-Identifier: MIT */
#include "sync/state.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "sync/pathsafe.h"
#include "sync/sqlvfs.h"

#define DB_NAME STATE_DB_NAME

static const char *const db_files[] = {DB_NAME, DB_NAME "-wal", DB_NAME "-shm",
				       DB_NAME "-journal"};

struct state {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *put;
	sqlite3_stmt *del;
	sqlite3_stmt *count;
	int dirfd;	 /* the state directory (not owned) */
	char *remote_id; /* for a fresh start after corruption */
	bool resetting;	 /* a fresh start is under way */
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS files("
    " path TEXT PRIMARY KEY,"
    " size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL,"
    " ino INTEGER NOT NULL,"
    " ctime_ns INTEGER NOT NULL,"
    " md5 TEXT NOT NULL,"
    " etag TEXT NOT NULL);";

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warn("sync state: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		log_warn("sync state: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

static void db_close(struct state *s)
{
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->count);
	s->get = s->put = s->del = s->count = NULL;
	if (s->db)
		(void)sqlite3_close(s->db);
	s->db = NULL;
}

void state_close(struct state *s)
{
	if (!s)
		return;
	db_close(s);
	free(s->remote_id);
	free(s);
}

/* Drop the entries when they describe another storage location. */
static int check_remote(struct state *s, const char *remote_id)
{
	sqlite3_stmt *st = NULL;
	bool same = false, had = false;
	int r;

	if (prepare(s->db, "SELECT v FROM meta WHERE k='remote'", &st) < 0)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		had = true;
		same = v && strcmp(v, remote_id) == 0;
	}
	sqlite3_finalize(st);
	if (same)
		return 0;
	if (had)
		log_info("sync state: storage location changed; forgetting "
			 "what was synced to the old one");
	r = exec(s->db, "BEGIN; DELETE FROM files;");
	if (r < 0)
		return r;
	if (prepare(s->db,
		    "INSERT OR REPLACE INTO meta(k, v) VALUES('remote', ?)",
		    &st) < 0)
		return -EIO;
	(void)sqlite3_bind_text(st, 1, remote_id, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	if (r == 0)
		r = exec(s->db, "COMMIT;");
	else
		(void)exec(s->db, "ROLLBACK;");
	return r;
}

/*
 * The database files must be the agent's own: regular files it owns with
 * one link. The directory is root's and 0700, so only a gateway running
 * as root itself could have put anything else here (a symlink to a file
 * elsewhere, a hard link to one); such an entry is removed, not followed
 * or written through. Returns 0 or -errno.
 */
static int check_files(int dirfd)
{
	for (size_t i = 0; i < ARRAY_SIZE(db_files); i++) {
		struct stat st;

		if (fstatat(dirfd, db_files[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    st.st_nlink == 1)
			continue;
		log_warn("sync state: %s is not the agent's own file (%s); "
			 "removing it",
			 db_files[i],
			 !S_ISREG(st.st_mode)	  ? "not a regular file"
			 : st.st_uid != geteuid() ? "another owner"
						  : "several links");
		if (unlinkat(dirfd, db_files[i], 0) < 0)
			return -errno;
	}
	return 0;
}

static int db_open(struct state *s)
{
	char path[64];
	int r;

	r = sqlvfs_register();
	if (r == 0)
		r = sqlvfs_name(s->dirfd, DB_NAME, path, sizeof(path));
	if (r == 0)
		r = check_files(s->dirfd);
	if (r < 0) {
		log_warn_errno(r, "sync state: unable to open %s", DB_NAME);
		return r;
	}
	/*
	 * Through the directory descriptor and the fd VFS (sync/sqlvfs.h):
	 * the database, its WAL and its shared memory are the files in the
	 * directory opened at start, wherever the gateway moves it, and a
	 * symlink in their place is refused.
	 */
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			    SQLVFS_NAME) != SQLITE_OK) {
		log_warn("sync state: unable to open %s: %s", DB_NAME,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		db_close(s);
		return -EIO;
	}
	(void)sqlite3_busy_timeout(s->db, 5000);
	r = exec(s->db, schema);
	if (r == 0)
		r = check_remote(s, s->remote_id);
	if (r == 0)
		r = prepare(s->db,
			    "SELECT size, mtime_ns, ino, ctime_ns, md5, etag "
			    "FROM files WHERE path = ?",
			    &s->get);
	if (r == 0)
		r = prepare(s->db,
			    "INSERT OR REPLACE INTO files(path, size, "
			    "mtime_ns, ino, ctime_ns, md5, etag) "
			    "VALUES(?, ?, ?, ?, ?, ?, ?)",
			    &s->put);
	if (r == 0)
		r = prepare(s->db, "DELETE FROM files WHERE path = ?", &s->del);
	if (r == 0)
		r = prepare(s->db, "SELECT count(*) FROM files", &s->count);
	if (r < 0)
		db_close(s);
	return r;
}

/*
 * Start with an empty database. Unreadable state is not a reason to stop
 * syncing, and starting empty is safe: nothing is deleted for files
 * without an entry, and at worst unchanged files are uploaded once more.
 */
static int db_reset(struct state *s)
{
	db_close(s);
	for (size_t i = 0; i < ARRAY_SIZE(db_files); i++)
		if (unlinkat(s->dirfd, db_files[i], 0) < 0 && errno != ENOENT)
			return -errno;
	return db_open(s);
}

int state_open(int dirfd, const char *remote_id, struct state **out)
{
	struct state *s = calloc(1, sizeof(*s));
	int r;

	if (!s || !(s->remote_id = strdup(remote_id))) {
		free(s);
		return -ENOMEM;
	}
	s->dirfd = dirfd;
	r = db_open(s);
	if (r < 0 && r != -ENOMEM) {
		log_warn("sync state: starting with an empty database");
		r = db_reset(s);
	}
	if (r < 0) {
		state_close(s);
		return r;
	}
	*out = s;
	return 0;
}

/*
 * A statement failed with rc. When the database itself is damaged (its
 * files overwritten, say), every later write would fail as well and new
 * files would silently go untracked: start afresh, once, and say so.
 * Returns true when a fresh database is in place.
 */
static bool recover(struct state *s, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_ERROR: /* e.g. "no such table": the schema is gone */
	case SQLITE_SCHEMA:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_IOERR:
	case SQLITE_PROTOCOL:
	case SQLITE_CANTOPEN:
		break;
	default:
		return false;
	}
	if (s->resetting)
		return false;
	log_err("sync state: the database is damaged (%s); starting with an "
		"empty one",
		sqlite3_errstr(rc));
	s->resetting = true;
	rc = db_reset(s);
	s->resetting = false;
	return rc == 0;
}

/* The path in column col, or NULL (logged) when it is not a safe one. */
static const char *checked_path(sqlite3_stmt *st, int col)
{
	const char *p = (const char *)sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	const char *why;
	char shown[256];

	if (!p)
		return NULL;
	why = pathsafe_check(p, (size_t)n);
	if (!why)
		return p;
	/*
	 * Every path the state holds was once a safe relative path of ours;
	 * one that is not was put here by someone else, and acting on it
	 * could delete or read outside the root. It is skipped (and
	 * removed by the caller).
	 */
	pathsafe_escape(p, (size_t)n, shown, sizeof(shown));
	log_warn("sync state: ignoring an entry with an unsafe path '%s': %s",
		 shown, why);
	return NULL;
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	(void)snprintf(dst, cap, "%s", v ? v : "");
}

static void read_row(sqlite3_stmt *st, int first, struct state_entry *e)
{
	e->size = (uint64_t)sqlite3_column_int64(st, first);
	e->mtime_ns = sqlite3_column_int64(st, first + 1);
	e->ino = (uint64_t)sqlite3_column_int64(st, first + 2);
	e->ctime_ns = sqlite3_column_int64(st, first + 3);
	copy_col(st, first + 4, e->md5, sizeof(e->md5));
	copy_col(st, first + 5, e->etag, sizeof(e->etag));
}

int state_get(struct state *s, const char *path, struct state_entry *e)
{
	int rc, r;

	if (!s->db)
		return -EIO;
	(void)sqlite3_bind_text(s->get, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->get);
	if (rc == SQLITE_ROW) {
		read_row(s->get, 0, e);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	(void)sqlite3_reset(s->get);
	(void)sqlite3_clear_bindings(s->get);
	if (r == -EIO)
		(void)recover(s, rc);
	return r;
}

static int put_once(struct state *s, const char *path,
		    const struct state_entry *e)
{
	int rc;

	if (!s->db)
		return SQLITE_CANTOPEN;
	(void)sqlite3_bind_text(s->put, 1, path, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s->put, 2, (sqlite3_int64)e->size);
	(void)sqlite3_bind_int64(s->put, 3, e->mtime_ns);
	(void)sqlite3_bind_int64(s->put, 4, (sqlite3_int64)e->ino);
	(void)sqlite3_bind_int64(s->put, 5, e->ctime_ns);
	(void)sqlite3_bind_text(s->put, 6, e->md5, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s->put, 7, e->etag, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->put);
	(void)sqlite3_reset(s->put);
	(void)sqlite3_clear_bindings(s->put);
	return rc;
}

int state_put(struct state *s, const char *path, const struct state_entry *e)
{
	int rc = put_once(s, path, e);

	if (rc != SQLITE_DONE && recover(s, rc))
		rc = put_once(s, path, e);
	if (rc != SQLITE_DONE) {
		log_warn("sync state: unable to record %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return -EIO;
	}
	return 0;
}

static int del_once(struct state *s, const char *path)
{
	int rc;

	if (!s->db)
		return SQLITE_CANTOPEN;
	(void)sqlite3_bind_text(s->del, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->del);
	(void)sqlite3_reset(s->del);
	(void)sqlite3_clear_bindings(s->del);
	return rc;
}

int state_del(struct state *s, const char *path)
{
	int rc = del_once(s, path);

	/* A fresh database has no entry to delete: that is success. */
	if (rc != SQLITE_DONE && recover(s, rc))
		return 0;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

uint64_t state_count(struct state *s)
{
	uint64_t n = 0;

	if (s->db && sqlite3_step(s->count) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(s->count, 0);
	if (s->db)
		(void)sqlite3_reset(s->count);
	return n;
}

struct row {
	char *path;
	struct state_entry e;
};

/* Forget the entries whose rowid is in ids (unsafe paths). */
static void drop_rows(struct state *s, const sqlite3_int64 *ids, size_t n)
{
	sqlite3_stmt *st = NULL;

	if (n == 0 ||
	    prepare(s->db, "DELETE FROM files WHERE rowid = ?", &st) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		(void)sqlite3_bind_int64(st, 1, ids[i]);
		(void)sqlite3_step(st);
		(void)sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

int state_foreach(struct state *s, const char *prefix,
		  int (*cb)(void *ctx, const char *path,
			    const struct state_entry *e),
		  void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct row *rows = NULL;
	sqlite3_int64 *bad = NULL;
	size_t n = 0, cap = 0, nbad = 0, badcap = 0;
	int rc, r = 0;
	size_t plen = prefix ? strlen(prefix) : 0;

	if (!s->db)
		return -EIO;
	/* A range scan on the primary key: path >= prefix AND < prefix+1. */
	if (prepare(s->db,
		    "SELECT path, size, mtime_ns, ino, ctime_ns, md5, etag, "
		    "rowid FROM files "
		    "WHERE path >= ?1 AND substr(path, 1, ?2) = ?1",
		    &st) < 0)
		return -EIO;
	(void)sqlite3_bind_text(st, 1, prefix ? prefix : "", -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 2, (sqlite3_int64)plen);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = checked_path(st, 0);

		if (!p) {
			if (nbad == badcap) {
				size_t nc = badcap ? badcap * 2 : 16;
				sqlite3_int64 *nb =
				    realloc(bad, nc * sizeof(*nb));
				if (!nb)
					continue;
				bad = nb;
				badcap = nc;
			}
			bad[nbad++] = sqlite3_column_int64(st, 7);
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct row *nr = realloc(rows, nc * sizeof(*nr));
			if (!nr) {
				r = -ENOMEM;
				break;
			}
			rows = nr;
			cap = nc;
		}
		rows[n].path = strdup(p);
		if (!rows[n].path) {
			r = -ENOMEM;
			break;
		}
		read_row(st, 1, &rows[n].e);
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = -EIO;
	sqlite3_finalize(st);
	drop_rows(s, bad, nbad);
	free(bad);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = cb(ctx, rows[i].path, &rows[i].e);
		free(rows[i].path);
	}
	free(rows);
	return r;
}

int state_begin(struct state *s)
{
	return s->db ? exec(s->db, "BEGIN;") : -EIO;
}

int state_commit(struct state *s)
{
	/* After a fresh start there is no transaction left to commit. */
	if (!s->db || sqlite3_get_autocommit(s->db))
		return s->db ? 0 : -EIO;
	return exec(s->db, "COMMIT;");
}

void state_entry_set_stat(struct state_entry *e, const struct stat *st)
{
	e->size = (uint64_t)st->st_size;
	e->mtime_ns =
	    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	e->ino = (uint64_t)st->st_ino;
	e->ctime_ns =
	    (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

bool state_entry_matches(const struct state_entry *e, const struct stat *st)
{
	struct state_entry now;

	state_entry_set_stat(&now, st);
	return now.size == e->size && now.mtime_ns == e->mtime_ns &&
	       now.ino == e->ino && now.ctime_ns == e->ctime_ns;
}
