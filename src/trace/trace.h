/*
 * trace.h — trace records (table `traces`) and their steps (table `trace_steps`) of schema v2:
 * building a record on a loop thread, queueing it to the store writer (never blocking), and
 * the read side used by `belt traces` (belt_store_list_traces / belt_store_trace_steps in
 * belt.h). A record is one heap block with its strings; steps are an array inside it.
 *
 * Thread rule: a record is built by one thread and handed over whole to the writer.
 */
#ifndef BELT_TRACE_TRACE_H
#define BELT_TRACE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "trace/writer.h"
#include "util/buf.h"

/* Name strings of records (models, deployments, routes, key ids) are borrowed: they must
 * outlive the writer, which holds for names owned by the configuration or the engine's model
 * set (the engine frees its writer first). Error texts and attributes are owned. */
struct belt_trace_step_rec {
    int seq;                /* order */
    const char *model;      /* borrowed (see above) */
    const char *deployment; /* borrowed, may be NULL */
    int tier;               /* -1: none */
    const char *status;     /* static: ok | error | timeout | ratelimited | skipped | ... */
    int http_status;        /* 0: none */
    char *error;            /* owned, may be NULL */
    const char *reason;     /* static: first | retry | fallback | ... */
    char *note;             /* owned, may be NULL: a free-text reason stored instead of reason
                               (route decisions: "confidence 0.62 < 0.9") */
    double confidence;      /* < 0: none */
    int64_t input_tokens;
    int64_t output_tokens;
    double cost_usd;
    int64_t latency_us;
};

struct belt_trace_rec {
    struct belt_write_job job; /* writer link (first member) */
    char id[33];               /* 32 hex digits */
    int64_t ts_ms;             /* start, Unix ms */
    const char *kind;          /* static: chat | embeddings | ... */
    const char *route;         /* borrowed, may be NULL */
    const char *model;         /* borrowed, may be NULL */
    const char *key_id;        /* borrowed, may be NULL (may point at key_buf) */
    char key_buf[32];          /* storage for a key id that is not engine-owned (gateway) */
    const char *status;        /* static: ok | error | cancelled | ... */
    int http_status;
    char *error; /* owned, may be NULL */
    int64_t input_tokens;
    int64_t output_tokens;
    double cost_usd;
    int64_t latency_us;
    int cache_hit;
    int stream;
    char *attrs;                        /* owned JSON object text, may be NULL */
    size_t n_steps;                     /* steps used */
    struct belt_trace_step_rec steps[]; /* room for the n_steps given to rec_new */
};

/* A new, zeroed record with room for n_steps steps, in one allocation. NULL on OOM. */
struct belt_trace_rec *belt__trace_rec_new(size_t n_steps);
void belt__trace_rec_free(struct belt_trace_rec *r);
/* Queue the record (ownership passes; dropped and freed when the writer is full). */
int belt__trace_submit(struct belt_writer *w, struct belt_trace_rec *r);

/* Writer upkeep for retention: delete the oldest traces started before before_ms (Unix ms), at
 * most `limit`, with their steps, inside the writer's open transaction. Returns 1 when `limit`
 * were deleted (more may be left), 0 when fewer, -1 on a store error (logged). */
int belt__trace_prune(struct belt_writer_ctx *ctx, int64_t before_ms, int64_t limit,
                      int64_t *n_traces);

/* Step status word for an attempt status ("ok", "timeout", "ratelimited", "skipped",
 * "cancelled", "error"). */
const char *belt__trace_step_status(belt_status st);

#endif
