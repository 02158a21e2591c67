// SPDX-License-Identifier: MIT
/*
 * channel-open.c - how sockout-ssh's channels begin:
 *
 *   ours     a guest connect becomes a queued channel; the opener stepper
 *            opens queued channels one at a time (a "direct-tcpip" open
 *            uses session-wide libssh2 state, so it is the session's one
 *            control operation in flight), then the channel carries the
 *            connection, or starts the peer hello first;
 *   theirs   a "forwarded-tcpip" channel the server opened to one of our
 *            forwards (forward.c hands it over): an ACCEPTED for the guest
 *            listener, or the start of a peer's hello on the rendezvous.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/net.h"
#include "channel.h"

/* ---- ours: direct-tcpip ---- */

static int open_errno(struct ssh_sess *s)
{
	const char *m = ssh_errmsg(s);

	if (strstr(m, "administratively prohibited"))
		return EACCES;
	if (strstr(m, "resource shortage"))
		return EAGAIN;
	return ECONNREFUSED; /* "connect failed" and the rest */
}

/* The control operation: open @obj's channel. */
static int ctl_open(struct ssh_sess *s, void *obj)
{
	struct ssh_chan *ch = obj;

	ch->ch = libssh2_channel_open_ex(s->ls, "direct-tcpip",
					 sizeof("direct-tcpip") - 1,
					 ssh_cfg->window, 32768,
					 (const char *)ch->open_msg,
					 (unsigned)ch->open_len);
	if (!ch->ch) {
		int rc = libssh2_session_last_errno(s->ls);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return ssh_op_blocked(s, ctl_open, ch);
		if (rc == LIBSSH2_ERROR_BAD_USE)
			return 0;
		ssh_ctl_done(s);
		if (ssh_fatal_rc(rc))
			return rc;
		debug("channel to %s:%u refused: %s", ch->host, ch->port,
		      ssh_errmsg(s));
		ssh_chan_fail_conn(ch, open_errno(s));
		ssh_chan_free(ch);
		return 1;
	}
	ssh_ctl_done(s);
	timer_cancel(&ch->t);
	if (!ch->c) { /* given up on while opening */
		ch->st = CS_FREEING;
		return 1;
	}
	if (ch->kind == CK_PEER_OUT) {
		ssh_hello_start_out(ch);
		return 1;
	}
	ch->st = CS_OPEN;
	ch->connected = true;
	struct so_addrpair a = { .peer = ch->c->req.dst };
	sh_connected(ch->c, &a);
	return 1;
}

/* The oldest queued channel is the next open. */
static bool pick_open(struct ssh_sess *s, struct ssh_op *op)
{
	struct ssh_chan *ch;

	TAILQ_FOREACH(ch, &s->chans, link) {
		if (ch->st == CS_QUEUED) {
			op->fn = ctl_open;
			op->obj = ch;
			return true;
		}
	}
	return false;
}

const struct ssh_stepper ssh_open_stepper = {
	.pick_ctl = pick_open,
};

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

/* Where the channel goes: the rule's TARGET, else the name the guest
 * connected to (SO_CAP_NAME: the gateway resolves it; direct-tcpip takes
 * a host name), else the guest's own destination.  Returns 0 or -EINVAL. */
static int aim(struct ssh_chan *ch, const struct ssh_target *t,
	       const struct sh_conn *c)
{
	switch (t->kind) {
	case TGT_DEFAULT: {
		if (c->req.name[0]) {
			snprintf(ch->host, sizeof(ch->host), "%s", c->req.name);
			ch->port = c->req.dst.port;
			ch->kind = CK_FWD;
			break;
		}
		struct sockaddr_storage ss;
		socklen_t l;
		if (so_addr_to_sa(&c->req.dst, &ss, &l) < 0)
			return -EINVAL;
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
		snprintf(ch->host, sizeof(ch->host), "%s", t->host);
		ch->port = t->port ? t->port : c->req.dst.port;
		ch->kind = CK_FWD;
		break;
	default:
		snprintf(ch->host, sizeof(ch->host), "%s", t->host);
		ch->port = t->port;
		ch->peer_port = t->peer_port ? t->peer_port : c->req.dst.port;
		ch->kind = CK_PEER_OUT;
		break;
	}
	if (!ch->port || (ch->kind == CK_PEER_OUT && !ch->peer_port))
		return -EINVAL;
	return 0;
}

/* sh_ops.connect: queue a channel for @c on the least busy session. */
int ssh_chan_connect(struct sh_conn *c)
{
	struct ssh_target t;
	struct ssh_sess *s;
	struct ssh_chan *ch;

	if (ssh_target_parse(c->req.target, &t) < 0 ||
	    t.kind == TGT_PEER_ONLY) {
		warn("connect: bad target `%s'", c->req.target);
		return -EINVAL;
	}
	/* A peer is reached only with the key (or an explicit `none'):
	 * without one we could not prove who we are, nor check who
	 * answers. */
	if (t.kind == TGT_PEER && !ssh_cfg->rdv_key_set) {
		warn("connect: target `%s' is a peer, but this helper has no "
		     "rendezvous-key; refusing",
		     c->req.target);
		return -EACCES;
	}
	s = ssh_pick_session();
	if (!s)
		return -ENETUNREACH; /* every session is down: fail fast */
	ch = ssh_chan_new();
	if (!ch)
		return -ENOMEM;
	ch->st = CS_QUEUED;
	if (aim(ch, &t, c) < 0 || build_open_msg(ch) < 0) {
		ssh_chan_free(ch);
		return -EINVAL;
	}
	ch->c = c;
	c->priv = ch;
	ssh_chan_link(s, ch);
	timer_set(&ch->t, ssh_cfg->connect_timeout_ms);
	ssh_kick(s);
	return 0;
}

/* ---- theirs: forwarded-tcpip ---- */

int ssh_chan_incoming(struct ssh_sess *s, LIBSSH2_CHANNEL *lc,
		      const char *host, uint16_t port, struct sh_listener *l,
		      bool peer)
{
	struct ssh_chan *ch = ssh_chan_new();

	if (!ch)
		return -ENOMEM;
	ch->ch = lc;
	snprintf(ch->host, sizeof(ch->host), "%s", host);
	ch->port = port;
	ssh_chan_link(s, ch);
	if (peer) {
		ssh_hello_start_in(ch);
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
	ch->c = sh_accepted(l, &a);
	if (!ch->c) {
		ch->st = CS_FREEING;
		return 0;
	}
	ch->c->priv = ch;
	ch->connected = true;
	ch->st = CS_OPEN;
	return 0;
}
