/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_record.c - the stored item format (kv/record.h): exact bytes, round
 * trips at the edges of every field, reading format 1, and rejection of
 * every truncation, trailing byte, unknown version, kind or item flag, and
 * inconsistent length.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/status.h"
#include "kv/record.h"

/* A format-2 record with no item flags and access time 0. */
#define REC(f, e, c, m, v, n)                                                                  \
    {                                                                                          \
        .flags = (f), .exptime = (e), .cas = (c), .mtime_ms = (m), .value = (v), .nvalue = (n) \
    }

static void
check_round_trip(const struct record *in)
{
    struct record out;
    struct buf b;

    buf_init(&b);
    assert_int_equal(record_encode(in, &b), RC_OK);
    assert_int_equal(b.len, RECORD_HEADER_SIZE + in->nvalue);
    memset(&out, 0xa5, sizeof(out));
    assert_int_equal(record_decode(b.data, b.len, &out), RC_OK);
    assert_int_equal(out.flags, in->flags);
    assert_true(out.exptime == in->exptime);
    assert_true(out.cas == in->cas);
    assert_true(out.mtime_ms == in->mtime_ms);
    assert_true(out.atime == in->atime);
    assert_int_equal(out.iflags, in->iflags);
    assert_int_equal(out.nvalue, in->nvalue);
    assert_ptr_equal(out.value, b.data + RECORD_HEADER_SIZE);
    if (in->nvalue > 0) {
        assert_memory_equal(out.value, in->value, in->nvalue);
    }
    buf_deinit(&b);
}

static void
test_exact_bytes(void **state)
{
    static const unsigned char want[] = {
        2,    0,    0x05,                               /* version, kind, item flags */
        0xde, 0xad, 0xbe, 0xef,                         /* flags */
        0,    0,    0,    0,    0x65, 0x4f, 0x1a, 0x80, /* exptime */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* cas */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* mtime -2 */
        0,    0,    0,    0,    0x65, 0x4f, 0x1a, 0x81, /* atime */
        0,    0,    0,    3,                            /* value length */
        'a',  0,    'b',
    };
    struct record r = REC(0xdeadbeefu, 0x654f1a80, 0x0102030405060708ull, -2, "a\0b", 3);
    struct buf b;

    (void)state;
    r.iflags = RECORD_IF_FETCHED | RECORD_IF_WON;
    r.atime = 0x654f1a81;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    buf_deinit(&b);
}

/* Format 1, as the previous release wrote it, still reads: unfetched, last
 * accessed when written. */
static void
test_format1_upgrade(void **state)
{
    static const unsigned char v1[] = {
        1,   0,                                       /* version, kind */
        0,   0,   0,    7,                            /* flags */
        0,   0,   0,    0,    0,    0,    0,    0,    /* exptime */
        0,   0,   0,    0,    0,    0,    0,    9,    /* cas */
        0,   0,   0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* mtime 1700000000000 */
        0,   0,   0,    2,                            /* value length */
        'o', 'k',
    };
    struct record out;

    (void)state;
    assert_int_equal(record_decode(v1, sizeof(v1), &out), RC_OK);
    assert_int_equal(out.iflags, 0);
    assert_int_equal(out.flags, 7);
    assert_true(out.cas == 9);
    assert_true(out.mtime_ms == 1700000000000LL);
    assert_true(out.atime == 1700000000LL);
    assert_int_equal(out.nvalue, 2);
    assert_memory_equal(out.value, "ok", 2);
    assert_int_equal(record_decode(v1, sizeof(v1) - 1, &out), RC_ECORRUPT);
}

static void
test_item_flags(void **state)
{
    struct record r = REC(1, 2, 3, 4, "x", 1), out;
    struct buf b;

    (void)state;
    r.iflags = RECORD_IF__ALL;
    r.atime = -5;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    assert_int_equal(record_decode(b.data, b.len, &out), RC_OK);
    assert_int_equal(out.iflags, RECORD_IF__ALL);
    assert_true(out.atime == -5);
    b.data[2] = (char)0x08; /* an item flag this format does not define */
    assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    buf_deinit(&b);
}

static void
test_round_trip_edges(void **state)
{
    static const char nuls[5] = {0, 0, 'x', 0, 0};
    struct record cases[] = {
        REC(0, 0, 0, 0, NULL, 0),
        REC(UINT32_MAX, INT64_MAX, UINT64_MAX, INT64_MAX, "v", 1),
        REC(1, INT64_MIN, 1, INT64_MIN, nuls, sizeof(nuls)),
        REC(0x80000000u, -1, 0x8000000000000000ull, -1, "hello", 5),
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_round_trip(&cases[i]);
    }
}

static void
test_round_trip_large(void **state)
{
    size_t n = 1u << 20, i;
    char *v = test_malloc(n);
    struct record r = REC(7, 0, 42, 1700000000000, v, n);

    (void)state;
    for (i = 0; i < n; i++) {
        v[i] = (char)(i * 31);
    }
    check_round_trip(&r);
    test_free(v);
}

static void
test_encode_appends(void **state)
{
    struct record r = REC(1, 2, 3, 4, "xy", 2), out;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(buf_append(&b, "prefix", 6), RC_OK);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    assert_int_equal(b.len, 6 + RECORD_HEADER_SIZE + 2);
    assert_memory_equal(b.data, "prefix", 6);
    assert_int_equal(record_decode(b.data + 6, b.len - 6, &out), RC_OK);
    assert_memory_equal(out.value, "xy", 2);
    buf_deinit(&b);
}

static void
test_encode_rejects_null_value(void **state)
{
    struct record r = REC(0, 0, 0, 0, NULL, 3);
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_EINVAL);
    assert_int_equal(b.len, 0);
    buf_deinit(&b);
}

static void
test_every_truncation_rejected(void **state)
{
    struct record r = REC(9, 10, 11, 12, "value!", 6), out;
    struct buf b;
    size_t n;

    (void)state;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    for (n = 0; n < b.len; n++) {
        assert_int_equal(record_decode(b.data, n, &out), RC_ECORRUPT);
    }
    assert_int_equal(record_decode(NULL, 0, &out), RC_ECORRUPT);
    /* A trailing byte is just as wrong. */
    assert_int_equal(buf_append(&b, "z", 1), RC_OK);
    assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    buf_deinit(&b);
}

static void
test_unknown_version_and_kind(void **state)
{
    static const unsigned char bad_versions[] = {0, 3, 0x7f, 0xff};
    static const unsigned char bad_kinds[] = {1, 2, 0x80, 0xff};
    struct record r = REC(1, 2, 3, 4, "abc", 3), out;
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    for (i = 0; i < sizeof(bad_versions); i++) {
        b.data[0] = (char)bad_versions[i];
        assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    }
    b.data[0] = RECORD_FORMAT_V2;
    for (i = 0; i < sizeof(bad_kinds); i++) {
        b.data[1] = (char)bad_kinds[i];
        assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    }
    b.data[1] = RECORD_KIND_VALUE;
    assert_int_equal(record_decode(b.data, b.len, &out), RC_OK);
    buf_deinit(&b);
}

static void
test_length_field_mismatch(void **state)
{
    struct record r = REC(1, 2, 3, 4, "abcd", 4), out;
    struct buf b;
    unsigned char *vlen;

    (void)state;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    vlen = (unsigned char *)b.data + RECORD_HEADER_SIZE - 4;
    vlen[3] = 5; /* claims more than present */
    assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    vlen[3] = 3; /* claims less: trailing garbage */
    assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    vlen[0] = 0xff; /* huge */
    vlen[3] = 4;
    assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    vlen[0] = 0;
    assert_int_equal(record_decode(b.data, b.len, &out), RC_OK);
    buf_deinit(&b);
}

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_format1_upgrade),
        cmocka_unit_test(test_item_flags),
        cmocka_unit_test(test_round_trip_edges),
        cmocka_unit_test(test_round_trip_large),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_encode_rejects_null_value),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_unknown_version_and_kind),
        cmocka_unit_test(test_length_field_mismatch),
    };

    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
