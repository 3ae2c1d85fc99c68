/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ring.h - partitioning: Dynamo's strategy 3 (DeCandia et al., SOSP 2007,
 * section 6.2). The key space is cut into Q equal, fixed partitions; each
 * partition is owned by one node; its preference list is the owner and then
 * the next distinct owners walking the partitions forward, N distinct nodes
 * in all. Pure: no I/O, no globals, no threads. A built ring is immutable,
 * so any number of threads may read it at once without locking.
 *
 * Keys to partitions. The partition of a key is the top log2(Q) bits of
 * hash_key64(key) (FNV-1a 64 and the fmix64 finaliser, base/hash.h): so
 * partition p is the arc [p * 2^64/Q, (p+1) * 2^64/Q) of the hash space,
 * the same on every node and platform, and doubling Q splits partition p
 * into 2p and 2p+1. Q = 1 puts every key in partition 0. The mapping is
 * frozen by a known-answer test: changing it moves every stored key.
 *
 * Nodes. A ring is built from Q (a power of two, 1..RING_MAX_Q), N (the
 * replicas, 1..RING_MAX_N, capped at the number of nodes) and the node
 * names (1..RING_MAX_NODES of them, unique, each 1..RING_NAME_MAX bytes of
 * printable ASCII without spaces, 0x21..0x7e, and no more nodes than
 * partitions). The builder sorts the names bytewise (memcmp, a proper
 * prefix first); node index i means the i-th name in that order, on every
 * node, whatever order the names were given in.
 *
 * The claim (which node owns which partition): a capacity-bounded
 * rendezvous matching. Every (node, partition) pair has a score
 *     score(node, p) = fmix64(hash_key64(name) ^ fmix64(p * G + C))
 * (G = 0x9e3779b97f4a7c15, C = 0x72696e67636c6169; fmix64 as in
 * base/hash.c). Node capacities: with Q = k * b + e for k nodes, every
 * node may own b partitions, and e of them b + 1 (the first e to reach b).
 * Then, in descending score order (ties: lower partition, then lower node
 * index), each pair is taken if its partition is still unowned and its node
 * still has capacity. The result depends only on Q and the set of names.
 * Properties:
 *   - balance: every node owns floor(Q/k) or ceil(Q/k) partitions, exactly;
 *   - determinism: a function of (Q, set of names), integer arithmetic only;
 *   - movement: a node's score for a partition does not depend on the other
 *     nodes, so adding a node mostly moves only what the new node takes:
 *     the others shrink from their lowest-scored claims, and a partition a
 *     node gives up is taken by the new node or cascades to another node
 *     that lost one. Measured (t/unit/test_ring.c, names "node-<i>", adding
 *     one node to k nodes, Q = 1024, N = 3): owners moved / the minimum
 *     possible (the new node's share) is 1.04 for 2 -> 3, 1.07 for 5 -> 6,
 *     1.16 for 10 -> 11, 1.33 for 19 -> 20, 1.45 for 20 -> 21 (71 of 1024
 *     partitions); 1.12 over all steps 1..20 -> +1. The excess (the
 *     cascade) grows like sqrt(Q) in partitions, so it shrinks relative to
 *     the share as Q grows: at Q = 16384, 1.07 for 10 -> 11 and 1.15 for
 *     20 -> 21; at Q = 256 up to 2x for 20+ nodes. Replica copies moved
 *     (partition, node pairs newly in a preference list) are within the
 *     same factor of the new node's N*Q/(k+1). Removing a node moves
 *     exactly what adding it moved. Where the new name sorts is irrelevant.
 *     Round-robin striping of the sorted names, by contrast, moves about
 *     Q * (1 - 1/(k+1)) owners: nearly everything.
 *   - preference lists: N distinct nodes for every partition by
 *     construction (the walk skips repeats). Owners are scattered like
 *     random picks, so runs of one owner are short and each node's replica
 *     load (partitions whose preference list holds it) is close to N*Q/k:
 *     measured at Q = 1024, N = 3, within 8% of the ideal for 3..20
 *     nodes (k = 5: 591..653 for 614; k = 20: 146..163 for 154). Only
 *     ownership is exactly balanced; replica load is balanced statistically.
 * Building costs O(Q * k) score evaluations plus the re-keying of
 * partitions whose best node filled up: 75 ms for Q = 65536 and 256 nodes
 * (-O2), microseconds at the defaults.
 * Preference lists are computed once when the ring is built; lookups are
 * array reads.
 *
 * Ring hash: hash_key64 of the canonical encoding "ringcached-ring-v1",
 * be32 Q, be32 N as requested, be32 k, each sorted name (be16 length and
 * bytes), then each partition's owner index (be16). Two nodes whose hashes
 * match agree on Q, N, the members and the whole assignment; ring_hash_str
 * prints it as 16 lowercase hex digits for logs and the admin command.
 *
 * Sloppy quorum: ring_sloppy gives the nodes a write goes to when some are
 * down: each healthy member of the preference list, and for each unhealthy
 * member (in preference-list order) the next healthy node further along the
 * ring (the walk from the partition, past the preference list) not already
 * chosen, tagged with the member it stands in for, so the write carries a
 * hint. Fewer healthy nodes than N give fewer targets.
 */
#ifndef RC_KV_RING_H
#define RC_KV_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAX_Q        65536u /* partitions: a power of two up to this */
#define RING_DEFAULT_Q    1024u
#define RING_MAX_NODES    256u
#define RING_MAX_N        16u /* replicas */
#define RING_NAME_MAX     64u /* bytes in a node name */
#define RING_HASH_STR_LEN 17u /* 16 hex digits and a NUL */

struct ring; /* opaque, immutable once built */

/* One node a write goes to (ring_sloppy). */
struct ring_target {
    unsigned node;  /* node index to send to */
    unsigned owner; /* the preference-list member it stands for (== node if not a fallback) */
    bool fallback;  /* true: node holds the replica for owner, with a hint */
};

/* Build a ring (see above). names: nnames NUL-terminated strings in any
 * order, copied. RC_EINVAL for Q not a power of two in 1..RING_MAX_Q, N
 * outside 1..RING_MAX_N, no names, more than RING_MAX_NODES or more than Q
 * names, a name empty, longer than RING_NAME_MAX or with a byte outside
 * 0x21..0x7e, or duplicate names; RC_ENOMEM. *out is NULL on failure. */
int ring_create(uint32_t q, unsigned n, const char *const *names, size_t nnames, struct ring **out);
void ring_destroy(struct ring *r); /* NULL is fine */

uint32_t ring_q(const struct ring *r);
unsigned ring_n(const struct ring *r);           /* effective: min(N, nodes) */
unsigned ring_n_requested(const struct ring *r); /* as given to ring_create */
size_t ring_nodes(const struct ring *r);
/* Node i's name (sorted order), NUL-terminated, valid while r lives. */
const char *ring_node_name(const struct ring *r, size_t i);
/* The index of a name: RC_OK or RC_ENOTFOUND. */
int ring_node_index(const struct ring *r, const char *name, size_t len, size_t *idx);
/* Partitions node i owns: floor(Q/k) or ceil(Q/k). */
uint32_t ring_node_partitions(const struct ring *r, size_t i);

/* The partition of a key in a ring of q partitions (q a power of two):
 * the top log2(q) bits of hash_key64(key). Needs no ring. */
uint32_t ring_key_partition(uint32_t q, const void *key, size_t nkey);
uint32_t ring_partition(const struct ring *r, const void *key, size_t nkey);
/* Owner (node index) of partition p < Q. */
unsigned ring_owner(const struct ring *r, uint32_t p);
/* Preference list of partition p: ring_n(r) distinct node indices, owner
 * first, into out[0..cap). RC_EINVAL if p >= Q or cap < ring_n(r). */
int ring_preflist(const struct ring *r, uint32_t p, unsigned *out, size_t cap, size_t *n);

/* Write targets for partition p under the health map healthy[0..nodes)
 * (true = reachable), in preference-list order, each unhealthy member
 * replaced by its fallback (see above) or dropped when none is left; at
 * most ring_n(r) targets. RC_EINVAL if p >= Q or cap < ring_n(r). */
int ring_sloppy(const struct ring *r, uint32_t p, const bool *healthy, struct ring_target *out,
                size_t cap, size_t *n);

uint64_t ring_hash(const struct ring *r);
void ring_hash_str(const struct ring *r, char out[RING_HASH_STR_LEN]);

/* Difference between two rings of the same Q, by node name (indices may
 * differ): owners_moved = partitions whose owner differs; replicas_moved =
 * (partition, node) pairs in b's preference lists that are not in a's: the
 * partition copies that must be transferred to go from a to b. RC_EINVAL
 * when the Qs differ. */
int ring_diff(const struct ring *a, const struct ring *b, size_t *owners_moved,
              size_t *replicas_moved);

#endif
