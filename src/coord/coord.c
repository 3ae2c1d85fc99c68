/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord.c - memcached semantics over the storage interface, single node.
 *
 *   request --coord_execute--> [striped key lock] --> store_get
 *                                   decode record, decide (expiry, flush,
 *                                   cas, add/replace, append, incr...)
 *                               --> store_put / store_delete --> ticket
 *
 * Invariants:
 * - Every write of a key happens under that key's stripe lock, after reading
 *   the current record under the same lock: read-modify-write commands are
 *   atomic across connections and threads. Reads take no lock (a single
 *   store_get is atomic).
 * - cas values come from one counter, persisted as a high-water mark in the
 *   store's metadata a block ahead of use, so they are unique per stored
 *   version and never reused after a restart (crash included).
 * - flush_all never rewrites items: it records thresholds (in metadata, so a
 *   restart keeps them) that make older items invisible; the sweeper then
 *   removes expired and flushed items at a bounded rate.
 * - curr_items/bytes count stored records, live or not yet reaped, as
 *   memcached counts items it has not reclaimed yet.
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
#include "kv/record.h"

/* ------------------------------------------------------------------ time */

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

static int
coord_cas_next(struct coord *co, uint64_t *out)
{
    uint64_t v = atomic_fetch_add(&co->cas_next, 1);
    int rc = RC_OK;

    if (v < atomic_load(&co->cas_reserved)) {
        *out = v;
        return RC_OK;
    }
    pthread_mutex_lock(&co->cas_lock);
    while (v >= atomic_load(&co->cas_reserved) && rc == RC_OK) {
        uint64_t hwm = atomic_load(&co->cas_reserved) + COORD_CAS_BLOCK;

        rc = coord_cas_persist(co, hwm);
        if (rc == RC_OK) {
            atomic_store(&co->cas_reserved, hwm);
        }
    }
    pthread_mutex_unlock(&co->cas_lock);
    *out = v;
    return rc;
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
    uint64_t v[3] = {co->flush.flush_cas, (uint64_t)co->flush.flush_ms,
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
    co->flush.flush_cas = v[0];
    co->flush.flush_ms = (int64_t)v[1];
    co->flush.pending_ms = (int64_t)v[2];
    return RC_OK;
}

bool
coord_is_flushed(struct coord *co, const struct record *r, int64_t now_ms)
{
    int64_t pending;

    if (r->cas < atomic_load_explicit(&co->flush.flush_cas, memory_order_acquire) ||
        r->mtime_ms <= atomic_load_explicit(&co->flush.flush_ms, memory_order_acquire)) {
        return true;
    }
    pending = atomic_load_explicit(&co->flush.pending_ms, memory_order_acquire);
    return pending != 0 && now_ms >= pending && r->mtime_ms <= pending;
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
        /* cas values only grow: everything stored so far is below this. Never
         * past the reserved mark: after a restart numbering resumes there. */
        uint64_t next = atomic_load(&co->cas_next), hwm = atomic_load(&co->cas_reserved);

        co->flush.flush_cas = next < hwm ? next : hwm;
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

/* ------------------------------------------------------------------ helpers */

pthread_mutex_t *
coord_key_lock(struct coord *co, const struct req_key *k)
{
    return &co->locks[hash_key64(k->key, k->nkey) & (COORD_LOCKS - 1)];
}

/* Read the key's record into ct->old and decode it. Returns RC_OK (live),
 * RC_ENOTFOUND with *miss saying why, or a storage failure. *present says
 * whether a record exists at all (live or not). */
int
coord_load(struct coord_thread *ct, const struct req_key *k, struct record *r, enum resp_miss *miss,
           bool *present)
{
    struct coord *co = ct->co;
    int rc = store_get(co->st, k->key, k->nkey, &ct->old);

    *present = false;
    *miss = RESP_MISS_ABSENT;
    if (rc != RC_OK) {
        return rc;
    }
    rc = record_decode(ct->old.data, ct->old.len, r);
    if (rc != RC_OK) {
        log_error("corrupt record for a key of %zu bytes: treating as absent", k->nkey);
        return RC_ENOTFOUND;
    }
    *present = true;
    if (r->exptime != 0 && r->exptime <= util_now_s()) {
        *miss = RESP_MISS_EXPIRED;
        return RC_ENOTFOUND;
    }
    if (coord_is_flushed(co, r, util_now_ms())) {
        *miss = RESP_MISS_FLUSHED;
        return RC_ENOTFOUND;
    }
    *miss = RESP_MISS_NONE;
    return RC_OK;
}

/* Store *r under k. `had` says whether a record existed before (for counts),
 * `oldlen` its value length. Sets *ticket for durability. */
int
coord_write(struct coord_thread *ct, const struct req_key *k, struct record *r, bool had,
            size_t oldlen, uint64_t *ticket)
{
    struct coord *co = ct->co;
    int rc;

    /* Every version gets a cas, even under -C (where clients are shown 0):
     * flush_all's immediate threshold relies on it. */
    rc = coord_cas_next(co, &r->cas);
    if (rc != RC_OK) {
        return rc;
    }
    r->mtime_ms = util_now_ms();
    r->atime = r->mtime_ms / 1000;
    buf_reset(&ct->enc);
    rc = record_encode(r, &ct->enc);
    if (rc != RC_OK) {
        return rc;
    }
    rc = store_put(co->st, k->key, k->nkey, ct->enc.data, ct->enc.len);
    if (rc != RC_OK) {
        return rc;
    }
    if (had) {
        atomic_fetch_sub(&co->bytes, oldlen);
    } else {
        atomic_fetch_add(&co->curr_items, 1);
    }
    atomic_fetch_add(&co->bytes, r->nvalue);
    atomic_fetch_add(&co->total_items, 1);
    *ticket = store_sync_ticket(co->st);
    return RC_OK;
}

int
coord_remove(struct coord_thread *ct, const struct req_key *k, size_t oldlen, uint64_t *ticket)
{
    struct coord *co = ct->co;
    int rc = store_delete(co->st, k->key, k->nkey);

    if (rc == RC_OK) {
        atomic_fetch_sub(&co->curr_items, 1);
        atomic_fetch_sub(&co->bytes, oldlen);
        *ticket = store_sync_ticket(co->st);
    } else if (rc == RC_ENOTFOUND) {
        rc = RC_OK;
    }
    return rc;
}

/* Rewrite *r in place keeping its cas and write time (touch, gat, access
 * and recache bookkeeping): the value is unchanged, so nothing a cas holder
 * saw has changed. ticket NULL: the caller does not wait for durability. */
int
coord_rewrite(struct coord_thread *ct, const struct req_key *k, const struct record *r,
              uint64_t *ticket)
{
    struct coord *co = ct->co;
    int rc;

    buf_reset(&ct->enc);
    rc = record_encode(r, &ct->enc);
    if (rc == RC_OK) {
        rc = store_put(co->st, k->key, k->nkey, ct->enc.data, ct->enc.len);
    }
    if (rc == RC_OK && ticket != NULL) {
        *ticket = store_sync_ticket(co->st);
    }
    return rc;
}

void
coord_fill_hit(const struct coord *co, struct response *resp, const struct record *r)
{
    resp->status = RC_OK;
    resp->flags = r->flags;
    resp->cas = co->cfg.use_cas ? r->cas : 0;
    resp->value = r->value;
    resp->nvalue = r->nvalue;
}

/* ------------------------------------------------------------------ sweeper */

/* Scan state for one sweeper batch: dead keys found, each stored as
 * u32 length + key bytes + u64 cas in `found`. */
struct coord_sweep {
    struct coord *co;
    struct buf found;
    int64_t now, now_ms;
    size_t nfound;
};

static bool
coord_record_dead(struct coord *co, const struct record *r, int64_t now, int64_t now_ms)
{
    return (r->exptime != 0 && r->exptime <= now) || coord_is_flushed(co, r, now_ms);
}

static int
coord_sweep_visit(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct coord_sweep *sw = arg;
    struct record r;
    uint32_t n32 = (uint32_t)nkey;

    if (record_decode(val, nval, &r) != RC_OK ||
        !coord_record_dead(sw->co, &r, sw->now, sw->now_ms)) {
        return 0;
    }
    if (buf_append(&sw->found, &n32, sizeof(n32)) != RC_OK ||
        buf_append(&sw->found, key, nkey) != RC_OK ||
        buf_append(&sw->found, &r.cas, sizeof(r.cas)) != RC_OK) {
        return 0;
    }
    sw->nfound++;
    return 0;
}

/* Delete one dead key if it is still the same dead version. */
static void
coord_sweep_reap(struct coord_thread *ct, const char *key, size_t nkey, uint64_t cas)
{
    struct coord *co = ct->co;
    struct req_key k = {key, nkey};
    pthread_mutex_t *lk = coord_key_lock(co, &k);
    struct record r;
    uint64_t ticket;

    pthread_mutex_lock(lk);
    if (store_get(co->st, key, nkey, &ct->old) == RC_OK &&
        record_decode(ct->old.data, ct->old.len, &r) == RC_OK && r.cas == cas &&
        coord_record_dead(co, &r, util_now_s(), util_now_ms()) &&
        coord_remove(ct, &k, r.nvalue, &ticket) == RC_OK) {
        atomic_fetch_add(&co->reclaimed, 1);
    }
    pthread_mutex_unlock(lk);
}

static void
coord_sweep_batch(struct coord_thread *ct, struct buf *cursor, size_t max, bool *done)
{
    struct coord_sweep sw = {.co = ct->co, .now = util_now_s(), .now_ms = util_now_ms()};
    size_t off = 0;

    buf_init(&sw.found);
    if (store_scan(ct->co->st, cursor, max, coord_sweep_visit, &sw, done) != RC_OK) {
        *done = true;
    }
    while (off + sizeof(uint32_t) <= sw.found.len) {
        uint32_t n32;
        uint64_t cas;

        memcpy(&n32, sw.found.data + off, sizeof(n32));
        memcpy(&cas, sw.found.data + off + sizeof(n32) + n32, sizeof(cas));
        coord_sweep_reap(ct, sw.found.data + off + sizeof(n32), n32, cas);
        off += sizeof(n32) + n32 + sizeof(cas);
    }
    buf_deinit(&sw.found);
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

/* Background removal of expired and flushed items: at most sweep_per_sec
 * records examined per second, in batches of a tenth of that. */
static void *
coord_sweeper_main(void *arg)
{
    struct coord *co = arg;
    struct coord_thread *ct;
    struct buf cursor;
    size_t batch = co->cfg.sweep_per_sec / 10 ? co->cfg.sweep_per_sec / 10 : 1;
    bool done;

    if (coord_thread_create(co, &ct) != RC_OK) {
        log_error("sweeper: out of memory, expired items are not reclaimed in the background");
        return NULL;
    }
    buf_init(&cursor);
    while (coord_sweep_wait(co, 100)) {
        coord_sweep_batch(ct, &cursor, batch, &done);
        if (done) {
            buf_reset(&cursor);
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

struct coord_count {
    uint64_t items, bytes;
};

static int
coord_count_visit(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct coord_count *c = arg;
    struct record r;

    if (record_decode(val, nval, &r) == RC_OK) {
        c->items++;
        c->bytes += r.nvalue;
    }
    return 0;
}

/* Count what the store holds (start-up; the store is not yet shared). */
static int
coord_count_items(struct coord *co)
{
    struct coord_count c = {0, 0};
    struct buf cursor;
    bool done = false;
    int rc = RC_OK;

    buf_init(&cursor);
    while (!done && rc == RC_OK) {
        rc = store_scan(co->st, &cursor, 4096, coord_count_visit, &c, &done);
    }
    buf_deinit(&cursor);
    atomic_store(&co->curr_items, c.items);
    atomic_store(&co->bytes, c.bytes);
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
}
