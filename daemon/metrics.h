/*
 * The pieces of GET /metrics (Prometheus text exposition format 0.0.4): histograms with
 * fixed bounds, counters by adapter source and channel, and the writers that print
 * families. Each module keeps its own counts in these types; http.c asks each for them and
 * prints the page. Label values are escaped as the format requires.
 */
#ifndef TOUCHLINED_METRICS_H
#define TOUCHLINED_METRICS_H

#include <stdio.h>

#include "record.h"

#define METRICS_MAX_BOUNDS 16

struct metrics_histogram {
    const double *bounds; /* upper bounds, increasing, without +Inf */
    int n_bounds;
    unsigned long counts[METRICS_MAX_BOUNDS]; /* per bound, not cumulative */
    unsigned long count;
    double sum;
};

/* Sets h up with n bounds (at most METRICS_MAX_BOUNDS, kept by pointer). */
void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, int n);
void metrics_observe(struct metrics_histogram *h, double v);

/*
 * Slots for counts by (source, channel). Sources are whatever adapters call themselves, so
 * their number is capped: past METRICS_MAX_SOURCES distinct ones, the rest count as
 * "_other". Counts live in arrays [METRICS_SOURCE_SLOTS][RECORD_CHANNELS] beside it.
 */
#define METRICS_MAX_SOURCES  128
#define METRICS_SOURCE_SLOTS (METRICS_MAX_SOURCES + 1)

struct metrics_sources {
    char *names[METRICS_SOURCE_SLOTS]; /* the last is "_other" once used */
    int n;
    int last; /* the slot found last (plus one; 0: none): records come in runs of a source */
};

typedef unsigned long metrics_by_source[METRICS_SOURCE_SLOTS][RECORD_CHANNELS];

/* The slot of source (added when new). Never fails: "_other" when full or out of memory. */
int metrics_source_slot(struct metrics_sources *s, const char *source);
void metrics_sources_free(struct metrics_sources *s);

/* "# HELP" and "# TYPE" lines of a family. */
void metrics_family(FILE *f, const char *name, const char *type, const char *help);

/* One sample; labels is NULL or a preformatted {a="b"} list without braces. */
void metrics_sample(FILE *f, const char *name, const char *labels, double value);

/* A family of one sample without labels: its HELP and TYPE lines, then the value. */
void metrics_write_one(FILE *f, const char *name, const char *type, const char *help, double value);

/* A histogram family with its _bucket, _sum and _count samples. */
void metrics_write_histogram(FILE *f, const char *name, const char *help,
                             const struct metrics_histogram *h);

/* A counter family by source and channel (only the pairs that were seen). */
void metrics_write_by_source(FILE *f, const char *name, const char *help,
                             const struct metrics_sources *s, const metrics_by_source counts);

/* Writes v into out as a label value: backslash, double quote and newline escaped. */
void metrics_label_value(char *out, size_t outlen, const char *v);

#endif
