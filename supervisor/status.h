/* SPDX-License-Identifier: MIT */
/*
 * What PID 1 knows about the tenant at this moment: plain data, written by
 * the modules that learn it and read by the health server and /metrics.
 * There is one instance, owned by struct pid1 and passed by pointer.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Figures the sync agent reports (DESIGN.md "Endpoints"). */
struct sync_stats {
	uint64_t queue_depth;
	double lag_seconds;
	uint64_t uploaded_objects_total;
	uint64_t uploaded_bytes_total;
	uint64_t downloaded_objects_total;
	uint64_t deleted_objects_total;
	uint64_t errors_total;
	double last_success_timestamp; /* unix seconds, 0 = never */
	bool degraded;		       /* storage failing for >= 10 s */
	bool deletes_held;	       /* deletion guard tripped */
	bool lease_wait;	       /* another instance holds the lease */
	bool lease_lost;	       /* ... it took it, or was handed it */
	bool lease_held;	       /* this instance may write */
};

struct tenant_status {
	bool restoring;	       /* restore not finished yet */
	bool config_invalid;   /* key or config could not be prepared */
	bool config_recovered; /* openclaw.json was unusable: set aside */
	bool shutting_down;
	bool gateway_up;	   /* process exists */
	bool gateway_ready;	   /* its own /readyz says ready */
	bool gateway_unresponsive; /* failing its liveness probe */
	bool gateway_crashloop;
	bool gateway_live; /* running, or backing off within budget */
	uint64_t gateway_restarts_total;
	uint64_t zombies_reaped_total;
	double idle_seconds;
	double sleep_in_seconds; /* < 0: never sleeps */
	double restore_duration_seconds;
	struct sync_stats sync;
};
