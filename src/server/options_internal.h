/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * options_internal.h - what the option parser's two halves share, and nothing
 * outside src/server includes: options.c (the option table, argv and
 * --config reading, the general handlers, the checks across options) and
 * options_cluster.c (the cluster options' handlers and their checks).
 *
 * Handlers have the signature of struct opt_def's fn: they write only
 * ctx->cfg, and on error fill the caller's buffer through opt_fail and
 * return its RC_EINVAL.
 */
#ifndef RC_SERVER_OPTIONS_INTERNAL_H
#define RC_SERVER_OPTIONS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "server/daemon_config.h"

#define OPT_MAX_PORT 65535

/* Long-only options get keys above any short option letter. */
enum opt_long_key {
    OPT_DATA_DIR = 256,
    OPT_SYNC,
    OPT_SYNC_INTERVAL,
    OPT_PORT_FILE,
    OPT_ENGINE,
    OPT_CONFIG,
    OPT_NAME,
    OPT_MAX_SIBLINGS,
    OPT_TOMBSTONE_GRACE,
    OPT_PRUNE_KEEP,
    OPT_PEER_LISTEN,
    OPT_PEERS,
    OPT_REPLICAS,
    OPT_READ_QUORUM,
    OPT_WRITE_QUORUM,
    OPT_PARTITIONS,
    OPT_SECRET_FILE,
    OPT_PEER_TIMEOUT,
    OPT_HINT_MAX_BYTES,
    OPT_HINT_MAX_AGE,
    OPT_HINT_RATE,
};

/* One parse: what handlers need beyond the config they fill. */
struct opt_ctx {
    struct config *cfg; /* borrowed from the caller */
    char *err;          /* caller's buffer for the one-line message */
    size_t errlen;
    FILE *warn;        /* may be NULL */
    const char *file;  /* --config file being read; NULL while on argv */
    unsigned line;     /* its current line */
    bool long_label;   /* the user spelled this option long: name it so */
    int source;        /* bumped on entering and leaving a --config file */
    int listen_source; /* source whose -l values cfg->listen holds; -1: default */
};

struct opt_def {
    const char *name; /* long name, also the --config key */
    int key;          /* short letter, or an enum opt_long_key */
    int has_arg;      /* no_argument, required_argument, optional_argument */
    int (*fn)(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);
    size_t off;           /* offsetof the config field a generic handler sets */
    int lo, hi;           /* opt_set_int: accepted range; opt_set_flag: lo is the value */
    const char *what;     /* error text (opt_set_int, opt_refuse) or warning reason */
    const char *arg_name; /* usage: "<num>"; NULL when the option takes none */
    const char *help;     /* usage text */
};

/* options.c */
int __attribute__((format(printf, 3, 4)))
opt_fail(struct opt_ctx *ctx, const struct opt_def *def, const char *fmt, ...);
void __attribute__((format(printf, 3, 4)))
opt_warn(struct opt_ctx *ctx, const struct opt_def *def, const char *fmt, ...);
int opt_store_str(struct opt_ctx *ctx, const struct opt_def *def, char **slot, const char *val);
int opt_check_host(struct opt_ctx *ctx, const struct opt_def *def, const char *host,
                   const char *entry);
const struct opt_def *opt_find_key(int key);

/* options_cluster.c: handlers of the option table */
int opt_peer_listen(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);
int opt_peers(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);
int opt_partitions(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);
int opt_secret_file(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);
int opt_hint_max_bytes(struct opt_ctx *ctx, const struct opt_def *def, const char *arg);
/* options_cluster.c: the rest */
void opt_wipe(void *p, size_t n);
int opt_validate_cluster(struct opt_ctx *ctx);

#endif
