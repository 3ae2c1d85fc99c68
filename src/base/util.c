/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c - see util.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/status.h"
#include "base/util.h"

/* Copy a token into a NUL-terminated scratch buffer; reject empty, overlong
 * and embedded-whitespace tokens (strto* would skip leading space). */
static int
util_token(const char *s, size_t n, char *tmp, size_t tmpsz)
{
    if (n == 0 || n >= tmpsz) {
        return RC_EINVAL;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (isspace((unsigned char)tmp[0])) {
        return RC_EINVAL;
    }
    return RC_OK;
}

int
util_parse_u64(const char *s, size_t n, uint64_t *out)
{
    char tmp[64], *end;
    unsigned long long v;

    if (util_token(s, n, tmp, sizeof(tmp)) != RC_OK || memchr(tmp, '-', n) != NULL) {
        return RC_EINVAL;
    }
    errno = 0;
    v = strtoull(tmp, &end, 10);
    if (errno != 0 || end == tmp || *end != '\0') {
        return RC_EINVAL;
    }
    *out = (uint64_t)v;
    return RC_OK;
}

int
util_parse_u32(const char *s, size_t n, uint32_t *out)
{
    uint64_t v;

    if (util_parse_u64(s, n, &v) != RC_OK || v > UINT32_MAX) {
        return RC_EINVAL;
    }
    *out = (uint32_t)v;
    return RC_OK;
}

int
util_parse_i64(const char *s, size_t n, int64_t *out)
{
    char tmp[64], *end;
    long long v;

    if (util_token(s, n, tmp, sizeof(tmp)) != RC_OK) {
        return RC_EINVAL;
    }
    errno = 0;
    v = strtoll(tmp, &end, 10);
    if (errno != 0 || end == tmp || *end != '\0') {
        return RC_EINVAL;
    }
    *out = (int64_t)v;
    return RC_OK;
}

int
util_parse_i32(const char *s, size_t n, int32_t *out)
{
    int64_t v;

    if (util_parse_i64(s, n, &v) != RC_OK || v < INT32_MIN || v > INT32_MAX) {
        return RC_EINVAL;
    }
    *out = (int32_t)v;
    return RC_OK;
}

int
util_parse_size(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t v, mult = 1;

    if (n > 0) {
        switch (s[n - 1]) {
        case 'k':
        case 'K':
            mult = 1024ULL;
            n--;
            break;
        case 'm':
        case 'M':
            mult = 1024ULL * 1024;
            n--;
            break;
        case 'g':
        case 'G':
            mult = 1024ULL * 1024 * 1024;
            n--;
            break;
        default:
            break;
        }
    }
    if (util_parse_u64(s, n, &v) != RC_OK || (v != 0 && UINT64_MAX / v < mult)) {
        return RC_EINVAL;
    }
    *out = v * mult;
    return RC_OK;
}

int64_t
util_now_s(void)
{
    struct timespec ts;

    /* Whole seconds: the coarse clock (a few ms behind at most) costs no
     * TSC read; a get asks for it once or twice. */
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t
util_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
util_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
util_mono_ms(void)
{
    return util_mono_ns() / 1000000ULL;
}
