/* SPDX-License-Identifier: MIT */
/*
 * The sync agent's idea of wall-clock time: the system clock plus a skew
 * learnt from the storage server's Date header.
 *
 * SigV4 signs the request time and S3 refuses requests more than 15 minutes
 * off its own clock. libcurl signs with time(): Debian 12's libcurl 7.88,
 * given an x-amz-date header of ours instead, signs with it but also sends
 * it a second time (see ../shared/FIELD-NOTES.md), which a strict server
 * reads as two values and refuses. So this module defines time() itself,
 * which interposes libc's for libcurl, and applies the skew there. The skew
 * is 0 unless the sync agent set one, so everything else that calls time()
 * in the same binary (PID 1, the other subcommands) sees the plain clock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Set the correction in seconds added to the system clock (0 = none). */
void sync_clock_set_skew(int64_t seconds);

/* The current correction in seconds. */
int64_t sync_clock_skew(void);

/*
 * Pin the clock to a fixed instant (unix seconds) for tests that reproduce
 * documented signatures; 0 returns to the system clock.
 */
void sync_clock_set_fixed(time_t t);

/* Corrected wall-clock time in nanoseconds since the epoch. */
int64_t sync_clock_now_ns(void);

/*
 * Learn the skew from an HTTP Date header value (unix seconds, already
 * parsed) observed now. Differences under 30 s are noise (the header has a
 * 1 s resolution and requests take time) and reset the skew to 0. Returns
 * true when the skew changed.
 */
bool sync_clock_observe(time_t server_time);
