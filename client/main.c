/*
 * touchline: the command-line client of touchlined's HTTP API (CONTRACT §5), and of its TCP
 * ingest port for log and import. This file reads each command's options, calls the
 * touchline_client library with them, says on stderr what went wrong and picks the exit
 * status. What commands compute lives in the library: the HTTP calls (api, http_client), the
 * tables and JSON shown (format), the record `log` sends (logrecord), and sending records
 * (importer, sender, tcp_client, cdr, mail). A command is one entry of the table at the
 * bottom: a name, a handler that parses its own options, and a line of help.
 *
 * Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "format.h"
#include "http_client.h"
#include "follow.h"
#include "importer.h"
#include "logrecord.h"
#include "normalize.h"
#include "sender.h"
#include "tcp_client.h"
#include "token.h"

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
    bool url_given;     /* by --url, not by the environment or the default */
    const char *cacert; /* CA file to trust for https:// and tls:// (NULL: the system's) */
};

struct command {
    const char *name;
    int (*run)(struct global *g, int argc, char **argv);
    const char *help;
};

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

/*
 * Table width: COLUMNS when it is set to a number (as a user sets it to fit a window or a
 * page), else the terminal's when stdout is one (FORMAT_DEFAULT_WIDTH when it does not say);
 * never less than FORMAT_MIN_WIDTH. Output to
 * a pipe or a file without COLUMNS keeps every value whole (FORMAT_FULL_WIDTH).
 */
static size_t table_width(void)
{
    const char *env = getenv("COLUMNS");
    size_t cols = 0;
    if (env != NULL && env[0] >= '0' && env[0] <= '9') {
        char *end;
        errno = 0;
        unsigned long v = strtoul(env, &end, 10);
        if (*end == '\0' && errno == 0 && v > 0 && v < 100000) {
            cols = v;
        }
    }
    struct winsize ws;
    if (cols == 0 && isatty(STDOUT_FILENO)) {
        cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col
                                                                           : FORMAT_DEFAULT_WIDTH;
    }
    if (cols == 0) {
        return FORMAT_FULL_WIDTH;
    }
    return cols < FORMAT_MIN_WIDTH ? FORMAT_MIN_WIDTH : cols;
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

/* Options of the commands about one customer. The first five are the identifier kinds, in
 * enum ident_kind's order: their index names the kind. */
enum {
    OPT_CUSTOMER = 256,
    OPT_FORMAT,
    OPT_UTC,
    OPT_CHANNEL,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_LIMIT,
    OPT_ALL,
    OPT_FROM,
    OPT_YES,
    OPT_MERGE,
    OPT_BEFORE,
};

/* The global options, also taken after the command (touchline timeline --phone N --url U):
 * numbered clear of every command's own options. */
enum {
    OPT_GLOBAL_URL = 900,
    OPT_GLOBAL_TOKEN,
    OPT_GLOBAL_CACERT,
};

/* Applies a global option given after the command. */
static void global_option(struct global *g, int opt, const char *arg)
{
    if (opt == OPT_GLOBAL_URL) {
        g->url = arg;
        g->url_given = true;
    } else if (opt == OPT_GLOBAL_CACERT) {
        g->cacert = arg;
    } else {
        g->token = arg;
    }
}

static const struct option customer_options[] = {
    {"phone", required_argument, NULL, 0},
    {"email", required_argument, NULL, 0},
    {"chat", required_argument, NULL, 0},
    {"web", required_argument, NULL, 0},
    {"external", required_argument, NULL, 0},
    {"customer", required_argument, NULL, OPT_CUSTOMER},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"utc", no_argument, NULL, OPT_UTC},
    {"channel", required_argument, NULL, OPT_CHANNEL},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"all", no_argument, NULL, OPT_ALL},
    {"before", required_argument, NULL, OPT_BEFORE},
    {"from", required_argument, NULL, OPT_FROM},
    {"yes", no_argument, NULL, OPT_YES},
    {"merge", required_argument, NULL, OPT_MERGE},
    {"url", required_argument, NULL, OPT_GLOBAL_URL},
    {"cacert", required_argument, NULL, OPT_GLOBAL_CACERT},
    {"token", required_argument, NULL, OPT_GLOBAL_TOKEN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What a command takes beyond the selector, --format and --help. */
enum {
    TAKES_UTC = 1 << 0,
    TAKES_PAGING = 1 << 1, /* --channel, --limit, --all, --before */
    TAKES_FROM = 1 << 2,
    TAKES_YES = 1 << 3,
    TAKES_RANGE = 1 << 4, /* --since, --until */
    TAKES_MERGE = 1 << 5,
    TAKES_TWO = 1 << 6, /* two identifiers (and no --customer) instead of one selector */
};

static unsigned option_needs(int opt)
{
    switch (opt) {
    case OPT_UTC:
        return TAKES_UTC;
    case OPT_SINCE:
    case OPT_UNTIL:
        return TAKES_RANGE;
    case OPT_CHANNEL:
    case OPT_LIMIT:
    case OPT_ALL:
    case OPT_BEFORE:
        return TAKES_PAGING;
    case OPT_FROM:
        return TAKES_FROM;
    case OPT_YES:
        return TAKES_YES;
    case OPT_MERGE:
        return TAKES_MERGE;
    default:
        return 0;
    }
}

/* The arguments of a command about one customer. */
struct args {
    const char *kind;  /* the selector: an identifier kind, or "customer" for an id */
    const char *value; /* borrowed from argv */
    struct format_opts fo;
    struct api_timeline_query q;
    const char *limit; /* --limit as given, or NULL */
    bool all;
    const char *from;
    bool yes;
    long long merge;   /* --merge, 0 when not given */
    const char *kind2; /* TAKES_TWO: the second identifier */
    const char *value2;
};

/* Says how a selector can be given, under heading ("Whose timeline"). */
static void selector_usage(FILE *out, const char *heading)
{
    fprintf(out,
            "%s (exactly one):\n"
            "  --phone N        by phone number, in any spelling: 0912 345 6789, +98 912...,\n"
            "                   Persian or Arabic-Indic digits\n"
            "  --email E        by email address\n"
            "  --chat H         by chat handle, provider:handle (telegram:@sara_k)\n"
            "  --web W          by web visitor or user id\n"
            "  --external X     by another system's id, system:id (shop:55120)\n"
            "  --customer ID    by customer id (a merged-away id shows the customer it became)\n",
            heading);
}

/*
 * Parses the options of command cmd ("timeline", "customer show"): exactly one selector,
 * --format, --help, and what takes names; usage writes the command's help. Returns -1 with *a
 * filled (width and color set for stdout), or the exit status to end with: EXIT_SUCCESS after
 * --help, EXIT_USAGE after saying on stderr what was wrong.
 */
static int parse_args(struct global *g, const char *cmd, unsigned takes, void (*usage)(FILE *),
                      int argc, char **argv, struct args *a)
{
    int opt, index = 0;
    memset(a, 0, sizeof(*a));
    a->fo.kind = FORMAT_TABLE;
    a->q.max = DEFAULT_LIMIT;
    optind = 0; /* glibc: start afresh on this argv */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", customer_options, &index)) != -1) {
        if ((option_needs(opt) & ~takes) != 0) {
            fprintf(stderr, "touchline %s: unknown option --%s\nTry 'touchline %s --help'.\n", cmd,
                    customer_options[index].name, cmd);
            return EXIT_USAGE;
        }
        switch (opt) {
        case 0:
            if ((takes & TAKES_TWO) && a->kind != NULL && a->kind2 == NULL) {
                a->kind2 = normalize_kind_name((enum ident_kind)index);
                a->value2 = optarg;
                break;
            }
            /* fall through */
        case OPT_CUSTOMER:
            if ((takes & TAKES_TWO) && opt == OPT_CUSTOMER) {
                fprintf(stderr, "touchline %s: give two identifiers, not --customer\n", cmd);
                return EXIT_USAGE;
            }
            if (a->kind != NULL) {
                fprintf(stderr,
                        "touchline %s: give only one of --phone, --email, --chat, --web, "
                        "--external, --customer\n",
                        cmd);
                return EXIT_USAGE;
            }
            a->kind = opt == 0 ? normalize_kind_name((enum ident_kind)index) : "customer";
            a->value = optarg;
            break;
        case OPT_FORMAT:
            if (format_kind_parse(optarg, &a->fo.kind) < 0) {
                fprintf(stderr, "touchline %s: --format: \"%s\" is not table, json or ndjson\n",
                        cmd, optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_UTC:
            a->fo.utc = true;
            break;
        case OPT_CHANNEL:
            a->q.channel = optarg;
            break;
        case OPT_SINCE:
            a->q.since = optarg;
            break;
        case OPT_UNTIL:
            a->q.until = optarg;
            break;
        case OPT_LIMIT: {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 || n == 0 ||
                n > 1000000000ULL) {
                fprintf(stderr, "touchline %s: --limit: \"%s\" is not a positive number\n", cmd,
                        optarg);
                return EXIT_USAGE;
            }
            a->q.max = (size_t)n;
            a->limit = optarg;
            break;
        }
        case OPT_BEFORE:
            a->q.before = optarg;
            break;
        case OPT_GLOBAL_URL:
        case OPT_GLOBAL_TOKEN:
        case OPT_GLOBAL_CACERT:
            global_option(g, opt, optarg);
            break;
        case OPT_ALL:
            a->all = true;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case OPT_YES:
            a->yes = true;
            break;
        case OPT_MERGE: {
            char *end;
            errno = 0;
            long long n = strtoll(optarg, &end, 10);
            if (optarg[0] < '1' || optarg[0] > '9' || *end != '\0' || errno != 0 || n <= 0) {
                fprintf(stderr, "touchline %s: --merge: \"%s\" is not a merge id\n", cmd, optarg);
                return EXIT_USAGE;
            }
            a->merge = n;
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            return bad_option(cmd, opt, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "touchline %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    if (a->kind == NULL) {
        fprintf(stderr,
                "touchline %s: which customer? Give --phone, --email, --chat, --web, "
                "--external or --customer\n"
                "Try 'touchline %s --help'.\n",
                cmd, cmd);
        return EXIT_USAGE;
    }
    if ((takes & TAKES_TWO) && a->kind2 == NULL) {
        fprintf(stderr,
                "touchline %s: give two identifiers, e.g. --phone N --email E\n"
                "Try 'touchline %s --help'.\n",
                cmd, cmd);
        return EXIT_USAGE;
    }
    if (a->all) {
        a->q.max = 0;
    }
    a->fo.width = table_width();
    a->fo.color = a->fo.kind == FORMAT_TABLE && want_color();
    return -1;
}

/* Prepares hc for the daemon g names. Returns 0, or EXIT_USAGE after saying why. */
static int open_api(const struct global *g, struct http_client *hc)
{
    char err[512];
    if (http_client_init(hc, g->url, g->token, 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        return EXIT_USAGE;
    }
    hc->url.cacert = g->cacert;
    return 0;
}

/* Ends what a formatter wrote to stdout (ok: it succeeded; errno was 0 before it). Returns
 * API_OK, or API_FAILED after saying what failed. */
static int output_done(bool ok)
{
    if (!ok || fflush(stdout) == EOF) {
        fprintf(stderr, "touchline: writing the output: %s\n",
                errno != 0 ? strerror(errno) : "out of memory");
        return API_FAILED;
    }
    return API_OK;
}

/* The id of a profile the server answered. Returns it (borrowed), or NULL after saying so. */
static const char *profile_id(const json_t *profile)
{
    const char *id = json_string_value(json_object_get(profile, "id"));
    if (id == NULL) {
        fprintf(stderr, "touchline: the server answered a customer without an id\n");
    }
    return id;
}

/*
 * The id of the customer a->kind/value names: the --customer value as it is (the server
 * redirects a merged-away id), else the id of the profile found by the identifier, which is
 * kept in *profile (the caller releases it). Returns an enum api_result, after saying what
 * went wrong.
 */
static int target_id(const struct http_client *hc, const struct args *a, json_t **profile,
                     const char **id)
{
    char err[512];
    *profile = NULL;
    *id = NULL;
    if (strcmp(a->kind, "customer") == 0) {
        *id = a->value;
        return API_OK;
    }
    int rc = api_lookup(hc, a->kind, a->value, profile, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        return rc;
    }
    *id = profile_id(*profile);
    return *id != NULL ? API_OK : API_FAILED;
}

/* Lines of the commands' --help that many share. */
#define HELP_FORMAT "  --format F       table (default), json or ndjson (the server's answer)\n"
#define HELP_UTC    "  --utc            times in UTC instead of the local time zone (TZ)\n"
#define HELP_HELP   "  -h, --help       show this help\n"

static void timeline_usage(FILE *out)
{
    fprintf(out, "Usage: touchline timeline (--phone N | --email E | --chat H | --web W |\n"
                 "                           --external X | --customer ID) [options]\n"
                 "Shows a customer's interactions on every channel, newest first.\n"
                 "\n");
    selector_usage(out, "Whose timeline");
    fprintf(
        out,
        "\n"
        "Options:\n"
        "  --channel C      only this channel: phone, sms, email, chat, web, social,\n"
        "                   in_person or other\n"
        "  --since T        from this time on (RFC 3339: 2026-11-01T00:00:00Z)\n"
        "  --until T        before this time\n"
        "  --limit N        show at most N interactions (default %d); when there are more,\n"
        "                   the table ends with the command that shows the next ones\n"
        "  --before CURSOR  start after this cursor: a next_cursor of --format json, or\n"
        "                   what that last line names\n"
        "  --all            show every interaction, page after page; with --format ndjson\n"
        "                   each page is written as it comes (for scripts)\n"
        "  --format F       table (default), json ({\"customer\", \"items\", \"next_cursor\"}:\n"
        "                   null when nothing follows) or ndjson\n" HELP_UTC HELP_HELP "\n"
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

/*
 * Writes the table's last line when more interactions follow the ones shown: the command that
 * shows them, which is this one with --before next (never the token: a secret stays out of
 * the output). Returns 0, or -1 when writing failed.
 */
static int more_line(const struct global *g, const struct args *a, const char *next)
{
    char selector[32];
    const char *words[24];
    size_t n = 0;
    snprintf(selector, sizeof(selector), "--%s", a->kind);
    words[n++] = "touchline";
    if (g->url_given) {
        words[n++] = "--url";
        words[n++] = g->url;
    }
    words[n++] = "timeline";
    words[n++] = selector;
    words[n++] = a->value;
    const char *const given[][2] = {
        {"--channel", a->q.channel},
        {"--since", a->q.since},
        {"--until", a->q.until},
        {"--limit", a->limit},
    };
    for (size_t k = 0; k < sizeof(given) / sizeof(given[0]); k++) {
        if (given[k][1] != NULL) {
            words[n++] = given[k][0];
            words[n++] = given[k][1];
        }
    }
    if (a->fo.utc) {
        words[n++] = "--utc";
    }
    words[n++] = "--before";
    words[n++] = next;
    return format_more(stdout, words, n);
}

static int cmd_timeline(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "timeline", TAKES_UTC | TAKES_PAGING | TAKES_RANGE, timeline_usage,
                          argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512], *next = NULL;
    json_t *customer = NULL, *items = NULL;
    int rc = api_lookup(&hc, a.kind, a.value, &customer, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    const char *id = profile_id(customer);
    if (id == NULL) {
        rc = API_FAILED;
        goto out;
    }
    if (a.fo.kind == FORMAT_NDJSON) {
        rc = api_timeline(&hc, id, &a.q, stream, NULL, &next, err, sizeof(err));
    } else {
        items = json_array();
        if (items == NULL) {
            snprintf(err, sizeof(err), "out of memory");
            rc = API_FAILED;
        } else {
            rc = api_timeline(&hc, id, &a.q, collect, items, &next, err, sizeof(err));
        }
    }
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    bool ok =
        a.fo.kind == FORMAT_NDJSON || format_timeline(stdout, customer, items, next, &a.fo) == 0;
    if (ok && a.fo.kind == FORMAT_TABLE && next != NULL) {
        ok = more_line(g, &a, next) == 0;
    }
    rc = output_done(ok);
out:
    free(next);
    json_decref(items);
    json_decref(customer);
    return exit_for(rc);
}

static void context_usage(FILE *out)
{
    fprintf(out, "Usage: touchline context (--phone N | --email E | --chat H | --web W |\n"
                 "                          --external X | --customer ID) [options]\n"
                 "Shows what an agent needs when a customer calls or writes: who they are, how\n"
                 "long ago they were last in touch, contacts in the last 7 days, their stage,\n"
                 "sentiment and score, their open threads, and the latest interaction on each\n"
                 "channel.\n"
                 "\n");
    selector_usage(out, "Whose context");
    fprintf(out, "\n"
                 "Options:\n" HELP_FORMAT HELP_UTC HELP_HELP "\n"
                 "Exit status: 0 ok, 1 customer not found, 2 usage, 3 server or network error.\n");
}

/* An action on one customer: the request for customer id with what a gives. Returns an enum
 * api_result with *out set on API_OK, or err set. */
typedef int (*customer_action_fn)(const struct http_client *hc, const char *id,
                                  const struct args *a, json_t **out, char *err, size_t errlen);

/* Writes an answer in the form opts asks for; 0, or -1. */
typedef int (*answer_format_fn)(FILE *out, const json_t *answer, const struct format_opts *opts);

/* Runs action on the customer a names and writes its answer with fmt. Returns the exit
 * status. */
static int run_on_customer(struct global *g, const struct args *a, customer_action_fn action,
                           answer_format_fn fmt)
{
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *profile = NULL, *answer = NULL;
    const char *id;
    int rc = target_id(&hc, a, &profile, &id);
    if (rc < 0) {
        goto out;
    }
    rc = action(&hc, id, a, &answer, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    rc = output_done(fmt(stdout, answer, &a->fo) == 0);
out:
    json_decref(answer);
    json_decref(profile);
    return exit_for(rc);
}

static int context_action(const struct http_client *hc, const char *id, const struct args *a,
                          json_t **out, char *err, size_t errlen)
{
    (void)a;
    return api_context(hc, id, out, err, errlen);
}

static int cmd_context(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "context", TAKES_UTC, context_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    return run_on_customer(g, &a, context_action, format_context);
}

static void customer_show_usage(FILE *out)
{
    fprintf(out, "Usage: touchline customer show (--phone N | --email E | --chat H | --web W |\n"
                 "                                --external X | --customer ID) [options]\n"
                 "Shows a customer's profile: name, id, identities, traits, first and last seen,\n"
                 "interactions per channel, and the ids of the customers merged into them.\n"
                 "\n");
    selector_usage(out, "Which customer");
    fprintf(out, "\n"
                 "Options:\n" HELP_FORMAT HELP_UTC HELP_HELP "\n"
                 "Exit status: 0 ok, 1 customer not found, 2 usage, 3 server or network error.\n");
}

static int cmd_customer_show(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "customer show", TAKES_UTC, customer_show_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *profile = NULL;
    int rc = api_lookup(&hc, a.kind, a.value, &profile, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    rc = output_done(format_customer(stdout, profile, &a.fo) == 0);
out:
    json_decref(profile);
    return exit_for(rc);
}

static int merge_action(const struct http_client *hc, const char *id, const struct args *a,
                        json_t **out, char *err, size_t errlen)
{
    return api_merge(hc, id, a->from, out, err, errlen);
}

static int identities_action(const struct http_client *hc, const char *id, const struct args *a,
                             json_t **out, char *err, size_t errlen)
{
    (void)a;
    return api_identities(hc, id, out, err, errlen);
}

static int unmerge_action(const struct http_client *hc, const char *id, const struct args *a,
                          json_t **out, char *err, size_t errlen)
{
    return api_unmerge(hc, id, a->merge, out, err, errlen);
}

static void customer_merge_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline customer merge (--phone N | --email E | --chat H | --web W |\n"
            "                                 --external X | --customer ID) --from ID [options]\n"
            "Merges customer --from into the customer the selector names, when the two turn out\n"
            "to be one person: identities and interactions move over, and the merged-away id\n"
            "keeps answering, redirected. Shows the profile of the customer that remains.\n"
            "\n");
    selector_usage(out, "Which customer remains");
    fprintf(out, "\n"
                 "Options:\n"
                 "  --from ID        the id of the customer merged into it (required)\n" HELP_FORMAT
                     HELP_UTC HELP_HELP "\n"
                 "Exit status: 0 merged, 1 a customer not found, 2 usage (also when the two are\n"
                 "already one customer), 3 server or network error.\n");
}

static int cmd_customer_merge(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "customer merge", TAKES_UTC | TAKES_FROM, customer_merge_usage, argc,
                          argv, &a);
    if (done >= 0) {
        return done;
    }
    if (a.from == NULL || a.from[0] == '\0') {
        fprintf(stderr, "touchline customer merge: which customer goes into it? Give --from ID\n"
                        "Try 'touchline customer merge --help'.\n");
        return EXIT_USAGE;
    }
    return run_on_customer(g, &a, merge_action, format_customer);
}

static void customer_forget_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline customer forget (--phone N | --email E | --chat H | --web W |\n"
            "                                  --external X | --customer ID) --yes [options]\n"
            "Erases a customer for good: the customer, every customer merged into them, their\n"
            "identities and all their interactions. What remains is an audit entry without\n"
            "personal data: when, by whom, and how many records went. Without --yes nothing\n"
            "is erased: it says what would be.\n"
            "\n");
    selector_usage(out, "Which customer");
    fprintf(out, "\n"
                 "Options:\n"
                 "  --yes            erase; without it, only say what would be erased\n" HELP_FORMAT
                     HELP_HELP "\n"
                 "Exit status: 0 erased, 1 customer not found, 2 usage (also without --yes),\n"
                 "3 server or network error.\n");
}

static int cmd_customer_forget(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "customer forget", TAKES_YES, customer_forget_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *profile = NULL, *erasure = NULL;
    /* The profile first, even for an id: to say whom --yes would erase, and to erase the
     * customer a merged-away id became. */
    int rc = api_lookup(&hc, a.kind, a.value, &profile, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    const char *id = profile_id(profile);
    if (id == NULL) {
        rc = API_FAILED;
        goto out;
    }
    if (!a.yes) {
        fputs("touchline customer forget: ", stderr);
        if (format_erase_notice(stderr, profile) < 0) {
            fputs("this would erase the customer", stderr);
        }
        fputs(".\nNothing was erased. Add --yes to erase for good.\n", stderr);
        rc = API_INVALID;
        goto out;
    }
    rc = api_erase(&hc, id, &erasure, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    rc = output_done(format_erasure(stdout, erasure, profile, &a.fo) == 0);
out:
    json_decref(erasure);
    json_decref(profile);
    return exit_for(rc);
}

static void customer_export_usage(FILE *out)
{
    fprintf(out, "Usage: touchline customer export (--phone N | --email E | --chat H | --web W |\n"
                 "                                  --external X | --customer ID) [options]\n"
                 "Writes everything touchlined holds about a customer (the right of access) to\n"
                 "stdout as one JSON document: profile, identities with the record that first\n"
                 "carried each, merges, and every interaction, oldest first. It is streamed: a\n"
                 "customer with a long history needs no more memory than a short one. Needs a\n"
                 "token with the admin scope; the export is recorded in the audit log.\n"
                 "\n");
    selector_usage(out, "Which customer");
    fprintf(out, "\n"
                 "Options:\n" HELP_HELP "\n"
                 "Exit status: 0 exported, 1 customer not found, 2 usage, 3 server or network\n"
                 "error (a document cut short by a failure is not valid JSON).\n");
}

static int cmd_customer_export(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "customer export", 0, customer_export_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *profile = NULL;
    const char *id;
    int rc = target_id(&hc, &a, &profile, &id);
    if (rc < 0) {
        goto out;
    }
    rc = api_export(&hc, id, stdout, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    rc = output_done(true);
out:
    json_decref(profile);
    return exit_for(rc);
}

static void customer_identities_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline customer identities (--phone N | --email E | --chat H | --web W |\n"
            "                                      --external X | --customer ID) [options]\n"
            "Shows where each of a customer's identities came from (the record that first\n"
            "brought it, and when), every merge that made the customer (the record or person\n"
            "behind it and the identifiers that linked the two; its merge id for unmerge) and\n"
            "the customers kept apart from it.\n"
            "\n");
    selector_usage(out, "Which customer");
    fprintf(out, "\n"
                 "Options:\n" HELP_FORMAT HELP_UTC HELP_HELP "\n"
                 "Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.\n");
}

static int cmd_customer_identities(struct global *g, int argc, char **argv)
{
    struct args a;
    int done =
        parse_args(g, "customer identities", TAKES_UTC, customer_identities_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    return run_on_customer(g, &a, identities_action, format_identities);
}

static void customer_why_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline customer why IDENTIFIER IDENTIFIER [options]\n"
            "Says how two identifiers came to be one customer: the record that first brought\n"
            "each, and the merges, in order, that joined the customers they first belonged to.\n"
            "When they are two customers, it says which.\n"
            "\n"
            "Identifiers (two, of any kinds, in any spelling):\n"
            "  --phone N, --email E, --chat H, --web W, --external X\n"
            "\n"
            "Options:\n" HELP_FORMAT HELP_UTC HELP_HELP "\n"
            "Exit status: 0 ok, 1 an identifier not known, 2 usage, 3 server or network error.\n");
}

static int cmd_customer_why(struct global *g, int argc, char **argv)
{
    struct args a;
    int done =
        parse_args(g, "customer why", TAKES_UTC | TAKES_TWO, customer_why_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *why = NULL;
    int rc = api_why(&hc, a.kind, a.value, a.kind2, a.value2, &why, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        goto out;
    }
    errno = 0;
    rc = output_done(format_why(stdout, why, &a.fo) == 0);
out:
    json_decref(why);
    return exit_for(rc);
}

static void customer_unmerge_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline customer unmerge (--phone N | --email E | --chat H | --web W |\n"
            "                                   --external X | --customer ID) --merge ID\n"
            "Undoes one merge of the customer (its id is listed by 'touchline customer\n"
            "identities'): the merged-away customer comes back with its id, its identities and\n"
            "the interactions that carry only those. The two are then kept apart: records that\n"
            "carry identifiers of both no longer merge them.\n"
            "\n");
    selector_usage(out, "Which customer");
    fprintf(out,
            "\n"
            "Options:\n"
            "  --merge ID       the merge to undo (required)\n" HELP_FORMAT HELP_HELP "\n"
            "Exit status: 0 undone, 1 customer or merge not found, 2 usage (also when the\n"
            "merge is not the customer's or was undone already), 3 server or network error.\n");
}

static int cmd_customer_unmerge(struct global *g, int argc, char **argv)
{
    struct args a;
    int done =
        parse_args(g, "customer unmerge", TAKES_MERGE, customer_unmerge_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    if (a.merge <= 0) {
        fprintf(stderr, "touchline customer unmerge: which merge? Give --merge ID\n"
                        "Try 'touchline customer unmerge --help'.\n");
        return EXIT_USAGE;
    }
    return run_on_customer(g, &a, unmerge_action, format_unmerge);
}

static const struct command customer_commands[] = {
    {"show", cmd_customer_show, "a customer's profile: identities, traits, counts per channel"},
    {"merge", cmd_customer_merge, "merge another customer (--from ID) into this one"},
    {"forget", cmd_customer_forget, "erase a customer and everything recorded about them"},
    {"export", cmd_customer_export, "everything recorded about a customer, as JSON (admin)"},
    {"identities", cmd_customer_identities, "where each identity came from; merges; pairs apart"},
    {"why", cmd_customer_why, "how two identifiers came to be one customer"},
    {"unmerge", cmd_customer_unmerge, "undo one merge (--merge ID) and keep the two apart"},
};

/* A command made of subcommands: "touchline customer show", "touchline import cdr". */
struct command_group {
    const char *name;
    const char *usage;  /* the usage lines, then a line saying what it does */
    const char *what;   /* named in "which subcommand? ..." */
    const char *status; /* the exit status line */
    const struct command *subs;
    size_t n_subs;
};

static void group_usage(const struct command_group *grp, FILE *out)
{
    fprintf(out, "%s\nSubcommands:\n", grp->usage);
    for (size_t i = 0; i < grp->n_subs; i++) {
        fprintf(out, "  %-8s %s\n", grp->subs[i].name, grp->subs[i].help);
    }
    fprintf(out, "\n'touchline %s SUBCOMMAND --help' shows a subcommand's options.\n%s\n",
            grp->name, grp->status);
}

static int run_group(const struct command_group *grp, struct global *g, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "touchline %s: which subcommand? %s\n", grp->name, grp->what);
        group_usage(grp, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        group_usage(grp, stdout);
        return EXIT_SUCCESS;
    }
    for (size_t i = 0; i < grp->n_subs; i++) {
        if (strcmp(sub, grp->subs[i].name) == 0) {
            return grp->subs[i].run(g, argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "touchline %s: unknown subcommand \"%s\"\n", grp->name, sub);
    group_usage(grp, stderr);
    return EXIT_USAGE;
}

static const struct command_group customer_group = {
    "customer",
    "Usage: touchline customer SUBCOMMAND (--phone N | --email E | --chat H |\n"
    "                          --web W | --external X | --customer ID) [options]\n"
    "Shows, merges, unmerges, erases or exports a customer, and where its identities came\n"
    "from.\n",
    "show, merge, forget, export, identities, why or unmerge",
    "Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.",
    customer_commands,
    sizeof(customer_commands) / sizeof(customer_commands[0]),
};

static int cmd_customer(struct global *g, int argc, char **argv)
{
    return run_group(&customer_group, g, argc, argv);
}

/*
 * Commands that send records to the daemon's TCP port (CONTRACT §3): log, import cdr,
 * import mail. The work is in importer.c; here are their options.
 */

/* Options every sending command takes, numbered clear of the other commands' options. */
enum {
    SEND_OPT_TCP = 1000,
    SEND_OPT_TOKEN,
    SEND_OPT_FORMAT,
    SEND_OPT_SOURCE,
};

/* Where records go and how answers show, before the command's options change it. */
static void send_target_init(struct importer_target *t, const struct global *g, const char *cmd)
{
    const char *tcp = getenv("TOUCHLINE_TCP");
    memset(t, 0, sizeof(*t));
    t->addr = tcp != NULL && tcp[0] != '\0' ? tcp : TCP_CLIENT_DEFAULT_ADDR;
    t->token = g->token;
    t->cacert = g->cacert;
    t->json = !isatty(STDOUT_FILENO);
    t->cmd = cmd;
    t->out = stdout;
    t->err = stderr;
}

/* Applies --tcp, --token or --format. Returns 0, or EXIT_USAGE after saying why. */
static int send_option(struct importer_target *t, int opt, const char *arg)
{
    switch (opt) {
    case SEND_OPT_TCP:
        t->addr = arg;
        return 0;
    case SEND_OPT_TOKEN:
        t->token = arg;
        return 0;
    case OPT_GLOBAL_CACERT:
        t->cacert = arg;
        return 0;
    case SEND_OPT_FORMAT:
        if (strcmp(arg, "json") != 0 && strcmp(arg, "text") != 0) {
            fprintf(stderr, "%s: --format: \"%s\" is not json or text\n", t->cmd, arg);
            return EXIT_USAGE;
        }
        t->json = strcmp(arg, "json") == 0;
        return 0;
    }
    return 0;
}

/* Reads a whole number for option name. Returns 0, or EXIT_USAGE after saying why. */
static int whole_number(const char *cmd, const char *name, const char *arg, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || errno != 0) {
        fprintf(stderr, "%s: --%s: \"%s\" is not a whole number\n", cmd, name, arg);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

static const char send_common_help[] =
    "  --tcp HOST:PORT  touchlined's TCP port, tls://HOST:PORT over TLS (default $TOUCHLINE_TCP, "
    "else " TCP_CLIENT_DEFAULT_ADDR ")\n"
    "  --token T        the token, sent as the first line (default $TOUCHLINE_TOKEN)\n";

static void log_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline log --channel C (--phone N | --email E | --chat H | --web W |\n"
            "                     --external X)... --summary TEXT [options]\n"
            "Sends one interaction record to touchlined, for scripts.\n"
            "\n"
            "The customer (at least one; each may be repeated, all name one person):\n"
            "  --phone N, --email E, --chat provider:handle, --web W, --external system:id\n"
            "  --name NAME        the customer's display name\n"
            "\n"
            "The interaction:\n"
            "  --channel C        phone, sms, email, chat, web, social, in_person or other\n"
            "  --summary TEXT     what happened (the record's body)\n"
            "  --subject S        --direction inbound|outbound|internal   --agent A\n"
            "  --status S         phone: answered, missed, busy, failed, voicemail;\n"
            "                     messages: received, sent, delivered, read, failed\n"
            "  --duration N       seconds          --thread T    conversation or ticket id\n"
            "  --stage S          pre_purchase, purchase or post_purchase\n"
            "  --sentiment S      positive, neutral or negative   --score N   0 to 10\n"
            "  --tag T            a tag (repeatable)\n"
            "  --occurred-at T    when (RFC 3339, default now)\n"
            "  --source S         the sending system (default touchline-cli)\n"
            "  --external-id X    its id there: sending the same one again stores nothing twice\n"
            "\n"
            "Options:\n"
            "%s"
            "  --format F         text (default on a terminal: \"stored <id> for customer <id>\")\n"
            "                     or json (the daemon's answer line, the default otherwise)\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 stored (or already stored), 2 usage or the record was refused as\n"
            "invalid, 3 network error, database unavailable or token refused.\n",
            send_common_help);
}

/* Says what a logrecord_* failure means for option (without its dashes). Returns the exit
 * status. */
static int log_failed(const char *cmd, const char *option, int result)
{
    if (result == LOGRECORD_NOT_UTF8) {
        fprintf(stderr, "%s: --%s: not valid UTF-8 text\n", cmd, option);
        return EXIT_USAGE;
    }
    fprintf(stderr, "%s: %s\n", cmd,
            result == LOGRECORD_NOMEM ? "out of memory" : "an option logrecord does not know");
    return EXIT_FAILED;
}

static int cmd_log(struct global *g, int argc, char **argv)
{
    enum {
        LOG_FIELD = 1100, /* a text option: logrecord_set knows its field */
        LOG_NUMBER,       /* a whole-number option: logrecord_set_number */
    };
    static const struct option opts[] = {
        {"phone", required_argument, NULL, LOG_FIELD},
        {"email", required_argument, NULL, LOG_FIELD},
        {"chat", required_argument, NULL, LOG_FIELD},
        {"web", required_argument, NULL, LOG_FIELD},
        {"external", required_argument, NULL, LOG_FIELD},
        {"channel", required_argument, NULL, LOG_FIELD},
        {"subject", required_argument, NULL, LOG_FIELD},
        {"direction", required_argument, NULL, LOG_FIELD},
        {"agent", required_argument, NULL, LOG_FIELD},
        {"status", required_argument, NULL, LOG_FIELD},
        {"thread", required_argument, NULL, LOG_FIELD},
        {"stage", required_argument, NULL, LOG_FIELD},
        {"sentiment", required_argument, NULL, LOG_FIELD},
        {"summary", required_argument, NULL, LOG_FIELD},
        {"name", required_argument, NULL, LOG_FIELD},
        {"duration", required_argument, NULL, LOG_NUMBER},
        {"score", required_argument, NULL, LOG_NUMBER},
        {"tag", required_argument, NULL, LOG_FIELD},
        {"occurred-at", required_argument, NULL, LOG_FIELD},
        {"external-id", required_argument, NULL, LOG_FIELD},
        {"source", required_argument, NULL, LOG_FIELD},
        {"tcp", required_argument, NULL, SEND_OPT_TCP},
        {"token", required_argument, NULL, SEND_OPT_TOKEN},
        {"url", required_argument, NULL, OPT_GLOBAL_URL},
        {"cacert", required_argument, NULL, OPT_GLOBAL_CACERT},
        {"format", required_argument, NULL, SEND_OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "touchline log";
    struct importer_target t;
    send_target_init(&t, g, cmd);
    json_t *rec = NULL;
    int rc = EXIT_FAILED, opt, index = 0;
    struct logrecord *lr = logrecord_new();
    if (lr == NULL) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto out;
    }
    optind = 0; /* glibc: start afresh on this argv */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, &index)) != -1) {
        long long n;
        int r;
        switch (opt) {
        case LOG_FIELD:
            r = logrecord_set(lr, opts[index].name, optarg);
            if (r != LOGRECORD_OK) {
                rc = log_failed(cmd, opts[index].name, r);
                goto out;
            }
            break;
        case LOG_NUMBER:
            rc = whole_number(cmd, opts[index].name, optarg, &n);
            if (rc != 0) {
                goto out;
            }
            r = logrecord_set_number(lr, opts[index].name, n);
            if (r != LOGRECORD_OK) {
                rc = log_failed(cmd, opts[index].name, r);
                goto out;
            }
            break;
        case OPT_GLOBAL_URL:
            /* Taken, as before the command, though records go to the TCP port. */
            global_option(g, opt, optarg);
            break;
        case SEND_OPT_TCP:
        case SEND_OPT_TOKEN:
        case OPT_GLOBAL_CACERT:
        case SEND_OPT_FORMAT:
            rc = send_option(&t, opt, optarg);
            if (rc != 0) {
                goto out;
            }
            break;
        case 'h':
            log_usage(stdout);
            rc = EXIT_SUCCESS;
            goto out;
        default:
            rc = bad_option("log", opt, argv);
            goto out;
        }
    }
    rc = EXIT_USAGE;
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        goto out;
    }
    const char *missing = logrecord_missing(lr);
    if (missing != NULL) {
        fprintf(stderr, "%s: %s is required\nTry 'touchline log --help'.\n", cmd, missing);
        goto out;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *bad = NULL;
    int r = logrecord_build(lr, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, &rec, &bad);
    if (r != LOGRECORD_OK) {
        rc = log_failed(cmd, bad, r);
        goto out;
    }
    rc = importer_send_one(&t, rec);
out:
    json_decref(rec);
    logrecord_free(lr);
    return rc;
}

static void import_cdr_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline import cdr FILE [options]\n"
            "Sends every call of an Asterisk Master.csv (cdr_csv, 16 to 18 columns: uniqueid\n"
            "and userfield optional) to touchlined as a phone record; FILE - reads stdin.\n"
            "Importing a file again stores nothing twice: the record's external_id is the\n"
            "call's uniqueid, or a hash of the row when the file has none.\n"
            "\n"
            "How a call is read:\n"
            "  It is inbound when its destination is internal: dst is an extension (a number\n"
            "  of at most --extension-digits digits), is no number (s of an IVR or a queue),\n"
            "  or dcontext is a trunk context (from-pstn, from-trunk, from-did, ext-did...;\n"
            "  --inbound-context replaces the list). Then the customer is src and the agent\n"
            "  the member who answered (the peer of dstchannel: SIP/2001-00ab -> 2001), else\n"
            "  dst. Otherwise it is outbound: the customer is dst and the agent src (or the\n"
            "  peer of channel). A call between two extensions, and one whose caller\n"
            "  withheld the number (anonymous, restricted, empty...), has no customer:\n"
            "  skipped and counted.\n"
            "  start is occurred_at, billsec duration_s; disposition ANSWERED, NO ANSWER, BUSY,\n"
            "  FAILED is status answered, missed, busy, failed; the caller-ID name of clid\n"
            "  (\"Sara\" <0912...>) is the customer's name on inbound calls.\n"
            "\n"
            "Options:\n"
            "  --source S              the records' source (default asterisk): name the PBX,\n"
            "                          asterisk-tehran-1, when there are several\n"
            "  --tz-offset +HH:MM      the zone start is written in (default: the local time\n"
            "                          zone, TZ); +00:00 for cdr.conf usegmtime=yes\n"
            "  --inbound-context RE    calls whose dcontext matches this extended regular\n"
            "                          expression are inbound, instead of the stock trunk\n"
            "                          contexts (^(from-trunk|from-pstn|my-provider)$)\n"
            "  --extension-digits N    extensions have at most N digits (default %d)\n"
            "%s"
            "\n"
            "Following (--follow): FILE is read as Asterisk appends to it, across rotation\n"
            "and truncation (like tail -F), until SIGTERM; only complete rows are sent.\n"
            "  --follow                keep reading FILE as it grows\n"
            "  --state PATH            where the position acknowledged so far is kept\n"
            "                          (default FILE" FOLLOW_STATE_SUFFIX "): a restart goes on\n"
            "                          from there, skipping nothing and resending nothing\n"
            "  --from-end              without a state file, start at the end of FILE\n"
            "                          (default: at its first line)\n"
            "  --status-interval S     a status line every S seconds (default %d; 0: none)\n"
            "  -h, --help              show this help\n"
            "\n"
            "Prints \"N stored, D duplicate, R rejected\"; each rejected row is named with its\n"
            "line number on stderr. On a terminal, stderr shows the progress. The daemon's\n"
            "country code and trunk prefix turn national numbers into international ones.\n"
            "Exit status: 0 all stored, 2 usage or some rows rejected, 3 network error,\n"
            "database unavailable or token refused.\n",
            CDR_EXTENSION_DIGITS, send_common_help, FOLLOW_STATUS_INTERVAL);
}

static int cmd_import_cdr(struct global *g, int argc, char **argv)
{
    enum {
        CDR_TZ = 1200,
        CDR_CONTEXT,
        CDR_EXT_DIGITS,
        CDR_FOLLOW,
        CDR_STATE,
        CDR_FROM_END,
        CDR_STATUS_INTERVAL
    };
    static const struct option opts[] = {
        {"follow", no_argument, NULL, CDR_FOLLOW},
        {"state", required_argument, NULL, CDR_STATE},
        {"from-end", no_argument, NULL, CDR_FROM_END},
        {"status-interval", required_argument, NULL, CDR_STATUS_INTERVAL},
        {"source", required_argument, NULL, SEND_OPT_SOURCE},
        {"tz-offset", required_argument, NULL, CDR_TZ},
        {"inbound-context", required_argument, NULL, CDR_CONTEXT},
        {"extension-digits", required_argument, NULL, CDR_EXT_DIGITS},
        {"tcp", required_argument, NULL, SEND_OPT_TCP},
        {"token", required_argument, NULL, SEND_OPT_TOKEN},
        {"url", required_argument, NULL, OPT_GLOBAL_URL},
        {"cacert", required_argument, NULL, OPT_GLOBAL_CACERT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "touchline import cdr";
    struct importer_target t;
    send_target_init(&t, g, cmd);
    struct cdr_opts co = {.source = "asterisk"};
    struct follow_opts fo = {.status_interval_s = FOLLOW_STATUS_INTERVAL};
    bool follow = false;
    regex_t re;
    bool have_re = false;
    int rc = EXIT_USAGE, opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        long long n;
        switch (opt) {
        case SEND_OPT_SOURCE:
            co.source = optarg;
            break;
        case CDR_TZ:
            if (cdr_parse_tz_offset(optarg, &co.tz_offset_min) < 0) {
                fprintf(stderr, "%s: --tz-offset: \"%s\" is not an offset like +03:30\n", cmd,
                        optarg);
                goto out;
            }
            co.has_tz_offset = true;
            break;
        case CDR_CONTEXT: {
            if (have_re) {
                regfree(&re);
                have_re = false;
            }
            int e = regcomp(&re, optarg, REG_EXTENDED | REG_NOSUB);
            if (e != 0) {
                char why[256];
                regerror(e, &re, why, sizeof(why));
                fprintf(stderr, "%s: --inbound-context: \"%s\": %s\n", cmd, optarg, why);
                goto out;
            }
            have_re = true;
            co.inbound_ctx = &re;
            break;
        }
        case CDR_EXT_DIGITS:
            if (whole_number(cmd, "extension-digits", optarg, &n) != 0) {
                goto out;
            }
            if (n < 1 || n > 15) {
                fprintf(stderr, "%s: --extension-digits: %lld is not between 1 and 15\n", cmd, n);
                goto out;
            }
            co.extension_digits = (unsigned)n;
            break;
        case OPT_GLOBAL_URL:
            /* Taken, as before the command, though records go to the TCP port. */
            global_option(g, opt, optarg);
            break;
        case CDR_FOLLOW:
            follow = true;
            break;
        case CDR_STATE:
            fo.state_path = optarg;
            break;
        case CDR_FROM_END:
            fo.from_end = true;
            break;
        case CDR_STATUS_INTERVAL:
            if (whole_number(cmd, "status-interval", optarg, &n) != 0) {
                goto out;
            }
            if (n < 0 || n > 86400) {
                fprintf(stderr, "%s: --status-interval: %lld is not between 0 and 86400\n", cmd, n);
                goto out;
            }
            fo.status_interval_s = (unsigned)n;
            break;
        case SEND_OPT_TCP:
        case SEND_OPT_TOKEN:
        case OPT_GLOBAL_CACERT:
            (void)send_option(&t, opt, optarg);
            break;
        case 'h':
            import_cdr_usage(stdout);
            rc = EXIT_SUCCESS;
            goto out;
        default:
            rc = bad_option("import cdr", opt, argv);
            goto out;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "%s: %s\nTry 'touchline import cdr --help'.\n", cmd,
                optind >= argc ? "which file? Give the Master.csv to import"
                               : "give one file only");
        goto out;
    }
    if (follow) {
        if (strcmp(argv[optind], "-") == 0) {
            fprintf(stderr, "%s: --follow reads a file, not stdin\n", cmd);
            goto out;
        }
        fo.path = argv[optind];
        rc = follow_cdr(&t, &co, &fo);
        goto out;
    }
    if (fo.state_path != NULL || fo.from_end) {
        fprintf(stderr, "%s: --state and --from-end go with --follow\n", cmd);
        goto out;
    }
    rc = importer_cdr(&t, &co, argv[optind]);
out:
    if (have_re) {
        regfree(&re);
    }
    return rc;
}

static void import_mail_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline import mail [options] < MESSAGE\n"
            "       touchline import mail --maildir DIR [options]\n"
            "Sends the RFC 5322 message on stdin, or every message of a Maildir (new/ and\n"
            "cur/), to touchlined as email records.\n"
            "\n"
            "Its Message-ID is the external_id (required: sending it again stores nothing\n"
            "twice); From (inbound) or the first address of To (outbound) is the customer, the\n"
            "other side the agent; Subject, Date and the first text/plain part (else the\n"
            "text of the first text/html part; decoded from any charset iconv knows, in\n"
            "UTF-8, at most 64 KiB) are subject, occurred_at and body; the thread is the first\n"
            "Message-ID of References, else In-Reply-To, else the message's own.\n"
            "\n"
            "Options:\n"
            "  --maildir DIR     import every message of this Maildir (again: nothing twice)\n"
            "  --company-domain D  the business's own mail domain (repeatable; default\n"
            "                    $TOUCHLINE_COMPANY_DOMAINS, comma-separated): a message from\n"
            "                    it is outbound to the first address outside it, any other is\n"
            "                    inbound; one within the company is skipped and counted\n"
            "  --direction D     inbound (default: a customer wrote) or outbound, without\n"
            "                    --company-domain\n"
            "  --source S        the records' source (default mail)\n"
            "%s"
            "  --format F        text (default on a terminal) or json (the daemon's answer)\n"
            "  -h, --help        show this help\n"
            "\n"
            "Exit status: 0 stored (or already stored), 2 usage, a message that cannot be a\n"
            "record, or one the daemon refused as invalid, 3 network error, database\n"
            "unavailable or token refused.\n",
            send_common_help);
}

static int cmd_import_mail(struct global *g, int argc, char **argv)
{
    enum { MAIL_DIRECTION = 1300, MAIL_MAILDIR, MAIL_COMPANY };
    static const struct option opts[] = {
        {"maildir", required_argument, NULL, MAIL_MAILDIR},
        {"company-domain", required_argument, NULL, MAIL_COMPANY},
        {"direction", required_argument, NULL, MAIL_DIRECTION},
        {"source", required_argument, NULL, SEND_OPT_SOURCE},
        {"tcp", required_argument, NULL, SEND_OPT_TCP},
        {"token", required_argument, NULL, SEND_OPT_TOKEN},
        {"url", required_argument, NULL, OPT_GLOBAL_URL},
        {"cacert", required_argument, NULL, OPT_GLOBAL_CACERT},
        {"format", required_argument, NULL, SEND_OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "touchline import mail";
    struct importer_target t;
    send_target_init(&t, g, cmd);
    struct mail_opts mo = {.source = "mail", .max_line = SENDER_MAX_LINE};
    const char *maildir = NULL;
    enum { MAX_DOMAINS = 64 };
    const char *domains[MAX_DOMAINS];
    char *env_domains = NULL;
    mo.company_domains = domains;
    int opt, rc = EXIT_USAGE;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case MAIL_DIRECTION:
            if (strcmp(optarg, "inbound") != 0 && strcmp(optarg, "outbound") != 0) {
                fprintf(stderr, "%s: --direction: \"%s\" is not inbound or outbound\n", cmd,
                        optarg);
                return EXIT_USAGE;
            }
            mo.outbound = strcmp(optarg, "outbound") == 0;
            break;
        case MAIL_MAILDIR:
            maildir = optarg;
            break;
        case MAIL_COMPANY:
            if (mo.ncompany == MAX_DOMAINS) {
                fprintf(stderr, "%s: --company-domain: at most %d\n", cmd, MAX_DOMAINS);
                goto out;
            }
            domains[mo.ncompany++] = optarg;
            break;
        case SEND_OPT_SOURCE:
            mo.source = optarg;
            break;
        case OPT_GLOBAL_URL:
            /* Taken, as before the command, though records go to the TCP port. */
            global_option(g, opt, optarg);
            break;
        case SEND_OPT_TCP:
        case SEND_OPT_TOKEN:
        case OPT_GLOBAL_CACERT:
        case SEND_OPT_FORMAT:
            if (send_option(&t, opt, optarg) != 0) {
                goto out;
            }
            break;
        case 'h':
            import_mail_usage(stdout);
            rc = EXIT_SUCCESS;
            goto out;
        default:
            rc = bad_option("import mail", opt, argv);
            goto out;
        }
    }
    const char *env = getenv("TOUCHLINE_COMPANY_DOMAINS");
    if (mo.ncompany == 0 && env != NULL && (env_domains = strdup(env)) != NULL) {
        char *save = NULL;
        for (char *d = strtok_r(env_domains, ", ", &save); d != NULL && mo.ncompany < MAX_DOMAINS;
             d = strtok_r(NULL, ", ", &save)) {
            domains[mo.ncompany++] = d;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\" (the message is read from stdin)\n", cmd,
                argv[optind]);
        goto out;
    }
    if (maildir != NULL) {
        rc = importer_maildir(&t, &mo, maildir);
        goto out;
    }
    if (isatty(STDIN_FILENO)) {
        /* Rather than wait for a message typed by hand. */
        fprintf(stderr, "%s: the message is read from stdin: touchline import mail < msg.eml\n",
                cmd);
        goto out;
    }
    rc = importer_mail(&t, &mo, stdin);
out:
    free(env_domains);
    return rc;
}

static void journey_usage(FILE *out)
{
    fprintf(out, "Usage: touchline journey (--phone N | --email E | --chat H | --web W |\n"
                 "                          --external X | --customer ID) [options]\n"
                 "Shows a customer's touchpoint map: the journey stages as columns, the channels\n"
                 "as rows, each touchpoint in time order with its direction, sentiment, score\n"
                 "and summary.\n"
                 "\n");
    selector_usage(out, "Whose journey");
    fprintf(out, "\n"
                 "Options:\n"
                 "  --since T        only touchpoints at or after T (RFC 3339)\n"
                 "  --until T        only touchpoints before T (RFC 3339)\n" HELP_FORMAT HELP_UTC
                     HELP_HELP "\n"
                 "Colour when standard output is a terminal and NO_COLOR is not set.\n"
                 "Exit status: 0 ok, 1 customer not found, 2 usage, 3 server or network error.\n");
}

static int journey_action(const struct http_client *hc, const char *id, const struct args *a,
                          json_t **out, char *err, size_t errlen)
{
    return api_journey(hc, id, a->q.since, a->q.until, out, err, errlen);
}

static int cmd_journey(struct global *g, int argc, char **argv)
{
    struct args a;
    int done = parse_args(g, "journey", TAKES_UTC | TAKES_RANGE, journey_usage, argc, argv, &a);
    if (done >= 0) {
        return done;
    }
    return run_on_customer(g, &a, journey_action, format_journey);
}

/* The options of stats and missed, which name no customer. */
struct report_args {
    const char *since;
    const char *until;
    const char *by;
    const char *limit;
    bool all;
    struct format_opts fo;
};

/*
 * Parses the options of stats (takes_by) or missed (--all and --limit). Returns -1 with *r
 * filled, or the exit status to end with, as parse_args.
 */
static int parse_report_args(struct global *g, const char *cmd, bool takes_by,
                             void (*usage)(FILE *), int argc, char **argv, struct report_args *r)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, OPT_GLOBAL_URL},
        {"cacert", required_argument, NULL, OPT_GLOBAL_CACERT},
        {"token", required_argument, NULL, OPT_GLOBAL_TOKEN},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"by", required_argument, NULL, 'b'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"all", no_argument, NULL, OPT_ALL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"utc", no_argument, NULL, OPT_UTC},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, index = 0;
    memset(r, 0, sizeof(*r));
    r->fo.kind = FORMAT_TABLE;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, &index)) != -1) {
        bool mine = opt == 'b' ? takes_by : opt == OPT_LIMIT || opt == OPT_ALL ? !takes_by : true;
        if (!mine) {
            fprintf(stderr, "touchline %s: unknown option --%s\nTry 'touchline %s --help'.\n", cmd,
                    opts[index].name, cmd);
            return EXIT_USAGE;
        }
        switch (opt) {
        case OPT_SINCE:
            r->since = optarg;
            break;
        case OPT_UNTIL:
            r->until = optarg;
            break;
        case 'b':
            r->by = optarg;
            break;
        case OPT_GLOBAL_URL:
        case OPT_GLOBAL_TOKEN:
        case OPT_GLOBAL_CACERT:
            global_option(g, opt, optarg);
            break;
        case OPT_LIMIT:
            r->limit = optarg;
            break;
        case OPT_ALL:
            r->all = true;
            break;
        case OPT_FORMAT:
            if (format_kind_parse(optarg, &r->fo.kind) < 0) {
                fprintf(stderr, "touchline %s: --format: \"%s\" is not table, json or ndjson\n",
                        cmd, optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_UTC:
            r->fo.utc = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            return bad_option(cmd, opt, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "touchline %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    r->fo.width = table_width();
    r->fo.color = r->fo.kind == FORMAT_TABLE && want_color();
    return -1;
}

static void stats_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: touchline stats [--since T] [--until T] [--by KEY] [options]\n"
        "Shows the touchpoint figures of a time range: missed calls and call-back times\n"
        "(with breaches of the call-back SLA), first-response times of messages, repeat\n"
        "contacts within 24 hours (and how many came on another channel), the sentiment\n"
        "mix and mean score, and the stage funnel by entry channel (docs/analytics.md).\n"
        "\n"
        "Options:\n"
        "  --since T        start of the range, RFC 3339 (default: 30 days before --until)\n"
        "  --until T        end of the range, RFC 3339, exclusive (default: now)\n"
        "  --by KEY         one row per channel, source, stage, agent or day (UTC)\n" HELP_FORMAT
            HELP_UTC HELP_HELP "\n"
        "Colour when standard output is a terminal and NO_COLOR is not set.\n"
        "Exit status: 0 ok, 2 usage (also a value the server refused), 3 server or\n"
        "network error.\n");
}

static void missed_usage(FILE *out);

/* Runs stats (is_stats) or missed: parses, asks, prints. Returns the exit status. */
static int run_report(struct global *g, bool is_stats, int argc, char **argv)
{
    struct report_args r;
    int done = parse_report_args(g, is_stats ? "stats" : "missed", is_stats,
                                 is_stats ? stats_usage : missed_usage, argc, argv, &r);
    if (done >= 0) {
        return done;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *doc = NULL;
    int rc = is_stats ? api_stats(&hc, r.since, r.until, r.by, &doc, err, sizeof(err))
                      : api_missed(&hc, !r.all, r.since, r.until, r.limit, &doc, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
    } else {
        errno = 0;
        rc = output_done((is_stats ? format_stats : format_missed)(stdout, doc, &r.fo) == 0);
    }
    json_decref(doc);
    return exit_for(rc);
}

static int cmd_stats(struct global *g, int argc, char **argv)
{
    return run_report(g, true, argc, argv);
}

static void missed_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline missed [--since T] [--until T] [--all] [--limit N] [options]\n"
            "Shows the call-back worklist: customers whose missed call is still open (nobody\n"
            "called or wrote back to them, and no call of theirs was answered), oldest first,\n"
            "with their phone, how long they have waited (\"!\" past the call-back SLA) and\n"
            "what else they did since (an e-mail, a chat).\n"
            "\n"
            "Options:\n"
            "  --since T        missed calls at or after T, RFC 3339 (default: 7 days before\n"
            "                   --until)\n"
            "  --until T        missed calls before T, RFC 3339 (default: now)\n"
            "  --all            also customers who were reached since\n"
            "  --limit N        at most N customers, 1-1000 (default 100)\n" HELP_FORMAT HELP_UTC
                HELP_HELP "\n"
            "Colour when standard output is a terminal and NO_COLOR is not set.\n"
            "Exit status: 0 ok, 2 usage (also a value the server refused), 3 server or\n"
            "network error.\n");
}

static int cmd_missed(struct global *g, int argc, char **argv)
{
    return run_report(g, false, argc, argv);
}

static const struct command import_commands[] = {
    {"cdr", cmd_import_cdr, "the calls of an Asterisk Master.csv"},
    {"mail", cmd_import_mail, "one RFC 5322 message from stdin, or a whole Maildir"},
};

static const struct command_group import_group = {
    "import",
    "Usage: touchline import SUBCOMMAND [options]\n"
    "Sends what another system recorded to touchlined, over its TCP port.\n",
    "cdr or mail",
    "Exit status: 0 ok, 2 usage or records rejected, 3 network or server error.",
    import_commands,
    sizeof(import_commands) / sizeof(import_commands[0]),
};

static int cmd_import(struct global *g, int argc, char **argv)
{
    return run_group(&import_group, g, argc, argv);
}

/* touchline token new: a token for a new principal, and its hash for the daemon's config. */
static int cmd_token(struct global *g, int argc, char **argv)
{
    (void)g;
    static const char help[] =
        "Usage: touchline token new\n"
        "Prints a new random token (256 bits) on the first line and its hash on the second.\n"
        "The hash goes in touchlined's configuration ([auth] principal = NAME scopes=...\n"
        "token=sha256:...); the token goes to the adapter or the person using it, and is\n"
        "kept nowhere else: the daemon cannot show it again.\n"
        "\n"
        "Exit status: 0 ok, 2 usage, 3 no random bytes from the system.\n";
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(help, stdout);
        return EXIT_SUCCESS;
    }
    if (argc != 2 || strcmp(argv[1], "new") != 0) {
        fprintf(stderr, "touchline token: which subcommand? new\n%s", help);
        return EXIT_USAGE;
    }
    char token[TOKEN_TEXT_MAX], hash[TOKEN_HASH_TEXT];
    if (token_new(token) < 0) {
        fprintf(stderr, "touchline: no random bytes from the system\n");
        return 3;
    }
    token_hash_text(token, strlen(token), hash);
    printf("%s\n%s\n", token, hash);
    return fflush(stdout) == 0 ? EXIT_SUCCESS : 3;
}

static void conflicts_usage(FILE *out)
{
    fprintf(out,
            "Usage: touchline conflicts [--all] [--format F]\n"
            "       touchline conflicts --resolve ID --action merge|dismiss [--format F]\n"
            "Lists the merges an identifier limit refused ([identity] max_phone, …), newest\n"
            "first: the record, the customer it went to, the other customer, and the kind whose\n"
            "limit the merge would have passed; and the identifiers that linked suspiciously\n"
            "many customers in the last day. A person resolves one: merge merges the two\n"
            "customers after all, dismiss leaves them apart.\n"
            "\n"
            "Options:\n"
            "  --all            also the conflicts resolved already\n"
            "  --resolve ID     resolve conflict ID, as --action says\n"
            "  --action A       merge or dismiss\n" HELP_FORMAT HELP_HELP "\n"
            "Exit status: 0 ok, 1 conflict not found, 2 usage (also a conflict resolved\n"
            "already), 3 server or network error.\n");
}

static int cmd_conflicts(struct global *g, int argc, char **argv)
{
    enum { C_ALL = 1, C_RESOLVE, C_ACTION, C_FORMAT };
    static const struct option opts[] = {
        {"all", no_argument, NULL, C_ALL},
        {"resolve", required_argument, NULL, C_RESOLVE},
        {"action", required_argument, NULL, C_ACTION},
        {"format", required_argument, NULL, C_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct format_opts fo = {.kind = FORMAT_TABLE};
    bool all = false;
    const char *resolve = NULL, *action = NULL;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case C_ALL:
            all = true;
            break;
        case C_RESOLVE:
            resolve = optarg;
            break;
        case C_ACTION:
            if (strcmp(optarg, "merge") != 0 && strcmp(optarg, "dismiss") != 0) {
                fprintf(stderr, "touchline conflicts: --action: \"%s\" is not merge or dismiss\n",
                        optarg);
                return EXIT_USAGE;
            }
            action = optarg;
            break;
        case C_FORMAT:
            if (format_kind_parse(optarg, &fo.kind) < 0) {
                fprintf(stderr,
                        "touchline conflicts: --format: \"%s\" is not table, json or "
                        "ndjson\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            conflicts_usage(stdout);
            return EXIT_SUCCESS;
        default:
            return bad_option("conflicts", opt, argv);
        }
    }
    if ((resolve != NULL) != (action != NULL) || optind < argc) {
        fprintf(stderr, "touchline conflicts: --resolve ID goes with --action merge|dismiss\n"
                        "Try 'touchline conflicts --help'.\n");
        return EXIT_USAGE;
    }
    struct http_client hc;
    if (open_api(g, &hc) != 0) {
        return EXIT_USAGE;
    }
    char err[512];
    json_t *answer = NULL;
    int rc = resolve != NULL ? api_resolve_conflict(&hc, resolve, action, &answer, err, sizeof(err))
                             : api_conflicts(&hc, all, &answer, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "touchline: %s\n", err);
        return exit_for(rc);
    }
    errno = 0;
    rc = output_done(format_conflicts(stdout, answer, &fo) == 0);
    json_decref(answer);
    return exit_for(rc);
}

static const struct command commands[] = {
    {"timeline", cmd_timeline, "a customer's interactions on every channel, newest first"},
    {"context", cmd_context, "what an agent needs when a customer calls or writes"},
    {"customer", cmd_customer, "a customer's profile; merge two customers; erase one"},
    {"journey", cmd_journey, "a customer's touchpoint map: stages by channels"},
    {"stats", cmd_stats, "touchpoint figures: missed calls, response times, repeats, funnel"},
    {"missed", cmd_missed, "the call-back worklist: open missed calls, oldest first"},
    {"log", cmd_log, "send one interaction record (for scripts)"},
    {"import", cmd_import, "send Asterisk calls (cdr) or a mail message (mail)"},
    {"token", cmd_token, "a new access token and its hash for touchlined's config"},
    {"conflicts", cmd_conflicts, "merges an identifier limit refused, for review"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: touchline [--url URL] [--token TOKEN] [--cacert FILE] COMMAND [options]\n"
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
            "  --cacert FILE  CA certificates to trust for https:// and tls:// (default\n"
            "                 $TOUCHLINE_CACERT, else the system's); the server's name is\n"
            "                 verified too\n"
            "                 (both may also come after the command, among its options)\n"
            "  -h, --help     show this help; 'touchline COMMAND --help' shows a command's\n"
            "  -V, --version  show the version\n"
            "\n"
            "Exit status: 0 ok, 1 not found, 2 usage, 3 server or network error.\n",
            DEFAULT_URL);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},    {"token", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    struct global g = {.url = getenv("TOUCHLINE_URL"),
                       .token = getenv("TOUCHLINE_TOKEN"),
                       .cacert = getenv("TOUCHLINE_CACERT")};
    int opt;
    /* Times are shown in the zone TZ names. */
    tzset();
    opterr = 0;
    /* '+': stop at the command; what follows it is the command's. */
    while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            g.url = optarg;
            g.url_given = true;
            break;
        case 't':
            g.token = optarg;
            break;
        case 'C':
            g.cacert = optarg;
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
