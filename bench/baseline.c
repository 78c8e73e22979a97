/*
 * baseline — what PostgreSQL alone does with the benchmark's records, for comparison with
 * touchlined:
 *   --mode copy   COPY, 1 000 rows per transaction (--batch), the ceiling of bulk loading;
 *   --mode naive  one synchronous INSERT per record in autocommit, what a simple ingester does.
 * The rows are those loadgen sends (bench/gen.c: same columns, sizes and text), written into a
 * plain table shaped like touchline.interactions, with its indexes, and no identity
 * resolution (customer_id is derived from the customer number).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "gen.h"
#include "pgexec.h"

#define COPY_FLUSH (128 * 1024)

enum mode { MODE_NONE, MODE_COPY, MODE_NAIVE };

struct options {
    const char *dsn;
    enum mode mode;
    long records;
    long batch;
    const char *table;
    bool append; /* keep the table and its rows: a soak adds chunk after chunk */
    struct gen_config gen;
    char run[40];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: baseline --dsn DSN --mode copy|naive [options]\n"
                 "Writes the benchmark's records straight into PostgreSQL and reports rows/s.\n"
                 "\n"
                 "  -d, --dsn DSN          libpq connection string (required)\n"
                 "  -m, --mode MODE        copy: COPY, --batch rows per transaction;\n"
                 "                         naive: one INSERT per row in autocommit (required)\n"
                 "  -n, --records N        rows (default 100000)\n"
                 "  -b, --batch N          rows per COPY transaction (default 1000)\n"
                 "  -t, --table NAME       table in schema bench, dropped and created\n"
                 "                         (default: copy_interactions or naive_interactions)\n"
                 "      --append           keep the table and its rows, create it if missing\n"
                 "      --customers N      distinct customers (default 100000)\n"
                 "      --two-ids SHARE    share of records carrying phone + email (default 0.2)\n"
                 "      --run ID           external_id prefix (default: from the clock and pid)\n"
                 "      --seed S           random seed (default 1)\n"
                 "  -h, --help             show this help\n"
                 "\n"
                 "Prints one line: baseline mode=… rows=… seconds=… rate=…\n"
                 "Exit status: 0 ok, 1 database error, 2 usage.\n");
}

/* Every character of s in set, and 1 to max of them. */
static bool valid_name(const char *s, const char *set, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strspn(s, set) == n;
}

#define TABLE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define RUN_CHARS   TABLE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-"

/* Returns 0, 2 after a usage error, or -1 after --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_CUSTOMERS = 256, OPT_TWO_IDS, OPT_RUN, OPT_SEED, OPT_APPEND };
    static const struct option longopts[] = {
        {"dsn", required_argument, NULL, 'd'},
        {"mode", required_argument, NULL, 'm'},
        {"records", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},
        {"table", required_argument, NULL, 't'},
        {"append", no_argument, NULL, OPT_APPEND},
        {"customers", required_argument, NULL, OPT_CUSTOMERS},
        {"two-ids", required_argument, NULL, OPT_TWO_IDS},
        {"run", required_argument, NULL, OPT_RUN},
        {"seed", required_argument, NULL, OPT_SEED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){
        .mode = MODE_NONE,
        .records = 100000,
        .batch = 1000,
        .gen = {.seed = 1, .customers = 100000, .two_ids = 0.2},
    };
    snprintf(o->run, sizeof(o->run), "bl%lx%x", (long)time(NULL), (unsigned)getpid());
    int opt;
    long v;
    while ((opt = getopt_long(argc, argv, "d:m:n:b:t:h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'd':
            o->dsn = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "copy") == 0) {
                o->mode = MODE_COPY;
            } else if (strcmp(optarg, "naive") == 0) {
                o->mode = MODE_NAIVE;
            } else {
                bad = "--mode";
            }
            break;
        case 'n':
            if (gen_parse_long(optarg, 1, 1000000000L, &o->records) < 0) {
                bad = "--records";
            }
            break;
        case 'b':
            if (gen_parse_long(optarg, 1, 10000000L, &o->batch) < 0) {
                bad = "--batch";
            }
            break;
        case 't':
            if (!valid_name(optarg, TABLE_CHARS, 40)) {
                bad = "--table";
            }
            o->table = optarg;
            break;
        case OPT_APPEND:
            o->append = true;
            break;
        case OPT_CUSTOMERS:
            if (gen_parse_long(optarg, 1, 1000000000L, &o->gen.customers) < 0) {
                bad = "--customers";
            }
            break;
        case OPT_TWO_IDS:
            if (gen_parse_double(optarg, 0, 1, &o->gen.two_ids) < 0) {
                bad = "--two-ids";
            }
            break;
        case OPT_RUN:
            if (!valid_name(optarg, RUN_CHARS, 32)) {
                bad = "--run";
            } else {
                snprintf(o->run, sizeof(o->run), "%s", optarg);
            }
            break;
        case OPT_SEED:
            if (gen_parse_long(optarg, 0, 0x7fffffffL, &v) < 0) {
                bad = "--seed";
            }
            o->gen.seed = (uint64_t)v;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "baseline: bad value for %s: \"%s\"\n", bad, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "baseline: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (o->dsn == NULL || o->mode == MODE_NONE) {
        fprintf(stderr, "baseline: --dsn and --mode are required\n");
        usage(stderr);
        return 2;
    }
    if (o->table == NULL) {
        o->table = o->mode == MODE_COPY ? "copy_interactions" : "naive_interactions";
    }
    o->gen.run = o->run;
    return 0;
}

/* The table: touchline.interactions' columns, collations and indexes (sql/001_init.sql,
 * sql/004_byte_keys.sql). */
static int create_table(PGconn *pg, const char *t, bool append)
{
    char sql[2048];
    const char *fresh = append ? "" : "DROP TABLE IF EXISTS bench.";
    snprintf(sql, sizeof(sql),
             "SET client_min_messages = warning;"
             "CREATE SCHEMA IF NOT EXISTS bench;"
             "%s%s%s"
             "CREATE TABLE IF NOT EXISTS bench.%s ("
             " id uuid PRIMARY KEY, source text COLLATE \"C\" NOT NULL,"
             " external_id text COLLATE \"C\","
             " customer_id uuid NOT NULL, channel text NOT NULL, direction text NOT NULL,"
             " occurred_at timestamptz NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),"
             " agent text, status text, duration_s integer, subject text, body text,"
             " thread text, stage text, sentiment text, score smallint, tags text[],"
             " attributes jsonb, identifiers jsonb NOT NULL);"
             "CREATE UNIQUE INDEX IF NOT EXISTS %s_source_external ON bench.%s"
             " (source, external_id) WHERE external_id IS NOT NULL;"
             "CREATE INDEX IF NOT EXISTS %s_timeline ON bench.%s"
             " (customer_id, occurred_at DESC, id DESC);",
             fresh, append ? "" : t, append ? "" : ";", t, t, t, t, t);
    return pgexec(pg, "baseline", sql);
}

static int run_copy(PGconn *pg, const struct options *o)
{
    char copy_sql[512];
    snprintf(copy_sql, sizeof(copy_sql), "COPY bench.%s (%s) FROM STDIN", o->table, gen_columns);
    char *buf = malloc(COPY_FLUSH + GEN_LINE_MAX);
    struct gen_record *rec = malloc(sizeof(*rec));
    int rc = -1;
    if (buf == NULL || rec == NULL) {
        fprintf(stderr, "baseline: out of memory\n");
        goto out;
    }
    for (long done = 0; done < o->records;) {
        long n = o->records - done < o->batch ? o->records - done : o->batch;
        if (pgexec(pg, "baseline", "BEGIN") < 0) {
            goto out;
        }
        PGresult *r = PQexec(pg, copy_sql);
        if (PQresultStatus(r) != PGRES_COPY_IN) {
            fprintf(stderr, "baseline: COPY: %s", PQresultErrorMessage(r));
            PQclear(r);
            goto out;
        }
        PQclear(r);
        size_t len = 0;
        for (long k = 0; k < n; k++) {
            gen_record(&o->gen, done + k, rec);
            size_t m = gen_copy_row(rec, buf + len, GEN_LINE_MAX);
            if (m == 0) {
                fprintf(stderr, "baseline: row %ld does not fit\n", done + k);
                goto out;
            }
            len += m;
            if (len >= COPY_FLUSH || k == n - 1) {
                if (PQputCopyData(pg, buf, (int)len) != 1) {
                    fprintf(stderr, "baseline: COPY: %s", PQerrorMessage(pg));
                    goto out;
                }
                len = 0;
            }
        }
        if (PQputCopyEnd(pg, NULL) != 1) {
            fprintf(stderr, "baseline: COPY: %s", PQerrorMessage(pg));
            goto out;
        }
        bool failed = false;
        while ((r = PQgetResult(pg)) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "baseline: COPY: %s", PQresultErrorMessage(r));
                failed = true;
            }
            PQclear(r);
        }
        if (failed || pgexec(pg, "baseline", "COMMIT") < 0) {
            goto out;
        }
        done += n;
    }
    rc = 0;
out:
    free(buf);
    free(rec);
    return rc;
}

static int run_naive(PGconn *pg, const struct options *o)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO bench.%s (%s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
             "$12, $13, $14, $15, $16, $17, $18, $19)",
             o->table, gen_columns);
    PGresult *r = PQprepare(pg, "ins", sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "baseline: prepare: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    struct gen_record *rec = malloc(sizeof(*rec));
    char *scratch = malloc(GEN_LINE_MAX);
    int rc = -1;
    if (rec == NULL || scratch == NULL) {
        fprintf(stderr, "baseline: out of memory\n");
        goto out;
    }
    for (long k = 0; k < o->records; k++) {
        const char *values[GEN_NCOLUMNS];
        gen_record(&o->gen, k, rec);
        gen_params(rec, scratch, values);
        r = PQexecPrepared(pg, "ins", GEN_NCOLUMNS, values, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "baseline: INSERT row %ld: %s", k, PQresultErrorMessage(r));
            PQclear(r);
            goto out;
        }
        PQclear(r);
    }
    rc = 0;
out:
    free(rec);
    free(scratch);
    return rc;
}

static long count_rows(PGconn *pg, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM bench.%s", table);
    PGresult *r = PQexec(pg, sql);
    long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        n = atol(PQgetvalue(r, 0, 0));
    } else {
        fprintf(stderr, "baseline: count: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
    return n;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    PGconn *pg = PQconnectdb(o.dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "baseline: connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    rc = 1;
    if (create_table(pg, o.table, o.append) < 0) {
        goto out;
    }
    long before = o.append ? count_rows(pg, o.table) : 0;
    if (before < 0) {
        goto out;
    }
    double t0 = now_s();
    if ((o.mode == MODE_COPY ? run_copy(pg, &o) : run_naive(pg, &o)) < 0) {
        goto out;
    }
    double secs = now_s() - t0;
    long stored = count_rows(pg, o.table) - before;
    if (stored != o.records) {
        fprintf(stderr, "baseline: %ld new rows in bench.%s, expected %ld\n", stored, o.table,
                o.records);
        goto out;
    }
    printf("baseline mode=%s rows=%ld seconds=%.3f rate=%.0f batch=%ld table=bench.%s\n",
           o.mode == MODE_COPY ? "copy" : "naive", o.records, secs, (double)o.records / secs,
           o.mode == MODE_COPY ? o.batch : 1, o.table);
    rc = 0;
out:
    PQfinish(pg);
    return rc;
}
