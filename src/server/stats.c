/* SPDX-License-Identifier: BSD-3-Clause */
/* stats.c - see stats.h. The prefix table is a chained hash table of at
 * most STATS_PREFIX_MAX prefixes (further prefixes are not tracked). */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/status.h"
#include "server/stats.h"

#define STATS_PREFIX_BUCKETS 256
#define STATS_PREFIX_MAX     65536

static const char *const stats_names[STAT__COUNT] = {
#define STATS_NAME(name) #name,
    STATS_THREAD_TABLE(STATS_NAME)
#undef STATS_NAME
};

const char *
stats_name(enum stats_id id)
{
    return id < STAT__COUNT ? stats_names[id] : "unknown";
}

void
thread_stats_init(struct thread_stats *ts)
{
    for (int i = 0; i < STAT__COUNT; i++) {
        atomic_init(&ts->v[i], 0);
        atomic_init(&ts->base[i], 0);
    }
}

void
thread_stats_sum(const struct thread_stats *ts, uint64_t *sum)
{
    for (int i = 0; i < STAT__COUNT; i++) {
        sum[i] += atomic_load_explicit(&ts->v[i], memory_order_relaxed) -
                  atomic_load_explicit(&ts->base[i], memory_order_relaxed);
    }
}

void
thread_stats_reset(struct thread_stats *ts)
{
    for (int i = 0; i < STAT__COUNT; i++) {
        atomic_store_explicit(&ts->base[i], atomic_load_explicit(&ts->v[i], memory_order_relaxed),
                              memory_order_relaxed);
    }
}

struct prefix_entry {
    struct prefix_entry *next;
    uint64_t get, hit, set, del;
    size_t len;
    char name[]; /* len bytes, NUL-terminated */
};

struct stats_prefix {
    pthread_mutex_t lock;
    _Atomic bool enabled;
    char delimiter;
    size_t count;
    struct prefix_entry *buckets[STATS_PREFIX_BUCKETS];
};

int
stats_prefix_create(char delimiter, struct stats_prefix **out)
{
    struct stats_prefix *sp = rc_calloc(1, sizeof(*sp));

    if (sp == NULL) {
        return RC_ENOMEM;
    }
    pthread_mutex_init(&sp->lock, NULL);
    sp->delimiter = delimiter;
    *out = sp;
    return RC_OK;
}

void
stats_prefix_clear(struct stats_prefix *sp)
{
    pthread_mutex_lock(&sp->lock);
    for (int i = 0; i < STATS_PREFIX_BUCKETS; i++) {
        struct prefix_entry *e = sp->buckets[i];

        while (e != NULL) {
            struct prefix_entry *next = e->next;

            rc_free(e);
            e = next;
        }
        sp->buckets[i] = NULL;
    }
    sp->count = 0;
    pthread_mutex_unlock(&sp->lock);
}

void
stats_prefix_destroy(struct stats_prefix *sp)
{
    if (sp == NULL) {
        return;
    }
    stats_prefix_clear(sp);
    pthread_mutex_destroy(&sp->lock);
    rc_free(sp);
}

void
stats_prefix_enable(struct stats_prefix *sp, bool on)
{
    atomic_store(&sp->enabled, on);
}

bool
stats_prefix_enabled(const struct stats_prefix *sp)
{
    return atomic_load_explicit(&sp->enabled, memory_order_relaxed);
}

static struct prefix_entry *
stats_prefix_find_locked(struct stats_prefix *sp, const char *p, size_t n)
{
    size_t b = hash_key64(p, n) % STATS_PREFIX_BUCKETS;
    struct prefix_entry *e;

    for (e = sp->buckets[b]; e != NULL; e = e->next) {
        if (e->len == n && memcmp(e->name, p, n) == 0) {
            return e;
        }
    }
    if (sp->count >= STATS_PREFIX_MAX || (e = rc_calloc(1, sizeof(*e) + n + 1)) == NULL) {
        return NULL;
    }
    memcpy(e->name, p, n);
    e->len = n;
    e->next = sp->buckets[b];
    sp->buckets[b] = e;
    sp->count++;
    return e;
}

void
stats_prefix_record(struct stats_prefix *sp, const char *key, size_t nkey, enum stats_prefix_op op,
                    bool hit)
{
    const char *d = memchr(key, sp->delimiter, nkey);
    struct prefix_entry *e;

    if (d == NULL) {
        return;
    }
    pthread_mutex_lock(&sp->lock);
    e = stats_prefix_find_locked(sp, key, (size_t)(d - key));
    if (e != NULL) {
        switch (op) {
        case PREFIX_GET:
            e->get++;
            e->hit += hit ? 1 : 0;
            break;
        case PREFIX_SET:
            e->set++;
            break;
        case PREFIX_DEL:
            e->del++;
            break;
        }
    }
    pthread_mutex_unlock(&sp->lock);
}

int
stats_prefix_dump(struct stats_prefix *sp, struct buf *out)
{
    int rc = RC_OK;

    pthread_mutex_lock(&sp->lock);
    for (int i = 0; i < STATS_PREFIX_BUCKETS && rc == RC_OK; i++) {
        for (struct prefix_entry *e = sp->buckets[i]; e != NULL && rc == RC_OK; e = e->next) {
            rc = buf_printf(out, "PREFIX %s get %llu hit %llu set %llu del %llu\r\n", e->name,
                            (unsigned long long)e->get, (unsigned long long)e->hit,
                            (unsigned long long)e->set, (unsigned long long)e->del);
        }
    }
    pthread_mutex_unlock(&sp->lock);
    if (rc == RC_OK) {
        rc = buf_append_str(out, "END\r\n");
    }
    return rc;
}
