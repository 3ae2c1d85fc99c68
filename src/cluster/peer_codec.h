/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_codec.h - the peer protocol of doc/peer-protocol.txt ("PP.n"), as a
 * pure codec: frames to and from bytes, every message body built and parsed
 * strictly, and the authenticating handshake as a small state machine. No
 * sockets, no libevent, no store, no clock, no globals: the transport feeds
 * bytes and frames in and sends what comes out.
 *
 *   bytes --peer_frame_decode--> struct peer_frame --peer_X_decode--> struct
 *   struct peer_X --peer_X_encode--> whole frame appended to a struct buf
 *
 *   handshake: peer_hs_init, peer_hs_start (the initiator's HELLO), then
 *   peer_hs_input for every frame until RC_OK (done) or RC_EPROTO (failed);
 *   send whatever each call appended to `out`, and close on failure.
 *
 * Ownership: every pointer a decoder fills in (names, keys, records, values,
 * texts) points into the frame's body, which points into the caller's input;
 * it is valid while those bytes are. Encoders copy what they are given.
 * Encoders refuse (RC_EINVAL) anything their decoder would refuse, so every
 * frame this codec builds is one it accepts. On failure an encoder leaves
 * `out` as it found it.
 */
#ifndef RC_CLUSTER_PEER_CODEC_H
#define RC_CLUSTER_PEER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define PEER_MAGIC0             0xd9u
#define PEER_MAGIC1             0x50u
#define PEER_HEADER_SIZE        20
#define PEER_VERSION_MIN        1    /* versions this build speaks */
#define PEER_VERSION_MAX        2    /* 2: tombstone notices (PUT ACKED, GET_REPLY ACKED) */
#define PEER_HANDSHAKE_VERSION  1    /* header version of handshake frames */
#define PEER_HANDSHAKE_MAX_BODY 1024 /* any body before the handshake ends */
#define PEER_MAX_BODY_MIN       65536u
#define PEER_MAX_BODY_CEILING   0x7fffffffu
#define PEER_NONCE_SIZE         32
#define PEER_NODE_ID_SIZE       16
#define PEER_RING_HASH_SIZE     32
#define PEER_PROOF_SIZE         32
#define PEER_NAME_MAX           64
#define PEER_KEY_MAX            250
#define PEER_CONTEXT_MAX        543 /* CONTEXT_TOKEN_MAX */
#define PEER_TEXT_MAX           256 /* ERROR text, FORWARD_REPLY message */
#define PEER_DETAIL_MAX         256
#define PEER_SIBLINGS_MAX       4096 /* DVV_MAX_VALUES */
#define PEER_SECRET_MIN         16
#define PEER_RECORD_MIN         104 /* OBJECT_HEADER_SIZE */
#define PEER_RING_DETAIL_SIZE   76  /* RING_MISMATCH detail, PP.5.3 */

/* Message types (PP.4): X(enum, wire value, name, kind, min body, max body);
 * max PEER_BODY_CONN = bounded by the connection's limit only. */
#define PEER_BODY_CONN      0xffffffffu
#define PEER_KIND_HANDSHAKE 1
#define PEER_KIND_REQUEST   2
#define PEER_KIND_REPLY     3
#define PEER_KIND_ERROR     4
/* clang-format off */
#define PEER_TYPE_TABLE(X)                                                                   \
    X(PEER_T_HELLO,         0x01, "HELLO",         PEER_KIND_HANDSHAKE, 108, 1024)           \
    X(PEER_T_AUTH,          0x02, "AUTH",          PEER_KIND_HANDSHAKE,  32, 32)             \
    X(PEER_T_PING,          0x04, "PING",          PEER_KIND_REQUEST,     8, 8)              \
    X(PEER_T_PONG,          0x84, "PONG",          PEER_KIND_REPLY,      16, 16)             \
    X(PEER_T_PUT,           0x10, "PUT",           PEER_KIND_REQUEST,   133, PEER_BODY_CONN) \
    X(PEER_T_PUT_ACK,       0x90, "PUT_ACK",       PEER_KIND_REPLY,      20, 20)             \
    X(PEER_T_GET,           0x11, "GET",           PEER_KIND_REQUEST,     9, 258)            \
    X(PEER_T_GET_REPLY,     0x91, "GET_REPLY",     PEER_KIND_REPLY,       8, PEER_BODY_CONN) \
    X(PEER_T_FORWARD,       0x12, "FORWARD",       PEER_KIND_REQUEST,    83, PEER_BODY_CONN) \
    X(PEER_T_FORWARD_REPLY, 0x92, "FORWARD_REPLY", PEER_KIND_REPLY,      56, PEER_BODY_CONN) \
    X(PEER_T_FLUSH,         0x13, "FLUSH",         PEER_KIND_REQUEST,    16, 16)             \
    X(PEER_T_FLUSH_ACK,     0x93, "FLUSH_ACK",     PEER_KIND_REPLY,       0, 0)              \
    X(PEER_T_ERROR,         0xff, "ERROR",         PEER_KIND_ERROR,       6, 518)
/* clang-format on */

enum peer_type {
#define PEER_TYPE_ENUM(e, v, name, kind, min, max) e = v,
    PEER_TYPE_TABLE(PEER_TYPE_ENUM)
#undef PEER_TYPE_ENUM
};

/* Status and error codes (PP.13.2): X(enum, wire value, name). Below 0x0100:
 * the result or failure of one request; from 0x0100: the connection. */
#define PEER_CODE_CONNECTION 0x0100u
#define PEER_CODE_TABLE(X)                                 \
    X(PEER_OK, 0x0000, "OK")                               \
    X(PEER_NOT_FOUND, 0x0001, "NOT_FOUND")                 \
    X(PEER_EXISTS, 0x0002, "EXISTS")                       \
    X(PEER_NOT_STORED, 0x0003, "NOT_STORED")               \
    X(PEER_TOO_LARGE, 0x0004, "TOO_LARGE")                 \
    X(PEER_NON_NUMERIC, 0x0005, "NON_NUMERIC")             \
    X(PEER_BAD_CONTEXT, 0x0006, "BAD_CONTEXT")             \
    X(PEER_TOO_MANY_SIBLINGS, 0x0007, "TOO_MANY_SIBLINGS") \
    X(PEER_INVALID, 0x0008, "INVALID")                     \
    X(PEER_IO, 0x0010, "IO")                               \
    X(PEER_NO_SPACE, 0x0011, "NO_SPACE")                   \
    X(PEER_NO_MEMORY, 0x0012, "NO_MEMORY")                 \
    X(PEER_TRY_AGAIN, 0x0013, "TRY_AGAIN")                 \
    X(PEER_INTERNAL, 0x0014, "INTERNAL")                   \
    X(PEER_CORRUPT, 0x0015, "CORRUPT")                     \
    X(PEER_DISABLED, 0x0016, "DISABLED")                   \
    X(PEER_WRONG_PARTITION, 0x0020, "WRONG_PARTITION")     \
    X(PEER_NOT_REPLICA, 0x0021, "NOT_REPLICA")             \
    X(PEER_OVERLOADED, 0x0022, "OVERLOADED")               \
    X(PEER_PROTOCOL, 0x0100, "PROTOCOL")                   \
    X(PEER_VERSION, 0x0101, "VERSION")                     \
    X(PEER_AUTH_FAILED, 0x0102, "AUTH_FAILED")             \
    X(PEER_RING_MISMATCH, 0x0103, "RING_MISMATCH")         \
    X(PEER_FRAME_TOO_LARGE, 0x0104, "FRAME_TOO_LARGE")     \
    X(PEER_SELF, 0x0105, "SELF")                           \
    X(PEER_UNKNOWN_PEER, 0x0106, "UNKNOWN_PEER")           \
    X(PEER_SHUTDOWN, 0x0107, "SHUTDOWN")                   \
    X(PEER_TIMEOUT, 0x0108, "TIMEOUT")

enum peer_code {
#define PEER_CODE_ENUM(e, v, name) e = v,
    PEER_CODE_TABLE(PEER_CODE_ENUM)
#undef PEER_CODE_ENUM
};

/* Names for logs; "?" for values no table holds. */
const char *peer_type_name(unsigned type);
const char *peer_code_name(unsigned code);
/* PEER_KIND_* of a type this version knows, 0 otherwise. */
int peer_type_kind(unsigned type);
/* The enum rc_status a code stands for (RC_OK for PEER_OK; RC_EPROTO for
 * connection codes and unknown ones), and back (RC_EINTERNAL for statuses
 * without a code of their own). */
int peer_code_to_status(unsigned code);
uint16_t peer_code_from_status(int status);

/* Why a frame was refused: the code to send in the ERROR frame (PEER_PROTOCOL,
 * PEER_FRAME_TOO_LARGE, PEER_VERSION, ...) and a static reason, which is also
 * the ERROR's text. */
struct peer_fault {
    uint16_t code;
    const char *why;
};

struct peer_header {
    uint8_t version;
    uint8_t type;
    uint64_t id;
    uint32_t body_len;
};

struct peer_frame {
    struct peer_header h;
    const unsigned char *body; /* borrowed from the decoder's input */
};

/* What the connection accepts now: the header version (PEER_HANDSHAKE_VERSION
 * until the handshake is done, then the negotiated one) and the largest body
 * (PEER_HANDSHAKE_MAX_BODY, then this node's announced max body). */
struct peer_limits {
    uint8_t version;
    uint32_t max_body;
};

/* Decode one frame from the start of data[0..n), checking the header (PP.15)
 * as far as the bytes go and before any body length is trusted.
 *   RC_OK       a whole frame: *f filled (body points into data), *need =
 *               PEER_HEADER_SIZE + body length, the bytes to consume;
 *   RC_EAGAIN   not yet: *need = the total the frame needs as far as known
 *               (PEER_HEADER_SIZE until the header is in and valid); the
 *               caller never has to hold more than that;
 *   RC_EPROTO   refused: *fault says why; send it (peer_fault_encode), close.
 * Never reads outside data[0..n), never allocates. */
int peer_frame_decode(const struct peer_limits *lim, const void *data, size_t n,
                      struct peer_frame *f, size_t *need, struct peer_fault *fault);

/* After the handshake: is this frame one that a node in `role` may receive
 * (the initiator: replies and ERROR; the responder: requests and ERROR)? An
 * ERROR must also follow PP.13.1's id rule, which peer_error_decode checks.
 * RC_OK or RC_EPROTO with *fault. */
enum peer_role { PEER_ROLE_INITIATOR = 1, PEER_ROLE_RESPONDER = 2 };
int peer_frame_expect(enum peer_role role, const struct peer_frame *f, struct peer_fault *fault);

/* Every body decoder: RC_OK, or RC_EPROTO with *fault (may be NULL) when the
 * frame is not of its type or its body breaks the layout. Every encoder
 * appends one whole frame: RC_OK, RC_EINVAL (a field out of range),
 * RC_ETOOLARGE (the body would pass PEER_MAX_BODY_CEILING) or RC_ENOMEM. */

/* HELLO (PP.5.1): always header version 1, id 0. */
struct peer_hello {
    uint8_t min_version;
    uint8_t max_version;
    uint8_t role; /* enum peer_role */
    uint8_t nonce[PEER_NONCE_SIZE];
    uint8_t node_id[PEER_NODE_ID_SIZE];
    uint8_t ring_hash[PEER_RING_HASH_SIZE];
    uint32_t partitions; /* power of two */
    uint16_t replicas;
    uint16_t max_inflight;
    uint32_t max_body;
    int64_t wall_ms;
    const char *name; /* 1..PEER_NAME_MAX of A-Z a-z 0-9 . _ - */
    size_t nname;
    const void *ext; /* extensions: ignored by version 1 */
    size_t next;
};
int peer_hello_encode(const struct peer_hello *m, struct buf *out);
int peer_hello_decode(const struct peer_frame *f, struct peer_hello *m, struct peer_fault *fault);

/* AUTH (PP.5.4): header version 1, id 0. */
int peer_auth_encode(const uint8_t proof[PEER_PROOF_SIZE], struct buf *out);
int peer_auth_decode(const struct peer_frame *f, uint8_t proof[PEER_PROOF_SIZE],
                     struct peer_fault *fault);

/* ERROR (PP.13): id 0 with a connection code, the request's id otherwise. */
struct peer_error {
    uint16_t code;
    const char *text; /* printable ASCII, <= PEER_TEXT_MAX */
    size_t ntext;
    const void *detail; /* <= PEER_DETAIL_MAX */
    size_t ndetail;
};
int peer_error_encode(uint8_t version, uint64_t id, const struct peer_error *m, struct buf *out);
int peer_error_decode(const struct peer_frame *f, struct peer_error *m, struct peer_fault *fault);
/* The connection-level ERROR for a fault (id 0, text = fault->why). */
int peer_fault_encode(uint8_t version, const struct peer_fault *fault, struct buf *out);

/* PING and PONG (PP.12). */
struct peer_ping {
    uint64_t echo;
};
struct peer_pong {
    uint64_t echo;
    int64_t wall_ms;
};
int peer_ping_encode(uint8_t version, uint64_t id, const struct peer_ping *m, struct buf *out);
int peer_ping_decode(const struct peer_frame *f, struct peer_ping *m, struct peer_fault *fault);
int peer_pong_encode(uint8_t version, uint64_t id, const struct peer_pong *m, struct buf *out);
int peer_pong_decode(const struct peer_frame *f, struct peer_pong *m, struct peer_fault *fault);

/* PUT and PUT_ACK (PP.8). The record is checked only for its size and its
 * first two bytes (format 3, kind 1); the receiver decodes it with
 * object_load before any use. PEER_PUT_ACKED (a tombstone notice, PP.8.4)
 * exists from version 2: the encoder refuses it for version 1 and the
 * decoder refuses it in a version 1 frame. */
#define PEER_PUT_HINT    0x01u
#define PEER_PUT_REPAIR  0x02u
#define PEER_PUT_HANDOFF 0x04u
#define PEER_PUT_ACKED   0x08u
struct peer_put {
    uint8_t flags; /* at most one PEER_PUT_* bit */
    uint32_t partition;
    uint8_t owner[PEER_NODE_ID_SIZE]; /* with PEER_PUT_HINT, else all zero */
    const void *key;                  /* 1..PEER_KEY_MAX bytes */
    size_t nkey;
    const void *record; /* format 3, >= PEER_RECORD_MIN bytes */
    size_t nrecord;
};
int peer_put_encode(uint8_t version, uint64_t id, const struct peer_put *m, struct buf *out);
int peer_put_decode(const struct peer_frame *f, struct peer_put *m, struct peer_fault *fault);

enum peer_put_result { PEER_PUT_STORED = 0, PEER_PUT_UNCHANGED = 1, PEER_PUT_HINTED = 2 };
#define PEER_ACK_SYNCED 0x01u
struct peer_put_ack {
    uint8_t result; /* enum peer_put_result */
    uint8_t flags;  /* PEER_ACK_SYNCED */
    uint32_t nsiblings;
    uint32_t nlive;
    uint64_t cas;
};
int peer_put_ack_encode(uint8_t version, uint64_t id, const struct peer_put_ack *m,
                        struct buf *out);
int peer_put_ack_decode(const struct peer_frame *f, struct peer_put_ack *m,
                        struct peer_fault *fault);

/* GET and GET_REPLY (PP.9). */
struct peer_get {
    uint32_t partition;
    const void *key;
    size_t nkey;
};
int peer_get_encode(uint8_t version, uint64_t id, const struct peer_get *m, struct buf *out);
int peer_get_decode(const struct peer_frame *f, struct peer_get *m, struct peer_fault *fault);

/* PEER_GET_ACKED (version 2): the responder's record carries the acked mark
 * (the record itself travels without it). Advisory: the version 1 encoder
 * leaves it out, the version 1 decoder refuses it. */
enum peer_get_result { PEER_GET_FOUND = 0, PEER_GET_NOT_FOUND = 1 };
#define PEER_GET_DEAD  0x01u
#define PEER_GET_ACKED 0x02u
struct peer_get_reply {
    uint8_t result;     /* enum peer_get_result */
    uint8_t flags;      /* PEER_GET_DEAD, PEER_GET_ACKED, only when found */
    const void *record; /* found: format 3; not found: none (nrecord 0) */
    size_t nrecord;
};
int peer_get_reply_encode(uint8_t version, uint64_t id, const struct peer_get_reply *m,
                          struct buf *out);
int peer_get_reply_decode(const struct peer_frame *f, struct peer_get_reply *m,
                          struct peer_fault *fault);

/* FORWARD (PP.10.1): wire command codes and option bits. */
#define PEER_CMD_TABLE(X)             \
    X(PEER_CMD_GET, 1, "get")         \
    X(PEER_CMD_GETS, 2, "gets")       \
    X(PEER_CMD_GAT, 3, "gat")         \
    X(PEER_CMD_GATS, 4, "gats")       \
    X(PEER_CMD_SET, 5, "set")         \
    X(PEER_CMD_ADD, 6, "add")         \
    X(PEER_CMD_REPLACE, 7, "replace") \
    X(PEER_CMD_APPEND, 8, "append")   \
    X(PEER_CMD_PREPEND, 9, "prepend") \
    X(PEER_CMD_CAS, 10, "cas")        \
    X(PEER_CMD_DELETE, 11, "delete")  \
    X(PEER_CMD_INCR, 12, "incr")      \
    X(PEER_CMD_DECR, 13, "decr")      \
    X(PEER_CMD_TOUCH, 14, "touch")    \
    X(PEER_CMD_VGET, 15, "vget")      \
    X(PEER_CMD_VSET, 16, "vset")      \
    X(PEER_CMD_VDEL, 17, "vdel")
enum peer_cmd {
#define PEER_CMD_ENUM(e, v, name) e = v,
    PEER_CMD_TABLE(PEER_CMD_ENUM)
#undef PEER_CMD_ENUM
};
#define PEER_CMD_LAST 17
const char *peer_cmd_name(unsigned cmd);

enum peer_dialect { PEER_DIALECT_TEXT = 0, PEER_DIALECT_META = 1, PEER_DIALECT_BINARY = 2 };

#define PEER_OPT_COMPARE_CAS  0x0001u
#define PEER_OPT_TTL          0x0004u
#define PEER_OPT_VIVIFY       0x0008u
#define PEER_OPT_RECACHE      0x0010u
#define PEER_OPT_INVALIDATE   0x0020u
#define PEER_OPT_NO_BUMP      0x0040u
#define PEER_OPT_ITEM_INFO    0x0080u
#define PEER_OPT_WANT_CONTEXT 0x0100u
#define PEER_OPT_WANT_NLIVE   0x0200u
#define PEER_OPT_QUORUM       0x0400u /* r and w follow the value (PP.10.1) */
#define PEER_OPT_ALL          0x07fdu
#define PEER_QUORUM_MAX       16

struct peer_forward {
    uint8_t cmd;     /* enum peer_cmd */
    uint8_t dialect; /* enum peer_dialect */
    uint32_t options;
    uint32_t flags;
    int64_t exptime;
    uint64_t cas;
    uint64_t delta;
    uint64_t compare_cas;
    uint64_t initial;
    int64_t ttl;
    int64_t vivify_ttl;
    int64_t recache_ttl;
    const void *key; /* 1..PEER_KEY_MAX */
    size_t nkey;
    const char *context; /* vset, vdel only; 0..PEER_CONTEXT_MAX */
    size_t ncontext;
    const void *value; /* storage commands only */
    size_t nvalue;
    uint8_t r, w; /* PEER_OPT_QUORUM only (else 0): 0..PEER_QUORUM_MAX */
};
/* Does the command carry a value / a context? */
bool peer_cmd_has_value(unsigned cmd);
bool peer_cmd_has_context(unsigned cmd);
int peer_forward_encode(uint8_t version, uint64_t id, const struct peer_forward *m,
                        struct buf *out);
int peer_forward_decode(const struct peer_frame *f, struct peer_forward *m,
                        struct peer_fault *fault);

/* FORWARD_REPLY (PP.10.2). */
#define PEER_RF_STALE       0x01u
#define PEER_RF_WIN         0x02u
#define PEER_RF_WON_ALREADY 0x04u
#define PEER_RF_CREATED     0x08u
#define PEER_RF_HIT_BEFORE  0x10u
#define PEER_RF_ALL         0x1fu
enum peer_miss { PEER_MISS_NONE = 0, PEER_MISS_ABSENT, PEER_MISS_EXPIRED, PEER_MISS_FLUSHED };

struct peer_sibling {
    uint32_t flags;
    int64_t wtime_ms;
    const void *value;
    size_t nvalue;
};

struct peer_forward_reply {
    uint16_t status; /* a code below PEER_CODE_CONNECTION */
    uint8_t rflags;  /* PEER_RF_* */
    uint8_t miss;    /* enum peer_miss */
    uint32_t flags;
    uint64_t cas;
    uint64_t number;
    int64_t ttl;
    int64_t last_access;
    uint32_t nlive;
    const char *context;
    size_t ncontext;
    const char *message; /* printable ASCII, <= PEER_TEXT_MAX; 0 = none */
    size_t nmessage;
    const void *value;
    size_t nvalue;
    /* Encoding: siblings[0..nsiblings). Decoding: siblings is NULL and the
     * siblings are read with peer_sibling_first/next (already validated). */
    const struct peer_sibling *siblings;
    size_t nsiblings;
    const unsigned char *sib_data; /* decoding only: the sibling area */
    size_t nsib_data;
};
int peer_forward_reply_encode(uint8_t version, uint64_t id, const struct peer_forward_reply *m,
                              struct buf *out);
int peer_forward_reply_decode(const struct peer_frame *f, struct peer_forward_reply *m,
                              struct peer_fault *fault);

/* Walk a decoded reply's siblings: it = peer_sibling_iter(m); while
 * (peer_sibling_next(&it, &s)) ... Never fails on a decoded reply. */
struct peer_sibling_iter {
    const unsigned char *p;
    const unsigned char *end;
    size_t left;
};
struct peer_sibling_iter peer_sibling_iter(const struct peer_forward_reply *m);
bool peer_sibling_next(struct peer_sibling_iter *it, struct peer_sibling *s);

/* FLUSH and FLUSH_ACK (PP.11). */
struct peer_flush {
    int64_t delay;
    int64_t origin_ms;
};
int peer_flush_encode(uint8_t version, uint64_t id, const struct peer_flush *m, struct buf *out);
int peer_flush_decode(const struct peer_frame *f, struct peer_flush *m, struct peer_fault *fault);
int peer_flush_ack_encode(uint8_t version, uint64_t id, struct buf *out);
int peer_flush_ack_decode(const struct peer_frame *f, struct peer_fault *fault);

/* ------------------------------------------------------------ handshake
 *
 * The handshake of PP.5 and PP.6 for one connection. Inputs: this node's
 * configuration and secret, a fresh nonce (mac_random; the caller supplies it
 * so that the machine stays pure), and every frame the peer sends until the
 * machine is done. Outputs: frames to send (appended to `out`), then success
 * (the peer's HELLO and the negotiated version) or a failure with its code.
 *
 *   initiator: START --start: HELLO--> WAIT_HELLO --HELLO: AUTH--> WAIT_AUTH
 *              --AUTH verified, rings match--> DONE
 *   responder: WAIT_HELLO --HELLO: HELLO--> WAIT_AUTH --AUTH verified: AUTH-->
 *              (rings match) DONE
 *   any state: ERROR frame, anything unexpected or invalid --> FAILED
 */
enum peer_hs_state {
    PEER_HS_START = 0,
    PEER_HS_WAIT_HELLO,
    PEER_HS_WAIT_AUTH,
    PEER_HS_DONE,
    PEER_HS_FAILED,
    PEER_HS__COUNT
};

struct peer_hs_config {
    const void *secret; /* borrowed for the machine's life; >= PEER_SECRET_MIN */
    size_t nsecret;
    const char *name; /* borrowed, as the HELLO name rules */
    size_t nname;
    uint8_t node_id[PEER_NODE_ID_SIZE];
    uint8_t ring_hash[PEER_RING_HASH_SIZE];
    uint32_t partitions;
    uint16_t replicas;
    uint16_t max_inflight;
    uint32_t max_body;   /* what this node accepts after the handshake */
    uint8_t min_version; /* PEER_VERSION_MIN..PEER_VERSION_MAX */
    uint8_t max_version;
    int64_t wall_ms; /* for HELLO */
};

struct peer_hs {
    enum peer_role role;
    enum peer_hs_state state;
    struct peer_hs_config cfg;
    uint8_t nonce[PEER_NONCE_SIZE];
    struct buf own;          /* this node's HELLO body, as sent */
    struct buf peer;         /* the peer's HELLO body, as received */
    struct peer_hello hello; /* the peer's HELLO; pointers into `peer` */
    uint8_t version;         /* negotiated, once both HELLOs are known */
    struct peer_fault fault; /* why it failed */
    bool remote;             /* the failure is the peer's ERROR (fault.code is its code) */
};

/* RC_OK, or RC_EINVAL for a configuration the HELLO rules refuse or a secret
 * shorter than PEER_SECRET_MIN. peer_hs_deinit is safe after a failed init. */
int peer_hs_init(struct peer_hs *hs, enum peer_role role, const struct peer_hs_config *cfg,
                 const uint8_t nonce[PEER_NONCE_SIZE]);
void peer_hs_deinit(struct peer_hs *hs);
/* The initiator appends its HELLO; the responder appends nothing. */
int peer_hs_start(struct peer_hs *hs, struct buf *out);
/* Feed one frame. RC_EAGAIN: wait for the next one; RC_OK: done; RC_EPROTO:
 * failed (hs->fault; also for every call after a failure). In every case
 * send what was appended to out first. RC_EINVAL when called in START or
 * DONE; RC_ENOMEM, RC_EINTERNAL as the buffers and the MAC fail. */
int peer_hs_input(struct peer_hs *hs, const struct peer_frame *f, struct buf *out);
/* What peer_frame_decode should accept on this connection now. */
void peer_hs_limits(const struct peer_hs *hs, struct peer_limits *lim);

/* ------------------------------------------------------------ internal
 *
 * Internal to src/cluster (peer_handshake.c); not part of the codec's API.
 * Append one whole frame with the given header fields and body bytes, as the
 * encoders do (no checks of the fields; RC_ETOOLARGE past
 * PEER_MAX_BODY_CEILING, RC_ENOMEM); on failure `out` is left as it was. */
int peer_codec_internal_frame(uint8_t version, uint8_t type, uint64_t id, const void *body,
                              size_t n, struct buf *out);

#endif
