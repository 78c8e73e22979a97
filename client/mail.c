#include "mail.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "errmsg.h"
#include "html.h"
#include "normalize.h"

/* Nested multipart levels followed; deeper ones are not searched for text. */
#define MAX_DEPTH 16
/* Limits of CONTRACT §1, in characters: longer values are cut, or left out. */
#define SUBJECT_CHARS 512
#define NAME_CHARS    256
#define ID_CHARS      256
#define AGENT_CHARS   128
/* Longest charset name passed to iconv; a longer one is no charset. */
#define CHARSET_MAX 64

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* A growing byte string, always NUL-terminated once it holds anything. After a failed
 * allocation it stays empty and oom is set, so callers check once at the end. */
struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

/* A span of the message: a header's raw value, a part. */
struct span {
    const char *p;
    size_t n;
};

static void buf_put(struct buf *b, const void *s, size_t n)
{
    if (b->oom || n == 0) {
        return;
    }
    if (b->cap - b->len < n + 1) {
        if (n > SIZE_MAX / 4 - b->len) {
            b->oom = true;
            return;
        }
        size_t cap = b->cap == 0 ? 64 : b->cap;
        while (cap - b->len < n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_putc(struct buf *b, char c)
{
    buf_put(b, &c, 1);
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* True when s (n bytes) equals the NUL-terminated word, ignoring ASCII case. */
static bool eq_ci(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/*
 * Appends s as UTF-8: valid sequences as they are, every invalid byte as U+FFFD. In a body
 * (body set) CRLF and lone CR become "\n" and control characters other than tab and line
 * feed are dropped; in a header every control character becomes a space.
 */
static void put_utf8(struct buf *out, const char *s, size_t n, bool body)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* Printable ASCII and valid sequences are copied in runs. */
        for (;;) {
            if (run >= n) {
                break;
            }
            if (u[run] >= 0x20 && u[run] < 0x80) {
                run++;
                continue;
            }
            unsigned cp;
            int l = u[run] >= 0x80 ? normalize_utf8_decode(u + run, n - run, &cp) : -1;
            if (l < 0) {
                break;
            }
            run += (size_t)l;
        }
        buf_put(out, s + i, run - i);
        i = run;
        if (i >= n) {
            break;
        }
        unsigned char c = u[i];
        if (c >= 0x80) {
            buf_put(out, replacement, 3);
        } else if (!body) {
            buf_putc(out, ' ');
        } else if (c == '\r') {
            buf_putc(out, '\n');
            if (i + 1 < n && u[i + 1] == '\n') {
                i++;
            }
        } else if (c == '\n' || c == '\t') {
            buf_putc(out, (char)c);
        }
        i++;
    }
}

/* True for a charset that is UTF-8 or a subset of it. */
static bool is_utf8_charset(const char *cs)
{
    return cs[0] == '\0' || strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 ||
           strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0;
}

/* True when cs is a name iconv may be asked about: letters, digits and . _ : - only. */
static bool charset_name_ok(const char *cs)
{
    size_t n = strlen(cs);
    if (n == 0 || n > CHARSET_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = cs[i];
        if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != ':' && c != '-') {
            return false;
        }
    }
    return true;
}

/*
 * Appends n bytes in charset cs as UTF-8 (see put_utf8 for body). A charset iconv does not
 * know is taken for UTF-8, the likeliest truth; bytes invalid in it become U+FFFD.
 */
static void put_charset(struct buf *out, const char *cs, const char *s, size_t n, bool body)
{
    if (is_utf8_charset(cs) || !charset_name_ok(cs)) {
        put_utf8(out, s, n, body);
        return;
    }
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1) {
        put_utf8(out, s, n, body);
        return;
    }
    struct buf tmp = {0};
    char chunk[4096];
    char *in = (char *)s; /* iconv's prototype; it does not write through it */
    size_t left = n;
    while (left > 0 && !tmp.oom) {
        char *o = chunk;
        size_t room = sizeof(chunk);
        size_t r = iconv(cd, &in, &left, &o, &room);
        buf_put(&tmp, chunk, (size_t)(o - chunk));
        if (r == (size_t)-1 && errno != E2BIG) {
            /* An invalid or truncated sequence: mark it and go on after its first byte. */
            buf_put(&tmp, replacement, 3);
            in++;
            left--;
            iconv(cd, NULL, NULL, NULL, NULL);
        }
    }
    /* Stateful charsets (ISO-2022-*) may owe a last shift sequence. */
    char *o = chunk;
    size_t room = sizeof(chunk);
    if (iconv(cd, NULL, NULL, &o, &room) != (size_t)-1) {
        buf_put(&tmp, chunk, (size_t)(o - chunk));
    }
    iconv_close(cd);
    if (tmp.oom) {
        out->oom = true;
    } else {
        put_utf8(out, tmp.p, tmp.len, body);
    }
    buf_free(&tmp);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Base64: anything outside the alphabet (line breaks, padding, junk) is skipped. */
static void b64_decode(struct buf *out, const char *s, size_t n)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            continue;
        }
        acc = ((acc << 6) | (unsigned)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (char)((acc >> bits) & 0xFF));
        }
    }
}

/*
 * Quoted-printable (RFC 2045), or the Q encoding of RFC 2047 when word is set ('_' is a
 * space, no soft line breaks). A '=' that starts no escape stays as it is.
 */
static void qp_decode(struct buf *out, const char *s, size_t n, bool word)
{
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (word && c == '_') {
            buf_putc(out, ' ');
            i++;
            continue;
        }
        if (c != '=') {
            size_t run = i + 1;
            while (run < n && s[run] != '=' && !(word && s[run] == '_')) {
                run++;
            }
            buf_put(out, s + i, run - i);
            i = run;
            continue;
        }
        if (i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            buf_putc(out, (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 3;
            continue;
        }
        if (!word) {
            /* A soft line break: '=', maybe trailing blanks, then the line end. */
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t')) {
                j++;
            }
            if (j < n && s[j] == '\r') {
                j++;
            }
            if (j >= n || s[j] == '\n') {
                i = j < n ? j + 1 : n;
                continue;
            }
        }
        buf_putc(out, '=');
        i++;
    }
}

/* Copies s without line breaks: a folded header unfolds into one line (RFC 5322 2.2.3). */
static void unfold(struct buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] != '\r' && s[run] != '\n') {
            run++;
        }
        buf_put(out, s + i, run - i);
        i = run + 1;
    }
}

/*
 * Recognizes an encoded-word =?charset?E?text?= at s[i..n). Returns its length (0 when there
 * is none) and its parts.
 */
static size_t encoded_word(const char *s, size_t n, size_t i, struct span *cs, char *enc,
                           struct span *text)
{
    if (i + 1 >= n || s[i] != '=' || s[i + 1] != '?') {
        return 0;
    }
    size_t p = i + 2;
    while (p < n && s[p] != '?' && !is_ws(s[p])) {
        p++;
    }
    if (p >= n || s[p] != '?' || p == i + 2) {
        return 0;
    }
    cs->p = s + i + 2;
    cs->n = p - (i + 2);
    p++;
    if (p + 1 >= n || (lower(s[p]) != 'b' && lower(s[p]) != 'q') || s[p + 1] != '?') {
        return 0;
    }
    *enc = lower(s[p]);
    p += 2;
    size_t t = p;
    while (p < n && s[p] != '?' && !is_ws(s[p])) {
        p++;
    }
    if (p + 1 >= n || s[p] != '?' || s[p + 1] != '=') {
        return 0;
    }
    text->p = s + t;
    text->n = p - t;
    return p + 2 - i;
}

/* Encoded-words decoded but not yet converted: adjacent words of one charset are converted
 * together, since a character's bytes may be split between them. */
struct pending {
    char cs[CHARSET_MAX + 1];
    struct buf bytes;
};

static void pending_flush(struct pending *pd, struct buf *out)
{
    if (pd->bytes.len > 0) {
        put_charset(out, pd->cs, pd->bytes.p, pd->bytes.len, false);
    }
    if (pd->bytes.oom) {
        out->oom = true;
    }
    buf_reset(&pd->bytes);
    pd->bytes.oom = false;
}

/* Decodes the encoded-words of an unfolded header value into out (RFC 2047 section 6). */
static void decode_words(struct buf *out, const char *s, size_t n)
{
    struct pending pd = {.cs = ""};
    struct span held = {NULL, 0}; /* white space seen, written only if text follows */
    bool after_word = false;
    size_t i = 0;
    while (i < n) {
        struct span cs, text;
        char enc;
        size_t wl = encoded_word(s, n, i, &cs, &enc, &text);
        if (wl > 0) {
            /* White space between two encoded-words is no part of the text. */
            if (!after_word) {
                pending_flush(&pd, out);
                put_utf8(out, held.p, held.n, false);
            }
            held.n = 0;
            char name[CHARSET_MAX + 1];
            size_t cl = cs.n;
            const char *star = memchr(cs.p, '*', cs.n); /* RFC 2231 language: =?utf-8*fa?.. */
            if (star != NULL) {
                cl = (size_t)(star - cs.p);
            }
            if (cl > CHARSET_MAX) {
                cl = 0; /* no charset: the bytes are taken for UTF-8 */
            }
            memcpy(name, cs.p, cl);
            name[cl] = '\0';
            if (strcasecmp(name, pd.cs) != 0) {
                pending_flush(&pd, out);
                memcpy(pd.cs, name, cl + 1);
            }
            if (enc == 'b') {
                b64_decode(&pd.bytes, text.p, text.n);
            } else {
                qp_decode(&pd.bytes, text.p, text.n, true);
            }
            after_word = true;
            i += wl;
            continue;
        }
        if (is_ws(s[i])) {
            size_t j = i;
            while (j < n && is_ws(s[j])) {
                j++;
            }
            held.p = s + i;
            held.n = j - i;
            i = j;
            continue;
        }
        pending_flush(&pd, out);
        put_utf8(out, held.p, held.n, false);
        held.n = 0;
        size_t j = i + 1;
        while (j < n && !is_ws(s[j]) && !(s[j] == '=' && j + 1 < n && s[j + 1] == '?')) {
            j++;
        }
        put_utf8(out, s + i, j - i, false);
        after_word = false;
        i = j;
    }
    pending_flush(&pd, out);
    buf_free(&pd.bytes);
}

/* Trims white space at both ends of b in place. */
static void trim(struct buf *b)
{
    if (b->len == 0) {
        return;
    }
    size_t s = 0, e = b->len;
    while (s < e && is_ws(b->p[s])) {
        s++;
    }
    while (e > s && is_ws(b->p[e - 1])) {
        e--;
    }
    memmove(b->p, b->p + s, e - s);
    b->len = e - s;
    b->p[b->len] = '\0';
}

char *mail_decode_header(const char *s, size_t n)
{
    struct buf line = {0}, out = {0};
    unfold(&line, s, n);
    decode_words(&out, line.p != NULL ? line.p : "", line.len);
    bool oom = line.oom || out.oom;
    buf_free(&line);
    trim(&out);
    if (!oom && out.p == NULL) {
        out.p = strdup("");
        oom = out.p == NULL;
    }
    if (oom) {
        buf_free(&out);
        return NULL;
    }
    return out.p;
}

/* Headers looked for; the first occurrence of each counts. */
enum {
    H_CONTENT_TYPE,
    H_CTE,
    H_DISPOSITION,
    H_MIME_COUNT, /* the ones a MIME part needs; the message's own follow */
    H_MESSAGE_ID = H_MIME_COUNT,
    H_FROM,
    H_TO,
    H_SUBJECT,
    H_DATE,
    H_REFERENCES,
    H_IN_REPLY_TO,
    H_RECEIVED,
    H_COUNT,
};

static const char *const header_names[H_COUNT] = {
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Message-ID",
    "From",
    "To",
    "Subject",
    "Date",
    "References",
    "In-Reply-To",
    "Received",
};

/*
 * Reads the header section of s (n bytes): the first occurrence of each of the first count
 * names goes to vals (raw value, folded lines included; p NULL when absent). Returns where
 * the body starts: after the empty line, or n when there is none.
 */
static size_t parse_headers(const char *s, size_t n, size_t count, struct span *vals)
{
    for (size_t k = 0; k < count; k++) {
        vals[k].p = NULL;
        vals[k].n = 0;
    }
    size_t pos = 0;
    struct span *cur = NULL; /* the header the next folded line continues, when wanted */
    while (pos < n) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t end = nl != NULL ? (size_t)(nl - s) : n;
        size_t next = nl != NULL ? end + 1 : n;
        if (end > pos && s[end - 1] == '\r') {
            end--;
        }
        if (end == pos) {
            return next;
        }
        if (s[pos] == ' ' || s[pos] == '\t') {
            if (cur != NULL) {
                cur->n = (size_t)(s + end - cur->p);
            }
            pos = next;
            continue;
        }
        cur = NULL;
        const char *colon = memchr(s + pos, ':', end - pos);
        if (colon != NULL) {
            size_t nl_len = (size_t)(colon - (s + pos));
            while (nl_len > 0 && (s[pos + nl_len - 1] == ' ' || s[pos + nl_len - 1] == '\t')) {
                nl_len--;
            }
            for (size_t k = 0; k < count; k++) {
                if (vals[k].p == NULL && eq_ci(s + pos, nl_len, header_names[k])) {
                    vals[k].p = colon + 1;
                    vals[k].n = (size_t)(s + end - (colon + 1));
                    cur = &vals[k];
                    break;
                }
            }
        }
        pos = next;
    }
    return n;
}

/*
 * Copies s without its comments and with its quoted strings unquoted (RFC 5322 3.2); the
 * text of the first comment goes to comment when that is not NULL.
 */
static void strip_cfws(struct buf *out, const char *s, size_t n, struct buf *comment)
{
    int depth = 0;
    bool quoted = false, captured = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool capture = comment != NULL && !captured && depth > 0;
        if (quoted) {
            if (c == '\\' && i + 1 < n) {
                buf_putc(out, s[++i]);
            } else if (c == '"') {
                quoted = false;
            } else {
                buf_putc(out, c);
            }
        } else if (depth > 0) {
            if (c == '\\' && i + 1 < n) {
                i++;
                if (capture) {
                    buf_putc(comment, s[i]);
                }
            } else if (c == '(') {
                depth++;
                if (capture) {
                    buf_putc(comment, c);
                }
            } else if (c == ')') {
                depth--;
                if (depth == 0) {
                    captured = captured || comment != NULL;
                } else if (capture) {
                    buf_putc(comment, c);
                }
            } else if (capture) {
                buf_putc(comment, c);
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            depth = 1;
        } else {
            buf_putc(out, c);
        }
    }
}

static bool first_mailbox(const char *s, size_t n, const struct mail_opts *outside,
                          struct buf *name, struct buf *addr);

bool mail_is_company(const struct mail_opts *opts, const char *addr, size_t n)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++) {
        at = addr[i] == '@' ? addr + i : at;
    }
    if (at == NULL) {
        return false;
    }
    const char *dom = at + 1;
    size_t dlen = (size_t)(addr + n - dom);
    for (size_t k = 0; k < opts->ncompany; k++) {
        const char *c = opts->company_domains[k];
        size_t clen = strlen(c);
        /* The domain itself or one under it: mail.example.com is example.com's. */
        if (clen > 0 && dlen >= clen && strncasecmp(dom + dlen - clen, c, clen) == 0 &&
            (dlen == clen || dom[dlen - clen - 1] == '.')) {
            return true;
        }
    }
    return false;
}

/*
 * The first mailbox of an address list (RFC 5322 3.4), unfolded in s: its address into addr
 * and its display name, decoded, into name; with outside, the first whose address is not of
 * outside's company domains. Groups ("team: a@b, c@d;") are entered. Returns true when a
 * mailbox with an address was found.
 */
static bool first_mailbox(const char *s, size_t n, const struct mail_opts *outside,
                          struct buf *name, struct buf *addr)
{
    size_t pos = 0;
    while (pos < n) {
        /* One element: up to a ',' or ';' outside quotes, comments and angle brackets. */
        size_t start = pos, lt = SIZE_MAX, gt = SIZE_MAX;
        int depth = 0;
        bool quoted = false, angle = false;
        for (; pos < n; pos++) {
            char c = s[pos];
            if (quoted) {
                if (c == '\\') {
                    pos++;
                } else if (c == '"') {
                    quoted = false;
                }
            } else if (depth > 0) {
                if (c == '\\') {
                    pos++;
                } else if (c == '(') {
                    depth++;
                } else if (c == ')') {
                    depth--;
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == '(') {
                depth = 1;
            } else if (angle) {
                if (c == '>') {
                    angle = false;
                    gt = pos;
                }
            } else if (c == '<') {
                angle = true;
                lt = pos;
            } else if (c == ':' && lt == SIZE_MAX) {
                /* A group's name ends here; its members follow. */
                start = pos + 1;
            } else if (c == ',' || c == ';') {
                break;
            }
        }
        size_t end = pos < n ? pos : n;
        pos = end + 1;
        buf_reset(name);
        buf_reset(addr);
        struct buf phrase = {0}, comment = {0};
        if (lt != SIZE_MAX && lt >= start) {
            size_t close = gt != SIZE_MAX && gt > lt ? gt : end;
            strip_cfws(addr, s + lt + 1, close - (lt + 1), NULL);
            strip_cfws(&phrase, s + start, lt - start, NULL);
        } else {
            strip_cfws(addr, s + start, end - start, &comment);
            /* The old form "sara@example.com (Sara Karimi)". */
            buf_put(&phrase, comment.p, comment.len);
        }
        trim(addr);
        if (phrase.len > 0) {
            char *decoded = mail_decode_header(phrase.p, phrase.len);
            if (decoded == NULL) {
                name->oom = true;
            } else {
                buf_put(name, decoded, strlen(decoded));
                free(decoded);
            }
        }
        bool oom = phrase.oom || comment.oom;
        buf_free(&phrase);
        buf_free(&comment);
        if (oom) {
            addr->oom = true;
            return false;
        }
        if (addr->len > 0) {
            /* An address is ASCII, or UTF-8 (RFC 6532); anything else is made valid. */
            struct buf clean = {0};
            put_utf8(&clean, addr->p, addr->len, false);
            buf_reset(addr);
            buf_put(addr, clean.p, clean.len);
            addr->oom = addr->oom || clean.oom;
            buf_free(&clean);
            if (name->len > 0 && name->len == addr->len &&
                memcmp(name->p, addr->p, name->len) == 0) {
                buf_reset(name);
            }
            if (outside != NULL && !addr->oom && mail_is_company(outside, addr->p, addr->len)) {
                continue;
            }
            return true;
        }
    }
    return false;
}

/* The first <message-id> in a header value (unfolded into out with its brackets); a value
 * without brackets gives its first word. Returns true when out is not empty. */
static bool first_msgid(struct buf *out, const struct span *v)
{
    buf_reset(out);
    if (v->p == NULL) {
        return false;
    }
    struct buf flat = {0}, bare = {0};
    unfold(&flat, v->p, v->n);
    strip_cfws(&bare, flat.p != NULL ? flat.p : "", flat.len, NULL);
    const char *s = bare.p != NULL ? bare.p : "";
    const char *lt = strchr(s, '<');
    const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
    if (lt != NULL && gt != NULL && gt > lt + 1) {
        put_utf8(out, lt, (size_t)(gt - lt) + 1, false);
    } else {
        while (is_ws(*s)) {
            s++;
        }
        size_t n = 0;
        while (s[n] != '\0' && !is_ws(s[n])) {
            n++;
        }
        put_utf8(out, s, n, false);
    }
    out->oom = out->oom || flat.oom || bare.oom;
    buf_free(&flat);
    buf_free(&bare);
    return out->len > 0;
}

/* Reads 1 to max digits at *p. Returns the number, or -1. */
static int read_num(const char **p, int max)
{
    int v = 0, k = 0;
    while (k < max && is_digit(**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    return k == 0 || is_digit(**p) ? -1 : v;
}

static void skip_ws(const char **p)
{
    while (is_ws(**p)) {
        (*p)++;
    }
}

/* Zone names of RFC 5322 4.3, with their offsets in hours. */
static int zone_name(const char *z, size_t n, int *minutes)
{
    static const struct {
        const char *name;
        int hours;
    } zones[] = {{"UT", 0},   {"UTC", 0},  {"GMT", 0},  {"Z", 0},    {"EST", -5}, {"EDT", -4},
                 {"CST", -6}, {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (eq_ci(z, n, zones[i].name)) {
            *minutes = zones[i].hours * 60;
            return 0;
        }
    }
    /* Military zones were used with the wrong sign so often that RFC 5322 reads them as
     * -0000, "no zone information": UTC. */
    if (n == 1 && is_alpha(z[0])) {
        *minutes = 0;
        return 0;
    }
    return -1;
}

/*
 * Parses an RFC 5322 date-time ("Tue, 18 Nov 2026 09:15:00 +0330 (IRST)", obsolete forms
 * too: two-digit years, zone names, no seconds) into RFC 3339 in out. Returns 0 or -1.
 */
static int parse_date(const char *s, size_t n, char *out, size_t outlen)
{
    struct buf flat = {0}, bare = {0};
    unfold(&flat, s, n);
    strip_cfws(&bare, flat.p != NULL ? flat.p : "", flat.len, NULL);
    buf_free(&flat);
    if (bare.oom || bare.p == NULL) {
        buf_free(&bare);
        return -1;
    }
    int rc = -1;
    const char *p = bare.p;
    skip_ws(&p);
    if (is_alpha(*p)) {
        while (is_alpha(*p)) {
            p++;
        }
        skip_ws(&p);
        if (*p == ',') {
            p++;
        }
        skip_ws(&p);
    }
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    int day = read_num(&p, 2), mon = -1, year, h, mi, se = 0, zone = 0;
    skip_ws(&p);
    if (*p == '-') {
        p++;
    }
    if (is_alpha(p[0]) && is_alpha(p[1]) && is_alpha(p[2])) {
        for (int m = 0; m < 12; m++) {
            if (lower(p[0]) == months[3 * m] && lower(p[1]) == months[3 * m + 1] &&
                lower(p[2]) == months[3 * m + 2]) {
                mon = m + 1;
            }
        }
        while (is_alpha(*p)) {
            p++;
        }
    }
    skip_ws(&p);
    if (*p == '-') {
        p++;
    }
    const char *ys = p;
    year = read_num(&p, 4);
    if (year >= 0 && p - ys == 2) {
        year += year < 50 ? 2000 : 1900;
    } else if (year >= 0 && p - ys == 3) {
        year += 1900;
    }
    skip_ws(&p);
    h = read_num(&p, 2);
    if (*p != ':') {
        goto out;
    }
    p++;
    mi = read_num(&p, 2);
    if (*p == ':') {
        p++;
        se = read_num(&p, 2);
    }
    skip_ws(&p);
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        const char *zs = p;
        int hhmm = read_num(&p, 4);
        if (hhmm < 0 || p - zs != 4 || hhmm / 100 > 23 || hhmm % 100 > 59) {
            goto out;
        }
        zone = sign * (hhmm / 100 * 60 + hhmm % 100);
    } else if (is_alpha(*p)) {
        const char *zs = p;
        while (is_alpha(*p)) {
            p++;
        }
        if (zone_name(zs, (size_t)(p - zs), &zone) < 0) {
            goto out;
        }
    }
    skip_ws(&p);
    if (*p != '\0' || day < 1 || mon < 1 || year < 1900 || year > 9999 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 60) {
        goto out;
    }
    /* A round trip through timegm refuses days a month does not have. */
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day};
    struct tm back;
    time_t t = timegm(&tm);
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != day || back.tm_mon != mon - 1) {
        goto out;
    }
    if (se == 60) {
        se = 59; /* a leap second: RFC 3339 parsers rarely take :60 */
    }
    int az = zone < 0 ? -zone : zone;
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", year, mon, day, h, mi, se,
             zone < 0 ? '-' : '+', az / 60, az % 60);
    rc = 0;
out:
    buf_free(&bare);
    return rc;
}

/* The type/subtype of a Content-Type value, lower-cased ("" when too long or absent). */
static void media_type(const struct span *ct, char *out, size_t outlen)
{
    out[0] = '\0';
    if (ct->p == NULL) {
        return;
    }
    size_t i = 0, k = 0;
    while (i < ct->n && is_ws(ct->p[i])) {
        i++;
    }
    while (i < ct->n && ct->p[i] != ';' && !is_ws(ct->p[i]) && ct->p[i] != '(') {
        if (k + 1 >= outlen) {
            out[0] = '\0';
            return;
        }
        out[k++] = lower(ct->p[i++]);
    }
    out[k] = '\0';
}

/*
 * The value of parameter name in a header like Content-Type (";"-separated attribute=value,
 * the value a token or a quoted string), unfolded, into out. Returns true when found.
 */
static bool header_param(const struct span *v, const char *name, struct buf *out)
{
    buf_reset(out);
    if (v->p == NULL) {
        return false;
    }
    const char *s = v->p;
    size_t n = v->n, i = 0;
    bool quoted = false;
    /* Past the main value, to the first ';' outside quotes. */
    for (; i < n; i++) {
        if (s[i] == '"') {
            quoted = !quoted;
        } else if (s[i] == ';' && !quoted) {
            break;
        }
    }
    while (i < n) {
        while (i < n && (is_ws(s[i]) || s[i] == ';')) {
            i++;
        }
        size_t as = i;
        while (i < n && s[i] != '=' && s[i] != ';' && !is_ws(s[i])) {
            i++;
        }
        size_t al = i - as;
        while (i < n && is_ws(s[i])) {
            i++;
        }
        if (i >= n || s[i] != '=') {
            continue;
        }
        i++;
        while (i < n && is_ws(s[i])) {
            i++;
        }
        bool want = eq_ci(s + as, al, name);
        if (i < n && s[i] == '"') {
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < n) {
                    i++;
                }
                if (want && s[i] != '\r' && s[i] != '\n') {
                    buf_putc(out, s[i]);
                }
            }
            i++;
        } else {
            size_t vs = i;
            while (i < n && s[i] != ';' && !is_ws(s[i])) {
                i++;
            }
            if (want) {
                buf_put(out, s + vs, i - vs);
            }
        }
        if (want) {
            return true;
        }
    }
    return false;
}

/* Decodes a part's body by its Content-Transfer-Encoding into out. */
static void decode_cte(struct buf *out, const struct span *cte, const char *s, size_t n)
{
    char enc[32];
    media_type(cte, enc, sizeof(enc));
    if (strcmp(enc, "base64") == 0) {
        b64_decode(out, s, n);
    } else if (strcmp(enc, "quoted-printable") == 0) {
        qp_decode(out, s, n, false);
    } else {
        buf_put(out, s, n);
    }
}

/*
 * True when the line at s[pos..end) is a delimiter of boundary b: "--b" or, when *close is
 * set on return, the closing "--b--", then only white space.
 */
static bool is_delimiter(const char *s, size_t pos, size_t end, const struct buf *b, bool *close)
{
    if (end - pos < b->len + 2 || s[pos] != '-' || s[pos + 1] != '-' ||
        memcmp(s + pos + 2, b->p, b->len) != 0) {
        return false;
    }
    size_t i = pos + 2 + b->len;
    *close = end - i >= 2 && s[i] == '-' && s[i + 1] == '-';
    if (*close) {
        i += 2;
    }
    while (i < end && is_ws(s[i])) {
        i++;
    }
    return i == end;
}

static int find_text(const struct span *hv, const char *body, size_t n, int depth, const char *want,
                     struct buf *out);

/* Looks for text in part s[0..n) (its own headers, then its body). */
static int find_text_in_part(const char *s, size_t n, int depth, const char *want, struct buf *out)
{
    struct span hv[H_MIME_COUNT];
    size_t at = parse_headers(s, n, H_MIME_COUNT, hv);
    return find_text(hv, s + at, n - at, depth, want, out);
}

/*
 * Writes the first content of type want (text/plain or text/html; not an attachment) of a
 * part with headers hv and body s[0..n), walking multipart parts, into out as UTF-8. A part
 * without Content-Type counts as text/plain. Returns 1 when found, else 0.
 */
static int find_text(const struct span *hv, const char *s, size_t n, int depth, const char *want,
                     struct buf *out)
{
    char type[128];
    media_type(&hv[H_CONTENT_TYPE], type, sizeof(type));
    if (strncmp(type, "multipart/", 10) == 0) {
        struct buf b = {0};
        int found = 0;
        if (depth >= MAX_DEPTH || !header_param(&hv[H_CONTENT_TYPE], "boundary", &b) ||
            b.len == 0 || b.len > 200) {
            buf_free(&b);
            return 0;
        }
        size_t pos = 0, part = SIZE_MAX;
        while (pos < n && !found) {
            const char *nl = memchr(s + pos, '\n', n - pos);
            size_t end = nl != NULL ? (size_t)(nl - s) : n;
            size_t next = nl != NULL ? end + 1 : n;
            size_t cend = end > pos && s[end - 1] == '\r' ? end - 1 : end;
            bool close = false;
            if (is_delimiter(s, pos, cend, &b, &close)) {
                if (part != SIZE_MAX) {
                    /* The line break before a delimiter belongs to the delimiter. */
                    size_t pend = pos;
                    if (pend > part && s[pend - 1] == '\n') {
                        pend--;
                    }
                    if (pend > part && s[pend - 1] == '\r') {
                        pend--;
                    }
                    found = find_text_in_part(s + part, pend - part, depth + 1, want, out);
                }
                if (close) {
                    part = SIZE_MAX;
                    break;
                }
                part = next;
            }
            pos = next;
        }
        /* A message cut short: its last part ends where the message does. */
        if (!found && part != SIZE_MAX && part < n) {
            found = find_text_in_part(s + part, n - part, depth + 1, want, out);
        }
        buf_free(&b);
        return found;
    }
    if (type[0] == '\0' ? strcmp(want, "text/plain") != 0 : strcmp(type, want) != 0) {
        return 0;
    }
    char disp[32];
    media_type(&hv[H_DISPOSITION], disp, sizeof(disp));
    if (depth > 0 && strcmp(disp, "attachment") == 0) {
        return 0;
    }
    struct buf raw = {0}, cs = {0};
    decode_cte(&raw, &hv[H_CTE], s, n);
    header_param(&hv[H_CONTENT_TYPE], "charset", &cs);
    put_charset(out, cs.p != NULL ? cs.p : "", raw.p != NULL ? raw.p : "", raw.len, true);
    out->oom = out->oom || raw.oom || cs.oom;
    buf_free(&raw);
    buf_free(&cs);
    return 1;
}

/* Bytes of s (n bytes of valid UTF-8) that hold at most max characters. */
static size_t cut_chars(const char *s, size_t n, size_t max)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == max) {
                return i;
            }
            chars++;
        }
    }
    return n;
}

/* At most max bytes of s (n bytes of valid UTF-8), not splitting a character. */
static size_t cut_bytes(const char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

/* Sets key to the first n bytes of s (valid UTF-8). Returns 0 or -1 (out of memory). */
static int set_str(json_t *obj, const char *key, const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    return v != NULL ? json_object_set_new(obj, key, v) : -1;
}

/* Cuts the record's body until the record serializes to at most max bytes. */
static int fit_line(json_t *rec, const char *body, size_t blen, size_t max)
{
    for (;;) {
        char *line = json_dumps(rec, JSON_COMPACT);
        if (line == NULL) {
            return -1;
        }
        size_t n = strlen(line);
        free(line);
        if (n <= max || blen == 0) {
            /* Without a body, nothing here can be cut: the daemon will say too_large. */
            return 0;
        }
        size_t over = n - max;
        blen = over >= blen ? 0 : cut_bytes(body, blen, blen - over);
        if (set_str(rec, "body", body, blen) < 0) {
            return -1;
        }
    }
}

int mail_to_record(const char *msg, size_t len, const struct mail_opts *opts, json_t **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    int rc = MAIL_ENOMEM;
    struct span hv[H_COUNT];
    struct buf id = {0}, thread = {0}, name = {0}, addr = {0}, aname = {0}, agent = {0};
    struct buf text = {0};
    char *subject = NULL;
    json_t *rec = NULL, *cust = NULL;
    size_t at = parse_headers(msg, len, H_COUNT, hv);

    if (!first_msgid(&id, &hv[H_MESSAGE_ID])) {
        if (id.oom) {
            goto nomem;
        }
        errmsg_set(err, errlen, "Message-ID: %s (it is the record's external_id)",
                   hv[H_MESSAGE_ID].p == NULL ? "missing" : "empty");
        rc = MAIL_EINVALID;
        goto out;
    }
    if (cut_chars(id.p, id.len, ID_CHARS) < id.len) {
        errmsg_set(err, errlen, "Message-ID: longer than %d characters", ID_CHARS);
        rc = MAIL_EINVALID;
        goto out;
    }
    bool outbound = opts->outbound;
    bool company = opts->ncompany > 0;
    struct buf flat = {0};
    if (company) {
        /* The sender's domain says who wrote: the business, or a customer. */
        if (hv[H_FROM].p != NULL) {
            unfold(&flat, hv[H_FROM].p, hv[H_FROM].n);
        }
        outbound = flat.len > 0 && first_mailbox(flat.p, flat.len, NULL, &name, &addr) &&
                   mail_is_company(opts, addr.p, addr.len);
        bool oom = flat.oom || name.oom || addr.oom;
        buf_free(&flat);
        if (oom) {
            goto nomem;
        }
    }
    int cust_h = outbound ? H_TO : H_FROM;
    int agent_h = outbound ? H_FROM : H_TO;
    if (hv[cust_h].p != NULL) {
        unfold(&flat, hv[cust_h].p, hv[cust_h].n);
    }
    bool have =
        flat.len > 0 && first_mailbox(flat.p, flat.len, company ? opts : NULL, &name, &addr);
    bool oom = flat.oom || name.oom || addr.oom;
    buf_free(&flat);
    if (oom) {
        goto nomem;
    }
    if (!have && company && outbound && hv[cust_h].p != NULL) {
        errmsg_set(err, errlen,
                   "To: only addresses of the company's domains (a mail within the company has "
                   "no customer)");
        rc = MAIL_EINTERNAL;
        goto out;
    }
    if (!have) {
        errmsg_set(err, errlen, "%s: %s (the customer of an %s message)", header_names[cust_h],
                   hv[cust_h].p == NULL ? "missing" : "no address in it",
                   outbound ? "outbound" : "inbound");
        rc = MAIL_EINVALID;
        goto out;
    }
    if (hv[agent_h].p != NULL) {
        unfold(&flat, hv[agent_h].p, hv[agent_h].n);
        if (flat.len > 0) {
            first_mailbox(flat.p, flat.len, NULL, &aname, &agent);
        }
        oom = flat.oom || aname.oom || agent.oom;
        buf_free(&flat);
        if (oom) {
            goto nomem;
        }
    }
    char when[40];
    const struct span *date = &hv[H_DATE];
    if (date->p == NULL || parse_date(date->p, date->n, when, sizeof(when)) < 0) {
        /* The newest Received stamp (the first one) is the next best time. */
        const struct span *rcv = &hv[H_RECEIVED];
        const char *semi = NULL;
        for (size_t i = 0; rcv->p != NULL && i < rcv->n; i++) {
            if (rcv->p[i] == ';') {
                semi = rcv->p + i;
            }
        }
        if (semi == NULL ||
            parse_date(semi + 1, (size_t)(rcv->p + rcv->n - semi - 1), when, sizeof(when)) < 0) {
            char q[96];
            char *shown = date->p != NULL ? mail_decode_header(date->p, date->n) : NULL;
            if (date->p == NULL) {
                errmsg_set(err, errlen, "Date: missing, and no Received header has a date");
            } else {
                errmsg_set(err, errlen, "Date: %s is not an RFC 5322 date",
                           errmsg_quote(shown != NULL ? shown : "", q, sizeof(q)));
            }
            free(shown);
            rc = MAIL_EINVALID;
            goto out;
        }
    }
    if (hv[H_SUBJECT].p != NULL) {
        subject = mail_decode_header(hv[H_SUBJECT].p, hv[H_SUBJECT].n);
        if (subject == NULL) {
            goto nomem;
        }
    }
    if (!first_msgid(&thread, &hv[H_REFERENCES]) ||
        cut_chars(thread.p, thread.len, ID_CHARS) < thread.len) {
        if (!first_msgid(&thread, &hv[H_IN_REPLY_TO]) ||
            cut_chars(thread.p, thread.len, ID_CHARS) < thread.len) {
            buf_reset(&thread);
            buf_put(&thread, id.p, id.len);
        }
    }
    if (thread.oom) {
        goto nomem;
    }
    if (!find_text(hv, msg + at, len - at, 0, "text/plain", &text) &&
        find_text(hv, msg + at, len - at, 0, "text/html", &text) && !text.oom) {
        /* An HTML-only message: its text, rather than no body at all. */
        size_t tlen;
        char *plain = html_to_text(text.p != NULL ? text.p : "", text.len, &tlen);
        buf_reset(&text);
        if (plain == NULL) {
            goto nomem;
        }
        buf_put(&text, plain, tlen);
        free(plain);
    }
    if (text.oom) {
        goto nomem;
    }
    trim(&text);

    rec = json_object();
    cust = json_object();
    if (rec == NULL || cust == NULL) {
        goto nomem;
    }
    if (set_str(rec, "source", opts->source, strlen(opts->source)) < 0) {
        errmsg_set(err, errlen, "source: not valid UTF-8 text");
        rc = MAIL_EINVALID;
        goto out;
    }
    if (set_str(rec, "external_id", id.p, id.len) < 0 ||
        json_object_set_new(rec, "channel", json_string("email")) < 0 ||
        json_object_set_new(rec, "direction", json_string(outbound ? "outbound" : "inbound")) < 0 ||
        json_object_set_new(rec, "occurred_at", json_string(when)) < 0 ||
        set_str(cust, "email", addr.p, addr.len) < 0 ||
        (name.len > 0 &&
         set_str(cust, "name", name.p, cut_chars(name.p, name.len, NAME_CHARS)) < 0) ||
        json_object_set(rec, "customer", cust) < 0) {
        goto nomem;
    }
    if (agent.len > 0 && cut_chars(agent.p, agent.len, AGENT_CHARS) == agent.len &&
        set_str(rec, "agent", agent.p, agent.len) < 0) {
        goto nomem;
    }
    if (json_object_set_new(rec, "status", json_string(outbound ? "sent" : "received")) < 0) {
        goto nomem;
    }
    if (subject != NULL && subject[0] != '\0' &&
        set_str(rec, "subject", subject, cut_chars(subject, strlen(subject), SUBJECT_CHARS)) < 0) {
        goto nomem;
    }
    size_t blen = cut_bytes(text.p != NULL ? text.p : "", text.len, MAIL_BODY_MAX);
    if (blen > 0 && set_str(rec, "body", text.p, blen) < 0) {
        goto nomem;
    }
    if (set_str(rec, "thread", thread.p, thread.len) < 0) {
        goto nomem;
    }
    if (opts->max_line > 0 && blen > 0 && fit_line(rec, text.p, blen, opts->max_line) < 0) {
        goto nomem;
    }
    *out = rec;
    rec = NULL;
    rc = 0;
    goto out;

nomem:
    errmsg_set(err, errlen, "out of memory");
    rc = MAIL_ENOMEM;
out:
    json_decref(rec);
    json_decref(cust);
    free(subject);
    buf_free(&id);
    buf_free(&thread);
    buf_free(&name);
    buf_free(&addr);
    buf_free(&aname);
    buf_free(&agent);
    buf_free(&text);
    return rc;
}
