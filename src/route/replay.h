/*
 * replay.h — recorded outcomes: for each task (its text and metadata) what each model answered,
 * whether that was correct, what it cost and how long it took. One JSONL file, one task per
 * line (the "outcomes" format, docs/routes.md#outcomes):
 *
 *   {"id": "q17", "query": "...", "expected": "B", "stakes": "high", "tags": ["legal"],
 *    "key": "team-a",
 *    "models": {"small": {"answer": "B", "correct": true, "cost_usd": 2.1e-5,
 *                         "latency_ms": 310, "confidence": 0.93, "label": "B",
 *                         "logprob_mean": -0.12, "logprob_min": -1.9,
 *                         "samples": ["B", "B", "C"], "verify": {"judge": 0.82},
 *                         "input_tokens": 120, "output_tokens": 1},
 *               "large": {"correct": true, "cost_usd": 3.6e-4, "error": null}}}
 *
 * It lets any route be evaluated against history without calling a model (route/offline.c),
 * is the training data of the learned router (learn/router.c), and is the data side of the
 * `replay` provider of the model layer. A loaded replay is immutable and may be shared by
 * threads.
 */
#ifndef BELT_ROUTE_REPLAY_H
#define BELT_ROUTE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "route/accept.h"

#define BELT__REPLAY_NONE ((size_t)-1)

/* A verifier's recorded judgement of one model's answer. */
struct belt__replay_verify {
    char *judge;             /* the verifier model's name (owned) */
    struct belt__answer ans; /* score (and cost/latency of the judging call) */
};

/* One model's recorded outcome for one task. Strings owned by the replay. */
struct belt__replay_outcome {
    int present;                         /* 0: the model has no record for this task */
    int correct;                         /* 1 / 0, or -1 when unknown */
    struct belt__answer ans;             /* the answer as the route layer sees it */
    char *text;                          /* answer text (owned; ans.text points here) */
    char *label;                         /* label (owned; ans.label points here) */
    char *error;                         /* failure text (owned; ans.error points here) */
    struct belt__answer *samples;        /* further samples of the same model (owned) */
    size_t n_samples;                    /* count */
    struct belt__replay_verify *verify;  /* judgements of this answer (owned) */
    size_t n_verify;                     /* count */
    int64_t input_tokens, output_tokens; /* -1 when not recorded */
};

struct belt__replay_task {
    char *id;                         /* "id" or "line N" (owned) */
    char *query;                      /* the task's input text (owned) */
    size_t query_len;                 /* its bytes */
    char *expected;                   /* gold answer or NULL (owned) */
    char *stakes;                     /* request metadata (owned) or NULL */
    char **tags;                      /* (owned) */
    size_t n_tags;                    /* count */
    char *key;                        /* API key name (owned) or NULL */
    int64_t line;                     /* line in the file */
    struct belt__replay_outcome *out; /* one per replay model (owned) */
};

struct belt__replay {
    char *path;                      /* file name for messages (owned) */
    char **models;                   /* model names, in order of first appearance (owned) */
    size_t n_models;                 /* count */
    struct belt__replay_task *tasks; /* (owned) */
    size_t n_tasks;                  /* count */
};

/* Load an outcomes file. Errors name FILE:LINE and the field (BELT_ERR_FORMAT), or the I/O
 * failure. An empty file is BELT_ERR_INVALID. *out is owned by the caller. */
belt_status belt__replay_load(const char *path, struct belt__replay **out, struct belt_error *err);
void belt__replay_free(struct belt__replay *rp);

/* Index of model `name` in rp->models, or BELT__REPLAY_NONE. */
size_t belt__replay_model(const struct belt__replay *rp, const char *name);

/* The recorded judgement of judge `judge` on outcome o, or NULL. */
const struct belt__answer *belt__replay_verdict(const struct belt__replay_outcome *o,
                                                const char *judge);

/* Mean recorded cost (NAN if none recorded) and mean latency in µs (-1 if none) of model m. */
double belt__replay_mean_cost(const struct belt__replay *rp, size_t m);
int64_t belt__replay_mean_latency_us(const struct belt__replay *rp, size_t m);

#endif
