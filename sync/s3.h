/* SPDX-License-Identifier: MIT */
/*
 * The S3-compatible backend (R2, AWS S3, s3rver) over libcurl.
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3")
 * with the x-amz-content-sha256 header supplied here (curl 7.88 does not
 * add it; see ../shared/FIELD-NOTES.md). Keys are percent-encoded and
 * query strings sorted here, in canonical form, because curl 7.88 signs
 * the path and query as it finds them. Uploads carry Content-MD5 and the
 * payload SHA-256, both checked by the store; files over
 * S3_MULTIPART_THRESHOLD go as a multipart upload (aborted on failure).
 * Listings use ListObjectsV2 with encoding-type=url, parsed as a stream.
 */
#pragma once

#include <stddef.h>

#include "sync/backend.h"

struct sync_config;

/* Files larger than this are uploaded in parts. */
#define S3_MULTIPART_THRESHOLD (64ull * 1024 * 1024)
/* Smallest part size (S3 allows 5 MiB; larger parts, fewer requests). */
#define S3_PART_SIZE (16ull * 1024 * 1024)

/* See backend_new(). */
struct backend *s3_backend_new(struct loop *loop, const struct sync_config *sc,
			       unsigned max_conns, char *err, size_t errlen);

/*
 * Percent-encode a key for a URL path the way SigV4 canonicalises it:
 * A-Z a-z 0-9 - _ . ~ and '/' stay, every other byte becomes %XX. Returns
 * a new string or NULL (errno).
 */
char *s3_key_encode(const char *key, size_t len);

/* A request shape, for s3_debug_request(). */
struct s3_debug_request {
	const char *method;
	const char *key;   /* NULL: the bucket itself */
	const char *query; /* canonical query, or NULL */
	char *const *headers;
	const char *body;
	size_t body_len;
};

/*
 * For tests: send one request as the backend would build it (URL, key
 * encoding, x-amz-content-sha256, signing), synchronously, connecting to
 * connect_to (curl's CURLOPT_CONNECT_TO form "HOST:PORT:ADDR:PORT"), and
 * return the request line and headers it sent in headers_out (cut to
 * cap). Returns 0 or -errno.
 */
int s3_debug_request(const struct sync_config *sc,
		     const struct s3_debug_request *rq, const char *connect_to,
		     char *headers_out, size_t cap);
