/*
 * qload — fills a migrated touchline database with the query benchmark's data set
 * (docs/performance.md, "Query performance"):
 *   - C customers with time-ordered (UUIDv7-like) ids, created one after the other over the
 *     last --days days, each with a name and four identities (phone, e-mail, chat handle, web
 *     id, as bench/gen.c derives them from the customer's number);
 *   - N interactions with bench/gen.c's content (channels, bodies, status, …), spread over the
 *     customers with a Pareto skew (most have tens, a few hundred have thousands), each
 *     occurring between its customer's creation and now, and written in occurred_at order as a
 *     live system would have written them, so that one customer's rows are scattered over the
 *     table as they would be.
 * All of it goes in with COPY … FREEZE inside one transaction that first truncates the
 * touchline tables and drops the interactions' indexes (rebuilt at the end from their own
 * definitions: a sorted build is much faster than 5 million index insertions), and records
 * the data set's size in bench.query_dataset; then VACUUM ANALYZE and CHECKPOINT, so that the
 * measurements that follow meet neither autovacuum nor a checkpoint caused by the load.
 *
 * A benchmark tool, not part of the daemon: blocking libpq on one connection is all it needs.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "gen.h"
#include "pgexec.h"

#define COPY_CHUNK     (1024 * 1024) /* bytes per PQputCopyData */
#define PROGRESS_EVERY 500000        /* interactions between progress lines */
#define MAX_INDEXES    16
#define RUN_NAME       "qload" /* external_id prefix: "qload-<i>" */

struct options {
    const char *dsn;
    long interactions;
    long customers;
    long days;
    double alpha; /* Pareto shape of the per-customer counts */
    long seed;
    bool replace;
    bool quiet;
};

/* One interaction to write: when it happened and whose it is. */
struct event {
    int64_t when; /* seconds since the epoch */
    long customer;
};

struct plan {
    long n_customers;
    long n_events;
    uint8_t (*ids)[16];   /* per customer */
    int64_t *created;     /* per customer, seconds */
    long *counts;         /* per customer */
    struct event *events; /* n_events, sorted by when */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: qload --dsn DSN [options]\n"
            "Fills a migrated touchline database (touchlined --migrate) with the query\n"
            "benchmark's customers, identities and interactions, through COPY.\n"
            "\n"
            "  -d, --dsn DSN           libpq connection string (required)\n"
            "  -n, --interactions N    interactions (default 5000000)\n"
            "  -c, --customers N       customers (default 100000)\n"
            "      --days D            history length: customers and interactions over the\n"
            "                          last D days (default 730)\n"
            "      --skew ALPHA        Pareto shape of interactions per customer; lower is\n"
            "                          more skewed (default 1.5: median ~26, ~220 customers\n"
            "                          with 1000 or more at the default sizes)\n"
            "      --seed S            random seed (default 1)\n"
            "      --replace           empty the touchline tables first when they hold rows\n"
            "                          (without it, qload refuses to touch a database in use)\n"
            "  -q, --quiet             no progress lines\n"
            "  -h, --help              show this help\n"
            "\n"
            "Prints one line: qload customers=… identities=… interactions=… seconds=… …\n"
            "Exit status: 0 ok, 1 database error, 2 usage.\n");
}

/* Returns 0, 2 after a usage error, or -1 after --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_DAYS = 256, OPT_SKEW, OPT_SEED, OPT_REPLACE };
    static const struct option longopts[] = {
        {"dsn", required_argument, NULL, 'd'},
        {"interactions", required_argument, NULL, 'n'},
        {"customers", required_argument, NULL, 'c'},
        {"days", required_argument, NULL, OPT_DAYS},
        {"skew", required_argument, NULL, OPT_SKEW},
        {"seed", required_argument, NULL, OPT_SEED},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .interactions = 5000000,
        .customers = 100000,
        .days = 730,
        .alpha = 1.5,
        .seed = 1,
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "d:n:c:qh", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'd':
            o->dsn = optarg;
            break;
        case 'n':
            if (gen_parse_long(optarg, 1, 1000000000L, &o->interactions) < 0) {
                bad = "--interactions";
            }
            break;
        case 'c':
            if (gen_parse_long(optarg, 1, 100000000L, &o->customers) < 0) {
                bad = "--customers";
            }
            break;
        case OPT_DAYS:
            if (gen_parse_long(optarg, 1, 36500, &o->days) < 0) {
                bad = "--days";
            }
            break;
        case OPT_SKEW:
            if (gen_parse_double(optarg, 1.05, 10, &o->alpha) < 0) {
                bad = "--skew (1.05 to 10)";
            }
            break;
        case OPT_SEED:
            if (gen_parse_long(optarg, 0, 0x7fffffffL, &o->seed) < 0) {
                bad = "--seed";
            }
            break;
        case OPT_REPLACE:
            o->replace = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "qload: bad value for %s: \"%s\"\n", bad, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qload: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (o->dsn == NULL) {
        fprintf(stderr, "qload: --dsn is required\n");
        usage(stderr);
        return 2;
    }
    if (o->customers > o->interactions) {
        fprintf(stderr, "qload: every customer has at least one interaction: --customers must "
                        "not exceed --interactions\n");
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The plan: who has how many interactions, and when */

/* Uniform in [0, 1) from a counter. */
static double unit_at(uint64_t seed, uint64_t stream, uint64_t k)
{
    uint64_t h = gen_hash64(seed ^ gen_hash64(stream * 0x9e3779b97f4a7c15ULL + k));
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Interactions of the customer of rank k (0: the busiest) before rounding: Pareto quantiles,
 * scaled by s, at least 1, at most cap. */
static double pareto_count(long k, long n, double alpha, double s, double cap)
{
    double x = s * pow(1.0 - ((double)k + 0.5) / (double)n, -1.0 / alpha);
    return x < 1 ? 1 : x > cap ? cap : x;
}

static double pareto_total(long n, double alpha, double s, double cap)
{
    double t = 0;
    for (long k = 0; k < n; k++) {
        t += floor(pareto_count(k, n, alpha, s, cap));
    }
    return t;
}

/* counts[c] for every customer: total exactly n_events, each ≥ 1. Returns 0 or -1. */
static int plan_counts(struct plan *p, const struct options *o)
{
    long n = p->n_customers, total = p->n_events;
    /* The busiest customer holds 1/250 of the history (20 000 of 5 million), which keeps one
     * customer from dwarfing the rest; never less than twice the mean, so the total fits. */
    double mean = (double)total / (double)n;
    double cap = fmax((double)total / 250.0, ceil(2 * mean));
    long *rank_count = malloc((size_t)n * sizeof(*rank_count));
    long *perm = malloc((size_t)n * sizeof(*perm));
    int rc = -1;
    if (rank_count == NULL || perm == NULL) {
        fprintf(stderr, "qload: out of memory\n");
        goto out;
    }
    /* The largest scale whose rounded-down total does not exceed the target. */
    double lo = 0, hi = mean;
    while (pareto_total(n, o->alpha, hi, cap) < (double)total) {
        hi *= 2;
    }
    for (int it = 0; it < 60; it++) {
        double mid = (lo + hi) / 2;
        if (pareto_total(n, o->alpha, mid, cap) <= (double)total) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    long sum = 0;
    for (long k = 0; k < n; k++) {
        rank_count[k] = (long)floor(pareto_count(k, n, o->alpha, lo, cap));
        sum += rank_count[k];
    }
    /* What rounding left over, one more each, busiest first. */
    for (long k = 0; sum < total; k = (k + 1) % n) {
        if (rank_count[k] < (long)cap) {
            rank_count[k]++;
            sum++;
        }
    }
    /* Ranks are shuffled over the customers so that busy ones are as old as any. */
    for (long k = 0; k < n; k++) {
        perm[k] = k;
    }
    for (long k = n - 1; k > 0; k--) {
        long j = (long)(unit_at((uint64_t)o->seed, 1, (uint64_t)k) * (double)(k + 1));
        long t = perm[k];
        perm[k] = perm[j];
        perm[j] = t;
    }
    for (long c = 0; c < n; c++) {
        p->counts[c] = rank_count[perm[c]];
    }
    rc = 0;
out:
    free(rank_count);
    free(perm);
    return rc;
}

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->when != y->when) {
        return x->when < y->when ? -1 : 1;
    }
    return (x->customer > y->customer) - (x->customer < y->customer);
}

/* A UUIDv7 layout: 48 bits of Unix milliseconds, version 7, variant, the rest from c. */
static void make_id7(int64_t ms, uint64_t seed, long c, uint8_t out[16])
{
    uint64_t r1 = gen_hash64(seed ^ gen_hash64((uint64_t)c + 0x51ed270b27a0c6e5ULL));
    uint64_t r2 = gen_hash64(r1);
    for (int k = 0; k < 6; k++) {
        out[k] = (uint8_t)((uint64_t)ms >> (8 * (5 - k)));
    }
    for (int k = 6; k < 16; k++) {
        out[k] = (uint8_t)(k < 14 ? r1 >> (8 * (k - 6)) : r2 >> (8 * (k - 14)));
    }
    out[6] = (uint8_t)(0x70 | (out[6] & 0x0f));
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
}

static void plan_free(struct plan *p)
{
    free(p->ids);
    free(p->created);
    free(p->counts);
    free(p->events);
}

/* Fills *p. Returns 0 or -1 (reported). */
static int plan_make(struct plan *p, const struct options *o, int64_t now)
{
    *p = (struct plan){.n_customers = o->customers, .n_events = o->interactions};
    size_t n = (size_t)o->customers;
    p->ids = malloc(n * sizeof(*p->ids));
    p->created = malloc(n * sizeof(*p->created));
    p->counts = malloc(n * sizeof(*p->counts));
    p->events = malloc((size_t)o->interactions * sizeof(*p->events));
    if (p->ids == NULL || p->created == NULL || p->counts == NULL || p->events == NULL) {
        fprintf(stderr, "qload: out of memory for %ld interactions\n", o->interactions);
        return -1;
    }
    if (plan_counts(p, o) < 0) {
        return -1;
    }
    /* Customer c arrives at the start of its slot of the history: ids and creation times
     * follow the customer numbers, as the daemon's UUIDv7s follow creation. */
    int64_t span = o->days * 86400;
    double slot = (double)span / (double)n;
    long e = 0;
    for (long c = 0; c < p->n_customers; c++) {
        double at = (double)(now - span) +
                    ((double)c + 0.9 * unit_at((uint64_t)o->seed, 2, (uint64_t)c)) * slot;
        int64_t ms = (int64_t)(at * 1000);
        p->created[c] = ms / 1000;
        make_id7(ms, (uint64_t)o->seed, c, p->ids[c]);
        /* Its interactions: uniform between its arrival and now. */
        double life = (double)(now - p->created[c]);
        for (long k = 0; k < p->counts[c]; k++, e++) {
            double u = unit_at((uint64_t)o->seed, 3, (uint64_t)e);
            p->events[e] = (struct event){p->created[c] + (int64_t)(u * life), c};
        }
    }
    qsort(p->events, (size_t)p->n_events, sizeof(*p->events), cmp_event);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Database */

/* The single value sql returns, copied into out. Returns 0 or -1 (reported). */
static int query_value(PGconn *pg, const char *sql, char *out, size_t cap)
{
    PGresult *r = PQexec(pg, sql);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "qload: %s  in: %.300s\n", PQresultErrorMessage(r), sql);
    } else {
        snprintf(out, cap, "%s", PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* A COPY in progress: rows are gathered into chunks of COPY_CHUNK bytes. */
struct copy {
    PGconn *pg;
    char *buf;
    size_t len;
};

static int copy_begin(struct copy *cp, const char *sql)
{
    PGresult *r = PQexec(cp->pg, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "qload: %s  in: %s\n", PQresultErrorMessage(r), sql);
        rc = -1;
    }
    PQclear(r);
    cp->len = 0;
    return rc;
}

static int copy_flush(struct copy *cp)
{
    if (cp->len > 0 && PQputCopyData(cp->pg, cp->buf, (int)cp->len) != 1) {
        fprintf(stderr, "qload: COPY: %s", PQerrorMessage(cp->pg));
        return -1;
    }
    cp->len = 0;
    return 0;
}

/* Room for one more row of up to GEN_LINE_MAX bytes at cp->buf + cp->len. */
static int copy_room(struct copy *cp)
{
    return cp->len + GEN_LINE_MAX > COPY_CHUNK ? copy_flush(cp) : 0;
}

static int copy_end(struct copy *cp)
{
    if (copy_flush(cp) < 0) {
        return -1;
    }
    if (PQputCopyEnd(cp->pg, NULL) != 1) {
        fprintf(stderr, "qload: COPY: %s", PQerrorMessage(cp->pg));
        return -1;
    }
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(cp->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "qload: COPY: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* Timestamps as COPY text for timestamptz. */
static void format_ts(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* Values written without COPY escaping must not need any. */
static bool copy_safe(const char *s)
{
    return strpbrk(s, "\t\n\r\\") == NULL;
}

static int load_customers(struct copy *cp, const struct plan *p, long *identities)
{
    if (copy_begin(cp, "COPY touchline.customers (id, created_at, name) FROM STDIN FREEZE") < 0) {
        return -1;
    }
    for (long c = 0; c < p->n_customers; c++) {
        char id[37], ts[32];
        gen_uuid_text(p->ids[c], id);
        format_ts(p->created[c], ts);
        const char *name = gen_customer_name(c);
        if (!copy_safe(name) || copy_room(cp) < 0) {
            return -1;
        }
        cp->len += (size_t)snprintf(cp->buf + cp->len, GEN_LINE_MAX, "%s\t%s\t%s\n", id, ts, name);
    }
    if (copy_end(cp) < 0) {
        return -1;
    }
    if (copy_begin(cp, "COPY touchline.identities (kind, value, customer_id, created_at) "
                       "FROM STDIN FREEZE") < 0) {
        return -1;
    }
    *identities = 0;
    for (long c = 0; c < p->n_customers; c++) {
        char id[37], ts[32];
        struct gen_ident ids[GEN_CUSTOMER_IDS];
        gen_uuid_text(p->ids[c], id);
        format_ts(p->created[c], ts);
        gen_customer_identities(c, ids);
        for (int k = 0; k < GEN_CUSTOMER_IDS; k++) {
            if (!copy_safe(ids[k].norm) || copy_room(cp) < 0) {
                fprintf(stderr, "qload: identity %s of customer %ld\n", ids[k].norm, c);
                return -1;
            }
            cp->len += (size_t)snprintf(cp->buf + cp->len, GEN_LINE_MAX, "%s\t%s\t%s\t%s\n",
                                        ids[k].kind, ids[k].norm, id, ts);
            ++*identities;
        }
    }
    return copy_end(cp);
}

static int load_interactions(struct copy *cp, const struct plan *p, const struct options *o,
                             double t0)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "COPY touchline.interactions (%s) FROM STDIN FREEZE", gen_columns);
    struct gen_config cfg = {
        .run = RUN_NAME, .seed = (uint64_t)o->seed, .customers = p->n_customers};
    struct gen_record *rec = malloc(sizeof(*rec));
    int rc = -1;
    if (rec == NULL) {
        fprintf(stderr, "qload: out of memory\n");
        goto out;
    }
    if (copy_begin(cp, sql) < 0) {
        goto out;
    }
    for (long e = 0; e < p->n_events; e++) {
        const struct event *ev = &p->events[e];
        gen_record_at(&cfg, e, ev->customer, ev->when, rec);
        memcpy(rec->customer_id, p->ids[ev->customer], 16);
        if (copy_room(cp) < 0) {
            goto out;
        }
        size_t m = gen_copy_row(rec, cp->buf + cp->len, GEN_LINE_MAX);
        if (m == 0) {
            fprintf(stderr, "qload: interaction %ld does not fit\n", e);
            goto out;
        }
        cp->len += m;
        if (!o->quiet && (e + 1) % PROGRESS_EVERY == 0) {
            double t = now_s() - t0;
            fprintf(stderr, "qload: %ld/%ld interactions, %.0f s, %.0f/s\n", e + 1, p->n_events, t,
                    (double)(e + 1) / t);
        }
    }
    if (copy_end(cp) < 0) {
        goto out;
    }
    rc = 0;
out:
    free(rec);
    return rc;
}

/* The interactions' constraints and indexes: what re-creates each (create[]) and what drops
 * it (drop[]), from the catalog, so that whatever a migration defines comes back as it was. */
struct indexes {
    int n;
    char *create[MAX_INDEXES];
    char *drop[MAX_INDEXES];
};

static void indexes_free(struct indexes *ix)
{
    for (int k = 0; k < ix->n; k++) {
        free(ix->create[k]);
        free(ix->drop[k]);
    }
    ix->n = 0;
}

static int indexes_read(PGconn *pg, struct indexes *ix)
{
    static const char sql[] =
        "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, "
        "              pg_get_constraintdef(c.oid)), "
        "       format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) "
        "  FROM pg_constraint c "
        " WHERE c.conrelid = 'touchline.interactions'::regclass AND c.contype IN ('p', 'u', 'x') "
        "UNION ALL "
        "SELECT pg_get_indexdef(i.indexrelid), format('DROP INDEX %s', i.indexrelid::regclass) "
        "  FROM pg_index i "
        " WHERE i.indrelid = 'touchline.interactions'::regclass "
        "   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)";
    PGresult *r = PQexec(pg, sql);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "qload: reading the indexes: %s", PQresultErrorMessage(r));
        goto out;
    }
    if (PQntuples(r) > MAX_INDEXES) {
        fprintf(stderr, "qload: touchline.interactions has %d indexes, more than %d\n",
                PQntuples(r), MAX_INDEXES);
        goto out;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        ix->create[k] = strdup(PQgetvalue(r, k, 0));
        ix->drop[k] = strdup(PQgetvalue(r, k, 1));
        ix->n++;
        if (ix->create[k] == NULL || ix->drop[k] == NULL) {
            fprintf(stderr, "qload: out of memory\n");
            goto out;
        }
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

/* The load in one transaction. Returns 0 or -1 (reported). */
static int load(PGconn *pg, const struct plan *p, const struct options *o, double *copy_s,
                double *index_s, long *identities)
{
    struct indexes ix = {0};
    struct copy cp = {.pg = pg, .buf = malloc(COPY_CHUNK)};
    int rc = -1;
    if (cp.buf == NULL) {
        fprintf(stderr, "qload: out of memory\n");
        goto out;
    }
    if (pgexec(pg, "qload", "BEGIN") < 0 ||
        pgexec(pg, "qload", "SET LOCAL maintenance_work_mem = '1GB'") < 0 ||
        pgexec(pg, "qload", "SET LOCAL client_min_messages = warning") < 0 ||
        pgexec(pg, "qload",
               "TRUNCATE touchline.interactions, touchline.identities, touchline.merges, "
               "touchline.customers") < 0 ||
        pgexec(pg, "qload", "CREATE SCHEMA IF NOT EXISTS bench") < 0 ||
        pgexec(pg, "qload",
               "CREATE TABLE IF NOT EXISTS bench.query_dataset (interactions bigint NOT NULL, "
               "customers bigint NOT NULL, days integer NOT NULL, skew double precision NOT "
               "NULL, seed bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())") < 0 ||
        pgexec(pg, "qload", "TRUNCATE bench.query_dataset") < 0 || indexes_read(pg, &ix) < 0) {
        goto out;
    }
    for (int k = 0; k < ix.n; k++) {
        if (pgexec(pg, "qload", ix.drop[k]) < 0) {
            goto out;
        }
    }
    double t0 = now_s();
    if (!o->quiet) {
        fprintf(stderr, "qload: COPY of %ld customers and their identities\n", p->n_customers);
    }
    if (load_customers(&cp, p, identities) < 0) {
        goto out;
    }
    if (load_interactions(&cp, p, o, t0) < 0) {
        goto out;
    }
    double t1 = now_s();
    *copy_s = t1 - t0;
    for (int k = 0; k < ix.n; k++) {
        if (!o->quiet) {
            fprintf(stderr, "qload: %s\n", ix.create[k]);
        }
        if (pgexec(pg, "qload", ix.create[k]) < 0) {
            goto out;
        }
    }
    *index_s = now_s() - t1;
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO bench.query_dataset (interactions, customers, days, skew, seed) "
             "VALUES (%ld, %ld, %ld, %.17g, %ld)",
             p->n_events, p->n_customers, o->days, o->alpha, o->seed);
    if (pgexec(pg, "qload", sql) < 0 || pgexec(pg, "qload", "COMMIT") < 0) {
        goto out;
    }
    rc = 0;
out:
    if (rc < 0 && PQtransactionStatus(pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(pg, "ROLLBACK");
        PQclear(r);
    }
    indexes_free(&ix);
    free(cp.buf);
    return rc;
}

/* Refuses a database that is not migrated, or in use unless --replace. */
static int check_target(PGconn *pg, const struct options *o)
{
    char v[64];
    if (query_value(pg, "SELECT to_regclass('touchline.interactions') IS NOT NULL", v, sizeof(v)) <
        0) {
        return -1;
    }
    if (strcmp(v, "t") != 0) {
        fprintf(stderr, "qload: no touchline schema in this database; run touchlined --migrate "
                        "against it first\n");
        return -1;
    }
    if (query_value(pg,
                    "SELECT EXISTS (SELECT 1 FROM touchline.interactions) OR "
                    "EXISTS (SELECT 1 FROM touchline.customers)",
                    v, sizeof(v)) < 0) {
        return -1;
    }
    if (strcmp(v, "t") == 0 && !o->replace) {
        fprintf(stderr, "qload: the touchline tables hold rows; --replace empties them first\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    struct plan p = {0};
    PGconn *pg = PQconnectdb(o.dsn);
    rc = 1;
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "qload: connect: %s", PQerrorMessage(pg));
        goto out;
    }
    if (check_target(pg, &o) < 0) {
        goto out;
    }
    double t0 = now_s();
    if (plan_make(&p, &o, (int64_t)time(NULL)) < 0) {
        goto out;
    }
    double plan_s = now_s() - t0;
    long busiest = 0, at_least_1000 = 0;
    for (long c = 0; c < p.n_customers; c++) {
        busiest = p.counts[c] > busiest ? p.counts[c] : busiest;
        at_least_1000 += p.counts[c] >= 1000;
    }
    if (!o.quiet) {
        fprintf(stderr,
                "qload: plan made in %.1f s: %ld interactions over %ld customers, busiest %ld, "
                "%ld with 1000 or more\n",
                plan_s, p.n_events, p.n_customers, busiest, at_least_1000);
    }
    double copy_s = 0, index_s = 0;
    long identities = 0;
    if (load(pg, &p, &o, &copy_s, &index_s, &identities) < 0) {
        goto out;
    }
    double t1 = now_s();
    if (!o.quiet) {
        fprintf(stderr, "qload: committed; VACUUM ANALYZE and CHECKPOINT\n");
    }
    /* Outside the transaction: VACUUM cannot run inside one. */
    if (pgexec(pg, "qload",
               "VACUUM (ANALYZE) touchline.customers, touchline.identities, "
               "touchline.interactions") < 0 ||
        pgexec(pg, "qload", "CHECKPOINT") < 0) {
        goto out;
    }
    double vacuum_s = now_s() - t1;
    char size[64];
    if (query_value(pg, "SELECT pg_total_relation_size('touchline.interactions') / 1048576", size,
                    sizeof(size)) < 0) {
        goto out;
    }
    double secs = now_s() - t0;
    printf("qload customers=%ld identities=%ld interactions=%ld busiest=%ld customers_1000=%ld "
           "seconds=%.1f copy_seconds=%.1f index_seconds=%.1f vacuum_seconds=%.1f rate=%.0f "
           "interactions_mb=%s\n",
           p.n_customers, identities, p.n_events, busiest, at_least_1000, secs, copy_s, index_s,
           vacuum_s, (double)p.n_events / copy_s, size);
    rc = 0;
out:
    plan_free(&p);
    PQfinish(pg);
    return rc;
}
