#include "gen.h"

#include <errno.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * The mix, roughly what a call center with SMS, mail, chat and a web shop sees:
 *   channel   phone 30 %, sms 20 %, email 20 %, chat 15 %, web 15 %
 *   body      phone: call notes on 40 % (20–400 B); sms 20–320 B; email 100–2048 B, skewed
 *             short, in paragraphs; chat 5–500 B; web: none (a subject and attributes)
 *   language  Persian 45 %, Arabic 10 %, English 45 % of subjects and bodies
 *   customer  uniform over cfg->customers; each has one phone, email, chat handle and web id
 *             derived from its number; a record carries its channel's identifier, or phone +
 *             email with probability cfg->two_ids (the case that needs lookups and merges)
 *   spelling  phones as 09…, +98 9.., Persian or Arabic-Indic digits, 0098-…; some e-mail
 *             addresses upper-case: all normalize to the same identity
 */

/* 2026-11-20T00:00:00Z; records happened during the 90 days before. */
#define BASE_TIME 1795132800L
#define SPAN_S    (90L * 86400L)

/* ---------------------------------------------------------------------------------------- */
/* Random numbers: splitmix64, seeded per record so that record i never depends on others. */

struct rng {
    uint64_t s;
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t next64(struct rng *g)
{
    g->s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = g->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t below(struct rng *g, uint32_t n)
{
    return (uint32_t)(((next64(g) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1). */
static double unit(struct rng *g)
{
    return (double)(next64(g) >> 11) * 0x1.0p-53;
}

static uint32_t between(struct rng *g, uint32_t lo, uint32_t hi)
{
    return lo + below(g, hi - lo + 1);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return h;
}

static void make_uuid(uint64_t a, uint64_t b, uint8_t out[16])
{
    for (int k = 0; k < 8; k++) {
        out[k] = (uint8_t)(a >> (8 * k));
        out[8 + k] = (uint8_t)(b >> (8 * k));
    }
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40); /* version 4 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void gen_uuid_text(const uint8_t id[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int k = 0; k < 16; k++) {
        if (k == 4 || k == 6 || k == 8 || k == 10) {
            *p++ = '-';
        }
        *p++ = hex[id[k] >> 4];
        *p++ = hex[id[k] & 15];
    }
    *p = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Vocabulary */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const words_en[] = {
    "hello",    "thanks",  "order",  "delivery", "refund",  "please",   "warranty", "invoice",
    "the",      "my",      "your",   "customer", "package", "tracking", "number",   "price",
    "discount", "support", "issue",  "received", "payment", "address",  "change",   "when",
    "will",     "arrive",  "today",  "tomorrow", "still",   "not",      "and",      "is",
    "it",       "a",       "to",     "for",      "of",      "rice",     "cooker",   "fridge",
    "phone",    "wallet",  "return", "great",    "bad",     "agent",    "call",     "back",
};

static const char *const words_fa[] = {
    "سلام", "ممنون",  "سفارش", "ارسال",  "پرداخت", "مرجوعی", "گارانتی",  "پیگیری", "شماره", "تحویل",
    "کالا", "مشکل",   "قیمت",  "تخفیف",  "لطفا",   "خرید",   "پشتیبانی", "فاکتور", "آدرس",  "تغییر",
    "هنوز", "نرسیده", "است",   "را",     "به",     "از",     "با",       "در",     "برای",  "این",
    "من",   "شما",    "چند",   "روز",    "امروز",  "فردا",   "کد",       "رهگیری", "پلوپز", "یخچال",
    "گوشی", "کیف",    "پول",   "بازگشت", "خیلی",   "خوب",    "عالی",     "تماس",
};

static const char *const words_ar[] = {
    "مرحبا", "شكرا", "الطلب", "التوصيل", "المنتج", "الدفع", "العنوان", "متى",
    "يصل",   "من",   "فضلك",  "رقم",     "التتبع", "مشكلة", "السعر",   "خصم",
    "في",    "على",  "إلى",   "هذا",     "اليوم",  "غدا",   "الضمان",  "استرجاع",
};

static const char *const first_names[] = {
    "sara",   "reza", "maryam", "ali",  "zahra", "mohammad", "fatemeh", "hossein",
    "narges", "amir", "leila",  "omid", "nima",  "yasmin",   "karim",   "huda",
};

static const char *const display_names[] = {
    "سارا کریمی",  "رضا احمدی",  "مریم حسینی",     "علی رضایی", "زهرا محمدی", "محمد جعفری",
    "فاطمه موسوی", "حسین کاظمی", "Narges Tehrani", "Amir Rad",  "ليلى حسن",   "Omid N.",
};

static const char *const domains[] = {"example.com", "example.ir", "mail.example.org"};

static const char *const web_events[] = {"viewed product",    "added to cart", "checkout started",
                                         "newsletter signup", "searched",      "viewed category"};

static const char *const referrers[] = {"instagram", "google", "direct", "telegram", "email"};

static const char *const stages[] = {"pre_purchase", "purchase", "post_purchase"};
static const char *const sentiments[] = {"positive", "neutral", "negative"};

/* Tag sets as JSON and as PostgreSQL array literals, index for index. */
static const char *const tags_json[] = {"[\"vip\"]", "[\"complaint\",\"delivery\"]", "[\"lead\"]",
                                        "[\"refund\"]", "[\"campaign:yalda\",\"lead\"]"};
static const char *const tags_pg[] = {"{vip}", "{complaint,delivery}", "{lead}", "{refund}",
                                      "{campaign:yalda,lead}"};

/* ---------------------------------------------------------------------------------------- */
/* Pieces of a record */

enum lang { LANG_EN, LANG_FA, LANG_AR };

static enum lang pick_lang(struct rng *g)
{
    uint32_t p = below(g, 100);
    return p < 45 ? LANG_FA : p < 55 ? LANG_AR : LANG_EN;
}

/* Words of lang up to target bytes (at least one word when target > 0); paragraphs: break
 * into paragraphs with blank lines as mail does. Returns the length written to buf (< cap). */
static size_t fill_words(struct rng *g, enum lang lang, size_t target, bool paragraphs, char *buf,
                         size_t cap)
{
    const char *const *pool = lang == LANG_FA ? words_fa : lang == LANG_AR ? words_ar : words_en;
    size_t npool = lang == LANG_FA   ? N_OF(words_fa)
                   : lang == LANG_AR ? N_OF(words_ar)
                                     : N_OF(words_en);
    size_t len = 0;
    uint32_t until_break = between(g, 25, 60);
    if (target >= cap) {
        target = cap - 1;
    }
    while (len < target) {
        const char *w = pool[below(g, (uint32_t)npool)];
        size_t wl = strlen(w);
        const char *sep = "";
        if (len > 0) {
            sep = " ";
            if (paragraphs && --until_break == 0) {
                sep = "\n\n";
                until_break = between(g, 25, 60);
            }
        }
        size_t sl = strlen(sep);
        if (len + sl + wl > target && len > 0) {
            break;
        }
        if (len + sl + wl >= cap) {
            break;
        }
        memcpy(buf + len, sep, sl);
        memcpy(buf + len + sl, w, wl);
        len += sl + wl;
    }
    buf[len] = '\0';
    return len;
}

/* The customer's mobile number: "9" and 9 digits, a bijection of c for c < 10^9. */
static void phone_digits(long c, char out[11])
{
    unsigned long long d = ((unsigned long long)c * 7919ULL + 104729ULL) % 1000000000ULL;
    snprintf(out, 11, "9%09llu", d);
}

/* ASCII digits of s in another script: zero is the UTF-8 of U+06F0 (Persian) or U+0660. */
static void put_digits_in(const char *s, unsigned char lead, unsigned char zero, char *out,
                          size_t cap)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 < cap; s++) {
        if (*s >= '0' && *s <= '9') {
            out[n++] = (char)lead;
            out[n++] = (char)(zero + (*s - '0'));
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

static void ident_phone(struct rng *g, long c, struct gen_ident *id)
{
    char d[11];
    phone_digits(c, d);
    id->kind = "phone";
    snprintf(id->norm, sizeof(id->norm), "+98%s", d);
    uint32_t p = below(g, 100);
    if (p < 55) {
        snprintf(id->raw, sizeof(id->raw), "0%s", d);
    } else if (p < 70) {
        snprintf(id->raw, sizeof(id->raw), "+98 %.3s %.3s %.4s", d, d + 3, d + 6);
    } else if (p < 85) {
        char national[16];
        snprintf(national, sizeof(national), "0%.3s %.3s %.4s", d, d + 3, d + 6);
        put_digits_in(national, 0xDB, 0xB0, id->raw, sizeof(id->raw)); /* ۰۹۱۲ ۳۴۵ ۶۷۸۹ */
    } else if (p < 90) {
        char national[16];
        snprintf(national, sizeof(national), "0%s", d);
        put_digits_in(national, 0xD9, 0xA0, id->raw, sizeof(id->raw)); /* ٠٩١٢٣٤٥٦٧٨٩ */
    } else {
        snprintf(id->raw, sizeof(id->raw), "0098-%.3s-%.3s-%.4s", d, d + 3, d + 6);
    }
}

static void ident_email(struct rng *g, long c, struct gen_ident *id)
{
    id->kind = "email";
    snprintf(id->norm, sizeof(id->norm), "%s.%ld@%s", first_names[c % (long)N_OF(first_names)], c,
             domains[(c / 7) % (long)N_OF(domains)]);
    memcpy(id->raw, id->norm, sizeof(id->raw));
    if (below(g, 100) < 20) {
        for (char *p = id->raw; *p != '\0'; p++) {
            if (*p >= 'a' && *p <= 'z') {
                *p = (char)(*p - 'a' + 'A');
            }
        }
    }
}

static void ident_chat(long c, struct gen_ident *id)
{
    id->kind = "chat";
    snprintf(id->norm, sizeof(id->norm), "telegram:@%s_%ld",
             first_names[c % (long)N_OF(first_names)], c);
    memcpy(id->raw, id->norm, sizeof(id->raw));
}

static void ident_web(long c, struct gen_ident *id)
{
    id->kind = "web";
    snprintf(id->norm, sizeof(id->norm), "anon-%012llx",
             (unsigned long long)(mix64((uint64_t)c ^ 0x5eedULL) & 0xffffffffffffULL));
    memcpy(id->raw, id->norm, sizeof(id->raw));
}

/* when: the time to write, or NULL to draw one from the 90 days before BASE_TIME. */
static void format_time(struct rng *g, const int64_t *when, char *out, size_t cap)
{
    time_t t =
        when != NULL ? (time_t)*when : (time_t)(BASE_TIME - (long)below(g, (uint32_t)SPAN_S));
    struct tm tm;
    uint32_t p = below(g, 100);
    if (p < 70) {
        gmtime_r(&t, &tm);
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    } else if (p < 90) {
        /* Local time in Tehran, as an Asterisk box there writes it. */
        time_t local = t + 3 * 3600 + 1800;
        gmtime_r(&local, &tm);
        strftime(out, cap, "%Y-%m-%dT%H:%M:%S+03:30", &tm);
    } else {
        char sec[24];
        gmtime_r(&t, &tm);
        strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out, cap, "%s.%06uZ", sec, below(g, 1000000));
    }
}

/* ---------------------------------------------------------------------------------------- */

/* Record index for customer c from the record's random stream g (in gen_record, already
 * advanced past the customer's draw); when as in format_time. */
static void make_record(const struct gen_config *cfg, long index, struct rng g, long c,
                        const int64_t *when, struct gen_record *r)
{
    uint64_t run = hash_str(cfg->run);

    r->index = index;
    r->customer = c;

    uint32_t p = below(&g, 100);
    r->channel = p < 30 ? "phone" : p < 50 ? "sms" : p < 70 ? "email" : p < 85 ? "chat" : "web";
    bool phone = r->channel[0] == 'p', sms = r->channel[0] == 's', email = r->channel[0] == 'e';
    bool chat = r->channel[0] == 'c', web = r->channel[0] == 'w';

    if (phone) {
        r->source = (c & 1) ? "asterisk-shiraz-1" : "asterisk-tehran-1";
    } else {
        r->source = sms ? "twilio" : email ? "mail-gw" : chat ? "chatwoot" : "web-shop";
    }
    if (email) {
        snprintf(r->external_id, sizeof(r->external_id), "<%s.%ld@mail.example.ir>", cfg->run,
                 index);
    } else {
        snprintf(r->external_id, sizeof(r->external_id), "%s-%ld", cfg->run, index);
    }
    format_time(&g, when, r->occurred_at, sizeof(r->occurred_at));

    /* Who. */
    if (unit(&g) < cfg->two_ids) {
        r->n_ids = 2;
        ident_phone(&g, c, &r->ids[0]);
        ident_email(&g, c, &r->ids[1]);
    } else {
        r->n_ids = 1;
        if (phone || sms) {
            ident_phone(&g, c, &r->ids[0]);
        } else if (email) {
            ident_email(&g, c, &r->ids[0]);
        } else if (chat) {
            ident_chat(c, &r->ids[0]);
        } else {
            ident_web(c, &r->ids[0]);
        }
    }
    r->name = below(&g, 100) < 8 ? display_names[c % (long)N_OF(display_names)] : NULL;

    /* What happened. */
    bool inbound = web || below(&g, 100) < (phone ? 65u : 60u);
    r->direction = inbound ? "inbound" : "outbound";
    r->status = NULL;
    r->duration_s = -1;
    if (phone) {
        p = below(&g, 100);
        r->status = p < 70   ? "answered"
                    : p < 85 ? "missed"
                    : p < 90 ? "busy"
                    : p < 97 ? "voicemail"
                             : "failed";
        r->duration_s = r->status[0] == 'a' ? (int)between(&g, 10, 900) : 0;
    } else if (!web) {
        if (inbound) {
            r->status = "received";
        } else {
            p = below(&g, 100);
            r->status = p < 40 ? "sent" : p < 80 ? "delivered" : p < 95 ? "read" : "failed";
        }
        if (chat && below(&g, 100) < 30) {
            r->duration_s = (int)between(&g, 60, 1260);
        }
    }
    r->agent[0] = '\0';
    if (!inbound || (phone && r->status[0] == 'a')) {
        snprintf(r->agent, sizeof(r->agent), "agent-%02u", below(&g, 40));
    }

    enum lang lang = pick_lang(&g);
    r->subject[0] = '\0';
    if (email) {
        fill_words(&g, lang, between(&g, 20, 100), false, r->subject, sizeof(r->subject));
    } else if (web) {
        snprintf(r->subject, sizeof(r->subject), "%s", web_events[below(&g, N_OF(web_events))]);
    }

    size_t target = 0;
    if (phone) {
        target = below(&g, 100) < 40 ? between(&g, 20, 400) : 0;
    } else if (sms) {
        target = between(&g, 20, 320);
    } else if (email) {
        double u = unit(&g);
        target = 100 + (size_t)(u * u * (GEN_BODY_MAX - 100)); /* most mails are short */
    } else if (chat) {
        target = between(&g, 5, 500);
    }
    r->body_len = target > 0 ? fill_words(&g, lang, target, email, r->body, sizeof(r->body)) : 0;
    r->body[r->body_len] = '\0';

    r->thread[0] = '\0';
    if (email) {
        snprintf(r->thread, sizeof(r->thread), "mail-thread-%ld-%u", c, below(&g, 4));
    } else if (chat) {
        snprintf(r->thread, sizeof(r->thread), "conv-%ld-%u", c, below(&g, 3));
    }
    r->stage = below(&g, 100) < 50 ? stages[below(&g, N_OF(stages))] : NULL;
    r->sentiment = below(&g, 100) < 20 ? sentiments[below(&g, N_OF(sentiments))] : NULL;
    r->score = below(&g, 100) < 5 ? (int)below(&g, 11) : -1;
    r->tags = below(&g, 100) < 15 ? (int)below(&g, N_OF(tags_json)) : -1;

    r->attributes[0] = '\0';
    if (web) {
        snprintf(r->attributes, sizeof(r->attributes),
                 "{\"page\":\"/products/p%u\",\"referrer\":\"%s\"}", below(&g, 5000),
                 referrers[below(&g, N_OF(referrers))]);
    } else if (phone && below(&g, 100) < 30) {
        snprintf(r->attributes, sizeof(r->attributes),
                 "{\"queue\":\"%s\",\"trunk\":\"tci\",\"wait_s\":%u}",
                 below(&g, 2) ? "sales" : "support", below(&g, 300));
    }

    make_uuid(next64(&g), mix64(run ^ (uint64_t)index), r->id);
    make_uuid(mix64((uint64_t)c ^ 0xc0ffeeULL), mix64((uint64_t)c + 17), r->customer_id);
}

static struct rng record_rng(const struct gen_config *cfg, long index)
{
    return (struct rng){mix64(cfg->seed ^ mix64(hash_str(cfg->run) + (uint64_t)index))};
}

void gen_record(const struct gen_config *cfg, long index, struct gen_record *r)
{
    struct rng g = record_rng(cfg, index);
    long c = (long)(unit(&g) * (double)cfg->customers);
    if (c >= cfg->customers) {
        c = cfg->customers - 1;
    }
    make_record(cfg, index, g, c, NULL, r);
}

void gen_record_at(const struct gen_config *cfg, long index, long customer, int64_t when,
                   struct gen_record *r)
{
    make_record(cfg, index, record_rng(cfg, index), customer, &when, r);
}

void gen_customer_identities(long c, struct gen_ident ids[GEN_CUSTOMER_IDS])
{
    /* Only the raw spellings use the stream; the normalized values depend on c alone. */
    struct rng g = {mix64((uint64_t)c)};
    ident_phone(&g, c, &ids[0]);
    ident_email(&g, c, &ids[1]);
    ident_chat(c, &ids[2]);
    ident_web(c, &ids[3]);
}

uint64_t gen_hash64(uint64_t x)
{
    return mix64(x);
}

const char *gen_customer_name(long c)
{
    return display_names[c % (long)N_OF(display_names)];
}

/* ---------------------------------------------------------------------------------------- */
/* Output */

struct out {
    char *p;
    char *end;
    bool full;
};

static void put_mem(struct out *o, const char *s, size_t n)
{
    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void put_s(struct out *o, const char *s)
{
    put_mem(o, s, strlen(s));
}

static void put_c(struct out *o, char ch)
{
    put_mem(o, &ch, 1);
}

static void put_long(struct out *o, long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%ld", v);
    put_mem(o, tmp, (size_t)n);
}

/* A JSON string; the generator's text has no control characters but newlines, yet all are
 * escaped so that the output stays valid whatever the vocabulary. */
static void put_json_str(struct out *o, const char *s, size_t n)
{
    put_c(o, '"');
    size_t run = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)s[k];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            continue;
        }
        put_mem(o, s + run, k - run);
        run = k + 1;
        char esc[8];
        switch (ch) {
        case '"':
            put_s(o, "\\\"");
            break;
        case '\\':
            put_s(o, "\\\\");
            break;
        case '\n':
            put_s(o, "\\n");
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put_s(o, esc);
            break;
        }
    }
    put_mem(o, s + run, n - run);
    put_c(o, '"');
}

static void put_field(struct out *o, const char *key, const char *val)
{
    put_s(o, ",\"");
    put_s(o, key);
    put_s(o, "\":");
    put_json_str(o, val, strlen(val));
}

static void put_field_long(struct out *o, const char *key, long v)
{
    put_s(o, ",\"");
    put_s(o, key);
    put_s(o, "\":");
    put_long(o, v);
}

static void put_field_raw(struct out *o, const char *key, const char *json)
{
    put_s(o, ",\"");
    put_s(o, key);
    put_s(o, "\":");
    put_s(o, json);
}

size_t gen_json(const struct gen_record *r, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap, false};
    put_s(&o, "{\"source\":");
    put_json_str(&o, r->source, strlen(r->source));
    put_field(&o, "external_id", r->external_id);
    put_field(&o, "channel", r->channel);
    put_field(&o, "direction", r->direction);
    put_field(&o, "occurred_at", r->occurred_at);
    put_s(&o, ",\"customer\":{");
    for (int k = 0; k < r->n_ids; k++) {
        put_s(&o, k > 0 ? ",\"" : "\"");
        put_s(&o, r->ids[k].kind);
        put_s(&o, "\":");
        put_json_str(&o, r->ids[k].raw, strlen(r->ids[k].raw));
    }
    if (r->name != NULL) {
        put_field(&o, "name", r->name);
    }
    put_c(&o, '}');
    if (r->agent[0] != '\0') {
        put_field(&o, "agent", r->agent);
    }
    if (r->status != NULL) {
        put_field(&o, "status", r->status);
    }
    if (r->duration_s >= 0) {
        put_field_long(&o, "duration_s", r->duration_s);
    }
    if (r->subject[0] != '\0') {
        put_field(&o, "subject", r->subject);
    }
    if (r->body_len > 0) {
        put_s(&o, ",\"body\":");
        put_json_str(&o, r->body, r->body_len);
    }
    if (r->thread[0] != '\0') {
        put_field(&o, "thread", r->thread);
    }
    if (r->stage != NULL) {
        put_field(&o, "stage", r->stage);
    }
    if (r->sentiment != NULL) {
        put_field(&o, "sentiment", r->sentiment);
    }
    if (r->score >= 0) {
        put_field_long(&o, "score", r->score);
    }
    if (r->tags >= 0) {
        put_field_raw(&o, "tags", tags_json[r->tags]);
    }
    if (r->attributes[0] != '\0') {
        put_field_raw(&o, "attributes", r->attributes);
    }
    put_s(&o, "}\n");
    return o.full ? 0 : (size_t)(o.p - buf);
}

/* ---------------------------------------------------------------------------------------- */
/* The baseline's rows */

const char gen_columns[] = "id, source, external_id, customer_id, channel, direction, "
                           "occurred_at, agent, status, duration_s, subject, body, thread, "
                           "stage, sentiment, score, tags, attributes, identifiers";

/* The identifiers column as the daemon fills it: [{"k":kind,"v":normalized,"m":true}, …]. */
static void put_identifiers(struct out *o, const struct gen_record *r)
{
    put_c(o, '[');
    for (int k = 0; k < r->n_ids; k++) {
        put_s(o, k > 0 ? ",{\"k\":\"" : "{\"k\":\"");
        put_s(o, r->ids[k].kind);
        put_s(o, "\",\"v\":");
        put_json_str(o, r->ids[k].norm, strlen(r->ids[k].norm));
        put_s(o, ",\"m\":true}");
    }
    put_c(o, ']');
}

/* A COPY text value: backslash, tab, newline and carriage return are escaped. */
static void put_copy(struct out *o, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t k = 0; k < n; k++) {
        char ch = s[k];
        if (ch != '\\' && ch != '\t' && ch != '\n' && ch != '\r') {
            continue;
        }
        put_mem(o, s + run, k - run);
        run = k + 1;
        put_s(o, ch == '\\' ? "\\\\" : ch == '\t' ? "\\t" : ch == '\n' ? "\\n" : "\\r");
    }
    put_mem(o, s + run, n - run);
}

static void put_copy_col(struct out *o, const char *s, bool first)
{
    if (!first) {
        put_c(o, '\t');
    }
    if (s == NULL) {
        put_s(o, "\\N");
    } else {
        put_copy(o, s, strlen(s));
    }
}

size_t gen_copy_row(const struct gen_record *r, char *buf, size_t cap)
{
    char scratch[GEN_LINE_MAX];
    const char *v[GEN_NCOLUMNS];
    gen_params(r, scratch, v);
    struct out o = {buf, buf + cap, false};
    for (int k = 0; k < GEN_NCOLUMNS; k++) {
        put_copy_col(&o, v[k], k == 0);
    }
    put_c(&o, '\n');
    return o.full ? 0 : (size_t)(o.p - buf);
}

void gen_params(const struct gen_record *r, char *scratch, const char *values[GEN_NCOLUMNS])
{
    /* scratch: id (37), customer_id (37), duration (16), score (16), identifiers (rest). */
    char *id = scratch, *cust = scratch + 40, *dur = scratch + 80, *score = scratch + 100;
    char *ids = scratch + 120;
    gen_uuid_text(r->id, id);
    gen_uuid_text(r->customer_id, cust);
    snprintf(dur, 16, "%d", r->duration_s);
    snprintf(score, 16, "%d", r->score);
    struct out o = {ids, scratch + GEN_LINE_MAX - 1, false};
    put_identifiers(&o, r);
    *o.p = '\0';

    int k = 0;
    values[k++] = id;
    values[k++] = r->source;
    values[k++] = r->external_id;
    values[k++] = cust;
    values[k++] = r->channel;
    values[k++] = r->direction;
    values[k++] = r->occurred_at;
    values[k++] = r->agent[0] != '\0' ? r->agent : NULL;
    values[k++] = r->status;
    values[k++] = r->duration_s >= 0 ? dur : NULL;
    values[k++] = r->subject[0] != '\0' ? r->subject : NULL;
    values[k++] = r->body_len > 0 ? r->body : NULL;
    values[k++] = r->thread[0] != '\0' ? r->thread : NULL;
    values[k++] = r->stage;
    values[k++] = r->sentiment;
    values[k++] = r->score >= 0 ? score : NULL;
    values[k++] = r->tags >= 0 ? tags_pg[r->tags] : NULL;
    values[k++] = r->attributes[0] != '\0' ? r->attributes : NULL;
    values[k++] = ids;
}

int gen_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

int gen_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        return -1;
    }
    *out = v;
    return 0;
}
