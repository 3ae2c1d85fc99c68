/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_text.c - unit tests for the memcached text codec (proto/text.c) and
 * the request helpers (proto/request.c). Expected bytes come from probing
 * memcached 1.6.18; each input is copied into an exact-size heap block so
 * AddressSanitizer catches any read past len. Ends with a seeded fuzz loop.
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
#include "proto/request.h"
#include "proto/text.h"

#define MAX_ITEM (1024u * 1024u)

struct parsed {
    enum text_rc rc;
    struct request req;
    size_t consumed;
    struct text_error err;
    char *copy; /* exact-size copy of the input, freed by parsed_done */
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
parse_s(struct parsed *r, const char *in)
{
    parse_n(r, in, strlen(in));
}

static void
parsed_done(struct parsed *r)
{
    free(r->copy);
    r->copy = NULL;
}

static void
assert_key(const struct parsed *r, size_t i, const char *key)
{
    assert_true(i < r->req.nkeys);
    assert_int_equal(r->req.keys[i].nkey, strlen(key));
    assert_memory_equal(r->req.keys[i].key, key, strlen(key));
}

/* The whole input is one request of command cmd. */
static void
expect_ok(struct parsed *r, const char *in, enum req_cmd cmd)
{
    parse_s(r, in);
    assert_int_equal(r->rc, TEXT_OK);
    assert_int_equal(r->req.cmd, cmd);
    assert_int_equal(r->consumed, strlen(in));
}

/* The input is refused with reply (NULL: nothing sent), line consumed. */
static void
expect_err_n(const char *in, size_t n, const char *reply, size_t consumed, size_t swallow,
             bool close)
{
    struct parsed r;

    parse_n(&r, in, n);
    assert_int_equal(r.rc, TEXT_ERROR);
    if (reply == NULL) {
        assert_null(r.err.reply);
    } else {
        assert_non_null(r.err.reply);
        assert_string_equal(r.err.reply, reply);
    }
    assert_int_equal(r.consumed, consumed);
    assert_int_equal(r.err.swallow, swallow);
    assert_int_equal(r.err.close, close);
    parsed_done(&r);
}

static void
expect_err(const char *in, const char *reply)
{
    expect_err_n(in, strlen(in), reply, strlen(in), 0, false);
}

#define FMT  "CLIENT_ERROR bad command line format"
#define EXPT "CLIENT_ERROR invalid exptime argument"

/* ------------------------------------------------------------ request.c */

static void
test_cmd_table(void **state)
{
    struct request req;
    struct response resp;

    (void)state;
    assert_string_equal(req_cmd_name(REQ_GET), "get");
    assert_string_equal(req_cmd_name(REQ_FLUSH_ALL), "flush_all");
    assert_string_equal(req_cmd_name(REQ_STATS), "stats");
    assert_string_equal(req_cmd_name(REQ_CMD__COUNT), "unknown");
    assert_string_equal(req_cmd_name((enum req_cmd)999), "unknown");
    assert_int_equal(req_cmd_flags(REQ_GATS), REQF_RETRIEVE);
    assert_int_equal(req_cmd_flags(REQ_CAS), REQF_STORE);
    assert_int_equal(req_cmd_flags(REQ_TOUCH), REQF_WRITE);
    assert_int_equal(req_cmd_flags(REQ_VERSION), 0);
    assert_int_equal(req_cmd_flags((enum req_cmd)1000), 0);

    memset(&req, 0x5a, sizeof(req));
    request_reset(&req);
    assert_int_equal(req.cmd, REQ_NONE);
    assert_false(req.noreply);
    assert_null(req.keys);
    assert_int_equal(req.nkeys, 0);
    assert_null(req.value);
    assert_string_equal(req.args, "");
    memset(&resp, 0x5a, sizeof(resp));
    response_reset(&resp);
    assert_int_equal(resp.status, RC_OK);
    assert_null(resp.errmsg);
    assert_null(resp.value);
    assert_int_equal(resp.miss, RESP_MISS_NONE);
}

/* ------------------------------------------------------------ retrieval */

static void
test_get(void **state)
{
    struct parsed r;
    char key[REQ_KEY_MAX + 2];
    char line[300];

    (void)state;
    expect_ok(&r, "get foo\r\n", REQ_GET);
    assert_int_equal(r.req.nkeys, 1);
    assert_key(&r, 0, "foo");
    assert_false(r.req.noreply);
    parsed_done(&r);

    expect_ok(&r, "gets a  b   c \r\n", REQ_GETS);
    assert_int_equal(r.req.nkeys, 3);
    assert_key(&r, 0, "a");
    assert_key(&r, 1, "b");
    assert_key(&r, 2, "c");
    parsed_done(&r);

    expect_ok(&r, "   get x\n", REQ_GET); /* leading spaces, bare \n */
    assert_key(&r, 0, "x");
    parsed_done(&r);

    expect_ok(&r, "bget k noreply\r\n", REQ_GET); /* alias; noreply is a key */
    assert_int_equal(r.req.nkeys, 2);
    assert_key(&r, 1, "noreply");
    parsed_done(&r);

    expect_ok(&r, "get a\tb \x01\r\r\n", REQ_GET); /* only ' ' separates */
    assert_int_equal(r.req.nkeys, 2);
    assert_key(&r, 0, "a\tb");
    assert_key(&r, 1, "\x01\r");
    parsed_done(&r);

    parse_n(&r, "get k\0 junk\r\nversion\r\n", 23); /* a NUL ends the line */
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(r.consumed, 13);
    assert_int_equal(r.req.nkeys, 1);
    assert_key(&r, 0, "k");
    parsed_done(&r);

    memset(key, 'a', sizeof(key));
    key[REQ_KEY_MAX] = '\0';
    snprintf(line, sizeof(line), "get %s\r\n", key);
    expect_ok(&r, line, REQ_GET);
    assert_int_equal(r.req.keys[0].nkey, REQ_KEY_MAX);
    parsed_done(&r);
    key[REQ_KEY_MAX] = 'a';
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "get a %s b\r\n", key);
    expect_err(line, FMT);

    expect_err("get\r\n", "ERROR");
    expect_err("get   \r\n", "ERROR");
    expect_err("gets\n", "ERROR");
    expect_err("getx k\r\n", "ERROR");
    expect_err("GET k\r\n", "ERROR");
}

static void
test_get_many_keys(void **state)
{
    struct buf b;
    struct parsed r;
    char k[16];
    size_t i;

    (void)state;
    buf_init(&b);
    assert_int_equal(buf_append_str(&b, "get"), RC_OK);
    for (i = 0; i < 700; i++) {
        snprintf(k, sizeof(k), " key%zu", i);
        assert_int_equal(buf_append_str(&b, k), RC_OK);
    }
    assert_int_equal(buf_append_str(&b, "\r\n"), RC_OK);
    parse_n(&r, b.data, b.len);
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(r.consumed, b.len);
    assert_int_equal(r.req.nkeys, 700);
    assert_key(&r, 0, "key0");
    assert_key(&r, 699, "key699");
    parsed_done(&r);
    buf_deinit(&b);
}

static void
test_gat(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "gat 100 a b\r\n", REQ_GAT);
    assert_int_equal(r.req.exptime, 100);
    assert_int_equal(r.req.nkeys, 2);
    assert_key(&r, 1, "b");
    parsed_done(&r);

    expect_ok(&r, "gats -1 a\r\n", REQ_GATS);
    assert_int_equal(r.req.exptime, -1);
    parsed_done(&r);

    expect_ok(&r, "gat 10\r\n", REQ_GAT); /* memcached answers plain END */
    assert_int_equal(r.req.nkeys, 0);
    parsed_done(&r);

    expect_ok(&r, "gat 2147483648 k\r\n", REQ_GAT); /* 32-bit wrap, as memcached */
    assert_int_equal(r.req.exptime, INT32_MIN);
    parsed_done(&r);

    expect_err("gat\r\n", "ERROR");
    expect_err("gat x k\r\n", EXPT);
    expect_err("gats 1x k\r\n", EXPT);
    expect_err("gat 9223372036854775808 k\r\n", EXPT);
}

/* ------------------------------------------------------------ storage */

static void
test_store_commands(void **state)
{
    static const struct {
        const char *name;
        enum req_cmd cmd;
    } cmds[] = {{"set", REQ_SET},
                {"add", REQ_ADD},
                {"replace", REQ_REPLACE},
                {"append", REQ_APPEND},
                {"prepend", REQ_PREPEND}};
    struct parsed r;
    char in[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(in, sizeof(in), "%s key 7 60 5\r\nhello\r\n", cmds[i].name);
        expect_ok(&r, in, cmds[i].cmd);
        assert_key(&r, 0, "key");
        assert_int_equal(r.req.nkeys, 1);
        assert_int_equal(r.req.flags, 7);
        assert_int_equal(r.req.exptime, 60);
        assert_int_equal(r.req.nvalue, 5);
        assert_memory_equal(r.req.value, "hello", 5);
        assert_false(r.req.noreply);
        parsed_done(&r);

        snprintf(in, sizeof(in), "%s key 0 0 1 noreply\r\nx\r\n", cmds[i].name);
        expect_ok(&r, in, cmds[i].cmd);
        assert_true(r.req.noreply);
        parsed_done(&r);
    }

    expect_ok(&r, "cas k 1 2 3 12345678901234\r\nabc\r\n", REQ_CAS);
    assert_int_equal(r.req.cas, 12345678901234ULL);
    assert_int_equal(r.req.nvalue, 3);
    parsed_done(&r);
    expect_ok(&r, "cas k 0 0 1 18446744073709551615 noreply\r\nx\r\n", REQ_CAS);
    assert_int_equal(r.req.cas, UINT64_MAX);
    assert_true(r.req.noreply);
    parsed_done(&r);

    /* memcached ignores a sixth token that is not "noreply" */
    expect_ok(&r, "set k 0 0 1 foo\r\nx\r\n", REQ_SET);
    assert_false(r.req.noreply);
    parsed_done(&r);
    /* bare \n line end; extra spaces; trailing tab or \r inside the token */
    expect_ok(&r, "set  k  0   0  3  \nabc\r\n", REQ_SET);
    parsed_done(&r);
    expect_ok(&r, "set k 0 0 1\t\r\nx\r\n", REQ_SET);
    parsed_done(&r);
    expect_ok(&r, "set k 0 0 1\r\r\nx\r\n", REQ_SET);
    parsed_done(&r);
    expect_ok(&r, "set k 0 0 +1\r\nx\r\n", REQ_SET);
    parsed_done(&r);
    expect_ok(&r, "set k 0 0 -0\r\n\r\n", REQ_SET);
    assert_int_equal(r.req.nvalue, 0);
    parsed_done(&r);
}

static void
test_store_values(void **state)
{
    struct parsed r;
    static const char in[] = "set k 0 0 10\r\na\r\nb\0c\r\n\r\n\r\n";

    (void)state;
    parse_n(&r, in, sizeof(in) - 1); /* value holds \r\n and NUL */
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(r.consumed, sizeof(in) - 1);
    assert_int_equal(r.req.nvalue, 10);
    assert_memory_equal(r.req.value, "a\r\nb\0c\r\n\r\n", 10);
    parsed_done(&r);

    expect_ok(&r, "set k 0 0 0\r\n\r\n", REQ_SET);
    assert_int_equal(r.req.nvalue, 0);
    parsed_done(&r);
}

/* memcached's number quirks: 64-bit read, 32-bit store. */
static void
test_store_numbers(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "set k 4294967297 0 1\r\nx\r\n", REQ_SET);
    assert_int_equal(r.req.flags, 1);
    parsed_done(&r);
    expect_ok(&r, "set k 18446744073709551615 0 1\r\nx\r\n", REQ_SET);
    assert_int_equal(r.req.flags, UINT32_MAX);
    parsed_done(&r);
    expect_ok(&r, "set k 0 4294967296 1\r\nx\r\n", REQ_SET);
    assert_int_equal(r.req.exptime, 0);
    parsed_done(&r);
    expect_ok(&r, "set k 0 -2147483648 1\r\nx\r\n", REQ_SET);
    assert_int_equal(r.req.exptime, INT32_MIN);
    parsed_done(&r);
    expect_ok(&r, "set k 0 0 4294967296\r\n\r\n", REQ_SET); /* length wraps to 0 */
    assert_int_equal(r.req.nvalue, 0);
    parsed_done(&r);

    expect_err("set k 18446744073709551616 0 1\r\n", FMT);
    expect_err("set k -1 0 1\r\n", FMT);
    expect_err("set k 0x1 0 1\r\n", FMT);
    expect_err("set k 1.5 0 1\r\n", FMT);
    expect_err("set k 0 9223372036854775808 1\r\n", FMT);
    expect_err("set k 0 x 1\r\n", FMT);
    expect_err("set k 0 0 1x\r\n", FMT);
    expect_err("set k 0 0 -1\r\n", FMT);
    expect_err("set k 0 0 2147483646\r\n", FMT);
    expect_err("set k 0 0 +\r\n", FMT);
    expect_err("cas k 0 0 1 abc\r\n", FMT);
    expect_err("cas k 0 0 1 -1\r\n", FMT);
}

static void
test_store_errors(void **state)
{
    char key[REQ_KEY_MAX + 2];
    char in[400];

    (void)state;
    expect_err("set k 0 0\r\n", "ERROR");
    expect_err("set k 0 0 1 noreply extra\r\n", "ERROR");
    expect_err("cas k 0 0 1\r\n", "ERROR");
    expect_err("cas k 0 0 1 1 noreply x\r\n", "ERROR");
    expect_err("set\r\n", "ERROR");
    expect_err("set k 0 0 1 a b c d e f g h i j\r\n", "ERROR");
    expect_err("prepend k\r\n", "ERROR");

    memset(key, 'k', sizeof(key));
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(in, sizeof(in), "set %s 0 0 1\r\n", key);
    expect_err(in, FMT); /* the data line then reads as a command */

    /* noreply hides every error memcached reports after seeing it */
    expect_err("set k 0 0 -1 noreply\r\n", NULL);
    expect_err("set k x 0 1 noreply\r\n", NULL);
    snprintf(in, sizeof(in), "set %s 0 0 1 noreply\r\n", key);
    expect_err(in, NULL);
    expect_err("set k 0 0 noreply\r\n", NULL);

    /* data not ending in \r\n: the whole <bytes>+2 block is consumed */
    expect_err("set k 0 0 3\r\nabcde", "CLIENT_ERROR bad data chunk");
    expect_err_n("set k 0 0 3\r\nabc\nXversion\r\n", 27, "CLIENT_ERROR bad data chunk", 18, 0,
                 false);
    expect_err("set k 0 0 3 noreply\r\nabcde", NULL);
    expect_err("set k 0 0 1\r\nx\n\n", "CLIENT_ERROR bad data chunk");
}

static void
test_store_too_large(void **state)
{
    struct parsed r;

    (void)state;
    /* refused after the line; <bytes>+2 more are swallowed whatever they are */
    expect_err_n("set k 0 0 2000000\r\n", 19, "SERVER_ERROR object too large for cache", 19,
                 2000002, false);
    expect_err_n("set k 0 0 2000000 noreply\r\n", 27, NULL, 27, 2000002, false);
    expect_err_n("set k 0 0 2147483645\r\n", 22, "SERVER_ERROR object too large for cache", 22,
                 2147483647, false);
    /* memcached's boundary at -I 1m: 56-byte header, key, value, "\r\n",
     * 4 more bytes for non-zero flags */
    parse_s(&r, "set k 0 0 1048516\r\n");
    assert_int_equal(r.rc, TEXT_AGAIN);
    assert_int_equal(r.consumed, 19 + 1048516 + 2);
    parsed_done(&r);
    expect_err_n("set k 0 0 1048517\r\n", 19, "SERVER_ERROR object too large for cache", 19,
                 1048519, false);
    parse_s(&r, "set k 1 0 1048512\r\n");
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    expect_err_n("set k 1 0 1048513\r\n", 19, "SERVER_ERROR object too large for cache", 19,
                 1048515, false);
}

/* A value that arrives in pieces: AGAIN with the total until complete. */
static void
test_store_split(void **state)
{
    static const char in[] = "set k 0 0 10\r\n0123456789\r\nget k\r\n";
    size_t full = sizeof(in) - 1 - 7, i;
    struct parsed r;

    (void)state;
    for (i = 0; i < full; i++) {
        parse_n(&r, in, i);
        assert_int_equal(r.rc, TEXT_AGAIN);
        assert_int_equal(r.consumed, i < 14 ? 0 : full);
        parsed_done(&r);
    }
    parse_n(&r, in, sizeof(in) - 1);
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(r.consumed, full);
    assert_memory_equal(r.req.value, "0123456789", 10);
    parsed_done(&r);
}

static void
test_store_1mb(void **state)
{
    size_t vlen = 1000000, head, n;
    char *in;
    struct parsed r;

    (void)state;
    in = malloc(vlen + 64);
    assert_non_null(in);
    head = (size_t)sprintf(in, "set big 0 0 %zu\r\n", vlen);
    memset(in + head, 'v', vlen);
    memcpy(in + head + vlen, "\r\n", 2);
    n = head + vlen + 2;
    parse_n(&r, in, n - 1);
    assert_int_equal(r.rc, TEXT_AGAIN);
    assert_int_equal(r.consumed, n);
    parsed_done(&r);
    parse_n(&r, in, n);
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(r.consumed, n);
    assert_int_equal(r.req.nvalue, vlen);
    assert_ptr_equal(r.req.value, r.copy + head); /* no copy */
    parsed_done(&r);
    free(in);
}

/* ------------------------------------------------------------ keyed */

static void
test_delete(void **state)
{
    struct parsed r;
    char key[REQ_KEY_MAX + 2], in[300];
    static const char usage[] =
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";

    (void)state;
    expect_ok(&r, "delete k\r\n", REQ_DELETE);
    assert_key(&r, 0, "k");
    assert_int_equal(r.req.nkeys, 1);
    assert_false(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "delete k 0\r\n", REQ_DELETE); /* legacy hold time */
    parsed_done(&r);
    expect_ok(&r, "delete k noreply\r\n", REQ_DELETE);
    assert_true(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "delete k 0 noreply\r\n", REQ_DELETE);
    assert_true(r.req.noreply);
    parsed_done(&r);

    expect_err("delete k 5\r\n", usage);
    expect_err("delete k 0 0\r\n", usage);
    expect_err("delete k 5 noreply\r\n", NULL);
    expect_err("delete k x y z\r\n", "ERROR");
    expect_err("delete\r\n", "ERROR");
    memset(key, 'k', sizeof(key));
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(in, sizeof(in), "delete %s\r\n", key);
    expect_err(in, FMT);
    snprintf(in, sizeof(in), "delete %s noreply\r\n", key);
    expect_err(in, NULL);
}

static void
test_incr_decr(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "incr k 5\r\n", REQ_INCR);
    assert_key(&r, 0, "k");
    assert_int_equal(r.req.delta, 5);
    parsed_done(&r);
    expect_ok(&r, "decr k 18446744073709551615 noreply\r\n", REQ_DECR);
    assert_int_equal(r.req.delta, UINT64_MAX);
    assert_true(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "incr k 1 foo\r\n", REQ_INCR); /* memcached ignores it */
    assert_false(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "incr k -0\r\n", REQ_INCR);
    assert_int_equal(r.req.delta, 0);
    parsed_done(&r);
    expect_ok(&r, "incr k \t7\r\n", REQ_INCR); /* strtoull skips white space */
    assert_int_equal(r.req.delta, 7);
    parsed_done(&r);

    expect_err("incr k x\r\n", "CLIENT_ERROR invalid numeric delta argument");
    expect_err("incr k -1\r\n", "CLIENT_ERROR invalid numeric delta argument");
    expect_err("decr k 18446744073709551616\r\n", "CLIENT_ERROR invalid numeric delta argument");
    expect_err("incr k x noreply\r\n", NULL);
    expect_err("incr k\r\n", "ERROR");
    expect_err("incr k 1 2 3\r\n", "ERROR");
    expect_err("decr\r\n", "ERROR");
}

static void
test_touch(void **state)
{
    struct parsed r;
    char key[REQ_KEY_MAX + 2], in[300];

    (void)state;
    expect_ok(&r, "touch k 10\r\n", REQ_TOUCH);
    assert_key(&r, 0, "k");
    assert_int_equal(r.req.exptime, 10);
    parsed_done(&r);
    expect_ok(&r, "touch k -5 noreply\r\n", REQ_TOUCH);
    assert_int_equal(r.req.exptime, -5);
    assert_true(r.req.noreply);
    parsed_done(&r);

    expect_err("touch k x\r\n", EXPT);
    expect_err("touch k x noreply\r\n", NULL);
    expect_err("touch k\r\n", "ERROR");
    expect_err("touch k 1 2 3\r\n", "ERROR");
    memset(key, 'k', sizeof(key));
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(in, sizeof(in), "touch %s 1\r\n", key);
    expect_err(in, FMT);
}

/* ------------------------------------------------------------ admin */

static void
test_flush_all(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "flush_all\r\n", REQ_FLUSH_ALL);
    assert_int_equal(r.req.exptime, 0);
    assert_false(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "flush_all 10\r\n", REQ_FLUSH_ALL);
    assert_int_equal(r.req.exptime, 10);
    parsed_done(&r);
    expect_ok(&r, "flush_all noreply\r\n", REQ_FLUSH_ALL);
    assert_true(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "flush_all 10 noreply\r\n", REQ_FLUSH_ALL);
    assert_int_equal(r.req.exptime, 10);
    assert_true(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "flush_all -1\r\n", REQ_FLUSH_ALL);
    assert_int_equal(r.req.exptime, -1);
    parsed_done(&r);
    expect_ok(&r, "flush_all 1 2\r\n", REQ_FLUSH_ALL); /* second ignored */
    assert_int_equal(r.req.exptime, 1);
    parsed_done(&r);

    expect_err("flush_all x\r\n", EXPT);
    expect_err("flush_all x noreply\r\n", NULL);
    expect_err("flush_all noreply x\r\n", EXPT);
    expect_err("flush_all 1 2 3\r\n", "ERROR");
}

static void
test_verbosity(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "verbosity 1\r\n", REQ_VERBOSITY);
    assert_int_equal(r.req.delta, 1);
    parsed_done(&r);
    expect_ok(&r, "verbosity 2 noreply\r\n", REQ_VERBOSITY);
    assert_true(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "verbosity 1 2\r\n", REQ_VERBOSITY);
    parsed_done(&r);

    expect_err("verbosity\r\n", "ERROR");
    expect_err("verbosity 1 2 3\r\n", "ERROR");
    expect_err("verbosity x\r\n", FMT);
    expect_err("verbosity -1\r\n", FMT);
    expect_err("verbosity x noreply\r\n", NULL);
    expect_err("verbosity noreply\r\n", NULL);
}

static void
test_misc_commands(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "version\r\n", REQ_VERSION);
    parsed_done(&r);
    expect_ok(&r, "version x y\r\n", REQ_VERSION);
    parsed_done(&r);
    expect_ok(&r, "quit\r\n", REQ_QUIT);
    parsed_done(&r);
    expect_ok(&r, "quit now\n", REQ_QUIT);
    parsed_done(&r);

    expect_ok(&r, "stats\r\n", REQ_STATS);
    assert_int_equal(r.req.nargs, 0);
    parsed_done(&r);
    expect_ok(&r, "stats   detail  on  \r\n", REQ_STATS);
    assert_int_equal(r.req.nargs, 10);
    assert_memory_equal(r.req.args, "detail  on", 10);
    parsed_done(&r);
    expect_ok(&r, "shutdown\r\n", REQ_SHUTDOWN);
    assert_int_equal(r.req.nargs, 0);
    parsed_done(&r);
    expect_ok(&r, "shutdown graceful\r\n", REQ_SHUTDOWN);
    assert_int_equal(r.req.nargs, 8);
    assert_memory_equal(r.req.args, "graceful", 8);
    parsed_done(&r);
}

static void
test_unknown(void **state)
{
    static const char *const lines[] = {
        "\r\n",          "\n",          " \r\n",     "x\r\n",      "g\r\n",
        "se\r\n",        "mx\r\n",      "mgx k\r\n", "MG k v\r\n", "GET k\r\n",
        "\tversion\r\n", "slabs x\r\n", "watch\r\n", "\r\r\n",     "set\0 k\r\n",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        size_t n = strlen(lines[i]);

        if (i == sizeof(lines) / sizeof(lines[0]) - 1) {
            n = 8; /* includes the NUL */
        }
        expect_err_n(lines[i], n, "ERROR", n, 0, false);
    }
}

/* Meta commands go to the meta codec (t/unit/test_meta.c tests it). */
static void
test_meta_routed(void **state)
{
    static const char *const lines[] = {"mn\r\n", "mg k v\r\n", "md k\r\n", "ma k\r\n", "me k\r\n"};
    struct parsed r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse_n(&r, lines[i], strlen(lines[i]));
        assert_int_equal(r.rc, TEXT_OK);
        assert_int_equal(r.req.proto, REQ_PROTO_META);
        assert_int_equal(r.consumed, strlen(lines[i]));
        parsed_done(&r);
    }
    parse_n(&r, "ms k 1\r\n", 8);
    assert_int_equal(r.rc, TEXT_AGAIN);
    assert_int_equal(r.consumed, 11);
    parsed_done(&r);
}

/* ------------------------------------------------------------ framing */

static void
test_long_lines(void **state)
{
    char *in;
    size_t big = (2u << 20) + 16;
    struct parsed r;

    (void)state;
    in = malloc(big);
    assert_non_null(in);
    memset(in, 'x', big);

    parse_n(&r, in, 2048); /* up to 2048 bytes: still waiting */
    assert_int_equal(r.rc, TEXT_AGAIN);
    assert_int_equal(r.consumed, 0);
    parsed_done(&r);
    expect_err_n(in, 2049, NULL, 2049, 0, true); /* then closed, no reply */

    memcpy(in, "get ", 4);
    parse_n(&r, in, 100000); /* a multi-get may keep growing */
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    expect_err_n(in, big, NULL, big, 0, true); /* up to our bound */

    memset(in, ' ', 101);
    memcpy(in + 101, "gets ", 5);
    expect_err_n(in, 3000, NULL, 3000, 0, true); /* memcached: > 100 spaces */
    memcpy(in + 100, "gets ", 5);
    parse_n(&r, in + 1, 3000);
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);

    memcpy(in, "set ", 4); /* a long line that did end is parsed normally */
    in[2999] = '\n';
    expect_err_n(in, 3000, "ERROR", 3000, 0, false);
    free(in);

    parse_n(&r, "", 0);
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    parse_n(&r, "get k\r", 6);
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
}

/* Several requests in one buffer, consumed one at a time. */
static void
test_pipeline(void **state)
{
    static const char in[] = "set a 0 0 1\r\n1\r\nget a b\r\nbogus\r\n"
                             "incr a 2 noreply\ndelete a\r\nset b 0 0 3\r\nxyz\r\nversion\r\n";
    static const enum req_cmd want[] = {REQ_SET,    REQ_GET, REQ_NONE,   REQ_INCR,
                                        REQ_DELETE, REQ_SET, REQ_VERSION};
    struct parsed r;
    size_t off = 0, i = 0;

    (void)state;
    parse_n(&r, in, sizeof(in) - 1);
    while (off < sizeof(in) - 1) {
        r.rc = text_parse(&parser, r.copy + off, sizeof(in) - 1 - off, &r.req, &r.consumed, &r.err);
        assert_true(i < sizeof(want) / sizeof(want[0]));
        if (want[i] == REQ_NONE) {
            assert_int_equal(r.rc, TEXT_ERROR);
            assert_string_equal(r.err.reply, "ERROR");
        } else {
            assert_int_equal(r.rc, TEXT_OK);
            assert_int_equal(r.req.cmd, want[i]);
        }
        assert_true(r.consumed > 0);
        off += r.consumed;
        i++;
    }
    assert_int_equal(i, sizeof(want) / sizeof(want[0]));
    parsed_done(&r);
}

/* ------------------------------------------------------------ encoders */

static void
encode_expect_n(const struct request *req, size_t ki, const struct response *resp, const char *want,
                size_t nwant)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(text_encode_response(&b, req, ki, resp), RC_OK);
    assert_int_equal(b.len, nwant);
    if (b.len > 0) {
        assert_memory_equal(b.data, want, b.len);
    }
    buf_deinit(&b);
}

static void
encode_expect(const struct request *req, size_t ki, const struct response *resp, const char *want)
{
    encode_expect_n(req, ki, resp, want, strlen(want));
}

#define ENCODE_EXPECT_BIN(req, ki, resp, lit) encode_expect_n(req, ki, resp, lit, sizeof(lit) - 1)

static void
encode_status(enum req_cmd cmd, int status, const char *errmsg, const char *want)
{
    struct request req;
    struct response resp;
    struct req_key k = {"k", 1};

    request_reset(&req);
    req.cmd = cmd;
    req.keys = &k;
    req.nkeys = 1;
    response_reset(&resp);
    resp.status = status;
    resp.errmsg = errmsg;
    encode_expect(&req, 0, &resp, want);
    req.noreply = true; /* memcached 1.6 hides all of them */
    if (!(req_cmd_flags(cmd) & REQF_RETRIEVE)) {
        encode_expect(&req, 0, &resp, "");
    }
}

static void
test_encode_status(void **state)
{
    (void)state;
    encode_status(REQ_SET, RC_OK, NULL, "STORED\r\n");
    encode_status(REQ_CAS, RC_OK, NULL, "STORED\r\n");
    encode_status(REQ_ADD, RC_ENOTSTORED, NULL, "NOT_STORED\r\n");
    encode_status(REQ_CAS, RC_EEXISTS, NULL, "EXISTS\r\n");
    encode_status(REQ_CAS, RC_ENOTFOUND, NULL, "NOT_FOUND\r\n");
    encode_status(REQ_DELETE, RC_OK, NULL, "DELETED\r\n");
    encode_status(REQ_DELETE, RC_ENOTFOUND, NULL, "NOT_FOUND\r\n");
    encode_status(REQ_TOUCH, RC_OK, NULL, "TOUCHED\r\n");
    encode_status(REQ_TOUCH, RC_ENOTFOUND, NULL, "NOT_FOUND\r\n");
    encode_status(REQ_INCR, RC_ENOTFOUND, NULL, "NOT_FOUND\r\n");
    encode_status(REQ_FLUSH_ALL, RC_OK, NULL, "OK\r\n");
    encode_status(REQ_VERBOSITY, RC_OK, NULL, "OK\r\n");
    encode_status(REQ_QUIT, RC_OK, NULL, "");
    encode_status(REQ_STATS, RC_OK, NULL, "");
    encode_status(REQ_INCR, RC_ENONNUMERIC, NULL,
                  "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    encode_status(REQ_SET, RC_ETOOLARGE, NULL, "SERVER_ERROR object too large for cache\r\n");
    encode_status(REQ_SET, RC_ENOMEM, NULL, "SERVER_ERROR out of memory storing object\r\n");
    encode_status(REQ_DECR, RC_ENOMEM, NULL, "SERVER_ERROR out of memory\r\n");
    encode_status(REQ_GET, RC_ENOMEM, NULL, "SERVER_ERROR out of memory writing get response\r\n");
    encode_status(REQ_SET, RC_EINVAL, "value too big for siblings",
                  "CLIENT_ERROR value too big for siblings\r\n");
    encode_status(REQ_SET, RC_EINVAL, NULL, "CLIENT_ERROR bad command line format\r\n");
    encode_status(REQ_SHUTDOWN, RC_EINVAL, "invalid shutdown mode",
                  "CLIENT_ERROR invalid shutdown mode\r\n");
    encode_status(REQ_FLUSH_ALL, RC_EDISABLED, NULL, "CLIENT_ERROR flush_all not allowed\r\n");
    encode_status(REQ_SHUTDOWN, RC_EDISABLED, NULL, "ERROR: shutdown not enabled\r\n");
    encode_status(REQ_SET, RC_EDISABLED, NULL, "SERVER_ERROR disabled\r\n");
    encode_status(REQ_SET, RC_EIO, NULL, "SERVER_ERROR storage i/o error\r\n");
    encode_status(REQ_DELETE, RC_ENOSPC, NULL, "SERVER_ERROR out of disk space\r\n");
    encode_status(REQ_GET, RC_EINTERNAL, "boom", "SERVER_ERROR boom\r\n");
    encode_status(REQ_GET, RC_ENOTFOUND, NULL, ""); /* a miss is silent */
}

static void
test_encode_values(void **state)
{
    struct request req;
    struct response resp;
    struct req_key keys[2] = {{"a", 1}, {"key2", 4}};
    struct buf b;

    (void)state;
    request_reset(&req);
    req.cmd = REQ_GET;
    req.keys = keys;
    req.nkeys = 2;
    response_reset(&resp);
    resp.flags = 4294967295u;
    resp.cas = 55;
    resp.value = "x\r\n\0y";
    resp.nvalue = 5;
    ENCODE_EXPECT_BIN(&req, 1, &resp, "VALUE key2 4294967295 5\r\nx\r\n\0y\r\n");
    req.cmd = REQ_GETS;
    resp.flags = 0;
    ENCODE_EXPECT_BIN(&req, 0, &resp, "VALUE a 0 5 55\r\nx\r\n\0y\r\n");
    req.cmd = REQ_GATS;
    resp.cas = UINT64_MAX;
    resp.value = NULL;
    resp.nvalue = 0;
    encode_expect(&req, 0, &resp, "VALUE a 0 0 18446744073709551615\r\n\r\n");
    req.cmd = REQ_GAT;
    encode_expect(&req, 0, &resp, "VALUE a 0 0\r\n\r\n");

    req.cmd = REQ_INCR;
    response_reset(&resp);
    resp.number = 18446744073709551615ULL;
    encode_expect(&req, 0, &resp, "18446744073709551615\r\n");
    resp.number = 0;
    encode_expect(&req, 0, &resp, "0\r\n");

    req.cmd = REQ_VERSION;
    resp.value = "1.6.18xyz";
    resp.nvalue = 6;
    encode_expect(&req, 0, &resp, "VERSION 1.6.18\r\n");
    resp.value = NULL;
    encode_expect(&req, 0, &resp, "VERSION " PACKAGE_VERSION "\r\n");

    buf_init(&b);
    assert_int_equal(text_encode_stat(&b, "pid", "42"), RC_OK);
    assert_int_equal(text_encode_line(&b, "RESET"), RC_OK);
    assert_int_equal(text_encode_end(&b), RC_OK);
    assert_int_equal(b.len, strlen("STAT pid 42\r\nRESET\r\nEND\r\n"));
    assert_memory_equal(b.data, "STAT pid 42\r\nRESET\r\nEND\r\n", b.len);
    buf_deinit(&b);
}

/* ------------------------------------------------------------ extension */

/* doc/protocol-extension.txt section 6's tokens */
#define CTX1      "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAE.AczikOpdl3f-_9Kh0P0XPrE"
#define CTX3      "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAM.AXt0gv90dXyzw-HuZ9XUbUk"
#define CTX5      "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAU.AUiXZ4PIeDVRyWzt65jqT0M"
#define BADCTX    "CLIENT_ERROR bad context"
#define WANT_BOTH (REQO_WANT_CONTEXT | REQO_WANT_NLIVE)

static void
assert_context(const struct parsed *r, const char *ctx)
{
    assert_int_equal(r->req.ncontext, strlen(ctx));
    if (r->req.ncontext > 0) {
        assert_memory_equal(r->req.context, ctx, strlen(ctx));
    }
}

static void
test_context_plausible(void **state)
{
    char tok[REQ_CONTEXT_MAX + 1];

    (void)state;
    assert_string_equal(req_cmd_name(REQ_VGET), "vget");
    assert_int_equal(req_cmd_flags(REQ_VGET), REQF_RETRIEVE);
    assert_int_equal(req_cmd_flags(REQ_VSET), REQF_STORE);
    assert_int_equal(req_cmd_flags(REQ_VDEL), REQF_WRITE);
    assert_true(req_context_plausible(CTX1, strlen(CTX1)));
    assert_true(req_context_plausible("-", 1));
    assert_true(req_context_plausible("AZaz09-_.", 9));
    assert_false(req_context_plausible("", 0));
    assert_false(req_context_plausible("a b", 3));
    assert_false(req_context_plausible("a+b", 3));
    assert_false(req_context_plausible("a/b", 3));
    assert_false(req_context_plausible("a=", 2));
    assert_false(req_context_plausible("a\0b", 3));
    assert_false(req_context_plausible("\xc3\xa9", 2));
    memset(tok, 'A', sizeof(tok));
    assert_true(req_context_plausible(tok, REQ_CONTEXT_MAX));
    assert_false(req_context_plausible(tok, REQ_CONTEXT_MAX + 1));
}

static void
test_vget_parse(void **state)
{
    struct parsed r;
    char key[REQ_KEY_MAX + 2];
    char line[300];
    char *in;
    size_t big = (2u << 20) + 16, i;

    (void)state;
    expect_ok(&r, "vget c\r\n", REQ_VGET);
    assert_int_equal(r.req.proto, REQ_PROTO_TEXT);
    assert_int_equal(r.req.nkeys, 1);
    assert_key(&r, 0, "c");
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    assert_false(r.req.noreply);
    parsed_done(&r);

    expect_ok(&r, "vget a  b a noreply\n", REQ_VGET); /* a key twice; noreply is a key */
    assert_int_equal(r.req.nkeys, 4);
    assert_key(&r, 0, "a");
    assert_key(&r, 1, "b");
    assert_key(&r, 2, "a");
    assert_key(&r, 3, "noreply");
    parsed_done(&r);

    memset(key, 'a', sizeof(key));
    key[REQ_KEY_MAX] = '\0';
    snprintf(line, sizeof(line), "vget %s\r\n", key);
    expect_ok(&r, line, REQ_VGET);
    parsed_done(&r);
    key[REQ_KEY_MAX] = 'a';
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "vget a %s\r\n", key);
    expect_err(line, FMT);

    expect_err("vget\r\n", "ERROR");
    expect_err("vget   \r\n", "ERROR");
    expect_err("VGET k\r\n", "ERROR");
    expect_err("vgets k\r\n", "ERROR");

    /* as long as a get line: past 2048 bytes only "vget " keeps waiting */
    in = malloc(big);
    assert_non_null(in);
    memset(in, 'x', big);
    memcpy(in, "vget ", 5);
    parse_n(&r, in, 100000);
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    expect_err_n(in, big, NULL, big, 0, true);
    memcpy(in, "vgetx", 5);
    expect_err_n(in, 3000, NULL, 3000, 0, true);
    memset(in, ' ', 100);
    memcpy(in + 100, "vget ", 5);
    parse_n(&r, in, 3000);
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    /* and parses like one once it ends: 1000 keys of 9 bytes */
    memcpy(in, "vget", 4);
    for (i = 0; i < 1000; i++) {
        memcpy(in + 4 + i * 10, " key-00000", 10);
        in[4 + i * 10 + 9] = (char)('0' + i % 10);
    }
    memcpy(in + 4 + 10000, "\r\n", 2);
    parse_n(&r, in, 10006);
    assert_int_equal(r.rc, TEXT_OK);
    assert_int_equal(r.req.nkeys, 1000);
    assert_key(&r, 999, "key-00009");
    parsed_done(&r);
    free(in);
}

static void
test_vset_parse(void **state)
{
    struct parsed r;
    char line[700], ctx[REQ_CONTEXT_MAX + 2];

    (void)state;
    expect_ok(&r, "vset c 0 0 5 -\r\napple\r\n", REQ_VSET);
    assert_int_equal(r.req.proto, REQ_PROTO_TEXT);
    assert_key(&r, 0, "c");
    assert_int_equal(r.req.ncontext, 0); /* "-": the empty context */
    assert_int_equal(r.req.nvalue, 5);
    assert_memory_equal(r.req.value, "apple", 5);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    assert_false(r.req.noreply);
    parsed_done(&r);

    expect_ok(&r, "vset c 7 -1 11 " CTX1 "\r\napple,pears\r\n", REQ_VSET);
    assert_context(&r, CTX1);
    assert_ptr_equal(r.req.context, r.copy + 15); /* untouched, in the input */
    assert_int_equal(r.req.flags, 7);
    assert_int_equal(r.req.exptime, -1);
    assert_int_equal(r.req.nvalue, 11);
    parsed_done(&r);

    expect_ok(&r, "vset c 0 0 0 " CTX1 " noreply\r\n\r\n", REQ_VSET);
    assert_true(r.req.noreply);
    assert_context(&r, CTX1);
    assert_int_equal(r.req.nvalue, 0);
    parsed_done(&r);
    /* a 7th token other than noreply is ignored, as set's 6th */
    expect_ok(&r, "vset c 0 0 1 - whatever\r\nx\r\n", REQ_VSET);
    assert_false(r.req.noreply);
    parsed_done(&r);
    /* with 6 tokens the 6th is the context, even "noreply": not a flag */
    expect_ok(&r, "vset c 0 0 1 noreply\r\nx\r\n", REQ_VSET);
    assert_false(r.req.noreply);
    assert_context(&r, "noreply");
    parsed_done(&r);
    /* a syntactically possible token goes to the coordinator as is */
    expect_ok(&r, "vset c 0 0 1 hello\r\nx\r\n", REQ_VSET);
    assert_context(&r, "hello");
    parsed_done(&r);
    expect_ok(&r, "vset c 0 0 1 --\r\nx\r\n", REQ_VSET);
    assert_context(&r, "--");
    parsed_done(&r);
    memset(ctx, 'A', sizeof(ctx));
    ctx[REQ_CONTEXT_MAX] = '\0';
    snprintf(line, sizeof(line), "vset c 0 0 1 %s\r\nx\r\n", ctx);
    expect_ok(&r, line, REQ_VSET);
    assert_int_equal(r.req.ncontext, REQ_CONTEXT_MAX);
    parsed_done(&r);

    /* the data block in pieces */
    parse_s(&r, "vset c 0 0 5 -\r\napp");
    assert_int_equal(r.rc, TEXT_AGAIN);
    assert_int_equal(r.consumed, 16 + 7);
    parsed_done(&r);
    parse_s(&r, "vset c 0 0 5 -");
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
}

/* Per-request W on vset/vdel: "[W=<n>] [noreply]" after the fixed tokens
 * (doc/protocol-extension.txt section 8); vget has none in text. */
static void
test_v_quorum(void **state)
{
    struct parsed r;

    (void)state;
    expect_ok(&r, "vset c 0 0 1 - W=3\r\nx\r\n", REQ_VSET);
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_QUORUM);
    assert_int_equal(r.req.opts.w, 3);
    assert_int_equal(r.req.opts.r, 0);
    assert_false(r.req.noreply);
    assert_int_equal(r.req.ncontext, 0);
    parsed_done(&r);
    expect_ok(&r, "vset c 0 0 1 " CTX1 " W=16 noreply\r\nx\r\n", REQ_VSET);
    assert_int_equal(r.req.opts.w, 16);
    assert_true(r.req.noreply);
    assert_context(&r, CTX1);
    parsed_done(&r);
    expect_ok(&r, "vset c 0 0 1 - noreply\r\nx\r\n", REQ_VSET);
    assert_int_equal(r.req.opts.set, WANT_BOTH); /* no quorum: the node's */
    parsed_done(&r);
    /* "R=" is not a vset option: an ignored 7th token, as before */
    expect_ok(&r, "vset c 0 0 1 - R=2\r\nx\r\n", REQ_VSET);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    parsed_done(&r);
    /* a bad W= is a bad command line (data block NOT skipped) */
    expect_err("vset c 0 0 1 - W=0\r\n", FMT);
    expect_err("vset c 0 0 1 - W=17\r\n", FMT);
    expect_err("vset c 0 0 1 - W=\r\n", FMT);
    expect_err("vset c 0 0 1 - W=+2\r\n", FMT);
    expect_err("vset c 0 0 1 - W=002\r\n", FMT);
    expect_err("vset c 0 0 1 - W=19 noreply\r\n", NULL);
    expect_err("vset c 0 0 1 - W=x noreply\r\n", NULL);
    /* order: W= before noreply; anything else in that slot is ERROR */
    expect_err("vset c 0 0 1 - noreply W=2\r\n", "ERROR");
    expect_err("vset c 0 0 1 - x noreply\r\n", "ERROR");
    expect_err("vset c 0 0 1 - W=2 W=2 noreply\r\n", "ERROR");

    expect_ok(&r, "vdel c - W=1\r\n", REQ_VDEL);
    assert_int_equal(r.req.opts.set, WANT_BOTH | REQO_QUORUM);
    assert_int_equal(r.req.opts.w, 1);
    assert_false(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "vdel c " CTX1 " W=2 noreply\r\n", REQ_VDEL);
    assert_int_equal(r.req.opts.w, 2);
    assert_true(r.req.noreply);
    assert_context(&r, CTX1);
    parsed_done(&r);
    expect_err("vdel c - W=0\r\n", FMT);
    expect_err("vdel c - W=99 noreply\r\n", NULL);
    expect_err("vdel c - noreply W=2\r\n", "ERROR");
    expect_err("vdel c - a noreply\r\n", "ERROR");

    /* vget: every token is a key, "R=2" and "W=2" included */
    expect_ok(&r, "vget R=2 W=2\r\n", REQ_VGET);
    assert_int_equal(r.req.nkeys, 2);
    assert_key(&r, 0, "R=2");
    assert_int_equal(r.req.opts.set & REQO_QUORUM, 0);
    parsed_done(&r);
}

static void
test_vset_errors(void **state)
{
    struct parsed r;
    char line[700], ctx[REQ_CONTEXT_MAX + 2];
    char key[REQ_KEY_MAX + 2];

    (void)state;
    /* token counts: ERROR, the data block NOT skipped */
    expect_err("vset c 0 0 5\r\n", "ERROR");
    expect_err("vset c 0 0 5 - noreply x\r\n", "ERROR");
    expect_err("vset c 0 0 5 - a b c d\r\n", "ERROR");
    expect_err("vset\r\n", "ERROR");
    expect_err("vset c 0 0 noreply\r\n", "ERROR"); /* even with noreply */
    /* bad numbers and long keys: the data block NOT skipped */
    expect_err("vset c x 0 5 -\r\n", FMT);
    expect_err("vset c 0 x 5 -\r\n", FMT);
    expect_err("vset c 0 0 x -\r\n", FMT);
    expect_err("vset c 0 0 -1 -\r\n", FMT);
    expect_err("vset c 0 0 2147483646 -\r\n", FMT);
    expect_err("vset c 0 0 5x -\r\n", FMT);
    expect_err("vset c x 0 5 - noreply\r\n", NULL); /* noreply hides it */
    memset(key, 'k', sizeof(key));
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "vset %s 0 0 1 -\r\n", key);
    expect_err(line, FMT);
    /* a context that cannot be a token still goes to the coordinator, which
     * refuses it (and counts it) ... */
    expect_ok(&r, "vset c 0 0 5 he!lo\r\napple\r\n", REQ_VSET);
    assert_context(&r, "he!lo");
    parsed_done(&r);
    expect_ok(&r, "vset c 0 0 5 +/=\x80 noreply\r\napple\r\n", REQ_VSET);
    assert_context(&r, "+/=\x80");
    parsed_done(&r);
    memset(ctx, 'A', sizeof(ctx));
    ctx[REQ_CONTEXT_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "vset c 0 0 1 %s\r\nx\r\n", ctx);
    expect_ok(&r, line, REQ_VSET);
    assert_int_equal(r.req.ncontext, REQ_CONTEXT_MAX + 1);
    parsed_done(&r);
    /* ... unless the codec refuses the value anyway: then "bad context"
     * comes first (2.2's order), before the size and the data chunk */
    expect_err_n("vset c 0 0 2000000 he!lo\r\n", 26, BADCTX, 26, 2000002, false);
    expect_err_n("vset c 0 0 2000000 he!lo noreply\r\n", 34, NULL, 34, 2000002, false);
    snprintf(line, sizeof(line), "vset c 0 0 2000000 %s\r\n", ctx);
    expect_err_n(line, strlen(line), BADCTX, strlen(line), 2000002, false);
    expect_err_n("vset c 0 0 2 he!lo\r\nhiX\r\n", 25, BADCTX, 24, 0, false);
    parse_s(&r, "vset c 0 0 2000000 he!lo\r\n");
    assert_false(r.err.too_large);
    parsed_done(&r);
    /* too large: swallowed, and nothing stored is dropped */
    parse_s(&r, "vset big 0 0 2000000 -\r\n");
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_string_equal(r.err.reply, "SERVER_ERROR object too large for cache");
    assert_int_equal(r.err.swallow, 2000002);
    assert_int_equal(r.consumed, 24);
    assert_null(r.err.stale_key);
    assert_true(r.err.too_large);
    assert_false(r.err.close);
    parsed_done(&r);
    parse_s(&r, "vset big 0 0 2000000 - noreply\r\n");
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_null(r.err.reply);
    assert_int_equal(r.err.swallow, 2000002);
    assert_null(r.err.stale_key);
    parsed_done(&r);
    /* the limit is set's: 1048516 bytes fit with a 1-byte key */
    parse_s(&r, "vset k 0 0 1048517 -\r\n");
    assert_int_equal(r.rc, TEXT_ERROR);
    parsed_done(&r);
    parse_s(&r, "vset k 0 0 1048516 -\r\n");
    assert_int_equal(r.rc, TEXT_AGAIN);
    parsed_done(&r);
    /* the set counterpart still marks its key stale */
    parse_s(&r, "set big 0 0 2000000\r\n");
    assert_int_equal(r.rc, TEXT_ERROR);
    assert_true(r.err.too_large);
    assert_int_equal(r.err.nstale_key, 3);
    parsed_done(&r);
    /* bad data chunk, as set: the whole block consumed */
    expect_err_n("vset c 0 0 2 -\r\nhiX\r\n", 21, "CLIENT_ERROR bad data chunk", 20, 0, false);
    expect_err_n("vset c 0 0 2 - noreply\r\nhiX\r\n", 29, NULL, 28, 0, false);
}

static void
test_vdel_parse(void **state)
{
    struct parsed r;
    char line[700], ctx[REQ_CONTEXT_MAX + 2];
    char key[REQ_KEY_MAX + 2];

    (void)state;
    expect_ok(&r, "vdel c " CTX5 "\r\n", REQ_VDEL);
    assert_int_equal(r.req.proto, REQ_PROTO_TEXT);
    assert_key(&r, 0, "c");
    assert_context(&r, CTX5);
    assert_int_equal(r.req.opts.set, WANT_BOTH);
    assert_false(r.req.noreply);
    assert_null(r.req.value);
    parsed_done(&r);
    expect_ok(&r, "vdel c - noreply\r\n", REQ_VDEL);
    assert_int_equal(r.req.ncontext, 0);
    assert_true(r.req.noreply);
    parsed_done(&r);
    expect_ok(&r, "vdel c hello\r\n", REQ_VDEL); /* the coordinator refuses it */
    assert_context(&r, "hello");
    parsed_done(&r);
    expect_ok(&r, "vdel c noreply\r\n", REQ_VDEL); /* 3 tokens: a context */
    assert_false(r.req.noreply);
    parsed_done(&r);

    expect_err("vdel\r\n", "ERROR");
    expect_err("vdel c\r\n", "ERROR");
    expect_err("vdel c - noreply x\r\n", "ERROR");
    memset(key, 'k', sizeof(key));
    key[REQ_KEY_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "vdel %s -\r\n", key);
    expect_err(line, FMT);
    snprintf(line, sizeof(line), "vdel %s - noreply\r\n", key);
    expect_err(line, NULL);
    /* any token goes to the coordinator, which judges (and counts) it */
    expect_ok(&r, "vdel c he!lo\r\n", REQ_VDEL);
    assert_context(&r, "he!lo");
    parsed_done(&r);
    memset(ctx, 'A', sizeof(ctx));
    ctx[REQ_CONTEXT_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "vdel c %s\r\n", ctx);
    expect_ok(&r, line, REQ_VDEL);
    assert_int_equal(r.req.ncontext, REQ_CONTEXT_MAX + 1);
    parsed_done(&r);
}

static void
resp_ctx(struct response *resp, int status, uint32_t nlive, const char *ctx)
{
    response_reset(resp);
    resp->status = status;
    resp->nlive = nlive;
    resp->context = ctx;
    resp->ncontext = ctx ? strlen(ctx) : 0;
}

static void
test_encode_extension(void **state)
{
    struct req_key keys[2] = {{"c", 1}, {"cart", 4}};
    struct resp_sibling sib[2] = {{0, 1767225600250LL, "apple,banana", 12},
                                  {4294967295u, 1767225600231LL, "apple\r\n\0s", 9}};
    struct request req;
    struct response resp;

    (void)state;
    request_reset(&req);
    req.cmd = REQ_VGET;
    req.keys = keys;
    req.nkeys = 2;
    resp_ctx(&resp, RC_OK, 0, CTX3);
    resp.siblings = sib;
    resp.nsiblings = 2;
    resp.cas = 77; /* not on the wire in text */
    ENCODE_EXPECT_BIN(&req, 0, &resp,
                      "VERSIONS c 2 " CTX3 "\r\n"
                      "SIBLING 0 12 1767225600250\r\napple,banana\r\n"
                      "SIBLING 4294967295 9 1767225600231\r\napple\r\n\0s\r\n");
    resp.nsiblings = 0; /* every sibling a tombstone */
    encode_expect(&req, 1, &resp, "VERSIONS cart 0 " CTX3 "\r\n");
    resp.nsiblings = 1;
    sib[0].wtime_ms = 0;
    sib[0].nvalue = 0;
    encode_expect(&req, 0, &resp, "VERSIONS c 1 " CTX3 "\r\nSIBLING 0 0 0\r\n\r\n");
    resp_ctx(&resp, RC_ENOTFOUND, 0, NULL);
    encode_expect(&req, 0, &resp, ""); /* a miss: nothing */
    resp_ctx(&resp, RC_ENOMEM, 0, NULL);
    encode_expect(&req, 0, &resp, "SERVER_ERROR out of memory writing get response\r\n");
    resp_ctx(&resp, RC_EIO, 0, NULL);
    encode_expect(&req, 0, &resp, "SERVER_ERROR storage i/o error\r\n");

    req.cmd = REQ_VSET;
    req.nkeys = 1;
    resp_ctx(&resp, RC_OK, 2, CTX3);
    encode_expect(&req, 0, &resp, "STORED 2 " CTX3 "\r\n");
    resp.nlive = 4294967295u;
    encode_expect(&req, 0, &resp, "STORED 4294967295 " CTX3 "\r\n");
    req.cmd = REQ_VDEL;
    resp_ctx(&resp, RC_OK, 0, CTX5);
    encode_expect(&req, 0, &resp, "DELETED 0 " CTX5 "\r\n");
    req.noreply = true;
    encode_expect(&req, 0, &resp, "");
    req.noreply = false;
    resp_ctx(&resp, RC_OK, 1, NULL); /* no token given: the empty one */
    encode_expect(&req, 0, &resp, "DELETED 1 -\r\n");

    /* every error (noreply hides them all) */
    encode_status(REQ_VSET, RC_EBADCONTEXT, NULL, "CLIENT_ERROR bad context\r\n");
    encode_status(REQ_VSET, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
    encode_status(REQ_VSET, RC_ETOOLARGE, NULL, "SERVER_ERROR object too large for cache\r\n");
    encode_status(REQ_VSET, RC_ENOMEM, NULL, "SERVER_ERROR out of memory storing object\r\n");
    encode_status(REQ_VSET, RC_EIO, NULL, "SERVER_ERROR storage i/o error\r\n");
    encode_status(REQ_VSET, RC_ENOSPC, NULL, "SERVER_ERROR out of disk space\r\n");
    encode_status(REQ_VDEL, RC_ENOTFOUND, NULL, "NOT_FOUND\r\n");
    encode_status(REQ_VDEL, RC_EBADCONTEXT, NULL, "CLIENT_ERROR bad context\r\n");
    encode_status(REQ_VDEL, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
    encode_status(REQ_VDEL, RC_EIO, NULL, "SERVER_ERROR storage i/o error\r\n");
    encode_status(REQ_VGET, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
    /* and for every other command */
    encode_status(REQ_SET, RC_EBADCONTEXT, NULL, "CLIENT_ERROR bad context\r\n");
    encode_status(REQ_DELETE, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
    encode_status(REQ_APPEND, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
    encode_status(REQ_INCR, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
    encode_status(REQ_TOUCH, RC_EBADCONTEXT, NULL, "CLIENT_ERROR bad context\r\n");
    encode_status(REQ_GET, RC_ESIBLINGS, NULL, "SERVER_ERROR too many siblings\r\n");
}

/* Section 6's telnet session, parsed and answered with the coordinator's
 * results filled in by hand: byte for byte the document's lines. */
static void
test_worked_session(void **state)
{
    static const char *const ctx[] = {
        CTX1, "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAI.Ae_XtCCSsNd8Zas-DttEGVY",
        CTX3, "3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAQ.AZt3BRfuw5tZPkgzyc58Z6k",
        CTX5,
    };
    struct resp_sibling two[2] = {{0, 1767225600250LL, "apple,banana", 12},
                                  {0, 1767225600231LL, "apple,pears", 11}};
    struct resp_sibling one = {0, 1767225600120LL, "apple", 5};
    struct parsed r;
    struct response resp;
    struct buf b;

    (void)state;
    buf_init(&b);
    expect_ok(&r, "vset c 0 0 5 -\r\napple\r\n", REQ_VSET);
    resp_ctx(&resp, RC_OK, 1, ctx[0]);
    encode_expect(&r.req, 0, &resp, "STORED 1 " CTX1 "\r\n");
    parsed_done(&r);

    expect_ok(&r, "vget c\r\n", REQ_VGET);
    resp_ctx(&resp, RC_OK, 0, ctx[0]);
    resp.siblings = &one;
    resp.nsiblings = 1;
    assert_int_equal(text_encode_response(&b, &r.req, 0, &resp), RC_OK);
    assert_int_equal(text_encode_end(&b), RC_OK);
    assert_int_equal(b.len, strlen("VERSIONS c 1 " CTX1 "\r\nSIBLING 0 5 1767225600120\r\n"
                                   "apple\r\nEND\r\n"));
    assert_memory_equal(
        b.data, "VERSIONS c 1 " CTX1 "\r\nSIBLING 0 5 1767225600120\r\napple\r\nEND\r\n", b.len);
    buf_reset(&b);
    parsed_done(&r);

    expect_ok(&r, "vset c 0 0 12 " CTX1 "\r\napple,banana\r\n", REQ_VSET);
    assert_context(&r, CTX1);
    resp_ctx(&resp, RC_OK, 2, ctx[2]);
    encode_expect(&r.req, 0, &resp, "STORED 2 " CTX3 "\r\n");
    parsed_done(&r);

    expect_ok(&r, "vget c\r\n", REQ_VGET);
    resp_ctx(&resp, RC_OK, 0, ctx[2]);
    resp.siblings = two;
    resp.nsiblings = 2;
    encode_expect(&r.req, 0, &resp,
                  "VERSIONS c 2 " CTX3 "\r\nSIBLING 0 12 1767225600250\r\napple,banana\r\n"
                  "SIBLING 0 11 1767225600231\r\napple,pears\r\n");
    parsed_done(&r);

    expect_ok(&r, "vdel c " CTX5 "\r\n", REQ_VDEL);
    resp_ctx(&resp, RC_EBADCONTEXT, 0, NULL); /* the coordinator's verdict */
    encode_expect(&r.req, 0, &resp, "CLIENT_ERROR bad context\r\n");
    parsed_done(&r);
    expect_ok(&r, "vdel c hello\r\n", REQ_VDEL);
    encode_expect(&r.req, 0, &resp, "CLIENT_ERROR bad context\r\n");
    parsed_done(&r);
    expect_ok(&r, "vdel c " CTX3 "\r\n", REQ_VDEL);
    resp_ctx(&resp, RC_OK, 0, ctx[4]);
    encode_expect(&r.req, 0, &resp, "DELETED 0 " CTX5 "\r\n");
    parsed_done(&r);
    buf_deinit(&b);
}

/* ------------------------------------------------------------ fuzz */

static void
fuzz_check(const char *in, size_t n)
{
    struct parsed r;
    size_t i;

    parse_n(&r, in, n);
    switch (r.rc) {
    case TEXT_OK:
        assert_true(r.consumed > 0 && r.consumed <= n);
        for (i = 0; i < r.req.nkeys; i++) {
            assert_true(r.req.keys[i].nkey >= 1 && r.req.keys[i].nkey <= REQ_KEY_MAX);
            assert_true(r.req.keys[i].key >= r.copy &&
                        r.req.keys[i].key + r.req.keys[i].nkey <= r.copy + r.consumed);
        }
        if (r.req.value != NULL) {
            assert_true(r.req.value >= r.copy && r.req.value + r.req.nvalue <= r.copy + r.consumed);
        }
        break;
    case TEXT_ERROR:
        assert_true(r.consumed > 0 && r.consumed <= n);
        assert_true(r.err.swallow <= (size_t)INT32_MAX + 1);
        break;
    case TEXT_AGAIN:
        assert_true(r.consumed == 0 || r.consumed > n);
        break;
    default:
        fail();
    }
    parsed_done(&r);
}

static void
test_fuzz(void **state)
{
    static const char *const seeds[] = {
        "get a b c\r\n",          "gat 10 k\r\n",
        "set k 1 2 3\r\nabc\r\n", "cas k 0 0 1 9 noreply\r\nx\r\n",
        "delete k 0 noreply\r\n", "incr k 1\r\n",
        "touch k 1\r\n",          "flush_all 1 noreply\r\n",
        "verbosity 1\r\n",        "stats items\r\n",
        "shutdown graceful\r\n",  "version\r\n",
        "vget a b\r\n",           "vset k 1 2 3 -\r\nabc\r\n",
        "vdel k tok noreply\r\n", "vset k 0 0 1 a.b_c-d noreply\r\nx\r\n",
    };
    static const char alphabet[] = " \r\n\t\0019-+0kgetsadn";
    char buf[96];
    unsigned seed = 12345;
    size_t iter, n, j;

    (void)state;
    for (iter = 0; iter < 200000; iter++) {
        const char *s = seeds[iter % (sizeof(seeds) / sizeof(seeds[0]))];

        n = strlen(s);
        memcpy(buf, s, n);
        for (j = 0; j < 1 + iter % 4; j++) {
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 16) % 4) {
            case 0: /* flip a byte to a random value */
                buf[(seed >> 8) % n] = (char)(seed >> 20);
                break;
            case 1: /* or to an interesting one */
                buf[(seed >> 8) % n] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
                break;
            case 2: /* truncate */
                n = 1 + (seed >> 8) % n;
                break;
            default: /* insert */
                if (n < sizeof(buf) - 1) {
                    size_t at = (seed >> 8) % n;

                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
                    n++;
                }
                break;
            }
        }
        fuzz_check(buf, n);
    }
    for (iter = 0; iter < 50000; iter++) { /* pure noise */
        n = 1 + iter % sizeof(buf);
        for (j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = (char)(seed >> 16);
        }
        fuzz_check(buf, n);
    }
}

/* Regression (found by fuzz_text): ring and members are parsed by the codec
 * but answered by the admin code; encoding a response for them must not
 * abort, and a success writes nothing (as for stats). */
static void
test_admin_commands_encode_nothing(void **state)
{
    struct request req;
    struct response resp;
    struct req_key k = {"x", 1};

    (void)state;
    request_reset(&req);
    response_reset(&resp);
    req.cmd = REQ_RING;
    req.keys = &k;
    encode_expect_n(&req, 0, &resp, "", 0);
    req.cmd = REQ_MEMBERS;
    encode_expect_n(&req, 0, &resp, "", 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_table),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_many_keys),
        cmocka_unit_test(test_gat),
        cmocka_unit_test(test_store_commands),
        cmocka_unit_test(test_store_values),
        cmocka_unit_test(test_store_numbers),
        cmocka_unit_test(test_store_errors),
        cmocka_unit_test(test_store_too_large),
        cmocka_unit_test(test_store_split),
        cmocka_unit_test(test_store_1mb),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_incr_decr),
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_flush_all),
        cmocka_unit_test(test_verbosity),
        cmocka_unit_test(test_misc_commands),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_meta_routed),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_encode_status),
        cmocka_unit_test(test_encode_values),
        cmocka_unit_test(test_context_plausible),
        cmocka_unit_test(test_vget_parse),
        cmocka_unit_test(test_vset_parse),
        cmocka_unit_test(test_vset_errors),
        cmocka_unit_test(test_v_quorum),
        cmocka_unit_test(test_vdel_parse),
        cmocka_unit_test(test_encode_extension),
        cmocka_unit_test(test_worked_session),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_admin_commands_encode_nothing),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
