/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * record.c - encode and decode the stored form of one item (see record.h for
 * the byte layout). Pure: no I/O, no allocation beyond growing the caller's
 * buf. All integers are big-endian and written byte by byte, so the code is
 * independent of host byte order and alignment.
 *
 * Invariants: an encoding is exactly RECORD_HEADER_SIZE + nvalue bytes; the
 * decoder accepts exactly that and nothing else (no trailing bytes, no short
 * input, only versions 1 and 2 and kind VALUE, no unknown item flags),
 * answering RC_ECORRUPT otherwise. Version 1 is read, never written.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "base/endian.h"
#include "base/status.h"
#include "kv/record.h"

/* Byte offsets of the header fields, format 1 (read only). */
#define REC1_OFF_FLAGS   2
#define REC1_OFF_EXPTIME 6
#define REC1_OFF_CAS     14
#define REC1_OFF_MTIME   22
#define REC1_OFF_VLEN    30
#define REC1_HEADER_SIZE 34

/* Format 2 (written). */
#define REC_OFF_VERSION 0
#define REC_OFF_KIND    1
#define REC_OFF_IFLAGS  2
#define REC_OFF_FLAGS   3
#define REC_OFF_EXPTIME 7
#define REC_OFF_CAS     15
#define REC_OFF_MTIME   23
#define REC_OFF_ATIME   31
#define REC_OFF_VLEN    39

_Static_assert(REC_OFF_VLEN + 4 == RECORD_HEADER_SIZE, "record header layout");

int
record_encode(const struct record *r, struct buf *out)
{
    unsigned char *p;
    int rc;

    if (r->nvalue > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    if (r->nvalue > 0 && r->value == NULL) {
        return RC_EINVAL;
    }
    rc = buf_reserve(out, RECORD_HEADER_SIZE + r->nvalue);
    if (rc != RC_OK) {
        return rc;
    }
    p = (unsigned char *)out->data + out->len;
    p[REC_OFF_VERSION] = RECORD_FORMAT_V2;
    p[REC_OFF_KIND] = RECORD_KIND_VALUE;
    p[REC_OFF_IFLAGS] = r->iflags;
    be_put32(p + REC_OFF_FLAGS, r->flags);
    /* Signed fields travel as their two's-complement bit pattern. */
    be_put64(p + REC_OFF_EXPTIME, (uint64_t)r->exptime);
    be_put64(p + REC_OFF_CAS, r->cas);
    be_put64(p + REC_OFF_MTIME, (uint64_t)r->mtime_ms);
    be_put64(p + REC_OFF_ATIME, (uint64_t)r->atime);
    be_put32(p + REC_OFF_VLEN, (uint32_t)r->nvalue);
    if (r->nvalue > 0) {
        memcpy(p + RECORD_HEADER_SIZE, r->value, r->nvalue);
    }
    out->len += RECORD_HEADER_SIZE + r->nvalue;
    return RC_OK;
}

/* Format 1 records (written before item flags and access time existed) are
 * read as unfetched items last touched when they were written. */
static int
record_decode_v1(const unsigned char *p, size_t n, struct record *r)
{
    uint32_t vlen;

    if (n < REC1_HEADER_SIZE) {
        return RC_ECORRUPT;
    }
    vlen = be_get32(p + REC1_OFF_VLEN);
    if ((size_t)vlen != n - REC1_HEADER_SIZE) {
        return RC_ECORRUPT;
    }
    r->iflags = 0;
    r->flags = be_get32(p + REC1_OFF_FLAGS);
    r->exptime = (int64_t)be_get64(p + REC1_OFF_EXPTIME);
    r->cas = be_get64(p + REC1_OFF_CAS);
    r->mtime_ms = (int64_t)be_get64(p + REC1_OFF_MTIME);
    r->atime = r->mtime_ms / 1000;
    r->value = p + REC1_HEADER_SIZE;
    r->nvalue = vlen;
    return RC_OK;
}

int
record_decode(const void *data, size_t n, struct record *r)
{
    const unsigned char *p = data;
    uint32_t vlen;

    if (p == NULL || n < 2 || p[REC_OFF_KIND] != RECORD_KIND_VALUE) {
        return RC_ECORRUPT;
    }
    if (p[REC_OFF_VERSION] == RECORD_FORMAT_V1) {
        return record_decode_v1(p, n, r);
    }
    if (p[REC_OFF_VERSION] != RECORD_FORMAT_V2 || n < RECORD_HEADER_SIZE ||
        (p[REC_OFF_IFLAGS] & ~RECORD_IF__ALL) != 0) {
        return RC_ECORRUPT;
    }
    vlen = be_get32(p + REC_OFF_VLEN);
    if ((size_t)vlen != n - RECORD_HEADER_SIZE) {
        return RC_ECORRUPT;
    }
    r->iflags = p[REC_OFF_IFLAGS];
    r->flags = be_get32(p + REC_OFF_FLAGS);
    r->exptime = (int64_t)be_get64(p + REC_OFF_EXPTIME);
    r->cas = be_get64(p + REC_OFF_CAS);
    r->mtime_ms = (int64_t)be_get64(p + REC_OFF_MTIME);
    r->atime = (int64_t)be_get64(p + REC_OFF_ATIME);
    r->value = p + RECORD_HEADER_SIZE;
    r->nvalue = vlen;
    return RC_OK;
}
