/* SPDX-License-Identifier: MIT */
#include "sync/backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "init/config.h"
#include "sync/fsbackend.h"
#include "sync/s3.h"

struct backend *backend_new(struct loop *loop, const struct sync_config *sc,
			    unsigned max_conns, char *err, size_t errlen)
{
	switch (sc->kind) {
	case SYNC_S3:
		return s3_backend_new(loop, sc, max_conns, err, errlen);
	case SYNC_FILE:
		return fs_backend_new(loop, sc->file_root, err, errlen);
	case SYNC_OFF:
	default:
		(void)snprintf(err, errlen, "sync is off");
		errno = EINVAL;
		return NULL;
	}
}

void backend_free(struct backend *b)
{
	if (b)
		b->ops->free(b);
}

int backend_list(struct backend *b, const char *prefix, backend_page_cb page,
		 backend_done_cb done, void *ctx, struct backend_op **op)
{
	return b->ops->list(b, prefix, page, done, ctx, op);
}

int backend_get(struct backend *b, const char *key, int fd,
		backend_done_cb done, void *ctx, struct backend_op **op)
{
	return b->ops->get(b, key, fd, done, ctx, op);
}

int backend_put(struct backend *b, const char *key, int fd, uint64_t size,
		int64_t mtime_ns, backend_done_cb done, void *ctx,
		struct backend_op **op)
{
	return b->ops->put(b, key, fd, size, mtime_ns, done, ctx, op);
}

int backend_put_if(struct backend *b, const char *key, int fd, uint64_t size,
		   int64_t mtime_ns, const char *cond, backend_done_cb done,
		   void *ctx, struct backend_op **op)
{
	if (!cond || !cond[0])
		return -EINVAL;
	return b->ops->put_if(b, key, fd, size, mtime_ns, cond, done, ctx, op);
}

int backend_del(struct backend *b, char *const *keys, size_t n,
		backend_del_cb done, void *ctx, struct backend_op **op)
{
	if (n == 0 || n > BACKEND_DELETE_MAX)
		return -EINVAL;
	return b->ops->del(b, keys, n, done, ctx, op);
}

int backend_set_creds(struct backend *b, const char *key_id,
		      const struct secret *secret, const struct secret *token)
{
	if (!b->ops->set_creds)
		return -ENOTSUP;
	return b->ops->set_creds(b, key_id, secret, token);
}

void backend_cancel(struct backend *b, struct backend_op *op)
{
	if (op)
		b->ops->cancel(b, op);
}

void backend_status_local(struct backend_status *st, int err, bool retryable,
			  const char *detail)
{
	memset(st, 0, sizeof(*st));
	st->err = err;
	st->retryable = retryable;
	(void)snprintf(st->detail, sizeof(st->detail), "%s",
		       detail ? detail : strerror(-err));
}
