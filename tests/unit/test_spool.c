/*
 * Unit tests of daemon/spool (and its CRC-32C) on a real directory: appends answered only
 * after the writer thread's fsync, reading back in order across segments, segments deleted
 * once all their records are done, rewind, the size limit, and the repair of torn or corrupt
 * tails left by a crash.
 */
#include "testmain.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "spool.h"

struct fixture {
    char dir[256];
    struct event_base *base;
    struct spool *s;
    int answered;
    int failed;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    snprintf(f->dir, sizeof(f->dir), "%s/spool-test-XXXXXX", tmp);
    assert_non_null(mkdtemp(f->dir));
    f->base = event_base_new();
    assert_non_null(f->base);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    spool_close(f->s);
    event_base_free(f->base);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", f->dir);
    }
    free(f);
    return 0;
}

static struct spool *open_spool(struct fixture *f, uint64_t max_bytes, uint64_t segment_bytes)
{
    struct spool_params p = {f->dir, max_bytes, segment_bytes};
    char err[256] = "";
    struct spool *s = spool_open(f->base, &p, err, sizeof(err));
    if (s == NULL) {
        fail_msg("spool_open: %s", err);
    }
    return s;
}

static void on_append(int status, void *arg)
{
    struct fixture *f = arg;
    if (status == 0) {
        f->answered++;
    } else {
        f->failed++;
    }
}

/* Runs the loop until want callbacks came (or 5 s passed). */
static void wait_answers(struct fixture *f, int want)
{
    for (int i = 0; i < 500 && f->answered + f->failed < want; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    assert_int_equal(f->answered + f->failed, want);
}

static void append(struct fixture *f, const char *text)
{
    assert_int_equal(spool_append(f->s, text, strlen(text), on_append, f), 0);
}

/* Reads the next record; asserts its text. Returns its token. */
static uint64_t expect_next(struct fixture *f, const char *want)
{
    char *data = NULL;
    size_t len = 0;
    uint64_t token = 0;
    int rc = spool_next(f->s, &data, &len, &token);
    if (rc != 1) {
        fail_msg("spool_next: %d, wanted a record \"%s\"", rc, want);
    }
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    free(data);
    return token;
}

static int count_segments(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.seg$'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = -1;
    if (fscanf(p, "%d", &n) != 1) {
        n = -1;
    }
    pclose(p);
    return n;
}

static void crc32c_known_values(void **state)
{
    (void)state;
    /* The check value of the Castagnoli CRC, and RFC 3720's 32 zero bytes. */
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    unsigned char zeros[32] = {0};
    assert_int_equal(crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
    /* Incremental equals whole. */
    assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void appends_are_durable_then_read_in_order(void **state)
{
    struct fixture *f = *state;
    f->s = open_spool(f, 1 << 20, 1 << 20);
    assert_true(spool_empty(f->s));
    append(f, "{\"n\":1}");
    append(f, "{\"n\":2,\"body\":\"سلام\"}");
    append(f, "{\"n\":3}");
    assert_int_equal(spool_records(f->s), 3);
    assert_false(spool_empty(f->s));
    wait_answers(f, 3);
    assert_int_equal(f->failed, 0);
    assert_int_equal(count_segments(f->dir), 1);
    uint64_t t1 = expect_next(f, "{\"n\":1}");
    uint64_t t2 = expect_next(f, "{\"n\":2,\"body\":\"سلام\"}");
    uint64_t t3 = expect_next(f, "{\"n\":3}");
    char *data;
    size_t len;
    uint64_t tok;
    assert_int_equal(spool_next(f->s, &data, &len, &tok), 0);
    spool_done(f->s, t1);
    spool_done(f->s, t2);
    assert_int_equal(spool_records(f->s), 1);
    spool_done(f->s, t3);
    assert_int_equal(spool_records(f->s), 0);
    assert_true(spool_empty(f->s));
    /* The writer closes the finished active segment; the loop then deletes it. */
    for (int i = 0; i < 100 && count_segments(f->dir) != 0; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    assert_int_equal(count_segments(f->dir), 0);
    assert_int_equal(spool_bytes(f->s), 0);
    /* And appends go on into a new segment. */
    append(f, "{\"n\":4}");
    wait_answers(f, 4);
    expect_next(f, "{\"n\":4}");
}

/* A daemon stopping right after its replay finished: the loop never runs again to hear that
 * the writer closed the finished active segment, and the close still deletes it (else the
 * next start would replay every record again). */
static void close_right_after_replay_deletes_the_segment(void **state)
{
    struct fixture *f = *state;
    f->s = open_spool(f, 1 << 20, 1 << 20);
    append(f, "{\"n\":1}");
    append(f, "{\"n\":2}");
    wait_answers(f, 2);
    uint64_t t1 = expect_next(f, "{\"n\":1}");
    uint64_t t2 = expect_next(f, "{\"n\":2}");
    spool_done(f->s, t1);
    spool_done(f->s, t2);
    assert_true(spool_empty(f->s));
    assert_int_equal(count_segments(f->dir), 1);
    spool_close(f->s);
    f->s = NULL;
    assert_int_equal(count_segments(f->dir), 0);
}

static void segments_roll_and_are_deleted_when_done(void **state)
{
    struct fixture *f = *state;
    /* Segments of 100 bytes: a record of ~40 bytes framed to ~48, two per segment. */
    f->s = open_spool(f, 1 << 20, 100);
    char text[64];
    for (int i = 0; i < 9; i++) {
        snprintf(text, sizeof(text), "{\"record\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxx\"}", i);
        append(f, text);
        wait_answers(f, i + 1); /* one group per append, so that segments fill one by one */
    }
    int segs = count_segments(f->dir);
    assert_true(segs >= 4);
    uint64_t tokens[9];
    for (int i = 0; i < 9; i++) {
        snprintf(text, sizeof(text), "{\"record\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxx\"}", i);
        tokens[i] = expect_next(f, text);
    }
    /* Done out of order: the first segment goes only when both its records are done. */
    spool_done(f->s, tokens[1]);
    assert_int_equal(count_segments(f->dir), segs);
    spool_done(f->s, tokens[0]);
    assert_int_equal(count_segments(f->dir), segs - 1);
    for (int i = 2; i < 9; i++) {
        spool_done(f->s, tokens[i]);
    }
    assert_int_equal(spool_records(f->s), 0);
    assert_true(count_segments(f->dir) <= 1); /* the active one goes when the writer closes it */
}

static void rewind_reads_what_is_not_done_again(void **state)
{
    struct fixture *f = *state;
    f->s = open_spool(f, 1 << 20, 1 << 20);
    append(f, "a");
    append(f, "b");
    append(f, "c");
    wait_answers(f, 3);
    uint64_t ta = expect_next(f, "a");
    uint64_t tb = expect_next(f, "b");
    spool_done(f->s, ta);
    spool_done(f->s, tb);
    /* c was read and failed: start again. Records of an undeleted segment come again. */
    uint64_t tc = expect_next(f, "c");
    (void)tc;
    spool_rewind(f->s);
    assert_int_equal(spool_records(f->s), 3);
    expect_next(f, "a");
    expect_next(f, "b");
    expect_next(f, "c");
}

static void full_spool_refuses(void **state)
{
    struct fixture *f = *state;
    f->s = open_spool(f, 100, 1 << 20);
    char big[60];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    append(f, big); /* 8 + 59 bytes */
    assert_int_equal(spool_append(f->s, big, strlen(big), on_append, f), -ENOSPC);
    assert_int_equal(spool_records(f->s), 1);
    wait_answers(f, 1);
    assert_int_equal(spool_bytes(f->s), 67);
    assert_true(spool_bytes(f->s) <= spool_max_bytes(f->s));
}

/* What a previous run left is read back first, in order, after the tail is repaired. */
static void reopen_replays_and_cuts_torn_tails(void **state)
{
    struct fixture *f = *state;
    f->s = open_spool(f, 1 << 20, 1 << 20);
    append(f, "first");
    append(f, "second");
    wait_answers(f, 2);
    spool_close(f->s);
    f->s = NULL;
    /* A crash mid-write: half a header after the good records. */
    char path[512];
    snprintf(path, sizeof(path), "%s/0000000000000001.seg", f->dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x05\x00\x00", 3), 3);
    close(fd);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t torn = st.st_size;

    f->s = open_spool(f, 1 << 20, 1 << 20);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, torn - 3);
    assert_int_equal(spool_records(f->s), 2);
    append(f, "third"); /* into a new segment, after the old ones */
    wait_answers(f, 3);
    uint64_t t1 = expect_next(f, "first");
    uint64_t t2 = expect_next(f, "second");
    expect_next(f, "third");
    spool_done(f->s, t1);
    spool_done(f->s, t2);
    /* The old segment is all done and not active: deleted. */
    assert_int_equal(access(path, F_OK), -1);
    spool_close(f->s);
    f->s = NULL;

    /* A whole record whose checksum does not match, then a good-looking one after it: the
     * tail is cut from the bad record on. */
    snprintf(path, sizeof(path), "%s/0000000000000002.seg", f->dir);
    assert_int_equal(stat(path, &st), 0);
    off_t good = st.st_size;
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    unsigned char rec[8 + 4] = {4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 'b', 'a', 'd', '!'};
    assert_int_equal(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
    close(fd);
    f->s = open_spool(f, 1 << 20, 1 << 20);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, good);
    assert_int_equal(spool_records(f->s), 1);
    expect_next(f, "third");
}

static void empty_segments_are_removed_at_open(void **state)
{
    struct fixture *f = *state;
    char path[512];
    snprintf(path, sizeof(path), "%s/0000000000000007.seg", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x01", 1), 1); /* only a torn header */
    close(fd);
    snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);
    f->s = open_spool(f, 1 << 20, 1 << 20);
    assert_true(spool_empty(f->s));
    assert_int_equal(count_segments(f->dir), 0);
    assert_int_equal(access(path, F_OK), 0); /* other files are left alone */
    /* New segments continue after the highest number seen. */
    append(f, "x");
    wait_answers(f, 1);
    snprintf(path, sizeof(path), "%s/0000000000000008.seg", f->dir);
    assert_int_equal(access(path, F_OK), 0);
}

/* A durable record damaged after it was written: its segment's unread records are given
 * up (and the file kept as .corrupt), and replay goes on with the next segment. */
static void damaged_segment_is_skipped_not_stuck(void **state)
{
    struct fixture *f = *state;
    f->s = open_spool(f, 1 << 20, 40);
    append(f, "one-aaaaaaaaaaaaaaaa"); /* 28 bytes framed: one per 40-byte segment... */
    wait_answers(f, 1);
    append(f, "two-bbbbbbbbbbbbbbbb");
    wait_answers(f, 2);
    append(f, "three-cccccccccccccc");
    wait_answers(f, 3);
    assert_int_equal(count_segments(f->dir), 3);
    char path[512];
    snprintf(path, sizeof(path), "%s/0000000000000001.seg", f->dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 10), 1);
    close(fd);
    char *data = NULL;
    size_t len;
    uint64_t tok;
    assert_int_equal(spool_next(f->s, &data, &len, &tok), -EIO);
    assert_int_equal(spool_records(f->s), 2);
    snprintf(path, sizeof(path), "%s/0000000000000001.seg.corrupt", f->dir);
    assert_int_equal(access(path, F_OK), 0);
    uint64_t t2 = expect_next(f, "two-bbbbbbbbbbbbbbbb");
    uint64_t t3 = expect_next(f, "three-cccccccccccccc");
    spool_done(f->s, t2);
    spool_done(f->s, t3);
    assert_int_equal(spool_records(f->s), 0);
    assert_true(spool_empty(f->s));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_known_values),
        cmocka_unit_test_setup_teardown(appends_are_durable_then_read_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(close_right_after_replay_deletes_the_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(segments_roll_and_are_deleted_when_done, setup, teardown),
        cmocka_unit_test_setup_teardown(rewind_reads_what_is_not_done_again, setup, teardown),
        cmocka_unit_test_setup_teardown(full_spool_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_replays_and_cuts_torn_tails, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_segments_are_removed_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_segment_is_skipped_not_stuck, setup, teardown),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
