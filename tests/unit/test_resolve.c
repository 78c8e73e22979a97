/*
 * Unit tests of daemon/resolve, the identity planner, table-driven as pgbouncer tests hba.c:
 * each case is what the database knows (identifiers and their customers) and a batch of
 * records in, and the plan out (each record's customer, the customers created, the merges).
 * Customers are named by letters: A, B, C... exist already (their ids sort in that order);
 * n1, n2... are created by the batch, in that order (ids from a counter, newer than any
 * existing one), as the planner's injected id generator makes them.
 *
 * A second table (limit_cases) adds what the database says about the customers a plan would
 * merge (pairs kept apart, identifier counts) and merge protection (per-kind limits, priority):
 * there customers are C1, C2… (existing, C1 the oldest) and N1, N2… (created by the batch).
 */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "resolve.h"

#define MAX_ROWS 40

struct known_row {
    const char *kind;
    const char *value;
    char customer; /* 'A'.. */
};

struct plan_case {
    const char *name;
    const char *never_merge; /* one normalized kind:value, or NULL */
    struct known_row known[MAX_ROWS];
    const char *records[MAX_ROWS]; /* the "customer" object of each record */
    /* Expected: each record's customer ("A", "n1", ...), the number created, and each merge
     * as "loser>survivor=final" in the order the plan applies them. */
    const char *customers[MAX_ROWS];
    size_t created;
    const char *merges[MAX_ROWS];
};

/* Existing customer X's id: smaller than every new one, in letter order. */
static void existing_id(char letter, char out[RECORD_UUID_LEN + 1])
{
    snprintf(out, RECORD_UUID_LEN + 1, "0000000%c-0000-7000-8000-000000000000", letter - 'A' + 'a');
}

/* New ids: a counter, so that a plan is reproducible. */
static void counter_id(char out[RECORD_UUID_LEN + 1], void *arg)
{
    unsigned *next = arg;
    snprintf(out, RECORD_UUID_LEN + 1, "90000000-0000-7000-8000-%012u", ++*next);
}

/* The name of the customer id: "A".., or "n<k>". */
static void label_of(const char *id, char *out, size_t outlen)
{
    if (id == NULL) {
        snprintf(out, outlen, "(none)");
    } else if (strncmp(id, "90000000", 8) == 0) {
        snprintf(out, outlen, "n%u", (unsigned)strtoul(id + 24, NULL, 10));
    } else {
        snprintf(out, outlen, "%c", id[7] - 'a' + 'A');
    }
}

static struct record *make_record(const char *customer, const struct record_opts *opts, size_t i)
{
    char line[4096], msg[RECORD_MSG_MAX];
    snprintf(line, sizeof(line),
             "{\"source\":\"t\",\"external_id\":\"r%zu\",\"channel\":\"sms\","
             "\"occurred_at\":\"2026-11-20T10:00:00Z\",\"customer\":%s}",
             i, customer);
    struct record *rec = NULL;
    if (record_parse(line, strlen(line), opts, &rec, msg, sizeof(msg)) != RECORD_OK) {
        fail_msg("record %zu %s: %s", i, customer, msg);
    }
    return rec;
}

static int cmp_known(const void *a, const void *b)
{
    return strcmp(((const struct resolve_known *)a)->customer,
                  ((const struct resolve_known *)b)->customer);
}

static void run_case(const struct plan_case *pc)
{
    struct record_opts opts;
    memset(&opts, 0, sizeof(opts));
    normalize_opts_default(&opts.norm);
    const char *nm[1] = {pc->never_merge};
    if (pc->never_merge != NULL) {
        opts.never_merge = nm;
        opts.n_never_merge = 1;
    }
    struct resolve_known known[MAX_ROWS];
    char known_ids[MAX_ROWS][RECORD_UUID_LEN + 1];
    size_t n_known = 0;
    for (; n_known < MAX_ROWS && pc->known[n_known].kind != NULL; n_known++) {
        const struct known_row *k = &pc->known[n_known];
        assert_int_equal(normalize_kind_parse(k->kind, &known[n_known].kind), 0);
        known[n_known].value = k->value;
        existing_id(k->customer, known_ids[n_known]);
        known[n_known].customer = known_ids[n_known];
    }
    qsort(known, n_known, sizeof(known[0]), cmp_known);
    struct record *recs[MAX_ROWS];
    size_t n = 0;
    for (; n < MAX_ROWS && pc->records[n] != NULL; n++) {
        recs[n] = make_record(pc->records[n], &opts, n);
    }
    unsigned next = 0;
    struct resolve_env env = {counter_id, &next};
    struct resolve_plan plan;
    assert_int_equal(resolve_batch(recs, NULL, n, known, n_known, NULL, NULL, &env, &plan), 0);
    char got[64];
    for (size_t i = 0; i < n; i++) {
        label_of(plan.record_customer[i], got, sizeof(got));
        if (pc->customers[i] == NULL || strcmp(got, pc->customers[i]) != 0) {
            fail_msg("%s: record %zu resolved to %s, expected %s", pc->name, i, got,
                     pc->customers[i] != NULL ? pc->customers[i] : "(nothing listed)");
        }
    }
    if (plan.n_created != pc->created) {
        fail_msg("%s: %zu customers created, expected %zu", pc->name, plan.n_created, pc->created);
    }
    size_t k = 0;
    for (size_t m = 0; m < plan.n_merges; m++) {
        for (size_t l = 0; l < plan.merges[m].n_losers; l++, k++) {
            char loser[16], survivor[16], final[16], text[64];
            label_of(plan.merges[m].losers[l], loser, sizeof(loser));
            label_of(plan.merges[m].survivor, survivor, sizeof(survivor));
            label_of(plan.merges[m].finals[l], final, sizeof(final));
            snprintf(text, sizeof(text), "%s>%s=%s", loser, survivor, final);
            if (pc->merges[k] == NULL || strcmp(text, pc->merges[k]) != 0) {
                fail_msg("%s: merge %zu is %s, expected %s", pc->name, k, text,
                         pc->merges[k] != NULL ? pc->merges[k] : "none");
            }
        }
    }
    if (pc->merges[k] != NULL) {
        fail_msg("%s: merge %s expected, not planned", pc->name, pc->merges[k]);
    }
    resolve_plan_free(&plan);
    for (size_t i = 0; i < n; i++) {
        record_free(recs[i]);
    }
}

static const struct plan_case cases[] = {
    {
        .name = "unknown identifiers create one customer per person",
        .records = {"{\"phone\":\"09120000001\"}", "{\"email\":\"a@x.ir\"}",
                    "{\"phone\":\"+989120000001\",\"email\":\"b@x.ir\"}"},
        .customers = {"n1", "n2", "n1"},
        .created = 2,
    },
    {
        .name = "a known identifier attaches the record to its customer",
        .known = {{"phone", "+989120000001", 'A'}},
        .records = {"{\"phone\":\"0912 000 0001\",\"email\":\"new@x.ir\"}"},
        .customers = {"A"},
        .created = 0,
    },
    {
        .name = "two existing customers merge into the older",
        .known = {{"phone", "+989120000001", 'B'}, {"email", "a@x.ir", 'A'}},
        .records = {"{\"phone\":\"09120000001\",\"email\":\"a@x.ir\"}"},
        .customers = {"A"},
        .merges = {"B>A=A"},
    },
    {
        .name = "customers created in the batch merge without reaching the database",
        .records = {"{\"email\":\"a@x.ir\"}", "{\"email\":\"b@x.ir\"}",
                    "{\"email\":[\"a@x.ir\",\"b@x.ir\"]}", "{\"email\":\"b@x.ir\"}"},
        .customers = {"n1", "n1", "n1", "n1"},
        .created = 1,
    },
    {
        .name = "a batch that merges three existing customers",
        .known = {{"email", "a@x.ir", 'A'}, {"email", "b@x.ir", 'B'}, {"email", "c@x.ir", 'C'}},
        .records = {"{\"email\":[\"b@x.ir\",\"a@x.ir\"]}", "{\"email\":[\"c@x.ir\",\"b@x.ir\"]}"},
        .customers = {"A", "A"},
        .merges = {"B>A=A", "C>A=A"},
    },
    {
        .name = "a chain: C into B, then B into A; C ends in A",
        .known = {{"email", "a@x.ir", 'A'}, {"email", "b@x.ir", 'B'}, {"email", "c@x.ir", 'C'}},
        .records = {"{\"email\":[\"c@x.ir\",\"b@x.ir\"]}", "{\"email\":[\"b@x.ir\",\"a@x.ir\"]}"},
        .customers = {"A", "A"},
        .merges = {"C>B=A", "B>A=A"},
    },
    {
        .name = "an existing customer absorbs one this batch created",
        .known = {{"email", "a@x.ir", 'A'}},
        .records = {"{\"email\":\"n@x.ir\"}", "{\"email\":[\"n@x.ir\",\"a@x.ir\"]}"},
        .customers = {"A", "A"},
        .created = 0,
    },
    {
        .name = "never_merge attaches nothing new to its holder and merges nobody",
        .never_merge = "phone:+982188001234",
        .known = {{"phone", "+982188001234", 'A'}, {"email", "b@x.ir", 'B'}},
        .records = {"{\"phone\":\"02188001234\",\"email\":\"new@x.ir\"}",
                    "{\"phone\":\"02188001234\",\"email\":\"b@x.ir\"}",
                    "{\"phone\":\"02188001234\"}"},
        .customers = {"n1", "B", "A"},
        .created = 1,
    },
    {
        .name = "32 identifiers of 32 customers end in the oldest",
        .known = {{"email", "0@x.ir", 'A'},  {"email", "1@x.ir", 'B'},  {"email", "2@x.ir", 'C'},
                  {"email", "3@x.ir", 'D'},  {"email", "4@x.ir", 'E'},  {"email", "5@x.ir", 'F'},
                  {"email", "6@x.ir", 'G'},  {"email", "7@x.ir", 'H'},  {"email", "8@x.ir", 'I'},
                  {"email", "9@x.ir", 'J'},  {"email", "10@x.ir", 'K'}, {"email", "11@x.ir", 'L'},
                  {"email", "12@x.ir", 'M'}, {"email", "13@x.ir", 'N'}, {"email", "14@x.ir", 'O'},
                  {"email", "15@x.ir", 'P'}, {"email", "16@x.ir", 'Q'}, {"email", "17@x.ir", 'R'},
                  {"email", "18@x.ir", 'S'}, {"email", "19@x.ir", 'T'}, {"email", "20@x.ir", 'U'},
                  {"email", "21@x.ir", 'V'}, {"email", "22@x.ir", 'W'}, {"email", "23@x.ir", 'X'},
                  {"email", "24@x.ir", 'Y'}, {"email", "25@x.ir", 'Z'}},
        .records = {"{\"email\":[\"25@x.ir\",\"24@x.ir\",\"23@x.ir\",\"22@x.ir\",\"21@x.ir\","
                    "\"20@x.ir\",\"19@x.ir\",\"18@x.ir\",\"17@x.ir\",\"16@x.ir\",\"15@x.ir\","
                    "\"14@x.ir\",\"13@x.ir\",\"12@x.ir\",\"11@x.ir\",\"10@x.ir\",\"9@x.ir\","
                    "\"8@x.ir\",\"7@x.ir\",\"6@x.ir\",\"5@x.ir\",\"4@x.ir\",\"3@x.ir\","
                    "\"2@x.ir\",\"1@x.ir\",\"0@x.ir\"],\"phone\":[\"09120000001\","
                    "\"09120000002\",\"09120000003\",\"09120000004\",\"09120000005\","
                    "\"09120000006\"]}"},
        .customers = {"A"},
        /* Losers oldest first: one kept apart from an older customer stays out. */
        .merges = {"B>A=A", "C>A=A", "D>A=A", "E>A=A", "F>A=A", "G>A=A", "H>A=A", "I>A=A", "J>A=A",
                   "K>A=A", "L>A=A", "M>A=A", "N>A=A", "O>A=A", "P>A=A", "Q>A=A", "R>A=A", "S>A=A",
                   "T>A=A", "U>A=A", "V>A=A", "W>A=A", "X>A=A", "Y>A=A", "Z>A=A"},
    },
};

static void plans_match_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i]);
    }
}

/* Identifiers the plan adds: the new ones only, each with its final customer. */
static void new_identifiers_point_at_final_customers(void **state)
{
    (void)state;
    struct record_opts opts;
    memset(&opts, 0, sizeof(opts));
    normalize_opts_default(&opts.norm);
    char a[RECORD_UUID_LEN + 1];
    existing_id('A', a);
    struct resolve_known known[] = {{IDENT_EMAIL, "a@x.ir", a}};
    struct record *recs[] = {
        make_record("{\"email\":\"n@x.ir\",\"phone\":\"09120000001\"}", &opts, 0),
        make_record("{\"email\":[\"n@x.ir\",\"a@x.ir\"]}", &opts, 1)};
    unsigned next = 0;
    struct resolve_env env = {counter_id, &next};
    struct resolve_plan plan;
    assert_int_equal(resolve_batch(recs, NULL, 2, known, 1, NULL, NULL, &env, &plan), 0);
    assert_int_equal(plan.n_identities, 2);
    for (size_t i = 0; i < plan.n_identities; i++) {
        assert_string_equal(plan.identities[i].customer, a);
        assert_true(plan.identities[i].kind == IDENT_PHONE ||
                    plan.identities[i].kind == IDENT_EMAIL);
    }
    resolve_plan_free(&plan);
    record_free(recs[0]);
    record_free(recs[1]);
}

/* Skipped records (duplicates) take no part; names and traits go to the final customer, key
 * by key, the latest winning. */
static void skipped_records_names_and_traits(void **state)
{
    (void)state;
    struct record_opts opts;
    memset(&opts, 0, sizeof(opts));
    normalize_opts_default(&opts.norm);
    struct record *recs[] = {
        make_record("{\"email\":\"a@x.ir\",\"name\":\"Sara\",\"traits\":{\"tier\":\"gold\","
                    "\"city\":\"Tehran\"}}",
                    &opts, 0),
        make_record("{\"email\":\"skip@x.ir\"}", &opts, 1),
        make_record("{\"email\":\"a@x.ir\",\"traits\":{\"tier\":\"platinum\",\"n\":[1,2]}}", &opts,
                    2),
    };
    bool skip[] = {false, true, false};
    unsigned next = 0;
    struct resolve_env env = {counter_id, &next};
    struct resolve_plan plan;
    assert_int_equal(resolve_batch(recs, skip, 3, NULL, 0, NULL, NULL, &env, &plan), 0);
    assert_null(plan.record_customer[1]);
    assert_int_equal(plan.n_created, 1);
    assert_string_equal(plan.created[0].name, "Sara");
    assert_string_equal(plan.created[0].traits_json,
                        "{\"city\":\"Tehran\",\"n\":[1,2],\"tier\":\"platinum\"}");
    assert_int_equal(plan.n_identities, 1);
    resolve_plan_free(&plan);
    for (size_t i = 0; i < 3; i++) {
        record_free(recs[i]);
    }
}

struct limit_case {
    const char *name;
    const char *known[MAX_ROWS]; /* "kind:value C<n>" */
    /* Records: identifiers separated by spaces; "!" before one marks it never_merge. */
    const char *records[MAX_ROWS];
    const char *counts[MAX_ROWS]; /* facts: "C<n> kind n" */
    const char *apart[4];         /* facts: "C<a> C<b>" */
    int max[IDENT_KIND_COUNT];    /* limits (all 0: none given) */
    const char *priority;         /* "phone,email…" (NULL: external,email,phone,chat,web) */
    const char *expect[MAX_ROWS]; /* the customer of each record */
    const char *merges;           /* "C2>C1 C3>C1" (losers into survivors, in order), "" */
    const char *conflicts;        /* "r:C1|C2:phone" (record, where it went, other, kind), "" */
};

static void existing_n_id(int n, char out[RECORD_UUID_LEN + 1])
{
    snprintf(out, RECORD_UUID_LEN + 1, "00000000-0000-7000-8000-%012d", n);
}

/* "C3", "N1", or "?" for an id of customers (existing ids from existing_id, new ones from
 * plan->created). */
static void limit_label(const struct resolve_plan *plan, const char *id, char out[8])
{
    snprintf(out, 8, "?");
    if (id == NULL) {
        return;
    }
    if (strncmp(id, "00000000-0000-7000-8000-", 24) == 0) {
        snprintf(out, 8, "C%d", atoi(id + 24) % 1000);
        return;
    }
    for (size_t i = 0; i < plan->n_created; i++) {
        if (strcmp(plan->created[i].id, id) == 0) {
            snprintf(out, 8, "N%d", (int)(i % 1000) + 1);
        }
    }
}

static void append(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n > 0 ? " " : "", text);
}

static void run_limit_case(const struct limit_case *t)
{
    static char ids[MAX_ROWS][RECORD_UUID_LEN + 1];
    struct resolve_known known[MAX_ROWS];
    char known_values[MAX_ROWS][128];
    size_t n_known = 0;
    for (; t->known[n_known] != NULL; n_known++) {
        char kind[16];
        int c;
        assert_int_equal(
            sscanf(t->known[n_known], "%15[a-z]:%127s C%d", kind, known_values[n_known], &c), 3);
        assert_int_equal(normalize_kind_parse(kind, &known[n_known].kind), 0);
        existing_n_id(c, ids[n_known]);
        known[n_known].value = known_values[n_known];
        known[n_known].customer = ids[n_known];
    }
    /* Sorted by customer, as the database answers. */
    for (size_t i = 1; i < n_known; i++) {
        for (size_t j = i; j > 0 && strcmp(known[j].customer, known[j - 1].customer) < 0; j--) {
            struct resolve_known x = known[j];
            known[j] = known[j - 1];
            known[j - 1] = x;
        }
    }
    struct record recs[MAX_ROWS];
    struct record *rp[MAX_ROWS];
    size_t n = 0;
    for (; t->records[n] != NULL; n++) {
        memset(&recs[n], 0, sizeof(recs[n]));
        snprintf(recs[n].id, sizeof(recs[n].id), "10000000-0000-7000-8000-%012zu", n);
        char *copy = strdup(t->records[n]), *save = NULL;
        for (char *tok = strtok_r(copy, " ", &save); tok != NULL;
             tok = strtok_r(NULL, " ", &save)) {
            struct record_ident *id = &recs[n].idents[recs[n].n_idents++];
            id->never_merge = tok[0] == '!';
            tok += id->never_merge;
            char *colon = strchr(tok, ':');
            assert_non_null(colon);
            *colon = '\0';
            assert_int_equal(normalize_kind_parse(tok, &id->kind), 0);
            id->value = strdup(colon + 1);
        }
        free(copy);
        rp[n] = &recs[n];
    }
    struct resolve_count counts[MAX_ROWS];
    static char count_ids[MAX_ROWS][RECORD_UUID_LEN + 1];
    size_t n_counts = 0;
    for (; t->counts[n_counts] != NULL; n_counts++) {
        char kind[16];
        int c, v;
        assert_int_equal(sscanf(t->counts[n_counts], "C%d %15s %d", &c, kind, &v), 3);
        existing_n_id(c, count_ids[n_counts]);
        counts[n_counts].customer = count_ids[n_counts];
        assert_int_equal(normalize_kind_parse(kind, &counts[n_counts].kind), 0);
        counts[n_counts].n = v;
    }
    struct resolve_apart apart[4];
    static char apart_ids[4][2][RECORD_UUID_LEN + 1];
    size_t n_apart = 0;
    for (; n_apart < 4 && t->apart[n_apart] != NULL; n_apart++) {
        int a, b;
        assert_int_equal(sscanf(t->apart[n_apart], "C%d C%d", &a, &b), 2);
        existing_n_id(a, apart_ids[n_apart][0]);
        existing_n_id(b, apart_ids[n_apart][1]);
        apart[n_apart].a = apart_ids[n_apart][0];
        apart[n_apart].b = apart_ids[n_apart][1];
    }
    struct resolve_facts facts = {apart, n_apart, counts, n_counts};
    struct resolve_limits limits;
    bool any_limit = false;
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        limits.max[k] = t->max[k];
        any_limit = any_limit || t->max[k] > 0;
    }
    static const enum ident_kind dflt[IDENT_KIND_COUNT] = {IDENT_EXTERNAL, IDENT_EMAIL, IDENT_PHONE,
                                                           IDENT_CHAT, IDENT_WEB};
    memcpy(limits.priority, dflt, sizeof(dflt));
    if (t->priority != NULL) {
        char *copy = strdup(t->priority), *save = NULL;
        int p = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            assert_int_equal(normalize_kind_parse(tok, &limits.priority[p++]), 0);
        }
        free(copy);
    }

    struct resolve_plan plan;
    assert_int_equal(resolve_batch(rp, NULL, n, known, n_known, &facts, any_limit ? &limits : NULL,
                                   &resolve_env_default, &plan),
                     0);
    char got[8];
    for (size_t i = 0; i < n; i++) {
        limit_label(&plan, plan.record_customer[i], got);
        if (strcmp(got, t->expect[i]) != 0) {
            fail_msg("%s: record %zu went to %s, not %s", t->name, i, got, t->expect[i]);
        }
    }
    char merges[512] = "", one[64], a[8], b[8];
    for (size_t m = 0; m < plan.n_merges; m++) {
        for (size_t l = 0; l < plan.merges[m].n_losers; l++) {
            limit_label(&plan, plan.merges[m].losers[l], a);
            limit_label(&plan, plan.merges[m].survivor, b);
            snprintf(one, sizeof(one), "%s>%s", a, b);
            append(merges, sizeof(merges), one);
        }
    }
    if (strcmp(merges, t->merges) != 0) {
        fail_msg("%s: merges \"%s\", not \"%s\"", t->name, merges, t->merges);
    }
    char conflicts[512] = "";
    for (size_t c = 0; c < plan.n_conflicts; c++) {
        limit_label(&plan, plan.conflicts[c].customer, a);
        limit_label(&plan, plan.conflicts[c].other, b);
        snprintf(one, sizeof(one), "%zu:%s|%s:%s", plan.conflicts[c].record, a, b,
                 normalize_kind_name(plan.conflicts[c].kind));
        append(conflicts, sizeof(conflicts), one);
    }
    if (strcmp(conflicts, t->conflicts) != 0) {
        fail_msg("%s: conflicts \"%s\", not \"%s\"", t->name, conflicts, t->conflicts);
    }
    resolve_plan_free(&plan);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < recs[i].n_idents; k++) {
            free(recs[i].idents[k].value);
        }
    }
}

static const struct limit_case limit_cases[] = {
    {.name = "unknown identifier: a new customer",
     .records = {"phone:+989121111111"},
     .expect = {"N1"},
     .merges = "",
     .conflicts = ""},
    {.name = "known identifier: its customer",
     .known = {"email:a@x.ir C1"},
     .records = {"email:a@x.ir phone:+989121111111"},
     .expect = {"C1"},
     .merges = "",
     .conflicts = ""},
    {.name = "two customers: the newer into the older",
     .known = {"email:a@x.ir C2", "phone:+989121111111 C1"},
     .records = {"email:a@x.ir phone:+989121111111"},
     .expect = {"C1"},
     .merges = "C2>C1",
     .conflicts = ""},
    {.name = "three customers by one record",
     .known = {"web:a C1", "web:b C2", "web:c C3"},
     .records = {"web:c web:b web:a"},
     .expect = {"C1"},
     .merges = "C2>C1 C3>C1",
     .conflicts = ""},
    {.name = "a chain inside the batch: as if applied one by one",
     .known = {"web:a C2", "web:b C1"},
     .records = {"web:a web:x", "web:x web:b"},
     .expect = {"C1", "C1"},
     .merges = "C2>C1",
     .conflicts = ""},
    {.name = "never_merge: resolved by the other identifiers alone",
     .known = {"phone:+982188001234 C1"},
     .records = {"!phone:+982188001234 email:b@x.ir", "!phone:+982188001234"},
     .expect = {"N1", "C1"},
     .merges = "",
     .conflicts = ""},
    {.name = "kept apart: the record goes to the older, nobody merges",
     .known = {"email:a@x.ir C2", "phone:+989121111111 C1"},
     .records = {"email:a@x.ir phone:+989121111111"},
     .apart = {"C2 C1"},
     .expect = {"C1"},
     .merges = "",
     .conflicts = ""},
    {.name = "kept apart, a third one still merges",
     .known = {"web:a C1", "web:b C2", "web:c C3"},
     .records = {"web:a web:b web:c"},
     .apart = {"C1 C2"},
     .expect = {"C1"},
     .merges = "C3>C1",
     .conflicts = ""},
    {.name = "limit: a third phone by merging is refused",
     .known = {"phone:+989121111111 C1", "phone:+989122222222 C1", "phone:+989123333333 C2"},
     .records = {"phone:+989121111111 phone:+989123333333"},
     .counts = {"C1 phone 2", "C2 phone 1"},
     .max = {[IDENT_PHONE] = 2},
     .expect = {"C1"},
     .merges = "",
     .conflicts = "0:C1|C2:phone"},
    {.name = "limit: priority email before phone sends the record to the e-mail's customer",
     .known = {"phone:+989121111111 C1", "email:a@x.ir C2", "phone:+989122222222 C2"},
     .records = {"phone:+989121111111 email:a@x.ir"},
     .counts = {"C1 phone 1", "C2 phone 1", "C2 email 1"},
     .max = {[IDENT_PHONE] = 1},
     .expect = {"C2"},
     .merges = "",
     .conflicts = "0:C2|C1:phone"},
    {.name = "limit: priority phone first sends it to the phone's customer",
     .known = {"phone:+989121111111 C1", "email:a@x.ir C2", "phone:+989122222222 C2"},
     .records = {"phone:+989121111111 email:a@x.ir"},
     .counts = {"C1 phone 1", "C2 phone 1", "C2 email 1"},
     .max = {[IDENT_PHONE] = 1},
     .priority = "phone,email",
     .expect = {"C1"},
     .merges = "",
     .conflicts = "0:C1|C2:phone"},
    {.name = "limit: a merge that adds none of the kind is not refused",
     .known = {"phone:+989121111111 C1", "email:a@x.ir C2"},
     .records = {"phone:+989121111111 email:a@x.ir"},
     .counts = {"C1 phone 6", "C2 email 1"},
     .max = {[IDENT_PHONE] = 5},
     .expect = {"C1"},
     .merges = "C2>C1",
     .conflicts = ""},
    {.name = "limit: within the limit, merges as usual",
     .known = {"phone:+989121111111 C1", "phone:+989123333333 C2"},
     .records = {"phone:+989121111111 phone:+989123333333"},
     .counts = {"C1 phone 1", "C2 phone 1"},
     .max = {[IDENT_PHONE] = 2},
     .expect = {"C1"},
     .merges = "C2>C1",
     .conflicts = ""},
    {.name = "limit: the batch's own identifiers count",
     .records = {"web:1 web:2", "web:3", "web:2 web:3"},
     .max = {[IDENT_WEB] = 2},
     .expect = {"N1", "N2", "N1"},
     .merges = "",
     .conflicts = "2:N1|N2:web"},
    {.name = "32 identifiers in one record: one new customer",
     .records = {"web:1 web:2 web:3 web:4 web:5 web:6 web:7 web:8 web:9 web:10 web:11 web:12 "
                 "web:13 web:14 web:15 web:16 web:17 web:18 web:19 web:20 web:21 web:22 web:23 "
                 "web:24 web:25 web:26 web:27 web:28 web:29 web:30 web:31 web:32"},
     .expect = {"N1"},
     .merges = "",
     .conflicts = ""},
};

static void limits_and_facts_match_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
        run_limit_case(&limit_cases[i]);
    }
}

/* The plan's new identities name the record that first brought them. */
static void new_identities_name_their_first_record(void **state)
{
    (void)state;
    struct record r[2];
    memset(r, 0, sizeof(r));
    snprintf(r[0].id, sizeof(r[0].id), "%s", "10000000-0000-7000-8000-000000000000");
    snprintf(r[1].id, sizeof(r[1].id), "%s", "10000000-0000-7000-8000-000000000001");
    char a[] = "a", b[] = "b";
    r[0].idents[0] = (struct record_ident){IDENT_WEB, a, false};
    r[0].n_idents = 1;
    r[1].idents[0] = (struct record_ident){IDENT_WEB, a, false};
    r[1].idents[1] = (struct record_ident){IDENT_WEB, b, false};
    r[1].n_idents = 2;
    struct record *rp[2] = {&r[0], &r[1]};
    struct resolve_plan plan;
    assert_int_equal(resolve_batch(rp, NULL, 2, NULL, 0, NULL, NULL, &resolve_env_default, &plan),
                     0);
    assert_int_equal(plan.n_identities, 2);
    for (size_t i = 0; i < plan.n_identities; i++) {
        assert_int_equal(plan.identities[i].record,
                         strcmp(plan.identities[i].value, "a") == 0 ? 0 : 1);
    }
    resolve_plan_free(&plan);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plans_match_the_table),
        cmocka_unit_test(new_identifiers_point_at_final_customers),
        cmocka_unit_test(skipped_records_names_and_traits),
        cmocka_unit_test(limits_and_facts_match_the_table),
        cmocka_unit_test(new_identities_name_their_first_record),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
