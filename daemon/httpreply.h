/*
 * Answers of the HTTP API: JSON bodies and the error shape of CONTRACT §4
 * ({"error":{"code":…,"message":…}}), for every module that serves requests.
 */
#ifndef TOUCHLINED_HTTPREPLY_H
#define TOUCHLINED_HTTPREPLY_H

#include <event2/http.h>
#include <stddef.h>

/* The reason phrase of a status the API uses. */
const char *httpreply_reason(int status);

/* Adds the headers every answer of the HTTP port carries: nosniff, no framing, no referrer. */
void httpreply_security_headers(struct evhttp_request *req);

/* The headers of every answer that carries customer data, whole or streamed: its content type,
 * no caching and the security headers. */
void httpreply_data_headers(struct evhttp_request *req, const char *content_type);

/* Sends body (len bytes of JSON, a newline added) with status, never to be cached (answers
 * carry customer data) and with the security headers. */
void httpreply_json(struct evhttp_request *req, int status, const char *body, size_t len);

/* Sends {"error":{"code":code,"message":message}} with status; 401 adds WWW-Authenticate,
 * 503 adds Retry-After: 1. */
void httpreply_error(struct evhttp_request *req, int status, const char *code, const char *message);

struct jsonw;

/* {"code":code,"message":message} into w: the value of an error answer's "error". */
void httpreply_write_error(struct jsonw *w, const char *code, const char *message);

/*
 * The user name of an "Authorization: Basic" header, decoded, into out (cap bytes).
 * Returns 0, or -1 when there is no such header or it does not decode.
 */
int httpreply_basic_user(struct evhttp_request *req, char *out, size_t cap)
    __attribute__((warn_unused_result));

/*
 * The token of the request: "Authorization: Bearer <token>", or Basic with the token as the
 * user name (for SDKs that only speak Basic). Returns 0, or -1 when there is none.
 */
int httpreply_token(struct evhttp_request *req, char *out, size_t cap)
    __attribute__((warn_unused_result));

/* True when the request's Content-Type is the media type type (parameters and case aside). */
int httpreply_content_type_is(struct evhttp_request *req, const char *type);

#endif
