// SPDX-License-Identifier: MIT
/*
 * rdv.c - the two small decoders of sockout-ssh: a rule's TARGET string,
 * and the helper-to-helper connect header used for guest-to-guest
 * connections through a rendezvous forward on the gateway.
 *
 * Header layout, version 2 (docs/ssh.md has the full story and the
 * reasons), all big-endian; K is the rendezvous key:
 *   challenge B -> A: 'S' 'O' 'r' 'c'  version  0  0(2)  nonce_b(16)
 *   request   A -> B: 'S' 'O' 'r' 'q'  version  0  port(2)  rdv_port(2)
 *                     0(2)  nonce_a(16)  mac(32)
 *                     mac = HMAC-SHA256(K, request[0..28) || nonce_b)
 *   reply     B -> A: 'S' 'O' 'r' 'p'  version  0  errno(2)  mac(32)
 *                     mac = HMAC-SHA256(K, reply[0..8) || nonce_a || nonce_b)
 * B's fresh nonce makes every request good for one channel only (a
 * replayed request carries a MAC over an old nonce); A's makes B's reply
 * good for this request only; rdv_port binds the request to the
 * rendezvous A meant to reach.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/net.h"
#include "ssh.h"

static const uint8_t chal_magic[4] = { 'S', 'O', 'r', 'c' };
static const uint8_t req_magic[4] = { 'S', 'O', 'r', 'q' };
static const uint8_t rep_magic[4] = { 'S', 'O', 'r', 'p' };

#define REQ_SIGNED (RDV_REQ_LEN - RDV_MAC)   /* request bytes the MAC covers */
#define REP_SIGNED (RDV_REP_LEN - RDV_MAC)

/* HMAC-SHA256 over @a then @b then @c (each may be empty).  Returns 0 or
 * -EIO (libcrypto failed). */
static int mac3(uint8_t out[RDV_MAC], const struct rdv_key *k,
		const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
		const uint8_t *c, size_t cl)
{
	uint8_t in[REQ_SIGNED + 2 * RDV_NONCE];
	unsigned olen = 0;

	if (al + bl + cl > sizeof(in))
		return -EIO;
	memcpy(in, a, al);
	memcpy(in + al, b, bl);
	if (cl)
		memcpy(in + al + bl, c, cl);
	/* An empty key (`rendezvous-key none') is a valid HMAC key. */
	if (!HMAC(EVP_sha256(), k->len ? (const void *)k->p : "", (int)k->len,
		  in, al + bl + cl, out, &olen) ||
	    olen != RDV_MAC)
		return -EIO;
	return 0;
}

/* Checks the magic, version and reserved byte of any header once 8 bytes
 * are there: -EPROTO (not a sockout peer), -EPROTONOSUPPORT (another
 * version), -EAGAIN (fewer than 8 bytes), else 0. */
static int check_prefix(const uint8_t *p, size_t len, const uint8_t *magic)
{
	if (len < 8)
		return -EAGAIN;
	if (memcmp(p, magic, 4) != 0 || p[5] != 0)
		return -EPROTO;
	if (p[4] != RDV_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

void rdv_chal_encode(uint8_t *p, const uint8_t *nonce_b)
{
	memcpy(p, chal_magic, 4);
	p[4] = RDV_VERSION;
	p[5] = p[6] = p[7] = 0;
	memcpy(p + 8, nonce_b, RDV_NONCE);
}

int rdv_chal_decode(const uint8_t *p, size_t len, uint8_t *nonce_b)
{
	int r = check_prefix(p, len, chal_magic);

	if (r < 0)
		return r;
	if (p[6] || p[7])
		return -EPROTO;
	if (len < RDV_CHAL_LEN)
		return -EAGAIN;
	memcpy(nonce_b, p + 8, RDV_NONCE);
	return 0;
}

int rdv_req_encode(uint8_t *p, uint16_t port, uint16_t rdv_port,
		   const uint8_t *nonce_a, const uint8_t *nonce_b,
		   const struct rdv_key *k)
{
	memcpy(p, req_magic, 4);
	p[4] = RDV_VERSION;
	p[5] = 0;
	p[6] = (uint8_t)(port >> 8);
	p[7] = (uint8_t)port;
	p[8] = (uint8_t)(rdv_port >> 8);
	p[9] = (uint8_t)rdv_port;
	p[10] = p[11] = 0;
	memcpy(p + 12, nonce_a, RDV_NONCE);
	return mac3(p + REQ_SIGNED, k, p, REQ_SIGNED, nonce_b, RDV_NONCE,
		    NULL, 0);
}

/*
 * Returns 0 with *port, *rdv_port and nonce_a set; -EAGAIN while fewer
 * than RDV_REQ_LEN bytes are there (but a bad prefix is reported as soon
 * as 8 bytes are); -EPROTO if this is not a sockout peer;
 * -EPROTONOSUPPORT for another version; -EBADMSG if the MAC is wrong (not
 * made with our key over our nonce: forged, replayed, or another key).
 */
int rdv_req_decode(const uint8_t *p, size_t len, const uint8_t *nonce_b,
		   const struct rdv_key *k, uint16_t *port, uint16_t *rdv_port,
		   uint8_t *nonce_a)
{
	uint8_t m[RDV_MAC];
	int r = check_prefix(p, len, req_magic);

	if (r < 0)
		return r;
	if (len < RDV_REQ_LEN)
		return -EAGAIN;
	if (mac3(m, k, p, REQ_SIGNED, nonce_b, RDV_NONCE, NULL, 0) < 0)
		return -EIO;
	/* In constant time: a timing difference would let a forger find
	 * the MAC byte by byte. */
	if (CRYPTO_memcmp(m, p + REQ_SIGNED, RDV_MAC) != 0)
		return -EBADMSG;
	/* Only now are the fields worth looking at. */
	if (p[10] || p[11])
		return -EPROTO;
	*port = (uint16_t)(p[6] << 8 | p[7]);
	*rdv_port = (uint16_t)(p[8] << 8 | p[9]);
	if (!*port)
		return -EPROTO;
	memcpy(nonce_a, p + 12, RDV_NONCE);
	return 0;
}

int rdv_rep_encode(uint8_t *p, int err, const uint8_t *nonce_a,
		   const uint8_t *nonce_b, const struct rdv_key *k)
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
	return mac3(p + REP_SIGNED, k, p, REP_SIGNED, nonce_a, RDV_NONCE,
		    nonce_b, RDV_NONCE);
}

/* Returns 0 with *err (0 = accepted), or -EAGAIN / -EPROTO /
 * -EPROTONOSUPPORT / -EBADMSG as above. */
int rdv_rep_decode(const uint8_t *p, size_t len, const uint8_t *nonce_a,
		   const uint8_t *nonce_b, const struct rdv_key *k, int *err)
{
	uint8_t m[RDV_MAC];
	int r = check_prefix(p, len, rep_magic);

	if (r < 0)
		return r;
	if (len < RDV_REP_LEN)
		return -EAGAIN;
	if (mac3(m, k, p, REP_SIGNED, nonce_a, RDV_NONCE, nonce_b,
		 RDV_NONCE) < 0)
		return -EIO;
	if (CRYPTO_memcmp(m, p + REP_SIGNED, RDV_MAC) != 0)
		return -EBADMSG;
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
