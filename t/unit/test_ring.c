/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_ring.c - partitioning (kv/ring.h): input validation; exact balance
 * for 1..20 nodes and several Q; preference lists (N distinct nodes, owner
 * first, equal to a naive walk); determinism under any name order; the ring
 * hash changing with every input; known answers freezing the key ->
 * partition mapping and the claim; sloppy-quorum fallbacks; and how many
 * partitions move when a node is added (the claim's movement bound) or
 * removed, with the replica load of the preference lists.
 *
 * Shuffles use a local splitmix64 with fixed seeds, so every run checks the
 * same orders.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/hash.h"
#include "base/status.h"
#include "kv/ring.h"

/* ------------------------------------------------------------ helpers */

#define MAXN 64

static char name_store[MAXN][RING_NAME_MAX + 1];
static const char *names[MAXN];

/* names[0..k) = "node-0", "node-1", ... */
static void
make_names(size_t k)
{
    size_t i;

    assert_true(k <= MAXN);
    for (i = 0; i < k; i++) {
        snprintf(name_store[i], sizeof(name_store[i]), "node-%zu", i);
        names[i] = name_store[i];
    }
}

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
shuffle(const char **v, size_t n, uint64_t seed)
{
    size_t i;

    for (i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix(&seed) % i);
        const char *t = v[i - 1];

        v[i - 1] = v[j];
        v[j] = t;
    }
}

static struct ring *
build(uint32_t q, unsigned n, const char *const *v, size_t k)
{
    struct ring *r = NULL;

    assert_int_equal(ring_create(q, n, v, k, &r), RC_OK);
    assert_non_null(r);
    return r;
}

static size_t
index_of(const struct ring *r, const char *name)
{
    size_t idx = 0;

    assert_int_equal(ring_node_index(r, name, strlen(name), &idx), RC_OK);
    return idx;
}

/* ------------------------------------------------------------ validation */

static void
test_invalid(void **state)
{
    const char *two[] = {"a", "b"};
    const char *dup[] = {"a", "b", "a"};
    const char *empty[] = {"a", ""};
    const char *space[] = {"a b"};
    const char *ctl[] = {"a\tb"};
    const char *high[] = {"caf\xc3\xa9"};
    const char *nul[] = {"a", NULL};
    char long_name[RING_NAME_MAX + 2], max_name[RING_NAME_MAX + 1];
    const char *toolong[] = {"a", long_name};
    const char *maxlen[] = {"a", max_name};
    static const char *many[RING_MAX_NODES + 1];
    static char many_store[RING_MAX_NODES + 1][8];
    struct ring *r = (struct ring *)&r;
    size_t i;

    (void)state;
    memset(long_name, 'x', RING_NAME_MAX + 1);
    long_name[RING_NAME_MAX + 1] = '\0';
    memset(max_name, 'y', RING_NAME_MAX);
    max_name[RING_NAME_MAX] = '\0';

    assert_int_equal(ring_create(0, 3, two, 2, &r), RC_EINVAL);
    assert_null(r);
    assert_int_equal(ring_create(3, 3, two, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1000, 3, two, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(RING_MAX_Q * 2, 3, two, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 0, two, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, RING_MAX_N + 1, two, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, NULL, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, two, 0, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, dup, 3, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, empty, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, space, 1, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, ctl, 1, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, high, 1, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, nul, 2, &r), RC_EINVAL);
    assert_int_equal(ring_create(1024, 3, toolong, 2, &r), RC_EINVAL);
    assert_null(r);
    assert_int_equal(ring_create(1, 1, two, 2, &r), RC_EINVAL); /* more nodes than Q */
    assert_int_equal(ring_create(1024, 3, two, 2, NULL), RC_EINVAL);

    for (i = 0; i <= RING_MAX_NODES; i++) {
        snprintf(many_store[i], sizeof(many_store[i]), "n%zu", i);
        many[i] = many_store[i];
    }
    assert_int_equal(ring_create(1024, 3, many, RING_MAX_NODES + 1, &r), RC_EINVAL);

    /* the limits themselves are fine */
    r = build(1024, 3, maxlen, 2);
    assert_string_equal(ring_node_name(r, 1), max_name);
    ring_destroy(r);
    r = build(RING_MAX_NODES, RING_MAX_N, many, RING_MAX_NODES);
    for (i = 0; i < RING_MAX_NODES; i++) {
        assert_int_equal(ring_node_partitions(r, i), 1);
    }
    ring_destroy(r);
    r = build(1, 1, two, 1);
    assert_int_equal(ring_owner(r, 0), 0);
    ring_destroy(r);
    ring_destroy(NULL);
}

static void
test_accessors(void **state)
{
    const char *v[] = {"zeta", "alpha", "alph", "mid:11211", "Beta"};
    struct ring *r;
    unsigned pl[RING_MAX_N];
    struct ring_target tg[RING_MAX_N];
    bool healthy[5] = {true, true, true, true, true};
    size_t idx, n;

    (void)state;
    r = build(64, 7, v, 5);
    assert_int_equal(ring_q(r), 64);
    assert_int_equal(ring_n(r), 5); /* capped at the nodes */
    assert_int_equal(ring_n_requested(r), 7);
    assert_int_equal(ring_nodes(r), 5);
    /* bytewise order, a prefix first */
    assert_string_equal(ring_node_name(r, 0), "Beta");
    assert_string_equal(ring_node_name(r, 1), "alph");
    assert_string_equal(ring_node_name(r, 2), "alpha");
    assert_string_equal(ring_node_name(r, 3), "mid:11211");
    assert_string_equal(ring_node_name(r, 4), "zeta");
    assert_int_equal(ring_node_index(r, "alpha", 5, &idx), RC_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(ring_node_index(r, "alpha", 4, &idx), RC_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(ring_node_index(r, "alphab", 6, &idx), RC_ENOTFOUND);
    assert_int_equal(ring_node_index(r, "A", 1, &idx), RC_ENOTFOUND);
    assert_int_equal(ring_node_index(r, "zz", 2, &idx), RC_ENOTFOUND);

    assert_int_equal(ring_preflist(r, 64, pl, RING_MAX_N, &n), RC_EINVAL);
    assert_int_equal(ring_preflist(r, 0, pl, 4, &n), RC_EINVAL);
    assert_int_equal(ring_preflist(r, 63, pl, 5, &n), RC_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ring_sloppy(r, 64, healthy, tg, RING_MAX_N, &n), RC_EINVAL);
    assert_int_equal(ring_sloppy(r, 0, healthy, tg, 4, &n), RC_EINVAL);
    assert_int_equal(ring_sloppy(r, 0, NULL, tg, 5, &n), RC_EINVAL);
    ring_destroy(r);
}

/* ------------------------------------------------------------ balance */

static void
test_balance(void **state)
{
    static const uint32_t qs[] = {32, 64, 256, 1024, 4096, 65536};
    size_t qi, k, i;

    (void)state;
    make_names(20);
    for (qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++) {
        for (k = 1; k <= 20; k++) {
            struct ring *r = build(qs[qi], 3, names, k);
            uint32_t lo = qs[qi] / (uint32_t)k, hi = lo + (qs[qi] % k != 0);
            uint32_t sum = 0, owned[20] = {0}, p;

            for (i = 0; i < k; i++) {
                uint32_t c = ring_node_partitions(r, i);

                assert_true(c == lo || c == hi);
                sum += c;
            }
            assert_int_equal(sum, qs[qi]);
            for (p = 0; p < qs[qi]; p++) {
                unsigned o = ring_owner(r, p);

                assert_true(o < k);
                owned[o]++;
            }
            for (i = 0; i < k; i++) {
                assert_int_equal(owned[i], ring_node_partitions(r, i));
            }
            ring_destroy(r);
        }
    }
}

/* ------------------------------------------------------------ preference lists */

static void
test_preflists(void **state)
{
    static const uint32_t qs[] = {16, 64, 1024};
    static const unsigned ns[] = {1, 2, 3, 5, 16};
    size_t qi, ni, k;

    (void)state;
    make_names(20);
    for (qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++) {
        for (ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
            for (k = 1; k <= 20 && k <= qs[qi]; k++) {
                struct ring *r = build(qs[qi], ns[ni], names, k);
                unsigned want_n = ns[ni] < k ? ns[ni] : (unsigned)k;
                uint32_t p, q = qs[qi];

                assert_int_equal(ring_n(r), want_n);
                for (p = 0; p < q; p++) {
                    unsigned pl[RING_MAX_N], naive[RING_MAX_N];
                    bool seen[20] = {false};
                    size_t n, got = 0, j;

                    assert_int_equal(ring_preflist(r, p, pl, RING_MAX_N, &n), RC_OK);
                    assert_int_equal(n, want_n);
                    assert_int_equal(pl[0], ring_owner(r, p));
                    /* naive walk: first want_n distinct owners from p */
                    for (j = 0; j < q && got < want_n; j++) {
                        unsigned o = ring_owner(r, (uint32_t)((p + j) % q));

                        if (!seen[o]) {
                            seen[o] = true;
                            naive[got++] = o;
                        }
                    }
                    assert_int_equal(got, want_n);
                    assert_memory_equal(pl, naive, want_n * sizeof(pl[0]));
                }
                ring_destroy(r);
            }
        }
    }
}

/* Replica load: partitions whose preference list holds each node; ideal
 * N*Q/k. Measured for Q = 1024, N = 3 (names node-<i>): k = 5: 591..653
 * (ideal 614); k = 10: 295..321 (307); k = 20: 146..163 (154); the spread
 * stays within about 8% of the ideal. Asserted: within 15%. */
static void
test_replica_load(void **state)
{
    static const size_t ks[] = {3, 4, 5, 8, 10, 16, 20};
    size_t ki, i;

    (void)state;
    make_names(20);
    for (ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        size_t k = ks[ki];
        struct ring *r = build(1024, 3, names, k);
        unsigned load[20] = {0}, mn = ~0u, mx = 0;
        double ideal = 3.0 * 1024 / (double)k;
        uint32_t p;

        for (p = 0; p < 1024; p++) {
            unsigned pl[RING_MAX_N];
            size_t n;

            assert_int_equal(ring_preflist(r, p, pl, RING_MAX_N, &n), RC_OK);
            for (i = 0; i < n; i++) {
                load[pl[i]]++;
            }
        }
        for (i = 0; i < k; i++) {
            mn = load[i] < mn ? load[i] : mn;
            mx = load[i] > mx ? load[i] : mx;
        }
        print_message("# replica load Q=1024 N=3 k=%zu: min %u max %u ideal %.1f\n", k, mn, mx,
                      ideal);
        assert_true(mn >= 0.85 * ideal && mx <= 1.15 * ideal);
        ring_destroy(r);
    }
}

/* ------------------------------------------------------------ determinism and hash */

static void
test_determinism(void **state)
{
    const char *v[MAXN];
    size_t k, s, i;

    (void)state;
    make_names(24);
    for (k = 1; k <= 24; k += 5) {
        struct ring *ref = build(256, 3, names, k);

        for (s = 0; s < 8; s++) {
            struct ring *r;
            char a[RING_HASH_STR_LEN], b[RING_HASH_STR_LEN];
            uint32_t p;

            memcpy(v, names, k * sizeof(v[0]));
            shuffle(v, k, 1000 + s);
            r = build(256, 3, v, k);
            assert_true(ring_hash(r) == ring_hash(ref));
            ring_hash_str(r, a);
            ring_hash_str(ref, b);
            assert_string_equal(a, b);
            for (i = 0; i < k; i++) {
                assert_string_equal(ring_node_name(r, i), ring_node_name(ref, i));
            }
            for (p = 0; p < 256; p++) {
                assert_int_equal(ring_owner(r, p), ring_owner(ref, p));
            }
            ring_destroy(r);
        }
        ring_destroy(ref);
    }
}

static void
test_hash_differs(void **state)
{
    const char *base[] = {"n1", "n2", "n3", "n4"};
    const char *renamed[] = {"n1", "n2", "n3", "n5"};
    const char *onebyte[] = {"n1", "n2", "n3", "n4x"};
    const char *fewer[] = {"n1", "n2", "n3"};
    const char *more[] = {"n1", "n2", "n3", "n4", "n0"};
    struct ring *r[8];
    char s[RING_HASH_STR_LEN];
    size_t i, j;

    (void)state;
    r[0] = build(1024, 3, base, 4);
    r[1] = build(512, 3, base, 4);
    r[2] = build(1024, 2, base, 4);
    r[3] = build(1024, 3, renamed, 4);
    r[4] = build(1024, 3, onebyte, 4);
    r[5] = build(1024, 3, fewer, 3);
    r[6] = build(1024, 3, more, 5);
    r[7] = build(1024, 5, base, 4); /* same effective N as 4, different requested */
    for (i = 0; i < 8; i++) {
        for (j = i + 1; j < 8; j++) {
            assert_true(ring_hash(r[i]) != ring_hash(r[j]));
        }
    }
    ring_hash_str(r[0], s);
    assert_int_equal(strlen(s), 16);
    for (i = 0; i < 16; i++) {
        assert_non_null(strchr("0123456789abcdef", s[i]));
    }
    for (i = 0; i < 8; i++) {
        ring_destroy(r[i]);
    }
}

/* ------------------------------------------------------------ known answers */

/* Frozen: these fail if the key -> partition mapping or the claim changes,
 * which would move stored keys or split a cluster of mixed versions. */
static void
test_known_answers(void **state)
{
    static const struct {
        const char *key;
        uint32_t q;
        uint32_t p;
    } kat[] = {
        {"", 2, 1},
        {"", 1024, 959},
        {"", 65536, 61392},
        {"a", 2, 1},
        {"a", 1024, 522},
        {"a", 65536, 33442},
        {"foo", 1, 0},
        {"foo", 2, 1},
        {"foo", 1024, 702},
        {"foo", 65536, 44933},
        {"user:1000", 2, 0},
        {"user:1000", 1024, 455},
        {"user:1000", 65536, 29180},
        {"ringcached", 1024, 712},
        {"ringcached", 65536, 45618},
    };
    static const unsigned owners[16] = {2, 0, 2, 2, 0, 0, 2, 1, 2, 2, 2, 2, 0, 0, 2, 0};
    const char *v[] = {"node-c", "node-a", "node-b"};
    struct ring *r;
    char s[RING_HASH_STR_LEN];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        uint32_t got = ring_key_partition(kat[i].q, kat[i].key, strlen(kat[i].key));
        unsigned bits = 0;

        while ((1u << bits) < kat[i].q) {
            bits++;
        }
        /* the documented rule, computed independently */
        assert_int_equal(got,
                         bits == 0 ? 0 : hash_key64(kat[i].key, strlen(kat[i].key)) >> (64 - bits));
        if (got != kat[i].p) {
            print_message("# key '%s' q %u: partition %u\n", kat[i].key, kat[i].q, got);
        }
        assert_int_equal(got, kat[i].p);
    }
    r = build(1024, 3, v, 3);
    assert_int_equal(ring_partition(r, "foo", 3), ring_key_partition(1024, "foo", 3));
    ring_hash_str(r, s);
    print_message("# ring hash Q=1024 N=3 node-a..c: %s owners %u %u %u %u\n", s, ring_owner(r, 0),
                  ring_owner(r, 1), ring_owner(r, 2), ring_owner(r, 3));
    assert_string_equal(s, "d769820f45035f57");
    for (i = 0; i < 16; i++) {
        assert_int_equal(ring_owner(r, (uint32_t)i), owners[i]);
    }
    ring_destroy(r);
}

/* ------------------------------------------------------------ sloppy quorum */

/* Distinct nodes after the preference list, walking the ring from p. */
static size_t
walk_beyond(const struct ring *r, uint32_t p, unsigned *out)
{
    bool seen[MAXN] = {false};
    size_t got = 0, j;

    for (j = 0; j < ring_q(r); j++) {
        unsigned o = ring_owner(r, (uint32_t)((p + j) % ring_q(r)));

        if (!seen[o]) {
            seen[o] = true;
            out[got++] = o;
        }
    }
    return got; /* out[0..n) is the preference list, then the fallbacks */
}

static void
test_sloppy(void **state)
{
    struct ring *r;
    struct ring_target tg[RING_MAX_N];
    unsigned order[MAXN];
    bool healthy[MAXN];
    size_t n, i, k = 6;
    uint32_t p;

    (void)state;
    make_names(k);
    r = build(64, 3, names, k);
    for (p = 0; p < 64; p++) {
        assert_int_equal(walk_beyond(r, p, order), k);

        /* all healthy: the preference list itself */
        for (i = 0; i < k; i++) {
            healthy[i] = true;
        }
        assert_int_equal(ring_sloppy(r, p, healthy, tg, RING_MAX_N, &n), RC_OK);
        assert_int_equal(n, 3);
        for (i = 0; i < 3; i++) {
            assert_int_equal(tg[i].node, order[i]);
            assert_int_equal(tg[i].owner, order[i]);
            assert_false(tg[i].fallback);
        }

        /* the second member down: the fourth node stands in for it */
        healthy[order[1]] = false;
        assert_int_equal(ring_sloppy(r, p, healthy, tg, 3, &n), RC_OK);
        assert_int_equal(n, 3);
        assert_int_equal(tg[0].node, order[0]);
        assert_false(tg[0].fallback);
        assert_int_equal(tg[1].node, order[3]);
        assert_int_equal(tg[1].owner, order[1]);
        assert_true(tg[1].fallback);
        assert_int_equal(tg[2].node, order[2]);
        assert_false(tg[2].fallback);

        /* owner and the fourth node down too: the fifth and sixth stand in */
        healthy[order[0]] = false;
        healthy[order[3]] = false;
        assert_int_equal(ring_sloppy(r, p, healthy, tg, 3, &n), RC_OK);
        assert_int_equal(n, 3);
        assert_int_equal(tg[0].node, order[4]);
        assert_int_equal(tg[0].owner, order[0]);
        assert_true(tg[0].fallback);
        assert_int_equal(tg[1].node, order[5]);
        assert_int_equal(tg[1].owner, order[1]);
        assert_true(tg[1].fallback);
        assert_int_equal(tg[2].node, order[2]);
        assert_int_equal(tg[2].owner, order[2]);
        assert_false(tg[2].fallback);

        /* only two healthy nodes left: two targets */
        healthy[order[2]] = false;
        assert_int_equal(ring_sloppy(r, p, healthy, tg, 3, &n), RC_OK);
        assert_int_equal(n, 2);
        assert_int_equal(tg[0].node, order[4]);
        assert_int_equal(tg[1].node, order[5]);
        assert_int_equal(tg[1].owner, order[1]);

        /* a healthy non-member only: one target, standing in for the owner */
        healthy[order[4]] = false;
        assert_int_equal(ring_sloppy(r, p, healthy, tg, 3, &n), RC_OK);
        assert_int_equal(n, 1);
        assert_int_equal(tg[0].node, order[5]);
        assert_int_equal(tg[0].owner, order[0]);
        assert_true(tg[0].fallback);

        /* nothing healthy: no targets */
        healthy[order[5]] = false;
        assert_int_equal(ring_sloppy(r, p, healthy, tg, 3, &n), RC_OK);
        assert_int_equal(n, 0);
    }
    ring_destroy(r);

    /* N = nodes: nobody to stand in, a down member is just dropped */
    r = build(64, 3, names, 3);
    for (i = 0; i < 3; i++) {
        healthy[i] = i != 1;
    }
    for (p = 0; p < 64; p++) {
        assert_int_equal(ring_sloppy(r, p, healthy, tg, 3, &n), RC_OK);
        assert_int_equal(n, 2);
        for (i = 0; i < n; i++) {
            assert_int_not_equal(tg[i].node, 1);
            assert_false(tg[i].fallback);
        }
    }
    ring_destroy(r);
}

/* ------------------------------------------------------------ movement */

/* Adding node-k to node-0..node-(k-1), Q = 1024, N = 3. The minimum any
 * balanced claim can move is the new node's share; measured (owners moved /
 * share; replica copies moved / the new node's N*Q/(k+1) share):
 *   k -> k+1   owners moved (share)   x     replica copies   x
 *   1 -> 2     512 (512)           1.00    1024            0.67 (N grows)
 *   2 -> 3     355 (341)           1.04    1024            1.00
 *   3 -> 4     272 (256)           1.06     788            1.03
 *   4 -> 5     220 (205)           1.07     629            1.02
 *   5 -> 6     183 (171)           1.07     584            1.14
 *   7 -> 8     147 (128)           1.15     441            1.15
 *   9 -> 10    118 (102)           1.16     370            1.20
 *  15 -> 16     81 (64)            1.27     251            1.31
 *  19 -> 20     68 (51)            1.33     214            1.39
 *  20 -> 21     71 (49)            1.45     219            1.50
 *   all of 1..20 -> +1: 3043 owners moved for a minimum of 2709 (1.12x).
 * The excess comes from the old nodes' uneven losses to the new node being
 * rebalanced; it grows like sqrt(Q) in absolute terms, so larger Q moves
 * relatively less (Q = 16384, k = 19 -> 20: about 1.15x). Asserted: owners
 * moved <= 1.6 * share + 8 for every step. Removing the node moves exactly the same partitions. */
static void
test_movement_add(void **state)
{
    static const uint32_t qs[] = {256, 1024, 4096};
    size_t qi, k, total_moved = 0, total_share = 0;

    (void)state;
    make_names(21);
    for (qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++) {
        uint32_t q = qs[qi];

        for (k = 1; k <= 20; k++) {
            struct ring *a = build(q, 3, names, k), *b = build(q, 3, names, k + 1);
            size_t om, rm, om2, rm2, idx = index_of(b, names[k]), share, cascade = 0;
            uint32_t p;

            share = ring_node_partitions(b, idx);
            assert_int_equal(ring_diff(a, b, &om, &rm), RC_OK);
            /* the new node's partitions all moved; the rest is the cascade */
            assert_true(om >= share);
            for (p = 0; p < q; p++) {
                if (ring_owner(b, p) != idx) {
                    cascade += strcmp(ring_node_name(b, ring_owner(b, p)),
                                      ring_node_name(a, ring_owner(a, p))) != 0;
                }
            }
            assert_int_equal(cascade, om - share);
            if (q == 1024) {
                print_message("# Q=1024 k=%zu->%zu: owners moved %zu (share %zu, %.2fx), "
                              "replicas moved %zu (%.2fx)\n",
                              k, k + 1, om, share, (double)om / (double)share, rm,
                              (double)rm * (double)(k + 1) / ((double)ring_n(b) * q));
                total_moved += om;
                total_share += share;
            }
            assert_true((double)om <= 1.6 * (double)share + 8);
            /* the reverse (node leaves) moves the same partitions back */
            assert_int_equal(ring_diff(b, a, &om2, &rm2), RC_OK);
            assert_int_equal(om2, om);
            ring_destroy(a);
            ring_destroy(b);
        }
    }
    print_message("# Q=1024 k=1..20: %zu owners moved for %zu minimum\n", total_moved, total_share);
}

/* The new node sorts first, in the middle or last: indices shift but the
 * movement bound is the same (it depends on names' hashes, not order). And
 * round-robin striping, for comparison, would move nearly everything. */
static void
test_movement_positions(void **state)
{
    static const char *const base[] = {"b", "d", "f", "h", "j", "l", "n", "p"};
    static const char *const extra[] = {"a", "i", "z"};
    const char *v[9];
    struct ring *a = build(1024, 3, base, 8);
    size_t i, om, rm, rr = 0;
    uint32_t p;

    (void)state;
    for (i = 0; i < 3; i++) {
        struct ring *b;

        memcpy(v, base, sizeof(base));
        v[8] = extra[i];
        b = build(1024, 3, v, 9);
        assert_int_equal(ring_diff(a, b, &om, &rm), RC_OK);
        print_message("# Q=1024 8->9 adding '%s': owners moved %zu (share %u)\n", extra[i], om,
                      ring_node_partitions(b, index_of(b, extra[i])));
        assert_true((double)om <= 1.6 * ring_node_partitions(b, index_of(b, extra[i])) + 8);
        ring_destroy(b);
    }
    for (p = 0; p < 1024; p++) {
        rr += p % 8 != p % 9; /* striping, the new node sorting last */
    }
    print_message("# round-robin striping 8->9 would move %zu of 1024\n", rr);
    ring_destroy(a);
}

/* ------------------------------------------------------------ keys */

static void
test_key_spread(void **state)
{
    unsigned count[64] = {0};
    char key[32];
    size_t i;

    (void)state;
    /* sequential keys spread evenly over the partitions */
    for (i = 0; i < 64000; i++) {
        snprintf(key, sizeof(key), "key:%zu", i);
        count[ring_key_partition(64, key, strlen(key))]++;
    }
    for (i = 0; i < 64; i++) {
        assert_true(count[i] > 850 && count[i] < 1150);
    }
    assert_int_equal(ring_key_partition(1, "anything", 8), 0);
    /* doubling Q splits partition p into 2p and 2p+1 */
    for (i = 0; i < 1000; i++) {
        uint32_t p;

        snprintf(key, sizeof(key), "k%zu", i);
        p = ring_key_partition(1024, key, strlen(key));
        assert_int_equal(ring_key_partition(2048, key, strlen(key)) >> 1, p);
        assert_int_equal(ring_key_partition(512, key, strlen(key)), p >> 1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_preflists),
        cmocka_unit_test(test_replica_load),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_hash_differs),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_sloppy),
        cmocka_unit_test(test_movement_add),
        cmocka_unit_test(test_movement_positions),
        cmocka_unit_test(test_key_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
