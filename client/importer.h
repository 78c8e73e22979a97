/*
 * The work behind `touchline log`, `touchline import cdr` and `touchline import mail`, once
 * their options are read: check the record(s), send them to the daemon's TCP port (sender),
 * say what the daemon answered, and pick the exit status. What is printed goes to the FILEs
 * given, so that tests can read it.
 *
 * The functions return the command's exit status: IMPORTER_OK (0) when every record was
 * accepted (stored, duplicate or spooled), IMPORTER_INVALID (2) when the daemon or the local
 * check refused a record as invalid, or the input cannot be read or used, IMPORTER_FAILED (3)
 * on a network error, an unavailable database, a refused token, or any record left without
 * an answer.
 */
#ifndef TOUCHLINE_IMPORTER_H
#define TOUCHLINE_IMPORTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cdr.h"
#include "mail.h"

enum importer_status {
    IMPORTER_OK = 0,
    IMPORTER_INVALID = 2,
    IMPORTER_FAILED = 3,
};

/* Where records go and how answers are shown. Borrowed strings. */
struct importer_target {
    const char *addr;   /* host:port of the TCP protocol */
    const char *token;  /* NULL or "" for none */
    const char *cacert; /* CA file for a tls:// addr (NULL: the system's) */
    bool json;          /* print the daemon's answer line as it is, rather than a sentence */
    const char *cmd;    /* "touchline log": the prefix of messages on err */
    FILE *out;          /* answers, summaries */
    FILE *err;          /* why something failed */
};

/*
 * Sends one record (borrowed) and prints its answer: the line itself (json) or "stored <id>
 * for customer <id>" / "duplicate: ..." / "spooled ...". A refused record's message goes to
 * err. Returns an enum importer_status.
 */
int importer_send_one(const struct importer_target *t, json_t *record);

/*
 * Imports the Master.csv at path ("-" for stdin): every row becomes a record, all pipelined
 * over one connection. Each refused row is reported on err with its line number; out gets
 * "N stored, D duplicate, R rejected" (and what else happened, when something did). Returns
 * an enum importer_status.
 */
int importer_cdr(const struct importer_target *t, const struct cdr_opts *opts, const char *path);

/*
 * Imports the one RFC 5322 message read from in (up to IMPORTER_MAIL_MAX bytes) and prints
 * the answer as importer_send_one does. Returns an enum importer_status; a message that cannot
 * become a record (no Message-ID...) is IMPORTER_INVALID.
 */
int importer_mail(const struct importer_target *t, const struct mail_opts *opts, FILE *in);

/* What became of one CDR row (importer_cdr_row). */
enum importer_row {
    IMPORTER_ROW_SENT,     /* queued on the sender */
    IMPORTER_ROW_INTERNAL, /* a call between extensions: skipped */
    IMPORTER_ROW_WITHHELD, /* the caller withheld the number: skipped */
    IMPORTER_ROW_REJECTED, /* cannot be a record: said on t->err, named by where */
};

struct sender;

/*
 * Maps row to a record, checks it and queues it on s tagged tag (the step of importer_cdr
 * and of `import cdr --follow`). where names the row in messages ("line 12"). Returns an enum
 * importer_row, or a negative enum sender_error with err set (out of memory, the connection).
 */
int importer_cdr_row(const struct importer_target *t, const struct cdr_opts *opts,
                     const struct cdr_row *row, const char *where, struct sender *s, size_t tag,
                     char *err, size_t errlen) __attribute__((warn_unused_result));

/* Writes ", N skipped (calls between extensions)" and the like (or "") into buf. */
void importer_cdr_skipped(char *buf, size_t len, size_t internal, size_t withheld);

/*
 * Imports every message of the Maildir dir (its new/ and cur/, in name order) over one
 * connection, as importer_mail does one. Each refused message is named on err by its path;
 * out gets "N stored, D duplicate, R rejected" and, with company domains, how many were
 * skipped as mail within the company. Returns an enum importer_status.
 */
int importer_maildir(const struct importer_target *t, const struct mail_opts *opts,
                     const char *dir);

/* The largest message or file read (bytes): far above any mail, and a bound on memory. */
#define IMPORTER_MAIL_MAX ((size_t)256 << 20)

#endif
