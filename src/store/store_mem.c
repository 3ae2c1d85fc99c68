/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store_mem.c - the in-memory engine, for tests and for --engine memory.
 *
 * Two sorted arrays of item pointers (items and metadata), ordered like
 * Berkeley DB's default btree: bytewise, a prefix before its extensions.
 * Lookups are binary searches; inserts and removals shift pointers, which is
 * fine at test sizes. Each item is one allocation holding key and value.
 * The hint store's tables (engine.h) are more of the same arrays, one per
 * target, with transactions that hold the write lock and undo on abort.
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

/* One hint table per target node (engine.h): created on first open, kept
 * until the engine closes. */
struct mem_hint_db {
    uint8_t id[STORE_NODE_ID_SIZE];
    struct mem_table t;
};

struct mem_engine {
    pthread_rwlock_t lock;
    struct mem_table items;
    struct mem_table meta;
    struct mem_hint_db **hints; /* owned */
    size_t nhints, caphints;
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

/* Install it (NULL: remove) under key; *old gets the item displaced,
 * detached (NULL if none). RC_ENOMEM only when an insert cannot grow the
 * array; nothing changes then. */
static int
mem_table_swap(struct mem_table *t, const void *key, size_t nkey, struct mem_item *it,
               struct mem_item **old)
{
    struct mem_item **grown;
    size_t idx, cap;

    *old = NULL;
    if (mem_table_find(t, key, nkey, &idx)) {
        *old = t->items[idx];
        if (it != NULL) {
            t->items[idx] = it;
        } else {
            memmove(&t->items[idx], &t->items[idx + 1], (t->n - idx - 1) * sizeof(*t->items));
            t->n--;
        }
        return RC_OK;
    }
    if (it == NULL) {
        return RC_OK;
    }
    if (t->n == t->cap) {
        cap = t->cap ? t->cap * 2 : 64;
        grown = rc_realloc(t->items, cap * sizeof(*grown));
        if (grown == NULL) {
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

/* A new item holding key and val; NULL when out of memory. */
static struct mem_item *
mem_item_new(const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mem_item *it = rc_malloc(sizeof(*it) + nkey + nval);

    if (it != NULL) {
        it->nkey = nkey;
        it->nval = nval;
        memcpy(it->bytes, key, nkey);
        if (nval > 0) {
            memcpy(it->bytes + nkey, val, nval);
        }
    }
    return it;
}

static int
mem_table_put(struct mem_table *t, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mem_item *it = mem_item_new(key, nkey, val, nval), *old;

    if (it == NULL) {
        return RC_ENOMEM;
    }
    if (mem_table_swap(t, key, nkey, it, &old) != RC_OK) {
        rc_free(it);
        return RC_ENOMEM;
    }
    rc_free(old);
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
    for (size_t i = 0; i < me->nhints; i++) {
        mem_table_clear(&me->hints[i]->t);
        rc_free(me->hints[i]->t.items);
        rc_free(me->hints[i]);
    }
    rc_free(me->hints);
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

/* Caller holds the read lock. */
static int
mem_table_scan(const struct mem_table *t, struct buf *cursor, size_t max, store_scan_fn fn,
               void *arg, bool *done)
{
    const struct mem_item *it = NULL;
    size_t idx = 0, seen = 0;
    int rc = RC_OK;

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
    return rc;
}

static int
mem_scan(void *self, struct buf *cursor, size_t max, store_scan_fn fn, void *arg, bool *done)
{
    struct mem_engine *me = self;
    int rc;

    pthread_rwlock_rdlock(&me->lock);
    rc = mem_table_scan(&me->items, cursor, max, fn, arg, done);
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

/* ------------------------------------------------------------ hint tables */

/* A transaction holds the write lock for its whole body (so it is
 * serialisable) and logs every change it makes: the item it displaced (or
 * NULL) under a copy of the key. Abort puts them back newest first; that
 * never allocates, because each step restores a table size that existed
 * before, within the capacity the array already has. */
struct mem_undo {
    void *key; /* owned copy */
    size_t nkey;
    struct mem_item *old; /* owned; NULL: the key was absent */
};

struct mem_hint_tx {
    struct mem_hint_db *db;
    struct mem_undo *undo; /* owned */
    size_t n, cap;
};

/* Apply a write inside tx: it (NULL: delete) replaces key, logged. */
static int
mem_hint_apply(struct mem_hint_tx *tx, const void *key, size_t nkey, struct mem_item *it)
{
    struct mem_undo *u, *grown;
    struct mem_item *old;
    size_t cap;
    int rc;

    if (tx->n == tx->cap) {
        cap = tx->cap ? tx->cap * 2 : 8;
        grown = rc_realloc(tx->undo, cap * sizeof(*grown));
        if (grown == NULL) {
            rc_free(it);
            return RC_ENOMEM;
        }
        tx->undo = grown;
        tx->cap = cap;
    }
    u = &tx->undo[tx->n];
    u->key = rc_malloc(nkey ? nkey : 1);
    if (u->key == NULL) {
        rc_free(it);
        return RC_ENOMEM;
    }
    memcpy(u->key, key, nkey);
    u->nkey = nkey;
    rc = mem_table_swap(&tx->db->t, key, nkey, it, &old);
    if (rc != RC_OK) {
        rc_free(u->key);
        rc_free(it);
        return rc;
    }
    u->old = old;
    tx->n++;
    return RC_OK;
}

/* Commit (keep: free what was displaced) or abort (put it back). */
static void
mem_hint_finish(struct mem_hint_tx *tx, bool keep)
{
    struct mem_item *cur;
    size_t i;

    for (i = tx->n; i-- > 0;) {
        struct mem_undo *u = &tx->undo[i];

        if (keep) {
            rc_free(u->old);
        } else {
            (void)mem_table_swap(&tx->db->t, u->key, u->nkey, u->old, &cur); /* cannot fail */
            rc_free(cur);
        }
        rc_free(u->key);
    }
    rc_free(tx->undo);
    tx->undo = NULL;
    tx->n = tx->cap = 0;
}

static int
mem_hint_list(void *self, int (*fn)(void *arg, const uint8_t *id), void *arg)
{
    struct mem_engine *me = self;
    size_t i;
    int rc = 0;

    pthread_rwlock_rdlock(&me->lock);
    for (i = 0; rc == 0 && i < me->nhints; i++) {
        rc = fn(arg, me->hints[i]->id);
    }
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_hint_open(void *self, const uint8_t *id, void **db)
{
    struct mem_engine *me = self;
    struct mem_hint_db *h = NULL, **grown;
    size_t i, cap;
    int rc = RC_OK;

    pthread_rwlock_wrlock(&me->lock);
    for (i = 0; i < me->nhints && h == NULL; i++) {
        if (memcmp(me->hints[i]->id, id, STORE_NODE_ID_SIZE) == 0) {
            h = me->hints[i];
        }
    }
    if (h == NULL) {
        if (me->nhints == me->caphints) {
            cap = me->caphints ? me->caphints * 2 : 8;
            grown = rc_realloc(me->hints, cap * sizeof(*grown));
            if (grown == NULL) {
                rc = RC_ENOMEM;
                goto out;
            }
            me->hints = grown;
            me->caphints = cap;
        }
        h = rc_calloc(1, sizeof(*h));
        if (h == NULL) {
            rc = RC_ENOMEM;
            goto out;
        }
        memcpy(h->id, id, STORE_NODE_ID_SIZE);
        me->hints[me->nhints++] = h;
    }
    *db = h;
out:
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static void
mem_hint_close(void *self, void *db)
{
    (void)self;
    (void)db; /* tables live until the engine closes */
}

static int
mem_hint_txn(void *self, void *db, int (*body)(void *arg, void *tx), void *arg)
{
    struct mem_engine *me = self;
    struct mem_hint_tx tx = {.db = db};
    int rc;

    pthread_rwlock_wrlock(&me->lock);
    rc = body(arg, &tx);
    mem_hint_finish(&tx, rc == RC_OK);
    if (rc == RC_OK) {
        me->nputs++; /* one commit */
    }
    pthread_rwlock_unlock(&me->lock);
    return rc;
}

static int
mem_hint_get(void *self, void *txp, const void *key, size_t nkey, struct buf *val)
{
    struct mem_hint_tx *tx = txp;

    (void)self;
    return mem_table_get(&tx->db->t, key, nkey, val);
}

static int
mem_hint_put(void *self, void *txp, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mem_item *it = mem_item_new(key, nkey, val, nval);

    (void)self;
    if (it == NULL) {
        return RC_ENOMEM;
    }
    return mem_hint_apply(txp, key, nkey, it);
}

static int
mem_hint_del(void *self, void *txp, const void *key, size_t nkey)
{
    struct mem_hint_tx *tx = txp;
    size_t idx;

    (void)self;
    if (!mem_table_find(&tx->db->t, key, nkey, &idx)) {
        return RC_ENOTFOUND;
    }
    return mem_hint_apply(tx, key, nkey, NULL);
}

static int
mem_hint_scan(void *self, void *db, struct buf *cursor, size_t max, store_scan_fn fn, void *arg,
              bool *done)
{
    struct mem_engine *me = self;
    struct mem_hint_db *h = db;
    int rc;

    pthread_rwlock_rdlock(&me->lock);
    rc = mem_table_scan(&h->t, cursor, max, fn, arg, done);
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
    .hint_list = mem_hint_list,
    .hint_open = mem_hint_open,
    .hint_close = mem_hint_close,
    .hint_txn = mem_hint_txn,
    .hint_get = mem_hint_get,
    .hint_put = mem_hint_put,
    .hint_del = mem_hint_del,
    .hint_scan = mem_hint_scan,
};
