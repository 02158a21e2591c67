// SPDX-License-Identifier: MIT
/*
 * guest.c - the guest socket: each connection carries one request, or a
 * sequence of them when the guest asks to keep it (a channel, below).
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
 *
 * Who asks is what the kernel says about the connection, read on the
 * accepted socket: uid, gid and pid (SO_PEERCRED), the network namespace
 * (SO_NETNS_COOKIE: the accepted end of a Unix stream lives in the
 * connecting process's namespace) and, when the table asks for them, the
 * supplementary groups (SO_PEERGROUPS) and the cgroup (/proc/PID/cgroup,
 * checked against a pidfd from SO_PEERPIDFD so that a reused pid cannot
 * lend its cgroup).  The request itself carries no identity.  Limits are
 * per uid (quota.c) and, for guest-socket connections, global; a refusal
 * is answered at once.
 *
 * Channels: a request with GP_F_KEEP (CONNECT but LOOPBACK, RESOLVE,
 * REVERSE: answers that depend on the uid, gid and groups only, never on
 * the network namespace) asks that the connection stay open after the
 * reply, for the same process's next request.  Its identity stays what
 * the kernel said at accept: the guest side keeps a channel only in the
 * process, and with the credentials, that connected (gp-client.c).  The
 * reply says whether it is kept (GP_F_KEEP): only while the uid holds
 * fewer than `limit channels', and channel-idle is not 0.  A kept
 * connection waits in G_IDLE, holding one Q_CHANNELS unit and no pending
 * one; its next request takes a pending unit as a new connection would.
 * Requests on it are strictly one after the other: bytes while one waits
 * cancel it and close the channel, as on any connection.  sockoutd closes
 * a channel only while it is idle with nothing read (after channel-idle,
 * or the oldest idle one when `limit guests' is reached), so a request
 * that meets a closed channel was never seen and the guest may send it
 * again on a new connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "guest-pidfd.h"
#include "resolve.h"
#include "sockoutd.h"
#include "dns.h"

enum greq_state {
	G_READ,	  /* reading the request */
	G_DIRECT, /* host connect in progress */
	G_HELPER, /* waiting for the helper's CONNECTED */
	G_LISTEN, /* waiting for the helper's LISTEN reply */
	G_PAIR,	  /* making a loopback pair */
	G_RESOLVE, /* waiting for resolve.c's answer */
	G_IDLE,	   /* a kept connection between requests (a channel) */
};

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct greq {
	struct ev gev;	/* the guest's request socket */
	struct timer timer;
	uint8_t state;
	uint16_t got;
	struct gp_req req;
	struct peer_id who;  /* uid, gid, pid, netns; groups/cgroup: match() */
	struct quota *quota; /* the uid's pending unit */
	struct quota *chq;   /* the uid's channels unit, once kept */
	bool nokeep;	     /* close after this reply, whatever was asked */
	struct sep *ep;	     /* stream mode: the endpoint (stream.c) */
	struct waiter w; /* G_DIRECT, G_HELPER, G_LISTEN */
	union {		 /* what the state needs: requests stay small */
		uint8_t buf[GP_REQ_LEN + GP_NAME_MAX]; /* G_READ */
		struct direct direct;	 /* G_DIRECT */
		struct rconn *rc;	 /* G_HELPER */
		struct {		 /* G_LISTEN */
			struct glisten *lis;
			struct hlisten *hl;
		};
		struct pair_req pair;	 /* G_PAIR */
		struct resolve_query *rq; /* G_RESOLVE */
	};
	uint64_t since;
	int gpidfd; /* seccomp: the program's pidfd (guest-pidfd.c), or -1 */
	pid_t gpid; /* the pid read from it, once listings need it */
	LIST_ENTRY(greq) link;
	TAILQ_ENTRY(greq) ilink; /* G_IDLE: on gidle, oldest first */
};

/* the pid listings show: the program's under seccomp (read when first
 * needed: a direct connection is not listed), else the peer's */
static struct peer_id shown(struct greq *g)
{
	struct peer_id w = g->who;

	if (g->gpidfd >= 0) {
		g->gpid = guest_pidfd_pid(g->gpidfd, &g->who);
		close(g->gpidfd);
		g->gpidfd = -1;
	}
	if (g->gpid)
		w.pid = g->gpid;
	return w;
}

uint64_t guest_req_timeout_ms = 10000;

static struct ev guest_lev = { .fd = -1 };
static struct timer guest_pause;
static char *guest_path;
static LIST_HEAD(, greq) greqs = LIST_HEAD_INITIALIZER(greqs);
static unsigned ngreqs;
static TAILQ_HEAD(, greq) gidle = TAILQ_HEAD_INITIALIZER(gidle);
static unsigned nidle, nchannels;

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
	return ngreqs - nidle;
}

unsigned guest_channel_count(void)
{
	return nchannels;
}

uint32_t greq_pid(const struct greq *g)
{
	return (uint32_t)(g->gpid ? g->gpid : g->who.pid);
}

const char *greq_state(const struct greq *g)
{
	static const char *const n[] = { "request", "connecting",
					 "helper-connecting", "helper-listening",
					 "loopback", "resolving", "idle" };
	return n[g->state];
}

void guest_foreach_pending(void (*fn)(struct greq *g, void *arg), void *arg)
{
	struct greq *g;

	LIST_FOREACH(g, &greqs, link)
		if (g->state != G_IDLE)
			fn(g, arg);
}

/* Whatever the request's route left behind (after an answer, nothing but
 * a closed descriptor: each route forgets what it answered). */
static void greq_clear(struct greq *g)
{
	if (g->gpidfd >= 0)
		close(g->gpidfd);
	g->gpidfd = -1;
	g->gpid = 0;
	if (g->state == G_DIRECT)
		direct_cancel(&g->direct);
	if (g->state == G_RESOLVE && g->rq)
		resolve_cancel(g->rq);
	timer_cancel(&g->timer);
	if (g->state == G_PAIR && pair_pending(&g->pair))
		pair_cancel(&g->pair);
	if (g->state == G_IDLE) {
		TAILQ_REMOVE(&gidle, g, ilink);
		nidle--;
	}
	quota_give(g->quota, Q_PENDING);
	g->quota = NULL;
}

static void greq_free(struct greq *g)
{
	int fd = g->gev.fd;

	ev_del(&g->gev);
	if (fd >= 0)
		close(fd);
	greq_clear(g);
	LIST_REMOVE(g, link);
	ngreqs--;
	if (g->chq) {
		quota_give(g->chq, Q_CHANNELS);
		nchannels--;
	}
	free(g);
}

/* Keep the connection after this reply?  Asked for, allowed, and within
 * the uid's `limit channels' (the unit is held until the channel goes). */
static bool greq_keep(struct greq *g)
{
	if (!(g->req.flags & GP_F_KEEP) || g->nokeep || g->ep ||
	    !cfg->channel_idle_ms || g->gev.fd < 0)
		return false;
	if (g->chq)
		return true;
	if (quota_take((uint32_t)g->who.uid, Q_CHANNELS, &g->chq) < 0) {
		g->chq = NULL;
		return false;
	}
	nchannels++;
	return true;
}

/* Answered on a kept connection: wait for the next request (the same
 * identity: the kernel's, read at accept). */
static void greq_idle(struct greq *g)
{
	greq_clear(g);
	g->state = G_IDLE;
	g->got = 0;
	memset(&g->req, 0, sizeof(g->req));
	TAILQ_INSERT_TAIL(&gidle, g, ilink);
	nidle++;
	timer_set(&g->timer, cfg->channel_idle_ms);
}

/**
 * greq_reply_ans() - answer the guest and free the request (or, on a
 * kept connection, wait for its next one: greq_idle()).
 * @status: 0 or an errno for the guest
 * @fd:     descriptor to pass (SCM_RIGHTS) or -1; closed here either way
 * @ans:    NULL, or the RESOLVE/REVERSE answer to send after the header
 */
static void greq_reply_ans(struct greq *g, int status, const struct so_addr *local,
			   const struct so_addr *peer, int fd,
			   const struct gp_answer *ans)
{
	struct gp_reply r = { .op = g->req.op ? g->req.op : GP_CONNECT,
			      .status = (uint16_t)status };
	uint8_t p[GP_REPLY_LEN + GP_ANSWER_MAX];
	bool keep = greq_keep(g);
	int e;

	if (local)
		r.local = *local;
	if (peer)
		r.peer = *peer;
	if (ans && !status)
		r.anslen = (uint16_t)gp_answer_encode(p + GP_REPLY_LEN, ans);
	if (keep)
		r.flags = GP_F_KEEP;
	gp_reply_encode(p, &r);
	if (g->ep) { /* stream mode: the stream itself goes on (stream.c) */
		int gfd = g->gev.fd;

		ev_del(&g->gev);
		stream_reply(g->ep, gfd, p, GP_REPLY_LEN + r.anslen, r.op, status, fd);
		greq_free(g);
		return;
	}
	/* The guest waits for exactly this message and the socket is
	 * empty, so it fits; a failure means the guest is gone. */
	e = 0;
	if (fd >= 0 && (e = pin_socket(fd)) < 0) {
		warn("guest pid %d: connection not given: %s", g->who.pid, strerror(-e));
		close(fd);
		fd = -1;
		r.status = ECONNREFUSED;
		r.anslen = 0;
		memset(&r.local, 0, sizeof(r.local));
		memset(&r.peer, 0, sizeof(r.peer));
		gp_reply_encode(p, &r);
		e = 0;
	}
	if (g->gev.fd >= 0 &&
	    (e = net_send_fd(g->gev.fd, p, GP_REPLY_LEN + r.anslen, fd)) < 0)
		debug("guest pid %d: reply lost: %s", g->who.pid, strerror(-e));
	if (fd >= 0)
		close(fd);
	if (keep && !e)
		greq_idle(g);
	else
		greq_free(g);
}

static void greq_reply(struct greq *g, int status, const struct so_addr *local,
		       const struct so_addr *peer, int fd)
{
	greq_reply_ans(g, status, local, peer, fd, NULL);
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

	if (g->state == G_IDLE) { /* nothing read: nothing lost */
		debug("guest pid %d: idle channel closed", g->who.pid);
		stats.channels_idle_closed++;
		greq_free(g);
		return;
	}
	if (g->state == G_READ) {
		debug("guest pid %d: no complete request in time", g->who.pid);
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
		info("guest pid %d: port %u served by %s", g->who.pid,
		     l->bound.port, l->feed->name);
	else
		info("guest pid %d: port %u served on host %s", g->who.pid,
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

/* Is the process behind @pidfd still alive?  A process we may not signal
 * (EPERM) exists all the same. */
static bool pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 ||
	       errno == EPERM;
}

/*
 * The guest's cgroup into @buf: /proc/PID/cgroup of the SO_PEERCRED pid,
 * trusted only if a pidfd taken from the socket (SO_PEERPIDFD, before
 * /proc is read) shows that the process is still alive afterwards, hence
 * that the pid was not reused in between.  Kernels without SO_PEERPIDFD
 * (before 6.5) get the unchecked answer.  Returns 0 or -errno.
 */
static int guest_cgroup(struct greq *g, char *buf, size_t len)
{
	int pidfd = -1, r;
	socklen_t l = sizeof(pidfd);

	if (getsockopt(g->gev.fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &l) < 0) {
		if (errno != ENOPROTOOPT && errno != EINVAL)
			return -errno;
		pidfd = -1;
	}
	r = peer_id_cgroup(g->who.pid, buf, len);
	if (r == 0 && pidfd >= 0 && !pidfd_alive(pidfd))
		r = -ESRCH;
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/* Does the running table have a `from' clause of kind @k? */
static bool table_uses(uint8_t k)
{
	for (size_t i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].from == k)
			return true;
	return false;
}

/* Say why a request ended denied when broad rules were passed over: the
 * one hint an administrator needs ("add an explicit rule"). */
static void log_why(struct greq *g, const char *what, const struct so_addr *m,
		    unsigned why)
{
	char a[NET_ADDRSTRLEN];

	if (why & TABLE_SKIP_LOCAL)
		info("guest pid %d (uid %u): %s %s: host-local, rules not naming it were skipped",
		     g->who.pid, (unsigned)g->who.uid, what,
		     so_addr_str(m, a, sizeof(a)));
	if (why & TABLE_SKIP_PRIVPORT)
		info("guest pid %d (uid %u): %s %s: port below 1024, accept direct rules not naming the port were skipped",
		     g->who.pid, (unsigned)g->who.uid, what,
		     so_addr_str(m, a, sizeof(a)));
}

/*
 * The rule for @m (the request's address, unmapped) for this guest,
 * counted: its hits, or a request no rule matched.  *@why: the rules
 * passed over (TABLE_SKIP_*).  The groups and the cgroup are read only
 * when the table has rules that look at them; when one of them cannot be
 * established the request matches nothing (fail closed: it could be the
 * subject of a deny).
 */
static struct rule *match(struct greq *g, int dir, struct so_addr *m,
			  unsigned *why)
{
	char cg[DCONF_CGROUP_MAX + 1];
	gid_t gbuf[64], *groups = gbuf;
	size_t ng = 0;
	struct peer_id who = g->who;
	struct rule *r = NULL;
	int e = 0;

	*m = g->req.addr;
	so_addr_unmap(m);
	*why = 0;
	/* a stream guest's groups are its endpoint's gid (who.groups) */
	if (table_uses(FROM_GID) && !g->ep) {
		e = peer_id_groups(g->gev.fd, gbuf, 64, &ng);
		if (e == -ERANGE && (groups = calloc(65536, sizeof(gid_t))))
			e = peer_id_groups(g->gev.fd, groups, 65536, &ng);
		else if (e == -ERANGE)
			e = -ENOMEM;
		who.groups = groups;
		who.ngroups = ng;
	}
	if (!e && table_uses(FROM_CGROUP) && !g->ep) {
		e = guest_cgroup(g, cg, sizeof(cg));
		who.cgroup = cg;
	}
	if (e)
		warn("guest pid %d (uid %u): cannot tell its %s: %s; no rule matches",
		     g->who.pid, (unsigned)g->who.uid,
		     who.cgroup ? "cgroup" : "groups", strerror(-e));
	else
		r = table_match(cfg, dir, m, &who, why);
	if (groups != gbuf)
		free(groups);
	if (r)
		r->hits++;
	else
		stats.no_rule++;
	return r;
}

/* greq_glisten() - the guest's listener, shown with the program's pid and
 * marked with its mechanism; NULL when refused (the guest is answered and
 * @g freed then). */
static struct glisten *greq_glisten(struct greq *g)
{
	struct peer_id w = shown(g);
	struct glisten *l;
	int e;

	if ((e = glisten_new(&g->req, &w, g->quota, &l)) < 0) {
		greq_reply(g, -e, NULL, NULL, -1);
		return NULL;
	}
	l->seccomp = g->req.flags & GP_F_SECCOMP;
	return l;
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
	if (!(l = greq_glisten(g)))
		return;
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
	if (!(l = greq_glisten(g)))
		return;
	if ((e = glisten_direct(l, &host, g->req.flags & GP_F_V6ONLY)) < 0) {
		info("guest pid %d: listen on host %s: %s", g->who.pid,
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
	unsigned why;
	struct rule *r = match(g, RULE_ACCEPT, &m, &why);
	char a[NET_ADDRSTRLEN];

	if (!r || r->action == ACT_DENY) {
		stats.denied++;
		log_why(g, "listen", &m, why);
		debug("guest pid %d: listen %s: denied", g->who.pid,
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
	struct glisten *l = glisten_find(g->who.netns, g->req.addr.port);
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

/* To a listener of the same guest (the same network namespace, as the
 * kernel says): a loopback TCP pair, one end each. */
static void connect_loopback(struct greq *g)
{
	struct glisten *l = glisten_find(g->who.netns, g->req.addr.port);
	int e;

	/* no cookie (a kernel before 5.14): no namespace is told apart */
	if (!g->who.netns || !l || !glisten_granted(l)) {
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
	/* Waiting from here: a connect that completes at once is answered
	 * inside direct_start(), which then frees g. */
	g->state = G_DIRECT;
	timer_set(&g->timer, cfg->connect_timeout_ms);
	if ((e = direct_start(&g->direct, r, &g->req.addr, (uint32_t)g->who.pid,
			      &g->w)) < 0) {
		stats.direct_failed++;
		greq_reply(g, -e, NULL, NULL, -1);
	}
}

/* Through helper number @hi, to @target; @name: the host name a
 * placeholder stands for, or NULL. */
static void connect_helper(struct greq *g, int hi, const char *target,
			   const char *name)
{
	struct helper *h = helper_find(cfg->helpers[hi].name);
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
	if ((e = relay_connect(h, &g->req.addr, target, name, (uint32_t)shown(g).pid,
			       g->quota, &g->w, &g->rc)) < 0) {
		stats.relay_failed++;
		greq_reply(g, -e, NULL, NULL, -1);
	} else if (g->req.flags & GP_F_SECCOMP) {
		rconn_mark_seccomp(g->rc);
	}
}

/* ---- names (resolve.c) ---- */

/* A connect to a placeholder: to the helper its name is routed to now,
 * for this guest, with the name as what to reach. */
static void connect_placeholder(struct greq *g)
{
	struct resolve_route rt;
	char a[NET_ADDRSTRLEN];
	int e = resolve_route(&g->req.addr, &g->who, &rt);

	if (e < 0) {
		stats.denied++;
		debug("guest pid %d: connect %s: placeholder %s", g->who.pid,
		      so_addr_str(&g->req.addr, a, sizeof(a)),
		      e == -ENOENT ? "unknown" : "no longer routed to a helper");
		greq_reply(g, e == -ENOENT ? EHOSTUNREACH : ECONNREFUSED, NULL,
			   NULL, -1);
		return;
	}
	rt.rule->hits++;
	connect_helper(g, rt.helper, rt.target, rt.name);
}

static void resolve_done(void *arg, const struct resolve_answer *a)
{
	struct greq *g = arg;
	struct gp_answer ans = { .ttl = a->ttl, .n = (uint8_t)a->n };

	g->rq = NULL;
	memcpy(ans.canon, a->canon, sizeof(ans.canon));
	memcpy(ans.addr, a->addr, a->n * sizeof(*a->addr));
	greq_reply_ans(g, -a->status, NULL, NULL, -1, &ans);
}

static void do_resolve(struct greq *g)
{
	static const int fam[] = { [0] = AF_UNSPEC, [4] = AF_INET, [6] = AF_INET6 };
	int e;

	g->state = G_RESOLVE;
	g->rq = NULL;
	timer_set(&g->timer, cfg->connect_timeout_ms);
	/* the query holds the uid's pending unit from now on: hand ours
	 * over rather than count one request twice */
	quota_give(g->quota, Q_PENDING);
	g->quota = NULL;
	if ((e = resolve_start(&g->who, g->req.name, fam[g->req.family],
			       resolve_done, g, &g->rq)) < 0)
		greq_reply(g, -e, NULL, NULL, -1);
}

static void do_reverse(struct greq *g)
{
	struct gp_answer ans = { .ttl = RESOLVE_PLACEHOLDER_TTL };
	int e = resolve_reverse(&g->req.addr, ans.canon, sizeof(ans.canon));

	greq_reply_ans(g, -e, NULL, NULL, -1, &ans);
}

static void do_connect(struct greq *g)
{
	struct so_addr m;
	struct rule *r;
	unsigned why;
	char a[NET_ADDRSTRLEN];

	if (g->req.flags & GP_F_LOOPBACK) {
		connect_loopback(g);
		return;
	}
	/* a placeholder stands for a name: its resolve rule routes it, no
	 * connect rule may send it anywhere as an address */
	if (resolve_is_placeholder(&g->req.addr)) {
		connect_placeholder(g);
		return;
	}
	r = match(g, RULE_CONNECT, &m, &why);
	if (!r || r->action == ACT_DENY)
		log_why(g, "connect", &m, why);
	if (!r) {
		debug("guest pid %d: connect %s: no rule, denied", g->who.pid,
		      so_addr_str(&m, a, sizeof(a)));
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
		return;
	}
	if (r->action == ACT_DENY) {
		stats.denied++;
		debug("guest pid %d: connect %s: denied by line %d", g->who.pid,
		      so_addr_str(&m, a, sizeof(a)), r->line);
		greq_reply(g, ECONNREFUSED, NULL, NULL, -1);
	} else if (r->action == ACT_DIRECT) {
		connect_direct(g, r);
	} else {
		connect_helper(g, r->helper, r->target, NULL);
	}
}

/* ---- reading requests ---- */

/* A DNS message follows the header: dns.c reads it, answers and closes
 * the connection, which is its own from now on. */
static void dispatch_dns(struct greq *g)
{
	int fd = g->gev.fd;

	ev_del(&g->gev);
	g->gev.fd = -1;
	dns_take(fd, &g->who, g->req.flags);
	greq_free(g);
}

/* Stream mode: the accepted connection the guest's token stands for. */
static void do_claim(struct greq *g)
{
	struct so_addr local, peer;
	int fd, e = stream_claim(g->ep, g->req.token, &fd, &local, &peer);

	if (e < 0)
		greq_reply(g, -e, NULL, NULL, -1);
	else
		greq_reply(g, 0, &local, &peer, fd);
}

static void dispatch(struct greq *g)
{
	stats.guest_requests++;
	if (g->chq) /* kept after an earlier request */
		stats.channel_requests++;
	switch (g->req.op) {
	case GP_DNS:
		dispatch_dns(g);
		break;
	case GP_CONNECT:
		do_connect(g);
		break;
	case GP_RESOLVE:
		do_resolve(g);
		break;
	case GP_REVERSE:
		do_reverse(g);
		break;
	case GP_CLAIM:
		do_claim(g);
		break;
	default:
		do_listen(g);
	}
}

/* Nothing more may come while a request waits: EOF or stray bytes mean
 * the guest gave up. */
static void greq_watch(struct greq *g)
{
	char junk[64];
	ssize_t n = recv(g->gev.fd, junk, sizeof(junk), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	debug("guest pid %d hung up while waiting", g->who.pid);
	if (g->state == G_DIRECT)
		stats.direct_failed++;
	g->nokeep = true; /* a second request while one waits: close */
	greq_abort(g, ECONNABORTED);
}

/*
 * A kept connection woke up: its next request begins (or the guest hung
 * up, which greq_cb() tells by the read), and needs a pending unit like a
 * new connection.  Returns 0 to read the request, -1 when @g was freed.
 */
static int greq_wake(struct greq *g)
{
	int fd, e;

	if ((e = quota_take_q(g->chq, Q_PENDING)) < 0) {
		/* refused as a new connection would be, unread */
		fd = g->gev.fd;
		ev_del(&g->gev);
		g->gev.fd = -1;
		guest_refuse(fd, -e);
		greq_free(g);
		return -1;
	}
	TAILQ_REMOVE(&gidle, g, ilink);
	nidle--;
	g->quota = g->chq;
	g->state = G_READ;
	g->since = now_ms();
	timer_set(&g->timer, guest_req_timeout_ms);
	return 0;
}

static void greq_cb(struct ev *ev, uint32_t events)
{
	struct greq *g = container_of(ev, struct greq, gev);
	ssize_t n;

	(void)events;
	if (g->state == G_IDLE && greq_wake(g) < 0)
		return;
	if (g->state != G_READ) {
		greq_watch(g);
		return;
	}
	/* the header first; a RESOLVE's name after it, once its length is
	 * known (g->req.namelen, checked by gp_req_decode()) */
	size_t want = GP_REQ_LEN + (g->got >= GP_REQ_LEN ? g->req.namelen : 0);
	{
		int pidfd = -1;

		n = net_recv_fd(ev->fd, g->buf + g->got, want - g->got, &pidfd);
		if (pidfd >= 0 && g->gpidfd < 0)
			g->gpidfd = pidfd;
		else if (pidfd >= 0)
			close(pidfd);
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 && !g->got && g->chq) {
		/* the guest closed its channel between requests */
		debug("guest pid %d closed its channel", g->who.pid);
		greq_free(g);
		return;
	}
	if (n <= 0) {
		debug("guest pid %d hung up mid-request", g->who.pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	g->got = (uint16_t)(g->got + n);
	if (g->got < want)
		return;
	/* stream mode exactly on stream endpoints: a guest that expects a
	 * descriptor gets none there, and the guest socket keeps none */
	if ((g->got == GP_REQ_LEN &&
	     (gp_req_decode(g->buf, &g->req) < 0 ||
	      !(g->req.flags & GP_F_STREAM) != !g->ep)) ||
	    (g->got > GP_REQ_LEN &&
	     gp_req_name_decode(g->buf + GP_REQ_LEN, g->req.namelen, &g->req) < 0)) {
		/* No reply: it does not speak our protocol. */
		debug("guest pid %d: malformed request, dropped", g->who.pid);
		stats.bad_requests++;
		greq_free(g);
		return;
	}
	if (g->got == GP_REQ_LEN && g->req.namelen)
		return; /* the name is still to come */
	timer_cancel(&g->timer);
	if (!(g->req.flags & GP_F_SECCOMP) && g->gpidfd >= 0) {
		close(g->gpidfd);
		g->gpidfd = -1;
	}
	dispatch(g);
}

/*
 * The one place a request's identity is read: the kernel's word for who
 * is on the other end of @fd (fixed when the guest connected).  Without
 * credentials nothing can be decided: -errno.  Without a netns cookie
 * (kernels before 5.14) netns stays 0 and loopback is refused.
 */
static int guest_identify(struct peer_id *who, int fd)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	uint64_t cookie = 0;
	socklen_t kl = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
		return -errno;
	*who = (struct peer_id){ .uid = cr.uid, .gid = cr.gid, .pid = cr.pid };
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &kl) == 0 &&
	    kl == sizeof(cookie))
		who->netns = cookie;
	return 0;
}

/* Turn a guest away before reading its request: op GP_REFUSED answers
 * whatever it was going to ask. */
void guest_refuse(int fd, int status)
{
	struct gp_reply r = { .op = GP_REFUSED, .status = (uint16_t)status };
	uint8_t p[GP_REPLY_LEN];

	gp_reply_encode(p, &r);
	(void)!send(fd, p, sizeof(p), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* A request stream from @who (@ep: a stream endpoint, or NULL). */
static void greq_start(int fd, const struct peer_id *whop, struct sep *ep)
{
	static uint64_t last;
	struct peer_id who = *whop;
	struct quota *q;
	struct greq *g;
	int e;

	/* the global cap first, then the uid's own: a uid at its limit
	 * takes nothing from the others */
	/* an idle channel is closed rather than a new connection refused:
	 * its guest just connects again (nothing of it was read) */
	if (ngreqs >= cfg->limits.guests && !TAILQ_EMPTY(&gidle)) {
		stats.channels_idle_closed++;
		greq_free(TAILQ_FIRST(&gidle));
	}
	if (ngreqs >= cfg->limits.guests) {
		quota_stats.refused_guests++;
		if (ratelimit(&last))
			warn("guest socket: %u connections held (limit guests): refusing",
			     ngreqs);
		guest_refuse(fd, EAGAIN);
		return;
	}
	if ((e = quota_take((uint32_t)who.uid, Q_PENDING, &q)) < 0) {
		guest_refuse(fd, -e);
		return;
	}
	if (!(g = calloc(1, sizeof(*g)))) {
		quota_give(q, Q_PENDING);
		close(fd);
		return;
	}
	g->who = who;
	g->gpidfd = -1;
	g->quota = q;
	g->ep = ep;
	g->w.done = greq_done;
	timer_init(&g->timer, greq_timeout);
	if (ev_add(&g->gev, fd, EPOLLIN, greq_cb) < 0) {
		quota_give(q, Q_PENDING);
		close(fd);
		free(g);
		return;
	}
	g->since = now_ms();
	LIST_INSERT_HEAD(&greqs, g, link);
	ngreqs++;
	timer_set(&g->timer, guest_req_timeout_ms);
	/* The shim sends its request right after connecting: it is usually
	 * here already, so read it now rather than after a loop pass (an
	 * empty socket just says EAGAIN).  May free g. */
	greq_cb(&g->gev, EPOLLIN);
}

static void greq_new(int fd)
{
	struct peer_id who;
	int e;

	stats.guest_connections++;
	if ((e = guest_identify(&who, fd)) < 0) {
		warn("guest socket: no peer credentials: %s", strerror(-e));
		close(fd);
		return;
	}
	greq_start(fd, &who, NULL);
}

/* stream.c's streams, through main.c's struct stream_hooks */
void guest_adopt(int fd, const struct peer_id *who, struct sep *ep)
{
	greq_start(fd, who, ep);
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
	while (!TAILQ_EMPTY(&gidle))
		greq_free(TAILQ_FIRST(&gidle));
	while (!LIST_EMPTY(&greqs)) {
		LIST_FIRST(&greqs)->nokeep = true;
		greq_abort(LIST_FIRST(&greqs), ECONNREFUSED);
	}
	timer_cancel(&guest_pause);
	unix_unlisten(&guest_lev, &guest_path);
}
