// SPDX-License-Identifier: MIT
/*
 * relay.c - connections carried by a helper (the seed paper's protocol).
 *
 * Theory of operation.  The guest holds one end of a loopback TCP pair
 * (pair.c); sockoutd keeps the other end and moves bytes between it and
 * the helper:
 *
 *   guest -> helper: read up to SO_MAX_DATA and send WRITE(id, data).  The
 *     reply says how many bytes the helper took; the rest stays in c->up
 *     and is sent again after WRITABLE.  One WRITE is outstanding at a time
 *     (ordering), but the next chunk may be read meanwhile, up to UP_MAX.
 *     Guest EOF becomes SHUTDOWN once everything is written.
 *   helper -> guest: READ(id, SO_MAX_DATA) whenever nothing is waiting to be
 *     written to the guest.  The reply's payload is written straight to the
 *     guest; what does not fit waits in c->down (EPOLLOUT).  EOF makes us
 *     shutdown(SHUT_WR) the guest end; an empty reply means wait for
 *     ARRIVED and READ again.
 *   CLOSED, an error reply, or a guest reset: the guest end is closed with
 *     SO_LINGER {1,0} (the guest sees ECONNRESET) and CLOSE(id, errno) is
 *     sent.  Both directions finished: CLOSE(id, 0).
 *
 * A connection stays in the table until its CLOSE is answered, so that an
 * id is never reused while the helper may still send replies or events for
 * it.  Idle connections own no buffers (buf.c frees emptied big buffers),
 * which is what lets sockoutd hold 10,000 of them in a few megabytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

#define RHASH 16384u
/* Guest bytes read ahead while a WRITE is outstanding. */
#define UP_MAX (2u * SO_MAX_DATA)
/* READs kept in flight per connection: with two, the helper answers the
 * second while the first reply is being written to the guest, so data
 * from the helper never waits a whole round trip. */
#define READS_MAX 2

enum rc_state { RC_CONNECTING, RC_PAIRING, RC_OPEN, RC_CLOSING };

struct rconn {
	uint32_t id;
	uint8_t state;
	bool accepted;	    /* came from a helper listener */
	bool write_out;	    /* a WRITE is outstanding */
	uint8_t reads_out;  /* READs outstanding (up to READS_MAX) */
	bool wait_writable; /* a WRITE was partial: wait for WRITABLE */
	bool wait_arrived;  /* a READ was empty: wait for ARRIVED */
	bool arrived_early; /* ARRIVED came before the empty reply it follows */
	bool writable_early; /* WRITABLE came before the partial reply */
	bool guest_eof;	    /* the guest finished sending */
	bool shut_sent;	    /* SHUTDOWN sent to the helper */
	bool helper_eof;    /* the helper's peer finished sending */
	bool down_done;	    /* ... and we shut the guest end for writing */
	bool blocked;	    /* on h->blocked: the data socket is congested */
	bool up_bulk;	    /* the last guest read filled the room */
	uint32_t inflight;  /* bytes of c->up in the outstanding WRITE */
	uint32_t lid;	    /* accepted: the listener */
	uint32_t pid;
	struct helper *h;
	struct ev ev;	     /* our end of the guest's TCP pair */
	struct greq *greq;   /* outbound: the guest waiting for CONNECTED */
	struct pair_req pair;
	struct buf up, down;
	struct so_addr dst;   /* outbound: destination; accepted: peer */
	struct so_addr local; /* what CONNECTED said, if anything */
	uint64_t bytes_up, bytes_down, since;
	struct rconn *hnext;	    /* hash chain */
	struct rconn *next, *prev;  /* helper's connections */
	struct rconn *bnext;	    /* helper's blocked list */
};

static struct rconn *rtab[RHASH];
/* Reads of idle connections land here first, so that a connection holds
 * only as many bytes as it has pending, not a read-sized buffer. */
static uint8_t scratch[SO_MAX_DATA];
static uint32_t next_id = 1;
static unsigned nrconns;

static unsigned rkey(const struct helper *h, uint32_t id)
{
	return (unsigned)(((uintptr_t)h >> 4) ^ id ^ (id >> 14)) % RHASH;
}

static struct rconn *rfind(const struct helper *h, uint32_t id)
{
	for (struct rconn *c = rtab[rkey(h, id)]; c; c = c->hnext)
		if (c->h == h && c->id == id)
			return c;
	return NULL;
}

unsigned relay_count(void)
{
	return nrconns;
}

void relay_foreach(void (*fn)(struct rconn *c, void *arg), void *arg)
{
	for (struct helper *h = helpers; h; h = h->next)
		for (struct rconn *c = h->conns; c; c = c->next)
			fn(c, arg);
}

void rconn_info(const struct rconn *c, struct rconn_info *i)
{
	static const char *const st[] = { "connecting", "connecting", "open",
					  "closing" };

	i->id = c->id;
	i->helper = c->h->name;
	i->state = c->state == RC_OPEN && (c->guest_eof || c->helper_eof) ?
			   "half-closed" :
			   st[c->state];
	i->pid = c->pid;
	i->dst = c->dst;
	i->bytes_up = c->bytes_up;
	i->bytes_down = c->bytes_down;
	i->age_ms = now_ms() - c->since;
}

static struct rconn *rconn_new(struct helper *h, uint32_t id)
{
	struct rconn *c = calloc(1, sizeof(*c));
	unsigned k = rkey(h, id);

	if (!c)
		return NULL;
	c->id = id;
	c->h = h;
	c->ev.fd = -1;
	c->pair.cfd = -1;
	c->since = now_ms();
	c->hnext = rtab[k];
	rtab[k] = c;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	h->total_conns++;
	nrconns++;
	return c;
}

static void unblock_one(struct rconn *c)
{
	if (!c->blocked)
		return;
	for (struct rconn **p = &c->h->blocked; *p; p = &(*p)->bnext) {
		if (*p == c) {
			*p = c->bnext;
			break;
		}
	}
	c->blocked = false;
}

static void rconn_free(struct rconn *c)
{
	struct helper *h = c->h;

	if (c->ev.fd >= 0) {
		int fd = c->ev.fd;
		ev_del(&c->ev);
		net_close_reset(fd);
	}
	pair_cancel(&c->pair);
	unblock_one(c);
	for (struct rconn **p = &rtab[rkey(h, c->id)]; *p; p = &(*p)->hnext) {
		if (*p == c) {
			*p = c->hnext;
			break;
		}
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	stats.bytes_up += c->bytes_up;
	stats.bytes_down += c->bytes_down;
	buf_free(&c->up);
	buf_free(&c->down);
	h->nconns--;
	nrconns--;
	free(c);
}

/* Answer the guest still waiting for this connection, if any. */
static void fail_guest(struct rconn *c, int err)
{
	if (c->greq) {
		struct greq *g = c->greq;
		c->greq = NULL;
		greq_rconn_gone(g);
		greq_reply(g, err ? err : ECONNREFUSED, NULL, NULL, -1);
	}
}

/**
 * conn_close() - end the connection: close the guest end (abortively when
 * @err) and tell the helper CLOSE(id, @err).  @c may be freed: callers do
 * not touch it afterwards.
 */
static void conn_close(struct rconn *c, int err)
{
	if (c->state == RC_CLOSING)
		return;
	fail_guest(c, err ? err : ECONNREFUSED);
	if (c->ev.fd >= 0) {
		int fd = c->ev.fd;
		ev_del(&c->ev);
		if (err)
			net_close_reset(fd);
		else
			close(fd);
	}
	pair_cancel(&c->pair);
	unblock_one(c);
	buf_free(&c->up);
	buf_free(&c->down);
	c->state = RC_CLOSING;
	if (helper_send(c->h, SO_CLOSE, c->id, (uint32_t)err, NULL, 0) < 0)
		rconn_free(c);
}

static void update_events(struct rconn *c)
{
	uint32_t e = 0;

	if (c->ev.fd < 0)
		return;
	if (!c->guest_eof && !c->blocked && buf_len(&c->up) < UP_MAX)
		e |= EPOLLIN;
	if (buf_len(&c->down))
		e |= EPOLLOUT;
	ev_mod(&c->ev, e);
}

static void check_finish(struct rconn *c)
{
	if (c->shut_sent && !c->write_out && c->down_done)
		conn_close(c, 0);
	else
		update_events(c);
}

static void pump_up(struct rconn *c)
{
	struct helper *h = c->h;

	if (c->state != RC_OPEN)
		return;
	if (!c->write_out && !c->wait_writable && buf_len(&c->up)) {
		if (helper_congested(h)) {
			if (!c->blocked) {
				c->blocked = true;
				c->bnext = h->blocked;
				h->blocked = c;
			}
			update_events(c);
			return;
		}
		size_t n = buf_len(&c->up);
		if (n > SO_MAX_DATA)
			n = SO_MAX_DATA;
		if (helper_send(h, SO_WRITE, c->id, 0, buf_peek(&c->up), n) < 0)
			return; /* the helper is being dropped */
		c->write_out = true;
		c->inflight = (uint32_t)n;
	}
	if (!c->write_out && !buf_len(&c->up) && c->guest_eof && !c->shut_sent) {
		if (helper_send(h, SO_SHUTDOWN, c->id, 0, NULL, 0) < 0)
			return;
		c->shut_sent = true;
	}
	check_finish(c);
}

static void pump_down(struct rconn *c)
{
	while (c->state == RC_OPEN && c->reads_out < READS_MAX &&
	       !c->wait_arrived && !c->helper_eof && !buf_len(&c->down)) {
		if (helper_send(c->h, SO_READ, c->id, SO_MAX_DATA, NULL, 0) < 0)
			return;
		c->reads_out++;
	}
}

/* The helper's peer is done and the guest has everything: pass on EOF. */
static void down_eof(struct rconn *c)
{
	if (c->helper_eof && !buf_len(&c->down) && !c->down_done) {
		shutdown(c->ev.fd, SHUT_WR);
		c->down_done = true;
	}
}

void relay_unblock(struct helper *h)
{
	while (h->blocked && !helper_congested(h)) {
		struct rconn *c = h->blocked;
		h->blocked = c->bnext;
		c->blocked = false;
		pump_up(c);
	}
}

static void conn_cb(struct ev *ev, uint32_t events)
{
	struct rconn *c = container_of(ev, struct rconn, ev);
	int fd = ev->fd;

	if (events & EPOLLERR) {
		conn_close(c, ECONNRESET);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && !c->guest_eof &&
	    buf_len(&c->up) < UP_MAX) {
		size_t room = UP_MAX - buf_len(&c->up);
		ssize_t n;
		if (room > SO_MAX_DATA)
			room = SO_MAX_DATA;
		if (c->up.data) {
			/* data is flowing: read straight into the queue */
			n = buf_read_fd(&c->up, fd, room);
		} else {
			n = recv(fd, scratch, room, MSG_DONTWAIT);
			if (n > 0 && buf_put(&c->up, scratch, (size_t)n) < 0) {
				conn_close(c, ENOMEM);
				return;
			}
		}
		if (n == 0) {
			c->guest_eof = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(c, errno == ECONNRESET ? ECONNRESET : errno);
			return;
		}
		/* A full read means more is coming: keep the buffer for it.
		 * A short one means the guest paused: let it go once sent. */
		c->up_bulk = n > 0 && (size_t)n == room;
		if (!buf_len(&c->up) && !c->up_bulk)
			buf_free(&c->up);
	}
	if (events & EPOLLOUT) {
		if (buf_write_fd(&c->down, fd) < 0 && errno != EAGAIN &&
		    errno != EINTR) {
			conn_close(c, ECONNRESET);
			return;
		}
		buf_trim(&c->down);
		down_eof(c);
		pump_down(c);
	}
	if ((events & EPOLLHUP) && c->guest_eof && buf_len(&c->down) &&
	    !(events & EPOLLOUT)) {
		conn_close(c, ECONNRESET);
		return;
	}
	pump_up(c);
}

/* Open: the guest has its end (or the listener got it); start moving. */
static void conn_open(struct rconn *c, int keep)
{
	if (ev_add(&c->ev, keep, EPOLLIN, conn_cb) < 0) {
		net_close_reset(keep);
		conn_close(c, ENOMEM);
		return;
	}
	c->state = RC_OPEN;
	stats.relayed++;
	pump_down(c);
}

static void pair_done(struct pair_req *p, int gfd, int kfd)
{
	struct rconn *c = container_of(p, struct rconn, pair);

	if (gfd < 0) {
		conn_close(c, ECONNABORTED);
		return;
	}
	if (c->accepted) {
		struct glisten *l;
		for (l = c->h->listeners; l && l->id != c->lid; l = l->hnext)
			;
		if (!l || glisten_deliver(l, gfd, &l->bound, &c->dst) < 0) {
			debug("helper %s: accepted connection %#x has no taker",
			      c->h->name, c->id);
			close(gfd);
			close(kfd);
			conn_close(c, ECONNREFUSED);
			return;
		}
		conn_open(c, kfd);
		return;
	}
	struct greq *g = c->greq;
	struct so_addr local = c->local, dst = c->dst;
	c->greq = NULL;
	if (dst.family == 6)
		so_addr_map(&local); /* the guest's socket is IPv6 */
	if (g)
		greq_rconn_gone(g);
	conn_open(c, kfd);
	if (g)
		greq_reply(g, 0, &local, &dst, gfd);
	else
		close(gfd);
}

static void start_pair(struct rconn *c)
{
	int r;

	c->state = RC_PAIRING;
	if ((r = pair_start(&c->pair, pair_done)) < 0)
		conn_close(c, -r);
}

int relay_connect(struct helper *h, struct greq *g, const struct so_addr *dst,
		  const char *target)
{
	uint8_t p[SO_ADDR_LEN + 1 + SO_MAX_TARGET];
	struct so_connect sc;
	struct rconn *c;
	uint32_t id;

	do {
		id = next_id++ & ~SO_ID_HELPER;
	} while (!id || rfind(h, id));
	c = rconn_new(h, id);
	if (!c)
		return -ENOMEM;
	memset(&sc, 0, sizeof(sc));
	sc.dst = *dst;
	snprintf(sc.target, sizeof(sc.target), "%s", target ? target : "");
	size_t n = so_connect_encode(p, &sc);
	c->dst = *dst;
	/* until CONNECTED says better: the unspecified address, port 0 */
	c->local.family = dst->family;
	c->pid = greq_req(g)->pid;
	c->state = RC_CONNECTING;
	if (helper_send(h, SO_CONNECT, id, 0, p, n) < 0) {
		rconn_free(c);
		return -ECONNREFUSED;
	}
	c->greq = g;
	greq_set_rconn(g, c);
	return 0;
}

void relay_cancel(struct rconn *c)
{
	c->greq = NULL;
	conn_close(c, ECONNABORTED);
}

/* ---- listeners through a helper ---- */

int relay_listen(struct helper *h, struct glisten *l, const char *target)
{
	uint8_t p[SO_ADDR_LEN + 1 + SO_MAX_TARGET];
	struct so_connect sc;

	memset(&sc, 0, sizeof(sc));
	sc.dst = l->bound;
	snprintf(sc.target, sizeof(sc.target), "%s", target ? target : "");
	size_t n = so_connect_encode(p, &sc);
	l->kind = GL_HELPER;
	l->h = h;
	l->hnext = h->listeners;
	l->hprev = NULL;
	if (h->listeners)
		h->listeners->hprev = l;
	h->listeners = l;
	if (helper_send(h, SO_LISTEN, l->id, 0, p, n) < 0)
		return -EADDRNOTAVAIL;
	return 0;
}

void relay_unlisten(struct glisten *l)
{
	struct helper *h = l->h;

	if (!h)
		return;
	if (l->hprev)
		l->hprev->hnext = l->hnext;
	else
		h->listeners = l->hnext;
	if (l->hnext)
		l->hnext->hprev = l->hprev;
	l->h = NULL;
	helper_send(h, SO_UNLISTEN, l->id, 0, NULL, 0);
}

static struct glisten *hlisten_find(struct helper *h, uint32_t id)
{
	for (struct glisten *l = h->listeners; l; l = l->hnext)
		if (l->id == id)
			return l;
	return NULL;
}

static void listen_reply(struct helper *h, uint32_t id, const struct so_hdr *hd)
{
	struct glisten *l = hlisten_find(h, id);
	struct greq *g = l ? l->greq : NULL;

	if (!g)
		return; /* the guest gave up meanwhile; UNLISTEN is on its way */
	l->greq = NULL;
	greq_glisten_gone(g);
	if (hd->flags & SO_F_ERROR) {
		int e = hd->arg && hd->arg < 4096 ? (int)hd->arg : EADDRNOTAVAIL;
		info("helper %s refused listening on port %u: %s", h->name,
		     l->bound.port, strerror(e));
		l->h = NULL; /* nothing to UNLISTEN */
		if (l->hprev)
			l->hprev->hnext = l->hnext;
		else
			h->listeners = l->hnext;
		if (l->hnext)
			l->hnext->hprev = l->hprev;
		glisten_close(l);
		greq_reply(g, e, NULL, NULL, -1);
		return;
	}
	stats.listeners++;
	info("guest pid %u: port %u served by helper %s", l->pid, l->bound.port,
	     h->name);
	int gfd = l->guest_end;
	l->guest_end = -1;
	greq_reply(g, 0, &l->bound, NULL, gfd);
}

/* ---- replies and events from the helper ---- */

static int reply_errno(const struct so_hdr *hd)
{
	return hd->arg && hd->arg < 4096 ? (int)hd->arg : ECONNRESET;
}

static void deliver(struct rconn *c, const uint8_t *p, size_t len)
{
	ssize_t w = 0;

	if (!buf_len(&c->down) && len) {
		w = send(c->ev.fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				conn_close(c, ECONNRESET);
				return;
			}
			w = 0;
		}
	}
	if ((size_t)w < len && buf_put(&c->down, p + w, len - (size_t)w) < 0) {
		conn_close(c, ENOMEM);
		return;
	}
	c->bytes_down += len;
	down_eof(c);
	pump_down(c);
	check_finish(c);
}

void relay_reply(struct helper *h, const struct hreq *q,
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
		if (c->state != RC_CONNECTING || !(hd->flags & SO_F_ERROR))
			return;
		/* refused before it began: the helper has no such conn */
		stats.relay_failed++;
		fail_guest(c, reply_errno(hd));
		rconn_free(c);
		return;
	case SO_CLOSE:
		if (c->state == RC_CLOSING)
			rconn_free(c);
		return;
	case SO_WRITE:
		if (c->state != RC_OPEN)
			return;
		c->write_out = false;
		if (hd->flags & SO_F_ERROR) {
			conn_close(c, reply_errno(hd));
			return;
		}
		if (hd->arg > c->inflight) {
			helper_fail(h, "protocol error: WRITE reply claims more than was sent");
			return;
		}
		/* not buf_consume(): it would give back the block that the
		 * next chunk of a bulk transfer is about to need */
		c->up.head += hd->arg;
		if (c->up.head >= c->up.tail) {
			int pending = 0;
			c->up.head = c->up.tail = 0;
			/* ...unless nothing is waiting: an idle connection
			 * must not keep a chunk-sized block */
			if (!c->up_bulk || ioctl(c->ev.fd, FIONREAD, &pending) < 0 || pending <= 0)
				buf_free(&c->up);
		}
		c->bytes_up += hd->arg;
		/* As with ARRIVED: a WRITABLE that overtook this partial
		 * reply on the other socket means "go on" already. */
		if (hd->arg < c->inflight && !c->writable_early)
			c->wait_writable = true;
		c->writable_early = false;
		c->inflight = 0;
		pump_up(c);
		return;
	case SO_READ:
		if (hd->len > SO_MAX_DATA) {
			helper_fail(h, "protocol error: READ reply longer than asked");
			return;
		}
		if (c->state != RC_OPEN)
			return;
		if (c->reads_out)
			c->reads_out--;
		if (hd->flags & SO_F_ERROR) {
			conn_close(c, reply_errno(hd));
			return;
		}
		/* The two sockets race: an ARRIVED sent after this empty
		 * reply may have been read first.  Then READ again at once
		 * rather than wait for an ARRIVED that already came. */
		if (hd->flags & SO_F_EOF)
			c->helper_eof = true;
		else if (hd->len)
			c->wait_arrived = false;
		else if (c->arrived_early)
			c->arrived_early = false;
		else
			c->wait_arrived = true;
		deliver(c, p, hd->len);
		return;
	}
}

void relay_event(struct helper *h, const struct so_hdr *hd, const uint8_t *p)
{
	struct so_addrpair ap;
	struct rconn *c;

	if (hd->type == SO_LISTEN_FAILED) {
		struct glisten *l = hlisten_find(h, hd->id);
		if (l) {
			info("helper %s: listener on port %u failed: %s", h->name,
			     l->bound.port, strerror(reply_errno(hd)));
			glisten_close(l);
		}
		return;
	}
	if (hd->type == SO_ACCEPTED) {
		if (!(hd->id & SO_ID_HELPER) || rfind(h, hd->id) ||
		    so_addrpair_decode(p, hd->len, &ap) < 0) {
			warn("helper %s: bad ACCEPTED %#x", h->name, hd->id);
			helper_send(h, SO_CLOSE, hd->id, ECONNREFUSED, NULL, 0);
			return;
		}
		struct glisten *l = hlisten_find(h, hd->arg);
		c = l ? rconn_new(h, hd->id) : NULL;
		if (!c) {
			helper_send(h, SO_CLOSE, hd->id, ECONNREFUSED, NULL, 0);
			return;
		}
		c->accepted = true;
		c->lid = l->id;
		c->pid = l->pid;
		c->dst = ap.peer;
		c->local = ap.local;
		start_pair(c);
		return;
	}
	c = rfind(h, hd->id);
	if (!c) {
		debug("helper %s: %s for unknown connection %#x", h->name,
		      so_type_name(hd->type), hd->id);
		return;
	}
	switch (hd->type) {
	case SO_CONNECTED:
		if (c->state != RC_CONNECTING)
			return;
		if (so_addrpair_decode(p, hd->len, &ap) == 0 && ap.local.family)
			c->local = ap.local;
		start_pair(c);
		return;
	case SO_CONNECT_FAILED:
		if (c->state != RC_CONNECTING)
			return;
		stats.relay_failed++;
		conn_close(c, reply_errno(hd));
		return;
	case SO_ARRIVED:
		if (c->state != RC_OPEN)
			return;
		if (c->wait_arrived) {
			c->wait_arrived = false;
			pump_down(c);
		} else if (c->reads_out) {
			c->arrived_early = true;
		}
		return;
	case SO_WRITABLE:
		if (c->state != RC_OPEN)
			return;
		if (c->wait_writable) {
			c->wait_writable = false;
			pump_up(c);
		} else if (c->write_out) {
			c->writable_early = true;
		}
		return;
	case SO_CLOSED:
		if (c->state == RC_CONNECTING || c->state == RC_PAIRING)
			stats.relay_failed++;
		conn_close(c, reply_errno(hd));
		return;
	}
}

void relay_helper_down(struct helper *h)
{
	while (h->conns) {
		struct rconn *c = h->conns;
		fail_guest(c, ECONNREFUSED);
		rconn_free(c); /* resets the guest end */
	}
	h->blocked = NULL;
	while (h->listeners) {
		struct glisten *l = h->listeners;
		h->listeners = l->hnext;
		l->h = NULL; /* no UNLISTEN to a dead helper */
		glisten_close(l);
	}
}
