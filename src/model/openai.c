/*
 * openai.c — the `openai` provider: any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp
 * server, Ollama, OpenRouter, ...). Requests go out as the caller sent them — unknown fields
 * included — with `model` set to the deployment's model id; streamed requests also ask for
 * usage (`stream_options.include_usage`). Answers come back verbatim.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "model/model.h"
#include "model/provider.h"
#include "util/error.h"
#include "util/json.h"

/* Whether the caller's bytes can go upstream unchanged: same model id, and the stream
 * fields already what the upstream must see. */
static int verbatim_ok(const char *model_id, int kind, const json_t *request, int stream)
{
    const char *model = json_string_value(json_object_get(request, "model"));
    if (!model || strcmp(model, model_id) != 0)
        return 0;
    if (kind == BELT_CALL_EMBEDDINGS)
        return 1;
    const json_t *st = json_object_get(request, "stream");
    if (!stream)
        return !json_is_true(st) && !json_object_get(request, "stream_options");
    return json_is_true(st) && json_is_true(json_object_get(
                                   json_object_get(request, "stream_options"), "include_usage"));
}

/* The caller's bytes when nothing changes, else a shallow copy of the request with the
 * model/stream fields set for the upstream. */
static belt_status openai_build(const struct belt__model *m, const char *model_id, int kind,
                                const json_t *request, const char *raw, size_t raw_len, int stream,
                                struct belt_buf *body, const char **path, struct belt_error *err)
{
    (void)m;
    *path = kind == BELT_CALL_EMBEDDINGS ? "/embeddings" : "/chat/completions";
    if (raw && verbatim_ok(model_id, kind, request, stream)) {
        if (belt_buf_append(body, raw, raw_len) != BELT_OK)
            return belt__error_set(err, BELT_ERR_TOOBIG, 0, "the request is too large");
        return BELT_OK;
    }
    json_t *out = json_object();
    if (!out || json_object_update(out, (json_t *)request) != 0)
        goto nomem;
    if (json_object_set_new(out, "model", json_string(model_id)) != 0)
        goto nomem;
    if (kind != BELT_CALL_EMBEDDINGS) {
        if (stream) {
            json_t *so = json_object_get(request, "stream_options");
            json_t *nso = json_is_object(so) ? json_deep_copy(so) : json_object();
            if (!nso || json_object_set_new(nso, "include_usage", json_true()) != 0 ||
                json_object_set_new(out, "stream", json_true()) != 0 ||
                json_object_set_new(out, "stream_options", nso) != 0) {
                json_decref(nso);
                goto nomem;
            }
        } else {
            json_object_del(out, "stream");
            json_object_del(out, "stream_options");
        }
    }
    belt_status st = belt_json_dump_buf(out, JSON_COMPACT, body);
    json_decref(out);
    if (st != BELT_OK)
        return belt__error_set(err, st, 0, "cannot serialise the upstream request");
    return BELT_OK;
nomem:
    json_decref(out);
    return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
}

static belt_status openai_parse(const struct belt__model *m, int kind, const char *body, size_t len,
                                json_t **out, int *verbatim, struct belt_error *err)
{
    (void)m;
    *out = NULL;
    *verbatim = 1;
    json_error_t je;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0,
                               "upstream sent malformed JSON (line %d, column %d: %s)", je.line,
                               je.column, je.text);
    const char *want = kind == BELT_CALL_EMBEDDINGS ? "data" : "choices";
    if (!json_is_object(v) || !json_is_array(json_object_get(v, want))) {
        json_decref(v);
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0, "upstream answer has no '%s' array",
                               want);
    }
    *out = v;
    return BELT_OK;
}

static void *openai_stream_new(void)
{
    static char token; /* stateless: any non-NULL marker */
    return &token;
}

static void openai_stream_free(void *state)
{
    (void)state;
}

static belt_status openai_stream_event(void *state, const char *event, const char *data, size_t len,
                                       belt_emit_fn *emit, void *ud, int *done,
                                       struct belt_error *err)
{
    (void)state;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        *done = 1;
        return BELT_OK;
    }
    if (event[0] && strcmp(event, "error") != 0 && strcmp(event, "message") != 0)
        return BELT_OK; /* named events other than errors carry no chunks */
    json_error_t je;
    json_t *v = json_loadb(data, len, 0, &je);
    if (!v || !json_is_object(v)) {
        json_decref(v);
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0,
                               "upstream stream sent malformed JSON (%s)", je.text);
    }
    const json_t *e = json_object_get(v, "error");
    if (e || strcmp(event, "error") == 0) {
        const char *msg = belt_json_str(e, "message");
        belt__error_set(err, BELT_ERR_UPSTREAM, 0, "upstream stream error: %s",
                        msg ? msg : "(no message)");
        json_decref(v);
        return BELT_ERR_UPSTREAM;
    }
    belt_status st = emit(ud, v, data, len);
    json_decref(v);
    return st;
}

void belt__error_message_generic(const char *body, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    if (!body || len == 0)
        return;
    json_t *v = json_loadb(body, len, 0, NULL);
    const char *msg = NULL;
    if (json_is_object(v)) {
        const json_t *e = json_object_get(v, "error");
        msg = json_is_string(e) ? json_string_value(e) : belt_json_str(e, "message");
        if (!msg)
            msg = belt_json_str(v, "message");
        if (!msg)
            msg = belt_json_str(v, "detail");
    }
    if (msg) {
        snprintf(out, cap, "%s", msg);
    } else {
        size_t n = BELT_MIN(len, cap > 1 ? cap - 1 : 0);
        n = BELT_MIN(n, (size_t)200);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) /* printable ASCII only: upstream bytes are untrusted */
            out[k++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
        out[k] = '\0';
    }
    json_decref(v);
}

const struct belt_provider_ops belt__provider_openai = {
    "openai",
    "openai",
    1,
    openai_build,
    openai_parse,
    openai_stream_new,
    openai_stream_free,
    openai_stream_event,
    belt__error_message_generic,
    NULL, /* answer: remote */
    1,    /* passthrough */
};
