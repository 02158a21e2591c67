// SPDX-License-Identifier: MIT
/*
 * direct.c - the `direct' route: sockoutd connects a host socket for the
 * guest and, once connected, passes that very socket to it.  The dispatcher
 * then leaves the data path, which is why this route runs at host speed.
 * A direct `accept' rule is a host listener (listen.c) on the address this
 * file makes of the guest's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

void direct_init(struct direct *d)
{
	memset(d, 0, sizeof(*d));
	d->ev.fd = -1;
}

/* The rule's rewrite: its address and port, where it names them. */
static void rewrite(const struct rule *r, const struct so_addr *asked,
		    struct so_addr *dst)
{
	*dst = *asked;
	if (r->rw_family) {
		dst->family = r->rw_family;
		memcpy(dst->addr, r->rw_addr, 16);
	}
	if (r->rw_port)
		dst->port = r->rw_port;
}

static void close_host(struct direct *d)
{
	int fd = d->ev.fd;

	if (fd >= 0) {
		ev_del(&d->ev);
		close(fd);
	}
	d->ev.fd = -1;
}

/* 0 when connected, -EINPROGRESS while still connecting, else -errno. */
static int connect_result(int fd)
{
	int e = 0;
	socklen_t el = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		return -errno;
	if (e)
		return -e;
	/* EPOLLOUT without an error can only mean connected, but ask the
	 * kernel rather than assume (a spurious wakeup costs nothing). */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return errno == ENOTCONN ? -EINPROGRESS : -errno;
	return 0;
}

static void fail(struct direct *d, int err)
{
	char a[NET_ADDRSTRLEN];

	debug("guest pid %u: direct connect to %s: %s", d->pid,
	      so_addr_str(&d->dst, a, sizeof(a)), strerror(err));
	stats.direct_failed++;
	close_host(d);
	waiter_finish(&d->w, err, NULL, NULL, -1);
}

/* Connected (@r 0) or failed: answer the guest.  The peer is what the
 * guest asked for (a rewrite is ours to know); the local address was
 * asked of the kernel when the connect started. */
static void connect_done(struct direct *d, int fd, int r)
{
	struct so_addr local = d->local, peer;
	char a[NET_ADDRSTRLEN];

	if (r < 0) {
		if (d->ev.fd < 0)
			close(fd); /* at once: never in epoll */
		fail(d, -r);
		return;
	}
	/* The guest asked for this address; a rewrite is ours to know.
	 * An IPv6 guest socket rewritten to an IPv4 host gets its local
	 * address IPv4-mapped, as its own socket would report it. */
	peer = d->asked;
	if (peer.family == 6)
		so_addr_map(&local);
	ev_del(&d->ev);
	d->ev.fd = -1;
	/* The program decides blocking mode; the shim applies it.  The
	 * socket is ours from socket(): O_NONBLOCK is its only status flag. */
	fcntl(fd, F_SETFL, 0);
	stats.direct++;
	debug("guest pid %u: direct %s handed off", d->pid,
	      so_addr_str(&d->dst, a, sizeof(a)));
	waiter_finish(&d->w, 0, &local, &peer, fd);
}

static void connected_cb(struct ev *ev, uint32_t events)
{
	struct direct *d = container_of(ev, struct direct, ev);
	int r;

	(void)events;
	r = connect_result(ev->fd);
	if (r != -EINPROGRESS)
		connect_done(d, ev->fd, r);
}

/* Did the connect complete inside connect()?  To a host-local address
 * (loopback, an address of this namespace) the handshake runs in the
 * call, and waiting for EPOLLOUT would cost a loop pass and three epoll
 * calls.  POLLOUT with neither POLLERR nor POLLHUP: established. */
static bool connected_at_once(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && p.revents == POLLOUT;
}

int direct_start(struct direct *d, const struct rule *r,
		 const struct so_addr *asked, uint32_t pid, struct waiter *w)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, e = 0;

	d->asked = *asked;
	d->pid = pid;
	rewrite(r, asked, &d->dst);
	if (so_addr_to_sa(&d->dst, &ss, &sl) < 0)
		return -EAFNOSUPPORT;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		e = -errno;
		close(fd);
		return e;
	}
	/* The local address and port are chosen once connect() started:
	 * pin the socket now (pin.c), which to a remote destination
	 * overlaps the kernel's work with the handshake. */
	struct sockaddr_storage ls;
	socklen_t ll = sizeof(ls);
	if (getsockname(fd, (struct sockaddr *)&ls, &ll) < 0 ||
	    (e = pin_socket_to(fd, (struct sockaddr *)&ls, (struct sockaddr *)&ss)) < 0) {
		e = e < 0 ? e : -errno;
		close(fd);
		return e;
	}
	so_addr_from_sa(&d->local, (struct sockaddr *)&ls);
	d->w = w;
	if (connected_at_once(fd)) {
		connect_done(d, fd, 0);
		return 0;
	}
	if ((e = ev_add(&d->ev, fd, EPOLLOUT, connected_cb)) < 0) {
		d->w = NULL;
		close(fd);
		return e;
	}
	return 0;
}

void direct_cancel(struct direct *d)
{
	d->w = NULL;
	close_host(d);
}

void direct_listen_host(const struct rule *r, const struct so_addr *asked,
			const struct so_addr *m, struct so_addr *host)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	static const uint8_t zero[16];

	/* A host listener on listen-address (or the rule's address) and the
	 * rule's port (or the guest's).  A guest that bound its loopback
	 * address meant "local only": it gets the host's loopback, never
	 * listen-address, unless the rule names an address. */
	memset(host, 0, sizeof(*host));
	if (r->rw_family) {
		host->family = r->rw_family;
		memcpy(host->addr, r->rw_addr, 16);
	} else if (so_addr_is_loopback(m)) {
		host->family = m->family;
		if (m->family == 4) {
			host->addr[0] = 127;
			host->addr[3] = 1;
		} else {
			host->addr[15] = 1;
		}
	} else if (net_parse_ip(cfg->listen_address, 0, &ss, &sl) == 0) {
		so_addr_from_sa(host, (struct sockaddr *)&ss);
		/* An IPv6 guest socket on the default IPv4 wildcard gets the
		 * IPv6 wildcard, dual-stack or not as the guest asked, so a
		 * program listening on both families gets both. */
		if (m->family == 6 && host->family == 4 &&
		    !memcmp(host->addr, zero, 4))
			host->family = 6;
	}
	host->port = r->rw_port ? r->rw_port : asked->port;
}
