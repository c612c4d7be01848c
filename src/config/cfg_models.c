/*
 * cfg_models.c — the `models:` section (docs/config.md#models). The provider is read first; the
 * rest of the mapping is read with the common fields plus that provider's own table, so a key
 * that belongs to another provider is reported as unknown for this one.
 */
#include "belt_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_models.h"
#include "util/error.h"

const char *const belt__provider_names[] = {"local",  "openai", "anthropic",
                                            "replay", "human",  NULL};

#define M(f) offsetof(struct belt_cfg_model, f)

static belt_status read_price(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target);
static belt_status read_headers(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target);
static belt_status read_deployments(struct belt_cfg_reader *rd, struct fy_node *node,
                                    const char *where, const struct belt_cfg_field *f,
                                    void *target);
static belt_status read_breaker(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target);

static const struct belt_cfg_field common_fields[] = {
    {"provider", BELT_CFG_ENUM, M(provider), 1, 0, 0, belt__provider_names, NULL},
    {"price", BELT_CFG_CUSTOM, M(price), 0, 0, 0, NULL, read_price},
    {"trusted", BELT_CFG_BOOL, M(trusted), 0, 0, 0, NULL, NULL},
};

static const struct belt_cfg_field local_fields[] = {
    {"path", BELT_CFG_PATH, M(path), 1, 0, 0, NULL, NULL},
    {"threshold", BELT_CFG_DOUBLE, M(threshold), 0, 0, 1, NULL, NULL},
    {"top_k", BELT_CFG_INT, M(top_k), 0, 1, 100, NULL, NULL},
};

/* provider: replay — answers from recorded outcomes (model/replay.h). Without a path the model
 * only serves offline evaluation, which names the file itself (belt eval --replay). */
static const struct belt_cfg_field replay_fields[] = {
    {"path", BELT_CFG_PATH, M(path), 0, 0, 0, NULL, NULL},
    {"model", BELT_CFG_STR, M(model), 0, 0, 0, NULL, NULL},
};

/* Keys shared by the remote providers (openai, anthropic). */
#define REMOTE_FIELDS                                                                              \
    {"base_url", BELT_CFG_STR, M(base_url), 0, 0, 0, NULL, NULL},                                  \
        {"model", BELT_CFG_STR, M(model), 0, 0, 0, NULL, NULL},                                    \
        {"api_key_env", BELT_CFG_STR, M(api_key_env), 0, 0, 0, NULL, NULL},                        \
        {"headers", BELT_CFG_CUSTOM, M(headers), 0, 0, 0, NULL, read_headers},                     \
        {"timeout", BELT_CFG_DURATION, M(timeout_ms), 0, 1, 86400000, NULL, NULL},                 \
        {"connect_timeout", BELT_CFG_DURATION, M(connect_timeout_ms), 0, 1, 600000, NULL, NULL},   \
        {"retries", BELT_CFG_INT, M(retries), 0, 0, 10, NULL, NULL},                               \
        {"backoff", BELT_CFG_DURATION, M(backoff_ms), 0, 0, 600000, NULL, NULL},                   \
        {"backoff_max", BELT_CFG_DURATION, M(backoff_max_ms), 0, 0, 3600000, NULL, NULL},          \
        {"fallbacks", BELT_CFG_STRLIST, M(fallbacks), 0, 0, 0, NULL, NULL},                        \
        {"deployments", BELT_CFG_CUSTOM, M(deployments), 0, 0, 0, NULL, read_deployments},         \
    {                                                                                              \
        "breaker", BELT_CFG_CUSTOM, M(breaker), 0, 0, 0, NULL, read_breaker                        \
    }

/* An http:// or https:// URL with a host, or an error at the `base_url` value in map (or at
 * `fallback` when the value came from an environment variable). */
static belt_status check_base_url(struct belt_cfg_reader *rd, struct fy_node *map,
                                  struct belt_cfg_mark fallback, const char *where, const char *url)
{
    if (!url)
        return BELT_OK;
    const char *rest = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    if (rest && *rest && *rest != '/' && !strpbrk(url, " \t\r\n"))
        return BELT_OK;
    struct fy_node *v = map ? fy_node_mapping_lookup_by_string(map, "base_url", (size_t)-1) : NULL;
    char w[300];
    snprintf(w, sizeof(w), "%s.base_url", where);
    return belt__cfg_error(rd, belt__cfg_node_mark(v, fallback), w,
                           "'%s' is not an http:// or https:// URL with a host", url);
}

/* base_url_env / model_env: environment variables that, when set and not empty, replace
 * base_url / model (applied after the mapping is read, whatever the key order), so one config
 * runs against OpenAI, a compatible server or a local Ollama. */
static belt_status read_env_name(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target)
{
    (void)f;
    (void)target;
    char *s = fy_node_is_scalar(node) ? belt__cfg_scalar_dup(node) : NULL;
    int ok = s && *s;
    for (const char *c = s; ok && *c; c++)
        ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '_' ||
             (c != s && *c >= '0' && *c <= '9');
    belt_free(s);
    if (!ok)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, (struct belt_cfg_mark){0, 0}), where,
                               "expected an environment variable name");
    return BELT_OK;
}

static belt_status apply_env(struct belt_cfg_reader *rd, struct fy_node *map, const char *key,
                             char **dst)
{
    char *name = belt__cfg_scalar_dup(fy_node_mapping_lookup_by_string(map, key, (size_t)-1));
    const char *v = name ? getenv(name) : NULL;
    belt_free(name);
    if (!v || !*v)
        return BELT_OK;
    char *copy = belt_strdup(v);
    if (!copy)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_free(*dst);
    *dst = copy;
    return BELT_OK;
}

static const struct belt_cfg_field openai_fields[] = {
    REMOTE_FIELDS,
    {"base_url_env", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, read_env_name},
    {"model_env", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, read_env_name},
};

static const struct belt_cfg_field anthropic_fields[] = {
    REMOTE_FIELDS,
    {"api_version", BELT_CFG_STR, M(api_version), 0, 0, 0, NULL, NULL},
    {"max_tokens", BELT_CFG_INT, M(max_tokens), 0, 1, 1e7, NULL, NULL},
};

#define D(f) offsetof(struct belt_cfg_deployment, f)
static const struct belt_cfg_field deployment_fields[] = {
    {"name", BELT_CFG_STR, D(name), 0, 0, 0, NULL, NULL},
    {"base_url", BELT_CFG_STR, D(base_url), 0, 0, 0, NULL, NULL},
    {"api_key_env", BELT_CFG_STR, D(api_key_env), 0, 0, 0, NULL, NULL},
    {"model", BELT_CFG_STR, D(model), 0, 0, 0, NULL, NULL},
    {"headers", BELT_CFG_CUSTOM, D(headers), 0, 0, 0, NULL, read_headers},
    {"weight", BELT_CFG_DOUBLE, D(weight), 0, 0, 1e6, NULL, NULL},
};

#define B(f) offsetof(struct belt_cfg_breaker, f)
static const struct belt_cfg_field breaker_fields[] = {
    {"failures", BELT_CFG_INT, B(failures), 0, 0, 1000, NULL, NULL},
    {"cooldown", BELT_CFG_DURATION, B(cooldown_ms), 0, 1, 86400000, NULL, NULL},
};

static const struct belt_cfg_field price_fields[] = {
    {"input", BELT_CFG_DOUBLE, offsetof(struct belt_cfg_price, input_per_m), 0, 0, 1e6, NULL, NULL},
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

/* `headers:` — a mapping of header names to string values. Names must be tokens; values may
 * not contain line breaks (header injection). */
static belt_status read_headers(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_mark none = {0, 0};
    struct belt_cfg_mark m = belt__cfg_node_mark(node, none);
    json_t **dst = (json_t **)((char *)target + f->offset);
    json_t *obj = NULL;
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where, "expected a mapping of header names to values");
    belt_status st = belt__cfg_to_json(rd, node, where, &obj);
    if (st != BELT_OK)
        return st;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int bad_name = !*k || strpbrk(k, " \t\r\n:()<>@,;\\\"/[]?={}") != NULL;
        if (bad_name || !json_is_string(v) || strpbrk(json_string_value(v), "\r\n")) {
            belt_status st2 =
                belt__cfg_error(rd, m, where,
                                bad_name ? "'%s' is not a valid header name"
                                         : "the value of '%s' must be a one-line string",
                                k);
            json_decref(obj); /* after the message: k points into obj */
            return st2;
        }
    }
    json_decref(*dst);
    *dst = obj;
    return BELT_OK;
}

static belt_status read_breaker(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_mark none = {0, 0};
    return belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, none), where, breaker_fields,
                              BELT_ARRAY_LEN(breaker_fields), (char *)target + f->offset);
}

static void deployments_free(struct belt_cfg_model *m)
{
    for (size_t i = 0; i < m->n_deployments; i++) {
        belt__cfg_free_fields(deployment_fields, BELT_ARRAY_LEN(deployment_fields),
                              &m->deployments[i]);
        json_decref(m->deployments[i].headers);
    }
    BELT_FREE(m->deployments);
    m->n_deployments = 0;
}

/* `deployments:` — a non-empty list of mappings; weights default to 1 and may not all be 0. */
static belt_status read_deployments(struct belt_cfg_reader *rd, struct fy_node *node,
                                    const char *where, const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_model *m = (struct belt_cfg_model *)target;
    struct belt_cfg_mark none = {0, 0};
    struct belt_cfg_mark mark = belt__cfg_node_mark(node, none);
    (void)f;
    if (!node || !fy_node_is_sequence(node) || fy_node_sequence_item_count(node) < 1)
        return belt__cfg_error(rd, mark, where, "expected a non-empty list of deployments");
    deployments_free(m);
    int count = fy_node_sequence_item_count(node);
    m->deployments = belt_calloc((size_t)count, sizeof(*m->deployments));
    if (!m->deployments)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    double total = 0;
    void *it = NULL;
    for (int i = 0; i < count; i++) {
        struct fy_node *item = fy_node_sequence_iterate(node, &it);
        struct belt_cfg_deployment *d = &m->deployments[m->n_deployments++];
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%d]", where, i);
        d->weight = 1;
        d->mark = belt__cfg_node_mark(item, mark);
        if (!item || !fy_node_is_mapping(item))
            return belt__cfg_error(rd, d->mark, sub, "expected a mapping (base_url, model, ...)");
        belt_status st = belt__cfg_read_map(rd, item, d->mark, sub, deployment_fields,
                                            BELT_ARRAY_LEN(deployment_fields), d);
        if (st == BELT_OK)
            st = check_base_url(rd, item, d->mark, sub, d->base_url);
        if (st != BELT_OK)
            return st;
        total += d->weight;
    }
    if (total <= 0)
        return belt__cfg_error(rd, mark, where, "at least one deployment needs a weight above 0");
    return BELT_OK;
}

int belt__provider_is_remote(int provider)
{
    return provider == BELT_PROVIDER_OPENAI || provider == BELT_PROVIDER_ANTHROPIC;
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
    case BELT_PROVIDER_OPENAI:
        return (struct provider_table){openai_fields, BELT_ARRAY_LEN(openai_fields)};
    case BELT_PROVIDER_ANTHROPIC:
        return (struct provider_table){anthropic_fields, BELT_ARRAY_LEN(anthropic_fields)};
    case BELT_PROVIDER_REPLAY:
        return (struct provider_table){replay_fields, BELT_ARRAY_LEN(replay_fields)};
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

/* Defaults of the keys every provider has, and of the remote ones. */
static void remote_defaults(struct belt_cfg_model *m)
{
    m->trusted = m->provider == BELT_PROVIDER_LOCAL;
    m->max_tokens = 4096;
    m->timeout_ms = 60000;
    m->connect_timeout_ms = 10000;
    m->retries = 2;
    m->backoff_ms = 250;
    m->backoff_max_ms = 10000;
    m->breaker.failures = 5;
    m->breaker.cooldown_ms = 30000;
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
    remote_defaults(m);
    struct belt_cfg_field fields[32];
    size_t n = build_fields(m->provider, fields);
    st = belt__cfg_read_map(rd, v, km, where, fields, n, m);
    if (st == BELT_OK && m->provider == BELT_PROVIDER_OPENAI)
        st = apply_env(rd, v, "base_url_env", &m->base_url);
    if (st == BELT_OK && m->provider == BELT_PROVIDER_OPENAI)
        st = apply_env(rd, v, "model_env", &m->model);
    if (st == BELT_OK && belt__provider_is_remote(m->provider))
        st = check_base_url(rd, v, km, where, m->base_url);
    return st;
}

static belt_status parse_entry(struct belt_cfg_reader *rd, struct fy_node_pair *pair, void *m)
{
    return parse_one(rd, pair, m);
}

belt_status belt__cfg_models_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_models *out)
{
    return belt__cfg_parse_named(rd, node, mark, "models", "model names to settings",
                                 sizeof(*out->v), (void **)&out->v, &out->n, parse_entry);
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
        json_decref(m->headers);
        deployments_free(m);
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

/* Depth-first search for a fallback cycle starting at model index i. state: 0 new, 1 on the
 * current path, 2 done. */
static int fallback_cycle(const struct belt_cfg_models *ms, size_t i, unsigned char *state)
{
    if (state[i] == 1)
        return 1;
    if (state[i] == 2)
        return 0;
    state[i] = 1;
    const struct belt_cfg_strlist *fb = &ms->v[i].fallbacks;
    for (size_t j = 0; j < fb->n; j++) {
        const struct belt_cfg_model *t = belt__cfg_models_find(ms, fb->v[j]);
        if (t && fallback_cycle(ms, (size_t)(t - ms->v), state))
            return 1;
    }
    state[i] = 2;
    return 0;
}

belt_status belt__cfg_models_check(struct belt_cfg_reader *rd, const struct belt_cfg_models *ms)
{
    char where[256];
    for (size_t i = 0; i < ms->n; i++) {
        const struct belt_cfg_model *m = &ms->v[i];
        belt__cfg_where(where, sizeof(where), "models", m->name);
        for (size_t j = 0; j < m->fallbacks.n; j++) {
            const char *fb = m->fallbacks.v[j];
            if (strcmp(fb, m->name) == 0)
                return belt__cfg_error(rd, m->mark, where, "a model cannot be its own fallback");
            if (!belt__cfg_models_find(ms, fb))
                return belt__cfg_error(rd, m->mark, where, "fallback '%s' is not a model", fb);
        }
    }
    unsigned char *state = belt_calloc(ms->n ? ms->n : 1, 1);
    if (!state)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_status st = BELT_OK;
    for (size_t i = 0; i < ms->n && st == BELT_OK; i++) {
        memset(state, 0, ms->n);
        if (fallback_cycle(ms, i, state))
            st = belt__cfg_error(rd, ms->v[i].mark,
                                 belt__cfg_where(where, sizeof(where), "models", ms->v[i].name),
                                 "fallbacks form a cycle");
    }
    belt_free(state);
    return st;
}
