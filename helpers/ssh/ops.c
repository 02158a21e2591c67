// SPDX-License-Identifier: MIT
/*
 * ops.c - the struct sh_ops that the helper runtime calls for sockout-ssh:
 * connect (channel-open.c), listen/unlisten (forward.c), and the
 * runtime's news about a connection (more guest bytes, room for more
 * overlay bytes, close), which only change channel state and schedule
 * the pump.  Also the STATUS counters, and the channels' registration
 * with the pump.
 */
#include <stdio.h>
#include <string.h>

#include "channel.h"

/* The order of each pump pass after the forwards (ssh_fwd_init()): the
 * next open is picked, then every channel moves its bytes. */
void ssh_chan_init(void)
{
	ssh_pump_register(&ssh_open_stepper);
	ssh_pump_register(&ssh_data_stepper);
}

/* Pump later, not here: the runtime answers the WRITE as soon as this
 * returns, so the dispatcher reads and sends the next chunk while we
 * encrypt this one (pumping here serialised the two processes). */
static void op_output(struct sh_conn *c)
{
	struct ssh_chan *ch = c->priv;

	if (ch && ch->st == CS_OPEN)
		ssh_kick(ch->s);
}

static void op_input_room(struct sh_conn *c)
{
	struct ssh_chan *ch = c->priv;

	if (ch && ch->st == CS_OPEN)
		ssh_pump(ch->s);
}

static void op_close(struct sh_conn *c, int err)
{
	struct ssh_chan *ch = c->priv;
	struct ssh_sess *s;

	if (!ch)
		return;
	s = ch->s;
	c->priv = NULL;
	ch->c = NULL;
	switch (ch->st) {
	case CS_QUEUED:
		if (!ssh_ctl_holds(s, ch))
			ssh_chan_free(ch);
		return;
	case CS_HELLO:
		ch->st = CS_FREEING;
		break;
	case CS_OPEN:
		if (err) {
			ch->reset = true;
			ch->st = CS_FREEING;
			break;
		}
		/* Keep what the guest wrote but we have not sent yet: an
		 * orderly close must not lose the tail of the stream. */
		ch->linger = c->to_overlay;
		buf_init(&c->to_overlay);
		ch->st = CS_CLOSING;
		break;
	default:
		break;
	}
	ssh_kick(s);
}

static void op_status(struct buf *j)
{
	static const char *const names[] = { "down", "tcp", "handshake",
					     "auth", "up" };
	char tmp[512];
	unsigned nf = ssh_fwd_count_up();
	snprintf(tmp, sizeof(tmp),
		 ",\"server\":\"%s:%u\",\"forwards\":%u,\"peer_in\":%llu,"
		 "\"peer_refused\":%llu,\"peer_unauth\":%llu,\"accepted\":%llu,\"rounds\":%llu,"
		 "\"sessions\":[",
		 ssh_cfg->server_host, ssh_cfg->server_port, nf,
		 (unsigned long long)ssh_peer_in,
		 (unsigned long long)ssh_peer_refused,
		 (unsigned long long)ssh_peer_unauth,
		 (unsigned long long)ssh_fwd_accepted,
		 (unsigned long long)ssh_mt_rounds);
	buf_append(j, tmp, strlen(tmp));
	for (unsigned i = 0; i < ssh_cfg->sessions; i++) {
		const struct ssh_sess *s = &ssh_sessions[i];
		snprintf(tmp, sizeof(tmp),
			 "%s{\"state\":\"%s\",\"channels\":%u,\"rx\":%llu,"
			 "\"tx\":%llu,\"half_sent\":%llu,\"logins\":%u}",
			 i ? "," : "", names[s->st], s->nchans,
			 (unsigned long long)s->rx_bytes,
			 (unsigned long long)s->tx_bytes,
			 (unsigned long long)s->half_sent, s->ups);
		buf_append(j, tmp, strlen(tmp));
	}
	buf_append(j, "]", 1);
}

const struct sh_ops ssh_ops = {
	.name = "ssh",
	.connect = ssh_chan_connect,
	.listen = ssh_fwd_listen,
	.unlisten = ssh_fwd_unlisten,
	.output = op_output,
	.input_room = op_input_room,
	.close = op_close,
	.status = op_status,
};
