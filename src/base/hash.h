/* SPDX-License-Identifier: BSD-3-Clause */
/* hash.h - non-cryptographic key hashing (64-bit FNV-1a, optionally with a
 * finaliser), stable across builds and machines, used for lock striping,
 * the hot-item cache and stats buckets. */
#ifndef RC_BASE_HASH_H
#define RC_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_fnv1a64(const void *data, size_t n);
/* FNV-1a's low bits mix poorly (its multiply only carries upwards), so keys
 * that differ in their last characters collide in small tables: callers that
 * index a table with the low bits use this, FNV-1a followed by a 64-bit
 * avalanche finaliser (MurmurHash3's published fmix64 constants). */
uint64_t hash_key64(const void *data, size_t n);

#endif
