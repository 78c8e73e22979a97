/*
 * The one libpq helper the benchmark's database tools (baseline, qload) share: run a
 * statement that returns no rows and report its error under the tool's name. Blocking, as
 * these tools are.
 */
#ifndef TOUCHLINE_BENCH_PGEXEC_H
#define TOUCHLINE_BENCH_PGEXEC_H

#include <libpq-fe.h>

/* Runs sql, which must not return rows. Returns 0, or -1 after printing
 * "<prog>: <error>  in: <sql>" on stderr. */
int pgexec(PGconn *pg, const char *prog, const char *sql);

#endif
