#include "resolve.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A customer as the plan sees it: one the database has, or one this batch creates. */
struct node {
    int parent; /* union-find: merged into parent; itself when a root */
    bool existing;
    size_t order; /* new: creation order within the batch */
    const char *id;
    char new_id[RECORD_UUID_LEN + 1];
    const char *name;
    json_t *traits;
    int count[IDENT_KIND_COUNT]; /* identifiers it holds, by kind (for the limits) */
};

struct slot {
    const char *kind; /* kind name, static */
    const char *value;
    int node;
    bool known;    /* the database has it */
    size_t record; /* new: the record that brought it */
};

struct priv {
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    struct slot *table;
    size_t table_cap;
    const char **losers; /* storage for merge loser lists */
    int *loser_nodes;
    const char **finals; /* the customer each loser ends in */
    size_t n_losers, cap_losers;
    int (*apart)[2]; /* nodes of the pairs kept apart (facts) */
    size_t n_apart;
    int (*conflict_nodes)[2]; /* (customer, other) of each conflict, ids read at the end */
};

static uint64_t hash_ident(const char *kind, const char *value)
{
    /* FNV-1a over "kind:value". */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = kind; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    h = (h ^ ':') * 1099511628211ULL;
    for (const char *p = value; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    return h;
}

/* Finds the slot of an identifier, or the empty slot where it would go. */
static struct slot *lookup(struct priv *p, const char *kind, const char *value)
{
    size_t mask = p->table_cap - 1;
    size_t i = (size_t)hash_ident(kind, value) & mask;
    for (;;) {
        struct slot *s = &p->table[i];
        if (s->kind == NULL || (s->kind == kind && strcmp(s->value, value) == 0)) {
            return s;
        }
        i = (i + 1) & mask;
    }
}

static int find(struct priv *p, int x)
{
    while (p->nodes[x].parent != x) {
        p->nodes[x].parent = p->nodes[p->nodes[x].parent].parent;
        x = p->nodes[x].parent;
    }
    return x;
}

static int add_node(struct priv *p, bool existing, const char *id, size_t order)
{
    if (p->n_nodes == p->cap_nodes) {
        size_t cap = p->cap_nodes ? p->cap_nodes * 2 : 64;
        struct node *n = realloc(p->nodes, cap * sizeof(*n));
        if (n == NULL) {
            return -1;
        }
        p->nodes = n;
        p->cap_nodes = cap;
    }
    int idx = (int)p->n_nodes++;
    struct node *nd = &p->nodes[idx];
    memset(nd, 0, sizeof(*nd));
    nd->parent = idx;
    nd->existing = existing;
    nd->order = order;
    if (existing) {
        nd->id = id;
    } else {
        record_uuid7(nd->new_id);
        nd->id = NULL; /* set when the array stops moving */
    }
    return idx;
}

/* True when customer a was created before customer b. */
static bool older(const struct priv *p, int a, int b)
{
    const struct node *na = &p->nodes[a], *nb = &p->nodes[b];
    if (na->existing != nb->existing) {
        return na->existing;
    }
    return na->existing ? strcmp(na->id, nb->id) < 0 : na->order < nb->order;
}

static const char *node_id(struct priv *p, int x)
{
    struct node *nd = &p->nodes[x];
    return nd->existing ? nd->id : nd->new_id;
}

static int push_loser(struct priv *p, const char *id, int node)
{
    if (p->n_losers == p->cap_losers) {
        size_t cap = p->cap_losers ? p->cap_losers * 2 : 16;
        const char **l = realloc(p->losers, cap * sizeof(*l));
        if (l != NULL) {
            p->losers = l;
        }
        int *ln = realloc(p->loser_nodes, cap * sizeof(*ln));
        if (ln != NULL) {
            p->loser_nodes = ln;
        }
        if (l == NULL || ln == NULL) {
            return -1;
        }
        p->cap_losers = cap;
    }
    p->loser_nodes[p->n_losers] = node;
    p->losers[p->n_losers++] = id;
    return 0;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 64;
    while (c < n) {
        c *= 2;
    }
    return c;
}

void resolve_plan_free(struct resolve_plan *plan)
{
    struct priv *p = plan->priv;
    if (p != NULL) {
        for (size_t i = 0; i < p->n_nodes; i++) {
            json_decref(p->nodes[i].traits);
        }
        free(p->nodes);
        free(p->table);
        free(p->losers);
        free(p->loser_nodes);
        free(p->finals);
        free(p->apart);
        free(p->conflict_nodes);
        free(p);
    }
    for (size_t i = 0; i < plan->n_created; i++) {
        free(plan->created[i].traits_json);
    }
    for (size_t i = 0; i < plan->n_updates; i++) {
        free(plan->updates[i].traits_json);
    }
    free(plan->record_customer);
    free(plan->created);
    free(plan->merges);
    free(plan->updates);
    free(plan->identities);
    free(plan->conflicts);
    memset(plan, 0, sizeof(*plan));
}

/* True when the customers rooted at x and y hold a pair kept apart. */
static bool kept_apart(struct priv *p, int x, int y)
{
    for (size_t k = 0; k < p->n_apart; k++) {
        int a = find(p, p->apart[k][0]), b = find(p, p->apart[k][1]);
        if ((a == x && b == y) || (a == y && b == x)) {
            return true;
        }
    }
    return false;
}

/* Sets the identifier counts of the existing customers facts knows. */
static void load_counts(struct priv *p, const struct resolve_facts *facts)
{
    if (facts == NULL) {
        return;
    }
    for (size_t k = 0; k < facts->n_counts; k++) {
        const struct resolve_count *c = &facts->counts[k];
        for (size_t x = 0; x < p->n_nodes; x++) {
            if (p->nodes[x].existing && (unsigned)c->kind < IDENT_KIND_COUNT &&
                strcmp(p->nodes[x].id, c->customer) == 0) {
                p->nodes[x].count[c->kind] = c->n;
                break;
            }
        }
    }
}

/*
 * Whether merging roots[0..n) (with the record's identifiers not yet known, new[]) would give
 * one customer more identifiers of a kind than its limit, where the merge itself adds some
 * (a customer already past a limit alone is not a conflict). Returns the kind, or -1.
 */
static int over_limit(const struct priv *p, const struct resolve_limits *limits, const int *roots,
                      size_t n, const int new[IDENT_KIND_COUNT], int *would)
{
    if (limits == NULL || n < 2) {
        return -1;
    }
    for (int k = 0; k < IDENT_KIND_COUNT; k++) {
        if (limits->max[k] <= 0) {
            continue;
        }
        int sum = new[k], most = 0;
        for (size_t j = 0; j < n; j++) {
            int c = p->nodes[roots[j]].count[k];
            sum += c;
            most = c > most ? c : most;
        }
        if (sum > limits->max[k] && sum - new[k] > most) {
            *would = sum;
            return k;
        }
    }
    return -1;
}

/* The root the record's most trusted identifier (by limits->priority, then record order)
 * points to, among those it reaches. */
static int trusted_root(struct priv *p, const struct resolve_limits *limits, const struct record *r)
{
    for (int pr = 0; pr < IDENT_KIND_COUNT; pr++) {
        for (size_t k = 0; k < r->n_idents; k++) {
            if (r->idents[k].kind != limits->priority[pr] || r->idents[k].never_merge) {
                continue;
            }
            struct slot *s = lookup(p, normalize_kind_name(r->idents[k].kind), r->idents[k].value);
            if (s->kind != NULL) {
                return find(p, s->node);
            }
        }
    }
    return -1;
}

/* The pairs of facts whose two customers are both among the nodes. */
static int load_apart(struct priv *p, const struct resolve_facts *facts)
{
    if (facts == NULL || facts->n_apart == 0) {
        return 0;
    }
    p->apart = calloc(facts->n_apart, sizeof(*p->apart));
    if (p->apart == NULL) {
        return -1;
    }
    for (size_t k = 0; k < facts->n_apart; k++) {
        int a = -1, b = -1;
        for (size_t x = 0; x < p->n_nodes; x++) {
            if (!p->nodes[x].existing) {
                continue;
            }
            a = strcmp(p->nodes[x].id, facts->apart[k].a) == 0 ? (int)x : a;
            b = strcmp(p->nodes[x].id, facts->apart[k].b) == 0 ? (int)x : b;
        }
        if (a >= 0 && b >= 0) {
            p->apart[p->n_apart][0] = a;
            p->apart[p->n_apart][1] = b;
            p->n_apart++;
        }
    }
    return 0;
}

int resolve_batch(struct record *const *recs, const bool *skip, size_t n,
                  const struct resolve_known *known, size_t n_known,
                  const struct resolve_facts *facts, const struct resolve_limits *limits,
                  struct resolve_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    struct priv *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    plan->priv = p;
    size_t n_idents = n_known;
    for (size_t i = 0; i < n; i++) {
        n_idents += recs[i]->n_idents;
    }
    p->table_cap = pow2_at_least(n_idents * 2 + 1);
    p->table = calloc(p->table_cap, sizeof(*p->table));
    int *rec_node = calloc(n + 1, sizeof(*rec_node));
    plan->record_customer = calloc(n + 1, sizeof(*plan->record_customer));
    plan->merges = calloc(n + 1, sizeof(*plan->merges));
    size_t *merge_first = calloc(n + 1, sizeof(*merge_first));
    if (p->table == NULL || rec_node == NULL || plan->record_customer == NULL ||
        plan->merges == NULL || merge_first == NULL) {
        goto fail;
    }

    /* What the database knows; each existing customer becomes one node. */
    for (size_t k = 0; k < n_known; k++) {
        const char *kname = normalize_kind_name(known[k].kind);
        struct slot *s = lookup(p, kname, known[k].value);
        if (s->kind != NULL) {
            continue;
        }
        /* known is sorted by customer: a new customer starts a new node. */
        int node = -1;
        if (k > 0 && strcmp(known[k - 1].customer, known[k].customer) == 0) {
            node = (int)p->n_nodes - 1;
        }
        if (node < 0 && (node = add_node(p, true, known[k].customer, 0)) < 0) {
            goto fail;
        }
        s->kind = kname;
        s->value = known[k].value;
        s->node = node;
        s->known = true;
    }

    if (load_apart(p, facts) < 0) {
        goto fail;
    }
    load_counts(p, facts);
    plan->conflicts = calloc(n + 1, sizeof(*plan->conflicts) * RECORD_MAX_IDENTS);
    p->conflict_nodes = calloc(n + 1, sizeof(*p->conflict_nodes) * RECORD_MAX_IDENTS);
    if (plan->conflicts == NULL || p->conflict_nodes == NULL) {
        goto fail;
    }

    size_t next_order = 0;
    for (size_t i = 0; i < n; i++) {
        rec_node[i] = -1;
        if (skip != NULL && skip[i]) {
            continue;
        }
        const struct record *r = recs[i];
        /* Customers reached through identifiers that may merge; the oldest survives. */
        int roots[RECORD_MAX_IDENTS];
        size_t nroots = 0;
        bool any_mergeable = false;
        for (size_t k = 0; k < r->n_idents; k++) {
            if (r->idents[k].never_merge) {
                continue;
            }
            any_mergeable = true;
            struct slot *s = lookup(p, normalize_kind_name(r->idents[k].kind), r->idents[k].value);
            if (s->kind == NULL) {
                continue;
            }
            int root = find(p, s->node);
            bool seen = false;
            for (size_t j = 0; j < nroots; j++) {
                seen = seen || roots[j] == root;
            }
            if (!seen) {
                roots[nroots++] = root;
            }
        }
        if (nroots == 0 && !any_mergeable) {
            /* Only shared identifiers: attach to whoever already has one. */
            for (size_t k = 0; k < r->n_idents; k++) {
                struct slot *s =
                    lookup(p, normalize_kind_name(r->idents[k].kind), r->idents[k].value);
                if (s->kind != NULL) {
                    int root = find(p, s->node);
                    if (nroots == 0 || older(p, root, roots[0])) {
                        roots[0] = root;
                        nroots = 1;
                    }
                }
            }
        }
        int survivor;
        if (nroots == 0) {
            survivor = add_node(p, false, NULL, next_order++);
            if (survivor < 0) {
                goto fail;
            }
        } else {
            /* Oldest first: the survivor, then each customer in turn unless it is kept apart
             * from those taken before it. */
            for (size_t j = 1; j < nroots; j++) {
                for (size_t k = j; k > 0 && older(p, roots[k], roots[k - 1]); k--) {
                    int t = roots[k];
                    roots[k] = roots[k - 1];
                    roots[k - 1] = t;
                }
            }
            /* Those kept apart from an older one stay out. */
            size_t kept = 1;
            for (size_t j = 1; j < nroots; j++) {
                bool apart = false;
                for (size_t t = 0; t < kept && !apart; t++) {
                    apart = kept_apart(p, roots[j], roots[t]);
                }
                if (!apart) {
                    roots[kept++] = roots[j];
                }
            }
            nroots = kept;
            int new_ids[IDENT_KIND_COUNT] = {0};
            for (size_t k = 0; k < r->n_idents; k++) {
                if (lookup(p, normalize_kind_name(r->idents[k].kind), r->idents[k].value)->kind ==
                    NULL) {
                    new_ids[r->idents[k].kind]++;
                }
            }
            int would = 0;
            int kind = over_limit(p, limits, roots, nroots, new_ids, &would);
            if (kind >= 0) {
                /* Refused: the record goes to its most trusted identifier's customer. */
                int target = trusted_root(p, limits, r);
                target = target >= 0 ? target : roots[0];
                for (size_t j = 0; j < nroots; j++) {
                    if (roots[j] == target) {
                        continue;
                    }
                    struct resolve_conflict *c = &plan->conflicts[plan->n_conflicts];
                    c->record = i;
                    c->kind = (enum ident_kind)kind;
                    c->would_have = would;
                    p->conflict_nodes[plan->n_conflicts][0] = target;
                    p->conflict_nodes[plan->n_conflicts][1] = roots[j];
                    plan->n_conflicts++;
                }
                roots[0] = target;
                nroots = 1;
            }
            survivor = roots[0];
            size_t first = p->n_losers;
            for (size_t j = 1; j < nroots; j++) {
                for (int k = 0; k < IDENT_KIND_COUNT; k++) {
                    p->nodes[survivor].count[k] += p->nodes[roots[j]].count[k];
                }
                p->nodes[roots[j]].parent = survivor;
                /* Customers this batch created never reach the database as such. */
                if (p->nodes[roots[j]].existing &&
                    push_loser(p, p->nodes[roots[j]].id, roots[j]) < 0) {
                    goto fail;
                }
            }
            if (p->n_losers > first) {
                struct resolve_merge *m = &plan->merges[plan->n_merges];
                m->record = i;
                m->survivor = p->nodes[survivor].id;
                m->n_losers = p->n_losers - first;
                merge_first[plan->n_merges] = first;
                plan->n_merges++;
            }
        }
        for (size_t k = 0; k < r->n_idents; k++) {
            struct slot *s = lookup(p, normalize_kind_name(r->idents[k].kind), r->idents[k].value);
            if (s->kind == NULL) {
                s->kind = normalize_kind_name(r->idents[k].kind);
                s->value = r->idents[k].value;
                s->node = survivor;
                s->known = false;
                s->record = i;
                p->nodes[survivor].count[r->idents[k].kind]++;
            }
        }
        rec_node[i] = survivor;
    }
    /* Loser lists point into p->losers, which no longer moves. */
    p->finals = calloc(p->n_losers + 1, sizeof(*p->finals));
    if (p->finals == NULL) {
        goto fail;
    }
    for (size_t l = 0; l < p->n_losers; l++) {
        p->finals[l] = node_id(p, find(p, p->loser_nodes[l]));
    }
    for (size_t m = 0; m < plan->n_merges; m++) {
        plan->merges[m].losers = &p->losers[merge_first[m]];
        plan->merges[m].finals = &p->finals[merge_first[m]];
    }
    /* Conflicts name the customers as they are when the batch commits. */
    size_t kept = 0;
    for (size_t c = 0; c < plan->n_conflicts; c++) {
        int a = find(p, p->conflict_nodes[c][0]), b = find(p, p->conflict_nodes[c][1]);
        if (a == b) {
            continue; /* a later record of the batch joined them after all */
        }
        plan->conflicts[kept] = plan->conflicts[c];
        plan->conflicts[kept].customer = node_id(p, a);
        plan->conflicts[kept].other = node_id(p, b);
        kept++;
    }
    plan->n_conflicts = kept;

    /* Names and traits, in record order, onto the customer each record ends with. */
    for (size_t i = 0; i < n; i++) {
        if (rec_node[i] < 0) {
            continue;
        }
        struct node *nd = &p->nodes[find(p, rec_node[i])];
        const struct record *r = recs[i];
        if (r->name != NULL) {
            nd->name = r->name;
        }
        if (r->traits_json != NULL) {
            json_t *t = json_loads(r->traits_json, 0, NULL);
            if (t == NULL) {
                goto fail;
            }
            if (nd->traits == NULL) {
                nd->traits = t;
            } else {
                json_object_update(nd->traits, t);
                json_decref(t);
            }
        }
        plan->record_customer[i] = node_id(p, find(p, rec_node[i]));
    }

    plan->created = calloc(p->n_nodes + 1, sizeof(*plan->created));
    plan->updates = calloc(p->n_nodes + 1, sizeof(*plan->updates));
    plan->identities = calloc(n_idents + 1, sizeof(*plan->identities));
    if (plan->created == NULL || plan->updates == NULL || plan->identities == NULL) {
        goto fail;
    }
    for (size_t x = 0; x < p->n_nodes; x++) {
        struct node *nd = &p->nodes[x];
        if (find(p, (int)x) != (int)x) {
            continue;
        }
        char *traits = NULL;
        if (nd->traits != NULL && (traits = json_dumps(nd->traits, JSON_COMPACT)) == NULL) {
            goto fail;
        }
        if (!nd->existing) {
            struct resolve_new_customer *c = &plan->created[plan->n_created++];
            c->id = nd->new_id;
            c->name = nd->name;
            c->traits_json = traits;
        } else if (nd->name != NULL || traits != NULL) {
            struct resolve_update *u = &plan->updates[plan->n_updates++];
            u->id = nd->id;
            u->name = nd->name;
            u->traits_json = traits;
        }
    }
    for (size_t t = 0; t < p->table_cap; t++) {
        struct slot *s = &p->table[t];
        if (s->kind == NULL || s->known) {
            continue;
        }
        struct resolve_identity *id = &plan->identities[plan->n_identities++];
        if (normalize_kind_parse(s->kind, &id->kind) < 0) {
            goto fail;
        }
        id->value = s->value;
        id->customer = node_id(p, find(p, s->node));
        id->record = s->record;
    }
    free(rec_node);
    free(merge_first);
    return 0;
fail:
    free(rec_node);
    free(merge_first);
    resolve_plan_free(plan);
    return -1;
}
