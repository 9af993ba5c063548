/* SPDX-License-Identifier: MIT */
#include "supervisor/sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netlink/idiag/idiagnl.h>
#include <netlink/idiag/msg.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "init/cleanup.h"
#include "init/log.h"

/*
 * libnl copies INET_DIAG_INFO into glibc's struct tcp_info, which stops at
 * tcpi_total_retrans (104 bytes) and so lacks the byte counters; and
 * <linux/tcp.h>, which has them, cannot be included next to libnl's
 * <netinet/tcp.h>. The kernel's struct only ever grows at the end (uapi),
 * so the two counters sit at fixed offsets of the raw attribute:
 * tcpi_pacing_rate and tcpi_max_pacing_rate (u64 each) follow the glibc
 * part, then tcpi_bytes_acked and tcpi_bytes_received (Linux 4.1+).
 */
#define TCPI_BYTES_ACKED_OFF	120
#define TCPI_BYTES_RECEIVED_OFF 128
_Static_assert(sizeof(struct tcp_info) == 104,
	       "glibc's struct tcp_info changed: recheck the offsets above");

/* A dump must never block PID 1: the kernel answers at once, but bound it. */
#define SOCKDIAG_RECV_TIMEOUT_MS 1000

struct sockdiag {
	struct nl_sock *nl;
};

struct query {
	uint8_t family; /* the family being dumped */
	uint16_t port;
	sockdiag_cb cb;
	void *ctx;
	int err;
};

/*
 * libnl's -NLE_* codes as -errno (STYLE.md 2.3: one adapter per library),
 * with libnl's own wording at debug level: the caller reports the failure
 * once, and a persistent one must not repeat every listing.
 */
static int nl_to_errno(int nlerr, const char *what)
{
	log_debug("%s: %s", what, nl_geterror(nlerr));
	switch (-nlerr) {
	case NLE_PERM:
	case NLE_NOACCESS:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_INTR:
	case NLE_DUMP_INTR:
		return -EINTR;
	case NLE_AF_NOSUPPORT:
	case NLE_OPNOTSUPP:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_MSG_TRUNC:
	case NLE_MSG_TOOSHORT:
	case NLE_MSG_OVERFLOW:
	case NLE_SEQ_MISMATCH:
	case NLE_PROTO_MISMATCH:
	case NLE_PARSE_ERR:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void nl_sockp_free(struct nl_sock **p)
{
	if (*p)
		nl_socket_free(*p);
}
#define _cleanup_nl_sock_ __attribute__((cleanup(nl_sockp_free)))

struct sockdiag *sockdiag_new(void)
{
	_cleanup_nl_sock_ struct nl_sock *nl = nl_socket_alloc();
	struct timeval tv = {
	    .tv_sec = SOCKDIAG_RECV_TIMEOUT_MS / 1000,
	    .tv_usec = (SOCKDIAG_RECV_TIMEOUT_MS % 1000) * 1000,
	};
	struct sockdiag *sd;
	int r;

	if (!nl) {
		errno = ENOMEM;
		return NULL;
	}
	/* nl_connect() creates the socket with SOCK_CLOEXEC. */
	r = idiagnl_connect(nl);
	if (r < 0) {
		errno = -nl_to_errno(r, "sock_diag connect");
		return NULL;
	}
	if (setsockopt(nl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) < 0)
		return NULL;
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return NULL;
	sd->nl = steal_ptr(&nl);
	return sd;
}

void sockdiag_free(struct sockdiag *sd)
{
	if (!sd)
		return;
	nl_socket_free(sd->nl);
	free(sd);
}

bool sockdiag_addr_is_loopback(int family, const uint8_t addr[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
						0, 0, 0, 0, 0, 0, 0, 1};

	if (family == AF_INET)
		return addr[0] == 127;
	if (family != AF_INET6)
		return false;
	if (memcmp(addr, v6_loopback, 16) == 0)
		return true;
	return memcmp(addr, mapped, sizeof(mapped)) == 0 && addr[12] == 127;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void copy_addr(struct nl_addr *a, uint8_t out[16])
{
	unsigned len;

	memset(out, 0, 16);
	if (!a)
		return;
	len = nl_addr_get_len(a);
	memcpy(out, nl_addr_get_binary_addr(a), len > 16 ? 16 : len);
}

/* One inet_diag_msg of the dump. */
static int valid_cb(struct nl_msg *m, void *arg)
{
	struct query *q = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(m);
	const struct inet_diag_msg *raw;
	struct idiagnl_msg *msg = NULL;
	struct sockdiag_sock s;
	struct nlattr *info;
	int r;

	if (nlmsg_datalen(nlh) < (int)sizeof(*raw))
		return NL_SKIP;
	raw = nlmsg_data(nlh);
	/*
	 * Filter before the library allocates anything for this socket. The
	 * compat request dumps every family whatever it names (the kernel
	 * sets AF_UNSPEC for it), so each pass keeps only its own family.
	 */
	if (ntohs(raw->id.idiag_sport) != q->port ||
	    raw->idiag_family != q->family)
		return NL_SKIP;
	r = idiagnl_msg_parse(nlh, &msg);
	if (r < 0) {
		q->err = r;
		return NL_SKIP;
	}
	memset(&s, 0, sizeof(s));
	s.family = idiagnl_msg_get_family(msg);
	s.state = idiagnl_msg_get_state(msg);
	s.local_port = ntohs(idiagnl_msg_get_sport(msg));
	s.remote_port = ntohs(idiagnl_msg_get_dport(msg));
	copy_addr(idiagnl_msg_get_src(msg), s.local_addr);
	copy_addr(idiagnl_msg_get_dst(msg), s.remote_addr);
	/* The cookie is not part of libnl's object; it is the kernel's id. */
	s.cookie =
	    (uint64_t)raw->id.idiag_cookie[1] << 32 | raw->id.idiag_cookie[0];
	info = nlmsg_find_attr(nlh, sizeof(*raw), INET_DIAG_INFO);
	if (info && nla_len(info) >= TCPI_BYTES_RECEIVED_OFF + 8) {
		const uint8_t *ti = nla_data(info);
		s.has_counters = true;
		s.bytes_acked = get_u64(ti + TCPI_BYTES_ACKED_OFF);
		s.bytes_received = get_u64(ti + TCPI_BYTES_RECEIVED_OFF);
	}
	idiagnl_msg_put(msg);
	q->cb(q->ctx, &s);
	return NL_OK;
}

static int dump_family(struct sockdiag *sd, struct query *q, uint8_t family,
		       uint32_t states)
{
	int r;

	q->family = family;
	/*
	 * The compat request (TCPDIAG_GETSOCK) carries an 8-bit extension
	 * mask: INET_DIAG_INFO asks for tcp_info, which holds the counters.
	 */
	r = idiagnl_send_simple(sd->nl, NLM_F_DUMP, family, (uint16_t)states,
				1u << (INET_DIAG_INFO - 1));
	if (r < 0)
		return r;
	r = nl_socket_modify_cb(sd->nl, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, q);
	if (r < 0)
		return r;
	return nl_recvmsgs_default(sd->nl);
}

int sockdiag_query_port(struct sockdiag *sd, uint16_t port, uint32_t states,
			sockdiag_cb cb, void *ctx)
{
	static const uint8_t families[] = {AF_INET, AF_INET6};
	struct query q = {.port = port, .cb = cb, .ctx = ctx};

	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		int r = dump_family(sd, &q, families[i], states);
		if (r == 0 && q.err < 0)
			r = q.err;
		if (r < 0) {
			/* An IPv6-less kernel answers ENOENT for AF_INET6. */
			if (families[i] == AF_INET6 && r == -NLE_OBJ_NOTFOUND)
				continue;
			return nl_to_errno(r, "sock_diag dump");
		}
	}
	return 0;
}
