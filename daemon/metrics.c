#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, int n)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n_bounds = n < METRICS_MAX_BOUNDS ? n : METRICS_MAX_BOUNDS;
}

void metrics_observe(struct metrics_histogram *h, double v)
{
    for (int i = 0; i < h->n_bounds; i++) {
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
}

int metrics_source_slot(struct metrics_sources *s, const char *source)
{
    /* Called for every record: look where the previous one was found first. */
    if (s->last > 0 && s->last <= s->n && strcmp(s->names[s->last - 1], source) == 0) {
        return s->last - 1;
    }
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], source) == 0) {
            s->last = i + 1;
            return i;
        }
    }
    if (s->n < METRICS_MAX_SOURCES) {
        char *copy = strdup(source);
        if (copy != NULL) {
            s->names[s->n] = copy;
            s->last = s->n + 1;
            return s->n++;
        }
    }
    if (s->names[METRICS_MAX_SOURCES] == NULL) {
        s->names[METRICS_MAX_SOURCES] = strdup("_other");
    }
    return METRICS_MAX_SOURCES;
}

void metrics_sources_free(struct metrics_sources *s)
{
    for (int i = 0; i <= METRICS_MAX_SOURCES; i++) {
        free(s->names[i]);
        s->names[i] = NULL;
    }
    s->n = 0;
    s->last = 0;
}

void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(FILE *f, const char *name, const char *labels, double value)
{
    if (labels != NULL && labels[0] != '\0') {
        fprintf(f, "%s{%s} ", name, labels);
    } else {
        fprintf(f, "%s ", name);
    }
    /* Integers as integers, so that counters read exactly. */
    if (value == floor(value) && fabs(value) < 9007199254740992.0) {
        fprintf(f, "%.0f\n", value);
    } else {
        fprintf(f, "%.9g\n", value);
    }
}

void metrics_write_one(FILE *f, const char *name, const char *type, const char *help, double value)
{
    metrics_family(f, name, type, help);
    metrics_sample(f, name, NULL, value);
}

void metrics_write_histogram(FILE *f, const char *name, const char *help,
                             const struct metrics_histogram *h)
{
    char series[160], le[64];
    metrics_family(f, name, "histogram", help);
    snprintf(series, sizeof(series), "%s_bucket", name);
    unsigned long cumulative = 0;
    for (int i = 0; i < h->n_bounds; i++) {
        cumulative += h->counts[i];
        snprintf(le, sizeof(le), "le=\"%g\"", h->bounds[i]);
        metrics_sample(f, series, le, (double)cumulative);
    }
    metrics_sample(f, series, "le=\"+Inf\"", (double)h->count);
    snprintf(series, sizeof(series), "%s_sum", name);
    metrics_sample(f, series, NULL, h->sum);
    snprintf(series, sizeof(series), "%s_count", name);
    metrics_sample(f, series, NULL, (double)h->count);
}

void metrics_write_by_source(FILE *f, const char *name, const char *help,
                             const struct metrics_sources *s, const metrics_by_source counts)
{
    metrics_family(f, name, "counter", help);
    for (int i = 0; i <= METRICS_MAX_SOURCES; i++) {
        if (s->names[i] == NULL) {
            continue;
        }
        char src[256], labels[320];
        metrics_label_value(src, sizeof(src), s->names[i]);
        for (int c = 0; c < RECORD_CHANNELS; c++) {
            if (counts[i][c] == 0) {
                continue;
            }
            snprintf(labels, sizeof(labels), "source=\"%s\",channel=\"%s\"", src,
                     record_channels[c]);
            metrics_sample(f, name, labels, (double)counts[i][c]);
        }
    }
}

void metrics_label_value(char *out, size_t outlen, const char *v)
{
    size_t o = 0;
    for (; *v != '\0' && o + 3 < outlen; v++) {
        if (*v == '\\' || *v == '"') {
            out[o++] = '\\';
            out[o++] = *v;
        } else if (*v == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
}
