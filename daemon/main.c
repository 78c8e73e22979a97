/*
 * touchlined: argument parsing only; everything else is in the daemon library.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "migrate.h"
#include "token.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: touchlined [options]\n"
            "Collects customer interactions from call-center, SMS, mail, chat and web adapters\n"
            "(TCP NDJSON and HTTP) into one timeline per customer in PostgreSQL.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE   read FILE (default: $TOUCHLINE_CONFIG, else built-in\n"
            "                      defaults); TOUCHLINE_<SECTION>_<KEY> variables override it\n"
            "      --check-config  validate, print the effective configuration (secrets\n"
            "                      masked) and exit\n"
            "      --migrate       apply database migrations and exit\n"
            "      --hash-token[=-]  print a new random token and, on a second line, its hash\n"
            "                      for [auth] principal ... token=; with =-, read a token on\n"
            "                      stdin and print its hash only\n"
            "  -v, --verbose       log debug lines\n"
            "  -q, --quiet         log warnings and errors only\n"
            "  -h, --help          show this help\n"
            "  -V, --version       show the version\n"
            "\n"
            "Exit status: 0 stopped cleanly, 1 runtime failure, 2 bad usage or configuration.\n"
            "Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the configuration.\n");
}

/* --hash-token: a new token and its hash, or (arg "-") the hash of a token read on stdin. */
static int hash_token(const char *arg)
{
    char hash[TOKEN_HASH_TEXT];
    if (arg != NULL && strcmp(arg, "-") != 0) {
        fprintf(stderr, "touchlined: --hash-token takes no value but - (read the token on "
                        "stdin)\n");
        return 2;
    }
    if (arg != NULL) {
        char line[1024];
        if (fgets(line, sizeof(line), stdin) == NULL) {
            fprintf(stderr, "touchlined: --hash-token=-: no token on stdin\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (strlen(line) < 8) {
            fprintf(stderr, "touchlined: --hash-token=-: a token has at least 8 characters\n");
            return 2;
        }
        token_hash_text(line, strlen(line), hash);
        printf("%s\n", hash);
        return 0;
    }
    char token[TOKEN_TEXT_MAX];
    if (token_new(token) < 0) {
        fprintf(stderr, "touchlined: no random bytes from the system\n");
        return 1;
    }
    token_hash_text(token, strlen(token), hash);
    printf("%s\n%s\n", token, hash);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'C'},
        {"migrate", no_argument, NULL, 'M'},
        {"hash-token", optional_argument, NULL, 'H'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = getenv("TOUCHLINE_CONFIG");
    bool check = false, migrate = false;
    int verbosity = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:vqhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'M':
            migrate = true;
            break;
        case 'H':
            return hash_token(optarg);
        case 'v':
            verbosity = 1;
            break;
        case 'q':
            verbosity = -1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("touchlined %s\n", TOUCHLINE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "touchlined: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (path != NULL && path[0] == '\0') {
        path = NULL;
    }

    struct config cfg;
    char err[1024];
    if (config_load(path, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "touchlined: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    if (verbosity > 0) {
        cfg.level = LOG_DEBUG;
    } else if (verbosity < 0) {
        cfg.level = LOG_WARN;
    }
    log_set_level(cfg.level);
    if (check) {
        config_warn(&cfg);
        config_print(&cfg, stdout);
        config_free(&cfg);
        return 0;
    }
    if (migrate) {
        int n = migrate_run(cfg.database_dsn, cfg.database_connect_timeout_s, err, sizeof(err));
        config_free(&cfg);
        if (n < 0) {
            log_error("migration failed: %s", err);
            return 1;
        }
        log_info("schema current: applied=%d latest=%s", n, migrate_latest());
        return 0;
    }
    /* Each TCP client is a descriptor: raise the soft limit as far as max_connections needs
     * (plus room for HTTP and the database), within the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)cfg.ingest_max_connections + 1024;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want) {
                log_warn("open files limit is %lu, below max_connections + 1024 = %lu; raise it "
                         "(ulimit -n, LimitNOFILE=)",
                         (unsigned long)rl.rlim_cur, (unsigned long)want);
            }
        }
    }
    /* A client that vanishes must not kill the daemon; write errors are handled per socket. */
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    struct daemon *d = daemon_new(&cfg);
    if (d != NULL) {
        rc = daemon_run(d);
    }
    /* The loop has ended, so a stop signal can no longer change the outcome; but freeing the
     * loop's signal events restores their default action, and a SIGTERM arriving after that
     * (a manager or operator repeating it while the daemon exits) would kill it mid-teardown
     * and replace the exit status. Held blocked, such signals die with the process. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);
    daemon_free(d);
    config_free(&cfg);
    return rc;
}
