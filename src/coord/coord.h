/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord.h - request coordination: memcached semantics (expiry, cas, add/
 * replace, append/prepend, incr/decr, touch, flush_all) over the storage
 * interface. Single node for now (N=1): the coordinator applies every request
 * to the local store; replication later adds peers behind the same calls.
 *
 * Threads: one struct coord is shared by all workers; each worker owns one
 * struct coord_thread (scratch buffers, no locking). Writers of one key are
 * serialised by striped locks inside the coordinator, so read-modify-write
 * commands are atomic across connections and threads.
 *
 * Completion: coord_execute fills *resp. It returns RC_OK when the reply may
 * go out now, or RC_EAGAIN when the reply is final but must wait until the
 * write is durable: the caller polls store_sync_check(store, *ticket) after
 * each sync notification.
 */
#ifndef RC_COORD_COORD_H
#define RC_COORD_COORD_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/request.h"
#include "store/store.h"

struct coord;
struct coord_thread;

#define COORD_HIST_SIBLINGS 8
#define COORD_HIST_ENTRIES  6

struct coord_config {
    uint64_t max_item_size;   /* append/prepend results beyond this are refused */
    bool use_cas;             /* false (-C): cas values are reported as 0 */
    bool flush_enabled;       /* false (-F): flush_all is refused */
    unsigned sweep_per_sec;   /* expired items the sweeper may remove per second */
    unsigned max_siblings;    /* client writes past this are refused (0 = 32) */
    unsigned tombstone_grace; /* seconds a delete's tombstone is kept */
    unsigned prune_keep;      /* clock entries kept by a prune (0 = 12) */
    bool reap_needs_ack;      /* a cluster: a tombstone is reaped only once its
                               * record carries the acked mark (every replica
                               * acknowledged it, doc/replication.txt section
                               * 10) and tombstone_grace has passed; never on
                               * the timer alone */
};

/* Figures the coordinator keeps (read by `stats`). */
struct coord_stats {
    uint64_t curr_items;
    uint64_t total_items;
    uint64_t bytes;     /* bytes of values stored */
    uint64_t reclaimed; /* expired or flushed items removed */
    uint64_t sweeps;    /* completed sweeper passes */
    /* Causal versioning (doc/versioning.txt section 14): */
    uint64_t objects_with_siblings; /* gauge */
    uint64_t tombstones_pending;    /* gauge */
    uint64_t siblings_hidden_reads, siblings_hidden, siblings_collapsed;
    uint64_t sibling_limit_refused, context_errors, tombstones_reaped, clock_prunes;
    uint64_t vget_cmds, vset_cmds;
    /* A cluster (doc/replication.txt section 10): tombstone records marked
     * acked on this node (reset), and tombstone-only records past their grace
     * that the last complete sweep kept because they were not marked (a
     * gauge, 0 on a single node). */
    uint64_t tombstones_acked, tombstones_unacked;
    /* Histograms of the objects stored: by siblings (1, 2, 3-4, 5-8, 9-16,
     * 17-32, 33-64, 65+) and by clock entries (1, 2, 3-4, 5-8, 9-16, 17+). */
    uint64_t hist_siblings[COORD_HIST_SIBLINGS];
    uint64_t hist_entries[COORD_HIST_ENTRIES];
};
extern const char *const coord_hist_siblings_names[COORD_HIST_SIBLINGS];
extern const char *const coord_hist_entries_names[COORD_HIST_ENTRIES];
/* Cluster mode: every member must seal contexts and derive cas values with
 * the same key, so the key is derived from the cluster secret (HMAC-SHA-256
 * of a fixed label) instead of the node's own random one. */
int coord_use_cluster_secret(struct coord *co, const void *secret, size_t nsecret);
/* Merge two stored records of key (object_merge; the result re-encoded with
 * its derived cas) into out: how two hints for one key become one. The
 * acked mark survives only as object_merge keeps it (identical clocks). */
int coord_merge_records(struct coord *co, const void *key, size_t nkey, const void *a, size_t na,
                        const void *b, size_t nb, struct buf *out);
/* Count a context refused before it reached the coordinator (a codec saw
 * it could not be one), in context_errors like every other refusal. */
void coord_note_context_error(struct coord *co);
/* Zero the counters `stats reset` resets (not gauges or histograms). */
void coord_reset_stats(struct coord *co);

int coord_create(const struct coord_config *cfg, struct store *st, struct coord **out);
void coord_destroy(struct coord *co); /* NULL ok; stops the sweeper */
struct store *coord_store(struct coord *co);

int coord_thread_create(struct coord *co, struct coord_thread **out);
void coord_thread_destroy(struct coord_thread *ct); /* NULL ok */

/* A hint that these keys will be used soon (store_prefetch). */
void coord_prefetch(struct coord *co, const struct store_key *keys, size_t nkeys);

/* Execute key ki of req (ki = 0 for single-key and keyless commands). */

int coord_execute(struct coord_thread *ct, const struct request *req, size_t ki,
                  struct response *resp, uint64_t *ticket);

void coord_get_stats(struct coord *co, struct coord_stats *out);

/* This node's identity: 16 random bytes made on first start and kept in the
 * store's metadata, so it survives restarts (the actor of its writes once
 * versioning lands). */
#define COORD_NODE_ID_LEN 16
const uint8_t *coord_node_id(const struct coord *co);
/* The tombstone grace the sweeper applies, in seconds (the configured one). */
unsigned coord_tombstone_grace(const struct coord *co);
/* Current wall-clock second as the coordinator sees it (for `stats time`). */
int64_t coord_now(struct coord *co);

#endif
