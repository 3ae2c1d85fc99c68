/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_conn.c - one connection of the peer transport (peer_net.c), on the
 * peer thread: its lifecycle (peer_conn_new, peer_conn_close, the free from a
 * callback of its own), reading frames and writing them, the handshake
 * driven through peer_hs_*, the requests of a responder run by the handlers
 * of peer_net.h, and the replies of an initiator matched to the requests
 * waiting for them. What it shares with peer_net.c is in peer_net_internal.h.
 *
 *   bytes --> conn_read_cb --> peer_frame_decode --> conn_on_frame:
 *      HANDSHAKE: conn_on_hs_frame --> peer_hs_input --> conn_hs_done (the
 *         peer named, the limits taken, READY) or conn_hs_failed (close)
 *      initiator: conn_on_reply --> by id in conn->inflight -->
 *         peer_req_finish (late reply: count, drop)
 *      responder: conn_on_request --> conn_call --> the handler --> the
 *         reply, or PEER_NET_DEFER (peer_net_reply sends it later)
 *
 * No byte of an unauthenticated connection reaches a handler: until the
 * handshake is done its frames go to peer_hs_input only. A responder stops
 * reading (back-pressure) while its output passes NET_OUT_PAUSE or its
 * deferred requests reach our max in flight, and resumes as they drain.
 */
#include "config.h"

#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "base/log.h"
#include "base/mac.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_net.h"
#include "cluster/peer_net_internal.h"

#define NET_OUT_PAUSE      (8u << 20)  /* stop reading a responder above this output */
#define NET_CLOSE_GRACE_MS 1000        /* to flush a final ERROR */
#define NET_STAGE_KEEP     (64u << 10) /* stage capacity kept between passes */
#define NET_RING_LOG_MS    60000       /* ring mismatch: once per peer per minute */
#define NET_AUTH_LOG_MS    1000        /* auth failures: at most once a second */
#define NET_RTT_WEIGHT     8           /* EWMA: new = old + (sample - old) / 8 */

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

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

struct conn *
peer_conn_new(struct peer_net *net, evutil_socket_t fd, enum peer_role role)
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
    buf_init(&c->stage);
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
        buf_deinit(&c->stage);
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
void
peer_conn_free(struct conn *c)
{
    struct peer_net *net = c->net;

    assert(c->state == CONN_CLOSING && c->inflight.n == 0 && !c->dirty);
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
    buf_deinit(&c->stage);
    rc_free(c);
    if (net->stopping && net->conns == NULL && !net->attached) {
        event_base_loopbreak(net->base);
    }
}

/* Bytes queued and not yet sent: the bufferevent's output and the stage. */
static size_t
conn_out_len(const struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev)) + c->stage.len;
}

/* Take the connection out of net->dirty (it is there when dirty is set). */
static void
conn_undirty(struct conn *c)
{
    struct conn **pp = &c->net->dirty;

    if (!c->dirty) {
        return;
    }
    while (*pp != c) {
        pp = &(*pp)->dirty_next;
    }
    *pp = c->dirty_next;
    c->dirty_next = NULL;
    c->dirty = false;
}

/* Frames are staged and sent together at the end of the loop pass: one
 * send(2) per connection per pass, where the bufferevent would arm EPOLLOUT,
 * wait for it, write and disarm it (four system calls, and a pass later),
 * and where a send per frame would cost a system call and a wake-up of the
 * peer for every frame under load. While the bufferevent holds bytes (the
 * socket was full, or the connect is in progress) they queue behind them
 * there instead. */
int
peer_conn_write(struct conn *c, const void *p, size_t n)
{
    struct peer_net *net = c->net;

    if (c->state == CONN_CONNECTING || evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        return bufferevent_write(c->bev, p, n) == 0 ? RC_OK : RC_ENOMEM;
    }
    if (buf_append(&c->stage, p, n) != RC_OK) {
        return RC_ENOMEM;
    }
    if (!c->dirty) {
        if (net->dirty == NULL) {
            event_active(net->flush_ev, EV_WRITE, 0);
        }
        c->dirty = true;
        c->dirty_next = net->dirty;
        net->dirty = c;
    }
    return RC_OK;
}

/* Send the stage; what the socket does not take goes to the bufferevent (a
 * send error is left for it to meet and report). */
static void
conn_stage_send(struct conn *c)
{
    const char *b = c->stage.data;
    size_t n = c->stage.len;
    ssize_t w = send(bufferevent_getfd(c->bev), b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (w > 0) {
        b += w;
        n -= (size_t)w;
    }
    if (n > 0 && bufferevent_write(c->bev, b, n) != 0) {
        buf_reset(&c->stage);
        peer_conn_close(c, "out of memory", false); /* part of a frame is out */
        return;
    }
    buf_reset(&c->stage);
    buf_shrink(&c->stage, NET_STAGE_KEEP); /* a burst's memory goes back */
    peer_conn_resume(c);                   /* a pause for output may be over */
}

void
peer_conn_flush_all(struct peer_net *net)
{
    struct conn *c;

    while ((c = net->dirty) != NULL) {
        net->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        if (c->stage.len > 0 && c->state != CONN_CLOSING) {
            conn_stage_send(c);
        }
    }
}

/* Write and empty net->out. */
static void
conn_flush_out(struct conn *c)
{
    struct peer_net *net = c->net;

    if (net->out.len > 0) {
        (void)peer_conn_write(c, net->out.data, net->out.len);
        buf_reset(&net->out);
    }
}

/* Send a connection-level ERROR (id 0). */
void
peer_conn_send_error(struct conn *c, uint16_t code, const char *text)
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
void
peer_conn_close(struct conn *c, const char *why, bool flush)
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
    conn_undirty(c);
    if (flush && c->stage.len > 0 && was != CONN_CONNECTING) { /* behind the grace below */
        (void)bufferevent_write(c->bev, c->stage.data, c->stage.len);
    }
    buf_reset(&c->stage);
    log_debug("peer connection %s (%s, %s): closing: %s", c->addr, conn_peer_name(c),
              c->role == PEER_ROLE_INITIATOR ? "out" : "in", why);
    while (c->inflight.head != NULL) {
        peer_req_finish(c->inflight.head, RC_ECLOSED, PEER_OK,
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
            peer_slot_retry(net, (size_t)c->peer, c->slot);
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
    peer_conn_close(c, fault->why, true);
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
        peer_conn_free(c);
        return;
    }
    /* The handshake (or the connect) passed its deadline. */
    if (c->state == CONN_HANDSHAKE) {
        peer_conn_send_error(c, PEER_TIMEOUT, "handshake timed out");
    }
    if (c->peer >= 0 && c->role == PEER_ROLE_INITIATOR) {
        log_debug("peer %s: %s timed out", conn_peer_name(c),
                  c->state == CONN_CONNECTING ? "connect" : "handshake");
    }
    peer_conn_close(c, "handshake timed out", true);
}

void
peer_conn_resume(struct conn *c)
{
    size_t out = conn_out_len(c);

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
    size_t out = conn_out_len(c);

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
        peer_conn_free(c);
        return;
    }
    peer_conn_resume(c);
}

/* ------------------------------------------------------------ handshake */

int
peer_conn_hs_begin(struct conn *c)
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
    NET_LOG(c->net, log_error,
            "RING MISMATCH with peer %.*s (%s, id %s): this node %s (id %s) has ring %s Q=%u "
            "N=%u, the peer has ring %s Q=%u N=%u; refusing it until the configurations agree",
            (int)h->nname, h->name, c->addr, theirid, net->name, myid, mine, net->hs_cfg.partitions,
            net->hs_cfg.replicas, theirs, h->partitions, h->replicas);
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
            NET_LOG(c->net, log_error,
                    "peer authentication FAILED (%s) on %s connection %s%s%s: wrong "
                    "--cluster-secret-file on one side?",
                    how, c->role == PEER_ROLE_INITIATOR ? "outgoing" : "incoming", c->addr,
                    p != NULL ? " to " : "", p != NULL ? p->name : "");
        }
    } else if (code == PEER_RING_MISMATCH) {
        long idx = c->hs.hello.nname > 0
                       ? peer_find_by_name(net, c->hs.hello.name, c->hs.hello.nname)
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
            NET_LOG(c->net, log_warn, "peer %s (%s): handshake %s: %s", p->name, c->addr, how,
                    peer_code_name(code));
        }
    }
    peer_conn_close(c, "handshake failed", true);
}

/* The handshake is complete: name the peer, take the limits. */
static void
conn_hs_done(struct conn *c)
{
    struct peer_net *net = c->net;
    const struct peer_hello *h = &c->hs.hello;
    long idx = peer_find_by_name(net, h->name, h->nname);
    struct peer *p;

    peer_hs_limits(&c->hs, &c->lim);
    c->version = c->hs.version;
    c->peer_max_body = h->max_body;
    c->peer_max_inflight = h->max_inflight;
    evtimer_del(c->timer);
    if (c->role == PEER_ROLE_INITIATOR) {
        p = &net->peers[c->peer];
        if (idx != c->peer) {
            NET_LOG(c->net, log_error, "peer %s (%s) answered as \"%.*s\": refusing it", p->name,
                    c->addr, (int)h->nname, h->name);
            p->slots[c->slot].backoff_ms = net->backoff_max;
            peer_conn_send_error(c, PEER_UNKNOWN_PEER, "unexpected node name");
            peer_conn_close(c, "unexpected node name", true);
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
        peer_conn_send_error(c, PEER_UNKNOWN_PEER, "not a member");
        peer_conn_close(c, "unknown peer", true);
        return;
    }
    p = &net->peers[idx];
    if (p->nin >= PEER_NET_MAX_INBOUND) {
        CNT(net, t_refused);
        log_warn("peer %s: too many incoming connections; refusing %s", p->name, c->addr);
        peer_conn_send_error(c, PEER_PROTOCOL, "too many connections");
        peer_conn_close(c, "too many connections", true);
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
        peer_req_finish(r, RC_OK, PEER_OK, NULL);
        peer_up(net, (size_t)c->peer, "answered PING");
        return;
    }
    peer_req_finish(r, RC_EPROTO, PEER_OK, "bad PONG");
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
        NET_LOG(c->net, log_info, "peer %s (%s) closed the connection: %s %.*s", p->name, c->addr,
                peer_code_name(e.code), (int)e.ntext, e.text);
        peer_conn_close(c, e.code == PEER_SHUTDOWN ? peer_why_shutdown : "peer sent ERROR", false);
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
            peer_req_finish(r, RC_ENOMEM, PEER_OK, "out of memory");
            peer_pump(net, (size_t)c->peer);
            return;
        }
        memcpy(r->rbody, f->body, f->h.body_len);
    }
    r->reply.frame.h = f->h;
    r->reply.frame.body = r->rbody;
    peer_req_finish(r, status, code, NULL);
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
            NET_LOG(c->net, log_info, "peer %s (%s) sent %s: %.*s", p->name, c->addr,
                    peer_code_name(e.code), (int)e.ntext, e.text);
        }
        peer_conn_close(c, "peer sent ERROR", false);
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
            peer_conn_close(c, "out of memory", false);
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
        peer_sockaddr_text((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
    }
    if (peer_conn_hs_begin(c) != RC_OK) {
        peer_conn_close(c, "cannot start the handshake", false);
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
        peer_conn_free(c);
        return;
    }
    if (c->state == CONN_CONNECTING) {
        log_debug("peer %s: connect to %s failed: %s", conn_peer_name(c), c->addr,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        peer_conn_close(c, "connect failed", false);
        return;
    }
    peer_conn_close(c, (what & BEV_EVENT_EOF) ? "closed by the peer" : "connection error", false);
}
