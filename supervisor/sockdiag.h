/* SPDX-License-Identifier: MIT */
/*
 * Socket diagnostics: list the TCP sockets bound to one local port, with
 * their byte counters, through NETLINK_SOCK_DIAG (libnl-idiag).
 *
 * This is the only place that includes <netlink/...> (STYLE.md 2.1); the
 * idle detector sees plain structs. A query is one netlink dump answered by
 * the kernel at once; it never waits for the network.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sockdiag;

/* One socket as the kernel reports it. Ports in host order. */
struct sockdiag_sock {
	int family;    /* AF_INET or AF_INET6 */
	uint8_t state; /* TCP_ESTABLISHED ... TCP_CLOSING (netinet/tcp.h) */
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t local_addr[16]; /* AF_INET: the first 4 bytes */
	uint8_t remote_addr[16];
	uint64_t cookie;   /* the kernel's socket id, stable for its life */
	bool has_counters; /* tcp_info was present (not TIME_WAIT) */
	uint64_t bytes_received; /* tcpi_bytes_received */
	uint64_t bytes_acked;	 /* tcpi_bytes_acked: sent and acknowledged */
};

/* Bit for a TCP state in a states mask (1 << TCP_ESTABLISHED, ...). */
#define SOCKDIAG_STATE(s) (1u << (s))

typedef void (*sockdiag_cb)(void *ctx, const struct sockdiag_sock *sock);

/*
 * Open a sock_diag netlink socket (close-on-exec). Returns NULL and sets
 * errno on failure (nothing is logged above debug level).
 */
struct sockdiag *sockdiag_new(void);

/* Close and free (NULL is accepted). */
void sockdiag_free(struct sockdiag *sd);

/*
 * Call cb for every IPv4 and IPv6 TCP socket whose local port is port and
 * whose state is in the states mask (SOCKDIAG_STATE bits). The sock passed
 * to cb is valid during the call only. Returns 0, or -errno (libnl's own
 * reason is logged at debug level).
 */
int sockdiag_query_port(struct sockdiag *sd, uint16_t port, uint32_t states,
			sockdiag_cb cb, void *ctx);

/* True when addr (of family) is a loopback address, v4-mapped included. */
bool sockdiag_addr_is_loopback(int family, const uint8_t addr[16]);
