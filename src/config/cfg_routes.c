/*
 * cfg_routes.c — the `routes:` section (docs/config-routes.md): reading every policy, its tiers
 * and accept conditions with positioned errors, then resolving names and checking the route
 * graph once all sections are read (belt__cfg_routes_check).
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/cfg_models.h"
#include "config/cfg_routes.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

const char *const belt__route_kind_names[] = {"fixed", "fallback", "balance", "cascade",
                                              "rules", "learned",  NULL};

static const char *const strategy_names[] = {"weighted", "least_latency", NULL};

static const struct belt_cfg_mark no_mark = {0, 0};

#define NOMEM(rd) belt__error_set((rd)->err, BELT_ERR_NOMEM, 0, "out of memory")

/* ---- small readers -------------------------------------------------------------------------- */

/* A scalar name into a target of the given kind (NONE: resolved later as model or route). */
static belt_status read_target_name(struct belt_cfg_reader *rd, struct fy_node *node,
                                    const char *where, enum belt_target_kind kind,
                                    struct belt_cfg_target *t)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_scalar(node))
        return belt__cfg_error(rd, m, where, "expected a model or route name");
    belt_free(t->name);
    t->name = belt__cfg_scalar_dup(node);
    if (!t->name)
        return NOMEM(rd);
    if (!t->name[0])
        return belt__cfg_error(rd, m, where, "the name is empty");
    t->kind = kind;
    t->mark = m;
    return BELT_OK;
}

/* A sequence of names (or one name) into a new target array. */
static belt_status read_target_list(struct belt_cfg_reader *rd, struct fy_node *node,
                                    const char *where, struct belt_cfg_route *r)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    int n = 1;
    if (node && fy_node_is_sequence(node))
        n = fy_node_sequence_item_count(node);
    else if (!node || !fy_node_is_scalar(node))
        return belt__cfg_error(rd, m, where, "expected a list of model or route names");
    if (n < 1)
        return belt__cfg_error(rd, m, where, "the list is empty");
    r->targets = belt_calloc((size_t)n, sizeof(*r->targets));
    if (!r->targets)
        return NOMEM(rd);
    if (fy_node_is_scalar(node)) {
        r->n_targets = 1;
        return read_target_name(rd, node, where, BELT_TARGET_NONE, &r->targets[0]);
    }
    void *it = NULL;
    for (int i = 0; i < n; i++) {
        struct fy_node *item = fy_node_sequence_iterate(node, &it);
        r->n_targets++;
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%d]", where, i);
        belt_status st = read_target_name(rd, item, sub, BELT_TARGET_NONE, &r->targets[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status set_kind(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                            struct belt_cfg_route *r, enum belt_route_kind kind)
{
    if (r->kind_set)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, r->mark), where,
                               "a route has exactly one policy; '%s' was already given",
                               belt__route_kind_names[r->kind]);
    r->kind = kind;
    r->kind_set = 1;
    return BELT_OK;
}

/* ---- accept conditions ---------------------------------------------------------------------- */

static belt_status read_accept_map(struct belt_cfg_reader *rd, struct fy_node *node,
                                   const char *where, struct belt__accept *out);

/* Flags from a list of step names. */
static belt_status read_normalize(struct belt_cfg_reader *rd, struct fy_node *node,
                                  const char *where, unsigned *flags)
{
    struct belt_cfg_strlist l = {0};
    struct belt_cfg_field f = {"normalize", BELT_CFG_STRLIST, 0, 0, 0, 0, NULL, NULL};
    belt_status st = belt__cfg_read_value(rd, node, where, &f, &l);
    *flags = 0;
    for (size_t i = 0; st == BELT_OK && i < l.n; i++) {
        int bit = -1;
        for (int j = 0; belt__norm_names[j]; j++)
            if (strcmp(belt__norm_names[j], l.v[i]) == 0)
                bit = j;
        if (bit < 0)
            st = belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                                 "unknown step '%s' (expected: json, case, space, punct, number, "
                                 "last_number)",
                                 l.v[i]);
        else
            *flags |= 1u << bit;
    }
    belt__cfg_strlist_free(&l);
    return st;
}

static belt_status read_probability(struct belt_cfg_reader *rd, struct fy_node *node,
                                    const char *where, double *out)
{
    struct belt_cfg_field f = {"p", BELT_CFG_DOUBLE, 0, 0, 0, 1, NULL, NULL};
    return belt__cfg_read_value(rd, node, where, &f, out);
}

struct lp_tmp {
    double mean, min, a, b, p; /* NAN when absent */
    int over;                  /* 0 mean, 1 min */
};

static const struct belt_cfg_field lp_fields[] = {
    {"mean", BELT_CFG_DOUBLE, offsetof(struct lp_tmp, mean), 0, -1e9, 0, NULL, NULL},
    {"min", BELT_CFG_DOUBLE, offsetof(struct lp_tmp, min), 0, -1e9, 0, NULL, NULL},
    {"over", BELT_CFG_ENUM, offsetof(struct lp_tmp, over), 0, 0, 0,
     (const char *const[]){"mean", "min", NULL}, NULL},
    {"a", BELT_CFG_DOUBLE, offsetof(struct lp_tmp, a), 0, 0, 0, NULL, NULL},
    {"b", BELT_CFG_DOUBLE, offsetof(struct lp_tmp, b), 0, 0, 0, NULL, NULL},
    {"p", BELT_CFG_DOUBLE, offsetof(struct lp_tmp, p), 0, 0, 1, NULL, NULL},
};

static belt_status acc_logprobs(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                struct belt__accept *c)
{
    struct lp_tmp t = {NAN, NAN, NAN, NAN, NAN, 0};
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where,
                               "expected { mean: X } or { min: X } or { over: mean, a: A, b: B, "
                               "p: P }");
    belt_status st =
        belt__cfg_read_map(rd, node, m, where, lp_fields, BELT_ARRAY_LEN(lp_fields), &t);
    if (st != BELT_OK)
        return st;
    int n_given = !isnan(t.mean) + !isnan(t.min) + !isnan(t.p);
    if (n_given != 1)
        return belt__cfg_error(rd, m, where, "give exactly one of 'mean', 'min' or 'p'");
    c->kind = BELT__ACCEPT_LOGPROBS;
    if (!isnan(t.p)) {
        if (isnan(t.a) || isnan(t.b) || t.a == 0)
            return belt__cfg_error(rd, m, where,
                                   "a calibrated threshold 'p' needs 'a' (non-zero) and 'b'");
        c->lp_calibrated = 1;
        c->lp_a = t.a;
        c->lp_b = t.b;
        c->lp_min = t.over;
        c->threshold = t.p;
        c->swept = 1;
    } else {
        if (!isnan(t.a) || !isnan(t.b))
            return belt__cfg_error(rd, m, where, "'a' and 'b' calibrate 'p'; give 'p' too");
        c->lp_min = !isnan(t.min);
        c->threshold = c->lp_min ? t.min : t.mean;
    }
    return BELT_OK;
}

struct agree_tmp {
    int64_t samples, min; /* 0 when absent */
    char *model;          /* owned */
    struct fy_node *norm; /* borrowed */
};

static belt_status agree_norm(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    (void)rd;
    (void)where;
    ((struct agree_tmp *)((char *)target + f->offset - offsetof(struct agree_tmp, norm)))->norm =
        node;
    return BELT_OK;
}

static const struct belt_cfg_field agree_fields[] = {
    {"samples", BELT_CFG_INT, offsetof(struct agree_tmp, samples), 0, 2, 64, NULL, NULL},
    {"min", BELT_CFG_INT, offsetof(struct agree_tmp, min), 0, 1, 64, NULL, NULL},
    {"model", BELT_CFG_STR, offsetof(struct agree_tmp, model), 0, 0, 0, NULL, NULL},
    {"normalize", BELT_CFG_CUSTOM, offsetof(struct agree_tmp, norm), 0, 0, 0, NULL, agree_norm},
};

static belt_status acc_agree(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             struct belt__accept *c)
{
    struct agree_tmp t = {0, 0, NULL, NULL};
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    belt_status st =
        belt__cfg_read_map(rd, node, m, where, agree_fields, BELT_ARRAY_LEN(agree_fields), &t);
    c->normalize = BELT__NORM_DEFAULT;
    if (st == BELT_OK && t.norm) {
        char sub[256];
        st = read_normalize(rd, t.norm, belt__cfg_where(sub, sizeof(sub), where, "normalize"),
                            &c->normalize);
    }
    if (st == BELT_OK && (t.samples > 0) == (t.model != NULL))
        st = belt__cfg_error(rd, m, where,
                             "give either 'samples' (k answers of this tier's model) or 'model' "
                             "(another model's answer)");
    if (st == BELT_OK && t.model) {
        c->kind = BELT__ACCEPT_PEER;
        c->model_name = t.model;
        t.model = NULL;
        if (t.min)
            st = belt__cfg_error(rd, m, where, "'min' applies to 'samples' only");
    } else if (st == BELT_OK) {
        c->kind = BELT__ACCEPT_SAMPLES;
        c->n_samples = (int)t.samples;
        c->min_agree = t.min ? (int)t.min : (int)t.samples;
        if (c->min_agree > c->n_samples)
            st = belt__cfg_error(rd, m, where, "'min' (%d) cannot exceed 'samples' (%d)",
                                 c->min_agree, c->n_samples);
    }
    belt_free(t.model);
    return st;
}

struct verifier_tmp {
    char *model;  /* owned */
    double score; /* threshold */
    char *prompt; /* owned; NULL: the built-in prompt */
};

static const struct belt_cfg_field verifier_fields[] = {
    {"model", BELT_CFG_STR, offsetof(struct verifier_tmp, model), 1, 0, 0, NULL, NULL},
    {"score", BELT_CFG_DOUBLE, offsetof(struct verifier_tmp, score), 1, 0, 1, NULL, NULL},
    {"prompt", BELT_CFG_STR, offsetof(struct verifier_tmp, prompt), 0, 0, 0, NULL, NULL},
};

static belt_status acc_verifier(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                struct belt__accept *c)
{
    struct verifier_tmp t = {NULL, 0, NULL};
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where, "expected { model: NAME, score: 0.7 }");
    belt_status st = belt__cfg_read_map(rd, node, m, where, verifier_fields,
                                        BELT_ARRAY_LEN(verifier_fields), &t);
    c->kind = BELT__ACCEPT_VERIFIER;
    c->model_name = t.model;
    c->prompt = t.prompt;
    if (st == BELT_OK && t.prompt && !strstr(t.prompt, "{answer}"))
        st = belt__cfg_error(rd, m, where, "prompt: must contain {answer} (and usually {task})");
    c->threshold = t.score;
    c->swept = 1;
    return st;
}

static belt_status acc_confidence(struct belt_cfg_reader *rd, struct fy_node *node,
                                  const char *where, struct belt__accept *c)
{
    c->kind = BELT__ACCEPT_CONFIDENCE;
    c->swept = 1;
    return read_probability(rd, node, where, &c->threshold);
}

static belt_status acc_labels(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              struct belt__accept *c)
{
    c->kind = BELT__ACCEPT_LABELS;
    c->normalize = BELT__NORM_CASE | BELT__NORM_SPACE | BELT__NORM_PUNCT;
    if (node && fy_node_is_scalar(node)) {
        char *s = belt__cfg_scalar_dup(node);
        if (!s)
            return NOMEM(rd);
        int ok = strcmp(s, "from_model") == 0;
        belt_free(s);
        if (!ok)
            return belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                                   "expected a list of labels or 'from_model'");
        c->from_model = 1;
        return BELT_OK;
    }
    struct belt_cfg_strlist l = {0};
    struct belt_cfg_field f = {"labels", BELT_CFG_STRLIST, 0, 0, 0, 0, NULL, NULL};
    belt_status st = belt__cfg_read_value(rd, node, where, &f, &l);
    c->labels = l.v;
    c->n_labels = l.n;
    if (st == BELT_OK && !l.n)
        st = belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                             "the label set is empty");
    return st;
}

static belt_status acc_regex(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             struct belt__accept *c)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    c->kind = BELT__ACCEPT_REGEX;
    c->pattern = belt__cfg_scalar_dup(node);
    if (!node || !fy_node_is_scalar(node))
        return belt__cfg_error(rd, m, where, "expected a regular expression");
    if (!c->pattern)
        return NOMEM(rd);
    char msg[200];
    belt_status st = belt__accept_compile_regex(c, msg, sizeof(msg));
    if (st == BELT_ERR_INVALID)
        return belt__cfg_error(rd, m, where, "invalid regular expression %s", msg);
    return st == BELT_OK ? BELT_OK : NOMEM(rd);
}

struct arith_tmp {
    char *final;        /* owned; NULL: no final-answer check */
    int64_t max_unused; /* -1: not checked */
};

static const struct belt_cfg_field arith_fields[] = {
    {"final", BELT_CFG_STR, offsetof(struct arith_tmp, final), 0, 0, 0, NULL, NULL},
    {"max_unused", BELT_CFG_INT, offsetof(struct arith_tmp, max_unused), 0, 0, 1000, NULL, NULL},
};

/* arithmetic: true | { final: REGEX, max_unused: N } */
static belt_status acc_arithmetic(struct belt_cfg_reader *rd, struct fy_node *node,
                                  const char *where, struct belt__accept *c)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    struct arith_tmp t = {NULL, -1};
    c->kind = BELT__ACCEPT_ARITHMETIC;
    c->max_unused = -1;
    if (node && fy_node_is_scalar(node)) {
        int on = 0;
        struct belt_cfg_field bf = {"arithmetic", BELT_CFG_BOOL, 0, 0, 0, 0, NULL, NULL};
        belt_status st = belt__cfg_read_value(rd, node, where, &bf, &on);
        if (st == BELT_OK && !on)
            st = belt__cfg_error(rd, m, where,
                                 "expected true or { final: REGEX, max_unused: N } (to turn the "
                                 "check off, remove it)");
        return st;
    }
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where, "expected true or { final: REGEX, max_unused: N }");
    belt_status st =
        belt__cfg_read_map(rd, node, m, where, arith_fields, BELT_ARRAY_LEN(arith_fields), &t);
    c->pattern = t.final;
    c->max_unused = (int)t.max_unused;
    if (st != BELT_OK || !c->pattern)
        return st;
    char msg[200], sub[256];
    st = belt__accept_compile_regex(c, msg, sizeof(msg));
    if (st == BELT_ERR_INVALID)
        return belt__cfg_error(rd, m, belt__cfg_where(sub, sizeof(sub), where, "final"),
                               "invalid regular expression %s", msg);
    if (st == BELT_OK && belt__rx_n_groups(c->re) > 1)
        return belt__cfg_error(rd, m, belt__cfg_where(sub, sizeof(sub), where, "final"),
                               "the pattern has %u capture groups; give at most one, around the "
                               "number",
                               belt__rx_n_groups(c->re));
    return st == BELT_OK ? BELT_OK : NOMEM(rd);
}

static belt_status acc_schema(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              struct belt__accept *c)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    c->kind = BELT__ACCEPT_SCHEMA;
    belt_status st;
    if (node && fy_node_is_scalar(node)) {
        char *rel = belt__cfg_scalar_dup(node);
        c->schema_name = rel ? belt__cfg_resolve_path(rd, rel) : NULL;
        belt_free(rel);
        if (!c->schema_name)
            return NOMEM(rd);
        char *text = NULL;
        size_t len = 0;
        struct belt_error e = {0};
        st = belt_file_read_all(c->schema_name, (size_t)4 << 20, &text, &len, &e);
        if (st == BELT_OK)
            st = belt_json_parse(text, len, c->schema_name, 0, &c->schema, &e);
        belt_free(text);
        if (st != BELT_OK)
            return belt__cfg_error(rd, m, where, "cannot read the schema: %s", e.msg);
    } else {
        c->schema_name = belt_strdup("inline");
        if (!c->schema_name)
            return NOMEM(rd);
        st = belt__cfg_to_json(rd, node, where, &c->schema);
        if (st != BELT_OK)
            return st;
    }
    char msg[400];
    st = belt__accept_compile_schema(c, msg, sizeof(msg));
    if (st == BELT_ERR_NOMEM)
        return NOMEM(rd);
    if (st != BELT_OK)
        return belt__cfg_error(rd, m, where, "invalid JSON schema: %s", msg);
    return BELT_OK;
}

/* all: [...] / any: [...] */
static belt_status acc_list(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                            struct belt__accept *c, enum belt__accept_kind kind)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    c->kind = kind;
    if (!node || !fy_node_is_sequence(node) || fy_node_sequence_item_count(node) < 1)
        return belt__cfg_error(rd, m, where, "expected a non-empty list of conditions");
    int n = fy_node_sequence_item_count(node);
    c->kids = belt_calloc((size_t)n, sizeof(*c->kids));
    if (!c->kids)
        return NOMEM(rd);
    void *it = NULL;
    for (int i = 0; i < n; i++) {
        struct fy_node *item = fy_node_sequence_iterate(node, &it);
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%d]", where, i);
        c->n_kids++;
        belt_status st = read_accept_map(rd, item, sub, &c->kids[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status acc_all(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                           struct belt__accept *c)
{
    return acc_list(rd, node, where, c, BELT__ACCEPT_ALL);
}

static belt_status acc_any(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                           struct belt__accept *c)
{
    return acc_list(rd, node, where, c, BELT__ACCEPT_ANY);
}

typedef belt_status acc_fn(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                           struct belt__accept *c);

static const struct {
    const char *key;
    acc_fn *fn;
} acc_keys[] = {
    {"confidence", acc_confidence},
    {"logprobs", acc_logprobs},
    {"agree", acc_agree},
    {"verifier", acc_verifier},
    {"schema", acc_schema},
    {"labels", acc_labels},
    {"regex", acc_regex},
    {"arithmetic", acc_arithmetic},
    {"all", acc_all},
    {"any", acc_any},
};

/* One accept key → one node. */
static belt_status read_accept_key(struct belt_cfg_reader *rd, struct fy_node_pair *pair,
                                   const char *where, struct belt__accept *c)
{
    struct belt_cfg_mark km = belt__cfg_key_mark(pair);
    char *key = belt__cfg_scalar_dup(fy_node_pair_key(pair));
    if (!key)
        return belt__cfg_error(rd, km, where, "keys must be strings");
    char sub[256];
    belt__cfg_where(sub, sizeof(sub), where, key);
    for (size_t i = 0; i < BELT_ARRAY_LEN(acc_keys); i++) {
        if (strcmp(acc_keys[i].key, key) == 0) {
            belt_free(key);
            return acc_keys[i].fn(rd, fy_node_pair_value(pair), sub, c);
        }
    }
    belt_free(key);
    return belt__cfg_error(rd, km, sub,
                           "unknown accept condition (expected one of: confidence, logprobs, "
                           "agree, verifier, schema, labels, regex, arithmetic, all, any)");
}

/* A mapping of conditions; several keys mean all of them must hold. */
static belt_status read_accept_map(struct belt_cfg_reader *rd, struct fy_node *node,
                                   const char *where, struct belt__accept *out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_mapping(node) || fy_node_mapping_item_count(node) < 1)
        return belt__cfg_error(rd, m, where,
                               "expected a mapping of conditions, e.g. "
                               "{ confidence: 0.9 }");
    int n = fy_node_mapping_item_count(node);
    void *it = NULL;
    if (n == 1)
        return read_accept_key(rd, fy_node_mapping_iterate(node, &it), where, out);
    out->kind = BELT__ACCEPT_ALL;
    out->kids = belt_calloc((size_t)n, sizeof(*out->kids));
    if (!out->kids)
        return NOMEM(rd);
    for (int i = 0; i < n; i++) {
        out->n_kids++;
        belt_status st =
            read_accept_key(rd, fy_node_mapping_iterate(node, &it), where, &out->kids[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

/* ---- tiers ---------------------------------------------------------------------------------- */

struct tier_tmp {
    struct belt_cfg_tier *tier; /* being filled */
    int human;                  /* human: true */
};

static belt_status tier_model(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    struct tier_tmp *t = target;
    enum belt_target_kind kind =
        strcmp(f->key, "model") == 0 ? BELT_TARGET_MODEL : BELT_TARGET_ROUTE;
    if (t->tier->target.kind != BELT_TARGET_NONE || t->human)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                               "a tier has one of 'model', 'route' or 'human'");
    return read_target_name(rd, node, where, kind, &t->tier->target);
}

static belt_status tier_accept(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct tier_tmp *t = target;
    t->tier->accept = belt_calloc(1, sizeof(*t->tier->accept));
    if (!t->tier->accept)
        return NOMEM(rd);
    return read_accept_map(rd, node, where, t->tier->accept);
}

static const struct belt_cfg_field tier_fields[] = {
    {"model", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, tier_model},
    {"route", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, tier_model},
    {"human", BELT_CFG_BOOL, offsetof(struct tier_tmp, human), 0, 0, 0, NULL, NULL},
    {"accept", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, tier_accept},
};

static belt_status read_tier(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             struct belt_cfg_tier *tier)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (node && fy_node_is_scalar(node))
        return read_target_name(rd, node, where, BELT_TARGET_NONE, &tier->target);
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where,
                               "expected a model name or { model | route | human, accept }");
    struct tier_tmp t = {tier, 0};
    belt_status st =
        belt__cfg_read_map(rd, node, m, where, tier_fields, BELT_ARRAY_LEN(tier_fields), &t);
    if (st != BELT_OK)
        return st;
    if (t.human) {
        if (tier->target.kind != BELT_TARGET_NONE)
            return belt__cfg_error(rd, m, where, "a tier has one of 'model', 'route' or 'human'");
        tier->target.kind = BELT_TARGET_HUMAN;
        tier->target.mark = m;
        if (tier->accept)
            return belt__cfg_error(rd, m, where, "a human tier has no accept condition");
    } else if (tier->target.kind == BELT_TARGET_NONE) {
        return belt__cfg_error(rd, m, where, "a tier needs 'model', 'route' or 'human: true'");
    }
    return BELT_OK;
}

static belt_status read_tiers(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              struct belt_cfg_route *r)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, r->mark);
    if (!node || !fy_node_is_sequence(node) || fy_node_sequence_item_count(node) < 1)
        return belt__cfg_error(rd, m, where, "expected a non-empty list of tiers");
    int n = fy_node_sequence_item_count(node);
    r->tiers = belt_calloc((size_t)n, sizeof(*r->tiers));
    if (!r->tiers)
        return NOMEM(rd);
    void *it = NULL;
    for (int i = 0; i < n; i++) {
        struct fy_node *item = fy_node_sequence_iterate(node, &it);
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%d]", where, i);
        r->n_tiers++;
        r->tiers[i].target.mark = belt__cfg_node_mark(item, m);
        belt_status st = read_tier(rd, item, sub, &r->tiers[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

/* ---- policies ------------------------------------------------------------------------------- */

static belt_status pol_fixed(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    belt_status st = set_kind(rd, node, where, r, BELT_ROUTE_FIXED);
    if (st != BELT_OK)
        return st;
    if (node && !fy_node_is_scalar(node))
        return belt__cfg_error(rd, belt__cfg_node_mark(node, r->mark), where,
                               "expected one model or route name");
    return read_target_list(rd, node, where, r);
}

static belt_status pol_fallback(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    belt_status st = set_kind(rd, node, where, r, BELT_ROUTE_FALLBACK);
    return st == BELT_OK ? read_target_list(rd, node, where, r) : st;
}

struct balance_tmp {
    struct belt_cfg_route *r; /* being filled */
    int strategy;             /* enum belt_balance_strategy */
};

static belt_status bal_models(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct balance_tmp *b = target;
    return read_target_list(rd, node, where, b->r);
}

static belt_status bal_weights(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = ((struct balance_tmp *)target)->r;
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_sequence(node) || fy_node_sequence_item_count(node) < 1)
        return belt__cfg_error(rd, m, where, "expected a list of positive numbers");
    int n = fy_node_sequence_item_count(node);
    r->weights = belt_calloc((size_t)n, sizeof(double));
    if (!r->weights)
        return NOMEM(rd);
    void *it = NULL;
    struct belt_cfg_field wf = {"w", BELT_CFG_DOUBLE, 0, 0, 0, 1e9, NULL, NULL};
    for (int i = 0; i < n; i++) {
        struct fy_node *item = fy_node_sequence_iterate(node, &it);
        r->n_weights++;
        belt_status st = belt__cfg_read_value(rd, item, where, &wf, &r->weights[i]);
        if (st != BELT_OK)
            return st;
        if (r->weights[i] <= 0)
            return belt__cfg_error(rd, belt__cfg_node_mark(item, m), where, "weights must be > 0");
    }
    return BELT_OK;
}

static const struct belt_cfg_field balance_fields[] = {
    {"models", BELT_CFG_CUSTOM, 0, 1, 0, 0, NULL, bal_models},
    {"weights", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, bal_weights},
    {"strategy", BELT_CFG_ENUM, offsetof(struct balance_tmp, strategy), 0, 0, 0, strategy_names,
     NULL},
};

/* balance: [a, b] (equal weights) or { models, weights, strategy }. */
static belt_status pol_balance(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    belt_status st = set_kind(rd, node, where, r, BELT_ROUTE_BALANCE);
    if (st != BELT_OK)
        return st;
    if (node && !fy_node_is_mapping(node))
        return read_target_list(rd, node, where, r);
    struct balance_tmp b = {r, BELT_BALANCE_WEIGHTED};
    st = belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, r->mark), where, balance_fields,
                            BELT_ARRAY_LEN(balance_fields), &b);
    r->strategy = b.strategy;
    return st;
}

static belt_status pol_cascade(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    belt_status st = set_kind(rd, node, where, r, BELT_ROUTE_CASCADE);
    return st == BELT_OK ? read_tiers(rd, node, where, r) : st;
}

static belt_status learned_tiers(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target)
{
    (void)f;
    return read_tiers(rd, node, where, target);
}

static const struct belt_cfg_field learned_fields[] = {
    {"router", BELT_CFG_PATH, offsetof(struct belt_cfg_route, router_path), 1, 0, 0, NULL, NULL},
    {"target", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_route, target), 0, 0, 1, NULL, NULL},
    {"tiers", BELT_CFG_CUSTOM, 0, 1, 0, 0, NULL, learned_tiers},
    {"cost_weight", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_route, cost_weight), 0, 0, 4, NULL,
     NULL},
};

static belt_status pol_learned(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    belt_status st = set_kind(rd, node, where, r, BELT_ROUTE_LEARNED);
    if (st != BELT_OK)
        return st;
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, belt__cfg_node_mark(node, r->mark), where,
                               "expected { router: FILE, target: 0.8, tiers: [...] }");
    r->target = 0.8;
    st = belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, r->mark), where, learned_fields,
                            BELT_ARRAY_LEN(learned_fields), r);
    if (st == BELT_OK && r->n_tiers < 2)
        st = belt__cfg_error(rd, belt__cfg_node_mark(node, r->mark), where,
                             "a learned route needs at least 2 tiers");
    return st;
}

/* ---- rules ---------------------------------------------------------------------------------- */

static belt_status when_regex(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_rule *rule = target;
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_scalar(node))
        return belt__cfg_error(rd, m, where, "expected a regular expression");
    rule->regex = belt__cfg_scalar_dup(node);
    if (!rule->regex)
        return NOMEM(rd);
    char msg[200];
    belt_status st =
        belt__rx_compile(rule->regex, strlen(rule->regex), 0, 0, &rule->re, msg, sizeof(msg));
    if (st == BELT_ERR_INVALID)
        return belt__cfg_error(rd, m, where, "invalid regular expression %s", msg);
    if (st != BELT_OK)
        return NOMEM(rd);
    rule->rx_pool = belt_calloc(1, sizeof(*rule->rx_pool));
    if (!rule->rx_pool)
        return NOMEM(rd);
    belt__rx_pool_init(rule->rx_pool);
    belt__rx_pool_size_for(rule->rx_pool, rule->re);
    return BELT_OK;
}

#define RL(f) offsetof(struct belt_cfg_rule, f)
static const struct belt_cfg_field when_fields[] = {
    {"stakes", BELT_CFG_STRLIST, RL(stakes), 0, 0, 0, NULL, NULL},
    {"tags", BELT_CFG_STRLIST, RL(tags), 0, 0, 0, NULL, NULL},
    {"key", BELT_CFG_STRLIST, RL(keys), 0, 0, 0, NULL, NULL},
    {"min_input_chars", BELT_CFG_INT, RL(min_input_chars), 0, 0, 1e12, NULL, NULL},
    {"max_input_chars", BELT_CFG_INT, RL(max_input_chars), 0, 0, 1e12, NULL, NULL},
    {"regex", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, when_regex},
};

static belt_status rule_when(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_mapping(node) || fy_node_mapping_item_count(node) < 1)
        return belt__cfg_error(rd, m, where,
                               "expected conditions: stakes, tags, key, min_input_chars, "
                               "max_input_chars, regex");
    return belt__cfg_read_map(rd, node, m, where, when_fields, BELT_ARRAY_LEN(when_fields), target);
}

static belt_status rule_target(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_rule *rule = target;
    if (rule->target.kind != BELT_TARGET_NONE)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                               "a rule sends to one of 'route', 'model' or 'human'");
    if (strcmp(f->key, "human") == 0) {
        int yes = 0;
        struct belt_cfg_field bf = {"human", BELT_CFG_BOOL, 0, 0, 0, 0, NULL, NULL};
        belt_status st = belt__cfg_read_value(rd, node, where, &bf, &yes);
        if (st == BELT_OK && !yes)
            st = belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                                 "'human: false' means nothing; leave it out");
        rule->target.kind = BELT_TARGET_HUMAN;
        rule->target.mark = belt__cfg_node_mark(node, no_mark);
        return st;
    }
    return read_target_name(rd, node, where,
                            strcmp(f->key, "model") == 0 ? BELT_TARGET_MODEL : BELT_TARGET_ROUTE,
                            &rule->target);
}

static belt_status rule_min_tier(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_rule *rule = target;
    struct belt_cfg_field nf = {"min_tier", BELT_CFG_INT, 0, 0, 1, 1000, NULL, NULL};
    char *s = belt__cfg_scalar_dup(node);
    if (!s)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                               "expected a tier number (1 = first) or a tier's model name");
    int numeric = s[0] >= '0' && s[0] <= '9';
    if (numeric) {
        belt_free(s);
        return belt__cfg_read_value(rd, node, where, &nf, &rule->min_tier);
    }
    rule->min_tier_name = s;
    return BELT_OK;
}

static const struct belt_cfg_field rule_fields[] = {
    {"when", BELT_CFG_CUSTOM, 0, 1, 0, 0, NULL, rule_when},
    {"route", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, rule_target},
    {"model", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, rule_target},
    {"human", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, rule_target},
    {"min_tier", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, rule_min_tier},
};

static belt_status read_rule(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             struct belt_cfg_rule *rule)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    rule->mark = m;
    rule->max_input_chars = -1;
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where,
                               "expected { when: {...}, route | model | human | "
                               "min_tier }");
    belt_status st =
        belt__cfg_read_map(rd, node, m, where, rule_fields, BELT_ARRAY_LEN(rule_fields), rule);
    if (st == BELT_OK && rule->target.kind == BELT_TARGET_NONE && !rule->min_tier &&
        !rule->min_tier_name)
        st = belt__cfg_error(rd, m, where,
                             "a rule needs an action: route, model, human or "
                             "min_tier");
    if (st == BELT_OK && rule->target.kind == BELT_TARGET_HUMAN &&
        (rule->min_tier || rule->min_tier_name))
        st = belt__cfg_error(rd, m, where, "'human' and 'min_tier' do not combine");
    return st;
}

static belt_status pol_rules(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    belt_status st = set_kind(rd, node, where, r, BELT_ROUTE_RULES);
    if (st != BELT_OK)
        return st;
    struct belt_cfg_mark m = belt__cfg_node_mark(node, r->mark);
    if (!node || !fy_node_is_sequence(node) || fy_node_sequence_item_count(node) < 1)
        return belt__cfg_error(rd, m, where, "expected a non-empty list of rules");
    int n = fy_node_sequence_item_count(node);
    r->rules = belt_calloc((size_t)n, sizeof(*r->rules));
    if (!r->rules)
        return NOMEM(rd);
    void *it = NULL;
    for (int i = 0; i < n; i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%d]", where, i);
        r->n_rules++;
        st = read_rule(rd, fy_node_sequence_iterate(node, &it), sub, &r->rules[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status route_default(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    return read_target_name(rd, node, where, BELT_TARGET_NONE, &r->dflt);
}

static const struct belt_cfg_field budget_fields[] = {
    {"max_cost_usd", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_route, max_cost_usd), 0, 0, 1e6,
     NULL, NULL},
    {"max_latency", BELT_CFG_DURATION, offsetof(struct belt_cfg_route, max_latency_ms), 0, 0, 864e5,
     NULL, NULL},
};

static belt_status route_budget(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    return belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, r->mark), where, budget_fields,
                              BELT_ARRAY_LEN(budget_fields), r);
}

/* guard: { user, third_party, pii, canary } — each an action name. */
static const struct belt_cfg_field guard_fields[] = {
    {"user", BELT_CFG_ENUM, offsetof(struct belt_cfg_route_guard, user), 0, 0, 0,
     (const char *const[]){"none", "flag", "block", "escalate", NULL}, NULL},
    {"third_party", BELT_CFG_ENUM, offsetof(struct belt_cfg_route_guard, third_party), 0, 0, 0,
     (const char *const[]){"none", "flag", "block", "escalate", NULL}, NULL},
    {"pii", BELT_CFG_ENUM, offsetof(struct belt_cfg_route_guard, pii), 0, 0, 0,
     (const char *const[]){"none", "flag", "block", "escalate", "redact", NULL}, NULL},
    {"canary", BELT_CFG_ENUM, offsetof(struct belt_cfg_route_guard, canary), 0, 0, 0,
     (const char *const[]){"none", "flag", "block", NULL}, NULL},
};

static belt_status route_guard(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_route *r = target;
    struct belt_cfg_route_guard *g = &r->guard;
    g->set = 1;
    g->user = g->third_party = g->pii = g->canary = -1;
    belt_status st = belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, r->mark), where,
                                        guard_fields, BELT_ARRAY_LEN(guard_fields), g);
    struct belt_cfg_mark m = belt__cfg_node_mark(node, r->mark);
    if (st == BELT_OK && g->pii == 3) /* the names index enum belt_guard_action */
        st = belt__cfg_error(rd, m, where, "pii: expected redact, block, flag or none");
    return st;
}

static const struct belt_cfg_field route_fields[] = {
    {"fixed", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, pol_fixed},
    {"fallback", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, pol_fallback},
    {"balance", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, pol_balance},
    {"cascade", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, pol_cascade},
    {"rules", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, pol_rules},
    {"default", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, route_default},
    {"learned", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, pol_learned},
    {"budget", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, route_budget},
    {"guard", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, route_guard},
    {"description", BELT_CFG_STR, offsetof(struct belt_cfg_route, description), 0, 0, 0, NULL,
     NULL},
};

static belt_status parse_route(struct belt_cfg_reader *rd, struct fy_node_pair *pair,
                               struct belt_cfg_route *r)
{
    struct belt_cfg_mark km = belt__cfg_key_mark(pair);
    struct fy_node *v = fy_node_pair_value(pair);
    r->mark = km;
    r->name = belt__cfg_scalar_dup(fy_node_pair_key(pair));
    if (!r->name)
        return belt__cfg_error(rd, km, "routes", "route names must be strings");
    char where[256];
    belt__cfg_where(where, sizeof(where), "routes", r->name);
    if (!v || !fy_node_is_mapping(v))
        return belt__cfg_error(rd, km, where,
                               "expected a mapping with one policy: fixed, fallback, balance, "
                               "cascade, rules or learned");
    belt_status st =
        belt__cfg_read_map(rd, v, km, where, route_fields, BELT_ARRAY_LEN(route_fields), r);
    if (st != BELT_OK)
        return st;
    if (!r->kind_set)
        return belt__cfg_error(rd, km, where,
                               "missing a policy: fixed, fallback, balance, cascade, rules or "
                               "learned");
    if (r->kind == BELT_ROUTE_RULES && !r->dflt.name)
        return belt__cfg_error(rd, km, where,
                               "a rules route needs 'default' (where tasks no rule matches go)");
    if (r->kind != BELT_ROUTE_RULES && r->dflt.name)
        return belt__cfg_error(rd, r->dflt.mark, where, "'default' belongs to rules routes");
    return BELT_OK;
}

static belt_status parse_entry(struct belt_cfg_reader *rd, struct fy_node_pair *pair, void *r)
{
    return parse_route(rd, pair, r);
}

belt_status belt__cfg_routes_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_routes *out)
{
    return belt__cfg_parse_named(rd, node, mark, "routes", "route names to policies",
                                 sizeof(*out->v), (void **)&out->v, &out->n, parse_entry);
}

/* ---- freeing -------------------------------------------------------------------------------- */

static void free_rule(struct belt_cfg_rule *rule)
{
    belt__cfg_strlist_free(&rule->stakes);
    belt__cfg_strlist_free(&rule->tags);
    belt__cfg_strlist_free(&rule->keys);
    belt_free(rule->regex);
    if (rule->re)
        pcre2_code_free(rule->re);
    if (rule->rx_pool) {
        belt__rx_pool_deinit(rule->rx_pool);
        belt_free(rule->rx_pool);
    }
    belt_free(rule->target.name);
    belt_free(rule->min_tier_name);
}

static void free_route(struct belt_cfg_route *r)
{
    belt_free(r->name);
    belt_free(r->description);
    for (size_t i = 0; i < r->n_targets; i++)
        belt_free(r->targets[i].name);
    belt_free(r->targets);
    belt_free(r->weights);
    for (size_t i = 0; i < r->n_tiers; i++) {
        belt_free(r->tiers[i].target.name);
        belt__accept_free(r->tiers[i].accept);
    }
    belt_free(r->tiers);
    for (size_t i = 0; i < r->n_rules; i++)
        free_rule(&r->rules[i]);
    belt_free(r->rules);
    belt_free(r->dflt.name);
    belt_free(r->router_path);
}

void belt__cfg_routes_free(struct belt_cfg_routes *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        free_route(&rs->v[i]);
    BELT_FREE(rs->v);
    rs->n = 0;
}

const struct belt_cfg_route *belt__cfg_routes_find(const struct belt_cfg_routes *rs,
                                                   const char *name, size_t *index_out)
{
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->v[i].name, name) == 0) {
            if (index_out)
                *index_out = i;
            return &rs->v[i];
        }
    }
    return NULL;
}
