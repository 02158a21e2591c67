// SPDX-License-Identifier: MIT
/*
 * guest.c - the guest socket: each connection carries one request.
 *
 * Theory of operation: a guest shim connects, sends one 64-byte gp_req and
 * waits for one gp_reply (with a descriptor on success).  The request is
 * read without blocking and must be complete within guest_req_timeout_ms.
 * It is matched against the dispatch table and then, depending on the
 * route, answered at once (deny, errors), after a host connect (direct.c),
 * after the helper reports CONNECTED or answers LISTEN (relay.c), or after
 * a loopback TCP pair is made (guest-internal loopback, pair.c).  A route
 * answers through the request's struct waiter and never sees the request;
 * this file alone replies to guests.  While a request waits, the guest's
 * socket is watched: a guest that hangs up or sends more than one request
 * cancels it (through the route's cancel function), and nothing it does
 * touches any other request.
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

/* Who is asking: read from the kernel (SO_PEERCRED) when the guest
 * connects, never from the request's own fields. */
struct guest_id {
	uint32_t pid, uid, gid;
};

struct greq {
	struct ev gev;	/* the guest's request socket */
	struct timer timer;
	uint8_t state;
	uint8_t got;
	struct gp_req req;
	struct guest_id who;
	struct waiter w; /* G_DIRECT, G_HELPER, G_LISTEN */
	union {		 /* what the state needs: requests stay small */
		uint8_t buf[GP_REQ_LEN]; /* G_READ */
		struct direct direct;	 /* G_DIRECT */
		struct rconn *rc;	 /* G_HELPER */
		struct {		 /* G_LISTEN */
			struct glisten *lis;
			struct hlisten *hl;
		};
		struct pair_req pair;	 /* G_PAIR */
	};
	uint64_t since;
	LIST_ENTRY(greq) link;
};

uint64_t guest_req_timeout_ms = 10000;

static struct ev guest_lev = { .fd = -1 };
static struct timer guest_pause;
static char *guest_path;
static LIST_HEAD(, greq) greqs = LIST_HEAD_INITIALIZER(greqs);
static unsigned ngreqs;

static void guest_resume(struct timer *t)
{
	(void)t;
	ev_mod(&guest_lev, EPOLLIN);
}

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
	struct greq *g;

	LIST_FOREACH(g, &greqs, link)
		fn(g, arg);
}

static void greq_free(struct greq *g)
{
	int fd = g->gev.fd;

	ev_del(&g->gev);
	if (fd >= 0)
		close(fd);
	if (g->state == G_DIRECT)
		direct_cancel(&g->direct);
	timer_cancel(&g->timer);
	if (g->state == G_PAIR && pair_pending(&g->pair))
		pair_cancel(&g->pair);
	LIST_REMOVE(g, link);
	ngreqs--;
	free(g);
}

/**
 * greq_reply() - answer the guest and free the request.
 * @status: 0 or an errno for the guest
 * @fd:     descriptor to pass (SCM_RIGHTS) or -1; closed here either way
 */
static void greq_reply(struct greq *g, int status, const struct so_addr *local,
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
		debug("guest pid %u: reply lost: %s", g->who.pid, strerror(-e));
	if (fd >= 0)
		close(fd);
	greq_free(g);
}

/* Give up on a waiting request: cancel what its route started (the route
 * then stays silent), then answer. */
static void greq_abort(struct greq *g, int status)
{
	if (g->state == G_HELPER && g->rc)
		relay_cancel(g->rc);
	else if (g->state == G_LISTEN && g->hl)
		relay_listen_cancel(g->hl);
	greq_reply(g, status, NULL, NULL, -1);
}

static void greq_timeout(struct timer *t)
{
	struct greq *g = container_of(t, struct greq, timer);

	if (g->state == G_READ) {
		debug("guest pid %u: no complete request in time", g->who.pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	if (g->state == G_DIRECT)
		stats.direct_failed++;
	greq_abort(g, ETIMEDOUT);
}

/* ---- listeners: granting LISTEN ---- */

/* The guest's listener is ready (a host listener is up, or the helper said
 * yes): count it and pass the guest its end. */
static void listen_grant(struct greq *g, struct glisten *l)
{
	char a[NET_ADDRSTRLEN];

	stats.listeners++;
	if (l->feed)
		info("guest pid %u: port %u served by %s", g->who.pid,
		     l->bound.port, l->feed->name);
	else
		info("guest pid %u: port %u served on host %s", g->who.pid,
		     g->req.addr.port, so_addr_str(&l->host, a, sizeof(a)));
	greq_reply(g, 0, &l->bound, NULL, glisten_grant(l));
}

/* The route's answer for whatever the request waited on. */
static void greq_done(struct waiter *w, int status, const struct so_addr *local,
		      const struct so_addr *peer, int fd)
{
	struct greq *g = container_of(w, struct greq, w);

	if (g->state == G_LISTEN && status == 0) {
		listen_grant(g, g->lis);
		return;
	}
	greq_reply(g, status, local, peer, fd);
}

/* The rule for @m (the request's address, unmapped), counted: its hits,
 * or a request no rule matched. */
static struct rule *match(struct greq *g, int dir, struct so_addr *m)
{
	struct rule *r;

	*m = g->req.addr;
	so_addr_unmap(m);
	r = dconf_match(cfg, dir, m);
	if (r)
		r->hits++;
	else
		stats.no_rule++;
	return r;
}

static void listen_helper(struct greq *g, const struct rule *r)
{
	struct helper *h = helper_find(cfg->helpers[r->helper].name);
	struct glisten *l;
	int e;

	/* A helper that is down gets the listener when it is back
	 * (relay_listen()); the guest's listener just has no connections
	 * meanwhile. */
	if (!h) {
		greq_reply(g, EADDRNOTAVAIL, NULL, NULL, -1);
		return;
	}
	if ((e = glisten_new(&g->req, g->who.pid, &l)) < 0) {
		greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	g->state = G_LISTEN;
	g->lis = l;
	g->hl = NULL;
	timer_set(&g->timer, cfg->connect_timeout_ms);
	if ((e = relay_listen(h, l, r->target, &g->w, &g->hl)) < 0)
		greq_reply(g, -e, NULL, NULL, -1);
}

/* direct: a host listener on the address the rule makes of the guest's. */
static void listen_direct(struct greq *g, const struct rule *r,
			  const struct so_addr *m)
{
	struct so_addr host;
	struct glisten *l;
	char a[NET_ADDRSTRLEN];
	int e;

	direct_listen_host(r, &g->req.addr, m, &host);
	if ((e = glisten_new(&g->req, g->who.pid, &l)) < 0) {
		greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	if ((e = glisten_direct(l, &host, g->req.flags & GP_F_V6ONLY)) < 0) {
		info("guest pid %u: listen on host %s: %s", g->who.pid,
		     so_addr_str(&host, a, sizeof(a)), strerror(-e));
		glisten_close(l);
		greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	listen_grant(g, l);
}

static void do_listen(struct greq *g)
{
	struct so_addr m;
	struct rule *r = match(g, RULE_ACCEPT, &m);
	char a[NET_ADDRSTRLEN];

	if (!r || r->action == ACT_DENY) {
		stats.denied++;
		debug("guest pid %u: listen %s: denied", g->who.pid,
		      so_addr_str(&m, a, sizeof(a)));
		greq_reply(g, EACCES, NULL, NULL, -1);
		return;
	}
	if (r->action == ACT_HELPER)
		listen_helper(g, r);
	else
		listen_direct(g, r, &m);
}

/* ---- connects ---- */

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

/* To a listener of the same guest: a loopback TCP pair, one end each. */
static void connect_loopback(struct greq *g)
{
	struct glisten *l = glisten_find(g->req.netns, g->req.addr.port);
	int e;

	if (!l || !glisten_granted(l)) {
		greq_reply(g, ENOENT, NULL, NULL, -1);
		return;
	}
	g->state = G_PAIR;
	g->pair.cfd = -1;
	if ((e = pair_start(&g->pair, loop_pair_done)) < 0)
		greq_reply(g, -e, NULL, NULL, -1);
}

static void connect_direct(struct greq *g, const struct rule *r)
{
	int e;

	direct_init(&g->direct);
	if ((e = direct_start(&g->direct, r, &g->req.addr, g->who.pid, &g->w)) < 0) {
		stats.direct_failed++;
		greq_reply(g, -e, NULL, NULL, -1);
		return;
	}
	g->state = G_DIRECT;
	timer_set(&g->timer, cfg->connect_timeout_ms);
}

static void connect_helper(struct greq *g, const struct rule *r)
{
	struct helper *h = helper_find(cfg->helpers[r->helper].name);
	int e;

	/* A helper that is down answers at once: never hang. */
	if (!h || h->state != H_UP) {
		stats.relay_failed++;
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
		return;
	}
	g->state = G_HELPER;
	g->rc = NULL;
	timer_set(&g->timer, cfg->connect_timeout_ms);
	if ((e = relay_connect(h, &g->req.addr, r->target, g->req.pid, &g->w,
			       &g->rc)) < 0) {
		stats.relay_failed++;
		greq_reply(g, -e, NULL, NULL, -1);
	}
}

static void do_connect(struct greq *g)
{
	struct so_addr m;
	struct rule *r;
	char a[NET_ADDRSTRLEN];

	if (g->req.flags & GP_F_LOOPBACK) {
		connect_loopback(g);
		return;
	}
	r = match(g, RULE_CONNECT, &m);
	if (!r) {
		debug("guest pid %u: connect %s: no rule, denied", g->who.pid,
		      so_addr_str(&m, a, sizeof(a)));
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
		return;
	}
	if (r->action == ACT_DENY) {
		stats.denied++;
		debug("guest pid %u: connect %s: denied by line %d", g->who.pid,
		      so_addr_str(&m, a, sizeof(a)), r->line);
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
	} else if (r->action == ACT_DIRECT) {
		connect_direct(g, r);
	} else {
		connect_helper(g, r);
	}
}

/* ---- reading requests ---- */

static void dispatch(struct greq *g)
{
	stats.guest_requests++;
	if (g->req.op == GP_CONNECT)
		do_connect(g);
	else
		do_listen(g);
}

/* Nothing more may come while a request waits: EOF or stray bytes mean
 * the guest gave up. */
static void greq_watch(struct greq *g)
{
	char junk[64];
	ssize_t n = recv(g->gev.fd, junk, sizeof(junk), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	debug("guest pid %u hung up while waiting", g->who.pid);
	if (g->state == G_DIRECT)
		stats.direct_failed++;
	greq_abort(g, ECONNABORTED);
}

static void greq_cb(struct ev *ev, uint32_t events)
{
	struct greq *g = container_of(ev, struct greq, gev);
	ssize_t n;

	(void)events;
	if (g->state != G_READ) {
		greq_watch(g);
		return;
	}
	n = recv(ev->fd, g->buf + g->got, GP_REQ_LEN - g->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		debug("guest pid %u hung up mid-request", g->who.pid);
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
		debug("guest pid %u: malformed request, dropped", g->who.pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	dispatch(g);
}

/* The one place a request's identity is read: the kernel's word for who
 * is on the other end of @fd. */
static void guest_identify(struct greq *g, int fd)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
		g->who = (struct guest_id){ .pid = (uint32_t)cr.pid,
					    .uid = (uint32_t)cr.uid,
					    .gid = (uint32_t)cr.gid };
}

static void greq_new(int fd)
{
	struct greq *g = calloc(1, sizeof(*g));

	if (!g) {
		close(fd);
		return;
	}
	guest_identify(g, fd);
	g->w.done = greq_done;
	timer_init(&g->timer, greq_timeout);
	if (ev_add(&g->gev, fd, EPOLLIN, greq_cb) < 0) {
		close(fd);
		free(g);
		return;
	}
	g->since = now_ms();
	LIST_INSERT_HEAD(&greqs, g, link);
	ngreqs++;
	timer_set(&g->timer, guest_req_timeout_ms);
}

static void guest_accept_cb(struct ev *ev, uint32_t events)
{
	(void)events;
	/* Bounded batch so a flood cannot starve the rest of the loop. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		static uint64_t last;

		if (fd < 0) {
			accept_pause(ev, &guest_pause, &last, "guest socket");
			return;
		}
		greq_new(fd);
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
	while (!LIST_EMPTY(&greqs))
		greq_abort(LIST_FIRST(&greqs), ECONNREFUSED);
	timer_cancel(&guest_pause);
	unix_unlisten(&guest_lev, &guest_path);
}
