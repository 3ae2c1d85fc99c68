/* SPDX-License-Identifier: BSD-3-Clause */
/* buf.c - see buf.h. Growth doubles, starting at 128 bytes. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/status.h"

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
buf_deinit(struct buf *b)
{
    if (b == NULL) {
        return;
    }
    rc_free(b->data);
    buf_init(b);
}

int
buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > ((size_t)-1) / 2 - b->len) {
        return RC_ENOMEM;
    }
    need = b->len + extra;
    if (need <= b->cap) {
        return RC_OK;
    }
    cap = b->cap ? b->cap : 128;
    while (cap < need) {
        cap *= 2;
    }
    p = rc_realloc(b->data, cap);
    if (p == NULL) {
        return RC_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return RC_OK;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
    int rc;

    if (n == 0) {
        return RC_OK;
    }
    rc = buf_reserve(b, n);
    if (rc != RC_OK) {
        return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return RC_OK;
}

int
buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return RC_EINVAL;
    }
    rc = buf_reserve(b, (size_t)n + 1);
    if (rc != RC_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return RC_OK;
}

int
buf_append_u64(struct buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return buf_append(b, tmp + i, sizeof(tmp) - i);
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
}

void
buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void
buf_shrink(struct buf *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep) {
        rc_free(b->data);
        buf_init(b);
    }
}
