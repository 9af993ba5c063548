/* SPDX-License-Identifier: MIT */
/*
 * The conversation between PID 1 and the sync agent over one
 * SOCK_SEQPACKET socketpair (fd 3 in the agent). Each message is one
 * packet: a 32-bit type and its payload. Both ends are the same binary
 * (/proc/self/exe), so fixed structs travel as they are in memory.
 *
 *   PID 1 -> agent   CONFIG (first, once), SYNC_NOW, FLUSH, STOP
 *   agent -> PID 1   RESTORE_DONE, RESTORE_RETRYING, FLUSH_DONE, STATS
 *
 * CONFIG carries the storage credentials, which PID 1 has already removed
 * from its environment: they never pass through argv or the environment.
 * Buffers that held them are wiped.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "init/config.h"
#include "supervisor/status.h"

/* Largest packet either side sends or accepts. */
#define IPC_MSG_MAX (128 * 1024)

enum ipc_type {
	IPC_CONFIG = 1,		   /* TLV: struct sync_config + agent_params */
	IPC_SYNC_NOW = 2,	   /* no payload */
	IPC_FLUSH = 3,		   /* uint64_t timeout_ms */
	IPC_STOP = 4,		   /* no payload: cancel and exit now */
	IPC_RESTORE_DONE = 16,	   /* struct ipc_restore_done */
	IPC_RESTORE_RETRYING = 17, /* no payload: storage failing, retrying */
	IPC_FLUSH_DONE = 18,	   /* uint8_t ok */
	IPC_STATS = 19,		   /* struct ipc_stats */
};

/* What PID 1 tells the agent besides the sync configuration. */
struct agent_params {
	uid_t uid; /* owner of restored files and dirs, (uid_t)-1 = unchanged */
	gid_t gid;
	bool skip_restore; /* a restarted agent: the boot restore is done */
	int log_level;	   /* enum log_level */
	int log_format;	   /* enum log_format */
};

struct ipc_restore_done {
	uint8_t ok; /* 0: abandoned (shutdown) */
	double duration_seconds;
};

struct ipc_stats {
	struct sync_stats sync;
	double restore_duration_seconds;
};

/*
 * Send one message (blocking send on a non-blocking socket is retried on
 * EINTR only). Returns 0, -EAGAIN when the socket buffer is full, or -errno.
 */
int ipc_send(int fd, uint32_t type, const void *payload, size_t len);

/*
 * Receive one message into buf (cap bytes). Returns 1 with *type and *len
 * set, 0 at end of stream (the peer is gone), -EAGAIN when nothing is
 * pending, -EBADMSG for a malformed or truncated packet, or -errno.
 */
int ipc_recv(int fd, uint32_t *type, void *buf, size_t cap, size_t *len);

/*
 * Serialize sc and ap into a CONFIG payload. On success *out (free it with
 * ipc_buf_free(), which wipes it: it holds the secret) and *len are set.
 * Returns 0, -ENOMEM or -E2BIG (larger than IPC_MSG_MAX).
 */
int ipc_config_encode(const struct sync_config *sc,
		      const struct agent_params *ap, uint8_t **out,
		      size_t *len);

/* Wipe and free a buffer from ipc_config_encode(). */
void ipc_buf_free(uint8_t *buf, size_t len);

/*
 * Parse a CONFIG payload into sc (zeroed by the caller) and ap. Secrets go
 * into wiped-on-free buffers and are registered for log redaction. Free
 * with ipc_sync_config_fini(), also after a failure. Returns 0, -EBADMSG
 * or -ENOMEM.
 */
int ipc_config_decode(const uint8_t *buf, size_t len, struct sync_config *sc,
		      struct agent_params *ap);

/* Free everything ipc_config_decode() allocated; wipes the secrets. */
void ipc_sync_config_fini(struct sync_config *sc);
