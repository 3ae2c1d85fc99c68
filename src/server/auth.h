/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * auth.h - the password file (-Y) and the checks made against it: memcached
 * 1.6's ascii authentication and, with -S, binary SASL PLAIN (RFC 4616).
 *
 * No sockets, no libevent: the connection layer hands in bytes and sends the
 * replies listed below. One struct auth is created at start-up from the -Y
 * file and shared by every worker thread; auth_reload() (the main thread, on
 * SIGHUP) builds a whole new table and swaps it in, so a check sees either
 * the old table or the new one, never a half-built one. A failed reload keeps
 * the old table, logs why and is remembered for auth_get_stats().
 *
 * The file, as memcached reads it: one "user:password" per line, split at the
 * first ':' (a password may hold ':'), the line ending "\n" or "\r\n". A line
 * without ':' (blank lines and '#' comments included) makes the whole file
 * malformed, as in memcached. ringcached differs where memcached 1.6.18 is
 * plainly broken: it keeps every entry (memcached silently ignores all but
 * the first 8; here more than AUTH_MAX_USERS is an error), keeps the last
 * character of a last line with no newline (memcached drops it), and refuses
 * NUL or CR inside an entry or a user or password over AUTH_MAX_FIELD bytes
 * (memcached stops reading the file there, or splits the line).
 *
 * Timing: a check compares the candidate against every entry, each field
 * padded to a fixed width, and never stops early; its time depends only on
 * the number of entries loaded, not on the user name, the password, their
 * lengths or which entry (if any) matches.
 *
 * Thread safety: auth_check, auth_sasl_plain and auth_get_stats may run in
 * any thread at any time; auth_reload from one thread at a time; the pure
 * parsers touch nothing shared. auth_destroy when no other thread can call.
 */
#ifndef RC_SERVER_AUTH_H
#define RC_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MAX_FIELD     255     /* bytes in a user name, password or SASL authzid */
#define AUTH_MAX_USERS     256     /* entries in one file */
#define AUTH_MAX_FILE      1048576 /* bytes in the file */
#define AUTH_ERR_LEN       256     /* room for any message this module writes */
#define AUTH_SASL_MECH_MAX 32      /* memcached: a longer mechanism name is EINVAL */
/* A binary SASL PLAIN message can never be longer than this. */
#define AUTH_SASL_PLAIN_MAX (3 * AUTH_MAX_FIELD + 2)
/* Unauthenticated text connection (memcached 1.6.18, measured): no '\n' in
 * this many bytes closes the connection; a data block whose <bytes> + 2 is
 * over AUTH_TEXT_MAX_DATA does not fit memcached's read buffer and closes it
 * too. */
#define AUTH_TEXT_MAX_LINE 2048
#define AUTH_TEXT_MAX_DATA 16384

struct auth; /* opaque; shared by all threads */

struct auth_stats {
    size_t users;                  /* entries in the table in use */
    uint64_t reloads;              /* successful auth_reload calls */
    uint64_t reload_failures;      /* failed ones (the old table stayed) */
    char last_error[AUTH_ERR_LEN]; /* the last reload's failure; "" after a success */
};

/*
 * Load `path` and make *out. RC_OK; RC_ENOTFOUND (no such file), RC_EIO
 * (cannot open or read it), RC_EINVAL (malformed: the message names the
 * line), RC_ETOOLARGE (over AUTH_MAX_FILE or AUTH_MAX_USERS), RC_ENOMEM. On
 * failure a one-line message goes to err (may be NULL) and nothing is logged:
 * the caller reports it. The path is copied, made absolute so that
 * reloads after a chdir read the same file. Entries that can never
 * authenticate (empty user or password) are logged as warnings.
 */
int auth_create(const char *path, struct auth **out, char *err, size_t errlen);
void auth_destroy(struct auth *a); /* NULL is fine */

/*
 * Read the file again (the path given to auth_create) and swap the new table
 * in. Same statuses as auth_create; on failure the old table stays in use,
 * the failure is logged with log_error and kept for auth_get_stats, and the
 * message goes to err if not NULL. Checks running meanwhile are not blocked
 * beyond a pointer swap.
 */
int auth_reload(struct auth *a, char *err, size_t errlen);

/*
 * RC_OK when (user, pass) is an entry of the current table, RC_EINVAL when
 * not (an empty user or password never matches: memcached's text exchange
 * cannot send one and RFC 4616 forbids them). Neither needs a NUL.
 */
int auth_check(struct auth *a, const char *user, size_t nuser, const char *pass, size_t npass);

/* Counters and the table size, for stats. */
void auth_get_stats(struct auth *a, struct auth_stats *out);

/* 1 when a[0..n) == b[0..n), else 0, in time that depends on n only. */
int auth_equal_ct(const void *a, const void *b, size_t n);

/* ------------------------------------------------------------ binary SASL (-S)
 *
 * memcached 1.6's binary SASL, with PLAIN the one mechanism:
 *  0x20 SASL list mechs (extlen, keylen, bodylen all 0, else EINVAL and close):
 *       status 0, value auth_sasl_mechs().
 *  0x21 SASL auth (extlen 0, keylen != 0, else EINVAL and close): key is the
 *       mechanism (keylen > AUTH_SASL_MECH_MAX: status 0x04 EINVAL, body
 *       swallowed); value the PLAIN message. If auth_sasl_mech_supported and
 *       auth_sasl_plain give RC_OK: status 0, value "Authenticated", count
 *       auth_cmds. Anything else: status 0x20 "Auth failure.", count
 *       auth_cmds and auth_errors; the connection stays open and is
 *       unauthenticated (memcached resets it on every SASL auth).
 *  0x22 SASL step: PLAIN has one step, so always 0x20 "Auth failure.",
 *       counted as a failure.
 *  Any other opcode but 0x0b version before success: status 0x20
 *  "Auth failure.", then close the connection.
 */

/* "PLAIN": the value of a list-mechs reply. Static. */
const char *auth_sasl_mechs(void);

/* Whether the key of a SASL auth names PLAIN (ASCII case-insensitive). */
bool auth_sasl_mech_supported(const char *mech, size_t n);

/*
 * Split an RFC 4616 message, [authzid] NUL authcid NUL passwd, reading no
 * byte at or past data + n. RC_EPROTO unless: exactly two NULs, authcid and
 * passwd 1..AUTH_MAX_FIELD bytes, authzid at most AUTH_MAX_FIELD bytes and
 * either empty or equal to authcid. On RC_OK the out pointers point into data.
 */
int auth_sasl_plain_parse(const char *data, size_t n, const char **user, size_t *nuser,
                          const char **pass, size_t *npass);

/* Parse, then auth_check: RC_OK, RC_EINVAL (wrong credentials) or RC_EPROTO
 * (malformed message). Both failures answer 0x20. */
int auth_sasl_plain(struct auth *a, const char *data, size_t n);

/* ------------------------------------------------------------ text (-Y)
 *
 * memcached 1.6.18's exchange, verified against it. Until authenticated, a
 * text connection accepts only
 *     set <key> <flags> <exptime> <bytes> [anything]\r\n<user> <password>\r\n
 * key, flags, exptime, noreply and extra tokens are ignored; no item is
 * stored. For each line (up to '\n'; none within AUTH_TEXT_MAX_LINE bytes:
 * close the connection):
 *   auth_text_command != RC_OK (any other command: get, version, quit, an
 *       empty line, "SET", a bad <bytes>): "CLIENT_ERROR unauthenticated",
 *       line consumed, connection kept, nothing counted.
 *       RC_ETOOLARGE: close the connection.
 *   else read <bytes> + 2 bytes; if the last two are not "\r\n":
 *       "CLIENT_ERROR bad command line termination" (block consumed,
 *       nothing counted).
 *   auth_text_credentials != RC_OK: "CLIENT_ERROR bad authentication token
 *       format" (nothing counted).
 *   auth_check RC_OK: "STORED", authenticated from now on, auth_cmds++.
 *   else "CLIENT_ERROR authentication failure", auth_cmds++ and
 *       auth_errors++; the connection stays open and may try again.
 * noreply does not silence these replies. Once authenticated, set and every
 * other command work normally. (memcached loses all but the last reply of
 * commands pipelined in one read before authentication; answer each.)
 */

/*
 * The command line of an unauthenticated text connection, without its '\n'
 * (a trailing '\r' is fine). RC_OK with *nbytes when it is "set" with at
 * least four more space-separated tokens and a <bytes> token that is a
 * decimal number (trailing whitespace in the token ignored, as strtoul
 * does); RC_ETOOLARGE when <bytes> + 2 exceeds AUTH_TEXT_MAX_DATA; RC_EPROTO
 * otherwise.
 */
int auth_text_command(const char *line, size_t n, uint32_t *nbytes);

/*
 * The data block of that set, without its "\r\n": user and password are its
 * first two tokens separated by runs of spaces (only ' ' separates; leading
 * spaces skipped, further tokens ignored). As in memcached the block ends at
 * its first NUL byte. RC_OK with pointers into value, or RC_EPROTO when there
 * are fewer than two tokens.
 */
int auth_text_credentials(const char *value, size_t n, const char **user, size_t *nuser,
                          const char **pass, size_t *npass);

#endif
