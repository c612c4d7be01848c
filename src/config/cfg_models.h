/*
 * cfg_models.h — the `models:` section: every model a task can be sent to, by name.
 * A model has a provider (local classifier, OpenAI-compatible or Anthropic endpoint, replay of
 * recorded answers, or a person) and a price. Provider-specific keys are read by per-provider
 * field tables in cfg_models.c.
 */
#ifndef BELT_CFG_MODELS_H
#define BELT_CFG_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "config/reader.h"

/* Append-only; the names are the config values of `provider:`. */
enum belt_provider_kind {
    BELT_PROVIDER_LOCAL = 0,     /* in-process classifier file ("local") */
    BELT_PROVIDER_OPENAI = 1,    /* any OpenAI-compatible endpoint ("openai") */
    BELT_PROVIDER_ANTHROPIC = 2, /* Anthropic Messages API ("anthropic") */
    BELT_PROVIDER_REPLAY = 3,    /* recorded outcomes ("replay") */
    BELT_PROVIDER_HUMAN = 4      /* the review queue ("human") */
};

/* Names indexed by enum belt_provider_kind, NULL-terminated. */
extern const char *const belt__provider_names[];

struct belt_cfg_price {
    double input_per_m;  /* USD per 1M input tokens */
    double output_per_m; /* USD per 1M output tokens */
};

/* One endpoint serving a remote model (`deployments:` items; a model without that key has one
 * deployment made of its own base_url / api_key_env / model / headers). */
struct belt_cfg_deployment {
    char *name;                /* label in traces and metrics (default "<model>#<i>") */
    char *base_url;            /* endpoint base URL (default: the model's) */
    char *api_key_env;         /* environment variable with the API key (default: the model's) */
    char *model;               /* model id sent upstream (default: the model's) */
    json_t *headers;           /* extra headers, JSON object of strings, merged over the model's */
    double weight;             /* share of traffic relative to the others (default 1) */
    struct belt_cfg_mark mark; /* position of the item */
};

/* Circuit breaker of each deployment. */
struct belt_cfg_breaker {
    int64_t failures;    /* consecutive failures that open the breaker (default 5; 0 = never) */
    int64_t cooldown_ms; /* time open before one probe request is let through (default 30s) */
};

struct belt_cfg_model {
    char *name;                  /* the key under models: */
    int provider;                /* enum belt_provider_kind */
    struct belt_cfg_mark mark;   /* position of the name */
    struct belt_cfg_price price; /* 0 for local models */
    int trusted;                 /* may raw PII be sent to it (default: 1 local, 0 otherwise) */
    /* provider: local (and replay: path = the outcomes file, model = the recorded name) */
    char *path;       /* model file (resolved) */
    double threshold; /* abstain below this confidence; 0 = never */
    int64_t top_k;    /* labels reported with each answer */
    /* providers: openai, anthropic (remote) */
    char *base_url;                          /* endpoint base URL (provider default when absent) */
    char *model;                             /* model id sent upstream (default: the name) */
    char *api_key_env;                       /* environment variable holding the API key, or NULL */
    json_t *headers;                         /* extra request headers (JSON object of strings) */
    char *api_version;                       /* anthropic-version header (default 2023-06-01) */
    int64_t max_tokens;                      /* anthropic: max_tokens when a request has none */
    int64_t timeout_ms;                      /* deadline of one attempt (default 60s) */
    int64_t connect_timeout_ms;              /* TCP/TLS connect deadline (default 10s) */
    int64_t retries;                         /* extra attempts on retryable errors (default 2) */
    int64_t backoff_ms;                      /* first retry delay before jitter (default 250ms) */
    int64_t backoff_max_ms;                  /* cap of the retry delay (default 10s) */
    struct belt_cfg_strlist fallbacks;       /* models tried in order when this one fails */
    struct belt_cfg_deployment *deployments; /* owned array (NULL: derived from the above) */
    size_t n_deployments;                    /* count */
    struct belt_cfg_breaker breaker;         /* breaker: */
};

struct belt_cfg_models {
    struct belt_cfg_model *v; /* owned array */
    size_t n;                 /* count */
};

belt_status belt__cfg_models_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_models *out);
void belt__cfg_models_free(struct belt_cfg_models *m);
/* Cross-checks after every section is read: fallbacks name existing models other than the
 * model itself, without cycles. */
belt_status belt__cfg_models_check(struct belt_cfg_reader *rd, const struct belt_cfg_models *m);
/* 1 for providers that call a remote endpoint (openai, anthropic). */
int belt__provider_is_remote(int provider);
/* The model called `name`, or NULL. */
const struct belt_cfg_model *belt__cfg_models_find(const struct belt_cfg_models *m,
                                                   const char *name);

#endif
