/*
 * Unit tests of daemon/resolve, the identity planner, table-driven as pgbouncer tests hba.c:
 * each case is what the database knows (identifiers and their customers) and a batch of
 * records in, and the plan out (each record's customer, the customers created, the merges).
 * Customers are named by letters: A, B, C... exist already (their ids sort in that order);
 * n1, n2... are created by the batch, in that order (ids from a counter, newer than any
 * existing one), as the planner's injected id generator makes them.
 */
#include "testmain.h"

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
    assert_int_equal(resolve_batch(recs, NULL, n, known, n_known, &env, &plan), 0);
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
        .merges = {"Z>A=A", "Y>A=A", "X>A=A", "W>A=A", "V>A=A", "U>A=A", "T>A=A", "S>A=A", "R>A=A",
                   "Q>A=A", "P>A=A", "O>A=A", "N>A=A", "M>A=A", "L>A=A", "K>A=A", "J>A=A", "I>A=A",
                   "H>A=A", "G>A=A", "F>A=A", "E>A=A", "D>A=A", "C>A=A", "B>A=A"},
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
    assert_int_equal(resolve_batch(recs, NULL, 2, known, 1, &env, &plan), 0);
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
    assert_int_equal(resolve_batch(recs, skip, 3, NULL, 0, &env, &plan), 0);
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plans_match_the_table),
        cmocka_unit_test(new_identifiers_point_at_final_customers),
        cmocka_unit_test(skipped_records_names_and_traits),
    };
    return testmain_run(argc, argv, tests, NULL, NULL);
}
