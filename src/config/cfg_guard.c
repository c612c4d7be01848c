/*
 * cfg_guard.c — the `guard:` section (docs/config-guard.md). Four nested mappings, each read
 * with its own field table; defaults are set before reading so absent keys keep them.
 */
#include "belt_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "config/cfg_guard.h"
#include "util/error.h"

const char *const belt__cfg_guard_pii_actions[] = {"redact", "block", "flag", "none", NULL};
const char *const belt__cfg_guard_inj_actions[] = {"block", "flag", "escalate", "none", NULL};

static belt_status read_sub(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                            const struct belt_cfg_field *f, void *target);
static belt_status read_entities(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target);
static belt_status read_model(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target);

#define G(f) offsetof(struct belt_cfg_guard, f)

static const struct belt_cfg_field source_fields[] = {
    {"threshold", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_guard_source, threshold), 0, 0, 1, NULL,
     NULL},
    {"block_threshold", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_guard_source, block_threshold), 0,
     0, 1, NULL, NULL},
    {"action", BELT_CFG_ENUM, offsetof(struct belt_cfg_guard_source, action), 0, 0, 0,
     belt__cfg_guard_inj_actions, NULL},
    {"model", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, read_model},
};

static const struct belt_cfg_field pii_fields[] = {
    {"entities", BELT_CFG_CUSTOM, offsetof(struct belt_cfg_guard_pii, entities), 0, 0, 0, NULL,
     read_entities},
    {"min_score", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_guard_pii, min_score), 0, 0, 1, NULL,
     NULL},
    {"action", BELT_CFG_ENUM, offsetof(struct belt_cfg_guard_pii, action), 0, 0, 0,
     belt__cfg_guard_pii_actions, NULL},
};

static const struct belt_cfg_field injection_fields[] = {
    {"rules", BELT_CFG_BOOL, offsetof(struct belt_cfg_guard_injection, rules), 0, 0, 0, NULL, NULL},
    {"max_check_len", BELT_CFG_INT, offsetof(struct belt_cfg_guard_injection, max_check_len), 0,
     1024, (double)(1 << 30), NULL, NULL},
    {"user", BELT_CFG_CUSTOM, offsetof(struct belt_cfg_guard_injection, user), 0, 0, 0, NULL,
     read_sub},
    {"third_party", BELT_CFG_CUSTOM, offsetof(struct belt_cfg_guard_injection, third_party), 0, 0,
     0, NULL, read_sub},
};

static const struct belt_cfg_field audit_fields[] = {
    {"key_file", BELT_CFG_PATH, offsetof(struct belt_cfg_guard_audit, key_file), 0, 0, 0, NULL,
     NULL},
    {"key_env", BELT_CFG_STR, offsetof(struct belt_cfg_guard_audit, key_env), 0, 0, 0, NULL, NULL},
    {"checkpoint_every", BELT_CFG_INT, offsetof(struct belt_cfg_guard_audit, checkpoint_every), 0,
     1, 1e9, NULL, NULL},
};

static const struct belt_cfg_field keys_fields[] = {
    {"secret_file", BELT_CFG_PATH, offsetof(struct belt_cfg_guard_keys, secret_file), 0, 0, 0, NULL,
     NULL},
    {"secret_env", BELT_CFG_STR, offsetof(struct belt_cfg_guard_keys, secret_env), 0, 0, 0, NULL,
     NULL},
    {"refresh", BELT_CFG_DURATION, offsetof(struct belt_cfg_guard_keys, refresh_ms), 0, 0, 3600000,
     NULL, NULL},
    {"required", BELT_CFG_BOOL, offsetof(struct belt_cfg_guard_keys, required), 0, 0, 0, NULL,
     NULL},
};

static const struct belt_cfg_field guard_fields[] = {
    {"pii", BELT_CFG_CUSTOM, G(pii), 0, 0, 0, NULL, read_sub},
    {"injection", BELT_CFG_CUSTOM, G(injection), 0, 0, 0, NULL, read_sub},
    {"audit", BELT_CFG_CUSTOM, G(audit), 0, 0, 0, NULL, read_sub},
    {"keys", BELT_CFG_CUSTOM, G(keys), 0, 0, 0, NULL, read_sub},
};

/* The field table of a nested mapping, chosen by its key. */
static int sub_table(const char *key, const struct belt_cfg_field **t, size_t *n)
{
    if (strcmp(key, "pii") == 0) {
        *t = pii_fields;
        *n = BELT_ARRAY_LEN(pii_fields);
    } else if (strcmp(key, "injection") == 0) {
        *t = injection_fields;
        *n = BELT_ARRAY_LEN(injection_fields);
    } else if (strcmp(key, "audit") == 0) {
        *t = audit_fields;
        *n = BELT_ARRAY_LEN(audit_fields);
    } else if (strcmp(key, "keys") == 0) {
        *t = keys_fields;
        *n = BELT_ARRAY_LEN(keys_fields);
    } else if (strcmp(key, "user") == 0 || strcmp(key, "third_party") == 0) {
        *t = source_fields;
        *n = BELT_ARRAY_LEN(source_fields);
    } else {
        return -1;
    }
    return 0;
}

static belt_status read_sub(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                            const struct belt_cfg_field *f, void *target)
{
    const struct belt_cfg_field *t = NULL;
    size_t n = 0;
    struct belt_cfg_mark none = {0, 0};
    if (BELT_NEVER(sub_table(f->key, &t, &n) != 0))
        return belt__cfg_error(rd, none, where, "internal: no table");
    return belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, none), where, t, n,
                              (char *)target + f->offset);
}

static belt_status read_entities(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_field lf = *f;
    lf.type = BELT_CFG_STRLIST;
    belt_status st = belt__cfg_read_value(rd, node, where, &lf, target);
    if (st != BELT_OK)
        return st;
    const struct belt_cfg_strlist *l =
        (const struct belt_cfg_strlist *)((char *)target + f->offset);
    struct belt_cfg_mark none = {0, 0};
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], "all") == 0)
            continue;
        if (belt_pii_entity_parse(l->v[i]) < 0) {
            char known[400] = "all";
            size_t used = 3;
            for (size_t e = 0; e < belt_pii_n_entities(); e++) {
                int w = snprintf(known + used, sizeof(known) - used, ", %s",
                                 belt_pii_entity_name((enum belt_pii_entity)e));
                if (w > 0 && (size_t)w < sizeof(known) - used)
                    used += (size_t)w;
            }
            return belt__cfg_error(rd, belt__cfg_node_mark(node, none), where,
                                   "unknown PII entity '%s' (known: %s)", l->v[i], known);
        }
    }
    return BELT_OK;
}

/* `model: PATH` names the classifier; `model: none` (or false) turns it off. */
static belt_status read_model(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_guard_source *inj = target;
    struct belt_cfg_mark none = {0, 0};
    char *s = belt__cfg_scalar_dup(node);
    if (!s || !*s) {
        belt_free(s);
        return belt__cfg_error(rd, belt__cfg_node_mark(node, none), where,
                               "expected a path to a classifier file, or none");
    }
    BELT_FREE(inj->model);
    inj->model_explicit = 1;
    if (strcmp(s, "none") == 0 || strcmp(s, "false") == 0) {
        belt_free(s);
        return BELT_OK;
    }
    inj->model = belt__cfg_resolve_path(rd, s);
    belt_free(s);
    return inj->model ? BELT_OK : belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
}

/* Non-string defaults; strings left NULL mean "the default" (see belt__cfg_guard_view). */
static void set_defaults(struct belt_cfg_guard *g)
{
    g->pii.min_score = 0.5;
    g->pii.action = 0; /* redact */
    g->injection.rules = 1;
    g->injection.max_check_len = 1 << 20;
    g->injection.user.threshold = -1;
    g->injection.user.block_threshold = -1;
    g->injection.third_party.block_threshold = -1;
    g->injection.user.action = 0; /* block */
    g->injection.third_party.threshold = -1;
    g->injection.third_party.action = 0; /* block */
    g->audit.checkpoint_every = 1000;
    g->keys.refresh_ms = 5000;
    g->keys.required = 1;
}

belt_status belt__cfg_guard_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, struct belt_cfg_guard *out)
{
    set_defaults(out);
    out->present = 1;
    out->mark = mark;
    return belt__cfg_read_map(rd, node, mark, "guard", guard_fields, BELT_ARRAY_LEN(guard_fields),
                              out);
}

static void join(char *out, size_t cap, const char *a, const char *b)
{
    int w = snprintf(out, cap, "%s%s", a, b);
    if (w < 0 || (size_t)w >= cap)
        out[0] = '\0';
}

void belt__cfg_guard_view(const struct belt_cfg_guard *in, const char *config_dir,
                          const char *store_path, struct belt_cfg_guard_view *v)
{
    struct belt_cfg_guard d;
    const struct belt_cfg_guard *g = in;
    if (!in->present) {
        memset(&d, 0, sizeof(d));
        set_defaults(&d);
        g = &d;
    }
    uint32_t all = (1u << belt_pii_n_entities()) - 1;
    v->pii_mask = 0;
    for (size_t i = 0; i < g->pii.entities.n; i++) {
        int e = belt_pii_entity_parse(g->pii.entities.v[i]);
        v->pii_mask |= e >= 0 ? 1u << e : all;
    }
    if (!v->pii_mask)
        v->pii_mask = all & ~(1u << BELT_PII_URL);
    v->pii_min_score = g->pii.min_score;
    static const enum belt_guard_action pii_act[] = {
        BELT_GUARD_ACTION_REDACT, BELT_GUARD_ACTION_BLOCK, BELT_GUARD_ACTION_FLAG,
        BELT_GUARD_ACTION_NONE};
    static const enum belt_guard_action inj_act[] = {
        BELT_GUARD_ACTION_BLOCK, BELT_GUARD_ACTION_FLAG, BELT_GUARD_ACTION_ESCALATE,
        BELT_GUARD_ACTION_NONE};
    v->pii_action = pii_act[g->pii.action];
    const struct belt_cfg_guard_source *src[2] = {&g->injection.user, &g->injection.third_party};
    char *paths[2] = {v->model_user, v->model_third_party};
    int *expl[2] = {&v->model_user_explicit, &v->model_third_party_explicit};
    static const char *const dflt[2] = {"/models/injection-user.belt",
                                        "/models/injection-third-party.belt"};
    for (int i = 0; i < 2; i++) {
        *expl[i] = src[i]->model_explicit;
        if (src[i]->model)
            join(paths[i], sizeof(v->model_user), src[i]->model, "");
        else if (src[i]->model_explicit)
            paths[i][0] = '\0';
        else
            join(paths[i], sizeof(v->model_user), config_dir, dflt[i]);
    }
    v->rules = g->injection.rules;
    v->max_check_len = g->injection.max_check_len;
    v->threshold_user = g->injection.user.threshold;
    v->threshold_third_party = g->injection.third_party.threshold;
    v->block_threshold_user = g->injection.user.block_threshold;
    v->block_threshold_third_party = g->injection.third_party.block_threshold;
    v->action_user = inj_act[g->injection.user.action];
    v->action_third_party = inj_act[g->injection.third_party.action];
    join(v->audit_key_file, sizeof(v->audit_key_file),
         g->audit.key_file ? g->audit.key_file : store_path, g->audit.key_file ? "" : ".audit-key");
    v->audit_key_env = g->audit.key_env ? g->audit.key_env : "BELT_AUDIT_KEY";
    v->checkpoint_every = g->audit.checkpoint_every;
    join(v->keys_secret_file, sizeof(v->keys_secret_file),
         g->keys.secret_file ? g->keys.secret_file : store_path,
         g->keys.secret_file ? "" : ".keys-secret");
    v->keys_secret_env = g->keys.secret_env ? g->keys.secret_env : "BELT_KEYS_SECRET";
    v->refresh_ms = g->keys.refresh_ms;
    v->keys_required = g->keys.required;
}

void belt__cfg_guard_free(struct belt_cfg_guard *g)
{
    belt__cfg_strlist_free(&g->pii.entities);
    BELT_FREE(g->injection.user.model);
    BELT_FREE(g->injection.third_party.model);
    belt__cfg_free_fields(audit_fields, BELT_ARRAY_LEN(audit_fields), &g->audit);
    belt__cfg_free_fields(keys_fields, BELT_ARRAY_LEN(keys_fields), &g->keys);
    memset(g, 0, sizeof(*g));
}
