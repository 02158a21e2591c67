// SPDX-License-Identifier: MIT
/*
 * fuzz-sshrdv - sockout-ssh's decoders of untrusted input: the
 * helper-to-helper connect header and reply (bytes from another host), and
 * a rule's TARGET string (from the dispatcher).  Round trips must agree.
 */
#include "helpers/ssh/rdv.c"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t port;
	int e;
	uint8_t p[RDV_LEN];
	char s[SO_MAX_TARGET + 1];
	struct ssh_target t;

	if (rdv_req_decode(data, size, &port) == 0) {
		rdv_req_encode(p, port);
		assert(memcmp(p, data, RDV_LEN) == 0);
	}
	if (rdv_rep_decode(data, size, &e) == 0) {
		assert(e >= 0 && e <= 0xffff);
		rdv_rep_encode(p, e);
		assert(e == 0 || memcmp(p, data, RDV_LEN) == 0);
	}
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
