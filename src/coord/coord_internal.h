/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord_internal.h - what the coordinator's two halves share, and nothing
 * outside src/coord includes: coord.c (locks, cas numbering, flush
 * thresholds, record load/write, the sweeper, lifecycle) and coord_ops.c
 * (the semantics of each command over those primitives).
 *
 * Every function here that changes a key must be called with that key's
 * stripe lock (coord_key_lock) held; coord_load alone may run without it.
 */
#ifndef RC_COORD_COORD_INTERNAL_H
#define RC_COORD_COORD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "coord/coord.h"
#include "kv/record.h"

#define COORD_LOCKS             1024                /* stripes; power of two */
#define COORD_CAS_BLOCK         (1u << 20)          /* cas values reserved per metadata write */
#define COORD_REALTIME_MAXDELTA (60 * 60 * 24 * 30) /* memcached: 30 days */
#define COORD_INCR_MAX_LEN      64                  /* longest value incr/decr will parse */
#define COORD_META_CAS          "cas_hwm"
#define COORD_META_FLUSH        "flush"
#define COORD_META_NODE_ID      "node_id"

/* Items hidden by flush_all: cas below flush_cas, or written at or before
 * flush_ms, or (once its time has come) at or before pending_ms. */
struct coord_flush {
    _Atomic uint64_t flush_cas;
    _Atomic int64_t flush_ms;
    _Atomic int64_t pending_ms; /* 0 = none */
};

struct coord {
    struct coord_config cfg;
    struct store *st; /* borrowed; outlives the coord */
    pthread_mutex_t locks[COORD_LOCKS];

    pthread_mutex_t cas_lock; /* guards cas_reserved and the meta write */
    _Atomic uint64_t cas_next;
    _Atomic uint64_t cas_reserved; /* values < this are covered on disk */

    pthread_mutex_t flush_lock; /* serialises flush writers and the meta
                                 * write; readers load the atomics */
    struct coord_flush flush;

    _Atomic uint64_t curr_items, total_items, bytes, reclaimed, sweeps;

    uint8_t node_id[COORD_NODE_ID_LEN];

    pthread_t sweeper;
    bool sweeper_running;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
    bool stopping;
};

struct coord_thread {
    struct coord *co;
    struct buf old; /* current stored bytes of the key being worked on */
    struct buf enc; /* new encoded record */
    struct buf val; /* composed value (append/prepend/incr) */
};

int64_t coord_abs_exptime(int64_t exptime, int64_t now);
int coord_flush_all(struct coord *co, const struct request *req);
bool coord_is_flushed(struct coord *co, const struct record *r, int64_t now_ms);
pthread_mutex_t *coord_key_lock(struct coord *co, const struct req_key *k);

/* Read the key's record into ct->old and decode it into *r (whose value
 * points into ct->old). RC_OK: live. RC_ENOTFOUND: *miss says why, and
 * *present whether a dead record is still stored. Else a store failure. */
int coord_load(struct coord_thread *ct, const struct req_key *k, struct record *r,
               enum resp_miss *miss, bool *present);
/* Store a new version: a fresh cas, write time and
 * access time now. `had`/`oldlen`: whether a record existed and its value
 * length, for the counts. Sets *ticket (0: nothing to wait for). */
int coord_write(struct coord_thread *ct, const struct req_key *k, struct record *r, bool had,
                size_t oldlen, uint64_t *ticket);
/* Store *r as it is (same cas and write time). ticket may be NULL. */
int coord_rewrite(struct coord_thread *ct, const struct req_key *k, const struct record *r,
                  uint64_t *ticket);
int coord_remove(struct coord_thread *ct, const struct req_key *k, size_t oldlen, uint64_t *ticket);
void coord_fill_hit(const struct coord *co, struct response *resp, const struct record *r);

#endif
