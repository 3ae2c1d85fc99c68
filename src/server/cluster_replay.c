/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster_replay.c - hinted handoff's second half (doc/replication.txt): a
 * thread that, every CS_REPLAY_TICK_MS, walks the hint store's targets
 * whose owner is up and sends their hints as PUTs (at most --hint-rate a
 * second, CS_REPLAY_INFLIGHT at once), deleting each hint only when its
 * owner acknowledged it. Hints older than --hint-max-age are dropped, not
 * sent (the tombstone grace depends on it, doc/replication.txt 10.5).
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"
#include "server/cluster_srv_internal.h"
#include "server/server.h"
#include "store/hints.h"

#define CS_REPLAY_TICK_MS  200
#define CS_REPLAY_INFLIGHT 64

struct cs_replay {
    struct cluster_srv *cs;
    uint8_t target[16];
    uint64_t id;
};

static void
cs_replay_done(void *arg, const struct peer_reply *r)
{
    struct cs_replay *rp = arg;
    struct cluster_srv *cs = rp->cs;

    if (r->status == RC_OK) {
        if (store_hint_delete(cs->srv->st, rp->target, rp->id) == RC_OK) {
            atomic_fetch_add(&cs->hints_replayed, 1);
        }
    } else {
        atomic_fetch_add(&cs->hint_failures, 1);
    }
    atomic_fetch_sub(&cs->replay_inflight, 1);
    rc_free(rp);
}

struct cs_scan {
    struct cluster_srv *cs;
    const uint8_t *target;
    size_t peer;
    struct buf frame;
};

static int
cs_replay_one(void *arg, const struct store_hint *h)
{
    struct cs_scan *sc = arg;
    struct cluster_srv *cs = sc->cs;
    struct peer_put m = {.flags = PEER_PUT_HANDOFF,
                         .partition = h->partition,
                         .key = h->key,
                         .nkey = h->nkey,
                         .record = h->rec,
                         .nrecord = h->nrec};
    int64_t max_age_ms = (int64_t)cs->srv->cfg->hint_max_age * 1000;
    struct cs_replay *rp;

    /* A hint past --hint-max-age is never replayed, even before the next
     * reap removes it: the tombstone grace is sized on that bound
     * (doc/replication.txt section 10), and an older version replayed to an
     * owner that reaped the key's tombstone would bring it back. */
    if (max_age_ms > 0 && cs_now_ms() - h->arrival_ms >= max_age_ms) {
        atomic_fetch_add(&cs->hints_expired, 1);
        return 0;
    }
    rp = rc_calloc(1, sizeof(*rp));
    if (rp == NULL) {
        return 1;
    }
    rp->cs = cs;
    memcpy(rp->target, sc->target, 16);
    rp->id = h->id;
    buf_reset(&sc->frame);
    atomic_fetch_add(&cs->replay_inflight, 1);
    if (peer_put_encode(PEER_VERSION_MAX, 1, &m, &sc->frame) != RC_OK ||
        peer_net_request(cs->net, sc->peer, sc->frame.data, sc->frame.len, 0, cs_replay_done, rp,
                         NULL) != RC_OK) {
        atomic_fetch_sub(&cs->replay_inflight, 1);
        rc_free(rp);
        return 1; /* stop this round; try again later */
    }
    return 0;
}

static int
cs_replay_target(void *arg, const uint8_t *target)
{
    struct cluster_srv *cs = arg;
    const struct config *cfg = cs->srv->cfg;
    size_t budget = (size_t)cfg->hint_rate * CS_REPLAY_TICK_MS / 1000;
    struct cs_scan sc = {.cs = cs, .target = target};
    uint64_t cursor = 0;
    unsigned node;
    bool done = false;

    if (!cs_node_of_target(cs, target, &node) || node == cs->self ||
        !peer_net_healthy(cs->net, cs->peer_of[node])) {
        return 0;
    }
    if (atomic_load(&cs->replay_inflight) >= CS_REPLAY_INFLIGHT) {
        return 0;
    }
    sc.peer = cs->peer_of[node];
    buf_init(&sc.frame);
    store_hint_scan(cs->srv->st, target, &cursor, budget > 0 ? budget : 1, cs_replay_one, &sc,
                    &done);
    buf_deinit(&sc.frame);
    return 0;
}

void *
cs_replayer_main(void *arg)
{
    struct cluster_srv *cs = arg;
    int64_t last_reap = 0;

    pthread_mutex_lock(&cs->replay_lock);
    while (!cs->stopping) {
        struct timespec ts;

        pthread_mutex_unlock(&cs->replay_lock);
        /* Only when the previous round's hints were answered, so a hint is
         * never sent twice at once. */
        if (atomic_load(&cs->replay_inflight) == 0) {
            store_hint_targets(cs->srv->st, cs_replay_target, cs);
        }
        if (cs_now_ms() - last_reap > 10000) {
            uint64_t reaped = 0;

            store_hint_reap(cs->srv->st, cs_now_ms(), &reaped);
            last_reap = cs_now_ms();
        }
        pthread_mutex_lock(&cs->replay_lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CS_REPLAY_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!cs->stopping) {
            pthread_cond_timedwait(&cs->replay_cond, &cs->replay_lock, &ts);
        }
    }
    pthread_mutex_unlock(&cs->replay_lock);
    return NULL;
}
