/* SPDX-License-Identifier: MIT */
/*
 * Files tenant-init itself reads at boot, synced under rules of their own.
 *
 * The gateway owns the data directory, so it can write whatever it likes
 * into openclaw.json or put a blob that never decrypts where the stored
 * key lives. Synced like any file, that damage reaches the bucket and
 * every later boot of the tenant stops with exit 78: a permanent outage
 * the gateway could cause at will. So, at the top of every sync root:
 *
 *   .tenant/...    the platform's (the stored key): only files of root's
 *                  are uploaded; a local file of anyone else's does not
 *                  count as a local change at restore (storage wins);
 *                  restored files and directories stay root's
 *   openclaw.json  uploaded only when it is a JSON object; a local one
 *                  that is not (or not a regular file) does not count at
 *                  restore (storage wins, the local one is set aside);
 *                  nothing below a directory of that name is uploaded
 *
 * and the deletion of either never propagates: storage keeps the last good
 * version. The platform replaces them in storage or through a root process
 * in the container.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* The file names (relative to a sync root; keys.h, occonfig.h agree). */
#define BOOTFILES_CONFIG   "openclaw.json"
#define BOOTFILES_KEY_LEAF "api-key.enc" /* in SYNC_MANAGED_DIR */

/* Is rel in the platform's directory (.tenant/...)? */
bool bootfiles_is_managed(const char *rel);

/* Is rel one of the boot files, whose deletion never propagates? */
bool bootfiles_keeps_deletion(const char *rel);

/*
 * Why the file rel (open as fd, stat st) must not be uploaded, or NULL:
 * a file in .tenant/ that is not root's, an openclaw.json that is not a
 * JSON object, anything below a directory named openclaw.json.
 */
const char *bootfiles_upload_refusal(const char *rel, int fd,
				     const struct stat *st);

/*
 * Does the local rel below rootfd (which exists) fail to count as the
 * tenant's own version at restore, so that storage's wins? See above.
 */
bool bootfiles_local_unusable(int rootfd, const char *rel);

/*
 * The owner a restored rel gets: the gateway's (uid/gid as given), or
 * (uid_t)-1/(gid_t)-1 (the agent's, root) in the platform's directory.
 */
void bootfiles_owner(const char *rel, uid_t *uid, gid_t *gid);
