#include "html.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The text being written: at most n bytes plus the few a reference may add, so the buffer
 * is sized once. */
struct out {
    char *p;
    size_t len;
    bool space; /* a space is owed before the next text */
    int breaks; /* line breaks owed before the next text (at most 2) */
};

/* Elements whose content is no text to read. */
static const char *const skipped[] = {"script", "style", "head", "title", "template"};
/* Elements that start a new line; the ones that also leave an empty line are marked 2. */
static const struct {
    const char *name;
    int breaks;
} blocks[] = {
    {"br", 1},      {"div", 1},     {"li", 1},     {"tr", 1},         {"dt", 1},
    {"dd", 1},      {"hr", 1},      {"table", 1},  {"ul", 1},         {"ol", 1},
    {"section", 1}, {"article", 1}, {"header", 1}, {"footer", 1},     {"center", 1},
    {"address", 1}, {"p", 2},       {"h1", 2},     {"h2", 2},         {"h3", 2},
    {"h4", 2},      {"h5", 2},      {"h6", 2},     {"blockquote", 2}, {"pre", 2},
};
static const struct {
    const char *name;
    uint32_t cp;
} entities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", ' '},     {"zwnj", 0x200C},  {"zwj", 0x200D},   {"lrm", 0x200E},   {"rlm", 0x200F},
    {"shy", 0xAD},     {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"laquo", 0xAB},   {"raquo", 0xBB},   {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"bull", 0x2022},  {"middot", 0xB7},
    {"euro", 0x20AC},  {"times", 0xD7},   {"deg", 0xB0},     {"para", 0xB6},    {"sect", 0xA7},
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Writes what is owed (line breaks, or a space) and then n bytes of text. */
static void put_text(struct out *o, const char *s, size_t n)
{
    if (o->len > 0) {
        if (o->breaks > 0) {
            for (int i = 0; i < o->breaks; i++) {
                o->p[o->len++] = '\n';
            }
        } else if (o->space) {
            o->p[o->len++] = ' ';
        }
    }
    o->breaks = 0;
    o->space = false;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_cp(struct out *o, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        cp = 0xFFFD;
    }
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    put_text(o, u, n);
}

/*
 * Decodes the character reference at s[i] == '&'. Returns the bytes it takes (0 when it is
 * none: the '&' is then text) and its code point in *cp.
 */
static size_t reference(const char *s, size_t n, size_t i, uint32_t *cp)
{
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        j++;
        bool hex = j < n && (s[j] == 'x' || s[j] == 'X');
        j += hex;
        uint32_t v = 0;
        size_t digits = 0;
        for (; j < n; j++, digits++) {
            char c = s[j];
            int d = c >= '0' && c <= '9'          ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                  : -1;
            if (d < 0) {
                break;
            }
            v = v > 0x10FFFF ? v : v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (digits == 0) {
            return 0;
        }
        *cp = v;
        return j - i + (j < n && s[j] == ';');
    }
    size_t start = j;
    while (j < n && j - start < 16 && is_name_char(s[j])) {
        j++;
    }
    for (size_t k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
        size_t len = strlen(entities[k].name);
        if (j - start == len && memcmp(s + start, entities[k].name, len) == 0) {
            *cp = entities[k].cp;
            return j - i + (j < n && s[j] == ';');
        }
    }
    return 0;
}

/* The end of the tag opened at s[i] == '<': after its '>' (quoted values may hold one). */
static size_t tag_end(const char *s, size_t n, size_t i)
{
    char quote = 0;
    for (size_t j = i + 1; j < n; j++) {
        if (quote != 0) {
            quote = s[j] == quote ? 0 : quote;
        } else if (s[j] == '"' || s[j] == '\'') {
            quote = s[j];
        } else if (s[j] == '>') {
            return j + 1;
        }
    }
    return n;
}

/* Finds the closing tag </name (any case) from i; returns where it starts, or n. */
static size_t find_close(const char *s, size_t n, size_t i, const char *name)
{
    size_t len = strlen(name);
    for (; i + 2 + len <= n; i++) {
        if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, len) == 0 &&
            (i + 2 + len == n || !is_name_char(s[i + 2 + len]))) {
            return i;
        }
    }
    return n;
}

char *html_to_text(const char *s, size_t n, size_t *outlen)
{
    /* Every construct writes at most as many bytes as it reads, but for a reference of 3
     * bytes ("&#1") that writes 3, and the line breaks owed (2) before text: 2n + 8 is
     * ample. */
    if (n > (SIZE_MAX - 8) / 2) {
        return NULL;
    }
    struct out o = {.p = malloc(2 * n + 8)};
    if (o.p == NULL) {
        return NULL;
    }
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '<') {
            if (i + 4 <= n && memcmp(s + i, "<!--", 4) == 0) {
                const char *end = NULL;
                for (size_t j = i + 4; j + 3 <= n; j++) {
                    if (memcmp(s + j, "-->", 3) == 0) {
                        end = s + j + 3;
                        break;
                    }
                }
                i = end != NULL ? (size_t)(end - s) : n;
                continue;
            }
            size_t j = i + 1;
            bool closing = j < n && s[j] == '/';
            j += closing;
            size_t name = j;
            /* A tag name begins with a letter: "<3" and "a < b" are text. */
            bool letter = j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'));
            while (letter && j < n && is_name_char(s[j])) {
                j++;
            }
            size_t nlen = j - name;
            if (nlen == 0 && !closing && !(j < n && (s[j] == '!' || s[j] == '?'))) {
                /* "a < b": no tag. */
                put_text(&o, "<", 1);
                i++;
                continue;
            }
            size_t end = tag_end(s, n, i);
            for (size_t k = 0; !closing && k < sizeof(skipped) / sizeof(skipped[0]); k++) {
                if (strlen(skipped[k]) == nlen && strncasecmp(s + name, skipped[k], nlen) == 0) {
                    size_t close = find_close(s, n, end, skipped[k]);
                    end = close < n ? tag_end(s, n, close) : n;
                    break;
                }
            }
            for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++) {
                if (strlen(blocks[k].name) == nlen &&
                    strncasecmp(s + name, blocks[k].name, nlen) == 0) {
                    /* <br> breaks one line each time; a block only once. */
                    int want = blocks[k].breaks;
                    if (nlen == 2 && strncasecmp(s + name, "br", 2) == 0) {
                        o.breaks = o.breaks < 2 ? o.breaks + 1 : 2;
                    } else if (o.breaks < want) {
                        o.breaks = want;
                    }
                    break;
                }
            }
            if (nlen == 2 &&
                (strncasecmp(s + name, "td", 2) == 0 || strncasecmp(s + name, "th", 2) == 0)) {
                o.space = true;
            }
            i = end;
            continue;
        }
        if (is_space(c)) {
            o.space = true;
            i++;
            continue;
        }
        if (c == '&') {
            uint32_t cp;
            size_t used = reference(s, n, i, &cp);
            if (used > 0) {
                if (cp == ' ') {
                    o.space = true; /* &nbsp; */
                } else {
                    put_cp(&o, cp);
                }
                i += used;
                continue;
            }
        }
        /* A run of plain text at once. */
        size_t j = i + 1;
        while (j < n && s[j] != '<' && s[j] != '&' && !is_space(s[j])) {
            j++;
        }
        put_text(&o, s + i, j - i);
        i = j;
    }
    o.p[o.len] = '\0';
    *outlen = o.len;
    return o.p;
}
