/*
 * call.h — internal side of model calls (public API in belt.h: belt_call_*). The call object,
 * its attempts (deployment choice, retries, fallbacks) and the answer built from the winning
 * attempt live in call.c; answer copies in answer.c.
 */
#ifndef BELT_MODEL_CALL_H
#define BELT_MODEL_CALL_H

#include "belt.h"

/* Deep copy helper shared by belt_answer_copy and belt_call_sync. */
struct belt_answer *belt__answer_copy(const struct belt_answer *a);

#endif
