/*
 * learn_data.h — a small synthetic intent dataset for the classifier unit tests: four labels,
 * each with its own cue words, mixed with shared filler words, deterministic for a seed.
 * Strings live in the returned struct; free with learn_data_free().
 */
#ifndef BELT_TEST_LEARN_DATA_H
#define BELT_TEST_LEARN_DATA_H

#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "util/rng.h"

struct learn_data {
    struct belt_example *ex; /* examples */
    char **text;             /* owned texts */
    size_t n;                /* count */
};

static const char *const learn_labels[] = {"refund", "shipping", "password", "cancel"};
static const char *const learn_cues[4][4] = {
    {"refund", "money back", "reimburse", "charged twice"},
    {"package", "delivery", "tracking", "arrive"},
    {"password", "login", "reset", "locked out"},
    {"cancel", "stop subscription", "terminate", "unsubscribe"}};
static const char *const learn_filler[] = {"please", "hi",   "i",     "my",   "the",    "need",
                                           "help",   "with", "today", "asap", "thanks", "order"};

static inline void learn_data_make(struct learn_data *d, size_t n, uint64_t seed)
{
    struct belt_rng r;
    belt_rng_seed(&r, seed);
    d->n = n;
    d->ex = belt_calloc(n, sizeof(*d->ex));
    d->text = belt_calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        size_t l = i % 4;
        char buf[256];
        size_t len = 0;
        for (int w = 0; w < 6; w++) {
            const char *word = (w == 2 || (w == 4 && belt_rng_below(&r, 2)))
                                   ? learn_cues[l][belt_rng_below(&r, 4)]
                                   : learn_filler[belt_rng_below(&r, 12)];
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", w ? " " : "", word);
        }
        d->text[i] = belt_strdup(buf);
        d->ex[i].text = d->text[i];
        d->ex[i].label = learn_labels[l];
    }
}

static inline void learn_data_free(struct learn_data *d)
{
    for (size_t i = 0; i < d->n; i++)
        belt_free(d->text[i]);
    belt_free(d->text);
    belt_free(d->ex);
    memset(d, 0, sizeof(*d));
}

/* Small, fast training parameters for tests. */
static inline struct belt_classifier_params learn_params(void)
{
    struct belt_classifier_params p = belt_classifier_default_params();
    p.threads = 1;
    p.epochs = 8;
    return p;
}

#endif
