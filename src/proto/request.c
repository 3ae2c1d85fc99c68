/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * request.c - names and flags of the protocol-neutral commands, generated from
 * the X-macro table in request.h, and the reset helpers for struct request and
 * struct response, and request_clone. Pure: no I/O; request_clone alone
 * allocates.
 */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "proto/request.h"

static const char *const req_cmd_names[] = {
#define REQ_CMD_NAME(e, name, flags) [e] = name,
    REQ_CMD_TABLE(REQ_CMD_NAME)
#undef REQ_CMD_NAME
};

static const unsigned req_cmd_flag_table[] = {
#define REQ_CMD_FLAGS(e, name, flags) [e] = (flags),
    REQ_CMD_TABLE(REQ_CMD_FLAGS)
#undef REQ_CMD_FLAGS
};

const char *
req_cmd_name(enum req_cmd cmd)
{
    if ((unsigned)cmd >= (unsigned)REQ_CMD__COUNT) {
        return "unknown";
    }
    return req_cmd_names[cmd];
}

unsigned
req_cmd_flags(enum req_cmd cmd)
{
    if ((unsigned)cmd >= (unsigned)REQ_CMD__COUNT) {
        return 0;
    }
    return req_cmd_flag_table[cmd];
}

void
request_reset(struct request *req)
{
    memset(req, 0, sizeof(*req));
    req->cmd = REQ_NONE;
    req->args = "";
}

void
response_reset(struct response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = RC_OK;
    resp->miss = RESP_MISS_NONE;
}

#define REQ_ITEM_OVERHEAD  56 /* memcached's item header with cas (LP64) */
#define REQ_FLAGS_OVERHEAD 4  /* client flags stored when non-zero */

uint64_t
req_item_size(size_t nkey, size_t nvalue, uint32_t flags)
{
    uint64_t total = REQ_ITEM_OVERHEAD + (uint64_t)nkey + 1 + (uint64_t)nvalue + 2;

    return flags != 0 ? total + REQ_FLAGS_OVERHEAD : total;
}

bool
req_context_plausible(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > REQ_CONTEXT_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

/* Append n bytes at *p and return where they went (NULL stays NULL). */
static const char *
req_copy_bytes(char **p, const char *src, size_t n)
{
    char *at = *p;

    if (src == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(at, src, n);
    }
    *p += n;
    return at;
}

int
request_clone(const struct request *src, struct request **out)
{
    size_t total = sizeof(struct request) + src->nkeys * sizeof(struct req_key) + src->nvalue +
                   src->ncontext + src->wire.ntoken + src->nargs + 1;
    struct request *r;
    char *p;

    for (size_t i = 0; i < src->nkeys; i++) {
        total += src->keys[i].nkey;
    }
    r = rc_malloc(total);
    if (r == NULL) {
        return RC_ENOMEM;
    }
    *r = *src;
    p = (char *)(r + 1);
    if (src->nkeys > 0) {
        r->keys = (struct req_key *)p;
        p += src->nkeys * sizeof(struct req_key);
        for (size_t i = 0; i < src->nkeys; i++) {
            r->keys[i].nkey = src->keys[i].nkey;
            r->keys[i].key = req_copy_bytes(&p, src->keys[i].key, src->keys[i].nkey);
        }
    } else {
        r->keys = NULL;
    }
    r->value = req_copy_bytes(&p, src->value, src->nvalue);
    r->context = req_copy_bytes(&p, src->context, src->ncontext);
    r->wire.token = req_copy_bytes(&p, src->wire.token, src->wire.ntoken);
    r->args = req_copy_bytes(&p, src->args != NULL ? src->args : "", src->nargs);
    *p = '\0'; /* args stays a C string where codecs expect one */
    *out = r;
    return RC_OK;
}

void
request_free(struct request *r)
{
    rc_free(r);
}
