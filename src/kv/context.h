/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * context.h - the printable causal context a client reads and writes back,
 * and the 64-bit cas derived from it (doc/versioning.txt sections 6 and 9).
 *
 * A token is "<vector>.<seal>": the DVV context token of the join (URL-safe
 * base64, no padding) and 23 characters of URL-safe base64 of 17 bytes: a
 * key id byte and the first 16 bytes of
 *   HMAC-SHA-256(K[id], "ringcached context v1" || u16 key length || key ||
 *                the <vector> characters).
 * "-" is the empty context. The cas is the first 8 bytes, big-endian, of
 * HMAC-SHA-256(K, "ringcached cas v1" || u16 key length || key || the
 * vector's binary encoding), with 0 replaced by 1: bound to the item key,
 * so two keys with equal clocks never show the same cas (as memcached's
 * cas values are unique across items). Keys K are 32 bytes; id 0 is never used.
 *
 * Pure apart from the MAC (base/mac.h): thread-safe, no globals.
 */
#ifndef RC_KV_CONTEXT_H
#define RC_KV_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "kv/dvv.h"

#define CONTEXT_KEY_SIZE  32
#define CONTEXT_SEAL_LEN  23
#define CONTEXT_TOKEN_MAX (DVV_TOKEN_MAX + 1 + CONTEXT_SEAL_LEN) /* 543 */

struct context_keys {
    uint8_t cur_id; /* 1..255 */
    uint8_t cur[CONTEXT_KEY_SIZE];
    uint8_t prev_id; /* 0 = no previous key */
    uint8_t prev[CONTEXT_KEY_SIZE];
};

/* The derived cas of a context of item key `key` (never 0). */
uint64_t context_cas(const struct context_keys *k, const void *key, size_t nkey,
                     const struct dvv_vector *join);

/* Append the sealed token of v for item key `key` (sealed with the current
 * key). RC_ETOOLARGE when v has more than DVV_TOKEN_MAX_ENTRIES entries. */
int context_seal(const struct context_keys *k, const void *key, size_t nkey,
                 const struct dvv_vector *v, struct buf *out);

/* Validate and parse a token for item key `key` (checks 1 to 4 of V.9, in
 * that order). "-" gives the empty vector. out is initialised by the call
 * (deinit it in any case). RC_EINVAL for anything malformed, truncated,
 * foreign, for another key, or with a bad seal. */
int context_open(const struct context_keys *k, const void *key, size_t nkey, const char *tok,
                 size_t len, struct dvv_vector *out);

#endif
