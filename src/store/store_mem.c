/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store_mem.c - the in-memory engine, for tests and for --engine memory.
 *
 * Two sorted arrays of item pointers (items and metadata), ordered like
 * Berkeley DB's default btree: bytewise, a prefix before its extensions.
 * Lookups are binary searches; inserts and removals shift pointers, which is
 * fine at test sizes. Each item is one allocation holding key and value.
 *
 * One rwlock guards both tables: readers (get, scan, meta_get, stats) share
 * it, writers take it exclusively. A scan calls its callback with the read
 * lock held; the callback may not call back into the store (store.h says so).
 * update runs its decide callback with the write lock held, which makes the
 * read-decide-write atomic. Every write is "durable" on return, so flush_log
 * is NULL and tickets are 0.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "store/engine.h"

struct mem_item {
    size_t nkey;
    size_t nval;
    char bytes[]; /* key, then value */
};

struct mem_table {
    struct mem_item **items; /* owned, sorted by key */
    size_t n;
    size_t cap;
};

struct mem_engine {
    pthread_rwlock_t lock;
    struct mem_table items;
    struct mem_table meta;
    uint64_t nputs; /* guarded by lock (write side) */
    uint64_t ndels;
};

static int
mem_key_cmp(const void *a, size_t na, const void *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);

    if (c != 0) {
        return c;
    }
    return na < nb ? -1 : na > nb;
}

/* Index of key if present (returns true) or of where it would go. */
static bool
mem_table_find(const struct mem_table *t, const void *key, size_t nkey, size_t *idx)
{
    size_t lo = 0, hi = t->n, mid;
    int c;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = mem_key_cmp(t->items[mid]->bytes, t->items[mid]->nkey, key, nkey);
        if (c == 0) {
            *idx = mid;
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *idx = lo;
    return false;
}

static int
mem_table_put(struct mem_table *t, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mem_item *it, **grown;
    size_t idx, cap;

    it = rc_malloc(sizeof(*it) + nkey + nval);
    if (it == NULL) {
        return RC_ENOMEM;
    }
    it->nkey = nkey;
    it->nval = nval;
    memcpy(it->bytes, key, nkey);
    if (nval > 0) {
        memcpy(it->bytes + nkey, val, nval);
    }
    if (mem_table_find(t, key, nkey, &idx)) {
        rc_free(t->items[idx]);
        t->items[idx] = it;
        return RC_OK;
    }
    if (t->n == t->cap) {
        cap = t->cap ? t->cap * 2 : 64;
        grown = rc_realloc(t->items, cap * sizeof(*grown));
        if (grown == NULL) {
            rc_free(it);
            return RC_ENOMEM;
        }
        t->items = grown;
        t->cap = cap;
    }
    memmove(&t->items[idx + 1], &t->items[idx], (t->n - idx) * sizeof(*t->items));
    t->items[idx] = it;
    t->n++;
    return RC_OK;
}

static int
mem_table_get(const struct mem_table *t, const void *key, size_t nkey, struct buf *val)
{
    const struct mem_item *it;
    size_t idx;

    buf_reset(val);
    if (!mem_table_find(t, key, nkey, &idx)) {
        return RC_ENOTFOUND;
    }
    it = t->items[idx];
    return buf_append(val, it->bytes + it->nkey, it->nval);
}

static void
mem_table_clear(struct mem_table *t)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        rc_free(t->items[i]);
    }
    t->n = 0;
}

static void
mem_close(void *self)
{
    struct mem_engine *me = self;

    if (me == NULL) {
        return;
    }
    mem_table_clear(&me->items);
    mem_table_clear(&me->meta);
    rc_free(me->items.items);
    rc_free(me->meta.items);
    pthread_rwlock_destroy(&me->lock);
    rc_free(me);
}

static int
mem_open(const struct store_config *cfg, void **self)
{
    struct mem_engine *me;

    (void)cfg;
    me = rc_calloc(1, sizeof(*me));
    if (me == NULL) {
        return RC_ENOMEM;
    }
    if (pthread_rwlock_init(&me->lock, NULL) != 0) {
        rc_free(me);
        return RC_ENOMEM;
    }
    *self = me;
    return RC_OK;
}

static int
mem_get(void *self, const void *key, size_t nkey, struct buf *val)
{
    struct mem_engine *me = self;
    int rc;

    pthread_rwlock_rdlock(&me->lock);
    rc = mem_table_get(&me->items, key, nkey, val);
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_put(void *self, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mem_engine *me = self;
    int rc;

    pthread_rwlock_wrlock(&me->lock);
    rc = mem_table_put(&me->items, key, nkey, val, nval);
    if (rc == RC_OK) {
        me->nputs++;
    }
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_insert(void *self, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mem_engine *me = self;
    size_t idx;
    int rc = RC_EEXISTS;

    pthread_rwlock_wrlock(&me->lock);
    if (!mem_table_find(&me->items, key, nkey, &idx)) {
        rc = mem_table_put(&me->items, key, nkey, val, nval);
        if (rc == RC_OK) {
            me->nputs++;
        }
    }
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_del(void *self, const void *key, size_t nkey)
{
    struct mem_engine *me = self;
    struct mem_table *t = &me->items;
    size_t idx;
    int rc = RC_ENOTFOUND;

    pthread_rwlock_wrlock(&me->lock);
    if (mem_table_find(t, key, nkey, &idx)) {
        rc_free(t->items[idx]);
        memmove(&t->items[idx], &t->items[idx + 1], (t->n - idx - 1) * sizeof(*t->items));
        t->n--;
        me->ndels++;
        rc = RC_OK;
    }
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

/* The whole read-decide-write runs under the write lock: no other writer
 * of any key can come between the read and the write. */
static int
mem_update(void *self, const void *key, size_t nkey, store_decide_fn decide, void *arg,
           struct store_update_out *out)
{
    struct mem_engine *me = self;
    struct mem_table *t = &me->items;
    const struct mem_item *it = NULL;
    size_t idx;
    bool found;
    int rc;

    pthread_rwlock_wrlock(&me->lock);
    found = mem_table_find(t, key, nkey, &idx);
    if (found) {
        it = t->items[idx];
    }
    *out = (struct store_update_out){.action = STORE_UPDATE_NONE};
    rc = decide(arg, found ? it->bytes + it->nkey : NULL, found ? it->nval : 0, out);
    if (rc == RC_OK) {
        rc = store_update_out_check(out);
    }
    if (rc != RC_OK) {
        goto out;
    }
    switch (out->action) {
    case STORE_UPDATE_PUT:
        /* mem_table_put copies the value before freeing the old item, so
         * out->val may even point into it. */
        rc = mem_table_put(t, key, nkey, out->nval > 0 ? out->val : "", out->nval);
        if (rc == RC_OK) {
            me->nputs++;
        }
        break;
    case STORE_UPDATE_DELETE:
        if (found) {
            rc_free(t->items[idx]);
            memmove(&t->items[idx], &t->items[idx + 1], (t->n - idx - 1) * sizeof(*t->items));
            t->n--;
            me->ndels++;
        }
        break;
    default:
        break;
    }
out:
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_scan(void *self, struct buf *cursor, size_t max, store_scan_fn fn, void *arg, bool *done)
{
    struct mem_engine *me = self;
    const struct mem_table *t = &me->items;
    const struct mem_item *it = NULL;
    size_t idx = 0, seen = 0;
    int rc = RC_OK;

    pthread_rwlock_rdlock(&me->lock);
    if (cursor->len > 0 && mem_table_find(t, cursor->data, cursor->len, &idx)) {
        idx++;
    }
    while (idx < t->n && (max == 0 || seen < max)) {
        it = t->items[idx++];
        seen++;
        rc = fn(arg, it->bytes, it->nkey, it->bytes + it->nkey, it->nval);
        if (rc != 0) {
            break;
        }
    }
    *done = rc == 0 && idx >= t->n;
    if (it != NULL) {
        buf_reset(cursor);
        if (buf_append(cursor, it->bytes, it->nkey) != RC_OK && rc == 0) {
            rc = RC_ENOMEM;
        }
    }
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_truncate(void *self)
{
    struct mem_engine *me = self;

    pthread_rwlock_wrlock(&me->lock);
    mem_table_clear(&me->items);
    pthread_rwlock_unlock(&me->lock);
    return RC_OK;
}

static int
mem_meta_get(void *self, const char *name, struct buf *val)
{
    struct mem_engine *me = self;
    int rc;

    pthread_rwlock_rdlock(&me->lock);
    rc = mem_table_get(&me->meta, name, strlen(name), val);
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_meta_put(void *self, const char *name, const void *val, size_t nval)
{
    struct mem_engine *me = self;
    int rc;

    pthread_rwlock_wrlock(&me->lock);
    rc = mem_table_put(&me->meta, name, strlen(name), val, nval);
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static void
mem_stats(void *self, store_stat_fn emit, void *arg)
{
    struct mem_engine *me = self;
    uint64_t n, puts, dels;

    pthread_rwlock_rdlock(&me->lock);
    n = me->items.n;
    puts = me->nputs;
    dels = me->ndels;
    pthread_rwlock_unlock(&me->lock);
    store_emit_u64(emit, arg, "items", n);
    store_emit_u64(emit, arg, "commits", puts + dels);
}

const struct engine_ops store_engine_mem = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .insert = mem_insert,
    .update = mem_update,
    .scan = mem_scan,
    .truncate = mem_truncate,
    .meta_get = mem_meta_get,
    .meta_put = mem_meta_put,
    .flush_log = NULL,
    .stats = mem_stats,
};
