/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_cluster.c - the cluster coordinator (src/coord/cluster.h) over an
 * in-process fake transport: every node is a struct coord over its own
 * in-memory store; requests between nodes are queued and delivered when the
 * test runs the network, in order, except to nodes the test holds (queued
 * until released) or cuts off (dropped: their callers get a timeout only
 * when the test fires the timeouts). Deterministic: one thread drives
 * everything.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/status.h"
#include "coord/cluster.h"
#include "coord/coord.h"
#include "coord/coord_internal.h"
#include "kv/object.h"
#include "kv/ring.h"
#include "proto/request.h"
#include "store/store.h"

#define MAXN 4

/* ------------------------------------------------------------------ fake network */

enum ev_kind { EV_PUT, EV_GET, EV_FWD };

struct ev {
    struct ev *next;
    enum ev_kind kind;
    unsigned from, to;
    uint32_t part;
    char *key;
    size_t nkey;
    char *rec;
    size_t nrec;
    unsigned flags, owner;
    coord_put_done_fn put_done;
    coord_get_done_fn get_done;
    coord_forward_done_fn fwd_done;
    void *arg;
    /* forwards: a copy of the request */
    struct request req;
    struct req_key rk;
    char *value, *context;
};

struct tnode {
    struct store *st;
    struct coord *co;
    struct coord_thread *ct; /* the replica side's */
    struct coord_cluster *cl;
    unsigned idx;
};

struct net {
    struct tnode nodes[MAXN];
    unsigned n;
    struct ring *ring;
    struct ev *queue, *dropped;
    bool down[MAXN]; /* marked down: healthy() says false, nothing is sent */
    bool cut[MAXN];  /* silently unreachable: requests are dropped */
    bool hold[MAXN]; /* requests wait in the queue */
    unsigned hints[MAXN], hint_owner[MAXN], repairs[MAXN], puts[MAXN], gets[MAXN], fwds[MAXN];
    unsigned notices[MAXN]; /* PUT ACKED received */
    bool no_notices[MAXN];  /* speaks no notices: the transport refuses them */
    bool sync;              /* a rude transport: calls back from inside the call */
};

static struct net net;

static char *
dupmem(const void *p, size_t n)
{
    char *d = malloc(n + 1);

    assert_non_null(d);
    if (n > 0) {
        memcpy(d, p, n);
    }
    d[n] = '\0';
    return d;
}

static void
ev_free(struct ev *e)
{
    free(e->key);
    free(e->rec);
    free(e->value);
    free(e->context);
    free(e);
}

static void
ev_push(struct ev **list, struct ev *e)
{
    e->next = NULL;
    while (*list != NULL) {
        list = &(*list)->next;
    }
    *list = e;
}

static struct ev *
ev_new(enum ev_kind kind, void *ctx, unsigned node, uint32_t part, const void *key, size_t nkey)
{
    struct ev *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    e->kind = kind;
    e->from = ((struct tnode *)ctx)->idx;
    e->to = node;
    e->part = part;
    e->key = dupmem(key, nkey);
    e->nkey = nkey;
    return e;
}

static void deliver(struct ev *e);

/* Queue a request, or (net.sync) answer it at once. */
static void
ev_send(struct ev *e)
{
    if (net.sync && !net.cut[e->to] && !net.hold[e->to]) {
        deliver(e);
        ev_free(e);
        return;
    }
    ev_push(&net.queue, e);
}

static bool
tx_healthy(void *ctx, unsigned node)
{
    (void)ctx;
    return !net.down[node];
}

static int
tx_put(void *ctx, unsigned node, uint32_t partition, const void *key, size_t nkey, const void *rec,
       size_t nrec, unsigned flags, unsigned owner, coord_put_done_fn done, void *arg)
{
    struct ev *e;

    if ((flags & COORD_PUT_ACKED) && net.no_notices[node]) {
        return RC_EDISABLED;
    }
    e = ev_new(EV_PUT, ctx, node, partition, key, nkey);
    /* A record on the wire never carries the mark (PP.8.1). */
    assert_int_equal(rec != NULL && nrec > 3 ? ((const unsigned char *)rec)[3] & OBJECT_F_ACKED : 0,
                     0);
    e->rec = dupmem(rec, nrec);
    e->nrec = nrec;
    e->flags = flags;
    e->owner = owner;
    e->put_done = done;
    e->arg = arg;
    ev_send(e);
    return RC_OK;
}

static int
tx_get(void *ctx, unsigned node, uint32_t partition, const void *key, size_t nkey,
       coord_get_done_fn done, void *arg)
{
    struct ev *e = ev_new(EV_GET, ctx, node, partition, key, nkey);

    e->get_done = done;
    e->arg = arg;
    ev_send(e);
    return RC_OK;
}

static int
tx_forward(void *ctx, unsigned node, const struct request *req, size_t ki,
           coord_forward_done_fn done, void *arg)
{
    struct ev *e = ev_new(EV_FWD, ctx, node, 0, req->keys[ki].key, req->keys[ki].nkey);

    e->req = *req;
    e->rk.key = e->key;
    e->rk.nkey = e->nkey;
    e->req.keys = &e->rk;
    e->req.nkeys = 1;
    e->value = req->value != NULL ? dupmem(req->value, req->nvalue) : NULL;
    e->req.value = e->value;
    e->context = req->context != NULL ? dupmem(req->context, req->ncontext) : NULL;
    e->req.context = e->context;
    e->fwd_done = done;
    e->arg = arg;
    ev_send(e);
    return RC_OK;
}

struct relay {
    coord_forward_done_fn done;
    void *arg;
};

static void
relay_done(void *arg, const struct response *resp, uint64_t ticket)
{
    struct relay *r = arg;

    (void)ticket;
    r->done(r->arg, RC_OK, resp);
    free(r);
}

static void
deliver(struct ev *e)
{
    struct tnode *t = &net.nodes[e->to];

    switch (e->kind) {
    case EV_PUT: {
        struct coord_put_ack ack;
        struct coord_replica_ack ra;
        int rc = RC_OK;

        memset(&ack, 0, sizeof(ack));
        net.puts[e->to]++;
        if (e->flags & COORD_PUT_REPAIR) {
            net.repairs[e->to]++;
        }
        if (e->flags & COORD_PUT_ACKED) {
            net.notices[e->to]++;
            rc = coord_replica_mark(t->ct, e->key, e->nkey, e->rec, e->nrec, &ra);
            ack.result = ra.result == COORD_REPLICA_STORED ? COORD_PUT_STORED : COORD_PUT_UNCHANGED;
            ack.nsiblings = ra.nsiblings;
            ack.nlive = ra.nlive;
            ack.cas = ra.cas;
        } else if (e->flags & COORD_PUT_HINT) {
            /* The fallback keeps it for the owner (the hint store is not
             * the coordinator's): count it. */
            net.hints[e->to]++;
            net.hint_owner[e->to] = e->owner;
            ack.result = COORD_PUT_HINTED;
        } else {
            rc = coord_replica_merge(t->ct, e->key, e->nkey, e->rec, e->nrec, &ra);
            ack.result = ra.result == COORD_REPLICA_STORED ? COORD_PUT_STORED : COORD_PUT_UNCHANGED;
            ack.nsiblings = ra.nsiblings;
            ack.nlive = ra.nlive;
            ack.cas = ra.cas;
        }
        e->put_done(e->arg, rc, &ack);
        break;
    }
    case EV_GET: {
        struct buf b;
        struct object_view v;
        bool dead = false;
        unsigned flags;
        int rc;

        net.gets[e->to]++;
        buf_init(&b);
        rc = coord_replica_read(t->ct, e->key, e->nkey, &b, &dead);
        flags = dead ? COORD_GET_DEAD : 0;
        /* As the peer server does: the mark goes as a flag, not in the record. */
        if (rc == RC_OK && object_view_decode(b.data, b.len, &v) == RC_OK && v.meta.acked &&
            object_record_set_acked(b.data, b.len, false)) {
            flags |= COORD_GET_ACKED;
        }
        e->get_done(e->arg, rc, b.data, b.len, flags);
        buf_deinit(&b);
        break;
    }
    case EV_FWD: {
        struct relay *r = malloc(sizeof(*r));

        assert_non_null(r);
        net.fwds[e->to]++;
        r->done = e->fwd_done;
        r->arg = e->arg;
        assert_int_equal(
            coord_cluster_execute(t->cl, &e->req, 0, COORD_CL_FORWARDED, relay_done, r), RC_OK);
        break;
    }
    }
}

/* Deliver everything deliverable, including what deliveries send. */
static void
net_run(void)
{
    for (;;) {
        struct ev **pp = &net.queue, *e;

        while (*pp != NULL && net.hold[(*pp)->to]) {
            pp = &(*pp)->next;
        }
        e = *pp;
        if (e == NULL) {
            return;
        }
        *pp = e->next;
        if (net.cut[e->to]) {
            ev_push(&net.dropped, e);
            continue;
        }
        deliver(e);
        ev_free(e);
    }
}

/* The transport's timer: every dropped request is called back as timed
 * out. */
static void
net_timeouts(void)
{
    net_run(); /* what is queued for a cut node is dropped first */
    while (net.dropped != NULL) {
        struct ev *e = net.dropped;

        net.dropped = e->next;
        switch (e->kind) {
        case EV_PUT:
            e->put_done(e->arg, RC_EAGAIN, NULL);
            break;
        case EV_GET:
            e->get_done(e->arg, RC_EAGAIN, NULL, 0, 0);
            break;
        case EV_FWD:
            e->fwd_done(e->arg, RC_EAGAIN, NULL);
            break;
        }
        ev_free(e);
        net_run();
    }
}

/* ------------------------------------------------------------------ fixture */

static int
net_setup(unsigned n, unsigned nrep, unsigned r, unsigned w)
{
    static const char *const names[MAXN] = {"n0", "n1", "n2", "n3"};
    struct coord_config cc = {.max_item_size = 1024 * 1024,
                              .use_cas = true,
                              .flush_enabled = true,
                              .tombstone_grace = 3600};
    struct store_config sc = {.kind = STORE_KIND_MEM, .sync = STORE_SYNC_NONE};

    memset(&net, 0, sizeof(net));
    net.n = n;
    if (ring_create(16, nrep, names, n, &net.ring) != RC_OK) {
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct tnode *t = &net.nodes[i];
        struct coord_cluster_config cfg = {
            .ring = net.ring,
            .self = i,
            .r = r,
            .w = w,
            .transport = {t, tx_healthy, tx_put, tx_get, tx_forward},
        };

        t->idx = i;
        if (store_open(&sc, &t->st) != RC_OK || coord_create(&cc, t->st, &t->co) != RC_OK ||
            coord_thread_create(t->co, &t->ct) != RC_OK) {
            return -1;
        }
        /* Every member holds the same context keys (V.9). */
        if (i > 0) {
            coord_set_context_keys(t->co, &net.nodes[0].co->keys);
        }
        if (coord_cluster_create(t->co, &cfg, &t->cl) != RC_OK) {
            return -1;
        }
    }
    return 0;
}

static int
teardown(void **state)
{
    struct coord_cluster_stats s;

    (void)state;
    for (unsigned i = 0; i < MAXN; i++) {
        net.cut[i] = net.hold[i] = false;
    }
    net_run();
    net_timeouts();
    for (unsigned i = 0; i < net.n; i++) {
        struct tnode *t = &net.nodes[i];

        coord_cluster_get_stats(t->cl, &s);
        assert_int_equal(s.in_flight, 0);
        coord_cluster_destroy(t->cl);
        coord_thread_destroy(t->ct);
        coord_destroy(t->co);
        store_close(t->st);
    }
    ring_destroy(net.ring);
    return 0;
}

static int
setup3(void **state)
{
    (void)state;
    return net_setup(3, 3, 2, 2);
}

static int
setup3_w3(void **state)
{
    (void)state;
    return net_setup(3, 3, 2, 3);
}

static int
setup4(void **state)
{
    (void)state;
    return net_setup(4, 3, 2, 2);
}

/* ------------------------------------------------------------------ client side */

struct reply {
    bool done;
    int status;
    char errmsg[128];
    enum resp_miss miss;
    uint32_t flags;
    char value[256];
    size_t nvalue;
    uint64_t cas, number;
    size_t nsib;
    char sib[8][64];
    char ctx[REQ_CONTEXT_MAX + 1];
    size_t nctx;
    uint32_t nlive;
};

static void
on_done(void *arg, const struct response *r, uint64_t ticket)
{
    struct reply *out = arg;

    (void)ticket;
    assert_false(out->done); /* exactly once */
    out->done = true;
    out->status = r->status;
    if (r->errmsg != NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "%s", r->errmsg);
    }
    out->miss = r->miss;
    out->flags = r->flags;
    out->nvalue = r->nvalue < sizeof(out->value) - 1 ? r->nvalue : sizeof(out->value) - 1;
    if (r->value != NULL) {
        memcpy(out->value, r->value, out->nvalue);
    }
    out->value[out->nvalue] = '\0';
    out->cas = r->cas;
    out->number = r->number;
    out->nsib = r->nsiblings;
    for (size_t i = 0; i < r->nsiblings && i < 8; i++) {
        snprintf(out->sib[i], sizeof(out->sib[i]), "%.*s", (int)r->siblings[i].nvalue,
                 r->siblings[i].value);
    }
    out->nctx = r->ncontext;
    if (r->context != NULL) {
        memcpy(out->ctx, r->context, r->ncontext);
    }
    out->ctx[out->nctx] = '\0';
    out->nlive = r->nlive;
}

/* Start a command through node `via` without running the network, with
 * per-request quorums qr and qw (REQO_QUORUM) when either is not 0. */
static void
issue_rw(unsigned via, enum req_cmd cmd, const char *key, const char *value, const char *ctx,
         unsigned qr, unsigned qw, struct reply *out)
{
    struct request req;
    struct req_key k = {key, strlen(key)};

    request_reset(&req);
    req.cmd = cmd;
    req.keys = &k;
    req.nkeys = 1;
    if (value != NULL) {
        req.value = value;
        req.nvalue = strlen(value);
    }
    if (cmd == REQ_INCR || cmd == REQ_DECR) {
        req.delta = 1;
    }
    if (cmd == REQ_VGET || cmd == REQ_VSET || cmd == REQ_VDEL) {
        req.opts.set |= REQO_WANT_CONTEXT;
        if (cmd != REQ_VGET) {
            req.opts.set |= REQO_WANT_NLIVE;
        }
        if (ctx != NULL) {
            req.context = ctx;
            req.ncontext = strlen(ctx);
        }
    }
    if (qr != 0 || qw != 0) {
        req.opts.set |= REQO_QUORUM;
        req.opts.r = (uint8_t)qr;
        req.opts.w = (uint8_t)qw;
    }
    memset(out, 0, sizeof(*out));
    assert_int_equal(coord_cluster_execute(net.nodes[via].cl, &req, 0, 0, on_done, out), RC_OK);
}

static void
issue(unsigned via, enum req_cmd cmd, const char *key, const char *value, const char *ctx,
      struct reply *out)
{
    issue_rw(via, cmd, key, value, ctx, 0, 0, out);
}

/* A command run to its reply (and everything it caused). */
static void
run(unsigned via, enum req_cmd cmd, const char *key, const char *value, const char *ctx,
    struct reply *out)
{
    issue(via, cmd, key, value, ctx, out);
    net_run();
    assert_true(out->done);
}

/* What node i stores for key: the dominant value into out (NULL: absent),
 * live siblings in *nlive. */
static const char *
local_value(unsigned i, const char *key, char *out, size_t cap, uint32_t *nlive)
{
    struct buf b;
    struct object_view v;
    bool dead;
    int rc;

    buf_init(&b);
    rc = coord_replica_read(net.nodes[i].ct, key, strlen(key), &b, &dead);
    if (rc != RC_OK) {
        buf_deinit(&b);
        *nlive = 0;
        return NULL;
    }
    assert_int_equal(object_view_decode(b.data, b.len, &v), RC_OK);
    snprintf(out, cap, "%.*s", (int)v.nvalue, (const char *)v.value);
    *nlive = v.nlive;
    buf_deinit(&b);
    return v.deleted ? NULL : out;
}

/* Does node i's record of key carry the acked mark? (false: absent) */
static bool
local_acked(unsigned i, const char *key)
{
    struct buf b;
    struct object_view v;
    bool dead, acked = false;

    buf_init(&b);
    if (coord_replica_read(net.nodes[i].ct, key, strlen(key), &b, &dead) == RC_OK &&
        object_view_decode(b.data, b.len, &v) == RC_OK) {
        acked = v.meta.acked;
    }
    buf_deinit(&b);
    return acked;
}

static void
assert_local(unsigned i, const char *key, const char *want)
{
    char v[256];
    uint32_t nlive;
    const char *got = local_value(i, key, v, sizeof(v), &nlive);

    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

/* A key whose preference list is, in order, with pred. */
static const char *
find_key(bool (*pred)(const unsigned *pref, size_t n), unsigned *pref_out)
{
    static char key[32];

    for (int i = 0; i < 10000; i++) {
        unsigned pref[RING_MAX_N];
        size_t n;

        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(ring_preflist(net.ring, ring_partition(net.ring, key, strlen(key)), pref,
                                       RING_MAX_N, &n),
                         RC_OK);
        if (pred(pref, n)) {
            memcpy(pref_out, pref, n * sizeof(*pref));
            return key;
        }
    }
    fail_msg("no key found");
    return NULL;
}

static bool
any_key(const unsigned *pref, size_t n)
{
    (void)pref;
    (void)n;
    return true;
}

/* 4 nodes, N = 3: the node outside the list. */
static unsigned
outsider(const unsigned *pref)
{
    for (unsigned i = 0; i < 4; i++) {
        if (i != pref[0] && i != pref[1] && i != pref[2]) {
            return i;
        }
    }
    fail_msg("no outsider");
    return 0;
}

/* ------------------------------------------------------------------ tests */

/* Write through one node, read through each other: the same value. */
static void
test_write_read(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(0, REQ_SET, key, "v1", NULL, &r);
    assert_int_equal(r.status, RC_OK);
    for (unsigned i = 0; i < 3; i++) {
        run(i, REQ_GET, key, NULL, NULL, &r);
        assert_int_equal(r.status, RC_OK);
        assert_string_equal(r.value, "v1");
        assert_local(i, key, "v1");
    }
    /* gets: every node derives the same cas from the same clock. */
    {
        uint64_t cas0;

        run(0, REQ_GETS, key, NULL, NULL, &r);
        cas0 = r.cas;
        assert_true(cas0 != 0);
        run(2, REQ_GETS, key, NULL, NULL, &r);
        assert_int_equal(r.cas, cas0);
    }
    /* A miss is a miss everywhere. */
    run(1, REQ_GET, "nope", NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    assert_int_equal(r.miss, RESP_MISS_ABSENT);
}

/* 3 nodes, one marked down: W = 2 is met by the two others. */
static void
test_quorum_one_down(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    net.down[pref[2]] = net.cut[pref[2]] = true;
    run(pref[0], REQ_SET, key, "x", NULL, &r);
    assert_int_equal(r.status, RC_OK);
    run(pref[1], REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_string_equal(r.value, "x");
    assert_int_equal(net.puts[pref[2]], 0); /* nothing sent to a node marked down */
}

/* 4 nodes, N = 3, a member down: its write goes to the fourth with a hint. */
static void
test_sloppy_hint(void **state)
{
    struct reply r;
    struct coord_cluster_stats s;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    net.down[pref[1]] = net.cut[pref[1]] = true;
    run(pref[0], REQ_SET, key, "hinted", NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(net.hints[out], 1);
    assert_int_equal(net.hint_owner[out], pref[1]);
    assert_int_equal(net.puts[pref[2]], 1);
    coord_cluster_get_stats(net.nodes[pref[0]].cl, &s);
    assert_int_equal(s.hinted_writes, 1);
    assert_local(pref[2], key, "hinted");
    assert_local(out, key, NULL); /* a hint is not an item */
    run(pref[2], REQ_GET, key, NULL, NULL, &r);
    assert_string_equal(r.value, "hinted");
}

/* W = 3 with a node down: the error, and the value stays where it went. */
static void
test_write_quorum_fails(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    net.down[pref[2]] = net.cut[pref[2]] = true;
    /* Decided as soon as W is out of reach: pref[1]'s ack had not come
     * yet. */
    issue(pref[0], REQ_SET, key, "partial", NULL, &r);
    assert_true(r.done);
    assert_int_equal(r.status, RC_EAGAIN);
    assert_string_equal(r.errmsg, "write quorum not reached (1 of 3)");
    net_run();
    assert_local(pref[0], key, "partial");
    assert_local(pref[1], key, "partial");
    assert_local(pref[2], key, NULL);

    /* Not marked down but silent: the reply waits for the timeout. */
    net.down[pref[2]] = false;
    issue(pref[1], REQ_SET, key, "later", NULL, &r);
    net_run();
    assert_false(r.done);
    net_timeouts();
    assert_true(r.done);
    assert_int_equal(r.status, RC_EAGAIN);
    assert_string_equal(r.errmsg, "write quorum not reached (2 of 3)");
    assert_local(pref[0], key, "later");
}

/* A replica that missed a write is repaired by a read, after the reply. */
static void
test_read_repair(void **state)
{
    struct reply r;
    struct coord_cluster_stats s;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned a = pref[0], b = pref[1], c = pref[2];

    (void)state;
    run(a, REQ_SET, key, "v1", NULL, &r);
    net.cut[c] = true;
    run(a, REQ_SET, key, "v2", NULL, &r); /* W = 2: a and b */
    assert_int_equal(r.status, RC_OK);
    net_timeouts();
    net.cut[c] = false;
    assert_local(c, key, "v1");

    /* Read through a with b slow: a and c make R; the reply is the merge. */
    net.hold[b] = true;
    issue(a, REQ_GET, key, NULL, NULL, &r);
    net_run();
    assert_true(r.done);
    assert_string_equal(r.value, "v2");
    assert_local(c, key, "v1"); /* repair waits for every member */
    coord_cluster_get_stats(net.nodes[a].cl, &s);
    assert_int_equal(s.in_flight, 1);
    net.hold[b] = false;
    net_run();
    assert_local(c, key, "v2");
    assert_int_equal(net.repairs[c], 1);
    assert_int_equal(net.repairs[b], 0); /* b was not stale */
    coord_cluster_get_stats(net.nodes[a].cl, &s);
    assert_int_equal(s.read_repairs, 1);
    assert_int_equal(s.in_flight, 0);

    /* A stale coordinator merges what it reads into its own replica. */
    net.cut[c] = true;
    run(b, REQ_SET, key, "v3", NULL, &r);
    net_timeouts();
    net.cut[c] = false;
    assert_local(c, key, "v2");
    net.hold[a] = net.hold[b] = true;
    issue(c, REQ_GET, key, NULL, NULL, &r);
    net.hold[a] = false;
    net_run();
    assert_true(r.done);
    assert_string_equal(r.value, "v3");
    assert_local(c, key, "v3");
    net.hold[b] = false;
    net_run();
}

/* A write arriving at a node outside the preference list is forwarded; a
 * read there is coordinated there. */
static void
test_forward(void **state)
{
    struct reply r;
    struct coord_cluster_stats s;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    run(out, REQ_SET, key, "fw", NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(net.fwds[pref[0]], 1);
    coord_cluster_get_stats(net.nodes[out].cl, &s);
    assert_int_equal(s.forwards, 1);
    for (unsigned i = 0; i < 3; i++) {
        assert_local(pref[i], key, "fw");
    }
    assert_local(out, key, NULL);

    run(out, REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_string_equal(r.value, "fw");
    assert_int_equal(net.fwds[pref[0]], 1); /* reads are not forwarded */
    assert_local(out, key, NULL);           /* nor stored at a non-member */

    run(out, REQ_VGET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(r.nsib, 1);
    assert_string_equal(r.sib[0], "fw");
    assert_true(r.nctx > 0);

    /* The first member down: the next one coordinates. */
    net.down[pref[0]] = net.cut[pref[0]] = true;
    run(out, REQ_DELETE, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(net.fwds[pref[1]], 1);
    run(out, REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    net.down[pref[0]] = net.cut[pref[0]] = false;

    /* A forwarded request is never forwarded again. */
    {
        struct request req;
        struct req_key k = {key, strlen(key)};

        request_reset(&req);
        req.cmd = REQ_SET;
        req.keys = &k;
        req.nkeys = 1;
        req.value = "no";
        req.nvalue = 2;
        memset(&r, 0, sizeof(r));
        assert_int_equal(
            coord_cluster_execute(net.nodes[out].cl, &req, 0, COORD_CL_FORWARDED, on_done, &r),
            RC_OK);
        assert_true(r.done);
        assert_int_equal(r.status, RC_EPROTO);
    }
}

/* Two coordinators write with the same context: two siblings, everywhere. */
static void
test_concurrent_vset(void **state)
{
    struct reply r, ra, rb;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    char ctx[REQ_CONTEXT_MAX + 1];
    char v[256];
    uint32_t nlive;

    (void)state;
    run(pref[0], REQ_SET, key, "v0", NULL, &r);
    run(pref[2], REQ_VGET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    snprintf(ctx, sizeof(ctx), "%s", r.ctx);

    issue(pref[0], REQ_VSET, key, "A", ctx, &ra);
    issue(pref[1], REQ_VSET, key, "B", ctx, &rb);
    net_run();
    assert_true(ra.done && rb.done);
    assert_int_equal(ra.status, RC_OK);
    assert_int_equal(rb.status, RC_OK);

    for (unsigned i = 0; i < 3; i++) {
        run(i, REQ_VGET, key, NULL, NULL, &r);
        assert_int_equal(r.status, RC_OK);
        assert_int_equal(r.nsib, 2);
        assert_true((strcmp(r.sib[0], "A") == 0 && strcmp(r.sib[1], "B") == 0) ||
                    (strcmp(r.sib[0], "B") == 0 && strcmp(r.sib[1], "A") == 0));
        assert_non_null(local_value(i, key, v, sizeof(v), &nlive));
        assert_int_equal(nlive, 2);
    }
    /* A vset with the merged context supersedes both, everywhere. */
    snprintf(ctx, sizeof(ctx), "%s", r.ctx);
    run(pref[2], REQ_VSET, key, "C", ctx, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(r.nlive, 1);
    for (unsigned i = 0; i < 3; i++) {
        run(i, REQ_VGET, key, NULL, NULL, &r);
        assert_int_equal(r.nsib, 1);
        assert_string_equal(r.sib[0], "C");
    }
}

/* Concurrent writes under a partition, repaired to a non-member reader's
 * view and to every replica. */
static void
test_siblings_after_repair(void **state)
{
    struct reply r, ra, rb;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);
    char ctx[REQ_CONTEXT_MAX + 1];
    uint32_t nlive;
    char v[256];

    (void)state;
    run(pref[0], REQ_SET, key, "base", NULL, &r);
    run(out, REQ_VGET, key, NULL, NULL, &r);
    snprintf(ctx, sizeof(ctx), "%s", r.ctx);
    /* pref[0] and pref[1] cannot see each other's writes (W = 2 with
     * pref[2], which gets both). */
    net.cut[pref[1]] = true;
    issue(pref[0], REQ_VSET, key, "X", ctx, &ra);
    net_run();
    net.cut[pref[1]] = false;
    net.cut[pref[0]] = true;
    issue(pref[1], REQ_VSET, key, "Y", ctx, &rb);
    net_run();
    net.cut[pref[0]] = false;
    net_timeouts();
    assert_true(ra.done && rb.done);
    assert_int_equal(ra.status, RC_OK);
    assert_int_equal(rb.status, RC_OK);
    assert_non_null(local_value(pref[0], key, v, sizeof(v), &nlive));
    assert_int_equal(nlive, 1);
    /* A non-member read merges every replica and repairs pref[0] and
     * pref[1]. */
    run(out, REQ_VGET, key, NULL, NULL, &r);
    assert_int_equal(r.nsib, 2);
    for (unsigned i = 0; i < 3; i++) {
        assert_non_null(local_value(pref[i], key, v, sizeof(v), &nlive));
        assert_int_equal(nlive, 2);
    }
    /* Plain reads show one of them, the same one everywhere. */
    run(out, REQ_GET, key, NULL, NULL, &r);
    snprintf(v, sizeof(v), "%s", r.value);
    for (unsigned i = 0; i < 3; i++) {
        run(pref[i], REQ_GET, key, NULL, NULL, &r);
        assert_string_equal(r.value, v);
    }
}

/* Peers that never answer: the read quorum error once they time out. */
static void
test_read_timeout(void **state)
{
    struct reply r;
    struct coord_cluster_stats s;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(pref[0], REQ_SET, key, "t", NULL, &r);
    net.cut[pref[1]] = net.cut[pref[2]] = true;
    issue(pref[0], REQ_GET, key, NULL, NULL, &r);
    net_run();
    assert_false(r.done);
    net_timeouts();
    assert_true(r.done);
    assert_int_equal(r.status, RC_EAGAIN);
    assert_string_equal(r.errmsg, "read quorum not reached (1 of 2)");
    coord_cluster_get_stats(net.nodes[pref[0]].cl, &s);
    assert_int_equal(s.read_quorum_failures, 1);
    assert_int_equal(s.in_flight, 0);
}

/* 4 nodes: a non-member's read with every member silent but one. */
static void
test_read_timeout_nonmember(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    run(pref[0], REQ_SET, key, "t", NULL, &r);
    net.cut[pref[0]] = net.cut[pref[1]] = true;
    issue(out, REQ_GET, key, NULL, NULL, &r);
    net_run();
    assert_false(r.done);
    net_timeouts();
    assert_true(r.done);
    assert_string_equal(r.errmsg, "read quorum not reached (1 of 2)");
    /* A member marked down is not even asked: the error comes at once
     * when R is out of reach. */
    net.cut[pref[0]] = net.cut[pref[1]] = false;
    net.down[pref[0]] = net.down[pref[1]] = true;
    issue(out, REQ_GET, key, NULL, NULL, &r);
    assert_true(r.done);
    assert_string_equal(r.errmsg, "read quorum not reached (0 of 2)");
    net_run();
}

/* add, incr: decided on a quorum read (section 9). */
static void
test_read_then_write(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    /* pref[0] misses the set... */
    net.cut[pref[0]] = true;
    run(pref[1], REQ_SET, key, "have", NULL, &r);
    assert_int_equal(r.status, RC_OK);
    net_timeouts();
    net.cut[pref[0]] = false;
    assert_local(pref[0], key, NULL);
    /* ...but an add through it sees it. */
    run(pref[0], REQ_ADD, key, "again", NULL, &r);
    assert_int_equal(r.status, RC_ENOTSTORED);
    assert_local(pref[0], key, "have");

    run(pref[0], REQ_SET, "counter", "1", NULL, &r);
    run(pref[1], REQ_INCR, "counter", NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(r.number, 2);
    run(pref[2], REQ_INCR, "counter", NULL, NULL, &r);
    assert_int_equal(r.number, 3);
    run(pref[0], REQ_GET, "counter", NULL, NULL, &r);
    assert_string_equal(r.value, "3");

    /* append through each node in turn */
    run(pref[0], REQ_SET, "app", "a", NULL, &r);
    run(pref[1], REQ_APPEND, "app", "b", NULL, &r);
    run(pref[2], REQ_APPEND, "app", "c", NULL, &r);
    run(pref[1], REQ_GET, "app", NULL, NULL, &r);
    assert_string_equal(r.value, "abc");
}

/* A read-then-write that writes nothing still repairs what it read. */
static void
test_rmw_repairs(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    net.cut[pref[0]] = net.cut[pref[2]] = true;
    issue(pref[1], REQ_SET, key, "only-b", NULL, &r);
    net_run();
    net_timeouts();
    assert_string_equal(r.errmsg, "write quorum not reached (1 of 2)");
    net.cut[pref[0]] = net.cut[pref[2]] = false;
    net.hold[pref[2]] = true;
    issue(pref[0], REQ_ADD, key, "no", NULL, &r);
    net_run();
    assert_true(r.done);
    assert_int_equal(r.status, RC_ENOTSTORED);
    assert_local(pref[0], key, "only-b");
    assert_local(pref[2], key, NULL);
    net.hold[pref[2]] = false;
    net_run();
    assert_local(pref[2], key, "only-b");
    assert_int_equal(net.repairs[pref[2]], 1);
}

/* A transport that calls back from inside its calls. */
static void
test_sync_transport(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    net.sync = true;
    issue(out, REQ_SET, key, "sync", NULL, &r); /* forwarded */
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    for (unsigned i = 0; i < 4; i++) {
        issue(i, REQ_GET, key, NULL, NULL, &r);
        assert_true(r.done);
        assert_string_equal(r.value, "sync");
    }
    issue(pref[1], REQ_INCR, key, NULL, NULL, &r);
    assert_true(r.done);
    assert_int_equal(r.status, RC_ENONNUMERIC);
    issue(pref[2], REQ_DELETE, key, NULL, NULL, &r);
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    issue(out, REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    /* Stale replica repaired at once. */
    net.cut[pref[0]] = true;
    issue(pref[1], REQ_SET, key, "s2", NULL, &r);
    net_timeouts();
    net.cut[pref[0]] = false;
    assert_local(pref[0], key, NULL);
    issue(out, REQ_GET, key, NULL, NULL, &r);
    assert_string_equal(r.value, "s2");
    assert_local(pref[0], key, "s2");
}

/* delete: a tombstone everywhere; a vdel with its context. */
static void
test_delete(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    run(pref[0], REQ_SET, key, "d", NULL, &r);
    run(pref[1], REQ_DELETE, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    for (unsigned i = 0; i < 3; i++) {
        assert_local(pref[i], key, NULL);
        run(pref[i], REQ_GET, key, NULL, NULL, &r);
        assert_int_equal(r.status, RC_ENOTFOUND);
    }
    run(out, REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);

    run(out, REQ_SET, key, "e", NULL, &r);
    run(out, REQ_VGET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    {
        char ctx[REQ_CONTEXT_MAX + 1];

        snprintf(ctx, sizeof(ctx), "%s", r.ctx);
        run(pref[2], REQ_VDEL, key, NULL, ctx, &r);
        assert_int_equal(r.status, RC_OK);
        assert_int_equal(r.nlive, 0);
    }
    run(out, REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
}

/* The replica side on its own: merge, idempotence, refusal. */
static void
test_replica_merge(void **state)
{
    struct reply r;
    struct coord_replica_ack ack;
    struct coord_stats st;
    struct buf b;
    bool dead;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);
    struct tnode *o = &net.nodes[out];

    (void)state;
    run(pref[0], REQ_SET, key, "rep", NULL, &r);
    buf_init(&b);
    assert_int_equal(coord_replica_read(net.nodes[pref[0]].ct, key, strlen(key), &b, &dead), RC_OK);
    assert_false(dead);
    assert_int_equal(coord_replica_read(o->ct, key, strlen(key), &b, &dead), RC_ENOTFOUND);
    assert_int_equal(coord_replica_read(net.nodes[pref[0]].ct, key, strlen(key), &b, &dead), RC_OK);

    coord_get_stats(o->co, &st);
    assert_int_equal(st.curr_items, 0);
    assert_int_equal(coord_replica_merge(o->ct, key, strlen(key), b.data, b.len, &ack), RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_STORED);
    assert_int_equal(ack.nlive, 1);
    assert_int_equal(ack.nsiblings, 1);
    assert_int_equal(ack.cas, r.cas); /* shared keys: the same derived cas */
    coord_get_stats(o->co, &st);
    assert_int_equal(st.curr_items, 1);
    assert_int_equal(coord_replica_merge(o->ct, key, strlen(key), b.data, b.len, &ack), RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_UNCHANGED);
    assert_int_equal(ack.cas, r.cas);
    coord_get_stats(o->co, &st);
    assert_int_equal(st.curr_items, 1);
    assert_local(out, key, "rep");

    /* Refused: what object_load refuses. */
    b.data[b.len - 1] ^= 0x5a;
    b.data[OBJECT_HEADER_SIZE - 1] ^= 0x01;
    assert_int_equal(coord_replica_merge(o->ct, "other", 5, b.data, b.len, &ack), RC_ECORRUPT);
    assert_int_equal(coord_replica_merge(o->ct, "other", 5, "short", 5, &ack), RC_ECORRUPT);
    assert_int_equal(coord_replica_read(o->ct, "other", 5, &b, &dead), RC_ENOTFOUND);
    buf_deinit(&b);
}

/* Never refused by the sibling limit (V.10). */
static void
test_merge_ignores_sibling_limit(void **state)
{
    struct reply r;
    struct coord_replica_ack ack;
    struct buf b1, b2;
    bool dead;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);
    char ctx[REQ_CONTEXT_MAX + 1];

    (void)state;
    run(pref[0], REQ_SET, key, "s", NULL, &r);
    run(pref[0], REQ_VGET, key, NULL, NULL, &r);
    snprintf(ctx, sizeof(ctx), "%s", r.ctx);
    net.cut[pref[1]] = net.cut[pref[2]] = true;
    net.down[out] = true;
    issue(pref[0], REQ_VSET, key, "s0", ctx, &r);
    net_run();
    net_timeouts();
    assert_true(r.done);
    assert_string_equal(r.errmsg, "write quorum not reached (1 of 2)");
    net.cut[pref[1]] = net.cut[pref[2]] = false;
    net.cut[pref[0]] = true;
    run(pref[1], REQ_VSET, key, "s1", ctx, &r);
    assert_int_equal(r.status, RC_OK);
    net_timeouts();
    net.cut[pref[0]] = false;
    buf_init(&b1);
    buf_init(&b2);
    assert_int_equal(coord_replica_read(net.nodes[pref[0]].ct, key, strlen(key), &b1, &dead),
                     RC_OK);
    assert_int_equal(coord_replica_read(net.nodes[pref[1]].ct, key, strlen(key), &b2, &dead),
                     RC_OK);
    /* A node allowing one sibling still merges two. */
    net.nodes[out].co->cfg.max_siblings = 1;
    assert_int_equal(
        coord_replica_merge(net.nodes[out].ct, key, strlen(key), b1.data, b1.len, &ack), RC_OK);
    assert_int_equal(
        coord_replica_merge(net.nodes[out].ct, key, strlen(key), b2.data, b2.len, &ack), RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_STORED);
    assert_int_equal(ack.nlive, 2);
    buf_deinit(&b1);
    buf_deinit(&b2);
}

/* Per-request R (doc/replication.txt section 5): vget with r=1 answers
 * from the coordinator's own replica while the others are silent, where
 * the node's R = 2 waits for the timeout and fails; R is capped at N. */
static void
test_request_r(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(pref[0], REQ_SET, key, "v1", NULL, &r);
    net.cut[pref[1]] = net.cut[pref[2]] = true;
    issue_rw(pref[0], REQ_VGET, key, NULL, NULL, 1, 0, &r);
    assert_true(r.done); /* at once: the local answer is R */
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(r.nsib, 1);
    assert_string_equal(r.sib[0], "v1");
    issue(pref[0], REQ_VGET, key, NULL, NULL, &r);
    net_run();
    assert_false(r.done);
    net_timeouts();
    assert_true(r.done);
    assert_string_equal(r.errmsg, "read quorum not reached (1 of 2)");
    /* marked down: r=1 still answers, the default fails at once */
    net.cut[pref[1]] = net.cut[pref[2]] = false;
    net.down[pref[1]] = net.down[pref[2]] = true;
    issue_rw(pref[0], REQ_VGET, key, NULL, NULL, 1, 0, &r);
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    issue_rw(pref[0], REQ_VGET, key, NULL, NULL, 0, 3, &r); /* w is not R */
    assert_true(r.done);
    assert_string_equal(r.errmsg, "read quorum not reached (1 of 2)");
    /* only the extension commands take it: a plain get keeps R = 2 */
    issue_rw(pref[0], REQ_GET, key, NULL, NULL, 1, 0, &r);
    assert_true(r.done);
    assert_string_equal(r.errmsg, "read quorum not reached (1 of 2)");
    /* r above N is N */
    net.down[pref[2]] = false;
    issue_rw(pref[0], REQ_VGET, key, NULL, NULL, 16, 0, &r);
    assert_true(r.done); /* 3 is out of reach at once */
    assert_string_equal(r.errmsg, "read quorum not reached (1 of 3)");
    net_run();
    net.down[pref[1]] = false;
    issue_rw(pref[0], REQ_VGET, key, NULL, NULL, 16, 0, &r);
    net_run();
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    assert_string_equal(r.sib[0], "v1");
}

/* Per-request W: with a replica down, vset w=3 fails with the write quorum
 * error while w=1 succeeds; vdel alike; through a forward as well. */
static void
test_request_w(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    char ctx[REQ_CONTEXT_MAX + 1];

    (void)state;
    net.down[pref[2]] = net.cut[pref[2]] = true;
    issue_rw(pref[0], REQ_VSET, key, "three", "", 0, 3, &r);
    assert_true(r.done);
    assert_int_equal(r.status, RC_EAGAIN);
    assert_string_equal(r.errmsg, "write quorum not reached (1 of 3)");
    net_run();
    /* w=1: the coordinator's own write is enough, before any ack */
    net.hold[pref[1]] = true;
    issue_rw(pref[0], REQ_VSET, key, "one", "", 0, 1, &r);
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    snprintf(ctx, sizeof(ctx), "%s", r.ctx);
    net.hold[pref[1]] = false;
    net_run();
    /* vdel: w=3 fails, w=2 (the default, 0 = the node's) succeeds */
    issue_rw(pref[0], REQ_VDEL, key, NULL, ctx, 0, 3, &r);
    assert_true(r.done);
    assert_string_equal(r.errmsg, "write quorum not reached (1 of 3)");
    net_run();
    run(pref[0], REQ_VGET, key, NULL, NULL, &r);
    snprintf(ctx, sizeof(ctx), "%s", r.ctx);
    issue_rw(pref[0], REQ_VDEL, key, NULL, ctx, 5, 0, &r); /* r is not W */
    net_run();
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    /* a plain set ignores it */
    issue_rw(pref[0], REQ_SET, key, "plain", NULL, 0, 3, &r);
    net_run();
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
}

/* The forward carries W: an outsider's vset with w=3 waits for the silent
 * member and fails, where the node's W = 2 succeeds. */
static void
test_request_w_forward(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    net.cut[pref[2]] = true;
    issue(out, REQ_VSET, key, "two", "", &r);
    net_run();
    assert_true(r.done);
    assert_int_equal(r.status, RC_OK);
    issue_rw(out, REQ_VSET, key, "three", "", 0, 3, &r);
    net_run();
    assert_false(r.done);
    net_timeouts();
    assert_true(r.done);
    assert_int_equal(r.status, RC_EAGAIN);
    assert_string_equal(r.errmsg, "write quorum not reached (2 of 3)");
    assert_true(net.fwds[pref[0]] >= 2);
}

/* ------------------------------------------------------------------ tombstone marks */

/* Every owner acknowledged the delete: the coordinator marks its record and
 * tells the two others, which mark theirs; a later read sends nothing. */
static void
test_tombstone_all_ack(void **state)
{
    struct reply r;
    struct coord_cluster_stats s;
    struct coord_stats cs;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(pref[0], REQ_SET, key, "v", NULL, &r);
    assert_false(local_acked(pref[0], key)); /* a live value is never marked */
    run(pref[0], REQ_DELETE, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    for (unsigned i = 0; i < 3; i++) {
        assert_true(local_acked(pref[i], key));
    }
    assert_int_equal(net.notices[pref[0]], 0);
    assert_int_equal(net.notices[pref[1]], 1);
    assert_int_equal(net.notices[pref[2]], 1);
    coord_cluster_get_stats(net.nodes[pref[0]].cl, &s);
    assert_int_equal(s.tombstones_marked, 1);
    assert_int_equal(s.tombstone_notices_sent, 2);
    coord_get_stats(net.nodes[pref[1]].co, &cs);
    assert_int_equal(cs.tombstones_acked, 1);
    /* Everyone already marked: a read changes nothing and sends nothing. */
    run(pref[1], REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    assert_int_equal(net.notices[pref[0]] + net.notices[pref[2]], 1);
    /* A new version clears the mark everywhere it lands. */
    run(pref[2], REQ_SET, key, "again", NULL, &r);
    for (unsigned i = 0; i < 3; i++) {
        assert_false(local_acked(pref[i], key));
    }
}

/* One owner down during the delete: nobody marks; once it is back, a read
 * repairs it and, with every owner holding the tombstone, marks it. */
static void
test_tombstone_one_down(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(pref[0], REQ_SET, key, "v", NULL, &r);
    net.down[pref[2]] = net.cut[pref[2]] = true;
    run(pref[0], REQ_DELETE, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    net_timeouts();
    for (unsigned i = 0; i < 3; i++) {
        assert_false(local_acked(pref[i], key));
    }
    assert_int_equal(net.notices[pref[1]], 0);
    /* Reads while it is down: two answers, not all N: still unmarked. */
    run(pref[1], REQ_GET, key, NULL, NULL, &r);
    net_timeouts();
    assert_false(local_acked(pref[0], key));
    assert_false(local_acked(pref[1], key));
    net.down[pref[2]] = net.cut[pref[2]] = false;
    assert_local(pref[2], key, "v"); /* it missed the delete */
    run(pref[1], REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    assert_local(pref[2], key, NULL); /* repaired */
    for (unsigned i = 0; i < 3; i++) {
        assert_true(local_acked(pref[i], key));
    }
}

/* 4 nodes: an owner down, the delete goes to a fallback with a hint: a hint
 * is not a replica, so nothing is marked. */
static void
test_tombstone_hinted(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);
    unsigned out = outsider(pref);

    (void)state;
    run(pref[0], REQ_SET, key, "v", NULL, &r);
    net.down[pref[1]] = net.cut[pref[1]] = true;
    run(pref[0], REQ_DELETE, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(net.hints[out], 1);
    net_timeouts();
    assert_false(local_acked(pref[0], key));
    assert_false(local_acked(pref[2], key));
    assert_int_equal(net.notices[pref[2]] + net.notices[out], 0);
}

/* A replica holding a version concurrent with the tombstone: its ack is not
 * exact, so nobody marks; and a notice naming the tombstone is ignored by a
 * replica whose clock is not exactly that one. */
static void
test_tombstone_concurrent(void **state)
{
    struct reply r, r2;
    struct request req;
    struct response resp;
    struct req_key k;
    struct coord_replica_ack ack;
    struct buf tomb;
    uint64_t ticket = 0;
    bool dead;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(pref[0], REQ_SET, key, "v", NULL, &r);
    net.hold[pref[2]] = true;
    issue(pref[0], REQ_DELETE, key, NULL, NULL, &r);
    net_run();
    assert_true(r.done); /* W = 2: self and pref[1] */
    /* Meanwhile pref[2] takes a write of its own (not through the
     * cluster): a version the delete did not see. */
    k.key = key;
    k.nkey = strlen(key);
    request_reset(&req);
    req.cmd = REQ_SET;
    req.keys = &k;
    req.nkeys = 1;
    req.value = "w";
    req.nvalue = 1;
    coord_execute(net.nodes[pref[2]].ct, &req, 0, &resp, &ticket);
    assert_int_equal(resp.status, RC_OK);
    net.hold[pref[2]] = false;
    net_run();
    for (unsigned i = 0; i < 3; i++) {
        assert_false(local_acked(pref[i], key));
    }
    assert_int_equal(net.notices[pref[1]] + net.notices[pref[2]], 0);
    /* The tombstone as pref[1] holds it, notified to pref[2] directly. */
    buf_init(&tomb);
    assert_int_equal(coord_replica_read(net.nodes[pref[1]].ct, key, strlen(key), &tomb, &dead),
                     RC_OK);
    assert_int_equal(
        coord_replica_mark(net.nodes[pref[2]].ct, key, strlen(key), tomb.data, tomb.len, &ack),
        RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_UNCHANGED);
    assert_int_equal(ack.nlive, 1);
    assert_false(local_acked(pref[2], key));
    /* pref[1] holds exactly it: marked, once. */
    assert_int_equal(
        coord_replica_mark(net.nodes[pref[1]].ct, key, strlen(key), tomb.data, tomb.len, &ack),
        RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_STORED);
    assert_true(local_acked(pref[1], key));
    assert_int_equal(
        coord_replica_mark(net.nodes[pref[1]].ct, key, strlen(key), tomb.data, tomb.len, &ack),
        RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_UNCHANGED);
    /* A newer tombstone (descending the notified one) is not "the same".
     * A set first, so the delete's quorum read finds the key live whichever
     * two replicas answer first (pref[2] alone holds a live sibling now). */
    run(pref[2], REQ_SET, key, "x", NULL, &r2);
    assert_int_equal(r2.status, RC_OK);
    run(pref[2], REQ_DELETE, key, NULL, NULL, &r2);
    assert_int_equal(r2.status, RC_OK);
    assert_true(local_acked(pref[0], key)); /* the new tombstone, everywhere */
    assert_int_equal(
        coord_replica_mark(net.nodes[pref[0]].ct, key, strlen(key), tomb.data, tomb.len, &ack),
        RC_OK);
    assert_int_equal(ack.result, COORD_REPLICA_UNCHANGED);
    buf_deinit(&tomb);
}

/* A peer that speaks no notices (version 1) is not sent one: the others
 * still mark theirs, it keeps its tombstone unmarked. */
static void
test_tombstone_old_peer(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    net.no_notices[pref[2]] = true;
    run(pref[0], REQ_SET, key, "v", NULL, &r);
    run(pref[0], REQ_DELETE, key, NULL, NULL, &r);
    assert_true(local_acked(pref[0], key));
    assert_true(local_acked(pref[1], key));
    assert_false(local_acked(pref[2], key));
    assert_int_equal(net.notices[pref[2]], 0);
}

/* A replica that reaped a marked tombstone is not handed it back by a read
 * that finds it marked elsewhere. */
static void
test_tombstone_not_resurrected(void **state)
{
    struct reply r;
    unsigned pref[RING_MAX_N];
    const char *key = find_key(any_key, pref);

    (void)state;
    run(pref[0], REQ_SET, key, "v", NULL, &r);
    run(pref[0], REQ_DELETE, key, NULL, NULL, &r);
    assert_true(local_acked(pref[2], key));
    /* pref[2] reaps it (its record removed, as its sweeper would). */
    assert_int_equal(store_delete(net.nodes[pref[2]].st, key, strlen(key)), RC_OK);
    net.repairs[pref[2]] = 0;
    run(pref[1], REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    run(pref[2], REQ_GET, key, NULL, NULL, &r);
    assert_int_equal(r.status, RC_ENOTFOUND);
    assert_int_equal(net.repairs[pref[2]], 0);
    assert_local(pref[2], key, NULL);
    {
        struct buf b;
        bool dead;

        buf_init(&b);
        assert_int_equal(coord_replica_read(net.nodes[pref[2]].ct, key, strlen(key), &b, &dead),
                         RC_ENOTFOUND);
        buf_deinit(&b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_one_down, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_sloppy_hint, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_write_quorum_fails, setup3_w3, teardown),
        cmocka_unit_test_setup_teardown(test_read_repair, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_forward, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_vset, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_siblings_after_repair, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout_nonmember, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_read_then_write, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_rmw_repairs, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_sync_transport, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_replica_merge, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_merge_ignores_sibling_limit, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_request_r, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_request_w, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_request_w_forward, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_all_ack, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_one_down, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_hinted, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_concurrent, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_old_peer, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_not_resurrected, setup3, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
