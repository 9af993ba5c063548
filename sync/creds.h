/* SPDX-License-Identifier: MIT */
/*
 * Storage credentials from files, and their rotation.
 *
 * Kubernetes mounts secrets as files and replaces them in place (a new
 * timestamped directory, then the ..data symlink swapped); platforms mint
 * short-lived credentials. So besides the variables themselves, the
 * credentials may come from files:
 *
 *   R2_ACCESS_KEY_ID_FILE, R2_SECRET_ACCESS_KEY_FILE,
 *   AWS_ACCESS_KEY_ID_FILE, AWS_SECRET_ACCESS_KEY_FILE,
 *   AWS_SESSION_TOKEN_FILE    one value each (a trailing newline dropped)
 *   AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE (default "default"):
 *                             the AWS CLI's INI file, aws_access_key_id,
 *                             aws_secret_access_key, aws_session_token
 *
 * PID 1 reads them once at boot (a bad one is exit 78) and hands the
 * values to the agent as it does the variables'; the agent watches the
 * files (their directories: a swapped symlink is a change too) and uses
 * new credentials from the next request on, without a restart. A file
 * that cannot be read, or says nothing new, keeps the old credentials.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "init/config.h"

struct loop;
struct creds_watch;

/*
 * Read the credentials the files in f name into key_id (malloc'd) and
 * secret/token (wiped on free); fields no file names are left as they
 * are. Returns 0, or -errno with "VARIABLE: problem" in err.
 */
int sync_creds_read(const struct sync_cred_files *f, char **key_id,
		    struct secret *secret, struct secret *token, char *err,
		    size_t errlen);

/* Does f name any file? */
bool sync_creds_has_files(const struct sync_cred_files *f);

/*
 * Call changed(ctx, key_id, secret, token) (borrowed for the call) each
 * time the files in f say something new, starting from the values given.
 * Returns NULL and sets errno.
 */
struct creds_watch *creds_watch_new(
    struct loop *loop, const struct sync_cred_files *f, const char *key_id,
    const struct secret *secret, const struct secret *token,
    void (*changed)(void *ctx, const char *key_id, const struct secret *secret,
		    const struct secret *token),
    void *ctx);

/* Stop watching, wipe, free. NULL is accepted. */
void creds_watch_free(struct creds_watch *w);
