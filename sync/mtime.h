/* SPDX-License-Identifier: MIT */
/*
 * Modification times in object metadata, the way rclone stores them: the
 * user metadata "mtime" (x-amz-meta-mtime) holding unix seconds with a
 * fraction, "1577934245.123456789". Using rclone's key and format means
 * rclone and tenant-init restore each other's backups with their times.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Longest formatted value, with NUL. */
#define MTIME_STR_MAX 32

/* Format ns (nanoseconds since the epoch) as "SECONDS.NNNNNNNNN". */
void mtime_format(int64_t ns, char *buf, size_t cap);

/*
 * Parse "SECONDS[.FRACTION]" (up to 9 fraction digits are kept, more are
 * ignored; surrounding blanks allowed). Returns 0 with *ns set, or -EINVAL.
 */
int mtime_parse(const char *s, int64_t *ns);
