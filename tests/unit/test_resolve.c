/*
 * The identity planner (daemon/resolve.c), table-driven: what the database knows and a batch
 * of records in, the plan out (which customer each record ends with, the merges, the merges a
 * limit refused). Customers are named C1, C2… (existing, C1 the oldest) and N1, N2… (created by
 * the batch, in creation order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve.h"
#include "testmain.h"

#define MAX_ROWS 40

struct tcase {
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

static void existing_id(int n, char out[RECORD_UUID_LEN + 1])
{
    snprintf(out, RECORD_UUID_LEN + 1, "00000000-0000-7000-8000-%012d", n);
}

/* "C3", "N1", or "?" for an id of customers (existing ids from existing_id, new ones from
 * plan->created). */
static void label(const struct resolve_plan *plan, const char *id, char out[8])
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

static void run_case(const struct tcase *t)
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
        existing_id(c, ids[n_known]);
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
        existing_id(c, count_ids[n_counts]);
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
        existing_id(a, apart_ids[n_apart][0]);
        existing_id(b, apart_ids[n_apart][1]);
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
    assert_int_equal(
        resolve_batch(rp, NULL, n, known, n_known, &facts, any_limit ? &limits : NULL, &plan), 0);
    char got[8];
    for (size_t i = 0; i < n; i++) {
        label(&plan, plan.record_customer[i], got);
        if (strcmp(got, t->expect[i]) != 0) {
            fail_msg("%s: record %zu went to %s, not %s", t->name, i, got, t->expect[i]);
        }
    }
    char merges[512] = "", one[64], a[8], b[8];
    for (size_t m = 0; m < plan.n_merges; m++) {
        for (size_t l = 0; l < plan.merges[m].n_losers; l++) {
            label(&plan, plan.merges[m].losers[l], a);
            label(&plan, plan.merges[m].survivor, b);
            snprintf(one, sizeof(one), "%s>%s", a, b);
            append(merges, sizeof(merges), one);
        }
    }
    if (strcmp(merges, t->merges) != 0) {
        fail_msg("%s: merges \"%s\", not \"%s\"", t->name, merges, t->merges);
    }
    char conflicts[512] = "";
    for (size_t c = 0; c < plan.n_conflicts; c++) {
        label(&plan, plan.conflicts[c].customer, a);
        label(&plan, plan.conflicts[c].other, b);
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

static const struct tcase cases[] = {
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

static void plans(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i]);
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
    assert_int_equal(resolve_batch(rp, NULL, 2, NULL, 0, NULL, NULL, &plan), 0);
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
        cmocka_unit_test(plans),
        cmocka_unit_test(new_identities_name_their_first_record),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
