/* SPDX-License-Identifier: BSD-3-Clause */
/* mcnum.c - see mcnum.h. */
#include "config.h"

#include <string.h>

#include "proto/mcnum.h"

static bool
mcnum_isspace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Sign and magnitude, or false. */
static bool
mcnum_scan(const char *p, size_t n, bool *neg, uint64_t *mag)
{
    size_t i = 0, start;
    uint64_t v = 0;
    bool overflow = false;

    while (i < n && mcnum_isspace(p[i])) {
        i++;
    }
    *neg = i < n && p[i] == '-';
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        i++;
    }
    for (start = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');

        overflow |= v > (UINT64_MAX - d) / 10;
        v = v * 10 + d;
    }
    if (i == start || overflow || (i < n && !mcnum_isspace(p[i]))) {
        return false;
    }
    *mag = v;
    return true;
}

bool
mcnum_u64(const char *p, size_t n, uint64_t *out)
{
    bool neg;
    uint64_t mag, v;

    if (!mcnum_scan(p, n, &neg, &mag)) {
        return false;
    }
    v = neg ? (uint64_t)0 - mag : mag;
    /* memcached looks for a '-' anywhere in the token. */
    if ((v >> 63) != 0 && memchr(p, '-', n) != NULL) {
        return false;
    }
    *out = v;
    return true;
}

bool
mcnum_u32(const char *p, size_t n, uint32_t *out)
{
    uint64_t v;

    if (!mcnum_u64(p, n, &v)) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool
mcnum_i32(const char *p, size_t n, int32_t *out)
{
    bool neg;
    uint64_t mag;

    if (!mcnum_scan(p, n, &neg, &mag) || mag > (uint64_t)INT64_MAX + (neg ? 1 : 0)) {
        return false;
    }
    *out = (int32_t)(uint32_t)(neg ? (uint64_t)0 - mag : mag);
    return true;
}
