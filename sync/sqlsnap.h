/* SPDX-License-Identifier: MIT */
/*
 * Consistent copies of live SQLite databases.
 *
 * Copying a database file byte by byte while its owner writes to it can
 * capture half a transaction, and in WAL mode the file alone is not even
 * the database. SQLite's online backup API copies it page by page inside
 * one read transaction, WAL included, into a new single file: that copy is
 * what gets uploaded (DESIGN.md: "uploaded from a consistent snapshot,
 * never torn").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when fd starts with the 16-byte header "SQLite format 3\0". */
bool sqlsnap_is_sqlite(int fd);

/*
 * True when fd looks like a SQLite -wal or -journal file: empty, or
 * starting with the WAL or rollback-journal magic (or a zeroed journal
 * header). Used where the database beside it has no header yet.
 */
bool sqlsnap_is_side_file(int fd);

/*
 * Snapshot the database leaf in directory dirfd into a new file in
 * tmpdirfd (its name goes to name, cap >= 40). Returns a read-only fd of
 * the snapshot, -EBUSY when the database is locked by a writer right now
 * (try again shortly), -EINVAL when it is not a usable database (upload
 * the bytes as they are), or -errno. The caller unlinks name when done.
 */
int sqlsnap_take(int dirfd, const char *leaf, int tmpdirfd, char *name,
		 size_t cap);
