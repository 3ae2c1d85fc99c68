/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cache.c - see cache.h. Each shard is a chained hash table (power-of-two
 * buckets, doubled when the load passes 1) threaded on a CLOCK list (LRU by
 * second chance): a hit only sets the entry's reference bit, touching no
 * other entry, and eviction at the tail moves referenced entries back to
 * the head once instead of evicting them. An entry is one allocation
 * holding key and value.
 *
 *   hash(key) --high bits--> shard (lock, gen, LRU, bytes)
 *             --low bits---> bucket chain
 *
 * Invariants (per shard, under its lock): every entry is in exactly one
 * bucket chain and in the LRU list; bytes_used is the sum of entry costs
 * and stays <= limit after every insert; gen grows on every write.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/status.h"
#include "store/cache.h"

#define CACHE_SHARDS      64
#define CACHE_MIN_BUCKETS 64

struct cache_entry {
    struct cache_entry *hnext;       /* bucket chain */
    struct cache_entry *prev, *next; /* CLOCK list: new and spared at the head */
    uint64_t hash;
    uint32_t nkey, nval;
    uint8_t referenced; /* hit since it last reached the tail */
    char data[];        /* key, then value */
};

/* Bucket arrays a shard outgrew. cache_prefetch reads bucket slots without
 * the lock, so an array is freed only with the cache; each growth doubles,
 * so the retired ones together are smaller than the live one. */
#define CACHE_MAX_RETIRED 48

/* Cache lines cache_prefetch loads from an entry. */
#define CACHE_PREFETCH_LINES 5

struct cache_shard {
    pthread_mutex_t lock;
    struct cache_entry **buckets; /* owned; published with release stores */
    size_t nbuckets, items;
    struct cache_entry **retired[CACHE_MAX_RETIRED];
    unsigned nretired;
    struct cache_entry *head, *tail; /* LRU */
    uint64_t bytes_used, limit, gen;
    uint64_t hits, misses, evictions;
    /* The slot cache_peek_locked found, valid until the shard lock is
     * released (nothing changes the shard meanwhile): cache_write_end
     * reuses it instead of searching again. NULL when unset. */
    struct cache_entry **peek_slot;
};

struct cache {
    uint64_t limit;
    struct cache_shard shards[CACHE_SHARDS];
};

static size_t
cache_cost(size_t nkey, size_t nval)
{
    return sizeof(struct cache_entry) + nkey + nval;
}

static struct cache_shard *
cache_shard(struct cache *c, uint64_t h)
{
    return &c->shards[(h >> 58) % CACHE_SHARDS];
}

int
cache_create(uint64_t bytes, struct cache **out)
{
    struct cache *c;

    *out = NULL;
    if (bytes == 0) {
        return RC_OK;
    }
    c = rc_calloc(1, sizeof(*c));
    if (c == NULL) {
        return RC_ENOMEM;
    }
    c->limit = bytes;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        struct cache_shard *s = &c->shards[i];

        pthread_mutex_init(&s->lock, NULL);
        s->limit = bytes / CACHE_SHARDS;
        s->nbuckets = CACHE_MIN_BUCKETS;
        s->buckets = rc_calloc(s->nbuckets, sizeof(*s->buckets));
        if (s->buckets == NULL) {
            cache_destroy(c);
            return RC_ENOMEM;
        }
    }
    *out = c;
    return RC_OK;
}

/* ------------------------------------------------------------ shard internals */

static struct cache_entry **
cache_find_slot(struct cache_shard *s, uint64_t h, const void *key, size_t nkey)
{
    struct cache_entry **pp = &s->buckets[h & (s->nbuckets - 1)];

    for (; *pp != NULL; pp = &(*pp)->hnext) {
        struct cache_entry *e = *pp;

        if (e->hash == h && e->nkey == nkey && memcmp(e->data, key, nkey) == 0) {
            return pp;
        }
    }
    return pp;
}

static void
cache_lru_unlink(struct cache_shard *s, struct cache_entry *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        s->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        s->tail = e->prev;
    }
}

static void
cache_lru_push(struct cache_shard *s, struct cache_entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head != NULL) {
        s->head->prev = e;
    }
    s->head = e;
    if (s->tail == NULL) {
        s->tail = e;
    }
}

/* Every store into a bucket slot or a chain link: relaxed atomic, because
 * cache_prefetch reads bucket slots without the lock (a plain store on
 * every platform we build for). */
static void
cache_slot_set(struct cache_entry **pp, struct cache_entry *e)
{
    __atomic_store_n(pp, e, __ATOMIC_RELAXED);
}

/* Unlink *pp from its chain and the LRU, and free it. */
static void
cache_drop(struct cache_shard *s, struct cache_entry **pp)
{
    struct cache_entry *e = *pp;

    cache_slot_set(pp, e->hnext);
    cache_lru_unlink(s, e);
    s->bytes_used -= cache_cost(e->nkey, e->nval);
    s->items--;
    rc_free(e);
}

static void
cache_remove(struct cache_shard *s, uint64_t h, const void *key, size_t nkey)
{
    struct cache_entry **pp = cache_find_slot(s, h, key, nkey);

    if (*pp != NULL) {
        cache_drop(s, pp);
    }
}

static void
cache_grow(struct cache_shard *s)
{
    size_t n = s->nbuckets * 2;
    struct cache_entry **b;

    if (s->nretired == CACHE_MAX_RETIRED) {
        return; /* 2^54 buckets: unreachable */
    }
    b = rc_calloc(n, sizeof(*b));
    if (b == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct cache_entry *e = s->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    /* The array before the count: a reader that sees the new count sees
     * the new array (acquire); one that sees the old count indexes within
     * either array. The old array stays readable until cache_destroy. */
    s->retired[s->nretired++] = s->buckets;
    __atomic_store_n(&s->buckets, b, __ATOMIC_RELEASE);
    __atomic_store_n(&s->nbuckets, n, __ATOMIC_RELEASE);
}

static void
cache_evict(struct cache_shard *s)
{
    /* Each entry is spared at most once per call: bounded by items. */
    size_t spared = 0;

    while (s->bytes_used > s->limit && s->tail != NULL) {
        struct cache_entry *e = s->tail;

        if (e->referenced && spared < s->items) {
            e->referenced = 0;
            cache_lru_unlink(s, e);
            cache_lru_push(s, e);
            spared++;
            continue;
        }
        cache_drop(s, cache_find_slot(s, e->hash, e->data, e->nkey));
        s->evictions++;
    }
}

/* A new entry holding key and val, not yet linked; NULL when the value is
 * too large to cache or memory is short (not caching is always correct). */
static struct cache_entry *
cache_entry_new(const struct cache_shard *s, uint64_t h, const void *key, size_t nkey,
                const void *val, size_t nval)
{
    size_t cost = cache_cost(nkey, nval);
    struct cache_entry *e;

    if (cost > s->limit / 8 || nval > UINT32_MAX || (e = rc_malloc(cost)) == NULL) {
        return NULL;
    }
    e->hash = h;
    e->referenced = 0;
    e->nkey = (uint32_t)nkey;
    e->nval = (uint32_t)nval;
    memcpy(e->data, key, nkey);
    if (nval > 0) {
        memcpy(e->data + nkey, val, nval);
    }
    return e;
}

/* Link a new entry (its key must not be present), then evict to the bound. */
static void
cache_link(struct cache_shard *s, struct cache_entry *e)
{
    uint64_t h = e->hash;

    e->hnext = s->buckets[h & (s->nbuckets - 1)];
    cache_slot_set(&s->buckets[h & (s->nbuckets - 1)], e);
    cache_lru_push(s, e);
    s->bytes_used += cache_cost(e->nkey, e->nval);
    s->items++;
    if (s->items > s->nbuckets) {
        cache_grow(s);
    }
    cache_evict(s);
}

/* Insert (the key must not be present). Too-large values are not cached. */
static void
cache_insert(struct cache_shard *s, uint64_t h, const void *key, size_t nkey, const void *val,
             size_t nval)
{
    struct cache_entry *e = cache_entry_new(s, h, key, nkey, val, nval);

    if (e != NULL) {
        cache_link(s, e);
    }
}

/* ------------------------------------------------------------ API */

/* No lock: the count, then the array (see cache_grow), then the slot, all
 * atomic loads of memory that stays allocated; the entry a slot names may
 * be freed meanwhile, which a prefetch (it never faults) does not mind.
 * Two passes: every slot first, then every entry, so the loads of the
 * batch overlap instead of each entry waiting for its slot. */
void
cache_prefetch(struct cache *c, const struct store_key *keys, size_t nkeys)
{
    struct cache_entry **slot[CACHE_PREFETCH_MAX];

    if (c == NULL) {
        return;
    }
    nkeys = nkeys < CACHE_PREFETCH_MAX ? nkeys : CACHE_PREFETCH_MAX;
    for (size_t i = 0; i < nkeys; i++) {
        uint64_t h = hash_key64(keys[i].key, keys[i].nkey);
        struct cache_shard *s = cache_shard(c, h);
        size_t n = __atomic_load_n(&s->nbuckets, __ATOMIC_ACQUIRE);
        struct cache_entry **b = __atomic_load_n(&s->buckets, __ATOMIC_ACQUIRE);

        slot[i] = &b[h & (n - 1)];
        __builtin_prefetch(slot[i]);
    }
    for (size_t i = 0; i < nkeys; i++) {
        struct cache_entry *e = __atomic_load_n(slot[i], __ATOMIC_RELAXED);

        if (e == NULL) {
            continue;
        }
        /* The header, the key and the first CACHE_PREFETCH_LINES - 1 lines
         * of the value (a typical small item whole); its size is in the
         * line being fetched, so this cannot be exact without waiting. */
        for (int l = 0; l < CACHE_PREFETCH_LINES; l++) {
            __builtin_prefetch((const char *)e + 64 * l);
        }
    }
}

int
cache_get(struct cache *c, const void *key, size_t nkey, struct buf *val, uint64_t *gen)
{
    return cache_get_touch(c, key, nkey, val, gen, NULL, NULL, NULL);
}

int
cache_get_touch(struct cache *c, const void *key, size_t nkey, struct buf *val, uint64_t *gen,
                bool (*touch)(void *arg, void *bytes, size_t n), void *arg, bool *touched)
{
    uint64_t h;
    struct cache_shard *s;
    struct cache_entry *e;
    int rc = RC_ENOTFOUND;

    *gen = 0;
    if (touched != NULL) {
        *touched = false;
    }
    if (c == NULL) {
        return RC_ENOTFOUND;
    }
    h = hash_key64(key, nkey);
    s = cache_shard(c, h);
    pthread_mutex_lock(&s->lock);
    e = *cache_find_slot(s, h, key, nkey);
    if (e != NULL) {
        buf_reset(val);
        rc = buf_append(val, e->data + e->nkey, e->nval);
        if (rc == RC_OK) {
            e->referenced = 1;
            s->hits++;
            if (touch != NULL && touch(arg, e->data + e->nkey, e->nval) && touched != NULL) {
                *touched = true;
            }
        }
    } else {
        s->misses++;
        *gen = s->gen;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void
cache_fill(struct cache *c, const void *key, size_t nkey, const void *val, size_t nval,
           uint64_t gen)
{
    uint64_t h;
    struct cache_shard *s;

    if (c == NULL) {
        return;
    }
    h = hash_key64(key, nkey);
    s = cache_shard(c, h);
    pthread_mutex_lock(&s->lock);
    /* An unchanged generation means no write since the engine read, so the
     * value is current; a present entry is then equal to it already. */
    if (s->gen == gen && *cache_find_slot(s, h, key, nkey) == NULL) {
        cache_insert(s, h, key, nkey, val, nval);
    }
    pthread_mutex_unlock(&s->lock);
}

void
cache_write_begin(struct cache *c, const void *key, size_t nkey)
{
    if (c != NULL) {
        pthread_mutex_lock(&cache_shard(c, hash_key64(key, nkey))->lock);
    }
}

void
cache_write_end(struct cache *c, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct cache_entry *e = NULL;
    struct cache_shard *s;
    uint64_t h;

    if (c == NULL) {
        return;
    }
    h = hash_key64(key, nkey);
    s = cache_shard(c, h);
    s->gen++;
    if (val != NULL && s->peek_slot != NULL && *s->peek_slot != NULL) {
        struct cache_entry *old = *s->peek_slot;

        if (old->hash == h && old->nkey == nkey && old->nval == nval &&
            memcmp(old->data, key, nkey) == 0) {
            /* An overwrite of the same size (the common case): replace the
             * bytes in place, no allocation, no second search. val may
             * point into this very entry: memmove. */
            memmove(old->data + nkey, val, nval);
            s->peek_slot = NULL;
            pthread_mutex_unlock(&s->lock);
            return;
        }
    }
    s->peek_slot = NULL;
    /* Copy the new value before dropping the old entry: val may point into
     * it (cache_peek_locked handed it out). */
    if (val != NULL) {
        e = cache_entry_new(s, h, key, nkey, val, nval);
    }
    cache_remove(s, h, key, nkey);
    if (e != NULL) {
        cache_link(s, e);
    }
    pthread_mutex_unlock(&s->lock);
}

int
cache_peek_locked(struct cache *c, const void *key, size_t nkey, const void **val, size_t *nval)
{
    struct cache_shard *s;
    struct cache_entry *e;
    uint64_t h;

    if (c == NULL) {
        return RC_ENOTFOUND;
    }
    h = hash_key64(key, nkey);
    s = cache_shard(c, h);
    s->peek_slot = cache_find_slot(s, h, key, nkey);
    e = *s->peek_slot;
    if (e == NULL) {
        s->peek_slot = NULL;
        return RC_ENOTFOUND;
    }
    e->referenced = 1;
    *val = e->data + e->nkey;
    *nval = e->nval;
    return RC_OK;
}

void
cache_write_cancel(struct cache *c, const void *key, size_t nkey)
{
    if (c != NULL) {
        struct cache_shard *s = cache_shard(c, hash_key64(key, nkey));

        s->peek_slot = NULL;
        pthread_mutex_unlock(&s->lock);
    }
}

static void
cache_shard_clear(struct cache_shard *s)
{
    while (s->head != NULL) {
        struct cache_entry *e = s->head;

        cache_drop(s, cache_find_slot(s, e->hash, e->data, e->nkey));
    }
    s->peek_slot = NULL;
    s->gen++;
}

void
cache_clear(struct cache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < CACHE_SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        cache_shard_clear(&c->shards[i]);
        pthread_mutex_unlock(&c->shards[i].lock);
    }
}

void
cache_clear_begin(struct cache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < CACHE_SHARDS; i++) { /* index order: see cache.h */
        pthread_mutex_lock(&c->shards[i].lock);
    }
}

void
cache_clear_end(struct cache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = CACHE_SHARDS - 1; i >= 0; i--) {
        cache_shard_clear(&c->shards[i]);
        pthread_mutex_unlock(&c->shards[i].lock);
    }
}

void
cache_destroy(struct cache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < CACHE_SHARDS; i++) {
        if (c->shards[i].buckets != NULL) {
            cache_shard_clear(&c->shards[i]);
            rc_free(c->shards[i].buckets);
        }
        for (unsigned r = 0; r < c->shards[i].nretired; r++) {
            rc_free(c->shards[i].retired[r]);
        }
        pthread_mutex_destroy(&c->shards[i].lock);
    }
    rc_free(c);
}

void
cache_get_stats(struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        return;
    }
    out->bytes_limit = c->limit;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        struct cache_shard *s = &c->shards[i];

        pthread_mutex_lock(&s->lock);
        out->bytes_used += s->bytes_used;
        out->items += s->items;
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}
