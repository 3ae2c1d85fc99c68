/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_net.h - the peer transport: the sockets, connection pools, handshakes,
 * timeouts, reconnects and health of doc/peer-protocol.txt ("PP.n", section
 * 16 for the local policy), built on the pure codec of peer_codec.h.
 *
 * One peer_net owns one thread with its own libevent event_base. Every
 * socket, timer and handler call lives on that thread. Other threads talk to
 * it only through two queues:
 *
 *   worker thread                      peer thread                 peer node
 *   -------------                      -----------                 ---------
 *   peer_net_request --submit queue--> pick a connection of the
 *     (frame copied)   + event_active  peer's pool, give it an id,
 *                                      arm its deadline   --frame-->
 *                                      match the reply by id <--reply--
 *   peer_completions_drain <--------- completion pushed on the
 *     runs the callback   notify()     caller's peer_completions
 *
 *   peer node --request--> handler table (on the peer thread) --reply-->
 *
 * Outbound: for each configured peer the net keeps `connections` sockets it
 * dialled (the pool), each authenticated as initiator, each reopened after a
 * failure with a backoff of 100 ms doubling to 10 s, +-20 % jitter, reset by
 * a completed handshake and held at its maximum after an authentication
 * failure or a ring mismatch. Inbound: a listener; every accepted socket runs
 * the handshake as responder and, once authenticated and named as one of the
 * configured peers, has its requests served by the handler table.
 *
 * Health: a peer is UP after a completed handshake or a PONG; DOWN after a
 * lost connection, a failed connect or handshake, or a request that passed its
 * deadline. While DOWN it is sent no requests (they fail at once) and is
 * probed with PING at the backoff intervals; while UP a PING every
 * ping_interval_ms measures the round trip (and last seen). A PING past its
 * deadline also closes the connection it went on (the net answers PING at
 * once, so the connection is dead or the peer stuck), which is reopened with
 * the backoff. peer_net_healthy and peer_net_peer_stats read atomics.
 *
 * Bounds: frames by the handshake limits (1044 bytes before it, the max
 * body each side announced after; checked from the header before the body is
 * buffered); at most PEER_NET_MAX_UNAUTHENTICATED sockets in the handshake,
 * each for at most timeout_ms; PEER_NET_MAX_INBOUND authenticated inbound
 * sockets per peer; a responder stops reading a connection whose deferred
 * requests reach its max in flight or whose output passes 8 MiB; at most
 * PEER_NET_MAX_PENDING requests wait per peer for room on a connection.
 *
 * Ring hash: the HELLO carries 32 bytes; kv/ring computes a 64-bit hash.
 * peer_net_ring_digest writes the canonical form this daemon sends: the
 * 8-byte big-endian ring_hash() followed by 24 zero bytes.
 *
 * Attached nets: with cfg->base set, the net runs on that event_base (a
 * server worker's) instead of a thread of its own, so the worker that sends a
 * request also writes its frame and reads its reply: no thread hand-off on
 * either side. An attached net only dials (no listener, no handlers' calls,
 * no peer_net_reply); peer_net_request must be called on the base's thread
 * and with a completion queue (a failure found at once is then delivered
 * through it, never inside the call); peer_net_start only asks the base to
 * dial once it runs; peer_net_stop and peer_net_destroy must be called on
 * that thread or after its loop has ended, and they fail every request and
 * release every connection at once, without the SHUTDOWN grace (libevent
 * closes the sockets themselves when the base next runs or is freed). Health, pings and reconnects
 * are the attached net's own: each one is a view of the peers from its own connections.
 *
 * Threads: create, start, stop and destroy belong to the owner and must not
 * be called from the peer thread (a handler, or the callback of a request
 * sent without a queue): stop joins that thread. peer_net_request,
 * peer_net_reply and the queries are safe from any thread, the peer thread
 * included. Locks and their order: doc comment at the top of peer_net.c.
 *
 * Ownership: the configuration is copied by peer_net_create. A request frame
 * is copied by peer_net_request. A reply's bytes belong to the net and are
 * valid only during the completion callback.
 */
#ifndef RC_CLUSTER_PEER_NET_H
#define RC_CLUSTER_PEER_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "cluster/peer_codec.h"

struct event_base;

#define PEER_NET_DEFAULT_TIMEOUT_MS  500
#define PEER_NET_DEFAULT_CONNECTIONS 2
#define PEER_NET_MAX_CONNECTIONS     16
#define PEER_NET_DEFAULT_INFLIGHT    128
#define PEER_NET_DEFAULT_PING_MS     1000
#define PEER_NET_BACKOFF_MIN_MS      100
#define PEER_NET_BACKOFF_MAX_MS      10000
#define PEER_NET_MAX_PENDING         65536 /* per peer, waiting for a connection */
#define PEER_NET_MAX_UNAUTHENTICATED 64    /* inbound sockets still in the handshake */
/* Authenticated inbound sockets one peer may hold: its own pools (its
 * thread's and every worker's attached net) with room for reconnects. */
#define PEER_NET_MAX_INBOUND 320
#define PEER_NET_ADDR_MAX    128

/* ------------------------------------------------------------ completions
 *
 * A completion queue belongs to one thread (a server worker). The peer
 * thread pushes finished requests onto it and calls notify(notify_arg) when
 * the queue goes from empty to non-empty; the owner then calls
 * peer_completions_drain on its own thread, which runs each request's
 * callback there. notify runs on the peer thread, with the queue's lock
 * held, and must only wake the owner (event_active on the owner's base, a
 * write to an eventfd, ...), never call peer_completions_*.
 *
 * Reference-counted: every request in flight holds a reference, so
 * peer_completions_destroy may be called at any time; completions that
 * arrive afterwards are freed without their callbacks being run.
 */
struct peer_completions;
typedef void (*peer_notify_fn)(void *arg);

/* RC_OK or RC_ENOMEM. notify may be NULL (the owner polls). */
int peer_completions_create(peer_notify_fn notify, void *notify_arg, struct peer_completions **out);
/* Drop the owner's reference; queued completions are discarded. NULL is fine. */
void peer_completions_destroy(struct peer_completions *q);
/* Run the callbacks of every completion queued now, on the calling thread
 * (which must be the owner's). Never blocks for long (one mutex). Returns
 * how many ran. */
size_t peer_completions_drain(struct peer_completions *q);

/* What became of one request. status:
 *   RC_OK       the peer answered with the request's reply type: `frame`
 *               (decode it with the matching peer_*_decode);
 *   code != 0   the peer answered ERROR (PP.13): status is
 *               peer_code_to_status(code), `frame` is the ERROR frame;
 *   RC_EAGAIN   the deadline passed (why "timeout"), or the peer's queue was
 *               full (why "queue full"): not known to have been applied;
 *   RC_ECLOSED  the peer is down, the connection was lost with the request
 *               in flight, or the net is stopping (why says which);
 *   RC_ETOOLARGE the frame passes the limit the peer announced.
 * frame.body is valid only during the callback. */
struct peer_reply {
    int status;
    uint16_t code;           /* the ERROR's code, or PEER_OK */
    const char *why;         /* static text for logs, NULL with a reply */
    size_t peer;             /* the peer's index in the configuration */
    uint64_t elapsed_us;     /* from peer_net_request to completion */
    struct peer_frame frame; /* h.type 0 when there is no frame */
};
typedef void (*peer_done_fn)(void *arg, const struct peer_reply *r);

/* ------------------------------------------------------------ handlers
 *
 * Requests from authenticated peers are served on the peer thread by this
 * table. The net decodes the request (the pointers in *m point into the
 * frame, valid during the call) and encodes the reply the handler fills in.
 * Pointers the handler puts in the reply must stay valid until it returns
 * control to the net; call->scratch (reset before every call, owned by the
 * net) is there for bytes that need a home.
 *
 * Return RC_OK to send the reply; any other status sends ERROR on the
 * request's id with call->error_code when the handler set one (a code below
 * PEER_CODE_CONNECTION, e.g. PEER_NOT_REPLICA) and call->error_text, else
 * peer_code_from_status(status). A NULL entry answers ERROR DISABLED.
 *
 * PEER_NET_DEFER: the handler keeps call->ticket and answers later, from any
 * thread, with peer_net_reply. Until it does, the request counts against the
 * connection's max in flight (the net stops reading it at the limit).
 * PING is answered by the net itself.
 */
#define PEER_NET_DEFER 1

/* Names the request a deferred reply answers; a plain value to copy. */
struct peer_ticket {
    uint64_t conn; /* connection serial */
    uint64_t id;   /* request id */
    uint8_t type;  /* request type */
};

struct peer_call {
    size_t peer;           /* index of the requesting peer */
    const char *peer_name; /* its name, NUL-terminated */
    uint64_t id;
    struct peer_ticket ticket;
    struct buf *scratch;
    uint16_t error_code;    /* out: with a failure status */
    const char *error_text; /* out: static or scratch text, printable ASCII */
};

struct peer_handlers {
    void *arg;
    int (*put)(void *arg, struct peer_call *call, const struct peer_put *m,
               struct peer_put_ack *ack);
    int (*get)(void *arg, struct peer_call *call, const struct peer_get *m,
               struct peer_get_reply *reply);
    int (*forward)(void *arg, struct peer_call *call, const struct peer_forward *m,
                   struct peer_forward_reply *reply);
    int (*flush)(void *arg, struct peer_call *call, const struct peer_flush *m);
};

/* ------------------------------------------------------------ the net */

struct peer_net_peer_config {
    const char *name; /* the peer's --name, as its HELLO must carry it */
    const char *addr; /* where to dial it: "host:port", "[v6]:port" */
};

struct peer_net_config {
    const char *name; /* this node: HELLO name rules (1..64 of A-Z a-z 0-9 . _ -) */
    uint8_t node_id[PEER_NODE_ID_SIZE];
    uint8_t ring_hash[PEER_RING_HASH_SIZE]; /* see peer_net_ring_digest */
    uint32_t partitions;                    /* Q */
    uint16_t replicas;                      /* N */
    const void *secret;                     /* >= PEER_SECRET_MIN bytes, copied */
    size_t nsecret;
    const char *listen; /* "host:port" (port 0: ephemeral); NULL: no listener */
    const struct peer_net_peer_config *peers;
    size_t npeers;
    unsigned timeout_ms;       /* requests and handshakes; 0: the default */
    uint32_t max_body;         /* announced; 0: PEER_MAX_BODY_MIN */
    unsigned connections;      /* outbound pool per peer, 1..16; 0: the default */
    uint16_t max_inflight;     /* announced; 0: the default */
    unsigned ping_interval_ms; /* 0: the default */
    unsigned backoff_min_ms;   /* 0: PEER_NET_BACKOFF_MIN_MS */
    unsigned backoff_max_ms;   /* 0: PEER_NET_BACKOFF_MAX_MS */
    struct peer_handlers handlers;
    struct event_base *base; /* attached to this base (see above); NULL: own thread */
};

enum peer_state { PEER_STATE_DOWN = 0, PEER_STATE_UP, PEER_STATE__COUNT };
const char *peer_state_name(int state);

/* A snapshot of one peer, for `members` and `stats cluster`. */
struct peer_net_peer_stats {
    char name[PEER_NAME_MAX + 1];
    char addr[PEER_NET_ADDR_MAX];
    int state;            /* enum peer_state */
    int64_t last_seen_ms; /* wall clock of the last valid frame from it; 0: never */
    uint64_t rtt_us;      /* PING round trip, EWMA (1/8); 0: not measured */
    uint32_t conns_out;   /* authenticated connections this node dialled */
    uint32_t conns_in;    /* authenticated connections it accepted */
    uint64_t queued;      /* requests waiting for a connection or in flight */
    uint64_t requests_sent;
    uint64_t replies;
    uint64_t requests_received;
    uint64_t timeouts;
    uint64_t errors; /* connections lost or failed, ERROR replies */
    uint64_t auth_failures;
    uint64_t ring_mismatches;
    uint64_t late_replies;
    uint64_t reconnects;
};

/* Totals over the whole net (PP.16's counters), including what cannot be
 * attributed to a configured peer (unauthenticated sockets). */
struct peer_net_totals {
    uint64_t accepted;
    uint64_t auth_failures;
    uint64_t ring_mismatches;
    uint64_t protocol_errors;
    uint64_t late_replies;
    uint64_t timeouts;
    uint64_t reconnects;
    uint64_t requests_sent;
    uint64_t requests_received;
    uint64_t refused; /* sockets closed for a bound (unauthenticated, per peer) */
};

struct peer_net;

/* Validate and copy the configuration, resolve the peer addresses (numeric
 * or through the resolver, once), bind the listener. Nothing runs until
 * peer_net_start. RC_EINVAL (the configuration; logged), RC_EIO (bind),
 * RC_ENOMEM, RC_EINTERNAL (libevent). *out is NULL on failure. */
int peer_net_create(const struct peer_net_config *cfg, struct peer_net **out);
/* An attached net on base (see above) with parent's identity, secret,
 * ring, limits, timeouts and peers, whose addresses it takes as parent
 * resolved them (no second lookup), `connections` sockets per peer (0: the
 * default) and no handlers. parent is only read, and may be running.
 * RC_OK, RC_EINVAL, RC_ENOMEM, RC_EINTERNAL; *out is NULL on failure. */
int peer_net_attach(const struct peer_net *parent, struct event_base *base, unsigned connections,
                    struct peer_net **out);
/* The bound listener port (0 without a listener). */
int peer_net_port(const struct peer_net *net);
/* Start the peer thread: it dials every peer (attached: the base dials them
 * once it runs). RC_OK, RC_EINVAL (already started), RC_ENOMEM. */
int peer_net_start(struct peer_net *net);
/* Graceful stop: refuse new requests, fail every queued and in-flight one
 * with RC_ECLOSED ("stopping"), send ERROR SHUTDOWN on every connection,
 * close, and join the thread. Idempotent; a stopped net cannot restart. */
void peer_net_stop(struct peer_net *net);
/* Stop if needed, then free everything. NULL is fine. */
void peer_net_destroy(struct peer_net *net);

/* Send one request to peer `peer` (its index in the configuration), from any
 * thread. frame: one whole request frame (PING, PUT, GET, FORWARD or FLUSH)
 * as a peer_*_encode function builds it, with any version and any non-zero
 * id: the net copies it and rewrites both for the connection it uses.
 * timeout_ms: the deadline from now (0: the net's timeout). done(arg, reply)
 * runs exactly once, on the thread that drains q, or on the peer thread
 * when q is NULL. Returns RC_OK when the request was taken (done will run),
 * or RC_EINVAL (no such peer, not a request frame, an attached net without
 * q), RC_ECLOSED (stopped), RC_ENOMEM; done will then never run. */
int peer_net_request(struct peer_net *net, size_t peer, const void *frame, size_t len,
                     unsigned timeout_ms, peer_done_fn done, void *arg, struct peer_completions *q);

/* Answer a deferred request (PEER_NET_DEFER), from any thread: frame is the
 * whole reply (the request's reply type, or ERROR) with any version and id.
 * If the connection has gone, the reply is dropped. RC_OK, RC_EINVAL (also
 * from an attached net, which serves no requests), RC_ECLOSED (stopped),
 * RC_ENOMEM. */
int peer_net_reply(struct peer_net *net, const struct peer_ticket *ticket, const void *frame,
                   size_t len);

/* Health and statistics, from any thread. */
size_t peer_net_peers(const struct peer_net *net);
bool peer_net_healthy(const struct peer_net *net, size_t peer);
/* RC_OK or RC_EINVAL (no such peer). */
int peer_net_peer_stats(const struct peer_net *net, size_t peer, struct peer_net_peer_stats *out);
void peer_net_totals(const struct peer_net *net, struct peer_net_totals *out);
/* The index of a peer by name: RC_OK or RC_ENOTFOUND. */
int peer_net_peer_index(const struct peer_net *net, const char *name, size_t *idx);

/* The 32-byte ring hash this daemon puts in its HELLO for a 64-bit
 * ring_hash(): big-endian in bytes 0..7, zero in 8..31. */
void peer_net_ring_digest(uint64_t ring_hash, uint8_t out[PEER_RING_HASH_SIZE]);

#endif
