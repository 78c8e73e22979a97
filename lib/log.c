#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/*
 * The one piece of process-wide state: the log threshold. Signal-driven reloads change it
 * from the event loop thread only, so a plain variable suffices.
 */
static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    if (level > LOG_DEBUG) {
        return "?";
    }
    return level_names[level];
}

bool log_enabled(enum log_level level)
{
    return level <= current_level;
}

bool log_limit_allow(struct log_limit *l, unsigned per_s, unsigned long *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ts.tv_sec != l->second) {
        l->second = ts.tv_sec;
        l->in_second = 0;
    }
    if (l->in_second >= per_s) {
        l->suppressed++;
        return false;
    }
    l->in_second++;
    *suppressed = l->suppressed;
    l->suppressed = 0;
    return true;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", (long)(tv.tv_usec / 1000),
                          log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        m = 0;
    }
    n += (size_t)m;
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    /* One write per line so that lines from concurrent processes do not interleave. */
    fwrite(line, 1, n, stderr);
}
