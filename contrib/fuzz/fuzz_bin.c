/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_bin.c - libFuzzer target for the binary protocol codec (proto/bin.c):
 * bin_parse driven the way conn_process drives it, and every binary encoder
 * run on synthetic responses for each parsed packet.
 *
 *   input = selector byte, then the client's byte stream
 *     selector bit 0:    -I of 1 KiB (1) or memcached's 1 MiB default (0)
 *     selector bits 1-7: where run 2 splits the stream (0 .. 127 -> 0 .. len)
 *
 *   run 1: the whole stream at once
 *   run 2: stream[0, split) in an exact-size copy, then the whole stream
 *   each run: loop { honour swallow; bin_parse at the first unread byte;
 *                    OK -> check, encode hit/miss/error/status packets;
 *                    AGAIN -> wait for the next chunk;
 *                    ERROR -> check, bin_encode_error, skip consumed, then
 *                             swallow err.swallow bytes; stop on close }
 *
 * Invariants checked (violations call __builtin_trap): bin.h's contract
 * (consumed is a whole header or more and within the input on OK and ERROR;
 * on AGAIN it is more than the input but never more than a header, extras,
 * key, -I and a context (VSet); key, value, context, args and stale key
 * inside the packet; at most one
 * key, of the header's length), opaque and opcode echoed, every reply a
 * well-formed response packet, quiet opcodes silent on success and miss, and
 * resumption: both runs must see the same requests and produce the same
 * reply bytes (binary framing never depends on how the bytes arrive).
 *
 * Everything is freed before returning; nothing persists between inputs.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz_common.h"
#include "base/status.h"
#include "proto/scan.h"
#include "proto/bin.h"
#include "proto/request.h"

#define FUZZ_EXTLEN_MAX 255u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One connection's worth of state for one run. */
struct fuzz_run {
    struct bin_parser parser;
    uint64_t max_item;
    size_t off;     /* stream offset of the first unread byte */
    size_t swallow; /* bytes still to discard */
    bool closed;
    unsigned nreq;
    uint64_t trace; /* FNV-1a over every OK and ERROR seen */
    struct buf out; /* every reply byte, in order */
};

/* Binary statuses for bin_encode_status, including one memcached lacks. */
static const uint16_t fuzz_bin_statuses[] = {
    BIN_STATUS_SUCCESS,       BIN_STATUS_KEY_ENOENT,
    BIN_STATUS_KEY_EEXISTS,   BIN_STATUS_E2BIG,
    BIN_STATUS_EINVAL,        BIN_STATUS_NOT_STORED,
    BIN_STATUS_DELTA_BADVAL,  BIN_STATUS_AUTH_ERROR,
    BIN_STATUS_AUTH_CONTINUE, BIN_STATUS_UNKNOWN_COMMAND,
    BIN_STATUS_ENOMEM,        BIN_STATUS_NOT_SUPPORTED,
    BIN_STATUS_EINTERNAL,     BIN_STATUS_EBUSY,
    BIN_STATUS_ETMPFAIL,      0x1234,
};

#define FUZZ_NBIN_STATUSES (sizeof(fuzz_bin_statuses) / sizeof(fuzz_bin_statuses[0]))

/* ------------------------------------------------------------ helpers */

static uint32_t
fuzz_get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint16_t
fuzz_get16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint16_t)((unsigned)u[0] << 8 | u[1]);
}

/* What an encoder appended since mark: whole response packets, each echoing
 * the request's opcode (or stat's) and opaque. Returns how many. */
static size_t
fuzz_check_packets(const struct buf *out, size_t mark, uint8_t opcode, uint32_t opaque)
{
    size_t pos = mark, count = 0;

    FUZZ_CHECK(out->len >= mark);
    while (pos < out->len) {
        const char *h = out->data + pos;
        size_t left = out->len - pos;
        uint32_t body;

        FUZZ_CHECK(left >= BIN_HEADER_LEN);
        body = fuzz_get32(h + 8);
        FUZZ_CHECK((uint8_t)h[0] == BIN_MAGIC_RES);
        FUZZ_CHECK((uint8_t)h[1] == opcode || (uint8_t)h[1] == BIN_OP_STAT);
        FUZZ_CHECK((uint32_t)fuzz_get16(h + 2) + (uint8_t)h[4] <= body);
        FUZZ_CHECK(h[5] == 0);
        FUZZ_CHECK(fuzz_get32(h + 12) == opaque);
        FUZZ_CHECK(body <= left - BIN_HEADER_LEN);
        pos += BIN_HEADER_LEN + body;
        count++;
    }
    return count;
}

/* ------------------------------------------------------------ requests */

static void
fuzz_check_request(const struct bin_parser *p, const struct request *req, const char *base,
                   size_t len, size_t consumed)
{
    uint16_t keylen;
    uint8_t extlen;

    FUZZ_CHECK(consumed >= BIN_HEADER_LEN && consumed <= len);
    FUZZ_CHECK(req->cmd > REQ_NONE && req->cmd < REQ_CMD__COUNT);
    FUZZ_CHECK(req->proto == REQ_PROTO_BINARY);
    FUZZ_CHECK((uint8_t)base[0] == BIN_MAGIC_REQ);
    FUZZ_CHECK(req->wire.opcode == (uint8_t)base[1]);
    FUZZ_CHECK(req->wire.opaque == fuzz_get32(base + 12));
    FUZZ_CHECK((req->wire.flags & ~(BIN_WF_QUIET | BIN_WF_RETURN_KEY)) == 0);
    FUZZ_CHECK(!req->noreply || (req->wire.flags & BIN_WF_QUIET));
    keylen = fuzz_get16(base + 2);
    extlen = (uint8_t)base[4];
    FUZZ_CHECK(keylen <= REQ_KEY_MAX);
    FUZZ_CHECK(req->nkeys <= 1);
    if (req->nkeys == 1) {
        FUZZ_CHECK(req->keys == &p->key);
        FUZZ_CHECK(req->keys[0].nkey == keylen && keylen >= 1);
        FUZZ_CHECK(req->keys[0].key == base + BIN_HEADER_LEN + extlen);
        FUZZ_CHECK(fuzz_inside(req->keys[0].key, keylen, base, base + consumed));
    } else {
        FUZZ_CHECK(keylen == 0 || req->cmd == REQ_STATS);
    }
    if (req->value != NULL) {
        FUZZ_CHECK(fuzz_inside(req->value, req->nvalue, base + BIN_HEADER_LEN, base + consumed));
        FUZZ_CHECK(req->value + req->nvalue == base + consumed);
        FUZZ_CHECK(req->nvalue <= p->max_item_size);
    }
    FUZZ_CHECK(req->args != NULL);
    if (req->nargs > 0) {
        FUZZ_CHECK(req->cmd == REQ_STATS && req->nargs == keylen);
        FUZZ_CHECK(fuzz_inside(req->args, req->nargs, base + BIN_HEADER_LEN, base + consumed));
    }
    if (req->cmd == REQ_CAS || (req->opts.set & REQO_COMPARE_CAS)) {
        FUZZ_CHECK(req->opts.compare_cas != 0);
    }
    if (req->ncontext > 0) {
        FUZZ_CHECK(req->cmd == REQ_VSET || req->cmd == REQ_VDEL);
        FUZZ_CHECK(req->ncontext <= REQ_CONTEXT_MAX);
        FUZZ_CHECK(
            fuzz_inside(req->context, req->ncontext, base + BIN_HEADER_LEN, base + consumed));
    }
}

static void
fuzz_check_error(const struct bin_error *err, const char *base, size_t len, size_t consumed)
{
    FUZZ_CHECK(consumed >= BIN_HEADER_LEN && consumed <= len);
    FUZZ_CHECK(err->opcode == (uint8_t)base[1]);
    FUZZ_CHECK(err->opaque == fuzz_get32(base + 12));
    if (!err->reply) {
        FUZZ_CHECK(err->close && (uint8_t)base[0] != BIN_MAGIC_REQ);
    } else {
        FUZZ_CHECK(err->status != BIN_STATUS_SUCCESS);
    }
    if (err->stale_key != NULL) {
        FUZZ_CHECK(err->status == BIN_STATUS_E2BIG);
        FUZZ_CHECK(err->nstale_key >= 1 && err->nstale_key <= REQ_KEY_MAX);
        FUZZ_CHECK(err->nstale_key == fuzz_get16(base + 2));
        FUZZ_CHECK(
            fuzz_inside(err->stale_key, err->nstale_key, base + BIN_HEADER_LEN, base + consumed));
    }
    FUZZ_CHECK(err->swallow <= UINT32_MAX);
    if (err->close) {
        FUZZ_CHECK(err->swallow == 0);
    }
}

/* ------------------------------------------------------------ encoders */

static void
fuzz_resp_hit(struct response *resp, const struct request *req)
{
    response_reset(resp);
    resp->status = RC_OK;
    resp->flags = 0xdeadbeefu;
    resp->cas = UINT64_MAX;
    resp->number = req->delta + 1;
    if (req->nkeys > 0) { /* the key's own bytes make a value */
        resp->value = req->keys[0].key;
        resp->nvalue = req->keys[0].nkey;
    }
    fuzz_resp_versions(resp, (unsigned)req->wire.opaque);
}

static size_t
fuzz_encode_one(struct buf *out, const struct request *req, const struct response *resp)
{
    size_t mark = out->len;

    FUZZ_CHECK(bin_encode_response(out, req, 0, resp) == RC_OK);
    return fuzz_check_packets(out, mark, req->wire.opcode, req->wire.opaque);
}

/* The admin replies a connection builds for these commands itself. */
static void
fuzz_encode_admin(struct buf *out, const struct request *req, unsigned salt)
{
    size_t mark = out->len;
    uint16_t status = fuzz_bin_statuses[salt % FUZZ_NBIN_STATUSES];

    switch (req->cmd) {
    case REQ_STATS:
        FUZZ_CHECK(bin_encode_stat(out, req, "pid", "1") == RC_OK);
        FUZZ_CHECK(bin_encode_stat_end(out, req) == RC_OK);
        FUZZ_CHECK(fuzz_check_packets(out, mark, BIN_OP_STAT, req->wire.opaque) == 2);
        return;
    case REQ_VERSION:
        FUZZ_CHECK(bin_encode_version(out, req, (salt & 1) ? "1.6.18" : NULL) == RC_OK);
        FUZZ_CHECK(fuzz_check_packets(out, mark, req->wire.opcode, req->wire.opaque) == 1);
        return;
    case REQ_SASL_LIST:
    case REQ_SASL_AUTH:
    case REQ_SASL_STEP:
        FUZZ_CHECK(bin_encode_sasl(out, req, status, req->value, req->nvalue) == RC_OK);
        FUZZ_CHECK(fuzz_check_packets(out, mark, req->wire.opcode, req->wire.opaque) == 1);
        return;
    default:
        break;
    }
    FUZZ_CHECK(bin_encode_status(out, req, status) == RC_OK);
    if (status == BIN_STATUS_SUCCESS && bin_is_quiet(req)) {
        FUZZ_CHECK(out->len == mark);
    } else {
        FUZZ_CHECK(fuzz_check_packets(out, mark, req->wire.opcode, req->wire.opaque) == 1);
    }
}

/* Replies for a parsed request: a hit (or success), a miss, a failure. */
static void
fuzz_encode_request(struct buf *out, const struct request *req, unsigned salt)
{
    struct response resp;
    bool retrieve = req->cmd == REQ_GET || req->cmd == REQ_GAT;
    size_t n;

    FUZZ_CHECK(bin_is_quiet(req) == ((req->wire.flags & BIN_WF_QUIET) != 0));
    fuzz_resp_hit(&resp, req);
    n = fuzz_encode_one(out, req, &resp);
    if (bin_is_quiet(req) && !retrieve && req->cmd != REQ_TOUCH) {
        FUZZ_CHECK(n == 0); /* a quiet success is silent */
    }
    fuzz_resp_fail(&resp, RC_ENOTFOUND, false);
    n = fuzz_encode_one(out, req, &resp);
    FUZZ_CHECK(n == ((bin_is_quiet(req) && retrieve) ? 0u : 1u));
    fuzz_resp_fail(&resp, fuzz_statuses[salt % FUZZ_NSTATUSES], salt & 1);
    n = fuzz_encode_one(out, req, &resp);
    FUZZ_CHECK(n <= 1);
    fuzz_encode_admin(out, req, salt);
}

/* ------------------------------------------------------------ driver */

static void
fuzz_record_ok(struct fuzz_run *r, const struct request *req, const char *base, size_t len,
               size_t consumed)
{
    uint64_t *h = &r->trace;

    fuzz_hash_u64(h, BIN_OK);
    fuzz_hash_u64(h, r->off);
    fuzz_hash_u64(h, consumed);
    fuzz_hash_u64(h, (uint64_t)req->cmd);
    fuzz_hash_u64(h, req->wire.flags);
    fuzz_hash_u64(h, req->noreply);
    fuzz_hash_u64(h, req->flags);
    fuzz_hash_u64(h, (uint64_t)req->exptime);
    fuzz_hash_u64(h, req->cas);
    fuzz_hash_u64(h, req->delta);
    fuzz_hash_u64(h, req->opts.set);
    fuzz_hash_u64(h, req->opts.compare_cas);
    fuzz_hash_u64(h, req->opts.initial);
    fuzz_hash_u64(h, (uint64_t)req->opts.vivify_ttl);
    fuzz_hash_u64(h, fuzz_offset(req->value, base, len));
    fuzz_hash_u64(h, req->nvalue);
    fuzz_hash_u64(h, req->nargs);
    fuzz_hash_u64(h, req->nkeys);
    if (req->nkeys > 0) {
        fuzz_hash_u64(h, fuzz_offset(req->keys[0].key, base, len));
    }
}

static void
fuzz_record_error(struct fuzz_run *r, const struct bin_error *err, const char *base, size_t len,
                  size_t consumed)
{
    uint64_t *h = &r->trace;

    fuzz_hash_u64(h, BIN_ERROR);
    fuzz_hash_u64(h, r->off);
    fuzz_hash_u64(h, consumed);
    fuzz_hash_u64(h, err->reply);
    fuzz_hash_u64(h, err->status);
    fuzz_hash_u64(h, err->swallow);
    fuzz_hash_u64(h, err->close);
    fuzz_hash_u64(h, fuzz_offset(err->stale_key, base, len));
    fuzz_hash_u64(h, err->nstale_key);
}

/* Parse what base[0, avail) holds beyond r->off (base[i] is stream byte i). */
static void
fuzz_feed(struct fuzz_run *r, const char *base, size_t avail)
{
    struct request req;
    struct bin_error err;
    enum bin_rc rc;
    size_t consumed, len, n;

    while (!r->closed && r->off < avail) {
        if (r->swallow > 0) {
            n = avail - r->off < r->swallow ? avail - r->off : r->swallow;
            r->off += n;
            r->swallow -= n;
            continue;
        }
        FUZZ_CHECK(++r->nreq <= FUZZ_MAX_REQUESTS);
        len = avail - r->off;
        rc = bin_parse(&r->parser, base + r->off, len, &req, &consumed, &err);
        switch (rc) {
        case BIN_OK:
            fuzz_check_request(&r->parser, &req, base + r->off, len, consumed);
            fuzz_record_ok(r, &req, base + r->off, len, consumed);
            fuzz_encode_request(&r->out, &req, (unsigned)r->off);
            if (req.cmd == REQ_QUIT) {
                r->closed = true;
            }
            break;
        case BIN_AGAIN:
            FUZZ_CHECK(consumed > len);
            FUZZ_CHECK(consumed <= BIN_HEADER_LEN + FUZZ_EXTLEN_MAX + REQ_KEY_MAX + r->max_item +
                                       REQ_CONTEXT_MAX);
            return;
        case BIN_ERROR:
            fuzz_check_error(&err, base + r->off, len, consumed);
            fuzz_record_error(r, &err, base + r->off, len, consumed);
            n = r->out.len;
            FUZZ_CHECK(bin_encode_error(&r->out, &err) == RC_OK);
            FUZZ_CHECK(fuzz_check_packets(&r->out, n, err.opcode, err.opaque) ==
                       (err.reply ? 1u : 0u));
            r->swallow = err.swallow;
            r->closed = err.close;
            break;
        default:
            FUZZ_CHECK(!"bin_parse returned no bin_rc");
        }
        r->off += consumed;
    }
}

static void
fuzz_run_init(struct fuzz_run *r, uint64_t max_item)
{
    memset(r, 0, sizeof(*r));
    bin_parser_init(&r->parser, max_item);
    r->max_item = max_item;
    r->trace = 14695981039346656037ull;
    buf_init(&r->out);
}

static void
fuzz_run_deinit(struct fuzz_run *r)
{
    bin_parser_deinit(&r->parser);
    buf_deinit(&r->out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *stream = (const char *)data + 1;
    struct fuzz_run whole, split;
    uint64_t max_item;
    size_t n, at;
    char *chunk;

    if (size == 0) {
        return 0;
    }
    max_item = (data[0] & 1) ? FUZZ_ITEM_SMALL : FUZZ_ITEM_DEFAULT;
    n = size - 1;
    at = n * (size_t)(data[0] >> 1) / 127;

    fuzz_run_init(&whole, max_item);
    fuzz_feed(&whole, stream, n);

    fuzz_run_init(&split, max_item);
    chunk = malloc(at ? at : 1); /* exact size: reads past it are caught */
    FUZZ_CHECK(chunk != NULL);
    memcpy(chunk, stream, at);
    {
        /* The prefetch scan (proto/scan.h) sees the same bytes first in
         * the daemon: every key it names must lie inside them. */
        struct scan_key keys[32];
        size_t nk = scan_keys_binary((const unsigned char *)chunk, at, keys, 32);

        for (size_t i = 0; i < nk; i++) {
            FUZZ_CHECK(keys[i].key >= chunk && keys[i].key + keys[i].nkey <= chunk + at);
        }
    }
    fuzz_feed(&split, chunk, at);
    free(chunk);
    fuzz_feed(&split, stream, n);

    FUZZ_CHECK(whole.trace == split.trace);
    FUZZ_CHECK(whole.off == split.off && whole.closed == split.closed);
    FUZZ_CHECK(whole.out.len == split.out.len);
    FUZZ_CHECK(whole.out.len == 0 || memcmp(whole.out.data, split.out.data, whole.out.len) == 0);
    fuzz_run_deinit(&whole);
    fuzz_run_deinit(&split);
    return 0;
}
