// SPDX-License-Identifier: MIT
/*
 * dns-wire.c - DNS queries in, replies out, through ldns (see dns.h).
 *
 * What is answered: one question of class IN, opcode QUERY.  A, AAAA and
 * CNAME go to the `resolve' rules; PTR under in-addr.arpa/ip6.arpa is
 * answered for placeholder addresses; every other type (MX, TXT, SRV,
 * ANY...) is REFUSED: sockout answers names for connections, and a refusal
 * tells the client at once instead of letting it wait for a timeout.
 * Negative answers carry no SOA (there is no zone to name): NXDOMAIN is
 * RCODE 3, NODATA is NOERROR with an empty answer section, and RA is set
 * so that resolvers that check it (Go's) do not take an empty answer for
 * a lame referral.  The reply echoes the ID, RD and the question, and an
 * EDNS0 record when the query had one.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "dns.h"

void dns_q_free(struct dns_q *q)
{
	ldns_pkt_free(q->pkt);
	q->pkt = NULL;
}

/* A reply to @query (or, when it could not be parsed, to the header
 * @raw): ID, opcode, RD and the question echoed, QR and RA set. */
static ldns_pkt *dw_reply_new(const ldns_pkt *query, const uint8_t *raw,
			   uint8_t rcode)
{
	ldns_pkt *r = ldns_pkt_new();
	ldns_rr_list *qs;

	if (!r)
		return NULL;
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_ra(r, true);
	ldns_pkt_set_rcode(r, rcode);
	if (!query) {
		ldns_pkt_set_id(r, LDNS_ID_WIRE(raw));
		ldns_pkt_set_opcode(r, (ldns_pkt_opcode)LDNS_OPCODE_WIRE(raw));
		ldns_pkt_set_rd(r, LDNS_RD_WIRE(raw) != 0);
		return r;
	}
	ldns_pkt_set_id(r, ldns_pkt_id(query));
	ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(query));
	ldns_pkt_set_rd(r, ldns_pkt_rd(query));
	qs = ldns_pkt_question(query);
	for (size_t i = 0; qs && i < ldns_rr_list_rr_count(qs); i++) {
		ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(qs, i));

		if (!c || !ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, c)) {
			ldns_rr_free(c);
			ldns_pkt_free(r);
			return NULL;
		}
	}
	/* RFC 6891: a responder that understands EDNS answers a query
	 * that has it with its own OPT record */
	if (ldns_pkt_edns(query))
		ldns_pkt_set_edns_udp_size(r, DNS_EDNS_SIZE);
	return r;
}

/* @r in wire form into a malloc()ed *@out; consumes @r.  Over @max bytes,
 * the answer sections go and TC tells the client to ask over TCP. */
static int dw_reply_wire(ldns_pkt *r, size_t max, uint8_t **out, size_t *outlen)
{
	ldns_status s;

	if (!r)
		return -ENOMEM;
	s = ldns_pkt2wire(out, r, outlen);
	if (s == LDNS_STATUS_OK && *outlen > max) {
		free(*out);
		*out = NULL;
		ldns_rr_list_deep_free(ldns_pkt_answer(r));
		ldns_rr_list_deep_free(ldns_pkt_authority(r));
		ldns_rr_list_deep_free(ldns_pkt_additional(r));
		ldns_pkt_set_answer(r, ldns_rr_list_new());
		ldns_pkt_set_authority(r, ldns_rr_list_new());
		ldns_pkt_set_additional(r, ldns_rr_list_new());
		ldns_pkt_set_ancount(r, 0);
		ldns_pkt_set_nscount(r, 0);
		ldns_pkt_set_arcount(r, 0);
		ldns_pkt_set_tc(r, true);
		s = ldns_pkt2wire(out, r, outlen);
	}
	ldns_pkt_free(r);
	if (s != LDNS_STATUS_OK) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The reverse name @n (lower case, no trailing dot) as an address, if it
 * is a complete one under in-addr.arpa or ip6.arpa.  Returns 0 or
 * -EINVAL. */
static int dw_ptr_addr(const char *n, struct so_addr *a)
{
	static const char v4[] = ".in-addr.arpa", v6[] = ".ip6.arpa";
	size_t l = strlen(n), nl;
	char buf[80], ip[80], *lab[5], *save = NULL, *t;
	unsigned k = 0;

	memset(a, 0, sizeof(*a));
	if (l > strlen(v4) && !strcmp(n + l - strlen(v4), v4)) {
		nl = l - strlen(v4);
		if (nl >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, n, nl);
		buf[nl] = 0;
		for (t = strtok_r(buf, ".", &save); t && k < 5;
		     t = strtok_r(NULL, ".", &save))
			lab[k++] = t;
		if (k != 4)
			return -EINVAL;
		/* the labels are the address's bytes, lowest first */
		snprintf(ip, sizeof(ip), "%s.%s.%s.%s", lab[3], lab[2],
			 lab[1], lab[0]);
		if (inet_pton(AF_INET, ip, a->addr) != 1)
			return -EINVAL;
		a->family = 4;
		return 0;
	}
	if (l == 32 * 2 - 1 + strlen(v6) && !strcmp(n + l - strlen(v6), v6)) {
		/* 32 nibbles, lowest first, each its own label */
		for (unsigned i = 0; i < 32; i++) {
			char c = n[2 * i];
			int v = isdigit((unsigned char)c) ? c - '0'
				: (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

			if (v < 0 || (i < 31 && n[2 * i + 1] != '.'))
				return -EINVAL;
			a->addr[15 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
		}
		a->family = 6;
		return 0;
	}
	return -EINVAL;
}

/* The question's name as the resolver takes it: ldns's presentation form
 * without the trailing dot, lower case.  A name with bytes that need
 * escaping (\., \ddd) is no host name: -EINVAL. */
static int dw_q_name(const ldns_rdf *owner, char *name, size_t len)
{
	char *s = ldns_rdf2str(owner);
	size_t l;
	int r = 0;

	if (!s)
		return -ENOMEM;
	l = strlen(s);
	if (l && s[l - 1] == '.')
		s[--l] = 0;
	if (!l || l >= len || strchr(s, '\\'))
		r = -EINVAL;
	else
		for (size_t i = 0; i <= l; i++)
			name[i] = (char)tolower((unsigned char)s[i]);
	free(s);
	return r;
}

int dns_decode(const uint8_t *msg, size_t len, bool tcp, struct dns_q *q,
	       uint8_t **out, size_t *outlen)
{
	ldns_pkt *p = NULL;
	ldns_rr *qr;
	uint8_t rcode = LDNS_RCODE_NOERROR;
	int r;

	memset(q, 0, sizeof(*q));
	*out = NULL;
	*outlen = 0;
	if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(msg))
		return -EPROTO;
	if (LDNS_OPCODE_WIRE(msg) != LDNS_PACKET_QUERY) {
		rcode = LDNS_RCODE_NOTIMPL;
	} else if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK) {
		p = NULL;
		rcode = LDNS_RCODE_FORMERR;
	} else if (ldns_pkt_qdcount(p) != 1 || ldns_pkt_ancount(p) ||
		   ldns_pkt_nscount(p)) {
		rcode = LDNS_RCODE_FORMERR;
	}
	if (rcode != LDNS_RCODE_NOERROR) {
		/* the question of a query we could not read is not echoed */
		if (rcode == LDNS_RCODE_FORMERR && p && ldns_pkt_qdcount(p) != 1) {
			ldns_pkt_free(p);
			p = NULL;
		}
		r = dw_reply_wire(dw_reply_new(p, msg, rcode), LDNS_MIN_BUFLEN, out,
			       outlen);
		ldns_pkt_free(p);
		return r < 0 ? r : DNS_ANSWERED;
	}
	q->pkt = p;
	/* what the client can take: 512 bytes over UDP unless its EDNS0
	 * record says more (never more than we would send) */
	q->max = tcp ? GP_DNS_MAX : LDNS_MIN_BUFLEN;
	if (!tcp && ldns_pkt_edns(p) && ldns_pkt_edns_udp_size(p) > q->max)
		q->max = ldns_pkt_edns_udp_size(p) < GP_DNS_MAX
				 ? ldns_pkt_edns_udp_size(p) : GP_DNS_MAX;
	qr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	q->qtype = (uint16_t)ldns_rr_get_type(qr);
	r = dw_q_name(ldns_rr_owner(qr), q->name, sizeof(q->name));
	if (r == -ENOMEM)
		goto fail;
	if (r == 0 && ldns_rr_get_class(qr) == LDNS_RR_CLASS_IN) {
		switch (q->qtype) {
		case LDNS_RR_TYPE_A:
			q->family = AF_INET;
			return DNS_RESOLVE;
		case LDNS_RR_TYPE_AAAA:
			q->family = AF_INET6;
			return DNS_RESOLVE;
		case LDNS_RR_TYPE_CNAME:
			q->family = AF_UNSPEC;
			return DNS_RESOLVE;
		case LDNS_RR_TYPE_PTR:
			if (dw_ptr_addr(q->name, &q->ptr) == 0)
				return DNS_REVERSE;
			break;
		}
	}
	r = dns_encode_ptr(q, NULL, 0, out, outlen);
	if (r < 0)
		goto fail;
	dns_q_free(q);
	return DNS_ANSWERED;
fail:
	dns_q_free(q);
	return r;
}

/* A resource record @owner @type with the data @rd (consumed). */
static int dw_push_rr(ldns_pkt *r, const ldns_rdf *owner, ldns_rr_type type,
		   uint32_t ttl, ldns_rdf *rd)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o = ldns_rdf_clone(owner);

	if (!rr || !o || !rd) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(o);
		ldns_rdf_deep_free(rd);
		return -ENOMEM;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	if (!ldns_rr_push_rdf(rr, rd)) {
		ldns_rdf_deep_free(rd);
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	if (!ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

/* A name as a domain name rdf (absolute), or NULL. */
static ldns_rdf *dw_dname(const char *name)
{
	char buf[RESOLVE_NAME_MAX + 2];

	if (snprintf(buf, sizeof(buf), "%s.", name) >= (int)sizeof(buf))
		return NULL;
	return ldns_dname_new_frm_str(buf);
}

static const ldns_rdf *dw_q_owner(const struct dns_q *q)
{
	return ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q->pkt), 0));
}

int dns_encode(const struct dns_q *q, const struct resolve_answer *a,
	       uint8_t **out, size_t *outlen)
{
	static const uint8_t rcodes[] = { LDNS_RCODE_NOERROR,
					  LDNS_RCODE_NXDOMAIN,
					  LDNS_RCODE_SERVFAIL };
	const ldns_rdf *owner = dw_q_owner(q);
	ldns_rdf *canon = NULL;
	unsigned k = a->status == 0 || a->status == -ENODATA ? 0
		     : a->status == -ENOENT ? 1 : 2;
	ldns_pkt *r = dw_reply_new(q->pkt, NULL, rcodes[k]);
	int e = 0;

	if (!r)
		return -ENOMEM;
	if (a->status == 0 && a->canon[0] && strcasecmp(a->canon, q->name)) {
		/* the alias first, then the addresses of its target */
		if (!(canon = dw_dname(a->canon)) ||
		    (e = dw_push_rr(r, owner, LDNS_RR_TYPE_CNAME, a->ttl,
				 ldns_rdf_clone(canon))) < 0)
			goto out;
		owner = canon;
	}
	for (unsigned i = 0; a->status == 0 && i < a->n && i < RESOLVE_MAX_ADDRS;
	     i++) {
		const struct so_addr *ad = &a->addr[i];

		if (q->qtype == LDNS_RR_TYPE_A && ad->family == 4)
			e = dw_push_rr(r, owner, LDNS_RR_TYPE_A, a->ttl,
				    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4,
							  ad->addr));
		else if (q->qtype == LDNS_RR_TYPE_AAAA && ad->family == 6)
			e = dw_push_rr(r, owner, LDNS_RR_TYPE_AAAA, a->ttl,
				    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA,
							  16, ad->addr));
		if (e < 0)
			goto out;
	}
out:
	ldns_rdf_deep_free(canon);
	if (e < 0) {
		ldns_pkt_free(r);
		return e;
	}
	return dw_reply_wire(r, q->max, out, outlen);
}

int dns_encode_ptr(const struct dns_q *q, const char *name, uint32_t ttl,
		   uint8_t **out, size_t *outlen)
{
	ldns_pkt *r = dw_reply_new(q->pkt, NULL,
				name ? LDNS_RCODE_NOERROR : LDNS_RCODE_REFUSED);
	int e;

	if (!r)
		return -ENOMEM;
	if (name && (e = dw_push_rr(r, dw_q_owner(q), LDNS_RR_TYPE_PTR, ttl,
				 dw_dname(name))) < 0) {
		ldns_pkt_free(r);
		return e;
	}
	return dw_reply_wire(r, q->max, out, outlen);
}
