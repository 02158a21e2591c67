// SPDX-License-Identifier: MIT
/*
 * shim-socket.c - connect and bind for the program's AF_INET/AF_INET6 TCP
 * sockets; every other socket goes straight to libc.  Listening sockets
 * are in shim-listen.c.
 *
 * Each wrapper keeps errno as the kernel would leave it: unchanged on
 * success, the failing call's errno otherwise.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/**
 * connect_via() - ask sockoutd for a connection to @dst and put it on @fd.
 * Returns 0, 1 when the caller should connect natively (a loopback
 * destination no guest listens on through sockoutd), or -errno.
 */
static int connect_via(int fd, struct sk_entry *e, const struct so_addr *dst)
{
	struct gp_req req = { .op = GP_CONNECT, .addr = *dst };
	struct gp_reply rep = { 0 };
	int lo = so_addr_is_loopback(dst), nfd, fake, r;

	/* In stream mode (a VM) sockoutd serves no guest loopback: the
	 * VM's own loopback stays native, without a round trip to ask. */
	if (lo && shim_stream_mode())
		return 1;
	if (lo)
		req.flags = GP_F_LOOPBACK;
	r = gp_call(&req, &rep, &nfd, lo);
	if (r < 0)
		return lo ? 1 : r;
	if (rep.status)
		return lo && rep.status == ENOENT ? 1 : -(int)rep.status;
	if (!is_socket_fd(nfd)) {
		close(nfd);
		shim_warn_once("sockoutd", "CONNECT answered with a non-socket");
		return -EPROTO;
	}
	fake = is_fake(nfd, e->family) || shim_stream_mode();
	ep_detach(fd, e);
	if ((r = adopt_fd(fd, nfd)) < 0)
		return r;
	ep_attach(fd, e);
	e->kind = SK_CONNECTED;
	e->fake = (uint8_t)fake;
	e->local = rep.local;
	e->peer = rep.peer.family ? rep.peer : *dst;
	apply_opts(fd, e);
	/* The connection exists whatever happens to the table; without an
	 * entry only getsockname/getpeername lose sockoutd's addresses. */
	fdt_set(fd, e);
	return 0;
}

/*
 * native_from_bound() - a socket whose bind() was only remembered is about
 * to connect natively (guest loopback): bind it for real now if the
 * address exists in the guest (the wildcard, with the port asked for),
 * and forget the remembered address, so getsockname() tells the truth.
 */
static void native_from_bound(int fd, struct sk_entry *e)
{
	static const uint8_t zero[16];
	struct sockaddr_storage ss;
	socklen_t l;

	if (e->kind != SK_BOUND)
		return;
	if (memcmp(e->local.addr, zero, 16) == 0 &&
	    so_addr_to_sa(&e->local, &ss, &l) == 0)
		real_bind(fd, (struct sockaddr *)&ss, l);
	e->kind = SK_NONE;
	fdt_set(fd, e);
}

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	const struct sockaddr *sa = SA_IN(addr);
	struct sk_entry e;
	struct so_addr dst;
	int saved = errno, family, r;

	/* AF_UNSPEC dissolves a TCP association: the kernel's business. */
	if (sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC)
		return real_connect(fd, sa, len);
	/* The table first: a descriptor from sockoutd may no longer look
	 * like an inet socket to the kernel. */
	if (fdt_get(fd, &e)) {
		if (e.kind == SK_CONNECTED)
			return shim_fail(EISCONN);
		if (e.kind == SK_LISTENER)
			return shim_fail(EINVAL);
	} else {
		memset(&e, 0, sizeof(e));
	}
	if (!sa || len < sizeof(sa_family_t) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    !sk_inet_stream(fd, &family) ||
	    (sa->sa_family == AF_INET6 && family == AF_INET) ||
	    so_addr_from_user(&dst, sa, len) < 0)
		return real_connect(fd, sa, len);
	e.family = family;
	r = connect_via(fd, &e, &dst);
	if (r == 1) {
		native_from_bound(fd, &e);
		errno = saved;
		return real_connect(fd, sa, len);
	}
	if (r < 0)
		return shim_fail(-r);
	errno = saved;
	return 0;
}

SHIM_EXPORT int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	const struct sockaddr *sa = SA_IN(addr);
	struct sk_entry e;
	struct so_addr a;
	int saved = errno, family, r;

	if (!sa || len < sizeof(sa_family_t) || !sk_inet_stream(fd, &family) ||
	    sa->sa_family != family || so_addr_from_user(&a, sa, len) < 0 ||
	    so_addr_is_loopback(&a))
		return real_bind(fd, sa, len);
	if (fdt_get(fd, &e)) {
		if (e.kind != SK_NONE)
			return shim_fail(EINVAL);
	} else {
		memset(&e, 0, sizeof(e));
	}
	/* The address is only remembered: sockoutd binds it on the host
	 * at listen(), and a client that binds before connecting never
	 * needs it bound in the guest. */
	e.kind = SK_BOUND;
	e.family = family;
	e.local = a;
	if ((r = fdt_set(fd, &e)) < 0)
		return shim_fail(-r);
	errno = saved;
	return 0;
}
