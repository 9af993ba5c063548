/* SPDX-License-Identifier: MIT */
#include "sync/sqlsnap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init/log.h"
#include "sync/pathsafe.h"

static const char sqlite_magic[16] = "SQLite format 3";

/* How long a snapshot waits for a writer's lock, in the agent's loop. */
#define SNAP_BUSY_MS 100

bool sqlsnap_is_sqlite(int fd)
{
	char buf[16];

	return pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
	       memcmp(buf, sqlite_magic, sizeof(buf)) == 0;
}

bool sqlsnap_is_side_file(int fd)
{
	/* WAL header magic (either byte order of checksums), big-endian. */
	static const unsigned char wal1[4] = {0x37, 0x7f, 0x06, 0x82};
	static const unsigned char wal2[4] = {0x37, 0x7f, 0x06, 0x83};
	/* The rollback journal's header magic. */
	static const unsigned char jnl[8] = {0xd9, 0xd5, 0x05, 0xf9,
					     0x20, 0xa1, 0x63, 0xd7};
	static const unsigned char zero[8];
	unsigned char buf[8];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	if (n == 0)
		return true; /* just created */
	if (n >= 4 && (memcmp(buf, wal1, 4) == 0 || memcmp(buf, wal2, 4) == 0))
		return true;
	/* A journal in PERSIST mode has its header zeroed when done. */
	return n == 8 &&
	       (memcmp(buf, jnl, 8) == 0 || memcmp(buf, zero, 8) == 0);
}

/* The real path of an open directory (no symlinks in it). */
static int dir_path(int dirfd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	(void)snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, buf, cap - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= cap - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN:
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int sqlsnap_take(int dirfd, const char *leaf, int tmpdirfd, char *name,
		 size_t cap)
{
	char src_dir[PATH_MAX], tmp_dir[PATH_MAX], path[PATH_MAX + NAME_MAX];
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b;
	int fd, rc, r;

	r = dir_path(dirfd, src_dir, sizeof(src_dir));
	if (r == 0)
		r = dir_path(tmpdirfd, tmp_dir, sizeof(tmp_dir));
	if (r < 0)
		return r;
	fd = pathsafe_mktemp(tmpdirfd, "snap-", name, cap);
	if (fd < 0)
		return fd;
	(void)close(fd);

	/*
	 * NOFOLLOW: no symlink anywhere in the resolved path, so the file
	 * checked by the caller is the one read, not something a link
	 * swapped in meanwhile points at.
	 */
	(void)snprintf(path, sizeof(path), "%s/%s", src_dir, leaf);
	rc = sqlite3_open_v2(path, &src,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW |
				 SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc == SQLITE_OK) {
		(void)sqlite3_busy_timeout(src, SNAP_BUSY_MS);
		(void)snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
		rc = sqlite3_open_v2(path, &dst,
				     SQLITE_OPEN_READWRITE |
					 SQLITE_OPEN_NOFOLLOW |
					 SQLITE_OPEN_NOMUTEX,
				     NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst,
				  "PRAGMA journal_mode=OFF;"
				  "PRAGMA synchronous=OFF;",
				  NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		b = sqlite3_backup_init(dst, "main", src, "main");
		if (!b) {
			rc = sqlite3_errcode(dst);
		} else {
			/* -1: all pages in one step, one read transaction. */
			rc = sqlite3_backup_step(b, -1);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
			if (sqlite3_backup_finish(b) != SQLITE_OK &&
			    rc == SQLITE_OK)
				rc = sqlite3_errcode(dst);
		}
	}
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY &&
	    (rc & 0xff) != SQLITE_LOCKED)
		log_debug("snapshot of %s: %s", leaf, sqlite3_errstr(rc));
	(void)sqlite3_close(src);
	(void)sqlite3_close(dst);
	if (rc != SQLITE_OK) {
		(void)unlinkat(tmpdirfd, name, 0);
		return sqlite_to_errno(rc);
	}
	fd = openat(tmpdirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		(void)unlinkat(tmpdirfd, name, 0);
		return r;
	}
	return fd;
}
