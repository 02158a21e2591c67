/* SPDX-License-Identifier: MIT */
/*
 * channel.h - one SSH channel of sockout-ssh, shared by channel.c (its
 * bookkeeping), channel-open.c, channel-hello.c, channel-data.c and ops.c.
 *
 *   forward   guest connect -> "direct-tcpip" channel to the rule's TARGET
 *             (or the guest's own destination), one channel per connection;
 *   reverse   guest listen  -> "tcpip-forward" on the gateway; each
 *             "forwarded-tcpip" channel the server opens is an ACCEPTED;
 *   peer      guest to guest: a direct-tcpip channel to another helper's
 *             rendezvous forward, starting with the connect header (rdv.c).
 */
#ifndef SOCKOUT_SSH_CHANNEL_H
#define SOCKOUT_SSH_CHANNEL_H

#include "ssh.h"

enum chan_kind { CK_FWD, CK_PEER_OUT, CK_REV, CK_PEER_IN };
enum chan_state {
	CS_QUEUED,  /* waiting for its channel open */
	CS_HELLO,   /* peer: connect header exchange */
	CS_OPEN,    /* carrying a connection */
	CS_CLOSING, /* dispatcher closed: send what is left, EOF, then free */
	CS_FREEING, /* libssh2_channel_free() until it goes through */
};

struct ssh_chan {
	struct ssh_sess *s;
	LIBSSH2_CHANNEL *ch;
	struct sh_conn *c; /* NULL once the dispatcher is done with it */
	enum chan_kind kind;
	enum chan_state st;
	int bop; /* the sub-step a half-sent call is in (channel-data.c) */
	bool bop_was_write; /* this step repeats a half-sent write */
	size_t wlen; /* length of the write that is half sent (BOP_WRITE) */
	bool eof_sent, eof_seen, connected, reset;
	char host[SSH_HOSTLEN]; /* open: where the server should connect */
	uint16_t port, peer_port;
	uint8_t *open_msg;
	size_t open_len;
	/* The peer hello (channel-hello.c): header bytes to send first, the
	 * header being received (hdr_in_want bytes long), and the two sides'
	 * nonces. */
	uint8_t hdr_out[RDV_HDR_MAX], hdr_in[RDV_HDR_MAX];
	size_t hdr_out_len, hdr_out_off, hdr_in_len, hdr_in_want;
	uint8_t nonce_a[RDV_NONCE], nonce_b[RDV_NONCE];
	struct buf linger; /* guest bytes left when the dispatcher closed */
	struct timer t;	   /* open / header timeout */
	TAILQ_ENTRY(ssh_chan) link; /* s->chans */
};

/* channel.c */
/** ssh_chan_new() - a zeroed channel with its buffer and timer set up, or
 *  NULL. */
struct ssh_chan *ssh_chan_new(void);
/** ssh_chan_link() - @ch now lives on @s (the end of its list). */
void ssh_chan_link(struct ssh_sess *s, struct ssh_chan *ch);
/** ssh_chan_free() - unlink and free @ch (libssh2's channel is not
 *  touched: freed already, or left to the session). */
void ssh_chan_free(struct ssh_chan *ch);
/** ssh_chan_fail_conn() - the connection is over for the guest: report it
 *  (reset if it was connected, else connect failed with @err), forget it. */
void ssh_chan_fail_conn(struct ssh_chan *ch, int err);

/* channel-open.c */
extern const struct ssh_stepper ssh_open_stepper; /* picks the next open */
/** ssh_chan_connect() - sh_ops.connect: queue a channel for @c. */
int ssh_chan_connect(struct sh_conn *c);

/* channel-data.c */
extern const struct ssh_stepper ssh_data_stepper; /* moves the bytes */

/* channel-hello.c: the connect header exchange (state CS_HELLO). */
extern uint64_t ssh_peer_in, ssh_peer_refused, ssh_peer_unauth;
/** ssh_hello_start_out() - our channel to a peer's rendezvous is open:
 *  send the connect request. */
void ssh_hello_start_out(struct ssh_chan *ch);
/** ssh_hello_start_in() - a peer opened @ch: wait for its request. */
void ssh_hello_start_in(struct ssh_chan *ch);
/** ssh_hello_want() - where the next header bytes go; returns how many
 *  are still missing. */
size_t ssh_hello_want(struct ssh_chan *ch, uint8_t **dst);
/** ssh_hello_got() - @n header bytes arrived (0: the channel closed).
 *  Returns 1 (something moved). */
int ssh_hello_got(struct ssh_chan *ch, size_t n);

#endif
