/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * b64.h - base64 (RFC 4648) in the two forms ringcached speaks:
 *
 *   std  the standard alphabet (A-Z a-z 0-9 + /) with '=' padding: meta's
 *        b flag (base64 keys);
 *   url  the URL-safe alphabet (A-Z a-z 0-9 - _) without padding: causal
 *        context tokens and their seals.
 *
 * The strict decoders accept exactly the strings their encoder produces, so
 * each byte string has one encoding: only alphabet characters, padding
 * (std) only as the one or two final characters a short last group needs,
 * no length of 1 mod 4 (url) and zero spare bits in the last character.
 * b64_std_decode_memcached is memcached's lenient decoder instead, for meta.
 *
 * Pure: encoders append to the caller's buf or write into the caller's
 * array, decoders write into the caller's array; no input is read beyond
 * its length and no output is written beyond its capacity.
 */
#ifndef RC_BASE_B64_H
#define RC_BASE_B64_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Encoded length of n bytes: padded std, unpadded url. */
#define B64_STD_LEN(n) (((n) + 2) / 3 * 4)
#define B64_URL_LEN(n) (((n)*4 + 2) / 3)

/* Append the encoding of in[0..n). RC_OK or RC_ENOMEM (out unchanged). */
int b64_std_encode(struct buf *out, const void *in, size_t n);
int b64_url_encode(struct buf *out, const void *in, size_t n);
/* Write the B64_URL_LEN(n) characters of in[0..n) to out (no terminator). */
void b64_url_encode_to(char *out, const void *in, size_t n);

/* Strict decode of in[0..len) into out[0..cap): true with *nout the decoded
 * length; false (*nout untouched, out possibly scribbled) when the input is
 * not a canonical encoding or would decode to more than cap bytes. The
 * empty string decodes to zero bytes. */
bool b64_std_decode(const char *in, size_t len, void *out, size_t cap, size_t *nout);
bool b64_url_decode(const char *in, size_t len, void *out, size_t cap, size_t *nout);

/* Whether c is one of the 64 url characters. */
bool b64_url_char(unsigned char c);

/* memcached's decoder (std alphabet), byte for byte: characters outside
 * the alphabet are skipped; the rest must be a non-zero multiple of four;
 * '=' counts as a zero digit; the first group holding any '=' ends the
 * input, one or two of them dropping as many bytes and more being an error;
 * spare bits are ignored; count / 4 * 3 bytes must fit in cap. Returns the
 * decoded length, 0 on error. */
size_t b64_std_decode_memcached(const char *in, size_t len, void *out, size_t cap);

#endif
