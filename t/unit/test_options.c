/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_options.c - options_parse against memcached 1.6's flags and
 * ringcached's own: every default, every option's effect (short and long
 * spelling), every refusal and its message, the warnings for flags that do
 * nothing here, --config files and their precedence, repeated parses in one
 * process, and the cluster options (doc/replication.txt section 12) with
 * every rule across them. Each test owns its config and frees it (LeakSanitizer checks).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "base/status.h"
#include "server/daemon_config.h"
#include "store/store.h"
#include "server/options.h"

#define MIB (1024ULL * 1024ULL)

/* One parse: the config, the error line and everything written to `warn`. */
struct run {
    struct config cfg;
    char err[512];
    char *warn;
    size_t warnlen;
    int rc;
};

static void
run_argv(struct run *r, const char *first, ...)
{
    const char *argv[64] = {"ringcached"};
    int argc = 1;
    va_list ap;
    FILE *w;

    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        assert_true(argc < 63);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    memset(r, 0, sizeof(*r));
    config_init_defaults(&r->cfg);
    w = open_memstream(&r->warn, &r->warnlen);
    assert_non_null(w);
    r->rc = options_parse(&r->cfg, argc, (char **)argv, r->err, sizeof(r->err), w);
    fclose(w);
}

static void
run_done(struct run *r)
{
    config_deinit(&r->cfg);
    free(r->warn);
}

#define RUN(r, ...) run_argv((r), __VA_ARGS__, (const char *)NULL)

/* Parse, expect RC_OK and no warning at all. */
#define RUN_OK(r, ...)                                  \
    do {                                                \
        RUN((r), __VA_ARGS__);                          \
        if ((r)->rc != RC_OK) {                         \
            fail_msg("unexpected error: %s", (r)->err); \
        }                                               \
    } while (0)

static void
assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL) {
        fail_msg("'%s' does not contain '%s'", hay != NULL ? hay : "(null)", needle);
    }
}

/* A file holding `text`; the caller unlinks and frees the name. */
static char *
write_file(const char *text)
{
    char *path = strdup("/tmp/rc-test-options-XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* ------------------------------------------------------------ defaults */

static void
test_defaults(void **state)
{
    struct config cfg;

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(cfg.port, 11211);
    assert_null(cfg.port_file);
    assert_int_equal(cfg.udp_port, 0);
    assert_string_equal(cfg.listen, "127.0.0.1");
    assert_null(cfg.unix_socket);
    assert_int_equal(cfg.unix_mask, 0700);
    assert_int_equal(cfg.backlog, 1024);
    assert_int_equal(cfg.max_conns, 1024);
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.reqs_per_event, 20);
    assert_int_equal(cfg.max_item_size, MIB);
    assert_int_equal(cfg.mem_limit, 64 * MIB);
    assert_int_equal(cfg.verbosity, 0);
    assert_false(cfg.daemonize);
    assert_null(cfg.pid_file);
    assert_null(cfg.user);
    assert_false(cfg.maxcore);
    assert_true(cfg.use_cas);
    assert_true(cfg.flush_enabled);
    assert_int_equal(cfg.proto, CONFIG_PROTO_AUTO);
    assert_false(cfg.shutdown_enabled);
    assert_int_equal(cfg.prefix_delimiter, ':');
    assert_int_equal(cfg.idle_timeout, 0);
    assert_null(cfg.auth_file);
    assert_false(cfg.sasl);
    assert_string_equal(cfg.data_dir, "./ringcached-data");
    assert_int_equal(cfg.sync, STORE_SYNC_ALWAYS);
    assert_int_equal(cfg.sync_interval_ms, 1000);
    assert_null(cfg.config_file);
    assert_int_equal(cfg.engine, STORE_KIND_BDB);
    /* cluster */
    assert_null(cfg.peer_listen);
    assert_null(cfg.peers);
    assert_int_equal(cfg.npeers, 0);
    assert_int_equal(cfg.replicas, 3);
    assert_int_equal(cfg.read_quorum, 2);
    assert_int_equal(cfg.write_quorum, 2);
    assert_int_equal(cfg.partitions, 1024);
    assert_null(cfg.cluster_secret_file);
    assert_null(cfg.cluster_secret);
    assert_int_equal(cfg.peer_timeout_ms, 500);
    assert_int_equal(cfg.hint_max_bytes, 1024 * MIB);
    assert_int_equal(cfg.hint_max_age, 259200);
    assert_int_equal(cfg.hint_rate, 1000);
    /* alone: a ring of one, quorums of one */
    assert_int_equal(config_nodes(&cfg), 1);
    assert_int_equal(config_replicas(&cfg), 1);
    assert_int_equal(config_read_quorum(&cfg), 1);
    assert_int_equal(config_write_quorum(&cfg), 1);
    config_deinit(&cfg);
    config_deinit(&cfg); /* twice is harmless */
    config_deinit(NULL);
}

static void
test_no_arguments_keeps_defaults(void **state)
{
    struct run r;

    (void)state;
    run_argv(&r, NULL);
    assert_int_equal(r.rc, RC_OK);
    assert_string_equal(r.err, "");
    assert_int_equal(r.warnlen, 0);
    assert_int_equal(r.cfg.port, 11211);
    assert_string_equal(r.cfg.listen, "127.0.0.1");
    run_done(&r);
}

/* ------------------------------------------------------------ each option */

static void
test_network_options(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-p", "0", "-U", "0", "-s", "/tmp/rc.sock", "-a", "0755", "-b", "0", "-c", "1", "-R",
           "1", "--port-file", "/tmp/rc.port");
    assert_int_equal(r.cfg.port, 0);
    assert_int_equal(r.cfg.udp_port, 0);
    assert_string_equal(r.cfg.unix_socket, "/tmp/rc.sock");
    assert_int_equal(r.cfg.unix_mask, 0755);
    assert_int_equal(r.cfg.backlog, 0);
    assert_int_equal(r.cfg.max_conns, 1);
    assert_int_equal(r.cfg.reqs_per_event, 1);
    assert_string_equal(r.cfg.port_file, "/tmp/rc.port");
    run_done(&r);

    RUN_OK(&r, "--port=65535", "--udp-port=0", "--unix-socket=/s", "--unix-mask=0",
           "--listen-backlog=4096", "--conn-limit=100000", "--max-reqs-per-event=200");
    assert_int_equal(r.cfg.port, 65535);
    assert_string_equal(r.cfg.unix_socket, "/s");
    assert_int_equal(r.cfg.unix_mask, 0);
    assert_int_equal(r.cfg.backlog, 4096);
    assert_int_equal(r.cfg.max_conns, 100000);
    assert_int_equal(r.cfg.reqs_per_event, 200);
    run_done(&r);

    RUN_OK(&r, "-a", "777", "--port", "+80");
    assert_int_equal(r.cfg.unix_mask, 0777);
    assert_int_equal(r.cfg.port, 80);
    run_done(&r);
}

static void
test_flags(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-d", "-r", "-C", "-F", "-A");
    assert_true(r.cfg.daemonize);
    assert_true(r.cfg.maxcore);
    assert_false(r.cfg.use_cas);
    assert_false(r.cfg.flush_enabled);
    assert_true(r.cfg.shutdown_enabled);
    run_done(&r);

    RUN_OK(&r, "--daemon", "--enable-coredumps", "--disable-cas", "--disable-flush-all",
           "--enable-shutdown");
    assert_true(r.cfg.daemonize);
    assert_true(r.cfg.maxcore);
    assert_false(r.cfg.use_cas);
    assert_false(r.cfg.flush_enabled);
    assert_true(r.cfg.shutdown_enabled);
    run_done(&r);

    /* clustered short flags, as getopt allows */
    RUN_OK(&r, "-dCvv");
    assert_true(r.cfg.daemonize);
    assert_false(r.cfg.use_cas);
    assert_int_equal(r.cfg.verbosity, 2);
    run_done(&r);
}

static void
test_strings(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-P", "/run/rc.pid", "-u", "nobody", "--data-dir", "/var/lib/rc");
    assert_string_equal(r.cfg.pid_file, "/run/rc.pid");
    assert_string_equal(r.cfg.user, "nobody");
    assert_string_equal(r.cfg.data_dir, "/var/lib/rc");
    run_done(&r);

    /* a repeated option replaces (and frees) the earlier value */
    RUN_OK(&r, "--pidfile=/a", "--pidfile=/b", "--user=x", "--user=y", "--data-dir=d1",
           "--data-dir=d2", "--port-file=p1", "--port-file=p2", "-s", "/s1", "-s", "/s2");
    assert_string_equal(r.cfg.pid_file, "/b");
    assert_string_equal(r.cfg.user, "y");
    assert_string_equal(r.cfg.data_dir, "d2");
    assert_string_equal(r.cfg.port_file, "p2");
    assert_string_equal(r.cfg.unix_socket, "/s2");
    run_done(&r);
}

static void
test_threads(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-t", "1");
    assert_int_equal(r.cfg.threads, 1);
    assert_int_equal(r.warnlen, 0);
    run_done(&r);

    RUN_OK(&r, "--threads=64");
    assert_int_equal(r.cfg.threads, 64);
    assert_int_equal(r.warnlen, 0);
    run_done(&r);

    /* memcached warns above 64 and goes on */
    RUN_OK(&r, "-t", "65");
    assert_int_equal(r.cfg.threads, 65);
    assert_contains(r.warn, "-t: more than 64 worker threads is not recommended");
    run_done(&r);
}

static void
test_verbosity(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-v");
    assert_int_equal(r.cfg.verbosity, 1);
    run_done(&r);
    RUN_OK(&r, "-vv");
    assert_int_equal(r.cfg.verbosity, 2);
    run_done(&r);
    RUN_OK(&r, "-vvv");
    assert_int_equal(r.cfg.verbosity, 3);
    run_done(&r);
    RUN_OK(&r, "-v", "--verbose", "-v");
    assert_int_equal(r.cfg.verbosity, 3);
    run_done(&r);
    RUN_OK(&r, "--verbose=5");
    assert_int_equal(r.cfg.verbosity, 5);
    run_done(&r);
}

static void
test_memory_limit(void **state)
{
    struct run r;

    (void)state;
    /* a bare number is megabytes, as in memcached */
    RUN_OK(&r, "-m", "128");
    assert_int_equal(r.cfg.mem_limit, 128 * MIB);
    run_done(&r);
    RUN_OK(&r, "--memory-limit=4096");
    assert_int_equal(r.cfg.mem_limit, 4096 * MIB);
    run_done(&r);
    /* suffixes mean what they say */
    RUN_OK(&r, "-m", "64m");
    assert_int_equal(r.cfg.mem_limit, 64 * MIB);
    run_done(&r);
    RUN_OK(&r, "-m", "2g");
    assert_int_equal(r.cfg.mem_limit, 2048 * MIB);
    run_done(&r);
    RUN_OK(&r, "-m", "4096k", "-I", "1k");
    assert_int_equal(r.cfg.mem_limit, 4 * MIB);
    run_done(&r);
    RUN_OK(&r, "-m", "2G", "-m", "3M");
    assert_int_equal(r.cfg.mem_limit, 3 * MIB);
    run_done(&r);
}

static void
test_item_size(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-I", "1024");
    assert_int_equal(r.cfg.max_item_size, 1024);
    run_done(&r);
    RUN_OK(&r, "-I", "1k");
    assert_int_equal(r.cfg.max_item_size, 1024);
    run_done(&r);
    RUN_OK(&r, "--max-item-size=32m");
    assert_int_equal(r.cfg.max_item_size, 32 * MIB);
    run_done(&r);
    RUN_OK(&r, "-I", "2M", "-m", "4");
    assert_int_equal(r.cfg.max_item_size, 2 * MIB);
    run_done(&r);
    /* the upper limit: 1024m, with -m at least twice that */
    RUN_OK(&r, "-I", "1024m", "-m", "2048");
    assert_int_equal(r.cfg.max_item_size, 1024 * MIB);
    run_done(&r);
    /* -I may come before the -m that makes it fit */
    RUN_OK(&r, "-I", "100m", "-m", "200");
    assert_int_equal(r.cfg.max_item_size, 100 * MIB);
    run_done(&r);
}

static void
test_protocol(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-B", "ascii");
    assert_int_equal(r.cfg.proto, CONFIG_PROTO_ASCII);
    run_done(&r);
    RUN_OK(&r, "-B", "ascii", "--protocol=auto");
    assert_int_equal(r.cfg.proto, CONFIG_PROTO_AUTO);
    run_done(&r);
    RUN_OK(&r, "-B", "binary");
    assert_int_equal(r.cfg.proto, CONFIG_PROTO_BINARY);
    run_done(&r);
    RUN_OK(&r, "--name", "alpha");
    assert_string_equal(r.cfg.name, "alpha");
    run_done(&r);
    RUN_OK(&r, "-p", "1"); /* the default name is the host name */
    assert_non_null(r.cfg.name);
    assert_true(r.cfg.name[0] != '\0');
    run_done(&r);
}

static void
test_delimiter(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-D", "/");
    assert_int_equal(r.cfg.prefix_delimiter, '/');
    assert_int_equal(r.warnlen, 0);
    run_done(&r);
    RUN_OK(&r, "--prefix-delimiter=#");
    assert_int_equal(r.cfg.prefix_delimiter, '#');
    run_done(&r);
    /* memcached takes the first character; we do too, and say so */
    RUN_OK(&r, "-D", "::");
    assert_int_equal(r.cfg.prefix_delimiter, ':');
    assert_contains(r.warn, "-D: only the first character of '::' is used");
    run_done(&r);
}

static void
test_ringcached_options(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "--sync", "batch", "--sync-interval-ms", "250", "--engine", "memory");
    assert_int_equal(r.cfg.sync, STORE_SYNC_BATCH);
    assert_int_equal(r.cfg.sync_interval_ms, 250);
    assert_int_equal(r.cfg.engine, STORE_KIND_MEM);
    run_done(&r);
    RUN_OK(&r, "--sync=none", "--engine=bdb", "--sync-interval-ms=1");
    assert_int_equal(r.cfg.sync, STORE_SYNC_NONE);
    assert_int_equal(r.cfg.engine, STORE_KIND_BDB);
    assert_int_equal(r.cfg.sync_interval_ms, 1);
    run_done(&r);
    RUN_OK(&r, "--sync=none", "--sync=always");
    assert_int_equal(r.cfg.sync, STORE_SYNC_ALWAYS);
    run_done(&r);
}

/* ------------------------------------------------------------ cluster */

#define SECRET_OK "0123456789abcdef0123456789abcdef" /* 32 bytes */

/* A secret file with mode `mode`; the caller unlinks and frees the name. */
static char *
write_secret(const char *text, mode_t mode)
{
    char *path = write_file(text);

    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void
remove_file(char *path)
{
    unlink(path);
    free(path);
}

static void
test_cluster_options(void **state)
{
    char *secret = write_secret(SECRET_OK "  \n second line is ignored\n", 0600);
    struct run r;

    (void)state;
    RUN_OK(&r, "--name", "node-a", "--peer-listen", "127.0.0.1:7000", "--peers",
           "node-b=10.0.0.2:7000,node_c.1=[::1]:7001,D-3=peer.example:65535",
           "--cluster-secret-file", secret, "--replicas", "2", "--read-quorum", "1",
           "--write-quorum", "2", "--partitions", "4096", "--peer-timeout-ms", "250",
           "--hint-max-bytes", "64m", "--hint-max-age", "3600", "--hint-rate", "50");
    assert_string_equal(r.cfg.peer_listen, "127.0.0.1:7000");
    assert_string_equal(r.cfg.peer_listen_addr.host, "127.0.0.1");
    assert_int_equal(r.cfg.peer_listen_addr.port, 7000);
    assert_int_equal(r.cfg.npeers, 3);
    assert_string_equal(r.cfg.peers[0].name, "node-b");
    assert_string_equal(r.cfg.peers[0].addr.host, "10.0.0.2");
    assert_int_equal(r.cfg.peers[0].addr.port, 7000);
    assert_string_equal(r.cfg.peers[1].name, "node_c.1");
    assert_string_equal(r.cfg.peers[1].addr.host, "::1"); /* without the brackets */
    assert_int_equal(r.cfg.peers[1].addr.port, 7001);
    assert_string_equal(r.cfg.peers[2].name, "D-3");
    assert_string_equal(r.cfg.peers[2].addr.host, "peer.example"); /* not resolved */
    assert_int_equal(r.cfg.peers[2].addr.port, 65535);
    assert_string_equal(r.cfg.cluster_secret_file, secret);
    assert_string_equal(r.cfg.cluster_secret, SECRET_OK); /* trailing blanks trimmed */
    assert_int_equal(r.cfg.cluster_secret_len, 32);
    assert_int_equal(r.cfg.replicas, 2);
    assert_int_equal(r.cfg.read_quorum, 1);
    assert_int_equal(r.cfg.write_quorum, 2);
    assert_int_equal(r.cfg.partitions, 4096);
    assert_int_equal(r.cfg.peer_timeout_ms, 250);
    assert_int_equal(r.cfg.hint_max_bytes, 64 * MIB);
    assert_int_equal(r.cfg.hint_max_age, 3600);
    assert_int_equal(r.cfg.hint_rate, 50);
    assert_int_equal(config_nodes(&r.cfg), 4);
    assert_int_equal(config_replicas(&r.cfg), 2);
    assert_int_equal(config_read_quorum(&r.cfg), 1);
    assert_int_equal(config_write_quorum(&r.cfg), 2);
    assert_int_equal(r.warnlen, 0); /* a 0600 secret, nothing capped */
    run_done(&r);

    /* [::1]:port for --peer-listen, port 0 (any) allowed there; a later
     * --peers replaces an earlier one */
    RUN_OK(&r, "--name", "a", "--peer-listen", "[::1]:0", "--peers", "b=h:1,c=h:2", "--peers",
           "z=127.0.0.1:9", "--cluster-secret-file", secret);
    assert_string_equal(r.cfg.peer_listen_addr.host, "::1");
    assert_int_equal(r.cfg.peer_listen_addr.port, 0);
    assert_int_equal(r.cfg.npeers, 1);
    assert_string_equal(r.cfg.peers[0].name, "z");
    run_done(&r);

    /* a 64-byte name is the longest */
    RUN_OK(&r, "--name", "a", "--peer-listen", "127.0.0.1:1", "--cluster-secret-file", secret,
           "--peers", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=h:1");
    assert_int_equal(strlen(r.cfg.peers[0].name), 64);
    run_done(&r);
    remove_file(secret);
}

/* N above the nodes is capped with a warning, not refused; R and W are then
 * checked against the capped N. */
static void
test_cluster_replicas_capped(void **state)
{
    char *secret = write_secret(SECRET_OK "\n", 0600);
    struct run r;

    (void)state;
    /* defaults (N 3, R 2, W 2) on two nodes: N capped at 2 */
    RUN_OK(&r, "--name", "a", "--peer-listen", "127.0.0.1:7000", "--peers", "b=127.0.0.1:7001",
           "--cluster-secret-file", secret);
    assert_int_equal(r.cfg.replicas, 3); /* as requested: the ring hash holds it */
    assert_int_equal(config_replicas(&r.cfg), 2);
    assert_int_equal(config_read_quorum(&r.cfg), 2);
    assert_int_equal(config_write_quorum(&r.cfg), 2);
    assert_contains(r.warn, "--replicas: 3 replicas capped at the 2 nodes of the cluster");
    run_done(&r);

    /* R above the capped N */
    RUN(&r, "--name", "a", "--peer-listen", "127.0.0.1:7000", "--peers", "b=127.0.0.1:7001",
        "--cluster-secret-file", secret, "--read-quorum", "3");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_string_equal(r.err, "--read-quorum: read quorum 3 is more than the 2 replicas");
    run_done(&r);
    RUN(&r, "--name", "a", "--peer-listen", "127.0.0.1:7000", "--peers", "b=127.0.0.1:7001",
        "--cluster-secret-file", secret, "--replicas", "16", "--write-quorum", "3");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_string_equal(r.err, "--write-quorum: write quorum 3 is more than the 2 replicas");
    run_done(&r);
    /* R above N when N is below the nodes */
    RUN(&r, "--name", "a", "--peer-listen", "127.0.0.1:7000", "--peers", "b=h:1,c=h:2,d=h:3",
        "--cluster-secret-file", secret, "--replicas", "2", "--read-quorum", "3");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_string_equal(r.err, "--read-quorum: read quorum 3 is more than the 2 replicas");
    run_done(&r);
    /* R = W = N = nodes */
    RUN_OK(&r, "--name", "a", "--peer-listen", "127.0.0.1:7000", "--peers", "b=h:1,c=h:2",
           "--cluster-secret-file", secret, "--read-quorum", "3", "--write-quorum", "3");
    assert_int_equal(config_replicas(&r.cfg), 3);
    assert_int_equal(r.warnlen, 0);
    run_done(&r);

    /* alone, the quorum options are range-checked only: a ring of one */
    RUN_OK(&r, "--replicas", "5", "--read-quorum", "16", "--write-quorum", "7");
    assert_int_equal(r.cfg.replicas, 5);
    assert_int_equal(config_replicas(&r.cfg), 1);
    assert_int_equal(config_read_quorum(&r.cfg), 1);
    assert_int_equal(config_write_quorum(&r.cfg), 1);
    assert_int_equal(r.warnlen, 0);
    run_done(&r);
    remove_file(secret);
}

static void
test_cluster_sizes_and_partitions(void **state)
{
    static const struct {
        const char *arg;
        uint64_t bytes;
    } sizes[] = {{"1", 1},           {"4096", 4096},         {"64k", 64 * 1024}, {"2m", 2 * MIB},
                 {"1g", 1024 * MIB}, {"3G", 3 * 1024 * MIB}, {"10K", 10 * 1024}};
    static const uint32_t qs[] = {1, 2, 4, 1024, 32768, 65536};
    struct run r;
    char arg[32];

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        RUN_OK(&r, "--hint-max-bytes", sizes[i].arg);
        assert_int_equal(r.cfg.hint_max_bytes, sizes[i].bytes);
        run_done(&r);
    }
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        snprintf(arg, sizeof(arg), "--partitions=%u", qs[i]);
        RUN_OK(&r, arg);
        assert_int_equal(r.cfg.partitions, qs[i]);
        run_done(&r);
    }
    RUN_OK(&r, "--replicas", "1", "--replicas", "16", "--peer-timeout-ms", "1", "--hint-rate", "1",
           "--hint-max-age", "1");
    assert_int_equal(r.cfg.replicas, 16);
    assert_int_equal(r.cfg.peer_timeout_ms, 1);
    assert_int_equal(r.cfg.hint_rate, 1);
    assert_int_equal(r.cfg.hint_max_age, 1);
    run_done(&r);
}

/* Alone, --peer-listen and --cluster-secret-file are checked but do nothing
 * yet: a warning says so. */
static void
test_cluster_options_alone_warn(void **state)
{
    char *secret = write_secret(SECRET_OK "\n", 0600);
    struct run r;

    (void)state;
    RUN_OK(&r, "--peer-listen", "127.0.0.1:7000", "--cluster-secret-file", secret);
    assert_contains(r.warn, "--peer-listen: has no effect without --peers");
    assert_contains(r.warn, "--cluster-secret-file: has no effect without --peers");
    run_done(&r);
    remove_file(secret);
}

static void
test_cluster_secret_file(void **state)
{
    char *ok = write_secret(SECRET_OK "\n", 0600);
    char *group = write_secret(SECRET_OK "\n", 0640);
    char *world = write_secret(SECRET_OK "\n", 0644);
    char *shorter = write_secret("0123456789abcdef0123456789abcde\n", 0600); /* 31 */
    char *trimmed = write_secret("0123456789abcdef0123456789abcde \t \r\n", 0600);
    char *nonl = write_secret(SECRET_OK, 0600);
    char *first = write_secret("short\n" SECRET_OK "\n", 0600);
    char *empty = write_secret("", 0600);
    char expect[512];
    struct run r;

    (void)state;
    RUN_OK(&r, "--cluster-secret-file", nonl); /* no newline at the end is fine */
    assert_string_equal(r.cfg.cluster_secret, SECRET_OK);
    run_done(&r);
    /* a second one replaces the first */
    RUN_OK(&r, "--cluster-secret-file", group, "--cluster-secret-file", ok);
    assert_string_equal(r.cfg.cluster_secret_file, ok);
    run_done(&r);

    RUN_OK(&r, "--cluster-secret-file", group);
    snprintf(expect, sizeof(expect),
             "--cluster-secret-file: '%s' is readable by its group (mode 640); chmod 600 it",
             group);
    assert_contains(r.warn, expect);
    run_done(&r);
    RUN_OK(&r, "--cluster-secret-file", world);
    assert_contains(r.warn, "is readable by everyone (mode 644)");
    run_done(&r);

    RUN(&r, "--cluster-secret-file", shorter);
    assert_int_equal(r.rc, RC_EINVAL);
    snprintf(expect, sizeof(expect),
             "--cluster-secret-file: the secret in '%s' is too short: its first line has 31 "
             "bytes, at least 32 are needed",
             shorter);
    assert_string_equal(r.err, expect);
    run_done(&r);
    RUN(&r, "--cluster-secret-file", trimmed);
    assert_int_equal(r.rc, RC_EINVAL);
    assert_contains(r.err, "its first line has 31 bytes");
    run_done(&r);
    RUN(&r, "--cluster-secret-file", first); /* only the first line counts */
    assert_int_equal(r.rc, RC_EINVAL);
    assert_contains(r.err, "its first line has 5 bytes");
    run_done(&r);
    RUN(&r, "--cluster-secret-file", empty);
    assert_int_equal(r.rc, RC_EINVAL);
    assert_contains(r.err, "its first line has 0 bytes");
    run_done(&r);
    RUN(&r, "--cluster-secret-file", "/nonexistent/secret");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_string_equal(r.err, "--cluster-secret-file: cannot read '/nonexistent/secret': No "
                               "such file or directory");
    run_done(&r);
    RUN(&r, "--cluster-secret-file", "/tmp");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_string_equal(r.err, "--cluster-secret-file: '/tmp' is not a regular file");
    run_done(&r);
    if (geteuid() != 0) { /* root reads a mode 000 file anyway */
        assert_int_equal(chmod(ok, 0), 0);
        RUN(&r, "--cluster-secret-file", ok);
        assert_int_equal(r.rc, RC_EINVAL);
        assert_contains(r.err, "Permission denied");
        run_done(&r);
    }
    remove_file(ok);
    remove_file(group);
    remove_file(world);
    remove_file(shorter);
    remove_file(trimmed);
    remove_file(nonl);
    remove_file(first);
    remove_file(empty);
}

/* Every cluster refusal; "@S" in an argument stands for a valid secret file. */
static void
test_cluster_refusals(void **state)
{
    static const struct {
        const char *args[13];
        const char *message;
    } cases[] = {
        /* ranges */
        {{"--replicas", "0"}, "--replicas: replicas must be a number from 1 to 16"},
        {{"--replicas", "17"}, "--replicas: replicas must be a number from 1 to 16"},
        {{"--replicas=x"}, "--replicas: replicas must be a number from 1 to 16"},
        {{"--read-quorum", "0"}, "--read-quorum: read quorum must be a number from 1 to 16"},
        {{"--read-quorum", "17"}, "--read-quorum: read quorum must be a number from 1 to 16"},
        {{"--write-quorum", "-1"}, "--write-quorum: write quorum must be a number from 1 to 16"},
        {{"--partitions", "3"}, "--partitions: partitions must be a power of two from 1 to 65536"},
        {{"--partitions", "0"}, "--partitions: partitions must be a power of two"},
        {{"--partitions", "131072"}, "--partitions: partitions must be a power of two"},
        {{"--partitions", "-4"}, "--partitions: partitions must be a power of two"},
        {{"--partitions", "1k"}, "--partitions: partitions must be a power of two"},
        {{"--peer-timeout-ms", "0"},
         "--peer-timeout-ms: peer timeout must be a number of milliseconds from 1 to 3600000"},
        {{"--peer-timeout-ms", "3600001"}, "--peer-timeout-ms: peer timeout must be"},
        {{"--hint-max-bytes", "0"},
         "--hint-max-bytes: hint limit must be a positive number of bytes with an optional k, "
         "m or g suffix"},
        {{"--hint-max-bytes", "1t"}, "--hint-max-bytes: hint limit must be a positive number"},
        {{"--hint-max-bytes", "-1"}, "--hint-max-bytes: hint limit must be a positive number"},
        {{"--hint-max-bytes", "99999999999g"}, "--hint-max-bytes: hint limit must be"},
        {{"--hint-max-age", "0"},
         "--hint-max-age: hint max age must be a positive number of seconds"},
        {{"--hint-rate", "0"}, "--hint-rate: hint rate must be a positive number"},
        {{"--hint-rate", "fast"}, "--hint-rate: hint rate must be a positive number"},
        {{"--cluster-secret-file="}, "--cluster-secret-file: an empty value is not allowed"},
        /* --peer-listen HOST:PORT */
        {{"--peer-listen", "127.0.0.1"}, "--peer-listen: missing :PORT in '127.0.0.1'"},
        {{"--peer-listen", ":7000"}, "--peer-listen: missing host in ':7000'"},
        {{"--peer-listen", "127.0.0.1:"},
         "--peer-listen: invalid port number (must be 0-65535) in '127.0.0.1:'"},
        {{"--peer-listen", "127.0.0.1:65536"}, "--peer-listen: invalid port number"},
        {{"--peer-listen", "127.0.0.1:x"}, "--peer-listen: invalid port number"},
        {{"--peer-listen", "::1:7000"},
         "--peer-listen: an IPv6 address needs brackets: [ADDR]:PORT in '::1:7000'"},
        {{"--peer-listen", "[::1]"}, "--peer-listen: expected [IPV6]:PORT in '[::1]'"},
        {{"--peer-listen", "[::1]7000"}, "--peer-listen: expected [IPV6]:PORT"},
        {{"--peer-listen", "[1.2.3.4]:7000"}, "--peer-listen: invalid IPv6 address"},
        {{"--peer-listen", "[]:7000"}, "--peer-listen: invalid IPv6 address"},
        {{"--peer-listen", "no-such-host.invalid:7000"},
         "--peer-listen: cannot resolve 'no-such-host.invalid'"},
        {{"--peer-listen", "bad host:7000"}, "--peer-listen: invalid address 'bad host:7000'"},
        /* --peers entries */
        {{"--peers", ""}, "--peers: empty entry in '' (expected NAME=HOST:PORT,...)"},
        {{"--peers", "b=h:1,"}, "--peers: empty entry in 'b=h:1,'"},
        {{"--peers", "b=h:1,,c=h:2"}, "--peers: empty entry"},
        {{"--peers", "b"}, "--peers: expected NAME=HOST:PORT, got 'b'"},
        {{"--peers", "=h:1"}, "--peers: invalid node name '' (1 to 64 bytes of A-Z a-z 0-9 . _ -)"},
        {{"--peers", "b c=h:1"}, "--peers: invalid node name 'b c'"},
        {{"--peers", "b:1=h:1"}, "--peers: invalid node name 'b:1'"},
        {{"--peers", "n\xc3\xa9=h:1"}, "--peers: invalid node name"},
        {{"--peers", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=h:1"},
         "--peers: invalid node name 'bbbbbbbbb"},
        {{"--peers", "b=h"}, "--peers: missing :PORT in 'b=h'"},
        {{"--peers", "b=h:0"}, "--peers: invalid port number (must be 1-65535) in 'b=h:0'"},
        {{"--peers", "b=h:70000"}, "--peers: invalid port number (must be 1-65535)"},
        {{"--peers", "b=::1:7000"}, "--peers: an IPv6 address needs brackets"},
        {{"--peers", "b=[::1:7000"}, "--peers: expected [IPV6]:PORT in 'b=[::1:7000'"},
        {{"--peers", "b=[zz]:7000"}, "--peers: invalid IPv6 address in 'b=[zz]:7000'"},
        {{"--peers", "b=bad!host:1"}, "--peers: invalid host 'bad!host' in 'b=bad!host:1'"},
        {{"--peers", "b=a..b:1"}, "--peers: invalid host 'a..b'"},
        {{"--peers", "b=.a:1"}, "--peers: invalid host '.a'"},
        {{"--peers", "b=h:1,c=h:2,b=h:3"}, "--peers: node name 'b' is listed twice"},
        /* across options */
        {{"--name", "a", "--peers", "a=h:1", "--peer-listen", "127.0.0.1:1",
          "--cluster-secret-file", "@S"},
         "--peers: 'a' is this node's own name (--name); list only the other nodes"},
        {{"--name", "a", "--peers", "b=h:1", "--cluster-secret-file", "@S"},
         "--peers: requires --peer-listen HOST:PORT"},
        {{"--name", "a", "--peers", "b=h:1", "--peer-listen", "127.0.0.1:1"},
         "--peers: requires --cluster-secret-file FILE"},
        {{"--name", "a:1", "--peers", "b=h:1", "--peer-listen", "127.0.0.1:1",
          "--cluster-secret-file", "@S"},
         "--name: with --peers, a node name must be 1 to 64 bytes of A-Z a-z 0-9 . _ -"},
        {{"--name", "a", "--peers", "b=h:1", "--peer-listen", "127.0.0.1:1",
          "--cluster-secret-file", "@S", "--partitions", "1"},
         "--partitions: 1 partitions are fewer than the 2 nodes"},
        {{"--name", "n\xc3\xa9"}, "--name: a node name must be printable ASCII"},
        {{"--name", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
         "--name: a node name must be at most 64 bytes"},
    };
    char *secret = write_secret(SECRET_OK "\n", 0600);
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *a[13];

        for (size_t j = 0; j < 13; j++) {
            a[j] = cases[i].args[j] != NULL && strcmp(cases[i].args[j], "@S") == 0
                       ? secret
                       : cases[i].args[j];
        }
        RUN(&r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
        if (r.rc != RC_EINVAL) {
            fail_msg("case %zu (%s %s): rc %d, expected refusal '%s'", i, a[0],
                     a[1] != NULL ? a[1] : "", r.rc, cases[i].message);
        }
        if (strncmp(r.err, cases[i].message, strlen(cases[i].message)) != 0) {
            fail_msg("case %zu: message '%s', expected it to start with '%s'", i, r.err,
                     cases[i].message);
        }
        assert_null(strchr(r.err, '\n'));
        run_done(&r);
    }
    remove_file(secret);
}

static void
test_cluster_config_file(void **state)
{
    char *secret = write_secret(SECRET_OK "\n", 0600);
    char *text = NULL, *path, *bad, expect[512];
    struct run r;

    (void)state;
    assert_true(asprintf(&text,
                         "name node-a\n"
                         "peer-listen [::1]:7000\n"
                         "peers node-b=[::1]:7001,node-c=localhost:7002\n"
                         "replicas 3\n"
                         "read-quorum 2\n"
                         "write-quorum 1\n"
                         "partitions 256\n"
                         "cluster-secret-file %s\n"
                         "peer-timeout-ms=750\n"
                         "hint-max-bytes 2g\n"
                         "hint-max-age 60\n"
                         "hint-rate 10\n",
                         secret) > 0);
    path = write_file(text);
    RUN_OK(&r, "--config", path);
    assert_string_equal(r.cfg.name, "node-a");
    assert_string_equal(r.cfg.peer_listen, "[::1]:7000");
    assert_int_equal(r.cfg.npeers, 2);
    assert_string_equal(r.cfg.peers[1].addr.host, "localhost");
    assert_int_equal(r.cfg.write_quorum, 1);
    assert_int_equal(r.cfg.partitions, 256);
    assert_int_equal(r.cfg.peer_timeout_ms, 750);
    assert_int_equal(r.cfg.hint_max_bytes, 2048 * MIB);
    assert_int_equal(r.cfg.hint_max_age, 60);
    assert_int_equal(r.cfg.hint_rate, 10);
    assert_string_equal(r.cfg.cluster_secret, SECRET_OK);
    run_done(&r);

    /* an error names the file and line */
    bad = write_file("replicas 2\npartitions 12\n");
    RUN(&r, "--config", bad);
    assert_int_equal(r.rc, RC_EINVAL);
    snprintf(expect, sizeof(expect), "%s:2: --partitions: partitions must be a power of two", bad);
    assert_contains(r.err, expect);
    run_done(&r);
    free(text);
    remove_file(path);
    remove_file(bad);
    remove_file(secret);
}

/* ------------------------------------------------------------ -S -Y */

static void
test_auth_options(void **state)
{
    char *path = write_file("auth-file /etc/rc/users\nenable-sasl\n");
    struct run r;

    (void)state;
    RUN_OK(&r, "-Y", "/etc/users");
    assert_string_equal(r.cfg.auth_file, "/etc/users");
    assert_false(r.cfg.sasl);
    run_done(&r);
    RUN_OK(&r, "--auth-file=/a", "--auth-file", "/b"); /* the last one wins */
    assert_string_equal(r.cfg.auth_file, "/b");
    run_done(&r);
    RUN_OK(&r, "-S", "-Y", "/etc/users");
    assert_true(r.cfg.sasl);
    assert_string_equal(r.cfg.auth_file, "/etc/users");
    run_done(&r);
    RUN_OK(&r, "--enable-sasl", "--auth-file=/u", "-B", "auto");
    assert_true(r.cfg.sasl);
    run_done(&r);
    RUN_OK(&r, "-Y", "/u", "-B", "ascii"); /* text authentication alone */
    assert_false(r.cfg.sasl);
    run_done(&r);
    RUN_OK(&r, "--config", path);
    assert_string_equal(r.cfg.auth_file, "/etc/rc/users");
    assert_true(r.cfg.sasl);
    run_done(&r);
    unlink(path);
    free(path);
}

/* ------------------------------------------------------------ -l */

static void
test_listen(void **state)
{
    struct run r;

    (void)state;
    /* the first -l replaces the default */
    RUN_OK(&r, "-l", "0.0.0.0");
    assert_string_equal(r.cfg.listen, "0.0.0.0");
    run_done(&r);
    /* repeated -l accumulate, as in memcached */
    RUN_OK(&r, "-l", "127.0.0.1", "--listen=::1", "-l", "10.1.2.3:11311");
    assert_string_equal(r.cfg.listen, "127.0.0.1,::1,10.1.2.3:11311");
    run_done(&r);
    /* every form memcached splits */
    RUN_OK(&r, "-l", "[::1]:11212,[::1],::,*,*:11213,localhost,localhost:0,127.0.0.1;::1");
    assert_string_equal(r.cfg.listen,
                        "[::1]:11212,[::1],::,*,*:11213,localhost,localhost:0,127.0.0.1,::1");
    run_done(&r);
    /* ';' separates too, empty entries are skipped, the list is stored with ',' */
    RUN_OK(&r, "-l", ";127.0.0.1,,::1;", "-l", "localhost");
    assert_string_equal(r.cfg.listen, "127.0.0.1,::1,localhost");
    run_done(&r);
    RUN_OK(&r, "-l", "fe80::1", "-l", "[2001:db8::5]:65535", "-l", "fe80::1%lo");
    assert_string_equal(r.cfg.listen, "fe80::1,[2001:db8::5]:65535,fe80::1%lo");
    run_done(&r);
}

/* ------------------------------------------------------------ -o */

static void
test_extended(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-o", "idle_timeout=30");
    assert_int_equal(r.cfg.idle_timeout, 30);
    assert_int_equal(r.warnlen, 0);
    run_done(&r);

    RUN_OK(&r, "--extended=idle_timeout=0");
    assert_int_equal(r.cfg.idle_timeout, 0);
    run_done(&r);

    /* memcached's internal keys: accepted, one warning line each */
    RUN_OK(&r, "-o", "modern,slab_reassign,idle_timeout=5,hash_algorithm=murmur3", "-o",
           "ext_path=/mnt/x:1G,lru_crawler_sleep=10,ssl_min_version=3");
    assert_int_equal(r.cfg.idle_timeout, 5);
    assert_contains(r.warn, "-o: modern has no effect in ringcached");
    assert_contains(r.warn, "-o: slab_reassign has no effect in ringcached");
    assert_contains(r.warn, "-o: hash_algorithm has no effect in ringcached");
    assert_contains(r.warn, "-o: ext_path has no effect in ringcached");
    assert_contains(r.warn, "-o: lru_crawler_sleep has no effect in ringcached");
    assert_contains(r.warn, "-o: ssl_min_version has no effect in ringcached");
    {
        int lines = 0;

        for (const char *p = r.warn; *p != '\0'; p++) {
            lines += *p == '\n';
        }
        assert_int_equal(lines, 6);
    }
    run_done(&r);
}

static void
test_extended_every_memcached_key(void **state)
{
    static const char *const keys[] = {
        "maxconns_fast",
        "no_maxconns_fast",
        "hashpower=16",
        "no_hashexpand",
        "slab_reassign",
        "no_slab_reassign",
        "slab_automove=1",
        "no_slab_automove",
        "slab_automove_ratio=0.8",
        "slab_automove_window=30",
        "slab_automove_freeratio=0.01",
        "slab_sizes=100-200",
        "slab_chunk_max=512",
        "no_chunked_items",
        "tail_repair_time=60",
        "hash_algorithm=xxh3",
        "lru_crawler",
        "no_lru_crawler",
        "lru_crawler_sleep=100",
        "lru_crawler_tocrawl=0",
        "lru_maintainer",
        "no_lru_maintainer",
        "hot_lru_pct=20",
        "warm_lru_pct=40",
        "hot_max_factor=0.2",
        "warm_max_factor=2.0",
        "temporary_ttl=61",
        "watcher_logbuf_size=256",
        "worker_logbuf_size=64",
        "track_sizes",
        "inline_ascii_resp",
        "no_inline_ascii_resp",
        "modern",
        "no_modern",
        "drop_privileges",
        "no_drop_privileges",
        "relaxed_privileges",
        "resp_obj_mem_limit=1",
        "read_buf_mem_limit=0",
        "sock_cookie_id=1",
        "ext_path=/x:1G",
        "ext_page_size=64",
        "ext_wbuf_size=4",
        "ext_threads=1",
        "ext_io_depth=1",
        "ext_item_size=512",
        "ext_item_age=10",
        "ext_low_ttl=0",
        "ext_recache_rate=2000",
        "ext_compact_under=1",
        "ext_drop_under=1",
        "ext_max_sleep=1000000",
        "ext_max_frag=0.8",
        "ext_drop_unread",
        "ssl_chain_cert=/c",
        "ssl_key=/k",
        "ssl_verify_mode=0",
        "ssl_keyformat=1",
        "ssl_ciphers=HIGH",
        "ssl_ca_cert=/ca",
        "ssl_wbuf_size=16",
        "ssl_session_cache",
        "ssl_kernel_tls",
        "ssl_min_version=2",
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char name[64];

        RUN_OK(&r, "-o", keys[i]);
        snprintf(name, sizeof(name), "-o: %.*s has no effect in ringcached",
                 (int)strcspn(keys[i], "="), keys[i]);
        assert_contains(r.warn, name);
        run_done(&r);
    }
}

/* ------------------------------------------------------------ memcached's no-ops */

static void
test_ignored_flags_warn(void **state)
{
    static const struct {
        const char *args[3];
        const char *warning;
    } cases[] = {
        {{"-k"}, "-k: has no effect in ringcached"},
        {{"--lock-memory"}, "--lock-memory: has no effect in ringcached"},
        {{"-L"}, "-L: has no effect in ringcached"},
        {{"--enable-largepages"}, "--enable-largepages: has no effect"},
        {{"-f", "1.25"}, "-f: has no effect in ringcached (there is no slab allocator)"},
        {{"--slab-growth-factor=2"}, "--slab-growth-factor: has no effect"},
        {{"-n", "48"}, "-n: has no effect in ringcached"},
        {{"--slab-min-size=96"}, "--slab-min-size: has no effect"},
        {{"-e", "/dev/shm/mc"}, "-e: has no effect in ringcached (items always persist"},
        {{"--memory-file=/x"}, "--memory-file: has no effect"},
        {{"-N", "2"}, "-N: has no effect in ringcached"},
        {{"--napi-ids=2"}, "--napi-ids: has no effect"},
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        RUN_OK(&r, cases[i].args[0], cases[i].args[1]);
        assert_contains(r.warn, cases[i].warning);
        assert_non_null(strchr(r.warn, '\n'));
        assert_true(strchr(r.warn, '\n')[1] == '\0'); /* exactly one line */
        run_done(&r);
    }
}

static void
test_fulfilled_flags_silent(void **state)
{
    struct run r;

    (void)state;
    RUN_OK(&r, "-M", "-X", "-W", "--disable-evictions", "--disable-dumping", "--disable-watch");
    assert_int_equal(r.warnlen, 0);
    run_done(&r);
}

static void
test_warn_may_be_null(void **state)
{
    struct config cfg;
    char err[256];
    const char *argv[] = {"ringcached", "-k", "-t", "100", "-o", "modern", NULL};

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(options_parse(&cfg, 6, (char **)argv, err, sizeof(err), NULL), RC_OK);
    assert_int_equal(cfg.threads, 100);
    config_deinit(&cfg);
}

/* ------------------------------------------------------------ refusals */

static void
test_refusals(void **state)
{
    static const struct {
        const char *args[5];
        const char *message;
    } cases[] = {
        /* -p -U */
        {{"-p", "65536"}, "-p: invalid port number (must be 0-65535)"},
        {{"-p", "-1"}, "-p: invalid port number"},
        {{"-p", "abc"}, "-p: invalid port number"},
        {{"-p", "80x"}, "-p: invalid port number"},
        {{"-p", ""}, "-p: invalid port number"},
        {{"--port=1.5"}, "--port: invalid port number"},
        {{"-U", "11211"}, "-U: UDP is not implemented in ringcached"},
        {{"--udp-port=1"}, "--udp-port: UDP is not implemented"},
        {{"-U", "x"}, "-U: invalid port number"},
        {{"-U", "70000"}, "-U: invalid port number"},
        /* -l */
        {{"-l", ""}, "-l: empty address list"},
        {{"-l", ",;"}, "-l: empty address list"},
        {{"-l", "no-such-host.invalid"}, "-l: cannot resolve 'no-such-host.invalid'"},
        {{"-l", "bad host"}, "-l: invalid address 'bad host'"},
        {{"-l", "127.0.0.1:port"}, "-l: invalid port number in '127.0.0.1:port'"},
        {{"-l", "127.0.0.1:70000"}, "-l: invalid port number in '127.0.0.1:70000'"},
        {{"-l", "127.0.0.1:"}, "-l: invalid port number in '127.0.0.1:'"},
        {{"-l", ":11211"}, "-l: missing address in ':11211'"},
        {{"-l", "[::1"}, "-l: invalid IPv6 address '[::1'"},
        {{"-l", "[::1]x"}, "-l: invalid IPv6 address '[::1]x'"},
        {{"-l", "[1.2.3.4]:80"}, "-l: invalid IPv6 address '[1.2.3.4]:80'"},
        {{"-l", "[::1]:"}, "-l: invalid port number in '[::1]:'"},
        {{"-l", "1::2::3"}, "-l: invalid address '1::2::3'"},
        {{"-l", "127.0.0.1,bad!"}, "-l: invalid address 'bad!'"},
        {{"--listen=notls:127.0.0.1:11211"}, "--listen: invalid address 'notls:"},
        /* -s -a */
        {{"-s", ""}, "-s: an empty value is not allowed"},
        {{"-s",
          "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock"},
         "-s: socket path longer than 107 bytes"},
        {{"-a", "999"}, "-a: access mask must be an octal number from 0 to 777"},
        {{"-a", "1000"}, "-a: access mask must be an octal number"},
        {{"-a", "-7"}, "-a: access mask must be an octal number"},
        {{"-a", "0x1"}, "-a: access mask must be an octal number"},
        {{"-a", ""}, "-a: access mask must be an octal number"},
        /* -c -t -R -b */
        {{"-c", "0"}, "-c: connection limit must be a positive number"},
        {{"-c", "-5"}, "-c: connection limit must be a positive number"},
        {{"-c", "many"}, "-c: connection limit must be a positive number"},
        {{"--conn-limit=3000000000"}, "--conn-limit: connection limit must be a positive"},
        {{"-t", "0"}, "-t: number of threads must be greater than 0"},
        {{"-t", "-2"}, "-t: number of threads must be greater than 0"},
        {{"-t", "four"}, "-t: number of threads must be greater than 0"},
        {{"-R", "0"}, "-R: number of requests per event must be greater than 0"},
        {{"-R", "-1"}, "-R: number of requests per event must be greater than 0"},
        {{"-b", "-1"}, "-b: listen backlog must be a non-negative number"},
        {{"-b", "lots"}, "-b: listen backlog must be a non-negative number"},
        /* -m -I */
        {{"-m", "0"}, "-m: memory limit must be a positive number of megabytes"},
        {{"-m", "abc"}, "-m: memory limit must be a positive number"},
        {{"-m", "1.5"}, "-m: memory limit must be a positive number"},
        {{"-m", "64x"}, "-m: memory limit must be a positive number"},
        {{"-m", "-64"}, "-m: memory limit must be a positive number"},
        {{"-m", "99999999999999999"}, "-m: memory limit must be a positive number"},
        {{"-I", "abc"}, "-I: item size must be a number of bytes"},
        {{"-I", "1.5m"}, "-I: item size must be a number of bytes"},
        {{"-I", "1023"}, "-I: item max size cannot be less than 1024 bytes"},
        {{"-I", "0"}, "-I: item max size cannot be less than 1024 bytes"},
        {{"-I", "40m"},
         "-I: item max size (41943040 bytes) cannot be higher than 1/2 of the "
         "memory limit -m (67108864 bytes)"},
        {{"-m", "1"}, "-I: item max size (1048576 bytes) cannot be higher than 1/2 of"},
        {{"-I", "2g"}, "-I: item max size (2147483648 bytes) cannot be higher than 1/2"},
        {{"-I", "1025m", "-m", "4096"}, "-I: item max size cannot be higher than a gigabyte"},
        /* -B -D -v */
        {{"-B", "text"}, "-B: invalid protocol 'text'; should be one of auto, binary, or ascii"},
        {{"--name", "two words"}, "--name: a node name must be non-empty, without blanks"},
        {{"--name", ""}, "--name: an empty value is not allowed"},
        {{"--protocol=ASCII"}, "--protocol: invalid protocol 'ASCII'"},
        {{"-D", ""}, "-D: no delimiter specified"},
        {{"--verbose=-1"}, "--verbose: verbosity must be a non-negative number"},
        {{"--verbose=loud"}, "--verbose: verbosity must be a non-negative number"},
        /* strings */
        {{"-P", ""}, "-P: an empty value is not allowed"},
        {{"-u", ""}, "-u: an empty value is not allowed"},
        {{"--data-dir="}, "--data-dir: an empty value is not allowed"},
        {{"--port-file", ""}, "--port-file: an empty value is not allowed"},
        /* -o */
        {{"-o", "bogus"}, "-o: illegal suboption \"bogus\""},
        {{"-o", "modern,bogus=1"}, "-o: illegal suboption \"bogus\""},
        {{"-o", "proxy_config=/x.lua"}, "-o: illegal suboption \"proxy_config\""},
        {{"-o", ""}, "-o: empty extended option"},
        {{"-o", "modern,,track_sizes"}, "-o: empty extended option"},
        {{"-o", "=5"}, "-o: empty extended option"},
        {{"-o", "idle_timeout"}, "-o: missing numeric argument for idle_timeout"},
        {{"-o", "idle_timeout=abc"}, "-o: idle_timeout must be a non-negative number"},
        {{"-o", "idle_timeout=-1"}, "-o: idle_timeout must be a non-negative number"},
        {{"-o", "idle_timeout="}, "-o: idle_timeout must be a non-negative number"},
        /* -S -Y: SASL needs the password file and the binary protocol */
        {{"-S"}, "-S: needs -Y <file>: ringcached checks SASL PLAIN against the -Y"},
        {{"--enable-sasl"}, "-S: needs -Y <file>"},
        {{"-S", "-Y/x", "-B", "ascii"}, "-S: SASL is for the binary protocol"},
        {{"-Y", ""}, "-Y: an empty value is not allowed"},
        {{"--auth-file="}, "--auth-file: an empty value is not allowed"},
        {{"-Y"}, "-Y: option requires an argument"},
        {{"--enable-sasl=yes"}, "--enable-sasl: takes no value"},
        /* memcached flags refused on purpose */
        {{"-Z"}, "-Z: TLS is not implemented"},
        {{"--enable-ssl"}, "--enable-ssl: TLS is not implemented"},
        /* ringcached's own */
        {{"--sync", "sometimes"},
         "--sync: invalid sync mode 'sometimes'; should be always, "
         "batch or none"},
        {{"--sync="}, "--sync: invalid sync mode ''"},
        {{"--sync-interval-ms", "0"}, "--sync-interval-ms: sync interval must be a positive"},
        {{"--sync-interval-ms=-5"}, "--sync-interval-ms: sync interval must be a positive"},
        {{"--sync-interval-ms=1s"}, "--sync-interval-ms: sync interval must be a positive"},
        {{"--engine", "lmdb"}, "--engine: invalid engine 'lmdb'; should be bdb or memory"},
        {{"--config", "/nonexistent/rc.conf"}, "--config: cannot open '/nonexistent/rc.conf'"},
        {{"--config="}, "--config: an empty value is not allowed"},
        /* getopt's own refusals */
        {{"-x"}, "-x: unknown option"},
        {{"-dx"}, "-x: unknown option"},
        {{"--daemon", "-vx"}, "-x: unknown option"},
        {{"--bogus"}, "--bogus: unknown option"},
        {{"--bogus=1"}, "--bogus: unknown option"},
        {{"-p"}, "-p: option requires an argument"},
        {{"-v", "--port"}, "--port: option requires an argument"},
        {{"--sync"}, "--sync: option requires an argument"},
        {{"--daemon=yes"}, "--daemon: takes no value"},
        {{"stray"}, "unexpected argument 'stray'"},
        {{"-d", "stray", "-v"}, "unexpected argument 'stray'"},
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        RUN(&r, cases[i].args[0], cases[i].args[1], cases[i].args[2], cases[i].args[3]);
        if (r.rc != RC_EINVAL) {
            fail_msg("case %zu (%s): rc %d, expected refusal '%s'", i, cases[i].args[0], r.rc,
                     cases[i].message);
        }
        if (strncmp(r.err, cases[i].message, strlen(cases[i].message)) != 0) {
            fail_msg("case %zu: message '%s', expected it to start with '%s'", i, r.err,
                     cases[i].message);
        }
        assert_null(strchr(r.err, '\n')); /* one line */
        run_done(&r);
    }
}

static void
test_error_buffer_small_or_null(void **state)
{
    struct config cfg;
    char err[8];
    const char *argv[] = {"ringcached", "-c", "0", NULL};

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(options_parse(&cfg, 3, (char **)argv, err, sizeof(err), NULL), RC_EINVAL);
    assert_string_equal(err, "-c: con"); /* truncated, terminated */
    assert_int_equal(options_parse(&cfg, 3, (char **)argv, NULL, 0, NULL), RC_EINVAL);
    config_deinit(&cfg);
}

/* ------------------------------------------------------------ -h -V -i */

/* Run options_parse with stdout sent to a file; return what it printed. */
static char *
run_capturing_stdout(const char *opt, int *rc)
{
    struct config cfg;
    char err[256], *out;
    const char *argv[] = {"ringcached", opt, NULL};
    FILE *tmp = tmpfile();
    int saved;
    long len;

    assert_non_null(tmp);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
    config_init_defaults(&cfg);
    *rc = options_parse(&cfg, 2, (char **)argv, err, sizeof(err), NULL);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    config_deinit(&cfg);
    len = ftell(tmp);
    if (len < 0) {
        len = lseek(fileno(tmp), 0, SEEK_END);
    }
    out = calloc(1, (size_t)len + 1);
    assert_non_null(out);
    assert_int_equal(pread(fileno(tmp), out, (size_t)len, 0), len);
    fclose(tmp);
    return out;
}

static void
test_help_version_license(void **state)
{
    char *out, expect[64];
    int rc;

    (void)state;
    out = run_capturing_stdout("-h", &rc);
    assert_int_equal(rc, OPTIONS_EXIT);
    assert_contains(out, "usage: ringcached");
    assert_contains(out, "-p, --port=<num>");
    free(out);
    out = run_capturing_stdout("--help", &rc);
    assert_int_equal(rc, OPTIONS_EXIT);
    assert_contains(out, "--data-dir=<dir>");
    free(out);

    snprintf(expect, sizeof(expect), "ringcached %s\n", PACKAGE_VERSION);
    out = run_capturing_stdout("-V", &rc);
    assert_int_equal(rc, OPTIONS_EXIT);
    assert_string_equal(out, expect);
    free(out);
    out = run_capturing_stdout("--version", &rc);
    assert_int_equal(rc, OPTIONS_EXIT);
    assert_string_equal(out, expect);
    free(out);

    out = run_capturing_stdout("-i", &rc);
    assert_int_equal(rc, OPTIONS_EXIT);
    assert_contains(out, "BSD 3-Clause");
    free(out);
}

static void
test_usage_lists_every_option(void **state)
{
    static const char *const lines[] = {
        "-p, --port=",
        "-U, --udp-port=",
        "-s, --unix-socket=",
        "-a, --unix-mask=",
        "-A, --enable-shutdown",
        "-l, --listen=",
        "-d, --daemon",
        "-r, --enable-coredumps",
        "-u, --user=",
        "-m, --memory-limit=",
        "-M, --disable-evictions",
        "-c, --conn-limit=",
        "-k, --lock-memory",
        "-v, --verbose",
        "-h, --help",
        "-i, --license",
        "-V, --version",
        "-P, --pidfile=",
        "-f, --slab-growth-factor=",
        "-n, --slab-min-size=",
        "-L, --enable-largepages",
        "-D, --prefix-delimiter=",
        "-t, --threads=",
        "-R, --max-reqs-per-event=",
        "-C, --disable-cas",
        "-b, --listen-backlog=",
        "-B, --protocol=",
        "-I, --max-item-size=",
        "-S, --enable-sasl",
        "-F, --disable-flush-all",
        "-X, --disable-dumping",
        "-W, --disable-watch",
        "-Y, --auth-file=",
        "-e, --memory-file=",
        "-Z, --enable-ssl",
        "-o, --extended=",
        "-N, --napi-ids=",
        "    --data-dir=",
        "    --sync=",
        "    --sync-interval-ms=",
        "    --port-file=",
        "    --engine=",
        "    --config=",
        "    --peer-listen=<host:port>",
        "    --peers=<list>",
        "    --replicas=<num>",
        "    --read-quorum=<num>",
        "    --write-quorum=<num>",
        "    --partitions=<num>",
        "    --cluster-secret-file=<file>",
        "    --peer-timeout-ms=<ms>",
        "    --hint-max-bytes=<num>",
        "    --hint-max-age=<sec>",
        "    --hint-rate=<num>",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    (void)state;
    assert_non_null(out);
    options_usage(out);
    fclose(out);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        assert_contains(text, lines[i]);
    }
    free(text);
}

/* ------------------------------------------------------------ repeated parses */

static void
test_parse_twice_in_one_process(void **state)
{
    struct run r;

    (void)state;
    /* a parse that stops in the middle of a cluster must not leak into the next */
    RUN(&r, "-dvx", "-p", "1");
    assert_int_equal(r.rc, RC_EINVAL);
    run_done(&r);
    RUN_OK(&r, "-p", "2", "-v");
    assert_int_equal(r.cfg.port, 2);
    assert_int_equal(r.cfg.verbosity, 1);
    assert_false(r.cfg.daemonize);
    run_done(&r);
    RUN_OK(&r, "-p", "3");
    assert_int_equal(r.cfg.port, 3);
    run_done(&r);
}

static void
test_parse_does_not_reorder_argv(void **state)
{
    struct config cfg;
    char err[256];
    const char *argv[] = {"ringcached", "-p", "5", "--daemon", NULL};
    const char *copy[5];

    (void)state;
    memcpy(copy, argv, sizeof(argv));
    config_init_defaults(&cfg);
    assert_int_equal(options_parse(&cfg, 4, (char **)argv, err, sizeof(err), NULL), RC_OK);
    assert_memory_equal(copy, argv, sizeof(argv));
    config_deinit(&cfg);
}

/* ------------------------------------------------------------ --config */

static void
test_config_file(void **state)
{
    char *path = write_file("# ringcached test configuration\n"
                            "\n"
                            "port 11311\n"
                            "  conn-limit=77   # trailing comment\n"
                            "threads = 2\n"
                            "--sync batch\n"
                            "sync-interval-ms\t500\n"
                            "daemon\n"
                            "verbose\n"
                            "verbose\n"
                            "disable-cas\n"
                            "data-dir /var/lib/ring#cached\n"
                            "extended idle_timeout=9\n"
                            "memory-limit 256\n"
                            "max-item-size=2m\n"
                            "prefix-delimiter /\n"
                            "engine memory\n");
    char *arg = NULL;
    struct run r;

    (void)state;
    assert_true(asprintf(&arg, "--config=%s", path) > 0);
    RUN_OK(&r, arg);
    assert_int_equal(r.cfg.port, 11311);
    assert_int_equal(r.cfg.max_conns, 77);
    assert_int_equal(r.cfg.threads, 2);
    assert_int_equal(r.cfg.sync, STORE_SYNC_BATCH);
    assert_int_equal(r.cfg.sync_interval_ms, 500);
    assert_true(r.cfg.daemonize);
    assert_int_equal(r.cfg.verbosity, 2);
    assert_false(r.cfg.use_cas);
    assert_string_equal(r.cfg.data_dir, "/var/lib/ring#cached");
    assert_int_equal(r.cfg.idle_timeout, 9);
    assert_int_equal(r.cfg.mem_limit, 256 * MIB);
    assert_int_equal(r.cfg.max_item_size, 2 * MIB);
    assert_int_equal(r.cfg.prefix_delimiter, '/');
    assert_int_equal(r.cfg.engine, STORE_KIND_MEM);
    assert_string_equal(r.cfg.config_file, path);
    run_done(&r);
    free(arg);
    unlink(path);
    free(path);
}

static void
test_config_file_precedence(void **state)
{
    char *path = write_file("port 2000\nthreads 8\nlisten 10.0.0.1\nlisten 10.0.0.2\n");
    struct run r;

    (void)state;
    /* before --config: overridden by the file; after: overrides it */
    RUN_OK(&r, "-p", "1000", "-t", "3", "-l", "127.0.0.2", "--config", path, "-t", "16");
    assert_int_equal(r.cfg.port, 2000);
    assert_int_equal(r.cfg.threads, 16);
    /* the file's -l lines accumulate with each other, replacing argv's earlier ones */
    assert_string_equal(r.cfg.listen, "10.0.0.1,10.0.0.2");
    run_done(&r);

    /* a -l after the file replaces the file's list, then accumulates again */
    RUN_OK(&r, "--config", path, "-l", "::1", "-l", "127.0.0.1");
    assert_string_equal(r.cfg.listen, "::1,127.0.0.1");
    run_done(&r);

    /* the same file twice: the second reading replaces the first's list */
    RUN_OK(&r, "--config", path, "--config", path);
    assert_string_equal(r.cfg.listen, "10.0.0.1,10.0.0.2");
    run_done(&r);
    unlink(path);
    free(path);
}

static void
test_config_file_warnings_name_the_line(void **state)
{
    char *path = write_file("lock-memory\n\nextended modern\n");
    char expect[512];
    struct run r;

    (void)state;
    RUN_OK(&r, "--config", path);
    snprintf(expect, sizeof(expect), "%s:1: --lock-memory: has no effect", path);
    assert_contains(r.warn, expect);
    snprintf(expect, sizeof(expect), "%s:3: --extended: modern has no effect", path);
    assert_contains(r.warn, expect);
    run_done(&r);
    unlink(path);
    free(path);
}

static void
test_config_file_refusals(void **state)
{
    static const struct {
        const char *text;
        const char *message; /* after "<path>:" */
    } cases[] = {
        {"port 1\nbogus 2\n", "2: unknown option 'bogus'"},
        {"\n\n# c\nconn-limit 0\n", "4: --conn-limit: connection limit must be a positive"},
        {"daemon yes\n", "1: --daemon: takes no value"},
        {"port\n", "1: --port: requires a value"},
        {"port =\n", "1: --port: requires a value"},
        {"config /etc/other.conf\n", "1: --config: nested --config is not allowed"},
        {"udp-port 11211\n", "1: --udp-port: UDP is not implemented"},
        {"p 11211\n", "1: unknown option 'p'"},
        {"=5\n", "1: unknown option ''"},
        {"extended bogus\n", "1: --extended: illegal suboption \"bogus\""},
        {"listen 127.0.0.1:x\n", "1: --listen: invalid port number in '127.0.0.1:x'"},
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_file(cases[i].text), expect[512];

        RUN(&r, "-v", "--config", path, "-v");
        assert_int_equal(r.rc, RC_EINVAL);
        snprintf(expect, sizeof(expect), "%s:%s", path, cases[i].message);
        if (strncmp(r.err, expect, strlen(expect)) != 0) {
            fail_msg("case %zu: '%s', expected '%s'", i, r.err, expect);
        }
        run_done(&r);
        unlink(path);
        free(path);
    }
}

static void
test_config_file_is_directory(void **state)
{
    struct run r;

    (void)state;
    RUN(&r, "--config", "/tmp");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_contains(r.err, "/tmp:0: read error");
    run_done(&r);
}

static void
test_config_errors_after_file_name_argv(void **state)
{
    char *path = write_file("port 5\n");
    struct run r;

    (void)state;
    /* an error after the file is read is not blamed on the file */
    RUN(&r, "--config", path, "-c", "0");
    assert_int_equal(r.rc, RC_EINVAL);
    assert_string_equal(r.err, "-c: connection limit must be a positive number");
    run_done(&r);
    unlink(path);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_no_arguments_keeps_defaults),
        cmocka_unit_test(test_network_options),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_verbosity),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_item_size),
        cmocka_unit_test(test_protocol),
        cmocka_unit_test(test_delimiter),
        cmocka_unit_test(test_ringcached_options),
        cmocka_unit_test(test_cluster_options),
        cmocka_unit_test(test_cluster_replicas_capped),
        cmocka_unit_test(test_cluster_sizes_and_partitions),
        cmocka_unit_test(test_cluster_options_alone_warn),
        cmocka_unit_test(test_cluster_secret_file),
        cmocka_unit_test(test_cluster_refusals),
        cmocka_unit_test(test_cluster_config_file),
        cmocka_unit_test(test_auth_options),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_extended),
        cmocka_unit_test(test_extended_every_memcached_key),
        cmocka_unit_test(test_ignored_flags_warn),
        cmocka_unit_test(test_fulfilled_flags_silent),
        cmocka_unit_test(test_warn_may_be_null),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_error_buffer_small_or_null),
        cmocka_unit_test(test_help_version_license),
        cmocka_unit_test(test_usage_lists_every_option),
        cmocka_unit_test(test_parse_twice_in_one_process),
        cmocka_unit_test(test_parse_does_not_reorder_argv),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_config_file_precedence),
        cmocka_unit_test(test_config_file_warnings_name_the_line),
        cmocka_unit_test(test_config_file_refusals),
        cmocka_unit_test(test_config_file_is_directory),
        cmocka_unit_test(test_config_errors_after_file_name_argv),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
