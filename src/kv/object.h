/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * object.h - everything stored under one key once versioning is in: a DVVSet
 * clock whose values are sibling payloads, the object's expiry, and the
 * node-local bookkeeping (doc/versioning.txt sections 3, 4, 5, 13). Pure: no
 * I/O, no globals, no threads.
 *
 * Record format 3, all integers big-endian (record.h keeps formats 1 and 2,
 * which object_view_decode and object_load lift):
 *
 *   off size field
 *     0   1  format version, 3
 *     1   1  kind, 1 = versioned object
 *     2   1  item flags (RECORD_IF_*)
 *     3   1  object flags: bit 0 = deleted (the dominant sibling is a
 *            tombstone, or there is no sibling); bit 1 = acked (a cluster:
 *            every replica of the key acknowledged exactly this tombstone-
 *            only clock, doc/replication.txt section 10; only with bit 0,
 *            no live sibling and at least one sibling); other bits 0
 *     4   8  write sequence of the last local change
 *    12   8  last local change, Unix milliseconds
 *    20   8  last access, Unix seconds
 *    28   8  expiry, absolute Unix seconds (0 = never)
 *    36   8  expiry stamp, Unix milliseconds
 *    44  16  expiry stamp, node id
 *    60   8  cas: the derived value of V.6 for this clock, computed when the
 *            record is written (a cache of a pure function of the clock and
 *            the context key, so plain reads need no HMAC)
 *    68   4  dominant sibling: client flags
 *    72   8  dominant sibling: write time, Unix milliseconds
 *    80   4  live siblings
 *    84   4  siblings (tombstones included)
 *    88   4  clock entries
 *    92   4  dominant sibling's value: offset from the start of the record
 *    96   4  dominant sibling's value: length
 *   100   4  clock length n
 *   104   n  the DVVSet encoding (doc/versioning-model.txt); each value is a
 *            payload:
 *              u8 1 (payload version), u8 sflags (bit 0 tombstone),
 *              u32 client flags, i64 write time ms, value bytes (the rest)
 *
 * The fields from offset 60 to 103 are derived from the clock; the header
 * lets a plain get serve the dominant value without decoding the clock.
 * object_view_decode checks the header and that the dominant value lies
 * inside the clock; object_load decodes everything and checks that the
 * derived fields match the clock (RC_ECORRUPT otherwise).
 *
 * Dominance (V.5), a total order on siblings computed from them alone: the
 * larger write time; then the larger actor id (bytewise); then the larger
 * counter; anonymous values rank below every dotted sibling, among
 * themselves by (length, bytes) descending.
 */
#ifndef RC_KV_OBJECT_H
#define RC_KV_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "kv/dvv.h"

#define OBJECT_FORMAT_V3    3
#define OBJECT_KIND         1
#define OBJECT_HEADER_SIZE  104
#define OBJECT_PAYLOAD_V1   1
#define OBJECT_PAYLOAD_HDR  14 /* u8 version, u8 sflags, u32 flags, i64 time */
#define OBJECT_F_DELETED    0x01u
#define OBJECT_F_ACKED      0x02u /* node-local: every replica has this tombstone */
#define OBJECT_SF_TOMBSTONE 0x01u

/* One sibling's payload (a DVVSet value). */
struct object_payload {
    bool tombstone;
    uint32_t flags;    /* client flags; 0 for a tombstone */
    int64_t wtime_ms;  /* write time, the coordinator's clock */
    const void *value; /* borrowed; empty for a tombstone */
    size_t nvalue;
};
int object_payload_encode(const struct object_payload *p, struct buf *out);
/* Strict: version 1, no unknown sflags bit, a tombstone has flags 0 and no
 * value bytes. p->value points into data. RC_ECORRUPT otherwise. */
int object_payload_decode(const void *data, size_t n, struct object_payload *p);

/* Expiry and node-local bookkeeping (never replicated except the expiry). */
struct object_meta {
    uint8_t iflags;       /* RECORD_IF_* */
    uint64_t seq;         /* write sequence of the last local change */
    int64_t mtime_ms;     /* last local change (flush_all) */
    int64_t atime;        /* last access, Unix seconds */
    int64_t exptime;      /* absolute Unix seconds; 0 = never */
    int64_t exp_stamp_ms; /* who set the expiry, for last-writer-wins merges */
    struct dvv_actor exp_node;
    /* OBJECT_F_ACKED: this node knows every replica of the key acknowledged
     * exactly this clock, which holds only tombstones. Never travels with a
     * different clock: object_update clears it, object_merge keeps it only
     * for identical clocks, object_encode writes it only for a tombstone-
     * only clock. */
    bool acked;
};

/* What a plain read needs, from the header alone (formats 1 and 2 lifted:
 * one live sibling; then `lifted` is set and cas is the record's old cas,
 * which the caller must replace by the derived value, see object_load). */
struct object_view {
    struct object_meta meta;
    uint64_t cas;
    bool deleted;      /* dominant sibling is a tombstone, or no sibling */
    uint32_t flags;    /* dominant sibling's client flags */
    int64_t wtime_ms;  /* dominant sibling's write time */
    const void *value; /* dominant sibling's value, points into the input */
    size_t nvalue;
    uint32_t nlive;     /* live siblings */
    uint32_t nsiblings; /* siblings, tombstones included */
    uint32_t nentries;  /* clock entries */
    bool lifted;        /* read from format 1 or 2 */
};
/* RC_ECORRUPT on anything malformed; never reads outside data[0..n). */
int object_view_decode(const void *data, size_t n, struct object_view *v);

/* A whole object. */
struct object {
    struct object_meta meta;
    struct dvv_set *clock; /* owned; NULL = no clock (absent key) */
    struct buf own;        /* payload bytes the object made (lifting, updates) */
    struct buf own2;
};
void object_init(struct object *o);   /* empty: no clock */
void object_deinit(struct object *o); /* frees the clock and owned bytes */
/* Decode a stored record of any format (1 and 2 are lifted: one entry
 * (self, cas) with one live sibling, expiry stamped (write time, self),
 * seq = cas). The clock's values point into data, which must outlive o.
 * RC_ECORRUPT on anything malformed. */
int object_load(const void *data, size_t n, const struct dvv_actor *self, struct object *o);

/* One sibling as object_siblings reports it. */
struct object_sibling {
    struct object_payload p; /* borrowed from the clock */
    struct dvv_actor actor;  /* dot; zero for anonymous values */
    uint64_t counter;        /* dot; 0 for anonymous values */
    bool anonymous;
};
size_t object_nsiblings(const struct object *o); /* tombstones included */
size_t object_nlive(const struct object *o);
/* Every sibling, tombstones included, in dominance order (dominant first).
 * cap >= object_nsiblings(o), else RC_EINVAL. */
int object_siblings(const struct object *o, struct object_sibling *out, size_t cap, size_t *n);

/* The context covering every sibling (dvv_join); an absent object gives the
 * empty vector. out is initialised by the call (deinit it in any case). */
int object_join(const struct object *o, struct dvv_vector *out);
/* As object_join, cut to DVV_TOKEN_MAX_ENTRIES entries for a token (V.9,
 * "Bound": entries with no live value first, then oldest stamp, ties lower
 * actor id; the result is marked pruned when anything was cut). */
int object_token_join(const struct object *o, struct dvv_vector *out);

/* Make a new version of o coordinated by `self` (V.4): the payload p gets
 * the dot (self, n + 1), or (self, seq) when the clock has no entry for self
 * (seeding: (self, seq - 1) is added to the context first when seq > 1).
 * ctx (NULL = empty) is the client's context; with cover_local the local
 * join is merged into it, so the new version supersedes every sibling
 * (plain writes, and writes to dead objects). p's bytes are copied into o.
 * stamp_ms: the caller's clock; keep: entries kept by a prune (0 =
 * DVV_PRUNE_KEEP); *pruned is set when the update pruned. o->meta is not
 * changed: the caller sets seq, times and expiry. On failure o is
 * unchanged. */
int object_update(struct object *o, const struct dvv_vector *ctx, bool cover_local,
                  const struct object_payload *p, const struct dvv_actor *self, uint64_t seq,
                  int64_t stamp_ms, unsigned keep, bool *pruned);

/* Siblings the result of object_update would hold, without making it (for
 * the sibling limit, checked before anything is written). */
int object_update_count(const struct object *o, const struct dvv_vector *ctx, bool cover_local,
                        const struct dvv_actor *self, uint64_t seq, size_t *nsiblings);

/* Merge a peer's state into o (dvv_sync; expiry by the larger (stamp, node));
 * no dot, no prune, no sibling limit. For replication; tested here. The
 * acked mark: an absent o takes peer's state whole, mark included; otherwise
 * the result is marked only when both clocks are identical (object_same_
 * clock), hold only tombstones, and either side was marked. */
int object_merge(struct object *o, const struct object *peer);

/* Do a and b hold exactly the same clock (identical canonical encodings:
 * the same entries, stamps and values, not merely equal histories)? Two
 * absent clocks are the same. */
bool object_same_clock(const struct object *a, const struct object *b);
/* Does o hold at least one sibling and only tombstones (what a mark may
 * name)? */
bool object_tombstone_only(const struct object *o);
/* Set or clear the acked mark of a format 3 record in place. Declines
 * (false, nothing changed) for other formats, and for setting it on a record
 * that is not tombstone-only. True when the record now says `acked`. */
bool object_record_set_acked(void *data, size_t n, bool acked);

/* Append a copy of the format 3 record data[0..n) with its bookkeeping and
 * expiry fields replaced by m's (the clock, and so the cas, unchanged): a
 * touch or an access bump without decoding the clock. RC_EINVAL for any
 * other format, or a record object_view_decode refuses. */
int object_rewrite_meta(const void *data, size_t n, const struct object_meta *m, struct buf *out);

/* Record a read in a format-3 record's header, in place: set the fetched
 * item flag and the last access to `now` when the record was never fetched
 * or its access is at least `interval` seconds old. Declines (false,
 * nothing changed) for other formats, a deleted or expired object, or when
 * `skip_iflags` has a bit the record's item flags have too. True when it
 * changed the bytes. */
bool object_mark_access(void *data, size_t n, int64_t now, int64_t interval, uint8_t skip_iflags);

/* Append the format 3 encoding of o (which must have a clock) to out, with
 * the derived cas given by the caller (context_cas of object_join). */
int object_encode(const struct object *o, uint64_t cas, struct buf *out);

#endif
