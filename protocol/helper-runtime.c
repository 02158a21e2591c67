// SPDX-License-Identifier: MIT
/*
 * helper-runtime.c - helper-side protocol runtime; see helper-runtime.h for the contract.
 *
 * Theory of operation: a dispatcher connects to the data socket and says
 * HELLO; the reply carries a session token.  It then connects to the event
 * socket and says EVHELLO with that token, which pairs the two.  Events
 * raised before the pairing wait in the client's event queue.  When the data
 * socket closes, the client and all its connections and listeners go.
 */
#include "helper-runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/net.h"

#define SH_HASH 4096u /* a power of two (hash_slot) */
/* Stop taking requests while this much reply data waits to be sent (the
 * dispatcher is not reading, so do not queue without bound), and take them
 * again once it is down to SH_OUT_LOW. */
#define SH_OUT_HIGH (2u * 1024u * 1024u)
#define SH_OUT_LOW (SH_OUT_HIGH / 2)
/* Descriptors received (HANDOFF) and not yet taken by their request: each
 * HANDOFF carries one, and requests are handled soon after they are read,
 * so more than this many waiting is a broken dispatcher. */
#define SH_FDS_MAX 64

struct sh_client {
	struct ev data_ev, event_ev;
	struct buf in, out;   /* data socket */
	struct buf ev_in, ev_out; /* event socket */
	uint32_t token;
	char name[64];
	LIST_HEAD(, sh_conn) conns; /* all connections, for teardown */
	LIST_HEAD(, sh_listener) listeners;
	uint32_t next_accept_id;
	LIST_ENTRY(sh_client) link;
	bool dying;
	bool in_paused; /* out reached SH_OUT_HIGH: requests wait in `in` */
	bool handback; /* SO_CAP_HANDBACK offered in the HELLO reply */
	int fds[SH_FDS_MAX]; /* received with the data socket's bytes, FIFO */
	unsigned nfds;
};

/* An event connection that has not said EVHELLO yet. */
struct sh_pending {
	struct ev ev;
	struct buf in;
	LIST_ENTRY(sh_pending) link;
};

static const struct sh_ops *ops;
static struct ev data_lev, event_lev;
static struct timer accept_pause; /* both listeners: out of descriptors */
static bool accept_pause_logged;
static char *data_path, *event_path;
static LIST_HEAD(, sh_client) clients = LIST_HEAD_INITIALIZER(clients);
static LIST_HEAD(, sh_pending) pendings = LIST_HEAD_INITIALIZER(pendings);
static uint32_t next_token = 1;
static unsigned nconns;
static bool handoff_on = true;
static bool handback_on; /* SO_CAP_HANDBACK: sh_set_handback() */
static bool names_on; /* SO_CAP_NAME: the overlay connects to c->req.name */
static unsigned pipes_max = SH_PIPES_MAX; /* sh_set_pipes_max() */
/* A handed connection costs the helper a second descriptor.  Refuse
 * HANDOFF (the dispatcher then relays) once a descriptor numbered this
 * high comes: the last quarter of the limit stays for new connections. */
static int handoff_fd_max = 1 << 30;

/* The queue budget: bytes allocated by every connection's two queues (the
 * sum of sh_conn.queued), the limit, and whether a window was shrunk since the
 * last wake-up (budget_wake() then looks for connections to resume). */
static size_t queued;
static size_t budget = SH_QUEUE_BUDGET;
static bool budget_hit;
static struct timer budget_timer;

/* Connection lookup: one global table keyed by (session token, id); the
 * chains run through sh_conn.hlink. */
static LIST_HEAD(, sh_conn) htab[SH_HASH];

static unsigned hkey(const struct sh_client *cl, uint32_t id)
{
	return hash_slot(hash_u64((uint64_t)cl->token << 32 | id), SH_HASH);
}

static struct sh_conn *conn_find(struct sh_client *cl, uint32_t id)
{
	struct sh_conn *c;

	LIST_FOREACH(c, &htab[hkey(cl, id)], hlink)
		if (c->client == cl && c->id == id)
			return c;
	return NULL;
}

static void client_update(struct sh_client *cl);

static void client_out(struct sh_client *cl, uint8_t type, uint8_t flags,
		       uint32_t id, uint32_t arg, const void *p, size_t len)
{
	if (so_send(&cl->out, type, flags, id, arg, p, len) < 0)
		cl->dying = true;
}

static void client_event(struct sh_client *cl, uint8_t type, uint32_t id,
			 uint32_t arg, const void *p, size_t len)
{
	if (so_send(&cl->ev_out, type, 0, id, arg, p, len) < 0)
		cl->dying = true;
	client_update(cl);
}

static void reply(struct sh_client *cl, uint32_t id, int r)
{
	if (r < 0)
		client_out(cl, SO_REPLY, SO_F_ERROR, id, (uint32_t)-r, NULL, 0);
	else
		client_out(cl, SO_REPLY, 0, id, (uint32_t)r, NULL, 0);
}

/* ---- the queue budget ---- */

/* Room in a queue holding @len bytes: its window, shrunk to SH_QUEUE_MIN
 * while the budget is spent. */
static size_t window_room(size_t len)
{
	size_t room = len < SH_QUEUE_MAX ? SH_QUEUE_MAX - len : 0;
	size_t floor = len < SH_QUEUE_MIN ? SH_QUEUE_MIN - len : 0;
	size_t left = queued < budget ? budget - queued : 0;

	if (room > floor && room > left) {
		budget_hit = true;
		room = floor > left ? floor : left;
	}
	return room;
}

/* A WRITE that was partial may go on: half the window free, as without the
 * budget, and under pressure at least half the small window. */
static bool write_room_back(const struct sh_conn *c)
{
	size_t len = buf_len(&c->to_overlay);

	return len <= SH_QUEUE_MAX / 2 && window_room(len) >= SH_QUEUE_MIN / 2;
}

/* What a read of the guest's socket may add to to_overlay: nothing until the
 * queue is down to half its window, then up to one WRITE's worth.  Reading
 * whenever a little room opened (what the overlay just took) would keep the
 * queue full to its block's end, and buf_reserve() would slide the whole
 * queue (about SH_QUEUE_MAX bytes) to the front for every such read: behind
 * an overlay slower than the guest that was the helper's largest cost.  The
 * same half-window rule as write_room_back() gives a WRITE. */
static size_t read_room(const struct sh_conn *c)
{
	size_t len = buf_len(&c->to_overlay), room;

	if (len > SH_QUEUE_MAX / 2)
		return 0;
	room = window_room(len);
	return room < SO_MAX_DATA ? room : SO_MAX_DATA;
}

/* Bring c's share of the budget up to date after its queues changed (the
 * overlay consumes to_overlay itself, so recount rather than add up).  The
 * budget is memory: what the queues have allocated, not just what they
 * hold (a queue keeps its block until it empties). */
static void account(struct sh_conn *c)
{
	size_t now = c->to_overlay.cap + c->to_guest.cap;

	queued = queued - c->queued + now;
	c->queued = now;
	/* Windows were shrunk and a quarter of the budget is free again:
	 * resume whoever waits, from the loop (not inside a caller that may
	 * be walking or freeing connections). */
	if (budget_hit && queued < budget - budget / 4 &&
	    !timer_armed(&budget_timer))
		timer_set(&budget_timer, 0);
}

static void conn_resume(struct sh_conn *c, void *arg);

static void budget_wake(struct timer *t)
{
	(void)t;
	budget_hit = false;
	sh_foreach_conn(conn_resume, NULL);
}

void sh_set_handoff(bool on)
{
	handoff_on = on;
}

void sh_set_handback(bool on)
{
	handback_on = on;
}

void sh_set_names(bool on)
{
	names_on = on;
}

void sh_set_pipes_max(unsigned n)
{
	pipes_max = n;
}

void sh_set_queue_budget(size_t bytes)
{
	budget = bytes < SH_QUEUE_MAX ? SH_QUEUE_MAX : bytes;
}

/* ---- connections ---- */

static struct sh_conn *conn_new(struct sh_client *cl, uint32_t id)
{
	struct sh_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = id;
	c->client = cl;
	c->gev.fd = -1;
	c->gfd = -1;
	buf_init(&c->to_overlay);
	buf_init(&c->to_guest);
	LIST_INSERT_HEAD(&htab[hkey(cl, id)], c, hlink);
	LIST_INSERT_HEAD(&cl->conns, c, link);
	nconns++;
	return c;
}

static void handed_drop(struct sh_conn *c);
static void spl_free(struct sh_conn *c);

static void conn_free(struct sh_conn *c, int err)
{
	spl_free(c); /* out of epoll before the overlay closes its socket */
	ops->close(c, err);
	handed_drop(c);
	queued -= c->queued;
	LIST_REMOVE(c, hlink);
	LIST_REMOVE(c, link);
	buf_free(&c->to_overlay);
	buf_free(&c->to_guest);
	free(c);
	nconns--;
}

unsigned sh_conn_count(void)
{
	return nconns;
}

void sh_foreach_conn(void (*fn)(struct sh_conn *c, void *arg), void *arg)
{
	struct sh_client *cl;

	LIST_FOREACH(cl, &clients, link) {
		/* fn may free c: step on first (no LIST_FOREACH_SAFE in glibc) */
		for (struct sh_conn *c = LIST_FIRST(&cl->conns), *n; c; c = n) {
			n = LIST_NEXT(c, link);
			fn(c, arg);
		}
	}
}

/* ---- hand-back ---- */

/*
 * Send event @type with the descriptor @fd (SO_F_FD) as the next bytes on
 * the event socket, now, or not at all: only then does the dispatcher find
 * which message the descriptor came with (the kernel ends its read after
 * the bytes that carried it).  What the socket did not take of the
 * message is queued after.  Returns true when the descriptor went.
 */
static bool event_with_fd(struct sh_client *cl, uint8_t type, uint32_t id,
			  uint32_t arg, const uint8_t *p, size_t n, int fd)
{
	uint8_t m[SO_HDR_LEN + 2 * SO_ADDR_LEN];
	struct so_hdr h = { .len = (uint32_t)n, .type = type, .flags = SO_F_FD,
			    .id = id, .arg = arg };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = SO_HDR_LEN + n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm;
	ssize_t r;

	if (!cl->handback || cl->dying || cl->event_ev.fd < 0 ||
	    buf_len(&cl->ev_out) || n > sizeof(m) - SO_HDR_LEN)
		return false;
	so_hdr_encode(m, &h);
	memcpy(m + SO_HDR_LEN, p, n);
	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	r = sendmsg(cl->event_ev.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r <= 0)
		return false; /* EAGAIN and all: the ordinary way then */
	if ((size_t)r < iov.iov_len &&
	    buf_append(&cl->ev_out, m + r, iov.iov_len - (size_t)r) < 0)
		cl->dying = true;
	client_update(cl);
	return true;
}

/* May c's overlay socket go to the dispatcher as it is?  Nothing queued
 * either way (no byte may be lost), nothing ended, nothing handed. */
static int handback_fd(struct sh_conn *c)
{
	if (!c->client->handback || !ops->handback_fd || c->dead || c->handed ||
	    c->guest_shut || c->overlay_eof || buf_len(&c->to_overlay) ||
	    buf_len(&c->to_guest))
		return -1;
	return ops->handback_fd(c);
}

bool sh_connected(struct sh_conn *c, const struct so_addrpair *a)
{
	uint8_t p[2 * SO_ADDR_LEN];
	size_t n = a ? so_addrpair_encode(p, a) : 0;
	int fd = handback_fd(c);

	if (fd >= 0 && event_with_fd(c->client, SO_CONNECTED, c->id, 0, p, n, fd)) {
		/* the dispatcher has it: forget the id, keep the socket up */
		c->handed_back = true;
		conn_free(c, 0);
		return true;
	}
	client_event(c->client, SO_CONNECTED, c->id, 0, p, n);
	return false;
}

void sh_connect_failed(struct sh_conn *c, int err)
{
	c->dead = true;
	client_event(c->client, SO_CONNECT_FAILED, c->id,
		     (uint32_t)(err > 0 ? err : ECONNREFUSED), NULL, 0);
}

/* The next helper id for @cl not in use (SO_ID_HELPER set). */
static uint32_t accept_id(struct sh_client *cl)
{
	uint32_t id;

	do {
		id = SO_ID_HELPER | (cl->next_accept_id++ & ~SO_ID_HELPER);
	} while (conn_find(cl, id));
	return id;
}

bool sh_accepted_handback(struct sh_listener *l, const struct so_addrpair *a,
			  int fd)
{
	uint8_t p[2 * SO_ADDR_LEN];
	size_t n = a ? so_addrpair_encode(p, a) : 0;

	if (!l->client->handback || !ops->handback_fd)
		return false;
	return event_with_fd(l->client, SO_ACCEPTED, accept_id(l->client),
			     l->id, p, n, fd);
}

struct sh_conn *sh_accepted(struct sh_listener *l, const struct so_addrpair *a)
{
	struct sh_client *cl = l->client;
	uint8_t p[2 * SO_ADDR_LEN];
	uint32_t id = accept_id(cl);
	struct sh_conn *c = conn_new(cl, id);

	if (!c)
		return NULL;
	c->req = l->req;
	size_t n = a ? so_addrpair_encode(p, a) : 0;
	client_event(cl, SO_ACCEPTED, id, l->id, p, n);
	return c;
}

void sh_listen_failed(struct sh_listener *l, int err)
{
	client_event(l->client, SO_LISTEN_FAILED, l->id, (uint32_t)err, NULL,
		     0);
}

size_t sh_input_room(const struct sh_conn *c)
{
	if (c->dead || c->overlay_eof)
		return 0;
	size_t room = window_room(buf_len(&c->to_guest));
	/* No room: the overlay stops reading and waits for input_room().  The
	 * budget can take the room away without a sh_deliver() that took
	 * less, so owe it here.  (c is never a const object: the const is the
	 * API's promise to overlays, kept for them.) */
	if (!room)
		((struct sh_conn *)c)->input_paused = true;
	return room;
}

static void owe_arrived(struct sh_conn *c)
{
	if (c->read_pending) {
		c->read_pending = false;
		client_event(c->client, SO_ARRIVED, c->id, 0, NULL, 0);
	}
}

/* A direction's pipe and how far it got. */
struct sh_dir {
	int p[2];	/* the pipe, -1 until first needed and after EOF */
	size_t inpipe;	/* bytes in it */
	bool nosplice;	/* splice refused these sockets: copy instead */
	bool shut;	/* the source's EOF passed on (shutdown) */
};

struct sh_splice {
	struct sh_conn *c;
	int ofd;
	struct ev oev; /* ofd, in epoll while waited on */
	struct sh_dir up, down; /* guest -> overlay, overlay -> guest */
	uint64_t spliced, copied; /* bytes out of the stages, both ways */
};

/* ---- handed connections (HANDOFF) ----
 *
 * The guest end is c->gfd.  Guest bytes are read into to_overlay (the same
 * window as WRITE), overlay bytes go from sh_deliver() straight to the
 * socket and only what it does not take waits in to_guest.  The socket is
 * in epoll only while waited on (EPOLLHUP cannot be masked: see
 * sockout-plain's pconn_watch()).
 */

static void handed_cb(struct ev *ev, uint32_t events);

/* Forget the guest socket (CLOSE: the dispatcher holds its own copy and
 * closes the connection itself, orderly or with a reset). */
static void handed_drop(struct sh_conn *c)
{
	ev_del(&c->gev);
	if (c->gfd >= 0)
		close(c->gfd);
	c->gfd = -1;
}

/* The connection ended: say FINISHED once, with what moved; the
 * dispatcher answers CLOSE.  @err 0: both directions finished in order. */
static void handed_finish(struct sh_conn *c, int err)
{
	uint8_t p[SO_FINISHED_LEN];

	if (c->finished)
		return;
	c->finished = true;
	if (err)
		c->dead = true;
	ev_del(&c->gev);
	if (c->spl)
		ev_del(&c->spl->oev);
	client_event(c->client, SO_FINISHED, c->id, (uint32_t)err, p,
		     so_finished_encode(p, c->bytes_out, c->bytes_in));
}

/* Both directions done: the guest's EOF taken by the overlay, the
 * overlay's EOF passed to the guest. */
static void handed_check_done(struct sh_conn *c)
{
	if (c->handed && !c->finished && c->guest_shut &&
	    !buf_len(&c->to_overlay) && c->guest_eof_sent)
		handed_finish(c, 0);
}

static void spl_run(struct sh_conn *c);

static void handed_update(struct sh_conn *c)
{
	uint32_t e = 0;

	if (c->spl) {
		spl_run(c);
		return;
	}
	if (!c->handed || c->finished || c->gfd < 0)
		return;
	if (!c->guest_shut && read_room(c))
		e |= EPOLLIN;
	if (buf_len(&c->to_guest))
		e |= EPOLLOUT;
	if (!e)
		ev_del(&c->gev);
	else if (c->gev.fd < 0) {
		if (ev_add(&c->gev, c->gfd, e, handed_cb) < 0)
			handed_finish(c, ENOMEM);
	} else
		ev_mod(&c->gev, e);
}

/* Write what waits for the guest; pass the overlay's EOF on after it.
 * Returns 0 or -errno (the guest end is gone). */
static int handed_flush(struct sh_conn *c)
{
	while (buf_len(&c->to_guest)) {
		ssize_t n = send(c->gfd, buf_peek(&c->to_guest),
				 buf_len(&c->to_guest),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		buf_consume(&c->to_guest, (size_t)n);
	}
	account(c);
	if (!buf_len(&c->to_guest) && c->overlay_eof && !c->guest_eof_sent) {
		shutdown(c->gfd, SHUT_WR);
		c->guest_eof_sent = true;
	}
	if (c->input_paused && !c->dead && sh_input_room(c)) {
		c->input_paused = false;
		ops->input_room(c);
	}
	return 0;
}

/* Read what the guest sent into to_overlay, as a WRITE would. */
static void handed_read(struct sh_conn *c)
{
	size_t room = read_room(c);
	ssize_t n;

	if (!room || c->guest_shut)
		return;
	n = buf_read_fd(&c->to_overlay, c->gfd, room);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			handed_finish(c, ECONNRESET);
		return;
	}
	if (n == 0)
		c->guest_shut = true;
	c->bytes_out += (uint64_t)n;
	account(c);
	if (!c->dead)
		ops->output(c);
}

static void handed_cb(struct ev *ev, uint32_t events)
{
	struct sh_conn *c = container_of(ev, struct sh_conn, gev);

	if (c->finished)
		return;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
	    buf_len(&c->to_guest) && handed_flush(c) < 0) {
		handed_finish(c, ECONNRESET);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (!c->guest_shut) {
			handed_read(c);
		} else if (events & EPOLLERR) {
			handed_finish(c, ECONNRESET);
			return;
		}
	}
	if (c->finished)
		return;
	handed_update(c);
	handed_check_done(c);
}

/* ---- spliced connections (HANDOFF + ops->overlay_fd) ----
 *
 * Both ends are sockets the runtime holds: c->gfd (the guest) and
 * spl->ofd (the overlay's).  Each direction moves bytes through a stage
 * that is, in this order: its queue (what was queued before the handoff,
 * or the copy when there is no pipe), its pipe (splice in, splice out),
 * or nothing, and then the source is read.  A stage is refilled only when
 * it is empty: an empty pipe always has room, so a splice from the source
 * that says EAGAIN means the source has nothing (a pipe full of small
 * socket fragments can refuse more long before its byte size, and waiting
 * on the source then would spin).  So each socket is watched for input
 * while its direction's stage is empty, and for output while the other
 * direction's stage holds bytes.
 */

/* A chunk of the copy (no pipe): read only into an empty queue, so a
 * direction holds at most this much of it. */
#define SH_COPY_CHUNK (64u * 1024u)
/* Moves per direction per wake-up, so one busy connection does not hold
 * the loop: the sockets stay ready and epoll comes back. */
#define SH_SPLICE_ROUNDS 16

static unsigned npipes;
static uint64_t spliced_total, copied_total;

static void spl_gcb(struct ev *ev, uint32_t events);
static void spl_ocb(struct ev *ev, uint32_t events);

/* Pipes of finished directions, kept for the next ones: a connection's
 * first bytes each way would otherwise wait for pipe2(), F_SETPIPE_SZ,
 * and two close() at its end.  Counted in npipes. */
#define SH_PIPE_CACHE 16u
static int pipe_cache[SH_PIPE_CACHE][2];
static unsigned ncached;

/* A pipe for @d, or -1 (the copy is used this time; asked again when the
 * stage is next empty).  Its descriptors must leave the last quarter of
 * the limit to new connections, as a handed socket does. */
static int pipe_get(struct sh_dir *d)
{
	if (ncached) {
		ncached--;
		d->p[0] = pipe_cache[ncached][0];
		d->p[1] = pipe_cache[ncached][1];
		return 0;
	}
	if (npipes >= pipes_max)
		return -1;
	if (pipe2(d->p, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->p[0] = d->p[1] = -1;
		return -1;
	}
	if (d->p[1] >= handoff_fd_max) {
		close(d->p[0]);
		close(d->p[1]);
		d->p[0] = d->p[1] = -1;
		return -1;
	}
	fcntl(d->p[1], F_SETPIPE_SZ, (int)SH_PIPE_SIZE);
	npipes++;
	return 0;
}

/* Done with @d's pipe: an empty one is kept for the next direction, one
 * that still holds bytes (a reset) is closed with them. */
static void pipe_put(struct sh_dir *d)
{
	if (d->p[0] < 0)
		return;
	if (!d->inpipe && ncached < SH_PIPE_CACHE) {
		pipe_cache[ncached][0] = d->p[0];
		pipe_cache[ncached][1] = d->p[1];
		ncached++;
	} else {
		close(d->p[0]);
		close(d->p[1]);
		npipes--;
	}
	d->p[0] = d->p[1] = -1;
	d->inpipe = 0;
}

static bool would_block(int e)
{
	return e == EAGAIN || e == EINTR;
}

/* Move what one direction can now.  Returns 0, or -errno when a socket
 * failed (the connection is then reset). */
static int spl_pump(struct sh_conn *c, bool up)
{
	struct sh_splice *s = c->spl;
	struct sh_dir *d = up ? &s->up : &s->down;
	struct buf *q = up ? &c->to_overlay : &c->to_guest;
	bool *eof = up ? &c->guest_shut : &c->overlay_eof;
	int src = up ? c->gfd : s->ofd, dst = up ? s->ofd : c->gfd;
	ssize_t n;
	bool drained = false; /* the source gave less than asked: empty */

	for (int i = 0; i < SH_SPLICE_ROUNDS; i++) {
		if (buf_len(q)) {
			n = send(dst, buf_peek(q), buf_len(q),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0)
				return would_block(errno) ? 0 : -errno;
			buf_consume(q, (size_t)n);
			account(c);
			s->copied += (uint64_t)n;
			copied_total += (uint64_t)n;
			continue;
		}
		if (d->inpipe) {
			n = splice(d->p[0], NULL, dst, NULL, d->inpipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return would_block(errno) ? 0 : -errno;
			d->inpipe -= (size_t)n;
			s->spliced += (uint64_t)n;
			spliced_total += (uint64_t)n;
			continue;
		}
		/* Stage empty.  A source that gave less than asked is most
		 * likely empty now: epoll says when it is not, and asking
		 * again would cost a call per wake-up that says EAGAIN. */
		if (drained && !*eof)
			return 0;
		if (*eof)
			break;
		if (!d->nosplice && d->p[0] < 0)
			pipe_get(d);
		if (!d->nosplice && d->p[0] >= 0) {
			n = splice(src, NULL, d->p[1], NULL, SH_PIPE_SIZE,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0 && errno == EINVAL) {
				/* not a socket splice can read: copy */
				d->nosplice = true;
				pipe_put(d);
				continue;
			}
			if (n > 0)
				d->inpipe += (size_t)n;
			drained = n > 0 && (size_t)n < SH_PIPE_SIZE;
		} else {
			n = buf_read_fd(q, src, SH_COPY_CHUNK);
			if (n > 0)
				account(c);
			drained = n > 0 && (size_t)n < SH_COPY_CHUNK;
		}
		if (n < 0)
			return would_block(errno) ? 0 : -errno;
		/* Counted as they are taken from the source, as WRITE and
		 * sh_deliver() count them: what the queues held from before
		 * the handoff is counted already. */
		if (n == 0)
			*eof = true;
		else if (up)
			c->bytes_out += (uint64_t)n;
		else
			c->bytes_in += (uint64_t)n;
	}
	/* The source's EOF, once all before it is out: pass it on, here
	 * after the last round too (nothing else would wake us for it). */
	if (*eof && !d->shut && !d->inpipe && !buf_len(q)) {
		shutdown(dst, SHUT_WR);
		d->shut = true;
		pipe_put(d);
	}
	return 0;
}

static bool stage_empty(const struct sh_conn *c, bool up)
{
	const struct sh_dir *d = up ? &c->spl->up : &c->spl->down;

	return !d->inpipe && !buf_len(up ? &c->to_overlay : &c->to_guest);
}

/* Watch @ev on @fd for @e, or not at all (EPOLLHUP cannot be masked: a
 * socket shut both ways would wake us for ever).  Returns 0 or -errno. */
static int spl_watch(struct ev *ev, int fd, uint32_t e, ev_cb cb)
{
	if (!e)
		ev_del(ev);
	else if (ev->fd < 0)
		return ev_add(ev, fd, e, cb);
	else
		ev_mod(ev, e);
	return 0;
}

/* Directions for spl_run(). */
#define SPL_UP 1u
#define SPL_DOWN 2u

/* Move what can move in the directions @dirs, then wait for what is
 * missing, or finish. */
static void spl_run_dirs(struct sh_conn *c, unsigned dirs)
{
	struct sh_splice *s = c->spl;
	int r = 0;

	if (c->finished)
		return;
	if (((dirs & SPL_UP) && (r = spl_pump(c, true)) < 0) ||
	    ((dirs & SPL_DOWN) && (r = spl_pump(c, false)) < 0)) {
		handed_finish(c, r == -EPIPE ? ECONNRESET : -r);
		return;
	}
	bool up_in = !c->guest_shut && stage_empty(c, true);
	bool down_in = !c->overlay_eof && stage_empty(c, false);
	if (s->up.shut && s->down.shut) {
		c->guest_eof_sent = true;
		debug("connection %#x: %llu bytes spliced, %llu copied", c->id,
		      (unsigned long long)s->spliced,
		      (unsigned long long)s->copied);
		handed_finish(c, 0);
		return;
	}
	if (spl_watch(&c->gev, c->gfd,
		      (up_in ? EPOLLIN : 0) |
			      (stage_empty(c, false) ? 0 : EPOLLOUT),
		      spl_gcb) < 0 ||
	    spl_watch(&s->oev, s->ofd,
		      (down_in ? EPOLLIN : 0) |
			      (stage_empty(c, true) ? 0 : EPOLLOUT),
		      spl_ocb) < 0)
		handed_finish(c, ENOMEM);
}

static void spl_run(struct sh_conn *c)
{
	spl_run_dirs(c, SPL_UP | SPL_DOWN);
}

/* Which directions a socket's events concern: its input feeds one, its
 * room drains the other; errors and hang-ups show in the next call of
 * either. */
static unsigned spl_dirs(uint32_t events, unsigned in, unsigned out)
{
	if (events & (EPOLLERR | EPOLLHUP))
		return SPL_UP | SPL_DOWN;
	return ((events & EPOLLIN) ? in : 0) | ((events & EPOLLOUT) ? out : 0);
}

static void spl_gcb(struct ev *ev, uint32_t events)
{
	spl_run_dirs(container_of(ev, struct sh_conn, gev),
		     spl_dirs(events, SPL_UP, SPL_DOWN));
}

static void spl_ocb(struct ev *ev, uint32_t events)
{
	spl_run_dirs(container_of(ev, struct sh_splice, oev)->c,
		     spl_dirs(events, SPL_DOWN, SPL_UP));
}

/* HANDOFF, and the overlay has a socket to give: splice between them.
 * Returns 0, or -1 when it stays the overlay's (it then keeps going as
 * a handed connection). */
static int spl_start(struct sh_conn *c)
{
	struct sh_splice *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->c = c;
	s->oev.fd = -1;
	s->up.p[0] = s->up.p[1] = s->down.p[0] = s->down.p[1] = -1;
	s->ofd = ops->overlay_fd(c);
	if (s->ofd < 0) {
		free(s);
		return -1;
	}
	c->spl = s;
	/* Usually nothing waits yet: watching is enough (epoll reports what
	 * arrived meanwhile), and trying to read would say EAGAIN twice on
	 * the first byte's way.  What the queues hold, or an EOF already
	 * seen, goes out now. */
	spl_run_dirs(c, buf_len(&c->to_overlay) || buf_len(&c->to_guest) ||
				c->guest_shut || c->overlay_eof ?
			SPL_UP | SPL_DOWN :
			0);
	return 0;
}

static void spl_free(struct sh_conn *c)
{
	struct sh_splice *s = c->spl;

	if (!s)
		return;
	ev_del(&s->oev);
	pipe_put(&s->up);
	pipe_put(&s->down);
	free(s);
	c->spl = NULL;
}

/* HANDOFF came with @fd for @c: move bytes on it from now on. */
static int handed_start(struct sh_conn *c, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 ||
	    (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -errno;
	c->gfd = fd;
	c->handed = true;
	c->read_pending = false;
	c->write_blocked = false;
	if (ops->overlay_fd && spl_start(c) == 0)
		return 0;
	if (buf_len(&c->to_guest) || c->overlay_eof) {
		int r = handed_flush(c);
		if (r < 0) {
			handed_finish(c, ECONNRESET);
			return 0;
		}
	}
	handed_update(c);
	handed_check_done(c);
	return 0;
}

size_t sh_deliver(struct sh_conn *c, const void *p, size_t len)
{
	size_t q = buf_len(&c->to_guest);
	/* Take what fits the connection's own window, not the shrunken one:
	 * overlays read sh_input_room() bytes and deliver them later (the
	 * ssh helper from another thread), and whatever other connections
	 * queued in between must not make that delivery fall short. */
	size_t room = c->dead || c->overlay_eof || q >= SH_QUEUE_MAX ?
			      0 :
			      SH_QUEUE_MAX - q;

	/* Filling the queue to the brim counts as paused too: the overlay
	 * sees no room and stops reading, so input_room() is owed. */
	if (len >= room) {
		len = room;
		c->input_paused = true;
	}
	if (!len)
		return 0;
	size_t sent = 0;
	/* Handed, nothing waiting: straight to the guest, no copy. */
	if (c->handed && !c->finished && !q) {
		ssize_t n = send(c->gfd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			handed_finish(c, ECONNRESET);
			c->input_paused = true;
			return 0;
		}
		if (n > 0) {
			sent = (size_t)n;
			c->bytes_in += sent;
		}
	}
	if (sent < len) {
		if (buf_append(&c->to_guest, (const uint8_t *)p + sent,
			       len - sent) < 0) {
			c->input_paused = true;
			return sent;
		}
		c->bytes_in += len - sent;
		account(c);
		if (c->handed)
			handed_update(c); /* EPOLLOUT */
	}
	owe_arrived(c);
	return len;
}

void sh_eof(struct sh_conn *c)
{
	c->overlay_eof = true;
	owe_arrived(c);
	if (c->handed && !c->finished && !buf_len(&c->to_guest) &&
	    !c->guest_eof_sent) {
		shutdown(c->gfd, SHUT_WR);
		c->guest_eof_sent = true;
		handed_check_done(c);
	}
}

void sh_reset(struct sh_conn *c, int err)
{
	if (c->dead)
		return;
	if (c->handed) {
		handed_finish(c, err > 0 ? err : ECONNRESET);
		c->dead = true;
		return;
	}
	c->dead = true;
	c->read_pending = false;
	client_event(c->client, SO_CLOSED, c->id,
		     (uint32_t)(err > 0 ? err : ECONNRESET), NULL, 0);
}

void sh_output_taken(struct sh_conn *c)
{
	account(c);
	if (c->handed) {
		handed_update(c);
		handed_check_done(c);
		return;
	}
	if (c->write_blocked && write_room_back(c)) {
		c->write_blocked = false;
		client_event(c->client, SO_WRITABLE, c->id, 0, NULL, 0);
	}
}

/* After the budget freed up: a connection whose window was shrunk to
 * nothing gets its input_room() or WRITABLE now. */
static void conn_resume(struct sh_conn *c, void *arg)
{
	(void)arg;
	if (c->dead)
		return;
	if (c->input_paused && !c->spl && sh_input_room(c)) {
		c->input_paused = false;
		ops->input_room(c);
	}
	if (c->handed)
		handed_update(c); /* the guest side's EPOLLIN */
	if (c->write_blocked && !c->guest_shut && write_room_back(c)) {
		c->write_blocked = false;
		client_event(c->client, SO_WRITABLE, c->id, 0, NULL, 0);
	}
}

/* ---- requests ---- */

static int do_write(struct sh_conn *c, const uint8_t *p, size_t len)
{
	size_t take = window_room(buf_len(&c->to_overlay));

	if (c->dead)
		return -ECONNRESET;
	if (c->guest_shut)
		return -EPIPE;
	if (take > len)
		take = len;
	if (take < len)
		c->write_blocked = true;
	if (take && buf_append(&c->to_overlay, p, take) < 0)
		return -ENOMEM;
	c->bytes_out += take;
	account(c);
	if (take)
		ops->output(c);
	return (int)take;
}

static void do_read(struct sh_client *cl, struct sh_conn *c, uint32_t want)
{
	size_t have = buf_len(&c->to_guest);
	size_t n = have < want ? have : want;
	uint8_t flags = 0;

	if (n > SO_MAX_DATA)
		n = SO_MAX_DATA;
	if (c->dead && !have) {
		reply(cl, c->id, -ECONNRESET);
		return;
	}
	if (n == have && c->overlay_eof)
		flags |= SO_F_EOF;
	/* an empty queue may have no block yet: no pointer arithmetic on it */
	client_out(cl, SO_REPLY, flags, c->id, (uint32_t)n,
		   n ? buf_peek(&c->to_guest) : NULL, n);
	buf_consume(&c->to_guest, n);
	account(c);
	if (!n && !flags)
		c->read_pending = true;
	if (n && c->input_paused && sh_input_room(c)) {
		c->input_paused = false;
		if (!c->dead)
			ops->input_room(c);
	}
}

static struct sh_listener *listener_find(struct sh_client *cl, uint32_t id)
{
	struct sh_listener *l;

	LIST_FOREACH(l, &cl->listeners, link)
		if (l->id == id)
			return l;
	return NULL;
}

static void listener_free(struct sh_listener *l)
{
	ops->unlisten(l);
	LIST_REMOVE(l, link);
	free(l);
}

static void status_reply(struct sh_client *cl)
{
	struct buf j;
	char head[384];

	buf_init(&j);
	snprintf(head, sizeof(head),
		 "{\"helper\":\"%s\",\"version\":%d,\"connections\":%u,"
		 "\"queued\":%zu,\"queue_budget\":%zu,\"handoff\":%s,"
		 "\"pipes\":%u,\"pipes_idle\":%u,\"spliced\":%llu,"
		 "\"copied\":%llu",
		 ops->name, SO_PROTO_VERSION, nconns, queued, budget,
		 handoff_on ? "true" : "false", npipes - ncached, ncached,
		 (unsigned long long)spliced_total,
		 (unsigned long long)copied_total);
	buf_append(&j, head, strlen(head));
	if (ops->status)
		ops->status(&j);
	buf_append(&j, "}", 1);
	if (buf_len(&j) > SO_MAX_PAYLOAD)
		client_out(cl, SO_REPLY, SO_F_ERROR, 0, EMSGSIZE, NULL, 0);
	else
		client_out(cl, SO_REPLY, 0, 0, 0, buf_peek(&j), buf_len(&j));
	buf_free(&j);
}

/*
 * One function per request type.  @c is the connection named by h->id when
 * the table says needs_conn (the lookup and its ENOTCONN reply are done by
 * handle()), else NULL.  Each sends exactly one reply; returns 0, or -EPROTO
 * when the client must be dropped.
 */
typedef int req_fn(struct sh_client *cl, struct sh_conn *c,
		   const struct so_hdr *h, const uint8_t *p);

static int req_hello(struct sh_client *cl, struct sh_conn *c,
		     const struct so_hdr *h, const uint8_t *p)
{
	size_t n = h->len < sizeof(cl->name) - 1 ? h->len :
						   sizeof(cl->name) - 1;
	(void)c;

	memcpy(cl->name, p, n);
	cl->name[n] = '\0';
	if (h->arg != SO_PROTO_VERSION) {
		warn("dispatcher speaks protocol %u, we speak %d", h->arg,
		     SO_PROTO_VERSION);
		client_out(cl, SO_REPLY, SO_F_ERROR, 0, EPROTONOSUPPORT, NULL,
			   0);
		return 0;
	}
	uint8_t caps[SO_CAPS_LEN];
	cl->handback = handback_on && ops->handback_fd;
	client_out(cl, SO_REPLY, 0, cl->token, SO_PROTO_VERSION, caps,
		   so_caps_encode(caps, (handoff_on ? SO_CAP_HANDOFF : 0) |
						(names_on ? SO_CAP_NAME : 0) |
						(cl->handback ? SO_CAP_HANDBACK : 0)));
	return 0;
}

static int req_connect(struct sh_client *cl, struct sh_conn *c,
		       const struct so_hdr *h, const uint8_t *p)
{
	struct so_connect req;
	int r;

	if (so_connect_decode(p, h->len, &req) < 0)
		return -EPROTO;
	if ((h->id & SO_ID_HELPER) || !h->id || conn_find(cl, h->id)) {
		reply(cl, h->id, -EEXIST);
		return 0;
	}
	c = conn_new(cl, h->id);
	if (!c) {
		reply(cl, h->id, -ENOMEM);
		return 0;
	}
	c->req = req;
	reply(cl, h->id, 0);
	if ((r = ops->connect(c)) < 0)
		sh_connect_failed(c, -r);
	return 0;
}

static int req_listen(struct sh_client *cl, struct sh_conn *c,
		      const struct so_hdr *h, const uint8_t *p)
{
	struct so_connect req;
	struct sh_listener *l;
	int r;
	(void)c;

	if (so_connect_decode(p, h->len, &req) < 0 || req.name[0])
		return -EPROTO;
	if (listener_find(cl, h->id)) {
		reply(cl, h->id, -EEXIST);
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		reply(cl, h->id, -ENOMEM);
		return 0;
	}
	l->id = h->id;
	l->client = cl;
	l->req = req;
	if ((r = ops->listen(l)) < 0) {
		free(l);
		reply(cl, h->id, r);
		return 0;
	}
	LIST_INSERT_HEAD(&cl->listeners, l, link);
	reply(cl, h->id, 0);
	return 0;
}

static int req_unlisten(struct sh_client *cl, struct sh_conn *c,
			const struct so_hdr *h, const uint8_t *p)
{
	struct sh_listener *l = listener_find(cl, h->id);
	(void)c;
	(void)p;

	if (l)
		listener_free(l);
	reply(cl, h->id, l ? 0 : -ENOENT);
	return 0;
}

static int req_status(struct sh_client *cl, struct sh_conn *c,
		      const struct so_hdr *h, const uint8_t *p)
{
	(void)c;
	(void)h;
	(void)p;
	status_reply(cl);
	return 0;
}

static int req_write(struct sh_client *cl, struct sh_conn *c,
		     const struct so_hdr *h, const uint8_t *p)
{
	reply(cl, h->id, do_write(c, p, h->len));
	return 0;
}

static int req_read(struct sh_client *cl, struct sh_conn *c,
		    const struct so_hdr *h, const uint8_t *p)
{
	(void)p;
	do_read(cl, c, h->arg);
	return 0;
}

static int req_shutdown(struct sh_client *cl, struct sh_conn *c,
			const struct so_hdr *h, const uint8_t *p)
{
	(void)p;
	if (!c->guest_shut) {
		c->guest_shut = true;
		if (!c->dead)
			ops->output(c);
	}
	reply(cl, h->id, 0);
	return 0;
}

static int req_close(struct sh_client *cl, struct sh_conn *c,
		     const struct so_hdr *h, const uint8_t *p)
{
	(void)p;
	reply(cl, h->id, 0);
	conn_free(c, (int)h->arg);
	return 0;
}

static int client_take_fd(struct sh_client *cl)
{
	int fd;

	if (!cl->nfds)
		return -1;
	fd = cl->fds[0];
	memmove(cl->fds, cl->fds + 1, --cl->nfds * sizeof(cl->fds[0]));
	return fd;
}

static int req_handoff(struct sh_client *cl, struct sh_conn *c,
		       const struct so_hdr *h, const uint8_t *p)
{
	int fd = client_take_fd(cl);
	int r;
	(void)p;

	if (fd < 0) {
		reply(cl, h->id, -EBADF);
		return 0;
	}
	if (!handoff_on || c->handed || c->dead || fd >= handoff_fd_max) {
		close(fd);
		reply(cl, h->id, !handoff_on		 ? -EOPNOTSUPP :
				 c->handed		 ? -EALREADY :
				 c->dead		 ? -ECONNRESET :
							   -EMFILE);
		return 0;
	}
	/* the reply first: FINISHED may follow at once */
	reply(cl, h->id, 0);
	if ((r = handed_start(c, fd)) < 0) {
		close(fd);
		c->handed = true; /* FINISHED, not CLOSED: the dispatcher
				     took the reply as done */
		handed_finish(c, -r);
	}
	return 0;
}

/* so_connect: an address, a length byte, up to SO_MAX_TARGET bytes;
 * so_connect_decode() checks the exact length. */
#define SO_CONNECT_MIN (SO_ADDR_LEN + 1u)
#define SO_CONNECT_MAX ((uint32_t)SO_CONNECT_MAX_LEN)

/*
 * The requests, indexed by type (the ntpd dispatch_imsg shape).  A type
 * with no function (0, EVHELLO on the data socket, anything past the end)
 * makes the stream invalid.  Lengths outside [min, max] do too; requests
 * that carry no payload ignore one, so their bound is so_next()'s.
 */
static const struct sh_req {
	req_fn *fn;
	bool needs_conn; /* h->id must name a live connection: else ENOTCONN */
	uint32_t min_len, max_len;
} sh_reqs[] = {
	[SO_HELLO] = { req_hello, false, 0, SO_MAX_PAYLOAD },
	[SO_CONNECT] = { req_connect, false, SO_CONNECT_MIN, SO_CONNECT_MAX },
	[SO_LISTEN] = { req_listen, false, SO_CONNECT_MIN, SO_CONNECT_MAX },
	[SO_UNLISTEN] = { req_unlisten, false, 0, SO_MAX_PAYLOAD },
	[SO_WRITE] = { req_write, true, 0, SO_MAX_DATA },
	[SO_READ] = { req_read, true, 0, SO_MAX_PAYLOAD },
	[SO_SHUTDOWN] = { req_shutdown, true, 0, SO_MAX_PAYLOAD },
	[SO_CLOSE] = { req_close, true, 0, SO_MAX_PAYLOAD },
	[SO_STATUS] = { req_status, false, 0, SO_MAX_PAYLOAD },
	[SO_HANDOFF] = { req_handoff, true, 0, 0 },
};

/* Handle one request; returns -EPROTO if the client must be dropped. */
static int handle(struct sh_client *cl, const struct so_hdr *h,
		  const uint8_t *p)
{
	const struct sh_req *rq = NULL;
	struct sh_conn *c = NULL;

	if (h->type < sizeof(sh_reqs) / sizeof(sh_reqs[0]))
		rq = &sh_reqs[h->type];
	if (!rq || !rq->fn) {
		warn("dispatcher %s sent unknown request type %u", cl->name,
		     h->type);
		return -EPROTO;
	}
	if (h->len < rq->min_len || h->len > rq->max_len)
		return -EPROTO;
	if (rq->needs_conn && !(c = conn_find(cl, h->id))) {
		if (h->type == SO_HANDOFF)
			close(client_take_fd(cl));
		reply(cl, h->id, -ENOTCONN);
		return 0;
	}
	/* A handed connection's bytes no longer go through requests. */
	if (c && c->handed &&
	    (h->type == SO_READ || h->type == SO_WRITE ||
	     h->type == SO_SHUTDOWN)) {
		reply(cl, h->id, -EINVAL);
		return 0;
	}
	return rq->fn(cl, c, h, p);
}

/* ---- client sockets ---- */

static void client_free(struct sh_client *cl)
{
	while (!LIST_EMPTY(&cl->conns))
		conn_free(LIST_FIRST(&cl->conns), ECONNRESET);
	while (!LIST_EMPTY(&cl->listeners))
		listener_free(LIST_FIRST(&cl->listeners));
	int dfd = cl->data_ev.fd;
	ev_del(&cl->data_ev);
	close(dfd);
	if (cl->event_ev.fd >= 0) {
		int fd = cl->event_ev.fd;
		ev_del(&cl->event_ev);
		close(fd);
	}
	while (cl->nfds)
		close(cl->fds[--cl->nfds]);
	LIST_REMOVE(cl, link);
	buf_free(&cl->in);
	buf_free(&cl->out);
	buf_free(&cl->ev_in);
	buf_free(&cl->ev_out);
	info("dispatcher %s disconnected", cl->name[0] ? cl->name : "?");
	free(cl);
}

/* Recompute epoll interest after queues changed.  Flushes opportunistically
 * so small replies do not wait for another epoll round. */
static void client_update(struct sh_client *cl)
{
	if (cl->data_ev.fd >= 0 && buf_len(&cl->out)) {
		if (buf_write_fd(&cl->out, cl->data_ev.fd) < 0 &&
		    errno != EAGAIN)
			cl->dying = true;
	}
	if (cl->event_ev.fd >= 0 && buf_len(&cl->ev_out)) {
		if (buf_write_fd(&cl->ev_out, cl->event_ev.fd) < 0 &&
		    errno != EAGAIN)
			cl->dying = true;
	}
	/* While paused, read no more requests; wait for writability even with
	 * `out` empty (it may have drained from another callback), so that
	 * client_data_cb() comes back to the requests already read. */
	uint32_t e = cl->in_paused ? 0 : EPOLLIN;
	if (buf_len(&cl->out) || cl->in_paused)
		e |= EPOLLOUT;
	if (cl->data_ev.fd >= 0)
		ev_mod(&cl->data_ev, e);
	if (cl->event_ev.fd >= 0)
		ev_mod(&cl->event_ev,
		       EPOLLIN | (buf_len(&cl->ev_out) ? EPOLLOUT : 0));
}

/* Handle the complete requests in cl->in until the replies pile up to
 * SH_OUT_HIGH.  Returns 0, or -EPROTO when the client must be dropped. */
static int client_parse(struct sh_client *cl)
{
	struct so_hdr h;
	const uint8_t *p;
	int r;

	while (buf_len(&cl->out) < SH_OUT_HIGH) {
		r = so_next(&cl->in, &h, &p);
		if (r <= 0) {
			cl->in_paused = false;
			return r;
		}
		if (handle(cl, &h, p) < 0)
			return -EPROTO;
		so_done(&cl->in, &h);
	}
	cl->in_paused = true;
	return 0;
}

/* net_msg_fds()'s taker in client_recv(): a descriptor waits in cl->fds
 * for its request; past SH_FDS_MAX the client is dropped. */
static void client_keep_fd(void *arg, int f)
{
	struct sh_client *cl = arg;

	if (cl->nfds < SH_FDS_MAX) {
		cl->fds[cl->nfds++] = f;
	} else {
		close(f);
		cl->dying = true;
	}
}

/* Read requests, and the descriptors HANDOFFs carry (SCM_RIGHTS), which
 * wait in cl->fds for their request.  A read() would drop them. */
static ssize_t client_recv(struct sh_client *cl, int fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	size_t max = SO_MAX_PAYLOAD + SO_HDR_LEN;
	uint8_t *d = buf_reserve(&cl->in, max);
	struct iovec iov = { .iov_base = d, .iov_len = max };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	ssize_t n;

	if (!d) {
		errno = ENOMEM;
		return -1;
	}
	n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return n;
	net_msg_fds(&m, client_keep_fd, cl);
	/* The descriptor was dropped (out of descriptors): its HANDOFF,
	 * whose header this read ends with (the kernel ends a read after
	 * the bytes a descriptor came with), takes a -1 and is refused, so
	 * that the ones after it still take their own. */
	if ((m.msg_flags & MSG_CTRUNC) && cl->nfds < SH_FDS_MAX)
		cl->fds[cl->nfds++] = -1;
	if (n > 0)
		buf_commit(&cl->in, (size_t)n);
	return n;
}

static void client_data_cb(struct ev *ev, uint32_t events)
{
	struct sh_client *cl = container_of(ev, struct sh_client, data_ev);

	if (events & EPOLLIN) {
		ssize_t n = client_recv(cl, ev->fd);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_free(cl);
			return;
		}
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		client_free(cl);
		return;
	}
	/* Requests already read but not handled are taken up again only
	 * here, once the replies have drained to SH_OUT_LOW: nothing new
	 * need arrive on the socket to wake us for them. */
	if (cl->in_paused && (events & EPOLLOUT) &&
	    buf_write_fd(&cl->out, ev->fd) < 0 && errno != EAGAIN)
		cl->dying = true;
	if (!cl->dying &&
	    (!cl->in_paused || buf_len(&cl->out) < SH_OUT_LOW) &&
	    client_parse(cl) < 0) {
		warn("dispatcher %s: malformed request, dropping it", cl->name);
		client_free(cl);
		return;
	}
	client_update(cl);
	if (cl->dying)
		client_free(cl);
}

static void client_event_cb(struct ev *ev, uint32_t events)
{
	struct sh_client *cl = container_of(ev, struct sh_client, event_ev);
	char junk[256];

	/* The dispatcher sends nothing after EVHELLO: EOF or error means the
	 * dispatcher is gone, which the data socket will also tell. */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(ev->fd, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			int fd = ev->fd;
			ev_del(ev);
			close(fd);
			return;
		}
	}
	client_update(cl);
	if (cl->dying)
		client_free(cl);
}

static void accept_resume(struct timer *t)
{
	(void)t;
	ev_mod(&data_lev, EPOLLIN);
	ev_mod(&event_lev, EPOLLIN);
}

/* An accept on a data or event listener failed with @err (-errno).  Out
 * of descriptors, the connection stays pending and the socket readable:
 * stop watching both listeners for a while instead of spinning. */
static void accept_failed(const char *what, int err)
{
	if (err != -EMFILE && err != -ENFILE)
		return;
	if (!accept_pause_logged)
		warn("%s: %s: pausing accepts", what, strerror(-err));
	accept_pause_logged = true;
	ev_mod(&data_lev, 0);
	ev_mod(&event_lev, 0);
	timer_set(&accept_pause, SH_ACCEPT_PAUSE_MS);
}

static void data_accept_cb(struct ev *ev, uint32_t events)
{
	(void)events;
	int fd = net_accept_trusted(ev->fd, "data socket");

	if (fd < 0) {
		accept_failed("data socket", fd);
		return;
	}
	accept_pause_logged = false;
	struct sh_client *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->token = next_token++;
	cl->event_ev.fd = -1;
	cl->next_accept_id = 1;
	if (ev_add(&cl->data_ev, fd, EPOLLIN, client_data_cb) < 0) {
		close(fd);
		free(cl);
		return;
	}
	LIST_INIT(&cl->conns);
	LIST_INIT(&cl->listeners);
	LIST_INSERT_HEAD(&clients, cl, link);
}

static void pending_free(struct sh_pending *pe, bool close_fd)
{
	LIST_REMOVE(pe, link);
	int fd = pe->ev.fd;
	ev_del(&pe->ev);
	if (close_fd)
		close(fd);
	buf_free(&pe->in);
	free(pe);
}

static void pending_cb(struct ev *ev, uint32_t events)
{
	struct sh_pending *pe = container_of(ev, struct sh_pending, ev);
	struct so_hdr h;
	const uint8_t *p;
	(void)events;

	ssize_t n = buf_read_fd(&pe->in, ev->fd, SO_HDR_LEN - buf_len(&pe->in));
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		pending_free(pe, true);
		return;
	}
	int r = so_next(&pe->in, &h, &p);
	if (r == 0)
		return;
	if (r < 0 || h.type != SO_EVHELLO || h.len) {
		pending_free(pe, true);
		return;
	}
	struct sh_client *cl;
	LIST_FOREACH(cl, &clients, link) {
		if (cl->token == h.id && cl->event_ev.fd < 0) {
			int fd = ev->fd;
			pending_free(pe, false);
			if (ev_add(&cl->event_ev, fd, EPOLLIN, client_event_cb) <
			    0) {
				close(fd);
				return;
			}
			info("dispatcher %s connected", cl->name);
			client_update(cl);
			return;
		}
	}
	warn("event socket: unknown session token %u", h.id);
	pending_free(pe, true);
}

static void event_accept_cb(struct ev *ev, uint32_t events)
{
	(void)events;
	int fd = net_accept_trusted(ev->fd, "event socket");

	if (fd < 0) {
		accept_failed("event socket", fd);
		return;
	}
	accept_pause_logged = false;
	struct sh_pending *pe = calloc(1, sizeof(*pe));
	if (!pe || ev_add(&pe->ev, fd, EPOLLIN, pending_cb) < 0) {
		free(pe);
		close(fd);
		return;
	}
	LIST_INSERT_HEAD(&pendings, pe, link);
}

int sh_listen(const char *dpath, const char *epath, const struct sh_ops *o)
{
	int dfd, efd, r;

	struct rlimit rl;

	ops = o;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 30))
		handoff_fd_max = (int)(rl.rlim_cur - rl.rlim_cur / 4);
	timer_init(&accept_pause, accept_resume);
	timer_init(&budget_timer, budget_wake);
	dfd = net_unix_listen(dpath, 0660);
	if (dfd < 0)
		return dfd;
	efd = net_unix_listen(epath, 0660);
	if (efd < 0) {
		close(dfd);
		unlink(dpath);
		return efd;
	}
	if ((r = ev_add(&data_lev, dfd, EPOLLIN, data_accept_cb)) < 0 ||
	    (r = ev_add(&event_lev, efd, EPOLLIN, event_accept_cb)) < 0) {
		close(dfd);
		close(efd);
		return r;
	}
	data_path = strdup(dpath);
	event_path = strdup(epath);
	return 0;
}

void sh_shutdown(void)
{
	timer_cancel(&accept_pause);
	timer_cancel(&budget_timer);
	while (!LIST_EMPTY(&clients))
		client_free(LIST_FIRST(&clients));
	while (ncached) {
		ncached--;
		close(pipe_cache[ncached][0]);
		close(pipe_cache[ncached][1]);
		npipes--;
	}
	while (!LIST_EMPTY(&pendings))
		pending_free(LIST_FIRST(&pendings), true);
	if (data_path) {
		int fd = data_lev.fd;
		ev_del(&data_lev);
		close(fd);
		unlink(data_path);
		free(data_path);
		data_path = NULL;
	}
	if (event_path) {
		int fd = event_lev.fd;
		ev_del(&event_lev);
		close(fd);
		unlink(event_path);
		free(event_path);
		event_path = NULL;
	}
}
