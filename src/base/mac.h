/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mac.h - keyed hashing (HMAC-SHA-256) and random bytes: the one module
 * through which OpenSSL's libcrypto enters the daemon (check-style.sh
 * enforces it). Used for causal-context seals and derived cas values
 * (doc/versioning.txt sections 6 and 9) and, later, peer authentication.
 *
 * Threads: every function is safe to call from any thread at once.
 */
#ifndef RC_BASE_MAC_H
#define RC_BASE_MAC_H

#include <stddef.h>
#include <stdint.h>

#define MAC_SHA256_SIZE 32

/* One input piece; a MAC is computed over the concatenation of the parts. */
struct mac_part {
    const void *data;
    size_t len;
};

/* out = HMAC-SHA-256(key, parts[0] || ... || parts[n-1]). RC_OK or
 * RC_EINTERNAL (libcrypto failed). */
int mac_hmac_sha256(const void *key, size_t nkey, const struct mac_part *parts, size_t nparts,
                    uint8_t out[MAC_SHA256_SIZE]);

/* Constant-time comparison of n bytes: 1 when equal, 0 otherwise. */
int mac_equal(const void *a, const void *b, size_t n);

/* Fill buf with n cryptographically random bytes. RC_OK or RC_EIO. */
int mac_random(void *buf, size_t n);

#endif
