/*
 * The web console (docs/console.md): the hand-written HTML, CSS and JavaScript of web/console/,
 * compiled into the daemon by cmake/embed_assets.cmake and served on the HTTP port at "/"
 * and "/console/…". It holds no customer data: the page asks the JSON API for that with the
 * token the user types, so these files are served without authentication, with an ETag,
 * and with the security headers every console answer carries.
 */
#ifndef TOUCHLINED_CONSOLE_H
#define TOUCHLINED_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct evhttp_request;

/* One embedded file; the generated table ends with an entry whose path is NULL. */
struct console_asset {
    const char *path; /* "/console/app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted, as sent */
};

extern const struct console_asset console_assets[];

/* The asset served at path ("/" is the page itself), or NULL. Pure. */
const struct console_asset *console_find(const char *path);

/*
 * Answers req when path is the console's ("/" or under "/console/"): the file (200), 304
 * when If-None-Match names its ETag, 404 for an unknown file, 405 for a method other than
 * GET or HEAD. Returns true when it answered, false (nothing sent) for any other path.
 * Borrows req; callable from evhttp callbacks.
 */
bool console_serve(struct evhttp_request *req, const char *path);

#endif
