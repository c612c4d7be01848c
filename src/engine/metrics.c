/*
 * metrics.c — sharded counters (see metrics.h).
 */
#include "belt_config.h"

#include <string.h>

#include "belt.h"
#include "engine/metrics.h"
#include "util/clock.h"

const double belt__metrics_bounds_s[BELT_METRICS_N_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

const int belt__metrics_codes[BELT_METRICS_N_CODES] = {200, 400, 401, 403, 404, 405, 408, 413,
                                                       429, 499, 500, 502, 503, 504, 0};

const char *const belt__metrics_endpoints[BELT_EP_COUNT_] = {
    "/v1/chat/completions", "/v1/embeddings", "/v1/models", "/healthz", "/metrics",
    "/v1/reviews",          "/review",        "other"};

void belt__metrics_init(struct belt_metrics *m, size_t n_models)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->n_models = n_models;
    m->start_ms = belt_wall_ms();
}

void belt__metrics_deinit(struct belt_metrics *m)
{
    for (size_t i = 0; i < m->n_shards; i++) {
        belt_free(m->shards[i]->models);
        belt_free(m->shards[i]);
    }
    belt_free(m->shards);
    pthread_mutex_destroy(&m->lock);
}

struct belt_metrics_shard *belt__metrics_acquire(struct belt_metrics *m)
{
    struct belt_metrics_shard *s = NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_shards && !s; i++)
        if (!m->shards[i]->in_use)
            s = m->shards[i];
    if (!s) {
        struct belt_metrics_shard **v =
            belt_realloc(m->shards, (m->n_shards + 1) * sizeof(*m->shards));
        if (v) {
            m->shards = v;
            s = belt_calloc(1, sizeof(*s));
            if (s) {
                s->models = belt_calloc(m->n_models ? m->n_models : 1, sizeof(*s->models));
                if (!s->models) {
                    belt_free(s);
                    s = NULL;
                } else {
                    m->shards[m->n_shards++] = s;
                }
            }
        }
    }
    if (s)
        s->in_use = 1;
    pthread_mutex_unlock(&m->lock);
    return s;
}

void belt__metrics_release(struct belt_metrics *m, struct belt_metrics_shard *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&m->lock);
    s->in_use = 0;
    pthread_mutex_unlock(&m->lock);
}

void belt__histogram_observe(struct belt_histogram *h, int64_t us)
{
    double s = (double)us / 1e6;
    size_t i = 0;
    while (i < BELT_METRICS_N_BUCKETS && s > belt__metrics_bounds_s[i])
        i++;
    BELT_METRIC_ADD(h->buckets[i], 1);
    BELT_METRIC_ADD(h->sum_us, (uint64_t)(us > 0 ? us : 0));
}

size_t belt__metrics_code_index(int status)
{
    for (size_t i = 0; i + 1 < BELT_METRICS_N_CODES; i++)
        if (belt__metrics_codes[i] == status)
            return i;
    return BELT_METRICS_N_CODES - 1;
}
