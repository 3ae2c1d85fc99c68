/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store.c - the engine-independent half of the store: open/close dispatch to
 * an engine table (engine.h), sync-mode names, and the durability machinery
 * (one sync thread doing group commit: for ALWAYS one fsync covers a group of
 * commits; for BATCH one write(2) to the OS covers a group, plus an fsync at
 * least every sync_interval_ms).
 *
 * Group commit, the ticket rule:
 *
 *   writer: ops->put commits (no fsync)  -> t = flushes_started + 1
 *   flusher: k = ++flushes_started;  ops->flush_log() (ALWAYS, on the sync
 *            thread) or ops->write_log() (BATCH, on the writer's own thread
 *            through store_sync_write_now);  flushes_completed = k
 *
 * flush_log makes durable (write_log: safe from a process crash) every commit
 * completed before it started. Rounds never overlap (round_mu). A commit
 * that returned before the writer read flushes_started == t - 1 is covered by
 * flush t, which starts strictly later. Rounds run one at a time (from the
 * sync thread or, under BATCH, from writers, serialised by round_mu), so
 * flushes_completed >= t means flush t has finished: the ticket is
 * resolved, RC_OK unless flush t failed (then its error, RC_EIO or RC_ENOSPC;
 * a later successful flush does not retract the failure). Failed flush numbers
 * are remembered in a small ring; a ticket older than the ring whose fate was
 * forgotten answers RC_EIO, erring towards "not durable".
 *
 * Threads and locks: `lock` guards every field of the sync section. Writers
 * take it briefly in store_sync_ticket/check; the sync thread drops it while
 * flushing and while calling subscribers, so notify may call
 * store_sync_check. `subs_mu` guards the subscribers and is held while they
 * are called (lock order: subs_mu, then lock), so once
 * store_sync_unsubscribe returns no call to that subscriber is running and
 * none will start. Close stops the thread after it has resolved every ticket
 * handed out.
 *
 * Ownership: struct store owns the engine state (eng) and a copy of the
 * config including its data_dir string.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "store/cache.h"
#include "store/engine.h"
#include "store/store.h"

#define STORE_MAX_SUBSCRIBERS          64
#define STORE_FAIL_RING                64
#define STORE_DEFAULT_SYNC_INTERVAL_MS 1000

struct store_sub {
    void (*notify)(void *arg);
    void *arg;
};

struct store_fail {
    uint64_t flush; /* flush number that failed */
    int rc;         /* RC_EIO or RC_ENOSPC */
};

struct store {
    const struct engine_ops *ops; /* static table */
    void *eng;                    /* owned; ops->close releases it */
    struct store_config cfg;      /* copy; cfg.data_dir == data_dir */
    char *data_dir;               /* owned */
    struct cache *cache;          /* owned; NULL when hot_cache_bytes is 0 */
    struct hint_store *hints;     /* owned (hints.c) */
    /* Speculative inserts by store_update (see store_update_engine). */
    _Atomic uint64_t spec_tries, spec_wins, spec_skips;
    _Atomic uint64_t spec_tries_total, spec_wins_total;

    bool has_thread;
    pthread_t thread;
    pthread_mutex_t round_mu; /* serialises flush rounds; taken before lock */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* sync thread sleeps here (monotonic clock) */
    bool stopping;
    uint64_t requested; /* highest ticket handed out */
    uint64_t started;   /* flushes started */
    uint64_t completed; /* flushes completed (ok or failed) */
    struct store_fail fails[STORE_FAIL_RING];
    uint64_t nfails;         /* failed flushes ever; ring holds the last ones */
    uint64_t fail_horizon;   /* newest failed flush pushed out of the ring */
    pthread_mutex_t subs_mu; /* guards subs, nsubs; held while calling them */
    struct store_sub subs[STORE_MAX_SUBSCRIBERS];
    unsigned nsubs;
    uint64_t flush_ns_total;
    uint64_t periodic_syncs; /* batch: fsyncs made by the timer */
    uint64_t periodic_ns_total, periodic_failures;
    uint64_t flush_ns_max;
};

static const char *const store_sync_names[STORE_SYNC__COUNT] = {
    [STORE_SYNC_ALWAYS] = "always",
    [STORE_SYNC_BATCH] = "batch",
    [STORE_SYNC_NONE] = "none",
};

const char *
store_sync_name(enum store_sync s)
{
    if ((unsigned)s >= STORE_SYNC__COUNT) {
        return "unknown";
    }
    return store_sync_names[s];
}

int
store_sync_parse(const char *s, enum store_sync *out)
{
    unsigned i;

    if (s == NULL) {
        return RC_EINVAL;
    }
    for (i = 0; i < STORE_SYNC__COUNT; i++) {
        if (strcmp(s, store_sync_names[i]) == 0) {
            *out = (enum store_sync)i;
            return RC_OK;
        }
    }
    return RC_EINVAL;
}

void
store_emit_u64(store_stat_fn emit, void *arg, const char *name, unsigned long long v)
{
    char tmp[32];

    snprintf(tmp, sizeof(tmp), "%llu", v);
    emit(arg, name, tmp);
}

/* ------------------------------------------------------------ sync thread */

/* Caller holds lock. Remember that flush k failed with rc. */
static void
store_record_fail_locked(struct store *st, uint64_t k, int rc)
{
    struct store_fail *slot = &st->fails[st->nfails % STORE_FAIL_RING];

    if (st->nfails >= STORE_FAIL_RING) {
        st->fail_horizon = slot->flush;
    }
    slot->flush = k;
    slot->rc = rc;
    st->nfails++;
}

/* Caller holds lock; returns with it held. Runs one flush and tells the
 * subscribers, both without the lock. */
static int
store_flush_locked(struct store *st, bool to_disk, bool notify)
{
    uint64_t k, t0, dt;
    int rc;

    pthread_mutex_unlock(&st->lock);
    pthread_mutex_lock(&st->round_mu);
    pthread_mutex_lock(&st->lock);
    k = ++st->started;
    pthread_mutex_unlock(&st->lock);

    t0 = util_mono_ns();
    if (to_disk || st->ops->write_log == NULL) {
        rc = st->ops->flush_log(st->eng);
    } else {
        rc = st->ops->write_log(st->eng);
    }
    dt = util_mono_ns() - t0;
    if (rc != RC_OK && rc != RC_ENOSPC) {
        rc = RC_EIO;
    }

    pthread_mutex_lock(&st->lock);
    st->completed = k;
    st->flush_ns_total += dt;
    if (dt > st->flush_ns_max) {
        st->flush_ns_max = dt;
    }
    if (rc != RC_OK) {
        store_record_fail_locked(st, k, rc);
    }
    pthread_mutex_unlock(&st->lock);
    pthread_mutex_unlock(&st->round_mu);

    if (rc != RC_OK) {
        log_error("store: log flush %llu failed: %s", (unsigned long long)k, rc_strerror(rc));
    }
    if (notify) {
        pthread_mutex_lock(&st->subs_mu);
        for (unsigned i = 0; i < st->nsubs; i++) {
            st->subs[i].notify(st->subs[i].arg);
        }
        pthread_mutex_unlock(&st->subs_mu);
    }
    pthread_mutex_lock(&st->lock);
    return rc;
}

static void
store_deadline_after(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Batch mode's periodic work (lock held on entry and exit). The fsync is
 * not a ticket round: tickets only need the OS, and writers resolve their
 * own (store_sync_write_now), so a slow disk never holds them up. A ticket
 * left pending by a writer that did not call store_sync_write_now is
 * resolved here. */
static void
store_batch_tick(struct store *st)
{
    uint64_t t0 = util_mono_ns(), dt;
    int rc;

    if (st->requested > st->completed) {
        store_flush_locked(st, false, true);
    }
    pthread_mutex_unlock(&st->lock);
    rc = st->ops->flush_log(st->eng);
    dt = util_mono_ns() - t0;
    if (rc != RC_OK) {
        log_error("store: periodic log flush failed: %s", rc_strerror(rc));
    }
    pthread_mutex_lock(&st->lock);
    st->periodic_syncs++;
    st->periodic_ns_total += dt;
    if (rc != RC_OK) {
        st->periodic_failures++;
    }
}

static void *
store_sync_main(void *arg)
{
    struct store *st = arg;
    bool batch = st->cfg.sync == STORE_SYNC_BATCH;
    struct timespec deadline;
    int rc;

    pthread_mutex_lock(&st->lock);
    store_deadline_after(&deadline, st->cfg.sync_interval_ms);
    for (;;) {
        if (!batch && st->requested > st->completed) {
            store_flush_locked(st, true, true); /* waiting writers need the disk */
            continue;
        }
        if (st->stopping) {
            if (st->requested > st->completed) {
                store_flush_locked(st, !batch, true); /* resolve every ticket out */
            }
            break;
        }
        if (!batch) {
            pthread_cond_wait(&st->wake, &st->lock);
            continue;
        }
        rc = pthread_cond_timedwait(&st->wake, &st->lock, &deadline);
        if (rc == ETIMEDOUT) {
            store_batch_tick(st);
            store_deadline_after(&deadline, st->cfg.sync_interval_ms);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static int
store_start_sync(struct store *st)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_condattr_init(&ca) != 0) {
        return RC_ENOMEM;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&st->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        return RC_ENOMEM;
    }
    if (pthread_mutex_init(&st->round_mu, NULL) != 0) {
        pthread_cond_destroy(&st->wake);
        return RC_ENOMEM;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        pthread_mutex_destroy(&st->round_mu);
        pthread_cond_destroy(&st->wake);
        return RC_ENOMEM;
    }
    if (pthread_mutex_init(&st->subs_mu, NULL) != 0) {
        pthread_mutex_destroy(&st->lock);
        pthread_mutex_destroy(&st->round_mu);
        pthread_cond_destroy(&st->wake);
        return RC_ENOMEM;
    }
    st->has_thread = st->ops->flush_log != NULL && st->cfg.sync != STORE_SYNC_NONE;
    if (st->has_thread && pthread_create(&st->thread, NULL, store_sync_main, st) != 0) {
        log_error("store: cannot start the sync thread");
        pthread_mutex_destroy(&st->subs_mu);
        pthread_mutex_destroy(&st->lock);
        pthread_mutex_destroy(&st->round_mu);
        pthread_cond_destroy(&st->wake);
        return RC_EINTERNAL;
    }
    return RC_OK;
}

static void
store_stop_sync(struct store *st)
{
    if (st->has_thread) {
        pthread_mutex_lock(&st->lock);
        st->stopping = true;
        pthread_cond_signal(&st->wake);
        pthread_mutex_unlock(&st->lock);
        pthread_join(st->thread, NULL);
    }
    pthread_mutex_destroy(&st->subs_mu);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->round_mu);
    pthread_cond_destroy(&st->wake);
}

/* ------------------------------------------------------------ lifecycle */

static int
store_check_config(const struct store_config *cfg, const struct engine_ops *ops)
{
    if (cfg == NULL || ops == NULL || ops->update == NULL ||
        (unsigned)cfg->sync >= STORE_SYNC__COUNT) {
        return RC_EINVAL;
    }
    if (ops == &store_engine_bdb && (cfg->data_dir == NULL || cfg->data_dir[0] == '\0')) {
        log_error("store: the bdb engine needs a data directory");
        return RC_EINVAL;
    }
    return RC_OK;
}

int
store_open_engine(const struct store_config *cfg, const struct engine_ops *ops, struct store **out)
{
    struct store *st;
    int rc;

    rc = store_check_config(cfg, ops);
    if (rc != RC_OK) {
        return rc;
    }
    st = rc_calloc(1, sizeof(*st));
    if (st == NULL) {
        return RC_ENOMEM;
    }
    st->ops = ops;
    st->cfg = *cfg;
    if (cfg->data_dir != NULL) {
        st->data_dir = rc_strdup(cfg->data_dir);
        if (st->data_dir == NULL) {
            rc = RC_ENOMEM;
            goto fail;
        }
    }
    st->cfg.data_dir = st->data_dir;
    if (st->cfg.sync_interval_ms == 0) {
        st->cfg.sync_interval_ms = STORE_DEFAULT_SYNC_INTERVAL_MS;
    }
    rc = cache_create(cfg->hot_cache_bytes, &st->cache);
    if (rc != RC_OK) {
        goto fail;
    }
    rc = ops->open(&st->cfg, &st->eng);
    if (rc != RC_OK) {
        goto fail;
    }
    rc = hints_open(ops, st->eng, &st->cfg, &st->hints);
    if (rc != RC_OK) {
        ops->close(st->eng);
        goto fail;
    }
    rc = store_start_sync(st);
    if (rc != RC_OK) {
        hints_close(st->hints);
        ops->close(st->eng);
        goto fail;
    }
    log_info("store: %s engine open, sync %s", ops->name, store_sync_name(st->cfg.sync));
    *out = st;
    return RC_OK;

fail:
    cache_destroy(st->cache);
    rc_free(st->data_dir);
    rc_free(st);
    return rc;
}

int
store_open(const struct store_config *cfg, struct store **out)
{
    if (cfg == NULL) {
        return RC_EINVAL;
    }
    switch (cfg->kind) {
    case STORE_KIND_BDB:
        return store_open_engine(cfg, &store_engine_bdb, out);
    case STORE_KIND_MEM:
        return store_open_engine(cfg, &store_engine_mem, out);
    default:
        return RC_EINVAL;
    }
}

void
store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    store_stop_sync(st);
    hints_close(st->hints); /* its tables close before the environment */
    st->ops->close(st->eng);
    cache_destroy(st->cache);
    rc_free(st->data_dir);
    rc_free(st);
}

/* ------------------------------------------------------------ data calls */

/* Reads try the hot-item cache first; writes change the engine and the
 * cache together under the key's cache shard lock (cache.h). store_update
 * on a cache hit decides on the cached bytes and only writes; on a miss
 * (or with no cache) the engine reads, decides and writes in one
 * transaction (engine.h). */
int
store_get(struct store *st, const void *key, size_t nkey, struct buf *val)
{
    return store_get_touch(st, key, nkey, val, NULL, NULL, NULL);
}

int
store_get_touch(struct store *st, const void *key, size_t nkey, struct buf *val,
                store_touch_fn touch, void *arg, bool *touched)
{
    uint64_t gen;
    int rc;

    if (touched != NULL) {
        *touched = false;
    }
    if (nkey == 0) {
        return RC_EINVAL;
    }
    if (cache_get_touch(st->cache, key, nkey, val, &gen, touch, arg, touched) == RC_OK) {
        return RC_OK;
    }
    rc = st->ops->get(st->eng, key, nkey, val);
    if (rc == RC_OK) {
        cache_fill(st->cache, key, nkey, val->data, val->len, gen);
    }
    return rc;
}

void
store_prefetch(struct store *st, const struct store_key *keys, size_t nkeys)
{
    cache_prefetch(st->cache, keys, nkeys);
}

int
store_put(struct store *st, const void *key, size_t nkey, const void *val, size_t nval)
{
    int rc;

    if (nkey == 0 || (nval > 0 && val == NULL)) {
        return RC_EINVAL;
    }
    cache_write_begin(st->cache, key, nkey);
    rc = st->ops->put(st->eng, key, nkey, val, nval);
    cache_write_end(st->cache, key, nkey, rc == RC_OK ? (val ? val : "") : NULL, nval);
    return rc;
}

int
store_delete(struct store *st, const void *key, size_t nkey)
{
    int rc;

    if (nkey == 0) {
        return RC_EINVAL;
    }
    cache_write_begin(st->cache, key, nkey);
    rc = st->ops->del(st->eng, key, nkey);
    cache_write_end(st->cache, key, nkey, NULL, 0);
    return rc;
}

/* store_update with the key's value in the hot-item cache, under its shard
 * lock: decide on the cached bytes, then one put or delete.
 *
 * Why this is still one transaction. The cached bytes are the engine's
 * value (plus any STORE_UPDATE_CACHE bookkeeping, which decide may see and
 * keep): every engine write of the key (store_put, store_delete,
 * store_update, and store_truncate, which holds every shard) happens under
 * this shard lock, and a write that fails drops the entry, so while we hold
 * the lock an entry present is the engine's current value and nobody can
 * change the key in the engine until we release it. The engine's own read
 * under DB_RMW would therefore return these same bytes, and taking its write
 * lock first buys nothing: the put or delete that follows is itself one
 * auto-commit transaction, and the shard lock (not a Berkeley DB lock) is
 * what keeps every other writer of the key out between our "read" and our
 * write. A deadlock inside ops->put or ops->del is retried there without
 * running decide again, which is right: its input cannot have changed. */
static int
store_update_cached(struct store *st, const void *key, size_t nkey, const void *old, size_t nold,
                    store_decide_fn decide, void *arg)
{
    struct store_update_out out = {.action = STORE_UPDATE_NONE};
    int rc;

    rc = decide(arg, old, nold, &out);
    if (rc == RC_OK && out.action == STORE_UPDATE_CACHE && out.nval > 0 && out.val == NULL) {
        rc = RC_EINVAL; /* malformed, as store_update_out_check says of a PUT */
    }
    if (rc == RC_OK && out.action == STORE_UPDATE_CACHE) {
        /* Bookkeeping: the entry changes, the engine does not. val may
         * point into the entry: cache_write_end copies it first. */
        cache_write_end(st->cache, key, nkey, out.nval > 0 ? out.val : "", out.nval);
        return RC_OK;
    }
    if (rc == RC_OK) {
        rc = store_update_out_check(&out);
    }
    if (rc != RC_OK || out.action == STORE_UPDATE_NONE) {
        cache_write_cancel(st->cache, key, nkey); /* nothing written */
        return rc;
    }
    if (out.action == STORE_UPDATE_PUT) {
        const void *val = out.nval > 0 ? out.val : "";

        rc = st->ops->put(st->eng, key, nkey, val, out.nval);
        /* val may point into the cache entry (old): cache_write_end copies
         * it before dropping the entry. */
        cache_write_end(st->cache, key, nkey, rc == RC_OK ? val : NULL, out.nval);
        return rc;
    }
    rc = st->ops->del(st->eng, key, nkey);
    cache_write_end(st->cache, key, nkey, NULL, 0);
    /* Cannot happen (the entry says the key exists), and if it did the key
     * would be absent, as asked. */
    return rc == RC_ENOTFOUND ? RC_OK : rc;
}

/* Speculative insert. Most writes that miss the hot cache create a key
 * (a cold store being filled), and reading a key only to learn it is
 * absent costs a B-tree search before the put (callgrind: 21.7k against
 * 16.5k instructions). So on a miss, decide first runs as if the key were
 * absent; if that says put, the engine inserts only if the key is absent,
 * which is atomic in the engine, so success proves the guess and the write
 * is exactly what the read-decide-write would have made (decide is pure).
 * If the key exists, nothing was written and the ordinary update runs,
 * deciding again on the real bytes. While guesses mostly fail (updates of
 * keys the cache does not hold), it stops guessing, retrying one miss in
 * STORE_SPEC_PROBE to notice when inserts come back. */
#define STORE_SPEC_WINDOW 4096
#define STORE_SPEC_PROBE  64

static bool
store_spec_wanted(struct store *st)
{
    uint64_t tries = atomic_load(&st->spec_tries), wins = atomic_load(&st->spec_wins);

    if (st->ops->insert == NULL) {
        return false;
    }
    if (tries < STORE_SPEC_PROBE || wins * 2 >= tries) {
        return true;
    }
    return atomic_fetch_add(&st->spec_skips, 1) % STORE_SPEC_PROBE == 0;
}

static void
store_spec_count(struct store *st, bool won)
{
    uint64_t tries = atomic_fetch_add(&st->spec_tries, 1) + 1;

    atomic_fetch_add(&st->spec_tries_total, 1);
    if (won) {
        atomic_fetch_add(&st->spec_wins, 1);
        atomic_fetch_add(&st->spec_wins_total, 1);
    }
    if (tries >= STORE_SPEC_WINDOW) { /* decay: recent behaviour counts */
        atomic_store(&st->spec_tries, tries / 2);
        atomic_store(&st->spec_wins, atomic_load(&st->spec_wins) / 2);
    }
}

/* The caller's decide as the engine sees it: a STORE_UPDATE_CACHE decision
 * is no write for the engine (store_update then refreshes the cache with
 * its bytes), or, with no cache to hold it, a put. */
struct store_upd_wrap {
    store_decide_fn decide;
    void *arg;
    bool has_cache;
    bool cache_only; /* the last decision was STORE_UPDATE_CACHE */
};

static int
store_decide_wrapped(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct store_upd_wrap *w = arg;
    int rc = w->decide(w->arg, old, nold, out);

    w->cache_only = false;
    if (rc == RC_OK && out->action == STORE_UPDATE_CACHE && out->nval > 0 && out->val == NULL) {
        return RC_EINVAL;
    }
    if (rc == RC_OK && out->action == STORE_UPDATE_CACHE) {
        w->cache_only = w->has_cache;
        out->action = w->has_cache ? STORE_UPDATE_NONE : STORE_UPDATE_PUT;
    }
    return rc;
}

/* The engine's part of store_update for a key the cache does not hold. */
static int
store_update_engine(struct store *st, const void *key, size_t nkey, struct store_upd_wrap *w,
                    struct store_update_out *out)
{
    store_decide_fn decide = store_decide_wrapped;
    void *arg = w;

    if (store_spec_wanted(st)) {
        struct store_update_out spec = {.action = STORE_UPDATE_NONE};
        int rc = decide(arg, NULL, 0, &spec);

        if (rc == RC_OK && store_update_out_check(&spec) == RC_OK &&
            spec.action == STORE_UPDATE_PUT) {
            rc = st->ops->insert(st->eng, key, nkey, spec.nval > 0 ? spec.val : "", spec.nval);
            if (rc != RC_EEXISTS) {
                store_spec_count(st, rc == RC_OK);
                *out = spec;
                return rc;
            }
            store_spec_count(st, false);
        }
        /* Present, or the guess did not put: the real read decides. */
    }
    return st->ops->update(st->eng, key, nkey, decide, arg, out);
}

int
store_update(struct store *st, const void *key, size_t nkey, store_decide_fn decide, void *arg)
{
    struct store_update_out out;
    const void *old;
    size_t nold;
    int rc;

    struct store_upd_wrap w = {decide, arg, st->cache != NULL, false};

    if (nkey == 0 || decide == NULL) {
        return RC_EINVAL;
    }
    if (st->cache == NULL) {
        return store_update_engine(st, key, nkey, &w, &out);
    }
    cache_write_begin(st->cache, key, nkey);
    if (cache_peek_locked(st->cache, key, nkey, &old, &nold) == RC_OK) {
        return store_update_cached(st, key, nkey, old, nold, decide, arg);
    }
    /* Miss: the engine reads, decides and writes in one transaction, with
     * the shard lock held so the cache changes with it. */
    rc = store_update_engine(st, key, nkey, &w, &out);
    if (rc == RC_OK && w.cache_only) {
        /* The engine's bytes plus bookkeeping: cached, not written. */
        cache_write_end(st->cache, key, nkey, out.nval > 0 ? out.val : "", out.nval);
    } else if (rc != RC_OK) {
        /* A decide error wrote nothing, but other failures leave the key's
         * state unknown: drop (the entry is absent anyway; this only makes
         * concurrent fills lose, which is always safe). */
        cache_write_end(st->cache, key, nkey, NULL, 0);
    } else if (out.action == STORE_UPDATE_PUT) {
        cache_write_end(st->cache, key, nkey, out.nval > 0 ? out.val : "", out.nval);
    } else if (out.action == STORE_UPDATE_DELETE) {
        cache_write_end(st->cache, key, nkey, NULL, 0);
    } else {
        cache_write_cancel(st->cache, key, nkey); /* NONE: the engine is unchanged */
    }
    return rc;
}

int
store_scan(struct store *st, struct buf *cursor, size_t max, store_scan_fn fn, void *arg,
           bool *done)
{
    *done = false;
    return st->ops->scan(st->eng, cursor, max, fn, arg, done);
}

int
store_truncate(struct store *st)
{
    int rc;

    /* Every shard is held across the engine truncate, so no write can fall
     * between it and the clear (store_update_cached relies on that). */
    cache_clear_begin(st->cache);
    rc = st->ops->truncate(st->eng);
    cache_clear_end(st->cache);
    return rc;
}

int
store_meta_get(struct store *st, const char *name, struct buf *val)
{
    if (name == NULL || name[0] == '\0') {
        return RC_EINVAL;
    }
    return st->ops->meta_get(st->eng, name, val);
}

int
store_meta_put(struct store *st, const char *name, const void *val, size_t nval)
{
    if (name == NULL || name[0] == '\0') {
        return RC_EINVAL;
    }
    return st->ops->meta_put(st->eng, name, val, nval);
}

/* ------------------------------------------------------------ durability */

uint64_t
store_sync_ticket(struct store *st)
{
    uint64_t t;

    if (!st->has_thread || st->cfg.sync == STORE_SYNC_NONE) {
        return 0;
    }
    pthread_mutex_lock(&st->lock);
    t = st->started + 1;
    if (st->requested < t) {
        st->requested = t;
        if (st->cfg.sync == STORE_SYNC_ALWAYS) {
            pthread_cond_signal(&st->wake); /* batch: the writer resolves it */
        }
    }
    pthread_mutex_unlock(&st->lock);
    return t;
}

bool
store_sync_inline(const struct store *st)
{
    return st->has_thread && st->cfg.sync == STORE_SYNC_BATCH;
}

int
store_sync_write_now(struct store *st)
{
    int rc = RC_OK;

    if (!store_sync_inline(st)) {
        return RC_OK;
    }
    /* The caller looks at its own tickets next; other writers resolve
     * theirs the same way, so nobody needs a notification. */
    pthread_mutex_lock(&st->lock);
    if (st->requested > st->completed) {
        rc = store_flush_locked(st, false, false);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int
store_sync_check(struct store *st, uint64_t ticket)
{
    uint64_t i, n;
    int rc = RC_OK;

    if (ticket == 0) {
        return RC_OK;
    }
    pthread_mutex_lock(&st->lock);
    if (ticket > st->completed) {
        rc = RC_EAGAIN;
    } else if (st->nfails > 0) {
        n = st->nfails < STORE_FAIL_RING ? st->nfails : STORE_FAIL_RING;
        for (i = 0; i < n; i++) {
            if (st->fails[i].flush == ticket) {
                rc = st->fails[i].rc;
            }
        }
        if (rc == RC_OK && ticket <= st->fail_horizon) {
            rc = RC_EIO; /* forgotten: cannot promise durability */
        }
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int
store_sync_subscribe(struct store *st, void (*notify)(void *arg), void *arg)
{
    int rc = RC_OK;

    if (notify == NULL) {
        return RC_EINVAL;
    }
    pthread_mutex_lock(&st->subs_mu);
    if (st->nsubs >= STORE_MAX_SUBSCRIBERS) {
        rc = RC_ENOMEM;
    } else {
        st->subs[st->nsubs].notify = notify;
        st->subs[st->nsubs].arg = arg;
        st->nsubs++;
    }
    pthread_mutex_unlock(&st->subs_mu);
    return rc;
}

void
store_sync_unsubscribe(struct store *st, void (*notify)(void *arg), void *arg)
{
    unsigned j = 0;

    if (st == NULL) {
        return;
    }
    pthread_mutex_lock(&st->subs_mu);
    for (unsigned i = 0; i < st->nsubs; i++) {
        if (st->subs[i].notify != notify || st->subs[i].arg != arg) {
            st->subs[j++] = st->subs[i];
        }
    }
    st->nsubs = j;
    pthread_mutex_unlock(&st->subs_mu);
}

static void
store_stats_cache(struct store *st, store_stat_fn emit, void *arg)
{
    struct cache_stats cs;

    cache_get_stats(st->cache, &cs);
    store_emit_u64(emit, arg, "hot_cache_limit_bytes", cs.bytes_limit);
    store_emit_u64(emit, arg, "hot_cache_bytes", cs.bytes_used);
    store_emit_u64(emit, arg, "hot_cache_items", cs.items);
    store_emit_u64(emit, arg, "hot_cache_hits", cs.hits);
    store_emit_u64(emit, arg, "hot_cache_misses", cs.misses);
    store_emit_u64(emit, arg, "hot_cache_evictions", cs.evictions);
}

static void
store_stats_spec(struct store *st, store_stat_fn emit, void *arg)
{
    store_emit_u64(emit, arg, "update_insert_tries", atomic_load(&st->spec_tries_total));
    store_emit_u64(emit, arg, "update_insert_wins", atomic_load(&st->spec_wins_total));
}

void
store_stats(struct store *st, store_stat_fn emit, void *arg)
{
    uint64_t done, total, max, nfails, periodic, ptotal, pfails;

    emit(arg, "engine", st->ops->name);
    emit(arg, "sync_mode", store_sync_name(st->cfg.sync));
    store_emit_u64(emit, arg, "sync_interval_ms", st->cfg.sync_interval_ms);
    pthread_mutex_lock(&st->lock);
    done = st->completed;
    total = st->flush_ns_total;
    max = st->flush_ns_max;
    nfails = st->nfails;
    periodic = st->periodic_syncs;
    ptotal = st->periodic_ns_total;
    pfails = st->periodic_failures;
    pthread_mutex_unlock(&st->lock);
    store_emit_u64(emit, arg, "syncs", done);
    store_emit_u64(emit, arg, "sync_failures", nfails);
    store_emit_u64(emit, arg, "sync_time_avg_us", done ? total / done / 1000 : 0);
    store_emit_u64(emit, arg, "sync_time_max_us", max / 1000);
    store_emit_u64(emit, arg, "periodic_syncs", periodic);
    store_emit_u64(emit, arg, "periodic_sync_failures", pfails);
    store_emit_u64(emit, arg, "periodic_sync_time_avg_us", periodic ? ptotal / periodic / 1000 : 0);
    store_stats_cache(st, emit, arg);
    store_stats_spec(st, emit, arg);
    if (st->ops->stats != NULL) {
        st->ops->stats(st->eng, emit, arg);
    }
    hints_emit_stats(st->hints, emit, arg);
}

struct hint_store *
store_hints(struct store *st)
{
    return st->hints;
}
