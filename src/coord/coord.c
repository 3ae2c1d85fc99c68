/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord.c - memcached semantics over versioned objects, single node.
 *
 *   request --coord_execute--> [striped key lock] --> store_update {
 *                                   decode object, decide (expiry, flush,
 *                                   cas, add/replace, append, incr, the
 *                                   extension's contexts...), new version
 *                                   by dvv_update, encode }  --> ticket
 *
 * Invariants:
 * - Every change of a key is one read-decide-write transaction of the store
 *   (store_update) under that key's stripe lock: concurrent writes through
 *   different connections cannot lose each other (doc/versioning.txt
 *   section 4). Counters move only after the commit.
 * - Every version gets a dot from this node's id and the write sequence: one
 *   counter, persisted as a high-water mark in the store's metadata a block
 *   ahead of use, so no dot is ever reused after a restart (crash included).
 * - The cas a client sees is derived from the object's causal context
 *   (V.6) with the node's context key, kept in metadata beside the node id.
 * - flush_all never rewrites items: it records thresholds (in metadata, so a
 *   restart keeps them) that make older items invisible; the sweeper then
 *   removes expired and flushed records, and tombstones past their grace (in
 *   a cluster only those marked as held by every replica), at a bounded
 *   rate.
 * - curr_items/bytes count stored records whose dominant sibling is live,
 *   expired or not yet reaped, as memcached counts items it has not
 *   reclaimed yet; tombstone records count in tombstones_pending.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/endian.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "coord/coord.h"
#include "coord/coord_internal.h"
#include "base/mac.h"
#include "kv/context.h"
#include "kv/object.h"
#include "kv/record.h"

/* ------------------------------------------------------------------ time */

unsigned
coord_tombstone_grace(const struct coord *co)
{
    return co->cfg.tombstone_grace;
}

int64_t
coord_now(struct coord *co)
{
    (void)co;
    return util_now_s();
}

/* memcached's exptime rule: 0 never; negative: already expired; up to 30
 * days: relative; beyond: absolute Unix time. Expired results are 1 (a time
 * in the past) so the record is stored but invisible, as memcached does. */
int64_t
coord_abs_exptime(int64_t exptime, int64_t now)
{
    if (exptime == 0) {
        return 0;
    }
    if (exptime < 0) {
        return 1;
    }
    if (exptime > COORD_REALTIME_MAXDELTA) {
        return exptime <= now ? 1 : exptime;
    }
    return now + exptime;
}

/* ------------------------------------------------------------------ cas */

static int
coord_cas_persist(struct coord *co, uint64_t hwm)
{
    unsigned char b[8];

    be_put64(b, hwm);
    return store_meta_put(co->st, COORD_META_CAS, b, sizeof(b));
}

/* Make sure at least half a block of sequence values is reserved on disk.
 * Called outside any store transaction: it may write the metadata. */
static int
coord_seq_ensure(struct coord *co)
{
    int rc = RC_OK;

    if (atomic_load(&co->cas_reserved) - atomic_load(&co->cas_next) > COORD_CAS_BLOCK / 2) {
        return RC_OK;
    }
    pthread_mutex_lock(&co->cas_lock);
    while (atomic_load(&co->cas_reserved) <= atomic_load(&co->cas_next) + COORD_CAS_BLOCK / 2 &&
           rc == RC_OK) {
        uint64_t hwm = atomic_load(&co->cas_reserved) + COORD_CAS_BLOCK;

        rc = coord_cas_persist(co, hwm);
        if (rc == RC_OK) {
            atomic_store(&co->cas_reserved, hwm);
        }
    }
    pthread_mutex_unlock(&co->cas_lock);
    return rc;
}

/* Take the next write sequence value. Runs inside store transactions, so
 * it never writes: RC_EAGAIN when the reserved block ran out (coord_update
 * then reserves more outside the transaction and runs the body again). */
int
coord_seq_next(struct coord *co, uint64_t *out)
{
    uint64_t v = atomic_fetch_add(&co->cas_next, 1);

    if (v >= atomic_load(&co->cas_reserved)) {
        return RC_EAGAIN;
    }
    *out = v;
    return RC_OK;
}

static int
coord_cas_load(struct coord *co)
{
    struct buf b;
    uint64_t hwm = 0;
    int rc;

    buf_init(&b);
    rc = store_meta_get(co->st, COORD_META_CAS, &b);
    if (rc == RC_OK && b.len == 8) {
        hwm = be_get64((const unsigned char *)b.data);
    } else if (rc != RC_OK && rc != RC_ENOTFOUND) {
        buf_deinit(&b);
        return rc;
    }
    buf_deinit(&b);
    /* Everything handed out before was below hwm: start there. */
    atomic_store(&co->cas_next, hwm + 1);
    atomic_store(&co->cas_reserved, hwm + 1);
    return RC_OK;
}

/* ------------------------------------------------------------------ identity */

/* Load this node's id, or make one (first start) and keep it. */
static int
coord_identity_load(struct coord *co)
{
    struct buf b;
    int rc;

    buf_init(&b);
    rc = store_meta_get(co->st, COORD_META_NODE_ID, &b);
    if (rc == RC_OK && b.len == COORD_NODE_ID_LEN) {
        memcpy(co->node_id, b.data, COORD_NODE_ID_LEN);
        buf_deinit(&b);
        return RC_OK;
    }
    buf_deinit(&b);
    if (rc != RC_OK && rc != RC_ENOTFOUND) {
        return rc;
    }
    if (getrandom(co->node_id, COORD_NODE_ID_LEN, 0) != COORD_NODE_ID_LEN) {
        log_error("cannot draw a node id: %s", strerror(errno));
        return RC_EIO;
    }
    return store_meta_put(co->st, COORD_META_NODE_ID, co->node_id, COORD_NODE_ID_LEN);
}

/* Load the context key (V.9), or make one (first start) and keep it:
 * stored as one key id byte and 32 key bytes. */
static int
coord_ctx_key_load(struct coord *co)
{
    struct buf b;
    uint8_t raw[1 + CONTEXT_KEY_SIZE];
    int rc;

    buf_init(&b);
    rc = store_meta_get(co->st, COORD_META_CTX_KEY, &b);
    if (rc == RC_OK && b.len == sizeof(raw) && ((const uint8_t *)b.data)[0] != 0) {
        memcpy(raw, b.data, sizeof(raw));
    } else if (rc != RC_OK && rc != RC_ENOTFOUND) {
        buf_deinit(&b);
        return rc;
    } else {
        raw[0] = 1;
        rc = mac_random(raw + 1, CONTEXT_KEY_SIZE);
        if (rc == RC_OK) {
            rc = store_meta_put(co->st, COORD_META_CTX_KEY, raw, sizeof(raw));
        }
        if (rc != RC_OK) {
            buf_deinit(&b);
            return rc;
        }
    }
    buf_deinit(&b);
    co->keys.cur_id = raw[0];
    memcpy(co->keys.cur, raw + 1, CONTEXT_KEY_SIZE);
    co->keys.prev_id = 0;
    /* Mark the directory as holding format 3 records (V.13), once: a
     * metadata write is a synchronous commit, not something every start
     * needs to pay. */
    buf_init(&b);
    rc = store_meta_get(co->st, COORD_META_FORMAT, &b);
    if (rc == RC_OK && b.len == 1 && b.data[0] == '3') {
        buf_deinit(&b);
        return RC_OK;
    }
    buf_deinit(&b);
    if (rc != RC_OK && rc != RC_ENOTFOUND) {
        return rc;
    }
    return store_meta_put(co->st, COORD_META_FORMAT, "3", 1);
}

const uint8_t *
coord_node_id(const struct coord *co)
{
    return co->node_id;
}

/* ------------------------------------------------------------------ flush */

static int
coord_flush_persist_locked(struct coord *co)
{
    unsigned char b[24];
    uint64_t v[3] = {co->flush.flush_seq, (uint64_t)co->flush.flush_ms,
                     (uint64_t)co->flush.pending_ms};

    for (int j = 0; j < 3; j++) {
        be_put64(b + 8 * j, v[j]);
    }
    return store_meta_put(co->st, COORD_META_FLUSH, b, sizeof(b));
}

static int
coord_flush_load(struct coord *co)
{
    struct buf b;
    uint64_t v[3] = {0, 0, 0};
    int rc;

    buf_init(&b);
    rc = store_meta_get(co->st, COORD_META_FLUSH, &b);
    if (rc == RC_OK && b.len == 24) {
        for (int j = 0; j < 3; j++) {
            v[j] = be_get64((const unsigned char *)b.data + 8 * j);
        }
    } else if (rc != RC_OK && rc != RC_ENOTFOUND) {
        buf_deinit(&b);
        return rc;
    }
    buf_deinit(&b);
    co->flush.flush_seq = v[0];
    co->flush.flush_ms = (int64_t)v[1];
    co->flush.pending_ms = (int64_t)v[2];
    return RC_OK;
}

bool
coord_is_flushed(struct coord *co, uint64_t seq, int64_t mtime_ms, int64_t now_ms)
{
    int64_t pending;

    if (seq < atomic_load_explicit(&co->flush.flush_seq, memory_order_acquire) ||
        mtime_ms <= atomic_load_explicit(&co->flush.flush_ms, memory_order_acquire)) {
        return true;
    }
    pending = atomic_load_explicit(&co->flush.pending_ms, memory_order_acquire);
    return pending != 0 && now_ms >= pending && mtime_ms <= pending;
}

/* flush_all [delay]: immediate hides everything stored so far (by cas) and
 * cancels a pending delayed flush, as memcached's newer flush_all replaces the
 * older; a delay hides what was stored at or before the time it names. */
int
coord_flush_all(struct coord *co, const struct request *req)
{
    int64_t now = util_now_s(), now_ms = util_now_ms();
    int64_t when = req->exptime > 0 ? coord_abs_exptime(req->exptime, now) : 0;
    int rc;

    pthread_mutex_lock(&co->flush_lock);
    if (co->flush.pending_ms != 0 && co->flush.pending_ms <= now_ms &&
        co->flush.pending_ms > co->flush.flush_ms) {
        co->flush.flush_ms = co->flush.pending_ms; /* it has happened: keep it */
    }
    if (when == 0 || when <= now) {
        /* Sequence values only grow: everything stored so far is below this. Never
         * past the reserved mark: after a restart numbering resumes there. */
        uint64_t next = atomic_load(&co->cas_next), hwm = atomic_load(&co->cas_reserved);

        co->flush.flush_seq = next < hwm ? next : hwm;
        co->flush.pending_ms = 0;
    } else {
        co->flush.pending_ms = when * 1000 - 1;
    }
    rc = coord_flush_persist_locked(co);
    pthread_mutex_unlock(&co->flush_lock);
    pthread_mutex_lock(&co->sweep_lock);
    pthread_cond_signal(&co->sweep_cond);
    pthread_mutex_unlock(&co->sweep_lock);
    return rc;
}

/* ------------------------------------------------------------------ accounting */

static unsigned
coord_bucket(uint32_t n, unsigned nbuckets)
{
    unsigned b = 0;

    /* 1, 2, 3-4, 5-8, 9-16, ...: the bucket of n is ceil(log2(n)). */
    while (b + 1 < nbuckets && (1u << b) < n) {
        b++;
    }
    return b;
}

const char *const coord_hist_siblings_names[COORD_HIST_SIBLINGS] = {
    "siblings_1",    "siblings_2",     "siblings_3_4",   "siblings_5_8",
    "siblings_9_16", "siblings_17_32", "siblings_33_64", "siblings_65_plus",
};
const char *const coord_hist_entries_names[COORD_HIST_ENTRIES] = {
    "context_1", "context_2", "context_3_4", "context_5_8", "context_9_16", "context_17_plus",
};

/* What a stored record counts for (an undecodable one counts as stored
 * only, so removing it balances). */
static void
coord_account_of(const void *data, size_t n, struct coord_account *a)
{
    struct object_view v;

    memset(a, 0, sizeof(*a));
    if (data == NULL) {
        return;
    }
    a->stored = true;
    if (object_view_decode(data, n, &v) != RC_OK) {
        return;
    }
    a->item = !v.deleted;
    a->bytes = a->item ? v.nvalue : 0;
    a->tomb = v.nlive == 0;
    a->multi = v.nsiblings >= 2;
    a->nsiblings = v.nsiblings;
    a->nentries = v.nentries;
}

static void
coord_account_apply(struct coord *co, const struct coord_account *a, int sign)
{
    uint64_t one = (uint64_t)(int64_t)sign; /* +1 or wraps to -1 */

    if (!a->stored) {
        return;
    }
    if (a->item) {
        atomic_fetch_add(&co->curr_items, one);
        atomic_fetch_add(&co->bytes, sign > 0 ? a->bytes : (uint64_t)0 - a->bytes);
    }
    if (a->tomb) {
        atomic_fetch_add(&co->tombstones_pending, one);
    }
    if (a->multi) {
        atomic_fetch_add(&co->objects_with_siblings, one);
    }
    if (a->nsiblings > 0) {
        atomic_fetch_add(&co->hist_siblings[coord_bucket(a->nsiblings, COORD_HIST_SIBLINGS)], one);
        atomic_fetch_add(&co->hist_entries[coord_bucket(a->nentries, COORD_HIST_ENTRIES)], one);
    }
}

/* ------------------------------------------------------------------ helpers */

pthread_mutex_t *
coord_key_lock(struct coord *co, const struct req_key *k)
{
    return &co->locks[hash_key64(k->key, k->nkey) & (COORD_LOCKS - 1)];
}

int
coord_read(struct coord_thread *ct, const struct req_key *k)
{
    int rc = store_get(ct->co->st, k->key, k->nkey, &ct->old);

    ct->key = *k;
    ct->obj_loaded = false;
    ct->have_old = rc == RC_OK;
    return rc == RC_ENOTFOUND ? RC_OK : rc;
}

struct coord_mark {
    int64_t now;
    uint8_t skip_iflags;
};

static bool
coord_mark_cb(void *arg, void *bytes, size_t n)
{
    const struct coord_mark *m = arg;

    return object_mark_access(bytes, n, m->now, COORD_BUMP_INTERVAL, m->skip_iflags);
}

int
coord_read_marked(struct coord_thread *ct, const struct req_key *k, int64_t now,
                  uint8_t skip_iflags, bool *marked)
{
    struct coord_mark m = {now, skip_iflags};
    int rc = store_get_touch(ct->co->st, k->key, k->nkey, &ct->old, coord_mark_cb, &m, marked);

    ct->key = *k;
    ct->obj_loaded = false;
    ct->have_old = rc == RC_OK;
    return rc == RC_ENOTFOUND ? RC_OK : rc;
}

/* The derived cas of a record read from format 1 or 2: its clock is the one
 * entry (self, old cas). */
static uint64_t
coord_lifted_cas(const struct coord *co, const struct req_key *k, uint64_t oldcas)
{
    struct dvv_vector_entry e;
    struct dvv_vector v = {.entries = &e, .n = 1, .pruned = false};

    e.actor = co->self;
    e.counter = oldcas;
    return context_cas(&co->keys, k->key, k->nkey, &v);
}

int
coord_load(struct coord_thread *ct, struct coord_item *it, enum resp_miss *miss, bool *present)
{
    struct coord *co = ct->co;
    struct object_view v;

    memset(it, 0, sizeof(*it));
    *present = ct->have_old;
    *miss = RESP_MISS_ABSENT;
    if (!ct->have_old) {
        return RC_ENOTFOUND;
    }
    if (object_view_decode(ct->old.data, ct->old.len, &v) != RC_OK) {
        log_error("corrupt record for a key: treating as absent");
        return RC_ENOTFOUND;
    }
    it->iflags = v.meta.iflags;
    it->flags = v.flags;
    it->exptime = v.meta.exptime;
    it->cas = v.lifted ? coord_lifted_cas(co, &ct->key, v.cas) : v.cas;
    it->seq = v.meta.seq;
    it->mtime_ms = v.meta.mtime_ms;
    it->atime = v.meta.atime;
    it->value = v.value;
    it->nvalue = v.nvalue;
    it->nlive = v.nlive;
    it->nsiblings = v.nsiblings;
    it->deleted = v.deleted;
    if (it->exptime != 0 && it->exptime <= util_now_s()) {
        *miss = RESP_MISS_EXPIRED;
        return RC_ENOTFOUND;
    }
    if (coord_is_flushed(co, it->seq, it->mtime_ms, util_now_ms())) {
        *miss = RESP_MISS_FLUSHED;
        return RC_ENOTFOUND;
    }
    if (it->deleted) {
        return RC_ENOTFOUND;
    }
    *miss = RESP_MISS_NONE;
    return RC_OK;
}

int
coord_object(struct coord_thread *ct, struct object **out)
{
    int rc = RC_OK;

    if (!ct->obj_loaded) {
        object_deinit(&ct->obj);
        object_init(&ct->obj);
        if (ct->have_old) {
            rc = object_load(ct->old.data, ct->old.len, &ct->co->self, &ct->obj);
            if (rc != RC_OK) {
                /* A corrupt record reads as absent (coord_load says so). */
                object_deinit(&ct->obj);
                object_init(&ct->obj);
                rc = RC_OK;
            }
        }
        ct->obj_loaded = true;
    }
    *out = &ct->obj;
    return rc;
}

/* Encode ct->obj into ct->enc with its derived cas; returns the cas. */
static int
coord_encode(struct coord_thread *ct, uint64_t *cas)
{
    struct dvv_vector j;
    int rc = object_join(&ct->obj, &j);

    if (rc == RC_OK) {
        *cas = context_cas(&ct->co->keys, ct->key.key, ct->key.nkey, &j);
        buf_reset(&ct->enc);
        rc = object_encode(&ct->obj, *cas, &ct->enc);
    }
    dvv_vector_deinit(&j);
    if (rc == RC_OK) {
        ct->pend.action = STORE_UPDATE_PUT;
        coord_account_of(ct->enc.data, ct->enc.len, &ct->pend.neu);
    }
    return rc;
}

int
coord_encode_object(struct coord_thread *ct, uint64_t *cas)
{
    return coord_encode(ct, cas);
}

void
coord_set_context_keys(struct coord *co, const struct context_keys *keys)
{
    co->keys = *keys;
}

static void
coord_stamp_expiry(struct coord *co, struct object *o, int64_t exptime, int64_t now_ms)
{
    if (o->meta.exptime != exptime || o->meta.exp_stamp_ms == 0) {
        o->meta.exptime = exptime;
        o->meta.exp_stamp_ms = now_ms;
        o->meta.exp_node = co->self;
    }
}

/* One new version of o (a dot): the payload with context ctx. */
static int
coord_new_version(struct coord_thread *ct, const struct dvv_vector *ctx, bool cover,
                  const struct object_payload *p, uint64_t *seq)
{
    struct coord *co = ct->co;
    bool pruned = false;
    int rc = coord_seq_next(co, seq);

    if (rc != RC_OK) {
        return rc;
    }
    rc = object_update(&ct->obj, ctx, cover, p, &co->self, *seq, p->wtime_ms, co->cfg.prune_keep,
                       &pruned);
    if (rc == RC_OK) {
        ct->pend.prunes += pruned ? 1 : 0;
        ct->pend.total_items += p->tombstone ? 0 : 1; /* deletes store no item */
        ct->obj.meta.seq = *seq;
        ct->obj.meta.mtime_ms = p->wtime_ms;
    }
    return rc;
}

int
coord_write(struct coord_thread *ct, const struct req_key *k, struct coord_item *it)
{
    struct object *o;
    int64_t now_ms = util_now_ms();
    struct object_payload p = {false, it->flags, now_ms, it->value, it->nvalue};
    size_t before;
    uint64_t seq;
    int rc = coord_object(ct, &o);

    (void)k;
    if (rc != RC_OK) {
        return rc;
    }
    before = o->clock != NULL ? object_nsiblings(o) : 0;
    rc = coord_new_version(ct, NULL, true, &p, &seq);
    if (rc != RC_OK) {
        return rc;
    }
    if (before >= 2) {
        ct->pend.collapsed += before;
    }
    o->meta.iflags = it->iflags;
    o->meta.atime = now_ms / 1000;
    coord_stamp_expiry(ct->co, o, it->exptime, now_ms);
    rc = coord_encode(ct, &it->cas);
    if (rc == RC_OK) {
        it->seq = seq;
        it->mtime_ms = now_ms;
        it->atime = now_ms / 1000;
        ct->pend.want_ticket = true;
    }
    return rc;
}

int
coord_rewrite(struct coord_thread *ct, const struct req_key *k, const struct coord_item *it,
              bool soft)
{
    struct object *o;
    struct object_view v;
    uint64_t cas;
    int rc;

    (void)k;
    if (ct->have_old && !ct->obj_loaded &&
        object_view_decode(ct->old.data, ct->old.len, &v) == RC_OK && !v.lifted) {
        /* The clock does not change: patch the header, keep the cas. */
        struct object_meta m = v.meta;

        m.iflags = it->iflags;
        m.atime = it->atime;
        if (m.exptime != it->exptime || m.exp_stamp_ms == 0) {
            m.exptime = it->exptime;
            m.exp_stamp_ms = util_now_ms();
            m.exp_node = ct->co->self;
        }
        buf_reset(&ct->enc);
        rc = object_rewrite_meta(ct->old.data, ct->old.len, &m, &ct->enc);
        if (rc == RC_OK) {
            ct->pend.action = soft ? STORE_UPDATE_CACHE : STORE_UPDATE_PUT;
            coord_account_of(ct->enc.data, ct->enc.len, &ct->pend.neu);
            ct->pend.soft = soft;
            ct->pend.want_ticket = !soft;
        }
        return rc;
    }
    rc = coord_object(ct, &o);
    if (rc != RC_OK) {
        return rc;
    }
    if (o->clock == NULL) {
        return RC_EINTERNAL; /* nothing to rewrite */
    }
    o->meta.iflags = it->iflags;
    o->meta.atime = it->atime;
    coord_stamp_expiry(ct->co, o, it->exptime, util_now_ms());
    rc = coord_encode(ct, &cas);
    if (rc == RC_OK && soft) {
        /* A re-encoded object (a lifted format-1/2 record, or one decoded
         * in full) need not match the engine's bytes outside bookkeeping,
         * so it is written, not only cached. */
        ct->pend.soft = true;
        ct->pend.want_ticket = false;
    }
    return rc;
}

int
coord_tombstone(struct coord_thread *ct, const struct req_key *k)
{
    struct object *o;
    struct object_payload p = {true, 0, util_now_ms(), "", 0};
    uint64_t seq, cas;
    size_t before;
    int rc = coord_object(ct, &o);

    (void)k;
    if (rc != RC_OK) {
        return rc;
    }
    before = o->clock != NULL ? object_nsiblings(o) : 0;
    rc = coord_new_version(ct, NULL, true, &p, &seq);
    if (rc != RC_OK) {
        return rc;
    }
    if (before >= 2) {
        ct->pend.collapsed += before;
    }
    o->meta.iflags = 0;
    rc = coord_encode(ct, &cas);
    if (rc == RC_OK) {
        ct->pend.want_ticket = true;
    }
    return rc;
}

int
coord_vwrite(struct coord_thread *ct, const struct req_key *k, const struct dvv_vector *ctx,
             const struct request *req, bool tombstone, uint32_t *nlive)
{
    struct coord *co = ct->co;
    struct object *o;
    struct coord_item it;
    enum resp_miss miss;
    bool present, dead;
    int64_t now_ms = util_now_ms();
    struct object_payload p = {tombstone, tombstone ? 0 : req->flags, now_ms,
                               tombstone ? "" : req->value, tombstone ? 0 : req->nvalue};
    size_t count;
    uint64_t seq, cas;
    int rc = coord_object(ct, &o);

    (void)k;
    if (rc != RC_OK) {
        return rc;
    }
    /* Dead objects never come back (V.5): the write covers all of them. */
    rc = coord_load(ct, &it, &miss, &present);
    dead = present && (miss == RESP_MISS_EXPIRED || miss == RESP_MISS_FLUSHED);
    (void)rc;
    seq = atomic_load(&co->cas_next);
    rc = object_update_count(o, ctx, dead, &co->self, seq, &count);
    if (rc != RC_OK) {
        return rc;
    }
    if (count > co->cfg.max_siblings) {
        return RC_ESIBLINGS;
    }
    rc = coord_new_version(ct, ctx, dead, &p, &seq);
    if (rc != RC_OK) {
        return rc;
    }
    o->meta.iflags = 0;
    o->meta.atime = now_ms / 1000;
    if (!tombstone) {
        coord_stamp_expiry(co, o, coord_abs_exptime(req->exptime, now_ms / 1000), now_ms);
    }
    rc = coord_encode(ct, &cas);
    if (rc == RC_OK) {
        ct->pend.want_ticket = true;
        *nlive = (uint32_t)object_nlive(o);
    }
    return rc;
}

int
coord_remove(struct coord_thread *ct)
{
    if (!ct->have_old) {
        return RC_OK;
    }
    ct->pend.action = STORE_UPDATE_DELETE;
    memset(&ct->pend.neu, 0, sizeof(ct->pend.neu));
    ct->pend.want_ticket = true;
    return RC_OK;
}

void
coord_fill_hit(const struct coord *co, struct response *resp, const struct coord_item *it)
{
    resp->status = RC_OK;
    resp->flags = it->flags;
    resp->cas = co->cfg.use_cas ? it->cas : 0;
    resp->value = it->value;
    resp->nvalue = it->nvalue;
}

int
coord_fill_context(struct coord_thread *ct, const struct req_key *k, struct response *resp)
{
    struct object *o;
    struct dvv_vector j;
    int rc = coord_object(ct, &o);

    if (rc != RC_OK) {
        return rc;
    }
    rc = object_token_join(o, &j);
    buf_reset(&ct->ctxtok);
    if (rc == RC_OK) {
        rc = context_seal(&ct->co->keys, k->key, k->nkey, &j, &ct->ctxtok);
    }
    dvv_vector_deinit(&j);
    if (rc == RC_OK) {
        resp->context = ct->ctxtok.data;
        resp->ncontext = ct->ctxtok.len;
    }
    return rc;
}

int
coord_open_context(struct coord_thread *ct, const struct req_key *k, const char *tok, size_t len,
                   struct dvv_vector *out)
{
    struct coord *co = ct->co;
    uint64_t seq_now;
    int rc;

    if (len == 0) {
        dvv_vector_init(out);
        return RC_OK;
    }
    rc = context_open(&co->keys, k->key, k->nkey, tok, len, out);
    if (rc != RC_OK) {
        atomic_fetch_add(&co->context_errors, 1);
        return RC_EBADCONTEXT;
    }
    /* Check 5: no counter of ours beyond what this node has handed out. */
    seq_now = atomic_load(&co->cas_next);
    for (size_t i = 0; i < out->n; i++) {
        if (memcmp(out->entries[i].actor.id, co->self.id, DVV_ACTOR_SIZE) == 0 &&
            out->entries[i].counter >= seq_now) {
            log_error("a sealed context claims counter %" PRIu64 " for this node, beyond %" PRIu64
                      ": refused",
                      out->entries[i].counter, seq_now);
            atomic_fetch_add(&co->context_errors, 1);
            return RC_EBADCONTEXT;
        }
    }
    return RC_OK;
}

/* ------------------------------------------------------------------ the update */

struct coord_upd {
    struct coord_thread *ct;
    const struct request *req;
    const struct req_key *k;
    coord_body_fn body;
    struct response *resp;
    int body_rc;
};

static int
coord_decide(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct coord_upd *u = arg;
    struct coord_thread *ct = u->ct;
    enum resp_miss miss = u->resp->miss;

    buf_reset(&ct->old);
    ct->key = *u->k;
    ct->have_old = old != NULL;
    if (old != NULL && buf_append(&ct->old, old, nold) != RC_OK) {
        return RC_ENOMEM;
    }
    ct->obj_loaded = false;
    memset(&ct->pend, 0, sizeof(ct->pend));
    coord_account_of(old, nold, &ct->pend.old);
    response_reset(u->resp);
    u->resp->miss = miss;
    u->body_rc = u->body(ct, u->req, u->k, u->resp);
    if (u->body_rc == RC_EAGAIN) {
        return RC_EAGAIN; /* out of sequence values: abort, reserve, redo */
    }
    out->action = ct->pend.action;
    out->val = ct->enc.data;
    out->nval = ct->enc.len;
    return RC_OK;
}

int
coord_update(struct coord_thread *ct, const struct request *req, const struct req_key *k,
             coord_body_fn body, struct response *resp, uint64_t *ticket)
{
    struct coord *co = ct->co;
    struct coord_upd u = {ct, req, k, body, resp, RC_OK};
    pthread_mutex_t *lk = coord_key_lock(co, k);
    struct coord_pending *p = &ct->pend;
    int rc;

    pthread_mutex_lock(lk);
    for (int tries = 0;; tries++) {
        memset(p, 0, sizeof(*p));
        rc = coord_seq_ensure(co);
        if (rc == RC_OK) {
            rc = store_update(co->st, k->key, k->nkey, coord_decide, &u);
        }
        if (rc != RC_EAGAIN || tries >= 3) {
            break;
        }
    }
    if (rc == RC_OK && p->action != STORE_UPDATE_NONE) {
        coord_account_apply(co, &p->old, -1);
        coord_account_apply(co, &p->neu, +1);
        atomic_fetch_add(&co->total_items, p->total_items);
        atomic_fetch_add(&co->siblings_collapsed, p->collapsed);
        atomic_fetch_add(&co->clock_prunes, p->prunes);
        atomic_fetch_add(&co->reclaimed, p->reclaimed);
        atomic_fetch_add(&co->tombstones_reaped, p->reaped);
        atomic_fetch_add(&co->tombstones_acked, p->marked);
        if (p->want_ticket && ticket != NULL) {
            *ticket = store_sync_ticket(co->st);
        }
    }
    pthread_mutex_unlock(lk);
    if (rc != RC_OK && !p->soft) {
        return rc;
    }
    return u.body_rc;
}

/* ------------------------------------------------------------------ sweeper */

/* Scan state for one sweeper batch: reapable keys found, each stored as
 * u32 length + key bytes + u64 write sequence in `found`. */
struct coord_sweep {
    struct coord *co;
    struct buf found;
    int64_t now, now_ms;
    size_t nfound;
    uint64_t unacked; /* tombstones kept past their grace for want of a mark */
};

/* Dead (expired or flushed), or a tombstone record past its grace (V.12).
 * In a cluster condition 4 is the record's acked mark: set only once every
 * replica of the key acknowledged exactly this tombstone-only clock
 * (cluster.c), and the grace, measured from the newest tombstone's write
 * time like on one node, outlasts every hint and late PUT that could still
 * carry an older version (doc/replication.txt section 10). *unacked: a
 * tombstone that only the missing mark keeps. Durability (condition 3)
 * needs no check: the removal is logged after the tombstone, so no crash
 * can keep the removal and lose the tombstone. */
static bool
coord_reapable(struct coord *co, const struct object_view *v, int64_t now, int64_t now_ms,
               bool *dead, bool *unacked)
{
    bool due;

    *unacked = false;
    *dead = (v->meta.exptime != 0 && v->meta.exptime <= now) ||
            coord_is_flushed(co, v->meta.seq, v->meta.mtime_ms, now_ms);
    if (*dead) {
        return true;
    }
    due = v->nlive == 0 && now_ms - v->wtime_ms >= (int64_t)co->cfg.tombstone_grace * 1000;
    if (due && co->cfg.reap_needs_ack && !v->meta.acked) {
        *unacked = v->nsiblings > 0; /* a timer never reaps a tombstone in a cluster */
        return false;
    }
    return due;
}

static int
coord_sweep_visit(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct coord_sweep *sw = arg;
    struct object_view v;
    uint32_t n32 = (uint32_t)nkey;
    bool dead, unacked;

    if (object_view_decode(val, nval, &v) != RC_OK) {
        return 0;
    }
    if (!coord_reapable(sw->co, &v, sw->now, sw->now_ms, &dead, &unacked)) {
        sw->unacked += unacked ? 1 : 0;
        return 0;
    }
    if (buf_append(&sw->found, &n32, sizeof(n32)) != RC_OK ||
        buf_append(&sw->found, key, nkey) != RC_OK ||
        buf_append(&sw->found, &v.meta.seq, sizeof(v.meta.seq)) != RC_OK) {
        return 0;
    }
    sw->nfound++;
    return 0;
}

/* Remove the record if it is still the same version and still reapable. */
static int
coord_body_reap(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                struct response *resp)
{
    struct object_view v;
    bool dead, unacked;

    (void)k;
    (void)resp;
    if (!ct->have_old || object_view_decode(ct->old.data, ct->old.len, &v) != RC_OK ||
        v.meta.seq != req->cas ||
        !coord_reapable(ct->co, &v, util_now_s(), util_now_ms(), &dead, &unacked)) {
        return RC_OK;
    }
    if (dead) {
        ct->pend.reclaimed++;
    } else {
        ct->pend.reaped++;
    }
    return coord_remove(ct);
}

static void
coord_sweep_reap(struct coord_thread *ct, const char *key, size_t nkey, uint64_t seq)
{
    struct req_key k = {key, nkey};
    struct request req;
    struct response resp;

    request_reset(&req);
    req.cas = seq;
    coord_update(ct, &req, &k, coord_body_reap, &resp, NULL);
}

static void
coord_sweep_batch(struct coord_thread *ct, struct buf *cursor, size_t max, bool *done,
                  uint64_t *unacked)
{
    struct coord_sweep sw = {.co = ct->co, .now = util_now_s(), .now_ms = util_now_ms()};
    size_t off = 0;

    buf_init(&sw.found);
    if (store_scan(ct->co->st, cursor, max, coord_sweep_visit, &sw, done) != RC_OK) {
        *done = true;
    }
    while (off + sizeof(uint32_t) <= sw.found.len) {
        uint32_t n32;
        uint64_t seq;

        memcpy(&n32, sw.found.data + off, sizeof(n32));
        memcpy(&seq, sw.found.data + off + sizeof(n32) + n32, sizeof(seq));
        coord_sweep_reap(ct, sw.found.data + off + sizeof(n32), n32, seq);
        off += sizeof(n32) + n32 + sizeof(seq);
    }
    buf_deinit(&sw.found);
    *unacked += sw.unacked;
}

/* Sleep up to ms, waking early on stop or flush. Returns false when stopping. */
static bool
coord_sweep_wait(struct coord *co, unsigned ms)
{
    struct timespec ts;
    bool go;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&co->sweep_lock);
    if (!co->stopping) {
        pthread_cond_timedwait(&co->sweep_cond, &co->sweep_lock, &ts);
    }
    go = !co->stopping;
    pthread_mutex_unlock(&co->sweep_lock);
    return go;
}

/* Background removal of expired, flushed and reapable tombstone records: at
 * most sweep_per_sec records examined per second, in batches of a tenth. */
static void *
coord_sweeper_main(void *arg)
{
    struct coord *co = arg;
    struct coord_thread *ct;
    struct buf cursor;
    size_t batch = co->cfg.sweep_per_sec / 10 ? co->cfg.sweep_per_sec / 10 : 1;
    uint64_t unacked = 0;
    bool done;

    if (coord_thread_create(co, &ct) != RC_OK) {
        log_error("sweeper: out of memory, expired items are not reclaimed in the background");
        return NULL;
    }
    buf_init(&cursor);
    while (coord_sweep_wait(co, 100)) {
        coord_sweep_batch(ct, &cursor, batch, &done, &unacked);
        if (done) {
            buf_reset(&cursor);
            atomic_store(&co->tombstones_unacked, unacked); /* a whole pass */
            unacked = 0;
            atomic_fetch_add(&co->sweeps, 1);
            if (!coord_sweep_wait(co, 1000)) {
                break;
            }
        }
    }
    buf_deinit(&cursor);
    coord_thread_destroy(ct);
    return NULL;
}

/* ------------------------------------------------------------------ lifecycle */

static int
coord_count_visit(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct coord *co = arg;
    struct coord_account a;

    (void)key;
    (void)nkey;
    coord_account_of(val, nval, &a);
    coord_account_apply(co, &a, +1);
    return 0;
}

/* Count what the store holds (start-up; the store is not yet shared). */
static int
coord_count_items(struct coord *co)
{
    struct buf cursor;
    bool done = false;
    int rc = RC_OK;

    buf_init(&cursor);
    while (!done && rc == RC_OK) {
        rc = store_scan(co->st, &cursor, 4096, coord_count_visit, co, &done);
    }
    buf_deinit(&cursor);
    return rc;
}

static void
coord_free(struct coord *co)
{
    for (int i = 0; i < COORD_LOCKS; i++) {
        pthread_mutex_destroy(&co->locks[i]);
    }
    pthread_mutex_destroy(&co->cas_lock);
    pthread_mutex_destroy(&co->flush_lock);
    pthread_mutex_destroy(&co->sweep_lock);
    pthread_cond_destroy(&co->sweep_cond);
    rc_free(co);
}

int
coord_create(const struct coord_config *cfg, struct store *st, struct coord **out)
{
    struct coord *co = rc_calloc(1, sizeof(*co));
    int rc;

    if (co == NULL) {
        return RC_ENOMEM;
    }
    co->cfg = *cfg;
    if (co->cfg.sweep_per_sec == 0) {
        co->cfg.sweep_per_sec = 20000;
    }
    if (co->cfg.max_siblings == 0) {
        co->cfg.max_siblings = COORD_DEFAULT_SIBLINGS;
    }
    co->st = st;
    for (int i = 0; i < COORD_LOCKS; i++) {
        pthread_mutex_init(&co->locks[i], NULL);
    }
    pthread_mutex_init(&co->cas_lock, NULL);
    pthread_mutex_init(&co->flush_lock, NULL);
    pthread_mutex_init(&co->sweep_lock, NULL);
    pthread_cond_init(&co->sweep_cond, NULL);
    rc = coord_identity_load(co);
    if (rc == RC_OK) {
        memcpy(co->self.id, co->node_id, DVV_ACTOR_SIZE);
        rc = coord_ctx_key_load(co);
    }
    if (rc == RC_OK) {
        rc = coord_cas_load(co);
    }
    if (rc == RC_OK) {
        rc = coord_flush_load(co);
    }
    if (rc == RC_OK) {
        rc = coord_count_items(co);
    }
    if (rc == RC_OK && pthread_create(&co->sweeper, NULL, coord_sweeper_main, co) != 0) {
        rc = RC_ENOMEM;
    }
    if (rc != RC_OK) {
        coord_free(co);
        return rc;
    }
    co->sweeper_running = true;
    *out = co;
    return RC_OK;
}

void
coord_destroy(struct coord *co)
{
    if (co == NULL) {
        return;
    }
    if (co->sweeper_running) {
        pthread_mutex_lock(&co->sweep_lock);
        co->stopping = true;
        pthread_cond_signal(&co->sweep_cond);
        pthread_mutex_unlock(&co->sweep_lock);
        pthread_join(co->sweeper, NULL);
    }
    coord_free(co);
}

struct store *
coord_store(struct coord *co)
{
    return co->st;
}

int
coord_thread_create(struct coord *co, struct coord_thread **out)
{
    struct coord_thread *ct = rc_calloc(1, sizeof(*ct));

    if (ct == NULL) {
        return RC_ENOMEM;
    }
    ct->co = co;
    buf_init(&ct->old);
    buf_init(&ct->enc);
    buf_init(&ct->val);
    buf_init(&ct->ctxtok);
    object_init(&ct->obj);
    *out = ct;
    return RC_OK;
}

void
coord_thread_destroy(struct coord_thread *ct)
{
    if (ct == NULL) {
        return;
    }
    buf_deinit(&ct->old);
    buf_deinit(&ct->enc);
    buf_deinit(&ct->val);
    buf_deinit(&ct->ctxtok);
    object_deinit(&ct->obj);
    rc_free(ct->sibs);
    rc_free(ct->osibs);
    rc_free(ct);
}

void
coord_get_stats(struct coord *co, struct coord_stats *out)
{
    out->curr_items = atomic_load(&co->curr_items);
    out->total_items = atomic_load(&co->total_items);
    out->bytes = atomic_load(&co->bytes);
    out->reclaimed = atomic_load(&co->reclaimed);
    out->sweeps = atomic_load(&co->sweeps);
    out->objects_with_siblings = atomic_load(&co->objects_with_siblings);
    out->tombstones_pending = atomic_load(&co->tombstones_pending);
    out->siblings_hidden_reads = atomic_load(&co->siblings_hidden_reads);
    out->siblings_hidden = atomic_load(&co->siblings_hidden);
    out->siblings_collapsed = atomic_load(&co->siblings_collapsed);
    out->sibling_limit_refused = atomic_load(&co->sibling_limit_refused);
    out->context_errors = atomic_load(&co->context_errors);
    out->tombstones_reaped = atomic_load(&co->tombstones_reaped);
    out->clock_prunes = atomic_load(&co->clock_prunes);
    out->vget_cmds = atomic_load(&co->vget_cmds);
    out->vset_cmds = atomic_load(&co->vset_cmds);
    out->tombstones_acked = atomic_load(&co->tombstones_acked);
    out->tombstones_unacked = atomic_load(&co->tombstones_unacked);
    for (int i = 0; i < COORD_HIST_SIBLINGS; i++) {
        out->hist_siblings[i] = atomic_load(&co->hist_siblings[i]);
    }
    for (int i = 0; i < COORD_HIST_ENTRIES; i++) {
        out->hist_entries[i] = atomic_load(&co->hist_entries[i]);
    }
}

int
coord_use_cluster_secret(struct coord *co, const void *secret, size_t nsecret)
{
    static const char label[] = "ringcached context key v1";
    struct mac_part part = {label, sizeof(label) - 1};
    uint8_t k[MAC_SHA256_SIZE];
    struct context_keys keys;
    int rc = mac_hmac_sha256(secret, nsecret, &part, 1, k);

    if (rc != RC_OK) {
        return rc;
    }
    memset(&keys, 0, sizeof(keys));
    keys.cur_id = 1;
    memcpy(keys.cur, k, CONTEXT_KEY_SIZE);
    coord_set_context_keys(co, &keys);
    return RC_OK;
}

int
coord_merge_records(struct coord *co, const void *key, size_t nkey, const void *a, size_t na,
                    const void *b, size_t nb, struct buf *out)
{
    struct object oa, ob;
    struct dvv_vector j;
    uint64_t cas;
    int rc = object_load(a, na, &co->self, &oa);

    if (rc != RC_OK) {
        return rc;
    }
    rc = object_load(b, nb, &co->self, &ob);
    if (rc == RC_OK) {
        rc = object_merge(&oa, &ob);
    }
    if (rc == RC_OK) {
        rc = object_join(&oa, &j);
        if (rc == RC_OK) {
            cas = context_cas(&co->keys, key, nkey, &j);
            rc = object_encode(&oa, cas, out);
        }
        dvv_vector_deinit(&j);
    }
    object_deinit(&ob);
    object_deinit(&oa);
    return rc;
}

void
coord_note_context_error(struct coord *co)
{
    atomic_fetch_add(&co->context_errors, 1);
}

void
coord_reset_stats(struct coord *co)
{
    atomic_store(&co->siblings_hidden_reads, 0);
    atomic_store(&co->siblings_hidden, 0);
    atomic_store(&co->siblings_collapsed, 0);
    atomic_store(&co->sibling_limit_refused, 0);
    atomic_store(&co->context_errors, 0);
    atomic_store(&co->tombstones_reaped, 0);
    atomic_store(&co->clock_prunes, 0);
    atomic_store(&co->vget_cmds, 0);
    atomic_store(&co->vset_cmds, 0);
    atomic_store(&co->tombstones_acked, 0);
}
