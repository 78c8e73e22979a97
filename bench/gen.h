/*
 * bench/gen.h — the synthetic interaction records the benchmark tools send.
 *
 * Record i of a run is a pure function of (config, i): loadgen and baseline produce the same
 * rows, whichever connection or transaction carries them, and nothing is allocated per record.
 */
#ifndef TOUCHLINE_BENCH_GEN_H
#define TOUCHLINE_BENCH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest body in bytes (CONTRACT allows 64 KiB; the benchmark's mix stays at 0–2 KB). */
#define GEN_BODY_MAX 2048
/* No generated line (JSON + newline) or COPY row is longer than this. */
#define GEN_LINE_MAX 8192

struct gen_config {
    const char *run; /* external_id prefix, unique per run; borrowed, ≤ 32 chars */
    uint64_t seed;   /* varies everything but the customers' identifiers */
    long customers;  /* distinct customers, ≥ 1 */
    double two_ids;  /* share of records that carry phone + email, 0..1 */
};

struct gen_ident {
    const char *kind; /* "phone", "email", "chat", "web" */
    char raw[80];     /* as an adapter would send it: national, Persian digits, upper case… */
    char norm[80];    /* as the daemon normalizes it */
};

struct gen_record {
    long index;
    long customer;
    const char *source;
    const char *channel;
    const char *direction;
    char external_id[96];
    char occurred_at[40];
    const char *name; /* NULL: none */
    int n_ids;
    struct gen_ident ids[2];
    char agent[24];     /* "": none */
    const char *status; /* NULL: none */
    int duration_s;     /* < 0: none */
    char subject[160];  /* "": none */
    char body[GEN_BODY_MAX + 1];
    size_t body_len; /* 0: none */
    char thread[48]; /* "": none */
    const char *stage;
    const char *sentiment;
    int score;               /* < 0: none */
    int tags;                /* index into the tag sets, < 0: none */
    char attributes[128];    /* JSON object text, "": none */
    uint8_t id[16];          /* idempotency key, for the baseline's table */
    uint8_t customer_id[16]; /* the baseline's stand-in for identity resolution */
};

/* Fills *out with record index of the run described by cfg. Never fails, never allocates. */
void gen_record(const struct gen_config *cfg, long index, struct gen_record *out);

/* Like gen_record, but for customer number `customer` (any number ≥ 0, whatever
 * cfg->customers says) and occurred_at at `when`, seconds since the epoch (written in one of the
 * same spellings). customer_id stays the one gen_record would give; callers with ids of their own
 * overwrite it. Never fails, never allocates. */
void gen_record_at(const struct gen_config *cfg, long index, long customer, int64_t when,
                   struct gen_record *out);

/* The identifiers the records of customer c carry (one or two each), normalized (norm) as the
 * daemon stores them in touchline.identities: phone, email, chat, web, in that order. */
#define GEN_CUSTOMER_IDS 4
void gen_customer_identities(long c, struct gen_ident ids[GEN_CUSTOMER_IDS]);

/* The display name records of customer c carry when they carry one (borrowed, static). */
const char *gen_customer_name(long c);

/* Writes r as one NDJSON line (newline included) to buf. Returns its length, or 0 when it
 * does not fit in cap bytes. */
size_t gen_json(const struct gen_record *r, char *buf, size_t cap);

/* Writes r as one row of COPY text format (columns as gen_columns, newline included).
 * Returns its length, or 0 when it does not fit in cap bytes. */
size_t gen_copy_row(const struct gen_record *r, char *buf, size_t cap);

/* The columns gen_copy_row writes and gen_params fills, in order, comma-separated. */
extern const char gen_columns[];
#define GEN_NCOLUMNS 19

/* Text parameters for an INSERT of gen_columns: values[k] is NULL for SQL NULL. The strings
 * point into r or into scratch (which must hold GEN_LINE_MAX bytes); both must outlive use. */
void gen_params(const struct gen_record *r, char *scratch, const char *values[GEN_NCOLUMNS]);

/* A 64-bit mix of x (splitmix64's finalizer): counter-based random numbers for the tools. */
uint64_t gen_hash64(uint64_t x);

/* Formats a 16-byte id as the canonical 36-character UUID text plus NUL. */
void gen_uuid_text(const uint8_t id[16], char out[37]);

/* Parses a whole decimal number in [lo, hi] (command-line options). Returns 0, or -1. */
int gen_parse_long(const char *s, long lo, long hi, long *out);

/* Parses a whole decimal real in [lo, hi] (command-line options). Returns 0, or -1. */
int gen_parse_double(const char *s, double lo, double hi, double *out);

#endif
