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
	put32(p + 28, r->backlog);
	put32(p + 32, r->token);
}

int gp_req_decode(const uint8_t p[GP_REQ_LEN], struct gp_req *r)
{
	memset(r, 0, sizeof(*r));
	if (get32(p) != GP_MAGIC || get16(p + 4) != GP_VERSION)
		return -EPROTO;
	r->op = p[6];
	r->flags = p[7];
	if ((r->op != GP_CONNECT && r->op != GP_LISTEN &&
	     r->op != GP_CLAIM) ||
	    (r->flags & ~(GP_F_LOOPBACK | GP_F_V6ONLY | GP_F_SECCOMP |
			  GP_F_STREAM)))
		return -EPROTO;
	if (so_addr_decode(p + 8, &r->addr) < 0)
		return -EPROTO;
	r->backlog = get32(p + 28);
	r->token = get32(p + 32);
	/* stream mode: a CLAIM names a token and nothing else */
	if (r->op == GP_CLAIM ? !(r->flags & GP_F_STREAM) || !r->token ||
					(r->flags & ~GP_F_STREAM) ||
					r->addr.family || r->backlog
			      : r->addr.family == 0 || r->token)
		return -EPROTO;
	for (int i = 36; i < GP_REQ_LEN; i++)
		if (p[i])
			return -EPROTO;
	return 0;
}

/* Layout of a reply (56 bytes):
 *   0 magic u32 | 4 version u16 | 6 op u8 | 7 flags u8 | 8 status u16
 *  10 zero u16 | 12 local (20) | 32 peer (20) | 52 token u32
 * flags and token are 0 but in a stream-mode ACCEPT notice (GP_F_STREAM
 * and the token to CLAIM). */
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
	put32(p + 52, r->token);
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
	r->token = get32(p + 52);
	if ((r->op > GP_ACCEPT && r->op != GP_CLAIM) ||
	    (r->op == GP_REFUSED && !r->status))
		return -EPROTO;
	/* a token only in a stream-mode ACCEPT notice, and there always */
	if (r->op == GP_ACCEPT && r->flags == GP_F_STREAM
		    ? !r->token || r->status
		    : r->flags || r->token)
		return -EPROTO;
	if (so_addr_decode(p + 12, &r->local) < 0 ||
	    so_addr_decode(p + 32, &r->peer) < 0)
		return -EPROTO;
	return 0;
}
