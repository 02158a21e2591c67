// SPDX-License-Identifier: MIT
/* libFuzzer target: the guest protocol decoders (gp_req_decode,
 * gp_reply_decode, and for names gp_req_name_decode and gp_answer_decode)
 * as sockoutd and the shim meet them, plus the
 * conversion of the decoded addresses into what getsockname() returns
 * (protocol/addr.c, as the shim does it).
 * Whatever decodes must encode back to the same bytes: every reserved
 * byte is checked, so there is exactly one encoding of each message (a
 * request has no identity fields since version 2: bytes 32-63 are zero). */
#include <stdlib.h>
#include <string.h>

#include "protocol/addr.h"
#include "protocol/guestproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void show(const struct so_addr *a, socklen_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = cap;

	so_addr_to_user(a, AF_INET, (struct sockaddr *)&ss, &len);
	len = cap;
	so_addr_to_user(a, AF_INET6, (struct sockaddr *)&ss, &len);
	so_addr_is_loopback(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t q[GP_REQ_LEN], p[GP_REPLY_LEN];
	struct gp_req req;
	struct gp_reply rep;
	socklen_t cap = size ? data[0] % (sizeof(struct sockaddr_storage) + 1) : 0;

	if (size >= GP_REQ_LEN && gp_req_decode(data, &req) == 0) {
		gp_req_encode(q, &req);
		if (memcmp(q, data, GP_REQ_LEN) != 0)
			abort();
		show(&req.addr, cap);
		/* a channel (GP_F_KEEP) only for CONNECT but LOOPBACK, RESOLVE
		 * and REVERSE, never in stream mode */
		if ((req.flags & GP_F_KEEP) &&
		    ((req.op != GP_CONNECT && req.op != GP_RESOLVE &&
		      req.op != GP_REVERSE) ||
		     (req.flags & (GP_F_LOOPBACK | GP_F_STREAM))))
			abort();
		/* RESOLVE: the name after the header, as sockoutd reads it
		 * (exactly namelen bytes, whatever else follows) */
		if (req.op == GP_RESOLVE) {
			if (!req.namelen || req.namelen > GP_NAME_MAX)
				abort();
			if (size >= GP_REQ_LEN + req.namelen &&
			    gp_req_name_decode(data + GP_REQ_LEN, req.namelen, &req) == 0 &&
			    (strlen(req.name) != req.namelen ||
			     memcmp(req.name, data + GP_REQ_LEN, req.namelen) != 0))
				abort();
		} else if (req.namelen) {
			abort();
		}
	}
	if (size >= GP_REPLY_LEN && gp_reply_decode(data, &rep) == 0) {
		/* a refusal before the request was read always says why */
		if (rep.op == GP_REFUSED && !rep.status)
			abort();
		/* a kept channel: only the replies whose requests may ask */
		if ((rep.flags & GP_F_KEEP) && rep.op != GP_CONNECT &&
		    rep.op != GP_RESOLVE && rep.op != GP_REVERSE)
			abort();
		gp_reply_encode(p, &rep);
		if (memcmp(p, data, GP_REPLY_LEN) != 0)
			abort();
		show(&rep.local, cap);
		show(&rep.peer, cap);
		/* an answer follows only a successful RESOLVE/REVERSE */
		if (rep.anslen && (rep.status || rep.op < GP_RESOLVE ||
				   rep.anslen > GP_ANSWER_MAX))
			abort();
		struct gp_answer ans;
		uint8_t a[GP_ANSWER_MAX];
		if (rep.anslen && size >= GP_REPLY_LEN + rep.anslen &&
		    gp_answer_decode(data + GP_REPLY_LEN, rep.anslen, &ans) == 0) {
			if (ans.n > GP_ANSWER_ADDRS ||
			    gp_answer_encode(a, &ans) != rep.anslen ||
			    memcmp(a, data + GP_REPLY_LEN, rep.anslen) != 0)
				abort();
			for (unsigned i = 0; i < ans.n; i++)
				show(&ans.addr[i], cap);
		}
	}
	/* The tail as a second message, so one input can hold both. */
	if (size >= GP_REQ_LEN + GP_REPLY_LEN &&
	    gp_reply_decode(data + GP_REQ_LEN, &rep) == 0)
		show(&rep.peer, cap);
	return 0;
}
