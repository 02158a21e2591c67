/* SPDX-License-Identifier: MIT */
/*
 * dns.h - DNS messages from guests that speak DNS themselves (Go's pure
 * resolver, busybox, dig, static programs), answered by the `resolve' rules.
 *
 * A stub in the guest's network namespace (guest/dns-stub.c) takes the
 * queries sent to the nameserver of the guest's /etc/resolv.conf and
 * forwards each one as a GP_DNS request over the guest socket (PROTOCOL.md
 * part 2, "DNS messages").  dns-wire.c turns the query into a question and
 * an answer into a reply, with ldns: no DNS packet is read or written by
 * hand.  dns.c reads the request, asks resolve.c and replies.
 */
#ifndef SOCKOUT_DNS_H
#define SOCKOUT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../protocol/addr.h"
#include "../protocol/guestproto.h"
#include "resolve.h"

/* Pending DNS requests (read or being resolved) at once, and per guest
 * (uid and network namespace): a guest that floods gets SERVFAIL-free
 * refusals (GP status EAGAIN, the stub drops the query and the client
 * retries), the others are served. */
#define DNS_PENDING_MAX 256
#define DNS_PENDING_PER_GUEST 32
/* Longest a request may take from accept to reply: the query must arrive
 * and the answer come within it, else SERVFAIL (or nothing, when no query
 * was read). */
#define DNS_TIMEOUT_MS 10000
/* The UDP size we offer in our own EDNS0 record (RFC 9715's advice). */
#define DNS_EDNS_SIZE 1232

/* What a query asks, as dns_decode() found it. */
struct dns_q {
	void *pkt;		    /* the query (ldns_pkt), for the answer */
	char name[RESOLVE_NAME_MAX + 1]; /* lower case, no trailing dot */
	uint16_t qtype;		    /* A, AAAA, CNAME or PTR */
	int family;		    /* AF_INET, AF_INET6 or AF_UNSPEC */
	struct so_addr ptr;	    /* PTR: the address asked about */
	size_t max;		    /* longest answer the client takes */
};

enum dns_verdict {
	DNS_RESOLVE,	/* forward: resolve @q->name (A, AAAA, CNAME) */
	DNS_REVERSE,	/* reverse: the name of @q->ptr (PTR) */
	DNS_ANSWERED,	/* answered already: the reply is in *out */
};

/**
 * dns_decode() - read the query @msg of @len bytes.
 * @tcp: it came over TCP (no size limit but the protocol's)
 * @q:   filled for DNS_RESOLVE and DNS_REVERSE; release with dns_q_free()
 * @out, @outlen: for DNS_ANSWERED, the reply (FORMERR, NOTIMP, REFUSED),
 *       malloc()ed
 *
 * Returns a verdict, or -EPROTO for a message that cannot be answered at
 * all (shorter than a header, or a response: answering those could loop),
 * or -ENOMEM.
 */
int dns_decode(const uint8_t *msg, size_t len, bool tcp, struct dns_q *q,
	       uint8_t **out, size_t *outlen);

/**
 * dns_encode() - the reply to @q for the resolver's answer @a (forward
 * queries) into a malloc()ed *@out of *@outlen bytes, cut to @q->max with
 * the TC bit if it does not fit.  Returns 0 or -ENOMEM.
 */
int dns_encode(const struct dns_q *q, const struct resolve_answer *a,
	       uint8_t **out, size_t *outlen);

/**
 * dns_encode_ptr() - the reply to the PTR query @q: @name (the placeholder's
 * name) with @ttl, or REFUSED when @name is NULL (an address that is no
 * placeholder: sockout does not know, and does not ask, its host name).
 */
int dns_encode_ptr(const struct dns_q *q, const char *name, uint32_t ttl,
		   uint8_t **out, size_t *outlen);

void dns_q_free(struct dns_q *q);

/* ---- dns.c ---- */
struct peer_id;

/**
 * dns_take() - serve the GP_DNS request on guest connection @fd (its
 * 64-byte header read already, with @flags) for @who; dns.c owns @fd from
 * now on and closes it.
 */
void dns_take(int fd, const struct peer_id *who, uint8_t flags);
void dns_shutdown(void);

#endif
