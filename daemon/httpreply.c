#include "httpreply.h"

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonw.h"

const char *httpreply_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 207:
        return "Multi-Status";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

void httpreply_security_headers(struct evhttp_request *req)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "X-Frame-Options", "DENY");
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
}

void httpreply_data_headers(struct evhttp_request *req, const char *content_type)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", content_type);
    /* Answers carry customer data: no cache, shared or the browser's, keeps a copy. */
    evhttp_add_header(out, "Cache-Control", "no-store");
    httpreply_security_headers(req);
}

void httpreply_json(struct evhttp_request *req, int status, const char *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    httpreply_data_headers(req, "application/json; charset=utf-8");
    if (buf == NULL) {
        evhttp_send_reply(req, 500, "Internal Server Error", NULL);
        return;
    }
    evbuffer_add(buf, body, len);
    evbuffer_add(buf, "\n", 1);
    evhttp_send_reply(req, status, httpreply_reason(status), buf);
    evbuffer_free(buf);
}

void httpreply_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "error");
    httpreply_write_error(&w, code, message);
    jsonw_object_end(&w);
    size_t len = 0;
    char *text = jsonw_take(&w, &len);
    if (text == NULL) {
        static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of "
                                       "memory\"}}";
        httpreply_json(req, 500, fallback, sizeof(fallback) - 1);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (status == 401) {
        evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"touchline\"");
    } else if (status == 503) {
        evhttp_add_header(h, "Retry-After", "1");
    }
    httpreply_json(req, status, text, len);
    free(text);
}

void httpreply_write_error(struct jsonw *w, const char *code, const char *message)
{
    jsonw_object_begin(w);
    jsonw_key(w, "code");
    jsonw_string(w, code);
    jsonw_key(w, "message");
    jsonw_string(w, message);
    jsonw_object_end(w);
}

int httpreply_basic_user(struct evhttp_request *req, char *out, size_t cap)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0) {
        return -1;
    }
    const char *b64 = auth + 6;
    unsigned char dec[512];
    size_t n = strlen(b64);
    if (n == 0 || n >= sizeof(dec) || n % 4 != 0) {
        return -1;
    }
    int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    /* EVP_DecodeBlock counts the padding as decoded zero bytes. */
    for (size_t i = n; len > 0 && i > 0 && b64[i - 1] == '='; i--) {
        len--;
    }
    if (len <= 0) {
        return -1;
    }
    dec[len] = '\0';
    char *colon = strchr((char *)dec, ':');
    if (colon != NULL) {
        *colon = '\0';
    }
    if (strlen((char *)dec) != (size_t)(colon != NULL ? colon - (char *)dec : len)) {
        return -1; /* a NUL inside the name */
    }
    snprintf(out, cap, "%s", (char *)dec);
    return 0;
}

int httpreply_token(struct evhttp_request *req, char *out, size_t cap)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 && auth[7] != '\0') {
        snprintf(out, cap, "%s", auth + 7);
        return 0;
    }
    if (httpreply_basic_user(req, out, cap) == 0 && out[0] != '\0') {
        return 0;
    }
    return -1;
}

int httpreply_content_type_is(struct evhttp_request *req, const char *type)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (ct == NULL) {
        return 0;
    }
    while (*ct == ' ') {
        ct++;
    }
    size_t n = strlen(type);
    return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}
