/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_b64.c - base64 (base/b64.h): the RFC 4648 test vectors in both
 * alphabets, round trips of random bytes of every length 0..64, every rule
 * of the strict decoders (alphabet, padding, length, spare bits, capacity),
 * exhaustively for short url strings, and memcached's lenient decoder with
 * its quirks. Inputs are copied to heap blocks of exactly their length, so
 * a read past the end shows under ASan.
 *
 * The PRNG is a local splitmix64 with a fixed seed.
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

#include "base/b64.h"
#include "base/buf.h"
#include "base/status.h"

static const char url_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ------------------------------------------------------------ helpers */

static uint64_t
splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A heap copy of s[0..n) with nothing after it (malloc(0) may be NULL, so
 * at least one byte is allocated, and the pointer is to its end then). */
static char *
exact(const char *s, size_t n)
{
    char *p = malloc(n == 0 ? 1 : n);

    assert_non_null(p);
    if (n > 0) {
        memcpy(p, s, n);
    }
    return n == 0 ? p + 1 : p;
}

static void
exact_free(char *p, size_t n)
{
    free(n == 0 ? p - 1 : p);
}

enum form { STD, URL, MC };

/* Decode in[0..n) (copied exactly) with cap bytes of room; returns whether
 * it succeeded, the bytes in out and their count in *nout. Checks that
 * nothing past cap was written. */
static bool
decode(enum form f, const char *in, size_t n, unsigned char *out, size_t cap, size_t *nout)
{
    unsigned char room[600];
    char *p = exact(in, n);
    size_t i, got = 0;
    bool ok;

    assert_true(cap + 16 <= sizeof(room));
    memset(room, 0xa5, sizeof(room));
    if (f == MC) {
        got = b64_std_decode_memcached(p, n, room, cap);
        ok = got != 0;
    } else if (f == STD) {
        ok = b64_std_decode(p, n, room, cap, &got);
    } else {
        ok = b64_url_decode(p, n, room, cap, &got);
    }
    exact_free(p, n);
    for (i = cap; i < sizeof(room); i++) {
        assert_int_equal(room[i], 0xa5);
    }
    if (ok) {
        assert_true(got <= cap);
        memcpy(out, room, got);
        *nout = got;
    }
    return ok;
}

static bool
dec_ok(enum form f, const char *in, size_t cap, const char *want, size_t nwant)
{
    unsigned char out[600];
    size_t n = 0;

    if (!decode(f, in, strlen(in), out, cap, &n)) {
        return false;
    }
    return n == nwant && memcmp(out, want, n) == 0;
}

static bool
dec_fails(enum form f, const char *in, size_t cap)
{
    unsigned char out[600];
    size_t n;

    return !decode(f, in, strlen(in), out, cap, &n);
}

/* The encoding of in[0..n) through the buf encoders, NUL-terminated. */
static void
encode(enum form f, const void *in, size_t n, char *out, size_t cap)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(buf_append(&b, "x", 1), RC_OK); /* appends, keeps what was there */
    assert_int_equal(f == STD ? b64_std_encode(&b, in, n) : b64_url_encode(&b, in, n), RC_OK);
    assert_int_equal(b.len - 1, f == STD ? B64_STD_LEN(n) : B64_URL_LEN(n));
    assert_true(b.len < cap);
    assert_int_equal(b.data[0], 'x');
    memcpy(out, b.data + 1, b.len - 1);
    out[b.len - 1] = '\0';
    buf_deinit(&b);
}

/* ------------------------------------------------------------ vectors */

struct vec {
    const char *raw;
    size_t nraw;
    const char *std;
    const char *url;
};

static const struct vec vectors[] = {
    /* RFC 4648 section 10 */
    {"", 0, "", ""},
    {"f", 1, "Zg==", "Zg"},
    {"fo", 2, "Zm8=", "Zm8"},
    {"foo", 3, "Zm9v", "Zm9v"},
    {"foob", 4, "Zm9vYg==", "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
    /* the two characters where the alphabets differ (RFC 4648 section 5) */
    {"\xfb\xef\xbe", 3, "++++", "----"},
    {"\xff\xff\xff", 3, "////", "____"},
    {"\xfb\xff", 2, "+/8=", "-_8"},
    {"\x00", 1, "AA==", "AA"},
    {"\x00\x00\x00", 3, "AAAA", "AAAA"},
    {"\x14\xfb\x9c\x03\xd9\x7e", 6, "FPucA9l+", "FPucA9l-"},
    {"\x14\xfb\x9c\x03\xd9", 5, "FPucA9k=", "FPucA9k"},
    {"\x14\xfb\x9c\x03", 4, "FPucAw==", "FPucAw"},
};

static void
test_vectors(void **state)
{
    char enc[64], to[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vec *v = &vectors[i];

        encode(STD, v->raw, v->nraw, enc, sizeof(enc));
        assert_string_equal(enc, v->std);
        encode(URL, v->raw, v->nraw, enc, sizeof(enc));
        assert_string_equal(enc, v->url);
        memset(to, '#', sizeof(to));
        b64_url_encode_to(to, v->raw, v->nraw);
        assert_memory_equal(to, v->url, strlen(v->url));
        assert_int_equal(to[strlen(v->url)], '#');

        assert_true(dec_ok(STD, v->std, v->nraw, v->raw, v->nraw));
        assert_true(dec_ok(URL, v->url, v->nraw, v->raw, v->nraw));
        if (v->nraw > 0) {
            assert_true(dec_ok(MC, v->std, 3 * strlen(v->std) / 4, v->raw, v->nraw));
        }
        /* a character from the other alphabet is refused */
        if (strcmp(v->std, v->url) != 0) {
            assert_true(dec_fails(STD, v->url, 64));
            assert_true(dec_fails(URL, v->std, 64));
        }
    }
}

/* ------------------------------------------------------------ round trips */

static void
test_round_trips(void **state)
{
    uint64_t seed = 0x6236342d74657374ull;
    unsigned char raw[64], out[64], mc[66];
    char enc[128];
    size_t n, k, got;

    (void)state;
    for (n = 0; n <= 64; n++) {
        for (k = 0; k < 8; k++) {
            size_t i;

            for (i = 0; i < n; i++) {
                raw[i] = (unsigned char)splitmix64(&seed);
            }
            if (k == 1) {
                memset(raw, 0xff, n); /* every bit set: 63s, '/' and '_' */
            }
            encode(STD, raw, n, enc, sizeof(enc));
            assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
            for (i = 0; enc[i] != '\0'; i++) {
                assert_true(strchr(std_abc, enc[i]) != NULL ||
                            (enc[i] == '=' && i + 2 >= strlen(enc)));
            }
            assert_true(decode(STD, enc, strlen(enc), out, n, &got));
            assert_int_equal(got, n);
            assert_memory_equal(out, raw, n);
            if (n > 0) {
                assert_false(decode(STD, enc, strlen(enc), out, n - 1, &got)); /* no room */
                /* memcached wants room for whole groups: 66 for 64 bytes */
                assert_int_equal(b64_std_decode_memcached(enc, strlen(enc), mc, sizeof(mc)), n);
                assert_memory_equal(mc, raw, n);
            }

            encode(URL, raw, n, enc, sizeof(enc));
            assert_int_equal(strlen(enc), (4 * n + 2) / 3);
            assert_true(strlen(enc) % 4 != 1);
            for (i = 0; enc[i] != '\0'; i++) {
                assert_true(b64_url_char((unsigned char)enc[i]));
            }
            assert_true(decode(URL, enc, strlen(enc), out, n, &got));
            assert_int_equal(got, n);
            assert_memory_equal(out, raw, n);
            if (n > 0) {
                assert_false(decode(URL, enc, strlen(enc), out, n - 1, &got));
            }
            /* the array encoder writes the same, and nothing after it */
            {
                char to[100];

                memset(to, '#', sizeof(to));
                b64_url_encode_to(to, raw, n);
                assert_memory_equal(to, enc, strlen(enc));
                assert_int_equal(to[strlen(enc)], '#');
            }
        }
    }
}

/* ------------------------------------------------------------ strictness */

/* One decode: in (n bytes, or strlen(in) when n is 0) with cap bytes of
 * room must give want[0..nwant), or fail when want is NULL. */
struct dcase {
    enum form f;
    const char *in;
    size_t n;
    size_t cap;
    const char *want;
    size_t nwant;
};

static const struct dcase cases[] = {
    /* url: lengths of 1 mod 4 are never an encoding */
    {URL, "A", 0, 64, NULL, 0},
    {URL, "Zm9vY", 0, 64, NULL, 0},
    {URL, "Zm9vYmFyY", 0, 64, NULL, 0},
    /* url: no padding, no other alphabet, no whitespace, no NUL or high bytes */
    {URL, "Zg==", 0, 64, NULL, 0},
    {URL, "Zm8=", 0, 64, NULL, 0},
    {URL, "Zg=", 0, 64, NULL, 0},
    {URL, "ab+d", 0, 64, NULL, 0},
    {URL, "ab/d", 0, 64, NULL, 0},
    {URL, "ab d", 0, 64, NULL, 0},
    {URL, "Zm9v\n", 0, 64, NULL, 0},
    {URL, "abc.", 0, 64, NULL, 0},
    {URL, "ab\0d", 4, 64, NULL, 0},
    {URL, "ab\xff", 3, 64, NULL, 0},
    {URL, "ab\x80", 3, 64, NULL, 0},
    /* url: spare bits ("Zh".."Zv" would all be "f") */
    {URL, "Zg", 0, 1, "f", 1},
    {URL, "Zh", 0, 64, NULL, 0},
    {URL, "Zv", 0, 64, NULL, 0},
    {URL, "Zm8", 0, 2, "fo", 2},
    {URL, "Zm9", 0, 64, NULL, 0},
    {URL, "Zm_", 0, 64, NULL, 0},
    {URL, "Zm9vYh", 0, 64, NULL, 0},
    /* url: capacity, exact fits, one short is refused */
    {URL, "Zm9vYmFy", 0, 6, "foobar", 6},
    {URL, "Zm9vYmFy", 0, 5, NULL, 0},
    {URL, "Zm9vYmE", 0, 4, NULL, 0},
    {URL, "", 0, 0, "", 0},

    /* std: lengths other than multiples of four */
    {STD, "Zg", 0, 64, NULL, 0},
    {STD, "Zm8", 0, 64, NULL, 0},
    {STD, "Zg=", 0, 64, NULL, 0},
    {STD, "Zm9vY", 0, 64, NULL, 0},
    {STD, "Zm9vYg=", 0, 64, NULL, 0},
    {STD, "Zm9vYmE==", 0, 64, NULL, 0},
    /* std: padding, at most two, only at the end, only as many as needed */
    {STD, "====", 0, 64, NULL, 0},
    {STD, "A===", 0, 64, NULL, 0},
    {STD, "Z===", 0, 64, NULL, 0},
    {STD, "Zg==Zm9v", 0, 64, NULL, 0},
    {STD, "Zm8=Zm9v", 0, 64, NULL, 0},
    {STD, "Z=g=", 0, 64, NULL, 0},
    {STD, "=Zg=", 0, 64, NULL, 0},
    {STD, "Zm9v====", 0, 64, NULL, 0},
    {STD, "Zm9v=", 0, 64, NULL, 0},
    /* std: the alphabet, whitespace and other bytes */
    {STD, "Zm-v", 0, 64, NULL, 0},
    {STD, "Zm_v", 0, 64, NULL, 0},
    {STD, "Zm9v\r\n", 0, 64, NULL, 0},
    {STD, " Zm9v", 0, 64, NULL, 0},
    {STD, "Zm 9v", 0, 64, NULL, 0},
    {STD, "Zm\0v", 4, 64, NULL, 0},
    {STD, "Zm\xff=", 4, 64, NULL, 0},
    /* std: spare bits */
    {STD, "Zg==", 0, 1, "f", 1},
    {STD, "Zh==", 0, 64, NULL, 0},
    {STD, "Z/==", 0, 64, NULL, 0},
    {STD, "Zm8=", 0, 2, "fo", 2},
    {STD, "Zm9=", 0, 64, NULL, 0},
    {STD, "Zm/=", 0, 64, NULL, 0},
    /* std: capacity */
    {STD, "Zm9vYmFy", 0, 6, "foobar", 6},
    {STD, "Zm9vYmFy", 0, 5, NULL, 0},
    {STD, "Zm9vYmE=", 0, 5, "fooba", 5},
    {STD, "Zm9vYmE=", 0, 4, NULL, 0},
    {STD, "", 0, 0, "", 0},

    /* memcached: the canonical forms decode as usual */
    {MC, "Zm9v", 0, 3, "foo", 3},
    {MC, "Zg==", 0, 3, "f", 1},
    {MC, "Zm8=", 0, 3, "fo", 2},
    /* memcached: nothing decoded is an error, so is the empty string */
    {MC, "", 0, 64, NULL, 0},
    {MC, "\r\n", 0, 64, NULL, 0},
    /* memcached: bytes outside the alphabet are skipped, url ones too */
    {MC, "Zm 9v", 0, 3, "foo", 3},
    {MC, "\nZm9v\r\n", 0, 3, "foo", 3},
    {MC, "Z-m_9.v", 0, 3, "foo", 3},
    {MC,
     "Zm\0\xff"
     "9v",
     6, 3, "foo", 3},
    /* memcached: the rest must come in whole groups of four */
    {MC, "Zm9", 0, 64, NULL, 0},
    {MC, "Zg=", 0, 64, NULL, 0},
    {MC, "Zm9vY", 0, 64, NULL, 0},
    {MC, "Zm9v Y", 0, 64, NULL, 0},
    /* memcached: '=' is a zero digit anywhere; the first group holding one
     * ends the input, though what follows still counts in the grouping */
    {MC, "Zg==Zm9v", 0, 6, "f", 1},
    {MC, "Zg==Zm9", 0, 64, NULL, 0},
    {MC, "Z=g=", 0, 3, "d", 1},
    {MC, "=AAA", 0, 3, "\0\0", 2},
    /* memcached: three or four '=' in that group are an error */
    {MC, "A===", 0, 64, NULL, 0},
    {MC, "====", 0, 64, NULL, 0},
    {MC, "Zm9v====", 0, 64, NULL, 0},
    /* memcached: spare bits are ignored */
    {MC, "Zh==", 0, 3, "f", 1},
    {MC, "Zm9=", 0, 3, "fo", 2},
    /* memcached: the room needed is count / 4 * 3, padding or not */
    {MC, "Zm9vYmFy", 0, 6, "foobar", 6},
    {MC, "Zm9vYmFy", 0, 5, NULL, 0},
    {MC, "Zm9vYg==", 0, 5, NULL, 0},
    {MC, "Zm9vYg==", 0, 6, "foob", 4},
};

static void
test_cases(void **state)
{
    unsigned char out[600];
    size_t i, got;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct dcase *c = &cases[i];
        size_t n = c->n != 0 ? c->n : strlen(c->in);
        bool ok = decode(c->f, c->in, n, out, c->cap, &got);

        if (ok != (c->want != NULL)) {
            fail_msg("case %zu (\"%s\"): %s", i, c->in, ok ? "accepted" : "refused");
        }
        if (ok) {
            assert_int_equal(got, c->nwant);
            assert_memory_equal(out, c->want, got);
        }
    }
}

/* b64_url_char is exactly the alphabet. */
static void
test_url_char(void **state)
{
    size_t c;

    (void)state;
    for (c = 0; c < 256; c++) {
        bool in = c != 0 && strchr(url_abc, (int)c) != NULL;

        assert_int_equal(b64_url_char((unsigned char)c), in);
    }
}

/* Every url string of up to three characters: decoding succeeds exactly
 * when the string is the encoding of some bytes (of every 0..2 byte string,
 * found by encoding them all), and then gives those bytes back. */
static void
test_url_exhaustive(void **state)
{
    static const size_t count[4] = {1, 64, 64 * 64, 64 * 64 * 64};
    static const size_t base[4] = {0, 1, 1 + 64, 1 + 64 + 64 * 64};
    static bool canon[1 + 64 + 64 * 64 + 64 * 64 * 64];
    unsigned char raw[2], out[4];
    size_t i, j, len, got;
    char s[4], enc[8];

    (void)state;
    memset(canon, 0, sizeof(canon));
    for (i = 0; i < 1 + 256 + 65536; i++) {
        size_t n = i == 0 ? 0 : i <= 256 ? 1 : 2, idx = 0;

        raw[0] = (unsigned char)(n == 1 ? i - 1 : (i - 257) >> 8);
        raw[1] = (unsigned char)((i - 257) & 0xff);
        encode(URL, raw, n, enc, sizeof(enc));
        len = strlen(enc);
        for (j = 0; j < len; j++) {
            idx = idx * 64 + (size_t)(strchr(url_abc, enc[j]) - url_abc);
        }
        assert_false(canon[base[len] + idx]); /* one encoding each */
        canon[base[len] + idx] = true;
    }
    for (len = 0; len <= 3; len++) {
        for (i = 0; i < count[len]; i++) {
            size_t v = i;
            bool ok;

            for (j = len; j-- > 0;) {
                s[j] = url_abc[v % 64];
                v /= 64;
            }
            ok = b64_url_decode(s, len, out, sizeof(out), &got);
            assert_int_equal(ok, canon[base[len] + i]);
            if (ok) {
                encode(URL, out, got, enc, sizeof(enc));
                assert_int_equal(strlen(enc), len);
                assert_memory_equal(enc, s, len);
            }
        }
    }
}

/* Every padded final group (XY== and XYZ=): accepted exactly when its
 * spare bits are zero, and then it re-encodes to itself. */
static void
test_std_exhaustive(void **state)
{
    unsigned char out[8];
    char s[4], enc[16];
    size_t i, got;

    (void)state;
    for (i = 0; i < 64 * 64 + 64 * 64 * 64; i++) {
        bool two = i < 64 * 64, ok, zero;
        size_t v = two ? i : i - 64 * 64;

        if (two) {
            s[0] = std_abc[v / 64];
            s[1] = std_abc[v % 64];
            s[2] = '=';
            zero = v % 16 == 0;
        } else {
            s[0] = std_abc[v / 4096];
            s[1] = std_abc[v / 64 % 64];
            s[2] = std_abc[v % 64];
            zero = v % 4 == 0;
        }
        s[3] = '=';
        ok = b64_std_decode(s, 4, out, sizeof(out), &got);
        assert_int_equal(ok, zero);
        if (ok) {
            assert_int_equal(got, two ? 1 : 2);
            encode(STD, out, got, enc, sizeof(enc));
            assert_memory_equal(enc, s, 4);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_cases),          cmocka_unit_test(test_url_char),
        cmocka_unit_test(test_url_exhaustive), cmocka_unit_test(test_std_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
