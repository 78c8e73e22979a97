#include "adapt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errmsg.h"
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

/* v as a jansson value (a copy), or NULL. */
static json_t *to_json(const struct jsondoc *doc, const struct jsondoc_value *v)
{
    size_t len = 0;
    char *text = jsondoc_dump(doc, v, NULL, NULL, &len);
    json_t *j = text != NULL ? json_loadb(text, len, JSON_DECODE_ANY, NULL) : NULL;
    free(text);
    return j;
}

/* Adds kind: value to customer, turning the member into an array at the second value and
 * leaving out repeats. */
static void add_ident(json_t *customer, const char *kind, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        return;
    }
    json_t *cur = json_object_get(customer, kind);
    if (cur == NULL) {
        json_object_set_new(customer, kind, json_string(value));
        return;
    }
    if (json_is_string(cur)) {
        if (strcmp(json_string_value(cur), value) == 0) {
            return;
        }
        json_t *arr = json_array();
        json_array_append(arr, cur);
        json_array_append_new(arr, json_string(value));
        json_object_set_new(customer, kind, arr);
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(cur, i, e)
    {
        if (strcmp(json_string_value(e), value) == 0) {
            return;
        }
    }
    json_array_append_new(cur, json_string(value));
}

static void set_time(json_t *rec, int64_t us)
{
    char ts[RECORD_TS_LEN + 1];
    record_format_time(us, ts);
    json_object_set_new(rec, "occurred_at", json_string(ts));
}

/* ---------------------------------------------------------------------------------------- */
/* Segment */

static const char *const segment_types[] = {"track", "identify", "page", "screen",
                                            "group", "alias",    NULL};

/* Takes email, phone and name from traits into customer; the rest into out_traits. */
static void segment_traits(const struct jsondoc *doc, const struct jsondoc_value *traits,
                           json_t *customer, json_t *out_traits)
{
    if (traits == NULL) {
        return;
    }
    for (const struct jsondoc_value *t = jsondoc_child(doc, traits); t != NULL;
         t = jsondoc_next(doc, t)) {
        bool text = t->type == JSONDOC_STRING && t->len > 0;
        if (strcmp(t->key, "email") == 0 && text) {
            add_ident(customer, "email", t->text);
        } else if (strcmp(t->key, "phone") == 0 && text) {
            add_ident(customer, "phone", t->text);
        } else if (strcmp(t->key, "name") == 0 && text) {
            json_object_set_new(customer, "name", json_string(t->text));
        } else {
            json_t *v = to_json(doc, t);
            if (v != NULL) {
                json_object_set_new(out_traits, t->key, v);
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

json_t *adapt_segment(const struct jsondoc *doc, const struct jsondoc_value *msg, const char *type,
                      const struct adapt_segment_opts *opts, int64_t now_us, char *err,
                      size_t errlen)
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
    if (user_id == NULL && anon_id == NULL) {
        errmsg_set(err, errlen, "userId or anonymousId is required");
        return NULL;
    }
    if (strcmp(type, "alias") == 0 && (previous_id == NULL || user_id == NULL)) {
        errmsg_set(err, errlen, "alias: previousId and userId are required");
        return NULL;
    }
    if (strcmp(type, "track") == 0 && str(doc, msg, "event") == NULL) {
        errmsg_set(err, errlen, "event: a track call needs the event's name");
        return NULL;
    }
    int64_t us;
    if (segment_time(doc, msg, now_us, &us, err, errlen) < 0) {
        return NULL;
    }
    json_t *rec = json_object();
    json_t *customer = json_object();
    json_t *traits = json_object();
    json_object_set_new(rec, "source", json_string(opts->source));
    const char *message_id = scalar(doc, msg, "messageId");
    if (message_id != NULL) {
        json_object_set_new(rec, "external_id", json_string(message_id));
    }
    json_object_set_new(rec, "channel", json_string("web"));
    json_object_set_new(rec, "direction", json_string("inbound"));
    set_time(rec, us);
    add_ident(customer, "web", anon_id);
    const char *ids[2] = {user_id, strcmp(type, "alias") == 0 ? previous_id : NULL};
    for (int i = 0; i < 2; i++) {
        if (ids[i] == NULL) {
            continue;
        }
        if (opts->user_id_system != NULL && opts->user_id_system[0] != '\0' && ids[i] == user_id) {
            char ext[300];
            snprintf(ext, sizeof(ext), "%s:%s", opts->user_id_system, ids[i]);
            add_ident(customer, "external", ext);
        } else {
            add_ident(customer, "web", ids[i]);
        }
    }
    const struct jsondoc_value *context = obj(doc, msg, "context");
    segment_traits(doc, obj(doc, context, "traits"), customer, traits);
    /* A group's traits describe the group (a company), not the person. */
    if (strcmp(type, "group") != 0) {
        segment_traits(doc, obj(doc, msg, "traits"), customer, traits);
    }
    if (json_object_size(traits) > 0) {
        json_object_set(customer, "traits", traits);
    }
    json_object_set_new(rec, "customer", customer);
    const char *subject = NULL;
    if (strcmp(type, "track") == 0) {
        subject = str(doc, msg, "event");
    } else if (strcmp(type, "page") == 0 || strcmp(type, "screen") == 0) {
        subject = str(doc, msg, "name");
        if (subject == NULL) {
            subject = str(doc, obj(doc, msg, "properties"), "title");
        }
    }
    json_object_set_new(rec, "subject", json_string(subject != NULL ? subject : type));
    const struct jsondoc_value *props = obj(doc, msg, "properties");
    json_t *attrs = props != NULL ? to_json(doc, props) : NULL;
    if (strcmp(type, "group") == 0) {
        attrs = attrs != NULL ? attrs : json_object();
        const char *group_id = scalar(doc, msg, "groupId");
        if (group_id != NULL) {
            json_object_set_new(attrs, "group_id", json_string(group_id));
        }
        const struct jsondoc_value *gt = obj(doc, msg, "traits");
        if (gt != NULL) {
            json_object_set_new(attrs, "group_traits", to_json(doc, gt));
        }
    }
    if (attrs != NULL && json_object_size(attrs) > 0) {
        json_object_set_new(rec, "attributes", attrs);
    } else {
        json_decref(attrs);
    }
    char tag[32];
    snprintf(tag, sizeof(tag), "segment:%s", type);
    json_object_set_new(rec, "tags", json_pack("[s]", tag));
    json_decref(traits);
    return rec;
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
static const char *twilio_customer(json_t *customer, const char *addr)
{
    if (strncasecmp(addr, "whatsapp:", 9) == 0) {
        add_ident(customer, "chat", addr);
        add_ident(customer, "phone", addr + 9);
        return "chat";
    }
    add_ident(customer, "phone", addr);
    return "sms";
}

json_t *adapt_twilio(const struct http_param *p, int n, bool status, const char *source,
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
    json_t *rec = json_object();
    json_t *customer = json_object();
    json_t *attrs = json_object();
    json_object_set_new(rec, "source", json_string(source));
    json_object_set_new(rec, "external_id", json_string(sid));
    const char *channel = twilio_customer(customer, who);
    json_object_set_new(rec, "channel", json_string(channel));
    json_object_set_new(rec, "direction", json_string(status ? "outbound" : "inbound"));
    set_time(rec, now_us);
    json_object_set_new(rec, "customer", customer);
    json_object_set_new(rec, "status", json_string(st));
    const char *body = adapt_param(p, n, "Body");
    if (!status && body != NULL) {
        json_object_set_new(rec, "body", json_string(body));
    }
    const char *other = status ? from : to;
    if (other != NULL) {
        json_object_set_new(attrs, status ? "from" : "to", json_string(other));
    }
    static const char *const keep[][2] = {
        {"AccountSid", "account_sid"}, {"MessagingServiceSid", "messaging_service_sid"},
        {"ErrorCode", "error_code"},   {"ErrorMessage", "error_message"},
        {"FromCity", "from_city"},     {"FromCountry", "from_country"},
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        const char *v = adapt_param(p, n, keep[i][0]);
        if (v != NULL && v[0] != '\0') {
            json_object_set_new(attrs, keep[i][1], json_string(v));
        }
    }
    if (status && tw_status != NULL) {
        json_object_set_new(attrs, "twilio_status", json_string(tw_status));
    }
    const char *num = adapt_param(p, n, "NumMedia");
    long nmedia = num != NULL ? strtol(num, NULL, 10) : 0;
    if (nmedia > 0) {
        json_t *media = json_array();
        for (long i = 0; i < nmedia && i < 10; i++) {
            char k[32];
            snprintf(k, sizeof(k), "MediaUrl%ld", i);
            const char *url = adapt_param(p, n, k);
            snprintf(k, sizeof(k), "MediaContentType%ld", i);
            const char *type = adapt_param(p, n, k);
            if (url != NULL) {
                json_t *m = json_pack("{s:s}", "url", url);
                if (type != NULL) {
                    json_object_set_new(m, "content_type", json_string(type));
                }
                json_array_append_new(media, m);
            }
        }
        json_object_set_new(attrs, "media", media);
    }
    json_object_set_new(rec, "attributes", attrs);
    return rec;
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

json_t *adapt_chatwoot(const struct jsondoc *doc, const char *source, int64_t now_us, bool *ignored,
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
        errmsg_set(err, errlen, "message_type %s is not recorded", mtype);
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
    json_t *rec = json_object();
    json_t *customer = json_object();
    json_object_set_new(rec, "source", json_string(source));
    json_object_set_new(rec, "external_id", json_string(id));
    json_object_set_new(rec, "channel", json_string(channel));
    const struct jsondoc_value *priv = jsondoc_get(doc, root, "private");
    bool internal = priv != NULL && priv->type == JSONDOC_TRUE;
    json_object_set_new(rec, "direction",
                        json_string(internal   ? "internal"
                                    : incoming ? "inbound"
                                               : "outbound"));
    set_time(rec, chatwoot_time(doc, root, now_us));
    add_ident(customer, "phone", str(doc, contact, "phone_number"));
    add_ident(customer, "email", str(doc, contact, "email"));
    const char *ident = scalar(doc, contact, "identifier");
    if (ident != NULL) {
        char ext[300];
        snprintf(ext, sizeof(ext), "chatwoot:%s", ident);
        add_ident(customer, "external", ext);
    }
    if (provider != NULL) {
        /* The contact's id in the inbox's channel: a WhatsApp number, a Telegram user id, the
         * web widget's visitor token; else Chatwoot's own contact id. */
        const char *handle = str(doc, obj(doc, conv, "contact_inbox"), "source_id");
        char chat[300];
        const char *cid = scalar(doc, contact, "id");
        if (handle != NULL) {
            snprintf(chat, sizeof(chat), "%s:%s", provider, handle);
            add_ident(customer, "chat", chat);
        } else if (cid != NULL) {
            snprintf(chat, sizeof(chat), "chatwoot:contact-%s", cid);
            add_ident(customer, "chat", chat);
        }
    }
    const char *cname = str(doc, contact, "name");
    if (cname != NULL) {
        json_object_set_new(customer, "name", json_string(cname));
    }
    json_object_set_new(rec, "customer", customer);
    if (!incoming && sender != NULL && str(doc, sender, "name") != NULL) {
        json_object_set_new(rec, "agent", json_string(str(doc, sender, "name")));
    }
    json_object_set_new(rec, "status", json_string(incoming ? "received" : "sent"));
    const char *content = str(doc, root, "content");
    if (content != NULL) {
        json_object_set_new(rec, "body", json_string(content));
    }
    const char *conv_id = scalar(doc, conv, "display_id");
    if (conv_id == NULL) {
        conv_id = scalar(doc, conv, "id");
    }
    if (conv_id != NULL) {
        json_object_set_new(rec, "thread", json_string(conv_id));
    }
    json_t *attrs = json_object();
    const char *inbox = str(doc, obj(doc, root, "inbox"), "name");
    if (inbox != NULL) {
        json_object_set_new(attrs, "inbox", json_string(inbox));
    }
    if (ctype != NULL) {
        json_object_set_new(attrs, "chatwoot_channel", json_string(ctype));
    }
    const struct jsondoc_value *att = jsondoc_get(doc, root, "attachments");
    if (att != NULL && att->type == JSONDOC_ARRAY && att->count > 0) {
        json_t *urls = json_array();
        for (const struct jsondoc_value *a = jsondoc_child(doc, att); a != NULL;
             a = jsondoc_next(doc, a)) {
            const char *u = str(doc, a, "data_url");
            if (u != NULL) {
                json_array_append_new(urls, json_string(u));
            }
        }
        json_object_set_new(attrs, "attachments", urls);
    }
    if (json_object_size(attrs) > 0) {
        json_object_set_new(rec, "attributes", attrs);
    } else {
        json_decref(attrs);
    }
    return rec;
}
