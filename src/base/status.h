/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * status.h - the one table of status codes every ringcached function returns.
 *
 * 0 is success; failures are named negative codes in a reserved range so they
 * never collide with -errno values. "Try again" (RC_EAGAIN) is distinct from
 * failure. rc_strerror() gives a short static English string for each.
 */
#ifndef RC_BASE_STATUS_H
#define RC_BASE_STATUS_H

#define RC_STATUS_TABLE(X)                        \
    X(RC_OK, 0, "ok")                             \
    X(RC_ENOMEM, -7001, "out of memory")          \
    X(RC_ENOTFOUND, -7002, "not found")           \
    X(RC_EEXISTS, -7003, "exists")                \
    X(RC_ENOTSTORED, -7004, "not stored")         \
    X(RC_ETOOLARGE, -7005, "object too large")    \
    X(RC_EIO, -7006, "storage i/o error")         \
    X(RC_ENOSPC, -7007, "out of disk space")      \
    X(RC_EAGAIN, -7008, "try again")              \
    X(RC_EPROTO, -7009, "protocol error")         \
    X(RC_EINVAL, -7010, "invalid argument")       \
    X(RC_ENONNUMERIC, -7011, "non-numeric value") \
    X(RC_ECORRUPT, -7012, "corrupt record")       \
    X(RC_EINTERNAL, -7013, "internal error")      \
    X(RC_EDEADLOCK, -7014, "deadlock, retry")     \
    X(RC_ECLOSED, -7015, "closed")                \
    X(RC_EDISABLED, -7016, "disabled")            \
    X(RC_EBADCONTEXT, -7017, "bad context")       \
    X(RC_ESIBLINGS, -7018, "too many siblings")

enum rc_status {
#define RC_STATUS_ENUM(name, value, text) name = value,
    RC_STATUS_TABLE(RC_STATUS_ENUM)
#undef RC_STATUS_ENUM
};

/* Static string for a status (or for -errno values, strerror's text). */
const char *rc_strerror(int status);

#endif
