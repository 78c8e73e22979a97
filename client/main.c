/*
 * touchline: the command-line client of touchlined's HTTP API (CONTRACT §5). This file only
 * reads arguments and picks exit statuses; the work is in the touchline_client library (api,
 * format, http_client). A command is one entry of the table at the bottom: a name, a handler
 * that parses its own options, and a line of help.
 *
 * Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "format.h"
#include "http_client.h"

enum {
    EXIT_NOT_FOUND = 1,
    EXIT_USAGE = 2,
    EXIT_FAILED = 3,
};

#define DEFAULT_URL   "http://127.0.0.1:8170"
#define DEFAULT_LIMIT 50

/* What comes before the command: where the daemon is and how to prove who we are. */
struct global {
    const char *url;
    const char *token;
};

struct command {
    const char *name;
    int (*run)(const struct global *g, int argc, char **argv);
    const char *help;
};

static const char *const identifier_kinds[] = {"phone", "email", "chat", "web", "external"};

static int exit_for(int api_result)
{
    switch (api_result) {
    case API_OK:
        return EXIT_SUCCESS;
    case API_NOT_FOUND:
        return EXIT_NOT_FOUND;
    case API_INVALID:
        /* The server refused what the user typed (a malformed phone number, a bad --since). */
        return EXIT_USAGE;
    }
    return EXIT_FAILED;
}

/*
 * Reports a getopt_long error for command cmd: optstring starts with ':' so that a missing
 * value and an unknown option can be told apart. Returns EXIT_USAGE.
 */
static int bad_option(const char *cmd, int opt, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (opt == ':') {
        fprintf(stderr, "touchline%s%s: option %s needs a value\n", cmd[0] ? " " : "", cmd, arg);
    } else {
        fprintf(stderr, "touchline%s%s: unknown option %s\n", cmd[0] ? " " : "", cmd, arg);
    }
    fprintf(stderr, "Try 'touchline%s%s --help'.\n", cmd[0] ? " " : "", cmd);
    return EXIT_USAGE;
}

/* Table width: the terminal's when stdout is one (at least FORMAT_MIN_WIDTH), else the
 * default. */
static size_t table_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col < FORMAT_MIN_WIDTH ? FORMAT_MIN_WIDTH : ws.ws_col;
    }
    return FORMAT_DEFAULT_WIDTH;
}

/* Colors only for a terminal, and not when NO_COLOR is set to something (no-color.org) or the
 * terminal says it cannot. */
static bool want_color(void)
{
    const char *no = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && (no == NULL || no[0] == '\0') &&
           (term == NULL || strcmp(term, "dumb") != 0);
}

static void timeline_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline timeline (--phone N | --email E | --chat H | --web W |\n"
            "                           --external X | --customer ID) [options]\n"
            "Shows a customer's interactions on every channel, newest first.\n"
            "\n"
            "Whose timeline (exactly one):\n"
            "  --phone N        by phone number, in any spelling: 0912 345 6789, +98 912...,\n"
            "                   Persian or Arabic-Indic digits\n"
            "  --email E        by email address\n"
            "  --chat H         by chat handle, provider:handle (telegram:@sara_k)\n"
            "  --web W          by web visitor or user id\n"
            "  --external X     by another system's id, system:id (shop:55120)\n"
            "  --customer ID    by customer id (a merged-away id shows the customer it became)\n"
            "\n"
            "Options:\n"
            "  --channel C      only this channel: phone, sms, email, chat, web, social,\n"
            "                   in_person or other\n"
            "  --since T        from this time on (RFC 3339: 2026-11-01T00:00:00Z)\n"
            "  --until T        before this time\n"
            "  --limit N        show at most N interactions (default %d)\n"
            "  --all            show every interaction\n"
            "  --format F       table (default), json or ndjson\n"
            "  --utc            times in UTC instead of the local time zone (TZ)\n"
            "  -h, --help       show this help\n"
            "\n"
            "Exit status: 0 ok, 1 customer not found, 2 usage, 3 server or network error.\n",
            DEFAULT_LIMIT);
}

/* Gathers the pages of a timeline into one array, for the table and JSON forms. */
static int collect(const json_t *items, void *arg)
{
    /* json_array_extend only reads items (it takes references to its elements). */
    return json_array_extend(arg, (json_t *)items) == 0 ? 0 : API_FAILED;
}

/* Writes each page as it comes, for NDJSON: a long timeline need not fit in memory. */
static int stream(const json_t *items, void *arg)
{
    (void)arg;
    if (format_ndjson(stdout, items) < 0 || fflush(stdout) == EOF) {
        return API_FAILED;
    }
    return 0;
}

static int cmd_timeline(const struct global *g, int argc, char **argv)
{
    enum {
        OPT_CUSTOMER = 256,
        OPT_CHANNEL,
        OPT_SINCE,
        OPT_UNTIL,
        OPT_LIMIT,
        OPT_ALL,
        OPT_FORMAT,
        OPT_UTC
    };
    /* The first five are identifier_kinds, in its order: their index names the kind. */
    static const struct option opts[] = {
        {"phone", required_argument, NULL, 0},
        {"email", required_argument, NULL, 0},
        {"chat", required_argument, NULL, 0},
        {"web", required_argument, NULL, 0},
        {"external", required_argument, NULL, 0},
        {"customer", required_argument, NULL, OPT_CUSTOMER},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"all", no_argument, NULL, OPT_ALL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"utc", no_argument, NULL, OPT_UTC},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *kind = NULL, *value = NULL;
    struct api_timeline_query q = {.max = DEFAULT_LIMIT};
    bool all = false;
    struct format_opts fo = {.kind = FORMAT_TABLE};
    int opt, index = 0;
    optind = 0; /* glibc: start afresh on this argv */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, &index)) != -1) {
        switch (opt) {
        case 0:
        case OPT_CUSTOMER:
            if (kind != NULL) {
                fprintf(stderr, "touchline timeline: give only one of --phone, --email, --chat, "
                                "--web, --external, --customer\n");
                return EXIT_USAGE;
            }
            kind = opt == 0 ? identifier_kinds[index] : "customer";
            value = optarg;
            break;
        case OPT_CHANNEL:
            q.channel = optarg;
            break;
        case OPT_SINCE:
            q.since = optarg;
            break;
        case OPT_UNTIL:
            q.until = optarg;
            break;
        case OPT_LIMIT: {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 || n == 0 ||
                n > 1000000000ULL) {
                fprintf(stderr, "touchline timeline: --limit: \"%s\" is not a positive number\n",
                        optarg);
                return EXIT_USAGE;
            }
            q.max = (size_t)n;
            break;
        }
        case OPT_ALL:
            all = true;
            break;
        case OPT_FORMAT:
            if (format_kind_parse(optarg, &fo.kind) < 0) {
                fprintf(stderr,
                        "touchline timeline: --format: \"%s\" is not table, json or ndjson\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_UTC:
            fo.utc = true;
            break;
        case 'h':
            timeline_usage(stdout);
            return EXIT_SUCCESS;
        default:
            return bad_option("timeline", opt, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "touchline timeline: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (kind == NULL) {
        fprintf(stderr, "touchline timeline: whose timeline? Give --phone, --email, --chat, "
                        "--web, --external or --customer\n"
                        "Try 'touchline timeline --help'.\n");
        return EXIT_USAGE;
    }
    if (all) {
        q.max = 0;
    }
    fo.width = table_width();
    fo.color = fo.kind == FORMAT_TABLE && want_color();

    char err[512];
    struct http_client hc;
    if (http_client_init(&hc, g->url, g->token, 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        return EXIT_USAGE;
    }
    json_t *customer = NULL, *items = NULL;
    int rc = strcmp(kind, "customer") == 0
                 ? api_get_customer(&hc, value, &customer, err, sizeof(err))
                 : api_find_customer(&hc, kind, value, &customer, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    const char *id = json_string_value(json_object_get(customer, "id"));
    if (id == NULL) {
        fprintf(stderr, "touchline: the server answered a customer without an id\n");
        rc = API_FAILED;
        goto out;
    }
    if (fo.kind == FORMAT_NDJSON) {
        rc = api_timeline(&hc, id, &q, stream, NULL, err, sizeof(err));
    } else {
        items = json_array();
        if (items == NULL) {
            snprintf(err, sizeof(err), "out of memory");
            rc = API_FAILED;
        } else {
            rc = api_timeline(&hc, id, &q, collect, items, err, sizeof(err));
        }
    }
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    if ((fo.kind != FORMAT_NDJSON && format_timeline(stdout, customer, items, &fo) < 0) ||
        fflush(stdout) == EOF) {
        fprintf(stderr, "touchline: writing the output: %s\n",
                errno != 0 ? strerror(errno) : "out of memory");
        rc = API_FAILED;
    }
out:
    json_decref(items);
    json_decref(customer);
    return exit_for(rc);
}

static const struct command commands[] = {
    {"timeline", cmd_timeline, "a customer's interactions on every channel, newest first"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: touchline [--url URL] [--token TOKEN] COMMAND [options]\n"
                 "Shows what customers told the business on every channel, from touchlined.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(out,
            "\n"
            "Options:\n"
            "  --url URL      touchlined's HTTP API (default $TOUCHLINE_URL, else %s)\n"
            "  --token TOKEN  bearer token (default $TOUCHLINE_TOKEN)\n"
            "  -h, --help     show this help; 'touchline COMMAND --help' shows a command's\n"
            "  -V, --version  show the version\n"
            "\n"
            "Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.\n",
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
    struct global g = {.url = getenv("TOUCHLINE_URL"), .token = getenv("TOUCHLINE_TOKEN")};
    int opt;
    /* Times are shown in the zone TZ names. */
    tzset();
    opterr = 0;
    /* '+': stop at the command; what follows it is the command's. */
    while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            g.url = optarg;
            break;
        case 't':
            g.token = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        case 'V':
            printf("touchline %s\n", TOUCHLINE_VERSION);
            return EXIT_SUCCESS;
        default:
            return bad_option("", opt, argv);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "touchline: no command\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (g.url == NULL || g.url[0] == '\0') {
        g.url = DEFAULT_URL;
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
