/*
 * Logging: one line per event on stderr, "<UTC timestamp> <level> <message> key=value ...".
 * The level is checked before anything is formatted, so debug lines cost nothing when off.
 * The level lives in a struct passed by the caller's context; the default logger is the one
 * the daemon context owns, installed with log_set_level() before the event loop starts.
 */
#ifndef TOUCHLINE_LOG_H
#define TOUCHLINE_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
};

/* Sets the process-wide threshold. Called at start and on config reload only. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn", "info", "debug". Returns 0, or -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out) __attribute__((warn_unused_result));
const char *log_level_name(enum log_level level);

/* True when a line of this level would be written. */
bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A limit on lines of one kind that an outsider can cause (failed logins): at most per_s a
 * second, so that a flood cannot fill the disk. The caller owns the struct (zeroed).
 */
struct log_limit {
    long second;
    unsigned in_second;
    unsigned long suppressed;
};

/*
 * True when a line may be written now; *suppressed then holds how many were dropped since
 * the last line written (to say so in it). False counts a dropped line.
 */
bool log_limit_allow(struct log_limit *l, unsigned per_s, unsigned long *suppressed);

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_enabled(LOG_INFO))                                                                 \
            log_write(LOG_INFO, __VA_ARGS__);                                                      \
    } while (0)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
