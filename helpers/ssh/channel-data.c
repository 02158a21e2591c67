// SPDX-License-Identifier: MIT
/*
 * channel-data.c - the data path of sockout-ssh's channels: guest bytes
 * (and header bytes) out with libssh2_channel_write(), EOF, overlay bytes
 * in with libssh2_channel_read(), and libssh2_channel_free() at the end.
 * Its stepper (ssh_data_stepper) makes one chan_step() per channel per
 * pump pass.
 *
 * Every call here is non-blocking.  A call that returns EAGAIN with a
 * packet half sent is recorded (ssh_op_blocked(), with ch->bop saying
 * which sub-step) and repeated first, whatever became of the channel
 * meanwhile: libssh2 refuses every other sending call until it is.
 */
#include <errno.h>
#include <poll.h>

#include "common/log.h"
#include "channel.h"

/* Sub-steps of chan_step(), in order; a blocked one is resumed first. */
enum { BOP_NONE, BOP_WRITE, BOP_EOF, BOP_READ, BOP_FREE };

/* Most overlay bytes queued for one guest before reading stops. */
#define DELIVER_HIGH (1024u * 1024u)

static int chan_fn(struct ssh_sess *s, void *obj);

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
	ssh_chan_fail_conn(ch, ECONNREFUSED);
	ch->st = CS_FREEING;
	return 1;
}

static struct buf *chan_wq(struct ssh_chan *ch)
{
	return ch->c ? &ch->c->to_overlay : &ch->linger;
}

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
		sh_output_taken(ch->c);
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

/* Read the peer hello's header bytes, never more (channel-hello.c). */
static int read_header(struct ssh_chan *ch)
{
	uint8_t *dst;
	size_t want = ssh_hello_want(ch, &dst);
	ssize_t n = libssh2_channel_read(ch->ch, (char *)dst, want);

	if (n == LIBSSH2_ERROR_EAGAIN) {
		int r = ssh_op_blocked(ch->s, chan_fn, ch);
		if (r)
			ch->bop = BOP_READ;
		return r;
	}
	if (n < 0)
		return chan_error(ch, (int)n, "read header");
	return ssh_hello_got(ch, (size_t)n);
}

static int do_read(struct ssh_chan *ch)
{
	struct ssh_sess *s = ch->s;
	int moved = 0;

	if (ch->st == CS_HELLO)
		return read_header(ch);
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
	 * reads from the loop, which waits while a round runs). */
	size_t rt_room = sh_input_room(ch->c);
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
				sh_eof(ch->c);
				moved = 1;
			}
			break;
		}
		size_t took = sh_deliver(ch->c, s->rbuf, (size_t)n);
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
	ssh_chan_free(ch);
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
static int chan_step(struct ssh_chan *ch)
{
	int start = ch->bop, moved = 0, r;

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

/* The call the pump repeats after a half-sent packet. */
static int chan_fn(struct ssh_sess *s, void *obj)
{
	(void)s;
	return chan_step(obj);
}

/* ---- the stepper ---- */

static int data_step(struct ssh_sess *s)
{
	struct ssh_chan *ch, *n;
	int moved = 0, r;

	for (ch = TAILQ_FIRST(&s->chans); ch; ch = n) {
		n = TAILQ_NEXT(ch, link); /* chan_step() may free ch */
		if ((r = chan_step(ch)) < 0)
			return r;
		moved |= r;
	}
	return moved;
}

static bool data_wants_input(const struct ssh_sess *s)
{
	const struct ssh_chan *ch;

	TAILQ_FOREACH(ch, &s->chans, link) {
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

static bool data_has_output(const struct ssh_sess *s)
{
	const struct ssh_chan *ch;

	TAILQ_FOREACH(ch, &s->chans, link)
		if ((ch->st == CS_OPEN && ch->c &&
		     buf_len(&ch->c->to_overlay)) ||
		    (ch->st == CS_CLOSING && buf_len(&ch->linger)))
			return true;
	return false;
}

/* Reset every connection @s carried and drop its channel state (libssh2
 * frees the channels with the session). */
static void data_down(struct ssh_sess *s, int err)
{
	struct ssh_chan *ch;

	while ((ch = TAILQ_FIRST(&s->chans))) {
		ssh_chan_fail_conn(ch, err);
		ssh_chan_free(ch);
	}
}

const struct ssh_stepper ssh_data_stepper = {
	.step = data_step,
	.wants_input = data_wants_input,
	.has_output = data_has_output,
	.down = data_down,
};
