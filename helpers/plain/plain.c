// SPDX-License-Identifier: MIT
/*
 * sockout-plain - the reference helper: carries each guest connection over a
 * plain host TCP connection, with nothing but the protocol runtime
 * (protocol/helper-runtime.h).  It is the example a new helper's author copies, and
 * the baseline for the protocol path in the benchmarks.
 *
 * Config (-c FILE):
 *   data-socket     PATH      (required)
 *   event-socket    PATH      (required)
 *   listen-address  ADDR      where accept requests listen (default 0.0.0.0)
 *   queue-budget    MIB       what all connections may hold queued
 *                             together before their windows shrink (32)
 *   handoff         yes|no    offer the dispatcher to hand over the guest
 *                             end (HANDOFF; default yes); no keeps every
 *                             byte on the READ/WRITE requests
 *   splice-pipes    N         pipes a handed connection's bytes may be
 *                             spliced through, at most N open at once
 *                             (256); 0 copies them instead
 *   handback        yes|no    give sockoutd the connected TCP socket
 *                             itself as the guest's connection (default
 *                             yes: the guest then talks to the server at
 *                             host speed, no byte goes through us); no
 *                             keeps the connection here (handoff, splice)
 *
 * Connect requests go to the rule's TARGET ("host:port", numeric) if there
 * is one, else to the address the guest asked for.  Accept requests listen
 * on the guest's port, or on the port (or host:port) in TARGET.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/net.h"
#include "protocol/helper-runtime.h"

struct plain_conf {
	char *data_socket, *event_socket;
	char listen_address[NET_ADDRSTRLEN];
	unsigned long queue_budget_mib;
	unsigned long splice_pipes;
	bool no_handoff;
	bool no_handback;
};

struct pconn {
	struct ev ev; /* registered only while there is something to wait for */
	int fd;
	struct sh_conn *c;
	bool connecting;
	bool shut_sent;
	bool spliced; /* the runtime moves the bytes: watch nothing */
};

struct plistener {
	struct ev ev;
	struct timer pause; /* out of descriptors: accept again later */
	bool pause_logged;
	struct sh_listener *l;
};

static struct plain_conf conf;
/* One read buffer for all connections: data is copied into the runtime's
 * queue at once, so it never needs to outlive a callback. */
static uint8_t rbuf[SO_MAX_DATA];

static void conf_line(void *ctx, const struct conf_line *l,
		      struct conf_errors *e)
{
	struct plain_conf *c = ctx;
	char **dst = NULL;

	if (l->argc != 2) {
		conf_error(e, l->file, l->line, "%s takes one argument",
			   l->argv[0]);
		return;
	}
	if (strcmp(l->argv[0], "data-socket") == 0)
		dst = &c->data_socket;
	else if (strcmp(l->argv[0], "event-socket") == 0)
		dst = &c->event_socket;
	else if (strcmp(l->argv[0], "listen-address") == 0) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (net_parse_ip(l->argv[1], 0, &ss, &sl) < 0)
			conf_error(e, l->file, l->line,
				   "listen-address: not an IP address: `%s'",
				   l->argv[1]);
		else
			snprintf(c->listen_address,
				 sizeof(c->listen_address), "%s", l->argv[1]);
		return;
	} else if (strcmp(l->argv[0], "handoff") == 0) {
		if (strcmp(l->argv[1], "yes") && strcmp(l->argv[1], "no"))
			conf_error(e, l->file, l->line,
				   "handoff: yes or no: `%s'", l->argv[1]);
		c->no_handoff = strcmp(l->argv[1], "no") == 0;
		return;
	} else if (strcmp(l->argv[0], "handback") == 0) {
		if (strcmp(l->argv[1], "yes") && strcmp(l->argv[1], "no"))
			conf_error(e, l->file, l->line,
				   "handback: yes or no: `%s'", l->argv[1]);
		c->no_handback = strcmp(l->argv[1], "no") == 0;
		return;
	} else if (strcmp(l->argv[0], "splice-pipes") == 0) {
		if (conf_uint(l->argv[1], 0, 65536, &c->splice_pipes) < 0)
			conf_error(e, l->file, l->line,
				   "splice-pipes: from 0 to 65536: `%s'",
				   l->argv[1]);
		return;
	} else if (strcmp(l->argv[0], "queue-budget") == 0) {
		if (conf_uint(l->argv[1], SH_QUEUE_MAX >> 20, 1u << 20,
			      &c->queue_budget_mib) < 0)
			conf_error(e, l->file, l->line,
				   "queue-budget: MiB from %u to %u: `%s'",
				   SH_QUEUE_MAX >> 20, 1u << 20, l->argv[1]);
		return;
	} else {
		conf_error(e, l->file, l->line, "unknown keyword: `%s'",
			   l->argv[0]);
		return;
	}
	free(*dst);
	*dst = strdup(l->argv[1]);
}

/* ---- data path ---- */

static void pconn_cb(struct ev *ev, uint32_t events);

/*
 * Watch the socket for @e, or not at all when e is 0.  A socket stays in
 * epoll only while we wait for something: epoll reports EPOLLHUP and
 * EPOLLERR whatever the mask, and a socket shut both ways (the peer's EOF
 * read, our FIN sent), or reset, reports EPOLLHUP for ever, so a zero mask
 * would be a busy loop until the dispatcher's CLOSE.
 */
static void pconn_watch(struct pconn *p, uint32_t e)
{
	if (!e)
		ev_del(&p->ev);
	else if (p->ev.fd < 0) {
		if (ev_add(&p->ev, p->fd, e, pconn_cb) < 0)
			sh_reset(p->c, ENOMEM);
	} else
		ev_mod(&p->ev, e);
}

static void pconn_update(struct pconn *p)
{
	uint32_t e = 0;

	if (p->connecting)
		e = EPOLLOUT;
	else {
		if (sh_input_room(p->c) && !p->c->overlay_eof)
			e |= EPOLLIN;
		if (buf_len(&p->c->to_overlay))
			e |= EPOLLOUT;
	}
	pconn_watch(p, e);
}

static void pconn_fail(struct pconn *p, int err)
{
	sh_reset(p->c, err);
	pconn_watch(p, 0);
}

/* Send what the guest wrote; half-close once it is all out. */
static void pconn_flush(struct pconn *p)
{
	struct sh_conn *c = p->c;

	while (buf_len(&c->to_overlay)) {
		ssize_t n = buf_write_fd(&c->to_overlay, p->fd);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			pconn_fail(p, errno);
			return;
		}
	}
	sh_output_taken(c);
	if (c->guest_shut && !buf_len(&c->to_overlay) && !p->shut_sent) {
		shutdown(p->fd, SHUT_WR);
		p->shut_sent = true;
	}
	pconn_update(p);
}

static void pconn_read(struct pconn *p)
{
	struct sh_conn *c = p->c;

	for (int i = 0; i < 4; i++) {
		size_t room = sh_input_room(c);
		if (!room)
			break;
		ssize_t n = read(p->fd, rbuf,
				 room < sizeof(rbuf) ? room : sizeof(rbuf));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				pconn_fail(p, errno);
			break;
		}
		if (n == 0) {
			sh_eof(c);
			break;
		}
		sh_deliver(c, rbuf, (size_t)n);
		if ((size_t)n < sizeof(rbuf))
			break;
	}
}

static void pconn_cb(struct ev *ev, uint32_t events)
{
	struct pconn *p = container_of(ev, struct pconn, ev);
	int err = 0;
	socklen_t len = sizeof(err);

	if (p->c->dead || p->spliced)
		return;
	if (p->connecting) {
		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			p->connecting = false;
			sh_connect_failed(p->c, err);
			pconn_watch(p, 0);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		struct sockaddr_storage l, r;
		socklen_t ll = sizeof(l), rl = sizeof(r);
		struct so_addrpair a;
		p->connecting = false;
		getsockname(p->fd, (struct sockaddr *)&l, &ll);
		getpeername(p->fd, (struct sockaddr *)&r, &rl);
		so_addr_from_sa(&a.local, (struct sockaddr *)&l);
		so_addr_from_sa(&a.peer, (struct sockaddr *)&r);
		if (sh_connected(p->c, &a))
			return; /* handed back: p is gone with it */
		pconn_flush(p);
		return;
	}
	if (events & EPOLLIN)
		pconn_read(p);
	if (!p->c->dead && (events & EPOLLOUT))
		pconn_flush(p);
	else if (!p->c->dead && (events & EPOLLERR)) {
		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		pconn_fail(p, err ? err : ECONNRESET);
	}
	if (!p->c->dead)
		pconn_update(p);
}

/* A connection's state; watched for the connect's end when @connecting,
 * else not yet (pconn_update() starts watching what there is to wait for;
 * a connection handed back at once never costs an epoll call). */
static struct pconn *pconn_new(struct sh_conn *c, int fd, bool connecting)
{
	struct pconn *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->c = c;
	p->fd = fd;
	p->ev.fd = -1;
	p->connecting = connecting;
	c->priv = p;
	if (connecting && ev_add(&p->ev, fd, EPOLLOUT, pconn_cb) < 0) {
		c->priv = NULL;
		free(p);
		return NULL;
	}
	return p;
}

/* ---- sh_ops ---- */

static int resolve(const char *target, const struct so_addr *dflt,
		   uint16_t dport, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[NET_ADDRSTRLEN];
	uint16_t port;

	if (!target[0])
		return so_addr_to_sa(dflt, ss, sl) < 0 ? -EINVAL : 0;
	/* A bare port number rewrites the port only. */
	unsigned long p;
	if (conf_uint(target, 1, 65535, &p) == 0) {
		if (so_addr_to_sa(dflt, ss, sl) < 0)
			return -EINVAL;
		/* sin_port and sin6_port share their offset. */
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
		return 0;
	}
	if (net_split_hostport(target, host, sizeof(host), &port, dport) < 0 ||
	    net_parse_ip(host, port, ss, sl) < 0)
		return -EINVAL;
	return 0;
}

static int plain_connect(struct sh_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, r;

	if ((r = resolve(c->req.target, &c->req.dst, c->req.dst.port, &ss,
			 &sl)) < 0) {
		warn("connection %u: bad target `%s'", c->id, c->req.target);
		return -EHOSTUNREACH;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	/* To a host-local address the handshake ran inside connect():
	 * POLLOUT alone says established, and CONNECTED goes out now
	 * instead of after a loop pass (the peer is where we connected). */
	struct pollfd pf = { .fd = fd, .events = POLLOUT };
	bool now = poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT;
	struct pconn *p = pconn_new(c, fd, !now);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	if (now) {
		struct sockaddr_storage l;
		socklen_t ll = sizeof(l);
		struct so_addrpair a;
		getsockname(fd, (struct sockaddr *)&l, &ll);
		so_addr_from_sa(&a.local, (struct sockaddr *)&l);
		so_addr_from_sa(&a.peer, (struct sockaddr *)&ss);
		if (!sh_connected(c, &a))
			pconn_update(p); /* kept: watch it */
	}
	return 0;
}

static void plistener_resume(struct timer *t)
{
	struct plistener *pl = container_of(t, struct plistener, pause);

	ev_mod(&pl->ev, EPOLLIN);
}

static void plistener_cb(struct ev *ev, uint32_t events)
{
	struct plistener *pl = container_of(ev, struct plistener, ev);
	struct sockaddr_storage r, l;
	socklen_t rl, ll;
	struct so_addrpair a;
	(void)events;

	for (int i = 0; i < 64; i++) {
		rl = sizeof(r);
		ll = sizeof(l);
		int fd = accept4(ev->fd, (struct sockaddr *)&r, &rl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* The connection stays pending and the socket
				 * readable: stop watching it for a while
				 * instead of spinning. */
				if (!pl->pause_logged)
					warn("accept on guest port %u: %s: pausing accepts",
					     pl->l->req.dst.port, strerror(errno));
				pl->pause_logged = true;
				ev_mod(ev, 0);
				timer_set(&pl->pause, SH_ACCEPT_PAUSE_MS);
			}
			return;
		}
		pl->pause_logged = false;
		getsockname(fd, (struct sockaddr *)&l, &ll);
		so_addr_from_sa(&a.peer, (struct sockaddr *)&r);
		/* The guest's view of the local end is its own bound port. */
		a.local = pl->l->req.dst;
		/* nothing read from it yet: the socket itself may go */
		if (sh_accepted_handback(pl->l, &a, fd)) {
			close(fd);
			continue;
		}
		struct sh_conn *c = sh_accepted(pl->l, &a);
		struct pconn *p = c ? pconn_new(c, fd, false) : NULL;
		if (!p) {
			if (c)
				sh_reset(c, ENOMEM);
			close(fd);
			continue;
		}
		pconn_update(p);
	}
}

static int plain_listen(struct sh_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct so_addr any = { .family = 4, .port = l->req.dst.port };
	char host[NET_ADDRSTRLEN];
	int fd, r, one = 1;

	if (net_parse_ip(conf.listen_address, l->req.dst.port, &ss, &sl) < 0)
		return -EINVAL;
	so_addr_from_sa(&any, (struct sockaddr *)&ss);
	if ((r = resolve(l->req.target, &any, l->req.dst.port, &ss, &sl)) < 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	struct plistener *pl = calloc(1, sizeof(*pl));
	if (!pl || ev_add(&pl->ev, fd, EPOLLIN, plistener_cb) < 0) {
		free(pl);
		close(fd);
		return -ENOMEM;
	}
	timer_init(&pl->pause, plistener_resume);
	pl->l = l;
	l->priv = pl;
	info("listening on %s for guest port %u",
	     net_fmt((struct sockaddr *)&ss, host, sizeof(host)),
	     l->req.dst.port);
	return 0;
}

static void plain_unlisten(struct sh_listener *l)
{
	struct plistener *pl = l->priv;

	if (!pl)
		return;
	int fd = pl->ev.fd;
	ev_del(&pl->ev);
	timer_cancel(&pl->pause);
	close(fd);
	free(pl);
	l->priv = NULL;
}

static void plain_output(struct sh_conn *c)
{
	struct pconn *p = c->priv;

	if (p && !p->connecting && !p->spliced && !c->dead)
		pconn_flush(p);
}

static void plain_input_room(struct sh_conn *c)
{
	struct pconn *p = c->priv;

	if (p && !p->spliced && !c->dead)
		pconn_update(p);
}

/* HANDOFF: the runtime splices between the guest's socket and ours from
 * now on, so stop watching it.  Not while the connect is still under way
 * (the runtime's handoff comes after CONNECTED, but say so here). */
static int plain_overlay_fd(struct sh_conn *c)
{
	struct pconn *p = c->priv;

	if (!p || p->connecting || c->dead)
		return -1;
	pconn_watch(p, 0);
	p->spliced = true;
	return p->fd;
}

/* Hand-back: our socket, connected, with nothing read from it or queued
 * (the runtime checks its queues), may become the guest's connection. */
static int plain_handback_fd(struct sh_conn *c)
{
	struct pconn *p = c->priv;

	if (!p || p->connecting || p->spliced || p->shut_sent || c->dead)
		return -1;
	return p->fd;
}

static void plain_close(struct sh_conn *c, int err)
{
	struct pconn *p = c->priv;

	if (!p)
		return;
	ev_del(&p->ev);
	/* Pass a reset on as a reset, not as an orderly close.  Handed
	 * back, the socket lives on in the guest: let go of it only. */
	if (c->handed_back)
		close(p->fd);
	else if (err)
		net_close_reset(p->fd);
	else
		close(p->fd);
	free(p);
	c->priv = NULL;
}

static const struct sh_ops plain_ops = {
	.name = "plain",
	.connect = plain_connect,
	.listen = plain_listen,
	.unlisten = plain_unlisten,
	.output = plain_output,
	.input_room = plain_input_room,
	.close = plain_close,
	.overlay_fd = plain_overlay_fd,
	.handback_fd = plain_handback_fd,
};

int main(int argc, char **argv)
{
	struct daemon_opts o;
	struct conf_errors e = { 0 };
	int r;

	daemon_args(argc, argv, "sockout-plain", NULL, NULL, &o);
	strcpy(conf.listen_address, "0.0.0.0");
	conf.splice_pipes = SH_PIPES_MAX;
	conf_parse_file(o.config, conf_line, &conf, &e);
	if (!conf.data_socket)
		conf_error(&e, o.config, 0, "data-socket is required");
	if (!conf.event_socket)
		conf_error(&e, o.config, 0, "event-socket is required");
	if (e.count) {
		fputs(e.text ? e.text : "configuration error\n", stderr);
		return 1;
	}
	if (o.check_only) {
		printf("configuration OK\n");
		return 0;
	}
	sh_set_handoff(!conf.no_handoff);
	sh_set_handback(!conf.no_handback);
	sh_set_pipes_max((unsigned)conf.splice_pipes);
	if (conf.queue_budget_mib)
		sh_set_queue_budget((size_t)conf.queue_budget_mib << 20);
	if ((r = loop_init()) < 0 || (r = daemon_signals(NULL)) < 0)
		die("event loop: %s", strerror(-r));
	if ((r = sh_listen(conf.data_socket, conf.event_socket, &plain_ops)) <
	    0)
		die("cannot listen on %s / %s: %s", conf.data_socket,
		    conf.event_socket, strerror(-r));
	info("ready: data %s, event %s", conf.data_socket, conf.event_socket);
	sd_notifyf("READY=1\nSTATUS=serving");
	r = loop_run();
	sd_notifyf("STOPPING=1");
	sh_shutdown();
	free(conf.data_socket);
	free(conf.event_socket);
	return r < 0 ? 1 : 0;
}
