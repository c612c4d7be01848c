/*
 * local.h — the `local` provider: an in-process classifier (belt_classifier_*, src/learn)
 * served as a model. The answer's content is the label; confidence and top-k go into a `belt`
 * extension object of the OpenAI-form response:
 *   "belt": {"label": "refund", "confidence": 0.93, "abstained": false,
 *            "top_k": [{"label": "refund", "p": 0.93}, ...]}
 * The text classified is the content of the last user message (string, or its text parts
 * joined with "\n"). Usage counts the estimated tokens of that text as input, 0 as output.
 *
 * Thread rule: the loaded classifier is immutable and shared by every loop thread.
 */
#ifndef BELT_MODEL_LOCAL_H
#define BELT_MODEL_LOCAL_H

#include <jansson.h>

#include "belt.h"
#include "config/cfg_models.h"

struct belt__model;

/* Load the classifier file of a local model; *state owned, released by belt__local_close. */
belt_status belt__local_open(const struct belt_cfg_model *cm, void **state, struct belt_error *err);
void belt__local_close(void *state);

/* Classify the request and build the OpenAI-form chat.completion (*out owned by the caller);
 * *pred receives the prediction (labels borrowed from the model). BELT_ERR_INVALID when the
 * request has no user text or the text is not UTF-8. */
belt_status belt__local_answer(const struct belt__model *m, const json_t *request, json_t **out,
                               struct belt_prediction *pred, struct belt_error *err);

#endif
