// SPDX-License-Identifier: MIT
/*
 * listen.c - guest listeners.
 *
 * A granted LISTEN gives the guest one end of a SOCK_SEQPACKET pair; that
 * becomes the program's listening socket.  Every incoming connection, from
 * a host listener (direct), a helper (ACCEPTED) or another program of the
 * same guest (loopback), is one GP_ACCEPT message carrying the connected
 * socket.  Seqpacket keeps message and descriptor together, so processes
 * that share the listener after fork() each take whole connections.
 *
 * Backpressure: when the seqpacket is full (the guest is not accepting),
 * the host listener is paused with the one connection already accepted
 * held back, and resumed when the seqpacket is writable again; the kernel's
 * listen backlog then does the queueing.  EOF on our end means every copy
 * of the guest's listening socket is closed: the listener goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

#define LTAB 256u

LIST_HEAD(glisten_list, glisten);
static struct glisten_list ltab[LTAB];
static struct glisten_list all = LIST_HEAD_INITIALIZER(all);
static unsigned nlisteners;

static struct glisten_list *bucket(uint64_t netns, uint16_t port)
{
	return &ltab[hash_slot(hash_pair(netns, port), LTAB)];
}

struct glisten *glisten_find(uint64_t netns, uint16_t port)
{
	struct glisten *l;

	LIST_FOREACH(l, bucket(netns, port), tlink)
		if (l->netns == netns && l->bound.port == port)
			return l;
	return NULL;
}

unsigned glisten_count(void)
{
	return nlisteners;
}

void glisten_foreach(void (*fn)(struct glisten *l, void *arg), void *arg)
{
	struct glisten *l;

	LIST_FOREACH(l, &all, link)
		fn(l, arg);
}

static void table_del(struct glisten *l)
{
	if (!l->in_table)
		return;
	LIST_REMOVE(l, tlink);
	l->in_table = false;
}

static void table_add(struct glisten *l)
{
	/* A second listener on the same (netns, port) is possible with
	 * SO_REUSEPORT in the guest; loopback connects go to the newest. */
	LIST_INSERT_HEAD(bucket(l->netns, l->bound.port), l, tlink);
	l->in_table = true;
}

void glisten_set_feed(struct glisten *l, struct glisten_feed *f)
{
	l->feed = f;
}

int glisten_grant(struct glisten *l)
{
	int fd = l->guest_end;

	l->guest_end = -1;
	return fd;
}

bool glisten_granted(const struct glisten *l)
{
	return l->guest_end < 0;
}

static void close_watched(struct ev *ev)
{
	int fd = ev->fd;

	if (fd >= 0) {
		ev_del(ev);
		close(fd);
	}
}

void glisten_close(struct glisten *l)
{
	struct glisten_feed *f = l->feed;

	l->feed = NULL;
	if (f)
		f->gone(f);
	table_del(l);
	timer_cancel(&l->pause);
	close_watched(&l->lev);
	close_watched(&l->sev);
	if (l->guest_end >= 0)
		close(l->guest_end);
	if (l->held_fd >= 0)
		close(l->held_fd);
	quota_give(l->quota, Q_LISTENERS);
	LIST_REMOVE(l, link);
	nlisteners--;
	free(l);
}

/* Send @fd, already pinned, on the guest's listener end. */
static int send_pinned(struct glisten *l, int fd, const struct so_addr *local,
		   const struct so_addr *peer)
{
	struct gp_reply r = { .op = GP_ACCEPT, .status = 0 };
	uint8_t p[GP_REPLY_LEN];
	int e;

	r.local = *local;
	r.peer = *peer;
	gp_reply_encode(p, &r);
	if ((e = net_send_fd(l->sev.fd, p, sizeof(p), fd)) < 0)
		return e == -EAGAIN || e == -ETOOMANYREFS ? -EAGAIN : e;
	close(fd);
	l->accepted++;
	stats.accepted++;
	return 0;
}

int glisten_deliver(struct glisten *l, int fd, const struct so_addr *local,
		    const struct so_addr *peer)
{
	int e;

	/* Before the guest has its end (a helper listener whose LISTEN reply
	 * is still on its way) messages simply queue for it. */
	if (l->sev.fd < 0)
		return -ENOTCONN;
	/* Pinned once, here: a held connection (-EAGAIN) is sent again by
	 * seq_cb() as it is, its filter being locked.  One the guest
	 * cannot have is closed by the caller, as if the guest had
	 * refused it. */
	if ((e = pin_socket(fd)) < 0) {
		warn("guest listener on port %u: connection not given: %s",
		     l->bound.port, strerror(-e));
		return e == -EAGAIN ? -EIO : e;
	}
	return send_pinned(l, fd, local, peer);
}

static void host_accept_cb(struct ev *ev, uint32_t events);

static void host_resume(struct timer *t)
{
	struct glisten *l = container_of(t, struct glisten, pause);

	if (l->lev.fd >= 0 && l->held_fd < 0)
		ev_mod(&l->lev, EPOLLIN);
}

/* Our end of the seqpacket: room again, or the guest closed it. */
static void seq_cb(struct ev *ev, uint32_t events)
{
	struct glisten *l = container_of(ev, struct glisten, sev);
	char junk[GP_REPLY_LEN];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* recv() without a control buffer: any descriptor a
		 * misbehaving guest sends is discarded by the kernel. */
		ssize_t n = recv(ev->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			debug("guest pid %u closed its listener on port %u",
			      l->pid, l->bound.port);
			glisten_close(l);
			return;
		}
	}
	if ((events & EPOLLOUT) && l->held_fd >= 0) {
		int r = send_pinned(l, l->held_fd, &l->bound, &l->held_peer);
		if (r == -EAGAIN)
			return;
		if (r < 0)
			close(l->held_fd);
		l->held_fd = -1;
		ev_mod(&l->sev, EPOLLIN);
		if (l->lev.fd >= 0)
			ev_mod(&l->lev, EPOLLIN);
	}
}

static void host_accept_cb(struct ev *ev, uint32_t events)
{
	struct glisten *l = container_of(ev, struct glisten, lev);
	struct sockaddr_storage ss;

	(void)events;
	for (int i = 0; i < 64 && l->held_fd < 0; i++) {
		socklen_t sl = sizeof(ss);
		int fd = accept4(ev->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		static uint64_t last;

		if (fd < 0) {
			char what[48];
			snprintf(what, sizeof(what), "accept on host port %u",
				 l->host.port);
			accept_pause(&l->lev, &l->pause, &last, what);
			return;
		}
		struct so_addr peer;
		so_addr_from_sa(&peer, (struct sockaddr *)&ss);
		/* Report the peer in the family of the guest's socket: the
		 * host listener's family is listen-address's, not the
		 * guest's (an IPv6 guest socket sees ::ffff:a.b.c.d). */
		if (l->bound.family == 6)
			so_addr_map(&peer);
		else
			so_addr_unmap(&peer);
		int r = glisten_deliver(l, fd, &l->bound, &peer);
		if (r == -EAGAIN) {
			/* The guest is not accepting: hold this one and let
			 * the kernel backlog queue the rest. */
			if (!l->paused_logged)
				debug("guest pid %u not accepting on port %u: pausing the host listener",
				      l->pid, l->bound.port);
			l->paused_logged = true;
			l->held_fd = fd;
			l->held_peer = peer;
			ev_mod(&l->lev, 0);
			ev_mod(&l->sev, EPOLLIN | EPOLLOUT);
			return;
		}
		if (r < 0) {
			close(fd);
			return;
		}
	}
}

int glisten_new(const struct gp_req *req, const struct peer_id *who,
		struct quota *q, struct glisten **out)
{
	int sv[2], r;
	struct glisten *l;

	if (q && (r = quota_take_q(q, Q_LISTENERS)) < 0)
		return r;
	if (!(l = calloc(1, sizeof(*l)))) {
		quota_give(q, Q_LISTENERS);
		return -ENOMEM;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		quota_give(q, Q_LISTENERS);
		free(l);
		return r;
	}
	net_set_nonblock(sv[0]);
	l->lev.fd = -1;
	l->held_fd = -1;
	timer_init(&l->pause, host_resume);
	l->guest_end = sv[1];
	l->bound = req->addr;
	/* keyed by the kernel's word for the guest's namespace: loopback
	 * connects find only listeners of their own namespace */
	l->netns = who->netns;
	l->pid = (uint32_t)who->pid;
	l->backlog = req->backlog;
	if ((r = ev_add(&l->sev, sv[0], EPOLLIN, seq_cb)) < 0) {
		close(sv[0]);
		close(sv[1]);
		quota_give(q, Q_LISTENERS);
		free(l);
		return r;
	}
	l->quota = q;
	LIST_INSERT_HEAD(&all, l, link);
	nlisteners++;
	if (l->bound.port)
		table_add(l);
	*out = l;
	return 0;
}

int glisten_direct(struct glisten *l, const struct so_addr *host, bool v6only)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, r, one = 1;
	int backlog = l->backlog > 0 && l->backlog < 4096 ? (int)l->backlog : 4096;

	if (so_addr_to_sa(host, &ss, &sl) < 0)
		return -EAFNOSUPPORT;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) {
		int v = v6only;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	so_addr_from_sa(&l->host, (struct sockaddr *)&ss);
	/* A guest that bound port 0 learns the port the host picked. */
	if (!l->bound.port) {
		l->bound.port = l->host.port;
		table_add(l);
	}
	if (listen(fd, backlog) < 0)
		goto fail;
	if ((r = ev_add(&l->lev, fd, EPOLLIN, host_accept_cb)) < 0) {
		close(fd);
		return r;
	}
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

void glisten_shutdown(void)
{
	while (!LIST_EMPTY(&all))
		glisten_close(LIST_FIRST(&all));
}
