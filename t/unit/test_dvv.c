/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dvv.c - the causal model (kv/dvv.h): the DVVSet operations on small
 * worked examples, the comparison and pruning rules, the exact encoding and
 * its strict decoder (every truncation, every malformed field), the context
 * token, and property tests: random histories of client reads and writes
 * (fresh, stale, concurrent and blind contexts) and pairwise syncs across
 * 3-5 simulated replicas, checked after every step against a reference
 * model where each version carries the set of versions its writer had seen;
 * the merge laws on the states those histories produce; and histories with
 * enough coordinators to prune, where pruning may keep false siblings (only
 * in marked sets) but never loses one and never answers a false "descends".
 *
 * The PRNG is a local splitmix64 with fixed seeds, so every run checks the
 * same histories; a failure names its seed and step.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/status.h"
#include "kv/dvv.h"

/* ------------------------------------------------------------ helpers */

static struct dvv_actor
actor(unsigned i)
{
    struct dvv_actor a;

    memset(&a, 0, sizeof(a));
    a.id[0] = 0xa0;
    a.id[14] = (uint8_t)(i >> 8);
    a.id[15] = (uint8_t)i;
    return a;
}

static struct dvv_value
val(const char *s)
{
    struct dvv_value v = {s, strlen(s)};
    return v;
}

/* update(new_with_context(join(ctx) or none, v), local, self). */
static struct dvv_set *
put(const struct dvv_set *ctx, const char *v, const struct dvv_set *local, unsigned self)
{
    struct dvv_vector vv;
    struct dvv_set *client, *out;
    struct dvv_value value = val(v);
    struct dvv_actor a = actor(self);

    dvv_vector_init(&vv);
    if (ctx != NULL) {
        assert_int_equal(dvv_join(ctx, &vv), RC_OK);
    }
    assert_int_equal(dvv_new_with_context(&vv, &value, &client), RC_OK);
    assert_int_equal(dvv_update(client, local, &a, 0, 0, &out), RC_OK);
    dvv_destroy(client);
    dvv_vector_deinit(&vv);
    return out;
}

/* The siblings of s as a sorted, comma-separated string, each with its dot:
 * "v2@1:2,v3@2:1" (actor index:counter), anonymous ones as "x@-". */
static void
siblings(const struct dvv_set *s, char *out, size_t cap)
{
    struct dvv_sibling sib[16];
    char items[16][32], tmp[32];
    size_t n, i, j, w = 0;

    assert_int_equal(dvv_values(s, sib, 16, &n), RC_OK);
    assert_int_equal(n, dvv_size(s));
    for (i = 0; i < n; i++) {
        if (sib[i].anonymous) {
            snprintf(items[i], sizeof(items[i]), "%.*s@-", (int)sib[i].value.len,
                     (const char *)sib[i].value.data);
        } else {
            snprintf(items[i], sizeof(items[i]), "%.*s@%u:%llu", (int)sib[i].value.len,
                     (const char *)sib[i].value.data, sib[i].actor.id[15],
                     (unsigned long long)sib[i].counter);
        }
    }
    for (i = 1; i < n; i++) { /* insertion sort, tiny */
        for (j = i; j > 0 && strcmp(items[j - 1], items[j]) > 0; j--) {
            memcpy(tmp, items[j], sizeof(tmp));
            memcpy(items[j], items[j - 1], sizeof(tmp));
            memcpy(items[j - 1], tmp, sizeof(tmp));
        }
    }
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        w += (size_t)snprintf(out + w, cap - w, "%s%s", i ? "," : "", items[i]);
    }
}

static void
assert_siblings(const struct dvv_set *s, const char *want)
{
    char got[512];

    siblings(s, got, sizeof(got));
    assert_string_equal(got, want);
}

/* "1:2,2:1": the join of s (actor index:counter), "!" appended if pruned. */
static void
assert_join(const struct dvv_set *s, const char *want)
{
    struct dvv_vector vv;
    char got[512];
    size_t i, w = 0;

    assert_int_equal(dvv_join(s, &vv), RC_OK);
    got[0] = '\0';
    for (i = 0; i < vv.n; i++) {
        w +=
            (size_t)snprintf(got + w, sizeof(got) - w, "%s%u:%llu", i ? "," : "",
                             vv.entries[i].actor.id[15], (unsigned long long)vv.entries[i].counter);
    }
    if (vv.pruned) {
        snprintf(got + w, sizeof(got) - w, "!");
    }
    assert_string_equal(got, want);
    dvv_vector_deinit(&vv);
}

static void
encode(const struct dvv_set *s, struct buf *b)
{
    buf_init(b);
    assert_int_equal(dvv_encode(s, b), RC_OK);
}

static void
assert_same_bytes(const struct dvv_set *a, const struct dvv_set *b)
{
    struct buf x, y;

    encode(a, &x);
    encode(b, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    buf_deinit(&x);
    buf_deinit(&y);
}

static struct dvv_set *
sync2(const struct dvv_set *a, const struct dvv_set *b)
{
    struct dvv_set *s;

    assert_int_equal(dvv_sync(a, b, &s), RC_OK);
    return s;
}

/* ------------------------------------------------------------ operations */

static void
test_new_and_join(void **state)
{
    struct dvv_value v = val("v1");
    struct dvv_set *s, *a1, *b1;

    (void)state;
    assert_int_equal(dvv_new(&v, &s), RC_OK);
    assert_int_equal(dvv_size(s), 1);
    assert_siblings(s, "v1@-");
    assert_join(s, "");
    a1 = put(NULL, "v1", NULL, 1);
    assert_join(a1, "1:1");
    assert_siblings(a1, "v1@1:1");
    b1 = put(a1, "v2", a1, 2); /* read a1, write at node 2 which holds a1 */
    assert_join(b1, "1:1,2:1");
    assert_siblings(b1, "v2@2:1");
    assert_false(dvv_is_pruned(b1));
    dvv_destroy(s);
    dvv_destroy(a1);
    dvv_destroy(b1);
    dvv_destroy(NULL);
}

/* The classic sequence: stale and fresh contexts at one and two nodes. */
static void
test_update_contexts(void **state)
{
    struct dvv_set *a0, *a1, *a2, *a3, *a4;

    (void)state;
    a0 = put(NULL, "v1", NULL, 1);
    a1 = put(a0, "v2", a0, 1);
    a2 = put(a1, "v3", a1, 2);
    a3 = put(a0, "v4", a1, 2); /* stale context: v2 survives */
    a4 = put(a0, "v5", a1, 1);
    assert_siblings(a0, "v1@1:1");
    assert_siblings(a1, "v2@1:2");
    assert_siblings(a2, "v3@2:1");
    assert_join(a2, "1:2,2:1");
    assert_siblings(a3, "v2@1:2,v4@2:1");
    assert_join(a3, "1:2,2:1");
    assert_siblings(a4, "v2@1:2,v5@1:3");
    assert_join(a4, "1:3");
    dvv_destroy(a0);
    dvv_destroy(a1);
    dvv_destroy(a2);
    dvv_destroy(a3);
    dvv_destroy(a4);
}

/* Mary writes v1 and v2 blind; Peter read v1 and writes v3: v1 goes. */
static void
test_update_blind_and_read(void **state)
{
    struct dvv_set *a0, *a1, *a2;

    (void)state;
    a0 = put(NULL, "v1", NULL, 1);
    a1 = put(NULL, "v2", a0, 1);
    assert_siblings(a1, "v1@1:1,v2@1:2");
    a2 = put(a0, "v3", a1, 1);
    assert_siblings(a2, "v2@1:2,v3@1:3");
    assert_join(a2, "1:3");
    dvv_destroy(a0);
    dvv_destroy(a1);
    dvv_destroy(a2);
}

static void
test_sync_examples(void **state)
{
    struct dvv_set *a, *a1, *a3, *a4, *y, *s1, *s2, *s3;

    (void)state;
    a = put(NULL, "v1", NULL, 1);
    a1 = put(a, "v2", a, 1);
    a3 = put(a1, "v3", a1, 2);
    a4 = put(a1, "v3b", a1, 3);
    s1 = sync2(a4, a3);
    assert_siblings(s1, "v3@2:1,v3b@3:1");
    assert_join(s1, "1:2,2:1,3:1");
    s2 = sync2(a, a1); /* a1 descends a: only v2 */
    assert_siblings(s2, "v2@1:2");
    y = put(NULL, "w", NULL, 2);
    s3 = sync2(a, y);
    assert_siblings(s3, "v1@1:1,w@2:1");
    assert_int_equal(dvv_compare(a, y), DVV_CONCURRENT);
    assert_int_equal(dvv_compare(a, a1), DVV_LESS);
    assert_int_equal(dvv_compare(a1, a), DVV_GREATER);
    assert_int_equal(dvv_compare(s1, s1), DVV_EQUAL);
    assert_true(dvv_less(a, a1));
    assert_false(dvv_less(a1, a));
    assert_true(dvv_equal(a3, a3));
    assert_false(dvv_equal(a3, a4));
    dvv_destroy(a);
    dvv_destroy(a1);
    dvv_destroy(a3);
    dvv_destroy(a4);
    dvv_destroy(y);
    dvv_destroy(s1);
    dvv_destroy(s2);
    dvv_destroy(s3);
}

/* Anonymous values: kept unless the other side provably descends them;
 * sync stays commutative and idempotent with them. */
static void
test_anonymous_values(void **state)
{
    struct dvv_value x = val("x"), z = val("zz");
    struct dvv_set *ax, *az, *a1, *s, *t, *u;

    (void)state;
    assert_int_equal(dvv_new(&x, &ax), RC_OK);
    assert_int_equal(dvv_new(&z, &az), RC_OK);
    s = sync2(ax, az);
    t = sync2(az, ax);
    assert_siblings(s, "x@-,zz@-");
    assert_same_bytes(s, t);
    u = sync2(s, s);
    assert_same_bytes(s, u);
    dvv_destroy(u);
    a1 = put(NULL, "v", NULL, 1); /* strictly newer than the empty history */
    u = sync2(s, a1);
    assert_siblings(u, "v@1:1");
    dvv_destroy(u);
    /* The design's rule: no dot, so only a strictly newer history drops
     * them; a write whose context equals their clock keeps them. */
    u = put(NULL, "w", s, 1);
    assert_siblings(u, "w@1:1,x@-,zz@-");
    dvv_destroy(t);
    t = put(u, "w2", u, 1);
    assert_siblings(t, "w2@1:2,x@-,zz@-");
    dvv_destroy(u);
    u = sync2(t, a1); /* a1 is not newer than t: nothing changes */
    assert_same_bytes(u, t);
    dvv_destroy(ax);
    dvv_destroy(az);
    dvv_destroy(a1);
    dvv_destroy(s);
    dvv_destroy(t);
    dvv_destroy(u);
}

static void
test_update_rejects(void **state)
{
    struct dvv_value v = val("v"), bad = {NULL, 3};
    struct dvv_actor a = actor(1);
    struct dvv_set *c, *stored, *out = (struct dvv_set *)&out;
    struct dvv_vector vv;
    struct dvv_vector_entry e[2] = {{actor(2), 1}, {actor(1), 1}};

    (void)state;
    assert_int_equal(dvv_new(&bad, &c), RC_EINVAL);
    assert_null(c);
    stored = put(NULL, "v", NULL, 1);
    /* A stored state is not a client write (no anonymous value). */
    assert_int_equal(dvv_update(stored, NULL, &a, 0, 0, &out), RC_EINVAL);
    assert_null(out);
    assert_int_equal(dvv_new(&v, &c), RC_OK);
    assert_int_equal(dvv_update(c, stored, &a, 0, DVV_PRUNE_TRIGGER + 1, &out), RC_EINVAL);
    dvv_destroy(c);
    /* Contexts must be sorted, unique, with counters >= 1. */
    vv.entries = e;
    vv.n = 2;
    vv.pruned = false;
    assert_int_equal(dvv_new_with_context(&vv, &v, &c), RC_EINVAL);
    e[0] = e[1];
    assert_int_equal(dvv_new_with_context(&vv, &v, &c), RC_EINVAL);
    vv.n = 1;
    e[0].counter = 0;
    assert_int_equal(dvv_new_with_context(&vv, &v, &c), RC_EINVAL);
    dvv_destroy(stored);
}

static void
test_values_capacity(void **state)
{
    struct dvv_set *a0 = put(NULL, "v1", NULL, 1), *a1 = put(NULL, "v2", a0, 1);
    struct dvv_sibling sib[2];
    size_t n = 9;

    (void)state;
    assert_int_equal(dvv_values(a1, sib, 1, &n), RC_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(dvv_values(a1, sib, 2, &n), RC_OK);
    assert_int_equal(n, 2);
    /* newest first within an entry */
    assert_true(sib[0].counter == 2 && sib[1].counter == 1);
    assert_memory_equal(sib[0].value.data, "v2", 2);
    dvv_destroy(a0);
    dvv_destroy(a1);
}

/* ------------------------------------------------------------ comparison, pruning */

static struct dvv_vector
vec(struct dvv_vector_entry *e, size_t n, bool pruned)
{
    struct dvv_vector v = {e, n, pruned};
    return v;
}

static void
test_vector_compare(void **state)
{
    struct dvv_vector_entry x[2] = {{actor(1), 5}, {actor(2), 3}};
    struct dvv_vector_entry y[2] = {{actor(1), 2}, {actor(2), 3}};
    struct dvv_vector_entry z[1] = {{actor(2), 3}};
    struct dvv_vector vx = vec(x, 2, false), vy = vec(y, 2, false);
    struct dvv_vector vz = vec(z, 1, false), ve = vec(NULL, 0, false);

    (void)state;
    assert_int_equal(dvv_vector_compare(&vx, &vy), DVV_GREATER);
    assert_int_equal(dvv_vector_compare(&vy, &vx), DVV_LESS);
    assert_int_equal(dvv_vector_compare(&vx, &vx), DVV_EQUAL);
    assert_int_equal(dvv_vector_compare(&ve, &vz), DVV_LESS);
    assert_int_equal(dvv_vector_compare(&vz, &vy), DVV_LESS);
    /* x pruned of actor 1 shows only z; it must never look older than y. */
    vz.pruned = true;
    assert_int_equal(dvv_vector_compare(&vy, &vz), DVV_CONCURRENT);
    assert_int_equal(dvv_vector_compare(&vz, &vy), DVV_CONCURRENT);
    /* Provable orders survive: y (unpruned) is older than anything visibly
     * ahead of it, pruned or not. */
    vx.pruned = true;
    assert_int_equal(dvv_vector_compare(&vy, &vx), DVV_LESS);
    assert_int_equal(dvv_vector_compare(&vx, &vy), DVV_GREATER);
    /* A pruned clock is never provably equal, not even to itself. */
    assert_int_equal(dvv_vector_compare(&vx, &vx), DVV_CONCURRENT);
    vx.pruned = false;
    vy.pruned = true;
    assert_int_equal(dvv_vector_compare(&vx, &vy), DVV_CONCURRENT);
}

/* More than DVV_PRUNE_TRIGGER coordinators: the oldest value-less entries
 * go (never the coordinator's, never one holding a value), down to keep;
 * the result and everything derived from it is marked. */
static void
test_prune_rule(void **state)
{
    struct dvv_set *s = NULL, *n, *t;
    struct dvv_actor a;
    struct dvv_value v = val("k");
    struct dvv_set *client;
    unsigned i;

    (void)state;
    for (i = 1; i <= DVV_PRUNE_TRIGGER; i++) { /* each write sees the last */
        n = put(s, "x", s, i);
        dvv_destroy(s);
        s = n;
    }
    assert_false(dvv_is_pruned(s));
    assert_int_equal(dvv_size(s), 1);
    n = put(NULL, "y", s, 1); /* blind: a sibling at node 1 */
    dvv_destroy(s);
    s = n;
    assert_siblings(s, "x@16:1,y@1:2");
    /* 17th coordinator: 17 entries > trigger, keep 4: node 17's own, node
     * 16 and node 1 hold values; the oldest droppable ones go. */
    a = actor(17);
    assert_int_equal(dvv_new(&v, &client), RC_OK);
    assert_int_equal(dvv_update(client, s, &a, 0, 4, &n), RC_OK);
    dvv_destroy(client);
    assert_true(dvv_is_pruned(n));
    assert_siblings(n, "k@17:1,x@16:1,y@1:2");
    assert_join(n, "1:2,15:1,16:1,17:1!");
    /* No false descends: s knows node 2..14's events, n has forgotten them. */
    assert_int_equal(dvv_compare(n, s), DVV_CONCURRENT);
    assert_int_equal(dvv_compare(s, n), DVV_CONCURRENT);
    t = sync2(s, n);
    assert_true(dvv_is_pruned(t));
    assert_siblings(t, "k@17:1,x@16:1,y@1:2");
    dvv_destroy(t);
    dvv_destroy(s);
    dvv_destroy(n);
}

/* ------------------------------------------------------------ encoding */

static void
test_exact_bytes(void **state)
{
    static const unsigned char want[] = {
        0xd5, 1, 0, 0, 1,                                        /* magic, v1, flags, 1 entry */
        0xa0, 0, 0, 0, 0,   0,   0, 0, 0, 0, 0,   0, 0, 0, 0, 7, /* actor 7 */
        0,    0, 0, 0, 0,   0,   0, 2,                           /* counter 2 */
        0,    0, 0, 0, 0,   0,   0, 9,                           /* stamp 9 */
        0,    2,                                                 /* 2 values, newest first */
        0,    0, 0, 2, 'b', 'b', 0, 0, 0, 1, 'a', 0, 0,          /* no anonymous value */
    };
    struct dvv_set *s0, *s1, *d;
    struct dvv_actor a = actor(7);
    struct dvv_value v1 = val("a"), v2 = val("bb");
    struct dvv_set *c;
    struct buf b;

    (void)state;
    assert_int_equal(dvv_new(&v1, &c), RC_OK);
    assert_int_equal(dvv_update(c, NULL, &a, 5, 0, &s0), RC_OK);
    dvv_destroy(c);
    assert_int_equal(dvv_new(&v2, &c), RC_OK);
    assert_int_equal(dvv_update(c, s0, &a, 9, 0, &s1), RC_OK);
    dvv_destroy(c);
    encode(s1, &b);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    assert_int_equal(dvv_decode(b.data, b.len, &d), RC_OK);
    assert_siblings(d, "a@7:1,bb@7:2");
    dvv_destroy(d);
    buf_deinit(&b);
    dvv_destroy(s0);
    dvv_destroy(s1);
}

/* A set with everything: several entries, obsolete dots, values with NULs,
 * anonymous values, the pruned mark. */
static struct dvv_set *
rich_set(void)
{
    static const char nuls[3] = {1, 'x', 0};
    struct dvv_value anon[2] = {{"q", 1}, {nuls, 3}};
    struct dvv_vector_entry e3 = {actor(3), 1};
    struct dvv_vector c3 = {&e3, 1, true};
    struct dvv_set *a0 = put(NULL, "v1", NULL, 1), *a1 = put(NULL, "v2", a0, 1);
    struct dvv_set *b = put(a0, "v3", a0, 2), *s, *x, *y, *t;

    s = sync2(a1, b);
    assert_int_equal(dvv_new_with_context(&c3, &anon[0], &x), RC_OK);
    assert_int_equal(dvv_new_with_context(&c3, &anon[1], &y), RC_OK);
    t = sync2(x, y);
    dvv_destroy(x);
    x = sync2(s, t); /* concurrent: the anonymous values stay */
    dvv_destroy(a0);
    dvv_destroy(a1);
    dvv_destroy(b);
    dvv_destroy(s);
    dvv_destroy(t);
    dvv_destroy(y);
    return x;
}

static void
test_round_trip_and_truncations(void **state)
{
    struct dvv_set *s = rich_set(), *d;
    struct buf b, c;
    size_t n;

    (void)state;
    assert_siblings(s, "\001x@-,q@-,v2@1:2,v3@2:1");
    assert_true(dvv_is_pruned(s));
    encode(s, &b);
    assert_int_equal(dvv_decode(b.data, b.len, &d), RC_OK);
    encode(d, &c);
    assert_int_equal(c.len, b.len);
    assert_memory_equal(c.data, b.data, b.len);
    assert_int_equal(dvv_size(d), dvv_size(s));
    /* Pruned: never provably equal, not even to its own copy. */
    assert_int_equal(dvv_compare(d, s), DVV_CONCURRENT);
    dvv_destroy(d);
    for (n = 0; n < b.len; n++) {
        d = (struct dvv_set *)&d;
        assert_int_equal(dvv_decode(b.data, n, &d), RC_ECORRUPT);
        assert_null(d);
    }
    assert_int_equal(dvv_decode(NULL, 0, &d), RC_ECORRUPT);
    assert_int_equal(buf_append(&b, "", 1), RC_OK); /* a trailing byte */
    assert_int_equal(dvv_decode(b.data, b.len, &d), RC_ECORRUPT);
    buf_deinit(&b);
    buf_deinit(&c);
    dvv_destroy(s);
}

/* Offsets into the encoding of a two-entry set with one value each:
 * header 5, entry 0 at 5 (actor 16, counter 8, stamp 8, k 2, value 4+2). */
#define E0_ACTOR   5
#define E0_COUNTER 21
#define E0_K       37
#define E1_ACTOR   45

static void
expect_corrupt(struct buf *b, size_t off, unsigned char byte)
{
    unsigned char old = (unsigned char)b->data[off];
    struct dvv_set *d;

    b->data[off] = (char)byte;
    assert_int_equal(dvv_decode(b->data, b->len, &d), RC_ECORRUPT);
    b->data[off] = (char)old;
    assert_int_equal(dvv_decode(b->data, b->len, &d), RC_OK);
    dvv_destroy(d);
}

static void
test_decode_rejects_fields(void **state)
{
    struct dvv_set *a = put(NULL, "v1", NULL, 1), *b2 = put(NULL, "v2", NULL, 2);
    struct dvv_set *s = sync2(a, b2);
    struct buf b;

    (void)state;
    encode(s, &b);
    assert_int_equal(b.len, 5 + 2 * 40 + 2);
    expect_corrupt(&b, 0, 0xdc);           /* a vector's magic */
    expect_corrupt(&b, 1, 2);              /* unknown version */
    expect_corrupt(&b, 2, 0x02);           /* unknown flag */
    expect_corrupt(&b, 4, 3);              /* more entries than present */
    expect_corrupt(&b, 4, 1);              /* fewer: trailing bytes */
    expect_corrupt(&b, 3, 1);              /* 257 entries: over the bound */
    expect_corrupt(&b, E0_COUNTER + 7, 0); /* counter 0 */
    expect_corrupt(&b, E0_K + 1, 2);       /* more values than the counter */
    expect_corrupt(&b, E0_K + 2, 0xff);    /* value longer than the input */
    expect_corrupt(&b, E0_ACTOR + 15, 3);  /* entries not ascending */
    expect_corrupt(&b, E1_ACTOR + 15, 1);  /* duplicate actor */
    expect_corrupt(&b, b.len - 1, 1);      /* anonymous count, none present */
    buf_deinit(&b);
    dvv_destroy(a);
    dvv_destroy(b2);
    dvv_destroy(s);
}

static void
test_decode_rejects_anon_order(void **state)
{
    /* Two anonymous values, out of order, then duplicated. */
    unsigned char enc[] = {0xd5, 1, 0, 0, 0, 0, 2, 0, 0, 0, 1, 'b', 0, 0, 0, 1, 'a'};
    struct dvv_set *d;

    (void)state;
    assert_int_equal(dvv_decode(enc, sizeof(enc), &d), RC_ECORRUPT);
    enc[16] = 'b';
    assert_int_equal(dvv_decode(enc, sizeof(enc), &d), RC_ECORRUPT);
    enc[16] = 'c';
    assert_int_equal(dvv_decode(enc, sizeof(enc), &d), RC_OK);
    assert_siblings(d, "b@-,c@-");
    dvv_destroy(d);
}

/* ------------------------------------------------------------ token */

static void
check_token_round_trip(const struct dvv_vector *v)
{
    struct dvv_vector back;
    struct buf t;
    size_t i;

    buf_init(&t);
    assert_int_equal(dvv_token_format(v, &t), RC_OK);
    assert_true(t.len <= DVV_TOKEN_MAX);
    assert_int_equal(t.len, DVV_TOKEN_LEN(DVV_VECTOR_SIZE(v->n)));
    for (i = 0; i < t.len; i++) {
        char c = t.data[i];
        assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_');
    }
    assert_int_equal(dvv_token_parse(t.data, t.len, &back), RC_OK);
    assert_int_equal(back.n, v->n);
    assert_int_equal(back.pruned, v->pruned);
    if (v->n > 0) {
        assert_memory_equal(back.entries, v->entries, v->n * sizeof(*v->entries));
    }
    dvv_vector_deinit(&back);
    /* every truncation is refused */
    for (i = 0; i < t.len; i++) {
        assert_int_equal(dvv_token_parse(t.data, i, &back), RC_EINVAL);
        assert_null(back.entries);
    }
    buf_deinit(&t);
}

static void
test_token_round_trips(void **state)
{
    struct dvv_vector_entry e[DVV_TOKEN_MAX_ENTRIES + 1];
    struct dvv_vector v;
    struct buf t;
    size_t n, i;

    (void)state;
    for (i = 0; i <= DVV_TOKEN_MAX_ENTRIES; i++) {
        e[i].actor = actor((unsigned)i * 3 + 1);
        e[i].actor.id[7] = (uint8_t)(i * 13); /* vary the middle bytes too */
        e[i].counter = i == 0 ? UINT64_MAX : (uint64_t)i * 0x0102030405ull + 1;
    }
    for (n = 0; n <= DVV_TOKEN_MAX_ENTRIES; n++) {
        v = vec(e, n, n % 3 == 1);
        check_token_round_trip(&v);
    }
    /* One more entry would pass the bound: refused, nothing appended. */
    v = vec(e, DVV_TOKEN_MAX_ENTRIES + 1, false);
    buf_init(&t);
    assert_int_equal(dvv_token_format(&v, &t), RC_ETOOLARGE);
    assert_int_equal(t.len, 0);
    buf_deinit(&t);
    assert_int_equal(DVV_TOKEN_MAX, 519);
}

static void
expect_bad_token(const char *tok, size_t len)
{
    struct dvv_vector out;

    assert_int_equal(dvv_token_parse(tok, len, &out), RC_EINVAL);
    assert_null(out.entries);
    assert_int_equal(out.n, 0);
}

/* The test's own base64url (no padding), to build foreign tokens. */
static size_t
b64url(const unsigned char *p, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, w = 0;
    unsigned bits = 0;
    uint32_t acc = 0;

    for (i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[w++] = abc[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out[w++] = abc[(acc << (6 - bits)) & 63];
    }
    return w;
}

/* A raw vector encoding of actors 1..n with counter c. */
static size_t
raw_vector(unsigned char *p, unsigned n, unsigned cnt_field, uint64_t c)
{
    size_t w = 5;
    unsigned i;
    int k;

    p[0] = DVV_VECTOR_MAGIC;
    p[1] = DVV_FORMAT_V1;
    p[2] = 0;
    p[3] = (unsigned char)(cnt_field >> 8);
    p[4] = (unsigned char)cnt_field;
    for (i = 1; i <= n; i++) {
        struct dvv_actor a = actor(i);

        memcpy(p + w, a.id, DVV_ACTOR_SIZE);
        w += DVV_ACTOR_SIZE;
        for (k = 7; k >= 0; k--) {
            p[w++] = (unsigned char)(c >> (8 * k));
        }
    }
    return w;
}

static void
expect_bad_raw(const unsigned char *raw, size_t n)
{
    char tok[2 * DVV_TOKEN_MAX];

    expect_bad_token(tok, b64url(raw, n, tok));
}

static void
test_token_malformed(void **state)
{
    static const char bad[] = {'=', '+', '/', ' ', '\0', '\n', '.', (char)0xc3};
    unsigned char raw[DVV_VECTOR_SIZE(DVV_TOKEN_MAX_ENTRIES + 1)];
    struct dvv_set *s = put(NULL, "v", NULL, 1);
    char tok[2 * DVV_TOKEN_MAX];
    struct dvv_vector out;
    struct buf set;
    size_t len, i;

    (void)state;
    len = b64url(raw, raw_vector(raw, 1, 1, 7), tok);
    assert_int_equal(len, 39);
    assert_int_equal(dvv_token_parse(tok, len, &out), RC_OK); /* the control */
    dvv_vector_deinit(&out);
    expect_bad_token(NULL, 0);
    expect_bad_token(tok, 0);
    for (i = 0; i < len; i++) { /* a character outside the alphabet */
        char old = tok[i];
        tok[i] = bad[i % sizeof(bad)];
        expect_bad_token(tok, len);
        tok[i] = old;
    }
    tok[len] = '='; /* padding is not part of the format */
    expect_bad_token(tok, len + 1);
    memcpy(tok + len, "AA", 2); /* trailing bytes */
    expect_bad_token(tok, len + 2);
    tok[len - 1] = (char)(tok[len - 1] + 1); /* 29 bytes: 2 spare bits set */
    expect_bad_token(tok, len);
    /* Foreign byte strings: a set encoding, other versions and flags,
     * counts that disagree with the data, counter 0, unsorted actors. */
    encode(s, &set);
    expect_bad_raw((const unsigned char *)set.data, set.len);
    buf_deinit(&set);
    len = raw_vector(raw, 2, 2, 1);
    raw[1] = 2;
    expect_bad_raw(raw, len);
    raw[1] = DVV_FORMAT_V1;
    raw[2] = 0x80;
    expect_bad_raw(raw, len);
    raw[2] = DVV_F_PRUNED;
    b64url(raw, len, tok);
    assert_int_equal(dvv_token_parse(tok, b64url(raw, len, tok), &out), RC_OK);
    assert_true(out.pruned && out.n == 2);
    dvv_vector_deinit(&out);
    expect_bad_raw(raw, raw_vector(raw, 2, 3, 1));
    expect_bad_raw(raw, raw_vector(raw, 2, 1, 1));
    expect_bad_raw(raw, raw_vector(raw, 2, 0, 1));
    expect_bad_raw(raw, raw_vector(raw, 2, 2, 0));
    len = raw_vector(raw, 2, 2, 1);
    raw[5 + 15] = 3; /* first actor after the second */
    expect_bad_raw(raw, len);
    raw[5 + 15] = 2; /* duplicate */
    expect_bad_raw(raw, len);
    expect_bad_raw(raw, raw_vector(raw, DVV_TOKEN_MAX_ENTRIES + 1, DVV_TOKEN_MAX_ENTRIES + 1, 1));
    /* Too long, even if well formed otherwise. */
    memset(tok, 'A', sizeof(tok));
    expect_bad_token(tok, DVV_TOKEN_MAX + 1);
    expect_bad_token(tok, DVV_TOKEN_MAX + 4);
    dvv_destroy(s);
}

/* ------------------------------------------------------------ property tests */

#define SIM_MAXV  256 /* versions a history may create */
#define SIM_WORDS (SIM_MAXV / 64)
#define SIM_MAXR  24
#define SIM_POOL  8
#define SIM_MAXB  48

struct rng {
    uint64_t s;
};

/* splitmix64 */
static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned
rng_below(struct rng *r, unsigned n)
{
    return (unsigned)(rng_next(r) % n);
}

struct bits {
    uint64_t w[SIM_WORDS];
};

static bool
bits_has(const struct bits *b, unsigned i)
{
    return (b->w[i / 64] >> (i % 64)) & 1;
}

static void
bits_add(struct bits *b, unsigned i)
{
    b->w[i / 64] |= 1ull << (i % 64);
}

static void
bits_or(struct bits *a, const struct bits *b)
{
    unsigned i;

    for (i = 0; i < SIM_WORDS; i++) {
        a->w[i] |= b->w[i];
    }
}

static bool
bits_subset(const struct bits *a, const struct bits *b)
{
    unsigned i;

    for (i = 0; i < SIM_WORDS; i++) {
        if ((a->w[i] & ~b->w[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* A context a client holds: the vector and what its read had seen. */
struct sim_ctx {
    struct dvv_vector vv;
    struct bits known;
    bool used;
};

struct sim_rep {
    struct dvv_set *s; /* NULL until the replica holds the key */
    struct bits known; /* reference: every version received */
    struct dvv_actor actor;
};

struct sim {
    struct rng rng;
    uint64_t seed;
    unsigned nrep, nver, keep, step;
    bool exact; /* no pruning possible: siblings must match exactly */
    struct sim_rep rep[SIM_MAXR];
    struct bits past[SIM_MAXV]; /* reference: what each version's writer saw */
    unsigned char vbytes[SIM_MAXV][2];
    struct dvv_actor dot_actor[SIM_MAXV];
    uint64_t dot_counter[SIM_MAXV];
    struct sim_ctx pool[SIM_POOL];
    struct buf bufs[SIM_MAXB]; /* decoded sets point into these */
    unsigned nbufs;
};

/* Totals across all runs, reported once. */
struct sim_stats {
    unsigned histories, steps, writes, syncs, checks, pruned_states, false_siblings;
    unsigned token_refused, law_checks;
};

static void
sim_ctx_clear(struct sim_ctx *c)
{
    dvv_vector_deinit(&c->vv);
    memset(&c->known, 0, sizeof(c->known));
    c->used = false;
}

/* A client reads replica r: its context through a token round trip (or the
 * vector itself when the token bound refuses it), and what r had seen. */
static void
sim_read(struct sim *m, unsigned r, struct sim_ctx *out, struct sim_stats *st)
{
    struct dvv_vector vv;
    struct buf tok;
    int rc;

    sim_ctx_clear(out);
    out->used = true;
    out->known = m->rep[r].known;
    if (m->rep[r].s == NULL) {
        return;
    }
    assert_int_equal(dvv_join(m->rep[r].s, &vv), RC_OK);
    buf_init(&tok);
    rc = dvv_token_format(&vv, &tok);
    if (rc == RC_ETOOLARGE) {
        assert_true(vv.n > DVV_TOKEN_MAX_ENTRIES);
        st->token_refused++;
        out->vv = vv;
    } else {
        assert_int_equal(rc, RC_OK);
        assert_int_equal(dvv_token_parse(tok.data, tok.len, &out->vv), RC_OK);
        assert_int_equal(out->vv.n, vv.n);
        assert_int_equal(out->vv.pruned, vv.pruned);
        if (vv.n > 0) {
            assert_memory_equal(out->vv.entries, vv.entries, vv.n * sizeof(*vv.entries));
        }
        dvv_vector_deinit(&vv);
    }
    buf_deinit(&tok);
}

static unsigned
sim_value_id(const struct dvv_value *v)
{
    const unsigned char *p = v->data;

    assert_int_equal(v->len, 2);
    return (unsigned)p[0] << 8 | p[1];
}

/* A client write at coordinator x with a fresh, concurrent (another
 * replica's), stale (kept from earlier) or no context. */
static void
sim_write(struct sim *m, struct sim_stats *st)
{
    unsigned x = rng_below(&m->rng, m->nrep), kind = rng_below(&m->rng, 4);
    unsigned w = m->nver++, p = rng_below(&m->rng, SIM_POOL);
    struct dvv_value v = {m->vbytes[w], 2};
    struct dvv_sibling sib[64];
    struct dvv_set *client, *next;
    struct sim_ctx c = {{NULL, 0, false}, {{0}}, false};
    size_t n, i;

    if (kind == 0 || kind == 1) {
        sim_read(m, kind == 0 ? x : rng_below(&m->rng, m->nrep), &c, st);
    } else if (kind == 2 && m->pool[p].used) {
        c.known = m->pool[p].known;
        c.vv.n = m->pool[p].vv.n;
        c.vv.pruned = m->pool[p].vv.pruned;
        c.vv.entries = rc_malloc(c.vv.n * sizeof(*c.vv.entries) + 1);
        assert_non_null(c.vv.entries);
        if (c.vv.n > 0) {
            memcpy(c.vv.entries, m->pool[p].vv.entries, c.vv.n * sizeof(*c.vv.entries));
        }
    }
    m->vbytes[w][0] = (unsigned char)(w >> 8);
    m->vbytes[w][1] = (unsigned char)w;
    m->past[w] = c.known;
    assert_int_equal(dvv_new_with_context(&c.vv, &v, &client), RC_OK);
    assert_int_equal(dvv_update(client, m->rep[x].s, &m->rep[x].actor, m->step, m->keep, &next),
                     RC_OK);
    dvv_destroy(client);
    dvv_destroy(m->rep[x].s);
    m->rep[x].s = next;
    bits_or(&m->rep[x].known, &c.known);
    bits_add(&m->rep[x].known, w);
    /* The new version got the next dot of x, unique in the history. */
    assert_int_equal(dvv_values(next, sib, 64, &n), RC_OK);
    for (i = 0; i < n && (sib[i].anonymous || sim_value_id(&sib[i].value) != w); i++) {
    }
    assert_true(i < n);
    assert_memory_equal(&sib[i].actor, &m->rep[x].actor, sizeof(struct dvv_actor));
    m->dot_actor[w] = sib[i].actor;
    m->dot_counter[w] = sib[i].counter;
    for (i = 0; i < w; i++) {
        assert_false(m->dot_counter[i] == m->dot_counter[w] &&
                     memcmp(&m->dot_actor[i], &m->dot_actor[w], sizeof(m->dot_actor[w])) == 0);
    }
    sim_ctx_clear(&c);
    st->writes++;
}

/* Replica x receives y's state (and, half the time, y receives x's). */
static void
sim_sync(struct sim *m, struct sim_stats *st)
{
    unsigned x = rng_below(&m->rng, m->nrep), y = rng_below(&m->rng, m->nrep - 1);
    struct dvv_set *next;

    y += y >= x;
    if (m->rep[y].s == NULL) {
        return;
    }
    /* A replica without the key takes a copy: sync(y, y) is y. */
    next = sync2(m->rep[x].s != NULL ? m->rep[x].s : m->rep[y].s, m->rep[y].s);
    dvv_destroy(m->rep[x].s);
    m->rep[x].s = next;
    bits_or(&m->rep[x].known, &m->rep[y].known);
    if (rng_below(&m->rng, 2) == 0) {
        next = sync2(m->rep[y].s, m->rep[x].s);
        assert_same_bytes(next, m->rep[x].s); /* both now hold the same state */
        dvv_destroy(m->rep[y].s);
        m->rep[y].s = next;
        m->rep[y].known = m->rep[x].known;
    }
    st->syncs++;
}

/* Replace a replica's state by its decoded encoding (values then point into
 * a buffer that lives until the end of the history); now and then check
 * that every truncation is refused. */
static void
sim_reencode(struct sim *m)
{
    unsigned x = rng_below(&m->rng, m->nrep);
    struct buf *b = &m->bufs[m->nbufs];
    struct dvv_set *d;
    struct buf again;
    size_t n;

    if (m->rep[x].s == NULL || m->nbufs == SIM_MAXB) {
        return;
    }
    m->nbufs++;
    encode(m->rep[x].s, b);
    assert_int_equal(dvv_decode(b->data, b->len, &d), RC_OK);
    encode(d, &again);
    assert_int_equal(again.len, b->len);
    assert_memory_equal(again.data, b->data, b->len);
    buf_deinit(&again);
    if (rng_below(&m->rng, 8) == 0) {
        struct dvv_set *t;

        for (n = 0; n < b->len; n++) {
            assert_int_equal(dvv_decode(b->data, n, &t), RC_ECORRUPT);
        }
    }
    dvv_destroy(m->rep[x].s);
    m->rep[x].s = d;
}

/* Reference: the versions of `known` no other known version has seen. */
static void
sim_maximal(const struct sim *m, const struct bits *known, struct bits *out)
{
    unsigned v, u;

    memset(out, 0, sizeof(*out));
    for (v = 0; v < m->nver; v++) {
        bool seen = false;

        if (!bits_has(known, v)) {
            continue;
        }
        for (u = 0; u < m->nver && !seen; u++) {
            seen = bits_has(known, u) && bits_has(&m->past[u], v);
        }
        if (!seen) {
            bits_add(out, v);
        }
    }
}

/* Live siblings against the reference: never one lost, never a phantom,
 * each at its own dot; exactly the maximal versions unless marked pruned. */
static void
sim_check_rep(const struct sim *m, const struct sim_rep *r, struct sim_stats *st)
{
    struct dvv_sibling sib[SIM_MAXV];
    struct bits want, got;
    size_t n, i;

    if (r->s == NULL) {
        return;
    }
    sim_maximal(m, &r->known, &want);
    memset(&got, 0, sizeof(got));
    assert_int_equal(dvv_values(r->s, sib, SIM_MAXV, &n), RC_OK);
    for (i = 0; i < n; i++) {
        unsigned id = sim_value_id(&sib[i].value);

        assert_false(sib[i].anonymous);
        assert_true(id < m->nver && bits_has(&r->known, id) && !bits_has(&got, id));
        assert_true(sib[i].counter == m->dot_counter[id]);
        assert_memory_equal(&sib[i].actor, &m->dot_actor[id], sizeof(sib[i].actor));
        bits_add(&got, id);
    }
    assert_true(bits_subset(&want, &got));
    if (!bits_subset(&got, &want)) {
        assert_true(dvv_is_pruned(r->s));
        st->false_siblings++;
    }
    if (m->exact) {
        assert_false(dvv_is_pruned(r->s));
    }
    st->pruned_states += dvv_is_pruned(r->s);
    st->checks++;
}

/* An answer of compare against the reference knowledge sets: sound always,
 * exact when nothing is pruned. */
static void
sim_check_order(enum dvv_order o, const struct bits *a, const struct bits *b, bool exact)
{
    bool ab = bits_subset(a, b), ba = bits_subset(b, a);
    enum dvv_order truth = ab && ba ? DVV_EQUAL : ab ? DVV_LESS : ba ? DVV_GREATER : DVV_CONCURRENT;

    if (exact || o != DVV_CONCURRENT) {
        assert_int_equal(o, truth);
    }
}

static void
sim_check_orders(struct sim *m)
{
    struct dvv_vector vv;
    unsigned i, j, p;

    for (i = 0; i < m->nrep; i++) {
        for (j = 0; j < m->nrep; j++) {
            if (m->rep[i].s != NULL && m->rep[j].s != NULL &&
                (m->nrep <= 6 || rng_below(&m->rng, m->nrep) == 0)) {
                sim_check_order(dvv_compare(m->rep[i].s, m->rep[j].s), &m->rep[i].known,
                                &m->rep[j].known, m->exact);
                assert_int_equal(dvv_less(m->rep[i].s, m->rep[j].s),
                                 dvv_compare(m->rep[i].s, m->rep[j].s) == DVV_LESS);
            }
        }
        p = rng_below(&m->rng, SIM_POOL);
        if (m->rep[i].s != NULL && m->pool[p].used) {
            assert_int_equal(dvv_join(m->rep[i].s, &vv), RC_OK);
            sim_check_order(dvv_vector_compare(&m->pool[p].vv, &vv), &m->pool[p].known,
                            &m->rep[i].known, m->exact);
            dvv_vector_deinit(&vv);
        }
    }
}

/* Sync laws on the replica states, on encoded bytes. */
static void
sim_check_laws(struct sim *m, struct sim_stats *st)
{
    struct dvv_set *ab, *ba, *aa, *bc, *a_bc, *ab_c;
    unsigned i;

    for (i = 0; i < m->nrep; i++) {
        const struct dvv_set *a = m->rep[i].s, *b = m->rep[(i + 1) % m->nrep].s;
        const struct dvv_set *c = m->rep[(i + 2) % m->nrep].s;

        if (a == NULL || b == NULL || c == NULL) {
            continue;
        }
        ab = sync2(a, b);
        ba = sync2(b, a);
        aa = sync2(a, a);
        bc = sync2(b, c);
        a_bc = sync2(a, bc);
        ab_c = sync2(ab, c);
        assert_same_bytes(ab, ba);
        assert_same_bytes(aa, a);
        assert_same_bytes(a_bc, ab_c);
        dvv_destroy(ab);
        dvv_destroy(ba);
        dvv_destroy(aa);
        dvv_destroy(bc);
        dvv_destroy(a_bc);
        dvv_destroy(ab_c);
        st->law_checks++;
    }
}

static void
sim_step(struct sim *m, struct sim_stats *st)
{
    unsigned op = rng_below(&m->rng, 16), i;

    if (op < 7 && m->nver < SIM_MAXV) {
        sim_write(m, st);
    } else if (op < 12) {
        sim_sync(m, st);
    } else if (op < 15) {
        sim_read(m, rng_below(&m->rng, m->nrep), &m->pool[rng_below(&m->rng, SIM_POOL)], st);
    } else {
        sim_reencode(m);
    }
    for (i = 0; i < m->nrep; i++) {
        sim_check_rep(m, &m->rep[i], st);
    }
    sim_check_orders(m);
    st->steps++;
}

static void
sim_free(struct sim *m)
{
    unsigned i;

    for (i = 0; i < m->nrep; i++) {
        dvv_destroy(m->rep[i].s);
    }
    for (i = 0; i < SIM_POOL; i++) {
        sim_ctx_clear(&m->pool[i]);
    }
    for (i = 0; i < m->nbufs; i++) {
        buf_deinit(&m->bufs[i]);
    }
}

/* One history: nrep replicas (each its own actor), `steps` random steps. */
static void
sim_run(uint64_t seed, unsigned nrep, unsigned steps, unsigned keep, struct sim_stats *st)
{
    struct sim *m = test_calloc(1, sizeof(*m));
    unsigned i;

    m->seed = seed;
    m->rng.s = seed;
    m->nrep = nrep;
    m->keep = keep;
    m->exact = nrep <= DVV_PRUNE_TRIGGER;
    for (i = 0; i < nrep; i++) {
        m->rep[i].actor = actor(i + 1);
        m->rep[i].actor.id[3] = (uint8_t)rng_next(&m->rng); /* shuffle actor order */
    }
    for (i = 0; i < SIM_POOL; i++) {
        dvv_vector_init(&m->pool[i].vv);
    }
    for (m->step = 1; m->step <= steps; m->step++) {
        sim_step(m, st);
    }
    sim_check_laws(m, st);
    sim_free(m);
    test_free(m);
    st->histories++;
}

static void
print_stats(const char *what, const struct sim_stats *st)
{
    print_message("%s: %u histories, %u steps, %u writes, %u syncs, %u replica checks, "
                  "%u law triples, %u pruned states (%u with false siblings), "
                  "%u contexts over the token bound\n",
                  what, st->histories, st->steps, st->writes, st->syncs, st->checks, st->law_checks,
                  st->pruned_states, st->false_siblings, st->token_refused);
}

static void
test_random_histories(void **state)
{
    struct sim_stats st;
    uint64_t seed;

    (void)state;
    memset(&st, 0, sizeof(st));
    for (seed = 1; seed <= 600; seed++) {
        sim_run(seed * 0x2545f4914f6cdd1dull, 3 + (unsigned)(seed % 3), 80, 0, &st);
    }
    print_stats("histories", &st);
    assert_int_equal(st.pruned_states, 0);
}

/* Enough coordinators to pass DVV_PRUNE_TRIGGER: pruning happens, siblings
 * may be false but only in marked sets, none is ever lost, and comparisons
 * are never wrong when they answer anything but "concurrent". */
static void
test_random_histories_pruned(void **state)
{
    struct sim_stats st;
    uint64_t seed;

    (void)state;
    memset(&st, 0, sizeof(st));
    for (seed = 1; seed <= 60; seed++) {
        sim_run(seed * 0x9e3779b97f4a7c15ull, DVV_PRUNE_TRIGGER + 2 + (unsigned)(seed % 5), 300,
                2 + (unsigned)(seed % 7), &st);
    }
    print_stats("pruned histories", &st);
    assert_true(st.pruned_states > 0);
    assert_true(st.false_siblings > 0);
}

int main(void);

/* ------------------------------------------------------------ additions */

/* dvv_vector_put/encode are the token's bytes; dvv_from_entry makes the
 * lifted state; dvv_entries reports entries; dvv_relocate moves values. */
static void
test_object_helpers(void **state)
{
    struct dvv_vector_entry e[3] = {{actor(1), 5}, {actor(2), 1}, {actor(3), 9}};
    struct dvv_vector v = vec(e, 3, true), bad = vec(e, 3, false), j;
    unsigned char raw[DVV_VECTOR_SIZE(3)];
    struct dvv_entry_info ei[2];
    struct dvv_value lv = val("lifted"), ranges[1];
    struct dvv_set *s, *moved, *u;
    struct dvv_actor a = actor(4);
    struct buf b, t, store;
    char tok[DVV_TOKEN_LEN(DVV_VECTOR_SIZE(3)) + 1];
    char bytes[] = "abcdef";
    size_t n;

    (void)state;
    assert_int_equal(dvv_vector_put(&v, raw, sizeof(raw), &n), RC_OK);
    assert_int_equal(n, DVV_VECTOR_SIZE(3));
    assert_int_equal(raw[0], DVV_VECTOR_MAGIC);
    assert_int_equal(raw[2], DVV_F_PRUNED);
    assert_int_equal(dvv_vector_put(&v, raw, sizeof(raw) - 1, &n), RC_ETOOLARGE);
    buf_init(&b);
    buf_init(&t);
    assert_int_equal(dvv_vector_encode(&v, &b), RC_OK);
    assert_int_equal(dvv_token_format(&v, &t), RC_OK);
    assert_int_equal(b64url((const unsigned char *)b.data, b.len, tok), t.len);
    assert_memory_equal(tok, t.data, t.len);
    e[1].counter = 0;
    assert_int_equal(dvv_vector_encode(&bad, &b), RC_EINVAL);
    e[1].counter = 1;
    e[2].actor = actor(1);
    assert_int_equal(dvv_vector_encode(&bad, &b), RC_EINVAL);
    assert_int_equal(b.len, DVV_VECTOR_SIZE(3));
    buf_deinit(&b);
    buf_deinit(&t);

    assert_int_equal(dvv_from_entry(&a, 0, 1, &lv, &s), RC_EINVAL);
    assert_null(s);
    assert_int_equal(dvv_from_entry(&a, 42, 777, &lv, &s), RC_OK);
    assert_siblings(s, "lifted@4:42");
    assert_join(s, "4:42");
    assert_int_equal(dvv_nentries(s), 1);
    assert_int_equal(dvv_entries(s, ei, 0, &n), RC_EINVAL);
    assert_int_equal(dvv_entries(s, ei, 2, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ei[0].counter, 42);
    assert_int_equal(ei[0].stamp, 777);
    assert_int_equal(ei[0].nvals, 1);
    assert_ptr_equal(ei[0].vals[0].data, lv.data);
    /* the next event of the actor is 43, stamped past 777 */
    u = put(s, "next", s, 4);
    assert_siblings(u, "next@4:43");
    dvv_destroy(u);

    /* relocate: values inside the range are copied, others kept */
    lv.data = bytes;
    lv.len = 6;
    dvv_destroy(s);
    assert_int_equal(dvv_from_entry(&a, 1, 1, &lv, &s), RC_OK);
    buf_init(&store);
    ranges[0].data = bytes + 1;
    ranges[0].len = 5;
    assert_int_equal(dvv_relocate(s, ranges, 1, &store, &moved), RC_OK);
    assert_int_equal(store.len, 0);
    assert_int_equal(dvv_entries(moved, ei, 2, &n), RC_OK);
    assert_ptr_equal(ei[0].vals[0].data, bytes);
    dvv_destroy(moved);
    ranges[0].data = bytes;
    ranges[0].len = 6;
    assert_int_equal(dvv_relocate(s, ranges, 1, &store, &moved), RC_OK);
    assert_int_equal(store.len, 6);
    assert_int_equal(dvv_entries(moved, ei, 2, &n), RC_OK);
    assert_ptr_equal(ei[0].vals[0].data, store.data);
    memset(bytes, 'z', 6);
    assert_siblings(moved, "abcdef@4:1");
    assert_true(dvv_equal(s, moved));
    dvv_destroy(moved);
    assert_int_equal(dvv_relocate(s, NULL, 0, &store, &moved), RC_OK); /* all */
    assert_int_equal(store.len, 12);
    assert_siblings(moved, "zzzzzz@4:1");
    assert_int_equal(dvv_join(moved, &j), RC_OK);
    assert_int_equal(j.n, 1);
    dvv_vector_deinit(&j);
    dvv_destroy(moved);
    dvv_destroy(s);
    buf_deinit(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_join),
        cmocka_unit_test(test_update_contexts),
        cmocka_unit_test(test_update_blind_and_read),
        cmocka_unit_test(test_sync_examples),
        cmocka_unit_test(test_anonymous_values),
        cmocka_unit_test(test_update_rejects),
        cmocka_unit_test(test_values_capacity),
        cmocka_unit_test(test_vector_compare),
        cmocka_unit_test(test_prune_rule),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_round_trip_and_truncations),
        cmocka_unit_test(test_decode_rejects_fields),
        cmocka_unit_test(test_decode_rejects_anon_order),
        cmocka_unit_test(test_token_round_trips),
        cmocka_unit_test(test_token_malformed),
        cmocka_unit_test(test_random_histories),
        cmocka_unit_test(test_random_histories_pruned),
        cmocka_unit_test(test_object_helpers),
    };

    return cmocka_run_group_tests_name("dvv", tests, NULL, NULL);
}
