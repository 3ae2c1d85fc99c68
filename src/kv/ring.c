/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ring.c - Q fixed partitions, the capacity-bounded rendezvous claim,
 * preference lists, sloppy-quorum targets and the ring hash (see ring.h).
 *
 * The claim is the greedy matching over all (node, partition) pairs in
 * descending score order; it is computed lazily with a max-heap of
 * partitions, each keyed by its best-scoring node that still has capacity.
 * Popping the top partition: if that node still has capacity, the pair is
 * the next one the global greedy would take, so it is assigned; otherwise
 * (the node filled up since the key was computed) the partition is re-keyed
 * with its best node that has capacity now and pushed back. Capacities only
 * ever shrink, so this takes exactly the pairs the global order would,
 * in O(Q) memory instead of O(Q * nodes).
 */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "base/hash.h"
#include "base/status.h"
#include "kv/ring.h"

#define RING_TAG  "ringcached-ring-v1"
#define RING_GOLD 0x9e3779b97f4a7c15ULL
#define RING_SALT 0x72696e67636c6169ULL /* "ringclai" */
#define RING_NONE UINT16_MAX

_Static_assert(RING_MAX_NODES < RING_NONE, "node indices fit in uint16_t");
_Static_assert(RING_MAX_Q - 1 <= UINT32_MAX, "partitions fit in uint32_t");

struct ring {
    uint32_t q;
    unsigned qbits;       /* log2(q) */
    unsigned n;           /* effective replicas */
    unsigned n_requested; /* as given */
    size_t k;             /* nodes */
    char **names;         /* k NUL-terminated copies, sorted */
    size_t *name_len;
    uint32_t *counts; /* partitions per node */
    uint16_t *owner;  /* q entries */
    uint16_t *pref;   /* q * n entries: preference lists */
    uint64_t hash;
};

/* ------------------------------------------------------------ helpers */

/* MurmurHash3's 64-bit finaliser, as in base/hash.c. */
static uint64_t
ring_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t
ring_pseed(uint32_t p)
{
    return ring_mix((uint64_t)p * RING_GOLD + RING_SALT);
}

static int
ring_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

struct ring_sort_name {
    const char *s;
    size_t len;
};

static int
ring_sort_cmp(const void *a, const void *b)
{
    const struct ring_sort_name *x = a, *y = b;

    return ring_name_cmp(x->s, x->len, y->s, y->len);
}

static bool
ring_name_ok(const char *s, size_t *len)
{
    size_t i;

    if (s == NULL) {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= RING_NAME_MAX || (unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return false;
        }
    }
    *len = i;
    return i > 0;
}

/* ------------------------------------------------------------ the claim */

struct ring_heap_item {
    uint64_t score;
    uint32_t p;
    uint16_t node;
};

/* a before b: higher score, then lower partition. */
static bool
ring_heap_before(const struct ring_heap_item *a, const struct ring_heap_item *b)
{
    if (a->score != b->score) {
        return a->score > b->score;
    }
    return a->p < b->p;
}

static void
ring_heap_down(struct ring_heap_item *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        struct ring_heap_item t;

        if (l < n && ring_heap_before(&h[l], &h[m])) {
            m = l;
        }
        if (r < n && ring_heap_before(&h[r], &h[m])) {
            m = r;
        }
        if (m == i) {
            return;
        }
        t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

struct ring_claim {
    const uint64_t *nseed; /* per node */
    size_t k;
    uint32_t *counts;
    uint32_t base;   /* floor(Q/k) */
    uint32_t extra;  /* nodes that may own base + 1 */
    uint32_t nextra; /* nodes that reached base + 1 */
};

static bool
ring_has_room(const struct ring_claim *c, size_t node)
{
    return c->counts[node] < c->base || (c->counts[node] == c->base && c->nextra < c->extra);
}

/* Best node with room for partition p: highest score, then lower index. */
static void
ring_best(const struct ring_claim *c, uint32_t p, struct ring_heap_item *it)
{
    uint64_t ps = ring_pseed(p);
    bool found = false;
    size_t i;

    it->p = p;
    it->score = 0;
    it->node = 0;
    for (i = 0; i < c->k; i++) {
        uint64_t s;

        if (!ring_has_room(c, i)) {
            continue;
        }
        s = ring_mix(c->nseed[i] ^ ps);
        if (!found || s > it->score) {
            it->score = s;
            it->node = (uint16_t)i;
            found = true;
        }
    }
    assert(found); /* total capacity == Q: an unowned partition has room */
}

static int
ring_claim(struct ring *r)
{
    struct ring_claim c;
    struct ring_heap_item *heap;
    uint64_t *nseed;
    size_t hn = r->q, i;

    heap = rc_malloc(r->q * sizeof(*heap));
    nseed = rc_malloc(r->k * sizeof(*nseed));
    if (heap == NULL || nseed == NULL) {
        rc_free(heap);
        rc_free(nseed);
        return RC_ENOMEM;
    }
    for (i = 0; i < r->k; i++) {
        nseed[i] = hash_key64(r->names[i], r->name_len[i]);
    }
    c.nseed = nseed;
    c.k = r->k;
    c.counts = r->counts;
    c.base = (uint32_t)(r->q / r->k);
    c.extra = (uint32_t)(r->q % r->k);
    c.nextra = 0;
    for (i = 0; i < r->q; i++) {
        ring_best(&c, (uint32_t)i, &heap[i]);
    }
    for (i = hn / 2; i-- > 0;) {
        ring_heap_down(heap, hn, i);
    }
    while (hn > 0) {
        struct ring_heap_item *top = &heap[0];

        if (ring_has_room(&c, top->node)) {
            r->owner[top->p] = top->node;
            if (++c.counts[top->node] == c.base + 1) {
                c.nextra++;
            }
            heap[0] = heap[--hn];
        } else {
            ring_best(&c, top->p, top);
        }
        ring_heap_down(heap, hn, 0);
    }
    rc_free(heap);
    rc_free(nseed);
    return RC_OK;
}

/* Preference lists: from each partition, the first n distinct owners. */
static int
ring_build_prefs(struct ring *r)
{
    uint32_t *seen = rc_calloc(r->k, sizeof(*seen)); /* stamp: p + 1 */
    uint32_t p, j;

    if (seen == NULL) {
        return RC_ENOMEM;
    }
    for (p = 0; p < r->q; p++) {
        uint16_t *out = &r->pref[(size_t)p * r->n];
        unsigned got = 0;

        for (j = 0; j < r->q && got < r->n; j++) {
            uint16_t o = r->owner[(p + j) & (r->q - 1)];

            if (seen[o] != p + 1) {
                seen[o] = p + 1;
                out[got++] = o;
            }
        }
        assert(got == r->n); /* every node owns a partition, n <= k */
    }
    rc_free(seen);
    return RC_OK;
}

static int
ring_compute_hash(struct ring *r)
{
    size_t len = sizeof(RING_TAG) - 1 + 12 + 2 * (size_t)r->q, i, w;
    unsigned char *b;

    for (i = 0; i < r->k; i++) {
        len += 2 + r->name_len[i];
    }
    b = rc_malloc(len);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    memcpy(b, RING_TAG, sizeof(RING_TAG) - 1);
    w = sizeof(RING_TAG) - 1;
    be_put32(b + w, r->q);
    be_put32(b + w + 4, r->n_requested);
    be_put32(b + w + 8, (uint32_t)r->k);
    w += 12;
    for (i = 0; i < r->k; i++) {
        be_put16(b + w, (uint16_t)r->name_len[i]);
        memcpy(b + w + 2, r->names[i], r->name_len[i]);
        w += 2 + r->name_len[i];
    }
    for (i = 0; i < r->q; i++) {
        be_put16(b + w, r->owner[i]);
        w += 2;
    }
    assert(w == len);
    r->hash = hash_key64(b, len);
    rc_free(b);
    return RC_OK;
}

/* ------------------------------------------------------------ public */

int
ring_create(uint32_t q, unsigned n, const char *const *names, size_t nnames, struct ring **out)
{
    struct ring_sort_name *sorted = NULL;
    struct ring *r = NULL;
    size_t i;
    int rc = RC_ENOMEM;

    if (out == NULL) {
        return RC_EINVAL;
    }
    *out = NULL;
    if (q == 0 || q > RING_MAX_Q || (q & (q - 1)) != 0 || n == 0 || n > RING_MAX_N ||
        names == NULL || nnames == 0 || nnames > RING_MAX_NODES || nnames > q) {
        return RC_EINVAL;
    }
    sorted = rc_malloc(nnames * sizeof(*sorted));
    if (sorted == NULL) {
        return RC_ENOMEM;
    }
    for (i = 0; i < nnames; i++) {
        sorted[i].s = names[i];
        if (!ring_name_ok(names[i], &sorted[i].len)) {
            rc_free(sorted);
            return RC_EINVAL;
        }
    }
    qsort(sorted, nnames, sizeof(*sorted), ring_sort_cmp);
    for (i = 1; i < nnames; i++) {
        if (ring_sort_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            rc_free(sorted);
            return RC_EINVAL;
        }
    }

    r = rc_calloc(1, sizeof(*r));
    if (r == NULL) {
        goto fail;
    }
    r->q = q;
    while ((1u << r->qbits) < q) {
        r->qbits++;
    }
    r->k = nnames;
    r->n_requested = n;
    r->n = n < nnames ? n : (unsigned)nnames;
    r->names = rc_calloc(nnames, sizeof(*r->names));
    r->name_len = rc_calloc(nnames, sizeof(*r->name_len));
    r->counts = rc_calloc(nnames, sizeof(*r->counts));
    r->owner = rc_malloc(q * sizeof(*r->owner));
    r->pref = rc_malloc((size_t)q * r->n * sizeof(*r->pref));
    if (r->names == NULL || r->name_len == NULL || r->counts == NULL || r->owner == NULL ||
        r->pref == NULL) {
        goto fail;
    }
    for (i = 0; i < nnames; i++) {
        r->names[i] = rc_strndup(sorted[i].s, sorted[i].len);
        if (r->names[i] == NULL) {
            goto fail;
        }
        r->name_len[i] = sorted[i].len;
    }
    rc_free(sorted);
    sorted = NULL;
    if ((rc = ring_claim(r)) != RC_OK || (rc = ring_build_prefs(r)) != RC_OK ||
        (rc = ring_compute_hash(r)) != RC_OK) {
        goto fail;
    }
    *out = r;
    return RC_OK;

fail:
    rc_free(sorted);
    ring_destroy(r);
    return rc;
}

void
ring_destroy(struct ring *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    if (r->names != NULL) {
        for (i = 0; i < r->k; i++) {
            rc_free(r->names[i]);
        }
    }
    rc_free(r->names);
    rc_free(r->name_len);
    rc_free(r->counts);
    rc_free(r->owner);
    rc_free(r->pref);
    rc_free(r);
}

uint32_t
ring_q(const struct ring *r)
{
    return r->q;
}

unsigned
ring_n(const struct ring *r)
{
    return r->n;
}

unsigned
ring_n_requested(const struct ring *r)
{
    return r->n_requested;
}

size_t
ring_nodes(const struct ring *r)
{
    return r->k;
}

const char *
ring_node_name(const struct ring *r, size_t i)
{
    assert(i < r->k);
    return r->names[i];
}

int
ring_node_index(const struct ring *r, const char *name, size_t len, size_t *idx)
{
    size_t lo = 0, hi = r->k;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ring_name_cmp(r->names[mid], r->name_len[mid], name, len);

        if (c == 0) {
            *idx = mid;
            return RC_OK;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return RC_ENOTFOUND;
}

uint32_t
ring_node_partitions(const struct ring *r, size_t i)
{
    assert(i < r->k);
    return r->counts[i];
}

uint32_t
ring_key_partition(uint32_t q, const void *key, size_t nkey)
{
    unsigned bits = 0;

    assert(q > 0 && (q & (q - 1)) == 0);
    while ((1u << bits) < q) {
        bits++;
    }
    if (bits == 0) {
        return 0;
    }
    return (uint32_t)(hash_key64(key, nkey) >> (64 - bits));
}

uint32_t
ring_partition(const struct ring *r, const void *key, size_t nkey)
{
    if (r->qbits == 0) {
        return 0;
    }
    return (uint32_t)(hash_key64(key, nkey) >> (64 - r->qbits));
}

unsigned
ring_owner(const struct ring *r, uint32_t p)
{
    assert(p < r->q);
    return r->owner[p];
}

int
ring_preflist(const struct ring *r, uint32_t p, unsigned *out, size_t cap, size_t *n)
{
    const uint16_t *pl;
    unsigned i;

    if (p >= r->q || cap < r->n) {
        return RC_EINVAL;
    }
    pl = &r->pref[(size_t)p * r->n];
    for (i = 0; i < r->n; i++) {
        out[i] = pl[i];
    }
    *n = r->n;
    return RC_OK;
}

int
ring_sloppy(const struct ring *r, uint32_t p, const bool *healthy, struct ring_target *out,
            size_t cap, size_t *n)
{
    bool chosen[RING_MAX_NODES];
    const uint16_t *pl;
    uint32_t step = 0;
    size_t got = 0;
    unsigned i;

    if (p >= r->q || cap < r->n || healthy == NULL) {
        return RC_EINVAL;
    }
    pl = &r->pref[(size_t)p * r->n];
    memset(chosen, 0, r->k * sizeof(chosen[0]));
    for (i = 0; i < r->n; i++) {
        chosen[pl[i]] = true; /* members are never fallbacks */
    }
    for (i = 0; i < r->n; i++) {
        unsigned member = pl[i];

        if (healthy[member]) {
            out[got].node = member;
            out[got].owner = member;
            out[got].fallback = false;
            got++;
            continue;
        }
        /* the next healthy node further along the ring, not yet chosen;
         * the walk resumes where the previous fallback was found */
        for (; step < r->q; step++) {
            unsigned o = r->owner[(p + step) & (r->q - 1)];

            if (!chosen[o] && healthy[o]) {
                chosen[o] = true;
                out[got].node = o;
                out[got].owner = member;
                out[got].fallback = true;
                got++;
                break;
            }
        }
    }
    *n = got;
    return RC_OK;
}

uint64_t
ring_hash(const struct ring *r)
{
    return r->hash;
}

void
ring_hash_str(const struct ring *r, char out[RING_HASH_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned i;

    for (i = 0; i < 16; i++) {
        out[i] = hex[(r->hash >> (60 - 4 * i)) & 0xf];
    }
    out[16] = '\0';
}

int
ring_diff(const struct ring *a, const struct ring *b, size_t *owners_moved, size_t *replicas_moved)
{
    long map[RING_MAX_NODES]; /* b's index -> a's, or -1 */
    size_t i, om = 0, rm = 0;
    uint32_t p;

    if (a->q != b->q) {
        return RC_EINVAL;
    }
    for (i = 0; i < b->k; i++) {
        size_t idx;

        map[i] = ring_node_index(a, b->names[i], b->name_len[i], &idx) == RC_OK ? (long)idx : -1;
    }
    for (p = 0; p < a->q; p++) {
        const uint16_t *pa = &a->pref[(size_t)p * a->n];
        const uint16_t *pb = &b->pref[(size_t)p * b->n];
        unsigned x, y;

        if (map[b->owner[p]] != (long)a->owner[p]) {
            om++;
        }
        for (x = 0; x < b->n; x++) {
            bool had = false;

            for (y = 0; y < a->n && !had; y++) {
                had = map[pb[x]] == (long)pa[y];
            }
            rm += !had;
        }
    }
    if (owners_moved != NULL) {
        *owners_moved = om;
    }
    if (replicas_moved != NULL) {
        *replicas_moved = rm;
    }
    return RC_OK;
}
