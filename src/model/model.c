/*
 * model.c — building the runtime model set from the configuration (see model.h): resolve
 * fallback chains, derive deployments, read API keys from the environment and prebuild each
 * deployment's immutable header list.
 */
#include "belt_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/local.h"
#include "model/model.h"
#include "model/replay.h"
#include "util/error.h"
#include "util/log.h"

static const char *default_base_url(int provider)
{
    return provider == BELT_PROVIDER_ANTHROPIC ? "https://api.anthropic.com/v1"
                                               : "https://api.openai.com/v1";
}

static const struct belt_provider_ops *ops_for(int provider)
{
    switch (provider) {
    case BELT_PROVIDER_OPENAI:
        return &belt__provider_openai;
    case BELT_PROVIDER_ANTHROPIC:
        return &belt__provider_anthropic;
    case BELT_PROVIDER_LOCAL:
        return &belt__provider_local;
    case BELT_PROVIDER_REPLAY:
        return &belt__provider_replay;
    default:
        return NULL;
    }
}

/* Append "Name: value" to *list; returns 0 on allocation failure. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[8192];
    int w = snprintf(line, sizeof(line), "%s: %s", name, value);
    if (w < 0 || (size_t)w >= sizeof(line))
        return 0;
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return 0;
    *list = n;
    return 1;
}

/* Append a raw header line ("Expect:" disables curl's own header). */
static int add_raw(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return 0;
    *list = n;
    return 1;
}

/* Header list of one deployment: content type, empty Expect, auth from the environment,
 * provider headers, then the model's and the deployment's extra headers. */
static belt_status build_headers(const struct belt_cfg_model *cm, const json_t *dep_headers,
                                 struct belt__deployment *d, struct belt_error *err)
{
    int ok = add_header(&d->headers, "Content-Type", "application/json");
    ok = ok && add_raw(&d->headers, "Expect:");
    const char *key = d->key_env ? getenv(d->key_env) : NULL;
    d->has_key = !d->key_env || (key && *key);
    if (key && *key) {
        if (cm->provider == BELT_PROVIDER_ANTHROPIC) {
            ok = ok && add_header(&d->headers, "x-api-key", key);
        } else {
            char bearer[8200];
            snprintf(bearer, sizeof(bearer), "Bearer %s", key);
            ok = ok && add_header(&d->headers, "Authorization", bearer);
        }
    }
    if (cm->provider == BELT_PROVIDER_ANTHROPIC)
        ok = ok && add_header(&d->headers, "anthropic-version",
                              cm->api_version ? cm->api_version : "2023-06-01");
    const json_t *sets[2] = {cm->headers, dep_headers};
    for (size_t s = 0; s < 2; s++) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)sets[s], k, v)
        {
            ok = ok && add_header(&d->headers, k, json_string_value(v));
        }
    }
    if (!ok)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory building headers");
    return BELT_OK;
}

static char *strip_slash_dup(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return belt_strndup(url, n);
}

static belt_status build_deployment(const struct belt_cfg_model *cm,
                                    const struct belt_cfg_deployment *cd, size_t i,
                                    struct belt__deployment *d, struct belt_error *err)
{
    d->index = i;
    const char *base = cd && cd->base_url ? cd->base_url : cm->base_url;
    const char *model = cd && cd->model ? cd->model : cm->model;
    const char *env = cd && cd->api_key_env ? cd->api_key_env : cm->api_key_env;
    char label[256];
    if (cd && cd->name)
        snprintf(label, sizeof(label), "%s", cd->name);
    else if (!cd)
        snprintf(label, sizeof(label), "%s", cm->name);
    else
        snprintf(label, sizeof(label), "%s#%zu", cm->name, i);
    d->name = belt_strdup(label);
    d->base_url = strip_slash_dup(base ? base : default_base_url(cm->provider));
    d->model_id = belt_strdup(model ? model : cm->name);
    d->key_env = env ? belt_strdup(env) : NULL;
    d->weight = cd ? cd->weight : 1.0;
    if (!d->name || !d->base_url || !d->model_id || (env && !d->key_env))
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (pthread_mutex_init(&d->lock, NULL) != 0)
        return belt__error_set(err, BELT_ERR_INTERNAL, 0, "pthread_mutex_init failed");
    belt__breaker_init(&d->breaker, cm->breaker.failures, cm->breaker.cooldown_ms);
    belt_status st = build_headers(cm, cd ? cd->headers : NULL, d, err);
    if (st == BELT_OK && !d->has_key)
        BELT_LOG_W("model %s (%s): environment variable %s is not set; calls will fail", cm->name,
                   d->name, d->key_env);
    return st;
}

static void deployment_free(struct belt__deployment *d)
{
    if (d->name)
        pthread_mutex_destroy(&d->lock);
    curl_slist_free_all(d->headers);
    belt_free(d->name);
    belt_free(d->base_url);
    belt_free(d->model_id);
    belt_free(d->key_env);
}

static belt_status build_model(const struct belt_config *cfg, size_t idx, struct belt__model *m,
                               const struct belt__models *built, struct belt_error *err)
{
    const struct belt_cfg_model *cm = &cfg->models.v[idx];
    m->cfg = cm;
    m->name = cm->name;
    m->index = idx;
    m->ops = ops_for(cm->provider);
    m->chain = belt_calloc(1 + cm->fallbacks.n, sizeof(size_t));
    if (!m->chain)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    m->chain[m->n_chain++] = idx;
    for (size_t i = 0; i < cm->fallbacks.n; i++) {
        const struct belt_cfg_model *f = belt__cfg_models_find(&cfg->models, cm->fallbacks.v[i]);
        if (f)
            m->chain[m->n_chain++] = (size_t)(f - cfg->models.v);
    }
    if (!m->ops)
        return BELT_OK; /* human: served by the route layer; calls report unsupported */
    if (cm->provider == BELT_PROVIDER_LOCAL)
        return belt__local_open(cm, &m->local, err);
    if (cm->provider == BELT_PROVIDER_REPLAY)
        return belt__replay_model_open(cm, built, &m->replay, err);
    size_t n = cm->n_deployments ? cm->n_deployments : 1;
    m->deps = belt_calloc(n, sizeof(*m->deps));
    if (!m->deps)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        belt_status st = build_deployment(cm, cm->n_deployments ? &cm->deployments[i] : NULL, i,
                                          &m->deps[i], err);
        m->n_deps++;
        if (st != BELT_OK)
            return belt__error_prefix(err, "model %s: ", cm->name);
    }
    return BELT_OK;
}

belt_status belt__models_build(const struct belt_config *cfg, struct belt__models *out,
                               struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    size_t n = cfg->models.n;
    out->v = belt_calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        out->n++;
        belt_status st = build_model(cfg, i, &out->v[i], out, err);
        if (st != BELT_OK) {
            belt__models_free(out);
            return st;
        }
    }
    return BELT_OK;
}

void belt__models_free(struct belt__models *ms)
{
    if (!ms || !ms->v)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct belt__model *m = &ms->v[i];
        for (size_t j = 0; j < m->n_deps; j++)
            deployment_free(&m->deps[j]);
        belt_free(m->deps);
        belt_free(m->chain);
        belt__local_close(m->local);
        belt__replay_model_close(m->replay);
    }
    BELT_FREE(ms->v);
    ms->n = 0;
}

struct belt__model *belt__models_find(const struct belt__models *ms, const char *name)
{
    for (size_t i = 0; i < ms->n; i++)
        if (strcmp(ms->v[i].name, name) == 0)
            return &ms->v[i];
    return NULL;
}

int belt__deployment_allow(struct belt__deployment *d, int64_t now_us, int *is_probe)
{
    pthread_mutex_lock(&d->lock);
    int ok = belt__breaker_allow(&d->breaker, now_us, is_probe);
    pthread_mutex_unlock(&d->lock);
    return ok;
}

int belt__deployment_would_allow(struct belt__deployment *d, int64_t now_us)
{
    pthread_mutex_lock(&d->lock);
    int ok = belt__breaker_would_allow(&d->breaker, now_us);
    pthread_mutex_unlock(&d->lock);
    return ok;
}

void belt__deployment_record(struct belt__deployment *d, int failed, int64_t now_us)
{
    pthread_mutex_lock(&d->lock);
    belt__breaker_record(&d->breaker, failed, now_us);
    pthread_mutex_unlock(&d->lock);
}

void belt__deployment_release(struct belt__deployment *d, int was_probe)
{
    pthread_mutex_lock(&d->lock);
    belt__breaker_release(&d->breaker, was_probe);
    pthread_mutex_unlock(&d->lock);
}

int belt__deployment_state(struct belt__deployment *d, int64_t *n_opened)
{
    pthread_mutex_lock(&d->lock);
    int s = d->breaker.state;
    if (n_opened)
        *n_opened = d->breaker.n_opened;
    pthread_mutex_unlock(&d->lock);
    return s;
}
