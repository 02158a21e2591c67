// SPDX-License-Identifier: MIT
/*
 * test-dns-wire.c - sockoutd's DNS codec (dispatcher/dns-wire.c): queries
 * built and replies read with ldns, as a client would.  What a question
 * turns into (name, family, size the client takes), each answer kind
 * (alias then addresses, NXDOMAIN, NODATA, SERVFAIL), PTR names of both
 * families, the refusals, malformed queries, and TC cutting.
 */
#include "../../dispatcher/dns-wire.c"

#include <strings.h>

#include "t.h"

/* a query for @name @type (class IN, RD) with ID @id, EDNS0 size @edns
 * (0: none), in wire form */
static uint8_t *mkquery(const char *name, ldns_rr_type type, uint16_t id,
			uint16_t edns, size_t *len)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;

	if (ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN,
				       LDNS_RD) != LDNS_STATUS_OK)
		return NULL;
	ldns_pkt_set_id(p, id);
	if (edns)
		ldns_pkt_set_edns_udp_size(p, edns);
	if (ldns_pkt2wire(&w, p, len) != LDNS_STATUS_OK)
		w = NULL;
	ldns_pkt_free(p);
	return w;
}

static ldns_pkt *parse(const uint8_t *w, size_t len)
{
	ldns_pkt *p = NULL;

	if (!w || ldns_wire2pkt(&p, w, len) != LDNS_STATUS_OK)
		return NULL;
	return p;
}

/* decode @name @type, expect @verdict; fills @q */
static int decode(const char *name, ldns_rr_type type, uint16_t edns, bool tcp,
		  struct dns_q *q, ldns_pkt **reply)
{
	size_t len, olen;
	uint8_t *w = mkquery(name, type, 0x1234, edns, &len), *out = NULL;
	int v = dns_decode(w, len, tcp, q, &out, &olen);

	*reply = v == DNS_ANSWERED ? parse(out, olen) : NULL;
	free(out);
	free(w);
	return v;
}

static ldns_pkt *answer(const struct dns_q *q, const struct resolve_answer *a,
			size_t *olen)
{
	uint8_t *out = NULL;
	ldns_pkt *p;

	CHECK_EQ(dns_encode(q, a, &out, olen), 0);
	p = parse(out, *olen);
	free(out);
	return p;
}

static ldns_rr *an(const ldns_pkt *p, size_t i)
{
	return ldns_rr_list_rr(ldns_pkt_answer(p), i);
}

static void test_forward(void)
{
	struct resolve_answer a = { .ttl = 42 };
	struct dns_q q;
	ldns_pkt *r;
	size_t olen;
	char *s;

	CHECK_EQ(decode("WWW.Example.", LDNS_RR_TYPE_A, 4096, false, &q, &r),
		 DNS_RESOLVE);
	CHECK_STR(q.name, "www.example");
	CHECK_EQ(q.family, AF_INET);
	CHECK_EQ(q.max, 4096u);
	/* an alias: the CNAME first, owned by the name as asked; then only
	 * the family asked, owned by the canonical name */
	snprintf(a.canon, sizeof(a.canon), "canon.example");
	a.n = 2;
	a.addr[0] = (struct so_addr){ .family = 6, .addr = { 0x20, 1, 0xd, 0xb8 } };
	a.addr[1] = (struct so_addr){ .family = 4, .addr = { 192, 0, 2, 9 } };
	r = answer(&q, &a, &olen);
	CHECK(r != NULL);
	CHECK_EQ(ldns_pkt_id(r), 0x1234);
	CHECK(ldns_pkt_qr(r) && ldns_pkt_ra(r) && ldns_pkt_rd(r) && !ldns_pkt_aa(r));
	CHECK_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	CHECK_EQ(ldns_pkt_qdcount(r), 1);
	CHECK_EQ(ldns_pkt_ancount(r), 2);
	CHECK(ldns_pkt_edns(r) && ldns_pkt_edns_udp_size(r) == DNS_EDNS_SIZE);
	CHECK_EQ(ldns_rr_get_type(an(r, 0)), LDNS_RR_TYPE_CNAME);
	s = ldns_rdf2str(ldns_rr_owner(an(r, 0)));
	CHECK_STR(s, "WWW.Example.");
	free(s);
	/* (compressed against the question: its suffix's case may show) */
	s = ldns_rdf2str(ldns_rr_rdf(an(r, 0), 0));
	CHECK(strcasecmp(s, "canon.example.") == 0);
	free(s);
	CHECK_EQ(ldns_rr_get_type(an(r, 1)), LDNS_RR_TYPE_A);
	CHECK_EQ(ldns_rr_ttl(an(r, 1)), 42u);
	s = ldns_rdf2str(ldns_rr_rdf(an(r, 1), 0));
	CHECK_STR(s, "192.0.2.9");
	free(s);
	ldns_pkt_free(r);

	/* negative answers: no records, the RCODE says it */
	a.n = 0;
	a.canon[0] = 0;
	a.status = -ENOENT;
	r = answer(&q, &a, &olen);
	CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_NXDOMAIN &&
	      !ldns_pkt_ancount(r) && ldns_pkt_qdcount(r) == 1);
	ldns_pkt_free(r);
	a.status = -ENODATA;
	r = answer(&q, &a, &olen);
	CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_NOERROR && !ldns_pkt_ancount(r));
	ldns_pkt_free(r);
	a.status = -EAGAIN;
	r = answer(&q, &a, &olen);
	CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(r);
	dns_q_free(&q);

	/* CNAME and AAAA ask for both or the other family */
	CHECK_EQ(decode("a.example.", LDNS_RR_TYPE_CNAME, 0, false, &q, &r),
		 DNS_RESOLVE);
	CHECK_EQ(q.family, AF_UNSPEC);
	CHECK_EQ(q.max, 512u); /* no EDNS0: 512 over UDP */
	dns_q_free(&q);
	CHECK_EQ(decode("a.example.", LDNS_RR_TYPE_AAAA, 0, true, &q, &r),
		 DNS_RESOLVE);
	CHECK_EQ(q.family, AF_INET6);
	CHECK_EQ(q.max, (size_t)GP_DNS_MAX); /* TCP */
	dns_q_free(&q);
}

/* An answer over 512 bytes: over UDP cut to nothing with TC, whole over
 * TCP. */
static void test_truncation(void)
{
	char q1[256], c1[256];
	struct resolve_answer a = { .ttl = 1, .n = 4 };
	struct dns_q q;
	ldns_pkt *r;
	size_t olen;

	snprintf(q1, sizeof(q1), "%1$.60s.%1$.60s.%1$.60s.%1$.60s.e.",
		 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll");
	snprintf(c1, sizeof(c1), "%1$.60s.%1$.60s.%1$.60s.%1$.60s.c",
		 "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm");
	snprintf(a.canon, sizeof(a.canon), "%s", c1);
	for (unsigned i = 0; i < a.n; i++)
		a.addr[i] = (struct so_addr){ .family = 4, .addr = { 192, 0, 2, (uint8_t)i } };
	for (int tcp = 0; tcp < 2; tcp++) {
		CHECK_EQ(decode(q1, LDNS_RR_TYPE_A, 0, tcp, &q, &r), DNS_RESOLVE);
		r = answer(&q, &a, &olen);
		CHECK(r != NULL);
		if (tcp) {
			CHECK(!ldns_pkt_tc(r) && ldns_pkt_ancount(r) == 5);
			CHECK(olen > 512);
		} else {
			CHECK(ldns_pkt_tc(r) && !ldns_pkt_ancount(r));
			CHECK(olen <= 512);
			CHECK_EQ(ldns_pkt_qdcount(r), 1);
		}
		ldns_pkt_free(r);
		dns_q_free(&q);
	}
}

static void test_ptr(void)
{
	static const uint8_t v6[16] = { 0x20, 1, 0xd, 0xb8, [15] = 0x1f };
	char n6[128] = "";
	struct dns_q q;
	ldns_pkt *r;

	CHECK_EQ(decode("9.2.0.192.in-addr.arpa.", LDNS_RR_TYPE_PTR, 0, false,
			&q, &r), DNS_REVERSE);
	CHECK(q.ptr.family == 4 && !memcmp(q.ptr.addr, "\xc0\x00\x02\x09", 4));
	dns_q_free(&q);
	for (int i = 15; i >= 0; i--) {
		char b[8];

		snprintf(b, sizeof(b), "%x.%x.", v6[i] & 15, v6[i] >> 4);
		strcat(n6, b);
	}
	strcat(n6, "ip6.arpa.");
	CHECK_EQ(decode(n6, LDNS_RR_TYPE_PTR, 0, false, &q, &r), DNS_REVERSE);
	CHECK(q.ptr.family == 6 && !memcmp(q.ptr.addr, v6, 16));
	dns_q_free(&q);
	/* the name comes back for a placeholder */
	uint8_t *out = NULL;
	size_t olen;
	CHECK_EQ(decode("1.2.0.192.in-addr.arpa.", LDNS_RR_TYPE_PTR, 0, false,
			&q, &r), DNS_REVERSE);
	CHECK_EQ(dns_encode_ptr(&q, "db.corp.example", 60, &out, &olen), 0);
	r = parse(out, olen);
	free(out);
	CHECK(r && ldns_pkt_ancount(r) == 1 &&
	      ldns_rr_get_type(an(r, 0)) == LDNS_RR_TYPE_PTR);
	if (r) {
		char *s = ldns_rdf2str(ldns_rr_rdf(an(r, 0), 0));

		CHECK_STR(s, "db.corp.example.");
		free(s);
	}
	ldns_pkt_free(r);
	dns_q_free(&q);
	/* not an address: refused at once */
	static const char *const bad[] = { "2.0.192.in-addr.arpa.",
					   "300.2.0.192.in-addr.arpa.",
					   "1.2.3.4.5.in-addr.arpa.",
					   "x.ip6.arpa.", "example." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(decode(bad[i], LDNS_RR_TYPE_PTR, 0, false, &q, &r),
			 DNS_ANSWERED);
		CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_REFUSED &&
		      ldns_pkt_qdcount(r) == 1);
		ldns_pkt_free(r);
	}
}

static void test_refusals(void)
{
	uint8_t hdr[40] = { 0xab, 0xcd, 0x01, 0x00, 0x00, 0x05 }, *out = NULL;
	struct dns_q q;
	ldns_pkt *r;
	size_t olen;

	/* other types and classes */
	CHECK_EQ(decode("a.example.", LDNS_RR_TYPE_MX, 0, false, &q, &r),
		 DNS_ANSWERED);
	CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_REFUSED &&
	      ldns_pkt_id(r) == 0x1234 && ldns_pkt_qdcount(r) == 1);
	ldns_pkt_free(r);
	CHECK_EQ(decode("a.example.", LDNS_RR_TYPE_ANY, 0, false, &q, &r),
		 DNS_ANSWERED);
	CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_REFUSED);
	ldns_pkt_free(r);
	/* five questions claimed, none there: FORMERR, the ID echoed */
	CHECK_EQ(dns_decode(hdr, sizeof(hdr), false, &q, &out, &olen),
		 DNS_ANSWERED);
	r = parse(out, olen);
	free(out);
	CHECK(r && ldns_pkt_get_rcode(r) == LDNS_RCODE_FORMERR &&
	      ldns_pkt_id(r) == 0xabcd && ldns_pkt_qr(r));
	ldns_pkt_free(r);
	/* another opcode: NOTIMP */
	hdr[2] = 0x10; /* opcode 2 */
	CHECK_EQ(dns_decode(hdr, sizeof(hdr), false, &q, &out, &olen),
		 DNS_ANSWERED);
	CHECK(olen >= 12 && LDNS_RCODE_WIRE(out) == LDNS_RCODE_NOTIMPL);
	free(out);
	/* responses and scraps get nothing */
	hdr[2] = 0x81;
	CHECK_EQ(dns_decode(hdr, sizeof(hdr), false, &q, &out, &olen), -EPROTO);
	CHECK_EQ(dns_decode(hdr, 11, false, &q, &out, &olen), -EPROTO);
}

int main(void)
{
	test_forward();
	test_truncation();
	test_ptr();
	test_refusals();
	T_DONE();
}
