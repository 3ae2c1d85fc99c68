/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peerpoke.c - a fake cluster member for t/cluster-refusals.t: it joins a
 * running daemon's cluster under a configured peer's name, sends that daemon
 * one PUT of a chosen kind and prints what came back. Built by `make check`,
 * never installed.
 *
 *   peerpoke --name n2 --secret-file F --peer n1=127.0.0.1:7001 \
 *            --nodes n1,n2,n3 --partitions 64 --replicas 1 CASE
 *
 * It builds the same ring as the daemon (kv/ring over the same names, Q and
 * N) and announces its hash as the daemon does (peer_net_ring_digest), so
 * the handshake's ring comparison passes; it dials through its own threaded
 * peer_net (no listener), waits up to --wait-ms for the peer to be up, then
 * sends one PUT (doc/peer-protocol.txt 8.1) whose key it picks from the
 * ring ("peerpoke-<case>-<i>", the first that fits):
 *
 *   wrong-partition  a key the peer replicates, partition field off by one
 *   not-replica      a key whose preference list leaves the peer out
 *   hint-self        HINT, owner = the peer's own target id, for a key it
 *                    replicates (cluster_srv.c cs_target_id)
 *   good             a key the peer replicates, a correct plain PUT
 *
 * The record is a real format 3 object (one live sibling "--value", dotted
 * by this tool's random node id), so object_load and a merge accept it.
 *
 * Output, one line on stdout: "OK result=<n> key=<k>" for a PUT_ACK,
 * "ERROR <code name> key=<k>" for an ERROR reply, "FAIL <why>" otherwise.
 * Exit 0 with a reply, 1 without one, 2 on a usage error.
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/mac.h"
#include "base/status.h"
#include "base/util.h"
#include "cluster/peer_codec.h"
#include "cluster/peer_net.h"
#include "kv/object.h"
#include "kv/ring.h"

#define POKE_MAX_NODES 16
#define POKE_KEY_TRIES 100000

struct poke_opts {
    const char *name;
    const char *secret_file;
    char peer_name[PEER_NAME_MAX + 1];
    const char *peer_addr;
    const char *nodes[POKE_MAX_NODES];
    size_t nnodes;
    char nodes_buf[1024];
    uint32_t partitions;
    unsigned replicas;
    unsigned wait_ms;
    unsigned timeout_ms;
    const char *value;
    const char *kase;
};

/* What the completion callback saw; read after peer_completions_drain. */
struct poke_result {
    bool done;
    int exit_code;
    char line[256];
};

static int
usage(const char *why)
{
    fprintf(stderr,
            "peerpoke: %s\n"
            "usage: peerpoke --name NAME --secret-file FILE --peer NAME=HOST:PORT\n"
            "                --nodes A,B,... [--partitions Q] [--replicas N] [--value V]\n"
            "                [--wait-ms MS] [--timeout-ms MS] CASE\n"
            "  CASE: wrong-partition | not-replica | hint-self | good\n",
            why);
    return 2;
}

static bool
parse_uint(const char *s, unsigned max, unsigned *out)
{
    uint32_t v;

    if (util_parse_u32(s, strlen(s), &v) != RC_OK || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static int
parse_args(int argc, char **argv, struct poke_opts *o)
{
    unsigned q = RING_DEFAULT_Q;

    memset(o, 0, sizeof(*o));
    o->replicas = 3; /* the daemon's defaults */
    o->wait_ms = 5000;
    o->timeout_ms = 2000;
    o->value = "poked";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (a[0] != '-') {
            if (o->kase != NULL) {
                return usage("more than one CASE");
            }
            o->kase = a;
            continue;
        }
        if (v == NULL) {
            return usage("an option lacks its value");
        }
        i++;
        if (strcmp(a, "--name") == 0) {
            o->name = v;
        } else if (strcmp(a, "--secret-file") == 0) {
            o->secret_file = v;
        } else if (strcmp(a, "--peer") == 0) {
            const char *eq = strchr(v, '=');

            if (eq == NULL || eq == v || (size_t)(eq - v) > PEER_NAME_MAX || eq[1] == '\0') {
                return usage("--peer wants NAME=HOST:PORT");
            }
            snprintf(o->peer_name, sizeof(o->peer_name), "%.*s", (int)(eq - v), v);
            o->peer_addr = eq + 1;
        } else if (strcmp(a, "--nodes") == 0) {
            char *save = NULL;

            snprintf(o->nodes_buf, sizeof(o->nodes_buf), "%s", v);
            o->nnodes = 0;
            for (char *t = strtok_r(o->nodes_buf, ",", &save); t != NULL;
                 t = strtok_r(NULL, ",", &save)) {
                if (o->nnodes == POKE_MAX_NODES) {
                    return usage("too many --nodes");
                }
                o->nodes[o->nnodes++] = t;
            }
        } else if (strcmp(a, "--partitions") == 0) {
            if (!parse_uint(v, RING_MAX_Q, &q)) {
                return usage("bad --partitions");
            }
        } else if (strcmp(a, "--replicas") == 0) {
            if (!parse_uint(v, RING_MAX_N, &o->replicas)) {
                return usage("bad --replicas");
            }
        } else if (strcmp(a, "--wait-ms") == 0) {
            if (!parse_uint(v, 600000, &o->wait_ms)) {
                return usage("bad --wait-ms");
            }
        } else if (strcmp(a, "--timeout-ms") == 0) {
            if (!parse_uint(v, 600000, &o->timeout_ms) || o->timeout_ms == 0) {
                return usage("bad --timeout-ms");
            }
        } else if (strcmp(a, "--value") == 0) {
            o->value = v;
        } else {
            return usage("unknown option");
        }
    }
    o->partitions = q;
    if (o->name == NULL || o->secret_file == NULL || o->peer_addr == NULL || o->nnodes == 0 ||
        o->kase == NULL) {
        return usage("--name, --secret-file, --peer, --nodes and CASE are required");
    }
    if (strcmp(o->kase, "wrong-partition") != 0 && strcmp(o->kase, "not-replica") != 0 &&
        strcmp(o->kase, "hint-self") != 0 && strcmp(o->kase, "good") != 0) {
        return usage("unknown CASE");
    }
    return 0;
}

/* The secret as the daemon reads it: the file's first line, trailing white
 * space removed (options_cluster.c). */
static int
read_secret(const char *path, char *out, size_t cap, size_t *n)
{
    FILE *fp = fopen(path, "r");
    size_t len;

    if (fp == NULL || fgets(out, (int)cap, fp) == NULL) {
        if (fp != NULL) {
            fclose(fp);
        }
        return RC_EIO;
    }
    fclose(fp);
    len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' ' ||
                       out[len - 1] == '\t')) {
        len--;
    }
    *n = len;
    return len >= PEER_SECRET_MIN ? RC_OK : RC_EINVAL;
}

/* The first "peerpoke-<case>-<i>" key whose preference list holds (or, with
 * want_member false, leaves out) node `target`. */
static int
pick_key(const struct ring *r, const char *kase, unsigned target, bool want_member, char *key,
         size_t cap)
{
    unsigned pref[RING_MAX_N];
    size_t n;

    for (unsigned i = 0; i < POKE_KEY_TRIES; i++) {
        bool member = false;

        snprintf(key, cap, "peerpoke-%s-%u", kase, i);
        if (ring_preflist(r, ring_partition(r, key, strlen(key)), pref, RING_MAX_N, &n) != RC_OK) {
            return RC_EINTERNAL;
        }
        for (size_t j = 0; j < n; j++) {
            member = member || pref[j] == target;
        }
        if (member == want_member) {
            return RC_OK;
        }
    }
    return RC_ENOTFOUND;
}

/* A format 3 record of one live sibling `value`, dotted (self, 1). */
static int
make_record(const uint8_t self_id[PEER_NODE_ID_SIZE], const char *value, struct buf *out)
{
    struct object o;
    struct dvv_actor self;
    int64_t now_ms = util_now_ms();
    struct object_payload p = {false, 0, now_ms, value, strlen(value)};
    bool pruned;
    int rc;

    memcpy(self.id, self_id, sizeof(self.id));
    object_init(&o);
    rc = object_update(&o, NULL, true, &p, &self, 1, now_ms, 0, &pruned);
    if (rc == RC_OK) {
        o.meta.exp_stamp_ms = now_ms;
        o.meta.exp_node = self;
        rc = object_encode(&o, 0, out); /* the receiver derives its own cas */
    }
    object_deinit(&o);
    return rc;
}

static void
on_reply(void *arg, const struct peer_reply *r)
{
    struct poke_result *res = arg;
    struct peer_put_ack ack;

    res->done = true;
    res->exit_code = 0;
    if (r->status == RC_OK && peer_put_ack_decode(&r->frame, &ack, NULL) == RC_OK) {
        snprintf(res->line, sizeof(res->line), "OK result=%u", (unsigned)ack.result);
    } else if (r->status == RC_OK) {
        snprintf(res->line, sizeof(res->line), "FAIL undecodable PUT_ACK");
        res->exit_code = 1;
    } else if (r->code != PEER_OK) {
        snprintf(res->line, sizeof(res->line), "ERROR %s", peer_code_name(r->code));
    } else {
        snprintf(res->line, sizeof(res->line), "FAIL %s",
                 r->why != NULL ? r->why : rc_strerror(r->status));
        res->exit_code = 1;
    }
}

/* Build the PUT for the case: key, partition, flags and owner. */
static int
build_put(const struct poke_opts *o, const struct ring *ring, unsigned target, const char *secret,
          size_t nsecret, char *key, size_t cap, struct peer_put *m)
{
    bool want_member = strcmp(o->kase, "not-replica") != 0;
    int rc = pick_key(ring, o->kase, target, want_member, key, cap);

    if (rc != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    m->key = key;
    m->nkey = strlen(key);
    m->partition = ring_partition(ring, key, m->nkey);
    if (strcmp(o->kase, "wrong-partition") == 0) {
        m->partition = o->partitions > 1 ? (m->partition + 1) % o->partitions : 1;
    } else if (strcmp(o->kase, "hint-self") == 0) {
        /* cluster_srv.c cs_target_id: HMAC-SHA-256(secret, label || name)[0..16) */
        static const char label[] = "ringcached node name v1";
        struct mac_part parts[2] = {{label, sizeof(label) - 1},
                                    {o->peer_name, strlen(o->peer_name)}};
        uint8_t mac[MAC_SHA256_SIZE];

        rc = mac_hmac_sha256(secret, nsecret, parts, 2, mac);
        if (rc != RC_OK) {
            return rc;
        }
        m->flags = PEER_PUT_HINT;
        memcpy(m->owner, mac, sizeof(m->owner));
    }
    return RC_OK;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Wait for the peer to be up, send the frame, wait for its completion.
 * True when res holds the outcome; false after printing why not. */
static bool
send_put(const struct poke_opts *o, struct peer_net *net, struct peer_completions *q,
         const struct buf *frame, struct poke_result *res)
{
    uint64_t until = util_mono_ms() + o->wait_ms;

    while (!peer_net_healthy(net, 0) && util_mono_ms() < until) {
        sleep_ms(10);
    }
    if (!peer_net_healthy(net, 0)) {
        printf("FAIL %s is not up after %u ms\n", o->peer_name, o->wait_ms);
        return false;
    }
    if (peer_net_request(net, 0, frame->data, frame->len, o->timeout_ms, on_reply, res, q) !=
        RC_OK) {
        printf("FAIL the request was not taken\n");
        return false;
    }
    until = util_mono_ms() + o->timeout_ms + 1000;
    while (peer_completions_drain(q) == 0 && !res->done && util_mono_ms() < until) {
        sleep_ms(5);
    }
    if (!res->done) {
        printf("FAIL no completion\n");
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    struct poke_opts o;
    struct ring *ring = NULL;
    struct peer_net *net = NULL;
    struct peer_completions *q = NULL;
    struct peer_net_peer_config peer;
    struct peer_net_config nc;
    struct poke_result res = {false, 1, ""};
    struct peer_put m;
    struct buf rec, frame;
    char secret[512], key[64];
    size_t nsecret, self, target;
    int code = parse_args(argc, argv, &o);

    if (code != 0) {
        return code;
    }
    signal(SIGPIPE, SIG_IGN);
    buf_init(&rec);
    buf_init(&frame);
    memset(&nc, 0, sizeof(nc));
    if (read_secret(o.secret_file, secret, sizeof(secret), &nsecret) != RC_OK) {
        code = usage("cannot read a secret of 16 bytes or more from --secret-file");
        goto out;
    }
    if (ring_create(o.partitions, o.replicas, o.nodes, o.nnodes, &ring) != RC_OK ||
        ring_node_index(ring, o.name, strlen(o.name), &self) != RC_OK ||
        ring_node_index(ring, o.peer_name, strlen(o.peer_name), &target) != RC_OK) {
        code = usage("no ring: --nodes must name --name and the --peer, Q and N must fit");
        goto out;
    }
    code = 1;
    if (mac_random(nc.node_id, sizeof(nc.node_id)) != RC_OK) {
        printf("FAIL no random node id\n");
        goto out;
    }
    nc.node_id[0] |= 1; /* never all zero */
    nc.name = o.name;
    peer_net_ring_digest(ring_hash(ring), nc.ring_hash);
    nc.partitions = ring_q(ring);
    nc.replicas = (uint16_t)ring_n_requested(ring);
    nc.secret = secret;
    nc.nsecret = nsecret;
    peer.name = o.peer_name;
    peer.addr = o.peer_addr;
    nc.peers = &peer;
    nc.npeers = 1;
    nc.connections = 1;
    nc.timeout_ms = o.timeout_ms;
    if (build_put(&o, ring, (unsigned)target, secret, nsecret, key, sizeof(key), &m) != RC_OK) {
        printf("FAIL cannot pick a key for %s in this ring\n", o.kase);
        goto out;
    }
    if (make_record(nc.node_id, o.value, &rec) != RC_OK) {
        printf("FAIL cannot build the record\n");
        goto out;
    }
    m.record = rec.data;
    m.nrecord = rec.len;
    if (peer_put_encode(PEER_VERSION_MAX, 1, &m, &frame) != RC_OK) {
        printf("FAIL cannot encode the PUT\n");
        goto out;
    }
    if (peer_net_create(&nc, &net) != RC_OK || peer_completions_create(NULL, NULL, &q) != RC_OK ||
        peer_net_start(net) != RC_OK) {
        printf("FAIL cannot start the peer net\n");
        goto out;
    }
    if (send_put(&o, net, q, &frame, &res)) {
        printf("%s%s%s\n", res.line, res.exit_code == 0 ? " key=" : "",
               res.exit_code == 0 ? key : "");
        code = res.exit_code;
    }
out:
    fflush(stdout);
    peer_net_destroy(net);
    peer_completions_destroy(q);
    ring_destroy(ring);
    buf_deinit(&frame);
    buf_deinit(&rec);
    memset(secret, 0, sizeof(secret));
    return code;
}
