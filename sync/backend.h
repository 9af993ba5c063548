/* SPDX-License-Identifier: MIT */
/*
 * Storage backends: one asynchronous interface, two implementations.
 *
 *   s3.c         S3-compatible object storage (R2, AWS, s3rver) over libcurl
 *   fsbackend.c  file:///path, a local directory with the same semantics
 *
 * Every operation completes through its callback, from the event loop and
 * never from inside the call that started it. The op handle stays valid
 * until the callback has returned, or until backend_cancel() (after which
 * no callback runs). Backends do not retry: they classify each failure
 * (struct backend_status) and the caller decides when to try again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "init/config.h"
#include "sync/hash.h"
#include "sync/state.h"

struct loop;
struct sync_config;
struct backend;
struct backend_op;

/* An object, as a listing or a transfer describes it. */
struct backend_obj {
	const char *key; /* full key; may hold any byte: use key_len */
	size_t key_len;
	uint64_t size;
	char etag[STATE_ETAG_MAX]; /* "" = unknown */
	char md5[HASH_MD5_HEX];	   /* content MD5 when known, else "" */
	int64_t mtime_ns;	   /* from metadata; -1 = unknown */
	int64_t last_modified_ns;  /* the store's own time; -1 = unknown */
};

struct backend_status {
	/*
	 * 0; -ENOENT no such object; -ESTALE the local file changed while it
	 * was read (or the store saw a digest mismatch); -EEXIST a
	 * conditional write's precondition failed; -EACCES refused;
	 * -EIO transport or server failure; -ECANCELED; other -errno for
	 * local failures.
	 */
	int err;
	long http_status;
	char code[64];		 /* the store's error code, e.g. SlowDown */
	bool retryable;		 /* worth trying again later */
	bool throttled;		 /* the store asked us to slow down */
	uint64_t retry_after_ms; /* the store's Retry-After, 0 = none */
	char detail[200];	 /* for the log */
};

/* One page of a listing (the objects are valid during the call only). */
typedef void (*backend_page_cb)(void *ctx, const struct backend_obj *objs,
				size_t n);
/* End of an operation. obj: what a get/put produced (NULL otherwise). */
typedef void (*backend_done_cb)(void *ctx, const struct backend_status *st,
				const struct backend_obj *obj);
/* End of a delete batch: keys the store could not delete (st->err = 0). */
typedef void (*backend_del_cb)(void *ctx, const struct backend_status *st,
			       char *const *failed, size_t nfailed);

/* Most keys one delete batch may carry (S3's DeleteObjects limit). */
#define BACKEND_DELETE_MAX 1000

struct backend_ops {
	const char *name;
	int (*list)(struct backend *b, const char *prefix, backend_page_cb page,
		    backend_done_cb done, void *ctx, struct backend_op **op);
	int (*get)(struct backend *b, const char *key, int fd,
		   backend_done_cb done, void *ctx, struct backend_op **op);
	int (*put)(struct backend *b, const char *key, int fd, uint64_t size,
		   int64_t mtime_ns, backend_done_cb done, void *ctx,
		   struct backend_op **op);
	int (*put_if)(struct backend *b, const char *key, int fd, uint64_t size,
		      int64_t mtime_ns, const char *cond, backend_done_cb done,
		      void *ctx, struct backend_op **op);
	int (*del)(struct backend *b, char *const *keys, size_t n,
		   backend_del_cb done, void *ctx, struct backend_op **op);
	/* May be NULL: the backend has no credentials. */
	int (*set_creds)(struct backend *b, const char *key_id,
			 const struct secret *secret,
			 const struct secret *token);
	void (*cancel)(struct backend *b, struct backend_op *op);
	void (*free)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
	char *id; /* where the objects are, for the sync state */
};

/*
 * The backend sc names (S3 or file), on loop. max_conns bounds parallel
 * connections. Returns NULL with a reason in err.
 */
struct backend *backend_new(struct loop *loop, const struct sync_config *sc,
			    unsigned max_conns, char *err, size_t errlen);

/* Cancel everything in flight (no callbacks) and free. NULL accepted. */
void backend_free(struct backend *b);

/*
 * List every object whose key starts with prefix, a page at a time; done
 * follows the last page (or the failure; pages already delivered stay
 * delivered). Returns 0 or -errno (then no callback runs).
 */
int backend_list(struct backend *b, const char *prefix, backend_page_cb page,
		 backend_done_cb done, void *ctx, struct backend_op **op);

/*
 * Download key into fd (an empty file, written from offset 0). Integrity
 * is checked (length; MD5 when the ETag is one) before done reports
 * success; obj carries the size, ETag and metadata mtime.
 */
int backend_get(struct backend *b, const char *key, int fd,
		backend_done_cb done, void *ctx, struct backend_op **op);

/*
 * Upload size bytes of fd (from offset 0) as key with modification time
 * mtime_ns, with an integrity checksum the store verifies. Large files go
 * in parts. obj carries the resulting ETag and the content MD5.
 */
int backend_put(struct backend *b, const char *key, int fd, uint64_t size,
		int64_t mtime_ns, backend_done_cb done, void *ctx,
		struct backend_op **op);

/*
 * A conditional upload of a small object (single part): cond "*" writes
 * only when key does not exist (If-None-Match: *), any other cond only
 * when key's ETag is cond (If-Match). A precondition that fails is
 * st->err -EEXIST (for If-Match on an absent key: -ENOENT). The store
 * must implement conditional writes (S3 and R2 do); the file backend does
 * it under an flock of the key's directory.
 */
int backend_put_if(struct backend *b, const char *key, int fd, uint64_t size,
		   int64_t mtime_ns, const char *cond, backend_done_cb done,
		   void *ctx, struct backend_op **op);

/* Delete up to BACKEND_DELETE_MAX keys in one request. */
int backend_del(struct backend *b, char *const *keys, size_t n,
		backend_del_cb done, void *ctx, struct backend_op **op);

/*
 * New credentials (rotated), used from the next request on; requests in
 * flight keep theirs. token may be empty. Returns 0, -ENOTSUP for a
 * backend without credentials, -ENOMEM (the old ones stay).
 */
int backend_set_creds(struct backend *b, const char *key_id,
		      const struct secret *secret, const struct secret *token);

/* Abort an operation; its callback will not run. NULL is accepted. */
void backend_cancel(struct backend *b, struct backend_op *op);

/* Fill st for a local failure err (not retryable unless said). */
void backend_status_local(struct backend_status *st, int err, bool retryable,
			  const char *detail);
