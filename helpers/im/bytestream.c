// SPDX-License-Identifier: MIT
/*
 * bytestream.c - one XEP-0065 SOCKS5 bytestream per guest connection,
 * through the XMPP server's proxy, carrying our own encrypted framing.
 *
 * Setup: dial the proxy, "no auth", CONNECT to the 40-hex-digit
 * DST.ADDR; the target (accepting side) does this first, then the
 * initiator, which asks the proxy to activate the pair over XMPP (conn.c).
 *
 * Stream (docs/im.md): each direction starts with a 24-byte
 * crypto_secretstream_xchacha20poly1305 header, then frames
 *   u32 length (big-endian) | secretstream ciphertext of (kind | data)
 * kind 'D' data, 'F' end of data (tag FINAL: the guest half-closed),
 * 'R' reset.  The initiator sends its header at once; the target sends
 * its own only after the initiator's arrived, i.e. after activation.  A
 * stream that ends without 'F' was cut: the guest gets a reset, never a
 * silently truncated EOF.
 *
 * Flow control: we stop reading the socket while the runtime's queue for
 * the guest is full (sh_input_room() == 0) and go on in ops->input_room;
 * we stop taking guest bytes while our socket output is backed up.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "helpers/im/im.h"

#define SS_HDR crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_AB crypto_secretstream_xchacha20poly1305_ABYTES
#define BS_IN_MAX ((size_t)256 * 1024)
#define BS_OUT_HIGH ((size_t)256 * 1024)
#define BS_SETUP_MS 10000
#define BS_LINGER_MS 30000
/* See pad_cb(). */
#define BS_PAD_DELAY_MS 3
#define BS_PAD_LEN 8192

enum { B_CONNECTING, B_METHOD, B_REPLY, B_READY, B_STREAM, B_LINGER };

struct bs_secret {
	uint8_t txk[32], rxk[32];
	crypto_secretstream_xchacha20poly1305_state tx, rx;
};

struct im_bs {
	struct ev ev;
	struct timer timer;
	struct timer pad;  /* see pad_cb() */
	bool dirty;	   /* real bytes written since the last padding */
	uint64_t last_tx;  /* when they were */
	int st;
	bool initiator, tx_ready, rx_ready, fin_sent, fin_rcvd, eof, wr_shut;
	struct sh_conn *c; /* NULL once lingering */
	im_bs_event cb;
	void *arg;
	char dst[41];
	struct buf in, out, held, rest;
	struct bs_secret *s; /* sodium_malloc */
};

static uint8_t frame_buf[1 + BS_FRAME_MAX + SS_AB];

ssize_t bs_frame_len(const uint8_t *p, size_t len)
{
	if (len < 4)
		return 0;
	uint32_t l = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		     (uint32_t)p[2] << 8 | p[3];
	if (l < SS_AB + 1 || l > SS_AB + 1 + BS_FRAME_MAX)
		return -EPROTO;
	if (len < 4 + (size_t)l)
		return 0;
	return 4 + (ssize_t)l;
}

static void bs_free(struct im_bs *b)
{
	int fd = b->ev.fd;

	timer_cancel(&b->timer);
	timer_cancel(&b->pad);
	ev_del(&b->ev);
	if (fd >= 0)
		close(fd);
	buf_free(&b->in);
	buf_free(&b->out);
	buf_free(&b->held);
	buf_free(&b->rest);
	if (b->s)
		sodium_free(b->s);
	free(b);
}

/* Setup or stream failed: tell conn.c (which forgets us) and go. */
static void bs_fail(struct im_bs *b, int err)
{
	im_bs_event cb = b->cb;
	void *arg = b->arg;

	debug("bytestream %.8s: closing: %s", b->dst, strerror(err));
	b->cb = NULL;
	bs_free(b);
	if (cb)
		cb(arg, BS_EV_ERROR, err);
}

static void update(struct im_bs *b)
{
	uint32_t e = 0;

	switch (b->st) {
	case B_CONNECTING:
		e = EPOLLOUT;
		break;
	case B_METHOD:
	case B_REPLY:
	case B_READY:
		e = EPOLLIN;
		break;
	default:
		if (!b->eof && !buf_len(&b->held) && buf_len(&b->in) < BS_IN_MAX)
			e |= EPOLLIN;
		if (buf_len(&b->out))
			e |= EPOLLOUT;
	}
	ev_mod(&b->ev, e);
}

static int push_frame(struct im_bs *b, uint8_t kind, const uint8_t *p,
		      size_t len)
{
	uint8_t tag = kind == BS_K_FIN ?
			      crypto_secretstream_xchacha20poly1305_TAG_FINAL :
			      crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
	size_t cl = 1 + len + SS_AB;
	uint8_t *o = buf_reserve(&b->out, 4 + cl);

	if (!o)
		return -ENOMEM;
	o[0] = (uint8_t)(cl >> 24);
	o[1] = (uint8_t)(cl >> 16);
	o[2] = (uint8_t)(cl >> 8);
	o[3] = (uint8_t)cl;
	frame_buf[0] = kind;
	if (len)
		memcpy(frame_buf + 1, p, len);
	crypto_secretstream_xchacha20poly1305_push(&b->s->tx, o + 4, NULL,
						   frame_buf, 1 + len, NULL, 0,
						   tag);
	buf_commit(&b->out, 4 + cl);
	return 0;
}

static int start_tx(struct im_bs *b)
{
	uint8_t *h = buf_reserve(&b->out, SS_HDR);

	if (!h)
		return -ENOMEM;
	crypto_secretstream_xchacha20poly1305_init_push(&b->s->tx, h,
							b->s->txk);
	buf_commit(&b->out, SS_HDR);
	b->tx_ready = true;
	return 0;
}

/* Move guest bytes into encrypted frames, then write what we can.
 * Returns 0 or -errno (the stream is then dead). */
static int pump_out(struct im_bs *b)
{
	struct buf *q = b->c ? &b->c->to_overlay : &b->rest;
	bool took = false;

again:
	if (b->tx_ready && !b->fin_sent) {
		while (buf_len(q) && buf_len(&b->out) < BS_OUT_HIGH) {
			size_t n = buf_len(q);
			if (n > BS_FRAME_MAX)
				n = BS_FRAME_MAX;
			if (push_frame(b, BS_K_DATA, buf_peek(q), n) < 0)
				return -ENOMEM;
			buf_consume(q, n);
			took = true;
		}
		if (!buf_len(q) && (!b->c || b->c->guest_shut)) {
			if (push_frame(b, BS_K_FIN, NULL, 0) < 0)
				return -ENOMEM;
			b->fin_sent = true;
			took = true;
			debug("bytestream %.8s: end of data sent", b->dst);
		}
	}
	if (took && b->c)
		sh_output_taken(b->c);
	while (buf_len(&b->out)) {
		ssize_t n = buf_write_fd(&b->out, b->ev.fd);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
	}
	/* Everything went out and the guest has more: go on, or nothing
	 * would wake us (no EPOLLOUT is asked for with an empty queue). */
	if (!buf_len(&b->out) && buf_len(q) && b->tx_ready && !b->fin_sent)
		goto again;
	if (took) {
		b->dirty = true;
		b->last_tx = now_ms();
	}
	if (b->dirty && !buf_len(&b->out) && !timer_armed(&b->pad))
		timer_set(&b->pad, BS_PAD_DELAY_MS);
	if (b->st == B_LINGER && b->fin_sent && !buf_len(&b->out) &&
	    !b->dirty && !b->wr_shut) {
		/* All out: let the proxy pass our EOF on, wait for the
		 * peer's end (or the timer) before closing. */
		shutdown(b->ev.fd, SHUT_WR);
		b->wr_shut = true;
	}
	return 0;
}

/* Deliver held plaintext; then decode frames while the guest has room.
 * Returns 0 or -errno. */
static int pump_in(struct im_bs *b)
{
	ssize_t fl;

	if (buf_len(&b->held)) {
		size_t n = b->c ? sh_deliver(b->c, buf_peek(&b->held),
					     buf_len(&b->held)) :
				  buf_len(&b->held);
		buf_consume(&b->held, n);
		if (buf_len(&b->held))
			return 0;
	}
	if (!b->rx_ready) {
		if (buf_len(&b->in) < SS_HDR)
			goto eof;
		if (crypto_secretstream_xchacha20poly1305_init_pull(
			    &b->s->rx, buf_peek(&b->in), b->s->rxk) != 0)
			return -EBADMSG;
		buf_consume(&b->in, SS_HDR);
		b->rx_ready = true;
		if (!b->tx_ready) {
			/* target: the initiator's header proves the stream
			 * is activated; now ours may follow. */
			if (start_tx(b) < 0)
				return -ENOMEM;
		}
	}
	while (!buf_len(&b->held) && (fl = bs_frame_len(buf_peek(&b->in),
						       buf_len(&b->in))) != 0) {
		unsigned long long ml;
		uint8_t tag;
		if (b->fin_rcvd) {
			/* Only padding may follow the end: drop it. */
			buf_consume(&b->in, buf_len(&b->in));
			break;
		}
		if (fl < 0)
			return -EPROTO;
		if (crypto_secretstream_xchacha20poly1305_pull(
			    &b->s->rx, frame_buf, &ml, &tag,
			    buf_peek(&b->in) + 4, (size_t)fl - 4, NULL, 0) != 0)
			return -EBADMSG;
		buf_consume(&b->in, (size_t)fl);
		if (ml < 1)
			return -EPROTO;
		switch (frame_buf[0]) {
		case BS_K_DATA: {
			size_t n = b->c ? sh_deliver(b->c, frame_buf + 1,
						     (size_t)ml - 1) :
					  (size_t)ml - 1;
			if (n < ml - 1 &&
			    buf_append(&b->held, frame_buf + 1 + n,
				       (size_t)ml - 1 - n) < 0)
				return -ENOMEM;

			break;
		}
		case BS_K_FIN:
			if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)
				return -EPROTO;
			b->fin_rcvd = true;
			debug("bytestream %.8s: end of data received", b->dst);
			break;
		case BS_K_PAD:
			break;
		case BS_K_RESET:
			return -ECONNRESET;
		default:
			return -EPROTO;
		}
	}
	if (b->fin_rcvd && !buf_len(&b->held) && b->c)
		sh_eof(b->c);
eof:
	if (b->eof && !b->fin_rcvd)
		return -ECONNRESET; /* cut short: not an orderly end */
	return 0;
}

static void stream_event(struct im_bs *b, uint32_t events)
{
	int r = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (!b->eof && buf_len(&b->in) < BS_IN_MAX &&
		    !buf_len(&b->held)) {
			ssize_t n = buf_read_fd(&b->in, b->ev.fd,
						BS_IN_MAX - buf_len(&b->in));
			if (n == 0)
				b->eof = true;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				r = -errno;
		}
		if (!r)
			r = pump_in(b);
	}
	if (!r && (events & EPOLLOUT || buf_len(&b->out) ||
		   (b->c && buf_len(&b->c->to_overlay))))
		r = pump_out(b);
	if (b->st == B_LINGER) {
		if (r < 0 || b->eof || (b->wr_shut && (b->fin_rcvd))) {
			bs_free(b);
			return;
		}
		update(b);
		return;
	}
	if (r < 0) {
		debug("bytestream %s: %s", b->dst, strerror(-r));
		bs_fail(b, -r == EPROTO || -r == EBADMSG ? ECONNRESET : -r);
		return;
	}
	update(b);
}

/*
 * Why padding: Prosody 0.12's proxy reads 4 KiB at a time through a
 * LuaSocket buffer and pauses the reading side after each read until the
 * other side drained; bytes left in that buffer are only read when more
 * bytes reach the kernel.  So the tail of a burst can sit in the proxy
 * for ever.  After each burst we send BS_PAD_LEN bytes of padding (a 'P'
 * frame, or raw bytes after our FIN, which the receiver ignores), so that
 * whatever stays behind in the proxy is padding.
 */
static void pad_cb(struct timer *t)
{
	struct im_bs *b = container_of(t, struct im_bs, pad);
	static const uint8_t zero[BS_PAD_LEN];

	if (b->st != B_STREAM && b->st != B_LINGER)
		return;
	if (buf_len(&b->out) || !b->dirty)
		return; /* still writing: the next drain pads */
	if (now_ms() - b->last_tx < BS_PAD_DELAY_MS) {
		timer_set(t, BS_PAD_DELAY_MS); /* not idle yet */
		return;
	}
	b->dirty = false;
	if (!b->fin_sent) {
		if (push_frame(b, BS_K_PAD, zero, BS_PAD_LEN - 4 - 1 - SS_AB) < 0)
			return;
	} else if (!b->wr_shut) {
		if (buf_append(&b->out, zero, BS_PAD_LEN) < 0)
			return;
	} else {
		return;
	}
	if (pump_out(b) < 0)
		return; /* the next event reports it */
	update(b);
}

static void bs_cb(struct ev *ev, uint32_t events)
{
	struct im_bs *b = container_of(ev, struct im_bs, ev);
	uint8_t msg[S5_REQ_LEN];
	int r;

	switch (b->st) {
	case B_CONNECTING: {
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(ev->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
		    err) {
			bs_fail(b, err ? err : EHOSTUNREACH);
			return;
		}
		s5_greeting(msg);
		if (write(ev->fd, msg, S5_GREETING_LEN) != S5_GREETING_LEN) {
			bs_fail(b, EHOSTUNREACH);
			return;
		}
		b->st = B_METHOD;
		update(b);
		return;
	}
	case B_METHOD:
	case B_REPLY: {
		ssize_t n = buf_read_fd(&b->in, ev->fd, 512);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			bs_fail(b, ECONNREFUSED);
			return;
		}
		if (b->st == B_METHOD) {
			r = s5_parse_method(buf_peek(&b->in), buf_len(&b->in));
			if (r == 0)
				return;
			if (r < 0) {
				bs_fail(b, ECONNREFUSED);
				return;
			}
			buf_consume(&b->in, (size_t)r);
			/* The proxy reads each message in one go: send the
			 * request only now, not together with the greeting. */
			s5_request(msg, b->dst);
			if (write(ev->fd, msg, S5_REQ_LEN) != S5_REQ_LEN) {
				bs_fail(b, EHOSTUNREACH);
				return;
			}
			b->st = B_REPLY;
			return;
		}
		r = s5_parse_reply(buf_peek(&b->in), buf_len(&b->in));
		if (r == 0)
			return;
		if (r < 0) {
			bs_fail(b, ECONNREFUSED);
			return;
		}
		buf_consume(&b->in, (size_t)r);
		b->st = B_READY;
		update(b);
		if (b->cb)
			b->cb(b->arg, BS_EV_READY, 0);
		return;
	}
	case B_READY: {
		/* Nothing should come before activation but the peer's
		 * header; keep it, notice the proxy closing. */
		ssize_t n = buf_read_fd(&b->in, ev->fd, 4096);
		if (n == 0 || (n < 0 && errno != EAGAIN) ||
		    buf_len(&b->in) > 4096) {
			bs_fail(b, ECONNRESET);
			return;
		}
		return;
	}
	default:
		stream_event(b, events);
	}
}

static void bs_timer_cb(struct timer *t)
{
	struct im_bs *b = container_of(t, struct im_bs, timer);

	if (b->st == B_LINGER)
		bs_free(b);
	else if (b->st != B_STREAM)
		bs_fail(b, ETIMEDOUT);
}

struct im_bs *im_bs_open(const char *host, uint16_t port, const char *dst_hex,
			 const uint8_t tx[32], const uint8_t rx[32],
			 struct sh_conn *c, bool initiator, im_bs_event cb,
			 void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char ps[8];
	struct im_bs *b = calloc(1, sizeof(*b));
	int fd = -1;

	if (!b)
		return NULL;
	b->ev.fd = -1;
	b->s = sodium_malloc(sizeof(*b->s));
	if (!b->s)
		goto fail;
	memcpy(b->s->txk, tx, 32);
	memcpy(b->s->rxk, rx, 32);
	snprintf(b->dst, sizeof(b->dst), "%s", dst_hex);
	b->c = c;
	b->cb = cb;
	b->arg = arg;
	b->initiator = initiator;
	buf_init(&b->in);
	buf_init(&b->out);
	buf_init(&b->held);
	buf_init(&b->rest);
	timer_init(&b->timer, bs_timer_cb);
	timer_init(&b->pad, pad_cb);
	snprintf(ps, sizeof(ps), "%u", port);
	/* The proxy's address is normally numeric (proxy65_address); a
	 * name costs one blocking lookup here. */
	if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
		goto fail;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto fail;
	/* Interactive guests (ssh) want each frame out at once; bulk frames
	 * are big anyway.  Keepalives: see xmpp.c. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	net_tcp_liveness(fd, IM_KEEPIDLE_S, IM_KEEPINTVL_S, IM_KEEPCNT,
			 IM_USER_TIMEOUT_MS);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	freeaddrinfo(ai);
	ai = NULL;
	if (ev_add(&b->ev, fd, EPOLLOUT, bs_cb) < 0)
		goto fail;
	b->st = B_CONNECTING;
	timer_set(&b->timer, BS_SETUP_MS);
	return b;
fail:
	if (ai)
		freeaddrinfo(ai);
	if (fd >= 0 && b->ev.fd < 0)
		close(fd);
	if (b->s)
		sodium_free(b->s);
	free(b);
	return NULL;
}

int im_bs_start(struct im_bs *b)
{
	int r = 0;

	timer_cancel(&b->timer);
	b->st = B_STREAM;
	if (b->initiator && (r = start_tx(b)) < 0)
		return r;
	/* The peer's header may be here already. */
	if ((r = pump_in(b)) < 0 || (r = pump_out(b)) < 0)
		return r;
	update(b);
	return 0;
}

/* One pump step on a streaming bytestream, from outside its own events. */
static void pump_step(struct im_bs *b, int (*step)(struct im_bs *))
{
	if (b->st != B_STREAM)
		return;
	int r = step(b);
	if (r < 0) {
		bs_fail(b, -r);
		return;
	}
	update(b);
}

void im_bs_output(struct im_bs *b)
{
	pump_step(b, pump_out);
}

void im_bs_input_room(struct im_bs *b)
{
	pump_step(b, pump_in);
}

void im_bs_close(struct im_bs *b, int err, struct buf *rest)
{
	b->cb = NULL;
	b->c = NULL;
	if (err || b->st != B_STREAM) {
		if (b->tx_ready && b->st == B_STREAM && !b->fin_sent &&
		    push_frame(b, BS_K_RESET, NULL, 0) == 0)
			buf_write_fd(&b->out, b->ev.fd);
		bs_free(b);
		return;
	}
	if (rest) {
		b->rest = *rest;
		buf_init(rest);
	}
	b->st = B_LINGER;
	timer_set(&b->timer, BS_LINGER_MS);
	buf_free(&b->held); /* nobody will read it */
	if (pump_out(b) < 0) {
		bs_free(b);
		return;
	}
	update(b);
}
