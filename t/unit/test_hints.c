/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_hints.c - the hint store (store/hints.h) on every engine, the way
 * test_store.c runs its suite: each engine-dependent test is listed once
 * per engine, with a fresh store in a mkdtemp directory.
 *
 * The records used here are sets of 8-byte tokens (sorted, unique) and the
 * merge function is set union, the property an object merge has that the
 * same-key rule relies on: so "no version lost" can be checked as "every
 * token put is still in some pending hint of its key".
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/status.h"
#include "base/util.h"
#include "store/engine.h"
#include "store/hints.h"
#include "store/store.h"
#include "store_fixture.h"

#define TOK 8

static const enum store_kind kind_bdb = STORE_KIND_BDB;
static const enum store_kind kind_mem = STORE_KIND_MEM;

static const uint8_t target_a[STORE_HINT_ID_SIZE] = {0xa0, 1, 2,  3,  4,  5,  6,  7,
                                                     8,    9, 10, 11, 12, 13, 14, 0xaf};
static const uint8_t target_b[STORE_HINT_ID_SIZE] = {0xb0, 0, 0, 0, 0, 0, 0, 0,
                                                     0,    0, 0, 0, 0, 0, 0, 0xbf};
static const uint8_t target_c[STORE_HINT_ID_SIZE] = {0xc0};

/* ------------------------------------------------------------ helpers */

static int
fixture_reopen(struct store_fixture *fx)
{
    return store_fixture_reopen(fx);
}

static int
setup_store(void **state)
{
    return store_fixture_setup(state, "hints", *(const enum store_kind *)*state, 0);
}

static int
teardown_store(void **state)
{
    return store_fixture_teardown(state);
}

/* Token sets: a record is a sorted run of distinct TOK-byte tokens. */
static int
merge_union(void *arg, const void *older, size_t nolder, const void *newer, size_t nnewer,
            struct buf *out)
{
    const char *a = older, *b = newer;
    size_t i = 0, j = 0;
    int c;

    if (arg != NULL) {
        (*(int *)arg)++;
    }
    if (nolder % TOK != 0 || nnewer % TOK != 0) {
        return RC_ECORRUPT;
    }
    buf_reset(out);
    while (i < nolder || j < nnewer) {
        if (i == nolder) {
            c = 1;
        } else if (j == nnewer) {
            c = -1;
        } else {
            c = memcmp(a + i, b + j, TOK);
        }
        if (buf_append(out, c <= 0 ? a + i : b + j, TOK) != RC_OK) {
            return RC_ENOMEM;
        }
        if (c <= 0) {
            i += TOK;
        }
        if (c >= 0) {
            j += TOK;
        }
    }
    return RC_OK;
}

static int
merge_fail(void *arg, const void *older, size_t nolder, const void *newer, size_t nnewer,
           struct buf *out)
{
    (void)arg;
    (void)older;
    (void)nolder;
    (void)newer;
    (void)nnewer;
    (void)out;
    return RC_EPROTO;
}

static void
tok(char out[TOK + 1], const char *prefix, int n)
{
    char tmp[32];

    snprintf(tmp, sizeof(tmp), "%s%07d", prefix, n);
    assert_true(strlen(tmp) >= TOK);
    memcpy(out, tmp + strlen(tmp) - TOK, TOK);
    out[TOK] = '\0';
}

static int
put(struct store *st, const uint8_t *target, const char *key, const char *rec, uint32_t part,
    int64_t now, store_hint_merge_fn merge, uint64_t *id)
{
    struct store_hint h = {
        .arrival_ms = now,
        .partition = part,
        .key = key,
        .nkey = strlen(key),
        .rec = rec,
        .nrec = strlen(rec),
    };
    int rc = store_hint_put(st, target, &h, merge, NULL);

    if (rc == RC_OK && id != NULL) {
        *id = h.id;
    }
    return rc;
}

#define MAX_SEEN 1024

struct seen {
    int n;
    uint64_t id[MAX_SEEN];
    int64_t arrival[MAX_SEEN];
    uint32_t part[MAX_SEEN];
    char key[MAX_SEEN][32];
    char rec[MAX_SEEN][1024];
};

static int
collect(void *arg, const struct store_hint *h)
{
    struct seen *s = arg;

    assert_true(s->n < MAX_SEEN);
    s->id[s->n] = h->id;
    s->arrival[s->n] = h->arrival_ms;
    s->part[s->n] = h->partition;
    assert_true(h->nkey < sizeof(s->key[0]));
    memcpy(s->key[s->n], h->key, h->nkey);
    s->key[s->n][h->nkey] = '\0';
    assert_true(h->nrec < sizeof(s->rec[0]));
    memcpy(s->rec[s->n], h->rec, h->nrec);
    s->rec[s->n][h->nrec] = '\0';
    s->n++;
    return 0;
}

/* Every hint of target, in one scan. */
static void
scan_all(struct store *st, const uint8_t *target, struct seen *s)
{
    uint64_t cursor = 0;
    bool done = false;

    memset(s, 0, sizeof(*s));
    assert_int_equal(store_hint_scan(st, target, &cursor, 0, collect, s, &done), RC_OK);
    assert_true(done);
}

static struct store_hint_stats
stats_of(struct store *st, const uint8_t *target)
{
    struct store_hint_stats hs;

    assert_int_equal(store_hint_stats(st, target, &hs), RC_OK);
    return hs;
}

struct repair_seen {
    int n;
    uint32_t part[64];
    uint64_t drops[64];
    uint8_t target[64][STORE_HINT_ID_SIZE];
};

static int
repair_collect(void *arg, const uint8_t *target, uint32_t partition, int64_t first_ms,
               uint64_t drops)
{
    struct repair_seen *r = arg;

    assert_true(first_ms > 0);
    assert_true(r->n < 64);
    r->part[r->n] = partition;
    r->drops[r->n] = drops;
    memcpy(r->target[r->n], target, STORE_HINT_ID_SIZE);
    r->n++;
    return 0;
}

static struct repair_seen
repairs_of(struct store *st, const uint8_t *target)
{
    struct repair_seen r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(store_hint_repairs(st, target, repair_collect, &r), RC_OK);
    return r;
}

struct target_seen {
    int n;
    uint8_t id[16][STORE_HINT_ID_SIZE];
};

static int
target_collect(void *arg, const uint8_t *id)
{
    struct target_seen *t = arg;

    assert_true(t->n < 16);
    memcpy(t->id[t->n++], id, STORE_HINT_ID_SIZE);
    return 0;
}

static bool
has_target(struct store *st, const uint8_t *id)
{
    struct target_seen t = {0};
    int i;

    assert_int_equal(store_hint_targets(st, target_collect, &t), RC_OK);
    for (i = 0; i < t.n; i++) {
        if (memcmp(t.id[i], id, STORE_HINT_ID_SIZE) == 0) {
            return true;
        }
    }
    return false;
}

struct stat_find {
    const char *name;
    char value[48];
    bool found;
};

static void
stat_find_cb(void *arg, const char *name, const char *value)
{
    struct stat_find *f = arg;

    if (strcmp(name, f->name) == 0) {
        snprintf(f->value, sizeof(f->value), "%s", value);
        f->found = true;
    }
}

static unsigned long long
store_stat(struct store *st, const char *name)
{
    struct stat_find f = {.name = name};

    store_stats(st, stat_find_cb, &f);
    assert_true(f.found);
    return strtoull(f.value, NULL, 10);
}

/* ------------------------------------------------------------ tests */

static void
test_round_trip(void **state)
{
    struct store_fixture *fx = *state;
    struct store_hint_stats hs;
    struct seen s;
    uint64_t id1, id2, t;

    assert_int_equal(store_hint_stats(fx->st, target_a, &hs), RC_ENOTFOUND);
    assert_false(has_target(fx->st, target_a));
    assert_int_equal(put(fx->st, target_a, "alpha", "record-1", 7, 1000, NULL, &id1), RC_OK);
    assert_int_equal(put(fx->st, target_a, "beta", "", 9, 1001, NULL, &id2), RC_OK);
    assert_true(id1 > 0 && id2 > id1);
    t = store_sync_ticket(fx->st);
    assert_int_equal(store_fixture_wait_ticket(fx->st, t), RC_OK);
    assert_true(has_target(fx->st, target_a));

    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 2);
    assert_true(s.id[0] == id1 && s.id[1] == id2);
    assert_string_equal(s.key[0], "alpha");
    assert_string_equal(s.rec[0], "record-1");
    assert_int_equal(s.part[0], 7);
    assert_true(s.arrival[0] == 1000);
    assert_string_equal(s.key[1], "beta");
    assert_string_equal(s.rec[1], "");
    assert_int_equal(s.part[1], 9);

    hs = stats_of(fx->st, target_a);
    assert_int_equal(hs.pending, 2);
    assert_int_equal(hs.bytes, 2 * STORE_HINT_OVERHEAD + 5 + 8 + 4 + 0);
    assert_true(hs.oldest_ms == 1000);
    assert_int_equal(hs.stored, 2);
    assert_int_equal(store_stat(fx->st, "hints_pending"), 2);
    assert_int_equal(store_stat(fx->st, "hints_targets"), 1);

    /* Delete after the "ack": exactly that hint goes, once. */
    assert_int_equal(store_hint_delete(fx->st, target_a, id1), RC_OK);
    assert_int_equal(store_hint_delete(fx->st, target_a, id1), RC_ENOTFOUND);
    assert_int_equal(store_hint_delete(fx->st, target_b, id2), RC_ENOTFOUND);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 1);
    assert_true(s.id[0] == id2);
    hs = stats_of(fx->st, target_a);
    assert_int_equal(hs.pending, 1);
    assert_int_equal(hs.bytes, STORE_HINT_OVERHEAD + 4);
    assert_true(hs.oldest_ms == 1001);
    assert_int_equal(hs.replayed, 1);
    assert_int_equal(store_hint_delete(fx->st, target_a, id2), RC_OK);
    hs = stats_of(fx->st, target_a);
    assert_int_equal(hs.pending, 0);
    assert_int_equal(hs.bytes, 0);
    assert_true(hs.oldest_ms == 0);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(store_stat(fx->st, "hints_replayed"), 2);
    /* A new hint after the queue emptied still gets a fresh id. */
    assert_int_equal(put(fx->st, target_a, "alpha", "again", 7, 1002, NULL, &id1), RC_OK);
    assert_true(id1 > id2);
}

static void
test_arrival_order(void **state)
{
    struct store_fixture *fx = *state;
    char key[32], rec[32];
    uint64_t cursor = 0, last = 0, ids[300];
    struct seen s;
    bool done = false;
    int i, total = 0, calls = 0;

    /* Keys in an order unrelated to arrival. */
    for (i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "k%03d", (i * 7919) % 1000);
        snprintf(rec, sizeof(rec), "r%d", i);
        assert_int_equal(put(fx->st, target_a, key, rec, (uint32_t)i, 5000 + i, NULL, &ids[i]),
                         RC_OK);
        assert_true(ids[i] > last);
        last = ids[i];
    }
    /* Resumable scan in batches of 7: arrival order, nothing twice. */
    memset(&s, 0, sizeof(s));
    while (!done) {
        assert_int_equal(store_hint_scan(fx->st, target_a, &cursor, 7, collect, &s, &done), RC_OK);
        assert_true(++calls < 100);
    }
    assert_int_equal(s.n, 300);
    for (i = 0; i < 300; i++) {
        snprintf(rec, sizeof(rec), "r%d", i);
        assert_true(s.id[i] == ids[i]);
        assert_string_equal(s.rec[i], rec);
        assert_true(s.arrival[i] == 5000 + i);
        total++;
    }
    assert_int_equal(total, 300);
    /* A cursor in the middle continues from there. */
    cursor = ids[149];
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_hint_scan(fx->st, target_a, &cursor, 1, collect, &s, &done), RC_OK);
    assert_int_equal(s.n, 1);
    assert_true(s.id[0] == ids[150]);
    assert_true(cursor == ids[150]);
    /* Deleting some leaves the others in order. */
    for (i = 0; i < 300; i += 2) {
        assert_int_equal(store_hint_delete(fx->st, target_a, ids[i]), RC_OK);
    }
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 150);
    for (i = 0; i < 150; i++) {
        assert_true(s.id[i] == ids[2 * i + 1]);
    }
}

static void
test_targets_isolated(void **state)
{
    struct store_fixture *fx = *state;
    struct seen s;
    uint64_t ida, idb;
    struct target_seen t = {0};

    assert_int_equal(put(fx->st, target_a, "same", "for-a", 1, 10, merge_union, &ida), RC_OK);
    assert_int_equal(put(fx->st, target_b, "same", "for-b", 1, 11, merge_union, &idb), RC_OK);
    assert_int_equal(put(fx->st, target_b, "other", "b-only", 2, 12, NULL, NULL), RC_OK);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.rec[0], "for-a");
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.rec[0], "for-b");
    /* An unknown target has nothing. */
    scan_all(fx->st, target_c, &s);
    assert_int_equal(s.n, 0);
    assert_false(has_target(fx->st, target_c));
    /* Ids are per target; deleting in one leaves the other alone. */
    assert_int_equal(store_hint_delete(fx->st, target_a, ida), RC_OK);
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(stats_of(fx->st, target_b).pending, 2);
    assert_int_equal(stats_of(fx->st, target_a).pending, 0);
    assert_int_equal(store_hint_targets(fx->st, target_collect, &t), RC_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(store_stat(fx->st, "hints_pending"), 2);
}

static void
test_reopen_keeps_hints(void **state)
{
    struct store_fixture *fx = *state;
    struct store_hint_stats before, after;
    struct repair_seen r;
    struct seen s;
    uint64_t id1, id2, id3;
    char path[256];
    struct stat sb;

    fx->cfg.hint_max_bytes = 200;
    assert_int_equal(fixture_reopen(fx), RC_OK);
    assert_int_equal(put(fx->st, target_a, "k1", "v1", 3, 100, NULL, &id1), RC_OK);
    assert_int_equal(put(fx->st, target_a, "k2", "v2", 4, 101, NULL, &id2), RC_OK);
    assert_int_equal(put(fx->st, target_b, "k3", "v3", 5, 102, NULL, NULL), RC_OK);
    assert_int_equal(store_hint_delete(fx->st, target_a, id2), RC_OK);
    {
        char big[300];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(put(fx->st, target_a, "big", big, 42, 103, NULL, NULL), RC_ETOOLARGE);
    }
    before = stats_of(fx->st, target_a);
    /* One file per target, named after it. */
    snprintf(path, sizeof(path), "%s/hints-a00102030405060708090a0b0c0d0eaf.db", fx->data_dir);
    assert_int_equal(stat(path, &sb), 0);

    assert_int_equal(fixture_reopen(fx), RC_OK);
    assert_true(has_target(fx->st, target_a));
    assert_true(has_target(fx->st, target_b));
    after = stats_of(fx->st, target_a);
    assert_int_equal(after.pending, before.pending);
    assert_int_equal(after.bytes, before.bytes);
    assert_int_equal(after.repair_parts, 1);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 1);
    assert_true(s.id[0] == id1);
    assert_string_equal(s.rec[0], "v1");
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 1);
    r = repairs_of(fx->st, target_a);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.part[0], 42);
    /* Ids are never reused, even the deleted newest one. */
    assert_int_equal(put(fx->st, target_a, "k4", "v4", 3, 104, NULL, &id3), RC_OK);
    assert_true(id3 > id2);
}

static void
test_byte_bound(void **state)
{
    struct store_fixture *fx = *state;
    struct store_hint_stats hs;
    struct repair_seen r;
    struct seen s;
    uint64_t id;
    int i, stored = 0, refused = 0;
    char key[16];

    /* Room for exactly 4 hints of 25 + 2 + 8 bytes. */
    fx->cfg.hint_max_bytes = 4 * (STORE_HINT_OVERHEAD + 2 + 8);
    assert_int_equal(fixture_reopen(fx), RC_OK);
    for (i = 0; i < 6; i++) {
        int rc;

        snprintf(key, sizeof(key), "k%d", i);
        rc = put(fx->st, target_a, key, "12345678", (uint32_t)(100 + i), 1000 + i, NULL, &id);
        if (rc == RC_OK) {
            stored++;
        } else {
            assert_int_equal(rc, RC_ETOOLARGE);
            refused++;
        }
    }
    assert_int_equal(stored, 4);
    assert_int_equal(refused, 2);
    hs = stats_of(fx->st, target_a);
    assert_int_equal(hs.pending, 4);
    assert_int_equal(hs.bytes, fx->cfg.hint_max_bytes);
    assert_int_equal(hs.dropped_bytes, 2);
    assert_int_equal(hs.repair_parts, 2);
    assert_int_equal(store_stat(fx->st, "hints_dropped"), 2);
    r = repairs_of(fx->st, target_a);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.part[0], 104);
    assert_int_equal(r.part[1], 105);
    assert_int_equal(r.drops[0], 1);
    /* A second refusal of the same partition counts in its entry. */
    assert_int_equal(put(fx->st, target_a, "k9", "12345678", 104, 2000, NULL, NULL), RC_ETOOLARGE);
    r = repairs_of(fx->st, target_a);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.drops[0], 2);
    /* Other targets have their own bound and repair set. */
    assert_int_equal(put(fx->st, target_b, "k0", "12345678", 1, 1000, NULL, NULL), RC_OK);
    r = repairs_of(fx->st, target_b);
    assert_int_equal(r.n, 0);
    r = repairs_of(fx->st, NULL);
    assert_int_equal(r.n, 2);
    assert_memory_equal(r.target[0], target_a, STORE_HINT_ID_SIZE);
    /* A hint bigger than the whole bound is refused outright. */
    {
        char big[256];

        memset(big, 'y', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(put(fx->st, target_b, "huge", big, 7, 1000, NULL, NULL), RC_ETOOLARGE);
    }
    /* Room again once a hint is replayed. */
    assert_int_equal(store_hint_delete(fx->st, target_a, id), RC_OK);
    assert_int_equal(put(fx->st, target_a, "k5", "12345678", 105, 3000, NULL, NULL), RC_OK);
    /* A merge that would pass the bound keeps the hint it would absorb. */
    assert_int_equal(put(fx->st, target_a, "k5", "abcdefgh", 105, 3001, merge_union, NULL),
                     RC_ETOOLARGE);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.key[3], "k5");
    assert_string_equal(s.rec[3], "12345678");
    /* Repaired partitions are cleared by the caller. */
    assert_int_equal(store_hint_repair_clear(fx->st, target_a, 104), RC_OK);
    assert_int_equal(store_hint_repair_clear(fx->st, target_a, 104), RC_ENOTFOUND);
    r = repairs_of(fx->st, target_a);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.part[0], 105);
}

static void
test_age_reaping(void **state)
{
    struct store_fixture *fx = *state;
    struct store_hint_stats hs;
    struct repair_seen r;
    struct seen s;
    uint64_t reaped, ids[5];
    int64_t now = 10 * 1000 * 1000;
    int i;

    fx->cfg.hint_max_age_ms = 60000;
    assert_int_equal(fixture_reopen(fx), RC_OK);
    assert_int_equal(store_hint_reap(fx->st, now, &reaped), RC_OK); /* nothing yet */
    assert_true(reaped == 0);
    /* Three old hints (two of one key, kept side by side), two young. */
    assert_int_equal(put(fx->st, target_a, "old1", "a", 11, now - 90000, NULL, &ids[0]), RC_OK);
    assert_int_equal(put(fx->st, target_a, "old1", "b", 11, now - 80000, NULL, &ids[1]), RC_OK);
    assert_int_equal(put(fx->st, target_a, "old2", "c", 12, now - 60000, NULL, &ids[2]), RC_OK);
    assert_int_equal(put(fx->st, target_a, "new1", "d", 13, now - 59999, NULL, &ids[3]), RC_OK);
    assert_int_equal(put(fx->st, target_b, "new2", "e", 14, now, NULL, &ids[4]), RC_OK);
    assert_int_equal(store_hint_reap(fx->st, now, &reaped), RC_OK);
    assert_true(reaped == 3);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 1);
    assert_true(s.id[0] == ids[3]);
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 1);
    hs = stats_of(fx->st, target_a);
    assert_int_equal(hs.dropped_age, 3);
    assert_int_equal(hs.pending, 1);
    assert_int_equal(hs.bytes, STORE_HINT_OVERHEAD + 4 + 1);
    assert_int_equal(hs.repair_parts, 2);
    r = repairs_of(fx->st, target_a);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.part[0], 11);
    assert_int_equal(r.drops[0], 2);
    assert_int_equal(r.part[1], 12);
    assert_int_equal(r.drops[1], 1);
    assert_int_equal(store_stat(fx->st, "hints_dropped"), 3);
    /* The key index followed: a new hint of old1 merges with nothing. */
    assert_int_equal(put(fx->st, target_a, "old1", "zzzzzzzz", 11, now, merge_union, NULL), RC_OK);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.rec[1], "zzzzzzzz");
    /* Later, everything is old. */
    assert_int_equal(store_hint_reap(fx->st, now + 120000, &reaped), RC_OK);
    assert_true(reaped == 3);
    for (i = 0; i < 2; i++) {
        scan_all(fx->st, i ? target_b : target_a, &s);
        assert_int_equal(s.n, 0);
    }
    /* Many at once (more than one reaping batch). */
    for (i = 0; i < 200; i++) {
        char key[16];

        snprintf(key, sizeof(key), "m%d", i);
        assert_int_equal(put(fx->st, target_c, key, "x", (uint32_t)(i % 3), now, NULL, NULL),
                         RC_OK);
    }
    assert_int_equal(store_hint_reap(fx->st, now + 60000, &reaped), RC_OK);
    assert_true(reaped == 200);
    hs = stats_of(fx->st, target_c);
    assert_int_equal(hs.pending, 0);
    assert_int_equal(hs.bytes, 0);
    assert_int_equal(hs.repair_parts, 3);
}

static void
test_replaced_hint_delete(void **state)
{
    struct store_fixture *fx = *state;
    struct store_hint_stats hs;
    struct seen s;
    uint64_t id1, id2, id3, id4;
    int calls = 0;
    struct store_hint h;

    /* With a merge function: one hint per key, the newest id holds all. */
    assert_int_equal(put(fx->st, target_a, "key", "AAAAAAAA", 5, 100, merge_union, &id1), RC_OK);
    assert_int_equal(put(fx->st, target_a, "zzz", "ZZZZZZZZ", 6, 101, merge_union, NULL), RC_OK);
    h = (struct store_hint){
        .arrival_ms = 102, .partition = 5, .key = "key", .nkey = 3, .rec = "BBBBBBBB", .nrec = 8};
    assert_int_equal(store_hint_put(fx->st, target_a, &h, merge_union, &calls), RC_OK);
    id2 = h.id;
    assert_int_equal(calls, 1);
    assert_true(id2 > id1);
    assert_memory_equal(h.rec, "BBBBBBBB", 8); /* the caller's bytes, untouched */
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.key[0], "zzz");
    assert_string_equal(s.key[1], "key"); /* moved to the back: it arrived again */
    assert_true(s.id[1] == id2);
    assert_string_equal(s.rec[1], "AAAAAAAABBBBBBBB");
    hs = stats_of(fx->st, target_a);
    assert_int_equal(hs.pending, 2);
    assert_int_equal(hs.bytes, 2 * STORE_HINT_OVERHEAD + 3 + 16 + 3 + 8);
    assert_int_equal(hs.merged, 1);
    /* The ack for the replaced hint deletes nothing: the newer one stays. */
    assert_int_equal(store_hint_delete(fx->st, target_a, id1), RC_ENOTFOUND);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.rec[1], "AAAAAAAABBBBBBBB");
    assert_int_equal(stats_of(fx->st, target_a).replayed, 0);
    /* A failing merge fails the put and changes nothing. */
    assert_int_equal(put(fx->st, target_a, "key", "CCCCCCCC", 5, 103, merge_fail, NULL), RC_EPROTO);
    scan_all(fx->st, target_a, &s);
    assert_int_equal(s.n, 2);
    assert_true(s.id[1] == id2);
    assert_int_equal(store_hint_delete(fx->st, target_a, id2), RC_OK);

    /* Without one: side by side, each deleted on its own. */
    assert_int_equal(put(fx->st, target_b, "dup", "first", 1, 200, NULL, &id3), RC_OK);
    assert_int_equal(put(fx->st, target_b, "dup", "second", 1, 201, NULL, &id4), RC_OK);
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(store_hint_delete(fx->st, target_b, id3), RC_OK);
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.rec[0], "second");
    /* A later merge put folds every pending hint of the key, oldest first. */
    assert_int_equal(put(fx->st, target_b, "two", "22222222", 1, 300, NULL, NULL), RC_OK);
    assert_int_equal(put(fx->st, target_b, "two", "11111111", 1, 301, NULL, NULL), RC_OK);
    assert_int_equal(put(fx->st, target_b, "two", "33333333", 1, 302, merge_union, &id1), RC_OK);
    scan_all(fx->st, target_b, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.key[1], "two");
    assert_string_equal(s.rec[1], "111111112222222233333333");
    assert_int_equal(stats_of(fx->st, target_b).pending, 2);
}

/* ------------------------------------------------------------ threads */

#define THREADS       6
#define PUTS_PER      150
#define SHARED_KEYS   10
#define MERGE_THREADS 3 /* the first ones merge; the others keep side by side */
#define TOKENS_MAX    (THREADS * PUTS_PER)

struct worker {
    struct store *st;
    int id;
    int failures;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    char key[16], rec[TOK + 1];
    uint64_t t;
    int i, rc;

    for (i = 0; i < PUTS_PER; i++) {
        /* Target a: keys shared by every thread; target b/c: its own. */
        snprintf(key, sizeof(key), "s%d", i % SHARED_KEYS);
        tok(rec, w->id < MERGE_THREADS ? "m" : "p", w->id * 1000 + i);
        rc = put(w->st, target_a, key, rec, (uint32_t)(i % SHARED_KEYS), 1000 + i,
                 w->id < MERGE_THREADS ? merge_union : NULL, NULL);
        if (rc != RC_OK) {
            w->failures++;
            continue;
        }
        snprintf(key, sizeof(key), "t%d-%d", w->id, i);
        rc = put(w->st, w->id % 2 ? target_b : target_c, key, rec, 1, 1000 + i, NULL, NULL);
        if (rc != RC_OK) {
            w->failures++;
        }
        t = store_sync_ticket(w->st);
        if ((rc = store_fixture_wait_ticket(w->st, t)) != RC_OK) {
            w->failures++;
        }
    }
    return NULL;
}

struct scanner {
    struct store *st;
    atomic_bool stop;
    int scans, errors;
};

static int
check_order(void *arg, const struct store_hint *h)
{
    uint64_t *last = arg;

    if (h->id <= *last) {
        return 1;
    }
    *last = h->id;
    return 0;
}

/* Replays run while hints arrive: each scan must see ids in order. */
static void *
scanner_main(void *arg)
{
    struct scanner *sc = arg;
    uint64_t cursor, last;
    bool done;
    int rc;

    while (!atomic_load(&sc->stop)) {
        cursor = 0;
        last = 0;
        done = false;
        while (!done) {
            rc = store_hint_scan(sc->st, target_a, &cursor, 16, check_order, &last, &done);
            if (rc != RC_OK) {
                sc->errors++;
                break;
            }
        }
        sc->scans++;
    }
    return NULL;
}

static void
test_concurrent_puts(void **state)
{
    struct store_fixture *fx = *state;
    struct worker w[THREADS];
    pthread_t th[THREADS], scan_th;
    struct scanner sc = {.st = fx->st};
    struct seen *s = malloc(sizeof(*s));
    char rec[TOK + 1], key[16];
    int i, j, k, found;
    uint64_t pending;

    assert_non_null(s);
    assert_int_equal(pthread_create(&scan_th, NULL, scanner_main, &sc), 0);
    for (i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.st = fx->st, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    atomic_store(&sc.stop, true);
    pthread_join(scan_th, NULL); /* every thread is done before any assert */
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(sc.errors, 0);
    assert_true(sc.scans > 0);
    /* No version lost: every token put for a shared key is in a pending
     * hint of that key. */
    scan_all(fx->st, target_a, s);
    for (i = 0; i < THREADS; i++) {
        for (j = 0; j < PUTS_PER; j++) {
            tok(rec, i < MERGE_THREADS ? "m" : "p", i * 1000 + j);
            snprintf(key, sizeof(key), "s%d", j % SHARED_KEYS);
            found = 0;
            for (k = 0; k < s->n && !found; k++) {
                size_t n = strlen(s->rec[k]);

                if (strcmp(s->key[k], key) != 0) {
                    continue;
                }
                for (size_t off = 0; off + TOK <= n; off += TOK) {
                    if (memcmp(s->rec[k] + off, rec, TOK) == 0) {
                        found = 1;
                    }
                }
            }
            if (!found) {
                fail_msg("token %s of key %s lost", rec, key);
            }
        }
    }
    /* Ids strictly increase in the scan; counts add up. */
    for (k = 1; k < s->n; k++) {
        assert_true(s->id[k] > s->id[k - 1]);
    }
    pending = stats_of(fx->st, target_a).pending;
    assert_int_equal(pending, (uint64_t)s->n);
    assert_int_equal(stats_of(fx->st, target_a).stored, THREADS * PUTS_PER);
    scan_all(fx->st, target_b, s);
    assert_int_equal(s->n, (THREADS / 2) * PUTS_PER);
    scan_all(fx->st, target_c, s);
    assert_int_equal(s->n, (THREADS - THREADS / 2) * PUTS_PER);
    free(s);
}

/* ------------------------------------------------------------ durability */

/* Child: open, write hints under `sync`, wait for the ticket as a hinted
 * write's acknowledgement would, then die without closing anything. */
static void
crash_child(struct store_config *cfg, enum store_sync sync)
{
    struct store *st;
    uint64_t t;

    cfg->sync = sync;
    if (store_open(cfg, &st) != RC_OK) {
        _exit(2);
    }
    if (put(st, target_c, "crash", "survivor", 77, 500, NULL, NULL) != RC_OK ||
        put(st, target_b, "crash-b", "also", 78, 501, NULL, NULL) != RC_OK) {
        _exit(3);
    }
    t = store_sync_ticket(st);
    if (sync == STORE_SYNC_BATCH && store_sync_write_now(st) != RC_OK) {
        _exit(5);
    }
    if (store_fixture_wait_ticket(st, t) != RC_OK) {
        _exit(4);
    }
    _exit(0);
}

static void
test_durable_after_ticket(void **state)
{
    struct store_fixture *fx = *state;
    enum store_sync modes[] = {STORE_SYNC_ALWAYS, STORE_SYNC_BATCH};
    struct seen s;
    pid_t pid;
    int status;
    size_t i;

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        store_close(fx->st);
        fx->st = NULL;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            crash_child(&fx->cfg, modes[i]);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        /* Recovery runs at open: the targets and their hints are back. */
        assert_int_equal(store_open(&fx->cfg, &fx->st), RC_OK);
        assert_true(has_target(fx->st, target_c));
        assert_true(has_target(fx->st, target_b));
        scan_all(fx->st, target_c, &s);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.rec[0], "survivor");
        assert_int_equal(s.part[0], 77);
        assert_int_equal(stats_of(fx->st, target_c).pending, 1);
        assert_int_equal(store_hint_delete(fx->st, target_c, s.id[0]), RC_OK);
        scan_all(fx->st, target_b, &s);
        assert_int_equal(s.n, 1);
        assert_int_equal(store_hint_delete(fx->st, target_b, s.id[0]), RC_OK);
    }
}

static void
test_ticket_covers_hints(void **state)
{
    struct store_fixture *fx = *state;
    uint64_t t;

    assert_int_equal(put(fx->st, target_a, "k", "v", 1, 1, NULL, NULL), RC_OK);
    t = store_sync_ticket(fx->st);
    if (fx->cfg.kind == STORE_KIND_MEM) {
        assert_true(t == 0); /* durable on return */
    } else {
        assert_true(t > 0);
    }
    assert_int_equal(store_fixture_wait_ticket(fx->st, t), RC_OK);
}

/* ------------------------------------------------------------ misc */

static void
test_bad_arguments(void **state)
{
    struct store_fixture *fx = *state;
    struct store_hint h = {.key = "k", .nkey = 1, .rec = "v", .nrec = 1};
    uint64_t cursor = 0;
    bool done;

    assert_int_equal(store_hint_put(fx->st, NULL, &h, NULL, NULL), RC_EINVAL);
    assert_int_equal(store_hint_put(fx->st, target_a, NULL, NULL, NULL), RC_EINVAL);
    h.nkey = 0;
    assert_int_equal(store_hint_put(fx->st, target_a, &h, NULL, NULL), RC_EINVAL);
    h.nkey = 70000;
    assert_int_equal(store_hint_put(fx->st, target_a, &h, NULL, NULL), RC_EINVAL);
    h.nkey = 1;
    h.rec = NULL;
    assert_int_equal(store_hint_put(fx->st, target_a, &h, NULL, NULL), RC_EINVAL);
    assert_int_equal(store_hint_delete(fx->st, target_a, 0), RC_EINVAL);
    assert_int_equal(store_hint_delete(fx->st, target_a, 1), RC_ENOTFOUND);
    assert_int_equal(store_hint_scan(fx->st, target_a, &cursor, 0, NULL, NULL, &done), RC_EINVAL);
    assert_int_equal(store_hint_repair_clear(fx->st, target_a, 1), RC_ENOTFOUND);
    assert_false(has_target(fx->st, target_a)); /* none of that created it */
}

/* An engine without hint tables answers RC_EDISABLED. */
static void
test_engine_without_hints(void **state)
{
    struct engine_ops ops = store_engine_mem;
    struct store_config cfg = {.kind = STORE_KIND_MEM, .sync = STORE_SYNC_ALWAYS};
    struct store *st;
    uint64_t reaped;

    (void)state;
    ops.hint_txn = NULL;
    assert_int_equal(store_open_engine(&cfg, &ops, &st), RC_OK);
    assert_int_equal(put(st, target_a, "k", "v", 1, 1, NULL, NULL), RC_EDISABLED);
    assert_int_equal(store_hint_delete(st, target_a, 1), RC_EDISABLED);
    assert_int_equal(store_hint_reap(st, 1, &reaped), RC_EDISABLED);
    assert_false(has_target(st, target_a));
    store_close(st);
}

/* A memory engine whose hint writes fail from the Nth on: a transaction
 * cut short at any step leaves the table and the counts as they were. */
static atomic_int puts_left; /* < 0: never fail */

static int
faulty_hint_put(void *self, void *tx, const void *key, size_t nkey, const void *val, size_t nval)
{
    if (atomic_load(&puts_left) >= 0 && atomic_fetch_sub(&puts_left, 1) == 0) {
        return RC_EIO;
    }
    return store_engine_mem.hint_put(self, tx, key, nkey, val, nval);
}

static int
faulty_hint_del(void *self, void *tx, const void *key, size_t nkey)
{
    if (atomic_load(&puts_left) >= 0 && atomic_fetch_sub(&puts_left, 1) == 0) {
        return RC_EIO;
    }
    return store_engine_mem.hint_del(self, tx, key, nkey);
}

static void
same_hints(const struct seen *a, const struct seen *b)
{
    int i;

    assert_int_equal(a->n, b->n);
    for (i = 0; i < a->n; i++) {
        assert_true(a->id[i] == b->id[i]);
        assert_string_equal(a->key[i], b->key[i]);
        assert_string_equal(a->rec[i], b->rec[i]);
    }
}

static void
test_failed_write_changes_nothing(void **state)
{
    struct engine_ops ops = store_engine_mem;
    struct store_config cfg = {.kind = STORE_KIND_MEM, .sync = STORE_SYNC_ALWAYS};
    struct store_hint_stats before, after;
    struct seen *s0 = malloc(sizeof(*s0)), *s1 = malloc(sizeof(*s1));
    struct store *st;
    uint64_t id1, id2;
    int step, rc;

    (void)state;
    assert_non_null(s0);
    assert_non_null(s1);
    ops.hint_put = faulty_hint_put;
    ops.hint_del = faulty_hint_del;
    atomic_store(&puts_left, -1);
    assert_int_equal(store_open_engine(&cfg, &ops, &st), RC_OK);
    assert_int_equal(put(st, target_a, "k", "AAAAAAAA", 1, 1, NULL, &id1), RC_OK);
    assert_int_equal(put(st, target_a, "k", "BBBBBBBB", 1, 2, NULL, NULL), RC_OK);
    assert_int_equal(put(st, target_a, "j", "CCCCCCCC", 2, 3, NULL, &id2), RC_OK);
    scan_all(st, target_a, s0);
    before = stats_of(st, target_a);
    /* A merge put writes: 2 deletes, the hint, the index, the state. */
    for (step = 0; step < 5; step++) {
        atomic_store(&puts_left, step);
        rc = put(st, target_a, "k", "DDDDDDDD", 1, 4, merge_union, NULL);
        assert_int_equal(rc, RC_EIO);
        scan_all(st, target_a, s1);
        same_hints(s0, s1);
        after = stats_of(st, target_a);
        assert_int_equal(after.pending, before.pending);
        assert_int_equal(after.bytes, before.bytes);
    }
    /* A delete writes: the index, the hint, the state. */
    for (step = 0; step < 3; step++) {
        atomic_store(&puts_left, step);
        assert_int_equal(store_hint_delete(st, target_a, id1), RC_EIO);
        scan_all(st, target_a, s1);
        same_hints(s0, s1);
    }
    atomic_store(&puts_left, -1);
    assert_int_equal(store_hint_delete(st, target_a, id1), RC_OK);
    assert_int_equal(put(st, target_a, "k", "DDDDDDDD", 1, 4, merge_union, NULL), RC_OK);
    scan_all(st, target_a, s1);
    assert_int_equal(s1->n, 2);
    assert_true(s1->id[0] == id2);
    assert_string_equal(s1->rec[1], "BBBBBBBBDDDDDDDD");
    after = stats_of(st, target_a);
    assert_int_equal(after.pending, 2);
    assert_int_equal(after.bytes, 2 * STORE_HINT_OVERHEAD + 1 + 8 + 1 + 16);
    store_close(st);
    free(s0);
    free(s1);
}

/* A BDB directory left by this version is read by the next open even when
 * the hint table was created but never written. */
static void
test_empty_table_reopens(void **state)
{
    struct store_fixture *fx = *state;
    uint64_t id;

    fx->cfg.hint_max_bytes = 10; /* every put refused: the table exists, no hint */
    assert_int_equal(fixture_reopen(fx), RC_OK);
    assert_int_equal(put(fx->st, target_a, "k", "v", 9, 1, NULL, NULL), RC_ETOOLARGE);
    fx->cfg.hint_max_bytes = 0;
    assert_int_equal(fixture_reopen(fx), RC_OK);
    assert_true(has_target(fx->st, target_a));
    assert_int_equal(stats_of(fx->st, target_a).repair_parts, 1);
    assert_int_equal(put(fx->st, target_a, "k", "v", 9, 1, NULL, &id), RC_OK);
    assert_true(id == 1);
}

/* clang-format off */
#define BOTH(fn) \
    {#fn " [bdb]", fn, setup_store, teardown_store, (void *)&kind_bdb}, \
    {#fn " [memory]", fn, setup_store, teardown_store, (void *)&kind_mem}
#define BDB_ONLY(fn) \
    {#fn " [bdb]", fn, setup_store, teardown_store, (void *)&kind_bdb}
/* clang-format on */

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_round_trip),
        BOTH(test_arrival_order),
        BOTH(test_targets_isolated),
        BDB_ONLY(test_reopen_keeps_hints),
        BOTH(test_byte_bound),
        BOTH(test_age_reaping),
        BOTH(test_replaced_hint_delete),
        BOTH(test_concurrent_puts),
        BDB_ONLY(test_durable_after_ticket),
        BOTH(test_ticket_covers_hints),
        BOTH(test_bad_arguments),
        BDB_ONLY(test_empty_table_reopens),
        cmocka_unit_test(test_engine_without_hints),
        cmocka_unit_test(test_failed_write_changes_nothing),
    };

    return cmocka_run_group_tests_name("hints", tests, NULL, NULL);
}
