/*
 * local.c — the `local` provider (see local.h): classify the last user message with an
 * in-process classifier and answer in OpenAI form, label as content, confidence and top-k in
 * the `belt` extension object.
 */
#include "belt_config.h"

#include <string.h>
#include <time.h>

#include "model/local.h"
#include "model/model.h"
#include "model/usage.h"
#include "util/error.h"
#include "util/json.h"

belt_status belt__local_open(const struct belt_cfg_model *cm, void **state, struct belt_error *err)
{
    struct belt_classifier *c = NULL;
    belt_status st = belt_classifier_load(cm->path, &c, err);
    if (st != BELT_OK)
        return belt__error_prefix(err, "model %s: ", cm->name);
    *state = c;
    return BELT_OK;
}

void belt__local_close(void *state)
{
    belt_classifier_free(state);
}

/* The text of the last user message: a string, or its text parts joined with "\n" (appended
 * to b). Returns 0 when there is none. */
static int last_user_text(const json_t *request, struct belt_buf *b)
{
    const json_t *msgs = json_object_get(request, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const char *role = belt_json_str(m, "role");
        if (!role || strcmp(role, "user") != 0)
            continue;
        const json_t *c = json_object_get(m, "content");
        if (json_is_string(c))
            return belt_buf_append(b, json_string_value(c), json_string_length(c)) == BELT_OK;
        size_t j;
        const json_t *part;
        json_array_foreach(c, j, part)
        {
            const json_t *t = json_object_get(part, "text");
            if (!json_is_string(t))
                continue;
            if (b->len)
                belt_buf_putc(b, '\n');
            belt_buf_append(b, json_string_value(t), json_string_length(t));
        }
        return 1;
    }
    return 0;
}

static json_t *belt_extension(const struct belt_prediction *p)
{
    json_t *top = json_array();
    for (int i = 0; i < p->n_top; i++)
        json_array_append_new(
            top, json_pack("{s:s, s:f}", "label", p->top[i].label, "p", p->top[i].prob));
    return json_pack("{s:s, s:f, s:b, s:o}", "label", p->label, "confidence", p->confidence,
                     "abstained", p->abstained, "top_k", top);
}

belt_status belt__local_answer(const struct belt__model *m, const json_t *request, json_t **out,
                               struct belt_prediction *pred, struct belt_error *err)
{
    *out = NULL;
    struct belt_buf text;
    belt_buf_init(&text, (size_t)1 << 24);
    if (!last_user_text(request, &text)) {
        belt_buf_deinit(&text);
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "model %s (local) needs a user message to classify", m->name);
    }
    struct belt_predict_params pp = belt_predict_default_params();
    pp.threshold = m->cfg->threshold;
    pp.top_k = (int)BELT_MIN(m->cfg->top_k, (int64_t)BELT_CLASSIFIER_MAX_TOP_K);
    belt_status st =
        belt_classifier_predict(m->local, belt_buf_cstr(&text), text.len, &pp, pred, err);
    int64_t in_tokens = belt__estimate_tokens(belt_buf_cstr(&text), text.len);
    belt_buf_deinit(&text);
    if (st != BELT_OK)
        return belt__error_prefix(err, "model %s: ", m->name);
    char id[64];
    snprintf(id, sizeof(id), "belt-local-%lld", (long long)time(NULL));
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:n, s:s}], "
                          "s:{s:I, s:i, s:I}, s:o}",
                          "id", id, "object", "chat.completion", "created", (json_int_t)time(NULL),
                          "model", m->name, "choices", "index", 0, "message", "role", "assistant",
                          "content", pred->label, "logprobs", "finish_reason", "stop", "usage",
                          "prompt_tokens", (json_int_t)in_tokens, "completion_tokens", 0,
                          "total_tokens", (json_int_t)in_tokens, "belt", belt_extension(pred));
    if (!o)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    *out = o;
    return BELT_OK;
}

static belt_status local_answer_op(const struct belt__model *m, const json_t *request, json_t **out,
                                   struct belt__inproc_result *res, struct belt_error *err)
{
    belt_status st = belt__local_answer(m, request, out, &res->pred, err);
    res->has_pred = st == BELT_OK;
    return st;
}

const struct belt_provider_ops belt__provider_local = {
    "local", "belt.local", 0, NULL, NULL, NULL, NULL, NULL, NULL, local_answer_op, 0,
};
