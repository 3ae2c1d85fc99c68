/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store_bdb.c - the Berkeley DB 5.3 engine, the only file that includes
 * <db.h>.
 *
 * One Transactional Data Store environment in cfg->data_dir, opened with
 * recovery at every start and DB_PRIVATE (regions on the heap: a full disk
 * cannot SIGBUS us through a sparse mmap'd region file, which it did in
 * testing; the price is that db_stat and friends cannot attach to a running
 * daemon, and an flock on ringcached.lock keeps a second process out), holding
 * two btrees: "items.db" (the item table)
 * and "meta.db" (metadata; every put commits with DB_TXN_SYNC), plus one
 * "hints-<node id in hex>.db" per target node of the hint store (hints.c). Item writes
 * are single-operation auto-commit transactions whose commit flag comes from
 * the environment, chosen by sync mode:
 *
 *   always  DB_TXN_NOSYNC        + store.c's sync thread calls flush_log
 *                                  (DB_ENV->log_flush) for group commit
 *   batch   DB_TXN_NOSYNC        + writers call write_log at the end of
 *                                  each event-loop pass (one write(2) per
 *                                  group: survives a process crash), and the
 *                                  sync thread calls flush_log periodically
 *   none    DB_TXN_NOSYNC        log sits in the log buffer until it fills,
 *                                  a flush or a checkpoint
 *
 * Threads: the handles are DB_THREAD, so any thread may call any function at
 * once with no lock of ours around Berkeley DB. Deadlocks are detected at
 * each lock conflict (set_lk_detect) and the losing operation is retried here,
 * invisibly to the caller. A background thread checkpoints whenever
 * checkpoint_kbytes of log have accumulated (log files are then removed
 * automatically) and trickles dirty pages; it measures each checkpoint's
 * stall. Counters are atomics.
 *
 * Errors: ENOSPC -> RC_ENOSPC, everything unexpected -> RC_EIO, each with a
 * (rate-limited) log line. Full disk, in two steps: (1) the background thread
 * watches free space and, below a reserve, refuses writes with RC_ENOSPC
 * until space returns; (2) if Berkeley DB still meets a failed write (log or
 * data page), the store is fenced read-only until restart (bdb_fence says
 * why). Reads keep working in both. Tested on a small tmpfs: in ALWAYS and
 * BATCH recovery after the restart kept every acknowledged write; in NONE the
 * environment could fail recovery (data page newer than the readable log),
 * one more reason NONE is for caches you can lose. If
 * Berkeley DB panics the environment (DB_RUNRECOVERY, e.g. a log write that
 * fails in a way it cannot undo) every later call fails with RC_EIO: that is
 * logged loudly once and shown in stats as bdb_panic 1; restarting the
 * daemon runs recovery and brings back every committed write that reached
 * the disk.
 *
 * Memory: reads copy into the caller's buf (DB_DBT_USERMEM, grown on
 * DB_BUFFER_SMALL), so a warm get allocates nothing. Scans use
 * DB_DBT_REALLOC buffers freed before returning.
 */
#include "config.h"

#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "store/engine.h"

#define BDB_DEFAULT_CACHE_BYTES   (64ULL << 20)
#define BDB_DEFAULT_CHECKPOINT_KB 8192u
#define BDB_LOG_BUFFER_BYTES      (4u << 20)
#define BDB_ITEMS_PAGESIZE        8192u
#define BDB_DEADLOCK_RETRIES      100
#define BDB_BACKGROUND_TICK_MS    200
#define BDB_TRICKLE_PERCENT       10
#define BDB_SPACE_RESERVE_MAX     (64ULL << 20) /* refuse writes below this free space */
#define BDB_SPACE_CHECK_BYTES     (1ULL << 20)  /* writers re-check space this often */
#define BDB_SCRATCH_KEEP          (64u << 10)   /* per-thread update read buffer kept */

struct bdb_engine {
    DB_ENV *env;        /* owned */
    DB *items;          /* owned */
    DB *meta;           /* owned */
    uint64_t ckp_bytes; /* checkpoint after this much log */
    char *dir;          /* owned copy of the data directory */
    int lock_fd;        /* flock on dir/ringcached.lock: one process per dir */

    pthread_t bg_thread; /* checkpoints and trickle */
    bool bg_running;
    pthread_mutex_t bg_lock; /* guards bg_stop */
    pthread_cond_t bg_wake;
    bool bg_stop;

    atomic_bool panicked;
    atomic_int fence_rc;                        /* 0, or the error that made the store read-only */
    atomic_bool low_space;                      /* free space under the reserve: writes refused */
    _Atomic uint64_t written_since_space_check; /* bytes put since statvfs */
    atomic_uint_fast64_t deadlocks;
    atomic_uint_fast64_t checkpoints;
    atomic_uint_fast64_t ckp_last_ms;
    atomic_uint_fast64_t ckp_max_ms;
    atomic_uint_fast64_t ckp_failures;
    atomic_uint_fast64_t last_errlog_ms; /* rate limit for repeated errors */
};

/* ------------------------------------------------------------ errors */

static void
bdb_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
    (void)env;
    (void)prefix;
    log_error("bdb: %s", msg);
}

static void
bdb_msgcall(const DB_ENV *env, const char *msg)
{
    (void)env;
    log_info("bdb: %s", msg);
}

static void
bdb_event(DB_ENV *env, u_int32_t event, void *info)
{
    struct bdb_engine *be = env->app_private;

    (void)info;
    if (event == DB_EVENT_PANIC && be != NULL && !atomic_exchange(&be->panicked, true)) {
        log_error("bdb: PANIC: the environment is unusable; every store call now fails "
                  "until the daemon restarts and runs recovery");
        atomic_store(&be->fence_rc, RC_EIO);
    }
}

/* True at most once a second, so a full disk does not flood the log. */
static bool
bdb_may_log(struct bdb_engine *be)
{
    uint64_t now = util_mono_ms();
    uint64_t last = atomic_load_explicit(&be->last_errlog_ms, memory_order_relaxed);

    if (last != 0 && now - last < 1000) {
        return false;
    }
    return atomic_compare_exchange_strong(&be->last_errlog_ms, &last, now ? now : 1);
}

/* Map a Berkeley DB return to a status, logging the unexpected ones. */
static int
bdb_status(struct bdb_engine *be, int ret, const char *what)
{
    switch (ret) {
    case 0:
        return RC_OK;
    case DB_NOTFOUND:
    case DB_KEYEMPTY:
        return RC_ENOTFOUND;
    case DB_LOCK_DEADLOCK:
    case DB_LOCK_NOTGRANTED:
        return RC_EDEADLOCK;
    case ENOMEM:
        return RC_ENOMEM;
    case DB_RUNRECOVERY:
        if (!atomic_exchange(&be->panicked, true)) {
            log_error("bdb: PANIC during %s: %s; restart the daemon to run recovery", what,
                      db_strerror(ret));
        }
        return RC_EIO;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        if (bdb_may_log(be)) {
            log_error("bdb: %s: out of disk space in the data directory", what);
        }
        return RC_ENOSPC;
    default:
        if (bdb_may_log(be)) {
            log_error("bdb: %s failed: %s", what, db_strerror(ret));
        }
        return RC_EIO;
    }
}

/* The error that fenced writes off, or 0. */
static int
bdb_fenced(struct bdb_engine *be)
{
    return atomic_load_explicit(&be->fence_rc, memory_order_relaxed);
}

/* Why a write must be refused now (0: go ahead). */
static void bdb_bg_watch_space(struct bdb_engine *be);

/* The timer alone lets a burst of writes run past the reserve into a real
 * ENOSPC (which fences the store until restart), so writers also re-check
 * after every BDB_SPACE_CHECK_BYTES they put: one statvfs per megabyte. */
static void
bdb_account_write(struct bdb_engine *be, size_t n)
{
    uint64_t before = atomic_fetch_add(&be->written_since_space_check, n);

    if (before < BDB_SPACE_CHECK_BYTES && before + n >= BDB_SPACE_CHECK_BYTES) {
        atomic_store(&be->written_since_space_check, 0);
        bdb_bg_watch_space(be);
    }
}

static int
bdb_write_refused(struct bdb_engine *be)
{
    int rc = bdb_fenced(be);

    if (rc == 0 && atomic_load_explicit(&be->low_space, memory_order_relaxed)) {
        rc = RC_ENOSPC;
    }
    return rc;
}

/* A write to the log or a data file failed. Berkeley DB carries on after
 * such a failure, but an environment written to after it can fail recovery
 * (seen on a full disk: data pages newer than the end of the readable log).
 * So the first one makes the store read-only: reads go on, every write
 * answers this error until the daemon restarts and recovery runs. */
static void
bdb_fence(struct bdb_engine *be, int rc, const char *what)
{
    int none = 0;

    if (atomic_compare_exchange_strong(&be->fence_rc, &none, rc)) {
        log_error("bdb: %s failed (%s); the store is now READ-ONLY: free space or fix the "
                  "disk, then restart the daemon (recovery runs at start)",
                  what, rc_strerror(rc));
    }
}

/* bdb_status for a call that writes: fences on I/O failures. */
static int
bdb_write_status(struct bdb_engine *be, int ret, const char *what)
{
    int rc = bdb_status(be, ret, what);

    switch (ret) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EIO:
    case DB_RUNRECOVERY:
        bdb_fence(be, rc, what);
        break;
    default:
        break;
    }
    return rc;
}

/* Count a deadlock and say whether the operation should run again. */
static bool
bdb_retry(struct bdb_engine *be, int ret, int attempt)
{
    if ((ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED) || attempt >= BDB_DEADLOCK_RETRIES) {
        return false;
    }
    atomic_fetch_add_explicit(&be->deadlocks, 1, memory_order_relaxed);
    return true;
}

static void
bdb_dbt_in(DBT *d, const void *p, size_t n)
{
    memset(d, 0, sizeof(*d));
    d->data = (void *)p;
    d->size = (u_int32_t)n;
}

/* ------------------------------------------------------------ open/close */

/* mkdir -p, for the data directory. */
static int
bdb_make_dir(const char *dir)
{
    char path[4096];
    size_t i, n = strlen(dir);

    if (n == 0 || n >= sizeof(path)) {
        return RC_EINVAL;
    }
    memcpy(path, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        path[i] = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            log_error("bdb: cannot create %s: %s", path, strerror(errno));
            return errno == ENOSPC ? RC_ENOSPC : RC_EIO;
        }
        path[i] = i < n ? '/' : '\0';
    }
    return RC_OK;
}

/* The environment is DB_PRIVATE, so Berkeley DB cannot notice a second
 * process in the same directory: an exclusive flock does, and the kernel
 * drops it when the process dies. */
static int
bdb_lock_dir(struct bdb_engine *be)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/ringcached.lock", be->dir);
    be->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (be->lock_fd < 0) {
        log_error("bdb: cannot open %s: %s", path, strerror(errno));
        return errno == ENOSPC ? RC_ENOSPC : RC_EIO;
    }
    if (flock(be->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_error("bdb: %s is in use by another process", be->dir);
        return RC_EIO;
    }
    return RC_OK;
}

/* Configure the environment handle before DB_ENV->open. */
static int
bdb_env_configure(struct bdb_engine *be, const struct store_config *cfg)
{
    DB_ENV *env = be->env;
    uint64_t cache = cfg->cache_bytes ? cfg->cache_bytes : BDB_DEFAULT_CACHE_BYTES;
    u_int32_t syncflag;
    int ret;

    env->app_private = be;
    env->set_errcall(env, bdb_errcall);
    env->set_msgcall(env, bdb_msgcall);
    /* Commits never write the log themselves: under always and batch the
     * sync thread writes (and syncs) it once for a whole group of commits. */
    syncflag = DB_TXN_NOSYNC;
    if ((ret = env->set_event_notify(env, bdb_event)) != 0 ||
        (ret = env->set_alloc(env, rc_malloc, rc_realloc, rc_free)) != 0 ||
        (ret = env->set_cachesize(env, (u_int32_t)(cache >> 30),
                                  (u_int32_t)(cache & ((1u << 30) - 1)), 1)) != 0 ||
        (ret = env->set_lg_bsize(env, BDB_LOG_BUFFER_BYTES)) != 0 ||
        (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
        (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
        (ret = env->set_lk_max_locks(env, 100000)) != 0 ||
        (ret = env->set_lk_max_objects(env, 100000)) != 0 ||
        (ret = env->set_lk_max_lockers(env, 10000)) != 0 ||
        (ret = env->set_tx_max(env, 1000)) != 0 || (ret = env->set_flags(env, syncflag, 1)) != 0) {
        return bdb_status(be, ret, "environment configuration");
    }
    return RC_OK;
}

static int
bdb_db_open(struct bdb_engine *be, DB **out, const char *file, u_int32_t pagesize)
{
    DB *db;
    int ret;

    ret = db_create(&db, be->env, 0);
    if (ret != 0) {
        return bdb_status(be, ret, "db_create");
    }
    if (pagesize != 0 && (ret = db->set_pagesize(db, pagesize)) != 0) {
        db->close(db, 0);
        return bdb_status(be, ret, "set_pagesize");
    }
    ret = db->open(db, NULL, file, NULL, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0);
    if (ret != 0) {
        log_error("bdb: cannot open %s: %s", file, db_strerror(ret));
        db->close(db, 0);
        return bdb_status(be, ret, "database open");
    }
    *out = db;
    return RC_OK;
}

static void *bdb_bg_main(void *arg);
static void bdb_bg_watch_space(struct bdb_engine *be);

static int
bdb_bg_start(struct bdb_engine *be)
{
    pthread_condattr_t ca;
    int rc = RC_ENOMEM;

    if (pthread_condattr_init(&ca) != 0) {
        return RC_ENOMEM;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&be->bg_wake, &ca) != 0) {
        goto out;
    }
    if (pthread_mutex_init(&be->bg_lock, NULL) != 0) {
        pthread_cond_destroy(&be->bg_wake);
        goto out;
    }
    if (pthread_create(&be->bg_thread, NULL, bdb_bg_main, be) != 0) {
        pthread_mutex_destroy(&be->bg_lock);
        pthread_cond_destroy(&be->bg_wake);
        rc = RC_EINTERNAL;
        goto out;
    }
    be->bg_running = true;
    rc = RC_OK;
out:
    pthread_condattr_destroy(&ca);
    return rc;
}

static void
bdb_bg_stop(struct bdb_engine *be)
{
    if (!be->bg_running) {
        return;
    }
    pthread_mutex_lock(&be->bg_lock);
    be->bg_stop = true;
    pthread_cond_signal(&be->bg_wake);
    pthread_mutex_unlock(&be->bg_lock);
    pthread_join(be->bg_thread, NULL);
    pthread_mutex_destroy(&be->bg_lock);
    pthread_cond_destroy(&be->bg_wake);
    be->bg_running = false;
}

static void
bdb_close(void *self)
{
    struct bdb_engine *be = self;
    u_int32_t dbflags = 0;
    int ret;

    if (be == NULL) {
        return;
    }
    bdb_bg_stop(be);
    if (be->env != NULL && be->items != NULL && bdb_fenced(be) == 0) {
        ret = be->env->txn_checkpoint(be->env, 0, 0, 0);
        if (ret != 0) {
            bdb_write_status(be, ret, "final checkpoint");
        }
    }
    if (bdb_fenced(be) != 0) {
        dbflags = DB_NOSYNC; /* write nothing more: recovery rebuilds at start */
    }
    if (be->items != NULL) {
        be->items->close(be->items, dbflags);
    }
    if (be->meta != NULL) {
        be->meta->close(be->meta, dbflags);
    }
    if (be->env != NULL) {
        be->env->close(be->env, 0);
    }
    if (be->lock_fd >= 0) {
        close(be->lock_fd); /* releases the flock */
    }
    rc_free(be->dir);
    rc_free(be);
}

static int
bdb_open(const struct store_config *cfg, void **self)
{
    const u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
                            DB_THREAD | DB_RECOVER | DB_PRIVATE;
    struct bdb_engine *be;
    int ret, rc;

    rc = bdb_make_dir(cfg->data_dir);
    if (rc != RC_OK) {
        return rc;
    }
    be = rc_calloc(1, sizeof(*be));
    if (be == NULL) {
        return RC_ENOMEM;
    }
    be->lock_fd = -1;
    be->dir = rc_strdup(cfg->data_dir);
    if (be->dir == NULL) {
        rc_free(be);
        return RC_ENOMEM;
    }
    rc = bdb_lock_dir(be);
    if (rc != RC_OK) {
        goto fail;
    }
    be->ckp_bytes =
        (uint64_t)(cfg->checkpoint_kbytes ? cfg->checkpoint_kbytes : BDB_DEFAULT_CHECKPOINT_KB) *
        1024;
    ret = db_env_create(&be->env, 0);
    if (ret != 0) {
        be->env = NULL;
        rc = bdb_status(be, ret, "db_env_create");
        goto fail;
    }
    rc = bdb_env_configure(be, cfg);
    if (rc != RC_OK) {
        goto fail;
    }
    ret = be->env->open(be->env, cfg->data_dir, flags, 0);
    if (ret != 0) {
        log_error("bdb: cannot open the environment in %s: %s", cfg->data_dir, db_strerror(ret));
        rc = bdb_status(be, ret, "environment open");
        goto fail;
    }
    bdb_bg_watch_space(be);
    if ((rc = bdb_db_open(be, &be->items, "items.db", BDB_ITEMS_PAGESIZE)) != RC_OK ||
        (rc = bdb_db_open(be, &be->meta, "meta.db", 0)) != RC_OK ||
        (rc = bdb_bg_start(be)) != RC_OK) {
        goto fail;
    }
    *self = be;
    return RC_OK;

fail:
    bdb_close(be);
    return rc;
}

/* ------------------------------------------------------------ background */

static void
bdb_bg_checkpoint(struct bdb_engine *be)
{
    DB_LOG_STAT *ls = NULL;
    uint64_t since, t0, ms;
    int ret;

    if (be->env->log_stat(be->env, &ls, 0) != 0 || ls == NULL) {
        return;
    }
    since = (uint64_t)ls->st_wc_mbytes * (1u << 20) + ls->st_wc_bytes;
    rc_free(ls);
    if (since < be->ckp_bytes) {
        return;
    }
    t0 = util_mono_ns();
    ret = be->env->txn_checkpoint(be->env, 0, 0, 0);
    ms = (util_mono_ns() - t0) / 1000000;
    if (ret != 0) {
        atomic_fetch_add(&be->ckp_failures, 1);
        bdb_write_status(be, ret, "checkpoint");
        return;
    }
    atomic_fetch_add(&be->checkpoints, 1);
    atomic_store(&be->ckp_last_ms, ms);
    if (ms > atomic_load(&be->ckp_max_ms)) {
        atomic_store(&be->ckp_max_ms, ms); /* only this thread writes it */
    }
    log_debug("bdb: checkpoint after %llu log bytes took %llu ms", (unsigned long long)since,
              (unsigned long long)ms);
}

/* Keep a reserve of free disk space: below it, refuse writes with
 * RC_ENOSPC (reads go on) before Berkeley DB itself meets a full disk, which
 * fences the store until restart (see bdb_fence). Clears when space returns.
 * The reserve is 64 MB, or an eighth of a smaller filesystem. Runs on the
 * background thread's tick and from writers (bdb_account_write). */
static void
bdb_bg_watch_space(struct bdb_engine *be)
{
    struct statvfs sv;
    uint64_t total, avail, reserve;
    bool low;

    if (statvfs(be->dir, &sv) != 0) {
        return;
    }
    total = (uint64_t)sv.f_blocks * sv.f_frsize;
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    reserve = total / 8 < BDB_SPACE_RESERVE_MAX ? total / 8 : BDB_SPACE_RESERVE_MAX;
    low = avail < reserve;
    if (atomic_exchange(&be->low_space, low) != low) {
        if (low) {
            log_error("bdb: only %llu bytes free in %s: refusing writes until space returns",
                      (unsigned long long)avail, be->dir);
        } else {
            log_warn("bdb: disk space in %s recovered: accepting writes", be->dir);
        }
    }
}

static void *
bdb_bg_main(void *arg)
{
    struct bdb_engine *be = arg;
    struct timespec ts;
    int wrote, ret;

    pthread_mutex_lock(&be->bg_lock);
    while (!be->bg_stop) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += BDB_BACKGROUND_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&be->bg_wake, &be->bg_lock, &ts);
        if (be->bg_stop || bdb_fenced(be) != 0) {
            continue;
        }
        pthread_mutex_unlock(&be->bg_lock);
        bdb_bg_watch_space(be);
        bdb_bg_checkpoint(be);
        if (bdb_fenced(be) == 0) {
            ret = be->env->memp_trickle(be->env, BDB_TRICKLE_PERCENT, &wrote);
            if (ret != 0) {
                bdb_write_status(be, ret, "trickle");
            }
        }
        pthread_mutex_lock(&be->bg_lock);
    }
    pthread_mutex_unlock(&be->bg_lock);
    return NULL;
}

/* ------------------------------------------------------------ items */

/* Read key from db into val, growing val as Berkeley DB asks. */
static int
bdb_read(struct bdb_engine *be, DB *db, const void *key, size_t nkey, struct buf *val,
         const char *what)
{
    DBT k, d;
    int ret, attempt = 0;

    buf_reset(val);
    bdb_dbt_in(&k, key, nkey);
    memset(&d, 0, sizeof(d));
    for (;;) {
        d.data = val->data;
        d.ulen = val->cap > UINT32_MAX ? UINT32_MAX : (u_int32_t)val->cap;
        d.flags = DB_DBT_USERMEM;
        ret = db->get(db, NULL, &k, &d, 0);
        if (ret == DB_BUFFER_SMALL) {
            if (buf_reserve(val, d.size) != RC_OK) {
                return RC_ENOMEM;
            }
            continue;
        }
        if (!bdb_retry(be, ret, attempt++)) {
            break;
        }
    }
    if (ret == 0) {
        val->len = d.size;
    }
    return bdb_status(be, ret, what);
}

static int
bdb_get(void *self, const void *key, size_t nkey, struct buf *val)
{
    struct bdb_engine *be = self;

    return bdb_read(be, be->items, key, nkey, val, "get");
}

static int
bdb_put(void *self, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct bdb_engine *be = self;
    DBT k, d;
    int ret, attempt = 0;

    if (nkey > UINT32_MAX || nval > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    if ((ret = bdb_write_refused(be)) != 0) {
        return ret;
    }
    bdb_account_write(be, nkey + nval);
    bdb_dbt_in(&k, key, nkey);
    bdb_dbt_in(&d, val, nval);
    do {
        ret = be->items->put(be->items, NULL, &k, &d, 0);
    } while (bdb_retry(be, ret, attempt++));
    return bdb_write_status(be, ret, "put");
}

static int
bdb_insert(void *self, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct bdb_engine *be = self;
    DBT k, d;
    int ret, attempt = 0;

    if (nkey > UINT32_MAX || nval > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    if ((ret = bdb_write_refused(be)) != 0) {
        return ret;
    }
    bdb_dbt_in(&k, key, nkey);
    bdb_dbt_in(&d, val, nval);
    do {
        ret = be->items->put(be->items, NULL, &k, &d, DB_NOOVERWRITE);
    } while (bdb_retry(be, ret, attempt++));
    if (ret == DB_KEYEXIST) {
        return RC_EEXISTS; /* nothing written: not a write failure */
    }
    if (ret == 0) {
        bdb_account_write(be, nkey + nval);
    }
    return bdb_write_status(be, ret, "insert");
}

static int
bdb_del(void *self, const void *key, size_t nkey)
{
    struct bdb_engine *be = self;
    DBT k;
    int ret, attempt = 0;

    if ((ret = bdb_write_refused(be)) != 0) {
        return ret;
    }
    bdb_dbt_in(&k, key, nkey);
    do {
        ret = be->items->del(be->items, NULL, &k, 0);
    } while (bdb_retry(be, ret, attempt++));
    return bdb_write_status(be, ret, "delete");
}

/* The record an update reads goes into a per-thread scratch buffer
 * (DB_DBT_USERMEM), so a warm update allocates nothing; a buffer grown past
 * BDB_SCRATCH_KEEP by a big record is given back after the call. */
static pthread_key_t bdb_scratch_key;
static pthread_once_t bdb_scratch_once = PTHREAD_ONCE_INIT;
static bool bdb_scratch_ready;

static void
bdb_scratch_free(void *p)
{
    buf_deinit(p);
    rc_free(p);
}

static void
bdb_scratch_init(void)
{
    bdb_scratch_ready = pthread_key_create(&bdb_scratch_key, bdb_scratch_free) == 0;
}

/* This thread's scratch buffer, or `fallback` if it cannot have one. */
static struct buf *
bdb_scratch(struct buf *fallback)
{
    struct buf *b;

    pthread_once(&bdb_scratch_once, bdb_scratch_init);
    if (!bdb_scratch_ready) {
        return fallback;
    }
    b = pthread_getspecific(bdb_scratch_key);
    if (b == NULL) {
        b = rc_malloc(sizeof(*b));
        if (b == NULL) {
            return fallback;
        }
        buf_init(b);
        if (pthread_setspecific(bdb_scratch_key, b) != 0) {
            rc_free(b);
            return fallback;
        }
    }
    return b;
}

/* Position cursor c (in the update's transaction) on key and read its value
 * into old with a write lock (DB_RMW: two updaters of one key never both
 * hold read locks and then deadlock on the upgrade). Returns a db.h code;
 * *found says whether the key exists. */
static int
bdb_update_read(DBC *c, DBT *k, struct buf *old, bool *found)
{
    DBT d;
    int ret;

    buf_reset(old);
    memset(&d, 0, sizeof(d));
    for (;;) {
        d.data = old->data;
        d.ulen = old->cap > UINT32_MAX ? UINT32_MAX : (u_int32_t)old->cap;
        d.flags = DB_DBT_USERMEM;
        ret = c->get(c, k, &d, DB_SET | DB_RMW);
        if (ret != DB_BUFFER_SMALL) {
            break;
        }
        if (buf_reserve(old, d.size) != RC_OK) {
            return ENOMEM;
        }
    }
    *found = ret == 0;
    if (ret == 0) {
        old->len = d.size;
    } else if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY) {
        ret = 0;
    }
    return ret;
}

/* Check and apply a decision through the cursor, which sits on the key
 * when found (so a replace or delete needs no second search). Returns a
 * db.h code, or 0 with *rc set when the decision itself is refused. */
static int
bdb_update_apply(struct bdb_engine *be, DBC *c, DBT *k, bool found,
                 const struct store_update_out *out, int *rc, const char **what)
{
    DBT d;

    *rc = store_update_out_check(out);
    if (*rc != RC_OK || out->action == STORE_UPDATE_NONE ||
        (out->action == STORE_UPDATE_DELETE && !found)) {
        return 0; /* nothing to write */
    }
    if (out->action == STORE_UPDATE_PUT && out->nval > UINT32_MAX) {
        *rc = RC_ETOOLARGE;
        return 0;
    }
    *rc = bdb_write_refused(be); /* checked per write, as put and del do */
    if (*rc != RC_OK) {
        return 0;
    }
    if (out->action == STORE_UPDATE_DELETE) {
        *what = "delete";
        return c->del(c, 0);
    }
    *what = "put";
    bdb_account_write(be, k->size + out->nval);
    bdb_dbt_in(&d, out->nval > 0 ? out->val : "", out->nval);
    return c->put(c, k, &d, found ? DB_CURRENT : DB_KEYLAST);
}

/* One attempt at an update: begin, read with DB_RMW, decide, write,
 * commit. Returns a db.h code (a deadlock means "run it all again"), or 0
 * with *rc set to a status of ours (decide's error, a refused or malformed
 * decision), in which case the transaction was aborted and nothing written.
 * *what names the step that failed, for the error mapping. */
static int
bdb_update_once(struct bdb_engine *be, DBT *k, struct buf *old, store_decide_fn decide, void *arg,
                struct store_update_out *out, int *rc, const char **what)
{
    DB_TXN *txn;
    DBC *c;
    bool found;
    int ret, cret;

    *rc = RC_OK;
    *what = "update begin";
    ret = be->env->txn_begin(be->env, NULL, &txn, 0);
    if (ret != 0) {
        return ret;
    }
    ret = be->items->cursor(be->items, txn, &c, 0);
    if (ret != 0) {
        txn->abort(txn);
        return ret;
    }
    *what = "update read";
    ret = bdb_update_read(c, k, old, &found);
    if (ret == 0) {
        *out = (struct store_update_out){.action = STORE_UPDATE_NONE};
        /* A present empty value is "" (never NULL: NULL means absent). */
        *rc = decide(arg, found ? (old->data != NULL ? old->data : "") : NULL, found ? old->len : 0,
                     out);
        if (*rc == RC_OK) {
            ret = bdb_update_apply(be, c, k, found, out, rc, what);
        }
    }
    cret = c->close(c); /* cursors close before their transaction ends */
    if (ret == 0) {
        ret = cret;
    }
    if (ret != 0 || *rc != RC_OK) {
        txn->abort(txn);
        return ret;
    }
    /* A NONE decision wrote no log record, so this commit writes none
     * either; it only releases the locks (an abort would too, but would
     * count as an abort in the stats). The commit flag is the
     * environment's (DB_TXN_NOSYNC), as for put's auto-commit. */
    *what = out->action == STORE_UPDATE_NONE ? "update commit" : "commit";
    return txn->commit(txn, 0);
}

static int
bdb_update(void *self, const void *key, size_t nkey, store_decide_fn decide, void *arg,
           struct store_update_out *out)
{
    struct bdb_engine *be = self;
    struct buf fallback, *old;
    const char *what = "update";
    DBT k;
    int ret, rc, attempt = 0;

    if (nkey > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    buf_init(&fallback);
    old = bdb_scratch(&fallback);
    bdb_dbt_in(&k, key, nkey);
    do {
        ret = bdb_update_once(be, &k, old, decide, arg, out, &rc, &what);
    } while (rc == RC_OK && bdb_retry(be, ret, attempt++));
    buf_reset(old);
    buf_shrink(old, BDB_SCRATCH_KEEP);
    buf_deinit(&fallback);
    if (rc != RC_OK) {
        return rc;
    }
    if (ret == 0) {
        return RC_OK;
    }
    /* The steps that write nothing ("update ...": begin, the read, the
     * commit of a NONE) map as get does; put, delete and their commit as
     * put and del do, which fences the store on a real write failure. */
    if (strncmp(what, "update ", 7) == 0) {
        return bdb_status(be, ret, what);
    }
    return bdb_write_status(be, ret, what);
}

static int
bdb_truncate(void *self)
{
    struct bdb_engine *be = self;
    u_int32_t count;
    int ret, attempt = 0;

    if ((ret = bdb_write_refused(be)) != 0) {
        return ret;
    }
    do {
        ret = be->items->truncate(be->items, NULL, &count, DB_AUTO_COMMIT);
    } while (bdb_retry(be, ret, attempt++));
    return bdb_write_status(be, ret, "truncate");
}

/* ------------------------------------------------------------ scan */

struct bdb_scan {
    struct buf *cursor; /* caller's: last key visited */
    size_t left;        /* items still to visit */
    store_scan_fn fn;
    void *arg;
    bool done;
    int cb_rc; /* non-zero: the callback stopped the scan */
};

/* Position c strictly after sc->cursor, into k/d. Returns a db.h code. */
static int
bdb_scan_seek(DBC *c, const struct bdb_scan *sc, DBT *k, DBT *d)
{
    const struct buf *cur = sc->cursor;
    int ret;

    if (cur->len == 0) {
        return c->get(c, k, d, DB_FIRST);
    }
    k->data = rc_malloc(cur->len);
    if (k->data == NULL) {
        return ENOMEM;
    }
    memcpy(k->data, cur->data, cur->len);
    k->size = (u_int32_t)cur->len;
    ret = c->get(c, k, d, DB_SET_RANGE);
    if (ret == 0 && k->size == cur->len && memcmp(k->data, cur->data, cur->len) == 0) {
        ret = c->get(c, k, d, DB_NEXT);
    }
    return ret;
}

/* One pass of a scan over cursor c; a deadlock ends it with the caller's
 * cursor still naming the last key visited, so the pass can be rerun. */
static int
bdb_scan_pass(DBC *c, struct bdb_scan *sc)
{
    DBT k, d;
    int ret;

    memset(&k, 0, sizeof(k));
    memset(&d, 0, sizeof(d));
    k.flags = DB_DBT_REALLOC;
    d.flags = DB_DBT_REALLOC;
    ret = bdb_scan_seek(c, sc, &k, &d);
    while (ret == 0 && sc->left > 0) {
        buf_reset(sc->cursor);
        if (buf_append(sc->cursor, k.data, k.size) != RC_OK) {
            ret = ENOMEM;
            break;
        }
        sc->left--;
        sc->cb_rc = sc->fn(sc->arg, k.data, k.size, d.data, d.size);
        if (sc->cb_rc != 0) {
            break;
        }
        if (sc->left == 0) {
            /* Only peek whether anything follows: fetch no value bytes. */
            d.flags |= DB_DBT_PARTIAL;
            d.dlen = 0;
            d.doff = 0;
        }
        ret = c->get(c, &k, &d, DB_NEXT);
    }
    if (ret == DB_NOTFOUND) {
        sc->done = true;
        ret = 0;
    }
    rc_free(k.data);
    rc_free(d.data);
    return ret;
}

static int
bdb_scan_db(struct bdb_engine *be, DB *db, struct buf *cursor, size_t max, store_scan_fn fn,
            void *arg, bool *done)
{
    struct bdb_scan sc = {
        .cursor = cursor,
        .left = max ? max : SIZE_MAX,
        .fn = fn,
        .arg = arg,
    };
    DBC *c;
    int ret, cret, attempt = 0;

    do {
        ret = db->cursor(db, NULL, &c, 0);
        if (ret != 0) {
            break;
        }
        ret = bdb_scan_pass(c, &sc);
        cret = c->close(c);
        if (ret == 0) {
            ret = cret;
        }
    } while (sc.cb_rc == 0 && bdb_retry(be, ret, attempt++));
    *done = sc.done && sc.cb_rc == 0;
    if (sc.cb_rc != 0) {
        return sc.cb_rc;
    }
    return bdb_status(be, ret, "scan");
}

static int
bdb_scan(void *self, struct buf *cursor, size_t max, store_scan_fn fn, void *arg, bool *done)
{
    struct bdb_engine *be = self;

    return bdb_scan_db(be, be->items, cursor, max, fn, arg, done);
}

/* ------------------------------------------------------------ hint tables */

/* One btree per target node, "hints-<32 hex digits of the id>.db" in the
 * data directory, opened like items.db (DB_CREATE | DB_AUTO_COMMIT |
 * DB_THREAD; the creation is itself a transaction). The directory listing
 * is the list of targets: no index to keep in step. hints.c owns the
 * handles and the layout; transactions commit with the environment's flag
 * (DB_TXN_NOSYNC) exactly as item writes, so the store's tickets cover
 * them. */
#define BDB_HINT_PREFIX "hints-"
#define BDB_HINT_SUFFIX ".db"
#define BDB_HINT_NAME   (sizeof(BDB_HINT_PREFIX) - 1 + 32 + sizeof(BDB_HINT_SUFFIX))

struct bdb_hint_tx {
    struct bdb_engine *be;
    DB *db;
    DB_TXN *txn;
};

static void
bdb_hint_name(const uint8_t *id, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out + sizeof(BDB_HINT_PREFIX) - 1;
    unsigned i;

    memcpy(out, BDB_HINT_PREFIX, sizeof(BDB_HINT_PREFIX) - 1);
    for (i = 0; i < STORE_NODE_ID_SIZE; i++) {
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 15];
    }
    memcpy(p, BDB_HINT_SUFFIX, sizeof(BDB_HINT_SUFFIX));
}

static int
bdb_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* True when name is a hint table's file name; *id gets the target. */
static bool
bdb_hint_parse(const char *name, uint8_t *id)
{
    const char *p = name + sizeof(BDB_HINT_PREFIX) - 1;
    unsigned i;
    int hi, lo;

    if (strlen(name) != BDB_HINT_NAME - 1 ||
        strncmp(name, BDB_HINT_PREFIX, sizeof(BDB_HINT_PREFIX) - 1) != 0 ||
        strcmp(name + BDB_HINT_NAME - sizeof(BDB_HINT_SUFFIX), BDB_HINT_SUFFIX) != 0) {
        return false;
    }
    for (i = 0; i < STORE_NODE_ID_SIZE; i++) {
        hi = bdb_hex_digit(p[2 * i]);
        lo = bdb_hex_digit(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static int
bdb_hint_list(void *self, int (*fn)(void *arg, const uint8_t *id), void *arg)
{
    struct bdb_engine *be = self;
    uint8_t id[STORE_NODE_ID_SIZE];
    struct dirent *de;
    DIR *d;
    int rc = 0;

    d = opendir(be->dir);
    if (d == NULL) {
        log_error("bdb: cannot list %s: %s", be->dir, strerror(errno));
        return RC_EIO;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (bdb_hint_parse(de->d_name, id)) {
            rc = fn(arg, id);
        }
    }
    closedir(d);
    return rc;
}

static int
bdb_hint_open(void *self, const uint8_t *id, void **db)
{
    struct bdb_engine *be = self;
    char name[BDB_HINT_NAME];
    DB *h = NULL;
    int rc;

    bdb_hint_name(id, name);
    rc = bdb_db_open(be, &h, name, 0);
    if (rc == RC_OK) {
        *db = h;
    }
    return rc;
}

static void
bdb_hint_close(void *self, void *db)
{
    struct bdb_engine *be = self;
    DB *h = db;

    if (h != NULL) {
        h->close(h, bdb_fenced(be) != 0 ? DB_NOSYNC : 0);
    }
}

static int
bdb_hint_txn(void *self, void *db, int (*body)(void *arg, void *tx), void *arg)
{
    struct bdb_engine *be = self;
    struct bdb_hint_tx tx = {.be = be, .db = db};
    int ret, rc, attempt = 0;

    for (;;) {
        ret = be->env->txn_begin(be->env, NULL, &tx.txn, 0);
        if (ret != 0) {
            return bdb_status(be, ret, "hint begin");
        }
        rc = body(arg, &tx);
        if (rc == RC_OK) {
            /* The environment's flag (DB_TXN_NOSYNC), as items' commits. */
            return bdb_write_status(be, tx.txn->commit(tx.txn, 0), "hint commit");
        }
        tx.txn->abort(tx.txn);
        if (rc != RC_EDEADLOCK || !bdb_retry(be, DB_LOCK_DEADLOCK, attempt++)) {
            return rc;
        }
    }
}

static int
bdb_hint_get(void *self, void *txp, const void *key, size_t nkey, struct buf *val)
{
    struct bdb_hint_tx *tx = txp;
    DBT k, d;
    int ret;

    (void)self;
    if (nkey > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    buf_reset(val);
    bdb_dbt_in(&k, key, nkey);
    memset(&d, 0, sizeof(d));
    for (;;) {
        d.data = val->data;
        d.ulen = val->cap > UINT32_MAX ? UINT32_MAX : (u_int32_t)val->cap;
        d.flags = DB_DBT_USERMEM;
        ret = tx->db->get(tx->db, tx->txn, &k, &d, DB_RMW);
        if (ret != DB_BUFFER_SMALL) {
            break;
        }
        if (buf_reserve(val, d.size) != RC_OK) {
            return RC_ENOMEM;
        }
    }
    if (ret == 0) {
        val->len = d.size;
    }
    return bdb_status(tx->be, ret, "hint get");
}

static int
bdb_hint_put(void *self, void *txp, const void *key, size_t nkey, const void *val, size_t nval)
{
    struct bdb_hint_tx *tx = txp;
    DBT k, d;
    int ret;

    (void)self;
    if (nkey > UINT32_MAX || nval > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    if ((ret = bdb_write_refused(tx->be)) != 0) {
        return ret;
    }
    bdb_account_write(tx->be, nkey + nval);
    bdb_dbt_in(&k, key, nkey);
    bdb_dbt_in(&d, nval > 0 ? val : "", nval);
    ret = tx->db->put(tx->db, tx->txn, &k, &d, 0);
    return bdb_write_status(tx->be, ret, "hint put");
}

static int
bdb_hint_del(void *self, void *txp, const void *key, size_t nkey)
{
    struct bdb_hint_tx *tx = txp;
    DBT k;
    int ret;

    (void)self;
    if (nkey > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    if ((ret = bdb_write_refused(tx->be)) != 0) {
        return ret;
    }
    bdb_dbt_in(&k, key, nkey);
    ret = tx->db->del(tx->db, tx->txn, &k, 0);
    return bdb_write_status(tx->be, ret, "hint delete");
}

static int
bdb_hint_scan(void *self, void *db, struct buf *cursor, size_t max, store_scan_fn fn, void *arg,
              bool *done)
{
    return bdb_scan_db(self, db, cursor, max, fn, arg, done);
}

/* ------------------------------------------------------------ meta */

static int
bdb_meta_get(void *self, const char *name, struct buf *val)
{
    struct bdb_engine *be = self;

    return bdb_read(be, be->meta, name, strlen(name), val, "meta get");
}

static int
bdb_meta_put_once(struct bdb_engine *be, DBT *k, DBT *d, u_int32_t commit_flags)
{
    DB_TXN *txn;
    int ret;

    ret = be->env->txn_begin(be->env, NULL, &txn, 0);
    if (ret != 0) {
        return ret;
    }
    ret = be->meta->put(be->meta, txn, k, d, 0);
    if (ret != 0) {
        txn->abort(txn);
        return ret;
    }
    return txn->commit(txn, commit_flags);
}

static int
bdb_meta_put(void *self, const char *name, const void *val, size_t nval)
{
    struct bdb_engine *be = self;
    DBT k, d;
    int ret, attempt = 0;

    if (nval > UINT32_MAX) {
        return RC_ETOOLARGE;
    }
    if ((ret = bdb_write_refused(be)) != 0) {
        return ret;
    }
    bdb_dbt_in(&k, name, strlen(name));
    bdb_dbt_in(&d, val, nval);
    do {
        ret = bdb_meta_put_once(be, &k, &d, DB_TXN_SYNC);
    } while (bdb_retry(be, ret, attempt++));
    return bdb_write_status(be, ret, "meta put");
}

/* ------------------------------------------------------------ durability, stats */

static int
bdb_flush_log(void *self)
{
    struct bdb_engine *be = self;

    if (bdb_fenced(be) != 0) {
        return bdb_fenced(be);
    }
    return bdb_write_status(be, be->env->log_flush(be->env, NULL), "log flush");
}

/* Berkeley DB has no "write the log buffer without fsync" call, but a
 * commit with DB_TXN_WRITE_NOSYNC writes the buffer up to its own commit
 * record, which covers every commit before it: one tiny transaction writes
 * a whole group of commits to the OS with one write(2). */
static int
bdb_write_log(void *self)
{
    static const char mark_key[] = "log_write_mark";
    struct bdb_engine *be = self;
    unsigned char one = 1;
    DBT k, d;
    int ret, attempt = 0;

    if ((ret = bdb_write_refused(be)) != 0) {
        return ret;
    }
    bdb_dbt_in(&k, mark_key, sizeof(mark_key) - 1);
    bdb_dbt_in(&d, &one, sizeof(one));
    do {
        ret = bdb_meta_put_once(be, &k, &d, DB_TXN_WRITE_NOSYNC);
    } while (bdb_retry(be, ret, attempt++));
    return bdb_write_status(be, ret, "log write");
}

static void
bdb_stats_env(struct bdb_engine *be, store_stat_fn emit, void *arg)
{
    DB_MPOOL_STAT *ms = NULL;
    DB_LOG_STAT *ls = NULL;
    DB_TXN_STAT *ts = NULL;

    if (be->env->memp_stat(be->env, &ms, NULL, 0) == 0 && ms != NULL) {
        store_emit_u64(emit, arg, "cache_bytes",
                       (uint64_t)ms->st_gbytes * (1u << 30) + ms->st_bytes);
        store_emit_u64(emit, arg, "cache_hits", ms->st_cache_hit);
        store_emit_u64(emit, arg, "cache_misses", ms->st_cache_miss);
        rc_free(ms);
    }
    if (be->env->log_stat(be->env, &ls, 0) == 0 && ls != NULL) {
        store_emit_u64(emit, arg, "log_bytes_written",
                       (uint64_t)ls->st_w_mbytes * (1u << 20) + ls->st_w_bytes);
        store_emit_u64(emit, arg, "log_fsyncs", ls->st_scount);
        store_emit_u64(emit, arg, "log_max_commits_per_flush", ls->st_maxcommitperflush);
        rc_free(ls);
    }
    if (be->env->txn_stat(be->env, &ts, 0) == 0 && ts != NULL) {
        store_emit_u64(emit, arg, "commits", ts->st_ncommits);
        store_emit_u64(emit, arg, "aborts", ts->st_naborts);
        rc_free(ts);
    }
}

static void
bdb_stats(void *self, store_stat_fn emit, void *arg)
{
    struct bdb_engine *be = self;

    emit(arg, "bdb_version", DB_VERSION_STRING);
    if (!atomic_load(&be->panicked)) {
        bdb_stats_env(be, emit, arg);
    }
    store_emit_u64(emit, arg, "checkpoints", atomic_load(&be->checkpoints));
    store_emit_u64(emit, arg, "checkpoint_failures", atomic_load(&be->ckp_failures));
    store_emit_u64(emit, arg, "checkpoint_kbytes", be->ckp_bytes / 1024);
    store_emit_u64(emit, arg, "checkpoint_stall_last_ms", atomic_load(&be->ckp_last_ms));
    store_emit_u64(emit, arg, "checkpoint_stall_max_ms", atomic_load(&be->ckp_max_ms));
    store_emit_u64(emit, arg, "deadlocks_retried", atomic_load(&be->deadlocks));
    store_emit_u64(emit, arg, "bdb_panic", atomic_load(&be->panicked));
    store_emit_u64(emit, arg, "read_only", bdb_fenced(be) != 0);
    store_emit_u64(emit, arg, "low_disk_space", atomic_load(&be->low_space));
}

const struct engine_ops store_engine_bdb = {
    .name = "bdb",
    .open = bdb_open,
    .close = bdb_close,
    .get = bdb_get,
    .put = bdb_put,
    .del = bdb_del,
    .insert = bdb_insert,
    .update = bdb_update,
    .scan = bdb_scan,
    .truncate = bdb_truncate,
    .meta_get = bdb_meta_get,
    .meta_put = bdb_meta_put,
    .flush_log = bdb_flush_log,
    .write_log = bdb_write_log,
    .stats = bdb_stats,
    .hint_list = bdb_hint_list,
    .hint_open = bdb_hint_open,
    .hint_close = bdb_hint_close,
    .hint_txn = bdb_hint_txn,
    .hint_get = bdb_hint_get,
    .hint_put = bdb_hint_put,
    .hint_del = bdb_hint_del,
    .hint_scan = bdb_hint_scan,
};
