/* SPDX-License-Identifier: MIT */
#include "sync/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/cleanup.h"
#include "init/log.h"
#include "init/loop.h"
#include "sync/backend.h"
#include "sync/backoff.h"
#include "sync/bootfiles.h"
#include "sync/engine.h"
#include "sync/glob.h"
#include "sync/pathsafe.h"
#include "sync/sqlsnap.h"
#include "sync/state.h"
#include "sync/strmap.h"

/* Debounce is bounded at this multiple for files that never settle. */
#define DEBOUNCE_BOUND 5
/* A locked SQLite database is tried again this soon. */
#define SNAPSHOT_RETRY_MS 200
/* During a flush, failures are retried at least this often. */
#define FLUSH_RETRY_MS 1000
/*
 * A file is uploaded only when it stores (nearly) all of its bytes: its
 * holes may add up to this much. A sparse file costs nothing on disk and
 * its full size in storage and at every restore (100 GB for a truncate).
 */
#define SPARSE_SLACK ((uint64_t)64 << 20)
/* Holes are counted with at most this many SEEK_HOLE/SEEK_DATA pairs. */
#define SPARSE_WALK_MAX 4096

enum item_state {
	IT_WAIT,     /* in the heap until due */
	IT_READY,    /* due, waiting for a transfer slot */
	IT_ACTIVE,   /* upload in flight */
	IT_DELETE,   /* its object is to be deleted */
	IT_HELD,     /* ... but the deletion guard holds it back */
	IT_DELETING, /* in a delete batch in flight */
};

struct delbatch;

struct item {
	struct uploader *u;
	struct sync_root *root;
	char *rel;
	enum item_state st;
	uint64_t first_ms; /* first change since it was last synced */
	uint64_t due_ms;
	size_t heap_idx;
	bool again; /* changed while in flight */
	bool force; /* its SQLite WAL changed: upload despite the stat */
	unsigned attempt;
	struct item *next; /* ready FIFO */
	/* upload in flight */
	struct backend_op *op;
	int fd;
	int upfd;
	char snap[64];
	struct stat st1;
	uint64_t size;
	bool sqlite;
};

struct delbatch {
	struct uploader *u;
	struct sync_root *root;
	struct item **items;
	char **keys;
	size_t n;
	struct backend_op *op;
	struct delbatch *next;
};

struct uploader {
	struct engine *e;
	struct strmap **maps; /* per root: rel -> item */
	uint64_t nitems;
	struct item **heap;
	size_t heap_n, heap_cap;
	struct item *ready_head, *ready_tail;
	unsigned active;
	struct delbatch *batches;
	struct loop_timer *timer;
	struct loop_timer *del_timer;
	bool flushing;
	bool *held;		 /* per root: the guard is holding deletions */
	struct strmap **refused; /* per root: rel -> size refusal logged */
	uint64_t nheld;		 /* items in IT_HELD */
	uint64_t ndelete;	 /* items in IT_DELETE */
};

static void pump(struct uploader *u);

/* ---- the heap of waiting items (by due time) ---- */

#define NOT_IN_HEAP ((size_t)-1)

static void heap_swap(struct uploader *u, size_t a, size_t b)
{
	struct item *t = u->heap[a];

	u->heap[a] = u->heap[b];
	u->heap[b] = t;
	u->heap[a]->heap_idx = a;
	u->heap[b]->heap_idx = b;
}

static void heap_up(struct uploader *u, size_t i)
{
	while (i > 0 && u->heap[(i - 1) / 2]->due_ms > u->heap[i]->due_ms) {
		heap_swap(u, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct uploader *u, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < u->heap_n && u->heap[l]->due_ms < u->heap[m]->due_ms)
			m = l;
		if (r < u->heap_n && u->heap[r]->due_ms < u->heap[m]->due_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(u, i, m);
		i = m;
	}
}

static int heap_push(struct uploader *u, struct item *it)
{
	if (u->heap_n == u->heap_cap) {
		size_t nc = u->heap_cap ? u->heap_cap * 2 : 64;
		struct item **h = realloc(u->heap, nc * sizeof(*h));
		if (!h)
			return -ENOMEM;
		u->heap = h;
		u->heap_cap = nc;
	}
	it->heap_idx = u->heap_n;
	u->heap[u->heap_n++] = it;
	heap_up(u, it->heap_idx);
	return 0;
}

static void heap_remove(struct uploader *u, struct item *it)
{
	size_t i = it->heap_idx;

	if (i == NOT_IN_HEAP)
		return;
	it->heap_idx = NOT_IN_HEAP;
	u->heap_n--;
	if (i == u->heap_n)
		return;
	u->heap[i] = u->heap[u->heap_n];
	u->heap[i]->heap_idx = i;
	heap_up(u, i);
	heap_down(u, u->heap[i]->heap_idx);
}

static void heap_fix(struct uploader *u, struct item *it)
{
	heap_up(u, it->heap_idx);
	heap_down(u, it->heap_idx);
}

static void arm_timer(struct uploader *u)
{
	uint64_t at;

	/*
	 * Ready items wait for a transfer slot, the end of a throttling, or
	 * the lease (uploader_kick() then): the latter is no deadline.
	 */
	bool ready = u->ready_head && engine_may_write(u->e);

	if (u->heap_n == 0 && !ready) {
		loop_timer_disarm(u->timer);
		return;
	}
	at = u->heap_n ? u->heap[0]->due_ms : loop_now_ms();
	if (ready) {
		uint64_t t = loop_now_ms() + engine_throttle_left(u->e);
		if (t < at)
			at = t;
	}
	loop_timer_arm_at(u->timer, at);
}

/* ---- items ---- */

/* Change an item's state, keeping the per-state counts. */
static void set_state(struct uploader *u, struct item *it, enum item_state st)
{
	if (it->st == IT_HELD)
		u->nheld--;
	if (it->st == IT_DELETE)
		u->ndelete--;
	it->st = st;
	if (st == IT_HELD)
		u->nheld++;
	if (st == IT_DELETE)
		u->ndelete++;
}

static struct item *item_get(struct uploader *u, struct sync_root *r,
			     const char *rel)
{
	return strmap_get(u->maps[r->idx], rel);
}

static void ready_remove(struct uploader *u, struct item *it)
{
	struct item *prev = NULL;

	for (struct item *p = u->ready_head; p; prev = p, p = p->next) {
		if (p != it)
			continue;
		if (prev)
			prev->next = p->next;
		else
			u->ready_head = p->next;
		if (u->ready_tail == p)
			u->ready_tail = prev;
		p->next = NULL;
		return;
	}
}

static void item_close_files(struct item *it)
{
	if (it->upfd >= 0 && it->upfd != it->fd)
		(void)close(it->upfd);
	if (it->fd >= 0)
		(void)close(it->fd);
	if (it->snap[0])
		(void)unlinkat(it->root->tmpfd, it->snap, 0);
	it->fd = it->upfd = -1;
	it->snap[0] = '\0';
}

/* Forget an item that is in no heap, FIFO or transfer. */
static void item_drop(struct uploader *u, struct item *it)
{
	heap_remove(u, it);
	if (it->st == IT_READY)
		ready_remove(u, it);
	set_state(u, it, IT_WAIT);
	(void)strmap_del(u->maps[it->root->idx], it->rel);
	u->nitems--;
	item_close_files(it);
	free(it->rel);
	free(it);
	engine_stats_changed(u->e);
}

/* Put it (back) in the heap, due at due_ms. */
static void item_wait(struct uploader *u, struct item *it, uint64_t due_ms)
{
	if (it->st == IT_READY)
		ready_remove(u, it);
	set_state(u, it, IT_WAIT);
	it->due_ms = due_ms;
	if (it->heap_idx == NOT_IN_HEAP) {
		if (heap_push(u, it) < 0) {
			log_err("sync: out of memory queueing %s", it->rel);
			item_drop(u, it);
			return;
		}
	} else {
		heap_fix(u, it);
	}
	arm_timer(u);
}

static struct item *item_new(struct uploader *u, struct sync_root *r,
			     const char *rel)
{
	struct item *it = calloc(1, sizeof(*it));

	if (!it || !(it->rel = strdup(rel))) {
		free(it);
		return NULL;
	}
	it->u = u;
	it->root = r;
	it->heap_idx = NOT_IN_HEAP;
	it->fd = it->upfd = -1;
	it->first_ms = loop_now_ms();
	if (strmap_put(u->maps[r->idx], rel, it, NULL) < 0) {
		free(it->rel);
		free(it);
		return NULL;
	}
	u->nitems++;
	engine_stats_changed(u->e);
	return it;
}

static void touch(struct uploader *u, struct sync_root *r, const char *rel,
		  bool now, bool force)
{
	struct item *it = item_get(u, r, rel);
	uint64_t t = loop_now_ms();
	uint64_t debounce = u->e->sc->debounce_ms;
	uint64_t due;

	if (!it) {
		it = item_new(u, r, rel);
		if (!it) {
			log_err("sync: out of memory queueing %s", rel);
			return;
		}
		set_state(u, it, IT_WAIT);
	}
	it->force |= force;
	switch (it->st) {
	case IT_ACTIVE:
	case IT_DELETING:
		it->again = true;
		return;
	case IT_READY:
		return; /* looked at when its turn comes */
	case IT_HELD:
	case IT_DELETE:
		/* Maybe it is back: look again. */
		it->first_ms = t;
		set_state(u, it, IT_WAIT);
		break;
	case IT_WAIT:
	default:
		break;
	}
	if (now || u->flushing) {
		due = t;
	} else {
		/* Quiet time after the last change, bounded from the first. */
		due = t + debounce;
		if (due > it->first_ms + DEBOUNCE_BOUND * debounce)
			due = it->first_ms + DEBOUNCE_BOUND * debounce;
		/* A change does not cut a failure's backoff short. */
		if (it->attempt && it->heap_idx != NOT_IN_HEAP &&
		    it->due_ms > due)
			due = it->due_ms;
	}
	item_wait(u, it, due);
}

void uploader_touch(struct uploader *u, struct sync_root *r, const char *rel)
{
	touch(u, r, rel, false, false);
}

void uploader_touch_now(struct uploader *u, struct sync_root *r,
			const char *rel)
{
	touch(u, r, rel, true, false);
}

void uploader_check(struct uploader *u, struct sync_root *r, const char *rel,
		    const struct stat *st, bool now)
{
	struct state_entry se;

	if (state_get(r->state, rel, &se) == 0 && state_entry_matches(&se, st))
		return;
	touch(u, r, rel, now, false);
}

/* ---- failure pacing ---- */

static void retry_later(struct uploader *u, struct item *it,
			const struct backend_status *st)
{
	uint64_t delay;

	it->attempt++;
	delay = backoff_delay_ms(it->attempt, 2 * BACKOFF_BASE_MS,
				 BACKOFF_CAP_MS, st ? st->retry_after_ms : 0);
	if (u->flushing && delay > FLUSH_RETRY_MS)
		delay = FLUSH_RETRY_MS;
	if (st && (it->attempt == 1 || it->attempt % 10 == 0))
		log_warn("sync: unable to sync %s%s: %s (attempt %u, next in "
			 "%llu ms)",
			 it->root->key_prefix, it->rel, st->detail, it->attempt,
			 (unsigned long long)delay);
	item_wait(u, it, loop_now_ms() + delay);
}

/* ---- SQLite side files ---- */

/*
 * Does rel, a -wal or -journal file, look like one of SQLite's own? For
 * the moment a new database X exists but has no header yet: SQLite
 * writes X's first page through the journal (or the WAL), so X is still
 * empty or short while X-journal already holds data.
 */
static bool side_file_looks_sqlite(struct sync_root *r, const char *rel)
{
	struct stat st;
	int fd = pathsafe_open_read(r->fd, rel, &st);
	bool is = fd >= 0 && sqlsnap_is_side_file(fd);

	if (fd >= 0)
		(void)close(fd);
	return is;
}

/*
 * "X-wal", "X-journal" or "X-shm" next to a SQLite database X: never
 * uploaded on its own (the snapshot of X contains it); a change to it is
 * a change to X. X is a database when it has SQLite's header, or when it
 * is shorter than a header (being created) and the side file itself
 * looks like SQLite's (for -shm, which has no magic, the -wal beside it).
 * Returns X (allocated) when rel is such a file, else NULL.
 */
static char *sqlite_base(struct sync_root *r, const char *rel)
{
	static const char *const sfx[] = {"-wal", "-journal", "-shm"};
	size_t n = strlen(rel);

	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		size_t k = strlen(sfx[i]);
		struct stat st;
		char *base, *wal = NULL;
		int fd;
		bool is;

		if (n <= k || strcmp(rel + n - k, sfx[i]) != 0)
			continue;
		base = strndup(rel, n - k);
		if (!base)
			return NULL;
		fd = pathsafe_open_read(r->fd, base, &st);
		is = fd >= 0 && sqlsnap_is_sqlite(fd);
		if (fd >= 0)
			(void)close(fd);
		if (!is && fd >= 0 && st.st_size < 100) {
			if (strcmp(sfx[i], "-shm") != 0)
				is = side_file_looks_sqlite(r, rel);
			else if (asprintf(&wal, "%s-wal", base) >= 0)
				is = side_file_looks_sqlite(r, wal);
			free(wal);
		}
		if (is)
			return base;
		free(base);
		return NULL;
	}
	return NULL;
}

/* Note the WAL's state with the database's, so scans see it unchanged. */
static void record_wal(struct sync_root *r, const char *rel)
{
	_cleanup_free_ char *wal = NULL;
	struct state_entry se;
	struct stat st;

	if (asprintf(&wal, "%s-wal", rel) < 0) {
		wal = NULL;
		return;
	}
	if (pathsafe_lstat(r->fd, wal, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)state_del(r->state, wal);
		return;
	}
	memset(&se, 0, sizeof(se));
	state_entry_set_stat(&se, &st);
	(void)snprintf(se.etag, sizeof(se.etag), "sqlite-wal");
	(void)state_put(r->state, wal, &se);
}

/* ---- files too large to sync ---- */

/*
 * Bytes in holes of fd (size bytes), counted until they pass limit. Sets
 * *partial when the walk stopped at its bound before the end.
 */
static uint64_t hole_bytes(int fd, uint64_t size, uint64_t limit, bool *partial)
{
	uint64_t total = 0;
	off_t off = 0;

	*partial = false;
	for (int i = 0; (uint64_t)off < size; i++) {
		off_t h, d;

		if (i == SPARSE_WALK_MAX) {
			*partial = true;
			break;
		}
		h = lseek(fd, off, SEEK_HOLE);
		if (h < 0 || (uint64_t)h >= size)
			break; /* no more holes (or no support: all data) */
		d = lseek(fd, h, SEEK_DATA);
		if (d < 0 || (uint64_t)d > size)
			d = (off_t)size; /* a hole up to the end */
		total += (uint64_t)(d - h);
		if (total > limit)
			break;
		off = d;
	}
	return total;
}

/*
 * Why the open file fd (stat st) must not be uploaded, or NULL: larger
 * than TENANT_SYNC_MAX_FILE_SIZE, or sparse (its size not backed by
 * bytes on disk). st_blocks alone does not tell sparse from compressed
 * (btrfs, ZFS), so where it says "fewer blocks than bytes" the holes are
 * counted. why is filled with the reason.
 */
static bool too_big(const struct sync_config *sc, int fd, const struct stat *st,
		    char *why, size_t cap)
{
	uint64_t size = (uint64_t)st->st_size;
	uint64_t stored = (uint64_t)st->st_blocks * 512;
	uint64_t holes;
	bool partial;
	char lim[32];

	if (size > stored + SPARSE_SLACK) {
		holes = hole_bytes(fd, size, SPARSE_SLACK, &partial);
		if (holes > SPARSE_SLACK ||
		    (partial && size - stored > SPARSE_SLACK)) {
			(void)snprintf(why, cap,
				       "a sparse file: %llu bytes, of which "
				       "only %llu are stored on disk",
				       (unsigned long long)size,
				       (unsigned long long)stored);
			return true;
		}
	}
	if (size > sync_config_max_file_size(sc)) {
		config_size_format(sync_config_max_file_size(sc), lim,
				   sizeof(lim));
		(void)snprintf(why, cap,
			       "%llu bytes, larger than "
			       "TENANT_SYNC_MAX_FILE_SIZE=%s",
			       (unsigned long long)size, lim);
		return true;
	}
	return false;
}

/* A refusal's identity: logged again only when the file changes. */
struct refusal {
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
};

static void note_refused(struct uploader *u, struct item *it,
			 const struct stat *st, const char *verb,
			 const char *why)
{
	struct strmap *m = u->refused[it->root->idx];
	struct refusal *old = m ? strmap_get(m, it->rel) : NULL;
	struct refusal now = {
	    .size = (uint64_t)st->st_size,
	    .mtime_ns =
		(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
	    .ino = (uint64_t)st->st_ino,
	};
	struct refusal *r;

	if (old && memcmp(old, &now, sizeof(now)) == 0)
		return;
	log_warn("sync: not %s %s/%s: %s; the version in storage (if any) is "
		 "kept",
		 verb, it->root->local, it->rel, why);
	if (!m && !(m = u->refused[it->root->idx] = strmap_new()))
		return;
	r = old ? old : malloc(sizeof(*r));
	if (!r)
		return;
	*r = now;
	if (!old && strmap_put(m, it->rel, r, NULL) < 0)
		free(r);
}

/* ---- uploads ---- */

static void finish_active(struct uploader *u)
{
	u->active--;
	pump(u);
	if (uploader_is_idle(u))
		engine_uploader_idle(u->e);
}

static bool stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void put_done(void *ctx, const struct backend_status *st,
		     const struct backend_obj *obj)
{
	struct item *it = ctx;
	struct uploader *u = it->u;
	struct sync_root *r = it->root;
	struct state_entry se;
	struct stat st2, st3;
	bool changed;

	it->op = NULL;
	if (st->err) {
		item_close_files(it);
		if (st->err == -ESTALE) {
			/* It changed under us: send the new version later. */
			log_debug("%s changed during its upload", it->rel);
			set_state(u, it, IT_WAIT);
			it->first_ms = loop_now_ms();
			touch(u, r, it->rel, false, it->force);
		} else {
			engine_note_error(u->e, st);
			set_state(u, it, IT_WAIT);
			retry_later(u, it, st);
		}
		finish_active(u);
		return;
	}
	engine_note_success(u->e);
	u->e->stats.uploaded_objects_total++;
	u->e->stats.uploaded_bytes_total += it->size;
	engine_stats_changed(u->e);
	it->attempt = 0;
	/*
	 * Did the file change while it was read? Then the store has an
	 * earlier (consistent) version: record that one and go again.
	 */
	changed = fstat(it->fd, &st2) < 0 || !stat_same(&st2, &it->st1) ||
		  pathsafe_lstat(r->fd, it->rel, &st3) < 0 ||
		  st3.st_ino != it->st1.st_ino;
	memset(&se, 0, sizeof(se));
	state_entry_set_stat(&se, &it->st1);
	(void)snprintf(se.md5, sizeof(se.md5), "%s", obj->md5);
	(void)snprintf(se.etag, sizeof(se.etag), "%s", obj->etag);
	(void)state_put(r->state, it->rel, &se);
	if (it->sqlite)
		record_wal(r, it->rel);
	item_close_files(it);
	it->force = false;
	if (changed || it->again) {
		it->again = false;
		set_state(u, it, IT_WAIT);
		it->first_ms = loop_now_ms();
		touch(u, r, it->rel, false, false);
	} else {
		item_drop(u, it);
	}
	finish_active(u);
}

/*
 * Write ahead before the first upload of a file: once a PUT has left,
 * the store may hold the object without our ever learning it (the answer
 * lost to a reset, a 500 sent after the write, the agent killed). Without
 * an entry, deleting the file afterwards would delete nothing -- only
 * tracked files have their objects deleted -- and the next restore would
 * bring the deleted file back. So an untracked file gets an entry that
 * can never match a real file (inode 0, ctime before 1970): tracked, so
 * its deletion propagates (deleting an absent key is harmless), but never
 * "in sync", so it is still uploaded, and a restore keeps the local copy
 * as changed here. The upload's success replaces the entry with the real
 * one; a tracked file keeps its entry, whose object exists anyway.
 */
static void note_upload_started(struct sync_root *r, const char *rel,
				const struct stat *st)
{
	struct state_entry se;

	if (state_get(r->state, rel, &se) == 0)
		return;
	memset(&se, 0, sizeof(se));
	state_entry_set_stat(&se, st);
	se.ino = 0;
	se.ctime_ns = -1;
	(void)state_put(r->state, rel, &se);
}

/*
 * Start uploading a due regular file. Returns true when a transfer is in
 * flight (the slot is taken), false when the item was dealt with.
 */
static bool start_upload(struct uploader *u, struct item *it)
{
	struct sync_root *r = it->root;
	struct backend_status ls;
	_cleanup_free_ char *key = engine_key(r, it->rel);
	int err;

	it->fd = pathsafe_open_read(r->fd, it->rel, &it->st1);
	if (it->fd < 0) {
		err = it->fd;
		it->fd = -1;
		if (err == -ENOENT || err == -EINVAL || err == -ELOOP ||
		    err == -ENOTDIR) {
			/* Gone (or not a file) meanwhile: look again now. */
			set_state(u, it, IT_WAIT);
			item_wait(u, it, loop_now_ms());
			return false;
		}
		backend_status_local(&ls, err, true, "unable to open the file");
		set_state(u, it, IT_WAIT);
		retry_later(u, it, &ls);
		return false;
	}
	{
		char why[160];
		const char *boot =
		    bootfiles_upload_refusal(it->rel, it->fd, &it->st1);

		if (boot ||
		    too_big(u->e->sc, it->fd, &it->st1, why, sizeof(why))) {
			note_refused(u, it, &it->st1, "uploading",
				     boot ? boot : why);
			item_drop(u, it);
			return false;
		}
	}
	it->upfd = it->fd;
	it->size = (uint64_t)it->st1.st_size;
	it->sqlite = sqlsnap_is_sqlite(it->fd);
	if (it->sqlite) {
		const char *leaf;
		_cleanup_close_ int dfd = pathsafe_open_parent(
		    r->fd, it->rel, false, (uid_t)-1, (gid_t)-1, &leaf);
		struct stat sst;
		int sfd = dfd < 0 ? dfd
				  : sqlsnap_take(dfd, leaf, r->tmpfd, it->snap,
						 sizeof(it->snap));

		if (sfd == -EBUSY) {
			/* A writer holds it: not an error, just not now. */
			it->snap[0] = '\0';
			item_close_files(it);
			set_state(u, it, IT_WAIT);
			item_wait(u, it, loop_now_ms() + SNAPSHOT_RETRY_MS);
			return false;
		}
		if (sfd == -EINVAL) {
			/* Not a usable database: its bytes, as they are. */
			it->snap[0] = '\0';
			it->sqlite = false;
		} else if (sfd < 0) {
			it->snap[0] = '\0';
			item_close_files(it);
			backend_status_local(&ls, sfd, true,
					     "unable to snapshot the database");
			set_state(u, it, IT_WAIT);
			retry_later(u, it, &ls);
			return false;
		} else if (fstat(sfd, &sst) < 0) {
			(void)close(sfd);
			item_close_files(it);
			backend_status_local(&ls, -EIO, true,
					     "unable to read the snapshot");
			set_state(u, it, IT_WAIT);
			retry_later(u, it, &ls);
			return false;
		} else {
			it->upfd = sfd;
			it->size = (uint64_t)sst.st_size;
		}
	}
	if (!key) {
		item_close_files(it);
		backend_status_local(&ls, -ENOMEM, true, NULL);
		set_state(u, it, IT_WAIT);
		retry_later(u, it, &ls);
		return false;
	}
	note_upload_started(r, it->rel, &it->st1);
	err = backend_put(u->e->be, key, it->upfd, it->size,
			  (int64_t)it->st1.st_mtim.tv_sec * 1000000000 +
			      it->st1.st_mtim.tv_nsec,
			  put_done, it, &it->op);
	if (err < 0) {
		item_close_files(it);
		if (err == -ESTALE) {
			set_state(u, it, IT_WAIT);
			it->first_ms = loop_now_ms();
			touch(u, r, it->rel, false, it->force);
			return false;
		}
		backend_status_local(&ls, err, true,
				     "unable to start the upload");
		set_state(u, it, IT_WAIT);
		retry_later(u, it, &ls);
		return false;
	}
	set_state(u, it, IT_ACTIVE);
	u->active++;
	return true;
}

/* Decide what a due item needs. Returns true when a slot was taken. */
static bool evaluate(struct uploader *u, struct item *it)
{
	struct sync_root *r = it->root;
	struct state_entry se;
	struct stat st;
	char *base;
	int err = pathsafe_lstat(r->fd, it->rel, &st);
	bool tracked = state_get(r->state, it->rel, &se) == 0;

	it->next = NULL;
	if (glob_excludes_file(u->e->sc->excludes, it->rel)) {
		item_drop(u, it);
		return false;
	}
	base = sqlite_base(r, it->rel);
	if (base) {
		/* Side file of a database: the database is what changed. */
		bool shm = strlen(it->rel) > 4 &&
			   strcmp(it->rel + strlen(it->rel) - 4, "-shm") == 0;
		if (tracked && err < 0)
			(void)state_del(r->state, it->rel);
		if (!shm && err == 0 &&
		    (!tracked || !state_entry_matches(&se, &st)))
			touch(u, r, base, false, true);
		free(base);
		item_drop(u, it);
		return false;
	}
	if (err == 0 && S_ISREG(st.st_mode)) {
		const char *why = pathsafe_check(it->rel, strlen(it->rel));
		if (why) {
			log_warn("sync: not uploading '%s': %s (it could not "
				 "be restored)",
				 it->rel, why);
			item_drop(u, it);
			return false;
		}
		if (tracked && !it->force && state_entry_matches(&se, &st)) {
			item_drop(u, it);
			return false;
		}
		return start_upload(u, it);
	}
	if (err == 0 || err == -ENOENT || err == -ELOOP || err == -ENOTDIR) {
		/* Gone (or no longer a regular file). */
		if (!tracked) {
			item_drop(u, it);
			return false;
		}
		if (bootfiles_keeps_deletion(it->rel)) {
			/*
			 * A boot file: storage keeps the last good version
			 * (sync/bootfiles.h); its entry stays, so the next
			 * restore brings it back.
			 */
			static const struct stat gone;
			note_refused(u, it, &gone, "deleting",
				     "a file tenant-init reads at boot");
			item_drop(u, it);
			return false;
		}
		set_state(u, it, IT_DELETE);
		loop_timer_arm(u->del_timer, 0);
		return false;
	}
	{
		struct backend_status ls;
		backend_status_local(&ls, err, true, "unable to inspect it");
		set_state(u, it, IT_WAIT);
		retry_later(u, it, &ls);
	}
	return false;
}

/* ---- deletions ---- */

static void batch_free(struct delbatch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->keys[i]);
	free(b->keys);
	free(b->items);
	free(b);
}

static void batch_unlink(struct uploader *u, struct delbatch *b)
{
	for (struct delbatch **pp = &u->batches; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			return;
		}
	}
}

static bool in_failed(char *const *failed, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(failed[i], key) == 0)
			return true;
	return false;
}

static void del_done(void *ctx, const struct backend_status *st,
		     char *const *failed, size_t nfailed)
{
	struct delbatch *b = ctx;
	struct uploader *u = b->u;

	b->op = NULL;
	batch_unlink(u, b);
	if (st->err)
		engine_note_error(u->e, st);
	else
		engine_note_success(u->e);
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = b->items[i];

		if (st->err || in_failed(failed, nfailed, b->keys[i])) {
			struct backend_status ls;
			if (!st->err)
				backend_status_local(&ls, -EIO, true,
						     "the store could not "
						     "delete it");
			set_state(u, it, IT_WAIT);
			retry_later(u, it, st->err ? st : &ls);
			continue;
		}
		(void)state_del(b->root->state, it->rel);
		u->e->stats.deleted_objects_total++;
		if (it->again) {
			it->again = false;
			set_state(u, it, IT_WAIT);
			it->first_ms = loop_now_ms();
			touch(u, b->root, it->rel, true, false);
		} else {
			item_drop(u, it);
		}
	}
	engine_stats_changed(u->e);
	batch_free(b);
	finish_active(u);
}

struct collect {
	struct item **v;
	size_t n, cap;
	uint64_t pending; /* DELETE + HELD + DELETING */
	bool err;
};

static bool collect_cb(void *ctx, const char *key, void *value)
{
	struct collect *c = ctx;
	struct item *it = value;

	(void)key;
	if (it->st == IT_DELETE || it->st == IT_HELD || it->st == IT_DELETING)
		c->pending++;
	if (it->st != IT_DELETE && it->st != IT_HELD)
		return false;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct item **v = realloc(c->v, nc * sizeof(*v));
		if (!v) {
			c->err = true;
			return false;
		}
		c->v = v;
		c->cap = nc;
	}
	c->v[c->n++] = it;
	return false;
}

static int send_batch(struct uploader *u, struct sync_root *r,
		      struct item **items, size_t n)
{
	struct delbatch *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	b->u = u;
	b->root = r;
	b->items = calloc(n, sizeof(*b->items));
	b->keys = calloc(n, sizeof(*b->keys));
	if (!b->items || !b->keys) {
		batch_free(b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		b->keys[i] = engine_key(r, items[i]->rel);
		if (!b->keys[i]) {
			b->n = i;
			batch_free(b);
			return -ENOMEM;
		}
		b->items[i] = items[i];
	}
	b->n = n;
	err = backend_del(u->e->be, b->keys, n, del_done, b, &b->op);
	if (err < 0) {
		batch_free(b);
		return err;
	}
	for (size_t i = 0; i < n; i++)
		set_state(u, items[i], IT_DELETING);
	b->next = u->batches;
	u->batches = b;
	u->active++;
	return 0;
}

static void del_timer_cb(void *ctx)
{
	struct uploader *u = ctx;
	unsigned max = u->e->sc->concurrency ? u->e->sc->concurrency : 1;
	bool any_held = false;

	if (!engine_may_write(u->e))
		return; /* kicked again when the lease allows it */
	for (size_t ri = 0; ri < u->e->nroots; ri++) {
		struct sync_root *r = &u->e->roots[ri];
		struct collect c = {0};
		uint64_t tracked;
		bool hold;

		strmap_foreach(u->maps[ri], collect_cb, &c);
		tracked = state_count(r->state);
		hold = c.pending > UPLOAD_GUARD_MIN &&
		       c.pending * UPLOAD_GUARD_SHARE_DEN >
			   tracked * UPLOAD_GUARD_SHARE_NUM;
		if (hold) {
			if (!u->held[ri])
				log_warn("sync: holding back %llu deletions "
					 "under %s: that is more than half of "
					 "the %llu files synced from %s; the "
					 "objects stay in storage",
					 (unsigned long long)c.pending,
					 r->key_prefix,
					 (unsigned long long)tracked, r->local);
			u->held[ri] = true;
			for (size_t i = 0; i < c.n; i++)
				set_state(u, c.v[i], IT_HELD);
		} else {
			if (u->held[ri])
				log_info("sync: deletions under %s no longer "
					 "held back",
					 r->key_prefix);
			u->held[ri] = false;
			for (size_t i = 0; i < c.n; i++)
				set_state(u, c.v[i], IT_DELETE);
			for (size_t i = 0; i < c.n && u->active < max;
			     i += BACKEND_DELETE_MAX) {
				size_t n = c.n - i < BACKEND_DELETE_MAX
					       ? c.n - i
					       : BACKEND_DELETE_MAX;
				int err = send_batch(u, r, c.v + i, n);
				if (err < 0) {
					log_warn_errno(err,
						       "sync: unable to send "
						       "deletions");
					loop_timer_arm(u->del_timer, 1000);
					break;
				}
			}
			/* Slots full: the rest waits for a free one. */
		}
		any_held |= u->held[ri];
		free(c.v);
	}
	if (u->e->stats.deletes_held != any_held) {
		u->e->stats.deletes_held = any_held;
		engine_stats_changed(u->e);
	}
	if (uploader_is_idle(u))
		engine_uploader_idle(u->e);
}

/* ---- scheduling ---- */

static void pump(struct uploader *u)
{
	unsigned max = u->e->sc->concurrency ? u->e->sc->concurrency : 1;
	uint64_t now = loop_now_ms();
	bool dels = false;

	while (u->heap_n && u->heap[0]->due_ms <= now) {
		struct item *it = u->heap[0];
		heap_remove(u, it);
		set_state(u, it, IT_READY);
		it->next = NULL;
		if (u->ready_tail)
			u->ready_tail->next = it;
		else
			u->ready_head = it;
		u->ready_tail = it;
	}
	/* Not the lease holder (yet, or any more): nothing is written. */
	while (u->active < max && u->ready_head &&
	       engine_throttle_left(u->e) == 0 && engine_may_write(u->e)) {
		struct item *it = u->ready_head;
		u->ready_head = it->next;
		if (!u->ready_head)
			u->ready_tail = NULL;
		it->next = NULL;
		set_state(u, it,
			  IT_WAIT); /* evaluate() decides what it becomes */
		(void)evaluate(u, it);
	}
	/* Deletions waiting for a slot that just freed up. */
	dels = u->ndelete > 0;
	if (dels && u->active < max && !loop_timer_is_armed(u->del_timer))
		loop_timer_arm(u->del_timer, 0);
	arm_timer(u);
}

static void timer_cb(void *ctx)
{
	struct uploader *u = ctx;

	pump(u);
	if (uploader_is_idle(u))
		engine_uploader_idle(u->e);
}

/* ---- public ---- */

struct uploader *uploader_new(struct engine *e)
{
	struct uploader *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->e = e;
	u->maps = calloc(e->nroots, sizeof(*u->maps));
	u->held = calloc(e->nroots, sizeof(*u->held));
	u->refused = calloc(e->nroots, sizeof(*u->refused));
	u->timer = loop_timer_new(e->loop, timer_cb, u);
	u->del_timer = loop_timer_new(e->loop, del_timer_cb, u);
	if (!u->maps || !u->held || !u->refused || !u->timer || !u->del_timer)
		goto fail;
	for (size_t i = 0; i < e->nroots; i++)
		if (!(u->maps[i] = strmap_new()))
			goto fail;
	return u;
fail:
	uploader_free(u);
	errno = ENOMEM;
	return NULL;
}

static bool drop_cb(void *ctx, const char *key, void *value)
{
	struct uploader *u = ctx;
	struct item *it = value;

	(void)key;
	if (it->op)
		backend_cancel(u->e->be, it->op);
	item_close_files(it);
	free(it->rel);
	free(it);
	return true;
}

void uploader_cancel_all(struct uploader *u)
{
	while (u->batches) {
		struct delbatch *b = u->batches;
		u->batches = b->next;
		backend_cancel(u->e->be, b->op);
		batch_free(b);
	}
	for (size_t i = 0; u->maps && i < u->e->nroots; i++)
		if (u->maps[i])
			strmap_foreach(u->maps[i], drop_cb, u);
	u->heap_n = 0;
	u->ready_head = u->ready_tail = NULL;
	u->nitems = 0;
	u->nheld = 0;
	u->ndelete = 0;
	u->active = 0;
	if (u->timer)
		loop_timer_disarm(u->timer);
	if (u->del_timer)
		loop_timer_disarm(u->del_timer);
}

static bool free_value_cb(void *ctx, const char *key, void *value)
{
	(void)ctx;
	(void)key;
	free(value);
	return true;
}

void uploader_free(struct uploader *u)
{
	if (!u)
		return;
	uploader_cancel_all(u);
	for (size_t i = 0; u->maps && i < u->e->nroots; i++)
		strmap_free(u->maps[i]);
	for (size_t i = 0; u->refused && i < u->e->nroots; i++) {
		if (u->refused[i])
			strmap_foreach(u->refused[i], free_value_cb, NULL);
		strmap_free(u->refused[i]);
	}
	free(u->maps);
	free(u->held);
	free(u->refused);
	free(u->heap);
	loop_timer_free(u->timer);
	loop_timer_free(u->del_timer);
	free(u);
}

void uploader_hurry(struct uploader *u)
{
	uint64_t now = loop_now_ms();

	for (size_t i = 0; i < u->heap_n; i++)
		u->heap[i]->due_ms = now;
	loop_timer_arm(u->timer, 0);
	loop_timer_arm(u->del_timer, 0);
}

void uploader_kick(struct uploader *u)
{
	loop_timer_arm(u->timer, 0);
	if (u->ndelete)
		loop_timer_arm(u->del_timer, 0);
}

void uploader_flush(struct uploader *u)
{
	u->flushing = true;
	uploader_hurry(u);
}

bool uploader_is_idle(const struct uploader *u)
{
	return u->active == 0 && u->heap_n == 0 && !u->ready_head &&
	       u->nitems == u->nheld;
}

uint64_t uploader_depth(const struct uploader *u)
{
	return u->nitems;
}

struct oldest {
	uint64_t first;
};

static bool oldest_cb(void *ctx, const char *key, void *value)
{
	struct oldest *o = ctx;
	struct item *it = value;

	(void)key;
	if (!o->first || it->first_ms < o->first)
		o->first = it->first_ms;
	return false;
}

double uploader_lag(const struct uploader *u)
{
	struct oldest o = {0};

	for (size_t i = 0; i < u->e->nroots; i++)
		strmap_foreach(u->maps[i], oldest_cb, &o);
	return o.first ? (double)(loop_now_ms() - o.first) / 1000.0 : 0.0;
}
