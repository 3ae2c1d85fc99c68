/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scan.h - find the keys of the requests waiting in a read buffer, without
 * parsing them: a hint for prefetching (a pipelined batch's lookups can
 * then overlap their memory loads instead of taking one cache miss after
 * another).
 *
 * The scan is a guess, never a parse: it stops at the first thing it does
 * not recognise, at an incomplete request, after `max` keys or after `max`
 * requests (so its cost is bounded whatever the buffer holds), and what it
 * returns may be wrong for input the parser would refuse (a wrong key only
 * wastes a prefetch). It reads only buf[0..len) and allocates nothing.
 */
#ifndef RC_PROTO_SCAN_H
#define RC_PROTO_SCAN_H

#include <stddef.h>

struct scan_key {
    const char *key; /* points into buf */
    size_t nkey;
};

/* Text and meta commands (get/gets with all their keys, mg, ms, md, ma,
 * delete, incr, decr, touch, and the storage commands, whose data blocks
 * are skipped). Returns the number of keys stored in out. */
size_t scan_keys_text(const char *buf, size_t len, struct scan_key *out, size_t max);

/* Binary request frames (any opcode with a key). */
size_t scan_keys_binary(const unsigned char *buf, size_t len, struct scan_key *out, size_t max);

#endif
