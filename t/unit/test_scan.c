/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_scan.c - the prefetch key scan (proto/scan.h): the keys of text,
 * meta and binary requests waiting in a buffer; data blocks skipped; the
 * scan stops at an incomplete request, at something it does not know, and
 * at its limit; hostile bytes never make it read outside the buffer.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/bin.h"
#include "proto/scan.h"

#define MAXK 32

static size_t
text(const char *s, struct scan_key *k, size_t max)
{
    return scan_keys_text(s, strlen(s), k, max);
}

static void
assert_key(const struct scan_key *k, const char *want)
{
    assert_int_equal(k->nkey, strlen(want));
    assert_memory_equal(k->key, want, k->nkey);
}

static void
test_text_commands(void **state)
{
    struct scan_key k[MAXK];
    const char *in = "get a bb ccc\r\n"
                     "gets d\r\n"
                     "set e 0 0 5\r\nhello\r\n"
                     "mg f v t\r\n"
                     "ms g 3 T0\r\nabc\r\n"
                     "cas h 1 2 4 99 noreply\r\nwxyz\r\n"
                     "delete i\r\n"
                     "incr j 1\r\n"
                     "md k q\r\n"
                     "ma l\n"
                     "touch m 10\r\n"
                     "append n 0 0 0\r\n\r\n"
                     "mn\r\n"
                     "mg never\r\n";
    const char *want[] = {"a", "bb", "ccc", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"};
    size_t n;

    (void)state;
    n = text(in, k, MAXK);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        assert_key(&k[i], want[i]);
    }
}

static void
test_text_stops(void **state)
{
    struct scan_key k[MAXK];

    (void)state;
    /* Incomplete line: nothing. */
    assert_int_equal(text("get a", k, MAXK), 0);
    /* A data block not all here: the key counts, the scan stops. */
    assert_int_equal(text("set a 0 0 10\r\nabc", k, MAXK), 1);
    assert_key(&k[0], "a");
    assert_int_equal(text("set a 0 0 3\r\nabc\r\nget b\r\n", k, MAXK), 2);
    assert_key(&k[1], "b");
    /* Unknown command, bad length, huge length: stop there. */
    assert_int_equal(text("get a\r\nstats\r\nget b\r\n", k, MAXK), 1);
    assert_int_equal(text("set a 0 0 x\r\nget b\r\n", k, MAXK), 0);
    assert_int_equal(text("set a 0 0 99999999999\r\nget b\r\n", k, MAXK), 0);
    assert_int_equal(text("set a 0 0 -1\r\nget b\r\n", k, MAXK), 0);
    assert_int_equal(text("set a\r\n", k, MAXK), 0);
    /* A command without its key gives nothing but does not stop. */
    assert_int_equal(text("mg\r\nget b\r\n", k, MAXK), 1);
    assert_key(&k[0], "b");
    /* The limit. */
    assert_int_equal(text("get a b c d e\r\nget f\r\n", k, 3), 3);
    assert_key(&k[2], "c");
    assert_int_equal(text("", k, MAXK), 0);
    /* Bounded by requests looked at, not only by keys found: keyless
     * lines (and binary frames) count. */
    {
        char many[4 * 40 + 16];
        size_t at = 0;

        for (int i = 0; i < 40; i++) {
            memcpy(many + at, "mg\r\n", 4);
            at += 4;
        }
        memcpy(many + at, "get z\r\n", 8);
        many[at + 8] = '\0';
        assert_int_equal(text(many, k, MAXK), 0);
        assert_int_equal(text(many + 4 * 35, k, MAXK), 1);
    }
}

static size_t
frame(unsigned char *p, uint8_t magic, uint8_t op, const char *key, uint8_t extlen,
      uint32_t body_extra)
{
    size_t nkey = strlen(key);
    uint32_t body = (uint32_t)(extlen + nkey + body_extra);

    memset(p, 0, BIN_HEADER_LEN + body);
    p[0] = magic;
    p[1] = op;
    p[2] = (unsigned char)(nkey >> 8);
    p[3] = (unsigned char)nkey;
    p[4] = extlen;
    p[8] = (unsigned char)(body >> 24);
    p[9] = (unsigned char)(body >> 16);
    p[10] = (unsigned char)(body >> 8);
    p[11] = (unsigned char)body;
    memcpy(p + BIN_HEADER_LEN + extlen, key, nkey);
    return BIN_HEADER_LEN + body;
}

static void
test_binary(void **state)
{
    unsigned char buf[1024];
    struct scan_key k[MAXK];
    size_t len = 0;

    (void)state;
    len += frame(buf + len, BIN_MAGIC_REQ, 0x00, "alpha", 0, 0);  /* get */
    len += frame(buf + len, BIN_MAGIC_REQ, 0x01, "beta", 8, 100); /* set */
    len += frame(buf + len, BIN_MAGIC_REQ, 0x0a, "", 0, 0);       /* noop */
    len += frame(buf + len, BIN_MAGIC_REQ, 0x0c, "gamma", 0, 0);  /* getk */
    assert_int_equal(scan_keys_binary(buf, len, k, MAXK), 3);
    assert_key(&k[0], "alpha");
    assert_key(&k[1], "beta");
    assert_key(&k[2], "gamma");
    /* Keyless frames count against the limit too. */
    {
        unsigned char noops[BIN_HEADER_LEN * 40 + 64];
        size_t at = 0;

        for (int i = 0; i < 40; i++) {
            at += frame(noops + at, BIN_MAGIC_REQ, 0x0a, "", 0, 0);
        }
        at += frame(noops + at, BIN_MAGIC_REQ, 0x00, "k", 0, 0);
        assert_int_equal(scan_keys_binary(noops, at, k, MAXK), 0);
        assert_int_equal(
            scan_keys_binary(noops + BIN_HEADER_LEN * 35, at - BIN_HEADER_LEN * 35, k, MAXK), 1);
    }
    /* Limit; a partial frame; a partial header. */
    assert_int_equal(scan_keys_binary(buf, len, k, 2), 2);
    assert_int_equal(scan_keys_binary(buf, len - 1, k, MAXK), 2);
    assert_int_equal(scan_keys_binary(buf, 23, k, MAXK), 0);
    /* A reply magic, and a body shorter than key + extras, stop the scan. */
    len = frame(buf, 0x81, 0x00, "x", 0, 0);
    assert_int_equal(scan_keys_binary(buf, len, k, MAXK), 0);
    len = frame(buf, BIN_MAGIC_REQ, 0x00, "abc", 4, 0);
    buf[11] = 2; /* body 2 < 3 + 4 */
    assert_int_equal(scan_keys_binary(buf, len, k, MAXK), 0);
    /* A body length near 2^32 is not followed. */
    len = frame(buf, BIN_MAGIC_REQ, 0x00, "abc", 0, 0);
    buf[8] = buf[9] = buf[10] = 0xff;
    assert_int_equal(scan_keys_binary(buf, len, k, MAXK), 0);
}

/* Random bytes: every key returned lies inside the buffer (ASan checks the
 * reads themselves). */
static void
test_random(void **state)
{
    unsigned char buf[512];
    struct scan_key k[MAXK];

    (void)state;
    srand(7);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)rand() % sizeof(buf), n;

        for (size_t i = 0; i < len; i++) {
            /* Bias towards the bytes the scanners look for. */
            static const char alpha[] = "getsmgd 0123456789\r\n\x80";
            buf[i] = rand() % 3 == 0 ? (unsigned char)rand()
                                     : (unsigned char)alpha[rand() % (sizeof(alpha) - 1)];
        }
        n = scan_keys_text((const char *)buf, len, k, MAXK);
        for (size_t i = 0; i < n; i++) {
            assert_true((const unsigned char *)k[i].key >= buf &&
                        (const unsigned char *)k[i].key + k[i].nkey <= buf + len);
        }
        n = scan_keys_binary(buf, len, k, MAXK);
        for (size_t i = 0; i < n; i++) {
            assert_true((const unsigned char *)k[i].key >= buf &&
                        (const unsigned char *)k[i].key + k[i].nkey <= buf + len);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_commands),
        cmocka_unit_test(test_text_stops),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
