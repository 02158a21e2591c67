// SPDX-License-Identifier: MIT
/*
 * fuzz-im-rpc - the JSON control-message decoder (what a peer's helper
 * sends after decryption); a decoded message must re-encode and decode to
 * the same thing.
 */
#include "helpers/im/rpc.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t scratch[IM_PLAIN_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct im_rpc r, r2;
	static uint8_t scratch2[IM_PLAIN_MAX];
	struct buf b;

	if (im_rpc_decode(data, size, &r, scratch, sizeof(scratch)) < 0)
		return 0;
	buf_init(&b);
	if (im_rpc_encode(&r, &b) == 0) {
		if (im_rpc_decode(buf_peek(&b), buf_len(&b), &r2, scratch2,
				  sizeof(scratch2)) != 0 ||
		    r2.type != r.type || r2.cid != r.cid || r2.off != r.off ||
		    r2.dlen != r.dlen ||
		    (r.dlen && memcmp(r.data, r2.data, r.dlen)))
			__builtin_trap();
	}
	buf_free(&b);
	return 0;
}
