// SPDX-License-Identifier: MIT
/*
 * relay.c - the helper route: connections and listeners carried by a
 * helper, from CONNECT or ACCEPTED to CLOSE (the bytes in between: pump.c).
 *
 * Theory of operation.  A guest's connect becomes CONNECT(id) with an id
 * we pick; the helper answers CONNECTED (or CONNECT_FAILED, or an error
 * reply) on the event socket.  Then a loopback TCP pair is made (pair.c),
 * one end goes to the guest through its waiter, the other to the pump.  A
 * guest's listen becomes LISTEN(listener id); the reply grants it (the
 * waiter), and every ACCEPTED(id, listener id) later is paired the same
 * way and delivered to the guest listener (listen.c).
 *
 * Handoff: with a helper that offers SO_CAP_HANDOFF, our end of the pair
 * goes to the helper (HANDOFF, SCM_RIGHTS) instead of into a pump, and
 * the helper moves the bytes itself.  We keep our copy of the descriptor
 * (hfd): the connection ends when we close it, orderly or with a reset,
 * after the helper's FINISHED, and its TCP_INFO counts the bytes for
 * `sockoutctl connections' meanwhile.  A refused HANDOFF (or one that
 * cannot be sent at once) falls back to the pump.
 *
 *   CLOSED, an error reply, or a guest reset: the guest end is closed with
 *   SO_LINGER {1,0} (the guest sees ECONNRESET) and CLOSE(id, errno) is
 *   sent.  Both directions finished: CLOSE(id, 0).
 *
 * Hand-back: a helper that offers SO_CAP_HANDBACK may answer CONNECT with
 * CONNECTED flagged SO_F_FD and its own connected TCP socket attached:
 * that socket is the connection.  It goes to the guest as the direct
 * route's does (no pair, no pump, no helper in the data path) once the
 * kernel says it is a TCP socket, established; else the guest's connect
 * fails.  The helper has forgotten the id: no CLOSE goes out for it, and
 * the rconn is freed as soon as the CONNECT reply is in (until then the
 * reply could still name the id).  An ACCEPTED flagged so goes straight
 * to the guest listener and never has an rconn.  Such connections are
 * counted (stats.handed_back) but, as direct ones, not listed, and their
 * bytes are not counted.
 *
 * A connection stays in the table until its CLOSE is answered, so that an
 * id is never reused while the helper may still send replies or events for
 * it.  A helper that goes down takes its connections (reset) with it; its
 * listeners stay with their guests and are registered again when it is
 * back (struct hlisten).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

#define RHASH 16384u

enum rc_state { RC_CONNECTING, RC_PAIRING, RC_OPEN, RC_CLOSING };

struct rconn {
	struct pump pump;   /* the id, the helper, the bytes */
	uint8_t state;
	bool accepted;	    /* came from a helper listener */
	uint32_t lid;	    /* accepted: the listener */
	uint32_t pid;
	bool seccomp; /* for listings: the guest's mechanism */
	struct quota *quota; /* the guest uid's connections unit */
	struct waiter *w;   /* outbound: the guest waiting for CONNECTED */
	struct pair_req pair;
	struct so_addr dst;   /* outbound: destination; accepted: peer */
	struct so_addr local; /* what CONNECTED said, if anything */
	int hfd;	      /* handed: our copy of the guest end, else -1 */
	bool handing;	      /* HANDOFF sent, its reply not yet here */
	bool finished;	      /* FINISHED came: bytes are the helper's */
	bool replied;	      /* the CONNECT reply came */
	bool handed_back;     /* CONNECTED with the socket (SO_F_FD): the
				 helper forgot the id; free once replied */
	uint64_t since;
	LIST_ENTRY(rconn) hlink; /* hash chain */
	LIST_ENTRY(rconn) link;	 /* helper's connections */
};

/*
 * A guest listener registered with a helper (LISTEN).  It outlives the
 * helper's sessions: when the helper goes down the guest keeps its
 * listener (it simply gets no connections), and when the helper is up
 * again the same LISTEN goes out again, as sockout-ssh re-requests its
 * forwards after a new login.  Only a refusal then closes the guest's
 * listener.
 */
struct hlisten {
	uint32_t id;
	bool live;		 /* the helper's session knows it: UNLISTEN */
	bool again;		 /* the LISTEN out is a re-registration */
	struct helper *h;
	struct glisten *l;
	struct waiter *w;	 /* the guest waiting for the LISTEN reply */
	struct timer grant;	 /* helper down: grant from the loop */
	size_t reqlen;		 /* the LISTEN payload, kept for re-sending */
	uint8_t req[SO_ADDR_LEN + 1 + SO_MAX_TARGET];
	struct glisten_feed feed;
	LIST_ENTRY(hlisten) link; /* h->listeners, from creation to gone */
};

static LIST_HEAD(, rconn) rtab[RHASH];
static uint32_t next_id = 1, next_lid = 1;
static unsigned nrconns;

static unsigned rkey(const struct helper *h, uint32_t id)
{
	return hash_slot(hash_pair((uintptr_t)h, id), RHASH);
}

static struct rconn *rfind(const struct helper *h, uint32_t id)
{
	struct rconn *c;

	LIST_FOREACH(c, &rtab[rkey(h, id)], hlink)
		if (c->pump.h == h && c->pump.id == id)
			return c;
	return NULL;
}

unsigned relay_count(void)
{
	return nrconns;
}

void relay_foreach(void (*fn)(struct rconn *c, void *arg), void *arg)
{
	struct helper *h;
	struct rconn *c;

	TAILQ_FOREACH(h, &helpers, link)
		LIST_FOREACH(c, &h->conns, link)
			fn(c, arg);
}

/* glibc's struct tcp_info stops before the byte counters that Linux 4.1
 * (bytes_acked, bytes_received) and 4.19 (bytes_sent, bytes_retrans)
 * added; the kernel's layout goes on with them (linux/tcp.h, which cannot
 * be included beside netinet/tcp.h). */
struct tcp_info_bytes {
	struct tcp_info base;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in, notsent_bytes, min_rtt, data_segs_in,
		data_segs_out;
	uint64_t delivery_rate, busy_time, rwnd_limited, sndbuf_limited;
	uint32_t delivered, delivered_ce;
	uint64_t bytes_sent, bytes_retrans;
};
_Static_assert(offsetof(struct tcp_info_bytes, pacing_rate) == 104,
	       "struct tcp_info_bytes does not match the kernel's layout");
_Static_assert(offsetof(struct tcp_info_bytes, bytes_sent) == 200,
	       "struct tcp_info_bytes does not match the kernel's layout");

/* A handed connection's bytes, from the kernel's counters on our copy
 * of the guest end (the pump counts none): what the guest sent, and what
 * went down to it.  Down is what left this socket (sent less resent:
 * on loopback nothing is lost), not what the guest has acknowledged: its
 * last segment's ACK may wait for the delayed-ACK timer, and a guest that
 * has read every byte would be shown short meanwhile.  Kernels before
 * 4.19 have only the acknowledged count. */
static void hand_bytes(struct rconn *c)
{
	struct tcp_info_bytes ti;
	socklen_t len = sizeof(ti);
	uint64_t down;

	if (c->hfd < 0 || c->finished)
		return;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(c->hfd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info_bytes, segs_out))
		return;
	down = ti.bytes_acked;
	if (len >= offsetof(struct tcp_info_bytes, bytes_retrans) +
			   sizeof(ti.bytes_retrans) &&
	    ti.bytes_sent - ti.bytes_retrans > down)
		down = ti.bytes_sent - ti.bytes_retrans;
	if (ti.bytes_received > c->pump.bytes_up)
		c->pump.bytes_up = ti.bytes_received;
	if (down > c->pump.bytes_down)
		c->pump.bytes_down = down;
}

/* Close our copy of a handed guest end: the guest sees the end now. */
static void hand_close(struct rconn *c, bool reset)
{
	if (c->hfd < 0)
		return;
	hand_bytes(c);
	if (reset)
		net_close_reset(c->hfd);
	else
		close(c->hfd);
	c->hfd = -1;
}

void rconn_info(const struct rconn *c, struct rconn_info *i)
{
	static const char *const st[] = { "connecting", "connecting", "open",
					  "closing" };
	bool half = c->pump.up.eof || c->pump.down.eof;

	i->id = c->pump.id;
	i->helper = c->pump.h->name;
	i->state = c->state == RC_OPEN && half ? "half-closed" : st[c->state];
	i->pid = c->pid;
	i->dst = c->dst;
	hand_bytes((struct rconn *)c);
	i->bytes_up = c->pump.bytes_up;
	i->bytes_down = c->pump.bytes_down;
	i->age_ms = now_ms() - c->since;
	i->seccomp = c->seccomp;
}

void rconn_mark_seccomp(struct rconn *c)
{
	c->seccomp = true;
}

static void conn_close(struct rconn *c, int err);

static void pump_end(struct pump *p, int err)
{
	conn_close(container_of(p, struct rconn, pump), err);
}

static struct rconn *rconn_new(struct helper *h, uint32_t id)
{
	struct rconn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pump_init(&c->pump, h, id, pump_end);
	c->pair.cfd = -1;
	c->hfd = -1;
	c->since = now_ms();
	LIST_INSERT_HEAD(&rtab[rkey(h, id)], c, hlink);
	LIST_INSERT_HEAD(&h->conns, c, link);
	h->nconns++;
	h->total_conns++;
	nrconns++;
	return c;
}

static void rconn_free(struct rconn *c)
{
	struct helper *h = c->pump.h;

	pump_stop(&c->pump, true);
	hand_close(c, true);
	pair_cancel(&c->pair);
	LIST_REMOVE(c, hlink);
	LIST_REMOVE(c, link);
	stats.bytes_up += c->pump.bytes_up;
	stats.bytes_down += c->pump.bytes_down;
	h->nconns--;
	nrconns--;
	quota_give(c->quota, Q_CONNECTIONS);
	free(c);
}

/**
 * conn_close() - end the connection: answer a guest still waiting, close
 * the guest end (abortively when @err) and tell the helper CLOSE(id,
 * @err).  @c may be freed: callers do not touch it afterwards.
 */
static void conn_close(struct rconn *c, int err)
{
	if (c->state == RC_CLOSING)
		return;
	waiter_finish(&c->w, err ? err : ECONNREFUSED, NULL, NULL, -1);
	pump_stop(&c->pump, err != 0);
	hand_close(c, err != 0);
	pair_cancel(&c->pair);
	c->state = RC_CLOSING;
	if (helper_send(c->pump.h, SO_CLOSE, c->pump.id, (uint32_t)err, NULL, 0) < 0)
		rconn_free(c);
}

/* Open: the guest has its end (or the listener got it); start moving. */
static void conn_open(struct rconn *c, int keep)
{
	if ((c->pump.h->caps & SO_CAP_HANDOFF) &&
	    helper_send_fd(c->pump.h, SO_HANDOFF, c->pump.id, keep) == 0) {
		c->hfd = keep;
		c->handing = true;
		c->state = RC_OPEN;
		stats.relayed++;
		return;
	}
	if (pump_open(&c->pump, keep) < 0) {
		conn_close(c, ENOMEM);
		return;
	}
	c->state = RC_OPEN;
	stats.relayed++;
}

static struct hlisten *hlisten_find(struct helper *h, uint32_t id)
{
	struct hlisten *hl;

	LIST_FOREACH(hl, &h->listeners, link)
		if (hl->id == id)
			return hl;
	return NULL;
}

/* An accepted connection's pair is ready: its end goes to the listener. */
static void accepted_paired(struct rconn *c, int gfd, int kfd)
{
	struct helper *h = c->pump.h;
	struct hlisten *hl = hlisten_find(h, c->lid);

	if (!hl || glisten_deliver(hl->l, gfd, &hl->l->bound, &c->dst) < 0) {
		debug("helper %s: accepted connection %#x has no taker",
		      h->name, c->pump.id);
		close(gfd);
		close(kfd);
		conn_close(c, ECONNREFUSED);
		return;
	}
	conn_open(c, kfd);
}

static void pair_done(struct pair_req *p, int gfd, int kfd)
{
	struct rconn *c = container_of(p, struct rconn, pair);
	struct so_addr local = c->local, dst = c->dst;
	struct waiter *w = c->w;

	if (gfd < 0) {
		conn_close(c, ECONNABORTED);
		return;
	}
	if (c->accepted) {
		accepted_paired(c, gfd, kfd);
		return;
	}
	if (dst.family == 6)
		so_addr_map(&local); /* the guest's socket is IPv6 */
	c->w = NULL;
	/* The guest first: it waits, the helper does not.  A HANDOFF or
	 * pump that fails now resets the connection the guest just got. */
	waiter_finish(&w, 0, &local, &dst, gfd);
	conn_open(c, kfd); /* may free c */
}

static void start_pair(struct rconn *c)
{
	int r, gfd, kfd;

	c->state = RC_PAIRING;
	if (pair_take(&gfd, &kfd) == 0)
		pair_done(&c->pair, gfd, kfd); /* may free c */
	else if ((r = pair_start(&c->pair, pair_done)) < 0)
		conn_close(c, -r);
}

/* LISTEN and CONNECT carry the same payload (CONNECT may add a name). */
static size_t encode_target(uint8_t *p, const struct so_addr *a, const char *target,
			    const char *name)
{
	struct so_connect sc;

	memset(&sc, 0, sizeof(sc));
	sc.dst = *a;
	snprintf(sc.target, sizeof(sc.target), "%s", target ? target : "");
	snprintf(sc.name, sizeof(sc.name), "%s", name ? name : "");
	return so_connect_encode(p, &sc);
}

int relay_connect(struct helper *h, const struct so_addr *dst,
		  const char *target, const char *name, uint32_t pid,
		  struct quota *q, struct waiter *w, struct rconn **out)
{
	uint8_t p[SO_CONNECT_MAX_LEN];
	size_t n = encode_target(p, dst, target, name);
	struct rconn *c;
	uint32_t id;

	int r;

	/* a helper that cannot take a name would connect to the
	 * placeholder address itself */
	if (name && name[0] && !(h->caps & SO_CAP_NAME))
		return -EHOSTUNREACH;
	if (q && (r = quota_take_q(q, Q_CONNECTIONS)) < 0)
		return r;
	do {
		id = next_id++ & ~SO_ID_HELPER;
	} while (!id || rfind(h, id));
	c = rconn_new(h, id);
	if (!c) {
		quota_give(q, Q_CONNECTIONS);
		return -ENOMEM;
	}
	c->quota = q;
	c->dst = *dst;
	/* until CONNECTED says better: the unspecified address, port 0 */
	c->local.family = dst->family;
	c->pid = pid;
	c->state = RC_CONNECTING;
	if (helper_send(h, SO_CONNECT, id, 0, p, n) < 0) {
		rconn_free(c);
		return -ECONNREFUSED;
	}
	c->w = w;
	*out = c;
	return 0;
}

void relay_cancel(struct rconn *c)
{
	c->w = NULL;
	conn_close(c, ECONNABORTED);
}

/* ---- listeners through a helper ---- */

/* The guest listener went (glisten_close()): tell the helper and a guest
 * still waiting. */
static void hlisten_gone(struct glisten_feed *f)
{
	struct hlisten *hl = container_of(f, struct hlisten, feed);

	LIST_REMOVE(hl, link);
	timer_cancel(&hl->grant);
	if (hl->live)
		helper_send(hl->h, SO_UNLISTEN, hl->id, 0, NULL, 0);
	waiter_finish(&hl->w, EADDRNOTAVAIL, NULL, NULL, -1);
	free(hl);
}

/* Send (again) the LISTEN of @hl.  Returns 0 or -errno. */
static int hlisten_send(struct hlisten *hl)
{
	int r = helper_send(hl->h, SO_LISTEN, hl->id, 0, hl->req, hl->reqlen);

	hl->live = r == 0;
	return r;
}

/* The helper is down: the guest's listener is granted as it is, and
 * registered when the helper is back (relay_helper_up()). */
static void grant_cb(struct timer *t)
{
	struct hlisten *hl = container_of(t, struct hlisten, grant);

	waiter_finish(&hl->w, 0, &hl->l->bound, NULL, -1);
}

/* The one place a listener is registered with a helper. */
int relay_listen(struct helper *h, struct glisten *l, const char *target,
		 struct waiter *w, struct hlisten **out)
{
	struct hlisten *hl = calloc(1, sizeof(*hl));

	if (!hl) {
		glisten_close(l);
		return -ENOMEM;
	}
	do {
		hl->id = next_lid++ & ~SO_ID_HELPER;
	} while (!hl->id);
	hl->h = h;
	hl->l = l;
	hl->reqlen = encode_target(hl->req, &l->bound, target, NULL);
	hl->feed.gone = hlisten_gone;
	hl->feed.name = h->name;
	timer_init(&hl->grant, grant_cb);
	LIST_INSERT_HEAD(&h->listeners, hl, link);
	glisten_set_feed(l, &hl->feed);
	if (h->state != H_UP) {
		debug("helper %s down: listener on port %u waits for it",
		      h->name, l->bound.port);
		timer_set(&hl->grant, 0); /* @w is never told inside */
	} else if (hlisten_send(hl) < 0) {
		glisten_close(l);
		return -EADDRNOTAVAIL;
	}
	hl->w = w;
	*out = hl;
	return 0;
}

void relay_listen_cancel(struct hlisten *hl)
{
	hl->w = NULL;
	glisten_close(hl->l);
}

static void listen_reply(struct helper *h, uint32_t id, const struct so_hdr *hd)
{
	struct hlisten *hl = hlisten_find(h, id);
	struct glisten *l = hl ? hl->l : NULL;
	bool again = hl && hl->again;
	int e = reply_errno(hd, EADDRNOTAVAIL);

	if (!hl)
		return; /* the guest gave up meanwhile; UNLISTEN is on its way */
	hl->again = false;
	if (!(hd->flags & SO_F_ERROR)) {
		if (again)
			info("helper %s: listener on port %u registered again",
			     h->name, l->bound.port);
		waiter_finish(&hl->w, 0, &l->bound, NULL, -1);
		return;
	}
	hl->live = false;
	if (again)
		warn("helper %s refused listening on port %u again: %s; closing the guest's listener",
		     h->name, l->bound.port, strerror(e));
	else
		info("helper %s refused listening on port %u: %s", h->name,
		     l->bound.port, strerror(e));
	waiter_finish(&hl->w, e, NULL, NULL, -1);
	glisten_close(l);
}

/* ---- replies and events from the helper ---- */

/* The helper took the guest end, or refused it: then the pump moves the
 * bytes, the paper's way. */
static void handoff_answered(struct rconn *c, const struct so_hdr *hd)
{
	int fd = c->hfd;

	c->handing = false;
	if (c->state != RC_OPEN)
		return;
	if (!(hd->flags & SO_F_ERROR)) {
		debug("helper %s: connection %#x handed over", c->pump.h->name,
		      c->pump.id);
		return;
	}
	debug("helper %s: connection %#x: HANDOFF refused (%s): relaying",
	      c->pump.h->name, c->pump.id, strerror(reply_errno(hd, EINVAL)));
	c->hfd = -1;
	if (pump_open(&c->pump, fd) < 0)
		conn_close(c, ENOMEM);
}

static void relay_reply(struct helper *h, const struct hreq *q,
			const struct so_hdr *hd, const uint8_t *p)
{
	struct rconn *c;

	if (q->type == SO_LISTEN) {
		listen_reply(h, q->id, hd);
		return;
	}
	if (q->type == SO_UNLISTEN || q->type == SO_SHUTDOWN)
		return;
	c = rfind(h, q->id);
	if (!c)
		return;
	switch (q->type) {
	case SO_CONNECT:
		c->replied = true;
		if (c->handed_back) {
			rconn_free(c); /* its id is the helper's to forget */
			return;
		}
		if (c->state != RC_CONNECTING || !(hd->flags & SO_F_ERROR))
			return;
		/* refused before it began: the helper has no such conn */
		stats.relay_failed++;
		waiter_finish(&c->w, reply_errno(hd, ECONNRESET), NULL, NULL, -1);
		rconn_free(c);
		return;
	case SO_CLOSE:
		if (c->state == RC_CLOSING)
			rconn_free(c);
		return;
	case SO_HANDOFF:
		handoff_answered(c, hd);
		return;
	case SO_WRITE:
	case SO_READ:
		pump_reply(&c->pump, q->type, hd, p);
		return;
	}
}

/* ---- hand-back (SO_CAP_HANDBACK) ---- */

/*
 * Is @fd what a hand-back must be: a TCP socket with a connection
 * established (or whose peer has finished sending), not a listener, not
 * one still connecting, not a Unix socket or pipe, no filter locked on
 * it?  Asked of the kernel,
 * before any guest sees it.  Then blocking, as direct.c leaves its own
 * (the shim applies the program's mode), with no signal owner.  Returns 0
 * or -errno.
 */
static int handback_check(int fd)
{
	struct stat st;
	struct tcp_info ti;
	int v;
	socklen_t l = sizeof(v);

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 ||
	    (v != AF_INET && v != AF_INET6))
		return -EAFNOSUPPORT;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM)
		return -EPROTOTYPE;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) < 0 ||
	    v != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	l = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ||
	    (ti.tcpi_state != TCP_ESTABLISHED && ti.tcpi_state != TCP_CLOSE_WAIT))
		return -ENOTCONN;
	/* A filter the helper locked on it would keep ours (pin.c) off:
	 * the guest could then reconnect the socket anywhere. */
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &v, &l) < 0 || v)
		return -EPERM;
	/* Status flags as direct.c leaves its socket: none (O_ASYNC too),
	 * and no owner the helper chose for SIGIO/SIGURG. */
	if (fcntl(fd, F_SETFL, 0) < 0 || fcntl(fd, F_SETOWN, 0) < 0)
		return -errno;
	return 0;
}

/* @fd failed handback_check() (@r): closed, counted, warned (once per
 * helper: a broken helper must not flood the log). */
static void handback_refuse(struct helper *h, uint32_t id, int fd, int r)
{
	close(fd);
	stats.handback_refused++;
	if (!h->evfds_logged)
		warn("helper %s: connection %#x handed back is no connected TCP socket (%s): refused",
		     h->name, id, strerror(-r));
	else
		debug("helper %s: connection %#x handed back: %s: refused",
		      h->name, id, strerror(-r));
	h->evfds_logged = true;
}

/* CONNECTED with the connection's socket (@fd, or HL_FD_BAD): the guest
 * gets it as a direct connection, or its connect fails.  Either way the
 * helper has forgotten the id. */
static void connected_back(struct rconn *c, const struct so_hdr *hd,
			   const uint8_t *p, int fd)
{
	struct helper *h = c->pump.h;
	struct so_addr local = c->local, dst = c->dst;
	struct so_addrpair ap;
	int r = fd < 0 ? -EBADF : handback_check(fd);

	if (r < 0) {
		if (fd >= 0)
			handback_refuse(h, c->pump.id, fd, r);
		stats.relay_failed++;
		waiter_finish(&c->w, ECONNREFUSED, NULL, NULL, -1);
	} else {
		if (so_addrpair_decode(p, hd->len, &ap) == 0 && ap.local.family)
			local = ap.local;
		if (dst.family == 6)
			so_addr_map(&local); /* the guest's socket is IPv6 */
		stats.relayed++;
		stats.handed_back++;
		debug("helper %s: connection %#x handed back", h->name, c->pump.id);
		/* with nobody waiting any more, the socket is closed */
		waiter_finish(&c->w, 0, &local, &dst, fd);
	}
	c->handed_back = true;
	c->state = RC_CLOSING; /* nothing more for it but the reply */
	if (c->replied)
		rconn_free(c);
}

/* ACCEPTED with the connection's socket: to the guest listener, no rconn.
 * The id is the helper's and forgotten: nothing is sent back. */
static void accepted_back(struct helper *h, const struct so_hdr *hd,
			  const uint8_t *p, int fd)
{
	struct hlisten *hl = hlisten_find(h, hd->arg);
	struct so_addrpair ap;
	int r = fd < 0 ? -EBADF : handback_check(fd);

	if (r < 0) {
		if (fd >= 0)
			handback_refuse(h, hd->id, fd, r);
		return;
	}
	if (so_addrpair_decode(p, hd->len, &ap) < 0 || !hl ||
	    glisten_deliver(hl->l, fd, &hl->l->bound, &ap.peer) < 0) {
		debug("helper %s: accepted connection %#x has no taker",
		      h->name, hd->id);
		net_close_reset(fd);
		return;
	}
	stats.relayed++;
	stats.handed_back++;
}

static void listen_failed(struct helper *h, const struct so_hdr *hd)
{
	struct hlisten *hl = hlisten_find(h, hd->id);

	if (hl) {
		info("helper %s: listener on port %u failed: %s", h->name,
		     hl->l->bound.port, strerror(reply_errno(hd, ECONNRESET)));
		glisten_close(hl->l);
	}
}

static void accepted(struct helper *h, const struct so_hdr *hd, const uint8_t *p,
		     int fd)
{
	struct so_addrpair ap;
	struct hlisten *hl;
	struct rconn *c;

	if (hd->flags & SO_F_FD) {
		accepted_back(h, hd, p, fd);
		return;
	}
	if (fd == HL_FD_BAD ||
	    !(hd->id & SO_ID_HELPER) || rfind(h, hd->id) ||
	    so_addrpair_decode(p, hd->len, &ap) < 0) {
		warn("helper %s: bad ACCEPTED %#x", h->name, hd->id);
		helper_send(h, SO_CLOSE, hd->id, ECONNREFUSED, NULL, 0);
		return;
	}
	hl = hlisten_find(h, hd->arg);
	/* an accepted connection counts against the listener's owner */
	if (hl && hl->l->quota && quota_take_q(hl->l->quota, Q_CONNECTIONS) < 0)
		hl = NULL;
	c = hl ? rconn_new(h, hd->id) : NULL;
	if (!c) {
		if (hl)
			quota_give(hl->l->quota, Q_CONNECTIONS);
		helper_send(h, SO_CLOSE, hd->id, ECONNREFUSED, NULL, 0);
		return;
	}
	c->quota = hl->l->quota;
	c->accepted = true;
	c->lid = hl->id;
	c->pid = hl->l->pid;
	c->dst = ap.peer;
	c->local = ap.local;
	start_pair(c);
}

/* Events about connection @c. */
static void conn_event(struct rconn *c, const struct so_hdr *hd, const uint8_t *p,
		       int fd)
{
	struct so_addrpair ap;
	uint64_t up, down;

	switch (hd->type) {
	case SO_CONNECTED:
		if (c->state != RC_CONNECTING) {
			/* the guest gave up meanwhile: our CLOSE is on its
			 * way, and its answer (ENOTCONN from a helper that
			 * handed the connection back) frees c */
			if (fd >= 0)
				close(fd);
			return;
		}
		if (hd->flags & SO_F_FD) {
			connected_back(c, hd, p, fd); /* may free c */
			return;
		}
		if (fd == HL_FD_BAD) {
			/* descriptors came with a plain CONNECTED: the helper
			 * still has the connection, and it is refused */
			stats.relay_failed++;
			conn_close(c, ECONNREFUSED);
			return;
		}
		if (so_addrpair_decode(p, hd->len, &ap) == 0 && ap.local.family)
			c->local = ap.local;
		start_pair(c);
		return;
	case SO_CONNECT_FAILED:
		if (c->state != RC_CONNECTING)
			return;
		stats.relay_failed++;
		conn_close(c, reply_errno(hd, ECONNRESET));
		return;
	case SO_ARRIVED:
	case SO_WRITABLE:
		pump_notify(&c->pump, hd->type);
		return;
	case SO_FINISHED:
		if (c->hfd < 0)
			return; /* not handed: a broken helper; CLOSE is ours */
		hand_bytes(c);
		if (so_finished_decode(p, hd->len, &up, &down) == 0) {
			c->pump.bytes_up = up;
			c->pump.bytes_down = down;
			c->finished = true;
		}
		conn_close(c, hd->arg ? reply_errno(hd, ECONNRESET) : 0);
		return;
	case SO_CLOSED:
		if (c->state == RC_CONNECTING || c->state == RC_PAIRING)
			stats.relay_failed++;
		conn_close(c, reply_errno(hd, ECONNRESET));
		return;
	}
}

static void relay_event(struct helper *h, const struct so_hdr *hd,
			const uint8_t *p, int fd)
{
	struct rconn *c;

	if (hd->type == SO_ACCEPTED) {
		accepted(h, hd, p, fd);
		return;
	}
	/* only CONNECTED and ACCEPTED take one (helper-link.c) */
	if (hd->type == SO_LISTEN_FAILED) {
		listen_failed(h, hd);
		return;
	}
	c = rfind(h, hd->id);
	if (!c) {
		debug("helper %s: %s for unknown connection %#x", h->name,
		      so_type_name(hd->type), hd->id);
		if (fd >= 0)
			close(fd);
		return;
	}
	conn_event(c, hd, p, fd);
}

static void relay_helper_down(struct helper *h)
{
	struct hlisten *hl;

	while (!LIST_EMPTY(&h->conns)) {
		struct rconn *c = LIST_FIRST(&h->conns);
		waiter_finish(&c->w, ECONNREFUSED, NULL, NULL, -1);
		rconn_free(c); /* resets the guest end */
	}
	/* Listeners wait for the helper to come back (no UNLISTEN to a dead
	 * helper); a guest still waiting for its LISTEN reply gets the
	 * listener now.  A helper removed from the configuration takes them
	 * with it. */
	LIST_FOREACH(hl, &h->listeners, link) {
		hl->live = false;
		hl->again = false;
		if (hl->w)
			timer_set(&hl->grant, 0);
	}
	while (h->removed && !LIST_EMPTY(&h->listeners))
		glisten_close(LIST_FIRST(&h->listeners)->l);
}

/* The helper is up (again): register the listeners that waited for it. */
static void relay_helper_up(struct helper *h)
{
	struct hlisten *hl;

	/* helper_send() changes no list: a failure only marks the helper
	 * for dropping, from the loop */
	LIST_FOREACH(hl, &h->listeners, link) {
		if (hl->live)
			continue;
		hl->again = !hl->w; /* no guest waiting: it had its listener */
		if (hlisten_send(hl) < 0)
			return; /* the helper is being dropped again */
	}
}

void relay_init(void)
{
	static const struct helper_link_ops ops = {
		.reply = relay_reply,
		.event = relay_event,
		.down = relay_helper_down,
		.up = relay_helper_up,
		.unblock = pump_unblock,
	};

	helper_link_init(&ops);
}
