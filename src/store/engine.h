/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * engine.h - the table of functions a storage engine implements, and the
 * door store.c opens for it. Private to src/store (and the store unit test,
 * which plugs in a fault-injecting engine); nothing else includes it.
 *
 *   store_put() --------------------------> ops->put   (commit, no fsync in ALWAYS)
 *   store_update() -- cache hit ----------> decide, then ops->put / ops->del
 *                  \- cache miss, no cache -> ops->update (read, decide, write)
 *   store_sync_ticket() -> sync thread ---> ops->flush_log (one fsync, many commits)
 *
 * Each engine keeps its state behind an opaque `void *self` made by open and
 * released by close. Every function except open/close may be called from any
 * thread at once; the engine does its own locking (or lets Berkeley DB do it)
 * and retries its own deadlocks. Semantics are exactly those of the matching
 * store_* call in store.h, with these additions:
 *   flush_log  makes durable every commit that completed before the call
 *              started. NULL means "every commit is durable on return" (the
 *              memory engine): the store then runs no sync thread and hands
 *              out ticket 0 in every mode.
 *   stats      emits engine figures only; store.c adds the sync figures.
 *   scan       max == 0 means no limit.
 */
#ifndef RC_STORE_ENGINE_H
#define RC_STORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/status.h"
#include "store/store.h"

struct engine_ops {
    const char *name; /* "bdb", "memory" */
    /* cfg outlives the engine (store.c keeps its own copy). */
    int (*open)(const struct store_config *cfg, void **self);
    void (*close)(void *self); /* final checkpoint; NULL is a no-op */
    int (*get)(void *self, const void *key, size_t nkey, struct buf *val);
    int (*put)(void *self, const void *key, size_t nkey, const void *val, size_t nval);
    int (*del)(void *self, const void *key, size_t nkey);
    /* put only if the key is absent: RC_EEXISTS (nothing written) when it
     * is present. NULL: the engine has none (store_update then always
     * reads first). */
    int (*insert)(void *self, const void *key, size_t nkey, const void *val, size_t nval);
    /* update: store_update without the hot-item cache: read key with a write
     * lock, decide, apply, commit, all in one transaction; on a deadlock
     * abort and start again from the read (decide runs again). Returns:
     *   RC_OK      *out is the decision now applied: NONE (nothing written),
     *              PUT (key holds out->val/nval) or DELETE (key is absent;
     *              deleting an absent key writes nothing and is RC_OK);
     *   decide's non-OK status, or RC_EINVAL for a malformed *out: nothing
     *              written, the key is unchanged;
     *   anything else: an engine error, as put/del/get map them; the key's
     *              state is then unknown to the caller.
     * decide runs with the engine's locks held (Berkeley DB: the record's
     * write lock; memory: the table lock) and must not call the store. */
    int (*update)(void *self, const void *key, size_t nkey, store_decide_fn decide, void *arg,
                  struct store_update_out *out);
    int (*scan)(void *self, struct buf *cursor, size_t max, store_scan_fn fn, void *arg,
                bool *done);
    int (*truncate)(void *self);
    int (*meta_get)(void *self, const char *name, struct buf *val);
    int (*meta_put)(void *self, const char *name, const void *val, size_t nval);
    int (*flush_log)(void *self);
    /* write_log: every commit completed before the call reaches the operating
     * system (survives a process crash), without waiting for the disk. NULL:
     * flush_log is used instead. */
    int (*write_log)(void *self);
    void (*stats)(void *self, store_stat_fn emit, void *arg);

    /* The hint store's databases (hints.c holds the logic; the engine only
     * keeps one small ordered key/value table per target node, in the same
     * environment as the items, written through transactions committed
     * exactly like item writes, so tickets cover them). All NULL: the
     * engine has no hint store (store_hint_* answer RC_EDISABLED).
     *
     *   hint_list   call fn(arg, id) for each target table that exists (at
     *               start: how the targets are rediscovered); fn's non-zero
     *               return stops the walk and is returned.
     *   hint_open   open (creating if missing) the table of target `id`;
     *               *db is the engine's handle until hint_close.
     *   hint_txn    run body(arg, tx) in one transaction on table db and
     *               commit if it returns RC_OK; any other return aborts
     *               (every write made through tx is undone) and is
     *               returned, except RC_EDEADLOCK, which aborts and runs
     *               body again (so body must be a pure function of its
     *               inputs and of what it reads through tx).
     *   hint_get    read key inside tx (with a write lock); RC_ENOTFOUND.
     *   hint_put    write key inside tx (refused like put: low space, fence).
     *   hint_del    delete key inside tx; RC_ENOTFOUND when absent.
     *   hint_scan   store_scan over table db, outside any transaction. */
    int (*hint_list)(void *self, int (*fn)(void *arg, const uint8_t *id), void *arg);
    int (*hint_open)(void *self, const uint8_t *id, void **db);
    void (*hint_close)(void *self, void *db);
    int (*hint_txn)(void *self, void *db, int (*body)(void *arg, void *tx), void *arg);
    int (*hint_get)(void *self, void *tx, const void *key, size_t nkey, struct buf *val);
    int (*hint_put)(void *self, void *tx, const void *key, size_t nkey, const void *val,
                    size_t nval);
    int (*hint_del)(void *self, void *tx, const void *key, size_t nkey);
    int (*hint_scan)(void *self, void *db, struct buf *cursor, size_t max, store_scan_fn fn,
                     void *arg, bool *done);
};

/* Bytes in a target node id (the hint tables are named after it). */
#define STORE_NODE_ID_SIZE 16

/* hints.c's side of store.c: its state lives in struct store. */
struct hint_store;
int hints_open(const struct engine_ops *ops, void *eng, const struct store_config *cfg,
               struct hint_store **out);
void hints_close(struct hint_store *hs); /* closes the tables; NULL is a no-op */
void hints_emit_stats(struct hint_store *hs, store_stat_fn emit, void *arg);
struct hint_store *store_hints(struct store *st);

extern const struct engine_ops store_engine_bdb;
extern const struct engine_ops store_engine_mem;

/* store_open with an explicit engine table (cfg->kind is ignored). Used by
 * store_open and by tests that wrap an engine to inject faults. */
int store_open_engine(const struct store_config *cfg, const struct engine_ops *ops,
                      struct store **out);

/* Check a decision before applying it: RC_OK, or RC_EINVAL for an unknown
 * action or a PUT of nval > 0 bytes from NULL. */
static inline int
store_update_out_check(const struct store_update_out *out)
{
    switch (out->action) {
    case STORE_UPDATE_NONE:
    case STORE_UPDATE_DELETE:
        return RC_OK;
    case STORE_UPDATE_PUT:
        return out->nval > 0 && out->val == NULL ? RC_EINVAL : RC_OK;
    default:
        return RC_EINVAL;
    }
}

/* Emit one unsigned figure through a store_stat_fn (shared helper). */
void store_emit_u64(store_stat_fn emit, void *arg, const char *name, unsigned long long v);

#endif
