/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coord_ops.c - the meaning of each command over the coordinator's
 * primitives (coord_internal.h): memcached 1.6's text, meta and binary
 * semantics, which differ only in the options a codec sets (req->opts).
 *
 *   retrieval   get gets gat gats, mg          -> coord_op_get
 *   storage     set add replace append prepend cas, ms, binary sets
 *                                              -> coord_op_store
 *   delete      delete, md, binary delete      -> coord_op_delete
 *   arithmetic  incr decr, ma, binary incr/decr -> coord_op_arith
 *   touch       touch, binary touch            -> coord_op_touch
 *   me          item debug info                -> coord_op_inspect
 *
 * Every function that writes takes the key's stripe lock, reads the current
 * record under it, decides, and writes once. A plain get reads without the
 * lock and takes it only when the read itself must be recorded (first fetch,
 * or a last-access time older than COORD_BUMP_INTERVAL, as memcached bumps).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/status.h"
#include "base/util.h"
#include "coord/coord_internal.h"

/* Reads refresh an item's access time at most this often (memcached's
 * ITEM_UPDATE_INTERVAL), so a read-mostly key is rewritten once a minute at
 * most. */
#define COORD_BUMP_INTERVAL 60

static bool
coord_opt(const struct request *req, uint32_t bit)
{
    return (req->opts.set & bit) != 0;
}

/* ------------------------------------------------------------------ get */

static void
coord_item_info(const struct record *r, int64_t now, struct response *resp)
{
    resp->ttl = r->exptime == 0 ? -1 : (r->exptime > now ? r->exptime - now : 0);
    resp->last_access = now > r->atime ? now - r->atime : 0;
    resp->hit_before = (r->iflags & RECORD_IF_FETCHED) != 0;
    resp->stale = (r->iflags & RECORD_IF_STALE) != 0;
}

static bool
coord_needs_bump(const struct request *req, const struct record *r, int64_t now)
{
    if (coord_opt(req, REQO_NO_BUMP)) {
        return false;
    }
    return (r->iflags & RECORD_IF_FETCHED) == 0 || now - r->atime >= COORD_BUMP_INTERVAL;
}

/* Recache arbitration for meta gets (W, X, Z): a stale item, or one whose
 * TTL is below the client's R token, hands one client a win; later clients
 * see that a win is out. Returns true if the record changed. */
static bool
coord_recache(const struct request *req, struct record *r, struct response *resp)
{
    bool want;

    if (req->proto != REQ_PROTO_META) {
        return false;
    }
    if ((r->iflags & RECORD_IF_WON) != 0) {
        resp->won_already = true;
        return false;
    }
    want = (r->iflags & RECORD_IF_STALE) != 0 ||
           (coord_opt(req, REQO_RECACHE) && resp->ttl != -1 && resp->ttl < req->opts.recache_ttl);
    if (!want) {
        return false;
    }
    resp->win = true;
    r->iflags |= RECORD_IF_WON;
    return true;
}

/* mg N on a miss: create an empty item and hand this client the win. */
static int
coord_vivify_empty(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                   bool present, size_t oldlen, struct response *resp, uint64_t *ticket)
{
    struct record r;
    int rc;

    memset(&r, 0, sizeof(r));
    r.exptime = coord_abs_exptime(req->opts.vivify_ttl, util_now_s());
    r.iflags = RECORD_IF_WON;
    r.value = "";
    rc = coord_write(ct, k, &r, present, oldlen, ticket);
    if (rc != RC_OK) {
        return rc;
    }
    coord_fill_hit(ct->co, resp, &r);
    coord_item_info(&r, util_now_s(), resp);
    resp->win = true;
    resp->created = true;
    return RC_OK;
}

/* Everything a retrieval does under the key's lock: vivify, TTL update,
 * recache arbitration, access bookkeeping. */
static int
coord_get_locked(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                 struct response *resp, uint64_t *ticket)
{
    int64_t now = util_now_s();
    struct record r;
    bool present, changed = false, durable = false;
    int rc = coord_load(ct, k, &r, &resp->miss, &present);

    if (rc == RC_ENOTFOUND && coord_opt(req, REQO_VIVIFY)) {
        return coord_vivify_empty(ct, req, k, present, present ? r.nvalue : 0, resp, ticket);
    }
    if (rc != RC_OK) {
        return rc;
    }
    coord_item_info(&r, now, resp);
    if (req->cmd == REQ_GAT || req->cmd == REQ_GATS || coord_opt(req, REQO_TTL)) {
        r.exptime = coord_abs_exptime(coord_opt(req, REQO_TTL) ? req->opts.ttl : req->exptime, now);
        changed = durable = true;
    }
    changed |= coord_recache(req, &r, resp);
    if (coord_needs_bump(req, &r, now)) {
        r.iflags |= RECORD_IF_FETCHED;
        r.atime = now;
        changed = true;
    }
    if (changed) {
        /* Access and recache bookkeeping need not be durable; a TTL is. */
        rc = coord_rewrite(ct, k, &r, durable ? ticket : NULL);
        if (rc != RC_OK && durable) {
            return rc;
        }
    }
    coord_fill_hit(ct->co, resp, &r);
    return RC_OK;
}

static void
coord_op_get(struct coord_thread *ct, const struct request *req, size_t ki, struct response *resp,
             uint64_t *ticket)
{
    const struct req_key *k = &req->keys[ki];
    pthread_mutex_t *lk;
    struct record r;
    bool present;
    int rc;

    if (req->cmd == REQ_GET || req->cmd == REQ_GETS) {
        /* Fast path: a read that changes nothing takes no lock. */
        rc = coord_load(ct, k, &r, &resp->miss, &present);
        if (rc != RC_OK && rc != RC_ENOTFOUND) {
            resp->status = rc;
            return;
        }
        if (rc == RC_OK && req->opts.set == 0 && req->proto != REQ_PROTO_META &&
            !coord_needs_bump(req, &r, util_now_s())) {
            coord_item_info(&r, util_now_s(), resp);
            coord_fill_hit(ct->co, resp, &r);
            return;
        }
        if (rc == RC_ENOTFOUND && !coord_opt(req, REQO_VIVIFY)) {
            resp->status = rc;
            return;
        }
    }
    lk = coord_key_lock(ct->co, k);
    pthread_mutex_lock(lk);
    resp->status = coord_get_locked(ct, req, k, resp, ticket);
    pthread_mutex_unlock(lk);
}

/* ------------------------------------------------------------------ store */

/* Compose append/prepend's value into ct->val. */
static int
coord_concat(struct coord_thread *ct, const struct request *req, const struct record *old)
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
 * fields. With REQO_INVALIDATE (ms I) an older compare value still stores,
 * but the new version is marked stale. */
static int
coord_check_cas(struct coord_thread *ct, const struct request *req, int live,
                const struct record *old, struct record *nr)
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
    if (coord_opt(req, REQO_INVALIDATE) && want < have) {
        nr->iflags |= RECORD_IF_STALE;
        return RC_OK;
    }
    return RC_EEXISTS;
}

/* Decide a storage command against the current state. RC_OK: store `nr`;
 * otherwise the reply status. */
static int
coord_store_decide(struct coord_thread *ct, const struct request *req, int live,
                   const struct record *old, struct record *nr)
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

static void
coord_op_store(struct coord_thread *ct, const struct request *req, struct response *resp,
               uint64_t *ticket)
{
    const struct req_key *k = &req->keys[0];
    pthread_mutex_t *lk = coord_key_lock(ct->co, k);
    struct record old, nr;
    bool present;
    int live, rc;

    memset(&old, 0, sizeof(old));
    memset(&nr, 0, sizeof(nr));
    nr.flags = req->flags;
    nr.exptime = coord_abs_exptime(req->exptime, util_now_s());
    nr.value = req->value;
    nr.nvalue = req->nvalue;
    pthread_mutex_lock(lk);
    live = coord_load(ct, k, &old, &resp->miss, &present);
    if (live != RC_OK && live != RC_ENOTFOUND) {
        rc = live;
    } else {
        rc = coord_store_decide(ct, req, live, &old, &nr);
        if (rc == RC_OK) {
            rc = coord_write(ct, k, &nr, present, present ? old.nvalue : 0, ticket);
        }
        if (rc == RC_OK) {
            resp->cas = ct->co->cfg.use_cas ? nr.cas : 0;
        }
    }
    pthread_mutex_unlock(lk);
    resp->status = rc;
}

/* ------------------------------------------------------------------ delete */

/* md I: keep the item but mark it stale under a new cas, so the next meta
 * get hands out a recache win. */
static int
coord_delete_soft(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                  struct record *r, uint64_t *ticket)
{
    size_t oldlen = r->nvalue;

    if (coord_opt(req, REQO_INVALIDATE)) {
        r->iflags = (uint8_t)((r->iflags | RECORD_IF_STALE) & ~RECORD_IF_WON);
    }
    if (coord_opt(req, REQO_TTL)) {
        r->exptime = coord_abs_exptime(req->opts.ttl, util_now_s());
    }
    return coord_write(ct, k, r, true, oldlen, ticket);
}

static void
coord_op_delete(struct coord_thread *ct, const struct request *req, struct response *resp,
                uint64_t *ticket)
{
    const struct req_key *k = &req->keys[0];
    pthread_mutex_t *lk = coord_key_lock(ct->co, k);
    struct record old;
    bool present;
    int rc;

    pthread_mutex_lock(lk);
    rc = coord_load(ct, k, &old, &resp->miss, &present);
    if (rc == RC_OK && coord_opt(req, REQO_COMPARE_CAS) &&
        (ct->co->cfg.use_cas ? old.cas : 0) != req->opts.compare_cas) {
        rc = RC_EEXISTS;
    } else if (rc == RC_OK && coord_opt(req, REQO_INVALIDATE)) {
        rc = coord_delete_soft(ct, req, k, &old, ticket);
    } else if (present && (rc == RC_OK || rc == RC_ENOTFOUND)) {
        /* A dead record goes too, but the reply is still NOT_FOUND. */
        int drc = coord_remove(ct, k, old.nvalue, ticket);

        if (drc != RC_OK) {
            rc = drc;
        } else if (rc == RC_ENOTFOUND) {
            atomic_fetch_add(&ct->co->reclaimed, 1);
        }
    }
    pthread_mutex_unlock(lk);
    resp->status = rc;
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
                   bool present, size_t oldlen, struct response *resp, uint64_t *ticket)
{
    struct record r;
    int rc = coord_counter_text(ct, req->opts.initial, 0);

    if (rc != RC_OK) {
        return rc;
    }
    memset(&r, 0, sizeof(r));
    r.exptime = coord_abs_exptime(req->opts.vivify_ttl, util_now_s());
    r.value = ct->val.data;
    r.nvalue = ct->val.len;
    rc = coord_write(ct, k, &r, present, oldlen, ticket);
    if (rc == RC_OK) {
        resp->number = req->opts.initial;
        resp->cas = ct->co->cfg.use_cas ? r.cas : 0;
        resp->created = true;
        coord_item_info(&r, util_now_s(), resp);
    }
    return rc;
}

static int
coord_arith_locked(struct coord_thread *ct, const struct request *req, const struct req_key *k,
                   struct response *resp, uint64_t *ticket)
{
    struct record r;
    bool present;
    uint64_t v;
    size_t oldlen;
    int rc = coord_load(ct, k, &r, &resp->miss, &present);

    if (rc == RC_ENOTFOUND && coord_opt(req, REQO_VIVIFY)) {
        return coord_arith_create(ct, req, k, present, present ? r.nvalue : 0, resp, ticket);
    }
    if (rc != RC_OK) {
        return rc;
    }
    if (coord_opt(req, REQO_COMPARE_CAS) &&
        (ct->co->cfg.use_cas ? r.cas : 0) != req->opts.compare_cas) {
        return RC_EEXISTS;
    }
    rc = coord_parse_counter(r.value, r.nvalue, &v);
    if (rc != RC_OK) {
        return rc;
    }
    if (req->cmd == REQ_INCR) {
        v += req->delta; /* wraps at 2^64, as memcached */
    } else {
        v = req->delta > v ? 0 : v - req->delta;
    }
    rc = coord_counter_text(ct, v, r.nvalue);
    if (rc != RC_OK) {
        return rc;
    }
    oldlen = r.nvalue;
    r.value = ct->val.data;
    r.nvalue = ct->val.len;
    /* ma t: the TTL as found; the meta codec knows a T it was sent. */
    coord_item_info(&r, util_now_s(), resp);
    if (coord_opt(req, REQO_TTL)) {
        r.exptime = coord_abs_exptime(req->opts.ttl, util_now_s());
    }
    rc = coord_write(ct, k, &r, true, oldlen, ticket);
    if (rc == RC_OK) {
        resp->number = v;
        resp->cas = ct->co->cfg.use_cas ? r.cas : 0;
    }
    return rc;
}

static void
coord_op_arith(struct coord_thread *ct, const struct request *req, struct response *resp,
               uint64_t *ticket)
{
    const struct req_key *k = &req->keys[0];
    pthread_mutex_t *lk = coord_key_lock(ct->co, k);

    pthread_mutex_lock(lk);
    resp->status = coord_arith_locked(ct, req, k, resp, ticket);
    if (resp->status == RC_OK) {
        /* ma v returns the number as the value. */
        resp->value = ct->val.data;
        resp->nvalue = ct->val.len;
    }
    pthread_mutex_unlock(lk);
}

/* ------------------------------------------------------------------ touch, me */

static void
coord_op_touch(struct coord_thread *ct, const struct request *req, struct response *resp,
               uint64_t *ticket)
{
    const struct req_key *k = &req->keys[0];
    pthread_mutex_t *lk = coord_key_lock(ct->co, k);
    struct record r;
    bool present;
    int rc;

    pthread_mutex_lock(lk);
    rc = coord_load(ct, k, &r, &resp->miss, &present);
    if (rc == RC_OK) {
        r.exptime = coord_abs_exptime(req->exptime, util_now_s());
        rc = coord_rewrite(ct, k, &r, ticket);
    }
    if (rc == RC_OK) {
        coord_fill_hit(ct->co, resp, &r); /* binary touch returns flags and cas */
    }
    pthread_mutex_unlock(lk);
    resp->status = rc;
}

/* me: what is known about an item, without counting as an access. */
static void
coord_op_inspect(struct coord_thread *ct, const struct request *req, struct response *resp)
{
    struct record r;
    bool present;
    int rc = coord_load(ct, &req->keys[0], &r, &resp->miss, &present);

    resp->status = rc;
    if (rc == RC_OK) {
        coord_item_info(&r, util_now_s(), resp);
        coord_fill_hit(ct->co, resp, &r);
    }
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
