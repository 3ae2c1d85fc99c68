/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth.c - see auth.h. The password table and its publication:
 *
 *   auth_create/auth_reload (main thread)        auth_check (any worker)
 *     read file -> parse -> new table (refs 1)     lock; t = a->table; t->refs++;
 *     lock; old = a->table; a->table = new;        unlock
 *     unlock; unref(old)                           compare against every entry
 *                                                  unref(t): last one frees
 *
 * Invariants: a->table is never NULL after auth_create and is never changed
 * once published (tables are immutable); a->lock is a leaf lock held only to
 * read or swap the pointer, take a reference or copy the counters, never
 * across I/O or a comparison. A table is freed by whoever drops its last
 * reference: auth_reload for the table it replaced when no check holds it,
 * otherwise the last check to finish.
 *
 * Each entry keeps its user and password zero-padded to AUTH_FIELD_PAD bytes
 * so a comparison always reads the same number of bytes; lengths are compared
 * too, so "ab" never equals "ab\0".
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "server/auth.h"

#define AUTH_FIELD_PAD (AUTH_MAX_FIELD + 1) /* room for every length 0..255 */

struct auth_entry {
    unsigned char user[AUTH_FIELD_PAD]; /* zero-padded past nuser */
    unsigned char pass[AUTH_FIELD_PAD]; /* zero-padded past npass */
    size_t nuser;
    size_t npass;
};

/* Immutable once published; freed with its last reference. */
struct auth_table {
    atomic_uint refs;
    size_t count;
    struct auth_entry entries[]; /* count of them */
};

struct auth {
    char *path;                    /* owned: -Y made absolute at create */
    pthread_mutex_t lock;          /* leaf: guards the fields below */
    struct auth_table *table;      /* owned reference; never NULL */
    uint64_t reloads;              /* successful reloads */
    uint64_t reload_failures;      /* failed reloads */
    char last_error[AUTH_ERR_LEN]; /* last failed reload, "" after success */
};

/* ------------------------------------------------------------ messages */

static int __attribute__((format(printf, 4, 5)))
auth_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ------------------------------------------------------------ constant time */

/* 1 when d is 0, else 0, without a branch on d. */
static unsigned
auth_ct_is_zero(uint64_t d)
{
    return (unsigned)(((d | (0 - d)) >> 63) ^ 1);
}

/* OR of the byte differences; reads all n bytes whatever they hold. */
static unsigned
auth_ct_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned acc = 0;

    for (size_t i = 0; i < n; i++) {
        acc |= (unsigned)(a[i] ^ b[i]);
    }
    __asm__ volatile("" : "+r"(acc)); /* the result stays opaque to the optimizer */
    return acc;
}

int
auth_equal_ct(const void *a, const void *b, size_t n)
{
    return (int)auth_ct_is_zero(auth_ct_diff(a, b, n));
}

/* ------------------------------------------------------------ tables */

static struct auth_table *
auth_table_alloc(size_t cap)
{
    struct auth_table *t = rc_calloc(1, sizeof(*t) + cap * sizeof(t->entries[0]));

    if (t != NULL) {
        atomic_init(&t->refs, 1);
    }
    return t;
}

static void
auth_table_unref(struct auth_table *t)
{
    if (t != NULL && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        /* secrets do not outlive the table */
        memset(t->entries, 0, t->count * sizeof(t->entries[0]));
        rc_free(t);
    }
}

static struct auth_table *
auth_table_acquire(struct auth *a)
{
    struct auth_table *t;

    pthread_mutex_lock(&a->lock);
    t = a->table;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&a->lock);
    return t;
}

/* One line (no '\n', a trailing '\r' already dropped) into entry e. */
static int
auth_parse_line(const char *path, unsigned lineno, const char *line, size_t n, struct auth_entry *e,
                char *err, size_t errlen)
{
    const char *colon = memchr(line, ':', n);
    size_t nuser, npass;

    if (colon == NULL) {
        return auth_fail(RC_EINVAL, err, errlen,
                         "auth file '%s' line %u: malformed entry, should be 'user:password'", path,
                         lineno);
    }
    if (memchr(line, '\0', n) != NULL || memchr(line, '\r', n) != NULL) {
        return auth_fail(RC_EINVAL, err, errlen,
                         "auth file '%s' line %u: NUL or carriage return inside the entry", path,
                         lineno);
    }
    nuser = (size_t)(colon - line);
    npass = n - nuser - 1;
    if (nuser > AUTH_MAX_FIELD || npass > AUTH_MAX_FIELD) {
        return auth_fail(RC_EINVAL, err, errlen, "auth file '%s' line %u: %s longer than %d bytes",
                         path, lineno, nuser > AUTH_MAX_FIELD ? "user name" : "password",
                         AUTH_MAX_FIELD);
    }
    memcpy(e->user, line, nuser);
    memcpy(e->pass, colon + 1, npass);
    e->nuser = nuser;
    e->npass = npass;
    if (nuser == 0 || npass == 0) {
        log_warn("auth file '%s' line %u: empty %s: this entry can never authenticate", path,
                 lineno, nuser == 0 ? "user name" : "password");
    }
    return RC_OK;
}

/* The whole file's bytes into a new table. */
static int
auth_parse_buffer(const char *path, const char *buf, size_t n, struct auth_table **out, char *err,
                  size_t errlen)
{
    struct auth_table *t = auth_table_alloc(AUTH_MAX_USERS);
    size_t pos = 0;
    unsigned lineno = 0;
    int rc = RC_OK;

    if (t == NULL) {
        return auth_fail(RC_ENOMEM, err, errlen, "out of memory loading auth file '%s'", path);
    }
    while (pos < n) {
        const char *line = buf + pos, *nl = memchr(line, '\n', n - pos);
        size_t len = nl != NULL ? (size_t)(nl - line) : n - pos;

        pos += len + (nl != NULL ? 1 : 0);
        lineno++;
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        if (t->count == AUTH_MAX_USERS) {
            rc = auth_fail(RC_ETOOLARGE, err, errlen, "auth file '%s': more than %d entries", path,
                           AUTH_MAX_USERS);
            goto fail;
        }
        rc = auth_parse_line(path, lineno, line, len, &t->entries[t->count], err, errlen);
        if (rc != RC_OK) {
            goto fail;
        }
        t->count++;
    }
    *out = t;
    return RC_OK;
fail:
    auth_table_unref(t);
    return rc;
}

/* Read and parse `path`. */
static int
auth_load(const char *path, struct auth_table **out, char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t r;
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return auth_fail(errno == ENOENT ? RC_ENOTFOUND : RC_EIO, err, errlen,
                         "cannot open auth file '%s': %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc =
            auth_fail(RC_EIO, err, errlen, "cannot stat auth file '%s': %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = auth_fail(RC_EIO, err, errlen, "auth file '%s' is not a regular file", path);
        goto done;
    }
    if (st.st_size > AUTH_MAX_FILE) {
        rc = auth_fail(RC_ETOOLARGE, err, errlen, "auth file '%s' is larger than %d bytes", path,
                       AUTH_MAX_FILE);
        goto done;
    }
    /* one byte more than allowed, to notice a file that grew since fstat */
    if ((buf = rc_malloc(AUTH_MAX_FILE + 1)) == NULL) {
        rc = auth_fail(RC_ENOMEM, err, errlen, "out of memory loading auth file '%s'", path);
        goto done;
    }
    while (got <= AUTH_MAX_FILE && (r = read(fd, buf + got, AUTH_MAX_FILE + 1 - got)) != 0) {
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = auth_fail(RC_EIO, err, errlen, "cannot read auth file '%s': %s", path,
                           strerror(errno));
            goto done;
        }
        got += (size_t)r;
    }
    if (got > AUTH_MAX_FILE) {
        rc = auth_fail(RC_ETOOLARGE, err, errlen, "auth file '%s' is larger than %d bytes", path,
                       AUTH_MAX_FILE);
        goto done;
    }
    rc = auth_parse_buffer(path, buf, got, out, err, errlen);
done:
    if (buf != NULL) {
        memset(buf, 0, got);
        rc_free(buf);
    }
    close(fd);
    return rc;
}

/* Replace a->path with its absolute form when it can be had; else keep it. */
static void
auth_path_absolute(struct auth *a)
{
    char *abs = realpath(a->path, NULL), *copy;

    if (abs == NULL) {
        return;
    }
    if ((copy = rc_strdup(abs)) != NULL) {
        rc_free(a->path);
        a->path = copy;
    }
    free(abs); /* realpath's buffer comes from the C library's malloc */
}

/* ------------------------------------------------------------ public */

int
auth_create(const char *path, struct auth **out, char *err, size_t errlen)
{
    struct auth *a;
    int rc;

    assert(path != NULL && out != NULL);
    *out = NULL;
    if ((a = rc_calloc(1, sizeof(*a))) == NULL || (a->path = rc_strdup(path)) == NULL) {
        rc = auth_fail(RC_ENOMEM, err, errlen, "out of memory loading auth file '%s'", path);
        goto fail;
    }
    rc = auth_load(path, &a->table, err, errlen);
    if (rc != RC_OK) {
        goto fail;
    }
    auth_path_absolute(a); /* reloads must survive a chdir (-d) */
    pthread_mutex_init(&a->lock, NULL);
    log_info("auth: %zu users loaded from '%s'", a->table->count, path);
    *out = a;
    return RC_OK;
fail:
    if (a != NULL) {
        rc_free(a->path);
        rc_free(a);
    }
    return rc;
}

void
auth_destroy(struct auth *a)
{
    if (a == NULL) {
        return;
    }
    auth_table_unref(a->table);
    pthread_mutex_destroy(&a->lock);
    rc_free(a->path);
    rc_free(a);
}

int
auth_reload(struct auth *a, char *err, size_t errlen)
{
    char msg[AUTH_ERR_LEN];
    struct auth_table *fresh = NULL, *old;
    size_t kept;
    int rc;

    assert(a != NULL);
    rc = auth_load(a->path, &fresh, msg, sizeof(msg));
    pthread_mutex_lock(&a->lock);
    if (rc != RC_OK) {
        a->reload_failures++;
        snprintf(a->last_error, sizeof(a->last_error), "%s", msg);
        kept = a->table->count;
        pthread_mutex_unlock(&a->lock);
        log_error("auth: reload failed, keeping the %zu users loaded before: %s", kept, msg);
        return auth_fail(rc, err, errlen, "%s", msg);
    }
    old = a->table;
    a->table = fresh;
    a->reloads++;
    a->last_error[0] = '\0';
    pthread_mutex_unlock(&a->lock);
    auth_table_unref(old);
    log_info("auth: %zu users reloaded from '%s'", fresh->count, a->path);
    return RC_OK;
}

int
auth_check(struct auth *a, const char *user, size_t nuser, const char *pass, size_t npass)
{
    unsigned char ubuf[AUTH_FIELD_PAD] = {0}, pbuf[AUTH_FIELD_PAD] = {0};
    struct auth_table *t;
    unsigned found = 0;

    assert(a != NULL);
    assert(user != NULL || nuser == 0);
    assert(pass != NULL || npass == 0);
    /* An over-long field is copied in part and can never match: lengths differ. */
    if (nuser > 0) {
        memcpy(ubuf, user, nuser < AUTH_FIELD_PAD ? nuser : AUTH_FIELD_PAD);
    }
    if (npass > 0) {
        memcpy(pbuf, pass, npass < AUTH_FIELD_PAD ? npass : AUTH_FIELD_PAD);
    }
    t = auth_table_acquire(a);
    for (size_t i = 0; i < t->count; i++) {
        const struct auth_entry *e = &t->entries[i];
        uint64_t d = auth_ct_diff(ubuf, e->user, AUTH_FIELD_PAD) |
                     auth_ct_diff(pbuf, e->pass, AUTH_FIELD_PAD) | (uint64_t)(nuser ^ e->nuser) |
                     (uint64_t)(npass ^ e->npass);

        found |= auth_ct_is_zero(d);
    }
    auth_table_unref(t);
    memset(pbuf, 0, sizeof(pbuf));
    __asm__ volatile("" : : "r"(pbuf) : "memory"); /* keep the wipe */
    return found != 0 && nuser > 0 && npass > 0 ? RC_OK : RC_EINVAL;
}

void
auth_get_stats(struct auth *a, struct auth_stats *out)
{
    assert(a != NULL && out != NULL);
    pthread_mutex_lock(&a->lock);
    out->users = a->table->count;
    out->reloads = a->reloads;
    out->reload_failures = a->reload_failures;
    memcpy(out->last_error, a->last_error, sizeof(out->last_error));
    pthread_mutex_unlock(&a->lock);
}

/* ------------------------------------------------------------ SASL PLAIN */

const char *
auth_sasl_mechs(void)
{
    return "PLAIN";
}

bool
auth_sasl_mech_supported(const char *mech, size_t n)
{
    static const char plain[] = "PLAIN";

    if (n != sizeof(plain) - 1) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = mech[i];

        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c != plain[i]) {
            return false;
        }
    }
    return true;
}

int
auth_sasl_plain_parse(const char *data, size_t n, const char **user, size_t *nuser,
                      const char **pass, size_t *npass)
{
    const char *nul1, *nul2, *authcid, *passwd;
    size_t nzid, ncid, npw;

    if (data == NULL || n > AUTH_SASL_PLAIN_MAX) {
        return RC_EPROTO;
    }
    if ((nul1 = memchr(data, '\0', n)) == NULL) {
        return RC_EPROTO;
    }
    authcid = nul1 + 1;
    nzid = (size_t)(nul1 - data);
    if ((nul2 = memchr(authcid, '\0', n - nzid - 1)) == NULL) {
        return RC_EPROTO;
    }
    passwd = nul2 + 1;
    ncid = (size_t)(nul2 - authcid);
    npw = n - nzid - 1 - ncid - 1;
    if (memchr(passwd, '\0', npw) != NULL) {
        return RC_EPROTO; /* a third NUL: passwd is 1*SAFE */
    }
    if (nzid > AUTH_MAX_FIELD || ncid == 0 || ncid > AUTH_MAX_FIELD || npw == 0 ||
        npw > AUTH_MAX_FIELD) {
        return RC_EPROTO;
    }
    /* We authorize only as the authenticated identity; the names are the
     * client's own bytes, so an ordinary comparison leaks nothing. */
    if (nzid != 0 && (nzid != ncid || memcmp(data, authcid, ncid) != 0)) {
        return RC_EPROTO;
    }
    *user = authcid;
    *nuser = ncid;
    *pass = passwd;
    *npass = npw;
    return RC_OK;
}

int
auth_sasl_plain(struct auth *a, const char *data, size_t n)
{
    const char *user, *pass;
    size_t nuser, npass;
    int rc = auth_sasl_plain_parse(data, n, &user, &nuser, &pass, &npass);

    if (rc != RC_OK) {
        return rc;
    }
    return auth_check(a, user, nuser, pass, npass);
}

/* ------------------------------------------------------------ text protocol */

/* The next run of non-spaces in s[*pos..n), skipping spaces before it. */
static bool
auth_text_token(const char *s, size_t n, size_t *pos, const char **tok, size_t *ntok)
{
    size_t i = *pos;

    while (i < n && s[i] == ' ') {
        i++;
    }
    if (i == n) {
        *pos = i;
        return false;
    }
    *tok = s + i;
    while (i < n && s[i] != ' ') {
        i++;
    }
    *ntok = (size_t)(s + i - *tok);
    *pos = i;
    return true;
}

int
auth_text_command(const char *line, size_t n, uint32_t *nbytes)
{
    const char *tok[5];
    size_t ntok[5], pos = 0, len;
    uint32_t v;

    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    for (int i = 0; i < 5; i++) {
        if (!auth_text_token(line, n, &pos, &tok[i], &ntok[i])) {
            return RC_EPROTO;
        }
    }
    if (ntok[0] != 3 || memcmp(tok[0], "set", 3) != 0) {
        return RC_EPROTO;
    }
    /* strtoul stops at whitespace and memcached accepts what follows it */
    for (len = 0; len < ntok[4] && strchr("\t\n\v\f\r", tok[4][len]) == NULL; len++) {
    }
    if (util_parse_u32(tok[4], len, &v) != RC_OK) {
        return RC_EPROTO;
    }
    if ((uint64_t)v + 2 > AUTH_TEXT_MAX_DATA) {
        return RC_ETOOLARGE;
    }
    *nbytes = v;
    return RC_OK;
}

int
auth_text_credentials(const char *value, size_t n, const char **user, size_t *nuser,
                      const char **pass, size_t *npass)
{
    const char *nul = memchr(value, '\0', n);
    size_t pos = 0;

    if (nul != NULL) {
        n = (size_t)(nul - value); /* memcached tokenizes a C string */
    }
    if (!auth_text_token(value, n, &pos, user, nuser) ||
        !auth_text_token(value, n, &pos, pass, npass)) {
        return RC_EPROTO;
    }
    return RC_OK;
}
