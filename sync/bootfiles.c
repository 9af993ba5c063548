/* SPDX-License-Identifier: MIT */
#include "sync/bootfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "sync/glob.h"
#include "sync/pathsafe.h"

/* PID 1 reads at most this much of openclaw.json (OCCONFIG_MAX_SIZE). */
#define CONFIG_MAX (4u << 20)

bool bootfiles_is_managed(const char *rel)
{
	size_t n = strlen(SYNC_MANAGED_DIR);

	return strncmp(rel, SYNC_MANAGED_DIR, n) == 0 && rel[n] == '/';
}

static bool under_config(const char *rel)
{
	size_t n = strlen(BOOTFILES_CONFIG);

	return strncmp(rel, BOOTFILES_CONFIG, n) == 0 && rel[n] == '/';
}

bool bootfiles_keeps_deletion(const char *rel)
{
	return bootfiles_is_managed(rel) || strcmp(rel, BOOTFILES_CONFIG) == 0;
}

/*
 * Is the regular file fd (size bytes) a JSON object, as PID 1 reads it
 * (strict JSON, no NUL byte, at most CONFIG_MAX)?
 */
static bool is_json_object(int fd, off_t size)
{
	_cleanup_free_ char *buf = NULL;
	json_error_t jerr;
	json_t *j;
	size_t n = 0;
	bool ok;

	if (size < 0 || (unsigned long long)size > CONFIG_MAX)
		return false;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return false;
	while (n < (size_t)size) {
		ssize_t k = pread(fd, buf + n, (size_t)size - n, (off_t)n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		n += (size_t)k;
	}
	if (memchr(buf, '\0', n))
		return false;
	j = json_loadb(buf, n, 0, &jerr);
	ok = json_is_object(j);
	json_decref(j);
	return ok;
}

const char *bootfiles_upload_refusal(const char *rel, int fd,
				     const struct stat *st)
{
	if (bootfiles_is_managed(rel) && st->st_uid != geteuid())
		return "a file of the platform's directory that is not "
		       "root's (the gateway's?)";
	if (under_config(rel))
		return "below a directory named openclaw.json (which must "
		       "be a file)";
	if (strcmp(rel, BOOTFILES_CONFIG) == 0 &&
	    !is_json_object(fd, st->st_size))
		return "openclaw.json is not a JSON object (PID 1 could not "
		       "read it at the next boot)";
	return NULL;
}

bool bootfiles_local_unusable(int rootfd, const char *rel)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (bootfiles_is_managed(rel))
		return pathsafe_lstat(rootfd, rel, &st) == 0 &&
		       st.st_uid != geteuid();
	if (strcmp(rel, BOOTFILES_CONFIG) != 0)
		return false;
	fd = pathsafe_open_read(rootfd, rel, &st);
	return fd < 0 || !is_json_object(fd, st.st_size);
}

void bootfiles_owner(const char *rel, uid_t *uid, gid_t *gid)
{
	if (bootfiles_is_managed(rel)) {
		*uid = (uid_t)-1;
		*gid = (gid_t)-1;
	}
}
