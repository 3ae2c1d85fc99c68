/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats.h - memcached's per-thread command counters and `stats detail`
 * per-prefix counters.
 *
 * Thread counters: each worker owns one struct thread_stats and is its only
 * writer (relaxed atomic stores, no lock prefix); `stats` readers sum all
 * workers with relaxed loads. `stats reset` does not write the counters: it
 * records a baseline that later reads subtract.
 *
 * Prefix counters (stats detail on|off|dump): one table shared by all
 * workers under one mutex, touched only while detail is on (off by default).
 */
#ifndef RC_SERVER_STATS_H
#define RC_SERVER_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* clang-format off */
#define STATS_THREAD_TABLE(X) \
    X(cmd_get) \
    X(cmd_set) \
    X(cmd_flush) \
    X(cmd_touch) \
    X(cmd_meta) \
    X(get_hits) \
    X(get_misses) \
    X(get_expired) \
    X(get_flushed) \
    X(delete_misses) \
    X(delete_hits) \
    X(incr_misses) \
    X(incr_hits) \
    X(decr_misses) \
    X(decr_hits) \
    X(cas_misses) \
    X(cas_hits) \
    X(cas_badval) \
    X(touch_hits) \
    X(touch_misses) \
    X(store_too_large) \
    X(store_no_memory) \
    X(auth_cmds) \
    X(auth_errors) \
    X(bytes_read) \
    X(bytes_written) \
    X(conn_yields) \
    X(durable_waits) \
    X(storage_errors) \
    X(idle_kicks)
/* clang-format on */

enum stats_id {
#define STATS_ENUM(name) STAT_##name,
    STATS_THREAD_TABLE(STATS_ENUM)
#undef STATS_ENUM
        STAT__COUNT
};

struct thread_stats {
    _Atomic uint64_t v[STAT__COUNT];
    _Atomic uint64_t base[STAT__COUNT]; /* value at the last `stats reset` */
};

static inline void
stats_add(struct thread_stats *ts, enum stats_id id, uint64_t n)
{
    uint64_t cur = atomic_load_explicit(&ts->v[id], memory_order_relaxed);

    atomic_store_explicit(&ts->v[id], cur + n, memory_order_relaxed);
}

const char *stats_name(enum stats_id id);
void thread_stats_init(struct thread_stats *ts);
/* Add ts's counters (since its last reset) into sum[STAT__COUNT]. */
void thread_stats_sum(const struct thread_stats *ts, uint64_t *sum);
void thread_stats_reset(struct thread_stats *ts);

/* stats detail */
struct stats_prefix;
int stats_prefix_create(char delimiter, struct stats_prefix **out);
void stats_prefix_destroy(struct stats_prefix *sp);
void stats_prefix_enable(struct stats_prefix *sp, bool on);
bool stats_prefix_enabled(const struct stats_prefix *sp);
enum stats_prefix_op { PREFIX_GET, PREFIX_SET, PREFIX_DEL };
/* Count an operation on key (hit only matters for PREFIX_GET). Keys without
 * the delimiter are not counted, as memcached does. */
void stats_prefix_record(struct stats_prefix *sp, const char *key, size_t nkey,
                         enum stats_prefix_op op, bool hit);
/* "PREFIX <p> get <n> hit <n> set <n> del <n>\r\n" lines then "END\r\n". */
int stats_prefix_dump(struct stats_prefix *sp, struct buf *out);
void stats_prefix_clear(struct stats_prefix *sp);

#endif
