/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * util.h - number parsing with memcached's acceptance rules, and clocks.
 *
 * The parsers take a token that need not be NUL-terminated (s, n). They accept
 * what strtoull/strtol accept for a whole token in base 10 (optional leading
 * '+'; for the unsigned parsers a '-' is rejected, as memcached's safe_strtoull
 * does for values that would wrap) and nothing else: trailing bytes, an empty
 * token, overflow, or a token longer than 63 bytes is RC_EINVAL.
 */
#ifndef RC_BASE_UTIL_H
#define RC_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

int util_parse_u64(const char *s, size_t n, uint64_t *out);
int util_parse_u32(const char *s, size_t n, uint32_t *out);
int util_parse_i64(const char *s, size_t n, int64_t *out);
int util_parse_i32(const char *s, size_t n, int32_t *out);
/* A size with an optional k/K, m/M or g/G suffix (powers of 1024). */
int util_parse_size(const char *s, uint64_t *out);

/* Wall-clock seconds and milliseconds since the epoch; monotonic ms and ns. */
int64_t util_now_s(void);
int64_t util_now_ms(void);
uint64_t util_mono_ms(void);
uint64_t util_mono_ns(void);

#endif
