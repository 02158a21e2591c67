// SPDX-License-Identifier: MIT
/*
 * helper-link.c - sockoutd's connections to its helpers.
 *
 * Theory of operation: for each `helper' line sockoutd dials the data
 * socket, says HELLO (the reply's id is the session token), then dials the
 * event socket and says EVHELLO with that token.  Requests go out on the
 * data socket and every one gets exactly one reply, in order, so a FIFO of
 * (type, id) says what each reply answers.  Events arrive on the event
 * socket at any time.
 *
 * Replies and events go up through the struct helper_link_ops relay.c
 * registered; this file never names the layers above it.
 *
 * A helper that closes a socket or breaks the framing is dropped as a
 * whole: ops->down() resets its relayed connections (the guests see
 * ECONNRESET) and keeps its listeners for ops->up() to register again; it
 * is redialed
 * with a backoff of 200 ms doubling to 5 s.  State changes are logged once,
 * retries only at debug level.  Nothing else in sockoutd is affected.
 *
 * Both sockets are dialed non-blocking: a Unix connect completes at once
 * or, when the helper's accept queue is full, fails with EAGAIN.  That is
 * a failed dial like any other (retried with the backoff); a blocking
 * connect would freeze the whole loop, every guest and the control socket
 * with it, for as long as the helper does not accept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
/* Above this much unsent request data, relays stop reading their guests
 * until it drains below the low mark: the helper sets the pace. */
#define OUT_HIGH (4u * 1024u * 1024u)
#define OUT_LOW (1u * 1024u * 1024u)
#define READ_CHUNK (SO_MAX_PAYLOAD + SO_HDR_LEN)
#define HELLO_TIMEOUT_MS 5000

struct helper_list helpers = TAILQ_HEAD_INITIALIZER(helpers);
static const struct helper_link_ops *ops;
/* who asked for STATUS (control.c); told as each helper answers */
static void (*status_cb)(uint32_t ctl, struct helper *h);

void helper_link_init(const struct helper_link_ops *o)
{
	ops = o;
}

const char *helper_state_name(const struct helper *h)
{
	static const char *const n[] = { "down", "connecting", "up" };
	return n[h->state];
}

struct helper *helper_find(const char *name)
{
	struct helper *h;

	TAILQ_FOREACH(h, &helpers, link)
		if (!h->removed && strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

bool helper_congested(const struct helper *h)
{
	return buf_len(&h->out) > OUT_HIGH;
}

uint64_t helpers_queued(void)
{
	const struct helper *h;
	uint64_t n = 0;

	TAILQ_FOREACH(h, &helpers, link)
		n += buf_len(&h->out) + buf_len(&h->in) + buf_len(&h->evin);
	return n;
}

static void helper_dial(struct helper *h);
static void event_cb(struct ev *ev, uint32_t events);
static void evfds_close(struct helper *h);

/**
 * dial() - connect to the helper's socket @path without ever blocking.
 * Returns the non-blocking fd, or -errno with a reason in @why.
 */
static int dial(const char *path, const char *which, char *why, size_t n)
{
	int fd = net_unix_connect(path, SOCK_STREAM | SOCK_NONBLOCK);

	if (fd == -EAGAIN)
		snprintf(why, n, "%s socket %s: not accepting (its queue is full)",
			 which, path);
	else if (fd < 0)
		snprintf(why, n, "%s socket %s: %s", which, path, strerror(-fd));
	return fd;
}

static void close_ev(struct ev *ev)
{
	if (ev->fd >= 0) {
		int fd = ev->fd;
		ev_del(ev);
		close(fd);
	}
}

/**
 * helper_drop() - forget the helper's sockets and everything riding on
 * them, then schedule a redial (unless the helper was removed).
 */
static void helper_drop(struct helper *h, const char *why)
{
	bool was_up = h->state == H_UP;

	if (h->state == H_DOWN && h->dev.fd < 0) {
		/* down already, its listeners waiting for it: being removed,
		 * it takes them along now */
		if (h->removed)
			ops->down(h);
		return;
	}
	/* Control clients waiting for STATUS must not wait forever. */
	for (size_t i = 0; i < h->fifo_n; i++) {
		struct hreq *q = &h->fifo[(h->fifo_head + i) % h->fifo_cap];
		if (q->type == SO_STATUS && status_cb)
			status_cb(q->id, NULL);
	}
	h->fifo_n = h->fifo_head = 0;
	close_ev(&h->dev);
	close_ev(&h->eev);
	buf_free(&h->in);
	buf_free(&h->out);
	buf_free(&h->evin);
	evfds_close(h);
	h->evread = h->evdone = 0;
	h->state = H_DOWN;
	h->broken = false;
	timer_cancel(&h->kill);
	snprintf(h->last_error, sizeof(h->last_error), "%s", why);
	ops->down(h);
	if (h->removed)
		info("helper %s disconnected: %s", h->name, why);
	else if (was_up || !h->down_logged)
		warn("helper %s down: %s%s", h->name, why,
		     h->removed ? "" : " (redialing)");
	else
		debug("helper %s: %s", h->name, why);
	h->down_logged = true;
	if (!h->removed) {
		timer_set(&h->redial, h->backoff_ms);
		h->backoff_ms *= 2;
		if (h->backoff_ms > BACKOFF_MAX_MS)
			h->backoff_ms = BACKOFF_MAX_MS;
	}
}

/* Errors found while sending can happen deep inside a callback that is
 * still using the helper's buffers: drop it from the loop instead. */
static void helper_break(struct helper *h, const char *why)
{
	if (h->broken)
		return;
	h->broken = true;
	snprintf(h->last_error, sizeof(h->last_error), "%s", why);
	timer_set(&h->kill, 0);
}

void helper_fail(struct helper *h, const char *why)
{
	helper_break(h, why);
}

static void kill_cb(struct timer *t)
{
	struct helper *h = container_of(t, struct helper, kill);
	char why[sizeof(h->last_error)];

	snprintf(why, sizeof(why), "%s", h->last_error);
	helper_drop(h, why);
}

static void redial_cb(struct timer *t)
{
	struct helper *h = container_of(t, struct helper, redial);

	/* armed while HELLO is unanswered: a helper that accepts but never
	 * answers must not stay "connecting" forever */
	if (h->state == H_CONNECTING) {
		helper_drop(h, "no reply to HELLO");
		return;
	}
	helper_dial(h);
}

static void h_update_events(struct helper *h)
{
	if (h->dev.fd >= 0)
		ev_mod(&h->dev, EPOLLIN | (buf_len(&h->out) ? EPOLLOUT : 0));
}

/* The helper's buffers stay allocated while it is connected
 * (buf_consume_keep): buf_consume() gives back big emptied buffers, which in
 * a bulk transfer would mean a fresh 256 KiB block (and its page faults) for
 * every chunk.  There are only a few helpers, so keeping theirs costs little. */
static void flush(struct helper *h)
{
	if (h->dev.fd < 0 || h->broken)
		return;
	if (buf_len(&h->out)) {
		ssize_t n = send(h->dev.fd, buf_peek(&h->out), buf_len(&h->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume_keep(&h->out, (size_t)n);
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			char why[96];
			snprintf(why, sizeof(why), "data socket: %s", strerror(errno));
			helper_break(h, why);
			return;
		}
	}
	h_update_events(h);
	if (!LIST_EMPTY(&h->blocked) && !h->unblocking && buf_len(&h->out) < OUT_LOW) {
		/* relays write requests while being unblocked: no re-entry */
		h->unblocking = true;
		ops->unblock(h);
		h->unblocking = false;
	}
}

/* Make room for one more entry in the FIFO of outstanding requests.
 * Returns 0 or -ENOMEM (the helper is then being dropped). */
static int fifo_room(struct helper *h)
{
	if (h->fifo_n == h->fifo_cap) {
		size_t cap = h->fifo_cap ? h->fifo_cap * 2 : 64;
		struct hreq *f = malloc(cap * sizeof(*f));
		if (!f) {
			helper_break(h, "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < h->fifo_n; i++)
			f[i] = h->fifo[(h->fifo_head + i) % h->fifo_cap];
		free(h->fifo);
		h->fifo = f;
		h->fifo_cap = cap;
		h->fifo_head = 0;
	}
	return 0;
}

static void fifo_push(struct helper *h, uint8_t type, uint32_t id)
{
	h->fifo[(h->fifo_head + h->fifo_n) % h->fifo_cap] =
		(struct hreq){ .type = type, .id = id };
	h->fifo_n++;
}

int helper_send_fd(struct helper *h, uint8_t type, uint32_t id, int fd)
{
	struct so_hdr sh = { .type = type, .id = id };
	uint8_t hdr[SO_HDR_LEN];
	int r;

	/* The descriptor rides on the header's bytes: they must be the next
	 * the socket takes, whole. */
	if (h->dev.fd < 0 || h->broken || buf_len(&h->out))
		return -EAGAIN;
	if ((r = fifo_room(h)) < 0)
		return r;
	so_hdr_encode(hdr, &sh);
	if ((r = net_send_fd(h->dev.fd, hdr, sizeof(hdr), fd)) < 0) {
		if (r != -EAGAIN && r != -EINTR) {
			char why[96];
			snprintf(why, sizeof(why), "data socket: %s", strerror(-r));
			helper_break(h, why);
		}
		return r;
	}
	fifo_push(h, type, id);
	return 0;
}

int helper_send(struct helper *h, uint8_t type, uint32_t id, uint32_t arg,
		const void *p, size_t len)
{
	struct so_hdr sh = { .len = (uint32_t)len, .type = type, .id = id, .arg = arg };
	uint8_t hdr[SO_HDR_LEN];
	size_t done = 0, total = SO_HDR_LEN + len;

	if (h->dev.fd < 0 || h->broken)
		return -ENOTCONN;
	if (len > SO_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (fifo_room(h) < 0)
		return -ENOMEM;
	so_hdr_encode(hdr, &sh);
	/* Nothing queued: write header and payload straight from where they
	 * are (a WRITE's payload is the relay's buffer), and queue only what
	 * the socket did not take.  Saves a copy of every relayed byte. */
	if (!buf_len(&h->out)) {
		struct iovec iov[2] = { { .iov_base = hdr, .iov_len = SO_HDR_LEN },
					{ .iov_base = (void *)p, .iov_len = len } };
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
		ssize_t n = sendmsg(h->dev.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			done = (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			char why[96];
			snprintf(why, sizeof(why), "data socket: %s", strerror(errno));
			helper_break(h, why);
			return -ENOTCONN;
		}
	}
	if (done < total) {
		int r = 0;
		if (done < SO_HDR_LEN) {
			r = buf_append(&h->out, hdr + done, SO_HDR_LEN - done);
			if (!r && len)
				r = buf_append(&h->out, p, len);
		} else {
			r = buf_append(&h->out, (const uint8_t *)p + (done - SO_HDR_LEN),
				       total - done);
		}
		if (r < 0) {
			helper_break(h, "out of memory");
			return -ENOMEM;
		}
	}
	fifo_push(h, type, id);
	h_update_events(h);
	return 0;
}

static void hello_reply(struct helper *h, const struct so_hdr *hd,
			const uint8_t *p)
{
	uint8_t m[SO_HDR_LEN];
	struct so_hdr eh = { .type = SO_EVHELLO, .id = hd->id };
	char why[160];
	int fd;

	if (hd->flags & SO_F_ERROR) {
		snprintf(why, sizeof(why), "HELLO refused: %s", strerror((int)hd->arg));
		helper_break(h, why);
		return;
	}
	if (so_caps_decode(p, hd->len, &h->caps) < 0) {
		helper_break(h, "protocol error: HELLO reply: bad capabilities");
		return;
	}
	h->token = hd->id;
	fd = dial(h->event_path, "event", why, sizeof(why));
	if (fd < 0) {
		helper_break(h, why);
		return;
	}
	so_hdr_encode(m, &eh);
	/* A fresh socket has room for 16 bytes. */
	if (send(fd, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		close(fd);
		helper_break(h, "event socket: EVHELLO not sent");
		return;
	}
	if (ev_add(&h->eev, fd, EPOLLIN, event_cb) < 0) {
		close(fd);
		helper_break(h, "event socket: epoll");
		return;
	}
	h->state = H_UP;
	timer_cancel(&h->redial);
	h->backoff_ms = BACKOFF_MIN_MS;
	h->down_logged = false;
	h->last_error[0] = '\0';
	info("helper %s up (session %u)", h->name, h->token);
	ops->up(h);
}

/* Read what the helper's @which socket has; EOF or an error drops it. */
static void read_socket(struct helper *h, struct buf *in, int fd, size_t max,
			const char *which)
{
	ssize_t n = buf_read_fd(in, fd, max);
	char why[96];

	if (n == 0) {
		snprintf(why, sizeof(why), "closed the %s socket", which);
		helper_break(h, why);
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		snprintf(why, sizeof(why), "%s socket: %s", which, strerror(errno));
		helper_break(h, why);
	}
}

static void data_cb(struct ev *ev, uint32_t events)
{
	struct helper *h = container_of(ev, struct helper, dev);
	struct so_hdr hd;
	const uint8_t *p;
	int r = 0;

	if (events & EPOLLOUT)
		flush(h);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		read_socket(h, &h->in, ev->fd, READ_CHUNK, "data");
	}
	while (!h->broken && (r = so_next(&h->in, &hd, &p)) > 0) {
		if (hd.type != SO_REPLY || !h->fifo_n) {
			char why[96];
			snprintf(why, sizeof(why), "protocol error: unexpected %s on the data socket",
				 so_type_name(hd.type));
			helper_break(h, why);
			break;
		}
		struct hreq q = h->fifo[h->fifo_head];
		h->fifo_head = (h->fifo_head + 1) % h->fifo_cap;
		h->fifo_n--;
		switch (q.type) {
		case SO_HELLO:
			hello_reply(h, &hd, p);
			break;
		case SO_STATUS:
			free(h->status_json);
			h->status_json = NULL;
			if (!(hd.flags & SO_F_ERROR) && hd.len)
				h->status_json = strndup((const char *)p, hd.len);
			if (status_cb)
				status_cb(q.id, h);
			break;
		default:
			ops->reply(h, &q, &hd, p);
		}
		buf_consume_keep(&h->in, SO_HDR_LEN + hd.len);
	}
	if (r < 0)
		helper_break(h, "protocol error: malformed reply");
	if (h->broken) {
		kill_cb(&h->kill);
		return;
	}
	flush(h);
}

/* ---- descriptors on the event socket (SO_CAP_HANDBACK) ---- */

/* Descriptors that came where the protocol allows none, or more than
 * one: closed, counted, said once per helper.  A helper must not leave
 * descriptors in sockoutd, nor get them to a guest. */
static void bad_fds(struct helper *h, unsigned n, const char *why)
{
	stats.handback_refused++;
	if (!h->evfds_logged)
		warn("helper %s: %s: %u descriptor(s) closed%s", h->name, why, n,
		     " (said once)");
	else
		debug("helper %s: %s: %u descriptor(s) closed", h->name, why, n);
	h->evfds_logged = true;
}

static void evfds_close(struct helper *h)
{
	while (h->nevfds) {
		int fd = h->evfds[--h->nevfds].fd;
		if (fd >= 0)
			close(fd);
	}
}

static void evfds_add(struct helper *h, uint64_t at, int fd)
{
	if (h->nevfds == HL_FDS_MAX) {
		if (fd >= 0)
			close(fd);
		helper_break(h, "protocol error: descriptors with no message on the event socket");
		return;
	}
	h->evfds[h->nevfds].at = at;
	h->evfds[h->nevfds++].fd = fd;
}

/* net_msg_fds()'s taker in read_events(): @f came with the read that ends
 * at @at of the event stream. */
struct evfds_read {
	struct helper *h;
	uint64_t at;
};

static void evfds_take_one(void *arg, int f)
{
	struct evfds_read *r = arg;

	evfds_add(r->h, r->at, f);
}

/*
 * Take the descriptors of the message that spans [s, e) of the event
 * stream.  The kernel ends a read after the bytes a descriptor came with,
 * so the read that brought it ends inside (or at the end of) the message
 * it was sent with, whose first bytes a helper sends in the same call:
 * s < at <= e.  Those with at <= s came with no message: closed.  Returns
 * the descriptor for the message, HL_FD_NONE, or HL_FD_BAD.
 */
static int evfds_take(struct helper *h, uint64_t s, uint64_t e,
		      const struct so_hdr *hd)
{
	int got = HL_FD_NONE;
	unsigned n = 0, stray = 0, k = 0;
	bool bad = false;

	for (unsigned i = 0; i < h->nevfds; i++) {
		uint64_t at = h->evfds[i].at;
		int fd = h->evfds[i].fd;

		if (at > e) {
			h->evfds[k++] = h->evfds[i]; /* a later message's */
			continue;
		}
		if (at <= s) {
			stray++;
		} else if (fd >= 0 && got < 0) {
			n++;
			got = fd;
			continue;
		} else {
			n++;
			bad = true;
		}
		if (fd >= 0)
			close(fd);
	}
	h->nevfds = k;
	if (stray)
		bad_fds(h, stray, "descriptors with no message");
	if (!n && !(hd->flags & SO_F_FD))
		return HL_FD_NONE;
	if (!bad && n == 1 && (hd->flags & SO_F_FD) &&
	    (h->caps & SO_CAP_HANDBACK) &&
	    (hd->type == SO_CONNECTED || hd->type == SO_ACCEPTED))
		return got;
	if (got >= 0)
		close(got);
	bad_fds(h, n, !(h->caps & SO_CAP_HANDBACK) ? "descriptors from a helper without hand-back" :
		      !(hd->flags & SO_F_FD)		 ? "descriptors with a message not flagged for one" :
		      n == 0				 ? "a hand-back without its descriptor" :
		      n > 1 || bad			 ? "a hand-back with more than one descriptor" :
							   "a descriptor on a message that takes none");
	return HL_FD_BAD;
}

/* Read the event socket: recvmsg(), since a hand-back's descriptor comes
 * with its bytes (a read() would have the kernel drop it). */
static void read_events(struct helper *h, int fd)
{
	union {
		char b[CMSG_SPACE(HL_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	size_t max = 65536;
	uint8_t *d = buf_reserve(&h->evin, max);
	struct iovec iov = { .iov_base = d, .iov_len = max };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	char why[96];
	ssize_t n;

	if (!d) {
		helper_break(h, "out of memory");
		return;
	}
	n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(why, sizeof(why), "event socket: %s", strerror(errno));
			helper_break(h, why);
		}
		return;
	}
	struct evfds_read r = { h, h->evread + (size_t)n };
	net_msg_fds(&m, evfds_take_one, &r);
	/* more than fitted: the kernel closed the rest; their message is
	 * refused like one with too many */
	if (m.msg_flags & MSG_CTRUNC)
		evfds_add(h, r.at, -1);
	if (n == 0) {
		helper_break(h, "closed the event socket");
		return;
	}
	buf_commit(&h->evin, (size_t)n);
	h->evread += (uint64_t)n;
}

static void event_cb(struct ev *ev, uint32_t events)
{
	struct helper *h = container_of(ev, struct helper, eev);
	struct so_hdr hd;
	const uint8_t *p;
	int r = 0;

	(void)events;
	read_events(h, ev->fd);
	while (!h->broken && (r = so_next(&h->evin, &hd, &p)) > 0) {
		uint64_t s = h->evdone, e = s + SO_HDR_LEN + hd.len;
		int fd = HL_FD_NONE;

		if (hd.type < SO_CONNECTED || hd.type > SO_FINISHED) {
			char why[96];
			snprintf(why, sizeof(why), "protocol error: unexpected %s on the event socket",
				 so_type_name(hd.type));
			helper_break(h, why);
			break;
		}
		if (h->nevfds || (hd.flags & SO_F_FD))
			fd = evfds_take(h, s, e, &hd);
		ops->event(h, &hd, p, fd); /* takes fd */
		so_done(&h->evin, &hd);
		h->evdone = e;
	}
	if (r < 0)
		helper_break(h, "protocol error: malformed event");
	if (h->broken) {
		kill_cb(&h->kill);
		return;
	}
	flush(h);
}

static void helper_dial(struct helper *h)
{
	char why[160];
	int fd;

	fd = dial(h->data_path, "data", why, sizeof(why));
	if (fd < 0) {
		/* not connected yet: nothing to drop, just log and retry */
		snprintf(h->last_error, sizeof(h->last_error), "%s", why);
		h->state = H_DOWN;
		if (!h->down_logged)
			warn("helper %s unreachable: %s (retrying)", h->name, why);
		else
			debug("helper %s: %s", h->name, why);
		h->down_logged = true;
		timer_set(&h->redial, h->backoff_ms);
		h->backoff_ms = h->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
								     h->backoff_ms * 2;
		return;
	}
	/* Room for a whole WRITE and more in the socket, so a 256 KiB chunk
	 * usually goes in one call (FORCE needs CAP_NET_ADMIN; else the
	 * sysctl maximum applies). */
	int sz = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (ev_add(&h->dev, fd, EPOLLIN, data_cb) < 0) {
		close(fd);
		timer_set(&h->redial, h->backoff_ms);
		return;
	}
	h->state = H_CONNECTING;
	timer_set(&h->redial, HELLO_TIMEOUT_MS);
	helper_send(h, SO_HELLO, 0, SO_PROTO_VERSION, "sockoutd", 8);
	if (h->broken)
		kill_cb(&h->kill);
}

static struct helper *helper_new(const struct helper_conf *hc)
{
	struct helper *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->name = strdup(hc->name);
	h->data_path = strdup(hc->data);
	h->event_path = strdup(hc->event);
	if (!h->name || !h->data_path || !h->event_path) {
		free(h->name);
		free(h->data_path);
		free(h->event_path);
		free(h);
		return NULL;
	}
	h->dev.fd = h->eev.fd = -1;
	h->backoff_ms = BACKOFF_MIN_MS;
	LIST_INIT(&h->conns);
	LIST_INIT(&h->listeners);
	LIST_INIT(&h->blocked);
	timer_init(&h->redial, redial_cb);
	timer_init(&h->kill, kill_cb);
	return h;
}

static void helper_free(struct helper *h, const char *why)
{
	h->removed = true;
	helper_drop(h, why);
	timer_cancel(&h->redial);
	timer_cancel(&h->kill);
	free(h->fifo);
	free(h->status_json);
	free(h->name);
	free(h->data_path);
	free(h->event_path);
	free(h);
}

/* Free every helper still on the list. */
static void helpers_shutdown_why(const char *why)
{
	while (!TAILQ_EMPTY(&helpers)) {
		struct helper *h = TAILQ_FIRST(&helpers);
		TAILQ_REMOVE(&helpers, h, link);
		helper_free(h, why);
	}
}

static struct helper *take_helper(struct helper_list *from, const char *name)
{
	struct helper *h;

	TAILQ_FOREACH(h, from, link)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

void helpers_apply(const struct dconf *c)
{
	struct helper_list keep = TAILQ_HEAD_INITIALIZER(keep);
	struct helper *h;

	/* take the helpers that stay, in the new order */
	for (size_t i = 0; i < c->nhelpers; i++) {
		const struct helper_conf *hc = &c->helpers[i];
		h = take_helper(&helpers, hc->name);
		if (h && strcmp(h->data_path, hc->data) == 0 &&
		    strcmp(h->event_path, hc->event) == 0) {
			TAILQ_REMOVE(&helpers, h, link);
		} else {
			h = helper_new(hc);
			if (!h) {
				err("helper %s: out of memory", hc->name);
				continue;
			}
			h->dialing_new = true;
		}
		TAILQ_INSERT_TAIL(&keep, h, link);
	}
	/* what is left was removed (or changed its paths) */
	helpers_shutdown_why("removed from the configuration");
	TAILQ_CONCAT(&helpers, &keep, link);
	TAILQ_FOREACH(h, &helpers, link) {
		if (h->dialing_new) {
			h->dialing_new = false;
			helper_dial(h);
		}
	}
}

void helpers_shutdown(void)
{
	helpers_shutdown_why("sockoutd stopping");
}

unsigned helper_status_all(uint32_t ctl, void (*done)(uint32_t ctl, struct helper *h))
{
	struct helper *h;
	unsigned n = 0;

	status_cb = done;
	TAILQ_FOREACH(h, &helpers, link)
		if (h->state == H_UP && helper_send(h, SO_STATUS, ctl, 0, NULL, 0) == 0)
			n++;
	return n;
}
