/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cache.h - a bounded in-process cache of recently used items in front of a
 * storage engine (private to src/store; store.c is its only user).
 *
 * It holds exact copies of stored values (except bookkeeping fields that
 * store_update's STORE_UPDATE_CACHE changes here only), so a hit never
 * reaches the engine:
 * reads of hot items cost a hash lookup and a copy instead of a B-tree
 * search with page latches and lock-manager calls.
 *
 * Consistency: the cache is never the only holder of a value; the engine is
 * the truth. Writers call cache_write_begin, write the engine, then
 * cache_write_end with the new value (or NULL for a delete): the shard lock
 * is held across the engine write, so the cache and the engine change
 * together for a key, whatever the callers do. Readers that miss call
 * cache_fill with the generation cache_get gave them; a fill loses against
 * any write that happened to the shard in between, so a value read from the
 * engine before a write can never be cached after it.
 *
 * Memory: at most `bytes` of keys and values (plus per-entry overhead,
 * counted), split evenly over CACHE_SHARDS shards, each with its own lock,
 * hash table and CLOCK list (LRU by second chance). Values larger than a shard's budget / 8 are not
 * cached.
 */
#ifndef RC_STORE_CACHE_H
#define RC_STORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/store.h"

struct cache;

/* bytes == 0: no cache (every call is a cheap no-op, cache_get misses). */
int cache_create(uint64_t bytes, struct cache **out);
void cache_destroy(struct cache *c); /* NULL ok */

/* A hint that these keys will be looked up soon: start loading each one's
 * bucket slot and the first entry of its chain into the CPU cache (the
 * first CACHE_PREFETCH_MAX keys). Takes no lock and changes nothing. */
#define CACHE_PREFETCH_MAX 64
void cache_prefetch(struct cache *c, const struct store_key *keys, size_t nkeys);

/* RC_OK and val filled on a hit; RC_ENOTFOUND on a miss, with *gen set for
 * a later cache_fill. */
int cache_get(struct cache *c, const void *key, size_t nkey, struct buf *val, uint64_t *gen);
/* cache_get, and on a hit (after the copy into val) touch(arg, bytes, n)
 * may change the cached bytes in place, keeping their length: bookkeeping
 * only, under the rules of store_update's STORE_UPDATE_CACHE. *touched
 * (may be NULL) tells whether it did. touch runs under the shard lock and
 * must not call the cache. */
int cache_get_touch(struct cache *c, const void *key, size_t nkey, struct buf *val, uint64_t *gen,
                    bool (*touch)(void *arg, void *bytes, size_t n), void *arg, bool *touched);
/* Insert a value just read from the engine, unless the shard changed since
 * cache_get returned gen. */
void cache_fill(struct cache *c, const void *key, size_t nkey, const void *val, size_t nval,
                uint64_t gen);

/* Around an engine write of key: begin takes the key's shard lock; end
 * records the outcome (val NULL: the key is gone or the write failed and
 * its state is unknown) and releases it. Always call both, in order. */
void cache_write_begin(struct cache *c, const void *key, size_t nkey);
void cache_write_end(struct cache *c, const void *key, size_t nkey, const void *val, size_t nval);

/* Between cache_write_begin and cache_write_end/cache_write_cancel of the
 * same key: RC_OK with *val and *nval naming the cached value, or RC_ENOTFOUND
 * (also when there is no cache). The bytes belong to the entry: they stay
 * valid until the critical section ends, and may be passed back as the val
 * of cache_write_end. Because every engine write of a key happens under its
 * shard lock, and a failed one drops the entry, a present entry is exactly
 * the engine's current value for as long as the lock is held. */
int cache_peek_locked(struct cache *c, const void *key, size_t nkey, const void **val,
                      size_t *nval);
/* Instead of cache_write_end, when the engine is known to be unchanged (no
 * write was attempted): release the shard lock, changing nothing. */
void cache_write_cancel(struct cache *c, const void *key, size_t nkey);

/* Drop everything (engine truncate). */
void cache_clear(struct cache *c);
/* Around an engine truncate: begin takes every shard lock (in shard index
 * order; a writer holds at most one shard, so this cannot deadlock with
 * writers), end drops every entry and releases them. No write of any key
 * can then fall between the engine's truncate and the cache's clear. */
void cache_clear_begin(struct cache *c);
void cache_clear_end(struct cache *c);

struct cache_stats {
    uint64_t bytes_limit, bytes_used, items, hits, misses, evictions;
};
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
