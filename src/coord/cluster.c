/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster.c - the cluster coordinator over the single-node one (cluster.h
 * has the state machines; doc/replication.txt sections 4 to 7 and 9 the
 * rules).
 *
 * One struct cl_op per client request in flight. Its counters:
 *   read phase   got (answers, not-found included, self included when a
 *                member), rpending (GETs not called back); decided once
 *                got >= R (quorum) or got + rpending < R (failure);
 *   write phase  acks (self included), wpending; decided once acks >= W
 *                or acks + wpending < W;
 *   outstanding  every transport call not yet called back (GET, PUT,
 *                repair PUT, FORWARD): the op is freed once it replied,
 *                nothing is outstanding and its repair (reads) is done.
 * cl_step re-evaluates all of it after every event; while an op dispatches
 * transport calls (`dispatching`) the evaluation waits, so a transport that
 * calls back from inside a call cannot run the machine half-built.
 *
 * The member read path merges the answers the local replica does not
 * already cover into it (one coord_replica_merge, the PUT path; nothing is
 * written when it covers them all) before running the command with
 * coord_execute, rather than computing the reply from an in-memory merge:
 * the reply is the same (the local object then descends the merge), and the
 * node's own bookkeeping (first fetch, access time, recache wins, gat's
 * expiry) is recorded where doc/replication.txt section 4 says it is. A
 * command that stores a new version or a new expiry that way (gat, mg T,
 * mg N, add, incr...) continues with the write phase.
 *
 * Tombstone marks (doc/replication.txt section 10): once an op has nothing
 * outstanding, cl_consider_mark looks at what it learned about op->rec, a
 * tombstone-only record: holds[i] (member i holds exactly that clock: its
 * PUT_ACK or repair ack carried the record's cas with no live sibling, or
 * its GET answer was that clock) and marked[i] (its answer carried the
 * mark). All N holding it, or any one marked, lets the coordinator mark
 * its replica and send PUT ACKED to the others that hold it unmarked.
 *
 * Dead answers (a peer's record expired or hidden by flush_all by its own
 * rules) are not merged into anything: merging a flushed record into a
 * replica that no longer holds it would bring it back. A non-member
 * coordinator whose answers are all dead replies a miss.
 *
 * TODO (not built yet, by design or for lack of time):
 *   - flush_all is applied locally only (section 9: FLUSH to every peer);
 *   - per-request R and W for the extension commands (syntax to come);
 *   - tombstones of deletes that missed an owner are marked only by a later
 *     quorum read of the key (section 10.2); a background confirm of keys
 *     never read again is anti-entropy's (next issue);
 *   - the hint store: PUT HINT is sent with the owner, what the fallback
 *     does with it (src/store/hints.*) is the peer server's business;
 *   - node-local bookkeeping at a non-member coordinator (mg's recache win
 *     is handed out without being recorded there);
 *   - coord_set_context_keys must be fed the cluster's shared keys by the
 *     daemon (membership state, later work); until then contexts and cas
 *     values made by one node are refused or differ on another.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "coord/cluster.h"
#include "coord/coord_internal.h"
#include "kv/context.h"
#include "kv/dvv.h"
#include "kv/object.h"
#include "kv/ring.h"

/* ------------------------------------------------------------------ objects */

/* Last-writer-wins order of expiries, as object_merge applies it: > 0 when
 * a's expiry wins over b's. */
static int
cl_expiry_cmp(const struct object_meta *a, const struct object_meta *b)
{
    int c;

    if (a->exp_stamp_ms != b->exp_stamp_ms) {
        return a->exp_stamp_ms > b->exp_stamp_ms ? 1 : -1;
    }
    c = memcmp(a->exp_node.id, b->exp_node.id, DVV_ACTOR_SIZE);
    if (c != 0) {
        return c > 0 ? 1 : -1;
    }
    if (a->exptime != b->exptime) {
        return a->exptime > b->exptime ? 1 : -1;
    }
    return 0;
}

/* Identical encodings: equal even where dvv_compare cannot prove it (two
 * pruned copies of one clock). */
static bool
cl_clock_bytes_equal(const struct dvv_set *a, const struct dvv_set *b)
{
    struct buf ea, eb;
    bool same;

    buf_init(&ea);
    buf_init(&eb);
    same = dvv_encode(a, &ea) == RC_OK && dvv_encode(b, &eb) == RC_OK && ea.len == eb.len &&
           memcmp(ea.data, eb.data, ea.len) == 0;
    buf_deinit(&ea);
    buf_deinit(&eb);
    return same;
}

/* Does b know everything a does (b equals or descends a)? */
static bool
cl_clock_covered(const struct dvv_set *a, const struct dvv_set *b)
{
    enum dvv_order ord = dvv_compare(a, b);

    if (ord == DVV_EQUAL || ord == DVV_LESS) {
        return true;
    }
    return ord == DVV_CONCURRENT && cl_clock_bytes_equal(a, b);
}

/* Same clock and same expiry: nothing to repair. */
static bool
cl_same(const struct object *a, const struct object *b)
{
    if (a->clock == NULL || b->clock == NULL) {
        return a->clock == b->clock;
    }
    if (cl_expiry_cmp(&a->meta, &b->meta) != 0) {
        return false;
    }
    return dvv_compare(a->clock, b->clock) == DVV_EQUAL || cl_clock_bytes_equal(a->clock, b->clock);
}

/* Merge the record rec into o (rec need not outlive o). */
static int
cl_merge_record(struct coord *co, struct object *o, const void *rec, size_t nrec)
{
    struct object peer;
    int rc;

    object_init(&peer);
    rc = object_load(rec, nrec, &co->self, &peer);
    if (rc == RC_OK && peer.clock != NULL) {
        rc = object_merge(o, &peer);
    }
    object_deinit(&peer);
    return rc;
}

/* Encode o (which has a clock) with this node's derived cas into out, for
 * a peer or a merge: without the acked mark, which is node-local knowledge
 * and travels only as a notice (PUT ACKED). */
static int
cl_encode(struct coord *co, const struct req_key *k, const struct object *o, struct buf *out)
{
    struct object bare = *o; /* a shallow copy, only read */
    struct dvv_vector j;
    uint64_t cas;
    int rc = object_join(o, &j);

    bare.meta.acked = false;
    if (rc == RC_OK) {
        cas = context_cas(&co->keys, k->key, k->nkey, &j);
        buf_reset(out);
        rc = object_encode(&bare, cas, out);
    }
    dvv_vector_deinit(&j);
    return rc;
}

/* ------------------------------------------------------------------ replica side */

/* The figures of a PUT_ACK from o into resp (cas, nlive, nsiblings). */
static int
cl_fill_ack(struct coord_thread *ct, const struct req_key *k, const struct object *o,
            struct response *resp)
{
    struct dvv_vector j;
    int rc = object_join(o, &j);

    if (rc == RC_OK) {
        resp->cas = context_cas(&ct->co->keys, k->key, k->nkey, &j);
    }
    dvv_vector_deinit(&j);
    resp->nsiblings = o->clock != NULL ? object_nsiblings(o) : 0;
    resp->nlive = o->clock != NULL ? (uint32_t)object_nlive(o) : 0;
    return rc;
}

/* The local object (*o) and the peer's record (req->value) decoded into
 * *peer, which must hold a clock; on failure *peer is released. */
static int
cl_load_pair(struct coord_thread *ct, const struct request *req, struct object **o,
             struct object *peer)
{
    int rc = coord_object(ct, o);

    if (rc != RC_OK) {
        return rc;
    }
    object_init(peer);
    if (object_load(req->value, req->nvalue, &ct->co->self, peer) != RC_OK || peer->clock == NULL) {
        object_deinit(peer);
        return RC_ECORRUPT;
    }
    return RC_OK;
}

/* The body of a replica merge: the peer's record is req->value; the ack's
 * figures go to resp (created: the merge changed the object). */
static int
cl_body_merge(struct coord_thread *ct, const struct request *req, const struct req_key *k,
              struct response *resp)
{
    struct object *o, peer;
    int64_t now_ms = util_now_ms();
    uint64_t seq, cas;
    bool had;
    int rc = cl_load_pair(ct, req, &o, &peer);

    if (rc != RC_OK) {
        return rc;
    }
    peer.meta.acked = false; /* the sender's knowledge, not ours (PP.8.2) */
    had = o->clock != NULL;
    if (had && cl_clock_covered(peer.clock, o->clock) && cl_expiry_cmp(&peer.meta, &o->meta) <= 0) {
        object_deinit(&peer);
        resp->created = false;
        return cl_fill_ack(ct, k, o, resp);
    }
    rc = object_merge(o, &peer);
    object_deinit(&peer);
    if (rc != RC_OK) {
        return rc;
    }
    if (!had) {
        /* The sender's node-local fields are not ours: start afresh. */
        o->meta.iflags = 0;
        o->meta.atime = now_ms / 1000;
    }
    /* A local change: a new write sequence, so flush_all thresholds taken
     * before it do not hide what arrived after them. */
    rc = coord_seq_next(ct->co, &seq);
    if (rc != RC_OK) {
        return rc; /* RC_EAGAIN: coord_update reserves more and reruns */
    }
    o->meta.seq = seq;
    o->meta.mtime_ms = now_ms;
    rc = coord_encode_object(ct, &cas);
    if (rc != RC_OK) {
        return rc;
    }
    ct->pend.want_ticket = true;
    resp->created = true;
    resp->cas = cas;
    resp->nsiblings = object_nsiblings(o);
    resp->nlive = (uint32_t)object_nlive(o);
    return RC_OK;
}

/* The body of a notice: mark the local record acked if it holds exactly the
 * notified tombstone-only clock. The record keeps its write sequence and
 * times: the mark changes no version, and the sweeper's same-record check
 * (by write sequence) still holds for it. */
static int
cl_body_mark(struct coord_thread *ct, const struct request *req, const struct req_key *k,
             struct response *resp)
{
    struct object *o, peer;
    uint64_t cas;
    bool same;
    int rc = cl_load_pair(ct, req, &o, &peer);

    if (rc != RC_OK) {
        return rc;
    }
    same = object_tombstone_only(o) && object_same_clock(o, &peer);
    object_deinit(&peer);
    resp->created = false;
    if (same && !o->meta.acked) {
        o->meta.acked = true;
        rc = coord_encode_object(ct, &cas);
        if (rc != RC_OK) {
            return rc;
        }
        ct->pend.marked = 1;
        resp->created = true;
    }
    return cl_fill_ack(ct, k, o, resp);
}

/* Run a replica-side body over the record a peer sent. */
static int
cl_replica_update(struct coord_thread *ct, const void *key, size_t nkey, const void *rec,
                  size_t nrec, coord_body_fn body, struct coord_replica_ack *ack)
{
    struct req_key k = {(const char *)key, nkey};
    struct request req;
    struct response resp;
    uint64_t ticket = 0;
    int rc;

    memset(ack, 0, sizeof(*ack));
    request_reset(&req);
    req.keys = &k;
    req.nkeys = 1;
    req.value = rec;
    req.nvalue = nrec;
    response_reset(&resp);
    rc = coord_update(ct, &req, &k, body, &resp, &ticket);
    if (rc != RC_OK) {
        return rc;
    }
    ack->result = resp.created ? COORD_REPLICA_STORED : COORD_REPLICA_UNCHANGED;
    ack->nsiblings = (uint32_t)resp.nsiblings;
    ack->nlive = resp.nlive;
    ack->cas = resp.cas;
    ack->ticket = ticket;
    return RC_OK;
}

int
coord_replica_merge(struct coord_thread *ct, const void *key, size_t nkey, const void *rec,
                    size_t nrec, struct coord_replica_ack *ack)
{
    return cl_replica_update(ct, key, nkey, rec, nrec, cl_body_merge, ack);
}

int
coord_replica_mark(struct coord_thread *ct, const void *key, size_t nkey, const void *rec,
                   size_t nrec, struct coord_replica_ack *ack)
{
    return cl_replica_update(ct, key, nkey, rec, nrec, cl_body_mark, ack);
}

int
coord_replica_read(struct coord_thread *ct, const void *key, size_t nkey, struct buf *out,
                   bool *dead)
{
    struct req_key k = {(const char *)key, nkey};
    struct object_view v;
    struct coord_item it;
    enum resp_miss miss;
    struct object *o;
    bool present;
    uint64_t cas;
    int rc;

    buf_reset(out);
    *dead = false;
    rc = coord_read(ct, &k);
    if (rc != RC_OK) {
        return rc;
    }
    if (!ct->have_old || object_view_decode(ct->old.data, ct->old.len, &v) != RC_OK) {
        return RC_ENOTFOUND; /* absent, or corrupt (which reads as absent) */
    }
    (void)coord_load(ct, &it, &miss, &present);
    *dead = present && (miss == RESP_MISS_EXPIRED || miss == RESP_MISS_FLUSHED);
    if (!v.lifted) {
        return buf_append(out, ct->old.data, ct->old.len);
    }
    /* Formats 1 and 2 travel lifted and re-encoded (PP.9.2). */
    rc = coord_object(ct, &o);
    if (rc != RC_OK || o->clock == NULL) {
        return rc != RC_OK ? rc : RC_ENOTFOUND;
    }
    rc = coord_encode_object(ct, &cas);
    memset(&ct->pend, 0, sizeof(ct->pend)); /* nothing is stored */
    if (rc == RC_OK) {
        rc = buf_append(out, ct->enc.data, ct->enc.len);
    }
    return rc;
}

/* ------------------------------------------------------------------ coordinator */

enum cl_class {
    CL_LOCAL, /* this node alone */
    CL_READ,  /* quorum read, then read repair */
    CL_RMW,   /* quorum read, run locally, then a write phase if it wrote */
    CL_WRITE, /* run locally, then a write phase */
};

enum cl_state { CL_IDLE = 0, CL_PENDING, CL_FOUND, CL_ABSENT, CL_FAILED, CL_SELF };

struct cl_op;

/* One preference-list member in the read phase. */
struct cl_slot {
    struct cl_op *op;
    unsigned node;
    enum cl_state st;
    bool dead;
    bool acked;     /* its record carries the acked mark (COORD_GET_ACKED) */
    struct buf rec; /* CL_FOUND: its record */
};

/* One PUT (write phase, repair or tombstone notice). */
struct cl_put {
    struct cl_op *op;
    struct ring_target t;
    enum cl_state st;
    bool repair;
    bool notice; /* PUT ACKED: answers change nothing in the op */
    int member;  /* index in op->pref of the node it reaches; -1: a fallback */
};

struct cl_op {
    struct coord_cluster *cl;
    struct cl_op *prev, *next; /* the cluster's list of ops in flight */
    enum cl_class cls;
    coord_cluster_done_fn done;
    void *arg;

    /* A private copy of the request (one key). */
    struct request req;
    struct req_key key;
    struct buf reqbytes;

    uint32_t part;
    unsigned pref[RING_MAX_N];
    size_t npref;
    bool member;

    unsigned outstanding; /* transport calls not called back yet */
    bool dispatching;

    /* read phase */
    struct cl_slot slots[RING_MAX_N];
    unsigned got, rpending;
    bool read_started, read_decided, read_ok, repair_done;
    bool repair_wanted; /* reads, and read-then-writes that wrote nothing */

    /* write phase and repairs */
    struct cl_put puts[RING_MAX_N];
    size_t nputs;
    unsigned acks, wpending;
    bool write_started;
    struct buf rec; /* the record a write or a repair sends */

    /* forward */
    size_t fwd_next;

    /* the tombstone mark (doc/replication.txt section 10), by index in pref:
     * holds[i]: member i is known to hold exactly op->rec's clock (which
     * then holds only tombstones), marked[i]: and its record is marked */
    bool mark_candidate, mark_done;
    uint64_t mark_cas; /* the derived cas and siblings of op->rec */
    uint32_t mark_nsib;
    bool holds[RING_MAX_N], marked[RING_MAX_N];
    struct cl_put notices[RING_MAX_N];

    /* this request's quorums: the node's, or the client's (REQO_QUORUM) */
    unsigned r, w;

    /* the reply */
    bool replied;
    struct response resp;
    uint64_t ticket;
    struct buf rbuf; /* bytes the reply points into */
    struct resp_sibling *sibs;
    size_t nsibs_cap;
    char errbuf[96];
};

struct coord_cluster {
    struct coord *co;
    struct coord_thread *ct;
    struct coord_cluster_config cfg;
    struct coord_cluster_stats stats;
    struct cl_op *ops; /* in flight */
};

static void cl_step(struct cl_op *op);

/* ---- requests and replies */

static enum cl_class
cl_classify(const struct request *req)
{
    uint32_t o = req->opts.set;

    switch (req->cmd) {
    case REQ_GET:
    case REQ_GETS:
    case REQ_VGET:
        return (o & (REQO_TTL | REQO_VIVIFY)) != 0 ? CL_RMW : CL_READ;
    case REQ_GAT:
    case REQ_GATS:
        return CL_RMW;
    case REQ_SET:
        return (o & REQO_COMPARE_CAS) != 0 ? CL_RMW : CL_WRITE;
    case REQ_DELETE:
        return (o & (REQO_COMPARE_CAS | REQO_INVALIDATE)) != 0 ? CL_RMW : CL_WRITE;
    case REQ_VSET:
    case REQ_VDEL:
        return CL_WRITE;
    case REQ_ADD:
    case REQ_REPLACE:
    case REQ_APPEND:
    case REQ_PREPEND:
    case REQ_CAS:
    case REQ_INCR:
    case REQ_DECR:
    case REQ_TOUCH:
        return CL_RMW;
    default:
        return CL_LOCAL;
    }
}

/* Copy key ki of req (and what it points to) into op. */
static int
cl_copy_request(struct cl_op *op, const struct request *req, size_t ki)
{
    const struct req_key *k = &req->keys[ki];
    size_t need = k->nkey + req->nvalue + req->ncontext + req->wire.ntoken;
    char *p;

    if (buf_reserve(&op->reqbytes, need + 1) != RC_OK) {
        return RC_ENOMEM;
    }
    op->req = *req;
    p = op->reqbytes.data;
    memcpy(p, k->key, k->nkey);
    op->key.key = p;
    op->key.nkey = k->nkey;
    p += k->nkey;
    if (req->nvalue > 0) {
        memcpy(p, req->value, req->nvalue);
    }
    op->req.value = req->value != NULL ? p : NULL;
    p += req->nvalue;
    if (req->ncontext > 0) {
        memcpy(p, req->context, req->ncontext);
    }
    op->req.context = req->context != NULL ? p : NULL;
    p += req->ncontext;
    if (req->wire.ntoken > 0) {
        memcpy(p, req->wire.token, req->wire.ntoken);
    }
    op->req.wire.token = req->wire.token != NULL ? p : NULL;
    op->reqbytes.len = need;
    op->req.keys = &op->key;
    op->req.nkeys = 1;
    op->req.args = NULL;
    op->req.nargs = 0;
    return RC_OK;
}

/* Keep a deep copy of r as the op's reply. */
static int
cl_keep(struct cl_op *op, const struct response *r)
{
    size_t need = r->nvalue + r->ncontext + (r->errmsg != NULL ? strlen(r->errmsg) + 1 : 0);
    char *p;

    for (size_t i = 0; i < r->nsiblings; i++) {
        need += r->siblings[i].nvalue;
    }
    buf_reset(&op->rbuf);
    if (buf_reserve(&op->rbuf, need + 1) != RC_OK) {
        goto nomem;
    }
    if (r->nsiblings > op->nsibs_cap) {
        struct resp_sibling *s = rc_realloc(op->sibs, r->nsiblings * sizeof(*s));

        if (s == NULL) {
            goto nomem;
        }
        op->sibs = s;
        op->nsibs_cap = r->nsiblings;
    }
    op->resp = *r;
    p = op->rbuf.data;
    if (r->value != NULL) {
        memcpy(p, r->value, r->nvalue);
        op->resp.value = p;
        p += r->nvalue;
    }
    if (r->context != NULL) {
        memcpy(p, r->context, r->ncontext);
        op->resp.context = p;
        p += r->ncontext;
    }
    if (r->errmsg != NULL) {
        size_t n = strlen(r->errmsg) + 1;

        memcpy(p, r->errmsg, n);
        op->resp.errmsg = p;
        p += n;
    }
    for (size_t i = 0; i < r->nsiblings; i++) {
        op->sibs[i] = r->siblings[i];
        if (r->siblings[i].nvalue > 0) {
            memcpy(p, r->siblings[i].value, r->siblings[i].nvalue);
        }
        op->sibs[i].value = p;
        p += r->siblings[i].nvalue;
    }
    op->resp.siblings = r->nsiblings > 0 ? op->sibs : NULL;
    op->rbuf.len = (size_t)(p - op->rbuf.data);
    return RC_OK;
nomem:
    response_reset(&op->resp);
    op->resp.status = RC_ENOMEM;
    return RC_ENOMEM;
}

static void
cl_reply(struct cl_op *op)
{
    if (op->replied) {
        return;
    }
    op->replied = true;
    op->done(op->arg, &op->resp, op->ticket);
}

static void __attribute__((format(printf, 3, 4)))
cl_fail(struct cl_op *op, int status, const char *fmt, ...)
{
    va_list ap;

    if (op->replied) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(op->errbuf, sizeof(op->errbuf), fmt, ap);
    va_end(ap);
    response_reset(&op->resp);
    op->resp.status = status;
    op->resp.errmsg = op->errbuf;
    op->ticket = 0;
    cl_reply(op);
}

/* ---- lifecycle of an op */

/* The quorums of one request: the node's R and W, unless an extension
 * command asked for its own (REQO_QUORUM; 0 = the node's), capped at N. */
static void
cl_quorums(const struct coord_cluster *cl, const struct request *req, unsigned *r, unsigned *w)
{
    unsigned n = ring_n(cl->cfg.ring);

    *r = cl->cfg.r;
    *w = cl->cfg.w;
    if ((req->opts.set & REQO_QUORUM) == 0 ||
        (req->cmd != REQ_VGET && req->cmd != REQ_VSET && req->cmd != REQ_VDEL)) {
        return;
    }
    if (req->opts.r != 0) {
        *r = req->opts.r < n ? req->opts.r : n;
    }
    if (req->opts.w != 0) {
        *w = req->opts.w < n ? req->opts.w : n;
    }
}

static struct cl_op *
cl_op_new(struct coord_cluster *cl, const struct request *req, size_t ki, enum cl_class cls,
          coord_cluster_done_fn done, void *arg)
{
    struct cl_op *op = rc_calloc(1, sizeof(*op));

    if (op == NULL) {
        return NULL;
    }
    op->cl = cl;
    op->cls = cls;
    op->done = done;
    op->arg = arg;
    buf_init(&op->reqbytes);
    buf_init(&op->rec);
    buf_init(&op->rbuf);
    for (size_t i = 0; i < RING_MAX_N; i++) {
        buf_init(&op->slots[i].rec);
    }
    response_reset(&op->resp);
    if (cl_copy_request(op, req, ki) != RC_OK) {
        buf_deinit(&op->reqbytes);
        rc_free(op);
        return NULL;
    }
    cl_quorums(cl, req, &op->r, &op->w);
    op->next = cl->ops;
    if (cl->ops != NULL) {
        cl->ops->prev = op;
    }
    cl->ops = op;
    cl->stats.in_flight++;
    return op;
}

static void
cl_op_free(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;

    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        cl->ops = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    }
    cl->stats.in_flight--;
    buf_deinit(&op->reqbytes);
    buf_deinit(&op->rec);
    buf_deinit(&op->rbuf);
    for (size_t i = 0; i < RING_MAX_N; i++) {
        buf_deinit(&op->slots[i].rec);
    }
    rc_free(op->sibs);
    rc_free(op);
}

/* ---- local execution */

/* Run the request on this node's replica as a single node does. Returns
 * true when it stored a durable change (new version or new expiry), whose
 * record is then in op->rec. */
static bool
cl_run_local(struct cl_op *op)
{
    struct coord_thread *ct = op->cl->ct;
    struct response r;
    uint64_t ticket = 0;
    bool durable;

    memset(&ct->pend, 0, sizeof(ct->pend));
    coord_execute(ct, &op->req, 0, &r, &ticket);
    durable = r.status == RC_OK && ct->pend.action == STORE_UPDATE_PUT && !ct->pend.soft;
    if (durable) {
        buf_reset(&op->rec);
        if (buf_append(&op->rec, ct->enc.data, ct->enc.len) != RC_OK) {
            durable = false; /* stored here; repair spreads it later */
        }
    }
    cl_keep(op, &r);
    op->ticket = ticket;
    return durable;
}

/* A non-member's read: the reply from the merge of the answers, run on an
 * in-memory copy (coord_execute_view). */
static void
cl_run_view(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    struct coord *co = cl->co;
    struct object m;
    struct response r;
    unsigned alive = 0, dead = 0;
    int64_t dead_exp = -1;
    int rc = RC_OK;

    object_init(&m);
    for (size_t i = 0; i < op->npref && rc == RC_OK; i++) {
        struct cl_slot *s = &op->slots[i];

        if (s->st != CL_FOUND) {
            continue;
        }
        if (s->dead) {
            struct object_view v;

            if (object_view_decode(s->rec.data, s->rec.len, &v) == RC_OK) {
                dead_exp = v.meta.exptime;
            }
            dead++;
            continue;
        }
        rc = cl_merge_record(co, &m, s->rec.data, s->rec.len);
        alive++;
    }
    if (rc != RC_OK) {
        object_deinit(&m);
        cl_fail(op, rc, "cannot merge the replicas' objects (%s)", rc_strerror(rc));
        return;
    }
    if (alive == 0 && dead > 0) {
        response_reset(&r);
        r.status = RC_ENOTFOUND;
        r.miss = dead_exp > 0 && dead_exp <= util_now_s() ? RESP_MISS_EXPIRED : RESP_MISS_FLUSHED;
    } else if (alive == 0 || m.clock == NULL) {
        coord_execute_view(cl->ct, &op->req, 0, NULL, 0, &r);
    } else {
        /* Visibility by flush_all was decided by the replicas (dead
         * answers); the node-local fields are this coordinator's. */
        m.meta.seq = UINT64_MAX;
        m.meta.mtime_ms = INT64_MAX;
        m.meta.iflags = 0;
        m.meta.atime = util_now_s();
        rc = cl_encode(co, &op->key, &m, &op->rec);
        if (rc != RC_OK) {
            object_deinit(&m);
            cl_fail(op, rc, "cannot encode the merged object (%s)", rc_strerror(rc));
            return;
        }
        coord_execute_view(cl->ct, &op->req, 0, op->rec.data, op->rec.len, &r);
    }
    object_deinit(&m);
    cl_keep(op, &r);
    op->ticket = 0;
    cl_reply(op);
}

/* ---- transport completions */

static void
cl_get_done(void *arg, int status, const void *rec, size_t nrec, unsigned flags)
{
    struct cl_slot *s = arg;
    struct cl_op *op = s->op;

    op->outstanding--;
    op->rpending--;
    if (status == RC_OK) {
        buf_reset(&s->rec);
        if (nrec >= OBJECT_HEADER_SIZE && buf_append(&s->rec, rec, nrec) == RC_OK) {
            s->st = CL_FOUND;
            s->dead = (flags & COORD_GET_DEAD) != 0;
            s->acked = (flags & COORD_GET_ACKED) != 0;
        } else {
            s->st = CL_FAILED;
        }
    } else if (status == RC_ENOTFOUND) {
        s->st = CL_ABSENT;
    } else {
        s->st = CL_FAILED;
    }
    if (s->st == CL_FOUND || s->st == CL_ABSENT) {
        op->got++;
    }
    cl_step(op);
}

static void
cl_put_done(void *arg, int status, const struct coord_put_ack *ack)
{
    struct cl_put *p = arg;
    struct cl_op *op = p->op;

    op->outstanding--;
    p->st = status == RC_OK ? CL_FOUND : CL_FAILED;
    /* An owner (never a fallback: a hint is not a replica) that reports
     * exactly the tombstone sent, no newer or concurrent version: its
     * derived cas names the clock's history and no live sibling came in. */
    if (!p->notice && status == RC_OK && ack != NULL && op->mark_candidate && p->member >= 0 &&
        ack->result != COORD_PUT_HINTED && ack->nlive == 0 && ack->nsiblings == op->mark_nsib &&
        ack->cas == op->mark_cas) {
        op->holds[p->member] = true;
    }
    if (!p->repair && !p->notice) {
        op->wpending--;
        if (status == RC_OK) {
            op->acks++; /* STORED, UNCHANGED and HINTED all count */
        }
    }
    cl_step(op);
}

static void
cl_forward_done(void *arg, int status, const struct response *resp)
{
    struct cl_op *op = arg;

    op->outstanding--;
    if (status == RC_OK && resp != NULL) {
        cl_keep(op, resp);
        op->ticket = 0;
        cl_reply(op);
    } else {
        op->cl->stats.forward_failures++;
        if (status == RC_EAGAIN) {
            cl_fail(op, RC_EAGAIN, "peer timeout");
        } else {
            cl_fail(op, RC_EAGAIN, "forward failed: %s", rc_strerror(status));
        }
    }
    cl_step(op);
}

/* ---- dispatch */

static bool
cl_healthy(const struct coord_cluster *cl, unsigned node)
{
    const struct coord_transport *t = &cl->cfg.transport;

    return node == cl->cfg.self || t->healthy == NULL || t->healthy(t->ctx, node);
}

/* The index of node in op's preference list, -1 when it is not a member. */
static int
cl_pref_index(const struct cl_op *op, unsigned node)
{
    for (size_t i = 0; i < op->npref; i++) {
        if (op->pref[i] == node) {
            return (int)i;
        }
    }
    return -1;
}

/* Is op->rec a tombstone-only record that a mark could name? Resets what is
 * known about who holds it. */
static void
cl_mark_prepare(struct cl_op *op)
{
    struct object_view v;

    memset(op->holds, 0, sizeof(op->holds));
    memset(op->marked, 0, sizeof(op->marked));
    op->mark_candidate = object_view_decode(op->rec.data, op->rec.len, &v) == RC_OK && !v.lifted &&
                         v.deleted && v.nlive == 0 && v.nsiblings > 0;
    op->mark_cas = op->mark_candidate ? v.cas : 0;
    op->mark_nsib = op->mark_candidate ? v.nsiblings : 0;
}

/* Send one PUT of op->rec; false if the transport refused it at once. */
static bool
cl_send_put(struct cl_op *op, const struct ring_target *t, unsigned flags, bool repair)
{
    struct coord_cluster *cl = op->cl;
    const struct coord_transport *tr = &cl->cfg.transport;
    struct cl_put *p = &op->puts[op->nputs++];
    int rc;

    p->op = op;
    p->t = *t;
    p->repair = repair;
    p->notice = false;
    p->member = t->fallback ? -1 : cl_pref_index(op, t->node);
    p->st = CL_PENDING;
    op->outstanding++;
    if (!repair) {
        op->wpending++;
    }
    rc = tr->put(tr->ctx, t->node, op->part, op->key.key, op->key.nkey, op->rec.data, op->rec.len,
                 flags, t->owner, cl_put_done, p);
    if (rc != RC_OK && p->st == CL_PENDING) {
        p->st = CL_FAILED;
        op->outstanding--;
        if (!repair) {
            op->wpending--;
        }
        return false;
    }
    return true;
}

/* The write phase: op->rec to ring_sloppy's targets; self is one ack. */
static void
cl_start_write(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    const struct ring *ring = cl->cfg.ring;
    size_t nodes = ring_nodes(ring), n = 0;
    bool healthy[RING_MAX_NODES];
    struct ring_target tg[RING_MAX_N];

    for (size_t i = 0; i < nodes; i++) {
        healthy[i] = cl_healthy(cl, (unsigned)i);
    }
    op->write_started = true;
    op->acks = 0;
    op->nputs = 0;
    /* The record a peer gets never carries the mark (a new version has
     * none; this is only a guard). */
    (void)object_record_set_acked(op->rec.data, op->rec.len, false);
    cl_mark_prepare(op);
    if (op->mark_candidate && cl_pref_index(op, cl->cfg.self) >= 0) {
        op->holds[cl_pref_index(op, cl->cfg.self)] = true; /* it just wrote it */
    }
    if (ring_sloppy(ring, op->part, healthy, tg, RING_MAX_N, &n) != RC_OK) {
        n = 0;
    }
    op->dispatching = true;
    for (size_t i = 0; i < n; i++) {
        if (tg[i].node == cl->cfg.self) {
            op->acks++;
            continue;
        }
        if (tg[i].fallback) {
            cl->stats.hinted_writes++;
        }
        cl_send_put(op, &tg[i], tg[i].fallback ? COORD_PUT_HINT : 0, false);
    }
    op->dispatching = false;
}

/* The read phase: GET to every other member; self answers at once. */
static void
cl_start_read(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    const struct coord_transport *tr = &cl->cfg.transport;

    op->read_started = true;
    op->dispatching = true;
    for (size_t i = 0; i < op->npref; i++) {
        struct cl_slot *s = &op->slots[i];
        int rc;

        s->op = op;
        s->node = op->pref[i];
        if (s->node == cl->cfg.self) {
            s->st = CL_SELF;
            op->got++;
            continue;
        }
        if (!cl_healthy(cl, s->node)) {
            s->st = CL_FAILED;
            continue;
        }
        s->st = CL_PENDING;
        op->rpending++;
        op->outstanding++;
        rc = tr->get(tr->ctx, s->node, op->part, op->key.key, op->key.nkey, cl_get_done, s);
        if (rc != RC_OK && s->st == CL_PENDING) {
            s->st = CL_FAILED;
            op->rpending--;
            op->outstanding--;
        }
    }
    op->dispatching = false;
}

static void
cl_start_forward(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    const struct coord_transport *tr = &cl->cfg.transport;

    while (op->fwd_next < op->npref) {
        unsigned node = op->pref[op->fwd_next++];
        int rc;

        if (node == cl->cfg.self || !cl_healthy(cl, node)) {
            continue;
        }
        op->outstanding++;
        op->dispatching = true;
        rc = tr->forward(tr->ctx, node, &op->req, 0, cl_forward_done, op);
        op->dispatching = false;
        if (rc == RC_OK) {
            return;
        }
        op->outstanding--;
    }
    cl->stats.forward_failures++;
    cl_fail(op, RC_EAGAIN, "no replica of the key is reachable");
}

/* Merge the answers the local replica does not cover into it, in one
 * transaction (none when it covers them all, the common case: a read then
 * costs no write). */
static void
cl_merge_into_local(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    struct coord *co = cl->co;
    struct object lo, m, one;
    struct buf local;
    bool ldead = false, have_local;
    unsigned n = 0;
    int rc = RC_OK;

    buf_init(&local);
    object_init(&lo);
    object_init(&m);
    have_local = coord_replica_read(cl->ct, op->key.key, op->key.nkey, &local, &ldead) == RC_OK &&
                 object_load(local.data, local.len, &co->self, &lo) == RC_OK && lo.clock != NULL;
    for (size_t i = 0; i < op->npref && rc == RC_OK; i++) {
        struct cl_slot *s = &op->slots[i];

        /* A marked tombstone is not brought back to a replica that holds
         * nothing: that replica reaped it (every replica had it). */
        if (s->st != CL_FOUND || s->dead || (s->acked && !have_local)) {
            continue;
        }
        object_init(&one);
        if (object_load(s->rec.data, s->rec.len, &co->self, &one) == RC_OK && one.clock != NULL &&
            !(have_local && cl_clock_covered(one.clock, lo.clock) &&
              cl_expiry_cmp(&one.meta, &lo.meta) <= 0)) {
            rc = object_merge(&m, &one);
            n++;
        }
        object_deinit(&one);
    }
    if (rc == RC_OK && n > 0 && m.clock != NULL) {
        struct coord_replica_ack ack;

        rc = cl_encode(co, &op->key, &m, &op->rec);
        if (rc == RC_OK) {
            rc = coord_replica_merge(cl->ct, op->key.key, op->key.nkey, op->rec.data, op->rec.len,
                                     &ack);
        }
    }
    if (rc != RC_OK) {
        log_error("cluster read: merging the replicas' objects failed: %s", rc_strerror(rc));
    }
    object_deinit(&m);
    object_deinit(&lo);
    buf_deinit(&local);
}

/* R answers are in: merge them and reply (or go on to the write phase). */
static void
cl_after_read(struct cl_op *op)
{
    op->read_ok = true;
    op->repair_wanted = op->cls == CL_READ;
    if (!op->member) {
        cl_run_view(op);
        return;
    }
    cl_merge_into_local(op);
    if (cl_run_local(op) && op->cls == CL_RMW) {
        cl_start_write(op); /* its PUTs carry the merge too */
    } else {
        op->repair_wanted = true;
        cl_reply(op);
    }
}

/* Read repair found f (encoded in op->rec): note which members answered
 * exactly f's clock, and which of those carry the mark. local: this node's
 * record when it is the member self_i and holds a live one. */
static void
cl_mark_note_answers(struct cl_op *op, const struct object *f, const struct buf *local, int self_i)
{
    struct coord *co = op->cl->co;
    struct object one;

    cl_mark_prepare(op);
    if (!op->mark_candidate) {
        return;
    }
    if (local != NULL) {
        object_init(&one);
        if (object_load(local->data, local->len, &co->self, &one) == RC_OK &&
            object_same_clock(&one, f)) {
            op->holds[self_i] = true;
            op->marked[self_i] = one.meta.acked;
        }
        object_deinit(&one);
    }
    for (size_t i = 0; i < op->npref; i++) {
        struct cl_slot *s = &op->slots[i];

        if (s->st != CL_FOUND || s->dead) {
            continue;
        }
        object_init(&one);
        if (object_load(s->rec.data, s->rec.len, &co->self, &one) == RC_OK &&
            object_same_clock(&one, f)) {
            op->holds[i] = true;
            op->marked[i] = s->acked;
        }
        object_deinit(&one);
    }
}

/* Every member answered or failed: send the merge of every answer to each
 * member whose object differs (and into the local replica). */
static void
cl_repair(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    struct coord *co = cl->co;
    struct object f, one;
    struct buf local;
    bool local_dead = false, have_local = false, known = false;
    unsigned alive = 0;
    int self_i = op->member ? cl_pref_index(op, cl->cfg.self) : -1;
    int rc = RC_OK;

    object_init(&f);
    buf_init(&local);
    if (op->member &&
        coord_replica_read(cl->ct, op->key.key, op->key.nkey, &local, &local_dead) == RC_OK) {
        rc = cl_merge_record(co, &f, local.data, local.len);
        have_local = rc == RC_OK;
        alive += have_local && !local_dead ? 1 : 0;
    }
    for (size_t i = 0; i < op->npref && rc == RC_OK; i++) {
        struct cl_slot *s = &op->slots[i];

        if (s->st == CL_FOUND && !s->dead) {
            rc = cl_merge_record(co, &f, s->rec.data, s->rec.len);
            alive++;
        }
    }
    /* Nothing alive to spread (a dead object must not come back). */
    if (rc != RC_OK || alive == 0 || f.clock == NULL ||
        cl_encode(co, &op->key, &f, &op->rec) != RC_OK) {
        goto out;
    }
    cl_mark_note_answers(op, &f, self_i >= 0 && have_local && !local_dead ? &local : NULL, self_i);
    for (size_t i = 0; i < op->npref; i++) {
        known |= op->marked[i];
    }
    if (op->member) {
        object_init(&one);
        if (!have_local || object_load(local.data, local.len, &co->self, &one) != RC_OK ||
            !cl_same(&one, &f)) {
            struct coord_replica_ack ack;

            /* A marked tombstone is not brought back where it was reaped. */
            if (!(known && !have_local) &&
                coord_replica_merge(cl->ct, op->key.key, op->key.nkey, op->rec.data, op->rec.len,
                                    &ack) == RC_OK) {
                cl->stats.read_repairs += ack.result == COORD_REPLICA_STORED ? 1 : 0;
                if (op->mark_candidate && ack.nlive == 0 && ack.nsiblings == op->mark_nsib &&
                    ack.cas == op->mark_cas) {
                    op->holds[self_i] = true;
                }
            }
        }
        object_deinit(&one);
    }
    op->nputs = 0;
    op->dispatching = true;
    for (size_t i = 0; i < op->npref; i++) {
        struct cl_slot *s = &op->slots[i];
        struct ring_target t = {s->node, s->node, false};
        bool differs = s->st == CL_ABSENT && !known; /* known: it reaped the mark */

        if (s->st == CL_FOUND) {
            object_init(&one);
            differs = object_load(s->rec.data, s->rec.len, &co->self, &one) != RC_OK ||
                      !cl_same(&one, &f);
            object_deinit(&one);
        }
        if (differs && cl_send_put(op, &t, COORD_PUT_REPAIR, true)) {
            cl->stats.read_repairs++;
        }
    }
    op->dispatching = false;
out:
    object_deinit(&f);
    buf_deinit(&local);
}

/* Everything else is done: if op->rec is a tombstone that every member of
 * the preference list holds exactly, or that one of them already marked
 * (a mark says every member acknowledged it once), mark the local replica
 * and send a notice (PUT ACKED) to every other member that holds it
 * unmarked. A member not known to hold it is left alone: it may hold a newer
 * version, and a notice would be ignored there anyway. */
static void
cl_consider_mark(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;
    const struct coord_transport *tr = &cl->cfg.transport;
    bool all = op->npref > 0, known = false;
    size_t nn = 0;

    if (!op->mark_candidate) {
        return;
    }
    for (size_t i = 0; i < op->npref; i++) {
        all &= op->holds[i];
        known |= op->marked[i];
    }
    if (!all && !known) {
        return; /* not every replica acknowledged it: it stays (unmarked) */
    }
    op->dispatching = true;
    for (size_t i = 0; i < op->npref; i++) {
        unsigned node = op->pref[i];
        struct cl_put *p;

        if (!op->holds[i] || op->marked[i]) {
            continue;
        }
        if (node == cl->cfg.self) {
            struct coord_replica_ack ack;

            if (coord_replica_mark(cl->ct, op->key.key, op->key.nkey, op->rec.data, op->rec.len,
                                   &ack) == RC_OK &&
                ack.result == COORD_REPLICA_STORED) {
                cl->stats.tombstones_marked++;
            }
            continue;
        }
        p = &op->notices[nn++];
        memset(p, 0, sizeof(*p));
        p->op = op;
        p->t.node = p->t.owner = node;
        p->notice = true;
        p->member = (int)i;
        p->st = CL_PENDING;
        op->outstanding++;
        if (tr->put(tr->ctx, node, op->part, op->key.key, op->key.nkey, op->rec.data, op->rec.len,
                    COORD_PUT_ACKED, node, cl_put_done, p) == RC_OK) {
            cl->stats.tombstone_notices_sent++;
        } else if (p->st == CL_PENDING) {
            p->st = CL_FAILED; /* e.g. a peer without notices: it keeps its tombstone */
            op->outstanding--;
        }
    }
    op->dispatching = false;
}

/* Re-evaluate the op after any event; frees it once it is finished. */
static void
cl_step(struct cl_op *op)
{
    struct coord_cluster *cl = op->cl;

    if (op->dispatching) {
        return;
    }
    if (op->read_started && !op->read_decided) {
        if (op->got >= op->r) {
            op->read_decided = true;
            cl_after_read(op);
        } else if (op->got + op->rpending < op->r) {
            op->read_decided = true;
            cl->stats.read_quorum_failures++;
            cl_fail(op, RC_EAGAIN, "read quorum not reached (%u of %u)", op->got, op->r);
        }
    }
    if (op->write_started && !op->replied) {
        if (op->acks >= op->w) {
            cl_reply(op);
        } else if (op->acks + op->wpending < op->w) {
            cl->stats.write_quorum_failures++;
            cl_fail(op, RC_EAGAIN, "write quorum not reached (%u of %u)", op->acks, op->w);
        }
    }
    if (op->repair_wanted && op->rpending == 0 && !op->repair_done) {
        op->repair_done = true;
        cl_repair(op);
    }
    if (op->replied && op->outstanding == 0 && !op->dispatching &&
        (!op->repair_wanted || op->repair_done)) {
        if (!op->mark_done) {
            op->mark_done = true;
            cl_consider_mark(op);
            if (op->outstanding > 0) {
                return; /* the notices' answers free it */
            }
        }
        cl_op_free(op);
    }
}

/* ---- public */

int
coord_cluster_create(struct coord *co, const struct coord_cluster_config *cfg,
                     struct coord_cluster **out)
{
    struct coord_cluster *cl;
    unsigned n;
    int rc;

    *out = NULL;
    if (cfg->ring == NULL || cfg->self >= ring_nodes(cfg->ring) || cfg->transport.put == NULL ||
        cfg->transport.get == NULL || cfg->transport.forward == NULL) {
        return RC_EINVAL;
    }
    n = ring_n(cfg->ring);
    if (cfg->r < 1 || cfg->r > n || cfg->w < 1 || cfg->w > n) {
        return RC_EINVAL;
    }
    cl = rc_calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return RC_ENOMEM;
    }
    cl->co = co;
    cl->cfg = *cfg;
    rc = coord_thread_create(co, &cl->ct);
    if (rc != RC_OK) {
        rc_free(cl);
        return rc;
    }
    *out = cl;
    return RC_OK;
}

void
coord_cluster_destroy(struct coord_cluster *cl)
{
    if (cl == NULL) {
        return;
    }
    if (cl->ops != NULL) {
        log_error("cluster coordinator destroyed with %" PRIu64
                  " requests in flight: the transport did not call them all back",
                  cl->stats.in_flight);
        while (cl->ops != NULL) {
            cl_op_free(cl->ops);
        }
    }
    coord_thread_destroy(cl->ct);
    rc_free(cl);
}

bool
coord_cluster_is_member(const struct coord_cluster *cl, const void *key, size_t nkey)
{
    unsigned pref[RING_MAX_N];
    size_t n = 0;

    if (ring_preflist(cl->cfg.ring, ring_partition(cl->cfg.ring, key, nkey), pref, RING_MAX_N,
                      &n) != RC_OK) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (pref[i] == cl->cfg.self) {
            return true;
        }
    }
    return false;
}

void
coord_cluster_get_stats(const struct coord_cluster *cl, struct coord_cluster_stats *out)
{
    *out = cl->stats;
}

int
coord_cluster_execute(struct coord_cluster *cl, const struct request *req, size_t ki,
                      unsigned flags, coord_cluster_done_fn done, void *arg)
{
    enum cl_class cls = ki < req->nkeys ? cl_classify(req) : CL_LOCAL;
    struct cl_op *op;

    if (cls == CL_LOCAL) {
        struct response r;
        uint64_t ticket = 0;

        cl->stats.local_ops++;
        coord_execute(cl->ct, req, ki, &r, &ticket);
        done(arg, &r, ticket);
        return RC_OK;
    }
    op = cl_op_new(cl, req, ki, cls, done, arg);
    if (op == NULL) {
        return RC_ENOMEM;
    }
    op->part = ring_partition(cl->cfg.ring, op->key.key, op->key.nkey);
    if (ring_preflist(cl->cfg.ring, op->part, op->pref, RING_MAX_N, &op->npref) != RC_OK) {
        op->npref = 0;
    }
    for (size_t i = 0; i < op->npref; i++) {
        op->member |= op->pref[i] == cl->cfg.self;
    }
    if (!op->member && cls != CL_READ) {
        if ((flags & COORD_CL_FORWARDED) != 0) {
            cl_fail(op, RC_EPROTO, "not a replica of the key");
        } else {
            cl->stats.forwards++;
            cl_start_forward(op);
        }
    } else if (cls == CL_WRITE) {
        cl->stats.writes++;
        if (cl_run_local(op)) {
            cl_start_write(op);
        } else {
            cl_reply(op);
        }
    } else {
        if (cls == CL_READ) {
            cl->stats.reads++;
        } else {
            cl->stats.read_then_writes++;
        }
        cl_start_read(op);
    }
    cl_step(op);
    return RC_OK;
}
