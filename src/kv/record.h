/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * record.h - the stored form of one item (pure: no I/O).
 *
 * Encoding (format 2), all integers big-endian:
 *   u8  format version (RECORD_FORMAT_V2 = 2)
 *   u8  kind (RECORD_KIND_VALUE = 0; other values are reserved for the
 *       causal context, siblings and tombstones that later formats add)
 *   u8  item flags (RECORD_IF_*)
 *   u32 client flags
 *   i64 absolute expiry, Unix seconds (0 = never)
 *   u64 cas
 *   i64 write time, Unix milliseconds (flush_all and tie-breaks)
 *   i64 last access, Unix seconds (meta's l flag)
 *   u32 value length
 *   ... value bytes
 * Format 1 (no item flags, no access time, 34-byte header) is still read:
 * such an item is unfetched and was last touched when written. A decoder
 * that meets a format it does not know returns RC_ECORRUPT.
 */
#ifndef RC_KV_RECORD_H
#define RC_KV_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define RECORD_FORMAT_V1   1
#define RECORD_FORMAT_V2   2
#define RECORD_KIND_VALUE  0
#define RECORD_HEADER_SIZE 43

/* Item flags. */
#define RECORD_IF_FETCHED 0x01u /* read since written (meta h) */
#define RECORD_IF_STALE   0x02u /* invalidated (meta md I / ms I): meta X */
#define RECORD_IF_WON     0x04u /* a recache win was handed out: meta Z */
#define RECORD_IF__ALL    0x07u

struct record {
    uint8_t iflags; /* RECORD_IF_* */
    uint32_t flags;
    int64_t exptime; /* absolute Unix seconds; 0 = never expires */
    uint64_t cas;
    int64_t mtime_ms;  /* write time */
    int64_t atime;     /* last access, Unix seconds */
    const void *value; /* encode: caller's bytes; decode: points into the input */
    size_t nvalue;
};

/* Append the encoding of *r to out. */
int record_encode(const struct record *r, struct buf *out);
/* Decode; r->value points into data. RC_ECORRUPT on anything malformed. */
int record_decode(const void *data, size_t n, struct record *r);

#endif
