/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cluster_srv.h - the daemon's side of replication (doc/replication.txt):
 * it owns the peer transport (cluster/peer_net), answers peers' PUT, GET
 * and FLUSH against the local store through the coordinator's replica
 * calls, gives every worker a coord_cluster whose transport is the peer
 * net, replays hints, and reports members and cluster figures.
 *
 * Threads: the peer handlers run on the peer thread (with their own
 * coord_thread); a worker sends its requests on its own attached net (one
 * connection per peer on the worker's event base) and they complete through
 * its own completion queue, drained on that base; hint replay runs on a
 * small thread of its own. Nothing here exists on a single node.
 */
#ifndef RC_SERVER_CLUSTER_SRV_H
#define RC_SERVER_CLUSTER_SRV_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

struct server;
struct worker;
struct cluster_srv;

/* With --peers: create the transport (binds --peer-listen) and derive the
 * shared context key. srv->ring must exist. */
int cluster_srv_create(struct server *srv, struct cluster_srv **out);
/* Start the peer thread and the hint replayer. */
int cluster_srv_start(struct cluster_srv *cs);
/* Stop the peer traffic (every request in flight fails, so the workers'
 * coordinators can finish) and the replayer. Idempotent. */
void cluster_srv_stop(struct cluster_srv *cs);
void cluster_srv_destroy(struct cluster_srv *cs); /* NULL ok */

/* Per worker, before its loop starts / after it ends: the completion queue
 * and event, the attached net (started by cluster_srv_start, stopped by
 * deinit) and the coord_cluster. */
int cluster_srv_worker_init(struct cluster_srv *cs, struct worker *w);
void cluster_srv_worker_deinit(struct worker *w);

/* flush_all reaches the whole cluster: send FLUSH (delay as the client
 * gave it) to every peer from worker w; done(arg, status, errmsg) runs on
 * w's thread once every peer answered or failed (RC_OK only if all did;
 * errmsg is static). The caller has flushed this node already. */
typedef void (*cluster_flush_done_fn)(void *arg, int status, const char *errmsg);
int cluster_srv_flush(struct worker *w, int64_t delay, cluster_flush_done_fn done, void *arg);

/* `ring <key>`: the version (cas) node `node` (a ring index, not this
 * node) holds for key, asked with a GET and waited for up to the peer
 * timeout (an operator's command: the worker waits). out: "-" when it
 * holds none, "?" when it did not answer. */
void cluster_srv_peer_version(struct cluster_srv *cs, unsigned node, const void *key, size_t nkey,
                              char *out, size_t outsz);

/* Admin: `members` lines and `stats cluster` figures. */
void cluster_srv_members(struct cluster_srv *cs, struct buf *out);
typedef void (*cluster_stat_fn)(void *arg, const char *name, const char *value);
void cluster_srv_stats(struct cluster_srv *cs, struct server *srv, cluster_stat_fn emit, void *arg);

#endif
