/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * conn.c - a client connection's state machine, on its worker thread.
 *
 *   socket --read--> rbuf --text_parse/bin_parse--> request --coord_execute--> response
 *        <--write--  out  <--release--  held (+marks) <--text/bin encode--'
 *
 * Replies leave in request order. A reply to a write that must first reach
 * the disk (--sync=always) is parked in `held` behind a mark naming its
 * durability ticket; every later reply queues behind it. When the store's
 * sync thread reports progress, marks whose tickets are durable release
 * their bytes to `out`; a mark whose flush failed has its reply replaced by
 * a SERVER_ERROR line. So no reply is sent before an earlier write is
 * durable, and the worker never blocks on the disk.
 *
 * Flow control: parsing pauses (reads stop) while more than CONN_OUT_HIGH
 * bytes wait to be written, and resumes when the socket drains.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "coord/cluster.h"
#include "proto/bin.h"
#include "proto/scan.h"
#include "proto/text.h"
#include "server/auth.h"
#include "server/cluster_srv.h"
#include "server/conn.h"
#include "server/server.h"

#define CONN_READ_CHUNK    16384
#define CONN_OUT_HIGH      (1024 * 1024)
#define CONN_BUF_KEEP      65536
#define CONN_PREFETCH_KEYS 32

/* A reply being made elsewhere (a request the cluster coordinator runs
 * asynchronously): its bytes arrive later, into its own buffer. */
struct conn_req {
    struct request *req; /* owned deep copy, shared by the keys of one request */
    unsigned refs;
    bool failed; /* a text retrieval hit a failure: it ends with that error, no END */
};
struct conn_slot {
    struct conn *c; /* NULL once the connection is gone (the callback frees) */
    struct conn_req *cr;
    size_t ki;
    bool done;
    bool is_end;     /* the END of a text retrieval: sent unless a key failed */
    uint64_t ticket; /* durability of the reply, as for marks */
    struct buf reply;
};

struct conn_mark {
    uint64_t ticket;
    size_t start, end;      /* the reply's bytes in held (start == end for a slot) */
    struct conn_slot *slot; /* non-NULL: the reply comes from the slot when done */
};

enum conn_proto { CONN_PROTO_UNKNOWN = 0, CONN_PROTO_TEXT, CONN_PROTO_BINARY };

/* What one parse step did. */
enum conn_step { CONN_STEP_REQUEST, CONN_STEP_NEED_MORE, CONN_STEP_ERROR_SENT };

struct conn {
    struct worker *w;         /* borrowed: owner */
    struct conn *prev, *next; /* worker's list */
    int fd;                   /* owned */
    struct event *rev, *wev;  /* owned */
    struct buf rbuf;          /* input; bytes before rpos are consumed */
    size_t rpos;
    size_t need;    /* parser's hint: total bytes needed */
    size_t swallow; /* input bytes still to discard */
    struct buf out; /* replies ready to send */
    size_t out_sent;
    struct buf held;         /* replies waiting for durability */
    struct conn_mark *marks; /* FIFO over held */
    size_t nmarks, marks_cap;
    enum conn_proto proto; /* chosen from the first byte unless -B fixes it */
    struct text_parser parser;
    struct bin_parser bparser;
    uint64_t last_active_ms;
    bool authenticated; /* -Y: passed the exchange (always true without) */
    bool reading;       /* rev is armed */
    bool closing;       /* close once out is written */
    bool stopping;      /* server stopping: no more requests */
    bool in_cluster;    /* inside coord_cluster_execute: completions only mark */
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void conn_process(struct conn *c);

static void
conn_slot_free(struct conn_slot *slot)
{
    if (--slot->cr->refs == 0) {
        request_free(slot->cr->req);
        rc_free(slot->cr);
    }
    buf_deinit(&slot->reply);
    rc_free(slot);
}

struct conn *
conn_next(struct conn *c)
{
    return c->next;
}

int
conn_create(struct worker *w, int fd)
{
    struct conn *c = rc_calloc(1, sizeof(*c));

    if (c == NULL) {
        close(fd);
        return RC_ENOMEM;
    }
    c->w = w;
    c->fd = fd;
    buf_init(&c->rbuf);
    buf_init(&c->out);
    buf_init(&c->held);
    text_parser_init(&c->parser, w->srv->cfg->max_item_size);
    bin_parser_init(&c->bparser, w->srv->cfg->max_item_size);
    c->authenticated = w->srv->auth == NULL;
    c->proto = w->srv->cfg->proto == CONFIG_PROTO_ASCII    ? CONN_PROTO_TEXT
               : w->srv->cfg->proto == CONFIG_PROTO_BINARY ? CONN_PROTO_BINARY
                                                           : CONN_PROTO_UNKNOWN;
    c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->wev = event_new(w->base, fd, EV_WRITE, conn_write_cb, c);
    if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) != 0) {
        if (c->rev != NULL) {
            event_free(c->rev);
        }
        if (c->wev != NULL) {
            event_free(c->wev);
        }
        text_parser_deinit(&c->parser);
        bin_parser_deinit(&c->bparser);
        rc_free(c);
        close(fd);
        return RC_ENOMEM;
    }
    c->reading = true;
    c->last_active_ms = util_mono_ms();
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;
    atomic_fetch_add(&w->srv->conn_structures, 1);
    log_debug("<%d new connection on worker %d", fd, w->id);
    return RC_OK;
}

void
conn_close(struct conn *c)
{
    struct worker *w = c->w;

    log_debug("<%d connection closed", c->fd);
    event_free(c->rev);
    event_free(c->wev);
    close(c->fd);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    w->nconns--;
    atomic_fetch_sub(&w->srv->curr_conns, 1);
    atomic_fetch_sub(&w->srv->conn_structures, 1);
    for (size_t i = 0; i < c->nmarks; i++) {
        struct conn_slot *slot = c->marks[i].slot;

        if (slot == NULL) {
            continue;
        }
        if (slot->done) {
            conn_slot_free(slot);
        } else {
            slot->c = NULL; /* its completion frees it */
        }
    }
    buf_deinit(&c->rbuf);
    buf_deinit(&c->out);
    buf_deinit(&c->held);
    rc_free(c->marks);
    text_parser_deinit(&c->parser);
    bin_parser_deinit(&c->bparser);
    rc_free(c);
}

/* ------------------------------------------------------------------ output */

static size_t
conn_pending(const struct conn *c)
{
    return c->out.len - c->out_sent + c->held.len;
}

static void
conn_set_reading(struct conn *c, bool on)
{
    if (on == c->reading) {
        return;
    }
    if (on) {
        event_add(c->rev, NULL);
    } else {
        event_del(c->rev);
    }
    c->reading = on;
}

/* Write what is ready. Returns false if the connection was closed. */
static bool
conn_flush(struct conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent);

        if (n > 0) {
            c->out_sent += (size_t)n;
            stats_add(&c->w->stats, STAT_bytes_written, (uint64_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->wev, NULL);
            return true;
        }
        conn_close(c);
        return false;
    }
    buf_reset(&c->out);
    c->out_sent = 0;
    buf_shrink(&c->out, CONN_BUF_KEEP);
    if (c->held.len == 0 && c->nmarks == 0 && (c->closing || c->stopping)) {
        conn_close(c);
        return false;
    }
    return true;
}

static int
conn_push_mark(struct conn *c, uint64_t ticket, size_t start, size_t end)
{
    if (c->nmarks == c->marks_cap) {
        size_t cap = c->marks_cap ? c->marks_cap * 2 : 8;
        struct conn_mark *m = rc_realloc(c->marks, cap * sizeof(*m));

        if (m == NULL) {
            return RC_ENOMEM;
        }
        c->marks = m;
        c->marks_cap = cap;
    }
    c->marks[c->nmarks++] = (struct conn_mark){ticket, start, end, NULL};
    return RC_OK;
}

/* The flush that should have made a write durable failed: its reply
 * (`reply`, n bytes) becomes an error in the connection's protocol. A binary
 * reply keeps its opcode and opaque so the client can match it. */
static void
conn_durability_error(struct conn *c, const char *reply, size_t n, int rc)
{
    if (c->proto == CONN_PROTO_BINARY && n >= BIN_HEADER_LEN) {
        const unsigned char *h = (const unsigned char *)reply;
        struct bin_error err = {
            .reply = true,
            .status = rc == RC_ENOSPC ? BIN_STATUS_ENOMEM : BIN_STATUS_EINTERNAL,
            .opcode = h[1],
            .opaque = ((uint32_t)h[12] << 24) | ((uint32_t)h[13] << 16) | ((uint32_t)h[14] << 8) |
                      (uint32_t)h[15],
        };

        bin_encode_error(&c->out, &err);
        return;
    }
    buf_printf(&c->out, "SERVER_ERROR %s\r\n", rc_strerror(rc));
}

/* Move replies whose writes are durable from held to out. */
static void
conn_release(struct conn *c)
{
    struct store *st = c->w->srv->st;
    size_t pos = 0, done = 0;

    while (done < c->nmarks) {
        struct conn_mark *m = &c->marks[done];
        struct conn_slot *slot = m->slot;
        int rc;

        if (slot != NULL && !slot->done) {
            break; /* its reply has not been made yet */
        }
        rc = store_sync_check(st, slot != NULL ? slot->ticket : m->ticket);
        if (rc == RC_EAGAIN) {
            break;
        }
        buf_append(&c->out, c->held.data + pos, m->start - pos);
        if (slot != NULL) {
            if (slot->is_end) {
                if (!slot->cr->failed) {
                    text_encode_end(&c->out);
                }
            } else if (rc == RC_OK) {
                buf_append(&c->out, slot->reply.data, slot->reply.len);
            } else {
                conn_durability_error(c, slot->reply.data, slot->reply.len, rc);
                stats_add(&c->w->stats, STAT_storage_errors, 1);
            }
            conn_slot_free(slot);
            m->slot = NULL;
        } else if (rc == RC_OK) {
            buf_append(&c->out, c->held.data + m->start, m->end - m->start);
        } else {
            conn_durability_error(c, c->held.data + m->start, m->end - m->start, rc);
            stats_add(&c->w->stats, STAT_storage_errors, 1);
        }
        pos = m->end;
        done++;
    }
    if (done == c->nmarks) {
        buf_append(&c->out, c->held.data + pos, c->held.len - pos);
        buf_reset(&c->held);
        buf_shrink(&c->held, CONN_BUF_KEEP);
        c->nmarks = 0;
        return;
    }
    buf_consume(&c->held, pos);
    memmove(c->marks, c->marks + done, (c->nmarks - done) * sizeof(*c->marks));
    c->nmarks -= done;
    for (size_t i = 0; i < c->nmarks; i++) {
        c->marks[i].start -= pos;
        c->marks[i].end -= pos;
    }
}

void
conn_on_sync(struct conn *c)
{
    if (c->nmarks == 0) {
        return;
    }
    conn_release(c);
    if (!conn_flush(c)) {
        return;
    }
    if (c->nmarks == 0 && !c->closing) {
        conn_process(c); /* requests may be waiting on flow control */
    }
}

/* The buffer a new reply goes into: out when nothing is held, else held. */
static struct buf *
conn_reply_buf(struct conn *c)
{
    return c->nmarks == 0 ? &c->out : &c->held;
}

/* A reply was just appended at dst[start..]; if it needs durability, move
 * it behind a mark. */
static void
conn_reply_done(struct conn *c, struct buf *dst, size_t start, uint64_t ticket)
{
    if (ticket == 0 || dst->len == start) {
        return;
    }
    stats_add(&c->w->stats, STAT_durable_waits, 1);
    if (store_sync_inline(c->w->srv->st)) {
        worker_request_flush(c->w);
    }
    if (dst == &c->out) {
        size_t hstart = c->held.len;

        buf_append(&c->held, c->out.data + start, c->out.len - start);
        c->out.len = start;
        conn_push_mark(c, ticket, hstart, c->held.len);
    } else {
        conn_push_mark(c, ticket, start, dst->len);
    }
}

/* ------------------------------------------------------------------ execute */

static void
conn_count_get(struct conn *c, const struct request *req, size_t ki, const struct response *r)
{
    struct thread_stats *ts = &c->w->stats;
    bool hit = r->status == RC_OK;
    bool touch = req->cmd == REQ_GAT || req->cmd == REQ_GATS ||
                 (req->opts.set & REQO_TTL) != 0; /* mg T counts as a touch */

    if (touch) {
        /* memcached counts gat/gats as touches only. */
        stats_add(ts, STAT_cmd_touch, 1);
        stats_add(ts, hit ? STAT_touch_hits : STAT_touch_misses, 1);
    } else {
        stats_add(ts, STAT_cmd_get, 1);
        stats_add(ts, hit ? STAT_get_hits : STAT_get_misses, 1);
    }
    if (r->miss == RESP_MISS_EXPIRED) {
        stats_add(ts, STAT_get_expired, 1);
    } else if (r->miss == RESP_MISS_FLUSHED) {
        stats_add(ts, STAT_get_flushed, 1);
    }
    if (stats_prefix_enabled(c->w->srv->prefix)) {
        stats_prefix_record(c->w->srv->prefix, req->keys[ki].key, req->keys[ki].nkey, PREFIX_GET,
                            hit);
    }
}

static void
conn_count(struct conn *c, const struct request *req, const struct response *r)
{
    struct thread_stats *ts = &c->w->stats;
    bool ok = r->status == RC_OK;
    struct stats_prefix *sp = c->w->srv->prefix;

    switch (req->cmd) {
    case REQ_SET:
    case REQ_ADD:
    case REQ_REPLACE:
    case REQ_APPEND:
    case REQ_PREPEND:
    case REQ_VSET:
        stats_add(ts, STAT_cmd_set, 1);
        break;
    case REQ_CAS:
        stats_add(ts, STAT_cmd_set, 1);
        stats_add(ts,
                  ok                        ? STAT_cas_hits
                  : r->status == RC_EEXISTS ? STAT_cas_badval
                                            : STAT_cas_misses,
                  1);
        break;
    case REQ_DELETE:
        stats_add(ts, ok ? STAT_delete_hits : STAT_delete_misses, 1);
        break;
    case REQ_VDEL: /* a refused context is neither a hit nor a miss */
        if (ok || r->status == RC_ENOTFOUND) {
            stats_add(ts, ok ? STAT_delete_hits : STAT_delete_misses, 1);
        }
        break;
    case REQ_INCR:
    case REQ_DECR:
        /* memcached counts a non-numeric value as neither hit nor miss. */
        if (ok || r->status == RC_ENOTFOUND) {
            bool incr = req->cmd == REQ_INCR;

            stats_add(ts,
                      ok ? (incr ? STAT_incr_hits : STAT_decr_hits)
                         : (incr ? STAT_incr_misses : STAT_decr_misses),
                      1);
        }
        break;
    case REQ_TOUCH:
        stats_add(ts, STAT_cmd_touch, 1);
        stats_add(ts, ok ? STAT_touch_hits : STAT_touch_misses, 1);
        break;
    case REQ_FLUSH_ALL:
        stats_add(ts, STAT_cmd_flush, 1);
        break;
    default:
        break;
    }
    if (r->status == RC_EIO || r->status == RC_ENOSPC || r->status == RC_EINTERNAL ||
        r->status == RC_EDEADLOCK) {
        stats_add(ts, STAT_storage_errors, 1);
    } else if (r->status == RC_ENOMEM && (req_cmd_flags(req->cmd) & REQF_STORE)) {
        stats_add(ts, STAT_store_no_memory, 1);
    }
    if (stats_prefix_enabled(sp) && req->nkeys > 0) {
        if (req_cmd_flags(req->cmd) & REQF_STORE) {
            stats_prefix_record(sp, req->keys[0].key, req->keys[0].nkey, PREFIX_SET, false);
        } else if (req->cmd == REQ_DELETE || req->cmd == REQ_VDEL) {
            stats_prefix_record(sp, req->keys[0].key, req->keys[0].nkey, PREFIX_DEL, false);
        }
    }
}

static void
conn_encode(struct buf *dst, const struct request *req, size_t ki, const struct response *resp)
{
    if (req->proto == REQ_PROTO_BINARY) {
        bin_encode_response(dst, req, ki, resp);
    } else {
        text_encode_response(dst, req, ki, resp);
    }
}

/* Binary SASL (-S): PLAIN against the -Y file. Without -S these opcodes
 * are unknown, as in a memcached built without SASL. */
static void
conn_sasl(struct conn *c, const struct request *req, struct buf *dst)
{
    struct thread_stats *ts = &c->w->stats;
    struct auth *a = c->w->srv->auth;

    if (!c->w->srv->cfg->sasl || a == NULL) {
        bin_encode_status(dst, req, BIN_STATUS_UNKNOWN_COMMAND);
        return;
    }
    if (req->cmd == REQ_SASL_LIST) {
        bin_encode_sasl(dst, req, BIN_STATUS_SUCCESS, auth_sasl_mechs(), strlen(auth_sasl_mechs()));
        return;
    }
    if (req->nkeys == 1 && req->keys[0].nkey > AUTH_SASL_MECH_MAX) {
        bin_encode_status(dst, req, BIN_STATUS_EINVAL); /* memcached's limit */
        return;
    }
    stats_add(ts, STAT_auth_cmds, 1);
    c->authenticated = false; /* every attempt starts over, as in memcached */
    if (req->cmd == REQ_SASL_AUTH && req->nkeys == 1 &&
        auth_sasl_mech_supported(req->keys[0].key, req->keys[0].nkey) &&
        auth_sasl_plain(a, req->value, req->nvalue) == RC_OK) {
        c->authenticated = true;
        bin_encode_sasl(dst, req, BIN_STATUS_SUCCESS, "Authenticated", 13);
        return;
    }
    stats_add(ts, STAT_auth_errors, 1);
    bin_encode_status(dst, req, BIN_STATUS_AUTH_ERROR);
}

/* Commands about the connection or the daemon rather than items. Returns
 * false when req is an item command for the coordinator. */
static bool
conn_execute_admin(struct conn *c, const struct request *req, struct buf *dst)
{
    bool close_conn = false;

    switch (req->cmd) {
    case REQ_QUIT:
        if (req->proto == REQ_PROTO_BINARY) {
            bin_encode_status(dst, req, BIN_STATUS_SUCCESS); /* QuitQ: nothing */
        }
        c->closing = true;
        return true;
    case REQ_NOOP:
        bin_encode_status(dst, req, BIN_STATUS_SUCCESS);
        return true;
    case REQ_VERSION:
    case REQ_VERBOSITY:
    case REQ_STATS:
    case REQ_SHUTDOWN:
    case REQ_RING:
    case REQ_MEMBERS:
        admin_handle(c->w, req, dst, &close_conn);
        c->closing = c->closing || close_conn;
        return true;
    case REQ_SASL_LIST:
    case REQ_SASL_AUTH:
    case REQ_SASL_STEP:
        conn_sasl(c, req, dst);
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ cluster */

/* A reply made by the cluster coordinator (doc/replication.txt): encode it
 * into its slot; the slot's mark releases it in request order. Runs on this
 * worker's thread, possibly inside coord_cluster_execute. */
static void
conn_slot_done(void *arg, const struct response *resp, uint64_t ticket)
{
    struct conn_slot *slot = arg;
    struct conn *c = slot->c;
    const struct request *req = slot->cr->req;
    bool retrieve = (req_cmd_flags(req->cmd) & REQF_RETRIEVE) != 0;

    if (c == NULL) { /* the client left: nothing to send */
        conn_slot_free(slot);
        return;
    }
    if (retrieve && resp->status != RC_OK && resp->status != RC_ENOTFOUND) {
        /* As on one node, a failure ends the reply with one error line (text
         * clients stop reading there): no END after it. */
        slot->cr->failed = true;
        stats_add(&c->w->stats, STAT_storage_errors, 1);
    } else if (retrieve) {
        conn_count_get(c, req, slot->ki, resp);
    } else {
        conn_count(c, req, resp);
    }
    conn_encode(&slot->reply, req, slot->ki, resp);
    slot->ticket = ticket;
    slot->done = true;
    if (ticket != 0) {
        stats_add(&c->w->stats, STAT_durable_waits, 1);
        if (store_sync_inline(c->w->srv->st)) {
            worker_request_flush(c->w);
        }
    }
    if (c->in_cluster) {
        return; /* conn_execute_cluster releases when the call returns */
    }
    conn_release(c);
    if (conn_flush(c) && c->nmarks == 0 && !c->closing) {
        conn_process(c); /* requests may be waiting on the mark limit */
    }
}

/* Run a data command through the cluster coordinator: one slot per key,
 * replies in request order whatever order they complete in. */
static void
conn_execute_cluster(struct conn *c, const struct request *req)
{
    bool retrieve = (req_cmd_flags(req->cmd) & REQF_RETRIEVE) != 0;
    size_t n = retrieve && req->proto == REQ_PROTO_TEXT ? req->nkeys : 1;
    struct conn_req *cr = rc_calloc(1, sizeof(*cr));

    if (cr == NULL || request_clone(req, &cr->req) != RC_OK) {
        struct response resp;

        rc_free(cr);
        response_reset(&resp);
        resp.status = RC_ENOMEM;
        conn_encode(conn_reply_buf(c), req, 0, &resp);
        return;
    }
    cr->refs = 1; /* held by this function until the loop ends */
    c->in_cluster = true;
    for (size_t ki = 0; ki < n; ki++) {
        struct conn_slot *slot = rc_calloc(1, sizeof(*slot));

        if (slot == NULL || conn_push_mark(c, 0, c->held.len, c->held.len) != RC_OK) {
            rc_free(slot);
            break; /* out of memory: the client sees a short reply */
        }
        slot->c = c;
        slot->cr = cr;
        slot->ki = ki;
        buf_init(&slot->reply);
        cr->refs++;
        c->marks[c->nmarks - 1].slot = slot;
        if (coord_cluster_execute(c->w->cl, cr->req, ki, 0, conn_slot_done, slot) != RC_OK) {
            struct response resp;

            response_reset(&resp);
            resp.status = RC_ENOMEM;
            conn_slot_done(slot, &resp, 0);
        }
    }
    c->in_cluster = false;
    if (retrieve && req->proto == REQ_PROTO_TEXT) {
        struct conn_slot *end = rc_calloc(1, sizeof(*end));

        if (end != NULL && conn_push_mark(c, 0, c->held.len, c->held.len) == RC_OK) {
            end->c = c;
            end->cr = cr;
            end->is_end = true;
            end->done = true;
            buf_init(&end->reply);
            cr->refs++;
            c->marks[c->nmarks - 1].slot = end;
        } else {
            rc_free(end);
            text_encode_end(&c->held); /* out of memory: END unconditionally */
        }
    }
    if (--cr->refs == 0) { /* every slot already gone (cannot happen: they are in marks) */
        request_free(cr->req);
        rc_free(cr);
    }
    conn_release(c);
}

static void
conn_flush_all_done(void *arg, int status, const char *errmsg)
{
    struct response resp;

    response_reset(&resp);
    resp.status = status;
    resp.errmsg = errmsg;
    conn_slot_done(arg, &resp, 0);
}

/* flush_all in a cluster: flush here, then every peer; the reply waits for
 * them (doc/replication.txt section 9). */
static void
conn_execute_flush_all(struct conn *c, const struct request *req)
{
    struct response resp;
    struct conn_req *cr;
    struct conn_slot *slot;
    uint64_t ticket;

    coord_execute(c->w->ct, req, 0, &resp, &ticket);
    if (resp.status != RC_OK) {
        conn_count(c, req, &resp);
        conn_encode(conn_reply_buf(c), req, 0, &resp);
        return;
    }
    cr = rc_calloc(1, sizeof(*cr));
    slot = rc_calloc(1, sizeof(*slot));
    if (cr == NULL || slot == NULL || request_clone(req, &cr->req) != RC_OK ||
        conn_push_mark(c, 0, c->held.len, c->held.len) != RC_OK) {
        if (cr != NULL) {
            request_free(cr->req);
        }
        rc_free(cr);
        rc_free(slot);
        resp.status = RC_ENOMEM;
        conn_encode(conn_reply_buf(c), req, 0, &resp);
        return;
    }
    cr->refs = 1;
    slot->c = c;
    slot->cr = cr;
    buf_init(&slot->reply);
    c->marks[c->nmarks - 1].slot = slot;
    c->in_cluster = true;
    if (cluster_srv_flush(c->w, req->exptime, conn_flush_all_done, slot) != RC_OK) {
        conn_flush_all_done(slot, RC_ENOMEM, NULL);
    }
    c->in_cluster = false;
    conn_release(c);
}

/* Commands the cluster coordinator runs (everything keyed); the rest is
 * node-local (admin, stats, auth). */
static bool
conn_clustered(const struct request *req)
{
    return (req_cmd_flags(req->cmd) & (REQF_RETRIEVE | REQF_STORE | REQF_WRITE)) != 0 ||
           req->cmd == REQ_ME;
}

static void
conn_execute(struct conn *c, const struct request *req)
{
    struct worker *w = c->w;
    bool retrieve = (req_cmd_flags(req->cmd) & REQF_RETRIEVE) != 0;
    struct buf *dst = conn_reply_buf(c);
    size_t start = dst->len, n;
    uint64_t ticket, maxticket = 0;
    struct response resp;

    if (!c->authenticated && req->cmd != REQ_SASL_LIST && req->cmd != REQ_SASL_AUTH &&
        req->cmd != REQ_SASL_STEP && req->cmd != REQ_VERSION) {
        /* Binary before authenticating (text has its own gate). */
        bin_encode_status(dst, req, BIN_STATUS_AUTH_ERROR);
        c->closing = true;
        return;
    }
    if (req->proto == REQ_PROTO_META) {
        stats_add(&w->stats, STAT_cmd_meta, 1);
    }
    if (conn_execute_admin(c, req, dst)) {
        return;
    }
    if (w->cl != NULL && conn_clustered(req)) {
        conn_execute_cluster(c, req);
        return;
    }
    if (w->cl != NULL && req->cmd == REQ_FLUSH_ALL) {
        conn_execute_flush_all(c, req);
        return;
    }
    n = retrieve && req->proto == REQ_PROTO_TEXT ? req->nkeys : 1;
    for (size_t ki = 0; ki < n; ki++) {
        coord_execute(w->ct, req, ki, &resp, &ticket);
        maxticket = ticket > maxticket ? ticket : maxticket;
        if (retrieve && resp.status != RC_OK && resp.status != RC_ENOTFOUND) {
            /* A storage failure ends the whole reply with one error (text:
             * SERVER_ERROR, no END), where clients stop reading. */
            dst->len = start;
            conn_encode(dst, req, ki, &resp);
            stats_add(&w->stats, STAT_storage_errors, 1);
            conn_reply_done(c, dst, start, maxticket);
            return;
        }
        if (retrieve) {
            conn_count_get(c, req, ki, &resp);
        } else {
            conn_count(c, req, &resp);
        }
        conn_encode(dst, req, ki, &resp);
    }
    if (retrieve && req->proto == REQ_PROTO_TEXT) {
        text_encode_end(dst);
    }
    conn_reply_done(c, dst, start, maxticket);
}

/* Remove a key's item without a reply (a too-large set's old value). */
static void
conn_drop_stale(struct conn *c, const char *key, size_t nkey)
{
    struct req_key k = {key, nkey};
    struct request req;
    struct response resp;
    uint64_t ticket;

    request_reset(&req);
    req.cmd = REQ_DELETE;
    req.noreply = true;
    req.keys = &k;
    req.nkeys = 1;
    coord_execute(c->w->ct, &req, 0, &resp, &ticket);
}

static void
conn_parse_error(struct conn *c, const struct text_error *err)
{
    if (err->stale_key != NULL) {
        conn_drop_stale(c, err->stale_key, err->nstale_key);
    }
    /* reply is NULL when noreply hid it or memcached closes silently. */
    if (err->reply != NULL) {
        text_encode_line(conn_reply_buf(c), err->reply);
    }
    c->swallow = err->swallow;
    if (err->close) {
        c->closing = true;
    }
    if (err->too_large || err->stale_key != NULL) {
        stats_add(&c->w->stats, STAT_store_too_large, 1);
    }
}

static void
conn_bin_error(struct conn *c, const struct bin_error *err)
{
    if (err->stale_key != NULL) {
        conn_drop_stale(c, err->stale_key, err->nstale_key);
    }
    bin_encode_error(conn_reply_buf(c), err);
    c->swallow = err->swallow;
    if (err->close) {
        c->closing = true;
    }
    if (err->status == BIN_STATUS_E2BIG) {
        stats_add(&c->w->stats, STAT_store_too_large, 1);
    }
    if (err->text != NULL && strcmp(err->text, "bad context") == 0) {
        coord_note_context_error(c->w->srv->co); /* refused before the coordinator */
    }
}

/* The text exchange -Y requires before anything else: a set whose data
 * block is "<user> <password>". Every other line is refused. Replies and
 * limits are memcached's. */
static enum conn_step
conn_text_auth(struct conn *c, const char *data, size_t len, size_t *consumed)
{
    struct thread_stats *ts = &c->w->stats;
    const char *nl = memchr(data, '\n', len < AUTH_TEXT_MAX_LINE ? len : AUTH_TEXT_MAX_LINE);
    const char *user, *pass;
    size_t n, nuser, npass, total;
    uint32_t nbytes;
    int rc;

    if (nl == NULL) {
        c->closing = len >= AUTH_TEXT_MAX_LINE; /* an endless line: close */
        *consumed = 0;
        return c->closing ? CONN_STEP_ERROR_SENT : CONN_STEP_NEED_MORE;
    }
    n = (size_t)(nl - data);
    *consumed = n + 1;
    rc = auth_text_command(data, n > 0 && data[n - 1] == '\r' ? n - 1 : n, &nbytes);
    if (rc == RC_ETOOLARGE) {
        c->closing = true;
        return CONN_STEP_ERROR_SENT;
    }
    if (rc != RC_OK) {
        text_encode_line(conn_reply_buf(c), "CLIENT_ERROR unauthenticated");
        return CONN_STEP_ERROR_SENT;
    }
    total = n + 1 + (size_t)nbytes + 2;
    if (len < total) {
        *consumed = total;
        return CONN_STEP_NEED_MORE;
    }
    *consumed = total;
    if (data[total - 2] != '\r' || data[total - 1] != '\n') {
        text_encode_line(conn_reply_buf(c), "CLIENT_ERROR bad command line termination");
        return CONN_STEP_ERROR_SENT;
    }
    if (auth_text_credentials(data + n + 1, nbytes, &user, &nuser, &pass, &npass) != RC_OK) {
        text_encode_line(conn_reply_buf(c), "CLIENT_ERROR bad authentication token format");
        return CONN_STEP_ERROR_SENT;
    }
    stats_add(ts, STAT_auth_cmds, 1);
    if (auth_check(c->w->srv->auth, user, nuser, pass, npass) == RC_OK) {
        c->authenticated = true;
        text_encode_line(conn_reply_buf(c), "STORED");
    } else {
        stats_add(ts, STAT_auth_errors, 1);
        text_encode_line(conn_reply_buf(c), "CLIENT_ERROR authentication failure");
    }
    return CONN_STEP_ERROR_SENT;
}

/* Parse one request from the unread input with the connection's codec. */
static enum conn_step
conn_parse_one(struct conn *c, struct request *req, size_t *consumed)
{
    const char *data = c->rbuf.data + c->rpos;
    size_t len = c->rbuf.len - c->rpos;

    if (c->proto == CONN_PROTO_UNKNOWN) {
        /* memcached's rule: a first byte of 0x80 means binary. */
        c->proto = (unsigned char)data[0] == BIN_MAGIC_REQ ? CONN_PROTO_BINARY : CONN_PROTO_TEXT;
    }
    if (c->proto == CONN_PROTO_BINARY) {
        struct bin_error err;

        switch (bin_parse(&c->bparser, data, len, req, consumed, &err)) {
        case BIN_OK:
            return CONN_STEP_REQUEST;
        case BIN_AGAIN:
            return CONN_STEP_NEED_MORE;
        default:
            conn_bin_error(c, &err);
            return CONN_STEP_ERROR_SENT;
        }
    } else if (!c->authenticated) {
        return conn_text_auth(c, data, len, consumed);
    } else {
        struct text_error err;

        switch (text_parse(&c->parser, data, len, req, consumed, &err)) {
        case TEXT_OK:
            return CONN_STEP_REQUEST;
        case TEXT_AGAIN:
            return CONN_STEP_NEED_MORE;
        default:
            conn_parse_error(c, &err);
            return CONN_STEP_ERROR_SENT;
        }
    }
}

/* A pipelined batch: find the keys of the requests waiting in rbuf and
 * start loading their cache entries all at once, so the lookups that follow
 * overlap their memory loads instead of missing one after another. A
 * single request gains nothing: skipped. */
static void
conn_prefetch(struct conn *c)
{
    struct scan_key keys[CONN_PREFETCH_KEYS];
    struct store_key sk[CONN_PREFETCH_KEYS];
    const char *p = c->rbuf.data + c->rpos;
    size_t len = c->rbuf.len - c->rpos, n;

    if (c->swallow > 0 || len == 0 || c->w->srv->co == NULL) {
        return;
    }
    if (c->proto == CONN_PROTO_BINARY) {
        n = scan_keys_binary((const unsigned char *)p, len, keys, CONN_PREFETCH_KEYS);
    } else if (c->proto == CONN_PROTO_TEXT) {
        n = scan_keys_text(p, len, keys, CONN_PREFETCH_KEYS);
    } else {
        return;
    }
    if (n < 2) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        sk[i] = (struct store_key){keys[i].key, keys[i].nkey};
    }
    coord_prefetch(c->w->srv->co, sk, n);
}

/* Parse and execute what has arrived, then write. May close c. */
static void
conn_process(struct conn *c)
{
    const struct config *cfg = c->w->srv->cfg;
    unsigned handled = 0;
    struct request req;
    size_t consumed;
    enum conn_step step;

    conn_prefetch(c);
    while (!c->closing && !c->stopping && c->nmarks < 4096) {
        if (c->swallow > 0) {
            size_t n = c->rbuf.len - c->rpos < c->swallow ? c->rbuf.len - c->rpos : c->swallow;

            c->rpos += n;
            c->swallow -= n;
            if (c->swallow > 0) {
                break;
            }
            continue;
        }
        if (c->rpos == c->rbuf.len || conn_pending(c) > CONN_OUT_HIGH) {
            break;
        }
        if (handled >= (unsigned)cfg->reqs_per_event) {
            stats_add(&c->w->stats, STAT_conn_yields, 1);
            event_active(c->rev, EV_READ, 0);
            break;
        }
        step = conn_parse_one(c, &req, &consumed);
        if (step == CONN_STEP_NEED_MORE) {
            c->need = consumed;
            break;
        }
        c->need = 0;
        if (step == CONN_STEP_REQUEST) {
            conn_execute(c, &req);
        }
        c->rpos += consumed;
        handled++;
    }
    if (c->rpos > 0) {
        buf_consume(&c->rbuf, c->rpos);
        c->rpos = 0;
    }
    if (c->rbuf.len == 0) {
        buf_shrink(&c->rbuf, CONN_BUF_KEEP);
    }
    conn_set_reading(c, !c->closing && !c->stopping && conn_pending(c) <= CONN_OUT_HIGH);
    if (c->nmarks > 0 && c->marks[0].slot == NULL && c->out_sent == 0 &&
        store_sync_inline(c->w->srv->st)) {
        /* --sync=batch, a reply held for its log write: the write at the
         * end of this loop pass (worker_flush_cb, already requested)
         * releases it and sends everything in one write(2), where flushing
         * now too made two per pipelined batch that holds a set. */
        return;
    }
    conn_flush(c);
}

/* ------------------------------------------------------------------ events */

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    size_t want = CONN_READ_CHUNK;
    ssize_t n;

    (void)what;
    if (c->need > c->rbuf.len && c->need - c->rbuf.len > want) {
        want = c->need - c->rbuf.len;
    }
    if (buf_reserve(&c->rbuf, want) != RC_OK) {
        log_warn("<%d out of memory for a read buffer: closing", c->fd);
        conn_close(c);
        return;
    }
    n = read(fd, c->rbuf.data + c->rbuf.len, c->rbuf.cap - c->rbuf.len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n > 0) {
        c->rbuf.len += (size_t)n;
        stats_add(&c->w->stats, STAT_bytes_read, (uint64_t)n);
        c->last_active_ms = util_mono_ms();
    }
    conn_process(c);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (!conn_flush(c)) {
        return;
    }
    if (c->out.len == 0 && !c->closing) {
        conn_process(c); /* resume parsing paused by flow control */
    }
}

void
conn_on_tick(struct conn *c, uint64_t now_ms)
{
    int idle = c->w->srv->cfg->idle_timeout;

    if (idle > 0 && c->nmarks == 0 && conn_pending(c) == 0 &&
        now_ms - c->last_active_ms > (uint64_t)idle * 1000) {
        log_debug("<%d idle for %d s: closing", c->fd, idle);
        stats_add(&c->w->stats, STAT_idle_kicks, 1);
        conn_close(c);
    }
}

void
conn_begin_stop(struct conn *c)
{
    c->stopping = true;
    conn_set_reading(c, false);
    if (c->nmarks == 0 && conn_pending(c) == 0) {
        conn_close(c);
    }
}
