// SPDX-License-Identifier: MIT
/*
 * peer.c - one secure session per configured peer.
 *
 * Presence tells us which resource of a peer runs a sockout helper (it
 * carries our marker element).  Both sides then send a signed HELLO; each
 * HELLO names the sender's session id and echoes the last one it got from
 * us.  A hello with a new session id makes us derive keys again; a hello
 * that does not echo our current id gets a hello back.  This converges
 * whoever starts first, also when both start at once, and a peer that
 * restarted (new id) is noticed at its first hello.
 *
 * Order of checks on an incoming stanza (nothing is parsed before the
 * sender is known): the from JID must be a configured peer, the base64
 * must be of sane size, the header must say hello or sealed, the hello's
 * signature must verify against the pinned key (or the envelope must open
 * under the session key, inside the replay window) -- only then is JSON
 * parsed.
 *
 * What the sessions produce (parsed control messages, a session up, a
 * session lost) goes up through the struct im_peer_ops given to
 * im_peers_init(): this file never names conn.c.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "helpers/im/im.h"

/* At most one unsolicited hello per peer per this interval. */
#define HELLO_MIN_INTERVAL_MS 1000
/* Log lines about dropped input: at most one per peer per interval. */
#define DROPLOG_INTERVAL_MS 2000

static SLIST_HEAD(, im_peer) peers = SLIST_HEAD_INITIALIZER(peers);
static const struct im_peer_ops *up;
static struct im_identity *me;
static char my_bare[IM_JID_MAX];
static uint8_t *sbuf; /* scratch: decoded stanza, plaintext, sealed out */
#define SBUF_LEN (IM_B64_MAX + IM_PLAIN_MAX + IM_PLAIN_MAX + 256)
static uint64_t unknown_drops, bad_drops, replay_drops;
static uint64_t last_unknown_log;

struct im_peer *im_peer_find(const char *bare)
{
	struct im_peer *p;

	SLIST_FOREACH(p, &peers, link)
		if (!strcmp(p->conf->jid, bare))
			return p;
	return NULL;
}

bool im_peer_ready(const struct im_peer *p)
{
	return p->online && p->keys->ready && im_xmpp_online();
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A fresh session: new ephemeral key, no keys, forget the peer's hello. */
static void session_reset(struct im_peer *p)
{
	sodium_memzero(p->keys, sizeof(*p->keys));
	im_eph_new(p->eph);
	p->have_their = false;
}

static void send_hello_to(struct im_peer *p, const char *to, bool force)
{
	uint8_t msg[IM_HELLO_LEN];
	struct im_hello h;
	uint64_t t = now_ms();

	if ((!p->online && to == p->full) || !im_xmpp_online())
		return;
	if (!force && p->last_hello_sent &&
	    t - p->last_hello_sent < HELLO_MIN_INTERVAL_MS)
		return;
	p->last_hello_sent = t;
	memset(&h, 0, sizeof(h));
	/* Strictly increasing even if the clock steps back: the peer
	 * refuses a hello not newer than the last one it took from us. */
	static uint64_t last_ts;
	h.ts_ms = wall_ms();
	if (h.ts_ms <= last_ts)
		h.ts_ms = last_ts + 1;
	last_ts = h.ts_ms;
	memcpy(h.sid, p->eph->sid, IM_SID_LEN);
	if (p->have_their)
		memcpy(h.echo, p->their.sid, IM_SID_LEN);
	memcpy(h.eph, p->eph->pk, 32);
	im_hello_encode(msg, me, my_bare, p->conf->jid, &h);
	debug("%s: hello sent to %s", p->conf->jid, to);
	im_xmpp_send(to, msg, sizeof(msg));
}

static void send_hello(struct im_peer *p, bool force)
{
	send_hello_to(p, p->full, force);
}

static void peer_down(struct im_peer *p, int err)
{
	bool was = p->keys->ready;

	p->online = false;
	session_reset(p);
	up->lost(p, err);
	if (was)
		info("%s: session closed", p->conf->jid);
}

void im_peer_presence(const char *from, bool available, bool marked,
		      bool probe)
{
	char bare[IM_JID_MAX];
	struct im_peer *p;

	if (im_jid_bare(from, bare, sizeof(bare)) < 0 ||
	    !(p = im_peer_find(bare)))
		return;
	if (strlen(from) >= sizeof(p->full))
		return;
	if (available && marked) {
		if (p->online && !strcmp(p->full, from)) {
			if (probe) /* it lost track of us: say we are here */
				im_xmpp_directed_presence(from, false);
			return;
		}
		if (p->online) /* another resource took over */
			peer_down(p, ECONNRESET);
		snprintf(p->full, sizeof(p->full), "%s", from);
		p->online = true;
		info("%s: online as %s", p->conf->jid, from);
		/* It may have come after our directed presence went out:
		 * tell this resource we are here, then start a session. */
		im_xmpp_directed_presence(from, false);
		send_hello(p, true);
	} else if (!available && p->online && !strcmp(p->full, from)) {
		info("%s: offline", p->conf->jid);
		peer_down(p, EHOSTUNREACH);
		/* Another resource of the peer may still run a helper (the
		 * one that left may have taken over from it): ask. */
		im_xmpp_directed_presence(p->conf->jid, true);
	}
}

static bool droplog(struct im_peer *p, uint64_t *last)
{
	uint64_t t = now_ms();
	(void)p;

	if (*last && t - *last < DROPLOG_INTERVAL_MS)
		return false;
	*last = t;
	return true;
}

static void on_hello(struct im_peer *p, const char *from, const uint8_t *m,
		     size_t len)
{
	struct im_hello h;
	static uint64_t lastlog, laststale;

	if (im_hello_decode(m, len, p->conf->pk, p->conf->jid, my_bare, &h) <
	    0) {
		bad_drops++;
		if (droplog(p, &lastlog))
			warn("%s: hello with a bad signature from %s dropped "
			     "(forged, or the pinned key in `peer %s' is wrong)",
			     p->conf->jid, from, p->conf->jid);
		return;
	}
	uint64_t t = wall_ms();
	if (h.ts_ms <= p->last_hello_ts || h.ts_ms + IM_HELLO_MAX_AGE_MS < t ||
	    h.ts_ms > t + IM_HELLO_MAX_AGE_MS) {
		replay_drops++;
		if (droplog(p, &laststale))
			warn("%s: stale or replayed hello dropped (check the "
			     "clocks if this repeats)", p->conf->jid);
		return;
	}
	p->last_hello_ts = h.ts_ms;
	if (!p->online || strcmp(p->full, from) != 0) {
		/* A hello proves a helper runs there even if its presence
		 * has not reached us yet. */
		if (p->online)
			peer_down(p, ECONNRESET);
		snprintf(p->full, sizeof(p->full), "%s", from);
		p->online = true;
	}
	bool fresh = !p->have_their || memcmp(h.sid, p->their.sid, IM_SID_LEN) != 0;
	if (fresh) {
		if (p->keys->ready) {
			/* The peer started over: whatever we carried with
			 * its old session is gone on its side. */
			up->lost(p, ECONNRESET);
			sodium_memzero(p->keys, sizeof(*p->keys));
		}
		if (im_keys_derive(p->keys, p->eph, me->pk, &h, p->conf->pk) <
		    0) {
			warn("%s: hello with an unusable key dropped",
			     p->conf->jid);
			return;
		}
		p->their = h;
		p->have_their = true;
		info("%s: secure session up", p->conf->jid);
	}
	if (sodium_memcmp(h.echo, p->eph->sid, IM_SID_LEN) != 0)
		send_hello(p, fresh);
	if (fresh)
		up->ready(p);
}

void im_peer_stanza(const char *from, const char *b64)
{
	char bare[IM_JID_MAX];
	struct im_peer *p;
	size_t bl = strlen(b64), n;
	/* one rate limit per kind of drop, so each kind is seen in the log */
	static uint64_t lastlog, lastreplay, lastauth;

	if (im_jid_bare(from, bare, sizeof(bare)) < 0 ||
	    !(p = im_peer_find(bare))) {
		unknown_drops++;
		if (droplog(NULL, &last_unknown_log))
			warn("dropping message from %s: not a configured peer",
			     from);
		return;
	}
	if (bl > IM_B64_MAX ||
	    sodium_base642bin(sbuf, IM_B64_MAX, b64, bl, " \t\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0) {
		bad_drops++;
		if (droplog(p, &lastlog))
			warn("%s: undecodable message dropped", p->conf->jid);
		return;
	}
	switch (im_msg_type(sbuf, n)) {
	case IM_T_HELLO:
		on_hello(p, from, sbuf, n);
		return;
	case IM_T_SEALED:
		break;
	default:
		bad_drops++;
		if (droplog(p, &lastlog))
			warn("%s: malformed message dropped", p->conf->jid);
		return;
	}
	if (!p->online || strcmp(p->full, from) != 0 || !p->keys->ready) {
		/* Sealed for a session we do not have (we restarted?):
		 * offer a new one. */
		bad_drops++;
		/* Offer a session; only a hello signed with the pinned key
		 * (from whichever resource) changes anything. */
		send_hello_to(p, from, false);
		return;
	}
	uint8_t *plain = sbuf + IM_B64_MAX;
	if (n - IM_SEAL_HDR - IM_TAG_LEN > IM_PLAIN_MAX) {
		bad_drops++;
		return;
	}
	ssize_t pl = im_open(p->keys, p->conf->jid, my_bare, sbuf, n, plain);
	if (pl == -EALREADY) {
		replay_drops++;
		if (droplog(p, &lastreplay))
			warn("%s: replayed message dropped", p->conf->jid);
		return;
	}
	if (pl < 0) {
		bad_drops++;
		if (droplog(p, &lastauth))
			warn("%s: message that does not authenticate dropped "
			     "(tampered, forged or from an old session)",
			     p->conf->jid);
		send_hello(p, false);
		return;
	}
	struct im_rpc r;
	uint8_t *scratch = plain + IM_PLAIN_MAX;
	if (im_rpc_decode(plain, (size_t)pl, &r, scratch, IM_PLAIN_MAX) < 0) {
		bad_drops++;
		warn("%s: malformed control message dropped", p->conf->jid);
		return;
	}
	up->rpc(p, &r);
}

int im_peer_send(struct im_peer *p, const struct buf *json)
{
	size_t len = buf_len(json);
	static uint8_t *out;

	if (!im_peer_ready(p))
		return -ENOTCONN;
	if (len > IM_PLAIN_MAX)
		return -EMSGSIZE;
	if (!out && !(out = malloc(IM_SEAL_HDR + IM_PLAIN_MAX + IM_TAG_LEN)))
		return -ENOMEM;
	size_t n = im_seal(p->keys, my_bare, p->conf->jid, buf_peek(json), len,
			   out);
	return im_xmpp_send(p->full, out, n);
}

void im_peers_link_up(void)
{
	struct im_peer *p;

	SLIST_FOREACH(p, &peers, link) {
		session_reset(p);
		im_xmpp_directed_presence(p->conf->jid, true);
	}
}

void im_peers_link_down(void)
{
	struct im_peer *p;

	SLIST_FOREACH(p, &peers, link)
		if (p->online || p->keys->ready)
			peer_down(p, ECONNRESET);
}

/**
 * im_peers_init() - one session slot per configured peer.
 * @c: the config (its peer list is kept)
 * @id: our identity (kept)
 * @ops: where control messages and session changes go (kept)
 * Returns 0 or -ENOMEM.
 */
int im_peers_init(const struct im_conf *c, struct im_identity *id,
		  const struct im_peer_ops *ops)
{
	struct im_peer_conf *pc;

	up = ops;
	me = id;
	im_jid_bare(c->jid, my_bare, sizeof(my_bare));
	sbuf = malloc(SBUF_LEN);
	if (!sbuf)
		return -ENOMEM;
	SLIST_FOREACH(pc, &c->peers, link) {
		struct im_peer *p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->conf = pc;
		p->eph = sodium_malloc(sizeof(*p->eph));
		p->keys = sodium_malloc(sizeof(*p->keys));
		if (!p->eph || !p->keys) {
			if (p->eph)
				sodium_free(p->eph);
			if (p->keys)
				sodium_free(p->keys);
			free(p);
			return -ENOMEM;
		}
		session_reset(p);
		SLIST_INSERT_HEAD(&peers, p, link);
	}
	return 0;
}

void im_peers_free(void)
{
	struct im_peer *p;

	while ((p = SLIST_FIRST(&peers))) {
		SLIST_REMOVE_HEAD(&peers, link);
		sodium_free(p->eph);
		sodium_free(p->keys);
		free(p);
	}
	free(sbuf);
	sbuf = NULL;
}

void im_peers_status(struct buf *j)
{
	char s[IM_JID_MAX + 128];
	struct im_peer *p;

	buf_append(j, ",\"peers\":[", 10);
	SLIST_FOREACH(p, &peers, link) {
		int n = snprintf(s, sizeof(s),
				 "%s{\"jid\":\"%s\",\"online\":%s,\"session\":%s}",
				 p == SLIST_FIRST(&peers) ? "" : ",", p->conf->jid,
				 p->online ? "true" : "false",
				 p->keys->ready ? "true" : "false");
		if (n > 0 && (size_t)n < sizeof(s))
			buf_append(j, s, (size_t)n);
	}
	buf_append(j, "]", 1);
	int n = snprintf(s, sizeof(s),
			 ",\"dropped\":{\"unknown\":%llu,\"bad\":%llu,\"replayed\":%llu}",
			 (unsigned long long)unknown_drops,
			 (unsigned long long)bad_drops,
			 (unsigned long long)replay_drops);
	if (n > 0 && (size_t)n < sizeof(s))
		buf_append(j, s, (size_t)n);
}
