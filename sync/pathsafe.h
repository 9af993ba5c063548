/* SPDX-License-Identifier: MIT */
/*
 * Paths under a sync root, resolved so that nothing escapes it.
 *
 * Object keys come from storage, which is outside our trust: a key is
 * turned into a local path only after pathsafe_check(), and every
 * directory on the way is opened relative to the root's descriptor with
 * O_NOFOLLOW, so a symlink placed in the tree (by the gateway, say) cannot
 * redirect a write outside the root. Every function here takes the root
 * as an open directory descriptor, never as a path string.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Longest relative path accepted (bytes); a segment is at most NAME_MAX. */
#define PATHSAFE_MAX 4000

/*
 * Why the relative path rel (len bytes, which may hold a NUL) must not
 * become a local file, or NULL when it may: empty, absolute, an empty,
 * "." or ".." segment, a NUL or other control character, too long.
 */
const char *pathsafe_check(const char *rel, size_t len);

/*
 * A new open file description of the directory dirfd (not a dup(), which
 * would share the readdir position: a second walk of a dup'ed root would
 * find the directory already read to its end). Returns the fd or -errno.
 */
int pathsafe_reopen_dir(int dirfd);

/*
 * Open the directory reldir ("" = the root itself) below rootfd, one
 * segment at a time with O_NOFOLLOW. With create, missing directories are
 * made (mode 0700) and, when uid/gid are not -1, given to that owner.
 * Returns an O_DIRECTORY descriptor, or -ELOOP/-ENOTDIR when a segment is
 * a symlink or not a directory, -EINVAL for an empty, "." or ".." segment,
 * or another -errno.
 */
int pathsafe_open_dir(int rootfd, const char *reldir, bool create, uid_t uid,
		      gid_t gid);

/*
 * As pathsafe_open_dir() for the parent of rel; *leaf points into rel at
 * the last segment.
 */
int pathsafe_open_parent(int rootfd, const char *rel, bool create, uid_t uid,
			 gid_t gid, const char **leaf);

/* lstat() of rel below rootfd without following any symlink. 0 or -errno. */
int pathsafe_lstat(int rootfd, const char *rel, struct stat *st);

/*
 * Open the regular file rel for reading without following symlinks on the
 * way or at the end. Returns the fd, -EINVAL when it is not a regular file,
 * or -errno. st receives its fstat().
 */
int pathsafe_open_read(int rootfd, const char *rel, struct stat *st);

/*
 * A key or path made safe to print: control bytes and backslashes as
 * \xNN, cut to fit cap (with "..." when cut).
 */
void pathsafe_escape(const char *s, size_t len, char *out, size_t cap);

/*
 * mkdir -p for a trusted, absolute path from the configuration (symlinks
 * in it are followed: they are the operator's). Returns 0 or -errno.
 */
int pathsafe_mkdir_p(const char *path, mode_t mode);

/*
 * Create a uniquely named file in dirfd ("prefix" + random suffix), mode
 * 0600, O_EXCL. Writes the name into name (cap >= strlen(prefix) + 17).
 * Returns the fd or -errno.
 */
int pathsafe_mktemp(int dirfd, const char *prefix, char *name, size_t cap);
