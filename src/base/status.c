/* SPDX-License-Identifier: BSD-3-Clause */
/* status.c - strings for the status table in status.h. */
#include "config.h"

#include <string.h>

#include "base/status.h"

const char *
rc_strerror(int status)
{
    switch (status) {
#define RC_STATUS_CASE(name, value, text) \
    case name:                            \
        return text;
        RC_STATUS_TABLE(RC_STATUS_CASE)
#undef RC_STATUS_CASE
    default:
        break;
    }
    if (status < 0 && status > -4096) {
        return strerror(-status);
    }
    return "unknown status";
}
