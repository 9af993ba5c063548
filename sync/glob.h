/* SPDX-License-Identifier: MIT */
/*
 * TENANT_SYNC_EXCLUDE globs, matched against paths relative to a sync root.
 *
 * `*` and `?` stay within one path segment, `[...]` is a character class
 * (`!` or `^` negates), `\` escapes, and a double star crosses directories:
 * "a/" followed by a double star is everything under a, and "a/", double
 * star, "/b" also matches "a/b". As in rclone, a pattern matches at any
 * depth: "*.log" excludes "x/y/z.log", and ".git/" + double star excludes
 * every .git directory. The sync state directory (.tenant-init/), and
 * every top-level name starting with ".tenant-init", is excluded whatever
 * the globs say.
 */
#pragma once

#include <stdbool.h>

/* The per-root state directory, never synced. */
#define SYNC_STATE_DIR ".tenant-init"

/*
 * The platform's area at the top of a root (the stored key lives in it):
 * root's, not the gateway's; synced under its own rules (upload.c).
 */
#define SYNC_MANAGED_DIR ".tenant"

/* Does pattern match the whole of path? (no any-depth rule) */
bool glob_match(const char *pattern, const char *path);

/*
 * Is the file at rel (relative, no leading '/') excluded by any of the
 * NULL-terminated patterns (or by being under SYNC_STATE_DIR)?
 */
bool glob_excludes_file(char *const *patterns, const char *rel);

/*
 * Is the whole directory rel excluded (a pattern "X/" + double star whose
 * X matches it, or SYNC_STATE_DIR at the top)? Excluded directories are not
 * watched.
 */
bool glob_excludes_dir(char *const *patterns, const char *rel);
