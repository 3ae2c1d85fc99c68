/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bin.h - memcached 1.6 binary protocol codec: a side-effect-free parser from
 * packets to struct request, and encoders from struct response to response
 * packets, byte for byte memcached 1.6.18's (checked against the real server).
 *
 *   bytes --bin_parse--> struct request          (OK / AGAIN / ERROR)
 *   struct response --bin_encode_*--> packets appended to a struct buf
 *
 * Every packet is a 24-byte header, all integers big-endian, then the body:
 *
 *     0        1        2        3
 *   +--------+--------+--------+--------+
 *   | magic  | opcode | key length      |   magic 0x80 request, 0x81 response
 *   +--------+--------+--------+--------+
 *   | extlen | dtype  | vbucket/status  |   request: vbucket (ignored)
 *   +--------+--------+--------+--------+   response: status
 *   | total body length                 |   = extlen + key length + value
 *   +--------+--------+--------+--------+
 *   | opaque (echoed verbatim)          |
 *   +--------+--------+--------+--------+
 *   | cas (8 bytes)                     |
 *   +                                   +
 *   |                                   |
 *   +--------+--------+--------+--------+
 *   | extras | key | value ...          |   body, in this order
 *
 * Ownership: the parser owns one struct req_key; a parsed request's key,
 * value and args point into the caller's input and are valid until the next
 * bin_parse call or until the caller drops the consumed bytes. The codec
 * allocates nothing but the output buffer's growth.
 */
#ifndef RC_PROTO_BIN_H
#define RC_PROTO_BIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/request.h"

#define BIN_HEADER_LEN 24
#define BIN_MAGIC_REQ  0x80
#define BIN_MAGIC_RES  0x81

/* Opcodes. Verbosity (0x1b) has a number but memcached 1.6 does not answer
 * it: it gets UNKNOWN_COMMAND like any other opcode not listed here. */
enum bin_opcode {
    BIN_OP_GET = 0x00,
    BIN_OP_SET = 0x01,
    BIN_OP_ADD = 0x02,
    BIN_OP_REPLACE = 0x03,
    BIN_OP_DELETE = 0x04,
    BIN_OP_INCREMENT = 0x05,
    BIN_OP_DECREMENT = 0x06,
    BIN_OP_QUIT = 0x07,
    BIN_OP_FLUSH = 0x08,
    BIN_OP_GETQ = 0x09,
    BIN_OP_NOOP = 0x0a,
    BIN_OP_VERSION = 0x0b,
    BIN_OP_GETK = 0x0c,
    BIN_OP_GETKQ = 0x0d,
    BIN_OP_APPEND = 0x0e,
    BIN_OP_PREPEND = 0x0f,
    BIN_OP_STAT = 0x10,
    BIN_OP_SETQ = 0x11,
    BIN_OP_ADDQ = 0x12,
    BIN_OP_REPLACEQ = 0x13,
    BIN_OP_DELETEQ = 0x14,
    BIN_OP_INCREMENTQ = 0x15,
    BIN_OP_DECREMENTQ = 0x16,
    BIN_OP_QUITQ = 0x17,
    BIN_OP_FLUSHQ = 0x18,
    BIN_OP_APPENDQ = 0x19,
    BIN_OP_PREPENDQ = 0x1a,
    BIN_OP_VERBOSITY = 0x1b,
    BIN_OP_TOUCH = 0x1c,
    BIN_OP_GAT = 0x1d,
    BIN_OP_GATQ = 0x1e,
    BIN_OP_SASL_LIST_MECHS = 0x20,
    BIN_OP_SASL_AUTH = 0x21,
    BIN_OP_SASL_STEP = 0x22,
    BIN_OP_GATK = 0x23,
    BIN_OP_GATKQ = 0x24,
    /* ringcached's causal-versioning extension (doc/protocol-extension.txt
     * section 4); 0xed to 0xef are reserved and answered UNKNOWN_COMMAND. */
    BIN_OP_VGET = 0xe8,
    BIN_OP_VSET = 0xe9,
    BIN_OP_VDELETE = 0xea,
    BIN_OP_VSETQ = 0xeb,
    BIN_OP_VDELETEQ = 0xec,
};

/* X(enum, value, memcached's error text) */
#define BIN_STATUS_TABLE(X)                                                              \
    X(BIN_STATUS_SUCCESS, 0x0000, "")                                                    \
    X(BIN_STATUS_KEY_ENOENT, 0x0001, "Not found")                                        \
    X(BIN_STATUS_KEY_EEXISTS, 0x0002, "Data exists for key.")                            \
    X(BIN_STATUS_E2BIG, 0x0003, "Too large.")                                            \
    X(BIN_STATUS_EINVAL, 0x0004, "Invalid arguments")                                    \
    X(BIN_STATUS_NOT_STORED, 0x0005, "Not stored.")                                      \
    X(BIN_STATUS_DELTA_BADVAL, 0x0006, "Non-numeric server-side value for incr or decr") \
    X(BIN_STATUS_AUTH_ERROR, 0x0020, "Auth failure.")                                    \
    X(BIN_STATUS_AUTH_CONTINUE, 0x0021, "")                                              \
    X(BIN_STATUS_UNKNOWN_COMMAND, 0x0081, "Unknown command")                             \
    X(BIN_STATUS_ENOMEM, 0x0082, "Out of memory")                                        \
    X(BIN_STATUS_NOT_SUPPORTED, 0x0083, "Not supported")                                 \
    X(BIN_STATUS_EINTERNAL, 0x0084, "Internal error")                                    \
    X(BIN_STATUS_EBUSY, 0x0085, "Busy")                                                  \
    X(BIN_STATUS_ETMPFAIL, 0x0086, "Temporary failure")

enum bin_status {
#define BIN_STATUS_ENUM(e, v, msg) e = v,
    BIN_STATUS_TABLE(BIN_STATUS_ENUM)
#undef BIN_STATUS_ENUM
};

/* req->wire.flags bits set by bin_parse. */
#define BIN_WF_QUIET      0x1u /* a quiet opcode (GetQ, SetQ, ...) */
#define BIN_WF_RETURN_KEY 0x2u /* GetK, GetKQ, GATK, GATKQ: replies carry the key */

struct bin_parser {
    uint64_t max_item_size; /* -I: larger values are refused (E2BIG) */
    struct req_key key;     /* the current request's key; borrows the input */
};

enum bin_rc {
    BIN_OK = 0, /* *req is a complete request; drop *consumed bytes after use */
    BIN_AGAIN,  /* need at least *consumed bytes in total; nothing consumed */
    BIN_ERROR,  /* send bin_encode_error(err); drop *consumed bytes, then
                 * discard err.swallow more as they arrive; close if err.close */
};

struct bin_error {
    bool reply;            /* false: send nothing (bad magic: silent close) */
    uint16_t status;       /* enum bin_status of the reply */
    const char *text;      /* static reply value; NULL: the status's own text */
    uint8_t opcode;        /* echoed in the reply */
    uint32_t opaque;       /* echoed in the reply */
    size_t swallow;        /* bytes to discard after the consumed ones */
    bool close;            /* close once the reply is written */
    const char *stale_key; /* non-NULL: delete this key's item (a set refused
                            * as too large, as memcached does); borrows input */
    size_t nstale_key;
};

void bin_parser_init(struct bin_parser *p, uint64_t max_item_size);
void bin_parser_deinit(struct bin_parser *p);

/* Parse one packet from data[0..len). data[0] is expected to be 0x80 (the
 * connection chose the binary protocol from its first byte). */
enum bin_rc bin_parse(struct bin_parser *p, const char *data, size_t len, struct request *req,
                      size_t *consumed, struct bin_error *err);

/* The reply to a request parsed by bin_parse (ki: key index, always 0), with
 * memcached's quiet rules: a quiet get's miss and a quiet write's success
 * append nothing; errors are always appended. RC_OK or RC_ENOMEM. */
int bin_encode_response(struct buf *out, const struct request *req, size_t ki,
                        const struct response *resp);
/* The reply for a BIN_ERROR (nothing when err->reply is false). */
int bin_encode_error(struct buf *out, const struct bin_error *err);
/* One stat packet (key = name, value = value) and the empty terminator. */
int bin_encode_stat(struct buf *out, const struct request *req, const char *name,
                    const char *value);
int bin_encode_stat_end(struct buf *out, const struct request *req);
/* Version reply; version NULL means ours (PACKAGE_VERSION). */
int bin_encode_version(struct buf *out, const struct request *req, const char *version);
/* SASL replies: status SUCCESS with "PLAIN" or "Authenticated", AUTH_ERROR,
 * AUTH_CONTINUE with the challenge. */
int bin_encode_sasl(struct buf *out, const struct request *req, uint16_t status, const char *body,
                    size_t nbody);
/* A bare status reply (noop, flush, quit, or an error status, which carries
 * memcached's text for it). Success on a quiet opcode appends nothing. */
int bin_encode_status(struct buf *out, const struct request *req, uint16_t status);

/* The request came from a quiet opcode: its success (or miss) sends nothing. */
bool bin_is_quiet(const struct request *req);
/* memcached's text for a status ("" for success and unknown values). */
const char *bin_status_message(uint16_t status);

#endif
