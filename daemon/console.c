#include "console.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <string.h>

#include "httpreply.h"

/*
 * The page's policy: its own scripts, styles and images only, no inline script or style
 * (the page has none, so an injected one does not run), no plugins, never framed, forms and
 * fetches to this origin only.
 */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const struct console_asset *console_find(const char *path)
{
    if (strcmp(path, "/") == 0 || strcmp(path, "/console") == 0 || strcmp(path, "/console/") == 0) {
        path = "/console/index.html";
    }
    for (const struct console_asset *a = console_assets; a->path != NULL; a++) {
        if (strcmp(a->path, path) == 0) {
            return a;
        }
    }
    return NULL;
}

/* True when an If-None-Match list names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL) {
        return false;
    }
    size_t n = strlen(etag);
    for (const char *p = inm; *p != '\0';) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (strncmp(p, "W/", 2) == 0) {
            p += 2;
        }
        if (*p == '*' ||
            (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))) {
            return true;
        }
        while (*p != '\0' && *p != ',') {
            p++;
        }
    }
    return false;
}

static void send_plain(struct evhttp_request *req, int status, const char *reason, const char *text)
{
    struct evbuffer *buf = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (buf != NULL) {
        evbuffer_add(buf, text, strlen(text));
    }
    evhttp_send_reply(req, status, reason, buf);
    if (buf != NULL) {
        evbuffer_free(buf);
    }
}

bool console_serve(struct evhttp_request *req, const char *path)
{
    if (strcmp(path, "/") != 0 && strcmp(path, "/console") != 0 &&
        strncmp(path, "/console/", 9) != 0) {
        return false;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    httpreply_security_headers(req);
    evhttp_add_header(out, "Content-Security-Policy", CSP);
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(out, "Allow", "GET, HEAD");
        send_plain(req, 405, "Method Not Allowed", "the console answers GET\n");
        return true;
    }
    const struct console_asset *a = console_find(path);
    if (a == NULL) {
        send_plain(req, 404, "Not Found", "no such file\n");
        return true;
    }
    /* The files change only with the daemon: the browser may keep them but asks each time
     * whether they are still current, which the ETag answers without the body. */
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "ETag", a->etag);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (etag_matches(inm, a->etag)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return true;
    }
    evhttp_add_header(out, "Content-Type", a->type);
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        send_plain(req, 500, "Internal Server Error", "out of memory\n");
        return true;
    }
    /* The data are static: reference them rather than copy. */
    evbuffer_add_reference(buf, a->data, a->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", buf);
    evbuffer_free(buf);
    return true;
}
