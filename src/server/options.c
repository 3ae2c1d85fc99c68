/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * options.c - the command line and --config files, parsed into struct config.
 *
 * memcached 1.6's flags keep memcached's meaning, defaults and refusals (so an
 * existing service file keeps working); ringcached's own settings are long
 * options only. One table drives everything:
 *
 *   argv --getopt_long--.    opt_table           def->fn(ctx, def, value)
 *                       +--> (name, key) ---> -------------------------> struct config
 *   --config FILE -lines'    lookup            same handlers for both
 *   end of argv --> opt_validate: rules across options (-I against -m)
 *
 * The cluster options' handlers and checks live in options_cluster.c; what
 * the two files share is in options_internal.h.
 *
 * The table gives the getopt strings, the --config keys, the usage text and
 * the name an error message carries. Handlers write only the caller's config
 * and the parse context; the only global state touched is getopt's, reset on
 * every call so options_parse can run many times in one process.
 *
 * Ownership: every string in struct config is heap memory owned by the config,
 * replaced (old value freed) when an option repeats, and freed by
 * config_deinit(). Nothing here keeps a pointer into argv.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "base/alloc.h"
#include "base/status.h"
#include "base/util.h"
#include "server/daemon_config.h"
#include "server/options.h"
#include "server/options_internal.h"

#define OPT_DEFAULT_LISTEN   "127.0.0.1"
#define OPT_DEFAULT_DATA_DIR "./ringcached-data"
#define OPT_MIB              (1024ULL * 1024ULL)
#define OPT_ITEM_MIN         1024ULL             /* memcached's lower limit for -I */
#define OPT_ITEM_MAX         (1024ULL * OPT_MIB) /* and its upper one: 1024m */
#define OPT_THREADS_ADVISED  64
#define OPT_USAGE_COLUMN     34 /* where option descriptions start in -h */
#define OPT_USAGE_WIDTH      79
/* cluster (doc/replication.txt section 12) */
#define OPT_DEFAULT_REPLICAS     3
#define OPT_DEFAULT_QUORUM       2
#define OPT_MAX_REPLICAS         16 /* the ring's RING_MAX_N */
#define OPT_DEFAULT_PARTITIONS   1024u
#define OPT_DEFAULT_PEER_TIMEOUT 500
#define OPT_DEFAULT_HINT_BYTES   (1024ULL * OPT_MIB)
#define OPT_DEFAULT_HINT_AGE     (3 * 24 * 3600)
#define OPT_DEFAULT_HINT_RATE    1000

/* ------------------------------------------------------------ messages */

/* "-c" or "--conn-limit": the spelling the user gave, short when unknown. */
static void
opt_label(const struct opt_ctx *ctx, const struct opt_def *def, char *buf, size_t len)
{
    if (def->key < 256 && !ctx->long_label) {
        snprintf(buf, len, "-%c", def->key);
    } else {
        snprintf(buf, len, "--%s", def->name);
    }
}

/* Write "[file:line: ]<label>: <message>" to the caller's buffer. */
int __attribute__((format(printf, 3, 4)))
opt_fail(struct opt_ctx *ctx, const struct opt_def *def, const char *fmt, ...)
{
    char label[64] = "", where[512] = "", msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ctx->file != NULL) {
        snprintf(where, sizeof(where), "%s:%u: ", ctx->file, ctx->line);
    }
    if (def != NULL) {
        opt_label(ctx, def, label, sizeof(label) - 2);
        strcat(label, ": ");
    }
    if (ctx->err != NULL && ctx->errlen > 0) {
        snprintf(ctx->err, ctx->errlen, "%s%s%s", where, label, msg);
    }
    return RC_EINVAL;
}

void __attribute__((format(printf, 3, 4)))
opt_warn(struct opt_ctx *ctx, const struct opt_def *def, const char *fmt, ...)
{
    char label[64] = "", msg[512];
    va_list ap;

    if (ctx->warn == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (def != NULL) {
        opt_label(ctx, def, label, sizeof(label));
    }
    if (ctx->file != NULL) {
        fprintf(ctx->warn, "ringcached: warning: %s:%u: %s: %s\n", ctx->file, ctx->line, label,
                msg);
    } else {
        fprintf(ctx->warn, "ringcached: warning: %s: %s\n", label, msg);
    }
}

/* Replace a config-owned string. */
int
opt_store_str(struct opt_ctx *ctx, const struct opt_def *def, char **slot, const char *val)
{
    char *copy = rc_strdup(val);

    if (copy == NULL) {
        return opt_fail(ctx, def, "out of memory");
    }
    rc_free(*slot);
    *slot = copy;
    return RC_OK;
}

/* ------------------------------------------------------------ generic handlers */

static int
opt_set_int(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    int32_t v;

    if (util_parse_i32(arg, strlen(arg), &v) != RC_OK || v < def->lo || v > def->hi) {
        return opt_fail(ctx, def, "%s", def->what);
    }
    *(int *)((char *)ctx->cfg + def->off) = v;
    return RC_OK;
}

static int
opt_set_flag(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)arg;
    *(bool *)((char *)ctx->cfg + def->off) = def->lo != 0;
    return RC_OK;
}

static int
opt_set_str(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    if (arg[0] == '\0') {
        return opt_fail(ctx, def, "an empty value is not allowed");
    }
    return opt_store_str(ctx, def, (char **)((char *)ctx->cfg + def->off), arg);
}

/* memcached flags that mean nothing here and mislead no one: warn and go on. */
static int
opt_ignore(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)arg;
    opt_warn(ctx, def, "has no effect in ringcached (%s)", def->what);
    return RC_OK;
}

/* memcached flags whose purpose ringcached already fulfils. */
static int
opt_accept(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)ctx;
    (void)def;
    (void)arg;
    return RC_OK;
}

/* memcached flags that would mislead if ignored (security, transports). */
static int
opt_refuse(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)arg;
    return opt_fail(ctx, def, "%s", def->what);
}

/* ------------------------------------------------------------ network */

static int
opt_udp_port(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    int32_t v;

    if (util_parse_i32(arg, strlen(arg), &v) != RC_OK || v < 0 || v > OPT_MAX_PORT) {
        return opt_fail(ctx, def, "invalid port number (must be 0-65535)");
    }
    if (v != 0) {
        return opt_fail(ctx, def,
                        "UDP is not implemented in ringcached; use -U 0 (the "
                        "default) or drop the option");
    }
    ctx->cfg->udp_port = 0;
    return RC_OK;
}

/* A host part of -l: "*", an IPv4/IPv6 literal, or a name that resolves. */
int
opt_check_host(struct opt_ctx *ctx, const struct opt_def *def, const char *host, const char *entry)
{
    unsigned char addr[sizeof(struct in6_addr)];
    struct addrinfo hints, *res = NULL;
    int rc;

    if (host[0] == '\0') {
        return opt_fail(ctx, def, "missing address in '%s'", entry);
    }
    if (strcmp(host, "*") == 0 || inet_pton(AF_INET, host, addr) == 1 ||
        inet_pton(AF_INET6, host, addr) == 1) {
        return RC_OK;
    }
    for (const char *p = host; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("-._:%", *p) == NULL) {
            return opt_fail(ctx, def, "invalid address '%s'", entry);
        }
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    if (strchr(host, ':') != NULL) {
        hints.ai_flags |= AI_NUMERICHOST; /* no name has a colon: a scoped IPv6 or junk */
    }
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 && (hints.ai_flags & AI_NUMERICHOST) != 0) {
        return opt_fail(ctx, def, "invalid address '%s'", entry);
    }
    if (rc != 0) {
        return opt_fail(ctx, def, "cannot resolve '%s': %s", host, gai_strerror(rc));
    }
    freeaddrinfo(res);
    return RC_OK;
}

/* One -l entry, split as memcached splits it: "[v6]" or "[v6]:port"; with one
 * colon "host:port"; with more, a bare IPv6 literal without a port. */
static int
opt_check_listen_entry(struct opt_ctx *ctx, const struct opt_def *def, const char *entry)
{
    char buf[320], *host = buf, *port = NULL, *colon;
    int32_t v;

    if (strlen(entry) >= sizeof(buf)) {
        return opt_fail(ctx, def, "address too long '%.40s...'", entry);
    }
    strcpy(buf, entry);
    if (buf[0] == '[') {
        char *end = strchr(buf, ']');

        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return opt_fail(ctx, def, "invalid IPv6 address '%s'", entry);
        }
        *end = '\0';
        host = buf + 1;
        port = end[1] == ':' ? end + 2 : NULL;
        if (inet_pton(AF_INET6, host, &(struct in6_addr){0}) != 1) {
            return opt_fail(ctx, def, "invalid IPv6 address '%s'", entry);
        }
    } else if ((colon = strchr(buf, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
        *colon = '\0';
        port = colon + 1;
    }
    if (port != NULL &&
        (util_parse_i32(port, strlen(port), &v) != RC_OK || v < 0 || v > OPT_MAX_PORT)) {
        return opt_fail(ctx, def, "invalid port number in '%s'", entry);
    }
    return opt_check_host(ctx, def, host, entry);
}

/* -l: validate every entry and store them comma separated (memcached also
 * splits on ';'). Entries given in one source (the command line, or one
 * --config file) accumulate as in memcached; a later source replaces them. */
static int
opt_listen(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    struct config *cfg = ctx->cfg;
    bool append = ctx->listen_source == ctx->source && cfg->listen != NULL;
    size_t kept = append ? strlen(cfg->listen) : 0;
    char *list = rc_strdup(arg), *out = rc_malloc(kept + strlen(arg) + 2);
    char *tok, *save = NULL;
    int rc = RC_OK;

    if (list == NULL || out == NULL) {
        rc = opt_fail(ctx, def, "out of memory");
        goto done;
    }
    strcpy(out, append ? cfg->listen : "");
    for (tok = strtok_r(list, ",;", &save); tok != NULL && rc == RC_OK;
         tok = strtok_r(NULL, ",;", &save)) {
        rc = opt_check_listen_entry(ctx, def, tok);
        strcat(strcat(out, out[0] != '\0' ? "," : ""), tok);
    }
    if (rc == RC_OK && strlen(out) == kept) {
        rc = opt_fail(ctx, def, "empty address list");
    }
    if (rc == RC_OK) {
        rc_free(cfg->listen);
        cfg->listen = out;
        out = NULL;
        ctx->listen_source = ctx->source;
    }
done:
    rc_free(list);
    rc_free(out);
    return rc;
}

static int
opt_unix_socket(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    size_t max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;

    if (strlen(arg) > max) {
        return opt_fail(ctx, def, "socket path longer than %zu bytes", max);
    }
    return opt_set_str(ctx, def, arg);
}

static int
opt_unix_mask(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 8);
    if (arg[0] < '0' || arg[0] > '7' || *end != '\0' || errno != 0 || v > 0777) {
        return opt_fail(ctx, def, "access mask must be an octal number from 0 to 777");
    }
    ctx->cfg->unix_mask = (int)v;
    return RC_OK;
}

/* ------------------------------------------------------------ sizes and counts */

static int
opt_threads(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    int32_t v;

    if (util_parse_i32(arg, strlen(arg), &v) != RC_OK || v <= 0) {
        return opt_fail(ctx, def, "number of threads must be greater than 0");
    }
    if (v > OPT_THREADS_ADVISED) {
        opt_warn(ctx, def,
                 "more than %d worker threads is not recommended; use the "
                 "number of cores or fewer",
                 OPT_THREADS_ADVISED);
    }
    ctx->cfg->threads = v;
    return RC_OK;
}

/* -m: a bare number is megabytes, as in memcached; unlike memcached (whose
 * atoi silently drops a suffix) a k/m/g suffix means what it says. */
static int
opt_mem_limit(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    size_t n = strlen(arg);
    uint64_t v = 0;
    int rc;

    if (n > 0 && isdigit((unsigned char)arg[n - 1])) {
        rc = util_parse_u64(arg, n, &v);
        if (rc == RC_OK && v > UINT64_MAX / OPT_MIB) {
            rc = RC_EINVAL;
        }
        v *= OPT_MIB;
    } else {
        rc = util_parse_size(arg, &v);
    }
    if (rc != RC_OK || v == 0) {
        return opt_fail(ctx, def,
                        "memory limit must be a positive number of megabytes "
                        "(or a size with a k, m or g suffix)");
    }
    ctx->cfg->mem_limit = v;
    return RC_OK;
}

/* -I: bytes, or k/m (and g) suffixed; the limits are checked in opt_validate,
 * once -m is known, as memcached does. */
static int
opt_item_size(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    uint64_t v;

    if (util_parse_size(arg, &v) != RC_OK) {
        return opt_fail(ctx, def,
                        "item size must be a number of bytes with an optional "
                        "k or m suffix");
    }
    ctx->cfg->max_item_size = v;
    return RC_OK;
}

static int
opt_verbose(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    int32_t v;

    if (arg == NULL) {
        if (ctx->cfg->verbosity < INT_MAX) {
            ctx->cfg->verbosity++;
        }
        return RC_OK;
    }
    if (util_parse_i32(arg, strlen(arg), &v) != RC_OK || v < 0) {
        return opt_fail(ctx, def, "verbosity must be a non-negative number");
    }
    ctx->cfg->verbosity = v;
    return RC_OK;
}

/* ------------------------------------------------------------ named values */

static int
opt_protocol(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    if (strcmp(arg, "auto") == 0) {
        ctx->cfg->proto = CONFIG_PROTO_AUTO;
    } else if (strcmp(arg, "ascii") == 0) {
        ctx->cfg->proto = CONFIG_PROTO_ASCII;
    } else if (strcmp(arg, "binary") == 0) {
        ctx->cfg->proto = CONFIG_PROTO_BINARY;
    } else {
        return opt_fail(ctx, def,
                        "invalid protocol '%s'; should be one of auto, binary, "
                        "or ascii",
                        arg);
    }
    return RC_OK;
}

static int
opt_delimiter(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    if (arg[0] == '\0') {
        return opt_fail(ctx, def, "no delimiter specified");
    }
    if (arg[1] != '\0') {
        opt_warn(ctx, def, "only the first character of '%s' is used, as in memcached", arg);
    }
    ctx->cfg->prefix_delimiter = arg[0];
    ctx->cfg->detail_enabled = true; /* as memcached: -D turns collection on */
    return RC_OK;
}

/* The mode names belong to the store (store_sync_parse). */
static int
opt_sync(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    if (store_sync_parse(arg, &ctx->cfg->sync) != RC_OK) {
        return opt_fail(ctx, def, "invalid sync mode '%s'; should be always, batch or none", arg);
    }
    return RC_OK;
}

static int
opt_sync_interval(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    uint32_t v;

    if (util_parse_u32(arg, strlen(arg), &v) != RC_OK || v == 0 || v > INT_MAX) {
        return opt_fail(ctx, def, "sync interval must be a positive number of milliseconds");
    }
    ctx->cfg->sync_interval_ms = v;
    return RC_OK;
}

static int
opt_engine(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    if (strcmp(arg, "bdb") == 0) {
        ctx->cfg->engine = STORE_KIND_BDB;
    } else if (strcmp(arg, "memory") == 0) {
        ctx->cfg->engine = STORE_KIND_MEM;
    } else {
        return opt_fail(ctx, def, "invalid engine '%s'; should be bdb or memory", arg);
    }
    return RC_OK;
}

/* ------------------------------------------------------------ -o */

/* memcached 1.6's -o keys that tune its own internals (slab allocator, LRU,
 * hash table, logger, extstore, TLS listeners): accepted with a warning. */
static const char *const opt_memcached_ext_keys[] = {
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "no_hashexpand",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "no_slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_automove_freeratio",
    "slab_sizes",
    "slab_chunk_max",
    "no_chunked_items",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "track_sizes",
    "inline_ascii_resp",
    "no_inline_ascii_resp",
    "modern",
    "no_modern",
    "drop_privileges",
    "no_drop_privileges",
    "relaxed_privileges",
    "resp_obj_mem_limit",
    "read_buf_mem_limit",
    "sock_cookie_id",
    "ext_path",
    "ext_page_size",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "ext_drop_unread",
    "ssl_chain_cert",
    "ssl_key",
    "ssl_verify_mode",
    "ssl_keyformat",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version",
};

static bool
opt_is_memcached_ext_key(const char *key)
{
    size_t n = sizeof(opt_memcached_ext_keys) / sizeof(opt_memcached_ext_keys[0]);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(key, opt_memcached_ext_keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int
opt_extended_one(struct opt_ctx *ctx, const struct opt_def *def, char *tok)
{
    char *val = strchr(tok, '=');
    int32_t v;

    if (val != NULL) {
        *val++ = '\0';
    }
    if (tok[0] == '\0') {
        return opt_fail(ctx, def, "empty extended option");
    }
    if (strcmp(tok, "idle_timeout") == 0) {
        if (val == NULL) {
            return opt_fail(ctx, def, "missing numeric argument for idle_timeout");
        }
        if (util_parse_i32(val, strlen(val), &v) != RC_OK || v < 0) {
            return opt_fail(ctx, def, "idle_timeout must be a non-negative number of seconds");
        }
        ctx->cfg->idle_timeout = v;
        return RC_OK;
    }
    if (opt_is_memcached_ext_key(tok)) {
        opt_warn(ctx, def, "%s has no effect in ringcached (a memcached internal setting)", tok);
        return RC_OK;
    }
    return opt_fail(ctx, def, "illegal suboption \"%s\"", tok);
}

/* -o a,b=c,...: each entry key or key=value, as memcached's getsubopt reads. */
static int
opt_extended(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    char *list = rc_strdup(arg), *p, *comma;
    int rc = RC_OK;

    if (list == NULL) {
        return opt_fail(ctx, def, "out of memory");
    }
    for (p = list; rc == RC_OK; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        rc = opt_extended_one(ctx, def, p);
        if (comma == NULL) {
            break;
        }
    }
    rc_free(list);
    return rc;
}

/* ------------------------------------------------------------ -h -V -i */

static int
opt_help(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)ctx;
    (void)def;
    (void)arg;
    options_usage(stdout);
    return OPTIONS_EXIT;
}

static int
opt_version(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)ctx;
    (void)def;
    (void)arg;
    printf("ringcached %s\n", PACKAGE_VERSION);
    return OPTIONS_EXIT;
}

static int
opt_license(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    (void)ctx;
    (void)def;
    (void)arg;
    printf("ringcached %s is distributed under the BSD 3-Clause License;\n"
           "see the COPYING file that comes with it for the full text.\n",
           PACKAGE_VERSION);
    return OPTIONS_EXIT;
}

/* ------------------------------------------------------------ the table */

static int opt_config(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);

#define OFF(field) offsetof(struct config, field)
#define REQ        required_argument
#define NONE       no_argument

static const struct opt_def opt_table[] = {
    /* memcached's flags, in the order memcached -h lists them */
    {"port", 'p', REQ, opt_set_int, OFF(port), 0, OPT_MAX_PORT,
     "invalid port number (must be 0-65535)", "<num>",
     "TCP port to listen on (default: 11211; 0: any free port, see --port-file)"},
    {"udp-port", 'U', REQ, opt_udp_port, 0, 0, 0, NULL, "<num>",
     "UDP port (default: 0, off; UDP is not implemented: any other value is refused)"},
    {"unix-socket", 's', REQ, opt_unix_socket, OFF(unix_socket), 0, 0, NULL, "<file>",
     "UNIX socket to listen on (disables TCP)"},
    {"unix-mask", 'a', REQ, opt_unix_mask, 0, 0, 0, NULL, "<mask>",
     "access mask for the UNIX socket, in octal (default: 700)"},
    {"enable-shutdown", 'A', NONE, opt_set_flag, OFF(shutdown_enabled), true, 0, NULL, NULL,
     "enable the ascii \"shutdown\" command"},
    {"listen", 'l', REQ, opt_listen, 0, 0, 0, NULL, "<addr>",
     "address(es) to listen on, comma separated, each ip, host, ip:port or [ipv6]:port "
     "(default: 127.0.0.1, unlike memcached)"},
    {"daemon", 'd', NONE, opt_set_flag, OFF(daemonize), true, 0, NULL, NULL, "run as a daemon"},
    {"enable-coredumps", 'r', NONE, opt_set_flag, OFF(maxcore), true, 0, NULL, NULL,
     "maximize the core file limit"},
    {"user", 'u', REQ, opt_set_str, OFF(user), 0, 0, NULL, "<user>",
     "assume the identity of <user> (only when run as root)"},
    {"memory-limit", 'm', REQ, opt_mem_limit, 0, 0, 0, NULL, "<num>",
     "Berkeley DB cache size in megabytes, or with a k/m/g suffix (default: 64); "
     "items are never evicted"},
    {"disable-evictions", 'M', NONE, opt_accept, 0, 0, 0, NULL, NULL,
     "accepted: ringcached never evicts, a full disk is an error"},
    {"conn-limit", 'c', REQ, opt_set_int, OFF(max_conns), 1, INT_MAX,
     "connection limit must be a positive number", "<num>",
     "max simultaneous connections (default: 1024)"},
    {"lock-memory", 'k', NONE, opt_ignore, 0, 0, 0, "paged memory is not locked", NULL,
     "accepted, no effect (warns)"},
    {"verbose", 'v', optional_argument, opt_verbose, 0, 0, 0, NULL, NULL,
     "verbose; -vv very verbose, -vvv extremely verbose (--verbose=N sets N)"},
    {"help", 'h', NONE, opt_help, 0, 0, 0, NULL, NULL, "print this help and exit"},
    {"license", 'i', NONE, opt_license, 0, 0, 0, NULL, NULL, "print the license and exit"},
    {"version", 'V', NONE, opt_version, 0, 0, 0, NULL, NULL, "print the version and exit"},
    {"pidfile", 'P', REQ, opt_set_str, OFF(pid_file), 0, 0, NULL, "<file>",
     "save the process id in <file>"},
    {"slab-growth-factor", 'f', REQ, opt_ignore, 0, 0, 0, "there is no slab allocator", "<num>",
     "accepted, no effect (warns)"},
    {"slab-min-size", 'n', REQ, opt_ignore, 0, 0, 0, "there is no slab allocator", "<bytes>",
     "accepted, no effect (warns)"},
    {"enable-largepages", 'L', NONE, opt_ignore, 0, 0, 0, "no large pages are preallocated", NULL,
     "accepted, no effect (warns)"},
    {"prefix-delimiter", 'D', REQ, opt_delimiter, 0, 0, 0, NULL, "<char>",
     "delimiter between key prefixes and ids for per-prefix stats (default: ':')"},
    {"threads", 't', REQ, opt_threads, 0, 0, 0, NULL, "<num>",
     "number of worker threads (default: 4)"},
    {"max-reqs-per-event", 'R', REQ, opt_set_int, OFF(reqs_per_event), 1, INT_MAX,
     "number of requests per event must be greater than 0", "<num>",
     "max requests handled per connection per event (default: 20)"},
    {"disable-cas", 'C', NONE, opt_set_flag, OFF(use_cas), false, 0, NULL, NULL,
     "disable use of CAS"},
    {"listen-backlog", 'b', REQ, opt_set_int, OFF(backlog), 0, INT_MAX,
     "listen backlog must be a non-negative number", "<num>",
     "backlog queue limit (default: 1024)"},
    {"protocol", 'B', REQ, opt_protocol, 0, 0, 0, NULL, "<name>",
     "auto, ascii or binary (default: auto)"},
    {"max-item-size", 'I', REQ, opt_item_size, 0, 0, 0, NULL, "<num>",
     "max item size, bytes or with a k/m suffix (default: 1m, min: 1k, max: 1024m, "
     "at most half of -m)"},
    {"enable-sasl", 'S', NONE, opt_set_flag, OFF(sasl), true, 0, NULL, NULL,
     "binary protocol SASL PLAIN authentication, checked against the -Y file (required)"},
    {"disable-flush-all", 'F', NONE, opt_set_flag, OFF(flush_enabled), false, 0, NULL, NULL,
     "disable the flush_all command"},
    {"disable-dumping", 'X', NONE, opt_accept, 0, 0, 0, NULL, NULL,
     "accepted: there are no dump commands"},
    {"disable-watch", 'W', NONE, opt_accept, 0, 0, 0, NULL, NULL,
     "accepted: there are no watch commands"},
    {"auth-file", 'Y', REQ, opt_set_str, OFF(auth_file), 0, 0, NULL, "<file>",
     "ascii protocol authentication: lines of user:password in <file>, reread on SIGHUP"},
    {"memory-file", 'e', REQ, opt_ignore, 0, 0, 0,
     "items always persist in Berkeley DB (see --data-dir)", "<file>",
     "accepted, no effect (warns): ringcached always persists"},
    {"enable-ssl", 'Z', NONE, opt_refuse, 0, 0, 0,
     "TLS is not implemented; refusing to run unencrypted", NULL,
     "refused: TLS is not implemented"},
    {"extended", 'o', REQ, opt_extended, 0, 0, 0, NULL, "<list>",
     "comma separated extended options: idle_timeout=N is honoured, memcached's "
     "internal ones are accepted with a warning"},
    {"napi-ids", 'N', REQ, opt_ignore, 0, 0, 0, "NAPI ids are not used", "<num>",
     "accepted, no effect (warns)"},
    /* ringcached's own */
    {"data-dir", OPT_DATA_DIR, REQ, opt_set_str, OFF(data_dir), 0, 0, NULL, "<dir>",
     "Berkeley DB environment directory (default: ./ringcached-data)"},
    {"sync", OPT_SYNC, REQ, opt_sync, 0, 0, 0, NULL, "<mode>",
     "always, batch or none (default: always)"},
    {"sync-interval-ms", OPT_SYNC_INTERVAL, REQ, opt_sync_interval, 0, 0, 0, NULL, "<ms>",
     "with --sync batch, fsync at least this often (default: 1000)"},
    {"port-file", OPT_PORT_FILE, REQ, opt_set_str, OFF(port_file), 0, 0, NULL, "<file>",
     "write the bound TCP port to <file>"},
    {"name", OPT_NAME, REQ, opt_set_str, OFF(name), 0, 0, NULL, "<name>",
     "this node's human name (default: the host name); its id is kept in the "
     "data directory"},
    {"max-siblings", OPT_MAX_SIBLINGS, REQ, opt_set_int, OFF(max_siblings), 1, 4096,
     "max siblings must be a number from 1 to 4096", "<num>",
     "refuse client writes that would leave a key with more siblings (default: 32)"},
    {"tombstone-grace", OPT_TOMBSTONE_GRACE, REQ, opt_set_int, OFF(tombstone_grace), 0, INT_MAX,
     "tombstone grace must be a non-negative number of seconds", "<sec>",
     "keep a deleted key's tombstone (and context) this long (default: 60)"},
    {"prune-keep", OPT_PRUNE_KEEP, REQ, opt_set_int, OFF(prune_keep), 1, 16,
     "prune keep must be a number from 1 to 16", "<num>",
     "clock entries a pruned clock keeps (default: 12)"},
    {"engine", OPT_ENGINE, REQ, opt_engine, 0, 0, 0, NULL, "<name>",
     "storage engine: bdb or memory (tests only) (default: bdb)"},
    /* cluster (doc/replication.txt) */
    {"peer-listen", OPT_PEER_LISTEN, REQ, opt_peer_listen, 0, 0, 0, NULL, "<host:port>",
     "address for peer connections, host:port or [ipv6]:port (required with --peers)"},
    {"peers", OPT_PEERS, REQ, opt_peers, 0, 0, 0, NULL, "<list>",
     "the other nodes: name=host:port,... (names: 1-64 of A-Z a-z 0-9 . _ -)"},
    {"replicas", OPT_REPLICAS, REQ, opt_set_int, OFF(replicas), 1, OPT_MAX_REPLICAS,
     "replicas must be a number from 1 to 16", "<num>",
     "replicas per key, capped at the nodes (default: 3; alone: 1)"},
    {"read-quorum", OPT_READ_QUORUM, REQ, opt_set_int, OFF(read_quorum), 1, OPT_MAX_REPLICAS,
     "read quorum must be a number from 1 to 16", "<num>",
     "replicas a read waits for, 1 to the replicas (default: 2; alone: 1)"},
    {"write-quorum", OPT_WRITE_QUORUM, REQ, opt_set_int, OFF(write_quorum), 1, OPT_MAX_REPLICAS,
     "write quorum must be a number from 1 to 16", "<num>",
     "replicas a write waits for, 1 to the replicas (default: 2; alone: 1)"},
    {"partitions", OPT_PARTITIONS, REQ, opt_partitions, 0, 0, 0, NULL, "<num>",
     "ring partitions, a power of two from 1 to 65536, at least the nodes (default: 1024)"},
    {"cluster-secret-file", OPT_SECRET_FILE, REQ, opt_secret_file, 0, 0, 0, NULL, "<file>",
     "the cluster's shared secret: the first line, at least 32 bytes (required with "
     "--peers)"},
    {"peer-timeout-ms", OPT_PEER_TIMEOUT, REQ, opt_set_int, OFF(peer_timeout_ms), 1, 3600000,
     "peer timeout must be a number of milliseconds from 1 to 3600000", "<ms>",
     "per request to a peer (default: 500)"},
    {"hint-max-bytes", OPT_HINT_MAX_BYTES, REQ, opt_hint_max_bytes, 0, 0, 0, NULL, "<num>",
     "hints kept per target node, bytes or with a k/m/g suffix (default: 1g)"},
    {"hint-max-age", OPT_HINT_MAX_AGE, REQ, opt_set_int, OFF(hint_max_age), 1, INT_MAX,
     "hint max age must be a positive number of seconds", "<sec>",
     "oldest hint kept, in seconds (default: 259200, 3 days)"},
    {"hint-rate", OPT_HINT_RATE, REQ, opt_set_int, OFF(hint_rate), 1, INT_MAX,
     "hint rate must be a positive number of hints per second", "<num>",
     "hints replayed per second to a node that is back (default: 1000)"},
    {"config", OPT_CONFIG, REQ, opt_config, 0, 0, 0, NULL, "<file>",
     "read options from <file> (long names, one per line) at this point"},
};

#define OPT_COUNT (sizeof(opt_table) / sizeof(opt_table[0]))

/* ------------------------------------------------------------ --config */

static const struct opt_def *
opt_find_name(const char *name)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        if (strcmp(opt_table[i].name, name) == 0) {
            return &opt_table[i];
        }
    }
    return NULL;
}

const struct opt_def *
opt_find_key(int key)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        if (opt_table[i].key == key) {
            return &opt_table[i];
        }
    }
    return NULL;
}

/* Trim the line in place: drop a comment ('#' at the start or after a blank),
 * then surrounding blanks. Returns the first byte kept. */
static char *
opt_line_trim(char *line)
{
    char *end;

    for (char *p = line; *p != '\0'; p++) {
        if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            break;
        }
    }
    while (isspace((unsigned char)*line)) {
        line++;
    }
    end = line + strlen(line);
    while (end > line && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return line;
}

/* One non-blank line: "name", "name value" or "name=value" (an optional
 * leading "--" is allowed), applied through the same table as argv. */
static int
opt_file_line(struct opt_ctx *ctx, char *line)
{
    const struct opt_def *def;
    char *name = line, *val, sep;
    size_t n;

    if (strncmp(name, "--", 2) == 0) {
        name += 2;
    }
    n = strcspn(name, "= \t");
    val = name + n;
    sep = *val;
    if (sep != '\0') {
        *val++ = '\0';
        val += strspn(val, " \t");
        if (sep != '=' && *val == '=') {
            val++;
            val += strspn(val, " \t");
        }
    }
    if ((def = opt_find_name(name)) == NULL) {
        return opt_fail(ctx, NULL, "unknown option '%s'", name);
    }
    ctx->long_label = true;
    if (def->has_arg == no_argument && *val != '\0') {
        return opt_fail(ctx, def, "takes no value");
    }
    if (def->has_arg == required_argument && *val == '\0') {
        return opt_fail(ctx, def, "requires a value");
    }
    return def->fn(ctx, def, *val != '\0' ? val : NULL);
}

static int
opt_file_read(struct opt_ctx *ctx, const struct opt_def *def, const char *path)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = RC_OK;
    FILE *fp = fopen(path, "r");

    if (fp == NULL) {
        return opt_fail(ctx, def, "cannot open '%s': %s", path, strerror(errno));
    }
    ctx->file = path;
    ctx->line = 0;
    ctx->source++;
    while (rc == RC_OK && getline(&line, &cap, fp) != -1) {
        char *p;

        ctx->line++;
        p = opt_line_trim(line);
        if (*p != '\0') {
            rc = opt_file_line(ctx, p);
        }
    }
    if (rc == RC_OK && ferror(fp)) {
        rc = opt_fail(ctx, NULL, "read error: %s", strerror(errno));
    }
    ctx->source++;
    ctx->file = NULL;
    free(line); /* getline's buffer comes from the C library's malloc */
    fclose(fp);
    return rc;
}

static int
opt_config(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    int rc;

    if (ctx->file != NULL) {
        return opt_fail(ctx, def, "nested --config is not allowed");
    }
    if (arg[0] == '\0') {
        return opt_fail(ctx, def, "an empty value is not allowed");
    }
    rc = opt_store_str(ctx, def, &ctx->cfg->config_file, arg);
    if (rc != RC_OK) {
        return rc;
    }
    return opt_file_read(ctx, def, ctx->cfg->config_file);
}

/* ------------------------------------------------------------ argv */

static void
opt_build_getopt(char *shortopts, size_t len, struct option *longopts)
{
    size_t n = 0;

    shortopts[n++] = '+'; /* stop at the first non-option: it is an error */
    shortopts[n++] = ':'; /* report a missing argument as ':' */
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt_def *def = &opt_table[i];

        longopts[i] = (struct option){def->name, def->has_arg, NULL, def->key};
        if (def->key < 256 && n + 3 < len) {
            shortopts[n++] = (char)def->key;
            if (def->has_arg == required_argument) {
                shortopts[n++] = ':';
            }
        }
    }
    shortopts[n] = '\0';
    longopts[OPT_COUNT] = (struct option){NULL, 0, NULL, 0};
}

/* getopt said '?' or ':'. glibc sets optopt to 0 for an unknown long option
 * (optind then points past it), to a known option's key when a long option
 * got a value it does not take, to the letter of an unknown short option, and
 * to the option's key when its argument is missing. */
static int
opt_fail_getopt(struct opt_ctx *ctx, int c, char **argv)
{
    const struct opt_def *def = optopt != 0 ? opt_find_key(optopt) : NULL;
    const char *given = argv[optind - 1];

    if (c == ':') {
        ctx->long_label = strncmp(given, "--", 2) == 0;
        return opt_fail(ctx, def, "option requires an argument");
    }
    if (def != NULL) {
        ctx->long_label = true;
        return opt_fail(ctx, def, "takes no value");
    }
    if (optopt != 0) {
        return opt_fail(ctx, NULL, "-%c: unknown option", optopt);
    }
    return opt_fail(ctx, NULL, "%.*s: unknown option", (int)strcspn(given, "="), given);
}

static int
opt_parse_argv(struct opt_ctx *ctx, int argc, char **argv)
{
    char shortopts[2 * OPT_COUNT + 3];
    struct option longopts[OPT_COUNT + 1];
    const struct opt_def *def;
    int c, rc, idx;

    opt_build_getopt(shortopts, sizeof(shortopts), longopts);
    optind = 0; /* glibc: 0 reinitialises getopt fully, so each call starts afresh */
    opterr = 0;
    for (;;) {
        idx = -1;
        c = getopt_long(argc, argv, shortopts, longopts, &idx);
        if (c == -1) {
            break;
        }
        if (c == '?' || c == ':') {
            return opt_fail_getopt(ctx, c, argv);
        }
        def = opt_find_key(c);
        assert(def != NULL);
        ctx->long_label = idx >= 0;
        rc = def->fn(ctx, def, optarg);
        if (rc != RC_OK) {
            return rc;
        }
    }
    if (optind < argc) {
        return opt_fail(ctx, NULL, "unexpected argument '%s'", argv[optind]);
    }
    return RC_OK;
}

/* ------------------------------------------------------------ whole config */

/* Rules across options, with memcached's checks for -I in memcached's order. */
static int
opt_validate(struct opt_ctx *ctx)
{
    struct config *cfg = ctx->cfg;
    const struct opt_def *item = opt_find_key('I');

    ctx->long_label = false;
    if (cfg->max_item_size < OPT_ITEM_MIN) {
        return opt_fail(ctx, item, "item max size cannot be less than 1024 bytes");
    }
    if (cfg->max_item_size > cfg->mem_limit / 2) {
        return opt_fail(ctx, item,
                        "item max size (%llu bytes) cannot be higher than 1/2 of "
                        "the memory limit -m (%llu bytes)",
                        (unsigned long long)cfg->max_item_size, (unsigned long long)cfg->mem_limit);
    }
    if (cfg->max_item_size > OPT_ITEM_MAX) {
        return opt_fail(ctx, item, "item max size cannot be higher than a gigabyte (1024m)");
    }
    if (cfg->sasl && cfg->auth_file == NULL) {
        return opt_fail(ctx, opt_find_key('S'),
                        "needs -Y <file>: ringcached checks SASL PLAIN against the -Y "
                        "password file (it has no Cyrus SASL configuration)");
    }
    if (cfg->sasl && cfg->proto == CONFIG_PROTO_ASCII) {
        return opt_fail(ctx, opt_find_key('S'),
                        "SASL is for the binary protocol; it cannot be used with -B ascii");
    }
    if (cfg->listen == NULL && (cfg->listen = rc_strdup(OPT_DEFAULT_LISTEN)) == NULL) {
        return opt_fail(ctx, NULL, "out of memory");
    }
    if (cfg->data_dir == NULL && (cfg->data_dir = rc_strdup(OPT_DEFAULT_DATA_DIR)) == NULL) {
        return opt_fail(ctx, NULL, "out of memory");
    }
    if (cfg->name == NULL) {
        char host[256] = "localhost";

        if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
            strcpy(host, "localhost");
        }
        host[sizeof(host) - 1] = '\0';
        if ((cfg->name = rc_strdup(host)) == NULL) {
            return opt_fail(ctx, NULL, "out of memory");
        }
    }
    if (cfg->name[0] == '\0' || strcspn(cfg->name, " \t\r\n") != strlen(cfg->name)) {
        return opt_fail(ctx, opt_find_key(OPT_NAME),
                        "a node name must be non-empty, without blanks");
    }
    return opt_validate_cluster(ctx);
}

/* ------------------------------------------------------------ public */

void
config_init_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 11211;
    cfg->udp_port = 0;
    cfg->listen = rc_strdup(OPT_DEFAULT_LISTEN); /* NULL on OOM: options_parse retries */
    cfg->unix_mask = 0700;
    cfg->backlog = 1024;
    cfg->max_conns = 1024;
    cfg->threads = 4;
    cfg->reqs_per_event = 20;
    cfg->max_item_size = OPT_MIB;
    cfg->mem_limit = 64 * OPT_MIB;
    cfg->use_cas = true;
    cfg->flush_enabled = true;
    cfg->proto = CONFIG_PROTO_AUTO;
    cfg->prefix_delimiter = ':';
    cfg->idle_timeout = 0;
    cfg->data_dir = rc_strdup(OPT_DEFAULT_DATA_DIR);
    cfg->sync = STORE_SYNC_ALWAYS;
    cfg->sync_interval_ms = 1000;
    cfg->max_siblings = 32;
    cfg->tombstone_grace = 60;
    cfg->prune_keep = 12;
    cfg->engine = STORE_KIND_BDB;
    cfg->replicas = OPT_DEFAULT_REPLICAS;
    cfg->read_quorum = OPT_DEFAULT_QUORUM;
    cfg->write_quorum = OPT_DEFAULT_QUORUM;
    cfg->partitions = OPT_DEFAULT_PARTITIONS;
    cfg->peer_timeout_ms = OPT_DEFAULT_PEER_TIMEOUT;
    cfg->hint_max_bytes = OPT_DEFAULT_HINT_BYTES;
    cfg->hint_max_age = OPT_DEFAULT_HINT_AGE;
    cfg->hint_rate = OPT_DEFAULT_HINT_RATE;
}

void
config_deinit(struct config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    rc_free(cfg->port_file);
    rc_free(cfg->listen);
    rc_free(cfg->unix_socket);
    rc_free(cfg->pid_file);
    rc_free(cfg->user);
    rc_free(cfg->data_dir);
    rc_free(cfg->name);
    rc_free(cfg->config_file);
    rc_free(cfg->auth_file);
    rc_free(cfg->peer_listen);
    rc_free(cfg->peers);
    rc_free(cfg->cluster_secret_file);
    if (cfg->cluster_secret != NULL) {
        opt_wipe(cfg->cluster_secret, cfg->cluster_secret_len);
        rc_free(cfg->cluster_secret);
    }
    cfg->peer_listen = cfg->cluster_secret_file = cfg->cluster_secret = NULL;
    cfg->peers = NULL;
    cfg->npeers = cfg->cluster_secret_len = 0;
    cfg->port_file = cfg->listen = cfg->unix_socket = cfg->pid_file = NULL;
    cfg->user = cfg->data_dir = cfg->config_file = cfg->auth_file = cfg->name = NULL;
}

int
options_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen, FILE *warn)
{
    struct opt_ctx ctx = {
        .cfg = cfg, .err = err, .errlen = errlen, .warn = warn, .listen_source = -1};
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    rc = opt_parse_argv(&ctx, argc, argv);
    if (rc != RC_OK) {
        return rc;
    }
    return opt_validate(&ctx);
}

/* Print `text` from column `col` on, wrapping between words before
 * OPT_USAGE_WIDTH; continuation lines are indented to `col`. */
static void
opt_usage_wrap(FILE *out, const char *text, int col)
{
    int at = col;

    while (*text != '\0') {
        int word = (int)strcspn(text, " ");

        if (at > col && at + 1 + word > OPT_USAGE_WIDTH) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        }
        fprintf(out, "%s%.*s", at > col ? " " : "", word, text);
        at += (at > col ? 1 : 0) + word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

void
options_usage(FILE *out)
{
    fprintf(out,
            "ringcached %s: a memcached-compatible server persisting items in "
            "Berkeley DB\n"
            "usage: ringcached [options]\n"
            "memcached 1.6's options:\n",
            PACKAGE_VERSION);
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt_def *def = &opt_table[i];
        bool has_short = def->key < 256;
        char left[64];
        int n;

        if (!has_short && (i == 0 || opt_table[i - 1].key < 256)) {
            fprintf(out, "ringcached's own options:\n");
        }
        n = snprintf(left, sizeof(left), "  %c%c%c --%s%s%s", has_short ? '-' : ' ',
                     has_short ? def->key : ' ', has_short ? ',' : ' ', def->name,
                     def->arg_name != NULL ? "=" : "", def->arg_name != NULL ? def->arg_name : "");
        fputs(left, out);
        if (n >= OPT_USAGE_COLUMN) {
            fprintf(out, "\n%*s", OPT_USAGE_COLUMN, "");
        } else {
            fprintf(out, "%*s", OPT_USAGE_COLUMN - n, "");
        }
        opt_usage_wrap(out, def->help, OPT_USAGE_COLUMN);
    }
}
