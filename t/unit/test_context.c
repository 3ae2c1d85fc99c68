/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_context.c - sealed context tokens and the derived cas
 * (kv/context.h), and the MAC module under them (base/mac.h): RFC 4231
 * known answers, seal/open round trips, every way a token can be wrong
 * (other key bytes, other item key, foreign or retired key id, truncated,
 * extended, any character changed, non-zero spare bits, a vector the MAC
 * covers but the parser refuses), key rotation, the size bounds, and the
 * cas's properties.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/endian.h"
#include "base/mac.h"
#include "base/status.h"
#include "kv/context.h"
#include "kv/dvv.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static struct context_keys
keys(uint8_t id, uint8_t fill)
{
    struct context_keys k;

    memset(&k, 0, sizeof(k));
    k.cur_id = id;
    memset(k.cur, fill, sizeof(k.cur));
    return k;
}

/* A vector of n entries: actors 1..n, counter 10 * i, pruned as given. */
static void
vector(struct dvv_vector_entry *e, size_t n, bool pruned, struct dvv_vector *v)
{
    size_t i;

    for (i = 0; i < n; i++) {
        memset(&e[i].actor, 0, sizeof(e[i].actor));
        e[i].actor.id[0] = 0x5a;
        e[i].actor.id[14] = (uint8_t)((i + 1) >> 8);
        e[i].actor.id[15] = (uint8_t)(i + 1);
        e[i].counter = 10 * (i + 1);
    }
    v->entries = n > 0 ? e : NULL;
    v->n = n;
    v->pruned = pruned;
}

static void
assert_same_vector(const struct dvv_vector *a, const struct dvv_vector *b)
{
    size_t i;

    assert_int_equal(a->n, b->n);
    assert_int_equal(a->pruned, b->pruned);
    for (i = 0; i < a->n; i++) {
        assert_memory_equal(a->entries[i].actor.id, b->entries[i].actor.id, DVV_ACTOR_SIZE);
        assert_int_equal(a->entries[i].counter, b->entries[i].counter);
    }
}

static void
seal(const struct context_keys *k, const char *key, const struct dvv_vector *v, struct buf *out)
{
    buf_init(out);
    assert_int_equal(context_seal(k, key, strlen(key), v, out), RC_OK);
}

static int
open_tok(const struct context_keys *k, const char *key, const char *tok, size_t len)
{
    struct dvv_vector out;
    int rc = context_open(k, key, strlen(key), tok, len, &out);

    if (rc != RC_OK) {
        assert_int_equal(out.n, 0);
        assert_null(out.entries);
    }
    dvv_vector_deinit(&out);
    return rc;
}

/* ------------------------------------------------------------ mac */

static void
test_mac_known_answers(void **state)
{
    /* RFC 4231 test case 2 */
    static const uint8_t want2[MAC_SHA256_SIZE] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                                   0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                                   0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                                   0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    /* RFC 4231 test case 1 */
    static const uint8_t want1[MAC_SHA256_SIZE] = {0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53,
                                                   0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b, 0xf1, 0x2b,
                                                   0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83, 0x3d, 0xa7,
                                                   0x26, 0xe9, 0x37, 0x6c, 0x2e, 0x32, 0xcf, 0xf7};
    const char *msg = "what do ya want for nothing?";
    struct mac_part one = {msg, strlen(msg)};
    struct mac_part split[4] = {{msg, 4}, {"", 0}, {msg + 4, 10}, {msg + 14, strlen(msg) - 14}};
    struct mac_part hi = {"Hi There", 8};
    uint8_t key1[20], out[MAC_SHA256_SIZE];

    (void)state;
    assert_int_equal(mac_hmac_sha256("Jefe", 4, &one, 1, out), RC_OK);
    assert_memory_equal(out, want2, sizeof(out));
    memset(out, 0, sizeof(out));
    assert_int_equal(mac_hmac_sha256("Jefe", 4, split, 4, out), RC_OK);
    assert_memory_equal(out, want2, sizeof(out));
    memset(key1, 0x0b, sizeof(key1));
    assert_int_equal(mac_hmac_sha256(key1, sizeof(key1), &hi, 1, out), RC_OK);
    assert_memory_equal(out, want1, sizeof(out));
    /* no parts, empty key: still a MAC */
    assert_int_equal(mac_hmac_sha256(NULL, 0, NULL, 0, out), RC_OK);
}

/* Keys longer than a block (the EVP_MAC path), and more keys than a thread
 * keeps prepared: known answers still hold after every eviction. */
static void
test_mac_long_keys_and_key_cache(void **state)
{
    /* RFC 4231 test case 6 */
    static const uint8_t want6[MAC_SHA256_SIZE] = {0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f,
                                                   0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5, 0xb7, 0x7f,
                                                   0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14,
                                                   0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54};
    static const uint8_t want2[MAC_SHA256_SIZE] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                                   0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                                   0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                                   0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *msg2 = "what do ya want for nothing?";
    struct mac_part p6 = {msg6, strlen(msg6)}, p2 = {msg2, strlen(msg2)};
    uint8_t key6[131], other[64], out[MAC_SHA256_SIZE], first[10][MAC_SHA256_SIZE];

    (void)state;
    memset(key6, 0xaa, sizeof(key6));
    assert_int_equal(mac_hmac_sha256(key6, sizeof(key6), &p6, 1, out), RC_OK);
    assert_memory_equal(out, want6, sizeof(out));
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 10; k++) {
            memset(other, 0x40 + k, sizeof(other));
            assert_int_equal(mac_hmac_sha256(other, (size_t)(1 + 6 * k), &p2, 1, out), RC_OK);
            if (round == 0) {
                memcpy(first[k], out, sizeof(out));
            } else {
                assert_memory_equal(out, first[k], sizeof(out));
            }
            assert_int_equal(mac_hmac_sha256("Jefe", 4, &p2, 1, out), RC_OK);
            assert_memory_equal(out, want2, sizeof(out));
        }
    }
}

static void
test_mac_equal_and_random(void **state)
{
    uint8_t a[32], b[32], zero[32];

    (void)state;
    memset(zero, 0, sizeof(zero));
    assert_int_equal(mac_random(a, sizeof(a)), RC_OK);
    assert_int_equal(mac_random(b, sizeof(b)), RC_OK);
    assert_false(mac_equal(a, b, sizeof(a)));
    assert_false(mac_equal(a, zero, sizeof(a)));
    assert_true(mac_equal(a, a, sizeof(a)));
    memcpy(b, a, sizeof(a));
    b[31] ^= 1;
    assert_false(mac_equal(a, b, sizeof(a)));
    assert_true(mac_equal(a, b, 31));
    assert_true(mac_equal(a, b, 0));
    assert_int_equal(mac_random(a, 0), RC_OK);
}

/* RFC 4231 test case 2: HMAC-SHA-256("Jefe", "what do ya want for nothing?"). */
static const uint8_t rfc4231_2[MAC_SHA256_SIZE] = {
    0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
    0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};

static void *
mac_worker(void *arg)
{
    const char *msg = "what do ya want for nothing?";
    struct mac_part one = {msg, strlen(msg)};
    uint8_t out[MAC_SHA256_SIZE];
    int i;

    (void)arg;
    for (i = 0; i < 2000; i++) {
        if (mac_hmac_sha256("Jefe", 4, &one, 1, out) != RC_OK ||
            memcmp(out, rfc4231_2, sizeof(out)) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Many threads at once, making the first MACs of the process (the first
 * test to run), so they race for the one-time set-up: every MAC right. */
static void
test_mac_threads(void **state)
{
    pthread_t th[4];
    void *res;
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, mac_worker, NULL), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], &res), 0);
        assert_null(res);
    }
}

/* ------------------------------------------------------------ tokens */

static void
test_round_trip(void **state)
{
    struct context_keys k = keys(1, 0x11);
    struct dvv_vector_entry e[3];
    struct dvv_vector v, out;
    struct buf tok;
    size_t n;

    (void)state;
    for (n = 0; n <= 3; n++) {
        vector(e, n, n == 2, &v);
        seal(&k, "item", &v, &tok);
        assert_int_equal(tok.len, DVV_TOKEN_LEN(DVV_VECTOR_SIZE(n)) + 1 + CONTEXT_SEAL_LEN);
        assert_int_equal(tok.data[tok.len - CONTEXT_SEAL_LEN - 1], '.');
        assert_int_equal(context_open(&k, "item", 4, tok.data, tok.len, &out), RC_OK);
        assert_same_vector(&v, &out);
        dvv_vector_deinit(&out);
        buf_deinit(&tok);
    }
    /* a one-node key's token is 63 characters */
    vector(e, 1, false, &v);
    seal(&k, "k", &v, &tok);
    assert_int_equal(tok.len, 63);
    buf_deinit(&tok);
    /* binary keys, and the empty key */
    buf_init(&tok);
    assert_int_equal(context_seal(&k, "a\0b", 3, &v, &tok), RC_OK);
    assert_int_equal(context_open(&k, "a\0b", 3, tok.data, tok.len, &out), RC_OK);
    dvv_vector_deinit(&out);
    assert_int_equal(context_open(&k, "a\0c", 3, tok.data, tok.len, &out), RC_EINVAL);
    dvv_vector_deinit(&out);
    buf_reset(&tok);
    assert_int_equal(context_seal(&k, NULL, 0, &v, &tok), RC_OK);
    assert_int_equal(context_open(&k, NULL, 0, tok.data, tok.len, &out), RC_OK);
    dvv_vector_deinit(&out);
    /* seal appends */
    buf_reset(&tok);
    assert_int_equal(buf_append(&tok, "x", 1), RC_OK);
    assert_int_equal(context_seal(&k, "k", 1, &v, &tok), RC_OK);
    assert_int_equal(tok.len, 64);
    assert_int_equal(context_open(&k, "k", 1, tok.data + 1, tok.len - 1, &out), RC_OK);
    dvv_vector_deinit(&out);
    buf_deinit(&tok);
}

static void
test_empty_context(void **state)
{
    struct context_keys k = keys(1, 0x11);
    struct dvv_vector out;

    (void)state;
    assert_int_equal(context_open(&k, "item", 4, "-", 1, &out), RC_OK);
    assert_int_equal(out.n, 0);
    assert_false(out.pruned);
    dvv_vector_deinit(&out);
    assert_int_equal(open_tok(&k, "item", "--", 2), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", "", 0), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", "-", 0), RC_EINVAL);
}

static void
test_wrong_keys(void **state)
{
    struct context_keys k = keys(1, 0x11), other = keys(1, 0x12), foreign = keys(2, 0x11);
    struct dvv_vector_entry e[2];
    struct dvv_vector v;
    struct buf tok;

    (void)state;
    vector(e, 2, false, &v);
    seal(&k, "item", &v, &tok);
    assert_int_equal(open_tok(&k, "item", tok.data, tok.len), RC_OK);
    assert_int_equal(open_tok(&other, "item", tok.data, tok.len), RC_EINVAL); /* key bytes */
    assert_int_equal(open_tok(&k, "iten", tok.data, tok.len), RC_EINVAL);     /* item key */
    assert_int_equal(open_tok(&k, "item2", tok.data, tok.len), RC_EINVAL);
    assert_int_equal(open_tok(&foreign, "item", tok.data, tok.len), RC_EINVAL); /* key id */
    /* rotation: the previous key still opens, a retired one does not */
    foreign.prev_id = 1;
    memcpy(foreign.prev, k.cur, sizeof(k.cur));
    assert_int_equal(open_tok(&foreign, "item", tok.data, tok.len), RC_OK);
    foreign.prev[0] ^= 1;
    assert_int_equal(open_tok(&foreign, "item", tok.data, tok.len), RC_EINVAL);
    foreign.prev[0] ^= 1;
    foreign.prev_id = 0; /* no previous key: id 1 is foreign even with the bytes */
    assert_int_equal(open_tok(&foreign, "item", tok.data, tok.len), RC_EINVAL);
    buf_deinit(&tok);
    /* key id 0 is never used */
    k.cur_id = 0;
    buf_init(&tok);
    assert_int_equal(context_seal(&k, "item", 4, &v, &tok), RC_EINVAL);
    assert_int_equal(tok.len, 0);
    buf_deinit(&tok);
}

static void
test_malformed(void **state)
{
    struct context_keys k = keys(7, 0x33);
    struct dvv_vector_entry e[2];
    struct dvv_vector v;
    struct buf tok, bad;
    size_t len, i, c;

    (void)state;
    vector(e, 2, true, &v);
    seal(&k, "item", &v, &tok);
    for (len = 0; len < tok.len; len++) { /* every truncation */
        assert_int_equal(open_tok(&k, "item", tok.data, len), RC_EINVAL);
    }
    buf_init(&bad);
    for (i = 0; i < tok.len; i++) { /* every character changed to every other */
        for (c = 0; c < sizeof(b64); c++) {
            char ch = c < sizeof(b64) - 1 ? b64[c] : '.';

            if (ch == tok.data[i]) {
                continue;
            }
            buf_reset(&bad);
            assert_int_equal(buf_append(&bad, tok.data, tok.len), RC_OK);
            bad.data[i] = ch;
            assert_int_equal(open_tok(&k, "item", bad.data, bad.len), RC_EINVAL);
        }
    }
    /* extra characters, before, after, inside */
    buf_reset(&bad);
    assert_int_equal(buf_append(&bad, tok.data, tok.len), RC_OK);
    assert_int_equal(buf_append(&bad, "A", 1), RC_OK);
    assert_int_equal(open_tok(&k, "item", bad.data, bad.len), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", bad.data, tok.len + 0), RC_OK);
    buf_reset(&bad);
    assert_int_equal(buf_append(&bad, "A", 1), RC_OK);
    assert_int_equal(buf_append(&bad, tok.data, tok.len), RC_OK);
    assert_int_equal(open_tok(&k, "item", bad.data, bad.len), RC_EINVAL);
    buf_reset(&bad);
    assert_int_equal(buf_append(&bad, tok.data, tok.len), RC_OK);
    assert_int_equal(buf_append(&bad, "\n", 1), RC_OK);
    assert_int_equal(open_tok(&k, "item", bad.data, bad.len), RC_EINVAL);
    /* padding, spaces, NUL */
    assert_int_equal(open_tok(&k, "item", "AAAAAAA=.AAAAAAAAAAAAAAAAAAAAAAA", 32), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", "AAAAAAA .AAAAAAAAAAAAAAAAAAAAAAA", 32), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", ".", 1), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", "AAAAAA.AAAAAAAAAAAAAAAAAAAAAAA", 30), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", "AAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", 30), RC_EINVAL);
    assert_int_equal(open_tok(&k, "item", "AAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA", 32), RC_EINVAL);
    buf_deinit(&bad);
    buf_deinit(&tok);
}

/* The seal's last character carries two spare bits: only values with them
 * zero decode (check 2). */
static void
test_seal_spare_bits(void **state)
{
    struct context_keys k = keys(1, 0x11);
    struct dvv_vector_entry e[1];
    struct dvv_vector v;
    struct buf tok;
    char *last;
    const char *at;
    int val;

    (void)state;
    vector(e, 1, false, &v);
    seal(&k, "item", &v, &tok);
    last = &tok.data[tok.len - 1];
    at = strchr(b64, *last);
    assert_non_null(at);
    val = (int)(at - b64);
    assert_int_equal(val & 3, 0);
    for (int spare = 1; spare < 4; spare++) {
        *last = b64[val | spare];
        assert_int_equal(open_tok(&k, "item", tok.data, tok.len), RC_EINVAL);
    }
    *last = b64[val];
    assert_int_equal(open_tok(&k, "item", tok.data, tok.len), RC_OK);
    buf_deinit(&tok);
}

/* A seal made with the right key over a vector the parser refuses: check 4
 * still refuses it. */
static void
test_sealed_garbage_vector(void **state)
{
    static const char *bad_vectors[] = {
        "AAAAAAA",  /* magic 0 */
        "3AEAAAA",  /* a vector magic, version 1, no entries: valid */
        "1QEAAAA",  /* a set's magic */
        "3AIAAAA",  /* version 2 */
        "3AEAAAB",  /* non-zero spare bits */
        "3AEAAAE",  /* count 1, no entry */
        "3AEAAAAA", /* a trailing byte */
    };
    struct context_keys k = keys(3, 0x44);
    static const char label[] = "ringcached context v1";
    uint8_t mac[MAC_SHA256_SIZE], raw[17], klen[2];
    char tok[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_vectors) / sizeof(bad_vectors[0]); i++) {
        const char *vec = bad_vectors[i];
        struct mac_part parts[4] = {
            {label, sizeof(label) - 1}, {klen, 2}, {"item", 4}, {vec, strlen(vec)}};
        size_t w = 0, j, len;
        uint32_t acc = 0;
        unsigned bits = 0;

        be_put16(klen, 4);
        assert_int_equal(mac_hmac_sha256(k.cur, CONTEXT_KEY_SIZE, parts, 4, mac), RC_OK);
        raw[0] = k.cur_id;
        memcpy(raw + 1, mac, 16);
        len = (size_t)snprintf(tok, sizeof(tok), "%s.", vec);
        for (j = 0; j < 17; j++) {
            acc = (acc << 8) | raw[j];
            bits += 8;
            while (bits >= 6) {
                bits -= 6;
                tok[len + w++] = b64[(acc >> bits) & 63];
            }
            acc &= (1u << bits) - 1;
        }
        tok[len + w++] = b64[(acc << (6 - bits)) & 63];
        assert_int_equal(w, CONTEXT_SEAL_LEN);
        assert_int_equal(open_tok(&k, "item", tok, len + w), i == 1 ? RC_OK : RC_EINVAL);
    }
}

static void
test_size_bounds(void **state)
{
    struct context_keys k = keys(9, 0x55);
    struct dvv_vector_entry e[DVV_TOKEN_MAX_ENTRIES + 1];
    struct dvv_vector v, out;
    struct buf tok;

    (void)state;
    vector(e, DVV_TOKEN_MAX_ENTRIES, true, &v);
    seal(&k, "item", &v, &tok);
    assert_true(tok.len <= CONTEXT_TOKEN_MAX);
    assert_int_equal(tok.len, 543);
    assert_int_equal(context_open(&k, "item", 4, tok.data, tok.len, &out), RC_OK);
    assert_same_vector(&v, &out);
    dvv_vector_deinit(&out);
    buf_deinit(&tok);
    vector(e, DVV_TOKEN_MAX_ENTRIES + 1, false, &v);
    buf_init(&tok);
    assert_int_equal(context_seal(&k, "item", 4, &v, &tok), RC_ETOOLARGE);
    assert_int_equal(tok.len, 0);
    buf_deinit(&tok);
    /* an over-long token is refused at check 1 */
    {
        char big[CONTEXT_TOKEN_MAX + 2];

        memset(big, 'A', sizeof(big));
        big[CONTEXT_TOKEN_MAX + 1 - CONTEXT_SEAL_LEN - 1] = '.';
        assert_int_equal(open_tok(&k, "item", big, sizeof(big)), RC_EINVAL);
    }
}

/* ------------------------------------------------------------ cas */

static void
test_cas(void **state)
{
    struct context_keys k = keys(1, 0x11), k2 = keys(1, 0x12);
    struct dvv_vector_entry e[DVV_MAX_ENTRIES], f[3];
    struct dvv_vector v, w;
    uint64_t seen[64];
    size_t n, i, j;

    (void)state;
    for (n = 0; n < 40; n++) {
        vector(e, n, false, &v);
        seen[n] = context_cas(&k, "key", 3, &v);
        assert_true(seen[n] != 0);
        vector(f, n < 3 ? n : 3, false, &w);
        if (n <= 3) { /* equal contexts, separate memory: equal cas */
            assert_int_equal(context_cas(&k, "key", 3, &w), seen[n]);
        }
        for (j = 0; j < n; j++) {
            assert_true(seen[j] != seen[n]);
        }
    }
    /* the pruned mark and each counter matter, and so does the key */
    vector(e, 3, false, &v);
    seen[0] = context_cas(&k, "key", 3, &v);
    v.pruned = true;
    assert_true(context_cas(&k, "key", 3, &v) != seen[0]);
    v.pruned = false;
    for (i = 0; i < 3; i++) {
        e[i].counter++;
        assert_true(context_cas(&k, "key", 3, &v) != seen[0]);
        e[i].counter--;
    }
    assert_int_equal(context_cas(&k, "key", 3, &v), seen[0]);
    assert_true(context_cas(&k2, "key", 3, &v) != seen[0]);
    /* the item key is bound in: another key never shares the cas */
    assert_true(context_cas(&k, "kez", 3, &v) != seen[0]);
    assert_true(context_cas(&k, "key2", 4, &v) != seen[0]);
    /* the previous key plays no part */
    k.prev_id = 4;
    memset(k.prev, 0x99, sizeof(k.prev));
    assert_int_equal(context_cas(&k, "key", 3, &v), seen[0]);
    /* large joins (more than a token holds) have a cas too */
    vector(e, DVV_MAX_ENTRIES, false, &v);
    assert_true(context_cas(&k, "key", 3, &v) != 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mac_threads),
        cmocka_unit_test(test_mac_known_answers),
        cmocka_unit_test(test_mac_long_keys_and_key_cache),
        cmocka_unit_test(test_mac_equal_and_random),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_context),
        cmocka_unit_test(test_wrong_keys),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_seal_spare_bits),
        cmocka_unit_test(test_sealed_garbage_vector),
        cmocka_unit_test(test_size_bounds),
        cmocka_unit_test(test_cas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
