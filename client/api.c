#include "api.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "textwidth.h"

/* How much of a body that is not a JSON error goes into a message. */
#define SNIPPET_COLS 120

/* Describes an error answer in err: the server's message when it sent one, else the start of
 * the body (a proxy's page, say) on one line. */
static void describe(const struct http_client *c, const struct http_client_response *r,
                     const json_t *j, char *err, size_t errlen)
{
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (msg != NULL && (r->status == 404 || r->status == 400)) {
        errmsg_set(err, errlen, "%s", msg);
        return;
    }
    if (msg != NULL) {
        errmsg_set(err, errlen, "the server answered %d: %s", r->status, msg);
        return;
    }
    char snippet[SNIPPET_COLS * 4 + 1];
    size_t n = textwidth_prefix(r->body, r->len, SNIPPET_COLS, NULL);
    memcpy(snippet, r->body, n);
    snippet[n] = '\0';
    for (char *p = snippet; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7F) {
            *p = ' ';
        }
    }
    errmsg_set(err, errlen, "%s:%d answered %d%s%s", c->url.host, c->url.port, r->status,
               n > 0 ? ": " : "", snippet);
}

enum method {
    METHOD_GET,
    METHOD_POST,
    METHOD_DELETE,
};

/* An answer other than success (j: its body as JSON, or NULL): says why in err, and returns
 * API_NOT_FOUND for 404, API_INVALID for 400, else API_FAILED. */
static int refused(const struct http_client *c, const struct http_client_response *r,
                   const json_t *j, char *err, size_t errlen)
{
    describe(c, r, j, err, errlen);
    return r->status == 404 ? API_NOT_FOUND : r->status == 400 ? API_INVALID : API_FAILED;
}

/* Sends one request (body: JSON for a POST, else NULL) and parses the answer. Returns API_OK
 * with *out set to a JSON object, or a negative enum api_result with err set. */
static int call(const struct http_client *c, enum method m, const char *path, const char *body,
                json_t **out, char *err, size_t errlen)
{
    struct http_client_response r;
    int sent = HTTP_CLIENT_EURL;
    *out = NULL;
    switch (m) {
    case METHOD_GET:
        sent = http_client_get(c, path, &r, err, errlen);
        break;
    case METHOD_POST:
        sent = http_client_post_json(c, path, body, &r, err, errlen);
        break;
    case METHOD_DELETE:
        sent = http_client_delete(c, path, &r, err, errlen);
        break;
    }
    if (sent < 0) {
        return API_FAILED;
    }
    int rc;
    json_error_t je;
    json_t *j = json_loadb(r.body, r.len, 0, &je);
    if (r.status == 200) {
        if (json_is_object(j)) {
            *out = j;
            j = NULL;
            rc = API_OK;
        } else {
            errmsg_set(err, errlen, "%s:%d answered something that is not a JSON object%s%s",
                       c->url.host, c->url.port, j == NULL ? ": " : "", j == NULL ? je.text : "");
            rc = API_FAILED;
        }
    } else {
        rc = refused(c, &r, j, err, errlen);
    }
    json_decref(j);
    http_client_response_free(&r);
    return rc;
}

static int get_object(const struct http_client *c, const char *path, json_t **out, char *err,
                      size_t errlen)
{
    return call(c, METHOD_GET, path, NULL, out, err, errlen);
}

/* GET base?k1=v1[&k2=v2] (k2 NULL: one pair), the values percent-encoded. Returns as call. */
static int get_query(const struct http_client *c, const char *base, const char *k1, const char *v1,
                     const char *k2, const char *v2, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char *path = strdup(base);
    if (path == NULL || http_client_query_add(&path, k1, v1) < 0 ||
        (k2 != NULL && http_client_query_add(&path, k2, v2) < 0)) {
        free(path);
        errmsg_set(err, errlen, "out of memory");
        return API_FAILED;
    }
    int rc = get_object(c, path, out, err, errlen);
    free(path);
    return rc;
}

int api_find_customer(const struct http_client *c, const char *kind, const char *value,
                      json_t **customer, char *err, size_t errlen)
{
    return get_query(c, "/v1/customers", kind, value, NULL, NULL, customer, err, errlen);
}

/* "<prefix><id><tail>", the id percent-encoded, or NULL. */
static char *resource_path(const char *prefix, const char *id, const char *tail)
{
    char *enc = http_client_urlencode(id);
    if (enc == NULL) {
        return NULL;
    }
    size_t n = strlen(prefix) + strlen(enc) + strlen(tail) + 1;
    char *path = malloc(n);
    if (path != NULL) {
        snprintf(path, n, "%s%s%s", prefix, enc, tail);
    }
    free(enc);
    return path;
}

/* "/v1/customers/<id><tail>", the id percent-encoded, or NULL. */
static char *customer_path(const char *id, const char *tail)
{
    return resource_path("/v1/customers/", id, tail);
}

/* Sends a request to "/v1/customers/<id><tail>". Returns as call. */
static int customer_call(const struct http_client *c, enum method m, const char *id,
                         const char *tail, const char *body, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char *path = customer_path(id, tail);
    if (path == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return API_FAILED;
    }
    int rc = call(c, m, path, body, out, err, errlen);
    free(path);
    return rc;
}

int api_get_customer(const struct http_client *c, const char *id, json_t **customer, char *err,
                     size_t errlen)
{
    return customer_call(c, METHOD_GET, id, "", NULL, customer, err, errlen);
}

int api_lookup(const struct http_client *c, const char *kind, const char *value, json_t **customer,
               char *err, size_t errlen)
{
    if (strcmp(kind, "customer") == 0) {
        return api_get_customer(c, value, customer, err, errlen);
    }
    return api_find_customer(c, kind, value, customer, err, errlen);
}

/* Adds the n pairs {name, value} whose value is neither NULL nor empty to the query of
 * *path. Returns 0, or -1 when out of memory (then *path is freed and NULL). */
static int add_params(char **path, const char *const (*params)[2], size_t n)
{
    for (size_t k = 0; *path != NULL && k < n; k++) {
        if (params[k][1] != NULL && params[k][1][0] != '\0' &&
            http_client_query_add(path, params[k][0], params[k][1]) < 0) {
            free(*path);
            *path = NULL;
        }
    }
    return *path != NULL ? 0 : -1;
}

/* The path of one timeline page of at most limit items, or NULL when out of memory. */
static char *page_path(const char *id, const struct api_timeline_query *q, size_t limit,
                       const char *cursor)
{
    char num[32];
    snprintf(num, sizeof(num), "%zu", limit);
    char *path = customer_path(id, "/timeline");
    const char *const params[][2] = {
        {"limit", num},      {"channel", q->channel}, {"since", q->since},
        {"until", q->until}, {"before", cursor},
    };
    add_params(&path, params, sizeof(params) / sizeof(params[0]));
    return path;
}

/* GET path (owned; NULL: out of memory) with the n pairs of params. Returns as call. */
static int get_with(const struct http_client *c, char *path, const char *const (*params)[2],
                    size_t n, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (path == NULL || add_params(&path, params, n) < 0) {
        errmsg_set(err, errlen, "out of memory");
        return API_FAILED;
    }
    int rc = get_object(c, path, out, err, errlen);
    free(path);
    return rc;
}

int api_stats(const struct http_client *c, const char *since, const char *until, const char *by,
              json_t **stats, char *err, size_t errlen)
{
    const char *const params[][2] = {{"since", since}, {"until", until}, {"by", by}};
    return get_with(c, strdup("/v1/stats"), params, 3, stats, err, errlen);
}

int api_missed(const struct http_client *c, bool open, const char *since, const char *until,
               const char *limit, json_t **worklist, char *err, size_t errlen)
{
    const char *const params[][2] = {
        {"open", open ? "true" : "false"}, {"since", since}, {"until", until}, {"limit", limit}};
    return get_with(c, strdup("/v1/missed"), params, 4, worklist, err, errlen);
}

int api_journey(const struct http_client *c, const char *id, const char *since, const char *until,
                json_t **journey, char *err, size_t errlen)
{
    const char *const params[][2] = {{"since", since}, {"until", until}};
    return get_with(c, customer_path(id, "/journey"), params, 2, journey, err, errlen);
}

/* The first n elements of items, as a new array, or NULL. */
static json_t *first(const json_t *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append(a, json_array_get(items, i)) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

int api_timeline(const struct http_client *c, const char *id, const struct api_timeline_query *q,
                 api_items_fn fn, void *arg, char **next, char *err, size_t errlen)
{
    char *cursor = NULL, *path = NULL;
    json_t *page = NULL, *cut = NULL;
    size_t have = 0;
    int rc = API_OK;
    if (next != NULL) {
        *next = NULL;
    }
    if (q->before != NULL && q->before[0] != '\0') {
        cursor = strdup(q->before);
        if (cursor == NULL) {
            errmsg_set(err, errlen, "out of memory");
            return API_FAILED;
        }
    }
    for (;;) {
        size_t want = API_PAGE_MAX;
        if (q->max > 0 && q->max - have < want) {
            want = q->max - have;
        }
        path = page_path(id, q, want, cursor);
        if (path == NULL) {
            errmsg_set(err, errlen, "out of memory");
            rc = API_FAILED;
            goto out;
        }
        rc = get_object(c, path, &page, err, errlen);
        if (rc < 0) {
            goto out;
        }
        const json_t *items = json_object_get(page, "items");
        const json_t *nextj = json_object_get(page, "next_cursor");
        if (!json_is_array(items) ||
            (nextj != NULL && !json_is_string(nextj) && !json_is_null(nextj))) {
            errmsg_set(err, errlen, "%s:%d answered a timeline without an items array", c->url.host,
                       c->url.port);
            rc = API_FAILED;
            goto out;
        }
        size_t n = json_array_size(items);
        const char *nc = json_string_value(nextj);
        if (n > want) {
            /* More than asked for: show no more than the user wants. The server's cursor is
             * then past items not shown, so none is given. */
            cut = first(items, want);
            if (cut == NULL) {
                errmsg_set(err, errlen, "out of memory");
                rc = API_FAILED;
                goto out;
            }
            items = cut;
            n = want;
            nc = NULL;
        }
        rc = fn(items, arg);
        if (rc < 0) {
            goto out;
        }
        have += n;
        /* An empty page or a cursor that does not move would page for ever. */
        if (nc == NULL || nc[0] == '\0' || n == 0 || (cursor != NULL && strcmp(cursor, nc) == 0)) {
            break;
        }
        free(cursor);
        cursor = strdup(nc);
        if (cursor == NULL) {
            errmsg_set(err, errlen, "out of memory");
            rc = API_FAILED;
            goto out;
        }
        if (q->max > 0 && have >= q->max) {
            /* Enough: the cursor is where a next call reads on. */
            if (next != NULL) {
                *next = cursor;
                cursor = NULL;
            }
            break;
        }
        json_decref(cut);
        json_decref(page);
        free(path);
        cut = page = NULL;
        path = NULL;
    }
out:
    json_decref(cut);
    json_decref(page);
    free(path);
    free(cursor);
    return rc;
}

int api_context(const struct http_client *c, const char *id, json_t **context, char *err,
                size_t errlen)
{
    return customer_call(c, METHOD_GET, id, "/context", NULL, context, err, errlen);
}

int api_merge(const struct http_client *c, const char *id, const char *from, json_t **survivor,
              char *err, size_t errlen)
{
    *survivor = NULL;
    /* jansson escapes the id: whatever the user typed, the body stays one JSON object. */
    json_t *req = json_pack("{s:s}", "from", from);
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return API_FAILED;
    }
    int rc = customer_call(c, METHOD_POST, id, "/merge", body, survivor, err, errlen);
    free(body);
    return rc;
}

int api_export(const struct http_client *c, const char *id, FILE *out, char *err, size_t errlen)
{
    char *path = customer_path(id, "/export");
    if (path == NULL) {
        errmsg_set(err, errlen, "out of memory");
        return API_FAILED;
    }
    struct http_client_response r;
    int sent = http_client_get_to(c, path, out, &r, err, errlen);
    free(path);
    if (sent < 0) {
        return API_FAILED;
    }
    int rc = API_OK;
    if (r.status != 200) {
        json_t *j = json_loadb(r.body, r.len, 0, NULL);
        rc = refused(c, &r, j, err, errlen);
        json_decref(j);
    }
    http_client_response_free(&r);
    return rc;
}

int api_erase(const struct http_client *c, const char *id, json_t **erasure, char *err,
              size_t errlen)
{
    return customer_call(c, METHOD_DELETE, id, "", NULL, erasure, err, errlen);
}

int api_identities(const struct http_client *c, const char *id, json_t **provenance, char *err,
                   size_t errlen)
{
    return customer_call(c, METHOD_GET, id, "/identities", NULL, provenance, err, errlen);
}

int api_why(const struct http_client *c, const char *kind1, const char *value1, const char *kind2,
            const char *value2, json_t **why, char *err, size_t errlen)
{
    return get_query(c, "/v1/why", kind1, value1, kind2, value2, why, err, errlen);
}

int api_unmerge(const struct http_client *c, const char *id, long long merge, json_t **result,
                char *err, size_t errlen)
{
    char body[48];
    snprintf(body, sizeof(body), "{\"merge_id\":%lld}", merge);
    return customer_call(c, METHOD_POST, id, "/unmerge", body, result, err, errlen);
}

int api_conflicts(const struct http_client *c, bool all, json_t **answer, char *err, size_t errlen)
{
    return get_object(c, all ? "/v1/conflicts?all=true" : "/v1/conflicts", answer, err, errlen);
}

int api_resolve_conflict(const struct http_client *c, const char *id, const char *action,
                         json_t **answer, char *err, size_t errlen)
{
    *answer = NULL;
    json_t *req = json_pack("{s:s}", "action", action);
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char *path = resource_path("/v1/conflicts/", id, "/resolve");
    int rc = API_FAILED;
    if (path == NULL || body == NULL) {
        errmsg_set(err, errlen, "out of memory");
    } else {
        rc = call(c, METHOD_POST, path, body, answer, err, errlen);
    }
    free(path);
    free(body);
    return rc;
}
