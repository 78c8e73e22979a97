#include "adapt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errmsg.h"
#include "jsonw.h"
#include "record.h"

/* A member's text when it is a non-empty string, else NULL. */
static const char *str(const struct jsondoc *doc, const struct jsondoc_value *obj, const char *key)
{
    const struct jsondoc_value *v = obj != NULL ? jsondoc_get(doc, obj, key) : NULL;
    return v != NULL && v->type == JSONDOC_STRING && v->len > 0 ? v->text : NULL;
}

/* A member that is an object, else NULL. */
static const struct jsondoc_value *obj(const struct jsondoc *doc, const struct jsondoc_value *o,
                                       const char *key)
{
    const struct jsondoc_value *v = o != NULL ? jsondoc_get(doc, o, key) : NULL;
    return v != NULL && v->type == JSONDOC_OBJECT ? v : NULL;
}

/* A member's text when it is a string or a number (ids are sent as either). */
static const char *scalar(const struct jsondoc *doc, const struct jsondoc_value *o, const char *key)
{
    const struct jsondoc_value *v = o != NULL ? jsondoc_get(doc, o, key) : NULL;
    if (v == NULL || v->len == 0) {
        return NULL;
    }
    return v->type == JSONDOC_STRING || v->type == JSONDOC_INTEGER || v->type == JSONDOC_REAL
               ? v->text
               : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* A record being built: its fields, then written once with the JSON writer. */

#define MAX_VALUES 8

struct ident_list {
    const char *kind;
    size_t n;
    char values[MAX_VALUES][300];
};

struct recb {
    const char *source, *external_id, *channel, *direction, *status;
    const char *subject, *body, *thread, *agent, *name;
    int64_t occurred_us;
    struct ident_list idents[IDENT_KIND_COUNT];
    struct jsonw traits; /* an object's members, begun on first use */
    bool has_traits;
    struct jsonw attrs;
    bool has_attrs;
    const char *tag;
};

static void recb_init(struct recb *rb)
{
    memset(rb, 0, sizeof(*rb));
    static const char *const kinds[IDENT_KIND_COUNT] = {"phone", "email", "chat", "web",
                                                        "external"};
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        rb->idents[k].kind = kinds[k];
    }
    jsonw_init(&rb->traits);
    jsonw_init(&rb->attrs);
}

static void recb_free(struct recb *rb)
{
    jsonw_free(&rb->traits);
    jsonw_free(&rb->attrs);
}

/* Adds an identifier, leaving out repeats and empty values. */
static void add_ident(struct recb *rb, enum ident_kind kind, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        return;
    }
    struct ident_list *l = &rb->idents[kind];
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->values[i], value) == 0) {
            return;
        }
    }
    if (l->n < MAX_VALUES) {
        snprintf(l->values[l->n++], sizeof(l->values[0]), "%s", value);
    }
}

/* The writer of the attributes (or traits) object, begun on first use. */
static struct jsonw *attrs(struct recb *rb)
{
    if (!rb->has_attrs) {
        jsonw_object_begin(&rb->attrs);
        rb->has_attrs = true;
    }
    return &rb->attrs;
}

static struct jsonw *traits(struct recb *rb)
{
    if (!rb->has_traits) {
        jsonw_object_begin(&rb->traits);
        rb->has_traits = true;
    }
    return &rb->traits;
}

static void attr_string(struct recb *rb, const char *key, const char *value)
{
    if (value != NULL && value[0] != '\0') {
        jsonw_key(attrs(rb), key);
        jsonw_string(&rb->attrs, value);
    }
}

/* Writes v of doc into w as it was sent. */
static void write_value(struct jsonw *w, const struct jsondoc *doc, const struct jsondoc_value *v)
{
    size_t len = 0;
    char *text = jsondoc_dump(doc, v, NULL, NULL, &len);
    if (text == NULL) {
        jsonw_null(w);
        return;
    }
    jsonw_json(w, text, len);
    free(text);
}

/* Ends a sub-writer's object and writes it into w as member key, when it was begun. */
static void put_object(struct jsonw *w, const char *key, struct jsonw *sub, bool begun)
{
    if (!begun) {
        return;
    }
    jsonw_object_end(sub);
    size_t len = 0;
    char *text = jsonw_take(sub, &len);
    if (text == NULL) {
        jsonw_key(w, key);
        jsonw_null(w); /* refused by record_parse, which says which field */
        return;
    }
    jsonw_key(w, key);
    jsonw_json(w, text, len);
    free(text);
}

static void key_string(struct jsonw *w, const char *key, const char *value)
{
    if (value != NULL) {
        jsonw_key(w, key);
        jsonw_string(w, value);
    }
}

/* The record as JSON text (malloc'd), or NULL when out of memory (err says so). Frees rb. */
static char *recb_take(struct recb *rb, char *err, size_t errlen)
{
    struct jsonw w;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    key_string(&w, "source", rb->source);
    key_string(&w, "external_id", rb->external_id);
    key_string(&w, "channel", rb->channel);
    key_string(&w, "direction", rb->direction);
    char ts[RECORD_TS_LEN + 1];
    record_format_time(rb->occurred_us, ts);
    key_string(&w, "occurred_at", ts);
    jsonw_key(&w, "customer");
    jsonw_object_begin(&w);
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        const struct ident_list *l = &rb->idents[k];
        if (l->n == 0) {
            continue;
        }
        jsonw_key(&w, l->kind);
        if (l->n == 1) {
            jsonw_string(&w, l->values[0]);
            continue;
        }
        jsonw_array_begin(&w);
        for (size_t i = 0; i < l->n; i++) {
            jsonw_string(&w, l->values[i]);
        }
        jsonw_array_end(&w);
    }
    key_string(&w, "name", rb->name);
    put_object(&w, "traits", &rb->traits, rb->has_traits);
    jsonw_object_end(&w);
    key_string(&w, "agent", rb->agent);
    key_string(&w, "status", rb->status);
    key_string(&w, "subject", rb->subject);
    key_string(&w, "body", rb->body);
    key_string(&w, "thread", rb->thread);
    if (rb->tag != NULL) {
        jsonw_key(&w, "tags");
        jsonw_array_begin(&w);
        jsonw_string(&w, rb->tag);
        jsonw_array_end(&w);
    }
    put_object(&w, "attributes", &rb->attrs, rb->has_attrs);
    jsonw_object_end(&w);
    recb_free(rb);
    char *text = jsonw_take(&w, NULL);
    if (text == NULL) {
        errmsg_set(err, errlen, "out of memory");
    }
    return text;
}

/* ---------------------------------------------------------------------------------------- */
/* Segment */

static const char *const segment_types[] = {"track", "identify", "page", "screen",
                                            "group", "alias",    NULL};

/* A message's traits, context.traits first, so that the message's own win. */
#define MAX_TRAITS 64
struct trait_set {
    size_t n;
    const struct jsondoc_value *v[MAX_TRAITS];
};

/* Takes email, phone and name from traits as identifiers and name; the rest into set, a key
 * seen again replacing the earlier value. */
static void segment_traits(struct recb *rb, const struct jsondoc *doc,
                           const struct jsondoc_value *traits, struct trait_set *set)
{
    if (traits == NULL) {
        return;
    }
    for (const struct jsondoc_value *t = jsondoc_child(doc, traits); t != NULL;
         t = jsondoc_next(doc, t)) {
        bool text = t->type == JSONDOC_STRING && t->len > 0;
        if (strcmp(t->key, "email") == 0 && text) {
            add_ident(rb, IDENT_EMAIL, t->text);
        } else if (strcmp(t->key, "phone") == 0 && text) {
            add_ident(rb, IDENT_PHONE, t->text);
        } else if (strcmp(t->key, "name") == 0 && text) {
            rb->name = t->text;
        } else {
            size_t i = 0;
            while (i < set->n && strcmp(set->v[i]->key, t->key) != 0) {
                i++;
            }
            if (i < MAX_TRAITS) {
                set->v[i] = t;
                set->n += i == set->n;
            }
        }
    }
}

/* When it happened: timestamp, else originalTimestamp moved by the client's clock error
 * (the time it was received minus sentAt), else the time it was received. */
static int segment_time(const struct jsondoc *doc, const struct jsondoc_value *msg, int64_t now_us,
                        int64_t *out, char *err, size_t errlen)
{
    const char *ts = str(doc, msg, "timestamp");
    int64_t us;
    if (ts != NULL) {
        if (record_parse_time(ts, &us) < 0) {
            char q[96];
            errmsg_set(err, errlen, "timestamp: %s is not an ISO 8601 timestamp",
                       errmsg_quote(ts, q, sizeof(q)));
            return -1;
        }
        *out = us;
        return 0;
    }
    const char *orig = str(doc, msg, "originalTimestamp");
    const char *sent = str(doc, msg, "sentAt");
    int64_t sent_us;
    if (orig != NULL && record_parse_time(orig, &us) == 0) {
        if (sent != NULL && record_parse_time(sent, &sent_us) == 0) {
            us += now_us - sent_us;
        }
        *out = us;
        return 0;
    }
    *out = now_us;
    return 0;
}

char *adapt_segment(const struct jsondoc *doc, const struct jsondoc_value *msg, const char *type,
                    const struct adapt_segment_opts *opts, int64_t now_us, char *err, size_t errlen)
{
    if (msg->type != JSONDOC_OBJECT) {
        errmsg_set(err, errlen, "a message must be a JSON object");
        return NULL;
    }
    if (type == NULL) {
        type = str(doc, msg, "type");
        bool known = false;
        for (int i = 0; type != NULL && segment_types[i] != NULL; i++) {
            known |= strcmp(type, segment_types[i]) == 0;
        }
        if (!known) {
            errmsg_set(err, errlen, "type: must be track, identify, page, screen, group or alias");
            return NULL;
        }
    }
    const char *user_id = scalar(doc, msg, "userId");
    const char *anon_id = scalar(doc, msg, "anonymousId");
    const char *previous_id = scalar(doc, msg, "previousId");
    bool group = strcmp(type, "group") == 0, alias = strcmp(type, "alias") == 0;
    if (user_id == NULL && anon_id == NULL) {
        errmsg_set(err, errlen, "userId or anonymousId is required");
        return NULL;
    }
    if (alias && (previous_id == NULL || user_id == NULL)) {
        errmsg_set(err, errlen, "alias: previousId and userId are required");
        return NULL;
    }
    if (strcmp(type, "track") == 0 && str(doc, msg, "event") == NULL) {
        errmsg_set(err, errlen, "event: a track call needs the event's name");
        return NULL;
    }
    struct recb rb;
    recb_init(&rb);
    if (segment_time(doc, msg, now_us, &rb.occurred_us, err, errlen) < 0) {
        recb_free(&rb);
        return NULL;
    }
    rb.source = opts->source;
    rb.external_id = scalar(doc, msg, "messageId");
    rb.channel = "web";
    rb.direction = "inbound";
    add_ident(&rb, IDENT_WEB, anon_id);
    if (opts->user_id_system != NULL && opts->user_id_system[0] != '\0') {
        char ext[300];
        snprintf(ext, sizeof(ext), "%s:%s", opts->user_id_system, user_id != NULL ? user_id : "");
        add_ident(&rb, IDENT_EXTERNAL, user_id != NULL ? ext : NULL);
    } else {
        add_ident(&rb, IDENT_WEB, user_id);
    }
    /* alias: the earlier id (anonymous, or a user id before login) is one with userId. */
    add_ident(&rb, IDENT_WEB, alias ? previous_id : NULL);
    struct trait_set set = {0};
    const struct jsondoc_value *context = obj(doc, msg, "context");
    segment_traits(&rb, doc, obj(doc, context, "traits"), &set);
    /* A group's traits describe the group (a company), not the person. */
    if (!group) {
        segment_traits(&rb, doc, obj(doc, msg, "traits"), &set);
    }
    for (size_t i = 0; i < set.n; i++) {
        jsonw_key(traits(&rb), set.v[i]->key);
        write_value(&rb.traits, doc, set.v[i]);
    }
    const char *subject = NULL;
    if (strcmp(type, "track") == 0) {
        subject = str(doc, msg, "event");
    } else if (strcmp(type, "page") == 0 || strcmp(type, "screen") == 0) {
        subject = str(doc, msg, "name");
        if (subject == NULL) {
            subject = str(doc, obj(doc, msg, "properties"), "title");
        }
    }
    rb.subject = subject != NULL ? subject : type;
    const struct jsondoc_value *props = obj(doc, msg, "properties");
    for (const struct jsondoc_value *v = props != NULL ? jsondoc_child(doc, props) : NULL;
         v != NULL; v = jsondoc_next(doc, v)) {
        if (group && (strcmp(v->key, "group_id") == 0 || strcmp(v->key, "group_traits") == 0)) {
            continue;
        }
        jsonw_key(attrs(&rb), v->key);
        write_value(&rb.attrs, doc, v);
    }
    if (group) {
        attr_string(&rb, "group_id", scalar(doc, msg, "groupId"));
        const struct jsondoc_value *gt = obj(doc, msg, "traits");
        if (gt != NULL) {
            jsonw_key(attrs(&rb), "group_traits");
            write_value(&rb.attrs, doc, gt);
        }
    }
    char tag[32];
    snprintf(tag, sizeof(tag), "segment:%s", type);
    rb.tag = tag;
    return recb_take(&rb, err, errlen);
}

/* ---------------------------------------------------------------------------------------- */
/* Twilio */

const char *adapt_param(const struct http_param *p, int n, const char *key)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].key, key) == 0) {
            return p[i].value;
        }
    }
    return NULL;
}

const char *adapt_twilio_status(const char *s)
{
    static const char *const map[][2] = {
        {"accepted", "sent"},   {"scheduled", "sent"},     {"queued", "sent"},
        {"sending", "sent"},    {"sent", "sent"},          {"delivered", "delivered"},
        {"read", "read"},       {"undelivered", "failed"}, {"failed", "failed"},
        {"canceled", "failed"}, {"receiving", "received"}, {"received", "received"},
    };
    for (size_t i = 0; s != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(s, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return NULL;
}

/* The customer of a Twilio address: "whatsapp:+98…" is a WhatsApp chat handle (and the
 * phone number it is), anything else a phone number. Returns the channel. */
static const char *twilio_customer(struct recb *rb, const char *addr)
{
    if (strncasecmp(addr, "whatsapp:", 9) == 0) {
        add_ident(rb, IDENT_CHAT, addr);
        add_ident(rb, IDENT_PHONE, addr + 9);
        return "chat";
    }
    add_ident(rb, IDENT_PHONE, addr);
    return "sms";
}

char *adapt_twilio(const struct http_param *p, int n, bool status, const char *source,
                   int64_t now_us, char *err, size_t errlen)
{
    const char *sid = adapt_param(p, n, "MessageSid");
    if (sid == NULL) {
        sid = adapt_param(p, n, "SmsSid");
    }
    const char *from = adapt_param(p, n, "From");
    const char *to = adapt_param(p, n, "To");
    const char *who = status ? to : from;
    if (sid == NULL || sid[0] == '\0') {
        errmsg_set(err, errlen, "MessageSid: missing");
        return NULL;
    }
    if (who == NULL || who[0] == '\0') {
        errmsg_set(err, errlen, status ? "To: missing" : "From: missing");
        return NULL;
    }
    const char *tw_status = adapt_param(p, n, status ? "MessageStatus" : "SmsStatus");
    if (status && tw_status == NULL) {
        tw_status = adapt_param(p, n, "SmsStatus");
    }
    const char *st = status ? adapt_twilio_status(tw_status) : "received";
    if (st == NULL) {
        char q[64];
        errmsg_set(err, errlen, "MessageStatus: %s is not a status Twilio documents",
                   errmsg_quote(tw_status != NULL ? tw_status : "", q, sizeof(q)));
        return NULL;
    }
    struct recb rb;
    recb_init(&rb);
    rb.source = source;
    rb.external_id = sid;
    rb.channel = twilio_customer(&rb, who);
    rb.direction = status ? "outbound" : "inbound";
    rb.occurred_us = now_us;
    rb.status = st;
    rb.body = status ? NULL : adapt_param(p, n, "Body");
    attr_string(&rb, status ? "from" : "to", status ? from : to);
    static const char *const keep[][2] = {
        {"AccountSid", "account_sid"}, {"MessagingServiceSid", "messaging_service_sid"},
        {"ErrorCode", "error_code"},   {"ErrorMessage", "error_message"},
        {"FromCity", "from_city"},     {"FromCountry", "from_country"},
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        attr_string(&rb, keep[i][1], adapt_param(p, n, keep[i][0]));
    }
    attr_string(&rb, "twilio_status", status ? tw_status : NULL);
    const char *num = adapt_param(p, n, "NumMedia");
    long nmedia = num != NULL ? strtol(num, NULL, 10) : 0;
    if (nmedia > 0) {
        jsonw_key(attrs(&rb), "media");
        jsonw_array_begin(&rb.attrs);
        for (long i = 0; i < nmedia && i < 10; i++) {
            char k[32];
            snprintf(k, sizeof(k), "MediaUrl%ld", i);
            const char *url = adapt_param(p, n, k);
            snprintf(k, sizeof(k), "MediaContentType%ld", i);
            const char *type = adapt_param(p, n, k);
            if (url != NULL) {
                jsonw_object_begin(&rb.attrs);
                key_string(&rb.attrs, "url", url);
                key_string(&rb.attrs, "content_type", type);
                jsonw_object_end(&rb.attrs);
            }
        }
        jsonw_array_end(&rb.attrs);
    }
    return recb_take(&rb, err, errlen);
}

/* ---------------------------------------------------------------------------------------- */
/* Chatwoot */

/* Chatwoot inbox channel types, and what their contacts are to touchline. A NULL provider
 * means the channel of the record is not chat but the one named. */
static const char *const chatwoot_channels[][3] = {
    {"Channel::WebWidget", "chat", "chatwoot"},
    {"Channel::Whatsapp", "chat", "whatsapp"},
    {"Channel::Telegram", "chat", "telegram"},
    {"Channel::FacebookPage", "chat", "facebook"},
    {"Channel::Instagram", "chat", "instagram"},
    {"Channel::Line", "chat", "line"},
    {"Channel::Api", "chat", "api"},
    {"Channel::TwitterProfile", "social", NULL},
    {"Channel::Sms", "sms", NULL},
    {"Channel::TwilioSms", "sms", NULL},
    {"Channel::Email", "email", NULL},
};

/* Chatwoot sends created_at as Unix seconds in some payloads and ISO 8601 in others. */
static int64_t chatwoot_time(const struct jsondoc *doc, const struct jsondoc_value *o,
                             int64_t now_us)
{
    const struct jsondoc_value *v = jsondoc_get(doc, o, "created_at");
    int64_t us;
    if (v != NULL && v->type == JSONDOC_INTEGER && v->integer > 0 && v->integer < 253402300799LL) {
        return (int64_t)v->integer * 1000000;
    }
    if (v != NULL && v->type == JSONDOC_STRING && record_parse_time(v->text, &us) == 0) {
        return us;
    }
    return now_us;
}

char *adapt_chatwoot(const struct jsondoc *doc, const char *source, int64_t now_us, bool *ignored,
                     char *err, size_t errlen)
{
    const struct jsondoc_value *root = jsondoc_root(doc);
    *ignored = false;
    if (root->type != JSONDOC_OBJECT) {
        errmsg_set(err, errlen, "a webhook body must be a JSON object");
        return NULL;
    }
    const char *event = str(doc, root, "event");
    if (event == NULL) {
        errmsg_set(err, errlen, "event: missing");
        return NULL;
    }
    if (strcmp(event, "message_created") != 0) {
        *ignored = true;
        char q[64];
        errmsg_set(err, errlen, "event %s is not recorded", errmsg_quote(event, q, sizeof(q)));
        return NULL;
    }
    const char *id = scalar(doc, root, "id");
    if (id == NULL) {
        errmsg_set(err, errlen, "id: the message id is missing");
        return NULL;
    }
    const struct jsondoc_value *conv = obj(doc, root, "conversation");
    const struct jsondoc_value *meta = obj(doc, conv, "meta");
    const struct jsondoc_value *sender = obj(doc, root, "sender");
    const char *mtype = str(doc, root, "message_type");
    if (mtype == NULL) {
        errmsg_set(err, errlen, "message_type: missing");
        return NULL;
    }
    bool incoming = strcmp(mtype, "incoming") == 0;
    if (!incoming && strcmp(mtype, "outgoing") != 0 && strcmp(mtype, "template") != 0) {
        *ignored = true; /* activity messages: "assigned to …", "resolved" */
        char q[64];
        errmsg_set(err, errlen, "message_type %s is not recorded",
                   errmsg_quote(mtype, q, sizeof(q)));
        return NULL;
    }
    /* The contact: the sender of an incoming message, else the conversation's. */
    const struct jsondoc_value *contact = incoming ? sender : obj(doc, meta, "sender");
    if (contact == NULL) {
        contact = obj(doc, root, "contact");
    }
    if (contact == NULL) {
        errmsg_set(err, errlen, "conversation.meta.sender: no contact in the webhook");
        return NULL;
    }
    const char *ctype = str(doc, conv, "channel");
    if (ctype == NULL) {
        ctype = str(doc, obj(doc, root, "inbox"), "channel_type");
    }
    const char *channel = "chat", *provider = "chatwoot";
    for (size_t i = 0;
         ctype != NULL && i < sizeof(chatwoot_channels) / sizeof(chatwoot_channels[0]); i++) {
        if (strcmp(ctype, chatwoot_channels[i][0]) == 0) {
            channel = chatwoot_channels[i][1];
            provider = chatwoot_channels[i][2];
        }
    }
    struct recb rb;
    recb_init(&rb);
    rb.source = source;
    rb.external_id = id;
    rb.channel = channel;
    const struct jsondoc_value *priv = jsondoc_get(doc, root, "private");
    bool internal = priv != NULL && priv->type == JSONDOC_TRUE;
    rb.direction = internal ? "internal" : incoming ? "inbound" : "outbound";
    rb.occurred_us = chatwoot_time(doc, root, now_us);
    add_ident(&rb, IDENT_PHONE, str(doc, contact, "phone_number"));
    add_ident(&rb, IDENT_EMAIL, str(doc, contact, "email"));
    char ext[300];
    const char *ident = scalar(doc, contact, "identifier");
    if (ident != NULL) {
        snprintf(ext, sizeof(ext), "chatwoot:%s", ident);
        add_ident(&rb, IDENT_EXTERNAL, ext);
    }
    if (provider != NULL) {
        /* The contact's id in the inbox's channel: a WhatsApp number, a Telegram user id, the
         * web widget's visitor token; else Chatwoot's own contact id. */
        const char *handle = str(doc, obj(doc, conv, "contact_inbox"), "source_id");
        const char *cid = scalar(doc, contact, "id");
        char chat[300];
        if (handle != NULL) {
            snprintf(chat, sizeof(chat), "%s:%s", provider, handle);
            add_ident(&rb, IDENT_CHAT, chat);
        } else if (cid != NULL) {
            snprintf(chat, sizeof(chat), "chatwoot:contact-%s", cid);
            add_ident(&rb, IDENT_CHAT, chat);
        }
    }
    rb.name = str(doc, contact, "name");
    rb.agent = !incoming ? str(doc, sender, "name") : NULL;
    rb.status = incoming ? "received" : "sent";
    rb.body = str(doc, root, "content");
    rb.thread = scalar(doc, conv, "display_id");
    if (rb.thread == NULL) {
        rb.thread = scalar(doc, conv, "id");
    }
    attr_string(&rb, "inbox", str(doc, obj(doc, root, "inbox"), "name"));
    attr_string(&rb, "chatwoot_channel", ctype);
    const struct jsondoc_value *att = jsondoc_get(doc, root, "attachments");
    if (att != NULL && att->type == JSONDOC_ARRAY && att->count > 0) {
        jsonw_key(attrs(&rb), "attachments");
        jsonw_array_begin(&rb.attrs);
        for (const struct jsondoc_value *x = jsondoc_child(doc, att); x != NULL;
             x = jsondoc_next(doc, x)) {
            const char *u = str(doc, x, "data_url");
            if (u != NULL) {
                jsonw_string(&rb.attrs, u);
            }
        }
        jsonw_array_end(&rb.attrs);
    }
    return recb_take(&rb, err, errlen);
}
