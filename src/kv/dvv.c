/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dvv.c - Dotted Version Vector Sets: construction, merge (sync), the
 * coordinator's update with its pruning rule, comparison, the canonical
 * binary encoding and the printable context token (see dvv.h and
 * doc/versioning-model.txt).
 *
 * Memory: every set is one rc_malloc block laid out as
 *     struct dvv_set | entries[cap_e] | vals[cap_v] | anon[cap_a]
 * sized from an upper bound before it is filled; nothing is reallocated.
 * vals holds the entries' value references grouped by entry, in entry
 * order, newest first within an entry (entry e owns vals[first..first+k)).
 * Value bytes are the caller's and are never copied.
 *
 * Invariants (checked by dvv_check_set in debug builds, and by the decoder
 * on input): entries strictly ascending by actor, counter >= 1, k <=
 * counter; anon strictly ascending by (len, bytes); bounds of dvv.h.
 */
#include "config.h"

#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/status.h"
#include "kv/dvv.h"

struct dvv_entry {
    struct dvv_vector_entry vc; /* actor and counter, first so views work */
    uint64_t stamp;             /* latest event time known for the actor */
    uint32_t nvals;             /* live values: dots counter .. counter-nvals+1 */
    uint32_t first;             /* their index in vals */
};

struct dvv_set {
    struct dvv_entry *entries; /* in this block */
    struct dvv_value *vals;    /* in this block; bytes borrowed */
    struct dvv_value *anon;    /* in this block; bytes borrowed */
    uint32_t nentries;
    uint32_t nvals;
    uint32_t nanon;
    uint8_t flags; /* DVV_F_* */
};

/* A read-only view of (actor, counter) pairs in either entry type. */
struct dvv_view {
    const char *base;
    size_t stride;
    size_t n;
    bool pruned;
};

#define DVV_SET_HDR   5  /* magic, version, flags, u16 entries */
#define DVV_ENTRY_HDR 34 /* actor, u64 counter, u64 stamp, u16 k */
#define DVV_VAL_HDR   4  /* u32 length */
#define DVV_VEC_ENTRY 24 /* actor, u64 counter */
#define DVV_ALIGN     alignof(max_align_t)
#define DVV_ROUND(x)  (((x) + DVV_ALIGN - 1) / DVV_ALIGN * DVV_ALIGN)

_Static_assert(DVV_VECTOR_SIZE(1) == DVV_SET_HDR + DVV_VEC_ENTRY, "vector layout");
_Static_assert(DVV_TOKEN_MAX == 519, "token bound");
_Static_assert(DVV_PRUNE_KEEP <= DVV_PRUNE_TRIGGER, "prune bounds");
_Static_assert(DVV_PRUNE_TRIGGER < DVV_MAX_ENTRIES, "prune bounds");
_Static_assert(DVV_MAX_ENTRIES <= UINT16_MAX && DVV_MAX_VALUES <= UINT16_MAX, "u16 counts");

/* ------------------------------------------------------------ helpers */

static int
dvv_actor_cmp(const struct dvv_actor *a, const struct dvv_actor *b)
{
    return memcmp(a->id, b->id, DVV_ACTOR_SIZE);
}

/* Order of anonymous values: length, then bytes. */
static int
dvv_value_cmp(const struct dvv_value *a, const struct dvv_value *b)
{
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    return a->len == 0 ? 0 : memcmp(a->data, b->data, a->len);
}

static int
dvv_value_check(const struct dvv_value *v)
{
    if (v == NULL || (v->len > 0 && v->data == NULL)) {
        return RC_EINVAL;
    }
    return v->len > UINT32_MAX ? RC_ETOOLARGE : RC_OK;
}

static struct dvv_set *
dvv_set_alloc(size_t cap_e, size_t cap_v, size_t cap_a)
{
    size_t off_e = DVV_ROUND(sizeof(struct dvv_set));
    size_t off_v = off_e + DVV_ROUND(cap_e * sizeof(struct dvv_entry));
    size_t off_a = off_v + cap_v * sizeof(struct dvv_value);
    char *block = rc_malloc(off_a + cap_a * sizeof(struct dvv_value) + 1);
    struct dvv_set *s = (struct dvv_set *)block;

    if (s == NULL) {
        return NULL;
    }
    s->entries = (struct dvv_entry *)(block + off_e);
    s->vals = (struct dvv_value *)(block + off_v);
    s->anon = (struct dvv_value *)(block + off_a);
    s->nentries = 0;
    s->nvals = 0;
    s->nanon = 0;
    s->flags = 0;
    return s;
}

/* Append an entry holding k values (newest first) taken from src. */
static void
dvv_push_entry(struct dvv_set *s, const struct dvv_entry *proto, const struct dvv_value *src,
               uint32_t k)
{
    struct dvv_entry *e = &s->entries[s->nentries++];

    *e = *proto;
    e->nvals = k;
    e->first = s->nvals;
    if (k > 0) {
        memcpy(&s->vals[s->nvals], src, k * sizeof(*src));
    }
    s->nvals += k;
}

static int
dvv_check_bounds(const struct dvv_set *s)
{
    if (s->nentries > DVV_MAX_ENTRIES || (size_t)s->nvals + s->nanon > DVV_MAX_VALUES) {
        return RC_ETOOLARGE;
    }
    return RC_OK;
}

#ifndef NDEBUG
static void
dvv_check_set(const struct dvv_set *s)
{
    uint32_t i, next = 0;

    for (i = 0; i < s->nentries; i++) {
        const struct dvv_entry *e = &s->entries[i];

        assert(e->vc.counter >= 1 && e->nvals <= e->vc.counter && e->first == next);
        assert(i == 0 || dvv_actor_cmp(&s->entries[i - 1].vc.actor, &e->vc.actor) < 0);
        next += e->nvals;
    }
    assert(next == s->nvals);
    for (i = 1; i < s->nanon; i++) {
        assert(dvv_value_cmp(&s->anon[i - 1], &s->anon[i]) < 0);
    }
}
#else
#define dvv_check_set(s) ((void)(s))
#endif

/* ------------------------------------------------------------ construction */

static int
dvv_vector_check(const struct dvv_vector *v, size_t max)
{
    size_t i;

    if (v == NULL || (v->n > 0 && v->entries == NULL)) {
        return RC_EINVAL;
    }
    if (v->n > max) {
        return RC_ETOOLARGE;
    }
    for (i = 0; i < v->n; i++) {
        if (v->entries[i].counter == 0 ||
            (i > 0 && dvv_actor_cmp(&v->entries[i - 1].actor, &v->entries[i].actor) >= 0)) {
            return RC_EINVAL;
        }
    }
    return RC_OK;
}

int
dvv_new(const struct dvv_value *v, struct dvv_set **out)
{
    struct dvv_vector empty;

    dvv_vector_init(&empty);
    return dvv_new_with_context(&empty, v, out);
}

int
dvv_new_with_context(const struct dvv_vector *ctx, const struct dvv_value *v, struct dvv_set **out)
{
    struct dvv_entry proto = {{{{0}}, 0}, 0, 0, 0};
    struct dvv_set *s;
    size_t i;
    int rc;

    *out = NULL;
    rc = dvv_vector_check(ctx, DVV_MAX_ENTRIES);
    if (rc == RC_OK) {
        rc = dvv_value_check(v);
    }
    if (rc != RC_OK) {
        return rc;
    }
    s = dvv_set_alloc(ctx->n, 0, 1);
    if (s == NULL) {
        return RC_ENOMEM;
    }
    for (i = 0; i < ctx->n; i++) {
        proto.vc = ctx->entries[i];
        dvv_push_entry(s, &proto, NULL, 0);
    }
    s->anon[0] = *v;
    s->nanon = 1;
    s->flags = ctx->pruned ? DVV_F_PRUNED : 0;
    dvv_check_set(s);
    *out = s;
    return RC_OK;
}

void
dvv_destroy(struct dvv_set *s)
{
    rc_free(s);
}

/* ------------------------------------------------------------ comparison */

static const struct dvv_vector_entry *
dvv_view_at(const struct dvv_view *v, size_t i)
{
    return (const struct dvv_vector_entry *)(v->base + i * v->stride);
}

/* Visible order: sets *a_ge (a has every event b shows) and *b_ge. */
static void
dvv_view_ge(const struct dvv_view *a, const struct dvv_view *b, bool *a_ge, bool *b_ge)
{
    size_t i = 0, j = 0;

    *a_ge = true;
    *b_ge = true;
    while (i < a->n || j < b->n) {
        const struct dvv_vector_entry *x = i < a->n ? dvv_view_at(a, i) : NULL;
        const struct dvv_vector_entry *y = j < b->n ? dvv_view_at(b, j) : NULL;
        int c = x == NULL ? 1 : y == NULL ? -1 : dvv_actor_cmp(&x->actor, &y->actor);

        if (c < 0) { /* only a knows this actor */
            *b_ge = false;
            i++;
        } else if (c > 0) {
            *a_ge = false;
            j++;
        } else {
            *a_ge = *a_ge && x->counter >= y->counter;
            *b_ge = *b_ge && y->counter >= x->counter;
            i++;
            j++;
        }
    }
}

/* The pruning rule: a pruned side may know more than it shows, so "x
 * descends y" needs y unpruned and x visibly strictly ahead; "equal" needs
 * neither pruned. Anything else is concurrent. */
static enum dvv_order
dvv_view_compare(const struct dvv_view *a, const struct dvv_view *b)
{
    bool a_ge, b_ge;

    dvv_view_ge(a, b, &a_ge, &b_ge);
    if (a_ge && b_ge) {
        return !a->pruned && !b->pruned ? DVV_EQUAL : DVV_CONCURRENT;
    }
    if (a_ge) {
        return b->pruned ? DVV_CONCURRENT : DVV_GREATER;
    }
    if (b_ge) {
        return a->pruned ? DVV_CONCURRENT : DVV_LESS;
    }
    return DVV_CONCURRENT;
}

static struct dvv_view
dvv_set_view(const struct dvv_set *s)
{
    struct dvv_view v = {(const char *)s->entries, sizeof(struct dvv_entry), s->nentries,
                         (s->flags & DVV_F_PRUNED) != 0};
    return v;
}

enum dvv_order
dvv_compare(const struct dvv_set *a, const struct dvv_set *b)
{
    struct dvv_view va = dvv_set_view(a), vb = dvv_set_view(b);

    return dvv_view_compare(&va, &vb);
}

bool
dvv_less(const struct dvv_set *a, const struct dvv_set *b)
{
    return dvv_compare(a, b) == DVV_LESS;
}

bool
dvv_equal(const struct dvv_set *a, const struct dvv_set *b)
{
    return dvv_compare(a, b) == DVV_EQUAL;
}

enum dvv_order
dvv_vector_compare(const struct dvv_vector *a, const struct dvv_vector *b)
{
    struct dvv_view va = {(const char *)a->entries, sizeof(*a->entries), a->n, a->pruned};
    struct dvv_view vb = {(const char *)b->entries, sizeof(*b->entries), b->n, b->pruned};

    return dvv_view_compare(&va, &vb);
}

/* ------------------------------------------------------------ merge */

/* One actor known to both: the larger counter, and the values whose dots
 * are above both sides' obsolete floors (all held by the larger side). */
static void
dvv_merge_entry(struct dvv_set *out, const struct dvv_set *a, const struct dvv_entry *x,
                const struct dvv_set *b, const struct dvv_entry *y)
{
    uint64_t floor_x = x->vc.counter - x->nvals, floor_y = y->vc.counter - y->nvals;
    uint64_t floor = floor_x > floor_y ? floor_x : floor_y;
    const struct dvv_entry *big = x->vc.counter >= y->vc.counter ? x : y;
    const struct dvv_set *from = big == x ? a : b;
    struct dvv_entry proto = *big;

    assert(big->vc.counter - floor <= big->nvals);
    proto.stamp = x->stamp > y->stamp ? x->stamp : y->stamp;
    dvv_push_entry(out, &proto, &from->vals[big->first], (uint32_t)(big->vc.counter - floor));
}

static void
dvv_copy_entry(struct dvv_set *out, const struct dvv_set *from, const struct dvv_entry *e)
{
    dvv_push_entry(out, e, &from->vals[e->first], e->nvals);
}

/* Merge the entries of a and b into out (which has room for both). */
static void
dvv_merge_entries(struct dvv_set *out, const struct dvv_set *a, const struct dvv_set *b)
{
    uint32_t i = 0, j = 0;

    while (i < a->nentries || j < b->nentries) {
        const struct dvv_entry *x = i < a->nentries ? &a->entries[i] : NULL;
        const struct dvv_entry *y = j < b->nentries ? &b->entries[j] : NULL;
        int c = x == NULL ? 1 : y == NULL ? -1 : dvv_actor_cmp(&x->vc.actor, &y->vc.actor);

        if (c < 0) {
            dvv_copy_entry(out, a, x);
            i++;
        } else if (c > 0) {
            dvv_copy_entry(out, b, y);
            j++;
        } else {
            dvv_merge_entry(out, a, x, b, y);
            i++;
            j++;
        }
    }
}

/* Sorted union of two sorted, duplicate-free anonymous lists into out. */
static void
dvv_union_anon(struct dvv_set *out, const struct dvv_set *a, const struct dvv_set *b)
{
    uint32_t i = 0, j = 0;

    while (i < a->nanon || j < b->nanon) {
        int c = i == a->nanon ? 1 : j == b->nanon ? -1 : dvv_value_cmp(&a->anon[i], &b->anon[j]);

        if (c <= 0) {
            out->anon[out->nanon++] = a->anon[i++];
            j += c == 0;
        } else {
            out->anon[out->nanon++] = b->anon[j++];
        }
    }
}

/* Anonymous values survive unless the other side provably descends them. */
static void
dvv_merge_anon(struct dvv_set *out, const struct dvv_set *a, const struct dvv_set *b)
{
    struct dvv_set none = {NULL, NULL, NULL, 0, 0, 0, 0};

    switch (dvv_compare(a, b)) {
    case DVV_LESS:
        dvv_union_anon(out, &none, b);
        break;
    case DVV_GREATER:
        dvv_union_anon(out, a, &none);
        break;
    case DVV_EQUAL:
    case DVV_CONCURRENT:
        dvv_union_anon(out, a, b);
        break;
    default:
        assert(!"not reached");
        break;
    }
}

int
dvv_sync(const struct dvv_set *a, const struct dvv_set *b, struct dvv_set **out)
{
    struct dvv_set *s;
    int rc;

    *out = NULL;
    s = dvv_set_alloc((size_t)a->nentries + b->nentries, (size_t)a->nvals + b->nvals,
                      (size_t)a->nanon + b->nanon);
    if (s == NULL) {
        return RC_ENOMEM;
    }
    dvv_merge_entries(s, a, b);
    dvv_merge_anon(s, a, b);
    s->flags = a->flags | b->flags;
    rc = dvv_check_bounds(s);
    if (rc != RC_OK) {
        dvv_destroy(s);
        return rc;
    }
    dvv_check_set(s);
    *out = s;
    return RC_OK;
}

/* ------------------------------------------------------------ update */

static int
dvv_prune_cmp(const void *pa, const void *pb)
{
    const struct dvv_entry *a = *(const struct dvv_entry *const *)pa;
    const struct dvv_entry *b = *(const struct dvv_entry *const *)pb;

    if (a->stamp != b->stamp) {
        return a->stamp < b->stamp ? -1 : 1;
    }
    return dvv_actor_cmp(&a->vc.actor, &b->vc.actor);
}

/* The pruning rule on a merged, not yet evented set m (which will hold
 * `total` entries after the event): mark dropped entries with counter 0.
 * Returns whether anything was dropped, or RC_ENOMEM. */
static int
dvv_prune_mark(struct dvv_set *m, const struct dvv_actor *self, size_t total, unsigned keep)
{
    struct dvv_entry **cand;
    size_t ncand = 0, drop, i;

    if (total <= DVV_PRUNE_TRIGGER) {
        return 0;
    }
    cand = rc_malloc(m->nentries * sizeof(*cand) + 1);
    if (cand == NULL) {
        return RC_ENOMEM;
    }
    for (i = 0; i < m->nentries; i++) {
        struct dvv_entry *e = &m->entries[i];

        if (e->nvals == 0 && dvv_actor_cmp(&e->vc.actor, self) != 0) {
            cand[ncand++] = e;
        }
    }
    qsort(cand, ncand, sizeof(*cand), dvv_prune_cmp);
    drop = total - keep < ncand ? total - keep : ncand;
    for (i = 0; i < drop; i++) {
        cand[i]->vc.counter = 0;
    }
    rc_free(cand);
    return drop > 0;
}

static void
dvv_copy_range(struct dvv_set *out, const struct dvv_set *m, uint32_t from, uint32_t to)
{
    uint32_t i;

    for (i = from; i < to; i++) {
        if (m->entries[i].vc.counter != 0) { /* 0: dropped by the prune */
            dvv_copy_entry(out, m, &m->entries[i]);
        }
    }
}

/* Copy m into out, skipping dropped entries and adding the event of self:
 * dot (self, n+1) holding v, ahead of self's surviving values. */
static int
dvv_apply_event(struct dvv_set *out, const struct dvv_set *m, const struct dvv_actor *self,
                uint64_t stamp, const struct dvv_value *v)
{
    struct dvv_entry ev = {{*self, 1}, stamp, 0, 0};
    const struct dvv_entry *mine = NULL;
    uint32_t pos = 0;

    while (pos < m->nentries && dvv_actor_cmp(&m->entries[pos].vc.actor, self) < 0) {
        pos++;
    }
    if (pos < m->nentries && dvv_actor_cmp(&m->entries[pos].vc.actor, self) == 0) {
        mine = &m->entries[pos];
        if (mine->vc.counter == UINT64_MAX) {
            return RC_ETOOLARGE;
        }
        ev.vc.counter = mine->vc.counter + 1;
    }
    dvv_copy_range(out, m, 0, pos);
    dvv_push_entry(out, &ev, v, 1);
    if (mine != NULL && mine->nvals > 0) {
        memcpy(&out->vals[out->nvals], &m->vals[mine->first], mine->nvals * sizeof(*v));
        out->nvals += mine->nvals;
        out->entries[out->nentries - 1].nvals += mine->nvals;
    }
    dvv_copy_range(out, m, pos + (mine != NULL), m->nentries);
    return RC_OK;
}

/* The new event's stamp: the caller's time, but always past every stamp the
 * merged history holds, so causal successors never look older. */
static uint64_t
dvv_next_stamp(const struct dvv_set *m, uint64_t now)
{
    uint64_t top = 0;
    uint32_t i;

    for (i = 0; i < m->nentries; i++) {
        top = m->entries[i].stamp > top ? m->entries[i].stamp : top;
    }
    if (top < UINT64_MAX) {
        top++;
    }
    return now > top ? now : top;
}

static bool
dvv_has_actor(const struct dvv_set *s, const struct dvv_actor *actor)
{
    uint32_t i;

    for (i = 0; i < s->nentries; i++) {
        if (dvv_actor_cmp(&s->entries[i].vc.actor, actor) == 0) {
            return true;
        }
    }
    return false;
}

static int
dvv_update_check(const struct dvv_set *client, const struct dvv_actor *self, unsigned keep)
{
    if (client == NULL || self == NULL || client->nanon != 1 || client->nvals != 0 ||
        keep > DVV_PRUNE_TRIGGER) {
        return RC_EINVAL;
    }
    return RC_OK;
}

int
dvv_update(const struct dvv_set *client, const struct dvv_set *local, const struct dvv_actor *self,
           uint64_t stamp, unsigned keep, struct dvv_set **out)
{
    struct dvv_set none = {NULL, NULL, NULL, 0, 0, 0, 0}, ctx, *m = NULL, *s = NULL;
    int rc, pruned;

    *out = NULL;
    rc = dvv_update_check(client, self, keep);
    if (rc != RC_OK) {
        return rc;
    }
    local = local != NULL ? local : &none;
    ctx = *client;
    ctx.nanon = 0; /* the new value is not a sibling of the past */
    rc = dvv_sync(&ctx, local, &m);
    if (rc != RC_OK && rc != RC_ETOOLARGE) {
        goto out;
    }
    rc = RC_ENOMEM;
    if (m == NULL) { /* too large before pruning: merge unbounded, then prune */
        m = dvv_set_alloc((size_t)ctx.nentries + local->nentries, local->nvals, local->nanon);
        if (m == NULL) {
            goto out;
        }
        dvv_merge_entries(m, &ctx, local);
        dvv_merge_anon(m, &ctx, local);
        m->flags = ctx.flags | local->flags;
    }
    pruned = dvv_prune_mark(m, self, m->nentries + !dvv_has_actor(m, self),
                            keep == 0 ? DVV_PRUNE_KEEP : keep);
    s = dvv_set_alloc((size_t)m->nentries + 1, (size_t)m->nvals + 1, m->nanon);
    if (pruned < 0 || s == NULL) {
        goto out;
    }
    rc = dvv_apply_event(s, m, self, dvv_next_stamp(m, stamp), &client->anon[0]);
    if (rc == RC_OK) {
        memcpy(s->anon, m->anon, m->nanon * sizeof(*s->anon));
        s->nanon = m->nanon;
        s->flags = m->flags | (pruned ? DVV_F_PRUNED : 0);
        rc = dvv_check_bounds(s);
    }
out:
    dvv_destroy(m);
    if (rc != RC_OK) {
        dvv_destroy(s);
        return rc;
    }
    dvv_check_set(s);
    *out = s;
    return RC_OK;
}

/* ------------------------------------------------------------ queries */

int
dvv_join(const struct dvv_set *s, struct dvv_vector *out)
{
    uint32_t i;

    dvv_vector_init(out);
    if (s->nentries > 0) {
        out->entries = rc_malloc(s->nentries * sizeof(*out->entries));
        if (out->entries == NULL) {
            return RC_ENOMEM;
        }
    }
    for (i = 0; i < s->nentries; i++) {
        out->entries[i] = s->entries[i].vc;
    }
    out->n = s->nentries;
    out->pruned = (s->flags & DVV_F_PRUNED) != 0;
    return RC_OK;
}

int
dvv_values(const struct dvv_set *s, struct dvv_sibling *out, size_t cap, size_t *n)
{
    uint32_t i, k;
    size_t w = 0;

    *n = 0;
    if (cap < dvv_size(s)) {
        return RC_EINVAL;
    }
    for (i = 0; i < s->nentries; i++) {
        const struct dvv_entry *e = &s->entries[i];

        for (k = 0; k < e->nvals; k++, w++) {
            out[w].value = s->vals[e->first + k];
            out[w].actor = e->vc.actor;
            out[w].counter = e->vc.counter - k;
            out[w].anonymous = false;
        }
    }
    for (i = 0; i < s->nanon; i++, w++) {
        memset(&out[w], 0, sizeof(out[w]));
        out[w].value = s->anon[i];
        out[w].anonymous = true;
    }
    *n = w;
    return RC_OK;
}

size_t
dvv_size(const struct dvv_set *s)
{
    return (size_t)s->nvals + s->nanon;
}

bool
dvv_is_pruned(const struct dvv_set *s)
{
    return (s->flags & DVV_F_PRUNED) != 0;
}

void
dvv_vector_init(struct dvv_vector *v)
{
    v->entries = NULL;
    v->n = 0;
    v->pruned = false;
}

void
dvv_vector_deinit(struct dvv_vector *v)
{
    rc_free(v->entries);
    dvv_vector_init(v);
}

/* ------------------------------------------------------------ encoding */

static unsigned char *
dvv_put_be(unsigned char *p, uint64_t v, unsigned bytes)
{
    unsigned i;

    for (i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    }
    return p + bytes;
}

static unsigned char *
dvv_put_value(unsigned char *p, const struct dvv_value *v)
{
    p = dvv_put_be(p, v->len, 4);
    if (v->len > 0) {
        memcpy(p, v->data, v->len);
    }
    return p + v->len;
}

/* Encoded size of s, or 0 if it cannot be represented. */
static size_t
dvv_encoded_size(const struct dvv_set *s)
{
    size_t n = DVV_SET_HDR + 2 + (size_t)s->nentries * DVV_ENTRY_HDR, i;

    for (i = 0; i < (size_t)s->nvals + s->nanon; i++) {
        const struct dvv_value *v = i < s->nvals ? &s->vals[i] : &s->anon[i - s->nvals];

        if (v->len > UINT32_MAX || v->len > SIZE_MAX - n - DVV_VAL_HDR) {
            return 0;
        }
        n += DVV_VAL_HDR + v->len;
    }
    return n;
}

int
dvv_encode(const struct dvv_set *s, struct buf *out)
{
    size_t size = dvv_encoded_size(s);
    unsigned char *p, *start;
    uint32_t i, k;
    int rc;

    if (size == 0) {
        return RC_ETOOLARGE;
    }
    rc = buf_reserve(out, size);
    if (rc != RC_OK) {
        return rc;
    }
    start = p = (unsigned char *)out->data + out->len;
    *p++ = DVV_SET_MAGIC;
    *p++ = DVV_FORMAT_V1;
    *p++ = s->flags;
    p = dvv_put_be(p, s->nentries, 2);
    for (i = 0; i < s->nentries; i++) {
        const struct dvv_entry *e = &s->entries[i];

        memcpy(p, e->vc.actor.id, DVV_ACTOR_SIZE);
        p = dvv_put_be(p + DVV_ACTOR_SIZE, e->vc.counter, 8);
        p = dvv_put_be(p, e->stamp, 8);
        p = dvv_put_be(p, e->nvals, 2);
        for (k = 0; k < e->nvals; k++) {
            p = dvv_put_value(p, &s->vals[e->first + k]);
        }
    }
    p = dvv_put_be(p, s->nanon, 2);
    for (i = 0; i < s->nanon; i++) {
        p = dvv_put_value(p, &s->anon[i]);
    }
    assert((size_t)(p - start) == size);
    out->len += size;
    return RC_OK;
}

/* ------------------------------------------------------------ decoding */

/* A bounded reader: every get fails rather than read past the end. */
struct dvv_reader {
    const unsigned char *p;
    size_t left;
};

static bool
dvv_get_be(struct dvv_reader *r, unsigned bytes, uint64_t *v)
{
    unsigned i;

    if (r->left < bytes) {
        return false;
    }
    *v = 0;
    for (i = 0; i < bytes; i++) {
        *v = (*v << 8) | r->p[i];
    }
    r->p += bytes;
    r->left -= bytes;
    return true;
}

static bool
dvv_get_bytes(struct dvv_reader *r, size_t n, const unsigned char **p)
{
    if (r->left < n) {
        return false;
    }
    *p = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

static bool
dvv_get_value(struct dvv_reader *r, struct dvv_value *v)
{
    const unsigned char *p;
    uint64_t len;

    if (!dvv_get_be(r, 4, &len) || !dvv_get_bytes(r, (size_t)len, &p)) {
        return false;
    }
    v->data = p;
    v->len = (size_t)len;
    return true;
}

/* Header of either encoding: magic, version, flags, u16 count <= max. */
static bool
dvv_get_header(struct dvv_reader *r, unsigned magic, size_t max, uint8_t *flags, uint32_t *n)
{
    uint64_t m, ver, f, cnt;

    if (!dvv_get_be(r, 1, &m) || !dvv_get_be(r, 1, &ver) || !dvv_get_be(r, 1, &f) ||
        !dvv_get_be(r, 2, &cnt)) {
        return false;
    }
    if (m != magic || ver != DVV_FORMAT_V1 || (f & ~(uint64_t)DVV_F_PRUNED) != 0 || cnt > max) {
        return false;
    }
    *flags = (uint8_t)f;
    *n = (uint32_t)cnt;
    return true;
}

/* Actor and counter of one entry, strictly after prev (NULL: first). */
static bool
dvv_get_clock(struct dvv_reader *r, const struct dvv_actor *prev, struct dvv_vector_entry *vc)
{
    const unsigned char *id;

    if (!dvv_get_bytes(r, DVV_ACTOR_SIZE, &id) || !dvv_get_be(r, 8, &vc->counter)) {
        return false;
    }
    memcpy(vc->actor.id, id, DVV_ACTOR_SIZE);
    return vc->counter >= 1 && (prev == NULL || dvv_actor_cmp(prev, &vc->actor) < 0);
}

/* One entry; s == NULL counts values (pass 1), else fills s (pass 2). */
static bool
dvv_get_entry(struct dvv_reader *r, const struct dvv_actor *prev, struct dvv_set *s,
              uint32_t *nvals, struct dvv_actor *actor)
{
    struct dvv_entry e;
    struct dvv_value v;
    uint64_t k, i;

    if (!dvv_get_clock(r, prev, &e.vc) || !dvv_get_be(r, 8, &e.stamp) || !dvv_get_be(r, 2, &k)) {
        return false;
    }
    if (k > e.vc.counter || k > DVV_MAX_VALUES - *nvals) {
        return false;
    }
    e.nvals = (uint32_t)k;
    e.first = *nvals;
    for (i = 0; i < k; i++) {
        if (!dvv_get_value(r, &v)) {
            return false;
        }
        if (s != NULL) {
            s->vals[*nvals + i] = v;
        }
    }
    if (s != NULL) {
        s->entries[s->nentries++] = e;
        s->nvals += e.nvals;
    }
    *nvals += e.nvals;
    *actor = e.vc.actor;
    return true;
}

/* Anonymous list: sorted, duplicate-free, within the value bound. */
static bool
dvv_get_anon(struct dvv_reader *r, struct dvv_set *s, uint32_t nvals, uint32_t *nanon)
{
    struct dvv_value prev = {NULL, 0}, v;
    uint64_t a, i;

    if (!dvv_get_be(r, 2, &a) || a > DVV_MAX_VALUES - nvals) {
        return false;
    }
    for (i = 0; i < a; i++) {
        if (!dvv_get_value(r, &v) || (i > 0 && dvv_value_cmp(&prev, &v) >= 0)) {
            return false;
        }
        if (s != NULL) {
            s->anon[i] = v;
        }
        prev = v;
    }
    *nanon = (uint32_t)a;
    return true;
}

/* Parse the whole encoding; pass 1 (s == NULL) validates and counts. */
static bool
dvv_parse_set(const void *data, size_t n, struct dvv_set *s, uint32_t *ne, uint32_t *nv,
              uint32_t *na)
{
    struct dvv_reader r = {data, n};
    struct dvv_actor prev;
    uint8_t flags;
    uint32_t i;

    *nv = 0;
    if (data == NULL || !dvv_get_header(&r, DVV_SET_MAGIC, DVV_MAX_ENTRIES, &flags, ne)) {
        return false;
    }
    for (i = 0; i < *ne; i++) {
        if (!dvv_get_entry(&r, i == 0 ? NULL : &prev, s, nv, &prev)) {
            return false;
        }
    }
    if (!dvv_get_anon(&r, s, *nv, na) || r.left != 0) {
        return false;
    }
    if (s != NULL) {
        s->nanon = *na;
        s->flags = flags;
    }
    return true;
}

int
dvv_decode(const void *data, size_t n, struct dvv_set **out)
{
    uint32_t ne, nv, na;
    struct dvv_set *s;

    *out = NULL;
    if (!dvv_parse_set(data, n, NULL, &ne, &nv, &na)) {
        return RC_ECORRUPT;
    }
    s = dvv_set_alloc(ne, nv, na);
    if (s == NULL) {
        return RC_ENOMEM;
    }
    if (!dvv_parse_set(data, n, s, &ne, &nv, &na)) {
        assert(!"second pass disagrees");
        dvv_destroy(s);
        return RC_EINTERNAL;
    }
    dvv_check_set(s);
    *out = s;
    return RC_OK;
}

/* ------------------------------------------------------------ context token */

int
dvv_token_format(const struct dvv_vector *v, struct buf *out)
{
    unsigned char raw[DVV_VECTOR_SIZE(DVV_TOKEN_MAX_ENTRIES)], *p = raw;
    size_t i;
    int rc;

    rc = dvv_vector_check(v, DVV_TOKEN_MAX_ENTRIES);
    if (rc != RC_OK) {
        return rc;
    }
    *p++ = DVV_VECTOR_MAGIC;
    *p++ = DVV_FORMAT_V1;
    *p++ = v->pruned ? DVV_F_PRUNED : 0;
    p = dvv_put_be(p, v->n, 2);
    for (i = 0; i < v->n; i++) {
        memcpy(p, v->entries[i].actor.id, DVV_ACTOR_SIZE);
        p = dvv_put_be(p + DVV_ACTOR_SIZE, v->entries[i].counter, 8);
    }
    return b64_url_encode(out, raw, (size_t)(p - raw));
}

int
dvv_token_parse(const char *tok, size_t len, struct dvv_vector *out)
{
    unsigned char raw[DVV_VECTOR_SIZE(DVV_TOKEN_MAX_ENTRIES)];
    struct dvv_reader r = {raw, 0};
    uint8_t flags;
    uint32_t n, i;

    dvv_vector_init(out);
    if (tok == NULL || len == 0 || len > DVV_TOKEN_MAX ||
        !b64_url_decode(tok, len, raw, sizeof(raw), &r.left) ||
        !dvv_get_header(&r, DVV_VECTOR_MAGIC, DVV_TOKEN_MAX_ENTRIES, &flags, &n) ||
        r.left != (size_t)n * DVV_VEC_ENTRY) {
        return RC_EINVAL;
    }
    if (n > 0) {
        out->entries = rc_malloc(n * sizeof(*out->entries));
        if (out->entries == NULL) {
            return RC_ENOMEM;
        }
    }
    for (i = 0; i < n; i++) {
        if (!dvv_get_clock(&r, i == 0 ? NULL : &out->entries[i - 1].actor, &out->entries[i])) {
            dvv_vector_deinit(out);
            return RC_EINVAL;
        }
    }
    out->n = n;
    out->pruned = (flags & DVV_F_PRUNED) != 0;
    return RC_OK;
}

/* ------------------------------------------------------------ for object and context */

size_t
dvv_nentries(const struct dvv_set *s)
{
    return s->nentries;
}

int
dvv_entries(const struct dvv_set *s, struct dvv_entry_info *out, size_t cap, size_t *n)
{
    uint32_t i;

    *n = 0;
    if (cap < s->nentries) {
        return RC_EINVAL;
    }
    for (i = 0; i < s->nentries; i++) {
        const struct dvv_entry *e = &s->entries[i];

        out[i].actor = e->vc.actor;
        out[i].counter = e->vc.counter;
        out[i].stamp = e->stamp;
        out[i].nvals = e->nvals;
        out[i].vals = &s->vals[e->first];
    }
    *n = s->nentries;
    return RC_OK;
}

int
dvv_from_entry(const struct dvv_actor *actor, uint64_t counter, uint64_t stamp,
               const struct dvv_value *v, struct dvv_set **out)
{
    struct dvv_entry proto = {{{{0}}, 0}, 0, 0, 0};
    struct dvv_set *s;
    int rc;

    *out = NULL;
    if (actor == NULL || counter == 0) {
        return RC_EINVAL;
    }
    rc = dvv_value_check(v);
    if (rc != RC_OK) {
        return rc;
    }
    s = dvv_set_alloc(1, 1, 0);
    if (s == NULL) {
        return RC_ENOMEM;
    }
    proto.vc.actor = *actor;
    proto.vc.counter = counter;
    proto.stamp = stamp;
    dvv_push_entry(s, &proto, v, 1);
    dvv_check_set(s);
    *out = s;
    return RC_OK;
}

/* Whether v lies wholly inside one of the ranges (NULL: everything). */
static bool
dvv_value_inside(const struct dvv_value *v, const struct dvv_value *ranges, size_t nranges)
{
    uintptr_t p = (uintptr_t)v->data;
    size_t i;

    if (ranges == NULL) {
        return true;
    }
    if (v->data == NULL) {
        return false;
    }
    for (i = 0; i < nranges; i++) {
        uintptr_t lo = (uintptr_t)ranges[i].data;

        if (ranges[i].data != NULL && p >= lo && p - lo <= ranges[i].len &&
            v->len <= ranges[i].len - (p - lo)) {
            return true;
        }
    }
    return false;
}

/* Move the bytes of one value reference to *w if it is inside the ranges. */
static void
dvv_relocate_value(struct dvv_value *v, const struct dvv_value *ranges, size_t nranges, char **w)
{
    if (v->len > 0 && dvv_value_inside(v, ranges, nranges)) {
        memcpy(*w, v->data, v->len);
        v->data = *w;
        *w += v->len;
    }
}

int
dvv_relocate(const struct dvv_set *s, const struct dvv_value *ranges, size_t nranges,
             struct buf *store, struct dvv_set **out)
{
    size_t total = 0, i, nall = (size_t)s->nvals + s->nanon;
    struct dvv_set *c;
    char *w;
    int rc;

    *out = NULL;
    for (i = 0; i < nall; i++) {
        const struct dvv_value *v = i < s->nvals ? &s->vals[i] : &s->anon[i - s->nvals];

        if (v->len > 0 && dvv_value_inside(v, ranges, nranges)) {
            if (v->len > SIZE_MAX - total) {
                return RC_ETOOLARGE;
            }
            total += v->len;
        }
    }
    c = dvv_set_alloc(s->nentries, s->nvals, s->nanon);
    if (c == NULL) {
        return RC_ENOMEM;
    }
    rc = buf_reserve(store, total);
    if (rc != RC_OK) {
        dvv_destroy(c);
        return rc;
    }
    memcpy(c->entries, s->entries, s->nentries * sizeof(*s->entries));
    memcpy(c->vals, s->vals, s->nvals * sizeof(*s->vals));
    memcpy(c->anon, s->anon, s->nanon * sizeof(*s->anon));
    c->nentries = s->nentries;
    c->nvals = s->nvals;
    c->nanon = s->nanon;
    c->flags = s->flags;
    w = store->data == NULL ? NULL : store->data + store->len;
    for (i = 0; i < c->nvals; i++) {
        dvv_relocate_value(&c->vals[i], ranges, nranges, &w);
    }
    for (i = 0; i < c->nanon; i++) {
        dvv_relocate_value(&c->anon[i], ranges, nranges, &w);
    }
    store->len += total;
    dvv_check_set(c);
    *out = c;
    return RC_OK;
}

int
dvv_vector_put(const struct dvv_vector *v, void *out, size_t cap, size_t *n)
{
    unsigned char *p = out;
    size_t i;
    int rc;

    *n = 0;
    rc = dvv_vector_check(v, DVV_MAX_ENTRIES);
    if (rc != RC_OK) {
        return rc;
    }
    if (cap < DVV_VECTOR_SIZE(v->n)) {
        return RC_ETOOLARGE;
    }
    *p++ = DVV_VECTOR_MAGIC;
    *p++ = DVV_FORMAT_V1;
    *p++ = v->pruned ? DVV_F_PRUNED : 0;
    p = dvv_put_be(p, v->n, 2);
    for (i = 0; i < v->n; i++) {
        memcpy(p, v->entries[i].actor.id, DVV_ACTOR_SIZE);
        p = dvv_put_be(p + DVV_ACTOR_SIZE, v->entries[i].counter, 8);
    }
    *n = (size_t)(p - (unsigned char *)out);
    assert(*n == DVV_VECTOR_SIZE(v->n));
    return RC_OK;
}

int
dvv_vector_encode(const struct dvv_vector *v, struct buf *out)
{
    size_t n;
    int rc;

    rc = dvv_vector_check(v, DVV_MAX_ENTRIES);
    if (rc != RC_OK) {
        return rc;
    }
    rc = buf_reserve(out, DVV_VECTOR_SIZE(v->n));
    if (rc != RC_OK) {
        return rc;
    }
    rc = dvv_vector_put(v, out->data + out->len, DVV_VECTOR_SIZE(v->n), &n);
    if (rc == RC_OK) {
        out->len += n;
    }
    return rc;
}
