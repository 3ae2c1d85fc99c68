/* SPDX-License-Identifier: BSD-3-Clause */
/* store_fixture.c - see store_fixture.h. */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/status.h"
#include "base/util.h"
#include "store_fixture.h"

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int
store_fixture_setup(void **state, const char *name, enum store_kind kind, uint64_t hot_cache_bytes)
{
    struct store_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/rc-test-%s-XXXXXX", name);
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->data_dir, sizeof(fx->data_dir), "%s/env", fx->dir);
    fx->cfg.kind = kind;
    fx->cfg.hot_cache_bytes = hot_cache_bytes;
    fx->cfg.data_dir = fx->data_dir;
    fx->cfg.sync = STORE_SYNC_ALWAYS;
    fx->cfg.sync_interval_ms = 50;
    fx->cfg.cache_bytes = 16u << 20;
    if (store_open(&fx->cfg, &fx->st) != RC_OK) {
        nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

int
store_fixture_teardown(void **state)
{
    struct store_fixture *fx = *state;

    store_close(fx->st);
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

int
store_fixture_reopen(struct store_fixture *fx)
{
    store_close(fx->st);
    fx->st = NULL;
    return store_open(&fx->cfg, &fx->st);
}

int
store_fixture_wait_ticket(struct store *st, uint64_t ticket)
{
    uint64_t end = util_mono_ms() + STORE_FIXTURE_WAIT_MS;
    int rc;

    while ((rc = store_sync_check(st, ticket)) == RC_EAGAIN && util_mono_ms() < end) {
        usleep(500);
    }
    return rc;
}
