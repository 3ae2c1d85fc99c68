/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_bin.c - unit tests for the memcached binary protocol codec
 * (proto/bin.c). Expected statuses, bodies and framing come from probing
 * memcached 1.6.18; each input is copied into an exact-size heap block so
 * AddressSanitizer catches any read past len. Ends with a seeded mutation
 * fuzz loop.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/status.h"
#include "proto/bin.h"
#include "proto/request.h"

#define MAX_ITEM (1024u * 1024u)
#define OPAQUE   0xdeadbeefu

static struct bin_parser parser;

static int
setup(void **state)
{
    (void)state;
    bin_parser_init(&parser, MAX_ITEM);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    bin_parser_deinit(&parser);
    return 0;
}

/* ------------------------------------------------------------ packets */

static void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void
put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A raw header with any lengths; returns 24. */
static size_t
hdr(unsigned char *out, uint8_t magic, uint8_t op, uint16_t keylen, uint8_t extlen,
    uint32_t bodylen, uint64_t cas)
{
    memset(out, 0, 24);
    out[0] = magic;
    out[1] = op;
    out[2] = (unsigned char)(keylen >> 8);
    out[3] = (unsigned char)keylen;
    out[4] = extlen;
    put32(out + 8, bodylen);
    put32(out + 12, OPAQUE);
    put64(out + 16, cas);
    return 24;
}

/* A well-formed request packet into out (big enough); returns its length. */
static size_t
mk(unsigned char *out, uint8_t op, const void *ext, size_t next, const char *key, const void *val,
   size_t nval, uint64_t cas)
{
    size_t nkey = key ? strlen(key) : 0, n;

    n = hdr(out, 0x80, op, (uint16_t)nkey, (uint8_t)next, (uint32_t)(next + nkey + nval), cas);
    if (next) {
        memcpy(out + n, ext, next);
    }
    n += next;
    if (nkey) {
        memcpy(out + n, key, nkey);
    }
    n += nkey;
    if (nval) {
        memcpy(out + n, val, nval);
    }
    return n + nval;
}

static size_t
ext_store(unsigned char *e, uint32_t flags, uint32_t exptime)
{
    put32(e, flags);
    put32(e + 4, exptime);
    return 8;
}

static size_t
ext_arith(unsigned char *e, uint64_t delta, uint64_t initial, uint32_t exptime)
{
    put64(e, delta);
    put64(e + 8, initial);
    put32(e + 16, exptime);
    return 20;
}

struct parsed {
    enum bin_rc rc;
    struct request req;
    size_t consumed;
    struct bin_error err;
    char *copy; /* exact-size copy of the input */
};

static void
parse_n(struct parsed *r, const void *in, size_t n)
{
    r->copy = malloc(n ? n : 1);
    assert_non_null(r->copy);
    memcpy(r->copy, in, n);
    r->rc = bin_parse(&parser, r->copy, n, &r->req, &r->consumed, &r->err);
}

static void
parsed_done(struct parsed *r)
{
    free(r->copy);
    r->copy = NULL;
}

static void
assert_key(const struct parsed *r, const char *key)
{
    assert_int_equal(r->req.nkeys, 1);
    assert_int_equal(r->req.keys[0].nkey, strlen(key));
    assert_memory_equal(r->req.keys[0].key, key, strlen(key));
}

static void
assert_value(const struct parsed *r, const char *v, size_t n)
{
    assert_int_equal(r->req.nvalue, n);
    if (n) {
        assert_memory_equal(r->req.value, v, n);
    }
}

/* Expect a closing or swallowing error from bin_parse. */
static void
assert_parse_error(const void *in, size_t n, uint16_t status, bool close, size_t consumed,
                   size_t swallow)
{
    struct parsed r;

    parse_n(&r, in, n);
    assert_int_equal(r.rc, BIN_ERROR);
    assert_true(r.err.reply);
    assert_int_equal(r.err.status, status);
    assert_int_equal(r.err.close, close);
    assert_int_equal(r.consumed, consumed);
    assert_int_equal(r.err.swallow, swallow);
    assert_int_equal(r.err.opaque, OPAQUE);
    assert_int_equal(r.err.opcode, (unsigned char)r.copy[1]);
    parsed_done(&r);
}

/* ------------------------------------------------------------ replies */

struct reply {
    uint8_t magic, opcode, extlen;
    uint16_t keylen, status;
    uint32_t bodylen, opaque;
    uint64_t cas;
    const unsigned char *ext, *key, *val;
    size_t nval;
};

/* Decode the packet at *off in out; advances *off. */
static void
reply_at(const struct buf *out, size_t *off, struct reply *r)
{
    const unsigned char *p = (const unsigned char *)out->data + *off;

    assert_true(out->len >= *off + 24);
    r->magic = p[0];
    r->opcode = p[1];
    r->keylen = (uint16_t)(p[2] << 8 | p[3]);
    r->extlen = p[4];
    assert_int_equal(p[5], 0);
    r->status = (uint16_t)(p[6] << 8 | p[7]);
    r->bodylen = get32(p + 8);
    r->opaque = get32(p + 12);
    r->cas = (uint64_t)get32(p + 16) << 32 | get32(p + 20);
    assert_true(out->len >= *off + 24 + r->bodylen);
    r->ext = p + 24;
    r->key = r->ext + r->extlen;
    r->val = r->key + r->keylen;
    r->nval = r->bodylen - r->extlen - r->keylen;
    assert_int_equal(r->magic, 0x81);
    *off += 24 + r->bodylen;
}

static void
reply_one(const struct buf *out, struct reply *r)
{
    size_t off = 0;

    reply_at(out, &off, r);
    assert_int_equal(off, out->len);
}

static void
assert_reply_text(const struct reply *r, uint8_t op, uint16_t status, const char *text)
{
    assert_int_equal(r->opcode, op);
    assert_int_equal(r->status, status);
    assert_int_equal(r->extlen, 0);
    assert_int_equal(r->keylen, 0);
    assert_int_equal(r->cas, 0);
    assert_int_equal(r->opaque, OPAQUE);
    assert_int_equal(r->nval, strlen(text));
    assert_memory_equal(r->val, text, strlen(text));
}

/* Encode resp for req into a fresh buffer. */
static void
encode(struct buf *out, const struct request *req, const struct response *resp)
{
    buf_reset(out);
    assert_int_equal(bin_encode_response(out, req, 0, resp), RC_OK);
}

static void
encode_status(struct buf *out, const struct request *req, int status)
{
    struct response resp;

    response_reset(&resp);
    resp.status = status;
    encode(out, req, &resp);
}

/* Parse a packet, expecting OK and the whole packet consumed. */
static void
parse_ok(struct parsed *r, const unsigned char *pkt, size_t n)
{
    parse_n(r, pkt, n);
    assert_int_equal(r->rc, BIN_OK);
    assert_int_equal(r->consumed, n);
    assert_int_equal(r->req.proto, REQ_PROTO_BINARY);
    assert_int_equal(r->req.wire.opaque, OPAQUE);
    assert_int_equal(r->req.wire.opcode, pkt[1]);
}

/* ------------------------------------------------------------ get family */

static void
test_get_family(void **state)
{
    static const struct {
        uint8_t op;
        uint32_t wflags;
    } ops[] = {{0x00, 0},
               {0x09, BIN_WF_QUIET},
               {0x0c, BIN_WF_RETURN_KEY},
               {0x0d, BIN_WF_QUIET | BIN_WF_RETURN_KEY}};
    unsigned char pkt[64];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n;

    (void)state;
    buf_init(&out);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n = mk(pkt, ops[i].op, NULL, 0, "k", NULL, 0, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, REQ_GET);
        assert_int_equal(r.req.wire.flags, ops[i].wflags);
        assert_false(r.req.noreply);
        assert_int_equal(bin_is_quiet(&r.req), (ops[i].wflags & BIN_WF_QUIET) != 0);
        assert_key(&r, "k");

        /* hit: flags extras, key for GetK, value, the item's cas */
        response_reset(&resp);
        resp.flags = 5;
        resp.cas = 1;
        resp.value = "val";
        resp.nvalue = 3;
        encode(&out, &r.req, &resp);
        reply_one(&out, &rp);
        assert_int_equal(rp.opcode, ops[i].op);
        assert_int_equal(rp.status, 0);
        assert_int_equal(rp.extlen, 4);
        assert_int_equal(get32(rp.ext), 5);
        assert_int_equal(rp.cas, 1);
        assert_int_equal(rp.opaque, OPAQUE);
        assert_int_equal(rp.keylen, (ops[i].wflags & BIN_WF_RETURN_KEY) ? 1 : 0);
        assert_int_equal(rp.nval, 3);
        assert_memory_equal(rp.val, "val", 3);

        /* miss: quiet forms say nothing, GetK echoes the key, Get says so */
        encode_status(&out, &r.req, RC_ENOTFOUND);
        if (ops[i].wflags & BIN_WF_QUIET) {
            assert_int_equal(out.len, 0);
        } else if (ops[i].wflags & BIN_WF_RETURN_KEY) {
            reply_one(&out, &rp);
            assert_int_equal(rp.status, 1);
            assert_int_equal(rp.keylen, 1);
            assert_int_equal(rp.bodylen, 1);
            assert_memory_equal(rp.key, "k", 1);
        } else {
            reply_one(&out, &rp);
            assert_reply_text(&rp, 0x00, 1, "Not found");
        }
        /* errors are written even for quiet forms */
        encode_status(&out, &r.req, RC_ENOMEM);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x82, "Out of memory");
        parsed_done(&r);
    }
    buf_deinit(&out);
}

/* The exact bytes memcached 1.6.18 sent for a Get hit (flags 5, cas 1). */
static void
test_get_hit_bytes(void **state)
{
    static const unsigned char want[] = {0x81, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0x00, 0x07, 0xde, 0xad, 0xbe, 0xef,
                                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                                         0x00, 0x00, 0x00, 0x05, 'v',  'a',  'l'};
    static const unsigned char miss[] = {0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
                                         0x00, 0x00, 0x09, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
                                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'N',  'o',  't',
                                         ' ',  'f',  'o',  'u',  'n',  'd'};
    unsigned char pkt[64];
    struct parsed r;
    struct response resp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x00, NULL, 0, "k", NULL, 0, 0));
    response_reset(&resp);
    resp.flags = 5;
    resp.cas = 1;
    resp.value = "val";
    resp.nvalue = 3;
    encode(&out, &r.req, &resp);
    assert_int_equal(out.len, sizeof(want));
    assert_memory_equal(out.data, want, sizeof(want));
    encode_status(&out, &r.req, RC_ENOTFOUND);
    assert_int_equal(out.len, sizeof(miss));
    assert_memory_equal(out.data, miss, sizeof(miss));
    parsed_done(&r);
    buf_deinit(&out);
}

/* ------------------------------------------------------------ storage */

static void
test_store_family(void **state)
{
    static const struct {
        uint8_t op;
        enum req_cmd cmd;
        bool quiet;
    } ops[] = {{0x01, REQ_SET, false}, {0x11, REQ_SET, true},      {0x02, REQ_ADD, false},
               {0x12, REQ_ADD, true},  {0x03, REQ_REPLACE, false}, {0x13, REQ_REPLACE, true}};
    unsigned char pkt[64], e[8];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n;

    (void)state;
    buf_init(&out);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n = mk(pkt, ops[i].op, e, ext_store(e, 0xfeedf00d, 0xffffffff), "key", "value", 5, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, ops[i].cmd);
        assert_key(&r, "key");
        assert_value(&r, "value", 5);
        assert_int_equal(r.req.flags, 0xfeedf00d);
        assert_int_equal(r.req.exptime, 0xffffffffLL); /* unsigned, never negative */
        assert_int_equal(r.req.opts.set, 0);
        assert_int_equal(r.req.noreply, ops[i].quiet);
        assert_int_equal(bin_is_quiet(&r.req), ops[i].quiet);

        response_reset(&resp);
        resp.cas = 42;
        encode(&out, &r.req, &resp);
        if (ops[i].quiet) {
            assert_int_equal(out.len, 0);
        } else {
            reply_one(&out, &rp);
            assert_int_equal(rp.status, 0);
            assert_int_equal(rp.bodylen, 0);
            assert_int_equal(rp.cas, 42);
            assert_int_equal(rp.opcode, ops[i].op);
        }
        /* NOT_STORED is worded per command, as memcached's complete_update_bin */
        encode_status(&out, &r.req, RC_ENOTSTORED);
        reply_one(&out, &rp);
        if (ops[i].cmd == REQ_ADD) {
            assert_reply_text(&rp, ops[i].op, 0x02, "Data exists for key.");
        } else if (ops[i].cmd == REQ_REPLACE) {
            assert_reply_text(&rp, ops[i].op, 0x01, "Not found");
        } else {
            assert_reply_text(&rp, ops[i].op, 0x05, "Not stored.");
        }
        parsed_done(&r);

        /* with a cas every one of them is a cas (add replaces a match) */
        n = mk(pkt, ops[i].op, e, ext_store(e, 0, 0), "key", "v", 1, 99);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, REQ_CAS);
        assert_int_equal(r.req.cas, 99);
        assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS);
        assert_int_equal(r.req.opts.compare_cas, 99);
        assert_int_equal(r.req.wire.opcode, ops[i].op);
        encode_status(&out, &r.req, RC_ENOTFOUND);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x01, "Not found");
        encode_status(&out, &r.req, RC_EEXISTS);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x02, "Data exists for key.");
        parsed_done(&r);
    }
    buf_deinit(&out);
}

static void
test_store_values(void **state)
{
    unsigned char *pkt, e[8];
    struct parsed r;
    size_t n, vlen = MAX_ITEM - 56 - 3 - 1 - 2; /* exactly -I with flags 0 */
    char *val = malloc(MAX_ITEM + 16);

    (void)state;
    assert_non_null(val);
    pkt = malloc(MAX_ITEM + 128);
    assert_non_null(pkt);
    memset(val, 'a', MAX_ITEM + 16);
    /* empty value */
    n = mk(pkt, 0x01, e, ext_store(e, 0, 0), "k", NULL, 0, 0);
    parse_ok(&r, pkt, n);
    assert_int_equal(r.req.nvalue, 0);
    parsed_done(&r);
    /* the largest item memcached accepts, and one byte more */
    n = mk(pkt, 0x01, e, ext_store(e, 0, 0), "big", val, vlen, 0);
    parse_ok(&r, pkt, n);
    assert_int_equal(r.req.nvalue, vlen);
    parsed_done(&r);
    n = mk(pkt, 0x01, e, ext_store(e, 0, 0), "big", val, vlen + 1, 0);
    assert_parse_error(pkt, n, 0x03, false, 24 + 8 + 3, vlen + 1);
    /* non-zero flags cost 4 bytes, as in memcached */
    n = mk(pkt, 0x01, e, ext_store(e, 1, 0), "big", val, vlen, 0);
    assert_parse_error(pkt, n, 0x03, false, 24 + 8 + 3, vlen);
    free(pkt);
    free(val);
}

static void
test_append_prepend(void **state)
{
    static const struct {
        uint8_t op;
        enum req_cmd cmd;
        bool quiet;
    } ops[] = {{0x0e, REQ_APPEND, false},
               {0x0f, REQ_PREPEND, false},
               {0x19, REQ_APPEND, true},
               {0x1a, REQ_PREPEND, true}};
    unsigned char pkt[64];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n;

    (void)state;
    buf_init(&out);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n = mk(pkt, ops[i].op, NULL, 0, "k", "xyz", 3, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, ops[i].cmd);
        assert_key(&r, "k");
        assert_value(&r, "xyz", 3);
        assert_int_equal(r.req.noreply, ops[i].quiet);
        response_reset(&resp);
        resp.cas = 7;
        encode(&out, &r.req, &resp);
        if (ops[i].quiet) {
            assert_int_equal(out.len, 0);
        } else {
            reply_one(&out, &rp);
            assert_int_equal(rp.cas, 7);
        }
        encode_status(&out, &r.req, RC_ENOTSTORED);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x05, "Not stored.");
        parsed_done(&r);
        /* a cas is compared but the command stays what it is */
        n = mk(pkt, ops[i].op, NULL, 0, "k", "z", 1, 5);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, ops[i].cmd);
        assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS);
        assert_int_equal(r.req.opts.compare_cas, 5);
        parsed_done(&r);
        /* extras are refused, the connection closed (memcached: EINVAL) */
        n = mk(pkt, ops[i].op, "abcd", 4, "k", "z", 1, 0);
        assert_parse_error(pkt, n, 0x04, true, 24, 0);
    }
    buf_deinit(&out);
}

/* ------------------------------------------------------------ keyed writes */

static void
test_delete(void **state)
{
    unsigned char pkt[64];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x04, NULL, 0, "k", NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_DELETE);
    assert_key(&r, "k");
    assert_int_equal(r.req.opts.set, 0);
    response_reset(&resp);
    resp.cas = 9; /* memcached answers a delete with cas 0 */
    encode(&out, &r.req, &resp);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x04, 0, "");
    encode_status(&out, &r.req, RC_ENOTFOUND);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x04, 0x01, "Not found");
    encode_status(&out, &r.req, RC_EEXISTS);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x04, 0x02, "Data exists for key.");
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x14, NULL, 0, "k", NULL, 0, 77));
    assert_int_equal(r.req.cmd, REQ_DELETE);
    assert_true(r.req.noreply);
    assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS);
    assert_int_equal(r.req.opts.compare_cas, 77);
    encode_status(&out, &r.req, RC_OK);
    assert_int_equal(out.len, 0);
    encode_status(&out, &r.req, RC_ENOTFOUND);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x14, 0x01, "Not found");
    parsed_done(&r);

    /* extras, a value, no key: EINVAL and close */
    assert_parse_error(pkt, mk(pkt, 0x04, "abcd", 4, "k", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x04, NULL, 0, "k", "v", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x04, NULL, 0, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    buf_deinit(&out);
}

static void
test_arith(void **state)
{
    static const struct {
        uint8_t op;
        enum req_cmd cmd;
        bool quiet;
    } ops[] = {{0x05, REQ_INCR, false},
               {0x06, REQ_DECR, false},
               {0x15, REQ_INCR, true},
               {0x16, REQ_DECR, true}};
    unsigned char pkt[64], e[20];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n;

    (void)state;
    buf_init(&out);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n = mk(pkt, ops[i].op, e, ext_arith(e, 0x0102030405060708ULL, 5, 100), "n", NULL, 0, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, ops[i].cmd);
        assert_key(&r, "n");
        assert_int_equal(r.req.delta, 0x0102030405060708ULL);
        assert_int_equal(r.req.opts.set, REQO_VIVIFY);
        assert_int_equal(r.req.opts.initial, 5);
        assert_int_equal(r.req.opts.vivify_ttl, 100);
        assert_int_equal(r.req.noreply, ops[i].quiet);
        response_reset(&resp);
        resp.number = 0xffffffffffffffffULL;
        resp.cas = 6;
        encode(&out, &r.req, &resp);
        if (ops[i].quiet) {
            assert_int_equal(out.len, 0);
        } else {
            reply_one(&out, &rp);
            assert_int_equal(rp.status, 0);
            assert_int_equal(rp.cas, 6);
            assert_int_equal(rp.extlen, 0);
            assert_int_equal(rp.nval, 8);
            assert_memory_equal(rp.val, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
        }
        encode_status(&out, &r.req, RC_ENONNUMERIC);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x06, "Non-numeric server-side value for incr or decr");
        encode_status(&out, &r.req, RC_ENOTFOUND);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x01, "Not found");
        parsed_done(&r);

        /* expiration 0xffffffff: do not create; a cas is compared */
        n = mk(pkt, ops[i].op, e, ext_arith(e, 1, 5, 0xffffffffu), "n", NULL, 0, 3);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS);
        assert_int_equal(r.req.opts.compare_cas, 3);
        assert_int_equal(r.req.opts.initial, 0);
        parsed_done(&r);
        /* expiration 0: create, never expires */
        n = mk(pkt, ops[i].op, e, ext_arith(e, 1, 0, 0), "n", NULL, 0, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.opts.set, REQO_VIVIFY);
        assert_int_equal(r.req.opts.vivify_ttl, 0);
        parsed_done(&r);
    }
    /* wrong extras, a value, no key */
    assert_parse_error(pkt, mk(pkt, 0x05, e, 8, "n", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x05, e, 20, "n", "1", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x05, e, 20, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    buf_deinit(&out);
}

/* ------------------------------------------------------------ touch, GAT */

static void
test_touch_gat(void **state)
{
    static const struct {
        uint8_t op;
        enum req_cmd cmd;
        uint32_t wflags;
    } ops[] = {{0x1c, REQ_TOUCH, 0},
               {0x1d, REQ_GAT, 0},
               {0x1e, REQ_GAT, BIN_WF_QUIET},
               {0x23, REQ_GAT, BIN_WF_RETURN_KEY},
               {0x24, REQ_GAT, BIN_WF_QUIET | BIN_WF_RETURN_KEY}};
    unsigned char pkt[64], e[4];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n;

    (void)state;
    buf_init(&out);
    put32(e, 0x80000000u);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n = mk(pkt, ops[i].op, e, 4, "k", NULL, 0, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, ops[i].cmd);
        assert_int_equal(r.req.wire.flags, ops[i].wflags);
        assert_int_equal(r.req.exptime, 0x80000000LL);
        assert_false(r.req.noreply);
        assert_key(&r, "k");
        response_reset(&resp);
        resp.flags = 9;
        resp.cas = 11;
        resp.value = "v";
        resp.nvalue = 1;
        encode(&out, &r.req, &resp);
        reply_one(&out, &rp);
        assert_int_equal(rp.status, 0);
        assert_int_equal(rp.extlen, 4);
        assert_int_equal(get32(rp.ext), 9);
        assert_int_equal(rp.cas, 11);
        assert_int_equal(rp.keylen, (ops[i].wflags & BIN_WF_RETURN_KEY) ? 1 : 0);
        /* touch: flags only, no value */
        assert_int_equal(rp.nval, ops[i].cmd == REQ_TOUCH ? 0 : 1);
        encode_status(&out, &r.req, RC_ENOTFOUND);
        if (ops[i].wflags & BIN_WF_QUIET) {
            assert_int_equal(out.len, 0);
        } else if (ops[i].wflags & BIN_WF_RETURN_KEY) {
            reply_one(&out, &rp);
            assert_int_equal(rp.status, 1);
            assert_int_equal(rp.keylen, 1);
            assert_int_equal(rp.nval, 0);
        } else {
            reply_one(&out, &rp);
            assert_reply_text(&rp, ops[i].op, 0x01, "Not found");
        }
        parsed_done(&r);
        /* memcached ignores body bytes past the key: they start the next
         * packet */
        n = mk(pkt, ops[i].op, e, 4, "k", "junk", 4, 0);
        parse_n(&r, pkt, n);
        assert_int_equal(r.rc, BIN_OK);
        assert_int_equal(r.consumed, 24 + 4 + 1);
        parsed_done(&r);
        /* no extras, or no key: EINVAL and close */
        assert_parse_error(pkt, mk(pkt, ops[i].op, NULL, 0, "k", NULL, 0, 0), 0x04, true, 24, 0);
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, 4, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    }
    buf_deinit(&out);
}

/* ------------------------------------------------------------ admin */

static void
test_quit_noop_version(void **state)
{
    unsigned char pkt[64];
    struct parsed r;
    struct reply rp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x07, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_QUIT);
    encode_status(&out, &r.req, RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x07, 0, "");
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x17, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_QUIT);
    assert_true(bin_is_quiet(&r.req));
    encode_status(&out, &r.req, RC_OK);
    assert_int_equal(out.len, 0); /* QuitQ: close without a reply */
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x0a, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_NOOP);
    assert_false(bin_is_quiet(&r.req));
    buf_reset(&out);
    assert_int_equal(bin_encode_status(&out, &r.req, BIN_STATUS_SUCCESS), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x0a, 0, "");
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x0b, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_VERSION);
    buf_reset(&out);
    assert_int_equal(bin_encode_version(&out, &r.req, "1.6.18"), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x0b, 0, "1.6.18");
    buf_reset(&out);
    assert_int_equal(bin_encode_version(&out, &r.req, NULL), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x0b, 0, PACKAGE_VERSION);
    encode_status(&out, &r.req, RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x0b, 0, PACKAGE_VERSION);
    parsed_done(&r);

    /* any body at all: EINVAL and close */
    assert_parse_error(pkt, mk(pkt, 0x07, NULL, 0, NULL, "a", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x17, NULL, 0, "k", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x0a, NULL, 0, "x", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x0b, "abcd", 4, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    buf_deinit(&out);
}

static void
test_flush(void **state)
{
    unsigned char pkt[64], e[4];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x08, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_FLUSH_ALL);
    assert_int_equal(r.req.exptime, 0);
    encode_status(&out, &r.req, RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x08, 0, "");
    /* flush_all disabled (-F): memcached says Auth failure. */
    response_reset(&resp);
    resp.status = RC_EINVAL;
    resp.errmsg = "flush_all not allowed";
    encode(&out, &r.req, &resp);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x08, 0x20, "Auth failure.");
    encode_status(&out, &r.req, RC_EDISABLED);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x08, 0x20, "Auth failure.");
    parsed_done(&r);

    put32(e, 0xfffffff0u);
    parse_ok(&r, pkt, mk(pkt, 0x18, e, 4, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_FLUSH_ALL);
    assert_int_equal(r.req.exptime, 0xfffffff0LL);
    assert_true(r.req.noreply);
    encode_status(&out, &r.req, RC_OK);
    assert_int_equal(out.len, 0);
    parsed_done(&r);

    assert_parse_error(pkt, mk(pkt, 0x08, "12345678", 8, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x08, e, 4, "k", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x08, NULL, 0, NULL, "v", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x08, e, 2, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    buf_deinit(&out);
}

static void
test_stat(void **state)
{
    unsigned char pkt[64];
    struct parsed r;
    struct reply rp;
    struct buf out;
    size_t off = 0;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x10, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_STATS);
    assert_int_equal(r.req.nkeys, 0);
    assert_int_equal(r.req.nargs, 0);
    assert_string_equal(r.req.args, "");
    assert_int_equal(bin_encode_stat(&out, &r.req, "pid", "42"), RC_OK);
    assert_int_equal(bin_encode_stat_end(&out, &r.req), RC_OK);
    reply_at(&out, &off, &rp);
    assert_int_equal(rp.opcode, 0x10);
    assert_int_equal(rp.keylen, 3);
    assert_int_equal(rp.bodylen, 5);
    assert_memory_equal(rp.key, "pid", 3);
    assert_memory_equal(rp.val, "42", 2);
    assert_int_equal(rp.opaque, OPAQUE);
    reply_at(&out, &off, &rp);
    assert_reply_text(&rp, 0x10, 0, "");
    assert_int_equal(off, out.len);
    encode_status(&out, &r.req, RC_OK); /* the caller writes the stats */
    assert_int_equal(out.len, 0);
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x10, NULL, 0, "settings", NULL, 0, 0));
    assert_int_equal(r.req.nkeys, 0);
    assert_int_equal(r.req.nargs, 8);
    assert_memory_equal(r.req.args, "settings", 8);
    encode_status(&out, &r.req, RC_ENOTFOUND);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x10, 0x01, "Not found");
    parsed_done(&r);

    /* a value after the group is not consumed (memcached reads it as the
     * next packet); extras are EINVAL */
    parse_n(&r, pkt, mk(pkt, 0x10, NULL, 0, "items", "zz", 2, 0));
    assert_int_equal(r.rc, BIN_OK);
    assert_int_equal(r.consumed, 24 + 5);
    parsed_done(&r);
    assert_parse_error(pkt, mk(pkt, 0x10, "abcd", 4, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    buf_deinit(&out);
}

static void
test_verbosity_unknown(void **state)
{
    unsigned char pkt[300], e[4] = {0, 0, 0, 1};
    struct parsed r;
    struct reply rp;
    struct buf out;
    char key[252];

    (void)state;
    buf_init(&out);
    /* memcached 1.6 does not implement verbosity */
    assert_parse_error(pkt, mk(pkt, 0x1b, e, 4, NULL, NULL, 0, 0), 0x81, false, 24, 4);
    parse_n(&r, pkt, mk(pkt, 0x1b, e, 4, NULL, NULL, 0, 0));
    buf_reset(&out);
    assert_int_equal(bin_encode_error(&out, &r.err), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x1b, 0x81, "Unknown command");
    parsed_done(&r);
    /* the body is swallowed exactly, the connection lives on */
    assert_parse_error(pkt, mk(pkt, 0x30, NULL, 0, NULL, "abc", 3, 0), 0x81, false, 24, 3);
    assert_parse_error(pkt, mk(pkt, 0x30, e, 4, "key", "abc", 3, 0), 0x81, false, 24, 10);
    assert_parse_error(pkt, mk(pkt, 0xff, NULL, 0, NULL, NULL, 0, 0), 0x81, false, 24, 0);
    /* a huge body: memcached swallows nothing past extras and key */
    hdr(pkt, 0x80, 0x40, 3, 0, 0xffffffe8u, 0);
    assert_parse_error(pkt, 24, 0x81, false, 24, 3);
    hdr(pkt, 0x80, 0x40, 0, 0, 0x7fffffffu, 0);
    assert_parse_error(pkt, 24, 0x81, false, 24, 0x7fffffff);
    /* key checks come first: over 250 is EINVAL and close */
    memset(key, 'a', 251);
    key[251] = '\0';
    assert_parse_error(pkt, mk(pkt, 0x40, NULL, 0, key, NULL, 0, 0), 0x04, true, 24, 0);
    buf_deinit(&out);
}

/* ------------------------------------------------------------ SASL */

static void
test_sasl(void **state)
{
    unsigned char pkt[64];
    struct parsed r;
    struct reply rp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x20, NULL, 0, NULL, NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_SASL_LIST);
    assert_int_equal(bin_encode_sasl(&out, &r.req, BIN_STATUS_SUCCESS, "PLAIN", 5), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x20, 0, "PLAIN");
    /* memcached without -S answers every SASL opcode this way */
    buf_reset(&out);
    assert_int_equal(bin_encode_status(&out, &r.req, BIN_STATUS_UNKNOWN_COMMAND), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x20, 0x81, "Unknown command");
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x21, NULL, 0, "PLAIN", "\0user\0pw", 8, 0));
    assert_int_equal(r.req.cmd, REQ_SASL_AUTH);
    assert_key(&r, "PLAIN");
    assert_value(&r, "\0user\0pw", 8);
    buf_reset(&out);
    assert_int_equal(bin_encode_sasl(&out, &r.req, BIN_STATUS_SUCCESS, "Authenticated", 13), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x21, 0, "Authenticated");
    encode_status(&out, &r.req, RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x21, 0, "Authenticated");
    buf_reset(&out);
    assert_int_equal(bin_encode_status(&out, &r.req, BIN_STATUS_AUTH_ERROR), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x21, 0x20, "Auth failure.");
    parsed_done(&r);

    parse_ok(&r, pkt, mk(pkt, 0x22, NULL, 0, "PLAIN", "more", 4, 0));
    assert_int_equal(r.req.cmd, REQ_SASL_STEP);
    buf_reset(&out);
    assert_int_equal(bin_encode_sasl(&out, &r.req, BIN_STATUS_AUTH_CONTINUE, "chal", 4), RC_OK);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x22, 0x21, "chal");
    parsed_done(&r);

    assert_parse_error(pkt, mk(pkt, 0x20, NULL, 0, NULL, "x", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x21, NULL, 0, NULL, "x", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x22, "abcd", 4, "PLAIN", NULL, 0, 0), 0x04, true, 24, 0);
    /* body shorter than the key */
    hdr(pkt, 0x80, 0x21, 5, 0, 3, 0);
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
    /* data beyond -I: Unknown command, swallowed */
    hdr(pkt, 0x80, 0x21, 5, 0, 5 + 2 * MAX_ITEM, 0);
    assert_parse_error(pkt, 24, 0x81, false, 24, 5 + 2 * MAX_ITEM);
    hdr(pkt, 0x80, 0x21, 5, 0, 0xffffffe8u, 0);
    assert_parse_error(pkt, 24, 0x81, false, 24, 5);
    buf_deinit(&out);
}

/* ------------------------------------------------------------ hostile headers */

static void
test_bad_magic(void **state)
{
    unsigned char pkt[64];
    struct parsed r;
    struct buf out;

    (void)state;
    buf_init(&out);
    mk(pkt, 0x00, NULL, 0, "k", NULL, 0, 0);
    pkt[0] = 0x81;
    parse_n(&r, pkt, 25);
    assert_int_equal(r.rc, BIN_ERROR);
    assert_false(r.err.reply);
    assert_true(r.err.close);
    assert_int_equal(r.consumed, 24);
    assert_int_equal(bin_encode_error(&out, &r.err), RC_OK);
    assert_int_equal(out.len, 0); /* memcached closes silently */
    parsed_done(&r);
    /* text after binary: memcached waits for 24 bytes, then closes */
    parse_n(&r, "version\r\n", 9);
    assert_int_equal(r.rc, BIN_AGAIN);
    assert_int_equal(r.consumed, 24);
    parsed_done(&r);
    buf_deinit(&out);
}

static void
test_short_body(void **state)
{
    unsigned char pkt[64];

    (void)state;
    /* body shorter than key + extras: memcached says Unknown command and
     * closes, whatever the opcode */
    hdr(pkt, 0x80, 0x00, 5, 0, 3, 0); /* get */
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
    hdr(pkt, 0x80, 0x01, 1, 8, 5, 0); /* set */
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
    hdr(pkt, 0x80, 0x0e, 4, 0, 2, 0); /* append */
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
    hdr(pkt, 0x80, 0x05, 1, 20, 20, 0); /* incr */
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
    hdr(pkt, 0x80, 0x40, 4, 0, 2, 0); /* unknown */
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
    hdr(pkt, 0x80, 0x01, 0xffff, 0xff, 0, 0);
    assert_parse_error(pkt, 24, 0x81, true, 24, 0);
}

static void
test_key_limits(void **state)
{
    unsigned char pkt[600], e[8];
    char key[252];
    struct parsed r;

    (void)state;
    memset(key, 'a', 250);
    key[250] = '\0';
    parse_ok(&r, pkt, mk(pkt, 0x00, NULL, 0, key, NULL, 0, 0));
    assert_int_equal(r.req.keys[0].nkey, 250);
    parsed_done(&r);
    key[250] = 'a';
    key[251] = '\0';
    assert_parse_error(pkt, mk(pkt, 0x00, NULL, 0, key, NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x11, e, ext_store(e, 0, 0), key, "v", 1, 0), 0x04, true, 24,
                       0);
    /* judged from the header alone: no need to wait for the key */
    hdr(pkt, 0x80, 0x00, 0xffff, 0, 0xffff, 0);
    assert_parse_error(pkt, 24, 0x04, true, 24, 0);
    /* zero-length keys where one is required */
    assert_parse_error(pkt, mk(pkt, 0x00, NULL, 0, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x01, e, 8, NULL, "v", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x0e, NULL, 0, NULL, "v", 1, 0), 0x04, true, 24, 0);
    /* get with extras or a value */
    assert_parse_error(pkt, mk(pkt, 0x00, "abcd", 4, "k", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0x0c, NULL, 0, "k", "zz", 2, 0), 0x04, true, 24, 0);
    /* set with 4 bytes of extras */
    assert_parse_error(pkt, mk(pkt, 0x01, "abcd", 4, "k", "v", 1, 0), 0x04, true, 24, 0);
}

/* Declared value lengths near 2^32: refused from header, extras and key. */
static void
test_huge_bodies(void **state)
{
    static const uint32_t bodies[] = {0xffffffe8u, 0xffffffffu, 0x80000009u, 0x80000000u + 9 + 1};
    unsigned char pkt[64];
    struct parsed r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        /* value length negative as an int: E2BIG, nothing swallowed */
        hdr(pkt, 0x80, 0x01, 1, 8, bodies[i], 0);
        memset(pkt + 24, 0, 8);
        pkt[32] = 'k';
        parse_n(&r, pkt, 33);
        assert_int_equal(r.rc, BIN_ERROR);
        assert_int_equal(r.err.status, 0x03);
        assert_false(r.err.close);
        assert_int_equal(r.consumed, 33);
        assert_int_equal(r.err.swallow, 0);
        assert_int_equal(r.err.nstale_key, 1); /* set drops the old item */
        assert_ptr_equal(r.err.stale_key, r.copy + 32);
        parsed_done(&r);
    }
    /* up to INT_MAX: E2BIG, the value swallowed */
    hdr(pkt, 0x80, 0x02, 1, 8, 9 + 0x7fffffffu, 0);
    memset(pkt + 24, 0, 8);
    pkt[32] = 'k';
    parse_n(&r, pkt, 33);
    assert_int_equal(r.rc, BIN_ERROR);
    assert_int_equal(r.err.status, 0x03);
    assert_int_equal(r.err.swallow, 0x7fffffff);
    assert_null(r.err.stale_key); /* add keeps the old item */
    parsed_done(&r);
    /* the decision waits for flags and key only, never for the value */
    hdr(pkt, 0x80, 0x01, 1, 8, 0xffffffe8u, 0);
    parse_n(&r, pkt, 30);
    assert_int_equal(r.rc, BIN_AGAIN);
    assert_int_equal(r.consumed, 33);
    parsed_done(&r);
    /* append: no flags, same rules */
    hdr(pkt, 0x80, 0x19, 1, 0, 0xffffffe8u, 0);
    pkt[24] = 'k';
    assert_parse_error(pkt, 25, 0x03, false, 25, 0);
    hdr(pkt, 0x80, 0x0e, 1, 0, 1 + 2 * MAX_ITEM, 0);
    assert_parse_error(pkt, 25, 0x03, false, 25, 2 * MAX_ITEM);
    /* get/delete/incr with a huge body: EINVAL, close */
    hdr(pkt, 0x80, 0x00, 1, 0, 0xffffffe8u, 0);
    assert_parse_error(pkt, 24, 0x04, true, 24, 0);
    hdr(pkt, 0x80, 0x05, 1, 20, 0xffffffe8u, 0);
    assert_parse_error(pkt, 24, 0x04, true, 24, 0);
    /* touch with a huge body: accepted at once, the rest is not ours */
    hdr(pkt, 0x80, 0x1c, 1, 4, 0xffffffe8u, 0);
    memset(pkt + 24, 0, 4);
    pkt[28] = 'k';
    parse_n(&r, pkt, 29);
    assert_int_equal(r.rc, BIN_OK);
    assert_int_equal(r.consumed, 29);
    parsed_done(&r);
}

static void
test_stale_key_set_only(void **state)
{
    unsigned char *pkt = malloc(MAX_ITEM + 64), e[8];
    char *val = calloc(1, MAX_ITEM);
    static const uint8_t ops[] = {0x01, 0x11, 0x02, 0x12, 0x03, 0x13};
    struct parsed r;
    size_t i, n;

    (void)state;
    assert_non_null(pkt);
    assert_non_null(val);
    for (i = 0; i < sizeof(ops); i++) {
        n = mk(pkt, ops[i], e, ext_store(e, 0, 0), "sk", val, MAX_ITEM, 0);
        parse_n(&r, pkt, n);
        assert_int_equal(r.rc, BIN_ERROR);
        assert_int_equal(r.err.status, 0x03);
        assert_int_equal(r.consumed, 24 + 8 + 2);
        assert_int_equal(r.err.swallow, MAX_ITEM);
        if (ops[i] == 0x01 || ops[i] == 0x11) {
            assert_int_equal(r.err.nstale_key, 2);
            assert_memory_equal(r.err.stale_key, "sk", 2);
        } else {
            assert_null(r.err.stale_key);
        }
        parsed_done(&r);
    }
    /* with a cas a too-large set still drops the item */
    n = mk(pkt, 0x01, e, ext_store(e, 0, 0), "sk", val, MAX_ITEM, 5);
    parse_n(&r, pkt, n);
    assert_non_null(r.err.stale_key);
    parsed_done(&r);
    free(pkt);
    free(val);
}

/* ------------------------------------------------------------ framing */

static void
test_partial(void **state)
{
    unsigned char pkt[128], e[8];
    struct parsed r;
    size_t n, cut;

    (void)state;
    n = mk(pkt, 0x01, e, ext_store(e, 1, 2), "key", "value!", 6, 0);
    for (cut = 0; cut < n; cut++) {
        parse_n(&r, pkt, cut);
        assert_int_equal(r.rc, BIN_AGAIN);
        /* header, then flags and key (they decide E2BIG), then it all */
        assert_int_equal(r.consumed, cut < 24 ? 24 : cut < 24 + 8 + 3 ? 24 + 8 + 3 : n);
        assert_true(r.consumed > cut);
        parsed_done(&r);
    }
    parse_ok(&r, pkt, n);
    parsed_done(&r);
    /* get: header, then the key */
    n = mk(pkt, 0x00, NULL, 0, "abc", NULL, 0, 0);
    for (cut = 0; cut < n; cut++) {
        parse_n(&r, pkt, cut);
        assert_int_equal(r.rc, BIN_AGAIN);
        assert_int_equal(r.consumed, cut < 24 ? 24 : n);
        parsed_done(&r);
    }
}

static void
test_pipeline(void **state)
{
    unsigned char pkt[512], e[20];
    size_t n = 0, off = 0, i;
    struct parsed r;
    static const enum req_cmd want[] = {REQ_GET,  REQ_SET,  REQ_GET,  REQ_DELETE,
                                        REQ_INCR, REQ_NOOP, REQ_STATS};

    (void)state;
    n += mk(pkt + n, 0x09, NULL, 0, "a", NULL, 0, 0);
    n += mk(pkt + n, 0x11, e, ext_store(e, 0, 0), "b", "vv", 2, 0);
    n += mk(pkt + n, 0x0d, NULL, 0, "c", NULL, 0, 0);
    n += mk(pkt + n, 0x14, NULL, 0, "d", NULL, 0, 0);
    n += mk(pkt + n, 0x15, e, ext_arith(e, 1, 0, 0), "e", NULL, 0, 0);
    n += mk(pkt + n, 0x0a, NULL, 0, NULL, NULL, 0, 0);
    n += mk(pkt + n, 0x10, NULL, 0, "items", NULL, 0, 0);
    parse_n(&r, pkt, n);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        enum bin_rc rc = bin_parse(&parser, r.copy + off, n - off, &r.req, &r.consumed, &r.err);

        assert_int_equal(rc, BIN_OK);
        assert_int_equal(r.req.cmd, want[i]);
        off += r.consumed;
    }
    assert_int_equal(off, n);
    assert_int_equal(bin_parse(&parser, r.copy + off, 0, &r.req, &r.consumed, &r.err), BIN_AGAIN);
    parsed_done(&r);
}

/* ------------------------------------------------------------ statuses */

static void
test_encode_statuses(void **state)
{
    static const struct {
        int rc;
        uint16_t status;
        const char *text;
    } map[] = {
        {RC_ENOTFOUND, 0x01, "Not found"},
        {RC_EEXISTS, 0x02, "Data exists for key."},
        {RC_ETOOLARGE, 0x03, "Too large."},
        {RC_EINVAL, 0x04, "Invalid arguments"},
        {RC_ENOTSTORED, 0x05, "Not stored."},
        {RC_ENONNUMERIC, 0x06, "Non-numeric server-side value for incr or decr"},
        {RC_ENOMEM, 0x82, "Out of memory"},
        {RC_ENOSPC, 0x82, "out of disk space"},
        {RC_EIO, 0x84, "storage i/o error"},
        {RC_ECORRUPT, 0x84, "corrupt record"},
        {RC_EINTERNAL, 0x84, "internal error"},
        {RC_EPROTO, 0x84, "protocol error"},
        {RC_EDEADLOCK, 0x86, "deadlock, retry"},
        {RC_EAGAIN, 0x86, "try again"},
        {RC_EDISABLED, 0x83, "disabled"},
    };
    unsigned char pkt[64];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x0e, NULL, 0, "k", "v", 1, 0)); /* append */
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        encode_status(&out, &r.req, map[i].rc);
        reply_one(&out, &rp);
        assert_reply_text(&rp, 0x0e, map[i].status, map[i].text);
    }
    /* a reason from the coordinator replaces the generic one */
    response_reset(&resp);
    resp.status = RC_EIO;
    resp.errmsg = "flush failed";
    encode(&out, &r.req, &resp);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x0e, 0x84, "flush failed");
    parsed_done(&r);
    /* bin_encode_status and bin_status_message know every status */
    assert_string_equal(bin_status_message(BIN_STATUS_AUTH_ERROR), "Auth failure.");
    assert_string_equal(bin_status_message(BIN_STATUS_UNKNOWN_COMMAND), "Unknown command");
    assert_string_equal(bin_status_message(BIN_STATUS_SUCCESS), "");
    assert_string_equal(bin_status_message(0x7777), "");
    buf_deinit(&out);
}

/* ------------------------------------------------------------ extension */

#define CTX       "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAM.AXt0gv90dXyzw-HuZ9XUbUk"
#define WANT_BOTH (REQO_WANT_CONTEXT | REQO_WANT_NLIVE)

static uint16_t
get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t
get64(const unsigned char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* VSet extras: flags, expiration, context length. */
static size_t
ext_vset(unsigned char *e, uint32_t flags, uint32_t exptime, uint16_t ctxlen)
{
    put32(e, flags);
    put32(e + 4, exptime);
    e[8] = (unsigned char)(ctxlen >> 8);
    e[9] = (unsigned char)ctxlen;
    return 10;
}

static size_t
ext_vdel(unsigned char *e, uint16_t ctxlen)
{
    e[0] = (unsigned char)(ctxlen >> 8);
    e[1] = (unsigned char)ctxlen;
    return 2;
}

static void
test_vget(void **state)
{
    static const struct resp_sibling sib[2] = {{0, 1767225600250LL, "apple,banana", 12},
                                               {0xfffffffeu, 1767225600231LL, "", 0}};
    unsigned char pkt[600], e[4] = {0};
    const unsigned char *v;
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0xe8, NULL, 0, "c", NULL, 0, 77)); /* cas ignored */
    assert_int_equal(r.req.cmd, REQ_VGET);
    assert_key(&r, "c");
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    assert_false(r.req.noreply);
    assert_false(bin_is_quiet(&r.req));

    response_reset(&resp);
    resp.siblings = sib;
    resp.nsiblings = 2;
    resp.context = CTX;
    resp.ncontext = strlen(CTX);
    resp.cas = 0x0102030405060708ull;
    encode(&out, &r.req, &resp);
    reply_one(&out, &rp);
    assert_int_equal(rp.opcode, 0xe8);
    assert_int_equal(rp.status, 0);
    assert_int_equal(rp.opaque, OPAQUE);
    assert_int_equal(rp.cas, 0x0102030405060708ull);
    assert_int_equal(rp.keylen, 0);
    assert_int_equal(rp.extlen, 8);
    assert_int_equal(get32(rp.ext), 2);
    assert_int_equal(get16(rp.ext + 4), strlen(CTX));
    assert_int_equal(get16(rp.ext + 6), 0);
    assert_int_equal(rp.nval, strlen(CTX) + 16 + 12 + 16);
    assert_memory_equal(rp.val, CTX, strlen(CTX));
    v = rp.val + strlen(CTX);
    assert_int_equal(get32(v), 0);
    assert_int_equal(get64(v + 4), 1767225600250ull);
    assert_int_equal(get32(v + 12), 12);
    assert_memory_equal(v + 16, "apple,banana", 12);
    v += 16 + 12;
    assert_int_equal(get32(v), 0xfffffffeu);
    assert_int_equal(get64(v + 4), 1767225600231ull);
    assert_int_equal(get32(v + 12), 0);

    resp.nsiblings = 0; /* only tombstones: n = 0 with the context */
    encode(&out, &r.req, &resp);
    reply_one(&out, &rp);
    assert_int_equal(get32(rp.ext), 0);
    assert_int_equal(rp.nval, strlen(CTX));

    encode_status(&out, &r.req, RC_ENOTFOUND);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0xe8, 0x01, "Not found");
    encode_status(&out, &r.req, RC_EIO);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0xe8, 0x84, "storage i/o error");
    parsed_done(&r);

    /* framing: extras, a value or no key close the connection */
    assert_parse_error(pkt, mk(pkt, 0xe8, e, 4, "c", NULL, 0, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0xe8, NULL, 0, "c", "v", 1, 0), 0x04, true, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0xe8, NULL, 0, NULL, NULL, 0, 0), 0x04, true, 24, 0);
    hdr(pkt, 0x80, 0xe8, 1, 0, 0xffffffe8u, 0);
    assert_parse_error(pkt, 24, 0x04, true, 24, 0);
    buf_deinit(&out);
}

static void
test_vset(void **state)
{
    static const struct {
        uint8_t op;
        bool quiet;
    } ops[] = {{0xe9, false}, {0xeb, true}};
    unsigned char pkt[700], e[10], val[600];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n, nctx = strlen(CTX);

    (void)state;
    buf_init(&out);
    for (i = 0; i < 2; i++) {
        memcpy(val, CTX, nctx);
        memcpy(val + nctx, "apple", 5);
        n = mk(pkt, ops[i].op, e, ext_vset(e, 7, 30, (uint16_t)nctx), "c", val, nctx + 5, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, REQ_VSET);
        assert_key(&r, "c");
        assert_int_equal(r.req.ncontext, nctx);
        assert_memory_equal(r.req.context, CTX, nctx);
        assert_value(&r, "apple", 5);
        assert_int_equal(r.req.flags, 7);
        assert_int_equal(r.req.exptime, 30);
        assert_int_equal(r.req.opts.set, WANT_BOTH);
        assert_int_equal(r.req.noreply, ops[i].quiet);
        assert_int_equal(bin_is_quiet(&r.req), ops[i].quiet);

        response_reset(&resp);
        resp.nlive = 2;
        resp.context = CTX;
        resp.ncontext = nctx;
        resp.cas = 99;
        encode(&out, &r.req, &resp);
        if (ops[i].quiet) {
            assert_int_equal(out.len, 0);
        } else {
            reply_one(&out, &rp);
            assert_int_equal(rp.opcode, 0xe9);
            assert_int_equal(rp.status, 0);
            assert_int_equal(rp.cas, 99);
            assert_int_equal(rp.keylen, 0);
            assert_int_equal(rp.extlen, 4);
            assert_int_equal(get32(rp.ext), 2);
            assert_int_equal(rp.nval, nctx);
            assert_memory_equal(rp.val, CTX, nctx);
        }
        /* errors are sent by the quiet form too */
        encode_status(&out, &r.req, RC_EBADCONTEXT);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x04, "bad context");
        encode_status(&out, &r.req, RC_ESIBLINGS);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x03, "too many siblings");
        encode_status(&out, &r.req, RC_ETOOLARGE);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x03, "Too large.");
        encode_status(&out, &r.req, RC_ENOMEM);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x82, "Out of memory");
        encode_status(&out, &r.req, RC_ENOSPC);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x82, "out of disk space");
        parsed_done(&r);

        /* the empty context: length 0 */
        parse_ok(&r, pkt, mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 0), "c", "apple", 5, 0));
        assert_int_equal(r.req.ncontext, 0);
        assert_value(&r, "apple", 5);
        parsed_done(&r);
        /* all context, no data */
        parse_ok(&r, pkt, mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 3), "c", "a.b", 3, 0));
        assert_int_equal(r.req.ncontext, 3);
        assert_int_equal(r.req.nvalue, 0);
        parsed_done(&r);

        /* after framing: a cas, then the context; the connection goes on */
        n = mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 5), "c", "he!loapple", 10, 1);
        assert_parse_error(pkt, n, 0x04, false, n, 0);
        parse_n(&r, pkt, n);
        buf_reset(&out);
        assert_int_equal(bin_encode_error(&out, &r.err), RC_OK);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x04, "Invalid arguments");
        parsed_done(&r);
        n = mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 1), "c", "-apple", 6, 0);
        assert_parse_error(pkt, n, 0x04, false, n, 0);
        parse_n(&r, pkt, n);
        assert_string_equal(r.err.text, "bad context");
        buf_reset(&out);
        assert_int_equal(bin_encode_error(&out, &r.err), RC_OK);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x04, "bad context");
        parsed_done(&r);
        /* any other token goes to the coordinator, which judges it */
        parse_ok(&r, pkt, mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 5), "c", "he!loapple", 10, 0));
        assert_int_equal(r.req.ncontext, 5);
        assert_memory_equal(r.req.context, "he!lo", 5);
        assert_value(&r, "apple", 5);
        parsed_done(&r);

        /* framing: lengths close the connection */
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, 8, "c", "ab", 2, 0), 0x04, true, 24, 0);
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 0), NULL, "ab", 2, 0), 0x04,
                           true, 24, 0);
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 3), "c", "ab", 2, 0), 0x04,
                           true, 24, 0);
        memset(val, 'A', sizeof(val));
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 544), "c", val, 550, 0),
                           0x04, true, 24, 0);
        n = mk(pkt, ops[i].op, e, ext_vset(e, 0, 0, 543), "c", val, 550, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.ncontext, 543);
        assert_int_equal(r.req.nvalue, 7);
        parsed_done(&r);
    }
    buf_deinit(&out);
}

static void
test_vset_too_large(void **state)
{
    unsigned char pkt[64];
    struct parsed r;

    (void)state;
    /* data over -I once the context is taken off: E2BIG, the value
     * swallowed, no stale key (a versioned write removes nothing) */
    hdr(pkt, 0x80, 0xe9, 1, 10, 10 + 1 + 543 + 1048517, 0);
    ext_vset(pkt + 24, 0, 0, 543);
    pkt[34] = 'k';
    parse_n(&r, pkt, 35);
    assert_int_equal(r.rc, BIN_ERROR);
    assert_int_equal(r.err.status, 0x03);
    assert_false(r.err.close);
    assert_int_equal(r.consumed, 35);
    assert_int_equal(r.err.swallow, 543 + 1048517);
    assert_null(r.err.stale_key);
    parsed_done(&r);
    /* 1048516 bytes of data fit (memcached's item size, as set) */
    hdr(pkt, 0x80, 0xe9, 1, 10, 10 + 1 + 543 + 1048516, 0);
    parse_n(&r, pkt, 35);
    assert_int_equal(r.rc, BIN_AGAIN);
    assert_int_equal(r.consumed, 24 + 10 + 1 + 543 + 1048516);
    parsed_done(&r);
    /* the flags count, as for set */
    put32(pkt + 24, 1);
    assert_parse_error(pkt, 35, 0x03, false, 35, 543 + 1048516);
    /* the header alone decides past -I + 543: no waiting for the extras */
    hdr(pkt, 0x80, 0xe9, 1, 10, 10 + 1 + MAX_ITEM + 544, 0);
    assert_parse_error(pkt, 24, 0x03, false, 24, 10 + 1 + MAX_ITEM + 544);
    hdr(pkt, 0x80, 0xeb, 1, 10, 0xffffffffu, 0);
    assert_parse_error(pkt, 24, 0x03, false, 24, 0xffffffffu);
    /* below that it waits for extras and key only */
    hdr(pkt, 0x80, 0xe9, 1, 10, 10 + 1 + MAX_ITEM + 543, 0);
    parse_n(&r, pkt, 24);
    assert_int_equal(r.rc, BIN_AGAIN);
    assert_int_equal(r.consumed, 35);
    parsed_done(&r);
    /* a context length over 543 or over the value: close, before E2BIG */
    ext_vset(pkt + 24, 0, 0, 544);
    pkt[34] = 'k';
    assert_parse_error(pkt, 35, 0x04, true, 24, 0);
    hdr(pkt, 0x80, 0xe9, 1, 10, 10 + 1 + 4, 0);
    ext_vset(pkt + 24, 0, 0, 5);
    assert_parse_error(pkt, 35, 0x04, true, 24, 0);
}

/* Per-request quorums (doc/protocol-extension.txt section 8): one more
 * extras byte, R for VGet (1), W for VSet (11) and VDelete (3); 0 is the
 * node's default, above 16 EINVAL with the connection kept. */
static void
test_ext_quorum(void **state)
{
    unsigned char pkt[700], e[12], val[600];
    struct parsed r;
    size_t n, nctx = strlen(CTX);

    (void)state;
    e[0] = 1;
    parse_ok(&r, pkt, mk(pkt, 0xe8, e, 1, "c", NULL, 0, 0));
    assert_int_equal(r.req.cmd, REQ_VGET);
    assert_key(&r, "c");
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_QUORUM);
    assert_int_equal(r.req.opts.r, 1);
    assert_int_equal(r.req.opts.w, 0);
    parsed_done(&r);
    e[0] = 0; /* the node's default: no quorum option at all */
    parse_ok(&r, pkt, mk(pkt, 0xe8, e, 1, "c", NULL, 0, 0));
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    e[0] = 17;
    n = mk(pkt, 0xe8, e, 1, "c", NULL, 0, 0);
    assert_parse_error(pkt, n, 0x04, false, n, 0);
    assert_parse_error(pkt, mk(pkt, 0xe8, e, 2, "c", NULL, 0, 0), 0x04, true, 24, 0);
    e[0] = 1;
    assert_parse_error(pkt, mk(pkt, 0xe8, e, 1, "c", "v", 1, 0), 0x04, true, 24, 0);

    memcpy(val, CTX, nctx);
    memcpy(val + nctx, "apple", 5);
    ext_vset(e, 7, 30, (uint16_t)nctx);
    e[10] = 3;
    parse_ok(&r, pkt, mk(pkt, 0xe9, e, 11, "c", val, nctx + 5, 0));
    assert_int_equal(r.req.cmd, REQ_VSET);
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_QUORUM);
    assert_int_equal(r.req.opts.w, 3);
    assert_int_equal(r.req.opts.r, 0);
    assert_int_equal(r.req.flags, 7);
    assert_int_equal(r.req.ncontext, nctx);
    assert_memory_equal(r.req.context, CTX, nctx);
    assert_int_equal(r.req.nvalue, 5);
    assert_memory_equal(r.req.value, "apple", 5);
    parsed_done(&r);
    e[10] = 16;
    parse_ok(&r, pkt, mk(pkt, 0xeb, e, 11, "c", val, nctx + 5, 0));
    assert_int_equal(r.req.opts.w, 16);
    assert_true(r.req.noreply);
    parsed_done(&r);
    e[10] = 200;
    n = mk(pkt, 0xe9, e, 11, "c", val, nctx + 5, 0);
    assert_parse_error(pkt, n, 0x04, false, n, 0);
    assert_parse_error(pkt, mk(pkt, 0xe9, e, 12, "c", val, nctx + 5, 0), 0x04, true, 24, 0);

    ext_vdel(e, (uint16_t)nctx);
    e[2] = 2;
    parse_ok(&r, pkt, mk(pkt, 0xea, e, 3, "cart", CTX, nctx, 0));
    assert_int_equal(r.req.cmd, REQ_VDEL);
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_QUORUM);
    assert_int_equal(r.req.opts.w, 2);
    assert_int_equal(r.req.ncontext, nctx);
    assert_memory_equal(r.req.context, CTX, nctx);
    parsed_done(&r);
    e[2] = 17;
    n = mk(pkt, 0xec, e, 3, "cart", CTX, nctx, 0);
    assert_parse_error(pkt, n, 0x04, false, n, 0);
    assert_parse_error(pkt, mk(pkt, 0xea, e, 4, "cart", CTX, nctx, 0), 0x04, true, 24, 0);
}

static void
test_vdelete(void **state)
{
    static const struct {
        uint8_t op;
        bool quiet;
    } ops[] = {{0xea, false}, {0xec, true}};
    unsigned char pkt[700], e[2], val[600];
    struct parsed r;
    struct response resp;
    struct reply rp;
    struct buf out;
    size_t i, n, nctx = strlen(CTX);

    (void)state;
    buf_init(&out);
    for (i = 0; i < 2; i++) {
        n = mk(pkt, ops[i].op, e, ext_vdel(e, (uint16_t)nctx), "cart", CTX, nctx, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.cmd, REQ_VDEL);
        assert_key(&r, "cart");
        assert_int_equal(r.req.ncontext, nctx);
        assert_memory_equal(r.req.context, CTX, nctx);
        assert_null(r.req.value);
        assert_int_equal(r.req.opts.set, WANT_BOTH);
        assert_int_equal(r.req.noreply, ops[i].quiet);

        response_reset(&resp);
        resp.nlive = 0;
        resp.context = CTX;
        resp.ncontext = nctx;
        resp.cas = 12;
        encode(&out, &r.req, &resp);
        if (ops[i].quiet) {
            assert_int_equal(out.len, 0);
        } else {
            reply_one(&out, &rp);
            assert_int_equal(rp.status, 0);
            assert_int_equal(rp.cas, 12);
            assert_int_equal(rp.extlen, 4);
            assert_int_equal(get32(rp.ext), 0);
            assert_int_equal(rp.nval, nctx);
            assert_memory_equal(rp.val, CTX, nctx);
        }
        encode_status(&out, &r.req, RC_ENOTFOUND); /* sent even when quiet */
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x01, "Not found");
        encode_status(&out, &r.req, RC_EBADCONTEXT);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x04, "bad context");
        encode_status(&out, &r.req, RC_ESIBLINGS);
        reply_one(&out, &rp);
        assert_reply_text(&rp, ops[i].op, 0x03, "too many siblings");
        parsed_done(&r);

        parse_ok(&r, pkt, mk(pkt, ops[i].op, e, ext_vdel(e, 0), "c", NULL, 0, 0));
        assert_int_equal(r.req.ncontext, 0);
        parsed_done(&r);

        /* after framing */
        n = mk(pkt, ops[i].op, e, ext_vdel(e, 3), "c", "a.b", 3, 5);
        assert_parse_error(pkt, n, 0x04, false, n, 0);
        n = mk(pkt, ops[i].op, e, ext_vdel(e, 1), "c", "-", 1, 0); /* not in binary */
        assert_parse_error(pkt, n, 0x04, false, n, 0);
        parse_n(&r, pkt, n);
        assert_string_equal(r.err.text, "bad context");
        parsed_done(&r);
        parse_ok(&r, pkt, mk(pkt, ops[i].op, e, ext_vdel(e, 3), "c", "a b", 3, 0));
        assert_int_equal(r.req.ncontext, 3);
        parsed_done(&r);

        /* framing */
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, ext_vdel(e, 2), "c", "a.b", 3, 0), 0x04, true,
                           24, 0);
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, ext_vdel(e, 4), "c", "a.b", 3, 0), 0x04, true,
                           24, 0);
        assert_parse_error(pkt, mk(pkt, ops[i].op, NULL, 0, "c", "a.b", 3, 0), 0x04, true, 24, 0);
        assert_parse_error(pkt, mk(pkt, ops[i].op, e, ext_vdel(e, 3), NULL, "a.b", 3, 0), 0x04,
                           true, 24, 0);
        memset(val, 'A', sizeof(val));
        n = mk(pkt, ops[i].op, e, ext_vdel(e, 543), "c", val, 543, 0);
        parse_ok(&r, pkt, n);
        assert_int_equal(r.req.ncontext, 543);
        parsed_done(&r);
        /* over 543 is refused from the header, before the body */
        mk(pkt, ops[i].op, e, ext_vdel(e, 544), "c", val, 544, 0);
        assert_parse_error(pkt, 24, 0x04, true, 24, 0);
        hdr(pkt, 0x80, ops[i].op, 1, 2, 0xffffffffu, 0);
        assert_parse_error(pkt, 24, 0x04, true, 24, 0);
    }
    /* 0xed to 0xef: reserved, answered Unknown command, body swallowed */
    assert_parse_error(pkt, mk(pkt, 0xed, e, 2, "c", "ab", 2, 0), 0x81, false, 24, 5);
    assert_parse_error(pkt, mk(pkt, 0xee, NULL, 0, NULL, NULL, 0, 0), 0x81, false, 24, 0);
    assert_parse_error(pkt, mk(pkt, 0xef, NULL, 0, "k", NULL, 0, 0), 0x81, false, 24, 1);
    buf_deinit(&out);
}

/* The extension's statuses on any other command. */
static void
test_ext_statuses(void **state)
{
    unsigned char pkt[64], e[8];
    struct parsed r;
    struct reply rp;
    struct buf out;

    (void)state;
    buf_init(&out);
    parse_ok(&r, pkt, mk(pkt, 0x01, e, ext_store(e, 0, 0), "k", "v", 1, 0));
    encode_status(&out, &r.req, RC_EBADCONTEXT);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x01, 0x04, "bad context");
    encode_status(&out, &r.req, RC_ESIBLINGS);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x01, 0x03, "too many siblings");
    parsed_done(&r);
    parse_ok(&r, pkt, mk(pkt, 0x14, NULL, 0, "k", NULL, 0, 0));
    encode_status(&out, &r.req, RC_ESIBLINGS);
    reply_one(&out, &rp);
    assert_reply_text(&rp, 0x14, 0x03, "too many siblings");
    parsed_done(&r);
    buf_deinit(&out);
}

/* ------------------------------------------------------------ fuzz */

static void
fuzz_check(const unsigned char *in, size_t n)
{
    struct parsed r;
    struct buf out;
    struct response resp;

    parse_n(&r, in, n);
    switch (r.rc) {
    case BIN_OK:
        assert_true(r.consumed >= 24 && r.consumed <= n);
        if (r.req.nkeys) {
            assert_true(r.req.keys[0].key >= r.copy &&
                        r.req.keys[0].key + r.req.keys[0].nkey <= r.copy + r.consumed);
            assert_true(r.req.keys[0].nkey >= 1 && r.req.keys[0].nkey <= REQ_KEY_MAX);
        }
        if (r.req.nvalue) {
            assert_true(r.req.value >= r.copy && r.req.value + r.req.nvalue <= r.copy + n);
        }
        buf_init(&out);
        response_reset(&resp);
        resp.value = "x";
        resp.nvalue = 1;
        if (r.req.cmd != REQ_STATS) {
            assert_int_equal(bin_encode_response(&out, &r.req, 0, &resp), RC_OK);
        }
        resp.status = RC_ENOTFOUND;
        assert_int_equal(bin_encode_response(&out, &r.req, 0, &resp), RC_OK);
        buf_deinit(&out);
        break;
    case BIN_ERROR:
        assert_true(r.consumed <= n);
        if (r.err.stale_key) {
            assert_true(r.err.stale_key >= r.copy &&
                        r.err.stale_key + r.err.nstale_key <= r.copy + n);
        }
        break;
    case BIN_AGAIN:
        assert_true(r.consumed > n);
        break;
    default:
        fail();
    }
    parsed_done(&r);
}

static void
test_fuzz(void **state)
{
    unsigned char seeds[15][64], buf[96], e[20];
    size_t nseed[15], iter, n, j, s = 0;
    unsigned seed = 4242;

    (void)state;
    nseed[s] = mk(seeds[s], 0x00, NULL, 0, "key", NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0x01, e, ext_store(e, 1, 2), "k", "val", 3, 0), s++;
    nseed[s] = mk(seeds[s], 0x12, e, ext_store(e, 0, 0), "k", "v", 1, 7), s++;
    nseed[s] = mk(seeds[s], 0x0e, NULL, 0, "k", "tail", 4, 0), s++;
    nseed[s] = mk(seeds[s], 0x04, NULL, 0, "k", NULL, 0, 3), s++;
    nseed[s] = mk(seeds[s], 0x05, e, ext_arith(e, 1, 2, 3), "n", NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0x08, e, 4, NULL, NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0x10, NULL, 0, "items", NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0x24, e, 4, "k", NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0x21, NULL, 0, "PLAIN", "ab", 2, 0), s++;
    nseed[s] = mk(seeds[s], 0x0a, NULL, 0, NULL, NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0x1b, e, 4, NULL, NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0xe8, NULL, 0, "key", NULL, 0, 0), s++;
    nseed[s] = mk(seeds[s], 0xe9, e, ext_vset(e, 1, 2, 3), "k", "a.bval", 6, 0), s++;
    nseed[s] = mk(seeds[s], 0xec, e, ext_vdel(e, 4), "k", "ab.c", 4, 0), s++;
    for (iter = 0; iter < 200000; iter++) {
        size_t k = iter % s;

        n = nseed[k];
        memcpy(buf, seeds[k], n);
        for (j = 0; j < 1 + iter % 4; j++) {
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 16) % 4) {
            case 0: /* a random byte anywhere */
                buf[(seed >> 8) % n] = (unsigned char)(seed >> 20);
                break;
            case 1: /* a header length field to an extreme */
                buf[2 + (seed >> 8) % 10] = (seed >> 20) & 1 ? 0xff : 0x00;
                break;
            case 2: /* truncate */
                n = 1 + (seed >> 8) % n;
                break;
            default: /* a random opcode */
                if (n > 1) {
                    buf[1] = (unsigned char)(seed >> 20);
                }
                break;
            }
        }
        fuzz_check(buf, n);
    }
    for (iter = 0; iter < 50000; iter++) { /* noise behind a valid magic */
        n = 1 + iter % sizeof(buf);
        for (j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = (unsigned char)(seed >> 16);
        }
        buf[0] = 0x80;
        fuzz_check(buf, n);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_family),
        cmocka_unit_test(test_get_hit_bytes),
        cmocka_unit_test(test_store_family),
        cmocka_unit_test(test_store_values),
        cmocka_unit_test(test_append_prepend),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_arith),
        cmocka_unit_test(test_touch_gat),
        cmocka_unit_test(test_quit_noop_version),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_stat),
        cmocka_unit_test(test_verbosity_unknown),
        cmocka_unit_test(test_sasl),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_short_body),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_huge_bodies),
        cmocka_unit_test(test_stale_key_set_only),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_encode_statuses),
        cmocka_unit_test(test_vget),
        cmocka_unit_test(test_vset),
        cmocka_unit_test(test_vset_too_large),
        cmocka_unit_test(test_vdelete),
        cmocka_unit_test(test_ext_quorum),
        cmocka_unit_test(test_ext_statuses),
        cmocka_unit_test(test_fuzz),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
