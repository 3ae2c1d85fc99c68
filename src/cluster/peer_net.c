/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_net.c - the peer transport of peer_net.h: one thread, one event_base,
 * the peers and their connection pools, request ids, deadlines, reconnects
 * and health, and the API. The connections themselves (lifecycle, frames in
 * and out, the handshakes through peer_hs_*, the handlers' requests and the
 * replies to ours) are in peer_conn.c; the completion queue, and the hand-off
 * of a finished request to its owner, are in peer_completions.c; what they
 * share is in peer_net_internal.h.
 *
 * Request path (all on the peer thread once submitted):
 *
 *   peer_net_request --(lock) net->submit--> net_submit_cb --> req_dispatch
 *      arms the deadline; DOWN peer: fail at once; else the pool's READY
 *      connection with the fewest in flight and room under the responder's
 *      max in flight --> conn_send (id = ++conn->last_id) --> conn->inflight
 *      (or, all full, peer->pending until a reply frees room)
 *   reply frame --> conn_on_reply (peer_conn.c): match by id in
 *      conn->inflight (late reply: count, drop) --> peer_req_finish -->
 *      completion queue of the caller (or the callback itself when the
 *      request has no queue)
 *   deadline --> req_timeout_cb: forget the id, fail RC_EAGAIN, peer DOWN
 *   connection lost --> peer_conn_close: fail its in-flight requests RC_ECLOSED
 *
 * An attached net (peer_net.h) has no thread: peer_net_request runs
 * req_dispatch at once on the owner's thread, and the owner's base carries
 * the sockets, deadlines, probes and reconnects; net_start_cb dials,
 * net_stop_attached closes at once (no SHUTDOWN grace).
 *
 * Invariants:
 *   - every struct req is in exactly one place: net->submit, a peer's
 *     pending list, a connection's in-flight list, a completion queue, or
 *     being finished; peer_req_finish takes it out of the first three;
 *   - a connection is freed only from a timer, write or event callback of
 *     its own (peer_conn_close marks it CLOSING and schedules the free), or
 *     when the thread exits, so no caller up the stack holds a freed
 *     connection;
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
#include "cluster/peer_net_internal.h"

#define NET_STOP_GRACE_MS 250 /* to flush SHUTDOWN at stop */

/* ------------------------------------------------------------ structures */

/* A deferred reply on its way from another thread to the peer thread. */
struct dreply {
    struct dreply *next;
    struct peer_ticket t;
    size_t nframe;
    unsigned char frame[];
};

/* ------------------------------------------------------------ small helpers */

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

long
peer_find_by_name(const struct peer_net *net, const char *name, size_t len)
{
    for (size_t i = 0; i < net->npeers; i++) {
        if (strlen(net->peers[i].name) == len && memcmp(net->peers[i].name, name, len) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* ------------------------------------------------------------ requests */

/* Take r out of wherever it waits (not the submit queue), stop its deadline,
 * set its outcome and deliver it. */
void
peer_req_finish(struct req *r, int status, uint16_t code, const char *why)
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
    peer_req_deliver(r);
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
    peer_req_finish(r, RC_EAGAIN, PEER_OK, "timeout");
    peer_down(net, idx, "request timed out");
    if (dead != NULL) {
        peer_conn_close(dead, "PING timed out", false);
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

bool
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
        peer_req_finish(r, RC_ETOOLARGE, PEER_OK, "frame over the peer's limit");
        return;
    }
    r->id = ++c->last_id;
    r->frame[2] = c->version;
    be_put64(r->frame + 8, r->id);
    if (peer_conn_write(c, r->frame, r->nframe) != RC_OK) {
        peer_req_finish(r, RC_ENOMEM, PEER_OK, "out of memory");
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
void
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
        peer_req_finish(r, RC_EAGAIN, PEER_OK, "timeout");
        return;
    }
    if (!r->internal && atomic_load(&p->state) != PEER_STATE_UP) {
        peer_req_finish(r, RC_ECLOSED, PEER_OK, "peer down");
        return;
    }
    r->timer = evtimer_new(net->base, req_timeout_cb, r);
    tv = ms_tv(r->timeout_ms - waited_ms);
    if (r->timer == NULL || evtimer_add(r->timer, &tv) != 0) {
        peer_req_finish(r, RC_ENOMEM, PEER_OK, "out of memory");
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
        peer_req_finish(r, RC_EAGAIN, PEER_OK, "queue full");
    } else {
        r->where = REQ_PENDING;
        if (r->internal) { /* a PING measures the peer, not our queue */
            list_push_front(&p->pending, r);
        } else {
            list_push(&p->pending, r);
        }
    }
}

void
peer_fail_pending(struct peer_net *net, size_t idx, int status, const char *why)
{
    struct peer *p = &net->peers[idx];

    while (p->pending.head != NULL) {
        peer_req_finish(p->pending.head, status, PEER_OK, why);
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

const char peer_why_shutdown[] = "peer shutting down";

void
peer_down(struct peer_net *net, size_t idx, const char *why)
{
    struct peer *p = &net->peers[idx];

    if (atomic_load(&p->state) != PEER_STATE_UP) {
        return;
    }
    atomic_store(&p->state, PEER_STATE_DOWN);
    if (net->stopping) {
        /* quiet */
    } else if (net->attached && why == peer_why_shutdown) {
        /* An orderly stop: the peer thread's net warns once for the node. */
        log_info("peer %s is down for one worker's connections: %s", p->name, why);
    } else if (net->attached) {
        /* One worker's view. Logged at warning level too: a timeout on a
         * worker's own connection may be seen by no other net, and it is
         * what turns that worker's requests into quorum errors. */
        log_warn("peer %s is down for one worker's connections: %s", p->name, why);
    } else {
        log_warn("peer %s is down: %s", p->name, why);
    }
    p->probe_ms = net->backoff_min;
    probe_schedule(net, idx, p->probe_ms);
}

void
peer_up(struct peer_net *net, size_t idx, const char *why)
{
    struct peer *p = &net->peers[idx];

    atomic_store(&p->last_seen_ms, util_now_ms());
    if (atomic_load(&p->state) == PEER_STATE_UP) {
        return;
    }
    atomic_store(&p->state, PEER_STATE_UP);
    if (net->attached) {
        log_info("peer %s is up for one worker's connections: %s", p->name, why);
    } else {
        log_info("peer %s is up: %s", p->name, why);
    }
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

/* ------------------------------------------------------------ addresses */

void
peer_sockaddr_text(const struct sockaddr *sa, char *out, size_t n)
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
    c = peer_conn_new(net, -1, PEER_ROLE_INITIATOR);
    if (c == NULL) {
        peer_slot_retry(net, idx, s);
        return;
    }
    c->peer = (long)idx;
    c->slot = s;
    snprintf(c->addr, sizeof(c->addr), "%s", p->addr);
    p->slots[s].conn = c;
    p->slots[s].tried = true;
    evtimer_add(c->timer, &tv);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->sa, (int)p->salen) != 0) {
        peer_conn_close(c, "connect failed", false);
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

void
peer_slot_retry(struct peer_net *net, size_t idx, int s)
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
    c = peer_conn_new(net, fd, PEER_ROLE_RESPONDER);
    if (c == NULL) {
        return;
    }
    peer_sockaddr_text(sa, c->addr, sizeof(c->addr));
    c->unauth = true;
    net->nunauth++;
    evtimer_add(c->timer, &tv);
    if (peer_conn_hs_begin(c) != RC_OK) {
        peer_conn_close(c, "cannot start the handshake", false);
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
            peer_req_finish(r, RC_ECLOSED, PEER_OK, "stopping");
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
            (void)peer_conn_write(c, d->frame, d->nframe);
            c->deferred--;
            peer_conn_resume(c);
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

/* At stop: no more probes or reconnects, and what waits for a connection
 * fails. */
static void
net_quiesce_peers(struct peer_net *net)
{
    for (size_t i = 0; i < net->npeers; i++) {
        struct peer *p = &net->peers[i];

        evtimer_del(p->probe);
        for (unsigned s = 0; s < net->connections; s++) {
            evtimer_del(p->slots[s].retry);
        }
        peer_fail_pending(net, i, RC_ECLOSED, "stopping");
    }
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
    net_quiesce_peers(net);
    for (c = net->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_READY || c->state == CONN_HANDSHAKE) {
            peer_conn_send_error(c, PEER_SHUTDOWN, "shutting down");
        }
        peer_conn_close(c, "stopping", true);
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

/* The end of a loop pass: what the pass wrote goes out, a send per
 * connection. */
static void
net_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    peer_conn_flush_all(arg);
}

/* Open every pool slot and start the keepalives. */
static void
net_dial_all(struct peer_net *net)
{
    for (size_t i = 0; i < net->npeers; i++) {
        for (unsigned s = 0; s < net->connections; s++) {
            slot_connect(net, i, (int)s);
        }
        probe_schedule(net, i, net->ping_ms);
    }
}

/* Close and free whatever connections are left, at once. */
static void
net_close_all(struct peer_net *net)
{
    net->stopping = true;
    while (net->conns != NULL) {
        peer_conn_close(net->conns, "stopping", false);
        peer_conn_free(net->conns);
    }
}

static void *
net_main(void *arg)
{
    struct peer_net *net = arg;

    net_dial_all(net);
    event_base_dispatch(net->base);
    net_close_all(net); /* whatever did not close in the grace period */
    return NULL;
}

/* Attached: the owner's base runs, on its thread. */
static void
net_start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_net *net = arg;

    (void)fd;
    (void)what;
    if (!net->stopping) {
        net_dial_all(net);
    }
}

/* Attached: stop on the owner's thread (or after its loop ended), at once. */
static void
net_stop_attached(struct peer_net *net)
{
    net->stopping = true;
    if (net->start_ev != NULL) {
        event_del(net->start_ev);
    }
    net_quiesce_peers(net);
    net_close_all(net);
    for (size_t i = 0; i < net->npeers; i++) {
        atomic_store(&net->peers[i].state, PEER_STATE_DOWN);
    }
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
    if (cfg->base != NULL && cfg->listen != NULL) {
        log_error("peer transport: an attached net cannot listen");
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

/* like: a net whose resolved peer addresses are taken instead of resolving
 * the configured ones again (peer_net_attach); NULL resolves. */
static int
net_setup(struct peer_net *net, const struct peer_net_config *cfg, const struct peer_net *like)
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

    net->attached = cfg->base != NULL;
    net->base = net->attached ? cfg->base : event_base_new();
    /* Own base: three priorities as a worker's, sockets and timers at the
     * default (1), the end-of-pass flush below them. */
    if (net->base == NULL || (!net->attached && event_base_priority_init(net->base, 3) != 0)) {
        return RC_EINTERNAL;
    }
    net->flush_ev = event_new(net->base, -1, 0, net_flush_cb, net);
    if (net->flush_ev == NULL ||
        event_priority_set(net->flush_ev, event_base_get_npriorities(net->base) - 1) != 0) {
        return RC_ENOMEM;
    }
    if (net->attached) {
        net->start_ev = event_new(net->base, -1, 0, net_start_cb, net);
        if (net->start_ev == NULL) {
            return RC_ENOMEM;
        }
    } else {
        net->submit_ev = event_new(net->base, -1, EV_PERSIST, net_submit_cb, net);
        net->stop_ev = event_new(net->base, -1, 0, net_stop_cb, net);
        net->stop_timer = evtimer_new(net->base, net_stop_timer_cb, net);
        if (net->submit_ev == NULL || net->stop_ev == NULL || net->stop_timer == NULL) {
            return RC_ENOMEM;
        }
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
        if (like != NULL) {
            p->sa = like->peers[i].sa;
            p->salen = like->peers[i].salen;
        } else if ((rc = resolve(cfg->peers[i].addr, false, &p->sa, &p->salen)) != RC_OK) {
            return rc;
        }
    }
    if (cfg->listen != NULL) {
        return net_listen(net, cfg->listen);
    }
    return RC_OK;
}

static int
net_create(const struct peer_net_config *cfg, const struct peer_net *like, struct peer_net **out)
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
    rc = net_setup(net, cfg, like);
    if (rc != RC_OK) {
        peer_net_destroy(net);
        return rc;
    }
    *out = net;
    return RC_OK;
}

int
peer_net_create(const struct peer_net_config *cfg, struct peer_net **out)
{
    return net_create(cfg, NULL, out);
}

int
peer_net_attach(const struct peer_net *parent, struct event_base *base, unsigned connections,
                struct peer_net **out)
{
    struct peer_net_peer_config *peers;
    struct peer_net_config cfg;
    int rc;

    *out = NULL;
    if (base == NULL) {
        return RC_EINVAL;
    }
    peers = rc_calloc(parent->npeers > 0 ? parent->npeers : 1, sizeof(*peers));
    if (peers == NULL) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < parent->npeers; i++) {
        peers[i].name = parent->peers[i].name;
        peers[i].addr = parent->peers[i].addr;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = parent->name;
    memcpy(cfg.node_id, parent->hs_cfg.node_id, sizeof(cfg.node_id));
    memcpy(cfg.ring_hash, parent->hs_cfg.ring_hash, sizeof(cfg.ring_hash));
    cfg.partitions = parent->hs_cfg.partitions;
    cfg.replicas = parent->hs_cfg.replicas;
    cfg.secret = parent->secret;
    cfg.nsecret = parent->hs_cfg.nsecret;
    cfg.peers = peers;
    cfg.npeers = parent->npeers;
    cfg.timeout_ms = parent->timeout_ms;
    cfg.max_body = parent->hs_cfg.max_body;
    cfg.connections = connections;
    cfg.max_inflight = parent->hs_cfg.max_inflight;
    cfg.ping_interval_ms = parent->ping_ms;
    cfg.backoff_min_ms = parent->backoff_min;
    cfg.backoff_max_ms = parent->backoff_max;
    cfg.base = base;
    rc = net_create(&cfg, parent, out);
    rc_free(peers);
    return rc;
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
    if (net->attached) {
        net->started = true;
        event_active(net->start_ev, EV_READ, 0);
        return RC_OK;
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
    if (net->attached) {
        net_stop_attached(net);
        net->joined = true;
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
        peer_req_deliver(r);
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
    if (net->start_ev != NULL) {
        event_free(net->start_ev);
    }
    if (net->flush_ev != NULL) {
        event_free(net->flush_ev);
    }
    if (net->base != NULL && !net->attached) {
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

    if (peer >= net->npeers || done == NULL || (net->attached && q == NULL) ||
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
        peer_completions_ref(q);
    }
    if (net->attached) { /* on the owner's thread: straight to a connection */
        if (net->closed) {
            r->done = NULL;
            peer_req_free(r);
            return RC_ECLOSED;
        }
        req_dispatch(net, r);
        return RC_OK;
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
        peer_req_free(r);
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

    if (t == NULL || net->attached || frame_check(frame, len, PEER_KIND_REPLY, &h) != RC_OK ||
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
    long i = name != NULL ? peer_find_by_name(net, name, strlen(name)) : -1;

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
