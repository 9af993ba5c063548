/* SPDX-License-Identifier: MIT */
#include "sync/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/backend.h"
#include "sync/backoff.h"
#include "sync/bootfiles.h"
#include "sync/clock.h"
#include "sync/engine.h"
#include "sync/glob.h"
#include "sync/hash.h"
#include "sync/pathsafe.h"
#include "sync/state.h"
#include "sync/strmap.h"

/* The restore holds the tenant back: retry storage sooner than uploads. */
#define RESTORE_BACKOFF_CAP_MS 5000
/* A progress line every this many downloads. */
#define PROGRESS_EVERY 500
/*
 * Downloads are made durable in batches: one syncfs() for up to this many
 * files (or what arrived within BATCH_MS), then their renames. An fsync()
 * per file would stall the loop once per file.
 */
#define BATCH_MAX 256
#define BATCH_MS  200

#define LEGACY_FROM "openclaw/"
#define LEGACY_TO   "clawdbot/"

struct job {
	struct job *next;
	struct restore *r;
	struct sync_root *root;
	char *key;
	char *rel;
	unsigned attempt;
	int fd;
	char tmp[64];
	uint64_t want_size; /* the object's size in the listing */
	struct backend_op *op;
	/* what the download turned out to be, for the state */
	char md5[HASH_MD5_HEX];
	char etag[STATE_ETAG_MAX];
	uint64_t size;
};

struct restore {
	struct engine *e;
	void (*done)(void *ctx);
	void *ctx;

	size_t root_idx;
	struct sync_root *root;
	char *list_prefix;
	bool legacy;
	struct backend_op *list_op;
	bool listed;
	uint64_t listed_count;
	struct strmap *seen;

	struct job *q_head, *q_tail;
	struct job *active; /* singly linked, unordered */
	struct job *ready;  /* downloaded, waiting for the batch's sync */
	unsigned nready;
	struct loop_timer *batch_timer;
	unsigned nactive;
	struct loop_timer *timer;
	uint64_t pause_until;
	unsigned fail_streak;
	bool running;

	uint64_t n_download, n_same, n_kept, n_refused, n_excluded, bytes;
	uint64_t root_queued; /* downloads queued for the current root */
	uint64_t t0;
};

static void start_list(struct restore *r);
static void pump(struct restore *r);

/* ---- jobs ---- */

static void job_free(struct job *j)
{
	if (j->op)
		backend_cancel(j->r->e->be, j->op);
	if (j->fd >= 0)
		(void)close(j->fd);
	if (j->tmp[0])
		(void)unlinkat(j->root->tmpfd, j->tmp, 0);
	free(j->key);
	free(j->rel);
	free(j);
}

static void queue_push(struct restore *r, struct job *j)
{
	j->next = NULL;
	if (r->q_tail)
		r->q_tail->next = j;
	else
		r->q_head = j;
	r->q_tail = j;
}

static struct job *queue_pop(struct restore *r)
{
	struct job *j = r->q_head;

	if (j) {
		r->q_head = j->next;
		if (!r->q_head)
			r->q_tail = NULL;
		j->next = NULL;
	}
	return j;
}

static void active_remove(struct restore *r, struct job *j)
{
	for (struct job **pp = &r->active; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			r->nactive--;
			j->next = NULL;
			return;
		}
	}
}

/* ---- failure pacing ---- */

/*
 * A failure, retried after a backoff. local: the local disk failed (full,
 * read-only, ...), not storage: the log says so, at error level when the
 * disk is full, since only the operator can make room.
 */
static void failed(struct restore *r, const struct backend_status *st,
		   bool local)
{
	uint64_t delay;

	engine_note_error(r->e, st);
	if (r->fail_streak++ == 0 && r->e->cbs.restore_retrying)
		r->e->cbs.restore_retrying(r->e->ctx);
	delay = backoff_delay_ms(r->fail_streak, BACKOFF_BASE_MS,
				 RESTORE_BACKOFF_CAP_MS, st->retry_after_ms);
	if (r->pause_until < loop_now_ms() + delay)
		r->pause_until = loop_now_ms() + delay;
	if (r->fail_streak != 1 && r->fail_streak % 10 != 0)
		; /* not every attempt: a full disk fails 16 at a time */
	else if (local && (st->err == -ENOSPC || st->err == -EDQUOT))
		log_err("restore: %s; retrying (attempt %u)", st->detail,
			r->fail_streak);
	else if (local)
		log_warn("restore: %s; retrying (attempt %u)", st->detail,
			 r->fail_streak);
	else
		log_warn("restore: storage error (%s); retrying (attempt %u)",
			 st->detail, r->fail_streak);
	loop_timer_arm_at(r->timer, r->pause_until);
}

static void succeeded(struct restore *r)
{
	if (r->fail_streak)
		log_info("restore: storage reachable again");
	r->fail_streak = 0;
	engine_note_success(r->e);
}

/* ---- installing a downloaded file ---- */

static void refuse(struct restore *r, const char *key, size_t len,
		   const char *why)
{
	char buf[256];

	pathsafe_escape(key, len, buf, sizeof(buf));
	log_warn("restore: refusing object '%s': %s", buf, why);
	r->n_refused++;
}

/*
 * A verified download, still in ROOT/.tenant-init/tmp: give it its mtime
 * and owner. It is renamed into place after the batch's sync. Returns 0
 * or -errno.
 */
static int prepare(struct restore *r, struct job *j,
		   const struct backend_obj *obj)
{
	struct engine *e = r->e;
	struct timespec ts[2];
	int64_t mt = obj->mtime_ns >= 0		  ? obj->mtime_ns
		     : obj->last_modified_ns >= 0 ? obj->last_modified_ns
						  : sync_clock_now_ns();
	int64_t sec = mt / 1000000000, nsec = mt % 1000000000;

	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)sec;
	ts[0].tv_nsec = ts[1].tv_nsec = (long)nsec;
	if (futimens(j->fd, ts) < 0)
		return -errno;
	uid_t uid = e->uid;
	gid_t gid = e->gid;

	bootfiles_owner(j->rel, &uid, &gid);
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchown(j->fd, uid, gid) < 0)
		return -errno;
	(void)snprintf(j->md5, sizeof(j->md5), "%s", obj->md5);
	(void)snprintf(j->etag, sizeof(j->etag), "%s", obj->etag);
	j->size = obj->size;
	(void)close(j->fd);
	j->fd = -1;
	return 0;
}

/*
 * Rename a synced download into place and record it. Returns 0, or -errno
 * for a failure worth retrying; refusals are logged and return 0.
 */
static int install(struct restore *r, struct job *j)
{
	struct engine *e = r->e;
	struct sync_root *root = j->root;
	const char *leaf;
	_cleanup_close_ int dfd = -1;
	struct state_entry se;
	struct stat st, old;
	uid_t uid = e->uid;
	gid_t gid = e->gid;

	bootfiles_owner(j->rel, &uid, &gid);
	dfd = pathsafe_open_parent(root->fd, j->rel, true, uid, gid, &leaf);
	if (dfd == -ELOOP || dfd == -ENOTDIR) {
		refuse(r, j->key, strlen(j->key),
		       "its path passes through a symlink or a file");
		return 0;
	}
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, leaf, &old, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(old.st_mode)) {
			refuse(r, j->key, strlen(j->key),
			       "a local directory or symlink has its name");
			return 0;
		}
		/* Keep the mode the local file had. */
		if (fchmodat(root->tmpfd, j->tmp, old.st_mode & 07777, 0) < 0)
			log_debug("unable to keep the mode of %s", j->rel);
	}
	if (renameat(root->tmpfd, j->tmp, dfd, leaf) < 0) {
		int err = -errno;
		if (err == -EXDEV)
			log_err("restore: unable to restore %s: its directory "
				"is on another file system than %s",
				j->rel, root->local);
		return err == -EXDEV ? 0 : err;
	}
	j->tmp[0] = '\0';
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* replaced meanwhile: the uploader will see it */
	memset(&se, 0, sizeof(se));
	state_entry_set_stat(&se, &st);
	memcpy(se.md5, j->md5, sizeof(se.md5));
	memcpy(se.etag, j->etag, sizeof(se.etag));
	/*
	 * From the legacy layout, the file is not in sync with its key in
	 * the new one: no entry, so the uploader moves it there.
	 */
	if (r->legacy)
		(void)state_del(root->state, j->rel);
	else
		(void)state_put(root->state, j->rel, &se);
	r->n_download++;
	r->bytes += j->size;
	e->stats.downloaded_objects_total++;
	engine_stats_changed(e);
	if (r->n_download % PROGRESS_EVERY == 0)
		log_info("restore: %llu files downloaded so far",
			 (unsigned long long)r->n_download);
	return 0;
}

static void retry_job(struct restore *r, struct job *j, int err,
		      const char *what)
{
	struct backend_status ls;
	char why[sizeof(ls.detail)];

	(void)snprintf(why, sizeof(why), "unable to %s %s in %s: %s", what,
		       j->rel, j->root->local, strerror(-err));
	backend_status_local(&ls, err, true, why);
	if (j->fd >= 0)
		(void)close(j->fd);
	if (j->tmp[0])
		(void)unlinkat(j->root->tmpfd, j->tmp, 0);
	j->fd = -1;
	j->tmp[0] = '\0';
	failed(r, &ls, true);
	queue_push(r, j);
}

/* Make the batch durable, then put its files in place. */
static void flush_batch(struct restore *r)
{
	struct job *list = r->ready;
	struct sync_root *root = list ? list->root : NULL;

	loop_timer_disarm(r->batch_timer);
	r->ready = NULL;
	r->nready = 0;
	if (!list)
		return;
	/*
	 * The data of every file first (one syncfs for the batch), then the
	 * renames: a crash never leaves a complete name with incomplete
	 * content, which the next boot would take for a local change.
	 */
	if (syncfs(root->fd) < 0)
		log_warn_errno(errno, "restore: unable to sync %s",
			       root->local);
	(void)state_begin(root->state);
	while (list) {
		struct job *j = list;
		int err;

		list = j->next;
		j->next = NULL;
		err = install(r, j);
		if (err < 0)
			retry_job(r, j, err, "write");
		else
			job_free(j);
	}
	(void)state_commit(root->state);
}

static void batch_timer_cb(void *ctx)
{
	struct restore *r = ctx;

	flush_batch(r);
	pump(r);
}

/* Is the file system of fd out of space (or of inodes) for us? */
static bool fs_is_full(int fd)
{
	struct statvfs sv;

	return fd >= 0 && fstatvfs(fd, &sv) == 0 &&
	       (sv.f_bavail == 0 || (sv.f_files && sv.f_favail == 0));
}

static void get_done(void *ctx, const struct backend_status *st,
		     const struct backend_obj *obj)
{
	struct job *j = ctx;
	struct restore *r = j->r;
	int err;

	j->op = NULL;
	active_remove(r, j);
	if (st->err == -ENOENT) {
		/* Deleted since the listing: nothing to restore. */
		succeeded(r);
		job_free(j);
	} else if (st->err && fs_is_full(j->fd)) {
		/*
		 * The backend reports a failed write of the body as a failed
		 * transfer (-EIO, "unable to write the downloaded data"),
		 * which would read as a storage problem. Where the disk is
		 * full, that is what it is: say so.
		 */
		j->attempt++;
		retry_job(r, j, -ENOSPC, "write");
	} else if (st->err) {
		(void)close(j->fd);
		(void)unlinkat(j->root->tmpfd, j->tmp, 0);
		j->fd = -1;
		j->tmp[0] = '\0';
		j->attempt++;
		failed(r, st, false);
		queue_push(r, j);
	} else {
		succeeded(r);
		err = prepare(r, j, obj);
		if (err < 0) {
			retry_job(r, j, err, "write");
		} else {
			j->next = r->ready;
			r->ready = j;
			if (++r->nready >= BATCH_MAX)
				flush_batch(r);
			else if (!loop_timer_is_armed(r->batch_timer))
				loop_timer_arm(r->batch_timer, BATCH_MS);
		}
	}
	pump(r);
}

/*
 * Reserve the object's size before downloading it: a full disk is then
 * found before any byte is transferred, named as what it is (the backend
 * only sees a write that failed), and no download gets half way. Blocks
 * are reserved past the end of the (empty) file, so a shorter body leaves
 * no zeros behind. File systems without fallocate are not an error.
 */
static int reserve(int fd, uint64_t size)
{
	if (size == 0 ||
	    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) == 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
		return 0;
	return -errno;
}

/*
 * Start one download. Returns false when it could not start: the job is
 * queued again and a retry is scheduled, so the caller must stop starting
 * more for now (retrying in the same breath would spin on a full disk).
 */
static bool start_job(struct restore *r, struct job *j)
{
	struct backend_status ls;
	char why[sizeof(ls.detail)];
	int err;

	j->fd = pathsafe_mktemp(j->root->tmpfd, "dl-", j->tmp, sizeof(j->tmp));
	err = j->fd;
	if (err < 0) {
		j->fd = -1;
		j->tmp[0] = '\0';
		retry_job(r, j, err, "create a temporary file for");
		return false;
	}
	err = reserve(j->fd, j->want_size);
	if (err < 0) {
		retry_job(r, j, err, "make room for");
		return false;
	}
	err = backend_get(r->e->be, j->key, j->fd, get_done, j, &j->op);
	if (err < 0) {
		(void)close(j->fd);
		(void)unlinkat(j->root->tmpfd, j->tmp, 0);
		j->fd = -1;
		j->tmp[0] = '\0';
		(void)snprintf(why, sizeof(why),
			       "unable to start a download of %s: %s", j->rel,
			       strerror(-err));
		backend_status_local(&ls, err, true, why);
		failed(r, &ls, false);
		queue_push(r, j);
		return false;
	}
	j->next = r->active;
	r->active = j;
	r->nactive++;
	return true;
}

/* ---- deciding what to download ---- */

/* A local file with no state entry: is it the object already? */
static bool same_content(struct sync_root *root, const char *rel,
			 const struct stat *st, const struct backend_obj *o,
			 struct state_entry *se)
{
	uint8_t want[HASH_MD5_LEN], got[HASH_MD5_LEN];
	struct stat st2;
	_cleanup_close_ int fd = -1;

	if ((uint64_t)st->st_size != o->size ||
	    !hash_md5_from_hex(o->etag, want))
		return false;
	fd = pathsafe_open_read(root->fd, rel, &st2);
	if (fd < 0 || hash_fd_range(fd, 0, o->size, got, NULL) < 0 ||
	    memcmp(want, got, sizeof(got)) != 0)
		return false;
	memset(se, 0, sizeof(*se));
	state_entry_set_stat(se, &st2);
	hash_hex(got, sizeof(got), se->md5);
	(void)snprintf(se->etag, sizeof(se->etag), "%s", o->etag);
	return true;
}

/*
 * Can the object o be restored at all? Not when it is larger than
 * TENANT_SYNC_MAX_FILE_SIZE (nothing this size is uploaded, so it was put
 * there otherwise, or by an older version that uploaded sparse files at
 * their full size), nor when it is larger than the whole file system:
 * waiting for room that can never come would keep the tenant restoring
 * for good. (A disk that is merely full now is waited for: room can be
 * made.) Refusals are logged and counted.
 */
static bool fits(struct restore *r, const struct backend_obj *o)
{
	struct statvfs sv;
	char why[160], lim[32];

	if (o->size > sync_config_max_file_size(r->e->sc)) {
		config_size_format(sync_config_max_file_size(r->e->sc), lim,
				   sizeof(lim));
		(void)snprintf(why, sizeof(why),
			       "%llu bytes, larger than "
			       "TENANT_SYNC_MAX_FILE_SIZE=%s; it stays in "
			       "storage",
			       (unsigned long long)o->size, lim);
	} else if (fstatvfs(r->root->fd, &sv) == 0 &&
		   o->size > (uint64_t)sv.f_blocks * sv.f_frsize) {
		(void)snprintf(why, sizeof(why),
			       "%llu bytes, larger than the whole file system "
			       "of %s; it stays in storage",
			       (unsigned long long)o->size, r->root->local);
	} else {
		return true;
	}
	refuse(r, o->key, o->key_len, why);
	return false;
}

/*
 * A boot file whose local copy does not count (bootfiles.h): keep it
 * under another name ("NAME.invalid-N") when it is openclaw.json, where
 * it could be the user's work; what is not root's in the platform's
 * directory is the gateway's doing and is simply replaced.
 */
static void set_aside(struct restore *r, const char *rel)
{
	char to[NAME_MAX + 1];

	if (bootfiles_is_managed(rel)) {
		log_warn("restore: %s/%s is not root's: replaced by the "
			 "version in storage",
			 r->root->local, rel);
		return;
	}
	(void)snprintf(to, sizeof(to), "%s.invalid-%llx", rel,
		       (unsigned long long)sync_clock_now_ns());
	if (renameat(r->root->fd, rel, r->root->fd, to) < 0)
		log_warn_errno(errno, "restore: unable to set %s/%s aside",
			       r->root->local, rel);
	else
		log_warn("restore: %s/%s is not a usable JSON object: kept as "
			 "%s, the version in storage restored",
			 r->root->local, rel, to);
}

static void consider(struct restore *r, const struct backend_obj *o)
{
	struct sync_root *root = r->root;
	size_t plen = strlen(r->list_prefix);
	const char *rel;
	size_t rlen;
	const char *why;
	struct state_entry se;
	struct stat st;
	struct job *j;
	int err;

	r->listed_count++;
	if (o->key_len < plen || memcmp(o->key, r->list_prefix, plen) != 0) {
		refuse(r, o->key, o->key_len, "outside the listed prefix");
		return;
	}
	rel = o->key + plen;
	rlen = o->key_len - plen;
	if (rlen == 0 || rel[rlen - 1] == '/')
		return; /* a "directory" marker object */
	why = pathsafe_check(rel, rlen);
	if (why) {
		refuse(r, o->key, o->key_len, why);
		return;
	}
	/* Now a plain C string: pathsafe_check() refused NUL bytes. */
	if (glob_excludes_file(r->e->sc->excludes, rel)) {
		r->n_excluded++;
		return;
	}
	if (strmap_has(r->seen, rel))
		return; /* a listing retried from the start */
	if (strmap_put(r->seen, rel, NULL, NULL) < 0)
		log_warn("restore: out of memory tracking %s", rel);

	err = pathsafe_lstat(root->fd, rel, &st);
	if (err == 0 && bootfiles_local_unusable(root->fd, rel)) {
		/* Not the tenant's version: storage's wins (bootfiles.h). */
		set_aside(r, rel);
		err = -ENOENT;
	}
	if (err == -ELOOP || err == -ENOTDIR) {
		refuse(r, o->key, o->key_len,
		       "its path passes through a symlink or a file");
		return;
	}
	if (err == 0 && !S_ISREG(st.st_mode)) {
		refuse(r, o->key, o->key_len,
		       "a local directory or symlink has its name");
		return;
	}
	if (err == 0) {
		if (state_get(root->state, rel, &se) == 0) {
			if (!state_entry_matches(&se, &st)) {
				/* Changed here since the last sync: ours. */
				r->n_kept++;
				return;
			}
			if (!r->legacy && o->etag[0] &&
			    strcmp(se.etag, o->etag) == 0) {
				r->n_same++;
				return;
			}
		} else if (same_content(root, rel, &st, o, &se)) {
			if (!r->legacy)
				(void)state_put(root->state, rel, &se);
			r->n_same++;
			return;
		}
	} else if (err != -ENOENT) {
		log_warn("restore: unable to inspect %s: %s", rel,
			 strerror(-err));
	}
	if (!fits(r, o)) {
		/*
		 * Unseen, so that an entry it may have is dropped: the file
		 * missing here must not read as deleted, and the object
		 * stays in storage.
		 */
		(void)strmap_del(r->seen, rel);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->key = strndup(o->key, o->key_len)) ||
	    !(j->rel = strdup(rel))) {
		if (j) {
			free(j->key);
			free(j);
		}
		log_err("restore: out of memory");
		return;
	}
	j->r = r;
	j->root = root;
	j->fd = -1;
	j->want_size = o->size;
	r->root_queued++;
	queue_push(r, j);
}

/* ---- listing ---- */

static void page_cb(void *ctx, const struct backend_obj *objs, size_t n)
{
	struct restore *r = ctx;

	(void)state_begin(r->root->state);
	for (size_t i = 0; i < n; i++)
		consider(r, &objs[i]);
	(void)state_commit(r->root->state);
	pump(r);
}

/*
 * An entry for a file the bucket no longer has says nothing true any more:
 * forget it, so the file counts as new (and is uploaded, not deleted).
 */
static int drop_unseen_cb(void *ctx, const char *path,
			  const struct state_entry *e)
{
	struct restore *r = ctx;

	(void)e;
	if (!strmap_has(r->seen, path))
		(void)state_del(r->root->state, path);
	return 0;
}

static void next_root(struct restore *r);

static void root_done(struct restore *r)
{
	struct sync_root *root = r->root;

	(void)state_begin(root->state);
	(void)state_foreach(root->state, NULL, drop_unseen_cb, r);
	(void)state_commit(root->state);
	/* One sync for all the renames of this root. */
	if (syncfs(root->fd) < 0)
		log_warn_errno(errno, "restore: unable to sync %s",
			       root->local);
	strmap_free(r->seen);
	r->seen = NULL;
	r->root_idx++;
	next_root(r);
}

static void maybe_root_done(struct restore *r)
{
	if (!r->running || !r->listed || r->list_op || r->q_head || r->nactive)
		return;
	if (r->ready) {
		/* The last batch; it may requeue failures. */
		flush_batch(r);
		if (r->q_head) {
			pump(r);
			return;
		}
	}
	root_done(r);
}

static void list_done(void *ctx, const struct backend_status *st,
		      const struct backend_obj *obj)
{
	struct restore *r = ctx;
	const char *remote = r->root->remote;

	(void)obj;
	r->list_op = NULL;
	if (st->err) {
		failed(r, st, false);
		return; /* the timer lists again */
	}
	succeeded(r);
	if (r->listed_count == 0 && !r->legacy &&
	    strcmp(remote, LEGACY_FROM) == 0) {
		/* Nothing under openclaw/: the old scripts' layout? */
		char *p = NULL;
		size_t plen = strlen(r->root->key_prefix) - strlen(remote);

		if (asprintf(&p, "%.*s%s", (int)plen, r->root->key_prefix,
			     LEGACY_TO) < 0) {
			log_err("restore: out of memory");
		} else {
			free(r->list_prefix);
			r->list_prefix = p;
			r->legacy = true;
			start_list(r);
			return;
		}
	}
	if (r->legacy && r->listed_count)
		log_info("restore: %s is empty; restoring the legacy layout "
			 "%s into %s",
			 r->root->key_prefix, r->list_prefix, r->root->local);
	r->listed = true;
	log_info("restore: %s: %llu objects listed, %llu to download",
		 r->legacy && r->listed_count ? r->list_prefix
					      : r->root->key_prefix,
		 (unsigned long long)r->listed_count,
		 (unsigned long long)r->root_queued);
	pump(r);
	maybe_root_done(r);
}

static void start_list(struct restore *r)
{
	int err;

	if (loop_now_ms() < r->pause_until) {
		loop_timer_arm_at(r->timer, r->pause_until);
		return;
	}
	r->listed_count = 0;
	err = backend_list(r->e->be, r->list_prefix, page_cb, list_done, r,
			   &r->list_op);
	if (err < 0) {
		struct backend_status ls;
		backend_status_local(&ls, err, true,
				     "unable to start a listing");
		failed(r, &ls, false);
	}
}

static void pump(struct restore *r)
{
	unsigned max = r->e->sc->concurrency ? r->e->sc->concurrency : 1;

	if (!r->running)
		return;
	if (loop_now_ms() < r->pause_until) {
		loop_timer_arm_at(r->timer, r->pause_until);
		return;
	}
	while (r->nactive < max && r->q_head)
		if (!start_job(r, queue_pop(r)))
			return; /* the retry timer pumps again */
	maybe_root_done(r);
}

static void timer_cb(void *ctx)
{
	struct restore *r = ctx;

	if (!r->running)
		return;
	if (!r->listed && !r->list_op)
		start_list(r);
	pump(r);
}

static void next_root(struct restore *r)
{
	if (r->root_idx == r->e->nroots) {
		double s = (double)(loop_now_ms() - r->t0) / 1000.0;
		r->running = false;
		log_info("restore: done in %.1f s: %llu files downloaded "
			 "(%llu bytes), %llu already present, %llu kept "
			 "(changed locally), %llu refused",
			 s, (unsigned long long)r->n_download,
			 (unsigned long long)r->bytes,
			 (unsigned long long)r->n_same,
			 (unsigned long long)r->n_kept,
			 (unsigned long long)r->n_refused);
		r->done(r->ctx);
		return;
	}
	r->root = &r->e->roots[r->root_idx];
	r->legacy = false;
	r->listed = false;
	r->root_queued = 0;
	free(r->list_prefix);
	r->list_prefix = strdup(r->root->key_prefix);
	r->seen = strmap_new();
	if (!r->list_prefix || !r->seen) {
		log_err("restore: out of memory");
		/* Try again later rather than report a restore not done. */
		r->pause_until = loop_now_ms() + 1000;
		loop_timer_arm_at(r->timer, r->pause_until);
		return;
	}
	log_info("restore: %s from %s, prefix %s", r->root->local, r->e->be->id,
		 r->root->key_prefix);
	start_list(r);
}

struct restore *restore_new(struct engine *e, void (*done)(void *ctx),
			    void *ctx)
{
	struct restore *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->e = e;
	r->done = done;
	r->ctx = ctx;
	r->timer = loop_timer_new(e->loop, timer_cb, r);
	r->batch_timer = loop_timer_new(e->loop, batch_timer_cb, r);
	if (!r->timer || !r->batch_timer) {
		loop_timer_free(r->timer);
		loop_timer_free(r->batch_timer);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

int restore_start(struct restore *r)
{
	r->t0 = loop_now_ms();
	r->running = true;
	r->root_idx = 0;
	next_root(r);
	return 0;
}

void restore_cancel(struct restore *r)
{
	struct job *j;

	r->running = false;
	loop_timer_disarm(r->timer);
	if (r->list_op) {
		backend_cancel(r->e->be, r->list_op);
		r->list_op = NULL;
	}
	while ((j = r->active)) {
		r->active = j->next;
		job_free(j);
	}
	r->nactive = 0;
	while ((j = r->ready)) {
		r->ready = j->next;
		job_free(j);
	}
	r->nready = 0;
	loop_timer_disarm(r->batch_timer);
	while ((j = queue_pop(r)))
		job_free(j);
	strmap_free(r->seen);
	r->seen = NULL;
}

void restore_free(struct restore *r)
{
	if (!r)
		return;
	restore_cancel(r);
	loop_timer_free(r->timer);
	loop_timer_free(r->batch_timer);
	free(r->list_prefix);
	free(r);
}
