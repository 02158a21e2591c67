// SPDX-License-Identifier: MIT
/*
 * xep65.c - the XEP-0065 stream address: both ends of a mediated
 * bytestream name it to the proxy, which pairs the two connections by it.
 * Kept apart from socks5.c so the SOCKS5 decoders need no OpenSSL.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "helpers/im/im.h"

/**
 * s5_dst_addr() - XEP-0065 DST.ADDR: hex SHA-1 of sid, the initiator's and
 * the target's full JIDs, concatenated.  Returns 0 or -EIO.
 */
int s5_dst_addr(const char *sid, const char *initiator, const char *target,
		char hex[41])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdl = 0;
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
	     EVP_DigestUpdate(ctx, sid, strlen(sid)) &&
	     EVP_DigestUpdate(ctx, initiator, strlen(initiator)) &&
	     EVP_DigestUpdate(ctx, target, strlen(target)) &&
	     EVP_DigestFinal_ex(ctx, md, &mdl) && mdl == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	for (int i = 0; i < 20; i++)
		snprintf(hex + (size_t)2 * i, 3, "%02x", md[i]);
	return 0;
}

