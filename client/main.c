/*
 * touchline: the command-line client of touchlined's HTTP API (CONTRACT §5).
 * Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "format.h"
#include "http_client.h"

enum {
    EXIT_OK = 0,
    EXIT_NOT_FOUND = 1,
    EXIT_USAGE = 2,
    EXIT_SERVER = 3,
};

#define TIMEOUT_MS  15000
#define PAGE_MAX    500
#define DEFAULT_URL "http://127.0.0.1:8170"

struct global {
    struct http_url url;
    const char *url_text;
    const char *token;
};

struct command {
    const char *name;
    int (*run)(struct global *g, int argc, char **argv);
    const char *summary;
};

static void usage(FILE *out);

/* Reports an HTTP error answer and returns the exit status it stands for. */
static int report_error(const struct http_response *r, const char *what)
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    fprintf(stderr, "touchline: %s: %s (HTTP %d)\n", what, msg != NULL ? msg : r->body, r->status);
    json_decref(j);
    return r->status == 404 ? EXIT_NOT_FOUND : r->status == 400 ? EXIT_USAGE : EXIT_SERVER;
}

/* GETs path and parses the JSON answer. Returns an exit status; *out set when 0. */
static int get_json(struct global *g, const char *path, const char *what, json_t **out)
{
    struct http_response r;
    char err[512];
    if (http_request(&g->url, "GET", path, NULL, g->token, TIMEOUT_MS, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "touchline: %s: %s\n", what, err);
        return EXIT_SERVER;
    }
    int rc = EXIT_OK;
    if (r.status != 200) {
        rc = report_error(&r, what);
    } else {
        json_error_t je;
        *out = json_loads(r.body, 0, &je);
        if (*out == NULL) {
            fprintf(stderr, "touchline: %s: the server answered something that is not JSON: %s\n",
                    what, je.text);
            rc = EXIT_SERVER;
        }
    }
    http_response_free(&r);
    return rc;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col < 80 ? 80 : ws.ws_col;
    }
    return 120;
}

static void timeline_usage(FILE *out)
{
    fprintf(out, "Usage: touchline timeline (--phone N | --email E | --chat H | --web W |\n"
                 "                           --external X | --customer ID) [options]\n"
                 "Shows a customer's interactions on every channel, newest first.\n"
                 "\n"
                 "  --phone N        find the customer by phone number (any spelling: 0912..., \n"
                 "                   +98 912..., Persian or Arabic-Indic digits)\n"
                 "  --email E        ... by email address\n"
                 "  --chat H         ... by chat handle, provider:handle (telegram:@sara_k)\n"
                 "  --web W          ... by web id\n"
                 "  --external X     ... by external id, system:id (shop:55120)\n"
                 "  --customer ID    the customer id itself (a merged-away id works too)\n"
                 "  --channel C      only this channel (phone, sms, email, chat, web, ...)\n"
                 "  --since T        from this time on (RFC 3339, e.g. 2026-11-01T00:00:00Z)\n"
                 "  --until T        before this time\n"
                 "  --limit N        show at most N interactions (default 50)\n"
                 "  --all            show every interaction\n"
                 "  --format F       table (default), json or ndjson\n"
                 "  --utc            show times in UTC instead of the local time zone\n"
                 "  -h, --help       show this help\n"
                 "\n"
                 "Exit status: 0 ok, 1 customer not found, 2 usage, 3 server or network error.\n");
}

static int cmd_timeline(struct global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"phone", required_argument, NULL, 'p'},
        {"email", required_argument, NULL, 'e'},
        {"chat", required_argument, NULL, 'c'},
        {"web", required_argument, NULL, 'w'},
        {"external", required_argument, NULL, 'x'},
        {"customer", required_argument, NULL, 'i'},
        {"channel", required_argument, NULL, 'C'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"limit", required_argument, NULL, 'l'},
        {"all", no_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},
        {"utc", no_argument, NULL, 'Z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *kind = NULL, *value = NULL, *channel = NULL, *since = NULL, *until = NULL;
    long limit = 50;
    bool all = false;
    struct format_opts fo = {.kind = FORMAT_TABLE, .width = terminal_width()};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
        case 'e':
        case 'c':
        case 'w':
        case 'x':
        case 'i':
            if (kind != NULL) {
                fprintf(stderr, "touchline timeline: give one of --phone, --email, --chat, "
                                "--web, --external, --customer\n");
                return EXIT_USAGE;
            }
            kind = opt == 'p'   ? "phone"
                   : opt == 'e' ? "email"
                   : opt == 'c' ? "chat"
                   : opt == 'w' ? "web"
                   : opt == 'x' ? "external"
                                : "customer";
            value = optarg;
            break;
        case 'C':
            channel = optarg;
            break;
        case 's':
            since = optarg;
            break;
        case 'u':
            until = optarg;
            break;
        case 'l': {
            char *end;
            limit = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || limit < 1) {
                fprintf(stderr, "touchline timeline: --limit: \"%s\" is not a positive number\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'a':
            all = true;
            break;
        case 'f':
            if (format_parse(optarg, &fo.kind) < 0) {
                fprintf(stderr,
                        "touchline timeline: --format: \"%s\" is not table, json or "
                        "ndjson\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'Z':
            fo.utc = true;
            break;
        case 'h':
            timeline_usage(stdout);
            return EXIT_OK;
        default:
            timeline_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "touchline timeline: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (kind == NULL) {
        fprintf(stderr, "touchline timeline: say whose timeline: --phone, --email, --chat, "
                        "--web, --external or --customer\n");
        timeline_usage(stderr);
        return EXIT_USAGE;
    }
    fo.color = fo.kind == FORMAT_TABLE && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;

    char path[2048];
    char enc[1500] = "";
    if (http_urlencode(value, enc, sizeof(enc)) < 0) {
        fprintf(stderr, "touchline timeline: --%s: value too long\n", kind);
        return EXIT_USAGE;
    }
    if (strcmp(kind, "customer") == 0) {
        snprintf(path, sizeof(path), "/v1/customers/%s", enc);
    } else {
        snprintf(path, sizeof(path), "/v1/customers?%s=%s", kind, enc);
    }
    json_t *profile = NULL;
    int rc = get_json(g, path, "finding the customer", &profile);
    if (rc != EXIT_OK) {
        return rc;
    }
    const char *id = json_string_value(json_object_get(profile, "id"));
    json_t *items = json_array();
    if (id == NULL || items == NULL) {
        fprintf(stderr, "touchline: the server's customer has no id\n");
        json_decref(profile);
        json_decref(items);
        return EXIT_SERVER;
    }
    char cursor[128] = "";
    for (;;) {
        size_t have = json_array_size(items);
        long want = all ? PAGE_MAX : limit - (long)have;
        if (want <= 0) {
            break;
        }
        if (want > PAGE_MAX) {
            want = PAGE_MAX;
        }
        int n = snprintf(path, sizeof(path), "/v1/customers/%s/timeline?limit=%ld", id, want);
        const char *params[][2] = {
            {"channel", channel}, {"since", since}, {"until", until}, {"before", cursor}};
        for (size_t k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
            if (params[k][1] == NULL || params[k][1][0] == '\0') {
                continue;
            }
            char e[512] = "";
            if (http_urlencode(params[k][1], e, sizeof(e)) < 0) {
                fprintf(stderr, "touchline timeline: --%s: value too long\n", params[k][0]);
                rc = EXIT_USAGE;
                goto out;
            }
            n += snprintf(path + n, sizeof(path) - (size_t)n, "&%s=%s", params[k][0], e);
        }
        json_t *page = NULL;
        rc = get_json(g, path, "reading the timeline", &page);
        if (rc != EXIT_OK) {
            goto out;
        }
        json_array_extend(items, json_object_get(page, "items"));
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof(cursor), "%s", next != NULL ? next : "");
        json_decref(page);
        if (cursor[0] == '\0') {
            break;
        }
    }
    format_timeline(stdout, profile, items, &fo);
    if (fo.kind == FORMAT_TABLE && json_array_size(items) == 0) {
        printf("(no interactions)\n");
    }
out:
    json_decref(items);
    json_decref(profile);
    return rc;
}

static const struct command commands[] = {
    {"timeline", cmd_timeline, "a customer's interactions on every channel, newest first"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: touchline [--url URL] [--token TOKEN] COMMAND [options]\n"
                 "Shows what customers told the company on every channel (touchlined's HTTP "
                 "API).\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out,
            "\nOptions:\n"
            "  --url URL      the daemon's HTTP API (default $TOUCHLINE_URL, else %s)\n"
            "  --token TOKEN  bearer token (default $TOUCHLINE_TOKEN)\n"
            "  -h, --help     show this help; COMMAND --help shows the command's\n"
            "  -V, --version  show the version\n"
            "\nExit status: 0 ok, 1 not found, 2 usage, 3 server or network error.\n",
            DEFAULT_URL);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct global g = {.url_text = getenv("TOUCHLINE_URL"), .token = getenv("TOUCHLINE_TOKEN")};
    int opt;
    /* '+': stop at the command, whose options are its own. */
    while ((opt = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            g.url_text = optarg;
            break;
        case 't':
            g.token = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("touchline %s\n", TOUCHLINE_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (g.url_text == NULL || g.url_text[0] == '\0') {
        g.url_text = DEFAULT_URL;
    }
    if (g.token != NULL && g.token[0] == '\0') {
        g.token = NULL;
    }
    char err[512];
    if (http_url_parse(g.url_text, &g.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "touchline: --url: %s\n", err);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0) {
            return commands[i].run(&g, argc - optind, argv + optind);
        }
    }
    fprintf(stderr, "touchline: unknown command \"%s\"\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
