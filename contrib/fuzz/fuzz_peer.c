/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_peer.c - libFuzzer target for the peer protocol codec
 * (cluster/peer_codec.c): what an unauthenticated or authenticated peer can
 * send to the peer port.
 *
 *   input = selector byte, then the peer's byte stream
 *     selector bit 0:    1 = a responder in its handshake (HELLO/AUTH/ERROR
 *                        fed to peer_hs_input); 0 = after the handshake
 *     selector bits 1-7: 0 = responder limits, else a max body of
 *                        (bits << 12) bytes
 *
 * After the handshake every decoded frame goes through peer_frame_expect
 * and the decoder of its type; a frame that decodes is encoded again and
 * decoded once more, and must give the same frame length (the codec's
 * encoders refuse what its decoders refuse, so a decoded message always
 * re-encodes). Violations call __builtin_trap. Nothing persists between
 * inputs.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/status.h"
#include "cluster/peer_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encode a decoded message and check it decodes to a frame again. */
static void
fuzz_peer_reencode(const struct peer_limits *lim, struct buf *b)
{
    struct peer_frame f;
    struct peer_fault fault;
    size_t need = 0;

    if (b->len == 0) {
        return;
    }
    if (peer_frame_decode(lim, b->data, b->len, &f, &need, &fault) != RC_OK || need != b->len) {
        __builtin_trap();
    }
}

static void
fuzz_peer_message(const struct peer_limits *lim, const struct peer_frame *f)
{
    struct peer_fault fault;
    struct buf b;
    uint64_t id = f->h.id != 0 ? f->h.id : 1;
    uint8_t v = lim->version;

    buf_init(&b);
    switch (f->h.type) {
    case PEER_T_PUT: {
        struct peer_put m;

        if (peer_put_decode(f, &m, &fault) == RC_OK && peer_put_encode(v, id, &m, &b) != RC_OK) {
            __builtin_trap();
        }
        break;
    }
    case PEER_T_GET: {
        struct peer_get m;

        if (peer_get_decode(f, &m, &fault) == RC_OK && peer_get_encode(v, id, &m, &b) != RC_OK) {
            __builtin_trap();
        }
        break;
    }
    case PEER_T_FORWARD: {
        struct peer_forward m;

        if (peer_forward_decode(f, &m, &fault) == RC_OK &&
            peer_forward_encode(v, id, &m, &b) != RC_OK) {
            __builtin_trap();
        }
        break;
    }
    case PEER_T_FORWARD_REPLY: {
        struct peer_forward_reply m;

        if (peer_forward_reply_decode(f, &m, &fault) == RC_OK) {
            struct peer_sibling_iter it = peer_sibling_iter(&m);
            struct peer_sibling s;
            size_t n = 0;

            while (peer_sibling_next(&it, &s)) {
                n++;
            }
            if (n != m.nsiblings) {
                __builtin_trap();
            }
        }
        break;
    }
    case PEER_T_PUT_ACK: {
        struct peer_put_ack m;

        if (peer_put_ack_decode(f, &m, &fault) == RC_OK &&
            peer_put_ack_encode(v, id, &m, &b) != RC_OK) {
            __builtin_trap();
        }
        break;
    }
    case PEER_T_GET_REPLY: {
        struct peer_get_reply m;

        if (peer_get_reply_decode(f, &m, &fault) == RC_OK &&
            peer_get_reply_encode(v, id, &m, &b) != RC_OK) {
            __builtin_trap();
        }
        break;
    }
    case PEER_T_FLUSH: {
        struct peer_flush m;

        if (peer_flush_decode(f, &m, &fault) == RC_OK &&
            peer_flush_encode(v, id, &m, &b) != RC_OK) {
            __builtin_trap();
        }
        break;
    }
    case PEER_T_ERROR: {
        struct peer_error m;

        (void)peer_error_decode(f, &m, &fault);
        break;
    }
    default:
        break;
    }
    fuzz_peer_reencode(lim, &b);
    buf_deinit(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char secret[] = "fuzzing-secret-fuzzing-secret-fuzzing!!";
    struct peer_limits lim;
    struct peer_hs hs;
    struct peer_hs_config cfg;
    uint8_t nonce[PEER_NONCE_SIZE];
    bool handshake;
    size_t off = 1;
    struct buf out;

    if (size < 1) {
        return 0;
    }
    handshake = (data[0] & 1) != 0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.secret = secret;
    cfg.nsecret = sizeof(secret) - 1;
    cfg.name = "fuzz";
    cfg.nname = 4;
    cfg.partitions = 1024;
    cfg.replicas = 3;
    cfg.max_inflight = 16;
    cfg.max_body = 1u << 20;
    memset(cfg.node_id, 0x11, sizeof(cfg.node_id));
    memset(cfg.ring_hash, 0x22, sizeof(cfg.ring_hash));
    cfg.wall_ms = 1700000000000;
    cfg.min_version = PEER_VERSION_MIN;
    cfg.max_version = PEER_VERSION_MAX;
    memset(nonce, 0x5a, sizeof(nonce));
    buf_init(&out);
    if (peer_hs_init(&hs, PEER_ROLE_RESPONDER, &cfg, nonce) != RC_OK) {
        __builtin_trap();
    }
    if (handshake) {
        peer_hs_limits(&hs, &lim);
    } else {
        lim.version = PEER_VERSION_MAX;
        lim.max_body = (data[0] >> 1) != 0 ? (uint32_t)(data[0] >> 1) << 12 : (1u << 20);
    }
    while (off < size) {
        struct peer_frame f;
        struct peer_fault fault;
        size_t need = 0;
        int rc = peer_frame_decode(&lim, data + off, size - off, &f, &need, &fault);

        if (rc == RC_EAGAIN) {
            if (need <= size - off) {
                __builtin_trap(); /* "need more" must ask for more than we have */
            }
            break;
        }
        if (rc != RC_OK) {
            break; /* the connection would be closed */
        }
        if (need < PEER_HEADER_SIZE || need > size - off) {
            __builtin_trap();
        }
        off += need;
        if (handshake) {
            buf_reset(&out);
            rc = peer_hs_input(&hs, &f, &out);
            if (rc != RC_EAGAIN) {
                break; /* done (cannot be: no valid MAC) or failed */
            }
            peer_hs_limits(&hs, &lim);
            continue;
        }
        if (peer_frame_expect(PEER_ROLE_RESPONDER, &f, &fault) == RC_OK ||
            f.h.type == PEER_T_FORWARD_REPLY || f.h.type == PEER_T_PUT_ACK ||
            f.h.type == PEER_T_GET_REPLY) {
            fuzz_peer_message(&lim, &f);
        }
    }
    peer_hs_deinit(&hs);
    buf_deinit(&out);
    return 0;
}
