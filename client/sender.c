#include "sender.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "record.h"
#include "tcp_client.h"

struct sender {
    struct tcp_client *tcp;
    sender_report_fn report;
    void *arg;
    bool auth_line;     /* line 1 of the connection is the auth line */
    bool token_given;   /* for the hint when the daemon wants one */
    char auth_msg[512]; /* why the daemon answered unauthorized; "" until it does */
    size_t *tags;       /* tags of the records not yet answered: tags[head..n) */
    size_t head, n, cap;
    struct sender_counts counts;
};

void sender_parse_answer(const char *line, size_t len, struct sender_answer *a, json_t **root)
{
    memset(a, 0, sizeof(*a));
    a->outcome = SENDER_UNKNOWN;
    a->line = line;
    a->len = len;
    *root = json_loadb(line, len, 0, NULL);
    json_t *ok = json_object_get(*root, "ok");
    if (!json_is_boolean(ok)) {
        a->error = "bad_answer";
        a->message = "the daemon's answer is not what the protocol describes";
        return;
    }
    if (json_is_true(ok)) {
        a->id = json_string_value(json_object_get(*root, "id"));
        a->customer_id = json_string_value(json_object_get(*root, "customer_id"));
        if (json_is_true(json_object_get(*root, "spooled"))) {
            a->outcome = SENDER_SPOOLED;
        } else if (json_is_true(json_object_get(*root, "duplicate"))) {
            a->outcome = SENDER_DUPLICATE;
        } else {
            a->outcome = SENDER_STORED;
        }
        return;
    }
    a->error = json_string_value(json_object_get(*root, "error"));
    a->message = json_string_value(json_object_get(*root, "message"));
    if (a->error == NULL) {
        a->error = "bad_answer";
    }
    if (a->message == NULL) {
        a->message = "(no message)";
    }
    if (strcmp(a->error, "invalid_json") == 0 || strcmp(a->error, "invalid_record") == 0 ||
        strcmp(a->error, "too_large") == 0) {
        a->outcome = SENDER_REJECTED;
    } else if (strcmp(a->error, "forbidden") == 0) {
        a->outcome = SENDER_FORBIDDEN;
    } else if (strcmp(a->error, "unavailable") == 0) {
        a->outcome = SENDER_UNAVAILABLE;
    }
}

int sender_check(json_t *record, char *msg, size_t msglen)
{
    struct record_opts opts = {0};
    normalize_opts_default(&opts.norm);
    struct record *rec = NULL;
    char m[RECORD_MSG_MAX];
    /* Checked as the daemon will read it: as the text it is sent as. */
    char *text = json_dumps(record, JSON_COMPACT);
    if (text == NULL) {
        errmsg_set(msg, msglen, "out of memory");
        return -1;
    }
    int rc = record_parse(text, strlen(text), &opts, &rec, m, sizeof(m));
    free(text);
    record_free(rec);
    if (rc == RECORD_OK) {
        return 0;
    }
    /* Phone numbers without '+' depend on the daemon's country code and trunk prefix. */
    if (strncmp(m, "customer.phone", strlen("customer.phone")) == 0) {
        return 0;
    }
    errmsg_set(msg, msglen, "%s", m);
    return -1;
}

/* Takes the answers of the connection, line by line, to the auth state or the caller. */
static int on_answer(const char *line, size_t len, size_t lineno, void *arg)
{
    struct sender *s = arg;
    json_t *root = NULL;
    struct sender_answer a;
    sender_parse_answer(line, len, &a, &root);
    int rc = 0;
    if (a.error != NULL && strcmp(a.error, "unauthorized") == 0) {
        /* The daemon closes after this answer: nothing later will be answered. */
        errmsg_set(s->auth_msg, sizeof(s->auth_msg), "unauthorized: %s%s", a.message,
                   s->token_given ? "" : " (give a token with --token or TOUCHLINE_TOKEN)");
        rc = -1;
        goto out;
    }
    if (lineno == 1 && s->auth_line) {
        if (a.outcome != SENDER_STORED) {
            errmsg_set(s->auth_msg, sizeof(s->auth_msg), "the auth line was answered %.*s",
                       (int)(len > 200 ? 200 : len), line);
            rc = -1;
        }
        goto out;
    }
    switch (a.outcome) {
    case SENDER_STORED:
        s->counts.stored++;
        break;
    case SENDER_DUPLICATE:
        s->counts.duplicate++;
        break;
    case SENDER_SPOOLED:
        s->counts.spooled++;
        break;
    case SENDER_REJECTED:
        s->counts.rejected++;
        break;
    case SENDER_FORBIDDEN:
        s->counts.forbidden++;
        break;
    case SENDER_UNAVAILABLE:
        s->counts.unavailable++;
        break;
    case SENDER_UNKNOWN:
        s->counts.unknown++;
        break;
    }
    /* tcp_client answers no more lines than were sent, so a tag is waiting. */
    size_t tag = s->tags[s->head++];
    if (s->report != NULL) {
        s->report(tag, &a, s->arg);
    }
out:
    json_decref(root);
    return rc;
}

/* Maps a tcp_client failure to the sender's codes, preferring the daemon's own reason. */
static int net_error(struct sender *s, int rc, char *err, size_t errlen)
{
    if (s->auth_msg[0] != '\0') {
        errmsg_set(err, errlen, "%s", s->auth_msg);
        return SENDER_EAUTH;
    }
    switch (rc) {
    case TCP_CLIENT_EADDR:
        return SENDER_EUSAGE;
    case TCP_CLIENT_ENOMEM:
        return SENDER_ENOMEM;
    default:
        return SENDER_ENET;
    }
}

int sender_open(const char *addr, const char *token, const char *cacert, sender_report_fn report,
                void *arg, struct sender **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc;
    char *line = NULL;
    struct sender *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return SENDER_ENOMEM;
    }
    s->report = report;
    s->arg = arg;
    rc = tcp_client_connect(addr, cacert, 0, on_answer, s, &s->tcp, err, errlen);
    if (rc < 0) {
        rc = net_error(s, rc, err, errlen);
        goto out;
    }
    if (token != NULL && token[0] != '\0') {
        json_t *auth = json_pack("{s:s}", "auth", token);
        line = auth != NULL ? json_dumps(auth, SENDER_DUMP_FLAGS) : NULL;
        json_decref(auth);
        if (line == NULL) {
            /* json_pack refuses a token that is not valid UTF-8. */
            errmsg_set(err, errlen, "the token is not valid UTF-8 text");
            rc = SENDER_EUSAGE;
            goto out;
        }
        rc = tcp_client_send(s->tcp, line, strlen(line), err, errlen);
        if (rc < 0) {
            rc = net_error(s, rc, err, errlen);
            goto out;
        }
        s->auth_line = true;
        s->token_given = true;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    free(line);
    sender_free(s);
    return rc;
}

int sender_add(struct sender *s, const json_t *record, size_t tag, char *err, size_t errlen)
{
    if (s->n == s->cap) {
        if (s->head > 0) {
            memmove(s->tags, s->tags + s->head, (s->n - s->head) * sizeof(*s->tags));
            s->n -= s->head;
            s->head = 0;
        }
        if (s->n == s->cap) {
            size_t cap = s->cap == 0 ? 1024 : s->cap * 2;
            size_t *p = cap < SIZE_MAX / sizeof(*p) ? realloc(s->tags, cap * sizeof(*p)) : NULL;
            if (p == NULL) {
                errmsg_set(err, errlen, "out of memory");
                return SENDER_ENOMEM;
            }
            s->tags = p;
            s->cap = cap;
        }
    }
    char *line = json_dumps(record, SENDER_DUMP_FLAGS);
    if (line == NULL) {
        errmsg_set(err, errlen, "cannot serialize the record (out of memory?)");
        return SENDER_ENOMEM;
    }
    /* The tag goes in first: the call below may already deliver this record's answer. */
    s->tags[s->n++] = tag;
    int rc = tcp_client_send(s->tcp, line, strlen(line), err, errlen);
    free(line);
    if (rc < 0) {
        return net_error(s, rc, err, errlen);
    }
    return 0;
}

int sender_close(struct sender *s, char *err, size_t errlen)
{
    int rc = tcp_client_finish(s->tcp, err, errlen);
    if (rc < 0) {
        return net_error(s, rc, err, errlen);
    }
    return 0;
}

int sender_flush(struct sender *s, int wait_ms, char *err, size_t errlen)
{
    int rc = tcp_client_flush(s->tcp, wait_ms, err, errlen);
    if (rc < 0) {
        return net_error(s, rc, err, errlen);
    }
    return 0;
}

int sender_fd(const struct sender *s)
{
    return tcp_client_fd(s->tcp);
}

const struct sender_counts *sender_counts(const struct sender *s)
{
    return &s->counts;
}

size_t sender_unanswered(const struct sender *s)
{
    return s->n - s->head;
}

void sender_free(struct sender *s)
{
    if (s == NULL) {
        return;
    }
    tcp_client_free(s->tcp);
    free(s->tags);
    free(s);
}
