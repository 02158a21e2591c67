/* SPDX-License-Identifier: MIT */
/*
 * hash.h - the one mixing function behind the in-memory hash tables.
 *
 * Keys in these tables are small integers (connection ids, ports, namespace
 * cookies, pointers) that cluster: taking them modulo a table size directly
 * piles neighbours into few chains.  The 64-bit finaliser of MurmurHash3
 * spreads every input bit over the output, so any power-of-two table can
 * simply mask the result.
 */
#ifndef SOCKOUT_HASH_H
#define SOCKOUT_HASH_H

#include <stdint.h>

/** hash_u64() - mix @x into 32 well-spread bits. */
static inline uint32_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

/** hash_pair() - mix two keys (e.g. an owner pointer and an id). */
static inline uint32_t hash_pair(uint64_t a, uint64_t b)
{
	return hash_u64(a ^ ((uint64_t)hash_u64(b) << 32 | hash_u64(~b)));
}

/** hash_slot() - bucket of @h in a table of @n buckets, @n a power of two. */
static inline unsigned hash_slot(uint32_t h, unsigned n)
{
	return h & (n - 1);
}

#endif
