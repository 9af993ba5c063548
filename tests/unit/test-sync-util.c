/* SPDX-License-Identifier: MIT */
/*
 * Small sync pieces: mtime metadata, backoff, digests, the string map; an
 * HTTP answer cut inside its headers (curlloop against a loopback server on
 * the same loop); and the uploader against a store that applies an upload
 * but whose answer is lost (a backend wrapper around file://).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/log.h"
#include "init/loop.h"
#include "sync/backend.h"
#include "sync/backoff.h"
#include "sync/curlloop.h"
#include "sync/engine.h"
#include "sync/fsbackend.h"
#include "sync/hash.h"
#include "sync/mtime.h"
#include "sync/strmap.h"
#include "tests/tap.h"

/*
 * A backend that passes everything to an inner one, but while `lose` is
 * set reports each upload the inner store completed as a transport
 * failure: the object is stored, the client is told it is not (an answer
 * lost to a reset, a 500 sent after the write).
 */
struct lossy_call {
	struct lossy_call *next;
	struct lossy *l;
	backend_done_cb done;
	void *ctx;
};

struct lossy {
	struct backend base;
	struct backend *inner;
	bool lose;
	unsigned lost;
	struct lossy_call *calls;
};

static void lossy_done_cb(void *ctx, const struct backend_status *st,
			  const struct backend_obj *obj)
{
	struct lossy_call *c = ctx;
	struct lossy *l = c->l;
	struct backend_status lost;
	backend_done_cb done = c->done;
	void *dctx = c->ctx;

	for (struct lossy_call **pp = &l->calls; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	free(c);
	if (l->lose && !st->err) {
		l->lost++;
		backend_status_local(&lost, -EIO, true,
				     "Recv failure: Connection reset by peer");
		done(dctx, &lost, NULL);
		return;
	}
	done(dctx, st, obj);
}

static int lossy_list(struct backend *b, const char *prefix,
		      backend_page_cb page, backend_done_cb done, void *ctx,
		      struct backend_op **op)
{
	return backend_list(((struct lossy *)b)->inner, prefix, page, done, ctx,
			    op);
}

static int lossy_get(struct backend *b, const char *key, int fd,
		     backend_done_cb done, void *ctx, struct backend_op **op)
{
	return backend_get(((struct lossy *)b)->inner, key, fd, done, ctx, op);
}

static int lossy_put(struct backend *b, const char *key, int fd, uint64_t size,
		     int64_t mtime_ns, backend_done_cb done, void *ctx,
		     struct backend_op **op)
{
	struct lossy *l = (struct lossy *)b;
	struct lossy_call *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->l = l;
	c->done = done;
	c->ctx = ctx;
	r = backend_put(l->inner, key, fd, size, mtime_ns, lossy_done_cb, c,
			op);
	if (r < 0) {
		free(c);
		return r;
	}
	c->next = l->calls;
	l->calls = c;
	return 0;
}

static int lossy_del(struct backend *b, char *const *keys, size_t n,
		     backend_del_cb done, void *ctx, struct backend_op **op)
{
	return backend_del(((struct lossy *)b)->inner, keys, n, done, ctx, op);
}

static void lossy_cancel(struct backend *b, struct backend_op *op)
{
	backend_cancel(((struct lossy *)b)->inner, op);
}

static void lossy_free(struct backend *b)
{
	struct lossy *l = (struct lossy *)b;

	backend_free(l->inner);
	while (l->calls) {
		struct lossy_call *c = l->calls;
		l->calls = c->next;
		free(c);
	}
	free(l->base.id);
	l->base.id = NULL;
}

static const struct backend_ops lossy_ops = {
    .name = "lossy",
    .list = lossy_list,
    .get = lossy_get,
    .put = lossy_put,
    .del = lossy_del,
    .cancel = lossy_cancel,
    .free = lossy_free,
};

/* A one-answer HTTP server on the loop: reads a request, sends `answer`
 * and closes the connection. */
struct cut_srv {
	struct loop *loop;
	int lfd, cfd;
	const char *answer;
	bool done;
	struct creq_result res;
};

static void cut_client_cb(void *ctx, int fd, uint32_t events)
{
	struct cut_srv *s = ctx;
	char buf[4096];

	(void)events;
	if (read(fd, buf, sizeof(buf)) <= 0 ||
	    write(fd, s->answer, strlen(s->answer)) < 0)
		diag("cut server: unable to answer");
	(void)loop_fd_del(s->loop, fd);
	(void)close(fd);
	s->cfd = -1;
}

static void cut_accept_cb(void *ctx, int fd, uint32_t events)
{
	struct cut_srv *s = ctx;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	(void)events;
	if (c < 0)
		return;
	s->cfd = c;
	if (loop_fd_add(s->loop, c, EPOLLIN, cut_client_cb, s) < 0)
		(void)close(c);
}

static void cut_done_cb(void *ctx, const struct creq_result *res)
{
	struct cut_srv *s = ctx;

	s->res = *res;
	s->res.body = NULL;
	s->done = true;
}

/* GET from a server that sends answer; returns the result's err. */
static int get_answer(const char *answer, long *status)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct cut_srv s = {.cfd = -1, .answer = answer};
	struct curlloop *cl;
	struct creq_spec spec = {.method = "GET", .body_fd = -1, .resp_fd = -1};
	char url[64];
	uint64_t end;
	int err = -ETIMEDOUT;

	s.loop = loop_new();
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!s.loop || s.lfd < 0 ||
	    bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s.lfd, 4) < 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&a, &alen) < 0 ||
	    loop_fd_add(s.loop, s.lfd, EPOLLIN, cut_accept_cb, &s) < 0)
		return -EIO;
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/key",
		       ntohs(a.sin_port));
	spec.url = url;
	cl = curlloop_new(s.loop, 2);
	if (cl && curlloop_start(cl, &spec, cut_done_cb, &s, NULL) == 0) {
		end = loop_now_ms() + 10000;
		while (!s.done && loop_now_ms() < end)
			if (loop_run_once(s.loop, 50) < 0)
				break;
		if (s.done) {
			err = s.res.err;
			*status = s.res.status;
		}
	}
	curlloop_free(cl);
	if (s.cfd >= 0) {
		(void)loop_fd_del(s.loop, s.cfd);
		(void)close(s.cfd);
	}
	(void)loop_fd_del(s.loop, s.lfd);
	(void)close(s.lfd);
	loop_free(s.loop);
	return err;
}

static void test_cut_headers(void)
{
	long status = 0;

	/* Loopback only: no proxy variable may send it elsewhere. */
	(void)setenv("NO_PROXY", "*", 1);
	(void)setenv("no_proxy", "*", 1);
	is_int(get_answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
			  &status),
	       0, "a complete answer is a success");
	is_int(status, 200, "... with its status");
	is_int(get_answer("HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 2026 00:00:00 "
			  "GMT\r\nLast-Mod",
			  &status),
	       -EIO,
	       "an answer cut inside its headers (before any "
	       "Content-Length) is a transport error, not an empty object");
	is_int(get_answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
			  &status),
	       -EIO, "an answer cut inside its body is one too");
}

static bool flag_set;

static void on_restore(void *ctx, bool okay, double s)
{
	(void)ctx;
	(void)okay;
	(void)s;
	flag_set = true;
}

/* Run loop until *flag, or until path exists (want) / is gone (!want). */
static bool run_until(struct loop *loop, const bool *flag, const char *path,
		      bool want, unsigned *counter, unsigned atleast)
{
	uint64_t end = loop_now_ms() + 10000;
	struct stat st;

	while (loop_now_ms() < end) {
		if ((flag && *flag) ||
		    (path && (stat(path, &st) == 0) == want) ||
		    (counter && *counter >= atleast))
			return true;
		if (loop_run_once(loop, 50) < 0)
			return false;
	}
	return false;
}

/*
 * The store applied an upload but the answer was lost, then the file was
 * deleted: the object must be deleted too, or the next restore brings the
 * deleted file back.
 */
static void test_lost_answer(void)
{
	static const struct engine_cbs cbs = {.restore_done = on_restore};
	char tmpl[] = "/tmp/ti-lossy.XXXXXX";
	char *top = mkdtemp(tmpl);
	char backup[256], data[256], obj[PATH_MAX], file[PATH_MAX];
	char err[256] = "";
	char *excludes[] = {NULL};
	struct sync_path path;
	struct sync_config sc;
	struct lossy l;
	struct loop *loop;
	struct engine *e;
	FILE *f;

	if (!top) {
		skip(5, "no temporary directory");
		return;
	}
	log_set_level(LOG_LEVEL_ERROR);
	(void)snprintf(backup, sizeof(backup), "%s/backup", top);
	(void)snprintf(data, sizeof(data), "%s/data", top);
	(void)mkdir(backup, 0700);
	path.local = data;
	path.remote = "openclaw/";
	memset(&sc, 0, sizeof(sc));
	sc.kind = SYNC_FILE;
	sc.file_root = backup;
	sc.paths = &path;
	sc.npaths = 1;
	sc.excludes = excludes;
	sc.debounce_ms = 20;
	sc.concurrency = 2;
	loop = loop_new();
	e = engine_new(loop, &sc, (uid_t)-1, (gid_t)-1, &cbs, NULL, err,
		       sizeof(err));
	ok(e != NULL, "engine on file:// created (%s)", err);
	if (!e) {
		loop_free(loop);
		return;
	}
	memset(&l, 0, sizeof(l));
	l.base.ops = &lossy_ops;
	l.base.id = strdup(e->be->id);
	l.inner = e->be;
	e->be = &l.base;
	flag_set = false;
	ok(engine_restore(e) == 0 &&
	       run_until(loop, &flag_set, NULL, true, NULL, 0),
	   "restore (of nothing) done");
	ok(engine_sync_start(e, true) == 0, "sync started");

	l.lose = true;
	(void)snprintf(file, sizeof(file), "%s/answer-lost.txt", data);
	(void)snprintf(obj, sizeof(obj), "%s/openclaw/answer-lost.txt", backup);
	f = fopen(file, "we");
	if (f) {
		fputs("stored, but the client never heard", f);
		fclose(f);
	}
	ok(run_until(loop, NULL, NULL, true, &l.lost, 1) &&
	       access(obj, F_OK) == 0,
	   "the store has the object; the uploader was told it failed");
	(void)unlink(file);
	l.lose = false;
	ok(run_until(loop, NULL, obj, false, NULL, 0),
	   "the file deleted: the object it may have left is deleted too");
	engine_free(e);
	loop_free(loop);
	{
		char cmd[PATH_MAX + 16];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	log_reset();
}

struct fsop {
	bool done;
	int err;
	size_t nfailed;
};

static void fsop_done_cb(void *ctx, const struct backend_status *st,
			 const struct backend_obj *obj)
{
	struct fsop *o = ctx;

	(void)obj;
	o->done = true;
	o->err = st->err;
}

static void fsop_del_cb(void *ctx, const struct backend_status *st,
			char *const *failed, size_t nfailed)
{
	struct fsop *o = ctx;

	(void)failed;
	o->done = true;
	o->err = st->err;
	o->nfailed = nfailed;
}

static bool fsop_wait(struct loop *loop, struct fsop *o)
{
	for (int i = 0; i < 100 && !o->done; i++)
		if (loop_run_once(loop, 50) < 0)
			return false;
	return o->done;
}

/*
 * The file backend never resolves "." or "..": a key with them (from a
 * tampered sync state) is refused for every operation, and nothing
 * outside the backend's root is read, written or deleted.
 */
static void test_fs_dotdot(void)
{
	char tmpl[] = "/tmp/ti-fsdot.XXXXXX";
	char *top = mkdtemp(tmpl);
	char backup[256], victim[PATH_MAX], escape[PATH_MAX], err[256] = "";
	char *keys[] = {"openclaw/../../victim/file", "../victim/file"};
	struct backend *b;
	struct loop *loop;
	struct fsop o;
	int fd;

	if (!top) {
		skip(7, "no temporary directory");
		return;
	}
	log_set_level(LOG_LEVEL_ERROR);
	(void)snprintf(backup, sizeof(backup), "%s/backup", top);
	(void)snprintf(victim, sizeof(victim), "%s/victim", top);
	(void)snprintf(escape, sizeof(escape), "%s/escape", top);
	(void)mkdir(victim, 0700);
	(void)strncat(victim, "/file", sizeof(victim) - strlen(victim) - 1);
	fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ok(fd >= 0 && write(fd, "victim", 6) == 6, "a file outside the root");
	if (fd >= 0)
		close(fd);
	loop = loop_new();
	b = loop ? fs_backend_new(loop, backup, err, sizeof(err)) : NULL;
	ok(b != NULL, "file backend (%s)", err);
	if (!b) {
		loop_free(loop);
		return;
	}
	memset(&o, 0, sizeof(o));
	ok(backend_del(b, keys, 2, fsop_del_cb, &o, NULL) == 0 &&
	       fsop_wait(loop, &o) && o.err == 0 && o.nfailed == 0,
	   "delete of '..' keys: refused, reported as nothing to delete");
	ok(access(victim, F_OK) == 0, "the file outside survived");
	memset(&o, 0, sizeof(o));
	fd = open(victim, O_RDONLY | O_CLOEXEC);
	ok(backend_put(b, "../escape", fd, 6, 0, fsop_done_cb, &o, NULL) == 0 &&
	       fsop_wait(loop, &o) && o.err == -EINVAL &&
	       access(escape, F_OK) < 0,
	   "put of a '..' key refused, nothing written outside");
	if (fd >= 0)
		close(fd);
	memset(&o, 0, sizeof(o));
	fd = open(escape, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ok(backend_get(b, "openclaw/../../victim/file", fd, fsop_done_cb, &o,
		       NULL) == 0 &&
	       fsop_wait(loop, &o) && o.err == -EINVAL,
	   "get of a '..' key refused");
	{
		struct stat st;
		ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0,
		   "nothing read from outside");
	}
	if (fd >= 0)
		close(fd);
	backend_free(b);
	loop_free(loop);
	{
		char cmd[PATH_MAX + 16];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	log_reset();
}

static bool count_cb(void *ctx, const char *key, void *value)
{
	(void)key;
	(void)value;
	(*(int *)ctx)++;
	return false;
}

static bool drop_odd_cb(void *ctx, const char *key, void *value)
{
	(void)ctx;
	(void)key;
	return ((long)value & 1) != 0;
}

int main(void)
{
	char buf[MTIME_STR_MAX];
	int64_t ns;

	/* rclone writes "%d.%09d" (seconds and nanoseconds) */
	mtime_format(1577934245123456789LL, buf, sizeof(buf));
	is_str(buf, "1577934245.123456789", "mtime as rclone formats it");
	mtime_format(1700000000000000000LL, buf, sizeof(buf));
	is_str(buf, "1700000000.000000000", "whole seconds keep 9 digits");
	ok(mtime_parse("1577934245.123456789", &ns) == 0 &&
	       ns == 1577934245123456789LL,
	   "parse rclone's value exactly");
	ok(mtime_parse("1700000000.5", &ns) == 0 && ns == 1700000000500000000LL,
	   "parse a short fraction");
	ok(mtime_parse("1700000000", &ns) == 0 && ns == 1700000000000000000LL,
	   "parse whole seconds");
	ok(mtime_parse(" 12.1234567891234 ", &ns) == 0 && ns == 12123456789LL,
	   "extra fraction digits are cut, blanks allowed");
	ok(mtime_parse("abc", &ns) == -EINVAL && mtime_parse("1.2x", &ns) < 0 &&
	       mtime_parse("", &ns) < 0 &&
	       mtime_parse("99999999999999999999", &ns) < 0,
	   "garbage and overflow refused");

	{
		bool in_range = true, spread = false;
		uint64_t first = backoff_delay_ms(3, 100, 10000, 0);
		for (int i = 0; i < 200; i++) {
			uint64_t d = backoff_delay_ms(3, 100, 10000, 0);
			in_range &= d <= 400;
			spread |= d != first;
		}
		ok(in_range, "full jitter stays within base*2^(n-1)");
		ok(spread, "full jitter varies");
		in_range = true;
		for (int i = 0; i < 200; i++)
			in_range &= backoff_delay_ms(40, 100, 5000, 0) <= 5000;
		ok(in_range, "capped (and no shift overflow)");
		ok(backoff_delay_ms(1, 100, 5000, 3000) >= 3000,
		   "never below the server's Retry-After");
		is_int(backoff_retry_after_ms("7"), 7000,
		       "Retry-After seconds");
		is_int(backoff_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"),
		       0, "Retry-After date left to the caller");
		is_int(backoff_retry_after_ms("99999"), 3600000,
		       "Retry-After capped at an hour");
	}

	{
		uint8_t md5[HASH_MD5_LEN], sha[HASH_SHA256_LEN];
		char hex[HASH_SHA256_HEX], b64[HASH_SHA256_B64];
		char path[] = "/tmp/ti-hash.XXXXXX";
		int fd = mkstemp(path);

		hash_buf("Welcome to Amazon S3.", 21, md5, sha);
		hash_hex(sha, sizeof(sha), hex);
		is_str(hex,
		       "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b"
		       "803f8b072",
		       "SHA-256 of AWS's example body");
		hash_buf("", 0, md5, NULL);
		hash_b64(md5, sizeof(md5), b64);
		is_str(b64,
		       "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-MD5 of nothing");
		hash_hex(md5, sizeof(md5), hex);
		ok(hash_md5_from_hex(hex, md5) &&
		       !hash_md5_from_hex("xyz", md5) &&
		       !hash_md5_from_hex("d41d8cd98f00b204e9800998ecf8427e-2",
					  md5),
		   "MD5 hex parsing (multipart ETags are not MD5s)");
		ok(fd >= 0 && write(fd, "hello world", 11) == 11,
		   "temp file written");
		ok(hash_fd_range(fd, 6, 5, md5, NULL) == 0, "hash a range");
		hash_hex(md5, sizeof(md5), hex);
		is_str(hex, "7d793037a0760186574b0282f2f435e7",
		       "MD5 of the range 'world'");
		is_int(hash_fd_range(fd, 6, 10, md5, NULL), -EIO,
		       "a file shorter than promised is -EIO (it changed)");
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
	}

	{
		struct strmap *m = strmap_new();
		int n = 0;
		char key[32];
		bool all = true;

		for (long i = 0; i < 5000; i++) {
			(void)snprintf(key, sizeof(key), "k%ld", i);
			all &= strmap_put(m, key, (void *)i, NULL) == 0;
		}
		ok(all && strmap_size(m) == 5000, "5000 keys inserted");
		ok(strmap_get(m, "k4242") == (void *)4242L &&
		       strmap_has(m, "k0") && !strmap_has(m, "k5000"),
		   "lookups after growth");
		strmap_foreach(m, drop_odd_cb, NULL);
		is_int(strmap_size(m), 2500, "foreach can delete entries");
		strmap_foreach(m, count_cb, &n);
		is_int(n, 2500, "foreach visits every entry");
		ok(strmap_del(m, "k2") == (void *)2L && !strmap_has(m, "k2"),
		   "delete returns the value");
		strmap_free(m);
	}
	test_cut_headers();
	test_fs_dotdot();
	test_lost_answer();
	return tap_done();
}
