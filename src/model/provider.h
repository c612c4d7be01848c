/*
 * provider.h — the provider interface: how one kind of model endpoint turns an OpenAI-form
 * request into its own wire request, and its answers (whole or streamed) back into OpenAI form.
 * The call machinery (call.c) does the I/O, retries and fallbacks; a provider only translates,
 * so every function here is pure and unit-testable. Providers: openai.c (any OpenAI-compatible
 * endpoint), anthropic.c (Messages API), local.c (in-process classifier, no HTTP), replay.c
 * (recorded outcomes, no HTTP).
 *
 * Thread rule: the ops tables are static const and every function is reentrant.
 */
#ifndef BELT_MODEL_PROVIDER_H
#define BELT_MODEL_PROVIDER_H

#include <jansson.h>
#include <stddef.h>

#include "belt.h"
#include "util/buf.h"

struct belt__model;
struct belt__deployment;

/* Receives each OpenAI-form chat.completion.chunk a provider produced from an upstream event.
 * `chunk` is borrowed for the call. `raw` is its serialisation when the upstream's bytes are
 * already in OpenAI form (pass-through), else NULL. Non-OK stops the stream with that status. */
typedef belt_status belt_emit_fn(void *ud, const json_t *chunk, const char *raw, size_t raw_len);

/* What an in-process provider reports besides its OpenAI-form response. */
struct belt__inproc_result {
    struct belt_prediction pred; /* a classifier's prediction (labels borrowed from the model) */
    int has_pred;                /* 1: pred is set */
    double cost_usd;             /* recorded cost replacing the price-based one; NAN: none */
    int64_t latency_us;          /* recorded latency replacing the measured one; -1: none */
};

struct belt_provider_ops {
    const char *name;          /* config value of `provider:` */
    const char *gen_ai_system; /* OpenTelemetry gen_ai.system / gen_ai.provider.name */
    int remote;                /* 1: HTTP upstream (build/parse/stream_* are set) */

    /* Serialise the upstream request body for one attempt into `body` (appended) and set
     * *path to the endpoint path under the deployment's base URL ("/chat/completions").
     * `request` is the caller's OpenAI-form request (borrowed, not modified); `raw` its
     * serialisation as the caller sent it, or NULL; `model_id` the deployment's upstream model
     * name. BELT_ERR_INVALID: the request cannot be expressed for this provider;
     * BELT_ERR_UNSUPPORTED: the kind is not offered (message in err). */
    belt_status (*build)(const struct belt__model *m, const char *model_id, int kind,
                         const json_t *request, const char *raw, size_t raw_len, int stream,
                         struct belt_buf *body, const char **path, struct belt_error *err);
    /* Turn a complete 2xx response body into an OpenAI-form response (*out owned by the
     * caller). *verbatim = 1 when `body` itself is already that response (pass-through).
     * BELT_ERR_UPSTREAM with a message when the body is not a valid answer. */
    belt_status (*parse)(const struct belt__model *m, int kind, const char *body, size_t len,
                         json_t **out, int *verbatim, struct belt_error *err);
    /* Per-attempt streaming state: created before the first byte, freed after the last. */
    void *(*stream_new)(void);
    void (*stream_free)(void *state);
    /* One SSE event (name may be "", data borrowed) → zero or more chunks through emit.
     * Sets *done when the upstream signalled the end of the stream. BELT_ERR_UPSTREAM with a
     * message for an error event or a malformed payload. */
    belt_status (*stream_event)(void *state, const char *event, const char *data, size_t len,
                                belt_emit_fn *emit, void *ud, int *done, struct belt_error *err);
    /* The human-readable message of an upstream error body ("" when none), into out. */
    void (*error_message)(const char *body, size_t len, char *out, size_t cap);
    /* In-process providers (remote == 0): answer a chat request now. *out (owned by the caller)
     * is the OpenAI-form chat.completion; res is zeroed by the caller with cost_usd NAN and
     * latency_us -1. Errors name what is wrong (BELT_ERR_INVALID, BELT_ERR_NOTFOUND, ...). */
    belt_status (*answer)(const struct belt__model *m, const json_t *request, json_t **out,
                          struct belt__inproc_result *res, struct belt_error *err);
    /* 1: parse always answers with the upstream's bytes verbatim (an OpenAI-form body is its
     * own answer), so a caller that needs no tree may only validate them (jscan.h) */
    int passthrough;
};

extern const struct belt_provider_ops belt__provider_openai;
extern const struct belt_provider_ops belt__provider_anthropic;
extern const struct belt_provider_ops belt__provider_local;
extern const struct belt_provider_ops belt__provider_replay;

/* The message of an OpenAI-style error body {"error": {"message": ...}} or {"message": ...}
 * (also Anthropic's {"type":"error","error":{...}}), else the body's first bytes, into out. */
void belt__error_message_generic(const char *body, size_t len, char *out, size_t cap);

/* ---- Anthropic translation (anthropic.c), exposed for unit tests ------------------------- */

/* OpenAI chat request → Anthropic Messages request (*out owned by the caller). System and
 * developer messages become `system`; tool results become user `tool_result` blocks (adjacent
 * ones merged); assistant tool_calls become `tool_use` blocks; tools/tool_choice, stop,
 * temperature, top_p, max_tokens (default_max_tokens when absent), user → metadata.user_id,
 * response_format json_schema → a forced tool whose input is the answer. */
belt_status belt__anthropic_from_openai(const json_t *req, const char *model_id,
                                        int64_t default_max_tokens, int stream, json_t **out,
                                        struct belt_error *err);
/* Anthropic Messages response → OpenAI chat.completion (*out owned by the caller). A tool_use
 * of the forced response_format tool (BELT_ANTHROPIC_JSON_TOOL) becomes the content text. */
belt_status belt__anthropic_to_openai(const json_t *resp, json_t **out, struct belt_error *err);
/* Name of the tool that carries a response_format json_schema answer. */
#define BELT_ANTHROPIC_JSON_TOOL "belt_json_response"
/* Map an Anthropic stop_reason to an OpenAI finish_reason ("stop" for unknown values). */
const char *belt__anthropic_finish_reason(const char *stop_reason);

#endif
