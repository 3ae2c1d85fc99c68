/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * options_cluster.c - the cluster options (doc/replication.txt sections 2
 * and 12): the handlers options.c's table points at for --peer-listen,
 * --peers, --partitions, --cluster-secret-file and --hint-max-bytes, the
 * checks across them once argv and --config files are read
 * (opt_validate_cluster, called last by opt_validate), and the effective
 * ring size and quorums the rest of the daemon asks for (config_nodes ...).
 *
 * The secret is read when its option is met and wiped (opt_wipe) wherever a
 * copy is dropped, config_deinit included.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/status.h"
#include "base/util.h"
#include "server/daemon_config.h"
#include "server/options_internal.h"

#define OPT_MAX_PARTITIONS 65536u /* the ring's RING_MAX_Q */
#define OPT_SECRET_MIN     32     /* bytes of the secret file's first line */

/* A node name: 1..CONFIG_NODE_NAME_MAX bytes of A-Z a-z 0-9 . _ - (a subset
 * of what the ring accepts, safe in logs, admin replies and file names). */
static bool
opt_node_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > CONFIG_NODE_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

/* A host name to dial later (not resolved now: a peer's name may resolve
 * only once it runs): dot-separated non-empty labels of A-Z a-z 0-9 - _,
 * at most 253 bytes. IPv4 literals pass as such names. */
static bool
opt_host_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;

    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0;
}

/* HOST:PORT or [IPV6]:PORT into *out. The port is required, 1..65535 (0 too
 * when allow_zero). The host is a bracketed IPv6 literal, or anything
 * without a colon (checked by the caller). NULL, or why it is refused. */
static const char *
opt_parse_hostport(const char *s, bool allow_zero, struct config_hostport *out)
{
    const char *colon, *port;
    size_t nhost;
    int32_t v;

    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        char v6[CONFIG_HOST_MAX];

        if (end == NULL || end[1] != ':') {
            return "expected [IPV6]:PORT";
        }
        nhost = (size_t)(end - s - 1);
        if (nhost == 0 || nhost >= sizeof(v6)) {
            return "invalid IPv6 address";
        }
        memcpy(v6, s + 1, nhost);
        v6[nhost] = '\0';
        if (inet_pton(AF_INET6, v6, &(struct in6_addr){0}) != 1) {
            return "invalid IPv6 address";
        }
        port = end + 2;
        s++;
    } else {
        colon = strchr(s, ':');
        if (colon == NULL) {
            return "missing :PORT";
        }
        if (strchr(colon + 1, ':') != NULL) {
            return "an IPv6 address needs brackets: [ADDR]:PORT";
        }
        nhost = (size_t)(colon - s);
        if (nhost == 0) {
            return "missing host";
        }
        if (nhost >= sizeof(out->host)) {
            return "host name too long";
        }
        port = colon + 1;
    }
    if (util_parse_i32(port, strlen(port), &v) != RC_OK || v < (allow_zero ? 0 : 1) ||
        v > OPT_MAX_PORT) {
        return allow_zero ? "invalid port number (must be 0-65535)"
                          : "invalid port number (must be 1-65535)";
    }
    memcpy(out->host, s, nhost);
    out->host[nhost] = '\0';
    out->port = v;
    return NULL;
}

/* --peer-listen HOST:PORT: where peers connect. The host is checked as -l's
 * are ("*", a literal, or a name that resolves); port 0 picks a free one. */
int
opt_peer_listen(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    struct config_hostport hp;
    const char *why = opt_parse_hostport(arg, true, &hp);
    int rc;

    if (why != NULL) {
        return opt_fail(ctx, def, "%s in '%s'", why, arg);
    }
    rc = opt_check_host(ctx, def, hp.host, arg);
    if (rc != RC_OK) {
        return rc;
    }
    rc = opt_store_str(ctx, def, &ctx->cfg->peer_listen, arg);
    if (rc == RC_OK) {
        ctx->cfg->peer_listen_addr = hp;
    }
    return rc;
}

/* One NAME=HOST:PORT of --peers into *p. */
static int
opt_peer_entry(struct opt_ctx *ctx, const struct opt_def *def, const char *entry,
               struct config_peer *p)
{
    const char *eq = strchr(entry, '='), *why;
    size_t n;

    if (eq == NULL) {
        return opt_fail(ctx, def, "expected NAME=HOST:PORT, got '%s'", entry);
    }
    n = (size_t)(eq - entry);
    if (!opt_node_name_ok(entry, n)) {
        return opt_fail(ctx, def, "invalid node name '%.*s' (1 to %d bytes of A-Z a-z 0-9 . _ -)",
                        (int)(n > 80 ? 80 : n), entry, CONFIG_NODE_NAME_MAX);
    }
    memcpy(p->name, entry, n);
    p->name[n] = '\0';
    why = opt_parse_hostport(eq + 1, false, &p->addr);
    if (why != NULL) {
        return opt_fail(ctx, def, "%s in '%s'", why, entry);
    }
    if (strchr(p->addr.host, ':') == NULL && !opt_host_name_ok(p->addr.host)) {
        return opt_fail(ctx, def, "invalid host '%s' in '%s'", p->addr.host, entry);
    }
    return RC_OK;
}

/* --peers NAME=HOST:PORT[,...]: the other nodes (a later --peers replaces
 * an earlier one). Names are unique; this node's own name is checked once
 * --name is known (opt_validate). */
int
opt_peers(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    struct config *cfg = ctx->cfg;
    struct config_peer *peers = NULL;
    size_t npeers = 0, cap = 1;
    const char *p = arg;
    char entry[CONFIG_NODE_NAME_MAX + CONFIG_HOST_MAX + 16];
    int rc = RC_OK;

    for (const char *q = arg; *q != '\0'; q++) {
        cap += *q == ',';
    }
    if (cap > CONFIG_MAX_PEERS) {
        return opt_fail(ctx, def, "at most %d peers", CONFIG_MAX_PEERS);
    }
    peers = rc_calloc(cap, sizeof(*peers));
    if (peers == NULL) {
        return opt_fail(ctx, def, "out of memory");
    }
    for (;;) {
        size_t n = strcspn(p, ",");

        if (n == 0) {
            rc = opt_fail(ctx, def, "empty entry in '%s' (expected NAME=HOST:PORT,...)", arg);
            break;
        }
        if (n >= sizeof(entry)) {
            rc = opt_fail(ctx, def, "entry too long '%.40s...'", p);
            break;
        }
        memcpy(entry, p, n);
        entry[n] = '\0';
        rc = opt_peer_entry(ctx, def, entry, &peers[npeers]);
        if (rc != RC_OK) {
            break;
        }
        for (size_t i = 0; i < npeers; i++) {
            if (strcmp(peers[i].name, peers[npeers].name) == 0) {
                rc = opt_fail(ctx, def, "node name '%s' is listed twice", peers[i].name);
                break;
            }
        }
        if (rc != RC_OK) {
            break;
        }
        npeers++;
        if (p[n] == '\0') {
            break;
        }
        p += n + 1;
    }
    if (rc != RC_OK) {
        rc_free(peers);
        return rc;
    }
    rc_free(cfg->peers);
    cfg->peers = peers;
    cfg->npeers = npeers;
    return RC_OK;
}

/* --partitions Q: a power of two from 1 to 65536. */
int
opt_partitions(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    uint32_t v;

    if (util_parse_u32(arg, strlen(arg), &v) != RC_OK || v == 0 || v > OPT_MAX_PARTITIONS ||
        (v & (v - 1)) != 0) {
        return opt_fail(ctx, def, "partitions must be a power of two from 1 to %u",
                        OPT_MAX_PARTITIONS);
    }
    ctx->cfg->partitions = v;
    return RC_OK;
}

void
opt_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n-- > 0) {
        *v++ = 0;
    }
}

/* --cluster-secret-file: read now, so a bad file stops the start with the
 * option (and config line) named. The secret is the first line, trailing
 * white space removed, at least OPT_SECRET_MIN bytes. A file others may
 * read is accepted with a warning. */
int
opt_secret_file(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    struct stat sb;
    char *line = NULL, *secret;
    size_t cap = 0, n = 0;
    ssize_t got;
    FILE *fp;
    int rc;

    if (arg[0] == '\0') {
        return opt_fail(ctx, def, "an empty value is not allowed");
    }
    fp = fopen(arg, "r");
    if (fp == NULL) {
        return opt_fail(ctx, def, "cannot read '%s': %s", arg, strerror(errno));
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return opt_fail(ctx, def, "'%s' is not a regular file", arg);
    }
    got = getline(&line, &cap, fp);
    if (got < 0 && ferror(fp)) {
        rc = opt_fail(ctx, def, "cannot read '%s': %s", arg, strerror(errno));
        fclose(fp);
        free(line);
        return rc;
    }
    fclose(fp);
    if (got > 0) {
        n = (size_t)got;
        while (n > 0 && isspace((unsigned char)line[n - 1])) {
            n--;
        }
    }
    if (n < OPT_SECRET_MIN) {
        if (line != NULL) {
            opt_wipe(line, cap);
        }
        free(line); /* getline's buffer comes from the C library's malloc */
        return opt_fail(ctx, def,
                        "the secret in '%s' is too short: its first line has %zu bytes, "
                        "at least %d are needed",
                        arg, n, OPT_SECRET_MIN);
    }
    secret = rc_malloc(n + 1);
    if (secret != NULL) {
        memcpy(secret, line, n);
        secret[n] = '\0';
    }
    opt_wipe(line, cap);
    free(line);
    if (secret == NULL) {
        return opt_fail(ctx, def, "out of memory");
    }
    rc = opt_store_str(ctx, def, &ctx->cfg->cluster_secret_file, arg);
    if (rc != RC_OK) {
        opt_wipe(secret, n);
        rc_free(secret);
        return rc;
    }
    if (ctx->cfg->cluster_secret != NULL) {
        opt_wipe(ctx->cfg->cluster_secret, ctx->cfg->cluster_secret_len);
        rc_free(ctx->cfg->cluster_secret);
    }
    ctx->cfg->cluster_secret = secret;
    ctx->cfg->cluster_secret_len = n;
    if ((sb.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        opt_warn(ctx, def, "'%s' is readable by %s (mode %03o); chmod 600 it", arg,
                 (sb.st_mode & S_IROTH) != 0 ? "everyone" : "its group",
                 (unsigned)(sb.st_mode & 0777));
    }
    return RC_OK;
}

/* --hint-max-bytes: bytes, or with a k/m/g suffix (as -I); positive. */
int
opt_hint_max_bytes(struct opt_ctx *ctx, const struct opt_def *def, const char *arg)
{
    uint64_t v;

    if (util_parse_size(arg, &v) != RC_OK || v == 0) {
        return opt_fail(ctx, def,
                        "hint limit must be a positive number of bytes with an optional "
                        "k, m or g suffix");
    }
    ctx->cfg->hint_max_bytes = v;
    return RC_OK;
}

/* ------------------------------------------------------------ whole config */

/* The cluster options as a whole (doc/replication.txt sections 2 and 12).
 * Alone (no --peers) the node is a ring of one: N, R and W are 1 whatever
 * was asked, and the peer options have no effect yet (warned). */
int
opt_validate_cluster(struct opt_ctx *ctx)
{
    struct config *cfg = ctx->cfg;
    size_t nodes = config_nodes(cfg);
    const struct opt_def *peers = opt_find_key(OPT_PEERS);

    /* The name is this node's place in the ring: the ring's rule always. */
    for (const char *p = cfg->name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
            return opt_fail(ctx, opt_find_key(OPT_NAME),
                            "a node name must be printable ASCII (it names the node in the "
                            "ring)");
        }
    }
    if (strlen(cfg->name) > CONFIG_NODE_NAME_MAX) {
        return opt_fail(ctx, opt_find_key(OPT_NAME), "a node name must be at most %d bytes",
                        CONFIG_NODE_NAME_MAX);
    }
    if (cfg->npeers == 0) {
        if (cfg->peer_listen != NULL) {
            opt_warn(ctx, opt_find_key(OPT_PEER_LISTEN), "has no effect without --peers");
        }
        if (cfg->cluster_secret_file != NULL) {
            opt_warn(ctx, opt_find_key(OPT_SECRET_FILE), "has no effect without --peers");
        }
        return RC_OK;
    }
    if (!opt_node_name_ok(cfg->name, strlen(cfg->name))) {
        return opt_fail(ctx, opt_find_key(OPT_NAME),
                        "with --peers, a node name must be 1 to %d bytes of A-Z a-z 0-9 . _ -",
                        CONFIG_NODE_NAME_MAX);
    }
    for (size_t i = 0; i < cfg->npeers; i++) {
        if (strcmp(cfg->peers[i].name, cfg->name) == 0) {
            return opt_fail(ctx, peers,
                            "'%s' is this node's own name (--name); list only the "
                            "other nodes",
                            cfg->name);
        }
    }
    if (cfg->peer_listen == NULL) {
        return opt_fail(ctx, peers, "requires --peer-listen HOST:PORT");
    }
    if (cfg->cluster_secret_file == NULL) {
        return opt_fail(ctx, peers, "requires --cluster-secret-file FILE");
    }
    if (cfg->partitions < nodes) {
        return opt_fail(ctx, opt_find_key(OPT_PARTITIONS),
                        "%u partitions are fewer than the %zu nodes", cfg->partitions, nodes);
    }
    if ((size_t)cfg->replicas > nodes) {
        opt_warn(ctx, opt_find_key(OPT_REPLICAS),
                 "%d replicas capped at the %zu nodes of the cluster", cfg->replicas, nodes);
    }
    if ((unsigned)cfg->read_quorum > config_replicas(cfg)) {
        return opt_fail(ctx, opt_find_key(OPT_READ_QUORUM),
                        "read quorum %d is more than the %u replicas", cfg->read_quorum,
                        config_replicas(cfg));
    }
    if ((unsigned)cfg->write_quorum > config_replicas(cfg)) {
        return opt_fail(ctx, opt_find_key(OPT_WRITE_QUORUM),
                        "write quorum %d is more than the %u replicas", cfg->write_quorum,
                        config_replicas(cfg));
    }
    return RC_OK;
}

/* ------------------------------------------------------------ public */

size_t
config_nodes(const struct config *cfg)
{
    return 1 + cfg->npeers;
}

unsigned
config_replicas(const struct config *cfg)
{
    size_t nodes = config_nodes(cfg); /* alone: 1 */

    return (size_t)cfg->replicas < nodes ? (unsigned)cfg->replicas : (unsigned)nodes;
}

unsigned
config_read_quorum(const struct config *cfg)
{
    return cfg->npeers == 0 ? 1u : (unsigned)cfg->read_quorum;
}

unsigned
config_write_quorum(const struct config *cfg)
{
    return cfg->npeers == 0 ? 1u : (unsigned)cfg->write_quorum;
}
