/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dvv.h - the causal model of one key: a Dotted Version Vector Set
 * (DVVSet, Almeida, Baquero, Goncalves, Preguica and Fonte), with server
 * nodes as actors. Pure: no I/O, no globals, no threads. See
 * doc/versioning-model.txt for the model, the byte layouts and the bounds.
 *
 * A set holds, per actor that ever coordinated a write of the key, one entry
 * (actor, counter n, stamp, values): the actor's events 1..n are all known,
 * and the entry's k values are the live siblings whose dots are (actor, n),
 * (actor, n-1), ... (actor, n-k+1), newest first. Events n-k and below are
 * known and obsolete. Besides the entries, a set may hold anonymous values,
 * which have no dot and are tied to the whole clock: dvv_new makes one for a
 * client write, which dvv_update then gives a dot. Replica states made by
 * dvv_update and dvv_sync hold none unless an input did.
 *
 * Ownership. A struct dvv_set is one heap block (header, entry array, value
 * reference array) owned by whoever received it from a constructor, freed by
 * dvv_destroy (NULL is fine). Values are NOT copied: a set holds (ptr, len)
 * references to bytes the caller owns, which must stay valid and unchanged
 * as long as the set or any set derived from it (dvv_sync, dvv_update) is
 * alive. dvv_decode's values point into the decoded input. Inputs are never
 * modified; every operation builds a new set. A struct dvv_vector is embedded
 * by its owner (dvv_vector_init/deinit) and owns its entry array.
 *
 * Invariants (asserted, and enforced by the decoders): entries sorted by
 * actor id (memcmp), unique, counter >= 1, values per entry <= counter;
 * anonymous values sorted by (length, bytes) and unique; at most
 * DVV_MAX_ENTRIES entries and DVV_MAX_VALUES values in all. So equal states
 * encode to identical bytes.
 *
 * Pruning rule. dvv_update alone prunes, and only when its result would
 * hold more than DVV_PRUNE_TRIGGER entries (a compile-time bound that the
 * few replicas of a key never reach): it then drops entries with no live
 * value, never the coordinator's own, oldest stamp first (ties: lower actor
 * id first), until `keep` entries remain or none is droppable. A set or
 * vector that lost an entry carries the pruned mark, and so does everything
 * derived from it. A pruned clock may know more than it shows, so:
 *   - "b descends a" is answered only when provable: a is not pruned (a
 *     pruned a with the same entries as an unpruned b is strictly newer);
 *     otherwise the answer is DVV_CONCURRENT, never a false descends;
 *   - pruning never loses a value: it can only keep as siblings versions
 *     that the dropped knowledge would have discarded, and those sets are
 *     marked, so a false conflict is never silent.
 */
#ifndef RC_KV_DVV_H
#define RC_KV_DVV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define DVV_ACTOR_SIZE        16
#define DVV_MAX_ENTRIES       256  /* entries in any set or vector */
#define DVV_MAX_VALUES        4096 /* values (siblings) in any set */
#define DVV_PRUNE_TRIGGER     16   /* dvv_update prunes above this many entries */
#define DVV_PRUNE_KEEP        12   /* default entries kept by a prune */
#define DVV_TOKEN_MAX_ENTRIES 16   /* entries a context token may carry */
/* Encoded vector of n entries: 5-byte header + 24 bytes an entry. */
#define DVV_VECTOR_SIZE(n) (5u + 24u * (unsigned)(n))
/* Unpadded base64 length of b bytes. */
#define DVV_TOKEN_LEN(b) ((4u * (unsigned)(b) + 2u) / 3u)
/* Longest token: 519 characters. */
#define DVV_TOKEN_MAX DVV_TOKEN_LEN(DVV_VECTOR_SIZE(DVV_TOKEN_MAX_ENTRIES))

#define DVV_SET_MAGIC    0xd5u /* first byte of an encoded set */
#define DVV_VECTOR_MAGIC 0xdcu /* first byte of an encoded vector (tokens) */
#define DVV_FORMAT_V1    1u
#define DVV_F_PRUNED     0x01u /* flags byte: some knowledge was dropped */

/* A node id: fixed size, compared bytewise. */
struct dvv_actor {
    uint8_t id[DVV_ACTOR_SIZE];
};

/* A reference to caller-owned bytes (see Ownership above). */
struct dvv_value {
    const void *data;
    size_t len;
};

/* One live sibling as dvv_values reports it. */
struct dvv_sibling {
    struct dvv_value value; /* borrowed, as in the set */
    struct dvv_actor actor; /* dot: zero for anonymous values */
    uint64_t counter;       /* dot: 0 for anonymous values */
    bool anonymous;
};

/* A version vector: the causal context a client reads and writes back. */
struct dvv_vector_entry {
    struct dvv_actor actor;
    uint64_t counter; /* >= 1 */
};
struct dvv_vector {
    struct dvv_vector_entry *entries; /* owned; sorted by actor, unique */
    size_t n;
    bool pruned;
};

enum dvv_order {
    DVV_EQUAL,      /* same causal history */
    DVV_LESS,       /* first is strictly older: the second descends it */
    DVV_GREATER,    /* first strictly descends the second */
    DVV_CONCURRENT, /* neither, or not provable because of pruning */
};

struct dvv_set; /* opaque */

/* A value with no causal history (a blind client write), as an anonymous
 * value. v is borrowed. */
int dvv_new(const struct dvv_value *v, struct dvv_set **out);
/* A client write carrying ctx (normally a dvv_join result): ctx's entries
 * with no live values, v anonymous, ctx's pruned mark. */
int dvv_new_with_context(const struct dvv_vector *ctx, const struct dvv_value *v,
                         struct dvv_set **out);
void dvv_destroy(struct dvv_set *s);

/* Merge two replicas' states: per actor, the larger counter and the values
 * whose dots neither side knows to be obsolete; anonymous values of a side
 * survive unless the other side provably descends it. Commutative,
 * associative and idempotent on states without anonymous values (every
 * replica state); with them, commutative and idempotent. RC_ETOOLARGE when
 * the merge would exceed DVV_MAX_ENTRIES or DVV_MAX_VALUES. */
int dvv_sync(const struct dvv_set *a, const struct dvv_set *b, struct dvv_set **out);

/* The coordinator `self` makes a new version: client must come from
 * dvv_new/dvv_new_with_context (one anonymous value, no entry values,
 * else RC_EINVAL); local is the coordinator's state, NULL when absent.
 * The result knows both; local's values covered by the client's context are
 * dropped, the others kept as siblings; the client's value gets the dot
 * (self, n+1). Self's entry is stamped max(stamp, 1 + the highest stamp in
 * the merged history): `stamp` is the caller's clock (e.g. milliseconds),
 * used only to find the oldest entries when pruning. Then the pruning rule
 * applies with `keep` (0 = DVV_PRUNE_KEEP, at most DVV_PRUNE_TRIGGER).
 * Anonymous values of local survive unless the context provably descends
 * local's clock (the design's rule: they have no dot to cover). */
int dvv_update(const struct dvv_set *client, const struct dvv_set *local,
               const struct dvv_actor *self, uint64_t stamp, unsigned keep, struct dvv_set **out);

/* The context covering every current value: per actor, its counter. out is
 * initialised by the call (deinit it in any case). */
int dvv_join(const struct dvv_set *s, struct dvv_vector *out);

/* Live siblings: entry values by actor, newest first, then anonymous ones.
 * cap must be >= dvv_size(s) (RC_EINVAL otherwise). */
int dvv_values(const struct dvv_set *s, struct dvv_sibling *out, size_t cap, size_t *n);
size_t dvv_size(const struct dvv_set *s);
bool dvv_is_pruned(const struct dvv_set *s);

/* Causal order of two sets' histories (their joins) or of two vectors,
 * under the pruning rule above. dvv_less(a, b): b provably descends a. */
enum dvv_order dvv_compare(const struct dvv_set *a, const struct dvv_set *b);
bool dvv_less(const struct dvv_set *a, const struct dvv_set *b);
bool dvv_equal(const struct dvv_set *a, const struct dvv_set *b);
enum dvv_order dvv_vector_compare(const struct dvv_vector *a, const struct dvv_vector *b);

/* Append the canonical encoding of s to out (layout in the doc). */
int dvv_encode(const struct dvv_set *s, struct buf *out);
/* Strict decode of exactly n bytes; values point into data. RC_ECORRUPT on
 * anything malformed (never reads outside data[0..n)). */
int dvv_decode(const void *data, size_t n, struct dvv_set **out);

void dvv_vector_init(struct dvv_vector *v);
void dvv_vector_deinit(struct dvv_vector *v);
/* Append the printable token for v (URL-safe base64, no padding, of its
 * encoding; no NUL). RC_ETOOLARGE when v has more than
 * DVV_TOKEN_MAX_ENTRIES entries: the token would exceed DVV_TOKEN_MAX. */
int dvv_token_format(const struct dvv_vector *v, struct buf *out);
/* Parse a token into out (initialised by the call; deinit it in any case).
 * RC_EINVAL for anything malformed, truncated, too long or foreign. */
int dvv_token_parse(const char *tok, size_t len, struct dvv_vector *out);

/* ------------------------------------------------- for kv/object and kv/context */

/* One entry of a set as dvv_entries reports it. */
struct dvv_entry_info {
    struct dvv_actor actor;
    uint64_t counter;             /* >= 1 */
    uint64_t stamp;               /* latest event time known for the actor */
    size_t nvals;                 /* values: dots counter .. counter-nvals+1 */
    const struct dvv_value *vals; /* newest first; points into s (valid while s lives) */
};
size_t dvv_nentries(const struct dvv_set *s);
/* Every entry, by actor id ascending (the order of dvv_values and of the
 * encoding). cap must be >= dvv_nentries(s) (RC_EINVAL otherwise). */
int dvv_entries(const struct dvv_set *s, struct dvv_entry_info *out, size_t cap, size_t *n);

/* A replica state holding one entry (actor, counter, stamp) whose one value
 * v has the dot (actor, counter): a record of an earlier format lifted into
 * the model. v is borrowed. RC_EINVAL when counter is 0. */
int dvv_from_entry(const struct dvv_actor *actor, uint64_t counter, uint64_t stamp,
                   const struct dvv_value *v, struct dvv_set **out);

/* A copy of s whose values lying wholly inside one of ranges[0..nranges)
 * (ranges NULL: every value) have their bytes copied to the end of store
 * and point there; the other values keep their references. store grows
 * once, before any copy, so the new references stay valid until store is
 * next grown or freed. Lets an owner gather the bytes a set needs into a
 * buffer of its own. */
int dvv_relocate(const struct dvv_set *s, const struct dvv_value *ranges, size_t nranges,
                 struct buf *store, struct dvv_set **out);

/* The canonical binary encoding of v (the bytes a token is the base64 of,
 * doc/versioning-model.txt "Context token"), DVV_VECTOR_SIZE(v->n) bytes,
 * written to out[0..cap) with its length in *n. RC_EINVAL for an invalid
 * vector (zero counter, unsorted or duplicate actors); RC_ETOOLARGE above
 * DVV_MAX_ENTRIES entries or when cap is too small. No allocation. */
int dvv_vector_put(const struct dvv_vector *v, void *out, size_t cap, size_t *n);
/* The same, appended to out. */
int dvv_vector_encode(const struct dvv_vector *v, struct buf *out);

#endif
