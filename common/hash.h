/* SPDX-License-Identifier: MIT */
/*
 * hash.h - the one hash function for sockout's hash tables.
 */
#ifndef SOCKOUT_HASH_H
#define SOCKOUT_HASH_H

#include <stdint.h>

/* hash_u64() - mix all 64 bits of @x into 32 (MurmurHash3's finaliser), so
 * keys that differ only in high or only in low bits still spread; take the
 * low bits for a power-of-two table. */
static inline uint32_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

#endif
