/* SPDX-License-Identifier: MIT */
/*
 * [network] loopback_up: bring "lo" up through rtnetlink (libnl-route).
 *
 * A fresh network namespace starts with lo down, and a gateway that
 * cannot reach 127.0.0.1 cannot reach its own helper processes (OpenClaw
 * talks to its sidecars over loopback) nor be probed by tenant-init. PID 1
 * does this once, at startup, while it still has CAP_NET_ADMIN.
 *
 * STYLE.md puts <netlink/...> in supervisor/sockdiag.c only; this file is
 * the one other place, because the loopback belongs to the policy's
 * [network] section and has nothing to do with socket diagnostics. libnl
 * types stay inside this file.
 */
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "init/log.h"

static void nl_sock_freep(struct nl_sock **s)
{
	if (*s)
		nl_socket_free(*s);
}

static void rtnl_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}

#define _cleanup_nl_sock_   __attribute__((cleanup(nl_sock_freep)))
#define _cleanup_rtnl_link_ __attribute__((cleanup(rtnl_link_putp)))

/* libnl's -NLE_* codes, as -errno (the adapter STYLE.md 2.3 asks for). */
static int nl_to_errno(int nle)
{
	switch (-nle) {
	case NLE_PERM:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

int policy_loopback_up(void)
{
	_cleanup_nl_sock_ struct nl_sock *sk = nl_socket_alloc();
	_cleanup_rtnl_link_ struct rtnl_link *lo = NULL;
	_cleanup_rtnl_link_ struct rtnl_link *change = NULL;
	_cleanup_rtnl_link_ struct rtnl_link *after = NULL;
	int r, fl;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		log_warn("unable to open rtnetlink: %s", nl_geterror(r));
		return nl_to_errno(r);
	}
	/* PID 1 forks: its descriptors must not leak into children. */
	fl = fcntl(nl_socket_get_fd(sk), F_GETFD);
	if (fl >= 0 && !(fl & FD_CLOEXEC))
		(void)fcntl(nl_socket_get_fd(sk), F_SETFD, fl | FD_CLOEXEC);
	r = rtnl_link_get_kernel(sk, 0, "lo", &lo);
	if (r < 0) {
		log_warn("unable to find the loopback interface: %s",
			 nl_geterror(r));
		return nl_to_errno(r);
	}
	if (rtnl_link_get_flags(lo) & IFF_UP)
		return 0;
	change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, lo, change, 0);
	if (r < 0) {
		log_warn("unable to bring the loopback interface up: %s",
			 nl_geterror(r));
		return nl_to_errno(r);
	}
	/* Re-read it: the request was acknowledged, the link must be up. */
	r = rtnl_link_get_kernel(sk, 0, "lo", &after);
	if (r < 0)
		return nl_to_errno(r);
	return (rtnl_link_get_flags(after) & IFF_UP) ? 1 : -EIO;
}
