/*
 * The local spool: where records go while PostgreSQL is unreachable, so that they can be
 * acknowledged anyway. A directory of segment files, each a sequence of records framed as
 * [u32 length][u32 CRC-32C of the payload][payload], little-endian, appended in order.
 *
 * Appends are handed to one writer thread, which writes everything that is waiting and then
 * calls fdatasync once for all of it (group commit); each append's callback runs on the
 * event loop only after that fsync returned. The loop never waits for the disk on the write
 * path. Reading back (replay) happens on the loop, in order, one record at a time; a record
 * is forgotten with spool_done once it is committed in PostgreSQL, and a segment file is
 * deleted when every record in it is done.
 *
 * At open, every segment is checked record by record: a torn or corrupt tail (a crash in
 * the middle of a write) is cut off and logged with what was dropped; nothing before it is
 * lost. Such a tail was never acknowledged, since acks follow the fsync.
 */
#ifndef TOUCHLINED_SPOOL_H
#define TOUCHLINED_SPOOL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest record the spool takes (a line is at most ingest.max_line_bytes). */
#define SPOOL_MAX_RECORD (64u << 20)
/* Segment files are this large, give or take a record. */
#define SPOOL_SEGMENT_BYTES (16u << 20)

struct spool;

/* Called on the loop once an append is durable (status 0) or failed (negative errno). */
typedef void (*spool_cb)(int status, void *arg);

struct spool_params {
    const char *dir;
    uint64_t max_bytes;     /* appends beyond this are refused with -ENOSPC */
    uint64_t segment_bytes; /* a new segment is started past this size */
};

/*
 * Opens (creating it if needed) and checks the spool directory, repairs torn tails, and
 * starts the writer thread. NULL with err set on failure.
 */
struct spool *spool_open(struct event_base *base, const struct spool_params *p, char *err,
                         size_t errlen);

/* Writes what was appended, answers every callback, stops the thread. NULL is fine. */
void spool_close(struct spool *s);

/*
 * Appends len bytes (copied). cb(arg) is called later, on the loop, exactly once. Returns
 * 0, or -ENOSPC (full: nothing happens) or -ENOMEM.
 */
int spool_append(struct spool *s, const void *data, size_t len, spool_cb cb, void *arg)
    __attribute__((warn_unused_result));

/*
 * The next durable record not yet read, in append order: *data (malloc'd, the caller frees
 * it), *len, and *token to pass to spool_done. Returns 1, 0 when there is none now, or a
 * negative errno on a read error.
 */
int spool_next(struct spool *s, char **data, size_t *len, uint64_t *token)
    __attribute__((warn_unused_result));

/* The record read as token is stored for good; deletes segments that are all done. */
void spool_done(struct spool *s, uint64_t token);

/*
 * Reading starts again from the start of every segment still kept (after a replay failed
 * half way), so records already done in those segments come back once more: replay finds
 * them stored and answers them duplicate. Only when no record read is still outstanding.
 */
void spool_rewind(struct spool *s);

/* Records in the spool not yet done, appends still waiting for their fsync included. */
size_t spool_records(const struct spool *s);

/* Bytes of the segment files, and appends waiting for the disk. */
uint64_t spool_bytes(const struct spool *s);
uint64_t spool_max_bytes(const struct spool *s);

/* True when the spool holds nothing at all: every record done, no append waiting. */
bool spool_empty(const struct spool *s);

#endif
