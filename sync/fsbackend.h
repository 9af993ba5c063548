/* SPDX-License-Identifier: MIT */
/*
 * The file:// backend: objects as plain files under a local directory,
 * with the semantics of the S3 backend. A write goes to a temporary file
 * in the target directory, is fsynced and renamed into place (readers
 * never see half an object); the modification time is the file's own
 * mtime (so rclone's local backend reads it too) and is also kept, with
 * the content MD5 that serves as the ETag, in user xattrs where the file
 * system has them. It is the embedded default of `make demo` and what
 * tests use when they need no S3.
 */
#pragma once

#include <stddef.h>

#include "sync/backend.h"

/* Temporary files of the backend start with this (never listed). */
#define FS_BACKEND_TMP_PREFIX ".tenant-init-tmp."

/* See backend_new(). root is created when missing. */
struct backend *fs_backend_new(struct loop *loop, const char *root, char *err,
			       size_t errlen);
