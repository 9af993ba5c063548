/* SPDX-License-Identifier: MIT */
/*
 * The lease (sync/lease.c) between instances sharing a file:// backend on
 * one loop: first come holds it; a second waits and asks; the holder is
 * told, releases, and the second holds it; a holder that stops renewing
 * is taken over once its lease expired; a waiter that gives up takes its
 * request back; a document that is not a lease is never touched.
 */
#include "sync/lease.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init/log.h"
#include "init/loop.h"
#include "sync/backend.h"
#include "sync/fsbackend.h"
#include "tests/tap.h"

#define TTL 600

struct inst {
	const char *name;
	struct lease *l;
	enum lease_state seen;
	int handovers;
	bool release_now; /* release at once when asked */
	int released;
};

static void changed_cb(void *ctx, enum lease_state st)
{
	((struct inst *)ctx)->seen = st;
}

static void released_cb(void *ctx)
{
	((struct inst *)ctx)->released++;
}

static void handover_cb(void *ctx, const char *requester)
{
	struct inst *in = ctx;

	(void)requester;
	in->handovers++;
	if (in->release_now)
		lease_release(in->l, released_cb, in);
}

static const struct lease_cbs cbs = {
    .changed = changed_cb,
    .handover = handover_cb,
};

/* Run the loop until *st is want, at most ms. */
static bool run_until(struct loop *loop, const enum lease_state *st,
		      enum lease_state want, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (*st != want && loop_now_ms() < end)
		if (loop_run_once(loop, 20) < 0)
			return false;
	return *st == want;
}

static void run_for(struct loop *loop, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end)
		(void)loop_run_once(loop, 20);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

int main(void)
{
	char tmpl[] = "/tmp/ti-lease.XXXXXX";
	char *dir = mkdtemp(tmpl);
	char err[256] = "", doc[PATH_MAX];
	struct loop *loop = loop_new();
	struct backend *be = NULL;
	struct inst a = {.name = "a", .release_now = true};
	struct inst b = {.name = "b"}, c = {.name = "c"};

	if (!dir || !loop) {
		skip(1, "no temporary directory");
		return tap_done();
	}
	log_set_level(LOG_LEVEL_ERROR);
	be = fs_backend_new(loop, dir, err, sizeof(err));
	ok(be != NULL, "file backend (%s)", err);
	(void)snprintf(doc, sizeof(doc), "%s/t/.tenant-init/lease.json", dir);

	a.l = lease_new(loop, be, "t/.tenant-init/lease.json", TTL, "inst-a",
			&cbs, &a);
	b.l = lease_new(loop, be, "t/.tenant-init/lease.json", TTL, "inst-b",
			&cbs, &b);
	lease_acquire(a.l);
	ok(run_until(loop, &a.seen, LEASE_HELD, 2000) && lease_may_write(a.l),
	   "the first instance holds it and may write");
	ok(strstr(slurp(doc), "\"holder\":\"inst-a\"") != NULL,
	   "the document names it");

	lease_acquire(b.l);
	ok(run_until(loop, &b.seen, LEASE_WAITING, 2000) &&
	       !lease_may_write(b.l),
	   "the second waits and may not write");
	ok(run_until(loop, &b.seen, LEASE_HELD, 3000),
	   "the holder was asked, released, and the second holds it");
	is_int(a.handovers, 1, "the holder was told once");
	is_int(a.released, 1, "its release finished");
	ok(a.seen == LEASE_RELEASED && !lease_may_write(a.l),
	   "the first no longer writes");
	run_for(loop, TTL);
	ok(lease_may_write(b.l), "renewals keep it writable past the TTL");

	/* The holder stops renewing (killed): taken over after it expired. */
	lease_free(b.l);
	b.l = NULL;
	c.l = lease_new(loop, be, "t/.tenant-init/lease.json", TTL, "inst-c",
			&cbs, &c);
	{
		uint64_t t0 = loop_now_ms();
		lease_acquire(c.l);
		ok(run_until(loop, &c.seen, LEASE_WAITING, 2000),
		   "a third waits for the silent holder");
		ok(run_until(loop, &c.seen, LEASE_HELD,
			     TTL + LEASE_GRACE_MS + 3000),
		   "and takes it over once it expired");
		ok(loop_now_ms() - t0 >= TTL / 2, "not before (%llu ms)",
		   (unsigned long long)(loop_now_ms() - t0));
	}

	/* A waiter that gives up takes its request back. */
	b.l = lease_new(loop, be, "t/.tenant-init/lease.json", TTL, "inst-b2",
			&cbs, &b);
	b.seen = LEASE_IDLE;
	lease_acquire(b.l);
	ok(run_until(loop, &b.seen, LEASE_WAITING, 2000), "a fourth waits");
	run_for(loop, 100);
	lease_release(b.l, released_cb, &b);
	run_for(loop, 200);
	is_int(b.released, 1, "... gives up");
	ok(strstr(slurp(doc), "\"want\":\"\"") != NULL,
	   "... and its request is taken back");
	ok(c.handovers == 0 && lease_may_write(c.l),
	   "the holder was not made to hand over");

	/* Clean stop. */
	lease_release(c.l, released_cb, &c);
	ok(run_until(loop, &c.seen, LEASE_RELEASED, 2000) && c.released == 1,
	   "a clean stop releases it");
	ok(strstr(slurp(doc), "\"state\":\"released\"") != NULL,
	   "the document says released");

	/* Not a lease document: never touched, never taken. */
	{
		FILE *f = fopen(doc, "we");
		struct inst d = {.name = "d"};
		if (f) {
			fputs("not json", f);
			fclose(f);
		}
		d.l = lease_new(loop, be, "t/.tenant-init/lease.json", TTL,
				"inst-d", &cbs, &d);
		lease_acquire(d.l);
		run_for(loop, 1500);
		ok(d.seen == LEASE_IDLE && !lease_may_write(d.l),
		   "garbage in its place: not taken");
		is_str(slurp(doc), "not json", "and left as it is");
		lease_free(d.l);
	}
	lease_free(a.l);
	lease_free(b.l);
	lease_free(c.l);
	backend_free(be);
	loop_free(loop);
	{
		char cmd[PATH_MAX + 16];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("cleanup failed");
	}
	log_reset();
	return tap_done();
}
