/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.h - leveled logging to stderr. The verbosity (memcached's -v count and
 * the `verbosity` command) is one atomic owned by log.c and changed only
 * through log_set_verbosity(). Messages at or below the verbosity print.
 *   level 0: errors and warnings (always)   1 (-v): info
 *   2 (-vv): per-connection/command detail  3 (-vvv): internal state
 */
#ifndef RC_BASE_LOG_H
#define RC_BASE_LOG_H

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN = 0,
    LOG_LVL_INFO = 1,
    LOG_LVL_DEBUG = 2,
    LOG_LVL_TRACE = 3
};

void log_set_verbosity(int level);
int log_get_verbosity(void);
int log_enabled(int level);
void log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_LVL_ERROR, "error", __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LVL_WARN, "warning", __VA_ARGS__)
#define log_info(...)  log_write(LOG_LVL_INFO, "info", __VA_ARGS__)
#define log_debug(...)                                      \
    do {                                                    \
        if (log_enabled(LOG_LVL_DEBUG))                     \
            log_write(LOG_LVL_DEBUG, "debug", __VA_ARGS__); \
    } while (0)
#define log_trace(...)                                      \
    do {                                                    \
        if (log_enabled(LOG_LVL_TRACE))                     \
            log_write(LOG_LVL_TRACE, "trace", __VA_ARGS__); \
    } while (0)

#endif
