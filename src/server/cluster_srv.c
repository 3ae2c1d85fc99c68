/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster_srv.c - replication wired into the daemon (doc/replication.txt).
 *
 *   worker: conn --coord_cluster_execute--> coord/cluster (state machine)
 *              --transport put/get--> peer_net_request on the worker's own
 *              attached net: the frame is written and the reply read by the
 *              worker itself; the callback comes through the completion
 *              queue, drained on the same worker
 *   peer thread: PUT  -> coord_replica_merge (or the hint store with HINT)
 *                GET  -> coord_replica_read
 *                FLUSH-> flush_all here
 *   replayer thread: hints whose owner is up -> PUT HANDOFF -> delete on ack
 *
 * Files: this one (identity, the peer handlers, the worker transport,
 * ring <key>, flush_all, lifecycle, admin), cluster_fwd.c (FORWARD out and
 * in), cluster_replay.c (the replayer thread); what they share is in
 * cluster_srv_internal.h.
 *
 * Nodes are ring indices (sorted names) in the coordinator and peer indices
 * (--peers order) in the net; `peer_of` maps one to the other. A hint's
 * target is named by a 16-byte digest of the owner's name under the
 * cluster secret, the same on every node (nodes know each other by name).
 *
 * Durability of a replica's acknowledgement: under --sync=batch the log is
 * written to the OS before the ack (one write(2)); under --sync=always the
 * ack is deferred until the sync thread reports the flush that covers it;
 * under none it goes at once. So W counts replicas that hold the write as
 * durably as their mode promises.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/mac.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"
#include "coord/cluster.h"
#include "coord/coord.h"
#include "kv/object.h"
#include "kv/ring.h"
#include "server/cluster_srv.h"
#include "server/cluster_srv_internal.h"
#include "server/server.h"
#include "store/hints.h"
#include "store/store.h"

/* ------------------------------------------------------------------ identity */

static void
cs_target_id(const struct config *cfg, const char *name, uint8_t out[16])
{
    static const char label[] = "ringcached node name v1";
    struct mac_part parts[2] = {{label, sizeof(label) - 1}, {name, strlen(name)}};
    uint8_t mac[MAC_SHA256_SIZE];

    if (mac_hmac_sha256(cfg->cluster_secret, cfg->cluster_secret_len, parts, 2, mac) != RC_OK) {
        memset(mac, 0, sizeof(mac));
    }
    memcpy(out, mac, 16);
}

bool
cs_node_of_target(const struct cluster_srv *cs, const uint8_t *target, unsigned *node)
{
    for (size_t i = 0; i < cs->nnodes; i++) {
        if (memcmp(cs->target[i], target, 16) == 0) {
            *node = (unsigned)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ peer handlers */

static int
cs_hint_merge(void *arg, const void *older, size_t nolder, const void *newer, size_t nnewer,
              struct buf *out)
{
    struct cluster_srv *cs = arg;

    /* The key is not needed for the merge, only for the derived cas, which
     * the owner recomputes when it merges the hint: an empty key is fine. */
    return coord_merge_records(cs->srv->co, "", 0, older, nolder, newer, nnewer, out);
}

static void
cs_deferred_free(struct cs_deferred *d)
{
    buf_deinit(&d->frame);
    rc_free(d);
}

static void
cs_reply_io_error(struct cluster_srv *cs, const struct peer_ticket *pt)
{
    struct peer_error e = {.code = PEER_IO, .text = "flush failed", .ntext = 12};
    struct buf frame;

    buf_init(&frame);
    if (peer_error_encode(PEER_VERSION_MAX, pt->id, &e, &frame) == RC_OK) {
        peer_net_reply(cs->net, pt, frame.data, frame.len);
    }
    buf_deinit(&frame);
}

/* Queue d for the sync thread unless its ticket resolved meanwhile: RC_EAGAIN
 * when queued, else the ticket's result (d stays the caller's). The flush
 * may have completed, and its notify scanned the queue, since the caller's
 * own check: the ticket is looked at again under the queue's lock. A notify
 * that ran before this sees the flush done (completed is set before
 * subscribers are called); one after it finds d queued. Without this the
 * reply waited for the next flush, which a lone writer waiting on this very
 * reply never causes: the coordinator's request timed out. */
static int
cs_defer(struct cluster_srv *cs, struct cs_deferred *d)
{
    int rc;

    pthread_mutex_lock(&cs->defer_lock);
    rc = store_sync_check(cs->srv->st, d->ticket);
    if (rc == RC_EAGAIN) {
        d->next = cs->deferred;
        cs->deferred = d;
    }
    pthread_mutex_unlock(&cs->defer_lock);
    return rc;
}

/* Whether the write behind `ticket` (0: none) is already as durable as
 * --sync promises: RC_OK; RC_EAGAIN when the sync thread must flush it
 * first (always); RC_EIO when its flush failed. batch writes the log to the
 * OS here. */
static int
cs_durable_now(struct cluster_srv *cs, uint64_t ticket)
{
    struct store *st = cs->srv->st;
    int rc = ticket == 0 ? RC_OK : store_sync_check(st, ticket);

    if (rc == RC_EAGAIN && store_sync_inline(st)) {
        rc = store_sync_write_now(st);
    }
    return rc == RC_OK || rc == RC_EAGAIN ? rc : RC_EIO;
}

/* A PUT's ack, SYNCED, once the write behind `ticket` is durable: filled in
 * for the net to send (RC_OK) when it already is, else held for the sync
 * thread (PEER_NET_DEFER). */
static int
cs_ack_durable(struct cluster_srv *cs, struct peer_call *call, uint64_t ticket,
               struct peer_put_ack *ack)
{
    int rc = cs_durable_now(cs, ticket);
    struct buf frame;

    ack->flags |= PEER_ACK_SYNCED;
    if (rc != RC_EAGAIN) {
        return rc;
    }
    buf_init(&frame);
    rc = peer_put_ack_encode(PEER_VERSION_MAX, call->ticket.id, ack, &frame);
    if (rc == RC_OK) {
        cs_reply_durable(cs, &call->ticket, ticket, &frame);
    }
    buf_deinit(&frame);
    return rc == RC_OK ? PEER_NET_DEFER : rc;
}

/* The sync thread finished a flush: send the replies it covers. */
static void
cs_sync_notify(void *arg)
{
    struct cluster_srv *cs = arg;
    struct cs_deferred **pp, *ready = NULL;

    pthread_mutex_lock(&cs->defer_lock);
    for (pp = &cs->deferred; *pp != NULL;) {
        struct cs_deferred *d = *pp;
        int rc = store_sync_check(cs->srv->st, d->ticket);

        if (rc == RC_EAGAIN) {
            pp = &d->next;
            continue;
        }
        *pp = d->next;
        d->failed = rc != RC_OK;
        d->next = ready;
        ready = d;
    }
    pthread_mutex_unlock(&cs->defer_lock);
    while (ready != NULL) {
        struct cs_deferred *d = ready;

        ready = d->next;
        if (d->failed) {
            cs_reply_io_error(cs, &d->pt);
        } else {
            peer_net_reply(cs->net, &d->pt, d->frame.data, d->frame.len);
        }
        cs_deferred_free(d);
    }
}

void
cs_reply_durable(struct cluster_srv *cs, const struct peer_ticket *pt, uint64_t ticket,
                 const struct buf *frame)
{
    struct cs_deferred *d;
    int rc = cs_durable_now(cs, ticket);

    if (rc == RC_EAGAIN) {
        d = rc_calloc(1, sizeof(*d));
        rc = RC_ENOMEM;
        if (d != NULL) {
            d->ticket = ticket;
            d->pt = *pt;
            buf_init(&d->frame);
            if (buf_append(&d->frame, frame->data, frame->len) == RC_OK) {
                rc = cs_defer(cs, d);
            }
            if (rc != RC_EAGAIN) {
                cs_deferred_free(d);
            }
        }
    }
    if (rc == RC_OK) {
        peer_net_reply(cs->net, pt, frame->data, frame->len);
    } else if (rc != RC_EAGAIN) {
        cs_reply_io_error(cs, pt);
    }
}

/* The figures of a replica's merge or mark, as its PUT_ACK carries them. */
static void
cs_ack_fill(struct peer_put_ack *ack, const struct coord_replica_ack *ra)
{
    ack->result = ra->result == COORD_REPLICA_STORED ? PEER_PUT_STORED : PEER_PUT_UNCHANGED;
    ack->nsiblings = ra->nsiblings;
    ack->nlive = ra->nlive;
    ack->cas = ra->cas;
}

/* doc/peer-protocol.txt 8.2 steps 1 and 2: the rings agree on the key's
 * partition, and this node is one of its owners (a hint: this node is not
 * the owner named, which must be a member). A mismatch is a bug on one
 * side: logged loudly. */
static int
cs_put_check(struct cluster_srv *cs, struct peer_call *call, const struct peer_put *m)
{
    unsigned owner;

    if (m->partition != ring_partition(cs->srv->ring, m->key, m->nkey)) {
        log_error("peer PUT for partition %u, which this ring computes as %u: refused",
                  (unsigned)m->partition, (unsigned)ring_partition(cs->srv->ring, m->key, m->nkey));
        call->error_code = PEER_WRONG_PARTITION;
        return RC_EINVAL;
    }
    if ((m->flags & PEER_PUT_HINT) != 0) {
        bool known = cs_node_of_target(cs, m->owner, &owner);

        if (!known || owner == cs->self) {
            log_error("peer %s sent a hint whose owner is %s: refused", call->peer_name,
                      known ? "this node" : "not a member");
            call->error_code = PEER_NOT_REPLICA;
            return RC_EINVAL;
        }
        return RC_OK;
    }
    if (cs->fwd_cl == NULL || !coord_cluster_is_member(cs->fwd_cl, m->key, m->nkey)) {
        log_error("peer %s sent a PUT for a key this node does not own: refused", call->peer_name);
        call->error_code = PEER_NOT_REPLICA;
        return RC_EINVAL;
    }
    return RC_OK;
}

static int
cs_put(void *arg, struct peer_call *call, const struct peer_put *m, struct peer_put_ack *ack)
{
    struct cluster_srv *cs = arg;
    struct coord_replica_ack ra;
    int rc;

    atomic_fetch_add(&cs->puts_in, 1);
    memset(ack, 0, sizeof(*ack));
    rc = cs_put_check(cs, call, m);
    if (rc != RC_OK) {
        return rc;
    }
    if (m->flags & PEER_PUT_ACKED) {
        /* A notice: no durability wait (a mark lost in a crash only keeps
         * the tombstone longer), so the ack is not SYNCED. */
        atomic_fetch_add(&cs->notices_in, 1);
        rc = coord_replica_mark(cs->ct, m->key, m->nkey, m->record, m->nrecord, &ra);
        if (rc != RC_OK) {
            return rc;
        }
        cs_ack_fill(ack, &ra);
        return RC_OK;
    }
    if (m->flags & PEER_PUT_HINT) {
        struct store_hint h = {.arrival_ms = cs_now_ms(),
                               .partition = m->partition,
                               .key = m->key,
                               .nkey = m->nkey,
                               .rec = m->record,
                               .nrec = m->nrecord};

        rc = store_hint_put(cs->srv->st, m->owner, &h, cs_hint_merge, cs);
        if (rc != RC_OK) {
            return rc;
        }
        atomic_fetch_add(&cs->hints_stored, 1);
        ack->result = PEER_PUT_HINTED;
        return cs_ack_durable(cs, call, store_sync_ticket(cs->srv->st), ack);
    }
    rc = coord_replica_merge(cs->ct, m->key, m->nkey, m->record, m->nrecord, &ra);
    if (rc != RC_OK) {
        return rc;
    }
    cs_ack_fill(ack, &ra);
    return cs_ack_durable(cs, call, ra.ticket, ack);
}

static int
cs_get(void *arg, struct peer_call *call, const struct peer_get *m, struct peer_get_reply *reply)
{
    struct cluster_srv *cs = arg;
    struct object_view view;
    bool dead = false;
    int rc;

    (void)call;
    atomic_fetch_add(&cs->gets_in, 1);
    memset(reply, 0, sizeof(*reply));
    rc = coord_replica_read(cs->ct, m->key, m->nkey, &cs->scratch, &dead);
    if (rc == RC_ENOTFOUND) {
        reply->result = PEER_GET_NOT_FOUND;
        return RC_OK;
    }
    if (rc != RC_OK) {
        return rc;
    }
    reply->result = PEER_GET_FOUND;
    reply->flags = dead ? PEER_GET_DEAD : 0;
    /* The mark travels as a reply flag, never inside the record (PP.9.2). */
    if (object_view_decode(cs->scratch.data, cs->scratch.len, &view) == RC_OK && view.meta.acked &&
        object_record_set_acked(cs->scratch.data, cs->scratch.len, false)) {
        reply->flags |= PEER_GET_ACKED;
    }
    reply->record = cs->scratch.data;
    reply->nrecord = cs->scratch.len;
    return RC_OK;
}

static int
cs_flush(void *arg, struct peer_call *call, const struct peer_flush *m)
{
    struct cluster_srv *cs = arg;
    struct request req;
    struct response resp;
    uint64_t ticket = 0;
    struct buf frame;

    atomic_fetch_add(&cs->flushes_in, 1);
    request_reset(&req);
    req.cmd = REQ_FLUSH_ALL;
    req.exptime = m->delay;
    coord_execute(cs->ct, &req, 0, &resp, &ticket);
    if (resp.status != RC_OK || ticket == 0) {
        return resp.status;
    }
    /* Acknowledged once the flush is as durable as a client's flush_all
     * here would be (PP.11). */
    buf_init(&frame);
    if (peer_flush_ack_encode(PEER_VERSION_MAX, call->ticket.id, &frame) != RC_OK) {
        buf_deinit(&frame);
        return RC_ENOMEM;
    }
    cs_reply_durable(cs, &call->ticket, ticket, &frame);
    buf_deinit(&frame);
    return PEER_NET_DEFER;
}

/* ------------------------------------------------------------------ worker transport */

struct cs_call {
    coord_put_done_fn put_done;
    coord_get_done_fn get_done;
    void *arg;
    struct cluster_srv *cs;
    unsigned node; /* ring index of the peer asked */
};

/* Remember the version a peer's reply travelled in (see peer_version). */
static void
cs_note_version(const struct cs_call *c, const struct peer_reply *r)
{
    if (r->frame.h.type != 0 && c->node < c->cs->nnodes) {
        atomic_store(&c->cs->peer_version[c->node], r->frame.h.version);
    }
}

static struct cs_call *
cs_call_new(struct cluster_srv *cs, unsigned node, void *arg)
{
    struct cs_call *c = rc_calloc(1, sizeof(*c));

    if (c != NULL) {
        c->arg = arg;
        c->cs = cs;
        c->node = node;
    }
    return c;
}

/* Send the frame encoded (encode_rc) for call c to its node on the link's
 * completion queue, `reply` to run on the worker; releases the frame, and
 * c when nothing was sent. */
static int
cs_call_send(struct cs_link *l, struct cs_call *c, struct buf *frame, int encode_rc,
             peer_done_fn reply)
{
    int rc = encode_rc;

    if (rc == RC_OK) {
        rc = peer_net_request(l->net, l->cs->peer_of[c->node], frame->data, frame->len, 0, reply, c,
                              l->q);
    }
    buf_deinit(frame);
    if (rc != RC_OK) {
        rc_free(c);
    }
    return rc;
}

static bool
cs_tr_healthy(void *ctx, unsigned node)
{
    struct cs_link *l = ctx;
    struct cluster_srv *cs = l->cs;

    if (node == cs->self) {
        return true;
    }
    return node < cs->nnodes && peer_net_healthy(l->net, cs->peer_of[node]);
}

static void
cs_put_reply(void *arg, const struct peer_reply *r)
{
    struct cs_call *c = arg;
    struct coord_put_ack ack;
    struct peer_put_ack pa;
    struct peer_fault fault;
    int status = r->status;

    memset(&ack, 0, sizeof(ack));
    cs_note_version(c, r);
    if (status == RC_OK && peer_put_ack_decode(&r->frame, &pa, &fault) == RC_OK) {
        ack.result = pa.result == PEER_PUT_HINTED      ? COORD_PUT_HINTED
                     : pa.result == PEER_PUT_UNCHANGED ? COORD_PUT_UNCHANGED
                                                       : COORD_PUT_STORED;
        ack.synced = (pa.flags & PEER_ACK_SYNCED) != 0;
        ack.nsiblings = pa.nsiblings;
        ack.nlive = pa.nlive;
        ack.cas = pa.cas;
    } else if (status == RC_OK) {
        status = RC_EPROTO;
    }
    c->put_done(c->arg, status, &ack);
    rc_free(c);
}

static int
cs_tr_put(void *ctx, unsigned node, uint32_t partition, const void *key, size_t nkey,
          const void *rec, size_t nrec, unsigned flags, unsigned owner, coord_put_done_fn done,
          void *arg)
{
    struct cs_link *l = ctx;
    struct cluster_srv *cs = l->cs;
    struct peer_put m = {.flags = (uint8_t)flags,
                         .partition = partition,
                         .key = key,
                         .nkey = nkey,
                         .record = rec,
                         .nrecord = nrec};
    struct cs_call *c;
    struct buf frame;
    int rc;

    if (node >= cs->nnodes || node == cs->self) {
        return RC_EINVAL;
    }
    if ((flags & COORD_PUT_HINT) && owner < cs->nnodes) {
        memcpy(m.owner, cs->target[owner], sizeof(m.owner));
    }
    if ((flags & COORD_PUT_ACKED) && atomic_load(&cs->peer_version[node]) < 2) {
        return RC_EDISABLED; /* it speaks no notices: it keeps its tombstone */
    }
    c = cs_call_new(cs, node, arg);
    if (c == NULL) {
        return RC_ENOMEM;
    }
    c->put_done = done;
    buf_init(&frame);
    rc = peer_put_encode(PEER_VERSION_MAX, 1, &m, &frame);
    return cs_call_send(l, c, &frame, rc, cs_put_reply);
}

static void
cs_get_reply(void *arg, const struct peer_reply *r)
{
    struct cs_call *c = arg;
    struct peer_get_reply gr;
    struct peer_fault fault;

    cs_note_version(c, r);
    if (r->status == RC_OK && peer_get_reply_decode(&r->frame, &gr, &fault) == RC_OK) {
        if (gr.result == PEER_GET_FOUND) {
            c->get_done(c->arg, RC_OK, gr.record, gr.nrecord,
                        ((gr.flags & PEER_GET_DEAD) ? COORD_GET_DEAD : 0) |
                            ((gr.flags & PEER_GET_ACKED) ? COORD_GET_ACKED : 0));
        } else {
            c->get_done(c->arg, RC_ENOTFOUND, NULL, 0, 0);
        }
    } else {
        c->get_done(c->arg, r->status == RC_OK ? RC_EPROTO : r->status, NULL, 0, 0);
    }
    rc_free(c);
}

static int
cs_tr_get(void *ctx, unsigned node, uint32_t partition, const void *key, size_t nkey,
          coord_get_done_fn done, void *arg)
{
    struct cs_link *l = ctx;
    struct cluster_srv *cs = l->cs;
    struct peer_get m = {.partition = partition, .key = key, .nkey = nkey};
    struct cs_call *c;
    struct buf frame;
    int rc;

    if (node >= cs->nnodes || node == cs->self) {
        return RC_EINVAL;
    }
    c = cs_call_new(cs, node, arg);
    if (c == NULL) {
        return RC_ENOMEM;
    }
    c->get_done = done;
    buf_init(&frame);
    rc = peer_get_encode(PEER_VERSION_MAX, 1, &m, &frame);
    return cs_call_send(l, c, &frame, rc, cs_get_reply);
}

static void
cs_worker_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cs_link *l = arg;

    (void)fd;
    (void)what;
    peer_completions_drain(l->q);
}

static void
cs_worker_notify(void *arg)
{
    struct cs_link *l = arg;

    event_active(l->ev, EV_READ, 0);
}

int
cluster_srv_worker_init(struct cluster_srv *cs, struct worker *w)
{
    struct cs_link *l = rc_calloc(1, sizeof(*l));
    struct coord_cluster_config cc;
    int rc;

    if (l == NULL) {
        return RC_ENOMEM;
    }
    l->cs = cs;
    l->w = w;
    w->cl_link = l;
    l->ev = event_new(w->base, -1, EV_PERSIST, cs_worker_drain_cb, l);
    if (l->ev == NULL) {
        cluster_srv_worker_deinit(w);
        return RC_ENOMEM;
    }
    rc = peer_completions_create(cs_worker_notify, l, &l->q);
    if (rc == RC_OK) { /* one connection per peer: the worker is one thread */
        rc = peer_net_attach(cs->net, w->base, 1, &l->net);
    }
    if (rc != RC_OK) {
        cluster_srv_worker_deinit(w);
        return rc;
    }
    memset(&cc, 0, sizeof(cc));
    cc.ring = w->srv->ring;
    cc.self = cs->self;
    cc.r = config_read_quorum(w->srv->cfg);
    cc.w = config_write_quorum(w->srv->cfg);
    cc.transport.ctx = l;
    cc.transport.healthy = cs_tr_healthy;
    cc.transport.put = cs_tr_put;
    cc.transport.get = cs_tr_get;
    cc.transport.forward = cs_tr_forward;
    rc = coord_cluster_create(w->srv->co, &cc, &w->cl);
    if (rc != RC_OK) {
        cluster_srv_worker_deinit(w);
        return rc;
    }
    return RC_OK;
}

void
cluster_srv_worker_deinit(struct worker *w)
{
    struct cs_link *l = w->cl_link;

    if (l == NULL) {
        return;
    }
    /* The worker's loop has ended: stopping its net fails what is in flight
     * into the queue, and the drain completes every request. */
    peer_net_stop(l->net);
    if (l->q != NULL) {
        peer_completions_drain(l->q);
    }
    coord_cluster_destroy(w->cl);
    w->cl = NULL;
    peer_net_destroy(l->net);
    peer_completions_destroy(l->q);
    if (l->ev != NULL) {
        event_free(l->ev);
    }
    rc_free(l);
    w->cl_link = NULL;
}

/* ------------------------------------------------------------------ ring <key> */

struct cs_ver {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    char text[32];
};

static void
cs_ver_reply(void *arg, const struct peer_reply *r)
{
    struct cs_ver *v = arg;
    struct peer_get_reply gr;
    struct peer_fault fault;
    struct object_view view;
    char text[32] = "?";

    if (r->status == RC_OK && peer_get_reply_decode(&r->frame, &gr, &fault) == RC_OK) {
        if (gr.result != PEER_GET_FOUND) {
            snprintf(text, sizeof(text), "-");
        } else if (object_view_decode(gr.record, gr.nrecord, &view) == RC_OK) {
            snprintf(text, sizeof(text), "%" PRIu64, view.cas);
        }
    }
    pthread_mutex_lock(&v->lock);
    memcpy(v->text, text, sizeof(text));
    v->done = true;
    pthread_cond_signal(&v->cond);
    pthread_mutex_unlock(&v->lock);
}

void
cluster_srv_peer_version(struct cluster_srv *cs, unsigned node, const void *key, size_t nkey,
                         char *out, size_t outsz)
{
    struct peer_get m = {
        .partition = ring_partition(cs->srv->ring, key, nkey), .key = key, .nkey = nkey};
    struct cs_ver *v = rc_calloc(1, sizeof(*v));
    struct buf frame;
    struct timespec ts;
    bool sent = false;

    snprintf(out, outsz, "?");
    if (v == NULL || node >= cs->nnodes || node == cs->self) {
        rc_free(v);
        return;
    }
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);
    buf_init(&frame);
    if (peer_get_encode(PEER_VERSION_MAX, 1, &m, &frame) == RC_OK &&
        peer_net_request(cs->net, cs->peer_of[node], frame.data, frame.len, 0, cs_ver_reply, v,
                         NULL) == RC_OK) {
        sent = true;
    }
    buf_deinit(&frame);
    if (!sent) {
        pthread_mutex_destroy(&v->lock);
        pthread_cond_destroy(&v->cond);
        rc_free(v);
        return;
    }
    /* The net calls back exactly once, by its own deadline at the latest
     * (the timeout, or "stopping"): wait for it, so v is never freed early. */
    pthread_mutex_lock(&v->lock);
    while (!v->done) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&v->cond, &v->lock, &ts);
    }
    snprintf(out, outsz, "%s", v->text);
    pthread_mutex_unlock(&v->lock);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cond);
    rc_free(v);
}

/* ------------------------------------------------------------------ flush_all */

/* A FLUSH waits at least this long for each peer. A peer applies flush_all
 * with durable writes on its peer thread, so one slow flush to disk can
 * outlast a short --peer-timeout-ms; a flush_all is rare and an operator's
 * command, so it waits for a slow disk where a read or write would not. */
#define CS_FLUSH_TIMEOUT_MIN_MS 5000u

struct cs_flush {
    cluster_flush_done_fn done;
    void *arg;
    unsigned pending, failed;
};

static void
cs_flush_finish(struct cs_flush *fl)
{
    if (fl->failed == 0) {
        fl->done(fl->arg, RC_OK, NULL);
    } else {
        fl->done(fl->arg, RC_EAGAIN, "flush_all did not reach every node");
    }
    rc_free(fl);
}

static void
cs_flush_reply(void *arg, const struct peer_reply *r)
{
    struct cs_flush *fl = arg;

    if (r->status != RC_OK) {
        fl->failed++;
    }
    if (--fl->pending == 0) {
        cs_flush_finish(fl);
    }
}

int
cluster_srv_flush(struct worker *w, int64_t delay, cluster_flush_done_fn done, void *arg)
{
    struct cs_link *l = w->cl_link;
    struct cluster_srv *cs = l->cs;
    struct peer_flush m = {.delay = delay, .origin_ms = cs_now_ms()};
    struct cs_flush *fl = rc_calloc(1, sizeof(*fl));
    struct buf frame;

    if (fl == NULL) {
        return RC_ENOMEM;
    }
    fl->done = done;
    fl->arg = arg;
    fl->pending = 1; /* held until every request is out */
    buf_init(&frame);
    if (peer_flush_encode(PEER_VERSION_MAX, 1, &m, &frame) != RC_OK) {
        fl->failed++;
    }
    for (size_t i = 0; frame.len > 0 && i < cs->nnodes; i++) {
        if (i == cs->self) {
            continue;
        }
        fl->pending++;
        if (peer_net_request(l->net, cs->peer_of[i], frame.data, frame.len, cs->flush_timeout_ms,
                             cs_flush_reply, fl, l->q) != RC_OK) {
            fl->pending--;
            fl->failed++;
        }
    }
    buf_deinit(&frame);
    if (--fl->pending == 0) {
        cs_flush_finish(fl);
    }
    return RC_OK;
}

/* ------------------------------------------------------------------ lifecycle */

/* The coordinator FORWARDs run on: the peer thread's, whose transport
 * calls back on the peer thread itself (no completion queue). */
static int
cs_fwd_cluster_create(struct cluster_srv *cs)
{
    struct coord_cluster_config cc;
    struct cs_link *l = rc_calloc(1, sizeof(*l));

    if (l == NULL) {
        return RC_ENOMEM;
    }
    l->cs = cs;
    l->net = cs->net;
    memset(&cc, 0, sizeof(cc));
    cc.ring = cs->srv->ring;
    cc.self = cs->self;
    cc.r = config_read_quorum(cs->srv->cfg);
    cc.w = config_write_quorum(cs->srv->cfg);
    cc.transport.ctx = l;
    cc.transport.healthy = cs_tr_healthy;
    cc.transport.put = cs_tr_put;
    cc.transport.get = cs_tr_get;
    cc.transport.forward = cs_tr_forward;
    cs->fwd_link = l;
    return coord_cluster_create(cs->srv->co, &cc, &cs->fwd_cl);
}

int
cluster_srv_create(struct server *srv, struct cluster_srv **out)
{
    const struct config *cfg = srv->cfg;
    struct cluster_srv *cs = rc_calloc(1, sizeof(*cs));
    struct peer_net_peer_config *peers = NULL;
    char(*addrs)[PEER_NET_ADDR_MAX] = NULL;
    char listen[PEER_NET_ADDR_MAX];
    struct peer_net_config nc;
    size_t idx;
    int rc = RC_ENOMEM;

    *out = NULL;
    if (cs == NULL) {
        return RC_ENOMEM;
    }
    cs->srv = srv;
    pthread_mutex_init(&cs->defer_lock, NULL);
    pthread_mutex_init(&cs->replay_lock, NULL);
    pthread_cond_init(&cs->replay_cond, NULL);
    buf_init(&cs->scratch);
    cs->nnodes = ring_nodes(srv->ring);
    cs->peer_of = rc_calloc(cs->nnodes, sizeof(*cs->peer_of));
    cs->target = rc_calloc(cs->nnodes, sizeof(*cs->target));
    cs->peer_version = rc_calloc(cs->nnodes, sizeof(*cs->peer_version));
    peers = rc_calloc(cfg->npeers, sizeof(*peers));
    addrs = rc_calloc(cfg->npeers, sizeof(*addrs));
    if (cs->peer_of == NULL || cs->target == NULL || cs->peer_version == NULL || peers == NULL ||
        addrs == NULL) {
        goto fail;
    }
    rc = ring_node_index(srv->ring, cfg->name, strlen(cfg->name), &idx);
    if (rc != RC_OK) {
        goto fail;
    }
    cs->self = (unsigned)idx;
    for (size_t i = 0; i < cfg->npeers; i++) {
        const struct config_hostport *a = &cfg->peers[i].addr;

        snprintf(addrs[i], sizeof(addrs[i]), strchr(a->host, ':') ? "[%s]:%d" : "%s:%d", a->host,
                 a->port);
        peers[i].name = cfg->peers[i].name;
        peers[i].addr = addrs[i];
    }
    snprintf(listen, sizeof(listen), strchr(cfg->peer_listen_addr.host, ':') ? "[%s]:%d" : "%s:%d",
             cfg->peer_listen_addr.host, cfg->peer_listen_addr.port);
    memset(&nc, 0, sizeof(nc));
    nc.name = cfg->name;
    memcpy(nc.node_id, coord_node_id(srv->co), sizeof(nc.node_id));
    peer_net_ring_digest(ring_hash(srv->ring), nc.ring_hash);
    nc.partitions = ring_q(srv->ring);
    nc.replicas = (uint16_t)ring_n_requested(srv->ring);
    nc.secret = cfg->cluster_secret;
    nc.nsecret = cfg->cluster_secret_len;
    nc.listen = listen;
    nc.peers = peers;
    nc.npeers = cfg->npeers;
    nc.timeout_ms = (unsigned)cfg->peer_timeout_ms;
    cs->flush_timeout_ms =
        nc.timeout_ms > CS_FLUSH_TIMEOUT_MIN_MS ? nc.timeout_ms : CS_FLUSH_TIMEOUT_MIN_MS;
    nc.max_body = 64u << 20;
    nc.handlers.arg = cs;
    nc.handlers.put = cs_put;
    nc.handlers.get = cs_get;
    nc.handlers.forward = cs_forward;
    nc.handlers.flush = cs_flush;
    rc = peer_net_create(&nc, &cs->net);
    if (rc != RC_OK) {
        log_error("cannot start the peer port %s (the reason is logged above)", listen);
        goto fail;
    }
    for (size_t i = 0; i < cs->nnodes; i++) {
        const char *name = ring_node_name(srv->ring, i);

        cs_target_id(cfg, name, cs->target[i]);
        cs->peer_of[i] = CS_NO_PEER;
        if (i != cs->self && peer_net_peer_index(cs->net, name, &cs->peer_of[i]) != RC_OK) {
            rc = RC_EINTERNAL;
            goto fail;
        }
    }
    rc = coord_thread_create(srv->co, &cs->ct);
    if (rc == RC_OK) {
        rc = cs_fwd_cluster_create(cs);
    }
    if (rc == RC_OK) {
        rc = coord_use_cluster_secret(srv->co, cfg->cluster_secret, cfg->cluster_secret_len);
    }
    if (rc == RC_OK) {
        rc = store_sync_subscribe(srv->st, cs_sync_notify, cs);
    }
    if (rc != RC_OK) {
        goto fail;
    }
    rc_free(peers);
    rc_free(addrs);
    log_info("cluster: peer port %d, %zu peers, node %s", peer_net_port(cs->net), cfg->npeers,
             cfg->name);
    *out = cs;
    return RC_OK;
fail:
    rc_free(peers);
    rc_free(addrs);
    cluster_srv_destroy(cs);
    return rc;
}

int
cluster_srv_start(struct cluster_srv *cs)
{
    int rc = peer_net_start(cs->net);

    for (int i = 0; rc == RC_OK && i < cs->srv->nworkers; i++) {
        struct cs_link *l = cs->srv->workers[i].cl_link;

        if (l != NULL) {
            rc = peer_net_start(l->net); /* dials once the worker's loop runs */
        }
    }
    if (rc != RC_OK) {
        return rc;
    }
    if (pthread_create(&cs->replayer, NULL, cs_replayer_main, cs) != 0) {
        return RC_ENOMEM;
    }
    cs->replaying = true;
    return RC_OK;
}

void
cluster_srv_stop(struct cluster_srv *cs)
{
    if (cs == NULL) {
        return;
    }
    if (cs->replaying) {
        pthread_mutex_lock(&cs->replay_lock);
        cs->stopping = true;
        pthread_cond_signal(&cs->replay_cond);
        pthread_mutex_unlock(&cs->replay_lock);
        pthread_join(cs->replayer, NULL);
        cs->replaying = false;
    }
    if (cs->net != NULL) {
        peer_net_stop(cs->net);
    }
}

void
cluster_srv_destroy(struct cluster_srv *cs)
{
    if (cs == NULL) {
        return;
    }
    /* The store's sync thread outlives this: no more deferred acks. */
    store_sync_unsubscribe(cs->srv->st, cs_sync_notify, cs);
    cluster_srv_stop(cs);
    peer_net_destroy(cs->net);
    while (cs->deferred != NULL) {
        struct cs_deferred *d = cs->deferred;

        cs->deferred = d->next;
        cs_deferred_free(d);
    }
    coord_cluster_destroy(cs->fwd_cl); /* the net is stopped: nothing in flight */
    rc_free(cs->fwd_link);
    coord_thread_destroy(cs->ct);
    buf_deinit(&cs->scratch);
    rc_free(cs->peer_of);
    rc_free(cs->target);
    rc_free((void *)cs->peer_version);
    pthread_mutex_destroy(&cs->defer_lock);
    pthread_mutex_destroy(&cs->replay_lock);
    pthread_cond_destroy(&cs->replay_cond);
    rc_free(cs);
}

/* ------------------------------------------------------------------ admin */

/* One peer as this node sees it: the peer thread's net and every worker's
 * attached net together. It is up only when all of them reach it (a write
 * through any worker then finds it); the round trip is the peer thread's
 * PING; counters and connections are sums. *nets and *nets_up count the
 * nets and those that reach the peer. */
static int
cs_peer_stats(struct cluster_srv *cs, size_t peer, struct peer_net_peer_stats *ps, unsigned *nets,
              unsigned *nets_up)
{
    struct peer_net_peer_stats one;
    int rc = peer_net_peer_stats(cs->net, peer, ps);

    *nets = 1;
    *nets_up = ps->state == PEER_STATE_UP;

    for (int i = 0; rc == RC_OK && i < cs->srv->nworkers; i++) {
        struct cs_link *l = cs->srv->workers[i].cl_link;

        if (l == NULL || peer_net_peer_stats(l->net, peer, &one) != RC_OK) {
            continue;
        }
        (*nets)++;
        if (one.state != PEER_STATE_UP) {
            ps->state = one.state;
        } else {
            (*nets_up)++;
        }
        if (one.last_seen_ms > ps->last_seen_ms) {
            ps->last_seen_ms = one.last_seen_ms;
        }
        ps->conns_out += one.conns_out;
        ps->queued += one.queued;
        ps->requests_sent += one.requests_sent;
        ps->replies += one.replies;
        ps->timeouts += one.timeouts;
        ps->errors += one.errors;
        ps->auth_failures += one.auth_failures;
        ps->ring_mismatches += one.ring_mismatches;
        ps->late_replies += one.late_replies;
        ps->reconnects += one.reconnects;
    }
    return rc;
}

/* The transport totals over the peer thread's net and the workers'. */
static void
cs_net_totals(struct cluster_srv *cs, struct peer_net_totals *t)
{
    struct peer_net_totals one;

    peer_net_totals(cs->net, t);
    for (int i = 0; i < cs->srv->nworkers; i++) {
        struct cs_link *l = cs->srv->workers[i].cl_link;

        if (l == NULL) {
            continue;
        }
        peer_net_totals(l->net, &one);
        t->auth_failures += one.auth_failures;
        t->ring_mismatches += one.ring_mismatches;
        t->protocol_errors += one.protocol_errors;
        t->late_replies += one.late_replies;
        t->timeouts += one.timeouts;
        t->reconnects += one.reconnects;
        t->requests_sent += one.requests_sent;
    }
}

void
cluster_srv_members(struct cluster_srv *cs, struct buf *out)
{
    for (size_t i = 0; i < cs->nnodes; i++) {
        struct peer_net_peer_stats ps;
        unsigned nets, nets_up;
        struct store_hint_stats hs;
        int64_t now = cs_now_ms();

        if (i == cs->self || cs_peer_stats(cs, cs->peer_of[i], &ps, &nets, &nets_up) != RC_OK) {
            continue;
        }
        memset(&hs, 0, sizeof(hs));
        store_hint_stats(cs->srv->st, cs->target[i], &hs);
        buf_printf(out,
                   "MEMBER %s %s addr %s last_seen_ms %" PRId64 " rtt_us %" PRIu64 " hints %" PRIu64
                   " hint_bytes %" PRIu64 " oldest_hint_ms %" PRId64 " hints_replayed %" PRIu64
                   " hints_dropped %" PRIu64 " repair_partitions %" PRIu64 " nets_up %u/%u\r\n",
                   ps.name, peer_state_name(ps.state), ps.addr,
                   ps.last_seen_ms > 0 ? now - ps.last_seen_ms : (int64_t)-1, ps.rtt_us, hs.pending,
                   hs.bytes, hs.oldest_ms > 0 ? now - hs.oldest_ms : (int64_t)-1, hs.replayed,
                   hs.dropped_bytes + hs.dropped_age, hs.repair_parts, nets_up, nets);
    }
    buf_printf(out, "END\r\n");
}

static void
cs_emit_u64(cluster_stat_fn emit, void *arg, const char *name, uint64_t v)
{
    char num[24];

    snprintf(num, sizeof(num), "%" PRIu64, v);
    emit(arg, name, num);
}

void
cluster_srv_stats(struct cluster_srv *cs, struct server *srv, cluster_stat_fn emit, void *arg)
{
    struct coord_cluster_stats sum, one;
    struct coord_stats cst;
    struct peer_net_totals t;
    uint64_t hints = 0, hint_bytes = 0, dropped = 0, repair = 0;
    int64_t oldest = 0;

    memset(&sum, 0, sizeof(sum));
    for (int i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].cl == NULL) {
            continue;
        }
        coord_cluster_get_stats(srv->workers[i].cl, &one);
        sum.reads += one.reads;
        sum.writes += one.writes;
        sum.read_then_writes += one.read_then_writes;
        sum.forwards += one.forwards;
        sum.read_quorum_failures += one.read_quorum_failures;
        sum.write_quorum_failures += one.write_quorum_failures;
        sum.forward_failures += one.forward_failures;
        sum.read_repairs += one.read_repairs;
        sum.hinted_writes += one.hinted_writes;
        sum.in_flight += one.in_flight;
        sum.tombstones_marked += one.tombstones_marked;
        sum.tombstone_notices_sent += one.tombstone_notices_sent;
    }
    if (cs->fwd_cl != NULL) { /* forwarded writes are coordinated there */
        coord_cluster_get_stats(cs->fwd_cl, &one);
        sum.tombstones_marked += one.tombstones_marked;
        sum.tombstone_notices_sent += one.tombstone_notices_sent;
    }
    coord_get_stats(srv->co, &cst);
    for (size_t i = 0; i < cs->nnodes; i++) {
        struct store_hint_stats hs;

        if (store_hint_stats(cs->srv->st, cs->target[i], &hs) == RC_OK) {
            hints += hs.pending;
            hint_bytes += hs.bytes;
            dropped += hs.dropped_bytes + hs.dropped_age;
            repair += hs.repair_parts;
            if (hs.oldest_ms > 0 && (oldest == 0 || hs.oldest_ms < oldest)) {
                oldest = hs.oldest_ms;
            }
        }
    }
    cs_net_totals(cs, &t);
    cs_emit_u64(emit, arg, "cluster_nodes", cs->nnodes);
    cs_emit_u64(emit, arg, "cluster_reads", sum.reads);
    cs_emit_u64(emit, arg, "cluster_writes", sum.writes);
    cs_emit_u64(emit, arg, "cluster_read_then_writes", sum.read_then_writes);
    cs_emit_u64(emit, arg, "forwarded_requests", sum.forwards);
    cs_emit_u64(emit, arg, "forward_failures", sum.forward_failures);
    cs_emit_u64(emit, arg, "read_quorum_failures", sum.read_quorum_failures);
    cs_emit_u64(emit, arg, "write_quorum_failures", sum.write_quorum_failures);
    cs_emit_u64(emit, arg, "read_repairs", sum.read_repairs);
    cs_emit_u64(emit, arg, "hinted_writes", sum.hinted_writes);
    cs_emit_u64(emit, arg, "requests_in_flight", sum.in_flight);
    cs_emit_u64(emit, arg, "hints_pending", hints);
    cs_emit_u64(emit, arg, "hints_bytes", hint_bytes);
    cs_emit_u64(emit, arg, "hints_oldest_age_ms",
                oldest > 0 ? (uint64_t)(cs_now_ms() - oldest) : 0);
    cs_emit_u64(emit, arg, "hints_dropped", dropped);
    cs_emit_u64(emit, arg, "hint_repair_partitions", repair);
    cs_emit_u64(emit, arg, "hints_stored", atomic_load(&cs->hints_stored));
    cs_emit_u64(emit, arg, "hints_replayed", atomic_load(&cs->hints_replayed));
    cs_emit_u64(emit, arg, "hint_replay_failures", atomic_load(&cs->hint_failures));
    cs_emit_u64(emit, arg, "hints_expired_unreplayed", atomic_load(&cs->hints_expired));
    cs_emit_u64(emit, arg, "tombstone_grace", coord_tombstone_grace(srv->co));
    cs_emit_u64(emit, arg, "tombstones_acked", cst.tombstones_acked);
    cs_emit_u64(emit, arg, "tombstones_unacked", cst.tombstones_unacked);
    cs_emit_u64(emit, arg, "tombstones_marked_here", sum.tombstones_marked);
    cs_emit_u64(emit, arg, "tombstone_notices_sent", sum.tombstone_notices_sent);
    cs_emit_u64(emit, arg, "tombstone_notices_received", atomic_load(&cs->notices_in));
    cs_emit_u64(emit, arg, "peer_puts_received", atomic_load(&cs->puts_in));
    cs_emit_u64(emit, arg, "peer_gets_received", atomic_load(&cs->gets_in));
    cs_emit_u64(emit, arg, "peer_flushes_received", atomic_load(&cs->flushes_in));
    cs_emit_u64(emit, arg, "peer_requests_sent", t.requests_sent);
    cs_emit_u64(emit, arg, "peer_timeouts", t.timeouts);
    cs_emit_u64(emit, arg, "peer_errors", t.protocol_errors);
    cs_emit_u64(emit, arg, "peer_auth_failures", t.auth_failures);
    cs_emit_u64(emit, arg, "peer_ring_mismatches", t.ring_mismatches);
    cs_emit_u64(emit, arg, "peer_reconnects", t.reconnects);
}
