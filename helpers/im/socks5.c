// SPDX-License-Identifier: MIT
/*
 * socks5.c - the few SOCKS5 messages of an XEP-0065 mediated bytestream.
 *
 * We only ever say "no authentication, CONNECT to domain name <40 hex
 * digits>, port 0" (the digits come from xep65.c), and we only parse the
 * proxy's two answers.  The
 * proxy (Prosody's mod_proxy65) expects each message in one read, so the
 * caller sends the request only after the method reply came back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "helpers/im/im.h"

void s5_greeting(uint8_t out[S5_GREETING_LEN])
{
	out[0] = 5; /* version */
	out[1] = 1; /* one method: */
	out[2] = 0; /* no authentication */
}

void s5_request(uint8_t out[S5_REQ_LEN], const char hex[41])
{
	out[0] = 5; /* version */
	out[1] = 1; /* CONNECT */
	out[2] = 0;
	out[3] = 3; /* domain name */
	out[4] = 40;
	memcpy(out + 5, hex, 40);
	out[45] = out[46] = 0; /* port 0 */
}

/**
 * s5_parse_method() - the proxy's method choice.
 * Returns 2 (consumed, no-auth chosen), 0 (need more bytes), -EPROTO (not
 * SOCKS5) or -ECONNREFUSED (no acceptable method).
 */
int s5_parse_method(const uint8_t *p, size_t len)
{
	if (len < 2)
		return len && p[0] != 5 ? -EPROTO : 0;
	if (p[0] != 5)
		return -EPROTO;
	return p[1] == 0 ? 2 : -ECONNREFUSED;
}

/**
 * s5_parse_reply() - the proxy's answer to CONNECT.
 * Returns the reply's length once complete and successful, 0 if more bytes
 * are needed, -EPROTO for garbage, -ECONNREFUSED for a refusal.
 */
int s5_parse_reply(const uint8_t *p, size_t len)
{
	size_t need;

	if (len < 2)
		return len && p[0] != 5 ? -EPROTO : 0;
	if (p[0] != 5)
		return -EPROTO;
	if (p[1] != 0)
		return -ECONNREFUSED;
	if (len < 5)
		return 0;
	if (p[2] != 0)
		return -EPROTO;
	switch (p[3]) {
	case 1:
		need = 4 + 4 + 2;
		break;
	case 4:
		need = 4 + 16 + 2;
		break;
	case 3:
		need = 4 + 1 + (size_t)p[4] + 2;
		break;
	default:
		return -EPROTO;
	}
	return len < need ? 0 : (int)need;
}
