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

struct belt_cfg_model {
    char *name;                /* the key under models: */
    int provider;              /* enum belt_provider_kind */
    struct belt_cfg_mark mark; /* position of the name */
    struct belt_cfg_price price; /* 0 for local models */
    /* provider: local */
    char *path;       /* model file (resolved) */
    double threshold; /* abstain below this confidence; 0 = never */
    int64_t top_k;    /* labels reported with each answer */
};

struct belt_cfg_models {
    struct belt_cfg_model *v; /* owned array */
    size_t n;                 /* count */
};

belt_status belt__cfg_models_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_models *out);
void belt__cfg_models_free(struct belt_cfg_models *m);
/* The model called `name`, or NULL. */
const struct belt_cfg_model *belt__cfg_models_find(const struct belt_cfg_models *m,
                                                   const char *name);

#endif
