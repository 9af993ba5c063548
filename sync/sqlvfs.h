/* SPDX-License-Identifier: MIT */
/*
 * Opening SQLite databases through a directory descriptor.
 *
 * SQLite's unix VFS turns every database name into a canonical path first:
 * it resolves each symlink with readlink(), "/proc/self/fd/N/x.db"
 * included, and then opens, stats and deletes the database, its -wal,
 * -shm and -journal by that path string. In a directory that the gateway
 * owns (the data directory) or that it can rename (ours inside it), a path
 * string can be swapped between two of those calls, and the root agent
 * would then create or read a file wherever a symlink points.
 *
 * The names made here are "/proc/self/fd/N/LEAF", and they are opened with
 * a VFS that is the unix VFS in everything except that it leaves such a
 * name as it is. /proc/self/fd/N is a magic link: the kernel follows it to
 * the open directory itself, not to the path it had, so every file SQLite
 * touches is LEAF (or LEAF-wal, ...) in that very directory, wherever it
 * has been moved meanwhile. SQLite opens the final component with
 * O_NOFOLLOW, so a symlink planted as LEAF is refused, not followed.
 */
#pragma once

#include <stddef.h>

/* The name of the VFS for sqlite3_open_v2()'s last argument. */
#define SQLVFS_NAME "tenant-init-fd"

/*
 * Register the VFS (once per process; later calls do nothing). Returns 0
 * or -ENOENT when SQLite has no unix VFS, -ENOMEM.
 */
int sqlvfs_register(void);

/*
 * The name that opens leaf in the directory dirfd through the VFS.
 * Returns 0, or -ENAMETOOLONG when it does not fit cap.
 */
int sqlvfs_name(int dirfd, const char *leaf, char *buf, size_t cap);
