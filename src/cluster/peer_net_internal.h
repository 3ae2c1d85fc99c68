/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_net_internal.h - what the peer transport's three parts share, and
 * nothing outside src/cluster includes: peer_net.c (the thread, requests,
 * ids, deadlines, reconnects, health and the API), peer_conn.c (the
 * connections: their lifecycle, reading and writing frames, driving the
 * handshake, requests to the handlers and replies to the waiting requests)
 * and peer_completions.c (the completion queue of peer_net.h and the hand-off
 * of a finished request to its owner).
 *
 * A struct req is the one record of a request from peer_net_request to its
 * callback. It sits in at most one struct req_list at a time (the net's
 * submit queue, a peer's pending list, a connection's in-flight list or a
 * completion queue); the list helpers below move it between them and take
 * no lock: the caller holds whatever lock guards the list.
 *
 * Everything below except the completion queue belongs to the peer thread,
 * save what peer_net.c's comment says other threads may touch.
 */
#ifndef RC_CLUSTER_PEER_NET_INTERNAL_H
#define RC_CLUSTER_PEER_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/util.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"

struct bufferevent;
struct conn;
struct event;
struct event_base;
struct evconnlistener;

#define CNT(p, field) atomic_fetch_add_explicit(&(p)->field, 1, memory_order_relaxed)

/* A message about a peer that each of this node's nets would write alike
 * (its handshake, a refusal, its shutdown): an attached net, one worker's
 * view, writes it at debug level, since the peer thread's net writes it at
 * `fn`'s. */
#define NET_LOG(net, fn, ...)       \
    do {                            \
        if ((net)->attached) {      \
            log_debug(__VA_ARGS__); \
        } else {                    \
            fn(__VA_ARGS__);        \
        }                           \
    } while (0)

enum req_where { REQ_NOWHERE = 0, REQ_SUBMIT, REQ_PENDING, REQ_INFLIGHT };

struct req {
    struct req *prev, *next;
    struct peer_net *net;
    size_t peer;
    uint8_t type;  /* request type */
    bool internal; /* the net's own PING: no callback */
    bool counted;  /* in the peer's `queued` */
    enum req_where where;
    uint64_t id;       /* on the wire, once sent */
    uint64_t start_us; /* monotonic, at peer_net_request */
    unsigned timeout_ms;
    struct event *timer;  /* owned: the deadline */
    struct conn *conn;    /* in flight on, borrowed */
    unsigned char *frame; /* owned until sent */
    size_t nframe;
    peer_done_fn done;
    void *arg;
    struct peer_completions *q; /* a reference, or NULL */
    struct peer_reply reply;
    unsigned char *rbody; /* owned: the reply's body */
};

struct req_list {
    struct req *head, *tail;
    size_t n;
};

/* ------------------------------------------------------------ connections, peers, the net */

enum conn_state { CONN_CONNECTING = 0, CONN_HANDSHAKE, CONN_READY, CONN_CLOSING, CONN__COUNT };

struct conn {
    struct conn *prev, *next; /* net->conns */
    struct peer_net *net;
    struct bufferevent *bev; /* owned, closes the socket */
    struct event *timer;     /* owned: handshake deadline, then the close */
    uint64_t serial;
    enum peer_role role;
    enum conn_state state;
    bool hs_live;
    bool unauth; /* counted in net->nunauth */
    bool paused; /* reading stopped (responder back-pressure) */
    struct peer_hs hs;
    struct peer_limits lim;
    size_t need; /* bytes the next decode needs */
    long peer;   /* configured peer index, -1 until known */
    int slot;    /* outbound pool slot, -1 when inbound */
    uint8_t version;
    uint32_t peer_max_body;
    uint16_t peer_max_inflight;
    uint64_t last_id;         /* initiator: the highest id sent */
    struct req_list inflight; /* initiator */
    size_t deferred;          /* responder: requests awaiting peer_net_reply */
    /* Frames written in this loop pass, sent together at its end (the
     * net's flush_ev): non-empty only while the bufferevent's output is
     * empty, so the order on the wire is the order written. */
    struct buf stage;
    struct conn *dirty_next; /* in net->dirty while the stage holds bytes */
    bool dirty;
    char addr[PEER_NET_ADDR_MAX];
};

struct slot {
    struct peer *peer;   /* the owner */
    int idx;             /* this slot's index */
    struct conn *conn;   /* borrowed from net->conns; NULL when none */
    struct event *retry; /* owned */
    unsigned backoff_ms;
    bool tried;
};

struct peer {
    struct peer_net *net; /* the owner */
    size_t idx;           /* this peer's index */
    char *name;           /* owned */
    char *addr;           /* owned: as configured */
    struct sockaddr_storage sa;
    socklen_t salen;
    struct slot slots[PEER_NET_MAX_CONNECTIONS];
    struct req_list pending;
    struct event *probe; /* owned */
    unsigned probe_ms;   /* next probe interval while DOWN */
    bool ping_out;       /* a probe or keepalive PING is in flight */
    uint64_t last_ring_log_ms;
    size_t nin; /* authenticated inbound connections */
    atomic_int state;
    _Atomic int64_t last_seen_ms;
    _Atomic uint64_t rtt_us;
    _Atomic uint32_t conns_out, conns_in;
    _Atomic uint64_t queued, sent, replies, received, timeouts, errors, auth_failures,
        ring_mismatches, late_replies, reconnects;
};

struct peer_net {
    char *name;            /* owned */
    unsigned char *secret; /* owned, wiped at destroy */
    struct peer_hs_config hs_cfg;
    unsigned timeout_ms, connections, ping_ms, backoff_min, backoff_max;
    struct peer_handlers handlers;
    struct peer *peers; /* owned, npeers */
    size_t npeers;

    struct event_base *base; /* owned unless attached */
    bool attached;           /* runs on its owner's base: peer_net.h */
    struct evconnlistener *listener;
    int port;
    struct event *submit_ev, *stop_ev, *stop_timer, *start_ev;
    struct event *flush_ev; /* the lowest priority: sends every stage */
    struct conn *dirty;     /* connections whose stage holds bytes */
    pthread_t thread;
    bool started, joined;

    pthread_mutex_t lock;
    struct req_list submit;           /* guarded by lock */
    struct dreply *dr_head, *dr_tail; /* guarded by lock */
    bool closed;                      /* guarded by lock */

    /* peer thread only */
    bool stopping;
    struct conn *conns;
    size_t nunauth;
    uint64_t serial;
    uint64_t rng;
    uint64_t last_auth_log_ms;
    uint64_t last_ring_log_ms; /* mismatches of peers not configured */
    struct buf out;
    struct buf scratch;

    _Atomic uint64_t t_accepted, t_auth_failures, t_ring_mismatches, t_protocol_errors,
        t_late_replies, t_timeouts, t_reconnects, t_sent, t_received, t_refused;
};

/* ------------------------------------------------------------ small helpers */

static inline uint64_t
now_us(void)
{
    return util_mono_ns() / 1000;
}

static inline struct timeval
ms_tv(uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

static inline const char *
conn_peer_name(const struct conn *c)
{
    return c->peer >= 0 ? c->net->peers[c->peer].name : "?";
}

/* ------------------------------------------------------------ request lists */

static inline void
list_push(struct req_list *l, struct req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail != NULL) {
        l->tail->next = r;
    } else {
        l->head = r;
    }
    l->tail = r;
    l->n++;
}

static inline void
list_push_front(struct req_list *l, struct req *r)
{
    r->prev = NULL;
    r->next = l->head;
    if (l->head != NULL) {
        l->head->prev = r;
    } else {
        l->tail = r;
    }
    l->head = r;
    l->n++;
}

static inline void
list_remove(struct req_list *l, struct req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        l->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        l->tail = r->prev;
    }
    r->prev = r->next = NULL;
    l->n--;
}

static inline struct req *
list_pop(struct req_list *l)
{
    struct req *r = l->head;

    if (r != NULL) {
        list_remove(l, r);
    }
    return r;
}

/* ------------------------------------------------------------ peer_net.c */

/* The index of the configured peer called name[0..len), or -1. */
long peer_find_by_name(const struct peer_net *net, const char *name, size_t len);

/* "host:port" (IPv6 as "[host]:port") of sa into out. */
void peer_sockaddr_text(const struct sockaddr *sa, char *out, size_t n);

/* Take r out of wherever it waits (not the submit queue), stop its deadline,
 * set its outcome and deliver it. */
void peer_req_finish(struct req *r, int status, uint16_t code, const char *why);

/* Whether the peer has a READY outbound connection. */
bool peer_has_ready(const struct peer_net *net, size_t idx);

/* Send what waits in the peer's pending list, while there is room. */
void peer_pump(struct peer_net *net, size_t idx);

/* The `why` of a close the peer announced (ERROR SHUTDOWN): compared by
 * address, so a worker's net logs an orderly stop below warning level. */
extern const char peer_why_shutdown[];

/* Mark the peer DOWN (logging why) and start probing it; UP again, and
 * probing at the keepalive interval. */
void peer_down(struct peer_net *net, size_t idx, const char *why);
void peer_up(struct peer_net *net, size_t idx, const char *why);

/* Fail every request in the peer's pending list. */
void peer_fail_pending(struct peer_net *net, size_t idx, int status, const char *why);

/* Reopen an outbound pool slot after its backoff. */
void peer_slot_retry(struct peer_net *net, size_t idx, int s);

/* ------------------------------------------------------------ peer_conn.c */

/* A new connection on fd (-1: to be connected by the caller) in net->conns,
 * reading and writing, its handshake not begun; NULL when out of memory (fd
 * then closed). */
struct conn *peer_conn_new(struct peer_net *net, evutil_socket_t fd, enum peer_role role);

/* Release everything; the connection must be CLOSING, its requests gone. */
void peer_conn_free(struct conn *c);

/* Queue n bytes on the connection: RC_OK or RC_ENOMEM. */
int peer_conn_write(struct conn *c, const void *p, size_t n);

/* The end of a loop pass (net->flush_ev): send every connection's stage. */
void peer_conn_flush_all(struct peer_net *net);

/* Send a connection-level ERROR (id 0). */
void peer_conn_send_error(struct conn *c, uint16_t code, const char *text);

/* End a connection: its requests fail, its slot reopens, the peer may go
 * DOWN; with flush, what is queued is written first. Freed later, from a
 * callback of its own. */
void peer_conn_close(struct conn *c, const char *why, bool flush);

/* Start reading again a connection paused for back-pressure, if it may. */
void peer_conn_resume(struct conn *c);

/* Begin the handshake: CONN_HANDSHAKE, our first frame queued. */
int peer_conn_hs_begin(struct conn *c);

/* ------------------------------------------------------------ peer_completions.c */

/* Take one more reference to q, for a request that will be delivered to it. */
void peer_completions_ref(struct peer_completions *q);

/* Free r and everything it owns (deadline, frame, reply body), dropping its
 * reference to its completion queue. */
void peer_req_free(struct req *r);

/* Hand a finished request (reply set, in no list) to its owner: free it if
 * internal, run its callback now if it has no queue, else push it on its
 * queue (waking the owner when the queue was empty), or free it if the queue
 * was destroyed. */
void peer_req_deliver(struct req *r);

#endif
