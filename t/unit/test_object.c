/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_object.c - the versioned object (kv/object.h): sibling payloads and
 * their strict decoder; record format 3 round trips through encode, the
 * cheap view and the full load, with the derived header fields checked;
 * lifting of format 1 and 2 records with the dot (self, cas); seeding of
 * new and reaped keys; plain, stale, blind and tombstone writes; the
 * dominance order and its ties; update_count against update; the merge
 * laws and the expiry's last-writer-wins; the token's bounded join; and
 * every decoder against every truncation and every byte flipped of sample
 * records (run under ASan for the "never reads outside" half).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/endian.h"
#include "base/status.h"
#include "kv/dvv.h"
#include "kv/object.h"
#include "kv/record.h"

/* ------------------------------------------------------------ helpers */

static struct dvv_actor
actor(unsigned i)
{
    struct dvv_actor a;

    memset(&a, 0, sizeof(a));
    a.id[0] = 0xa0;
    a.id[15] = (uint8_t)i;
    return a;
}

static struct object_payload
live(const char *s, uint32_t flags, int64_t wtime)
{
    struct object_payload p = {false, flags, wtime, s, strlen(s)};
    return p;
}

static struct object_payload
tomb(int64_t wtime)
{
    struct object_payload p = {true, 0, wtime, NULL, 0};
    return p;
}

/* A write coordinated by node `self` with write sequence seq. */
static void
write_at(struct object *o, const struct dvv_vector *ctx, bool cover, struct object_payload p,
         unsigned self, uint64_t seq)
{
    struct dvv_actor a = actor(self);
    size_t count;
    bool pruned;

    assert_int_equal(object_update_count(o, ctx, cover, &a, seq, &count), RC_OK);
    assert_int_equal(object_update(o, ctx, cover, &p, &a, seq, p.wtime_ms, 0, &pruned), RC_OK);
    assert_int_equal(count, object_nsiblings(o));
}

/* "value@node:counter" of the siblings in dominance order; "~" for a
 * tombstone, "@-" for an anonymous one. */
static void
assert_siblings(const struct object *o, const char *want)
{
    struct object_sibling sib[32];
    char got[512];
    size_t n, i, w = 0;

    assert_int_equal(object_siblings(o, sib, 32, &n), RC_OK);
    assert_int_equal(n, object_nsiblings(o));
    got[0] = '\0';
    for (i = 0; i < n; i++) {
        const char *v = sib[i].p.tombstone ? "~" : (const char *)sib[i].p.value;
        int nv = sib[i].p.tombstone ? 1 : (int)sib[i].p.nvalue;

        if (sib[i].anonymous) {
            w += (size_t)snprintf(got + w, sizeof(got) - w, "%s%.*s@-", i ? "," : "", nv, v);
        } else {
            w += (size_t)snprintf(got + w, sizeof(got) - w, "%s%.*s@%u:%llu", i ? "," : "", nv, v,
                                  sib[i].actor.id[15], (unsigned long long)sib[i].counter);
        }
    }
    assert_string_equal(got, want);
}

/* "1:2,2:1" of a vector, "!" appended when pruned. */
static void
assert_vector(const struct dvv_vector *vv, const char *want)
{
    char got[512];
    size_t i, w = 0;

    got[0] = '\0';
    for (i = 0; i < vv->n; i++) {
        w += (size_t)snprintf(got + w, sizeof(got) - w, "%s%u:%llu", i ? "," : "",
                              vv->entries[i].actor.id[15],
                              (unsigned long long)vv->entries[i].counter);
    }
    if (vv->pruned) {
        snprintf(got + w, sizeof(got) - w, "!");
    }
    assert_string_equal(got, want);
}

static void
assert_join(const struct object *o, const char *want)
{
    struct dvv_vector vv;

    assert_int_equal(object_join(o, &vv), RC_OK);
    assert_vector(&vv, want);
    dvv_vector_deinit(&vv);
}

static void
join_of(const struct object *o, struct dvv_vector *vv)
{
    assert_int_equal(object_join(o, vv), RC_OK);
}

static void
encode_obj(const struct object *o, struct buf *b)
{
    buf_init(b);
    assert_int_equal(object_encode(o, 0x1122334455667788ull, b), RC_OK);
}

/* The clock and expiry of two objects are the same state. */
static void
assert_same_state(const struct object *a, const struct object *b)
{
    struct buf x, y;

    buf_init(&x);
    buf_init(&y);
    assert_int_equal(dvv_encode(a->clock, &x), RC_OK);
    assert_int_equal(dvv_encode(b->clock, &y), RC_OK);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    assert_int_equal(a->meta.exptime, b->meta.exptime);
    assert_int_equal(a->meta.exp_stamp_ms, b->meta.exp_stamp_ms);
    assert_memory_equal(a->meta.exp_node.id, b->meta.exp_node.id, DVV_ACTOR_SIZE);
    buf_deinit(&x);
    buf_deinit(&y);
}

/* A format 1 record, written by hand (record.c reads it, never writes it). */
static void
record_v1(struct buf *b, uint32_t flags, int64_t exptime, uint64_t cas, int64_t mtime,
          const char *value)
{
    unsigned char h[34];

    h[0] = RECORD_FORMAT_V1;
    h[1] = RECORD_KIND_VALUE;
    be_put32(h + 2, flags);
    be_put64(h + 6, (uint64_t)exptime);
    be_put64(h + 14, cas);
    be_put64(h + 22, (uint64_t)mtime);
    be_put32(h + 30, (uint32_t)strlen(value));
    buf_init(b);
    assert_int_equal(buf_append(b, h, sizeof(h)), RC_OK);
    assert_int_equal(buf_append(b, value, strlen(value)), RC_OK);
}

/* ------------------------------------------------------------ fast path */

/* What the general path of V.4 makes for a plain write: the local join (and
 * the seed) as the client's context, dvv_new_with_context, dvv_update. */
static void
general_clock(const struct object *o, const struct object_payload *p, const struct dvv_actor *self,
              uint64_t seq, int64_t stamp, struct buf *enc, struct buf *pay)
{
    struct dvv_vector j;
    struct dvv_set *client = NULL, *made = NULL;
    struct dvv_value v;
    bool mine = false;

    join_of(o, &j);
    for (size_t i = 0; i < j.n; i++) {
        mine |= memcmp(j.entries[i].actor.id, self->id, DVV_ACTOR_SIZE) == 0;
    }
    if (!mine && seq > 1) { /* seed (self, seq - 1) */
        struct dvv_vector_entry *e = rc_realloc(j.entries, (j.n + 1) * sizeof(*e));

        assert_non_null(e);
        j.entries = e;
        j.entries[j.n].actor = *self;
        j.entries[j.n].counter = seq - 1;
        j.n++;
    }
    buf_init(pay);
    assert_int_equal(object_payload_encode(p, pay), RC_OK);
    v.data = pay->data;
    v.len = pay->len;
    assert_int_equal(dvv_new_with_context(&j, &v, &client), RC_OK);
    assert_int_equal(dvv_update(client, o->clock, self, (uint64_t)stamp, 0, &made), RC_OK);
    buf_init(enc);
    assert_int_equal(dvv_encode(made, enc), RC_OK);
    dvv_destroy(client);
    dvv_destroy(made);
    dvv_vector_deinit(&j);
}

/* Plain writes on absent and single-entry keys take a shortcut in
 * object_update; its clocks must equal the general construction's, byte for
 * byte, including the stamp rule (clock going backwards) and seeding. */
static void
test_plain_write_shortcut_matches_general(void **state)
{
    struct dvv_actor self = actor(1);
    struct object o;
    int64_t stamps[] = {1000, 1000, 999, 5000, 1, 7000};
    uint64_t seqs[] = {1, 2, 3, 10, 11, 500};

    (void)state;
    for (int start = 0; start < 2; start++) {
        object_init(&o);
        for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
            struct object_payload p = live(i % 2 ? "odd" : "even-value", (uint32_t)i, stamps[i]);
            uint64_t seq = seqs[i] + (uint64_t)start * 40;
            struct buf want, pay, got;
            bool pruned = true;

            general_clock(&o, &p, &self, seq, stamps[i], &want, &pay);
            assert_int_equal(object_update(&o, NULL, true, &p, &self, seq, stamps[i], 0, &pruned),
                             RC_OK);
            assert_false(pruned);
            buf_init(&got);
            assert_int_equal(dvv_encode(o.clock, &got), RC_OK);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
            buf_deinit(&want);
            buf_deinit(&pay); /* o owns its own copy of the payload */
            buf_deinit(&got);
        }
        object_deinit(&o);
    }
}

/* ------------------------------------------------------------ payloads */

static void
test_payload_round_trip(void **state)
{
    struct object_payload in[3] = {live("hello", 7, 1234567), live("", 0, -5), tomb(99)};
    struct object_payload out;
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        buf_init(&b);
        assert_int_equal(object_payload_encode(&in[i], &b), RC_OK);
        assert_int_equal(b.len, OBJECT_PAYLOAD_HDR + in[i].nvalue);
        assert_int_equal(object_payload_decode(b.data, b.len, &out), RC_OK);
        assert_int_equal(out.tombstone, in[i].tombstone);
        assert_int_equal(out.flags, in[i].flags);
        assert_int_equal(out.wtime_ms, in[i].wtime_ms);
        assert_int_equal(out.nvalue, in[i].nvalue);
        if (in[i].nvalue > 0) {
            assert_memory_equal(out.value, in[i].value, in[i].nvalue);
        }
        buf_deinit(&b);
    }
}

static void
test_payload_rejects(void **state)
{
    unsigned char p[OBJECT_PAYLOAD_HDR + 2] = {1, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 'h', 'i'};
    struct object_payload out, bad;
    struct buf b;
    size_t n;

    (void)state;
    assert_int_equal(object_payload_decode(p, sizeof(p), &out), RC_OK);
    for (n = 0; n < OBJECT_PAYLOAD_HDR; n++) { /* short */
        assert_int_equal(object_payload_decode(p, n, &out), RC_ECORRUPT);
    }
    assert_int_equal(object_payload_decode(NULL, 0, &out), RC_ECORRUPT);
    p[0] = 2; /* version */
    assert_int_equal(object_payload_decode(p, sizeof(p), &out), RC_ECORRUPT);
    p[0] = 1;
    p[1] = 2; /* unknown sflag */
    assert_int_equal(object_payload_decode(p, sizeof(p), &out), RC_ECORRUPT);
    p[1] = OBJECT_SF_TOMBSTONE; /* tombstone with flags and a value */
    assert_int_equal(object_payload_decode(p, sizeof(p), &out), RC_ECORRUPT);
    p[5] = 0; /* no flags, still a value */
    assert_int_equal(object_payload_decode(p, sizeof(p), &out), RC_ECORRUPT);
    assert_int_equal(object_payload_decode(p, OBJECT_PAYLOAD_HDR, &out), RC_OK);
    assert_true(out.tombstone);
    p[5] = 9; /* flags, no value */
    assert_int_equal(object_payload_decode(p, OBJECT_PAYLOAD_HDR, &out), RC_ECORRUPT);
    /* The encoder refuses what the decoder would refuse. */
    buf_init(&b);
    bad = tomb(1);
    bad.flags = 3;
    assert_int_equal(object_payload_encode(&bad, &b), RC_EINVAL);
    bad = tomb(1);
    bad.value = "x";
    bad.nvalue = 1;
    assert_int_equal(object_payload_encode(&bad, &b), RC_EINVAL);
    bad = live("x", 0, 0);
    bad.value = NULL;
    assert_int_equal(object_payload_encode(&bad, &b), RC_EINVAL);
    assert_int_equal(b.len, 0);
    buf_deinit(&b);
}

/* ------------------------------------------------------------ seeding */

static void
test_seed_new_key(void **state)
{
    struct object o;

    (void)state;
    object_init(&o);
    assert_int_equal(object_nsiblings(&o), 0);
    assert_join(&o, "");
    write_at(&o, NULL, true, live("v1", 0, 10), 1, 100);
    assert_siblings(&o, "v1@1:100");
    assert_join(&o, "1:100");
    /* An existing entry: n + 1, whatever the write sequence. */
    write_at(&o, NULL, true, live("v2", 0, 20), 1, 250);
    assert_siblings(&o, "v2@1:101");
    assert_join(&o, "1:101");
    /* Another node seeds its own entry. */
    write_at(&o, NULL, true, live("v3", 0, 30), 2, 7);
    assert_siblings(&o, "v3@2:7");
    assert_join(&o, "1:101,2:7");
    object_deinit(&o);

    object_init(&o); /* seq 1: no seed entry, dot (self, 1) */
    write_at(&o, NULL, true, live("v1", 0, 10), 1, 1);
    assert_siblings(&o, "v1@1:1");
    object_deinit(&o);
}

static void
test_seed_clamps_claims(void **state)
{
    struct dvv_vector ctx;
    struct dvv_vector_entry e[2];
    struct object o;

    (void)state;
    /* A context claiming (self, 500) cannot push the seeded dot past seq. */
    e[0].actor = actor(1);
    e[0].counter = 500;
    e[1].actor = actor(3);
    e[1].counter = 4;
    ctx.entries = e;
    ctx.n = 2;
    ctx.pruned = false;
    object_init(&o);
    write_at(&o, &ctx, false, live("v", 0, 1), 1, 100);
    assert_siblings(&o, "v@1:100");
    assert_join(&o, "1:100,3:4");
    object_deinit(&o);
    object_init(&o);
    write_at(&o, &ctx, false, live("v", 0, 1), 1, 1);
    assert_siblings(&o, "v@1:1");
    object_deinit(&o);
}

static void
test_seed_after_reap(void **state)
{
    struct dvv_vector old, now;
    struct object o;

    (void)state;
    object_init(&o);
    write_at(&o, NULL, true, live("a", 0, 10), 1, 5);
    join_of(&o, &old); /* a client keeps this context */
    object_deinit(&o); /* the record is reaped */

    object_init(&o);
    write_at(&o, NULL, true, live("b", 0, 20), 1, 10);
    assert_siblings(&o, "b@1:10");
    join_of(&o, &now);
    assert_int_equal(dvv_vector_compare(&old, &now), DVV_LESS);
    /* A write with the old context keeps the new version as a sibling. */
    write_at(&o, &old, false, live("c", 0, 30), 1, 11);
    assert_siblings(&o, "c@1:11,b@1:10");
    dvv_vector_deinit(&old);
    dvv_vector_deinit(&now);
    object_deinit(&o);
}

/* ------------------------------------------------------------ writes */

static void
test_writes_and_contexts(void **state)
{
    struct dvv_vector j1, empty;
    struct object o;

    (void)state;
    dvv_vector_init(&empty);
    object_init(&o);
    write_at(&o, NULL, false, live("v1", 0, 10), 1, 1);
    join_of(&o, &j1);
    write_at(&o, &j1, false, live("v2", 0, 20), 1, 2); /* fresh context */
    assert_siblings(&o, "v2@1:2");
    write_at(&o, &j1, false, live("v3", 0, 30), 2, 3); /* stale context */
    assert_siblings(&o, "v3@2:3,v2@1:2");
    write_at(&o, &empty, false, live("v4", 0, 25), 3, 4); /* blind */
    assert_siblings(&o, "v3@2:3,v4@3:4,v2@1:2");
    assert_int_equal(object_nlive(&o), 3);
    write_at(&o, NULL, true, live("v5", 0, 40), 2, 5); /* plain write collapses */
    assert_siblings(&o, "v5@2:4");
    assert_join(&o, "1:2,2:4,3:4");
    dvv_vector_deinit(&j1);
    object_deinit(&o);
}

static void
test_tombstones(void **state)
{
    struct object o, c;
    struct object_view v;
    struct buf rec, rec2;

    (void)state;
    object_init(&o);
    write_at(&o, NULL, true, live("v1", 5, 10), 1, 1);
    write_at(&o, NULL, true, tomb(20), 1, 2);
    assert_siblings(&o, "~@1:2");
    assert_int_equal(object_nsiblings(&o), 1);
    assert_int_equal(object_nlive(&o), 0);
    encode_obj(&o, &rec);
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_OK);
    assert_true(v.deleted);
    assert_int_equal(v.nlive, 0);
    assert_int_equal(v.nsiblings, 1);
    assert_int_equal(v.nvalue, 0);
    assert_int_equal(v.wtime_ms, 20);
    /* A concurrent live write older than the tombstone: still deleted. */
    write_at(&o, NULL, false, live("late", 3, 15), 2, 3);
    assert_siblings(&o, "~@1:2,late@2:3");
    encode_obj(&o, &rec2);
    assert_int_equal(object_view_decode(rec2.data, rec2.len, &v), RC_OK);
    assert_true(v.deleted);
    assert_int_equal(v.nlive, 1);
    assert_int_equal(v.nsiblings, 2);
    assert_int_equal(object_load(rec2.data, rec2.len, NULL, &c), RC_OK);
    object_deinit(&c);
    /* A newer one wins. */
    write_at(&o, NULL, false, live("new", 4, 50), 3, 4);
    buf_reset(&rec2);
    assert_int_equal(object_encode(&o, 1, &rec2), RC_OK);
    assert_int_equal(object_view_decode(rec2.data, rec2.len, &v), RC_OK);
    assert_false(v.deleted);
    assert_int_equal(v.flags, 4);
    assert_int_equal(v.nvalue, 3);
    assert_memory_equal(v.value, "new", 3);
    buf_deinit(&rec);
    buf_deinit(&rec2);
    object_deinit(&o);
}

static void
test_dominance_ties(void **state)
{
    struct object o;
    struct dvv_value v;
    struct buf p1, p2;
    struct object_payload pl;

    (void)state;
    object_init(&o);
    write_at(&o, NULL, false, live("a", 0, 100), 1, 10);
    write_at(&o, NULL, false, live("b", 0, 100), 2, 11);
    write_at(&o, NULL, false, live("c", 0, 100), 1, 12); /* same actor, counter 11 */
    write_at(&o, NULL, false, live("d", 0, 50), 3, 13);
    write_at(&o, NULL, false, live("e", 0, 200), 0, 14);
    /* time, then actor id, then counter */
    assert_siblings(&o, "e@0:14,b@2:11,c@1:11,a@1:10,d@3:13");
    object_deinit(&o);

    /* Anonymous values rank below dotted ones, by (length, bytes) desc. */
    buf_init(&p1);
    buf_init(&p2);
    pl = live("zz", 0, 900);
    assert_int_equal(object_payload_encode(&pl, &p1), RC_OK);
    pl = live("y", 0, 999);
    assert_int_equal(object_payload_encode(&pl, &p2), RC_OK);
    object_init(&o);
    v.data = p1.data;
    v.len = p1.len;
    assert_int_equal(dvv_new(&v, &o.clock), RC_OK);
    {
        struct object peer;
        struct dvv_value v2 = {p2.data, p2.len};

        object_init(&peer);
        assert_int_equal(dvv_new(&v2, &peer.clock), RC_OK);
        assert_int_equal(object_merge(&o, &peer), RC_OK);
        object_deinit(&peer);
    }
    buf_deinit(&p1); /* the merge copied what it needs */
    buf_deinit(&p2);
    assert_siblings(&o, "zz@-,y@-");
    write_at(&o, NULL, false, live("x", 0, 1), 4, 1);
    assert_siblings(&o, "x@4:1,zz@-,y@-");
    object_deinit(&o);
}

/* update_count agrees with update on random writes. */
static void
test_update_count(void **state)
{
    uint64_t seed = 42, seq = 1;
    struct dvv_vector saved[8];
    struct object o;
    size_t nsaved = 0, i, step;

    (void)state;
    object_init(&o);
    for (step = 0; step < 400; step++) {
        unsigned node, kind;
        struct dvv_vector *ctx = NULL;
        bool cover;

        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        node = (unsigned)(seed >> 33) % 4;
        kind = (unsigned)(seed >> 40) % 4;
        cover = kind == 0;
        if (kind == 1 && nsaved > 0) {
            ctx = &saved[(seed >> 50) % nsaved];
        }
        write_at(&o, ctx, cover,
                 (seed >> 20) % 5 == 0 ? tomb((int64_t)step) : live("val", 1, (int64_t)step), node,
                 ++seq);
        if ((seed >> 30) % 3 == 0) {
            if (nsaved == 8) {
                dvv_vector_deinit(&saved[0]);
                memmove(&saved[0], &saved[1], 7 * sizeof(saved[0]));
                nsaved--;
            }
            join_of(&o, &saved[nsaved++]);
        }
    }
    for (i = 0; i < nsaved; i++) {
        dvv_vector_deinit(&saved[i]);
    }
    object_deinit(&o);
}

static void
test_update_failure_keeps_object(void **state)
{
    struct object_payload p = live("v", 0, 1), bad = tomb(1);
    struct dvv_actor a = actor(1);
    struct object o;
    struct buf before, after;
    bool pruned = true;

    (void)state;
    object_init(&o);
    assert_int_equal(object_update(&o, NULL, true, &p, &a, 0, 1, 0, &pruned), RC_EINVAL);
    assert_null(o.clock);
    write_at(&o, NULL, true, p, 1, 3);
    encode_obj(&o, &before);
    bad.flags = 1;
    assert_int_equal(object_update(&o, NULL, true, &bad, &a, 4, 1, 0, &pruned), RC_EINVAL);
    assert_int_equal(object_update(&o, NULL, true, &p, &a, 4, 1, DVV_PRUNE_TRIGGER + 1, &pruned),
                     RC_EINVAL);
    encode_obj(&o, &after);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    buf_deinit(&before);
    buf_deinit(&after);
    object_deinit(&o);
}

/* The payload is copied: the caller's bytes may go right after. Repeated
 * updates on one object swap its buffers without leaving a dangling value
 * (ASan checks). */
static void
test_update_owns_payload(void **state)
{
    struct object o;
    struct buf rec;
    size_t i;

    (void)state;
    object_init(&o);
    for (i = 0; i < 20; i++) {
        char *v = rc_malloc(64);
        struct object_payload p;

        snprintf(v, 64, "value-%zu", i);
        p = live(v, (uint32_t)i, (int64_t)i);
        write_at(&o, NULL, i % 3 == 0, p, (unsigned)(i % 4), 10 + i);
        rc_free(v);
    }
    encode_obj(&o, &rec);
    assert_true(object_nsiblings(&o) > 1);
    buf_deinit(&rec);
    object_deinit(&o);
}

static void
test_update_pruned_flag(void **state)
{
    struct object o, peer;
    struct object_payload p = live("v", 0, 1);
    struct dvv_actor self = actor(99);
    bool pruned = true;
    unsigned i;

    (void)state;
    object_init(&o);
    for (i = 0; i < 20; i++) { /* 20 entries through merges */
        object_init(&peer);
        write_at(&peer, NULL, true, live("x", 0, (int64_t)i), i, 1);
        assert_int_equal(object_merge(&o, &peer), RC_OK);
        object_deinit(&peer);
    }
    assert_int_equal(object_update(&o, NULL, false, &p, &self, 5, 100, 0, &pruned), RC_OK);
    assert_false(pruned); /* every entry holds a value: nothing droppable */
    assert_int_equal(object_update(&o, NULL, true, &p, &self, 6, 101, 0, &pruned), RC_OK);
    assert_true(pruned); /* the plain write emptied them: dropped to keep */
    assert_int_equal(dvv_nentries(o.clock), DVV_PRUNE_KEEP);
    assert_int_equal(object_update(&o, NULL, true, &p, &self, 7, 102, 0, &pruned), RC_OK);
    assert_false(pruned); /* marked, but this update dropped nothing */
    assert_true(dvv_is_pruned(o.clock));
    object_deinit(&o);
}

/* ------------------------------------------------------------ format 3 */

static void
make_sample(struct object *o)
{
    object_init(o);
    write_at(o, NULL, false, live("first", 1, 1000), 1, 1);
    write_at(o, NULL, false, live("second value", 2, 3000), 2, 2);
    write_at(o, NULL, false, tomb(2000), 3, 3);
    o->meta.iflags = RECORD_IF_FETCHED | RECORD_IF_WON;
    o->meta.seq = 77;
    o->meta.mtime_ms = 3000;
    o->meta.atime = 4;
    o->meta.exptime = 5000;
    o->meta.exp_stamp_ms = 2999;
    o->meta.exp_node = actor(2);
}

/* object_mark_access: the fetched flag and access time patched in place;
 * everything else (the clock, the cas) byte for byte as before. */
static void
test_mark_access(void **state)
{
    struct object o;
    struct object_view v;
    struct buf rec, before;
    unsigned char *p;

    (void)state;
    make_sample(&o);
    o.meta.iflags = 0;
    o.meta.exptime = 0;
    encode_obj(&o, &rec);
    p = (unsigned char *)rec.data;
    buf_init(&before);
    assert_int_equal(buf_append(&before, rec.data, rec.len), RC_OK);

    /* Never fetched: marked, whatever the access time. */
    assert_true(object_mark_access(rec.data, rec.len, 100, 60, 0));
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_OK);
    assert_int_equal(v.meta.iflags, RECORD_IF_FETCHED);
    assert_int_equal(v.meta.atime, 100);
    assert_int_equal(v.cas, 0x1122334455667788ull);
    assert_memory_equal(rec.data + 28, before.data + 28, rec.len - 28);
    assert_memory_equal(rec.data + 3, before.data + 3, 17);
    /* Fetched within the interval: nothing to do; at the interval: bumped. */
    assert_false(object_mark_access(rec.data, rec.len, 159, 60, 0));
    assert_true(object_mark_access(rec.data, rec.len, 160, 60, 0));
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_OK);
    assert_int_equal(v.meta.atime, 160);

    /* Declined: a flag in skip_iflags, a deleted object, an expired one,
     * another format, a short buffer. */
    p[2] = RECORD_IF_STALE;
    assert_false(object_mark_access(rec.data, rec.len, 1000, 60, RECORD_IF_STALE));
    assert_int_equal(p[2], RECORD_IF_STALE);
    assert_true(object_mark_access(rec.data, rec.len, 1000, 60, 0));
    assert_int_equal(p[2], RECORD_IF_STALE | RECORD_IF_FETCHED);
    p[2] = 0;
    p[3] = OBJECT_F_DELETED;
    assert_false(object_mark_access(rec.data, rec.len, 1000, 60, 0));
    p[3] = 0;
    be_put64(p + 28, 999);
    assert_false(object_mark_access(rec.data, rec.len, 1000, 60, 0));
    be_put64(p + 28, 1001);
    assert_true(object_mark_access(rec.data, rec.len, 1000, 60, 0));
    p[2] = 0;
    assert_false(object_mark_access(rec.data, OBJECT_HEADER_SIZE - 1, 1000, 60, 0));
    p[0] = 2;
    assert_false(object_mark_access(rec.data, rec.len, 1000, 60, 0));
    assert_false(object_mark_access(NULL, 0, 1000, 60, 0));
    buf_deinit(&before);
    buf_deinit(&rec);
    object_deinit(&o);
}

static void
test_format3_round_trip(void **state)
{
    struct object o, l;
    struct object_view v;
    struct buf rec, again;
    const unsigned char *p;

    (void)state;
    make_sample(&o);
    encode_obj(&o, &rec);
    p = (const unsigned char *)rec.data;
    assert_int_equal(p[0], OBJECT_FORMAT_V3);
    assert_int_equal(p[1], OBJECT_KIND);
    assert_int_equal(p[3], 0);
    assert_int_equal(be_get32(p + 100), rec.len - OBJECT_HEADER_SIZE);
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_OK);
    assert_false(v.lifted);
    assert_int_equal(v.cas, 0x1122334455667788ull);
    assert_int_equal(v.meta.iflags, RECORD_IF_FETCHED | RECORD_IF_WON);
    assert_int_equal(v.meta.seq, 77);
    assert_int_equal(v.meta.mtime_ms, 3000);
    assert_int_equal(v.meta.atime, 4);
    assert_int_equal(v.meta.exptime, 5000);
    assert_int_equal(v.meta.exp_stamp_ms, 2999);
    assert_memory_equal(v.meta.exp_node.id, actor(2).id, DVV_ACTOR_SIZE);
    assert_false(v.deleted);
    assert_int_equal(v.flags, 2);
    assert_int_equal(v.wtime_ms, 3000);
    assert_int_equal(v.nvalue, 12);
    assert_memory_equal(v.value, "second value", 12);
    assert_true((const char *)v.value > rec.data + OBJECT_HEADER_SIZE &&
                (const char *)v.value + v.nvalue <= rec.data + rec.len);
    assert_int_equal(v.nlive, 2);
    assert_int_equal(v.nsiblings, 3);
    assert_int_equal(v.nentries, 3);

    assert_int_equal(object_load(rec.data, rec.len, NULL, &l), RC_OK);
    assert_same_state(&o, &l);
    assert_int_equal(l.meta.seq, 77);
    assert_int_equal(l.meta.iflags, RECORD_IF_FETCHED | RECORD_IF_WON);
    assert_siblings(&l, "second value@2:2,~@3:3,first@1:1");
    buf_init(&again);
    assert_int_equal(object_encode(&l, 0x1122334455667788ull, &again), RC_OK);
    assert_int_equal(again.len, rec.len);
    assert_memory_equal(again.data, rec.data, rec.len);
    /* encode appends */
    assert_int_equal(object_encode(&l, 1, &again), RC_OK);
    assert_int_equal(object_view_decode(again.data + rec.len, again.len - rec.len, &v), RC_OK);
    assert_int_equal(v.cas, 1);
    buf_deinit(&again);
    object_deinit(&l);
    buf_deinit(&rec);
    object_deinit(&o);

    object_init(&o); /* no clock: nothing to encode */
    buf_init(&rec);
    assert_int_equal(object_encode(&o, 1, &rec), RC_EINVAL);
    buf_deinit(&rec);
    object_deinit(&o);
}

/* Header fields that disagree with the clock: the view may not see it (it
 * reads the header only), the load must. */
static void
test_format3_derived_mismatch(void **state)
{
    static const size_t fields[] = {80, 84, 88};
    struct object o, l;
    struct object_view v;
    struct buf rec;
    size_t i;

    (void)state;
    make_sample(&o);
    encode_obj(&o, &rec);
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        unsigned char *p = (unsigned char *)rec.data + fields[i];
        uint32_t was = be_get32(p);

        be_put32(p, was - 1);
        assert_int_equal(object_load(rec.data, rec.len, NULL, &l), RC_ECORRUPT);
        assert_null(l.clock);
        be_put32(p, was);
    }
    /* nlive 2 -> 1: a valid-looking header, still wrong */
    be_put32((unsigned char *)rec.data + 80, 1);
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_OK);
    assert_int_equal(object_load(rec.data, rec.len, NULL, &l), RC_ECORRUPT);
    be_put32((unsigned char *)rec.data + 80, 2);
    /* deleted flag set with a live dominant */
    rec.data[3] = OBJECT_F_DELETED;
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_ECORRUPT);
    rec.data[3] = 0;
    /* a different cas is not checkable without the key: accepted */
    rec.data[60] ^= 1;
    assert_int_equal(object_load(rec.data, rec.len, NULL, &l), RC_OK);
    object_deinit(&l);
    buf_deinit(&rec);
    object_deinit(&o);
}

/* ------------------------------------------------------------ lifting */

static void
check_lifted(const struct buf *rec, uint64_t cas, int64_t mtime, uint32_t flags, const char *value,
             uint8_t iflags, int64_t atime)
{
    struct dvv_actor self = actor(7);
    struct object_sibling sib[2];
    struct dvv_entry_info ei[2];
    struct object_view v;
    struct object o, c;
    struct buf enc;
    size_t n;

    assert_int_equal(object_view_decode(rec->data, rec->len, &v), RC_OK);
    assert_true(v.lifted);
    assert_int_equal(v.cas, cas);
    assert_int_equal(v.meta.seq, cas);
    assert_int_equal(v.meta.mtime_ms, mtime);
    assert_int_equal(v.meta.atime, atime);
    assert_int_equal(v.meta.iflags, iflags);
    assert_int_equal(v.meta.exptime, 900);
    assert_int_equal(v.meta.exp_stamp_ms, mtime);
    assert_false(v.deleted);
    assert_int_equal(v.flags, flags);
    assert_int_equal(v.wtime_ms, mtime);
    assert_int_equal(v.nvalue, strlen(value));
    assert_memory_equal(v.value, value, v.nvalue);
    assert_int_equal(v.nlive, 1);
    assert_int_equal(v.nsiblings, 1);
    assert_int_equal(v.nentries, 1);

    assert_int_equal(object_load(rec->data, rec->len, NULL, &o), RC_EINVAL); /* needs self */
    assert_int_equal(object_load(rec->data, rec->len, &self, &o), RC_OK);
    assert_int_equal(object_siblings(&o, sib, 2, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_false(sib[0].anonymous);
    assert_memory_equal(sib[0].actor.id, self.id, DVV_ACTOR_SIZE);
    assert_int_equal(sib[0].counter, cas);
    assert_false(sib[0].p.tombstone);
    assert_int_equal(sib[0].p.flags, flags);
    assert_int_equal(sib[0].p.wtime_ms, mtime);
    assert_int_equal(sib[0].p.nvalue, strlen(value));
    assert_memory_equal(sib[0].p.value, value, strlen(value));
    assert_int_equal(dvv_entries(o.clock, ei, 2, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ei[0].stamp, (uint64_t)mtime);
    assert_int_equal(o.meta.seq, cas);
    assert_int_equal(o.meta.exptime, 900);
    assert_int_equal(o.meta.exp_stamp_ms, mtime);
    assert_memory_equal(o.meta.exp_node.id, self.id, DVV_ACTOR_SIZE);
    assert_int_equal(o.meta.iflags, iflags);
    /* Rewritten as format 3 and read back: same object. */
    encode_obj(&o, &enc);
    assert_int_equal(object_load(enc.data, enc.len, NULL, &c), RC_OK);
    assert_same_state(&o, &c);
    object_deinit(&c);
    buf_deinit(&enc);
    /* The next write by self: (self, cas + 1). */
    write_at(&o, NULL, true, live("next", 0, mtime + 1), 7, cas + 50);
    assert_int_equal(object_siblings(&o, sib, 2, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sib[0].counter, cas + 1);
    object_deinit(&o);
}

static void
test_lift_formats_1_and_2(void **state)
{
    struct record r = {RECORD_IF_FETCHED, 42, 900, 1234, 5555, 66, "old value", 9};
    struct object o;
    struct object_view v;
    struct buf rec;

    (void)state;
    buf_init(&rec);
    assert_int_equal(record_encode(&r, &rec), RC_OK);
    check_lifted(&rec, 1234, 5555, 42, "old value", RECORD_IF_FETCHED, 66);
    buf_deinit(&rec);
    record_v1(&rec, 43, 900, 4321, 7777, "older");
    check_lifted(&rec, 4321, 7777, 43, "older", 0, 7);
    buf_deinit(&rec);
    /* cas 0 cannot be a dot */
    r.cas = 0;
    buf_init(&rec);
    assert_int_equal(record_encode(&r, &rec), RC_OK);
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_ECORRUPT);
    assert_int_equal(object_load(rec.data, rec.len, NULL, &o), RC_ECORRUPT);
    buf_deinit(&rec);
    /* empty value */
    r.cas = 3;
    r.value = "";
    r.nvalue = 0;
    buf_init(&rec);
    assert_int_equal(record_encode(&r, &rec), RC_OK);
    assert_int_equal(object_view_decode(rec.data, rec.len, &v), RC_OK);
    assert_int_equal(v.nvalue, 0);
    buf_deinit(&rec);
}

/* ------------------------------------------------------------ merge */

/* Three replicas from one history, diverged. */
static void
make_replicas(struct object r[3])
{
    struct object base;
    unsigned i;

    object_init(&base);
    write_at(&base, NULL, true, live("base", 0, 10), 0, 1);
    for (i = 0; i < 3; i++) {
        object_init(&r[i]);
        assert_int_equal(object_merge(&r[i], &base), RC_OK);
    }
    object_deinit(&base);
    write_at(&r[0], NULL, true, live("r0", 1, 20), 0, 2);
    write_at(&r[1], NULL, false, live("r1", 2, 30), 1, 3);
    write_at(&r[1], NULL, true, tomb(35), 1, 4);
    write_at(&r[2], NULL, false, live("r2", 3, 25), 2, 5);
    r[0].meta.exptime = 100;
    r[0].meta.exp_stamp_ms = 20;
    r[0].meta.exp_node = actor(0);
    r[1].meta.exptime = 200;
    r[1].meta.exp_stamp_ms = 30;
    r[1].meta.exp_node = actor(1);
    r[2].meta.exptime = 300;
    r[2].meta.exp_stamp_ms = 30;
    r[2].meta.exp_node = actor(0); /* same stamp as r1, lower node */
}

static void
merged(const struct object *a, const struct object *b, struct object *out)
{
    object_init(out);
    assert_int_equal(object_merge(out, a), RC_OK);
    assert_int_equal(object_merge(out, b), RC_OK);
}

static void
test_merge_laws(void **state)
{
    struct object r[3], ab, ba, aa, ab_c, bc, a_bc, t;

    (void)state;
    make_replicas(r);
    merged(&r[0], &r[1], &ab);
    merged(&r[1], &r[0], &ba);
    assert_same_state(&ab, &ba); /* commutative */
    merged(&r[0], &r[0], &aa);
    assert_same_state(&aa, &r[0]); /* idempotent */
    object_init(&t);
    assert_int_equal(object_merge(&t, &r[0]), RC_OK);
    assert_int_equal(object_merge(&t, &t), RC_OK); /* with itself */
    assert_same_state(&t, &r[0]);
    object_deinit(&t);
    merged(&ab, &r[2], &ab_c);
    merged(&r[1], &r[2], &bc);
    merged(&r[0], &bc, &a_bc);
    assert_same_state(&ab_c, &a_bc); /* associative */
    assert_siblings(&ab_c, "~@1:4,r2@2:5,r0@0:2");
    /* expiry: the larger (stamp, node) wins: r1's */
    assert_int_equal(ab_c.meta.exptime, 200);
    assert_int_equal(ab.meta.exptime, 200);
    /* o's bookkeeping stays */
    r[0].meta.seq = 1234;
    r[0].meta.atime = 99;
    assert_int_equal(object_merge(&r[0], &r[2]), RC_OK);
    assert_int_equal(r[0].meta.seq, 1234);
    assert_int_equal(r[0].meta.atime, 99);
    assert_int_equal(r[0].meta.exptime, 300); /* (30, node 0) beats (20, node 0) */
    object_deinit(&ab);
    object_deinit(&ba);
    object_deinit(&aa);
    object_deinit(&ab_c);
    object_deinit(&bc);
    object_deinit(&a_bc);
    object_deinit(&r[0]);
    object_deinit(&r[1]);
    object_deinit(&r[2]);
}

/* The acked mark (doc/replication.txt section 10): it names one exact
 * tombstone-only clock. It survives a merge only with an identical clock,
 * a new version clears it, the encoder writes it only for a tombstone-only
 * clock, and the decoder refuses it anywhere else. */
static void
test_acked_mark(void **state)
{
    struct object a, b, c, m, l;
    struct buf rec, rec2;

    (void)state;
    object_init(&a);
    object_init(&c);
    write_at(&a, NULL, true, live("v", 0, 1), 1, 1);
    write_at(&a, NULL, true, tomb(2), 1, 2);
    assert_true(object_tombstone_only(&a));
    /* b: the identical clock, through an encoding */
    encode_obj(&a, &rec);
    assert_int_equal(object_load(rec.data, rec.len, NULL, &b), RC_OK);
    assert_true(object_same_clock(&a, &b));
    assert_false(b.meta.acked);

    /* identical clocks, one marked: the merge is marked, either way round */
    a.meta.acked = true;
    merged(&b, &a, &m);
    assert_true(m.meta.acked);
    object_deinit(&m);
    assert_int_equal(object_merge(&b, &a), RC_OK);
    assert_true(b.meta.acked);
    b.meta.acked = false;
    /* neither marked: not marked */
    a.meta.acked = false;
    assert_int_equal(object_merge(&b, &a), RC_OK);
    assert_false(b.meta.acked);
    /* into nothing: the peer's object whole, mark included */
    a.meta.acked = true;
    object_init(&m);
    assert_int_equal(object_merge(&m, &a), RC_OK);
    assert_true(m.meta.acked);
    object_deinit(&m);

    /* a different clock (a concurrent tombstone of another node): the merge
     * is not the marked clock, so no mark, whichever side had it */
    write_at(&c, NULL, true, tomb(3), 2, 1);
    assert_false(object_same_clock(&a, &c));
    merged(&a, &c, &m);
    assert_false(m.meta.acked);
    assert_true(object_tombstone_only(&m));
    object_deinit(&m);
    c.meta.acked = true;
    b.meta.acked = false;
    merged(&c, &b, &m); /* c marked, b not and different */
    assert_false(m.meta.acked);
    object_deinit(&m);
    /* an older clock merged into the marked one changes nothing... but a
     * newer one does: a covered peer leaves the mark (the clock stays the
     * same), a descending peer removes it */
    object_init(&l);
    write_at(&l, NULL, true, live("v", 0, 1), 1, 1); /* older: covered by a */
    assert_int_equal(object_merge(&a, &l), RC_OK);
    assert_false(a.meta.acked); /* l's clock differs: the rule is identity */
    object_deinit(&l);

    /* a new version clears it */
    a.meta.acked = true;
    write_at(&a, NULL, true, tomb(4), 1, 3);
    assert_false(a.meta.acked);

    /* encode: written for a tombstone-only clock, read back */
    a.meta.acked = true;
    encode_obj(&a, &rec2);
    assert_int_equal(((unsigned char *)rec2.data)[3], OBJECT_F_DELETED | OBJECT_F_ACKED);
    object_init(&l);
    assert_int_equal(object_load(rec2.data, rec2.len, NULL, &l), RC_OK);
    assert_true(l.meta.acked);
    object_deinit(&l);
    /* in place: clear and set */
    assert_true(object_record_set_acked(rec2.data, rec2.len, false));
    assert_int_equal(((unsigned char *)rec2.data)[3], OBJECT_F_DELETED);
    assert_true(object_record_set_acked(rec2.data, rec2.len, true));
    buf_deinit(&rec2);

    /* never on a live object: not encoded, refused when decoded, refused
     * in place */
    write_at(&a, NULL, true, live("back", 0, 5), 1, 4);
    a.meta.acked = true; /* forced: the encoder still leaves it out */
    encode_obj(&a, &rec2);
    assert_int_equal(((unsigned char *)rec2.data)[3], 0);
    assert_false(object_record_set_acked(rec2.data, rec2.len, true));
    ((unsigned char *)rec2.data)[3] = OBJECT_F_ACKED;
    object_init(&l);
    assert_int_equal(object_load(rec2.data, rec2.len, NULL, &l), RC_ECORRUPT);
    ((unsigned char *)rec2.data)[3] = 0x04; /* an unknown bit */
    assert_int_equal(object_load(rec2.data, rec2.len, NULL, &l), RC_ECORRUPT);
    buf_deinit(&rec2);

    buf_deinit(&rec);
    object_deinit(&a);
    object_deinit(&b);
    object_deinit(&c);
}

/* After a merge o holds no reference into the peer or its record. */
static void
test_merge_owns_bytes(void **state)
{
    struct object a, b, l;
    struct buf rec;
    char *copy;

    (void)state;
    object_init(&a);
    object_init(&b);
    write_at(&a, NULL, true, live("mine", 0, 1), 1, 1);
    write_at(&b, NULL, true, live("theirs", 0, 2), 2, 1);
    encode_obj(&b, &rec);
    copy = rc_malloc(rec.len);
    memcpy(copy, rec.data, rec.len);
    assert_int_equal(object_load(copy, rec.len, NULL, &l), RC_OK);
    assert_int_equal(object_merge(&a, &l), RC_OK);
    object_deinit(&l);
    rc_free(copy);
    buf_deinit(&rec);
    assert_siblings(&a, "theirs@2:1,mine@1:1");
    encode_obj(&a, &rec);
    buf_deinit(&rec);
    object_deinit(&a);
    object_deinit(&b);
}

/* ------------------------------------------------------------ token join */

static void
test_token_join_cut(void **state)
{
    struct object o, peer;
    struct dvv_vector tj, j;
    unsigned i;

    (void)state;
    object_init(&o);
    for (i = 0; i < 20; i++) {
        /* stamps: node i at 1000 + i, except nodes 10 and 11 oldest and
         * tied (500); nodes 3 and 7 hold only tombstones */
        int64_t stamp = i == 10 || i == 11 ? 500 : 1000 + (int64_t)i;
        struct object_payload p = i == 3 || i == 7 ? tomb(stamp) : live("v", 0, stamp);
        struct dvv_actor a = actor(i + 1);

        object_init(&peer);
        assert_int_equal(object_update(&peer, NULL, true, &p, &a, 1, stamp, 0, NULL), RC_OK);
        assert_int_equal(object_merge(&o, &peer), RC_OK);
        object_deinit(&peer);
    }
    assert_int_equal(dvv_nentries(o.clock), 20);
    join_of(&o, &j);
    assert_int_equal(j.n, 20);
    assert_false(j.pruned);
    assert_int_equal(object_token_join(&o, &tj), RC_OK);
    /* dropped: 4 and 8 (tombstones only), then 11 and 12 (stamp 500; both
     * go, the tie order is visible only when one must stay) */
    assert_vector(&tj, "1:1,2:1,3:1,5:1,6:1,7:1,9:1,10:1,13:1,14:1,15:1,16:1,17:1,18:1,19:1,"
                       "20:1!");
    dvv_vector_deinit(&tj);
    dvv_vector_deinit(&j);
    object_deinit(&o);

    /* A tie that matters: 17 entries, two oldest tied, one goes. */
    object_init(&o);
    for (i = 0; i < 17; i++) {
        int64_t stamp = i == 5 || i == 6 ? 10 : 100 + (int64_t)i;
        struct object_payload p = live("v", 0, stamp);
        struct dvv_actor a = actor(i + 1);

        object_init(&peer);
        assert_int_equal(object_update(&peer, NULL, true, &p, &a, 1, stamp, 0, NULL), RC_OK);
        assert_int_equal(object_merge(&o, &peer), RC_OK);
        object_deinit(&peer);
    }
    assert_int_equal(object_token_join(&o, &tj), RC_OK);
    assert_vector(&tj, "1:1,2:1,3:1,4:1,5:1,7:1,8:1,9:1,10:1,11:1,12:1,13:1,14:1,15:1,16:1,17:1!");
    dvv_vector_deinit(&tj);
    object_deinit(&o);

    /* Small joins are the join itself. */
    object_init(&o);
    assert_int_equal(object_token_join(&o, &tj), RC_OK);
    assert_vector(&tj, "");
    dvv_vector_deinit(&tj);
    write_at(&o, NULL, true, live("v", 0, 1), 1, 4);
    assert_int_equal(object_token_join(&o, &tj), RC_OK);
    assert_vector(&tj, "1:4");
    dvv_vector_deinit(&tj);
    object_deinit(&o);
}

static void
test_siblings_cap(void **state)
{
    struct object_sibling sib[2];
    struct object o;
    size_t n = 9;

    (void)state;
    object_init(&o);
    assert_int_equal(object_siblings(&o, sib, 0, &n), RC_OK);
    assert_int_equal(n, 0);
    write_at(&o, NULL, false, live("a", 0, 1), 1, 1);
    write_at(&o, NULL, false, live("b", 0, 2), 2, 2);
    write_at(&o, NULL, false, live("c", 0, 3), 3, 3);
    assert_int_equal(object_siblings(&o, sib, 2, &n), RC_EINVAL);
    object_deinit(&o);
}

/* ------------------------------------------------------------ hostile input */

/* Whatever the bytes, the decoders answer OK or RC_ECORRUPT, and a load
 * that succeeds agrees with the view. */
static void
check_decoders(const void *data, size_t n)
{
    struct dvv_actor self = actor(9);
    struct object_view v;
    struct object o;
    int rv, rl;

    rv = object_view_decode(data, n, &v);
    assert_true(rv == RC_OK || rv == RC_ECORRUPT);
    rl = object_load(data, n, &self, &o);
    assert_true(rl == RC_OK || rl == RC_ECORRUPT);
    if (rl == RC_OK) {
        struct buf again;

        assert_int_equal(rv, RC_OK);
        assert_int_equal(v.nsiblings, object_nsiblings(&o));
        assert_int_equal(v.nlive, object_nlive(&o));
        if (!v.lifted) {
            buf_init(&again);
            assert_int_equal(object_encode(&o, v.cas, &again), RC_OK);
            if (again.len == n) {
                /* a canonical record encodes back to itself */
                assert_memory_equal(again.data, data, n);
            }
            buf_deinit(&again);
        }
        object_deinit(&o);
    } else {
        assert_null(o.clock);
    }
}

static void
hammer(const struct buf *rec)
{
    unsigned char *copy;
    size_t i, len;
    unsigned bit;

    for (len = 0; len < rec->len; len++) { /* every truncation, on the heap */
        struct object_view v;
        struct object o;

        copy = rc_malloc(len + 1);
        memcpy(copy, rec->data, len);
        assert_int_equal(object_view_decode(copy, len, &v), RC_ECORRUPT);
        assert_int_equal(object_load(copy, len, &(struct dvv_actor){{0}}, &o), RC_ECORRUPT);
        rc_free(copy);
    }
    copy = rc_malloc(rec->len);
    for (i = 0; i < rec->len; i++) { /* every bit and every byte flipped */
        for (bit = 0; bit < 9; bit++) {
            memcpy(copy, rec->data, rec->len);
            copy[i] ^= bit < 8 ? (unsigned char)(1u << bit) : 0xffu;
            check_decoders(copy, rec->len);
        }
    }
    rc_free(copy);
}

static void
test_hostile_inputs(void **state)
{
    struct record r = {0, 42, 900, 1234, 5555, 66, "old value", 9};
    struct object o;
    struct buf rec;

    (void)state;
    make_sample(&o);
    encode_obj(&o, &rec);
    hammer(&rec);
    buf_deinit(&rec);
    write_at(&o, NULL, true, tomb(9000), 1, 9);
    encode_obj(&o, &rec);
    hammer(&rec);
    buf_deinit(&rec);
    object_deinit(&o);
    buf_init(&rec);
    assert_int_equal(record_encode(&r, &rec), RC_OK);
    hammer(&rec);
    buf_deinit(&rec);
    record_v1(&rec, 43, 900, 4321, 7777, "older");
    hammer(&rec);
    buf_deinit(&rec);
    check_decoders(NULL, 0);
    check_decoders("\x03", 1);
}

/* Random bytes behind a valid format 3 header prefix. */
static void
test_hostile_random(void **state)
{
    uint64_t seed = 7;
    unsigned char buf[256];
    struct object o;
    struct buf rec;
    size_t i, k;

    (void)state;
    make_sample(&o);
    encode_obj(&o, &rec);
    for (i = 0; i < 20000; i++) {
        size_t n = rec.len < sizeof(buf) ? rec.len : sizeof(buf);

        memcpy(buf, rec.data, n);
        for (k = 0; k < 1 + i % 4; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            buf[(seed >> 33) % n] = (unsigned char)(seed >> 17);
        }
        check_decoders(buf, n);
    }
    buf_deinit(&rec);
    object_deinit(&o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_round_trip),
        cmocka_unit_test(test_payload_rejects),
        cmocka_unit_test(test_seed_new_key),
        cmocka_unit_test(test_seed_clamps_claims),
        cmocka_unit_test(test_seed_after_reap),
        cmocka_unit_test(test_writes_and_contexts),
        cmocka_unit_test(test_tombstones),
        cmocka_unit_test(test_dominance_ties),
        cmocka_unit_test(test_update_count),
        cmocka_unit_test(test_plain_write_shortcut_matches_general),
        cmocka_unit_test(test_update_failure_keeps_object),
        cmocka_unit_test(test_update_owns_payload),
        cmocka_unit_test(test_update_pruned_flag),
        cmocka_unit_test(test_format3_round_trip),
        cmocka_unit_test(test_mark_access),
        cmocka_unit_test(test_format3_derived_mismatch),
        cmocka_unit_test(test_lift_formats_1_and_2),
        cmocka_unit_test(test_merge_laws),
        cmocka_unit_test(test_merge_owns_bytes),
        cmocka_unit_test(test_acked_mark),
        cmocka_unit_test(test_token_join_cut),
        cmocka_unit_test(test_siblings_cap),
        cmocka_unit_test(test_hostile_inputs),
        cmocka_unit_test(test_hostile_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
