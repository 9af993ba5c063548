/* SPDX-License-Identifier: MIT */
/* PID 1 <-> sync agent messages (sync/ipc.c). */
#include "sync/ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/tap.h"

int main(void)
{
	struct sync_path paths[] = {
	    {.local = "/data", .remote = "openclaw/"},
	    {.local = "/home/x", .remote = "home/"},
	};
	char *excl[] = {"*.log", ".git/**", NULL};
	char secret[] = "s3cr3t-value", token[] = "tok-value";
	struct sync_config sc = {
	    .kind = SYNC_S3,
	    .endpoint = "http://127.0.0.1:9000",
	    .region = "auto",
	    .bucket = "bkt",
	    .prefix = "users/u1/",
	    .path_style = true,
	    .is_r2 = true,
	    .access_key_id = "AKID",
	    .secret_access_key = {.value = secret, .len = sizeof(secret) - 1},
	    .session_token = {.value = token, .len = sizeof(token) - 1},
	    .paths = paths,
	    .npaths = 2,
	    .excludes = excl,
	    .debounce_ms = 1500,
	    .concurrency = 16,
	    .max_file_size = (uint64_t)3 << 30,
	    .max_watches = 77,
	    .rescan_interval_ms = 4000,
	};
	struct agent_params ap = {.uid = 1000,
				  .gid = (gid_t)-1,
				  .skip_restore = true,
				  .log_level = 2,
				  .log_format = 1};
	struct sync_config got;
	struct agent_params gap;
	uint8_t *buf = NULL;
	size_t len = 0;
	int sv[2];

	is_int(ipc_config_encode(&sc, &ap, &buf, &len), 0, "encode");
	ok(len > 0 && memmem(buf, len, secret, strlen(secret)),
	   "the payload carries the secret (only to the agent)");
	memset(&got, 0, sizeof(got));
	is_int(ipc_config_decode(buf, len, &got, &gap), 0, "decode");
	ok(got.kind == SYNC_S3 && got.path_style && got.is_r2,
	   "kind and flags");
	is_str(got.endpoint, "http://127.0.0.1:9000", "endpoint");
	is_str(got.prefix, "users/u1/", "prefix");
	is_str(got.secret_access_key.value, secret, "secret");
	is_int(got.secret_access_key.len, strlen(secret), "secret length");
	is_str(got.session_token.value, token, "session token");
	ok(got.npaths == 2 && strcmp(got.paths[1].local, "/home/x") == 0 &&
	       strcmp(got.paths[1].remote, "home/") == 0,
	   "paths in order");
	ok(got.excludes && got.excludes[1] &&
	       !strcmp(got.excludes[1], ".git/**") && !got.excludes[2],
	   "excludes, NULL-terminated");
	ok(got.debounce_ms == 1500 && got.concurrency == 16,
	   "debounce and concurrency");
	ok(got.max_file_size == (uint64_t)3 << 30 && got.max_watches == 77 &&
	       got.rescan_interval_ms == 4000,
	   "file size cap, watch cap, rescan interval");
	ok(gap.uid == 1000 && gap.gid == (gid_t)-1 && gap.skip_restore &&
	       gap.log_level == 2 && gap.log_format == 1,
	   "agent parameters (gid -1 = unchanged)");
	ipc_sync_config_fini(&got);

	memset(&got, 0, sizeof(got));
	is_int(ipc_config_decode(buf, len - 3, &got, &gap), -EBADMSG,
	       "a truncated payload is refused");
	ipc_sync_config_fini(&got);
	buf[0] = 0x7f; /* an unknown tag */
	memset(&got, 0, sizeof(got));
	is_int(ipc_config_decode(buf, len, &got, &gap), -EBADMSG,
	       "an unknown tag is refused");
	ipc_sync_config_fini(&got);
	ipc_buf_free(buf, len);

	ok(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0,
	   "socketpair");
	{
		uint64_t t = 20000, back = 0;
		uint32_t type = 0;
		uint8_t rb[64];
		size_t n = 0;
		struct ipc_stats st = {
		    .sync = {.uploaded_objects_total = 7, .deletes_held = true},
		    .restore_duration_seconds = 1.5};

		is_int(ipc_send(sv[0], IPC_FLUSH, &t, sizeof(t)), 0, "send");
		is_int(ipc_recv(sv[1], &type, rb, sizeof(rb), &n), 1,
		       "receive one message");
		memcpy(&back, rb, sizeof(back));
		ok(type == IPC_FLUSH && n == 8 && back == 20000,
		   "type and payload intact");
		is_int(ipc_send(sv[1], IPC_STATS, &st, sizeof(st)), 0,
		       "send stats");
		is_int(ipc_recv(sv[0], &type, rb, 8, &n), -EBADMSG,
		       "a packet larger than the buffer is refused");
		close(sv[0]);
		is_int(ipc_recv(sv[1], &type, rb, sizeof(rb), &n), 0,
		       "end of stream when the peer closes");
		close(sv[1]);
	}
	return tap_done();
}
