/* SPDX-License-Identifier: MIT */
/*
 * Stored API key formats: known answers from Web Crypto (PoeClaw's
 * encryptApiKey, seed 001's PBKDF2 recipe, an independent v1 encoder),
 * round trips, every failure mode, and every byte of a blob changed.
 */
#include "supervisor/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "init/cleanup.h"
#include "tests/tap.h"

/*
 * Generated once with tests/data/webcrypto.mjs (Node 20 Web Crypto), the
 * reference implementations; the integration test generates fresh ones.
 */
static const struct {
	enum key_format fmt;
	const char *secret, *salt, *blob, *plain;
} vectors[] = {
    {KEY_FORMAT_POECLAW, "short-secret", NULL,
     "01/geE0WETlHqw7vw7bp5HtZTgbrwOeGoXiqf4kW4X1fuqkbApKjHUPTkX5OzAE=",
     "pb-KnownAnswer-0001"},
    {KEY_FORMAT_POECLAW,
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL,
     "EvEzbnmNOA0FoACQox67IVb3fgWTIwVsF+NeLi+pqhPD6m0p7Q96m3W50bhx3TI=",
     "pb-KnownAnswer-0002"},
    {KEY_FORMAT_PBKDF2, "p\xc3\xa4ssw\xc3\xb6rd-\xc3\xbc", "vultrino-salt",
     "29VFr0esVhBL2aU5uI8/0TJ5qUXjQ0VAT2wcKa6JmLxkzMdb6tNnP7DHiPIL+/c=",
     "pb-KnownAnswer-0003"},
    {KEY_FORMAT_PBKDF2, "topsecret", "custom-salt",
     "FU8/2NKlzvQVrdzzRHhzZsxSEUlw7OrsO1soQ9MK98IfDw7zCO5Vl3IWrYUfyDo=",
     "pb-KnownAnswer-0004"},
    {KEY_FORMAT_V1, "hkdf-secret-\xc3\xbc", NULL,
     "tik1.KjgfRovyB2SFD0AP-9gml-EbBderOS0Na0_E7rXcxk2VRvAvRDx_"
     "ZLhOJ6keubp6W9pzafMd4CcRtBpYDCYY",
     "pb-KnownAnswer-0005"},
};

static struct secret sec(const char *s)
{
	return (struct secret){(char *)s, strlen(s)};
}

static enum keys_result dec(const char *blob, enum key_format fmt,
			    const char *secret, const char *salt,
			    struct secret *out)
{
	struct secret s = sec(secret);

	return keys_blob_decrypt(blob, strlen(blob), fmt, &s, salt, out);
}

static void test_vectors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		struct secret out = {NULL, 0};
		enum keys_result r;

		r = dec(vectors[i].blob, vectors[i].fmt, vectors[i].secret,
			vectors[i].salt, &out);
		is_int(r, KEYS_OK, "vector %zu decrypts", i);
		is_str(out.value, vectors[i].plain, "vector %zu plaintext", i);
		secret_free(&out);
	}
	/* auto resolves both shapes. */
	{
		struct secret out = {NULL, 0};
		is_int(dec(vectors[4].blob, KEY_FORMAT_AUTO, vectors[4].secret,
			   NULL, &out),
		       KEYS_OK, "auto picks v1 for tik1.");
		secret_free(&out);
		is_int(dec(vectors[0].blob, KEY_FORMAT_AUTO, vectors[0].secret,
			   NULL, &out),
		       KEYS_OK, "auto picks poeclaw otherwise");
		secret_free(&out);
		is_int(dec(vectors[3].blob, KEY_FORMAT_AUTO, vectors[3].secret,
			   "custom-salt", &out),
		       KEYS_ERR_AUTH, "auto never guesses pbkdf2");
	}
}

static void test_wrong_salt(void)
{
	struct secret out = {NULL, 0};

	is_int(dec(vectors[3].blob, KEY_FORMAT_PBKDF2, vectors[3].secret,
		   "vultrino-salt", &out),
	       KEYS_ERR_AUTH, "pbkdf2 with a wrong salt: tag mismatch");
}

static void test_roundtrip(void)
{
	static const char *const secrets[] = {
	    "x", "exactly-32-characters-long-12345",
	    "longer-than-thirty-two-characters-for-sure-yes", "s p a c e s"};
	static const enum key_format fmts[] = {
	    KEY_FORMAT_V1, KEY_FORMAT_POECLAW, KEY_FORMAT_PBKDF2};

	for (size_t f = 0; f < ARRAY_SIZE(fmts); f++) {
		for (size_t i = 0; i < ARRAY_SIZE(secrets); i++) {
			struct secret s = sec(secrets[i]);

			if (fmts[f] == KEY_FORMAT_PBKDF2 && i % 2)
				continue; /* slow: see test_flip_text */
			struct secret out = {NULL, 0};
			char *blob = NULL;

			is_int(keys_blob_encrypt("pb-roundtrip", 12, fmts[f],
						 &s, "salty", &blob),
			       KEYS_OK, "encrypt fmt %d secret %zu", fmts[f],
			       i);
			if (!blob)
				continue;
			ok(fmts[f] != KEY_FORMAT_V1 ||
			       strncmp(blob, "tik1.", 5) == 0,
			   "v1 blobs start with tik1.");
			ok(strstr(blob, "pb-roundtrip") == NULL,
			   "blob does not carry the plaintext");
			is_int(keys_blob_decrypt(blob, strlen(blob), fmts[f],
						 &s, "salty", &out),
			       KEYS_OK, "decrypt fmt %d secret %zu", fmts[f],
			       i);
			is_str(out.value, "pb-roundtrip", "same plaintext");
			secret_free(&out);
			free(blob);
		}
	}
	/* Two encryptions never produce the same blob (fresh salt/IV). */
	{
		struct secret s = sec("same");
		char *a = NULL, *b = NULL;
		(void)keys_blob_encrypt("k-123", 5, KEY_FORMAT_V1, &s, NULL,
					&a);
		(void)keys_blob_encrypt("k-123", 5, KEY_FORMAT_V1, &s, NULL,
					&b);
		ok(a && b && strcmp(a, b) != 0, "fresh salt and IV per blob");
		free(a);
		free(b);
	}
}

/*
 * Change every byte of the text in turn (three ways): nothing may decrypt.
 * stride > 1 samples positions instead: each pbkdf2 attempt costs 100000
 * HMAC rounds, seconds under valgrind; the integration test sweeps every
 * byte of pbkdf2 blobs through the release binary instead.
 */
static void test_flip_text(enum key_format fmt, const char *secret,
			   size_t stride)
{
	struct secret s = sec(secret);
	char *blob = NULL;
	size_t len, accepted = 0;
	static const unsigned char masks[] = {0x01, 0x20, 0x80};

	if (keys_blob_encrypt("pb-flip-me-0123456789", 21, fmt, &s, NULL,
			      &blob) != KEYS_OK) {
		ok(0, "encrypt for flip test");
		return;
	}
	len = strlen(blob);
	for (size_t m = 0; m < ARRAY_SIZE(masks); m++) {
		for (size_t i = 0; i < len; i += stride) {
			struct secret out = {NULL, 0};
			char *t = strdup(blob);
			t[i] = (char)(t[i] ^ masks[m]);
			if (keys_blob_decrypt(t, len, fmt, &s, NULL, &out) ==
			    KEYS_OK)
				accepted++;
			secret_free(&out);
			free(t);
		}
	}
	is_int(accepted, 0,
	       "fmt %d: characters of %zu (stride %zu) changed 3 ways: all "
	       "rejected",
	       fmt, len, stride);
	free(blob);
}

/* Change every decoded byte (valid base64 kept): the tag must catch it. */
static void test_flip_bytes(void)
{
	struct secret s = sec("flip-secret");
	char *blob = NULL;
	unsigned char raw[256];
	char text[512];
	int n;
	size_t auth = 0, total;

	(void)keys_blob_encrypt("pb-bytes", 8, KEY_FORMAT_POECLAW, &s, NULL,
				&blob);
	n = EVP_DecodeBlock(raw, (unsigned char *)blob, (int)strlen(blob));
	total = 12 + 8 + 16; /* iv | "pb-bytes" | tag */
	ok(n == 36, "decoded the blob");
	for (size_t i = 0; i < total; i++) {
		struct secret out = {NULL, 0};
		raw[i] ^= 0x01;
		EVP_EncodeBlock((unsigned char *)text, raw, (int)total);
		if (keys_blob_decrypt(text, strlen(text), KEY_FORMAT_POECLAW,
				      &s, NULL, &out) == KEYS_ERR_AUTH)
			auth++;
		secret_free(&out);
		raw[i] ^= 0x01;
	}
	is_int(auth, total, "every changed byte of iv|ct|tag: tag mismatch");
	free(blob);
}

/* base64url without padding, as the v1 format writes it, and back. */
static void b64url_encode(const unsigned char *raw, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
}

static int b64url_decode(const char *in, unsigned char *raw)
{
	char std[512];
	size_t n = strlen(in);
	int len;

	memcpy(std, in, n + 1);
	for (char *p = std; *p; p++) {
		if (*p == '-')
			*p = '+';
		else if (*p == '_')
			*p = '/';
	}
	while (n % 4)
		std[n++] = '=';
	std[n] = '\0';
	len = EVP_DecodeBlock(raw, (unsigned char *)std, (int)n);
	/* EVP_DecodeBlock counts the padding's zero bytes too. */
	for (char *p = std + n; p > std && p[-1] == '='; p--)
		len--;
	return len;
}

/*
 * The same for v1 (salt | iv | ct | tag behind "tik1.", base64url) and
 * pbkdf2 (iv | ct | tag, base64): a changed decoded byte anywhere is a
 * tag mismatch, never a plaintext. Flipping the text instead would mostly
 * test the base64 decoder. pbkdf2 derives with 100000 iterations per
 * attempt, so it flips one byte of each part rather than all of them.
 */
static void test_flip_bytes_v1_pbkdf2(void)
{
	struct secret s = sec("flip-secret");
	char *blob = NULL, text[512];
	unsigned char raw[256];
	size_t auth = 0, total = 16 + 12 + 8 + 16;
	static const size_t pb_at[] = {0, 11, 12, 19, 20, 35};
	int n;

	(void)keys_blob_encrypt("v1-bytes", 8, KEY_FORMAT_V1, &s, NULL, &blob);
	ok(blob && strncmp(blob, "tik1.", 5) == 0, "a v1 blob");
	n = b64url_decode(blob + 5, raw);
	is_int(n, (long long)total, "decoded: salt|iv|ct|tag");
	for (size_t i = 0; i < total; i++) {
		struct secret out = {NULL, 0};
		memcpy(text, "tik1.", 5);
		raw[i] ^= 0x01;
		b64url_encode(raw, total, text + 5);
		if (keys_blob_decrypt(text, strlen(text), KEY_FORMAT_V1, &s,
				      NULL, &out) == KEYS_ERR_AUTH)
			auth++;
		secret_free(&out);
		raw[i] ^= 0x01;
	}
	is_int(auth, total,
	       "v1: every changed byte of salt|iv|ct|tag: tag "
	       "mismatch");
	free(blob);
	blob = NULL;

	(void)keys_blob_encrypt("pb-bytes", 8, KEY_FORMAT_PBKDF2, &s,
				"vultrino-salt", &blob);
	n = EVP_DecodeBlock(raw, (unsigned char *)blob, (int)strlen(blob));
	ok(n == 36, "decoded the pbkdf2 blob");
	auth = 0;
	for (size_t k = 0; k < sizeof(pb_at) / sizeof(*pb_at); k++) {
		struct secret out = {NULL, 0};
		size_t i = pb_at[k];
		raw[i] ^= 0x80;
		EVP_EncodeBlock((unsigned char *)text, raw, 36);
		if (keys_blob_decrypt(text, strlen(text), KEY_FORMAT_PBKDF2, &s,
				      "vultrino-salt", &out) == KEYS_ERR_AUTH)
			auth++;
		secret_free(&out);
		raw[i] ^= 0x80;
	}
	is_int(auth, sizeof(pb_at) / sizeof(*pb_at),
	       "pbkdf2: a changed byte of iv, ct and tag: tag mismatch");
	{
		struct secret out = {NULL, 0};
		EVP_EncodeBlock((unsigned char *)text, raw, 36);
		is_int(keys_blob_decrypt(text, strlen(text), KEY_FORMAT_PBKDF2,
					 &s, "vultrino-salt", &out),
		       KEYS_OK, "pbkdf2: the unchanged blob still decrypts");
		secret_free(&out);
	}
	free(blob);
}

/* A poeclaw blob of arbitrary plaintext (bypassing the encrypt checks). */
static char *poeclaw_raw(const char *secret, const unsigned char *pt,
			 size_t len)
{
	unsigned char key[32], buf[128], *iv = buf, *ct = buf + 12;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	char *out = malloc(256);
	int n;

	memset(key, '0', 32);
	memcpy(key, secret, strlen(secret));
	memset(iv, 7, 12);
	EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv);
	EVP_EncryptUpdate(ctx, ct, &n, pt, (int)len);
	EVP_EncryptFinal_ex(ctx, ct + len, &n);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, ct + len);
	EVP_CIPHER_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)(12 + len + 16));
	return out;
}

static void test_errors(void)
{
	struct secret out = {NULL, 0};
	struct secret empty = {(char *)"", 0};
	struct secret none = {NULL, 0};
	char *blob = NULL;
	const char *v = vectors[0].blob;

	is_int(dec(v, KEY_FORMAT_POECLAW, "wrong-secret", NULL, &out),
	       KEYS_ERR_AUTH, "wrong secret: tag mismatch");
	ok(out.value == NULL, "nothing handed back on failure");
	is_int(keys_blob_decrypt(v, strlen(v), KEY_FORMAT_POECLAW, &empty, NULL,
				 &out),
	       KEYS_ERR_EMPTY_SECRET, "empty secret");
	is_int(keys_blob_decrypt(v, strlen(v), KEY_FORMAT_POECLAW, &none, NULL,
				 &out),
	       KEYS_ERR_NO_SECRET, "no secret");
	is_int(dec(v, KEY_FORMAT_POECLAW, "s\xc3\xa9same", NULL, &out),
	       KEYS_ERR_SECRET_NOT_ASCII, "non-ASCII secret for poeclaw");
	is_int(dec(v, KEY_FORMAT_V1, "short-secret", NULL, &out),
	       KEYS_ERR_NOT_V1, "v1 asked, poeclaw blob");
	is_int(dec("not*base64!", KEY_FORMAT_POECLAW, "x", NULL, &out),
	       KEYS_ERR_BASE64, "bad base64 character");
	is_int(dec("QUJD=", KEY_FORMAT_POECLAW, "x", NULL, &out),
	       KEYS_ERR_BASE64, "bad base64 length");
	is_int(dec("QU=D", KEY_FORMAT_POECLAW, "x", NULL, &out),
	       KEYS_ERR_BASE64, "padding inside the text");
	/* "QQ==" is 'A'; "QR==" decodes to the same byte non-canonically. */
	is_int(dec("QR==", KEY_FORMAT_POECLAW, "x", NULL, &out),
	       KEYS_ERR_BASE64, "non-canonical final character");
	is_int(dec("tik1.QUJD+w", KEY_FORMAT_AUTO, "x", NULL, &out),
	       KEYS_ERR_BASE64, "standard alphabet inside base64url");
	is_int(dec("tik1.QUJDRA==", KEY_FORMAT_AUTO, "x", NULL, &out),
	       KEYS_ERR_BASE64, "padding in base64url");
	is_int(dec("QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", KEY_FORMAT_POECLAW, "x",
		   NULL, &out),
	       KEYS_ERR_SHORT, "24 bytes: shorter than iv + tag");
	is_int(dec("tik1.QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xt",
		   KEY_FORMAT_AUTO, "x", NULL, &out),
	       KEYS_ERR_SHORT, "v1 of 42 bytes: shorter than salt+iv+tag");
	is_int(dec(" \n\t", KEY_FORMAT_AUTO, "x", NULL, &out),
	       KEYS_ERR_BLOB_EMPTY, "blank blob");
	is_int(dec("", KEY_FORMAT_AUTO, "x", NULL, &out), KEYS_ERR_BLOB_EMPTY,
	       "empty blob");
	{
		char text[256];
		(void)snprintf(text, sizeof(text), "\n  %s \r\n", v);
		is_int(
		    dec(text, KEY_FORMAT_POECLAW, "short-secret", NULL, &out),
		    KEYS_OK, "surrounding whitespace is ignored");
		secret_free(&out);
	}
	blob = poeclaw_raw("k", (const unsigned char *)"", 0);
	is_int(dec(blob, KEY_FORMAT_POECLAW, "k", NULL, &out),
	       KEYS_ERR_PLAINTEXT, "authentic but empty plaintext");
	free(blob);
	blob = poeclaw_raw("k", (const unsigned char *)"pb-a\nb", 6);
	is_int(dec(blob, KEY_FORMAT_POECLAW, "k", NULL, &out),
	       KEYS_ERR_PLAINTEXT, "authentic plaintext with a newline");
	free(blob);
	{
		struct secret s = sec("k");
		is_int(keys_blob_encrypt("", 0, KEY_FORMAT_V1, &s, NULL, &blob),
		       KEYS_ERR_INPUT, "encrypt refuses an empty key");
		is_int(keys_blob_encrypt("a\tb", 3, KEY_FORMAT_V1, &s, NULL,
					 &blob),
		       KEYS_ERR_INPUT, "encrypt refuses control characters");
		is_int(
		    keys_blob_encrypt("abc", 3, KEY_FORMAT_POECLAW,
				      &(struct secret){(char *)"\xc3\xa9", 2},
				      NULL, &blob),
		    KEYS_ERR_SECRET_NOT_ASCII,
		    "encrypt poeclaw refuses a non-ASCII secret");
		is_int(keys_blob_encrypt("abc", 3, KEY_FORMAT_V1, &empty, NULL,
					 &blob),
		       KEYS_ERR_EMPTY_SECRET,
		       "encrypt refuses an empty secret");
	}
	{
		char big[KEYS_BLOB_MAX + 8];
		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		is_int(dec(big, KEY_FORMAT_POECLAW, "x", NULL, &out),
		       KEYS_ERR_BLOB_TOO_LARGE, "oversized blob text");
	}
}

static void test_messages(void)
{
	bool distinct = true, present = true;

	for (int i = 0; i < KEYS_RESULT_COUNT; i++) {
		const char *m = keys_strerror((enum keys_result)i);
		if (!m || !*m || strcmp(m, "unknown key error") == 0)
			present = false;
		for (int j = 0; j < i; j++)
			if (strcmp(m, keys_strerror((enum keys_result)j)) == 0)
				distinct = false;
	}
	ok(present, "every result has a message");
	ok(distinct, "every failure has its own message");
}

static char tmp[] = "/tmp/test-keys.XXXXXX";

static void put_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_read(void)
{
	char path[256], link[256];
	char *text = NULL;
	size_t len = 0;

	(void)snprintf(path, sizeof(path), "%s/missing", tmp);
	is_int(keys_blob_read(path, &text, &len), KEYS_ERR_BLOB_MISSING,
	       "missing file");
	put_file("blob", "abc\n");
	(void)snprintf(path, sizeof(path), "%s/blob", tmp);
	is_int(keys_blob_read(path, &text, &len), KEYS_OK, "regular file");
	ok(text && len == 4 && strcmp(text, "abc\n") == 0, "its bytes");
	free(text);
	(void)snprintf(link, sizeof(link), "%s/link", tmp);
	ok(symlink(path, link) == 0, "made a symlink");
	is_int(keys_blob_read(link, &text, &len), KEYS_ERR_BLOB_NOT_FILE,
	       "symlink refused");
	(void)snprintf(path, sizeof(path), "%s/fifo", tmp);
	(void)mkfifo(path, 0600);
	is_int(keys_blob_read(path, &text, &len), KEYS_ERR_BLOB_NOT_FILE,
	       "FIFO refused without blocking");
	is_int(keys_blob_read(tmp, &text, &len), KEYS_ERR_BLOB_NOT_FILE,
	       "directory refused");
	{
		char *big = malloc(KEYS_BLOB_MAX + 2);
		memset(big, 'A', KEYS_BLOB_MAX + 1);
		big[KEYS_BLOB_MAX + 1] = '\0';
		put_file("big", big);
		free(big);
		(void)snprintf(path, sizeof(path), "%s/big", tmp);
		is_int(keys_blob_read(path, &text, &len),
		       KEYS_ERR_BLOB_TOO_LARGE, "oversized file");
	}
}

static void test_load(void)
{
	struct config cfg;
	struct secret out = {NULL, 0};
	char where[1024], p1[256], p2[256];
	const char *search[3] = {p1, p2, NULL};
	char *blob = NULL;
	struct secret s = sec("load-secret");

	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = tmp;
	cfg.api_key_format = KEY_FORMAT_AUTO;
	cfg.api_key_salt = (char *)"vultrino-salt";
	(void)snprintf(p1, sizeof(p1), "%s/first.enc", tmp);
	(void)snprintf(p2, sizeof(p2), "%s/second.enc", tmp);

	is_int(keys_load(&cfg, search, &out, where, sizeof(where)), KEYS_OK,
	       "no secret, no blob: fine");
	ok(out.value == NULL, "and no key");
	ok(strstr(where, "first.enc") && strstr(where, "second.enc"),
	   "both places searched");
	cfg.encryption_secret = s;
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)),
	       KEYS_ERR_NO_BLOB, "secret without blob");
	(void)keys_blob_encrypt("pb-from-second", 14, KEY_FORMAT_V1, &s, NULL,
				&blob);
	put_file("second.enc", blob);
	free(blob);
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)), KEYS_OK,
	       "found in the second place");
	is_str(out.value, "pb-from-second", "decrypted");
	ok(strstr(where, "second.enc") != NULL, "where names it");
	secret_free(&out);
	put_file("first.enc", "tik1.AAAA\n");
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)),
	       KEYS_ERR_SHORT, "the first place wins, even when broken");
	cfg.encryption_secret = (struct secret){NULL, 0};
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)),
	       KEYS_ERR_NO_SECRET, "blob without secret");
	cfg.encryption_secret = s;
	cfg.api_key_file = p2;
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)), KEYS_OK,
	       "TENANT_API_KEY_FILE replaces the search");
	secret_free(&out);
	(void)snprintf(p1, sizeof(p1), "%s/nope.enc", tmp);
	cfg.api_key_file = p1;
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)),
	       KEYS_ERR_BLOB_MISSING, "explicit file missing");
	cfg.encryption_secret = (struct secret){NULL, 0};
	is_int(keys_load(&cfg, search, &out, where, sizeof(where)),
	       KEYS_ERR_BLOB_MISSING, "explicit file missing, no secret");
	/* The default search: $state_dir/.tenant/api-key.enc first. */
	cfg.api_key_file = NULL;
	cfg.encryption_secret = s;
	{
		char dir[256];
		(void)snprintf(dir, sizeof(dir), "%s/.tenant", tmp);
		(void)mkdir(dir, 0700);
		(void)keys_blob_encrypt("pb-default", 10, KEY_FORMAT_POECLAW,
					&s, NULL, &blob);
		put_file(".tenant/api-key.enc", blob);
		free(blob);
		is_int(keys_load(&cfg, NULL, &out, where, sizeof(where)),
		       KEYS_OK, "default place in the state directory");
		is_str(out.value, "pb-default", "decrypted (auto: poeclaw)");
		secret_free(&out);
	}
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_vectors();
	test_wrong_salt();
	test_roundtrip();
	test_flip_text(KEY_FORMAT_V1, "secret-v1", 1);
	test_flip_text(KEY_FORMAT_POECLAW, "secret-poeclaw", 1);
	test_flip_text(KEY_FORMAT_PBKDF2, "secret-pbkdf2", 23);
	test_flip_bytes();
	test_flip_bytes_v1_pbkdf2();
	test_errors();
	test_messages();
	test_read();
	test_load();
	{
		char cmd[300];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			diag("unable to remove %s", tmp);
	}
	return tap_done();
}
