// SPDX-License-Identifier: MIT
/*
 * crypto.c - end-to-end protection of the IM overlay (libsodium).
 *
 * Theory of operation (docs/im.md has the byte layouts):
 *  - each helper has a long-term Ed25519 identity; peers pin each other's
 *    public key in the config;
 *  - per peer session each side makes an ephemeral X25519 key and sends it
 *    in a HELLO signed by its identity, bound to both bare JIDs and a
 *    timestamp (so an old hello cannot be replayed to reset a session);
 *  - both sides hash the X25519 result with both ephemerals, identities and
 *    session ids into two direction keys and a bytestream master key;
 *  - every control message is sealed with XChaCha20-Poly1305 under the
 *    sender's direction key, nonce = a 64-bit counter, the header and both
 *    JIDs as associated data; the receiver keeps a 64-message replay window.
 * The XMPP server relays only ciphertext and sees who talks to whom.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/im/im.h"

#define ID_FILE_TAG "sockout-im-identity-v1"

int im_crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int im_pubkey_parse(const char *s, uint8_t pk[32])
{
	size_t n;

	if (strlen(s) != 44 ||
	    sodium_base642bin(pk, 32, s, 44, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    n != 32)
		return -EINVAL;
	return 0;
}

void im_pubkey_format(const uint8_t pk[32], char *out, size_t len)
{
	if (len < sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)) {
		if (len)
			out[0] = '\0';
		return;
	}
	sodium_bin2base64(out, len, pk, 32, sodium_base64_VARIANT_ORIGINAL);
}

/**
 * im_identity_generate() - write a new identity to @path (0600, never over
 * an existing file) and put its public key (base64) in @pk_b64.
 * Returns 0 or -errno.
 */
int im_identity_generate(const char *path, char *pk_b64, size_t len)
{
	uint8_t seed[32], pk[32];
	uint8_t *sk = sodium_malloc(64);
	char line[128], b64[64];
	int fd = -1, r = 0;

	if (!sk)
		return -ENOMEM;
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_bin2base64(b64, sizeof(b64), seed, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	int n = snprintf(line, sizeof(line), "%s %s\n", ID_FILE_TAG, b64);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		r = -EIO;
		unlink(path);
		goto out;
	}
	im_pubkey_format(pk, pk_b64, len);
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(line, sizeof(line));
	sodium_memzero(b64, sizeof(b64));
	sodium_free(sk);
	return r;
}

int im_identity_load(const char *path, struct im_identity *id)
{
	char line[256];
	uint8_t seed[32];
	size_t n = 0;
	int r = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	id->sk = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077)) {
		/* Like ssh: a key others can read is not a secret. */
		close(fd);
		return -EPERM;
	}
	ssize_t got = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (got < 0)
		return -errno;
	line[got] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	size_t tl = strlen(ID_FILE_TAG);
	if (strncmp(line, ID_FILE_TAG " ", tl + 1) != 0 ||
	    sodium_base642bin(seed, sizeof(seed), line + tl + 1,
			      strlen(line + tl + 1), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    n != 32) {
		r = -EINVAL;
		goto out;
	}
	id->sk = sodium_malloc(64);
	if (!id->sk) {
		r = -ENOMEM;
		goto out;
	}
	crypto_sign_seed_keypair(id->pk, id->sk, seed);
	sodium_mprotect_readonly(id->sk);
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(line, sizeof(line));
	return r;
}

void im_identity_free(struct im_identity *id)
{
	if (id->sk)
		sodium_free(id->sk);
	id->sk = NULL;
}

int im_eph_new(struct im_eph *e)
{
	randombytes_buf(e->sk, sizeof(e->sk));
	if (crypto_scalarmult_base(e->pk, e->sk) < 0)
		return -EIO;
	randombytes_buf(e->sid, sizeof(e->sid));
	return 0;
}

/* What a hello signature covers: a context string, both JIDs (so a hello
 * for one pairing cannot be replayed into another) and the hello body. */
static int hello_sigmsg(uint8_t *m, size_t cap, const char *from,
			const char *to, const uint8_t *body)
{
	static const char ctx[] = "sockout-im hello v1";
	size_t fl = strlen(from), tl = strlen(to);
	size_t need = sizeof(ctx) + fl + 1 + tl + 1 + 80;

	if (need > cap)
		return -ENAMETOOLONG;
	memcpy(m, ctx, sizeof(ctx)); /* with its NUL */
	size_t o = sizeof(ctx);
	memcpy(m + o, from, fl + 1);
	o += fl + 1;
	memcpy(m + o, to, tl + 1);
	o += tl + 1;
	memcpy(m + o, body, 80);
	return (int)(o + 80);
}

void im_hello_encode(uint8_t *out, const struct im_identity *id,
		     const char *from, const char *to, const struct im_hello *h)
{
	uint8_t m[IM_JID_MAX * 2 + 128];

	memcpy(out, IM_MAGIC, 4);
	out[4] = IM_VERSION;
	out[5] = IM_T_HELLO;
	out[6] = out[7] = 0;
	put64(out + 8, h->ts_ms);
	memcpy(out + 16, h->sid, IM_SID_LEN);
	memcpy(out + 32, h->echo, IM_SID_LEN);
	memcpy(out + 48, h->eph, 32);
	int n = hello_sigmsg(m, sizeof(m), from, to, out);
	if (n < 0) { /* JIDs are bounded by config checks: cannot happen */
		memset(out + 80, 0, 64);
		return;
	}
	crypto_sign_detached(out + 80, NULL, m, (size_t)n, id->sk);
}

int im_msg_type(const uint8_t *p, size_t len)
{
	if (len < 8 || memcmp(p, IM_MAGIC, 4) != 0 || p[4] != IM_VERSION || p[6] ||
	    p[7])
		return -EBADMSG;
	if (p[5] == IM_T_HELLO && len == IM_HELLO_LEN)
		return IM_T_HELLO;
	if (p[5] == IM_T_SEALED && len >= IM_SEAL_HDR + IM_TAG_LEN)
		return IM_T_SEALED;
	return -EBADMSG;
}

int im_hello_decode(const uint8_t *p, size_t len, const uint8_t peer_pk[32],
		    const char *from, const char *to, struct im_hello *h)
{
	uint8_t m[IM_JID_MAX * 2 + 128];
	int n;

	if (im_msg_type(p, len) != IM_T_HELLO)
		return -EBADMSG;
	if ((n = hello_sigmsg(m, sizeof(m), from, to, p)) < 0)
		return -EBADMSG;
	if (crypto_sign_verify_detached(p + 80, m, (size_t)n, peer_pk) != 0)
		return -EBADMSG;
	h->ts_ms = get64(p + 8);
	memcpy(h->sid, p + 16, IM_SID_LEN);
	memcpy(h->echo, p + 32, IM_SID_LEN);
	memcpy(h->eph, p + 48, 32);
	return 0;
}

int im_keys_derive(struct im_keys *k, const struct im_eph *mine,
		   const uint8_t my_id[32], const struct im_hello *theirs,
		   const uint8_t their_id[32])
{
	static const char ctx[] = "sockout-im kdf v1";
	static const char bsctx[] = "sockout-im bs v1";
	static const char kidctx[] = "sockout-im key id v1";
	uint8_t shared[32], out[64];
	crypto_generichash_state st;
	int lo_is_me = memcmp(mine->pk, theirs->eph, 32) < 0;
	const uint8_t *lo_eph = lo_is_me ? mine->pk : theirs->eph;
	const uint8_t *hi_eph = lo_is_me ? theirs->eph : mine->pk;
	const uint8_t *lo_id = lo_is_me ? my_id : their_id;
	const uint8_t *hi_id = lo_is_me ? their_id : my_id;
	const uint8_t *lo_sid = lo_is_me ? mine->sid : theirs->sid;
	const uint8_t *hi_sid = lo_is_me ? theirs->sid : mine->sid;

	if (!memcmp(mine->pk, theirs->eph, 32))
		return -EINVAL; /* our own hello reflected back */
	if (crypto_scalarmult(shared, mine->sk, theirs->eph) != 0)
		return -EINVAL; /* low-order point */
	crypto_generichash_init(&st, NULL, 0, 64);
	crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof(ctx));
	crypto_generichash_update(&st, shared, 32);
	crypto_generichash_update(&st, lo_eph, 32);
	crypto_generichash_update(&st, hi_eph, 32);
	crypto_generichash_update(&st, lo_id, 32);
	crypto_generichash_update(&st, hi_id, 32);
	crypto_generichash_update(&st, lo_sid, IM_SID_LEN);
	crypto_generichash_update(&st, hi_sid, IM_SID_LEN);
	crypto_generichash_final(&st, out, 64);
	memcpy(k->tx, lo_is_me ? out : out + 32, 32);
	memcpy(k->rx, lo_is_me ? out + 32 : out, 32);
	crypto_generichash(k->bs, 32, (const uint8_t *)bsctx, sizeof(bsctx),
			   out, 64);
	crypto_generichash_init(&st, NULL, 0, 8);
	crypto_generichash_update(&st, (const uint8_t *)kidctx, sizeof(kidctx));
	crypto_generichash_update(&st, lo_eph, 32);
	crypto_generichash_update(&st, hi_eph, 32);
	crypto_generichash_final(&st, k->key_id, 8);
	k->tx_ctr = 0;
	k->rx_top = 0;
	k->rx_bitmap = 0;
	k->ready = true;
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(out, sizeof(out));
	return 0;
}

static void seal_nonce(uint8_t n[24], uint64_t ctr)
{
	memset(n, 0, 24);
	put64(n + 16, ctr);
}

/* Associated data: the 24-byte header, then "from\0to". */
static size_t seal_ad(uint8_t *ad, size_t cap, const uint8_t *hdr,
		      const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);

	if (IM_SEAL_HDR + fl + 1 + tl > cap)
		return 0;
	memcpy(ad, hdr, IM_SEAL_HDR);
	memcpy(ad + IM_SEAL_HDR, from, fl + 1);
	/* no NUL after `to': the length bounds it */
	memcpy(ad + IM_SEAL_HDR + fl + 1, to, tl); /* NOLINT(bugprone-not-null-terminated-result) */
	return IM_SEAL_HDR + fl + 1 + tl;
}

size_t im_seal(struct im_keys *k, const char *from, const char *to,
	       const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t ad[IM_SEAL_HDR + 2 * IM_JID_MAX + 2], nonce[24];
	unsigned long long clen;
	uint64_t ctr = k->tx_ctr++;

	memcpy(out, IM_MAGIC, 4);
	out[4] = IM_VERSION;
	out[5] = IM_T_SEALED;
	out[6] = out[7] = 0;
	memcpy(out + 8, k->key_id, 8);
	put64(out + 16, ctr);
	size_t adl = seal_ad(ad, sizeof(ad), out, from, to);
	seal_nonce(nonce, ctr);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + IM_SEAL_HDR, &clen, in,
						   len, ad, adl, NULL, nonce,
						   k->tx);
	return IM_SEAL_HDR + (size_t)clen;
}

int im_replay_check(struct im_keys *k, uint64_t ctr, bool commit)
{
	if (ctr == UINT64_MAX)
		return -EALREADY;
	if (ctr >= k->rx_top) {
		if (commit) {
			uint64_t shift = ctr + 1 - k->rx_top;
			k->rx_bitmap = shift >= 64 ? 0 : k->rx_bitmap << shift;
			/* bit 0 is now the counter just accepted */
			k->rx_bitmap |= 1;
			k->rx_top = ctr + 1;
		}
		return 0;
	}
	uint64_t back = k->rx_top - 1 - ctr;
	if (back >= IM_REPLAY_WINDOW)
		return -EALREADY; /* too old to tell: refuse */
	if (k->rx_bitmap & (1ull << back))
		return -EALREADY;
	if (commit)
		k->rx_bitmap |= 1ull << back;
	return 0;
}

ssize_t im_open(struct im_keys *k, const char *from, const char *to,
		const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t ad[IM_SEAL_HDR + 2 * IM_JID_MAX + 2], nonce[24];
	unsigned long long plen;

	if (!k->ready || im_msg_type(in, len) != IM_T_SEALED)
		return -EBADMSG;
	if (sodium_memcmp(in + 8, k->key_id, 8) != 0)
		return -EBADMSG;
	uint64_t ctr = get64(in + 16);
	/* Cheap check first; the window is only updated once the message
	 * proved authentic, so a forgery cannot move it. */
	if (im_replay_check(k, ctr, false) < 0)
		return -EALREADY;
	size_t adl = seal_ad(ad, sizeof(ad), in, from, to);
	if (!adl)
		return -EBADMSG;
	seal_nonce(nonce, ctr);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    out, &plen, NULL, in + IM_SEAL_HDR, len - IM_SEAL_HDR, ad,
		    adl, nonce, k->rx) != 0)
		return -EBADMSG;
	im_replay_check(k, ctr, true);
	return (ssize_t)plen;
}

void im_bs_keys(const struct im_keys *k, const char *sid, bool initiator,
		uint8_t tx[32], uint8_t rx[32])
{
	static const char ctx[] = "sockout-im stream v1";
	crypto_generichash_state st;
	uint8_t out[64];

	/* Keyed with the session's bytestream master: first half carries
	 * initiator->target, second half target->initiator. */
	crypto_generichash_init(&st, k->bs, 32, 64);
	crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof(ctx));
	crypto_generichash_update(&st, (const uint8_t *)sid, strlen(sid));
	crypto_generichash_final(&st, out, 64);
	memcpy(tx, initiator ? out : out + 32, 32);
	memcpy(rx, initiator ? out + 32 : out, 32);
	sodium_memzero(out, sizeof(out));
}
