// SPDX-License-Identifier: MIT
/* libFuzzer target: the helper-protocol stream decoder and every payload
 * decoder, fed an arbitrary byte stream as a helper or dispatcher would
 * receive it. */
#include <stddef.h>
#include <stdint.h>

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

	buf_init(&in);
	buf_append(&in, data, size);
	while (so_next(&in, &h, &p) > 0) {
		if (so_connect_decode(p, h.len, &c) == 0)
			so_addr_to_sa(&c.dst, &ss, &sl);
		if (so_addrpair_decode(p, h.len, &a) == 0)
			so_addr_to_sa(&a.peer, &ss, &sl);
		so_type_name(h.type);
		so_done(&in, &h);
	}
	buf_free(&in);
	return 0;
}
