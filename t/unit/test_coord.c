/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_coord.c - memcached semantics in the coordinator, over the in-memory
 * engine (and the Berkeley DB engine for the restart cases): storage
 * commands, cas, incr/decr padding and wrap, touch, expiry, flush_all with
 * and without delay, counts, and cas uniqueness across reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/status.h"
#include "base/util.h"
#include "coord/coord.h"
#include "proto/request.h"
#include "store/store.h"

struct fx {
    struct store *st;
    struct coord *co;
    struct coord_thread *ct;
    char dir[64];
    enum store_kind kind;
};

static int
fx_open(struct fx *f)
{
    struct store_config sc = {.kind = f->kind,
                              .data_dir = f->dir,
                              .sync = STORE_SYNC_NONE,
                              .sync_interval_ms = 1000,
                              .cache_bytes = 8 << 20};
    struct coord_config cc = {.max_item_size = 1024 * 1024, .use_cas = true, .flush_enabled = true};

    if (store_open(&sc, &f->st) != RC_OK || coord_create(&cc, f->st, &f->co) != RC_OK ||
        coord_thread_create(f->co, &f->ct) != RC_OK) {
        return -1;
    }
    return 0;
}

static void
fx_close(struct fx *f)
{
    coord_thread_destroy(f->ct);
    coord_destroy(f->co);
    store_close(f->st);
    f->ct = NULL;
    f->co = NULL;
    f->st = NULL;
}

static int
setup_kind(void **state, enum store_kind kind)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/rc-coord-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    f->kind = kind;
    *state = f;
    return fx_open(f);
}

static int
setup_mem(void **state)
{
    return setup_kind(state, STORE_KIND_MEM);
}

static int
setup_bdb(void **state)
{
    return setup_kind(state, STORE_KIND_BDB);
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    fx_close(f);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    free(f);
    return 0;
}

/* Run one single-key command; returns the response status. */
static int
run(struct fx *f, enum req_cmd cmd, const char *key, const char *val, int64_t exptime, uint64_t num,
    struct response *out)
{
    struct req_key k = {key, strlen(key)};
    struct request req;
    struct response resp;
    uint64_t ticket;

    request_reset(&req);
    req.cmd = cmd;
    req.keys = &k;
    req.nkeys = 1;
    req.exptime = exptime;
    req.flags = 7;
    req.cas = num;
    req.delta = num;
    if (val != NULL) {
        req.value = val;
        req.nvalue = strlen(val);
    }
    coord_execute(f->ct, &req, 0, &resp, &ticket);
    if (out != NULL) {
        *out = resp;
    }
    return resp.status;
}

/* get key; on a hit copy the value into buf. */
static int
get(struct fx *f, const char *key, char *buf, size_t n, uint64_t *cas)
{
    struct response r;
    int rc = run(f, REQ_GETS, key, NULL, 0, 0, &r);

    if (rc == RC_OK) {
        assert_true(r.nvalue < n);
        memcpy(buf, r.value, r.nvalue);
        buf[r.nvalue] = '\0';
        if (cas != NULL) {
            *cas = r.cas;
        }
    }
    return rc;
}

static void
test_set_get_add_replace(void **state)
{
    struct fx *f = *state;
    char v[64];

    assert_int_equal(get(f, "a", v, sizeof(v), NULL), RC_ENOTFOUND);
    assert_int_equal(run(f, REQ_REPLACE, "a", "x", 0, 0, NULL), RC_ENOTSTORED);
    assert_int_equal(run(f, REQ_ADD, "a", "one", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_ADD, "a", "two", 0, 0, NULL), RC_ENOTSTORED);
    assert_int_equal(get(f, "a", v, sizeof(v), NULL), RC_OK);
    assert_string_equal(v, "one");
    assert_int_equal(run(f, REQ_REPLACE, "a", "three", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_SET, "a", "four", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "a", v, sizeof(v), NULL), RC_OK);
    assert_string_equal(v, "four");
}

static void
test_append_prepend(void **state)
{
    struct fx *f = *state;
    struct response r;
    char v[64];

    assert_int_equal(run(f, REQ_APPEND, "k", "x", 0, 0, NULL), RC_ENOTSTORED);
    assert_int_equal(run(f, REQ_SET, "k", "mid", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_APPEND, "k", "_end", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_PREPEND, "k", "start_", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "k", v, sizeof(v), NULL), RC_OK);
    assert_string_equal(v, "start_mid_end");
    assert_int_equal(run(f, REQ_GET, "k", NULL, 0, 0, &r), RC_OK);
    assert_int_equal(r.flags, 7);
}

static void
test_cas(void **state)
{
    struct fx *f = *state;
    uint64_t cas1, cas2;
    char v[64];

    assert_int_equal(run(f, REQ_CAS, "c", "x", 0, 1, NULL), RC_ENOTFOUND);
    assert_int_equal(run(f, REQ_SET, "c", "v1", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "c", v, sizeof(v), &cas1), RC_OK);
    assert_int_equal(run(f, REQ_CAS, "c", "v2", 0, cas1 + 1000, NULL), RC_EEXISTS);
    assert_int_equal(run(f, REQ_CAS, "c", "v2", 0, cas1, NULL), RC_OK);
    assert_int_equal(get(f, "c", v, sizeof(v), &cas2), RC_OK);
    assert_string_equal(v, "v2");
    assert_true(cas2 != cas1);
    assert_int_equal(run(f, REQ_CAS, "c", "v3", 0, cas1, NULL), RC_EEXISTS);
    /* touch keeps the cas */
    assert_int_equal(run(f, REQ_TOUCH, "c", NULL, 100, 0, NULL), RC_OK);
    assert_int_equal(get(f, "c", v, sizeof(v), &cas1), RC_OK);
    assert_int_equal(cas1, cas2);
}

static void
test_incr_decr(void **state)
{
    struct fx *f = *state;
    struct response r;
    char v[64];

    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 1, NULL), RC_ENOTFOUND);
    assert_int_equal(run(f, REQ_SET, "n", "100", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_DECR, "n", NULL, 0, 1, &r), RC_OK);
    assert_int_equal(r.number, 99);
    assert_int_equal(get(f, "n", v, sizeof(v), NULL), RC_OK);
    assert_string_equal(v, "99 "); /* memcached keeps the length */
    assert_int_equal(run(f, REQ_DECR, "n", NULL, 0, 1000, &r), RC_OK);
    assert_int_equal(r.number, 0);
    assert_int_equal(run(f, REQ_SET, "n", "18446744073709551615", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 2, &r), RC_OK);
    assert_int_equal(r.number, 1); /* wraps */
    assert_int_equal(run(f, REQ_SET, "n", "9", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 1, &r), RC_OK);
    assert_int_equal(get(f, "n", v, sizeof(v), NULL), RC_OK);
    assert_string_equal(v, "10"); /* grows */
    assert_int_equal(run(f, REQ_SET, "n", "12a", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 1, NULL), RC_ENONNUMERIC);
    assert_int_equal(run(f, REQ_SET, "n", "-1", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 1, NULL), RC_ENONNUMERIC);
    assert_int_equal(run(f, REQ_SET, "n", "", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 1, NULL), RC_ENONNUMERIC);
    assert_int_equal(run(f, REQ_SET, "n", " 5", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_INCR, "n", NULL, 0, 1, &r), RC_OK);
    assert_int_equal(r.number, 6);
}

static void
test_delete_and_counts(void **state)
{
    struct fx *f = *state;
    struct coord_stats cs;

    assert_int_equal(run(f, REQ_SET, "d1", "abc", 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_SET, "d2", "de", 0, 0, NULL), RC_OK);
    coord_get_stats(f->co, &cs);
    assert_int_equal(cs.curr_items, 2);
    assert_int_equal(cs.bytes, 5);
    assert_int_equal(run(f, REQ_DELETE, "d1", NULL, 0, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_DELETE, "d1", NULL, 0, 0, NULL), RC_ENOTFOUND);
    coord_get_stats(f->co, &cs);
    assert_int_equal(cs.curr_items, 1);
    assert_int_equal(cs.bytes, 2);
    assert_int_equal(cs.total_items, 2);
}

static void
test_expiry(void **state)
{
    struct fx *f = *state;
    struct response r;
    char v[64];

    assert_int_equal(run(f, REQ_SET, "e", "x", -1, 0, NULL), RC_OK);
    assert_int_equal(run(f, REQ_GET, "e", NULL, 0, 0, &r), RC_ENOTFOUND);
    assert_int_equal(r.miss, RESP_MISS_EXPIRED);
    /* absolute time in the past: expired at once */
    assert_int_equal(run(f, REQ_SET, "e", "x", util_now_s() - 10, 0, NULL), RC_OK);
    assert_int_equal(get(f, "e", v, sizeof(v), NULL), RC_ENOTFOUND);
    /* absolute in the future, and relative */
    assert_int_equal(run(f, REQ_SET, "e", "y", util_now_s() + 100, 0, NULL), RC_OK);
    assert_int_equal(get(f, "e", v, sizeof(v), NULL), RC_OK);
    assert_int_equal(run(f, REQ_SET, "e", "z", 1, 0, NULL), RC_OK);
    assert_int_equal(get(f, "e", v, sizeof(v), NULL), RC_OK);
    sleep(2);
    assert_int_equal(get(f, "e", v, sizeof(v), NULL), RC_ENOTFOUND);
    /* add over an expired item succeeds */
    assert_int_equal(run(f, REQ_ADD, "e", "new", 0, 0, NULL), RC_OK);
    /* touch makes it expire */
    assert_int_equal(run(f, REQ_TOUCH, "e", NULL, -1, 0, NULL), RC_OK);
    assert_int_equal(get(f, "e", v, sizeof(v), NULL), RC_ENOTFOUND);
    assert_int_equal(run(f, REQ_TOUCH, "e", NULL, 10, 0, NULL), RC_ENOTFOUND);
}

static void
test_flush(void **state)
{
    struct fx *f = *state;
    struct request req;
    struct response r;
    uint64_t ticket;
    char v[64];

    assert_int_equal(run(f, REQ_SET, "f1", "x", 0, 0, NULL), RC_OK);
    request_reset(&req);
    req.cmd = REQ_FLUSH_ALL;
    coord_execute(f->ct, &req, 0, &r, &ticket);
    assert_int_equal(r.status, RC_OK);
    assert_int_equal(run(f, REQ_GET, "f1", NULL, 0, 0, &r), RC_ENOTFOUND);
    assert_int_equal(r.miss, RESP_MISS_FLUSHED);
    assert_int_equal(run(f, REQ_SET, "f1", "y", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "f1", v, sizeof(v), NULL), RC_OK);
    /* delayed: visible until the time comes */
    req.exptime = 2;
    coord_execute(f->ct, &req, 0, &r, &ticket);
    assert_int_equal(get(f, "f1", v, sizeof(v), NULL), RC_OK);
    sleep(3);
    assert_int_equal(get(f, "f1", v, sizeof(v), NULL), RC_ENOTFOUND);
    assert_int_equal(run(f, REQ_SET, "f1", "z", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "f1", v, sizeof(v), NULL), RC_OK);
}

static void
test_restart_keeps_cas_and_flush(void **state)
{
    struct fx *f = *state;
    struct request req;
    struct response r;
    uint64_t cas1, cas2, ticket;
    uint8_t id[COORD_NODE_ID_LEN];
    char v[64];

    assert_int_equal(run(f, REQ_SET, "old", "x", 0, 0, NULL), RC_OK);
    request_reset(&req);
    req.cmd = REQ_FLUSH_ALL;
    coord_execute(f->ct, &req, 0, &r, &ticket);
    assert_int_equal(run(f, REQ_SET, "r", "x", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "r", v, sizeof(v), &cas1), RC_OK);
    memcpy(id, coord_node_id(f->co), sizeof(id));
    fx_close(f);
    assert_int_equal(fx_open(f), 0);
    assert_memory_equal(id, coord_node_id(f->co), sizeof(id)); /* identity kept */
    assert_int_equal(get(f, "r", v, sizeof(v), &cas2), RC_OK);
    assert_int_equal(cas1, cas2);
    assert_int_equal(get(f, "old", v, sizeof(v), NULL), RC_ENOTFOUND);
    assert_int_equal(run(f, REQ_SET, "r", "y", 0, 0, NULL), RC_OK);
    assert_int_equal(get(f, "r", v, sizeof(v), &cas2), RC_OK);
    assert_true(cas2 != cas1);
}

int
main(void)
{
    const struct CMUnitTest mem[] = {
        cmocka_unit_test_setup_teardown(test_set_get_add_replace, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_append_prepend, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_cas, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_incr_decr, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_counts, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup_mem, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup_mem, teardown),
    };
    const struct CMUnitTest bdb[] = {
        cmocka_unit_test_setup_teardown(test_set_get_add_replace, setup_bdb, teardown),
        cmocka_unit_test_setup_teardown(test_incr_decr, setup_bdb, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_cas_and_flush, setup_bdb, teardown),
    };
    int failed = cmocka_run_group_tests_name("coord/memory", mem, NULL, NULL);

    failed += cmocka_run_group_tests_name("coord/bdb", bdb, NULL, NULL);
    return failed;
}
