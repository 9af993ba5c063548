/* SPDX-License-Identifier: MIT */
/*
 * Scope-bound cleanup helpers (GCC/Clang cleanup attribute).
 *
 * A variable declared with one of these attributes is released when it goes
 * out of scope. It must be initialised at its declaration (NULL, or -1 for
 * file descriptors) so that an early return never frees garbage. Ownership
 * is handed off with steal_ptr()/steal_fd(), which leave the sentinel behind.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd);
		errno = saved;
	}
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		(void)fclose(*f);
		errno = saved;
	}
}

#define _cleanup_free_	 __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_	 __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))

static inline void *steal_ptr_impl(void **pp)
{
	void *p = *pp;
	*pp = NULL;
	return p;
}

/* Take ownership of a cleanup pointer: returns it, leaves NULL behind. */
#define steal_ptr(pp) steal_ptr_impl((void **)(pp))

/* Take ownership of a cleanup fd: returns it, leaves -1 behind. */
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
