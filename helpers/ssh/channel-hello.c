// SPDX-License-Identifier: MIT
/*
 * channel-hello.c - the peer hello: how two sockout-ssh helpers agree on a
 * guest-to-guest connection over a channel through the rendezvous forward
 * (docs/ssh.md, "Guest to guest across NAT"; codec in rdv.c).
 *
 *   out (A, CK_PEER_OUT)  after the channel opens, send the connect request
 *                         for the peer's guest port, read the reply: OK is
 *                         CONNECTED, an errno fails the guest's connect;
 *   in  (B, CK_PEER_IN)   read the request, look the port up among the
 *                         guest listeners peers may reach, answer; OK is
 *                         ACCEPTED.
 *
 * The header bytes go out first through the data path (ch->hdr_out) and
 * come in through it (ssh_hello_want/got), so every libssh2 call stays in
 * channel-data.c.  Nothing past the header is read before it is complete,
 * so no guest byte is ever taken for header.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "channel.h"

uint64_t ssh_peer_in, ssh_peer_refused;

void ssh_hello_start_out(struct ssh_chan *ch)
{
	rdv_req_encode(ch->hdr_out, ch->peer_port);
	ch->hdr_out_len = RDV_LEN;
	ch->st = CS_HELLO;
	timer_set(&ch->t, ssh_cfg->peer_timeout_ms);
}

void ssh_hello_start_in(struct ssh_chan *ch)
{
	ch->kind = CK_PEER_IN;
	ch->st = CS_HELLO;
	timer_set(&ch->t, ssh_cfg->peer_timeout_ms);
}

size_t ssh_hello_want(struct ssh_chan *ch, uint8_t **dst)
{
	*dst = ch->hdr_in + ch->hdr_in_len;
	return RDV_LEN - ch->hdr_in_len;
}

/* A: the peer's reply is complete. */
static int reply_done(struct ssh_chan *ch)
{
	int e = 0;

	if (rdv_rep_decode(ch->hdr_in, ch->hdr_in_len, &e) < 0) {
		warn("rendezvous %s:%u does not answer like a "
		     "sockout-ssh peer",
		     ch->host, ch->port);
		e = ECONNREFUSED;
	}
	timer_cancel(&ch->t);
	if (e) {
		debug("peer refused port %u: %s", ch->peer_port, strerror(e));
		ssh_chan_fail_conn(ch, e);
		ch->st = CS_FREEING;
		return 1;
	}
	ch->st = CS_OPEN;
	ch->connected = true;
	if (ch->c) {
		struct so_addrpair a = { .peer = ch->c->req.dst };
		sh_connected(ch->c, &a);
	}
	return 1;
}

/* B: answer with @err and close once it is sent. */
static int refuse(struct ssh_chan *ch, int err)
{
	rdv_rep_encode(ch->hdr_out, err);
	ch->hdr_out_len = RDV_LEN;
	ch->st = CS_CLOSING;
	return 1;
}

/* B: another helper's request is complete: it wants one of our guests. */
static int request_done(struct ssh_chan *ch)
{
	uint16_t port = 0;
	int r;

	timer_cancel(&ch->t);
	r = rdv_req_decode(ch->hdr_in, ch->hdr_in_len, &port);
	if (r < 0) {
		warn("rendezvous: a connection that is not a sockout peer "
		     "(%s); closing it",
		     strerror(-r));
		if (r == -EPROTONOSUPPORT)
			return refuse(ch, EPROTONOSUPPORT);
		ch->st = CS_FREEING;
		return 1;
	}
	ssh_peer_in++;
	struct sh_listener *l = ssh_fwd_find_listener(port);
	struct sh_conn *c = NULL;
	if (l) {
		struct so_addrpair a = { .local = l->req.dst };
		c = sh_accepted(l, &a);
	}
	if (!c) {
		/* The paper's error: no guest accepts on that port. */
		ssh_peer_refused++;
		debug("peer asked for port %u: nobody accepts there", port);
		return refuse(ch, l ? ENOMEM : ECONNREFUSED);
	}
	rdv_rep_encode(ch->hdr_out, 0);
	ch->hdr_out_len = RDV_LEN;
	ch->c = c;
	c->priv = ch;
	ch->connected = true;
	ch->st = CS_OPEN;
	return 1;
}

int ssh_hello_got(struct ssh_chan *ch, size_t n)
{
	if (n == 0) { /* closed before answering */
		ssh_chan_fail_conn(ch, ECONNREFUSED);
		ch->st = CS_FREEING;
		return 1;
	}
	ch->hdr_in_len += n;
	if (ch->hdr_in_len < RDV_LEN)
		return 1;
	return ch->kind == CK_PEER_OUT ? reply_done(ch) : request_done(ch);
}
