/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * loadgen.c - a memcached load generator (text, meta and binary protocols, and
 * ringcached's versioning extension over text: vget and vset).
 *
 * Standalone: links libevent only and includes nothing from src/. Each worker
 * thread owns one event base and a fixed share of the connections; nothing
 * crosses threads while the loops run except the read-only config, the shared
 * value bytes and the stop flag. Results are merged by main after the joins.
 *
 *   main: parse + validate config -> probe connect -> start workers
 *     worker: connect its conns [-> preload its key slice]  (setup phase)
 *   main: barrier 1, check setup, stamp t_start, barrier 2
 *     worker: run: keep `pipeline` requests in flight per conn until
 *             t_start + warmup + duration, then drain (bounded by a grace
 *             timer) and stop
 *   main: join, merge counters and histograms, print text or one JSON line
 *
 * A request is measured if it was sent at or after the end of warmup and its
 * reply arrived before the end of the window; everything else is load only.
 *
 * Protocols sit behind `struct proto_ops`: encoders write bytes into a caller's
 * buffer and parsers are pure functions over a contiguous byte range that
 * return bytes consumed (> 0), 0 for "need more" or -1 for a protocol error.
 * They know nothing of sockets or libevent.
 *
 * The extension modes (doc/protocol-extension.txt section 2): "vget" reads
 * with vget and writes with plain set; "vtext" reads with vget and writes with
 * vset, read-resolve-write style: each vset carries the context this
 * connection last received for that key (from a vget or a vset reply), or "-"
 * if it has none. So that the context a connection holds is always the
 * newest, vtext partitions the written keys over the connections (connection
 * g of N writes only keys k with k % N == g; reads still go to any key) and
 * each connection caches the contexts of its own keys. In setup, after any
 * preload, each connection reads (vget) its own keys once to fill its cache,
 * so that even its first vset of a key supersedes what the key holds.
 *
 * Exit status: 0 ok, 1 run failure (server unreachable, setup failed or timed
 * out), 2 usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#define LG_MAX_KEY       250 /* memcached's key length limit */
#define LG_MAX_LINE      2048
#define LG_MAX_CTX       543        /* longest context token */
#define LG_MAX_SIBLINGS  4096       /* ringcached's --max-siblings bound */
#define LG_CTX_SLOTS     (1u << 18) /* context cache entries per conn, at most */
#define LG_PRELOAD_DEPTH 32         /* minimum in-flight sets per conn while preloading */
#define LG_GRACE_MS      2000
#define LG_RETRY_MS      100
#define LG_TICK_MS       100
#define LG_PROBE_MS      2000
#define LG_NSEC          1000000000ULL

#define EXIT_RUN_FAILURE 1
#define EXIT_USAGE       2

/* ------------------------------------------------------------------ config */

/* Filled once by config_parse(), then read-only and shared by all threads. */
struct lg_config {
    const char *host;
    int port;
    int threads;
    int conns;
    int pipeline;
    uint64_t keys;
    const char *key_prefix;
    size_t prefix_len;
    size_t value_size;
    double get_ratio;
    double rate; /* requests per second over all conns; 0: unpaced */
    double duration;
    double warmup;
    int preload;
    double preload_timeout;
    const struct proto_ops *proto;
    uint64_t seed;
    int json;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* ------------------------------------------------------------------ helpers */

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * LG_NSEC + (uint64_t)ts.tv_nsec;
}

static struct timeval
ns_to_timeval(uint64_t ns)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ns / LG_NSEC);
    tv.tv_usec = (suseconds_t)((ns % LG_NSEC) / 1000);
    return tv;
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try --help)\n", stderr);
    exit(EXIT_USAGE);
}

/* Writes v in decimal at dst (no NUL); returns the number of digits. */
static size_t
u64_format(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* ------------------------------------------------------------------ prng */

/* splitmix64: seeds the per-thread generators from --seed. */
static uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* xorshift64*: the per-request generator; state must be non-zero. */
static uint64_t
xorshift64s(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n) by multiply-shift (bias below 2^-64 * n). */
static uint64_t
rng_below(uint64_t *state, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)xorshift64s(state) * n) >> 64);
}

/* Uniform in [0, 1). */
static double
rng_unit(uint64_t *state)
{
    return (double)(xorshift64s(state) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------ histogram */

/*
 * Log-linear latency histogram in nanoseconds, HDR style: values below
 * 2 * HIST_SUB are counted exactly; above, every power of two is split into
 * HIST_SUB equal buckets, so a bucket is at most 1/128 (0.8%) of its value.
 * Values are clamped to 2^40 ns (about 18 minutes).
 */
#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 40
#define HIST_BUCKETS  ((HIST_MAX_BITS - HIST_SUB_BITS) * HIST_SUB + 2 * HIST_SUB)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t sum;
    uint64_t max;
};

static unsigned
hist_index(uint64_t v)
{
    unsigned msb, shift;

    if (v >= (1ULL << HIST_MAX_BITS))
        v = (1ULL << HIST_MAX_BITS) - 1;
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - HIST_SUB_BITS;
    return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* Highest value that falls in bucket idx. */
static uint64_t
hist_bucket_high(unsigned idx)
{
    unsigned shift, m;

    if (idx < 2 * HIST_SUB)
        return idx;
    shift = idx / HIST_SUB - 1;
    m = idx - shift * HIST_SUB;
    return (((uint64_t)m + 1) << shift) - 1;
}

static void
hist_record(struct hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

static void
hist_merge(struct hist *dst, const struct hist *src)
{
    unsigned i;

    for (i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* Value at quantile q (0..1): the high end of the bucket holding it. */
static uint64_t
hist_quantile(const struct hist *h, double q)
{
    uint64_t rank, seen = 0;
    unsigned i;

    if (h->total == 0)
        return 0;
    rank = (uint64_t)(q * (double)h->total); /* ceil without libm */
    if ((double)rank < q * (double)h->total)
        rank++;
    if (rank < 1)
        rank = 1;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    if (i == HIST_BUCKETS)
        return h->max;
    return hist_bucket_high(i) < h->max ? hist_bucket_high(i) : h->max;
}

/* ------------------------------------------------------------------ protocols */

enum req_kind { REQ_GET, REQ_SET, REQ__COUNT };

enum reply_kind {
    REPLY_HIT,
    REPLY_MISS,
    REPLY_STORED,
    REPLY_NOT_STORED,
    REPLY_ERROR,
    REPLY__COUNT
};

/*
 * A parsed reply; pointers point into the parser's input buffer. For a hit,
 * value is the (first) value. The extension's replies also carry the key
 * (vget), the context and the sibling count; mixed says that the siblings'
 * values differ from each other.
 */
struct reply {
    enum reply_kind kind;
    const char *value;
    size_t vlen;
    const char *key, *ctx;
    size_t klen, ctxlen;
    uint64_t siblings;
    int mixed;
};

/*
 * One protocol. Encoders write at most LG_ENCODE_MAX bytes into dst and
 * return the length. A set is head + value + tail; ctx is the context for a
 * versioned write (vctx), ignored otherwise. parse() looks at the reply to the
 * oldest request (whose kind is `expect`). vctx: writes carry contexts, and
 * the contexts in replies are cached per connection.
 */
struct proto_ops {
    const char *name;
    size_t (*encode_get)(char *dst, const char *key, size_t klen, uint32_t opaque);
    size_t (*encode_set_head)(char *dst, const char *key, size_t klen, size_t vlen, const char *ctx,
                              size_t ctxlen, uint32_t opaque);
    const char *set_tail;
    size_t set_tail_len;
    long (*parse)(const char *buf, size_t len, enum req_kind expect, struct reply *out);
    int vctx;
};

#define LG_ENCODE_MAX (LG_MAX_KEY + LG_MAX_CTX + 64)

/* Length of the line at buf including its CRLF; 0 if incomplete, -1 if bad. */
static long
line_length(const char *buf, size_t len)
{
    size_t scan = len < LG_MAX_LINE ? len : LG_MAX_LINE;
    const char *nl = memchr(buf, '\n', scan);

    if (nl == NULL)
        return len < LG_MAX_LINE ? 0 : -1;
    if (nl == buf || nl[-1] != '\r')
        return -1;
    return (long)(nl - buf) + 1;
}

static int
line_is(const char *line, long n, const char *word)
{
    size_t wl = strlen(word);

    return (size_t)n == wl + 2 && memcmp(line, word, wl) == 0;
}

static int
line_starts(const char *line, long n, const char *prefix)
{
    size_t pl = strlen(prefix);

    return (size_t)n >= pl + 2 && memcmp(line, prefix, pl) == 0;
}

/* ERROR, CLIENT_ERROR ..., SERVER_ERROR ...: shared by text and meta. */
static int
line_is_error(const char *line, long n)
{
    return line_is(line, n, "ERROR") || line_starts(line, n, "CLIENT_ERROR") ||
           line_starts(line, n, "SERVER_ERROR");
}

/* Parses the decimal token starting at *p (bounded by end); advances *p. */
static int
token_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    while (s < end && *s == ' ')
        s++;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

/* Skips one space-delimited token at *p. */
static int
token_skip(const char **p, const char *end)
{
    const char *s = *p;

    while (s < end && *s == ' ')
        s++;
    if (s >= end || *s == '\r')
        return -1;
    while (s < end && *s != ' ' && *s != '\r')
        s++;
    *p = s;
    return 0;
}

/*
 * A value block that follows a header line of hlen bytes: `bytes` of data,
 * CRLF, then `trailer` (may be ""). Returns the total length, 0 if more is
 * needed, -1 if the framing is wrong.
 */
static long
value_block(const char *buf, size_t len, long hlen, uint64_t bytes, const char *trailer)
{
    size_t tl = strlen(trailer);
    size_t total;

    if (bytes > (1ULL << 30))
        return -1;
    total = (size_t)hlen + (size_t)bytes + 2 + tl;
    if (len < total)
        return 0;
    if (memcmp(buf + hlen + bytes, "\r\n", 2) != 0)
        return -1;
    if (memcmp(buf + hlen + bytes + 2, trailer, tl) != 0)
        return -1;
    return (long)total;
}

static size_t
text_encode_get(char *dst, const char *key, size_t klen, uint32_t opaque)
{
    (void)opaque;
    memcpy(dst, "get ", 4);
    memcpy(dst + 4, key, klen);
    memcpy(dst + 4 + klen, "\r\n", 2);
    return klen + 6;
}

static size_t
text_encode_set_head(char *dst, const char *key, size_t klen, size_t vlen, const char *ctx,
                     size_t ctxlen, uint32_t opaque)
{
    size_t n = 0;

    (void)ctx;
    (void)ctxlen;
    (void)opaque;
    memcpy(dst, "set ", 4);
    n = 4;
    memcpy(dst + n, key, klen);
    n += klen;
    memcpy(dst + n, " 0 0 ", 5);
    n += 5;
    n += u64_format(dst + n, vlen);
    memcpy(dst + n, "\r\n", 2);
    return n + 2;
}

/* "VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\nEND\r\n" or "END\r\n". */
static long
text_parse_get(const char *buf, size_t len, long n, struct reply *out)
{
    const char *p = buf + 6, *end = buf + n - 2;
    uint64_t flags, bytes;
    long total;

    if (line_is(buf, n, "END")) {
        out->kind = REPLY_MISS;
        return n;
    }
    if (!line_starts(buf, n, "VALUE "))
        return -1;
    if (token_skip(&p, end) < 0 || token_u64(&p, end, &flags) < 0 || token_u64(&p, end, &bytes) < 0)
        return -1;
    total = value_block(buf, len, n, bytes, "END\r\n");
    if (total > 0) {
        out->kind = REPLY_HIT;
        out->value = buf + n;
        out->vlen = (size_t)bytes;
    }
    return total;
}

/* The reply line (n bytes) to a plain text set. */
static long
text_parse_store(const char *buf, long n, struct reply *out)
{
    if (line_is(buf, n, "STORED"))
        out->kind = REPLY_STORED;
    else if (line_is(buf, n, "NOT_STORED") || line_is(buf, n, "EXISTS") ||
             line_is(buf, n, "NOT_FOUND"))
        out->kind = REPLY_NOT_STORED;
    else
        return -1;
    return n;
}

static long
text_parse(const char *buf, size_t len, enum req_kind expect, struct reply *out)
{
    long n = line_length(buf, len);

    if (n <= 0)
        return n;
    if (line_is_error(buf, n)) {
        out->kind = REPLY_ERROR;
        return n;
    }
    if (expect == REQ_GET)
        return text_parse_get(buf, len, n, out);
    return text_parse_store(buf, n, out);
}

/* ---- ringcached's extension over text: vget, vset */

/*
 * A context token as the wire carries it: "-", or 31 to 543 bytes of
 * A-Z a-z 0-9 - _ with exactly one full stop (doc/protocol-extension.txt 1).
 */
static int
ctx_valid(const char *s, size_t n)
{
    size_t i, dots = 0;

    if (n == 1 && s[0] == '-')
        return 1;
    if (n < 31 || n > LG_MAX_CTX)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (ch == '.')
            dots++;
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return dots == 1;
}

/* Reads one space-delimited token at *p into (*tok, *tlen); advances *p. */
static int
token_span(const char **p, const char *end, const char **tok, size_t *tlen)
{
    const char *s = *p;

    while (s < end && *s == ' ')
        s++;
    *tok = s;
    if (token_skip(p, end) < 0)
        return -1;
    *tlen = (size_t)(*p - *tok);
    return 0;
}

static size_t
vtext_encode_get(char *dst, const char *key, size_t klen, uint32_t opaque)
{
    (void)opaque;
    memcpy(dst, "vget ", 5);
    memcpy(dst + 5, key, klen);
    memcpy(dst + 5 + klen, "\r\n", 2);
    return klen + 7;
}

/* "vset <key> 0 0 <bytes> <context>\r\n" */
static size_t
vtext_encode_set_head(char *dst, const char *key, size_t klen, size_t vlen, const char *ctx,
                      size_t ctxlen, uint32_t opaque)
{
    size_t n;

    (void)opaque;
    memcpy(dst, "vset ", 5);
    n = 5;
    memcpy(dst + n, key, klen);
    n += klen;
    memcpy(dst + n, " 0 0 ", 5);
    n += 5;
    n += u64_format(dst + n, vlen);
    dst[n++] = ' ';
    memcpy(dst + n, ctx, ctxlen);
    n += ctxlen;
    memcpy(dst + n, "\r\n", 2);
    return n + 2;
}

/*
 * One key's vget reply: "END\r\n" (miss), or
 * "VERSIONS <key> <n> <context>\r\n", n times
 * "SIBLING <flags> <bytes> <time>\r\n<data>\r\n", then "END\r\n". A reply with
 * n == 0 (every sibling a tombstone) counts as a miss that has a context.
 */
static long
vtext_parse_get(const char *buf, size_t len, long n, struct reply *out)
{
    const char *p = buf + 9, *end = buf + n - 2;
    uint64_t count, i, flags, bytes, when;
    size_t off = (size_t)n;

    if (line_is(buf, n, "END")) {
        out->kind = REPLY_MISS;
        out->ctx = "-";
        out->ctxlen = 1;
        return n;
    }
    if (!line_starts(buf, n, "VERSIONS ") || token_span(&p, end, &out->key, &out->klen) < 0 ||
        token_u64(&p, end, &count) < 0 || token_span(&p, end, &out->ctx, &out->ctxlen) < 0 ||
        p != end || count > LG_MAX_SIBLINGS || !ctx_valid(out->ctx, out->ctxlen))
        return -1;
    for (i = 0; i < count; i++) {
        long m = line_length(buf + off, len - off), total;

        if (m <= 0)
            return m;
        p = buf + off + 8;
        end = buf + off + m - 2;
        if (!line_starts(buf + off, m, "SIBLING ") || token_u64(&p, end, &flags) < 0 ||
            token_u64(&p, end, &bytes) < 0 || token_u64(&p, end, &when) < 0 || p != end)
            return -1;
        total = value_block(buf + off, len - off, m, bytes, "");
        if (total <= 0)
            return total;
        if (i == 0) {
            out->value = buf + off + m;
            out->vlen = (size_t)bytes;
        } else if (bytes != out->vlen || memcmp(buf + off + m, out->value, out->vlen) != 0) {
            out->mixed = 1;
        }
        off += (size_t)total;
    }
    if (len - off < 5)
        return 0;
    if (memcmp(buf + off, "END\r\n", 5) != 0)
        return -1;
    out->kind = count > 0 ? REPLY_HIT : REPLY_MISS;
    out->siblings = count;
    return (long)(off + 5);
}

/* vset: "STORED <n> <context>\r\n", n >= 1. */
static long
vtext_parse_store(const char *buf, long n, struct reply *out)
{
    const char *p = buf + 7, *end = buf + n - 2;
    uint64_t count;

    if (!line_starts(buf, n, "STORED ") || token_u64(&p, end, &count) < 0 || count < 1 ||
        count > LG_MAX_SIBLINGS || token_span(&p, end, &out->ctx, &out->ctxlen) < 0 || p != end ||
        !ctx_valid(out->ctx, out->ctxlen))
        return -1;
    out->kind = REPLY_STORED;
    out->siblings = count;
    return n;
}

/* Mode vtext: vget and vset. */
static long
vtext_parse(const char *buf, size_t len, enum req_kind expect, struct reply *out)
{
    long n = line_length(buf, len);

    if (n <= 0)
        return n;
    if (line_is_error(buf, n)) {
        out->kind = REPLY_ERROR;
        return n;
    }
    if (expect == REQ_GET)
        return vtext_parse_get(buf, len, n, out);
    return vtext_parse_store(buf, n, out);
}

/* Mode vget: vget and plain set. */
static long
vget_parse(const char *buf, size_t len, enum req_kind expect, struct reply *out)
{
    long n = line_length(buf, len);

    if (n <= 0)
        return n;
    if (line_is_error(buf, n)) {
        out->kind = REPLY_ERROR;
        return n;
    }
    if (expect == REQ_GET)
        return vtext_parse_get(buf, len, n, out);
    return text_parse_store(buf, n, out);
}

static size_t
meta_encode_get(char *dst, const char *key, size_t klen, uint32_t opaque)
{
    (void)opaque;
    memcpy(dst, "mg ", 3);
    memcpy(dst + 3, key, klen);
    memcpy(dst + 3 + klen, " v\r\n", 4);
    return klen + 7;
}

static size_t
meta_encode_set_head(char *dst, const char *key, size_t klen, size_t vlen, const char *ctx,
                     size_t ctxlen, uint32_t opaque)
{
    size_t n;

    (void)ctx;
    (void)ctxlen;
    (void)opaque;
    memcpy(dst, "ms ", 3);
    memcpy(dst + 3, key, klen);
    n = 3 + klen;
    dst[n++] = ' ';
    n += u64_format(dst + n, vlen);
    memcpy(dst + n, "\r\n", 2);
    return n + 2;
}

/* mg: "VA <size> <flags>*\r\n<data>\r\n" (hit) or "EN\r\n" (miss). */
static long
meta_parse_get(const char *buf, size_t len, long n, struct reply *out)
{
    const char *p = buf + 3, *end = buf + n - 2;
    uint64_t bytes;
    long total;

    if (line_is(buf, n, "EN")) {
        out->kind = REPLY_MISS;
        return n;
    }
    if (!line_starts(buf, n, "VA ") || token_u64(&p, end, &bytes) < 0)
        return -1;
    total = value_block(buf, len, n, bytes, "");
    if (total > 0) {
        out->kind = REPLY_HIT;
        out->value = buf + n;
        out->vlen = (size_t)bytes;
    }
    return total;
}

/* ms: "HD" stored; "NS", "EX", "NF" not stored; each may carry flags. */
static long
meta_parse(const char *buf, size_t len, enum req_kind expect, struct reply *out)
{
    long n = line_length(buf, len);

    if (n <= 0)
        return n;
    if (line_is_error(buf, n)) {
        out->kind = REPLY_ERROR;
        return n;
    }
    if (expect == REQ_GET)
        return meta_parse_get(buf, len, n, out);
    if (n < 4 || (n > 4 && buf[2] != ' '))
        return -1;
    if (memcmp(buf, "HD", 2) == 0)
        out->kind = REPLY_STORED;
    else if (memcmp(buf, "NS", 2) == 0 || memcmp(buf, "EX", 2) == 0 || memcmp(buf, "NF", 2) == 0)
        out->kind = REPLY_NOT_STORED;
    else
        return -1;
    return n;
}

/* Binary protocol: 24-byte header, all integers big-endian. */
#define BIN_HEADER      24
#define BIN_REQ_MAGIC   0x80
#define BIN_RES_MAGIC   0x81
#define BIN_OP_GET      0x00
#define BIN_OP_SET      0x01
#define BIN_OK          0x0000
#define BIN_KEY_ENOENT  0x0001
#define BIN_KEY_EEXISTS 0x0002
#define BIN_NOT_STORED  0x0005

static void
put_be16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static void
put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static uint32_t
get_be(const char *p, int n)
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < n; i++)
        v = (v << 8) | (uint8_t)p[i];
    return v;
}

static void
bin_header(char *dst, uint8_t op, size_t klen, uint8_t extlen, size_t body, uint32_t opaque)
{
    memset(dst, 0, BIN_HEADER);
    dst[0] = (char)BIN_REQ_MAGIC;
    dst[1] = (char)op;
    put_be16(dst + 2, (uint16_t)klen);
    dst[4] = (char)extlen;
    put_be32(dst + 8, (uint32_t)body);
    put_be32(dst + 12, opaque);
}

static size_t
bin_encode_get(char *dst, const char *key, size_t klen, uint32_t opaque)
{
    bin_header(dst, BIN_OP_GET, klen, 0, klen, opaque);
    memcpy(dst + BIN_HEADER, key, klen);
    return BIN_HEADER + klen;
}

static size_t
bin_encode_set_head(char *dst, const char *key, size_t klen, size_t vlen, const char *ctx,
                    size_t ctxlen, uint32_t opaque)
{
    (void)ctx;
    (void)ctxlen;
    bin_header(dst, BIN_OP_SET, klen, 8, 8 + klen + vlen, opaque);
    memset(dst + BIN_HEADER, 0, 8); /* flags 0, expiration 0 */
    memcpy(dst + BIN_HEADER + 8, key, klen);
    return BIN_HEADER + 8 + klen;
}

static enum reply_kind
bin_status_kind(uint32_t status, enum req_kind expect)
{
    if (status == BIN_OK)
        return expect == REQ_GET ? REPLY_HIT : REPLY_STORED;
    if (expect == REQ_GET && status == BIN_KEY_ENOENT)
        return REPLY_MISS;
    if (expect == REQ_SET &&
        (status == BIN_NOT_STORED || status == BIN_KEY_EEXISTS || status == BIN_KEY_ENOENT))
        return REPLY_NOT_STORED;
    return REPLY_ERROR;
}

static long
bin_parse(const char *buf, size_t len, enum req_kind expect, struct reply *out)
{
    uint32_t body, klen, extlen;
    uint8_t op = expect == REQ_GET ? BIN_OP_GET : BIN_OP_SET;

    if (len < BIN_HEADER)
        return 0;
    if ((uint8_t)buf[0] != BIN_RES_MAGIC || (uint8_t)buf[1] != op)
        return -1;
    klen = get_be(buf + 2, 2);
    extlen = (uint8_t)buf[4];
    body = get_be(buf + 8, 4);
    if (body > (1u << 30) || klen + extlen > body)
        return -1;
    if (len < BIN_HEADER + (size_t)body)
        return 0;
    out->kind = bin_status_kind(get_be(buf + 6, 2), expect);
    if (out->kind == REPLY_HIT) {
        out->value = buf + BIN_HEADER + extlen + klen;
        out->vlen = body - extlen - klen;
    }
    return (long)(BIN_HEADER + body);
}

static const struct proto_ops proto_table[] = {
    {"text", text_encode_get, text_encode_set_head, "\r\n", 2, text_parse, 0},
    {"meta", meta_encode_get, meta_encode_set_head, "\r\n", 2, meta_parse, 0},
    {"binary", bin_encode_get, bin_encode_set_head, "", 0, bin_parse, 0},
    {"vtext", vtext_encode_get, vtext_encode_set_head, "\r\n", 2, vtext_parse, 1},
    {"vget", vtext_encode_get, text_encode_set_head, "\r\n", 2, vget_parse, 0},
};

static const struct proto_ops *
proto_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(proto_table) / sizeof(proto_table[0]); i++)
        if (strcmp(proto_table[i].name, name) == 0)
            return &proto_table[i];
    return NULL;
}

/* ------------------------------------------------------------------ workers */

struct lg_stats {
    uint64_t ops[REQ__COUNT]; /* measured requests by kind */
    uint64_t replies[REPLY__COUNT];
    uint64_t disconnected; /* measured requests lost with their conn */
    uint64_t unfinished;   /* requests still in flight at the end */
    uint64_t conn_errors;  /* failed connects, resets, protocol errors */
    uint64_t proto_errors; /* unparseable replies (conn then reset) */
    uint64_t bad_values; /* hits whose bytes (or vget key) differ from what was sent (as errors) */
    uint64_t vhits;      /* measured vget hits ... */
    uint64_t vsiblings;  /* ... and their siblings, in total and at most */
    uint64_t vsiblings_max;
    uint64_t vstored_multi; /* measured vsets answered with more than one sibling */
    uint64_t preload_sets;
    uint64_t preload_errors;
    uint64_t primed; /* vtext setup: vgets that filled the context cache */
    uint64_t prime_errors;
    struct hist lat; /* measured requests, nanoseconds */
};

/* State shared by main and the workers; set before barriers, read after. */
struct lg_shared {
    const struct lg_config *cfg;
    const char *value; /* value_size bytes, read-only */
    pthread_barrier_t barrier;
    uint64_t t_start;             /* run start; written by main before barrier 2 */
    int abort;                    /* main says: do not run */
    _Atomic uint64_t interrupted; /* first time a worker saw a stop signal, or 0 */
};

enum phase { PHASE_SETUP, PHASE_RUN, PHASE_STOPPING };

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_READY, CONN_FAILED };

struct pending {
    uint64_t sent;
    uint64_t key;
    enum req_kind kind;
};

/* A cached context of one of the connection's own keys (mode vtext). */
struct ctx_slot {
    uint64_t key;
    char *ctx; /* owned; NULL: empty slot */
    size_t len, cap;
};

struct worker;

struct conn {
    struct worker *w;        /* owner, not owned */
    struct bufferevent *bev; /* owned; NULL unless connecting or ready */
    struct event *ev_retry;  /* owned */
    struct event *ev_pace;   /* owned: --rate, the next request's due time */
    uint64_t next_due;       /* --rate: when the next request is due, ns */
    uint64_t slot_free_at;   /* --rate: when the pipeline last had room, ns */
    enum conn_state state;
    struct pending *ring; /* owned, `cap` slots: requests in flight, oldest first */
    unsigned cap, head, count;
    uint32_t opaque;
    uint64_t preload_next, preload_end;
    uint64_t prime_next, prime_end; /* vtext: own keys' contexts to read in setup */
    int setup_done;
    uint64_t gindex;       /* global connection index */
    uint64_t own_keys;     /* vtext: keys k with k % conns == gindex */
    struct ctx_slot *ctxs; /* vtext: owned, nctx slots, by (k / conns) % nctx */
    uint64_t nctx;
};

struct worker {
    int index;
    const struct lg_config *cfg;
    struct lg_shared *sh;
    pthread_t tid;
    struct event_base *base; /* owned */
    struct conn *conns;      /* owned, nconns */
    int nconns, first_conn;  /* first_conn: global index of conns[0] */
    int setup_left, setup_failed;
    uint64_t rng;
    enum phase phase;
    uint64_t win_start, win_end;
    uint64_t inflight;
    struct event *ev_tick, *ev_end, *ev_grace, *ev_setup; /* owned */
    struct lg_stats st;
};

/* Set from the signal handler; the only global, polled by every worker. */
static volatile sig_atomic_t stop_signal;

static void conn_open(struct conn *c);
static void conn_refill(struct conn *c);

static void
worker_maybe_exit(struct worker *w)
{
    if (w->phase == PHASE_STOPPING && w->inflight == 0)
        event_base_loopexit(w->base, NULL);
}

static void
worker_setup_progress(struct worker *w, struct conn *c)
{
    if (c->setup_done)
        return;
    c->setup_done = 1;
    if (--w->setup_left == 0)
        event_base_loopexit(w->base, NULL);
}

/* The slot for key, if key is one of this connection's own (vtext). */
static struct ctx_slot *
ctx_slot_of(const struct conn *c, uint64_t key)
{
    uint64_t conns = (uint64_t)c->w->cfg->conns;

    if (c->ctxs == NULL || key % conns != c->gindex)
        return NULL;
    return &c->ctxs[(key / conns) % c->nctx];
}

/* The context last received for key, or "-". */
static void
ctx_lookup(const struct conn *c, uint64_t key, const char **ctx, size_t *len)
{
    const struct ctx_slot *s = ctx_slot_of(c, key);

    if (s != NULL && s->ctx != NULL && s->key == key) {
        *ctx = s->ctx;
        *len = s->len;
    } else {
        *ctx = "-";
        *len = 1;
    }
}

/* Remembers the context a reply carried for key (own keys only). */
static void
ctx_store(struct conn *c, uint64_t key, const char *ctx, size_t len)
{
    struct ctx_slot *s = ctx_slot_of(c, key);

    if (s == NULL || len == 0 || len > LG_MAX_CTX)
        return;
    if (s->cap < len) {
        char *grown = realloc(s->ctx, len);

        if (grown == NULL)
            return;
        s->ctx = grown;
        s->cap = len;
    }
    memcpy(s->ctx, ctx, len);
    s->len = len;
    s->key = key;
}

/* Formats the key for key index `key` into buf; returns its length. */
static size_t
key_format(const struct lg_config *cfg, char *buf, uint64_t key)
{
    memcpy(buf, cfg->key_prefix, cfg->prefix_len);
    return cfg->prefix_len + u64_format(buf + cfg->prefix_len, key);
}

/* Sends one request for key index `key`; the ring must have room. */
static struct pending *
conn_send(struct conn *c, enum req_kind kind, uint64_t key)
{
    const struct lg_config *cfg = c->w->cfg;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char keybuf[LG_MAX_KEY + 1], wire[LG_ENCODE_MAX];
    size_t klen, n;
    struct pending *p;

    klen = key_format(cfg, keybuf, key);
    if (kind == REQ_GET) {
        n = cfg->proto->encode_get(wire, keybuf, klen, c->opaque++);
        evbuffer_add(out, wire, n);
    } else {
        const char *ctx;
        size_t ctxlen;

        ctx_lookup(c, key, &ctx, &ctxlen);
        n = cfg->proto->encode_set_head(wire, keybuf, klen, cfg->value_size, ctx, ctxlen,
                                        c->opaque++);
        evbuffer_add(out, wire, n);
        evbuffer_add_reference(out, c->w->sh->value, cfg->value_size, NULL, NULL);
        if (cfg->proto->set_tail_len > 0)
            evbuffer_add(out, cfg->proto->set_tail, cfg->proto->set_tail_len);
    }
    p = &c->ring[(c->head + c->count) % c->cap];
    p->sent = now_ns();
    p->key = key;
    p->kind = kind;
    c->count++;
    c->w->inflight++;
    return p;
}

static int
measured(const struct worker *w, uint64_t sent, uint64_t done)
{
    return w->phase != PHASE_SETUP && sent >= w->win_start && done <= w->win_end;
}

/* Every set sends the same bytes, so every hit must return them. */
static int
value_matches(const struct worker *w, const struct reply *rep)
{
    return rep->vlen == w->cfg->value_size && memcmp(rep->value, w->sh->value, rep->vlen) == 0;
}

/* A vget reply names the key it answers: it must be the one asked for. */
static int
key_matches(const struct worker *w, const struct reply *rep, uint64_t key)
{
    char keybuf[LG_MAX_KEY + 1];
    size_t klen;

    if (rep->key == NULL)
        return 1;
    klen = key_format(w->cfg, keybuf, key);
    return rep->klen == klen && memcmp(rep->key, keybuf, klen) == 0;
}

/* The oldest request got its reply. */
static void
conn_complete(struct conn *c, const struct reply *rep)
{
    struct worker *w = c->w;
    struct pending *p = &c->ring[c->head];
    uint64_t done = now_ns();
    enum reply_kind r = rep->kind;
    int key_ok = key_matches(w, rep, p->key);

    if (c->count == (unsigned)w->cfg->pipeline)
        c->slot_free_at = done; /* room again (--rate) */
    c->head = (c->head + 1) % c->cap;
    c->count--;
    w->inflight--;
    if (key_ok && rep->ctx != NULL && w->cfg->proto->vctx)
        ctx_store(c, p->key, rep->ctx, rep->ctxlen);
    if (w->phase == PHASE_SETUP && p->kind == REQ_GET) {
        w->st.primed++;
        if (r != REPLY_HIT && r != REPLY_MISS)
            w->st.prime_errors++;
        return;
    }
    if (w->phase == PHASE_SETUP) {
        w->st.preload_sets++;
        if (r != REPLY_STORED)
            w->st.preload_errors++;
        return;
    }
    if (!measured(w, p->sent, done))
        return;
    if (!key_ok || (r == REPLY_HIT && (rep->mixed || !value_matches(w, rep)))) {
        w->st.bad_values++;
        r = REPLY_ERROR;
    }
    if (r == REPLY_HIT && rep->siblings > 0) {
        w->st.vhits++;
        w->st.vsiblings += rep->siblings;
        if (rep->siblings > w->st.vsiblings_max)
            w->st.vsiblings_max = rep->siblings;
    }
    if (r == REPLY_STORED && rep->siblings > 1)
        w->st.vstored_multi++;
    w->st.ops[p->kind]++;
    w->st.replies[r]++;
    hist_record(&w->st.lat, done - p->sent);
}

/* Drops the connection; its in-flight requests are lost. */
static void
conn_fail(struct conn *c)
{
    struct worker *w = c->w;
    uint64_t t = now_ns();

    w->st.conn_errors++;
    while (c->count > 0) {
        if (measured(w, c->ring[c->head].sent, t))
            w->st.disconnected++;
        c->head = (c->head + 1) % c->cap;
        c->count--;
        w->inflight--;
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (w->phase == PHASE_SETUP) {
        c->state = CONN_FAILED;
        w->setup_failed = 1;
        worker_setup_progress(w, c);
        return;
    }
    c->state = CONN_IDLE;
    if (w->phase == PHASE_RUN) {
        struct timeval tv = {0, LG_RETRY_MS * 1000};

        evtimer_add(c->ev_retry, &tv);
    }
    worker_maybe_exit(w);
}

static void
conn_on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in), off = 0;
    const char *buf = (const char *)evbuffer_pullup(in, -1);

    while (c->count > 0 && off < len) {
        struct reply r = {REPLY_ERROR, NULL, 0, NULL, NULL, 0, 0, 0, 0};
        long n = c->w->cfg->proto->parse(buf + off, len - off, c->ring[c->head].kind, &r);

        if (n == 0)
            break;
        if (n < 0)
            goto proto_error;
        off += (size_t)n;
        conn_complete(c, &r);
    }
    if (c->count == 0 && off < len)
        goto proto_error;
    evbuffer_drain(in, off);
    conn_refill(c);
    return;

proto_error:
    c->w->st.proto_errors++;
    conn_fail(c);
}

/* Setup has sent every preload set and priming read of this conn. */
static int
conn_setup_sent(const struct conn *c)
{
    return c->preload_next >= c->preload_end && c->prime_next >= c->prime_end;
}

static void
conn_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        c->state = CONN_READY;
        if (c->w->phase == PHASE_SETUP && conn_setup_sent(c))
            worker_setup_progress(c->w, c);
        conn_refill(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_fail(c);
}

/* One request of the run's mix. */
static struct pending *
conn_send_next(struct conn *c)
{
    struct worker *w = c->w;
    const struct lg_config *cfg = w->cfg;
    enum req_kind kind = rng_unit(&w->rng) < cfg->get_ratio ? REQ_GET : REQ_SET;

    if (kind == REQ_SET && cfg->proto->vctx) /* one of this conn's own keys */
        return conn_send(c, kind,
                         c->gindex + (uint64_t)cfg->conns * rng_below(&w->rng, c->own_keys));
    return conn_send(c, kind, rng_below(&w->rng, cfg->keys));
}

/* --rate: each conn sends one request every conns / rate seconds (its first
 * at a random offset, so the conns interleave), at most `pipeline` in
 * flight. A request that fell due while the pipeline was full counts its
 * latency from its due time, not from when it could be sent: a server that
 * falls behind is charged for the wait (no coordinated omission). */
static void
conn_refill_paced(struct conn *c)
{
    struct worker *w = c->w;
    const struct lg_config *cfg = w->cfg;
    uint64_t period = (uint64_t)(1e9 * (double)cfg->conns / cfg->rate), now = now_ns();

    if (period == 0)
        period = 1;
    if (c->next_due == 0)
        c->next_due = now + rng_below(&w->rng, period);
    while (c->count < (unsigned)cfg->pipeline && c->next_due <= now) {
        struct pending *p = conn_send_next(c);

        /* Due while the pipeline was full: the server made it wait, so
         * the wait is latency. Due with room to send: only our timer was
         * late, which is not the server's. */
        p->sent = c->next_due < c->slot_free_at ? c->next_due : now;
        c->next_due += period;
    }
    if (c->count < (unsigned)cfg->pipeline && c->next_due > now &&
        !evtimer_pending(c->ev_pace, NULL)) {
        uint64_t wait = c->next_due - now;
        struct timeval tv = {(time_t)(wait / 1000000000u),
                             (suseconds_t)(wait % 1000000000u / 1000u)};

        evtimer_add(c->ev_pace, &tv);
    }
}

static void
conn_on_pace(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->w->phase == PHASE_RUN && c->state == CONN_READY)
        conn_refill(c);
}

/* Tops up the pipeline for the current phase. */
static void
conn_refill(struct conn *c)
{
    struct worker *w = c->w;
    const struct lg_config *cfg = w->cfg;

    if (c->state != CONN_READY)
        return;
    if (w->phase == PHASE_SETUP) {
        while (c->count < c->cap && c->preload_next < c->preload_end)
            conn_send(c, REQ_SET, c->preload_next++);
        while (c->count < c->cap && c->preload_next >= c->preload_end &&
               c->prime_next < c->prime_end)
            conn_send(c, REQ_GET, c->gindex + (uint64_t)cfg->conns * c->prime_next++);
        if (c->count == 0 && conn_setup_sent(c))
            worker_setup_progress(w, c);
        return;
    }
    if (w->phase != PHASE_RUN) {
        worker_maybe_exit(w);
        return;
    }
    if (cfg->rate > 0) {
        conn_refill_paced(c);
        return;
    }
    while (c->count < (unsigned)cfg->pipeline)
        conn_send_next(c);
}

static void
conn_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->w->phase == PHASE_RUN && c->state == CONN_IDLE)
        conn_open(c);
}

/* Starts a non-blocking connect; failures surface through conn_on_event. */
static void
conn_open(struct conn *c)
{
    const struct lg_config *cfg = c->w->cfg;
    evutil_socket_t fd;
    int one = 1;

    fd = socket(cfg->addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        c->w->st.conn_errors++;
        c->state = CONN_FAILED;
        c->w->setup_failed = 1;
        return;
    }
    evutil_make_socket_nonblocking(fd);
    evutil_make_socket_closeonexec(fd);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->bev = bufferevent_socket_new(c->w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        c->w->st.conn_errors++;
        c->state = CONN_FAILED;
        return;
    }
    bufferevent_setcb(c->bev, conn_on_read, NULL, conn_on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = CONN_CONNECTING;
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&cfg->addr, (int)cfg->addrlen) <
        0)
        conn_fail(c);
}

static void
worker_begin_stop(struct worker *w)
{
    struct timeval grace = {LG_GRACE_MS / 1000, (LG_GRACE_MS % 1000) * 1000};

    if (w->phase != PHASE_RUN)
        return;
    w->phase = PHASE_STOPPING;
    evtimer_add(w->ev_grace, &grace);
    worker_maybe_exit(w);
}

static void
worker_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t zero = 0;

    (void)fd;
    (void)what;
    if (!stop_signal)
        return;
    atomic_compare_exchange_strong(&w->sh->interrupted, &zero, now_ns());
    if (w->phase == PHASE_SETUP) {
        w->setup_failed = 1;
        event_base_loopexit(w->base, NULL);
        return;
    }
    worker_begin_stop(w);
}

static void
worker_on_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_begin_stop(arg);
}

/* Grace expired (stopping) or setup took too long: leave the loop now. */
static void
worker_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    if (w->phase == PHASE_SETUP)
        w->setup_failed = 1;
    event_base_loopexit(w->base, NULL);
}

/* Allocates the base, timers and connections (not yet connected). */
static int
worker_init(struct worker *w)
{
    const struct lg_config *cfg = w->cfg;
    unsigned depth = (unsigned)cfg->pipeline;
    int i;

    if ((cfg->preload || cfg->proto->vctx) && depth < LG_PRELOAD_DEPTH)
        depth = LG_PRELOAD_DEPTH;
    if (cfg->rate > 0) {
        /* Paced sends: a timerfd timer, not epoll's millisecond timeout,
         * or the pacing itself would add up to a millisecond of latency. */
        struct event_config *ec = event_config_new();

        if (ec != NULL && event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER) == 0)
            w->base = event_base_new_with_config(ec);
        if (ec != NULL)
            event_config_free(ec);
    } else {
        w->base = event_base_new();
    }
    w->conns = calloc((size_t)w->nconns, sizeof(*w->conns));
    if (w->base == NULL || w->conns == NULL)
        return -1;
    w->ev_tick = event_new(w->base, -1, EV_PERSIST, worker_on_tick, w);
    w->ev_end = evtimer_new(w->base, worker_on_end, w);
    w->ev_grace = evtimer_new(w->base, worker_on_deadline, w);
    w->ev_setup = evtimer_new(w->base, worker_on_deadline, w);
    if (!w->ev_tick || !w->ev_end || !w->ev_grace || !w->ev_setup)
        return -1;
    for (i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        uint64_t g = (uint64_t)(w->first_conn + i);

        c->w = w;
        c->cap = depth;
        c->gindex = g;
        c->ring = calloc(depth, sizeof(*c->ring));
        c->ev_retry = evtimer_new(w->base, conn_on_retry, c);
        c->ev_pace = evtimer_new(w->base, conn_on_pace, c);
        if (c->ring == NULL || c->ev_retry == NULL || c->ev_pace == NULL)
            return -1;
        if (cfg->proto->vctx) {
            /* keys >= conns (checked), so every conn owns at least one */
            c->own_keys = (cfg->keys - g - 1) / (uint64_t)cfg->conns + 1;
            c->nctx = c->own_keys < LG_CTX_SLOTS ? c->own_keys : LG_CTX_SLOTS;
            c->ctxs = calloc((size_t)c->nctx, sizeof(*c->ctxs));
            if (c->ctxs == NULL)
                return -1;
            /* read the contexts of the first nctx own keys before the run */
            c->prime_end = cfg->duration > 0 ? c->nctx : 0;
        }
        if (cfg->preload) {
            c->preload_next = cfg->keys * g / (uint64_t)cfg->conns;
            c->preload_end = cfg->keys * (g + 1) / (uint64_t)cfg->conns;
        }
    }
    return 0;
}

static void
worker_deinit(struct worker *w)
{
    uint64_t j;
    int i;

    for (i = 0; w->conns != NULL && i < w->nconns; i++) {
        if (w->conns[i].bev != NULL)
            bufferevent_free(w->conns[i].bev);
        if (w->conns[i].ev_retry != NULL)
            event_free(w->conns[i].ev_retry);
        if (w->conns[i].ev_pace != NULL)
            event_free(w->conns[i].ev_pace);
        free(w->conns[i].ring);
        for (j = 0; w->conns[i].ctxs != NULL && j < w->conns[i].nctx; j++)
            free(w->conns[i].ctxs[j].ctx);
        free(w->conns[i].ctxs);
    }
    free(w->conns);
    w->conns = NULL;
    if (w->ev_tick)
        event_free(w->ev_tick);
    if (w->ev_end)
        event_free(w->ev_end);
    if (w->ev_grace)
        event_free(w->ev_grace);
    if (w->ev_setup)
        event_free(w->ev_setup);
    if (w->base)
        event_base_free(w->base);
    w->base = NULL;
}

/* Connects every conn and, with --preload, sets this worker's keys. */
static void
worker_setup(struct worker *w)
{
    struct timeval tick = {0, LG_TICK_MS * 1000};
    struct timeval limit = ns_to_timeval((uint64_t)(w->cfg->preload_timeout * 1e9));
    int i;

    w->phase = PHASE_SETUP;
    w->setup_left = w->nconns;
    event_add(w->ev_tick, &tick);
    evtimer_add(w->ev_setup, &limit);
    for (i = 0; i < w->nconns; i++)
        conn_open(&w->conns[i]);
    for (i = 0; i < w->nconns; i++)
        if (w->conns[i].state == CONN_FAILED)
            worker_setup_progress(w, &w->conns[i]);
    if (w->setup_left > 0)
        event_base_dispatch(w->base);
    evtimer_del(w->ev_setup);
    if (w->setup_left > 0)
        w->setup_failed = 1;
}

static void
worker_run(struct worker *w)
{
    const struct lg_config *cfg = w->cfg;
    uint64_t now = now_ns();
    int i;

    w->win_start = w->sh->t_start + (uint64_t)(cfg->warmup * 1e9);
    w->win_end = w->win_start + (uint64_t)(cfg->duration * 1e9);
    w->phase = PHASE_RUN;
    {
        struct timeval tv = ns_to_timeval(w->win_end > now ? w->win_end - now : 0);

        evtimer_add(w->ev_end, &tv);
    }
    for (i = 0; i < w->nconns; i++)
        conn_refill(&w->conns[i]);
    event_base_dispatch(w->base);
    w->st.unfinished = w->inflight;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    if (worker_init(w) < 0)
        w->setup_failed = 1;
    else
        worker_setup(w);
    pthread_barrier_wait(&w->sh->barrier); /* 1: setup done */
    pthread_barrier_wait(&w->sh->barrier); /* 2: t_start published */
    if (!w->sh->abort && w->cfg->duration > 0)
        worker_run(w);
    worker_deinit(w);
    return NULL;
}

/* ------------------------------------------------------------------ options */

enum opt_type { OPT_INT, OPT_U64, OPT_SIZE, OPT_DOUBLE, OPT_STRING, OPT_FLAG, OPT_PROTO, OPT_HELP };

/* One command line option: where it lands in struct lg_config and its range. */
struct opt_spec {
    const char *name;
    enum opt_type type;
    size_t offset;
    double lo, hi;
    const char *arg, *help;
};

#define CFG(field) offsetof(struct lg_config, field)

static const struct opt_spec opt_table[] = {
    {"host", OPT_STRING, CFG(host), 0, 0, "ADDR", "server address (127.0.0.1)"},
    {"port", OPT_INT, CFG(port), 1, 65535, "N", "server port (11211)"},
    {"threads", OPT_INT, CFG(threads), 1, 256, "N", "worker threads, one event base each (1)"},
    {"conns", OPT_INT, CFG(conns), 1, 100000, "N",
     "connections in total, spread over threads (10)"},
    {"pipeline", OPT_INT, CFG(pipeline), 1, 4096, "N", "requests in flight per connection (1)"},
    {"keys", OPT_U64, CFG(keys), 1, 0x1p62, "N", "key space size (100000)"},
    {"key-prefix", OPT_STRING, CFG(key_prefix), 0, 0, "S", "key prefix (lg:)"},
    {"value-size", OPT_SIZE, CFG(value_size), 0, 1 << 30, "N", "bytes per set value (100)"},
    {"get-ratio", OPT_DOUBLE, CFG(get_ratio), 0, 1, "F", "fraction of gets, 0..1 (0.9)"},
    {"rate", OPT_DOUBLE, CFG(rate), 0, 1e9, "R",
     "requests per second over all conns, latency from each due time (0: unpaced)"},
    {"duration", OPT_DOUBLE, CFG(duration), 0, 86400, "S",
     "measured seconds; 0 with --preload only loads (10)"},
    {"warmup", OPT_DOUBLE, CFG(warmup), 0, 86400, "S", "seconds of load before measuring (1)"},
    {"preload", OPT_FLAG, CFG(preload), 0, 0, "", "set every key once before the run"},
    {"preload-timeout", OPT_DOUBLE, CFG(preload_timeout), 1, 86400, "S",
     "bound on connect + preload (300)"},
    {"protocol", OPT_PROTO, CFG(proto), 0, 0, "P",
     "text, meta, binary; ringcached's extension: vget (vget + set) or vtext (vget + vset "
     "with contexts) (text)"},
    {"seed", OPT_U64, CFG(seed), 0, 0x1p64, "N", "PRNG seed; equal seeds send equal keys (1)"},
    {"json", OPT_FLAG, CFG(json), 0, 0, "", "print one JSON line instead of text"},
    {"help", OPT_HELP, 0, 0, 0, "", "this text"},
};

#define OPT_COUNT (sizeof(opt_table) / sizeof(opt_table[0]))

static void
usage(FILE *out)
{
    size_t i;

    fputs("usage: loadgen [options]\n", out);
    for (i = 0; i < OPT_COUNT; i++)
        fprintf(out, "  --%s %-*s %s\n", opt_table[i].name, (int)(18 - strlen(opt_table[i].name)),
                opt_table[i].arg, opt_table[i].help);
}

static double
parse_number(const struct opt_spec *o, const char *s, int integer)
{
    char *end;
    double v;

    errno = 0;
    if (integer) {
        unsigned long long u = strtoull(s, &end, 10);

        v = (double)u;
        if (*s == '-')
            errno = ERANGE;
    } else {
        v = strtod(s, &end);
    }
    if (errno != 0 || end == s || *end != '\0' || !(v >= o->lo && v <= o->hi))
        die_usage("--%s: expected %s in [%g, %g], got '%s'", o->name,
                  integer ? "an integer" : "a number", o->lo, o->hi, s);
    return v;
}

/* Stores one option's value into cfg, as its table entry says. */
static void
config_set(struct lg_config *cfg, const struct opt_spec *o, const char *arg)
{
    char *field = (char *)cfg + o->offset;

    switch (o->type) {
    case OPT_INT:
        *(int *)field = (int)parse_number(o, arg, 1);
        break;
    case OPT_U64:
        parse_number(o, arg, 1); /* range check; the value again without rounding */
        *(uint64_t *)field = strtoull(arg, NULL, 10);
        break;
    case OPT_SIZE:
        *(size_t *)field = (size_t)parse_number(o, arg, 1);
        break;
    case OPT_DOUBLE:
        *(double *)field = parse_number(o, arg, 0);
        break;
    case OPT_STRING:
        *(const char **)field = arg;
        break;
    case OPT_FLAG:
        *(int *)field = 1;
        break;
    case OPT_PROTO:
        *(const struct proto_ops **)field = proto_find(arg);
        if (*(const struct proto_ops **)field == NULL)
            die_usage("--protocol: expected text, meta, binary, vget or vtext, got '%s'", arg);
        break;
    case OPT_HELP:
        usage(stdout);
        exit(0);
    default:
        die_usage("internal: bad option table entry %s", o->name);
    }
}

static void
config_resolve(struct lg_config *cfg)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", cfg->port);
    rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc != 0 || res == NULL)
        die_usage("--host: cannot resolve '%s': %s", cfg->host, gai_strerror(rc));
    memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
    cfg->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

static void
config_parse(struct lg_config *cfg, int argc, char **argv)
{
    struct option longopts[OPT_COUNT + 1];
    size_t i;
    int opt;

    memset(longopts, 0, sizeof(longopts));
    for (i = 0; i < OPT_COUNT; i++) {
        longopts[i].name = opt_table[i].name;
        longopts[i].has_arg = opt_table[i].arg[0] ? required_argument : no_argument;
        longopts[i].val = 256 + (int)i;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 11211;
    cfg->threads = 1;
    cfg->conns = 10;
    cfg->pipeline = 1;
    cfg->keys = 100000;
    cfg->key_prefix = "lg:";
    cfg->value_size = 100;
    cfg->get_ratio = 0.9;
    cfg->duration = 10;
    cfg->warmup = 1;
    cfg->preload_timeout = 300;
    cfg->proto = &proto_table[0];
    cfg->seed = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt < 256 || opt >= 256 + (int)OPT_COUNT)
            die_usage("unknown option");
        config_set(cfg, &opt_table[opt - 256], optarg);
    }
    if (optind != argc)
        die_usage("unexpected argument '%s'", argv[optind]);
    cfg->prefix_len = strlen(cfg->key_prefix);
    if (cfg->prefix_len + 20 > LG_MAX_KEY || strpbrk(cfg->key_prefix, " \t\r\n") != NULL)
        die_usage("--key-prefix: at most %d bytes, no whitespace", LG_MAX_KEY - 20);
    if (cfg->threads > cfg->conns)
        die_usage("--threads (%d) must not exceed --conns (%d)", cfg->threads, cfg->conns);
    if (cfg->proto->vctx && cfg->keys < (uint64_t)cfg->conns)
        die_usage("--protocol vtext: --keys (%" PRIu64 ") must be at least --conns (%d)", cfg->keys,
                  cfg->conns);
    if (cfg->duration <= 0 && !cfg->preload)
        die_usage("--duration must be > 0 unless --preload is given");
    config_resolve(cfg);
}

/* ------------------------------------------------------------------ main */

/* One blocking connect with a timeout, so "unreachable" is a clear error. */
static int
probe_server(const struct lg_config *cfg)
{
    struct pollfd pfd;
    int fd, err = 0, rc;
    socklen_t elen = sizeof(err);

    fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        rc = poll(&pfd, 1, LG_PROBE_MS);
        if (rc == 0)
            err = ETIMEDOUT;
        else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
    } else if (rc < 0) {
        err = errno;
    }
    close(fd);
    return -err;
}

static void
on_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

static void
install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static char *
value_create(size_t n)
{
    char *v = malloc(n ? n : 1);
    size_t i;

    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        v[i] = (char)('a' + i % 26);
    return v;
}

static void
workers_assign(struct worker *ws, const struct lg_config *cfg, struct lg_shared *sh)
{
    uint64_t seed = cfg->seed;
    int i, first = 0;

    for (i = 0; i < cfg->threads; i++) {
        struct worker *w = &ws[i];

        w->index = i;
        w->cfg = cfg;
        w->sh = sh;
        w->nconns = cfg->conns / cfg->threads + (i < cfg->conns % cfg->threads);
        w->first_conn = first;
        first += w->nconns;
        do
            w->rng = splitmix64(&seed);
        while (w->rng == 0);
    }
}

static void
stats_merge(struct lg_stats *dst, const struct lg_stats *src)
{
    int i;

    for (i = 0; i < REQ__COUNT; i++)
        dst->ops[i] += src->ops[i];
    for (i = 0; i < REPLY__COUNT; i++)
        dst->replies[i] += src->replies[i];
    dst->disconnected += src->disconnected;
    dst->unfinished += src->unfinished;
    dst->conn_errors += src->conn_errors;
    dst->proto_errors += src->proto_errors;
    dst->bad_values += src->bad_values;
    dst->vhits += src->vhits;
    dst->vsiblings += src->vsiblings;
    if (src->vsiblings_max > dst->vsiblings_max)
        dst->vsiblings_max = src->vsiblings_max;
    dst->vstored_multi += src->vstored_multi;
    dst->preload_sets += src->preload_sets;
    dst->preload_errors += src->preload_errors;
    dst->primed += src->primed;
    dst->prime_errors += src->prime_errors;
    hist_merge(&dst->lat, &src->lat);
}

/* Run-wide results, derived once for printing. */
struct lg_result {
    double seconds;         /* measured window actually covered */
    double preload_seconds; /* connect + preload */
    double ops_per_sec;
    uint64_t ops, errors;
    int interrupted;
    double p50, p99, p999, max, mean; /* microseconds */
};

static void
result_compute(struct lg_result *r, const struct lg_stats *st, const struct lg_config *cfg,
               const struct lg_shared *sh)
{
    uint64_t w0 = sh->t_start + (uint64_t)(cfg->warmup * 1e9);
    uint64_t w1 = w0 + (uint64_t)(cfg->duration * 1e9);
    uint64_t intr = atomic_load(&sh->interrupted);

    r->interrupted = intr != 0;
    if (intr != 0 && intr < w1)
        w1 = intr;
    r->seconds = w1 > w0 ? (double)(w1 - w0) / 1e9 : 0;
    r->ops = st->ops[REQ_GET] + st->ops[REQ_SET];
    r->errors = st->replies[REPLY_ERROR] + st->disconnected;
    r->ops_per_sec = r->seconds > 0 ? (double)r->ops / r->seconds : 0;
    r->p50 = (double)hist_quantile(&st->lat, 0.50) / 1e3;
    r->p99 = (double)hist_quantile(&st->lat, 0.99) / 1e3;
    r->p999 = (double)hist_quantile(&st->lat, 0.999) / 1e3;
    r->max = (double)st->lat.max / 1e3;
    r->mean = st->lat.total ? (double)st->lat.sum / (double)st->lat.total / 1e3 : 0;
}

static void
print_text(const struct lg_config *cfg, const struct lg_stats *st, const struct lg_result *r)
{
    printf("loadgen: %s %s:%d threads=%d conns=%d pipeline=%d keys=%" PRIu64
           " value=%zu get-ratio=%.2f rate=%.0f seed=%" PRIu64 "\n",
           cfg->proto->name, cfg->host, cfg->port, cfg->threads, cfg->conns, cfg->pipeline,
           cfg->keys, cfg->value_size, cfg->get_ratio, cfg->rate, cfg->seed);
    if (cfg->preload)
        printf("preload    %" PRIu64 " sets in %.2f s (%.0f ops/s), %" PRIu64 " failed\n",
               st->preload_sets, r->preload_seconds,
               r->preload_seconds > 0 ? (double)st->preload_sets / r->preload_seconds : 0,
               st->preload_errors);
    if (cfg->duration <= 0)
        return;
    printf("window     %.2f s after %.2f s warmup%s\n", r->seconds, cfg->warmup,
           r->interrupted ? " (interrupted)" : "");
    printf("ops/s      %.0f\n", r->ops_per_sec);
    printf("gets       %" PRIu64 " (hits %" PRIu64 ", misses %" PRIu64 ")\n", st->ops[REQ_GET],
           st->replies[REPLY_HIT], st->replies[REPLY_MISS]);
    printf("sets       %" PRIu64 " (stored %" PRIu64 ", not stored %" PRIu64 ")\n",
           st->ops[REQ_SET], st->replies[REPLY_STORED], st->replies[REPLY_NOT_STORED]);
    printf("errors     %" PRIu64 " (error replies %" PRIu64 ", wrong values %" PRIu64
           ", lost with conn %" PRIu64 ")\n",
           r->errors, st->replies[REPLY_ERROR] - st->bad_values, st->bad_values, st->disconnected);
    printf("conns      %" PRIu64 " connection errors, %" PRIu64 " protocol errors, %" PRIu64
           " requests unfinished at the end\n",
           st->conn_errors, st->proto_errors, st->unfinished);
    if (cfg->proto->vctx)
        printf("contexts   %" PRIu64 " read in setup, %" PRIu64 " failed\n", st->primed,
               st->prime_errors);
    if (cfg->proto->encode_get == vtext_encode_get)
        printf("siblings   per vget hit: mean %.3f, max %" PRIu64 "; vsets answered with more "
               "than one: %" PRIu64 "\n",
               st->vhits ? (double)st->vsiblings / (double)st->vhits : 0.0, st->vsiblings_max,
               st->vstored_multi);
    printf("latency us p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", r->p50, r->p99,
           r->p999, r->max, r->mean);
}

static void
print_json(const struct lg_config *cfg, const struct lg_stats *st, const struct lg_result *r)
{
    printf("{\"protocol\":\"%s\",\"host\":\"%s\",\"port\":%d,\"threads\":%d,\"conns\":%d,"
           "\"pipeline\":%d,\"keys\":%" PRIu64 ",\"value_size\":%zu,\"get_ratio\":%.4f,"
           "\"rate\":%.1f,\"seed\":%" PRIu64 ",\"warmup\":%.3f,\"duration\":%.3f,"
           "\"interrupted\":%s,",
           cfg->proto->name, cfg->host, cfg->port, cfg->threads, cfg->conns, cfg->pipeline,
           cfg->keys, cfg->value_size, cfg->get_ratio, cfg->rate, cfg->seed, cfg->warmup,
           r->seconds, r->interrupted ? "true" : "false");
    printf("\"preload_sets\":%" PRIu64 ",\"preload_errors\":%" PRIu64 ",\"preload_seconds\":%.3f,",
           st->preload_sets, st->preload_errors, cfg->preload ? r->preload_seconds : 0.0);
    printf("\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f,\"gets\":%" PRIu64 ",\"sets\":%" PRIu64
           ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"stored\":%" PRIu64
           ",\"not_stored\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"conn_errors\":%" PRIu64
           ",\"protocol_errors\":%" PRIu64 ",\"bad_values\":%" PRIu64 ",\"unfinished\":%" PRIu64
           ",",
           r->ops, r->ops_per_sec, st->ops[REQ_GET], st->ops[REQ_SET], st->replies[REPLY_HIT],
           st->replies[REPLY_MISS], st->replies[REPLY_STORED], st->replies[REPLY_NOT_STORED],
           r->errors, st->conn_errors, st->proto_errors, st->bad_values, st->unfinished);
    if (cfg->proto->encode_get == vtext_encode_get)
        printf("\"versions\":{\"vget_hits\":%" PRIu64 ",\"siblings_mean\":%.3f,"
               "\"siblings_max\":%" PRIu64 ",\"vset_multi\":%" PRIu64 ",\"primed\":%" PRIu64
               ",\"prime_errors\":%" PRIu64 "},",
               st->vhits, st->vhits ? (double)st->vsiblings / (double)st->vhits : 0.0,
               st->vsiblings_max, st->vstored_multi, st->primed, st->prime_errors);
    printf("\"lat_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}}\n",
           r->p50, r->p99, r->p999, r->max, r->mean);
}

/* Runs the workers through both barriers; returns 0 or a failure message. */
static const char *
run_workers(struct worker *ws, const struct lg_config *cfg, struct lg_shared *sh,
            double *preload_seconds)
{
    uint64_t t0 = now_ns();
    const char *fail = NULL;
    int i, started;

    for (started = 0; started < cfg->threads; started++)
        if (pthread_create(&ws[started].tid, NULL, worker_main, &ws[started]) != 0)
            break;
    if (started < cfg->threads) {
        /* Barrier was sized for all threads: cannot proceed safely. */
        fprintf(stderr, "loadgen: pthread_create failed\n");
        exit(EXIT_RUN_FAILURE);
    }
    pthread_barrier_wait(&sh->barrier);
    *preload_seconds = (double)(now_ns() - t0) / 1e9;
    for (i = 0; i < cfg->threads; i++)
        if (ws[i].setup_failed)
            fail = cfg->proto->vctx ? "connect, preload or the setup vgets failed or timed out"
                   : cfg->preload   ? "connect or preload failed or timed out"
                                    : "connect failed or timed out";
    if (stop_signal)
        fail = "interrupted during setup";
    sh->abort = fail != NULL;
    sh->t_start = now_ns();
    pthread_barrier_wait(&sh->barrier);
    for (i = 0; i < cfg->threads; i++)
        pthread_join(ws[i].tid, NULL);
    return fail;
}

int
main(int argc, char **argv)
{
    struct lg_config cfg;
    struct lg_shared sh;
    struct worker *ws;
    struct lg_stats *total;
    struct lg_result res;
    const char *fail;
    int i, rc;

    config_parse(&cfg, argc, argv);
    rc = probe_server(&cfg);
    if (rc < 0) {
        fprintf(stderr, "loadgen: cannot connect to %s:%d: %s\n", cfg.host, cfg.port,
                strerror(-rc));
        return EXIT_RUN_FAILURE;
    }
    install_signals();
    memset(&sh, 0, sizeof(sh));
    sh.cfg = &cfg;
    sh.value = value_create(cfg.value_size);
    ws = calloc((size_t)cfg.threads, sizeof(*ws));
    total = calloc(1, sizeof(*total));
    if (sh.value == NULL || ws == NULL || total == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        return EXIT_RUN_FAILURE;
    }
    pthread_barrier_init(&sh.barrier, NULL, (unsigned)cfg.threads + 1);
    workers_assign(ws, &cfg, &sh);
    memset(&res, 0, sizeof(res));
    fail = run_workers(ws, &cfg, &sh, &res.preload_seconds);
    for (i = 0; i < cfg.threads; i++)
        stats_merge(total, &ws[i].st);
    if (fail != NULL)
        fprintf(stderr, "loadgen: %s (%" PRIu64 " connection errors)\n", fail, total->conn_errors);
    else {
        result_compute(&res, total, &cfg, &sh);
        (cfg.json ? print_json : print_text)(&cfg, total, &res);
    }
    pthread_barrier_destroy(&sh.barrier);
    free(total);
    free(ws);
    free((char *)sh.value);
    return fail != NULL ? EXIT_RUN_FAILURE : 0;
}
