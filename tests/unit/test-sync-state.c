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
	close(dfd);
	{
		char cmd[PATH_MAX + 16];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	return tap_done();
}
