/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daemon_config.h - the daemon's validated, then read-only, configuration.
 *
 * options.c fills it from the command line (memcached 1.6's flags plus
 * ringcached's long options) and --config files, validates it as a whole,
 * and hands it down; nothing changes it afterwards. Strings are owned by the
 * struct and freed by config_deinit().
 */
#ifndef RC_SERVER_DAEMON_CONFIG_H
#define RC_SERVER_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum config_proto { CONFIG_PROTO_AUTO = 0, CONFIG_PROTO_ASCII, CONFIG_PROTO_BINARY };

#define CONFIG_NODE_NAME_MAX 64  /* bytes in a node name (the ring's RING_NAME_MAX) */
#define CONFIG_HOST_MAX      256 /* a host part: a DNS name or an address literal */
#define CONFIG_MAX_PEERS     255 /* the ring's RING_MAX_NODES, less this node */

/* A HOST:PORT as parsed: host without the brackets of "[v6]:port". */
struct config_hostport {
    char host[CONFIG_HOST_MAX];
    int port;
};

/* One --peers entry: NAME=HOST:PORT, the address this node dials. */
struct config_peer {
    char name[CONFIG_NODE_NAME_MAX + 1];
    struct config_hostport addr;
};

struct config {
    /* network (memcached's flags) */
    int port;                /* -p, 11211; 0 = ephemeral */
    char *port_file;         /* --port-file: write the bound TCP port here */
    int udp_port;            /* -U, 0 = off (UDP is not implemented) */
    char *listen;            /* -l, comma list; default "127.0.0.1" */
    char *unix_socket;       /* -s */
    int unix_mask;           /* -a, octal, default 0700 */
    int backlog;             /* -b, 1024 */
    int max_conns;           /* -c, 1024 */
    int threads;             /* -t, 4 */
    int reqs_per_event;      /* -R, 20 */
    uint64_t max_item_size;  /* -I, 1m */
    uint64_t mem_limit;      /* -m in bytes (64 MB): the Berkeley DB cache */
    int verbosity;           /* -v count */
    bool daemonize;          /* -d */
    char *pid_file;          /* -P */
    char *user;              /* -u */
    bool maxcore;            /* -r */
    bool use_cas;            /* true unless -C */
    bool flush_enabled;      /* true unless -F */
    enum config_proto proto; /* -B */
    bool shutdown_enabled;   /* -A */
    char prefix_delimiter;   /* -D, ':' */
    bool detail_enabled;     /* -D given: per-prefix stats on from the start */
    int idle_timeout;        /* -o idle_timeout=N seconds, 0 = off */
    char *auth_file;         /* -Y: password file (server/auth.h); NULL = no auth */
    bool sasl;               /* -S: binary SASL PLAIN against auth_file (needs -Y) */
    /* ringcached's own (long options only) */
    char *name;                /* --name: this node's human name (host name) */
    char *data_dir;            /* --data-dir, "./ringcached-data" */
    enum store_sync sync;      /* --sync always|batch|none */
    unsigned sync_interval_ms; /* --sync-interval-ms, 1000 */
    char *config_file;         /* --config */
    enum store_kind engine;    /* --engine bdb|memory (memory: tests only) */
    int max_siblings;          /* --max-siblings, 32 */
    int tombstone_grace;       /* --tombstone-grace seconds, 60 */
    int prune_keep;            /* --prune-keep, 12 */
    /* cluster (doc/replication.txt sections 2, 12); without peers the node
     * runs alone: a ring of one node, one replica, quorums of one */
    char *peer_listen;                       /* --peer-listen as given; NULL = none */
    struct config_hostport peer_listen_addr; /* its parsed form (port 0: any) */
    struct config_peer *peers;               /* --peers, npeers of them, in the order given */
    size_t npeers;
    int replicas;              /* --replicas N, 3: as requested (the ring caps it) */
    int read_quorum;           /* --read-quorum R, 2 */
    int write_quorum;          /* --write-quorum W, 2 */
    uint32_t partitions;       /* --partitions Q, 1024, a power of two */
    char *cluster_secret_file; /* --cluster-secret-file */
    char *cluster_secret;      /* its first line, trailing blanks removed (>= 32
                                * bytes); wiped by config_deinit */
    size_t cluster_secret_len;
    int peer_timeout_ms;     /* --peer-timeout-ms, 500 */
    uint64_t hint_max_bytes; /* --hint-max-bytes per target, 1 GiB */
    int hint_max_age;        /* --hint-max-age seconds, 259200 (3 days) */
    int hint_rate;           /* --hint-rate replays per second, 1000 */
};

/* The nodes of the cluster (this one and its peers), and the replicas,
 * read and write quorums in effect: N capped at the nodes; alone, all 1. */
size_t config_nodes(const struct config *cfg);
unsigned config_replicas(const struct config *cfg);
unsigned config_read_quorum(const struct config *cfg);
unsigned config_write_quorum(const struct config *cfg);

#endif
