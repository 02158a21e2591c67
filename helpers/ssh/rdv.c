// SPDX-License-Identifier: MIT
/*
 * rdv.c - the two small decoders of sockout-ssh: a rule's TARGET string,
 * and the helper-to-helper connect header used for guest-to-guest
 * connections through a rendezvous forward on the gateway.
 *
 * Header layout (docs/ssh.md has the full story), all big-endian:
 *   request  A -> B: 'S' 'O' 'r' 'q'  version  0  port(2)
 *   reply    B -> A: 'S' 'O' 'r' 'p'  version  0  errno(2)   0 = accepted
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "ssh.h"

static const uint8_t req_magic[4] = { 'S', 'O', 'r', 'q' };
static const uint8_t rep_magic[4] = { 'S', 'O', 'r', 'p' };

void rdv_req_encode(uint8_t *p, uint16_t port)
{
	memcpy(p, req_magic, 4);
	p[4] = RDV_VERSION;
	p[5] = 0;
	p[6] = (uint8_t)(port >> 8);
	p[7] = (uint8_t)port;
}

/*
 * Returns 0 with *port set, -EAGAIN if fewer than RDV_LEN bytes are there,
 * -EPROTO if this is not a sockout peer, -EPROTONOSUPPORT for another
 * version.
 */
int rdv_req_decode(const uint8_t *p, size_t len, uint16_t *port)
{
	if (len < RDV_LEN)
		return -EAGAIN;
	if (memcmp(p, req_magic, 4) != 0 || p[5] != 0)
		return -EPROTO;
	if (p[4] != RDV_VERSION)
		return -EPROTONOSUPPORT;
	*port = (uint16_t)(p[6] << 8 | p[7]);
	if (!*port)
		return -EPROTO;
	return 0;
}

void rdv_rep_encode(uint8_t *p, int err)
{
	if (err < 0)
		err = -err;
	if (err > 0xffff)
		err = ECONNREFUSED;
	memcpy(p, rep_magic, 4);
	p[4] = RDV_VERSION;
	p[5] = 0;
	p[6] = (uint8_t)(err >> 8);
	p[7] = (uint8_t)err;
}

/* Returns 0 with *err (0 = accepted), or -EAGAIN / -EPROTO as above. */
int rdv_rep_decode(const uint8_t *p, size_t len, int *err)
{
	if (len < RDV_LEN)
		return -EAGAIN;
	if (memcmp(p, rep_magic, 4) != 0 || p[5] != 0)
		return -EPROTO;
	if (p[4] != RDV_VERSION)
		return -EPROTONOSUPPORT;
	*err = p[6] << 8 | p[7];
	return 0;
}

/* Next blank-separated word of *s into w (size n); 0, or -EINVAL. */
static int word(const char **s, char *w, size_t n)
{
	const char *p = *s;
	size_t l;

	while (*p == ' ' || *p == '\t')
		p++;
	l = strcspn(p, " \t");
	if (!l || l >= n)
		return -EINVAL;
	memcpy(w, p, l);
	w[l] = '\0';
	*s = p + l;
	return 0;
}

static bool at_end(const char *s)
{
	return s[strspn(s, " \t")] == '\0';
}

/*
 * ssh_target_parse() - a rule's "to TARGET":
 *   ""                          the guest's own destination (connect), the
 *                               listen-address and guest port (accept)
 *   HOST[:PORT]                 that address seen from the SSH server
 *   peer:HOST:PORT[/P]          guest to guest through the rendezvous
 *   "peer HOST:PORT [port P]"   forward HOST:PORT on the gateway; P is the
 *                               port a guest there accepts on (default:
 *                               the port this guest connected to)
 *   peer                        (accept) only for peers, no gateway port
 * Returns 0 or -EINVAL.
 */
int ssh_target_parse(const char *s, struct ssh_target *t)
{
	char w[SSH_HOSTLEN + 8];
	unsigned long p;
	char *end;

	memset(t, 0, sizeof(*t));
	if (at_end(s)) {
		t->kind = TGT_DEFAULT;
		return 0;
	}
	if (word(&s, w, sizeof(w)) < 0)
		return -EINVAL;
	/* One-word form for rule lines: peer:HOST:PORT[/P] */
	if (strncmp(w, "peer:", 5) == 0) {
		char *slash = strchr(w + 5, '/');
		if (!at_end(s))
			return -EINVAL;
		t->kind = TGT_PEER;
		if (slash) {
			*slash = '\0';
			errno = 0;
			p = strtoul(slash + 1, &end, 10);
			if (errno || *end || slash[1] < '0' || slash[1] > '9' ||
			    !p || p > 65535)
				return -EINVAL;
			t->peer_port = (uint16_t)p;
		}
		return net_split_hostport(w + 5, t->host, sizeof(t->host),
					  &t->port, 0);
	}
	if (strcmp(w, "peer") == 0) {
		if (at_end(s)) {
			t->kind = TGT_PEER_ONLY;
			return 0;
		}
		t->kind = TGT_PEER;
		if (word(&s, w, sizeof(w)) < 0 ||
		    net_split_hostport(w, t->host, sizeof(t->host), &t->port,
				       0) < 0)
			return -EINVAL;
		if (at_end(s))
			return 0;
		if (word(&s, w, sizeof(w)) < 0 || strcmp(w, "port") != 0 ||
		    word(&s, w, sizeof(w)) < 0 || !at_end(s))
			return -EINVAL;
		errno = 0;
		p = strtoul(w, &end, 10);
		if (errno || *end || w[0] < '0' || w[0] > '9' || !p ||
		    p > 65535)
			return -EINVAL;
		t->peer_port = (uint16_t)p;
		return 0;
	}
	if (!at_end(s))
		return -EINVAL;
	t->kind = TGT_HOSTPORT;
	/* "HOST" alone: net_split_hostport needs a default port; 0 would
	 * make it fail, so ask for 1 and clear it. */
	if (net_split_hostport(w, t->host, sizeof(t->host), &t->port, 1) < 0)
		return -EINVAL;
	if (!strchr(w, ':') || (w[0] == '[' && !strstr(w, "]:")) ||
	    (w[0] != '[' && strchr(w, ':') != strrchr(w, ':')))
		t->port = 0;
	return 0;
}
