/* SPDX-License-Identifier: MIT */
/*
 * Making the data directory the gateway user's own (chown -R), done by
 * PID 1 after the restore and before the gateway starts.
 *
 * The tree may hold what an earlier gateway run left behind on a
 * persistent volume, so the walk trusts nothing in it: it goes through
 * directory descriptors (openat with O_NOFOLLOW), never follows a symlink
 * (the link itself is lchown'ed), stays on the directory's filesystem, and
 * does not chown what would hand the gateway more than its own data: a
 * regular file with several links (a hard link to a file elsewhere, such
 * as /etc/shadow on the same filesystem), device nodes, sockets, fifos.
 * Nor what the caller keeps for tenant-init itself: the sync agent's
 * state (.tenant-init), whose paths the root agent acts on, and the
 * platform's files (.tenant: the stored key), which the gateway has no
 * business changing.
 */
#include "policy/policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"

/* Deeper than any real data directory; bounds descriptors and stack. */
#define MAX_DEPTH 128

struct walk {
	uid_t uid;
	gid_t gid;
	dev_t dev;
	const char *const *keep; /* top-level names left alone */
	int first_err;
	char path[PATH_MAX];
};

static void note_err(struct walk *w, int e, const char *what)
{
	log_warn_errno(e, "unable to %s %s", what, w->path);
	if (!w->first_err)
		w->first_err = -e;
}

static bool owned(const struct walk *w, const struct stat *st)
{
	return st->st_uid == w->uid && st->st_gid == w->gid;
}

static void walk_dir(struct walk *w, int dfd, unsigned depth);

/* Is name one of the kept names ("NAME", or "PREFIX*")? */
static bool kept(const struct walk *w, const char *name)
{
	for (const char *const *k = w->keep; k && *k; k++) {
		size_t n = strlen(*k);

		if (n && (*k)[n - 1] == '*' ? strncmp(*k, name, n - 1) == 0
					    : strcmp(*k, name) == 0)
			return true;
	}
	return false;
}

static void walk_entry(struct walk *w, int dfd, const char *name,
		       unsigned depth)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		note_err(w, errno, "stat");
		return;
	}
	if (st.st_dev != w->dev) {
		log_warn("not changing the owner of %s: another filesystem",
			 w->path);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int fd = -1;
		struct stat st2;

		fd = openat(dfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st2) < 0) {
			note_err(w, errno, "open");
			return;
		}
		/* Replaced between the stat and the open: leave it. */
		if (st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)
			return;
		if (!owned(w, &st2) && fchown(fd, w->uid, w->gid) < 0)
			note_err(w, errno, "change the owner of");
		walk_dir(w, fd, depth + 1);
		return;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1 && !owned(w, &st)) {
		log_warn("not changing the owner of %s: it has %lu links (a "
			 "hard link to a file elsewhere?)",
			 w->path, (unsigned long)st.st_nlink);
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		log_warn("not changing the owner of %s: not a regular file, "
			 "directory or symlink",
			 w->path);
		return;
	}
	if (!owned(w, &st) &&
	    fchownat(dfd, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) < 0)
		note_err(w, errno, "change the owner of");
}

static void walk_dir(struct walk *w, int dfd, unsigned depth)
{
	size_t base = strlen(w->path);
	int fd2;
	DIR *d;
	struct dirent *de;

	if (depth > MAX_DEPTH) {
		log_warn("not descending into %s: deeper than %d levels",
			 w->path, MAX_DEPTH);
		return;
	}
	fd2 = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd2 < 0) {
		note_err(w, errno, "open");
		return;
	}
	d = fdopendir(fd2);
	if (!d) {
		(void)close(fd2);
		note_err(w, errno, "open");
		return;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (depth == 0 && kept(w, de->d_name))
			continue;
		if ((size_t)snprintf(w->path + base, sizeof(w->path) - base,
				     "/%s",
				     de->d_name) >= sizeof(w->path) - base) {
			w->path[base] = '\0';
			note_err(w, ENAMETOOLONG, "walk");
			continue;
		}
		walk_entry(w, dfd, de->d_name, depth);
		w->path[base] = '\0';
	}
	if (errno)
		note_err(w, errno, "read");
	(void)closedir(d);
}

/* mkdir -p: parents 0755 (root's), the directory itself 0700. */
static int make_dirs(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int policy_chown_tree(const char *dir, uid_t uid, gid_t gid,
		      const char *const *keep)
{
	_cleanup_close_ int fd = -1;
	struct walk w = {.uid = uid, .gid = gid, .keep = keep};
	struct stat st;
	int r;

	if (strlen(dir) >= sizeof(w.path))
		return -ENAMETOOLONG;
	/* The top is the operator's path: a symlink there is followed. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		r = make_dirs(dir);
		if (r < 0) {
			log_warn_errno(r, "unable to create %s", dir);
			return r;
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		log_warn_errno(r, "unable to open %s", dir);
		return r;
	}
	w.dev = st.st_dev;
	memcpy(w.path, dir, strlen(dir) + 1);
	if (!owned(&w, &st) && fchown(fd, uid, gid) < 0)
		note_err(&w, errno, "change the owner of");
	walk_dir(&w, fd, 0);
	return w.first_err;
}

/* ---- tenant-init's own directories inside the gateway's ---- */

/* A directory of ours that nobody else may write into. */
static bool private_dir_is_ours(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == geteuid() &&
	       !(st->st_mode & 022);
}

/* Ours (see above), with a regular file of ours named witness. */
static bool holds_witness(int parentfd, const char *name, const char *witness)
{
	_cleanup_close_ int fd = openat(
	    parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st, w;

	return fd >= 0 && fstat(fd, &st) == 0 && private_dir_is_ours(&st) &&
	       fstatat(fd, witness, &w, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(w.st_mode) && w.st_uid == geteuid();
}

/* A directory of parentfd that is the real name, renamed; or none. */
static int find_renamed(int parentfd, const char *name, const char *witness,
			char *found, size_t cap)
{
	char untrusted[NAME_MAX + 1];
	int fd = fcntl(parentfd, F_DUPFD_CLOEXEC, 3);
	DIR *d;
	struct dirent *de;
	int r = -ENOENT;

	(void)snprintf(untrusted, sizeof(untrusted), "%s.untrusted", name);
	if (fd < 0)
		return -errno;
	/* A dup shares the offset: start from the top, and leave it there. */
	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, name) == 0 ||
		    strncmp(de->d_name, untrusted, strlen(untrusted)) == 0 ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (holds_witness(parentfd, de->d_name, witness) &&
		    (size_t)snprintf(found, cap, "%s", de->d_name) < cap) {
			r = 0;
			break;
		}
	}
	rewinddir(d);
	(void)closedir(d);
	return r;
}

int policy_private_dir_claim(int parentfd, const char *where, const char *name,
			     const char *witness)
{
	char aside[NAME_MAX + 1], found[NAME_MAX + 1];
	struct timespec now;
	struct stat st;

	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (private_dir_is_ours(&st))
			return 0;
		(void)clock_gettime(CLOCK_REALTIME, &now);
		(void)snprintf(aside, sizeof(aside), "%s.untrusted-%llx%09ld",
			       name, (unsigned long long)now.tv_sec,
			       now.tv_nsec);
		log_warn("%s/%s is not tenant-init's own (%s); moved to %s",
			 where, name,
			 !S_ISDIR(st.st_mode)	  ? "not a directory"
			 : st.st_uid != geteuid() ? "another owner"
						  : "writable by others",
			 aside);
		if (renameat(parentfd, name, parentfd, aside) < 0)
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (!witness ||
	    find_renamed(parentfd, name, witness, found, sizeof(found)) < 0)
		return 0;
	if (renameat(parentfd, found, parentfd, name) < 0)
		return -errno;
	log_warn("%s/%s had been renamed to %s; put back", where, name, found);
	return 0;
}
