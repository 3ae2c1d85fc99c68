/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hints.c - the hint store (hints.h) over the engine's hint tables
 * (engine.h): the layout, the same-key rule, the bounds, the repair set and
 * the counters live here once, for every engine.
 *
 * A target's table, ordered bytewise (all integers big-endian):
 *
 *   key                      value
 *   00                       state: u8 version (1), u64 hints, u64 bytes,
 *                            u64 next id
 *   01 | u64 id              a hint: u64 arrival ms, u32 partition,
 *                            u32 nkey, key, record
 *   02 | item key            the ids of the key's pending hints, ascending
 *                            (u64 each; one id once a merge function is used)
 *   03 | u32 partition       repair set entry: u64 first ms, u64 drops
 *
 * Ids order the hints by arrival, so a scan from 01 is the replay queue and
 * the reaper finds the oldest first. The state record changes in the same
 * transaction as every hint it counts, so the counts survive a restart (and
 * a crash: recovery replays them together); the next id is kept there too,
 * so ids are never reused. The per-key index lets a put find the hints of
 * its key without a scan, to merge them.
 *
 * Concurrency: hs->lock guards the list of targets (append-only; a target
 * lives until close). t->mu serialises every use of one target's table,
 * reads included: the in-memory copy of the state (count, bytes, next_id)
 * is then exact, the bound check cannot race, and a write transaction's
 * body computes the new state from it (it is unchanged if the body runs
 * again, and is updated only after the commit). Readers take it too
 * because, in Berkeley DB, a scan's cursor walks pages upwards while a put
 * locks the index (high), the hint (middle) and then the state (first
 * page): a replay scanning during a stream of hinted puts made the writer
 * lose deadlock after deadlock (100 in a row in the test, with the
 * youngest transaction chosen each time). Serialised, no hint transaction
 * can deadlock (targets are separate files); scans are bounded batches, so
 * writers wait little. Counters since open are atomics.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "store/engine.h"
#include "store/hints.h"

#define HK_STATE  0x00
#define HK_HINT   0x01
#define HK_INDEX  0x02
#define HK_REPAIR 0x03

#define HINT_STATE_VERSION 1
#define HINT_STATE_LEN     25
#define HINT_KEY_LEN       9
#define HINT_HDR_LEN       16
#define HINT_REPAIR_LEN    16
#define HINT_KEY_MAX       65535u
#define HINT_REAP_BATCH    64
#define HINT_LOG_EVERY_MS  1000

_Static_assert(STORE_HINT_OVERHEAD == HINT_KEY_LEN + HINT_HDR_LEN, "hint overhead");
_Static_assert(STORE_HINT_ID_SIZE == STORE_NODE_ID_SIZE, "node id size");

struct hint_target {
    uint8_t id[STORE_HINT_ID_SIZE];
    char hex[2 * STORE_HINT_ID_SIZE + 1]; /* for log lines */
    void *db;                             /* the engine's table */
    pthread_mutex_t mu;                   /* serialises writers */
    /* The state record's values; guarded by mu. */
    uint64_t count, bytes, next_id;
    /* Since open. */
    _Atomic uint64_t stored, merged, replayed, dropped_bytes, dropped_age;
    _Atomic uint64_t refused_logged; /* dropped_bytes at the last log line */
    _Atomic uint64_t last_log_ms;
};

struct hint_store {
    const struct engine_ops *ops; /* NULL: the engine has no hint tables */
    void *eng;
    uint64_t max_bytes;
    int64_t max_age_ms;
    pthread_mutex_t lock; /* guards targets, n, cap */
    struct hint_target **targets;
    size_t n, cap;
};

/* ------------------------------------------------------------ encoding */

static void
hint_key(unsigned char out[HINT_KEY_LEN], uint64_t id)
{
    out[0] = HK_HINT;
    be_put64(out + 1, id);
}

static void
repair_key(unsigned char out[5], uint32_t partition)
{
    out[0] = HK_REPAIR;
    be_put32(out + 1, partition);
}

/* The index key 02|key into b. */
static int
index_key(struct buf *b, const void *key, size_t nkey)
{
    static const unsigned char prefix = HK_INDEX;

    buf_reset(b);
    if (buf_append(b, &prefix, 1) != RC_OK || buf_append(b, key, nkey) != RC_OK) {
        return RC_ENOMEM;
    }
    return RC_OK;
}

/* Parse a hint's value; h->id is left alone. */
static int
hint_parse(const void *val, size_t nval, struct store_hint *h)
{
    const unsigned char *p = val;
    size_t nkey;

    if (nval < HINT_HDR_LEN) {
        return RC_ECORRUPT;
    }
    nkey = be_get32(p + 12);
    if (nkey == 0 || nkey > nval - HINT_HDR_LEN) {
        return RC_ECORRUPT;
    }
    h->arrival_ms = (int64_t)be_get64(p);
    h->partition = be_get32(p + 8);
    h->key = p + HINT_HDR_LEN;
    h->nkey = nkey;
    h->rec = p + HINT_HDR_LEN + nkey;
    h->nrec = nval - HINT_HDR_LEN - nkey;
    return RC_OK;
}

/* Bytes a hint of this value costs against the bound. */
static uint64_t
hint_cost(size_t nval)
{
    return HINT_KEY_LEN + (uint64_t)nval;
}

static void
state_encode(unsigned char out[HINT_STATE_LEN], uint64_t count, uint64_t bytes, uint64_t next_id)
{
    out[0] = HINT_STATE_VERSION;
    be_put64(out + 1, count);
    be_put64(out + 9, bytes);
    be_put64(out + 17, next_id);
}

/* ------------------------------------------------------------ targets */

static struct hint_store *
hints_of(struct store *st)
{
    struct hint_store *hs = st != NULL ? store_hints(st) : NULL;

    return hs != NULL && hs->ops != NULL ? hs : NULL;
}

static struct hint_target *
target_find_locked(struct hint_store *hs, const uint8_t *id)
{
    size_t i;

    for (i = 0; i < hs->n; i++) {
        if (memcmp(hs->targets[i]->id, id, STORE_HINT_ID_SIZE) == 0) {
            return hs->targets[i];
        }
    }
    return NULL;
}

struct first_entry {
    struct buf key, val;
    bool found;
};

static int
first_entry_cb(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct first_entry *fe = arg;

    fe->found = true;
    if (buf_append(&fe->key, key, nkey) != RC_OK || buf_append(&fe->val, val, nval) != RC_OK) {
        return RC_ENOMEM;
    }
    return 0;
}

/* The first entry of t's table strictly after `after` (n bytes). */
static int
first_entry(struct hint_store *hs, struct hint_target *t, const void *after, size_t n,
            struct first_entry *fe)
{
    struct buf cursor;
    bool done;
    int rc;

    buf_init(&cursor);
    fe->found = false;
    buf_reset(&fe->key);
    buf_reset(&fe->val);
    rc = buf_append(&cursor, after, n);
    if (rc == RC_OK) {
        rc = hs->ops->hint_scan(hs->eng, t->db, &cursor, 1, first_entry_cb, fe, &done);
    }
    buf_deinit(&cursor);
    return rc;
}

struct recount {
    uint64_t count, bytes, max_id;
};

static int
recount_cb(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct recount *r = arg;
    const unsigned char *k = key;

    (void)val;
    if (nkey == 0 || k[0] < HK_HINT) {
        return 0; /* the state record */
    }
    if (k[0] > HK_HINT) {
        return 1; /* past the hints: stop */
    }
    if (nkey != HINT_KEY_LEN) {
        return RC_ECORRUPT;
    }
    r->count++;
    r->bytes += hint_cost(nval);
    if (be_get64(k + 1) > r->max_id) {
        r->max_id = be_get64(k + 1);
    }
    return 0;
}

/* Read t's state record (or, for a table without one, count its hints). */
static int
target_load(struct hint_store *hs, struct hint_target *t)
{
    struct first_entry fe;
    struct recount r = {0};
    struct buf cursor;
    const unsigned char *v;
    bool done;
    int rc;

    buf_init(&fe.key);
    buf_init(&fe.val);
    rc = first_entry(hs, t, "", 0, &fe);
    if (rc == RC_OK && fe.found && fe.key.len == 1 && fe.key.data[0] == HK_STATE) {
        v = (const unsigned char *)fe.val.data;
        if (fe.val.len != HINT_STATE_LEN || v[0] != HINT_STATE_VERSION) {
            log_error("hints: the state record of target %s is malformed", t->hex);
            rc = RC_ECORRUPT;
        } else {
            t->count = be_get64(v + 1);
            t->bytes = be_get64(v + 9);
            t->next_id = be_get64(v + 17);
        }
    } else if (rc == RC_OK) {
        /* New (or never written): count what is there to be safe. */
        buf_init(&cursor);
        rc = hs->ops->hint_scan(hs->eng, t->db, &cursor, 0, recount_cb, &r, &done);
        buf_deinit(&cursor);
        if (rc == 1) {
            rc = RC_OK;
        }
        t->count = r.count;
        t->bytes = r.bytes;
        t->next_id = r.max_id + 1;
    }
    buf_deinit(&fe.key);
    buf_deinit(&fe.val);
    if (t->next_id == 0) {
        t->next_id = 1;
    }
    return rc;
}

static void
target_free(struct hint_store *hs, struct hint_target *t)
{
    if (t->db != NULL) {
        hs->ops->hint_close(hs->eng, t->db);
    }
    pthread_mutex_destroy(&t->mu);
    rc_free(t);
}

/* Caller holds hs->lock. Open t's table and add it to the list. */
static int
target_add_locked(struct hint_store *hs, const uint8_t *id, struct hint_target **out)
{
    static const char hex[] = "0123456789abcdef";
    struct hint_target *t, **grown;
    size_t i, cap;
    int rc;

    if (hs->n == hs->cap) {
        cap = hs->cap ? hs->cap * 2 : 8;
        grown = rc_realloc(hs->targets, cap * sizeof(*grown));
        if (grown == NULL) {
            return RC_ENOMEM;
        }
        hs->targets = grown;
        hs->cap = cap;
    }
    t = rc_calloc(1, sizeof(*t));
    if (t == NULL) {
        return RC_ENOMEM;
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        rc_free(t);
        return RC_ENOMEM;
    }
    memcpy(t->id, id, STORE_HINT_ID_SIZE);
    for (i = 0; i < STORE_HINT_ID_SIZE; i++) {
        t->hex[2 * i] = hex[id[i] >> 4];
        t->hex[2 * i + 1] = hex[id[i] & 15];
    }
    rc = hs->ops->hint_open(hs->eng, id, &t->db);
    if (rc == RC_OK) {
        rc = target_load(hs, t);
    }
    if (rc != RC_OK) {
        log_error("hints: cannot open the hint table of target %s: %s", t->hex, rc_strerror(rc));
        target_free(hs, t);
        return rc;
    }
    hs->targets[hs->n++] = t;
    *out = t;
    return RC_OK;
}

/* The target's state, creating its table if `create`; NULL (with *rc
 * RC_ENOTFOUND) for an unknown target otherwise. */
static struct hint_target *
target_get(struct hint_store *hs, const uint8_t *id, bool create, int *rc)
{
    struct hint_target *t;

    *rc = RC_OK;
    pthread_mutex_lock(&hs->lock);
    t = target_find_locked(hs, id);
    if (t == NULL) {
        *rc = create ? target_add_locked(hs, id, &t) : RC_ENOTFOUND;
    }
    pthread_mutex_unlock(&hs->lock);
    return *rc == RC_OK ? t : NULL;
}

/* The ids the engine lists, collected first: the engine may hold its own
 * locks while it lists, and opening a table may need them. */
struct id_list {
    uint8_t (*ids)[STORE_HINT_ID_SIZE];
    size_t n, cap;
};

static int
hints_list_one(void *arg, const uint8_t *id)
{
    struct id_list *l = arg;
    uint8_t(*grown)[STORE_HINT_ID_SIZE];
    size_t cap;

    if (l->n == l->cap) {
        cap = l->cap ? l->cap * 2 : 8;
        grown = rc_realloc(l->ids, cap * sizeof(*grown));
        if (grown == NULL) {
            return RC_ENOMEM;
        }
        l->ids = grown;
        l->cap = cap;
    }
    memcpy(l->ids[l->n++], id, STORE_HINT_ID_SIZE);
    return 0;
}

static int
hints_open_all(struct hint_store *hs)
{
    struct id_list l = {0};
    struct hint_target *t;
    size_t i;
    int rc;

    rc = hs->ops->hint_list(hs->eng, hints_list_one, &l);
    pthread_mutex_lock(&hs->lock);
    for (i = 0; rc == RC_OK && i < l.n; i++) {
        if (target_find_locked(hs, l.ids[i]) == NULL) {
            rc = target_add_locked(hs, l.ids[i], &t);
        }
    }
    pthread_mutex_unlock(&hs->lock);
    rc_free(l.ids);
    return rc;
}

int
hints_open(const struct engine_ops *ops, void *eng, const struct store_config *cfg,
           struct hint_store **out)
{
    struct hint_store *hs;
    uint64_t pending = 0;
    size_t i;
    int rc;

    hs = rc_calloc(1, sizeof(*hs));
    if (hs == NULL) {
        return RC_ENOMEM;
    }
    if (pthread_mutex_init(&hs->lock, NULL) != 0) {
        rc_free(hs);
        return RC_ENOMEM;
    }
    hs->max_bytes = cfg->hint_max_bytes;
    hs->max_age_ms = cfg->hint_max_age_ms > 0 ? cfg->hint_max_age_ms : 0;
    if (ops->hint_txn != NULL && ops->hint_list != NULL && ops->hint_open != NULL &&
        ops->hint_close != NULL && ops->hint_get != NULL && ops->hint_put != NULL &&
        ops->hint_del != NULL && ops->hint_scan != NULL) {
        hs->ops = ops;
        hs->eng = eng;
        rc = hints_open_all(hs);
        if (rc != RC_OK) {
            hints_close(hs);
            return rc;
        }
    }
    for (i = 0; i < hs->n; i++) {
        pending += hs->targets[i]->count;
    }
    if (hs->n > 0) {
        log_info("hints: %zu target(s), %llu hint(s) pending", hs->n, (unsigned long long)pending);
    }
    *out = hs;
    return RC_OK;
}

void
hints_close(struct hint_store *hs)
{
    size_t i;

    if (hs == NULL) {
        return;
    }
    for (i = 0; i < hs->n; i++) {
        target_free(hs, hs->targets[i]);
    }
    rc_free(hs->targets);
    pthread_mutex_destroy(&hs->lock);
    rc_free(hs);
}

/* ------------------------------------------------------------ transactions */

/* Write the state record inside tx. */
static int
state_put(struct hint_store *hs, void *tx, uint64_t count, uint64_t bytes, uint64_t next_id)
{
    static const unsigned char key = HK_STATE;
    unsigned char v[HINT_STATE_LEN];

    state_encode(v, count, bytes, next_id);
    return hs->ops->hint_put(hs->eng, tx, &key, 1, v, sizeof(v));
}

/* Add n drops of partition to the repair set inside tx. */
static int
repair_add(struct hint_store *hs, void *tx, struct buf *scratch, uint32_t partition, int64_t now_ms,
           uint64_t n)
{
    unsigned char k[5], v[HINT_REPAIR_LEN];
    uint64_t first = (uint64_t)now_ms, drops = n;
    int rc;

    repair_key(k, partition);
    rc = hs->ops->hint_get(hs->eng, tx, k, sizeof(k), scratch);
    if (rc == RC_OK) {
        if (scratch->len != HINT_REPAIR_LEN) {
            return RC_ECORRUPT;
        }
        first = be_get64((const unsigned char *)scratch->data);
        drops += be_get64((const unsigned char *)scratch->data + 8);
    } else if (rc != RC_ENOTFOUND) {
        return rc;
    }
    be_put64(v, first);
    be_put64(v + 8, drops);
    return hs->ops->hint_put(hs->eng, tx, k, sizeof(k), v, sizeof(v));
}

/* Remove the id `id` from the index of key inside tx. */
static int
index_remove(struct hint_store *hs, void *tx, struct buf *ikey, struct buf *idx, const void *key,
             size_t nkey, uint64_t id)
{
    unsigned char *p;
    size_t i, n;
    int rc;

    if ((rc = index_key(ikey, key, nkey)) != RC_OK) {
        return rc;
    }
    rc = hs->ops->hint_get(hs->eng, tx, ikey->data, ikey->len, idx);
    if (rc != RC_OK) {
        return rc == RC_ENOTFOUND ? RC_ECORRUPT : rc;
    }
    p = (unsigned char *)idx->data;
    n = idx->len / 8;
    if (idx->len % 8 != 0) {
        return RC_ECORRUPT;
    }
    for (i = 0; i < n && be_get64(p + 8 * i) != id; i++) {
    }
    if (i == n) {
        return RC_ECORRUPT;
    }
    if (n == 1) {
        return hs->ops->hint_del(hs->eng, tx, ikey->data, ikey->len);
    }
    memmove(p + 8 * i, p + 8 * (i + 1), 8 * (n - i - 1));
    return hs->ops->hint_put(hs->eng, tx, ikey->data, ikey->len, p, idx->len - 8);
}

/* Several transactions remove hints: a delete after an ack, a reap. */
struct remove_ctx {
    struct hint_store *hs;
    struct hint_target *t;
    const uint64_t *ids; /* to remove */
    size_t nids;
    bool reap;      /* by age: only expired ones, recording repairs */
    int64_t now_ms; /* reap */
    struct buf val, ikey, idx, scratch;
    /* Results, valid after a commit. */
    uint64_t count, bytes, removed;
};

static int
remove_body(void *arg, void *tx)
{
    struct remove_ctx *c = arg;
    struct hint_store *hs = c->hs;
    struct store_hint h;
    unsigned char k[HINT_KEY_LEN];
    size_t i;
    int rc;

    c->count = c->t->count;
    c->bytes = c->t->bytes;
    c->removed = 0;
    for (i = 0; i < c->nids; i++) {
        hint_key(k, c->ids[i]);
        rc = hs->ops->hint_get(hs->eng, tx, k, sizeof(k), &c->val);
        if (rc == RC_ENOTFOUND && c->reap) {
            continue;
        }
        if (rc != RC_OK) {
            return rc;
        }
        if ((rc = hint_parse(c->val.data, c->val.len, &h)) != RC_OK) {
            return rc;
        }
        if (c->reap && (c->now_ms - h.arrival_ms < hs->max_age_ms)) {
            continue; /* not expired (cannot happen: the caller checked) */
        }
        if ((rc = index_remove(hs, tx, &c->ikey, &c->idx, h.key, h.nkey, c->ids[i])) != RC_OK ||
            (c->reap &&
             (rc = repair_add(hs, tx, &c->scratch, h.partition, c->now_ms, 1)) != RC_OK) ||
            (rc = hs->ops->hint_del(hs->eng, tx, k, sizeof(k))) != RC_OK) {
            return rc;
        }
        c->count = c->count > 0 ? c->count - 1 : 0;
        c->bytes -= hint_cost(c->val.len) < c->bytes ? hint_cost(c->val.len) : c->bytes;
        c->removed++;
    }
    if (c->removed == 0) {
        return RC_ENOTFOUND; /* nothing to write */
    }
    return state_put(hs, tx, c->count, c->bytes, c->t->next_id);
}

static void
remove_ctx_init(struct remove_ctx *c, struct hint_store *hs, struct hint_target *t)
{
    memset(c, 0, sizeof(*c));
    c->hs = hs;
    c->t = t;
    buf_init(&c->val);
    buf_init(&c->ikey);
    buf_init(&c->idx);
    buf_init(&c->scratch);
}

static void
remove_ctx_deinit(struct remove_ctx *c)
{
    buf_deinit(&c->val);
    buf_deinit(&c->ikey);
    buf_deinit(&c->idx);
    buf_deinit(&c->scratch);
}

/* ------------------------------------------------------------ put */

struct put_ctx {
    struct hint_store *hs;
    struct hint_target *t;
    const struct store_hint *h;
    store_hint_merge_fn merge;
    void *merge_arg;
    struct buf ikey, idx, old, acc[2], val;
    /* Results, valid after a commit. */
    uint64_t id, count, bytes;
    bool merged;
};

/* Fold the pending hints of the key (their ids in c->idx) and the new
 * record into c->acc[*cur], removing their cost from *count and *bytes. */
static int
put_fold(struct put_ctx *c, void *tx, uint64_t *count, uint64_t *bytes, int *cur)
{
    struct hint_store *hs = c->hs;
    const unsigned char *ids = (const unsigned char *)c->idx.data;
    unsigned char k[HINT_KEY_LEN];
    struct store_hint o;
    size_t i, n = c->idx.len / 8;
    int rc;

    *cur = 0;
    buf_reset(&c->acc[0]);
    for (i = 0; i < n; i++) {
        hint_key(k, be_get64(ids + 8 * i));
        rc = hs->ops->hint_get(hs->eng, tx, k, sizeof(k), &c->old);
        if (rc != RC_OK) {
            return rc == RC_ENOTFOUND ? RC_ECORRUPT : rc;
        }
        if ((rc = hint_parse(c->old.data, c->old.len, &o)) != RC_OK) {
            return rc;
        }
        if (o.nkey != c->h->nkey || memcmp(o.key, c->h->key, o.nkey) != 0) {
            return RC_ECORRUPT;
        }
        *count -= *count > 0 ? 1 : 0;
        *bytes -= hint_cost(c->old.len) < *bytes ? hint_cost(c->old.len) : *bytes;
        if (i == 0) {
            if (buf_append(&c->acc[0], o.rec, o.nrec) != RC_OK) {
                return RC_ENOMEM;
            }
            continue;
        }
        buf_reset(&c->acc[!*cur]);
        rc = c->merge(c->merge_arg, c->acc[*cur].data, c->acc[*cur].len, o.rec, o.nrec,
                      &c->acc[!*cur]);
        if (rc != RC_OK) {
            return rc;
        }
        *cur = !*cur;
    }
    buf_reset(&c->acc[!*cur]);
    rc = c->merge(c->merge_arg, c->acc[*cur].data, c->acc[*cur].len, c->h->rec, c->h->nrec,
                  &c->acc[!*cur]);
    if (rc != RC_OK) {
        return rc;
    }
    *cur = !*cur;
    return RC_OK;
}

static int
put_body(void *arg, void *tx)
{
    struct put_ctx *c = arg;
    struct hint_store *hs = c->hs;
    const struct store_hint *h = c->h;
    unsigned char k[HINT_KEY_LEN], hdr[HINT_HDR_LEN], idbuf[8];
    uint64_t count = c->t->count, bytes = c->t->bytes, id = c->t->next_id, cost;
    const void *rec = h->rec;
    size_t nrec = h->nrec, i, nold;
    int rc, cur;

    c->merged = false;
    rc = hs->ops->hint_get(hs->eng, tx, c->ikey.data, c->ikey.len, &c->idx);
    if (rc == RC_ENOTFOUND) {
        buf_reset(&c->idx);
    } else if (rc != RC_OK) {
        return rc;
    }
    if (c->idx.len % 8 != 0) {
        return RC_ECORRUPT;
    }
    nold = c->idx.len / 8;
    if (c->merge != NULL && nold > 0) {
        if ((rc = put_fold(c, tx, &count, &bytes, &cur)) != RC_OK) {
            return rc;
        }
        rec = c->acc[cur].data;
        nrec = c->acc[cur].len;
        c->merged = true;
    }
    /* The value: header, key, record. */
    be_put64(hdr, (uint64_t)h->arrival_ms);
    be_put32(hdr + 8, h->partition);
    be_put32(hdr + 12, (uint32_t)h->nkey);
    buf_reset(&c->val);
    if (buf_append(&c->val, hdr, sizeof(hdr)) != RC_OK ||
        buf_append(&c->val, h->key, h->nkey) != RC_OK ||
        buf_append(&c->val, rec != NULL ? rec : "", nrec) != RC_OK) {
        return RC_ENOMEM;
    }
    if (c->val.len > UINT32_MAX) {
        return RC_EINVAL; /* a merge grew past what a table holds (not the bound) */
    }
    cost = hint_cost(c->val.len);
    if (hs->max_bytes != 0 && (cost > hs->max_bytes || bytes > hs->max_bytes - cost)) {
        return RC_ETOOLARGE; /* aborts: the absorbed hints stay */
    }
    if (c->merged) {
        const unsigned char *ids = (const unsigned char *)c->idx.data;

        for (i = 0; i < nold; i++) {
            hint_key(k, be_get64(ids + 8 * i));
            if ((rc = hs->ops->hint_del(hs->eng, tx, k, sizeof(k))) != RC_OK) {
                return rc;
            }
        }
        buf_reset(&c->idx);
    }
    be_put64(idbuf, id);
    if (buf_append(&c->idx, idbuf, sizeof(idbuf)) != RC_OK) {
        return RC_ENOMEM;
    }
    hint_key(k, id);
    if ((rc = hs->ops->hint_put(hs->eng, tx, k, sizeof(k), c->val.data, c->val.len)) != RC_OK ||
        (rc = hs->ops->hint_put(hs->eng, tx, c->ikey.data, c->ikey.len, c->idx.data, c->idx.len)) !=
            RC_OK ||
        (rc = state_put(hs, tx, count + 1, bytes + cost, id + 1)) != RC_OK) {
        return rc;
    }
    c->id = id;
    c->count = count + 1;
    c->bytes = bytes + cost;
    return RC_OK;
}

struct mark_ctx {
    struct hint_store *hs;
    uint32_t partition;
    int64_t now_ms;
    struct buf scratch;
};

static int
mark_body(void *arg, void *tx)
{
    struct mark_ctx *c = arg;

    return repair_add(c->hs, tx, &c->scratch, c->partition, c->now_ms, 1);
}

/* Log a refusal, at most once a second per target (with the count). */
static void
log_refusal(struct hint_store *hs, struct hint_target *t, uint32_t partition, int mark_rc)
{
    uint64_t now = util_mono_ms(), last = atomic_load(&t->last_log_ms);
    uint64_t total = atomic_load(&t->dropped_bytes), before;

    if (mark_rc != RC_OK) {
        log_error("hints: a hint for target %s (partition %u) was refused by the byte bound "
                  "and its partition could NOT be recorded for repair: %s",
                  t->hex, partition, rc_strerror(mark_rc));
        return;
    }
    if (last != 0 && now - last < HINT_LOG_EVERY_MS) {
        return;
    }
    if (!atomic_compare_exchange_strong(&t->last_log_ms, &last, now ? now : 1)) {
        return;
    }
    before = atomic_exchange(&t->refused_logged, total);
    log_warn("hints: target %s is at its bound of %llu bytes: %llu hint(s) refused since the "
             "last report (%llu in all; last partition %u); their partitions are marked for "
             "repair",
             t->hex, (unsigned long long)hs->max_bytes, (unsigned long long)(total - before),
             (unsigned long long)total, partition);
}

int
store_hint_put(struct store *st, const uint8_t *target, struct store_hint *h,
               store_hint_merge_fn merge, void *merge_arg)
{
    struct hint_store *hs = hints_of(st);
    struct hint_target *t;
    struct put_ctx c;
    struct mark_ctx m;
    int rc, mrc;

    if (st == NULL || target == NULL || h == NULL || h->key == NULL || h->nkey == 0 ||
        h->nkey > HINT_KEY_MAX || (h->nrec > 0 && h->rec == NULL) ||
        h->nrec > UINT32_MAX - HINT_HDR_LEN - HINT_KEY_MAX) {
        return RC_EINVAL;
    }
    if (hs == NULL) {
        return RC_EDISABLED;
    }
    t = target_get(hs, target, true, &rc);
    if (t == NULL) {
        return rc;
    }
    memset(&c, 0, sizeof(c));
    c.hs = hs;
    c.t = t;
    c.h = h;
    c.merge = merge;
    c.merge_arg = merge_arg;
    buf_init(&c.ikey);
    buf_init(&c.idx);
    buf_init(&c.old);
    buf_init(&c.acc[0]);
    buf_init(&c.acc[1]);
    buf_init(&c.val);
    pthread_mutex_lock(&t->mu);
    rc = index_key(&c.ikey, h->key, h->nkey);
    if (rc == RC_OK) {
        rc = hs->ops->hint_txn(hs->eng, t->db, put_body, &c);
    }
    if (rc == RC_OK) {
        t->count = c.count;
        t->bytes = c.bytes;
        t->next_id = c.id + 1;
        h->id = c.id;
        atomic_fetch_add(&t->stored, 1);
        if (c.merged) {
            atomic_fetch_add(&t->merged, 1);
        }
    } else if (rc == RC_ETOOLARGE) {
        m = (struct mark_ctx){.hs = hs, .partition = h->partition, .now_ms = h->arrival_ms};
        buf_init(&m.scratch);
        mrc = hs->ops->hint_txn(hs->eng, t->db, mark_body, &m);
        buf_deinit(&m.scratch);
        atomic_fetch_add(&t->dropped_bytes, 1);
        log_refusal(hs, t, h->partition, mrc);
        if (mrc != RC_OK) {
            rc = mrc; /* the refusal could not be recorded: say why */
        }
    }
    pthread_mutex_unlock(&t->mu);
    buf_deinit(&c.ikey);
    buf_deinit(&c.idx);
    buf_deinit(&c.old);
    buf_deinit(&c.acc[0]);
    buf_deinit(&c.acc[1]);
    buf_deinit(&c.val);
    return rc;
}

/* ------------------------------------------------------------ delete, reap */

int
store_hint_delete(struct store *st, const uint8_t *target, uint64_t id)
{
    struct hint_store *hs = hints_of(st);
    struct hint_target *t;
    struct remove_ctx c;
    int rc;

    if (st == NULL || target == NULL || id == 0) {
        return RC_EINVAL;
    }
    if (hs == NULL) {
        return RC_EDISABLED;
    }
    t = target_get(hs, target, false, &rc);
    if (t == NULL) {
        return rc;
    }
    remove_ctx_init(&c, hs, t);
    c.ids = &id;
    c.nids = 1;
    pthread_mutex_lock(&t->mu);
    rc = hs->ops->hint_txn(hs->eng, t->db, remove_body, &c);
    if (rc == RC_OK) {
        t->count = c.count;
        t->bytes = c.bytes;
        atomic_fetch_add(&t->replayed, 1);
    }
    pthread_mutex_unlock(&t->mu);
    remove_ctx_deinit(&c);
    return rc;
}

struct expired_scan {
    int64_t now_ms, max_age_ms;
    uint64_t ids[HINT_REAP_BATCH];
    size_t n;
    bool young; /* met a hint that is not expired: stop reaping */
};

static int
expired_cb(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct expired_scan *e = arg;
    const unsigned char *k = key;
    struct store_hint h;

    if (nkey != HINT_KEY_LEN || k[0] != HK_HINT) {
        e->young = true; /* past the last hint */
        return 1;
    }
    if (hint_parse(val, nval, &h) != RC_OK) {
        return RC_ECORRUPT;
    }
    if (e->now_ms - h.arrival_ms < e->max_age_ms) {
        e->young = true;
        return 1;
    }
    e->ids[e->n++] = be_get64(k + 1);
    return 0;
}

/* Reap target t; *reaped grows by the number deleted. */
static int
reap_target(struct hint_store *hs, struct hint_target *t, int64_t now_ms, uint64_t *reaped)
{
    static const unsigned char start = HK_HINT;
    struct expired_scan e;
    struct remove_ctx c;
    struct buf cursor;
    uint64_t total = 0;
    bool done = false;
    int rc = RC_OK;

    buf_init(&cursor);
    remove_ctx_init(&c, hs, t);
    pthread_mutex_lock(&t->mu);
    while (!done) {
        memset(&e, 0, sizeof(e));
        e.now_ms = now_ms;
        e.max_age_ms = hs->max_age_ms;
        buf_reset(&cursor);
        if (buf_append(&cursor, &start, 1) != RC_OK) {
            rc = RC_ENOMEM;
            break;
        }
        rc = hs->ops->hint_scan(hs->eng, t->db, &cursor, HINT_REAP_BATCH, expired_cb, &e, &done);
        if (rc == 1 && e.young) {
            rc = RC_OK;
            done = true;
        }
        if (rc != RC_OK || e.n == 0) {
            break;
        }
        c.ids = e.ids;
        c.nids = e.n;
        c.reap = true;
        c.now_ms = now_ms;
        rc = hs->ops->hint_txn(hs->eng, t->db, remove_body, &c);
        if (rc == RC_ENOTFOUND) {
            rc = RC_OK; /* none left to remove after all */
            break;
        }
        if (rc != RC_OK) {
            break;
        }
        t->count = c.count;
        t->bytes = c.bytes;
        total += c.removed;
        atomic_fetch_add(&t->dropped_age, c.removed);
    }
    pthread_mutex_unlock(&t->mu);
    remove_ctx_deinit(&c);
    buf_deinit(&cursor);
    if (total > 0) {
        log_warn("hints: dropped %llu hint(s) for target %s older than %lld s; their partitions "
                 "are marked for repair",
                 (unsigned long long)total, t->hex, (long long)(hs->max_age_ms / 1000));
    }
    if (rc != RC_OK) {
        log_error("hints: reaping the hints of target %s failed: %s", t->hex, rc_strerror(rc));
    }
    *reaped += total;
    return rc;
}

/* A snapshot of the targets (they live until close). */
static int
targets_snapshot(struct hint_store *hs, struct hint_target ***out, size_t *n)
{
    pthread_mutex_lock(&hs->lock);
    *n = hs->n;
    *out = rc_malloc((hs->n ? hs->n : 1) * sizeof(**out));
    if (*out != NULL && hs->n > 0) {
        memcpy(*out, hs->targets, hs->n * sizeof(**out));
    }
    pthread_mutex_unlock(&hs->lock);
    return *out != NULL ? RC_OK : RC_ENOMEM;
}

int
store_hint_reap(struct store *st, int64_t now_ms, uint64_t *reaped)
{
    struct hint_store *hs = hints_of(st);
    struct hint_target **ts;
    uint64_t total = 0;
    size_t i, n;
    int rc, first = RC_OK;

    if (reaped != NULL) {
        *reaped = 0;
    }
    if (hs == NULL) {
        return st == NULL ? RC_EINVAL : RC_EDISABLED;
    }
    if (hs->max_age_ms == 0) {
        return RC_OK;
    }
    if ((rc = targets_snapshot(hs, &ts, &n)) != RC_OK) {
        return rc;
    }
    for (i = 0; i < n; i++) {
        rc = reap_target(hs, ts[i], now_ms, &total);
        if (rc != RC_OK && first == RC_OK) {
            first = rc; /* go on with the other targets */
        }
    }
    rc_free(ts);
    if (reaped != NULL) {
        *reaped = total;
    }
    return first;
}

/* ------------------------------------------------------------ reading */

struct user_scan {
    store_hint_fn fn;
    void *arg;
    uint64_t last;
    bool ended; /* met an entry past the hints */
};

static int
user_scan_cb(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct user_scan *u = arg;
    const unsigned char *k = key;
    struct store_hint h;

    if (nkey != HINT_KEY_LEN || k[0] != HK_HINT) {
        u->ended = true;
        return 1;
    }
    if (hint_parse(val, nval, &h) != RC_OK) {
        return RC_ECORRUPT;
    }
    h.id = be_get64(k + 1);
    u->last = h.id;
    return u->fn(u->arg, &h);
}

int
store_hint_scan(struct store *st, const uint8_t *target, uint64_t *cursor, size_t max,
                store_hint_fn fn, void *arg, bool *done)
{
    struct hint_store *hs = hints_of(st);
    struct user_scan u = {.fn = fn, .arg = arg};
    unsigned char k[HINT_KEY_LEN];
    struct hint_target *t;
    struct buf cur;
    int rc;

    if (done != NULL) {
        *done = false;
    }
    if (st == NULL || target == NULL || cursor == NULL || fn == NULL || done == NULL) {
        return RC_EINVAL;
    }
    if (hs == NULL) {
        return RC_EDISABLED;
    }
    t = target_get(hs, target, false, &rc);
    if (t == NULL) {
        *done = true;
        return rc == RC_ENOTFOUND ? RC_OK : rc;
    }
    u.last = *cursor;
    hint_key(k, *cursor);
    buf_init(&cur);
    rc = buf_append(&cur, k, sizeof(k));
    if (rc == RC_OK) {
        pthread_mutex_lock(&t->mu);
        rc = hs->ops->hint_scan(hs->eng, t->db, &cur, max, user_scan_cb, &u, done);
        pthread_mutex_unlock(&t->mu);
    }
    buf_deinit(&cur);
    if (u.ended) {
        rc = RC_OK;
        *done = true;
    }
    *cursor = u.last;
    return rc;
}

int
store_hint_targets(struct store *st, int (*fn)(void *arg, const uint8_t *target), void *arg)
{
    struct hint_store *hs = hints_of(st);
    struct hint_target **ts;
    size_t i, n;
    int rc;

    if (st == NULL || fn == NULL) {
        return RC_EINVAL;
    }
    if (hs == NULL) {
        return RC_OK; /* no targets */
    }
    if ((rc = targets_snapshot(hs, &ts, &n)) != RC_OK) {
        return rc;
    }
    for (i = 0; i < n && rc == 0; i++) {
        rc = fn(arg, ts[i]->id);
    }
    rc_free(ts);
    return rc;
}

struct repair_scan {
    const uint8_t *target;
    store_hint_repair_fn fn; /* NULL: only count */
    void *arg;
    uint64_t n;
    bool ended;
};

static int
repair_scan_cb(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct repair_scan *r = arg;
    const unsigned char *k = key, *v = val;

    if (nkey != 5 || k[0] != HK_REPAIR) {
        r->ended = true;
        return 1;
    }
    if (nval != HINT_REPAIR_LEN) {
        return RC_ECORRUPT;
    }
    r->n++;
    if (r->fn == NULL) {
        return 0;
    }
    return r->fn(r->arg, r->target, be_get32(k + 1), (int64_t)be_get64(v), be_get64(v + 8));
}

static int
repair_scan(struct hint_store *hs, struct hint_target *t, struct repair_scan *r)
{
    static const unsigned char start = HK_REPAIR; /* every 03|partition follows it */
    struct buf cursor;
    bool done;
    int rc;

    buf_init(&cursor);
    r->target = t->id;
    r->ended = false;
    rc = buf_append(&cursor, &start, 1);
    if (rc == RC_OK) {
        pthread_mutex_lock(&t->mu);
        rc = hs->ops->hint_scan(hs->eng, t->db, &cursor, 0, repair_scan_cb, r, &done);
        pthread_mutex_unlock(&t->mu);
    }
    buf_deinit(&cursor);
    return r->ended && rc == 1 ? RC_OK : rc;
}

int
store_hint_repairs(struct store *st, const uint8_t *target, store_hint_repair_fn fn, void *arg)
{
    struct hint_store *hs = hints_of(st);
    struct repair_scan r = {.fn = fn, .arg = arg};
    struct hint_target **ts, *t;
    size_t i, n;
    int rc;

    if (st == NULL || fn == NULL) {
        return RC_EINVAL;
    }
    if (hs == NULL) {
        return RC_OK;
    }
    if (target != NULL) {
        t = target_get(hs, target, false, &rc);
        if (t == NULL) {
            return rc == RC_ENOTFOUND ? RC_OK : rc;
        }
        return repair_scan(hs, t, &r);
    }
    if ((rc = targets_snapshot(hs, &ts, &n)) != RC_OK) {
        return rc;
    }
    for (i = 0; i < n && rc == RC_OK; i++) {
        rc = repair_scan(hs, ts[i], &r);
    }
    rc_free(ts);
    return rc;
}

struct clear_ctx {
    struct hint_store *hs;
    uint32_t partition;
};

static int
clear_body(void *arg, void *tx)
{
    struct clear_ctx *c = arg;
    unsigned char k[5];

    repair_key(k, c->partition);
    return c->hs->ops->hint_del(c->hs->eng, tx, k, sizeof(k));
}

int
store_hint_repair_clear(struct store *st, const uint8_t *target, uint32_t partition)
{
    struct hint_store *hs = hints_of(st);
    struct clear_ctx c = {.hs = hs, .partition = partition};
    struct hint_target *t;
    int rc;

    if (st == NULL || target == NULL) {
        return RC_EINVAL;
    }
    if (hs == NULL) {
        return RC_EDISABLED;
    }
    t = target_get(hs, target, false, &rc);
    if (t == NULL) {
        return rc;
    }
    pthread_mutex_lock(&t->mu);
    rc = hs->ops->hint_txn(hs->eng, t->db, clear_body, &c);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int
store_hint_stats(struct store *st, const uint8_t *target, struct store_hint_stats *out)
{
    static const unsigned char start = HK_HINT;
    struct hint_store *hs = hints_of(st);
    struct repair_scan r = {0};
    struct first_entry fe;
    struct store_hint h;
    struct hint_target *t;
    int rc;

    if (st == NULL || target == NULL || out == NULL) {
        return RC_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (hs == NULL) {
        return RC_EDISABLED;
    }
    t = target_get(hs, target, false, &rc);
    if (t == NULL) {
        return rc;
    }
    buf_init(&fe.key);
    buf_init(&fe.val);
    pthread_mutex_lock(&t->mu);
    out->pending = t->count;
    out->bytes = t->bytes;
    rc = first_entry(hs, t, &start, 1, &fe);
    pthread_mutex_unlock(&t->mu);
    out->stored = atomic_load(&t->stored);
    out->merged = atomic_load(&t->merged);
    out->replayed = atomic_load(&t->replayed);
    out->dropped_bytes = atomic_load(&t->dropped_bytes);
    out->dropped_age = atomic_load(&t->dropped_age);
    if (rc == RC_OK && fe.found && fe.key.len == HINT_KEY_LEN && fe.key.data[0] == HK_HINT &&
        hint_parse(fe.val.data, fe.val.len, &h) == RC_OK) {
        out->oldest_ms = h.arrival_ms;
    }
    buf_deinit(&fe.key);
    buf_deinit(&fe.val);
    if (rc == RC_OK) {
        rc = repair_scan(hs, t, &r);
        out->repair_parts = r.n;
    }
    return rc;
}

void
hints_emit_stats(struct hint_store *hs, store_stat_fn emit, void *arg)
{
    uint64_t pending = 0, bytes = 0, dropped = 0, replayed = 0;
    struct hint_target **ts;
    size_t i, n;

    if (hs == NULL || hs->ops == NULL || targets_snapshot(hs, &ts, &n) != RC_OK) {
        return;
    }
    for (i = 0; i < n; i++) {
        struct hint_target *t = ts[i];

        pthread_mutex_lock(&t->mu);
        pending += t->count;
        bytes += t->bytes;
        pthread_mutex_unlock(&t->mu);
        dropped += atomic_load(&t->dropped_bytes) + atomic_load(&t->dropped_age);
        replayed += atomic_load(&t->replayed);
    }
    rc_free(ts);
    store_emit_u64(emit, arg, "hints_targets", n);
    store_emit_u64(emit, arg, "hints_pending", pending);
    store_emit_u64(emit, arg, "hints_bytes", bytes);
    store_emit_u64(emit, arg, "hints_replayed", replayed);
    store_emit_u64(emit, arg, "hints_dropped", dropped);
}
