/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_handshake.c - the peer protocol's authenticating handshake
 * (doc/peer-protocol.txt, PP.5 and PP.6) as the small state machine of
 * peer_codec.h: peer_hs_init, peer_hs_start, peer_hs_input, peer_hs_limits.
 * Pure: no I/O, no clock, no globals; the frames come from peer_codec.c, and
 * the only other outside calls are the buffer, and HMAC-SHA-256 and
 * constant-time comparison from base/mac.h.
 *
 * Each side keeps the HELLO bodies exactly as sent and received, since the
 * proofs are MACs over both; the responder proves itself only after the
 * initiator has, and the rings are compared only once the peer is
 * authenticated.
 */
#include "config.h"

#include "cluster/peer_codec.h"

#include <string.h>

#include "base/endian.h"
#include "base/mac.h"
#include "base/status.h"

#define AUTH_LABEL "ringcached peer auth v1"

static void
hs_own_hello(const struct peer_hs *hs, struct peer_hello *m)
{
    memset(m, 0, sizeof(*m));
    m->min_version = hs->cfg.min_version;
    m->max_version = hs->cfg.max_version;
    m->role = (uint8_t)hs->role;
    memcpy(m->nonce, hs->nonce, PEER_NONCE_SIZE);
    memcpy(m->node_id, hs->cfg.node_id, PEER_NODE_ID_SIZE);
    memcpy(m->ring_hash, hs->cfg.ring_hash, PEER_RING_HASH_SIZE);
    m->partitions = hs->cfg.partitions;
    m->replicas = hs->cfg.replicas;
    m->max_inflight = hs->cfg.max_inflight;
    m->max_body = hs->cfg.max_body;
    m->wall_ms = hs->cfg.wall_ms;
    m->name = hs->cfg.name;
    m->nname = hs->cfg.nname;
}

int
peer_hs_init(struct peer_hs *hs, enum peer_role role, const struct peer_hs_config *cfg,
             const uint8_t nonce[PEER_NONCE_SIZE])
{
    struct peer_hello m;
    int rc;

    memset(hs, 0, sizeof(*hs));
    buf_init(&hs->own);
    buf_init(&hs->peer);
    hs->state = PEER_HS_FAILED;
    hs->fault.code = PEER_INTERNAL;
    hs->fault.why = "bad handshake configuration";
    if ((role != PEER_ROLE_INITIATOR && role != PEER_ROLE_RESPONDER) || cfg->secret == NULL ||
        cfg->nsecret < PEER_SECRET_MIN || cfg->min_version < PEER_VERSION_MIN ||
        cfg->max_version > PEER_VERSION_MAX || cfg->min_version > cfg->max_version) {
        return RC_EINVAL;
    }
    hs->role = role;
    hs->cfg = *cfg;
    memcpy(hs->nonce, nonce, PEER_NONCE_SIZE);
    hs_own_hello(hs, &m);
    /* The body alone, as the transcript needs it: write a frame, drop the
     * header. */
    if ((rc = peer_hello_encode(&m, &hs->own)) != RC_OK) {
        return rc == RC_EINVAL ? RC_EINVAL : RC_ENOMEM;
    }
    buf_consume(&hs->own, PEER_HEADER_SIZE);
    hs->state = role == PEER_ROLE_INITIATOR ? PEER_HS_START : PEER_HS_WAIT_HELLO;
    hs->fault.code = PEER_OK;
    hs->fault.why = NULL;
    return RC_OK;
}

void
peer_hs_deinit(struct peer_hs *hs)
{
    if (hs == NULL) {
        return;
    }
    buf_deinit(&hs->own);
    buf_deinit(&hs->peer);
    memset(hs->nonce, 0, sizeof(hs->nonce));
}

static int
hs_send_hello(struct peer_hs *hs, struct buf *out)
{
    return peer_codec_internal_frame(PEER_HANDSHAKE_VERSION, PEER_T_HELLO, 0, hs->own.data,
                                     hs->own.len, out);
}

int
peer_hs_start(struct peer_hs *hs, struct buf *out)
{
    int rc;

    if (hs->role == PEER_ROLE_RESPONDER) {
        return hs->state == PEER_HS_WAIT_HELLO ? RC_OK : RC_EINVAL;
    }
    if (hs->state != PEER_HS_START) {
        return RC_EINVAL;
    }
    if ((rc = hs_send_hello(hs, out)) != RC_OK) {
        return rc;
    }
    hs->state = PEER_HS_WAIT_HELLO;
    return RC_OK;
}

/* Fail the handshake with a local reason, sending it to the peer. */
static int
hs_fail(struct peer_hs *hs, uint16_t code, const char *why, const void *detail, size_t ndetail,
        struct buf *out)
{
    struct peer_error e;

    hs->state = PEER_HS_FAILED;
    hs->fault.code = code;
    hs->fault.why = why;
    hs->remote = false;
    memset(&e, 0, sizeof(e));
    e.code = code;
    e.text = why;
    e.ntext = strlen(why);
    e.detail = detail;
    e.ndetail = ndetail;
    (void)peer_error_encode(PEER_HANDSHAKE_VERSION, 0, &e, out);
    return RC_EPROTO;
}

/* proof = HMAC(secret, label || role || u32 |HELLO I| || HELLO I || u32
 * |HELLO R| || HELLO R). */
static int
hs_proof(const struct peer_hs *hs, enum peer_role whose, uint8_t out[PEER_PROOF_SIZE])
{
    const struct buf *hi = hs->role == PEER_ROLE_INITIATOR ? &hs->own : &hs->peer;
    const struct buf *hr = hs->role == PEER_ROLE_INITIATOR ? &hs->peer : &hs->own;
    unsigned char li[4], lr[4], r = (unsigned char)whose;
    struct mac_part parts[6];

    be_put32(li, (uint32_t)hi->len);
    be_put32(lr, (uint32_t)hr->len);
    parts[0].data = AUTH_LABEL;
    parts[0].len = sizeof(AUTH_LABEL) - 1;
    parts[1].data = &r;
    parts[1].len = 1;
    parts[2].data = li;
    parts[2].len = 4;
    parts[3].data = hi->data;
    parts[3].len = hi->len;
    parts[4].data = lr;
    parts[4].len = 4;
    parts[5].data = hr->data;
    parts[5].len = hr->len;
    return mac_hmac_sha256(hs->cfg.secret, hs->cfg.nsecret, parts, 6, out);
}

/* The peer's HELLO: check it, keep its bytes, negotiate the version. */
static int
hs_take_hello(struct peer_hs *hs, const struct peer_frame *f, struct buf *out)
{
    struct peer_hello m;
    struct peer_fault fault;
    struct peer_frame copy;
    enum peer_role want =
        hs->role == PEER_ROLE_INITIATOR ? PEER_ROLE_RESPONDER : PEER_ROLE_INITIATOR;
    uint8_t hi, lo, vr[2];

    if (peer_hello_decode(f, &m, &fault) != RC_OK) {
        return hs_fail(hs, fault.code, fault.why, NULL, 0, out);
    }
    if (m.role != want) {
        return hs_fail(hs, PEER_PROTOCOL, "hello from the wrong role", NULL, 0, out);
    }
    hi = m.max_version < hs->cfg.max_version ? m.max_version : hs->cfg.max_version;
    lo = m.min_version > hs->cfg.min_version ? m.min_version : hs->cfg.min_version;
    if (hi < lo) {
        vr[0] = hs->cfg.min_version;
        vr[1] = hs->cfg.max_version;
        return hs_fail(hs, PEER_VERSION, "no common protocol version", vr, 2, out);
    }
    if (memcmp(m.nonce, hs->nonce, PEER_NONCE_SIZE) == 0) {
        return hs_fail(hs, PEER_PROTOCOL, "reflected hello", NULL, 0, out);
    }
    if (memcmp(m.node_id, hs->cfg.node_id, PEER_NODE_ID_SIZE) == 0) {
        return hs_fail(hs, PEER_SELF, "connected to itself", NULL, 0, out);
    }
    buf_reset(&hs->peer);
    if (buf_append(&hs->peer, f->body, f->h.body_len) != RC_OK) {
        hs->state = PEER_HS_FAILED;
        hs->fault.code = PEER_NO_MEMORY;
        hs->fault.why = "out of memory";
        return RC_ENOMEM;
    }
    /* Point the kept HELLO at the kept bytes. */
    copy = *f;
    copy.body = (const unsigned char *)hs->peer.data;
    (void)peer_hello_decode(&copy, &hs->hello, NULL);
    hs->version = hi;
    return RC_OK;
}

static int
hs_check_ring(struct peer_hs *hs, struct buf *out)
{
    unsigned char d[PEER_RING_DETAIL_SIZE];

    if (memcmp(hs->hello.ring_hash, hs->cfg.ring_hash, PEER_RING_HASH_SIZE) == 0 &&
        hs->hello.partitions == hs->cfg.partitions && hs->hello.replicas == hs->cfg.replicas) {
        return RC_OK;
    }
    memcpy(d, hs->cfg.ring_hash, PEER_RING_HASH_SIZE);
    memcpy(d + 32, hs->hello.ring_hash, PEER_RING_HASH_SIZE);
    be_put32(d + 64, hs->cfg.partitions);
    be_put16(d + 68, hs->cfg.replicas);
    be_put32(d + 70, hs->hello.partitions);
    be_put16(d + 74, hs->hello.replicas);
    return hs_fail(hs, PEER_RING_MISMATCH, "ring mismatch", d, sizeof(d), out);
}

/* An AUTH from the peer: verify its proof in constant time. */
static int
hs_verify(struct peer_hs *hs, const struct peer_frame *f, struct buf *out)
{
    uint8_t got[PEER_PROOF_SIZE], want[PEER_PROOF_SIZE];
    struct peer_fault fault;
    enum peer_role whose =
        hs->role == PEER_ROLE_INITIATOR ? PEER_ROLE_RESPONDER : PEER_ROLE_INITIATOR;
    int rc, ok;

    if (peer_auth_decode(f, got, &fault) != RC_OK) {
        return hs_fail(hs, fault.code, fault.why, NULL, 0, out);
    }
    if ((rc = hs_proof(hs, whose, want)) != RC_OK) {
        hs->state = PEER_HS_FAILED;
        hs->fault.code = PEER_INTERNAL;
        hs->fault.why = "mac failed";
        return rc;
    }
    ok = mac_equal(got, want, PEER_PROOF_SIZE);
    memset(want, 0, sizeof(want));
    if (!ok) {
        return hs_fail(hs, PEER_AUTH_FAILED, "authentication failed", NULL, 0, out);
    }
    return RC_OK;
}

static int
hs_send_proof(struct peer_hs *hs, struct buf *out)
{
    uint8_t proof[PEER_PROOF_SIZE];
    int rc;

    rc = hs_proof(hs, hs->role, proof);
    if (rc == RC_OK) {
        rc = peer_auth_encode(proof, out);
    }
    memset(proof, 0, sizeof(proof));
    if (rc != RC_OK) {
        hs->state = PEER_HS_FAILED;
        hs->fault.code = PEER_INTERNAL;
        hs->fault.why = "cannot build proof";
    }
    return rc;
}

int
peer_hs_input(struct peer_hs *hs, const struct peer_frame *f, struct buf *out)
{
    struct peer_error e;
    int rc;

    switch (hs->state) {
    case PEER_HS_FAILED:
        return RC_EPROTO;
    case PEER_HS_START:
    case PEER_HS_DONE:
        return RC_EINVAL;
    case PEER_HS_WAIT_HELLO:
    case PEER_HS_WAIT_AUTH:
        break;
    default:
        return RC_EINVAL; /* not reached */
    }
    if (f->h.version != PEER_HANDSHAKE_VERSION) {
        return hs_fail(hs, PEER_PROTOCOL, "wrong version", NULL, 0, out);
    }
    if (f->h.type == PEER_T_ERROR) {
        hs->state = PEER_HS_FAILED;
        hs->remote = true;
        hs->fault.code = peer_error_decode(f, &e, NULL) == RC_OK ? e.code : PEER_PROTOCOL;
        hs->fault.why = "refused by the peer";
        return RC_EPROTO;
    }
    if (hs->state == PEER_HS_WAIT_HELLO) {
        if (f->h.type != PEER_T_HELLO) {
            return hs_fail(hs, PEER_PROTOCOL, "expected HELLO", NULL, 0, out);
        }
        if ((rc = hs_take_hello(hs, f, out)) != RC_OK) {
            return rc;
        }
        rc = hs->role == PEER_ROLE_INITIATOR ? hs_send_proof(hs, out) : hs_send_hello(hs, out);
        if (rc != RC_OK) {
            hs->state = PEER_HS_FAILED;
            return rc;
        }
        hs->state = PEER_HS_WAIT_AUTH;
        return RC_EAGAIN;
    }
    if (f->h.type != PEER_T_AUTH) {
        return hs_fail(hs, PEER_PROTOCOL, "expected AUTH", NULL, 0, out);
    }
    if ((rc = hs_verify(hs, f, out)) != RC_OK) {
        return rc;
    }
    /* The peer proved itself; only now may the responder prove in turn. */
    if (hs->role == PEER_ROLE_RESPONDER && (rc = hs_send_proof(hs, out)) != RC_OK) {
        return rc;
    }
    if ((rc = hs_check_ring(hs, out)) != RC_OK) {
        return rc;
    }
    hs->state = PEER_HS_DONE;
    return RC_OK;
}

void
peer_hs_limits(const struct peer_hs *hs, struct peer_limits *lim)
{
    if (hs->state == PEER_HS_DONE) {
        lim->version = hs->version;
        lim->max_body = hs->cfg.max_body;
    } else {
        lim->version = PEER_HANDSHAKE_VERSION;
        lim->max_body = PEER_HANDSHAKE_MAX_BODY;
    }
}
