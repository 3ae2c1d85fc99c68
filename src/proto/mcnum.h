/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mcnum.h - memcached's rules for reading a number from a protocol token
 * (its safe_strtoull / safe_strtoul / safe_strtol helpers over strtoull and
 * strtol on LP64), for tokens that are not NUL-terminated. Shared by the
 * text and meta codecs so the two protocols accept exactly the same.
 *
 * A token is read as strtoull/strtol would: optional white space and a sign,
 * decimal digits, then the token's end or a white-space byte (what follows
 * that is ignored). No digits, other trailing bytes, or a magnitude over 64
 * bits: refused.
 */
#ifndef RC_PROTO_MCNUM_H
#define RC_PROTO_MCNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Unsigned 64-bit; a '-' is refused only when the wrapped value has its top
 * bit set ("-0" and "-18446744073709551615" pass, as in memcached). */
bool mcnum_u64(const char *p, size_t n, uint64_t *out);
/* Read as 64 bits, then kept in 32 (4294967297 becomes 1). */
bool mcnum_u32(const char *p, size_t n, uint32_t *out);
/* strtol's 64-bit range, then kept in an int32_t (2147483648 becomes
 * -2147483648, 4294967296 becomes 0). */
bool mcnum_i32(const char *p, size_t n, int32_t *out);

#endif
