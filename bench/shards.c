/*
 * bench/shards — how many of the benchmark's records would be single-shard transactions on a
 * distributed PostgreSQL (Citus), for the designs docs/scaling.md weighs.
 *
 * It replays the generator's records (the same mix bench/ingest sends) through an in-memory
 * copy of the identity rules (an identifier belongs to one customer; a record whose
 * identifiers point at two customers merges them into the older one) and counts, for a
 * number of shards, which shards each record's write touches:
 *   - "by id": customers and interactions distributed by a random customer id, identities by
 *     their (kind, value): the record touches its identifiers' shards and its customer's.
 *   - "by first identifier": the same, but a new customer's id is chosen so that it lands on
 *     the shard of the identifier that created it, so that a customer and its first
 *     identifier are co-located.
 * It also counts merges, and those whose two customers live on different shards (a
 * cross-shard merge moves rows between shards).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

struct ident_slot {
    char *key;     /* "kind:value", NULL when free */
    long customer; /* index into customers */
};

struct table {
    struct ident_slot *slots;
    size_t cap, used;
};

struct sim {
    struct table ids;
    long *parent;   /* merged-away customers point at their survivor */
    int *shard_id;  /* "by id": the shard of customer c */
    int *shard_fid; /* "by first identifier" */
    long n_customers, cap_customers;
    int shards;
    uint64_t rng;
    /* Counts. */
    long records, single_id, single_fid, merges, merges_cross_id, merges_cross_fid;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static struct ident_slot *lookup(struct table *t, const char *key)
{
    size_t i = hash_str(key) & (t->cap - 1);
    while (t->slots[i].key != NULL && strcmp(t->slots[i].key, key) != 0) {
        i = (i + 1) & (t->cap - 1);
    }
    return &t->slots[i];
}

static long find(struct sim *s, long c)
{
    while (s->parent[c] != c) {
        s->parent[c] = s->parent[s->parent[c]];
        c = s->parent[c];
    }
    return c;
}

static long new_customer(struct sim *s, const char *first_key)
{
    if (s->n_customers == s->cap_customers) {
        long cap = s->cap_customers * 2;
        long *p = realloc(s->parent, (size_t)cap * sizeof(*p));
        int *a = realloc(s->shard_id, (size_t)cap * sizeof(*a));
        int *b = realloc(s->shard_fid, (size_t)cap * sizeof(*b));
        if (p == NULL || a == NULL || b == NULL) {
            fprintf(stderr, "shards: out of memory\n");
            exit(1);
        }
        s->parent = p;
        s->shard_id = a;
        s->shard_fid = b;
        s->cap_customers = cap;
    }
    long c = s->n_customers++;
    s->parent[c] = c;
    s->shard_id[c] = (int)(next_rand(&s->rng) % (uint64_t)s->shards);
    s->shard_fid[c] = (int)(hash_str(first_key) % (uint64_t)s->shards);
    return c;
}

/* One record: resolves its identifiers, counts the shards its write touches. */
static void replay(struct sim *s, const struct gen_record *r)
{
    char keys[2][100];
    struct ident_slot *slot[2];
    long found[2] = {-1, -1};
    for (int i = 0; i < r->n_ids; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s:%s", r->ids[i].kind, r->ids[i].norm);
        slot[i] = lookup(&s->ids, keys[i]);
        if (slot[i]->key != NULL) {
            found[i] = find(s, slot[i]->customer);
        }
    }
    long c = found[0] >= 0 ? found[0] : found[1];
    if (found[0] >= 0 && found[1] >= 0 && found[0] != found[1]) {
        long a = found[0] < found[1] ? found[0] : found[1]; /* the older survives */
        long b = found[0] < found[1] ? found[1] : found[0];
        s->parent[b] = a;
        c = a;
        s->merges++;
        s->merges_cross_id += s->shard_id[a] != s->shard_id[b];
        s->merges_cross_fid += s->shard_fid[a] != s->shard_fid[b];
    }
    if (c < 0) {
        c = new_customer(s, keys[0]);
    }
    bool one_id = true, one_fid = true;
    for (int i = 0; i < r->n_ids; i++) {
        int ishard = (int)(hash_str(keys[i]) % (uint64_t)s->shards);
        one_id = one_id && ishard == s->shard_id[c];
        one_fid = one_fid && ishard == s->shard_fid[c];
        if (slot[i]->key == NULL) {
            if (s->ids.used * 2 >= s->ids.cap) {
                fprintf(stderr, "shards: identifier table full\n");
                exit(1);
            }
            slot[i]->key = strdup(keys[i]);
            if (slot[i]->key == NULL) {
                fprintf(stderr, "shards: out of memory\n");
                exit(1);
            }
            slot[i]->customer = c;
            s->ids.used++;
        }
    }
    s->records++;
    s->single_id += one_id;
    s->single_fid += one_fid;
}

static double pct(long a, long b)
{
    return b > 0 ? 100.0 * (double)a / (double)b : 0;
}

int main(int argc, char **argv)
{
    enum { OPT_CUSTOMERS = 256, OPT_TWO_IDS };
    static const struct option opts[] = {
        {"records", required_argument, NULL, 'n'},
        {"shards", required_argument, NULL, 's'},
        {"customers", required_argument, NULL, OPT_CUSTOMERS},
        {"two-ids", required_argument, NULL, OPT_TWO_IDS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long records = 1000000, shards = 32;
    struct gen_config cfg = {.run = "shards", .seed = 1, .customers = 100000, .two_ids = 0.2};
    int opt;
    while ((opt = getopt_long(argc, argv, "n:s:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'n':
            bad = gen_parse_long(optarg, 1, 100000000L, &records);
            break;
        case 's':
            bad = gen_parse_long(optarg, 1, 4096, &shards);
            break;
        case OPT_CUSTOMERS:
            bad = gen_parse_long(optarg, 1, 100000000L, &cfg.customers);
            break;
        case OPT_TWO_IDS:
            bad = gen_parse_double(optarg, 0, 1, &cfg.two_ids);
            break;
        case 'h':
            printf("Usage: shards [--records N] [--shards S] [--customers N] [--two-ids SHARE]\n"
                   "Replays the benchmark's records through the identity rules in memory and\n"
                   "prints the share of single-shard record writes and of cross-shard merges\n"
                   "for two ways of distributing the tables (docs/scaling.md).\n");
            return 0;
        default:
            return 2;
        }
        if (bad < 0) {
            fprintf(stderr, "shards: bad value \"%s\"\n", optarg);
            return 2;
        }
    }
    struct sim s = {.shards = (int)shards, .rng = 0x9e3779b97f4a7c15ULL};
    s.ids.cap = 1;
    while (s.ids.cap < (size_t)cfg.customers * 8 + 1024) {
        s.ids.cap <<= 1;
    }
    s.ids.slots = calloc(s.ids.cap, sizeof(*s.ids.slots));
    s.cap_customers = 1024;
    s.parent = malloc((size_t)s.cap_customers * sizeof(*s.parent));
    s.shard_id = malloc((size_t)s.cap_customers * sizeof(*s.shard_id));
    s.shard_fid = malloc((size_t)s.cap_customers * sizeof(*s.shard_fid));
    if (s.ids.slots == NULL || s.parent == NULL || s.shard_id == NULL || s.shard_fid == NULL) {
        fprintf(stderr, "shards: out of memory\n");
        return 1;
    }
    struct gen_record *r = malloc(sizeof(*r));
    if (r == NULL) {
        fprintf(stderr, "shards: out of memory\n");
        return 1;
    }
    for (long i = 0; i < records; i++) {
        gen_record(&cfg, i, r);
        replay(&s, r);
    }
    printf("shards records=%ld customers=%ld two_ids=%.2f shards=%d customers_made=%ld "
           "merges=%ld (%.2f%% of records)\n",
           s.records, cfg.customers, cfg.two_ids, s.shards, s.n_customers, s.merges,
           pct(s.merges, s.records));
    printf("shards by_id single_shard_writes=%.1f%% cross_shard_merges=%.1f%%\n",
           pct(s.single_id, s.records), pct(s.merges_cross_id, s.merges));
    printf("shards by_first_identifier single_shard_writes=%.1f%% cross_shard_merges=%.1f%%\n",
           pct(s.single_fid, s.records), pct(s.merges_cross_fid, s.merges));
    for (size_t i = 0; i < s.ids.cap; i++) {
        free(s.ids.slots[i].key);
    }
    free(s.ids.slots);
    free(s.parent);
    free(s.shard_id);
    free(s.shard_fid);
    free(r);
    return 0;
}
