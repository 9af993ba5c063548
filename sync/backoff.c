/* SPDX-License-Identifier: MIT */
#include "sync/backoff.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/random.h>

/* Jitter needs spread, not secrecy: a xorshift seeded from getrandom(). */
static uint64_t jitter_state;

static uint64_t jitter_next(void)
{
	uint64_t x = jitter_state;

	if (!x) {
		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
			x = (uint64_t)(uintptr_t)&x ^ 0x9e3779b97f4a7c15ull;
		if (!x)
			x = 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	jitter_state = x;
	return x;
}

uint64_t backoff_delay_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
			  uint64_t min_ms)
{
	uint64_t window = cap_ms;
	uint64_t d;

	if (attempt == 0)
		attempt = 1;
	if (attempt - 1 < 40 && (base_ms << (attempt - 1)) < cap_ms)
		window = base_ms << (attempt - 1);
	d = jitter_next() % (window + 1);
	return d < min_ms ? min_ms : d;
}

uint64_t backoff_retry_after_ms(const char *value)
{
	char *end;
	unsigned long long s;

	if (!value || *value < '0' || *value > '9')
		return 0;
	s = strtoull(value, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end)
		return 0;
	if (s > 3600)
		s = 3600;
	return (uint64_t)s * 1000;
}
