/*
 * A small blocking HTTP/1.1 client for the touchline client: plain TCP (the daemon's API),
 * one request per connection, JSON bodies. The client is a short-lived command-line program,
 * so blocking with a timeout is what it needs.
 */
#ifndef TOUCHLINE_HTTP_CLIENT_H
#define TOUCHLINE_HTTP_CLIENT_H

#include <stddef.h>

struct http_url {
    char host[256];
    int port;
    char prefix[256]; /* path prefix without the trailing slash, often "" */
};

struct http_response {
    int status;
    char *body; /* NUL-terminated, owned; may be empty */
    size_t len;
};

/* Parses http://host[:port][/prefix]. Returns 0, or -1 with err set. */
int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Appends the percent-encoding of s (UTF-8 bytes; unreserved characters kept) to out.
 * Returns 0, or -1 when it does not fit. */
int http_urlencode(const char *s, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Sends method path (the URL's prefix is put in front) with an optional JSON body and bearer
 * token, and reads the whole response. Returns 0 with *resp filled (free with
 * http_response_free), or -1 with err saying what failed ("connect to 127.0.0.1:8170:
 * Connection refused").
 */
int http_request(const struct http_url *url, const char *method, const char *path, const char *body,
                 const char *token, int timeout_ms, struct http_response *resp, char *err,
                 size_t errlen) __attribute__((warn_unused_result));

void http_response_free(struct http_response *resp);

#endif
