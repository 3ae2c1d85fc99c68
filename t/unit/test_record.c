/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_record.c - the stored item format (kv/record.h): exact bytes, round
 * trips at the edges of every field, and rejection of every truncation,
 * trailing byte, unknown version or kind, and inconsistent length.
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
        1,    0,                                        /* version, kind */
        0xde, 0xad, 0xbe, 0xef,                         /* flags */
        0,    0,    0,    0,    0x65, 0x4f, 0x1a, 0x80, /* exptime */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* cas */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* mtime -2 */
        0,    0,    0,    3,                            /* value length */
        'a',  0,    'b',
    };
    struct record r = {0xdeadbeefu, 0x654f1a80, 0x0102030405060708ull, -2, "a\0b", 3};
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    buf_deinit(&b);
}

static void
test_round_trip_edges(void **state)
{
    static const char nuls[5] = {0, 0, 'x', 0, 0};
    struct record cases[] = {
        {0, 0, 0, 0, NULL, 0},
        {UINT32_MAX, INT64_MAX, UINT64_MAX, INT64_MAX, "v", 1},
        {1, INT64_MIN, 1, INT64_MIN, nuls, sizeof(nuls)},
        {0x80000000u, -1, 0x8000000000000000ull, -1, "hello", 5},
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
    struct record r = {7, 0, 42, 1700000000000, v, n};

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
    struct record r = {1, 2, 3, 4, "xy", 2}, out;
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
    struct record r = {0, 0, 0, 0, NULL, 3};
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
    struct record r = {9, 10, 11, 12, "value!", 6}, out;
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
    static const unsigned char bad_versions[] = {0, 2, 0x7f, 0xff};
    static const unsigned char bad_kinds[] = {1, 2, 0x80, 0xff};
    struct record r = {1, 2, 3, 4, "abc", 3}, out;
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b);
    assert_int_equal(record_encode(&r, &b), RC_OK);
    for (i = 0; i < sizeof(bad_versions); i++) {
        b.data[0] = (char)bad_versions[i];
        assert_int_equal(record_decode(b.data, b.len, &out), RC_ECORRUPT);
    }
    b.data[0] = RECORD_FORMAT_V1;
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
    struct record r = {1, 2, 3, 4, "abcd", 4}, out;
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
