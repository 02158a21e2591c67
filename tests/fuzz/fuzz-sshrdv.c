// SPDX-License-Identifier: MIT
/*
 * fuzz-sshrdv - sockout-ssh's decoders of untrusted input: the
 * helper-to-helper challenge, connect request and reply (bytes from
 * another host, or from anyone who can reach the rendezvous on the
 * gateway), and a rule's TARGET string (from the dispatcher).
 *
 * Round trips must agree, and no input may pass the MAC check unless it
 * is exactly what the encoder makes: the fuzzer also builds a genuine
 * request and reply from its input, flips one byte of them where the input
 * says, and checks that the changed header is refused.
 */
#include "helpers/ssh/rdv.c"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t K[] = "fuzzing key, 32 bytes or more...";
static const uint8_t NA[RDV_NONCE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t NB[RDV_NONCE] = { 11, 12, 13, 14, 15, 16, 17, 18 };

static void decoders(const uint8_t *data, size_t size,
		     const struct rdv_key *k)
{
	uint16_t port, rport;
	int e;
	uint8_t p[RDV_HDR_MAX], n[RDV_NONCE];

	if (rdv_chal_decode(data, size, n) == 0) {
		rdv_chal_encode(p, n);
		assert(memcmp(p, data, RDV_CHAL_LEN) == 0);
	}
	if (rdv_req_decode(data, size, NB, k, &port, &rport, n) == 0) {
		assert(port != 0);
		assert(rdv_req_encode(p, port, rport, n, NB, k) == 0);
		assert(memcmp(p, data, RDV_REQ_LEN) == 0);
	}
	if (rdv_rep_decode(data, size, NA, NB, k, &e) == 0) {
		assert(e >= 0 && e <= 0xffff);
		assert(rdv_rep_encode(p, e, NA, NB, k) == 0);
		assert(e == 0 || memcmp(p, data, RDV_REP_LEN) == 0);
	}
}

/* A genuine header with one byte flipped is never accepted. */
static void tamper(const uint8_t *data, size_t size, const struct rdv_key *k)
{
	uint8_t p[RDV_HDR_MAX], n[RDV_NONCE];
	uint16_t port, rport;
	int e;

	if (size < 6)
		return;
	uint16_t want = (uint16_t)(data[0] << 8 | data[1]);
	size_t at = data[2];
	uint8_t x = data[3] ? data[3] : 1;
	if (!want)
		want = 1;
	assert(rdv_req_encode(p, want, 40080, NA, NB, k) == 0);
	assert(rdv_req_decode(p, RDV_REQ_LEN, NB, k, &port, &rport, n) == 0);
	assert(port == want && rport == 40080 && !memcmp(n, NA, RDV_NONCE));
	p[at % RDV_REQ_LEN] ^= x;
	assert(rdv_req_decode(p, RDV_REQ_LEN, NB, k, &port, &rport, n) != 0);

	assert(rdv_rep_encode(p, data[4], NA, NB, k) == 0);
	assert(rdv_rep_decode(p, RDV_REP_LEN, NA, NB, k, &e) == 0);
	assert(e == data[4]);
	p[data[5] % RDV_REP_LEN] ^= x;
	assert(rdv_rep_decode(p, RDV_REP_LEN, NA, NB, k, &e) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rdv_key key = { K, 32 }, none = { NULL, 0 };
	char s[SO_MAX_TARGET + 1];
	struct ssh_target t;

	decoders(data, size, &key);
	decoders(data, size, &none);
	tamper(data, size, &key);
	size_t n = size < SO_MAX_TARGET ? size : SO_MAX_TARGET;
	memcpy(s, data, n);
	s[n] = '\0';
	if (ssh_target_parse(s, &t) == 0) {
		assert(t.kind <= TGT_PEER_ONLY);
		assert(strlen(t.host) < sizeof(t.host));
		if (t.kind == TGT_PEER)
			assert(t.port != 0 && t.host[0]);
	}
	return 0;
}
