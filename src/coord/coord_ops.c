/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord_ops.c - the meaning of each command over the coordinator's
 * primitives (coord_internal.h): memcached 1.6's text, meta and binary
 * semantics, which differ only in the options a codec sets (req->opts),
 * applied to the dominant sibling of a versioned object as
 * doc/versioning.txt section 7 says, and the extension's reads and writes
 * (section 8).
 *
 *   retrieval   get gets gat gats, mg          -> coord_op_get
 *   versions    vget, mg a, binary VGet        -> coord_op_get (all siblings)
 *   storage     set add replace append prepend cas, ms, binary sets
 *                                              -> coord_op_store
 *   vset, vdel  ms Y, md Y, binary VSet/VDelete -> coord_op_vwrite
 *   delete      delete, md, binary delete      -> coord_op_delete
 *   arithmetic  incr decr, ma, binary incr/decr -> coord_op_arith
 *   touch       touch, binary touch            -> coord_op_touch
 *   me          item debug info                -> coord_op_inspect
 *
 * Every command that writes runs a body inside coord_update (one store
 * transaction under the key's stripe lock): the body reads the current
 * object, decides, and records at most one write. A plain get reads without
 * the lock and takes the update path only when the read itself must be
 * recorded (first fetch, or a last-access time older than
 * COORD_BUMP_INTERVAL, as memcached bumps).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/status.h"
#include "base/util.h"
#include "coord/coord_internal.h"
#include "kv/record.h"

static bool
coord_opt(const struct request *req, uint32_t bit)
{
    return (req->opts.set & bit) != 0;
}

/* After a write: the live-sibling count and the new context, when asked. */
static int
coord_after_write(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                  struct response *resp)
{
    struct object *o;
    int rc = coord_object(ct, &o);

    if (rc == RC_OK && coord_opt(req, REQO_WANT_NLIVE)) {
        resp->nlive = (uint32_t)object_nlive(o);
    }
    if (rc == RC_OK && coord_opt(req, REQO_WANT_CONTEXT)) {
        rc = coord_fill_context(ct, k, resp);
    }
    return rc;
}

/* ------------------------------------------------------------------ get */

static void
coord_item_info(const struct coord_item *it, int64_t now, struct response *resp)
{
    resp->ttl = it->exptime == 0 ? -1 : (it->exptime > now ? it->exptime - now : 0);
    resp->last_access = now > it->atime ? now - it->atime : 0;
    resp->hit_before = (it->iflags & RECORD_IF_FETCHED) != 0;
    resp->stale = (it->iflags & RECORD_IF_STALE) != 0;
}

static bool
coord_needs_bump(const struct request *req, const struct coord_item *it, int64_t now)
{
    if (coord_opt(req, REQO_NO_BUMP)) {
        return false;
    }
    return (it->iflags & RECORD_IF_FETCHED) == 0 || now - it->atime >= COORD_BUMP_INTERVAL;
}

/* Recache arbitration for meta gets (W, X, Z): a stale item, or one whose
 * TTL is below the client's R token, hands one client a win; later clients
 * see that a win is out. Returns true if the item changed. */
static bool
coord_recache_wanted(const struct request *req, const struct coord_item *it,
                     const struct response *resp)
{
    if (req->proto != REQ_PROTO_META || (it->iflags & RECORD_IF_WON) != 0) {
        return false;
    }
    return (it->iflags & RECORD_IF_STALE) != 0 ||
           (coord_opt(req, REQO_RECACHE) && resp->ttl != -1 && resp->ttl < req->opts.recache_ttl);
}

static bool
coord_recache(const struct request *req, struct coord_item *it, struct response *resp)
{
    if (req->proto == REQ_PROTO_META && (it->iflags & RECORD_IF_WON) != 0) {
        resp->won_already = true;
        return false;
    }
    if (!coord_recache_wanted(req, it, resp)) {
        return false;
    }
    resp->win = true;
    it->iflags |= RECORD_IF_WON;
    return true;
}

/* Every live sibling of ct->obj, dominant first, into resp (extension
 * reads), with the object's context. */
static int
coord_fill_versions(struct coord_thread *ct, const struct req_key *k, struct response *resp)
{
    struct object *o;
    size_t n = 0, total, live = 0;
    int rc = coord_object(ct, &o);

    if (rc != RC_OK) {
        return rc;
    }
    total = o->clock != NULL ? object_nsiblings(o) : 0;
    if (total > ct->nosibs_cap) {
        struct object_sibling *os = rc_realloc(ct->osibs, total * sizeof(*os));
        struct resp_sibling *rs;

        if (os == NULL) {
            return RC_ENOMEM;
        }
        ct->osibs = os;
        rs = rc_realloc(ct->sibs, total * sizeof(*rs));
        if (rs == NULL) {
            return RC_ENOMEM;
        }
        ct->sibs = rs;
        ct->nosibs_cap = total;
    }
    if (total > 0) {
        rc = object_siblings(o, ct->osibs, ct->nosibs_cap, &n);
        if (rc != RC_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct object_payload *p = &ct->osibs[i].p;

        if (p->tombstone) {
            continue;
        }
        ct->sibs[live].flags = p->flags;
        ct->sibs[live].wtime_ms = p->wtime_ms;
        ct->sibs[live].value = p->value;
        ct->sibs[live].nvalue = p->nvalue;
        live++;
    }
    resp->siblings = ct->sibs;
    resp->nsiblings = live;
    return coord_fill_context(ct, k, resp);
}

/* mg N on a miss: create an empty item and hand this client the win. */
static int
coord_vivify_empty(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                   struct response *resp)
{
    struct coord_item it;
    int rc;

    memset(&it, 0, sizeof(it));
    it.exptime = coord_abs_exptime(req->opts.vivify_ttl, util_now_s());
    it.iflags = RECORD_IF_WON;
    it.value = "";
    rc = coord_write(ct, k, &it);
    if (rc != RC_OK) {
        return rc;
    }
    coord_fill_hit(ct->co, resp, &it);
    coord_item_info(&it, util_now_s(), resp);
    resp->win = true;
    resp->created = true;
    if (req->cmd == REQ_VGET) {
        return coord_fill_versions(ct, k, resp);
    }
    return coord_after_write(ct, req, k, resp);
}

/* Everything a retrieval does under the key's lock: vivify, TTL update,
 * recache arbitration, access bookkeeping. */
static int
coord_body_get(struct coord_thread *ct, const struct request *req, const struct req_key *k,
               struct response *resp)
{
    int64_t now = util_now_s();
    struct coord_item it;
    bool present, changed = false, durable = false;
    int rc = coord_load(ct, &it, &resp->miss, &present);

    ct->hidden = 0;
    if (rc == RC_ENOTFOUND && req->cmd == REQ_VGET && it.deleted &&
        resp->miss == RESP_MISS_ABSENT) {
        /* A deleted object still shows its context and any live siblings
         * concurrent with the delete. */
        resp->miss = RESP_MISS_NONE;
        coord_item_info(&it, now, resp);
        resp->cas = ct->co->cfg.use_cas ? it.cas : 0;
        return coord_fill_versions(ct, k, resp);
    }
    if (rc == RC_ENOTFOUND && coord_opt(req, REQO_VIVIFY)) {
        return coord_vivify_empty(ct, req, k, resp);
    }
    if (rc != RC_OK) {
        return rc;
    }
    coord_item_info(&it, now, resp);
    if (req->cmd == REQ_GAT || req->cmd == REQ_GATS || coord_opt(req, REQO_TTL)) {
        it.exptime =
            coord_abs_exptime(coord_opt(req, REQO_TTL) ? req->opts.ttl : req->exptime, now);
        changed = durable = true;
    }
    changed |= coord_recache(req, &it, resp);
    if (coord_needs_bump(req, &it, now)) {
        it.iflags |= RECORD_IF_FETCHED;
        it.atime = now;
        changed = true;
    }
    if (changed) {
        /* Access and recache bookkeeping need not be durable; a TTL is. */
        rc = coord_rewrite(ct, k, &it, !durable);
        if (rc != RC_OK && durable) {
            return rc;
        }
    }
    coord_fill_hit(ct->co, resp, &it);
    if (req->cmd == REQ_VGET) {
        return coord_fill_versions(ct, k, resp);
    }
    ct->hidden = it.nlive > 1 ? it.nlive - 1 : 0;
    if (coord_opt(req, REQO_WANT_CONTEXT)) {
        return coord_fill_context(ct, k, resp);
    }
    return RC_OK;
}

static void
coord_count_hidden(struct coord_thread *ct, const struct response *resp)
{
    if (resp->status == RC_OK && ct->hidden > 0) {
        atomic_fetch_add(&ct->co->siblings_hidden_reads, 1);
        atomic_fetch_add(&ct->co->siblings_hidden, ct->hidden);
    }
}

void
coord_prefetch(struct coord *co, const struct store_key *keys, size_t nkeys)
{
    store_prefetch(co->st, keys, nkeys);
}

/* Does this hit of a get, gets or mg change nothing (no TTL, no access to
 * record, no recache win to hand out, no context to seal)? Then it is
 * answered as read, without coord_body_get's lock and update. */
#define COORD_GET_PURE (REQO_ITEM_INFO | REQO_NO_BUMP | REQO_RECACHE | REQO_VIVIFY)

static bool
coord_get_readonly(const struct request *req, const struct coord_item *it,
                   const struct response *resp, int64_t now, bool marked)
{
    return (req->opts.set & ~COORD_GET_PURE) == 0 && (marked || !coord_needs_bump(req, it, now)) &&
           !coord_recache_wanted(req, it, resp);
}

/* The read of a fast-path get, recording the access in the cached copy
 * when nothing else about the request could need coord_body_get: no R
 * token, and (meta) no stale item without a win handed out, which would
 * hand one out. *marked: recorded (doc/design.txt, read bookkeeping). */
static int
coord_get_read(struct coord_thread *ct, const struct request *req, const struct req_key *k,
               int64_t now, bool *marked)
{
    /* A stale item with a win already out would change nothing either, but
     * one flag test cannot tell the two apart: both take the lock. */
    uint8_t skip = req->proto == REQ_PROTO_META ? RECORD_IF_STALE : 0;

    *marked = false;
    if ((req->opts.set & ~(REQO_ITEM_INFO | REQO_VIVIFY)) != 0) {
        return coord_read(ct, k); /* mg u (no bump), R, or a slow-path option */
    }
    return coord_read_marked(ct, k, now, skip, marked);
}

static void
coord_op_get(struct coord_thread *ct, const struct request *req, size_t ki, struct response *resp,
             uint64_t *ticket)
{
    const struct req_key *k = &req->keys[ki];
    struct coord_item it;
    bool present;
    int rc;

    if (req->cmd == REQ_VGET) {
        atomic_fetch_add(&ct->co->vget_cmds, 1);
    }
    if (req->cmd == REQ_GET || req->cmd == REQ_GETS) {
        /* Fast path: a read that changes nothing takes no lock. */
        int64_t now = util_now_s();
        bool marked;

        rc = coord_get_read(ct, req, k, now, &marked);
        if (rc != RC_OK) {
            resp->status = rc;
            return;
        }
        rc = coord_load(ct, &it, &resp->miss, &present);
        if (rc == RC_OK) {
            coord_item_info(&it, now, resp);
        }
        if (rc == RC_OK && coord_get_readonly(req, &it, resp, now, marked)) {
            resp->won_already = req->proto == REQ_PROTO_META && (it.iflags & RECORD_IF_WON) != 0;
            coord_fill_hit(ct->co, resp, &it);
            ct->hidden = it.nlive > 1 ? it.nlive - 1 : 0;
            coord_count_hidden(ct, resp);
            return;
        }
        if (rc == RC_ENOTFOUND && !coord_opt(req, REQO_VIVIFY)) {
            resp->status = rc;
            return;
        }
    }
    resp->status = coord_update(ct, req, k, coord_body_get, resp, ticket);
    if (req->cmd != REQ_VGET) {
        coord_count_hidden(ct, resp);
    }
}

/* ------------------------------------------------------------------ store */

/* Compose append/prepend's value into ct->val. */
static int
coord_concat(struct coord_thread *ct, const struct request *req, const struct coord_item *old)
{
    bool app = req->cmd == REQ_APPEND;
    const void *a = app ? old->value : req->value, *b = app ? req->value : old->value;
    size_t na = app ? old->nvalue : req->nvalue, nb = app ? req->nvalue : old->nvalue;

    buf_reset(&ct->val);
    if (buf_append(&ct->val, a, na) != RC_OK || buf_append(&ct->val, b, nb) != RC_OK) {
        return RC_ENOMEM;
    }
    return RC_OK;
}

/* The cas checks: text cas, and REQO_COMPARE_CAS from meta C and binary cas
 * fields, against the derived cas of the object's context (V.6). With
 * REQO_INVALIDATE (ms I) a different compare value still stores, but the
 * new version is marked stale: derived values have no order, so "older"
 * becomes "different" (V.7). */
static int
coord_check_cas(struct coord_thread *ct, const struct request *req, int live,
                const struct coord_item *old, struct coord_item *nr)
{
    uint64_t have = ct->co->cfg.use_cas ? old->cas : 0; /* -C: clients see 0 */
    uint64_t want;

    if (req->cmd == REQ_CAS) {
        want = req->cas;
    } else if (coord_opt(req, REQO_COMPARE_CAS)) {
        want = req->opts.compare_cas;
        /* memcached: append/prepend check a non-zero cas only against an
         * item that exists; a missing one is NOT_STORED, not NOT_FOUND. */
        if ((req->cmd == REQ_APPEND || req->cmd == REQ_PREPEND) && (want == 0 || live != RC_OK)) {
            return RC_OK;
        }
    } else {
        return RC_OK;
    }
    if (live != RC_OK) {
        return RC_ENOTFOUND;
    }
    if (have == want) {
        return RC_OK;
    }
    if (coord_opt(req, REQO_INVALIDATE)) {
        nr->iflags |= RECORD_IF_STALE;
        return RC_OK;
    }
    return RC_EEXISTS;
}

/* Decide a storage command against the current state. RC_OK: store `nr`;
 * otherwise the reply status. */
static int
coord_store_decide(struct coord_thread *ct, const struct request *req, int live,
                   const struct coord_item *old, struct coord_item *nr)
{
    int rc = coord_check_cas(ct, req, live, old, nr);

    if (rc != RC_OK) {
        return rc;
    }
    switch (req->cmd) {
    case REQ_SET:
    case REQ_CAS:
        return RC_OK;
    case REQ_ADD:
        return live == RC_OK ? RC_ENOTSTORED : RC_OK;
    case REQ_REPLACE:
        return live == RC_OK ? RC_OK : RC_ENOTSTORED;
    case REQ_APPEND:
    case REQ_PREPEND:
        if (live != RC_OK) {
            return RC_ENOTSTORED;
        }
        /* memcached keeps the old flags and expiry; past -I (counted as
         * memcached counts an item, as set does): NOT_STORED. */
        if (req_item_size(req->keys[0].nkey, old->nvalue + req->nvalue, old->flags) >
            ct->co->cfg.max_item_size) {
            return RC_ENOTSTORED;
        }
        if (coord_concat(ct, req, old) != RC_OK) {
            return RC_ENOMEM;
        }
        nr->flags = old->flags;
        nr->exptime = old->exptime;
        nr->value = ct->val.data;
        nr->nvalue = ct->val.len;
        return RC_OK;
    default:
        return RC_EINTERNAL;
    }
}

static int
coord_body_store(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                 struct response *resp)
{
    struct coord_item old, nr;
    bool present;
    int live, rc;

    memset(&nr, 0, sizeof(nr));
    nr.flags = req->flags;
    nr.exptime = coord_abs_exptime(req->exptime, util_now_s());
    nr.value = req->value;
    nr.nvalue = req->nvalue;
    live = coord_load(ct, &old, &resp->miss, &present);
    rc = coord_store_decide(ct, req, live, &old, &nr);
    if (rc == RC_OK) {
        rc = coord_write(ct, k, &nr);
    }
    if (rc == RC_OK) {
        resp->cas = ct->co->cfg.use_cas ? nr.cas : 0;
        rc = coord_after_write(ct, req, k, resp);
    }
    return rc;
}

static void
coord_op_store(struct coord_thread *ct, const struct request *req, struct response *resp,
               uint64_t *ticket)
{
    resp->status = coord_update(ct, req, &req->keys[0], coord_body_store, resp, ticket);
}

/* ------------------------------------------------------------------ delete */

static int
coord_body_delete(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                  struct response *resp)
{
    struct coord_item it;
    bool present;
    int rc = coord_load(ct, &it, &resp->miss, &present);

    if (rc == RC_OK && coord_opt(req, REQO_COMPARE_CAS) &&
        (ct->co->cfg.use_cas ? it.cas : 0) != req->opts.compare_cas) {
        return RC_EEXISTS;
    }
    if (rc == RC_OK && coord_opt(req, REQO_INVALIDATE)) {
        /* md I: a copy of the dominant value, marked stale, under a new
         * version (so a new cas), as memcached's md I. */
        it.iflags = (uint8_t)((it.iflags | RECORD_IF_STALE) & ~RECORD_IF_WON);
        if (coord_opt(req, REQO_TTL)) {
            it.exptime = coord_abs_exptime(req->opts.ttl, util_now_s());
        }
        rc = coord_write(ct, k, &it);
    } else if (rc == RC_OK) {
        rc = coord_tombstone(ct, k);
    } else if (rc == RC_ENOTFOUND && present &&
               (resp->miss == RESP_MISS_EXPIRED || resp->miss == RESP_MISS_FLUSHED)) {
        /* A dead record goes at once (V.12); the reply is still NOT_FOUND. */
        rc = coord_remove(ct);
        ct->pend.reclaimed++;
        return rc != RC_OK ? rc : RC_ENOTFOUND;
    } else {
        return rc;
    }
    if (rc == RC_OK) {
        rc = coord_after_write(ct, req, k, resp);
    }
    return rc;
}

static void
coord_op_delete(struct coord_thread *ct, const struct request *req, struct response *resp,
                uint64_t *ticket)
{
    resp->status = coord_update(ct, req, &req->keys[0], coord_body_delete, resp, ticket);
}

/* ------------------------------------------------------------------ extension writes */

/* vset / ms Y / VSet and vdel / md Y / VDelete, with the validated context
 * in ct->vctx (coord_op_vwrite parses it before taking the lock). */
static int
coord_body_vwrite(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                  struct response *resp)
{
    struct coord_item it;
    bool present;
    uint32_t nlive = 0;
    int rc = coord_load(ct, &it, &resp->miss, &present);
    bool del = req->cmd == REQ_VDEL;

    /* Absent, or dead (expired or flushed): vdel answers NOT_FOUND and a
     * dead record goes at once, as for a plain delete (V.8). */
    if (del && rc == RC_ENOTFOUND && resp->miss != RESP_MISS_ABSENT) {
        rc = coord_remove(ct);
        ct->pend.reclaimed++;
        return rc != RC_OK ? rc : RC_ENOTFOUND;
    }
    if (del && rc == RC_ENOTFOUND && !present) {
        return RC_ENOTFOUND;
    }
    resp->miss = RESP_MISS_NONE;
    rc = coord_vwrite(ct, k, ct->vctx, req, del, &nlive);
    if (rc != RC_OK) {
        return rc;
    }
    resp->nlive = nlive;
    rc = coord_fill_context(ct, k, resp);
    if (rc == RC_OK && ct->co->cfg.use_cas) {
        struct object_view v;

        if (object_view_decode(ct->enc.data, ct->enc.len, &v) == RC_OK) {
            resp->cas = v.cas;
        }
    }
    return rc;
}

static void
coord_op_vwrite(struct coord_thread *ct, const struct request *req, struct response *resp,
                uint64_t *ticket)
{
    struct coord *co = ct->co;
    const struct req_key *k = &req->keys[0];
    struct dvv_vector ctx;
    int rc;

    atomic_fetch_add(&co->vset_cmds, 1);
    if (req->cmd == REQ_VSET &&
        req_item_size(k->nkey, req->nvalue, req->flags) > co->cfg.max_item_size) {
        resp->status = RC_ETOOLARGE; /* nothing stored is removed (V.8) */
        return;
    }
    rc = coord_open_context(ct, k, req->context, req->ncontext, &ctx);
    if (rc != RC_OK) {
        dvv_vector_deinit(&ctx);
        resp->status = rc;
        return;
    }
    ct->vctx = &ctx;
    resp->status = coord_update(ct, req, k, coord_body_vwrite, resp, ticket);
    ct->vctx = NULL;
    dvv_vector_deinit(&ctx);
    if (resp->status == RC_ESIBLINGS) {
        atomic_fetch_add(&co->sibling_limit_refused, 1);
    }
}

/* ------------------------------------------------------------------ arithmetic */

/* Parse a stored value as memcached's incr does (strtoull, then accept if
 * the number is followed by white space or the end; a '-' is refused only
 * when the result would be negative as a signed value, so "-0" passes).
 * Only the first COORD_INCR_MAX_LEN bytes matter: a number cannot be longer,
 * and whatever follows its first trailing blank is ignored. */
static int
coord_parse_counter(const void *v, size_t n, uint64_t *out)
{
    char tmp[COORD_INCR_MAX_LEN + 1];
    char *end;
    unsigned long long x;

    if (n == 0) {
        return RC_ENONNUMERIC;
    }
    n = n > COORD_INCR_MAX_LEN ? COORD_INCR_MAX_LEN : n;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    errno = 0;
    x = strtoull(tmp, &end, 10);
    if (errno != 0 || end == tmp || (*end != '\0' && !isspace((unsigned char)*end))) {
        return RC_ENONNUMERIC;
    }
    if ((long long)x < 0 && strchr(tmp, '-') != NULL) {
        return RC_ENONNUMERIC;
    }
    *out = (uint64_t)x;
    return RC_OK;
}

/* New counter text into ct->val: memcached keeps the old length, padding
 * with spaces, when the new number is not longer. */
static int
coord_counter_text(struct coord_thread *ct, uint64_t v, size_t oldlen)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, v);
    int rc;

    buf_reset(&ct->val);
    rc = buf_append(&ct->val, num, (size_t)n);
    while (rc == RC_OK && ct->val.len < oldlen) {
        rc = buf_append(&ct->val, " ", 1);
    }
    return rc;
}

/* ma N / binary incr with an expiry: a miss creates the counter with the
 * initial value (the delta is not applied), as memcached does. */
static int
coord_arith_create(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                   struct response *resp)
{
    struct coord_item it;
    int rc = coord_counter_text(ct, req->opts.initial, 0);

    if (rc != RC_OK) {
        return rc;
    }
    memset(&it, 0, sizeof(it));
    it.exptime = coord_abs_exptime(req->opts.vivify_ttl, util_now_s());
    it.value = ct->val.data;
    it.nvalue = ct->val.len;
    rc = coord_write(ct, k, &it);
    if (rc == RC_OK) {
        resp->number = req->opts.initial;
        resp->cas = ct->co->cfg.use_cas ? it.cas : 0;
        resp->created = true;
        coord_item_info(&it, util_now_s(), resp);
    }
    return rc;
}

static int
coord_body_arith(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                 struct response *resp)
{
    struct coord_item it;
    bool present;
    uint64_t v;
    int rc = coord_load(ct, &it, &resp->miss, &present);

    if (rc == RC_ENOTFOUND && coord_opt(req, REQO_VIVIFY)) {
        return coord_arith_create(ct, req, k, resp);
    }
    if (rc != RC_OK) {
        return rc;
    }
    if (coord_opt(req, REQO_COMPARE_CAS) &&
        (ct->co->cfg.use_cas ? it.cas : 0) != req->opts.compare_cas) {
        return RC_EEXISTS;
    }
    rc = coord_parse_counter(it.value, it.nvalue, &v);
    if (rc != RC_OK) {
        return rc;
    }
    if (req->cmd == REQ_INCR) {
        v += req->delta; /* wraps at 2^64, as memcached */
    } else {
        v = req->delta > v ? 0 : v - req->delta;
    }
    rc = coord_counter_text(ct, v, it.nvalue);
    if (rc != RC_OK) {
        return rc;
    }
    it.value = ct->val.data;
    it.nvalue = ct->val.len;
    /* ma t: the TTL as found; the meta codec knows a T it was sent. */
    coord_item_info(&it, util_now_s(), resp);
    if (coord_opt(req, REQO_TTL)) {
        it.exptime = coord_abs_exptime(req->opts.ttl, util_now_s());
    }
    rc = coord_write(ct, k, &it);
    if (rc == RC_OK) {
        resp->number = v;
        resp->cas = ct->co->cfg.use_cas ? it.cas : 0;
    }
    return rc;
}

static void
coord_op_arith(struct coord_thread *ct, const struct request *req, struct response *resp,
               uint64_t *ticket)
{
    resp->status = coord_update(ct, req, &req->keys[0], coord_body_arith, resp, ticket);
    if (resp->status == RC_OK) {
        /* ma v returns the number as the value. */
        resp->value = ct->val.data;
        resp->nvalue = ct->val.len;
    }
}

/* ------------------------------------------------------------------ touch, me */

static int
coord_body_touch(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                 struct response *resp)
{
    struct coord_item it;
    bool present;
    int rc = coord_load(ct, &it, &resp->miss, &present);

    if (rc == RC_OK) {
        it.exptime = coord_abs_exptime(req->exptime, util_now_s());
        rc = coord_rewrite(ct, k, &it, false);
    }
    if (rc == RC_OK) {
        coord_fill_hit(ct->co, resp, &it); /* binary touch returns flags and cas */
    }
    return rc;
}

static void
coord_op_touch(struct coord_thread *ct, const struct request *req, struct response *resp,
               uint64_t *ticket)
{
    resp->status = coord_update(ct, req, &req->keys[0], coord_body_touch, resp, ticket);
}

/* me: what is known about an item, without counting as an access. */
static void
coord_op_inspect(struct coord_thread *ct, const struct request *req, struct response *resp)
{
    struct coord_item it;
    bool present;
    int rc = coord_read(ct, &req->keys[0]);

    if (rc == RC_OK) {
        rc = coord_load(ct, &it, &resp->miss, &present);
    }
    resp->status = rc;
    if (rc == RC_OK) {
        coord_item_info(&it, util_now_s(), resp);
        coord_fill_hit(ct->co, resp, &it);
    }
}

int
coord_execute_view(struct coord_thread *ct, const struct request *req, size_t ki, const void *rec,
                   size_t nrec, struct response *resp)
{
    const struct req_key *k = &req->keys[ki];

    response_reset(resp);
    if ((req->cmd != REQ_GET && req->cmd != REQ_GETS && req->cmd != REQ_VGET) ||
        coord_opt(req, REQO_TTL | REQO_VIVIFY)) {
        resp->status = RC_EINVAL;
        return RC_EINVAL;
    }
    if (req->cmd == REQ_VGET) {
        atomic_fetch_add(&ct->co->vget_cmds, 1);
    }
    buf_reset(&ct->old);
    ct->key = *k;
    ct->have_old = rec != NULL;
    if (rec != NULL && buf_append(&ct->old, rec, nrec) != RC_OK) {
        resp->status = RC_ENOMEM;
        return RC_ENOMEM;
    }
    ct->obj_loaded = false;
    memset(&ct->pend, 0, sizeof(ct->pend));
    resp->status = coord_body_get(ct, req, k, resp);
    /* Whatever the body recorded (an access bump) is not stored. */
    memset(&ct->pend, 0, sizeof(ct->pend));
    if (req->cmd != REQ_VGET) {
        coord_count_hidden(ct, resp);
    }
    return resp->status;
}

int
coord_execute(struct coord_thread *ct, const struct request *req, size_t ki, struct response *resp,
              uint64_t *ticket)
{
    struct coord *co = ct->co;

    response_reset(resp);
    *ticket = 0;
    switch (req->cmd) {
    case REQ_GET:
    case REQ_GETS:
    case REQ_GAT:
    case REQ_GATS:
    case REQ_VGET:
        coord_op_get(ct, req, ki, resp, ticket);
        break;
    case REQ_SET:
    case REQ_ADD:
    case REQ_REPLACE:
    case REQ_APPEND:
    case REQ_PREPEND:
    case REQ_CAS:
        coord_op_store(ct, req, resp, ticket);
        break;
    case REQ_VSET:
    case REQ_VDEL:
        coord_op_vwrite(ct, req, resp, ticket);
        break;
    case REQ_DELETE:
        coord_op_delete(ct, req, resp, ticket);
        break;
    case REQ_INCR:
    case REQ_DECR:
        coord_op_arith(ct, req, resp, ticket);
        break;
    case REQ_TOUCH:
        coord_op_touch(ct, req, resp, ticket);
        break;
    case REQ_ME:
        coord_op_inspect(ct, req, resp);
        break;
    case REQ_MN:
        break; /* meta no-op: its reply is MN, in request order */
    case REQ_FLUSH_ALL:
        if (!co->cfg.flush_enabled) {
            resp->status = RC_EINVAL;
            resp->errmsg = "flush_all not allowed";
        } else {
            resp->status = coord_flush_all(co, req);
        }
        break;
    default:
        resp->status = RC_EINTERNAL;
        resp->errmsg = "command not handled by the coordinator";
        break;
    }
    return *ticket != 0 ? RC_EAGAIN : RC_OK;
}
