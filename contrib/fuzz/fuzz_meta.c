/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_meta.c - libFuzzer target for the meta protocol codec (proto/meta.c):
 * meta_parse called on each line the way text_parse hands meta lines to it,
 * and meta_encode_response run on synthetic responses for each request.
 *
 *   input = selector byte, then the client's byte stream
 *     selector bit 0:    -I of 1 KiB (1) or memcached's 1 MiB default (0)
 *     selector bits 1-7: where run 2 splits the stream (0 .. 127 -> 0 .. len)
 *
 *   run 1: the whole stream at once
 *   run 2: stream[0, split) in an exact-size copy, then the whole stream
 *   each run: loop { honour swallow; frame the line as text.c does (cut at
 *                    "\r\n" or "\n" and at a NUL; no '\n' within 2048 bytes
 *                    closes); a line whose first token is not a meta command
 *                    is skipped; meta_parse;
 *                    OK -> check, encode hit/miss/failure replies;
 *                    AGAIN -> wait for the next chunk;
 *                    ERROR -> check, encode err.reply, skip consumed, then
 *                             swallow err.swallow bytes }
 *
 * Invariants checked (violations call __builtin_trap): meta.h's and text.h's
 * contract (consumed within the input on OK and ERROR, beyond it on AGAIN
 * and bounded by -I; keys in the line or the scratch, values and O tokens
 * in the consumed bytes; one key except mn), return-flag codes in range,
 * replies made of "\r\n"-terminated lines, and resumption: both runs must see
 * the same requests and produce the same reply bytes, unless run 2's first
 * chunk ends inside an overlong line (memcached closes there too).
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
#include "proto/meta.h"
#include "proto/request.h"
#include "proto/text.h"

#define FUZZ_LINE_MAX  2048u /* text.c: a longer line without '\n' closes */
#define FUZZ_TOKEN_MAX 31u   /* meta.c: an O token of 32 bytes with its letter */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One connection's worth of state for one run. */
struct fuzz_run {
    struct meta_scratch scratch;
    uint64_t max_item;
    size_t off;     /* stream offset of the first unread byte */
    size_t swallow; /* bytes still to discard */
    bool closed;
    bool early_close; /* closed while reading the first chunk of run 2 */
    unsigned nreq;
    uint64_t trace; /* FNV-1a over every OK and ERROR seen */
    struct buf out; /* every reply byte, in order */
};

/* ------------------------------------------------------------ helpers */

/* An encoder's addition to out since mark: nothing or whole "\r\n" lines
 * (a VA's data block ends in "\r\n" as well), starting with a reply code. */
static void
fuzz_check_reply(const struct buf *out, size_t mark)
{
    size_t n = out->len - mark;

    FUZZ_CHECK(out->len >= mark);
    if (n > 0) {
        FUZZ_CHECK(n >= 4 && out->data[out->len - 2] == '\r' && out->data[out->len - 1] == '\n');
        FUZZ_CHECK(out->data[mark] >= 'A' && out->data[mark] <= 'Z');
    }
}

/* ------------------------------------------------------------ requests */

static void
fuzz_check_request(const struct fuzz_run *r, const struct request *req, const char *base,
                   size_t len, size_t consumed)
{
    const char *kbuf = r->scratch.kbuf;
    uint32_t seq;

    FUZZ_CHECK(consumed >= 1 && consumed <= len);
    FUZZ_CHECK(req->proto == REQ_PROTO_META);
    FUZZ_CHECK(req->cmd > REQ_NONE && req->cmd < REQ_CMD__COUNT);
    if (req->cmd == REQ_MN) {
        FUZZ_CHECK(req->nkeys == 0);
    } else {
        const struct req_key *k = &req->keys[0];

        FUZZ_CHECK(req->nkeys == 1);
        FUZZ_CHECK(k->nkey >= 1 && k->nkey <= REQ_KEY_MAX);
        FUZZ_CHECK(fuzz_inside(k->key, k->nkey, base, base + consumed) ||
                   fuzz_inside(k->key, k->nkey, kbuf, kbuf + sizeof(r->scratch.kbuf)));
    }
    if (req_cmd_flags(req->cmd) & REQF_STORE) {
        FUZZ_CHECK(req->value != NULL && req->nvalue <= r->max_item);
        FUZZ_CHECK(fuzz_inside(req->value, req->nvalue, base, base + consumed));
        FUZZ_CHECK(req->value + req->nvalue + 2 == base + consumed);
        FUZZ_CHECK(base[consumed - 2] == '\r' && base[consumed - 1] == '\n');
    } else {
        FUZZ_CHECK(req->value == NULL && base[consumed - 1] == '\n');
    }
    if (req->wire.token != NULL) {
        FUZZ_CHECK(req->wire.ntoken <= FUZZ_TOKEN_MAX);
        FUZZ_CHECK(fuzz_inside(req->wire.token, req->wire.ntoken, base, base + consumed));
    }
    for (seq = req->wire.flags; seq != 0; seq >>= 4) {
        FUZZ_CHECK((seq & 0xf) != 0 && (seq & 0xf) <= 10); /* a return flag, no gaps */
    }
    if (req->ncontext > 0) {
        FUZZ_CHECK(req->cmd == REQ_VSET || req->cmd == REQ_VDEL);
        FUZZ_CHECK(fuzz_inside(req->context, req->ncontext, base, base + consumed));
    }
}

static void
fuzz_check_error(const struct fuzz_run *r, const struct text_error *err, const char *base,
                 size_t len, size_t consumed)
{
    const char *kbuf = r->scratch.kbuf;

    FUZZ_CHECK(consumed >= 1 && consumed <= len);
    if (err->reply != NULL) {
        size_t n = strlen(err->reply);

        FUZZ_CHECK(n > 0 && memchr(err->reply, '\r', n) == NULL &&
                   memchr(err->reply, '\n', n) == NULL);
    }
    if (err->stale_key != NULL) {
        FUZZ_CHECK(err->nstale_key >= 1 && err->nstale_key <= REQ_KEY_MAX);
        FUZZ_CHECK(
            fuzz_inside(err->stale_key, err->nstale_key, base, base + consumed) ||
            fuzz_inside(err->stale_key, err->nstale_key, kbuf, kbuf + sizeof(r->scratch.kbuf)));
        FUZZ_CHECK(err->swallow >= 2);
    }
    FUZZ_CHECK(err->swallow <= (size_t)INT32_MAX + 1);
    if (err->close) {
        FUZZ_CHECK(err->swallow == 0);
    }
}

/* ------------------------------------------------------------ encoders */

/* A hit as the coordinator fills it, varied by salt: item info, the
 * recache states, a created item, negative ttls. */
static void
fuzz_resp_hit(struct response *resp, const struct request *req, unsigned salt)
{
    response_reset(resp);
    resp->status = RC_OK;
    resp->flags = salt * 2654435761u;
    resp->cas = UINT64_MAX - salt;
    resp->number = req->delta + salt;
    if (req->nkeys > 0) { /* the key's own bytes make a value */
        resp->value = req->keys[0].key;
        resp->nvalue = req->keys[0].nkey;
    }
    resp->ttl = (salt & 3) == 0 ? -1 : (int64_t)(salt % 100000) - 50000;
    resp->last_access = (int64_t)(salt % 1000);
    resp->hit_before = salt & 4;
    resp->stale = salt & 8;
    resp->win = salt & 16;
    resp->won_already = salt & 32;
    resp->created = salt & 64;
    fuzz_resp_versions(resp, salt);
}

static void
fuzz_encode_one(struct buf *out, const struct request *req, const struct response *resp)
{
    size_t mark = out->len;

    FUZZ_CHECK(meta_encode_response(out, req, resp) == RC_OK);
    fuzz_check_reply(out, mark);
}

static void
fuzz_encode_request(struct buf *out, const struct request *req, unsigned salt)
{
    struct response resp;

    fuzz_resp_hit(&resp, req, salt);
    fuzz_encode_one(out, req, &resp);
    fuzz_resp_hit(&resp, req, salt * 7 + 1);
    fuzz_encode_one(out, req, &resp);
    fuzz_resp_fail(&resp, RC_ENOTFOUND, false);
    fuzz_encode_one(out, req, &resp);
    fuzz_resp_fail(&resp, fuzz_statuses[salt % FUZZ_NSTATUSES], salt & 1);
    fuzz_encode_one(out, req, &resp);
}

/* ------------------------------------------------------------ framing */

/* text.c's framing of one line: AGAIN without '\n' (a close past 2048
 * bytes), else the line cut before "\r\n"/"\n" and at a NUL. A line whose
 * first token is not a meta command is consumed with no result (*skipped):
 * text_parse would have answered it itself. */
static enum text_rc
fuzz_frame(struct fuzz_run *r, const char *data, size_t len, struct request *req, size_t *consumed,
           struct text_error *err, bool *skipped)
{
    const char *nl = memchr(data, '\n', len), *nul, *tok, *end;
    size_t n, next;

    memset(err, 0, sizeof(*err));
    *consumed = 0;
    *skipped = false;
    if (nl == NULL) {
        if (len <= FUZZ_LINE_MAX) {
            return TEXT_AGAIN;
        }
        *consumed = len;
        err->close = true;
        return TEXT_ERROR;
    }
    n = (size_t)(nl - data);
    next = n + 1;
    if (n > 1 && data[n - 1] == '\r') {
        n--;
    }
    nul = memchr(data, '\0', n);
    if (nul != NULL) {
        n = (size_t)(nul - data);
    }
    for (tok = data, end = data + n; tok < end && *tok == ' '; tok++) {
    }
    nul = tok;
    while (nul < end && *nul != ' ') {
        nul++;
    }
    if (!meta_is_command(tok, (size_t)(nul - tok))) {
        *consumed = next;
        *skipped = true;
        return TEXT_OK;
    }
    request_reset(req);
    return meta_parse(&r->scratch, r->max_item, data, n, next, data, len, req, consumed, err);
}

/* ------------------------------------------------------------ driver */

static void
fuzz_record_ok(struct fuzz_run *r, const struct request *req, const char *base, size_t len,
               size_t consumed)
{
    uint64_t *h = &r->trace;

    fuzz_hash_u64(h, TEXT_OK);
    fuzz_hash_u64(h, r->off);
    fuzz_hash_u64(h, consumed);
    fuzz_hash_u64(h, (uint64_t)req->cmd);
    fuzz_hash_u64(h, req->noreply);
    fuzz_hash_u64(h, req->flags);
    fuzz_hash_u64(h, (uint64_t)req->exptime);
    fuzz_hash_u64(h, req->delta);
    fuzz_hash(h, &req->opts, sizeof(req->opts));
    fuzz_hash_u64(h, req->wire.flags);
    fuzz_hash_u64(h, req->wire.opaque);
    fuzz_hash_u64(h, fuzz_offset(req->wire.token, base, len));
    fuzz_hash_u64(h, req->wire.ntoken);
    fuzz_hash_u64(h, fuzz_offset(req->value, base, len));
    fuzz_hash_u64(h, req->nvalue);
    fuzz_hash_u64(h, req->nkeys);
    if (req->nkeys > 0) {
        fuzz_hash(h, req->keys[0].key, req->keys[0].nkey);
    }
}

static void
fuzz_record_error(struct fuzz_run *r, const struct text_error *err, size_t consumed)
{
    uint64_t *h = &r->trace;
    const char *reply = err->reply ? err->reply : "(none)";

    fuzz_hash_u64(h, TEXT_ERROR);
    fuzz_hash_u64(h, r->off);
    fuzz_hash_u64(h, consumed);
    fuzz_hash(h, reply, strlen(reply));
    fuzz_hash_u64(h, err->swallow);
    fuzz_hash_u64(h, err->close);
    if (err->stale_key != NULL) {
        fuzz_hash(h, err->stale_key, err->nstale_key);
    }
}

/* Parse what base[0, avail) holds beyond r->off (base[i] is stream byte i). */
static void
fuzz_feed(struct fuzz_run *r, const char *base, size_t avail, bool first_chunk)
{
    struct request req;
    struct text_error err;
    enum text_rc rc;
    size_t consumed, len, n;
    bool skipped;

    while (!r->closed && r->off < avail) {
        if (r->swallow > 0) {
            n = avail - r->off < r->swallow ? avail - r->off : r->swallow;
            r->off += n;
            r->swallow -= n;
            continue;
        }
        FUZZ_CHECK(++r->nreq <= FUZZ_MAX_REQUESTS);
        len = avail - r->off;
        rc = fuzz_frame(r, base + r->off, len, &req, &consumed, &err, &skipped);
        switch (rc) {
        case TEXT_OK:
            if (skipped) {
                break;
            }
            fuzz_check_request(r, &req, base + r->off, len, consumed);
            fuzz_record_ok(r, &req, base + r->off, len, consumed);
            fuzz_encode_request(&r->out, &req, (unsigned)r->off);
            break;
        case TEXT_AGAIN:
            FUZZ_CHECK(consumed == 0 || consumed > len);
            FUZZ_CHECK(consumed <= len + r->max_item + 2);
            return;
        case TEXT_ERROR:
            fuzz_check_error(r, &err, base + r->off, len, consumed);
            fuzz_record_error(r, &err, consumed);
            if (err.reply != NULL) {
                n = r->out.len;
                FUZZ_CHECK(text_encode_line(&r->out, err.reply) == RC_OK);
                fuzz_check_reply(&r->out, n);
            }
            r->swallow = err.swallow;
            if (err.close) {
                r->closed = true;
                r->early_close = first_chunk;
            }
            break;
        default:
            FUZZ_CHECK(!"meta_parse returned no text_rc");
        }
        r->off += consumed;
    }
}

static void
fuzz_run_init(struct fuzz_run *r, uint64_t max_item)
{
    memset(r, 0, sizeof(*r));
    r->max_item = max_item;
    r->trace = 14695981039346656037ull;
    buf_init(&r->out);
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
    fuzz_feed(&whole, stream, n, false);

    fuzz_run_init(&split, max_item);
    chunk = malloc(at ? at : 1); /* exact size: reads past it are caught */
    FUZZ_CHECK(chunk != NULL);
    memcpy(chunk, stream, at);
    fuzz_feed(&split, chunk, at, true);
    free(chunk);
    fuzz_feed(&split, stream, n, false);

    if (!split.early_close) {
        FUZZ_CHECK(whole.trace == split.trace);
        FUZZ_CHECK(whole.off == split.off && whole.closed == split.closed);
        FUZZ_CHECK(whole.out.len == split.out.len);
        FUZZ_CHECK(whole.out.len == 0 ||
                   memcmp(whole.out.data, split.out.data, whole.out.len) == 0);
    }
    buf_deinit(&whole.out);
    buf_deinit(&split.out);
    return 0;
}
