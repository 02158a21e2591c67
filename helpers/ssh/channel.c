// SPDX-License-Identifier: MIT
/*
 * channel.c - the bookkeeping of sockout-ssh's channels: create, link to
 * a session, report a connection's end to the runtime, time out, free.
 * What channels do lives in channel-open.c (opening), channel-hello.c
 * (the peer hello) and channel-data.c (the data path).
 *
 * A channel belongs to one session (s->chans) for its whole life, from
 * its open (or the server's) to libssh2_channel_free().  Its connection
 * (ch->c) may go earlier: the dispatcher closed it, or it was reset.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/log.h"
#include "channel.h"

/* No open confirmation or peer answer in time: the guest gets ETIMEDOUT. */
static void chan_timeout_cb(struct timer *t)
{
	struct ssh_chan *ch = container_of(t, struct ssh_chan, t);
	struct ssh_sess *s = ch->s;

	if (ch->connected)
		return;
	debug("channel to %s:%u: no answer in time", ch->host, ch->port);
	ssh_chan_fail_conn(ch, ETIMEDOUT);
	if (ch->st == CS_QUEUED) {
		if (!ssh_ctl_holds(s, ch))
			ssh_chan_free(ch);
		/* else the open completes, sees no connection, and frees */
	} else if (ch->st == CS_HELLO) {
		ch->st = CS_FREEING;
		ssh_kick(s);
	}
}

struct ssh_chan *ssh_chan_new(void)
{
	struct ssh_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	buf_init(&ch->linger);
	timer_init(&ch->t, chan_timeout_cb);
	return ch;
}

void ssh_chan_link(struct ssh_sess *s, struct ssh_chan *ch)
{
	ch->s = s;
	TAILQ_INSERT_TAIL(&s->chans, ch, link);
	s->nchans++;
}

void ssh_chan_free(struct ssh_chan *ch)
{
	struct ssh_sess *s = ch->s;

	if (s) {
		TAILQ_REMOVE(&s->chans, ch, link);
		s->nchans--;
	}
	if (ch->c)
		ch->c->priv = NULL;
	timer_cancel(&ch->t);
	buf_free(&ch->linger);
	free(ch->open_msg);
	free(ch);
}

void ssh_chan_fail_conn(struct ssh_chan *ch, int err)
{
	struct sh_conn *c = ch->c;

	if (!c)
		return;
	ch->c = NULL;
	c->priv = NULL;
	if (ch->connected)
		sh_reset(c, ECONNRESET);
	else
		sh_connect_failed(c, err);
}
