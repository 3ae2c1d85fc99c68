/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_auth.c - the -Y password file and the checks against it: loading
 * (good files, every kind of malformed one, limits, empty and missing files),
 * auth_check, the constant-time comparison, SASL PLAIN parsing against
 * hostile messages (every buffer is heap memory of exactly the stated size,
 * so AddressSanitizer catches a read past it), memcached's text exchange,
 * reloads (failed ones keep the old table) and reloads racing checks in
 * other threads. Each test removes the files it writes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/status.h"
#include "server/auth.h"

/* ------------------------------------------------------------ helpers */

/* A fresh file holding n bytes of text; the caller unlinks and frees it. */
static char *
file_new(const char *text, size_t n)
{
    char *path = strdup("/tmp/rc-test-auth-XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static char *
file_new_str(const char *text)
{
    return file_new(text, strlen(text));
}

/* Replace the contents of path (rename over it, as an editor would). */
static void
file_rewrite(const char *path, const char *text)
{
    char tmp[256];
    FILE *fp;

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    fp = fopen(tmp, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void
file_drop(char *path)
{
    unlink(path);
    free(path);
}

static int
check(struct auth *a, const char *user, const char *pass)
{
    return auth_check(a, user, strlen(user), pass, strlen(pass));
}

/* Load text, expecting success. */
static struct auth *
load_ok(const char *text, char **path)
{
    struct auth *a = NULL;
    char err[AUTH_ERR_LEN] = "";
    int rc;

    *path = file_new_str(text);
    rc = auth_create(*path, &a, err, sizeof(err));
    if (rc != RC_OK) {
        fail_msg("auth_create: %d %s", rc, err);
    }
    assert_non_null(a);
    return a;
}

/* Load n bytes, expecting status rc and a message containing `needle`. */
static void
load_fails(const char *text, size_t n, int rc, const char *needle)
{
    struct auth *a = (struct auth *)0x1;
    char err[AUTH_ERR_LEN] = "";
    char *path = file_new(text, n);
    int got = auth_create(path, &a, err, sizeof(err));

    if (got != rc || strstr(err, needle) == NULL) {
        fail_msg("file '%.40s': rc %d '%s', expected %d '%s'", text, got, err, rc, needle);
    }
    assert_null(a);
    assert_null(strchr(err, '\n'));
    file_drop(path);
}

static size_t
users_of(struct auth *a)
{
    struct auth_stats st;

    auth_get_stats(a, &st);
    return st.users;
}

/* ------------------------------------------------------------ loading */

static void
test_load_good(void **state)
{
    char *path;
    struct auth *a = load_ok("alice:secret\n"
                             "bob:pa:ss\r\n"
                             "dave:sp ace\n"
                             "carol:last",
                             &path);

    (void)state;
    assert_int_equal(users_of(a), 4);
    assert_int_equal(check(a, "alice", "secret"), RC_OK);
    assert_int_equal(check(a, "bob", "pa:ss"), RC_OK); /* split at the first ':' */
    assert_int_equal(check(a, "bob", "pa"), RC_EINVAL);
    assert_int_equal(check(a, "bob", "pa:ss\r"), RC_EINVAL); /* CRLF stripped */
    assert_int_equal(check(a, "dave", "sp ace"), RC_OK);
    assert_int_equal(check(a, "carol", "last"), RC_OK); /* memcached 1.6.18 drops the 't' */
    assert_int_equal(check(a, "carol", "las"), RC_EINVAL);
    assert_int_equal(check(a, "alice", "secreT"), RC_EINVAL);
    assert_int_equal(check(a, "alice", "secre"), RC_EINVAL);
    assert_int_equal(check(a, "alice", "secret2"), RC_EINVAL);
    assert_int_equal(check(a, "Alice", "secret"), RC_EINVAL);
    assert_int_equal(check(a, "bob", "secret"), RC_EINVAL); /* another user's password */
    assert_int_equal(check(a, "mallory", "secret"), RC_EINVAL);
    assert_int_equal(check(a, "", ""), RC_EINVAL);
    assert_int_equal(auth_check(a, NULL, 0, NULL, 0), RC_EINVAL);
    /* lengths count: an embedded NUL is not the end */
    assert_int_equal(auth_check(a, "alice", 5, "secret\0", 7), RC_EINVAL);
    assert_int_equal(auth_check(a, "alice\0", 6, "secret", 6), RC_EINVAL);
    auth_destroy(a);
    file_drop(path);
}

static void
test_load_duplicates_and_long_fields(void **state)
{
    char line[600], user[256], pass[256];
    char *path;
    struct auth *a;

    (void)state;
    memset(user, 'u', 255);
    user[255] = '\0';
    memset(pass, 'p', 255);
    pass[255] = '\0';
    snprintf(line, sizeof(line), "%s:%s\nalice:one\nalice:two\n", user, pass);
    a = load_ok(line, &path);
    assert_int_equal(users_of(a), 3);
    assert_int_equal(check(a, user, pass), RC_OK);
    assert_int_equal(check(a, "alice", "one"), RC_OK); /* each line is a credential */
    assert_int_equal(check(a, "alice", "two"), RC_OK);
    auth_destroy(a);
    file_drop(path);
}

static void
test_load_malformed(void **state)
{
    static const struct {
        const char *text;
        size_t n; /* 0: strlen */
        const char *message;
    } cases[] = {
        {"alice\n", 0, "line 1: malformed entry, should be 'user:password'"},
        {"alice:x\n\nbob:y\n", 0, "line 2: malformed"}, /* blank line, as memcached */
        {"alice:x\n\n", 0, "line 2: malformed"},
        {"\n", 0, "line 1: malformed"},
        {"# users\nalice:x\n", 0, "line 1: malformed"}, /* no comments, as memcached */
        {"alice:x\r\nbob\r\n", 0, "line 2: malformed"},
        {"alice:sec\0ret\nbob:y\n", 20, "line 1: NUL or carriage return"},
        {"alice\0:x\n", 9, "line 1: NUL or carriage return"},
        {"alice:pa\rss\n", 0, "line 1: NUL or carriage return"},
        {"alice:x\r\r\n", 0, "line 1: NUL or carriage return"},
    };
    char big[600];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cases[i].n != 0 ? cases[i].n : strlen(cases[i].text);

        load_fails(cases[i].text, n, RC_EINVAL, cases[i].message);
    }
    memset(big, 'u', 256);
    strcpy(big + 256, ":pw\n");
    load_fails(big, strlen(big), RC_EINVAL, "line 1: user name longer than 255 bytes");
    strcpy(big, "ok:ok\nalice:");
    memset(big + 12, 'p', 256);
    strcpy(big + 12 + 256, "\n");
    load_fails(big, strlen(big), RC_EINVAL, "line 2: password longer than 255 bytes");
}

static void
test_load_limits(void **state)
{
    size_t cap = (AUTH_MAX_USERS + 1) * 16, len = 0;
    char *text = malloc(AUTH_MAX_FILE + 2), *path;
    struct auth *a;

    (void)state;
    assert_non_null(text);
    for (int i = 0; i < AUTH_MAX_USERS; i++) {
        len += (size_t)snprintf(text + len, cap - len, "u%d:p%d\n", i, i);
    }
    a = load_ok(text, &path);
    assert_int_equal(users_of(a), AUTH_MAX_USERS);
    assert_int_equal(check(a, "u0", "p0"), RC_OK);
    assert_int_equal(check(a, "u255", "p255"), RC_OK);
    assert_int_equal(check(a, "u255", "p0"), RC_EINVAL);
    auth_destroy(a);
    file_drop(path);
    /* one more entry is an error, not a silent truncation (memcached keeps 8) */
    snprintf(text + len, cap - len, "extra:x\n");
    load_fails(text, strlen(text), RC_ETOOLARGE, "more than 256 entries");
    /* a file over the size limit */
    memset(text, 'x', AUTH_MAX_FILE + 1);
    text[0] = 'a';
    text[1] = ':';
    load_fails(text, AUTH_MAX_FILE + 1, RC_ETOOLARGE, "larger than");
    free(text);
}

static void
test_load_empty_and_missing(void **state)
{
    char *path, err[AUTH_ERR_LEN];
    struct auth *a = load_ok("", &path);

    (void)state;
    assert_int_equal(users_of(a), 0); /* as memcached: loads, nobody gets in */
    assert_int_equal(check(a, "alice", "secret"), RC_EINVAL);
    auth_destroy(a);
    file_drop(path);

    a = (struct auth *)0x1;
    assert_int_equal(auth_create("/nonexistent/rc-auth", &a, err, sizeof(err)), RC_ENOTFOUND);
    assert_null(a);
    assert_string_equal(err, "cannot open auth file '/nonexistent/rc-auth': No such file or "
                             "directory");
    assert_int_equal(auth_create("/tmp", &a, err, sizeof(err)), RC_EIO);
    assert_non_null(strstr(err, "not a regular file"));
    /* err may be NULL or tiny */
    assert_int_equal(auth_create("/nonexistent/rc-auth", &a, NULL, 0), RC_ENOTFOUND);
    assert_int_equal(auth_create("/nonexistent/rc-auth", &a, err, 4), RC_ENOTFOUND);
    assert_string_equal(err, "can");
    auth_destroy(NULL);
}

static void
test_empty_fields_never_match(void **state)
{
    char *path;
    struct auth *a = load_ok(":secret\nalice:\nbob:pw\n", &path);

    (void)state;
    assert_int_equal(users_of(a), 3);
    assert_int_equal(check(a, "", "secret"), RC_EINVAL);
    assert_int_equal(check(a, "alice", ""), RC_EINVAL);
    assert_int_equal(check(a, "bob", "pw"), RC_OK);
    auth_destroy(a);
    file_drop(path);
}

static void
test_check_hostile_lengths(void **state)
{
    size_t n = 64 * 1024;
    char *big = malloc(n), *path;
    struct auth *a;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', n);
    a = load_ok("aaa:aaa\n", &path);
    assert_int_equal(auth_check(a, big, n, "aaa", 3), RC_EINVAL);
    assert_int_equal(auth_check(a, "aaa", 3, big, n), RC_EINVAL);
    assert_int_equal(auth_check(a, big, 256, big, 256), RC_EINVAL);
    assert_int_equal(auth_check(a, big, 3, big, 3), RC_OK);
    auth_destroy(a);
    file_drop(path);
    free(big);
}

/* ------------------------------------------------------------ constant time */

static void
test_equal_ct(void **state)
{
    unsigned char a[256], b[256];

    (void)state;
    for (int i = 0; i < 256; i++) {
        a[i] = b[i] = (unsigned char)i;
    }
    assert_int_equal(auth_equal_ct(a, b, sizeof(a)), 1);
    assert_int_equal(auth_equal_ct(a, b, 0), 1);
    for (size_t i = 0; i < sizeof(a); i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            assert_int_equal(auth_equal_ct(a, b, sizeof(a)), 0);
            assert_int_equal(auth_equal_ct(a, b, i), 1); /* the prefix still equal */
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
    assert_int_equal(auth_equal_ct("\xff", "\x00", 1), 0);
    assert_int_equal(auth_equal_ct("\x80", "\x00", 1), 0);
}

/* ------------------------------------------------------------ SASL PLAIN */

/* Parse a heap copy of exactly n bytes. */
static int
plain_parse(const char *msg, size_t n, char *user, char *pass)
{
    char *copy = malloc(n > 0 ? n : 1);
    const char *u = NULL, *p = NULL;
    size_t nu = 0, np = 0;
    int rc;

    assert_non_null(copy);
    memcpy(copy, msg, n);
    rc = auth_sasl_plain_parse(copy, n, &u, &nu, &p, &np);
    if (rc == RC_OK) {
        assert_true(u >= copy && u + nu <= copy + n);
        assert_true(p >= copy && p + np <= copy + n);
        memcpy(user, u, nu);
        user[nu] = '\0';
        memcpy(pass, p, np);
        pass[np] = '\0';
    }
    free(copy);
    return rc;
}

#define PLAIN(lit) lit, sizeof(lit) - 1

static void
test_sasl_plain_parse(void **state)
{
    static const struct {
        const char *msg;
        size_t n;
    } bad[] = {
        {PLAIN("")},
        {PLAIN("alice")},                 /* no NUL */
        {PLAIN("alice secret")},          /* no NUL */
        {PLAIN("\0alice")},               /* one NUL */
        {PLAIN("alicesecret\0")},         /* one NUL */
        {PLAIN("\0")},                    /* one NUL */
        {PLAIN("\0\0")},                  /* empty authcid and passwd */
        {PLAIN("\0\0secret")},            /* empty authcid */
        {PLAIN("\0alice\0")},             /* empty passwd */
        {PLAIN("\0alice\0sec\0ret")},     /* a third NUL */
        {PLAIN("\0alice\0secret\0")},     /* trailing NUL */
        {PLAIN("\0\0\0")},                /* three NULs */
        {PLAIN("bob\0alice\0secret")},    /* authzid another identity */
        {PLAIN("alic\0alice\0secret")},   /* authzid a prefix */
        {PLAIN("alice2\0alice\0secret")}, /* authzid longer */
        {PLAIN("ALICE\0alice\0secret")},  /* authzid compared exactly */
        {PLAIN("alice\0\0secret")},       /* authzid, no authcid */
    };
    char user[AUTH_SASL_PLAIN_MAX + 1], pass[AUTH_SASL_PLAIN_MAX + 1];
    char msg[AUTH_SASL_PLAIN_MAX + 2];
    const char *u, *p;
    size_t nu, np, n;
    char *huge;

    (void)state;
    assert_int_equal(plain_parse(PLAIN("\0alice\0secret"), user, pass), RC_OK);
    assert_string_equal(user, "alice");
    assert_string_equal(pass, "secret");
    assert_int_equal(plain_parse(PLAIN("alice\0alice\0secret"), user, pass), RC_OK);
    assert_string_equal(user, "alice");
    assert_int_equal(plain_parse(PLAIN("\0a\0b"), user, pass), RC_OK);
    assert_string_equal(user, "a");
    assert_string_equal(pass, "b");
    assert_int_equal(plain_parse(PLAIN("\0al ice\0sp ace:\xc3\xa9"), user, pass), RC_OK);
    assert_string_equal(pass, "sp ace:\xc3\xa9");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (plain_parse(bad[i].msg, bad[i].n, user, pass) != RC_EPROTO) {
            fail_msg("case %zu accepted", i);
        }
    }
    /* the stated length is the bound, whatever follows in memory */
    assert_int_equal(plain_parse("\0alice\0secret", 7, user, pass), RC_EPROTO);
    assert_int_equal(plain_parse("\0alice\0secret", 8, user, pass), RC_OK);
    assert_string_equal(pass, "s");
    assert_int_equal(auth_sasl_plain_parse(NULL, 0, &u, &nu, &p, &np), RC_EPROTO);

    /* fields of 255 bytes are the most allowed, 256 too many */
    memset(msg, 'z', sizeof(msg));
    msg[255] = '\0';
    msg[511] = '\0';
    assert_int_equal(plain_parse(msg, AUTH_SASL_PLAIN_MAX, user, pass), RC_OK);
    assert_int_equal(strlen(user), 255);
    assert_int_equal(strlen(pass), 255);
    assert_int_equal(plain_parse(msg, AUTH_SASL_PLAIN_MAX + 1, user, pass), RC_EPROTO);
    /* authzid of 254 'z' is not the authcid of 255 */
    assert_int_equal(plain_parse(msg + 1, AUTH_SASL_PLAIN_MAX - 1, user, pass), RC_EPROTO);
    msg[0] = '\0';
    msg[255] = 'z';
    msg[256] = '\0'; /* authcid of 255 after an empty authzid */
    msg[511] = 'z';
    assert_int_equal(plain_parse(msg, 257 + 255, user, pass), RC_OK);
    assert_int_equal(plain_parse(msg, 257 + 256, user, pass), RC_EPROTO); /* passwd 256 */
    msg[256] = 'z';
    msg[257] = '\0'; /* authcid of 256 */
    assert_int_equal(plain_parse(msg, 300, user, pass), RC_EPROTO);

    /* a 64 KB token: no NUL, one NUL, both NULs early */
    n = 64 * 1024;
    huge = malloc(n);
    assert_non_null(huge);
    memset(huge, 'A', n);
    assert_int_equal(plain_parse(huge, n, user, pass), RC_EPROTO);
    huge[0] = '\0';
    assert_int_equal(plain_parse(huge, n, user, pass), RC_EPROTO);
    huge[6] = '\0';
    assert_int_equal(plain_parse(huge, n, user, pass), RC_EPROTO);
    assert_int_equal(plain_parse(huge, 12, user, pass), RC_OK);
    free(huge);
}

static void
test_sasl_plain_check(void **state)
{
    char *path;
    struct auth *a = load_ok("alice:secret\nbob:pa:ss\n", &path);

    (void)state;
    assert_string_equal(auth_sasl_mechs(), "PLAIN");
    assert_true(auth_sasl_mech_supported("PLAIN", 5));
    assert_true(auth_sasl_mech_supported("plain", 5));
    assert_true(auth_sasl_mech_supported("PLAINX", 5));
    assert_false(auth_sasl_mech_supported("PLAINX", 6));
    assert_false(auth_sasl_mech_supported("PLAI", 4));
    assert_false(auth_sasl_mech_supported("CRAM-MD5", 8));
    assert_false(auth_sasl_mech_supported("", 0));
    assert_int_equal(auth_sasl_plain(a, PLAIN("\0alice\0secret")), RC_OK);
    assert_int_equal(auth_sasl_plain(a, PLAIN("alice\0alice\0secret")), RC_OK);
    assert_int_equal(auth_sasl_plain(a, PLAIN("\0bob\0pa:ss")), RC_OK);
    assert_int_equal(auth_sasl_plain(a, PLAIN("\0alice\0wrong")), RC_EINVAL);
    assert_int_equal(auth_sasl_plain(a, PLAIN("\0mallory\0secret")), RC_EINVAL);
    assert_int_equal(auth_sasl_plain(a, PLAIN("bob\0alice\0secret")), RC_EPROTO);
    assert_int_equal(auth_sasl_plain(a, PLAIN("alice secret")), RC_EPROTO);
    auth_destroy(a);
    file_drop(path);
}

/* ------------------------------------------------------------ text protocol */

static void
test_text_command(void **state)
{
    static const struct {
        const char *line;
        int rc;
        uint32_t nbytes;
    } cases[] = {
        {"set k 0 0 12", RC_OK, 12},
        {"set k 0 0 12\r", RC_OK, 12},
        {"set anykey 99 -1 12 noreply", RC_OK, 12}, /* key, flags, exptime ignored */
        {"set k x y 12", RC_OK, 12},
        {"set k 0 0 12 1 2 3", RC_OK, 12},
        {" set  k 0 0   7 ", RC_OK, 7}, /* runs of spaces, as memcached */
        {"set k 0 0 12\t", RC_OK, 12},  /* strtoul stops at whitespace */
        {"set k 0 0 +5", RC_OK, 5},
        {"set k 0 0 0", RC_OK, 0},
        {"set k 0 0 16382", RC_OK, 16382},
        {"set k 0 0 16383", RC_ETOOLARGE, 0},
        {"set k 0 0 4294967295", RC_ETOOLARGE, 0},
        {"set k 0 0 4294967296", RC_EPROTO, 0},
        {"set k 0 0 -1", RC_EPROTO, 0},
        {"set k 0 0 12x", RC_EPROTO, 0},
        {"set k 0 0 abc", RC_EPROTO, 0},
        {"set k 0 0", RC_EPROTO, 0},
        {"set k 0 12", RC_EPROTO, 0},
        {"SET k 0 0 12", RC_EPROTO, 0},
        {"add k 0 0 12", RC_EPROTO, 0},
        {"sets k 0 0 12", RC_EPROTO, 0},
        {"get k", RC_EPROTO, 0},
        {"version", RC_EPROTO, 0},
        {"quit", RC_EPROTO, 0},
        {"", RC_EPROTO, 0},
        {"\r", RC_EPROTO, 0},
        {"set\tk 0 0 12", RC_EPROTO, 0}, /* only ' ' separates */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].line);
        char *copy = malloc(n > 0 ? n : 1);
        uint32_t nbytes = 999;
        int rc;

        assert_non_null(copy);
        memcpy(copy, cases[i].line, n);
        rc = auth_text_command(copy, n, &nbytes);
        free(copy);
        if (rc != cases[i].rc || (rc == RC_OK && nbytes != cases[i].nbytes)) {
            fail_msg("'%s': rc %d nbytes %u, expected %d %u", cases[i].line, rc, nbytes,
                     cases[i].rc, cases[i].nbytes);
        }
    }
}

static void
test_text_credentials(void **state)
{
    static const struct {
        const char *value;
        size_t n; /* 0: strlen */
        int rc;
        const char *user, *pass;
    } cases[] = {
        {"alice secret", 0, RC_OK, "alice", "secret"},
        {"alice  secret", 0, RC_OK, "alice", "secret"},
        {" alice secret ", 0, RC_OK, "alice", "secret"},
        {"alice secret extra tokens", 0, RC_OK, "alice", "secret"},
        {"bob pa:ss", 0, RC_OK, "bob", "pa:ss"},
        {"alice secret\0x", 14, RC_OK, "alice", "secret"}, /* ends at a NUL, as memcached */
        {"alice\0 secret", 13, RC_EPROTO, NULL, NULL},
        {"alice", 0, RC_EPROTO, NULL, NULL},
        {"alice ", 0, RC_EPROTO, NULL, NULL},
        {"", 0, RC_EPROTO, NULL, NULL},
        {"   ", 0, RC_EPROTO, NULL, NULL},
        {"alice\tsecret", 0, RC_EPROTO, NULL, NULL}, /* only ' ' separates */
        {"alice\rsecret", 0, RC_EPROTO, NULL, NULL},
        {"alice\tx secret", 0, RC_OK, "alice\tx", "secret"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cases[i].n != 0 ? cases[i].n : strlen(cases[i].value);
        char *copy = malloc(n > 0 ? n : 1);
        const char *u = NULL, *p = NULL;
        size_t nu = 0, np = 0;
        int rc;

        assert_non_null(copy);
        memcpy(copy, cases[i].value, n);
        rc = auth_text_credentials(copy, n, &u, &nu, &p, &np);
        if (rc != cases[i].rc) {
            fail_msg("case %zu: rc %d, expected %d", i, rc, cases[i].rc);
        }
        if (rc == RC_OK) {
            assert_true(u >= copy && u + nu <= copy + n && p >= copy && p + np <= copy + n);
            assert_int_equal(nu, strlen(cases[i].user));
            assert_memory_equal(u, cases[i].user, nu);
            assert_int_equal(np, strlen(cases[i].pass));
            assert_memory_equal(p, cases[i].pass, np);
        }
        free(copy);
    }
}

/* ------------------------------------------------------------ reload */

static void
test_reload(void **state)
{
    char *path, err[AUTH_ERR_LEN];
    struct auth *a = load_ok("alice:one\n", &path);
    struct auth_stats st;

    (void)state;
    auth_get_stats(a, &st);
    assert_int_equal(st.users, 1);
    assert_int_equal(st.reloads, 0);
    assert_int_equal(st.reload_failures, 0);
    assert_string_equal(st.last_error, "");

    file_rewrite(path, "alice:two\nbob:three\n");
    assert_int_equal(auth_reload(a, err, sizeof(err)), RC_OK);
    assert_int_equal(check(a, "alice", "one"), RC_EINVAL);
    assert_int_equal(check(a, "alice", "two"), RC_OK);
    assert_int_equal(check(a, "bob", "three"), RC_OK);
    auth_get_stats(a, &st);
    assert_int_equal(st.users, 2);
    assert_int_equal(st.reloads, 1);

    /* a malformed file: the old table stays, the failure is remembered */
    file_rewrite(path, "alice:four\nbroken\n");
    assert_int_equal(auth_reload(a, err, sizeof(err)), RC_EINVAL);
    assert_non_null(strstr(err, "line 2: malformed"));
    assert_int_equal(check(a, "alice", "two"), RC_OK);
    assert_int_equal(check(a, "alice", "four"), RC_EINVAL);
    auth_get_stats(a, &st);
    assert_int_equal(st.users, 2);
    assert_int_equal(st.reloads, 1);
    assert_int_equal(st.reload_failures, 1);
    assert_string_equal(st.last_error, err);

    /* a vanished file: the same, err may be NULL */
    unlink(path);
    assert_int_equal(auth_reload(a, NULL, 0), RC_ENOTFOUND);
    assert_int_equal(check(a, "bob", "three"), RC_OK);
    auth_get_stats(a, &st);
    assert_int_equal(st.reload_failures, 2);
    assert_non_null(strstr(st.last_error, "cannot open auth file"));

    /* back again: the error is cleared */
    file_rewrite(path, "carol:five\n");
    assert_int_equal(auth_reload(a, NULL, 0), RC_OK);
    assert_int_equal(check(a, "bob", "three"), RC_EINVAL);
    assert_int_equal(check(a, "carol", "five"), RC_OK);
    auth_get_stats(a, &st);
    assert_int_equal(st.users, 1);
    assert_int_equal(st.reloads, 2);
    assert_string_equal(st.last_error, "");
    auth_destroy(a);
    file_drop(path);
}

static void
test_reload_after_chdir(void **state)
{
    char *path = file_new_str("alice:one\n"), cwd[4096];
    struct auth *a = NULL;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir("/tmp"), 0);
    assert_int_equal(auth_create(path + strlen("/tmp/"), &a, NULL, 0), RC_OK);
    assert_int_equal(chdir("/"), 0); /* as -d does */
    file_rewrite(path, "alice:two\n");
    assert_int_equal(auth_reload(a, NULL, 0), RC_OK);
    assert_int_equal(check(a, "alice", "two"), RC_OK);
    assert_int_equal(chdir(cwd), 0);
    auth_destroy(a);
    file_drop(path);
}

#define RACE_THREADS 4

struct race {
    struct auth *a;
    atomic_bool stop;
    atomic_ulong checks;
    atomic_ulong wrong; /* a result no published table could give */
    atomic_ulong bob1;  /* bob:one passed (the first file) */
    atomic_ulong bob2;  /* bob:two passed (the second) */
};

/* alice:secret is in both files and bob:three in neither, so they always pass
 * and always fail; bob's password is "one" in one file and "two" in the
 * other, and each must be seen to pass while the tables swap. */
static void *
race_checker(void *arg)
{
    struct race *r = arg;

    while (!atomic_load(&r->stop)) {
        int alice = check(r->a, "alice", "secret");
        int none = check(r->a, "bob", "three");

        if (alice != RC_OK || none != RC_EINVAL) {
            atomic_fetch_add(&r->wrong, 1);
        }
        if (check(r->a, "bob", "one") == RC_OK) {
            atomic_fetch_add(&r->bob1, 1);
        }
        if (check(r->a, "bob", "two") == RC_OK) {
            atomic_fetch_add(&r->bob2, 1);
        }
        atomic_fetch_add(&r->checks, 1);
    }
    return NULL;
}

static void
test_reload_while_checking(void **state)
{
    static const char *files[2] = {"alice:secret\nbob:one\n", "bob:two\ncarol:x\nalice:secret\n"};
    pthread_t th[RACE_THREADS];
    struct race r = {0};
    char *path;

    (void)state;
    r.a = load_ok(files[0], &path);
    for (int i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, race_checker, &r), 0);
    }
    for (int i = 0; i < 300; i++) {
        file_rewrite(path, files[(i + 1) % 2]);
        assert_int_equal(auth_reload(r.a, NULL, 0), RC_OK);
        if (i % 50 == 0) {
            file_rewrite(path, "bad\n"); /* failures in between change nothing */
            assert_int_equal(auth_reload(r.a, NULL, 0), RC_EINVAL);
        }
    }
    while (atomic_load(&r.checks) < 100) {
        usleep(1000);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    assert_int_equal(atomic_load(&r.wrong), 0);
    assert_true(atomic_load(&r.bob1) > 0);
    assert_true(atomic_load(&r.bob2) > 0);
    assert_int_equal(check(r.a, "bob", "one"), RC_OK); /* the last file: files[0] on i = 299 */
    auth_destroy(r.a);
    file_drop(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_good),
        cmocka_unit_test(test_load_duplicates_and_long_fields),
        cmocka_unit_test(test_load_malformed),
        cmocka_unit_test(test_load_limits),
        cmocka_unit_test(test_load_empty_and_missing),
        cmocka_unit_test(test_empty_fields_never_match),
        cmocka_unit_test(test_check_hostile_lengths),
        cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_sasl_plain_parse),
        cmocka_unit_test(test_sasl_plain_check),
        cmocka_unit_test(test_text_command),
        cmocka_unit_test(test_text_credentials),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_reload_after_chdir),
        cmocka_unit_test(test_reload_while_checking),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
