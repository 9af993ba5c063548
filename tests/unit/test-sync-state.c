/* SPDX-License-Identifier: MIT */
/* Sync state in SQLite (sync/state.c) and SQLite snapshots (sqlsnap.c). */
#include "sync/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sync/sqlsnap.h"
#include "tests/tap.h"

static int count_cb(void *ctx, const char *path, const struct state_entry *e)
{
	(void)path;
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

static int delete_cb(void *ctx, const char *path, const struct state_entry *e)
{
	(void)e;
	return state_del(ctx, path);
}

static void entry(struct state_entry *e, uint64_t size, const char *etag)
{
	memset(e, 0, sizeof(*e));
	e->size = size;
	e->mtime_ns = 1700000000123456789LL;
	e->ino = 42;
	e->ctime_ns = 1700000001000000000LL;
	(void)snprintf(e->etag, sizeof(e->etag), "%s", etag);
	(void)snprintf(e->md5, sizeof(e->md5), "%s", etag);
}

/* A fresh directory dir/name; returns its fd. */
static int subdir(const char *dir, const char *name)
{
	char p[PATH_MAX];

	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (mkdir(p, 0700) < 0)
		return -1;
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

/* Insert a row with the given path (len bytes, NULs allowed) directly. */
static bool raw_insert(const char *dir, const char *sub, const char *path,
		       int len)
{
	char p[PATH_MAX];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	bool ok = false;

	(void)snprintf(p, sizeof(p), "%s/%s/sync.db", dir, sub);
	if (sqlite3_open(p, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "INSERT INTO files VALUES(?, 1, 1, 1, 1, '', "
			       "'e')",
			       -1, &st, NULL) == SQLITE_OK) {
		(void)sqlite3_bind_text(st, 1, path, len, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	(void)sqlite3_close(db);
	return ok;
}

static int collect_cb(void *ctx, const char *path, const struct state_entry *e)
{
	(void)e;
	if (strcmp(path, "ok.txt") != 0)
		diag("foreach returned '%s'", path);
	(*(int *)ctx)++;
	return 0;
}

static void overwrite(int dfd, const char *name)
{
	struct stat st;
	int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
	char buf[4096];

	memset(buf, 'Z', sizeof(buf));
	if (fd < 0 || fstat(fd, &st) < 0) {
		diag("unable to overwrite %s", name);
	} else {
		for (off_t o = 0; o < st.st_size; o += (off_t)sizeof(buf))
			if (pwrite(fd, buf, sizeof(buf), o) < 0)
				break;
	}
	if (fd >= 0)
		close(fd);
}

/*
 * The state as an attacker who can write it (or the files around it)
 * leaves it: nothing outside the directory is created, followed or
 * acted on, and a damaged database does not stop tracking.
 */
static void hostile(const char *dir)
{
	struct state *s = NULL;
	struct state_entry e, g;
	int fd, n = 0;
	char p[PATH_MAX], q[PATH_MAX];

	entry(&e, 1, "e");
	/* Rows with paths no scan could have made. */
	fd = subdir(dir, "rows");
	ok(fd >= 0 && state_open(fd, "x", &s) == 0 &&
	       state_put(s, "ok.txt", &e) == 0,
	   "rows: state opened");
	ok(raw_insert(dir, "rows", "../../rootonly/dir/file", -1) &&
	       raw_insert(dir, "rows", "/etc/passwd", -1) &&
	       raw_insert(dir, "rows", "a/../../b", -1) &&
	       raw_insert(dir, "rows", "ctl\x01name", -1) &&
	       raw_insert(dir, "rows", "nul\0after", 9),
	   "rows: unsafe paths inserted behind the module's back");
	is_int(state_foreach(s, NULL, collect_cb, &n), 0, "rows: foreach");
	is_int(n, 1, "rows: only the safe path reaches the callback");
	is_int(state_count(s), 1, "rows: the unsafe rows are removed");
	state_close(s);
	if (fd >= 0)
		close(fd);

	/* A symlink in the database's place: refused, target untouched. */
	fd = subdir(dir, "link");
	(void)snprintf(p, sizeof(p), "%s/victim.db", dir);
	(void)snprintf(q, sizeof(q), "%s/link/sync.db", dir);
	ok(fd >= 0 && symlink(p, q) == 0, "link: sync.db is a symlink");
	(void)snprintf(p, sizeof(p), "%s/victim-wal", dir);
	(void)snprintf(q, sizeof(q), "%s/link/sync.db-wal", dir);
	ok(symlink(p, q) == 0, "link: sync.db-wal is a symlink");
	ok(state_open(fd, "x", &s) == 0 && state_put(s, "a", &e) == 0,
	   "link: state opened and written");
	ok(!exists(dir, "victim.db") && !exists(dir, "victim-wal"),
	   "link: nothing created where the links pointed");
	{
		struct stat st;
		ok(fstatat(fd, "sync.db", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		       S_ISREG(st.st_mode),
		   "link: a real database in its place");
	}
	state_close(s);
	if (fd >= 0)
		close(fd);

	/* A hard link to a file elsewhere: not written through. */
	fd = subdir(dir, "hard");
	{
		struct stat st;
		int vf;
		(void)snprintf(p, sizeof(p), "%s/precious", dir);
		(void)snprintf(q, sizeof(q), "%s/hard/sync.db", dir);
		vf = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		ok(vf >= 0 && write(vf, "precious", 8) == 8 && link(p, q) == 0,
		   "hard: sync.db is a hard link");
		if (vf >= 0)
			close(vf);
		ok(state_open(fd, "x", &s) == 0 && state_put(s, "a", &e) == 0,
		   "hard: state opened and written");
		ok(stat(p, &st) == 0 && st.st_size == 8 && st.st_nlink == 1,
		   "hard: the linked file is untouched");
		state_close(s);
	}
	if (fd >= 0)
		close(fd);

	/*
	 * The directory renamed away and its old name made a symlink to a
	 * victim's directory: SQLite must not act on the victim's files by
	 * the old path (closing deletes the WAL by name, for one).
	 */
	fd = subdir(dir, "moved");
	ok(fd >= 0 && state_open(fd, "x", &s) == 0 &&
	       state_put(s, "before", &e) == 0,
	   "moved: state opened");
	{
		int vd = subdir(dir, "victim");
		int vf = vd >= 0 ? openat(vd, "sync.db-wal",
					  O_WRONLY | O_CREAT | O_CLOEXEC, 0600)
				 : -1;
		ok(vf >= 0 && write(vf, "victim", 6) == 6,
		   "moved: the victim has a file named sync.db-wal");
		if (vf >= 0)
			close(vf);
		if (vd >= 0)
			close(vd);
	}
	(void)snprintf(p, sizeof(p), "%s/moved", dir);
	(void)snprintf(q, sizeof(q), "%s/moved-away", dir);
	ok(rename(p, q) == 0, "moved: renamed away");
	(void)snprintf(q, sizeof(q), "%s/victim", dir);
	ok(symlink(q, p) == 0, "moved: its old name points at the victim");
	for (int i = 0; i < 200; i++) {
		char name[32];
		(void)snprintf(name, sizeof(name), "after-%d", i);
		if (state_put(s, name, &e) < 0)
			n = -1;
	}
	ok(n != -1 && state_get(s, "after-199", &g) == 0,
	   "moved: writes go on");
	state_close(s);
	ok(exists(dir, "victim/sync.db-wal") && !exists(dir, "victim/sync.db"),
	   "moved: the victim's files are untouched after close");
	if (fd >= 0)
		close(fd);
	(void)snprintf(p, sizeof(p), "%s/moved-away", dir);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok(fd >= 0 && state_open(fd, "x", &s) == 0 &&
	       state_get(s, "after-199", &g) == 0,
	   "moved: the entries are in the moved directory");
	state_close(s);
	if (fd >= 0)
		close(fd);

	/* WAL and shared memory overwritten while open: tracking goes on. */
	fd = subdir(dir, "damaged");
	ok(fd >= 0 && state_open(fd, "x", &s) == 0, "damaged: opened");
	n = 0;
	for (int i = 0; i < 100; i++) {
		char name[32];
		(void)snprintf(name, sizeof(name), "f%d", i);
		n += state_put(s, name, &e) == 0;
	}
	is_int(n, 100, "damaged: entries written");
	overwrite(fd, "sync.db-shm");
	overwrite(fd, "sync.db-wal");
	n = 0;
	for (int i = 0; i < 100; i++) {
		char name[32];
		(void)snprintf(name, sizeof(name), "g%d", i);
		n += state_put(s, name, &e) == 0;
	}
	is_int(n, 100, "damaged: every later write still works");
	ok(state_get(s, "g99", &g) == 0 && state_count(s) >= 100,
	   "damaged: and is read back");
	state_close(s);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	char tmpl[] = "/tmp/ti-state.XXXXXX";
	char *dir = mkdtemp(tmpl);
	int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	struct state *s = NULL;
	struct state_entry e, g;
	struct stat st;
	int n = 0;

	if (dfd < 0) {
		skip(1, "no temporary directory");
		return tap_done();
	}
	is_int(state_open(dfd, "s3://b at x users/u/openclaw/", &s), 0, "open");
	entry(&e, 10, "d41d8cd98f00b204e9800998ecf8427e");
	is_int(state_put(s, "a.txt", &e), 0, "put");
	entry(&e, 20, "abc-2");
	ok(state_put(s, "dir/b.txt", &e) == 0 &&
	       state_put(s, "dir/sub/c.txt", &e) == 0 &&
	       state_put(s, "dir2/d.txt", &e) == 0,
	   "more entries");
	ok(state_get(s, "a.txt", &g) == 0 && g.size == 10 &&
	       g.mtime_ns == 1700000000123456789LL && g.ino == 42 &&
	       strcmp(g.etag, "d41d8cd98f00b204e9800998ecf8427e") == 0,
	   "get returns what was put");
	is_int(state_get(s, "nope", &g), -ENOENT, "absent entry");
	is_int(state_count(s), 4, "count");
	(void)state_foreach(s, "dir/", count_cb, &n);
	is_int(n, 2, "prefix scan does not include dir2/");
	is_int(state_foreach(s, "dir/", delete_cb, s), 0,
	       "callbacks may change the database");
	is_int(state_count(s), 2, "deleted during the scan");
	state_close(s);

	is_int(state_open(dfd, "s3://b at x users/u/openclaw/", &s), 0,
	       "reopen (same location)");
	is_int(state_count(s), 2, "entries survived");
	state_close(s);
	is_int(state_open(dfd, "file:///elsewhere openclaw/", &s), 0,
	       "open for another storage location");
	is_int(state_count(s), 0, "entries for the old location dropped");
	state_close(s);

	{
		int fd = openat(dfd, "sync.db", O_WRONLY | O_TRUNC | O_CLOEXEC);
		ok(fd >= 0 && write(fd, "garbage, not a database at all....",
				    34) == 34,
		   "database corrupted");
		if (fd >= 0)
			close(fd);
		(void)unlinkat(dfd, "sync.db-wal", 0);
		(void)unlinkat(dfd, "sync.db-shm", 0);
		ok(state_open(dfd, "x", &s) == 0 && state_count(s) == 0,
		   "an unreadable database is replaced by an empty one");
		entry(&e, 5, "e");
		ok(state_put(s, "z", &e) == 0, "and works");
		state_close(s);
	}

	memset(&st, 0, sizeof(st));
	st.st_size = 10;
	st.st_mtim.tv_sec = 1700000000;
	st.st_mtim.tv_nsec = 123456789;
	st.st_ino = 42;
	st.st_ctim.tv_sec = 1700000001;
	entry(&e, 10, "x");
	ok(state_entry_matches(&e, &st), "stat matches its entry");
	st.st_ctim.tv_nsec = 1;
	ok(!state_entry_matches(&e, &st), "a ctime change is a change");
	st.st_ctim.tv_nsec = 0;
	st.st_ino = 43;
	ok(!state_entry_matches(&e, &st), "a new inode is a change");

	{
		char name[64];
		int fd = openat(dfd, "sync.db", O_RDONLY | O_CLOEXEC);
		int snap;
		ok(fd >= 0 && sqlsnap_is_sqlite(fd), "SQLite header detected");
		if (fd >= 0)
			close(fd);
		fd = openat(dfd, "plain", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		ok(fd >= 0 && write(fd, "SQLite format 2", 15) == 15 &&
		       !sqlsnap_is_sqlite(fd),
		   "not fooled by a near miss");
		ok(fd < 0 || !sqlsnap_is_side_file(fd),
		   "an ordinary file is no side file");
		if (fd >= 0)
			close(fd);
		{
			static const unsigned char jnl[12] = {
			    0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
			fd = openat(dfd, "j-journal",
				    O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			ok(fd >= 0 && sqlsnap_is_side_file(fd),
			   "an empty (just created) one counts as one");
			ok(fd >= 0 && write(fd, jnl, sizeof(jnl)) == 12 &&
			       sqlsnap_is_side_file(fd),
			   "a rollback journal's header is recognised");
			if (fd >= 0)
				close(fd);
			fd = openat(dfd, "w-wal", O_RDWR | O_CREAT | O_CLOEXEC,
				    0600);
			ok(fd >= 0 && write(fd, "\x37\x7f\x06\x82", 4) == 4 &&
			       sqlsnap_is_side_file(fd),
			   "a WAL header is recognised");
			if (fd >= 0)
				close(fd);
		}
		snap = sqlsnap_take(dfd, "sync.db", dfd, name, sizeof(name));
		ok(snap >= 0, "snapshot taken");
		if (snap >= 0) {
			struct state *c = NULL;
			ok(sqlsnap_is_sqlite(snap),
			   "the snapshot is a database");
			close(snap);
			/* Read the copy through the state module itself. */
			ok(renameat(dfd, name, dfd, "copy.db") == 0 &&
			       mkdirat(dfd, "c", 0700) == 0 &&
			       renameat(dfd, "copy.db", dfd, "c/sync.db") == 0,
			   "snapshot moved");
			fd = openat(dfd, "c", O_RDONLY | O_DIRECTORY);
			ok(state_open(fd, "x", &c) == 0 &&
			       state_get(c, "z", &g) == 0 && g.size == 5,
			   "the snapshot holds the data");
			state_close(c);
			if (fd >= 0)
				close(fd);
		}
		is_int(sqlsnap_take(dfd, "plain", dfd, name, sizeof(name)),
		       -EINVAL, "not a database: -EINVAL (uploaded as is)");
	}
	hostile(dir);
	close(dfd);
	{
		char cmd[PATH_MAX + 16];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	return tap_done();
}
