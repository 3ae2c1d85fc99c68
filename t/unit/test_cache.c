/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_cache.c - the hot-item cache in front of the store (store/cache.h):
 * hits and misses, write-through, the rule that a fill loses against any
 * write since its miss, the byte bound and LRU eviction, oversized values,
 * clearing, and consistency under concurrent readers and writers.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/status.h"
#include "store/cache.h"

static void
put(struct cache *c, const char *k, const char *v)
{
    cache_write_begin(c, k, strlen(k));
    cache_write_end(c, k, strlen(k), v, v ? strlen(v) : 0);
}

static int
get(struct cache *c, const char *k, struct buf *b, uint64_t *gen)
{
    return cache_get(c, k, strlen(k), b, gen);
}

static void
test_write_through_and_delete(void **state)
{
    struct cache *c;
    struct buf b;
    uint64_t gen;

    (void)state;
    buf_init(&b);
    assert_int_equal(cache_create(1 << 20, &c), RC_OK);
    assert_int_equal(get(c, "k", &b, &gen), RC_ENOTFOUND);
    put(c, "k", "v1");
    assert_int_equal(get(c, "k", &b, &gen), RC_OK);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "v1", 2);
    put(c, "k", "value-two");
    assert_int_equal(get(c, "k", &b, &gen), RC_OK);
    assert_memory_equal(b.data, "value-two", 9);
    put(c, "k", NULL); /* delete, or a failed write */
    assert_int_equal(get(c, "k", &b, &gen), RC_ENOTFOUND);
    buf_deinit(&b);
    cache_destroy(c);
}

/* cache_prefetch reads bucket slots without the lock while writers insert,
 * grow and evict: it must never touch freed memory (ASan) or change what
 * readers see. */
struct pf_arg {
    struct cache *c;
    atomic_bool stop;
};

static void *
pf_main(void *arg)
{
    struct pf_arg *a = arg;
    char k[32];

    for (unsigned i = 0; !atomic_load(&a->stop); i++) {
        struct store_key sk = {k, (size_t)snprintf(k, sizeof(k), "key%u", i % 5000)};

        cache_prefetch(a->c, &sk, 1);
    }
    return NULL;
}

static void
test_prefetch(void **state)
{
    struct pf_arg a;
    pthread_t t;
    struct buf b;
    uint64_t gen;
    char k[32];

    (void)state;
    buf_init(&b);
    assert_int_equal(cache_create(256 << 10, &a.c), RC_OK); /* small: evictions */
    atomic_init(&a.stop, false);
    cache_prefetch(a.c, &(struct store_key){"nothing", 7}, 1);
    assert_int_equal(pthread_create(&t, NULL, pf_main, &a), 0);
    for (unsigned i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "key%u", i % 5000);
        put(a.c, k, i % 3 == 0 ? NULL : "some value of a few bytes");
    }
    atomic_store(&a.stop, true);
    pthread_join(t, NULL);
    put(a.c, "last", "v");
    {
        /* More keys than one call takes: the rest are ignored. */
        struct store_key many[CACHE_PREFETCH_MAX + 3];

        for (size_t i = 0; i < CACHE_PREFETCH_MAX + 3; i++) {
            many[i] = (struct store_key){"last", 4};
        }
        cache_prefetch(a.c, many, CACHE_PREFETCH_MAX + 3);
    }
    assert_int_equal(get(a.c, "last", &b, &gen), RC_OK);
    assert_memory_equal(b.data, "v", 1);
    cache_prefetch(NULL, &(struct store_key){"x", 1}, 1); /* no cache */
    cache_destroy(a.c);
    buf_deinit(&b);
}

static int touch_calls;

/* Upper-case the first byte; decline (false) when it already is. */
static bool
touch_upper(void *arg, void *bytes, size_t n)
{
    char *p = bytes;

    (void)arg;
    touch_calls++;
    if (n == 0 || (*p >= 'A' && *p <= 'Z')) {
        return false;
    }
    *p = (char)(*p - 'a' + 'A');
    return true;
}

/* cache_get_touch: the caller gets the bytes as they were; the entry keeps
 * the touch; a miss or no cache touches nothing. */
static void
test_get_touch(void **state)
{
    struct cache *c;
    struct buf b;
    uint64_t gen;
    bool touched = true;

    (void)state;
    buf_init(&b);
    touch_calls = 0;
    assert_int_equal(cache_create(1 << 20, &c), RC_OK);
    assert_int_equal(cache_get_touch(c, "k", 1, &b, &gen, touch_upper, NULL, &touched),
                     RC_ENOTFOUND);
    assert_false(touched);
    assert_int_equal(touch_calls, 0);
    put(c, "k", "value");
    assert_int_equal(cache_get_touch(c, "k", 1, &b, &gen, touch_upper, NULL, &touched), RC_OK);
    assert_true(touched);
    assert_memory_equal(b.data, "value", 5);
    assert_int_equal(get(c, "k", &b, &gen), RC_OK);
    assert_memory_equal(b.data, "Value", 5);
    assert_int_equal(cache_get_touch(c, "k", 1, &b, &gen, touch_upper, NULL, &touched), RC_OK);
    assert_false(touched);
    assert_int_equal(touch_calls, 2);
    cache_destroy(c);

    assert_int_equal(cache_create(0, &c), RC_OK); /* disabled */
    touched = true;
    assert_int_equal(cache_get_touch(c, "k", 1, &b, &gen, touch_upper, NULL, &touched),
                     RC_ENOTFOUND);
    assert_false(touched);
    cache_destroy(c);
    buf_deinit(&b);
}

static void
test_fill_loses_to_write(void **state)
{
    struct cache *c;
    struct buf b;
    uint64_t gen, gen2;

    (void)state;
    buf_init(&b);
    assert_int_equal(cache_create(1 << 20, &c), RC_OK);
    /* A reader misses, reads "old" from the engine; a writer stores "new";
     * the reader's fill of "old" must not land. */
    assert_int_equal(get(c, "k", &b, &gen), RC_ENOTFOUND);
    put(c, "k", "new");
    cache_fill(c, "k", 1, "old", 3, gen);
    assert_int_equal(get(c, "k", &b, &gen2), RC_OK);
    assert_memory_equal(b.data, "new", 3);
    /* The same after a delete: the stale fill is dropped. */
    put(c, "k", NULL);
    assert_int_equal(get(c, "k", &b, &gen), RC_ENOTFOUND);
    put(c, "k", NULL);
    cache_fill(c, "k", 1, "old", 3, gen);
    assert_int_equal(get(c, "k", &b, &gen), RC_ENOTFOUND);
    /* With no write in between, the fill lands. */
    cache_fill(c, "k", 1, "cur", 3, gen);
    assert_int_equal(get(c, "k", &b, &gen), RC_OK);
    assert_memory_equal(b.data, "cur", 3);
    buf_deinit(&b);
    cache_destroy(c);
}

static void
test_bound_and_lru(void **state)
{
    struct cache_stats cs;
    struct cache *c;
    char key[32], val[200];
    struct buf b;
    uint64_t gen;
    int i;

    (void)state;
    buf_init(&b);
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    assert_int_equal(cache_create(256 * 1024, &c), RC_OK);
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        put(c, key, val);
        /* Keep key-0 recently used: it must survive the churn. */
        assert_int_equal(get(c, "key-0", &b, &gen), RC_OK);
    }
    cache_get_stats(c, &cs);
    assert_true(cs.bytes_used <= cs.bytes_limit);
    assert_true(cs.evictions > 0);
    assert_true(cs.items < 5000);
    assert_int_equal(get(c, "key-0", &b, &gen), RC_OK);
    assert_int_equal(get(c, "key-1", &b, &gen), RC_ENOTFOUND); /* least recent */
    cache_clear(c);
    cache_get_stats(c, &cs);
    assert_int_equal(cs.items, 0);
    assert_int_equal(cs.bytes_used, 0);
    buf_deinit(&b);
    cache_destroy(c);
}

static void
test_oversized_not_cached(void **state)
{
    static char big[64 * 1024];
    struct cache *c;
    struct buf b;
    uint64_t gen;

    (void)state;
    buf_init(&b);
    memset(big, 'y', sizeof(big) - 1);
    assert_int_equal(cache_create(1 << 20, &c), RC_OK); /* 16 KB per shard */
    put(c, "big", big);
    assert_int_equal(get(c, "big", &b, &gen), RC_ENOTFOUND);
    buf_deinit(&b);
    cache_destroy(c);
}

static void
test_disabled(void **state)
{
    struct cache *c = (struct cache *)&c;
    struct buf b;
    uint64_t gen;

    (void)state;
    buf_init(&b);
    assert_int_equal(cache_create(0, &c), RC_OK);
    assert_null(c);
    put(c, "k", "v");
    cache_fill(c, "k", 1, "v", 1, 0);
    assert_int_equal(get(c, "k", &b, &gen), RC_ENOTFOUND);
    cache_clear(c);
    cache_destroy(c);
    buf_deinit(&b);
}

/* cache_peek_locked inside a write critical section: sees the entry, which
 * may be handed back to cache_write_end; cache_write_cancel changes nothing
 * (not even the generation, so a pending fill still lands). */
static void
test_peek_locked(void **state)
{
    struct cache *c;
    const void *v;
    size_t nv;
    struct buf b;
    uint64_t gen;

    (void)state;
    buf_init(&b);
    assert_int_equal(cache_create(1 << 20, &c), RC_OK);
    cache_write_begin(c, "k", 1);
    assert_int_equal(cache_peek_locked(c, "k", 1, &v, &nv), RC_ENOTFOUND);
    cache_write_cancel(c, "k", 1);
    put(c, "k", "hello world");
    cache_write_begin(c, "k", 1);
    assert_int_equal(cache_peek_locked(c, "k", 1, &v, &nv), RC_OK);
    assert_int_equal(nv, 11);
    assert_memory_equal(v, "hello world", 11);
    assert_int_equal(cache_peek_locked(c, "k2", 2, &v, &nv), RC_ENOTFOUND);
    cache_write_cancel(c, "k", 1);
    assert_int_equal(get(c, "k", &b, &gen), RC_OK);
    assert_memory_equal(b.data, "hello world", 11);
    /* The peeked bytes as the new value (a suffix of the old entry). */
    cache_write_begin(c, "k", 1);
    assert_int_equal(cache_peek_locked(c, "k", 1, &v, &nv), RC_OK);
    cache_write_end(c, "k", 1, (const char *)v + 6, nv - 6);
    assert_int_equal(get(c, "k", &b, &gen), RC_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "world", 5);
    /* A same-size overwrite after a peek replaces the bytes in place, even
     * from the peeked bytes themselves (overlapping), and bumps the
     * generation like any write: a fill from before it loses. */
    put(c, "s", "abcdef");
    assert_int_equal(get(c, "zz", &b, &gen), RC_ENOTFOUND); /* gen of its shard */
    cache_write_begin(c, "s", 1);
    assert_int_equal(cache_peek_locked(c, "s", 1, &v, &nv), RC_OK);
    cache_write_end(c, "s", 1, "ABCDEF", 6);
    assert_int_equal(get(c, "s", &b, &gen), RC_OK);
    assert_memory_equal(b.data, "ABCDEF", 6);
    cache_write_begin(c, "s", 1);
    assert_int_equal(cache_peek_locked(c, "s", 1, &v, &nv), RC_OK);
    cache_write_end(c, "s", 1, v, nv); /* itself */
    assert_int_equal(get(c, "s", &b, &gen), RC_OK);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "ABCDEF", 6);
    /* A write without a peek after a cancelled peek never reuses a slot. */
    cache_write_begin(c, "s", 1);
    assert_int_equal(cache_peek_locked(c, "s", 1, &v, &nv), RC_OK);
    cache_write_cancel(c, "s", 1);
    cache_write_begin(c, "s", 1);
    cache_write_end(c, "s", 1, "xy", 2);
    assert_int_equal(get(c, "s", &b, &gen), RC_OK);
    assert_int_equal(b.len, 2);
    /* Cancel leaves the generation alone: a fill after it lands. */
    assert_int_equal(get(c, "m", &b, &gen), RC_ENOTFOUND);
    cache_write_begin(c, "m", 1);
    cache_write_cancel(c, "m", 1);
    cache_fill(c, "m", 1, "mm", 2, gen);
    assert_int_equal(get(c, "m", &b, &gen), RC_OK);
    /* Empty values are present, with a non-NULL pointer. */
    put(c, "e", "");
    cache_write_begin(c, "e", 1);
    assert_int_equal(cache_peek_locked(c, "e", 1, &v, &nv), RC_OK);
    assert_non_null(v);
    assert_int_equal(nv, 0);
    cache_write_end(c, "e", 1, NULL, 0);
    assert_int_equal(get(c, "e", &b, &gen), RC_ENOTFOUND);
    cache_destroy(c);
    /* No cache: a miss, and begin/cancel are no-ops. */
    c = NULL;
    cache_write_begin(c, "k", 1);
    assert_int_equal(cache_peek_locked(c, "k", 1, &v, &nv), RC_ENOTFOUND);
    cache_write_cancel(c, "k", 1);
    buf_deinit(&b);
}

/* cache_clear_begin/end: every shard held, then everything dropped, and a
 * fill begun before the clear loses. */
static void
test_clear_begin_end(void **state)
{
    struct cache_stats cs;
    struct cache *c;
    char key[16];
    struct buf b;
    uint64_t gen;

    (void)state;
    buf_init(&b);
    assert_int_equal(cache_create(1 << 20, &c), RC_OK);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        put(c, key, "v");
    }
    assert_int_equal(get(c, "late", &b, &gen), RC_ENOTFOUND);
    cache_clear_begin(c);
    cache_clear_end(c);
    cache_get_stats(c, &cs);
    assert_int_equal(cs.items, 0);
    assert_int_equal(cs.bytes_used, 0);
    cache_fill(c, "late", 4, "old", 3, gen);
    assert_int_equal(get(c, "late", &b, &gen), RC_ENOTFOUND);
    put(c, "c1", "again"); /* the locks were released */
    assert_int_equal(get(c, "c1", &b, &gen), RC_OK);
    cache_clear_begin(NULL);
    cache_clear_end(NULL);
    buf_deinit(&b);
    cache_destroy(c);
}

/* Writers store strictly increasing numbers per key, the way the store does
 * (engine first, under the shard lock); readers check they never see a
 * value older than one they have already seen for that key. */
#define RACE_KEYS  16
#define RACE_ITERS 20000

struct race {
    struct cache *c;
    _Atomic uint64_t engine[RACE_KEYS]; /* the "engine": latest value per key */
    int failures;
};

static void *
race_writer(void *arg)
{
    struct race *r = arg;
    char key[8], val[24];

    for (int i = 1; i <= RACE_ITERS; i++) {
        int k = i % RACE_KEYS;

        snprintf(key, sizeof(key), "k%d", k);
        cache_write_begin(r->c, key, strlen(key));
        atomic_store(&r->engine[k], (uint64_t)i);
        snprintf(val, sizeof(val), "%d", i);
        cache_write_end(r->c, key, strlen(key), val, strlen(val));
    }
    return NULL;
}

static void *
race_reader(void *arg)
{
    struct race *r = arg;
    uint64_t seen[RACE_KEYS] = {0};
    char key[8], val[24];
    struct buf b;
    uint64_t gen, v;

    buf_init(&b);
    for (int i = 0; i < RACE_ITERS * 2; i++) {
        int k = (i * 7) % RACE_KEYS;

        snprintf(key, sizeof(key), "k%d", k);
        if (cache_get(r->c, key, strlen(key), &b, &gen) == RC_OK) {
            buf_append(&b, "", 1); /* NUL-terminate for strtoull */
            v = strtoull(b.data, NULL, 10);
        } else {
            v = atomic_load(&r->engine[k]); /* the engine read */
            snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
            cache_fill(r->c, key, strlen(key), val, strlen(val), gen);
        }
        if (v < seen[k]) {
            r->failures++;
        }
        seen[k] = v;
    }
    buf_deinit(&b);
    return NULL;
}

static void
test_concurrent_consistency(void **state)
{
    static struct race r;
    pthread_t w, rd[3];

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(cache_create(1 << 20, &r.c), RC_OK);
    pthread_create(&w, NULL, race_writer, &r);
    for (int i = 0; i < 3; i++) {
        pthread_create(&rd[i], NULL, race_reader, &r);
    }
    pthread_join(w, NULL);
    for (int i = 0; i < 3; i++) {
        pthread_join(rd[i], NULL);
    }
    assert_int_equal(r.failures, 0);
    cache_destroy(r.c);
}

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_through_and_delete),
        cmocka_unit_test(test_get_touch),
        cmocka_unit_test(test_prefetch),
        cmocka_unit_test(test_fill_loses_to_write),
        cmocka_unit_test(test_bound_and_lru),
        cmocka_unit_test(test_oversized_not_cached),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_peek_locked),
        cmocka_unit_test(test_clear_begin_end),
        cmocka_unit_test(test_concurrent_consistency),
    };

    return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
