/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store.h - the storage engine interface: a durable map from key bytes to
 * value bytes (encoded records; see kv/record.h), plus a small metadata table
 * and the durability (group commit) machinery.
 *
 * Engines: Berkeley DB (the real one) and an in-memory engine for tests; both
 * sit behind the function table in engine.h and pass the same test suite.
 * Storage knows nothing of sockets or protocols.
 *
 * Threads: every function is safe to call from any thread concurrently; each
 * single call here is atomic and crash-consistent. store_update is the atomic
 * read-modify-write of one key (the coordinator's stripe lock on top of it
 * only makes deadlocks rare).
 *
 * Durability (enum store_sync):
 *   ALWAYS  a write returns once committed in memory; it is on disk once
 *           store_sync_check(ticket) says RC_OK. One background flush makes
 *           every write committed before it durable, so concurrent writers
 *           share one fsync (group commit).
 *   BATCH   tickets as under ALWAYS, but a round only writes the log to the
 *           OS (one write(2) for a group of commits) and runs on the writer's
 *           thread (store_sync_write_now): once its ticket is OK a write
 *           survives a process crash; an fsync follows at least every
 *           sync_interval_ms on the sync thread.
 *   NONE    a write returns with its log record in Berkeley DB's buffer only.
 */
#ifndef RC_STORE_STORE_H
#define RC_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct store; /* opaque */

enum store_sync { STORE_SYNC_ALWAYS = 0, STORE_SYNC_BATCH, STORE_SYNC_NONE, STORE_SYNC__COUNT };
enum store_kind { STORE_KIND_BDB = 0, STORE_KIND_MEM, STORE_KIND__COUNT };

struct store_config {
    enum store_kind kind;
    const char *data_dir; /* environment home, created if missing (BDB) */
    enum store_sync sync;
    unsigned sync_interval_ms;  /* BATCH: fsync at least this often (default 1000) */
    uint64_t cache_bytes;       /* Berkeley DB cache size (part of -m) */
    uint64_t hot_cache_bytes;   /* in-process cache of hot items in front of
                                 * the engine (part of -m); 0 = none */
    unsigned checkpoint_kbytes; /* checkpoint after this much log (0 = default) */
    uint64_t hint_max_bytes;    /* hints held per target node (hints.h); 0 = unbounded */
    int64_t hint_max_age_ms;    /* store_hint_reap drops older hints; 0 = never */
};

const char *store_sync_name(enum store_sync s); /* "always", "batch", "none" */
int store_sync_parse(const char *s, enum store_sync *out);

/* Open (running recovery) or create the store. *out owned by the caller. */
int store_open(const struct store_config *cfg, struct store **out);
/* Stop background threads, checkpoint, close. NULL is a no-op. */
void store_close(struct store *st);

/* Item table. `val` is reset and filled; RC_ENOTFOUND when absent. */
int store_get(struct store *st, const void *key, size_t nkey, struct buf *val);
int store_put(struct store *st, const void *key, size_t nkey, const void *val, size_t nval);
/* RC_ENOTFOUND when absent. */
int store_delete(struct store *st, const void *key, size_t nkey);

/* A hint that these keys will be read or written soon (a pipelined
 * batch): the hot-item cache starts loading their entries into the CPU
 * cache, all at once. No lock, no effect on results; nothing when there
 * is no cache. */
struct store_key {
    const void *key;
    size_t nkey;
};
void store_prefetch(struct store *st, const struct store_key *keys, size_t nkeys);

/* store_get that records a read where it costs nothing: when the hot-item
 * cache holds the key, touch(arg, bytes, n) is called on the cached bytes
 * after they are copied into val and may change them in place (same
 * length), under STORE_UPDATE_CACHE's rules: bookkeeping the engine never
 * sees. *touched says whether it did; it stays false on a cache miss (the
 * engine read is not touched) and with no cache. touch must not call the
 * store. */
typedef bool (*store_touch_fn)(void *arg, void *bytes, size_t n);
int store_get_touch(struct store *st, const void *key, size_t nkey, struct buf *val,
                    store_touch_fn touch, void *arg, bool *touched);

/* Read-decide-write of one key in one engine transaction (doc/versioning.txt
 * section 4). The engine reads the key with a write lock (Berkeley DB:
 * DB_RMW), calls decide(arg, old, nold, &out) with the current bytes (old
 * NULL and nold 0 when absent), then applies out: nothing, a put of
 * out.val/out.nval, or a delete, and commits. The hot-item cache changes in
 * the same critical section, as for store_put.
 *
 * decide must be a pure function of its inputs and of arg: on a deadlock
 * the transaction is aborted and decide runs again on a fresh read (up to
 * the engine's retry limit), so replies and counters must be applied by the
 * caller after store_update returns. A non-RC_OK return from decide aborts
 * the transaction and is returned as is (nothing written); so is RC_EINVAL
 * for a malformed decision (unknown action, PUT of nval > 0 from NULL).
 * out.val must stay valid until store_update returns and must not point
 * into `old`, which is valid only during the call (old is never NULL for a
 * present key, even an empty one). decide starts with out->action NONE, runs
 * with the key's locks held and must not call the store. A DELETE of an
 * absent key writes nothing and returns RC_OK. Other errors are those of
 * store_put/store_delete (RC_ENOSPC, RC_EIO, read-only fence, ...); take a
 * durability ticket after it as after store_put.
 *
 * Cost: with the hot-item cache holding the key, decide runs on the cached
 * bytes and the engine only writes (about the cost of store_put); otherwise
 * the engine reads with DB_RMW and writes in one transaction (less than a
 * store_get plus a store_put). */
/* STORE_UPDATE_CACHE: bookkeeping that need not be durable (memcached's
 * fetched flag and last-access time): the new bytes replace the hot-item
 * cache's copy only and the engine keeps its own, so they last as long as the
 * key stays cached (a restart or an eviction returns to the engine's bytes).
 * They must differ from the engine's only in such fields. With no cache it is
 * a PUT. */
enum store_update_action {
    STORE_UPDATE_NONE = 0,
    STORE_UPDATE_PUT,
    STORE_UPDATE_DELETE,
    STORE_UPDATE_CACHE
};
struct store_update_out {
    enum store_update_action action;
    const void *val;
    size_t nval;
};
typedef int (*store_decide_fn)(void *arg, const void *old, size_t nold,
                               struct store_update_out *out);
int store_update(struct store *st, const void *key, size_t nkey, store_decide_fn decide, void *arg);

/* Visit up to `max` items in key order, strictly after the key in *cursor
 * (an empty cursor starts at the beginning). *cursor is left holding the last
 * key visited; *done is set true once the end is reached. The callback must
 * not call back into the store; a non-zero return stops the scan early and is
 * returned. Pointers passed to it are valid only during the call. */
typedef int (*store_scan_fn)(void *arg, const void *key, size_t nkey, const void *val, size_t nval);
int store_scan(struct store *st, struct buf *cursor, size_t max, store_scan_fn fn, void *arg,
               bool *done);

/* Remove every item (used by tests and by flush reclamation). */
int store_truncate(struct store *st);

/* Metadata table (node identity, cas high-water mark, flush time): small
 * named values, each put synced to disk before it returns. */
int store_meta_get(struct store *st, const char *name, struct buf *val);
int store_meta_put(struct store *st, const char *name, const void *val, size_t nval);

/* Durability under STORE_SYNC_ALWAYS and BATCH. After a successful write, take a
 * ticket; the write is durable when store_sync_check returns RC_OK. It
 * returns RC_EAGAIN while the flush is pending and RC_EIO/RC_ENOSPC if the
 * flush that covered it failed. Under NONE tickets are 0 and always OK. */
uint64_t store_sync_ticket(struct store *st);
int store_sync_check(struct store *st, uint64_t ticket);
/* BATCH resolves tickets on the writer's own thread, with no hand-off:
 * store_sync_inline says so, and after a group of writes the writer calls
 * store_sync_write_now, which writes the log of every commit so far to the
 * OS with one write(2) (returning its status; RC_OK when nothing waits).
 * The sync thread then only fsyncs every sync_interval_ms. */
bool store_sync_inline(const struct store *st);
int store_sync_write_now(struct store *st);
/* notify(arg) runs on the sync thread after every completed (or failed)
 * flush; it must be cheap and thread-safe. Up to 64 subscribers. */
int store_sync_subscribe(struct store *st, void (*notify)(void *arg), void *arg);
/* Removes every subscription of (notify, arg). On return no call to it is
 * running and none will start, so arg may be freed. Not from a notify. */
void store_sync_unsubscribe(struct store *st, void (*notify)(void *arg), void *arg);

/* Engine figures for `stats store`: emit(arg, name, value) per figure. */
typedef void (*store_stat_fn)(void *arg, const char *name, const char *value);
void store_stats(struct store *st, store_stat_fn emit, void *arg);

#endif
