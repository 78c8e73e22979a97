/*
 * A small blocking HTTP/1.1 client for the daemon's API: plain TCP, one request per
 * connection (Connection: close), JSON bodies, an optional bearer token, and one deadline for
 * the whole exchange. touchline is a short-lived command that waits for each answer anyway, so
 * blocking (with a timeout) is all it needs; no TLS yet, a TLS-terminating proxy in front of
 * the daemon can be reached through it with plain http.
 *
 * The response body is read by Content-Length, chunked, or until the server closes, and capped
 * at HTTP_CLIENT_MAX_BODY. Failures return a negative enum http_client_error and write what
 * failed, with the address, into the caller's buffer ("connect to 127.0.0.1:8170: Connection
 * refused"). An HTTP error status is not a failure: the response carries it.
 */
#ifndef TOUCHLINE_HTTP_CLIENT_H
#define TOUCHLINE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HTTP_CLIENT_TIMEOUT_MS 10000
#define HTTP_CLIENT_MAX_BODY   ((size_t)64 << 20)

enum http_client_error {
    HTTP_CLIENT_EURL = -1,      /* the URL or a request argument is unusable */
    HTTP_CLIENT_ERESOLVE = -2,  /* the host name does not resolve */
    HTTP_CLIENT_ECONNECT = -3,  /* no address accepted the connection */
    HTTP_CLIENT_EIO = -4,       /* sending or receiving failed, or the peer closed early */
    HTTP_CLIENT_ETIMEOUT = -5,  /* the deadline passed */
    HTTP_CLIENT_EPROTOCOL = -6, /* the answer is not well-formed HTTP/1.x */
    HTTP_CLIENT_ETOOBIG = -7,   /* the body is over HTTP_CLIENT_MAX_BODY, or headers too long */
    HTTP_CLIENT_ENOMEM = -8,
};

struct http_client_url {
    char host[256]; /* name or address, IPv6 without the brackets */
    int port;
    bool tls;           /* https: TLS, the server verified by name */
    const char *cacert; /* CA file to trust for https (borrowed); NULL: the system's */
    char prefix[512];   /* path the API lives under, without a trailing slash; often "" */
};

/* Where requests go and how; filled by http_client_init, then read-only. */
struct http_client {
    struct http_client_url url;
    const char *token; /* borrowed; NULL for no Authorization header */
    int timeout_ms;    /* for each whole exchange */
};

struct http_client_response {
    int status;
    char *body; /* NUL-terminated (the body may hold NULs too: use len), owned */
    size_t len;
};

/*
 * Parses http://host[:port][/prefix] (port 80 when absent; [v6 address] for IPv6). https://,
 * user names, queries and fragments are refused with a message saying so. Returns 0, or
 * HTTP_CLIENT_EURL with err set.
 */
int http_client_url_parse(const char *url, struct http_client_url *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Fills c for url with token (borrowed, NULL or "" for none) and timeout_ms (0 for
 * HTTP_CLIENT_TIMEOUT_MS). Returns 0, or HTTP_CLIENT_EURL with err set (bad URL, or a token
 * that cannot go in a header).
 */
int http_client_init(struct http_client *c, const char *url, const char *token, int timeout_ms,
                     char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Percent-encodes s for a query value or a path segment: every byte but the unreserved
 * A-Z a-z 0-9 - . _ ~ becomes %XX, so UTF-8 text goes byte by byte (space is %20).
 * Returns a new string (the caller frees it), or NULL when out of memory.
 */
char *http_client_urlencode(const char *s) __attribute__((warn_unused_result));

/*
 * Appends key=value to *path, after '?' or, when *path already has a query, '&'; value is
 * percent-encoded. *path is a malloc'd string that may be reallocated. Returns 0, or
 * HTTP_CLIENT_ENOMEM with *path unchanged.
 */
int http_client_query_add(char **path, const char *key, const char *value)
    __attribute__((warn_unused_result));

/*
 * GET path (which starts with '/' and may hold a query; the URL's prefix goes in front).
 * Returns 0 with *resp filled (release it with http_client_response_free), or a negative
 * enum http_client_error with err set and *resp empty.
 */
int http_client_get(const struct http_client *c, const char *path,
                    struct http_client_response *resp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* POST json (Content-Type: application/json) to path; otherwise as http_client_get. */
int http_client_post_json(const struct http_client *c, const char *path, const char *json,
                          struct http_client_response *resp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* DELETE path, without a body; otherwise as http_client_get. */
int http_client_delete(const struct http_client *c, const char *path,
                       struct http_client_response *resp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * GET whose 200 answer is written to out as it arrives, whatever its size (an export); the
 * answer's body in resp is then empty. Other answers are kept in resp as http_client_get
 * keeps them. Returns as http_client_get.
 */
int http_client_get_to(const struct http_client *c, const char *path, FILE *out,
                       struct http_client_response *resp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Releases what resp owns and empties it; NULL and empty responses are fine. */
void http_client_response_free(struct http_client_response *resp);

#endif
