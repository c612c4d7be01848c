/*
 * guard.h — internal constants and helpers of the guard object shared by guard.c and the
 * training/evaluation code (inject_train.c). Public API: belt.h, "Governance".
 */
#ifndef BELT_GUARD_GUARD_H
#define BELT_GUARD_GUARD_H

#include <stddef.h>

#include "belt.h"

/* The positive label of injection data and models. */
#define BELT__GUARD_POSITIVE "injection"
/* Classifier window (bytes of normalised text). */
#define BELT__GUARD_WINDOW 600

/* Default thresholds on the combined score, chosen by cross-validation on the shared data
 * (docs/governance.md "Measurements"): with a classifier, and with rules alone. */
#define BELT__GUARD_THRESHOLD_USER_MODEL  0.5
#define BELT__GUARD_THRESHOLD_THIRD_MODEL 0.4
#define BELT__GUARD_THRESHOLD_USER_RULES  0.5
#define BELT__GUARD_THRESHOLD_THIRD_RULES 0.3
/* Default block thresholds: the configured action (block / escalate) applies from these
 * scores; detections between the threshold above and these are flagged. Chosen for high
 * precision on the shared folds (docs/governance.md "Defaults"). */
#define BELT__GUARD_BLOCK_USER_MODEL  0.8
#define BELT__GUARD_BLOCK_THIRD_MODEL 0.8
#define BELT__GUARD_BLOCK_USER_RULES  0.8
#define BELT__GUARD_BLOCK_THIRD_RULES 0.8

/* Split normalised text into sentences (cut after . ! ? ; before a space, at line breaks and
 * '|', and every BELT__GUARD_WINDOW bytes); fills starts/ends, returns the count (<= cap). */
size_t belt__guard_segments(const char *s, size_t n, size_t *starts, size_t *ends, size_t cap);
/* The classifier's training set built from normalised examples (see inject_train.c). */
belt_status belt__guard_expand(const struct belt_example *norm, size_t n, struct belt_example **out,
                               size_t *n_out, char ***owned, size_t *n_owned,
                               struct belt_error *err);
/* Highest probability of label index `label` over the windows of normalised text norm[0..n). */
double belt__guard_model_prob(const struct belt_classifier *model, int label, const char *norm,
                              size_t n);

#endif
