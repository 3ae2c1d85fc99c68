/* SPDX-License-Identifier: BSD-3-Clause */
/* log.c - see log.h. One line per message, written with a single write(2). */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

static atomic_int log_verbosity;

void
log_set_verbosity(int level)
{
    if (level < 0) {
        level = 0;
    }
    atomic_store_explicit(&log_verbosity, level, memory_order_relaxed);
}

int
log_get_verbosity(void)
{
    return atomic_load_explicit(&log_verbosity, memory_order_relaxed);
}

int
log_enabled(int level)
{
    return level <= log_get_verbosity();
}

void
log_write(int level, const char *tag, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    if (!log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ringcached[%d] %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 (int)getpid(), tag);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    n += m;
    if ((size_t)n > sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
