/* SPDX-License-Identifier: BSD-3-Clause */
/* test_store_subs.c - the sync thread's subscribers (store.h):
 * store_sync_subscribe and store_sync_unsubscribe on a Berkeley DB store
 * under --sync always, where every completed flush calls them. The daemon
 * unsubscribes a worker or the cluster service before freeing it while the
 * sync thread keeps running; these tests hold the promise that makes that
 * safe: once unsubscribe returns, no call to that subscriber runs again. */
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
#include <unistd.h>

#include "base/status.h"
#include "base/util.h"
#include "store/store.h"
#include "store_fixture.h"

#define WAIT_LIMIT_MS STORE_FIXTURE_WAIT_MS

/* Berkeley DB under --sync always: every write is a flush that calls the
 * subscribers. */
static int
setup(void **state)
{
    return store_fixture_setup(state, "subs", STORE_KIND_BDB, 0);
}

static int
teardown(void **state)
{
    return store_fixture_teardown(state);
}

static void
count_notify(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void
other_notify(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* One durable write, waited for: every subscriber has been called for its
 * flush by the time the ticket resolves? Not quite: the ticket resolves
 * before the calls, so wait for `counter` to pass `above` too. */
static void
write_and_wait(struct store *st, const char *key, atomic_int *counter, int above)
{
    uint64_t t, end = util_mono_ms() + WAIT_LIMIT_MS;

    assert_int_equal(store_put(st, key, strlen(key), "v", 1), RC_OK);
    t = store_sync_ticket(st);
    assert_true(t > 0);
    while (store_sync_check(st, t) == RC_EAGAIN && util_mono_ms() < end) {
        usleep(200);
    }
    assert_int_equal(store_sync_check(st, t), RC_OK);
    while (counter != NULL && atomic_load(counter) <= above && util_mono_ms() < end) {
        usleep(200);
    }
}

/* A removed subscriber is not called again; the others still are. */
static void
test_unsubscribe_stops_calls(void **state)
{
    struct store_fixture *fx = *state;
    atomic_int a = 0, b = 0;
    int a_before, b_before;

    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &a), RC_OK);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &b), RC_OK);
    write_and_wait(fx->st, "k1", &b, 0);
    write_and_wait(fx->st, "k1", &a, 0);
    assert_true(atomic_load(&a) >= 1 && atomic_load(&b) >= 1);

    store_sync_unsubscribe(fx->st, count_notify, &a);
    a_before = atomic_load(&a);
    b_before = atomic_load(&b);
    for (int i = 0; i < 5; i++) {
        write_and_wait(fx->st, "k2", &b, b_before + i);
    }
    assert_true(atomic_load(&b) >= b_before + 5);
    assert_int_equal(atomic_load(&a), a_before);
    store_sync_unsubscribe(fx->st, count_notify, &b);
}

/* The pair must match: the same function with another arg, or another
 * function with the same arg, stays; a pair subscribed twice goes at once;
 * unsubscribing what was never subscribed changes nothing. */
static void
test_unsubscribe_matches_pairs(void **state)
{
    struct store_fixture *fx = *state;
    atomic_int a = 0, b = 0;
    int a_before, b_before;

    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &a), RC_OK);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &a), RC_OK);
    assert_int_equal(store_sync_subscribe(fx->st, other_notify, &a), RC_OK);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &b), RC_OK);
    store_sync_unsubscribe(fx->st, other_notify, &b); /* never subscribed */
    store_sync_unsubscribe(NULL, count_notify, &a);   /* no store: nothing */
    write_and_wait(fx->st, "p1", &a, 2);              /* 3 calls on a per flush */
    assert_true(atomic_load(&a) >= 3);

    store_sync_unsubscribe(fx->st, count_notify, &a); /* both copies */
    a_before = atomic_load(&a);
    b_before = atomic_load(&b);
    write_and_wait(fx->st, "p2", &a, a_before); /* other_notify still counts a */
    write_and_wait(fx->st, "p3", &b, b_before + 1);
    /* Two flushes, each calling other_notify(&a) once and count_notify(&b). */
    assert_int_equal(atomic_load(&a) - a_before, atomic_load(&b) - b_before);
    store_sync_unsubscribe(fx->st, other_notify, &a);
    store_sync_unsubscribe(fx->st, count_notify, &b);
}

/* 64 subscribers at most; a removed one frees its place. */
static void
test_subscriber_limit(void **state)
{
    struct store_fixture *fx = *state;
    atomic_int c[65];
    int n = 0;

    for (int i = 0; i < 65; i++) {
        atomic_init(&c[i], 0);
        if (store_sync_subscribe(fx->st, count_notify, &c[i]) == RC_OK) {
            n++;
        } else {
            break;
        }
    }
    assert_int_equal(n, 64);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &c[64]), RC_ENOMEM);
    store_sync_unsubscribe(fx->st, count_notify, &c[10]);
    assert_int_equal(store_sync_subscribe(fx->st, count_notify, &c[64]), RC_OK);
    for (int i = 0; i < 65; i++) {
        store_sync_unsubscribe(fx->st, count_notify, &c[i]);
    }
}

/* ------------------------------------------------ unsubscribe under flushes */

struct probe {
    atomic_int calls;
};

static atomic_bool probe_gone; /* set once unsubscribe returned */
static atomic_int probe_late;  /* calls that began after that */
static atomic_bool writer_stop;
static atomic_int writer_flushes;

/* Slow on purpose, to widen the window in which a flush is calling it
 * while the test unsubscribes. A call after the probe is freed would be a
 * use after free (ASan) and is counted too. */
static void
probe_notify(void *arg)
{
    struct probe *p = arg;

    if (atomic_load(&probe_gone)) {
        atomic_fetch_add(&probe_late, 1);
        return;
    }
    usleep(300);
    atomic_fetch_add(&p->calls, 1);
}

static void *
writer_main(void *arg)
{
    struct store *st = arg;
    char key[32];
    uint64_t end = util_mono_ms() + WAIT_LIMIT_MS;

    for (unsigned i = 0; !atomic_load(&writer_stop) && util_mono_ms() < end; i++) {
        uint64_t t;

        snprintf(key, sizeof(key), "w%u", i % 64);
        if (store_put(st, key, strlen(key), "x", 1) != RC_OK) {
            break;
        }
        t = store_sync_ticket(st);
        while (store_sync_check(st, t) == RC_EAGAIN && util_mono_ms() < end) {
            usleep(100);
        }
        atomic_fetch_add(&writer_flushes, 1);
    }
    return NULL;
}

static void
test_unsubscribe_during_flushes(void **state)
{
    struct store_fixture *fx = *state;
    pthread_t th[2];
    uint64_t end;

    for (int round = 0; round < 20; round++) {
        struct probe *p = calloc(1, sizeof(*p));
        int flushes;

        assert_non_null(p);
        atomic_store(&probe_gone, false);
        atomic_store(&writer_stop, false);
        assert_int_equal(store_sync_subscribe(fx->st, probe_notify, p), RC_OK);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(pthread_create(&th[i], NULL, writer_main, fx->st), 0);
        }
        end = util_mono_ms() + WAIT_LIMIT_MS;
        while (atomic_load(&p->calls) < 1 + round % 4 && util_mono_ms() < end) {
            usleep(100);
        }
        assert_true(atomic_load(&p->calls) >= 1);
        store_sync_unsubscribe(fx->st, probe_notify, p);
        atomic_store(&probe_gone, true);
        free(p);
        /* Flushes go on after the removal. */
        flushes = atomic_load(&writer_flushes);
        while (atomic_load(&writer_flushes) < flushes + 5 && util_mono_ms() < end) {
            usleep(100);
        }
        atomic_store(&writer_stop, true);
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
        }
        assert_true(atomic_load(&writer_flushes) >= flushes + 5);
        assert_int_equal(atomic_load(&probe_late), 0);
    }
}

int main(void);

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unsubscribe_stops_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe_matches_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriber_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe_during_flushes, setup, teardown),
    };

    return cmocka_run_group_tests_name("store_subs", tests, NULL, NULL);
}
