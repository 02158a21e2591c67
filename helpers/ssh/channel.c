// SPDX-License-Identifier: MIT
/*
 * channel.c - what sockout-ssh does with its SSH sessions:
 *
 *   forward   guest connect -> "direct-tcpip" channel to the rule's TARGET
 *             (or the guest's own destination), one channel per connection;
 *   reverse   guest listen  -> "tcpip-forward" on the gateway; each
 *             "forwarded-tcpip" channel the server opens is an ACCEPTED;
 *   peer      guest to guest: a direct-tcpip channel to another helper's
 *             rendezvous forward, starting with the connect header (rdv.c).
 *
 * Every libssh2 call here is non-blocking and made from the pump
 * (session.c).  Channel opens and forward requests use session-wide
 * libssh2 state, so at most one of them is in flight per session
 * (s->ctl_busy); data moves on all channels meanwhile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/net.h"
#include "ssh.h"

enum chan_kind { CK_FWD, CK_PEER_OUT, CK_REV, CK_PEER_IN };
enum chan_state {
	CS_QUEUED,  /* waiting for its channel open */
	CS_HELLO,   /* peer: connect header exchange */
	CS_OPEN,    /* carrying a connection */
	CS_CLOSING, /* dispatcher closed: send what is left, EOF, then free */
	CS_FREEING, /* libssh2_channel_free() until it goes through */
};
/* Sub-steps of chan_step(), in order; a blocked one is resumed first. */
enum { BOP_NONE, BOP_WRITE, BOP_EOF, BOP_READ, BOP_FREE };

struct ssh_chan {
	struct ssh_sess *s;
	LIBSSH2_CHANNEL *ch;
	struct sh_conn *c; /* NULL once the dispatcher is done with it */
	enum chan_kind kind;
	enum chan_state st;
	int bop;
	bool bop_was_write; /* this step repeats a half-sent write */
	size_t wlen; /* length of the write that is half sent (BOP_WRITE) */
	bool eof_sent, eof_seen, connected, reset;
	char host[SSH_HOSTLEN]; /* open: where the server should connect */
	uint16_t port, peer_port;
	uint8_t *open_msg;
	size_t open_len;
	uint8_t hdr_out[RDV_LEN], hdr_in[RDV_LEN];
	size_t hdr_out_len, hdr_out_off, hdr_in_len;
	struct buf linger; /* guest bytes left when the dispatcher closed */
	struct timer t;	   /* open / header timeout */
	struct ssh_chan *next, *prev;
};

/* Most overlay bytes queued for one guest before reading stops. */
#define DELIVER_HIGH (1024u * 1024u)
static uint64_t n_refused, n_peer_in;

static int chan_fn(struct ssh_sess *s, void *obj);

/* ---- channel bookkeeping ---- */

static void chan_link(struct ssh_sess *s, struct ssh_chan *ch)
{
	ch->s = s;
	ch->prev = s->chans_tail;
	if (s->chans_tail)
		s->chans_tail->next = ch;
	else
		s->chans = ch;
	s->chans_tail = ch;
	s->nchans++;
}

static void chan_free(struct ssh_chan *ch)
{
	struct ssh_sess *s = ch->s;

	if (ch->prev)
		ch->prev->next = ch->next;
	else
		s->chans = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	else
		s->chans_tail = ch->prev;
	s->nchans--;
	if (ch->c)
		ch->c->priv = NULL;
	timer_cancel(&ch->t);
	buf_free(&ch->linger);
	free(ch->open_msg);
	free(ch);
}

/* The connection is over for the guest: report it, forget it. */
static void chan_fail_conn(struct ssh_chan *ch, int err)
{
	struct sh_conn *c = ch->c;

	if (!c)
		return;
	ch->c = NULL;
	c->priv = NULL;
	if (ch->connected)
		rt_reset(c, ECONNRESET);
	else
		rt_connect_failed(c, err);
}

static void chan_timeout_cb(struct timer *t)
{
	struct ssh_chan *ch = container_of(t, struct ssh_chan, t);
	struct ssh_sess *s = ch->s;

	if (ch->connected)
		return;
	debug("channel to %s:%u: no answer in time", ch->host, ch->port);
	chan_fail_conn(ch, ETIMEDOUT);
	if (ch->st == CS_QUEUED) {
		if (s->ctl_busy != ch)
			chan_free(ch);
		/* else the open completes, sees no connection, and frees */
	} else if (ch->st == CS_HELLO) {
		ch->st = CS_FREEING;
		ssh_kick(s);
	}
}

/* A channel-level libssh2 error: the connection resets, the session
 * lives on.  Session-level errors are passed up. */
static int chan_error(struct ssh_chan *ch, int rc, const char *what)
{
	if (ssh_fatal_rc(rc))
		return rc;
	if (rc == LIBSSH2_ERROR_BAD_USE)
		return 0; /* another call's packet is half sent: later */
	debug("channel to %s:%u: %s: %s", ch->host, ch->port, what,
	      ssh_errmsg(ch->s));
	chan_fail_conn(ch, ECONNREFUSED);
	ch->st = CS_FREEING;
	return 1;
}

static struct buf *chan_wq(struct ssh_chan *ch)
{
	return ch->c ? &ch->c->to_overlay : &ch->linger;
}

/* ---- the per-channel steps ---- */

/*
 * Finish a write whose packet is half sent after the bytes it came from
 * are gone (the connection was reset meanwhile).  libssh2 only compares
 * its own packet header on the retry; the payload is already encrypted in
 * its output buffer, so any buffer of the same length will do.
 */
static int finish_orphan_write(struct ssh_chan *ch)
{
	static const char zeros[32768];
	ssize_t w = libssh2_channel_write(ch->ch, zeros, ch->wlen);

	if (w == LIBSSH2_ERROR_EAGAIN) {
		int r = ssh_op_blocked(ch->s, chan_fn, ch);
		if (r)
			ch->bop = BOP_WRITE;
		return r;
	}
	if (w < 0 && ssh_fatal_rc((int)w))
		return (int)w;
	return 1;
}

static int do_write(struct ssh_chan *ch)
{
	struct ssh_sess *s = ch->s;
	bool taken = false;
	int moved = 0;

	if (ch->bop_was_write && (ch->st == CS_FREEING || ch->reset)) {
		int r = finish_orphan_write(ch);
		if (r <= 0)
			return r;
		moved = 1;
		if (ch->st == CS_FREEING || ch->reset)
			return moved;
	}

	for (;;) {
		const uint8_t *p;
		size_t n;
		struct buf *q = NULL;

		if (ch->hdr_out_off < ch->hdr_out_len) {
			p = ch->hdr_out + ch->hdr_out_off;
			n = ch->hdr_out_len - ch->hdr_out_off;
		} else if (ch->st == CS_OPEN || ch->st == CS_CLOSING) {
			q = chan_wq(ch);
			p = buf_peek(q);
			n = buf_len(q);
		} else {
			break;
		}
		if (!n)
			break;
		/* libssh2 sends at most 32 KB per call anyway */
		if (n > 32768)
			n = 32768;
		ssh_mt_unlock();
		ssize_t w = libssh2_channel_write(ch->ch, (const char *)p, n);
		ssh_mt_relock();
		s->drained = true; /* libssh2 reads the socket before writing */
		if (w == LIBSSH2_ERROR_EAGAIN) {
			int r = ssh_op_blocked(s, chan_fn, ch);
			if (r) {
				ch->bop = BOP_WRITE;
				ch->wlen = n;
				return r;
			}
			break; /* the peer's window is full */
		}
		if (w < 0) {
			int r = chan_error(ch, (int)w, "write");
			if (r)
				return r; /* the connection is gone (or the session) */
			break;
		}
		if (w == 0)
			break;
		if (q) {
			buf_consume(q, (size_t)w);
			taken = ch->c != NULL;
		} else {
			ch->hdr_out_off += (size_t)w;
		}
		moved = 1;
	}
	if (taken && ch->c)
		rt_output_taken(ch->c);
	return moved;
}

static int do_eof(struct ssh_chan *ch)
{
	bool want;

	if (ch->eof_sent || ch->hdr_out_off < ch->hdr_out_len)
		return 0;
	if (ch->st == CS_OPEN)
		want = ch->c && ch->c->guest_shut &&
		       !buf_len(&ch->c->to_overlay);
	else if (ch->st == CS_CLOSING)
		want = !buf_len(&ch->linger);
	else
		want = false;
	if (!want)
		return 0;
	/* libssh2_channel_send_eof() builds its packet on the stack: if it
	 * were half sent, the repeat (from another stack depth) would not
	 * be recognised and the session would be stuck.  Only send it when
	 * the socket has room for a whole small packet. */
	struct pollfd pf = { .fd = ch->s->ev.fd, .events = POLLOUT };
	if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLOUT)) {
		ch->s->want_out = true;
		return 0;
	}
	int r = libssh2_channel_send_eof(ch->ch);
	if (r == LIBSSH2_ERROR_EAGAIN) {
		r = ssh_op_blocked(ch->s, chan_fn, ch);
		if (r)
			ch->bop = BOP_EOF;
		return r;
	}
	if (r)
		return chan_error(ch, r, "send EOF");
	ch->eof_sent = true;
	return 1;
}

/* A complete connect header or reply arrived. */
static int hello_done(struct ssh_chan *ch)
{
	int e = 0, r;
	uint16_t port = 0;

	if (ch->kind == CK_PEER_OUT) {
		r = rdv_rep_decode(ch->hdr_in, ch->hdr_in_len, &e);
		if (r < 0) {
			warn("rendezvous %s:%u does not answer like a "
			     "sockout-ssh peer",
			     ch->host, ch->port);
			e = ECONNREFUSED;
		}
		timer_cancel(&ch->t);
		if (e) {
			debug("peer refused port %u: %s", ch->peer_port,
			      strerror(e));
			chan_fail_conn(ch, e);
			ch->st = CS_FREEING;
			return 1;
		}
		ch->st = CS_OPEN;
		ch->connected = true;
		if (ch->c) {
			struct so_addrpair a = { .peer = ch->c->req.dst };
			rt_connected(ch->c, &a);
		}
		return 1;
	}
	/* CK_PEER_IN: another helper wants one of our guests. */
	timer_cancel(&ch->t);
	r = rdv_req_decode(ch->hdr_in, ch->hdr_in_len, &port);
	if (r < 0) {
		warn("rendezvous: a connection that is not a sockout peer "
		     "(%s); closing it",
		     strerror(-r));
		if (r == -EPROTONOSUPPORT) {
			rdv_rep_encode(ch->hdr_out, EPROTONOSUPPORT);
			ch->hdr_out_len = RDV_LEN;
			ch->st = CS_CLOSING;
		} else {
			ch->st = CS_FREEING;
		}
		return 1;
	}
	n_peer_in++;
	struct sh_listener *l = ssh_fwd_find_listener(port);
	struct sh_conn *c = NULL;
	if (l) {
		struct so_addrpair a = { .local = l->req.dst };
		c = rt_accepted(l, &a);
	}
	if (!c) {
		/* The paper's error: no guest accepts on that port. */
		n_refused++;
		debug("peer asked for port %u: nobody accepts there", port);
		rdv_rep_encode(ch->hdr_out, l ? ENOMEM : ECONNREFUSED);
		ch->hdr_out_len = RDV_LEN;
		ch->st = CS_CLOSING;
		return 1;
	}
	rdv_rep_encode(ch->hdr_out, 0);
	ch->hdr_out_len = RDV_LEN;
	ch->c = c;
	c->priv = ch;
	ch->connected = true;
	ch->st = CS_OPEN;
	return 1;
}

static int do_read(struct ssh_chan *ch)
{
	struct ssh_sess *s = ch->s;
	int moved = 0;

	if (ch->st == CS_HELLO) {
		ssize_t n = libssh2_channel_read(
			ch->ch, (char *)ch->hdr_in + ch->hdr_in_len,
			RDV_LEN - ch->hdr_in_len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			int r = ssh_op_blocked(s, chan_fn, ch);
			if (r)
				ch->bop = BOP_READ;
			return r;
		}
		if (n < 0)
			return chan_error(ch, (int)n, "read header");
		if (n == 0) { /* closed before answering */
			chan_fail_conn(ch, ECONNREFUSED);
			ch->st = CS_FREEING;
			return 1;
		}
		ch->hdr_in_len += (size_t)n;
		if (ch->hdr_in_len == RDV_LEN)
			return hello_done(ch);
		return 1;
	}
	if (ch->st != CS_OPEN || !ch->c || ch->eof_seen)
		return 0;
	/* Once this pass has drained the socket, a channel with nothing
	 * queued has nothing to read: skip the call (and its recv()).  Its
	 * window cannot be stuck at zero meanwhile, since every read leaves
	 * it at least 3/4 open. */
	if (s->drained) {
		unsigned long avail = 0;
		libssh2_channel_window_read_ex(ch->ch, &avail, NULL);
		if (!avail && !libssh2_channel_eof(ch->ch))
			return 0;
	}
	/* Asked once: only our own deliveries change it meanwhile (the guest
	 * reads from the loop), and each question may be a round trip to the
	 * main thread (thread.c). */
	size_t rt_room = rt_input_room(ch->c);
	for (;;) {
		struct buf *q = &ch->c->to_guest;
		size_t room = rt_room, have = buf_len(q);
		/* Keep the guest queue short: the SSH window already buffers
		 * in libssh2, and a short queue is never slid or regrown
		 * (those copies cost more than the crypto).  Pausing here is
		 * what sh_deliver() does when the queue is full, so the
		 * runtime calls input_room() once the guest reads. */
		if (have >= DELIVER_HIGH) {
			ch->c->input_paused = true;
			room = 0;
		} else if (room > DELIVER_HIGH - have) {
			room = DELIVER_HIGH - have;
		}
		if (!have && room)
			buf_reserve(q, DELIVER_HIGH); /* one allocation per burst */
		/* With no room, read 0 bytes: that still drains the socket
		 * for the other channels without taking this one's data. */
		size_t want = room < SSH_RBUF ? room : SSH_RBUF;
		ssh_mt_unlock();
		ssize_t n = libssh2_channel_read(ch->ch, s->rbuf, want);
		ssh_mt_relock();
		s->drained = true;
		if (n == LIBSSH2_ERROR_EAGAIN) {
			int r = ssh_op_blocked(s, chan_fn, ch);
			if (r) {
				ch->bop = BOP_READ;
				return r;
			}
			break;
		}
		if (n < 0) {
			int r = chan_error(ch, (int)n, "read");
			return r ? r : moved;
		}
		if (n == 0) {
			if (want || libssh2_channel_eof(ch->ch)) {
				ch->eof_seen = true;
				rt_eof(ch->c);
				moved = 1;
			}
			break;
		}
		size_t took = rt_deliver(ch->c, s->rbuf, (size_t)n);
		rt_room = took < (size_t)n || took >= rt_room ? 0 :
								  rt_room - took;
		moved = 1;
		if (!want)
			break;
	}
	return moved;
}

static int do_free(struct ssh_chan *ch)
{
	if (ch->st == CS_CLOSING && ch->hdr_out_off >= ch->hdr_out_len &&
	    !buf_len(&ch->linger) && (ch->eof_sent || ch->reset))
		ch->st = CS_FREEING;
	if (ch->st != CS_FREEING)
		return 0;
	int r = libssh2_channel_free(ch->ch);
	if (r == LIBSSH2_ERROR_EAGAIN) {
		r = ssh_op_blocked(ch->s, chan_fn, ch);
		if (r)
			ch->bop = BOP_FREE;
		return r;
	}
	if (r == LIBSSH2_ERROR_BAD_USE)
		return 0;
	if (ssh_fatal_rc(r))
		return r;
	chan_free(ch);
	return 1;
}

/* Does do_read() call libssh2_channel_read() in this state? */
static bool reads_now(const struct ssh_chan *ch)
{
	return ch->st == CS_HELLO ||
	       (ch->st == CS_OPEN && ch->c && !ch->eof_seen);
}

/* Repeat a half-sent EOF, or the window adjust inside a half-sent read,
 * for a channel whose state no longer asks for it. */
static int finish_orphan(struct ssh_chan *ch, int op)
{
	ssize_t r;

	if (op == BOP_EOF)
		r = libssh2_channel_send_eof(ch->ch);
	else
		r = libssh2_channel_read(ch->ch, ch->s->rbuf, 0);
	if (r == LIBSSH2_ERROR_EAGAIN) {
		int b = ssh_op_blocked(ch->s, chan_fn, ch);
		if (b)
			ch->bop = op;
		return b;
	}
	if (r < 0 && ssh_fatal_rc((int)r))
		return (int)r;
	if (op == BOP_EOF && r == 0)
		ch->eof_sent = true;
	return 1;
}

/* One round of work on one channel; may free it. */
static int chan_step(struct ssh_sess *s, struct ssh_chan *ch)
{
	int start = ch->bop, moved = 0, r;

	(void)s;
	ch->bop = BOP_NONE;
	ch->bop_was_write = start == BOP_WRITE;
	if (ch->st == CS_QUEUED)
		return 0;
	/* A half-sent EOF or read-side window adjust must be repeated even
	 * if the channel changed state meanwhile (do_eof()/do_read() would
	 * no longer make that call). */
	if (start == BOP_EOF || (start == BOP_READ && !reads_now(ch))) {
		if ((r = finish_orphan(ch, start)) < 0)
			return r;
		moved |= r;
		start = BOP_READ + 1; /* go on with freeing, if due */
	}
	/* A half-sent write is finished whatever became of the channel. */
	if (start == BOP_WRITE ||
	    (start <= BOP_WRITE && ch->st != CS_FREEING && !ch->reset)) {
		if ((r = do_write(ch)) < 0)
			return r;
		moved |= r;
	}
	if (start <= BOP_EOF && ch->st != CS_FREEING && !ch->reset) {
		if ((r = do_eof(ch)) < 0)
			return r;
		moved |= r;
	}
	if (start <= BOP_READ && ch->st != CS_FREEING) {
		if ((r = do_read(ch)) < 0)
			return r;
		moved |= r;
	}
	if ((r = do_free(ch)) < 0)
		return r;
	return moved | r;
}

static int chan_fn(struct ssh_sess *s, void *obj)
{
	return chan_step(s, obj);
}

/* ---- control: opens and forward requests, one at a time ---- */

static int open_errno(struct ssh_sess *s)
{
	const char *m = ssh_errmsg(s);

	if (strstr(m, "administratively prohibited"))
		return EACCES;
	if (strstr(m, "resource shortage"))
		return EAGAIN;
	return ECONNREFUSED; /* "connect failed" and the rest */
}


static int ctl_open(struct ssh_sess *s, struct ssh_chan *ch)
{
	ch->ch = libssh2_channel_open_ex(s->ls, "direct-tcpip",
					 sizeof("direct-tcpip") - 1,
					 ssh_cfg->window, 32768,
					 (const char *)ch->open_msg,
					 (unsigned)ch->open_len);
	if (!ch->ch) {
		int rc = libssh2_session_last_errno(s->ls);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return ssh_op_blocked(s, ssh_ctl_step, NULL);
		if (rc == LIBSSH2_ERROR_BAD_USE)
			return 0;
		s->ctl_busy = NULL;
		if (ssh_fatal_rc(rc))
			return rc;
		debug("channel to %s:%u refused: %s", ch->host, ch->port,
		      ssh_errmsg(s));
		chan_fail_conn(ch, open_errno(s));
		chan_free(ch);
		return 1;
	}
	s->ctl_busy = NULL;
	timer_cancel(&ch->t);
	if (!ch->c) { /* given up on while opening */
		ch->st = CS_FREEING;
		return 1;
	}
	if (ch->kind == CK_PEER_OUT) {
		rdv_req_encode(ch->hdr_out, ch->peer_port);
		ch->hdr_out_len = RDV_LEN;
		ch->st = CS_HELLO;
		timer_set(&ch->t, ssh_cfg->peer_timeout_ms);
		return 1;
	}
	ch->st = CS_OPEN;
	ch->connected = true;
	struct so_addrpair a = { .peer = ch->c->req.dst };
	rt_connected(ch->c, &a);
	return 1;
}

int ssh_ctl_step(struct ssh_sess *s, void *obj)
{
	(void)obj;
	if (!s->ctl_busy) {
		if (s->idx == 0)
			ssh_fwd_pick_ctl(s); /* forward requests go first */
		if (!s->ctl_busy) {
			for (struct ssh_chan *ch = s->chans; ch; ch = ch->next) {
				if (ch->st == CS_QUEUED) {
					s->ctl_busy = ch;
					s->ctl_kind = CTL_OPEN;
					break;
				}
			}
		}
		if (!s->ctl_busy)
			return 0;
	}
	switch (s->ctl_kind) {
	case CTL_OPEN: return ctl_open(s, s->ctl_busy);
	case CTL_LISTEN:
	case CTL_CANCEL: return ssh_fwd_ctl(s);
	}
	return 0;
}

/* ---- incoming channels on gateway forwards ---- */

int ssh_chan_incoming(struct ssh_sess *s, LIBSSH2_CHANNEL *lc,
		      const char *host, uint16_t port, struct sh_listener *l,
		      bool peer)
{
	struct ssh_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	ch->ch = lc;
	buf_init(&ch->linger);
	timer_init(&ch->t, chan_timeout_cb);
	snprintf(ch->host, sizeof(ch->host), "%s", host);
	ch->port = port;
	chan_link(s, ch);
	if (peer) {
		ch->kind = CK_PEER_IN;
		ch->st = CS_HELLO;
		timer_set(&ch->t, ssh_cfg->peer_timeout_ms);
		return 0;
	}
	ch->kind = CK_REV;
	if (!l) { /* the guest stopped listening meanwhile */
		ch->st = CS_FREEING;
		return 0;
	}
	/* libssh2 1.10 keeps the originator's address to itself: the best
	 * we can say is "through the gateway" (its address, port 0). */
	struct so_addrpair a = { .local = l->req.dst };
	so_addr_from_sa(&a.peer, (struct sockaddr *)&s->peer_sa);
	a.peer.port = 0;
	ch->c = rt_accepted(l, &a);
	if (!ch->c) {
		ch->st = CS_FREEING;
		return 0;
	}
	ch->c->priv = ch;
	ch->connected = true;
	ch->st = CS_OPEN;
	return 0;
}

int ssh_chan_steps(struct ssh_sess *s)
{
	int moved = 0, r;

	s->drained = false;

	if ((r = ssh_ctl_step(s, NULL)) < 0)
		return r;
	moved |= r;
	if (s->idx == 0) {
		if ((r = ssh_fwd_accepts(s)) < 0)
			return r;
		moved |= r;
	}
	for (struct ssh_chan *ch = s->chans, *n; ch; ch = n) {
		n = ch->next;
		if ((r = chan_step(s, ch)) < 0)
			return r;
		moved |= r;
	}
	return moved;
}

bool ssh_chan_wants_input(const struct ssh_sess *s)
{
	if (s->ctl_busy)
		return true;
	if (s->idx == 0 && ssh_fwd_wants_input())
		return true; /* accepts read the socket */
	for (const struct ssh_chan *ch = s->chans; ch; ch = ch->next) {
		switch (ch->st) {
		case CS_QUEUED:
			break;
		case CS_OPEN:
			if (ch->c && (!ch->eof_seen ||
				      buf_len(&ch->c->to_overlay)))
				return true;
			break;
		default:
			return true;
		}
	}
	return false;
}

bool ssh_chan_has_output(const struct ssh_sess *s)
{
	for (const struct ssh_chan *ch = s->chans; ch; ch = ch->next)
		if ((ch->st == CS_OPEN && ch->c &&
		     buf_len(&ch->c->to_overlay)) ||
		    (ch->st == CS_CLOSING && buf_len(&ch->linger)))
			return true;
	return false;
}

void ssh_chan_session_down(struct ssh_sess *s, int err)
{
	while (s->chans) {
		struct ssh_chan *ch = s->chans;
		chan_fail_conn(ch, err);
		chan_free(ch);
	}
	if (s->idx == 0)
		ssh_fwd_session_down();
}

void ssh_chan_session_up(struct ssh_sess *s)
{
	ssh_kick(s);
}

/* ---- the helper runtime's callbacks ---- */

/* The direct-tcpip request: host, port, originator address and port. */
static int build_open_msg(struct ssh_chan *ch)
{
	static const char orig[] = "127.0.0.1";
	size_t hl = strlen(ch->host), ol = sizeof(orig) - 1;
	uint8_t *p = malloc(4 + hl + 4 + 4 + ol + 4);

	if (!p)
		return -ENOMEM;
	ch->open_msg = p;
	p[0] = (uint8_t)(hl >> 24); p[1] = (uint8_t)(hl >> 16);
	p[2] = (uint8_t)(hl >> 8); p[3] = (uint8_t)hl;
	memcpy(p + 4, ch->host, hl);
	p += 4 + hl;
	p[0] = 0; p[1] = 0; p[2] = (uint8_t)(ch->port >> 8);
	p[3] = (uint8_t)ch->port;
	p += 4;
	p[0] = 0; p[1] = 0; p[2] = 0; p[3] = (uint8_t)ol;
	memcpy(p + 4, orig, ol);
	p += 4 + ol;
	memset(p, 0, 4);
	ch->open_len = 4 + hl + 4 + 4 + ol + 4;
	return 0;
}

static int op_connect(struct sh_conn *c)
{
	struct ssh_target t;
	struct ssh_sess *s;
	struct ssh_chan *ch;

	if (ssh_target_parse(c->req.target, &t) < 0 ||
	    t.kind == TGT_PEER_ONLY) {
		warn("connect: bad target `%s'", c->req.target);
		return -EINVAL;
	}
	s = ssh_pick_session();
	if (!s)
		return -ENETUNREACH; /* every session is down: fail fast */
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	buf_init(&ch->linger);
	timer_init(&ch->t, chan_timeout_cb);
	ch->c = c;
	ch->st = CS_QUEUED;
	switch (t.kind) {
	case TGT_DEFAULT: {
		struct sockaddr_storage ss;
		socklen_t l;
		if (so_addr_to_sa(&c->req.dst, &ss, &l) < 0) {
			free(ch);
			return -EINVAL;
		}
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)&ss)->sin_addr,
				  ch->host, sizeof(ch->host));
		else
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&ss)->sin6_addr,
				  ch->host, sizeof(ch->host));
		ch->port = c->req.dst.port;
		ch->kind = CK_FWD;
		break;
	}
	case TGT_HOSTPORT:
		snprintf(ch->host, sizeof(ch->host), "%s", t.host);
		ch->port = t.port ? t.port : c->req.dst.port;
		ch->kind = CK_FWD;
		break;
	default:
		snprintf(ch->host, sizeof(ch->host), "%s", t.host);
		ch->port = t.port;
		ch->peer_port = t.peer_port ? t.peer_port : c->req.dst.port;
		ch->kind = CK_PEER_OUT;
		break;
	}
	if (!ch->port || (ch->kind == CK_PEER_OUT && !ch->peer_port) ||
	    build_open_msg(ch) < 0) {
		free(ch);
		return -EINVAL;
	}
	c->priv = ch;
	chan_link(s, ch);
	timer_set(&ch->t, ssh_cfg->connect_timeout_ms);
	ssh_kick(s);
	return 0;
}

/* Pump later, not here: the runtime answers the WRITE as soon as this
 * returns, so the dispatcher reads and sends the next chunk while we
 * encrypt this one (pumping here serialised the two processes). */
static void op_output(struct sh_conn *c)
{
	struct ssh_chan *ch = c->priv;

	if (ch && ch->st == CS_OPEN)
		ssh_kick(ch->s);
}

static void op_input_room(struct sh_conn *c)
{
	struct ssh_chan *ch = c->priv;

	if (ch && ch->st == CS_OPEN)
		ssh_pump(ch->s);
}

static void op_close(struct sh_conn *c, int err)
{
	struct ssh_chan *ch = c->priv;
	struct ssh_sess *s;

	if (!ch)
		return;
	s = ch->s;
	c->priv = NULL;
	ch->c = NULL;
	switch (ch->st) {
	case CS_QUEUED:
		if (s->ctl_busy != ch)
			chan_free(ch);
		return;
	case CS_HELLO:
		ch->st = CS_FREEING;
		break;
	case CS_OPEN:
		if (err) {
			ch->reset = true;
			ch->st = CS_FREEING;
			break;
		}
		/* Keep what the guest wrote but we have not sent yet: an
		 * orderly close must not lose the tail of the stream. */
		ch->linger = c->to_overlay;
		buf_init(&c->to_overlay);
		ch->st = CS_CLOSING;
		break;
	default:
		break;
	}
	ssh_kick(s);
}

static void op_status(struct buf *j)
{
	static const char *const names[] = { "down", "tcp", "handshake",
					     "auth", "up" };
	char tmp[512];
	unsigned nf = ssh_fwd_count_up();
	snprintf(tmp, sizeof(tmp),
		 ",\"server\":\"%s:%u\",\"forwards\":%u,\"peer_in\":%llu,"
		 "\"peer_refused\":%llu,\"accepted\":%llu,\"rounds\":%llu,"
		 "\"sessions\":[",
		 ssh_cfg->server_host, ssh_cfg->server_port, nf,
		 (unsigned long long)n_peer_in, (unsigned long long)n_refused,
		 (unsigned long long)ssh_fwd_accepted,
		 (unsigned long long)ssh_mt_rounds);
	buf_append(j, tmp, strlen(tmp));
	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		const struct ssh_sess *s = &ssh_sessions[i];
		snprintf(tmp, sizeof(tmp),
			 "%s{\"state\":\"%s\",\"channels\":%u,\"rx\":%llu,"
			 "\"tx\":%llu,\"half_sent\":%llu,\"logins\":%u}",
			 i ? "," : "", names[s->st], s->nchans,
			 (unsigned long long)s->rx_bytes,
			 (unsigned long long)s->tx_bytes,
			 (unsigned long long)s->half_sent, s->ups);
		buf_append(j, tmp, strlen(tmp));
	}
	buf_append(j, "]", 1);
}

const struct sh_ops ssh_ops = {
	.name = "ssh",
	.connect = op_connect,
	.listen = ssh_op_listen,
	.unlisten = ssh_op_unlisten,
	.output = op_output,
	.input_room = op_input_room,
	.close = op_close,
	.status = op_status,
};
