/* SPDX-License-Identifier: MIT */
/*
 * guestproto.h - the guest <-> sockoutd protocol (see PROTOCOL.md, part 2).
 *
 * Each guest socket operation opens one Unix stream connection to sockoutd's
 * guest socket, sends one fixed-size request and reads one fixed-size reply.
 * A successful reply carries a file descriptor (SCM_RIGHTS) that the guest
 * shim dup2()s onto the program's socket:
 *
 *   CONNECT -> a connected stream socket: the host TCP socket itself for
 *              `direct`, or one end of a loopback TCP pair that sockoutd
 *              relays to a helper;
 *   LISTEN  -> a SOCK_SEQPACKET socket on which sockoutd later sends one
 *              GP_ACCEPT message (with the accepted socket's fd) per
 *              incoming connection.  Seqpacket keeps each message and its
 *              fd atomic, so processes sharing the listener (prefork
 *              servers) each get whole connections.
 *
 * This is the same shape as a hybrid vsock (one guest connection = one host
 * Unix stream), so microVMs can be served later by the same dispatcher.
 */
#ifndef SOCKOUT_GUESTPROTO_H
#define SOCKOUT_GUESTPROTO_H

#include <stdint.h>

#include "helperproto.h"

/* Bump when the layout of a guest message changes. */
#define GP_VERSION 2 /* 2: no guest-supplied netns/pid; op 0 refusals */
#define GP_MAGIC 0x534f4731u /* "SOG1" */

#define GP_REQ_LEN 64
#define GP_REPLY_LEN 56

enum gp_op {
	/* reply only: sockoutd refused the connection before reading its
	 * request (a limit); status says why.  Answers any request. */
	GP_REFUSED = 0,
	GP_CONNECT = 1,
	GP_LISTEN = 2,
	GP_ACCEPT = 3, /* sockoutd -> shim, on a listener's seqpacket */
	/* names (PROTOCOL.md 2.x): the request's name follows its header;
	 * the reply's answer (struct gp_answer) follows the reply's */
	GP_RESOLVE = 4, /* a name, by the `resolve' rules */
	GP_REVERSE = 5, /* the name a placeholder address stands for */
	/* ops 8..11: DNS messages (PROTOCOL.md part 2, "DNS messages").
	 * The 64-byte request and the 56-byte reply are each followed by
	 * one DNS message framed as over TCP (u16 length, big endian); the
	 * reply carries no descriptor.  9..11 are reserved. */
	GP_DNS = 8,
	/* stream mode (ops 12..19): the guest claims, on a new stream, the
	 * accepted connection an ACCEPT notice announced by its token */
	GP_CLAIM = 12,
};

#define GP_NAME_MAX 253 /* a RESOLVE request's name (no trailing dot) */
/* the longest answer after a RESOLVE/REVERSE reply's header */
#define GP_ANSWER_ADDRS 8
#define GP_ANSWER_MAX (4 + 1 + 1 + 255 + GP_ANSWER_ADDRS * SO_ADDR_LEN)

/* Largest DNS message either way: a query is a header and one question
 * (<= 12 + 255 + 4 bytes, plus EDNS0); an answer is bounded by the
 * resolver's address count.  Anything longer is refused unread. */
#define GP_DNS_MAX 4096

enum gp_flags {
	/* The destination is the guest's own loopback: sockoutd answers
	 * with a socket only if a guest in the same network namespace
	 * listens on that port through sockoutd; otherwise ENOENT, and the
	 * shim connects natively. */
	GP_F_LOOPBACK = 0x01,
	/* LISTEN on an IPv6 socket the program set IPV6_V6ONLY on: the host
	 * listener must not take IPv4 too, so that the same program can also
	 * listen on the IPv4 wildcard and port (nginx's default pair). */
	GP_F_V6ONLY = 0x02,
	/* The call was caught by sockout-run's seccomp supervisor, not the
	 * LD_PRELOAD shim: shown by `sockoutctl connections`, nothing more
	 * (a guest can say what it likes here; no decision depends on it). */
	GP_F_SECCOMP = 0x04,
	/* GP_DNS: the query came over TCP, so the answer is not cut to the
	 * UDP size (512 bytes, or the query's EDNS0 size). */
	GP_F_DNS_TCP = 0x10,
	/* Stream mode (no descriptor passing; a guest behind a VM boundary):
	 * after a successful CONNECT or CLAIM reply this very stream is the
	 * connection, after a LISTEN reply it carries ACCEPT notices (with
	 * this flag and a token in the reply).  Required on sockoutd's
	 * stream endpoints, refused on the Unix guest socket. */
	GP_F_STREAM = 0x20,
	/* Channel (PROTOCOL.md part 2, "Channels"): on a CONNECT (not
	 * LOOPBACK), RESOLVE or REVERSE request over the Unix guest socket,
	 * "keep this connection open for my next request after the reply".
	 * On the reply: sockoutd keeps it (else it closes it as ever). */
	GP_F_KEEP = 0x40,
};

struct gp_req {
	uint8_t op;
	uint8_t flags;
	/* CONNECT: destination; LISTEN: bound address; REVERSE: the address
	 * (port 0); RESOLVE: none (family 0) */
	struct so_addr addr;
	uint32_t backlog;
	/* RESOLVE: the family asked (0 any, 4, 6) and the name's length;
	 * the name itself travels after the header (gp_req_name_decode) */
	uint8_t family;
	uint16_t namelen;
	char name[GP_NAME_MAX + 1];
	uint32_t token; /* CLAIM: from the ACCEPT notice; else 0 */
	/* No identity fields: who asks (uid, pid, network namespace) is
	 * what the kernel says about the connection, never what it says. */
};

struct gp_reply {
	uint8_t op;
	uint8_t flags;	     /* GP_F_STREAM on a stream-mode ACCEPT notice */
	uint16_t status;     /* 0, or an errno for the guest */
	struct so_addr local; /* what getsockname() should say */
	struct so_addr peer;  /* what getpeername() should say */
	uint32_t token;	      /* stream-mode ACCEPT notice: what to CLAIM */
	/* RESOLVE/REVERSE with status 0: bytes of struct gp_answer that
	 * follow the header (gp_answer_decode); else 0 */
	uint16_t anslen;
};

/* The answer to RESOLVE (ttl, canon, addresses) or REVERSE (canon: the
 * name).  RESOLVE statuses: 0, ENOENT (no such name), ENODATA (no address
 * of that family), EAGAIN (try again), EINVAL (not a name). */
struct gp_answer {
	uint32_t ttl;
	char canon[256]; /* the canonical name if an alias, else "" */
	uint8_t n;
	struct so_addr addr[GP_ANSWER_ADDRS]; /* port 0 */
};

void gp_req_encode(uint8_t p[GP_REQ_LEN], const struct gp_req *r);
/** gp_req_decode() - 0 or -EPROTO (bad magic, version, op or address). */
int gp_req_decode(const uint8_t p[GP_REQ_LEN], struct gp_req *r);
/** gp_req_name_decode() - the @len name bytes after a RESOLVE header into
 *  r->name; 0 or -EPROTO (wrong length, a NUL, a byte outside 0x21..0x7e). */
int gp_req_name_decode(const uint8_t *p, size_t len, struct gp_req *r);
/** gp_answer_encode() - @a into @p (GP_ANSWER_MAX bytes); returns the
 *  length, the reply's anslen. */
size_t gp_answer_encode(uint8_t *p, const struct gp_answer *a);
/** gp_answer_decode() - 0 or -EPROTO (lengths that do not add up, a bad
 *  address, a NUL in the name). */
int gp_answer_decode(const uint8_t *p, size_t len, struct gp_answer *a);
void gp_reply_encode(uint8_t p[GP_REPLY_LEN], const struct gp_reply *r);
/** gp_reply_decode() - 0 or -EPROTO; op GP_REFUSED only with a status. */
int gp_reply_decode(const uint8_t p[GP_REPLY_LEN], struct gp_reply *r);

#endif
