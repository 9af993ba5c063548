/* SPDX-License-Identifier: MIT */
#include "sync/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

struct hasher {
	EVP_MD_CTX *md5;
	EVP_MD_CTX *sha256;
};

static int ctx_start(EVP_MD_CTX **ctx, const EVP_MD *md)
{
	if (!*ctx)
		*ctx = EVP_MD_CTX_new();
	if (!*ctx || EVP_DigestInit_ex(*ctx, md, NULL) != 1)
		return -ENOMEM;
	return 0;
}

struct hasher *hasher_new(bool md5, bool sha256)
{
	struct hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if ((md5 && ctx_start(&h->md5, EVP_md5()) < 0) ||
	    (sha256 && ctx_start(&h->sha256, EVP_sha256()) < 0)) {
		hasher_free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

void hasher_update(struct hasher *h, const void *buf, size_t len)
{
	/* EVP_DigestUpdate cannot fail for these software digests. */
	if (h->md5)
		(void)EVP_DigestUpdate(h->md5, buf, len);
	if (h->sha256)
		(void)EVP_DigestUpdate(h->sha256, buf, len);
}

void hasher_final(struct hasher *h, uint8_t *md5, uint8_t *sha256)
{
	uint8_t scratch[EVP_MAX_MD_SIZE];

	if (h->md5) {
		(void)EVP_DigestFinal_ex(h->md5, md5 ? md5 : scratch, NULL);
		(void)EVP_DigestInit_ex(h->md5, EVP_md5(), NULL);
	}
	if (h->sha256) {
		(void)EVP_DigestFinal_ex(h->sha256, sha256 ? sha256 : scratch,
					 NULL);
		(void)EVP_DigestInit_ex(h->sha256, EVP_sha256(), NULL);
	}
}

void hasher_free(struct hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md5);
	EVP_MD_CTX_free(h->sha256);
	free(h);
}

int hash_fd_range(int fd, uint64_t off, uint64_t len, uint8_t *md5,
		  uint8_t *sha256)
{
	struct hasher *h = hasher_new(md5 != NULL, sha256 != NULL);
	size_t cap = 256 * 1024;
	uint8_t *buf = malloc(cap);
	int r = 0;

	if (!h || !buf) {
		r = -ENOMEM;
		goto out;
	}
	while (len > 0) {
		size_t want = len < cap ? (size_t)len : cap;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0) {
			r = -EIO;
			goto out;
		}
		hasher_update(h, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	hasher_final(h, md5, sha256);
out:
	free(buf);
	hasher_free(h);
	return r;
}

void hash_buf(const void *buf, size_t len, uint8_t *md5, uint8_t *sha256)
{
	if (md5)
		(void)EVP_Digest(buf, len, md5, NULL, EVP_md5(), NULL);
	if (sha256)
		(void)EVP_Digest(buf, len, sha256, NULL, EVP_sha256(), NULL);
}

void hash_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void hash_b64(const uint8_t *in, size_t len, char *out)
{
	(void)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hash_md5_from_hex(const char *s, uint8_t *md5)
{
	for (size_t i = 0; i < HASH_MD5_LEN; i++) {
		int hi = hexval(s[2 * i]), lo;

		if (hi < 0)
			return false;
		lo = hexval(s[2 * i + 1]);
		if (lo < 0)
			return false;
		md5[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * HASH_MD5_LEN] == '\0';
}
