// SPDX-License-Identifier: MIT
/*
 * guest.c - the guest socket: each connection carries one request.
 *
 * Theory of operation: a guest shim connects, sends one 64-byte gp_req and
 * waits for one gp_reply (with a descriptor on success).  The request is
 * read without blocking and must be complete within guest_req_timeout_ms.
 * It is matched against the dispatch table and then, depending on the
 * route, answered at once (deny, errors), after a host connect (direct),
 * after the helper reports CONNECTED (helper), or after a loopback TCP pair
 * is made (guest-internal loopback).  While a request waits, the guest's
 * socket is watched: a guest that hangs up or sends more than one request
 * cancels it, and nothing it does touches any other request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

enum greq_state {
	G_READ,	  /* reading the request */
	G_DIRECT, /* host connect in progress */
	G_HELPER, /* waiting for the helper's CONNECTED */
	G_LISTEN, /* waiting for the helper's LISTEN reply */
	G_PAIR,	  /* making a loopback pair */
};

struct greq {
	struct ev gev;	/* the guest's request socket */
	struct ev hev;	/* G_DIRECT: the host socket */
	struct timer timer;
	uint8_t state;
	uint8_t got;
	uint8_t buf[GP_REQ_LEN];
	struct gp_req req;
	struct so_addr dst; /* G_DIRECT: where we connect */
	uint32_t pid;	    /* SO_PEERCRED, for logs */
	struct rconn *rc;   /* G_HELPER */
	struct glisten *lis; /* G_LISTEN */
	struct pair_req pair; /* G_PAIR */
	uint64_t since;
	struct greq *next, *prev;
};

uint64_t guest_req_timeout_ms = 10000;

static struct ev guest_lev = { .fd = -1 };
static struct timer guest_pause;

static void guest_resume(struct timer *t)
{
	(void)t;
	ev_mod(&guest_lev, EPOLLIN);
}
static char *guest_path;
static struct greq *greqs;
static unsigned ngreqs;

const struct gp_req *greq_req(const struct greq *g)
{
	return &g->req;
}

unsigned guest_pending_count(void)
{
	return ngreqs;
}

const char *greq_state(const struct greq *g)
{
	static const char *const n[] = { "request", "connecting",
					 "helper-connecting", "helper-listening",
					 "loopback" };
	return n[g->state];
}

void guest_foreach_pending(void (*fn)(struct greq *g, void *arg), void *arg)
{
	for (struct greq *g = greqs; g; g = g->next)
		fn(g, arg);
}

static void greq_free(struct greq *g)
{
	int fd = g->gev.fd;

	ev_del(&g->gev);
	if (fd >= 0)
		close(fd);
	if (g->hev.fd >= 0) {
		fd = g->hev.fd;
		ev_del(&g->hev);
		close(fd);
	}
	timer_cancel(&g->timer);
	if (pair_pending(&g->pair))
		pair_cancel(&g->pair);
	if (g->prev)
		g->prev->next = g->next;
	else
		greqs = g->next;
	if (g->next)
		g->next->prev = g->prev;
	ngreqs--;
	free(g);
}

void greq_reply(struct greq *g, int status, const struct so_addr *local,
		const struct so_addr *peer, int fd)
{
	struct gp_reply r = { .op = g->req.op ? g->req.op : GP_CONNECT,
			      .status = (uint16_t)status };
	uint8_t p[GP_REPLY_LEN];
	int e;

	if (local)
		r.local = *local;
	if (peer)
		r.peer = *peer;
	gp_reply_encode(p, &r);
	/* The guest waits for exactly this message and the socket is
	 * empty, so it fits; a failure means the guest is gone. */
	if (g->gev.fd >= 0 && (e = net_send_fd(g->gev.fd, p, sizeof(p), fd)) < 0)
		debug("guest pid %u: reply lost: %s", g->pid, strerror(-e));
	if (fd >= 0)
		close(fd);
	g->rc = NULL;
	g->lis = NULL;
	greq_free(g);
}

/* Give up on a waiting request: undo what it started, then answer. */
static void greq_abort(struct greq *g, int status)
{
	if (g->state == G_HELPER && g->rc) {
		struct rconn *rc = g->rc;
		g->rc = NULL;
		relay_cancel(rc);
	}
	if (g->state == G_LISTEN && g->lis) {
		struct glisten *l = g->lis;
		g->lis = NULL;
		l->greq = NULL;
		glisten_close(l);
	}
	greq_reply(g, status, NULL, NULL, -1);
}

void greq_rconn_gone(struct greq *g)
{
	g->rc = NULL;
}

void greq_glisten_gone(struct greq *g)
{
	g->lis = NULL;
}

static void greq_timeout(struct timer *t)
{
	struct greq *g = container_of(t, struct greq, timer);

	if (g->state == G_READ) {
		debug("guest pid %u: no complete request in time", g->pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	if (g->state == G_DIRECT)
		stats.direct_failed++;
	greq_abort(g, ETIMEDOUT);
}

/* ---- routes ---- */

static void direct_cb(struct ev *ev, uint32_t events)
{
	struct greq *g = container_of(ev, struct greq, hev);
	struct sockaddr_storage ls, ps;
	socklen_t ll = sizeof(ls), pl = sizeof(ps);
	struct so_addr local, peer;
	int fd = ev->fd, r;
	char a[NET_ADDRSTRLEN];

	(void)events;
	r = direct_finish(fd);
	if (r == -EINPROGRESS)
		return;
	if (r < 0) {
		debug("guest pid %u: direct connect to %s: %s", g->pid,
		      so_addr_str(&g->dst, a, sizeof(a)), strerror(-r));
		stats.direct_failed++;
		greq_reply(g, -r, NULL, NULL, -1);
		return;
	}
	if (getsockname(fd, (struct sockaddr *)&ls, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&ps, &pl) < 0) {
		stats.direct_failed++;
		greq_reply(g, errno ? errno : ECONNREFUSED, NULL, NULL, -1);
		return;
	}
	so_addr_from_sa(&local, (struct sockaddr *)&ls);
	so_addr_from_sa(&peer, (struct sockaddr *)&ps);
	/* The guest asked for this address; a rewrite is ours to know.
	 * An IPv6 guest socket rewritten to an IPv4 host gets its local
	 * address IPv4-mapped, as its own socket would report it. */
	peer = g->req.addr;
	if (peer.family == 6)
		so_addr_map(&local);
	ev_del(&g->hev);
	g->hev.fd = -1;
	/* The program decides blocking mode; the shim applies it. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	stats.direct++;
	debug("guest pid %u: direct %s handed off", g->pid,
	      so_addr_str(&g->dst, a, sizeof(a)));
	greq_reply(g, 0, &local, &peer, fd);
}

static void loop_pair_done(struct pair_req *p, int gfd, int kfd)
{
	struct greq *g = container_of(p, struct greq, pair);
	struct glisten *l = glisten_find(g->req.netns, g->req.addr.port);
	struct so_addr local = g->req.addr, peer = g->req.addr;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (gfd < 0 || !l || getsockname(gfd, (struct sockaddr *)&ss, &sl) < 0) {
		if (gfd >= 0) {
			close(gfd);
			close(kfd);
		}
		greq_reply(g, l ? ECONNREFUSED : ENOENT, NULL, NULL, -1);
		return;
	}
	/* Both ends see the guest's loopback address: the connector's
	 * local port is the pair's real port, which is unique. */
	local.port = net_port((struct sockaddr *)&ss);
	/* both ends go to guests here: blocking, like fresh sockets */
	fcntl(kfd, F_SETFL, fcntl(kfd, F_GETFL) & ~O_NONBLOCK);
	if (glisten_deliver(l, kfd, &peer, &local) < 0) {
		close(gfd);
		close(kfd);
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
		return;
	}
	stats.loopback++;
	greq_reply(g, 0, &local, &peer, gfd);
}

static void do_connect(struct greq *g)
{
	struct so_addr m = g->req.addr;
	struct rule *r;
	char a[NET_ADDRSTRLEN];
	int fd, e;

	if (g->req.flags & GP_F_LOOPBACK) {
		struct glisten *l = glisten_find(g->req.netns, g->req.addr.port);
		if (!l || l->greq) {
			greq_reply(g, ENOENT, NULL, NULL, -1);
			return;
		}
		g->state = G_PAIR;
		if ((e = pair_start(&g->pair, loop_pair_done)) < 0)
			greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	so_addr_unmap(&m);
	r = dconf_match(cfg, RULE_CONNECT, &m);
	if (!r) {
		stats.no_rule++;
		debug("guest pid %u: connect %s: no rule, denied", g->pid,
		      so_addr_str(&m, a, sizeof(a)));
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
		return;
	}
	r->hits++;
	switch (r->action) {
	case ACT_DENY:
		stats.denied++;
		debug("guest pid %u: connect %s: denied by line %d", g->pid,
		      so_addr_str(&m, a, sizeof(a)), r->line);
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
		return;
	case ACT_DIRECT:
		g->dst = g->req.addr;
		if (r->rw_family) {
			g->dst.family = r->rw_family;
			memcpy(g->dst.addr, r->rw_addr, 16);
		}
		if (r->rw_port)
			g->dst.port = r->rw_port;
		e = direct_connect(g, &g->dst, &fd);
		if (e < 0) {
			stats.direct_failed++;
			greq_reply(g, -e, NULL, NULL, -1);
			return;
		}
		if ((e = ev_add(&g->hev, fd, EPOLLOUT, direct_cb)) < 0) {
			close(fd);
			greq_reply(g, -e, NULL, NULL, -1);
			return;
		}
		g->state = G_DIRECT;
		timer_set(&g->timer, cfg->connect_timeout_ms);
		return;
	case ACT_HELPER: {
		struct helper *h = helper_find(cfg->helpers[r->helper].name);
		/* A helper that is down answers at once: never hang. */
		if (!h || h->state != H_UP) {
			stats.relay_failed++;
			greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
			return;
		}
		g->state = G_HELPER;
		timer_set(&g->timer, cfg->connect_timeout_ms);
		if ((e = relay_connect(h, g, &g->req.addr, r->target)) < 0) {
			stats.relay_failed++;
			greq_reply(g, -e, NULL, NULL, -1);
		}
		return;
	}
	}
}

void greq_set_rconn(struct greq *g, struct rconn *c)
{
	g->rc = c;
}

static void do_listen(struct greq *g)
{
	struct so_addr m = g->req.addr;
	struct glisten *l;
	struct rule *r;
	char a[NET_ADDRSTRLEN];
	int e;

	so_addr_unmap(&m);
	r = dconf_match(cfg, RULE_ACCEPT, &m);
	if (!r || r->action == ACT_DENY) {
		if (r)
			r->hits++;
		else
			stats.no_rule++;
		stats.denied++;
		debug("guest pid %u: listen %s: denied", g->pid,
		      so_addr_str(&m, a, sizeof(a)));
		greq_reply(g, EACCES, NULL, NULL, -1);
		return;
	}
	r->hits++;
	if (r->action == ACT_HELPER) {
		struct helper *h = helper_find(cfg->helpers[r->helper].name);
		if (!h || h->state != H_UP) {
			greq_reply(g, EADDRNOTAVAIL, NULL, NULL, -1);
			return;
		}
		if ((e = glisten_new(&g->req, &l)) < 0) {
			greq_reply(g, -e, NULL, NULL, -1);
			return;
		}
		l->pid = g->pid;
		l->greq = g;
		g->lis = l;
		g->state = G_LISTEN;
		timer_set(&g->timer, cfg->connect_timeout_ms);
		if ((e = relay_listen(h, l, r->target)) < 0) {
			g->lis = NULL;
			l->greq = NULL;
			glisten_close(l);
			greq_reply(g, -e, NULL, NULL, -1);
		}
		return;
	}
	/* direct: a host listener on listen-address (or the rule's address)
	 * and the rule's port (or the guest's).  A guest that bound its
	 * loopback address meant "local only": it gets the host's loopback,
	 * never listen-address, unless the rule names an address. */
	struct so_addr host;
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&host, 0, sizeof(host));
	if (r->rw_family) {
		host.family = r->rw_family;
		memcpy(host.addr, r->rw_addr, 16);
	} else if (so_addr_is_loopback(&m)) {
		host.family = m.family;
		if (m.family == 4) {
			host.addr[0] = 127;
			host.addr[3] = 1;
		} else {
			host.addr[15] = 1;
		}
	} else if (net_parse_ip(cfg->listen_address, 0, &ss, &sl) == 0) {
		so_addr_from_sa(&host, (struct sockaddr *)&ss);
		/* An IPv6 guest socket on the default IPv4 wildcard gets the
		 * IPv6 wildcard, dual-stack or not as the guest asked, so a
		 * program listening on both families gets both. */
		static const uint8_t zero[16];
		if (m.family == 6 && host.family == 4 &&
		    !memcmp(host.addr, zero, 4))
			host.family = 6;
	}
	host.port = r->rw_port ? r->rw_port : g->req.addr.port;
	if ((e = glisten_new(&g->req, &l)) < 0) {
		greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	l->pid = g->pid;
	if ((e = glisten_direct(l, &host,
				  g->req.flags & GP_F_V6ONLY)) < 0) {
		info("guest pid %u: listen on host %s: %s", g->pid,
		     so_addr_str(&host, a, sizeof(a)), strerror(-e));
		glisten_close(l);
		greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	stats.listeners++;
	info("guest pid %u: port %u served on host %s", g->pid,
	     g->req.addr.port, so_addr_str(&l->host, a, sizeof(a)));
	int gfd = l->guest_end;
	l->guest_end = -1;
	greq_reply(g, 0, &l->bound, NULL, gfd);
}

static void dispatch(struct greq *g)
{
	stats.guest_requests++;
	if (g->req.op == GP_CONNECT)
		do_connect(g);
	else
		do_listen(g);
}

static void greq_cb(struct ev *ev, uint32_t events)
{
	struct greq *g = container_of(ev, struct greq, gev);
	ssize_t n;

	(void)events;
	if (g->state != G_READ) {
		/* Nothing more may come while the request waits: EOF or
		 * stray bytes mean the guest gave up. */
		char junk[64];
		n = recv(ev->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		debug("guest pid %u hung up while waiting", g->pid);
		if (g->state == G_DIRECT)
			stats.direct_failed++;
		greq_abort(g, ECONNABORTED);
		return;
	}
	n = recv(ev->fd, g->buf + g->got, GP_REQ_LEN - g->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		debug("guest pid %u hung up mid-request", g->pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	g->got = (uint8_t)(g->got + n);
	if (g->got < GP_REQ_LEN)
		return;
	timer_cancel(&g->timer);
	if (gp_req_decode(g->buf, &g->req) < 0) {
		/* No reply: it does not speak our protocol. */
		debug("guest pid %u: malformed request, dropped", g->pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	dispatch(g);
}

static void guest_accept_cb(struct ev *ev, uint32_t events)
{
	(void)events;
	/* Bounded batch so a flood cannot starve the rest of the loop. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: the pending connection
				 * stays readable, so stop watching for a while
				 * instead of spinning. */
				static uint64_t last;
				if (ratelimit(&last))
					warn("guest socket: %s: pausing accepts",
					     strerror(errno));
				ev_mod(ev, 0);
				timer_set(&guest_pause, ACCEPT_PAUSE_MS);
			}
			return;
		}
		struct greq *g = calloc(1, sizeof(*g));
		if (!g) {
			close(fd);
			return;
		}
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
			g->pid = (uint32_t)cr.pid;
		g->hev.fd = -1;
		g->pair.cfd = -1;
		timer_init(&g->timer, greq_timeout);
		if (ev_add(&g->gev, fd, EPOLLIN, greq_cb) < 0) {
			close(fd);
			free(g);
			return;
		}
		g->since = now_ms();
		g->next = greqs;
		if (greqs)
			greqs->prev = g;
		greqs = g;
		ngreqs++;
		timer_set(&g->timer, guest_req_timeout_ms);
	}
}

int guest_init(const char *path, mode_t mode)
{
	int fd, r;

	fd = net_unix_listen(path, mode);
	if (fd < 0)
		return fd;
	timer_init(&guest_pause, guest_resume);
	if ((r = ev_add(&guest_lev, fd, EPOLLIN, guest_accept_cb)) < 0) {
		close(fd);
		return r;
	}
	guest_path = strdup(path);
	return 0;
}

void guest_shutdown(void)
{
	while (greqs)
		greq_abort(greqs, ECONNREFUSED);
	timer_cancel(&guest_pause);
	if (guest_path) {
		int fd = guest_lev.fd;
		ev_del(&guest_lev);
		close(fd);
		unlink(guest_path);
		free(guest_path);
		guest_path = NULL;
	}
}
