/*
 * Fuzz target "config": the daemon's configuration file, through config_load itself (there
 * is no in-memory variant: the input becomes a memfd, read through /proc/self/fd/N, so
 * nothing touches the disk), then what the daemon does with a loaded config: print it as
 * --check-config does, match tokens and source patterns. The same bytes also go, as one
 * string, to the helpers that parse single values: config_split_listen and config_mask_dsn.
 * Checks: a password that libpq would read from a DSN never shows in the masked form.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "fuzzcheck.h"

extern char **environ;

/* TOUCHLINE_* variables would override what the input says: every run starts without. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (;;) {
        char **e = environ;
        while (*e != NULL && strncmp(*e, "TOUCHLINE_", 10) != 0) {
            e++;
        }
        if (*e == NULL) {
            break;
        }
        char name[256];
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), *e);
        if (unsetenv(name) != 0) {
            break;
        }
    }
    return 0;
}

/* The password libpq reads from dsn, when there is one worth looking for in the masked text:
 * long enough and written only once, so that finding it means it was not masked. */
static char *dsn_password(const char *dsn)
{
    char *found = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    if (opts == NULL) {
        return NULL;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        /* A password spelled only with what the masked text itself is made of (keywords,
         * '=', quotes, the *** of the mask) would be "found" in it by accident. */
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && strlen(o->val) >= 6 &&
            o->val[strspn(o->val, "abcdefghijklmnopqrstuvwxyz_=*' ")] != '\0') {
            const char *first = strstr(dsn, o->val);
            if (first != NULL && strstr(first + 1, o->val) == NULL) {
                found = strdup(o->val);
            }
        }
    }
    PQconninfoFree(opts);
    return found;
}

static void use_config(const struct config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        fuzzcheck_fail("open_memstream failed");
    }
    config_print(cfg, f);
    fclose(f);
    /* Only the dsn line: the password may be a word that other lines hold anyway. */
    char *pw = dsn_password(cfg->database_dsn);
    const char *line = text != NULL ? strstr(text, "\ndsn = ") : NULL;
    if (pw != NULL && line != NULL) {
        size_t n = strcspn(line + 1, "\n");
        char *dsn_line = strndup(line + 1, n);
        if (dsn_line == NULL) {
            fuzzcheck_fail("out of memory");
        }
        if (strstr(dsn_line, pw) != NULL) {
            fuzzcheck_fail("password \"%s\" shows in --check-config's output: %s", pw, dsn_line);
        }
        free(dsn_line);
    }
    free(pw);
    free(text);
    /* Whatever the table holds, checking a token and a write stays within it. */
    struct auth_principal *p = auth_check_token(cfg->auth, "asterisk-token-1");
    char why[200];
    (void)auth_principal_may_write(p, "phone", "asterisk-tehran-1", why, sizeof(why));
    if (cfg->n_never_merge != cfg->record_opts.n_never_merge) {
        fuzzcheck_fail("never_merge counts differ");
    }
}

static void check_helpers(const char *s)
{
    char host[256];
    int port = -1;
    if (config_split_listen(s, host, sizeof(host), &port) == 0) {
        if (port < 0 || port > 65535 || strnlen(host, sizeof(host)) == 0 ||
            strnlen(host, sizeof(host)) == sizeof(host)) {
            fuzzcheck_fail("split_listen gave port %d and a bad host", port);
        }
    }
    static const size_t sizes[] = {1, 2, 8, 64, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char out[1024];
        memset(out, 0x55, sizeof(out));
        config_mask_dsn(s, out, sizes[i]);
        if (memchr(out, '\0', sizes[i]) == NULL) {
            fuzzcheck_fail("masked DSN not terminated within %zu bytes", sizes[i]);
        }
        char *pw = sizes[i] == 1024 ? dsn_password(s) : NULL;
        if (pw != NULL && strstr(out, pw) != NULL) {
            fuzzcheck_fail("password \"%s\" shows in the masked DSN \"%s\"", pw, out);
        }
        free(pw);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    if (fd < 0) {
        fuzzcheck_fail("memfd_create failed");
    }
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            fuzzcheck_fail("write to memfd failed");
        }
        off += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct config cfg;
    char err[512];
    memset(err, 0x55, sizeof(err));
    if (config_load(path, &cfg, err, sizeof(err)) == 0) {
        use_config(&cfg);
    } else if (strnlen(err, sizeof(err)) == 0 || strnlen(err, sizeof(err)) == sizeof(err)) {
        fuzzcheck_fail("config_load failed without a message");
    }
    config_free(&cfg);
    close(fd);

    char *s = fuzzcheck_cstr(data, size);
    check_helpers(s);
    free(s);
    return 0;
}
