/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * b64.c - base64, standard and URL-safe (see b64.h). One encoder and one
 * strict decoder serve both alphabets, which differ only in the characters
 * for 62 and 63; memcached's lenient decoder is kept apart.
 */
#include "config.h"

#include <stdint.h>

#include "base/b64.h"
#include "base/status.h"

static const char b64_std_abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url_abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c in the alphabet whose last two characters are abc[62]
 * and abc[63], or -1. */
static int
b64_value(const char *abc, unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (unsigned char)abc[62]) {
        return 62;
    }
    return c == (unsigned char)abc[63] ? 63 : -1;
}

/* Write the encoding of s[0..n) at w; returns the end. With pad, a short
 * last group is filled to four characters with '='. */
static char *
b64_encode_raw(char *w, const unsigned char *s, size_t n, const char *abc, bool pad)
{
    size_t i;

    for (i = 0; n - i >= 3; i += 3) {
        *w++ = abc[s[i] >> 2];
        *w++ = abc[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *w++ = abc[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *w++ = abc[s[i + 2] & 63];
    }
    if (n - i == 1) {
        *w++ = abc[s[i] >> 2];
        *w++ = abc[(s[i] & 3) << 4];
        if (pad) {
            *w++ = '=';
            *w++ = '=';
        }
    } else if (n - i == 2) {
        *w++ = abc[s[i] >> 2];
        *w++ = abc[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *w++ = abc[(s[i + 1] & 15) << 2];
        if (pad) {
            *w++ = '=';
        }
    }
    return w;
}

static int
b64_append(struct buf *out, const void *in, size_t n, const char *abc, bool pad)
{
    size_t len = pad ? B64_STD_LEN(n) : B64_URL_LEN(n);
    char *end;
    int rc;

    if (n > (SIZE_MAX - 2) / 4) {
        return RC_ENOMEM;
    }
    rc = buf_reserve(out, len);
    if (rc != RC_OK) {
        return rc;
    }
    end = b64_encode_raw(out->data + out->len, in, n, abc, pad);
    out->len = (size_t)(end - out->data);
    return RC_OK;
}

int
b64_std_encode(struct buf *out, const void *in, size_t n)
{
    return b64_append(out, in, n, b64_std_abc, true);
}

int
b64_url_encode(struct buf *out, const void *in, size_t n)
{
    return b64_append(out, in, n, b64_url_abc, false);
}

void
b64_url_encode_to(char *out, const void *in, size_t n)
{
    b64_encode_raw(out, in, n, b64_url_abc, false);
}

/* Strict decode of unpadded digits: no length of 1 mod 4, every character
 * in the alphabet, the spare bits of the last one zero. */
static bool
b64_decode_digits(const char *in, size_t len, unsigned char *out, size_t cap, size_t *nout,
                  const char *abc)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i, w = 0;

    if (len % 4 == 1 || len / 4 * 3 + len % 4 * 3 / 4 > cap) {
        return false;
    }
    for (i = 0; i < len; i++) {
        int v = b64_value(abc, (unsigned char)in[i]);

        if (v < 0) {
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return false; /* spare bits set: not the encoding of any bytes */
    }
    *nout = w;
    return true;
}

bool
b64_std_decode(const char *in, size_t len, void *out, size_t cap, size_t *nout)
{
    size_t ndigits = len;

    if (len % 4 != 0) {
        return false;
    }
    /* At most two '=' and only at the end; what they leave is 2 or 3 mod 4,
     * and an '=' among the digits is outside the alphabet. */
    if (ndigits > 0 && in[ndigits - 1] == '=') {
        ndigits--;
        if (in[ndigits - 1] == '=') {
            ndigits--;
        }
    }
    return b64_decode_digits(in, ndigits, out, cap, nout, b64_std_abc);
}

bool
b64_url_decode(const char *in, size_t len, void *out, size_t cap, size_t *nout)
{
    return b64_decode_digits(in, len, out, cap, nout, b64_url_abc);
}

bool
b64_url_char(unsigned char c)
{
    return b64_value(b64_url_abc, c) >= 0;
}

/* The std value of c with '=' as 0, or -1 (memcached's table). */
static int
b64_mc_value(unsigned char c)
{
    return c == '=' ? 0 : b64_value(b64_std_abc, c);
}

size_t
b64_std_decode_memcached(const char *in, size_t len, void *out, size_t cap)
{
    unsigned char blk[4], *o = out;
    size_t i, valid = 0, k = 0, w = 0, pad = 0;

    for (i = 0; i < len; i++) {
        valid += b64_mc_value((unsigned char)in[i]) >= 0;
    }
    if (valid == 0 || valid % 4 != 0 || valid / 4 * 3 > cap) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        int v = b64_mc_value((unsigned char)in[i]);

        if (v < 0) {
            continue;
        }
        pad += in[i] == '=';
        blk[k++] = (unsigned char)v;
        if (k < 4) {
            continue;
        }
        o[w++] = (unsigned char)((blk[0] << 2) | (blk[1] >> 4));
        o[w++] = (unsigned char)((blk[1] << 4) | (blk[2] >> 2));
        o[w++] = (unsigned char)((blk[2] << 6) | blk[3]);
        k = 0;
        if (pad > 2) {
            return 0;
        }
        if (pad > 0) {
            return w - pad;
        }
    }
    return w;
}
