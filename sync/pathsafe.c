/* SPDX-License-Identifier: MIT */
#include "sync/pathsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "init/cleanup.h"

const char *pathsafe_check(const char *rel, size_t len)
{
	const char *seg = rel;

	if (len == 0)
		return "empty path";
	if (len > PATHSAFE_MAX)
		return "path too long";
	if (rel[0] == '/')
		return "absolute path";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rel[i];

		if (c == 0)
			return "NUL character";
		if (c < 0x20 || c == 0x7f)
			return "control character";
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && rel[i] != '/')
			continue;
		size_t n = (size_t)(rel + i - seg);
		if (n == 0)
			return "empty path segment";
		if (n > NAME_MAX)
			return "path segment too long";
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return "'.' or '..' segment";
		seg = rel + i + 1;
	}
	return NULL;
}

static int open_child_dir(int dfd, const char *name, bool create, uid_t uid,
			  gid_t gid)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dfd, name, flags);

	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd : -errno;
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, flags);
	if (fd < 0)
		return -errno;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchown(fd, uid, gid) < 0) {
		int err = -errno;
		(void)close(fd);
		return err;
	}
	return fd;
}

int pathsafe_reopen_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int pathsafe_open_dir(int rootfd, const char *reldir, bool create, uid_t uid,
		      gid_t gid)
{
	char name[NAME_MAX + 1];
	int fd = pathsafe_reopen_dir(rootfd);
	const char *p = reldir;

	if (fd < 0)
		return fd;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int next;

		/*
		 * "." and ".." are not names of the tree: ".." would climb
		 * out of the root through a perfectly ordinary directory,
		 * which O_NOFOLLOW does not stop.
		 */
		if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			(void)close(fd);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		next = open_child_dir(fd, name, create, uid, gid);
		(void)close(fd);
		if (next < 0)
			return next;
		fd = next;
		p += n;
		if (*p == '/')
			p++;
	}
	return fd;
}

int pathsafe_open_parent(int rootfd, const char *rel, bool create, uid_t uid,
			 gid_t gid, const char **leaf)
{
	const char *slash = strrchr(rel, '/');
	_cleanup_free_ char *dir = NULL;

	if (!slash) {
		*leaf = rel;
		return pathsafe_open_dir(rootfd, "", create, uid, gid);
	}
	dir = strndup(rel, (size_t)(slash - rel));
	if (!dir)
		return -ENOMEM;
	*leaf = slash + 1;
	return pathsafe_open_dir(rootfd, dir, create, uid, gid);
}

int pathsafe_lstat(int rootfd, const char *rel, struct stat *st)
{
	const char *leaf;
	_cleanup_close_ int dfd = pathsafe_open_parent(
	    rootfd, rel, false, (uid_t)-1, (gid_t)-1, &leaf);

	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, leaf, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int pathsafe_open_read(int rootfd, const char *rel, struct stat *st)
{
	const char *leaf;
	_cleanup_close_ int dfd = pathsafe_open_parent(
	    rootfd, rel, false, (uid_t)-1, (gid_t)-1, &leaf);
	int fd;

	if (dfd < 0)
		return dfd;
	/* O_NONBLOCK: a FIFO planted under the name must not block us. */
	fd = openat(dfd, leaf,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int err = -errno;
		(void)close(fd);
		return err;
	}
	if (!S_ISREG(st->st_mode)) {
		(void)close(fd);
		return -EINVAL;
	}
	return fd;
}

int pathsafe_mktemp(int dirfd, const char *prefix, char *name, size_t cap)
{
	for (int tries = 0; tries < 16; tries++) {
		uint64_t rnd;
		int fd;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		if ((size_t)snprintf(name, cap, "%s%016llx", prefix,
				     (unsigned long long)rnd) >= cap)
			return -ENAMETOOLONG;
		fd = openat(dirfd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int pathsafe_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			break;
	}
	return 0;
}

void pathsafe_escape(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c >= 0x20 && c != 0x7f && c != '\\';

		if (o + (plain ? 1 : 4) + 4 > cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (plain)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}
