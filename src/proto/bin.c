/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bin.c - the memcached 1.6 binary protocol codec (see bin.h for the packet
 * layout): packets in, struct request out; struct response in, packets out.
 *
 *   data --24-byte header--> magic 0x80?           no: close, no reply
 *        --key + extras <= body?                   no: UNKNOWN_COMMAND, close
 *        --key <= 250?                             no: EINVAL, close
 *        --opcode in bin_ops[]?                    no: UNKNOWN_COMMAND, swallow
 *        --lengths fit the opcode (bin_shape_ok)?  no: EINVAL, close
 *        --value fits -I (bin_check_value)?        no: E2BIG, swallow
 *        --whole packet present?                   no: AGAIN
 *        --bin_request_fill--> struct request
 *
 * Acceptance follows memcached 1.6.18's dispatch_bin_command, checked against
 * the real server. Two of its framing quirks are kept because clients see
 * them: touch/GAT and stat consume only header, extras and key (any further
 * body bytes are read as the next packet), and a value length that is
 * negative as a C int (body - key - extras >= 2^31) is refused as E2BIG
 * without swallowing anything. One is not: for an unknown opcode memcached
 * swallows the body length *after* the extras and key it already read,
 * eating the start of the next packet; we swallow exactly the packet.
 *
 * Opcodes 0xe8 to 0xec are ringcached's causal-versioning extension
 * (doc/protocol-extension.txt section 4): VGet (a key), VSet/VSetQ (10 bytes
 * of extras: flags, expiration, context length L; the value is the context
 * then the data) and VDelete/VDeleteQ (2 bytes of extras: L; the value is
 * the context). Their lengths are checked exactly (a mismatch closes the
 * connection); a VSet whose data exceeds -I is refused as E2BIG and its body
 * swallowed, judged from the header alone when the value exceeds -I + 543.
 * Once a VSet or VDelete packet is read whole, a non-zero cas (or "-" as a
 * context) is refused as EINVAL and the connection goes on; every other
 * context goes to the coordinator, which validates it. Each of them may
 * carry one more extras byte (VGet 1, VSet 11, VDelete 3): the per-request
 * R (VGet) or W, 0 = the node's default, above 16 EINVAL (section 8).
 *
 * Invariants: the parser decides from the header alone before waiting for a
 * body, so a declared length can never make it wait for more than
 * 24 + extras + key + max item size bytes; it never reads data[len] or
 * beyond, never writes to the input and allocates nothing. Every binary
 * exptime is an unsigned 32-bit number, passed on as a non-negative int64_t.
 */
#include "config.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "base/endian.h"
#include "base/status.h"
#include "proto/bin.h"

#define BIN_EXTLEN_STORE     8  /* flags, expiration */
#define BIN_EXTLEN_ARITH     20 /* delta, initial, expiration */
#define BIN_EXTLEN_TOUCH     4  /* expiration */
#define BIN_EXTLEN_FLUSH     4  /* optional delay */
#define BIN_EXTLEN_FLAGS     4  /* a get hit's extras */
#define BIN_EXTLEN_VSET      10 /* flags, expiration, context length */
#define BIN_EXTLEN_VDEL      2  /* context length */
#define BIN_EXTLEN_QUORUM    1  /* optional: R (VGet) or W (VSet, VDelete) */
#define BIN_EXTLEN_VGET_RES  8  /* live siblings, context length, reserved */
#define BIN_EXTLEN_VWRITE    4  /* live siblings after the write */
#define BIN_SIBLING_HEAD     16 /* flags, write time, data length */
#define BIN_TEXT_CONTEXT     "bad context"
#define BIN_TEXT_SIBLINGS    "too many siblings"
#define BIN_ARITH_NO_CREATE  0xffffffffu
#define BIN_ITEM_MAX_DEFAULT (1024u * 1024u)

/* ------------------------------------------------------------ opcodes */

struct bin_header {
    uint8_t magic;
    uint8_t opcode;
    uint16_t keylen;
    uint8_t extlen;
    uint32_t bodylen;
    uint32_t opaque;
    uint64_t cas;
};

/* The lengths an opcode accepts (memcached's checks in dispatch_bin_command). */
enum bin_shape {
    BIN_SHAPE_UNKNOWN = 0, /* not an opcode memcached answers */
    BIN_SHAPE_GET,         /* key, nothing else */
    BIN_SHAPE_STORE,       /* 8 extras, key, value */
    BIN_SHAPE_CONCAT,      /* key, value */
    BIN_SHAPE_ARITH,       /* 20 extras, key */
    BIN_SHAPE_EMPTY,       /* no body at all */
    BIN_SHAPE_FLUSH,       /* 0 or 4 extras */
    BIN_SHAPE_STAT,        /* optional key; further body ignored */
    BIN_SHAPE_TOUCH,       /* 4 extras, key; further body ignored */
    BIN_SHAPE_SASL,        /* key (mechanism), value (data) */
    BIN_SHAPE_VGET,        /* key; optional 1 extras byte: R */
    BIN_SHAPE_VSET,        /* 10 (11: + W) extras, key, value = context + data */
    BIN_SHAPE_VDEL,        /* 2 (3: + W) extras, key, value = context */
    BIN_SHAPE__COUNT
};

/* X(opcode, command, shape, wire flags) */
#define BIN_OP_TABLE(X)                                                         \
    X(BIN_OP_GET, REQ_GET, BIN_SHAPE_GET, 0)                                    \
    X(BIN_OP_GETQ, REQ_GET, BIN_SHAPE_GET, BIN_WF_QUIET)                        \
    X(BIN_OP_GETK, REQ_GET, BIN_SHAPE_GET, BIN_WF_RETURN_KEY)                   \
    X(BIN_OP_GETKQ, REQ_GET, BIN_SHAPE_GET, BIN_WF_QUIET | BIN_WF_RETURN_KEY)   \
    X(BIN_OP_SET, REQ_SET, BIN_SHAPE_STORE, 0)                                  \
    X(BIN_OP_SETQ, REQ_SET, BIN_SHAPE_STORE, BIN_WF_QUIET)                      \
    X(BIN_OP_ADD, REQ_ADD, BIN_SHAPE_STORE, 0)                                  \
    X(BIN_OP_ADDQ, REQ_ADD, BIN_SHAPE_STORE, BIN_WF_QUIET)                      \
    X(BIN_OP_REPLACE, REQ_REPLACE, BIN_SHAPE_STORE, 0)                          \
    X(BIN_OP_REPLACEQ, REQ_REPLACE, BIN_SHAPE_STORE, BIN_WF_QUIET)              \
    X(BIN_OP_APPEND, REQ_APPEND, BIN_SHAPE_CONCAT, 0)                           \
    X(BIN_OP_APPENDQ, REQ_APPEND, BIN_SHAPE_CONCAT, BIN_WF_QUIET)               \
    X(BIN_OP_PREPEND, REQ_PREPEND, BIN_SHAPE_CONCAT, 0)                         \
    X(BIN_OP_PREPENDQ, REQ_PREPEND, BIN_SHAPE_CONCAT, BIN_WF_QUIET)             \
    X(BIN_OP_DELETE, REQ_DELETE, BIN_SHAPE_GET, 0)                              \
    X(BIN_OP_DELETEQ, REQ_DELETE, BIN_SHAPE_GET, BIN_WF_QUIET)                  \
    X(BIN_OP_INCREMENT, REQ_INCR, BIN_SHAPE_ARITH, 0)                           \
    X(BIN_OP_INCREMENTQ, REQ_INCR, BIN_SHAPE_ARITH, BIN_WF_QUIET)               \
    X(BIN_OP_DECREMENT, REQ_DECR, BIN_SHAPE_ARITH, 0)                           \
    X(BIN_OP_DECREMENTQ, REQ_DECR, BIN_SHAPE_ARITH, BIN_WF_QUIET)               \
    X(BIN_OP_QUIT, REQ_QUIT, BIN_SHAPE_EMPTY, 0)                                \
    X(BIN_OP_QUITQ, REQ_QUIT, BIN_SHAPE_EMPTY, BIN_WF_QUIET)                    \
    X(BIN_OP_FLUSH, REQ_FLUSH_ALL, BIN_SHAPE_FLUSH, 0)                          \
    X(BIN_OP_FLUSHQ, REQ_FLUSH_ALL, BIN_SHAPE_FLUSH, BIN_WF_QUIET)              \
    X(BIN_OP_NOOP, REQ_NOOP, BIN_SHAPE_EMPTY, 0)                                \
    X(BIN_OP_VERSION, REQ_VERSION, BIN_SHAPE_EMPTY, 0)                          \
    X(BIN_OP_STAT, REQ_STATS, BIN_SHAPE_STAT, 0)                                \
    X(BIN_OP_TOUCH, REQ_TOUCH, BIN_SHAPE_TOUCH, 0)                              \
    X(BIN_OP_GAT, REQ_GAT, BIN_SHAPE_TOUCH, 0)                                  \
    X(BIN_OP_GATQ, REQ_GAT, BIN_SHAPE_TOUCH, BIN_WF_QUIET)                      \
    X(BIN_OP_GATK, REQ_GAT, BIN_SHAPE_TOUCH, BIN_WF_RETURN_KEY)                 \
    X(BIN_OP_GATKQ, REQ_GAT, BIN_SHAPE_TOUCH, BIN_WF_QUIET | BIN_WF_RETURN_KEY) \
    X(BIN_OP_SASL_LIST_MECHS, REQ_SASL_LIST, BIN_SHAPE_EMPTY, 0)                \
    X(BIN_OP_SASL_AUTH, REQ_SASL_AUTH, BIN_SHAPE_SASL, 0)                       \
    X(BIN_OP_SASL_STEP, REQ_SASL_STEP, BIN_SHAPE_SASL, 0)                       \
    X(BIN_OP_VGET, REQ_VGET, BIN_SHAPE_VGET, 0)                                 \
    X(BIN_OP_VSET, REQ_VSET, BIN_SHAPE_VSET, 0)                                 \
    X(BIN_OP_VSETQ, REQ_VSET, BIN_SHAPE_VSET, BIN_WF_QUIET)                     \
    X(BIN_OP_VDELETE, REQ_VDEL, BIN_SHAPE_VDEL, 0)                              \
    X(BIN_OP_VDELETEQ, REQ_VDEL, BIN_SHAPE_VDEL, BIN_WF_QUIET)

struct bin_op {
    enum req_cmd cmd;
    enum bin_shape shape;
    uint32_t wflags;
};

/* Indexed by opcode; absent opcodes are zero: BIN_SHAPE_UNKNOWN. */
static const struct bin_op bin_ops[256] = {
#define BIN_OP_ENTRY(op, cmd, shape, wflags) [op] = {cmd, shape, wflags},
    BIN_OP_TABLE(BIN_OP_ENTRY)
#undef BIN_OP_ENTRY
};

/* ------------------------------------------------------------ parser */

static void
bin_header_read(const char *data, struct bin_header *h)
{
    h->magic = (uint8_t)data[0];
    h->opcode = (uint8_t)data[1];
    h->keylen = be_get16((const unsigned char *)(data + 2));
    h->extlen = (uint8_t)data[4];
    /* data[5] datatype and data[6..7] vbucket: memcached ignores both */
    h->bodylen = be_get32((const unsigned char *)(data + 8));
    h->opaque = be_get32((const unsigned char *)(data + 12));
    h->cas = be_get64((const unsigned char *)(data + 16));
}

static enum bin_rc
bin_fail(struct bin_error *err, uint16_t status, bool close)
{
    err->reply = true;
    err->status = status;
    err->text = NULL;
    err->swallow = 0;
    err->close = close;
    return BIN_ERROR;
}

/* memcached reads the body length of some commands into a C int: above
 * INT_MAX it is negative, and a negative swallow count swallows nothing. */
static size_t
bin_swallow_len(uint32_t n)
{
    return n <= INT_MAX ? n : 0;
}

static bool
bin_shape_ok(enum bin_shape shape, const struct bin_header *h)
{
    switch (shape) {
    case BIN_SHAPE_GET:
        return h->extlen == 0 && h->keylen > 0 && h->bodylen == h->keylen;
    case BIN_SHAPE_STORE:
        return h->extlen == BIN_EXTLEN_STORE && h->keylen > 0;
    case BIN_SHAPE_CONCAT:
    case BIN_SHAPE_SASL:
        return h->extlen == 0 && h->keylen > 0;
    case BIN_SHAPE_ARITH:
        return h->extlen == BIN_EXTLEN_ARITH && h->keylen > 0 &&
               h->bodylen == (uint32_t)h->keylen + BIN_EXTLEN_ARITH;
    case BIN_SHAPE_EMPTY:
        return h->bodylen == 0;
    case BIN_SHAPE_FLUSH:
        return h->keylen == 0 && h->bodylen == h->extlen &&
               (h->extlen == 0 || h->extlen == BIN_EXTLEN_FLUSH);
    case BIN_SHAPE_STAT:
        return h->extlen == 0;
    case BIN_SHAPE_TOUCH:
        return h->extlen == BIN_EXTLEN_TOUCH && h->keylen > 0;
    case BIN_SHAPE_VGET:
        return (h->extlen == 0 || h->extlen == BIN_EXTLEN_QUORUM) && h->keylen > 0 &&
               h->bodylen == (uint32_t)h->keylen + h->extlen;
    case BIN_SHAPE_VSET:
        return (h->extlen == BIN_EXTLEN_VSET || h->extlen == BIN_EXTLEN_VSET + BIN_EXTLEN_QUORUM) &&
               h->keylen > 0;
    case BIN_SHAPE_VDEL: /* the value is the context: at most 543 bytes */
        return (h->extlen == BIN_EXTLEN_VDEL || h->extlen == BIN_EXTLEN_VDEL + BIN_EXTLEN_QUORUM) &&
               h->keylen > 0 && h->bodylen - h->extlen - h->keylen <= REQ_CONTEXT_MAX;
    default:
        break;
    }
    assert(!"bin_shape_ok: not a known shape");
    return false;
}

/* The checks memcached makes before looking at the opcode's own rules. */
static enum bin_rc
bin_check_header(const struct bin_header *h, struct bin_error *err)
{
    if (h->magic != BIN_MAGIC_REQ) {
        err->close = true; /* memcached closes without a reply */
        return BIN_ERROR;
    }
    if ((uint32_t)h->keylen + h->extlen > h->bodylen) {
        return bin_fail(err, BIN_STATUS_UNKNOWN_COMMAND, true);
    }
    if (h->keylen > REQ_KEY_MAX) {
        return bin_fail(err, BIN_STATUS_EINVAL, true);
    }
    return BIN_OK;
}

static uint64_t
bin_max_item(const struct bin_parser *p)
{
    return p->max_item_size ? p->max_item_size : BIN_ITEM_MAX_DEFAULT;
}

/* A value-carrying packet: refuse a value over -I from the header, extras
 * and key (E2BIG, the value swallowed) before waiting for it. SASL data
 * beyond -I gets what memcached without SASL answers: UNKNOWN_COMMAND. */
static enum bin_rc
bin_check_value(const struct bin_parser *p, const struct bin_header *h, const struct bin_op *op,
                const char *data, size_t len, size_t *consumed, struct bin_error *err)
{
    uint32_t kx = (uint32_t)h->keylen + h->extlen, vlen = h->bodylen - kx;
    uint32_t flags = 0;

    if (op->shape == BIN_SHAPE_SASL) {
        if (vlen <= bin_max_item(p)) {
            return BIN_OK;
        }
        bin_fail(err, BIN_STATUS_UNKNOWN_COMMAND, false);
        err->swallow = kx + bin_swallow_len(vlen);
        return BIN_ERROR;
    }
    if (len < BIN_HEADER_LEN + kx) {
        *consumed = BIN_HEADER_LEN + kx; /* the flags and key decide */
        return BIN_AGAIN;
    }
    if (op->shape == BIN_SHAPE_STORE) {
        flags = be_get32((const unsigned char *)(data + BIN_HEADER_LEN));
    }
    if (vlen <= INT_MAX && req_item_size(h->keylen, vlen, flags) <= bin_max_item(p)) {
        return BIN_OK;
    }
    *consumed = BIN_HEADER_LEN + kx;
    bin_fail(err, BIN_STATUS_E2BIG, false);
    err->swallow = bin_swallow_len(vlen);
    if (op->cmd == REQ_SET) { /* memcached drops the old item, set only */
        err->stale_key = data + BIN_HEADER_LEN + h->extlen;
        err->nstale_key = h->keylen;
    }
    return BIN_ERROR;
}

/* VSet before its body: E2BIG from the header alone when even the longest
 * context leaves too much data; then, with extras and key, the context length
 * must fit the value and the limit (else EINVAL and close), and the data
 * must fit -I (E2BIG, the value swallowed; nothing stored is touched). */
static enum bin_rc
bin_check_vset(const struct bin_parser *p, const struct bin_header *h, const char *data, size_t len,
               size_t *consumed, struct bin_error *err)
{
    uint32_t kx = (uint32_t)h->keylen + h->extlen, vlen = h->bodylen - kx;
    const unsigned char *ext = (const unsigned char *)data + BIN_HEADER_LEN;
    uint32_t flags, ctxlen;

    if (vlen > bin_max_item(p) + REQ_CONTEXT_MAX) {
        bin_fail(err, BIN_STATUS_E2BIG, false);
        err->swallow = h->bodylen;
        return BIN_ERROR;
    }
    if (len < BIN_HEADER_LEN + kx) {
        *consumed = BIN_HEADER_LEN + kx;
        return BIN_AGAIN;
    }
    flags = be_get32(ext);
    ctxlen = be_get16(ext + 8);
    if (ctxlen > vlen || ctxlen > REQ_CONTEXT_MAX) {
        return bin_fail(err, BIN_STATUS_EINVAL, true);
    }
    if (req_item_size(h->keylen, vlen - ctxlen, flags) <= bin_max_item(p)) {
        return BIN_OK;
    }
    *consumed = BIN_HEADER_LEN + kx;
    bin_fail(err, BIN_STATUS_E2BIG, false);
    err->swallow = vlen;
    return BIN_ERROR;
}

/* The context of a VSet/VDelete packet read whole. */
static void
bin_versioned_context(const struct bin_header *h, bool vset, const char *data, const char **ctx,
                      size_t *nctx)
{
    const char *ext = data + BIN_HEADER_LEN;

    *ctx = ext + h->extlen + h->keylen;
    if (vset) {
        *nctx = be_get16((const unsigned char *)(ext + 8));
    } else {
        *nctx = be_get16((const unsigned char *)ext);
    }
}

/* The optional quorum byte after an extension opcode's `base` bytes of
 * extras: 0 (the node's default) to REQ_QUORUM_MAX. */
static bool
bin_quorum_ok(const struct bin_header *h, unsigned base, const char *data)
{
    return h->extlen == base || (uint8_t)data[BIN_HEADER_LEN + base] <= REQ_QUORUM_MAX;
}

/* Apply that byte to the request: R for VGet, W for VSet/VDelete. */
static void
bin_fill_quorum(const struct bin_header *h, unsigned base, const char *ext, struct request *req)
{
    uint8_t q;

    if (h->extlen != base + BIN_EXTLEN_QUORUM || (q = (uint8_t)ext[base]) == 0) {
        return;
    }
    req->opts.set |= REQO_QUORUM;
    if (req->cmd == REQ_VGET) {
        req->opts.r = q;
    } else {
        req->opts.w = q;
    }
}

/* A VSet/VDelete read whole: VDelete's context length must be its value's
 * (EINVAL, close); then a cas is refused (EINVAL), and so is "-" as a context
 * (EINVAL "bad context": binary's empty context is length 0, and "-" must
 * not reach the coordinator, which reads it as the empty one); both leave
 * the connection open. Any other token goes to the coordinator, which
 * validates it and counts a refusal. */
static enum bin_rc
bin_check_versioned(const struct bin_header *h, bool vset, const char *data, struct bin_error *err)
{
    const char *ctx;
    size_t nctx;

    bin_versioned_context(h, vset, data, &ctx, &nctx);
    if (!vset && nctx != h->bodylen - h->extlen - h->keylen) {
        return bin_fail(err, BIN_STATUS_EINVAL, true);
    }
    if (h->cas != 0 || !bin_quorum_ok(h, vset ? BIN_EXTLEN_VSET : BIN_EXTLEN_VDEL, data)) {
        return bin_fail(err, BIN_STATUS_EINVAL, false);
    }
    if (nctx == 1 && ctx[0] == '-') {
        bin_fail(err, BIN_STATUS_EINVAL, false);
        err->text = BIN_TEXT_CONTEXT;
        return BIN_ERROR;
    }
    return BIN_OK;
}

/* A non-zero header cas: compare it. set/add/replace with a cas are
 * memcached's NREAD_CAS whatever the opcode (add replaces a matching item),
 * so they become REQ_CAS. */
static void
bin_fill_cas(const struct bin_header *h, struct request *req)
{
    if (h->cas == 0) {
        return;
    }
    req->opts.set |= REQO_COMPARE_CAS;
    req->opts.compare_cas = h->cas;
    if (req->cmd == REQ_SET || req->cmd == REQ_ADD || req->cmd == REQ_REPLACE) {
        req->cmd = REQ_CAS;
        req->cas = h->cas;
    }
}

/* incr/decr extras: delta, initial, expiration (0xffffffff: no create). */
static void
bin_fill_arith(const struct bin_header *h, const char *ext, struct request *req)
{
    uint32_t expiry = be_get32((const unsigned char *)(ext + 16));

    req->delta = be_get64((const unsigned char *)ext);
    if (expiry != BIN_ARITH_NO_CREATE) {
        req->opts.set |= REQO_VIVIFY;
        req->opts.initial = be_get64((const unsigned char *)(ext + 8));
        req->opts.vivify_ttl = expiry;
    }
    bin_fill_cas(h, req);
}

/* The value follows the key; a cas applies to every value-carrying opcode
 * (memcached ignores it for SASL, and so will the coordinator). */
static void
bin_fill_value(const struct bin_header *h, const char *key, struct request *req)
{
    req->value = key + h->keylen;
    req->nvalue = h->bodylen - h->extlen - h->keylen;
    if (req->cmd != REQ_SASL_AUTH && req->cmd != REQ_SASL_STEP) {
        bin_fill_cas(h, req);
    }
}

static void
bin_request_fill(struct bin_parser *p, const struct bin_header *h, const struct bin_op *op,
                 const char *data, struct request *req)
{
    const char *ext = data + BIN_HEADER_LEN, *key = ext + h->extlen;

    request_reset(req);
    req->cmd = op->cmd;
    req->proto = REQ_PROTO_BINARY;
    req->wire.opcode = h->opcode;
    req->wire.opaque = h->opaque;
    req->wire.flags = op->wflags;
    /* memcached's noreply: a quiet write hides its success; a quiet get or
     * GAT still sends its hit, so that stays in wire.flags only. */
    req->noreply = (op->wflags & BIN_WF_QUIET) && !(req_cmd_flags(op->cmd) & REQF_RETRIEVE);
    if (h->keylen > 0 && op->shape != BIN_SHAPE_STAT) {
        p->key.key = key;
        p->key.nkey = h->keylen;
        req->keys = &p->key;
        req->nkeys = 1;
    }
    switch (op->shape) {
    case BIN_SHAPE_STORE:
        req->flags = be_get32((const unsigned char *)ext);
        req->exptime = be_get32((const unsigned char *)(ext + 4));
        bin_fill_value(h, key, req);
        break;
    case BIN_SHAPE_CONCAT:
    case BIN_SHAPE_SASL:
        bin_fill_value(h, key, req);
        break;
    case BIN_SHAPE_GET:
        if (req->cmd == REQ_DELETE) {
            bin_fill_cas(h, req);
        }
        break;
    case BIN_SHAPE_VGET: /* its cas is ignored */
        req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
        bin_fill_quorum(h, 0, ext, req);
        break;
    case BIN_SHAPE_VSET:
    case BIN_SHAPE_VDEL:
        bin_versioned_context(h, op->shape == BIN_SHAPE_VSET, data, &req->context, &req->ncontext);
        bin_fill_quorum(h, op->shape == BIN_SHAPE_VSET ? BIN_EXTLEN_VSET : BIN_EXTLEN_VDEL, ext,
                        req);
        if (op->shape == BIN_SHAPE_VSET) {
            req->flags = be_get32((const unsigned char *)ext);
            req->exptime = be_get32((const unsigned char *)(ext + 4));
            req->value = req->context + req->ncontext;
            req->nvalue = h->bodylen - h->extlen - h->keylen - req->ncontext;
        }
        req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
        break;
    case BIN_SHAPE_ARITH:
        bin_fill_arith(h, ext, req);
        break;
    case BIN_SHAPE_TOUCH:
        req->exptime = be_get32((const unsigned char *)ext);
        break;
    case BIN_SHAPE_FLUSH:
        req->exptime = h->extlen == BIN_EXTLEN_FLUSH ? be_get32((const unsigned char *)ext) : 0;
        break;
    case BIN_SHAPE_STAT:
        if (h->keylen > 0) {
            req->args = key; /* the group name, not NUL-terminated */
            req->nargs = h->keylen;
        }
        break;
    case BIN_SHAPE_EMPTY:
        break;
    default:
        assert(!"bin_request_fill: not a known shape");
        break;
    }
}

/* Bytes the packet occupies once accepted: memcached consumes only the
 * header, extras and key of touch/GAT and stat. */
static uint64_t
bin_packet_len(const struct bin_op *op, const struct bin_header *h)
{
    if (op->shape == BIN_SHAPE_TOUCH || op->shape == BIN_SHAPE_STAT) {
        return (uint64_t)BIN_HEADER_LEN + h->extlen + h->keylen;
    }
    return (uint64_t)BIN_HEADER_LEN + h->bodylen;
}

static void
bin_error_reset(struct bin_error *err)
{
    err->reply = false;
    err->status = BIN_STATUS_SUCCESS;
    err->text = NULL;
    err->opcode = 0;
    err->opaque = 0;
    err->swallow = 0;
    err->close = false;
    err->stale_key = NULL;
    err->nstale_key = 0;
}

enum bin_rc
bin_parse(struct bin_parser *p, const char *data, size_t len, struct request *req, size_t *consumed,
          struct bin_error *err)
{
    struct bin_header h;
    const struct bin_op *op;
    enum bin_rc rc;
    uint64_t need;

    bin_error_reset(err);
    *consumed = BIN_HEADER_LEN;
    if (len < BIN_HEADER_LEN) {
        return BIN_AGAIN;
    }
    bin_header_read(data, &h);
    err->opcode = h.opcode;
    err->opaque = h.opaque;
    rc = bin_check_header(&h, err);
    if (rc != BIN_OK) {
        return rc;
    }
    op = &bin_ops[h.opcode];
    if (op->shape == BIN_SHAPE_UNKNOWN) {
        bin_fail(err, BIN_STATUS_UNKNOWN_COMMAND, false);
        err->swallow = h.bodylen <= INT_MAX ? h.bodylen : (size_t)h.keylen + h.extlen;
        return BIN_ERROR;
    }
    if (!bin_shape_ok(op->shape, &h)) {
        return bin_fail(err, BIN_STATUS_EINVAL, true);
    }
    if (op->shape == BIN_SHAPE_STORE || op->shape == BIN_SHAPE_CONCAT ||
        op->shape == BIN_SHAPE_SASL) {
        rc = bin_check_value(p, &h, op, data, len, consumed, err);
        if (rc != BIN_OK) {
            return rc;
        }
    }
    if (op->shape == BIN_SHAPE_VSET) {
        rc = bin_check_vset(p, &h, data, len, consumed, err);
        if (rc != BIN_OK) {
            return rc;
        }
    }
    need = bin_packet_len(op, &h);
    *consumed = (size_t)need;
    if (len < need) {
        return BIN_AGAIN;
    }
    if (op->shape == BIN_SHAPE_VGET && !bin_quorum_ok(&h, 0, data)) {
        return bin_fail(err, BIN_STATUS_EINVAL, false);
    }
    if (op->shape == BIN_SHAPE_VSET || op->shape == BIN_SHAPE_VDEL) {
        rc = bin_check_versioned(&h, op->shape == BIN_SHAPE_VSET, data, err);
        if (rc != BIN_OK) {
            if (err->close) {
                *consumed = BIN_HEADER_LEN; /* as every length error */
            }
            return rc;
        }
    }
    bin_request_fill(p, &h, op, data, req);
    return BIN_OK;
}

void
bin_parser_init(struct bin_parser *p, uint64_t max_item_size)
{
    p->max_item_size = max_item_size;
    p->key.key = NULL;
    p->key.nkey = 0;
}

void
bin_parser_deinit(struct bin_parser *p)
{
    if (p == NULL) {
        return;
    }
    p->key.key = NULL;
    p->key.nkey = 0;
}

/* ------------------------------------------------------------ encoders */

/* One response packet, described before it is written. */
struct bin_reply {
    uint8_t opcode;
    uint16_t status;
    uint32_t opaque;
    uint64_t cas;
    const char *ext; /* extras, key and value: borrowed, any may be NULL */
    size_t next;
    const char *key;
    size_t nkey;
    const char *val;
    size_t nval;
};

static void
bin_reply_init(struct bin_reply *r, const struct request *req, uint16_t status)
{
    memset(r, 0, sizeof(*r));
    r->opcode = req->wire.opcode;
    r->opaque = req->wire.opaque;
    r->status = status;
}

static int
bin_reply_put(struct buf *out, const struct bin_reply *r)
{
    size_t body = r->next + r->nkey + r->nval;
    char *w;
    int rc;

    if (r->nkey > UINT16_MAX || r->next > UINT8_MAX || body > UINT32_MAX) {
        return RC_EINVAL;
    }
    rc = buf_reserve(out, BIN_HEADER_LEN + body);
    if (rc != RC_OK) {
        return rc;
    }
    w = out->data + out->len;
    w[0] = (char)BIN_MAGIC_RES;
    w[1] = (char)r->opcode;
    be_put16((unsigned char *)(w + 2), (uint16_t)r->nkey);
    w[4] = (char)r->next;
    w[5] = 0; /* datatype: raw bytes */
    be_put16((unsigned char *)(w + 6), r->status);
    be_put32((unsigned char *)(w + 8), (uint32_t)body);
    be_put32((unsigned char *)(w + 12), r->opaque);
    be_put64((unsigned char *)(w + 16), r->cas);
    w += BIN_HEADER_LEN;
    if (r->next > 0) {
        memcpy(w, r->ext, r->next);
    }
    if (r->nkey > 0) {
        memcpy(w + r->next, r->key, r->nkey);
    }
    if (r->nval > 0) {
        memcpy(w + r->next + r->nkey, r->val, r->nval);
    }
    out->len += BIN_HEADER_LEN + body;
    return RC_OK;
}

/* An error packet: cas 0, no extras, text in the value. */
static int
bin_put_error(struct buf *out, const struct request *req, uint16_t status, const char *text)
{
    struct bin_reply r;

    bin_reply_init(&r, req, status);
    r.val = text ? text : bin_status_message(status);
    r.nval = strlen(r.val);
    return bin_reply_put(out, &r);
}

const char *
bin_status_message(uint16_t status)
{
    switch (status) {
#define BIN_STATUS_MSG(e, v, msg) \
    case v:                       \
        return msg;
        BIN_STATUS_TABLE(BIN_STATUS_MSG)
#undef BIN_STATUS_MSG
    default:
        return "";
    }
}

bool
bin_is_quiet(const struct request *req)
{
    return req->proto == REQ_PROTO_BINARY && (req->wire.flags & BIN_WF_QUIET) != 0;
}

/* A get/GAT/touch hit: 4 bytes of flags, the key for GetK/GATK, the value
 * except for touch; the item's cas. Sent even for the quiet forms. */
static int
bin_encode_hit(struct buf *out, const struct request *req, size_t ki, const struct response *resp)
{
    struct bin_reply r;
    char flags[BIN_EXTLEN_FLAGS];

    bin_reply_init(&r, req, BIN_STATUS_SUCCESS);
    be_put32((unsigned char *)flags, resp->flags);
    r.cas = resp->cas;
    r.ext = flags;
    r.next = sizeof(flags);
    if ((req->wire.flags & BIN_WF_RETURN_KEY) && ki < req->nkeys) {
        r.key = req->keys[ki].key;
        r.nkey = req->keys[ki].nkey;
    }
    if (req->cmd != REQ_TOUCH) {
        r.val = resp->value;
        r.nval = resp->nvalue;
    }
    return bin_reply_put(out, &r);
}

/* A get/GAT miss: nothing when quiet; GetK/GATK echo the key (no text). */
static int
bin_encode_miss(struct buf *out, const struct request *req, size_t ki)
{
    struct bin_reply r;

    if (bin_is_quiet(req)) {
        return RC_OK;
    }
    if (!(req->wire.flags & BIN_WF_RETURN_KEY) || ki >= req->nkeys) {
        return bin_put_error(out, req, BIN_STATUS_KEY_ENOENT, NULL);
    }
    bin_reply_init(&r, req, BIN_STATUS_KEY_ENOENT);
    r.key = req->keys[ki].key;
    r.nkey = req->keys[ki].nkey;
    return bin_reply_put(out, &r);
}

/* Success without a body: nothing for a quiet opcode. */
static int
bin_encode_ok(struct buf *out, const struct request *req, uint64_t cas, const char *val,
              size_t nval)
{
    struct bin_reply r;

    if (bin_is_quiet(req)) {
        return RC_OK;
    }
    bin_reply_init(&r, req, BIN_STATUS_SUCCESS);
    r.cas = cas;
    r.val = val;
    r.nval = nval;
    return bin_reply_put(out, &r);
}

/* The status for a failed request. *text stays NULL for memcached's own
 * text; ringcached's storage failures, which memcached never has, carry
 * their reason: a full disk is 0x82 (memcached's answer when it cannot find
 * room), a retryable failure 0x86, anything else 0x84. */
static uint16_t
bin_map_failure(const struct request *req, const struct response *resp, const char **text)
{
    const char *why = resp->errmsg ? resp->errmsg : rc_strerror(resp->status);

    *text = NULL;
    switch (resp->status) {
    case RC_ENOTFOUND:
        return BIN_STATUS_KEY_ENOENT;
    case RC_EEXISTS:
        return BIN_STATUS_KEY_EEXISTS;
    case RC_ETOOLARGE:
        return BIN_STATUS_E2BIG;
    case RC_EBADCONTEXT:
        *text = BIN_TEXT_CONTEXT;
        return BIN_STATUS_EINVAL;
    case RC_ESIBLINGS:
        *text = BIN_TEXT_SIBLINGS;
        return BIN_STATUS_E2BIG;
    case RC_ENOTSTORED: /* memcached's complete_update_bin */
        if (req->cmd == REQ_ADD) {
            return BIN_STATUS_KEY_EEXISTS;
        }
        return req->cmd == REQ_REPLACE ? BIN_STATUS_KEY_ENOENT : BIN_STATUS_NOT_STORED;
    case RC_ENONNUMERIC:
        return BIN_STATUS_DELTA_BADVAL;
    case RC_ENOMEM:
        return BIN_STATUS_ENOMEM;
    case RC_EINVAL:
    case RC_EDISABLED:
        if (req->cmd == REQ_FLUSH_ALL) {
            return BIN_STATUS_AUTH_ERROR; /* memcached -F: flush refused */
        }
        if (resp->status == RC_EINVAL) {
            return BIN_STATUS_EINVAL;
        }
        *text = why;
        return BIN_STATUS_NOT_SUPPORTED;
    case RC_ENOSPC:
        *text = why;
        return BIN_STATUS_ENOMEM;
    case RC_EAGAIN:
    case RC_EDEADLOCK:
        *text = why;
        return BIN_STATUS_ETMPFAIL;
    default:
        *text = why;
        return BIN_STATUS_EINTERNAL;
    }
}

static int
bin_encode_failure(struct buf *out, const struct request *req, size_t ki,
                   const struct response *resp)
{
    const char *text;
    uint16_t status;

    if (resp->status == RC_ENOTFOUND && (req->cmd == REQ_GET || req->cmd == REQ_GAT)) {
        return bin_encode_miss(out, req, ki);
    }
    status = bin_map_failure(req, resp, &text);
    return bin_put_error(out, req, status, text);
}

/* VGet hit: extras (live siblings u32, context length u16, 0 u16), the
 * item's cas, and the value: the context, then per sibling its flags (u32),
 * write time (u64, ms), data length (u32) and data. Written in one
 * reservation, so a failure appends nothing. */
static int
bin_encode_vget(struct buf *out, const struct request *req, const struct response *resp)
{
    struct bin_reply r;
    uint64_t body = BIN_EXTLEN_VGET_RES + (uint64_t)resp->ncontext;
    unsigned char *w;
    size_t i;
    int rc;

    for (i = 0; i < resp->nsiblings; i++) {
        body += BIN_SIBLING_HEAD + (uint64_t)resp->siblings[i].nvalue;
    }
    if (body > UINT32_MAX || resp->ncontext > UINT16_MAX || resp->nsiblings > UINT32_MAX) {
        return bin_put_error(out, req, BIN_STATUS_EINTERNAL, NULL);
    }
    rc = buf_reserve(out, BIN_HEADER_LEN + (size_t)body);
    if (rc != RC_OK) {
        return rc;
    }
    bin_reply_init(&r, req, BIN_STATUS_SUCCESS);
    r.cas = resp->cas;
    r.next = BIN_EXTLEN_VGET_RES;
    w = (unsigned char *)out->data + out->len;
    w[0] = BIN_MAGIC_RES;
    w[1] = r.opcode;
    be_put16(w + 2, 0);
    w[4] = BIN_EXTLEN_VGET_RES;
    w[5] = 0;
    be_put16(w + 6, BIN_STATUS_SUCCESS);
    be_put32(w + 8, (uint32_t)body);
    be_put32(w + 12, r.opaque);
    be_put64(w + 16, r.cas);
    w += BIN_HEADER_LEN;
    be_put32(w, (uint32_t)resp->nsiblings);
    be_put16(w + 4, (uint16_t)resp->ncontext);
    be_put16(w + 6, 0);
    w += BIN_EXTLEN_VGET_RES;
    if (resp->ncontext > 0) {
        memcpy(w, resp->context, resp->ncontext);
        w += resp->ncontext;
    }
    for (i = 0; i < resp->nsiblings; i++) {
        const struct resp_sibling *sb = &resp->siblings[i];

        be_put32(w, sb->flags);
        be_put64(w + 4, (uint64_t)sb->wtime_ms);
        be_put32(w + 12, (uint32_t)sb->nvalue);
        w += BIN_SIBLING_HEAD;
        if (sb->nvalue > 0) {
            memcpy(w, sb->value, sb->nvalue);
            w += sb->nvalue;
        }
    }
    out->len += BIN_HEADER_LEN + (size_t)body;
    return RC_OK;
}

/* VSet/VDelete success: nothing when quiet; else the new cas, extras = live
 * siblings (u32), value = the new context. */
static int
bin_encode_vwrite(struct buf *out, const struct request *req, const struct response *resp)
{
    struct bin_reply r;
    char ext[BIN_EXTLEN_VWRITE];

    if (bin_is_quiet(req)) {
        return RC_OK;
    }
    be_put32((unsigned char *)ext, resp->nlive);
    bin_reply_init(&r, req, BIN_STATUS_SUCCESS);
    r.cas = resp->cas;
    r.ext = ext;
    r.next = sizeof(ext);
    r.val = resp->context;
    r.nval = resp->context != NULL ? resp->ncontext : 0;
    return bin_reply_put(out, &r);
}

/* incr/decr: the new value as 8 big-endian bytes, the new cas. */
static int
bin_encode_number(struct buf *out, const struct request *req, const struct response *resp)
{
    char num[8];

    be_put64((unsigned char *)num, resp->number);
    return bin_encode_ok(out, req, resp->cas, num, sizeof(num));
}

int
bin_encode_response(struct buf *out, const struct request *req, size_t ki,
                    const struct response *resp)
{
    assert(req->proto == REQ_PROTO_BINARY);
    if (resp->status != RC_OK) {
        return bin_encode_failure(out, req, ki, resp);
    }
    switch (req->cmd) {
    case REQ_GET:
    case REQ_GAT:
    case REQ_TOUCH:
        return bin_encode_hit(out, req, ki, resp);
    case REQ_SET:
    case REQ_ADD:
    case REQ_REPLACE:
    case REQ_APPEND:
    case REQ_PREPEND:
    case REQ_CAS:
        return bin_encode_ok(out, req, resp->cas, NULL, 0);
    case REQ_INCR:
    case REQ_DECR:
        return bin_encode_number(out, req, resp);
    case REQ_DELETE: /* memcached answers a delete with cas 0 */
    case REQ_FLUSH_ALL:
    case REQ_NOOP:
    case REQ_QUIT:
        return bin_encode_ok(out, req, 0, NULL, 0);
    case REQ_VERSION:
        if (resp->value != NULL) {
            return bin_encode_ok(out, req, 0, resp->value, resp->nvalue);
        }
        return bin_encode_version(out, req, NULL);
    case REQ_STATS: /* the caller appends stat packets and the terminator */
        return RC_OK;
    case REQ_SASL_LIST:
        return bin_encode_ok(out, req, 0, resp->value, resp->nvalue);
    case REQ_SASL_AUTH:
    case REQ_SASL_STEP:
        if (resp->value != NULL) {
            return bin_encode_ok(out, req, 0, resp->value, resp->nvalue);
        }
        return bin_encode_ok(out, req, 0, "Authenticated", 13);
    case REQ_VGET:
        return bin_encode_vget(out, req, resp);
    case REQ_VSET:
    case REQ_VDEL:
        return bin_encode_vwrite(out, req, resp);
    default:
        break;
    }
    assert(!"bin_encode_response: not a binary command");
    return bin_put_error(out, req, BIN_STATUS_EINTERNAL, NULL);
}

int
bin_encode_error(struct buf *out, const struct bin_error *err)
{
    struct request req;

    if (!err->reply) {
        return RC_OK;
    }
    memset(&req, 0, sizeof(req));
    req.wire.opcode = err->opcode;
    req.wire.opaque = err->opaque;
    return bin_put_error(out, &req, err->status, err->text);
}

int
bin_encode_stat(struct buf *out, const struct request *req, const char *name, const char *value)
{
    struct bin_reply r;

    bin_reply_init(&r, req, BIN_STATUS_SUCCESS);
    r.opcode = BIN_OP_STAT; /* memcached's append_bin_stats */
    r.key = name;
    r.nkey = name ? strlen(name) : 0;
    r.val = value;
    r.nval = value ? strlen(value) : 0;
    return bin_reply_put(out, &r);
}

int
bin_encode_stat_end(struct buf *out, const struct request *req)
{
    return bin_encode_stat(out, req, NULL, NULL);
}

int
bin_encode_version(struct buf *out, const struct request *req, const char *version)
{
    struct bin_reply r;

    bin_reply_init(&r, req, BIN_STATUS_SUCCESS);
    r.val = version ? version : PACKAGE_VERSION;
    r.nval = strlen(r.val);
    return bin_reply_put(out, &r);
}

int
bin_encode_sasl(struct buf *out, const struct request *req, uint16_t status, const char *body,
                size_t nbody)
{
    struct bin_reply r;

    bin_reply_init(&r, req, status);
    r.val = body;
    r.nval = body ? nbody : 0;
    return bin_reply_put(out, &r);
}

int
bin_encode_status(struct buf *out, const struct request *req, uint16_t status)
{
    if (status == BIN_STATUS_SUCCESS) {
        return bin_encode_ok(out, req, 0, NULL, 0);
    }
    return bin_put_error(out, req, status, NULL);
}
