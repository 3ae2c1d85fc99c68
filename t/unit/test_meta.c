/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_meta.c - unit tests for the meta protocol codec (proto/meta.c),
 * reached the way connections reach it: through text_parse and
 * text_encode_response. Expected bytes come from probing memcached 1.6.18.
 * Each input is copied into an exact-size heap block so AddressSanitizer
 * catches a read past len. Ends with a seeded mutation loop.
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
#include "proto/meta.h"
#include "proto/request.h"
#include "proto/text.h"

#define MAX_ITEM (1024u * 1024u)

struct parsed {
    enum text_rc rc;
    struct request req;
    size_t consumed;
    struct text_error err;
    char *copy;
};

static struct text_parser parser;

static int
setup(void **state)
{
    (void)state;
    text_parser_init(&parser, MAX_ITEM);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    text_parser_deinit(&parser);
    return 0;
}

static void
parse_n(struct parsed *r, const char *in, size_t n)
{
    r->copy = malloc(n ? n : 1);
    assert_non_null(r->copy);
    memcpy(r->copy, in, n);
    r->rc = text_parse(&parser, r->copy, n, &r->req, &r->consumed, &r->err);
}

static void
parsed_done(struct parsed *r)
{
    free(r->copy);
    r->copy = NULL;
}

static void
expect_ok(struct parsed *r, const char *in, enum req_cmd cmd)
{
    parse_n(r, in, strlen(in));
    assert_int_equal(r->rc, TEXT_OK);
    assert_int_equal(r->req.cmd, cmd);
    assert_int_equal(r->req.proto, REQ_PROTO_META);
    assert_int_equal(r->consumed, strlen(in));
}

static void
expect_err(const char *in, const char *reply, size_t swallow)
{
    struct parsed r;

    parse_n(&r, in, strlen(in));
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_non_null(r.err.reply);
    assert_string_equal(r.err.reply, reply);
    assert_int_equal(r.err.swallow, swallow);
    assert_false(r.err.close);
    parsed_done(&r);
}

/* Encode resp for the request parsed from `in` and compare. */
static void
expect_reply(const char *in, const struct response *resp, const char *want)
{
    struct parsed r;
    struct buf out;

    buf_init(&out);
    parse_n(&r, in, strlen(in));
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(text_encode_response(&out, &r.req, 0, resp), RC_OK);
    if (out.len != strlen(want)) {
        fprintf(stderr, "got [%.*s]\nwant [%s]\n", (int)out.len, out.data, want);
    }
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    parsed_done(&r);
    buf_deinit(&out);
}

static void
resp_hit(struct response *resp, const char *value, uint32_t flags, uint64_t cas)
{
    response_reset(resp);
    resp->value = value;
    resp->nvalue = strlen(value);
    resp->flags = flags;
    resp->cas = cas;
    resp->ttl = -1;
}

static void
resp_status(struct response *resp, int status)
{
    response_reset(resp);
    resp->status = status;
}

/* ------------------------------------------------------------ mg */

static void
test_mg_parse(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "mg foo v\r\n", REQ_GET);
    assert_int_equal(r.req.nkeys, 1);
    assert_memory_equal(r.req.keys[0].key, "foo", 3);
    assert_int_equal(r.req.opts.set & (REQO_TTL | REQO_VIVIFY | REQO_RECACHE), 0);
    parsed_done(&r);
    expect_ok(&r, "mg foo N30 R10 T-5 u\n", REQ_GET);
    assert_true(r.req.opts.set & REQO_VIVIFY);
    assert_int_equal(r.req.opts.vivify_ttl, 30);
    assert_true(r.req.opts.set & REQO_RECACHE);
    assert_int_equal(r.req.opts.recache_ttl, 10);
    assert_true(r.req.opts.set & REQO_TTL);
    assert_int_equal(r.req.opts.ttl, -5);
    assert_true(r.req.opts.set & REQO_NO_BUMP);
    parsed_done(&r);
    /* Flags every command accepts and mg ignores. */
    expect_ok(&r, "mg foo P/x Lfoo C5 J5 D5 Mx I F5 q\r\n", REQ_GET);
    parsed_done(&r);
    expect_ok(&r, "mg  foo   v  \r\n", REQ_GET);
    parsed_done(&r);
}

static void
test_mg_encode(void **state)
{
    struct response resp;

    (void)state;
    resp_hit(&resp, "hi", 30, 1);
    resp.nvalue = 2;
    expect_reply("mg foo v f c s t k O123 h l\r\n", &resp,
                 "VA 2 f30 c1 s2 t-1 kfoo O123 h0 l0\r\nhi\r\n");
    resp.hit_before = true;
    resp.last_access = 1;
    expect_reply("mg foo s t v f c k h l u O1 q P L\r\n", &resp,
                 "VA 2 s2 t-1 f30 c1 kfoo h1 l1 O1\r\nhi\r\n");
    expect_reply("mg foo\r\n", &resp, "HD\r\n");
    expect_reply("mg foo q k\r\n", &resp, "HD kfoo\r\n");
    resp.won_already = true;
    resp.stale = true;
    expect_reply("mg foo c\r\n", &resp, "HD c1 Z X\r\n");
    resp.won_already = false;
    resp.win = true;
    expect_reply("mg foo c v\r\n", &resp, "VA 2 c1 X W\r\nhi\r\n");
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("mg foo v\r\n", &resp, "EN\r\n");
    expect_reply("mg missing k O9 s t c\r\n", &resp, "EN kmissing O9\r\n");
    expect_reply("mg missing v q k\r\n", &resp, "");
    resp_status(&resp, RC_EIO);
    expect_reply("mg foo v q\r\n", &resp, "SERVER_ERROR storage i/o error\r\n");
}

/* t as memcached computes it while walking the flags in order. */
static void
test_mg_ttl_order(void **state)
{
    struct response resp;

    (void)state;
    resp_hit(&resp, "", 0, 2);
    resp.ttl = 100;
    expect_reply("mg foo T200 t\r\n", &resp, "HD t200\r\n");
    expect_reply("mg foo t T200\r\n", &resp, "HD t100\r\n");
    expect_reply("mg foo T0 t\r\n", &resp, "HD t-1\r\n");
    resp.created = true;
    resp.win = true;
    resp.ttl = 30;
    expect_reply("mg viv N30 v t c\r\n", &resp, "VA 0 t30 c2 W\r\n\r\n");
    expect_reply("mg viv t N30 v\r\n", &resp, "VA 0 t-1 W\r\n\r\n");
}

/* ------------------------------------------------------------ ms */

static void
test_ms_parse(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "ms foo 2 T90 F30 c\r\nhi\r\n", REQ_SET);
    assert_int_equal(r.req.nvalue, 2);
    assert_memory_equal(r.req.value, "hi", 2);
    assert_int_equal(r.req.flags, 30);
    assert_int_equal(r.req.exptime, 90);
    assert_int_equal(r.req.opts.set, 0);
    parsed_done(&r);
    expect_ok(&r, "ms foo 0\r\n\r\n", REQ_SET);
    assert_int_equal(r.req.nvalue, 0);
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 MS\r\nhi\r\n", REQ_SET);
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 ME C5\r\nhi\r\n", REQ_ADD);
    assert_int_equal(r.req.opts.set & REQO_COMPARE_CAS, 0); /* add ignores C */
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 MA N30\r\nhi\r\n", REQ_APPEND);
    assert_int_equal(r.req.opts.set & REQO_VIVIFY, 0); /* 1.6.18 ignores N */
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 MP C7 I\r\nhi\r\n", REQ_PREPEND);
    assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS);
    assert_int_equal(r.req.opts.compare_cas, 7);
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 MR C7 I\r\nhi\r\n", REQ_REPLACE);
    assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS | REQO_INVALIDATE);
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 I\r\nhi\r\n", REQ_SET);
    assert_int_equal(r.req.opts.set, 0);
    parsed_done(&r);
    expect_ok(&r, "ms foo 2 v s t f h l u R30 J1 D2\r\nhi\r\n", REQ_SET);
    parsed_done(&r);
}

static void
test_ms_errors(void **state)
{
    char line[400];

    (void)state;
    expect_err("ms\r\n", "ERROR", 0);
    expect_err("ms s2\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_err("ms s2 abc\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_err("ms s2 -1\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_err("ms s2 2147483646\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_err("ms s2 2 Fabc\r\n", "CLIENT_ERROR bad command line format", 4);
    expect_err("ms s2 2 F-1\r\n", "CLIENT_ERROR bad command line format", 4);
    expect_err("ms s2 2 Tabc\r\n", "CLIENT_ERROR bad token in command line format", 4);
    expect_err("ms s2 2 Cabc\r\n", "CLIENT_ERROR bad token in command line format", 4);
    expect_err("ms s2 2 E999\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_err("ms s2 2 S2\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_err("ms s2 2 T0 T0\r\n", "CLIENT_ERROR duplicate flag", 4);
    expect_err("ms s1 2 Ms\r\n", "CLIENT_ERROR invalid mode for ms M token", 4);
    expect_err("ms s1 2 MEE\r\n", "CLIENT_ERROR incorrect length for M token", 4);
    expect_err("ms s3 2 Mx Z\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_err("ms s3 2 Oabcdefghijabcdefghijabcdefghijab\r\n",
               "CLIENT_ERROR opaque token too long", 4);
    expect_err("ms s3 2 a b c d e f g h i j k l m n o p q\r\n",
               "CLIENT_ERROR options flags too long", 0);
    expect_err("ms s3 2 a b c d e f g h i j k l m n o p\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_err("ms s1 2 c b\r\n", "CLIENT_ERROR error decoding key", 4);
    memset(line, 'a', sizeof(line));
    memcpy(line, "ms ", 3);
    memcpy(line + 3 + 251, " 2\r\n", 5);
    expect_err(line, "CLIENT_ERROR bad command line format", 0);
}

static void
test_ms_data(void **state)
{
    struct parsed r;

    (void)state;
    parse_n(&r, "ms s2 2 q\r\nhiX\r\n", 16);
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_string_equal(r.err.reply, "CLIENT_ERROR bad data chunk");
    assert_int_equal(r.consumed, 15); /* the "\n" left is a line of its own */
    parsed_done(&r);
    parse_n(&r, "ms s2 2\r\nh", 10);
    assert_int_equal(r.rc, TEXT_AGAIN);
    assert_int_equal(r.consumed, 13);
    parsed_done(&r);
    /* Too large: refused before the data, which is swallowed. */
    parse_n(&r, "ms big 2000000 q\r\n", 18);
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_string_equal(r.err.reply, "SERVER_ERROR object too large for cache");
    assert_int_equal(r.err.swallow, 2000002);
    assert_int_equal(r.consumed, 18);
    assert_int_equal(r.err.nstale_key, 3);
    assert_memory_equal(r.err.stale_key, "big", 3);
    parsed_done(&r);
    /* The limit is memcached's item size: 1048500 bytes still fit. */
    parse_n(&r, "ms big 1048500\r\n", 16);
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    parse_n(&r, "ms big 1048516\r\n", 16);
    assert_int_equal(r.rc, TEXT_ERROR);
    parsed_done(&r);
}

static void
test_ms_encode(void **state)
{
    struct response resp;

    (void)state;
    resp_status(&resp, RC_OK);
    resp.cas = 5;
    expect_reply("ms czE= 2 c k O5 b\r\nhi\r\n", &resp, "HD c5 kczE= b O5\r\n");
    expect_reply("ms s1 2 q c\r\nhi\r\n", &resp, "");
    resp_status(&resp, RC_ENOTSTORED);
    expect_reply("ms s1 2 ME c q\r\nhi\r\n", &resp, "NS c0\r\n");
    expect_reply("ms s1 2 ME c k O1\r\nhi\r\n", &resp, "NS c0 ks1 O1\r\n");
    resp_status(&resp, RC_EEXISTS);
    expect_reply("ms s1 2 C1\r\nhi\r\n", &resp, "EX\r\n");
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("ms s1 2 C1 q\r\nhi\r\n", &resp, "NF\r\n");
    resp_status(&resp, RC_ENOMEM);
    expect_reply("ms s1 2\r\nhi\r\n", &resp, "SERVER_ERROR out of memory storing object\r\n");
    resp_status(&resp, RC_ENOSPC);
    expect_reply("ms s1 2\r\nhi\r\n", &resp, "SERVER_ERROR out of disk space\r\n");
}

/* ------------------------------------------------------------ md, ma */

static void
test_md(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_ok(&r, "md d1 C9 I T30 q\r\n", REQ_DELETE);
    assert_int_equal(r.req.opts.set, REQO_COMPARE_CAS | REQO_INVALIDATE | REQO_TTL);
    assert_int_equal(r.req.opts.compare_cas, 9);
    assert_int_equal(r.req.opts.ttl, 30);
    parsed_done(&r);
    expect_ok(&r, "md d1 T30\r\n", REQ_DELETE);
    assert_int_equal(r.req.opts.set, 0); /* T only with I */
    parsed_done(&r);
    expect_err("md\r\n", "ERROR", 0);
    expect_err("md d1 x\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md d1 E5\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md d1 Cabc\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md d1 k b\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md d1 O123456789012345678901234567890123\r\n", "CLIENT_ERROR opaque token too long",
               0);
    expect_err("md s3 a b c d e f g h i j k l m n o p q r\r\n",
               "CLIENT_ERROR options flags too long", 0);
    expect_err("md s3 a b c d e f g h i j k l m n o p q\r\n",
               "CLIENT_ERROR invalid or duplicate flag", 0);
    resp_status(&resp, RC_OK);
    expect_reply("md d1 I T30 c t v\r\n", &resp, "HD\r\n");
    expect_reply("md d1 q\r\n", &resp, "");
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("md d1 q k O1\r\n", &resp, "NF kd1 O1\r\n");
    expect_reply("md ZDE= k O1 b\r\n", &resp, "NF kZDE= b O1\r\n");
    resp_status(&resp, RC_EEXISTS);
    expect_reply("md d1 C1 k\r\n", &resp, "EX kd1\r\n");
}

static void
test_ma(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_ok(&r, "ma c1\r\n", REQ_INCR);
    assert_int_equal(r.req.delta, 1);
    parsed_done(&r);
    expect_ok(&r, "ma c1 MD D5 N0 J10 T30 C4\r\n", REQ_DECR);
    assert_int_equal(r.req.delta, 5);
    assert_true(r.req.opts.set & REQO_VIVIFY);
    assert_int_equal(r.req.opts.initial, 10);
    assert_int_equal(r.req.opts.vivify_ttl, 0);
    assert_true(r.req.opts.set & REQO_TTL);
    assert_true(r.req.opts.set & REQO_COMPARE_CAS);
    parsed_done(&r);
    expect_ok(&r, "ma c1 M-\r\n", REQ_DECR);
    parsed_done(&r);
    expect_ok(&r, "ma c1 M+ D18446744073709551615\r\n", REQ_INCR);
    assert_int_equal(r.req.delta, UINT64_MAX);
    parsed_done(&r);
    expect_ok(&r, "ma c1 MI I\r\n", REQ_INCR);
    parsed_done(&r);
    expect_err("ma c1 Mi\r\n", "CLIENT_ERROR invalid mode for ma M token", 0);
    expect_err("ma c1 Dabc\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c1 D18446744073709551616\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c1 D-1\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c1 Jx N0\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    resp_status(&resp, RC_OK);
    resp.number = 10;
    resp.cas = 20;
    resp.ttl = -1;
    resp.created = true;
    expect_reply("ma c1 N0 J10 v t c k O1\r\n", &resp, "VA 2 t-1 c20 kc1 O1\r\n10\r\n");
    resp.created = false;
    resp.number = 6;
    expect_reply("ma c1 v D5 MD\r\n", &resp, "VA 1\r\n6\r\n");
    expect_reply("ma c1\r\n", &resp, "HD\r\n");
    expect_reply("ma c1 q v\r\n", &resp, "");
    resp.ttl = 29;
    expect_reply("ma c1 T30 t v\r\n", &resp, "VA 1 t30\r\n6\r\n");
    expect_reply("ma c1 t T60 v\r\n", &resp, "VA 1 t29\r\n6\r\n");
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("ma c1 q k O1 t c v\r\n", &resp, "NF kc1 O1\r\n");
    expect_reply("ma Yz1= b k v\r\n", &resp, "NF kYz0= b\r\n");
    resp_status(&resp, RC_EEXISTS);
    expect_reply("ma c1 C1 v\r\n", &resp, "EX\r\n");
    resp_status(&resp, RC_ENOTSTORED);
    expect_reply("ma c1 N0\r\n", &resp, "NS\r\n");
    resp_status(&resp, RC_ENONNUMERIC);
    expect_reply("ma c2 q\r\n", &resp,
                 "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    resp_status(&resp, RC_EINVAL);
    expect_reply("ma c2\r\n", &resp, "CLIENT_ERROR bad command line format\r\n");
}

/* ------------------------------------------------------------ mn, me */

static void
test_mn_me(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_ok(&r, "mn\r\n", REQ_MN);
    parsed_done(&r);
    expect_ok(&r, "mn foo bar\r\n", REQ_MN);
    parsed_done(&r);
    expect_ok(&r, "me foo x b\r\n", REQ_ME);
    assert_memory_equal(r.req.keys[0].key, "foo", 3);
    parsed_done(&r);
    expect_ok(&r, "me Zm9v b\r\n", REQ_ME);
    assert_int_equal(r.req.keys[0].nkey, 3);
    assert_memory_equal(r.req.keys[0].key, "foo", 3);
    parsed_done(&r);
    expect_err("me\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_err("me foo b\r\n", "CLIENT_ERROR bad command line format", 0);
    resp_status(&resp, RC_OK);
    expect_reply("mn\r\n", &resp, "MN\r\n");
    resp_hit(&resp, "hi", 30, 1);
    expect_reply("me foo\r\n", &resp, "ME foo exp=-1 la=0 cas=1 fetch=no cls=1 size=68\r\n");
    resp_hit(&resp, "", 0, 4);
    resp.ttl = 29;
    resp.hit_before = true;
    expect_reply("me viv3\r\n", &resp, "ME viv3 exp=-29 la=0 cas=4 fetch=yes cls=1 size=63\r\n");
    expect_reply("me Zm9v b\r\n", &resp, "ME Zm9v exp=-29 la=0 cas=4 fetch=yes cls=1 size=62\r\n");
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("me missing\r\n", &resp, "EN\r\n");
}

/* ------------------------------------------------------------ flags, keys */

static void
test_flag_errors(void **state)
{
    char key[260];

    (void)state;
    expect_err("mg\r\n", "ERROR", 0);
    expect_err("mg \r\n", "ERROR", 0);
    expect_err("mg foo Z\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg foo v v\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_err("mg foo E5\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg foo x\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg foo q Z\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg foo \x80\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_err("mg foo T\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_err("mg foo Fabc\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_err("mg foo Tx v v\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_err("mg foo Tx Z\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg foo Jx\r\n", "CLIENT_ERROR invalid numeric initial value", 0);
    expect_err("mg foo Dx\r\n", "CLIENT_ERROR invalid numeric delta value", 0);
    expect_err("mg foo Oabcdefghijabcdefghijabcdefghijab v\r\n",
               "CLIENT_ERROR opaque token too long", 0);
    expect_err("mg foo a b c d e f g h i j k l m n o p q r s\r\n",
               "CLIENT_ERROR options flags are too long", 0);
    expect_err("mg foo v s t f c k h l u O1 P L N30 R30 T30 q w\r\n", "CLIENT_ERROR invalid flag",
               0);
    memset(key, 'a', sizeof(key));
    memcpy(key, "mg ", 3);
    memcpy(key + 3 + 251, " v\r\n", 5);
    expect_err(key, "CLIENT_ERROR bad command line format", 0);
}

static void
test_limits(void **state)
{
    struct parsed r;
    char key[260];

    (void)state;
    /* The longest O token and 17 flags pass; a 250-byte key passes. */
    expect_ok(&r, "mg foo Oabcdefghijabcdefghijabcdefghija v\r\n", REQ_GET);
    assert_int_equal(r.req.wire.ntoken, 31);
    parsed_done(&r);
    expect_ok(&r, "mg foo v s t f c k h l u O1 P L N30 R30 T30 q\r\n", REQ_GET);
    parsed_done(&r);
    memset(key, 'a', sizeof(key));
    memcpy(key, "mg ", 3);
    memcpy(key + 3 + 250, " v\r\n", 5);
    expect_ok(&r, key, REQ_GET);
    assert_int_equal(r.req.keys[0].nkey, 250);
    parsed_done(&r);
    expect_ok(&r, "mg foo T\t5\r\n", REQ_GET);
    assert_int_equal(r.req.opts.ttl, 5);
    parsed_done(&r);
    expect_ok(&r, "mg foo N+5 T-0 R4294967297\r\n", REQ_GET);
    assert_int_equal(r.req.opts.vivify_ttl, 5);
    assert_int_equal(r.req.opts.ttl, 0);
    assert_int_equal(r.req.opts.recache_ttl, 1);
    parsed_done(&r);
}

static void
test_base64(void **state)
{
    static const struct {
        const char *in, *echo; /* echo NULL: refused */
    } cases[] = {
        {"YQ", NULL},      {"YQ=", NULL},
        {"YQ==", "YQ=="},  {"Y", NULL},
        {"YWJj", "YWJj"},  {"YWJjZA", NULL},
        {"YW-j", NULL},    {"YWJj====", NULL},
        {"====", NULL},    {"YQ==YQ==", "YQ=="},
        {"YWJ=", "YWI="},  {"YWJjZ===", NULL},
        {"YQ=a", "YQA="},  {"YWJjZGVm", "YWJjZGVm"},
        {"YW-Jj", "YWJj"}, {"YW\x01Jj", "YWJj"},
        {"=YWJ", "AYU="},  {"Y=WJ", "YAU="},
        {"YQ==Y", NULL},   {"foo", NULL},
    };
    struct response resp;
    char in[64], want[64];
    size_t i;

    (void)state;
    resp_status(&resp, RC_ENOTFOUND);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(in, sizeof(in), "mg %s b k\r\n", cases[i].in);
        if (cases[i].echo == NULL) {
            expect_err(in, "CLIENT_ERROR error decoding key", 0);
            continue;
        }
        snprintf(want, sizeof(want), "EN k%s b\r\n", cases[i].echo);
        expect_reply(in, &resp, want);
    }
}

/* ------------------------------------------------------------ framing */

static void
test_partial_and_pipeline(void **state)
{
    static const char in[] = "mg a v\r\nms b 3 T0\r\nabc\r\nmd c q\r\nma d\r\nmn\r\nme e\r\n";
    static const enum req_cmd cmds[] = {REQ_GET, REQ_SET, REQ_DELETE, REQ_INCR, REQ_MN, REQ_ME};
    struct parsed r;
    size_t off = 0, i, n;

    (void)state;
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        parse_n(&r, in + off, sizeof(in) - 1 - off);
        assert_int_equal(r.rc, TEXT_OK);
        assert_int_equal(r.req.cmd, cmds[i]);
        off += r.consumed;
        parsed_done(&r);
    }
    assert_int_equal(off, sizeof(in) - 1);
    /* Every strict prefix is AGAIN (no line end yet, or an ms block short). */
    for (n = 0; n < 16; n++) {
        parse_n(&r, in + 8, n);
        assert_int_equal(r.rc, TEXT_AGAIN);
        parsed_done(&r);
    }
}

/* Seeded mutations of valid meta traffic: whatever the bytes, the parser
 * stays inside its input, and on OK its request is self-consistent and
 * encodes without failing. */
/* ------------------------------------------------------------ a, y, Y */

#define CTX       "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAM.AXt0gv90dXyzw-HuZ9XUbUk"
#define CTX2      "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAQ.AZt3BRfuw5tZPkgzyc58Z6k"
#define WANT_BOTH (REQO_WANT_CONTEXT | REQO_WANT_NLIVE)

static const struct resp_sibling two_siblings[2] = {{0, 1767225600250LL, "apple,banana", 12},
                                                    {5, 1767225600231LL, "apple,pears", 11}};

static void
resp_versions(struct response *resp, size_t n)
{
    response_reset(resp);
    resp->siblings = two_siblings;
    resp->nsiblings = n;
    resp->context = CTX;
    resp->ncontext = strlen(CTX);
    resp->cas = 9;
    resp->ttl = -1;
}

static void
resp_written(struct response *resp, int status, uint32_t nlive, const char *ctx)
{
    response_reset(resp);
    resp->status = status;
    resp->nlive = nlive;
    resp->context = ctx;
    resp->ncontext = ctx ? strlen(ctx) : 0;
    resp->cas = 5;
}

static void
assert_context(const struct parsed *r, const char *ctx)
{
    assert_int_equal(r->req.ncontext, strlen(ctx));
    if (r->req.ncontext > 0) {
        assert_memory_equal(r->req.context, ctx, strlen(ctx));
    }
}

static void
test_ext_mg_parse(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "mg c a v f y\r\n", REQ_VGET);
    assert_int_equal(r.req.nkeys, 1);
    assert_memory_equal(r.req.keys[0].key, "c", 1);
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_ITEM_INFO);
    parsed_done(&r);
    /* every other mg flag keeps its meaning */
    expect_ok(&r, "mg c T30 N10 R5 u q a\r\n", REQ_VGET);
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_ITEM_INFO | REQO_TTL | REQO_VIVIFY |
                                         REQO_RECACHE | REQO_NO_BUMP);
    assert_int_equal(r.req.opts.ttl, 30);
    assert_int_equal(r.req.opts.vivify_ttl, 10);
    parsed_done(&r);
    /* y without a: a plain get that also returns the context */
    expect_ok(&r, "mg c y v\r\n", REQ_GET);
    assert_int_equal(r.req.opts.set, REQO_WANT_CONTEXT | REQO_ITEM_INFO);
    parsed_done(&r);
    expect_ok(&r, "mg Yw== b a\r\n", REQ_VGET); /* base64 key */
    assert_int_equal(r.req.keys[0].nkey, 1);
    assert_memory_equal(r.req.keys[0].key, "c", 1);
    parsed_done(&r);
    /* all ten return flags at once */
    expect_ok(&r, "mg c c f h k l O1 s t y a v\r\n", REQ_VGET);
    parsed_done(&r);

    expect_err("mg c Y-\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg c a Y" CTX "\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_err("mg c a a\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_err("mg c y v y\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_err("mg c a Z\r\n", "CLIENT_ERROR invalid flag", 0);
}

static void
test_ext_mg_encode(void **state)
{
    struct response resp;

    (void)state;
    /* section 6's resolution step; a is a header flag too (3.1: "a<n>,
     * redundant with <n>"), which section 6's abbreviated line leaves out */
    resp_versions(&resp, 2);
    expect_reply("mg c a v f y\r\n", &resp,
                 "VS 2 a2 y" CTX "\r\nVA 12 f0\r\napple,banana\r\nVA 11 f5\r\napple,pears\r\n");
    /* header flags in request order, f and s on each block */
    resp.hit_before = true;
    resp.last_access = 3;
    expect_reply("mg c s a k c t y O9 f h l\r\n", &resp,
                 "VS 2 a2 kc c9 t-1 y" CTX " O9 h1 l3\r\nHD s12 f0\r\nHD s11 f5\r\n");
    expect_reply("mg c c f h k l O1 s t y a v\r\n", &resp,
                 "VS 2 c9 h1 kc l3 O1 t-1 y" CTX " a2\r\nVA 12 f0 s12\r\napple,banana\r\n"
                 "VA 11 f5 s11\r\napple,pears\r\n");
    expect_reply("mg c a\r\n", &resp, "VS 2 a2\r\nHD\r\nHD\r\n");
    expect_reply("mg Yw== b k a q\r\n", &resp, "VS 2 kYw== b a2\r\nHD\r\nHD\r\n");
    resp.won_already = true;
    resp.stale = true;
    resp.win = true;
    expect_reply("mg c c a\r\n", &resp, "VS 2 c9 a2 Z X W\r\nHD\r\nHD\r\n");
    /* only tombstones */
    resp_versions(&resp, 0);
    expect_reply("mg c a v f s y c\r\n", &resp, "VS 0 a0 y" CTX " c9\r\n");
    /* a miss: EN with k and O, hidden by q */
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("mg c a v y k O7 c\r\n", &resp, "EN kc O7\r\n");
    expect_reply("mg c a q k\r\n", &resp, "");
    resp_status(&resp, RC_EIO);
    expect_reply("mg c a q\r\n", &resp, "SERVER_ERROR storage i/o error\r\n");
    resp_status(&resp, RC_ENOMEM);
    expect_reply("mg c a\r\n", &resp, "SERVER_ERROR out of memory\r\n");

    /* y without a: y<context> on the usual line, in request order */
    resp_hit(&resp, "hi", 30, 1);
    resp.context = CTX;
    resp.ncontext = strlen(CTX);
    expect_reply("mg c v y f\r\n", &resp, "VA 2 y" CTX " f30\r\nhi\r\n");
    expect_reply("mg c c y\r\n", &resp, "HD c1 y" CTX "\r\n");
    resp.ncontext = 0; /* no token given: the empty one */
    expect_reply("mg c y\r\n", &resp, "HD y-\r\n");
    resp_status(&resp, RC_ENOTFOUND);
    expect_reply("mg c y k\r\n", &resp, "EN kc\r\n");
    /* the extension's errors, on any mg */
    resp_status(&resp, RC_ESIBLINGS);
    expect_reply("mg c v\r\n", &resp, "SERVER_ERROR too many siblings\r\n");
    resp_status(&resp, RC_EBADCONTEXT);
    expect_reply("mg c a\r\n", &resp, "CLIENT_ERROR bad context\r\n");
}

static void
test_ext_ms(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_ok(&r, "ms c 18 Y" CTX " a y\r\napple,pears,banana\r\n", REQ_VSET);
    assert_context(&r, CTX);
    assert_int_equal(r.req.nvalue, 18);
    assert_memory_equal(r.req.value, "apple,pears,banana", 18);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    expect_ok(&r, "ms Yw== 2 Y- F7 T30 MS b k c O1 a y q\r\nhi\r\n", REQ_VSET);
    assert_int_equal(r.req.ncontext, 0);
    assert_int_equal(r.req.flags, 7);
    assert_int_equal(r.req.exptime, 30);
    assert_int_equal(r.req.keys[0].nkey, 1);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    expect_ok(&r, "ms c 2 Y- v N30 R30 u\r\nhi\r\n", REQ_VSET); /* ignored, as for ms */
    parsed_done(&r);
    expect_ok(&r, "ms c 2 Yhello\r\nhi\r\n", REQ_VSET); /* the coordinator judges it */
    assert_context(&r, "hello");
    parsed_done(&r);
    expect_ok(&r, "ms c 2 Yhe!lo\r\nhi\r\n", REQ_VSET); /* and counts its refusal */
    assert_context(&r, "he!lo");
    parsed_done(&r);
    /* a and y without Y: a plain set that reports them */
    expect_ok(&r, "ms c 2 a y\r\nhi\r\n", REQ_SET);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    expect_ok(&r, "ms c 2 a MA\r\nhi\r\n", REQ_APPEND);
    assert_int_equal(r.req.opts.set, REQO_WANT_NLIVE);
    parsed_done(&r);
    expect_ok(&r, "ms c 2 y C4 I\r\nhi\r\n", REQ_SET);
    assert_int_equal(r.req.opts.set, REQO_WANT_CONTEXT | REQO_COMPARE_CAS | REQO_INVALIDATE);
    parsed_done(&r);

    /* errors: the data block is swallowed */
    expect_err("ms c 2 Y\r\n", "CLIENT_ERROR bad context", 4);
    expect_err("ms c 2 Y q\r\n", "CLIENT_ERROR bad context", 4);
    /* a token that cannot be one wins over the size and the data chunk */
    expect_err("ms c 2000000 Y+/= q\r\n", "CLIENT_ERROR bad context", 2000002);
    parse_n(&r, "ms c 2 Yhe!lo\r\nhiX\r\n", 20);
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_string_equal(r.err.reply, "CLIENT_ERROR bad context");
    assert_int_equal(r.consumed, 19);
    parsed_done(&r);
    expect_err("ms c 2 Y- ME\r\n", "CLIENT_ERROR context needs set mode", 4);
    expect_err("ms c 2 Y- MA\r\n", "CLIENT_ERROR context needs set mode", 4);
    expect_err("ms c 2 MP Y-\r\n", "CLIENT_ERROR context needs set mode", 4);
    expect_err("ms c 2 Y- MR\r\n", "CLIENT_ERROR context needs set mode", 4);
    expect_err("ms c 2 Yhe!lo ME\r\n", "CLIENT_ERROR context needs set mode", 4);
    expect_err("ms c 2 Y- C5\r\n", "CLIENT_ERROR context excludes C and I", 4);
    expect_err("ms c 2 I Y-\r\n", "CLIENT_ERROR context excludes C and I", 4);
    expect_err("ms c 2 Yhe!lo C5\r\n", "CLIENT_ERROR context excludes C and I", 4);
    /* the flag rules of P.19.2 come first */
    expect_err("ms c 2 Y- Mx\r\n", "CLIENT_ERROR invalid mode for ms M token", 4);
    expect_err("ms c 2 Y- Y-\r\n", "CLIENT_ERROR duplicate flag", 4);
    expect_err("ms c 2 Y- Z\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_err("ms c 2 Y- Cx\r\n", "CLIENT_ERROR bad token in command line format", 4);
    /* too large: swallowed, and nothing stored is dropped */
    parse_n(&r, "ms big 2000000 Y-\r\n", 19);
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_string_equal(r.err.reply, "SERVER_ERROR object too large for cache");
    assert_int_equal(r.err.swallow, 2000002);
    assert_null(r.err.stale_key);
    assert_true(r.err.too_large);
    parsed_done(&r);
    parse_n(&r, "ms big 2000000 a\r\n", 18); /* a plain set still drops it */
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_int_equal(r.err.nstale_key, 3);
    assert_true(r.err.too_large);
    parsed_done(&r);
    parse_n(&r, "ms c 2 Y-\r\nhiX\r\n", 16);
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_string_equal(r.err.reply, "CLIENT_ERROR bad data chunk");
    parsed_done(&r);

    /* replies */
    resp_written(&resp, RC_OK, 1, CTX2);
    expect_reply("ms c 18 Y" CTX " a y\r\napple,pears,banana\r\n", &resp, "HD a1 y" CTX2 "\r\n");
    expect_reply("ms Yw== 2 Y- b k c O1 y a\r\nhi\r\n", &resp, "HD kYw== b c5 O1 y" CTX2 " a1\r\n");
    expect_reply("ms c 2 Y- a q\r\nhi\r\n", &resp, "");
    expect_reply("ms c 2 y c a\r\nhi\r\n", &resp, "HD y" CTX2 " c5 a1\r\n");
    resp_written(&resp, RC_ENOTSTORED, 0, NULL); /* a and y only on success */
    expect_reply("ms c 2 ME a y c k\r\nhi\r\n", &resp, "NS c5 kc\r\n");
    resp_written(&resp, RC_EEXISTS, 0, NULL);
    expect_reply("ms c 2 C1 a y\r\nhi\r\n", &resp, "EX\r\n");
    resp_written(&resp, RC_EBADCONTEXT, 0, NULL);
    expect_reply("ms c 2 Yhello q a\r\nhi\r\n", &resp, "CLIENT_ERROR bad context\r\n");
    resp_written(&resp, RC_ESIBLINGS, 0, NULL);
    expect_reply("ms c 2 Y- q\r\nhi\r\n", &resp, "SERVER_ERROR too many siblings\r\n");
    resp_written(&resp, RC_ETOOLARGE, 0, NULL);
    expect_reply("ms c 2 Y-\r\nhi\r\n", &resp, "SERVER_ERROR object too large for cache\r\n");
    resp_written(&resp, RC_ENOMEM, 0, NULL);
    expect_reply("ms c 2 Y-\r\nhi\r\n", &resp, "SERVER_ERROR out of memory storing object\r\n");
    resp_written(&resp, RC_EIO, 0, NULL);
    expect_reply("ms c 2 Y-\r\nhi\r\n", &resp, "SERVER_ERROR storage i/o error\r\n");
}

static void
test_ext_md(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_ok(&r, "md c Y" CTX " a y k\r\n", REQ_VDEL);
    assert_context(&r, CTX);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    assert_null(r.req.value);
    parsed_done(&r);
    expect_ok(&r, "md c Y- T30 q\r\n", REQ_VDEL); /* T means nothing without I */
    assert_int_equal(r.req.ncontext, 0);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    expect_ok(&r, "md ZDE= b Y-\r\n", REQ_VDEL);
    assert_int_equal(r.req.keys[0].nkey, 2);
    parsed_done(&r);
    expect_ok(&r, "md c a y\r\n", REQ_DELETE);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    expect_ok(&r, "md c y C3\r\n", REQ_DELETE);
    assert_int_equal(r.req.opts.set, REQO_WANT_CONTEXT | REQO_COMPARE_CAS);
    parsed_done(&r);

    expect_err("md c Y\r\n", "CLIENT_ERROR bad context", 0);
    expect_ok(&r, "md c Yb@d\r\n", REQ_VDEL); /* the coordinator refuses it */
    assert_context(&r, "b@d");
    parsed_done(&r);
    expect_err("md c Y- C5\r\n", "CLIENT_ERROR context excludes C and I", 0);
    expect_err("md c I Y-\r\n", "CLIENT_ERROR context excludes C and I", 0);
    expect_err("md c Y- Y-\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md c Y- Z\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md c a a\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);

    resp_written(&resp, RC_OK, 0, CTX2);
    expect_reply("md c Y" CTX " a y k O3\r\n", &resp, "HD a0 y" CTX2 " kc O3\r\n");
    expect_reply("md c Y- O3 y\r\n", &resp, "HD O3 y" CTX2 "\r\n");
    expect_reply("md c Y- q a\r\n", &resp, "");
    expect_reply("md c a y\r\n", &resp, "HD a0 y" CTX2 "\r\n");
    resp_written(&resp, RC_ENOTFOUND, 0, NULL);
    expect_reply("md c Y- a y k O3\r\n", &resp, "NF kc O3\r\n");
    expect_reply("md c Y- q\r\n", &resp, "NF\r\n");
    resp_written(&resp, RC_EBADCONTEXT, 0, NULL);
    expect_reply("md c Yhello q\r\n", &resp, "CLIENT_ERROR bad context\r\n");
    resp_written(&resp, RC_ESIBLINGS, 0, NULL);
    expect_reply("md c Y-\r\n", &resp, "SERVER_ERROR too many siblings\r\n");
    expect_reply("md c\r\n", &resp, "SERVER_ERROR too many siblings\r\n");
    resp_written(&resp, RC_EIO, 0, NULL);
    expect_reply("md c Y-\r\n", &resp, "SERVER_ERROR storage i/o error\r\n");
}

/* ma refuses a, y and Y like any unknown letter; me and mn ignore them. */
/* Per-request quorums (doc/protocol-extension.txt section 8): r<n> on mg
 * with a, w<n> on ms and md with Y; n 1..16; never echoed. */
static void
test_ext_quorum(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_ok(&r, "mg c a r1 v\r\n", REQ_VGET);
    assert_true(r.req.opts.set & REQO_QUORUM);
    assert_int_equal(r.req.opts.r, 1);
    assert_int_equal(r.req.opts.w, 0);
    parsed_done(&r);
    expect_ok(&r, "mg c r16 a\r\n", REQ_VGET); /* any order */
    assert_int_equal(r.req.opts.r, 16);
    parsed_done(&r);
    expect_ok(&r, "mg c a\r\n", REQ_VGET);
    assert_false(r.req.opts.set & REQO_QUORUM);
    parsed_done(&r);
    expect_err("mg c r1\r\n", "CLIENT_ERROR r needs a", 0);
    expect_err("mg c a r0\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_err("mg c a r17\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_err("mg c a r\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_err("mg c a r+1\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_err("mg c a r001\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_err("mg c a r1 r2\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_err("mg c a w2\r\n", "CLIENT_ERROR invalid flag", 0);

    expect_ok(&r, "ms c 2 Y- w3 a\r\nhi\r\n", REQ_VSET);
    assert_true(r.req.opts.set & REQO_QUORUM);
    assert_int_equal(r.req.opts.w, 3);
    assert_int_equal(r.req.opts.r, 0);
    parsed_done(&r);
    expect_err("ms c 2 w3\r\n", "CLIENT_ERROR w needs Y", 4);
    expect_err("ms c 2 Y- w0\r\n", "CLIENT_ERROR bad token in command line format", 4);
    expect_err("ms c 2 Y- r1\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_err("ms c 2 Y- w2 ME\r\n", "CLIENT_ERROR context needs set mode", 4);

    expect_ok(&r, "md c Y- w1 q\r\n", REQ_VDEL);
    assert_true(r.req.opts.set & REQO_QUORUM);
    assert_int_equal(r.req.opts.w, 1);
    parsed_done(&r);
    expect_err("md c w1\r\n", "CLIENT_ERROR w needs Y", 0);
    expect_err("md c Y- w99\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("md c Y- r1\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c w1\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_ok(&r, "me c r1 w1\r\n", REQ_ME);
    parsed_done(&r);

    /* not echoed in replies */
    resp_status(&resp, RC_OK);
    resp.nlive = 1;
    resp.context = CTX;
    resp.ncontext = strlen(CTX);
    expect_reply("md c Y- w2 a\r\n", &resp, "HD a1\r\n");
}

static void
test_ext_ma_me(void **state)
{
    struct parsed r;
    struct response resp;

    (void)state;
    expect_err("ma c a\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c y\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c Y-\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_err("ma c v Y" CTX "\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_ok(&r, "me c a\r\n", REQ_ME);
    parsed_done(&r);
    expect_ok(&r, "me c Y- y\r\n", REQ_ME);
    parsed_done(&r);
    expect_ok(&r, "mn a y Y-\r\n", REQ_MN);
    parsed_done(&r);
    resp_status(&resp, RC_ESIBLINGS);
    expect_reply("ma c\r\n", &resp, "SERVER_ERROR too many siblings\r\n");
    resp_status(&resp, RC_EBADCONTEXT);
    expect_reply("ma c\r\n", &resp, "CLIENT_ERROR bad context\r\n");
}

static void
test_mutations(void **state)
{
    static const char *const seeds[] = {
        "mg foo v f c s t k O123 h l N30 R30 T30 q u b\r\n",
        "ms czE= 2 c k O5 b MA C9 I T9 F3 q\r\nhi\r\n",
        "md ZDE= k O1 b C5 I T30 q\r\n",
        "ma Yz1= b k v MD D5 N0 J10 T30 C4 t c q O1\r\n",
        "me Zm9v b\r\n",
        "mn\r\n",
        "mg c a v f y c k O1 s t h l\r\n",
        "ms Yw== 2 Y- F7 T30 MS b k c O1 a y q\r\nhi\r\n",
        "md c Yab.c a y k O1 q\r\n",
    };
    unsigned seed = 20240607u;
    struct response resp;
    struct buf out;
    char in[128];
    int iter;

    (void)state;
    buf_init(&out);
    for (iter = 0; iter < 20000; iter++) {
        const char *s = seeds[iter % (int)(sizeof(seeds) / sizeof(seeds[0]))];
        size_t n = strlen(s), k;
        struct parsed r;

        memcpy(in, s, n);
        for (k = 0; k < 1 + (size_t)iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            in[(seed >> 8) % n] = (char)(seed >> 20);
        }
        seed = seed * 1103515245u + 12345u;
        n -= (seed >> 16) % 3;
        parse_n(&r, in, n);
        assert_true(r.rc == TEXT_OK || r.rc == TEXT_AGAIN || r.rc == TEXT_ERROR);
        if (r.rc == TEXT_OK && r.req.proto == REQ_PROTO_META) {
            assert_true(r.consumed <= n);
            if (r.req.nkeys == 1) {
                assert_true(r.req.keys[0].nkey >= 1 && r.req.keys[0].nkey <= REQ_KEY_MAX);
            }
            resp_hit(&resp, "12", 1, 2);
            resp.siblings = two_siblings; /* read by mg with a only */
            resp.nsiblings = 2;
            resp.status = (int)((seed >> 4) % 3) == 0 ? RC_OK : RC_ENOTFOUND;
            buf_reset(&out);
            assert_int_equal(text_encode_response(&out, &r.req, 0, &resp), RC_OK);
        } else if (r.rc == TEXT_ERROR) {
            assert_true(r.consumed <= n);
        }
        parsed_done(&r);
    }
    buf_deinit(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mg_parse),     cmocka_unit_test(test_mg_encode),
        cmocka_unit_test(test_mg_ttl_order), cmocka_unit_test(test_ms_parse),
        cmocka_unit_test(test_ms_errors),    cmocka_unit_test(test_ms_data),
        cmocka_unit_test(test_ms_encode),    cmocka_unit_test(test_md),
        cmocka_unit_test(test_ma),           cmocka_unit_test(test_mn_me),
        cmocka_unit_test(test_flag_errors),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_base64),       cmocka_unit_test(test_partial_and_pipeline),
        cmocka_unit_test(test_ext_mg_parse), cmocka_unit_test(test_ext_mg_encode),
        cmocka_unit_test(test_ext_ms),       cmocka_unit_test(test_ext_md),
        cmocka_unit_test(test_ext_ma_me),    cmocka_unit_test(test_ext_quorum),
        cmocka_unit_test(test_mutations),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
