// SPDX-License-Identifier: MIT
/*
 * channel-hello.c - the peer hello: how two sockout-ssh helpers agree on a
 * guest-to-guest connection over a channel through the rendezvous forward
 * (docs/ssh.md, "Guest to guest across NAT"; codec in rdv.c).
 *
 *   in  (B, CK_PEER_IN)   a channel arrived on our rendezvous: send a
 *                         challenge (a fresh nonce), read the request,
 *                         check its MAC (rendezvous-key) over our nonce,
 *                         look the port up among the guest listeners peers
 *                         may reach, answer with a MAC; OK is ACCEPTED.
 *                         A request that is not authentic is not answered:
 *                         the channel is closed, logged and counted, and
 *                         no guest listener ever hears of it.
 *   out (A, CK_PEER_OUT)  our channel to a peer's rendezvous is open: read
 *                         the challenge, send the request with its MAC,
 *                         read the reply and check its MAC: OK is
 *                         CONNECTED, an errno fails the guest's connect.
 *
 * The header bytes go out first through the data path (ch->hdr_out) and
 * come in through it (ssh_hello_want/got), so every libssh2 call stays in
 * channel-data.c.  Nothing past the header is read before it is complete,
 * so no guest byte is ever taken for header.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "channel.h"

uint64_t ssh_peer_in, ssh_peer_refused, ssh_peer_unauth;

static struct rdv_key key(void)
{
	struct rdv_key k = { ssh_cfg->rdv_key, ssh_cfg->rdv_key_len };
	return k;
}

static int nonce(uint8_t *n)
{
	return getrandom(n, RDV_NONCE, 0) == RDV_NONCE ? 0 : -EIO;
}

static void expect(struct ssh_chan *ch, size_t len)
{
	ch->hdr_in_len = 0;
	ch->hdr_in_want = len;
}

static void send_hdr(struct ssh_chan *ch, size_t len)
{
	ch->hdr_out_off = 0;
	ch->hdr_out_len = len;
}

void ssh_hello_start_out(struct ssh_chan *ch)
{
	ch->st = CS_HELLO;
	expect(ch, RDV_CHAL_LEN);
	timer_set(&ch->t, ssh_cfg->peer_timeout_ms);
}

void ssh_hello_start_in(struct ssh_chan *ch)
{
	ch->kind = CK_PEER_IN;
	ch->st = CS_HELLO;
	/* Unreachable without a key (the config requires one with
	 * `rendezvous'); refuse rather than trust. */
	if (!ssh_cfg->rdv_key_set || nonce(ch->nonce_b) < 0) {
		warn("rendezvous: cannot challenge a peer (%s); closing",
		     ssh_cfg->rdv_key_set ? "no random bytes" : "no key");
		ch->st = CS_FREEING;
		return;
	}
	rdv_chal_encode(ch->hdr_out, ch->nonce_b);
	send_hdr(ch, RDV_CHAL_LEN);
	expect(ch, RDV_REQ_LEN);
	timer_set(&ch->t, ssh_cfg->peer_timeout_ms);
}

size_t ssh_hello_want(struct ssh_chan *ch, uint8_t **dst)
{
	*dst = ch->hdr_in + ch->hdr_in_len;
	return ch->hdr_in_want - ch->hdr_in_len;
}

/* A: the guest's connect ends with @err. */
static int out_fail(struct ssh_chan *ch, int err)
{
	timer_cancel(&ch->t);
	ssh_chan_fail_conn(ch, err);
	ch->st = CS_FREEING;
	return 1;
}

/* A: the challenge is complete: send the request. */
static int challenge_done(struct ssh_chan *ch)
{
	struct rdv_key k = key();
	int r = rdv_chal_decode(ch->hdr_in, ch->hdr_in_len, ch->nonce_b);

	if (r == -EAGAIN)
		return 1;
	if (r < 0) {
		warn("rendezvous %s:%u does not answer like a sockout-ssh "
		     "peer (header version %u)%s",
		     ch->host, ch->port, RDV_VERSION,
		     r == -EPROTONOSUPPORT ? ": another version" : "");
		return out_fail(ch, ECONNREFUSED);
	}
	if (nonce(ch->nonce_a) < 0 ||
	    rdv_req_encode(ch->hdr_out, ch->peer_port, ch->port, ch->nonce_a,
			   ch->nonce_b, &k) < 0)
		return out_fail(ch, EIO);
	send_hdr(ch, RDV_REQ_LEN);
	expect(ch, RDV_REP_LEN);
	return 1;
}

/* A: the peer's reply is complete. */
static int reply_done(struct ssh_chan *ch)
{
	struct rdv_key k = key();
	int e = 0, r = rdv_rep_decode(ch->hdr_in, ch->hdr_in_len, ch->nonce_a,
				      ch->nonce_b, &k, &e);

	if (r == -EAGAIN)
		return 1;
	if (r == -EBADMSG) {
		warn("rendezvous %s:%u: the reply is not authentic (the peer "
		     "has another rendezvous-key?); refusing the connection",
		     ch->host, ch->port);
		return out_fail(ch, EACCES);
	}
	if (r < 0) {
		warn("rendezvous %s:%u does not answer like a "
		     "sockout-ssh peer",
		     ch->host, ch->port);
		return out_fail(ch, ECONNREFUSED);
	}
	if (e) {
		debug("peer refused port %u: %s", ch->peer_port, strerror(e));
		return out_fail(ch, e);
	}
	timer_cancel(&ch->t);
	ch->st = CS_OPEN;
	ch->connected = true;
	if (ch->c) {
		struct so_addrpair a = { .peer = ch->c->req.dst };
		sh_connected(ch->c, &a);
	}
	return 1;
}

/* B: answer an authentic request with @err (0: accepted). */
static int answer(struct ssh_chan *ch, int err)
{
	struct rdv_key k = key();

	if (rdv_rep_encode(ch->hdr_out, err, ch->nonce_a, ch->nonce_b, &k) <
	    0) {
		ch->st = CS_FREEING;
		return 1;
	}
	send_hdr(ch, RDV_REP_LEN);
	return 1;
}

/* B: the request is not authentic, or not a request: no answer. */
static int unauth(struct ssh_chan *ch, int r)
{
	static struct ratelimit rl; /* anyone on the gateway can send these */

	ssh_peer_unauth++;
	timer_cancel(&ch->t);
	if (ratelimit_burst(&rl, 5))
		warn("rendezvous %s:%u: refused a connection: %s; closing it",
		     ch->host, ch->port,
		     r == -EBADMSG ? "its header is not authentic (forged, "
				     "replayed, or made with another "
				     "rendezvous-key)" :
		     r == -EPROTONOSUPPORT ? "another header version" :
		     r == -ESTALE ? "the request was made for another "
				    "rendezvous" :
				    "not a sockout peer");
	ch->st = CS_FREEING;
	return 1;
}

/* B: another helper's request is complete: it wants one of our guests. */
static int request_done(struct ssh_chan *ch)
{
	struct rdv_key k = key();
	uint16_t port = 0, rdv_port = 0;
	int r = rdv_req_decode(ch->hdr_in, ch->hdr_in_len, ch->nonce_b, &k,
			       &port, &rdv_port, ch->nonce_a);

	if (r == -EAGAIN)
		return 1;
	if (r < 0)
		return unauth(ch, r);
	/* A MAC made for another host's rendezvous (its helper shares our
	 * key) is no request to us: someone on the gateway redirected it. */
	if (rdv_port != ssh_cfg->rdv_port)
		return unauth(ch, -ESTALE);
	timer_cancel(&ch->t);
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
		answer(ch, l ? ENOMEM : ECONNREFUSED);
		if (ch->st == CS_HELLO)
			ch->st = CS_CLOSING;
		return 1;
	}
	answer(ch, 0);
	if (ch->st != CS_HELLO) { /* could not answer */
		sh_reset(c, ECONNRESET);
		return 1;
	}
	ch->c = c;
	c->priv = ch;
	ch->connected = true;
	ch->st = CS_OPEN;
	return 1;
}

int ssh_hello_got(struct ssh_chan *ch, size_t n)
{
	if (n == 0) { /* closed before answering */
		if (ch->kind == CK_PEER_OUT)
			return out_fail(ch, ECONNREFUSED);
		ch->st = CS_FREEING;
		return 1;
	}
	ch->hdr_in_len += n;
	if (ch->kind == CK_PEER_IN)
		return request_done(ch);
	return ch->hdr_in_want == RDV_CHAL_LEN ? challenge_done(ch) :
						 reply_done(ch);
}
