/*
 * cfg_models.c — the `models:` section (docs/config.md#models). The provider is read first; the
 * rest of the mapping is read with the common fields plus that provider's own table, so a key
 * that belongs to another provider is reported as unknown for this one.
 */
#include "belt_config.h"

#include <string.h>

#include "config/cfg_models.h"
#include "util/error.h"

const char *const belt__provider_names[] = {"local", "openai", "anthropic", "replay", "human",
                                            NULL};

#define M(f) offsetof(struct belt_cfg_model, f)

static belt_status read_price(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target);

static const struct belt_cfg_field common_fields[] = {
    {"provider", BELT_CFG_ENUM, M(provider), 1, 0, 0, belt__provider_names, NULL},
    {"price", BELT_CFG_CUSTOM, M(price), 0, 0, 0, NULL, read_price},
};

static const struct belt_cfg_field local_fields[] = {
    {"path", BELT_CFG_PATH, M(path), 1, 0, 0, NULL, NULL},
    {"threshold", BELT_CFG_DOUBLE, M(threshold), 0, 0, 1, NULL, NULL},
    {"top_k", BELT_CFG_INT, M(top_k), 0, 1, 100, NULL, NULL},
};

static const struct belt_cfg_field price_fields[] = {
    {"input", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_price, input_per_m), 0, 0, 1e6, NULL,
     NULL},
    {"output", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_price, output_per_m), 0, 0, 1e6, NULL,
     NULL},
};

static belt_status read_price(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_mark none = {0, 0};
    return belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, none), where, price_fields,
                              BELT_ARRAY_LEN(price_fields), (char *)target + f->offset);
}

/* Per-provider tables; providers without one accept only the common keys. */
struct provider_table {
    const struct belt_cfg_field *fields;
    size_t n;
};

static struct provider_table provider_table(int provider)
{
    switch (provider) {
    case BELT_PROVIDER_LOCAL:
        return (struct provider_table){local_fields, BELT_ARRAY_LEN(local_fields)};
    default:
        return (struct provider_table){NULL, 0};
    }
}

/* Build the field table for one provider into `out` (room for 32). */
static size_t build_fields(int provider, struct belt_cfg_field *out)
{
    size_t n = 0;
    for (size_t i = 0; i < BELT_ARRAY_LEN(common_fields); i++)
        out[n++] = common_fields[i];
    struct provider_table t = provider_table(provider);
    for (size_t i = 0; i < t.n && n < 32; i++)
        out[n++] = t.fields[i];
    return n;
}

/* Read the provider key alone, so the right table can be chosen. */
static belt_status read_provider(struct belt_cfg_reader *rd, struct fy_node *map,
                                 struct belt_cfg_mark mark, const char *where, int *provider)
{
    struct fy_node *pn = fy_node_mapping_lookup_by_string(map, "provider", (size_t)-1);
    if (!pn)
        return belt__cfg_error(rd, mark, where, "missing required key 'provider'");
    char sub[256];
    struct belt_cfg_field f = common_fields[0];
    f.offset = 0;
    return belt__cfg_read_value(rd, pn, belt__cfg_where(sub, sizeof(sub), where, "provider"), &f,
                                provider);
}

static belt_status parse_one(struct belt_cfg_reader *rd, struct fy_node_pair *pair,
                             struct belt_cfg_model *m)
{
    struct belt_cfg_mark km = belt__cfg_key_mark(pair);
    struct fy_node *v = fy_node_pair_value(pair);
    m->mark = km;
    m->name = belt__cfg_scalar_dup(fy_node_pair_key(pair));
    if (!m->name)
        return belt__cfg_error(rd, km, "models", "model names must be strings");
    char where[256];
    belt__cfg_where(where, sizeof(where), "models", m->name);
    if (!v || !fy_node_is_mapping(v))
        return belt__cfg_error(rd, km, where, "expected a mapping with at least 'provider'");
    m->threshold = 0;
    m->top_k = 5;
    belt_status st = read_provider(rd, v, km, where, &m->provider);
    if (st != BELT_OK)
        return st;
    struct belt_cfg_field fields[32];
    size_t n = build_fields(m->provider, fields);
    return belt__cfg_read_map(rd, v, km, where, fields, n, m);
}

belt_status belt__cfg_models_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_models *out)
{
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, belt__cfg_node_mark(node, mark), "models",
                               "expected a mapping of model names to settings");
    int count = fy_node_mapping_item_count(node);
    out->v = belt_calloc((size_t)(count > 0 ? count : 1), sizeof(*out->v));
    if (!out->v)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    void *it = NULL;
    for (;;) {
        struct fy_node_pair *pair = fy_node_mapping_iterate(node, &it);
        if (!pair)
            break;
        struct belt_cfg_model *m = &out->v[out->n++];
        belt_status st = parse_one(rd, pair, m);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

void belt__cfg_models_free(struct belt_cfg_models *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct belt_cfg_model *m = &ms->v[i];
        struct belt_cfg_field fields[32];
        size_t n = build_fields(m->provider, fields);
        belt__cfg_free_fields(fields, n, m);
        belt_free(m->name);
    }
    BELT_FREE(ms->v);
    ms->n = 0;
}

const struct belt_cfg_model *belt__cfg_models_find(const struct belt_cfg_models *ms,
                                                   const char *name)
{
    for (size_t i = 0; i < ms->n; i++)
        if (strcmp(ms->v[i].name, name) == 0)
            return &ms->v[i];
    return NULL;
}
