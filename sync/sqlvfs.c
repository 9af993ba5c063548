/* SPDX-License-Identifier: MIT */
#include "sync/sqlvfs.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define FD_PREFIX "/proc/self/fd/"

/*
 * The one piece of process-wide state: SQLite keeps a pointer to the VFS
 * it was given, so the struct must outlive every connection. It is filled
 * once from the unix VFS and never changes afterwards.
 */
static sqlite3_vfs fd_vfs;
static int (*unix_full_pathname)(sqlite3_vfs *, const char *, int, char *);

/*
 * A name made by sqlvfs_name() stays as it is: canonicalising it would
 * replace the magic link by the directory's path string, the very thing
 * this VFS exists to avoid. Any other name is the unix VFS's business.
 */
static int full_pathname(sqlite3_vfs *vfs, const char *name, int cap, char *out)
{
	size_t n = strlen(name);

	if (strncmp(name, FD_PREFIX, strlen(FD_PREFIX)) != 0)
		return unix_full_pathname(vfs, name, cap, out);
	if (cap <= 0 || n >= (size_t)cap)
		return SQLITE_CANTOPEN;
	memcpy(out, name, n + 1);
	return SQLITE_OK;
}

int sqlvfs_register(void)
{
	sqlite3_vfs *unix_vfs;

	if (fd_vfs.zName)
		return 0;
	unix_vfs = sqlite3_vfs_find("unix");
	if (!unix_vfs)
		return -ENOENT;
	fd_vfs = *unix_vfs;
	fd_vfs.pNext = NULL;
	fd_vfs.zName = SQLVFS_NAME;
	unix_full_pathname = unix_vfs->xFullPathname;
	fd_vfs.xFullPathname = full_pathname;
	if (sqlite3_vfs_register(&fd_vfs, 0) != SQLITE_OK) {
		memset(&fd_vfs, 0, sizeof(fd_vfs));
		return -ENOMEM;
	}
	return 0;
}

int sqlvfs_name(int dirfd, const char *leaf, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, FD_PREFIX "%d/%s", dirfd, leaf);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}
