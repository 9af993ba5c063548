/* SPDX-License-Identifier: MIT */
/*
 * The boot restore: storage -> disk for every root, before the gateway
 * starts (DESIGN.md "Data safety rules").
 *
 * Each root's prefix is listed page by page; downloads start while later
 * pages are still coming. For each object: a key that is not a safe
 * relative path, or that would pass through a symlink, is refused and
 * logged; a local file changed since it was last synced is kept (the
 * uploader sends it later); a file already identical is left alone (a
 * warm restart downloads nothing); everything else is downloaded to a
 * temporary file in ROOT/.tenant-init/tmp, verified, fsynced, given its
 * mtime (and owner), and renamed into place. Local files the bucket does
 * not have are kept. Storage errors are retried with backoff for as long
 * as it takes: a restore never ends half done, and a failed restore never
 * leads to deletions (the uploader only starts after a complete one).
 * When a root's prefix is empty and it is "openclaw/", the legacy
 * "clawdbot/" layout of the old scripts is restored instead.
 */
#pragma once

struct engine;
struct restore;

/*
 * done(ctx) runs once every root is restored. Returns NULL and sets errno.
 */
struct restore *restore_new(struct engine *e, void (*done)(void *ctx),
			    void *ctx);

/* Begin. Returns 0 or -errno. */
int restore_start(struct restore *r);

/* Abandon: abort transfers, remove temporary files; no callback. */
void restore_cancel(struct restore *r);

/* Free (cancels first). NULL is accepted. */
void restore_free(struct restore *r);
