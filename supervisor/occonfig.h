/* SPDX-License-Identifier: MIT */
/*
 * openclaw.json: written on first boot, re-patched on every later boot.
 *
 * The platform owns a small set of keys and the user owns the rest. Keys
 * the environment names are enforced on every boot (gateway mode, port,
 * bind, token auth, trusted proxies, allowed origins, dev mode, the
 * chat-completions endpoint, provider credentials, channel tokens, DM
 * policies); values the platform only suggests (the default model, Poe's
 * model list, a channel's default DM policy) are written only where the
 * file has none, so a user's later choice survives the next boot.
 * Everything else in an existing file is kept as it is.
 *
 * Every secret is written as an OpenClaw env SecretRef
 * {"source":"env","provider":"default","id":"NAME"}; a plaintext copy of a
 * managed secret found in a credential field of an existing file (the old
 * scripts wrote them) is turned into the SecretRef, and the backup copy
 * openclaw.json.bak has such values redacted. Keys OpenClaw 2026.9.6
 * rejects and the old scripts wrote are removed (or migrated).
 *
 * A file that is not strict JSON (or not an object) is refused: it is left
 * untouched and the boot stops with config-invalid (exit 78), because
 * rewriting it from defaults could silently drop settings the user made
 * for safety (allowlists, denied tools). OpenClaw also reads JSON5; such a
 * file has to be converted to plain JSON once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "init/config.h"

/* The largest existing openclaw.json read. */
#define OCCONFIG_MAX_SIZE (4u << 20)

#define OCCONFIG_NAME	  "openclaw.json"
#define OCCONFIG_BAK_NAME "openclaw.json.bak"

struct occonfig_params {
	const struct config *cfg; /* openclaw env, gateway port */
	/*
	 * The stored API key as the gateway will see it: the variable name
	 * (TENANT_API_KEY_ENV) and its value, or both NULL when the gateway
	 * gets no such key. The value is only compared, never written.
	 */
	const char *api_key_env;
	const char *api_key_value;
	uid_t uid; /* owner of the written files; (uid_t)-1 = unchanged */
	gid_t gid;
};

/*
 * Pure step: the new file text from the existing one (NULL = first boot).
 * On success returns 0 with malloc'ed *out (the new openclaw.json) and,
 * when existing is given, *bak (what openclaw.json.bak should hold: the
 * old bytes, or a redacted re-serialisation when they carry a managed
 * secret in plaintext or repeat a key, which hides a value from the
 * scrub). Returns -EINVAL with "LINE:COLUMN: reason" in err
 * for an unusable existing file, -ENOMEM.
 */
int occonfig_render(const struct occonfig_params *p, const char *existing,
		    size_t len, char **out, char **bak, char *err,
		    size_t errlen);

/*
 * Side effects: read state_dir/openclaw.json (regular file only, bounded),
 * render, then write openclaw.json.bak and openclaw.json atomically (temp
 * file, fsync, rename, fsync of the directory), mode 0600, owned by
 * uid/gid. An unchanged file is not rewritten (only its mode and owner are
 * enforced). create_dir: create a missing state_dir (0700). Returns 0, or
 * -errno with a message in err (no secret is ever part of it).
 */
int occonfig_apply(const char *state_dir, const struct occonfig_params *p,
		   bool create_dir, char *err, size_t errlen);

/*
 * Rename state_dir/openclaw.json (whatever it is: a file, a symlink, a
 * directory) to "openclaw.json.invalid-YYYYMMDDTHHMMSSZ" in the same
 * directory, whose name goes to aside (cap >= 48), so that a new one can
 * be written. Returns 0 or -errno.
 */
int occonfig_set_aside(const char *state_dir, char *aside, size_t cap);
