/* SPDX-License-Identifier: MIT */
/*
 * The sync engine in-process, on its event loop, against the file://
 * backend: restore (files and created directories given to the gateway's
 * uid/gid, the state directory kept private), then watch + upload, then
 * the final flush, with the counters pushed as they change.
 */
#include "sync/engine.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init/log.h"
#include "init/loop.h"
#include "tests/tap.h"

/* Files of the mass deletion: above the guard's minimum of 100. */
#define MASS 150

struct t {
	struct loop *loop;
	bool restored, restore_ok, flushed, flush_ok;
	int nstats;
	bool stats_seen;
	struct sync_stats last;
};

static void on_restore(void *ctx, bool ok, double s)
{
	struct t *t = ctx;

	(void)s;
	t->restored = true;
	t->restore_ok = ok;
}

static void on_flush(void *ctx, bool ok)
{
	struct t *t = ctx;

	t->flushed = true;
	t->flush_ok = ok;
}

static void on_stats(void *ctx, const struct sync_stats *s, double r)
{
	struct t *t = ctx;

	(void)r;
	t->nstats++;
	t->stats_seen = true;
	t->last = *s;
}

/* Run the loop until *flag or a file exists, or 10 s pass. */
static bool run_until(struct t *t, const bool *flag, const char *path)
{
	uint64_t end = loop_now_ms() + 10000;
	struct stat st;

	while (loop_now_ms() < end) {
		if ((flag && *flag) || (path && stat(path, &st) == 0))
			return true;
		if (loop_run_once(t->loop, 50) < 0)
			return false;
	}
	return false;
}

/* Turn the loop for ms (events and timers only; no condition). */
static void run_for(struct t *t, uint64_t ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		if (loop_run_once(t->loop, 10) < 0)
			return;
}

/* How many of backup/openclaw/m/f0..fN-1 exist. */
static int count_backup(const char *backup, int n)
{
	char p[PATH_MAX];
	struct stat st;
	int c = 0;

	for (int i = 0; i < n; i++) {
		(void)snprintf(p, sizeof(p), "%s/openclaw/m/f%d", backup, i);
		c += stat(p, &st) == 0;
	}
	return c;
}

static void put(const char *dir, const char *rel, const char *content)
{
	char p[PATH_MAX];
	FILE *f;

	(void)snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "we");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

int main(void)
{
	static const struct engine_cbs cbs = {.restore_done = on_restore,
					      .flush_done = on_flush,
					      .stats = on_stats};
	char tmpl[] = "/tmp/ti-engine.XXXXXX";
	char *top = mkdtemp(tmpl);
	char backup[256], data[256], data2[256], p[PATH_MAX], err[256] = "";
	char *excludes[] = {"*.log", NULL};
	struct sync_path paths[2];
	struct sync_config sc;
	struct t t = {0};
	struct engine *e;
	struct stat st;

	if (!top || geteuid() != 0) {
		skip(1, "needs root (chown) and a temporary directory");
		return tap_done();
	}
	log_set_level(LOG_LEVEL_WARN);
	(void)snprintf(backup, sizeof(backup), "%s/backup", top);
	(void)snprintf(data, sizeof(data), "%s/data", top);
	(void)snprintf(p, sizeof(p), "%s/openclaw/d", backup);
	(void)mkdir(backup, 0700);
	(void)snprintf(p, sizeof(p), "%s/openclaw", backup);
	(void)mkdir(p, 0700);
	(void)snprintf(p, sizeof(p), "%s/openclaw/d", backup);
	(void)mkdir(p, 0700);
	put(backup, "openclaw/a.txt", "alpha");
	put(backup, "openclaw/d/b.txt", "beta");

	(void)snprintf(data2, sizeof(data2), "%s/home", top);
	paths[0].local = data;
	paths[0].remote = "openclaw/";
	paths[1].local = data2;
	paths[1].remote = "home/";
	memset(&sc, 0, sizeof(sc));
	sc.kind = SYNC_FILE;
	sc.file_root = backup;
	sc.paths = paths;
	sc.npaths = 2;
	sc.excludes = excludes;
	sc.debounce_ms = 50;
	sc.concurrency = 4;

	t.loop = loop_new();
	e = engine_new(t.loop, &sc, 4321, 8765, &cbs, &t, err, sizeof(err));
	ok(e != NULL, "engine created (%s)", err);
	if (!e)
		return tap_done();
	is_int(engine_restore(e), 0, "restore started");
	ok(run_until(&t, &t.restored, NULL) && t.restore_ok, "restore done");
	(void)snprintf(p, sizeof(p), "%s/a.txt", data);
	ok(stat(p, &st) == 0 && st.st_uid == 4321 && st.st_gid == 8765,
	   "a restored file belongs to the gateway's uid:gid");
	(void)snprintf(p, sizeof(p), "%s/d", data);
	ok(stat(p, &st) == 0 && st.st_uid == 4321 && st.st_gid == 8765,
	   "so does a directory the restore created");
	(void)snprintf(p, sizeof(p), "%s/d/b.txt", data);
	ok(stat(p, &st) == 0 && st.st_uid == 4321 && st.st_size == 4,
	   "nested file restored");
	(void)snprintf(p, sizeof(p), "%s/.tenant-init", data);
	ok(stat(p, &st) == 0 && st.st_uid == geteuid() &&
	       (st.st_mode & 0777) == 0700,
	   "the sync state stays private to the agent");
	ok(run_until(&t, &t.stats_seen, NULL), "counters pushed to PID 1");
	is_int(t.last.downloaded_objects_total, 2, "2 downloads counted");

	is_int(engine_sync_start(e, true), 0, "sync started");
	put(data, "new.txt", "fresh");
	put(data, "skip.log", "excluded");
	(void)snprintf(p, sizeof(p), "%s/openclaw/new.txt", backup);
	ok(run_until(&t, NULL, p), "a new file reaches the backup");
	put(data2, "other root.txt", "second");
	(void)snprintf(p, sizeof(p), "%s/home/other root.txt", backup);
	ok(run_until(&t, NULL, p),
	   "a second TENANT_SYNC_PATHS root syncs to its own prefix");

	/*
	 * A mass deletion that inotify delivers in slices (three unlink
	 * bursts 20 ms apart, each shorter than the 50 ms debounce): the
	 * slices are gathered and judged as one, so the guard holds all of
	 * them rather than letting the first slices through as small
	 * batches.
	 */
	(void)snprintf(p, sizeof(p), "%s/m", data);
	(void)mkdir(p, 0755);
	for (int i = 0; i < MASS; i++) {
		char rel[32];
		(void)snprintf(rel, sizeof(rel), "m/f%d", i);
		put(data, rel, "mass");
	}
	(void)snprintf(p, sizeof(p), "%s/openclaw/m/f%d", backup, MASS - 1);
	ok(run_until(&t, NULL, p), "%d more files reach the backup", MASS);
	run_for(&t, 1000); /* settled: nothing of theirs left queued */
	is_int(count_backup(backup, MASS), MASS, "... all of them");
	for (int s0 = 0; s0 < MASS; s0 += MASS / 3) {
		for (int i = s0; i < s0 + MASS / 3 && i < MASS; i++) {
			(void)snprintf(p, sizeof(p), "%s/m/f%d", data, i);
			(void)unlink(p);
		}
		run_for(&t, 20);
	}
	run_for(&t, 1000);
	is_int(count_backup(backup, MASS), MASS,
	       "deleting them in slices deletes none from the backup");
	ok(t.last.deletes_held, "the deletions are reported held");
	for (int i = 0; i < MASS; i++) {
		char rel[32];
		(void)snprintf(rel, sizeof(rel), "m/f%d", i);
		put(data, rel, "mass");
	}
	for (int i = 0; i < 50 && t.last.deletes_held; i++)
		run_for(&t, 100);
	ok(!t.last.deletes_held,
	   "all files back: no longer reported held (nothing left pending)");
	is_int(count_backup(backup, MASS), MASS, "and the backup has them all");

	t.stats_seen = false;
	engine_flush(e, 5000);
	ok(run_until(&t, &t.flushed, NULL) && t.flush_ok, "flush done, ok");
	(void)snprintf(p, sizeof(p), "%s/openclaw/skip.log", backup);
	ok(stat(p, &st) < 0, "the excluded file stayed local");
	/* Everything was uploaded before the flush: no new counters. */
	run_for(&t, 300);
	ok(t.last.uploaded_objects_total == 2 + 2 * MASS &&
	       t.last.queue_depth == 0,
	   "counters: 2 + 2x%d uploads, nothing queued (%llu, %llu)", MASS,
	   (unsigned long long)t.last.uploaded_objects_total,
	   (unsigned long long)t.last.queue_depth);
	engine_free(e);
	loop_free(t.loop);
	{
		char cmd[PATH_MAX + 16];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	log_reset();
	return tap_done();
}
