/* SPDX-License-Identifier: MIT */
/*
 * Retry pacing for storage errors: capped exponential backoff with full
 * jitter (a uniformly random delay between 0 and min(cap, base * 2^n)),
 * so that many failed requests do not come back in lockstep, and the
 * server's own Retry-After when it sends one.
 */
#pragma once

#include <stdint.h>

/* First retry window and the cap, in milliseconds. */
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS	30000

/*
 * Delay before retry number attempt (1 = first retry): full jitter over
 * [0, min(cap_ms, base_ms << (attempt - 1))], never below min_ms (the
 * server's Retry-After, 0 when none).
 */
uint64_t backoff_delay_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
			  uint64_t min_ms);

/*
 * Parse a Retry-After value given in seconds ("3"); an HTTP date is
 * parsed by the caller. Returns milliseconds, or 0 when absent/invalid.
 * Capped at one hour.
 */
uint64_t backoff_retry_after_ms(const char *value);
