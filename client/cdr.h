/*
 * Asterisk call detail records (cdr_csv's Master.csv) as interaction records, for
 * `touchline import cdr`. Two steps, both pure functions over memory (no I/O), so that they
 * can be tested and fuzzed on any bytes: a CSV reader (RFC 4180: quoted fields with embedded
 * commas, doubled quotes and line breaks; CRLF or LF) that yields one row at a time with the
 * line number it starts on, and the mapping of one row to a record (CONTRACT §1).
 *
 * The columns are cdr_csv's: accountcode, src, dst, dcontext, clid, channel, dstchannel,
 * lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags, then
 * uniqueid when loguniqueid is on and userfield when loguserfield is on. A 17th column is
 * taken for the uniqueid when it looks like one ("1763460102.118", optionally after a system
 * name and '-'), else for the userfield.
 *
 * How a call becomes a record: the destination is internal when dst is a short extension (at
 * most extension_digits digits), when dst is no number at all ("s", the start of an IVR or a
 * queue; "*97", a feature code), or when dcontext matches the inbound-context pattern (by
 * default the trunk contexts of a stock Asterisk / FreePBX dialplan: from-pstn, from-trunk,
 * from-did-direct, ext-did...). Then the call is inbound, the customer is src, and the agent
 * the peer of dstchannel on an answered call ("PJSIP/alice-0000002a" -> "alice",
 * "Local/2001@from-queue-..." -> "2001": the queue member who answered), else dst when it is
 * an extension. A caller who withheld the number ("anonymous", "unknown", "restricted",
 * empty...) gives no customer identifier: such a row is CDR_ANONYMOUS, skipped and counted.
 * Otherwise the call is outbound, the customer is dst and the agent src (or the peer of
 * channel). An inbound call that Queue() answered and no member took (lastapp Queue, no
 * dstchannel) was abandoned: status missed, duration 0, queue_abandoned and wait_s in
 * attributes. A call between two extensions has no customer and is skipped. The caller-ID name of
 * clid
 * ("Sara" <09121234567>) becomes the customer's name on inbound calls only: on outbound ones
 * it is the agent's. external_id is the uniqueid or, without one, a hash of the row's fields,
 * so that importing the same file twice stores nothing twice.
 */
#ifndef TOUCHLINE_CDR_H
#define TOUCHLINE_CDR_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* Fields read per row; a longer row is read to its end and reported. */
#define CDR_MAX_FIELDS 64
/* The shortest and longest rows that map onto cdr_csv's columns. */
#define CDR_MIN_COLUMNS 16
#define CDR_MAX_COLUMNS 18
/* Default for cdr_opts.extension_digits. */
#define CDR_EXTENSION_DIGITS 6

enum cdr_result {
    CDR_ROW = 1,       /* a row was read, or mapped to a record */
    CDR_END = 0,       /* no more rows */
    CDR_INTERNAL = 2,  /* a call between two extensions: no customer, nothing to send */
    CDR_ANONYMOUS = 3, /* an inbound call whose caller withheld the number: nothing to send */
    CDR_EPARSE = -1,   /* a row is malformed: skipped; err says why, row->line where */
    CDR_ENOMEM = -2,   /* out of memory */
    CDR_EMAP = -3,     /* a row cannot become a record: err names the column */
};

/* Reads rows from a buffer it borrows. Fill with cdr_reader_init. */
struct cdr_reader {
    const char *buf;
    size_t len;
    size_t pos;
    size_t line; /* the line pos is on, from 1 */
};

/* One row: fields point into the row's own storage, valid until the next read or free. */
struct cdr_row {
    size_t line; /* the line the row starts on */
    size_t nfields;
    const char *fields[CDR_MAX_FIELDS]; /* NUL-terminated, unquoted */
    size_t lens[CDR_MAX_FIELDS];
    char *store; /* owned */
    size_t cap;
};

struct cdr_opts {
    const char *source;         /* the records' source */
    bool has_tz_offset;         /* start is at tz_offset_min from UTC, rather than local */
    int tz_offset_min;          /* +03:30 -> 210 */
    const regex_t *inbound_ctx; /* dcontext pattern of inbound calls; NULL: the stock ones */
    unsigned extension_digits;  /* at most this many digits make an extension; 0: default */
};

/* Starts reading len bytes at buf (borrowed); a UTF-8 byte order mark is skipped. */
void cdr_reader_init(struct cdr_reader *r, const char *buf, size_t len);

/*
 * Reads the next row into row (whose storage it reuses; zero it before the first call).
 * Blank lines are skipped. Returns CDR_ROW, CDR_END, CDR_EPARSE with err set and row->line
 * the line the bad row starts on (the reader is past it, at the next row), or CDR_ENOMEM.
 * A row of more than CDR_MAX_FIELDS fields is CDR_EPARSE.
 */
int cdr_reader_next(struct cdr_reader *r, struct cdr_row *row, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees what row owns; the row can be used again afterwards. */
void cdr_row_free(struct cdr_row *row);

/*
 * Maps row to a record. Returns CDR_ROW with *out set (a new reference), CDR_INTERNAL for a
 * call between extensions or CDR_ANONYMOUS for a withheld caller (*out NULL, err says why),
 * or CDR_EMAP with err naming the column
 * ("billsec: \"x\" is not a number"), or CDR_ENOMEM. Reads the local time zone (TZ) when
 * opts->has_tz_offset is false.
 */
int cdr_row_to_record(const struct cdr_row *row, const struct cdr_opts *opts, json_t **out,
                      char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Parses a time zone offset "+03:30", "-0500", "Z" or "+00:00" into minutes east of UTC.
 * Returns 0, or -1.
 */
int cdr_parse_tz_offset(const char *s, int *minutes) __attribute__((warn_unused_result));

#endif
