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

#define DB_NAME "sync.db"

struct state {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *put;
	sqlite3_stmt *del;
	sqlite3_stmt *count;
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

void state_close(struct state *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->count);
	if (s->db)
		(void)sqlite3_close(s->db);
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

static int try_open(int dirfd, const char *remote_id, struct state **out)
{
	char path[64];
	struct state *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	/*
	 * Through the directory descriptor, which was opened without
	 * following symlinks: a .tenant-init replaced by a link cannot move
	 * the database somewhere else.
	 */
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d/" DB_NAME, dirfd);
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_warn("sync state: unable to open %s: %s", DB_NAME,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		state_close(s);
		return -EIO;
	}
	(void)sqlite3_busy_timeout(s->db, 5000);
	r = exec(s->db, schema);
	if (r == 0)
		r = check_remote(s, remote_id);
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
	if (r < 0) {
		state_close(s);
		return r;
	}
	*out = s;
	return 0;
}

int state_open(int dirfd, const char *remote_id, struct state **out)
{
	static const char *const names[] = {DB_NAME, DB_NAME "-wal",
					    DB_NAME "-shm"};
	int r = try_open(dirfd, remote_id, out);

	if (r == 0 || r == -ENOMEM)
		return r;
	/*
	 * Unreadable state is not a reason to stop syncing. Starting empty is
	 * safe: nothing is deleted for files without an entry, and at worst
	 * unchanged files are uploaded once more.
	 */
	log_warn("sync state: starting with an empty database");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (unlinkat(dirfd, names[i], 0) < 0 && errno != ENOENT)
			return -errno;
	return try_open(dirfd, remote_id, out);
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
	return r;
}

int state_put(struct state *s, const char *path, const struct state_entry *e)
{
	int rc;

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
	if (rc != SQLITE_DONE) {
		log_warn("sync state: unable to record %s: %s", path,
			 sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

int state_del(struct state *s, const char *path)
{
	int rc;

	(void)sqlite3_bind_text(s->del, 1, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->del);
	(void)sqlite3_reset(s->del);
	(void)sqlite3_clear_bindings(s->del);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

uint64_t state_count(struct state *s)
{
	uint64_t n = 0;

	if (sqlite3_step(s->count) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(s->count, 0);
	(void)sqlite3_reset(s->count);
	return n;
}

struct row {
	char *path;
	struct state_entry e;
};

int state_foreach(struct state *s, const char *prefix,
		  int (*cb)(void *ctx, const char *path,
			    const struct state_entry *e),
		  void *ctx)
{
	sqlite3_stmt *st = NULL;
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc, r = 0;
	size_t plen = prefix ? strlen(prefix) : 0;

	/* A range scan on the primary key: path >= prefix AND < prefix+1. */
	if (prepare(s->db,
		    "SELECT path, size, mtime_ns, ino, ctime_ns, md5, etag "
		    "FROM files WHERE path >= ?1 AND substr(path, 1, ?2) = ?1",
		    &st) < 0)
		return -EIO;
	(void)sqlite3_bind_text(st, 1, prefix ? prefix : "", -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 2, (sqlite3_int64)plen);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);

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
		rows[n].path = strdup(p ? p : "");
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
	return exec(s->db, "BEGIN;");
}

int state_commit(struct state *s)
{
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
