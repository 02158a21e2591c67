// SPDX-License-Identifier: MIT
/*
 * test-im-rpc - the JSON control messages: every type round-trips, and
 * the decoder refuses what a buggy or hostile peer could send (wrong
 * types, out-of-range numbers, deep nesting, trailing bytes, NULs,
 * oversized data).
 */
#include <stdlib.h>

#include "helpers/im/rpc.c"
#include "t.h"

static uint8_t scratch[IM_PLAIN_MAX];

static int dec(const char *s, struct im_rpc *r)
{
	return im_rpc_decode((const uint8_t *)s, strlen(s), r, scratch,
			     sizeof(scratch));
}

static void roundtrip(struct im_rpc *in)
{
	struct buf b;
	struct im_rpc out;

	buf_init(&b);
	CHECK_EQ(im_rpc_encode(in, &b), 0);
	CHECK_EQ(im_rpc_decode(buf_peek(&b), buf_len(&b), &out, scratch,
			       sizeof(scratch)), 0);
	CHECK_EQ(out.type, in->type);
	CHECK_EQ(out.cid, in->cid);
	CHECK_EQ(out.opener, in->opener);
	CHECK_EQ(out.port, in->port);
	CHECK_EQ(out.err, in->err);
	CHECK_EQ(out.n, in->n);
	CHECK_EQ(out.off, in->off);
	CHECK_EQ(out.want_bs, in->want_bs);
	CHECK_STR(out.sid, in->sid);
	CHECK_STR(out.proxy, in->proxy);
	CHECK_EQ(out.dlen, in->dlen);
	if (in->dlen)
		CHECK(memcmp(out.data, in->data, in->dlen) == 0);
	buf_free(&b);
}

int main(void)
{
	struct im_rpc r;
	static uint8_t data[IM_INBAND_CHUNK];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	roundtrip(&(struct im_rpc){ .type = RPC_CONNECT, .cid = 4000000000u,
				    .opener = true, .port = 65535, .want_bs = true });
	roundtrip(&(struct im_rpc){ .type = RPC_CONNECT, .cid = 9, .opener = true,
				    .port = 80, .want_bs = true,
				    .proxy = "proxy.example.org" });
	roundtrip(&(struct im_rpc){ .type = RPC_ACCEPT, .cid = 1, .sid = "00ff" });
	roundtrip(&(struct im_rpc){ .type = RPC_ACCEPT, .cid = 2 });
	roundtrip(&(struct im_rpc){ .type = RPC_REFUSE, .cid = 3, .err = 111 });
	roundtrip(&(struct im_rpc){ .type = RPC_DATA, .cid = 4, .opener = true,
				    .data = data, .dlen = sizeof(data) });
	roundtrip(&(struct im_rpc){ .type = RPC_DATA, .cid = 4, .data = data,
				    .dlen = 1, .off = 123456789012345 });
	roundtrip(&(struct im_rpc){ .type = RPC_ACK, .cid = 5, .n = IM_INBAND_WINDOW });
	roundtrip(&(struct im_rpc){ .type = RPC_SHUT, .cid = 6, .off = 65536 });
	roundtrip(&(struct im_rpc){ .type = RPC_RESET, .cid = 7, .err = 104 });
	roundtrip(&(struct im_rpc){ .type = RPC_CLOSE, .cid = 8, .opener = true,
				    .off = (UINT64_C(1) << 53) - 1 });

	CHECK_EQ(dec("{\"t\":\"shut\",\"c\":1,\"o\":0,\"a\":0}", &r), 0);
	CHECK_EQ(dec("{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":9007199254740991,"
		     "\"d\":\"QUJD\"}", &r), 0);
	CHECK_EQ(r.off, (UINT64_C(1) << 53) - 1);
	CHECK_EQ(r.dlen, 3u);
	const char *bad[] = {
		"",
		"[]",
		"{}",
		"{\"t\":\"shut\",\"c\":1,\"a\":0}",			/* no o */
		"{\"t\":\"shut\",\"c\":-1,\"o\":0,\"a\":0}",		/* negative */
		"{\"t\":\"shut\",\"c\":4294967296,\"o\":0,\"a\":0}",	/* > u32 */
		"{\"t\":\"shut\",\"c\":\"1\",\"o\":0,\"a\":0}",		/* string */
		"{\"t\":\"shut\",\"c\":1.5,\"o\":0,\"a\":0}",		/* double */
		"{\"t\":\"shut\",\"c\":1,\"o\":2,\"a\":0}",
		"{\"t\":\"nope\",\"c\":1,\"o\":0}",
		"{\"t\":7,\"c\":1,\"o\":0}",
		"{\"t\":\"shut\",\"c\":1,\"o\":0,\"a\":0}{}",
		"{\"t\":\"connect\",\"c\":1,\"o\":1}",		/* no port */
		"{\"t\":\"connect\",\"c\":1,\"o\":1,\"p\":65536}",
		"{\"t\":\"connect\",\"c\":1,\"o\":1,\"p\":1,\"x\":\"a'b\"}",
		"{\"t\":\"connect\",\"c\":1,\"o\":1,\"p\":1,\"x\":5}",
		"{\"t\":\"refuse\",\"c\":1,\"o\":0,\"e\":0}",
		"{\"t\":\"refuse\",\"c\":1,\"o\":0,\"e\":99999}",
		"{\"t\":\"ack\",\"c\":1,\"o\":0,\"n\":65537}",
		"{\"t\":\"accept\",\"c\":1,\"o\":0,\"s\":\"../x\"}",
		"{\"t\":\"accept\",\"c\":1,\"o\":0,\"s\":\"\"}",
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":0}",
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":0,\"d\":\"\"}",
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":0,\"d\":\"!!!!\"}",
		/* in-band offsets: required, whole, in range */
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"d\":\"QUJD\"}",
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":-1,\"d\":\"QUJD\"}",
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":\"0\",\"d\":\"QUJD\"}",
		"{\"t\":\"data\",\"c\":1,\"o\":0,\"a\":9007199254740992,\"d\":\"QUJD\"}",
		"{\"t\":\"shut\",\"c\":1,\"o\":0}",
		"{\"t\":\"close\",\"c\":1,\"o\":0}",
		"{\"t\":\"close\",\"c\":1,\"o\":0,\"a\":1.0}",
		"{\"t\":\"shut\",\"c\":1,\"o\":0,\"a\":0,\"x\":{\"y\":{\"z\":{}}}}", /* deep */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int e = dec(bad[i], &r);
		if (e != -EBADMSG)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK_EQ(e, -EBADMSG);
	}
	/* an embedded NUL hides the rest from json-c: refused */
	const char nul[] = "{\"t\":\"shut\",\"c\":1,\"o\":0,\"a\":0}\0garbage";
	CHECK_EQ(im_rpc_decode((const uint8_t *)nul, sizeof(nul) - 1, &r,
			       scratch, sizeof(scratch)), -EBADMSG);
	/* data larger than a chunk is refused even if it decodes */
	struct buf b;
	static uint8_t big[IM_INBAND_CHUNK + 1];
	buf_init(&b);
	CHECK_EQ(im_rpc_encode(&(struct im_rpc){ .type = RPC_DATA, .data = big,
						 .dlen = sizeof(big) }, &b), 0);
	CHECK_EQ(im_rpc_decode(buf_peek(&b), buf_len(&b), &r, scratch,
			       sizeof(scratch)), -EBADMSG);
	buf_free(&b);
	T_DONE();
}
