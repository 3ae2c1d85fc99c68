/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_net_fixture.h - the fixture shared by the peer transport's unit tests
 * (test_peer_net.c, threaded nets; test_peer_net_attached.c, attached nets):
 * a cluster of two or three threaded peer_net instances on loopback ports in
 * one process, each node recording what its handlers saw under its lock; a
 * completion record (struct result) and builders for request frames.
 *
 * Test code only: every helper fails the running cmocka test on an error.
 * Every wait is bounded (WAIT_MS). The test owns a struct cluster and
 * struct result (embedded); cluster_deinit destroys every net, so every
 * net thread is joined before it returns.
 */
#ifndef RC_T_UNIT_PEER_NET_FIXTURE_H
#define RC_T_UNIT_PEER_NET_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"

#define SECRET    "0123456789abcdef0123456789abcdef"
#define RING      0x0123456789abcdefULL
#define WAIT_MS   5000
#define MAX_NODES 3

/* Sleep for ms milliseconds. */
void sleep_ms(unsigned ms);

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

/* One threaded net of a cluster and the record its handlers keep. */
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

/* Read *field (one of n's counters) under n's lock. */
int node_count(struct node *n, int *field);
/* Whether n's forward handler holds a deferred request, under n's lock. */
bool node_have_ticket(struct node *n);
/* A free loopback port, held by *fd (bound, never listening); close *fd once
 * the listener that takes the port is up. */
int reserve_port(int *fd);

/* Two or three nodes, each a peer of every other. */
struct cluster {
    struct node nodes[MAX_NODES];
    size_t n;
};

/* Create node i of cl (not started) with secret and ring, its peers every
 * other node of cl. */
void node_create(struct cluster *cl, size_t i, const char *secret, uint64_t ring);
/* Create and start n nodes named a, b, c; secrets and rings may be NULL
 * (SECRET, RING for all). */
void cluster_init(struct cluster *cl, size_t n, const char *const *secrets, const uint64_t *rings);
/* Destroy every node's net (joining its thread). */
void cluster_deinit(struct cluster *cl);
/* The index, in node from's configuration, of node to. */
size_t pidx(struct cluster *cl, size_t from, size_t to);
/* Whether node from sees node to as up. */
bool healthy(struct cluster *cl, size_t from, size_t to);
/* Whether every node sees every other as up. */
bool all_healthy(struct cluster *cl);
/* Node from's stats of its peer node to. */
struct peer_net_peer_stats pstats(struct cluster *cl, size_t from, size_t to);
/* Node i's totals. */
struct peer_net_totals totals(struct cluster *cl, size_t i);

/* One request's completion, as on_done saw it. */
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

/* A peer_done_fn: records the reply in the struct result at arg (at most
 * once) with the thread it ran on. */
void on_done(void *arg, const struct peer_reply *r);
/* The recorded reply of res as a frame, for a decoder; valid while res is. */
struct peer_frame res_frame(const struct result *res);

/* Encode into b (reset first) a PUT of key with an nrecord-byte record. */
void build_put_sized(struct buf *b, const char *key, size_t nrecord);
/* A PUT of key with a 120-byte record. */
void build_put(struct buf *b, const char *key);
/* A GET of key. */
void build_get(struct buf *b, const char *key);
/* A FORWARD of a GET of key. */
void build_forward(struct buf *b, const char *key);

#endif
