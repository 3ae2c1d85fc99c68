/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster.h - the cluster coordinator (doc/replication.txt sections 4 to 7
 * and 9): quorum reads with read repair, quorum writes over a sloppy quorum
 * with hinted fallbacks, forwarding of writes to a member of the key's
 * preference list; and the replica side that applies what peers send.
 * A layer over the single-node coordinator (coord.h): every decision about
 * a command is still coord_ops's, run against this node's replica (or, for
 * a read coordinated by a node outside the preference list, against an
 * in-memory copy of the merged object, coord_execute_view).
 *
 * No sockets here: the peers are reached through a table of functions
 * (struct coord_transport) that the peer transport implements (and the unit
 * tests fake). Everything is asynchronous: a transport call returns at once
 * and its completion arrives later, on the thread that owns the
 * struct coord_cluster, through the callback given.
 *
 *   replica side     coord_replica_merge    PUT: merge a peer's object
 *                    coord_replica_read     GET: the local record
 *   coordinator      coord_cluster_execute  one key of a client request
 *
 * State machines (one struct per request in flight, cluster.c):
 *
 *   READ  (get, gets, vget, mg without T/N)
 *     GET every other preference-list member (self answers locally, at
 *     once, when it is a member) --R answers (not-found counts)--> reply:
 *       member:     merge the answers into the local replica (a merge, as
 *                   a PUT would), then run the command locally with
 *                   coord_execute (so the node's bookkeeping is kept);
 *       non-member: merge the answers in memory, run coord_execute_view.
 *     --every member answered or failed--> READ REPAIR: the merge of every
 *     answer goes (PUT REPAIR) to each member whose object differs from it
 *     (and into the local replica). Fewer than R answers possible: SERVER_
 *     ERROR "read quorum not reached (<got> of <R>)", no repair.
 *   WRITE (set, delete, vset, vdel, ms, md): at a member: coord_execute
 *     locally now (the write path of V.4, this node the actor); if it stored
 *     a new version, PUT the record to ring_sloppy's targets (a fallback
 *     gets HINT and the owner) --W acks, self included--> reply; as soon
 *     as W is out of reach: "write quorum not reached (<got> of <W>)". The
 *     write is never rolled back. At a non-member: FORWARD.
 *   READ-THEN-WRITE (add, replace, append, prepend, cas, incr, decr,
 *     touch, gat, gats, set/delete with a compare cas, md I, mg T/N):
 *     at a member: the READ quorum phase and its merge into the local
 *     replica, then the command runs locally on the merged object and,
 *     when it made a durable change, the WRITE phase sends it (else READ
 *     REPAIR follows, as for a read). At a non-member: FORWARD.
 *   FORWARD: to the first healthy member, in list order (a member that
 *     refuses the call at once is skipped); its response is relayed. A
 *     forwarded request (COORD_CL_FORWARDED) is never forwarded again.
 *   LOCAL: everything else (flush_all, me, mn, ...) runs on this node
 *     only (see the TODO list in cluster.c).
 *
 *   TOMBSTONE MARK (after everything above is done, doc/replication.txt
 *     section 10): when the op's record holds only tombstones and every
 *     preference-list member is known to hold exactly that clock (write
 *     phase: each owner's PUT_ACK, not a fallback's, reports its cas with
 *     no live sibling; read: each member answered it or acknowledged its
 *     repair so), or one member already carries the mark for it, the
 *     coordinator marks its own replica and sends PUT ACKED to the members
 *     that hold it unmarked.
 *
 * Quorum failures reply with status RC_EAGAIN and the text in
 * resp->errmsg: the text and meta codecs print SERVER_ERROR <text>, the
 * binary codec status 0x0086 with the text.
 */
#ifndef RC_COORD_CLUSTER_H
#define RC_COORD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "coord/coord.h"
#include "kv/ring.h"
#include "proto/request.h"

/* ------------------------------------------------------------------ replica side */

enum coord_replica_result {
    COORD_REPLICA_STORED = 0,    /* the merge changed the local object */
    COORD_REPLICA_UNCHANGED = 1, /* the local object already descended or equalled it */
};

/* What a PUT_ACK reports (PP.8.3), and the ticket to wait for first. */
struct coord_replica_ack {
    enum coord_replica_result result;
    uint32_t nsiblings; /* siblings after the merge, tombstones included */
    uint32_t nlive;     /* live siblings after the merge */
    uint64_t cas;       /* derived cas after the merge (V.6) */
    uint64_t ticket;    /* durability ticket (store_sync_check); 0: none */
};

/* Merge the format 3 record rec[0..nrec) a peer sent for key into the local
 * object: one store transaction under the key's stripe lock (coord_update);
 * an absent key stores the object as it came (its node-local fields reset);
 * the result is re-encoded with this node's derived cas; counters and
 * gauges move as for every write. A merge makes no new version and is never
 * refused by --max-siblings (V.10). RC_ECORRUPT when object_load refuses
 * the record; store failures as coord_update's. */
int coord_replica_merge(struct coord_thread *ct, const void *key, size_t nkey, const void *rec,
                        size_t nrec, struct coord_replica_ack *ack);

/* A notice (PUT with COORD_PUT_ACKED): every replica of key acknowledged
 * the tombstone-only record rec[0..nrec). Marks the local record acked
 * (OBJECT_F_ACKED) in one transaction under the key's stripe lock, only if
 * it holds exactly that clock (object_same_clock: equal, not merely
 * covered) and only tombstones; otherwise nothing changes. ack->result:
 * STORED when the mark was set now, UNCHANGED when it was already set or
 * the notice was ignored; the figures are those of the local record. The
 * mark needs no durability wait (losing it in a crash keeps the tombstone).
 * RC_ECORRUPT when object_load refuses the record. */
int coord_replica_mark(struct coord_thread *ct, const void *key, size_t nkey, const void *rec,
                       size_t nrec, struct coord_replica_ack *ack);

/* The local record of key for a peer's GET (PP.9), format 3 (older formats
 * are lifted and re-encoded), into out (reset first). RC_OK with *dead set
 * when the record is expired or hidden by flush_all by this node's rules;
 * RC_ENOTFOUND when there is no (decodable) record. Changes nothing. */
int coord_replica_read(struct coord_thread *ct, const void *key, size_t nkey, struct buf *out,
                       bool *dead);

/* ------------------------------------------------------------------ transport */

/* PUT flags (the values of PP.8's). */
#define COORD_PUT_HINT    0x01u /* kept by a fallback for `owner` */
#define COORD_PUT_REPAIR  0x02u /* read repair: a merge, no new version */
#define COORD_PUT_HANDOFF 0x04u /* a hint replayed to its owner */
#define COORD_PUT_ACKED   0x08u /* a notice: every replica has this tombstone (PP.8, v2) */

/* GET completion flags (PP.9.2's reply flags). */
#define COORD_GET_DEAD  0x01u /* expired or flushed by the replica's rules */
#define COORD_GET_ACKED 0x02u /* the replica's record carries the acked mark */

enum coord_put_outcome { COORD_PUT_STORED = 0, COORD_PUT_UNCHANGED = 1, COORD_PUT_HINTED = 2 };

/* A PUT_ACK as the transport decoded it. */
struct coord_put_ack {
    enum coord_put_outcome result;
    bool synced; /* the peer's commit was on disk before it answered */
    uint32_t nsiblings, nlive;
    uint64_t cas;
};

/* Completions. status RC_OK: the peer answered (for a GET: found), RC_
 * ENOTFOUND (GET only): the peer has no record; anything else: no usable
 * answer (RC_EAGAIN for a timeout, RC_ECLOSED for a lost connection, the
 * peer's ERROR mapped to a status): the node counts as failed. Pointers are
 * valid during the call only. */
typedef void (*coord_put_done_fn)(void *arg, int status, const struct coord_put_ack *ack);
typedef void (*coord_get_done_fn)(void *arg, int status, const void *rec, size_t nrec,
                                  unsigned flags /* COORD_GET_* */);
typedef void (*coord_forward_done_fn)(void *arg, int status, const struct response *resp);

/* The peers, as the coordinator sees them. Nodes are ring indices. Every
 * argument is borrowed for the duration of the call only (the transport
 * copies or encodes what it keeps). A call returning RC_OK calls its done
 * callback exactly once, later, on the coordinator's thread (the state
 * machine tolerates a call back from inside the call, but a transport
 * should not do it); a call returning anything else never calls back and
 * the node counts as failed for that request. The transport enforces
 * --peer-timeout-ms: a request without an answer in time is called back
 * with RC_EAGAIN. Before coord_cluster_destroy every outstanding request
 * must have been called back (cancelled ones with RC_ECLOSED). */
struct coord_transport {
    void *ctx;
    /* false: the node is marked down (section 8); it is sent nothing. */
    bool (*healthy)(void *ctx, unsigned node);
    /* PUT (PP.8): flags COORD_PUT_*; owner: the member a HINT stands for
     * (== node without HINT). A transport refuses COORD_PUT_ACKED (returns
     * an error, never calls back) to a peer that speaks no protocol version
     * with notices, so such a peer keeps its tombstone unmarked. Records
     * are sent with the acked mark clear: it is this node's knowledge. */
    int (*put)(void *ctx, unsigned node, uint32_t partition, const void *key, size_t nkey,
               const void *rec, size_t nrec, unsigned flags, unsigned owner, coord_put_done_fn done,
               void *arg);
    /* GET (PP.9). */
    int (*get)(void *ctx, unsigned node, uint32_t partition, const void *key, size_t nkey,
               coord_get_done_fn done, void *arg);
    /* FORWARD (PP.10): key ki of req, run by node as its own client's
     * (the receiver calls coord_cluster_execute with COORD_CL_FORWARDED). */
    int (*forward)(void *ctx, unsigned node, const struct request *req, size_t ki,
                   coord_forward_done_fn done, void *arg);
};

/* ------------------------------------------------------------------ coordinator */

struct coord_cluster_config {
    const struct ring *ring; /* borrowed; outlives the coord_cluster */
    unsigned self;           /* this node's index in the ring */
    unsigned r, w;           /* read and write quorums, 1..ring_n(ring) */
    struct coord_transport transport;
};

/* Figures of one coord_cluster (one thread). */
struct coord_cluster_stats {
    uint64_t reads, writes, read_then_writes, forwards, local_ops;
    uint64_t read_quorum_failures, write_quorum_failures, forward_failures;
    uint64_t read_repairs;  /* PUT REPAIR sent to peers (and self-repairs) */
    uint64_t hinted_writes; /* PUT HINT sent to fallbacks */
    uint64_t in_flight;     /* requests not finished (repair included) */
    /* Tombstones (doc/replication.txt section 10): marks this coordinator
     * made on its own replica, and notices (PUT ACKED) it sent. */
    uint64_t tombstones_marked, tombstone_notices_sent;
};

/* One per thread that coordinates: it owns a coord_thread of co and every
 * request in flight, and the transport calls it back on that thread. */
struct coord_cluster;

int coord_cluster_create(struct coord *co, const struct coord_cluster_config *cfg,
                         struct coord_cluster **out);
/* NULL ok. Every transport request must have been called back before. */
void coord_cluster_destroy(struct coord_cluster *cl);

/* flags for coord_cluster_execute */
#define COORD_CL_FORWARDED 0x01u /* arrived as a FORWARD: never forwarded again */

/* The client's reply is ready. resp and its pointers are valid until the
 * callback returns. ticket: as coord_execute's (non-zero: the reply must
 * wait until store_sync_check(store, ticket) is RC_OK). */
typedef void (*coord_cluster_done_fn)(void *arg, const struct response *resp, uint64_t ticket);

/* Coordinate key ki of req. req is borrowed for the call only. RC_OK: done
 * is called exactly once, possibly before this returns (a local command, an
 * immediate failure, R = W = 1...); the request may stay in flight after
 * that (read repair, late acknowledgements). RC_ENOMEM: nothing happened,
 * done is not called. */
int coord_cluster_execute(struct coord_cluster *cl, const struct request *req, size_t ki,
                          unsigned flags, coord_cluster_done_fn done, void *arg);

/* Is this node in the preference list of key (a peer's GET, PUT or FORWARD
 * to a node that is not answers NOT_REPLICA)? */
bool coord_cluster_is_member(const struct coord_cluster *cl, const void *key, size_t nkey);

void coord_cluster_get_stats(const struct coord_cluster *cl, struct coord_cluster_stats *out);

#endif
