/* SPDX-License-Identifier: BSD-3-Clause */
/* hash.h - non-cryptographic key hashing (64-bit FNV-1a), stable across
 * builds and machines, used for lock striping and stats buckets. */
#ifndef RC_BASE_HASH_H
#define RC_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_fnv1a64(const void *data, size_t n);

#endif
