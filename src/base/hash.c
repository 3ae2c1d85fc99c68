/* SPDX-License-Identifier: BSD-3-Clause */
/* hash.c - FNV-1a, 64-bit (offset basis and prime from the FNV specification). */
#include "config.h"

#include "base/hash.h"

uint64_t
hash_fnv1a64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t
hash_key64(const void *data, size_t n)
{
    uint64_t h = hash_fnv1a64(data, n);

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}
