/*
 * usage.h — tokens, prices and answer summaries: cost from usage, a token estimate for
 * upstreams that report no usage, and the logprob summary (mean and min over the answer's
 * tokens) that routes use as a confidence signal. Pure functions over jansson values.
 */
#ifndef BELT_MODEL_USAGE_H
#define BELT_MODEL_USAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* USD for the given token counts at prices per 1M input / output tokens. */
double belt__cost_usd(double input_per_m, double output_per_m, int64_t input_tokens,
                      int64_t output_tokens);

/* Estimated tokens of a text (no tokenizer): each run of ASCII letters/digits counts
 * ceil(len / 4) (at least 1), each other printable ASCII character 1, each non-ASCII code point
 * 1; whitespace 0. Close to BPE tokenizers on English and code (within ~20%), and never 0 for a
 * non-empty text. */
int64_t belt__estimate_tokens(const char *s, size_t n);
/* Estimated prompt tokens of an OpenAI chat request: the text of every message (string
 * content or text parts, tool call arguments) plus 4 per message and 3 for the reply, as in
 * OpenAI's counting guide. */
int64_t belt__estimate_request_tokens(const json_t *request);
/* The same for a request of one user message whose text is s[0..n). */
int64_t belt__estimate_prompt_tokens(const char *s, size_t n);

/* Running logprob summary over answer tokens. */
struct belt_lp_acc {
    int64_t n;  /* tokens seen */
    double sum; /* sum of logprobs */
    double min; /* smallest logprob (0 when n == 0) */
};

/* Add the tokens of an OpenAI `logprobs` object ({"content": [{"logprob": x}, ...]}); other
 * shapes (NULL, legacy completions) are ignored. */
void belt__lp_add(struct belt_lp_acc *acc, const json_t *logprobs);

/* Usage of a chat.completion / chunk / embeddings response: prompt_tokens and
 * completion_tokens of its `usage` object. Returns 1 if a usage object was present. */
int belt__usage_read(const json_t *response, int64_t *input_tokens, int64_t *output_tokens);

#endif
