/*
 * model.h — runtime model objects built from the `models:` configuration: for each model its
 * provider ops, price, reliability settings, resolved fallback chain and deployments; for each
 * deployment its endpoint URL, the prebuilt header list (API key read from the environment
 * variable named in the config, never from the file), its weight and its circuit breaker.
 *
 * Thread rule: a belt__models set is built once by the engine and is read-only afterwards,
 * except each deployment's breaker, which is guarded by the deployment's mutex (calls on any
 * loop thread update it). API keys live only in the header lists and are never logged.
 */
#ifndef BELT_MODEL_MODEL_H
#define BELT_MODEL_MODEL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "config/config.h"
#include "model/provider.h"
#include "model/reliability.h"

struct belt__deployment {
    char *name;                  /* label in traces and metrics; owned */
    char *base_url;              /* without trailing slash; owned */
    char *model_id;              /* model name sent upstream; owned */
    char *key_env;               /* environment variable of the key (for messages), or NULL */
    int has_key;                 /* the key variable was set (or none is configured) */
    struct curl_slist *headers;  /* immutable after build; shared read-only by all transfers */
    double weight;               /* relative share of traffic */
    size_t index;                /* position within its model */
    pthread_mutex_t lock;        /* guards breaker */
    struct belt_breaker breaker; /* per-deployment health */
};

struct belt__model {
    const struct belt_cfg_model *cfg;    /* borrowed from the config (outlives the engine) */
    const char *name;                    /* cfg->name */
    const struct belt_provider_ops *ops; /* provider */
    size_t index;                        /* position in the set (metrics shards) */
    struct belt__deployment *deps;       /* owned array (remote providers) */
    size_t n_deps;                       /* count (0 for local) */
    size_t *chain;                       /* owned: this model then its fallbacks (indices) */
    size_t n_chain;                      /* count, >= 1 */
    void *local;                         /* local provider state (classifier), owned */
    void *replay;                        /* replay provider state (model/replay.c), owned */
};

struct belt__models {
    struct belt__model *v; /* owned array, same order as the config */
    size_t n;              /* count */
};

/* Build the runtime set from the configuration (borrowed; must outlive the set). A model whose
 * key variable is unset is built anyway (calls to it fail with BELT_ERR_AUTH naming the
 * variable) and a warning is logged. Local models load their classifier file here. */
belt_status belt__models_build(const struct belt_config *cfg, struct belt__models *out,
                               struct belt_error *err);
void belt__models_free(struct belt__models *ms);
/* The model called `name`, or NULL. */
struct belt__model *belt__models_find(const struct belt__models *ms, const char *name);

/* Breaker access under the deployment's lock. */
int belt__deployment_allow(struct belt__deployment *d, int64_t now_us, int *is_probe);
int belt__deployment_would_allow(struct belt__deployment *d, int64_t now_us);
void belt__deployment_record(struct belt__deployment *d, int failed, int64_t now_us);
void belt__deployment_release(struct belt__deployment *d, int was_probe);
/* Current breaker state (enum belt_breaker_state) and times opened, for metrics. */
int belt__deployment_state(struct belt__deployment *d, int64_t *n_opened);

#endif
