/* SPDX-License-Identifier: MIT */
/*
 * HTTP requests through one libcurl multi handle folded into the agent's
 * epoll loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION, as curl's
 * ephiperfifo example): connections are kept alive and reused, any number
 * of transfers run at once, and nothing blocks the loop.
 *
 * No curl type appears here; the S3 backend describes a request with
 * struct creq_spec and gets struct creq_result back in a callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/hash.h"

struct loop;
struct curlloop;
struct creq;

struct creq_spec {
	const char *method;   /* GET PUT POST DELETE HEAD */
	const char *url;      /* already percent-encoded, query sorted */
	char *const *headers; /* "Name: value", NULL-terminated, or NULL */
	const char *sigv4;    /* "aws:amz:REGION:s3", or NULL: unsigned */
	const char *user;     /* access key id */
	const char *password; /* secret access key */
	/* request body: from memory, or bytes [body_off, +body_size) of fd */
	const void *body;
	size_t body_len;
	int body_fd; /* -1: memory body */
	uint64_t body_off;
	uint64_t body_size;
	/* successful (2xx) response body: to resp_fd, to on_data, or kept in
	 * memory up to resp_max bytes (error bodies always go to memory) */
	int resp_fd; /* -1: not to a file */
	void (*on_data)(void *ctx, const char *buf, size_t len);
	void *on_data_ctx;
	size_t resp_max;
	bool hash_resp; /* MD5 of what went to resp_fd */
};

/* Response headers the backends read. */
struct creq_headers {
	char etag[96];
	char mtime[48];	    /* x-amz-meta-mtime */
	char md5chksum[48]; /* x-amz-meta-md5chksum (rclone) */
	char date[64];
	char retry_after[64];
	char last_modified[64];
	int64_t content_length; /* -1: none */
};

struct creq_result {
	int err; /* 0; -ESTALE: body source changed; -EIO: transport */
	const char *errmsg; /* curl's words for err, or "" */
	long status;	    /* HTTP status, 0 without a response */
	const char *body;   /* memory body (NUL-terminated), or NULL */
	size_t body_len;
	uint64_t resp_bytes; /* bytes of the body received */
	uint8_t resp_md5[HASH_MD5_LEN];
	struct creq_headers h;
};

typedef void (*creq_done_cb)(void *ctx, const struct creq_result *res);

/*
 * Create the multi handle on loop. max_conns bounds the connections per
 * host (and the cached ones). Returns NULL and sets errno on failure.
 */
struct curlloop *curlloop_new(struct loop *loop, unsigned max_conns);

/* Abort every request (no callbacks) and free. NULL is accepted. */
void curlloop_free(struct curlloop *cl);

/*
 * Start a request. The spec's strings are copied; the body memory and fds
 * must stay valid until the callback (or curlloop_cancel). cb runs from the
 * loop, never from inside this call; after it returns the request is gone.
 * Returns 0 with *out set (out may be NULL), or -errno.
 */
int curlloop_start(struct curlloop *cl, const struct creq_spec *spec,
		   creq_done_cb cb, void *ctx, struct creq **out);

/* Abort a request; its callback will not run. */
void curlloop_cancel(struct creq *r);

/* Requests in flight. */
unsigned curlloop_active(const struct curlloop *cl);

/* Parse an HTTP date (Date, Last-Modified). Returns unix seconds or -1. */
int64_t curlloop_parse_date(const char *s);
