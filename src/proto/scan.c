/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan.c - the keys of the requests in a read buffer, as a prefetch hint
 * (scan.h). Nothing here decides what a request means: text.c, meta.c and
 * bin.c do, on the same bytes, afterwards.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/bin.h"
#include "proto/scan.h"

#define SCAN_MAX_TOKENS 8
#define SCAN_MAX_DATA   (1u << 30) /* a longer data block: stop guessing */

struct scan_line {
    const char *tok[SCAN_MAX_TOKENS];
    size_t ntok[SCAN_MAX_TOKENS];
    size_t n;
};

static void
scan_tokens(const char *p, const char *end, struct scan_line *l)
{
    l->n = 0;
    while (p < end && l->n < SCAN_MAX_TOKENS) {
        const char *t;

        while (p < end && *p == ' ') {
            p++;
        }
        t = p;
        while (p < end && *p != ' ') {
            p++;
        }
        if (p > t) {
            l->tok[l->n] = t;
            l->ntok[l->n] = (size_t)(p - t);
            l->n++;
        }
    }
}

static bool
scan_is(const struct scan_line *l, size_t i, const char *word)
{
    size_t n = strlen(word);

    return i < l->n && l->ntok[i] == n && memcmp(l->tok[i], word, n) == 0;
}

/* A data block length: decimal digits only, bounded. */
static bool
scan_len(const struct scan_line *l, size_t i, size_t *out)
{
    uint64_t v = 0;

    if (i >= l->n || l->ntok[i] == 0 || l->ntok[i] > 10) {
        return false;
    }
    for (size_t k = 0; k < l->ntok[i]; k++) {
        char ch = l->tok[i][k];

        if (ch < '0' || ch > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(ch - '0');
    }
    if (v > SCAN_MAX_DATA) {
        return false;
    }
    *out = (size_t)v;
    return true;
}

/* Which token holds the data length of a storage command (0: none; the
 * command has no data block). */
static size_t
scan_data_token(const struct scan_line *l)
{
    static const char *const storage[] = {"set", "add", "replace", "append", "prepend", "cas"};

    if (scan_is(l, 0, "ms")) {
        return 2;
    }
    for (size_t i = 0; i < sizeof(storage) / sizeof(storage[0]); i++) {
        if (scan_is(l, 0, storage[i])) {
            return 4;
        }
    }
    return 0;
}

static bool
scan_single_key_cmd(const struct scan_line *l)
{
    static const char *const cmds[] = {"mg", "md", "ma", "delete", "incr", "decr", "touch"};

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (scan_is(l, 0, cmds[i])) {
            return true;
        }
    }
    return false;
}

size_t
scan_keys_text(const char *buf, size_t len, struct scan_key *out, size_t max)
{
    const char *p = buf, *end = buf + len;
    size_t n = 0;

    /* At most `max` requests are looked at, keys or not: the caller scans
     * again after every yield, so the work must not grow with the buffer. */
    for (size_t seen = 0; p < end && n < max && seen < max; seen++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol;
        struct scan_line l = {.n = 0};
        size_t dtok, dlen = 0;

        if (nl == NULL) {
            break;
        }
        eol = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        scan_tokens(p, eol, &l);
        p = nl + 1;
        if (scan_is(&l, 0, "get") || scan_is(&l, 0, "gets")) {
            for (size_t i = 1; i < l.n && n < max; i++) {
                out[n++] = (struct scan_key){l.tok[i], l.ntok[i]};
            }
            continue;
        }
        if (scan_single_key_cmd(&l)) {
            if (l.n >= 2) {
                out[n++] = (struct scan_key){l.tok[1], l.ntok[1]};
            }
            continue;
        }
        dtok = scan_data_token(&l);
        if (dtok == 0 || l.n < 2 || !scan_len(&l, dtok, &dlen)) {
            break; /* not a command this scan knows: stop guessing */
        }
        out[n++] = (struct scan_key){l.tok[1], l.ntok[1]};
        if ((size_t)(end - p) < dlen + 2) {
            break; /* the data block is not all here */
        }
        p += dlen + 2;
    }
    return n;
}

size_t
scan_keys_binary(const unsigned char *buf, size_t len, struct scan_key *out, size_t max)
{
    size_t off = 0, n = 0;

    /* At most `max` frames, as for text. */
    for (size_t seen = 0; n < max && seen < max && len - off >= BIN_HEADER_LEN; seen++) {
        const unsigned char *h = buf + off;
        size_t keylen = ((size_t)h[2] << 8) | h[3];
        size_t extlen = h[4];
        uint64_t body = ((uint64_t)h[8] << 24) | ((uint64_t)h[9] << 16) | ((uint64_t)h[10] << 8) |
                        (uint64_t)h[11];

        if (h[0] != BIN_MAGIC_REQ || body < keylen + extlen ||
            body > (uint64_t)(len - off - BIN_HEADER_LEN)) {
            break; /* not a request, or not all here */
        }
        if (keylen > 0) {
            out[n++] = (struct scan_key){(const char *)h + BIN_HEADER_LEN + extlen, keylen};
        }
        off += BIN_HEADER_LEN + (size_t)body;
    }
    return n;
}
