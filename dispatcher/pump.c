// SPDX-License-Identifier: MIT
/*
 * pump.c - the byte pump of a relayed connection (the seed paper's
 * READ/WRITE/ARRIVED protocol); relay.c opens and closes connections.
 *
 * Theory of operation.  The guest holds one end of a loopback TCP pair
 * (pair.c); sockoutd keeps the other end and moves bytes between it and
 * the helper, one struct half per direction:
 *
 *   up (guest -> helper): read up to SO_MAX_DATA and send WRITE(id, data).
 *     The reply says how many bytes the helper took; the rest stays in upq
 *     and is sent again after WRITABLE.  One WRITE is outstanding at a time
 *     (ordering), but the next chunk may be read meanwhile, up to UP_MAX.
 *     Guest EOF becomes SHUTDOWN once everything is written.
 *   down (helper -> guest): READ(id, SO_MAX_DATA) whenever nothing is
 *     waiting to be written to the guest.  The reply's payload is written
 *     straight to the guest; what does not fit waits in downq (EPOLLOUT).
 *     EOF makes us shutdown(SHUT_WR) the guest end; an empty reply means
 *     wait for ARRIVED and READ again.
 *
 * Both directions share one rule (half_answered(), half_notified()): a
 * short answer means wait for the event, and because replies and events
 * travel on two sockets, an event may be read before the answer it
 * follows; it is then remembered (early) and the answer does not wait.
 * Errors, a guest reset, or both directions finished end the pump through
 * its owner's end() callback.
 *
 * Idle connections own no buffers (buf.c frees emptied big buffers), which
 * is what lets sockoutd hold 10,000 of them in a few megabytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

/* Guest bytes read ahead while a WRITE is outstanding. */
#define UP_MAX (2u * SO_MAX_DATA)
/* READs kept in flight per connection: with two, the helper answers the
 * second while the first reply is being written to the guest, so data
 * from the helper never waits a whole round trip. */
#define READS_MAX 2
/*
 * The queue budget (limit helper-queue): bytes held in all pumps' upq and
 * downq plus the helpers' buffers.  While it is spent, a connection reads
 * at most UP_MIN ahead from its guest and asks READs of DOWN_MIN, instead
 * of growing to UP_MAX and READS_MAX * SO_MAX_DATA: fifty guests that do
 * not read cost the budget plus fifty small windows.  The small windows are
 * never taken away, so every connection still moves; each grows back at
 * its next step once the budget has room.
 */
#define UP_MIN (64u * 1024u)
#define DOWN_MIN (16u * 1024u)

static uint64_t queued; /* bytes in every pump's upq and downq */

/* Reads of idle connections land here first, so that a connection holds
 * only as many bytes as it has pending, not a read-sized buffer. */
static uint8_t scratch[SO_MAX_DATA];

static void half_log(const struct pump *p, const struct half *d, const char *what)
{
	debug("helper %s: connection %#x %s: %s", p->h->name, p->id,
	      d == &p->up ? "up" : "down", what);
}

/**
 * half_answered() - the helper answered one request of direction @d.
 * @short_answer: it did less than asked (a partial WRITE, an empty READ)
 *
 * A short answer means: ask again only after the event (WRITABLE,
 * ARRIVED).  The event, sent after the answer on the other socket, may
 * have been read first; then it is not waited for again.  Only a short
 * answer takes that early event: a full answer read in between belongs to
 * an earlier request.
 */
static void half_answered(struct pump *p, struct half *d, bool short_answer)
{
	if (d->out)
		d->out--;
	if (!short_answer) {
		d->waiting = false;
	} else if (d->early) {
		d->early = false;
		half_log(p, d, "short answer, its event came first: go on");
	} else {
		d->waiting = true;
		half_log(p, d, "short answer: waiting for the event");
	}
}

/** half_notified() - the event of direction @d came.  Returns true when a
 *  request may go now. */
static bool half_notified(struct pump *p, struct half *d)
{
	if (d->waiting) {
		d->waiting = false;
		half_log(p, d, "event: go on");
		return true;
	}
	if (d->out) {
		d->early = true;
		half_log(p, d, "event before its answer");
	}
	return false;
}

static void guest_cb(struct ev *ev, uint32_t events);

uint64_t pump_queued(void)
{
	return queued + helpers_queued();
}

static uint64_t budget_left(void)
{
	uint64_t budget = cfg ? cfg->limits.helper_queue : DCONF_LIMIT_HELPER_QUEUE;
	uint64_t q = pump_queued();

	return q < budget ? budget - q : 0;
}

/* Bring the pump's share of the budget up to date after its queues
 * changed. */
static void account(struct pump *p)
{
	size_t now = buf_len(&p->upq) + buf_len(&p->downq);

	queued += now;
	queued -= p->counted;
	p->counted = now;
}

/* Room for guest bytes in upq: up to UP_MAX, while the budget is spent up
 * to UP_MIN. */
static size_t up_room(const struct pump *p)
{
	size_t len = buf_len(&p->upq);
	size_t room = len < UP_MAX ? UP_MAX - len : 0;
	size_t floor = len < UP_MIN ? UP_MIN - len : 0;
	uint64_t left;

	if (room <= floor)
		return room;
	left = budget_left();
	if (room > left)
		room = floor > left ? floor : (size_t)left;
	return room;
}

/* How much a READ asks for: SO_MAX_DATA while the budget has room for
 * the replies of every READ in flight, else DOWN_MIN. */
static uint32_t read_size(void)
{
	return budget_left() >= (uint64_t)READS_MAX * SO_MAX_DATA ? SO_MAX_DATA :
								      DOWN_MIN;
}

/*
 * The guest end is in epoll only while we wait on it.  EPOLLHUP cannot be
 * masked: an end shut both ways (the guest's EOF read, ours sent) reports
 * it for ever, and with the pump waiting on the helper (a WRITE reply, a
 * WRITABLE) the loop would spin.  Out of epoll, a guest reset is seen at
 * the next read or write of the end, which is when it matters.
 */
static void update_events(struct pump *p)
{
	uint32_t e = 0;
	int r;

	account(p);
	if (!p->open)
		return;
	if (!p->up.eof && !p->blocked && up_room(p))
		e |= EPOLLIN;
	if (buf_len(&p->downq))
		e |= EPOLLOUT;
	if (!e) {
		ev_del(&p->ev);
		return;
	}
	if (p->ev.fd >= 0)
		r = ev_mod(&p->ev, e);
	else
		r = ev_add(&p->ev, p->fd, e, guest_cb);
	if (r < 0)
		p->end(p, -r);
}

static void check_finish(struct pump *p)
{
	if (p->up.done && !p->up.out && p->down.done)
		p->end(p, 0);
	else
		update_events(p);
}

static void unblock(struct pump *p)
{
	if (!p->blocked)
		return;
	LIST_REMOVE(p, blink);
	p->blocked = false;
}

/* Send what the guest wrote (WRITE), or its EOF (SHUTDOWN). */
static void pump_up(struct pump *p)
{
	struct helper *h = p->h;

	if (!p->open)
		return;
	if (!p->up.out && !p->up.waiting && buf_len(&p->upq)) {
		if (helper_congested(h)) {
			if (!p->blocked)
				LIST_INSERT_HEAD(&h->blocked, p, blink);
			p->blocked = true;
			update_events(p);
			return;
		}
		size_t n = buf_len(&p->upq);
		if (n > SO_MAX_DATA)
			n = SO_MAX_DATA;
		if (helper_send(h, SO_WRITE, p->id, 0, buf_peek(&p->upq), n) < 0)
			return; /* the helper is being dropped */
		p->up.out = 1;
		p->inflight = (uint32_t)n;
	}
	if (!p->up.out && !buf_len(&p->upq) && p->up.eof && !p->up.done) {
		if (helper_send(h, SO_SHUTDOWN, p->id, 0, NULL, 0) < 0)
			return;
		p->up.done = true;
	}
	check_finish(p);
}

/* Ask for what the helper's peer sent (READ). */
static void pump_down(struct pump *p)
{
	while (p->open && p->down.out < READS_MAX && !p->down.waiting &&
	       !p->down.eof && !buf_len(&p->downq)) {
		if (helper_send(p->h, SO_READ, p->id, read_size(), NULL, 0) < 0)
			return;
		p->down.out++;
	}
}

/* The helper's peer is done and the guest has everything: pass on EOF. */
static void down_eof(struct pump *p)
{
	if (p->down.eof && !buf_len(&p->downq) && !p->down.done) {
		shutdown(p->fd, SHUT_WR);
		p->down.done = true;
	}
}

void pump_unblock(struct helper *h)
{
	while (!LIST_EMPTY(&h->blocked) && !helper_congested(h)) {
		struct pump *p = LIST_FIRST(&h->blocked);
		unblock(p);
		pump_up(p);
	}
}

/* Read from the guest into upq.  Returns 0 or -errno (end the pump). */
static int guest_read(struct pump *p)
{
	size_t room = up_room(p);
	ssize_t n;

	if (room > SO_MAX_DATA)
		room = SO_MAX_DATA;
	if (p->upq.data) {
		/* data is flowing: read straight into the queue */
		n = buf_read_fd(&p->upq, p->fd, room);
	} else {
		n = recv(p->fd, scratch, room, MSG_DONTWAIT);
		if (n > 0 && buf_put(&p->upq, scratch, (size_t)n) < 0)
			return -ENOMEM;
	}
	if (n == 0) {
		p->up.eof = true;
		half_log(p, &p->up, "guest EOF");
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		return -errno;
	}
	/* A full read means more is coming: keep the buffer for it.
	 * A short one means the guest paused: let it go once sent. */
	p->up_bulk = n > 0 && (size_t)n == room;
	if (!buf_len(&p->upq) && !p->up_bulk)
		buf_free(&p->upq);
	return 0;
}

static void guest_cb(struct ev *ev, uint32_t events)
{
	struct pump *p = container_of(ev, struct pump, ev);
	int e;

	if (events & EPOLLERR) {
		p->end(p, ECONNRESET);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && !p->up.eof && up_room(p) &&
	    (e = guest_read(p)) < 0) {
		p->end(p, -e);
		return;
	}
	if (events & EPOLLOUT) {
		if (buf_write_fd(&p->downq, p->fd) < 0 && errno != EAGAIN &&
		    errno != EINTR) {
			p->end(p, ECONNRESET);
			return;
		}
		buf_trim(&p->downq);
		down_eof(p);
		pump_down(p);
	}
	if ((events & EPOLLHUP) && p->up.eof && buf_len(&p->downq) &&
	    !(events & EPOLLOUT)) {
		p->end(p, ECONNRESET);
		return;
	}
	pump_up(p);
}

/* Write a READ reply's bytes to the guest; what does not fit waits. */
static void deliver(struct pump *p, const uint8_t *data, size_t len)
{
	ssize_t w = 0;

	if (!buf_len(&p->downq) && len) {
		w = send(p->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				p->end(p, ECONNRESET);
				return;
			}
			w = 0;
		}
	}
	if ((size_t)w < len && buf_put(&p->downq, data + w, len - (size_t)w) < 0) {
		p->end(p, ENOMEM);
		return;
	}
	p->bytes_down += len;
	down_eof(p);
	pump_down(p);
	check_finish(p);
}

static void write_answered(struct pump *p, const struct so_hdr *hd)
{
	int pending = 0;

	half_answered(p, &p->up, !(hd->flags & SO_F_ERROR) && hd->arg < p->inflight);
	if (hd->flags & SO_F_ERROR) {
		p->end(p, reply_errno(hd, ECONNRESET));
		return;
	}
	if (hd->arg > p->inflight) {
		helper_fail(p->h, "protocol error: WRITE reply claims more than was sent");
		return;
	}
	/* not buf_consume(): it would give back the block that the next
	 * chunk of a bulk transfer is about to need ... */
	buf_consume_keep(&p->upq, hd->arg);
	/* ... unless nothing is waiting: an idle connection must not keep a
	 * chunk-sized block */
	if (!buf_len(&p->upq) &&
	    (!p->up_bulk || ioctl(p->fd, FIONREAD, &pending) < 0 || pending <= 0))
		buf_free(&p->upq);
	p->bytes_up += hd->arg;
	p->inflight = 0;
	pump_up(p);
}

static void read_answered(struct pump *p, const struct so_hdr *hd,
			  const uint8_t *data)
{
	bool eof = hd->flags & SO_F_EOF, error = hd->flags & SO_F_ERROR;

	half_answered(p, &p->down, !error && !eof && !hd->len);
	if (error) {
		p->end(p, reply_errno(hd, ECONNRESET));
		return;
	}
	if (eof && !p->down.eof) {
		p->down.eof = true;
		half_log(p, &p->down, "helper EOF");
	}
	deliver(p, data, hd->len);
}

void pump_reply(struct pump *p, uint8_t type, const struct so_hdr *hd,
		const uint8_t *data)
{
	if (type == SO_READ && hd->len > SO_MAX_DATA) {
		helper_fail(p->h, "protocol error: READ reply longer than asked");
		return;
	}
	if (!p->open)
		return;
	if (type == SO_WRITE)
		write_answered(p, hd);
	else
		read_answered(p, hd, data);
}

void pump_notify(struct pump *p, uint8_t type)
{
	struct half *d = type == SO_WRITABLE ? &p->up : &p->down;

	if (!p->open || !half_notified(p, d))
		return;
	if (d == &p->up)
		pump_up(p);
	else
		pump_down(p);
}

void pump_init(struct pump *p, struct helper *h, uint32_t id,
	       void (*end)(struct pump *p, int err))
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->h = h;
	p->fd = -1;
	p->ev.fd = -1;
	p->end = end;
}

int pump_open(struct pump *p, int fd)
{
	int e;

	if ((e = ev_add(&p->ev, fd, EPOLLIN, guest_cb)) < 0) {
		net_close_reset(fd);
		return e;
	}
	p->fd = fd;
	p->open = true;
	pump_down(p);
	return 0;
}

void pump_stop(struct pump *p, bool reset)
{
	int fd = p->fd;

	ev_del(&p->ev);
	if (fd >= 0) {
		if (reset)
			net_close_reset(fd);
		else
			close(fd);
	}
	p->fd = -1;
	p->open = false;
	unblock(p);
	buf_free(&p->upq);
	buf_free(&p->downq);
	account(p);
}
