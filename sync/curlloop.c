/* SPDX-License-Identifier: MIT */
#include "sync/curlloop.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"

#ifndef TENANT_INIT_VERSION
#define TENANT_INIT_VERSION "0.0.0-dev"
#endif

#define CONNECT_TIMEOUT_MS 10000L
/* A transfer slower than this for this long is dead: drop and retry it. */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_SECS	30L

struct creq {
	struct creq *next, *prev;
	struct curlloop *cl;
	CURL *easy;
	struct curl_slist *headers;
	creq_done_cb cb;
	void *ctx;
	/* body source */
	const uint8_t *body;
	size_t body_len;
	int body_fd;
	uint64_t body_off, body_size, body_pos;
	bool body_short; /* the file ended early: it changed */
	/* response */
	int resp_fd;
	void (*on_data)(void *ctx, const char *buf, size_t len);
	void *on_data_ctx;
	size_t resp_max;
	char *mem;
	size_t mem_len, mem_cap;
	bool mem_overflow;
	int write_err;
	bool head_done; /* the blank line that ends the headers arrived */
	struct hasher *hasher;
	struct creq_result res;
	char errbuf[CURL_ERROR_SIZE];
};

struct curlloop {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer;
	struct loop_timer *done_timer;
	struct creq *reqs; /* in flight */
	unsigned active;
};

static void check_done(struct curlloop *cl);

/* ---- loop glue ---- */

static void sock_event_cb(void *ctx, int fd, uint32_t events)
{
	struct curlloop *cl = ctx;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(cl->multi, fd, flags, &running);
	check_done(cl);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct curlloop *cl = userp;
	uint32_t ev = 0;
	int r;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		(void)loop_fd_del(cl->loop, s);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	r = loop_fd_mod(cl->loop, s, ev);
	if (r == -ENOENT)
		r = loop_fd_add(cl->loop, s, ev, sock_event_cb, cl);
	if (r < 0) {
		log_warn_errno(r, "sync: unable to watch a connection");
		return -1;
	}
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlloop *cl = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_disarm(cl->timer);
	else
		loop_timer_arm(cl->timer, (uint64_t)timeout_ms);
	return 0;
}

static void timeout_cb(void *ctx)
{
	struct curlloop *cl = ctx;
	int running;

	(void)curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0,
				       &running);
	check_done(cl);
}

/* ---- per-request callbacks ---- */

static size_t read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct creq *r = userp;
	size_t want = size * nitems;
	uint64_t left;

	if (r->body_fd < 0) {
		left = r->body_len - r->body_pos;
		if (want > left)
			want = (size_t)left;
		memcpy(buf, r->body + r->body_pos, want);
		r->body_pos += want;
		return want;
	}
	left = r->body_size - r->body_pos;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	for (;;) {
		ssize_t n = pread(r->body_fd, buf, want,
				  (off_t)(r->body_off + r->body_pos));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Shorter than when it was measured: it changed. */
			r->body_short = true;
			return CURL_READFUNC_ABORT;
		}
		r->body_pos += (uint64_t)n;
		return (size_t)n;
	}
}

static int seek_cb(void *userp, curl_off_t offset, int origin)
{
	struct creq *r = userp;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	r->body_pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static bool status_ok(struct creq *r)
{
	long code = 0;

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	return code >= 200 && code < 300;
}

static void mem_append(struct creq *r, const char *buf, size_t n)
{
	if (r->mem_len + n + 1 > r->mem_cap) {
		size_t cap = r->mem_cap ? r->mem_cap : 4096;
		char *p;

		while (cap < r->mem_len + n + 1)
			cap *= 2;
		if (cap > r->resp_max + 1) {
			r->mem_overflow = true;
			return;
		}
		p = realloc(r->mem, cap);
		if (!p) {
			r->mem_overflow = true;
			return;
		}
		r->mem = p;
		r->mem_cap = cap;
	}
	memcpy(r->mem + r->mem_len, buf, n);
	r->mem_len += n;
	r->mem[r->mem_len] = '\0';
}

static size_t write_cb(char *buf, size_t size, size_t nmemb, void *userp)
{
	struct creq *r = userp;
	size_t n = size * nmemb;

	r->res.resp_bytes += n;
	if (!status_ok(r)) {
		/* An error document: keep (the start of) it for the XML. */
		if (r->mem_len < 64 * 1024)
			mem_append(r, buf, n);
		return n;
	}
	if (r->resp_fd >= 0) {
		size_t off = 0;
		while (off < n) {
			ssize_t w = write(r->resp_fd, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r->write_err = -errno;
				return 0; /* CURLE_WRITE_ERROR */
			}
			off += (size_t)w;
		}
		if (r->hasher)
			hasher_update(r->hasher, buf, n);
		return n;
	}
	if (r->on_data) {
		r->on_data(r->on_data_ctx, buf, n);
		return n;
	}
	mem_append(r, buf, n);
	return n;
}

static void copy_header(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct creq *r = userp;
	size_t n = size * nitems, nl;
	const char *colon, *v;
	struct creq_headers *h = &r->res.h;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue): forget the last. */
		memset(h, 0, sizeof(*h));
		h->content_length = -1;
		r->head_done = false;
		return n;
	}
	if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
		r->head_done = true;
		return n;
	}
	colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	nl = (size_t)(colon - buf);
	v = colon + 1;
	while (v < buf + n && (*v == ' ' || *v == '\t'))
		v++;
	size_t vl = (size_t)(buf + n - v);
	while (vl &&
	       (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(buf, name, nl) == 0)
	if (IS("etag"))
		copy_header(h->etag, sizeof(h->etag), v, vl);
	else if (IS("x-amz-meta-mtime"))
		copy_header(h->mtime, sizeof(h->mtime), v, vl);
	else if (IS("x-amz-meta-md5chksum"))
		copy_header(h->md5chksum, sizeof(h->md5chksum), v, vl);
	else if (IS("date"))
		copy_header(h->date, sizeof(h->date), v, vl);
	else if (IS("retry-after"))
		copy_header(h->retry_after, sizeof(h->retry_after), v, vl);
	else if (IS("last-modified"))
		copy_header(h->last_modified, sizeof(h->last_modified), v, vl);
	else if (IS("content-length"))
		h->content_length = strtoll(v, NULL, 10);
#undef IS
	return n;
}

/* ---- lifecycle ---- */

static void creq_free(struct creq *r)
{
	if (r->easy) {
		(void)curl_multi_remove_handle(r->cl->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	hasher_free(r->hasher);
	free(r->mem);
	free(r);
}

static void unlink_req(struct creq *r)
{
	struct curlloop *cl = r->cl;

	if (r->prev)
		r->prev->next = r->next;
	else
		cl->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	cl->active--;
}

static void finish(struct creq *r, CURLcode rc)
{
	struct creq_result *res = &r->res;

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res->status);
	if (r->body_short) {
		res->err = -ESTALE;
		res->errmsg = "the file changed while it was sent";
	} else if (r->write_err) {
		res->err = r->write_err;
		res->errmsg = "unable to write the downloaded data";
	} else if (rc != CURLE_OK) {
		res->err = -EIO;
		res->errmsg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
	} else if (r->mem_overflow) {
		res->err = -EFBIG;
		res->errmsg = "response too large";
	} else if (res->status > 0 && !r->head_done) {
		/*
		 * curl 7.88 reports success for an answer whose connection
		 * closed inside its headers (before any Content-Length): a
		 * status line and no body, which would pass for an empty
		 * object, without its ETag or metadata.
		 */
		res->err = -EIO;
		res->errmsg = "the connection closed inside the answer's "
			      "headers";
	}
	if (r->hasher)
		hasher_final(r->hasher, res->resp_md5, NULL);
	res->body = r->mem;
	res->body_len = r->mem_len;
	r->cb(r->ctx, res);
}

static void check_done(struct curlloop *cl)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(cl->multi, &left))) {
		struct creq *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					(char **)&r);
		if (!r)
			continue;
		unlink_req(r);
		finish(r, msg->data.result);
		creq_free(r);
	}
}

struct curlloop *curlloop_new(struct loop *loop, unsigned max_conns)
{
	struct curlloop *cl;
	static bool global_done;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			errno = ENOMEM;
			return NULL;
		}
		global_done = true;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	cl->loop = loop;
	cl->multi = curl_multi_init();
	cl->timer = loop_timer_new(loop, timeout_cb, cl);
	if (!cl->multi || !cl->timer) {
		curlloop_free(cl);
		errno = ENOMEM;
		return NULL;
	}
	(void)curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				(long)max_conns);
	(void)curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS,
				(long)max_conns);
	return cl;
}

void curlloop_free(struct curlloop *cl)
{
	if (!cl)
		return;
	while (cl->reqs) {
		struct creq *r = cl->reqs;
		unlink_req(r);
		creq_free(r);
	}
	if (cl->multi)
		(void)curl_multi_cleanup(cl->multi);
	loop_timer_free(cl->timer);
	free(cl);
}

unsigned curlloop_active(const struct curlloop *cl)
{
	return cl->active;
}

static int setup(struct creq *r, const struct creq_spec *s)
{
	CURL *e = r->easy;
	bool upload = strcmp(s->method, "PUT") == 0;
	bool post = strcmp(s->method, "POST") == 0;
	uint64_t len = s->body_fd >= 0 ? s->body_size : s->body_len;

	for (char *const *h = s->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(r->headers, *h);
		if (!n)
			return -ENOMEM;
		r->headers = n;
	}
	/*
	 * No "Expect:" or "Accept:" overrides here: curl 7.88 signs every
	 * header in this list, even one given only to suppress a default,
	 * and then does not send it, so the signature would not verify.
	 */
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (curl_easy_setopt(e, opt, val) != CURLE_OK)                 \
			return -EINVAL;                                        \
	} while (0)
	SET(CURLOPT_URL, s->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTPHEADER, r->headers);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	SET(CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
	SET(CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	/* A key is a name, not a path: "a/../b" must not become "b". */
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_USERAGENT, "tenant-init/" TENANT_INIT_VERSION);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, r);
	if (s->sigv4) {
		SET(CURLOPT_AWS_SIGV4, s->sigv4);
		SET(CURLOPT_USERNAME, s->user);
		SET(CURLOPT_PASSWORD, s->password);
	}
	if (upload) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, r);
		SET(CURLOPT_SEEKFUNCTION, seek_cb);
		SET(CURLOPT_SEEKDATA, r);
	} else if (post) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, r);
		SET(CURLOPT_SEEKFUNCTION, seek_cb);
		SET(CURLOPT_SEEKDATA, r);
	} else if (strcmp(s->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(s->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, s->method);
	}
#undef SET
	return 0;
}

int curlloop_start(struct curlloop *cl, const struct creq_spec *s,
		   creq_done_cb cb, void *ctx, struct creq **out)
{
	struct creq *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->cl = cl;
	r->cb = cb;
	r->ctx = ctx;
	r->body = s->body;
	r->body_len = s->body_len;
	r->body_fd = s->body_fd;
	r->body_off = s->body_off;
	r->body_size = s->body_size;
	r->resp_fd = s->resp_fd;
	r->on_data = s->on_data;
	r->on_data_ctx = s->on_data_ctx;
	r->resp_max = s->resp_max ? s->resp_max : 64 * 1024;
	r->res.h.content_length = -1;
	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		return -ENOMEM;
	}
	if (s->hash_resp && !(r->hasher = hasher_new(true, false))) {
		creq_free(r);
		return -ENOMEM;
	}
	err = setup(r, s);
	if (err < 0) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		creq_free(r);
		return err;
	}
	if (curl_multi_add_handle(cl->multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		creq_free(r);
		return -ENOMEM;
	}
	r->next = cl->reqs;
	if (cl->reqs)
		cl->reqs->prev = r;
	cl->reqs = r;
	cl->active++;
	if (out)
		*out = r;
	return 0;
}

void curlloop_cancel(struct creq *r)
{
	if (!r)
		return;
	unlink_req(r);
	creq_free(r);
}

int64_t curlloop_parse_date(const char *s)
{
	time_t t;

	if (!s || !*s)
		return -1;
	t = curl_getdate(s, NULL);
	return t < 0 ? -1 : (int64_t)t;
}
