/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_common.h - what the three codec fuzz targets share: the invariant
 * check, the trace hash, pointer-range helpers, the coordinator failures
 * every encoder is fed, and the limits. Included by each fuzz_*.c only.
 */
#ifndef RC_FUZZ_COMMON_H
#define RC_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "proto/request.h"

#define FUZZ_ITEM_SMALL   1024u
#define FUZZ_ITEM_DEFAULT (1024u * 1024u)
#define FUZZ_MAX_REQUESTS 100000u

/* An invariant the codec promises: stop the fuzzer where it breaks. */
#define FUZZ_CHECK(cond)      \
    do {                      \
        if (!(cond)) {        \
            __builtin_trap(); \
        }                     \
    } while (0)

/* Failures a coordinator can report, each encoded once per rotation. */
static const int fuzz_statuses[] = {
    RC_ENOTFOUND, RC_EEXISTS,   RC_ENOTSTORED,  RC_ENONNUMERIC, RC_ETOOLARGE,
    RC_ENOMEM,    RC_EINVAL,    RC_EIO,         RC_ENOSPC,      RC_EAGAIN,
    RC_EDEADLOCK, RC_EDISABLED, RC_EBADCONTEXT, RC_ESIBLINGS,
};

/* What a versioned read or write reports besides a plain hit: two live
 * siblings (the second empty) and a context token. */
static const struct resp_sibling fuzz_siblings[2] = {{7, 1767225600250LL, "sibling", 7},
                                                     {0, -1, "", 0}};
#define FUZZ_CONTEXT "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAM.AXt0gv90dXyzw-HuZ9XUbUk"

static inline void
fuzz_resp_versions(struct response *resp, unsigned salt)
{
    resp->siblings = fuzz_siblings;
    resp->nsiblings = salt % 3; /* 0: only tombstones */
    resp->context = FUZZ_CONTEXT;
    resp->ncontext = (salt & 8) ? 0 : sizeof(FUZZ_CONTEXT) - 1;
    resp->nlive = salt;
}

#define FUZZ_NSTATUSES (sizeof(fuzz_statuses) / sizeof(fuzz_statuses[0]))

/* FNV-1a over what a run saw, to compare the whole and the split runs. */
static inline void
fuzz_hash(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *u = p;

    for (size_t i = 0; i < n; i++) {
        *h = (*h ^ u[i]) * 1099511628211ull;
    }
}

static inline void
fuzz_hash_u64(uint64_t *h, uint64_t v)
{
    fuzz_hash(h, &v, sizeof(v));
}

/* [p, p + n) lies inside [lo, hi). */
static inline bool
fuzz_inside(const char *p, size_t n, const char *lo, const char *hi)
{
    return p >= lo && p <= hi && n <= (size_t)(hi - p);
}

/* Offset of a pointer into the chunk, or a marker for static strings. */
static inline uint64_t
fuzz_offset(const char *p, const char *base, size_t len)
{
    if (p == NULL) {
        return UINT64_MAX;
    }
    if (p >= base && p <= base + len) {
        return (uint64_t)(p - base);
    }
    return UINT64_MAX - 1;
}

/* A coordinator failure for the encoders. */
static inline void
fuzz_resp_fail(struct response *resp, int status, bool with_msg)
{
    response_reset(resp);
    resp->status = status;
    resp->miss = status == RC_ENOTFOUND ? RESP_MISS_ABSENT : RESP_MISS_NONE;
    resp->errmsg = with_msg ? "fuzz reason" : NULL;
}

#endif
