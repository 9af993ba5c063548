/* SPDX-License-Identifier: MIT */
/*
 * A string-keyed hash map (chained, FNV-1a) for the sync agent's sets of
 * paths: watched directories, dirty files, names seen in a listing. Keys
 * are copied; values are the caller's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strmap;

/* Create an empty map. Returns NULL and sets errno on failure. */
struct strmap *strmap_new(void);

/* Free the map and its key copies; values are not touched. */
void strmap_free(struct strmap *m);

/* The value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/* True when key is present (its value may be NULL). */
bool strmap_has(const struct strmap *m, const char *key);

/*
 * Insert or replace. Returns 0 or -ENOMEM. When the key existed its old
 * value is stored in *old (if old is not NULL).
 */
int strmap_put(struct strmap *m, const char *key, void *value, void **old);

/* Remove key; returns its value (NULL when absent). */
void *strmap_del(struct strmap *m, const char *key);

/* Number of entries. */
size_t strmap_size(const struct strmap *m);

/*
 * Call cb for every entry; cb may delete the current entry (only that one)
 * by returning true. Order is unspecified.
 */
void strmap_foreach(struct strmap *m,
		    bool (*cb)(void *ctx, const char *key, void *value),
		    void *ctx);

/*
 * The stored copy of key (stable while the entry exists), or NULL: lets
 * callers keep one copy of a path in their own structs.
 */
const char *strmap_key(const struct strmap *m, const char *key);
