/* SPDX-License-Identifier: MIT */
#include "sync/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/engine.h"
#include "sync/glob.h"
#include "sync/strmap.h"

/*
 * After an overflow, events are not read for a while (the kernel drops
 * what does not fit meanwhile, at no cost to us), then the queue is
 * emptied and the engine rescans. The pause doubles while overflows keep
 * coming and starts again at the minimum once they have stopped for a
 * while: a gateway that renames files in a tight loop would otherwise
 * keep the agent rescanning the whole tree without end.
 */
#define PAUSE_MIN_MS   1000
#define PAUSE_MAX_MS   30000
#define PAUSE_RESET_MS 60000
/*
 * More events than this within a second count as an overflow too: a loop
 * that renames two names as fast as it can is read as fast as it writes,
 * and handling each event would cost as much as the rescans.
 */
#define BURST_EVENTS 20000
#define BURST_MS     1000

#define WATCH_MASK                                                             \
	(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |      \
	 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |         \
	 IN_ONLYDIR | IN_EXCL_UNLINK)

struct wdir {
	int wd;
	struct sync_root *root;
	char *rel;
	char ino_key[48]; /* "dev:ino": its entry in by_ino */
};

struct watch {
	struct loop *loop;
	int fd;
	char *const *excludes;
	struct watch_cbs cbs;
	void *ctx;
	struct strmap *by_wd;  /* "wd" -> struct wdir */
	struct strmap *by_ino; /* "dev:ino" -> the same struct wdir */
	unsigned max;	       /* TENANT_SYNC_MAX_WATCHES */
	bool enospc_logged;
	bool cap_logged;
	struct loop_timer *pause_timer; /* reading paused after an overflow */
	uint64_t pause_ms;		/* the last pause */
	uint64_t overflow_ms;		/* when the last overflow was seen */
	unsigned overflows;		/* in a row, for the log */
	uint64_t burst_ms;		/* start of the current second */
	unsigned burst_events;		/* events read since then */
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

static void ino_key(const struct stat *st, char *buf, size_t cap)
{
	(void)snprintf(buf, cap, "%llx:%llx", (unsigned long long)st->st_dev,
		       (unsigned long long)st->st_ino);
}

/* Forget d (already out of by_wd): its by_ino entry, then d itself. */
static void wdir_forget(struct watch *w, struct wdir *d)
{
	if (d && strmap_get(w->by_ino, d->ino_key) == d)
		(void)strmap_del(w->by_ino, d->ino_key);
	wdir_free(d);
}

int watch_add(struct watch *w, struct sync_root *r, int dirfd, const char *rel)
{
	char path[64], key[16], ikey[48];
	struct wdir *d, *old = NULL;
	struct stat st;
	int wd;

	if (fstat(dirfd, &st) < 0)
		return -errno;
	ino_key(&st, ikey, sizeof(ikey));
	/*
	 * Every directory the gateway makes costs a watch, charged to root
	 * (fs.inotify.max_user_watches is per user, node-wide where the
	 * container's root is the host's): past the cap, a directory is
	 * not watched but rescanned (the engine's fallback). One already
	 * watched is only refreshed, so rescans never count twice.
	 */
	if (!strmap_has(w->by_ino, ikey) && strmap_size(w->by_wd) >= w->max) {
		if (!w->cap_logged)
			log_warn("sync: TENANT_SYNC_MAX_WATCHES=%u reached; "
				 "directories beyond it are rescanned "
				 "periodically instead of watched",
				 w->max);
		w->cap_logged = true;
		return -EDQUOT;
	}
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
	memcpy(d->ino_key, ikey, sizeof(ikey));
	if (strmap_put(w->by_wd, key, d, (void **)&old) < 0) {
		wdir_free(d);
		(void)inotify_rm_watch(w->fd, wd);
		return -ENOMEM;
	}
	wdir_forget(w, old);
	if (strmap_put(w->by_ino, ikey, d, NULL) < 0) {
		/* Unknown by inode: it may be counted again; harmless. */
		d->ino_key[0] = '\0';
	}
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
	wdir_forget(p->w, d);
	return true;
}

/* Forget the watches of rel and everything below it. */
static void prune(struct watch *w, struct sync_root *r, const char *rel)
{
	struct prune p = {.w = w, .root = r, .rel = rel, .len = strlen(rel)};

	strmap_foreach(w->by_wd, prune_cb, &p);
}

/* The queue overflowed: pause reading, rescan when the pause ends. */
static void overflowed(struct watch *w, const char *what)
{
	uint64_t now = loop_now_ms();

	if (loop_timer_is_armed(w->pause_timer))
		return;
	if (!w->overflow_ms || now - w->overflow_ms > PAUSE_RESET_MS) {
		w->pause_ms = PAUSE_MIN_MS;
		w->overflows = 0;
	} else if (w->pause_ms < PAUSE_MAX_MS) {
		w->pause_ms = w->pause_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS
							     : w->pause_ms * 2;
	}
	w->overflow_ms = now;
	if (w->overflows++ == 0 || w->pause_ms == PAUSE_MAX_MS)
		log_warn("sync: %s (%u in a row); rescanning in %llu ms", what,
			 w->overflows, (unsigned long long)w->pause_ms);
	if (loop_fd_mod(w->loop, w->fd, 0) < 0) {
		/* Cannot pause: rescan now, as before. */
		w->cbs.overflow(w->ctx, NULL);
		return;
	}
	loop_timer_arm(w->pause_timer, w->pause_ms);
}

/* Read and drop what is queued (a rescan follows anyway). */
static void discard(struct watch *w)
{
	char buf[64 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	do
		n = read(w->fd, buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
}

static void pause_timer_cb(void *ctx)
{
	struct watch *w = ctx;

	int r;

	discard(w);
	r = loop_fd_mod(w->loop, w->fd, EPOLLIN);
	if (r < 0)
		log_warn_errno(r, "sync: unable to read inotify events again");
	w->cbs.overflow(w->ctx, NULL);
}

static void dispatch(struct watch *w, const struct inotify_event *ev)
{
	char key[16];
	struct wdir *d;
	_cleanup_free_ char *rel = NULL;

	if (ev->mask & IN_Q_OVERFLOW) {
		overflowed(w, "inotify queue overflowed");
		return;
	}
	wd_key(ev->wd, key, sizeof(key));
	d = strmap_get(w->by_wd, key);
	if (!d)
		return;
	if (ev->mask & IN_IGNORED) {
		wdir_forget(w, strmap_del(w->by_wd, key));
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

	/* Paused after an overflow: the caller's rescan covers it. */
	if (loop_timer_is_armed(w->pause_timer)) {
		loop_timer_disarm(w->pause_timer);
		discard(w);
		(void)loop_fd_mod(w->loop, w->fd, EPOLLIN);
		return;
	}
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
			w->burst_events++;
		}
		if (loop_now_ms() - w->burst_ms >= BURST_MS) {
			w->burst_ms = loop_now_ms();
			w->burst_events = 0;
		} else if (w->burst_events > BURST_EVENTS) {
			w->burst_events = 0;
			overflowed(w, "more than 20000 inotify events in a "
				      "second");
		}
		/* An overflow paused reading: the rest waits for it. */
		if (loop_timer_is_armed(w->pause_timer))
			return;
	}
}

static void inotify_cb(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	watch_drain(ctx);
}

struct watch *watch_new(struct loop *loop, char *const *excludes, unsigned max,
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
	w->max = max ? max : 1;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->by_wd = strmap_new();
	w->by_ino = strmap_new();
	w->pause_timer = loop_timer_new(loop, pause_timer_cb, w);
	if (w->fd < 0 || !w->by_wd || !w->by_ino || !w->pause_timer) {
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
	loop_timer_free(w->pause_timer);
	strmap_free(w->by_ino); /* the values are by_wd's */
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
