/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * options.h - command line and --config file parsing into struct config.
 * Accepts memcached 1.6's flags with memcached's meaning and defaults, plus
 * ringcached's long options; validates the whole result.
 */
#ifndef RC_SERVER_OPTIONS_H
#define RC_SERVER_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "server/daemon_config.h"

#define OPTIONS_EXIT 1 /* -h or -V printed its text: exit with status 0 */

void config_init_defaults(struct config *cfg);
void config_deinit(struct config *cfg);

/* Parse argv (after defaults). RC_OK: run. OPTIONS_EXIT: exit 0. RC_EINVAL:
 * err holds a one-line message naming the option. Warnings (memcached-internal
 * -o options that do not apply) are written to `warn` (may be NULL). */
int options_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen, FILE *warn);
void options_usage(FILE *out);

#endif
