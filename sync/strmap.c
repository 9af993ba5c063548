/* SPDX-License-Identifier: MIT */
#include "sync/strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *next;
	uint32_t hash;
	void *value;
	char key[];
};

struct strmap {
	struct entry **buckets;
	size_t nbuckets; /* power of two */
	size_t size;
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nbuckets = 64;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void strmap_free(struct strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i];
		while (e) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct entry **find(const struct strmap *m, const char *key, uint32_t h)
{
	struct entry **pp = &m->buckets[h & (m->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			return pp;
	return pp;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct entry *e = *find(m, key, fnv1a(key));

	return e ? e->value : NULL;
}

bool strmap_has(const struct strmap *m, const char *key)
{
	return *find(m, key, fnv1a(key)) != NULL;
}

const char *strmap_key(const struct strmap *m, const char *key)
{
	struct entry *e = *find(m, key, fnv1a(key));

	return e ? e->key : NULL;
}

static void grow(struct strmap *m)
{
	size_t n = m->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* stay at the current size: slower, still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i];
		while (e) {
			struct entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int strmap_put(struct strmap *m, const char *key, void *value, void **old)
{
	uint32_t h = fnv1a(key);
	struct entry **pp = find(m, key, h);
	size_t len;

	if (*pp) {
		if (old)
			*old = (*pp)->value;
		(*pp)->value = value;
		return 0;
	}
	if (old)
		*old = NULL;
	len = strlen(key);
	*pp = malloc(sizeof(**pp) + len + 1);
	if (!*pp)
		return -ENOMEM;
	(*pp)->next = NULL;
	(*pp)->hash = h;
	(*pp)->value = value;
	memcpy((*pp)->key, key, len + 1);
	m->size++;
	if (m->size > m->nbuckets)
		grow(m);
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct entry **pp = find(m, key, fnv1a(key));
	struct entry *e = *pp;
	void *v;

	if (!e)
		return NULL;
	*pp = e->next;
	v = e->value;
	free(e);
	m->size--;
	return v;
}

size_t strmap_size(const struct strmap *m)
{
	return m->size;
}

void strmap_foreach(struct strmap *m,
		    bool (*cb)(void *ctx, const char *key, void *value),
		    void *ctx)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry **pp = &m->buckets[i];
		while (*pp) {
			struct entry *e = *pp;
			if (cb(ctx, e->key, e->value)) {
				*pp = e->next;
				free(e);
				m->size--;
			} else {
				pp = &e->next;
			}
		}
	}
}
