/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * record.h - the stored form of one item (pure: no I/O).
 *
 * Encoding, all integers big-endian:
 *   u8  format version (RECORD_FORMAT_V1 = 1)
 *   u8  kind (RECORD_KIND_VALUE = 0; other values are reserved for the
 *       causal context, siblings and tombstones that later formats add)
 *   u32 client flags
 *   i64 absolute expiry, Unix seconds (0 = never)
 *   u64 cas
 *   i64 write time, Unix milliseconds (flush_all and tie-breaks)
 *   u32 value length
 *   ... value bytes
 * A decoder that meets a format it does not know returns RC_ECORRUPT; a later
 * format's decoder keeps reading V1 and upgrades it.
 */
#ifndef RC_KV_RECORD_H
#define RC_KV_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define RECORD_FORMAT_V1   1
#define RECORD_KIND_VALUE  0
#define RECORD_HEADER_SIZE 34

struct record {
    uint32_t flags;
    int64_t exptime; /* absolute Unix seconds; 0 = never expires */
    uint64_t cas;
    int64_t mtime_ms;  /* write time */
    const void *value; /* encode: caller's bytes; decode: points into the input */
    size_t nvalue;
};

/* Append the encoding of *r to out. */
int record_encode(const struct record *r, struct buf *out);
/* Decode; r->value points into data. RC_ECORRUPT on anything malformed. */
int record_decode(const void *data, size_t n, struct record *r);

#endif
