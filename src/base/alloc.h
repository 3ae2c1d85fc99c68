/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * alloc.h - the allocator wrapper. jemalloc (when configured) enters the
 * program through alloc.c only; everything else calls rc_malloc and friends.
 * rc_free(NULL) is a no-op.
 */
#ifndef RC_BASE_ALLOC_H
#define RC_BASE_ALLOC_H

#include <stddef.h>

void *rc_malloc(size_t size);
void *rc_calloc(size_t nmemb, size_t size);
void *rc_realloc(void *ptr, size_t size);
void rc_free(void *ptr);
char *rc_strdup(const char *s);
char *rc_strndup(const char *s, size_t n);

/* Allocator figures for stats: bytes allocated by the program and bytes the
 * allocator holds resident. Zero when the allocator does not report them. */
struct alloc_stats {
    size_t allocated;
    size_t resident;
};
void alloc_get_stats(struct alloc_stats *out);
const char *alloc_name(void);

#endif
