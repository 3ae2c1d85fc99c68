/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_peer_net.c - the peer transport over real loopback sockets: two or
 * three peer_net instances in one process (each with its own thread) connect,
 * authenticate, ping, serve requests through their handler tables, time
 * out, fail in-flight requests when a peer stops, reconnect when it comes
 * back, and refuse wrong secrets, mismatched rings and garbage. The cluster
 * fixture is peer_net_fixture.c; attached nets are test_peer_net_attached.c.
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
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"
#include "peer_net_fixture.h"

#define OTHER_SECRET "fedcba9876543210fedcba9876543210"

static int
node_calls(struct node *n)
{
    return node_count(n, &n->puts) + node_count(n, &n->gets) + node_count(n, &n->forwards) +
           node_count(n, &n->flushes);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),       cmocka_unit_test(test_basic),
        cmocka_unit_test(test_timeout),      cmocka_unit_test(test_stop_restart),
        cmocka_unit_test(test_wrong_secret), cmocka_unit_test(test_ring_mismatch),
        cmocka_unit_test(test_garbage),      cmocka_unit_test(test_stuck_peer),
        cmocka_unit_test(test_concurrent),
    };

    if (getenv("PEER_NET_VERBOSE") != NULL) {
        log_set_verbosity(3);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
