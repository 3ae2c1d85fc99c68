/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server.h - listeners, worker threads and the state they share (internal to
 * src/server: conn.c and admin.c use it, nothing below the server does).
 *
 *   main thread: event base with the listeners and signal events
 *        | accept -> max-connection check -> round-robin pick
 *        v  fd pushed on worker->queue, worker->notify_ev activated
 *   worker thread (one event base each, -t of them): adopts the fd as a
 *        struct conn that never changes thread; the store's sync thread
 *        activates worker->sync_ev when writes become durable.
 *
 * Ownership: struct server owns the workers, listeners and the main base;
 * it borrows the config, coordinator and store (main.c owns those). Each
 * worker owns its conns (intrusive list), its coord_thread and its stats.
 * Only worker->queue (under queue_lock) and the atomics cross threads.
 */
#ifndef RC_SERVER_SERVER_H
#define RC_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "coord/coord.h"
#include "server/daemon_config.h"
#include "server/stats.h"
#include "store/store.h"

/* What `version` and `stats` report: the memcached release whose protocol
 * ringcached speaks, then ringcached's own version. */
#define RC_PROTOCOL_VERSION "1.6.18"
#define RC_VERSION_STRING   RC_PROTOCOL_VERSION "-ringcached-" PACKAGE_VERSION

struct event_base;
struct event;
struct evconnlistener;
struct conn;
struct server;
struct ring;

struct cs_link;
struct cluster_srv;

struct worker {
    struct server *srv; /* borrowed */
    int id;
    pthread_t thread;
    struct event_base *base;    /* owned */
    struct event *notify_ev;    /* owned: new connections, stop request */
    struct event *sync_ev;      /* owned: durability progress */
    struct event *tick_ev;      /* owned: 1 s timer (idle timeout, stop deadline) */
    struct event *flush_ev;     /* owned: lowest priority, so it runs after every
                                 * I/O callback of a loop pass: writes the log
                                 * once for the pass's commits (--sync=batch) */
    pthread_mutex_t queue_lock; /* guards queue, qlen, qcap */
    int *queue;                 /* owned: accepted fds to adopt */
    size_t qlen, qcap;
    struct coord_thread *ct;   /* owned */
    struct coord_cluster *cl;  /* owned; NULL on a single node */
    struct cs_link *cl_link;   /* owned by cluster_srv: cl's transport */
    struct thread_stats stats; /* written only by this worker */
    struct conn *conns;        /* owned: intrusive list */
    size_t nconns;
    bool stopping; /* worker-thread only */
    uint64_t stop_deadline_ms;
};

struct server {
    const struct config *cfg;          /* borrowed */
    struct coord *co;                  /* borrowed */
    struct store *st;                  /* borrowed */
    struct event_base *base;           /* owned: main thread */
    struct evconnlistener **listeners; /* owned */
    size_t nlisteners;
    struct event *sig_ev[2]; /* owned: SIGTERM, SIGINT */
    struct worker *workers;  /* owned, cfg->threads of them */
    int nworkers;
    unsigned next_worker;        /* main thread only */
    struct stats_prefix *prefix; /* owned */
    struct auth *auth;           /* owned; NULL without -Y */
    struct event *hup_ev;        /* owned: SIGHUP re-reads the -Y file */
    struct cluster_srv *cluster; /* owned; NULL on a single node */
    struct ring *ring;           /* owned, immutable: this node and its --peers
                                  * (alone: a ring of one); read by any thread */
    _Atomic int curr_conns;
    _Atomic uint64_t total_conns, rejected_conns, conn_structures;
    _Atomic uint64_t total_conns_base, rejected_conns_base; /* at `stats reset` */
    _Atomic uint64_t total_items_base, reclaimed_base;      /* at `stats reset` */
    _Atomic bool stopping;
    int64_t started; /* Unix seconds at start */
    int tcp_port;    /* first bound TCP port (for -p 0) */
};

/* A connection of w holds a reply behind a ticket that the writer must
 * resolve itself (store_sync_inline): schedule the end-of-pass log write. */
void worker_request_flush(struct worker *w);

/* Clustering is not wired in yet: RC_OK when cfg runs as a single node,
 * RC_EDISABLED (with the message in err) when it asks for peers. The one
 * place that refuses --peers; main() calls it once the options are valid. */
/* The ring cfg describes: Q partitions, N replicas, this node's --name and
 * the --peers names. RC_OK or ring_create's error. */
int server_build_ring(const struct config *cfg, struct ring **out);

int server_create(const struct config *cfg, struct coord *co, struct server **out);
/* Run until SIGTERM/SIGINT or `shutdown`; then stop accepting, let workers
 * finish what is in flight (bounded), and return. */
int server_run(struct server *srv);
void server_destroy(struct server *srv); /* NULL ok */
/* Ask the server to stop (any thread). */
void server_request_stop(struct server *srv);

/* admin.c: the replies to stats, version, verbosity and shutdown. */
struct buf;
struct request;
int admin_handle(struct worker *w, const struct request *req, struct buf *out, bool *close_conn);
/* The ring admin command: args is what follows "ring" (blanks around it are
 * skipped; empty for the ring itself, else one key). Text lines ending with END (see admin.c);
 * `stats ring [<key>]` reaches it today, a top-level `ring` once the text
 * codec parses it. */
int admin_ring(struct worker *w, const struct request *req, const char *args, size_t nargs,
               struct buf *out);

#endif
