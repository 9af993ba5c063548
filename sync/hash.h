/* SPDX-License-Identifier: MIT */
/*
 * Content digests for storage integrity: MD5 (Content-MD5, S3 ETags) and
 * SHA-256 (x-amz-content-sha256), through OpenSSL's EVP interface, plus the
 * hex and base64 forms the protocol wants.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_MD5_LEN	16
#define HASH_SHA256_LEN 32
#define HASH_MD5_HEX	(2 * HASH_MD5_LEN + 1)
#define HASH_SHA256_HEX (2 * HASH_SHA256_LEN + 1)
#define HASH_MD5_B64	25 /* base64 of 16 bytes + NUL */
#define HASH_SHA256_B64 45 /* base64 of 32 bytes + NUL */

struct hasher;

/* Start MD5 and/or SHA-256 digests. Returns NULL and sets errno. */
struct hasher *hasher_new(bool md5, bool sha256);

/* Feed bytes. */
void hasher_update(struct hasher *h, const void *buf, size_t len);

/*
 * Finish: the digests asked for at hasher_new() go to md5/sha256 (either
 * may be NULL). The hasher can be fed again afterwards from scratch.
 */
void hasher_final(struct hasher *h, uint8_t *md5, uint8_t *sha256);

/* Free (NULL is accepted). */
void hasher_free(struct hasher *h);

/*
 * Digest len bytes of fd from offset off (pread, so the file offset does not
 * move). Returns 0, -EIO when the file is shorter than off+len (it shrank:
 * the caller treats it as changed), or -errno.
 */
int hash_fd_range(int fd, uint64_t off, uint64_t len, uint8_t *md5,
		  uint8_t *sha256);

/* Digest a buffer. */
void hash_buf(const void *buf, size_t len, uint8_t *md5, uint8_t *sha256);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void hash_hex(const uint8_t *in, size_t len, char *out);

/* Standard base64 (with padding) of len bytes into out (4*ceil(len/3)+1). */
void hash_b64(const uint8_t *in, size_t len, char *out);

/* Parse 32 hex digits into 16 bytes. Returns true when s was exactly that. */
bool hash_md5_from_hex(const char *s, uint8_t *md5);
