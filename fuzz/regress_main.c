/*
 * The regression runner: the same harness source as the libFuzzer target, linked with this
 * main() instead of libFuzzer, so that CTest replays every saved input with the ordinary
 * compiler (gcc) in both passes of scripts/test, plain and under ASan/UBSan, with no clang
 * needed. Arguments are files or directories (every regular file in them, in name order);
 * a missing one is an error, so that a typo in the test's registration cannot make it pass
 * on nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzzcheck.h"

/* Reads the whole file at path into *data (malloc'd; the caller frees it). Returns 0 or -1. */
static int read_input(const char *path, uint8_t **data, size_t *size)
{
    int rc = -1;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        goto out;
    }
    size_t cap = 4096, n = 0;
    buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        goto out;
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                goto out;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error\n", path);
        goto out;
    }
    *data = buf;
    *size = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

/* Feeds one file to the harness. Returns 0 or -1. */
static int run_file(const char *path)
{
    uint8_t *data;
    size_t size;
    if (read_input(path, &data, &size) < 0) {
        return -1;
    }
    /* Named first, so that the input behind a crash is the last line printed. */
    fprintf(stderr, "input %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int skip_dots(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Runs every regular file of dir. Returns how many, or -1. */
static long run_dir(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, skip_dots, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return -1;
    }
    long count = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (count >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            count = run_file(path) < 0 ? -1 : count + 1;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) < 0 ? -1 : 1);
        if (n < 0) {
            return 1;
        }
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "%s: no inputs found\n", argv[0]);
        return 1;
    }
    printf("%s: %ld inputs, no finding\n", argv[0], total);
    return 0;
}
