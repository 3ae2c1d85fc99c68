/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * text.c - the memcached 1.6 text protocol codec (see text.h): bytes in,
 * struct request out; struct response in, reply bytes out.
 *
 *   data --memchr '\n'--> line (cut at "\r\n" / "\n", and at a NUL byte)
 *        --command token--> text_cmd_find
 *             |- retrieval   get gets gat gats (bget)
 *             |              vget                         text_parse_retrieve
 *             |- storage     set add replace append
 *             |              prepend cas                 text_parse_store
 *             |              vset                         text_parse_vset
 *             |- keyed       delete incr decr touch       text_parse_keyed
 *             |              vdel                         text_parse_vdel
 *             |- admin       flush_all verbosity version
 *             |              quit shutdown stats          text_parse_admin
 *             '- meta        mg ms md ma mn me            meta_parse (meta.c)
 *
 * Acceptance follows memcached 1.6.18, checked against the real server:
 * tokens are split on ' ' only; numbers are read the way its safe_strto*
 * helpers read them (leading white space and sign allowed, anything after a
 * white-space byte ignored, 32-bit fields silently truncated); every error
 * reply, even ERROR for a bad token count once noreply has been seen, is
 * hidden by noreply; a data block must end in "\r\n" and is consumed whole
 * either way; a too-large value is refused after its command line and then
 * swallowed; a line without '\n' past 2048 bytes closes the connection
 * silently unless it is a get/gets (or a vget).
 *
 * vget, vset and vdel are ringcached's causal-versioning extension
 * (doc/protocol-extension.txt section 2), parsed by the same rules. A context
 * token is passed on untouched for the coordinator to validate (and count
 * when it refuses it), "-" becoming the empty context (ncontext 0); the codec
 * itself answers "bad context" only for a vset whose value it refuses anyway
 * (too large, bad data chunk) when the token cannot be one at all. vset and
 * vdel take an optional per-request write quorum "W=<n>" before noreply
 * (section 8); vget has none in text (any token may be a key): mg a r<n>.
 *
 * Invariants: the parser never reads data[len] or beyond and never writes to
 * the input; its only allocation is the key array, which grows with the keys
 * actually received, never with a declared length; on TEXT_AGAIN nothing is
 * consumed and *req must not be used. Pointers put in *req borrow the input
 * or p->keys (see text.h).
 */
#include "config.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "proto/meta.h"
#include "proto/mcnum.h"
#include "proto/text.h"

#define TEXT_TOK_MAX          8          /* enough for "cas k f e b c noreply" */
#define TEXT_LINE_MAX         2048       /* memcached: longer without '\n' closes */
#define TEXT_GET_LINE_MAX     (2u << 20) /* our bound on one multi-get line */
#define TEXT_LEAD_SPACE_MAX   100        /* memcached: leading spaces on a long get */
#define TEXT_ITEM_MAX_DEFAULT (1024u * 1024u)
#define TEXT_KEYS_INIT        16

#define TEXT_ERR_FORMAT  "CLIENT_ERROR bad command line format"
#define TEXT_ERR_EXPTIME "CLIENT_ERROR invalid exptime argument"
#define TEXT_ERR_CONTEXT "CLIENT_ERROR bad context"
#define TEXT_ERR_TOOBIG  "SERVER_ERROR object too large for cache"

struct text_tok {
    const char *p; /* borrowed from the input */
    size_t n;
};

/* One command line. tok[0] is the command; ntok counts the tokens and is
 * TEXT_TOK_MAX + 1 when more than TEXT_TOK_MAX were present. */
struct text_line {
    const char *p;
    size_t n;         /* bytes before the line end, cut at the first NUL */
    size_t next;      /* offset just past the '\n' */
    const char *rest; /* just past the command token */
    struct text_tok tok[TEXT_TOK_MAX];
    size_t ntok;
};

/* ------------------------------------------------------------ lexing */

static bool
text_tok_is(const struct text_tok *t, const char *s, size_t n)
{
    return t->n == n && memcmp(t->p, s, n) == 0;
}

/* Next ' '-separated token in [*pos, end); false when none is left. */
static bool
text_tok_next(const char **pos, const char *end, struct text_tok *t)
{
    const char *s = *pos, *e;

    while (s < end && *s == ' ') {
        s++;
    }
    if (s == end) {
        *pos = s;
        return false;
    }
    e = memchr(s, ' ', (size_t)(end - s));
    if (e == NULL) {
        e = end;
    }
    t->p = s;
    t->n = (size_t)(e - s);
    *pos = e;
    return true;
}

static void
text_line_tokenize(struct text_line *l)
{
    const char *pos = l->rest, *end = l->p + l->n;
    struct text_tok extra;

    l->ntok = 1;
    while (l->ntok < TEXT_TOK_MAX && text_tok_next(&pos, end, &l->tok[l->ntok])) {
        l->ntok++;
    }
    if (l->ntok == TEXT_TOK_MAX && text_tok_next(&pos, end, &extra)) {
        l->ntok = TEXT_TOK_MAX + 1;
    }
}

/* The last token is "noreply" (memcached's set_noreply_maybe). Only for
 * lines whose token count was already checked. */
static bool
text_line_noreply(const struct text_line *l)
{
    return l->ntok <= TEXT_TOK_MAX && text_tok_is(&l->tok[l->ntok - 1], "noreply", 7);
}

/* ------------------------------------------------------------ errors */

static enum text_rc
text_fail(struct text_error *err, const char *reply, bool noreply)
{
    err->reply = noreply ? NULL : reply;
    err->swallow = 0;
    err->close = false;
    err->stale_key = NULL;
    err->nstale_key = 0;
    err->too_large = false;
    return TEXT_ERROR;
}

/* ------------------------------------------------------------ commands */

struct text_cmd {
    const char *name;
    size_t n;
    enum req_cmd cmd;
};

/* Most frequent first. "bget" is memcached's undocumented alias of get. */
static const struct text_cmd text_cmds[] = {
    {"get", 3, REQ_GET},
    {"set", 3, REQ_SET},
    {"gets", 4, REQ_GETS},
    {"delete", 6, REQ_DELETE},
    {"incr", 4, REQ_INCR},
    {"decr", 4, REQ_DECR},
    {"touch", 5, REQ_TOUCH},
    {"gat", 3, REQ_GAT},
    {"gats", 4, REQ_GATS},
    {"add", 3, REQ_ADD},
    {"replace", 7, REQ_REPLACE},
    {"append", 6, REQ_APPEND},
    {"prepend", 7, REQ_PREPEND},
    {"cas", 3, REQ_CAS},
    {"flush_all", 9, REQ_FLUSH_ALL},
    {"version", 7, REQ_VERSION},
    {"verbosity", 9, REQ_VERBOSITY},
    {"quit", 4, REQ_QUIT},
    {"shutdown", 8, REQ_SHUTDOWN},
    {"stats", 5, REQ_STATS},
    {"bget", 4, REQ_GET},
    {"vget", 4, REQ_VGET},
    {"vset", 4, REQ_VSET},
    {"vdel", 4, REQ_VDEL},
    {"ring", 4, REQ_RING},
    {"members", 7, REQ_MEMBERS},
};

static enum req_cmd
text_cmd_find(const struct text_tok *t)
{
    size_t i;

    for (i = 0; i < sizeof(text_cmds) / sizeof(text_cmds[0]); i++) {
        const struct text_cmd *c = &text_cmds[i];

        if (c->n == t->n && c->name[0] == t->p[0] && memcmp(c->name, t->p, t->n) == 0) {
            return c->cmd;
        }
    }
    return REQ_NONE;
}

/* ------------------------------------------------------------ retrieval */

static int
text_keys_push(struct text_parser *p, size_t i, const struct text_tok *t)
{
    if (i == p->keys_cap) {
        size_t cap = p->keys_cap ? p->keys_cap * 2 : TEXT_KEYS_INIT;
        struct req_key *k = rc_realloc(p->keys, cap * sizeof(*k));

        if (k == NULL) {
            return RC_ENOMEM;
        }
        p->keys = k;
        p->keys_cap = cap;
    }
    p->keys[i].key = t->p;
    p->keys[i].nkey = t->n;
    return RC_OK;
}

/* get|gets|bget|vget <key>+ ; gat|gats <exptime> <key>*. Any key over 250
 * bytes fails the whole command. gat with no key is valid (memcached:
 * "END"). */
static enum text_rc
text_parse_retrieve(struct text_parser *p, const struct text_line *l, struct request *req,
                    struct text_error *err)
{
    const char *pos = l->rest, *end = l->p + l->n;
    struct text_tok t;
    int32_t exptime;
    size_t n = 0;

    if (!text_tok_next(&pos, end, &t)) {
        return text_fail(err, "ERROR", false);
    }
    if (req->cmd == REQ_GAT || req->cmd == REQ_GATS) {
        if (!mcnum_i32(t.p, t.n, &exptime)) {
            return text_fail(err, TEXT_ERR_EXPTIME, false);
        }
        req->exptime = exptime;
        if (!text_tok_next(&pos, end, &t)) {
            goto done;
        }
    }
    do {
        if (t.n > REQ_KEY_MAX) {
            return text_fail(err, TEXT_ERR_FORMAT, false);
        }
        if (text_keys_push(p, n, &t) != RC_OK) {
            return text_fail(err, "SERVER_ERROR out of memory writing get response", false);
        }
        n++;
    } while (text_tok_next(&pos, end, &t));
done:
    req->keys = p->keys;
    req->nkeys = n;
    if (req->cmd == REQ_VGET) {
        req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
    }
    return TEXT_OK;
}

/* ------------------------------------------------------------ storage */

static bool
text_store_too_large(const struct text_parser *p, size_t nkey, uint32_t flags, size_t vlen)
{
    uint64_t max = p->max_item_size ? p->max_item_size : TEXT_ITEM_MAX_DEFAULT;

    return req_item_size(nkey, vlen, flags) > max;
}

/* The command line's fields, in memcached's order of checks. */
static enum text_rc
text_store_fields(const struct text_line *l, struct request *req, int32_t *vlen,
                  struct text_error *err)
{
    int32_t exptime;

    if (l->tok[1].n > REQ_KEY_MAX) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    if (!mcnum_u32(l->tok[2].p, l->tok[2].n, &req->flags) ||
        !mcnum_i32(l->tok[3].p, l->tok[3].n, &exptime) ||
        !mcnum_i32(l->tok[4].p, l->tok[4].n, vlen)) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    req->exptime = exptime;
    if (req->cmd == REQ_CAS && !mcnum_u64(l->tok[5].p, l->tok[5].n, &req->cas)) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    if (*vlen < 0 || *vlen > INT_MAX - 2) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    return TEXT_OK;
}

static enum text_rc text_store_block(struct text_parser *p, const struct text_line *l, size_t len,
                                     size_t vlen, struct request *req, size_t *consumed,
                                     struct text_error *err, const char *bad_chunk);

/* <cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]\r\n<data>\r\n */
static enum text_rc
text_parse_store(struct text_parser *p, const struct text_line *l, size_t len, struct request *req,
                 size_t *consumed, struct text_error *err)
{
    size_t want = req->cmd == REQ_CAS ? 6 : 5;
    int32_t vlen;
    enum text_rc rc;

    if (l->ntok != want && l->ntok != want + 1) {
        return text_fail(err, "ERROR", false);
    }
    req->noreply = text_line_noreply(l);
    rc = text_store_fields(l, req, &vlen, err);
    if (rc != TEXT_OK) {
        return rc;
    }
    if (text_store_too_large(p, l->tok[1].n, req->flags, (size_t)vlen)) {
        text_fail(err, TEXT_ERR_TOOBIG, req->noreply);
        err->swallow = (size_t)vlen + 2;
        err->too_large = true;
        /* memcached drops the old item rather than keep serving stale data. */
        err->stale_key = l->tok[1].p;
        err->nstale_key = l->tok[1].n;
        return TEXT_ERROR;
    }
    return text_store_block(p, l, len, (size_t)vlen, req, consumed, err,
                            "CLIENT_ERROR bad data chunk");
}

/* The data block after a storage command line accepted so far: wait for it,
 * check its "\r\n" (else reply bad_chunk), and point the request at it. */
static enum text_rc
text_store_block(struct text_parser *p, const struct text_line *l, size_t len, size_t vlen,
                 struct request *req, size_t *consumed, struct text_error *err,
                 const char *bad_chunk)
{
    size_t total = l->next + vlen + 2;

    if (len < total) {
        *consumed = total;
        return TEXT_AGAIN;
    }
    *consumed = total;
    if (l->p[total - 2] != '\r' || l->p[total - 1] != '\n') {
        return text_fail(err, bad_chunk, req->noreply);
    }
    if (text_keys_push(p, 0, &l->tok[1]) != RC_OK) {
        return text_fail(err, "SERVER_ERROR out of memory storing object", req->noreply);
    }
    req->keys = p->keys;
    req->nkeys = 1;
    req->value = l->p + l->next;
    req->nvalue = vlen;
    return TEXT_OK;
}

/* A context token as sent, into the request: "-" is the empty context.
 * Returns whether the token could be one at all. Even one that cannot is
 * passed on: the coordinator refuses it (and counts it in context_errors);
 * the codec answers "bad context" itself only where the order of checks
 * puts it before an error of its own (too large, bad data chunk). */
static bool
text_context(const struct text_tok *t, struct request *req)
{
    req->context = t->p;
    if (text_tok_is(t, "-", 1)) {
        req->ncontext = 0;
        return true;
    }
    req->ncontext = t->n;
    return req_context_plausible(t->p, t->n);
}

/* A per-request write quorum token "W=<n>", n 1..REQ_QUORUM_MAX in plain
 * decimal (doc/protocol-extension.txt section 8). 0: not such a token (no
 * "W=" prefix); 1: read into req->opts; -1: "W=" with a bad number. */
static int
text_quorum_w(const struct text_tok *t, struct request *req)
{
    unsigned v = 0;
    size_t i;

    if (t->n < 2 || t->p[0] != 'W' || t->p[1] != '=') {
        return 0;
    }
    if (t->n < 3 || t->n > 4) {
        return -1;
    }
    for (i = 2; i < t->n; i++) {
        if (t->p[i] < '0' || t->p[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned)(t->p[i] - '0');
    }
    if (v < 1 || v > REQ_QUORUM_MAX) {
        return -1;
    }
    req->opts.set |= REQO_QUORUM;
    req->opts.w = (uint8_t)v;
    return 1;
}

/* The optional tokens after the fixed ones of vset/vdel (at index `fixed`):
 * "[W=<n>] [noreply]", in that order. One extra token is noreply, W=<n> or,
 * as before the extension, anything else (ignored, as memcached ignores a
 * last token that is not noreply); two must be W=<n> then noreply. Returns
 * false for a bad token count (ERROR), with *bad_w set for a W= token whose
 * number is bad (CLIENT_ERROR bad command line format). Sets req->noreply. */
static bool
text_v_tail(const struct text_line *l, size_t fixed, struct request *req, bool *bad_w)
{
    *bad_w = false;
    if (l->ntok == fixed) {
        return true;
    }
    if (l->ntok == fixed + 1) {
        req->noreply = text_line_noreply(l);
        if (!req->noreply) {
            *bad_w = text_quorum_w(&l->tok[fixed], req) < 0;
        }
        return true;
    }
    if (l->ntok == fixed + 2 && text_line_noreply(l)) {
        int q = text_quorum_w(&l->tok[fixed], req);

        if (q == 0) {
            return false;
        }
        req->noreply = true;
        *bad_w = q < 0;
        return true;
    }
    return false;
}

/* vset <key> <flags> <exptime> <bytes> <context> [W=<n>] [noreply]\r\n
 * <data>\r\n
 * Checked as set (a bad W= is a bad command line); then a context that
 * cannot be a token wins over a size over -I (its data block swallowed, and
 * nothing stored is dropped: a versioned write never removes what it did not
 * cover) and over a bad data chunk. */
static enum text_rc
text_parse_vset(struct text_parser *p, const struct text_line *l, size_t len, struct request *req,
                size_t *consumed, struct text_error *err)
{
    int32_t vlen;
    enum text_rc rc;
    bool plausible, bad_w;

    if (l->ntok < 6 || !text_v_tail(l, 6, req, &bad_w)) {
        return text_fail(err, "ERROR", false);
    }
    rc = text_store_fields(l, req, &vlen, err);
    if (rc != TEXT_OK) {
        return rc;
    }
    if (bad_w) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
    plausible = text_context(&l->tok[5], req);
    if (text_store_too_large(p, l->tok[1].n, req->flags, (size_t)vlen)) {
        text_fail(err, plausible ? TEXT_ERR_TOOBIG : TEXT_ERR_CONTEXT, req->noreply);
        err->swallow = (size_t)vlen + 2;
        err->too_large = plausible;
        return TEXT_ERROR;
    }
    return text_store_block(p, l, len, (size_t)vlen, req, consumed, err,
                            plausible ? "CLIENT_ERROR bad data chunk" : TEXT_ERR_CONTEXT);
}

/* ------------------------------------------------------------ keyed writes */

/* delete <key> [0] [noreply]: the legacy hold time must be exactly "0". */
static enum text_rc
text_delete_args(const struct text_line *l, struct request *req, struct text_error *err)
{
    bool zero, valid;

    if (l->ntok < 2 || l->ntok > 4) {
        return text_fail(err, "ERROR", false);
    }
    if (l->ntok > 2) {
        zero = text_tok_is(&l->tok[2], "0", 1);
        req->noreply = text_line_noreply(l);
        valid = (l->ntok == 3 && (zero || req->noreply)) || (l->ntok == 4 && zero && req->noreply);
        if (!valid) {
            return text_fail(err,
                             "CLIENT_ERROR bad command line format.  "
                             "Usage: delete <key> [noreply]",
                             req->noreply);
        }
    }
    if (l->tok[1].n > REQ_KEY_MAX) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    return TEXT_OK;
}

/* incr|decr <key> <delta> [noreply]; touch <key> <exptime> [noreply] */
static enum text_rc
text_arith_args(const struct text_line *l, struct request *req, struct text_error *err)
{
    int32_t exptime;

    if (l->ntok != 3 && l->ntok != 4) {
        return text_fail(err, "ERROR", false);
    }
    req->noreply = text_line_noreply(l);
    if (l->tok[1].n > REQ_KEY_MAX) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    if (req->cmd == REQ_TOUCH) {
        if (!mcnum_i32(l->tok[2].p, l->tok[2].n, &exptime)) {
            return text_fail(err, TEXT_ERR_EXPTIME, req->noreply);
        }
        req->exptime = exptime;
    } else if (!mcnum_u64(l->tok[2].p, l->tok[2].n, &req->delta)) {
        return text_fail(err, "CLIENT_ERROR invalid numeric delta argument", req->noreply);
    }
    return TEXT_OK;
}

static enum text_rc
text_parse_keyed(struct text_parser *p, const struct text_line *l, struct request *req,
                 struct text_error *err)
{
    enum text_rc rc;

    if (req->cmd == REQ_DELETE) {
        rc = text_delete_args(l, req, err);
    } else {
        rc = text_arith_args(l, req, err);
    }
    if (rc != TEXT_OK) {
        return rc;
    }
    if (text_keys_push(p, 0, &l->tok[1]) != RC_OK) {
        return text_fail(err, "SERVER_ERROR out of memory", req->noreply);
    }
    req->keys = p->keys;
    req->nkeys = 1;
    return TEXT_OK;
}

/* vdel <key> <context> [W=<n>] [noreply] */
static enum text_rc
text_parse_vdel(struct text_parser *p, const struct text_line *l, struct request *req,
                struct text_error *err)
{
    bool bad_w;

    if (l->ntok < 3 || !text_v_tail(l, 3, req, &bad_w)) {
        return text_fail(err, "ERROR", false);
    }
    if (l->tok[1].n > REQ_KEY_MAX || bad_w) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    (void)text_context(&l->tok[2], req); /* the coordinator judges it */
    if (text_keys_push(p, 0, &l->tok[1]) != RC_OK) {
        return text_fail(err, "SERVER_ERROR out of memory", req->noreply);
    }
    req->keys = p->keys;
    req->nkeys = 1;
    req->opts.set |= REQO_WANT_CONTEXT | REQO_WANT_NLIVE;
    return TEXT_OK;
}

/* ------------------------------------------------------------ admin */

/* flush_all [delay] [noreply]: a delay token is read unless the line is just
 * "flush_all" or "flush_all noreply"; a second argument is ignored. */
static enum text_rc
text_flush_args(const struct text_line *l, struct request *req, struct text_error *err)
{
    int32_t delay;

    if (l->ntok > 3) {
        return text_fail(err, "ERROR", false);
    }
    req->noreply = l->ntok > 1 && text_line_noreply(l);
    if (l->ntok != (req->noreply ? 2u : 1u)) {
        if (!mcnum_i32(l->tok[1].p, l->tok[1].n, &delay)) {
            return text_fail(err, TEXT_ERR_EXPTIME, req->noreply);
        }
        req->exptime = delay;
    }
    return TEXT_OK;
}

/* verbosity <level> [noreply]; memcached ignores any second argument. */
static enum text_rc
text_verbosity_args(const struct text_line *l, struct request *req, struct text_error *err)
{
    uint32_t level;

    if (l->ntok != 2 && l->ntok != 3) {
        return text_fail(err, "ERROR", false);
    }
    req->noreply = text_line_noreply(l);
    if (!mcnum_u32(l->tok[1].p, l->tok[1].n, &level)) {
        return text_fail(err, TEXT_ERR_FORMAT, req->noreply);
    }
    req->delta = level;
    return TEXT_OK;
}

/* stats/shutdown: the rest of the line, without leading/trailing spaces. */
static void
text_rest_args(const struct text_line *l, struct request *req)
{
    const char *s = l->rest, *e = l->p + l->n;

    while (s < e && *s == ' ') {
        s++;
    }
    while (e > s && e[-1] == ' ') {
        e--;
    }
    req->args = s;
    req->nargs = (size_t)(e - s);
}

static enum text_rc
text_parse_admin(struct text_line *l, struct request *req, struct text_error *err)
{
    switch (req->cmd) {
    case REQ_FLUSH_ALL:
        text_line_tokenize(l);
        return text_flush_args(l, req, err);
    case REQ_VERBOSITY:
        text_line_tokenize(l);
        return text_verbosity_args(l, req, err);
    case REQ_STATS:
    case REQ_SHUTDOWN:
    case REQ_RING:
    case REQ_MEMBERS:
        text_rest_args(l, req);
        return TEXT_OK;
    case REQ_VERSION:
    case REQ_QUIT:
        return TEXT_OK; /* memcached ignores any arguments */
    default:
        break;
    }
    assert(!"not an admin command");
    return text_fail(err, "ERROR", false);
}

/* ------------------------------------------------------------ meta */

/* The meta codec's scratch (the decoded key of a b flag) lives in the key
 * array the parser already owns: a meta request has one key, so the array
 * is free, and its growth is bounded by sizeof(struct meta_scratch). */
#define TEXT_META_SLOTS \
    ((sizeof(struct meta_scratch) + sizeof(struct req_key) - 1) / sizeof(struct req_key))

static struct meta_scratch *
text_meta_scratch(struct text_parser *p)
{
    struct req_key *k;

    if (p->keys_cap < TEXT_META_SLOTS) {
        k = rc_realloc(p->keys, TEXT_META_SLOTS * sizeof(*k));
        if (k == NULL) {
            return NULL;
        }
        p->keys = k;
        p->keys_cap = TEXT_META_SLOTS;
    }
    return (struct meta_scratch *)(void *)p->keys;
}

static enum text_rc
text_parse_meta(struct text_parser *p, const struct text_line *l, size_t len, struct request *req,
                size_t *consumed, struct text_error *err)
{
    struct meta_scratch *s = text_meta_scratch(p);

    if (s == NULL) {
        *consumed = l->next;
        return text_fail(err, "SERVER_ERROR out of memory", false);
    }
    return meta_parse(s, p->max_item_size, l->p, l->n, l->next, l->p, len, req, consumed, err);
}

/* ------------------------------------------------------------ driver */

/* No '\n' yet. memcached keeps waiting up to 2048 bytes, and past that only
 * for a multi-get (at most 100 leading spaces, then "get " or "gets "; ours
 * also "vget "); any other overlong line closes the connection without a
 * reply. */
static enum text_rc
text_parse_partial(const char *data, size_t len, size_t *consumed, struct text_error *err)
{
    size_t i = 0;

    if (len <= TEXT_LINE_MAX) {
        return TEXT_AGAIN;
    }
    while (i < len && data[i] == ' ') {
        i++;
    }
    if (i <= TEXT_LEAD_SPACE_MAX && len <= TEXT_GET_LINE_MAX &&
        ((len - i >= 4 && memcmp(data + i, "get ", 4) == 0) ||
         (len - i >= 5 && memcmp(data + i, "gets ", 5) == 0) ||
         (len - i >= 5 && memcmp(data + i, "vget ", 5) == 0))) {
        return TEXT_AGAIN;
    }
    *consumed = len;
    text_fail(err, NULL, false);
    err->close = true;
    return TEXT_ERROR;
}

/* Frame the line ending at nl: drop "\r" before "\n" (memcached keeps it on a
 * line that is just "\r\n", which is ERROR either way) and cut at a NUL, as
 * memcached's strlen-based tokenizer does. */
static void
text_line_init(struct text_line *l, const char *data, const char *nl)
{
    const char *nul;

    l->p = data;
    l->n = (size_t)(nl - data);
    l->next = l->n + 1;
    if (l->n > 1 && data[l->n - 1] == '\r') {
        l->n--;
    }
    nul = memchr(data, '\0', l->n);
    if (nul != NULL) {
        l->n = (size_t)(nul - data);
    }
    l->ntok = 0;
}

static enum text_rc
text_parse_line(struct text_parser *p, struct text_line *l, size_t len, struct request *req,
                size_t *consumed, struct text_error *err)
{
    const char *pos = l->p;
    unsigned flags;

    if (!text_tok_next(&pos, l->p + l->n, &l->tok[0]) || l->tok[0].n < 2) {
        return text_fail(err, "ERROR", false);
    }
    l->rest = pos;
    l->ntok = 1;
    if (meta_is_command(l->tok[0].p, l->tok[0].n)) {
        return text_parse_meta(p, l, len, req, consumed, err);
    }
    req->cmd = text_cmd_find(&l->tok[0]);
    if (req->cmd == REQ_NONE) {
        return text_fail(err, "ERROR", false);
    }
    flags = req_cmd_flags(req->cmd);
    if (flags & REQF_RETRIEVE) {
        return text_parse_retrieve(p, l, req, err);
    }
    if (flags & REQF_STORE) {
        text_line_tokenize(l);
        if (req->cmd == REQ_VSET) {
            return text_parse_vset(p, l, len, req, consumed, err);
        }
        return text_parse_store(p, l, len, req, consumed, err);
    }
    if (flags & REQF_WRITE) {
        text_line_tokenize(l);
        if (req->cmd == REQ_VDEL) {
            return text_parse_vdel(p, l, req, err);
        }
        return text_parse_keyed(p, l, req, err);
    }
    return text_parse_admin(l, req, err);
}

enum text_rc
text_parse(struct text_parser *p, const char *data, size_t len, struct request *req,
           size_t *consumed, struct text_error *err)
{
    struct text_line l;
    const char *nl;
    enum text_rc rc;

    *consumed = 0;
    err->reply = NULL;
    err->swallow = 0;
    err->close = false;
    err->stale_key = NULL;
    err->nstale_key = 0;
    err->too_large = false;
    nl = len > 0 ? memchr(data, '\n', len) : NULL;
    if (nl == NULL) {
        return text_parse_partial(data, len, consumed, err);
    }
    text_line_init(&l, data, nl);
    request_reset(req);
    rc = text_parse_line(p, &l, len, req, consumed, err);
    if (rc == TEXT_AGAIN) {
        return rc; /* *consumed holds the total the data block needs */
    }
    if (*consumed == 0) {
        *consumed = l.next; /* everything but a storage command: the line */
    }
    return rc;
}

void
text_parser_init(struct text_parser *p, uint64_t max_item_size)
{
    p->max_item_size = max_item_size;
    p->keys = NULL;
    p->keys_cap = 0;
}

void
text_parser_deinit(struct text_parser *p)
{
    if (p == NULL) {
        return;
    }
    rc_free(p->keys);
    p->keys = NULL;
    p->keys_cap = 0;
}

/* ------------------------------------------------------------ encoders */

/* Decimal digits of v written at dst; returns their count (at most 20). */
static size_t
text_fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        dst[i] = tmp[n - 1 - i];
    }
    return n;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" in one reservation. */
static int
text_encode_value(struct buf *out, const struct request *req, size_t ki,
                  const struct response *resp)
{
    const struct req_key *k = &req->keys[ki];
    bool with_cas = req->cmd == REQ_GETS || req->cmd == REQ_GATS;
    char *w;
    int rc;

    rc = buf_reserve(out, 6 + k->nkey + 3 * 21 + 2 + resp->nvalue + 2);
    if (rc != RC_OK) {
        return rc;
    }
    w = out->data + out->len;
    memcpy(w, "VALUE ", 6);
    w += 6;
    memcpy(w, k->key, k->nkey);
    w += k->nkey;
    *w++ = ' ';
    w += text_fmt_u64(w, resp->flags);
    *w++ = ' ';
    w += text_fmt_u64(w, resp->nvalue);
    if (with_cas) {
        *w++ = ' ';
        w += text_fmt_u64(w, resp->cas);
    }
    *w++ = '\r';
    *w++ = '\n';
    if (resp->nvalue > 0) {
        memcpy(w, resp->value, resp->nvalue);
        w += resp->nvalue;
    }
    *w++ = '\r';
    *w++ = '\n';
    out->len = (size_t)(w - out->data);
    return RC_OK;
}

/* A signed decimal at dst; returns its length (at most 20). */
static size_t
text_fmt_i64(char *dst, int64_t v)
{
    if (v >= 0) {
        return text_fmt_u64(dst, (uint64_t)v);
    }
    dst[0] = '-';
    return 1 + text_fmt_u64(dst + 1, (uint64_t)0 - (uint64_t)v);
}

/* The context token of a reply; "-" (the empty context) if none was given,
 * so the line always has its field. */
static void
text_reply_context(const struct response *resp, const char **ctx, size_t *nctx)
{
    *ctx = resp->ncontext > 0 ? resp->context : "-";
    *nctx = resp->ncontext > 0 ? resp->ncontext : 1;
}

/* vget hit: "VERSIONS <key> <n> <context>\r\n", then per sibling
 * "SIBLING <flags> <bytes> <time>\r\n<data>\r\n"; one reservation, so a
 * failure appends nothing. */
static int
text_encode_versions(struct buf *out, const struct request *req, size_t ki,
                     const struct response *resp)
{
    const struct req_key *k = &req->keys[ki];
    const char *ctx;
    size_t nctx, need, i;
    char *w;
    int rc;

    text_reply_context(resp, &ctx, &nctx);
    need = 9 + k->nkey + 1 + 20 + 1 + nctx + 2;
    for (i = 0; i < resp->nsiblings; i++) {
        need += 8 + 3 * 21 + 2 + resp->siblings[i].nvalue + 2;
    }
    rc = buf_reserve(out, need);
    if (rc != RC_OK) {
        return rc;
    }
    w = out->data + out->len;
    memcpy(w, "VERSIONS ", 9);
    w += 9;
    memcpy(w, k->key, k->nkey);
    w += k->nkey;
    *w++ = ' ';
    w += text_fmt_u64(w, resp->nsiblings);
    *w++ = ' ';
    memcpy(w, ctx, nctx);
    w += nctx;
    *w++ = '\r';
    *w++ = '\n';
    for (i = 0; i < resp->nsiblings; i++) {
        const struct resp_sibling *sb = &resp->siblings[i];

        memcpy(w, "SIBLING ", 8);
        w += 8;
        w += text_fmt_u64(w, sb->flags);
        *w++ = ' ';
        w += text_fmt_u64(w, sb->nvalue);
        *w++ = ' ';
        w += text_fmt_i64(w, sb->wtime_ms);
        *w++ = '\r';
        *w++ = '\n';
        if (sb->nvalue > 0) {
            memcpy(w, sb->value, sb->nvalue);
            w += sb->nvalue;
        }
        *w++ = '\r';
        *w++ = '\n';
    }
    out->len = (size_t)(w - out->data);
    return RC_OK;
}

/* vset/vdel success: "<word> <n> <context>\r\n". */
static int
text_encode_versioned(struct buf *out, const char *word, const struct response *resp)
{
    size_t nw = strlen(word), nctx;
    const char *ctx;
    char *w;
    int rc;

    text_reply_context(resp, &ctx, &nctx);
    rc = buf_reserve(out, nw + 1 + 20 + 1 + nctx + 2);
    if (rc != RC_OK) {
        return rc;
    }
    w = out->data + out->len;
    memcpy(w, word, nw);
    w += nw;
    *w++ = ' ';
    w += text_fmt_u64(w, resp->nlive);
    *w++ = ' ';
    memcpy(w, ctx, nctx);
    w += nctx;
    *w++ = '\r';
    *w++ = '\n';
    out->len = (size_t)(w - out->data);
    return RC_OK;
}

/* Append "<a><b>\r\n" (b may be NULL). */
static int
text_encode_pair(struct buf *out, const char *a, const char *b)
{
    size_t na = strlen(a), nb = b ? strlen(b) : 0;
    int rc = buf_reserve(out, na + nb + 2);

    if (rc != RC_OK) {
        return rc;
    }
    memcpy(out->data + out->len, a, na);
    if (nb > 0) {
        memcpy(out->data + out->len + na, b, nb);
    }
    memcpy(out->data + out->len + na + nb, "\r\n", 2);
    out->len += na + nb + 2;
    return RC_OK;
}

static int
text_encode_number(struct buf *out, uint64_t v)
{
    int rc = buf_reserve(out, 22);

    if (rc != RC_OK) {
        return rc;
    }
    out->len += text_fmt_u64(out->data + out->len, v);
    memcpy(out->data + out->len, "\r\n", 2);
    out->len += 2;
    return RC_OK;
}

/* "VERSION <v>": the caller's string in resp->value, else ours. */
static int
text_encode_version(struct buf *out, const struct response *resp)
{
    const char *v = resp->value ? resp->value : PACKAGE_VERSION;
    size_t nv = resp->value ? resp->nvalue : strlen(PACKAGE_VERSION);
    int rc = buf_reserve(out, 8 + nv + 2);

    if (rc != RC_OK) {
        return rc;
    }
    memcpy(out->data + out->len, "VERSION ", 8);
    memcpy(out->data + out->len + 8, v, nv);
    memcpy(out->data + out->len + 8 + nv, "\r\n", 2);
    out->len += 8 + nv + 2;
    return RC_OK;
}

/* The success line of a non-retrieval command; "" means no reply at all. */
static const char *
text_ok_line(enum req_cmd cmd)
{
    switch (cmd) {
    case REQ_SET:
    case REQ_ADD:
    case REQ_REPLACE:
    case REQ_APPEND:
    case REQ_PREPEND:
    case REQ_CAS:
        return "STORED";
    case REQ_DELETE:
        return "DELETED";
    case REQ_TOUCH:
        return "TOUCHED";
    case REQ_FLUSH_ALL:
    case REQ_VERBOSITY:
        return "OK";
    case REQ_QUIT:     /* the connection just closes */
    case REQ_SHUTDOWN: /* idem */
    case REQ_STATS:    /* the caller writes STAT lines and END */
    case REQ_RING:     /* idem: the admin code writes the lines */
    case REQ_MEMBERS:
        return "";
    default:
        assert(!"no success line for this command");
        return "";
    }
}

/* A failure as memcached words it for this command. */
static int
text_encode_failure(struct buf *out, const struct request *req, const struct response *resp)
{
    const char *why = resp->errmsg ? resp->errmsg : rc_strerror(resp->status);

    switch (resp->status) {
    case RC_ENOTFOUND:
        return text_encode_pair(out, "NOT_FOUND", NULL);
    case RC_EEXISTS:
        return text_encode_pair(out, "EXISTS", NULL);
    case RC_ENOTSTORED:
        return text_encode_pair(out, "NOT_STORED", NULL);
    case RC_ENONNUMERIC:
        return text_encode_pair(out, "CLIENT_ERROR cannot increment or decrement non-numeric value",
                                NULL);
    case RC_ETOOLARGE:
        return text_encode_pair(out, TEXT_ERR_TOOBIG, NULL);
    case RC_EBADCONTEXT:
        return text_encode_pair(out, TEXT_ERR_CONTEXT, NULL);
    case RC_ESIBLINGS:
        return text_encode_pair(out, "SERVER_ERROR too many siblings", NULL);
    case RC_ENOMEM:
        if (req->cmd == REQ_INCR || req->cmd == REQ_DECR) {
            return text_encode_pair(out, "SERVER_ERROR out of memory", NULL);
        }
        if (req_cmd_flags(req->cmd) & REQF_RETRIEVE) {
            return text_encode_pair(out, "SERVER_ERROR out of memory writing get response", NULL);
        }
        return text_encode_pair(out, "SERVER_ERROR out of memory storing object", NULL);
    case RC_EINVAL:
        return text_encode_pair(out, "CLIENT_ERROR ",
                                resp->errmsg ? resp->errmsg : "bad command line format");
    case RC_EDISABLED:
        if (req->cmd == REQ_FLUSH_ALL) {
            return text_encode_pair(out, "CLIENT_ERROR flush_all not allowed", NULL);
        }
        if (req->cmd == REQ_SHUTDOWN) {
            return text_encode_pair(out, "ERROR: shutdown not enabled", NULL);
        }
        return text_encode_pair(out, "SERVER_ERROR ", why);
    default:
        return text_encode_pair(out, "SERVER_ERROR ", why);
    }
}

int
text_encode_response(struct buf *out, const struct request *req, size_t ki,
                     const struct response *resp)
{
    const char *line;

    if (req->proto == REQ_PROTO_META) {
        return meta_encode_response(out, req, resp);
    }
    if (req_cmd_flags(req->cmd) & REQF_RETRIEVE) {
        assert(ki < req->nkeys);
        if (resp->status == RC_OK) {
            return req->cmd == REQ_VGET ? text_encode_versions(out, req, ki, resp)
                                        : text_encode_value(out, req, ki, resp);
        }
        if (resp->status == RC_ENOTFOUND) {
            return RC_OK; /* a miss is silent; END comes from the caller */
        }
        return text_encode_failure(out, req, resp);
    }
    if (req->noreply) {
        return RC_OK; /* memcached 1.6 hides every reply, errors included */
    }
    if (resp->status != RC_OK) {
        return text_encode_failure(out, req, resp);
    }
    if (req->cmd == REQ_INCR || req->cmd == REQ_DECR) {
        return text_encode_number(out, resp->number);
    }
    if (req->cmd == REQ_VERSION) {
        return text_encode_version(out, resp);
    }
    if (req->cmd == REQ_VSET || req->cmd == REQ_VDEL) {
        return text_encode_versioned(out, req->cmd == REQ_VSET ? "STORED" : "DELETED", resp);
    }
    line = text_ok_line(req->cmd);
    return line[0] ? text_encode_pair(out, line, NULL) : RC_OK;
}

int
text_encode_end(struct buf *out)
{
    return buf_append(out, "END\r\n", 5);
}

int
text_encode_line(struct buf *out, const char *line)
{
    return text_encode_pair(out, line, NULL);
}

int
text_encode_stat(struct buf *out, const char *name, const char *value)
{
    size_t nn = strlen(name), nv = strlen(value);
    int rc = buf_reserve(out, 5 + nn + 1 + nv + 2);
    char *w;

    if (rc != RC_OK) {
        return rc;
    }
    w = out->data + out->len;
    memcpy(w, "STAT ", 5);
    memcpy(w + 5, name, nn);
    w[5 + nn] = ' ';
    memcpy(w + 6 + nn, value, nv);
    memcpy(w + 6 + nn + nv, "\r\n", 2);
    out->len += 5 + nn + 1 + nv + 2;
    return RC_OK;
}
