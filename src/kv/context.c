/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * context.c - sealed causal-context tokens and the derived cas (see
 * context.h and doc/versioning.txt sections 6 and 9).
 *
 *   token = <vector> "." <seal>
 *   vector = dvv_token_format(v)                  7..519 base64url chars
 *   seal   = b64url(id || HMAC(K[id], "ringcached context v1" ||
 *                              u16 nkey || key || vector)[0..16))   23 chars
 *   cas    = be64(HMAC(K, "ringcached cas v1" || u16 nkey || key ||
 *                      encoded vector)[0..8]), 0 -> 1
 *
 * context_open validates in the order of V.9 (checks 1 to 4): shape, then
 * the seal's key id, then the MAC (constant time), and only then the
 * vector itself, so a forged token never reaches the vector parser.
 * Pure apart from the MAC: no globals, no allocation except the result.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/endian.h"
#include "base/log.h"
#include "base/mac.h"
#include "base/status.h"
#include "kv/context.h"

#define CTX_SEAL_BYTES 17 /* key id + 16 MAC bytes */
#define CTX_MAC_BYTES  16
#define CTX_VECTOR_MIN 7 /* the empty vector: 5 bytes in base64 */

static const char ctx_label_seal[] = "ringcached context v1";
static const char ctx_label_cas[] = "ringcached cas v1";

_Static_assert(CONTEXT_TOKEN_MAX == 543, "token bound");
_Static_assert(B64_URL_LEN(CTX_SEAL_BYTES) == CONTEXT_SEAL_LEN, "seal length");

/* The 16 MAC bytes of a seal. */
static int
ctx_seal_mac(const uint8_t key[CONTEXT_KEY_SIZE], const void *item, size_t nitem,
             const char *vector, size_t nvector, uint8_t out[CTX_MAC_BYTES])
{
    uint8_t mac[MAC_SHA256_SIZE], klen[2];
    struct mac_part parts[4];
    int rc;

    if (nitem > UINT16_MAX) {
        return RC_EINVAL;
    }
    be_put16(klen, (uint16_t)nitem);
    parts[0].data = ctx_label_seal;
    parts[0].len = sizeof(ctx_label_seal) - 1;
    parts[1].data = klen;
    parts[1].len = sizeof(klen);
    parts[2].data = item;
    parts[2].len = nitem;
    parts[3].data = vector;
    parts[3].len = nvector;
    rc = mac_hmac_sha256(key, CONTEXT_KEY_SIZE, parts, 4, mac);
    if (rc == RC_OK) {
        memcpy(out, mac, CTX_MAC_BYTES);
    }
    return rc;
}

uint64_t
context_cas(const struct context_keys *k, const void *key, size_t nkey,
            const struct dvv_vector *join)
{
    unsigned char enc[DVV_VECTOR_SIZE(DVV_MAX_ENTRIES)];
    unsigned char klen[2];
    uint8_t mac[MAC_SHA256_SIZE];
    struct mac_part parts[4];
    size_t n = 0;
    uint64_t cas;

    /* A join always encodes (dvv_join makes valid vectors of at most
     * DVV_MAX_ENTRIES entries); and HMAC-SHA-256 fails only when libcrypto
     * is broken. Neither can be answered with a cas that is still unique
     * per context, and a wrong cas would let a stale cas command succeed,
     * so both stop the process. */
    if (dvv_vector_put(join, enc, sizeof(enc), &n) != RC_OK) {
        log_error("context: cas of an invalid context vector");
        abort();
    }
    parts[0].data = ctx_label_cas;
    parts[0].len = sizeof(ctx_label_cas) - 1;
    be_put16(klen, (uint16_t)nkey);
    parts[1].data = klen;
    parts[1].len = sizeof(klen);
    parts[2].data = key;
    parts[2].len = nkey;
    parts[3].data = enc;
    parts[3].len = n;
    if (mac_hmac_sha256(k->cur, CONTEXT_KEY_SIZE, parts, 4, mac) != RC_OK) {
        log_error("context: HMAC-SHA-256 failed");
        abort();
    }
    cas = be_get64(mac);
    return cas == 0 ? 1 : cas;
}

int
context_seal(const struct context_keys *k, const void *key, size_t nkey, const struct dvv_vector *v,
             struct buf *out)
{
    uint8_t seal[CTX_SEAL_BYTES];
    size_t start = out->len;
    int rc;

    if (k->cur_id == 0 || nkey > UINT16_MAX || (nkey > 0 && key == NULL)) {
        return RC_EINVAL;
    }
    rc = dvv_token_format(v, out);
    if (rc != RC_OK) {
        out->len = start;
        return rc;
    }
    rc = ctx_seal_mac(k->cur, key, nkey, out->data + start, out->len - start, seal + 1);
    if (rc == RC_OK) {
        rc = buf_reserve(out, 1 + CONTEXT_SEAL_LEN);
    }
    if (rc != RC_OK) {
        out->len = start;
        return rc;
    }
    seal[0] = k->cur_id;
    out->data[out->len++] = '.';
    b64_url_encode_to(out->data + out->len, seal, CTX_SEAL_BYTES);
    out->len += CONTEXT_SEAL_LEN;
    return RC_OK;
}

/* Check 1: the shape. Sets *nvector, the length before the full stop. */
static bool
ctx_check_shape(const char *tok, size_t len, size_t *nvector)
{
    size_t i, dot = len;

    if (len < 1 || len > CONTEXT_TOKEN_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (tok[i] == '.') {
            if (dot != len) {
                return false; /* a second full stop */
            }
            dot = i;
        } else if (!b64_url_char((unsigned char)tok[i])) {
            return false;
        }
    }
    if (dot == len || dot < CTX_VECTOR_MIN || len - dot - 1 != CONTEXT_SEAL_LEN) {
        return false;
    }
    *nvector = dot;
    return true;
}

int
context_open(const struct context_keys *k, const void *key, size_t nkey, const char *tok,
             size_t len, struct dvv_vector *out)
{
    uint8_t seal[CTX_SEAL_BYTES], mac[CTX_MAC_BYTES];
    const uint8_t *K;
    size_t nvector, nseal;
    int rc;

    dvv_vector_init(out);
    if (tok == NULL || nkey > UINT16_MAX || (nkey > 0 && key == NULL)) {
        return RC_EINVAL;
    }
    if (len == 1 && tok[0] == '-') {
        return RC_OK; /* the empty context */
    }
    if (!ctx_check_shape(tok, len, &nvector)) { /* 1 */
        return RC_EINVAL;
    }
    if (!b64_url_decode(tok + nvector + 1, CONTEXT_SEAL_LEN, seal, sizeof(seal), &nseal) ||
        nseal != CTX_SEAL_BYTES || seal[0] == 0) { /* 2 */
        return RC_EINVAL;
    }
    if (seal[0] == k->cur_id) {
        K = k->cur;
    } else if (k->prev_id != 0 && seal[0] == k->prev_id) {
        K = k->prev;
    } else {
        return RC_EINVAL;
    }
    rc = ctx_seal_mac(K, key, nkey, tok, nvector, mac); /* 3 */
    if (rc != RC_OK) {
        return rc;
    }
    if (!mac_equal(mac, seal + 1, CTX_MAC_BYTES)) {
        return RC_EINVAL;
    }
    return dvv_token_parse(tok, nvector, out); /* 4 */
}
