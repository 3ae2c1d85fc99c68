/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * buf.h - a growable byte buffer. The struct is embedded by its owner
 * (buf_init/buf_deinit); data is heap memory owned by the buf and may move on
 * any call that grows it, so pointers into it are valid only until then.
 * Bytes are data[0..len). buf_consume drops a prefix.
 */
#ifndef RC_BASE_BUF_H
#define RC_BASE_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until first growth */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);
/* Make room for at least `extra` more bytes beyond len. RC_OK or RC_ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a decimal unsigned number (fast path for replies). */
int buf_append_u64(struct buf *b, unsigned long long v);
void buf_reset(struct buf *b);
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Give back memory above `keep` bytes of capacity when the buffer is empty. */
void buf_shrink(struct buf *b, size_t keep);

#endif
