/* SPDX-License-Identifier: MIT */
#include "sync/fsbackend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/hash.h"
#include "sync/mtime.h"
#include "sync/pathsafe.h"

#define XATTR_MD5   "user.tenant-init.md5"
#define XATTR_MTIME "user.tenant-init.mtime"

/* Listing pages, as S3 would deliver them. */
#define PAGE_SIZE_OBJS 1000

enum op_kind {
	OP_LIST,
	OP_GET,
	OP_PUT,
	OP_DEL,
};

struct backend_op {
	struct backend_op *next;
	enum op_kind kind;
	backend_done_cb done;
	backend_page_cb page;
	backend_del_cb del_done;
	void *ctx;
	struct backend_status st;
	struct backend_obj obj;
	bool has_obj;
	char *key;
	/* list */
	struct backend_obj *objs;
	size_t nobjs, cap;
	/* delete */
	char **failed;
	size_t nfailed;
};

struct fsb {
	struct backend base;
	struct loop *loop;
	int rootfd;
	struct loop_timer *timer;
	struct backend_op *head, *tail; /* finished, waiting to report */
};

static void op_free(struct backend_op *op)
{
	for (size_t i = 0; i < op->nobjs; i++)
		free((char *)op->objs[i].key);
	free(op->objs);
	for (size_t i = 0; i < op->nfailed; i++)
		free(op->failed[i]);
	free(op->failed);
	free(op->key);
	free(op);
}

/* Queue a finished op; its callback runs from the loop. */
static void op_queue(struct fsb *f, struct backend_op *op)
{
	op->next = NULL;
	if (f->tail)
		f->tail->next = op;
	else
		f->head = op;
	f->tail = op;
	loop_timer_arm(f->timer, 0);
}

static void report_cb(void *ctx)
{
	struct fsb *f = ctx;

	/* Callbacks may queue more; those wait for the next pass. */
	struct backend_op *list = f->head;
	f->head = f->tail = NULL;
	while (list) {
		struct backend_op *op = list;
		list = op->next;
		switch (op->kind) {
		case OP_LIST:
			for (size_t i = 0; !op->st.err && i < op->nobjs;
			     i += PAGE_SIZE_OBJS) {
				size_t n = op->nobjs - i < PAGE_SIZE_OBJS
					       ? op->nobjs - i
					       : PAGE_SIZE_OBJS;
				op->page(op->ctx, op->objs + i, n);
			}
			op->done(op->ctx, &op->st, NULL);
			break;
		case OP_DEL:
			op->del_done(op->ctx, &op->st, op->failed, op->nfailed);
			break;
		case OP_GET:
		case OP_PUT:
		default:
			op->done(op->ctx, &op->st,
				 op->has_obj ? &op->obj : NULL);
			break;
		}
		op_free(op);
	}
}

static struct backend_op *op_new(enum op_kind kind, const char *key, void *ctx)
{
	struct backend_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->kind = kind;
	op->ctx = ctx;
	if (key && !(op->key = strdup(key))) {
		free(op);
		return NULL;
	}
	return op;
}

static void set_err(struct backend_op *op, int err, const char *what)
{
	char detail[160];

	(void)snprintf(detail, sizeof(detail), "%s: %s", what, strerror(-err));
	backend_status_local(&op->st, err, err != -ENOENT, detail);
}

/*
 * Why key must not be used as a path below the backend's root, or NULL.
 * Keys are made from paths that passed the same check, so a key that
 * fails it came from somewhere else (a tampered sync state, say): it is
 * refused, never resolved -- ".." would lead out of the root.
 */
static const char *key_refusal(const char *key)
{
	const char *why = pathsafe_check(key, strlen(key));
	char shown[256];

	if (why) {
		pathsafe_escape(key, strlen(key), shown, sizeof(shown));
		log_warn("file backend: refusing key '%s': %s", shown, why);
	}
	return why;
}

/* The etag: the MD5 from the xattr, or a change token from the stat. */
static void describe(int fd, const struct stat *st, struct backend_obj *obj)
{
	char buf[MTIME_STR_MAX];
	ssize_t n;

	obj->size = (uint64_t)st->st_size;
	obj->last_modified_ns =
	    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	obj->mtime_ns = obj->last_modified_ns;
	n = fgetxattr(fd, XATTR_MTIME, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if (mtime_parse(buf, &obj->mtime_ns) < 0)
			obj->mtime_ns = obj->last_modified_ns;
	}
	n = fgetxattr(fd, XATTR_MD5, obj->md5, sizeof(obj->md5) - 1);
	if (n == HASH_MD5_HEX - 1) {
		uint8_t tmp[HASH_MD5_LEN];
		obj->md5[n] = '\0';
		if (hash_md5_from_hex(obj->md5, tmp)) {
			memcpy(obj->etag, obj->md5, sizeof(obj->md5));
			return;
		}
	}
	obj->md5[0] = '\0';
	(void)snprintf(obj->etag, sizeof(obj->etag), "fs-%llx-%llx-%llx",
		       (unsigned long long)obj->last_modified_ns,
		       (unsigned long long)st->st_size,
		       (unsigned long long)st->st_ino);
}

/* ---- list ---- */

static int list_add(struct backend_op *op, const char *key, int fd,
		    const struct stat *st)
{
	struct backend_obj *o;

	if (op->nobjs == op->cap) {
		size_t nc = op->cap ? op->cap * 2 : 256;
		struct backend_obj *n = realloc(op->objs, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		op->objs = n;
		op->cap = nc;
	}
	o = &op->objs[op->nobjs];
	memset(o, 0, sizeof(*o));
	describe(fd, st, o);
	o->key = strdup(key);
	if (!o->key)
		return -ENOMEM;
	o->key_len = strlen(key);
	op->nobjs++;
	return 0;
}

static int walk(struct backend_op *op, int dfd, const char *base,
		const char *prefix)
{
	DIR *d;
	struct dirent *de;
	int r = 0;
	int fd = pathsafe_reopen_dir(dfd);

	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		_cleanup_free_ char *key = NULL;
		struct stat st;
		int cfd;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, FS_BACKEND_TMP_PREFIX,
			    strlen(FS_BACKEND_TMP_PREFIX)) == 0)
			continue;
		if (asprintf(&key, "%s%s", base, de->d_name) < 0) {
			key = NULL;
			r = -ENOMEM;
			break;
		}
		cfd = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (cfd < 0)
			continue; /* vanished, or a symlink: not an object */
		if (fstat(cfd, &st) < 0) {
			(void)close(cfd);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			_cleanup_free_ char *sub = NULL;
			if (asprintf(&sub, "%s/", key) < 0) {
				sub = NULL;
				r = -ENOMEM;
			} else {
				r = walk(op, cfd, sub, prefix);
			}
		} else if (S_ISREG(st.st_mode) &&
			   strncmp(key, prefix, strlen(prefix)) == 0) {
			r = list_add(op, key, cfd, &st);
		}
		(void)close(cfd);
	}
	if (r == 0 && errno)
		r = -errno;
	(void)closedir(d);
	return r;
}

static int fs_list(struct backend *b, const char *prefix, backend_page_cb page,
		   backend_done_cb done, void *ctx, struct backend_op **out)
{
	struct fsb *f = (struct fsb *)b;
	struct backend_op *op = op_new(OP_LIST, NULL, ctx);
	const char *slash = strrchr(prefix, '/');
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *base = NULL;
	int dfd, r;

	if (!op)
		return -ENOMEM;
	op->page = page;
	op->done = done;
	dir = slash ? strndup(prefix, (size_t)(slash - prefix)) : strdup("");
	base =
	    slash ? strndup(prefix, (size_t)(slash - prefix + 1)) : strdup("");
	if (!dir || !base) {
		op_free(op);
		return -ENOMEM;
	}
	dfd = pathsafe_open_dir(f->rootfd, dir, false, (uid_t)-1, (gid_t)-1);
	if (dfd >= 0) {
		r = walk(op, dfd, base, prefix);
		(void)close(dfd);
	} else {
		/* No directory yet: an empty listing, as S3 would say. */
		r = dfd == -ENOENT ? 0 : dfd;
	}
	if (r < 0)
		set_err(op, r, "unable to list the backup directory");
	op_queue(f, op);
	if (out)
		*out = op;
	return 0;
}

/* ---- get ---- */

/*
 * Copy len bytes (all of src when len is UINT64_MAX) from src (from
 * offset 0) to dst, hashing them. Returns the bytes copied or -errno.
 */
static int64_t copy_hash(int src, int dst, uint64_t len, uint8_t *md5)
{
	struct hasher *h = hasher_new(true, false);
	size_t cap = 256 * 1024;
	uint8_t *buf = malloc(cap);
	uint64_t off = 0;
	int64_t r = 0;

	if (!h || !buf) {
		r = -ENOMEM;
		goto out;
	}
	while (off < len) {
		size_t want = len - off < cap ? (size_t)(len - off) : cap;
		ssize_t n = pread(src, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(dst, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				r = -errno;
				goto out;
			}
			w += k;
		}
		hasher_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	hasher_final(h, md5, NULL);
	r = (int64_t)off;
out:
	free(buf);
	hasher_free(h);
	return r;
}

static int fs_get(struct backend *b, const char *key, int fd,
		  backend_done_cb done, void *ctx, struct backend_op **out)
{
	struct fsb *f = (struct fsb *)b;
	struct backend_op *op = op_new(OP_GET, key, ctx);
	uint8_t md5[HASH_MD5_LEN];
	char hex[HASH_MD5_HEX];
	struct stat st;
	_cleanup_close_ int src = -1;
	int64_t n;

	if (!op)
		return -ENOMEM;
	op->done = done;
	if (key_refusal(key)) {
		backend_status_local(&op->st, -EINVAL, false,
				     "the key is not a safe path");
		goto out;
	}
	src = pathsafe_open_read(f->rootfd, key, &st);
	if (src < 0) {
		set_err(op, src == -EINVAL ? -ENOENT : src, key);
		goto out;
	}
	n = copy_hash(src, fd, UINT64_MAX, md5);
	if (n < 0) {
		set_err(op, (int)n, key);
		goto out;
	}
	describe(src, &st, &op->obj);
	hash_hex(md5, sizeof(md5), hex);
	if ((uint64_t)n != op->obj.size ||
	    (op->obj.md5[0] && strcmp(op->obj.md5, hex) != 0)) {
		/* Replaced while we read it: the caller tries again. */
		backend_status_local(&op->st, -EIO, true,
				     "the object changed while it was read");
		goto out;
	}
	memcpy(op->obj.md5, hex, sizeof(hex));
	op->obj.key = op->key;
	op->obj.key_len = strlen(op->key);
	op->has_obj = true;
out:
	op_queue(f, op);
	if (out)
		*out = op;
	return 0;
}

/* ---- put ---- */

static int put_file(struct fsb *f, struct backend_op *op, int fd, uint64_t size,
		    int64_t mtime_ns)
{
	const char *leaf;
	char tmp[NAME_MAX + 1];
	char mt[MTIME_STR_MAX];
	uint8_t md5[HASH_MD5_LEN];
	_cleanup_close_ int dfd = -1;
	_cleanup_close_ int tfd = -1;
	struct timespec ts[2];
	struct stat st;
	int64_t n;
	int r;

	dfd = pathsafe_open_parent(f->rootfd, op->key, true, (uid_t)-1,
				   (gid_t)-1, &leaf);
	if (dfd < 0)
		return dfd;
	tfd = pathsafe_mktemp(dfd, FS_BACKEND_TMP_PREFIX, tmp, sizeof(tmp));
	if (tfd < 0)
		return tfd;
	n = copy_hash(fd, tfd, size, md5);
	if (n >= 0 && (uint64_t)n != size)
		n = -ESTALE; /* the source shrank: it changed */
	r = n < 0 ? (int)n : 0;
	hash_hex(md5, sizeof(md5), op->obj.md5);
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(mtime_ns / 1000000000);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(mtime_ns % 1000000000);
	mtime_format(mtime_ns, mt, sizeof(mt));
	if (r == 0 && fsync(tfd) < 0)
		r = -errno;
	if (r == 0 && futimens(tfd, ts) < 0)
		r = -errno;
	/* xattrs are a bonus: file systems without them still work. */
	if (r == 0) {
		(void)fsetxattr(tfd, XATTR_MD5, op->obj.md5, HASH_MD5_HEX - 1,
				0);
		(void)fsetxattr(tfd, XATTR_MTIME, mt, strlen(mt), 0);
	}
	if (r == 0 && fstat(tfd, &st) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, leaf) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	if (fsync(dfd) < 0)
		return -errno;
	describe(tfd, &st, &op->obj);
	return 0;
}

static int fs_put(struct backend *b, const char *key, int fd, uint64_t size,
		  int64_t mtime_ns, backend_done_cb done, void *ctx,
		  struct backend_op **out)
{
	struct fsb *f = (struct fsb *)b;
	struct backend_op *op = op_new(OP_PUT, key, ctx);
	int r;

	if (!op)
		return -ENOMEM;
	op->done = done;
	r = key_refusal(key) ? -EINVAL : put_file(f, op, fd, size, mtime_ns);
	if (r < 0) {
		set_err(op, r, key);
	} else {
		op->obj.key = op->key;
		op->obj.key_len = strlen(op->key);
		op->obj.size = size;
		op->obj.mtime_ns = mtime_ns;
		op->has_obj = true;
	}
	op_queue(f, op);
	if (out)
		*out = op;
	return 0;
}

/*
 * The conditional write: under an exclusive flock of the key's directory
 * (every writer of a shared backup directory takes it), compare the
 * object there with cond, then write as put_file() does.
 */
static int put_cond(struct fsb *f, struct backend_op *op, int fd, uint64_t size,
		    int64_t mtime_ns, const char *cond)
{
	const char *leaf;
	_cleanup_close_ int dfd = -1;
	_cleanup_close_ int cur = -1;
	struct backend_obj now;
	struct stat st;
	int r;

	dfd = pathsafe_open_parent(f->rootfd, op->key, true, (uid_t)-1,
				   (gid_t)-1, &leaf);
	if (dfd < 0)
		return dfd;
	if (TEMP_FAILURE_RETRY(flock(dfd, LOCK_EX)) < 0)
		return -errno;
	cur = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (cur < 0 && errno != ENOENT) {
		r = -errno;
	} else if (strcmp(cond, "*") == 0) {
		r = cur >= 0 ? -EEXIST : 0;
	} else if (cur < 0) {
		r = -ENOENT;
	} else if (fstat(cur, &st) < 0) {
		r = -errno;
	} else {
		memset(&now, 0, sizeof(now));
		describe(cur, &st, &now);
		r = strcmp(now.etag, cond) == 0 ? 0 : -EEXIST;
	}
	if (r == 0)
		r = put_file(f, op, fd, size, mtime_ns);
	(void)flock(dfd, LOCK_UN);
	return r;
}

static int fs_put_if(struct backend *b, const char *key, int fd, uint64_t size,
		     int64_t mtime_ns, const char *cond, backend_done_cb done,
		     void *ctx, struct backend_op **out)
{
	struct fsb *f = (struct fsb *)b;
	struct backend_op *op = op_new(OP_PUT, key, ctx);
	int r;

	if (!op)
		return -ENOMEM;
	op->done = done;
	r = key_refusal(key) ? -EINVAL
			     : put_cond(f, op, fd, size, mtime_ns, cond);
	if (r == -EEXIST)
		backend_status_local(&op->st, -EEXIST, false,
				     "precondition failed");
	else if (r < 0)
		set_err(op, r, key);
	if (r == 0) {
		op->obj.key = op->key;
		op->obj.key_len = strlen(op->key);
		op->obj.size = size;
		op->obj.mtime_ns = mtime_ns;
		op->has_obj = true;
	}
	op_queue(f, op);
	if (out)
		*out = op;
	return 0;
}

/* ---- delete ---- */

/* Remove now-empty directories above a deleted key (best effort). */
static void prune_dirs(int rootfd, const char *key)
{
	_cleanup_free_ char *dir = strdup(key);
	char *slash;

	if (!dir)
		return;
	while ((slash = strrchr(dir, '/'))) {
		const char *leaf;
		int pfd;

		*slash = '\0';
		pfd = pathsafe_open_parent(rootfd, dir, false, (uid_t)-1,
					   (gid_t)-1, &leaf);
		if (pfd < 0)
			return;
		if (unlinkat(pfd, leaf, AT_REMOVEDIR) < 0) {
			(void)close(pfd);
			return;
		}
		(void)close(pfd);
	}
}

static int fs_del(struct backend *b, char *const *keys, size_t n,
		  backend_del_cb done, void *ctx, struct backend_op **out)
{
	struct fsb *f = (struct fsb *)b;
	struct backend_op *op = op_new(OP_DEL, NULL, ctx);

	if (!op)
		return -ENOMEM;
	op->del_done = done;
	op->failed = calloc(n + 1, sizeof(char *));
	if (!op->failed) {
		op_free(op);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const char *leaf;
		int dfd, r;

		/* No object of ours has such a name: nothing to delete. */
		if (key_refusal(keys[i]))
			continue;
		dfd = pathsafe_open_parent(f->rootfd, keys[i], false, (uid_t)-1,
					   (gid_t)-1, &leaf);
		r = dfd < 0 ? dfd : 0;

		if (dfd >= 0) {
			if (unlinkat(dfd, leaf, 0) < 0)
				r = -errno;
			else if (fsync(dfd) < 0)
				r = -errno;
			(void)close(dfd);
		}
		if (r == 0)
			prune_dirs(f->rootfd, keys[i]);
		else if (r != -ENOENT)
			op->failed[op->nfailed++] = strdup(keys[i]);
		if (op->nfailed && !op->failed[op->nfailed - 1])
			op->nfailed--; /* out of memory: report fewer */
	}
	op_queue(f, op);
	if (out)
		*out = op;
	return 0;
}

/* ---- lifecycle ---- */

static void fs_cancel(struct backend *b, struct backend_op *op)
{
	struct fsb *f = (struct fsb *)b;
	struct backend_op **pp = &f->head, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			if (f->tail == op)
				f->tail = prev;
			op_free(op);
			return;
		}
	}
}

static void fs_free(struct backend *b)
{
	struct fsb *f = (struct fsb *)b;

	while (f->head) {
		struct backend_op *op = f->head;
		f->head = op->next;
		op_free(op);
	}
	loop_timer_free(f->timer);
	if (f->rootfd >= 0)
		(void)close(f->rootfd);
	free(f->base.id);
	free(f);
}

static const struct backend_ops fs_ops = {
    .name = "file",
    .list = fs_list,
    .get = fs_get,
    .put = fs_put,
    .put_if = fs_put_if,
    .del = fs_del,
    .cancel = fs_cancel,
    .free = fs_free,
};

struct backend *fs_backend_new(struct loop *loop, const char *root, char *err,
			       size_t errlen)
{
	struct fsb *f = calloc(1, sizeof(*f));
	int r;

	if (!f) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->base.ops = &fs_ops;
	f->loop = loop;
	f->rootfd = -1;
	if (asprintf(&f->base.id, "file://%s", root) < 0) {
		f->base.id = NULL;
		(void)snprintf(err, errlen, "out of memory");
		fs_free(&f->base);
		return NULL;
	}
	f->timer = loop_timer_new(loop, report_cb, f);
	/* The operator's path: symlinks in it are the operator's choice. */
	r = pathsafe_mkdir_p(root, 0700);
	if (r == 0) {
		r = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (r < 0)
			r = -errno;
	}
	if (!f->timer || r < 0) {
		(void)snprintf(err, errlen, "unable to open %s: %s", root,
			       strerror(r < 0 ? -r : ENOMEM));
		fs_free(&f->base);
		errno = r < 0 ? -r : ENOMEM;
		return NULL;
	}
	f->rootfd = r;
	return &f->base;
}
