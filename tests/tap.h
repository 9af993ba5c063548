/* SPDX-License-Identifier: MIT */
/*
 * A small TAP producer for the unit tests (bubblewrap's test-utils idea).
 *
 *   ok(cond, "what")              one test point
 *   is_int(got, want, "what")     prints both sides on failure
 *   is_str(got, want, "what")
 *   skip(n, "why")
 *   return tap_done();            prints the plan and "N passed, N failed"
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline bool tap_point(bool pass, const char *file, int line,
			     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline bool tap_point(bool pass, const char *file, int line,
			     const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

#define ok(cond, ...) tap_point(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                 \
	do {                                                                   \
		long long g_ = (long long)(got), w_ = (long long)(want);       \
		if (!tap_point(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))     \
			printf("#   got %lld, want %lld\n", g_, w_);           \
	} while (0)

#define is_str(got, want, ...)                                                 \
	do {                                                                   \
		const char *g_ = (got), *w_ = (want);                          \
		bool p_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;         \
		if (!tap_point(p_, __FILE__, __LINE__, __VA_ARGS__))           \
			printf("#   got '%s', want '%s'\n",                    \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");        \
	} while (0)

static inline void skip(int n, const char *why)
{
	for (int i = 0; i < n; i++)
		printf("ok %d # SKIP %s\n", ++tap_count, why);
}

static inline void diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	printf("# %d passed, %d failed\n", tap_count - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}
