/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the health server (supervisor/health.c) as a client sees
 * it, libmicrohttpd's request parser and our handler together.
 *
 * One server is made at start-up exactly as PID 1 makes it (health_new on
 * a struct loop, MHD in external-epoll mode, the production limits), on
 * 127.0.0.1 inside a network namespace of its own when the process may
 * make one (root), so that thousands of connections a second neither use
 * up nor take the machine's loopback ports; otherwise on the shared
 * loopback, on a port the kernel picked. Each input is one TCP connection:
 * the bytes are sent as they are (HTTP or not, pipelined requests
 * included) while the one loop drives both the client socket and MHD, as
 * PID 1's loop drives MHD; once nothing more happens, the client shuts
 * down its sending side and reads until the server closes. (Half-closing
 * at once would be slower: MHD 0.9.75 keeps a connection whose FIN came
 * with the request open until its 5 s timeout, though it answers at
 * once.) The tenant status the bodies are rendered from is made from the
 * input's bytes, so every body shape is reachable.
 *
 * libmicrohttpd is Debian's build, not instrumented: coverage guides the
 * fuzzer through our handler and the bodies, not through MHD's parser,
 * and ASan sees MHD's heap only through malloc and free. Bytes still reach
 * MHD's parser unchanged, and any crash there is caught.
 *
 * Invariants checked: whatever the server sends is an HTTP/1.x response;
 * the server closes a half-closed connection within MHD's 5 s inactivity
 * timeout (plus slack): a connection it never closes is reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "init/config.h"
#include "init/loop.h"
#include "policy/policy.h"
#include "supervisor/health.h"
#include "supervisor/status.h"
#include "tests/fuzz/fuzz.h"

#define CLOSE_DEADLINE_MS ((HEALTH_CONN_TIMEOUT_S + 3) * 1000)

static struct loop *loop;
static struct health *server;
static struct sockaddr_in addr;
static struct tenant_status status;
static uint32_t input_hash;

/* The client side of one run. */
static struct client {
	int fd;
	const uint8_t *data;
	size_t size, sent;
	bool writing, closed;
	char head[16]; /* the first bytes received */
	size_t got;
} cl;

/* Called by the handler before a body is rendered. */
static void refresh_cb(void *ctx)
{
	uint32_t h = input_hash;

	(void)ctx;
	status.restoring = h & 1;
	status.config_invalid = h & 2;
	status.shutting_down = h & 4;
	status.gateway_up = h & 8;
	status.gateway_ready = h & 16;
	status.gateway_unresponsive = h & 32;
	status.gateway_crashloop = h & 64;
	status.gateway_live = h & 128;
	status.sync.degraded = h & 256;
	status.sync.deletes_held = h & 512;
	status.gateway_restarts_total = h >> 10;
	status.idle_seconds = (double)(h % 7919) / 7.0;
	status.sleep_in_seconds = (h & 1024) ? -1.0 : 3600.0;
}

static void client_cb(void *ctx, int fd, uint32_t events)
{
	struct client *c = ctx;
	char buf[4096];
	ssize_t n;

	if ((events & EPOLLOUT) && c->writing) {
		n = c->sent < c->size
			? send(fd, c->data + c->sent, c->size - c->sent,
			       MSG_NOSIGNAL | MSG_DONTWAIT)
			: 0;
		if (n > 0)
			c->sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			c->sent = c->size; /* the server is gone: stop */
		if (c->sent == c->size) {
			/* Writable forever now: stop asking, or it spins. */
			c->writing = false;
			(void)loop_fd_mod(loop, fd, EPOLLIN);
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			if (c->got < sizeof(c->head)) {
				size_t k = sizeof(c->head) - c->got;
				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(c->head + c->got, buf, k);
			}
			c->got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->closed = true;
		return;
	}
}

/* Run the loop until deadline or until done() holds; false at deadline. */
static bool run_until(bool (*done)(void), uint64_t deadline)
{
	while (!done()) {
		if (loop_now_ms() >= deadline)
			return false;
		FUZZ_ASSERT(loop_run_once(loop, 100) >= 0);
	}
	return true;
}

static bool all_sent(void)
{
	return cl.closed || !cl.writing;
}

static bool closed(void)
{
	return cl.closed;
}

/*
 * Nothing more will happen without the client: no fd ready, no timer due
 * within a millisecond (loopback delivers inside send(), and MHD asks for
 * a zero timeout while it has work queued).
 */
static bool idle(void)
{
	int r = loop_run_once(loop, 1);

	FUZZ_ASSERT(r >= 0);
	return r == 0 || cl.closed;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct health_params prm = {0};
	char err[256];
	socklen_t len = sizeof(addr);
	int fd;

	(void)argc;
	(void)argv;
	fuzz_begin();
	/* A private port space and TIME_WAIT table when allowed. */
	if (unshare(CLONE_NEWNET) == 0)
		FUZZ_ASSERT(policy_loopback_up() >= 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	FUZZ_ASSERT(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
	(void)close(fd);

	loop = loop_new();
	FUZZ_ASSERT(loop);
	prm.addr = (struct sockaddr *)&addr;
	prm.addrlen = sizeof(addr);
	prm.listen_name = "127.0.0.1 (fuzz)";
	prm.st = &status;
	prm.refresh = refresh_cb;
	server = health_new(loop, &prm, err, sizeof(err));
	if (!server)
		fprintf(stderr, "health_new: %s\n", err);
	FUZZ_ASSERT(server);
	fuzz_end();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t deadline;
	int r;

	fuzz_begin();
	input_hash = 2166136261u;
	for (size_t i = 0; i < size; i++)
		input_hash = (input_hash ^ data[i]) * 16777619u;
	memset(&cl, 0, sizeof(cl));
	cl.data = data;
	cl.size = size;
	cl.writing = true;
	cl.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_ASSERT(cl.fd >= 0);
	r = connect(cl.fd, (struct sockaddr *)&addr, sizeof(addr));
	FUZZ_ASSERT(r == 0 || errno == EINPROGRESS);
	FUZZ_ASSERT(
	    loop_fd_add(loop, cl.fd, EPOLLIN | EPOLLOUT, client_cb, &cl) == 0);

	/*
	 * Send everything, let the server do all it will with it, then
	 * half-close: a keep-alive connection ends at once, and a request
	 * the bytes left incomplete meets the end of its input.
	 */
	deadline = loop_now_ms() + CLOSE_DEADLINE_MS;
	FUZZ_ASSERT(run_until(all_sent, deadline));
	while (!idle())
		FUZZ_ASSERT(loop_now_ms() < deadline);
	(void)shutdown(cl.fd, SHUT_WR);
	FUZZ_ASSERT(run_until(closed, deadline));
	FUZZ_ASSERT(loop_fd_del(loop, cl.fd) == 0);
	(void)close(cl.fd);
	/* Let MHD finish with its side before the next input. */
	while (loop_run_once(loop, 0) > 0)
		;

	if (cl.got)
		FUZZ_ASSERT(cl.got >= 9 && memcmp(cl.head, "HTTP/1.", 7) == 0);
	fuzz_end();
	return 0;
}
