/*
 * assemble.c — stream → chat.completion (see assemble.h).
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "model/assemble.h"
#include "util/json.h"

void belt__asm_init(struct belt_assembler *a, size_t max_bytes)
{
    memset(a, 0, sizeof(*a));
    a->max_bytes = max_bytes ? max_bytes : (size_t)32 << 20;
}

void belt__asm_deinit(struct belt_assembler *a)
{
    for (size_t i = 0; i < BELT_ASM_MAX_CHOICES; i++) {
        struct belt_asm_choice *c = a->choices[i];
        if (!c)
            continue;
        belt_buf_deinit(&c->content);
        json_decref(c->logprobs);
        for (size_t t = 0; t < BELT_ASM_MAX_TOOLS; t++) {
            if (!c->tools[t])
                continue;
            belt_free(c->tools[t]->id);
            belt_free(c->tools[t]->name);
            belt_buf_deinit(&c->tools[t]->args);
            belt_free(c->tools[t]);
        }
        belt_free(c);
        a->choices[i] = NULL;
    }
}

static void copy_str(char *dst, size_t cap, const char *s)
{
    if (s)
        snprintf(dst, cap, "%s", s);
}

static belt_status add_tools(struct belt_asm_choice *c, const json_t *calls, size_t max_bytes)
{
    size_t i;
    const json_t *tc;
    json_array_foreach(calls, i, tc)
    {
        int64_t k = belt_json_int(tc, "index", (int64_t)i);
        if (k < 0 || k >= BELT_ASM_MAX_TOOLS)
            continue;
        if (!c->tools[k]) {
            c->tools[k] = belt_calloc(1, sizeof(*c->tools[k]));
            if (!c->tools[k])
                return BELT_ERR_NOMEM;
            belt_buf_init(&c->tools[k]->args, max_bytes);
        }
        struct belt_asm_tool *t = c->tools[k];
        if ((int)k + 1 > c->n_tools)
            c->n_tools = (int)k + 1;
        const char *id = belt_json_str(tc, "id");
        const json_t *fn = json_object_get(tc, "function");
        const char *name = belt_json_str(fn, "name");
        const char *args = belt_json_str(fn, "arguments");
        if (id && !t->id)
            t->id = belt_strdup(id);
        if (name && !t->name)
            t->name = belt_strdup(name);
        if (args && belt_buf_puts(&t->args, args) != BELT_OK)
            return BELT_ERR_TOOBIG;
    }
    return BELT_OK;
}

static belt_status add_choice(struct belt_assembler *a, const json_t *ch, const char **delta,
                              size_t *delta_len)
{
    int64_t idx = belt_json_int(ch, "index", 0);
    if (idx < 0 || idx >= BELT_ASM_MAX_CHOICES)
        return BELT_OK;
    if (!a->choices[idx]) {
        a->choices[idx] = belt_calloc(1, sizeof(*a->choices[idx]));
        if (!a->choices[idx])
            return BELT_ERR_NOMEM;
        belt_buf_init(&a->choices[idx]->content, a->max_bytes);
    }
    struct belt_asm_choice *c = a->choices[idx];
    const json_t *d = json_object_get(ch, "delta");
    const json_t *content = json_object_get(d, "content");
    if (json_is_string(content)) {
        c->has_content = 1;
        if (belt_buf_append(&c->content, json_string_value(content), json_string_length(content)) !=
            BELT_OK)
            return BELT_ERR_TOOBIG;
        if (idx == 0) {
            *delta = json_string_value(content);
            *delta_len = json_string_length(content);
        }
    }
    belt_status st = add_tools(c, json_object_get(d, "tool_calls"), a->max_bytes);
    if (st != BELT_OK)
        return st;
    const char *fr = belt_json_str(ch, "finish_reason");
    if (fr)
        copy_str(c->finish, sizeof(c->finish), fr);
    const json_t *lpc = json_object_get(json_object_get(ch, "logprobs"), "content");
    if (json_is_array(lpc) && json_array_size(lpc)) {
        if (!c->logprobs)
            c->logprobs = json_array();
        if (c->logprobs)
            json_array_extend(c->logprobs, (json_t *)lpc);
    }
    return BELT_OK;
}

belt_status belt__asm_add(struct belt_assembler *a, const json_t *chunk, const char **delta,
                          size_t *delta_len, int *usage_only)
{
    *delta = "";
    *delta_len = 0;
    *usage_only = 0;
    if (!a->id[0])
        copy_str(a->id, sizeof(a->id), belt_json_str(chunk, "id"));
    if (!a->model[0])
        copy_str(a->model, sizeof(a->model), belt_json_str(chunk, "model"));
    if (!a->fingerprint[0])
        copy_str(a->fingerprint, sizeof(a->fingerprint),
                 belt_json_str(chunk, "system_fingerprint"));
    if (!a->created)
        a->created = belt_json_int(chunk, "created", 0);
    const json_t *u = json_object_get(chunk, "usage");
    if (json_is_object(u)) {
        a->has_usage = 1;
        a->input_tokens = belt_json_int(u, "prompt_tokens", 0);
        a->output_tokens = belt_json_int(u, "completion_tokens", 0);
    }
    const json_t *choices = json_object_get(chunk, "choices");
    if (json_is_object(u) && json_array_size(choices) == 0)
        *usage_only = 1;
    size_t i;
    const json_t *ch;
    json_array_foreach(choices, i, ch)
    {
        belt_status st = add_choice(a, ch, delta, delta_len);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static json_t *choice_json(const struct belt_asm_choice *c, size_t idx)
{
    static const struct belt_asm_choice empty; /* a stream that sent no choice at all */
    if (!c)
        c = &empty;
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    json_t *tools = json_array();
    for (int t = 0; t < c->n_tools; t++) {
        const struct belt_asm_tool *tl = c->tools[t];
        if (!tl)
            continue;
        json_array_append_new(tools, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
                                               tl->id ? tl->id : "", "type", "function", "function",
                                               "name", tl->name ? tl->name : "", "arguments",
                                               belt_buf_cstr(&tl->args)));
    }
    json_object_set_new(msg, "content",
                        c->has_content || !json_array_size(tools)
                            ? json_stringn(belt_buf_cstr(&c->content), c->content.len)
                            : json_null());
    if (json_array_size(tools))
        json_object_set_new(msg, "tool_calls", tools);
    else
        json_decref(tools);
    json_t *lp =
        c->logprobs ? json_pack("{s:O, s:n}", "content", c->logprobs, "refusal") : json_null();
    return json_pack("{s:I, s:o, s:o, s:s?}", "index", (json_int_t)idx, "message", msg, "logprobs",
                     lp, "finish_reason", c->finish[0] ? c->finish : NULL);
}

json_t *belt__asm_result(const struct belt_assembler *a)
{
    json_t *choices = json_array();
    for (size_t i = 0; i < BELT_ASM_MAX_CHOICES; i++)
        if (a->choices[i] || i == 0)
            json_array_append_new(choices, choice_json(a->choices[i], i));
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", a->id, "object", "chat.completion",
                          "created", (json_int_t)a->created, "model", a->model, "choices", choices);
    if (!o)
        return NULL;
    if (a->fingerprint[0])
        json_object_set_new(o, "system_fingerprint", json_string(a->fingerprint));
    if (a->has_usage)
        json_object_set_new(o, "usage",
                            json_pack("{s:I, s:I, s:I}", "prompt_tokens",
                                      (json_int_t)a->input_tokens, "completion_tokens",
                                      (json_int_t)a->output_tokens, "total_tokens",
                                      (json_int_t)(a->input_tokens + a->output_tokens)));
    return o;
}
