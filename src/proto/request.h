/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * request.h - the protocol-neutral request and response.
 *
 * Codecs (text now; binary and meta later) turn bytes into a struct request
 * and a struct response back into bytes. Nothing here knows sockets, libevent
 * or storage. Ownership: every pointer in a request (keys, value, args) points
 * into the codec's input buffer or the parser's own key array and is valid
 * only until the caller consumes those bytes or parses again. Every pointer in
 * a response is borrowed from the coordinator's per-thread scratch and is
 * valid only until the next coordinator call on that thread.
 */
#ifndef RC_PROTO_REQUEST_H
#define RC_PROTO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQ_KEY_MAX 250 /* memcached's KEY_MAX_LENGTH */

/* X(enum, wire name, flags) */
#define REQ_CMD_TABLE(X)                  \
    X(REQ_NONE, "none", 0)                \
    X(REQ_GET, "get", REQF_RETRIEVE)      \
    X(REQ_GETS, "gets", REQF_RETRIEVE)    \
    X(REQ_GAT, "gat", REQF_RETRIEVE)      \
    X(REQ_GATS, "gats", REQF_RETRIEVE)    \
    X(REQ_SET, "set", REQF_STORE)         \
    X(REQ_ADD, "add", REQF_STORE)         \
    X(REQ_REPLACE, "replace", REQF_STORE) \
    X(REQ_APPEND, "append", REQF_STORE)   \
    X(REQ_PREPEND, "prepend", REQF_STORE) \
    X(REQ_CAS, "cas", REQF_STORE)         \
    X(REQ_DELETE, "delete", REQF_WRITE)   \
    X(REQ_INCR, "incr", REQF_WRITE)       \
    X(REQ_DECR, "decr", REQF_WRITE)       \
    X(REQ_TOUCH, "touch", REQF_WRITE)     \
    X(REQ_FLUSH_ALL, "flush_all", 0)      \
    X(REQ_VERSION, "version", 0)          \
    X(REQ_VERBOSITY, "verbosity", 0)      \
    X(REQ_QUIT, "quit", 0)                \
    X(REQ_SHUTDOWN, "shutdown", 0)        \
    X(REQ_STATS, "stats", 0)              \
    X(REQ_MN, "mn", 0)                    \
    X(REQ_ME, "me", 0)                    \
    X(REQ_NOOP, "noop", 0)                \
    X(REQ_SASL_LIST, "sasl_list", 0)      \
    X(REQ_SASL_AUTH, "sasl_auth", 0)      \
    X(REQ_SASL_STEP, "sasl_step", 0)      \
    X(REQ_VGET, "vget", REQF_RETRIEVE)    \
    X(REQ_VSET, "vset", REQF_STORE)       \
    X(REQ_VDEL, "vdel", REQF_WRITE)       \
    X(REQ_RING, "ring", 0)                \
    X(REQ_MEMBERS, "members", 0)          \
    X(REQ_CMD__COUNT, "", 0)

#define REQF_RETRIEVE 0x1u /* reads keys, replies VALUE ... END */
#define REQF_STORE    0x2u /* carries a value */
#define REQF_WRITE    0x4u /* modifies one key without a value */

enum req_cmd {
#define REQ_CMD_ENUM(e, name, flags) e,
    REQ_CMD_TABLE(REQ_CMD_ENUM)
#undef REQ_CMD_ENUM
};

struct req_key {
    const char *key; /* borrowed, not NUL-terminated */
    size_t nkey;     /* 1..REQ_KEY_MAX */
};

/* Which codec parsed the request (and so encodes its reply). Meta commands
 * arrive on text connections but are REQ_PROTO_META. */
enum req_proto { REQ_PROTO_TEXT = 0, REQ_PROTO_META, REQ_PROTO_BINARY };

/* Options that change how a command executes, set by the meta and binary
 * codecs (text commands leave them all 0). The coordinator reads them;
 * semantics are memcached 1.6's, in doc/protocol.txt. */
/* clang-format off */
#define REQO_COMPARE_CAS 0x0001u /* fail with EXISTS (NOT_FOUND when absent)
                                  * unless the item's cas is opts.compare_cas:
                                  * meta C, binary set/delete/... with cas */
#define REQO_TTL         0x0004u /* also set the exptime to opts.ttl (mg/ma T,
                                  * md T with I) */
#define REQO_VIVIFY      0x0008u /* create on miss, exptime opts.vivify_ttl:
                                  * mg N (empty item, win token), ma N and
                                  * binary incr/decr (value opts.initial) */
#define REQO_RECACHE     0x0010u /* mg R: win if remaining ttl < recache_ttl */
#define REQO_INVALIDATE  0x0020u /* ms I: a compare-cas older than the item's
                                  * stores the value marked stale; md I: mark
                                  * stale (new cas) instead of deleting */
#define REQO_NO_BUMP     0x0040u /* mg u: do not record this access */
#define REQO_ITEM_INFO   0x0080u /* fill resp ttl, last_access, hit_before */
/* The causal-versioning extension (doc/protocol-extension.txt): */
#define REQO_WANT_CONTEXT 0x0100u /* fill resp context (meta y; always set by
                                   * the codecs for vget/vset/vdel) */
#define REQO_WANT_NLIVE   0x0200u /* fill resp nlive after a write (meta a on
                                   * ms/md; always for vset/vdel) */
#define REQO_QUORUM       0x0400u /* per-request quorums opts.r / opts.w
                                   * (vget/vset/vdel only: meta r/w, text
                                   * W=, binary's extra extras byte) */
/* clang-format on */
/* Extension commands: REQ_VGET (vget; mg with a; binary VGet) answers every
 * live sibling in resp->siblings; REQ_VSET (vset; ms with Y; binary VSet)
 * and REQ_VDEL (vdel; md with Y; binary VDelete) carry the client's context
 * token in req->context/ncontext, as received: ncontext 0 is the empty
 * context ("-" in text and meta; length 0 in binary). The coordinator
 * validates it (RC_EBADCONTEXT). */
/* The longest context token (doc/protocol-extension.txt section 1). */
#define REQ_CONTEXT_MAX 543
/* The largest per-request R or W a client may ask for (section 8 there);
 * the coordinator caps it at N. */
#define REQ_QUORUM_MAX 16

struct req_opts {
    uint32_t set;         /* REQO_* bits */
    uint64_t compare_cas; /* REQO_COMPARE_CAS */
    uint64_t initial;     /* REQO_VIVIFY on incr/decr: the created value */
    int64_t ttl;          /* REQO_TTL, exptime rules as req.exptime */
    int64_t vivify_ttl;   /* REQO_VIVIFY */
    int64_t recache_ttl;  /* REQO_RECACHE, seconds */
    uint8_t r, w;         /* REQO_QUORUM: read / write quorum wanted,
                           * 0..REQ_QUORUM_MAX, 0 = the node's default */
};

/* Codec-private data that the encoder echoes back (opaque tokens, which
 * fields the client asked for, quiet mode). Only the codec that parsed the
 * request reads it; everything else treats it as opaque. */
struct req_wire {
    uint32_t flags;    /* the codec's own bits */
    uint32_t opaque;   /* binary opaque */
    uint8_t opcode;    /* binary opcode */
    const char *token; /* meta O(token), borrowed like keys */
    size_t ntoken;
};

struct request {
    enum req_cmd cmd;
    enum req_proto proto;
    struct req_opts opts;
    struct req_wire wire;
    bool noreply;      /* client asked for no reply on success */
    uint32_t flags;    /* client flags (storage commands) */
    int64_t exptime;   /* as sent: relative (<= 30 days), absolute, or negative;
                        * also gat/gats/touch's new exptime, flush_all's delay */
    uint64_t cas;      /* cas command's compare value */
    uint64_t delta;    /* incr/decr amount; verbosity level */
    const char *value; /* storage commands: the data block, without "\r\n" */
    size_t nvalue;
    struct req_key *keys; /* borrowed; nkeys >= 1 for keyed commands, except
                           * gat/gats, which may have 0 (the reply is END) */
    size_t nkeys;
    const char *context; /* REQ_VSET/REQ_VDEL: the context token, borrowed
                          * like keys; ncontext 0 = the empty context */
    size_t ncontext;
    const char *args; /* stats/shutdown: the rest of the line after the
                       * command and one space ("" if none), trimmed */
    size_t nargs;
};

/* Why a retrieval missed, for get_expired / get_flushed stats. */
enum resp_miss { RESP_MISS_NONE = 0, RESP_MISS_ABSENT, RESP_MISS_EXPIRED, RESP_MISS_FLUSHED };

/* One live sibling of an extension read. */
struct resp_sibling {
    uint32_t flags;    /* client flags */
    int64_t wtime_ms;  /* write time, Unix milliseconds */
    const char *value; /* borrowed like every response pointer */
    size_t nvalue;
};

struct response {
    int status;          /* RC_OK or an enum rc_status failure */
    const char *errmsg;  /* optional reason for SERVER_ERROR replies, static or
                          * borrowed; NULL means use rc_strerror(status) */
    enum resp_miss miss; /* retrievals that returned RC_ENOTFOUND */
    /* A retrieval hit (status RC_OK on get/gets/gat/gats): */
    uint32_t flags;
    uint64_t cas;      /* a hit: the item's; a successful write: the new version's */
    const char *value; /* borrowed, see above */
    size_t nvalue;
    uint64_t number; /* incr/decr: the new value */
    /* With REQO_ITEM_INFO (and for me), about the item as it was found: */
    int64_t ttl;         /* seconds left, -1 = never expires */
    int64_t last_access; /* seconds since the item was last read or written */
    bool hit_before;     /* read before this request */
    /* Recache/invalidation state (meta W, X, Z): */
    bool stale;       /* the item was invalidated (md I / ms I) */
    bool win;         /* this client should recompute the value */
    bool won_already; /* a win was already handed to another client */
    bool created;     /* REQO_VIVIFY created the item */
    /* Causal-versioning extension: */
    const struct resp_sibling *siblings; /* REQ_VGET hit: live siblings,
                                          * dominant first (may be 0) */
    size_t nsiblings;
    const char *context; /* REQO_WANT_CONTEXT: the object's context token
                          * (never "-": an absent object has no reply) */
    size_t ncontext;
    uint32_t nlive; /* REQO_WANT_NLIVE: live siblings after the write */
};

/* The size memcached 1.6 charges against -I for an item (its header with
 * cas, the key and its NUL, the value with "\r\n", and 4 bytes of flags when
 * they are not 0): the limit every storage path applies, so a value that
 * set refuses cannot be built by append either. */
uint64_t req_item_size(size_t nkey, size_t nvalue, uint32_t flags);

/* Could n bytes at p be a context token at all: 1..REQ_CONTEXT_MAX bytes of
 * A-Z a-z 0-9 - _ and '.'? The codecs pass every token on for the
 * coordinator to validate (and count in context_errors), and use this only
 * to put "bad context" before an error of their own where the order of checks
 * says so (a vset or ms Y value too large, or a bad data chunk). ("-" in text
 * and meta is turned into ncontext 0, the empty context, before this.) */
bool req_context_plausible(const char *p, size_t n);

const char *req_cmd_name(enum req_cmd cmd);
unsigned req_cmd_flags(enum req_cmd cmd);
void request_reset(struct request *req);
/* A deep copy of src in one heap block (keys, value, context, meta token
 * and args copied), for a reply encoded after src's input buffer is gone
 * (a request answered asynchronously). Free with request_free. */
int request_clone(const struct request *src, struct request **out);
void request_free(struct request *r);
void response_reset(struct response *resp);

#endif
