/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * meta.h - memcached 1.6 meta protocol codec (mg ms md ma mn me): pure,
 * side-effect free, byte-for-byte memcached 1.6.18's acceptance and replies.
 *
 *   text_parse --line starts "mg "/"ms "/...--> meta_parse --> struct request
 *   struct response --meta_encode_response--> "HD ...", "VA ...", "EN", ...
 *
 * Meta lines arrive on text connections; text.c frames the line and hands it
 * here, so the results are text_parse's (TEXT_OK / TEXT_AGAIN / TEXT_ERROR
 * with a struct text_error). A parsed request has proto REQ_PROTO_META and
 * carries in req->wire what the encoder must echo: wire.flags is the ordered
 * list of return flags the client asked for, wire.opaque holds META_M_* mode
 * bits, wire.token/ntoken the O(paque) token. Both are private to this codec.
 *
 * Ownership: request pointers borrow the input line or the caller's
 * struct meta_scratch (the single key, decoded from base64 with b) and are
 * valid until the next parse with that scratch or until the input bytes are
 * dropped, whichever comes first.
 */
#ifndef RC_PROTO_META_H
#define RC_PROTO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/request.h"
#include "proto/text.h"

/* Where a meta request's key lives (a base64 key is decoded into kbuf). */
struct meta_scratch {
    struct req_key key;
    char kbuf[REQ_KEY_MAX];
};

/* The first token of a line (n bytes at tok) names a meta command. */
bool meta_is_command(const char *tok, size_t n);

/* Parse one meta command. line/nline: the command line without its end;
 * next: the offset in data just past its '\n'; data/len: everything
 * available from the line's start (ms reads its data block from there).
 * max_item_size: -I (0 = 1 MiB). On TEXT_OK and TEXT_ERROR *consumed is the
 * number of bytes used; on TEXT_AGAIN it is the total an ms needs. */
enum text_rc meta_parse(struct meta_scratch *s, uint64_t max_item_size, const char *line,
                        size_t nline, size_t next, const char *data, size_t len,
                        struct request *req, size_t *consumed, struct text_error *err);

/* Append the reply to a REQ_PROTO_META request (nothing when q hides it). */
int meta_encode_response(struct buf *out, const struct request *req, const struct response *resp);

#endif
