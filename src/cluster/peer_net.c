/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_net.c - the peer transport of peer_net.h: one thread, one event_base,
 * the connections to and from every peer, the handshakes (peer_hs_*),
 * request ids, deadlines, reconnects and health.
 *
 * Request path (all on the peer thread once submitted):
 *
 *   peer_net_request --(lock) net->submit--> net_submit_cb --> req_dispatch
 *      arms the deadline; DOWN peer: fail at once; else the pool's READY
 *      connection with the fewest in flight and room under the responder's
 *      max in flight --> conn_send (id = ++conn->last_id) --> conn->inflight
 *      (or, all full, peer->pending until a reply frees room)
 *   reply frame --> conn_on_reply: match by id in conn->inflight (late reply:
 *      count, drop) --> req_finish --> completion queue of the caller (or the
 *      callback itself when the request has no queue)
 *   deadline --> req_timeout_cb: forget the id, fail RC_EAGAIN, peer DOWN
 *   connection lost --> conn_close: fail its in-flight requests RC_ECLOSED
 *
 * Invariants:
 *   - every struct req is in exactly one place: net->submit, a peer's
 *     pending list, a connection's in-flight list, a completion queue, or
 *     being finished; req_finish takes it out of the first three;
 *   - a connection is freed only from a timer, write or event callback of
 *     its own (conn_close marks it CLOSING and schedules the free), or when
 *     the thread exits, so no caller up the stack holds a freed connection;
 *   - only the peer thread touches connections, peers' lists and timers;
 *     other threads touch net->submit and net->dr_head (deferred replies)
 *     under net->lock, and
 *     the atomics (state, counters);
 *   - no byte of an unauthenticated connection reaches a handler: frames go
 *     to peer_hs_input until it returns RC_OK.
 *
 * Locks: net->lock (submit queue, closed flag), then never another; a
 * completion queue's lock is taken alone. Neither is held while calling out.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "base/log.h"
#include "base/mac.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_net.h"

#define NET_OUT_PAUSE      (8u << 20) /* stop reading a responder above this output */
#define NET_CLOSE_GRACE_MS 1000       /* to flush a final ERROR */
#define NET_STOP_GRACE_MS  250        /* to flush SHUTDOWN at stop */
#define NET_RING_LOG_MS    60000      /* ring mismatch: once per peer per minute */
#define NET_AUTH_LOG_MS    1000       /* auth failures: at most once a second */
#define NET_RTT_WEIGHT     8          /* EWMA: new = old + (sample - old) / 8 */

#define CNT(p, field) atomic_fetch_add_explicit(&(p)->field, 1, memory_order_relaxed)

/* ------------------------------------------------------------ structures */

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

/* A deferred reply on its way from another thread to the peer thread. */
struct dreply {
    struct dreply *next;
    struct peer_ticket t;
    size_t nframe;
    unsigned char frame[];
};

struct peer_completions {
    pthread_mutex_t lock;
    struct req_list list; /* guarded by lock */
    bool closed;          /* guarded by lock: the owner is gone */
    atomic_uint refs;
    peer_notify_fn notify;
    void *notify_arg;
};

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

    struct event_base *base; /* owned */
    struct evconnlistener *listener;
    int port;
    struct event *submit_ev, *stop_ev, *stop_timer;
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

static void conn_close(struct conn *c, const char *why, bool flush);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void peer_pump(struct peer_net *net, size_t idx);
static void peer_down(struct peer_net *net, size_t idx, const char *why);
static void req_finish(struct req *r, int status, uint16_t code, const char *why);

/* ------------------------------------------------------------ small helpers */

static uint64_t
now_us(void)
{
    return util_mono_ns() / 1000;
}

static void
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

static void
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

static struct req *
list_pop(struct req_list *l)
{
    struct req *r = l->head;

    if (r != NULL) {
        list_remove(l, r);
    }
    return r;
}

/* xorshift64*: jitter only, seeded from mac_random. */
static uint64_t
net_rand(struct peer_net *net)
{
    uint64_t x = net->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    net->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* ms +- 20 %. */
static unsigned
net_jitter(struct peer_net *net, unsigned ms)
{
    uint64_t pct = 80 + net_rand(net) % 41;

    return (unsigned)((uint64_t)ms * pct / 100);
}

static struct timeval
ms_tv(uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool
name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > PEER_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
}

static long
net_find_peer(const struct peer_net *net, const char *name, size_t len)
{
    for (size_t i = 0; i < net->npeers; i++) {
        if (strlen(net->peers[i].name) == len && memcmp(net->peers[i].name, name, len) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static const char *
conn_peer_name(const struct conn *c)
{
    return c->peer >= 0 ? c->net->peers[c->peer].name : "?";
}

/* ------------------------------------------------------------ completions */

int
peer_completions_create(peer_notify_fn notify, void *notify_arg, struct peer_completions **out)
{
    struct peer_completions *q = rc_calloc(1, sizeof(*q));

    *out = NULL;
    if (q == NULL) {
        return RC_ENOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    atomic_init(&q->refs, 1);
    q->notify = notify;
    q->notify_arg = notify_arg;
    *out = q;
    return RC_OK;
}

static void
completions_ref(struct peer_completions *q)
{
    atomic_fetch_add(&q->refs, 1);
}

static void
completions_unref(struct peer_completions *q)
{
    if (atomic_fetch_sub(&q->refs, 1) == 1) {
        pthread_mutex_destroy(&q->lock);
        rc_free(q);
    }
}

static void
req_free(struct req *r)
{
    if (r->timer != NULL) {
        event_free(r->timer);
    }
    rc_free(r->frame);
    rc_free(r->rbody);
    if (r->q != NULL) {
        completions_unref(r->q);
    }
    rc_free(r);
}

void
peer_completions_destroy(struct peer_completions *q)
{
    struct req_list l;
    struct req *r;

    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    l = q->list;
    memset(&q->list, 0, sizeof(q->list));
    pthread_mutex_unlock(&q->lock);
    while ((r = list_pop(&l)) != NULL) {
        req_free(r);
    }
    completions_unref(q);
}

size_t
peer_completions_drain(struct peer_completions *q)
{
    struct req_list l;
    struct req *r;
    size_t n = 0;

    pthread_mutex_lock(&q->lock);
    l = q->list;
    memset(&q->list, 0, sizeof(q->list));
    pthread_mutex_unlock(&q->lock);
    while ((r = list_pop(&l)) != NULL) {
        r->done(r->arg, &r->reply);
        req_free(r);
        n++;
    }
    return n;
}

/* Hand a finished request to its owner. */
static void
req_deliver(struct req *r)
{
    struct peer_completions *q = r->q;
    bool wake;

    if (r->internal) {
        req_free(r);
        return;
    }
    if (q == NULL) {
        r->done(r->arg, &r->reply);
        req_free(r);
        return;
    }
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        req_free(r);
        return;
    }
    wake = q->list.head == NULL;
    list_push(&q->list, r);
    pthread_mutex_unlock(&q->lock);
    /* q stays alive: r, now in its list, holds a reference. */
    if (wake && q->notify != NULL) {
        q->notify(q->notify_arg);
    }
}

/* ------------------------------------------------------------ requests */

/* Take r out of wherever it waits (not the submit queue), stop its deadline,
 * set its outcome and deliver it. */
static void
req_finish(struct req *r, int status, uint16_t code, const char *why)
{
    struct peer_net *net = r->net;
    struct peer *p = &net->peers[r->peer];

    assert(r->where != REQ_SUBMIT || net->stopping);
    if (r->where == REQ_PENDING) {
        list_remove(&p->pending, r);
    } else if (r->where == REQ_INFLIGHT) {
        list_remove(&r->conn->inflight, r);
        r->conn = NULL;
    }
    r->where = REQ_NOWHERE;
    if (r->timer != NULL) {
        event_free(r->timer);
        r->timer = NULL;
    }
    if (r->counted) {
        atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
        r->counted = false;
    }
    if (r->internal) {
        p->ping_out = false;
    }
    r->reply.status = status;
    r->reply.code = code;
    r->reply.why = why;
    r->reply.peer = r->peer;
    r->reply.elapsed_us = now_us() - r->start_us;
    req_deliver(r);
}

static void
req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct req *r = arg;
    struct peer_net *net = r->net;
    size_t idx = r->peer;
    bool was_inflight = r->where == REQ_INFLIGHT;
    /* The net answers PING itself, at once: a PING past its deadline means a
     * dead connection (or a stuck peer); reopen it. */
    struct conn *dead = r->internal && was_inflight ? r->conn : NULL;

    (void)fd;
    (void)what;
    CNT(&net->peers[idx], timeouts);
    CNT(net, t_timeouts);
    log_debug("peer %s: request %s id %llu timed out after %u ms", net->peers[idx].name,
              peer_type_name(r->type), (unsigned long long)r->id, r->timeout_ms);
    req_finish(r, RC_EAGAIN, PEER_OK, "timeout");
    peer_down(net, idx, "request timed out");
    if (dead != NULL) {
        conn_close(dead, "PING timed out", false);
    }
    if (was_inflight) {
        peer_pump(net, idx);
    }
}

/* The pool's READY connection with the fewest requests in flight and room
 * under the responder's max in flight; NULL when none. */
static struct conn *
peer_pick(struct peer_net *net, size_t idx)
{
    struct peer *p = &net->peers[idx];
    struct conn *best = NULL;

    for (unsigned s = 0; s < net->connections; s++) {
        struct conn *c = p->slots[s].conn;

        if (c == NULL || c->state != CONN_READY || c->inflight.n >= c->peer_max_inflight) {
            continue;
        }
        if (best == NULL || c->inflight.n < best->inflight.n) {
            best = c;
        }
    }
    return best;
}

static bool
peer_has_ready(const struct peer_net *net, size_t idx)
{
    const struct peer *p = &net->peers[idx];

    for (unsigned s = 0; s < net->connections; s++) {
        if (p->slots[s].conn != NULL && p->slots[s].conn->state == CONN_READY) {
            return true;
        }
    }
    return false;
}

static void
conn_send(struct conn *c, struct req *r)
{
    struct peer_net *net = c->net;
    struct peer *p = &net->peers[r->peer];

    if (r->nframe - PEER_HEADER_SIZE > c->peer_max_body) {
        req_finish(r, RC_ETOOLARGE, PEER_OK, "frame over the peer's limit");
        return;
    }
    r->id = ++c->last_id;
    r->frame[2] = c->version;
    be_put64(r->frame + 8, r->id);
    if (bufferevent_write(c->bev, r->frame, r->nframe) != 0) {
        req_finish(r, RC_ENOMEM, PEER_OK, "out of memory");
        return;
    }
    rc_free(r->frame);
    r->frame = NULL;
    r->conn = c;
    r->where = REQ_INFLIGHT;
    list_push(&c->inflight, r);
    CNT(p, sent);
    CNT(net, t_sent);
}

/* Send what waits for room, while there is room. */
static void
peer_pump(struct peer_net *net, size_t idx)
{
    struct peer *p = &net->peers[idx];
    struct conn *c;

    while (p->pending.head != NULL && (c = peer_pick(net, idx)) != NULL) {
        struct req *r = p->pending.head;

        list_remove(&p->pending, r);
        r->where = REQ_NOWHERE;
        conn_send(c, r);
    }
}

/* A request the peer thread just took from the submit queue. */
static void
req_dispatch(struct peer_net *net, struct req *r)
{
    struct peer *p = &net->peers[r->peer];
    uint64_t waited_ms = (now_us() - r->start_us) / 1000;
    struct timeval tv;
    struct conn *c;

    r->where = REQ_NOWHERE;
    if (waited_ms >= r->timeout_ms) {
        CNT(p, timeouts);
        CNT(net, t_timeouts);
        req_finish(r, RC_EAGAIN, PEER_OK, "timeout");
        return;
    }
    if (!r->internal && atomic_load(&p->state) != PEER_STATE_UP) {
        req_finish(r, RC_ECLOSED, PEER_OK, "peer down");
        return;
    }
    r->timer = evtimer_new(net->base, req_timeout_cb, r);
    tv = ms_tv(r->timeout_ms - waited_ms);
    if (r->timer == NULL || evtimer_add(r->timer, &tv) != 0) {
        req_finish(r, RC_ENOMEM, PEER_OK, "out of memory");
        return;
    }
    if (!r->internal) {
        r->counted = true;
        atomic_fetch_add_explicit(&p->queued, 1, memory_order_relaxed);
    }
    c = p->pending.head == NULL ? peer_pick(net, r->peer) : NULL;
    if (c != NULL) {
        conn_send(c, r);
    } else if (p->pending.n >= PEER_NET_MAX_PENDING) {
        req_finish(r, RC_EAGAIN, PEER_OK, "queue full");
    } else {
        r->where = REQ_PENDING;
        list_push(&p->pending, r);
    }
}

static void
peer_fail_pending(struct peer_net *net, size_t idx, int status, const char *why)
{
    struct peer *p = &net->peers[idx];

    while (p->pending.head != NULL) {
        req_finish(p->pending.head, status, PEER_OK, why);
    }
}

/* ------------------------------------------------------------ health */

const char *
peer_state_name(int state)
{
    switch (state) {
    case PEER_STATE_DOWN:
        return "down";
    case PEER_STATE_UP:
        return "up";
    default:
        return "?";
    }
}

static void
probe_schedule(struct peer_net *net, size_t idx, unsigned ms)
{
    struct peer *p = &net->peers[idx];
    struct timeval tv = ms_tv(net_jitter(net, ms));

    if (!net->stopping) {
        evtimer_add(p->probe, &tv);
    }
}

static void
peer_down(struct peer_net *net, size_t idx, const char *why)
{
    struct peer *p = &net->peers[idx];

    if (atomic_load(&p->state) != PEER_STATE_UP) {
        return;
    }
    atomic_store(&p->state, PEER_STATE_DOWN);
    if (!net->stopping) {
        log_warn("peer %s is down: %s", p->name, why);
    }
    p->probe_ms = net->backoff_min;
    probe_schedule(net, idx, p->probe_ms);
}

static void
peer_up(struct peer_net *net, size_t idx, const char *why)
{
    struct peer *p = &net->peers[idx];

    atomic_store(&p->last_seen_ms, util_now_ms());
    if (atomic_load(&p->state) == PEER_STATE_UP) {
        return;
    }
    atomic_store(&p->state, PEER_STATE_UP);
    log_info("peer %s is up: %s", p->name, why);
    p->probe_ms = net->backoff_min;
    probe_schedule(net, idx, net->ping_ms);
}

/* Send the net's own PING to a peer (keepalive while UP, probe while DOWN). */
static void
peer_send_ping(struct peer_net *net, size_t idx)
{
    struct peer *p = &net->peers[idx];
    struct peer_ping ping;
    struct req *r;

    if (p->ping_out || !peer_has_ready(net, idx)) {
        return;
    }
    r = rc_calloc(1, sizeof(*r));
    if (r == NULL) {
        return;
    }
    r->net = net;
    r->peer = idx;
    r->type = PEER_T_PING;
    r->internal = true;
    r->start_us = now_us();
    r->timeout_ms = net->timeout_ms;
    ping.echo = r->start_us;
    buf_reset(&net->out);
    if (peer_ping_encode(PEER_VERSION_MIN, 1, &ping, &net->out) != RC_OK ||
        (r->frame = rc_malloc(net->out.len)) == NULL) {
        rc_free(r);
        return;
    }
    memcpy(r->frame, net->out.data, net->out.len);
    r->nframe = net->out.len;
    p->ping_out = true;
    req_dispatch(net, r);
}

static void
peer_probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    struct peer_net *net = p->net;

    (void)fd;
    (void)what;
    if (net->stopping) {
        return;
    }
    peer_send_ping(net, p->idx);
    if (atomic_load(&p->state) == PEER_STATE_UP) {
        probe_schedule(net, p->idx, net->ping_ms);
    } else {
        probe_schedule(net, p->idx, p->probe_ms);
        p->probe_ms = p->probe_ms * 2 < net->backoff_max ? p->probe_ms * 2 : net->backoff_max;
    }
}

/* ------------------------------------------------------------ connections */

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void slot_retry(struct peer_net *net, size_t idx, int s);

static void
sockaddr_text(const struct sockaddr *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, n, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

static struct conn *
conn_new(struct peer_net *net, evutil_socket_t fd, enum peer_role role)
{
    struct conn *c = rc_calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->net = net;
    c->role = role;
    c->peer = -1;
    c->slot = -1;
    c->need = PEER_HEADER_SIZE;
    c->serial = ++net->serial;
    c->lim.version = PEER_HANDSHAKE_VERSION;
    c->lim.max_body = PEER_HANDSHAKE_MAX_BODY;
    c->bev = bufferevent_socket_new(net->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(net->base, conn_timer_cb, c);
    if (c->bev == NULL || c->timer == NULL) {
        if (c->bev != NULL) {
            bufferevent_free(c->bev);
        } else if (fd >= 0) {
            evutil_closesocket(fd);
        }
        if (c->timer != NULL) {
            event_free(c->timer);
        }
        rc_free(c);
        return NULL;
    }
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = net->conns;
    if (net->conns != NULL) {
        net->conns->prev = c;
    }
    net->conns = c;
    return c;
}

/* Release everything; the connection's requests must already be gone. */
static void
conn_free(struct conn *c)
{
    struct peer_net *net = c->net;

    assert(c->state == CONN_CLOSING && c->inflight.n == 0);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        net->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    bufferevent_free(c->bev);
    event_free(c->timer);
    if (c->hs_live) {
        peer_hs_deinit(&c->hs);
    }
    rc_free(c);
    if (net->stopping && net->conns == NULL) {
        event_base_loopbreak(net->base);
    }
}

static int
conn_write(struct conn *c, const void *p, size_t n)
{
    return bufferevent_write(c->bev, p, n) == 0 ? RC_OK : RC_ENOMEM;
}

/* Write and empty net->out. */
static void
conn_flush_out(struct conn *c)
{
    struct peer_net *net = c->net;

    if (net->out.len > 0) {
        (void)conn_write(c, net->out.data, net->out.len);
        buf_reset(&net->out);
    }
}

/* Send a connection-level ERROR (id 0). */
static void
conn_send_error(struct conn *c, uint16_t code, const char *text)
{
    struct peer_error e;

    memset(&e, 0, sizeof(e));
    e.code = code;
    e.text = text;
    e.ntext = strlen(text);
    buf_reset(&c->net->out);
    if (peer_error_encode(c->lim.version, 0, &e, &c->net->out) == RC_OK) {
        conn_flush_out(c);
    }
    buf_reset(&c->net->out);
}

/* End a connection: no more reading, its requests fail, its slot reopens
 * after the backoff, the peer goes DOWN when it was this connection that
 * carried it. With flush, what is queued (a final ERROR) is written first,
 * for at most NET_CLOSE_GRACE_MS. Freed later, from a callback of its own. */
static void
conn_close(struct conn *c, const char *why, bool flush)
{
    struct peer_net *net = c->net;
    enum conn_state was = c->state;
    struct timeval tv;
    size_t out;

    if (was == CONN_CLOSING) {
        return;
    }
    c->state = CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    log_debug("peer connection %s (%s, %s): closing: %s", c->addr, conn_peer_name(c),
              c->role == PEER_ROLE_INITIATOR ? "out" : "in", why);
    while (c->inflight.head != NULL) {
        req_finish(c->inflight.head, RC_ECLOSED, PEER_OK,
                   net->stopping ? "stopping" : "connection lost");
    }
    if (c->unauth) {
        c->unauth = false;
        net->nunauth--;
    }
    if (c->role == PEER_ROLE_INITIATOR && c->peer >= 0) {
        struct peer *p = &net->peers[c->peer];

        p->slots[c->slot].conn = NULL;
        if (was == CONN_READY) {
            atomic_fetch_sub(&p->conns_out, 1);
        }
        if (!net->stopping) {
            CNT(p, errors);
            if (was == CONN_READY || !peer_has_ready(net, (size_t)c->peer)) {
                peer_down(net, (size_t)c->peer, why);
            }
            if (!peer_has_ready(net, (size_t)c->peer)) {
                peer_fail_pending(net, (size_t)c->peer, RC_ECLOSED, "peer down");
            }
            slot_retry(net, (size_t)c->peer, c->slot);
        }
    } else if (c->role == PEER_ROLE_RESPONDER && c->peer >= 0 && was == CONN_READY) {
        net->peers[c->peer].nin--;
        atomic_fetch_sub(&net->peers[c->peer].conns_in, 1);
    }
    out = evbuffer_get_length(bufferevent_get_output(c->bev));
    tv = ms_tv(flush && out > 0 && was != CONN_CONNECTING ? NET_CLOSE_GRACE_MS : 0);
    evtimer_add(c->timer, &tv);
}

/* A frame refused by the decoder or by its place: ERROR, close. */
static void
conn_fault(struct conn *c, const struct peer_fault *fault)
{
    struct peer_net *net = c->net;

    CNT(net, t_protocol_errors);
    if (c->peer >= 0) {
        CNT(&net->peers[c->peer], errors);
        log_warn("peer %s (%s): protocol error: %s", conn_peer_name(c), c->addr, fault->why);
    } else {
        log_debug("peer connection %s: protocol error: %s", c->addr, fault->why);
    }
    buf_reset(&net->out);
    if (peer_fault_encode(c->lim.version, fault, &net->out) == RC_OK) {
        conn_flush_out(c);
    }
    buf_reset(&net->out);
    conn_close(c, fault->why, true);
}

static void
conn_fault_text(struct conn *c, const char *why)
{
    struct peer_fault f;

    f.code = PEER_PROTOCOL;
    f.why = why;
    conn_fault(c, &f);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == CONN_CLOSING) {
        conn_free(c);
        return;
    }
    /* The handshake (or the connect) passed its deadline. */
    if (c->state == CONN_HANDSHAKE) {
        conn_send_error(c, PEER_TIMEOUT, "handshake timed out");
    }
    if (c->peer >= 0 && c->role == PEER_ROLE_INITIATOR) {
        log_debug("peer %s: %s timed out", conn_peer_name(c),
                  c->state == CONN_CONNECTING ? "connect" : "handshake");
    }
    conn_close(c, "handshake timed out", true);
}

static void
conn_resume(struct conn *c)
{
    size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));

    if (!c->paused || c->state != CONN_READY || out > NET_OUT_PAUSE / 2 ||
        c->deferred >= c->net->hs_cfg.max_inflight) {
        return;
    }
    c->paused = false;
    bufferevent_enable(c->bev, EV_READ);
    conn_read_cb(c->bev, c); /* what arrived before the pause */
}

static void
conn_maybe_pause(struct conn *c)
{
    size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));

    if (out > NET_OUT_PAUSE || c->deferred >= c->net->hs_cfg.max_inflight) {
        c->paused = true;
        bufferevent_disable(c->bev, EV_READ);
    }
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (c->state == CONN_CLOSING) {
        conn_free(c);
        return;
    }
    conn_resume(c);
}

/* ------------------------------------------------------------ handshake */

static int
conn_hs_begin(struct conn *c)
{
    struct peer_net *net = c->net;
    uint8_t nonce[PEER_NONCE_SIZE];
    struct peer_hs_config cfg = net->hs_cfg;
    int rc;

    if ((rc = mac_random(nonce, sizeof(nonce))) != RC_OK) {
        return rc;
    }
    cfg.wall_ms = util_now_ms();
    rc = peer_hs_init(&c->hs, c->role, &cfg, nonce);
    memset(nonce, 0, sizeof(nonce));
    c->hs_live = true;
    if (rc != RC_OK) {
        return rc;
    }
    c->state = CONN_HANDSHAKE;
    buf_reset(&net->out);
    rc = peer_hs_start(&c->hs, &net->out);
    conn_flush_out(c);
    return rc;
}

static void
log_ring_mismatch(struct conn *c, size_t idx_or_npeers)
{
    struct peer_net *net = c->net;
    const struct peer_hello *h = &c->hs.hello;
    uint64_t now = util_mono_ms();
    char mine[2 * PEER_RING_HASH_SIZE + 1], theirs[2 * PEER_RING_HASH_SIZE + 1];
    char myid[2 * PEER_NODE_ID_SIZE + 1], theirid[2 * PEER_NODE_ID_SIZE + 1];
    uint64_t *last = idx_or_npeers < net->npeers ? &net->peers[idx_or_npeers].last_ring_log_ms
                                                 : &net->last_ring_log_ms;

    if (*last != 0 && now - *last < NET_RING_LOG_MS) {
        return;
    }
    *last = now;
    hex(net->hs_cfg.ring_hash, PEER_RING_HASH_SIZE, mine);
    hex(h->ring_hash, PEER_RING_HASH_SIZE, theirs);
    hex(net->hs_cfg.node_id, PEER_NODE_ID_SIZE, myid);
    hex(h->node_id, PEER_NODE_ID_SIZE, theirid);
    log_error("RING MISMATCH with peer %.*s (%s, id %s): this node %s (id %s) has ring %s Q=%u "
              "N=%u, the peer has ring %s Q=%u N=%u; refusing it until the configurations agree",
              (int)h->nname, h->name, c->addr, theirid, net->name, myid, mine,
              net->hs_cfg.partitions, net->hs_cfg.replicas, theirs, h->partitions, h->replicas);
}

/* The handshake failed: count, log, close (the codec queued our ERROR). */
static void
conn_hs_failed(struct conn *c)
{
    struct peer_net *net = c->net;
    uint16_t code = c->hs.fault.code;
    struct peer *p = c->peer >= 0 ? &net->peers[c->peer] : NULL;
    struct slot *s = p != NULL && c->slot >= 0 ? &p->slots[c->slot] : NULL;
    uint64_t now = util_mono_ms();
    const char *how = c->hs.remote ? "refused by the peer" : "refused";

    if (code == PEER_AUTH_FAILED) {
        CNT(net, t_auth_failures);
        if (p != NULL) {
            CNT(p, auth_failures);
        }
        if (s != NULL) {
            s->backoff_ms = net->backoff_max;
        }
        if (now - net->last_auth_log_ms >= NET_AUTH_LOG_MS || net->last_auth_log_ms == 0) {
            net->last_auth_log_ms = now;
            log_error("peer authentication FAILED (%s) on %s connection %s%s%s: wrong "
                      "--cluster-secret-file on one side?",
                      how, c->role == PEER_ROLE_INITIATOR ? "outgoing" : "incoming", c->addr,
                      p != NULL ? " to " : "", p != NULL ? p->name : "");
        }
    } else if (code == PEER_RING_MISMATCH) {
        long idx = c->hs.hello.nname > 0 ? net_find_peer(net, c->hs.hello.name, c->hs.hello.nname)
                                         : c->peer;

        if (p == NULL && idx >= 0) {
            p = &net->peers[idx];
        }
        CNT(net, t_ring_mismatches);
        if (p != NULL) {
            CNT(p, ring_mismatches);
        }
        if (s != NULL) {
            s->backoff_ms = net->backoff_max;
        }
        if (!c->hs.remote) {
            log_ring_mismatch(c, idx >= 0 ? (size_t)idx : net->npeers);
        }
    } else {
        if (!c->hs.remote) {
            CNT(net, t_protocol_errors);
        }
        log_debug("peer handshake with %s %s: %s %s", c->addr, how, peer_code_name(code),
                  c->hs.fault.why != NULL ? c->hs.fault.why : "");
        if (p != NULL && (code == PEER_SELF || code == PEER_UNKNOWN_PEER || code == PEER_VERSION)) {
            log_warn("peer %s (%s): handshake %s: %s", p->name, c->addr, how, peer_code_name(code));
        }
    }
    conn_close(c, "handshake failed", true);
}

/* The handshake is complete: name the peer, take the limits. */
static void
conn_hs_done(struct conn *c)
{
    struct peer_net *net = c->net;
    const struct peer_hello *h = &c->hs.hello;
    long idx = net_find_peer(net, h->name, h->nname);
    struct peer *p;

    peer_hs_limits(&c->hs, &c->lim);
    c->version = c->hs.version;
    c->peer_max_body = h->max_body;
    c->peer_max_inflight = h->max_inflight;
    evtimer_del(c->timer);
    if (c->role == PEER_ROLE_INITIATOR) {
        p = &net->peers[c->peer];
        if (idx != c->peer) {
            log_error("peer %s (%s) answered as \"%.*s\": refusing it", p->name, c->addr,
                      (int)h->nname, h->name);
            p->slots[c->slot].backoff_ms = net->backoff_max;
            conn_send_error(c, PEER_UNKNOWN_PEER, "unexpected node name");
            conn_close(c, "unexpected node name", true);
            return;
        }
        c->state = CONN_READY;
        p->slots[c->slot].backoff_ms = net->backoff_min;
        atomic_fetch_add(&p->conns_out, 1);
        log_debug("peer %s: connection %s ready (version %u)", p->name, c->addr, c->version);
        peer_up(net, (size_t)idx, "connected");
        peer_pump(net, (size_t)idx);
        return;
    }
    c->unauth = false;
    net->nunauth--;
    if (idx < 0) {
        log_warn("peer connection %s: \"%.*s\" authenticated but is not a member: refused", c->addr,
                 (int)h->nname, h->name);
        conn_send_error(c, PEER_UNKNOWN_PEER, "not a member");
        conn_close(c, "unknown peer", true);
        return;
    }
    p = &net->peers[idx];
    if (p->nin >= 2 * (size_t)net->connections + 2) {
        CNT(net, t_refused);
        log_warn("peer %s: too many incoming connections; refusing %s", p->name, c->addr);
        conn_send_error(c, PEER_PROTOCOL, "too many connections");
        conn_close(c, "too many connections", true);
        return;
    }
    c->peer = idx;
    c->state = CONN_READY;
    p->nin++;
    atomic_fetch_add(&p->conns_in, 1);
    atomic_store(&p->last_seen_ms, util_now_ms());
    log_debug("peer %s: incoming connection %s ready (version %u)", p->name, c->addr, c->version);
}

static void
conn_on_hs_frame(struct conn *c, const struct peer_frame *f)
{
    struct peer_net *net = c->net;
    int rc;

    buf_reset(&net->out);
    rc = peer_hs_input(&c->hs, f, &net->out);
    conn_flush_out(c);
    if (rc == RC_EAGAIN) {
        return;
    }
    if (rc == RC_OK) {
        conn_hs_done(c);
        return;
    }
    conn_hs_failed(c);
}

/* ------------------------------------------------------------ frames: initiator */

/* Check a reply body against its type's layout before it goes anywhere. */
static int
reply_validate(const struct peer_frame *f, struct peer_fault *fault)
{
    struct peer_put_ack ack;
    struct peer_get_reply gr;
    struct peer_forward_reply fr;
    struct peer_pong pong;
    struct peer_error e;

    switch (f->h.type) {
    case PEER_T_PONG:
        return peer_pong_decode(f, &pong, fault);
    case PEER_T_PUT_ACK:
        return peer_put_ack_decode(f, &ack, fault);
    case PEER_T_GET_REPLY:
        return peer_get_reply_decode(f, &gr, fault);
    case PEER_T_FORWARD_REPLY:
        return peer_forward_reply_decode(f, &fr, fault);
    case PEER_T_FLUSH_ACK:
        return peer_flush_ack_decode(f, fault);
    case PEER_T_ERROR:
        return peer_error_decode(f, &e, fault);
    default:
        fault->code = PEER_PROTOCOL;
        fault->why = "not a reply";
        return RC_EPROTO;
    }
}

static struct req *
conn_find(struct conn *c, uint64_t id)
{
    for (struct req *r = c->inflight.head; r != NULL; r = r->next) {
        if (r->id == id) {
            return r;
        }
    }
    return NULL;
}

static void
conn_on_ping_reply(struct conn *c, struct req *r, const struct peer_frame *f)
{
    struct peer_net *net = c->net;
    struct peer *p = &net->peers[r->peer];
    struct peer_pong pong;
    uint64_t now = now_us();

    if (f->h.type == PEER_T_PONG && peer_pong_decode(f, &pong, NULL) == RC_OK && pong.echo <= now) {
        uint64_t sample = now - pong.echo, old = atomic_load(&p->rtt_us);
        uint64_t rtt = old == 0 ? (sample > 0 ? sample : 1)
                                : (old * (NET_RTT_WEIGHT - 1) + sample) / NET_RTT_WEIGHT;

        atomic_store(&p->rtt_us, rtt > 0 ? rtt : 1);
        req_finish(r, RC_OK, PEER_OK, NULL);
        peer_up(net, (size_t)c->peer, "answered PING");
        return;
    }
    req_finish(r, RC_EPROTO, PEER_OK, "bad PONG");
}

static void
conn_on_reply(struct conn *c, const struct peer_frame *f)
{
    struct peer_net *net = c->net;
    struct peer *p = &net->peers[c->peer];
    struct peer_fault fault;
    struct peer_error e;
    struct req *r;
    int status = RC_OK;
    uint16_t code = PEER_OK;

    if (reply_validate(f, &fault) != RC_OK) {
        conn_fault(c, &fault);
        return;
    }
    if (f->h.type == PEER_T_ERROR && f->h.id == 0) {
        (void)peer_error_decode(f, &e, NULL);
        log_info("peer %s (%s) closed the connection: %s %.*s", p->name, c->addr,
                 peer_code_name(e.code), (int)e.ntext, e.text);
        conn_close(c, e.code == PEER_SHUTDOWN ? "peer shutting down" : "peer sent ERROR", false);
        return;
    }
    r = conn_find(c, f->h.id);
    if (r == NULL) {
        if (f->h.id <= c->last_id) {
            CNT(p, late_replies);
            CNT(net, t_late_replies);
            return;
        }
        conn_fault_text(c, "reply to an id never sent");
        return;
    }
    if (f->h.type != PEER_T_ERROR && f->h.type != (r->type | 0x80)) {
        conn_fault_text(c, "reply of the wrong type");
        return;
    }
    CNT(p, replies);
    if (r->internal) {
        conn_on_ping_reply(c, r, f);
        peer_pump(net, (size_t)c->peer);
        return;
    }
    if (f->h.type == PEER_T_ERROR) {
        (void)peer_error_decode(f, &e, NULL);
        code = e.code;
        status = peer_code_to_status(code);
        if (status == RC_OK) {
            status = RC_EINTERNAL; /* an ERROR frame is never a success */
        }
        CNT(p, errors);
    }
    if (f->h.body_len > 0) {
        r->rbody = rc_malloc(f->h.body_len);
        if (r->rbody == NULL) {
            req_finish(r, RC_ENOMEM, PEER_OK, "out of memory");
            peer_pump(net, (size_t)c->peer);
            return;
        }
        memcpy(r->rbody, f->body, f->h.body_len);
    }
    r->reply.frame.h = f->h;
    r->reply.frame.body = r->rbody;
    req_finish(r, status, code, NULL);
    peer_pump(net, (size_t)c->peer);
}

/* ------------------------------------------------------------ frames: responder */

/* Encode the ERROR that answers request `id` for a handler's failure. */
static void
reply_error(struct conn *c, uint64_t id, int status, const struct peer_call *call)
{
    struct peer_net *net = c->net;
    struct peer_error e;
    uint16_t code = call != NULL ? call->error_code : 0;

    if (code == PEER_OK || code >= PEER_CODE_CONNECTION) {
        code = peer_code_from_status(status);
    }
    if (code == PEER_OK || code >= PEER_CODE_CONNECTION) {
        code = PEER_INTERNAL;
    }
    memset(&e, 0, sizeof(e));
    e.code = code;
    e.text = call != NULL && call->error_text != NULL ? call->error_text : peer_code_name(code);
    e.ntext = strlen(e.text);
    buf_reset(&net->out);
    if (peer_error_encode(c->version, id, &e, &net->out) != RC_OK) {
        /* The handler's text broke the rules: send the code's own name. */
        e.text = peer_code_name(code);
        e.ntext = strlen(e.text);
        buf_reset(&net->out);
        (void)peer_error_encode(c->version, id, &e, &net->out);
    }
}

/* Run the handler for one decoded request; leave the reply in net->out.
 * Returns PEER_NET_DEFER when the handler keeps the request. */
static int
conn_call(struct conn *c, const struct peer_frame *f)
{
    struct peer_net *net = c->net;
    const struct peer_handlers *h = &net->handlers;
    struct peer_fault fault;
    struct peer_call call;
    uint8_t v = c->version;
    uint64_t id = f->h.id;
    int rc, enc = RC_OK;

    memset(&call, 0, sizeof(call));
    call.peer = (size_t)c->peer;
    call.peer_name = net->peers[c->peer].name;
    call.id = id;
    call.ticket.conn = c->serial;
    call.ticket.id = id;
    call.ticket.type = f->h.type;
    call.scratch = &net->scratch;
    buf_reset(&net->scratch);
    buf_reset(&net->out);
    fault.code = PEER_PROTOCOL;
    fault.why = "bad request";
    switch (f->h.type) {
    case PEER_T_PING: {
        struct peer_ping ping;
        struct peer_pong pong;

        if (peer_ping_decode(f, &ping, &fault) != RC_OK) {
            goto bad;
        }
        pong.echo = ping.echo;
        pong.wall_ms = util_now_ms();
        return peer_pong_encode(v, id, &pong, &net->out);
    }
    case PEER_T_PUT: {
        struct peer_put m;
        struct peer_put_ack ack;

        if (peer_put_decode(f, &m, &fault) != RC_OK) {
            goto bad;
        }
        memset(&ack, 0, sizeof(ack));
        rc = h->put != NULL ? h->put(h->arg, &call, &m, &ack) : RC_EDISABLED;
        if (rc == RC_OK) {
            enc = peer_put_ack_encode(v, id, &ack, &net->out);
        }
        break;
    }
    case PEER_T_GET: {
        struct peer_get m;
        struct peer_get_reply r;

        if (peer_get_decode(f, &m, &fault) != RC_OK) {
            goto bad;
        }
        memset(&r, 0, sizeof(r));
        rc = h->get != NULL ? h->get(h->arg, &call, &m, &r) : RC_EDISABLED;
        if (rc == RC_OK) {
            enc = peer_get_reply_encode(v, id, &r, &net->out);
        }
        break;
    }
    case PEER_T_FORWARD: {
        struct peer_forward m;
        struct peer_forward_reply r;

        if (peer_forward_decode(f, &m, &fault) != RC_OK) {
            goto bad;
        }
        memset(&r, 0, sizeof(r));
        rc = h->forward != NULL ? h->forward(h->arg, &call, &m, &r) : RC_EDISABLED;
        if (rc == RC_OK) {
            enc = peer_forward_reply_encode(v, id, &r, &net->out);
        }
        break;
    }
    case PEER_T_FLUSH: {
        struct peer_flush m;

        if (peer_flush_decode(f, &m, &fault) != RC_OK) {
            goto bad;
        }
        rc = h->flush != NULL ? h->flush(h->arg, &call, &m) : RC_EDISABLED;
        if (rc == RC_OK) {
            enc = peer_flush_ack_encode(v, id, &net->out);
        }
        break;
    }
    default:
        goto bad;
    }
    if (rc == PEER_NET_DEFER) {
        buf_reset(&net->out);
        return PEER_NET_DEFER;
    }
    if (rc == RC_OK && enc != RC_OK) {
        log_warn("peer %s: the %s handler built an invalid reply (%s)", call.peer_name,
                 peer_type_name(f->h.type), rc_strerror(enc));
        rc = RC_EINTERNAL;
        call.error_code = PEER_INTERNAL;
        call.error_text = "invalid reply";
    } else if (rc == RC_OK && net->out.len - PEER_HEADER_SIZE > c->peer_max_body) {
        log_warn("peer %s: a %s reply of %zu bytes passes the peer's limit", call.peer_name,
                 peer_type_name(f->h.type | 0x80), net->out.len - PEER_HEADER_SIZE);
        rc = RC_ETOOLARGE;
        call.error_code = PEER_TOO_LARGE;
        call.error_text = "reply too large";
    }
    if (rc != RC_OK) {
        reply_error(c, id, rc, &call);
    }
    return RC_OK;
bad:
    conn_fault(c, &fault);
    return RC_EPROTO;
}

static void
conn_on_request(struct conn *c, const struct peer_frame *f)
{
    struct peer_net *net = c->net;
    struct peer *p = &net->peers[c->peer];
    struct peer_error e;
    int rc;

    if (f->h.type == PEER_T_ERROR) {
        if (peer_error_decode(f, &e, NULL) == RC_OK) {
            log_info("peer %s (%s) sent %s: %.*s", p->name, c->addr, peer_code_name(e.code),
                     (int)e.ntext, e.text);
        }
        conn_close(c, "peer sent ERROR", false);
        return;
    }
    CNT(p, received);
    CNT(net, t_received);
    rc = conn_call(c, f);
    if (rc == RC_EPROTO) {
        return; /* conn_fault closed it */
    }
    if (rc == PEER_NET_DEFER) {
        c->deferred++;
    } else {
        conn_flush_out(c);
    }
    conn_maybe_pause(c);
}

/* ------------------------------------------------------------ reading */

static void
conn_on_frame(struct conn *c, const struct peer_frame *f)
{
    struct peer_fault fault;

    if (c->state == CONN_HANDSHAKE) {
        conn_on_hs_frame(c, f);
        return;
    }
    if (peer_frame_expect(c->role, f, &fault) != RC_OK) {
        conn_fault(c, &fault);
        return;
    }
    atomic_store(&c->net->peers[c->peer].last_seen_ms, util_now_ms());
    if (c->role == PEER_ROLE_INITIATOR) {
        conn_on_reply(c, f);
    } else {
        conn_on_request(c, f);
    }
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while ((c->state == CONN_HANDSHAKE || c->state == CONN_READY) && !c->paused) {
        size_t len = evbuffer_get_length(in), n, need = 0;
        struct peer_frame f;
        struct peer_fault fault;
        unsigned char *data;
        int rc;

        /* A header is checked byte by byte; a body only once it is whole. */
        if (len == 0 || (c->need > PEER_HEADER_SIZE && len < c->need)) {
            return;
        }
        n = len < c->need ? len : c->need;
        data = evbuffer_pullup(in, (ev_ssize_t)n);
        if (data == NULL) {
            conn_close(c, "out of memory", false);
            return;
        }
        rc = peer_frame_decode(&c->lim, data, n, &f, &need, &fault);
        if (rc == RC_EAGAIN) {
            c->need = need;
            if (need > n && len > n) {
                continue;
            }
            return;
        }
        if (rc != RC_OK) {
            conn_fault(c, &fault);
            return;
        }
        conn_on_frame(c, &f);
        evbuffer_drain(in, need);
        c->need = PEER_HEADER_SIZE;
    }
}

static void
conn_connected(struct conn *c)
{
    int one = 1;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        sockaddr_text((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
    }
    if (conn_hs_begin(c) != RC_OK) {
        conn_close(c, "cannot start the handshake", false);
    }
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == CONN_CONNECTING) {
            conn_connected(c);
        }
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        return;
    }
    if (c->state == CONN_CLOSING) {
        conn_free(c);
        return;
    }
    if (c->state == CONN_CONNECTING) {
        log_debug("peer %s: connect to %s failed: %s", conn_peer_name(c), c->addr,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_close(c, "connect failed", false);
        return;
    }
    conn_close(c, (what & BEV_EVENT_EOF) ? "closed by the peer" : "connection error", false);
}

/* ------------------------------------------------------------ outbound */

static void
slot_connect(struct peer_net *net, size_t idx, int s)
{
    struct peer *p = &net->peers[idx];
    struct timeval tv = ms_tv(net->timeout_ms);
    struct conn *c;

    if (net->stopping) {
        return;
    }
    c = conn_new(net, -1, PEER_ROLE_INITIATOR);
    if (c == NULL) {
        slot_retry(net, idx, s);
        return;
    }
    c->peer = (long)idx;
    c->slot = s;
    snprintf(c->addr, sizeof(c->addr), "%s", p->addr);
    p->slots[s].conn = c;
    p->slots[s].tried = true;
    evtimer_add(c->timer, &tv);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->sa, (int)p->salen) != 0) {
        conn_close(c, "connect failed", false);
    }
}

static void
slot_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slot *sl = arg;
    struct peer *p = sl->peer;
    struct peer_net *net = p->net;

    (void)fd;
    (void)what;
    if (net->stopping || sl->conn != NULL) {
        return;
    }
    if (sl->tried) {
        CNT(p, reconnects);
        CNT(net, t_reconnects);
    }
    slot_connect(net, p->idx, sl->idx);
}

static void
slot_retry(struct peer_net *net, size_t idx, int s)
{
    struct slot *sl = &net->peers[idx].slots[s];
    struct timeval tv;

    if (net->stopping) {
        return;
    }
    tv = ms_tv(net_jitter(net, sl->backoff_ms));
    sl->backoff_ms = sl->backoff_ms * 2 < net->backoff_max ? sl->backoff_ms * 2 : net->backoff_max;
    evtimer_add(sl->retry, &tv);
}

/* ------------------------------------------------------------ inbound */

static void
net_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
              void *arg)
{
    struct peer_net *net = arg;
    struct timeval tv = ms_tv(net->timeout_ms);
    struct conn *c;
    int one = 1;

    (void)l;
    (void)salen;
    CNT(net, t_accepted);
    if (net->stopping || net->nunauth >= PEER_NET_MAX_UNAUTHENTICATED) {
        CNT(net, t_refused);
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = conn_new(net, fd, PEER_ROLE_RESPONDER);
    if (c == NULL) {
        return;
    }
    sockaddr_text(sa, c->addr, sizeof(c->addr));
    c->unauth = true;
    net->nunauth++;
    evtimer_add(c->timer, &tv);
    if (conn_hs_begin(c) != RC_OK) {
        conn_close(c, "cannot start the handshake", false);
    }
}

static void
net_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    log_warn("peer listener: accept failed: %s", strerror(errno));
}

/* ------------------------------------------------------------ the thread */

static void
net_submit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_net *net = arg;
    struct req_list l;
    struct dreply *d, *dnext;
    struct req *r;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&net->lock);
    l = net->submit;
    memset(&net->submit, 0, sizeof(net->submit));
    d = net->dr_head;
    net->dr_head = net->dr_tail = NULL;
    pthread_mutex_unlock(&net->lock);
    while ((r = list_pop(&l)) != NULL) {
        if (net->stopping) {
            req_finish(r, RC_ECLOSED, PEER_OK, "stopping");
        } else {
            req_dispatch(net, r);
        }
    }
    for (; d != NULL; d = dnext) {
        struct conn *c;

        dnext = d->next;
        for (c = net->conns; c != NULL; c = c->next) {
            if (c->serial == d->t.conn) {
                break;
            }
        }
        if (c != NULL && c->state == CONN_READY && c->role == PEER_ROLE_RESPONDER &&
            c->deferred > 0) {
            d->frame[2] = c->version;
            be_put64(d->frame + 8, d->t.id);
            (void)conn_write(c, d->frame, d->nframe);
            c->deferred--;
            conn_resume(c);
        }
        rc_free(d);
    }
}

static void
net_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_net *net = arg;

    (void)fd;
    (void)what;
    event_base_loopbreak(net->base);
}

static void
net_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_net *net = arg;
    struct timeval tv = ms_tv(NET_STOP_GRACE_MS);
    struct conn *c, *next;

    (void)fd;
    (void)what;
    net->stopping = true;
    if (net->listener != NULL) {
        evconnlistener_free(net->listener);
        net->listener = NULL;
    }
    net_submit_cb(-1, 0, net); /* fails what was submitted */
    for (size_t i = 0; i < net->npeers; i++) {
        struct peer *p = &net->peers[i];

        evtimer_del(p->probe);
        for (unsigned s = 0; s < net->connections; s++) {
            evtimer_del(p->slots[s].retry);
        }
        peer_fail_pending(net, i, RC_ECLOSED, "stopping");
    }
    for (c = net->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_READY || c->state == CONN_HANDSHAKE) {
            conn_send_error(c, PEER_SHUTDOWN, "shutting down");
        }
        conn_close(c, "stopping", true);
    }
    for (size_t i = 0; i < net->npeers; i++) {
        atomic_store(&net->peers[i].state, PEER_STATE_DOWN);
    }
    if (net->conns == NULL) {
        event_base_loopbreak(net->base);
    } else {
        evtimer_add(net->stop_timer, &tv);
    }
}

static void *
net_main(void *arg)
{
    struct peer_net *net = arg;

    for (size_t i = 0; i < net->npeers; i++) {
        for (unsigned s = 0; s < net->connections; s++) {
            slot_connect(net, i, (int)s);
        }
        probe_schedule(net, i, net->ping_ms);
    }
    event_base_dispatch(net->base);
    /* Whatever did not close in the grace period. */
    net->stopping = true;
    while (net->conns != NULL) {
        conn_close(net->conns, "stopping", false);
        conn_free(net->conns);
    }
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

/* "host:port", "[v6]:port" -> host, port. */
static int
split_addr(const char *s, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon;
    size_t n;

    if (s == NULL) {
        return RC_EINVAL;
    }
    if (s[0] == '[') {
        const char *end = strchr(s, ']');

        if (end == NULL || end[1] != ':') {
            return RC_EINVAL;
        }
        n = (size_t)(end - s - 1);
        colon = end + 1;
        if (n >= hostsz) {
            return RC_EINVAL;
        }
        memcpy(host, s + 1, n);
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || strchr(s, ':') != colon) {
            return RC_EINVAL;
        }
        n = (size_t)(colon - s);
        if (n >= hostsz) {
            return RC_EINVAL;
        }
        memcpy(host, s, n);
    }
    host[n] = '\0';
    if (colon[1] == '\0' || strlen(colon + 1) >= portsz ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535) {
        return RC_EINVAL;
    }
    snprintf(port, portsz, "%s", colon + 1);
    return RC_OK;
}

static int
resolve(const char *addr, bool passive, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256], port[8];
    struct addrinfo hints, *res = NULL;
    int rc;

    if (split_addr(addr, host, sizeof(host), port, sizeof(port)) != RC_OK) {
        log_error("peer address \"%s\": expected host:port", addr != NULL ? addr : "");
        return RC_EINVAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    rc = getaddrinfo(host[0] == '\0' || strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        log_error("peer address \"%s\": %s", addr, gai_strerror(rc));
        return RC_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return RC_OK;
}

static int
net_listen(struct peer_net *net, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd, rc;

    if ((rc = resolve(addr, true, &ss, &len)) != RC_OK) {
        return rc;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("peer listener %s: %s", addr, strerror(errno));
        return RC_EIO;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
        log_error("peer listener %s: %s", addr, strerror(errno));
        close(fd);
        return RC_EIO;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        net->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    net->listener = evconnlistener_new(net->base, net_accept_cb, net,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (net->listener == NULL) {
        close(fd);
        return RC_EINTERNAL;
    }
    evconnlistener_set_error_cb(net->listener, net_accept_error_cb);
    log_info("peer port: listening on %s (port %d)", addr, net->port);
    return RC_OK;
}

/* Check what peer_hs_init would refuse, once, with a log line. */
static int
net_check_config(const struct peer_net_config *cfg)
{
    static const uint8_t zero[PEER_NODE_ID_SIZE];
    uint8_t nonce[PEER_NONCE_SIZE] = {1};
    struct peer_hs_config hc;
    struct peer_hs hs;
    int rc;

    if (!name_ok(cfg->name)) {
        log_error("peer transport: bad node name \"%s\"", cfg->name != NULL ? cfg->name : "");
        return RC_EINVAL;
    }
    if (memcmp(cfg->node_id, zero, sizeof(zero)) == 0 || cfg->secret == NULL ||
        cfg->nsecret < PEER_SECRET_MIN || cfg->connections > PEER_NET_MAX_CONNECTIONS ||
        (cfg->npeers > 0 && cfg->peers == NULL)) {
        log_error("peer transport: bad configuration (node id, secret of at least %d bytes, "
                  "at most %d connections per peer)",
                  PEER_SECRET_MIN, PEER_NET_MAX_CONNECTIONS);
        return RC_EINVAL;
    }
    for (size_t i = 0; i < cfg->npeers; i++) {
        if (!name_ok(cfg->peers[i].name) || strcmp(cfg->peers[i].name, cfg->name) == 0) {
            log_error("peer transport: bad peer name \"%s\"",
                      cfg->peers[i].name != NULL ? cfg->peers[i].name : "");
            return RC_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->peers[i].name, cfg->peers[j].name) == 0) {
                log_error("peer transport: peer \"%s\" listed twice", cfg->peers[i].name);
                return RC_EINVAL;
            }
        }
    }
    memset(&hc, 0, sizeof(hc));
    hc.secret = cfg->secret;
    hc.nsecret = cfg->nsecret;
    hc.name = cfg->name;
    hc.nname = strlen(cfg->name);
    memcpy(hc.node_id, cfg->node_id, PEER_NODE_ID_SIZE);
    memcpy(hc.ring_hash, cfg->ring_hash, PEER_RING_HASH_SIZE);
    hc.partitions = cfg->partitions;
    hc.replicas = cfg->replicas;
    hc.max_inflight = cfg->max_inflight ? cfg->max_inflight : PEER_NET_DEFAULT_INFLIGHT;
    hc.max_body = cfg->max_body ? cfg->max_body : PEER_MAX_BODY_MIN;
    hc.min_version = PEER_VERSION_MIN;
    hc.max_version = PEER_VERSION_MAX;
    rc = peer_hs_init(&hs, PEER_ROLE_INITIATOR, &hc, nonce);
    peer_hs_deinit(&hs);
    if (rc != RC_OK) {
        log_error("peer transport: the HELLO would be invalid (Q a power of two, N >= 1, "
                  "max body %u..%u)",
                  PEER_MAX_BODY_MIN, PEER_MAX_BODY_CEILING);
    }
    return rc;
}

static int
net_setup(struct peer_net *net, const struct peer_net_config *cfg)
{
    uint64_t seed = 0;
    int rc;

    net->name = rc_strdup(cfg->name);
    net->secret = rc_malloc(cfg->nsecret);
    net->peers = rc_calloc(cfg->npeers > 0 ? cfg->npeers : 1, sizeof(*net->peers));
    if (net->name == NULL || net->secret == NULL || net->peers == NULL) {
        return RC_ENOMEM;
    }
    memcpy(net->secret, cfg->secret, cfg->nsecret);
    net->hs_cfg.secret = net->secret;
    net->hs_cfg.nsecret = cfg->nsecret;
    net->hs_cfg.name = net->name;
    net->hs_cfg.nname = strlen(net->name);
    memcpy(net->hs_cfg.node_id, cfg->node_id, PEER_NODE_ID_SIZE);
    memcpy(net->hs_cfg.ring_hash, cfg->ring_hash, PEER_RING_HASH_SIZE);
    net->hs_cfg.partitions = cfg->partitions;
    net->hs_cfg.replicas = cfg->replicas;
    net->hs_cfg.max_inflight = cfg->max_inflight ? cfg->max_inflight : PEER_NET_DEFAULT_INFLIGHT;
    net->hs_cfg.max_body = cfg->max_body ? cfg->max_body : PEER_MAX_BODY_MIN;
    net->hs_cfg.min_version = PEER_VERSION_MIN;
    net->hs_cfg.max_version = PEER_VERSION_MAX;
    net->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : PEER_NET_DEFAULT_TIMEOUT_MS;
    net->connections = cfg->connections ? cfg->connections : PEER_NET_DEFAULT_CONNECTIONS;
    net->ping_ms = cfg->ping_interval_ms ? cfg->ping_interval_ms : PEER_NET_DEFAULT_PING_MS;
    net->backoff_min = cfg->backoff_min_ms ? cfg->backoff_min_ms : PEER_NET_BACKOFF_MIN_MS;
    net->backoff_max = cfg->backoff_max_ms ? cfg->backoff_max_ms : PEER_NET_BACKOFF_MAX_MS;
    if (net->backoff_max < net->backoff_min) {
        net->backoff_max = net->backoff_min;
    }
    net->handlers = cfg->handlers;
    (void)mac_random(&seed, sizeof(seed));
    net->rng = seed | 1;

    net->base = event_base_new();
    if (net->base == NULL) {
        return RC_EINTERNAL;
    }
    net->submit_ev = event_new(net->base, -1, EV_PERSIST, net_submit_cb, net);
    net->stop_ev = event_new(net->base, -1, 0, net_stop_cb, net);
    net->stop_timer = evtimer_new(net->base, net_stop_timer_cb, net);
    if (net->submit_ev == NULL || net->stop_ev == NULL || net->stop_timer == NULL) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < cfg->npeers; i++) {
        struct peer *p = &net->peers[i];

        net->npeers = i + 1;
        p->net = net;
        p->idx = i;
        p->name = rc_strdup(cfg->peers[i].name);
        p->addr = rc_strdup(cfg->peers[i].addr != NULL ? cfg->peers[i].addr : "");
        p->probe = evtimer_new(net->base, peer_probe_cb, p);
        if (p->name == NULL || p->addr == NULL || p->probe == NULL) {
            return RC_ENOMEM;
        }
        p->probe_ms = net->backoff_min;
        atomic_init(&p->state, PEER_STATE_DOWN);
        for (unsigned s = 0; s < net->connections; s++) {
            p->slots[s].peer = p;
            p->slots[s].idx = (int)s;
            p->slots[s].backoff_ms = net->backoff_min;
            p->slots[s].retry = evtimer_new(net->base, slot_retry_cb, &p->slots[s]);
            if (p->slots[s].retry == NULL) {
                return RC_ENOMEM;
            }
        }
        if ((rc = resolve(cfg->peers[i].addr, false, &p->sa, &p->salen)) != RC_OK) {
            return rc;
        }
    }
    if (cfg->listen != NULL) {
        return net_listen(net, cfg->listen);
    }
    return RC_OK;
}

int
peer_net_create(const struct peer_net_config *cfg, struct peer_net **out)
{
    struct peer_net *net;
    int rc;

    *out = NULL;
    if ((rc = net_check_config(cfg)) != RC_OK) {
        return rc;
    }
    if (evthread_use_pthreads() != 0) {
        return RC_EINTERNAL;
    }
    net = rc_calloc(1, sizeof(*net));
    if (net == NULL) {
        return RC_ENOMEM;
    }
    pthread_mutex_init(&net->lock, NULL);
    buf_init(&net->out);
    buf_init(&net->scratch);
    rc = net_setup(net, cfg);
    if (rc != RC_OK) {
        peer_net_destroy(net);
        return rc;
    }
    *out = net;
    return RC_OK;
}

int
peer_net_port(const struct peer_net *net)
{
    return net->port;
}

int
peer_net_start(struct peer_net *net)
{
    if (net->started) {
        return RC_EINVAL;
    }
    if (pthread_create(&net->thread, NULL, net_main, net) != 0) {
        return RC_ENOMEM;
    }
    net->started = true;
    return RC_OK;
}

void
peer_net_stop(struct peer_net *net)
{
    if (net == NULL) {
        return;
    }
    pthread_mutex_lock(&net->lock);
    net->closed = true;
    pthread_mutex_unlock(&net->lock);
    if (!net->started || net->joined) {
        return;
    }
    event_active(net->stop_ev, EV_READ, 0);
    pthread_join(net->thread, NULL);
    net->joined = true;
}

void
peer_net_destroy(struct peer_net *net)
{
    struct req *r;

    if (net == NULL) {
        return;
    }
    peer_net_stop(net);
    /* Never started: fail what was submitted, on this thread. */
    net->stopping = true;
    while ((r = list_pop(&net->submit)) != NULL) {
        r->reply.status = RC_ECLOSED;
        r->reply.why = "stopping";
        r->reply.peer = r->peer;
        req_deliver(r);
    }
    while (net->dr_head != NULL) {
        struct dreply *d = net->dr_head;

        net->dr_head = d->next;
        rc_free(d);
    }
    if (net->listener != NULL) {
        evconnlistener_free(net->listener);
    }
    for (size_t i = 0; i < net->npeers; i++) {
        struct peer *p = &net->peers[i];

        if (p->probe != NULL) {
            event_free(p->probe);
        }
        for (unsigned s = 0; s < PEER_NET_MAX_CONNECTIONS; s++) {
            if (p->slots[s].retry != NULL) {
                event_free(p->slots[s].retry);
            }
        }
        rc_free(p->name);
        rc_free(p->addr);
    }
    rc_free(net->peers);
    if (net->submit_ev != NULL) {
        event_free(net->submit_ev);
    }
    if (net->stop_ev != NULL) {
        event_free(net->stop_ev);
    }
    if (net->stop_timer != NULL) {
        event_free(net->stop_timer);
    }
    if (net->base != NULL) {
        event_base_free(net->base);
    }
    if (net->secret != NULL) {
        memset(net->secret, 0, net->hs_cfg.nsecret);
        rc_free(net->secret);
    }
    rc_free(net->name);
    buf_deinit(&net->out);
    buf_deinit(&net->scratch);
    pthread_mutex_destroy(&net->lock);
    rc_free(net);
}

/* ------------------------------------------------------------ requests from any thread */

/* Check a frame the caller built: one whole frame of the wanted kind. */
static int
frame_check(const void *frame, size_t len, int kind, struct peer_header *h)
{
    struct peer_limits lim;
    struct peer_frame f;
    struct peer_fault fault;
    size_t need = 0;

    if (frame == NULL || len < PEER_HEADER_SIZE) {
        return RC_EINVAL;
    }
    lim.version = ((const unsigned char *)frame)[2];
    lim.max_body = PEER_MAX_BODY_CEILING;
    if (lim.version < PEER_VERSION_MIN || lim.version > PEER_VERSION_MAX ||
        peer_frame_decode(&lim, frame, len, &f, &need, &fault) != RC_OK || need != len) {
        return RC_EINVAL;
    }
    if (kind == PEER_KIND_REQUEST
            ? peer_type_kind(f.h.type) != PEER_KIND_REQUEST
            : (peer_type_kind(f.h.type) != PEER_KIND_REPLY && f.h.type != PEER_T_ERROR)) {
        return RC_EINVAL;
    }
    *h = f.h;
    return RC_OK;
}

int
peer_net_request(struct peer_net *net, size_t peer, const void *frame, size_t len,
                 unsigned timeout_ms, peer_done_fn done, void *arg, struct peer_completions *q)
{
    struct peer_header h;
    struct req *r;
    bool wake, closed;

    if (peer >= net->npeers || done == NULL ||
        frame_check(frame, len, PEER_KIND_REQUEST, &h) != RC_OK) {
        return RC_EINVAL;
    }
    r = rc_calloc(1, sizeof(*r));
    if (r == NULL || (r->frame = rc_malloc(len)) == NULL) {
        rc_free(r);
        return RC_ENOMEM;
    }
    memcpy(r->frame, frame, len);
    r->nframe = len;
    r->net = net;
    r->peer = peer;
    r->type = h.type;
    r->start_us = now_us();
    r->timeout_ms = timeout_ms ? timeout_ms : net->timeout_ms;
    r->done = done;
    r->arg = arg;
    r->q = q;
    if (q != NULL) {
        completions_ref(q);
    }
    pthread_mutex_lock(&net->lock);
    closed = net->closed;
    if (!closed) {
        wake = net->submit.head == NULL;
        r->where = REQ_SUBMIT;
        list_push(&net->submit, r);
    }
    pthread_mutex_unlock(&net->lock);
    if (closed) {
        r->done = NULL;
        req_free(r);
        return RC_ECLOSED;
    }
    if (wake) {
        event_active(net->submit_ev, EV_READ, 0);
    }
    return RC_OK;
}

int
peer_net_reply(struct peer_net *net, const struct peer_ticket *t, const void *frame, size_t len)
{
    struct peer_header h;
    struct dreply *d;
    bool wake, closed;

    if (t == NULL || frame_check(frame, len, PEER_KIND_REPLY, &h) != RC_OK ||
        (h.type != PEER_T_ERROR && h.type != (t->type | 0x80))) {
        return RC_EINVAL;
    }
    d = rc_malloc(sizeof(*d) + len);
    if (d == NULL) {
        return RC_ENOMEM;
    }
    d->next = NULL;
    d->t = *t;
    d->nframe = len;
    memcpy(d->frame, frame, len);
    pthread_mutex_lock(&net->lock);
    closed = net->closed;
    if (!closed) {
        wake = net->submit.head == NULL && net->dr_head == NULL;
        if (net->dr_tail != NULL) {
            net->dr_tail->next = d;
        } else {
            net->dr_head = d;
        }
        net->dr_tail = d;
    }
    pthread_mutex_unlock(&net->lock);
    if (closed) {
        rc_free(d);
        return RC_ECLOSED;
    }
    if (wake) {
        event_active(net->submit_ev, EV_READ, 0);
    }
    return RC_OK;
}

/* ------------------------------------------------------------ queries */

size_t
peer_net_peers(const struct peer_net *net)
{
    return net->npeers;
}

bool
peer_net_healthy(const struct peer_net *net, size_t peer)
{
    return peer < net->npeers && atomic_load(&net->peers[peer].state) == PEER_STATE_UP;
}

int
peer_net_peer_index(const struct peer_net *net, const char *name, size_t *idx)
{
    long i = name != NULL ? net_find_peer(net, name, strlen(name)) : -1;

    if (i < 0) {
        return RC_ENOTFOUND;
    }
    *idx = (size_t)i;
    return RC_OK;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

int
peer_net_peer_stats(const struct peer_net *net, size_t peer, struct peer_net_peer_stats *out)
{
    struct peer *p;

    if (peer >= net->npeers) {
        return RC_EINVAL;
    }
    p = &net->peers[peer];
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", p->name);
    snprintf(out->addr, sizeof(out->addr), "%s", p->addr);
    out->state = atomic_load(&p->state);
    out->last_seen_ms = LOAD(p->last_seen_ms);
    out->rtt_us = LOAD(p->rtt_us);
    out->conns_out = LOAD(p->conns_out);
    out->conns_in = LOAD(p->conns_in);
    out->queued = LOAD(p->queued);
    out->requests_sent = LOAD(p->sent);
    out->replies = LOAD(p->replies);
    out->requests_received = LOAD(p->received);
    out->timeouts = LOAD(p->timeouts);
    out->errors = LOAD(p->errors);
    out->auth_failures = LOAD(p->auth_failures);
    out->ring_mismatches = LOAD(p->ring_mismatches);
    out->late_replies = LOAD(p->late_replies);
    out->reconnects = LOAD(p->reconnects);
    return RC_OK;
}

void
peer_net_totals(const struct peer_net *net, struct peer_net_totals *out)
{
    memset(out, 0, sizeof(*out));
    out->accepted = LOAD(net->t_accepted);
    out->auth_failures = LOAD(net->t_auth_failures);
    out->ring_mismatches = LOAD(net->t_ring_mismatches);
    out->protocol_errors = LOAD(net->t_protocol_errors);
    out->late_replies = LOAD(net->t_late_replies);
    out->timeouts = LOAD(net->t_timeouts);
    out->reconnects = LOAD(net->t_reconnects);
    out->requests_sent = LOAD(net->t_sent);
    out->requests_received = LOAD(net->t_received);
    out->refused = LOAD(net->t_refused);
}

void
peer_net_ring_digest(uint64_t ring_hash, uint8_t out[PEER_RING_HASH_SIZE])
{
    memset(out, 0, PEER_RING_HASH_SIZE);
    be_put64(out, ring_hash);
}
