// SPDX-License-Identifier: MIT
/* libFuzzer target: what stream mode (PROTOCOL.md part 2, "Stream mode")
 * adds to the guest protocol's decoders, and the transport spec parser of
 * the guest side (gpc_stream_addr: "tcp:HOST:PORT", "vsock:CID:PORT", the
 * value of sockout-run -s and SOCKOUT_SOCKET inside a VM).
 *  - a decoded CLAIM names a non-zero token, has STREAM and nothing else;
 *    any other request has no token;
 *  - a reply carries a token exactly when it is a stream-mode ACCEPT
 *    notice (op ACCEPT, flags STREAM, status 0);
 *  - both re-encode to the same bytes;
 *  - a spec parses to an address of the family it names, with a non-zero
 *    TCP port, and only specs gpc_is_stream() calls streams parse. */
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "guest/gp-client.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void spec(const uint8_t *data, size_t size)
{
	char s[128];
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int r;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = 0;
	r = gpc_stream_addr(s, &ss, &len);
	if (r != 0 && !gpc_is_stream(s))
		abort();
	if (r != 1)
		return;
	if (!strncmp(s, "vsock:", 6) ? ss.ss_family != AF_VSOCK ||
					       len != sizeof(struct sockaddr_vm)
				     : (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		abort();
	if (ss.ss_family == AF_INET && !((struct sockaddr_in *)&ss)->sin_port)
		abort();
	if (ss.ss_family == AF_INET6 && !((struct sockaddr_in6 *)&ss)->sin6_port)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t q[GP_REQ_LEN], p[GP_REPLY_LEN];
	struct gp_req req;
	struct gp_reply rep;

	if (size >= GP_REQ_LEN && gp_req_decode(data, &req) == 0) {
		if (req.op == GP_CLAIM ? !req.token || req.flags != GP_F_STREAM ||
						 req.addr.family
				       : req.token != 0)
			abort();
		gp_req_encode(q, &req);
		if (memcmp(q, data, GP_REQ_LEN) != 0)
			abort();
	}
	if (size >= GP_REPLY_LEN && gp_reply_decode(data, &rep) == 0) {
		bool notice = rep.op == GP_ACCEPT && rep.flags == GP_F_STREAM;

		/* other replies: no flags but a kept channel's */
		if (notice ? !rep.token || rep.status
			   : rep.token || (rep.flags & ~GP_F_KEEP))
			abort();
		gp_reply_encode(p, &rep);
		if (memcmp(p, data, GP_REPLY_LEN) != 0)
			abort();
	}
	spec(data, size);
	return 0;
}
