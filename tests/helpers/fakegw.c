/* SPDX-License-Identifier: MIT */
/*
 * fakegw: a stand-in for the OpenClaw gateway in integration tests.
 *
 * Serves GET /healthz and /readyz with OpenClaw's shapes:
 *   /healthz  200 {"ok":true,"status":"live"}
 *   /readyz   503 {"ready":false,"failing":["startup-sidecars"],...}
 *             then 200 {"ready":true,"failing":[],...}
 * and misbehaves on request:
 *
 *   --port N            listen port (default $TENANT_GATEWAY_PORT or 18789)
 *   --listen-after MS   wait before listening (slow start)
 *   --ready-after MS    /readyz says ready MS after start (default 0)
 *   --exit-after MS     exit by itself after MS ...
 *   --exit-code N       ... with code N (default 1)
 *   --hang-after MS     stop answering (wedged event loop) after MS
 *   --ignore-term       ignore SIGTERM (exit 0 on SIGTERM otherwise)
 *   --orphans N         start N grandchildren that outlive their parent
 *                       and exit after 200 ms (zombies for PID 1 to reap)
 *   --count FILE        append "START_MONOTONIC_MS PID" per start
 *   --only-starts N     apply --exit-after/--hang-after only while the
 *                       count file holds at most N starts
 *   --no-endpoints      answer 404 to everything (serves neither)
 *   --tcp-only          not HTTP: write a banner and close each connection
 *
 * A test fixture, so it blocks and sleeps freely (libmicrohttpd runs in its
 * own thread here).
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	unsigned port;
	long listen_after, ready_after, exit_after, hang_after;
	int exit_code;
	bool ignore_term, no_endpoints, tcp_only;
	int orphans;
	const char *count_file;
	long only_starts;
} opt = {.port = 18789,
	 .ready_after = 0,
	 .exit_after = -1,
	 .hang_after = -1,
	 .exit_code = 1,
	 .only_starts = -1};

static uint64_t t0;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long elapsed(void)
{
	return (long)(now_ms() - t0);
}

/* Record this start; returns how many starts the file now holds. */
static long count_start(void)
{
	FILE *f;
	long n = 0;
	int c;

	if (!opt.count_file)
		return 1;
	f = fopen(opt.count_file, "ae");
	if (!f) {
		perror(opt.count_file);
		exit(2);
	}
	fprintf(f, "%llu %d\n", (unsigned long long)t0, (int)getpid());
	fclose(f);
	f = fopen(opt.count_file, "re");
	if (!f)
		return 1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	char body[160];

	(void)cls;
	(void)method;
	(void)version;
	(void)data;
	/* Answer once the request is complete: keeps keep-alive working. */
	if (!*con_cls) {
		*con_cls = &opt;
		return MHD_YES;
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	if (opt.hang_after >= 0 && elapsed() >= opt.hang_after)
		for (;;)
			pause(); /* wedged: the one server thread never returns
				  */
	if (opt.no_endpoints)
		return reply(c, 404, "{\"error\":\"not found\"}");
	if (strcmp(url, "/healthz") == 0)
		return reply(c, 200, "{\"ok\":true,\"status\":\"live\"}");
	if (strcmp(url, "/readyz") == 0) {
		bool ready = elapsed() >= opt.ready_after;
		snprintf(body, sizeof(body),
			 "{\"ready\":%s,\"failing\":[%s],\"uptimeMs\":%ld}",
			 ready ? "true" : "false",
			 ready ? "" : "\"startup-sidecars\"", elapsed());
		return reply(c, ready ? 200 : 503, body);
	}
	return reply(c, 404, "{\"error\":\"not found\"}");
}

static int listen_tcp(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)opt.port),
				.sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64)) {
		perror("fakegw: listen");
		exit(2);
	}
	return fd;
}

static void spawn_orphans(int n)
{
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return;
		}
		if (pid == 0) {
			/* The middle child exits at once: its child is an
			 * orphan, reparented to PID 1 / the subreaper. */
			if (fork() == 0) {
				sleep_ms(200);
				_exit(0);
			}
			_exit(0);
		}
		(void)waitpid(pid, NULL, 0);
	}
}

static void parse(int argc, char **argv)
{
	const char *env = getenv("TENANT_GATEWAY_PORT");

	if (env && *env)
		opt.port = (unsigned)atoi(env);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NUM(name, field)                                                       \
	if (strcmp(a, name) == 0 && v) {                                       \
		opt.field = atol(v);                                           \
		i++;                                                           \
		continue;                                                      \
	}
		NUM("--port", port);
		NUM("--listen-after", listen_after);
		NUM("--ready-after", ready_after);
		NUM("--exit-after", exit_after);
		NUM("--exit-code", exit_code);
		NUM("--hang-after", hang_after);
		NUM("--orphans", orphans);
		NUM("--only-starts", only_starts);
#undef NUM
		if (strcmp(a, "--count") == 0 && v) {
			opt.count_file = v;
			i++;
		} else if (strcmp(a, "--ignore-term") == 0) {
			opt.ignore_term = true;
		} else if (strcmp(a, "--no-endpoints") == 0) {
			opt.no_endpoints = true;
		} else if (strcmp(a, "--tcp-only") == 0) {
			opt.tcp_only = true;
		} else {
			fprintf(stderr, "fakegw: unknown argument %s\n", a);
			exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d = NULL;
	sigset_t set;
	long starts;
	int lfd;

	t0 = now_ms();
	parse(argc, argv);
	starts = count_start();
	if (opt.only_starts >= 0 && starts > opt.only_starts) {
		opt.exit_after = -1;
		opt.hang_after = -1;
	}
	fprintf(stderr, "fakegw: start %ld, pid %d, port %u\n", starts,
		(int)getpid(), opt.port);
	/* SIGTERM is taken synchronously below (all threads block it). */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	/* A blocked signal is queued even when ignored: leave it unblocked. */
	if (opt.ignore_term)
		signal(SIGTERM, SIG_IGN);
	else
		sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (opt.orphans)
		spawn_orphans(opt.orphans);
	if (opt.listen_after > 0)
		sleep_ms(opt.listen_after);
	lfd = listen_tcp();
	if (opt.tcp_only) {
		/* Accepted from the main loop below, a banner and a close. */
		fcntl(lfd, F_SETFL, O_NONBLOCK);
	} else {
		d = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
		    NULL, NULL, handler, NULL, MHD_OPTION_LISTEN_SOCKET, lfd,
		    MHD_OPTION_END);
		if (!d) {
			fprintf(stderr, "fakegw: unable to start MHD\n");
			return 2;
		}
	}
	for (;;) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 50000000};
		int sig = sigtimedwait(&set, NULL, &ts);
		int c;

		while (opt.tcp_only &&
		       (c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			(void)!write(c, "HELLO fakegw\r\n", 14);
			close(c);
		}
		if (sig == SIGTERM || sig == SIGINT) {
			fprintf(stderr, "fakegw: %s, exiting\n",
				sig == SIGTERM ? "SIGTERM" : "SIGINT");
			_exit(0);
		}
		if (opt.exit_after >= 0 && elapsed() >= opt.exit_after) {
			fprintf(stderr, "fakegw: exiting with %d\n",
				opt.exit_code);
			_exit(opt.exit_code);
		}
	}
}
