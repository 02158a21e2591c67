// SPDX-License-Identifier: MIT
/*
 * helperproto.c - encoder and decoder of the helper protocol.
 *
 * Every length that comes off the wire is checked against what the buffer
 * holds before it is used; a malformed message makes the whole stream
 * invalid (-EPROTO) rather than being skipped, since framing is lost.
 */
#include "helperproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void so_hdr_encode(uint8_t *p, const struct so_hdr *h)
{
	put32(p, h->len);
	p[4] = h->type;
	p[5] = h->flags;
	p[6] = p[7] = 0;
	put32(p + 8, h->id);
	put32(p + 12, h->arg);
}

int so_hdr_decode(const uint8_t *p, struct so_hdr *h)
{
	h->len = get32(p);
	h->type = p[4];
	h->flags = p[5];
	h->reserved = (uint16_t)(p[6] << 8 | p[7]);
	h->id = get32(p + 8);
	h->arg = get32(p + 12);
	if (h->len > SO_MAX_PAYLOAD || h->reserved ||
	    (h->flags & ~(SO_F_ERROR | SO_F_EOF | SO_F_FD)))
		return -EPROTO;
	return 0;
}

void so_addr_encode(uint8_t *p, const struct so_addr *a)
{
	p[0] = a->family;
	p[1] = 0;
	p[2] = (uint8_t)(a->port >> 8);
	p[3] = (uint8_t)a->port;
	memcpy(p + 4, a->addr, 16);
}

int so_addr_decode(const uint8_t *p, struct so_addr *a)
{
	a->family = p[0];
	a->port = (uint16_t)(p[2] << 8 | p[3]);
	memcpy(a->addr, p + 4, 16);
	if (p[1] || (a->family != 0 && a->family != 4 && a->family != 6))
		return -EPROTO;
	return 0;
}

/* Layout: dst (20) | target length u8 | target | [name length u8 | name].
 * The name part is there only when there is a name (1 to SO_MAX_NAME). */
size_t so_connect_encode(uint8_t *p, const struct so_connect *c)
{
	size_t tl = strnlen(c->target, SO_MAX_TARGET);
	size_t nl = strnlen(c->name, SO_MAX_NAME);
	size_t o = SO_ADDR_LEN + 1 + tl;

	so_addr_encode(p, &c->dst);
	p[SO_ADDR_LEN] = (uint8_t)tl;
	memcpy(p + SO_ADDR_LEN + 1, c->target, tl);
	if (!nl)
		return o;
	p[o] = (uint8_t)nl;
	memcpy(p + o + 1, c->name, nl);
	return o + 1 + nl;
}

int so_connect_decode(const uint8_t *p, size_t len, struct so_connect *c)
{
	c->name[0] = '\0';
	if (len < SO_ADDR_LEN + 1 || so_addr_decode(p, &c->dst) < 0)
		return -EPROTO;
	size_t tl = p[SO_ADDR_LEN], o = SO_ADDR_LEN + 1 + tl;
	if (len < o)
		return -EPROTO;
	memcpy(c->target, p + SO_ADDR_LEN + 1, tl);
	c->target[tl] = '\0';
	/* A target is a name or address, never binary. */
	if (strlen(c->target) != tl)
		return -EPROTO;
	if (len == o)
		return 0;
	size_t nl = p[o];
	if (nl == 0 || nl > SO_MAX_NAME || len != o + 1 + nl)
		return -EPROTO;
	memcpy(c->name, p + o + 1, nl);
	c->name[nl] = '\0';
	if (strlen(c->name) != nl)
		return -EPROTO;
	return 0;
}

size_t so_addrpair_encode(uint8_t *p, const struct so_addrpair *a)
{
	so_addr_encode(p, &a->local);
	so_addr_encode(p + SO_ADDR_LEN, &a->peer);
	return 2 * SO_ADDR_LEN;
}

int so_addrpair_decode(const uint8_t *p, size_t len, struct so_addrpair *a)
{
	memset(a, 0, sizeof(*a));
	if (len == 0)
		return 0; /* addresses are optional */
	if (len != 2 * SO_ADDR_LEN || so_addr_decode(p, &a->local) < 0 ||
	    so_addr_decode(p + SO_ADDR_LEN, &a->peer) < 0)
		return -EPROTO;
	return 0;
}

int so_send(struct buf *out, uint8_t type, uint8_t flags, uint32_t id,
	    uint32_t arg, const void *payload, size_t len)
{
	struct so_hdr h = { .len = (uint32_t)len,
			    .type = type,
			    .flags = flags,
			    .id = id,
			    .arg = arg };
	uint8_t *p;

	if (len > SO_MAX_PAYLOAD)
		return -EMSGSIZE;
	p = buf_reserve(out, SO_HDR_LEN + len);
	if (!p)
		return -ENOMEM;
	so_hdr_encode(p, &h);
	if (len)
		memcpy(p + SO_HDR_LEN, payload, len);
	buf_commit(out, SO_HDR_LEN + len);
	return 0;
}

int so_next(struct buf *in, struct so_hdr *h, const uint8_t **payload)
{
	if (buf_len(in) < SO_HDR_LEN)
		return 0;
	if (so_hdr_decode(buf_peek(in), h) < 0)
		return -EPROTO;
	if (buf_len(in) - SO_HDR_LEN < h->len)
		return 0;
	*payload = buf_peek(in) + SO_HDR_LEN;
	return 1;
}

void so_done(struct buf *in, const struct so_hdr *h)
{
	buf_consume(in, SO_HDR_LEN + h->len);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t so_caps_encode(uint8_t *p, uint32_t caps)
{
	p[0] = (uint8_t)(caps >> 24);
	p[1] = (uint8_t)(caps >> 16);
	p[2] = (uint8_t)(caps >> 8);
	p[3] = (uint8_t)caps;
	return SO_CAPS_LEN;
}

int so_caps_decode(const uint8_t *p, size_t len, uint32_t *caps)
{
	*caps = 0;
	if (!len)
		return 0;
	if (len != SO_CAPS_LEN)
		return -EPROTO;
	*caps = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
	return 0;
}

size_t so_finished_encode(uint8_t *p, uint64_t up, uint64_t down)
{
	put_be64(p, up);
	put_be64(p + 8, down);
	return SO_FINISHED_LEN;
}

int so_finished_decode(const uint8_t *p, size_t len, uint64_t *up,
		       uint64_t *down)
{
	if (len != SO_FINISHED_LEN)
		return -EPROTO;
	*up = get_be64(p);
	*down = get_be64(p + 8);
	return 0;
}

const char *so_type_name(uint8_t type)
{
	switch (type) {
	case SO_HELLO: return "HELLO";
	case SO_CONNECT: return "CONNECT";
	case SO_LISTEN: return "LISTEN";
	case SO_UNLISTEN: return "UNLISTEN";
	case SO_WRITE: return "WRITE";
	case SO_READ: return "READ";
	case SO_SHUTDOWN: return "SHUTDOWN";
	case SO_CLOSE: return "CLOSE";
	case SO_STATUS: return "STATUS";
	case SO_EVHELLO: return "EVHELLO";
	case SO_HANDOFF: return "HANDOFF";
	case SO_REPLY: return "REPLY";
	case SO_CONNECTED: return "CONNECTED";
	case SO_CONNECT_FAILED: return "CONNECT_FAILED";
	case SO_ACCEPTED: return "ACCEPTED";
	case SO_ARRIVED: return "ARRIVED";
	case SO_WRITABLE: return "WRITABLE";
	case SO_CLOSED: return "CLOSED";
	case SO_LISTEN_FAILED: return "LISTEN_FAILED";
	case SO_FINISHED: return "FINISHED";
	default: return "?";
	}
}
