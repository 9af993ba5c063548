/* SPDX-License-Identifier: MIT */
/*
 * The tenant's stored API key: find the encrypted blob, decrypt it, and
 * produce blobs (tenant-init encrypt-key). Formats are those of DESIGN.md
 * "Stored API key formats":
 *
 *   poeclaw  base64(iv12 | ct | tag16), AES-256-GCM, key = the secret
 *            right-padded with '0' and cut to 32 ASCII bytes (PoeClaw's
 *            encryptApiKey; the secret must be ASCII)
 *   pbkdf2   same layout, key = PBKDF2-HMAC-SHA256(secret, salt, 100000)
 *   v1       "tik1." base64url-nopad(salt16 | iv12 | ct | tag16), key =
 *            HKDF-SHA256(secret, salt, info), info also the GCM AAD
 *   auto     v1 when the text starts with "tik1.", else poeclaw
 *
 * Every failure is one enum value with its own message (keys_strerror);
 * no message ever contains key material, the secret or the plaintext.
 * Derived keys and intermediate plaintext are wiped with OPENSSL_cleanse
 * before the functions return; the plaintext handed back lives in a
 * struct secret that the caller wipes with secret_free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "init/config.h"

/* The largest blob file read (an API key blob is a few hundred bytes). */
#define KEYS_BLOB_MAX 8192

/* The largest plaintext key encrypted or accepted after decryption. */
#define KEYS_PLAINTEXT_MAX 4096

/* The default places searched when TENANT_API_KEY_FILE is unset. */
#define KEYS_DEFAULT_REL_PATH ".tenant/api-key.enc" /* under the state dir */
#define KEYS_POECLAW_PATH     "/tmp/poeclaw/encrypted-key"

enum keys_result {
	KEYS_OK,
	KEYS_ERR_NO_SECRET,	   /* a blob exists, no ENCRYPTION_SECRET */
	KEYS_ERR_EMPTY_SECRET,	   /* the secret is empty */
	KEYS_ERR_SECRET_NOT_ASCII, /* poeclaw needs an ASCII secret */
	KEYS_ERR_NO_BLOB,	   /* a secret is set, no blob anywhere */
	KEYS_ERR_BLOB_MISSING,	   /* TENANT_API_KEY_FILE does not exist */
	KEYS_ERR_BLOB_NOT_FILE,	   /* not a regular file, or a symlink */
	KEYS_ERR_BLOB_TOO_LARGE,   /* more than KEYS_BLOB_MAX bytes */
	KEYS_ERR_BLOB_READ,	   /* I/O error (errno saved) */
	KEYS_ERR_BLOB_EMPTY,	   /* the file holds nothing but blanks */
	KEYS_ERR_NOT_V1,	   /* format v1 asked, no "tik1." prefix */
	KEYS_ERR_BASE64,	   /* not canonical base64 / base64url */
	KEYS_ERR_SHORT,		   /* too short for iv, tag (and salt) */
	KEYS_ERR_AUTH,		   /* GCM tag mismatch */
	KEYS_ERR_PLAINTEXT,	   /* decrypted, but empty or not a key */
	KEYS_ERR_INPUT,		   /* encrypt: empty or unusable plaintext */
	KEYS_ERR_CRYPTO,	   /* OpenSSL failed internally */
	KEYS_ERR_NOMEM,
	KEYS_RESULT_COUNT,
};

/* A fixed sentence describing r (never any data). */
const char *keys_strerror(enum keys_result r);

/*
 * Decrypt blob text (surrounding ASCII whitespace ignored) in format fmt
 * (KEY_FORMAT_AUTO resolves by the "tik1." prefix). salt is the pbkdf2
 * salt. On KEYS_OK *out holds the NUL-terminated plaintext (wipe it with
 * secret_free); on failure *out is left empty.
 */
enum keys_result keys_blob_decrypt(const char *text, size_t len,
				   enum key_format fmt,
				   const struct secret *secret,
				   const char *salt, struct secret *out);

/*
 * Encrypt plaintext (1..KEYS_PLAINTEXT_MAX bytes, no control characters)
 * into a blob of format fmt (AUTO means v1), fresh random salt and IV.
 * On KEYS_OK *out is a malloc'ed NUL-terminated blob (not secret; free()).
 */
enum keys_result keys_blob_encrypt(const char *plain, size_t len,
				   enum key_format fmt,
				   const struct secret *secret,
				   const char *salt, char **out);

/*
 * Read one blob file: a regular file (symlinks refused), at most
 * KEYS_BLOB_MAX bytes, opened non-blocking so that a FIFO planted in the
 * data directory cannot stall PID 1. Returns KEYS_OK with a malloc'ed text
 * in *text (free()), KEYS_ERR_BLOB_MISSING when it does not exist, or
 * another KEYS_ERR_BLOB_* (errno saved for BLOB_READ).
 */
enum keys_result keys_blob_read(const char *path, char **text, size_t *len);

/*
 * The whole boot step: find the blob (cfg->api_key_file, else each of the
 * NULL-terminated search paths in order), read and decrypt it with
 * cfg->encryption_secret in cfg->api_key_format.
 *
 * No secret and no blob: KEYS_OK with out->value NULL (no stored key). A
 * blob without a secret, a secret without a blob, an explicit
 * TENANT_API_KEY_FILE that does not exist, and every decryption failure
 * are errors. The path used (or the last one looked at) is copied into
 * where for the caller's message. search may be NULL for the defaults
 * ($state_dir/.tenant/api-key.enc, /tmp/poeclaw/encrypted-key).
 */
enum keys_result keys_load(const struct config *cfg, const char *const *search,
			   struct secret *out, char *where, size_t wherelen);

/*
 * tenant-init encrypt-key [--format v1|poeclaw|pbkdf2]: the plaintext key
 * on stdin (one trailing newline stripped), the secret from
 * ENCRYPTION_SECRET / ENCRYPTION_SECRET_FILE (and TENANT_API_KEY_SALT for
 * pbkdf2); prints the blob and a newline. argv[0] is "encrypt-key".
 * Returns the exit code: 0, 78 (usage, configuration or input), 70.
 */
int keys_cmd_encrypt(int argc, char **argv);
