/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_peer_net_attached.c - attached peer nets over real loopback sockets:
 * a net with no thread of its own runs on an event_base the test runs
 * itself, as a server worker's net does, and dials the threaded nets of the
 * cluster fixture (peer_net_fixture.c). It refuses what an attached net
 * cannot do, dials once its base runs, pipelines requests, fails them
 * through its completion queue when the peer is down, stopped or late, and
 * leaves the base to its owner when destroyed.
 *
 * Every wait is bounded (WAIT_MS); every net is stopped and destroyed, so
 * every thread is joined, before a test returns.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"
#include "peer_net_fixture.h"

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

/* peer_net_attach: a net on this base with node a's identity and peers as
 * a's running net resolved them; then a burst of 128 PUTs of 60 KB written
 * in one go, far more than a loopback socket takes at once, so the stage
 * sent at the end of the pass leaves its remainder to the bufferevent: every
 * PUT arrives whole and in order. */
#define AT_BURST 128

static void
test_attached_from_parent(void **state)
{
    struct cluster cl;
    struct attached at;
    struct result *res = calloc(AT_BURST, sizeof(*res));
    struct peer_net *net = NULL;
    struct buf b;
    char key[32];
    int before;

    (void)state;
    assert_non_null(res);
    buf_init(&b);
    cluster_init(&cl, 2, NULL, NULL);
    assert_true(WAIT_FOR(all_healthy(&cl), WAIT_MS));
    memset(&at, 0, sizeof(at));
    at.owner = pthread_self();
    at.base = event_base_new();
    assert_non_null(at.base);
    at.wake = event_new(at.base, -1, EV_PERSIST, at_wake_cb, &at);
    assert_non_null(at.wake);
    assert_int_equal(peer_completions_create(at_notify, &at, &at.q), RC_OK);

    assert_int_equal(peer_net_attach(cl.nodes[0].net, NULL, 1, &net), RC_EINVAL);
    assert_null(net);
    assert_int_equal(peer_net_attach(cl.nodes[0].net, at.base, 1, &at.net), RC_OK);
    assert_int_equal(peer_net_port(at.net), 0);
    assert_int_equal(peer_net_peers(at.net), 1);
    assert_int_equal(peer_net_start(at.net), RC_OK);
    assert_true(RUN_UNTIL(at.base, peer_net_healthy(at.net, 0), WAIT_MS));
    assert_int_equal(at_stats(&at).conns_out, 1);
    build_put(&b, "from-a");
    at_call(&at, &b, 0, &res[0]);
    assert_int_equal(res[0].status, RC_OK);
    pthread_mutex_lock(&cl.nodes[1].lock);
    assert_string_equal(cl.nodes[1].last_from, "a");
    pthread_mutex_unlock(&cl.nodes[1].lock);

    before = node_count(&cl.nodes[1], &cl.nodes[1].puts);
    memset(res, 0, AT_BURST * sizeof(*res));
    for (int i = 0; i < AT_BURST; i++) {
        snprintf(key, sizeof(key), "burst-%d", i);
        build_put_sized(&b, key, 60000);
        assert_int_equal(peer_net_request(at.net, 0, b.data, b.len, 0, on_done, &res[i], at.q),
                         RC_OK);
    }
    assert_true(RUN_UNTIL(at.base, all_done(res, AT_BURST), WAIT_MS));
    for (int i = 0; i < AT_BURST; i++) {
        assert_int_equal(res[i].status, RC_OK);
        assert_int_equal(res[i].h.type, PEER_T_PUT_ACK);
    }
    assert_int_equal(node_count(&cl.nodes[1], &cl.nodes[1].puts), before + AT_BURST);
    pthread_mutex_lock(&cl.nodes[1].lock);
    snprintf(key, sizeof(key), "burst-%d", AT_BURST - 1);
    assert_string_equal(cl.nodes[1].last_key, key);
    assert_int_equal(cl.nodes[1].last_nrecord, 60000);
    pthread_mutex_unlock(&cl.nodes[1].lock);
    assert_int_equal(at_stats(&at).errors, 0);

    attached_deinit(&at);
    cluster_deinit(&cl);
    buf_deinit(&b);
    free(res);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attached_config),  cmocka_unit_test(test_attached_basic),
        cmocka_unit_test(test_attached_down),    cmocka_unit_test(test_attached_stop_inflight),
        cmocka_unit_test(test_attached_timeout), cmocka_unit_test(test_attached_from_parent),
    };

    if (getenv("PEER_NET_VERBOSE") != NULL) {
        log_set_verbosity(3);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
