// SPDX-License-Identifier: MIT
/* test-ssh-rdv - sockout-ssh's TARGET parser and rendezvous header codec:
 * layout, HMAC-SHA256 against independently computed values, and that a
 * forged, tampered, replayed or version-1 header is refused. */
#include "helpers/ssh/rdv.c"

#include <stdio.h>

#include "t.h"

static const uint8_t K[] = "0123456789abcdef0123456789abcdef";
static const struct rdv_key key = { K, 32 };

static void hexout(uint8_t *out, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void test_challenge(void)
{
	uint8_t p[RDV_CHAL_LEN], nb[RDV_NONCE], got[RDV_NONCE];

	for (int i = 0; i < RDV_NONCE; i++)
		nb[i] = (uint8_t)(16 + i);
	rdv_chal_encode(p, nb);
	CHECK(memcmp(p, "SOrc\x02\x00\x00\x00", 8) == 0);
	CHECK(memcmp(p + 8, nb, RDV_NONCE) == 0);
	CHECK_EQ(rdv_chal_decode(p, 7, got), -EAGAIN);
	CHECK_EQ(rdv_chal_decode(p, 8, got), -EAGAIN);
	CHECK_EQ(rdv_chal_decode(p, RDV_CHAL_LEN, got), 0);
	CHECK(memcmp(got, nb, RDV_NONCE) == 0);
	p[6] = 1;
	CHECK_EQ(rdv_chal_decode(p, RDV_CHAL_LEN, got), -EPROTO);
	p[6] = 0;
	p[4] = 1;
	CHECK_EQ(rdv_chal_decode(p, RDV_CHAL_LEN, got), -EPROTONOSUPPORT);
	/* A version-1 reply is not a challenge (an old peer answering). */
	CHECK_EQ(rdv_chal_decode((const uint8_t *)"SOrp\x01\x00\x00\x00", 8,
				 got),
		 -EPROTO);
}

static void test_request(void)
{
	uint8_t p[RDV_REQ_LEN], q[RDV_REQ_LEN], na[RDV_NONCE], nb[RDV_NONCE],
		got[RDV_NONCE], want_mac[RDV_MAC], zero_key_mac[RDV_MAC];
	uint16_t port = 0, rport = 0;
	const struct rdv_key other = { (const uint8_t *)"another key, of 32 bytes or more", 32 };
	const struct rdv_key none = { NULL, 0 };

	for (int i = 0; i < RDV_NONCE; i++) {
		na[i] = (uint8_t)i;
		nb[i] = (uint8_t)(16 + i);
	}
	CHECK_EQ(rdv_req_encode(p, 8080, 40080, na, nb, &key), 0);
	/* The layout of docs/ssh.md, and HMAC-SHA256 as Python's hmac
	 * module computes it over request[0..28) || nonce_b. */
	CHECK(memcmp(p, "SOrq\x02\x00\x1f\x90\x9c\x90\x00\x00", 12) == 0);
	CHECK(memcmp(p + 12, na, RDV_NONCE) == 0);
	hexout(want_mac, "ff504f5ba648cec0546331fa7ce6ee05"
			 "f69da99aaf26658c75899c691ea4076a");
	CHECK(memcmp(p + 28, want_mac, RDV_MAC) == 0);

	CHECK_EQ(rdv_req_decode(p, RDV_REQ_LEN, nb, &key, &port, &rport, got), 0);
	CHECK_EQ(port, 8080);
	CHECK_EQ(rport, 40080);
	CHECK(memcmp(got, na, RDV_NONCE) == 0);
	CHECK_EQ(rdv_req_decode(p, 7, nb, &key, &port, &rport, got), -EAGAIN);
	CHECK_EQ(rdv_req_decode(p, RDV_REQ_LEN - 1, nb, &key, &port, &rport,
				got),
		 -EAGAIN);

	/* Another key: not authentic. */
	CHECK_EQ(rdv_req_decode(p, RDV_REQ_LEN, nb, &other, &port, &rport, got),
		 -EBADMSG);
	/* Replayed: the same genuine request against a fresh challenge. */
	uint8_t nb2[RDV_NONCE];
	memcpy(nb2, nb, RDV_NONCE);
	nb2[0] ^= 1;
	CHECK_EQ(rdv_req_decode(p, RDV_REQ_LEN, nb2, &key, &port, &rport, got),
		 -EBADMSG);
	/* Any field changed, the MAC itself included: not authentic. */
	for (size_t i = 6; i < RDV_REQ_LEN; i++) {
		memcpy(q, p, sizeof(q));
		q[i] ^= 0x40;
		CHECK_EQ(rdv_req_decode(q, RDV_REQ_LEN, nb, &key, &port, &rport,
					got),
			 -EBADMSG);
	}
	/* The forged version-1 header of the old protocol is refused as
	 * soon as its 8 bytes are there. */
	CHECK_EQ(rdv_req_decode((const uint8_t *)"SOrq\x01\x00\x1f\x90", 8, nb,
				&key, &port, &rport, got),
		 -EPROTONOSUPPORT);
	CHECK_EQ(rdv_req_decode((const uint8_t *)"GET / HTTP/1.0\r\n", 16, nb,
				&key, &port, &rport, got),
		 -EPROTO);
	/* `rendezvous-key none' is the empty key: it works between two
	 * helpers that both say none, and is refused by one with a key. */
	CHECK_EQ(rdv_req_encode(q, 8080, 40080, na, nb, &none), 0);
	memcpy(zero_key_mac, q + 28, RDV_MAC);
	CHECK(memcmp(zero_key_mac, want_mac, RDV_MAC) != 0);
	CHECK_EQ(rdv_req_decode(q, RDV_REQ_LEN, nb, &none, &port, &rport, got), 0);
	CHECK_EQ(rdv_req_decode(q, RDV_REQ_LEN, nb, &key, &port, &rport, got),
		 -EBADMSG);
}

static void test_reply(void)
{
	uint8_t p[RDV_REP_LEN], na[RDV_NONCE], nb[RDV_NONCE], want_mac[RDV_MAC];
	int e = -1;

	for (int i = 0; i < RDV_NONCE; i++) {
		na[i] = (uint8_t)i;
		nb[i] = (uint8_t)(16 + i);
	}
	CHECK_EQ(rdv_rep_encode(p, 0, na, nb, &key), 0);
	CHECK(memcmp(p, "SOrp\x02\x00\x00\x00", 8) == 0);
	hexout(want_mac, "e6cf662590cdddd8d1e88f670139bf5b"
			 "fc1c7daac997044d039d9c0a87ea59a0");
	CHECK(memcmp(p + 8, want_mac, RDV_MAC) == 0);
	CHECK_EQ(rdv_rep_decode(p, RDV_REP_LEN, na, nb, &key, &e), 0);
	CHECK_EQ(e, 0);
	CHECK_EQ(rdv_rep_decode(p, RDV_REP_LEN - 1, na, nb, &key, &e), -EAGAIN);
	/* A reply made for another request (other nonces) is refused. */
	CHECK_EQ(rdv_rep_decode(p, RDV_REP_LEN, nb, na, &key, &e), -EBADMSG);
	p[7] = ECONNREFUSED; /* an impostor turning OK into a refusal */
	CHECK_EQ(rdv_rep_decode(p, RDV_REP_LEN, na, nb, &key, &e), -EBADMSG);
	CHECK_EQ(rdv_rep_encode(p, -ECONNREFUSED, na, nb, &key), 0);
	CHECK_EQ(rdv_rep_decode(p, RDV_REP_LEN, na, nb, &key, &e), 0);
	CHECK_EQ(e, ECONNREFUSED);
	CHECK_EQ(rdv_rep_encode(p, 100000, na, nb, &key), 0);
	CHECK_EQ(rdv_rep_decode(p, RDV_REP_LEN, na, nb, &key, &e), 0);
	CHECK_EQ(e, ECONNREFUSED);
	/* A request is no reply. */
	uint8_t q[RDV_REQ_LEN];
	CHECK_EQ(rdv_req_encode(q, 8080, 40080, na, nb, &key), 0);
	CHECK_EQ(rdv_rep_decode(q, RDV_REP_LEN, na, nb, &key, &e), -EPROTO);
}

static void test_target(void)
{
	struct ssh_target t;

	CHECK_EQ(ssh_target_parse("", &t), 0);
	CHECK_EQ(t.kind, TGT_DEFAULT);
	CHECK_EQ(ssh_target_parse("127.0.0.1:22", &t), 0);
	CHECK_EQ(t.kind, TGT_HOSTPORT);
	CHECK_STR(t.host, "127.0.0.1");
	CHECK_EQ(t.port, 22);
	CHECK_EQ(ssh_target_parse("db.example.org", &t), 0);
	CHECK_EQ(t.kind, TGT_HOSTPORT);
	CHECK_EQ(t.port, 0);
	CHECK_EQ(ssh_target_parse("[::1]:80", &t), 0);
	CHECK_STR(t.host, "::1");
	CHECK_EQ(t.port, 80);
	CHECK_EQ(ssh_target_parse("::1", &t), 0);
	CHECK_STR(t.host, "::1");
	CHECK_EQ(t.port, 0);
	CHECK_EQ(ssh_target_parse("peer", &t), 0);
	CHECK_EQ(t.kind, TGT_PEER_ONLY);
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1:40080", &t), 0);
	CHECK_EQ(t.kind, TGT_PEER);
	CHECK_EQ(t.port, 40080);
	CHECK_EQ(t.peer_port, 0);
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1:40080 port 8080", &t), 0);
	CHECK_EQ(t.peer_port, 8080);
	CHECK_EQ(ssh_target_parse("peer:127.0.0.1:40080/8080", &t), 0);
	CHECK_EQ(t.kind, TGT_PEER);
	CHECK_STR(t.host, "127.0.0.1");
	CHECK_EQ(t.port, 40080);
	CHECK_EQ(t.peer_port, 8080);
	CHECK_EQ(ssh_target_parse("peer:[::1]:40080", &t), 0);
	CHECK_STR(t.host, "::1");
	CHECK_EQ(t.peer_port, 0);
	/* broken ones */
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1:1 port", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1:1 port 0", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1:1 port 70000", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("peer 127.0.0.1:1 port 1 x", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("peer:127.0.0.1:1/", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("peer:127.0.0.1", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("a:1 b:2", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("host:0", &t), -EINVAL);
	CHECK_EQ(ssh_target_parse("host:x", &t), -EINVAL);
}

int main(void)
{
	test_challenge();
	test_request();
	test_reply();
	test_target();
	T_DONE();
}
