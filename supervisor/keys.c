/* SPDX-License-Identifier: MIT */
#include "supervisor/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "init/cleanup.h"

#define KEY_LEN	       32
#define IV_LEN	       12
#define TAG_LEN	       16
#define SALT_LEN       16
#define PBKDF2_ITER    100000
#define V1_PREFIX      "tik1."
#define V1_PREFIX_LEN  5
#define V1_INFO	       "tenant-init api-key v1"
#define POECLAW_PAD    '0'
#define WHERE_SEP      ", "
#define BLOB_TEXT_MAX  KEYS_BLOB_MAX
#define DEFAULT_SALT   "vultrino-salt"
#define SEARCH_DEFAULT 2

static const char *const messages[KEYS_RESULT_COUNT] = {
    [KEYS_OK] = "ok",
    [KEYS_ERR_NO_SECRET] = "an encrypted API key is stored but neither "
			   "ENCRYPTION_SECRET nor ENCRYPTION_SECRET_FILE is "
			   "set, so it cannot be decrypted",
    [KEYS_ERR_EMPTY_SECRET] = "the encryption secret is empty",
    [KEYS_ERR_SECRET_NOT_ASCII] = "the poeclaw format needs an ASCII "
				  "encryption secret (PoeClaw itself cannot "
				  "use any other)",
    [KEYS_ERR_NO_BLOB] = "an encryption secret is set but no encrypted API "
			 "key was found",
    [KEYS_ERR_BLOB_MISSING] = "TENANT_API_KEY_FILE does not exist",
    [KEYS_ERR_BLOB_NOT_FILE] = "the encrypted API key is not a regular file "
			       "(symlinks, FIFOs and devices are refused)",
    [KEYS_ERR_BLOB_TOO_LARGE] = "the encrypted API key file is larger than "
				"the limit",
    [KEYS_ERR_BLOB_READ] = "unable to read the encrypted API key file",
    [KEYS_ERR_BLOB_EMPTY] = "the encrypted API key file is empty",
    [KEYS_ERR_NOT_V1] = "TENANT_API_KEY_FORMAT is v1 but the blob does not "
			"start with 'tik1.'",
    [KEYS_ERR_BASE64] = "the blob is not valid (canonical) base64",
    [KEYS_ERR_SHORT] = "the blob is too short to hold a salt, IV and "
		       "authentication tag",
    [KEYS_ERR_AUTH] = "authentication failed (GCM tag mismatch): a wrong "
		      "encryption secret, salt or format, or a modified blob",
    [KEYS_ERR_PLAINTEXT] = "the decrypted key is empty, too long or holds "
			   "control characters",
    [KEYS_ERR_INPUT] = "the key to encrypt is empty, too long or holds "
		       "control characters",
    [KEYS_ERR_CRYPTO] = "OpenSSL failed internally",
    [KEYS_ERR_NOMEM] = "out of memory",
};

const char *keys_strerror(enum keys_result r)
{
	if ((unsigned)r >= KEYS_RESULT_COUNT || !messages[r])
		return "unknown key error";
	return messages[r];
}

/* ---- helpers ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A usable API key: printable, no control characters (it becomes an
 * environment value and an HTTP header), bounded. */
static bool key_text_ok(const unsigned char *p, size_t len)
{
	if (len == 0 || len > KEYS_PLAINTEXT_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static void *xwipe_free(void *p, size_t len)
{
	if (p) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
	return NULL;
}

/*
 * Strict base64 decoding. OpenSSL's EVP_DecodeBlock accepts more than the
 * canonical form (it ignores the padding bits of the last quantum, and
 * leading blanks), so a changed final character could decode to the same
 * bytes: the result is re-encoded and compared, which makes every accepted
 * text the one and only encoding of its bytes. url selects base64url
 * without padding (v1); it is translated to the standard alphabet first,
 * after refusing '+', '/' and '=' which base64url does not have.
 */
static enum keys_result b64_decode(const char *s, size_t n, bool url,
				   unsigned char **out, size_t *outlen)
{
	_cleanup_free_ char *std = NULL;
	_cleanup_free_ char *re = NULL;
	unsigned char *buf = NULL;
	size_t stdlen, pad = 0;
	int dec;

	*out = NULL;
	*outlen = 0;
	if (n == 0 || n > BLOB_TEXT_MAX)
		return n ? KEYS_ERR_BLOB_TOO_LARGE : KEYS_ERR_BASE64;
	std = malloc(n + 4);
	if (!std)
		return KEYS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9');
		if (url) {
			if (c == '-')
				c = '+';
			else if (c == '_')
				c = '/';
			else if (!alnum)
				return KEYS_ERR_BASE64;
		} else if (!alnum && c != '+' && c != '/' && c != '=') {
			return KEYS_ERR_BASE64;
		}
		std[i] = c;
	}
	stdlen = n;
	if (url) {
		if (n % 4 == 1)
			return KEYS_ERR_BASE64;
		while (stdlen % 4)
			std[stdlen++] = '=';
	} else if (n % 4) {
		return KEYS_ERR_BASE64;
	}
	std[stdlen] = '\0';
	/* '=' only as one or two final characters. */
	while (pad < 2 && pad < stdlen && std[stdlen - 1 - pad] == '=')
		pad++;
	if (memchr(std, '=', stdlen - pad))
		return KEYS_ERR_BASE64;
	buf = malloc(stdlen / 4 * 3 + 1);
	re = malloc(stdlen + 1);
	if (!buf || !re) {
		free(buf);
		return KEYS_ERR_NOMEM;
	}
	dec = EVP_DecodeBlock(buf, (const unsigned char *)std, (int)stdlen);
	if (dec < 0 || (size_t)dec != stdlen / 4 * 3) {
		free(buf);
		return KEYS_ERR_BASE64;
	}
	*outlen = (size_t)dec - pad;
	if (EVP_EncodeBlock((unsigned char *)re, buf, (int)*outlen) !=
		(int)stdlen ||
	    memcmp(re, std, stdlen) != 0) {
		free(buf);
		*outlen = 0;
		return KEYS_ERR_BASE64;
	}
	*out = buf;
	return KEYS_OK;
}

/* base64 (url without padding) of len bytes, appended after prefix. */
static char *b64_encode(const char *prefix, const unsigned char *p, size_t len,
			bool url)
{
	size_t pl = strlen(prefix);
	size_t cap = pl + (len + 2) / 3 * 4 + 1;
	char *out = malloc(cap);
	int n;

	if (!out)
		return NULL;
	memcpy(out, prefix, pl);
	n = EVP_EncodeBlock((unsigned char *)out + pl, p, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	out[pl + (size_t)n] = '\0';
	if (url) {
		for (char *c = out + pl; *c; c++) {
			if (*c == '+')
				*c = '-';
			else if (*c == '/')
				*c = '_';
			else if (*c == '=')
				*c = '\0';
		}
	}
	return out;
}

/* ---- key derivation ---- */

/*
 * PoeClaw's derivation: secret.padEnd(32, '0').slice(0, 32), encoded as
 * UTF-8. For ASCII that is exactly 32 bytes; anything else would change
 * length under UTF-8 (and JavaScript slices UTF-16 code units), so it is
 * refused rather than guessed.
 */
static enum keys_result derive_poeclaw(const struct secret *secret,
				       unsigned char key[KEY_LEN])
{
	for (size_t i = 0; i < secret->len; i++)
		if ((unsigned char)secret->value[i] >= 0x80)
			return KEYS_ERR_SECRET_NOT_ASCII;
	memset(key, POECLAW_PAD, KEY_LEN);
	memcpy(key, secret->value,
	       secret->len < KEY_LEN ? secret->len : KEY_LEN);
	return KEYS_OK;
}

static enum keys_result derive_pbkdf2(const struct secret *secret,
				      const char *salt,
				      unsigned char key[KEY_LEN])
{
	if (!salt)
		salt = DEFAULT_SALT;
	if (PKCS5_PBKDF2_HMAC(secret->value, (int)secret->len,
			      (const unsigned char *)salt, (int)strlen(salt),
			      PBKDF2_ITER, EVP_sha256(), KEY_LEN, key) != 1)
		return KEYS_ERR_CRYPTO;
	return KEYS_OK;
}

static enum keys_result derive_v1(const struct secret *secret,
				  const unsigned char salt[SALT_LEN],
				  unsigned char key[KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int ok = 0;

	if (kctx) {
		params[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
		params[1] = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_KEY, secret->value, secret->len);
		params[2] = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_SALT, (void *)salt, SALT_LEN);
		params[3] = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_INFO, (void *)V1_INFO, strlen(V1_INFO));
		params[4] = OSSL_PARAM_construct_end();
		ok = EVP_KDF_derive(kctx, key, KEY_LEN, params);
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok == 1 ? KEYS_OK : KEYS_ERR_CRYPTO;
}

/* ---- AES-256-GCM ---- */

/*
 * Decrypt ct into out (ctlen bytes). GCM writes plaintext before the tag
 * is checked, so on a tag mismatch out is wiped here: unauthenticated
 * plaintext never leaves this function.
 */
static enum keys_result
gcm_decrypt(const unsigned char key[KEY_LEN], const unsigned char iv[IV_LEN],
	    const unsigned char *aad, size_t aadlen, const unsigned char *ct,
	    size_t ctlen, const unsigned char tag[TAG_LEN], unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	enum keys_result r = KEYS_ERR_CRYPTO;
	int n = 0, fin;

	if (!ctx)
		return KEYS_ERR_NOMEM;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) !=
		1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
		goto out;
	if (aadlen && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (ctlen && EVP_DecryptUpdate(ctx, out, &n, ct, (int)ctlen) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				(void *)tag) != 1)
		goto out;
	fin = EVP_DecryptFinal_ex(ctx, out + (ctlen ? (size_t)n : 0), &n);
	r = fin > 0 ? KEYS_OK : KEYS_ERR_AUTH;
out:
	if (r != KEYS_OK && ctlen)
		OPENSSL_cleanse(out, ctlen);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

static enum keys_result
gcm_encrypt(const unsigned char key[KEY_LEN], const unsigned char iv[IV_LEN],
	    const unsigned char *aad, size_t aadlen, const unsigned char *pt,
	    size_t ptlen, unsigned char *ct, unsigned char tag[TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	enum keys_result r = KEYS_ERR_CRYPTO;
	int n = 0;

	if (!ctx)
		return KEYS_ERR_NOMEM;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) !=
		1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
		goto out;
	if (aadlen && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	r = KEYS_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* ---- public: decrypt / encrypt ---- */

static enum keys_result check_secret(const struct secret *secret)
{
	if (!secret || !secret->value)
		return KEYS_ERR_NO_SECRET;
	if (secret->len == 0)
		return KEYS_ERR_EMPTY_SECRET;
	return KEYS_OK;
}

enum keys_result keys_blob_decrypt(const char *text, size_t len,
				   enum key_format fmt,
				   const struct secret *secret,
				   const char *salt, struct secret *out)
{
	unsigned char key[KEY_LEN];
	unsigned char *raw = NULL;
	unsigned char *pt = NULL;
	size_t rawlen = 0, hdr, ctlen;
	const unsigned char *iv, *ct, *tag;
	const unsigned char *aad = NULL;
	size_t aadlen = 0;
	bool v1;
	enum keys_result r;

	out->value = NULL;
	out->len = 0;
	r = check_secret(secret);
	if (r != KEYS_OK)
		return r;
	while (len && is_blank(*text)) {
		text++;
		len--;
	}
	while (len && is_blank(text[len - 1]))
		len--;
	if (len == 0)
		return KEYS_ERR_BLOB_EMPTY;
	if (len > BLOB_TEXT_MAX)
		return KEYS_ERR_BLOB_TOO_LARGE;
	v1 =
	    len >= V1_PREFIX_LEN && memcmp(text, V1_PREFIX, V1_PREFIX_LEN) == 0;
	if (fmt == KEY_FORMAT_V1 && !v1)
		return KEYS_ERR_NOT_V1;
	if (fmt == KEY_FORMAT_AUTO)
		fmt = v1 ? KEY_FORMAT_V1 : KEY_FORMAT_POECLAW;
	if (fmt == KEY_FORMAT_V1)
		r = b64_decode(text + V1_PREFIX_LEN, len - V1_PREFIX_LEN, true,
			       &raw, &rawlen);
	else
		r = b64_decode(text, len, false, &raw, &rawlen);
	if (r != KEYS_OK)
		return r;

	hdr = fmt == KEY_FORMAT_V1 ? SALT_LEN + IV_LEN : IV_LEN;
	if (rawlen < hdr + TAG_LEN) {
		free(raw);
		return KEYS_ERR_SHORT;
	}
	switch (fmt) {
	case KEY_FORMAT_V1:
		r = derive_v1(secret, raw, key);
		aad = (const unsigned char *)V1_INFO;
		aadlen = strlen(V1_INFO);
		break;
	case KEY_FORMAT_PBKDF2:
		r = derive_pbkdf2(secret, salt, key);
		break;
	case KEY_FORMAT_POECLAW:
	case KEY_FORMAT_AUTO:
	default:
		r = derive_poeclaw(secret, key);
		break;
	}
	if (r != KEYS_OK)
		goto out;
	iv = raw + hdr - IV_LEN;
	ct = raw + hdr;
	ctlen = rawlen - hdr - TAG_LEN;
	tag = ct + ctlen;
	pt = malloc(ctlen + 1);
	if (!pt) {
		r = KEYS_ERR_NOMEM;
		goto out;
	}
	r = gcm_decrypt(key, iv, aad, aadlen, ct, ctlen, tag, pt);
	if (r != KEYS_OK)
		goto out;
	if (!key_text_ok(pt, ctlen)) {
		r = KEYS_ERR_PLAINTEXT;
		goto out;
	}
	pt[ctlen] = '\0';
	out->value = (char *)pt;
	out->len = ctlen;
	pt = NULL;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (pt)
		xwipe_free(pt, ctlen + 1);
	xwipe_free(raw, rawlen);
	return r;
}

enum keys_result keys_blob_encrypt(const char *plain, size_t len,
				   enum key_format fmt,
				   const struct secret *secret,
				   const char *salt, char **out)
{
	unsigned char key[KEY_LEN];
	unsigned char *raw = NULL;
	size_t hdr, rawlen;
	const unsigned char *aad = NULL;
	size_t aadlen = 0;
	enum keys_result r;

	*out = NULL;
	r = check_secret(secret);
	if (r != KEYS_OK)
		return r;
	if (!key_text_ok((const unsigned char *)plain, len))
		return KEYS_ERR_INPUT;
	if (fmt == KEY_FORMAT_AUTO)
		fmt = KEY_FORMAT_V1;
	hdr = fmt == KEY_FORMAT_V1 ? SALT_LEN + IV_LEN : IV_LEN;
	rawlen = hdr + len + TAG_LEN;
	raw = malloc(rawlen);
	if (!raw)
		return KEYS_ERR_NOMEM;
	if (RAND_bytes(raw, (int)hdr) != 1) {
		r = KEYS_ERR_CRYPTO;
		goto out;
	}
	switch (fmt) {
	case KEY_FORMAT_V1:
		r = derive_v1(secret, raw, key);
		aad = (const unsigned char *)V1_INFO;
		aadlen = strlen(V1_INFO);
		break;
	case KEY_FORMAT_PBKDF2:
		r = derive_pbkdf2(secret, salt, key);
		break;
	case KEY_FORMAT_POECLAW:
	case KEY_FORMAT_AUTO:
	default:
		r = derive_poeclaw(secret, key);
		break;
	}
	if (r != KEYS_OK)
		goto out;
	r = gcm_encrypt(key, raw + hdr - IV_LEN, aad, aadlen,
			(const unsigned char *)plain, len, raw + hdr,
			raw + hdr + len);
	if (r != KEYS_OK)
		goto out;
	if (fmt == KEY_FORMAT_V1)
		*out = b64_encode(V1_PREFIX, raw, rawlen, true);
	else
		*out = b64_encode("", raw, rawlen, false);
	if (!*out)
		r = KEYS_ERR_NOMEM;
out:
	OPENSSL_cleanse(key, sizeof(key));
	xwipe_free(raw, rawlen);
	return r;
}

/* ---- finding and reading the blob ---- */

enum keys_result keys_blob_read(const char *path, char **text, size_t *len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;
	ssize_t got = 0;

	*text = NULL;
	*len = 0;
	/*
	 * The data directory comes from the tenant's bucket: a symlink there
	 * could point anywhere, and a FIFO would block this single-threaded
	 * PID 1 forever. O_NOFOLLOW + O_NONBLOCK, then only regular files.
	 */
	fd = open(path,
		  O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return KEYS_ERR_BLOB_MISSING;
		if (errno == ELOOP)
			return KEYS_ERR_BLOB_NOT_FILE;
		return KEYS_ERR_BLOB_READ;
	}
	if (fstat(fd, &st) < 0)
		return KEYS_ERR_BLOB_READ;
	if (!S_ISREG(st.st_mode))
		return KEYS_ERR_BLOB_NOT_FILE;
	if (st.st_size > BLOB_TEXT_MAX)
		return KEYS_ERR_BLOB_TOO_LARGE;
	buf = malloc(BLOB_TEXT_MAX + 2);
	if (!buf)
		return KEYS_ERR_NOMEM;
	/* The size may change under us: the read itself is bounded too. */
	while (n <= BLOB_TEXT_MAX &&
	       (got = TEMP_FAILURE_RETRY(
		    read(fd, buf + n, BLOB_TEXT_MAX + 1 - n))) > 0)
		n += (size_t)got;
	if (n > BLOB_TEXT_MAX)
		return KEYS_ERR_BLOB_TOO_LARGE;
	if (got < 0 && n <= BLOB_TEXT_MAX)
		return KEYS_ERR_BLOB_READ;
	buf[n] = '\0';
	*text = steal_ptr(&buf);
	*len = n;
	return KEYS_OK;
}

static void where_add(char *where, size_t cap, const char *path)
{
	size_t used = strlen(where);

	if (used && used + sizeof(WHERE_SEP) < cap) {
		memcpy(where + used, WHERE_SEP, sizeof(WHERE_SEP));
		used += sizeof(WHERE_SEP) - 1;
	}
	(void)snprintf(where + used, cap - used, "%s", path);
}

enum keys_result keys_load(const struct config *cfg, const char *const *search,
			   struct secret *out, char *where, size_t wherelen)
{
	_cleanup_free_ char *def = NULL;
	const char *defaults[SEARCH_DEFAULT + 1];
	const char *one[2] = {NULL, NULL};
	_cleanup_free_ char *text = NULL;
	const char *found = NULL;
	size_t len = 0;
	bool have_secret = cfg->encryption_secret.value != NULL;
	enum keys_result r = KEYS_ERR_BLOB_MISSING;

	out->value = NULL;
	out->len = 0;
	where[0] = '\0';
	if (cfg->api_key_file) {
		one[0] = cfg->api_key_file;
		search = one;
	} else if (!search) {
		if (asprintf(&def, "%s/%s", cfg->state_dir,
			     KEYS_DEFAULT_REL_PATH) < 0) {
			def = NULL;
			return KEYS_ERR_NOMEM;
		}
		defaults[0] = def;
		defaults[1] = KEYS_POECLAW_PATH;
		defaults[2] = NULL;
		search = defaults;
	}
	for (const char *const *p = search; *p; p++) {
		r = keys_blob_read(*p, &text, &len);
		if (r == KEYS_ERR_BLOB_MISSING) {
			where_add(where, wherelen, *p);
			continue;
		}
		found = *p;
		break;
	}
	if (!found) {
		/* An explicit path must exist; the default search may not. */
		if (cfg->api_key_file)
			return KEYS_ERR_BLOB_MISSING;
		return have_secret ? KEYS_ERR_NO_BLOB : KEYS_OK;
	}
	(void)snprintf(where, wherelen, "%s", found);
	if (r != KEYS_OK)
		return r;
	if (!have_secret) {
		OPENSSL_cleanse(text, len);
		return KEYS_ERR_NO_SECRET;
	}
	r = keys_blob_decrypt(text, len, cfg->api_key_format,
			      &cfg->encryption_secret, cfg->api_key_salt, out);
	OPENSSL_cleanse(text, len);
	return r;
}
