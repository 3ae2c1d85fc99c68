/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster_srv_internal.h - what cluster_srv.c, cluster_fwd.c and
 * cluster_replay.c share: the daemon's replication state (struct
 * cluster_srv) and the functions one file hands to another. Private to
 * src/server; cluster_srv.h is the interface.
 */
#ifndef RC_SERVER_CLUSTER_SRV_INTERNAL_H
#define RC_SERVER_CLUSTER_SRV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "base/buf.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"
#include "coord/cluster.h"
#include "server/cluster_srv.h"

#define CS_NO_PEER ((size_t)-1)

/* An acknowledgement waiting for its flush (--sync=always). */
struct cs_deferred {
    struct cs_deferred *next;
    uint64_t ticket;
    struct peer_ticket pt;
    bool failed;      /* its flush failed: answer ERROR IO instead */
    struct buf frame; /* the reply, encoded */
};

struct cluster_srv {
    struct server *srv;
    struct peer_net *net;         /* the peer thread's: serves peers, replays hints */
    unsigned self;                /* ring index of this node */
    size_t nnodes;                /* ring nodes */
    size_t *peer_of;              /* ring index -> peer index (CS_NO_PEER: self) */
    uint8_t (*target)[16];        /* ring index -> hint target id */
    struct coord_thread *ct;      /* the peer thread's */
    struct coord_cluster *fwd_cl; /* the peer thread's coordinator (FORWARD) */
    struct cs_link *fwd_link;
    struct buf scratch;        /* GET replies (peer thread) */
    unsigned flush_timeout_ms; /* FLUSH's deadline: see cluster_srv_flush */

    pthread_mutex_t defer_lock;
    struct cs_deferred *deferred;

    pthread_t replayer;
    bool replaying;
    pthread_mutex_t replay_lock;
    pthread_cond_t replay_cond;
    bool stopping;
    _Atomic unsigned replay_inflight;

    _Atomic uint64_t puts_in, gets_in, hints_stored, hints_replayed, hint_failures, flushes_in;
    _Atomic uint64_t notices_in, hints_expired;
    /* ring index -> the protocol version its last reply came in (0: none
     * yet): a tombstone notice goes only to a peer known to speak 2, since
     * the net picks the connection (and so the version) after the frame is
     * built, and a version 1 peer would refuse the flag and close. */
    _Atomic uint8_t *peer_version;
};

/* The per-worker side: the transport a worker's coord_cluster uses. A
 * worker sends on its own attached net (peer_net.h), so its requests and
 * their replies never change threads; the peer thread's FORWARD
 * coordinator has a link too, on the peer thread's net and without a
 * queue (w NULL). */
struct cs_link {
    struct cluster_srv *cs;
    struct worker *w;
    struct peer_net *net; /* owned when w is set */
    struct peer_completions *q;
    struct event *ev;
};

static inline int64_t
cs_now_ms(void)
{
    return util_now_ms();
}

/* cluster_srv.c */
bool cs_node_of_target(const struct cluster_srv *cs, const uint8_t *target, unsigned *node);
/* Sends `frame`, the encoded reply to pt, once the write behind `ticket`
 * (0: none) is as durable as --sync promises: at once, or from the sync
 * thread like a PUT's ack. A failed flush answers ERROR IO instead. */
void cs_reply_durable(struct cluster_srv *cs, const struct peer_ticket *pt, uint64_t ticket,
                      const struct buf *frame);

/* cluster_fwd.c: requests forwarded to the member that coordinates them,
 * out (the transport of a worker's coordinator) and in (a peer's FORWARD,
 * run on the peer thread's coordinator). */
int cs_tr_forward(void *ctx, unsigned node, const struct request *req, size_t ki,
                  coord_forward_done_fn done, void *arg);
int cs_forward(void *arg, struct peer_call *call, const struct peer_forward *m,
               struct peer_forward_reply *reply);

/* cluster_replay.c: the hint replayer thread. */
void *cs_replayer_main(void *arg);

#endif
