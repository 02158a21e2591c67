// SPDX-License-Identifier: MIT
/*
 * fuzz-im-envelope - what arrives from the XMPP server before any JSON:
 * the message type, a hello's signature check, and opening a sealed
 * envelope under fixed session keys (with its replay window).  The first
 * input byte picks the path so one corpus covers all three.
 */
#include "helpers/im/crypto.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct im_keys keys;
static uint8_t peer_pk[32];
static int ready;

static void setup(void)
{
	struct im_eph a, b;
	struct im_hello hb;
	uint8_t ida[32], idb[32];

	im_crypto_init();
	/* fixed, deterministic keys: a corpus entry stays meaningful */
	memset(&a, 1, sizeof(a));
	memset(&b, 2, sizeof(b));
	crypto_scalarmult_base(a.pk, a.sk);
	crypto_scalarmult_base(b.pk, b.sk);
	memset(ida, 3, sizeof(ida));
	memset(idb, 4, sizeof(idb));
	memset(&hb, 0, sizeof(hb));
	memcpy(hb.eph, b.pk, 32);
	memcpy(hb.sid, b.sid, IM_SID_LEN);
	im_keys_derive(&keys, &a, ida, &hb, idb);
	memset(peer_pk, 5, sizeof(peer_pk));
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[IM_PLAIN_MAX + IM_SEAL_HDR + IM_TAG_LEN];
	struct im_hello h;

	if (!ready)
		setup();
	if (size < 1 || size > sizeof(out))
		return 0;
	int t = im_msg_type(data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (t == IM_T_HELLO &&
		    im_hello_decode(data + 1, size - 1, peer_pk, "a@x", "b@x",
				    &h) == 0)
			__builtin_trap(); /* nobody has the key: cannot verify */
		break;
	case 1:
	case 2: {
		keys.rx_top = 0;
		keys.rx_bitmap = 0;
		ssize_t n = im_open(&keys, "b@x", "a@x", data + 1, size - 1,
				    out);
		if (n >= 0)
			__builtin_trap(); /* forged without the key */
		break;
	}
	}
	return 0;
}
