// SPDX-License-Identifier: MIT
/* libFuzzer target: the helper-protocol stream decoder and every payload
 * decoder, fed an arbitrary byte stream as a helper or dispatcher would
 * receive it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/helperproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in;
	struct so_hdr h;
	const uint8_t *p;
	struct so_connect c;
	struct so_addrpair a;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t buf[SO_FINISHED_LEN], cbuf[SO_CONNECT_MAX_LEN];

	buf_init(&in);
	buf_append(&in, data, size);
	while (so_next(&in, &h, &p) > 0) {
		/* every flag so_next() lets through (SO_F_FD among them)
		 * encodes back to the header it came from */
		uint8_t raw[SO_HDR_LEN];
		struct so_hdr h2;
		so_hdr_encode(raw, &h);
		if (so_hdr_decode(raw, &h2) < 0 || h2.flags != h.flags ||
		    (h.flags & ~(SO_F_ERROR | SO_F_EOF | SO_F_FD)))
			abort();
		if (so_connect_decode(p, h.len, &c) == 0) {
			so_addr_to_sa(&c.dst, &ss, &sl);
			/* one encoding per CONNECT, with or without a name */
			if (h.len > SO_CONNECT_MAX_LEN ||
			    so_connect_encode(cbuf, &c) != h.len ||
			    memcmp(cbuf, p, h.len) != 0 ||
			    strlen(c.name) > SO_MAX_NAME)
				abort();
		}
		if (so_addrpair_decode(p, h.len, &a) == 0)
			so_addr_to_sa(&a.peer, &ss, &sl);
		so_type_name(h.type);
		uint32_t caps;
		uint64_t up, down;
		if (so_caps_decode(p, h.len, &caps) == 0 && h.len &&
		    so_caps_encode(buf, caps) != SO_CAPS_LEN)
			abort();
		if (so_finished_decode(p, h.len, &up, &down) == 0) {
			so_finished_encode(buf, up, down);
			if (memcmp(buf, p, SO_FINISHED_LEN))
				abort(); /* decode and encode disagree */
		}
		so_done(&in, &h);
	}
	buf_free(&in);
	return 0;
}
