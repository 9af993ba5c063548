/* SPDX-License-Identifier: MIT */
/*
 * sock_diag against real loopback sockets: the listing finds the server
 * side of a connection by local port, and its byte counters move by exactly
 * what was sent and received.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init/loop.h"
#include "supervisor/sockdiag.h"
#include "tests/tap.h"

struct found {
	uint16_t want_remote;
	int n;
	struct sockdiag_sock s;
	int others;
};

static void collect(void *ctx, const struct sockdiag_sock *s)
{
	struct found *f = ctx;

	if (s->remote_port == f->want_remote) {
		f->n++;
		f->s = *s;
	} else if (s->state != TCP_TIME_WAIT) {
		/* A stray TIME_WAIT of an older socket may share the port. */
		f->others++;
	}
}

static uint16_t port_of(int fd, bool local)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if ((local ? getsockname(fd, (struct sockaddr *)&a, &len)
		   : getpeername(fd, (struct sockaddr *)&a, &len)) < 0)
		return 0;
	return ntohs(a.sin_port);
}

static struct found query(struct sockdiag *sd, uint16_t port, uint16_t remote)
{
	struct found f = {.want_remote = remote};
	int r = sockdiag_query_port(sd, port,
				    SOCKDIAG_STATE(TCP_ESTABLISHED) |
					SOCKDIAG_STATE(TCP_TIME_WAIT),
				    collect, &f);
	if (r < 0)
		f.n = r;
	return f;
}

static void drain(int fd, size_t want)
{
	char buf[4096];
	size_t got = 0;

	while (got < want) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
}

/* An IPv6 connection is listed once, as AF_INET6. */
static void check_ipv6(struct sockdiag *sd)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sfd;
	struct found f;
	struct sockaddr_in6 c;
	socklen_t clen = sizeof(c);

	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&a, len) < 0 ||
	    listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0 ||
	    connect(cfd, (struct sockaddr *)&a, len) < 0) {
		skip(3, "no IPv6 loopback");
		goto out;
	}
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	(void)getsockname(cfd, (struct sockaddr *)&c, &clen);
	f = query(sd, ntohs(a.sin6_port), ntohs(c.sin6_port));
	is_int(f.n, 1, "an IPv6 connection is listed once");
	is_int(f.s.family, AF_INET6, "as AF_INET6");
	ok(sockdiag_addr_is_loopback(f.s.family, f.s.remote_addr),
	   "::1 is loopback");
	if (sfd >= 0)
		close(sfd);
out:
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
}

int main(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int lfd, cfd, sfd;
	uint16_t port, cport;
	struct sockdiag *sd;
	struct found f;
	char data[1000];
	uint64_t deadline, cookie;
	uint8_t addr[16] = {127, 0, 0, 1};
	uint8_t mapped[16] = {0, 0, 0,	  0,	0,   0, 0, 0,
			      0, 0, 0xff, 0xff, 127, 0, 0, 1};
	uint8_t other[16] = {10, 0, 0, 1};

	ok(sockdiag_addr_is_loopback(AF_INET, addr), "127.0.0.1 is loopback");
	ok(sockdiag_addr_is_loopback(AF_INET6, mapped),
	   "::ffff:127.0.0.1 is loopback");
	ok(!sockdiag_addr_is_loopback(AF_INET, other),
	   "10.0.0.1 is not loopback");

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
		ok(0, "set up a listener: %s", strerror(errno));
		return tap_done();
	}
	port = ntohs(a.sin_port);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(cfd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ok(0, "connect: %s", strerror(errno));
		return tap_done();
	}
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cport = port_of(cfd, true);
	ok(sfd >= 0 && cport == port_of(sfd, false), "accepted");

	sd = sockdiag_new();
	ok(sd != NULL, "sockdiag_new");
	if (!sd)
		return tap_done();

	f = query(sd, port, cport);
	is_int(f.n, 1, "the server side of the connection is listed once");
	is_int(f.others, 0, "nothing else on that port (LISTEN not asked)");
	is_int(f.s.state, TCP_ESTABLISHED, "established");
	is_int(f.s.local_port, port, "local port");
	ok(f.s.has_counters, "tcp_info present");
	is_int(f.s.bytes_received, 0, "nothing received yet");
	ok(f.s.cookie != 0, "a cookie");
	ok(sockdiag_addr_is_loopback(f.s.family, f.s.remote_addr),
	   "peer is loopback");

	memset(data, 'x', sizeof(data));
	ok(write(cfd, data, sizeof(data)) == (ssize_t)sizeof(data),
	   "client sends 1000 bytes");
	drain(sfd, sizeof(data));
	f = query(sd, port, cport);
	is_int(f.s.bytes_received, 1000, "bytes_received counts them");

	ok(write(sfd, data, 500) == 500, "server sends 500 bytes");
	drain(cfd, 500);
	/* The ACK is on loopback but still asynchronous: wait for it. */
	deadline = loop_now_ms() + 2000;
	do {
		f = query(sd, port, cport);
	} while (f.s.bytes_acked != 500 && loop_now_ms() < deadline &&
		 poll(NULL, 0, 10) == 0);
	is_int(f.s.bytes_acked, 500, "bytes_acked counts what was sent");
	cookie = f.s.cookie;

	f = query(sd, (uint16_t)(port == 65535 ? 1 : port + 1), cport);
	is_int(f.n, 0, "another port lists nothing of ours");

	/* The server closes first: its side lingers in TIME_WAIT. */
	close(sfd);
	drain(cfd, 1);
	close(cfd);
	deadline = loop_now_ms() + 2000;
	do {
		f = query(sd, port, cport);
	} while (f.s.state != TCP_TIME_WAIT && loop_now_ms() < deadline &&
		 poll(NULL, 0, 10) == 0);
	is_int(f.s.state, TCP_TIME_WAIT,
	       "a closed connection shows in "
	       "TIME_WAIT");
	ok(!f.s.has_counters, "TIME_WAIT carries no counters");
	ok(f.s.cookie == cookie, "TIME_WAIT keeps the connection's cookie");

	check_ipv6(sd);
	sockdiag_free(sd);
	close(lfd);
	return tap_done();
}
