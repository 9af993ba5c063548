/* SPDX-License-Identifier: MIT */
#include "sync/mtime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

void mtime_format(int64_t ns, char *buf, size_t cap)
{
	int64_t sec = ns / 1000000000;
	int64_t frac = ns % 1000000000;

	/* Times before 1970 keep a positive fraction (floor division). */
	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	(void)snprintf(buf, cap, "%lld.%09lld", (long long)sec,
		       (long long)frac);
}

int mtime_parse(const char *s, int64_t *ns)
{
	int64_t sec = 0, frac = 0;
	int digits = 0;
	bool neg = false;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '-') {
		neg = true;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (sec > (INT64_MAX / 1000000000 - 9) / 10)
			return -EINVAL;
		sec = sec * 10 + (*s - '0');
	}
	if (*s == '.') {
		s++;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (digits < 9) {
				frac = frac * 10 + (*s - '0');
				digits++;
			}
		}
	}
	for (; digits < 9; digits++)
		frac *= 10;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s)
		return -EINVAL;
	*ns = sec * 1000000000 + frac;
	if (neg)
		*ns = -*ns;
	return 0;
}
