// SPDX-License-Identifier: MIT
/*
 * fuzz-dns.c - libFuzzer target for the DNS query decoder of sockoutd
 * (dispatcher/dns-wire.c): what a guest's stub forwards is any datagram a
 * program in the guest sent to its nameserver.
 *
 * Input: a flags byte, then the query.  Flags bit 0: it came over TCP.
 * When the query is taken (DNS_RESOLVE/DNS_REVERSE), an answer built from
 * the flags (status, alias, addresses) is encoded for it.
 *
 * Checked besides crashes and leaks: every reply parses again (ldns), is a
 * response (QR) with the query's ID, fits what the client takes (512 bytes
 * over UDP unless EDNS0 said more; never more than GP_DNS_MAX), and a
 * reply cut to size has TC set and no answer left half.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../dispatcher/dns-wire.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *q, const uint8_t *out, size_t len, size_t max)
{
	ldns_pkt *p = NULL;

	if (!out || len > max || len > GP_DNS_MAX || len < LDNS_HEADER_SIZE)
		abort();
	if (ldns_wire2pkt(&p, out, len) != LDNS_STATUS_OK)
		abort();
	if (!ldns_pkt_qr(p) || ldns_pkt_id(p) != LDNS_ID_WIRE(q) ||
	    (ldns_pkt_tc(p) && ldns_pkt_ancount(p)))
		abort();
	ldns_pkt_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resolve_answer a = { .ttl = 30 };
	struct dns_q q;
	uint8_t *out = NULL;
	size_t len = 0, max;
	bool tcp;
	int v;

	if (size < 1 || size > 1 + GP_DNS_MAX)
		return 0;
	tcp = data[0] & 1;
	v = dns_decode(data + 1, size - 1, tcp, &q, &out, &len);
	if (v < 0)
		return 0;
	if (v == DNS_ANSWERED) {
		check(data + 1, out, len, tcp ? GP_DNS_MAX : LDNS_MIN_BUFLEN);
		free(out);
		return 0;
	}
	max = q.max;
	if (v == DNS_REVERSE) {
		if (dns_encode_ptr(&q, data[0] & 2 ? "x.example" : NULL, 60,
				   &out, &len) == 0) {
			check(data + 1, out, len, max);
			free(out);
		}
		dns_q_free(&q);
		return 0;
	}
	/* an answer the flags make up: each status, an alias or not, and
	 * as many addresses of both families as a resolver gives */
	a.status = (int[]){ 0, -ENOENT, -ENODATA, -EAGAIN }[data[0] >> 1 & 3];
	if (data[0] & 8)
		snprintf(a.canon, sizeof(a.canon), "%s.alias.example", q.name);
	if (a.status == 0)
		for (a.n = 0; a.n < RESOLVE_MAX_ADDRS; a.n++) {
			a.addr[a.n].family = a.n % 2 ? 6 : 4;
			memset(a.addr[a.n].addr, (int)a.n + 1, 16);
		}
	if (dns_encode(&q, &a, &out, &len) == 0) {
		check(data + 1, out, len, max);
		free(out);
	}
	dns_q_free(&q);
	return 0;
}
