// SPDX-License-Identifier: MIT
/*
 * conn.c - guest connections over the IM overlay: the struct sh_ops.
 *
 * Connect: the rule's target names a configured peer (bare JID).  We send
 * it a sealed "connect" for the guest's port; its helper answers "accept"
 * when one of its guests listens on that port (an sh_listener), else
 * "refuse" (the paper's error).  An offline peer fails at once with
 * EHOSTUNREACH, a silent one after connect-timeout.
 *
 * Data: on a SOCKS5 bytestream through the server's proxy when both ends
 * have one (bytestream.c), else in-band: chunks inside sealed "data"
 * messages, at most IM_INBAND_WINDOW bytes unacknowledged per connection
 * so the server's rate limits and stanza cap are respected.  Each chunk
 * names its offset in the stream, and "shut"/"close" the stream's length:
 * the server cannot forge a message, but it can drop one or swap two
 * (the replay window lets a few through out of order); any offset but the
 * next expected one resets the connection, so a guest gets its peer's
 * bytes exactly, in order, or a reset -- never a silently wrong stream
 * with a clean EOF.
 *
 * Closing: the guest's half-close becomes "shut" (or a FIN frame), a reset
 * becomes "reset".  When the dispatcher closes a connection while guest
 * bytes are still queued, we keep them (the connection lingers) and send
 * them before saying "close": a guest that writes and closes at once must
 * not lose its last bytes.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "helpers/im/im.h"

#define LINGER_MS 60000
/* Connections one peer may open to us at once: a peer's helper that
 * floods connects cannot make us hold unbounded state. */
#define PEER_MAX_INCOMING 4096

enum ic_state { IC_WAIT, IC_ASKED, IC_BS_SETUP, IC_OPEN, IC_LINGER };

struct ic {
	struct sh_conn *c; /* NULL once the dispatcher closed it */
	struct im_peer *peer;
	uint32_t cid;
	bool mine; /* we opened it */
	enum ic_state st;
	struct timer timer;
	struct im_bs *bs;
	char sid[48];
	/* in-band */
	uint64_t inflight;   /* sent, not acknowledged */
	uint64_t tx_off;     /* bytes sent so far (the next chunk's offset) */
	uint64_t rx_off;     /* bytes received so far (the offset expected) */
	struct buf held;     /* received, not yet taken by the runtime */
	struct buf linger;   /* guest bytes left when the dispatcher closed */
	bool shut_sent, peer_shut, peer_closed, activating;
	LIST_ENTRY(ic) link;
};

static const struct im_conf *cf;
static LIST_HEAD(, ic) ics = LIST_HEAD_INITIALIZER(ics);
static uint32_t next_cid = 1;
/* Listeners are kept by the runtime; we index them to find a port. */
struct lent {
	struct sh_listener *l;
	LIST_ENTRY(lent) link;
};
static LIST_HEAD(, lent) lents = LIST_HEAD_INITIALIZER(lents);

void im_conn_set_conf(const struct im_conf *c)
{
	cf = c;
}

static struct ic *ic_find(struct im_peer *p, bool mine, uint32_t cid)
{
	struct ic *i;

	LIST_FOREACH(i, &ics, link)
		if (i->peer == p && i->mine == mine && i->cid == cid)
			return i;
	return NULL;
}

static void timer_fire(struct timer *t);

static struct ic *ic_new(struct im_peer *p, bool mine, uint32_t cid)
{
	struct ic *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	i->peer = p;
	i->mine = mine;
	i->cid = cid;
	buf_init(&i->held);
	buf_init(&i->linger);
	timer_init(&i->timer, timer_fire);
	LIST_INSERT_HEAD(&ics, i, link);
	return i;
}

static void ic_free(struct ic *i)
{
	timer_cancel(&i->timer);
	if (i->activating)
		im_xmpp_activate_cancel(i);
	if (i->bs)
		im_bs_close(i->bs, ECONNRESET, NULL);
	if (i->c)
		i->c->priv = NULL;
	LIST_REMOVE(i, link);
	buf_free(&i->held);
	buf_free(&i->linger);
	free(i);
}

/* Send one control message about @i. */
static int send_rpc(struct ic *i, struct im_rpc *r)
{
	struct buf b;
	int e;

	r->cid = i->cid;
	r->opener = i->mine;
	buf_init(&b);
	e = im_rpc_encode(r, &b);
	if (!e)
		e = im_peer_send(i->peer, &b);
	buf_free(&b);
	if (e < 0)
		debug("%s: cannot send %s for %u: %s", i->peer->conf->jid,
		      im_rpc_name(r->type), i->cid, strerror(-e));
	return e;
}

static void send_simple(struct ic *i, enum im_rpc_type t, int err)
{
	struct im_rpc r = { .type = t, .err = err };

	send_rpc(i, &r);
}

/* The overlay lost @i: tell the guest (if any) and forget the transport. */
static void ic_fail(struct ic *i, int err, bool tell_peer)
{
	debug("%s: connection %u fails: %s", i->peer->conf->jid, i->cid,
	      strerror(err));
	if (tell_peer && im_peer_ready(i->peer))
		send_simple(i, RPC_RESET, ECONNRESET);
	if (i->c) {
		if (i->st == IC_OPEN || !i->mine)
			sh_reset(i->c, err);
		else
			sh_connect_failed(i->c, err);
	}
	ic_free(i);
}

/* ---- output: guest -> peer ---- */

static struct buf *outq(struct ic *i)
{
	return i->c ? &i->c->to_overlay : &i->linger;
}

static bool guest_done(struct ic *i)
{
	return !i->c || i->c->guest_shut;
}

static void inband_pump(struct ic *i)
{
	struct buf *q = outq(i);
	bool took = false;

	if (i->peer_closed && buf_len(q)) {
		/* Like TCP: writing to a peer that closed gets a reset. */
		ic_fail(i, ECONNRESET, true);
		return;
	}
	while (buf_len(q) && i->inflight < IM_INBAND_WINDOW &&
	       im_xmpp_can_send()) {
		size_t n = buf_len(q);
		if (n > IM_INBAND_CHUNK)
			n = IM_INBAND_CHUNK;
		if (n > IM_INBAND_WINDOW - i->inflight)
			n = IM_INBAND_WINDOW - i->inflight;
		struct im_rpc r = { .type = RPC_DATA, .data = buf_peek(q),
				    .dlen = n, .off = i->tx_off };
		if (send_rpc(i, &r) < 0)
			break;
		buf_consume(q, n);
		i->inflight += n;
		i->tx_off += n;
		took = true;
	}
	if (took && i->c)
		sh_output_taken(i->c);
	if (!buf_len(q) && guest_done(i) && !i->shut_sent) {
		if (send_rpc(i, &(struct im_rpc){ .type = RPC_SHUT,
						  .off = i->tx_off }) == 0)
			i->shut_sent = true;
	}
	if (!i->c && i->shut_sent && !buf_len(q)) {
		/* Lingering is over: everything is out. */
		send_rpc(i, &(struct im_rpc){ .type = RPC_CLOSE,
					      .off = i->tx_off });
		ic_free(i);
	}
}

static void ic_output(struct ic *i)
{
	if (i->st != IC_OPEN && i->st != IC_LINGER)
		return;
	if (i->bs)
		im_bs_output(i->bs);
	else
		inband_pump(i);
}

void im_conn_xmpp_writable(void)
{
	struct ic *i, *n;

	/* glibc's <sys/queue.h> has no LIST_FOREACH_SAFE: @n is taken
	 * before @i may be freed. */
	for (i = LIST_FIRST(&ics); i; i = n) {
		n = LIST_NEXT(i, link);
		if (!i->bs && (i->st == IC_OPEN || i->st == IC_LINGER) &&
		    (buf_len(outq(i)) || (guest_done(i) && !i->shut_sent)))
			inband_pump(i);
	}
}

/* ---- input: peer -> guest ---- */

static void send_ack(struct ic *i, size_t n)
{
	if (n)
		send_rpc(i, &(struct im_rpc){ .type = RPC_ACK, .n = n });
}

static void held_flush(struct ic *i)
{
	size_t n = 0;

	if (i->c && buf_len(&i->held)) {
		n = sh_deliver(i->c, buf_peek(&i->held), buf_len(&i->held));
		buf_consume(&i->held, n);
	}
	send_ack(i, n);
	if (i->c && !buf_len(&i->held) && i->peer_shut)
		sh_eof(i->c);
}

/*
 * A data, shut or close message must sit exactly where the stream
 * received so far ends: anything else means a message was lost, swapped
 * or repeated on the way (the server did it, or it broke).  Returns false
 * after resetting @i.
 */
static bool in_order(struct ic *i, const struct im_rpc *r)
{
	if (r->off == i->rx_off)
		return true;
	warn("%s: connection %u: %s at offset %llu, expected %llu (lost, "
	     "reordered or repeated on the way); resetting",
	     i->peer->conf->jid, i->cid, im_rpc_name(r->type),
	     (unsigned long long)r->off, (unsigned long long)i->rx_off);
	ic_fail(i, ECONNRESET, true);
	return false;
}

static void on_data(struct ic *i, const struct im_rpc *r)
{
	size_t n = 0;

	if (!in_order(i, r))
		return;
	i->rx_off += r->dlen;
	if (i->peer_shut || buf_len(&i->held) + r->dlen > IM_INBAND_WINDOW) {
		warn("%s: connection %u: data beyond the window or after "
		     "shutdown; resetting",
		     i->peer->conf->jid, i->cid);
		ic_fail(i, ECONNRESET, true);
		return;
	}
	if (!i->c) {
		/* The guest is gone: take and drop, keep the peer moving. */
		send_ack(i, r->dlen);
		return;
	}
	if (!buf_len(&i->held))
		n = sh_deliver(i->c, r->data, r->dlen);
	if (n < r->dlen && buf_append(&i->held, r->data + n, r->dlen - n) < 0) {
		ic_fail(i, ENOMEM, true);
		return;
	}
	send_ack(i, n);
}

/* ---- bytestreams ---- */

static void bs_event(void *arg, int what, int err);

static void on_activated(void *arg, int err)
{
	struct ic *i = arg;

	i->activating = false;
	if (err < 0) {
		warn("%s: connection %u: proxy refused activation",
		     i->peer->conf->jid, i->cid);
		ic_fail(i, EHOSTUNREACH, true);
		return;
	}
	if (im_bs_start(i->bs) < 0) {
		ic_fail(i, ECONNRESET, true);
		return;
	}
	timer_cancel(&i->timer);
	i->st = IC_OPEN;
	debug("%s: connection %u: bytestream %s active", i->peer->conf->jid,
	      i->cid, i->sid);
	if (i->c)
		sh_connected(i->c, NULL);
	ic_output(i);
}

static void bs_event(void *arg, int what, int err)
{
	struct ic *i = arg;

	switch (what) {
	case BS_EV_READY:
		if (i->mine) {
			/* Both ends are at the proxy: the initiator asks
			 * it to join them. */
			if (im_xmpp_activate(i->sid, i->peer->full, on_activated,
					     i) < 0) {
				ic_fail(i, EHOSTUNREACH, true);
				return;
			}
			i->activating = true;
		} else {
			struct im_rpc r = { .type = RPC_ACCEPT };
			snprintf(r.sid, sizeof(r.sid), "%s", i->sid);
			if (send_rpc(i, &r) < 0 || im_bs_start(i->bs) < 0) {
				ic_fail(i, ECONNRESET, false);
				return;
			}
			timer_cancel(&i->timer);
			i->st = IC_OPEN;
			ic_output(i);
		}
		break;
	case BS_EV_ERROR:
		i->bs = NULL; /* it freed itself */
		if (!i->mine && i->st == IC_BS_SETUP && i->c) {
			/* We could not reach the proxy: the opener has not
			 * heard from us yet, so carry it in-band instead. */
			warn("%s: connection %u: proxy unreachable (%s), going "
			     "in-band",
			     i->peer->conf->jid, i->cid, strerror(err));
			timer_cancel(&i->timer);
			i->sid[0] = '\0';
			send_simple(i, RPC_ACCEPT, 0);
			i->st = IC_OPEN;
			ic_output(i);
			return;
		}
		if (i->st != IC_OPEN && i->st != IC_LINGER)
			warn("%s: connection %u: bytestream setup failed: %s",
			     i->peer->conf->jid, i->cid, strerror(err));
		if (i->c)
			ic_fail(i, err > 0 ? err : ECONNRESET, true);
		else
			ic_free(i);
		break;
	}
}

static int bs_open(struct ic *i)
{
	const char *pj, *host;
	uint16_t port;
	char dst[41];
	uint8_t tx[32], rx[32];
	const char *me = im_xmpp_my_jid();

	if (!im_xmpp_proxy(&pj, &host, &port))
		return -ENOTCONN;
	if (s5_dst_addr(i->sid, i->mine ? me : i->peer->full,
			i->mine ? i->peer->full : me, dst) < 0)
		return -EIO;
	im_bs_keys(i->peer->keys, i->sid, i->mine, tx, rx);
	i->bs = im_bs_open(host, port, dst, tx, rx, i->c, i->mine, bs_event, i);
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(rx, sizeof(rx));
	if (!i->bs)
		return -ENOMEM;
	i->st = IC_BS_SETUP;
	return 0;
}

/* ---- control messages from a peer ---- */

static struct sh_listener *listener_for(struct im_peer *p, uint16_t port)
{
	struct lent *e;

	LIST_FOREACH(e, &lents, link) {
		struct sh_listener *l = e->l;
		if (l->req.dst.port != port)
			continue;
		if (l->req.target[0]) {
			char bare[IM_JID_MAX];
			if (im_jid_bare(l->req.target, bare, sizeof(bare)) < 0 ||
			    strcmp(bare, p->conf->jid) != 0)
				continue;
		}
		return l;
	}
	return NULL;
}

static void on_connect(struct im_peer *p, const struct im_rpc *r)
{
	struct sh_listener *l = listener_for(p, r->port);
	struct ic *i;

	if (ic_find(p, false, r->cid)) {
		warn("%s: duplicate connect %u ignored", p->conf->jid, r->cid);
		return;
	}
	unsigned n = 0;
	struct ic *j;
	LIST_FOREACH(j, &ics, link)
		n += j->peer == p && !j->mine;
	if (!(i = ic_new(p, false, r->cid)))
		return;
	if (n >= PEER_MAX_INCOMING) {
		warn("%s: connect refused: already %u connections from it",
		     p->conf->jid, n);
		send_simple(i, RPC_REFUSE, EAGAIN);
		ic_free(i);
		return;
	}
	/* A connect for a host name reaches us only for the names our
	 * config answers for; it then goes to our guest that accepts on
	 * the port, as any other connect. */
	if (r->name[0] && !im_conf_answers(cf, r->name)) {
		info("%s: connect to %s port %u refused: not a name this helper answers for",
		     p->conf->jid, r->name, r->port);
		send_simple(i, RPC_REFUSE, ECONNREFUSED);
		ic_free(i);
		return;
	}
	if (!l) {
		info("%s: connect to port %u refused: no guest accepts there",
		     p->conf->jid, r->port);
		send_simple(i, RPC_REFUSE, ECONNREFUSED);
		ic_free(i);
		return;
	}
	struct so_addrpair a;
	memset(&a, 0, sizeof(a));
	a.local = l->req.dst;
	i->c = sh_accepted(l, &a);
	if (!i->c) {
		send_simple(i, RPC_REFUSE, ENOMEM);
		ic_free(i);
		return;
	}
	i->c->priv = i;
	/* A bytestream needs both ends at the same proxy: ours must be the
	 * one the opener named (peers on different servers go in-band). */
	const char *pj, *ph;
	uint16_t pp;
	bool bs = r->want_bs && !cf->inband && im_xmpp_proxy(&pj, &ph, &pp) &&
		  (!r->proxy[0] || !strcmp(r->proxy, pj));
	info("%s: connection %u to %s%sport %u accepted (%s)", p->conf->jid,
	     r->cid, r->name, r->name[0] ? " " : "", r->port,
	     bs ? "bytestream" : "in-band");
	if (bs) {
		uint8_t rnd[16];
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(i->sid, sizeof(i->sid), rnd, sizeof(rnd));
		if (bs_open(i) == 0) {
			timer_set(&i->timer, cf->connect_timeout_ms);
			return;
		}
		i->sid[0] = '\0';
	}
	send_simple(i, RPC_ACCEPT, 0);
	i->st = IC_OPEN;
}

void im_conn_rpc(struct im_peer *p, const struct im_rpc *r)
{
	if (r->type == RPC_CONNECT) {
		if (r->opener)
			on_connect(p, r);
		return;
	}
	struct ic *i = ic_find(p, !r->opener, r->cid);
	if (!i) {
		debug("%s: %s for unknown connection %u", p->conf->jid,
		      im_rpc_name(r->type), r->cid);
		return;
	}
	switch (r->type) {
	case RPC_ACCEPT:
		if (!i->mine || i->st != IC_ASKED)
			break;
		if (r->sid[0]) {
			snprintf(i->sid, sizeof(i->sid), "%s", r->sid);
			if (bs_open(i) < 0)
				ic_fail(i, EHOSTUNREACH, true);
			return;
		}
		timer_cancel(&i->timer);
		i->st = IC_OPEN;
		if (i->c)
			sh_connected(i->c, NULL);
		ic_output(i);
		return;
	case RPC_REFUSE:
		if (!i->mine || i->st != IC_ASKED)
			break;
		info("%s: connection %u refused by the peer (%s)", p->conf->jid,
		     i->cid, strerror(r->err));
		if (i->c)
			sh_connect_failed(i->c, r->err);
		ic_free(i);
		return;
	case RPC_DATA:
		if ((i->st == IC_OPEN || i->st == IC_LINGER) && !i->bs)
			on_data(i, r);
		return;
	case RPC_ACK:
		if (r->n > i->inflight) {
			ic_fail(i, ECONNRESET, true);
			return;
		}
		i->inflight -= r->n;
		ic_output(i);
		return;
	case RPC_SHUT:
	case RPC_CLOSE:
		/* The end must be where the data we have ends. */
		if (!in_order(i, r))
			return;
		if (r->type == RPC_CLOSE)
			i->peer_closed = true;
		if (!i->peer_shut) {
			i->peer_shut = true;
			if (i->c && !buf_len(&i->held))
				sh_eof(i->c);
		}
		if (r->type == RPC_CLOSE && !i->c)
			ic_free(i);
		return;
	case RPC_RESET:
		debug("%s: connection %u reset by the peer", p->conf->jid,
		      i->cid);
		ic_fail(i, ECONNRESET, false);
		return;
	default:
		break;
	}
	debug("%s: unexpected %s for connection %u", p->conf->jid,
	      im_rpc_name(r->type), r->cid);
}

static void send_connect(struct ic *i)
{
	const char *pj, *host;
	uint16_t port;
	struct im_rpc r = { .type = RPC_CONNECT, .port = i->c->req.dst.port };

	/* a name (SO_CAP_NAME): the peer decides whether it answers for it */
	snprintf(r.name, sizeof(r.name), "%s", i->c->req.name);

	r.want_bs = !cf->inband && im_xmpp_proxy(&pj, &host, &port);
	if (r.want_bs)
		snprintf(r.proxy, sizeof(r.proxy), "%s", pj);
	if (send_rpc(i, &r) < 0) {
		ic_fail(i, EHOSTUNREACH, false);
		return;
	}
	i->st = IC_ASKED;
}

void im_conn_peer_ready(struct im_peer *p)
{
	struct ic *i, *n;

	for (i = LIST_FIRST(&ics); i; i = n) {
		n = LIST_NEXT(i, link);
		if (i->peer == p && i->st == IC_WAIT)
			send_connect(i);
	}
}

void im_conn_peer_lost(struct im_peer *p, int err)
{
	struct ic *i, *n;

	for (i = LIST_FIRST(&ics); i; i = n) {
		n = LIST_NEXT(i, link);
		if (i->peer != p)
			continue;
		if (i->c)
			info("%s: connection %u lost with the session",
			     p->conf->jid, i->cid);
		ic_fail(i, i->st == IC_OPEN ? ECONNRESET : err, false);
	}
}

static void timer_fire(struct timer *t)
{
	struct ic *i = container_of(t, struct ic, timer);

	if (i->st == IC_LINGER || !i->c) {
		debug("%s: connection %u: gave up lingering", i->peer->conf->jid,
		      i->cid);
		ic_free(i);
		return;
	}
	warn("%s: connection %u: no answer within %llu ms", i->peer->conf->jid,
	     i->cid, (unsigned long long)cf->connect_timeout_ms);
	ic_fail(i, EHOSTUNREACH, true);
}

/* ---- struct sh_ops ---- */

static int im_connect(struct sh_conn *c)
{
	char bare[IM_JID_MAX];
	struct im_peer *p;
	struct ic *i;

	if (!c->req.target[0]) {
		warn("connect to port %u: the rule names no peer (use `helper "
		     "NAME to user@domain')",
		     c->req.dst.port);
		return -EDESTADDRREQ;
	}
	if (im_jid_bare(c->req.target, bare, sizeof(bare)) < 0 ||
	    !(p = im_peer_find(bare))) {
		warn("connect to %s: not a configured peer (add `peer %s KEY' "
		     "to the config)",
		     c->req.target, c->req.target);
		return -EHOSTUNREACH;
	}
	if (!im_xmpp_online() || !p->online) {
		info("connect to %s port %u: peer is offline", bare,
		     c->req.dst.port);
		return -EHOSTUNREACH;
	}
	if (!(i = ic_new(p, true, next_cid++)))
		return -ENOMEM;
	if (!next_cid)
		next_cid = 1;
	i->c = c;
	c->priv = i;
	timer_set(&i->timer, cf->connect_timeout_ms);
	debug("%s: connection %u to port %u", bare, i->cid, c->req.dst.port);
	if (im_peer_ready(p))
		send_connect(i);
	else
		i->st = IC_WAIT;
	return 0;
}

static int im_listen(struct sh_listener *l)
{
	struct lent *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->l = l;
	LIST_INSERT_HEAD(&lents, e, link);
	info("accepting port %u%s%s", l->req.dst.port,
	     l->req.target[0] ? " from " : "", l->req.target);
	return 0;
}

static void im_unlisten(struct sh_listener *l)
{
	struct lent *e;

	LIST_FOREACH(e, &lents, link) {
		if (e->l == l) {
			LIST_REMOVE(e, link);
			free(e);
			return;
		}
	}
}

static void im_output(struct sh_conn *c)
{
	struct ic *i = c->priv;

	if (i)
		ic_output(i);
}

static void im_input_room(struct sh_conn *c)
{
	struct ic *i = c->priv;

	if (!i)
		return;
	if (i->bs)
		im_bs_input_room(i->bs);
	else
		held_flush(i);
}

static void im_close(struct sh_conn *c, int err)
{
	struct ic *i = c->priv;

	if (!i)
		return;
	debug("%s: connection %u closed by the dispatcher (%d)",
	      i->peer->conf->jid, i->cid, err);
	if (err || (i->st != IC_OPEN)) {
		/* A reset, or closed before it was up: nothing to keep. */
		if (i->st != IC_WAIT && im_peer_ready(i->peer))
			send_simple(i, RPC_RESET, err ? err : ECONNRESET);
		i->c = NULL;
		ic_free(i);
		return;
	}
	/* Orderly close: keep what the guest wrote until it is sent. */
	i->linger = c->to_overlay;
	buf_init(&c->to_overlay);
	i->c = NULL;
	i->st = IC_LINGER;
	timer_set(&i->timer, LINGER_MS);
	if (i->bs) {
		/* The stream lingers on its own from here. */
		im_bs_close(i->bs, 0, &i->linger);
		i->bs = NULL;
		ic_free(i);
		return;
	}
	if (i->peer_closed && !buf_len(&i->linger)) {
		ic_free(i);
		return;
	}
	inband_pump(i);
}

static void im_status(struct buf *j)
{
	char s[64];
	unsigned n = 0, bs = 0;
	struct ic *i;

	LIST_FOREACH(i, &ics, link) {
		n++;
		bs += i->bs != NULL;
	}
	im_xmpp_status(j);
	im_peers_status(j);
	int k = snprintf(s, sizeof(s), ",\"carried\":%u,\"bytestreams\":%u", n,
			 bs);
	if (k > 0 && (size_t)k < sizeof(s))
		buf_append(j, s, (size_t)k);
}

const struct sh_ops im_ops = {
	.name = "im",
	.connect = im_connect,
	.listen = im_listen,
	.unlisten = im_unlisten,
	.output = im_output,
	.input_room = im_input_room,
	.close = im_close,
	.status = im_status,
};
