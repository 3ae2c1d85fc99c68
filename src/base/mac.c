/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mac.c - HMAC-SHA-256, constant-time comparison and random bytes, over
 * OpenSSL 3's libcrypto (the only file that includes <openssl/...>).
 *
 * Cost: the derived cas is one HMAC per write, so the MAC is on the hot
 * path. Keying an EVP_MAC context costs more than hashing a short message
 * (about 530 ns a call on the development machine, measured with a loop of
 * 200,000 80-byte MACs). HMAC is H((K ^ opad) || H((K ^ ipad) || m)), and
 * the two keyed first blocks do not depend on m: each thread keeps, for
 * the last few keys it used (the daemon has one or two), SHA-256 contexts
 * that have absorbed K ^ ipad and K ^ opad, and a call copies them and
 * hashes only the message and the inner digest (about 160 ns). Keys longer
 * than a SHA-256 block take the plain EVP_MAC path.
 *
 * The digest and the EVP_MAC template are fetched once under pthread_once
 * and only read afterwards; per-thread contexts are freed at thread exit.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "base/mac.h"
#include "base/status.h"

#define MAC_BLOCK    64 /* SHA-256 block size */
#define MAC_TLS_KEYS 4  /* prepared keys each thread keeps */

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC_CTX *mac_template; /* written once under mac_once, then read only */
static EVP_MD *mac_md;            /* SHA-256, likewise */
static pthread_key_t mac_tls_key;
static bool mac_tls_ok;

/* A key whose inner and outer first blocks are already hashed. */
struct mac_prepared {
    size_t nkey; /* 0 = slot unused (an empty key is never cached) */
    unsigned char key[MAC_BLOCK];
    EVP_MD_CTX *inner, *outer;
};

struct mac_tls {
    EVP_MD_CTX *work;
    struct mac_prepared slot[MAC_TLS_KEYS];
    unsigned next; /* round-robin replacement */
};

static void
mac_tls_free(void *arg)
{
    struct mac_tls *t = arg;

    if (t == NULL) {
        return;
    }
    for (int i = 0; i < MAC_TLS_KEYS; i++) {
        EVP_MD_CTX_free(t->slot[i].inner);
        EVP_MD_CTX_free(t->slot[i].outer);
    }
    EVP_MD_CTX_free(t->work);
    OPENSSL_cleanse(t, sizeof(*t));
    free(t);
}

static void
mac_init_template(void)
{
    OSSL_PARAM params[2];
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return;
    }
    ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    if (ctx == NULL) {
        return;
    }
    mac_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    mac_tls_ok = pthread_key_create(&mac_tls_key, mac_tls_free) == 0;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return;
    }
    mac_template = ctx;
}

/* One of pad's first blocks: (key ^ padbyte) padded to a block, hashed. */
static bool
mac_pad_ctx(EVP_MD_CTX **ctx, const unsigned char *key, size_t nkey, unsigned char padbyte)
{
    unsigned char pad[MAC_BLOCK];
    bool ok;

    if (*ctx == NULL && (*ctx = EVP_MD_CTX_new()) == NULL) {
        return false;
    }
    memset(pad, padbyte, sizeof(pad));
    for (size_t i = 0; i < nkey; i++) {
        pad[i] ^= key[i];
    }
    ok =
        EVP_DigestInit_ex(*ctx, mac_md, NULL) == 1 && EVP_DigestUpdate(*ctx, pad, sizeof(pad)) == 1;
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
}

/* This thread's prepared contexts for key (1 <= nkey <= MAC_BLOCK), or
 * NULL when they cannot be had (then the caller takes the EVP_MAC path). */
static struct mac_prepared *
mac_prepared_for(struct mac_tls **tp, const void *key, size_t nkey)
{
    struct mac_tls *t = mac_tls_ok ? pthread_getspecific(mac_tls_key) : NULL;
    struct mac_prepared *p;

    if (t == NULL) {
        if (!mac_tls_ok || mac_md == NULL || (t = calloc(1, sizeof(*t))) == NULL) {
            return NULL;
        }
        if ((t->work = EVP_MD_CTX_new()) == NULL || pthread_setspecific(mac_tls_key, t) != 0) {
            mac_tls_free(t);
            return NULL;
        }
    }
    *tp = t;
    for (int i = 0; i < MAC_TLS_KEYS; i++) {
        p = &t->slot[i];
        if (p->nkey == nkey && memcmp(p->key, key, nkey) == 0) {
            return p;
        }
    }
    p = &t->slot[t->next++ % MAC_TLS_KEYS];
    p->nkey = 0;
    if (!mac_pad_ctx(&p->inner, key, nkey, 0x36) || !mac_pad_ctx(&p->outer, key, nkey, 0x5c)) {
        return NULL;
    }
    memcpy(p->key, key, nkey);
    p->nkey = nkey;
    return p;
}

static int
mac_prepared_run(struct mac_tls *t, const struct mac_prepared *p, const struct mac_part *parts,
                 size_t nparts, uint8_t out[MAC_SHA256_SIZE])
{
    unsigned char h[MAC_SHA256_SIZE];
    unsigned int n = 0;
    bool ok = EVP_MD_CTX_copy_ex(t->work, p->inner) == 1;

    for (size_t i = 0; ok && i < nparts; i++) {
        if (parts[i].len > 0) {
            ok = EVP_DigestUpdate(t->work, parts[i].data, parts[i].len) == 1;
        }
    }
    ok = ok && EVP_DigestFinal_ex(t->work, h, &n) == 1 && n == sizeof(h);
    ok = ok && EVP_MD_CTX_copy_ex(t->work, p->outer) == 1 &&
         EVP_DigestUpdate(t->work, h, sizeof(h)) == 1 &&
         EVP_DigestFinal_ex(t->work, out, &n) == 1 && n == MAC_SHA256_SIZE;
    return ok ? RC_OK : RC_EINTERNAL;
}

int
mac_hmac_sha256(const void *key, size_t nkey, const struct mac_part *parts, size_t nparts,
                uint8_t out[MAC_SHA256_SIZE])
{
    static const unsigned char nokey[1] = {0};
    struct mac_tls *t = NULL;
    struct mac_prepared *p;
    EVP_MAC_CTX *ctx;
    size_t i, outl = 0;
    int ok;

    if (pthread_once(&mac_once, mac_init_template) != 0 || mac_template == NULL) {
        return RC_EINTERNAL;
    }
    if (nkey > 0 && nkey <= MAC_BLOCK && (p = mac_prepared_for(&t, key, nkey)) != NULL) {
        return mac_prepared_run(t, p, parts, nparts, out);
    }
    ctx = EVP_MAC_CTX_dup(mac_template);
    if (ctx == NULL) {
        return RC_EINTERNAL;
    }
    /* An empty key is a valid HMAC key; libcrypto wants a non-NULL pointer. */
    ok = EVP_MAC_init(ctx, nkey > 0 ? key : nokey, nkey, NULL) == 1;
    for (i = 0; ok && i < nparts; i++) {
        if (parts[i].len > 0) {
            ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len) == 1;
        }
    }
    ok = ok && EVP_MAC_final(ctx, out, &outl, MAC_SHA256_SIZE) == 1 && outl == MAC_SHA256_SIZE;
    EVP_MAC_CTX_free(ctx);
    return ok ? RC_OK : RC_EINTERNAL;
}

int
mac_equal(const void *a, const void *b, size_t n)
{
    return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}

int
mac_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) { /* RAND_bytes takes an int length */
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;

        if (RAND_bytes(p, chunk) != 1) {
            return RC_EIO;
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return RC_OK;
}
