/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * meta.c - the memcached 1.6 meta protocol codec (see meta.h).
 *
 *   line --split on ' '--> tokens: cmd key [datalen] flag*
 *        --meta_flags_scan--> struct meta_flags   (every flag, any command)
 *        --per command--> struct request           mg ms md ma me mn
 *   struct response --meta_encode_response--> "<RC>[ <flags>]\r\n"[data]
 *
 * Acceptance is memcached 1.6.18's, checked against the real server: every
 * meta command accepts every known flag letter (b c f h k l O q s t u v N R
 * T P L F C M J D I) and ignores the ones it has no use for; an unknown letter
 * is "invalid flag", a repeated one (or a byte >= 127) "duplicate flag"; a
 * line with 20 or more tokens is refused before its flags are read; md and
 * ma word every flag error "invalid or duplicate flag"; errors are never
 * hidden by q, which hides only the nominal reply (HD, and EN for mg).
 * An ms whose flags are refused still has its data block swallowed.
 *
 * ringcached's causal-versioning flags (doc/protocol-extension.txt section
 * 3): a (mg: every live sibling, REQ_VGET; ms/md: a<n> after the write),
 * y (return the context) and Y<ctx> (ms: REQ_VSET, md: REQ_VDEL). mg, ms and
 * md accept a and y, ms and md Y; everywhere else they are unknown letters,
 * so every memcached behaviour is unchanged. Per-request quorums (section
 * 8): r<n> on mg (only with a), w<n> on ms and md (only with Y), n 1..16.
 *
 * req->wire, private to this codec: the return flags the client asked for,
 * in its order, as 4-bit META_RF_* codes (at most 10: mg has c f h k l O s t
 * y a): the first 8 in wire.flags, the rest in the top 16 bits of
 * wire.opaque, whose low bits hold META_M_* bits; wire.token the O token.
 *
 * Invariants: never reads data[len] or beyond, never writes to the input,
 * allocates nothing; the only state kept is the caller's meta_scratch.
 */
#include "config.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "base/b64.h"
#include "base/status.h"
#include "proto/mcnum.h"
#include "proto/meta.h"

#define META_TOK_MAX       20 /* memcached: 20 tokens (with its terminal) is too many */
#define META_OPAQUE_MAX    32 /* the O token, letter included */
#define META_ITEM_MAX_DEF  (1024u * 1024u)
#define META_TTL_REL_MAX   (60 * 60 * 24 * 30) /* larger exptimes are absolute */
#define META_ERR_FORMAT    "CLIENT_ERROR bad command line format"
#define META_ERR_BAD_TOKEN "CLIENT_ERROR bad token in command line format"
#define META_ERR_CONTEXT   "CLIENT_ERROR bad context"

/* wire.opaque bits */
#define META_M_Q         0x01u /* q: hide the nominal reply */
#define META_M_B         0x02u /* b: the key was sent in base64 */
#define META_M_V         0x04u /* v: return the value */
#define META_M_T_FIRST   0x08u /* a T flag came before t */
#define META_M_N_FIRST   0x10u /* an N flag came before t */
#define META_M_SEQ_SHIFT 16    /* return flags 9 and up, 4 bits each */
#define META_SEQ_BITS    48    /* 32 in wire.flags, 16 in wire.opaque */

/* wire.flags codes, 4 bits each, first flag in the low bits */
enum meta_rf {
    META_RF_END = 0,
    META_RF_C,
    META_RF_F,
    META_RF_H,
    META_RF_K,
    META_RF_L,
    META_RF_O,
    META_RF_S,
    META_RF_T,
    META_RF_Y, /* y<context> */
    META_RF_A, /* a<live siblings> */
    META_RF__COUNT
};

#define META_RF_LETTERS " cfhklOstya" /* index = enum meta_rf */

struct meta_tok {
    const char *p; /* borrowed from the input */
    size_t n;
};

struct meta_line {
    struct meta_tok tok[META_TOK_MAX];
    size_t ntok; /* META_TOK_MAX when there were that many or more */
};

/* Everything the flags said, before a command decides what it uses. */
struct meta_flags {
    const char *errstr;
    bool has_error;
    bool key_binary, value, noreply, no_bump, stale;
    bool has_cas, has_ttl, vivify, recache;
    char mode; /* M's letter, 0 if none */
    int32_t ttl, vivify_ttl, recache_ttl;
    uint32_t client_flags;
    uint64_t cas, delta, initial;
    uint32_t order;              /* META_M_T_FIRST, META_M_N_FIRST */
    bool all, want_ctx, has_ctx; /* a, y, Y */
    struct meta_tok ctx;         /* Y's token, without the letter */
    bool has_r, has_w;           /* r<n>, w<n>: per-request quorums */
    uint8_t r, w;
};

/* ------------------------------------------------------------ lexing */

static const char *const meta_names[] = {"mg", "ms", "md", "ma", "mn", "me"};

bool
meta_is_command(const char *tok, size_t n)
{
    size_t i;

    if (n != 2 || tok[0] != 'm') {
        return false;
    }
    for (i = 0; i < sizeof(meta_names) / sizeof(meta_names[0]); i++) {
        if (tok[1] == meta_names[i][1]) {
            return true;
        }
    }
    return false;
}

static void
meta_tokenize(const char *s, size_t n, struct meta_line *l)
{
    const char *end = s + n, *e;

    l->ntok = 0;
    while (l->ntok < META_TOK_MAX) {
        while (s < end && *s == ' ') {
            s++;
        }
        if (s == end) {
            return;
        }
        e = memchr(s, ' ', (size_t)(end - s));
        e = e ? e : end;
        l->tok[l->ntok].p = s;
        l->tok[l->ntok].n = (size_t)(e - s);
        l->ntok++;
        s = e;
    }
}

/* ------------------------------------------------------------ numbers */

/* ------------------------------------------------------------ flags */

static enum text_rc
meta_fail(struct text_error *err, const char *reply)
{
    err->reply = reply; /* q never hides an error */
    err->swallow = 0;
    err->close = false;
    err->stale_key = NULL;
    err->nstale_key = 0;
    err->too_large = false;
    return TEXT_ERROR;
}

/* r<n> / w<n>: n 1..REQ_QUORUM_MAX in plain decimal. */
static bool
meta_flag_quorum(const struct meta_tok *t, uint8_t *out)
{
    unsigned v = 0;
    size_t i;

    if (t->n < 2 || t->n > 3) {
        return false;
    }
    for (i = 1; i < t->n; i++) {
        if (t->p[i] < '0' || t->p[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(t->p[i] - '0');
    }
    if (v < 1 || v > REQ_QUORUM_MAX) {
        return false;
    }
    *out = (uint8_t)v;
    return true;
}

static bool
meta_flag_number(const struct meta_tok *t, struct meta_flags *f)
{
    switch (t->p[0]) {
    case 'N':
        f->vivify = true;
        return mcnum_i32(t->p + 1, t->n - 1, &f->vivify_ttl);
    case 'T':
        f->has_ttl = true;
        return mcnum_i32(t->p + 1, t->n - 1, &f->ttl);
    case 'R':
        f->recache = true;
        return mcnum_i32(t->p + 1, t->n - 1, &f->recache_ttl);
    case 'C':
        f->has_cas = true;
        return mcnum_u64(t->p + 1, t->n - 1, &f->cas);
    default:
        break;
    }
    assert(!"not a numeric flag");
    return false;
}

/* One flag. false: the scan stops at once with f->errstr. A bad argument
 * only records the error (memcached goes on reading flags, so a later
 * unknown or repeated flag decides the message). ext: the extension letters
 * (a y Y r w) this command accepts; the others are unknown letters. */
static bool
meta_flag_one(const struct meta_tok *t, const struct meta_tok *key, struct meta_scratch *s,
              const char *ext, struct meta_flags *f)
{
    bool ok;

    switch (t->p[0]) {
    case 'a':
    case 'y':
    case 'Y':
        if (strchr(ext, t->p[0]) == NULL) {
            f->errstr = "CLIENT_ERROR invalid flag";
            return false;
        }
        if (t->p[0] == 'a') {
            f->all = true;
        } else if (t->p[0] == 'y') {
            f->want_ctx = true;
        } else {
            f->has_ctx = true;
            f->ctx.p = t->p + 1;
            f->ctx.n = t->n - 1;
        }
        return true;
    case 'r':
    case 'w':
        if (strchr(ext, t->p[0]) == NULL) {
            f->errstr = "CLIENT_ERROR invalid flag";
            return false;
        }
        if (t->p[0] == 'r') {
            f->has_r = true;
            ok = meta_flag_quorum(t, &f->r);
        } else {
            f->has_w = true;
            ok = meta_flag_quorum(t, &f->w);
        }
        if (!ok) {
            f->errstr = META_ERR_BAD_TOKEN;
            f->has_error = true;
        }
        return true;
    case 'b':
        f->key_binary = true;
        s->key.nkey = b64_std_decode_memcached(key->p, key->n, s->kbuf, sizeof(s->kbuf));
        s->key.key = s->kbuf;
        if (s->key.nkey == 0) {
            f->errstr = "CLIENT_ERROR error decoding key";
            f->has_error = true;
        }
        return true;
    case 'N':
    case 'T':
    case 'R':
    case 'C':
        if (!meta_flag_number(t, f)) {
            f->errstr = META_ERR_BAD_TOKEN;
            f->has_error = true;
        }
        return true;
    case 'F':
        f->has_error |= !mcnum_u32(t->p + 1, t->n - 1, &f->client_flags); /* keeps errstr */
        return true;
    case 'M':
        if (t->n != 2) {
            f->errstr = "CLIENT_ERROR incorrect length for M token";
            f->has_error = true;
        } else {
            f->mode = t->p[1];
        }
        return true;
    case 'J':
        if (!mcnum_u64(t->p + 1, t->n - 1, &f->initial)) {
            f->errstr = "CLIENT_ERROR invalid numeric initial value";
            f->has_error = true;
        }
        return true;
    case 'D':
        if (!mcnum_u64(t->p + 1, t->n - 1, &f->delta)) {
            f->errstr = "CLIENT_ERROR invalid numeric delta value";
            f->has_error = true;
        }
        return true;
    case 'v':
        f->value = true;
        return true;
    case 'q':
        f->noreply = true;
        return true;
    case 'u':
        f->no_bump = true;
        return true;
    case 'I':
        f->stale = true;
        return true;
    case 'O':
    case 'P':
    case 'L':
    case 'k':
    case 's':
    case 't':
    case 'c':
    case 'f':
    case 'l':
    case 'h':
        return true;
    default:
        f->errstr = "CLIENT_ERROR invalid flag";
        return false;
    }
}

/* Read the flags from token `start` on. The key is tokens[1]; with b it is
 * decoded into s, otherwise s points at it. ext: as meta_flag_one. */
static bool
meta_flags_scan(const struct meta_line *l, size_t start, struct meta_scratch *s, const char *ext,
                struct meta_flags *f)
{
    bool seen[127] = {false};
    size_t i;

    memset(f, 0, sizeof(*f));
    f->errstr = META_ERR_FORMAT;
    f->delta = 1;
    s->key.key = l->tok[1].p;
    s->key.nkey = l->tok[1].n;
    for (i = start; i < l->ntok; i++) {
        unsigned char o = (unsigned char)l->tok[i].p[0];

        if (o >= 127 || seen[o]) {
            f->errstr = "CLIENT_ERROR duplicate flag";
            return false;
        }
        seen[o] = true;
        if (o == 't') {
            f->order |= (seen['T'] ? META_M_T_FIRST : 0) | (seen['N'] ? META_M_N_FIRST : 0);
        }
        if (!meta_flag_one(&l->tok[i], &l->tok[1], s, ext, f)) {
            return false;
        }
    }
    return !f->has_error;
}

/* Record, in order, the return flags this command echoes (`allowed` holds
 * the letters), and the O token. NULL, or the error for an O too long. */
static const char *
meta_wire_fill(const struct meta_line *l, size_t start, const char *allowed, struct request *req)
{
    static const char codes[] = META_RF_LETTERS;
    unsigned shift = 0;
    size_t i;

    for (i = start; i < l->ntok; i++) {
        const struct meta_tok *t = &l->tok[i];
        const char *c = strchr(codes + 1, t->p[0]);

        if (t->p[0] == '\0' || c == NULL || strchr(allowed, t->p[0]) == NULL) {
            continue;
        }
        if (t->p[0] == 'O') {
            if (t->n > META_OPAQUE_MAX) {
                return "CLIENT_ERROR opaque token too long";
            }
            req->wire.token = t->p + 1;
            req->wire.ntoken = t->n - 1;
        }
        assert(shift < META_SEQ_BITS);
        if (shift < 32) {
            req->wire.flags |= (uint32_t)(c - codes) << shift;
        } else {
            req->wire.opaque |= (uint32_t)(c - codes) << (shift - 32 + META_M_SEQ_SHIFT);
        }
        shift += 4;
    }
    return NULL;
}

static void
meta_request_init(struct request *req, enum req_cmd cmd, struct meta_scratch *s,
                  const struct meta_flags *f)
{
    req->cmd = cmd;
    req->proto = REQ_PROTO_META;
    req->keys = &s->key;
    req->nkeys = 1;
    req->wire.opaque &= ~(((uint32_t)1 << META_M_SEQ_SHIFT) - 1); /* keep the flag list */
    req->wire.opaque |= f->order | (f->noreply ? META_M_Q : 0) | (f->key_binary ? META_M_B : 0) |
                        (f->value ? META_M_V : 0);
    if (f->want_ctx) {
        req->opts.set |= REQO_WANT_CONTEXT;
    }
    if (f->all) {
        req->opts.set |= REQO_WANT_NLIVE;
    }
}

/* r<n> (mg with a) and w<n> (ms, md with Y) into the request, once it is
 * REQ_VGET/VSET/VDEL. NULL, or the error for a quorum flag on a request
 * that is not an extension one. */
static const char *
meta_quorum(const struct meta_flags *f, struct request *req)
{
    if (f->has_r) {
        if (req->cmd != REQ_VGET) {
            return "CLIENT_ERROR r needs a";
        }
        req->opts.set |= REQO_QUORUM;
        req->opts.r = f->r;
    }
    if (f->has_w) {
        if (req->cmd != REQ_VSET && req->cmd != REQ_VDEL) {
            return "CLIENT_ERROR w needs Y";
        }
        req->opts.set |= REQO_QUORUM;
        req->opts.w = f->w;
    }
    return NULL;
}

/* ------------------------------------------------------------ commands */

/* The checks every keyed meta command starts with, in memcached's order. */
static enum text_rc
meta_check_head(const struct meta_line *l, const char *too_long, struct text_error *err)
{
    if (l->ntok < 2) {
        return meta_fail(err, "ERROR");
    }
    if (l->tok[1].n > REQ_KEY_MAX) {
        return meta_fail(err, META_ERR_FORMAT);
    }
    if (too_long != NULL && l->ntok >= META_TOK_MAX) {
        return meta_fail(err, too_long);
    }
    return TEXT_OK;
}

/* mg <key> <flags>* ; with a: every live sibling (REQ_VGET). */
static enum text_rc
meta_parse_get(const struct meta_line *l, struct meta_scratch *s, struct request *req,
               struct text_error *err)
{
    struct meta_flags f;
    const char *why;
    enum text_rc rc = meta_check_head(l, "CLIENT_ERROR options flags are too long", err);

    if (rc != TEXT_OK) {
        return rc;
    }
    if (!meta_flags_scan(l, 2, s, "ayr", &f)) {
        return meta_fail(err, f.errstr);
    }
    why = meta_wire_fill(l, 2, "cfhklOstya", req);
    if (why != NULL) {
        return meta_fail(err, why);
    }
    meta_request_init(req, f.all ? REQ_VGET : REQ_GET, s, &f);
    why = meta_quorum(&f, req);
    if (why != NULL) {
        return meta_fail(err, why);
    }
    if (f.all) {
        req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
    }
    if (f.has_ttl) {
        req->opts.set |= REQO_TTL;
        req->opts.ttl = f.ttl;
    }
    if (f.vivify) {
        req->opts.set |= REQO_VIVIFY;
        req->opts.vivify_ttl = f.vivify_ttl;
    }
    if (f.recache) {
        req->opts.set |= REQO_RECACHE;
        req->opts.recache_ttl = f.recache_ttl;
    }
    req->opts.set |= (f.no_bump ? REQO_NO_BUMP : 0) | REQO_ITEM_INFO;
    return TEXT_OK;
}

static enum req_cmd
meta_set_mode(char mode)
{
    switch (mode) {
    case 0:
    case 'S':
        return REQ_SET;
    case 'E':
        return REQ_ADD;
    case 'A':
        return REQ_APPEND;
    case 'P':
        return REQ_PREPEND;
    case 'R':
        return REQ_REPLACE;
    default:
        return REQ_NONE;
    }
}

/* An ms refused after its datalen was read: the data block goes too. */
static enum text_rc
meta_fail_swallow(struct text_error *err, const char *reply, size_t vlen)
{
    meta_fail(err, reply);
    err->swallow = vlen + 2;
    return TEXT_ERROR;
}

/* The ms options: C compares (ignored by add, as memcached), I marks a
 * stale store for set and replace with C, T is the exptime, F the flags. */
static void
meta_set_opts(const struct meta_flags *f, struct request *req)
{
    req->flags = f->client_flags;
    req->exptime = f->has_ttl ? f->ttl : 0;
    if (f->has_cas && req->cmd != REQ_ADD && req->cmd != REQ_VSET) {
        req->opts.set |= REQO_COMPARE_CAS;
        req->opts.compare_cas = f->cas;
        if (f->stale && (req->cmd == REQ_SET || req->cmd == REQ_REPLACE)) {
            req->opts.set |= REQO_INVALIDATE;
        }
    }
}

/* Y<ctx> on ms (cmd REQ_SET: set mode) or md (REQ_DELETE): the request
 * becomes REQ_VSET / REQ_VDEL. NULL, or the error line. The shape of the
 * request is checked first, so every context, good or bad, gets the same
 * answer to a misshapen request. A token is passed on untouched, "Y-" as the
 * empty context: the coordinator validates it (and counts a refusal); only a
 * Y without a token, which the request cannot express, is refused here.
 * *plausible: whether the token could be one at all (req_context_plausible),
 * for ms's own later errors. */
static const char *
meta_context(const struct meta_flags *f, enum req_cmd plain, struct request *req, bool *plausible)
{
    if (req->cmd != plain) {
        return "CLIENT_ERROR context needs set mode"; /* only ms has modes */
    }
    if (f->has_cas || f->stale) {
        return "CLIENT_ERROR context excludes C and I";
    }
    if (f->ctx.n == 0) {
        return META_ERR_CONTEXT;
    }
    req->context = f->ctx.p;
    req->ncontext = f->ctx.n;
    *plausible = true;
    if (f->ctx.n == 1 && f->ctx.p[0] == '-') {
        req->ncontext = 0;
    } else {
        *plausible = req_context_plausible(f->ctx.p, f->ctx.n);
    }
    req->cmd = plain == REQ_SET ? REQ_VSET : REQ_VDEL;
    req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
    return NULL;
}

/* ms <key> <datalen> <flags>*\r\n<data>\r\n ; with Y<ctx>: REQ_VSET. */
static enum text_rc
meta_parse_set(const struct meta_line *l, struct meta_scratch *s, uint64_t max, size_t next,
               const char *data, size_t len, struct request *req, size_t *consumed,
               struct text_error *err)
{
    struct meta_tok dl = l->tok[2 < l->ntok ? 2 : 0];
    struct meta_flags f;
    const char *why;
    int32_t vlen;
    bool plausible = true;
    enum text_rc rc = meta_check_head(l, NULL, err);

    if (rc != TEXT_OK) {
        return rc;
    }
    if (l->ntok == 2) {
        return meta_fail(err, META_ERR_FORMAT);
    }
    if (l->ntok >= META_TOK_MAX) {
        return meta_fail(err, "CLIENT_ERROR options flags too long");
    }
    if (!mcnum_i32(dl.p, dl.n, &vlen) || vlen < 0 || vlen > INT_MAX - 2) {
        return meta_fail(err, META_ERR_FORMAT);
    }
    *consumed = next;
    if (!meta_flags_scan(l, 3, s, "ayYw", &f)) {
        return meta_fail_swallow(err, f.errstr, (size_t)vlen);
    }
    why = meta_wire_fill(l, 3, "ckOya", req);
    meta_request_init(req, meta_set_mode(f.mode), s, &f);
    if (req->cmd == REQ_NONE) {
        return meta_fail_swallow(err, "CLIENT_ERROR invalid mode for ms M token", (size_t)vlen);
    }
    if (why != NULL) {
        return meta_fail_swallow(err, why, (size_t)vlen);
    }
    if (f.has_ctx) {
        why = meta_context(&f, REQ_SET, req, &plausible);
        if (why != NULL) {
            return meta_fail_swallow(err, why, (size_t)vlen);
        }
    }
    why = meta_quorum(&f, req);
    if (why != NULL) {
        return meta_fail_swallow(err, why, (size_t)vlen);
    }
    /* A context that cannot be one is refused before the size or the data
     * block could be (3.2's order); any other goes to the coordinator. */
    if (req_item_size(s->key.nkey, (size_t)vlen, f.client_flags) >
        (max ? max : META_ITEM_MAX_DEF)) {
        if (!plausible) {
            return meta_fail_swallow(err, META_ERR_CONTEXT, (size_t)vlen);
        }
        meta_fail_swallow(err, "SERVER_ERROR object too large for cache", (size_t)vlen);
        err->too_large = true;
        if (req->cmd != REQ_VSET) {
            err->stale_key = s->key.key; /* memcached drops the old value */
            err->nstale_key = s->key.nkey;
        }
        return TEXT_ERROR;
    }
    if (len < next + (size_t)vlen + 2) {
        *consumed = next + (size_t)vlen + 2;
        return TEXT_AGAIN;
    }
    *consumed = next + (size_t)vlen + 2;
    if (data[*consumed - 2] != '\r' || data[*consumed - 1] != '\n') {
        return meta_fail(err, plausible ? "CLIENT_ERROR bad data chunk" : META_ERR_CONTEXT);
    }
    req->value = data + next;
    req->nvalue = (size_t)vlen;
    meta_set_opts(&f, req);
    return TEXT_OK;
}

/* md <key> <flags>* : C compares, I marks stale (T then sets the TTL); with
 * Y<ctx>: REQ_VDEL. */
static enum text_rc
meta_parse_delete(const struct meta_line *l, struct meta_scratch *s, struct request *req,
                  struct text_error *err)
{
    struct meta_flags f;
    const char *why;
    enum text_rc rc = meta_check_head(l, "CLIENT_ERROR options flags too long", err);

    if (rc != TEXT_OK) {
        return rc;
    }
    if (!meta_flags_scan(l, 2, s, "ayYw", &f)) {
        return meta_fail(err, "CLIENT_ERROR invalid or duplicate flag");
    }
    why = meta_wire_fill(l, 2, "kOya", req);
    if (why != NULL) {
        return meta_fail(err, why);
    }
    meta_request_init(req, REQ_DELETE, s, &f);
    if (f.has_ctx) {
        bool plausible; /* md has nothing to refuse after the context */

        why = meta_context(&f, REQ_DELETE, req, &plausible);
        if (why == NULL) {
            why = meta_quorum(&f, req);
        }
        return why != NULL ? meta_fail(err, why) : TEXT_OK;
    }
    if (f.has_w) {
        return meta_fail(err, "CLIENT_ERROR w needs Y");
    }
    if (f.has_cas) {
        req->opts.set |= REQO_COMPARE_CAS;
        req->opts.compare_cas = f.cas;
    }
    if (f.stale) {
        req->opts.set |= REQO_INVALIDATE;
        if (f.has_ttl) {
            req->opts.set |= REQO_TTL;
            req->opts.ttl = f.ttl;
        }
    }
    return TEXT_OK;
}

/* ma <key> <flags>* : M mode, D delta, N create with J, T, C. */
static enum text_rc
meta_parse_arith(const struct meta_line *l, struct meta_scratch *s, struct request *req,
                 struct text_error *err)
{
    struct meta_flags f;
    const char *why;
    enum text_rc rc = meta_check_head(l, "CLIENT_ERROR options flags too long", err);

    if (rc != TEXT_OK) {
        return rc;
    }
    if (!meta_flags_scan(l, 2, s, "", &f)) {
        return meta_fail(err, "CLIENT_ERROR invalid or duplicate flag");
    }
    if (f.mode != 0 && f.mode != 'I' && f.mode != '+' && f.mode != 'D' && f.mode != '-') {
        return meta_fail(err, "CLIENT_ERROR invalid mode for ma M token");
    }
    why = meta_wire_fill(l, 2, "ctkO", req);
    if (why != NULL) {
        return meta_fail(err, why);
    }
    meta_request_init(req, f.mode == 'D' || f.mode == '-' ? REQ_DECR : REQ_INCR, s, &f);
    req->delta = f.delta;
    if (f.vivify) {
        req->opts.set |= REQO_VIVIFY;
        req->opts.vivify_ttl = f.vivify_ttl;
        req->opts.initial = f.initial;
    }
    if (f.has_ttl) {
        req->opts.set |= REQO_TTL;
        req->opts.ttl = f.ttl;
    }
    if (f.has_cas) {
        req->opts.set |= REQO_COMPARE_CAS;
        req->opts.compare_cas = f.cas;
    }
    req->opts.set |= REQO_ITEM_INFO;
    return TEXT_OK;
}

/* me <key> [b]: only a second token of exactly "b" means anything. */
static enum text_rc
meta_parse_debug(const struct meta_line *l, struct meta_scratch *s, struct request *req,
                 struct text_error *err)
{
    struct meta_flags f;

    if (l->ntok < 2 || l->tok[1].n > REQ_KEY_MAX) {
        return meta_fail(err, META_ERR_FORMAT);
    }
    memset(&f, 0, sizeof(f));
    s->key.key = l->tok[1].p;
    s->key.nkey = l->tok[1].n;
    if (l->ntok >= 3 && l->tok[2].n == 1 && l->tok[2].p[0] == 'b') {
        s->key.key = s->kbuf;
        s->key.nkey = b64_std_decode_memcached(l->tok[1].p, l->tok[1].n, s->kbuf, sizeof(s->kbuf));
        if (s->key.nkey == 0) {
            return meta_fail(err, META_ERR_FORMAT);
        }
        f.key_binary = true;
    }
    meta_request_init(req, REQ_ME, s, &f);
    return TEXT_OK;
}

enum text_rc
meta_parse(struct meta_scratch *s, uint64_t max_item_size, const char *line, size_t nline,
           size_t next, const char *data, size_t len, struct request *req, size_t *consumed,
           struct text_error *err)
{
    struct meta_line l;
    enum text_rc rc;

    meta_tokenize(line, nline, &l);
    assert(l.ntok >= 1 && meta_is_command(l.tok[0].p, l.tok[0].n));
    *consumed = next;
    switch (l.tok[0].p[1]) {
    case 'g':
        rc = meta_parse_get(&l, s, req, err);
        break;
    case 's':
        rc = meta_parse_set(&l, s, max_item_size, next, data, len, req, consumed, err);
        break;
    case 'd':
        rc = meta_parse_delete(&l, s, req, err);
        break;
    case 'a':
        rc = meta_parse_arith(&l, s, req, err);
        break;
    case 'e':
        rc = meta_parse_debug(&l, s, req, err);
        break;
    case 'n':
        req->cmd = REQ_MN; /* memcached ignores anything after mn */
        req->proto = REQ_PROTO_META;
        rc = TEXT_OK;
        break;
    default:
        assert(!"not a meta command");
        rc = meta_fail(err, "ERROR");
        break;
    }
    return rc;
}

/* ------------------------------------------------------------ encoder */

static int
meta_put(struct buf *out, const char *s)
{
    return buf_append(out, s, strlen(s));
}

static int
meta_put_i64(struct buf *out, int64_t v)
{
    int rc = RC_OK;
    /* The magnitude in unsigned arithmetic: defined even for INT64_MIN. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    if (v < 0) {
        rc = buf_append(out, "-", 1);
    }
    return rc != RC_OK ? rc : buf_append_u64(out, (unsigned long long)mag);
}

/* A TTL a flag set in this request: relative values are known exactly;
 * anything else falls back to what the coordinator saw. */
static int64_t
meta_ttl_of(int64_t t, int64_t fallback)
{
    if (t == 0) {
        return -1;
    }
    return t > 0 && t <= META_TTL_REL_MAX ? t : fallback;
}

/* The t flag, as memcached computes it while it walks the flags in order:
 * the TTL before this request's T (or N, on a created item) unless that
 * flag came first. The coordinator reports the TTL as found (a created
 * item's: as created). */
static int64_t
meta_ttl_reply(const struct request *req, const struct response *resp)
{
    uint32_t m = req->wire.opaque;
    int64_t v = resp->ttl;

    if (resp->created) {
        v = (m & META_M_N_FIRST) ? meta_ttl_of(req->opts.vivify_ttl, resp->ttl) : -1;
    }
    if ((m & META_M_T_FIRST) && (req->opts.set & REQO_TTL)) {
        v = meta_ttl_of(req->opts.ttl, v);
    }
    return v;
}

static int
meta_put_key(struct buf *out, const struct request *req)
{
    const struct req_key *k = &req->keys[0];
    int rc = buf_append(out, " k", 2);

    if (rc != RC_OK) {
        return rc;
    }
    if ((req->wire.opaque & META_M_B) == 0) {
        return buf_append(out, k->key, k->nkey);
    }
    rc = b64_std_encode(out, k->key, k->nkey);
    return rc != RC_OK ? rc : buf_append(out, " b", 2);
}

/* One return flag; `full` false: only k and O (replies without an item).
 * a and y report a read or a write that succeeded, and appear only then. */
static int
meta_put_flag(struct buf *out, enum meta_rf code, bool full, const struct request *req,
              const struct response *resp)
{
    static const char letters[] = META_RF_LETTERS;
    char lead[2] = {' ', letters[code]};
    int rc;

    if (code == META_RF_K) {
        return meta_put_key(out, req);
    }
    if (code != META_RF_O && !full) {
        return RC_OK;
    }
    if ((code == META_RF_Y || code == META_RF_A) && resp->status != RC_OK) {
        return RC_OK;
    }
    rc = buf_append(out, lead, 2);
    if (rc != RC_OK) {
        return rc;
    }
    switch (code) {
    case META_RF_O:
        return buf_append(out, req->wire.token, req->wire.ntoken);
    case META_RF_C:
        return buf_append_u64(out, resp->cas);
    case META_RF_F:
        return buf_append_u64(out, resp->flags);
    case META_RF_H:
        return buf_append(out, resp->hit_before ? "1" : "0", 1);
    case META_RF_L:
        return meta_put_i64(out, resp->last_access);
    case META_RF_S:
        return buf_append_u64(out, resp->nvalue);
    case META_RF_T:
        return meta_put_i64(out, meta_ttl_reply(req, resp));
    case META_RF_Y: /* "-" only if the coordinator gave no token */
        return resp->ncontext > 0 ? buf_append(out, resp->context, resp->ncontext)
                                  : buf_append(out, "-", 1);
    case META_RF_A:
        return buf_append_u64(out, req->cmd == REQ_VGET ? resp->nsiblings : resp->nlive);
    default:
        assert(!"bad return flag code");
        return RC_EINTERNAL;
    }
}

/* The return flags in request order (see meta_wire_fill). */
static uint64_t
meta_seq(const struct request *req)
{
    return (uint64_t)req->wire.flags | (uint64_t)(req->wire.opaque >> META_M_SEQ_SHIFT) << 32;
}

/* f and s of an mg with a describe each sibling, not the header. */
static bool
meta_is_sibling_flag(enum meta_rf code)
{
    return code == META_RF_F || code == META_RF_S;
}

static int
meta_put_flags(struct buf *out, bool full, const struct request *req, const struct response *resp)
{
    uint64_t seq = meta_seq(req);
    bool header = req->cmd == REQ_VGET;
    int rc = RC_OK;

    for (; seq != 0 && rc == RC_OK; seq >>= 4) {
        enum meta_rf code = (enum meta_rf)(seq & 0xf);

        if (header && meta_is_sibling_flag(code)) {
            continue;
        }
        if (code > META_RF_END && code < META_RF__COUNT) {
            rc = meta_put_flag(out, code, full, req, resp);
        }
    }
    return rc;
}

/* An mg-with-a block's flags: f and s of sibling sb, in request order. */
static int
meta_put_sibling_flags(struct buf *out, const struct request *req, const struct resp_sibling *sb)
{
    uint64_t seq = meta_seq(req);
    int rc = RC_OK;

    for (; seq != 0 && rc == RC_OK; seq >>= 4) {
        enum meta_rf code = (enum meta_rf)(seq & 0xf);

        if (code == META_RF_F) {
            rc = buf_append(out, " f", 2);
            rc = rc ? rc : buf_append_u64(out, sb->flags);
        } else if (code == META_RF_S) {
            rc = buf_append(out, " s", 2);
            rc = rc ? rc : buf_append_u64(out, sb->nvalue);
        }
    }
    return rc;
}

static int
meta_put_end(struct buf *out)
{
    return buf_append(out, "\r\n", 2);
}

/* A failure memcached reports as an error line (never hidden by q). */
static int
meta_encode_error(struct buf *out, const struct request *req, const struct response *resp)
{
    const char *why = resp->errmsg ? resp->errmsg : rc_strerror(resp->status);
    int rc;

    switch (resp->status) {
    case RC_EINVAL:
        rc = meta_put(out, "CLIENT_ERROR ");
        rc = rc ? rc : meta_put(out, resp->errmsg ? resp->errmsg : "bad command line format");
        break;
    case RC_ENONNUMERIC:
        rc = meta_put(out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    case RC_ETOOLARGE:
        rc = meta_put(out, "SERVER_ERROR object too large for cache");
        break;
    case RC_EBADCONTEXT:
        rc = meta_put(out, META_ERR_CONTEXT);
        break;
    case RC_ESIBLINGS:
        rc = meta_put(out, "SERVER_ERROR too many siblings");
        break;
    case RC_ENOMEM:
        rc = meta_put(out, (req_cmd_flags(req->cmd) & REQF_STORE)
                               ? "SERVER_ERROR out of memory storing object"
                               : "SERVER_ERROR out of memory");
        break;
    default:
        rc = meta_put(out, "SERVER_ERROR ");
        rc = rc ? rc : meta_put(out, why);
        break;
    }
    return rc ? rc : meta_put_end(out);
}

/* Status word, then flags, then the end of line. */
static int
meta_put_line(struct buf *out, const char *code, bool full, const struct request *req,
              const struct response *resp)
{
    int rc = meta_put(out, code);

    rc = rc ? rc : meta_put_flags(out, full, req, resp);
    return rc ? rc : meta_put_end(out);
}

/* " Z", " X", " W" after an mg reply's flags. */
static int
meta_put_win_flags(struct buf *out, const struct response *resp)
{
    int rc = RC_OK;

    if (resp->won_already) {
        rc = buf_append(out, " Z", 2);
    }
    if (rc == RC_OK && resp->stale) {
        rc = buf_append(out, " X", 2);
    }
    if (rc == RC_OK && resp->win) {
        rc = buf_append(out, " W", 2);
    }
    return rc;
}

/* mg with a: "VS <n> <flags>*" (c y k O t h l a, then Z X W), then per live
 * sibling "VA <size> <f s>*" + data with v, "HD <f s>*" without; EN on a
 * miss (hidden by q). */
static int
meta_encode_vget(struct buf *out, const struct request *req, const struct response *resp)
{
    bool value = (req->wire.opaque & META_M_V) != 0;
    size_t i;
    int rc;

    if (resp->status == RC_ENOTFOUND) {
        return (req->wire.opaque & META_M_Q) ? RC_OK : meta_put_line(out, "EN", false, req, resp);
    }
    if (resp->status != RC_OK) {
        return meta_encode_error(out, req, resp);
    }
    rc = buf_append(out, "VS ", 3);
    rc = rc ? rc : buf_append_u64(out, resp->nsiblings);
    rc = rc ? rc : meta_put_flags(out, true, req, resp);
    rc = rc ? rc : meta_put_win_flags(out, resp);
    rc = rc ? rc : meta_put_end(out);
    for (i = 0; i < resp->nsiblings && rc == RC_OK; i++) {
        const struct resp_sibling *sb = &resp->siblings[i];

        if (value) {
            rc = buf_append(out, "VA ", 3);
            rc = rc ? rc : buf_append_u64(out, sb->nvalue);
        } else {
            rc = buf_append(out, "HD", 2);
        }
        rc = rc ? rc : meta_put_sibling_flags(out, req, sb);
        rc = rc ? rc : meta_put_end(out);
        if (rc == RC_OK && value) {
            rc = buf_append(out, sb->value, sb->nvalue);
            rc = rc ? rc : meta_put_end(out);
        }
    }
    return rc;
}

/* mg: "VA <n> <flags>*" + data, or "HD <flags>*"; then Z, X, W. */
static int
meta_encode_get(struct buf *out, const struct request *req, const struct response *resp)
{
    bool value = (req->wire.opaque & META_M_V) != 0;
    int rc;

    if (resp->status == RC_ENOTFOUND) {
        return (req->wire.opaque & META_M_Q) ? RC_OK : meta_put_line(out, "EN", false, req, resp);
    }
    if (resp->status != RC_OK) {
        return meta_encode_error(out, req, resp);
    }
    if (value) {
        rc = buf_append(out, "VA ", 3);
        rc = rc ? rc : buf_append_u64(out, resp->nvalue);
    } else {
        rc = buf_append(out, "HD", 2);
    }
    rc = rc ? rc : meta_put_flags(out, true, req, resp);
    rc = rc ? rc : meta_put_win_flags(out, resp);
    rc = rc ? rc : meta_put_end(out);
    if (rc == RC_OK && value) {
        rc = buf_append(out, resp->value, resp->nvalue);
        rc = rc ? rc : meta_put_end(out);
    }
    return rc;
}

/* ms: HD (hidden by q), NS, EX, NF; flags O k c (and a y on HD) in request
 * order. ms with Y (REQ_VSET) only has HD and errors. */
static int
meta_encode_set(struct buf *out, const struct request *req, const struct response *resp)
{
    switch (resp->status) {
    case RC_OK:
        return (req->wire.opaque & META_M_Q) ? RC_OK : meta_put_line(out, "HD", true, req, resp);
    case RC_ENOTSTORED:
        return meta_put_line(out, "NS", true, req, resp);
    case RC_EEXISTS:
        return meta_put_line(out, "EX", true, req, resp);
    case RC_ENOTFOUND:
        return meta_put_line(out, "NF", true, req, resp);
    default:
        return meta_encode_error(out, req, resp);
    }
}

/* md: HD (hidden by q), NF, EX; flags O k (and a y on HD). */
static int
meta_encode_delete(struct buf *out, const struct request *req, const struct response *resp)
{
    switch (resp->status) {
    case RC_OK:
        return (req->wire.opaque & META_M_Q) ? RC_OK : meta_put_line(out, "HD", true, req, resp);
    case RC_ENOTFOUND:
        return meta_put_line(out, "NF", false, req, resp);
    case RC_EEXISTS:
        return meta_put_line(out, "EX", false, req, resp);
    default:
        return meta_encode_error(out, req, resp);
    }
}

/* ma: "VA <n> <flags>*\r\n<number>" or HD (both hidden by q); NF, NS, EX
 * with O and k only. */
static int
meta_encode_arith(struct buf *out, const struct request *req, const struct response *resp)
{
    char num[24];
    size_t n = 0;
    uint64_t v = resp->number;
    int rc;

    switch (resp->status) {
    case RC_OK:
        break;
    case RC_ENOTFOUND:
        return meta_put_line(out, "NF", false, req, resp);
    case RC_ENOTSTORED:
        return meta_put_line(out, "NS", false, req, resp);
    case RC_EEXISTS:
        return meta_put_line(out, "EX", false, req, resp);
    default:
        return meta_encode_error(out, req, resp);
    }
    if (req->wire.opaque & META_M_Q) {
        return RC_OK;
    }
    if ((req->wire.opaque & META_M_V) == 0) {
        return meta_put_line(out, "HD", true, req, resp);
    }
    do {
        num[sizeof(num) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    rc = buf_append(out, "VA ", 3);
    rc = rc ? rc : buf_append_u64(out, n);
    rc = rc ? rc : meta_put_flags(out, true, req, resp);
    rc = rc ? rc : meta_put_end(out);
    rc = rc ? rc : buf_append(out, num + sizeof(num) - n, n);
    return rc ? rc : meta_put_end(out);
}

/* me: memcached 1.6.18's line, exp included (it prints the remaining TTL
 * negated). ringcached has no slab classes: cls is always 1, the class of
 * a small item; size is the size memcached would charge. */
static int
meta_encode_debug(struct buf *out, const struct request *req, const struct response *resp)
{
    const struct req_key *k = &req->keys[0];
    int rc;

    if (resp->status == RC_ENOTFOUND) {
        return meta_put(out, "EN\r\n");
    }
    if (resp->status != RC_OK) {
        return meta_encode_error(out, req, resp);
    }
    rc = buf_append(out, "ME ", 3);
    if (rc == RC_OK) {
        rc = (req->wire.opaque & META_M_B) ? b64_std_encode(out, k->key, k->nkey)
                                           : buf_append(out, k->key, k->nkey);
    }
    rc = rc ? rc : buf_append(out, " exp=", 5);
    rc = rc ? rc : meta_put_i64(out, resp->ttl == -1 || resp->ttl == INT64_MIN ? -1 : -resp->ttl);
    rc = rc ? rc : buf_append(out, " la=", 4);
    rc = rc ? rc : meta_put_i64(out, resp->last_access);
    rc = rc ? rc : buf_append(out, " cas=", 5);
    rc = rc ? rc : buf_append_u64(out, resp->cas);
    rc = rc ? rc : meta_put(out, resp->hit_before ? " fetch=yes" : " fetch=no");
    rc = rc ? rc : buf_append(out, " cls=1 size=", 12);
    rc = rc ? rc : buf_append_u64(out, req_item_size(k->nkey, resp->nvalue, resp->flags));
    return rc ? rc : meta_put_end(out);
}

int
meta_encode_response(struct buf *out, const struct request *req, const struct response *resp)
{
    assert(req->proto == REQ_PROTO_META);
    switch (req->cmd) {
    case REQ_MN:
        return meta_put(out, "MN\r\n");
    case REQ_ME:
        return meta_encode_debug(out, req, resp);
    case REQ_GET:
        return meta_encode_get(out, req, resp);
    case REQ_VGET:
        return meta_encode_vget(out, req, resp);
    case REQ_SET:
    case REQ_ADD:
    case REQ_REPLACE:
    case REQ_APPEND:
    case REQ_PREPEND:
    case REQ_VSET:
        return meta_encode_set(out, req, resp);
    case REQ_DELETE:
    case REQ_VDEL:
        return meta_encode_delete(out, req, resp);
    case REQ_INCR:
    case REQ_DECR:
        return meta_encode_arith(out, req, resp);
    default:
        assert(!"not a meta command");
        return meta_encode_error(out, req, resp);
    }
}
