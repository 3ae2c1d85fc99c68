/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord_internal.h - what the coordinator's two halves share, and nothing
 * outside src/coord includes: coord.c (locks, write sequence, flush
 * thresholds, context keys, the update transaction, object load/write, the
 * sweeper, lifecycle) and coord_ops.c (the semantics of each command over
 * those primitives).
 *
 * The write path (doc/versioning.txt section 4). A command that may change a
 * key runs as
 *     coord_update(ct, k, body, req, resp)
 * which takes the key's stripe lock and calls store_update: inside its one
 * transaction the current bytes are copied into ct->old and `body` decides,
 * using coord_load (reads ct->old) and at most one of coord_write,
 * coord_rewrite, coord_tombstone, coord_vwrite or coord_remove (each only
 * records what to store in ct). Counters and the durability ticket are
 * applied by coord_update after the commit, so a body that runs twice (a
 * Berkeley DB deadlock retry) counts once. A body must therefore not touch
 * shared state itself.
 */
#ifndef RC_COORD_COORD_INTERNAL_H
#define RC_COORD_COORD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "coord/coord.h"
#include "kv/context.h"
#include "kv/object.h"

#define COORD_LOCKS             1024       /* stripes; power of two */
#define COORD_CAS_BLOCK         (1u << 20) /* sequence values reserved per metadata write */
#define COORD_REALTIME_MAXDELTA (60 * 60 * 24 * 30) /* memcached: 30 days */
#define COORD_INCR_MAX_LEN      64                  /* longest value incr/decr will parse */
#define COORD_META_CAS          "cas_hwm"           /* the write sequence's high-water mark */
#define COORD_META_FLUSH        "flush"
#define COORD_META_NODE_ID      "node_id"
#define COORD_META_CTX_KEY      "ctx_key"
#define COORD_META_FORMAT       "record_format"
#define COORD_DEFAULT_SIBLINGS  32
#define COORD_MAX_SIBLINGS      4096

/* Items hidden by flush_all: write sequence below flush_seq, or written at or
 * before flush_ms, or (once its time has come) at or before pending_ms. */
struct coord_flush {
    _Atomic uint64_t flush_seq;
    _Atomic int64_t flush_ms;
    _Atomic int64_t pending_ms; /* 0 = none */
};

/* What one stored record contributes to the coordinator's gauges. */
struct coord_account {
    bool stored;    /* a record exists */
    bool item;      /* counts in curr_items (not deleted) */
    uint64_t bytes; /* dominant value bytes, for items */
    bool tomb;      /* only tombstones: counts in tombstones_pending */
    bool multi;     /* two or more siblings */
    uint32_t nsiblings, nentries;
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
    _Atomic uint64_t objects_with_siblings, tombstones_pending;
    _Atomic uint64_t siblings_hidden_reads, siblings_hidden, siblings_collapsed;
    _Atomic uint64_t sibling_limit_refused, context_errors, tombstones_reaped, clock_prunes;
    _Atomic uint64_t vget_cmds, vset_cmds;
    _Atomic uint64_t tombstones_acked, tombstones_unacked;
    _Atomic uint64_t hist_siblings[COORD_HIST_SIBLINGS];
    _Atomic uint64_t hist_entries[COORD_HIST_ENTRIES];

    uint8_t node_id[COORD_NODE_ID_LEN];
    struct dvv_actor self;
    struct context_keys keys;

    pthread_t sweeper;
    bool sweeper_running;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
    bool stopping;
};

/* Reads refresh an item's access time at most this often (memcached's
 * ITEM_UPDATE_INTERVAL), so a read-mostly key is re-marked once a minute at
 * most. */
#define COORD_BUMP_INTERVAL 60

/* The dominant sibling of an object as plain commands see it. */
struct coord_item {
    uint8_t iflags; /* RECORD_IF_* */
    uint32_t flags;
    int64_t exptime; /* absolute Unix seconds; 0 = never */
    uint64_t cas;    /* derived (V.6); 0 for a new item until written */
    uint64_t seq;    /* write sequence of the last local change */
    int64_t mtime_ms;
    int64_t atime;
    const void *value;
    size_t nvalue;
    uint32_t nlive, nsiblings;
    bool deleted; /* tombstone-dominant */
};

/* What a body decided, applied by coord_update after the commit. */
struct coord_pending {
    enum store_update_action action;
    bool want_ticket;         /* the reply waits for durability */
    bool soft;                /* bookkeeping only: a failed write is ignored */
    struct coord_account old; /* the record as found */
    struct coord_account neu; /* the record as written */
    uint64_t total_items;     /* new versions made (total_items) */
    uint64_t collapsed, prunes, reclaimed, reaped;
    uint64_t marked; /* tombstone records marked acked (cluster.c) */
};

struct coord_thread {
    struct coord *co;
    struct req_key key; /* the key being worked on (borrowed) */
    struct buf old;     /* its current stored bytes */
    bool have_old;      /* old holds a record (else the key is absent) */
    struct buf enc;     /* new encoded record */
    struct buf val;     /* composed value (append/prepend/incr) */
    struct buf ctxtok;  /* a context token for the reply */
    struct object obj;  /* the decoded object of `old`, when loaded */
    bool obj_loaded;
    struct resp_sibling *sibs; /* extension reads */
    size_t nsibs_cap;
    struct object_sibling *osibs;
    size_t nosibs_cap;
    struct coord_pending pend;
    uint32_t hidden;               /* live siblings a plain read did not show */
    const struct dvv_vector *vctx; /* an extension write's parsed context */
};

typedef int (*coord_body_fn)(struct coord_thread *ct, const struct request *req,
                             const struct req_key *k, struct response *resp);

int64_t coord_abs_exptime(int64_t exptime, int64_t now);
int coord_flush_all(struct coord *co, const struct request *req);
bool coord_is_flushed(struct coord *co, uint64_t seq, int64_t mtime_ms, int64_t now_ms);
pthread_mutex_t *coord_key_lock(struct coord *co, const struct req_key *k);
int coord_seq_next(struct coord *co, uint64_t *out);

/* Run body for key k inside one store transaction under the stripe lock;
 * fills *ticket when the reply must wait. Returns the body's status, or the
 * store's failure. */
int coord_update(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                 coord_body_fn body, struct response *resp, uint64_t *ticket);

/* Read the key's record without a lock into ct->old (reads outside
 * coord_update). */
int coord_read(struct coord_thread *ct, const struct req_key *k);
/* coord_read that also records the read (the fetched flag, and the access
 * time when COORD_BUMP_INTERVAL old) in the hot-item cache's copy when the
 * cache holds the key, unless the record's item flags share a bit with
 * skip_iflags. ct->old keeps the bytes as found; *marked says whether the
 * read was recorded (false on a cache miss: record it with coord_update). */
int coord_read_marked(struct coord_thread *ct, const struct req_key *k, int64_t now,
                      uint8_t skip_iflags, bool *marked);
/* Decode ct->old into *it. RC_OK: visible. RC_ENOTFOUND: *miss says why
 * (absent, expired, flushed, or deleted as RESP_MISS_ABSENT), and
 * *present whether a record is stored. */
int coord_load(struct coord_thread *ct, struct coord_item *it, enum resp_miss *miss, bool *present);
/* The whole object of ct->old, decoded once per body (ct->obj). */
int coord_object(struct coord_thread *ct, struct object **out);

/* Inside a body: store a new version of the dominant value `it` (value,
 * flags, exptime, iflags) superseding every sibling the node has (context
 * J). Sets it->cas and it->seq. */
int coord_write(struct coord_thread *ct, const struct req_key *k, struct coord_item *it);
/* Store the object with new bookkeeping (it's iflags, atime, exptime): no
 * new version. soft (fetched flag, access time, recache win): the new
 * header goes to the hot-item cache only (STORE_UPDATE_CACHE), so it lasts
 * while the key stays cached; the reply does not wait and a failure is
 * ignored. */
int coord_rewrite(struct coord_thread *ct, const struct req_key *k, const struct coord_item *it,
                  bool soft);
/* A delete superseding every sibling (plain delete). */
int coord_tombstone(struct coord_thread *ct, const struct req_key *k);
/* An extension write: value (or a tombstone when value is NULL) with the
 * client's context ctx; RC_ESIBLINGS past the limit. *nlive: live siblings
 * after. */
int coord_vwrite(struct coord_thread *ct, const struct req_key *k, const struct dvv_vector *ctx,
                 const struct request *req, bool tombstone, uint32_t *nlive);
/* Remove the record (dead, or a reapable tombstone). */
int coord_remove(struct coord_thread *ct);

/* Fill a hit reply from it. */
void coord_fill_hit(const struct coord *co, struct response *resp, const struct coord_item *it);
/* The context token of ct->obj for key k into ct->ctxtok and resp. */
int coord_fill_context(struct coord_thread *ct, const struct req_key *k, struct response *resp);
/* Validate a client's context for key k (V.9 checks 1 to 5). */
int coord_open_context(struct coord_thread *ct, const struct req_key *k, const char *tok,
                       size_t len, struct dvv_vector *out);

/* ------------------------------------------------------------------ cluster
 * Entry points the cluster coordinator (cluster.c) builds on; nothing in
 * single-node mode calls them. */

/* Inside a body: encode ct->obj into ct->enc with its derived cas (context_cas
 * of its join and ct->key) and record a put in ct->pend. */
int coord_encode_object(struct coord_thread *ct, uint64_t *cas);
/* Replace the context keys (V.9): every member of a cluster must hold the
 * same ones, so a context or cas made by one node is accepted by another.
 * Call before the coordinator serves requests. */
void coord_set_context_keys(struct coord *co, const struct context_keys *keys);
/* Run a retrieval (get, gets, vget and their meta and binary forms) of key ki
 * over the record rec[0..nrec) (rec NULL: absent) instead of the store: the
 * reply a single node holding exactly that record gives. Nothing is stored:
 * the access bookkeeping such a read would record is dropped. RC_EINVAL (in
 * resp->status too) for anything else, and for reads that would write (gat,
 * gats, REQO_TTL, REQO_VIVIFY). resp's pointers borrow ct's scratch, as
 * coord_execute's. */
int coord_execute_view(struct coord_thread *ct, const struct request *req, size_t ki,
                       const void *rec, size_t nrec, struct response *resp);

#endif
