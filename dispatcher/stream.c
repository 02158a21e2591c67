// SPDX-License-Identifier: MIT
/*
 * stream.c - stream-mode guests: the guest protocol without descriptor
 * passing, for guests behind a VM boundary (PROTOCOL.md part 2, "Stream
 * mode").
 *
 * Theory of operation.  sockoutd listens on the `guest-stream' endpoints
 * of its configuration (a Unix path per VM, which is where a VMM's hybrid
 * vsock or a forwarder connects, or a TCP address on loopback).  Whoever
 * connects to an endpoint is that endpoint's guest: its identity (uid,
 * gid) is the configuration's, never anything the stream says.  Each
 * stream carries one request, read and matched by guest.c exactly as on
 * the Unix guest socket; only the answer differs.  Where guest.c would
 * pass a descriptor, it calls stream_reply() instead, and this file stands
 * in for the guest end of that descriptor:
 *
 *   CONNECT, CLAIM -> a bridge: sockoutd copies bytes between the guest's
 *                     stream and the descriptor (the host TCP socket of a
 *                     `direct' rule, or the loopback pair end that relay.c
 *                     pumps to a helper), half-closes passed on;
 *   LISTEN         -> a stream listener: sockoutd holds the listener's
 *                     seqpacket, and each ACCEPT message on it (with the
 *                     accepted socket) becomes a token kept here and an
 *                     ACCEPT notice (56 bytes, with the token) on the
 *                     guest's stream; the guest opens a new stream and
 *                     CLAIMs the token, and that stream is bridged to the
 *                     accepted socket.  A token not claimed within the
 *                     guest request timeout is closed.
 *
 * The routes (direct.c, relay.c, listen.c) are thus unchanged: a stream
 * guest costs one copy through sockoutd per byte, which is the price of
 * having no shared kernel.  Limits: the per-uid limits apply as for any
 * guest (by the endpoint's uid), and each endpoint holds at most its
 * `connections' streams (bridges and listeners); a stream past that is
 * REFUSED (EAGAIN) before its request is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "../common/log.h"
#include "../common/net.h"
#include "sockoutd.h"

#define BRIDGE_BUF (64 * 1024) /* one read; at most this held per direction */
#define SL_PENDING_MAX 64      /* unclaimed connections per listener */

struct sep { /* an endpoint: one guest */
	struct ev lev;
	struct timer pause;
	char *where, *name;
	bool is_unix;
	gid_t gid;
	struct peer_id who;
	unsigned max, used;
	uint64_t refused;
	LIST_ENTRY(sep) link;
};

/* One direction of a bridge: bytes read from one side that the other
 * did not take yet, at buf[off, off + len).  Bytes are read into a shared
 * scratch buffer and written on at once; only what the writer does not
 * take is kept (malloc'ed, freed once written), and nothing more is read
 * until it is gone.  An idle connection thus holds no buffer at all. */
struct flow {
	size_t off, len;
	bool eof;  /* the reading side finished */
	bool shut; /* ... and that was passed on (SHUT_WR) */
	uint8_t *buf; /* NULL when len is 0 */
};

struct side {
	struct ev ev;
	int fd;	     /* ev.fd is -1 while parked */
	bool hup;    /* it hung up (or failed): epoll reports that always */
	bool parked; /* ... and nothing is to be done with it: out of epoll */
};

struct bridge {
	struct side g, h;     /* the guest's stream, the host side */
	struct flow up, down; /* up: guest -> host; down: host -> guest */
	struct sep *ep;
	LIST_ENTRY(bridge) link;
};

struct slisten {
	struct ev g;	/* the guest's listen stream: notices go out here */
	struct ev s;	/* listen.c's seqpacket: ACCEPT messages come in */
	struct sep *ep;
	unsigned npending;
	size_t olen;
	uint8_t out[SL_PENDING_MAX * GP_REPLY_LEN];
	LIST_ENTRY(slisten) link;
};

struct stoken { /* an accepted connection waiting for its CLAIM */
	uint32_t token;
	int fd;
	struct so_addr local, peer;
	struct slisten *sl;
	struct timer t;
	LIST_ENTRY(stoken) link;
};

static const struct stream_hooks *up_hooks;
static LIST_HEAD(, sep) seps = LIST_HEAD_INITIALIZER(seps);
static LIST_HEAD(, bridge) bridges = LIST_HEAD_INITIALIZER(bridges);
static LIST_HEAD(, slisten) slistens = LIST_HEAD_INITIALIZER(slistens);
static LIST_HEAD(, stoken) stokens = LIST_HEAD_INITIALIZER(stokens);

static void nodelay(int fd)
{
	int one = 1;

	/* A bridge passes on what it reads at once: Nagle on top of that
	 * would only delay.  Fails harmlessly on a Unix socket. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- bridges ---- */

static void bridge_free(struct bridge *b, bool reset)
{
	int g = b->g.fd, h = b->h.fd;

	ev_del(&b->g.ev);
	ev_del(&b->h.ev);
	if (reset) {
		net_close_reset(g);
		net_close_reset(h);
	} else {
		close(g);
		close(h);
	}
	b->ep->used--;
	LIST_REMOVE(b, link);
	free(b->up.buf);
	free(b->down.buf);
	free(b);
}

/* Write what @f holds to @to: 0, or -errno (the bridge is broken). */
static int flow_write(struct flow *f, int to, bool *moved)
{
	ssize_t n = send(to, f->buf + f->off, f->len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	*moved = n > 0;
	f->off += (size_t)n;
	f->len -= (size_t)n;
	if (!f->len) {
		free(f->buf);
		f->buf = NULL;
		f->off = 0;
	}
	return 0;
}

/* Move what can be moved from @from to @to without blocking (bounded:
 * the other bridges get their turn).  0 or -errno (the bridge is broken). */
static int flow_run(struct flow *f, int from, int to)
{
	static uint8_t scratch[BRIDGE_BUF];

	for (int i = 0; i < 8; i++) {
		bool moved = false;
		ssize_t n, w;
		int e;

		if (f->len && (e = flow_write(f, to, &moved)) < 0)
			return e;
		if (!f->len && !f->eof) {
			n = recv(from, scratch, sizeof(scratch), MSG_DONTWAIT);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
			if (n == 0)
				f->eof = true;
			if (n > 0) {
				w = send(to, scratch, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
				if (w < 0 && errno != EAGAIN && errno != EINTR)
					return -errno;
				if (w < 0)
					w = 0;
				if (w < n) { /* keep the rest: the writer is full */
					if (!(f->buf = malloc((size_t)(n - w))))
						return -ENOMEM;
					memcpy(f->buf, scratch + w, (size_t)(n - w));
					f->len = (size_t)(n - w);
				}
			}
			moved |= n >= 0;
		}
		if (f->eof && !f->len && !f->shut) {
			shutdown(to, SHUT_WR);
			f->shut = true;
		}
		if (!moved)
			break;
	}
	return 0;
}

/* Watch @s for reading while @in holds nothing, for writing while @out
 * holds bytes.  A side that hung up and has nothing to do is taken out of epoll
 * (which reports a hang-up whatever it is asked for) until it has. */
static int side_watch(struct side *s, const struct flow *in,
		      const struct flow *out, ev_cb cb)
{
	uint32_t m = 0;

	if (!in->eof && !in->len)
		m |= EPOLLIN;
	if (out->len)
		m |= EPOLLOUT;
	if (!m && s->hup) {
		if (!s->parked)
			ev_del(&s->ev);
		s->parked = true;
		return 0;
	}
	if (s->parked) {
		s->parked = false;
		return ev_add(&s->ev, s->fd, m, cb);
	}
	return ev_mod(&s->ev, m);
}

static void bridge_g_cb(struct ev *ev, uint32_t events);
static void bridge_h_cb(struct ev *ev, uint32_t events);

/* @woke (the side whose event this is, or NULL) reported @events. */
static void bridge_run(struct bridge *b, struct side *woke, uint32_t events)
{
	int e = 0, so = 0;
	socklen_t sl = sizeof(so);

	if (woke && (events & (EPOLLHUP | EPOLLERR)))
		woke->hup = true;
	if (woke && (events & EPOLLERR) &&
	    getsockopt(woke->fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so)
		e = -so;
	if (!e)
		e = flow_run(&b->up, b->g.fd, b->h.fd);
	if (!e)
		e = flow_run(&b->down, b->h.fd, b->g.fd);
	if (e) {
		debug("stream guest %s: connection broken: %s", b->ep->name,
		      strerror(-e));
		bridge_free(b, true);
		return;
	}
	if (b->up.shut && b->down.shut) {
		bridge_free(b, false);
		return;
	}
	if (side_watch(&b->g, &b->up, &b->down, bridge_g_cb) < 0 ||
	    side_watch(&b->h, &b->down, &b->up, bridge_h_cb) < 0)
		bridge_free(b, true);
}

static void bridge_g_cb(struct ev *ev, uint32_t events)
{
	struct bridge *b = container_of(ev, struct bridge, g.ev);

	bridge_run(b, &b->g, events);
}

static void bridge_h_cb(struct ev *ev, uint32_t events)
{
	struct bridge *b = container_of(ev, struct bridge, h.ev);

	bridge_run(b, &b->h, events);
}

/* The guest's stream @gfd is now the connection on @fd (both taken). */
static void bridge_new(struct sep *ep, int gfd, int fd)
{
	struct bridge *b = calloc(1, sizeof(*b));

	if (!b || net_set_nonblock(fd) < 0) {
		free(b);
		net_close_reset(gfd);
		net_close_reset(fd);
		return;
	}
	b->ep = ep;
	nodelay(fd);
	b->g.fd = gfd;
	b->h.fd = fd;
	b->g.ev.fd = b->h.ev.fd = -1;
	b->g.parked = b->h.parked = true; /* side_watch() adds them */
	ep->used++;
	LIST_INSERT_HEAD(&bridges, b, link);
	/* data may already wait on either side */
	bridge_run(b, NULL, 0);
}

/* ---- stream listeners and their tokens ---- */

static void slisten_read(struct slisten *sl);

static void stoken_free(struct stoken *t, bool close_fd)
{
	struct slisten *sl = t->sl;

	timer_cancel(&t->t);
	if (close_fd)
		close(t->fd);
	LIST_REMOVE(t, link);
	free(t);
	/* room for one more: take the next connection off the seqpacket */
	if (sl && sl->npending-- == SL_PENDING_MAX)
		slisten_read(sl);
}

static void stoken_expire(struct timer *tm)
{
	struct stoken *t = container_of(tm, struct stoken, t);

	debug("stream guest %s: accepted connection never claimed, closed",
	      t->sl ? t->sl->ep->name : "?");
	stoken_free(t, true);
}

static void slisten_free(struct slisten *sl)
{
	struct stoken *t, *n;
	int g = sl->g.fd, s = sl->s.fd;

	/* unclaimed connections go with their listener */
	for (t = LIST_FIRST(&stokens); t; t = n) {
		n = LIST_NEXT(t, link);
		if (t->sl == sl) {
			t->sl = NULL;
			stoken_free(t, true);
		}
	}
	ev_del(&sl->g);
	ev_del(&sl->s);
	close(g);
	close(s); /* listen.c sees the hang-up and stops listening */
	sl->ep->used--;
	LIST_REMOVE(sl, link);
	free(sl);
}

static bool token_used(uint32_t tok)
{
	struct stoken *t;

	LIST_FOREACH(t, &stokens, link)
		if (t->token == tok)
			return true;
	return false;
}

/* A token nobody can guess from the outside: a claim is also bound to the
 * endpoint, but another guest of the same endpoint is not the listener. */
static uint32_t token_new(void)
{
	uint32_t tok = 0;

	while (!tok || token_used(tok))
		if (getrandom(&tok, sizeof(tok), 0) != sizeof(tok))
			tok = (uint32_t)now_ms() * 2654435761u ^ (uint32_t)rand();
	return tok;
}

static void slisten_flush(struct slisten *sl)
{
	ssize_t n;

	if (!sl->olen)
		return;
	n = send(sl->g.fd, sl->out, sl->olen, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		slisten_free(sl);
		return;
	}
	if (n > 0) {
		memmove(sl->out, sl->out + n, sl->olen - (size_t)n);
		sl->olen -= (size_t)n;
	}
	ev_mod(&sl->g, EPOLLIN | (sl->olen ? EPOLLOUT : 0));
}

/* One ACCEPT message off the seqpacket: 1 taken, 0 nothing there, or
 * -errno (the listener is gone). */
static int slisten_take(struct slisten *sl)
{
	uint8_t p[GP_REPLY_LEN];
	struct gp_reply rep, note = { .op = GP_ACCEPT, .flags = GP_F_STREAM };
	struct stoken *t;
	int fd = -1;
	ssize_t n = net_recv_fd(sl->s.fd, p, sizeof(p), &fd);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0 && fd < 0)
		return -EPIPE;
	/* listen.c wrote it: anything else is our own bug, not the guest's */
	if (n != GP_REPLY_LEN || gp_reply_decode(p, &rep) < 0 ||
	    rep.op != GP_ACCEPT || rep.status || fd < 0 ||
	    !(t = calloc(1, sizeof(*t)))) {
		if (fd >= 0)
			close(fd);
		return 1;
	}
	t->token = token_new();
	t->fd = fd;
	t->local = rep.local;
	t->peer = rep.peer;
	t->sl = sl;
	timer_init(&t->t, stoken_expire);
	timer_set(&t->t, guest_req_timeout_ms);
	LIST_INSERT_HEAD(&stokens, t, link);
	sl->npending++;
	note.local = rep.local;
	note.peer = rep.peer;
	note.token = t->token;
	gp_reply_encode(sl->out + sl->olen, &note);
	sl->olen += GP_REPLY_LEN;
	return 1;
}

/* Take ACCEPT messages while there is room for their tokens and notices;
 * with none, the seqpacket is not watched (listen.c then holds the next
 * connection: that is the listener's backlog). */
static void slisten_read(struct slisten *sl)
{
	int r = 1;

	while (r > 0 && sl->npending < SL_PENDING_MAX &&
	       sl->olen + GP_REPLY_LEN <= sizeof(sl->out))
		r = slisten_take(sl);
	if (r < 0) {
		debug("stream guest %s: listener dropped by sockoutd",
		      sl->ep->name);
		slisten_free(sl);
		return;
	}
	ev_mod(&sl->s, sl->npending < SL_PENDING_MAX ? EPOLLIN : 0);
	slisten_flush(sl);
}

static void slisten_s_cb(struct ev *ev, uint32_t events)
{
	struct slisten *sl = container_of(ev, struct slisten, s);

	/* A hang-up is reported whatever we watch: with no room to read
	 * the rest, it would wake us until the tokens expire.  The listener
	 * is gone; its unclaimed connections go with it. */
	if ((events & (EPOLLHUP | EPOLLERR)) && sl->npending >= SL_PENDING_MAX) {
		slisten_free(sl);
		return;
	}
	slisten_read(sl);
}

/* The guest's listen stream: it only receives; EOF (or anything it
 * sends) means the guest closed its listener. */
static void slisten_g_cb(struct ev *ev, uint32_t events)
{
	struct slisten *sl = container_of(ev, struct slisten, g);
	char c;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(ev->fd, &c, 1, MSG_DONTWAIT);

		if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
			if (n > 0)
				debug("stream guest %s: data on a listen stream, closed",
				      sl->ep->name);
			slisten_free(sl);
			return;
		}
	}
	slisten_flush(sl);
}

static void slisten_new(struct sep *ep, int gfd, int sfd)
{
	struct slisten *sl = calloc(1, sizeof(*sl));

	if (!sl || net_set_nonblock(sfd) < 0) {
		free(sl);
		close(gfd);
		close(sfd);
		return;
	}
	sl->ep = ep;
	if (ev_add(&sl->g, gfd, EPOLLIN, slisten_g_cb) < 0) {
		close(gfd);
		close(sfd);
		free(sl);
		return;
	}
	if (ev_add(&sl->s, sfd, EPOLLIN, slisten_s_cb) < 0) {
		ev_del(&sl->g);
		close(gfd);
		close(sfd);
		free(sl);
		return;
	}
	ep->used++;
	LIST_INSERT_HEAD(&slistens, sl, link);
}

/* ---- what guest.c calls ---- */

void stream_reply(struct sep *ep, int gfd, const uint8_t *p, size_t len,
		  uint8_t op, int status, int fd)
{
	ssize_t n = send(gfd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	/* the guest waits for exactly this and the stream is empty: a
	 * short send means it is gone */
	if (n < 0 || (size_t)n != len || status || fd < 0) {
		close(gfd);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (op == GP_LISTEN)
		slisten_new(ep, gfd, fd);
	else
		bridge_new(ep, gfd, fd);
}

int stream_claim(const struct sep *ep, uint32_t token, int *fd,
		 struct so_addr *local, struct so_addr *peer)
{
	struct stoken *t;

	LIST_FOREACH(t, &stokens, link) {
		if (t->token != token || !t->sl || t->sl->ep != ep)
			continue;
		*fd = t->fd;
		*local = t->local;
		*peer = t->peer;
		stoken_free(t, false);
		return 0;
	}
	return -ENOENT;
}

/* ---- endpoints ---- */

static void sep_resume(struct timer *t)
{
	ev_mod(&container_of(t, struct sep, pause)->lev, EPOLLIN);
}

static void sep_accept_cb(struct ev *ev, uint32_t events)
{
	struct sep *ep = container_of(ev, struct sep, lev);
	static uint64_t last, last_full;

	(void)events;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			accept_pause(ev, &ep->pause, &last, ep->where);
			return;
		}
		if (ep->used >= ep->max) {
			ep->refused++;
			if (ratelimit(&last_full))
				warn("stream guest %s: %u streams held (connections): refusing",
				     ep->name, ep->used);
			up_hooks->refuse(fd, EAGAIN);
			continue;
		}
		if (!ep->is_unix)
			nodelay(fd);
		up_hooks->adopt(fd, &ep->who, ep);
	}
}

static int tcp_listen(const char *where)
{
	char host[64];
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, e;

	if (net_split_hostport(where + 4, host, sizeof(host), &port, 0) < 0 ||
	    net_parse_ip(host, port, &ss, &sl) < 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int sep_open(const struct stream_conf *c)
{
	struct sep *ep = calloc(1, sizeof(*ep));
	int fd, e;

	if (!ep || !(ep->where = strdup(c->where)) ||
	    !(ep->name = strdup(c->name))) {
		e = -ENOMEM;
		goto fail;
	}
	ep->is_unix = c->where[0] == '/';
	fd = ep->is_unix ? net_unix_listen(c->where, c->mode) : tcp_listen(c->where);
	if (fd < 0) {
		e = fd;
		goto fail;
	}
	ep->gid = c->gid;
	ep->who = (struct peer_id){ .uid = c->uid, .gid = c->gid,
				    .groups = &ep->gid, .ngroups = 1 };
	ep->max = c->connections;
	timer_init(&ep->pause, sep_resume);
	if ((e = ev_add(&ep->lev, fd, EPOLLIN, sep_accept_cb)) < 0) {
		close(fd);
		goto fail;
	}
	LIST_INSERT_HEAD(&seps, ep, link);
	info("stream guest %s (uid %u) on %s", ep->name, (unsigned)c->uid,
	     ep->where);
	return 0;
fail:
	if (ep) {
		free(ep->where);
		free(ep->name);
		free(ep);
	}
	return e;
}

int stream_init(const struct dconf *c, const struct stream_hooks *h)
{
	up_hooks = h;
	for (size_t i = 0; i < c->nstreams; i++) {
		int e = sep_open(&c->streams[i]);

		if (e < 0) {
			err("guest-stream %s: %s", c->streams[i].where, strerror(-e));
			return e;
		}
	}
	return 0;
}

void stream_reload_check(const struct dconf *n)
{
	struct sep *ep;
	size_t count = 0;
	bool same = true;

	LIST_FOREACH(ep, &seps, link) {
		const struct stream_conf *c = NULL;

		count++;
		for (size_t i = 0; i < n->nstreams && !c; i++)
			if (strcmp(n->streams[i].where, ep->where) == 0)
				c = &n->streams[i];
		if (!c || strcmp(c->name, ep->name) != 0 ||
		    c->uid != (uint32_t)ep->who.uid || c->gid != ep->gid ||
		    c->connections != ep->max)
			same = false;
	}
	if (!same || count != n->nstreams)
		warn("reload: guest-stream endpoints change only on restart (the running ones are kept as they are)");
}

void stream_shutdown(void)
{
	while (!LIST_EMPTY(&bridges))
		bridge_free(LIST_FIRST(&bridges), true);
	while (!LIST_EMPTY(&slistens))
		slisten_free(LIST_FIRST(&slistens));
	while (!LIST_EMPTY(&seps)) {
		struct sep *ep = LIST_FIRST(&seps);
		int fd = ep->lev.fd;

		ev_del(&ep->lev);
		close(fd);
		if (ep->is_unix)
			unlink(ep->where);
		timer_cancel(&ep->pause);
		LIST_REMOVE(ep, link);
		free(ep->where);
		free(ep->name);
		free(ep);
	}
}
