/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the stored-key decoder (supervisor/keys.c).
 *
 * The input is the blob file's bytes. Every run decrypts them in each
 * format (auto, v1, poeclaw, pbkdf2) with one fixed secret, so the
 * whitespace trimming, prefix, base64/base64url, length and GCM layers of
 * all formats see every input; the seeds are real blobs made with that
 * secret, so the success path is reached too. The bytes are then written
 * to a file and go through keys_load() as PID 1 reads them at boot.
 *
 * PBKDF2's 100,000 iterations (~50 ms) would make the pbkdf2 format
 * useless to fuzz, and they depend only on the secret and the salt,
 * which are fixed here. So this file defines PKCS5_PBKDF2_HMAC itself:
 * the executable's definition wins over libcrypto's, and it returns the
 * real function's result (looked up with dlsym(RTLD_NEXT)), computed once
 * per (secret, salt, iterations, digest, length). keys.c is unchanged and
 * real pbkdf2 blobs decrypt.
 *
 * Invariants checked: a result is a known keys_result with a message; a
 * decrypted key is NUL-terminated, as long as it says, without control
 * characters, and encrypts and decrypts again to itself; keys_blob_read
 * returns the file's bytes; keys_load agrees with keys_blob_decrypt.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "supervisor/keys.h"
#include "tests/fuzz/fuzz.h"

#define SECRET "fuzz-encryption-secret"
#define SALT   "vultrino-salt"

/* ---- memoised PBKDF2 ---- */

typedef int (*pbkdf2_fn)(const char *, int, const unsigned char *, int, int,
			 const EVP_MD *, int, unsigned char *);

static struct pbkdf2_memo {
	char *pass, *salt;
	int passlen, saltlen, iter, keylen;
	const EVP_MD *md;
	unsigned char *out;
} memo[8];

int PKCS5_PBKDF2_HMAC(const char *pass, int passlen, const unsigned char *salt,
		      int saltlen, int iter, const EVP_MD *digest, int keylen,
		      unsigned char *out)
{
	static pbkdf2_fn real;
	struct pbkdf2_memo *m;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(memo) && memo[i].out; i++) {
		m = &memo[i];
		if (m->passlen == passlen && m->saltlen == saltlen &&
		    m->iter == iter && m->md == digest && m->keylen == keylen &&
		    memcmp(m->pass, pass, (size_t)passlen) == 0 &&
		    memcmp(m->salt, salt, (size_t)saltlen) == 0) {
			memcpy(out, m->out, (size_t)keylen);
			return 1;
		}
	}
	if (!real) {
		real = (pbkdf2_fn)dlsym(RTLD_NEXT, "PKCS5_PBKDF2_HMAC");
		FUZZ_ASSERT(real);
	}
	if (real(pass, passlen, salt, saltlen, iter, digest, keylen, out) != 1)
		return 0;
	if (i == ARRAY_SIZE(memo))
		return 1; /* full: compute, do not remember */
	m = &memo[i];
	m->pass = malloc((size_t)passlen + 1);
	m->salt = malloc((size_t)saltlen + 1);
	m->out = malloc((size_t)keylen);
	FUZZ_ASSERT(m->pass && m->salt && m->out);
	memcpy(m->pass, pass, (size_t)passlen);
	memcpy(m->salt, salt, (size_t)saltlen);
	memcpy(m->out, out, (size_t)keylen);
	m->passlen = passlen;
	m->saltlen = saltlen;
	m->iter = iter;
	m->md = digest;
	m->keylen = keylen;
	return 1;
}

/* ---- the target ---- */

static const enum key_format formats[] = {
    KEY_FORMAT_AUTO,
    KEY_FORMAT_V1,
    KEY_FORMAT_POECLAW,
    KEY_FORMAT_PBKDF2,
};

static void check_plaintext(const struct secret *out, enum key_format fmt,
			    const struct secret *sec)
{
	struct secret again = {NULL, 0};
	char *blob = NULL;

	FUZZ_ASSERT(out->value && out->len > 0);
	FUZZ_ASSERT(out->len <= KEYS_PLAINTEXT_MAX);
	FUZZ_ASSERT(out->value[out->len] == '\0');
	FUZZ_ASSERT(strlen(out->value) == out->len);
	for (size_t i = 0; i < out->len; i++)
		FUZZ_ASSERT((unsigned char)out->value[i] >= 0x20 &&
			    out->value[i] != 0x7f);
	FUZZ_ASSERT(keys_blob_encrypt(out->value, out->len, fmt, sec, SALT,
				      &blob) == KEYS_OK);
	FUZZ_ASSERT(keys_blob_decrypt(blob, strlen(blob), fmt, sec, SALT,
				      &again) == KEYS_OK);
	FUZZ_ASSERT(again.len == out->len &&
		    memcmp(again.value, out->value, out->len) == 0);
	secret_free(&again);
	free(blob);
}

static enum keys_result decrypt_all(const uint8_t *data, size_t size,
				    const struct secret *sec)
{
	enum keys_result first = KEYS_OK;

	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		struct secret out = {NULL, 0};
		enum keys_result r;

		r = keys_blob_decrypt((const char *)data, size, formats[i], sec,
				      SALT, &out);
		FUZZ_ASSERT((unsigned)r < KEYS_RESULT_COUNT);
		FUZZ_ASSERT(keys_strerror(r)[0]);
		if (r == KEYS_OK)
			check_plaintext(&out, formats[i], sec);
		else
			FUZZ_ASSERT(!out.value && out.len == 0);
		if (i == 0)
			first = r;
		secret_free(&out);
	}
	return first;
}

static void load_from_file(const uint8_t *data, size_t size,
			   enum keys_result want)
{
	struct config cfg;
	struct secret out = {NULL, 0};
	char path[128], where[256];
	char *text = NULL;
	size_t len = 0;
	enum keys_result r;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/api-key.enc", fuzz_tmpdir());
	f = fopen(path, "we");
	FUZZ_ASSERT(f);
	FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
	FUZZ_ASSERT(fclose(f) == 0);

	r = keys_blob_read(path, &text, &len);
	if (size > KEYS_BLOB_MAX) {
		FUZZ_ASSERT(r == KEYS_ERR_BLOB_TOO_LARGE && !text);
	} else {
		FUZZ_ASSERT(r == KEYS_OK && len == size);
		FUZZ_ASSERT(memcmp(text, data, size) == 0 && !text[len]);
	}
	free(text);

	memset(&cfg, 0, sizeof(cfg));
	cfg.api_key_file = path;
	cfg.api_key_format = KEY_FORMAT_AUTO;
	cfg.api_key_salt = (char *)SALT;
	cfg.encryption_secret = (struct secret){(char *)SECRET, strlen(SECRET)};
	r = keys_load(&cfg, NULL, &out, where, sizeof(where));
	FUZZ_ASSERT(strcmp(where, path) == 0);
	if (size <= KEYS_BLOB_MAX)
		FUZZ_ASSERT(r == want);
	secret_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct secret sec = {(char *)SECRET, strlen(SECRET)};
	const struct secret utf8 = {(char *)"s\xc3\xa4lt-secret", 12};
	struct secret out = {NULL, 0};
	enum keys_result r;

	fuzz_begin();
	r = decrypt_all(data, size, &sec);
	/* A non-ASCII secret: poeclaw refuses it, the others derive. */
	(void)decrypt_all(data, size, &utf8);
	/* No secret at all is checked before the blob. */
	FUZZ_ASSERT(keys_blob_decrypt((const char *)data, size, KEY_FORMAT_AUTO,
				      NULL, SALT, &out) == KEYS_ERR_NO_SECRET);
	load_from_file(data, size, r);
	fuzz_end();
	return 0;
}
