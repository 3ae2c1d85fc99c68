/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_store.c - one suite for the storage interface (store/store.h), run
 * against every engine: each engine-dependent test is listed once per engine
 * with the engine kind as its prestate. Each test gets a fresh store in a
 * mkdtemp directory under /tmp (the BDB environment in a subdirectory that
 * does not exist yet, so creation is covered), removed on teardown.
 *
 * Also here: the group-commit ticket machinery checked against a wrapped
 * memory engine whose log flush can be made to fail (store_open_engine from
 * engine.h), and BDB crash survival checked by a forked child that writes
 * and exits without closing the store.
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
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/status.h"
#include "base/util.h"
#include "store/engine.h"
#include "store/store.h"
#include "store_fixture.h"

#define WAIT_LIMIT_MS STORE_FIXTURE_WAIT_MS

/* Every engine test runs on each variant: the two engines, and Berkeley DB
 * behind the hot-item cache (what the daemon runs). */
struct variant {
    enum store_kind kind;
    uint64_t hot_cache_bytes;
};
static const struct variant kind_bdb = {STORE_KIND_BDB, 0};
static const struct variant kind_mem = {STORE_KIND_MEM, 0};
static const struct variant kind_bdb_cache = {STORE_KIND_BDB, 4u << 20};
static const struct variant kind_mem_cache = {STORE_KIND_MEM, 4u << 20};

/* ------------------------------------------------------------ helpers */

static int
fixture_reopen(struct store_fixture *fx, enum store_sync sync)
{
    fx->cfg.sync = sync;
    return store_fixture_reopen(fx);
}

static int
setup_store(void **state)
{
    const struct variant *v = *state;

    return store_fixture_setup(state, "store", v->kind, v->hot_cache_bytes);
}

static int
teardown_store(void **state)
{
    return store_fixture_teardown(state);
}

static void
check_value(struct store *st, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(store_get(st, key, nkey, &b), RC_OK);
    assert_int_equal(b.len, nval);
    if (nval > 0) {
        assert_memory_equal(b.data, val, nval);
    }
    buf_deinit(&b);
}

static void
check_absent(struct store *st, const void *key, size_t nkey)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(store_get(st, key, nkey, &b), RC_ENOTFOUND);
    buf_deinit(&b);
}

struct stats_seen {
    char names[64][48];
    char values[64][48];
    int n;
};

static void
stats_collect(void *arg, const char *name, const char *value)
{
    struct stats_seen *s = arg;

    if (s->n < 64) {
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
        snprintf(s->values[s->n], sizeof(s->values[0]), "%s", value);
        s->n++;
    }
}

static const char *
stat_value(struct store *st, const char *name, struct stats_seen *s)
{
    int i;

    memset(s, 0, sizeof(*s));
    store_stats(st, stats_collect, s);
    for (i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            return s->values[i];
        }
    }
    return NULL;
}

static unsigned long long
stat_u64(struct store *st, const char *name)
{
    struct stats_seen s;
    const char *v = stat_value(st, name, &s);

    assert_non_null(v);
    return strtoull(v, NULL, 10);
}

/* decide: put the NUL-terminated string arg, whatever is there. */
static int
decide_put_arg(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    (void)old;
    (void)nold;
    out->action = STORE_UPDATE_PUT;
    out->val = arg;
    out->nval = strlen(arg);
    return RC_OK;
}

/* ------------------------------------------------------------ basic items */

static void
test_put_get_delete(void **state)
{
    struct store_fixture *fx = *state;
    struct buf b;

    buf_init(&b);
    check_absent(fx->st, "alpha", 5);
    assert_int_equal(store_put(fx->st, "alpha", 5, "one", 3), RC_OK);
    check_value(fx->st, "alpha", 5, "one", 3);
    assert_int_equal(store_put(fx->st, "alpha", 5, "second", 6), RC_OK);
    check_value(fx->st, "alpha", 5, "second", 6);
    assert_int_equal(store_put(fx->st, "alpha", 5, NULL, 0), RC_OK);
    check_value(fx->st, "alpha", 5, NULL, 0);
    assert_int_equal(store_delete(fx->st, "alpha", 5), RC_OK);
    check_absent(fx->st, "alpha", 5);
    assert_int_equal(store_delete(fx->st, "alpha", 5), RC_ENOTFOUND);
    assert_int_equal(store_put(fx->st, "", 0, "x", 1), RC_EINVAL);
    assert_int_equal(store_get(fx->st, "", 0, &b), RC_EINVAL);
    /* A failed get leaves the buf empty, not holding old bytes. */
    assert_int_equal(buf_append(&b, "stale", 5), RC_OK);
    assert_int_equal(store_get(fx->st, "nope", 4, &b), RC_ENOTFOUND);
    assert_int_equal(b.len, 0);
    buf_deinit(&b);
}

static void
test_binary_keys_values(void **state)
{
    struct store_fixture *fx = *state;
    static const char k1[] = {0, 1, 0, 2};
    static const char k2[] = {0, 1, 0}; /* prefix of k1 */
    static const char k3[] = {(char)0xff, 0, (char)0x80};
    static const char v1[] = {0, 0, 0, 'a', 0};
    static const char v3[] = {(char)0xff, (char)0xfe, 0};

    assert_int_equal(store_put(fx->st, k1, sizeof(k1), v1, sizeof(v1)), RC_OK);
    assert_int_equal(store_put(fx->st, k2, sizeof(k2), "p", 1), RC_OK);
    assert_int_equal(store_put(fx->st, k3, sizeof(k3), v3, sizeof(v3)), RC_OK);
    check_value(fx->st, k1, sizeof(k1), v1, sizeof(v1));
    check_value(fx->st, k2, sizeof(k2), "p", 1);
    check_value(fx->st, k3, sizeof(k3), v3, sizeof(v3));
    check_absent(fx->st, k1, 2);
    assert_int_equal(store_delete(fx->st, k2, sizeof(k2)), RC_OK);
    check_value(fx->st, k1, sizeof(k1), v1, sizeof(v1));
}

static void
test_large_values(void **state)
{
    struct store_fixture *fx = *state;
    size_t n = 1u << 20, i;
    char *v = malloc(n);
    struct buf b;

    assert_non_null(v);
    for (i = 0; i < n; i++) {
        v[i] = (char)(i * 7 + (i >> 11));
    }
    buf_init(&b);
    assert_int_equal(buf_reserve(&b, 16), RC_OK); /* too small: must grow */
    assert_int_equal(store_put(fx->st, "big", 3, v, n), RC_OK);
    assert_int_equal(store_get(fx->st, "big", 3, &b), RC_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, v, n);
    v[n / 2] ^= 1;
    assert_int_equal(store_put(fx->st, "big", 3, v, n - 1), RC_OK);
    assert_int_equal(store_get(fx->st, "big", 3, &b), RC_OK);
    assert_int_equal(b.len, n - 1);
    assert_memory_equal(b.data, v, n - 1);
    /* The grown buf serves a small read too. */
    assert_int_equal(store_put(fx->st, "small", 5, "s", 1), RC_OK);
    assert_int_equal(store_get(fx->st, "small", 5, &b), RC_OK);
    assert_int_equal(b.len, 1);
    buf_deinit(&b);
    free(v);
}

/* ------------------------------------------------------------ scan */

#define SCAN_KEYS 300

struct scan_log {
    char keys[SCAN_KEYS + 8][8];
    int n;
    int stop_at; /* return 42 when visiting item number stop_at (1-based) */
    int bad;     /* value did not match key */
};

static int
scan_record(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct scan_log *sl = arg;

    if (nkey != 5 || nval != 6 || memcmp(val, "v", 1) != 0 ||
        memcmp(key, (const char *)val + 1, 5) != 0) {
        sl->bad++;
    }
    if (sl->n < SCAN_KEYS + 8) {
        memcpy(sl->keys[sl->n], key, nkey < 7 ? nkey : 7);
        sl->keys[sl->n][nkey < 7 ? nkey : 7] = '\0';
    }
    sl->n++;
    return sl->n == sl->stop_at ? 42 : 0;
}

static void
scan_fill(struct store *st)
{
    char key[16], val[24];
    int i, j;

    /* Insert in a scrambled order (37 is coprime with 300). */
    for (i = 0; i < SCAN_KEYS; i++) {
        j = (i * 37) % SCAN_KEYS;
        snprintf(key, sizeof(key), "k%04d", j);
        snprintf(val, sizeof(val), "v%s", key);
        assert_int_equal(store_put(st, key, 5, val, 6), RC_OK);
    }
}

static void
test_scan_order_and_resume(void **state)
{
    struct store_fixture *fx = *state;
    struct scan_log *sl = calloc(1, sizeof(*sl));
    struct buf cursor;
    bool done = false;
    int i, rounds = 0;
    char want[16];

    assert_non_null(sl);
    buf_init(&cursor);
    assert_int_equal(store_scan(fx->st, &cursor, 10, scan_record, sl, &done), RC_OK);
    assert_true(done);
    assert_int_equal(sl->n, 0);
    scan_fill(fx->st);
    done = false;
    /* Batches of 7: every key once, in order; done only with the last. */
    while (!done) {
        assert_int_equal(store_scan(fx->st, &cursor, 7, scan_record, sl, &done), RC_OK);
        rounds++;
        assert_true(rounds <= SCAN_KEYS / 7 + 1);
    }
    assert_int_equal(sl->n, SCAN_KEYS);
    assert_int_equal(sl->bad, 0);
    for (i = 0; i < SCAN_KEYS; i++) {
        snprintf(want, sizeof(want), "k%04d", i);
        assert_string_equal(sl->keys[i], want);
    }
    assert_int_equal(cursor.len, 5);
    assert_memory_equal(cursor.data, "k0299", 5);
    /* From the end: nothing more. */
    sl->n = 0;
    assert_int_equal(store_scan(fx->st, &cursor, 7, scan_record, sl, &done), RC_OK);
    assert_true(done);
    assert_int_equal(sl->n, 0);
    /* A batch ending exactly on the last item reports done. */
    buf_reset(&cursor);
    assert_int_equal(buf_append(&cursor, "k0289", 5), RC_OK);
    assert_int_equal(store_scan(fx->st, &cursor, 10, scan_record, sl, &done), RC_OK);
    assert_int_equal(sl->n, 10);
    assert_true(done);
    buf_deinit(&cursor);
    free(sl);
}

static void
test_scan_cursor_between_keys(void **state)
{
    struct store_fixture *fx = *state;
    struct scan_log *sl = calloc(1, sizeof(*sl));
    struct buf cursor;
    bool done = false;

    assert_non_null(sl);
    buf_init(&cursor);
    scan_fill(fx->st);
    /* A cursor naming no stored key starts at the next key after it. */
    assert_int_equal(buf_append(&cursor, "k0100x", 6), RC_OK);
    assert_int_equal(store_scan(fx->st, &cursor, 3, scan_record, sl, &done), RC_OK);
    assert_false(done);
    assert_int_equal(sl->n, 3);
    assert_string_equal(sl->keys[0], "k0101");
    assert_string_equal(sl->keys[2], "k0103");
    /* max 0 means no limit. */
    sl->n = 0;
    buf_reset(&cursor);
    assert_int_equal(store_scan(fx->st, &cursor, 0, scan_record, sl, &done), RC_OK);
    assert_true(done);
    assert_int_equal(sl->n, SCAN_KEYS);
    buf_deinit(&cursor);
    free(sl);
}

static void
test_scan_early_stop(void **state)
{
    struct store_fixture *fx = *state;
    struct scan_log *sl = calloc(1, sizeof(*sl));
    struct buf cursor;
    bool done = true;

    assert_non_null(sl);
    buf_init(&cursor);
    scan_fill(fx->st);
    sl->stop_at = 5;
    assert_int_equal(store_scan(fx->st, &cursor, 100, scan_record, sl, &done), 42);
    assert_false(done);
    assert_int_equal(sl->n, 5);
    /* The cursor names the item whose visit stopped the scan. */
    assert_int_equal(cursor.len, 5);
    assert_memory_equal(cursor.data, "k0004", 5);
    sl->stop_at = 0;
    assert_int_equal(store_scan(fx->st, &cursor, 1, scan_record, sl, &done), RC_OK);
    assert_string_equal(sl->keys[5], "k0005");
    buf_deinit(&cursor);
    free(sl);
}

/* ------------------------------------------------------------ truncate, meta */

static void
test_truncate(void **state)
{
    struct store_fixture *fx = *state;
    struct scan_log *sl = calloc(1, sizeof(*sl));
    struct buf cursor;
    bool done = false;

    assert_non_null(sl);
    buf_init(&cursor);
    scan_fill(fx->st);
    assert_int_equal(store_meta_put(fx->st, "node", "n1", 2), RC_OK);
    assert_int_equal(store_truncate(fx->st), RC_OK);
    check_absent(fx->st, "k0000", 5);
    assert_int_equal(store_scan(fx->st, &cursor, 0, scan_record, sl, &done), RC_OK);
    assert_true(done);
    assert_int_equal(sl->n, 0);
    assert_int_equal(store_truncate(fx->st), RC_OK); /* empty is fine */
    assert_int_equal(store_put(fx->st, "after", 5, "x", 1), RC_OK);
    check_value(fx->st, "after", 5, "x", 1);
    /* Metadata is not an item. */
    assert_int_equal(store_meta_get(fx->st, "node", &cursor), RC_OK);
    assert_int_equal(cursor.len, 2);
    buf_deinit(&cursor);
    free(sl);
}

static void
test_meta(void **state)
{
    struct store_fixture *fx = *state;
    static const char bin[] = {0, 1, 2, 0};
    struct buf b;

    buf_init(&b);
    assert_int_equal(store_meta_get(fx->st, "cas_hwm", &b), RC_ENOTFOUND);
    assert_int_equal(store_meta_put(fx->st, "cas_hwm", bin, sizeof(bin)), RC_OK);
    assert_int_equal(store_meta_get(fx->st, "cas_hwm", &b), RC_OK);
    assert_int_equal(b.len, sizeof(bin));
    assert_memory_equal(b.data, bin, sizeof(bin));
    assert_int_equal(store_meta_put(fx->st, "cas_hwm", "zz", 2), RC_OK);
    assert_int_equal(store_meta_get(fx->st, "cas_hwm", &b), RC_OK);
    assert_int_equal(b.len, 2);
    assert_int_equal(store_meta_put(fx->st, "empty", NULL, 0), RC_OK);
    assert_int_equal(store_meta_get(fx->st, "empty", &b), RC_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(store_meta_put(fx->st, "", "x", 1), RC_EINVAL);
    /* Meta names and item keys live apart. */
    check_absent(fx->st, "cas_hwm", 7);
    buf_deinit(&b);
}

/* ------------------------------------------------------------ persistence */

static void
test_reopen_keeps_data(void **state)
{
    struct store_fixture *fx = *state;
    struct buf b;

    buf_init(&b);
    scan_fill(fx->st);
    assert_int_equal(store_delete(fx->st, "k0007", 5), RC_OK);
    assert_int_equal(store_meta_put(fx->st, "node", "id-1", 4), RC_OK);
    assert_int_equal(fixture_reopen(fx, STORE_SYNC_ALWAYS), RC_OK);
    check_value(fx->st, "k0123", 5, "vk0123", 6);
    check_absent(fx->st, "k0007", 5);
    assert_int_equal(store_meta_get(fx->st, "node", &b), RC_OK);
    assert_memory_equal(b.data, "id-1", 4);
    /* Several reopen cycles with writes in between. */
    assert_int_equal(store_put(fx->st, "k0007", 5, "vk0007", 6), RC_OK);
    assert_int_equal(fixture_reopen(fx, STORE_SYNC_NONE), RC_OK);
    check_value(fx->st, "k0007", 5, "vk0007", 6);
    buf_deinit(&b);
}

static void
test_second_open_refused(void **state)
{
    struct store_fixture *fx = *state;
    struct store *other = NULL;

    /* One process per environment: a second open of the same directory
     * fails while the first is open, and works once it is closed. */
    assert_int_not_equal(store_open(&fx->cfg, &other), RC_OK);
    assert_null(other);
    store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(store_open(&fx->cfg, &fx->st), RC_OK);
}

/* Child: open, write under `sync`, wait for durability as the mode promises,
 * then die without closing anything. */
static void
crash_child(struct store_config *cfg, enum store_sync sync)
{
    static char updated[] = "updated";
    struct store *st;
    uint64_t t;

    cfg->sync = sync;
    if (store_open(cfg, &st) != RC_OK) {
        _exit(2);
    }
    if (store_put(st, "crash", 5, "survivor", 8) != RC_OK ||
        store_update(st, "crash-upd", 9, decide_put_arg, updated) != RC_OK ||
        store_meta_put(st, "meta-crash", "m", 1) != RC_OK) {
        _exit(3);
    }
    t = store_sync_ticket(st);
    if (store_fixture_wait_ticket(st, t) != RC_OK) {
        _exit(4);
    }
    _exit(0);
}

static void
test_crash_recovery(void **state)
{
    struct store_fixture *fx = *state;
    enum store_sync modes[] = {STORE_SYNC_ALWAYS, STORE_SYNC_BATCH};
    struct buf b;
    pid_t pid;
    int status;
    size_t i;

    buf_init(&b);
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
        /* Recovery runs at open and finds the committed writes. */
        assert_int_equal(store_open(&fx->cfg, &fx->st), RC_OK);
        check_value(fx->st, "crash", 5, "survivor", 8);
        check_value(fx->st, "crash-upd", 9, "updated", 7);
        assert_int_equal(store_meta_get(fx->st, "meta-crash", &b), RC_OK);
        assert_int_equal(store_delete(fx->st, "crash", 5), RC_OK);
        assert_int_equal(store_delete(fx->st, "crash-upd", 9), RC_OK);
    }
    buf_deinit(&b);
}

/* ------------------------------------------------------------ durability */

static atomic_int notified;

static void
count_notify(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void
test_sync_always(void **state)
{
    struct store_fixture *fx = *state;
    uint64_t t1, t2, end;

    atomic_store(&notified, 0);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &notified), RC_OK);
    assert_int_equal(store_put(fx->st, "a", 1, "1", 1), RC_OK);
    t1 = store_sync_ticket(fx->st);
    assert_int_equal(store_fixture_wait_ticket(fx->st, t1), RC_OK);
    assert_int_equal(store_put(fx->st, "b", 1, "2", 1), RC_OK);
    t2 = store_sync_ticket(fx->st);
    assert_int_equal(store_fixture_wait_ticket(fx->st, t2), RC_OK);
    assert_int_equal(store_sync_check(fx->st, t1), RC_OK);
    if (fx->cfg.kind == STORE_KIND_MEM) {
        assert_true(t1 == 0 && t2 == 0); /* durable on return */
        return;
    }
    assert_true(t1 > 0 && t2 > t1);
    end = util_mono_ms() + WAIT_LIMIT_MS;
    while (atomic_load(&notified) < 2 && util_mono_ms() < end) {
        usleep(1000);
    }
    assert_true(atomic_load(&notified) >= 2);
    assert_true(stat_u64(fx->st, "syncs") >= 2);
}

static void
test_sync_batch_and_none(void **state)
{
    struct store_fixture *fx = *state;
    uint64_t end, ticket;

    assert_int_equal(fixture_reopen(fx, STORE_SYNC_BATCH), RC_OK);
    atomic_store(&notified, 0);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &notified), RC_OK);
    assert_int_equal(store_put(fx->st, "a", 1, "1", 1), RC_OK);
    ticket = store_sync_ticket(fx->st);
    if (fx->cfg.kind == STORE_KIND_BDB) {
        /* The writer resolves its own ticket with one log write. */
        assert_true(store_sync_inline(fx->st));
        assert_true(ticket > 0);
        assert_int_equal(store_sync_check(fx->st, ticket), RC_EAGAIN);
        assert_int_equal(store_sync_write_now(fx->st), RC_OK);
        assert_int_equal(store_sync_check(fx->st, ticket), RC_OK);
        assert_int_equal(atomic_load(&notified), 0); /* no hand-off, no wake-ups */
        /* A ticket nobody resolves is resolved by the periodic flush (50 ms),
         * which then tells subscribers. */
        assert_int_equal(store_put(fx->st, "a2", 2, "1", 1), RC_OK);
        ticket = store_sync_ticket(fx->st);
        end = util_mono_ms() + WAIT_LIMIT_MS;
        while (store_sync_check(fx->st, ticket) == RC_EAGAIN && util_mono_ms() < end) {
            usleep(1000);
        }
        assert_int_equal(store_sync_check(fx->st, ticket), RC_OK);
        assert_true(atomic_load(&notified) >= 1);
    } else {
        assert_false(store_sync_inline(fx->st));
        assert_true(ticket == 0); /* the memory engine is durable at once */
    }
    assert_int_equal(fixture_reopen(fx, STORE_SYNC_NONE), RC_OK);
    assert_int_equal(store_put(fx->st, "b", 1, "2", 1), RC_OK);
    assert_true(store_sync_ticket(fx->st) == 0);
    assert_int_equal(store_sync_check(fx->st, 0), RC_OK);
    if (fx->cfg.kind == STORE_KIND_BDB) {
        check_value(fx->st, "a", 1, "1", 1); /* kept across the reopen */
    }
}

#define WRITER_THREADS    6
#define WRITES_PER_THREAD 150

struct writer {
    struct store *st;
    int id;
    int failures;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    char key[32], val[64];
    uint64_t t;
    int i;

    for (i = 0; i < WRITES_PER_THREAD; i++) {
        snprintf(key, sizeof(key), "w%d-%d", w->id, i);
        snprintf(val, sizeof(val), "value of %s", key);
        if (store_put(w->st, key, strlen(key), val, strlen(val)) != RC_OK) {
            w->failures++;
            continue;
        }
        t = store_sync_ticket(w->st);
        if (store_fixture_wait_ticket(w->st, t) != RC_OK) {
            w->failures++;
        }
    }
    return NULL;
}

static void
test_concurrent_group_commit(void **state)
{
    struct store_fixture *fx = *state;
    struct writer w[WRITER_THREADS];
    pthread_t th[WRITER_THREADS];
    unsigned long long syncs;
    char key[32], val[64];
    int i;

    for (i = 0; i < WRITER_THREADS; i++) {
        w[i] = (struct writer){.st = fx->st, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (i = 0; i < WRITER_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    for (i = 0; i < WRITER_THREADS; i++) {
        snprintf(key, sizeof(key), "w%d-%d", i, WRITES_PER_THREAD - 1);
        snprintf(val, sizeof(val), "value of %s", key);
        check_value(fx->st, key, strlen(key), val, strlen(val));
    }
    syncs = stat_u64(fx->st, "syncs");
    if (fx->cfg.kind == STORE_KIND_BDB) {
        print_message("group commit: %d writes, %llu flushes\n", WRITER_THREADS * WRITES_PER_THREAD,
                      syncs);
        assert_true(syncs > 0);
        assert_true(syncs < WRITER_THREADS * WRITES_PER_THREAD);
    } else {
        assert_true(syncs == 0);
    }
}

/* ------------------------------------------------------------ stats, checkpoints */

static void
test_stats(void **state)
{
    struct store_fixture *fx = *state;
    struct stats_seen s;
    const char *v;

    assert_int_equal(store_put(fx->st, "a", 1, "1", 1), RC_OK);
    v = stat_value(fx->st, "engine", &s);
    assert_non_null(v);
    assert_string_equal(v, fx->cfg.kind == STORE_KIND_BDB ? "bdb" : "memory");
    assert_string_equal(stat_value(fx->st, "sync_mode", &s), "always");
    assert_true(s.n >= 6);
    assert_true(stat_u64(fx->st, "commits") >= 1);
    if (fx->cfg.kind == STORE_KIND_BDB) {
        assert_true(stat_u64(fx->st, "cache_bytes") >= (16u << 20));
        assert_non_null(stat_value(fx->st, "cache_hits", &s));
        assert_non_null(stat_value(fx->st, "log_bytes_written", &s));
        assert_non_null(stat_value(fx->st, "checkpoint_stall_max_ms", &s));
        assert_non_null(stat_value(fx->st, "deadlocks_retried", &s));
        assert_non_null(stat_value(fx->st, "sync_time_avg_us", &s));
    }
}

static void
test_checkpoint_by_log_volume(void **state)
{
    struct store_fixture *fx = *state;
    char val[4096];
    char key[16];
    uint64_t end;
    int i;

    fx->cfg.checkpoint_kbytes = 256;
    assert_int_equal(fixture_reopen(fx, STORE_SYNC_NONE), RC_OK);
    memset(val, 'c', sizeof(val));
    for (i = 0; i < 200; i++) { /* ~800 KB of log */
        snprintf(key, sizeof(key), "c%d", i);
        assert_int_equal(store_put(fx->st, key, strlen(key), val, sizeof(val)), RC_OK);
    }
    end = util_mono_ms() + WAIT_LIMIT_MS;
    while (stat_u64(fx->st, "checkpoints") == 0 && util_mono_ms() < end) {
        usleep(20000);
    }
    assert_true(stat_u64(fx->st, "checkpoints") >= 1);
    assert_int_equal(stat_u64(fx->st, "checkpoint_kbytes"), 256);
}

/* ------------------------------------------------------------ failing flushes */

static atomic_int flush_result; /* what the fake engine's flush returns */
static atomic_int flush_calls;

static int
failing_flush(void *self)
{
    (void)self;
    atomic_fetch_add(&flush_calls, 1);
    return atomic_load(&flush_result);
}

static void
test_failed_flush_surfaces(void **state)
{
    struct engine_ops ops = store_engine_mem;
    struct store_config cfg = {.kind = STORE_KIND_MEM, .sync = STORE_SYNC_ALWAYS};
    struct store *st;
    uint64_t t1, t2, t3;

    (void)state;
    ops.flush_log = failing_flush;
    atomic_store(&flush_calls, 0);
    atomic_store(&flush_result, RC_ENOSPC);
    assert_int_equal(store_open_engine(&cfg, &ops, &st), RC_OK);
    atomic_store(&notified, 0);
    assert_int_equal(store_sync_subscribe(st, count_notify, &notified), RC_OK);
    assert_int_equal(store_put(st, "k", 1, "v", 1), RC_OK);
    t1 = store_sync_ticket(st);
    assert_int_equal(store_fixture_wait_ticket(st, t1), RC_ENOSPC);
    atomic_store(&flush_result, -5); /* an unexpected engine error */
    t2 = store_sync_ticket(st);
    assert_true(t2 > t1);
    assert_int_equal(store_fixture_wait_ticket(st, t2), RC_EIO);
    atomic_store(&flush_result, RC_OK);
    t3 = store_sync_ticket(st);
    assert_int_equal(store_fixture_wait_ticket(st, t3), RC_OK);
    /* Earlier failures are not retracted by a later success. */
    assert_int_equal(store_sync_check(st, t1), RC_ENOSPC);
    assert_int_equal(store_sync_check(st, t2), RC_EIO);
    assert_int_equal(store_sync_check(st, t3 + 100), RC_EAGAIN);
    assert_true(atomic_load(&notified) >= 3);
    assert_true(stat_u64(st, "sync_failures") == 2);
    store_close(st);
    assert_true(atomic_load(&flush_calls) >= 3);
}

/* STORE_UPDATE_CACHE: the cached copy changes, the engine is not written;
 * with no cache it is a put; a malformed one is refused. */
static atomic_int engine_puts;

static int
counting_put(void *self, const void *key, size_t nkey, const void *val, size_t nval)
{
    atomic_fetch_add(&engine_puts, 1);
    return store_engine_mem.put(self, key, nkey, val, nval);
}

struct cache_upd {
    const char *val; /* NULL with nval > 0: malformed */
    size_t nval;
    char seen[32];
    size_t nseen;
};

static int
decide_cache(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct cache_upd *u = arg;

    u->nseen = old != NULL && nold < sizeof(u->seen) ? nold : 0;
    if (u->nseen > 0) {
        memcpy(u->seen, old, u->nseen);
    }
    out->action = STORE_UPDATE_CACHE;
    out->val = u->val;
    out->nval = u->nval;
    return RC_OK;
}

static void
test_update_cache_only(void **state)
{
    struct engine_ops ops = store_engine_mem;
    struct store_config cfg = {.kind = STORE_KIND_MEM, .sync = STORE_SYNC_NONE};
    struct cache_upd u = {"NEW-bytes", 9, {0}, 0};
    struct store *st;
    struct buf b;

    (void)state;
    buf_init(&b);
    ops.put = counting_put;
    for (int cached = 1; cached >= 0; cached--) {
        cfg.hot_cache_bytes = cached ? 1 << 20 : 0;
        atomic_store(&engine_puts, 0);
        assert_int_equal(store_open_engine(&cfg, &ops, &st), RC_OK);
        assert_int_equal(store_put(st, "k", 1, "old-bytes", 9), RC_OK);
        assert_int_equal(atomic_load(&engine_puts), 1);
        u.val = "NEW-bytes";
        assert_int_equal(store_update(st, "k", 1, decide_cache, &u), RC_OK);
        assert_int_equal(u.nseen, 9);
        assert_memory_equal(u.seen, "old-bytes", 9);
        /* Cached: only the copy changed (no engine put). No cache: the
         * engine's update wrote it (the get below reads the engine). */
        if (cached) {
            assert_int_equal(atomic_load(&engine_puts), 1);
        }
        assert_int_equal(store_get(st, "k", 1, &b), RC_OK);
        assert_int_equal(b.len, 9);
        assert_memory_equal(b.data, "NEW-bytes", 9);
        /* The next decision sees the cached bookkeeping. */
        u.val = "NEW-again";
        assert_int_equal(store_update(st, "k", 1, decide_cache, &u), RC_OK);
        assert_memory_equal(u.seen, "NEW-bytes", 9);
        u.val = NULL;
        assert_int_equal(store_update(st, "k", 1, decide_cache, &u), RC_EINVAL);
        assert_int_equal(store_get(st, "k", 1, &b), RC_OK);
        assert_memory_equal(b.data, "NEW-again", 9);
        store_close(st);
    }
    buf_deinit(&b);
}

static void
test_sync_names(void **state)
{
    enum store_sync s;
    int i;

    (void)state;
    for (i = 0; i < STORE_SYNC__COUNT; i++) {
        assert_int_equal(store_sync_parse(store_sync_name((enum store_sync)i), &s), RC_OK);
        assert_int_equal(s, i);
    }
    assert_string_equal(store_sync_name(STORE_SYNC_BATCH), "batch");
    assert_int_equal(store_sync_parse("sometimes", &s), RC_EINVAL);
    assert_int_equal(store_sync_parse("", &s), RC_EINVAL);
    assert_int_equal(store_sync_parse(NULL, &s), RC_EINVAL);
}

static void
test_open_rejects_bad_config(void **state)
{
    struct store_config cfg = {.kind = STORE_KIND_BDB, .sync = STORE_SYNC_ALWAYS};
    struct store *st = NULL;

    (void)state;
    assert_int_equal(store_open(&cfg, &st), RC_EINVAL); /* no data_dir */
    cfg.kind = STORE_KIND__COUNT;
    cfg.data_dir = "/tmp";
    assert_int_equal(store_open(&cfg, &st), RC_EINVAL);
    cfg.kind = STORE_KIND_MEM;
    cfg.sync = STORE_SYNC__COUNT;
    assert_int_equal(store_open(&cfg, &st), RC_EINVAL);
    assert_null(st);
    store_close(NULL);
}

/* ------------------------------------------------------------ store_update */

/* A decide that records what it saw and answers as told. */
struct probe {
    int calls;
    bool saw_null;
    size_t nold;
    char old[64];
    int rc;                      /* returned */
    struct store_update_out ret; /* copied to *out */
};

static int
decide_probe(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct probe *p = arg;

    p->calls++;
    p->saw_null = old == NULL;
    p->nold = nold;
    if (old != NULL) {
        memcpy(p->old, old, nold < sizeof(p->old) ? nold : sizeof(p->old));
    }
    /* The store hands out a clean decision: nothing unless told. */
    assert_int_equal(out->action, STORE_UPDATE_NONE);
    *out = p->ret;
    return p->rc;
}

static struct probe
probe_put(const char *v)
{
    return (struct probe){.ret = {.action = STORE_UPDATE_PUT, .val = v, .nval = strlen(v)}};
}

static struct probe
probe_act(enum store_update_action a)
{
    return (struct probe){.ret = {.action = a}};
}

static void
test_update_basic(void **state)
{
    struct store_fixture *fx = *state;
    struct probe p;

    /* Absent: decide sees NULL/0; NONE writes nothing. */
    p = probe_act(STORE_UPDATE_NONE);
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_true(p.calls >= 1); /* twice when a speculative insert was weighed */
    assert_true(p.saw_null);
    assert_int_equal(p.nold, 0);
    check_absent(fx->st, "u", 1);
    /* Put on absent, then the next update sees the bytes. */
    p = probe_put("v1");
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_true(p.saw_null);
    check_value(fx->st, "u", 1, "v1", 2);
    p = probe_put("value-2");
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_false(p.saw_null);
    assert_int_equal(p.nold, 2);
    assert_memory_equal(p.old, "v1", 2);
    check_value(fx->st, "u", 1, "value-2", 7);
    /* A value written by store_put is seen too (cached and not). */
    assert_int_equal(store_put(fx->st, "u", 1, "from-put", 8), RC_OK);
    p = probe_act(STORE_UPDATE_NONE);
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_int_equal(p.nold, 8);
    assert_memory_equal(p.old, "from-put", 8);
    check_value(fx->st, "u", 1, "from-put", 8);
    /* An empty value is present: non-NULL, 0 bytes. */
    p = probe_put("");
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    check_value(fx->st, "u", 1, NULL, 0);
    p = probe_act(STORE_UPDATE_NONE);
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_false(p.saw_null);
    assert_int_equal(p.nold, 0);
    /* DELETE removes; deleting an absent key is RC_OK and writes nothing. */
    p = probe_act(STORE_UPDATE_DELETE);
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_false(p.saw_null);
    check_absent(fx->st, "u", 1);
    p = probe_act(STORE_UPDATE_DELETE);
    assert_int_equal(store_update(fx->st, "u", 1, decide_probe, &p), RC_OK);
    assert_true(p.saw_null);
    check_absent(fx->st, "u", 1);
    assert_int_equal(store_delete(fx->st, "u", 1), RC_ENOTFOUND);
    /* Bad arguments. */
    assert_int_equal(store_update(fx->st, "", 0, decide_probe, &p), RC_EINVAL);
    assert_int_equal(store_update(fx->st, "u", 1, NULL, &p), RC_EINVAL);
}

/* decide that puts "n<k>" where k counts the bytes it saw (0 when absent):
 * the value shows which input the stored decision came from. */
static int
decide_tag(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct probe *p = arg;

    p->calls++;
    snprintf(p->old, sizeof(p->old), "n%zu", old == NULL ? (size_t)0 : nold);
    out->action = STORE_UPDATE_PUT;
    out->val = p->old;
    out->nval = strlen(p->old);
    return RC_OK;
}

/* Misses on absent keys are decided on "absent" and inserted in one engine
 * call; a present key the cache does not hold is decided again on its real
 * bytes, and the stored value is that second decision. */
static void
test_update_speculative_insert(void **state)
{
    struct store_fixture *fx = *state;
    struct probe p;
    char big[4096];
    struct buf b;

    buf_init(&b);
    memset(&p, 0, sizeof(p));
    assert_int_equal(store_update(fx->st, "s1", 2, decide_tag, &p), RC_OK);
    assert_int_equal(p.calls, 1);
    check_value(fx->st, "s1", 2, "n0", 2);
    /* Present and (too large for a small cache, or no cache) not cached. */
    memset(big, 'b', sizeof(big));
    assert_int_equal(store_put(fx->st, "s2", 2, big, sizeof(big)), RC_OK);
    memset(&p, 0, sizeof(p));
    assert_int_equal(store_update(fx->st, "s2", 2, decide_tag, &p), RC_OK);
    assert_true(p.calls >= 1 && p.calls <= 2);
    check_value(fx->st, "s2", 2, "n4096", 5);
    buf_deinit(&b);
}

static void
test_update_decide_error(void **state)
{
    struct store_fixture *fx = *state;
    struct probe p;

    /* A failing decide aborts: nothing written, its status returned, even
     * with a PUT or DELETE left in *out. */
    p = probe_put("never");
    p.rc = RC_EEXISTS;
    assert_int_equal(store_update(fx->st, "e", 1, decide_probe, &p), RC_EEXISTS);
    assert_true(p.calls >= 1);
    check_absent(fx->st, "e", 1);
    assert_int_equal(store_put(fx->st, "e", 1, "orig", 4), RC_OK);
    p.rc = RC_ENONNUMERIC;
    assert_int_equal(store_update(fx->st, "e", 1, decide_probe, &p), RC_ENONNUMERIC);
    check_value(fx->st, "e", 1, "orig", 4);
    p = probe_act(STORE_UPDATE_DELETE);
    p.rc = RC_EBADCONTEXT;
    assert_int_equal(store_update(fx->st, "e", 1, decide_probe, &p), RC_EBADCONTEXT);
    check_value(fx->st, "e", 1, "orig", 4);
    /* A malformed decision is refused the same way. */
    p = probe_act((enum store_update_action)77);
    assert_int_equal(store_update(fx->st, "e", 1, decide_probe, &p), RC_EINVAL);
    check_value(fx->st, "e", 1, "orig", 4);
    p = probe_act(STORE_UPDATE_PUT);
    p.ret.nval = 5; /* from NULL */
    assert_int_equal(store_update(fx->st, "e", 1, decide_probe, &p), RC_EINVAL);
    check_value(fx->st, "e", 1, "orig", 4);
    assert_int_equal(store_delete(fx->st, "e", 1), RC_OK);
    assert_int_equal(store_update(fx->st, "e", 1, decide_probe, &p), RC_EINVAL);
    check_absent(fx->st, "e", 1);
}

static void
test_update_large_and_truncate(void **state)
{
    struct store_fixture *fx = *state;
    size_t n = 200 * 1024, i; /* bigger than any hot-cache entry */
    char *v = malloc(n + 1);
    struct probe p;

    assert_non_null(v);
    for (i = 0; i < n; i++) {
        v[i] = (char)('a' + i % 23);
    }
    v[n] = '\0';
    p = probe_put(v);
    assert_int_equal(store_update(fx->st, "big", 3, decide_probe, &p), RC_OK);
    check_value(fx->st, "big", 3, v, n);
    p = probe_put("small again");
    assert_int_equal(store_update(fx->st, "big", 3, decide_probe, &p), RC_OK);
    assert_int_equal(p.nold, n);
    assert_memory_equal(p.old, v, sizeof(p.old));
    check_value(fx->st, "big", 3, "small again", 11);
    /* After a truncate an update sees nothing, cached or not. */
    assert_int_equal(store_truncate(fx->st), RC_OK);
    p = probe_put("fresh");
    assert_int_equal(store_update(fx->st, "big", 3, decide_probe, &p), RC_OK);
    assert_true(p.saw_null);
    check_value(fx->st, "big", 3, "fresh", 5);
    free(v);
}

/* Random puts, deletes and updates of every kind over a few keys, some too
 * large to cache, against a model: every get must answer the model (cache
 * or engine), and at the end so must the engine alone (a scan bypasses the
 * cache; for Berkeley DB also a reopen without any hot cache). */
#define MIX_KEYS 12
#define MIX_OPS  3000

struct mix_model {
    char val[MIX_KEYS][32];
    size_t len[MIX_KEYS];
    bool present[MIX_KEYS];
    int bad;
};

static int
mix_scan_check(void *arg, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct mix_model *m = arg;
    int k;

    if (nkey != 4 || sscanf((const char *)key, "m%03d", &k) != 1 || k < 0 || k >= MIX_KEYS ||
        !m->present[k]) {
        m->bad++;
        return 0;
    }
    if (k % 4 == 3) { /* big: the model holds its first 32 bytes' pattern */
        if (nval != 20000 + m->len[k] || memcmp(val, m->val[k], m->len[k]) != 0) {
            m->bad++;
        }
    } else if (nval != m->len[k] || memcmp(val, m->val[k], nval) != 0) {
        m->bad++;
    }
    m->present[k] = false; /* seen */
    return 0;
}

static void
mix_value(char *big, int k, const struct mix_model *m, const char **val, size_t *nval)
{
    if (k % 4 == 3) {
        memcpy(big, m->val[k], m->len[k]);
        memset(big + m->len[k], 'B', 20000);
        *val = big;
        *nval = m->len[k] + 20000;
    } else {
        *val = m->val[k];
        *nval = m->len[k];
    }
}

/* The decide saw the model's value (its first bytes), or NULL if absent. */
static void
mix_check_seen(const struct probe *p, bool present, const char *old, size_t nold)
{
    assert_int_equal(p->saw_null, !present);
    if (present) {
        assert_int_equal(p->nold, nold);
        assert_memory_equal(p->old, old, nold < sizeof(p->old) ? nold : sizeof(p->old));
    }
}

static void
test_update_cache_coherence(void **state)
{
    struct store_fixture *fx = *state;
    struct mix_model *m = calloc(1, sizeof(*m));
    char *big = malloc(20000 + 64);
    char key[8], nv[32];
    struct buf cursor;
    struct probe p;
    const char *val, *oldval;
    size_t nval, noldval;
    char oldcopy[64];
    bool done;
    int i, k, op, rc;

    assert_non_null(m);
    assert_non_null(big);
    srand(1234);
    for (i = 0; i < MIX_OPS; i++) {
        k = rand() % MIX_KEYS;
        op = rand() % 7;
        snprintf(key, sizeof(key), "m%03d", k);
        snprintf(nv, sizeof(nv), "v%d-%d", k, i);
        mix_value(big, k, m, &oldval, &noldval); /* what an update must see */
        memcpy(oldcopy, oldval, noldval < sizeof(oldcopy) ? noldval : sizeof(oldcopy));
        switch (op) {
        case 0: /* plain put */
            snprintf(m->val[k], sizeof(m->val[k]), "%s", nv);
            m->len[k] = strlen(nv);
            m->present[k] = true;
            mix_value(big, k, m, &val, &nval);
            assert_int_equal(store_put(fx->st, key, 4, val, nval), RC_OK);
            break;
        case 1: /* plain delete */
            rc = store_delete(fx->st, key, 4);
            assert_int_equal(rc, m->present[k] ? RC_OK : RC_ENOTFOUND);
            m->present[k] = false;
            break;
        case 2:
        case 3: /* update put */
            snprintf(m->val[k], sizeof(m->val[k]), "%s", nv);
            m->len[k] = strlen(nv);
            mix_value(big, k, m, &val, &nval);
            p = (struct probe){.ret = {.action = STORE_UPDATE_PUT, .val = val, .nval = nval}};
            assert_int_equal(store_update(fx->st, key, 4, decide_probe, &p), RC_OK);
            mix_check_seen(&p, m->present[k], oldcopy, noldval);
            m->present[k] = true;
            break;
        case 4: /* update delete */
            p = probe_act(STORE_UPDATE_DELETE);
            assert_int_equal(store_update(fx->st, key, 4, decide_probe, &p), RC_OK);
            mix_check_seen(&p, m->present[k], oldcopy, noldval);
            m->present[k] = false;
            break;
        case 5: /* update none */
            p = probe_act(STORE_UPDATE_NONE);
            assert_int_equal(store_update(fx->st, key, 4, decide_probe, &p), RC_OK);
            mix_check_seen(&p, m->present[k], oldcopy, noldval);
            break;
        default: /* update error */
            p = probe_put("no");
            p.rc = RC_ENOTSTORED;
            assert_int_equal(store_update(fx->st, key, 4, decide_probe, &p), RC_ENOTSTORED);
            break;
        }
        if (rand() % 3 == 0) {
            if (m->present[k]) {
                mix_value(big, k, m, &val, &nval);
                check_value(fx->st, key, 4, val, nval);
            } else {
                check_absent(fx->st, key, 4);
            }
        }
    }
    for (k = 0; k < MIX_KEYS; k++) {
        snprintf(key, sizeof(key), "m%03d", k);
        if (m->present[k]) {
            mix_value(big, k, m, &val, &nval);
            check_value(fx->st, key, 4, val, nval);
        } else {
            check_absent(fx->st, key, 4);
        }
    }
    if (fx->cfg.kind == STORE_KIND_BDB) {
        /* The engine alone, with no hot cache at all. */
        fx->cfg.hot_cache_bytes = 0;
        assert_int_equal(fixture_reopen(fx, STORE_SYNC_ALWAYS), RC_OK);
        for (k = 0; k < MIX_KEYS; k++) {
            snprintf(key, sizeof(key), "m%03d", k);
            if (m->present[k]) {
                mix_value(big, k, m, &val, &nval);
                check_value(fx->st, key, 4, val, nval);
            } else {
                check_absent(fx->st, key, 4);
            }
        }
    }
    /* The engine's items, through a scan (no cache): exactly the model. */
    buf_init(&cursor);
    assert_int_equal(store_scan(fx->st, &cursor, 0, mix_scan_check, m, &done), RC_OK);
    assert_true(done);
    assert_int_equal(m->bad, 0);
    for (k = 0; k < MIX_KEYS; k++) {
        assert_false(m->present[k]); /* every present key was seen */
    }
    buf_deinit(&cursor);
    free(big);
    free(m);
}

static void
test_update_durability(void **state)
{
    struct store_fixture *fx = *state;
    struct probe p;
    uint64_t t1, t2;

    p = probe_put("d1");
    assert_int_equal(store_update(fx->st, "dur", 3, decide_probe, &p), RC_OK);
    t1 = store_sync_ticket(fx->st);
    assert_int_equal(store_fixture_wait_ticket(fx->st, t1), RC_OK);
    p = probe_act(STORE_UPDATE_DELETE);
    assert_int_equal(store_update(fx->st, "dur2", 4, decide_probe, &p), RC_OK);
    p = probe_put("d2");
    assert_int_equal(store_update(fx->st, "dur", 3, decide_probe, &p), RC_OK);
    t2 = store_sync_ticket(fx->st);
    assert_int_equal(store_fixture_wait_ticket(fx->st, t2), RC_OK);
    if (fx->cfg.kind == STORE_KIND_MEM) {
        assert_true(t1 == 0 && t2 == 0);
        return;
    }
    assert_true(t1 > 0 && t2 > t1);
    /* Batch: the writer resolves its ticket with one log write. */
    assert_int_equal(fixture_reopen(fx, STORE_SYNC_BATCH), RC_OK);
    check_value(fx->st, "dur", 3, "d2", 2);
    p = probe_put("d3");
    assert_int_equal(store_update(fx->st, "dur", 3, decide_probe, &p), RC_OK);
    t1 = store_sync_ticket(fx->st);
    assert_true(t1 > 0);
    assert_int_equal(store_sync_write_now(fx->st), RC_OK);
    assert_int_equal(store_sync_check(fx->st, t1), RC_OK);
    assert_int_equal(fixture_reopen(fx, STORE_SYNC_ALWAYS), RC_OK);
    check_value(fx->st, "dur", 3, "d3", 2);
}

static void
test_update_stats(void **state)
{
    struct store_fixture *fx = *state;
    unsigned long long c0, c1;
    struct probe p;

    c0 = stat_u64(fx->st, "commits");
    p = probe_put("x");
    assert_int_equal(store_update(fx->st, "s", 1, decide_probe, &p), RC_OK);
    p = probe_put("y");
    assert_int_equal(store_update(fx->st, "s", 1, decide_probe, &p), RC_OK);
    p = probe_act(STORE_UPDATE_DELETE);
    assert_int_equal(store_update(fx->st, "s", 1, decide_probe, &p), RC_OK);
    c1 = stat_u64(fx->st, "commits");
    assert_true(c1 >= c0 + 3);
    if (fx->cfg.kind == STORE_KIND_MEM) {
        /* Exactly the writes: NONE, errors and absent deletes add none. */
        assert_int_equal(c1, c0 + 3);
        p = probe_act(STORE_UPDATE_NONE);
        assert_int_equal(store_update(fx->st, "s", 1, decide_probe, &p), RC_OK);
        p = probe_act(STORE_UPDATE_DELETE);
        assert_int_equal(store_update(fx->st, "s", 1, decide_probe, &p), RC_OK);
        p = probe_put("z");
        p.rc = RC_EEXISTS;
        assert_int_equal(store_update(fx->st, "s", 1, decide_probe, &p), RC_EEXISTS);
        assert_int_equal(stat_u64(fx->st, "commits"), c1);
    }
}

/* Counters under a few keys, incremented by store_update from several
 * threads with no lock of ours: only an atomic read-decide-write (and a
 * deadlock retry that decides again on a fresh read) ends exact. */
#define INCR_THREADS 4
#define INCR_EACH    2000
#define INCR_KEYS    3

struct incr {
    struct store *st;
    int id;
    int calls;    /* decide calls, retries included */
    int failures; /* store_update errors */
    int per_key[INCR_KEYS];
    uint64_t next; /* the value being written: valid until store_update returns */
    char filler[1500];
};

static int
decide_incr(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct incr *in = arg;
    uint64_t n = 0;

    in->calls++;
    if (old != NULL) {
        if (nold != sizeof(n)) {
            return RC_ECORRUPT;
        }
        memcpy(&n, old, sizeof(n));
    }
    in->next = n + 1;
    out->action = STORE_UPDATE_PUT;
    out->val = &in->next;
    out->nval = sizeof(in->next);
    return RC_OK;
}

static int
decide_filler(void *arg, const void *old, size_t nold, struct store_update_out *out)
{
    struct incr *in = arg;

    (void)old;
    (void)nold;
    in->calls++;
    out->action = STORE_UPDATE_PUT;
    out->val = in->filler;
    out->nval = sizeof(in->filler);
    return RC_OK;
}

static void *
incr_main(void *arg)
{
    struct incr *in = arg;
    char key[8], fkey[24];
    int i, k;

    for (i = 0; i < INCR_EACH; i++) {
        k = (i * 7 + in->id) % INCR_KEYS;
        snprintf(key, sizeof(key), "ctr%d", k);
        if (store_update(in->st, key, strlen(key), decide_incr, in) != RC_OK) {
            in->failures++;
            continue;
        }
        in->per_key[k]++;
        /* Interleaved inserts split pages under the counters' feet, which
         * is where Berkeley DB finds its deadlocks. */
        snprintf(fkey, sizeof(fkey), "ctr%d-%05d", (i * 13 + in->id * 5) % 97, i * 4 + in->id);
        if (store_update(in->st, fkey, strlen(fkey), decide_filler, in) != RC_OK) {
            in->failures++;
        }
    }
    return NULL;
}

static void
test_update_concurrent_increments(void **state)
{
    struct store_fixture *fx = *state;
    struct incr in[INCR_THREADS];
    pthread_t th[INCR_THREADS];
    int want[INCR_KEYS] = {0}, calls = 0, i, k;
    char key[8];
    uint64_t n;
    struct buf b;

    assert_int_equal(fixture_reopen(fx, STORE_SYNC_NONE), RC_OK); /* no fsyncs: speed */
    for (i = 0; i < INCR_THREADS; i++) {
        in[i] = (struct incr){.st = fx->st, .id = i};
        memset(in[i].filler, 'f', sizeof(in[i].filler));
        assert_int_equal(pthread_create(&th[i], NULL, incr_main, &in[i]), 0);
    }
    for (i = 0; i < INCR_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(in[i].failures, 0);
        calls += in[i].calls;
        for (k = 0; k < INCR_KEYS; k++) {
            want[k] += in[i].per_key[k];
        }
    }
    buf_init(&b);
    for (k = 0; k < INCR_KEYS; k++) {
        snprintf(key, sizeof(key), "ctr%d", k);
        assert_int_equal(store_get(fx->st, key, strlen(key), &b), RC_OK);
        assert_int_equal(b.len, sizeof(n));
        memcpy(&n, b.data, sizeof(n));
        assert_int_equal(n, (uint64_t)want[k]);
    }
    buf_deinit(&b);
    assert_true(calls >= 2 * INCR_THREADS * INCR_EACH);
    if (fx->cfg.kind == STORE_KIND_BDB) {
        print_message("increments: %d updates, %d decides, %llu deadlocks retried\n",
                      2 * INCR_THREADS * INCR_EACH, calls, stat_u64(fx->st, "deadlocks_retried"));
    } else {
        /* No deadlock retries in memory; the extra decides are speculative
         * inserts weighed on misses: with no cache every update is a miss,
         * and the filler inserts keep about half the guesses right. */
        print_message("increments: %d updates, %d decides\n", 2 * INCR_THREADS * INCR_EACH, calls);
        assert_true(calls <= 2 * INCR_THREADS * INCR_EACH * 3 / 2);
    }
}

/* ------------------------------------------------------------ failing writes */

/* The memory engine wrapped so that writes fail: before touching the
 * engine (it keeps the old value), or after (it has the new one, but the
 * caller hears an error, as after a failed commit whose outcome is
 * unknown). Either way the hot cache must not answer a value the engine
 * does not hold. */
enum fault { FAULT_NONE = 0, FAULT_BEFORE, FAULT_AFTER };
static atomic_int write_fault;

static int
faulty_put(void *self, const void *key, size_t nkey, const void *val, size_t nval)
{
    int rc;

    if (atomic_load(&write_fault) == FAULT_BEFORE) {
        return RC_EIO;
    }
    rc = store_engine_mem.put(self, key, nkey, val, nval);
    return atomic_load(&write_fault) == FAULT_AFTER ? RC_EIO : rc;
}

static int
faulty_del(void *self, const void *key, size_t nkey)
{
    int rc;

    if (atomic_load(&write_fault) == FAULT_BEFORE) {
        return RC_ENOSPC;
    }
    rc = store_engine_mem.del(self, key, nkey);
    return atomic_load(&write_fault) == FAULT_AFTER ? RC_ENOSPC : rc;
}

static int
faulty_update(void *self, const void *key, size_t nkey, store_decide_fn decide, void *arg,
              struct store_update_out *out)
{
    int rc;

    if (atomic_load(&write_fault) == FAULT_BEFORE) {
        return RC_EIO;
    }
    rc = store_engine_mem.update(self, key, nkey, decide, arg, out);
    return atomic_load(&write_fault) == FAULT_AFTER ? RC_EIO : rc;
}

/* Store "old" padded to nold bytes (small: hot-cached; large: never cached),
 * then update it with `a` while the engine fails as `f` says. */
static void
fault_case(struct store *st, size_t nold, enum fault f, enum store_update_action a)
{
    struct probe p = a == STORE_UPDATE_PUT ? probe_put("new") : probe_act(a);
    char *old = malloc(nold);
    bool cached = nold < 1024;
    struct buf b;
    int rc;

    assert_non_null(old);
    memset(old, 'o', nold);
    buf_init(&b);
    atomic_store(&write_fault, FAULT_NONE);
    assert_int_equal(store_put(st, "f", 1, old, nold), RC_OK);
    atomic_store(&write_fault, f);
    rc = store_update(st, "f", 1, decide_probe, &p);
    atomic_store(&write_fault, FAULT_NONE);
    assert_true(rc == RC_EIO || rc == RC_ENOSPC);
    /* On a hit the store itself decides on the cached bytes; on a miss a
     * failure before the engine means no decide at all. */
    assert_int_equal(p.calls, cached || f == FAULT_AFTER ? 1 : 0);
    rc = store_get(st, "f", 1, &b);
    if (f == FAULT_BEFORE) {
        assert_int_equal(rc, RC_OK); /* the engine kept the old value */
        assert_int_equal(b.len, nold);
        assert_memory_equal(b.data, old, nold);
    } else if (a == STORE_UPDATE_PUT) {
        assert_int_equal(rc, RC_OK); /* the engine has the new one */
        assert_int_equal(b.len, 3);
        assert_memory_equal(b.data, "new", 3);
    } else {
        assert_int_equal(rc, RC_ENOTFOUND);
    }
    buf_deinit(&b);
    free(old);
}

static void
test_update_failing_engine(void **state)
{
    static const enum store_update_action acts[] = {STORE_UPDATE_PUT, STORE_UPDATE_DELETE};
    struct engine_ops ops = store_engine_mem;
    struct store_config cfg = {
        .kind = STORE_KIND_MEM, .sync = STORE_SYNC_ALWAYS, .hot_cache_bytes = 1u << 20};
    struct store *st;
    size_t i;

    (void)state;
    ops.put = faulty_put;
    ops.del = faulty_del;
    ops.update = faulty_update;
    ops.insert = NULL; /* no speculative inserts: every miss goes through update */
    assert_int_equal(store_open_engine(&cfg, &ops, &st), RC_OK);
    for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
        /* Cache hit: decide on the cached bytes, then ops->put / ops->del. */
        fault_case(st, 3, FAULT_BEFORE, acts[i]);
        fault_case(st, 3, FAULT_AFTER, acts[i]);
        /* Miss: ops->update. */
        fault_case(st, 8192, FAULT_BEFORE, acts[i]);
        fault_case(st, 8192, FAULT_AFTER, acts[i]);
    }
    store_close(st);
}

/* Each engine-dependent test twice, named after its engine. */
/* clang-format off */
#define BOTH(fn) \
    {#fn " [bdb]", fn, setup_store, teardown_store, (void *)&kind_bdb}, \
    {#fn " [bdb+cache]", fn, setup_store, teardown_store, (void *)&kind_bdb_cache}, \
    {#fn " [memory]", fn, setup_store, teardown_store, (void *)&kind_mem}
/* Persistence and checkpoints mean nothing to the memory engine. */
#define BDB_ONLY(fn) \
    {#fn " [bdb]", fn, setup_store, teardown_store, (void *)&kind_bdb}, \
    {#fn " [bdb+cache]", fn, setup_store, teardown_store, (void *)&kind_bdb_cache}
/* store_update: also the memory engine behind the hot cache. */
#define ALL(fn) \
    BOTH(fn), \
    {#fn " [memory+cache]", fn, setup_store, teardown_store, (void *)&kind_mem_cache}
/* clang-format on */

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_put_get_delete),
        BOTH(test_binary_keys_values),
        BOTH(test_large_values),
        BOTH(test_scan_order_and_resume),
        BOTH(test_scan_cursor_between_keys),
        BOTH(test_scan_early_stop),
        BOTH(test_truncate),
        BOTH(test_meta),
        BDB_ONLY(test_reopen_keeps_data),
        BDB_ONLY(test_crash_recovery),
        BDB_ONLY(test_second_open_refused),
        BOTH(test_sync_always),
        BOTH(test_sync_batch_and_none),
        BOTH(test_concurrent_group_commit),
        BOTH(test_stats),
        BDB_ONLY(test_checkpoint_by_log_volume),
        ALL(test_update_basic),
        ALL(test_update_decide_error),
        ALL(test_update_speculative_insert),
        ALL(test_update_large_and_truncate),
        ALL(test_update_cache_coherence),
        ALL(test_update_durability),
        ALL(test_update_stats),
        ALL(test_update_concurrent_increments),
        cmocka_unit_test(test_update_failing_engine),
        cmocka_unit_test(test_failed_flush_surfaces),
        cmocka_unit_test(test_update_cache_only),
        cmocka_unit_test(test_sync_names),
        cmocka_unit_test(test_open_rejects_bad_config),
    };

    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
