// SPDX-License-Identifier: MIT
/*
 * shim-socket.c - connect, bind, listen, accept, accept4 for the
 * program's AF_INET/AF_INET6 TCP sockets; every other socket goes straight
 * to libc.
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

static int is_socket_fd(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The new descriptor is "fake" when the kernel would describe it
 * differently from the socket the program made. */
static int is_fake(int nfd, int family)
{
	return sk_domain(nfd) != family;
}

/**
 * connect_via() - ask sockoutd for a connection to @dst and put it on @fd.
 * Returns 0, 1 when the caller should connect natively (a loopback
 * destination no guest listens on through sockoutd), or -errno.
 */
static int connect_via(int fd, struct sk_entry *e, const struct so_addr *dst)
{
	struct gp_req req = { .op = GP_CONNECT, .addr = *dst };
	struct gp_reply rep;
	int lo = addr_is_loopback(dst), nfd, fake, r;

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
	fake = is_fake(nfd, e->family);
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

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	const struct sockaddr *sa = SA_IN(addr);
	struct sk_entry e;
	struct so_addr dst;
	int saved = errno, family, r;

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
	    addr_from_user(&dst, sa, len) < 0)
		return real_connect(fd, sa, len);
	e.family = family;
	r = connect_via(fd, &e, &dst);
	if (r == 1) {
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
	    sa->sa_family != family || addr_from_user(&a, sa, len) < 0 ||
	    addr_is_loopback(&a))
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

/* listen() on a socket nobody bound: the kernel would pick a port on the
 * wildcard address, so sockoutd does. */
static int unbound_inet(int fd, struct sk_entry *e)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	int family;

	if (!sk_inet_stream(fd, &family) ||
	    real_getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		return 0;
	if ((ss.ss_family == AF_INET &&
	     ((struct sockaddr_in *)&ss)->sin_port) ||
	    (ss.ss_family == AF_INET6 &&
	     ((struct sockaddr_in6 *)&ss)->sin6_port))
		return 0; /* bound natively, to loopback */
	e->family = family;
	addr_any(&e->local, family);
	return 1;
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	struct gp_req req = { .op = GP_LISTEN };
	struct gp_reply rep;
	struct sk_entry e;
	int saved = errno, nfd, type = 0, r;
	socklen_t l = sizeof(type);

	if (!fdt_get(fd, &e) &&
	    (sk_domain(fd) != AF_UNIX || !fdt_find_file(fd, &e))) {
		memset(&e, 0, sizeof(e));
		if (!unbound_inet(fd, &e))
			return real_listen(fd, backlog);
	} else if (e.kind == SK_LISTENER) {
		return 0; /* a second listen() only changes the backlog */
	} else if (e.kind == SK_CONNECTED) {
		return shim_fail(EINVAL);
	} else if (e.kind == SK_NONE && !unbound_inet(fd, &e)) {
		return real_listen(fd, backlog);
	}
	req.addr = e.local;
	req.backlog = backlog < 0 ? 4096u : (uint32_t)backlog;
	if ((r = gp_call(&req, &rep, &nfd, 0)) < 0)
		return shim_fail(-r);
	if (rep.status)
		return shim_fail(rep.status);
	if (real_getsockopt(nfd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    type != SOCK_SEQPACKET) {
		close(nfd);
		shim_warn_once("sockoutd", "LISTEN answered with a non-seqpacket");
		return shim_fail(EPROTO);
	}
	ep_detach(fd, &e);
	if ((r = adopt_fd(fd, nfd)) < 0)
		return shim_fail(-r);
	ep_attach(fd, &e);
	e.kind = SK_LISTENER;
	e.fake = 1;
	if (rep.local.family)
		e.local = rep.local;
	if ((r = fdt_set(fd, &e)) < 0)
		return shim_fail(-r);
	errno = saved;
	return 0;
}

/**
 * take_accept() - receive one GP_ACCEPT message and its descriptor.
 * Returns the descriptor or -errno; -ECONNABORTED when sockoutd closed
 * the listener or sent something unusable.
 */
static int take_accept(int fd, int cloexec, struct gp_reply *rep)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	uint8_t p[GP_REPLY_LEN];
	struct iovec iov = { p, sizeof(p) };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.buf,
			    .msg_controllen = sizeof(cm.buf) };
	ssize_t n;
	int nfd = -1;

	/* No retry on EINTR: accept() reports it too.  A non-blocking
	 * listener makes recvmsg fail with EAGAIN, as accept would. */
	n = recvmsg(fd, &m, cloexec ? MSG_CMSG_CLOEXEC : 0);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (nfd < 0)
				nfd = f;
			else
				close(f);
		}
	}
	if (n == 0) {
		shim_warn_once("sockoutd", "closed a listening socket");
		goto bad;
	}
	if (n != GP_REPLY_LEN || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    gp_reply_decode(p, rep) < 0 || rep->op != GP_ACCEPT ||
	    rep->status || nfd < 0 || !is_socket_fd(nfd))
		goto bad;
	return nfd;
bad:
	if (nfd >= 0)
		close(nfd);
	return -ECONNABORTED;
}

/*
 * concrete_local() - a kernel never reports a wildcard address for an
 * accepted socket.  If sockoutd said "the listener's 0.0.0.0:P", and the
 * socket it handed over is the host's own TCP socket, report the host
 * address the client reached, with the guest's port P.
 */
static void concrete_local(int nfd, struct so_addr *local)
{
	static const uint8_t zero[16];
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	struct so_addr h;
	int saved = errno;

	if (memcmp(local->addr, zero, 16) != 0 ||
	    real_getsockname(nfd, (struct sockaddr *)&ss, &l) < 0 ||
	    addr_from_user(&h, (struct sockaddr *)&ss, l) < 0 ||
	    addr_is_loopback(&h))
		goto out;
	h.port = local->port;
	*local = h;
out:
	errno = saved;
}

static int accept_listener(int fd, const struct sk_entry *l,
			   struct sockaddr *sa, socklen_t *len, int flags)
{
	struct gp_reply rep = { 0 };
	struct sk_entry e;
	int saved = errno, nfd, r;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return shim_fail(EINVAL);
	nfd = take_accept(fd, flags & SOCK_CLOEXEC, &rep);
	if (nfd < 0)
		return shim_fail(-nfd);
	/* The open file may carry sockoutd's O_NONBLOCK: make it what
	 * accept4's flags ask for. */
	r = fcntl(nfd, F_GETFL);
	if (r >= 0 && (r & O_NONBLOCK) != ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0))
		fcntl(nfd, F_SETFL, (r & ~O_NONBLOCK) |
					    ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0));
	e = *l;
	e.kind = SK_CONNECTED;
	e.fake = (uint8_t)is_fake(nfd, l->family);
	if (rep.local.family)
		e.local = rep.local;
	concrete_local(nfd, &e.local);
	e.peer = rep.peer;
	/* Accepted TCP sockets inherit the listener's options. */
	apply_opts(nfd, &e);
	if ((r = fdt_set(nfd, &e)) < 0) {
		close(nfd);
		return shim_fail(-r);
	}
	if (sa && len)
		addr_to_user(&e.peer, e.family, sa, len);
	errno = saved;
	return nfd;
}

/* The kernel refuses accept() on a seqpacket with EINVAL: if that
 * seqpacket is a listener the program dup()ed, serve it after all. */
static int dup_listener(int fd, struct sk_entry *e)
{
	return errno == EINVAL && fdt_find_file(fd, e) && e->kind == SK_LISTENER;
}

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len,
			int flags)
{
	struct sk_entry e;
	int saved = errno, r;

	if (fdt_get(fd, &e) && e.kind == SK_LISTENER)
		return accept_listener(fd, &e, SA_IN(addr), len, flags);
	r = real_accept4(fd, SA_IN(addr), len, flags);
	if (r < 0 && dup_listener(fd, &e)) {
		errno = saved;
		return accept_listener(fd, &e, SA_IN(addr), len, flags);
	}
	return r;
}

SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	struct sk_entry e;
	int saved = errno, r;

	if (fdt_get(fd, &e) && e.kind == SK_LISTENER)
		return accept_listener(fd, &e, SA_IN(addr), len, 0);
	r = real_accept(fd, SA_IN(addr), len);
	if (r < 0 && dup_listener(fd, &e)) {
		errno = saved;
		return accept_listener(fd, &e, SA_IN(addr), len, 0);
	}
	return r;
}
