/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * admin.c - replies to the commands that concern the daemon rather than
 * items: version, verbosity, shutdown, the stats family (general,
 * settings, reset, detail on|off|dump, store) and ring. Runs on a worker
 * thread and reads other workers' counters with relaxed atomic loads (see
 * stats.h).
 *
 * ring (text lines, then END; `stats ring [<key>]` until the text codec
 * parses a top-level `ring`, which calls admin_ring with the same args):
 *
 *   ring        RING partitions <Q> replicas <N> read_quorum <R>
 *                    write_quorum <W> hash <16 hex digits>     (one line)
 *               NODE <name> partitions <count> self|peer   one per node,
 *                                                          in ring order
 *               END
 *   ring <key>  KEY <key> partition <p>
 *               REPLICA <i> <name> version <v>   the preference list, i from
 *                                                0 (the owner) to N-1
 *               END
 *
 * N, R and W are the values in effect (N capped at the nodes; alone, all
 * 1). <v> is this node's local version of the key, its cas (0 under -C),
 * or "-" when it holds none; for a peer it is "-" until the peer transport
 * can ask it. A bad argument: CLIENT_ERROR usage: ring [<key>]. Over the
 * binary protocol, `stats ring` answers the same text as the value of one
 * stat named "ring".
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "kv/ring.h"
#include "proto/bin.h"
#include "proto/text.h"
#include "server/cluster_srv.h"
#include "server/server.h"

/* Where replies go, in the request's protocol: text STAT lines and END,
 * or binary stat packets and the empty terminator. */
struct admin_out {
    struct buf *buf;
    const struct request *req;
};

static bool
admin_binary(const struct admin_out *ao)
{
    return ao->req->proto == REQ_PROTO_BINARY;
}

static void
admin_emit(const struct admin_out *ao, const char *name, const char *value)
{
    if (admin_binary(ao)) {
        bin_encode_stat(ao->buf, ao->req, name, value);
    } else {
        text_encode_stat(ao->buf, name, value);
    }
}

static void
admin_end(const struct admin_out *ao)
{
    if (admin_binary(ao)) {
        bin_encode_stat_end(ao->buf, ao->req);
    } else {
        text_encode_end(ao->buf);
    }
}

static void admin_stat(const struct admin_out *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
admin_stat(const struct admin_out *out, const char *name, const char *fmt, ...)
{
    char v[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    admin_emit(out, name, v);
}

static void
admin_u64(const struct admin_out *out, const char *name, uint64_t v)
{
    admin_stat(out, name, "%" PRIu64, v);
}

static void
admin_sum_threads(struct server *srv, uint64_t *sum)
{
    memset(sum, 0, sizeof(uint64_t) * STAT__COUNT);
    for (int i = 0; i < srv->nworkers; i++) {
        thread_stats_sum(&srv->workers[i].stats, sum);
    }
}

static void
admin_stats_process(struct server *srv, const struct admin_out *out)
{
    struct rusage ru;
    int64_t now = util_now_s();

    getrusage(RUSAGE_SELF, &ru);
    admin_stat(out, "pid", "%d", (int)getpid());
    admin_stat(out, "uptime", "%" PRId64, now - srv->started);
    admin_stat(out, "time", "%" PRId64, now);
    admin_stat(out, "version", "%s", RC_VERSION_STRING);
    admin_stat(out, "libevent", "%s", event_get_version());
    admin_stat(out, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    admin_stat(out, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec,
               (long)ru.ru_utime.tv_usec);
    admin_stat(out, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec,
               (long)ru.ru_stime.tv_usec);
    admin_stat(out, "max_connections", "%d", srv->cfg->max_conns);
    admin_stat(out, "curr_connections", "%d", atomic_load(&srv->curr_conns));
    admin_u64(out, "total_connections",
              atomic_load(&srv->total_conns) - atomic_load(&srv->total_conns_base));
    admin_u64(out, "rejected_connections",
              atomic_load(&srv->rejected_conns) - atomic_load(&srv->rejected_conns_base));
    admin_u64(out, "connection_structures", atomic_load(&srv->conn_structures));
}

static void
admin_stats_general(struct server *srv, const struct admin_out *out)
{
    uint64_t sum[STAT__COUNT];
    struct coord_stats cs;
    struct alloc_stats as;

    admin_stats_process(srv, out);
    admin_sum_threads(srv, sum);
    for (int i = 0; i < STAT__COUNT; i++) {
        if (i == STAT_conn_yields || i == STAT_durable_waits || i == STAT_storage_errors ||
            i == STAT_idle_kicks) {
            continue; /* reported below, in memcached's order */
        }
        admin_u64(out, stats_name((enum stats_id)i), sum[i]);
    }
    admin_u64(out, "limit_maxbytes", srv->cfg->mem_limit);
    admin_u64(out, "accepting_conns", atomic_load(&srv->stopping) ? 0 : 1);
    admin_u64(out, "threads", (uint64_t)srv->nworkers);
    admin_u64(out, "conn_yields", sum[STAT_conn_yields]);
    if (srv->cfg->idle_timeout > 0) {
        admin_u64(out, "idle_kicks", sum[STAT_idle_kicks]);
    }
    coord_get_stats(srv->co, &cs);
    admin_u64(out, "bytes", cs.bytes);
    admin_u64(out, "curr_items", cs.curr_items);
    admin_u64(out, "total_items", cs.total_items - atomic_load(&srv->total_items_base));
    admin_u64(out, "evictions", 0); /* items are never evicted: the store is durable */
    admin_u64(out, "reclaimed", cs.reclaimed - atomic_load(&srv->reclaimed_base));
    admin_u64(out, "durable_waits", sum[STAT_durable_waits]);
    admin_u64(out, "storage_errors", sum[STAT_storage_errors]);
    admin_u64(out, "sweeper_passes", cs.sweeps);
    /* Causal versioning (doc/versioning.txt section 14). */
    admin_u64(out, "objects_with_siblings", cs.objects_with_siblings);
    admin_u64(out, "siblings_hidden_reads", cs.siblings_hidden_reads);
    admin_u64(out, "siblings_hidden", cs.siblings_hidden);
    admin_u64(out, "siblings_collapsed", cs.siblings_collapsed);
    admin_u64(out, "sibling_limit_refused", cs.sibling_limit_refused);
    admin_u64(out, "context_errors", cs.context_errors);
    admin_u64(out, "tombstones_pending", cs.tombstones_pending);
    admin_u64(out, "tombstones_reaped", cs.tombstones_reaped);
    admin_u64(out, "clock_prunes", cs.clock_prunes);
    admin_u64(out, "vget_cmds", cs.vget_cmds);
    admin_u64(out, "vset_cmds", cs.vset_cmds);
    alloc_get_stats(&as);
    admin_stat(out, "allocator", "%s", alloc_name());
    admin_u64(out, "allocator_allocated", as.allocated);
    admin_u64(out, "allocator_resident", as.resident);
}

/* stats versions: the objects stored, by siblings and by clock entries. */
static void
admin_stats_versions(struct server *srv, const struct admin_out *out)
{
    struct coord_stats cs;

    coord_get_stats(srv->co, &cs);
    for (int i = 0; i < COORD_HIST_SIBLINGS; i++) {
        admin_u64(out, coord_hist_siblings_names[i], cs.hist_siblings[i]);
    }
    for (int i = 0; i < COORD_HIST_ENTRIES; i++) {
        admin_u64(out, coord_hist_entries_names[i], cs.hist_entries[i]);
    }
}

static void
admin_node_id(struct server *srv, const struct admin_out *out)
{
    const uint8_t *id = coord_node_id(srv->co);
    char hex[2 * COORD_NODE_ID_LEN + 1];

    for (int i = 0; i < COORD_NODE_ID_LEN; i++) {
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    }
    admin_stat(out, "node_id", "%s", hex);
}

static void
admin_stats_settings(struct server *srv, const struct admin_out *out)
{
    const struct config *cfg = srv->cfg;
    static const char *const protos[] = {"auto-negotiate", "ascii", "binary"};

    admin_u64(out, "maxbytes", cfg->mem_limit);
    admin_stat(out, "maxconns", "%d", cfg->max_conns);
    admin_stat(out, "tcpport", "%d", srv->tcp_port);
    admin_stat(out, "udpport", "%d", cfg->udp_port);
    admin_stat(out, "inter", "%s", cfg->listen ? cfg->listen : "NULL");
    admin_stat(out, "verbosity", "%d", log_get_verbosity());
    admin_stat(out, "evictions", "%s", "off");
    admin_stat(out, "domain_socket", "%s", cfg->unix_socket ? cfg->unix_socket : "NULL");
    admin_stat(out, "umask", "%o", (unsigned)cfg->unix_mask);
    admin_stat(out, "shutdown_command", "%s", cfg->shutdown_enabled ? "yes" : "no");
    admin_stat(out, "num_threads", "%d", cfg->threads);
    admin_stat(out, "stat_key_prefix", "%c", cfg->prefix_delimiter);
    admin_stat(out, "detail_enabled", "%s", stats_prefix_enabled(srv->prefix) ? "yes" : "no");
    admin_stat(out, "reqs_per_event", "%d", cfg->reqs_per_event);
    admin_stat(out, "cas_enabled", "%s", cfg->use_cas ? "yes" : "no");
    admin_stat(out, "tcp_backlog", "%d", cfg->backlog);
    admin_stat(out, "binding_protocol", "%s", protos[cfg->proto]);
    admin_stat(out, "auth_enabled_sasl", "%s", cfg->sasl ? "yes" : "no");
    admin_stat(out, "auth_enabled_ascii", "%s", cfg->auth_file ? cfg->auth_file : "no");
    admin_u64(out, "item_size_max", cfg->max_item_size);
    admin_stat(out, "flush_enabled", "%s", cfg->flush_enabled ? "yes" : "no");
    admin_stat(out, "idle_timeout", "%d", cfg->idle_timeout);
    admin_stat(out, "node_name", "%s", cfg->name);
    admin_node_id(srv, out);
    admin_stat(out, "data_dir", "%s", cfg->data_dir);
    admin_stat(out, "sync", "%s", store_sync_name(cfg->sync));
    admin_stat(out, "sync_interval_ms", "%u", cfg->sync_interval_ms);
    admin_stat(out, "engine", "%s", cfg->engine == STORE_KIND_MEM ? "memory" : "bdb");
    admin_stat(out, "max_siblings", "%d", cfg->max_siblings);
    /* The grace in force: a cluster raises it (doc/replication.txt 10). */
    admin_stat(out, "tombstone_grace", "%u", coord_tombstone_grace(srv->co));
    admin_stat(out, "prune_keep", "%d", cfg->prune_keep);
    admin_stat(out, "peer_listen", "%s", cfg->peer_listen ? cfg->peer_listen : "NULL");
    admin_u64(out, "peers", cfg->npeers);
    admin_u64(out, "replicas", srv->ring ? ring_n(srv->ring) : config_replicas(cfg));
    admin_u64(out, "read_quorum", config_read_quorum(cfg));
    admin_u64(out, "write_quorum", config_write_quorum(cfg));
    admin_u64(out, "partitions", cfg->partitions);
    admin_stat(out, "peer_timeout_ms", "%d", cfg->peer_timeout_ms);
    admin_u64(out, "hint_max_bytes", cfg->hint_max_bytes);
    admin_stat(out, "hint_max_age", "%d", cfg->hint_max_age);
    admin_stat(out, "hint_rate", "%d", cfg->hint_rate);
    if (srv->ring != NULL) {
        char hash[RING_HASH_STR_LEN];

        ring_hash_str(srv->ring, hash);
        admin_stat(out, "ring_hash", "%s", hash);
    }
}

static void
admin_store_emit(void *arg, const char *name, const char *value)
{
    admin_emit(arg, name, value);
}

static void
admin_stats_reset(struct server *srv)
{
    struct coord_stats cs;

    coord_get_stats(srv->co, &cs);
    atomic_store(&srv->total_items_base, cs.total_items);
    atomic_store(&srv->reclaimed_base, cs.reclaimed);
    for (int i = 0; i < srv->nworkers; i++) {
        thread_stats_reset(&srv->workers[i].stats);
    }
    atomic_store(&srv->total_conns_base, atomic_load(&srv->total_conns));
    atomic_store(&srv->rejected_conns_base, atomic_load(&srv->rejected_conns));
    stats_prefix_clear(srv->prefix);
    coord_reset_stats(srv->co);
}

/* A reply that is not a stats listing: a text line, or in binary a bare
 * status (success: the terminator packet, as memcached answers). */
static void
admin_line(const struct admin_out *ao, const char *line, uint16_t bin_status)
{
    if (!admin_binary(ao)) {
        text_encode_line(ao->buf, line);
    } else if (bin_status == BIN_STATUS_SUCCESS) {
        bin_encode_stat_end(ao->buf, ao->req);
    } else {
        bin_encode_status(ao->buf, ao->req, bin_status);
    }
}

static void
admin_detail_dump(struct server *srv, const struct admin_out *ao)
{
    struct buf dump;

    if (!admin_binary(ao)) {
        stats_prefix_dump(srv->prefix, ao->buf);
        return;
    }
    /* Binary: the whole dump as the value of one "detailed" stat. */
    buf_init(&dump);
    stats_prefix_dump(srv->prefix, &dump);
    buf_append(&dump, "", 1);
    admin_emit(ao, "detailed", dump.data);
    buf_deinit(&dump);
    admin_end(ao);
}

/* ------------------------------------------------------------ ring */

#define ADMIN_RING_USAGE "CLIENT_ERROR usage: ring [<key>]"

/* This node's version of a key: the cas of its local item, through the
 * coordinator's read-only inspection (as meta `me`: no access recorded,
 * nothing written). Writes "-" when there is none. */
static void
admin_local_version(struct worker *w, const char *key, size_t nkey, char *out, size_t outlen)
{
    struct req_key k = {key, nkey};
    struct request req;
    struct response resp;
    uint64_t ticket = 0;

    memset(&req, 0, sizeof(req));
    req.cmd = REQ_ME;
    req.proto = REQ_PROTO_META;
    req.keys = &k;
    req.nkeys = 1;
    if (coord_execute(w->ct, &req, 0, &resp, &ticket) == RC_OK && resp.status == RC_OK) {
        snprintf(out, outlen, "%" PRIu64, resp.cas);
    } else {
        snprintf(out, outlen, "-");
    }
}

static void
admin_ring_nodes(struct server *srv, struct buf *b)
{
    const struct ring *r = srv->ring;
    char line[256], hash[RING_HASH_STR_LEN];

    ring_hash_str(r, hash);
    snprintf(line, sizeof(line),
             "RING partitions %" PRIu32 " replicas %u read_quorum %u write_quorum %u hash %s",
             ring_q(r), ring_n(r), config_read_quorum(srv->cfg), config_write_quorum(srv->cfg),
             hash);
    text_encode_line(b, line);
    for (size_t i = 0; i < ring_nodes(r); i++) {
        const char *name = ring_node_name(r, i);

        snprintf(line, sizeof(line), "NODE %s partitions %" PRIu32 " %s", name,
                 ring_node_partitions(r, i), strcmp(name, srv->cfg->name) == 0 ? "self" : "peer");
        text_encode_line(b, line);
    }
}

static void
admin_ring_key(struct worker *w, const char *key, size_t nkey, struct buf *b)
{
    struct server *srv = w->srv;
    const struct ring *r = srv->ring;
    unsigned pref[RING_MAX_N];
    size_t npref = 0;
    uint32_t p = ring_partition(r, key, nkey);
    char line[REQ_KEY_MAX + 128], version[32];

    snprintf(line, sizeof(line), "KEY %.*s partition %" PRIu32, (int)nkey, key, p);
    text_encode_line(b, line);
    if (ring_preflist(r, p, pref, RING_MAX_N, &npref) != RC_OK) {
        npref = 0;
    }
    for (size_t i = 0; i < npref; i++) {
        const char *name = ring_node_name(r, pref[i]);

        if (strcmp(name, srv->cfg->name) == 0) {
            admin_local_version(w, key, nkey, version, sizeof(version));
        } else if (srv->cluster != NULL) {
            cluster_srv_peer_version(srv->cluster, pref[i], key, nkey, version, sizeof(version));
        } else {
            snprintf(version, sizeof(version), "-");
        }
        snprintf(line, sizeof(line), "REPLICA %zu %s version %s", i, name, version);
        text_encode_line(b, line);
    }
}

/* A key as the text protocol takes one: 1..REQ_KEY_MAX bytes, no blanks or
 * control characters. */
static bool
admin_key_ok(const char *key, size_t nkey)
{
    if (nkey == 0 || nkey > REQ_KEY_MAX) {
        return false;
    }
    for (size_t i = 0; i < nkey; i++) {
        if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

int
admin_ring(struct worker *w, const struct request *req, const char *args, size_t nargs,
           struct buf *out)
{
    struct admin_out ao = {out, req};
    struct buf text, *b = admin_binary(&ao) ? &text : out;

    if (w->srv->ring == NULL) {
        admin_line(&ao, "SERVER_ERROR no ring", BIN_STATUS_EINVAL);
        return RC_OK;
    }
    while (nargs > 0 && *args == ' ') {
        args++;
        nargs--;
    }
    while (nargs > 0 && args[nargs - 1] == ' ') {
        nargs--;
    }
    if (nargs > 0 && !admin_key_ok(args, nargs)) {
        admin_line(&ao, ADMIN_RING_USAGE, BIN_STATUS_EINVAL);
        return RC_OK;
    }
    if (b == &text) {
        buf_init(&text);
    }
    if (nargs == 0) {
        admin_ring_nodes(w->srv, b);
    } else {
        admin_ring_key(w, args, nargs, b);
    }
    if (b == out) {
        text_encode_end(out);
        return RC_OK;
    }
    /* Binary (stats ring): the whole text as the value of one stat. */
    buf_append(&text, "", 1);
    admin_emit(&ao, "ring", text.data);
    buf_deinit(&text);
    admin_end(&ao);
    return RC_OK;
}

static void
admin_stats(struct worker *w, const struct admin_out *ao)
{
    struct server *srv = w->srv;
    const char *a = ao->req->args;
    size_t n = ao->req->nargs;

#define ARG_IS(s) (n == sizeof(s) - 1 && memcmp(a, s, n) == 0)
    if (n == 0) {
        admin_stats_general(srv, ao);
    } else if (ARG_IS("settings")) {
        admin_stats_settings(srv, ao);
    } else if (ARG_IS("versions")) {
        admin_stats_versions(srv, ao);
    } else if (ARG_IS("cluster")) {
        if (srv->cluster != NULL) {
            cluster_srv_stats(srv->cluster, srv, admin_store_emit, (void *)ao);
        }
    } else if (ARG_IS("store")) {
        store_stats(srv->st, admin_store_emit, (void *)ao);
    } else if (ARG_IS("reset")) {
        admin_stats_reset(srv);
        admin_line(ao, "RESET", BIN_STATUS_SUCCESS);
        return;
    } else if (ARG_IS("detail on") || ARG_IS("detail off")) {
        stats_prefix_enable(srv->prefix, ARG_IS("detail on"));
        admin_line(ao, "OK", BIN_STATUS_SUCCESS);
        return;
    } else if (ARG_IS("ring") || (n > 4 && memcmp(a, "ring ", 5) == 0)) {
        admin_ring(w, ao->req, a + 4, n - 4, ao->buf);
        return;
    } else if (ARG_IS("detail dump")) {
        admin_detail_dump(srv, ao);
        return;
    } else if (n >= 6 && memcmp(a, "detail", 6) == 0) {
        admin_line(ao, "CLIENT_ERROR usage: stats detail on|off|dump", BIN_STATUS_EINVAL);
        return;
    } else if (ARG_IS("items") || ARG_IS("slabs") || ARG_IS("sizes")) {
        /* No slab classes: items live in the store (see `stats store`). */
    } else {
        admin_line(ao, "ERROR", BIN_STATUS_KEY_ENOENT);
        return;
    }
#undef ARG_IS
    admin_end(ao);
}

int
admin_handle(struct worker *w, const struct request *req, struct buf *out, bool *close_conn)
{
    struct server *srv = w->srv;

    struct admin_out ao = {out, req};

    *close_conn = false;
    switch (req->cmd) {
    case REQ_VERSION:
        if (req->proto == REQ_PROTO_BINARY) {
            return bin_encode_version(out, req, RC_VERSION_STRING);
        }
        return text_encode_line(out, "VERSION " RC_VERSION_STRING);
    case REQ_VERBOSITY:
        log_set_verbosity((int)(req->delta > 3 ? 3 : req->delta));
        return req->noreply ? RC_OK : text_encode_line(out, "OK");
    case REQ_SHUTDOWN:
        if (!srv->cfg->shutdown_enabled) {
            return text_encode_line(out, "ERROR: shutdown not enabled");
        }
        if (!(req->nargs == 0 || (req->nargs == 8 && memcmp(req->args, "graceful", 8) == 0))) {
            return text_encode_line(out, "CLIENT_ERROR invalid shutdown mode");
        }
        log_info("shutdown requested by a client");
        *close_conn = true;
        server_request_stop(srv);
        return RC_OK;
    case REQ_STATS:
        admin_stats(w, &ao);
        return RC_OK;
    case REQ_RING:
        return admin_ring(w, req, req->args, req->nargs, out);
    case REQ_MEMBERS:
        if (req->nargs != 0) {
            return text_encode_line(out, "CLIENT_ERROR usage: members");
        }
        if (w->srv->cluster == NULL) {
            return text_encode_line(out, "END"); /* a single node has no members */
        }
        cluster_srv_members(w->srv->cluster, out);
        return RC_OK;
    default:
        return text_encode_line(out, "ERROR");
    }
}
