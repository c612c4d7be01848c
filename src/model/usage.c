/*
 * usage.c — cost, token estimates, logprob summaries (see usage.h).
 */
#include "belt_config.h"

#include <string.h>

#include "model/usage.h"

double belt__cost_usd(double input_per_m, double output_per_m, int64_t input_tokens,
                      int64_t output_tokens)
{
    if (input_tokens < 0)
        input_tokens = 0;
    if (output_tokens < 0)
        output_tokens = 0;
    return ((double)input_tokens * input_per_m + (double)output_tokens * output_per_m) / 1e6;
}

static int is_alnum_ascii(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int64_t belt__estimate_tokens(const char *s, size_t n)
{
    int64_t tokens = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (is_alnum_ascii(c)) {
            size_t j = i;
            while (j < n && is_alnum_ascii((unsigned char)s[j]))
                j++;
            tokens += (int64_t)((j - i + 3) / 4);
            i = j;
        } else if (c < 0x80) {
            if (c > ' ' && c != 0x7f)
                tokens++;
            i++;
        } else {
            /* one code point: a lead byte and its continuation bytes */
            tokens++;
            i++;
            while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
                i++;
        }
    }
    return tokens;
}

static int64_t content_tokens(const json_t *content)
{
    if (json_is_string(content))
        return belt__estimate_tokens(json_string_value(content), json_string_length(content));
    int64_t t = 0;
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const json_t *text = json_object_get(part, "text");
        if (json_is_string(text))
            t += belt__estimate_tokens(json_string_value(text), json_string_length(text));
        else if (json_object_get(part, "image_url"))
            t += 85; /* OpenAI's low-detail image cost */
    }
    return t;
}

#define TOKENS_PER_REPLY   3 /* every reply is primed with <|start|>assistant<|message|> */
#define TOKENS_PER_MESSAGE 4

int64_t belt__estimate_prompt_tokens(const char *s, size_t n)
{
    return TOKENS_PER_REPLY + TOKENS_PER_MESSAGE + belt__estimate_tokens(s, n);
}

int64_t belt__estimate_request_tokens(const json_t *request)
{
    const json_t *msgs = json_object_get(request, "messages");
    int64_t t = TOKENS_PER_REPLY;
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        t += TOKENS_PER_MESSAGE + content_tokens(json_object_get(m, "content"));
        const json_t *calls = json_object_get(m, "tool_calls");
        size_t j;
        const json_t *call;
        json_array_foreach(calls, j, call)
        {
            const json_t *fn = json_object_get(call, "function");
            const json_t *args = json_object_get(fn, "arguments");
            const json_t *name = json_object_get(fn, "name");
            if (json_is_string(args))
                t += belt__estimate_tokens(json_string_value(args), json_string_length(args));
            if (json_is_string(name))
                t += belt__estimate_tokens(json_string_value(name), json_string_length(name));
        }
    }
    return t;
}

void belt__lp_add(struct belt_lp_acc *acc, const json_t *logprobs)
{
    const json_t *content = json_object_get(logprobs, "content");
    size_t i;
    const json_t *tok;
    json_array_foreach(content, i, tok)
    {
        const json_t *lp = json_object_get(tok, "logprob");
        if (!json_is_number(lp))
            continue;
        double v = json_number_value(lp);
        if (acc->n == 0 || v < acc->min)
            acc->min = v;
        acc->sum += v;
        acc->n++;
    }
}

int belt__usage_read(const json_t *response, int64_t *input_tokens, int64_t *output_tokens)
{
    const json_t *u = json_object_get(response, "usage");
    if (!json_is_object(u))
        return 0;
    const json_t *in = json_object_get(u, "prompt_tokens");
    const json_t *out = json_object_get(u, "completion_tokens");
    *input_tokens = json_is_integer(in) ? (int64_t)json_integer_value(in) : 0;
    *output_tokens = json_is_integer(out) ? (int64_t)json_integer_value(out) : 0;
    return 1;
}
