/* SPDX-License-Identifier: MIT */
/* The idle detector's connection table: what counts as activity. */
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "supervisor/idle.h"
#include "supervisor/sockdiag.h"
#include "tests/tap.h"

static struct sockdiag_sock sock(uint64_t cookie, uint64_t rx, uint64_t tx)
{
	return (struct sockdiag_sock){.family = AF_INET,
				      .state = TCP_ESTABLISHED,
				      .local_port = 18789,
				      .remote_port = 40000,
				      .cookie = cookie,
				      .has_counters = true,
				      .bytes_received = rx,
				      .bytes_acked = tx};
}

/* One listing of n sockets; returns whether any showed activity. */
static bool listing(struct idle_table *t, const struct sockdiag_sock *s,
		    size_t n)
{
	bool act = false;

	idle_table_begin(t);
	for (size_t i = 0; i < n; i++)
		act |= idle_table_feed(t, &s[i]);
	act |= idle_table_end(t);
	return act;
}

int main(void)
{
	struct idle_table t = {0};
	struct sockdiag_sock s[3];

	s[0] = sock(1, 100, 50);
	ok(!listing(&t, s, 1), "the first listing only primes");
	is_int(t.n, 1, "one connection known");
	ok(!listing(&t, s, 1), "same counters: silent, not activity");
	s[0] = sock(1, 120, 50);
	ok(listing(&t, s, 1), "bytes received: activity");
	s[0] = sock(1, 120, 80);
	ok(listing(&t, s, 1), "bytes acknowledged: activity");
	ok(!listing(&t, s, 1), "then silent again");
	s[1] = sock(2, 0, 0);
	ok(listing(&t, s, 2), "a new connection: activity");
	is_int(t.n, 2, "two known");
	ok(listing(&t, s, 1),
	   "an open connection gone (the client closed it): activity");
	is_int(t.n, 1, "forgotten");
	ok(!listing(&t, s, 1), "then quiet");
	s[1] = sock(2, 0, 0);
	ok(listing(&t, s, 2), "its cookie again later is new again");
	s[1].state = TCP_CLOSE_WAIT;
	ok(listing(&t, s, 2), "the client's FIN (CLOSE_WAIT): activity");
	s[1].state = TCP_LAST_ACK;
	ok(!listing(&t, s, 2), "our side closing after it: not again");
	ok(!listing(&t, s, 1), "and its end: not again");
	s[1] = sock(4, 0, 0);
	ok(listing(&t, s, 2), "another connection: new");
	s[1].state = TCP_FIN_WAIT2;
	ok(!listing(&t, s, 2), "the gateway closing it (FIN_WAIT2): no");
	s[1].state = TCP_TIME_WAIT;
	s[1].has_counters = false;
	s[1].bytes_received = s[1].bytes_acked = 0;
	ok(!listing(&t, s, 2), "then TIME_WAIT: no");
	ok(!listing(&t, s, 1), "the TIME_WAIT running out: no");
	s[2] = sock(3, 0, 0);
	s[2].state = TCP_TIME_WAIT;
	s[2].has_counters = false;
	ok(listing(&t, s, 3), "an unseen TIME_WAIT (came and went): yes");
	idle_table_fini(&t);
	ok(t.conns == NULL && t.n == 0, "fini empties");
	return tap_done();
}
