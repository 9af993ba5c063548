/* SPDX-License-Identifier: MIT */
#include "sync/glob.h"

#include <stdlib.h>
#include <string.h>

/* [...] at p (p points after '['); advances *pp past ']'. */
static bool class_match(const char **pp, char c, bool *ok)
{
	const char *p = *pp;
	bool neg = false, hit = false;

	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	/* A ']' right after '[' or '[!' is a literal member. */
	if (*p == ']') {
		hit = c == ']';
		p++;
	}
	while (*p && *p != ']') {
		char lo = *p, hi = *p;

		if (lo == '\\' && p[1])
			lo = hi = *++p;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			hi = p[2];
			p += 2;
		}
		if ((unsigned char)c >= (unsigned char)lo &&
		    (unsigned char)c <= (unsigned char)hi)
			hit = true;
		p++;
	}
	if (*p != ']') {
		*ok = false; /* unterminated: no match at all */
		return false;
	}
	*pp = p + 1;
	*ok = true;
	return hit != neg;
}

bool glob_match(const char *p, const char *s)
{
	for (;;) {
		switch (*p) {
		case '\0':
			return *s == '\0';
		case '*':
			if (p[1] == '*') {
				const char *q = p + 2;

				/* "**" then "/": zero directories is a match */
				if (*q == '/' && glob_match(q + 1, s))
					return true;
				for (const char *t = s;; t++) {
					if (glob_match(q, t))
						return true;
					if (!*t)
						return false;
				}
			}
			for (const char *t = s;; t++) {
				if (glob_match(p + 1, t))
					return true;
				if (!*t || *t == '/')
					return false;
			}
		case '?':
			if (!*s || *s == '/')
				return false;
			p++;
			s++;
			break;
		case '[': {
			bool ok;
			const char *q = p + 1;

			if (!*s || *s == '/')
				return false;
			if (!class_match(&q, *s, &ok))
				return false;
			p = q;
			s++;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			if (*p != *s)
				return false;
			p++;
			s++;
			break;
		default:
			if (*p != *s)
				return false;
			p++;
			s++;
			break;
		}
	}
}

/* Match at the top or after any '/' of path. */
static bool match_any_depth(const char *pattern, const char *path)
{
	if (glob_match(pattern, path))
		return true;
	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
		if (glob_match(pattern, s + 1))
			return true;
	return false;
}

/*
 * A top-level name starting with ".tenant-init" is the agent's: its state
 * directory, or one it moved aside as untrusted ("...untrusted-N").
 */
static bool under_state_dir(const char *rel)
{
	return strncmp(rel, SYNC_STATE_DIR, strlen(SYNC_STATE_DIR)) == 0;
}

bool glob_excludes_file(char *const *patterns, const char *rel)
{
	if (under_state_dir(rel))
		return true;
	for (char *const *p = patterns; p && *p; p++)
		if (match_any_depth(*p, rel))
			return true;
	return false;
}

bool glob_excludes_dir(char *const *patterns, const char *rel)
{
	if (under_state_dir(rel))
		return true;
	for (char *const *p = patterns; p && *p; p++) {
		size_t n = strlen(*p);
		char *head;
		bool hit;

		if (n < 3 || strcmp(*p + n - 3, "/**") != 0)
			continue;
		head = strndup(*p, n - 3);
		if (!head)
			continue; /* out of memory: watch it, harmless */
		hit = match_any_depth(head, rel);
		free(head);
		if (hit)
			return true;
	}
	return false;
}
