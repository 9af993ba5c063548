/* SPDX-License-Identifier: MIT */
#include "sync/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/config.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/backoff.h"
#include "sync/clock.h"
#include "sync/curlloop.h"
#include "sync/hash.h"
#include "sync/mtime.h"
#include "sync/s3xml.h"

/* SHA-256 of the empty string: the payload hash of bodiless requests. */
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Largest XML answer kept in memory (DeleteObjects results, errors). */
#define XML_MAX (4u * 1024 * 1024)

/* Most parts of a multipart upload (S3's limit). */
#define MAX_PARTS 10000

enum op_kind {
	OP_LIST,
	OP_GET,
	OP_PUT,
	OP_MPU, /* multipart upload */
	OP_DEL,
	OP_ABORT, /* internal: abandon a multipart upload, no callback */
};

enum mpu_step {
	MPU_CREATE,
	MPU_PART,
	MPU_COMPLETE,
};

struct s3;

struct backend_op {
	struct backend_op *next, *prev;
	struct s3 *s3;
	enum op_kind kind;
	struct creq *req;
	backend_done_cb done;
	backend_page_cb page;
	backend_del_cb del_done;
	void *ctx;
	bool in_cb;	/* a page callback is running */
	bool cancelled; /* cancelled from inside it */

	char *key;
	char *url;
	char **headers;
	/* put / multipart */
	int fd;
	uint64_t size;
	int64_t mtime_ns;
	struct stat st0; /* the file when the upload started */
	uint8_t md5[HASH_MD5_LEN];
	enum mpu_step step;
	char *upload_id;
	unsigned part, nparts;
	uint64_t part_size;
	char (*etags)[40];
	uint8_t part_md5[HASH_MD5_LEN];
	/* list */
	char *prefix;
	char *token;
	struct s3_list_parser *parser;
	int parse_err;
	char *cond; /* put_if: "*" or an ETag */
	/* delete / complete: a request body */
	char *body;
	size_t body_len;
	char **failed;
	size_t nfailed;
};

struct s3 {
	struct backend base;
	struct loop *loop;
	struct curlloop *cl;
	char *base_url; /* up to and including the bucket (path style) */
	char *sigv4;
	char *key_id;
	struct secret secret;
	char *token_header; /* x-amz-security-token, or NULL */
	struct backend_op *ops;
};

/* ---- request building ---- */

char *s3_key_encode(const char *key, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || c == '/') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* A query value: like a key, but '/' is encoded too. */
static char *query_encode(const char *v)
{
	_cleanup_free_ char *k = s3_key_encode(v, strlen(v));
	char *out;
	size_t n = 0;

	if (!k)
		return NULL;
	for (const char *p = k; *p; p++)
		n += *p == '/' ? 3 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	n = 0;
	for (const char *p = k; *p; p++) {
		if (*p == '/') {
			memcpy(out + n, "%2F", 3);
			n += 3;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

static char *make_url(const char *base, const char *key, size_t keylen,
		      const char *query)
{
	_cleanup_free_ char *enc = NULL;
	char *url = NULL;

	if (key) {
		enc = s3_key_encode(key, keylen);
		if (!enc)
			return NULL;
	}
	if (asprintf(&url, "%s/%s%s%s", base, enc ? enc : "", query ? "?" : "",
		     query ? query : "") < 0)
		return NULL;
	return url;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/*
 * The header vector of a request: x-amz-content-sha256 (which curl signs
 * with the rest; S3 and R2 refuse a request without it), the session
 * token when there is one, and the operation's own.
 */
static char **make_headers(const char *token_header, const char *sha_hex,
			   char *const *extra)
{
	size_t n = 0, i = 0;
	char **v;

	for (char *const *p = extra; p && *p; p++)
		n++;
	v = calloc(n + 3, sizeof(*v));
	if (!v)
		return NULL;
	if (asprintf(&v[i++], "x-amz-content-sha256: %s", sha_hex) < 0) {
		v[0] = NULL;
		goto fail;
	}
	if (token_header && !(v[i++] = strdup(token_header)))
		goto fail;
	for (char *const *p = extra; p && *p; p++)
		if (!(v[i++] = strdup(*p)))
			goto fail;
	return v;
fail:
	strv_free(v);
	return NULL;
}

static char *make_base_url(const struct sync_config *sc)
{
	char *url = NULL;

	if (!sc->endpoint) {
		/* AWS: virtual-hosted style, the regional endpoint. */
		if (asprintf(&url, "https://%s.s3.%s.amazonaws.com", sc->bucket,
			     sc->region) < 0)
			return NULL;
	} else if (sc->path_style) {
		if (asprintf(&url, "%s/%s", sc->endpoint, sc->bucket) < 0)
			return NULL;
	} else {
		const char *host = strstr(sc->endpoint, "://");
		size_t scheme = host ? (size_t)(host - sc->endpoint) : 0;

		if (!host)
			return NULL;
		if (asprintf(&url, "%.*s://%s.%s", (int)scheme, sc->endpoint,
			     sc->bucket, host + 3) < 0)
			return NULL;
	}
	return url;
}

/* ---- status classification ---- */

static void learn_clock(const struct creq_result *res)
{
	int64_t t = curlloop_parse_date(res->h.date);

	if (t > 0 && sync_clock_observe((time_t)t))
		log_warn("sync: the storage server's clock differs from ours "
			 "by %+lld s; signing with its time",
			 (long long)sync_clock_skew());
}

static void status_from(struct backend_status *st,
			const struct creq_result *res)
{
	char msg[128] = "";

	memset(st, 0, sizeof(*st));
	st->http_status = res->status;
	if (res->err) {
		st->err = res->err == -ESTALE ? -ESTALE : -EIO;
		st->retryable = true;
		(void)snprintf(st->detail, sizeof(st->detail), "%s",
			       res->errmsg ? res->errmsg : strerror(-res->err));
		return;
	}
	if (res->status >= 200 && res->status < 300)
		return;
	if (res->body && res->body_len) {
		(void)s3_xml_find(res->body, res->body_len, "Code", st->code,
				  sizeof(st->code));
		(void)s3_xml_find(res->body, res->body_len, "Message", msg,
				  sizeof(msg));
	}
	(void)snprintf(st->detail, sizeof(st->detail), "HTTP %ld%s%s%s%s",
		       res->status, st->code[0] ? " " : "", st->code,
		       msg[0] ? ": " : "", msg);
	st->retryable = true;
	st->retry_after_ms = backoff_retry_after_ms(res->h.retry_after);
	if (res->status == 404 && strcmp(st->code, "NoSuchBucket") != 0) {
		st->err = -ENOENT;
		st->retryable = false;
	} else if (res->status == 412) {
		/* PreconditionFailed: a conditional write lost. */
		st->err = -EEXIST;
		st->retryable = false;
	} else if (strcmp(st->code, "BadDigest") == 0 ||
		   strcmp(st->code, "XAmzContentSHA256Mismatch") == 0 ||
		   strcmp(st->code, "IncompleteBody") == 0) {
		st->err = -ESTALE;
	} else if (res->status == 429 || res->status == 503 ||
		   strcmp(st->code, "SlowDown") == 0) {
		st->err = -EIO;
		st->throttled = true;
		if (!st->retry_after_ms)
			st->retry_after_ms = 1000;
	} else if (res->status == 403 &&
		   strcmp(st->code, "RequestTimeTooSkewed") != 0) {
		st->err = -EACCES;
	} else {
		st->err = -EIO;
	}
}

/* ---- op lifecycle ---- */

static void op_free(struct backend_op *op)
{
	struct s3 *s3 = op->s3;

	if (op->prev)
		op->prev->next = op->next;
	else if (s3->ops == op)
		s3->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	if (op->req)
		curlloop_cancel(op->req);
	free(op->key);
	free(op->url);
	strv_free(op->headers);
	free(op->upload_id);
	free(op->etags);
	free(op->prefix);
	free(op->token);
	s3_list_parser_free(op->parser);
	free(op->body);
	free(op->cond);
	strv_free(op->failed);
	free(op);
}

static struct backend_op *op_new(struct s3 *s3, enum op_kind kind,
				 const char *key, void *ctx)
{
	struct backend_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->s3 = s3;
	op->kind = kind;
	op->ctx = ctx;
	op->fd = -1;
	if (key && !(op->key = strdup(key))) {
		free(op);
		return NULL;
	}
	op->next = s3->ops;
	if (s3->ops)
		s3->ops->prev = op;
	s3->ops = op;
	return op;
}

static void req_done_cb(void *ctx, const struct creq_result *res);

/*
 * Send the op's next request: method on key (NULL: the bucket) with query,
 * payload hash sha_hex and the op's extra headers.
 */
static int op_send(struct backend_op *op, const char *method, const char *key,
		   const char *query, const char *sha_hex, char *const *extra,
		   const struct creq_spec *body)
{
	struct s3 *s3 = op->s3;
	struct creq_spec spec;

	free(op->url);
	strv_free(op->headers);
	op->url = make_url(s3->base_url, key, key ? strlen(key) : 0, query);
	op->headers = make_headers(s3->token_header, sha_hex, extra);
	if (!op->url || !op->headers)
		return -ENOMEM;
	if (body)
		spec = *body;
	else
		memset(&spec, 0, sizeof(spec));
	if (!body) {
		spec.body_fd = -1;
		spec.resp_fd = -1;
	}
	spec.method = method;
	spec.url = op->url;
	spec.headers = op->headers;
	spec.sigv4 = s3->sigv4;
	spec.user = s3->key_id;
	spec.password = s3->secret.value;
	if (!spec.resp_max)
		spec.resp_max = XML_MAX;
	return curlloop_start(s3->cl, &spec, req_done_cb, op, &op->req);
}

/* Report the end of op and free it. */
static void op_finish(struct backend_op *op, const struct backend_status *st,
		      const struct backend_obj *obj)
{
	if (op->kind == OP_DEL)
		op->del_done(op->ctx, st, op->failed, op->nfailed);
	else if (op->kind != OP_ABORT)
		op->done(op->ctx, st, obj);
	op_free(op);
}

static void op_fail(struct backend_op *op, int err, const char *detail)
{
	struct backend_status st;

	backend_status_local(&st, err, true, detail);
	op_finish(op, &st, NULL);
}

/* ---- list ---- */

static void list_data_cb(void *ctx, const char *buf, size_t len)
{
	struct backend_op *op = ctx;

	if (!op->parse_err)
		op->parse_err = s3_list_parser_feed(op->parser, buf, len);
}

static int list_send(struct backend_op *op)
{
	_cleanup_free_ char *p = query_encode(op->prefix);
	_cleanup_free_ char *t = op->token ? query_encode(op->token) : NULL;
	_cleanup_free_ char *q = NULL;
	struct creq_spec spec = {.body_fd = -1, .resp_fd = -1};

	if (!p || (op->token && !t))
		return -ENOMEM;
	/* Canonical order: continuation-token < encoding-type < list-type. */
	if (asprintf(&q, "%s%s%sencoding-type=url&list-type=2&prefix=%s",
		     t ? "continuation-token=" : "", t ? t : "", t ? "&" : "",
		     p) < 0)
		return -ENOMEM;
	spec.on_data = list_data_cb;
	spec.on_data_ctx = op;
	op->parse_err = 0;
	return op_send(op, "GET", NULL, q, EMPTY_SHA256, NULL, &spec);
}

static void list_done(struct backend_op *op, const struct creq_result *res)
{
	struct backend_status st;
	struct s3_list_page page = {0};
	struct backend_obj *objs = NULL;
	int r;

	status_from(&st, res);
	if (st.err) {
		/* Restart the parser: the next try starts a new document. */
		(void)s3_list_parser_finish(op->parser, &page);
		s3_list_page_fini(&page);
		op_finish(op, &st, NULL);
		return;
	}
	r = op->parse_err ? op->parse_err
			  : s3_list_parser_finish(op->parser, &page);
	if (r < 0) {
		s3_list_page_fini(&page);
		op_fail(op, r == -ENOMEM ? -ENOMEM : -EIO,
			"malformed listing from the storage server");
		return;
	}
	if (page.n) {
		objs = calloc(page.n, sizeof(*objs));
		if (!objs) {
			s3_list_page_fini(&page);
			op_fail(op, -ENOMEM, NULL);
			return;
		}
	}
	for (size_t i = 0; i < page.n; i++) {
		objs[i].key = page.items[i].key;
		objs[i].key_len = page.items[i].key_len;
		objs[i].size = page.items[i].size;
		memcpy(objs[i].etag, page.items[i].etag,
		       sizeof(page.items[i].etag) < sizeof(objs[i].etag)
			   ? sizeof(page.items[i].etag)
			   : sizeof(objs[i].etag));
		objs[i].etag[sizeof(objs[i].etag) - 1] = '\0';
		objs[i].mtime_ns = -1;
		objs[i].last_modified_ns = page.items[i].last_modified_ns;
	}
	op->in_cb = true;
	if (page.n)
		op->page(op->ctx, objs, page.n);
	op->in_cb = false;
	free(objs);
	if (op->cancelled) {
		s3_list_page_fini(&page);
		op_free(op);
		return;
	}
	free(op->token);
	op->token = page.truncated ? steal_ptr(&page.next_token) : NULL;
	s3_list_page_fini(&page);
	if (!op->token) {
		op_finish(op, &st, NULL);
		return;
	}
	r = list_send(op);
	if (r < 0)
		op_fail(op, r, "unable to request the next listing page");
}

static int s3_list(struct backend *b, const char *prefix, backend_page_cb page,
		   backend_done_cb done, void *ctx, struct backend_op **out)
{
	struct s3 *s3 = (struct s3 *)b;
	struct backend_op *op = op_new(s3, OP_LIST, NULL, ctx);
	int r;

	if (!op)
		return -ENOMEM;
	op->page = page;
	op->done = done;
	op->prefix = strdup(prefix);
	op->parser = s3_list_parser_new();
	if (!op->prefix || !op->parser) {
		op_free(op);
		return -ENOMEM;
	}
	r = list_send(op);
	if (r < 0) {
		op_free(op);
		return r;
	}
	if (out)
		*out = op;
	return 0;
}

/* ---- get ---- */

static void strip_quotes(char *dst, size_t cap, const char *etag)
{
	size_t n = strlen(etag);

	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, etag, n);
	dst[n] = '\0';
}

static bool is_md5_hex(const char *s)
{
	uint8_t tmp[HASH_MD5_LEN];

	return hash_md5_from_hex(s, tmp);
}

static void get_done(struct backend_op *op, const struct creq_result *res)
{
	struct backend_status st;
	struct backend_obj obj;
	int64_t lm;

	status_from(&st, res);
	if (st.err) {
		op_finish(op, &st, NULL);
		return;
	}
	memset(&obj, 0, sizeof(obj));
	obj.key = op->key;
	obj.key_len = strlen(op->key);
	obj.size = res->resp_bytes;
	strip_quotes(obj.etag, sizeof(obj.etag), res->h.etag);
	hash_hex(res->resp_md5, HASH_MD5_LEN, obj.md5);
	if (res->h.content_length >= 0 &&
	    (uint64_t)res->h.content_length != res->resp_bytes) {
		op_fail(op, -EIO, "download shorter than its Content-Length");
		return;
	}
	/* A single-part ETag is the content MD5: check what arrived. */
	if (is_md5_hex(obj.etag) && strcasecmp(obj.etag, obj.md5) != 0) {
		op_fail(op, -EIO, "downloaded data does not match its ETag");
		return;
	}
	if (!res->h.mtime[0] || mtime_parse(res->h.mtime, &obj.mtime_ns) < 0)
		obj.mtime_ns = -1;
	lm = curlloop_parse_date(res->h.last_modified);
	obj.last_modified_ns = lm < 0 ? -1 : lm * 1000000000;
	op_finish(op, &st, &obj);
}

static int s3_get(struct backend *b, const char *key, int fd,
		  backend_done_cb done, void *ctx, struct backend_op **out)
{
	struct s3 *s3 = (struct s3 *)b;
	struct backend_op *op = op_new(s3, OP_GET, key, ctx);
	struct creq_spec spec = {
	    .body_fd = -1, .resp_fd = fd, .hash_resp = true};
	int r;

	if (!op)
		return -ENOMEM;
	op->done = done;
	r = op_send(op, "GET", key, NULL, EMPTY_SHA256, NULL, &spec);
	if (r < 0) {
		op_free(op);
		return r;
	}
	if (out)
		*out = op;
	return 0;
}

/* ---- put ---- */

static int put_send(struct backend_op *op)
{
	uint8_t sha[HASH_SHA256_LEN];
	char sha_hex[HASH_SHA256_HEX], md5_b64[HASH_MD5_B64], mt[MTIME_STR_MAX];
	char h_md5[64], h_mtime[64], h_cond[STATE_ETAG_MAX + 32];
	char *extra[] = {h_md5, h_mtime,
			 "Content-Type: application/octet-stream", NULL, NULL};
	struct creq_spec spec = {
	    .body_fd = op->fd, .body_size = op->size, .resp_fd = -1};
	int r;

	/*
	 * Hash before sending, send the same bytes: if the file changes in
	 * between, the store sees a digest mismatch and refuses the object
	 * instead of keeping a torn one.
	 */
	r = hash_fd_range(op->fd, 0, op->size, op->md5, sha);
	if (r < 0)
		return r == -EIO ? -ESTALE : r;
	hash_hex(sha, sizeof(sha), sha_hex);
	hash_b64(op->md5, sizeof(op->md5), md5_b64);
	mtime_format(op->mtime_ns, mt, sizeof(mt));
	(void)snprintf(h_md5, sizeof(h_md5), "Content-MD5: %s", md5_b64);
	(void)snprintf(h_mtime, sizeof(h_mtime), "x-amz-meta-mtime: %s", mt);
	if (op->cond) {
		if (strcmp(op->cond, "*") == 0)
			(void)snprintf(h_cond, sizeof(h_cond),
				       "If-None-Match: *");
		else
			(void)snprintf(h_cond, sizeof(h_cond),
				       "If-Match: \"%s\"", op->cond);
		extra[3] = h_cond;
	}
	return op_send(op, "PUT", op->key, NULL, sha_hex, extra, &spec);
}

static void put_result(struct backend_op *op, const char *etag)
{
	struct backend_status st;
	struct backend_obj obj;

	memset(&st, 0, sizeof(st));
	memset(&obj, 0, sizeof(obj));
	obj.key = op->key;
	obj.key_len = strlen(op->key);
	obj.size = op->size;
	obj.mtime_ns = op->mtime_ns;
	obj.last_modified_ns = -1;
	strip_quotes(obj.etag, sizeof(obj.etag), etag);
	hash_hex(op->md5, HASH_MD5_LEN, obj.md5);
	op_finish(op, &st, &obj);
}

static void put_done(struct backend_op *op, const struct creq_result *res)
{
	struct backend_status st;
	char etag[STATE_ETAG_MAX];
	char md5[HASH_MD5_HEX];

	status_from(&st, res);
	if (st.err) {
		op_finish(op, &st, NULL);
		return;
	}
	strip_quotes(etag, sizeof(etag), res->h.etag);
	hash_hex(op->md5, HASH_MD5_LEN, md5);
	if (is_md5_hex(etag) && strcasecmp(etag, md5) != 0) {
		op_fail(op, -EIO, "the stored object's ETag is not our MD5");
		return;
	}
	put_result(op, etag);
}

/* ---- multipart ---- */

static void abort_mpu(struct backend_op *op)
{
	struct backend_op *ab;
	_cleanup_free_ char *id = NULL;
	_cleanup_free_ char *q = NULL;

	if (!op->upload_id)
		return;
	ab = op_new(op->s3, OP_ABORT, op->key, NULL);
	id = query_encode(op->upload_id);
	if (!ab || !id || asprintf(&q, "uploadId=%s", id) < 0 ||
	    op_send(ab, "DELETE", ab->key, q, EMPTY_SHA256, NULL, NULL) < 0) {
		if (ab)
			op_free(ab);
		log_warn("sync: unable to abort the multipart upload of %s; "
			 "the store will hold its parts until they expire",
			 op->key);
	}
}

static void mpu_fail(struct backend_op *op, const struct backend_status *st)
{
	abort_mpu(op);
	op_finish(op, st, NULL);
}

static void mpu_fail_local(struct backend_op *op, int err, const char *detail)
{
	struct backend_status st;

	backend_status_local(&st, err, true, detail);
	mpu_fail(op, &st);
}

static int mpu_send_part(struct backend_op *op)
{
	uint64_t off = (uint64_t)op->part * op->part_size;
	uint64_t len =
	    op->size - off < op->part_size ? op->size - off : op->part_size;
	uint8_t sha[HASH_SHA256_LEN];
	char sha_hex[HASH_SHA256_HEX], md5_b64[HASH_MD5_B64], h_md5[64];
	char *extra[] = {h_md5, NULL};
	_cleanup_free_ char *id = query_encode(op->upload_id);
	_cleanup_free_ char *q = NULL;
	struct creq_spec spec = {.body_fd = op->fd,
				 .body_off = off,
				 .body_size = len,
				 .resp_fd = -1};
	int r;

	if (!id)
		return -ENOMEM;
	r = hash_fd_range(op->fd, off, len, op->part_md5, sha);
	if (r < 0)
		return r == -EIO ? -ESTALE : r;
	hash_hex(sha, sizeof(sha), sha_hex);
	hash_b64(op->part_md5, sizeof(op->part_md5), md5_b64);
	(void)snprintf(h_md5, sizeof(h_md5), "Content-MD5: %s", md5_b64);
	/* Canonical order: partNumber < uploadId. */
	if (asprintf(&q, "partNumber=%u&uploadId=%s", op->part + 1, id) < 0)
		return -ENOMEM;
	return op_send(op, "PUT", op->key, q, sha_hex, extra, &spec);
}

static bool stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int mpu_send_complete(struct backend_op *op)
{
	size_t cap = 128 + (size_t)op->nparts * 96, n;
	uint8_t md5[HASH_MD5_LEN], sha[HASH_SHA256_LEN];
	char sha_hex[HASH_SHA256_HEX], md5_b64[HASH_MD5_B64], h_md5[64];
	char *extra[] = {h_md5, "Content-Type: application/xml", NULL};
	_cleanup_free_ char *id = query_encode(op->upload_id);
	_cleanup_free_ char *q = NULL;
	struct creq_spec spec = {.body_fd = -1, .resp_fd = -1};
	struct stat st;

	/*
	 * Parts are each checked, but parts of two versions of the file
	 * would still make a torn object: complete only if the file did not
	 * change while its parts were sent.
	 */
	if (fstat(op->fd, &st) < 0)
		return -errno;
	if (!stat_same(&st, &op->st0))
		return -ESTALE;
	if (!id)
		return -ENOMEM;
	free(op->body);
	op->body = malloc(cap);
	if (!op->body)
		return -ENOMEM;
	n = (size_t)snprintf(op->body, cap, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < op->nparts; i++)
		n += (size_t)snprintf(op->body + n, cap - n,
				      "<Part><PartNumber>%u</PartNumber>"
				      "<ETag>\"%s\"</ETag></Part>",
				      i + 1, op->etags[i]);
	n += (size_t)snprintf(op->body + n, cap - n,
			      "</CompleteMultipartUpload>");
	op->body_len = n;
	hash_buf(op->body, n, md5, sha);
	hash_hex(sha, sizeof(sha), sha_hex);
	hash_b64(md5, sizeof(md5), md5_b64);
	(void)snprintf(h_md5, sizeof(h_md5), "Content-MD5: %s", md5_b64);
	if (asprintf(&q, "uploadId=%s", id) < 0)
		return -ENOMEM;
	spec.body = op->body;
	spec.body_len = op->body_len;
	return op_send(op, "POST", op->key, q, sha_hex, extra, &spec);
}

static void mpu_done(struct backend_op *op, const struct creq_result *res)
{
	struct backend_status st;
	char buf[STATE_ETAG_MAX], part_hex[HASH_MD5_HEX];
	int r;

	status_from(&st, res);
	if (st.err) {
		mpu_fail(op, &st);
		return;
	}
	switch (op->step) {
	case MPU_CREATE:
		if (!res->body ||
		    s3_xml_find(res->body, res->body_len, "UploadId", buf,
				sizeof(buf)) < 0 ||
		    !buf[0]) {
			mpu_fail_local(op, -EIO,
				       "no UploadId in the storage's answer");
			return;
		}
		op->upload_id = strdup(buf);
		if (!op->upload_id) {
			op_fail(op, -ENOMEM, NULL);
			return;
		}
		op->step = MPU_PART;
		op->part = 0;
		r = mpu_send_part(op);
		break;
	case MPU_PART:
		strip_quotes(buf, sizeof(buf), res->h.etag);
		hash_hex(op->part_md5, HASH_MD5_LEN, part_hex);
		if (strcasecmp(buf, part_hex) != 0) {
			mpu_fail_local(op, -EIO,
				       "a part's ETag is not its MD5");
			return;
		}
		memcpy(op->etags[op->part], part_hex, sizeof(part_hex));
		if (++op->part < op->nparts) {
			r = mpu_send_part(op);
		} else {
			op->step = MPU_COMPLETE;
			r = mpu_send_complete(op);
		}
		break;
	case MPU_COMPLETE:
		/* S3 may answer 200 and still report an error in the body. */
		if (!res->body ||
		    s3_xml_root_is(res->body, res->body_len, "Error")) {
			mpu_fail_local(op, -EIO,
				       "the store could not assemble the "
				       "parts");
			return;
		}
		if (s3_xml_find(res->body, res->body_len, "ETag", buf,
				sizeof(buf)) < 0)
			buf[0] = '\0';
		put_result(op, buf);
		return;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0)
		mpu_fail_local(op, r,
			       r == -ESTALE ? "the file changed during its "
					      "upload"
					    : NULL);
}

static int mpu_start(struct backend_op *op)
{
	char md5_b64[HASH_MD5_B64], mt[MTIME_STR_MAX];
	char h_md5[80], h_mtime[64];
	char *extra[] = {h_md5, h_mtime,
			 "Content-Type: application/octet-stream", NULL};
	int r;

	op->part_size = S3_PART_SIZE;
	while ((op->size + op->part_size - 1) / op->part_size > MAX_PARTS)
		op->part_size *= 2;
	op->nparts = (unsigned)((op->size + op->part_size - 1) / op->part_size);
	op->etags = calloc(op->nparts, sizeof(*op->etags));
	if (!op->etags)
		return -ENOMEM;
	/*
	 * The whole file's MD5, as rclone records it for multipart objects
	 * (whose ETag is not an MD5), so either tool can verify the content.
	 */
	r = hash_fd_range(op->fd, 0, op->size, op->md5, NULL);
	if (r < 0)
		return r == -EIO ? -ESTALE : r;
	hash_b64(op->md5, sizeof(op->md5), md5_b64);
	mtime_format(op->mtime_ns, mt, sizeof(mt));
	(void)snprintf(h_md5, sizeof(h_md5), "x-amz-meta-md5chksum: %s",
		       md5_b64);
	(void)snprintf(h_mtime, sizeof(h_mtime), "x-amz-meta-mtime: %s", mt);
	op->step = MPU_CREATE;
	return op_send(op, "POST", op->key, "uploads=", EMPTY_SHA256, extra,
		       NULL);
}

static int s3_put_if(struct backend *b, const char *key, int fd, uint64_t size,
		     int64_t mtime_ns, const char *cond, backend_done_cb done,
		     void *ctx, struct backend_op **out)
{
	struct s3 *s3 = (struct s3 *)b;
	struct backend_op *op;
	int r;

	if (size > S3_MULTIPART_THRESHOLD)
		return -EFBIG;
	op = op_new(s3, OP_PUT, key, ctx);
	if (!op)
		return -ENOMEM;
	op->done = done;
	op->fd = fd;
	op->size = size;
	op->mtime_ns = mtime_ns;
	op->cond = strdup(cond);
	r = op->cond ? 0 : -ENOMEM;
	if (r == 0 && fstat(fd, &op->st0) < 0)
		r = -errno;
	if (r == 0)
		r = put_send(op);
	if (r < 0) {
		op_free(op);
		return r;
	}
	if (out)
		*out = op;
	return 0;
}

static int s3_put(struct backend *b, const char *key, int fd, uint64_t size,
		  int64_t mtime_ns, backend_done_cb done, void *ctx,
		  struct backend_op **out)
{
	struct s3 *s3 = (struct s3 *)b;
	bool multipart = size > S3_MULTIPART_THRESHOLD;
	struct backend_op *op =
	    op_new(s3, multipart ? OP_MPU : OP_PUT, key, ctx);
	int r;

	if (!op)
		return -ENOMEM;
	op->done = done;
	op->fd = fd;
	op->size = size;
	op->mtime_ns = mtime_ns;
	if (fstat(fd, &op->st0) < 0) {
		r = -errno;
		op_free(op);
		return r;
	}
	r = multipart ? mpu_start(op) : put_send(op);
	if (r < 0) {
		op_free(op);
		return r;
	}
	if (out)
		*out = op;
	return 0;
}

/* ---- delete ---- */

static void del_error_cb(void *ctx, const char *key, const char *code)
{
	struct backend_op *op = ctx;
	char **v;

	(void)code;
	v = realloc(op->failed, (op->nfailed + 2) * sizeof(*v));
	if (!v)
		return;
	op->failed = v;
	v[op->nfailed] = strdup(key);
	if (v[op->nfailed])
		op->nfailed++;
	v[op->nfailed] = NULL;
}

static void del_done(struct backend_op *op, const struct creq_result *res)
{
	struct backend_status st;

	status_from(&st, res);
	if (!st.err &&
	    (!res->body || s3_xml_delete_errors(res->body, res->body_len,
						del_error_cb, op) < 0)) {
		backend_status_local(&st, -EIO, true,
				     "malformed DeleteObjects answer");
	}
	op_finish(op, &st, NULL);
}

static int s3_del(struct backend *b, char *const *keys, size_t n,
		  backend_del_cb done, void *ctx, struct backend_op **out)
{
	struct s3 *s3 = (struct s3 *)b;
	struct backend_op *op = op_new(s3, OP_DEL, NULL, ctx);
	uint8_t md5[HASH_MD5_LEN], sha[HASH_SHA256_LEN];
	char sha_hex[HASH_SHA256_HEX], md5_b64[HASH_MD5_B64], h_md5[64];
	char *extra[] = {h_md5, "Content-Type: application/xml", NULL};
	struct creq_spec spec = {.body_fd = -1, .resp_fd = -1};
	size_t cap = 64, len;
	int r;

	if (!op)
		return -ENOMEM;
	op->del_done = done;
	for (size_t i = 0; i < n; i++)
		cap += 6 * strlen(keys[i]) + 32;
	op->body = malloc(cap);
	if (!op->body) {
		op_free(op);
		return -ENOMEM;
	}
	len = (size_t)snprintf(op->body, cap, "<Delete><Quiet>true</Quiet>");
	for (size_t i = 0; i < n; i++) {
		memcpy(op->body + len, "<Object><Key>", 13);
		len += 13;
		r = s3_xml_escape(keys[i], op->body + len, cap - len);
		if (r < 0) {
			op_free(op);
			return r;
		}
		len += strlen(op->body + len);
		len += (size_t)snprintf(op->body + len, cap - len,
					"</Key></Object>");
	}
	len += (size_t)snprintf(op->body + len, cap - len, "</Delete>");
	op->body_len = len;
	/* DeleteObjects requires Content-MD5 (or a checksum) of the body. */
	hash_buf(op->body, len, md5, sha);
	hash_hex(sha, sizeof(sha), sha_hex);
	hash_b64(md5, sizeof(md5), md5_b64);
	(void)snprintf(h_md5, sizeof(h_md5), "Content-MD5: %s", md5_b64);
	spec.body = op->body;
	spec.body_len = len;
	r = op_send(op, "POST", NULL, "delete=", sha_hex, extra, &spec);
	if (r < 0) {
		op_free(op);
		return r;
	}
	if (out)
		*out = op;
	return 0;
}

/* ---- dispatch ---- */

static void req_done_cb(void *ctx, const struct creq_result *res)
{
	struct backend_op *op = ctx;

	op->req = NULL; /* freed by curlloop after we return */
	learn_clock(res);
	switch (op->kind) {
	case OP_LIST:
		list_done(op, res);
		break;
	case OP_GET:
		get_done(op, res);
		break;
	case OP_PUT:
		put_done(op, res);
		break;
	case OP_MPU:
		mpu_done(op, res);
		break;
	case OP_DEL:
		del_done(op, res);
		break;
	case OP_ABORT:
		if (res->err || res->status >= 300)
			log_debug("abort of a multipart upload: HTTP %ld",
				  res->status);
		op_free(op);
		break;
	default:
		op_free(op);
		break;
	}
}

static void s3_cancel(struct backend *b, struct backend_op *op)
{
	(void)b;
	if (op->in_cb) {
		op->cancelled = true;
		return;
	}
	if (op->kind == OP_MPU && op->upload_id)
		abort_mpu(op);
	op_free(op);
}

static void wipe_str(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int s3_set_creds(struct backend *b, const char *key_id,
			const struct secret *secret, const struct secret *token)
{
	struct s3 *s3 = (struct s3 *)b;
	char *id = strdup(key_id ? key_id : "");
	struct secret sk = {NULL, 0};
	char *th = NULL;

	if (!id ||
	    secret_set_value(&sk, secret->value ? secret->value : "") < 0 ||
	    (token->value &&
	     asprintf(&th, "x-amz-security-token: %s", token->value) < 0)) {
		free(id);
		secret_free(&sk);
		return -ENOMEM;
	}
	free(s3->key_id);
	s3->key_id = id;
	secret_free(&s3->secret);
	s3->secret = sk;
	wipe_str(s3->token_header);
	s3->token_header = th;
	return 0;
}

static void s3_free(struct backend *b)
{
	struct s3 *s3 = (struct s3 *)b;

	while (s3->ops)
		op_free(s3->ops);
	curlloop_free(s3->cl);
	free(s3->base_url);
	free(s3->sigv4);
	free(s3->key_id);
	secret_free(&s3->secret);
	wipe_str(s3->token_header);
	free(s3->base.id);
	free(s3);
}

static const struct backend_ops s3_ops = {
    .name = "s3",
    .list = s3_list,
    .get = s3_get,
    .put = s3_put,
    .put_if = s3_put_if,
    .set_creds = s3_set_creds,
    .del = s3_del,
    .cancel = s3_cancel,
    .free = s3_free,
};

static int s3_fill(struct s3 *s3, const struct sync_config *sc)
{
	s3->base_url = make_base_url(sc);
	if (!s3->base_url)
		return -ENOMEM;
	if (asprintf(&s3->sigv4, "aws:amz:%s:s3", sc->region) < 0) {
		s3->sigv4 = NULL;
		return -ENOMEM;
	}
	s3->key_id = strdup(sc->access_key_id ? sc->access_key_id : "");
	s3->secret.value = malloc(sc->secret_access_key.len + 1);
	if (!s3->key_id || !s3->secret.value)
		return -ENOMEM;
	memcpy(s3->secret.value,
	       sc->secret_access_key.value ? sc->secret_access_key.value : "",
	       sc->secret_access_key.len);
	s3->secret.value[sc->secret_access_key.len] = '\0';
	s3->secret.len = sc->secret_access_key.len;
	if (sc->session_token.value &&
	    asprintf(&s3->token_header, "x-amz-security-token: %s",
		     sc->session_token.value) < 0) {
		s3->token_header = NULL;
		return -ENOMEM;
	}
	if (asprintf(&s3->base.id, "s3://%s at %s", sc->bucket,
		     sc->endpoint ? sc->endpoint : "AWS") < 0) {
		s3->base.id = NULL;
		return -ENOMEM;
	}
	return 0;
}

struct backend *s3_backend_new(struct loop *loop, const struct sync_config *sc,
			       unsigned max_conns, char *err, size_t errlen)
{
	struct s3 *s3 = calloc(1, sizeof(*s3));

	if (!s3) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s3->base.ops = &s3_ops;
	s3->loop = loop;
	if (!sc->bucket || !sc->region) {
		(void)snprintf(err, errlen, "S3 storage without a bucket");
		s3_free(&s3->base);
		errno = EINVAL;
		return NULL;
	}
	if (s3_fill(s3, sc) < 0 ||
	    !(s3->cl = curlloop_new(loop, max_conns ? max_conns : 1))) {
		(void)snprintf(err, errlen, "out of memory");
		s3_free(&s3->base);
		errno = ENOMEM;
		return NULL;
	}
	return &s3->base;
}

/* ---- test hook ---- */

struct capture {
	char *out;
	size_t cap, len;
};

static int debug_cb(CURL *e, curl_infotype type, char *data, size_t size,
		    void *userp)
{
	struct capture *c = userp;
	size_t n = size;

	(void)e;
	if (type != CURLINFO_HEADER_OUT)
		return 0;
	if (n > c->cap - 1 - c->len)
		n = c->cap - 1 - c->len;
	memcpy(c->out + c->len, data, n);
	c->len += n;
	c->out[c->len] = '\0';
	return 0;
}

struct mem_src {
	const char *p;
	size_t left;
};

static size_t mem_read_cb(char *buf, size_t size, size_t n, void *userp)
{
	struct mem_src *m = userp;
	size_t want = size * n < m->left ? size * n : m->left;

	memcpy(buf, m->p, want);
	m->p += want;
	m->left -= want;
	return want;
}

static size_t discard_cb(char *buf, size_t size, size_t n, void *userp)
{
	(void)buf;
	(void)userp;
	return size * n;
}

int s3_debug_request(const struct sync_config *sc,
		     const struct s3_debug_request *rq, const char *connect_to,
		     char *headers_out, size_t cap)
{
	struct s3 s3;
	uint8_t sha[HASH_SHA256_LEN];
	char sha_hex[HASH_SHA256_HEX];
	_cleanup_free_ char *url = NULL;
	char **headers = NULL;
	struct curl_slist *hl = NULL, *ct = NULL;
	struct capture c = {.out = headers_out, .cap = cap};
	struct mem_src mem = {0};
	CURL *e = NULL;
	int r = -ENOMEM;

	memset(&s3, 0, sizeof(s3));
	headers_out[0] = '\0';
	if (s3_fill(&s3, sc) < 0)
		goto out;
	hash_buf(rq->body ? rq->body : "", rq->body_len, NULL, sha);
	hash_hex(sha, sizeof(sha), sha_hex);
	url = make_url(s3.base_url, rq->key, rq->key ? strlen(rq->key) : 0,
		       rq->query);
	headers = make_headers(s3.token_header, sha_hex, rq->headers);
	e = curl_easy_init();
	ct = curl_slist_append(NULL, connect_to);
	if (!url || !headers || !e || !ct)
		goto out;
	for (char **h = headers; *h; h++) {
		struct curl_slist *n = curl_slist_append(hl, *h);
		if (!n)
			goto out;
		hl = n;
	}
	(void)curl_easy_setopt(e, CURLOPT_URL, url);
	(void)curl_easy_setopt(e, CURLOPT_CONNECT_TO, ct);
	(void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	(void)curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s3.sigv4);
	(void)curl_easy_setopt(e, CURLOPT_USERNAME, s3.key_id);
	(void)curl_easy_setopt(e, CURLOPT_PASSWORD, s3.secret.value);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	(void)curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	(void)curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
	(void)curl_easy_setopt(e, CURLOPT_DEBUGDATA, &c);
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
	if (strcmp(rq->method, "PUT") == 0) {
		/* As the backend sends a body: an upload with a length. */
		mem.p = rq->body ? rq->body : "";
		mem.left = rq->body_len;
		(void)curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		(void)curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				       (curl_off_t)rq->body_len);
		(void)curl_easy_setopt(e, CURLOPT_READFUNCTION, mem_read_cb);
		(void)curl_easy_setopt(e, CURLOPT_READDATA, &mem);
	} else if (strcmp(rq->method, "POST") == 0) {
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
				       (long)rq->body_len);
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDS,
				       rq->body ? rq->body : "");
	} else if (strcmp(rq->method, "GET") != 0) {
		(void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	r = curl_easy_perform(e) == CURLE_OK ? 0 : -EIO;
out:
	curl_easy_cleanup(e);
	curl_slist_free_all(hl);
	curl_slist_free_all(ct);
	strv_free(headers);
	free(s3.base_url);
	free(s3.sigv4);
	free(s3.key_id);
	secret_free(&s3.secret);
	free(s3.token_header);
	free(s3.base.id);
	return r;
}
