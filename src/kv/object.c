/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * object.c - a key's versioned object (see object.h): sibling payloads,
 * record format 3 with its derived header, lifting of formats 1 and 2, the
 * coordinator's update with seeding (doc/versioning.txt V.4), dominance
 * (V.5), the token's bounded join (V.9) and the replica merge.
 *
 * Ownership. o->clock's values point into three kinds of bytes: the record
 * object_load decoded (the caller's, which must outlive o), o->own (bytes
 * the object made: a lifted payload, updated or merged payloads), and
 * nothing else. o->own2 is empty between calls: it is the staging buffer
 * into which an update or merge gathers the bytes its new clock needs that
 * live in o->own or in temporaries (dvv_relocate), after which the two are
 * swapped and the old one freed. So every operation builds the new state
 * completely before touching o, and on failure o is unchanged.
 *
 * Every decoder treats its input as hostile: bounded reads, lengths checked
 * in 64-bit arithmetic against what remains, no allocation in
 * object_view_decode.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "base/status.h"
#include "kv/dvv.h"
#include "kv/object.h"
#include "kv/record.h"

/* Format 3 header offsets (object.h). */
#define OBJ_OFF_FORMAT    0
#define OBJ_OFF_KIND      1
#define OBJ_OFF_IFLAGS    2
#define OBJ_OFF_OFLAGS    3
#define OBJ_OFF_SEQ       4
#define OBJ_OFF_MTIME     12
#define OBJ_OFF_ATIME     20
#define OBJ_OFF_EXPTIME   28
#define OBJ_OFF_EXPSTAMP  36
#define OBJ_OFF_EXPNODE   44
#define OBJ_OFF_CAS       60
#define OBJ_OFF_DFLAGS    68
#define OBJ_OFF_DWTIME    72
#define OBJ_OFF_NLIVE     80
#define OBJ_OFF_NSIBLINGS 84
#define OBJ_OFF_NENTRIES  88
#define OBJ_OFF_VOFF      92
#define OBJ_OFF_VLEN      96
#define OBJ_OFF_CLOCKLEN  100

_Static_assert(OBJ_OFF_CLOCKLEN + 4 == OBJECT_HEADER_SIZE, "object header layout");
_Static_assert(OBJ_OFF_EXPNODE + DVV_ACTOR_SIZE == OBJ_OFF_CAS, "object header layout");

/* DVVSet encoding sizes (doc/versioning-model.txt). */
#define OBJ_SET_HDR   5  /* magic, version, flags, u16 entries */
#define OBJ_ENTRY_HDR 34 /* actor, u64 counter, u64 stamp, u16 k */
#define OBJ_VAL_HDR   4  /* u32 length */
#define OBJ_ANON_HDR  2  /* u16 anonymous values */
/* The first value byte of the smallest clock: header, no entry, one
 * anonymous value; then the payload header. */
#define OBJ_MIN_VOFF \
    (OBJECT_HEADER_SIZE + OBJ_SET_HDR + OBJ_ANON_HDR + OBJ_VAL_HDR + OBJECT_PAYLOAD_HDR)

/* ------------------------------------------------------------ payload */

int
object_payload_encode(const struct object_payload *p, struct buf *out)
{
    unsigned char *w;
    int rc;

    if (p == NULL || (p->nvalue > 0 && p->value == NULL)) {
        return RC_EINVAL;
    }
    if (p->tombstone && (p->flags != 0 || p->nvalue != 0)) {
        return RC_EINVAL;
    }
    if (p->nvalue > UINT32_MAX - OBJECT_PAYLOAD_HDR) { /* a DVVSet value is u32-sized */
        return RC_ETOOLARGE;
    }
    rc = buf_reserve(out, OBJECT_PAYLOAD_HDR + p->nvalue);
    if (rc != RC_OK) {
        return rc;
    }
    w = (unsigned char *)out->data + out->len;
    w[0] = OBJECT_PAYLOAD_V1;
    w[1] = p->tombstone ? OBJECT_SF_TOMBSTONE : 0;
    be_put32(w + 2, p->flags);
    be_put64(w + 6, (uint64_t)p->wtime_ms);
    if (p->nvalue > 0) {
        memcpy(w + OBJECT_PAYLOAD_HDR, p->value, p->nvalue);
    }
    out->len += OBJECT_PAYLOAD_HDR + p->nvalue;
    return RC_OK;
}

int
object_payload_decode(const void *data, size_t n, struct object_payload *p)
{
    const unsigned char *b = data;

    if (b == NULL || n < OBJECT_PAYLOAD_HDR || b[0] != OBJECT_PAYLOAD_V1 ||
        (b[1] & ~OBJECT_SF_TOMBSTONE) != 0) {
        return RC_ECORRUPT;
    }
    p->tombstone = (b[1] & OBJECT_SF_TOMBSTONE) != 0;
    p->flags = be_get32(b + 2);
    p->wtime_ms = (int64_t)be_get64(b + 6);
    if (p->tombstone && (p->flags != 0 || n != OBJECT_PAYLOAD_HDR)) {
        return RC_ECORRUPT;
    }
    p->value = p->tombstone ? NULL : b + OBJECT_PAYLOAD_HDR;
    p->nvalue = n - OBJECT_PAYLOAD_HDR;
    return RC_OK;
}

static int
object_payload_of(const struct dvv_value *v, struct object_payload *p)
{
    return object_payload_decode(v->data, v->len, p);
}

/* ------------------------------------------------------------ siblings */

static int
object_actor_cmp(const struct dvv_actor *a, const struct dvv_actor *b)
{
    return memcmp(a->id, b->id, DVV_ACTOR_SIZE);
}

/* A sibling with what dominance and the layout need besides. */
struct object_sib {
    struct object_sibling s;
    struct dvv_value raw; /* the payload bytes in the clock */
    size_t pos;           /* index in dvv_values order (the encoding's order) */
};

/* Larger write time, larger actor, larger counter; anonymous values below
 * every dotted one, by (length, bytes) of their payload. > 0: a dominates. */
static int
object_dominance_cmp(const struct object_sib *a, const struct object_sib *b)
{
    int c;

    if (a->s.anonymous != b->s.anonymous) {
        return a->s.anonymous ? -1 : 1;
    }
    if (a->s.anonymous) {
        if (a->raw.len != b->raw.len) {
            return a->raw.len > b->raw.len ? 1 : -1;
        }
        return a->raw.len == 0 ? 0 : memcmp(a->raw.data, b->raw.data, a->raw.len);
    }
    if (a->s.p.wtime_ms != b->s.p.wtime_ms) {
        return a->s.p.wtime_ms > b->s.p.wtime_ms ? 1 : -1;
    }
    c = object_actor_cmp(&a->s.actor, &b->s.actor);
    if (c != 0) {
        return c;
    }
    if (a->s.counter != b->s.counter) {
        return a->s.counter > b->s.counter ? 1 : -1;
    }
    return 0;
}

/* qsort: dominant first. */
static int
object_sib_qsort_cmp(const void *pa, const void *pb)
{
    return -object_dominance_cmp(pa, pb);
}

/* Every sibling of s with its payload decoded, in dvv_values order, in a
 * new array (*out, rc_free it; NULL when there is none). RC_ECORRUPT when a
 * value is not a well-formed payload. */
/* Small clocks (the common case: one to a few siblings) are handled in
 * arrays on the stack; larger ones on the heap. */
#define OBJ_LOCAL_SIBS 8

static void
object_free_local(void *p, const void *local)
{
    if (p != local) {
        rc_free(p);
    }
}

/* Every value of s with its decoded payload, in dvv_values order, into
 * local (cap entries) when it fits, else a heap array (*out: free it with
 * object_free_local(*out, local)). */
static int
object_collect(const struct dvv_set *s, struct object_sib *local, size_t cap,
               struct object_sib **out, size_t *n)
{
    size_t size = dvv_size(s), got, i;
    struct dvv_sibling dsl[OBJ_LOCAL_SIBS];
    struct dvv_sibling *ds;
    struct object_sib *os;
    int rc;

    *out = NULL;
    *n = 0;
    if (size == 0) {
        return RC_OK;
    }
    ds = size <= OBJ_LOCAL_SIBS ? dsl : rc_malloc(size * sizeof(*ds));
    os = size <= cap ? local : rc_malloc(size * sizeof(*os));
    if (ds == NULL || os == NULL) {
        object_free_local(ds, dsl);
        object_free_local(os, local);
        return RC_ENOMEM;
    }
    rc = dvv_values(s, ds, size, &got);
    for (i = 0; rc == RC_OK && i < got; i++) {
        rc = object_payload_of(&ds[i].value, &os[i].s.p);
        os[i].s.actor = ds[i].actor;
        os[i].s.counter = ds[i].counter;
        os[i].s.anonymous = ds[i].anonymous;
        os[i].raw = ds[i].value;
        os[i].pos = i;
    }
    object_free_local(ds, dsl);
    if (rc != RC_OK) {
        object_free_local(os, local);
        return rc == RC_EINVAL ? RC_EINTERNAL : rc;
    }
    *out = os;
    *n = got;
    return RC_OK;
}

/* What the format 3 header derives from a clock. */
struct object_summary {
    uint32_t nlive, nsiblings, nentries;
    bool deleted;
    uint32_t flags;    /* dominant's */
    int64_t wtime_ms;  /* dominant's */
    uint64_t voff;     /* dominant's value bytes, offset in the clock encoding */
    uint64_t vlen;     /* and length */
    const void *value; /* dominant's value bytes (in the clock's memory) */
};

/* Offset, in the clock's encoding, of the first byte of the value at index
 * pos of dvv_values order (entries in order, each with its header, then
 * the anonymous list). */
static int
object_value_offset(const struct dvv_set *s, size_t pos, uint64_t *off)
{
    size_t ne = dvv_nentries(s), got, i, k, idx = 0;
    struct dvv_entry_info eil[OBJ_LOCAL_SIBS], *ei;
    struct dvv_sibling dsl[OBJ_LOCAL_SIBS], *ds;
    uint64_t at = OBJ_SET_HDR;
    int rc = RC_ENOMEM;

    ei = ne <= OBJ_LOCAL_SIBS ? eil : rc_malloc(ne * sizeof(*ei) + 1);
    ds = dvv_size(s) <= OBJ_LOCAL_SIBS ? dsl : rc_malloc(dvv_size(s) * sizeof(*ds) + 1);
    if (ei == NULL || ds == NULL) {
        goto out;
    }
    rc = dvv_entries(s, ei, ne, &got);
    if (rc == RC_OK) {
        rc = dvv_values(s, ds, dvv_size(s), &got);
    }
    if (rc != RC_OK) {
        goto out;
    }
    rc = RC_EINTERNAL;
    for (i = 0; i < ne; i++) {
        at += OBJ_ENTRY_HDR;
        for (k = 0; k < ei[i].nvals; k++, idx++) {
            at += OBJ_VAL_HDR;
            if (idx == pos) {
                *off = at;
                rc = RC_OK;
                goto out;
            }
            at += ds[idx].value.len;
        }
    }
    at += OBJ_ANON_HDR;
    for (; idx < got; idx++) {
        at += OBJ_VAL_HDR;
        if (idx == pos) {
            *off = at;
            rc = RC_OK;
            goto out;
        }
        at += ds[idx].value.len;
    }
out:
    object_free_local(ei, eil);
    object_free_local(ds, dsl);
    return rc;
}

/* The derived header fields of a clock. RC_ECORRUPT when a value is not a
 * payload. */
static int
object_summarize(const struct dvv_set *s, struct object_summary *sum)
{
    struct object_sib local[OBJ_LOCAL_SIBS], *sib;
    size_t n, i, dom = 0;
    int rc;

    memset(sum, 0, sizeof(*sum));
    rc = object_collect(s, local, OBJ_LOCAL_SIBS, &sib, &n);
    if (rc != RC_OK) {
        return rc;
    }
    for (i = 0; i < n; i++) {
        sum->nlive += !sib[i].s.p.tombstone;
        if (i > 0 && object_dominance_cmp(&sib[i], &sib[dom]) > 0) {
            dom = i;
        }
    }
    sum->nsiblings = (uint32_t)n;
    sum->nentries = (uint32_t)dvv_nentries(s);
    sum->deleted = true;
    if (n > 0) {
        sum->deleted = sib[dom].s.p.tombstone;
        sum->flags = sib[dom].s.p.flags;
        sum->wtime_ms = sib[dom].s.p.wtime_ms;
        sum->vlen = sib[dom].s.p.nvalue;
        sum->value = (const char *)sib[dom].raw.data + OBJECT_PAYLOAD_HDR;
        rc = object_value_offset(s, sib[dom].pos, &sum->voff);
        sum->voff += OBJECT_PAYLOAD_HDR;
    }
    object_free_local(sib, local);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

void
object_init(struct object *o)
{
    memset(&o->meta, 0, sizeof(o->meta));
    o->clock = NULL;
    buf_init(&o->own);
    buf_init(&o->own2);
}

void
object_deinit(struct object *o)
{
    dvv_destroy(o->clock);
    o->clock = NULL;
    buf_deinit(&o->own);
    buf_deinit(&o->own2);
    memset(&o->meta, 0, sizeof(o->meta));
}

/* Install clock c whose owned bytes are in o->own2: swap the buffers and
 * free the old state. Cannot fail. */
static void
object_install(struct object *o, struct dvv_set *c)
{
    struct buf old = o->own;

    dvv_destroy(o->clock);
    o->clock = c;
    o->own = o->own2;
    o->own2 = old;
    buf_deinit(&o->own2);
}

/* ------------------------------------------------------------ decoding */

/* Formats 1 and 2 through record_decode. A cas of 0 cannot be a dot (old
 * cas values came from the write sequence, which starts at 1). */
static int
object_view_lift(const void *data, size_t n, struct object_view *v, struct record *r)
{
    if (record_decode(data, n, r) != RC_OK || r->cas == 0) {
        return RC_ECORRUPT;
    }
    memset(v, 0, sizeof(*v));
    v->meta.iflags = r->iflags;
    v->meta.seq = r->cas;
    v->meta.mtime_ms = r->mtime_ms;
    v->meta.atime = r->atime;
    v->meta.exptime = r->exptime;
    v->meta.exp_stamp_ms = r->mtime_ms;
    v->cas = r->cas;
    v->deleted = false;
    v->flags = r->flags;
    v->wtime_ms = r->mtime_ms;
    v->value = r->value;
    v->nvalue = r->nvalue;
    v->nlive = 1;
    v->nsiblings = 1;
    v->nentries = 1;
    v->lifted = true;
    return RC_OK;
}

/* The dominant sibling as the header describes it: the payload header just
 * before the value bytes, and the DVVSet length prefix before that, must
 * agree with the header's fields. */
static bool
object_view_dominant(const unsigned char *p, size_t n, struct object_view *v)
{
    uint64_t voff = be_get32(p + OBJ_OFF_VOFF), vlen = be_get32(p + OBJ_OFF_VLEN);
    const unsigned char *ph;
    bool tomb;

    if (v->nsiblings == 0) { /* nothing to serve: all fields zero */
        return v->nlive == 0 && v->deleted && voff == 0 && vlen == 0 && v->flags == 0 &&
               v->wtime_ms == 0;
    }
    if (voff < OBJ_MIN_VOFF || voff > n || vlen > n - voff) {
        return false;
    }
    ph = p + voff - OBJECT_PAYLOAD_HDR;
    tomb = (ph[1] & OBJECT_SF_TOMBSTONE) != 0;
    if (be_get32(ph - OBJ_VAL_HDR) != OBJECT_PAYLOAD_HDR + vlen || ph[0] != OBJECT_PAYLOAD_V1 ||
        (ph[1] & ~OBJECT_SF_TOMBSTONE) != 0 || be_get32(ph + 2) != v->flags ||
        (int64_t)be_get64(ph + 6) != v->wtime_ms || tomb != v->deleted) {
        return false;
    }
    if (tomb ? (v->flags != 0 || vlen != 0 || v->nlive == v->nsiblings) : v->nlive == 0) {
        return false;
    }
    v->value = p + voff;
    v->nvalue = (size_t)vlen;
    return true;
}

static int
object_view_v3(const unsigned char *p, size_t n, struct object_view *v)
{
    const unsigned char *clock;
    uint64_t nclock;

    if (n < OBJECT_HEADER_SIZE || p[OBJ_OFF_KIND] != OBJECT_KIND ||
        (p[OBJ_OFF_IFLAGS] & ~RECORD_IF__ALL) != 0 ||
        (p[OBJ_OFF_OFLAGS] & ~(OBJECT_F_DELETED | OBJECT_F_ACKED)) != 0) {
        return RC_ECORRUPT;
    }
    nclock = be_get32(p + OBJ_OFF_CLOCKLEN);
    clock = p + OBJECT_HEADER_SIZE;
    if (nclock != n - OBJECT_HEADER_SIZE || nclock < OBJ_SET_HDR + OBJ_ANON_HDR ||
        clock[0] != DVV_SET_MAGIC || clock[1] != DVV_FORMAT_V1 || (clock[2] & ~DVV_F_PRUNED) != 0) {
        return RC_ECORRUPT;
    }
    memset(v, 0, sizeof(*v));
    v->meta.iflags = p[OBJ_OFF_IFLAGS];
    v->meta.seq = be_get64(p + OBJ_OFF_SEQ);
    v->meta.mtime_ms = (int64_t)be_get64(p + OBJ_OFF_MTIME);
    v->meta.atime = (int64_t)be_get64(p + OBJ_OFF_ATIME);
    v->meta.exptime = (int64_t)be_get64(p + OBJ_OFF_EXPTIME);
    v->meta.exp_stamp_ms = (int64_t)be_get64(p + OBJ_OFF_EXPSTAMP);
    memcpy(v->meta.exp_node.id, p + OBJ_OFF_EXPNODE, DVV_ACTOR_SIZE);
    v->cas = be_get64(p + OBJ_OFF_CAS);
    v->deleted = (p[OBJ_OFF_OFLAGS] & OBJECT_F_DELETED) != 0;
    v->meta.acked = (p[OBJ_OFF_OFLAGS] & OBJECT_F_ACKED) != 0;
    v->flags = be_get32(p + OBJ_OFF_DFLAGS);
    v->wtime_ms = (int64_t)be_get64(p + OBJ_OFF_DWTIME);
    v->nlive = be_get32(p + OBJ_OFF_NLIVE);
    v->nsiblings = be_get32(p + OBJ_OFF_NSIBLINGS);
    v->nentries = be_get32(p + OBJ_OFF_NENTRIES);
    if (v->nlive > v->nsiblings || v->nsiblings > DVV_MAX_VALUES || v->nentries > DVV_MAX_ENTRIES ||
        v->nentries != be_get16(clock + 3) || !object_view_dominant(p, n, v)) {
        return RC_ECORRUPT;
    }
    /* The mark names a tombstone-only clock; anything else is a bug or a
     * forgery, and reaping on it would lose a live value. */
    if (v->meta.acked && (!v->deleted || v->nlive != 0 || v->nsiblings == 0)) {
        return RC_ECORRUPT;
    }
    return RC_OK;
}

int
object_view_decode(const void *data, size_t n, struct object_view *v)
{
    const unsigned char *p = data;
    struct record r;

    if (p == NULL || n < 2) {
        return RC_ECORRUPT;
    }
    if (p[OBJ_OFF_FORMAT] == OBJECT_FORMAT_V3) {
        return object_view_v3(p, n, v);
    }
    if (p[OBJ_OFF_FORMAT] == RECORD_FORMAT_V1 || p[OBJ_OFF_FORMAT] == RECORD_FORMAT_V2) {
        return object_view_lift(data, n, v, &r);
    }
    return RC_ECORRUPT;
}

/* Lift a format 1 or 2 record: one entry (self, cas) stamped with the write
 * time, holding one live payload made in o->own. */
static int
object_load_lift(const void *data, size_t n, const struct dvv_actor *self, struct object *o)
{
    struct object_payload pl;
    struct object_view v;
    struct dvv_value val;
    struct record r;
    int rc;

    rc = object_view_lift(data, n, &v, &r);
    if (rc != RC_OK) {
        return rc;
    }
    if (self == NULL) {
        return RC_EINVAL;
    }
    pl.tombstone = false;
    pl.flags = r.flags;
    pl.wtime_ms = r.mtime_ms;
    pl.value = r.value;
    pl.nvalue = r.nvalue;
    rc = object_payload_encode(&pl, &o->own);
    if (rc != RC_OK) {
        return rc;
    }
    val.data = o->own.data;
    val.len = o->own.len;
    rc = dvv_from_entry(self, r.cas, r.mtime_ms > 0 ? (uint64_t)r.mtime_ms : 0, &val, &o->clock);
    if (rc != RC_OK) {
        return rc;
    }
    o->meta = v.meta;
    o->meta.exp_node = *self;
    return RC_OK;
}

/* Format 3: the strict view, the clock, and the derived fields checked. */
static int
object_load_v3(const void *data, size_t n, struct object *o)
{
    const unsigned char *p = data;
    struct object_summary sum;
    struct object_view v;
    struct dvv_set *clock;
    int rc;

    rc = object_view_v3(p, n, &v);
    if (rc != RC_OK) {
        return rc;
    }
    rc = dvv_decode(p + OBJECT_HEADER_SIZE, n - OBJECT_HEADER_SIZE, &clock);
    if (rc != RC_OK) {
        return rc;
    }
    rc = object_summarize(clock, &sum);
    if (rc == RC_OK &&
        (sum.nlive != v.nlive || sum.nsiblings != v.nsiblings || sum.nentries != v.nentries ||
         sum.deleted != v.deleted || sum.flags != v.flags || sum.wtime_ms != v.wtime_ms ||
         (v.nsiblings > 0 &&
          (sum.voff + OBJECT_HEADER_SIZE != (uint64_t)be_get32(p + OBJ_OFF_VOFF) ||
           sum.vlen != v.nvalue)))) {
        rc = RC_ECORRUPT;
    }
    if (rc != RC_OK) {
        dvv_destroy(clock);
        return rc == RC_ENOMEM ? rc : RC_ECORRUPT;
    }
    o->clock = clock;
    o->meta = v.meta;
    return RC_OK;
}

int
object_load(const void *data, size_t n, const struct dvv_actor *self, struct object *o)
{
    const unsigned char *p = data;
    int rc;

    object_init(o);
    if (p == NULL || n < 2) {
        return RC_ECORRUPT;
    }
    if (p[OBJ_OFF_FORMAT] == OBJECT_FORMAT_V3) {
        rc = object_load_v3(data, n, o);
    } else if (p[OBJ_OFF_FORMAT] == RECORD_FORMAT_V1 || p[OBJ_OFF_FORMAT] == RECORD_FORMAT_V2) {
        rc = object_load_lift(data, n, self, o);
    } else {
        rc = RC_ECORRUPT;
    }
    if (rc != RC_OK) {
        object_deinit(o);
        object_init(o);
    }
    return rc;
}

/* ------------------------------------------------------------ queries */

size_t
object_nsiblings(const struct object *o)
{
    return o->clock == NULL ? 0 : dvv_size(o->clock);
}

size_t
object_nlive(const struct object *o)
{
    struct object_sib local[OBJ_LOCAL_SIBS], *sib;
    size_t n, i, live = 0;

    if (o->clock == NULL || object_collect(o->clock, local, OBJ_LOCAL_SIBS, &sib, &n) != RC_OK) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        live += !sib[i].s.p.tombstone;
    }
    object_free_local(sib, local);
    return live;
}

int
object_siblings(const struct object *o, struct object_sibling *out, size_t cap, size_t *n)
{
    struct object_sib local[OBJ_LOCAL_SIBS], *sib;
    size_t got, i;
    int rc;

    *n = 0;
    if (cap < object_nsiblings(o)) {
        return RC_EINVAL;
    }
    if (o->clock == NULL) {
        return RC_OK;
    }
    rc = object_collect(o->clock, local, OBJ_LOCAL_SIBS, &sib, &got);
    if (rc != RC_OK) {
        return rc;
    }
    if (got > 1) {
        qsort(sib, got, sizeof(*sib), object_sib_qsort_cmp);
    }
    for (i = 0; i < got; i++) {
        out[i] = sib[i].s;
    }
    object_free_local(sib, local);
    *n = got;
    return RC_OK;
}

int
object_join(const struct object *o, struct dvv_vector *out)
{
    if (o->clock == NULL) {
        dvv_vector_init(out);
        return RC_OK;
    }
    return dvv_join(o->clock, out);
}

/* An entry's rank for the token cut: whether it holds a live value, its
 * stamp, its actor. */
struct object_cut {
    struct dvv_vector_entry vc;
    uint64_t stamp;
    bool live;
};

/* Dropped first: no live value, then the oldest stamp, then the lower id. */
static int
object_cut_cmp(const void *pa, const void *pb)
{
    const struct object_cut *a = pa, *b = pb;

    if (a->live != b->live) {
        return a->live ? 1 : -1;
    }
    if (a->stamp != b->stamp) {
        return a->stamp < b->stamp ? -1 : 1;
    }
    return object_actor_cmp(&a->vc.actor, &b->vc.actor);
}

/* Back to actor order for the vector. */
static int
object_cut_actor_cmp(const void *pa, const void *pb)
{
    const struct object_cut *a = pa, *b = pb;

    return object_actor_cmp(&a->vc.actor, &b->vc.actor);
}

static bool
object_entry_live(const struct dvv_entry_info *e)
{
    struct object_payload pl;
    size_t k;

    for (k = 0; k < e->nvals; k++) {
        if (object_payload_of(&e->vals[k], &pl) == RC_OK && !pl.tombstone) {
            return true;
        }
    }
    return false;
}

int
object_token_join(const struct object *o, struct dvv_vector *out)
{
    struct dvv_entry_info *ei = NULL;
    struct object_cut *cut = NULL;
    size_t ne, got, i, drop;
    int rc;

    dvv_vector_init(out);
    if (o->clock == NULL || dvv_nentries(o->clock) <= DVV_TOKEN_MAX_ENTRIES) {
        return object_join(o, out);
    }
    ne = dvv_nentries(o->clock);
    ei = rc_malloc(ne * sizeof(*ei));
    cut = rc_malloc(ne * sizeof(*cut));
    out->entries = rc_malloc(DVV_TOKEN_MAX_ENTRIES * sizeof(*out->entries));
    rc = RC_ENOMEM;
    if (ei == NULL || cut == NULL || out->entries == NULL) {
        goto out;
    }
    rc = dvv_entries(o->clock, ei, ne, &got);
    if (rc != RC_OK) {
        goto out;
    }
    for (i = 0; i < ne; i++) {
        cut[i].vc.actor = ei[i].actor;
        cut[i].vc.counter = ei[i].counter;
        cut[i].stamp = ei[i].stamp;
        cut[i].live = object_entry_live(&ei[i]);
    }
    qsort(cut, ne, sizeof(*cut), object_cut_cmp);
    drop = ne - DVV_TOKEN_MAX_ENTRIES;
    qsort(cut + drop, DVV_TOKEN_MAX_ENTRIES, sizeof(*cut), object_cut_actor_cmp);
    for (i = 0; i < DVV_TOKEN_MAX_ENTRIES; i++) {
        out->entries[i] = cut[drop + i].vc;
    }
    out->n = DVV_TOKEN_MAX_ENTRIES;
    out->pruned = true;
out:
    rc_free(ei);
    rc_free(cut);
    if (rc != RC_OK) {
        dvv_vector_deinit(out);
    }
    return rc;
}

/* ------------------------------------------------------------ update */

/* Whether s (NULL: absent) has an entry for actor. */
static int
object_has_entry(const struct dvv_set *s, const struct dvv_actor *actor, bool *found)
{
    struct dvv_vector j;
    size_t i;
    int rc;

    *found = false;
    if (s == NULL) {
        return RC_OK;
    }
    rc = dvv_join(s, &j);
    for (i = 0; rc == RC_OK && i < j.n && !*found; i++) {
        *found = object_actor_cmp(&j.entries[i].actor, actor) == 0;
    }
    dvv_vector_deinit(&j);
    return rc;
}

/* out = per actor the larger counter of a and b; pruned if either is. */
static int
object_vector_max(const struct dvv_vector *a, const struct dvv_vector *b, struct dvv_vector *out)
{
    size_t i = 0, j = 0, w = 0;

    dvv_vector_init(out);
    if (a->n + b->n > 0) {
        out->entries = rc_malloc((a->n + b->n) * sizeof(*out->entries));
        if (out->entries == NULL) {
            return RC_ENOMEM;
        }
    }
    while (i < a->n || j < b->n) {
        int c = i == a->n   ? 1
                : j == b->n ? -1
                            : object_actor_cmp(&a->entries[i].actor, &b->entries[j].actor);

        if (c < 0) {
            out->entries[w++] = a->entries[i++];
        } else if (c > 0) {
            out->entries[w++] = b->entries[j++];
        } else {
            out->entries[w] = a->entries[i];
            if (b->entries[j].counter > a->entries[i].counter) {
                out->entries[w].counter = b->entries[j].counter;
            }
            w++;
            i++;
            j++;
        }
    }
    out->n = w;
    out->pruned = a->pruned || b->pruned;
    return RC_OK;
}

/* Set self's entry of v to counter (0: remove it), keeping the order. */
static int
object_vector_set(struct dvv_vector *v, const struct dvv_actor *self, uint64_t counter)
{
    struct dvv_vector_entry *e;
    size_t i = 0;

    while (i < v->n && object_actor_cmp(&v->entries[i].actor, self) < 0) {
        i++;
    }
    if (i < v->n && object_actor_cmp(&v->entries[i].actor, self) == 0) {
        if (counter == 0) {
            memmove(&v->entries[i], &v->entries[i + 1], (v->n - i - 1) * sizeof(*e));
            v->n--;
        } else {
            v->entries[i].counter = counter;
        }
        return RC_OK;
    }
    if (counter == 0) {
        return RC_OK;
    }
    e = rc_realloc(v->entries, (v->n + 1) * sizeof(*e));
    if (e == NULL) {
        return RC_ENOMEM;
    }
    v->entries = e;
    memmove(&e[i + 1], &e[i], (v->n - i) * sizeof(*e));
    e[i].actor = *self;
    e[i].counter = counter;
    v->n++;
    return RC_OK;
}

/* Actors in a or b, plus self if neither has it: the entries an update
 * makes before any prune. */
static size_t
object_union_size(const struct dvv_vector *a, const struct dvv_vector *b,
                  const struct dvv_actor *self)
{
    size_t i = 0, j = 0, n = 0;
    bool seen = false;

    while (i < a->n || j < b->n) {
        int c = i == a->n   ? 1
                : j == b->n ? -1
                            : object_actor_cmp(&a->entries[i].actor, &b->entries[j].actor);
        const struct dvv_actor *x = c <= 0 ? &a->entries[i].actor : &b->entries[j].actor;

        seen = seen || object_actor_cmp(x, self) == 0;
        i += c <= 0;
        j += c >= 0;
        n++;
    }
    return n + !seen;
}

/* The context of a write (V.4): the client's, with the local join when
 * cover_local, and seeded when the clock has no entry for self. */
static int
object_write_context(const struct object *o, const struct dvv_vector *ctx, bool cover_local,
                     const struct dvv_actor *self, uint64_t seq, struct dvv_vector *out)
{
    struct dvv_vector empty, local;
    bool mine = false;
    int rc = RC_OK;

    dvv_vector_init(&empty);
    dvv_vector_init(&local);
    if (cover_local) {
        rc = object_join(o, &local);
    }
    if (rc == RC_OK) {
        rc = object_vector_max(ctx != NULL ? ctx : &empty, &local, out);
    } else {
        dvv_vector_init(out);
    }
    dvv_vector_deinit(&local);
    if (rc == RC_OK) {
        rc = object_has_entry(o->clock, self, &mine);
    }
    if (rc != RC_OK || mine) {
        return rc;
    }
    /* Seeding: the dot must be (self, seq). A context cannot know events of
     * self at or above seq (check 5 of V.9 refuses such a token), and the
     * clock holds none of self's values, so setting the entry to seq - 1
     * (or removing it when seq is 1) covers nothing more than the seed
     * itself does, and keeps the dot within the write sequence. */
    if (seq == 0) {
        return RC_EINVAL;
    }
    return object_vector_set(out, self, seq - 1);
}

/* Build the clock an update would make, with value v (borrowed).
 * *unpruned (if not NULL): the entries it holds unless it pruned. */
static int
object_build(const struct object *o, const struct dvv_vector *ctx, bool cover_local,
             const struct dvv_actor *self, uint64_t seq, int64_t stamp_ms, unsigned keep,
             const struct dvv_value *v, struct dvv_set **out, size_t *unpruned)
{
    struct dvv_vector c, local;
    struct dvv_set *client = NULL;
    int rc;

    *out = NULL;
    dvv_vector_init(&c);
    if (self == NULL || keep > DVV_PRUNE_TRIGGER) {
        return RC_EINVAL;
    }
    rc = object_write_context(o, ctx, cover_local, self, seq, &c);
    if (rc == RC_OK) {
        rc = dvv_new_with_context(&c, v, &client);
    }
    if (rc == RC_OK) {
        rc = dvv_update(client, o->clock, self, stamp_ms > 0 ? (uint64_t)stamp_ms : 0, keep, out);
    }
    if (rc == RC_OK && unpruned != NULL) {
        rc = object_join(o, &local);
        *unpruned = object_union_size(&c, &local, self);
        dvv_vector_deinit(&local);
    }
    dvv_destroy(client);
    dvv_vector_deinit(&c);
    if (rc != RC_OK) {
        dvv_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* The common write made cheap: a plain write (the local join as the whole
 * context) on a key that is absent or whose clock is one unpruned entry of
 * self's with no anonymous value. Its result is exactly what the general
 * path builds (test_object checks the encodings are equal): one entry for
 * self, counter n + 1 (or seq when absent: seeding), stamped max(stamp,
 * old stamp + 1), holding the new payload. Returns false (o untouched)
 * when the case does not apply. *rc is set when it does. */
static bool
object_update_simple(struct object *o, const struct dvv_vector *ctx, bool cover_local,
                     const struct object_payload *p, const struct dvv_actor *self, uint64_t seq,
                     int64_t stamp_ms, int *rc)
{
    struct dvv_entry_info e;
    struct dvv_value v;
    struct dvv_set *made = NULL;
    uint64_t counter, stamp = stamp_ms > 0 ? (uint64_t)stamp_ms : 0;
    size_t n = 0;

    if (!cover_local || (ctx != NULL && ctx->n > 0) || self == NULL) {
        return false;
    }
    if (o->clock == NULL) {
        if (seq == 0) {
            return false;
        }
        counter = seq;
    } else {
        if (dvv_is_pruned(o->clock) || dvv_nentries(o->clock) != 1 ||
            dvv_entries(o->clock, &e, 1, &n) != RC_OK || n != 1 ||
            memcmp(e.actor.id, self->id, DVV_ACTOR_SIZE) != 0 || dvv_size(o->clock) != e.nvals ||
            e.counter == UINT64_MAX) {
            return false;
        }
        counter = e.counter + 1;
        if (stamp < e.stamp + 1) {
            stamp = e.stamp + 1;
        }
    }
    buf_reset(&o->own2);
    *rc = object_payload_encode(p, &o->own2);
    if (*rc == RC_OK) {
        v.data = o->own2.data;
        v.len = o->own2.len;
        *rc = dvv_from_entry(self, counter, stamp, &v, &made);
    }
    if (*rc != RC_OK) {
        buf_deinit(&o->own2);
        return true;
    }
    object_install(o, made);
    return true;
}

int
object_update(struct object *o, const struct dvv_vector *ctx, bool cover_local,
              const struct object_payload *p, const struct dvv_actor *self, uint64_t seq,
              int64_t stamp_ms, unsigned keep, bool *pruned)
{
    struct dvv_set *made = NULL, *moved = NULL;
    struct dvv_value ranges[2];
    struct buf tmp;
    size_t unpruned = 0;
    int rc;

    if (pruned != NULL) {
        *pruned = false;
    }
    if (keep <= DVV_PRUNE_TRIGGER &&
        object_update_simple(o, ctx, cover_local, p, self, seq, stamp_ms, &rc)) {
        if (rc == RC_OK) {
            o->meta.acked = false; /* a new version: nobody has it yet */
        }
        return rc;
    }
    buf_init(&tmp);
    rc = object_payload_encode(p, &tmp);
    if (rc == RC_OK) {
        ranges[0].data = tmp.data;
        ranges[0].len = tmp.len;
        rc = object_build(o, ctx, cover_local, self, seq, stamp_ms, keep, &ranges[0], &made,
                          &unpruned);
    }
    if (rc == RC_OK) { /* gather the new payload and o's own bytes into own2 */
        ranges[1].data = o->own.data;
        ranges[1].len = o->own.len;
        buf_reset(&o->own2);
        rc = dvv_relocate(made, ranges, 2, &o->own2, &moved);
    }
    dvv_destroy(made);
    buf_deinit(&tmp);
    if (rc != RC_OK) {
        buf_deinit(&o->own2);
        return rc;
    }
    if (pruned != NULL) {
        *pruned = dvv_nentries(moved) < unpruned;
    }
    object_install(o, moved);
    o->meta.acked = false;
    return RC_OK;
}

int
object_update_count(const struct object *o, const struct dvv_vector *ctx, bool cover_local,
                    const struct dvv_actor *self, uint64_t seq, size_t *nsiblings)
{
    static const unsigned char probe[OBJECT_PAYLOAD_HDR] = {OBJECT_PAYLOAD_V1, OBJECT_SF_TOMBSTONE};
    struct dvv_value v = {probe, sizeof(probe)};
    struct dvv_set *made;
    int rc;

    *nsiblings = 0;
    rc = object_build(o, ctx, cover_local, self, seq, 0, 0, &v, &made, NULL);
    if (rc == RC_OK) {
        *nsiblings = dvv_size(made);
        dvv_destroy(made);
    }
    return rc;
}

/* ------------------------------------------------------------ merge */

/* Last writer wins on (stamp, node), then the larger expiry so the merge
 * stays commutative even for equal stamps. > 0: a wins. */
static int
object_expiry_cmp(const struct object_meta *a, const struct object_meta *b)
{
    int c;

    if (a->exp_stamp_ms != b->exp_stamp_ms) {
        return a->exp_stamp_ms > b->exp_stamp_ms ? 1 : -1;
    }
    c = object_actor_cmp(&a->exp_node, &b->exp_node);
    if (c != 0) {
        return c;
    }
    if (a->exptime != b->exptime) {
        return a->exptime > b->exptime ? 1 : -1;
    }
    return 0;
}

bool
object_tombstone_only(const struct object *o)
{
    return o->clock != NULL && object_nsiblings(o) > 0 && object_nlive(o) == 0;
}

bool
object_same_clock(const struct object *a, const struct object *b)
{
    struct buf ea, eb;
    bool same;

    if (a->clock == NULL || b->clock == NULL) {
        return a->clock == b->clock;
    }
    /* Equal states encode to identical bytes (dvv.h), so this is exact. */
    buf_init(&ea);
    buf_init(&eb);
    same = dvv_encode(a->clock, &ea) == RC_OK && dvv_encode(b->clock, &eb) == RC_OK &&
           ea.len == eb.len && memcmp(ea.data, eb.data, ea.len) == 0;
    buf_deinit(&ea);
    buf_deinit(&eb);
    return same;
}

int
object_merge(struct object *o, const struct object *peer)
{
    struct dvv_set *merged = NULL, *moved = NULL;
    bool acked;
    int rc = RC_OK;

    if (peer->clock == NULL) {
        return RC_OK;
    }
    /* The mark survives only where the clock does not change: a merge with
     * nothing is the peer's object itself; otherwise both sides must hold
     * the identical tombstone-only clock (then the merge changes nothing and
     * either side's knowledge that every replica has it holds for both). */
    if (o->clock == NULL) {
        acked = peer->meta.acked && object_tombstone_only(peer);
    } else {
        acked = (o->meta.acked || peer->meta.acked) && object_tombstone_only(o) &&
                object_same_clock(o, peer);
    }
    if (o->clock != NULL) {
        rc = dvv_sync(o->clock, peer->clock, &merged);
    }
    if (rc == RC_OK) { /* o keeps no reference into the peer's memory */
        buf_reset(&o->own2);
        rc = dvv_relocate(merged != NULL ? merged : peer->clock, NULL, 0, &o->own2, &moved);
    }
    dvv_destroy(merged);
    if (rc != RC_OK) {
        buf_deinit(&o->own2);
        return rc;
    }
    if (o->clock == NULL || object_expiry_cmp(&peer->meta, &o->meta) > 0) {
        o->meta.exptime = peer->meta.exptime;
        o->meta.exp_stamp_ms = peer->meta.exp_stamp_ms;
        o->meta.exp_node = peer->meta.exp_node;
    }
    object_install(o, moved);
    o->meta.acked = acked;
    return RC_OK;
}

/* ------------------------------------------------------------ encoding */

int
object_encode(const struct object *o, uint64_t cas, struct buf *out)
{
    struct object_summary sum;
    size_t start = out->len, nclock;
    unsigned char *h;
    int rc;

    if (o->clock == NULL) {
        return RC_EINVAL;
    }
    rc = object_summarize(o->clock, &sum);
    if (rc != RC_OK) {
        return rc == RC_ECORRUPT ? RC_EINVAL : rc;
    }
    rc = buf_reserve(out, OBJECT_HEADER_SIZE);
    if (rc != RC_OK) {
        return rc;
    }
    out->len += OBJECT_HEADER_SIZE;
    rc = dvv_encode(o->clock, out);
    if (rc != RC_OK) {
        out->len = start;
        return rc;
    }
    nclock = out->len - start - OBJECT_HEADER_SIZE;
    if (nclock > UINT32_MAX || sum.voff > UINT32_MAX - OBJECT_HEADER_SIZE ||
        sum.vlen > UINT32_MAX) {
        out->len = start;
        return RC_ETOOLARGE;
    }
    h = (unsigned char *)out->data + start;
    h[OBJ_OFF_FORMAT] = OBJECT_FORMAT_V3;
    h[OBJ_OFF_KIND] = OBJECT_KIND;
    h[OBJ_OFF_IFLAGS] = o->meta.iflags;
    h[OBJ_OFF_OFLAGS] =
        (uint8_t)((sum.deleted ? OBJECT_F_DELETED : 0) |
                  (o->meta.acked && sum.deleted && sum.nlive == 0 && sum.nsiblings > 0
                       ? OBJECT_F_ACKED
                       : 0));
    be_put64(h + OBJ_OFF_SEQ, o->meta.seq);
    be_put64(h + OBJ_OFF_MTIME, (uint64_t)o->meta.mtime_ms);
    be_put64(h + OBJ_OFF_ATIME, (uint64_t)o->meta.atime);
    be_put64(h + OBJ_OFF_EXPTIME, (uint64_t)o->meta.exptime);
    be_put64(h + OBJ_OFF_EXPSTAMP, (uint64_t)o->meta.exp_stamp_ms);
    memcpy(h + OBJ_OFF_EXPNODE, o->meta.exp_node.id, DVV_ACTOR_SIZE);
    be_put64(h + OBJ_OFF_CAS, cas);
    be_put32(h + OBJ_OFF_DFLAGS, sum.flags);
    be_put64(h + OBJ_OFF_DWTIME, (uint64_t)sum.wtime_ms);
    be_put32(h + OBJ_OFF_NLIVE, sum.nlive);
    be_put32(h + OBJ_OFF_NSIBLINGS, sum.nsiblings);
    be_put32(h + OBJ_OFF_NENTRIES, sum.nentries);
    be_put32(h + OBJ_OFF_VOFF, sum.nsiblings > 0 ? (uint32_t)(sum.voff + OBJECT_HEADER_SIZE) : 0);
    be_put32(h + OBJ_OFF_VLEN, (uint32_t)sum.vlen);
    be_put32(h + OBJ_OFF_CLOCKLEN, (uint32_t)nclock);
    assert(sum.nsiblings == 0 ||
           memcmp(h + OBJECT_HEADER_SIZE + sum.voff, sum.value, sum.vlen) == 0);
    return RC_OK;
}

int
object_rewrite_meta(const void *data, size_t n, const struct object_meta *m, struct buf *out)
{
    struct object_view v;
    unsigned char *h;
    size_t start = out->len;
    int rc;

    if (object_view_decode(data, n, &v) != RC_OK || v.lifted || (m->iflags & ~RECORD_IF__ALL)) {
        return RC_EINVAL;
    }
    rc = buf_append(out, data, n);
    if (rc != RC_OK) {
        return rc;
    }
    h = (unsigned char *)out->data + start;
    h[OBJ_OFF_IFLAGS] = m->iflags;
    be_put64(h + OBJ_OFF_SEQ, m->seq);
    be_put64(h + OBJ_OFF_MTIME, (uint64_t)m->mtime_ms);
    be_put64(h + OBJ_OFF_ATIME, (uint64_t)m->atime);
    be_put64(h + OBJ_OFF_EXPTIME, (uint64_t)m->exptime);
    be_put64(h + OBJ_OFF_EXPSTAMP, (uint64_t)m->exp_stamp_ms);
    memcpy(h + OBJ_OFF_EXPNODE, m->exp_node.id, DVV_ACTOR_SIZE);
    return RC_OK;
}

bool
object_mark_access(void *data, size_t n, int64_t now, int64_t interval, uint8_t skip_iflags)
{
    unsigned char *p = data;
    int64_t exptime;
    uint8_t iflags;

    if (p == NULL || n < OBJECT_HEADER_SIZE || p[OBJ_OFF_FORMAT] != OBJECT_FORMAT_V3 ||
        p[OBJ_OFF_KIND] != OBJECT_KIND) {
        return false;
    }
    iflags = p[OBJ_OFF_IFLAGS];
    exptime = (int64_t)be_get64(p + OBJ_OFF_EXPTIME);
    if ((iflags & skip_iflags) != 0 || (p[OBJ_OFF_OFLAGS] & OBJECT_F_DELETED) != 0 ||
        (exptime != 0 && exptime <= now) ||
        ((iflags & RECORD_IF_FETCHED) != 0 &&
         now - (int64_t)be_get64(p + OBJ_OFF_ATIME) < interval)) {
        return false;
    }
    p[OBJ_OFF_IFLAGS] = (uint8_t)(iflags | RECORD_IF_FETCHED);
    be_put64(p + OBJ_OFF_ATIME, (uint64_t)now);
    return true;
}

bool
object_record_set_acked(void *data, size_t n, bool acked)
{
    unsigned char *p = data;
    struct object_view v;

    if (object_view_decode(data, n, &v) != RC_OK || v.lifted) {
        return false;
    }
    if (acked && (!v.deleted || v.nlive != 0 || v.nsiblings == 0)) {
        return false;
    }
    p[OBJ_OFF_OFLAGS] =
        (uint8_t)(acked ? p[OBJ_OFF_OFLAGS] | OBJECT_F_ACKED : p[OBJ_OFF_OFLAGS] & ~OBJECT_F_ACKED);
    return true;
}
