/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: object keys turned into local paths (sync/pathsafe.c).
 *
 * The input is a relative object key as a listing could deliver it (any
 * bytes, NUL included). pathsafe_check() decides whether it may become a
 * local file; when it says yes, the key's parent is opened below a scratch
 * root with create (as the restore does before writing) and the file is
 * created there. The root holds a planted symlink "link" to a directory
 * outside it and a regular file "file".
 *
 * Invariants: an accepted key is relative, within PATHSAFE_MAX, has no
 * empty, "." or ".." segment and no control byte; whatever the key, no
 * file ever appears in the directory outside the root (the symlink is
 * never followed), and a key through "link/" or "file/" fails; the escaped
 * form of any key is printable and NUL-terminated.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "sync/pathsafe.h"
#include "tests/fuzz/fuzz.h"

static int rootfd = -1;
static char outside[128];

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	FUZZ_ASSERT(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static int rm_cb(const char *path, const struct stat *sb, int type,
		 struct FTW *ftw)
{
	(void)sb;
	(void)type;
	if (ftw->level > 0)
		(void)remove(path);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char root[160];
	int fd;

	(void)argc;
	(void)argv;
	(void)snprintf(outside, sizeof(outside), "%s/outside", fuzz_tmpdir());
	(void)snprintf(root, sizeof(root), "%s/root", fuzz_tmpdir());
	FUZZ_ASSERT(mkdir(outside, 0700) == 0 && mkdir(root, 0700) == 0);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(rootfd >= 0);
	FUZZ_ASSERT(symlinkat(outside, rootfd, "link") == 0);
	fd = openat(rootfd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	close(fd);
	return 0;
}

static void check_accepted(const char *key, size_t len)
{
	size_t seg = 0;

	FUZZ_ASSERT(len > 0 && len <= PATHSAFE_MAX);
	FUZZ_ASSERT(key[0] != '/');
	for (size_t i = 0; i <= len; i++) {
		if (i == len || key[i] == '/') {
			FUZZ_ASSERT(seg > 0);
			FUZZ_ASSERT(!(seg == 1 && key[i - 1] == '.'));
			FUZZ_ASSERT(!(seg == 2 && key[i - 1] == '.' &&
				      key[i - 2] == '.'));
			seg = 0;
			continue;
		}
		FUZZ_ASSERT((unsigned char)key[i] >= 0x20 && key[i] != 0x7f);
		seg++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *key = fuzz_strndup(data, size);
	char esc[256];
	const char *why, *leaf = NULL;
	int dfd;

	fuzz_begin();
	pathsafe_escape((const char *)data, size, esc, sizeof(esc));
	FUZZ_ASSERT(memchr(esc, '\0', sizeof(esc)));
	for (const char *p = esc; *p; p++)
		FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);

	why = pathsafe_check((const char *)data, size);
	if (why == NULL) {
		check_accepted((const char *)data, size);
		dfd = pathsafe_open_parent(rootfd, key, true, (uid_t)-1,
					   (gid_t)-1, &leaf);
		if (strncmp(key, "link/", 5) == 0 ||
		    strncmp(key, "file/", 5) == 0)
			FUZZ_ASSERT(dfd < 0);
		if (dfd >= 0) {
			int fd = openat(dfd, leaf,
					O_WRONLY | O_CREAT | O_NOFOLLOW |
					    O_CLOEXEC | O_NONBLOCK,
					0600);
			if (fd >= 0)
				close(fd);
			close(dfd);
		}
		FUZZ_ASSERT(dir_is_empty(outside));
		/* Leave only the planted entries for the next run. */
		{
			char root[160];
			(void)snprintf(root, sizeof(root), "%s/root",
				       fuzz_tmpdir());
			(void)nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
			FUZZ_ASSERT(symlinkat(outside, rootfd, "link") == 0);
			int fd = openat(rootfd, "file",
					O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			FUZZ_ASSERT(fd >= 0);
			close(fd);
		}
	}
	free(key);
	fuzz_end();
	return 0;
}
