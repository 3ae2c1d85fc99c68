/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * alloc.c - allocator wrapper. With jemalloc, Debian's library replaces the
 * C library's malloc when linked, so the calls below reach it; this module
 * is also the only one that includes <jemalloc/jemalloc.h>, for its stats.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "base/alloc.h"

void *
rc_malloc(size_t size)
{
    return malloc(size);
}

void *
rc_calloc(size_t nmemb, size_t size)
{
    return calloc(nmemb, size);
}

void *
rc_realloc(void *ptr, size_t size)
{
    return realloc(ptr, size);
}

void
rc_free(void *ptr)
{
    free(ptr);
}

char *
rc_strdup(const char *s)
{
    return rc_strndup(s, strlen(s));
}

char *
rc_strndup(const char *s, size_t n)
{
    char *p = rc_malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void
alloc_get_stats(struct alloc_stats *out)
{
    memset(out, 0, sizeof(*out));
#ifdef HAVE_JEMALLOC
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    size_t v;

    mallctl("epoch", &epoch, &sz, &epoch, sz);
    sz = sizeof(v);
    if (mallctl("stats.allocated", &v, &sz, NULL, 0) == 0) {
        out->allocated = v;
    }
    sz = sizeof(v);
    if (mallctl("stats.resident", &v, &sz, NULL, 0) == 0) {
        out->resident = v;
    }
#endif
}

const char *
alloc_name(void)
{
#ifdef HAVE_JEMALLOC
    return "jemalloc";
#else
    return "libc";
#endif
}
