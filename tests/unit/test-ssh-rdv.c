// SPDX-License-Identifier: MIT
/* test-ssh-rdv - sockout-ssh's TARGET parser and rendezvous header codec. */
#include "helpers/ssh/rdv.c"

#include "t.h"

static void test_header(void)
{
	uint8_t p[RDV_LEN];
	uint16_t port = 0;
	int e = -1;

	rdv_req_encode(p, 8080);
	CHECK(memcmp(p, "SOrq\x01\x00\x1f\x90", 8) == 0);
	CHECK_EQ(rdv_req_decode(p, 8, &port), 0);
	CHECK_EQ(port, 8080);
	CHECK_EQ(rdv_req_decode(p, 7, &port), -EAGAIN);
	CHECK_EQ(rdv_rep_decode(p, 8, &e), -EPROTO); /* a request is no reply */
	p[4] = 2;
	CHECK_EQ(rdv_req_decode(p, 8, &port), -EPROTONOSUPPORT);
	p[4] = 1;
	p[6] = p[7] = 0;
	CHECK_EQ(rdv_req_decode(p, 8, &port), -EPROTO); /* port 0 */
	p[5] = 1;
	CHECK_EQ(rdv_req_decode(p, 8, &port), -EPROTO); /* reserved byte */

	rdv_rep_encode(p, 0);
	CHECK(memcmp(p, "SOrp\x01\x00\x00\x00", 8) == 0);
	CHECK_EQ(rdv_rep_decode(p, 8, &e), 0);
	CHECK_EQ(e, 0);
	rdv_rep_encode(p, -ECONNREFUSED);
	CHECK_EQ(rdv_rep_decode(p, 8, &e), 0);
	CHECK_EQ(e, ECONNREFUSED);
	rdv_rep_encode(p, 100000);
	CHECK_EQ(rdv_rep_decode(p, 8, &e), 0);
	CHECK_EQ(e, ECONNREFUSED);
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
	test_header();
	test_target();
	T_DONE();
}
