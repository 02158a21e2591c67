// SPDX-License-Identifier: MIT
/*
 * test-im-crypto - the IM overlay's crypto layer with captured messages:
 * identities on disk, signed hellos (forged, tampered, wrong pinned key,
 * wrong JID pairing), session keys agreeing on both ends, sealed envelopes
 * (tampered, replayed, reordered within the window, too old, from another
 * session), bytestream keys, and the XEP-0065 address.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/im/crypto.c"
#include "helpers/im/xep65.c"
#include "t.h"

static void ids(struct im_identity *a, struct im_identity *b, char *dir)
{
	char pa[256], pb[256], pk[64];

	snprintf(pa, sizeof(pa), "%s/a", dir);
	snprintf(pb, sizeof(pb), "%s/b", dir);
	CHECK_EQ(im_identity_generate(pa, pk, sizeof(pk)), 0);
	CHECK_EQ(strlen(pk), 44u);
	CHECK_EQ(im_identity_generate(pa, pk, sizeof(pk)), -EEXIST);
	struct stat st;
	CHECK(stat(pa, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_EQ(im_identity_generate(pb, pk, sizeof(pk)), 0);
	CHECK_EQ(im_identity_load(pa, a), 0);
	CHECK_EQ(im_identity_load(pb, b), 0);
	uint8_t parsed[32];
	CHECK_EQ(im_pubkey_parse(pk, parsed), 0);
	CHECK(memcmp(parsed, b->pk, 32) == 0);
	CHECK(im_pubkey_parse("AAAA", parsed) < 0);
	/* a key readable by others is refused, like ssh does */
	chmod(pa, 0644);
	struct im_identity x;
	CHECK_EQ(im_identity_load(pa, &x), -EPERM);
	chmod(pa, 0600);
}

int main(void)
{
	char dir[] = "/tmp/test-im-crypto.XXXXXX";
	struct im_identity a, b;
	struct im_eph ea, eb;
	struct im_hello ha, hb, got;
	struct im_keys ka, kb, kx;
	uint8_t m[IM_HELLO_LEN], bad[IM_HELLO_LEN];

	CHECK_EQ(im_crypto_init(), 0);
	CHECK(mkdtemp(dir) != NULL);
	ids(&a, &b, dir);

	/* hellos: alice -> bob and back */
	CHECK_EQ(im_eph_new(&ea), 0);
	CHECK_EQ(im_eph_new(&eb), 0);
	memset(&ha, 0, sizeof(ha));
	ha.ts_ms = 1000;
	memcpy(ha.sid, ea.sid, IM_SID_LEN);
	memcpy(ha.eph, ea.pk, 32);
	im_hello_encode(m, &a, "alice@x", "bob@x", &ha);
	CHECK_EQ(im_msg_type(m, sizeof(m)), IM_T_HELLO);
	CHECK_EQ(im_hello_decode(m, sizeof(m), a.pk, "alice@x", "bob@x", &got), 0);
	CHECK(memcmp(got.eph, ea.pk, 32) == 0 && got.ts_ms == 1000);
	/* wrong pinned key, wrong pairing, every single bit flipped */
	CHECK_EQ(im_hello_decode(m, sizeof(m), b.pk, "alice@x", "bob@x", &got), -EBADMSG);
	CHECK_EQ(im_hello_decode(m, sizeof(m), a.pk, "alice@x", "carol@x", &got), -EBADMSG);
	CHECK_EQ(im_hello_decode(m, sizeof(m), a.pk, "mallory@x", "bob@x", &got), -EBADMSG);
	int flips_ok = 0;
	for (size_t i = 0; i < sizeof(m) * 8; i++) {
		memcpy(bad, m, sizeof(m));
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		flips_ok += im_hello_decode(bad, sizeof(bad), a.pk, "alice@x",
					    "bob@x", &got) == 0;
	}
	CHECK_EQ(flips_ok, 0);
	CHECK_EQ(im_msg_type(m, sizeof(m) - 1), -EBADMSG);

	memset(&hb, 0, sizeof(hb));
	hb.ts_ms = 2000;
	memcpy(hb.sid, eb.sid, IM_SID_LEN);
	memcpy(hb.echo, ea.sid, IM_SID_LEN);
	memcpy(hb.eph, eb.pk, 32);

	/* both ends derive the same keys, crossed */
	memset(&ka, 0, sizeof(ka));
	memset(&kb, 0, sizeof(kb));
	CHECK_EQ(im_keys_derive(&ka, &ea, a.pk, &hb, b.pk), 0);
	CHECK_EQ(im_keys_derive(&kb, &eb, b.pk, &ha, a.pk), 0);
	CHECK(memcmp(ka.tx, kb.rx, 32) == 0 && memcmp(ka.rx, kb.tx, 32) == 0);
	CHECK(memcmp(ka.tx, ka.rx, 32) != 0);
	CHECK(memcmp(ka.key_id, kb.key_id, 8) == 0);
	/* our own hello reflected back is refused */
	CHECK_EQ(im_keys_derive(&kx, &ea, a.pk, &ha, a.pk), -EINVAL);

	/* captured sealed messages */
	const char *msg = "{\"t\":\"shut\",\"c\":1,\"o\":1}";
	uint8_t cap[5][256], out[256];
	size_t cl[5];
	for (int i = 0; i < 5; i++)
		cl[i] = im_seal(&ka, "alice@x", "bob@x", (const uint8_t *)msg,
				strlen(msg), cap[i]);
	CHECK_EQ(cl[0], IM_SEAL_HDR + strlen(msg) + IM_TAG_LEN);
	CHECK_EQ(im_open(&kb, "alice@x", "bob@x", cap[0], cl[0], out),
		 (ssize_t)strlen(msg));
	CHECK(memcmp(out, msg, strlen(msg)) == 0);
	/* replayed */
	CHECK_EQ(im_open(&kb, "alice@x", "bob@x", cap[0], cl[0], out), -EALREADY);
	/* reordered inside the window: 2 before 1 */
	CHECK(im_open(&kb, "alice@x", "bob@x", cap[2], cl[2], out) > 0);
	CHECK(im_open(&kb, "alice@x", "bob@x", cap[1], cl[1], out) > 0);
	CHECK_EQ(im_open(&kb, "alice@x", "bob@x", cap[1], cl[1], out), -EALREADY);
	/* tampered: any bit of header, ciphertext or tag */
	int tamper_ok = 0;
	for (size_t i = 0; i < cl[3] * 8; i++) {
		uint8_t t[256];
		memcpy(t, cap[3], cl[3]);
		t[i / 8] ^= (uint8_t)(1u << (i % 8));
		tamper_ok += im_open(&kb, "alice@x", "bob@x", t, cl[3], out) >= 0;
	}
	CHECK_EQ(tamper_ok, 0);
	/* the untampered one still opens (forgeries did not move the window) */
	CHECK(im_open(&kb, "alice@x", "bob@x", cap[3], cl[3], out) > 0);
	/* bound to the JIDs: relayed as if from someone else */
	CHECK_EQ(im_open(&kb, "mallory@x", "bob@x", cap[4], cl[4], out), -EBADMSG);
	/* in the wrong direction (our own message reflected) */
	CHECK(im_open(&ka, "alice@x", "bob@x", cap[4], cl[4], out) < 0);
	/* another session's key */
	struct im_eph ec;
	struct im_keys kc;
	memset(&kc, 0, sizeof(kc));
	im_eph_new(&ec);
	CHECK_EQ(im_keys_derive(&kc, &ec, b.pk, &ha, a.pk), 0);
	CHECK_EQ(im_open(&kc, "alice@x", "bob@x", cap[4], cl[4], out), -EBADMSG);

	/* replay window: too old is refused, far jumps clear it */
	struct im_keys w;
	memset(&w, 0, sizeof(w));
	CHECK_EQ(im_replay_check(&w, 100, true), 0);
	CHECK_EQ(im_replay_check(&w, 100, true), -EALREADY);
	CHECK_EQ(im_replay_check(&w, 100 - 63, true), 0);
	CHECK_EQ(im_replay_check(&w, 100 - 64, true), -EALREADY);
	CHECK_EQ(im_replay_check(&w, 1000, true), 0);
	CHECK_EQ(im_replay_check(&w, 999, true), 0);
	CHECK_EQ(im_replay_check(&w, 999, false), -EALREADY);
	CHECK_EQ(im_replay_check(&w, UINT64_MAX, true), -EALREADY);

	/* bytestream keys: initiator's tx is target's rx */
	uint8_t itx[32], irx[32], ttx[32], trx[32];
	im_bs_keys(&ka, "abc", true, itx, irx);
	im_bs_keys(&kb, "abc", false, ttx, trx);
	CHECK(memcmp(itx, trx, 32) == 0 && memcmp(irx, ttx, 32) == 0);
	im_bs_keys(&kb, "abd", false, ttx, trx);
	CHECK(memcmp(itx, trx, 32) != 0);

	/* XEP-0065: SHA-1 of sid + initiator + target (checked with sha1sum) */
	char hex[41];
	CHECK_EQ(s5_dst_addr("vxf9n471bn46", "requester@example.com/foo",
			     "target@example.org/bar", hex), 0);
	CHECK_STR(hex, "98b8d688d0f5d895fd41c5e7309a2e9e33ba32ff");

	im_identity_free(&a);
	im_identity_free(&b);
	char p[300];
	snprintf(p, sizeof(p), "%s/a", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/b", dir);
	unlink(p);
	rmdir(dir);
	T_DONE();
}
