/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * endian.h - big-endian (network order) loads and stores of 16, 32 and 64
 * bit integers at any alignment, byte by byte: every stored format and
 * wire protocol in ringcached is big-endian and goes through these.
 */
#ifndef RC_BASE_ENDIAN_H
#define RC_BASE_ENDIAN_H

#include <stdint.h>

static inline void
be_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static inline void
be_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline void
be_put64(unsigned char *p, uint64_t v)
{
    be_put32(p, (uint32_t)(v >> 32));
    be_put32(p + 4, (uint32_t)v);
}

static inline uint16_t
be_get16(const unsigned char *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static inline uint32_t
be_get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t
be_get64(const unsigned char *p)
{
    return ((uint64_t)be_get32(p) << 32) | be_get32(p + 4);
}

#endif
