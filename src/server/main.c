/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c - start-up and shut-down of the ringcached daemon, in order:
 *
 *   options -> cluster gate -> root check -> resource limits -> absolute paths
 *   -> daemonize -> pid file -> drop privileges -> open store (recovery)
 *   -> coordinator -> server (ring, bind, port file) -> run until a signal or
 *   `shutdown`
 *   -> stop server -> coordinator -> close store (checkpoint) -> pid file
 *
 * main() owns the config, store, coordinator and server, and nothing else
 * here keeps state.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/status.h"
#include "coord/coord.h"
#include "server/options.h"
#include "server/server.h"
#include "store/store.h"

#define EXIT_USAGE 64 /* sysexits' EX_USAGE, as memcached uses */
#define EXIT_OSERR 71

/* Make *path absolute against the current directory (before daemonize
 * changes it). */
static int
main_absolute(char **path)
{
    char cwd[PATH_MAX], *abs;
    size_t n;

    if (*path == NULL || (*path)[0] == '/') {
        return RC_OK;
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return -errno;
    }
    n = strlen(cwd) + strlen(*path) + 2;
    abs = rc_malloc(n);
    if (abs == NULL) {
        return RC_ENOMEM;
    }
    snprintf(abs, n, "%s/%s", cwd, *path);
    rc_free(*path);
    *path = abs;
    return RC_OK;
}

static int
main_limits(const struct config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_conns + 64;

    if (cfg->maxcore) {
        rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
        if (setrlimit(RLIMIT_CORE, &rl) != 0) {
            getrlimit(RLIMIT_CORE, &rl);
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_CORE, &rl);
        }
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -errno;
    }
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (rl.rlim_max < want) {
            rl.rlim_max = want;
        }
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fprintf(stderr, "failed to set rlimit for open files. Try starting as root or "
                            "requesting smaller maxconns value.\n");
            return RC_EINVAL;
        }
    }
    return RC_OK;
}

static int
main_daemonize(const struct config *cfg)
{
    int fd;

    switch (fork()) {
    case -1:
        return -errno;
    case 0:
        break;
    default:
        _exit(EXIT_SUCCESS);
    }
    if (setsid() == -1) {
        return -errno;
    }
    if (!cfg->maxcore && chdir("/") != 0) {
        return -errno;
    }
    if (cfg->verbosity == 0 && (fd = open("/dev/null", O_RDWR)) >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    return RC_OK;
}

static void
main_pid_file(const char *path)
{
    FILE *f;

    if (path == NULL) {
        return;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        log_error("could not open the pid file %s for writing: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0) {
        log_error("could not write the pid file %s: %s", path, strerror(errno));
    }
}

static int
main_drop_privileges(const struct config *cfg)
{
    struct passwd *pw;

    if (getuid() != 0 && geteuid() != 0) {
        return RC_OK;
    }
    if (cfg->user == NULL || cfg->user[0] == '\0') {
        fprintf(stderr, "can't run as root without the -u switch\n");
        return RC_EINVAL;
    }
    pw = getpwnam(cfg->user);
    if (pw == NULL) {
        fprintf(stderr, "can't find the user %s to switch to\n", cfg->user);
        return RC_EINVAL;
    }
    if (pw->pw_uid == 0) {
        return RC_OK;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "failed to assume identity of user %s\n", cfg->user);
        return RC_EINVAL;
    }
    return RC_OK;
}

/* The tombstone grace the sweeper applies. In a cluster a reaped tombstone
 * must outlive everything that can still deliver an older version of its
 * key to a replica: a hint (kept up to --hint-max-age after it arrived,
 * which is at most one peer timeout after the delete was written) and a PUT
 * or read repair still in flight (a peer timeout each way). So the grace is
 * at least --hint-max-age plus two peer timeouts, rounded up
 * (doc/replication.txt section 10); a smaller --tombstone-grace is raised,
 * and said so once at start. */
static unsigned
main_tombstone_grace(const struct config *cfg)
{
    int64_t floor_s, grace = cfg->tombstone_grace;

    if (cfg->npeers == 0) {
        return (unsigned)grace;
    }
    floor_s = (int64_t)cfg->hint_max_age + (2 * (int64_t)cfg->peer_timeout_ms + 999) / 1000;
    if (grace < floor_s) {
        log_info("cluster: tombstone grace %" PRId64 " s raised to %" PRId64
                 " s (--hint-max-age plus two --peer-timeout-ms)",
                 grace, floor_s);
        grace = floor_s;
    }
    return grace > UINT_MAX ? UINT_MAX : (unsigned)grace;
}

static int
main_run(const struct config *cfg)
{
    struct store_config scfg = {
        .kind = cfg->engine,
        .data_dir = cfg->data_dir,
        .sync = cfg->sync,
        .sync_interval_ms = cfg->sync_interval_ms,
        /* -m is split: half for the hot-item cache in front of the store,
         * half for Berkeley DB's own page cache. */
        .cache_bytes = cfg->mem_limit - cfg->mem_limit / 2,
        .hot_cache_bytes = cfg->mem_limit / 2,
        .hint_max_bytes = cfg->hint_max_bytes,
        .hint_max_age_ms = (int64_t)cfg->hint_max_age * 1000,
    };
    struct coord_config ccfg = {
        .max_item_size = cfg->max_item_size,
        .use_cas = cfg->use_cas,
        .flush_enabled = cfg->flush_enabled,
        .max_siblings = (unsigned)cfg->max_siblings,
        .tombstone_grace = main_tombstone_grace(cfg),
        .prune_keep = (unsigned)cfg->prune_keep,
        .reap_needs_ack = cfg->npeers > 0,
    };
    struct store *st = NULL;
    struct coord *co = NULL;
    struct server *srv = NULL;
    int rc;

    rc = store_open(&scfg, &st);
    if (rc != RC_OK) {
        log_error("cannot open the store in %s: %s", cfg->data_dir, rc_strerror(rc));
        goto out;
    }
    rc = coord_create(&ccfg, st, &co);
    if (rc != RC_OK) {
        log_error("cannot start the coordinator: %s", rc_strerror(rc));
        goto out;
    }
    rc = server_create(cfg, co, &srv);
    if (rc != RC_OK) {
        /* RC_EIO here is a socket that could not be bound, logged above;
         * its text ("storage i/o error") would point at the disk. */
        log_error("cannot start the server: %s",
                  rc == RC_EIO ? "a port or socket could not be opened" : rc_strerror(rc));
        goto out;
    }
    rc = server_run(srv);
    log_info("stopping: closing the store");
out:
    server_destroy(srv);
    coord_destroy(co);
    store_close(st);
    return rc;
}

int
main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    int rc;

    config_init_defaults(&cfg);
    rc = options_parse(&cfg, argc, argv, err, sizeof(err), stderr);
    if (rc == OPTIONS_EXIT) {
        config_deinit(&cfg);
        return EXIT_SUCCESS;
    }
    if (rc != RC_OK) {
        fprintf(stderr, "ringcached: %s\n", err);
        config_deinit(&cfg);
        return EXIT_USAGE;
    }
    log_set_verbosity(cfg.verbosity);
    if ((getuid() == 0 || geteuid() == 0) && (cfg.user == NULL || cfg.user[0] == '\0')) {
        fprintf(stderr, "can't run as root without the -u switch\n");
        config_deinit(&cfg);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (main_limits(&cfg) != RC_OK || main_absolute(&cfg.data_dir) != RC_OK ||
        main_absolute(&cfg.pid_file) != RC_OK || main_absolute(&cfg.port_file) != RC_OK ||
        main_absolute(&cfg.unix_socket) != RC_OK) {
        config_deinit(&cfg);
        return EXIT_OSERR;
    }
    if (cfg.daemonize && main_daemonize(&cfg) != RC_OK) {
        fprintf(stderr, "failed to daemonize: %s\n", strerror(errno));
        config_deinit(&cfg);
        return EXIT_OSERR;
    }
    main_pid_file(cfg.pid_file);
    if (main_drop_privileges(&cfg) != RC_OK) {
        config_deinit(&cfg);
        return EXIT_USAGE;
    }
    rc = main_run(&cfg);
    if (cfg.pid_file != NULL) {
        unlink(cfg.pid_file);
    }
    config_deinit(&cfg);
    return rc == RC_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
