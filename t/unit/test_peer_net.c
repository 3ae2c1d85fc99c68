/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_peer_net.c - the peer transport over real loopback sockets: two or
 * three peer_net instances in one process (each with its own thread) connect,
 * authenticate, ping, serve requests through their handler tables, time
 * out, fail in-flight requests when a peer stops, reconnect when it comes
 * back, and refuse wrong secrets, mismatched rings and garbage. Attached
 * nets (no thread: they run on an event_base the test runs itself) dial
 * those threaded nets, as a server worker's net dials its peers.
 *
 * Every wait is bounded (WAIT_MS); every net is stopped and destroyed, so
 * every thread is joined, before a test returns.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"

#define SECRET       "0123456789abcdef0123456789abcdef"
#define OTHER_SECRET "fedcba9876543210fedcba9876543210"
#define RING         0x0123456789abcdefULL
#define WAIT_MS      5000
#define MAX_NODES    3

/* Poll cond every 2 ms, for at most ms; true when it held. */
#define WAIT_FOR(cond, ms)                                   \
    ({                                                       \
        uint64_t until_ = util_mono_ms() + (ms);             \
        bool ok_;                                            \
        while (!(ok_ = (cond)) && util_mono_ms() < until_) { \
            sleep_ms(2);                                     \
        }                                                    \
        ok_;                                                 \
    })

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ a node */

struct node {
    char name[16];
    int port;
    struct peer_net *net;
    pthread_mutex_t lock; /* guards the handler record below */
    int puts, gets, forwards, flushes;
    char last_key[PEER_KEY_MAX + 1];
    size_t last_nrecord;
    char last_from[PEER_NAME_MAX + 1];
    unsigned put_sleep_ms; /* the put handler sleeps this long for key "slow" */
    bool have_ticket;
    struct peer_ticket ticket; /* the forward handler's deferred request */
};

static int
h_put(void *arg, struct peer_call *call, const struct peer_put *m, struct peer_put_ack *ack)
{
    struct node *n = arg;
    unsigned sleep_for = 0;

    pthread_mutex_lock(&n->lock);
    n->puts++;
    snprintf(n->last_key, sizeof(n->last_key), "%.*s", (int)m->nkey, (const char *)m->key);
    n->last_nrecord = m->nrecord;
    snprintf(n->last_from, sizeof(n->last_from), "%s", call->peer_name);
    if (m->nkey == 4 && memcmp(m->key, "slow", 4) == 0) {
        sleep_for = n->put_sleep_ms;
    }
    pthread_mutex_unlock(&n->lock);
    if (sleep_for > 0) {
        sleep_ms(sleep_for);
    }
    ack->result = PEER_PUT_STORED;
    ack->nsiblings = 1;
    ack->nlive = 1;
    ack->cas = 42;
    return RC_OK;
}

static int
h_get(void *arg, struct peer_call *call, const struct peer_get *m, struct peer_get_reply *r)
{
    struct node *n = arg;

    pthread_mutex_lock(&n->lock);
    n->gets++;
    pthread_mutex_unlock(&n->lock);
    if (m->nkey == 7 && memcmp(m->key, "notmine", 7) == 0) {
        call->error_code = PEER_NOT_REPLICA;
        call->error_text = "not a replica of this key";
        return RC_EINVAL;
    }
    r->result = PEER_GET_NOT_FOUND;
    return RC_OK;
}

/* Keeps every FORWARD for the test thread to answer (or never). */
static int
h_forward(void *arg, struct peer_call *call, const struct peer_forward *m,
          struct peer_forward_reply *r)
{
    struct node *n = arg;

    (void)m;
    (void)r;
    pthread_mutex_lock(&n->lock);
    n->forwards++;
    n->ticket = call->ticket;
    n->have_ticket = true;
    pthread_mutex_unlock(&n->lock);
    return PEER_NET_DEFER;
}

static int
node_count(struct node *n, int *field)
{
    int v;

    pthread_mutex_lock(&n->lock);
    v = *field;
    pthread_mutex_unlock(&n->lock);
    return v;
}

static int
node_calls(struct node *n)
{
    return node_count(n, &n->puts) + node_count(n, &n->gets) + node_count(n, &n->forwards) +
           node_count(n, &n->flushes);
}

static bool
node_have_ticket(struct node *n)
{
    bool v;

    pthread_mutex_lock(&n->lock);
    v = n->have_ticket;
    pthread_mutex_unlock(&n->lock);
    return v;
}

/* A free loopback port, held by a bound socket (SO_REUSEADDR, never listening)
 * so that no connection takes it as its ephemeral port before the net binds
 * its listener there; close *fd once the listener is up. */
static int
reserve_port(int *fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

struct cluster {
    struct node nodes[MAX_NODES];
    size_t n;
};

/* Create node i of c (not started), its peers being every other node. */
static void
node_create(struct cluster *cl, size_t i, const char *secret, uint64_t ring)
{
    struct node *n = &cl->nodes[i];
    struct peer_net_peer_config peers[MAX_NODES];
    char addrs[MAX_NODES][32], listen[32];
    struct peer_net_config cfg;
    size_t np = 0;

    for (size_t j = 0; j < cl->n; j++) {
        if (j == i) {
            continue;
        }
        snprintf(addrs[np], sizeof(addrs[np]), "127.0.0.1:%d", cl->nodes[j].port);
        peers[np].name = cl->nodes[j].name;
        peers[np].addr = addrs[np];
        np++;
    }
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", n->port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = n->name;
    cfg.node_id[0] = (uint8_t)(i + 1);
    cfg.node_id[15] = 0x5a;
    peer_net_ring_digest(ring, cfg.ring_hash);
    cfg.partitions = 1024;
    cfg.replicas = 3;
    cfg.secret = secret;
    cfg.nsecret = strlen(secret);
    cfg.listen = listen;
    cfg.peers = peers;
    cfg.npeers = np;
    cfg.timeout_ms = 500;
    cfg.connections = 2;
    cfg.ping_interval_ms = 50;
    cfg.backoff_min_ms = 20;
    cfg.backoff_max_ms = 200;
    cfg.handlers.arg = n;
    cfg.handlers.put = h_put;
    cfg.handlers.get = h_get;
    cfg.handlers.forward = h_forward;
    cfg.handlers.flush = NULL; /* answered ERROR DISABLED */
    assert_int_equal(peer_net_create(&cfg, &n->net), RC_OK);
    assert_int_equal(peer_net_port(n->net), n->port);
}

static void
cluster_init(struct cluster *cl, size_t n, const char *const *secrets, const uint64_t *rings)
{
    int held[MAX_NODES];

    memset(cl, 0, sizeof(*cl));
    cl->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(cl->nodes[i].name, sizeof(cl->nodes[i].name), "%c", (char)('a' + i));
        cl->nodes[i].port = reserve_port(&held[i]);
        pthread_mutex_init(&cl->nodes[i].lock, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        node_create(cl, i, secrets != NULL ? secrets[i] : SECRET, rings != NULL ? rings[i] : RING);
        close(held[i]);
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(peer_net_start(cl->nodes[i].net), RC_OK);
    }
}

static void
cluster_deinit(struct cluster *cl)
{
    for (size_t i = 0; i < cl->n; i++) {
        peer_net_destroy(cl->nodes[i].net);
        cl->nodes[i].net = NULL;
    }
    for (size_t i = 0; i < cl->n; i++) {
        pthread_mutex_destroy(&cl->nodes[i].lock);
    }
}

/* The index, in node `from`'s configuration, of node `to`. */
static size_t
pidx(struct cluster *cl, size_t from, size_t to)
{
    size_t idx = 99;

    assert_int_equal(peer_net_peer_index(cl->nodes[from].net, cl->nodes[to].name, &idx), RC_OK);
    return idx;
}

static bool
healthy(struct cluster *cl, size_t from, size_t to)
{
    return peer_net_healthy(cl->nodes[from].net, pidx(cl, from, to));
}

static bool
all_healthy(struct cluster *cl)
{
    for (size_t i = 0; i < cl->n; i++) {
        for (size_t j = 0; j < cl->n; j++) {
            if (i != j && !healthy(cl, i, j)) {
                return false;
            }
        }
    }
    return true;
}

static struct peer_net_peer_stats
pstats(struct cluster *cl, size_t from, size_t to)
{
    struct peer_net_peer_stats s;

    assert_int_equal(peer_net_peer_stats(cl->nodes[from].net, pidx(cl, from, to), &s), RC_OK);
    return s;
}

static struct peer_net_totals
totals(struct cluster *cl, size_t i)
{
    struct peer_net_totals t;

    peer_net_totals(cl->nodes[i].net, &t);
    return t;
}

/* ------------------------------------------------------------ requests */

struct result {
    bool done;
    int status;
    uint16_t code;
    const char *why;
    struct peer_header h;
    unsigned char body[512];
    size_t nbody;
    pthread_t thread;
};

static void
on_done(void *arg, const struct peer_reply *r)
{
    struct result *res = arg;

    assert_false(res->done);
    res->done = true;
    res->status = r->status;
    res->code = r->code;
    res->why = r->why;
    res->h = r->frame.h;
    res->thread = pthread_self();
    if (r->frame.body != NULL) {
        res->nbody =
            r->frame.h.body_len < sizeof(res->body) ? r->frame.h.body_len : sizeof(res->body);
        memcpy(res->body, r->frame.body, res->nbody);
    }
}

static struct peer_frame
res_frame(const struct result *res)
{
    struct peer_frame f;

    f.h = res->h;
    f.body = res->body;
    return f;
}

static atomic_int notified;

static void
on_notify(void *arg)
{
    (void)arg;
    atomic_fetch_add(&notified, 1);
}

static bool
drain_until(struct peer_completions *q, struct result *res, unsigned ms)
{
    return WAIT_FOR((peer_completions_drain(q), res->done), ms);
}

/* A PUT of key with an nrecord-byte record (the leading bytes a record
 * header starts with, then zeros). */
static void
build_put_sized(struct buf *b, const char *key, size_t nrecord)
{
    unsigned char *record = calloc(1, nrecord);
    struct peer_put m;

    assert_non_null(record);
    record[0] = 3;
    record[1] = 1;
    memset(&m, 0, sizeof(m));
    m.partition = 7;
    m.key = key;
    m.nkey = strlen(key);
    m.record = record;
    m.nrecord = nrecord;
    buf_reset(b);
    assert_int_equal(peer_put_encode(1, 1, &m, b), RC_OK);
    free(record);
}

static void
build_put(struct buf *b, const char *key)
{
    build_put_sized(b, key, 120);
}

static void
build_get(struct buf *b, const char *key)
{
    struct peer_get m;

    m.partition = 7;
    m.key = key;
    m.nkey = strlen(key);
    buf_reset(b);
    assert_int_equal(peer_get_encode(1, 1, &m, b), RC_OK);
}

static void
build_forward(struct buf *b, const char *key)
{
    struct peer_forward m;

    memset(&m, 0, sizeof(m));
    m.cmd = PEER_CMD_GET;
    m.key = key;
    m.nkey = strlen(key);
    buf_reset(b);
    assert_int_equal(peer_forward_encode(1, 1, &m, b), RC_OK);
}

/* Send a frame from node `from` to node `to` and wait for its completion. */
static void
call(struct cluster *cl, size_t from, size_t to, struct buf *frame, unsigned timeout_ms,
     struct peer_completions *q, struct result *res)
{
    memset(res, 0, sizeof(*res));
    assert_int_equal(peer_net_request(cl->nodes[from].net, pidx(cl, from, to), frame->data,
                                      frame->len, timeout_ms, on_done, res, q),
                     RC_OK);
    assert_true(drain_until(q, res, WAIT_MS));
    assert_true(pthread_equal(res->thread, pthread_self()));
}

/* ------------------------------------------------------------ tests */

/* Three nodes: connect, authenticate, ping; PUT, GET, FLUSH, FORWARD with a
 * deferred reply from another thread, handler errors; stats. */
static void
test_basic(void **state)
{
    struct cluster cl;
    struct peer_completions *q, *q2;
    struct result res, res2;
    struct peer_put_ack ack;
    struct peer_get_reply gr;
    struct peer_forward_reply fr;
    struct peer_pong pong;
    struct peer_frame f;
    struct buf b;
    struct peer_net_peer_stats s;
    struct peer_ticket t;
    int before;

    (void)state;
    buf_init(&b);
    atomic_store(&notified, 0);
    assert_int_equal(peer_completions_create(on_notify, NULL, &q), RC_OK);
    cluster_init(&cl, 3, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    assert_true(WAIT_FOR(pstats(&cl, 0, 1).rtt_us > 0, WAIT_MS));
    assert_true(
        WAIT_FOR(pstats(&cl, 0, 1).conns_out == 2 && pstats(&cl, 1, 0).conns_in == 2, WAIT_MS));
    s = pstats(&cl, 0, 1);
    assert_string_equal(s.name, "b");
    assert_int_equal(s.state, PEER_STATE_UP);
    assert_string_equal(peer_state_name(s.state), "up");
    assert_true(s.last_seen_ms > 0);
    assert_int_equal(s.auth_failures, 0);

    /* PUT a -> b: the handler sees it, the ack comes back on this thread. */
    build_put(&b, "k1");
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_OK);
    assert_int_equal(res.h.type, PEER_T_PUT_ACK);
    f = res_frame(&res);
    assert_int_equal(peer_put_ack_decode(&f, &ack, NULL), RC_OK);
    assert_int_equal(ack.result, PEER_PUT_STORED);
    assert_int_equal(ack.cas, 42);
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].puts), 1);
    assert_string_equal(cl.nodes[1].last_key, "k1");
    assert_string_equal(cl.nodes[1].last_from, "a");
    assert_int_equal(cl.nodes[1].last_nrecord, 120);
    assert_true(atomic_load(&notified) > 0);

    /* GET a -> c: NOT_FOUND; a refused key: ERROR NOT_REPLICA. */
    build_get(&b, "k2");
    call(&cl, 0, 2, &b, 0, q, &res);
    assert_int_equal(res.status, RC_OK);
    f = res_frame(&res);
    assert_int_equal(peer_get_reply_decode(&f, &gr, NULL), RC_OK);
    assert_int_equal(gr.result, PEER_GET_NOT_FOUND);
    build_get(&b, "notmine");
    call(&cl, 0, 2, &b, 0, q, &res);
    assert_int_equal(res.code, PEER_NOT_REPLICA);
    assert_int_equal(res.h.type, PEER_T_ERROR);
    assert_int_not_equal(res.status, RC_OK);

    /* FLUSH: no handler, ERROR DISABLED. */
    {
        struct peer_flush fl = {0, 1};

        buf_reset(&b);
        assert_int_equal(peer_flush_encode(1, 1, &fl, &b), RC_OK);
        call(&cl, 2, 1, &b, 0, q, &res);
        assert_int_equal(res.code, PEER_DISABLED);
    }

    /* A PING of our own. */
    {
        struct peer_ping ping = {12345};

        buf_reset(&b);
        assert_int_equal(peer_ping_encode(1, 1, &ping, &b), RC_OK);
        call(&cl, 1, 2, &b, 0, q, &res);
        assert_int_equal(res.status, RC_OK);
        f = res_frame(&res);
        assert_int_equal(peer_pong_decode(&f, &pong, NULL), RC_OK);
        assert_int_equal(pong.echo, 12345);
    }

    /* FORWARD: the handler defers; this thread answers it. */
    build_forward(&b, "fw");
    memset(&res, 0, sizeof(res));
    assert_int_equal(
        peer_net_request(cl.nodes[0].net, pidx(&cl, 0, 1), b.data, b.len, 2000, on_done, &res, q),
        RC_OK);
    assert_true(WAIT_FOR(node_have_ticket(&cl.nodes[1]), WAIT_MS));
    pthread_mutex_lock(&cl.nodes[1].lock);
    t = cl.nodes[1].ticket;
    pthread_mutex_unlock(&cl.nodes[1].lock);
    {
        struct peer_forward_reply m;

        memset(&m, 0, sizeof(m));
        m.status = PEER_OK;
        m.ttl = -1;
        m.value = "hello";
        m.nvalue = 5;
        buf_reset(&b);
        assert_int_equal(peer_forward_reply_encode(1, 1, &m, &b), RC_OK);
        /* The wrong reply type is refused. */
        assert_int_equal(peer_net_reply(cl.nodes[1].net, &t, b.data, 10), RC_EINVAL);
        assert_int_equal(peer_net_reply(cl.nodes[1].net, &t, b.data, b.len), RC_OK);
    }
    assert_true(drain_until(q, &res, WAIT_MS));
    assert_int_equal(res.status, RC_OK);
    f = res_frame(&res);
    assert_int_equal(peer_forward_reply_decode(&f, &fr, NULL), RC_OK);
    assert_int_equal(fr.nvalue, 5);
    assert_memory_equal(fr.value, "hello", 5);

    /* Bad arguments: no completion. */
    assert_int_equal(peer_net_request(cl.nodes[0].net, 7, b.data, b.len, 0, on_done, &res, q),
                     RC_EINVAL);
    assert_int_equal(
        peer_net_request(cl.nodes[0].net, 0, "garbage-garbage-garbage", 23, 0, on_done, &res, q),
        RC_EINVAL);
    /* A reply frame is not a request. */
    assert_int_equal(peer_net_request(cl.nodes[0].net, 0, b.data, b.len, 0, on_done, &res, q),
                     RC_EINVAL);

    /* A queue destroyed with a completion in it: freed, callback not run. */
    assert_int_equal(peer_completions_create(NULL, NULL, &q2), RC_OK);
    memset(&res2, 0, sizeof(res2));
    before = node_count(&cl.nodes[1], &cl.nodes[1].puts);
    build_put(&b, "k3");
    assert_int_equal(
        peer_net_request(cl.nodes[0].net, pidx(&cl, 0, 1), b.data, b.len, 0, on_done, &res2, q2),
        RC_OK);
    assert_true(WAIT_FOR(node_count(&cl.nodes[1], &cl.nodes[1].puts) == before + 1, WAIT_MS));
    assert_true(WAIT_FOR(pstats(&cl, 0, 1).queued == 0, WAIT_MS));
    peer_completions_destroy(q2);
    assert_false(res2.done);

    s = pstats(&cl, 0, 1);
    assert_true(s.requests_sent >= 3);
    assert_true(s.replies >= 3);
    assert_int_equal(s.timeouts, 0);
    assert_true(totals(&cl, 1).requests_received >= 3);
    assert_int_equal(totals(&cl, 0).auth_failures, 0);
    assert_int_equal(totals(&cl, 0).ring_mismatches, 0);
    cluster_deinit(&cl);
    peer_completions_destroy(q);
    buf_deinit(&b);
}

/* A handler slower than the deadline: a timeout completion, the peer marked
 * down, the late reply counted, the peer up again after a PONG. */
static void
test_timeout(void **state)
{
    struct cluster cl;
    struct peer_completions *q;
    struct result res;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_completions_create(NULL, NULL, &q), RC_OK);
    cluster_init(&cl, 2, NULL, NULL);
    cl.nodes[1].put_sleep_ms = 300; /* under the net's 500 ms: PINGs survive it */
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));

    build_put(&b, "slow");
    call(&cl, 0, 1, &b, 100, q, &res);
    assert_int_equal(res.status, RC_EAGAIN);
    assert_string_equal(res.why, "timeout");
    assert_true(pstats(&cl, 0, 1).timeouts >= 1);
    assert_true(totals(&cl, 0).timeouts >= 1);
    assert_true(WAIT_FOR(!healthy(&cl, 0, 1), WAIT_MS));
    /* While down, requests fail at once. */
    build_put(&b, "k");
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_ECLOSED);
    assert_string_equal(res.why, "peer down");
    /* The reply arrives after the deadline: counted, dropped. */
    assert_true(WAIT_FOR(pstats(&cl, 0, 1).late_replies >= 1, WAIT_MS));
    assert_true(WAIT_FOR(healthy(&cl, 0, 1), WAIT_MS));
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_OK);
    cluster_deinit(&cl);
    peer_completions_destroy(q);
    buf_deinit(&b);
}

/* Stop a node: its peer fails the request in flight and marks it down;
 * start it again: reconnected, up. */
static void
test_stop_restart(void **state)
{
    struct cluster cl;
    struct peer_completions *q;
    struct result res;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_completions_create(NULL, NULL, &q), RC_OK);
    cluster_init(&cl, 2, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));

    /* b keeps the FORWARD and never answers it. */
    build_forward(&b, "never");
    memset(&res, 0, sizeof(res));
    assert_int_equal(
        peer_net_request(cl.nodes[0].net, pidx(&cl, 0, 1), b.data, b.len, 10000, on_done, &res, q),
        RC_OK);
    assert_true(WAIT_FOR(node_have_ticket(&cl.nodes[1]), WAIT_MS));
    peer_net_stop(cl.nodes[1].net);
    assert_true(drain_until(q, &res, WAIT_MS));
    assert_int_equal(res.status, RC_ECLOSED);
    assert_true(WAIT_FOR(!healthy(&cl, 0, 1), WAIT_MS));
    assert_false(peer_net_healthy(cl.nodes[1].net, 0));
    /* A stopped net takes nothing. */
    assert_int_equal(peer_net_request(cl.nodes[1].net, 0, b.data, b.len, 0, on_done, &res, q),
                     RC_ECLOSED);
    peer_net_destroy(cl.nodes[1].net);
    cl.nodes[1].net = NULL;
    sleep_ms(100); /* a few failed reconnects */

    /* b again, on the same port. */
    node_create(&cl, 1, SECRET, RING);
    assert_int_equal(peer_net_start(cl.nodes[1].net), RC_OK);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    assert_true(pstats(&cl, 0, 1).reconnects >= 1);
    assert_true(pstats(&cl, 0, 1).errors >= 1);
    build_put(&b, "again");
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_OK);
    cluster_deinit(&cl);
    peer_completions_destroy(q);
    buf_deinit(&b);
}

/* Different secrets: refused both ways, counted on both sides, no request
 * reaches a handler. */
static void
test_wrong_secret(void **state)
{
    static const char *const secrets[] = {SECRET, OTHER_SECRET};
    struct cluster cl;
    struct peer_completions *q;
    struct result res;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_completions_create(NULL, NULL, &q), RC_OK);
    cluster_init(&cl, 2, secrets, NULL);
    assert_true(
        WAIT_FOR(totals(&cl, 0).auth_failures >= 2 && totals(&cl, 1).auth_failures >= 2, WAIT_MS));
    /* Each side counts its own dial as a failure with that peer. */
    assert_true(WAIT_FOR(pstats(&cl, 0, 1).auth_failures >= 1, WAIT_MS));
    assert_true(WAIT_FOR(pstats(&cl, 1, 0).auth_failures >= 1, WAIT_MS));
    assert_false(healthy(&cl, 0, 1));
    assert_false(healthy(&cl, 1, 0));
    assert_int_equal(pstats(&cl, 0, 1).conns_out, 0);
    assert_int_equal(pstats(&cl, 0, 1).conns_in, 0);
    build_put(&b, "k");
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_ECLOSED);
    sleep_ms(100);
    assert_int_equal(node_calls(&cl.nodes[0]), 0);
    assert_int_equal(node_calls(&cl.nodes[1]), 0);
    assert_int_equal(totals(&cl, 0).requests_received, 0);
    assert_int_equal(totals(&cl, 1).requests_received, 0);
    cluster_deinit(&cl);
    peer_completions_destroy(q);
    buf_deinit(&b);
}

/* Same secret, different rings: refused after authentication, counted. */
static void
test_ring_mismatch(void **state)
{
    static const uint64_t rings[] = {RING, RING + 1};
    struct cluster cl;

    (void)state;
    cluster_init(&cl, 2, NULL, rings);
    assert_true(WAIT_FOR(totals(&cl, 0).ring_mismatches >= 2 && totals(&cl, 1).ring_mismatches >= 2,
                         WAIT_MS));
    assert_true(pstats(&cl, 0, 1).ring_mismatches >= 1);
    assert_true(pstats(&cl, 1, 0).ring_mismatches >= 1);
    assert_int_equal(totals(&cl, 0).auth_failures, 0);
    assert_false(healthy(&cl, 0, 1));
    assert_false(healthy(&cl, 1, 0));
    assert_int_equal(node_calls(&cl.nodes[0]) + node_calls(&cl.nodes[1]), 0);
    cluster_deinit(&cl);
}

/* Connect a raw socket to 127.0.0.1:port, send bytes, and read until the
 * peer closes (at most 3 s). Returns the bytes read, -1 on a timeout. */
static ssize_t
raw_exchange(int port, const void *send_bytes, size_t n, unsigned char *got, size_t cap)
{
    struct sockaddr_in sa;
    struct timeval tv = {3, 0};
    size_t total = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (n > 0) {
        assert_int_equal(send(fd, send_bytes, n, MSG_NOSIGNAL), (ssize_t)n);
    }
    for (;;) {
        ssize_t r = recv(fd, got + total, cap - total, 0);

        if (r == 0) {
            break;
        }
        if (r < 0) {
            close(fd);
            return -1;
        }
        total += (size_t)r;
        if (total == cap) {
            break;
        }
    }
    close(fd);
    return (ssize_t)total;
}

/* Garbage on the peer port: answered ERROR PROTOCOL and dropped; the
 * established peers carry on. */
static void
test_garbage(void **state)
{
    static const char http[] = "GET / HTTP/1.0\r\n\r\n";
    unsigned char huge[PEER_HEADER_SIZE] = {
        0xd9, 0x50, 1, PEER_T_HELLO, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
    unsigned char got[4096];
    struct cluster cl;
    struct peer_completions *q;
    struct result res;
    struct buf b;
    ssize_t n;
    uint64_t t0;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_completions_create(NULL, NULL, &q), RC_OK);
    cluster_init(&cl, 2, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));

    n = raw_exchange(cl.nodes[1].port, http, sizeof(http) - 1, got, sizeof(got));
    assert_true(n >= PEER_HEADER_SIZE);
    assert_int_equal(got[0], 0xd9);
    assert_int_equal(got[1], 0x50);
    assert_int_equal(got[3], PEER_T_ERROR);
    assert_int_equal(got[20] << 8 | got[21], PEER_PROTOCOL);
    assert_true(totals(&cl, 1).protocol_errors >= 1);

    /* A header announcing a 2 GiB HELLO: refused from the header alone. */
    n = raw_exchange(cl.nodes[1].port, huge, sizeof(huge), got, sizeof(got));
    assert_true(n >= PEER_HEADER_SIZE);
    assert_int_equal(got[3], PEER_T_ERROR);

    /* Silence: closed when the handshake deadline passes. */
    t0 = util_mono_ms();
    n = raw_exchange(cl.nodes[1].port, NULL, 0, got, sizeof(got));
    assert_true(n >= 0);
    assert_true(util_mono_ms() - t0 >= 400);

    assert_true(healthy(&cl, 0, 1));
    assert_true(healthy(&cl, 1, 0));
    build_put(&b, "still");
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_OK);
    assert_int_equal(totals(&cl, 1).auth_failures, 0);
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].puts), 1);
    cluster_deinit(&cl);
    peer_completions_destroy(q);
    buf_deinit(&b);
}

/* A peer whose thread is stuck past the net's timeout: its PINGs time out,
 * the connection is reopened, and it is up again once it wakes. */
static void
test_stuck_peer(void **state)
{
    struct cluster cl;
    struct peer_completions *q;
    struct result res;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_completions_create(NULL, NULL, &q), RC_OK);
    cluster_init(&cl, 2, NULL, NULL);
    cl.nodes[1].put_sleep_ms = 900;
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    build_put(&b, "slow");
    call(&cl, 0, 1, &b, 100, q, &res);
    assert_int_equal(res.status, RC_EAGAIN);
    assert_true(WAIT_FOR(!healthy(&cl, 0, 1), WAIT_MS));
    assert_true(WAIT_FOR(pstats(&cl, 0, 1).timeouts >= 2, WAIT_MS)); /* a PING too */
    assert_true(WAIT_FOR(healthy(&cl, 0, 1), WAIT_MS));
    build_put(&b, "after");
    call(&cl, 0, 1, &b, 0, q, &res);
    assert_int_equal(res.status, RC_OK);
    cluster_deinit(&cl);
    peer_completions_destroy(q);
    buf_deinit(&b);
}

/* Several threads, each with its own completion queue, send to two peers at
 * once: every request completes once, on its own thread. */
#define CONC_THREADS  4
#define CONC_REQUESTS 200

struct conc {
    struct cluster *cl;
    size_t idx[2]; /* node a's indices of b and c */
    int ok;
    int done;
};

static void
conc_done(void *arg, const struct peer_reply *r)
{
    struct conc *c = arg;

    c->done++;
    if (r->status == RC_OK && r->frame.h.type == PEER_T_PUT_ACK) {
        c->ok++;
    }
}

static void *
conc_main(void *arg)
{
    struct conc *c = arg;
    struct peer_completions *q;
    struct buf b;
    char key[32];
    int sent = 0;

    buf_init(&b);
    if (peer_completions_create(NULL, NULL, &q) != RC_OK) {
        return NULL;
    }
    for (int i = 0; i < CONC_REQUESTS; i++) {
        size_t to = c->idx[i % 2];

        snprintf(key, sizeof(key), "k%d", i);
        build_put(&b, key);
        if (peer_net_request(c->cl->nodes[0].net, to, b.data, b.len, 3000, conc_done, c, q) ==
            RC_OK) {
            sent++;
        }
        if (i % 16 == 0) {
            peer_completions_drain(q);
        }
    }
    (void)WAIT_FOR((peer_completions_drain(q), c->done == sent), 2 * WAIT_MS);
    peer_completions_destroy(q);
    buf_deinit(&b);
    return NULL;
}

static void
test_concurrent(void **state)
{
    struct cluster cl;
    struct conc cs[CONC_THREADS];
    pthread_t th[CONC_THREADS];
    int total = 0;

    (void)state;
    cluster_init(&cl, 3, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    for (int i = 0; i < CONC_THREADS; i++) {
        memset(&cs[i], 0, sizeof(cs[i]));
        cs[i].cl = &cl;
        cs[i].idx[0] = pidx(&cl, 0, 1);
        cs[i].idx[1] = pidx(&cl, 0, 2);
        assert_int_equal(pthread_create(&th[i], NULL, conc_main, &cs[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(cs[i].done, CONC_REQUESTS);
        assert_int_equal(cs[i].ok, CONC_REQUESTS);
        total += cs[i].ok;
    }
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].puts) +
                         node_count(&cl.nodes[2], &cl.nodes[2].puts),
                     total);
    assert_int_equal(pstats(&cl, 0, 1).queued, 0);
    cluster_deinit(&cl);
}

/* Configuration errors are refused before anything runs. */
static void
test_config(void **state)
{
    struct peer_net_peer_config peers[1] = {{"b", "127.0.0.1:1"}};
    struct peer_net_config cfg;
    struct peer_net *net = NULL;
    struct peer_completions *q;
    struct result res;
    struct buf b;
    uint8_t d[PEER_RING_HASH_SIZE];

    (void)state;
    buf_init(&b);
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = "a";
    cfg.node_id[0] = 1;
    cfg.partitions = 8;
    cfg.replicas = 1;
    cfg.secret = SECRET;
    cfg.nsecret = strlen(SECRET);
    cfg.peers = peers;
    cfg.npeers = 1;
    cfg.listen = "127.0.0.1:0";
    assert_int_equal(peer_net_create(&cfg, &net), RC_OK);
    assert_true(peer_net_port(net) > 0);
    /* Never started: a queued request completes at destroy with ECLOSED. */
    assert_int_equal(peer_completions_create(NULL, NULL, &q), RC_OK);
    build_put(&b, "k");
    memset(&res, 0, sizeof(res));
    assert_int_equal(peer_net_request(net, 0, b.data, b.len, 0, on_done, &res, q), RC_OK);
    peer_net_destroy(net);
    assert_int_equal(peer_completions_drain(q), 1);
    assert_int_equal(res.status, RC_ECLOSED);
    peer_completions_destroy(q);

    cfg.name = "bad name";
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);
    assert_null(net);
    cfg.name = "a";
    cfg.nsecret = 8;
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);
    cfg.nsecret = strlen(SECRET);
    cfg.partitions = 3;
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);
    cfg.partitions = 8;
    peers[0].name = "a"; /* itself */
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);
    peers[0].name = "b";
    peers[0].addr = "127.0.0.1";
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);
    peers[0].addr = "127.0.0.1:1";
    cfg.max_body = 100;
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);

    peer_net_ring_digest(0x0102030405060708ULL, d);
    assert_int_equal(d[0], 1);
    assert_int_equal(d[7], 8);
    for (size_t i = 8; i < sizeof(d); i++) {
        assert_int_equal(d[i], 0);
    }
    buf_deinit(&b);
}

/* ------------------------------------------------------------ attached nets
 *
 * An attached net runs on an event_base the test creates and runs on its own
 * thread, as a server worker runs its base: the completion queue's notify
 * makes an event of that base active and the event drains the queue, so the
 * callbacks run on the test thread, from the loop. It takes node a's name and
 * node id, as a worker's net takes its node's, and dials one peer (node b of
 * a cluster, or a port nobody listens on).
 */

struct attached {
    struct event_base *base;    /* owned */
    struct event *wake;         /* owned: drains q */
    struct peer_completions *q; /* owned */
    struct peer_net *net;       /* owned */
    pthread_t owner;            /* the thread that runs base */
    int notifies;               /* q's notify calls */
    size_t drained;             /* callbacks run by the wake event */
    bool stopped;               /* by at_stop_cb */
};

static void
at_notify(void *arg)
{
    struct attached *at = arg;

    assert_true(pthread_equal(pthread_self(), at->owner));
    at->notifies++;
    event_active(at->wake, EV_READ, 0);
}

static void
at_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct attached *at = arg;

    (void)fd;
    (void)what;
    at->drained += peer_completions_drain(at->q);
}

/* peer_net_stop from inside the owner's loop. */
static void
at_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct attached *at = arg;

    (void)fd;
    (void)what;
    peer_net_stop(at->net);
    at->stopped = true;
}

/* Run base for ms (under a second). */
static void
run_for(struct event_base *base, unsigned ms)
{
    struct timeval tv = {0, (long)ms * 1000};

    assert_int_equal(event_base_loopexit(base, &tv), 0);
    assert_int_not_equal(event_base_loop(base, 0), -1);
}

/* Run base in 2 ms slices until cond holds, for at most ms; true when it held. */
#define RUN_UNTIL(base, cond, ms)                            \
    ({                                                       \
        uint64_t until_ = util_mono_ms() + (ms);             \
        bool ok_;                                            \
        while (!(ok_ = (cond)) && util_mono_ms() < until_) { \
            run_for((base), 2);                              \
        }                                                    \
        ok_;                                                 \
    })

/* Node a's configuration, attached to base, without a listener. */
static void
attached_config(struct peer_net_config *cfg, struct event_base *base,
                const struct peer_net_peer_config *peers, size_t npeers)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->name = "a";
    cfg->node_id[0] = 1;
    cfg->node_id[15] = 0x5a;
    peer_net_ring_digest(RING, cfg->ring_hash);
    cfg->partitions = 1024;
    cfg->replicas = 3;
    cfg->secret = SECRET;
    cfg->nsecret = strlen(SECRET);
    cfg->peers = peers;
    cfg->npeers = npeers;
    cfg->timeout_ms = 500;
    cfg->ping_interval_ms = 50;
    cfg->backoff_min_ms = 20;
    cfg->backoff_max_ms = 200;
    cfg->base = base;
}

/* A new base, its wake event and queue, and a net attached to it dialling
 * `peer` at 127.0.0.1:port with `connections` sockets; not started. */
static void
attached_init(struct attached *at, const char *peer, int port, unsigned connections)
{
    struct peer_net_peer_config pc;
    struct peer_net_config cfg;
    char addr[32];

    memset(at, 0, sizeof(*at));
    at->owner = pthread_self();
    at->base = event_base_new();
    assert_non_null(at->base);
    at->wake = event_new(at->base, -1, EV_PERSIST, at_wake_cb, at);
    assert_non_null(at->wake);
    assert_int_equal(peer_completions_create(at_notify, at, &at->q), RC_OK);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    pc.name = peer;
    pc.addr = addr;
    attached_config(&cfg, at->base, &pc, 1);
    cfg.connections = connections;
    assert_int_equal(peer_net_create(&cfg, &at->net), RC_OK);
    assert_int_equal(peer_net_port(at->net), 0);
}

static void
at_fired_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Destroy the net (when still there), then show that the base outlived it:
 * a timer of its own still runs on it; free the rest. */
static void
attached_deinit(struct attached *at)
{
    struct timeval tv = {0, 1000};
    struct event *ev;
    bool fired = false;

    peer_net_destroy(at->net);
    at->net = NULL;
    event_free(at->wake); /* before the queue it drains */
    peer_completions_destroy(at->q);
    ev = evtimer_new(at->base, at_fired_cb, &fired);
    assert_non_null(ev);
    assert_int_equal(evtimer_add(ev, &tv), 0);
    assert_true(RUN_UNTIL(at->base, fired, WAIT_MS));
    event_free(ev);
    event_base_free(at->base);
}

static struct peer_net_peer_stats
at_stats(struct attached *at)
{
    struct peer_net_peer_stats s;

    assert_int_equal(peer_net_peer_stats(at->net, 0, &s), RC_OK);
    return s;
}

/* Send a frame on the attached net to its peer and run the base until the
 * wake event has run its callback: never inside peer_net_request. */
static void
at_call(struct attached *at, struct buf *frame, unsigned timeout_ms, struct result *res)
{
    size_t drained = at->drained;

    memset(res, 0, sizeof(*res));
    assert_int_equal(
        peer_net_request(at->net, 0, frame->data, frame->len, timeout_ms, on_done, res, at->q),
        RC_OK);
    assert_false(res->done);
    assert_true(RUN_UNTIL(at->base, res->done, WAIT_MS));
    assert_true(at->drained > drained);
    assert_true(pthread_equal(res->thread, pthread_self()));
}

static bool
all_done(const struct result *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!res[i].done) {
            return false;
        }
    }
    return true;
}

/* Answer the last FORWARD node n deferred: an empty value. */
static void
node_answer_forward(struct node *n, struct buf *b)
{
    struct peer_forward_reply m;
    struct peer_ticket t;

    pthread_mutex_lock(&n->lock);
    t = n->ticket;
    pthread_mutex_unlock(&n->lock);
    memset(&m, 0, sizeof(m));
    m.status = PEER_OK;
    m.ttl = -1;
    buf_reset(b);
    assert_int_equal(peer_forward_reply_encode(1, 1, &m, b), RC_OK);
    assert_int_equal(peer_net_reply(n->net, &t, b->data, b->len), RC_OK);
}

/* An attached net refuses a listener, peer_net_reply and a request without a
 * queue; a request before start fails through the queue; stopped before its
 * base ran, it never dials; destroyed, it leaves the base to its owner. */
static void
test_attached_config(void **state)
{
    struct peer_net_peer_config peers[1] = {{"b", "127.0.0.1:1"}};
    struct peer_ticket t = {1, 1, PEER_T_PUT};
    struct peer_put_ack ack = {PEER_PUT_STORED, 0, 1, 1, 42};
    struct peer_net_config cfg;
    struct peer_net *net = NULL;
    struct peer_net_peer_stats s;
    struct attached at;
    struct result res;
    struct buf b, rb;

    (void)state;
    buf_init(&b);
    buf_init(&rb);
    attached_init(&at, "b", 1, 2);

    /* A base and a listener: refused. */
    attached_config(&cfg, at.base, peers, 1);
    cfg.listen = "127.0.0.1:0";
    assert_int_equal(peer_net_create(&cfg, &net), RC_EINVAL);
    assert_null(net);

    /* A valid deferred reply: a threaded net takes it, an attached one not. */
    assert_int_equal(peer_put_ack_encode(1, 1, &ack, &rb), RC_OK);
    attached_config(&cfg, NULL, peers, 1);
    assert_int_equal(peer_net_create(&cfg, &net), RC_OK);
    assert_int_equal(peer_net_reply(net, &t, rb.data, rb.len), RC_OK);
    peer_net_destroy(net);
    assert_int_equal(peer_net_reply(at.net, &t, rb.data, rb.len), RC_EINVAL);

    /* No queue: refused, no callback. */
    build_put(&b, "k");
    memset(&res, 0, sizeof(res));
    assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 0, on_done, &res, NULL), RC_EINVAL);
    assert_int_equal(at.notifies, 0);

    /* Before start the peer is down: taken, failed through the queue. */
    assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 0, on_done, &res, at.q), RC_OK);
    assert_false(res.done);
    assert_int_equal(at.notifies, 1);
    assert_int_not_equal(event_base_loop(at.base, EVLOOP_NONBLOCK), -1);
    assert_true(res.done);
    assert_int_equal(at.drained, 1);
    assert_int_equal(res.status, RC_ECLOSED);
    assert_string_equal(res.why, "peer down");
    assert_true(pthread_equal(res.thread, pthread_self()));

    /* Started and stopped before the base ran: nothing dials. */
    assert_int_equal(peer_net_start(at.net), RC_OK);
    assert_int_equal(peer_net_start(at.net), RC_EINVAL);
    peer_net_stop(at.net);
    run_for(at.base, 50);
    s = at_stats(&at);
    assert_int_equal(s.state, PEER_STATE_DOWN);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.reconnects, 0);
    assert_int_equal(s.requests_sent, 0);
    memset(&res, 0, sizeof(res));
    assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 0, on_done, &res, at.q),
                     RC_ECLOSED);
    run_for(at.base, 5);
    assert_false(res.done);
    peer_net_stop(at.net); /* idempotent */
    attached_deinit(&at);
    buf_deinit(&rb);
    buf_deinit(&b);
}

/* An attached net with a pool of two dials b once its base runs; pipelined
 * PUTs and GETs, an ERROR reply and a frame over b's limit all complete
 * through the queue, on this thread; counters; a stop from this thread. */
#define AT_PIPELINE 8

static void
test_attached_basic(void **state)
{
    struct cluster cl;
    struct attached at;
    struct result res[AT_PIPELINE], one;
    struct peer_net_peer_stats s;
    struct peer_net_totals tt;
    struct timeval tv0 = {0, 0};
    struct event *stop_ev;
    struct peer_put_ack ack;
    struct peer_get_reply gr;
    struct peer_frame f;
    struct buf b;
    char key[16];

    (void)state;
    buf_init(&b);
    cluster_init(&cl, 2, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    assert_true(WAIT_FOR(pstats(&cl, 1, 0).conns_in == 2, WAIT_MS));
    attached_init(&at, "b", cl.nodes[1].port, 2);
    assert_int_equal(peer_net_start(at.net), RC_OK);
    assert_int_equal(peer_net_start(at.net), RC_EINVAL);
    /* Nothing dials until the base runs. */
    sleep_ms(50);
    assert_false(peer_net_healthy(at.net, 0));
    assert_int_equal(pstats(&cl, 1, 0).conns_in, 2);
    assert_true(RUN_UNTIL(at.base, peer_net_healthy(at.net, 0), WAIT_MS));
    assert_true(RUN_UNTIL(at.base, at_stats(&at).conns_out == 2, WAIT_MS));
    assert_true(RUN_UNTIL(at.base, pstats(&cl, 1, 0).conns_in == 4, WAIT_MS));

    /* Pipelined: every request written before any reply is read. */
    for (size_t i = 0; i < AT_PIPELINE; i++) {
        snprintf(key, sizeof(key), "p%zu", i);
        if (i % 2 == 0) {
            build_put(&b, key);
        } else {
            build_get(&b, key);
        }
        memset(&res[i], 0, sizeof(res[i]));
        assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 2000, on_done, &res[i], at.q),
                         RC_OK);
    }
    assert_int_equal(at.notifies, 0);
    assert_false(res[0].done);
    assert_true(RUN_UNTIL(at.base, all_done(res, AT_PIPELINE), WAIT_MS));
    assert_int_equal(at.drained, AT_PIPELINE);
    for (size_t i = 0; i < AT_PIPELINE; i++) {
        assert_int_equal(res[i].status, RC_OK);
        assert_true(pthread_equal(res[i].thread, pthread_self()));
        f = res_frame(&res[i]);
        if (i % 2 == 0) {
            assert_int_equal(res[i].h.type, PEER_T_PUT_ACK);
            assert_int_equal(peer_put_ack_decode(&f, &ack, NULL), RC_OK);
            assert_int_equal(ack.cas, 42);
        } else {
            assert_int_equal(res[i].h.type, PEER_T_GET_REPLY);
            assert_int_equal(peer_get_reply_decode(&f, &gr, NULL), RC_OK);
            assert_int_equal(gr.result, PEER_GET_NOT_FOUND);
        }
    }
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].puts), AT_PIPELINE / 2);
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].gets), AT_PIPELINE / 2);
    pthread_mutex_lock(&cl.nodes[1].lock);
    assert_string_equal(cl.nodes[1].last_from, "a");
    pthread_mutex_unlock(&cl.nodes[1].lock);

    /* An ERROR reply, and a frame over b's limit: through the queue too. */
    build_get(&b, "notmine");
    at_call(&at, &b, 0, &one);
    assert_int_equal(one.h.type, PEER_T_ERROR);
    assert_int_equal(one.code, PEER_NOT_REPLICA);
    assert_int_not_equal(one.status, RC_OK);
    build_put_sized(&b, "big", PEER_MAX_BODY_MIN + 100);
    at_call(&at, &b, 0, &one);
    assert_int_equal(one.status, RC_ETOOLARGE);

    assert_true(RUN_UNTIL(at.base, at_stats(&at).rtt_us > 0, WAIT_MS));
    s = at_stats(&at);
    assert_string_equal(s.name, "b");
    assert_int_equal(s.state, PEER_STATE_UP);
    assert_int_equal(s.conns_out, 2);
    assert_int_equal(s.conns_in, 0);
    assert_true(s.requests_sent >= AT_PIPELINE + 1);
    assert_true(s.replies >= AT_PIPELINE + 1);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.timeouts, 0);
    assert_int_equal(s.auth_failures, 0);
    peer_net_totals(at.net, &tt);
    assert_true(tt.requests_sent >= AT_PIPELINE + 1);
    assert_int_equal(tt.accepted, 0);
    assert_int_equal(tt.requests_received, 0);
    assert_true(totals(&cl, 1).requests_received >= AT_PIPELINE + 1);

    /* Stopped from a callback of the running base: down at once, takes
     * nothing more, and the owner's loop goes on (no loopbreak); b sees its
     * connections go as the base runs. */
    stop_ev = evtimer_new(at.base, at_stop_cb, &at);
    assert_non_null(stop_ev);
    assert_int_equal(evtimer_add(stop_ev, &tv0), 0);
    run_for(at.base, 20);
    assert_false(event_base_got_break(at.base));
    assert_true(at.stopped);
    event_free(stop_ev);
    assert_false(peer_net_healthy(at.net, 0));
    assert_int_equal(at_stats(&at).conns_out, 0);
    memset(&one, 0, sizeof(one));
    assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 0, on_done, &one, at.q),
                     RC_ECLOSED);
    assert_true(RUN_UNTIL(at.base, pstats(&cl, 1, 0).conns_in == 2, WAIT_MS));
    assert_false(one.done);
    assert_true(healthy(&cl, 0, 1));
    attached_deinit(&at);
    cluster_deinit(&cl);
    buf_deinit(&b);
}

/* A peer nobody listens on: requests are taken and fail with RC_ECLOSED when
 * the queue is drained, never inside peer_net_request, before start as after. */
static void
test_attached_down(void **state)
{
    struct attached at;
    struct result res;
    struct peer_net_peer_stats s;
    struct buf b;
    int held, port;

    (void)state;
    buf_init(&b);
    port = reserve_port(&held); /* bound, never listening: refused */
    attached_init(&at, "b", port, 1);
    build_put(&b, "k");

    memset(&res, 0, sizeof(res));
    assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 0, on_done, &res, at.q), RC_OK);
    assert_false(res.done);
    assert_int_equal(at.notifies, 1);
    assert_int_equal(peer_completions_drain(at.q), 1);
    assert_true(res.done);
    assert_int_equal(res.status, RC_ECLOSED);
    assert_string_equal(res.why, "peer down");
    assert_true(pthread_equal(res.thread, pthread_self()));

    /* Started: every dial refused, retried with the backoff, still down. */
    assert_int_equal(peer_net_start(at.net), RC_OK);
    assert_true(RUN_UNTIL(at.base, at_stats(&at).reconnects >= 2, WAIT_MS));
    s = at_stats(&at);
    assert_int_equal(s.state, PEER_STATE_DOWN);
    assert_true(s.errors >= 2);
    assert_int_equal(s.conns_out, 0);
    at_call(&at, &b, 0, &res);
    assert_int_equal(res.status, RC_ECLOSED);
    assert_string_equal(res.why, "peer down");
    s = at_stats(&at);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.timeouts, 0);
    attached_deinit(&at);
    close(held);
    buf_deinit(&b);
}

/* b defers every FORWARD and never answers: up to its max in flight they are
 * in flight on the one connection, the rest wait for room. A stop from this
 * thread, with the base idle, fails each of them once, with RC_ECLOSED, when
 * the queue is drained; the base outlives the net. */
#define AT_STUCK (PEER_NET_DEFAULT_INFLIGHT + 3)

static void
test_attached_stop_inflight(void **state)
{
    struct cluster cl;
    struct attached at;
    struct result *res;
    struct buf b;
    int notifies;

    (void)state;
    buf_init(&b);
    res = calloc(AT_STUCK, sizeof(*res));
    assert_non_null(res);
    cluster_init(&cl, 2, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    assert_true(WAIT_FOR(pstats(&cl, 1, 0).conns_in == 2, WAIT_MS));
    attached_init(&at, "b", cl.nodes[1].port, 1);
    assert_int_equal(peer_net_start(at.net), RC_OK);
    assert_true(RUN_UNTIL(at.base, at_stats(&at).conns_out == 1, WAIT_MS));

    build_forward(&b, "never");
    for (size_t i = 0; i < AT_STUCK; i++) {
        assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 10000, on_done, &res[i], at.q),
                         RC_OK);
    }
    assert_true(RUN_UNTIL(
        at.base, node_count(&cl.nodes[1], &cl.nodes[1].forwards) == PEER_NET_DEFAULT_INFLIGHT,
        WAIT_MS));
    run_for(at.base, 20);
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].forwards), PEER_NET_DEFAULT_INFLIGHT);
    assert_int_equal(at_stats(&at).queued, AT_STUCK);
    assert_int_equal(at.drained, 0);

    notifies = at.notifies;
    peer_net_stop(at.net);
    assert_false(peer_net_healthy(at.net, 0));
    assert_int_equal(at_stats(&at).queued, 0);
    assert_int_equal(at_stats(&at).conns_out, 0);
    assert_true(at.notifies > notifies);
    for (size_t i = 0; i < AT_STUCK; i++) {
        assert_false(res[i].done);
    }
    assert_int_equal(peer_completions_drain(at.q), AT_STUCK);
    for (size_t i = 0; i < AT_STUCK; i++) {
        assert_true(res[i].done);
        assert_int_equal(res[i].status, RC_ECLOSED);
        assert_string_equal(res[i].why, "stopping");
        assert_true(pthread_equal(res[i].thread, pthread_self()));
    }
    assert_int_equal(peer_completions_drain(at.q), 0);
    assert_int_not_equal(event_base_loop(at.base, EVLOOP_NONBLOCK), -1);
    assert_int_equal(at.drained, 0);
    peer_net_stop(at.net);
    peer_net_destroy(at.net);
    at.net = NULL;
    assert_int_not_equal(event_base_loop(at.base, EVLOOP_NONBLOCK), -1);
    /* The socket closed as the base ran. b stopped reading that connection
     * at its max in flight, so it sees the close once it answers one. */
    node_answer_forward(&cl.nodes[1], &b);
    assert_true(RUN_UNTIL(at.base, pstats(&cl, 1, 0).conns_in == 2, WAIT_MS));
    attached_deinit(&at);
    cluster_deinit(&cl);
    free(res);
    buf_deinit(&b);
}

/* A FORWARD b never answers, with a 100 ms deadline: RC_EAGAIN while this
 * thread runs the base; b's answer after it is a late reply; b is up again. */
static void
test_attached_timeout(void **state)
{
    struct cluster cl;
    struct attached at;
    struct result res;
    struct buf b;
    uint64_t t0;

    (void)state;
    buf_init(&b);
    cluster_init(&cl, 2, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    attached_init(&at, "b", cl.nodes[1].port, 1);
    assert_int_equal(peer_net_start(at.net), RC_OK);
    assert_true(RUN_UNTIL(at.base, peer_net_healthy(at.net, 0), WAIT_MS));

    build_forward(&b, "late");
    t0 = util_mono_ms();
    at_call(&at, &b, 100, &res);
    assert_true(util_mono_ms() - t0 >= 90);
    assert_int_equal(res.status, RC_EAGAIN);
    assert_string_equal(res.why, "timeout");
    assert_true(at_stats(&at).timeouts >= 1);
    assert_true(WAIT_FOR(node_have_ticket(&cl.nodes[1]), WAIT_MS));
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].forwards), 1);

    /* b answers now: counted as late, dropped (on_done would fail twice). */
    node_answer_forward(&cl.nodes[1], &b);
    assert_true(RUN_UNTIL(at.base, at_stats(&at).late_replies == 1, WAIT_MS));

    assert_true(RUN_UNTIL(at.base, peer_net_healthy(at.net, 0), WAIT_MS));
    build_put(&b, "after");
    at_call(&at, &b, 0, &res);
    assert_int_equal(res.status, RC_OK);
    attached_deinit(&at);
    cluster_deinit(&cl);
    buf_deinit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_stop_restart),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_ring_mismatch),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_stuck_peer),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_attached_config),
        cmocka_unit_test(test_attached_basic),
        cmocka_unit_test(test_attached_down),
        cmocka_unit_test(test_attached_stop_inflight),
        cmocka_unit_test(test_attached_timeout),
    };

    if (getenv("PEER_NET_VERBOSE") != NULL) {
        log_set_verbosity(3);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
