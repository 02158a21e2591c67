// SPDX-License-Identifier: MIT
/*
 * shim-listen.c - listen, accept, accept4 for the program's TCP sockets.
 *
 * A granted LISTEN turns the program's socket into sockoutd's
 * SOCK_SEQPACKET: each pending connection is one message carrying the
 * accepted socket, so the listener is readable exactly when accept() has
 * something to return, and processes sharing it after fork() each take
 * whole connections.
 *
 * When sockoutd goes away (restart, upgrade) the seqpacket reads EOF.  The
 * shim then asks for the listener again at once; if sockoutd is not back
 * yet, the descriptor becomes a placeholder, a timerfd that turns readable
 * once a second.  A server polling its listener thus idles (one wakeup a
 * second) instead of spinning on errors, and each wakeup's accept() asks
 * sockoutd again; once it answers, the listener is re-made and the server
 * goes on.  A blocking accept() simply waits through the outage.  (An
 * inotify watch on the socket's directory would react faster but misses a
 * sockoutd caught between bind() and listen(), and a stale socket file.)
 * Only processes sharing one listener lose out: after such a revival one
 * of them holds it.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

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
	so_addr_any(&e->local, family);
	return 1;
}

/**
 * do_listen() - LISTEN for @e's address and put the seqpacket on @fd.
 * @quiet: no stderr line if sockoutd cannot be reached
 *
 * Returns 0 (@e updated and stored) or -errno.
 */
static int do_listen(int fd, struct sk_entry *e, int quiet)
{
	struct gp_req req = { .op = GP_LISTEN, .addr = e->local,
			      .backlog = e->backlog };
	struct gp_reply rep = { 0 };
	int nfd, type = 0, r, v6only = 0;
	socklen_t l = sizeof(type), vl = sizeof(v6only);

	/* The program's socket is still the native one here: it knows
	 * whether IPV6_V6ONLY was set (or is the system default). */
	if (e->family == AF_INET6 &&
	    real_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &vl) == 0 &&
	    v6only)
		req.flags |= GP_F_V6ONLY;
	if ((r = gp_call(&req, &rep, &nfd, quiet)) < 0)
		return r;
	if (rep.status)
		return -(int)rep.status;
	/* stream mode: a stream that carries ACCEPT notices */
	if (real_getsockopt(nfd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    type != (shim_stream_mode() ? SOCK_STREAM : SOCK_SEQPACKET)) {
		close(nfd);
		shim_warn_once("sockoutd", "LISTEN answered with a non-seqpacket");
		return -EPROTO;
	}
	ep_detach(fd, e);
	if ((r = adopt_fd(fd, nfd)) < 0)
		return r;
	ep_attach(fd, e);
	e->kind = SK_LISTENER;
	e->fake = 1;
	e->dead = 0;
	if (rep.local.family)
		e->local = rep.local;
	return fdt_set(fd, e);
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	struct sk_entry e;
	int saved = errno, r;

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
	e.backlog = backlog < 0 ? 4096u : (uint32_t)backlog;
	if ((r = do_listen(fd, &e, 0)) < 0)
		return shim_fail(-r);
	errno = saved;
	return 0;
}

/* How often a listener waiting for sockoutd looks for it again. */
#define REVIVE_INTERVAL_S 1

/*
 * bury() - put a placeholder on @fd: with @retry one that turns readable
 * once a second, so the program's next accept() looks for sockoutd again
 * (see the top of this file); without, one that never turns readable, for
 * a listener sockoutd refused outright.
 */
static void bury(int fd, struct sk_entry *e, int retry)
{
	struct itimerspec its = { .it_interval = { REVIVE_INTERVAL_S, 0 },
				  .it_value = { REVIVE_INTERVAL_S, 0 } };
	int t = -1;

	if (retry) {
		t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (t >= 0 && timerfd_settime(t, 0, &its, NULL) < 0) {
			close(t);
			t = -1;
		}
	}
	/* Never readable still beats a listener that is readable forever
	 * and makes the server spin; a blocking accept() waiting for
	 * sockoutd retries on its own (see revive()). */
	if (t < 0)
		t = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t < 0)
		return; /* keep the dead seqpacket: accept says ECONNABORTED */
	ep_detach(fd, e);
	if (adopt_fd(fd, t) < 0)
		return;
	ep_attach(fd, e);
	e->dead = retry ? SK_DEAD_RETRY : SK_DEAD_REFUSED;
	fdt_set(fd, e);
}

/* Consume the placeholder's expirations (it may be in blocking mode). */
static void drain(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) &&
	    read(fd, &n, sizeof(n)) < 0)
		return;
}

/**
 * revive() - make a listener sockoutd dropped live again (@e->dead: the
 * placeholder is already in place).
 * Returns 0, or -EAGAIN for a non-blocking listener while sockoutd is
 * away; a blocking one waits for sockoutd (-EINTR if a signal comes).
 * -ECONNABORTED if not even a placeholder could be made.
 */
static int revive(int fd, struct sk_entry *e)
{
	int nonblock = fcntl(fd, F_GETFL) & O_NONBLOCK, r;

	for (;;) {
		if (e->dead != SK_DEAD_REFUSED) {
			r = do_listen(fd, e, 1);
			if (r == 0)
				return 0;
			/* An answer, not an absence (the port is denied now,
			 * or another process that shared the listener got it
			 * back): asking again every second would not help. */
			if (r != -ENETUNREACH && r != -ETIMEDOUT) {
				shim_warn_once(shim_socket_path(),
					       "sockoutd refused a listening socket it had dropped");
				bury(fd, e, 0);
			} else if (!e->dead) {
				bury(fd, e, 1);
			}
		}
		if (!e->dead)
			return -ECONNABORTED;
		if (nonblock) {
			drain(fd);
			return -EAGAIN;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* Refused: as a TCP listener nobody connects to, forever.
		 * Otherwise the timeout also covers an eventfd placeholder. */
		if (poll(&p, 1, e->dead == SK_DEAD_REFUSED ? -1 : REVIVE_INTERVAL_S * 1000) < 0)
			return -errno;
		drain(fd);
	}
}

/**
 * take_accept() - receive one GP_ACCEPT message and its descriptor.
 * Returns the descriptor or -errno: -EPIPE when sockoutd closed the
 * listener, -ECONNABORTED when it sent something unusable.
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

	if (shim_stream_mode()) {
		nfd = gp_stream_accept(fd, cloexec, rep);
		return nfd == -EAGAIN || nfd == -EPIPE || nfd == -EINTR ||
			       nfd >= 0 ? nfd : -ECONNABORTED;
	}
	/* No retry on EINTR: accept() reports it too.  A non-blocking
	 * listener makes recvmsg fail with EAGAIN, as accept would. */
	n = recvmsg(fd, &m, cloexec ? MSG_CMSG_CLOEXEC : 0);
	if (n < 0)
		return -errno;
	gpc_take_fds(&m, &nfd);
	if (n == 0 && nfd < 0)
		return -EPIPE;
	if (n != GP_REPLY_LEN || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    gp_reply_decode(p, rep) < 0 || rep->op != GP_ACCEPT ||
	    rep->status || nfd < 0 || !is_socket_fd(nfd)) {
		if (nfd >= 0)
			close(nfd);
		return -ECONNABORTED;
	}
	return nfd;
}

/* concrete_local() - see gpc_concrete_local(). */
static void concrete_local(int nfd, struct so_addr *local)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	int saved = errno;

	if (real_getsockname(nfd, (struct sockaddr *)&ss, &l) == 0)
		gpc_concrete_local(local, (struct sockaddr *)&ss, l);
	errno = saved;
}

static int accept_listener(int fd, const struct sk_entry *l,
			   struct sockaddr *sa, socklen_t *len, int flags)
{
	struct gp_reply rep = { 0 };
	struct sk_entry e = *l;
	int saved = errno, nfd = -ECONNABORTED, r;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return shim_fail(EINVAL);
	/* Bounded: a sockoutd that grants listeners and drops them at
	 * once must not keep us here. */
	for (int tries = 0; tries < 3; tries++) {
		if (e.dead && (r = revive(fd, &e)) < 0)
			return shim_fail(-r);
		nfd = take_accept(fd, flags & SOCK_CLOEXEC, &rep);
		if (nfd != -EPIPE)
			break;
		/* What accept() says on a TCP listener that was shut down. */
		struct sk_entry now;

		if (fdt_get(fd, &now) && now.shut)
			return shim_fail(EINVAL);
		shim_warn_once(shim_socket_path(),
			       "sockoutd dropped a listening socket; it is made again when sockoutd is back");
		if ((r = revive(fd, &e)) < 0)
			return shim_fail(-r);
		nfd = -EAGAIN;
	}
	if (nfd < 0)
		return shim_fail(-nfd);
	if (!e.local.family && rep.local.family) {
		/* An inherited listener learns its address: sockoutd sends
		 * the bound one, or for a guest-internal connection the
		 * loopback address the client used, which the listener
		 * (never bound to loopback, those stay native) was not. */
		e.family = rep.local.family == 6 ? AF_INET6 : AF_INET;
		if (so_addr_is_loopback(&rep.local)) {
			so_addr_any(&e.local, e.family);
			e.local.port = rep.local.port;
		} else {
			e.local = rep.local;
		}
		fdt_set(fd, &e);
	}
	/* The open file may carry sockoutd's O_NONBLOCK: make it what
	 * accept4's flags ask for. */
	r = fcntl(nfd, F_GETFL);
	if (r >= 0 && (r & O_NONBLOCK) != ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0))
		fcntl(nfd, F_SETFL, (r & ~O_NONBLOCK) |
					    ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0));
	e.kind = SK_CONNECTED;
	e.fake = (uint8_t)(is_fake(nfd, e.family) || shim_stream_mode());
	e.ep_set = 0;
	e.dead = 0;
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
		so_addr_to_user(&e.peer, e.family, sa, len);
	errno = saved;
	return nfd;
}

/* shutdown() of a listener is how some servers wake the threads blocked
 * in accept(); note it so their EOF is not taken for sockoutd leaving. */
SHIM_EXPORT int shutdown(int fd, int how)
{
	struct sk_entry e;
	int saved = errno, r;

	if (fdt_kind_hint(fd) != SK_LISTENER || !fdt_get(fd, &e) ||
	    e.kind != SK_LISTENER)
		return real_shutdown(fd, how);
	/* Marked before the call: the woken threads look right away. */
	e.shut = 1;
	fdt_set(fd, &e);
	errno = saved;
	if ((r = real_shutdown(fd, how)) < 0) {
		saved = errno;
		e.shut = 0;
		fdt_set(fd, &e);
		errno = saved;
	}
	return r;
}

/*
 * inherited_listener() - a connected SOCK_SEQPACKET that accept() is
 * called on can only be one of sockoutd's listeners whose table entry was
 * lost in an exec() (socket activation, a server re-executing itself).
 * Adopt it; its address becomes known with the first connection (ACCEPT
 * messages carry the listener's bound address).
 */
static int inherited_listener(int fd, struct sk_entry *e)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	int type = 0, saved = errno;
	socklen_t tl = sizeof(type);

	if (sk_domain(fd) != AF_UNIX ||
	    real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_SEQPACKET ||
	    real_getpeername(fd, (struct sockaddr *)&ss, &l) < 0) {
		errno = saved;
		return 0;
	}
	memset(e, 0, sizeof(*e));
	e->kind = SK_LISTENER;
	e->fake = 1;
	e->family = AF_INET;
	e->backlog = 128;
	fdt_set(fd, e);
	errno = saved;
	return 1;
}

/* The kernel refuses accept() on a seqpacket with EINVAL: if that
 * seqpacket is a listener the program dup()ed, or one it inherited across
 * exec(), serve it after all. */
static int dup_listener(int fd, struct sk_entry *e)
{
	if (errno != EINVAL)
		return 0;
	if (fdt_find_file(fd, e))
		return e->kind == SK_LISTENER;
	return inherited_listener(fd, e);
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
