/* SPDX-License-Identifier: MIT */
/*
 * helperproto.h - the dispatcher <-> helper protocol (see PROTOCOL.md).
 *
 * Two Unix stream sockets per helper, as in the seed paper: the DATA socket
 * carries requests from the dispatcher and exactly one reply per request, in
 * order; the EVENT socket carries events from the helper.  Every message is
 * a 16-byte header followed by a payload; integers are big-endian.
 *
 * This file is the one encoder/decoder both ends use.
 */
#ifndef SOCKOUT_HELPERPROTO_H
#define SOCKOUT_HELPERPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/buf.h"
#include "addr.h"

/* Bump this when the layout of any existing message changes.  A new
 * message that only a negotiated capability brings in (SO_CAP_*) is an
 * addition, not a change: it gets a capability bit instead. */
#define SO_PROTO_VERSION 1

/* Capabilities: the helper's HELLO reply carries a 4-byte mask of them
 * (no payload: none).  Add a bit for every optional part of the protocol;
 * never reuse one. */
#define SO_CAP_HANDOFF 0x00000001u /* takes HANDOFF, sends FINISHED */
#define SO_CAP_NAME 0x00000002u /* CONNECT may carry a host name to reach
				   (so_connect.name): resolved by the helper */
#define SO_CAP_HANDBACK 0x00000004u /* CONNECTED/ACCEPTED may carry the
				       connection itself (SO_F_FD) */
#define SO_CAPS_LEN 4
/* FINISHED payload: bytes guest -> overlay, then overlay -> guest (8 each) */
#define SO_FINISHED_LEN 16

#define SO_HDR_LEN 16
/* Largest payload: one 256 KiB data chunk plus room for any fixed part. */
#define SO_MAX_DATA (256u * 1024u)
#define SO_MAX_PAYLOAD (SO_MAX_DATA + 1024u)
#define SO_MAX_TARGET 255
#define SO_MAX_NAME 253 /* a host name, no trailing dot */
/* the longest CONNECT/LISTEN payload: address, target, name */
#define SO_CONNECT_MAX_LEN (SO_ADDR_LEN + 1 + SO_MAX_TARGET + 1 + SO_MAX_NAME)

/* Connection ids: the dispatcher picks ids for connections it opens (top
 * bit clear), a helper picks ids for connections it accepts (top bit set),
 * so an event can never name an id the dispatcher has not heard of yet. */
#define SO_ID_HELPER 0x80000000u

enum so_type {
	/* requests, dispatcher -> helper, on the data socket */
	SO_HELLO = 1,	    /* arg=version; payload: client name */
	SO_CONNECT = 2,	    /* id=new conn; payload: so_connect */
	SO_LISTEN = 3,	    /* id=new listener; payload: so_connect */
	SO_UNLISTEN = 4,    /* id=listener */
	SO_WRITE = 5,	    /* id=conn; payload: bytes */
	SO_READ = 6,	    /* id=conn; arg=max bytes wanted */
	SO_SHUTDOWN = 7,    /* id=conn: no more writes (half-close) */
	SO_CLOSE = 8,	    /* id=conn; arg=0 close, errno: reset */
	SO_STATUS = 9,	    /* payload of the reply: JSON object */
	SO_EVHELLO = 10,    /* on the EVENT socket: id=session token */
	SO_HANDOFF = 11,    /* id=conn; one fd (SCM_RIGHTS): the guest end;
			       SO_CAP_HANDOFF only */

	/* the reply to any request, helper -> dispatcher, on the data socket */
	SO_REPLY = 32,	    /* id=echo; arg=value or errno (SO_F_ERROR) */

	/* events, helper -> dispatcher, on the event socket */
	SO_CONNECTED = 64,	/* id=conn; payload: so_addrpair (may be empty) */
	SO_CONNECT_FAILED = 65, /* id=conn; arg=errno */
	SO_ACCEPTED = 66,	/* id=new conn (SO_ID_HELPER set); arg=listener;
				   payload: so_addrpair */
	SO_ARRIVED = 67,	/* id=conn: a READ would now return data/EOF */
	SO_WRITABLE = 68,	/* id=conn: a WRITE would now be accepted */
	SO_CLOSED = 69,		/* id=conn; arg=errno: the overlay lost it */
	SO_LISTEN_FAILED = 70,	/* id=listener; arg=errno */
	SO_FINISHED = 71,	/* id=handed conn; arg=0 or errno; payload:
				   SO_FINISHED_LEN byte counts */
};

enum so_flags {
	SO_F_ERROR = 0x01, /* SO_REPLY: arg is an errno */
	SO_F_EOF = 0x02,   /* SO_REPLY to READ: peer finished sending */
	/* SO_CONNECTED / SO_ACCEPTED, SO_CAP_HANDBACK only: one descriptor
	 * came with this message (SCM_RIGHTS), a connected TCP socket that
	 * IS the connection; the helper has let go of it and forgotten the
	 * id (no FINISHED, CLOSED or CLOSE for it ever) */
	SO_F_FD = 0x04,
};

struct so_hdr {
	uint32_t len; /* payload bytes after the header */
	uint8_t type;
	uint8_t flags;
	uint16_t reserved; /* 0 */
	uint32_t id;
	uint32_t arg;
};

/* An IPv4/IPv6 address (struct so_addr, addr.h) as it travels: 20 bytes. */
#define SO_ADDR_LEN 20

/* SO_CONNECT / SO_LISTEN payload */
struct so_connect {
	struct so_addr dst; /* what the guest asked for (LISTEN: bound addr) */
	char target[SO_MAX_TARGET + 1]; /* the rule's "to TARGET", may be "" */
	/* CONNECT to a helper with SO_CAP_NAME only, else "": the host name
	 * the guest connects to (dst is then a placeholder address standing
	 * for it; dst.port is the port).  The helper resolves it at its end. */
	char name[SO_MAX_NAME + 1];
};

/* SO_CONNECTED / SO_ACCEPTED payload */
struct so_addrpair {
	struct so_addr local;
	struct so_addr peer;
};

/** so_hdr_decode() - parse 16 bytes.  Returns 0 or -EPROTO (bad length,
 * reserved bits set). */
int so_hdr_decode(const uint8_t *p, struct so_hdr *h);
void so_hdr_encode(uint8_t *p, const struct so_hdr *h);

void so_addr_encode(uint8_t *p, const struct so_addr *a);
int so_addr_decode(const uint8_t *p, struct so_addr *a);

/* payload encoders return the payload length written into @p (which must
 * hold SO_CONNECT_MAX_LEN / 2 * SO_ADDR_LEN bytes).  so_connect_decode()
 * takes a payload with or without the name part. */
size_t so_connect_encode(uint8_t *p, const struct so_connect *c);
int so_connect_decode(const uint8_t *p, size_t len, struct so_connect *c);
size_t so_addrpair_encode(uint8_t *p, const struct so_addrpair *a);
int so_addrpair_decode(const uint8_t *p, size_t len, struct so_addrpair *a);

/* HELLO reply payload: the capability mask.  Decoding an empty payload
 * gives 0 (a helper that predates capabilities); other lengths than 0 and
 * SO_CAPS_LEN are -EPROTO. */
size_t so_caps_encode(uint8_t *p, uint32_t caps);
int so_caps_decode(const uint8_t *p, size_t len, uint32_t *caps);
/* FINISHED payload: what the helper moved on a handed connection.
 * Decoding needs exactly SO_FINISHED_LEN bytes, else -EPROTO. */
size_t so_finished_encode(uint8_t *p, uint64_t up, uint64_t down);
int so_finished_decode(const uint8_t *p, size_t len, uint64_t *up,
		       uint64_t *down);

/**
 * so_send() - queue one message on @out (header + optional payload).
 * Returns 0 or -ENOMEM.  The caller flushes @out when the socket is
 * writable (buf_write_fd).
 */
int so_send(struct buf *out, uint8_t type, uint8_t flags, uint32_t id,
	    uint32_t arg, const void *payload, size_t len);

/**
 * so_next() - take the next complete message from @in.
 * @h:       filled with the header
 * @payload: set to point into @in (valid until @in is touched again)
 *
 * Returns 1 if a message was taken, 0 if more bytes are needed, -EPROTO if
 * the stream is malformed (the connection must then be dropped).  The
 * caller consumes SO_HDR_LEN + h->len bytes with so_done().
 */
int so_next(struct buf *in, struct so_hdr *h, const uint8_t **payload);
void so_done(struct buf *in, const struct so_hdr *h);

/** so_type_name() - "CONNECT", ... for logs; "?" if unknown. */
const char *so_type_name(uint8_t type);

#endif
