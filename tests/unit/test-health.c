/* SPDX-License-Identifier: MIT */
/* The health server's bodies, rendered from struct tenant_status. */
#include <stdlib.h>
#include <string.h>

#include "supervisor/health.h"
#include "supervisor/status.h"
#include "tests/tap.h"

static void readyz(const struct tenant_status *st, const char *want,
		   bool want_ready, const char *what)
{
	bool ready = !want_ready;
	char *body = health_readyz_render(st, &ready);

	is_str(body, want, "%s", what);
	ok(ready == want_ready, "%s: %s", what, want_ready ? "200" : "503");
	free(body);
}

static const char *const metric_names[] = {
    "tenant_gateway_up",
    "tenant_gateway_restarts_total",
    "tenant_zombies_reaped_total",
    "tenant_idle_seconds",
    "tenant_sleep_in_seconds",
    "tenant_restore_duration_seconds",
    "tenant_sync_queue_depth",
    "tenant_sync_lag_seconds",
    "tenant_sync_uploaded_objects_total",
    "tenant_sync_uploaded_bytes_total",
    "tenant_sync_downloaded_objects_total",
    "tenant_sync_deleted_objects_total",
    "tenant_sync_errors_total",
    "tenant_sync_last_success_timestamp_seconds",
};

static bool has_sample(const char *text, const char *name, const char *value)
{
	char line[128];

	(void)snprintf(line, sizeof(line), "\n%s %s\n", name, value);
	return strstr(text, line) != NULL;
}

int main(void)
{
	struct tenant_status st = {0};
	char *m, *h;
	bool live = false;

	st.restoring = true;
	st.gateway_live = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"restoring\"],"
	       "\"warnings\":[]}",
	       false, "restoring (and the gateway not yet blamed)");
	st.restoring = false;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-down\"],"
	       "\"warnings\":[]}",
	       false, "gateway not running");
	st.gateway_up = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-starting\"],"
	       "\"warnings\":[]}",
	       false, "running, not ready");
	st.gateway_ready = true;
	readyz(&st, "{\"ready\":true,\"reasons\":[],\"warnings\":[]}", true,
	       "ready");
	st.sync.degraded = true;
	st.sync.deletes_held = true;
	readyz(&st,
	       "{\"ready\":true,\"reasons\":[],\"warnings\":"
	       "[\"sync-degraded\",\"sync-deletes-held\"]}",
	       true, "warnings do not make it unready");
	st.sync.degraded = st.sync.deletes_held = false;
	st.gateway_unresponsive = true;
	st.gateway_ready = false;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-down\"],"
	       "\"warnings\":[]}",
	       false, "not answering its liveness probe");
	st.gateway_unresponsive = false;
	st.gateway_up = false;
	st.gateway_crashloop = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"gateway-crashloop\"],"
	       "\"warnings\":[]}",
	       false, "crash loop");
	st.shutting_down = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"shutting-down\","
	       "\"gateway-crashloop\"],\"warnings\":[]}",
	       false, "shutting down after a crash loop");
	memset(&st, 0, sizeof(st));
	st.config_invalid = true;
	st.shutting_down = true;
	readyz(&st,
	       "{\"ready\":false,\"reasons\":[\"shutting-down\","
	       "\"config-invalid\"],\"warnings\":[]}",
	       false, "config invalid");

	memset(&st, 0, sizeof(st));
	st.gateway_live = true;
	st.gateway_up = true;
	h = health_healthz_render(&st, &live);
	is_str(h, "{\"status\":\"live\",\"gateway_up\":true}", "healthz live");
	ok(live, "healthz 200");
	free(h);
	st.gateway_live = false;
	h = health_healthz_render(&st, &live);
	ok(!live && h && strstr(h, "\"status\":\"down\""), "healthz 503");
	free(h);

	st.gateway_restarts_total = 3;
	st.zombies_reaped_total = 12;
	st.idle_seconds = 1.5;
	st.sleep_in_seconds = -1;
	st.sync.uploaded_bytes_total = 123456789012ull;
	m = health_metrics_render(&st);
	ok(m != NULL, "metrics rendered");
	if (!m)
		return tap_done();
	for (size_t i = 0; i < sizeof(metric_names) / sizeof(*metric_names);
	     i++) {
		char type[128];
		(void)snprintf(type, sizeof(type), "# TYPE %s ",
			       metric_names[i]);
		ok(strstr(m, type) != NULL, "%s is there", metric_names[i]);
	}
	ok(has_sample(m, "tenant_gateway_restarts_total", "3"), "restarts");
	ok(has_sample(m, "tenant_zombies_reaped_total", "12"), "zombies");
	ok(has_sample(m, "tenant_idle_seconds", "1.500"), "idle seconds");
	ok(has_sample(m, "tenant_sleep_in_seconds", "-1.000"),
	   "never sleeps: -1");
	ok(has_sample(m, "tenant_sync_uploaded_bytes_total", "123456789012"),
	   "64-bit counter");
	ok(m[strlen(m) - 1] == '\n', "ends with a newline");
	free(m);
	return tap_done();
}
