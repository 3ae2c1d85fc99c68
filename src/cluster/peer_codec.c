/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_codec.c - the peer protocol's frames and bodies (doc/peer-protocol.txt,
 * "PP.n"); the handshake state machine (PP.5, PP.6) is in peer_handshake.c.
 * Pure: no I/O, no clock, no globals; the only outside calls are the buffer.
 *
 * Reading is done by a cursor (struct rd) that refuses to step past the end
 * of the body and remembers that it tried; every decoder reads its fields,
 * checks them, and finally insists that nothing is left over. Writing goes
 * through struct wr, which appends a header with a zero length, then the
 * body, then patches the length, and rolls `out` back on any failure.
 */
#include "config.h"

#include "cluster/peer_codec.h"

#include <string.h>

#include "base/endian.h"
#include "base/status.h"
#include "kv/context.h"
#include "kv/dvv.h"
#include "kv/object.h"

_Static_assert(PEER_CONTEXT_MAX == CONTEXT_TOKEN_MAX, "context bound");
_Static_assert(PEER_SIBLINGS_MAX == DVV_MAX_VALUES, "sibling bound");
_Static_assert(PEER_RECORD_MIN == OBJECT_HEADER_SIZE, "record header");
_Static_assert(PEER_NODE_ID_SIZE == DVV_ACTOR_SIZE, "node id");
_Static_assert(PEER_RING_DETAIL_SIZE == 2 * PEER_RING_HASH_SIZE + 12, "ring detail");

/* Fixed parts of the bodies. */
#define HELLO_FIXED  107 /* without name and extensions */
#define PUT_FIXED    28
#define GET_FIXED    8
#define GETR_FIXED   8
#define FWD_FIXED    82
#define FWDR_FIXED   56
#define SIB_FIXED    16
#define ERR_FIXED    6
#define PUT_ACK_SIZE 20
#define PONG_SIZE    16
#define PING_SIZE    8
#define FLUSH_SIZE   16
#define PUT_FLAGS_V1 (PEER_PUT_HINT | PEER_PUT_REPAIR | PEER_PUT_HANDOFF)
#define PUT_FLAGS_V2 (PUT_FLAGS_V1 | PEER_PUT_ACKED) /* version 2: notices */
#define GET_FLAGS_V1 PEER_GET_DEAD
#define GET_FLAGS_V2 (GET_FLAGS_V1 | PEER_GET_ACKED)

/* ------------------------------------------------------------ tables */

struct type_info {
    uint8_t type;
    const char *name;
    int kind;
    uint32_t min;
    uint32_t max; /* PEER_BODY_CONN: the connection's limit */
};

static const struct type_info types[] = {
#define PEER_TYPE_ROW(e, v, name, kind, min, max) {v, name, kind, min, max},
    PEER_TYPE_TABLE(PEER_TYPE_ROW)
#undef PEER_TYPE_ROW
};

static const struct type_info *
type_find(unsigned type)
{
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (types[i].type == type) {
            return &types[i];
        }
    }
    return NULL;
}

const char *
peer_type_name(unsigned type)
{
    const struct type_info *t = type_find(type);
    return t != NULL ? t->name : "?";
}

int
peer_type_kind(unsigned type)
{
    const struct type_info *t = type_find(type);
    return t != NULL ? t->kind : 0;
}

const char *
peer_code_name(unsigned code)
{
    switch (code) {
#define PEER_CODE_CASE(e, v, name) \
    case v:                        \
        return name;
        PEER_CODE_TABLE(PEER_CODE_CASE)
#undef PEER_CODE_CASE
    default:
        return "?";
    }
}

const char *
peer_cmd_name(unsigned cmd)
{
    switch (cmd) {
#define PEER_CMD_CASE(e, v, name) \
    case v:                       \
        return name;
        PEER_CMD_TABLE(PEER_CMD_CASE)
#undef PEER_CMD_CASE
    default:
        return "?";
    }
}

/* Codes and statuses that stand for each other. */
static const struct {
    uint16_t code;
    int status;
} code_status[] = {
    {PEER_OK, RC_OK},
    {PEER_NOT_FOUND, RC_ENOTFOUND},
    {PEER_EXISTS, RC_EEXISTS},
    {PEER_NOT_STORED, RC_ENOTSTORED},
    {PEER_TOO_LARGE, RC_ETOOLARGE},
    {PEER_NON_NUMERIC, RC_ENONNUMERIC},
    {PEER_BAD_CONTEXT, RC_EBADCONTEXT},
    {PEER_TOO_MANY_SIBLINGS, RC_ESIBLINGS},
    {PEER_INVALID, RC_EINVAL},
    {PEER_IO, RC_EIO},
    {PEER_NO_SPACE, RC_ENOSPC},
    {PEER_NO_MEMORY, RC_ENOMEM},
    {PEER_TRY_AGAIN, RC_EAGAIN},
    {PEER_TRY_AGAIN, RC_EDEADLOCK},
    {PEER_INTERNAL, RC_EINTERNAL},
    {PEER_CORRUPT, RC_ECORRUPT},
    {PEER_DISABLED, RC_EDISABLED},
};

int
peer_code_to_status(unsigned code)
{
    size_t i;

    for (i = 0; i < sizeof(code_status) / sizeof(code_status[0]); i++) {
        if (code_status[i].code == code) {
            return code_status[i].status;
        }
    }
    return code < PEER_CODE_CONNECTION ? RC_EINTERNAL : RC_EPROTO;
}

uint16_t
peer_code_from_status(int status)
{
    size_t i;

    for (i = 0; i < sizeof(code_status) / sizeof(code_status[0]); i++) {
        if (code_status[i].status == status) {
            return code_status[i].code;
        }
    }
    return PEER_INTERNAL;
}

bool
peer_cmd_has_value(unsigned cmd)
{
    switch (cmd) {
    case PEER_CMD_SET:
    case PEER_CMD_ADD:
    case PEER_CMD_REPLACE:
    case PEER_CMD_APPEND:
    case PEER_CMD_PREPEND:
    case PEER_CMD_CAS:
    case PEER_CMD_VSET:
        return true;
    default:
        return false;
    }
}

bool
peer_cmd_has_context(unsigned cmd)
{
    return cmd == PEER_CMD_VSET || cmd == PEER_CMD_VDEL;
}

/* ------------------------------------------------------------ helpers */

static int
fail(struct peer_fault *fault, uint16_t code, const char *why)
{
    if (fault != NULL) {
        fault->code = code;
        fault->why = why;
    }
    return RC_EPROTO;
}

static bool
all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    unsigned char acc = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        acc |= b[i];
    }
    return acc == 0;
}

static bool
printable(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (b[i] < 0x20 || b[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static bool
name_ok(const char *s, size_t n)
{
    size_t i;

    if (n < 1 || n > PEER_NAME_MAX || s == NULL) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool
key_ok(const void *key, size_t n)
{
    return key != NULL && n >= 1 && n <= PEER_KEY_MAX;
}

static bool
record_ok(const void *rec, size_t n)
{
    const unsigned char *r = rec;
    return rec != NULL && n >= PEER_RECORD_MIN && r[0] == OBJECT_FORMAT_V3 && r[1] == OBJECT_KIND;
}

static bool
pow2(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* ------------------------------------------------------------ reading */

struct rd {
    const unsigned char *p;
    size_t left;
    bool short_;
};

static void
rd_init(struct rd *r, const struct peer_frame *f)
{
    r->p = f->body;
    r->left = f->h.body_len;
    r->short_ = false;
}

static const unsigned char *
rd_take(struct rd *r, size_t n)
{
    const unsigned char *p;

    if (r->short_ || n > r->left) {
        r->short_ = true;
        r->left = 0;
        return NULL;
    }
    p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint8_t
rd_u8(struct rd *r)
{
    const unsigned char *p = rd_take(r, 1);
    return p != NULL ? p[0] : 0;
}

static uint16_t
rd_u16(struct rd *r)
{
    const unsigned char *p = rd_take(r, 2);
    return p != NULL ? be_get16(p) : 0;
}

static uint32_t
rd_u32(struct rd *r)
{
    const unsigned char *p = rd_take(r, 4);
    return p != NULL ? be_get32(p) : 0;
}

static uint64_t
rd_u64(struct rd *r)
{
    const unsigned char *p = rd_take(r, 8);
    return p != NULL ? be_get64(p) : 0;
}

static int64_t
rd_i64(struct rd *r)
{
    return (int64_t)rd_u64(r);
}

static void
rd_copy(struct rd *r, void *dst, size_t n)
{
    const unsigned char *p = rd_take(r, n);

    if (p != NULL) {
        memcpy(dst, p, n);
    } else {
        memset(dst, 0, n);
    }
}

/* The end of every decoder: no short read, nothing left over. */
static int
rd_finish(const struct rd *r, struct peer_fault *fault)
{
    if (r->short_) {
        return fail(fault, PEER_PROTOCOL, "truncated body");
    }
    if (r->left != 0) {
        return fail(fault, PEER_PROTOCOL, "trailing bytes");
    }
    return RC_OK;
}

static int
check_type(const struct peer_frame *f, uint8_t type, struct peer_fault *fault)
{
    if (f == NULL || f->h.type != type || (f->body == NULL && f->h.body_len != 0)) {
        return fail(fault, PEER_PROTOCOL, "unexpected frame type");
    }
    return RC_OK;
}

/* ------------------------------------------------------------ writing */

struct wr {
    struct buf *out;
    size_t start;
    int rc;
};

static void
wr_bytes(struct wr *w, const void *p, size_t n)
{
    if (w->rc == RC_OK && n > 0) {
        w->rc = buf_append(w->out, p, n);
    }
}

static void
wr_u8(struct wr *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}

static void
wr_u16(struct wr *w, uint16_t v)
{
    unsigned char b[2];
    be_put16(b, v);
    wr_bytes(w, b, 2);
}

static void
wr_u32(struct wr *w, uint32_t v)
{
    unsigned char b[4];
    be_put32(b, v);
    wr_bytes(w, b, 4);
}

static void
wr_u64(struct wr *w, uint64_t v)
{
    unsigned char b[8];
    be_put64(b, v);
    wr_bytes(w, b, 8);
}

static void
wr_begin(struct wr *w, struct buf *out, uint8_t version, uint8_t type, uint64_t id)
{
    unsigned char h[PEER_HEADER_SIZE];

    w->out = out;
    w->start = out->len;
    w->rc = RC_OK;
    memset(h, 0, sizeof(h));
    h[0] = PEER_MAGIC0;
    h[1] = PEER_MAGIC1;
    h[2] = version;
    h[3] = type;
    be_put64(h + 8, id);
    wr_bytes(w, h, sizeof(h));
}

static int
wr_end(struct wr *w)
{
    size_t body;

    if (w->rc == RC_OK) {
        body = w->out->len - w->start - PEER_HEADER_SIZE;
        if (body > PEER_MAX_BODY_CEILING) {
            w->rc = RC_ETOOLARGE;
        } else {
            be_put32((unsigned char *)w->out->data + w->start + 16, (uint32_t)body);
        }
    }
    if (w->rc != RC_OK) {
        w->out->len = w->start;
    }
    return w->rc;
}

/* Checks shared by every encoder: a known version, an id fit for the type. */
static bool
frame_args_ok(uint8_t version, uint8_t type, uint64_t id)
{
    int kind = peer_type_kind(type);

    if (version < PEER_VERSION_MIN || version > PEER_VERSION_MAX) {
        return false;
    }
    if (kind == PEER_KIND_REQUEST || kind == PEER_KIND_REPLY) {
        return id != 0;
    }
    return kind != 0;
}

/* ------------------------------------------------------------ frames */

int
peer_frame_decode(const struct peer_limits *lim, const void *data, size_t n, struct peer_frame *f,
                  size_t *need, struct peer_fault *fault)
{
    const unsigned char *p = data;
    const struct type_info *t = NULL;
    uint32_t len, max;
    uint64_t id;

    *need = PEER_HEADER_SIZE;
    if (n >= 1 && p[0] != PEER_MAGIC0) {
        return fail(fault, PEER_PROTOCOL, "bad magic");
    }
    if (n >= 2 && p[1] != PEER_MAGIC1) {
        return fail(fault, PEER_PROTOCOL, "bad magic");
    }
    if (n >= 3 && p[2] != lim->version) {
        if (p[2] < PEER_VERSION_MIN || p[2] > PEER_VERSION_MAX) {
            return fail(fault, PEER_PROTOCOL, "unknown version");
        }
        return fail(fault, PEER_PROTOCOL, "wrong version");
    }
    if (n >= 4) {
        t = type_find(p[3]);
        if (t == NULL) {
            return fail(fault, PEER_PROTOCOL, "unknown type");
        }
    }
    if (n >= 6 && (p[4] | p[5]) != 0) {
        return fail(fault, PEER_PROTOCOL, "flags set");
    }
    if (n >= 8 && (p[6] | p[7]) != 0) {
        return fail(fault, PEER_PROTOCOL, "reserved bytes set");
    }
    if (n < PEER_HEADER_SIZE) {
        return RC_EAGAIN;
    }
    id = be_get64(p + 8);
    len = be_get32(p + 16);
    if (t->kind == PEER_KIND_HANDSHAKE && id != 0) {
        return fail(fault, PEER_PROTOCOL, "handshake frame with a request id");
    }
    if ((t->kind == PEER_KIND_REQUEST || t->kind == PEER_KIND_REPLY) && id == 0) {
        return fail(fault, PEER_PROTOCOL, "request id 0");
    }
    if (len < t->min || len > t->max) {
        return fail(fault, PEER_PROTOCOL, "body length wrong for the type");
    }
    max = lim->max_body < PEER_MAX_BODY_CEILING ? lim->max_body : PEER_MAX_BODY_CEILING;
    if (len > max) {
        return fail(fault, PEER_FRAME_TOO_LARGE, "frame too large");
    }
    *need = PEER_HEADER_SIZE + (size_t)len;
    if (n < *need) {
        return RC_EAGAIN;
    }
    f->h.version = p[2];
    f->h.type = p[3];
    f->h.id = id;
    f->h.body_len = len;
    f->body = p + PEER_HEADER_SIZE;
    return RC_OK;
}

int
peer_frame_expect(enum peer_role role, const struct peer_frame *f, struct peer_fault *fault)
{
    int kind = peer_type_kind(f->h.type);

    if (kind == PEER_KIND_ERROR) {
        return RC_OK;
    }
    if (role == PEER_ROLE_INITIATOR && kind == PEER_KIND_REPLY) {
        return RC_OK;
    }
    if (role == PEER_ROLE_RESPONDER && kind == PEER_KIND_REQUEST) {
        return RC_OK;
    }
    return fail(fault, PEER_PROTOCOL, "frame not allowed in this direction");
}

/* ------------------------------------------------------------ HELLO */

static bool
hello_ok(const struct peer_hello *m)
{
    return m->min_version >= 1 && m->max_version >= m->min_version &&
           (m->role == PEER_ROLE_INITIATOR || m->role == PEER_ROLE_RESPONDER) &&
           !all_zero(m->node_id, PEER_NODE_ID_SIZE) && pow2(m->partitions) && m->replicas >= 1 &&
           m->max_inflight >= 1 && m->max_body >= PEER_MAX_BODY_MIN &&
           m->max_body <= PEER_MAX_BODY_CEILING && name_ok(m->name, m->nname) &&
           (m->next == 0 || m->ext != NULL) &&
           HELLO_FIXED + m->nname + m->next <= PEER_HANDSHAKE_MAX_BODY;
}

static void
hello_body(struct wr *w, const struct peer_hello *m)
{
    wr_u8(w, m->min_version);
    wr_u8(w, m->max_version);
    wr_u8(w, m->role);
    wr_u8(w, 0);
    wr_bytes(w, m->nonce, PEER_NONCE_SIZE);
    wr_bytes(w, m->node_id, PEER_NODE_ID_SIZE);
    wr_bytes(w, m->ring_hash, PEER_RING_HASH_SIZE);
    wr_u32(w, m->partitions);
    wr_u16(w, m->replicas);
    wr_u16(w, m->max_inflight);
    wr_u32(w, m->max_body);
    wr_u64(w, (uint64_t)m->wall_ms);
    wr_u8(w, (uint8_t)m->nname);
    wr_bytes(w, m->name, m->nname);
    wr_u16(w, (uint16_t)m->next);
    wr_bytes(w, m->ext, m->next);
}

int
peer_hello_encode(const struct peer_hello *m, struct buf *out)
{
    struct wr w;

    if (!hello_ok(m)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, PEER_HANDSHAKE_VERSION, PEER_T_HELLO, 0);
    hello_body(&w, m);
    return wr_end(&w);
}

int
peer_hello_decode(const struct peer_frame *f, struct peer_hello *m, struct peer_fault *fault)
{
    struct rd r;
    uint8_t flags;
    int rc;

    if ((rc = check_type(f, PEER_T_HELLO, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    m->min_version = rd_u8(&r);
    m->max_version = rd_u8(&r);
    m->role = rd_u8(&r);
    flags = rd_u8(&r);
    rd_copy(&r, m->nonce, PEER_NONCE_SIZE);
    rd_copy(&r, m->node_id, PEER_NODE_ID_SIZE);
    rd_copy(&r, m->ring_hash, PEER_RING_HASH_SIZE);
    m->partitions = rd_u32(&r);
    m->replicas = rd_u16(&r);
    m->max_inflight = rd_u16(&r);
    m->max_body = rd_u32(&r);
    m->wall_ms = rd_i64(&r);
    m->nname = rd_u8(&r);
    m->name = (const char *)rd_take(&r, m->nname);
    m->next = rd_u16(&r);
    m->ext = rd_take(&r, m->next);
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (m->min_version < 1 || m->max_version < m->min_version) {
        return fail(fault, PEER_PROTOCOL, "bad version range");
    }
    if (m->role != PEER_ROLE_INITIATOR && m->role != PEER_ROLE_RESPONDER) {
        return fail(fault, PEER_PROTOCOL, "bad role");
    }
    if (flags != 0) {
        return fail(fault, PEER_PROTOCOL, "hello flags set");
    }
    if (all_zero(m->node_id, PEER_NODE_ID_SIZE)) {
        return fail(fault, PEER_PROTOCOL, "zero node id");
    }
    if (!pow2(m->partitions) || m->replicas < 1) {
        return fail(fault, PEER_PROTOCOL, "bad partitions or replicas");
    }
    if (m->max_inflight < 1) {
        return fail(fault, PEER_PROTOCOL, "bad max in flight");
    }
    if (m->max_body < PEER_MAX_BODY_MIN || m->max_body > PEER_MAX_BODY_CEILING) {
        return fail(fault, PEER_PROTOCOL, "bad max body");
    }
    if (!name_ok(m->name, m->nname)) {
        return fail(fault, PEER_PROTOCOL, "bad node name");
    }
    return RC_OK;
}

/* ------------------------------------------------------------ AUTH */

int
peer_auth_encode(const uint8_t proof[PEER_PROOF_SIZE], struct buf *out)
{
    struct wr w;

    wr_begin(&w, out, PEER_HANDSHAKE_VERSION, PEER_T_AUTH, 0);
    wr_bytes(&w, proof, PEER_PROOF_SIZE);
    return wr_end(&w);
}

int
peer_auth_decode(const struct peer_frame *f, uint8_t proof[PEER_PROOF_SIZE],
                 struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_AUTH, fault)) != RC_OK) {
        return rc;
    }
    rd_init(&r, f);
    rd_copy(&r, proof, PEER_PROOF_SIZE);
    return rd_finish(&r, fault);
}

/* ------------------------------------------------------------ ERROR */

static bool
error_id_ok(uint16_t code, uint64_t id)
{
    return (id == 0) == (code >= PEER_CODE_CONNECTION);
}

int
peer_error_encode(uint8_t version, uint64_t id, const struct peer_error *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_ERROR, id) || !error_id_ok(m->code, id) ||
        m->ntext > PEER_TEXT_MAX || m->ndetail > PEER_DETAIL_MAX ||
        (m->ntext > 0 && (m->text == NULL || !printable(m->text, m->ntext))) ||
        (m->ndetail > 0 && m->detail == NULL)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_ERROR, id);
    wr_u16(&w, m->code);
    wr_u16(&w, (uint16_t)m->ntext);
    wr_u16(&w, (uint16_t)m->ndetail);
    wr_bytes(&w, m->text, m->ntext);
    wr_bytes(&w, m->detail, m->ndetail);
    return wr_end(&w);
}

int
peer_error_decode(const struct peer_frame *f, struct peer_error *m, struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_ERROR, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    m->code = rd_u16(&r);
    m->ntext = rd_u16(&r);
    m->ndetail = rd_u16(&r);
    if (m->ntext > PEER_TEXT_MAX || m->ndetail > PEER_DETAIL_MAX) {
        return fail(fault, PEER_PROTOCOL, "error text or detail too long");
    }
    m->text = (const char *)rd_take(&r, m->ntext);
    m->detail = rd_take(&r, m->ndetail);
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (!printable(m->text, m->ntext)) {
        return fail(fault, PEER_PROTOCOL, "error text not printable");
    }
    if (!error_id_ok(m->code, f->h.id)) {
        return fail(fault, PEER_PROTOCOL, "error code and id disagree");
    }
    return RC_OK;
}

int
peer_fault_encode(uint8_t version, const struct peer_fault *fault, struct buf *out)
{
    struct peer_error e;
    uint16_t code = fault->code >= PEER_CODE_CONNECTION ? fault->code : PEER_PROTOCOL;

    memset(&e, 0, sizeof(e));
    e.code = code;
    e.text = fault->why != NULL ? fault->why : "";
    e.ntext = strlen(e.text);
    if (e.ntext > PEER_TEXT_MAX) {
        e.ntext = PEER_TEXT_MAX;
    }
    return peer_error_encode(version, 0, &e, out);
}

/* ------------------------------------------------------------ PING, PONG */

int
peer_ping_encode(uint8_t version, uint64_t id, const struct peer_ping *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_PING, id)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_PING, id);
    wr_u64(&w, m->echo);
    return wr_end(&w);
}

int
peer_ping_decode(const struct peer_frame *f, struct peer_ping *m, struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_PING, fault)) != RC_OK) {
        return rc;
    }
    rd_init(&r, f);
    m->echo = rd_u64(&r);
    return rd_finish(&r, fault);
}

int
peer_pong_encode(uint8_t version, uint64_t id, const struct peer_pong *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_PONG, id)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_PONG, id);
    wr_u64(&w, m->echo);
    wr_u64(&w, (uint64_t)m->wall_ms);
    return wr_end(&w);
}

int
peer_pong_decode(const struct peer_frame *f, struct peer_pong *m, struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_PONG, fault)) != RC_OK) {
        return rc;
    }
    rd_init(&r, f);
    m->echo = rd_u64(&r);
    m->wall_ms = rd_i64(&r);
    return rd_finish(&r, fault);
}

/* ------------------------------------------------------------ PUT */

static bool
put_flags_ok(uint8_t version, uint8_t flags, const uint8_t owner[PEER_NODE_ID_SIZE])
{
    uint8_t all = version >= 2 ? PUT_FLAGS_V2 : PUT_FLAGS_V1;

    if ((flags & ~all) != 0 || (flags & (flags - 1)) != 0) {
        return false;
    }
    return (flags == PEER_PUT_HINT) != all_zero(owner, PEER_NODE_ID_SIZE);
}

int
peer_put_encode(uint8_t version, uint64_t id, const struct peer_put *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_PUT, id) || !put_flags_ok(version, m->flags, m->owner) ||
        !key_ok(m->key, m->nkey) || !record_ok(m->record, m->nrecord) ||
        m->nrecord > PEER_MAX_BODY_CEILING) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_PUT, id);
    wr_u8(&w, m->flags);
    wr_u8(&w, 0);
    wr_u16(&w, (uint16_t)m->nkey);
    wr_u32(&w, m->partition);
    wr_bytes(&w, m->owner, PEER_NODE_ID_SIZE);
    wr_u32(&w, (uint32_t)m->nrecord);
    wr_bytes(&w, m->key, m->nkey);
    wr_bytes(&w, m->record, m->nrecord);
    return wr_end(&w);
}

int
peer_put_decode(const struct peer_frame *f, struct peer_put *m, struct peer_fault *fault)
{
    struct rd r;
    uint8_t reserved;
    int rc;

    if ((rc = check_type(f, PEER_T_PUT, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    m->flags = rd_u8(&r);
    reserved = rd_u8(&r);
    m->nkey = rd_u16(&r);
    m->partition = rd_u32(&r);
    rd_copy(&r, m->owner, PEER_NODE_ID_SIZE);
    m->nrecord = rd_u32(&r);
    if (m->nkey < 1 || m->nkey > PEER_KEY_MAX) {
        return fail(fault, PEER_PROTOCOL, "bad key length");
    }
    m->key = rd_take(&r, m->nkey);
    m->record = rd_take(&r, m->nrecord);
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (reserved != 0) {
        return fail(fault, PEER_PROTOCOL, "reserved bytes set");
    }
    if (!put_flags_ok(f->h.version, m->flags, m->owner)) {
        return fail(fault, PEER_PROTOCOL, "bad put flags or owner");
    }
    if (!record_ok(m->record, m->nrecord)) {
        return fail(fault, PEER_PROTOCOL, "not a format 3 record");
    }
    return RC_OK;
}

int
peer_put_ack_encode(uint8_t version, uint64_t id, const struct peer_put_ack *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_PUT_ACK, id) || m->result > PEER_PUT_HINTED ||
        (m->flags & ~PEER_ACK_SYNCED) != 0) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_PUT_ACK, id);
    wr_u8(&w, m->result);
    wr_u8(&w, m->flags);
    wr_u16(&w, 0);
    wr_u32(&w, m->nsiblings);
    wr_u32(&w, m->nlive);
    wr_u64(&w, m->cas);
    return wr_end(&w);
}

int
peer_put_ack_decode(const struct peer_frame *f, struct peer_put_ack *m, struct peer_fault *fault)
{
    struct rd r;
    uint16_t reserved;
    int rc;

    if ((rc = check_type(f, PEER_T_PUT_ACK, fault)) != RC_OK) {
        return rc;
    }
    rd_init(&r, f);
    m->result = rd_u8(&r);
    m->flags = rd_u8(&r);
    reserved = rd_u16(&r);
    m->nsiblings = rd_u32(&r);
    m->nlive = rd_u32(&r);
    m->cas = rd_u64(&r);
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (m->result > PEER_PUT_HINTED || (m->flags & ~PEER_ACK_SYNCED) != 0 || reserved != 0) {
        return fail(fault, PEER_PROTOCOL, "bad put ack");
    }
    return RC_OK;
}

/* ------------------------------------------------------------ GET */

int
peer_get_encode(uint8_t version, uint64_t id, const struct peer_get *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_GET, id) || !key_ok(m->key, m->nkey)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_GET, id);
    wr_u8(&w, 0);
    wr_u8(&w, 0);
    wr_u16(&w, (uint16_t)m->nkey);
    wr_u32(&w, m->partition);
    wr_bytes(&w, m->key, m->nkey);
    return wr_end(&w);
}

int
peer_get_decode(const struct peer_frame *f, struct peer_get *m, struct peer_fault *fault)
{
    struct rd r;
    uint8_t flags, reserved;
    int rc;

    if ((rc = check_type(f, PEER_T_GET, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    flags = rd_u8(&r);
    reserved = rd_u8(&r);
    m->nkey = rd_u16(&r);
    m->partition = rd_u32(&r);
    if (m->nkey < 1 || m->nkey > PEER_KEY_MAX) {
        return fail(fault, PEER_PROTOCOL, "bad key length");
    }
    m->key = rd_take(&r, m->nkey);
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (flags != 0 || reserved != 0) {
        return fail(fault, PEER_PROTOCOL, "get flags set");
    }
    return RC_OK;
}

static bool
get_reply_ok(uint8_t version, uint8_t flags, const struct peer_get_reply *m)
{
    if (m->result == PEER_GET_NOT_FOUND) {
        return flags == 0 && m->nrecord == 0;
    }
    return m->result == PEER_GET_FOUND &&
           (flags & ~(version >= 2 ? GET_FLAGS_V2 : GET_FLAGS_V1)) == 0 &&
           record_ok(m->record, m->nrecord);
}

int
peer_get_reply_encode(uint8_t version, uint64_t id, const struct peer_get_reply *m, struct buf *out)
{
    /* ACKED is advisory and version 1 cannot say it: left out there, since
     * a responder does not know which version its reply will travel in. */
    uint8_t flags = version >= 2 ? m->flags : (uint8_t)(m->flags & ~PEER_GET_ACKED);
    struct wr w;

    if (!frame_args_ok(version, PEER_T_GET_REPLY, id) || !get_reply_ok(version, flags, m) ||
        m->nrecord > PEER_MAX_BODY_CEILING) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_GET_REPLY, id);
    wr_u8(&w, m->result);
    wr_u8(&w, flags);
    wr_u16(&w, 0);
    wr_u32(&w, (uint32_t)m->nrecord);
    wr_bytes(&w, m->record, m->nrecord);
    return wr_end(&w);
}

int
peer_get_reply_decode(const struct peer_frame *f, struct peer_get_reply *m,
                      struct peer_fault *fault)
{
    struct rd r;
    uint16_t reserved;
    int rc;

    if ((rc = check_type(f, PEER_T_GET_REPLY, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    m->result = rd_u8(&r);
    m->flags = rd_u8(&r);
    reserved = rd_u16(&r);
    m->nrecord = rd_u32(&r);
    m->record = rd_take(&r, m->nrecord);
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (m->nrecord == 0) {
        m->record = NULL;
    }
    if (reserved != 0 || !get_reply_ok(f->h.version, m->flags, m)) {
        return fail(fault, PEER_PROTOCOL, "bad get reply");
    }
    return RC_OK;
}

/* ------------------------------------------------------------ FORWARD */

static bool
forward_ok(const struct peer_forward *m)
{
    if (m->cmd < 1 || m->cmd > PEER_CMD_LAST || m->dialect > PEER_DIALECT_BINARY ||
        (m->options & ~PEER_OPT_ALL) != 0 || !key_ok(m->key, m->nkey) ||
        m->ncontext > PEER_CONTEXT_MAX || m->nvalue > PEER_MAX_BODY_CEILING) {
        return false;
    }
    if ((m->options & PEER_OPT_QUORUM) != 0 ? m->r > PEER_QUORUM_MAX || m->w > PEER_QUORUM_MAX
                                            : m->r != 0 || m->w != 0) {
        return false;
    }
    if (m->nvalue > 0 && (!peer_cmd_has_value(m->cmd) || m->value == NULL)) {
        return false;
    }
    if (m->ncontext > 0 && (!peer_cmd_has_context(m->cmd) || m->context == NULL)) {
        return false;
    }
    return true;
}

int
peer_forward_encode(uint8_t version, uint64_t id, const struct peer_forward *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_FORWARD, id) || !forward_ok(m)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_FORWARD, id);
    wr_u8(&w, m->cmd);
    wr_u8(&w, m->dialect);
    wr_u16(&w, (uint16_t)m->nkey);
    wr_u32(&w, m->options);
    wr_u32(&w, m->flags);
    wr_u64(&w, (uint64_t)m->exptime);
    wr_u64(&w, m->cas);
    wr_u64(&w, m->delta);
    wr_u64(&w, m->compare_cas);
    wr_u64(&w, m->initial);
    wr_u64(&w, (uint64_t)m->ttl);
    wr_u64(&w, (uint64_t)m->vivify_ttl);
    wr_u64(&w, (uint64_t)m->recache_ttl);
    wr_u16(&w, (uint16_t)m->ncontext);
    wr_u32(&w, (uint32_t)m->nvalue);
    wr_bytes(&w, m->key, m->nkey);
    wr_bytes(&w, m->context, m->ncontext);
    wr_bytes(&w, m->value, m->nvalue);
    if ((m->options & PEER_OPT_QUORUM) != 0) {
        wr_u8(&w, m->r);
        wr_u8(&w, m->w);
    }
    return wr_end(&w);
}

int
peer_forward_decode(const struct peer_frame *f, struct peer_forward *m, struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_FORWARD, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    m->cmd = rd_u8(&r);
    m->dialect = rd_u8(&r);
    m->nkey = rd_u16(&r);
    m->options = rd_u32(&r);
    m->flags = rd_u32(&r);
    m->exptime = rd_i64(&r);
    m->cas = rd_u64(&r);
    m->delta = rd_u64(&r);
    m->compare_cas = rd_u64(&r);
    m->initial = rd_u64(&r);
    m->ttl = rd_i64(&r);
    m->vivify_ttl = rd_i64(&r);
    m->recache_ttl = rd_i64(&r);
    m->ncontext = rd_u16(&r);
    m->nvalue = rd_u32(&r);
    if (m->nkey < 1 || m->nkey > PEER_KEY_MAX) {
        return fail(fault, PEER_PROTOCOL, "bad key length");
    }
    if (m->ncontext > PEER_CONTEXT_MAX) {
        return fail(fault, PEER_PROTOCOL, "context too long");
    }
    m->key = rd_take(&r, m->nkey);
    m->context = (const char *)rd_take(&r, m->ncontext);
    m->value = rd_take(&r, m->nvalue);
    if ((m->options & PEER_OPT_QUORUM) != 0) {
        m->r = rd_u8(&r);
        m->w = rd_u8(&r);
    }
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    if (m->ncontext == 0) {
        m->context = NULL;
    }
    if (m->nvalue == 0) {
        m->value = NULL;
    }
    if (m->r > PEER_QUORUM_MAX || m->w > PEER_QUORUM_MAX) {
        return fail(fault, PEER_PROTOCOL, "quorum above 16");
    }
    if (m->cmd < 1 || m->cmd > PEER_CMD_LAST) {
        return fail(fault, PEER_PROTOCOL, "unknown forward command");
    }
    if (m->dialect > PEER_DIALECT_BINARY) {
        return fail(fault, PEER_PROTOCOL, "unknown dialect");
    }
    if ((m->options & ~PEER_OPT_ALL) != 0) {
        return fail(fault, PEER_PROTOCOL, "unknown option bit");
    }
    if (m->nvalue > 0 && !peer_cmd_has_value(m->cmd)) {
        return fail(fault, PEER_PROTOCOL, "value on a command without one");
    }
    if (m->ncontext > 0 && !peer_cmd_has_context(m->cmd)) {
        return fail(fault, PEER_PROTOCOL, "context on a command without one");
    }
    return RC_OK;
}

/* ------------------------------------------------------------ FORWARD_REPLY */

static bool
forward_reply_ok(const struct peer_forward_reply *m)
{
    size_t i;

    if (m->status >= PEER_CODE_CONNECTION || (m->rflags & ~PEER_RF_ALL) != 0 ||
        m->miss > PEER_MISS_FLUSHED || m->ncontext > PEER_CONTEXT_MAX ||
        (m->ncontext > 0 && m->context == NULL) || m->nmessage > PEER_TEXT_MAX ||
        (m->nmessage > 0 && (m->message == NULL || !printable(m->message, m->nmessage))) ||
        m->nvalue > PEER_MAX_BODY_CEILING || (m->nvalue > 0 && m->value == NULL) ||
        m->nsiblings > PEER_SIBLINGS_MAX || (m->nsiblings > 0 && m->siblings == NULL)) {
        return false;
    }
    for (i = 0; i < m->nsiblings; i++) {
        if (m->siblings[i].nvalue > PEER_MAX_BODY_CEILING ||
            (m->siblings[i].nvalue > 0 && m->siblings[i].value == NULL)) {
            return false;
        }
    }
    return true;
}

int
peer_forward_reply_encode(uint8_t version, uint64_t id, const struct peer_forward_reply *m,
                          struct buf *out)
{
    struct wr w;
    size_t i;

    if (!frame_args_ok(version, PEER_T_FORWARD_REPLY, id) || !forward_reply_ok(m)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_FORWARD_REPLY, id);
    wr_u16(&w, m->status);
    wr_u8(&w, m->rflags);
    wr_u8(&w, m->miss);
    wr_u32(&w, m->flags);
    wr_u64(&w, m->cas);
    wr_u64(&w, m->number);
    wr_u64(&w, (uint64_t)m->ttl);
    wr_u64(&w, (uint64_t)m->last_access);
    wr_u32(&w, m->nlive);
    wr_u16(&w, (uint16_t)m->ncontext);
    wr_u16(&w, (uint16_t)m->nmessage);
    wr_u32(&w, (uint32_t)m->nsiblings);
    wr_u32(&w, (uint32_t)m->nvalue);
    wr_bytes(&w, m->context, m->ncontext);
    wr_bytes(&w, m->message, m->nmessage);
    wr_bytes(&w, m->value, m->nvalue);
    for (i = 0; i < m->nsiblings && w.rc == RC_OK; i++) {
        wr_u32(&w, m->siblings[i].flags);
        wr_u64(&w, (uint64_t)m->siblings[i].wtime_ms);
        wr_u32(&w, (uint32_t)m->siblings[i].nvalue);
        wr_bytes(&w, m->siblings[i].value, m->siblings[i].nvalue);
    }
    return wr_end(&w);
}

int
peer_forward_reply_decode(const struct peer_frame *f, struct peer_forward_reply *m,
                          struct peer_fault *fault)
{
    struct rd r;
    const unsigned char *sib_start;
    size_t i;
    int rc;

    if ((rc = check_type(f, PEER_T_FORWARD_REPLY, fault)) != RC_OK) {
        return rc;
    }
    memset(m, 0, sizeof(*m));
    rd_init(&r, f);
    m->status = rd_u16(&r);
    m->rflags = rd_u8(&r);
    m->miss = rd_u8(&r);
    m->flags = rd_u32(&r);
    m->cas = rd_u64(&r);
    m->number = rd_u64(&r);
    m->ttl = rd_i64(&r);
    m->last_access = rd_i64(&r);
    m->nlive = rd_u32(&r);
    m->ncontext = rd_u16(&r);
    m->nmessage = rd_u16(&r);
    m->nsiblings = rd_u32(&r);
    m->nvalue = rd_u32(&r);
    if (m->ncontext > PEER_CONTEXT_MAX || m->nmessage > PEER_TEXT_MAX ||
        m->nsiblings > PEER_SIBLINGS_MAX) {
        return fail(fault, PEER_PROTOCOL, "forward reply count out of range");
    }
    m->context = (const char *)rd_take(&r, m->ncontext);
    m->message = (const char *)rd_take(&r, m->nmessage);
    m->value = rd_take(&r, m->nvalue);
    sib_start = r.p;
    for (i = 0; i < m->nsiblings && !r.short_; i++) {
        uint32_t w;

        (void)rd_take(&r, 12);
        w = rd_u32(&r);
        (void)rd_take(&r, w);
    }
    if ((rc = rd_finish(&r, fault)) != RC_OK) {
        return rc;
    }
    m->sib_data = sib_start;
    m->nsib_data = (size_t)(r.p - sib_start);
    if (m->ncontext == 0) {
        m->context = NULL;
    }
    if (m->nmessage == 0) {
        m->message = NULL;
    }
    if (m->nvalue == 0) {
        m->value = NULL;
    }
    if (m->status >= PEER_CODE_CONNECTION) {
        return fail(fault, PEER_PROTOCOL, "connection code as a result");
    }
    if ((m->rflags & ~PEER_RF_ALL) != 0 || m->miss > PEER_MISS_FLUSHED) {
        return fail(fault, PEER_PROTOCOL, "bad result flags");
    }
    if (!printable(m->message, m->nmessage)) {
        return fail(fault, PEER_PROTOCOL, "message not printable");
    }
    return RC_OK;
}

struct peer_sibling_iter
peer_sibling_iter(const struct peer_forward_reply *m)
{
    struct peer_sibling_iter it;

    it.p = m->sib_data;
    it.end = m->sib_data != NULL ? m->sib_data + m->nsib_data : NULL;
    it.left = m->sib_data != NULL ? m->nsiblings : 0;
    return it;
}

bool
peer_sibling_next(struct peer_sibling_iter *it, struct peer_sibling *s)
{
    uint32_t w;

    if (it->left == 0 || (size_t)(it->end - it->p) < SIB_FIXED) {
        return false;
    }
    w = be_get32(it->p + 12);
    if ((size_t)(it->end - it->p) - SIB_FIXED < w) {
        return false;
    }
    s->flags = be_get32(it->p);
    s->wtime_ms = (int64_t)be_get64(it->p + 4);
    s->nvalue = w;
    s->value = w > 0 ? it->p + SIB_FIXED : NULL;
    it->p += SIB_FIXED + w;
    it->left--;
    return true;
}

/* ------------------------------------------------------------ FLUSH */

int
peer_flush_encode(uint8_t version, uint64_t id, const struct peer_flush *m, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_FLUSH, id)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_FLUSH, id);
    wr_u64(&w, (uint64_t)m->delay);
    wr_u64(&w, (uint64_t)m->origin_ms);
    return wr_end(&w);
}

int
peer_flush_decode(const struct peer_frame *f, struct peer_flush *m, struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_FLUSH, fault)) != RC_OK) {
        return rc;
    }
    rd_init(&r, f);
    m->delay = rd_i64(&r);
    m->origin_ms = rd_i64(&r);
    return rd_finish(&r, fault);
}

int
peer_flush_ack_encode(uint8_t version, uint64_t id, struct buf *out)
{
    struct wr w;

    if (!frame_args_ok(version, PEER_T_FLUSH_ACK, id)) {
        return RC_EINVAL;
    }
    wr_begin(&w, out, version, PEER_T_FLUSH_ACK, id);
    return wr_end(&w);
}

int
peer_flush_ack_decode(const struct peer_frame *f, struct peer_fault *fault)
{
    struct rd r;
    int rc;

    if ((rc = check_type(f, PEER_T_FLUSH_ACK, fault)) != RC_OK) {
        return rc;
    }
    rd_init(&r, f);
    return rd_finish(&r, fault);
}

/* ------------------------------------------------------------ internal */

int
peer_codec_internal_frame(uint8_t version, uint8_t type, uint64_t id, const void *body, size_t n,
                          struct buf *out)
{
    struct wr w;

    wr_begin(&w, out, version, type, id);
    wr_bytes(&w, body, n);
    return wr_end(&w);
}
