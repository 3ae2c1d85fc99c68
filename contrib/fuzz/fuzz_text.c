/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_text.c - libFuzzer target for the text protocol codec (proto/text.c):
 * text_parse driven the way conn_process drives it, and every text encoder
 * run on synthetic responses for each parsed request. Meta commands arrive
 * the same way (text_parse hands them to proto/meta.c) and get their replies
 * from meta_encode_response; fuzz_meta.c drives that codec alone.
 *
 *   input = selector byte, then the client's byte stream
 *     selector bit 0:    -I of 1 KiB (1) or memcached's 1 MiB default (0)
 *     selector bits 1-7: where run 2 splits the stream (0 .. 127 -> 0 .. len)
 *
 *   run 1: the whole stream at once
 *   run 2: stream[0, split) in an exact-size copy, then the whole stream
 *   each run: loop { honour swallow; text_parse at the first unread byte;
 *                    OK -> check, encode hit/miss/error replies;
 *                    AGAIN -> wait for the next chunk;
 *                    ERROR -> check, encode err.reply, skip consumed, then
 *                             swallow err.swallow bytes; stop on close }
 *
 * Invariants checked (violations call __builtin_trap, so ASan/UBSan and the
 * trap all count as crashes): text.h's contract (consumed within the input on
 * OK and ERROR, beyond it on AGAIN and bounded by -I; keys, value, args and
 * stale keys inside the consumed bytes, or for a meta key decoded from
 * base64 inside the parser's key array; key counts per command), progress on
 * every OK or ERROR, well-formed replies, and resumption: both runs must see
 * the same requests and produce the same reply bytes, unless run 2's first
 * chunk ends inside a line longer than 2048 bytes, where memcached itself
 * closes (the outcome depends on how the bytes arrive).
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
#include "proto/meta.h"
#include "proto/request.h"
#include "proto/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One connection's worth of state for one run. */
struct fuzz_run {
    struct text_parser parser;
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

/* An encoder's addition to out since mark: nothing or whole "\r\n" lines. */
static void
fuzz_check_lines(const struct buf *out, size_t mark)
{
    size_t n = out->len - mark;

    FUZZ_CHECK(out->len >= mark);
    if (n > 0) {
        FUZZ_CHECK(n >= 2 && out->data[out->len - 2] == '\r' && out->data[out->len - 1] == '\n');
    }
}

/* ------------------------------------------------------------ requests */

/* A meta key sent in base64 (b) is decoded into the parser's own memory,
 * the key array it already owns. */
static bool
fuzz_in_parser(const struct text_parser *p, const char *s, size_t n)
{
    const char *lo = (const char *)p->keys;

    return lo != NULL && fuzz_inside(s, n, lo, lo + p->keys_cap * sizeof(*p->keys));
}

static void
fuzz_check_keys(const struct text_parser *p, const struct request *req, const char *base,
                size_t consumed)
{
    size_t i;

    FUZZ_CHECK(req->nkeys <= consumed / 2);
    FUZZ_CHECK(req->nkeys == 0 || req->keys != NULL);
    for (i = 0; i < req->nkeys; i++) {
        const struct req_key *k = &req->keys[i];

        FUZZ_CHECK(k->nkey >= 1 && k->nkey <= REQ_KEY_MAX);
        if (req->proto == REQ_PROTO_META) {
            FUZZ_CHECK(fuzz_inside(k->key, k->nkey, base, base + consumed) ||
                       fuzz_in_parser(p, k->key, k->nkey));
            continue; /* a decoded key may hold any byte */
        }
        FUZZ_CHECK(fuzz_inside(k->key, k->nkey, base, base + consumed));
        /* a text key is one ' '-separated token of a line cut at NUL */
        FUZZ_CHECK(memchr(k->key, ' ', k->nkey) == NULL);
        FUZZ_CHECK(memchr(k->key, '\n', k->nkey) == NULL);
        FUZZ_CHECK(memchr(k->key, '\0', k->nkey) == NULL);
    }
}

static void
fuzz_check_request(const struct text_parser *p, const struct request *req, const char *base,
                   size_t len, size_t consumed)
{
    unsigned flags;

    FUZZ_CHECK(consumed >= 1 && consumed <= len);
    FUZZ_CHECK(req->cmd > REQ_NONE && req->cmd < REQ_CMD__COUNT);
    FUZZ_CHECK(req->proto == REQ_PROTO_TEXT || req->proto == REQ_PROTO_META);
    fuzz_check_keys(p, req, base, consumed);
    if (req->value != NULL) {
        FUZZ_CHECK(fuzz_inside(req->value, req->nvalue, base, base + consumed));
    }
    FUZZ_CHECK(req->args != NULL);
    if (req->nargs > 0) {
        FUZZ_CHECK(fuzz_inside(req->args, req->nargs, base, base + consumed));
    }
    if (req->wire.ntoken > 0) {
        FUZZ_CHECK(fuzz_inside(req->wire.token, req->wire.ntoken, base, base + consumed));
    }
    if (req->ncontext > 0) {
        FUZZ_CHECK(req->cmd == REQ_VSET || req->cmd == REQ_VDEL);
        FUZZ_CHECK(fuzz_inside(req->context, req->ncontext, base, base + consumed));
    }
    if (req->proto != REQ_PROTO_TEXT) {
        FUZZ_CHECK(req->nkeys <= 1);
        return; /* fuzz_meta checks the meta codec's own rules */
    }
    flags = req_cmd_flags(req->cmd);
    if (flags & REQF_STORE) {
        FUZZ_CHECK(req->nkeys == 1 && req->value != NULL);
        FUZZ_CHECK(req->value + req->nvalue + 2 == base + consumed);
        FUZZ_CHECK(base[consumed - 2] == '\r' && base[consumed - 1] == '\n');
        FUZZ_CHECK(req->nvalue <= FUZZ_ITEM_DEFAULT);
    } else if (flags & REQF_WRITE) {
        FUZZ_CHECK(req->nkeys == 1 && req->value == NULL);
    } else if (req->cmd == REQ_GET || req->cmd == REQ_GETS) {
        FUZZ_CHECK(req->nkeys >= 1);
    } else if (!(flags & REQF_RETRIEVE)) {
        FUZZ_CHECK(req->nkeys == 0 && req->value == NULL);
    }
    if (!(flags & REQF_STORE)) {
        FUZZ_CHECK(base[consumed - 1] == '\n'); /* the command line only */
    }
}

static void
fuzz_check_error(const struct text_parser *p, const struct text_error *err, const char *base,
                 size_t len, size_t consumed)
{
    FUZZ_CHECK(consumed >= 1 && consumed <= len);
    if (err->reply != NULL) {
        size_t n = strlen(err->reply);

        FUZZ_CHECK(n > 0 && memchr(err->reply, '\r', n) == NULL &&
                   memchr(err->reply, '\n', n) == NULL);
    }
    if (err->stale_key != NULL) {
        FUZZ_CHECK(err->nstale_key >= 1 && err->nstale_key <= REQ_KEY_MAX);
        FUZZ_CHECK(fuzz_inside(err->stale_key, err->nstale_key, base, base + consumed) ||
                   fuzz_in_parser(p, err->stale_key, err->nstale_key));
        FUZZ_CHECK(err->swallow >= 2);
    }
    FUZZ_CHECK(err->swallow <= (size_t)INT32_MAX + 1);
    if (err->close) {
        FUZZ_CHECK(err->swallow == 0);
    }
}

/* ------------------------------------------------------------ encoders */

static void
fuzz_resp_hit(struct response *resp, const struct request *req, size_t ki)
{
    response_reset(resp);
    resp->status = RC_OK;
    resp->flags = (uint32_t)(ki * 2654435761u);
    resp->cas = UINT64_MAX - ki;
    resp->number = req->delta + ki;
    if (ki < req->nkeys) { /* the key's own bytes make a value */
        resp->value = req->keys[ki].key;
        resp->nvalue = req->keys[ki].nkey;
    }
    fuzz_resp_versions(resp, (unsigned)ki);
}

/* A retrieval: per key a hit, a miss and a rotating failure, then END. */
static void
fuzz_encode_retrieve(struct buf *out, const struct request *req, unsigned salt)
{
    struct response resp;
    size_t ki, mark;

    for (ki = 0; ki < req->nkeys; ki++) {
        const struct req_key *k = &req->keys[ki];

        mark = out->len;
        fuzz_resp_hit(&resp, req, ki);
        FUZZ_CHECK(text_encode_response(out, req, ki, &resp) == RC_OK);
        fuzz_check_lines(out, mark);
        if (req->cmd == REQ_VGET) {
            FUZZ_CHECK(out->len - mark >= 9 + k->nkey + 6);
            FUZZ_CHECK(memcmp(out->data + mark, "VERSIONS ", 9) == 0);
            FUZZ_CHECK(memcmp(out->data + mark + 9, k->key, k->nkey) == 0);
            FUZZ_CHECK(out->data[mark + 9 + k->nkey] == ' ');
        } else {
            FUZZ_CHECK(out->len - mark >= 6 + k->nkey + k->nkey + 4);
            FUZZ_CHECK(memcmp(out->data + mark, "VALUE ", 6) == 0);
            FUZZ_CHECK(memcmp(out->data + mark + 6, k->key, k->nkey) == 0);
            FUZZ_CHECK(out->data[mark + 6 + k->nkey] == ' ');
        }

        mark = out->len;
        fuzz_resp_fail(&resp, RC_ENOTFOUND, false);
        FUZZ_CHECK(text_encode_response(out, req, ki, &resp) == RC_OK);
        FUZZ_CHECK(out->len == mark);

        mark = out->len;
        fuzz_resp_fail(&resp, fuzz_statuses[(salt + ki) % FUZZ_NSTATUSES], (salt + ki) & 1);
        FUZZ_CHECK(text_encode_response(out, req, ki, &resp) == RC_OK);
        fuzz_check_lines(out, mark);
    }
    FUZZ_CHECK(text_encode_end(out) == RC_OK);
}

static void
fuzz_encode_one(struct buf *out, const struct request *req, const struct response *resp)
{
    size_t mark = out->len;

    FUZZ_CHECK(text_encode_response(out, req, 0, resp) == RC_OK);
    fuzz_check_lines(out, mark);
    if (req->noreply) {
        FUZZ_CHECK(out->len == mark);
    }
}

/* Replies a text connection gives a parsed request. */
static void
fuzz_encode_request(struct buf *out, const struct request *req, unsigned salt)
{
    struct response resp;

    if (req->proto == REQ_PROTO_META) { /* fuzz_meta varies these more */
        size_t mark = out->len;

        fuzz_resp_hit(&resp, req, 0);
        FUZZ_CHECK(meta_encode_response(out, req, &resp) == RC_OK);
        fuzz_resp_fail(&resp, fuzz_statuses[salt % FUZZ_NSTATUSES], salt & 2);
        FUZZ_CHECK(meta_encode_response(out, req, &resp) == RC_OK);
        fuzz_check_lines(out, mark);
        return;
    }
    if (req_cmd_flags(req->cmd) & REQF_RETRIEVE) {
        fuzz_encode_retrieve(out, req, salt);
        return;
    }
    fuzz_resp_hit(&resp, req, 0);
    if (req->cmd == REQ_VERSION && (salt & 1)) {
        resp.value = "1.6.18-fuzz";
        resp.nvalue = strlen(resp.value);
    } else if (req->cmd == REQ_VERSION) {
        resp.value = NULL;
        resp.nvalue = 0;
    }
    fuzz_encode_one(out, req, &resp);
    fuzz_resp_fail(&resp, fuzz_statuses[salt % FUZZ_NSTATUSES], salt & 2);
    fuzz_encode_one(out, req, &resp);
    if (req->cmd == REQ_STATS) {
        FUZZ_CHECK(text_encode_stat(out, "pid", "1") == RC_OK);
        FUZZ_CHECK(text_encode_end(out) == RC_OK);
    }
}

/* ------------------------------------------------------------ driver */

static void
fuzz_record_ok(struct fuzz_run *r, const struct request *req, const char *base, size_t len,
               size_t consumed)
{
    uint64_t *h = &r->trace;
    size_t i;

    fuzz_hash_u64(h, TEXT_OK);
    fuzz_hash_u64(h, r->off);
    fuzz_hash_u64(h, consumed);
    fuzz_hash_u64(h, (uint64_t)req->cmd);
    fuzz_hash_u64(h, (uint64_t)req->proto);
    fuzz_hash_u64(h, req->noreply);
    fuzz_hash_u64(h, req->flags);
    fuzz_hash_u64(h, (uint64_t)req->exptime);
    fuzz_hash_u64(h, req->cas);
    fuzz_hash_u64(h, req->delta);
    fuzz_hash_u64(h, req->opts.set);
    fuzz_hash_u64(h, fuzz_offset(req->value, base, len));
    fuzz_hash_u64(h, req->nvalue);
    fuzz_hash_u64(h, req->nargs);
    fuzz_hash_u64(h, req->nargs ? fuzz_offset(req->args, base, len) : 0);
    fuzz_hash_u64(h, req->nkeys);
    for (i = 0; i < req->nkeys; i++) {
        fuzz_hash_u64(h, fuzz_offset(req->keys[i].key, base, len));
        fuzz_hash(h, req->keys[i].key, req->keys[i].nkey);
    }
}

static void
fuzz_record_error(struct fuzz_run *r, const struct text_error *err, const char *base, size_t len,
                  size_t consumed)
{
    uint64_t *h = &r->trace;

    fuzz_hash_u64(h, TEXT_ERROR);
    fuzz_hash_u64(h, r->off);
    fuzz_hash_u64(h, consumed);
    fuzz_hash(h, err->reply ? err->reply : "(none)", strlen(err->reply ? err->reply : "(none)"));
    fuzz_hash_u64(h, err->swallow);
    fuzz_hash_u64(h, err->close);
    fuzz_hash_u64(h, fuzz_offset(err->stale_key, base, len));
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

    while (!r->closed && r->off < avail) {
        if (r->swallow > 0) {
            n = avail - r->off < r->swallow ? avail - r->off : r->swallow;
            r->off += n;
            r->swallow -= n;
            continue;
        }
        FUZZ_CHECK(++r->nreq <= FUZZ_MAX_REQUESTS);
        len = avail - r->off;
        rc = text_parse(&r->parser, base + r->off, len, &req, &consumed, &err);
        switch (rc) {
        case TEXT_OK:
            fuzz_check_request(&r->parser, &req, base + r->off, len, consumed);
            fuzz_record_ok(r, &req, base + r->off, len, consumed);
            fuzz_encode_request(&r->out, &req, (unsigned)r->off);
            if (req.cmd == REQ_QUIT) {
                r->closed = true;
            }
            break;
        case TEXT_AGAIN:
            /* a hint: 0 (unknown) or more than is here, never past -I */
            FUZZ_CHECK(consumed == 0 || consumed > len);
            FUZZ_CHECK(consumed <= len + r->max_item + 2);
            return;
        case TEXT_ERROR:
            fuzz_check_error(&r->parser, &err, base + r->off, len, consumed);
            fuzz_record_error(r, &err, base + r->off, len, consumed);
            if (err.reply != NULL) {
                n = r->out.len;
                FUZZ_CHECK(text_encode_line(&r->out, err.reply) == RC_OK);
                fuzz_check_lines(&r->out, n);
            }
            r->swallow = err.swallow;
            if (err.close) {
                r->closed = true;
                r->early_close = first_chunk;
            }
            break;
        default:
            FUZZ_CHECK(!"text_parse returned no text_rc");
        }
        r->off += consumed;
    }
}

static void
fuzz_run_init(struct fuzz_run *r, uint64_t max_item)
{
    memset(r, 0, sizeof(*r));
    text_parser_init(&r->parser, max_item);
    r->max_item = max_item;
    r->trace = 14695981039346656037ull;
    buf_init(&r->out);
}

static void
fuzz_run_deinit(struct fuzz_run *r)
{
    text_parser_deinit(&r->parser);
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
    fuzz_feed(&whole, stream, n, false);

    fuzz_run_init(&split, max_item);
    chunk = malloc(at ? at : 1); /* exact size: reads past it are caught */
    FUZZ_CHECK(chunk != NULL);
    memcpy(chunk, stream, at);
    {
        /* The prefetch scan (proto/scan.h) sees the same bytes first in
         * the daemon: every key it names must lie inside them. */
        struct scan_key keys[32];
        size_t nk = scan_keys_text(chunk, at, keys, 32);

        for (size_t i = 0; i < nk; i++) {
            FUZZ_CHECK(keys[i].key >= chunk && keys[i].key + keys[i].nkey <= chunk + at);
        }
    }
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
    fuzz_run_deinit(&whole);
    fuzz_run_deinit(&split);
    return 0;
}
