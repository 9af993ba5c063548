/* SPDX-License-Identifier: MIT */
/*
 * The gateway's environment, built once per boot.
 *
 * Start from PID 1's environment (already scrubbed of storage credentials
 * and the encryption secret by config_load), keep the variables the policy
 * lets through, then add the entries tenant-init means for the gateway (the
 * decrypted API key under TENANT_API_KEY_ENV, policy "set" values), which
 * replace inherited ones of the same name.
 */
#pragma once

#include <stdbool.h>

/* Decide whether an inherited variable passes; NULL keep = all pass. */
typedef bool (*gwenv_keep_fn)(const char *name, void *ctx);

/*
 * Build a NULL-terminated "NAME=VALUE" vector. Secret variables
 * (config_is_secret_var) never pass, whatever keep says. extra entries must
 * be "NAME=VALUE". Returns NULL and sets errno on failure. Free with
 * gwenv_free(), which wipes every value (some are secrets).
 */
char **gwenv_build(char *const *base, char *const *extra, gwenv_keep_fn keep,
		   void *ctx);

/* Wipe and free a vector from gwenv_build() (NULL is accepted). */
void gwenv_free(char **env);

/* Value of name in env, or NULL. */
const char *gwenv_get(char *const *env, const char *name);
