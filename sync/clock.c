/* SPDX-License-Identifier: MIT */
#include "sync/clock.h"

#include <stdbool.h>
#include <stdlib.h>

/*
 * Process-wide by nature: time() has no context argument. Only the sync
 * agent writes these, from its single thread.
 */
static int64_t clock_skew;
static time_t clock_fixed;

/* Below this, a difference to the server's clock is not worth correcting. */
#define SKEW_MIN_S 30

void sync_clock_set_skew(int64_t seconds)
{
	clock_skew = seconds;
}

int64_t sync_clock_skew(void)
{
	return clock_skew;
}

void sync_clock_set_fixed(time_t t)
{
	clock_fixed = t;
}

static time_t system_seconds(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int64_t sync_clock_now_ns(void)
{
	struct timespec ts;

	if (clock_fixed)
		return (int64_t)clock_fixed * 1000000000;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec + clock_skew) * 1000000000 + ts.tv_nsec;
}

bool sync_clock_observe(time_t server_time)
{
	int64_t diff = (int64_t)server_time - (int64_t)system_seconds();
	int64_t next = llabs(diff) < SKEW_MIN_S ? 0 : diff;

	if (next == clock_skew)
		return false;
	/* Only a change of the order of SKEW_MIN_S is a new skew. */
	if (next && clock_skew && llabs(next - clock_skew) < SKEW_MIN_S)
		return false;
	clock_skew = next;
	return true;
}

/*
 * Interposes glibc's time() for every caller that binds to it through the
 * dynamic symbol table, libcurl's SigV4 code among them (see clock.h).
 */
time_t time(time_t *out);

time_t time(time_t *out)
{
	time_t t =
	    clock_fixed ? clock_fixed : system_seconds() + (time_t)clock_skew;

	if (out)
		*out = t;
	return t;
}
