/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster_fwd.c - forwarding (doc/replication.txt): a write that reaches a
 * node outside its key's preference list goes, as a FORWARD frame, to a
 * member that coordinates it. Out: the transport a worker's coordinator
 * calls (cs_tr_forward), which encodes the request and hands the reply
 * back on the worker. In: a peer's FORWARD (cs_forward), decoded and run on
 * the peer thread's coordinator, answered when it completes.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "server/cluster_srv_internal.h"
#include "server/server.h"

static const struct {
    enum req_cmd req;
    uint8_t peer;
} cs_cmd_map[] = {
    {REQ_GET, PEER_CMD_GET},         {REQ_GETS, PEER_CMD_GETS},     {REQ_GAT, PEER_CMD_GAT},
    {REQ_GATS, PEER_CMD_GATS},       {REQ_SET, PEER_CMD_SET},       {REQ_ADD, PEER_CMD_ADD},
    {REQ_REPLACE, PEER_CMD_REPLACE}, {REQ_APPEND, PEER_CMD_APPEND}, {REQ_PREPEND, PEER_CMD_PREPEND},
    {REQ_CAS, PEER_CMD_CAS},         {REQ_DELETE, PEER_CMD_DELETE}, {REQ_INCR, PEER_CMD_INCR},
    {REQ_DECR, PEER_CMD_DECR},       {REQ_TOUCH, PEER_CMD_TOUCH},   {REQ_VGET, PEER_CMD_VGET},
    {REQ_VSET, PEER_CMD_VSET},       {REQ_VDEL, PEER_CMD_VDEL},
};

static bool
cs_cmd_to_peer(enum req_cmd c, uint8_t *out)
{
    for (size_t i = 0; i < sizeof(cs_cmd_map) / sizeof(cs_cmd_map[0]); i++) {
        if (cs_cmd_map[i].req == c) {
            *out = cs_cmd_map[i].peer;
            return true;
        }
    }
    return false;
}

static bool
cs_cmd_from_peer(uint8_t c, enum req_cmd *out)
{
    for (size_t i = 0; i < sizeof(cs_cmd_map) / sizeof(cs_cmd_map[0]); i++) {
        if (cs_cmd_map[i].peer == c) {
            *out = cs_cmd_map[i].req;
            return true;
        }
    }
    return false;
}

/* A forwarded request's reply, rebuilt into a struct response; its
 * siblings need a home for the callback's duration. */
struct cs_fwd {
    coord_forward_done_fn done;
    void *arg;
};

static void
cs_fwd_reply(void *arg, const struct peer_reply *r)
{
    struct cs_fwd *f = arg;
    struct peer_forward_reply m;
    struct peer_fault fault;
    struct response resp;
    struct resp_sibling *sibs = NULL;
    char msg[256];
    int status = r->status;

    response_reset(&resp);
    if (status == RC_OK && peer_forward_reply_decode(&r->frame, &m, &fault) == RC_OK) {
        struct peer_sibling_iter it = peer_sibling_iter(&m);
        struct peer_sibling ps;
        size_t n = 0;

        if (m.nsiblings > 0) {
            sibs = rc_calloc(m.nsiblings, sizeof(*sibs));
            if (sibs == NULL) {
                status = RC_ENOMEM;
            }
        }
        while (sibs != NULL && n < m.nsiblings && peer_sibling_next(&it, &ps)) {
            sibs[n].flags = ps.flags;
            sibs[n].wtime_ms = ps.wtime_ms;
            sibs[n].value = ps.value;
            sibs[n].nvalue = ps.nvalue;
            n++;
        }
        resp.status = peer_code_to_status(m.status);
        if (m.nmessage > 0) { /* the coordinator's reason, relayed as it said it */
            size_t len = m.nmessage < sizeof(msg) - 1 ? m.nmessage : sizeof(msg) - 1;

            memcpy(msg, m.message, len);
            msg[len] = '\0';
            resp.errmsg = msg;
        }
        resp.miss = (enum resp_miss)m.miss;
        resp.flags = m.flags;
        resp.cas = m.cas;
        resp.number = m.number;
        resp.ttl = m.ttl;
        resp.last_access = m.last_access;
        resp.nlive = m.nlive;
        resp.context = m.context;
        resp.ncontext = m.ncontext;
        resp.value = m.value;
        resp.nvalue = m.nvalue;
        resp.siblings = sibs;
        resp.nsiblings = n;
        resp.stale = (m.rflags & PEER_RF_STALE) != 0;
        resp.win = (m.rflags & PEER_RF_WIN) != 0;
        resp.won_already = (m.rflags & PEER_RF_WON_ALREADY) != 0;
        resp.created = (m.rflags & PEER_RF_CREATED) != 0;
        resp.hit_before = (m.rflags & PEER_RF_HIT_BEFORE) != 0;
        if (status == RC_OK) {
            f->done(f->arg, RC_OK, &resp);
        }
    } else if (status == RC_OK) {
        status = RC_EPROTO;
    }
    if (status != RC_OK) {
        f->done(f->arg, status, NULL);
    }
    rc_free(sibs);
    rc_free(f);
}

int
cs_tr_forward(void *ctx, unsigned node, const struct request *req, size_t ki,
              coord_forward_done_fn done, void *arg)
{
    struct cs_link *l = ctx;
    struct cluster_srv *cs = l->cs;
    struct peer_forward m;
    struct cs_fwd *f;
    struct buf frame;
    int rc;

    memset(&m, 0, sizeof(m));
    if (node >= cs->nnodes || node == cs->self || ki >= req->nkeys ||
        !cs_cmd_to_peer(req->cmd, &m.cmd)) {
        return RC_EINVAL;
    }
    m.dialect = req->proto == REQ_PROTO_META     ? PEER_DIALECT_META
                : req->proto == REQ_PROTO_BINARY ? PEER_DIALECT_BINARY
                                                 : PEER_DIALECT_TEXT;
    m.options = req->opts.set & PEER_OPT_ALL;
    m.flags = req->flags;
    m.exptime = req->exptime;
    m.cas = req->cas;
    m.delta = req->delta;
    m.compare_cas = req->opts.compare_cas;
    m.initial = req->opts.initial;
    m.ttl = req->opts.ttl;
    m.vivify_ttl = req->opts.vivify_ttl;
    m.recache_ttl = req->opts.recache_ttl;
    if ((m.options & PEER_OPT_QUORUM) != 0) { /* the client's own R and W */
        m.r = req->opts.r <= PEER_QUORUM_MAX ? req->opts.r : PEER_QUORUM_MAX;
        m.w = req->opts.w <= PEER_QUORUM_MAX ? req->opts.w : PEER_QUORUM_MAX;
    }
    m.key = req->keys[ki].key;
    m.nkey = req->keys[ki].nkey;
    if (peer_cmd_has_context(m.cmd)) {
        m.context = req->context;
        m.ncontext = req->ncontext;
    }
    if (peer_cmd_has_value(m.cmd)) {
        m.value = req->value;
        m.nvalue = req->nvalue;
    }
    f = rc_calloc(1, sizeof(*f));
    if (f == NULL) {
        return RC_ENOMEM;
    }
    f->done = done;
    f->arg = arg;
    buf_init(&frame);
    rc = peer_forward_encode(PEER_VERSION_MAX, 1, &m, &frame);
    if (rc == RC_OK) {
        rc = peer_net_request(l->net, cs->peer_of[node], frame.data, frame.len, 0, cs_fwd_reply, f,
                              l->q);
    }
    buf_deinit(&frame);
    if (rc != RC_OK) {
        rc_free(f);
    }
    return rc;
}

/* A peer forwarded a client request: coordinate it here (never forwarded
 * again), on the peer thread's own coord_cluster, and answer when done. */
struct cs_fwd_in {
    struct cluster_srv *cs;
    struct peer_ticket pt;
    struct request req;
    struct req_key key;
    char *bytes; /* key, value and context copied */
};

static void
cs_fwd_in_done(void *arg, const struct response *resp, uint64_t ticket)
{
    struct cs_fwd_in *fi = arg;
    struct cluster_srv *cs = fi->cs;
    struct peer_forward_reply m;
    struct peer_sibling *sibs = NULL;
    struct buf frame;

    memset(&m, 0, sizeof(m));
    m.status = peer_code_from_status(resp->status);
    m.rflags = (uint8_t)((resp->stale ? PEER_RF_STALE : 0) | (resp->win ? PEER_RF_WIN : 0) |
                         (resp->won_already ? PEER_RF_WON_ALREADY : 0) |
                         (resp->created ? PEER_RF_CREATED : 0) |
                         (resp->hit_before ? PEER_RF_HIT_BEFORE : 0));
    m.miss = (uint8_t)resp->miss;
    m.flags = resp->flags;
    m.cas = resp->cas;
    m.number = resp->number;
    m.ttl = resp->ttl;
    m.last_access = resp->last_access;
    m.nlive = resp->nlive;
    m.context = resp->context;
    m.ncontext = resp->ncontext;
    if (resp->errmsg != NULL) {
        m.message = resp->errmsg;
        m.nmessage = strlen(resp->errmsg);
    }
    m.value = resp->value;
    m.nvalue = resp->nvalue;
    if (resp->nsiblings > 0 && (sibs = rc_calloc(resp->nsiblings, sizeof(*sibs))) != NULL) {
        for (size_t i = 0; i < resp->nsiblings; i++) {
            sibs[i].flags = resp->siblings[i].flags;
            sibs[i].wtime_ms = resp->siblings[i].wtime_ms;
            sibs[i].value = resp->siblings[i].value;
            sibs[i].nvalue = resp->siblings[i].nvalue;
        }
        m.siblings = sibs;
        m.nsiblings = resp->nsiblings;
    }
    buf_init(&frame);
    if (peer_forward_reply_encode(PEER_VERSION_MAX, fi->pt.id, &m, &frame) == RC_OK) {
        /* This node's own write counts towards W: the reply waits until it
         * is as durable as --sync promises, as a direct client's does. */
        cs_reply_durable(cs, &fi->pt, ticket, &frame);
    }
    buf_deinit(&frame);
    rc_free(sibs);
    rc_free(fi->bytes);
    rc_free(fi);
}

int
cs_forward(void *arg, struct peer_call *call, const struct peer_forward *m,
           struct peer_forward_reply *reply)
{
    struct cluster_srv *cs = arg;
    struct cs_fwd_in *fi;
    enum req_cmd cmd;
    char *p;

    (void)reply;
    if (cs->fwd_cl == NULL || !cs_cmd_from_peer(m->cmd, &cmd)) {
        return RC_EINVAL;
    }
    fi = rc_calloc(1, sizeof(*fi));
    if (fi == NULL || (fi->bytes = rc_malloc(m->nkey + m->nvalue + m->ncontext + 1)) == NULL) {
        rc_free(fi);
        return RC_ENOMEM;
    }
    fi->cs = cs;
    fi->pt = call->ticket;
    p = fi->bytes;
    memcpy(p, m->key, m->nkey);
    fi->key.key = p;
    fi->key.nkey = m->nkey;
    p += m->nkey;
    request_reset(&fi->req);
    fi->req.cmd = cmd;
    fi->req.proto = m->dialect == PEER_DIALECT_META     ? REQ_PROTO_META
                    : m->dialect == PEER_DIALECT_BINARY ? REQ_PROTO_BINARY
                                                        : REQ_PROTO_TEXT;
    fi->req.opts.set = m->options;
    fi->req.opts.compare_cas = m->compare_cas;
    fi->req.opts.initial = m->initial;
    fi->req.opts.ttl = m->ttl;
    fi->req.opts.vivify_ttl = m->vivify_ttl;
    fi->req.opts.recache_ttl = m->recache_ttl;
    fi->req.opts.r = m->r;
    fi->req.opts.w = m->w;
    fi->req.flags = m->flags;
    fi->req.exptime = m->exptime;
    fi->req.cas = m->cas;
    fi->req.delta = m->delta;
    if (m->nvalue > 0) {
        memcpy(p, m->value, m->nvalue);
    }
    fi->req.value = p;
    fi->req.nvalue = m->nvalue;
    p += m->nvalue;
    if (m->ncontext > 0) {
        memcpy(p, m->context, m->ncontext);
    }
    fi->req.context = p;
    fi->req.ncontext = m->ncontext;
    fi->req.keys = &fi->key;
    fi->req.nkeys = 1;
    if (coord_cluster_execute(cs->fwd_cl, &fi->req, 0, COORD_CL_FORWARDED, cs_fwd_in_done, fi) !=
        RC_OK) {
        rc_free(fi->bytes);
        rc_free(fi);
        return RC_ENOMEM;
    }
    return PEER_NET_DEFER;
}
