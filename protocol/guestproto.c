// SPDX-License-Identifier: MIT
/* guestproto.c - encoder/decoder of guest messages; see guestproto.h. */
#include "guestproto.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Layout of a request (64 bytes):
 *   0 magic u32 | 4 version u16 | 6 op u8 | 7 flags u8 | 8 addr (20)
 *  28 backlog u32 | 32 token u32 (CLAIM only, else 0) | 36 zero (28)
 * RESOLVE: addr zero, 28 family u8 (0, 4, 6) | 29 zero (3) | 32 name
 * length u16 (1..GP_NAME_MAX) | 34 zero (30); the name follows.
 * Version 1 had the guest's netns (28, u64) and pid (36) before the
 * backlog (40): claims a guest could forge, so version 2 dropped them. */
void gp_req_encode(uint8_t p[GP_REQ_LEN], const struct gp_req *r)
{
	memset(p, 0, GP_REQ_LEN);
	put32(p, GP_MAGIC);
	put16(p + 4, GP_VERSION);
	p[6] = r->op;
	p[7] = r->flags;
	so_addr_encode(p + 8, &r->addr);
	if (r->op == GP_RESOLVE) {
		p[28] = r->family;
		put16(p + 32, r->namelen);
		return;
	}
	put32(p + 28, r->backlog);
	put32(p + 32, r->token);
}

/* RESOLVE's header: a family and a name length, nothing else */
static int resolve_req_decode(const uint8_t p[GP_REQ_LEN], struct gp_req *r)
{
	/* stream mode asks for names too (the answer then ends the stream) */
	if ((r->flags & ~(GP_F_STREAM | GP_F_KEEP)) ||
	    (r->flags & GP_F_STREAM && r->flags & GP_F_KEEP) || p[29] || p[30] ||
	    p[31])
		return -EPROTO;
	for (int i = 8; i < 28; i++) /* no address */
		if (p[i])
			return -EPROTO;
	r->family = p[28];
	r->namelen = get16(p + 32);
	if ((r->family && r->family != 4 && r->family != 6) || !r->namelen ||
	    r->namelen > GP_NAME_MAX)
		return -EPROTO;
	for (int i = 34; i < GP_REQ_LEN; i++)
		if (p[i])
			return -EPROTO;
	return 0;
}

int gp_req_name_decode(const uint8_t *p, size_t len, struct gp_req *r)
{
	if (r->op != GP_RESOLVE || len != r->namelen)
		return -EPROTO;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return -EPROTO;
	memcpy(r->name, p, len);
	r->name[len] = '\0';
	return 0;
}

int gp_req_decode(const uint8_t p[GP_REQ_LEN], struct gp_req *r)
{
	memset(r, 0, sizeof(*r));
	if (get32(p) != GP_MAGIC || get16(p + 4) != GP_VERSION)
		return -EPROTO;
	r->op = p[6];
	r->flags = p[7];
	if (r->op == GP_RESOLVE)
		return so_addr_decode(p + 8, &r->addr) < 0 ? -EPROTO :
							     resolve_req_decode(p, r);
	if (r->op == GP_DNS) {
		/* no address: the DNS message that follows says it all */
		if (r->flags & ~GP_F_DNS_TCP ||
		    so_addr_decode(p + 8, &r->addr) < 0 || r->addr.family)
			return -EPROTO;
	} else if ((r->op != GP_CONNECT && r->op != GP_LISTEN &&
		    r->op != GP_REVERSE && r->op != GP_CLAIM) ||
		   (r->flags & ~(GP_F_LOOPBACK | GP_F_V6ONLY | GP_F_SECCOMP |
				 GP_F_STREAM | GP_F_KEEP)) ||
		   (r->op == GP_REVERSE &&
		    (r->flags & ~(GP_F_STREAM | GP_F_KEEP))) ||
		   ((r->flags & GP_F_KEEP) &&
		    ((r->op != GP_CONNECT && r->op != GP_REVERSE) ||
		     (r->flags & (GP_F_LOOPBACK | GP_F_STREAM))))) {
		/* a channel (GP_F_KEEP) only for the short exchanges whose
		 * answer depends on no more than the uid, gid and groups:
		 * not LOOPBACK or LISTEN (the network namespace), not a
		 * stream */
		return -EPROTO;
	} else if (so_addr_decode(p + 8, &r->addr) < 0) {
		return -EPROTO;
	}
	r->backlog = get32(p + 28);
	r->token = get32(p + 32);
	/* stream mode: a CLAIM names a token and nothing else; every other
	 * request an address (but DNS: none, checked above) and no token */
	if (r->op == GP_CLAIM ? r->flags != GP_F_STREAM || !r->token ||
					r->addr.family || r->backlog
			      : r->token || (r->op != GP_DNS && !r->addr.family))
		return -EPROTO;
	for (int i = 36; i < GP_REQ_LEN; i++)
		if (p[i])
			return -EPROTO;
	return 0;
}

/* Layout of a reply (56 bytes):
 *   0 magic u32 | 4 version u16 | 6 op u8 | 7 flags u8 | 8 status u16
 *  10 zero u16 | 12 local (20) | 32 peer (20) | 52 op-specific u32:
 *  a stream-mode ACCEPT notice (flags GP_F_STREAM; other replies have no
 *  flags but GP_F_KEEP on CONNECT, RESOLVE, REVERSE) has the token to CLAIM there; RESOLVE and REVERSE the answer
 *  length (u16 at 52, 54 zero); every other reply 0. */
void gp_reply_encode(uint8_t p[GP_REPLY_LEN], const struct gp_reply *r)
{
	memset(p, 0, GP_REPLY_LEN);
	put32(p, GP_MAGIC);
	put16(p + 4, GP_VERSION);
	p[6] = r->op;
	p[7] = r->flags;
	put16(p + 8, r->status);
	so_addr_encode(p + 12, &r->local);
	so_addr_encode(p + 32, &r->peer);
	if (r->op == GP_ACCEPT && r->flags == GP_F_STREAM)
		put32(p + 52, r->token);
	else
		put16(p + 52, r->anslen);
}

int gp_reply_decode(const uint8_t p[GP_REPLY_LEN], struct gp_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (get32(p) != GP_MAGIC || get16(p + 4) != GP_VERSION || p[10] ||
	    p[11])
		return -EPROTO;
	r->op = p[6];
	r->flags = p[7];
	r->status = get16(p + 8);
	if ((r->op > GP_REVERSE && r->op != GP_DNS && r->op != GP_CLAIM) ||
	    (r->op == GP_REFUSED && !r->status))
		return -EPROTO;
	if (so_addr_decode(p + 12, &r->local) < 0 ||
	    so_addr_decode(p + 32, &r->peer) < 0)
		return -EPROTO;
	/* a token only in a stream-mode ACCEPT notice, and there always */
	if (r->op == GP_ACCEPT && r->flags == GP_F_STREAM) {
		r->token = get32(p + 52);
		return r->token && !r->status ? 0 : -EPROTO;
	}
	/* GP_F_KEEP: a channel kept, on the replies that may have one */
	if ((r->flags & ~GP_F_KEEP) ||
	    (r->flags && r->op != GP_CONNECT && r->op != GP_RESOLVE &&
	     r->op != GP_REVERSE))
		return -EPROTO;
	r->anslen = get16(p + 52);
	if (r->anslen && (r->op < GP_RESOLVE || r->op == GP_DNS ||
			  r->op == GP_CLAIM || r->status || r->anslen > GP_ANSWER_MAX))
		return -EPROTO;
	for (int i = 54; i < GP_REPLY_LEN; i++)
		if (p[i])
			return -EPROTO;
	return 0;
}

/* Layout of an answer: ttl u32 | n u8 | canon length u8 | canon |
 * n addresses (20 each). */
size_t gp_answer_encode(uint8_t *p, const struct gp_answer *a)
{
	size_t cl = strnlen(a->canon, 255), n = a->n, o;

	if (n > GP_ANSWER_ADDRS)
		n = GP_ANSWER_ADDRS;
	put32(p, a->ttl);
	p[4] = (uint8_t)n;
	p[5] = (uint8_t)cl;
	memcpy(p + 6, a->canon, cl);
	o = 6 + cl;
	for (size_t i = 0; i < n; i++, o += SO_ADDR_LEN)
		so_addr_encode(p + o, &a->addr[i]);
	return o;
}

int gp_answer_decode(const uint8_t *p, size_t len, struct gp_answer *a)
{
	size_t cl, o;

	memset(a, 0, sizeof(*a));
	if (len < 6)
		return -EPROTO;
	a->ttl = get32(p);
	a->n = p[4];
	cl = p[5];
	o = 6 + cl;
	if (a->n > GP_ANSWER_ADDRS || len != o + (size_t)a->n * SO_ADDR_LEN)
		return -EPROTO;
	memcpy(a->canon, p + 6, cl);
	a->canon[cl] = '\0';
	if (strlen(a->canon) != cl)
		return -EPROTO;
	for (unsigned i = 0; i < a->n; i++, o += SO_ADDR_LEN)
		if (so_addr_decode(p + o, &a->addr[i]) < 0 || !a->addr[i].family)
			return -EPROTO;
	return 0;
}
