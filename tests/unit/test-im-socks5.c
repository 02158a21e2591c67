// SPDX-License-Identifier: MIT
/*
 * test-im-socks5 - the SOCKS5 client codec against the exact bytes
 * Prosody's mod_proxy65 sends, and the bytestream frame length decoder.
 */
#include "helpers/im/socks5.c"
#include "t.h"

int bs_frame_len_test(void);

int main(void)
{
	uint8_t g[S5_GREETING_LEN], req[S5_REQ_LEN];
	char hex[41];

	s5_greeting(g);
	CHECK(g[0] == 5 && g[1] == 1 && g[2] == 0);
	memset(hex, 'a', 40);
	hex[40] = '\0';
	s5_request(req, hex);
	/* what mod_proxy65 checks: 47 bytes, "\5\1\0\3\40" ... "\0\0" */
	CHECK(memcmp(req, "\5\1\0\3\50", 5) == 0);
	CHECK(req[45] == 0 && req[46] == 0);

	CHECK_EQ(s5_parse_method((const uint8_t *)"", 0), 0);
	CHECK_EQ(s5_parse_method((const uint8_t *)"\5", 1), 0);
	CHECK_EQ(s5_parse_method((const uint8_t *)"\5\0", 2), 2);
	CHECK_EQ(s5_parse_method((const uint8_t *)"\5\377", 2), -ECONNREFUSED);
	CHECK_EQ(s5_parse_method((const uint8_t *)"\4\0", 2), -EPROTO);
	CHECK_EQ(s5_parse_method((const uint8_t *)"H", 1), -EPROTO);

	/* Prosody's success reply echoes the domain: 5+40+2 bytes */
	uint8_t ok[47];
	memcpy(ok, "\5\0\0\3\50", 5);
	memcpy(ok + 5, hex, 40);
	ok[45] = ok[46] = 0;
	for (size_t n = 0; n < sizeof(ok); n++)
		CHECK_EQ(s5_parse_reply(ok, n), 0);
	CHECK_EQ(s5_parse_reply(ok, sizeof(ok)), 47);
	/* its refusal: "\5\1\0\3\0\0\0" */
	CHECK_EQ(s5_parse_reply((const uint8_t *)"\5\1\0\3\0\0\0", 7), -ECONNREFUSED);
	CHECK_EQ(s5_parse_reply((const uint8_t *)"\5\0\0\1\1\2\3\4\0\1", 10), 10);
	CHECK_EQ(s5_parse_reply((const uint8_t *)"\5\0\0\1\1\2\3\4\0", 9), 0);
	CHECK_EQ(s5_parse_reply((const uint8_t *)"\5\0\0\7\0", 5), -EPROTO);
	CHECK_EQ(s5_parse_reply((const uint8_t *)"\5\0\1\1\0", 5), -EPROTO);
	CHECK_EQ(bs_frame_len_test(), 0);
	T_DONE();
}

/* bytestream.c's frame decoder, included at the end: it brings the
 * runtime's symbols, which LIBCOMMON provides. */
#include "helpers/im/bytestream.c"

int bs_frame_len_test(void)
{
	uint8_t f[8] = { 0, 0, 0, 18, 1, 2, 3, 4 };
	int bad = 0;

	bad += bs_frame_len(f, 3) != 0;
	bad += bs_frame_len(f, 8) != 0;	/* 4 + 18 needed */
	f[3] = 17;			/* tag only, no kind byte */
	bad += bs_frame_len(f, 8) != -EPROTO;
	f[1] = 2;			/* 128 KiB: too big */
	bad += bs_frame_len(f, 8) != -EPROTO;
	uint8_t g[4 + 18] = { 0, 0, 0, 18 };
	bad += bs_frame_len(g, sizeof(g)) != (ssize_t)sizeof(g);
	return bad;
}
