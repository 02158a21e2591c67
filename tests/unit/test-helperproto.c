// SPDX-License-Identifier: MIT
/* Unit tests of the helper and guest protocol encoders/decoders. */
#include <errno.h>
#include <string.h>

#include "../../protocol/guestproto.h"
#include "../../protocol/helperproto.h"
#include "t.h"

static void test_roundtrip(void)
{
	struct buf b;
	struct so_hdr h;
	const uint8_t *p;
	struct so_connect c = { .dst = { .family = 4, .port = 8080 } }, d;
	uint8_t enc[SO_ADDR_LEN + 1 + SO_MAX_TARGET];

	buf_init(&b);
	c.dst.addr[0] = 203;
	c.dst.addr[3] = 7;
	strcpy(c.target, "bob@example.org");
	size_t n = so_connect_encode(enc, &c);
	CHECK_EQ(so_send(&b, SO_CONNECT, 0, 42, 0, enc, n), 0);
	CHECK_EQ(so_send(&b, SO_READ, 0, 42, 65536, NULL, 0), 0);

	/* Feed the stream one byte at a time: no message before it is whole. */
	struct buf in;
	buf_init(&in);
	size_t total = buf_len(&b), fed = 0;
	int got = 0;
	while (fed < total) {
		buf_append(&in, buf_peek(&b) + fed, 1);
		fed++;
		int r;
		while ((r = so_next(&in, &h, &p)) > 0) {
			if (got == 0) {
				CHECK_EQ(h.type, SO_CONNECT);
				CHECK_EQ(h.id, 42u);
				CHECK_EQ(so_connect_decode(p, h.len, &d), 0);
				CHECK_EQ(d.dst.port, 8080);
				CHECK_EQ(d.dst.addr[0], 203);
				CHECK_STR(d.target, "bob@example.org");
				CHECK_EQ(fed, SO_HDR_LEN + n);
			} else {
				CHECK_EQ(h.type, SO_READ);
				CHECK_EQ(h.arg, 65536u);
				CHECK_EQ(h.len, 0u);
			}
			so_done(&in, &h);
			got++;
		}
		CHECK(r == 0);
	}
	CHECK_EQ(got, 2);
	buf_free(&b);
	buf_free(&in);
}

static void test_bad(void)
{
	uint8_t raw[SO_HDR_LEN] = { 0 };
	struct so_hdr h;
	struct so_connect c;

	/* Length over the limit is refused before any allocation. */
	raw[0] = 0x7f;
	CHECK_EQ(so_hdr_decode(raw, &h), -EPROTO);
	raw[0] = 0;
	raw[6] = 1; /* reserved */
	CHECK_EQ(so_hdr_decode(raw, &h), -EPROTO);
	raw[6] = 0;
	raw[5] = 0x80; /* unknown flag */
	CHECK_EQ(so_hdr_decode(raw, &h), -EPROTO);

	uint8_t p[SO_ADDR_LEN + 1 + 4] = { 4 };
	p[SO_ADDR_LEN] = 10; /* target longer than the payload */
	CHECK_EQ(so_connect_decode(p, sizeof(p), &c), -EPROTO);
	p[SO_ADDR_LEN] = 3;
	CHECK_EQ(so_connect_decode(p, SO_ADDR_LEN + 1 + 3, &c), -EPROTO);
	memcpy(p + SO_ADDR_LEN + 1, "abc", 3);
	CHECK_EQ(so_connect_decode(p, SO_ADDR_LEN + 1 + 3, &c), 0);
	p[0] = 5; /* bad family */
	CHECK_EQ(so_connect_decode(p, SO_ADDR_LEN + 1 + 3, &c), -EPROTO);
}

static void test_guest(void)
{
	struct gp_req r = { .op = GP_CONNECT,
			    .flags = GP_F_LOOPBACK,
			    .addr = { .family = 6, .port = 443 },
			    .backlog = 0x11223344 },
		      r2;
	uint8_t p[GP_REQ_LEN];

	gp_req_encode(p, &r);
	CHECK_EQ(gp_req_decode(p, &r2), 0);
	CHECK_EQ(r2.backlog, r.backlog);
	/* version 1 (guest-supplied netns and pid) is refused */
	p[5] = 1;
	CHECK_EQ(gp_req_decode(p, &r2), -EPROTO);
	p[5] = GP_VERSION;
	p[33] = 1; /* where version 1 had the pid: reserved now */
	CHECK_EQ(gp_req_decode(p, &r2), -EPROTO);
	p[33] = 0;
	CHECK_EQ(r2.addr.port, 443);
	CHECK_EQ(r2.flags, GP_F_LOOPBACK);
	p[50] = 1;
	CHECK_EQ(gp_req_decode(p, &r2), -EPROTO);

	struct gp_reply a = { .op = GP_ACCEPT, .status = ECONNREFUSED }, a2;
	uint8_t q[GP_REPLY_LEN];
	a.peer.family = 4;
	a.peer.port = 5555;
	gp_reply_encode(q, &a);
	CHECK_EQ(gp_reply_decode(q, &a2), 0);
	CHECK_EQ(a2.status, ECONNREFUSED);
	CHECK_EQ(a2.peer.port, 5555);
	q[0] ^= 1;
	CHECK_EQ(gp_reply_decode(q, &a2), -EPROTO);
	/* a refusal before the request was read: op 0, always with a status */
	struct gp_reply f = { .op = GP_REFUSED, .status = EAGAIN }, f2;
	gp_reply_encode(q, &f);
	CHECK_EQ(gp_reply_decode(q, &f2), 0);
	CHECK_EQ(f2.status, EAGAIN);
	f.status = 0;
	gp_reply_encode(q, &f);
	CHECK_EQ(gp_reply_decode(q, &f2), -EPROTO);
}

int main(void)
{
	test_roundtrip();
	test_bad();
	test_guest();
	T_DONE();
}
