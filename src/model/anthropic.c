/*
 * anthropic.c — the `anthropic` provider: translation between the OpenAI chat format and the
 * Anthropic Messages API, both ways, for whole answers and for streams (Anthropic's typed SSE
 * events become OpenAI chat.completion.chunk objects). Mapping (docs/gateway.md#anthropic):
 * system/developer messages → `system`; tool messages → `tool_result` blocks of a user turn;
 * assistant tool_calls ↔ `tool_use` blocks; tools/tool_choice; stop ↔ stop_sequences;
 * stop_reason → finish_reason; usage input/output tokens ↔ prompt/completion tokens;
 * response_format json_schema → a forced tool whose input is the answer.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "model/model.h"
#include "model/provider.h"
#include "util/error.h"
#include "util/json.h"

/* ---- request: OpenAI → Anthropic ---------------------------------------------------------- */

static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

/* Text of a message content: the string, or its text parts joined with "\n". New reference. */
static json_t *content_text(const json_t *content)
{
    if (json_is_string(content))
        return json_incref((json_t *)content);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *t = belt_json_str(part, "text");
        if (!t)
            continue;
        if (b.len)
            belt_buf_putc(&b, '\n');
        belt_buf_puts(&b, t);
    }
    json_t *s = json_stringn(belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
    return s;
}

/* An image_url part → an Anthropic image block (data: URLs become base64 sources). */
static json_t *image_block(const json_t *part)
{
    const json_t *iu = json_object_get(part, "image_url");
    const char *url = json_is_string(iu) ? json_string_value(iu) : belt_json_str(iu, "url");
    if (!url)
        return NULL;
    json_t *src;
    const char *comma = strchr(url, ',');
    if (strncmp(url, "data:", 5) == 0 && comma && strstr(url, ";base64,")) {
        const char *semi = strchr(url, ';');
        src = json_pack("{s:s, s:s%, s:s}", "type", "base64", "media_type", url + 5,
                        (size_t)(semi - url - 5), "data", comma + 1);
    } else {
        src = json_pack("{s:s, s:s}", "type", "url", "url", url);
    }
    return src ? json_pack("{s:s, s:o}", "type", "image", "source", src) : NULL;
}

/* A user/assistant content → an array of Anthropic blocks (new reference). */
static json_t *content_blocks(const json_t *content)
{
    json_t *blocks = json_array();
    if (!blocks)
        return NULL;
    if (json_is_string(content)) {
        if (json_string_length(content) > 0)
            json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "text", "text", content));
        return blocks;
    }
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = belt_json_str(part, "type");
        if (type && strcmp(type, "image_url") == 0) {
            json_t *img = image_block(part);
            if (img)
                json_array_append_new(blocks, img);
        } else if (belt_json_str(part, "text")) {
            json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "text", "text",
                                                    json_object_get(part, "text")));
        }
    }
    return blocks;
}

/* Assistant tool_calls → tool_use blocks appended to blocks. Arguments must be JSON objects. */
static belt_status tool_use_blocks(const json_t *calls, json_t *blocks, size_t msg_i,
                                   struct belt_error *err)
{
    size_t i;
    const json_t *call;
    json_array_foreach(calls, i, call)
    {
        const json_t *fn = json_object_get(call, "function");
        const char *args = belt_json_str(fn, "arguments");
        json_t *input = args && *args ? json_loads(args, 0, NULL) : json_object();
        if (!json_is_object(input)) {
            json_decref(input);
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "messages[%zu].tool_calls[%zu].function.arguments is not a "
                                   "JSON object",
                                   msg_i, i);
        }
        const char *id = belt_json_str(call, "id");
        const char *name = belt_json_str(fn, "name");
        json_array_append_new(blocks,
                              json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id",
                                        id ? id : "", "name", name ? name : "", "input", input));
    }
    return BELT_OK;
}

/* Append a turn, merging it into the previous one when the role repeats (the Messages API
 * wants user and assistant turns to alternate). Steals `blocks`. */
static void push_turn(json_t *messages, const char *role, json_t *blocks)
{
    size_t n = json_array_size(messages);
    json_t *last = n ? json_array_get(messages, n - 1) : NULL;
    if (last && strcmp(belt_json_str(last, "role"), role) == 0) {
        json_array_extend(json_object_get(last, "content"), blocks);
        json_decref(blocks);
        return;
    }
    json_array_append_new(messages, json_pack("{s:s, s:o}", "role", role, "content", blocks));
}

static belt_status convert_messages(const json_t *msgs, json_t *out, struct belt_error *err)
{
    struct belt_buf system;
    belt_buf_init(&system, 0);
    json_t *messages = json_array();
    size_t i;
    const json_t *m;
    belt_status st = BELT_OK;
    json_array_foreach(msgs, i, m)
    {
        const char *role = belt_json_str(m, "role");
        const json_t *content = json_object_get(m, "content");
        if (!role) {
            st = belt__error_set(err, BELT_ERR_INVALID, 0, "messages[%zu].role is missing", i);
            break;
        }
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            json_t *t = content_text(content);
            if (system.len && t && json_string_length(t))
                belt_buf_puts(&system, "\n\n");
            if (t)
                belt_buf_append(&system, json_string_value(t), json_string_length(t));
            json_decref(t);
        } else if (strcmp(role, "tool") == 0) {
            json_t *t = content_text(content);
            const char *id = belt_json_str(m, "tool_call_id");
            json_t *blocks = json_pack("[{s:s, s:s, s:o}]", "type", "tool_result", "tool_use_id",
                                       id ? id : "", "content", t ? t : json_string(""));
            push_turn(messages, "user", blocks);
        } else if (strcmp(role, "assistant") == 0) {
            json_t *blocks = content_blocks(content);
            st = tool_use_blocks(json_object_get(m, "tool_calls"), blocks, i, err);
            if (st != BELT_OK) {
                json_decref(blocks);
                break;
            }
            push_turn(messages, "assistant", blocks);
        } else if (strcmp(role, "user") == 0) {
            push_turn(messages, "user", content_blocks(content));
        } else {
            st = belt__error_set(err, BELT_ERR_INVALID, 0,
                                 "messages[%zu].role '%s' is not supported", i, role);
            break;
        }
    }
    if (st == BELT_OK) {
        json_object_set_new(out, "messages", messages);
        messages = NULL;
        if (system.len)
            json_object_set_new(out, "system", json_stringn(system.data, system.len));
    }
    json_decref(messages);
    belt_buf_deinit(&system);
    return st;
}

static void convert_tools(const json_t *req, json_t *out)
{
    const json_t *tools = json_object_get(req, "tools");
    json_t *at = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        const json_t *params = json_object_get(fn, "parameters");
        json_t *tool = json_pack("{s:s, s:O}", "name", str_or(belt_json_str(fn, "name"), ""),
                                 "input_schema", params ? params : json_object());
        const char *desc = belt_json_str(fn, "description");
        if (desc)
            json_object_set_new(tool, "description", json_string(desc));
        json_array_append_new(at, tool);
    }
    const json_t *rf = json_object_get(req, "response_format");
    const char *rft = belt_json_str(rf, "type");
    json_t *choice = NULL;
    if (rft && strcmp(rft, "json_schema") == 0) {
        const json_t *js = json_object_get(rf, "json_schema");
        const json_t *schema = json_object_get(js, "schema");
        json_array_append_new(
            at, json_pack("{s:s, s:s, s:O}", "name", BELT_ANTHROPIC_JSON_TOOL, "description",
                          "Give the answer as this tool's input.", "input_schema",
                          schema ? schema : json_pack("{s:s}", "type", "object")));
        choice = json_pack("{s:s, s:s}", "type", "tool", "name", BELT_ANTHROPIC_JSON_TOOL);
    } else {
        const json_t *tc = json_object_get(req, "tool_choice");
        const char *tcs = json_string_value(tc);
        if (tcs && strcmp(tcs, "required") == 0)
            choice = json_pack("{s:s}", "type", "any");
        else if (tcs && strcmp(tcs, "none") == 0)
            choice = json_pack("{s:s}", "type", "none");
        else if (tcs)
            choice = json_pack("{s:s}", "type", "auto");
        else if (json_is_object(tc))
            choice = json_pack("{s:s, s:s}", "type", "tool", "name",
                               str_or(belt_json_str(json_object_get(tc, "function"), "name"), ""));
    }
    if (choice && json_is_false(json_object_get(req, "parallel_tool_calls")))
        json_object_set_new(choice, "disable_parallel_tool_use", json_true());
    if (json_array_size(at))
        json_object_set_new(out, "tools", at);
    else
        json_decref(at);
    if (choice && json_array_size(json_object_get(out, "tools")))
        json_object_set_new(out, "tool_choice", choice);
    else
        json_decref(choice);
}

/* Sampling and limits. */
static void convert_params(const json_t *req, int64_t default_max_tokens, json_t *out)
{
    const json_t *mt = json_object_get(req, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(req, "max_tokens");
    json_object_set_new(
        out, "max_tokens",
        json_integer(json_is_integer(mt) ? json_integer_value(mt) : default_max_tokens));
    const json_t *t = json_object_get(req, "temperature");
    if (json_is_number(t))
        json_object_set_new(out, "temperature", json_real(BELT_MIN(json_number_value(t), 1.0)));
    static const char *const same[] = {"top_p", "top_k", "metadata", "thinking"};
    for (size_t i = 0; i < BELT_ARRAY_LEN(same); i++) {
        json_t *v = json_object_get(req, same[i]);
        if (v)
            json_object_set(out, same[i], v);
    }
    const json_t *stop = json_object_get(req, "stop");
    if (json_is_string(stop))
        json_object_set_new(out, "stop_sequences", json_pack("[O]", stop));
    else if (json_is_array(stop) && json_array_size(stop))
        json_object_set(out, "stop_sequences", (json_t *)stop);
    const char *user = belt_json_str(req, "user");
    if (user && !json_object_get(out, "metadata"))
        json_object_set_new(out, "metadata", json_pack("{s:s}", "user_id", user));
}

belt_status belt__anthropic_from_openai(const json_t *req, const char *model_id,
                                        int64_t default_max_tokens, int stream, json_t **out,
                                        struct belt_error *err)
{
    *out = NULL;
    const json_t *n = json_object_get(req, "n");
    if (json_is_integer(n) && json_integer_value(n) > 1)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "n > 1 is not supported by anthropic models");
    if (!json_is_array(json_object_get(req, "messages")))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "'messages' must be an array");
    json_t *o = json_object();
    if (!o)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    json_object_set_new(o, "model", json_string(model_id));
    belt_status st = convert_messages(json_object_get(req, "messages"), o, err);
    if (st != BELT_OK) {
        json_decref(o);
        return st;
    }
    convert_params(req, default_max_tokens, o);
    convert_tools(req, o);
    const char *rft = belt_json_str(json_object_get(req, "response_format"), "type");
    if (rft && strcmp(rft, "json_object") == 0) {
        const char *sys = belt_json_str(o, "system");
        char *s = belt_strdup(sys ? sys : "");
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_printf(&b, "%s%sRespond with one JSON object and nothing else.", s ? s : "",
                        s && *s ? "\n\n" : "");
        json_object_set_new(o, "system", json_string(belt_buf_cstr(&b)));
        belt_buf_deinit(&b);
        belt_free(s);
    }
    if (stream)
        json_object_set_new(o, "stream", json_true());
    *out = o;
    return BELT_OK;
}

/* ---- response: Anthropic → OpenAI --------------------------------------------------------- */

const char *belt__anthropic_finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return "stop";
    if (strcmp(stop_reason, "max_tokens") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

static json_t *openai_usage(int64_t in, int64_t out)
{
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)in, "completion_tokens",
                     (json_int_t)out, "total_tokens", (json_int_t)(in + out));
}

/* Input tokens including prompt-cache reads and writes (all are billed input). */
static int64_t anthropic_input_tokens(const json_t *usage)
{
    return belt_json_int(usage, "input_tokens", 0) +
           belt_json_int(usage, "cache_creation_input_tokens", 0) +
           belt_json_int(usage, "cache_read_input_tokens", 0);
}

belt_status belt__anthropic_to_openai(const json_t *resp, json_t **out, struct belt_error *err)
{
    *out = NULL;
    const json_t *content = json_object_get(resp, "content");
    if (!json_is_object(resp) || !json_is_array(content))
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0, "upstream answer has no 'content'");
    struct belt_buf text;
    belt_buf_init(&text, 0);
    json_t *calls = json_array();
    const char *finish = belt__anthropic_finish_reason(belt_json_str(resp, "stop_reason"));
    size_t i;
    const json_t *blk;
    json_array_foreach(content, i, blk)
    {
        const char *type = belt_json_str(blk, "type");
        if (type && strcmp(type, "text") == 0) {
            belt_buf_puts(&text, str_or(belt_json_str(blk, "text"), ""));
        } else if (type && strcmp(type, "tool_use") == 0) {
            char *args = belt_json_dumps(json_object_get(blk, "input"), JSON_COMPACT);
            const char *name = str_or(belt_json_str(blk, "name"), "");
            if (strcmp(name, BELT_ANTHROPIC_JSON_TOOL) == 0) {
                belt_buf_puts(&text, args ? args : "{}");
                finish = "stop";
            } else {
                json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
                                                       str_or(belt_json_str(blk, "id"), ""), "type",
                                                       "function", "function", "name", name,
                                                       "arguments", args ? args : "{}"));
            }
            belt_free(args);
        }
    }
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(msg, "content",
                        text.len || !json_array_size(calls) ? json_string(belt_buf_cstr(&text))
                                                            : json_null());
    if (json_array_size(calls))
        json_object_set_new(msg, "tool_calls", calls);
    else
        json_decref(calls);
    belt_buf_deinit(&text);
    const json_t *usage = json_object_get(resp, "usage");
    const char *model = belt_json_str(resp, "model");
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o}", "id",
        str_or(belt_json_str(resp, "id"), "msg"), "object", "chat.completion", "created",
        (json_int_t)time(NULL), "model", model ? model : "", "choices", "index", 0, "message", msg,
        "logprobs", "finish_reason", finish, "usage",
        openai_usage(anthropic_input_tokens(usage), belt_json_int(usage, "output_tokens", 0)));
    if (!o)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    *out = o;
    return BELT_OK;
}

/* ---- the provider ------------------------------------------------------------------------- */

static belt_status anthropic_build(const struct belt__model *m, const char *model_id, int kind,
                                   const json_t *request, const char *raw, size_t raw_len,
                                   int stream, struct belt_buf *body, const char **path,
                                   struct belt_error *err)
{
    (void)raw;
    (void)raw_len;
    if (kind != BELT_CALL_CHAT)
        return belt__error_set(err, BELT_ERR_UNSUPPORTED, 0,
                               "model %s (anthropic) does not offer embeddings", m->name);
    json_t *o = NULL;
    belt_status st =
        belt__anthropic_from_openai(request, model_id, m->cfg->max_tokens, stream, &o, err);
    if (st != BELT_OK)
        return st;
    *path = "/messages";
    st = belt_json_dump_buf(o, JSON_COMPACT, body);
    json_decref(o);
    if (st != BELT_OK)
        return belt__error_set(err, st, 0, "cannot serialise the upstream request");
    return BELT_OK;
}

static belt_status anthropic_parse(const struct belt__model *m, int kind, const char *body,
                                   size_t len, json_t **out, int *verbatim, struct belt_error *err)
{
    (void)m;
    (void)kind;
    *verbatim = 0;
    json_error_t je;
    json_t *v = json_loadb(body, len, 0, &je);
    if (!v)
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0,
                               "upstream sent malformed JSON (line %d, column %d: %s)", je.line,
                               je.column, je.text);
    belt_status st = belt__anthropic_to_openai(v, out, err);
    json_decref(v);
    return st;
}

/* Streaming state: what message_start and content blocks told us so far. */
struct astream {
    char id[128];       /* message id */
    char model[128];    /* model name */
    int64_t created;    /* Unix seconds */
    int64_t in_tokens;  /* from message_start */
    int64_t out_tokens; /* from message_delta */
    const char *finish; /* finish_reason (static string) */
    int n_tools;        /* tool calls started so far */
    int block_tool[64]; /* content block index → tool call index, -1 text, -2 json tool */
};

static void *astream_new(void)
{
    struct astream *s = belt_calloc(1, sizeof(*s));
    if (s) {
        s->created = (int64_t)time(NULL);
        s->finish = "stop";
        for (size_t i = 0; i < BELT_ARRAY_LEN(s->block_tool); i++)
            s->block_tool[i] = -1;
    }
    return s;
}

static void astream_free(void *state)
{
    belt_free(state);
}

/* Emit one chunk with the given delta (stolen) and finish reason (NULL: null). */
static belt_status emit_delta(struct astream *s, json_t *delta, const char *finish,
                              belt_emit_fn *emit, void *ud)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:o}]}", "id", s->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)s->created, "model",
                          s->model, "choices", "index", 0, "delta", delta, "logprobs",
                          "finish_reason", finish ? json_string(finish) : json_null());
    if (!c)
        return BELT_ERR_NOMEM;
    belt_status st = emit(ud, c, NULL, 0);
    json_decref(c);
    return st;
}

static belt_status emit_usage(struct astream *s, belt_emit_fn *emit, void *ud)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", s->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)s->created, "model",
                          s->model, "choices", "usage", openai_usage(s->in_tokens, s->out_tokens));
    if (!c)
        return BELT_ERR_NOMEM;
    belt_status st = emit(ud, c, NULL, 0);
    json_decref(c);
    return st;
}

static belt_status on_block_start(struct astream *s, const json_t *v, belt_emit_fn *emit, void *ud)
{
    int64_t bi = belt_json_int(v, "index", -1);
    const json_t *cb = json_object_get(v, "content_block");
    const char *type = belt_json_str(cb, "type");
    if (bi < 0 || bi >= (int64_t)BELT_ARRAY_LEN(s->block_tool) || !type)
        return BELT_OK;
    if (strcmp(type, "tool_use") != 0) {
        const char *t = belt_json_str(cb, "text");
        return t && *t ? emit_delta(s, json_pack("{s:s}", "content", t), NULL, emit, ud) : BELT_OK;
    }
    const char *name = str_or(belt_json_str(cb, "name"), "");
    if (strcmp(name, BELT_ANTHROPIC_JSON_TOOL) == 0) {
        s->block_tool[bi] = -2;
        return BELT_OK;
    }
    int k = s->n_tools++;
    s->block_tool[bi] = k;
    json_t *d = json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls", "index", k, "id",
                          str_or(belt_json_str(cb, "id"), ""), "type", "function", "function",
                          "name", name, "arguments", "");
    return emit_delta(s, d, NULL, emit, ud);
}

static belt_status on_block_delta(struct astream *s, const json_t *v, belt_emit_fn *emit, void *ud)
{
    int64_t bi = belt_json_int(v, "index", -1);
    const json_t *d = json_object_get(v, "delta");
    const char *type = belt_json_str(d, "type");
    if (!type || bi < 0 || bi >= (int64_t)BELT_ARRAY_LEN(s->block_tool))
        return BELT_OK;
    if (strcmp(type, "text_delta") == 0)
        return emit_delta(s, json_pack("{s:s}", "content", str_or(belt_json_str(d, "text"), "")),
                          NULL, emit, ud);
    if (strcmp(type, "input_json_delta") != 0)
        return BELT_OK; /* thinking, signatures: not part of the OpenAI answer */
    const char *pj = str_or(belt_json_str(d, "partial_json"), "");
    int k = s->block_tool[bi];
    if (k == -2)
        return emit_delta(s, json_pack("{s:s}", "content", pj), NULL, emit, ud);
    if (k < 0)
        return BELT_OK;
    return emit_delta(
        s, json_pack("{s:[{s:i, s:{s:s}}]}", "tool_calls", "index", k, "function", "arguments", pj),
        NULL, emit, ud);
}

static belt_status astream_event(void *state, const char *event, const char *data, size_t len,
                                 belt_emit_fn *emit, void *ud, int *done, struct belt_error *err)
{
    struct astream *s = state;
    json_error_t je;
    json_t *v = json_loadb(data, len, 0, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0,
                               "upstream stream sent malformed JSON (%s)", je.text);
    }
    const char *type = event[0] ? event : belt_json_str(v, "type");
    belt_status st = BELT_OK;
    if (!type) {
        st = BELT_OK;
    } else if (strcmp(type, "message_start") == 0) {
        const json_t *msg = json_object_get(v, "message");
        snprintf(s->id, sizeof(s->id), "%s", str_or(belt_json_str(msg, "id"), "msg"));
        snprintf(s->model, sizeof(s->model), "%s", str_or(belt_json_str(msg, "model"), ""));
        s->in_tokens = anthropic_input_tokens(json_object_get(msg, "usage"));
        st = emit_delta(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, emit,
                        ud);
    } else if (strcmp(type, "content_block_start") == 0) {
        st = on_block_start(s, v, emit, ud);
    } else if (strcmp(type, "content_block_delta") == 0) {
        st = on_block_delta(s, v, emit, ud);
    } else if (strcmp(type, "message_delta") == 0) {
        const json_t *d = json_object_get(v, "delta");
        const char *sr = belt_json_str(d, "stop_reason");
        if (sr)
            s->finish = belt__anthropic_finish_reason(sr);
        const json_t *u = json_object_get(v, "usage");
        if (json_object_get(u, "output_tokens"))
            s->out_tokens = belt_json_int(u, "output_tokens", 0);
    } else if (strcmp(type, "message_stop") == 0) {
        int json_tool = 0;
        for (size_t i = 0; i < BELT_ARRAY_LEN(s->block_tool); i++)
            json_tool |= s->block_tool[i] == -2;
        st = emit_delta(s, json_object(), json_tool ? "stop" : s->finish, emit, ud);
        if (st == BELT_OK)
            st = emit_usage(s, emit, ud);
        *done = 1;
    } else if (strcmp(type, "error") == 0) {
        const char *msg = belt_json_str(json_object_get(v, "error"), "message");
        st = belt__error_set(err, BELT_ERR_UPSTREAM, 0, "upstream stream error: %s",
                             msg ? msg : "(no message)");
    }
    json_decref(v);
    if (st == BELT_ERR_NOMEM)
        belt__error_set(err, st, 0, "out of memory");
    return st;
}

const struct belt_provider_ops belt__provider_anthropic = {
    "anthropic",
    "anthropic",
    1,
    anthropic_build,
    anthropic_parse,
    astream_new,
    astream_free,
    astream_event,
    belt__error_message_generic,
    NULL, /* answer: remote */
    0,    /* passthrough: answers are translated */
};
