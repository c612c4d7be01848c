/*
 * replay.h — the `replay` provider: a model that answers from recorded outcomes (the outcomes
 * JSONL of route/replay.h) instead of calling anything, so any route — cascades, verifiers,
 * agreement of samples included — runs live against history (`belt route`, `belt serve`).
 *
 * A request is matched to a recorded task by the text of its last user message (a string, or
 * its text parts joined with "\n"), compared after trimming surrounding whitespace; the first
 * task of the file with that query wins. The answer is the recorded one of the model named by
 * the config's `model:` key (default: the model's own name), with the recorded cost and
 * latency (replacing the price-based cost and the measured latency), recorded token counts
 * (else estimates), and a `belt` extension object:
 *   "belt": {"replay": {"task": "q17", "correct": true, "model": "small"},
 *            "label": "B", "confidence": 0.93, "logprob_mean": -0.12, "logprob_min": -1.9}
 * (absent values are left out). A request with "n": k gets k choices: the recorded answer,
 * then the recorded samples (fewer when fewer were recorded). A verifier request made by the
 * route executor carries "belt": {"verify": {"task": TEXT, "model": RECORDED}} and is answered
 * with the recorded score of that judge (this model) on that model's answer. A task without a
 * record is BELT_ERR_NOTFOUND; a recorded error is BELT_ERR_UPSTREAM with its text.
 *
 * Thread rule: the loaded outcomes are immutable and shared by every loop thread (and by every
 * replay model reading the same file: it is loaded once per engine).
 */
#ifndef BELT_MODEL_REPLAY_H
#define BELT_MODEL_REPLAY_H

#include <jansson.h>

#include "belt.h"
#include "config/cfg_models.h"
#include "util/buf.h"

struct belt__models;
struct belt__replay;
struct belt__replay_task;

/* Load (or share with an already built replay model of `built` reading the same file) the
 * outcomes of replay model cm. Errors name the model and the file (FILE:LINE for bad records;
 * BELT_ERR_CONFIG when the file has no outcomes for the recorded model name). *state is owned
 * and released with belt__replay_model_close. */
belt_status belt__replay_model_open(const struct belt_cfg_model *cm,
                                    const struct belt__models *built, void **state,
                                    struct belt_error *err);
void belt__replay_model_close(void *state);

/* The recorded task whose query is text[0..len) (trimmed), or NULL; *model_index receives the
 * index of the replay model's own recorded model in the file. For cost estimates. */
const struct belt__replay_task *belt__replay_model_task(const void *state, const char *text,
                                                        size_t len, size_t *model_index);
/* The name the model's answers are recorded under (borrowed). */
const char *belt__replay_model_recorded(const void *state);

/* Append the text of the request's last user message (string content, or its text parts
 * joined with "\n") to b. Returns 1 when there is one, 0 when not (or out of memory). */
int belt__request_user_text(const json_t *request, struct belt_buf *b);

#endif
