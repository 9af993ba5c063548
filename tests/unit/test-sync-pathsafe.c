/* SPDX-License-Identifier: MIT */
/* Restore path safety (sync/pathsafe.c). */
#include "sync/pathsafe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tap.h"

static bool refused(const char *s, size_t len)
{
	return pathsafe_check(s, len) != NULL;
}

#define REFUSED(lit) refused(lit, sizeof(lit) - 1)

int main(void)
{
	char tmpl[] = "/tmp/ti-pathsafe.XXXXXX";
	char outside[PATH_MAX], name[64], esc[64];
	char *root = mkdtemp(tmpl);
	struct stat st;
	const char *leaf;
	int rootfd, fd;

	ok(!REFUSED("a.txt"), "plain name accepted");
	ok(!REFUSED("dir/sub/ü x.txt"), "nested, unicode and space accepted");
	ok(!REFUSED("..a/b..c/...") && !REFUSED(".hidden"),
	   "dots inside names are fine");
	ok(REFUSED(""), "empty refused");
	ok(REFUSED("/etc/passwd"), "absolute refused");
	ok(REFUSED("a//b"), "empty segment refused");
	ok(REFUSED("a/"), "trailing slash refused");
	ok(REFUSED(".."), "'..' refused");
	ok(REFUSED("a/../../b"), "'..' inside refused");
	ok(REFUSED("a/.."), "'..' at the end refused");
	ok(REFUSED("./a"), "'.' refused");
	ok(REFUSED("a\nb"), "newline refused");
	ok(REFUSED("a\x1b[31m"), "escape sequence refused");
	ok(REFUSED("a\x7f"), "DEL refused");
	ok(REFUSED("a\0b"), "embedded NUL refused (length given)");
	{
		char *longseg = malloc(300);
		memset(longseg, 'x', 299);
		longseg[299] = '\0';
		ok(refused(longseg, 299), "segment over NAME_MAX refused");
		free(longseg);
	}

	if (!root) {
		skip(13, "no temporary directory");
		return tap_done();
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	(void)snprintf(outside, sizeof(outside), "%s.out", root);
	(void)mkdir(outside, 0700);
	ok(symlinkat(outside, rootfd, "link") == 0, "symlink to outside made");
	fd = pathsafe_open_parent(rootfd, "link/evil", true, (uid_t)-1,
				  (gid_t)-1, &leaf);
	ok(fd == -ELOOP || fd == -ENOTDIR,
	   "a parent through a symlink is refused (%d)", fd);
	fd = pathsafe_open_parent(rootfd, "a/b/c.txt", true, (uid_t)-1,
				  (gid_t)-1, &leaf);
	ok(fd >= 0 && strcmp(leaf, "c.txt") == 0,
	   "missing parents are created");
	if (fd >= 0)
		close(fd);
	ok(stat("/tmp", &st) == 0 && fstatat(rootfd, "a/b", &st, 0) == 0 &&
	       (st.st_mode & 0777) == 0700,
	   "created directories are 0700");
	fd = open(outside, O_RDONLY);
	ok(fd >= 0 && fstatat(fd, "evil", &st, 0) < 0,
	   "nothing was written outside the root");
	if (fd >= 0)
		close(fd);
	fd = pathsafe_mktemp(rootfd, "t-", name, sizeof(name));
	ok(fd >= 0 && strncmp(name, "t-", 2) == 0 && strlen(name) == 18,
	   "mktemp makes a unique name");
	if (fd >= 0)
		close(fd);
	ok(symlinkat(outside, rootfd, "f") == 0 &&
	       pathsafe_open_read(rootfd, "f", &st) == -ELOOP,
	   "a symlinked file is not read");
	fd = pathsafe_lstat(rootfd, "link/x", &st);
	ok(fd == -ELOOP || fd == -ENOTDIR, "lstat through a symlink refused");
	/* ".." is an ordinary directory to O_NOFOLLOW: refused by name. */
	is_int(pathsafe_open_dir(rootfd, "a/..", false, (uid_t)-1, (gid_t)-1),
	       -EINVAL, "open_dir: a '..' segment is refused");
	is_int(pathsafe_open_dir(rootfd, "a/./b", false, (uid_t)-1, (gid_t)-1),
	       -EINVAL, "open_dir: a '.' segment is refused");
	fd = pathsafe_open_parent(rootfd, "a/../../escape", true, (uid_t)-1,
				  (gid_t)-1, &leaf);
	is_int(fd, -EINVAL, "open_parent: '..' on the way is refused");
	if (fd >= 0)
		close(fd);
	is_int(pathsafe_lstat(rootfd, "a/../..", &st), -EINVAL,
	       "lstat: '..' is refused");
	{
		/* Two walks of the root must both see everything. */
		int counts[2];
		for (int k = 0; k < 2; k++) {
			int dfd = pathsafe_open_dir(rootfd, "", false,
						    (uid_t)-1, (gid_t)-1);
			DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
			counts[k] = 0;
			while (d && readdir(d))
				counts[k]++;
			if (d)
				closedir(d);
		}
		ok(counts[0] > 2 && counts[0] == counts[1],
		   "the root can be walked twice (%d, %d entries)", counts[0],
		   counts[1]);
	}
	pathsafe_escape("a\nb\\c", 5, esc, sizeof(esc));
	is_str(esc, "a\\x0ab\\x5cc", "keys are escaped for logs");
	close(rootfd);
	{
		char cmd[PATH_MAX * 2 + 32];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root,
			       outside);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	return tap_done();
}
