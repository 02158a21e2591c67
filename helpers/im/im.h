/* SPDX-License-Identifier: MIT */
/*
 * im.h - sockout-im, the instant-messaging overlay helper: what the files of
 * helpers/im/ share.  See docs/im.md for the wire formats.
 *
 *   config.c     the config file
 *   crypto.c     identities, the signed handshake, the sealed envelope,
 *                the replay window, bytestream keys
 *   rpc.c        the JSON control messages carried inside the envelope
 *   socks5.c     the SOCKS5 client codec (XEP-0065 mediated streams)
 *   bytestream.c one SOCKS5 bytestream per connection, secretstream framed
 *   xmpp.c       the libstrophe session inside our epoll loop, presence,
 *                proxy discovery, reconnect with backoff
 *   peer.c       per-peer secure sessions: handshake state, seal/open
 *   conn.c       the struct sh_ops: connect/accept, in-band data, closing
 *   main.c       command line, keygen, start-up; wires the layers
 *
 * Calls go downward only: conn.c -> peer.c -> xmpp.c (and conn.c ->
 * bytestream.c).  A lower file reports upward through an ops table it is
 * given at start-up (struct im_xmpp_ops, struct im_peer_ops, im_bs_event)
 * and never names a function of the files above it; main.c fills the
 * tables.
 */
#ifndef SOCKOUT_IM_H
#define SOCKOUT_IM_H

#include <stdbool.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/buf.h"
#include "common/loop.h"
#include "protocol/helper-runtime.h"

#define IM_JID_MAX 512
/* Bump with IM_VERSION (docs/im.md): helpers of different versions then
 * do not take each other for helpers at all. */
#define IM_NS "urn:sockout:im:2"
/* Largest base64 text we accept in one stanza: anything bigger is dropped
 * before decoding (Prosody caps stanzas at 256 KiB anyway). */
#define IM_B64_MAX ((size_t)200 * 1024)
/* Largest plaintext in one envelope. */
#define IM_PLAIN_MAX ((size_t)128 * 1024)
/* In-band: bytes of guest data per message, and in flight per connection. */
#define IM_INBAND_CHUNK ((size_t)16 * 1024)
#define IM_INBAND_WINDOW ((size_t)64 * 1024)
/* A silently dead link to the server or proxy (a NAT forgetting us)
 * ends in about a minute, not TCP's 15: the carried connections then fail
 * and we log in again (net_tcp_liveness). */
#define IM_KEEPIDLE_S 30
#define IM_KEEPINTVL_S 10
#define IM_KEEPCNT 3
#define IM_USER_TIMEOUT_MS 60000u

/* ---- config.c ---- */

struct im_peer;

/* Our long-term identity (crypto.c reads and writes its file). */
struct im_identity {
	uint8_t pk[32];
	uint8_t *sk; /* 64 bytes, sodium_malloc */
};

struct im_peer_conf {
	char jid[IM_JID_MAX]; /* bare JID */
	uint8_t pk[32];	      /* pinned Ed25519 identity */
	SLIST_ENTRY(im_peer_conf) link;
};

struct im_conf {
	char *data_socket, *event_socket;
	char jid[IM_JID_MAX]; /* full JID we log in as */
	char *password_file;
	char *password;
	int password_line, identity_line; /* where they were set */
	char server_host[256];
	uint16_t server_port;
	char *identity;
	struct im_identity id; /* loaded from `identity' */
	char proxy[IM_JID_MAX]; /* "" = discover */
	bool inband;		/* never use bytestreams */
	bool tls;		/* false: plain XMPP (test setups only) */
	char *tls_trust;	/* CA/cert file for the server, or NULL */
	uint64_t connect_timeout_ms;
	SLIST_HEAD(, im_peer_conf) peers;
	/* `answers' lines: the host names a connect from a peer may ask
	 * for ("" any, "a.b" exactly, ".a.b" for *.a.b) */
	char **answers;
	size_t nanswers;
};

int im_conf_load(const char *path, struct im_conf *c, char **errtext);
void im_conf_free(struct im_conf *c);
/** im_jid_bare() - copy the bare part of @jid ("user@host"); 0 or -EINVAL. */
int im_jid_bare(const char *jid, char *out, size_t len);
/** im_conf_answers() - does an `answers' line cover host name @name? */
bool im_conf_answers(const struct im_conf *c, const char *name);
/** im_name_ok() - a host name as a connect may carry it: 1 to 253 bytes of
 *  letters, digits, '.', '-' and '_' (nothing to escape in JSON). */
static inline bool im_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 253 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-_") == n;
}
/** im_jid_ok() - a JID we are willing to put in an XML attribute. */
bool im_jid_ok(const char *jid);

/* ---- crypto.c ---- */

#define IM_MAGIC "SOIM"
/* The layout of everything in docs/im.md: bump it (and IM_NS) whenever
 * any of it changes.  2: in-band data, shut and close carry offsets. */
#define IM_VERSION 2
#define IM_T_HELLO 1
#define IM_T_SEALED 2
#define IM_SID_LEN 16
#define IM_HELLO_LEN 144
#define IM_SEAL_HDR 24
#define IM_TAG_LEN 16
#define IM_REPLAY_WINDOW 64
/* A hello older than this (or this far in the future) is refused. */
#define IM_HELLO_MAX_AGE_MS ((uint64_t)5 * 60 * 1000)

struct im_hello {
	uint64_t ts_ms;
	uint8_t sid[IM_SID_LEN];
	uint8_t echo[IM_SID_LEN];
	uint8_t eph[32];
};

/* One secure session with one peer (both directions). */
struct im_keys {
	bool ready;
	uint8_t key_id[8];
	uint8_t tx[32], rx[32], bs[32];
	uint64_t tx_ctr;
	uint64_t rx_top;    /* highest counter accepted + 1 (0: none yet) */
	uint64_t rx_bitmap; /* bit i: counter rx_top-1-i seen */
};

struct im_eph {
	uint8_t pk[32], sk[32];
	uint8_t sid[IM_SID_LEN];
};

int im_crypto_init(void);
int im_identity_generate(const char *path, char *pk_b64, size_t len);
int im_identity_load(const char *path, struct im_identity *id);
void im_identity_free(struct im_identity *id);
int im_pubkey_parse(const char *s, uint8_t pk[32]);
void im_pubkey_format(const uint8_t pk[32], char *out, size_t len);

/** Fresh ephemeral X25519 key pair and session id (struct in secure mem). */
int im_eph_new(struct im_eph *e);

/**
 * im_hello_encode() - a signed hello from @from to @to (bare JIDs).
 * @out must hold IM_HELLO_LEN bytes.
 */
void im_hello_encode(uint8_t *out, const struct im_identity *id,
		     const char *from, const char *to, const struct im_hello *h);
/**
 * im_hello_decode() - check a hello's layout and signature against the
 * pinned key @peer_pk.  Returns 0 or -EBADMSG.
 */
int im_hello_decode(const uint8_t *p, size_t len, const uint8_t peer_pk[32],
		    const char *from, const char *to, struct im_hello *h);
/**
 * im_keys_derive() - session keys from our ephemeral and the peer's.
 * Returns 0 or -EINVAL (a degenerate public key).
 */
int im_keys_derive(struct im_keys *k, const struct im_eph *mine,
		   const uint8_t my_id[32], const struct im_hello *theirs,
		   const uint8_t their_id[32]);
/** im_seal() - envelope of @len bytes of plaintext into @out
 *  (IM_SEAL_HDR + len + IM_TAG_LEN bytes).  Returns the length. */
size_t im_seal(struct im_keys *k, const char *from, const char *to,
	       const uint8_t *in, size_t len, uint8_t *out);
/**
 * im_open() - authenticate and decrypt an envelope; enforce the replay
 * window.  @out must hold @len bytes.  Returns the plaintext length,
 * -EBADMSG (bad layout, wrong key id, forged), -EALREADY (replayed or too
 * old).
 */
ssize_t im_open(struct im_keys *k, const char *from, const char *to,
		const uint8_t *in, size_t len, uint8_t *out);
/** im_msg_type() - IM_T_HELLO, IM_T_SEALED or -EBADMSG from the header. */
int im_msg_type(const uint8_t *p, size_t len);
/** im_bs_keys() - the two secretstream keys of bytestream @sid. */
void im_bs_keys(const struct im_keys *k, const char *sid, bool initiator,
		uint8_t tx[32], uint8_t rx[32]);
/** Replay window alone (for tests): 0 accept+record, -EALREADY. */
int im_replay_check(struct im_keys *k, uint64_t ctr, bool commit);

/* ---- rpc.c ---- */

enum im_rpc_type {
	RPC_CONNECT = 1, /* c, p, [bs] */
	RPC_ACCEPT,	 /* c, [sid] */
	RPC_REFUSE,	 /* c, e */
	RPC_DATA,	 /* c, a, d */
	RPC_ACK,	 /* c, n */
	RPC_SHUT,	 /* c, a */
	RPC_RESET,	 /* c, e */
	RPC_CLOSE,	 /* c, a */
};

struct im_rpc {
	enum im_rpc_type type;
	uint32_t cid;
	bool opener; /* "o": the sender opened connection cid */
	uint16_t port;
	int err;
	uint64_t n;
	/* "a": data: the offset of its first byte in the sender's in-band
	 * stream; shut, close: the stream's length */
	uint64_t off;
	char sid[48]; /* bytestream id; "" = in-band */
	bool want_bs;
	char proxy[256]; /* connect: the opener's proxy JID when want_bs */
	char name[254];	 /* connect: the host name the guest asked for, or "" */
	const uint8_t *data; /* RPC_DATA: decoded bytes (points into a buffer) */
	size_t dlen;
};

/** im_rpc_encode() - JSON text into @out; returns 0 or -ENOMEM. */
int im_rpc_encode(const struct im_rpc *r, struct buf *out);
/**
 * im_rpc_decode() - parse @len bytes of JSON (depth and size limited).
 * Data bytes are decoded into @scratch (at least IM_PLAIN_MAX bytes).
 * Returns 0 or -EBADMSG.
 */
int im_rpc_decode(const uint8_t *p, size_t len, struct im_rpc *r,
		  uint8_t *scratch, size_t scratch_len);
const char *im_rpc_name(enum im_rpc_type t);

/* ---- socks5.c ---- */

#define S5_GREETING_LEN 3
#define S5_REQ_LEN 47
/** s5_dst_addr() - hex SHA1(sid + initiator + target) into @hex (41). */
int s5_dst_addr(const char *sid, const char *initiator, const char *target,
		char hex[41]);
void s5_greeting(uint8_t out[S5_GREETING_LEN]);
void s5_request(uint8_t out[S5_REQ_LEN], const char hex[41]);
/** 2 if complete and ok, 0 need more, -EPROTO/-ECONNREFUSED. */
int s5_parse_method(const uint8_t *p, size_t len);
/** length consumed if complete and ok, 0 need more, -EPROTO/-ECONNREFUSED */
int s5_parse_reply(const uint8_t *p, size_t len);

/* ---- xmpp.c ---- */

/* What the XMPP session reports to the layers above it (main.c wires
 * them): stanzas and link changes for peer.c, send-queue room for conn.c. */
struct im_xmpp_ops {
	/* an available/unavailable presence from a full JID */
	void (*presence)(const char *from_full, bool available, bool marked,
			 bool probe);
	/* the base64 text of our element in a <message> */
	void (*message)(const char *from_full, const char *b64);
	void (*link_up)(void);	 /* logged in (again) */
	void (*link_down)(void); /* a logged-in session ended */
	void (*writable)(void);	 /* the send queue has room again */
};

int im_xmpp_start(const struct im_conf *c, const struct im_xmpp_ops *ops);
void im_xmpp_stop(void);
bool im_xmpp_online(void);
const char *im_xmpp_my_jid(void); /* full, as bound by the server */
/** Send a <message> with base64 of @p to full JID @to.  0 or -errno. */
int im_xmpp_send(const char *to, const uint8_t *p, size_t len);
/** true while libstrophe's send queue is short enough to add more. */
bool im_xmpp_can_send(void);
void im_xmpp_directed_presence(const char *to, bool probe);
/** The proxy found by discovery/config: NULL if none (yet). */
bool im_xmpp_proxy(const char **jid, const char **host, uint16_t *port);
/** Ask the proxy to activate @sid towards @target; calls back once. */
typedef void (*im_activate_cb)(void *arg, int err);
int im_xmpp_activate(const char *sid, const char *target, im_activate_cb cb,
		     void *arg);
void im_xmpp_activate_cancel(void *arg);
void im_xmpp_status(struct buf *j);

/* ---- peer.c ---- */

struct im_peer {
	struct im_peer_conf *conf;
	bool online;
	char full[IM_JID_MAX]; /* resource we talk to */
	struct im_eph *eph;    /* secure memory */
	struct im_keys *keys;  /* secure memory */
	struct im_hello their;
	bool have_their;
	uint64_t last_hello_ts;
	uint64_t last_hello_sent;
	unsigned hello_budget;
	SLIST_ENTRY(im_peer) link;
};

/* What a peer's session reports to conn.c (main.c wires it). */
struct im_peer_ops {
	/* a control message that opened and parsed */
	void (*rpc)(struct im_peer *p, const struct im_rpc *r);
	/* a new secure session: connections may be asked for */
	void (*ready)(struct im_peer *p);
	/* the session (or the peer) is gone: fail its connections */
	void (*lost)(struct im_peer *p, int err);
};

int im_peers_init(const struct im_conf *c, struct im_identity *id,
		  const struct im_peer_ops *ops);
void im_peers_free(void);
struct im_peer *im_peer_find(const char *bare);
/* the struct im_xmpp_ops side */
void im_peer_presence(const char *from_full, bool available, bool marked,
		      bool probe);
void im_peer_stanza(const char *from_full, const char *b64);
void im_peers_link_down(void);
void im_peers_link_up(void);
/** im_peer_send() - seal @json and send it; 0 or -errno (no session). */
int im_peer_send(struct im_peer *p, const struct buf *json);
bool im_peer_ready(const struct im_peer *p);
void im_peers_status(struct buf *j);

/* ---- conn.c ---- */

extern const struct sh_ops im_ops;
/* the struct im_peer_ops side, and im_xmpp_ops.writable */
void im_conn_rpc(struct im_peer *p, const struct im_rpc *r);
void im_conn_peer_ready(struct im_peer *p);
void im_conn_peer_lost(struct im_peer *p, int err);
void im_conn_xmpp_writable(void);
void im_conn_set_conf(const struct im_conf *c);

/* ---- bytestream.c ---- */

struct im_bs;
typedef void (*im_bs_event)(void *arg, int what, int err);
enum { BS_EV_READY = 1, BS_EV_ERROR };
/**
 * im_bs_open() - dial the proxy and do the SOCKS5 handshake for @dst_hex;
 * BS_EV_READY when the proxy accepted it, BS_EV_ERROR on failure.
 */
struct im_bs *im_bs_open(const char *host, uint16_t port, const char *dst_hex,
			 const uint8_t tx[32], const uint8_t rx[32],
			 struct sh_conn *c, bool initiator, im_bs_event cb,
			 void *arg);
/** Start the encrypted stream (after activation / after the peer's header). */
int im_bs_start(struct im_bs *b);
void im_bs_output(struct im_bs *b);    /* c->to_overlay grew / guest_shut */
void im_bs_input_room(struct im_bs *b);
/**
 * im_bs_close() - the connection is closed: @err 0 sends what is left in
 * @rest (taken over) and a FIN, then lingers on its own until flushed;
 * else resets at once.  Either way @b never calls back again.
 */
void im_bs_close(struct im_bs *b, int err, struct buf *rest);
/* framing, exposed for the fuzzer and unit tests */
#define BS_FRAME_MAX ((size_t)64 * 1024)
enum { BS_K_DATA = 'D', BS_K_FIN = 'F', BS_K_RESET = 'R', BS_K_PAD = 'P' };
/** bs_frame_len() - length of the next frame in @p, 0 need more, -EPROTO */
ssize_t bs_frame_len(const uint8_t *p, size_t len);

#endif
