/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store_fixture.h - the store fixture shared by the storage unit tests
 * (test_store.c, test_hints.c, test_store_subs.c): a store opened in a fresh
 * directory under /tmp with the daemon's durable defaults for tests (sync
 * always, a 50 ms sync interval, a 16 MiB engine cache), removed with
 * everything in it on teardown.
 *
 * Test code only. Every wait is bounded (STORE_FIXTURE_WAIT_MS).
 */
#ifndef RC_T_UNIT_STORE_FIXTURE_H
#define RC_T_UNIT_STORE_FIXTURE_H

#include <stdint.h>

#include "store/store.h"

#define STORE_FIXTURE_WAIT_MS 10000

struct store_fixture {
    char dir[64];      /* mkdtemp result */
    char data_dir[96]; /* dir/env, created by the engine */
    struct store_config cfg;
    struct store *st;
};

/* A cmocka setup's body: opens a store of `kind` (hot_cache_bytes 0: no
 * hot-item cache) in /tmp/rc-test-<name>-XXXXXX and sets *state to the
 * fixture; -1 (nothing left behind) when it cannot. */
int store_fixture_setup(void **state, const char *name, enum store_kind kind,
                        uint64_t hot_cache_bytes);
/* Closes the store, removes the directory, frees the fixture. */
int store_fixture_teardown(void **state);
/* Closes and reopens the fixture's store with its (possibly changed) cfg. */
int store_fixture_reopen(struct store_fixture *fx);
/* Waits for a sync ticket to resolve: its result, or RC_EAGAIN on time out. */
int store_fixture_wait_ticket(struct store *st, uint64_t ticket);

#endif
