/*
 * The text of an HTML mail body, for the email records of `touchline import mail` when a
 * message has no text/plain part: tags dropped (the content of script, style, head and
 * comments with them), block elements (p, div, br, li, tr, headings...) as line breaks,
 * runs of white space as one space, character references decoded (&amp; &nbsp; &zwnj;
 * &#1777; &#x6F1;... ; unknown names kept as written). Persian and Arabic text passes through
 * untouched: the input is UTF-8 already (the caller converted it from its charset). A pure
 * function over a buffer; it never reads outside it.
 */
#ifndef TOUCHLINE_HTML_H
#define TOUCHLINE_HTML_H

#include <stddef.h>

/*
 * Reduces n bytes of HTML at s to text. Returns a new NUL-terminated string (the caller frees
 * it) of *outlen bytes, with no leading or trailing white space, or NULL when out of memory.
 */
char *html_to_text(const char *s, size_t n, size_t *outlen) __attribute__((warn_unused_result));

#endif
