/* SPDX-License-Identifier: MIT */
#include "sync/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/engine.h"
#include "sync/glob.h"
#include "sync/strmap.h"

#define WATCH_MASK                                                             \
	(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |      \
	 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |         \
	 IN_ONLYDIR | IN_EXCL_UNLINK)

struct wdir {
	int wd;
	struct sync_root *root;
	char *rel;
};

struct watch {
	struct loop *loop;
	int fd;
	char *const *excludes;
	struct watch_cbs cbs;
	void *ctx;
	struct strmap *by_wd; /* "wd" -> struct wdir */
	bool enospc_logged;
};

static void wd_key(int wd, char *buf, size_t cap)
{
	(void)snprintf(buf, cap, "%d", wd);
}

static void wdir_free(struct wdir *d)
{
	if (d) {
		free(d->rel);
		free(d);
	}
}

int watch_add(struct watch *w, struct sync_root *r, int dirfd, const char *rel)
{
	char path[64], key[16];
	struct wdir *d, *old = NULL;
	int wd;

	/*
	 * Through the descriptor (opened without following symlinks), so
	 * the directory watched is the one the scan walked.
	 */
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	if (wd < 0) {
		int err = -errno;
		if (err == -ENOSPC && !w->enospc_logged) {
			log_err("sync: out of inotify watches (raise "
				"fs.inotify.max_user_watches); changes in "
				"some directories are only seen by rescans");
			w->enospc_logged = true;
		}
		return err;
	}
	wd_key(wd, key, sizeof(key));
	d = strmap_get(w->by_wd, key);
	if (d) {
		/* Seen again (moved, or a rescan): refresh where it is. */
		char *nr = strdup(rel);
		if (!nr)
			return -ENOMEM;
		free(d->rel);
		d->rel = nr;
		d->root = r;
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->rel = strdup(rel))) {
		free(d);
		return -ENOMEM;
	}
	d->wd = wd;
	d->root = r;
	if (strmap_put(w->by_wd, key, d, (void **)&old) < 0) {
		wdir_free(d);
		return -ENOMEM;
	}
	wdir_free(old);
	return 0;
}

struct prune {
	struct watch *w;
	struct sync_root *root;
	const char *rel;
	size_t len;
};

static bool prune_cb(void *ctx, const char *key, void *value)
{
	struct prune *p = ctx;
	struct wdir *d = value;

	(void)key;
	if (d->root != p->root || strncmp(d->rel, p->rel, p->len) != 0 ||
	    (d->rel[p->len] != '\0' && d->rel[p->len] != '/'))
		return false;
	(void)inotify_rm_watch(p->w->fd, d->wd);
	wdir_free(d);
	return true;
}

/* Forget the watches of rel and everything below it. */
static void prune(struct watch *w, struct sync_root *r, const char *rel)
{
	struct prune p = {.w = w, .root = r, .rel = rel, .len = strlen(rel)};

	strmap_foreach(w->by_wd, prune_cb, &p);
}

static void dispatch(struct watch *w, const struct inotify_event *ev)
{
	char key[16];
	struct wdir *d;
	_cleanup_free_ char *rel = NULL;

	if (ev->mask & IN_Q_OVERFLOW) {
		log_warn("sync: inotify queue overflowed; rescanning");
		w->cbs.overflow(w->ctx, NULL);
		return;
	}
	wd_key(ev->wd, key, sizeof(key));
	d = strmap_get(w->by_wd, key);
	if (!d)
		return;
	if (ev->mask & IN_IGNORED) {
		wdir_free(strmap_del(w->by_wd, key));
		return;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		/* Below the root, the parent's event says it all. */
		if (!d->rel[0]) {
			log_warn("sync: %s itself was moved or deleted",
				 d->root->local);
			w->cbs.overflow(w->ctx, d->root);
		}
		return;
	}
	if (ev->len == 0 || !ev->name[0])
		return;
	if (asprintf(&rel, "%s%s%s", d->rel, d->rel[0] ? "/" : "", ev->name) <
	    0) {
		rel = NULL;
		w->cbs.overflow(w->ctx, d->root); /* no memory: rescan */
		return;
	}
	if (ev->mask & IN_ISDIR) {
		if (glob_excludes_dir(w->excludes, rel))
			return;
		if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
			prune(w, d->root, rel);
			w->cbs.dir_removed(w->ctx, d->root, rel);
		} else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
			w->cbs.dir_added(w->ctx, d->root, rel);
		}
		return;
	}
	if (glob_excludes_file(w->excludes, rel))
		return;
	if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		w->cbs.removed(w->ctx, d->root, rel);
	else
		w->cbs.changed(w->ctx, d->root, rel);
}

void watch_drain(struct watch *w)
{
	char buf[64 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				log_warn_errno(errno,
					       "sync: unable to read inotify "
					       "events");
			return;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;
			dispatch(w, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
}

static void inotify_cb(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	watch_drain(ctx);
}

struct watch *watch_new(struct loop *loop, char *const *excludes,
			const struct watch_cbs *cbs, void *ctx)
{
	struct watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return NULL;
	w->loop = loop;
	w->excludes = excludes;
	w->cbs = *cbs;
	w->ctx = ctx;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->by_wd = strmap_new();
	if (w->fd < 0 || !w->by_wd) {
		r = w->fd < 0 ? errno : ENOMEM;
		watch_free(w);
		errno = r;
		return NULL;
	}
	r = loop_fd_add(loop, w->fd, EPOLLIN, inotify_cb, w);
	if (r < 0) {
		watch_free(w);
		errno = -r;
		return NULL;
	}
	return w;
}

static bool free_cb(void *ctx, const char *key, void *value)
{
	(void)ctx;
	(void)key;
	wdir_free(value);
	return true;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	if (w->by_wd) {
		strmap_foreach(w->by_wd, free_cb, NULL);
		strmap_free(w->by_wd);
	}
	if (w->fd >= 0) {
		(void)loop_fd_del(w->loop, w->fd);
		(void)close(w->fd);
	}
	free(w);
}

unsigned watch_count(const struct watch *w)
{
	return (unsigned)strmap_size(w->by_wd);
}
