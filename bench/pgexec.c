#include "pgexec.h"

#include <stdio.h>

int pgexec(PGconn *pg, const char *prog, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "%s: %s  in: %.300s\n", prog, PQresultErrorMessage(r), sql);
        rc = -1;
    }
    PQclear(r);
    return rc;
}
