/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hints.h - the hint store (doc/replication.txt section 6): writes this node
 * holds for another node (the target, a 16-byte node id) while that node is
 * down, kept apart from the items and replayed to it later. Storage knows
 * nothing of peers: the caller decides what to hold and when to replay.
 *
 * Tables. One table per target in the store's engine (Berkeley DB: the
 * database "hints-<32 hex digits of the id>.db" in the same environment as
 * the items, so one log, one recovery and one checkpoint cover both). A
 * target's table is created by its first hint; the tables present at
 * store_open are the targets found again (store_hint_targets).
 *
 * A hint is (id, arrival, partition, key, record). The id is unique in its
 * target's table, grows with every hint stored there and is never reused,
 * even across restarts; scans go in id order, which is arrival order.
 *
 * The same key twice. A hint's record is a versioned object that the owner
 * merges into its own, so a newer hint must never simply overwrite an older
 * one for the same key (the older may hold a concurrent version the newer
 * lacks). The rule:
 *   - with a merge function, store_hint_put folds every pending hint of
 *     the key and the new record into one record (oldest first:
 *     merge(merge(h1, h2), new)) and stores it as ONE new hint, under a new
 *     id at the back of the queue; the hints it absorbed are deleted in the
 *     same transaction. A correct object merge keeps every version that no
 *     other version supersedes, and the owner applying the merged record is
 *     the same as applying the parts one by one, so no version is lost; the
 *     merge runs with the target's writers excluded and inside the write
 *     transaction, so no concurrent hint can slip between read and write.
 *   - without one (merge NULL), the new hint is stored beside the older
 *     ones: each is replayed in turn.
 * Either way a delete names one hint id; a hint that was merged into a
 * newer one no longer exists (RC_ENOTFOUND), so an acknowledgement for the
 * old hint can never delete the newer one, which holds more.
 *
 * Bounds (store_config). hint_max_bytes per target: a put that would take
 * the target's hint bytes over it is refused with RC_ETOOLARGE (nothing is
 * stored; a merge put keeps the hints it would have absorbed). hint_max_age
 * _ms: store_hint_reap deletes hints that arrived that long ago. Either way
 * the key's partition is recorded in the target's repair set (persisted, in
 * the same transaction as the reaping) and the drop is counted and logged:
 * nothing is dropped silently. The repair set is cleared by the caller once
 * anti-entropy has repaired the partition.
 *
 * Bytes of a hint: its stored key and value, 25 + nkey + nrecord bytes
 * (STORE_HINT_OVERHEAD); the table's per-key index and btree overhead are
 * not counted.
 *
 * Durability. Every write here (put, delete, reap, repair set) is one
 * engine transaction committed exactly like an item write under the
 * store's sync mode: take store_sync_ticket after it returns RC_OK, and the
 * change is as durable as an item write once store_sync_check says RC_OK
 * (under BATCH after store_sync_write_now). A hinted write may be
 * acknowledged to its coordinator only then.
 *
 * Threads: every call is safe from any thread. Calls on one target are
 * serialised (a mutex per target, held across a scan's callbacks: scan in
 * bounded batches); different targets proceed in parallel. Callbacks must
 * not call the store.
 *
 * Statuses: RC_EINVAL (bad arguments), RC_ETOOLARGE (refused by the byte
 * bound, and only that), RC_ENOTFOUND, RC_ECORRUPT (a malformed table
 * entry), RC_EDISABLED (an engine without hint tables), the merge
 * function's own errors, and the store's write errors (RC_ENOSPC, RC_EIO,
 * RC_ENOMEM).
 */
#ifndef RC_STORE_HINTS_H
#define RC_STORE_HINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/store.h"

#define STORE_HINT_ID_SIZE  16 /* bytes of a target node id */
#define STORE_HINT_OVERHEAD 25 /* bytes a hint costs beyond key and record */

struct store_hint {
    uint64_t id;        /* set by store_hint_put; increasing; never 0 */
    int64_t arrival_ms; /* wall clock when stored (a merged hint: the merge) */
    uint32_t partition; /* the key's partition */
    const void *key;    /* 1 .. 65535 bytes */
    size_t nkey;
    const void *rec; /* the record to replay (opaque here) */
    size_t nrec;
};

/* Fold two records of one key: reset-and-fill out with the merge of older
 * and newer. Must be a pure function of its inputs and arg (it may run
 * again after an engine deadlock) and must not call the store; a non-RC_OK
 * return fails the put, writing nothing. */
typedef int (*store_hint_merge_fn)(void *arg, const void *older, size_t nolder, const void *newer,
                                   size_t nnewer, struct buf *out);

/* Store a hint of h->key, h->rec for target (fields id ignored, arrival_ms,
 * partition, key, rec read). merge: see "The same key twice" (NULL: keep
 * side by side). On RC_OK h->id is the new hint's id (and h->rec is NOT
 * changed: it still points at the caller's bytes, not at a merge). On
 * RC_ETOOLARGE nothing was stored and h->partition is in the target's
 * repair set. */
int store_hint_put(struct store *st, const uint8_t *target, struct store_hint *h,
                   store_hint_merge_fn merge, void *merge_arg);

/* Visit up to max hints of target (0: no limit) in id order, strictly
 * after the id *cursor (start with 0); *cursor is left at the last id
 * visited and *done set once none follow. An unknown target has none. fn's
 * non-zero return stops the scan and is returned; the hint's pointers are
 * valid only during the call. */
typedef int (*store_hint_fn)(void *arg, const struct store_hint *h);
int store_hint_scan(struct store *st, const uint8_t *target, uint64_t *cursor, size_t max,
                    store_hint_fn fn, void *arg, bool *done);

/* Delete the hint `id` of target after the target acknowledged it (counted
 * as replayed). RC_ENOTFOUND if it is gone (already deleted, or merged
 * into a newer hint, which stays). */
int store_hint_delete(struct store *st, const uint8_t *target, uint64_t id);

/* Delete every hint that arrived hint_max_age_ms or more before now_ms
 * (walking each target in arrival order, stopping at its first younger
 * hint), recording their partitions for repair, counting and logging them.
 * *reaped (may be NULL) gets the number deleted. A no-op when the bound is
 * 0. */
int store_hint_reap(struct store *st, int64_t now_ms, uint64_t *reaped);

/* The targets that have a hint table (found at open or created since):
 * fn(arg, id) for each, without locks held; its non-zero return stops. */
int store_hint_targets(struct store *st, int (*fn)(void *arg, const uint8_t *target), void *arg);

struct store_hint_stats {
    uint64_t pending;      /* hints stored */
    uint64_t bytes;        /* their bytes (see above), bounded by hint_max_bytes */
    int64_t oldest_ms;     /* arrival of the oldest pending hint; 0 when none */
    uint64_t repair_parts; /* partitions in the repair set */
    /* since the store opened: */
    uint64_t stored;        /* puts that stored a hint */
    uint64_t merged;        /* of which absorbed older hints of the key */
    uint64_t replayed;      /* deleted by store_hint_delete */
    uint64_t dropped_bytes; /* puts refused by the byte bound */
    uint64_t dropped_age;   /* hints reaped by age */
};
/* RC_ENOTFOUND for a target without a table. */
int store_hint_stats(struct store *st, const uint8_t *target, struct store_hint_stats *out);

/* The repair set: fn(arg, target, partition, first_ms, drops) for each
 * partition recorded for target (NULL: every target), in partition order;
 * first_ms is when it was first recorded, drops how many hints of it were
 * refused or reaped since. fn's non-zero return stops and is returned. */
typedef int (*store_hint_repair_fn)(void *arg, const uint8_t *target, uint32_t partition,
                                    int64_t first_ms, uint64_t drops);
int store_hint_repairs(struct store *st, const uint8_t *target, store_hint_repair_fn fn, void *arg);
/* Forget a partition of target's repair set once it has been repaired.
 * RC_ENOTFOUND if it was not recorded. */
int store_hint_repair_clear(struct store *st, const uint8_t *target, uint32_t partition);

#endif
