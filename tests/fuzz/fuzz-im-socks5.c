// SPDX-License-Identifier: MIT
/*
 * fuzz-im-socks5 - the proxy's SOCKS5 replies and the bytestream's frame
 * decoder, including secretstream pulls over whatever frames parse.
 */
#include "helpers/im/socks5.c"
#include "helpers/im/bytestream.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 + BS_FRAME_MAX + SS_AB];
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t key[32] = { 7 };
	int r;

	r = s5_parse_method(data, size);
	if (r > 0 && (size_t)r > size)
		__builtin_trap();
	r = s5_parse_reply(data, size);
	if (r > 0 && (size_t)r > size)
		__builtin_trap();
	if (size < SS_HDR)
		return 0;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&st, data, key))
		return 0;
	size_t off = SS_HDR;
	for (;;) {
		ssize_t fl = bs_frame_len(data + off, size - off);
		if (fl <= 0)
			break;
		if ((size_t)fl > size - off)
			__builtin_trap();
		unsigned long long ml;
		uint8_t tag;
		if (crypto_secretstream_xchacha20poly1305_pull(
			    &st, out, &ml, &tag, data + off + 4, (size_t)fl - 4,
			    NULL, 0) != 0)
			break;
		off += (size_t)fl;
	}
	return 0;
}
