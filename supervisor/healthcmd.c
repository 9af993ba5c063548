/* SPDX-License-Identifier: MIT */
/*
 * tenant-init health [--live] [--url URL]: a Docker HEALTHCHECK for a
 * running instance. A short-lived process of its own, so blocking I/O is
 * fine here; it never runs inside PID 1.
 */
#include "supervisor/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init/config.h"
#include "init/log.h"
#include "supervisor/probe.h"

#define HEALTH_CMD_TIMEOUT_MS 5000
#define HEALTH_URL_MAX	      512

static const char usage[] = "usage: tenant-init health [--live] [--url URL]";

/*
 * The base URL for TENANT_HEALTH_LISTEN: a wildcard address is where the
 * server listens, not where to reach it, so it becomes loopback.
 */
static int default_url(char *url, size_t cap)
{
	const char *listen = getenv("TENANT_HEALTH_LISTEN");
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why = NULL;
	char host[INET6_ADDRSTRLEN];

	if (!listen || !*listen)
		listen = CONFIG_DEFAULT_HEALTH_LISTEN;
	if (config_listen_parse(listen, &ss, &len, &why) < 0) {
		printf("TENANT_HEALTH_LISTEN: '%s': %s\n", listen, why);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr))
			a6->sin6_addr = in6addr_loopback;
		(void)inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		(void)snprintf(url, cap, "http://[%s]:%u", host,
			       ntohs(a6->sin6_port));
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
			a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		(void)inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		(void)snprintf(url, cap, "http://%s:%u", host,
			       ntohs(a4->sin_port));
	}
	return 0;
}

/* "restoring, gateway-starting" from a /readyz body, or "" if none. */
static void reasons_of(const char *body, char *out, size_t cap)
{
	json_t *root = json_loads(body, 0, NULL);
	json_t *arr = root ? json_object_get(root, "reasons") : NULL;
	size_t i, used = 0;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		int n;
		if (!json_is_string(v))
			continue;
		n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "",
			     json_string_value(v));
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	json_decref(root);
}

int health_cmd(int argc, char **argv)
{
	char base[HEALTH_URL_MAX] = "";
	char url[HEALTH_URL_MAX + 16];
	char body[4096];
	char err[256] = "";
	char reasons[512];
	bool live = false;
	long status = 0;
	size_t n;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--live") == 0) {
			live = true;
		} else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
			(void)snprintf(base, sizeof(base), "%s", argv[++i]);
		} else if (strncmp(argv[i], "--url=", 6) == 0) {
			(void)snprintf(base, sizeof(base), "%s", argv[i] + 6);
		} else {
			printf("%s\n", usage);
			return EXIT_CONFIG;
		}
	}
	if (!*base && default_url(base, sizeof(base)) < 0)
		return EXIT_CONFIG;
	n = strlen(base);
	while (n && base[n - 1] == '/')
		base[--n] = '\0';
	(void)snprintf(url, sizeof(url), "%s%s", base,
		       live ? "/healthz" : "/readyz");
	r = probe_fetch(url, HEALTH_CMD_TIMEOUT_MS, &status, body, sizeof(body),
			err, sizeof(err));
	if (r < 0) {
		printf("unreachable: %s: %s\n", url, err);
		return 1;
	}
	if (status == 200) {
		puts(live ? "live" : "ready");
		return 0;
	}
	reasons_of(body, reasons, sizeof(reasons));
	if (*reasons)
		printf("not %s: %s\n", live ? "live" : "ready", reasons);
	else
		printf("not %s: HTTP %ld from %s\n", live ? "live" : "ready",
		       status, url);
	return 1;
}
