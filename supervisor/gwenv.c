/* SPDX-License-Identifier: MIT */
#include "supervisor/gwenv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "init/config.h"

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool in_list(char *const *list, const char *entry)
{
	size_t n = name_len(entry);

	for (char *const *p = list; p && *p; p++)
		if (name_len(*p) == n && strncmp(*p, entry, n) == 0)
			return true;
	return false;
}

const char *gwenv_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (char *const *p = env; p && *p; p++)
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

void gwenv_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
	free(env);
}

char **gwenv_build(char *const *base, char *const *extra, gwenv_keep_fn keep,
		   void *ctx)
{
	size_t cap = 1, n = 0;
	char **out;

	for (char *const *p = base; p && *p; p++)
		cap++;
	for (char *const *p = extra; p && *p; p++)
		cap++;
	out = calloc(cap, sizeof(*out));
	if (!out)
		return NULL;
	for (char *const *p = base; p && *p; p++) {
		char name[256];
		size_t nl = name_len(*p);

		if (!strchr(*p, '=') || nl == 0 || nl >= sizeof(name))
			continue;
		memcpy(name, *p, nl);
		name[nl] = '\0';
		if (config_is_secret_var(name) || in_list(extra, *p) ||
		    in_list(out, *p))
			continue;
		if (keep && !keep(name, ctx))
			continue;
		if (!(out[n++] = strdup(*p)))
			goto fail;
	}
	for (char *const *p = extra; p && *p; p++) {
		if (!strchr(*p, '=') || in_list(out, *p))
			continue;
		if (!(out[n++] = strdup(*p)))
			goto fail;
	}
	return out;
fail:
	gwenv_free(out);
	errno = ENOMEM;
	return NULL;
}
