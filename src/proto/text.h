/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * text.h - memcached 1.6 text protocol codec: a resumable, side-effect-free
 * parser from bytes to struct request, and encoders from struct response to
 * reply bytes. Byte-for-byte memcached's replies and error strings.
 *
 *   bytes --text_parse--> struct request      (OK / AGAIN / ERROR)
 *   struct response --text_encode_*--> bytes appended to a struct buf
 *
 * The parser owns a growable key array (for multi-key get); request pointers
 * are valid until the next text_parse call or until the caller drops the
 * consumed input bytes.
 */
#ifndef RC_PROTO_TEXT_H
#define RC_PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/request.h"

struct text_parser {
    uint64_t max_item_size; /* -I: larger values are refused and swallowed */
    struct req_key *keys;   /* owned */
    size_t keys_cap;
};

enum text_rc {
    TEXT_OK = 0, /* *req is a complete request; drop *consumed bytes after use */
    TEXT_AGAIN,  /* need more input: at least *consumed bytes in total (a hint,
                  * may be 0 = unknown); nothing was consumed */
    TEXT_ERROR,  /* send err.reply; drop *consumed bytes, then discard
                  * err.swallow more bytes as they arrive; close if err.close */
};

struct text_error {
    const char *reply;     /* static reply line without "\r\n", e.g. "ERROR";
                            * NULL: send nothing (noreply hid it, or a silent close) */
    size_t swallow;        /* further bytes to discard after the consumed ones */
    bool close;            /* close the connection after the reply is sent */
    const char *stale_key; /* non-NULL: remove this key's item (a new value for
                            * it was refused as too large, as memcached does);
                            * points into the input like request keys */
    size_t nstale_key;
    bool too_large; /* a value was refused as too large (store_too_large),
                     * whether or not a stale item goes with it */
};

void text_parser_init(struct text_parser *p, uint64_t max_item_size);
void text_parser_deinit(struct text_parser *p);

enum text_rc text_parse(struct text_parser *p, const char *data, size_t len, struct request *req,
                        size_t *consumed, struct text_error *err);

/* Reply for one key of a request (key index ki). Retrievals append a VALUE
 * block on a hit (vget: a VERSIONS line and its SIBLING blocks) and nothing
 * on a miss (the caller ends with text_encode_end);
 * other commands append their status line, or nothing when req->noreply hides
 * it (errors memcached still reports with noreply are still appended). */
int text_encode_response(struct buf *out, const struct request *req, size_t ki,
                         const struct response *resp);
int text_encode_end(struct buf *out);                                       /* "END\r\n" */
int text_encode_line(struct buf *out, const char *line);                    /* line + "\r\n" */
int text_encode_stat(struct buf *out, const char *name, const char *value); /* "STAT n v\r\n" */

#endif
