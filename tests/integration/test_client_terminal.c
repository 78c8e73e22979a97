/*
 * The touchline client as it meets a terminal, against the real daemon: tables fit COLUMNS
 * and the terminal's own width down to 40 columns, a pipe gets every value whole, and the
 * global options (--url, --token) work after the command as well as before it.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testmain.h"
#include "textwidth.h"

/* A summary longer than any terminal, in Persian, so that cutting and aligning it counts
 * display columns, not bytes. */
#define LONG_SUMMARY                                                                                                                                               \
    "سلام، سفارش ۵۵۱۲۰ هنوز نرسیده. لطفاً پیگیری کنید و تا فردا صبح خبر بدهید، ممنون از شما " \
    "end-of-summary"

static const char *client_bin(void)
{
    const char *bin = getenv("TOUCHLINE_TEST_CLIENT");
    assert_non_null(bin);
    return bin;
}

/* Sends the records of one customer: a call with the long summary, an email, a chat. */
static void load_customer(const struct harness_daemon *d)
{
    static const char *const lines[] = {
        "{\"source\":\"pbx\",\"external_id\":\"c1\",\"channel\":\"phone\",\"direction\":"
        "\"inbound\",\"status\":\"answered\",\"agent\":\"رضا احمدی\",\"occurred_at\":"
        "\"2026-11-19T06:45:00Z\",\"customer\":{\"phone\":\"09123456789\",\"name\":"
        "\"سارا کریمی\"},\"body\":\"" LONG_SUMMARY "\"}",
        "{\"source\":\"mail\",\"external_id\":\"m1\",\"channel\":\"email\",\"direction\":"
        "\"outbound\",\"status\":\"sent\",\"agent\":\"support@shop.example\",\"occurred_at\":"
        "\"2026-11-20T10:00:00Z\",\"customer\":{\"phone\":\"09123456789\"},\"subject\":"
        "\"Re: Order #55120\"}",
        "{\"source\":\"cw\",\"external_id\":\"t1\",\"channel\":\"chat\",\"occurred_at\":"
        "\"2026-11-21T18:40:00Z\",\"customer\":{\"phone\":\"09123456789\"},\"body\":\"hi\"}",
    };
    int fd = harness_connect(d->tcp_port);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char *a = harness_roundtrip(fd, lines[i]);
        if (strstr(a, "\"ok\":true") == NULL) {
            fail_msg("record refused: %s", a);
        }
        free(a);
    }
    close(fd);
}

/* The widest line of out, in terminal columns; *lines gets how many lines it has. */
static size_t widest(const char *out, size_t *lines)
{
    size_t most = 0;
    *lines = 0;
    for (const char *line = out; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        /* A terminal's output has \r\n. */
        size_t w = textwidth_n(line, len > 0 && line[len - 1] == '\r' ? len - 1 : len);
        most = w > most ? w : most;
        (*lines)++;
        line += len + (eol != NULL);
    }
    return most;
}

/* The title line of a timeline table in out (the one starting "TIME "). */
static void title_line(const char *out, char *buf, size_t buflen)
{
    const char *t = strstr(out, "TIME ");
    assert_non_null(t);
    size_t n = strcspn(t, "\r\n");
    snprintf(buf, buflen, "%.*s", (int)(n < buflen ? n : buflen - 1), t);
}

/* Runs the client with env and args, stdout only, into *out. Returns its exit status. */
static int run(const struct harness_daemon *d, const char *env, const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "env -u COLUMNS TZ=UTC NO_COLOR=1 %s %s --url http://127.0.0.1:%d %s", env,
             client_bin(), d->http_port, args);
    return harness_run(cmd, out);
}

static void columns_and_pipes(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_width", NULL);
    load_customer(&d);
    char *out = NULL, title[256];
    size_t lines;

    /* A pipe, no COLUMNS: nothing cut, every column there. */
    assert_int_equal(run(&d, "", "timeline --phone 09123456789 --utc", &out), 0);
    assert_non_null(strstr(out, LONG_SUMMARY "\n"));
    assert_non_null(strstr(out, "support@shop.example"));
    title_line(out, title, sizeof(title));
    assert_non_null(strstr(title, "DIRECTION"));
    assert_true(widest(out, &lines) > 120);
    free(out);

    static const struct {
        const char *columns;
        size_t width;
        bool direction, agent, status, channel;
    } cases[] = {
        {"COLUMNS=120", 120, true, true, true, true},
        {"COLUMNS=60", 60, false, false, true, true},
        {"COLUMNS=40", 40, false, false, false, false},
        /* Narrower than a table can be: laid out for 40. */
        {"COLUMNS=20", 40, false, false, false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(run(&d, cases[i].columns, "timeline --phone 09123456789 --utc", &out), 0);
        size_t w = widest(out, &lines);
        if (w > cases[i].width || lines != 5) {
            fail_msg("%s: %zu lines, the widest %zu columns:\n%s", cases[i].columns, lines, w, out);
        }
        title_line(out, title, sizeof(title));
        assert_int_equal(strstr(title, "DIRECTION") != NULL, cases[i].direction);
        assert_int_equal(strstr(title, "AGENT") != NULL, cases[i].agent);
        assert_int_equal(strstr(title, "STATUS") != NULL, cases[i].status);
        assert_int_equal(strstr(title, "CHANNEL") != NULL, cases[i].channel);
        assert_non_null(strstr(title, "SUMMARY"));
        /* The long summary is cut, with an ellipsis. */
        assert_null(strstr(out, "end-of-summary"));
        assert_non_null(strstr(out, TEXTWIDTH_ELLIPSIS "\n"));
        free(out);
    }
    /* COLUMNS that is not a number is not a width. */
    assert_int_equal(run(&d, "COLUMNS=wide", "timeline --phone 09123456789 --utc", &out), 0);
    assert_non_null(strstr(out, LONG_SUMMARY "\n"));
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

/*
 * Runs the client on a pseudo-terminal of cols columns (COLUMNS unset), as an agent's window.
 * Returns what it wrote, with the terminal's \r\n (the caller frees it).
 */
static char *run_on_terminal(const struct harness_daemon *d, unsigned short cols, const char *args)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", d->http_port);
    static const char *const env[] = {"COLUMNS", "TZ=UTC", "NO_COLOR=1", NULL};
    char *argv[16] = {(char *)client_bin(), "--url", url};
    int n = 3;
    char *copy = strdup(args);
    assert_non_null(copy);
    for (char *tok = strtok(copy, " "); tok != NULL && n < 15; tok = strtok(NULL, " ")) {
        argv[n++] = tok;
    }
    argv[n] = NULL;
    int st;
    char *out = harness_run_on_terminal(argv, env, cols, &st);
    free(copy);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    return out;
}

static void terminal_width_without_columns(void **state)
{
    (void)state;
    struct harness_daemon d;
    harness_start(&d, "client_tty", NULL);
    load_customer(&d);
    static const unsigned short widths[] = {40, 60, 120};
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        char *out = run_on_terminal(&d, widths[i], "timeline --phone 09123456789 --utc");
        size_t lines, w = widest(out, &lines);
        if (w > widths[i] || lines != 5 || strstr(out, "end-of-summary") != NULL) {
            fail_msg("a %u-column terminal: %zu lines, the widest %zu columns:\n%s", widths[i],
                     lines, w, out);
        }
        char title[256];
        title_line(out, title, sizeof(title));
        assert_int_equal(strstr(title, "DIRECTION") != NULL, widths[i] == 120);
        free(out);
    }
    assert_int_equal(harness_stop(&d), 0);
}

/* --url and --token after the command, as users type them; and before it, as ever. */
static void global_options_after_the_command(void **state)
{
    (void)state;
    static const char *const env[] = {"TOUCHLINE_AUTH_TOKENS=agents:agent-token-1", NULL};
    struct harness_daemon d;
    harness_start(&d, "client_global", env);
    char cmd[2048], *out = NULL;
    /* log: --token after the command is the TCP token, --url is taken and not needed. */
    snprintf(cmd, sizeof(cmd),
             "env -u TOUCHLINE_URL -u TOUCHLINE_TOKEN TOUCHLINE_TCP=127.0.0.1:%d %s log "
             "--channel phone --phone 09123456789 --summary hi --format json "
             "--url http://127.0.0.1:%d --token agent-token-1",
             d.tcp_port, client_bin(), d.http_port);
    assert_int_equal(harness_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"ok\":true"));
    free(out);

    /* Each form: what goes before the daemon's URL, and what after it. */
    static const char *const forms[][2] = {
        {"timeline --phone 09123456789 --url ", " --token agent-token-1"},
        {"timeline --url=", " --phone 09123456789 --token=agent-token-1"},
        {"--token agent-token-1 timeline --phone 09123456789 --url ", ""},
        {"context --phone 09123456789 --token agent-token-1 --url ", ""},
        {"customer show --url ", " --phone 09123456789 --token agent-token-1"},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "env -u TOUCHLINE_URL -u TOUCHLINE_TOKEN %s %shttp://127.0.0.1:%d%s 2>&1",
                 client_bin(), forms[i][0], d.http_port, forms[i][1]);
        int rc = harness_run(cmd, &out);
        if (rc != 0 || strstr(out, "+989123456789") == NULL) {
            fail_msg("%s: exit %d:\n%s", cmd, rc, out);
        }
        free(out);
    }
    /* After the command, the last one given wins, as before it; a wrong token is refused. */
    snprintf(cmd, sizeof(cmd),
             "env -u TOUCHLINE_URL -u TOUCHLINE_TOKEN %s --token agent-token-1 timeline "
             "--phone 09123456789 --url http://127.0.0.1:%d --token wrong-token 2>&1",
             client_bin(), d.http_port);
    assert_int_equal(harness_run(cmd, &out), 3);
    free(out);
    /* The value of an option is never taken for a global option. */
    snprintf(cmd, sizeof(cmd),
             "env -u TOUCHLINE_URL -u TOUCHLINE_TOKEN TOUCHLINE_TCP=127.0.0.1:%d %s log "
             "--channel phone --phone 09123456789 --summary --url --format json "
             "--token agent-token-1",
             d.tcp_port, client_bin());
    assert_int_equal(harness_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"ok\":true"));
    free(out);
    /* --url without its value, after the command. */
    snprintf(cmd, sizeof(cmd), "%s timeline --phone 09123456789 --url 2>&1", client_bin());
    assert_int_equal(harness_run(cmd, &out), 2);
    assert_non_null(strstr(out, "--url"));
    free(out);
    assert_int_equal(harness_stop(&d), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(columns_and_pipes),
        cmocka_unit_test(terminal_width_without_columns),
        cmocka_unit_test(global_options_after_the_command),
    };
    signal(SIGPIPE, SIG_IGN);
    return testmain_run(argc, argv, tests, NULL, NULL);
}
