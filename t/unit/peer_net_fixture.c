/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_net_fixture.c - the peer transport tests' shared fixture: a cluster
 * of threaded nets on loopback, its handlers, and request helpers. See
 * peer_net_fixture.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/status.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"
#include "peer_net_fixture.h"

void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ a node */

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

int
node_count(struct node *n, int *field)
{
    int v;

    pthread_mutex_lock(&n->lock);
    v = *field;
    pthread_mutex_unlock(&n->lock);
    return v;
}

bool
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
int
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

/* Create node i of c (not started), its peers being every other node. */
void
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

void
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

void
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
size_t
pidx(struct cluster *cl, size_t from, size_t to)
{
    size_t idx = 99;

    assert_int_equal(peer_net_peer_index(cl->nodes[from].net, cl->nodes[to].name, &idx), RC_OK);
    return idx;
}

bool
healthy(struct cluster *cl, size_t from, size_t to)
{
    return peer_net_healthy(cl->nodes[from].net, pidx(cl, from, to));
}

bool
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

struct peer_net_peer_stats
pstats(struct cluster *cl, size_t from, size_t to)
{
    struct peer_net_peer_stats s;

    assert_int_equal(peer_net_peer_stats(cl->nodes[from].net, pidx(cl, from, to), &s), RC_OK);
    return s;
}

struct peer_net_totals
totals(struct cluster *cl, size_t i)
{
    struct peer_net_totals t;

    peer_net_totals(cl->nodes[i].net, &t);
    return t;
}

/* ------------------------------------------------------------ requests */

void
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

struct peer_frame
res_frame(const struct result *res)
{
    struct peer_frame f;

    f.h = res->h;
    f.body = res->body;
    return f;
}

/* A PUT of key with an nrecord-byte record (the leading bytes a record
 * header starts with, then zeros). */
void
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

void
build_put(struct buf *b, const char *key)
{
    build_put_sized(b, key, 120);
}

void
build_get(struct buf *b, const char *key)
{
    struct peer_get m;

    m.partition = 7;
    m.key = key;
    m.nkey = strlen(key);
    buf_reset(b);
    assert_int_equal(peer_get_encode(1, 1, &m, b), RC_OK);
}

void
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
