/*
 * replay.c — the `replay` provider (see replay.h): answers chat requests from recorded outcomes.
 * The outcomes file is loaded once per engine (models reading the same file share it) and
 * indexed by query text in an open-addressing hash table.
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"
#include "model/provider.h"
#include "model/replay.h"
#include "model/usage.h"
#include "route/replay.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/json.h"

/* One loaded file, shared by the replay models that read it. */
struct replay_file {
    struct belt__replay *rp; /* owned */
    size_t *slots;           /* hash table: task index + 1, 0 = empty (owned) */
    size_t mask;             /* table size - 1 (a power of two) */
    int refs;                /* models sharing it (changed only while building / freeing) */
};

/* The state of one replay model. */
struct replay_model {
    struct replay_file *file; /* shared */
    size_t model;             /* index of the recorded model in the file */
    const char *recorded;     /* its name (borrowed from the file) */
};

/* ---- query index ------------------------------------------------------------------------ */

static void trim(const char **s, size_t *n)
{
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t' || (*s)[0] == '\n' || (*s)[0] == '\r')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\n' ||
                  (*s)[*n - 1] == '\r'))
        (*n)--;
}

static uint64_t query_hash(const char *s, size_t n)
{
    trim(&s, &n);
    return belt_mix64(belt_fnv1a(BELT_FNV_OFFSET, s, n));
}

static int query_equal(const struct belt__replay_task *t, const char *s, size_t n)
{
    const char *q = t->query;
    size_t qn = t->query_len;
    trim(&q, &qn);
    trim(&s, &n);
    return qn == n && memcmp(q, s, n) == 0;
}

static belt_status index_build(struct replay_file *f, struct belt_error *err)
{
    size_t cap = 16;
    while (cap < f->rp->n_tasks * 2)
        cap *= 2;
    f->slots = belt_calloc(cap, sizeof(size_t));
    if (!f->slots)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    f->mask = cap - 1;
    for (size_t i = 0; i < f->rp->n_tasks; i++) {
        const struct belt__replay_task *t = &f->rp->tasks[i];
        size_t h = (size_t)query_hash(t->query, t->query_len) & f->mask;
        int dup = 0;
        while (f->slots[h] && !dup) {
            dup = query_equal(&f->rp->tasks[f->slots[h] - 1], t->query, t->query_len);
            h = (h + 1) & f->mask;
        }
        if (!dup) /* the first task with a query wins */
            f->slots[h] = i + 1;
    }
    return BELT_OK;
}

static const struct belt__replay_task *index_find(const struct replay_file *f, const char *s,
                                                  size_t n)
{
    size_t h = (size_t)query_hash(s, n) & f->mask;
    while (f->slots[h]) {
        const struct belt__replay_task *t = &f->rp->tasks[f->slots[h] - 1];
        if (query_equal(t, s, n))
            return t;
        h = (h + 1) & f->mask;
    }
    return NULL;
}

/* ---- open / close ----------------------------------------------------------------------- */

static struct replay_file *shared_file(const struct belt_cfg_model *cm,
                                       const struct belt__models *built)
{
    for (size_t i = 0; built && i < built->n; i++) {
        const struct belt__model *m = &built->v[i];
        const struct replay_model *rm = m->replay;
        if (rm && m->cfg->provider == BELT_PROVIDER_REPLAY && m->cfg->path &&
            strcmp(m->cfg->path, cm->path) == 0)
            return rm->file;
    }
    return NULL;
}

static void file_release(struct replay_file *f)
{
    if (!f || --f->refs > 0)
        return;
    belt__replay_free(f->rp);
    belt_free(f->slots);
    belt_free(f);
}

/* The recorded model names of the file, for an error message. */
static void list_models(const struct belt__replay *rp, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rp->n_models && used + 1 < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", rp->models[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

belt_status belt__replay_model_open(const struct belt_cfg_model *cm,
                                    const struct belt__models *built, void **state,
                                    struct belt_error *err)
{
    *state = NULL;
    if (!cm->path)
        return BELT_OK; /* offline only: calls report that a path is needed */
    struct replay_model *rm = belt_calloc(1, sizeof(*rm));
    if (!rm)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    rm->file = shared_file(cm, built);
    belt_status st = BELT_OK;
    if (!rm->file) {
        rm->file = belt_calloc(1, sizeof(*rm->file));
        st = rm->file ? belt__replay_load(cm->path, &rm->file->rp, err)
                      : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        if (st == BELT_OK)
            st = index_build(rm->file, err);
        if (st != BELT_OK && rm->file) {
            rm->file->refs = 1;
            file_release(rm->file);
            rm->file = NULL;
        }
    }
    if (st != BELT_OK) {
        belt_free(rm);
        return belt__error_prefix(err, "model %s: ", cm->name);
    }
    rm->file->refs++;
    const char *name = cm->model ? cm->model : cm->name;
    rm->model = belt__replay_model(rm->file->rp, name);
    if (rm->model == BELT__REPLAY_NONE) {
        char have[300];
        list_models(rm->file->rp, have, sizeof(have));
        belt__replay_model_close(rm);
        return belt__error_set(err, BELT_ERR_CONFIG, 0,
                               "model %s: the replay file %s has no outcomes of '%s' (it has: %s)",
                               cm->name, cm->path, name, have);
    }
    rm->recorded = rm->file->rp->models[rm->model];
    *state = rm;
    return BELT_OK;
}

void belt__replay_model_close(void *state)
{
    struct replay_model *rm = state;
    if (!rm)
        return;
    file_release(rm->file);
    belt_free(rm);
}

const struct belt__replay_task *belt__replay_model_task(const void *state, const char *text,
                                                        size_t len, size_t *model_index)
{
    const struct replay_model *rm = state;
    if (model_index)
        *model_index = rm ? rm->model : BELT__REPLAY_NONE;
    return rm && text ? index_find(rm->file, text, len) : NULL;
}

const char *belt__replay_model_recorded(const void *state)
{
    const struct replay_model *rm = state;
    return rm ? rm->recorded : NULL;
}

/* ---- answering -------------------------------------------------------------------------- */

int belt__request_user_text(const json_t *request, struct belt_buf *b)
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
        size_t j, start = b->len;
        const json_t *part;
        json_array_foreach(c, j, part)
        {
            const json_t *t = json_object_get(part, "text");
            if (!json_is_string(t))
                continue;
            if (b->len > start && belt_buf_putc(b, '\n') != BELT_OK)
                return 0;
            if (belt_buf_append(b, json_string_value(t), json_string_length(t)) != BELT_OK)
                return 0;
        }
        return 1;
    }
    return 0;
}

static void set_num(json_t *o, const char *key, double v)
{
    if (!isnan(v))
        json_object_set_new(o, key, json_real(v));
}

/* The `belt` extension of an answer from outcome o of task t. */
static json_t *extension(const struct replay_model *rm, const struct belt__replay_task *t,
                         const struct belt__replay_outcome *o)
{
    json_t *rec = json_pack("{s:s, s:s}", "task", t->id, "model", rm->recorded);
    json_t *ext = json_object();
    if (!rec || !ext) {
        json_decref(rec);
        json_decref(ext);
        return NULL;
    }
    json_object_set_new(rec, "correct", o->correct < 0 ? json_null() : json_boolean(o->correct));
    json_object_set_new(ext, "replay", rec);
    if (o->label)
        json_object_set_new(ext, "label", json_string(o->label));
    set_num(ext, "confidence", o->ans.confidence);
    set_num(ext, "logprob_mean", o->ans.logprob_mean);
    set_num(ext, "logprob_min", o->ans.logprob_min);
    return ext;
}

/* choices[] with the answer, then up to n - 1 recorded samples. */
static json_t *choices_of(const char *text, const struct belt__replay_outcome *o, int64_t n)
{
    json_t *choices = json_array();
    for (int64_t i = 0; choices && i < n && (size_t)i <= (o ? o->n_samples : 0); i++) {
        const char *s = i == 0 ? text : o->samples[i - 1].text;
        json_t *ch =
            json_pack("{s:I, s:{s:s, s:s}, s:n, s:s}", "index", (json_int_t)i, "message", "role",
                      "assistant", "content", s ? s : "", "logprobs", "finish_reason", "stop");
        if (!ch || json_array_append_new(choices, ch) != 0) {
            json_decref(choices);
            return NULL;
        }
    }
    return choices;
}

static json_t *completion(const struct belt__model *m, const json_t *request, const char *id,
                          json_t *choices, int64_t in, int64_t out, json_t *ext)
{
    if (in < 0)
        in = belt__estimate_request_tokens(request);
    if (out < 0) {
        const char *s =
            belt_json_str(json_object_get(json_array_get(choices, 0), "message"), "content");
        out = s ? belt__estimate_tokens(s, strlen(s)) : 0;
    }
    json_t *r = json_pack("{s:s, s:s, s:i, s:s, s:o, s:{s:I, s:I, s:I}}", "id", id, "object",
                          "chat.completion", "created", 0, "model", m->name, "choices", choices,
                          "usage", "prompt_tokens", (json_int_t)in, "completion_tokens",
                          (json_int_t)out, "total_tokens", (json_int_t)(in + out));
    if (r && ext)
        json_object_set_new(r, "belt", ext);
    else
        json_decref(ext);
    return r;
}

/* A verifier request: the recorded score of this judge on the named model's answer. */
static belt_status answer_verify(const struct belt__model *m, const struct replay_model *rm,
                                 const json_t *request, const json_t *v, json_t **out,
                                 struct belt__inproc_result *res, struct belt_error *err)
{
    const char *task = belt_json_str(v, "task"), *subject = belt_json_str(v, "model");
    if (!task || !subject)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "model %s: belt.verify needs 'task' and 'model'", m->name);
    const struct belt__replay_task *t = index_find(rm->file, task, strlen(task));
    size_t sm = belt__replay_model(rm->file->rp, subject);
    const struct belt__replay_outcome *o = t && sm != BELT__REPLAY_NONE ? &t->out[sm] : NULL;
    const struct belt__answer *j = o && o->present ? belt__replay_verdict(o, rm->recorded) : NULL;
    if (!j)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0,
                               "model %s: %s has no recorded judgement of %s's answer to this task",
                               m->name, rm->file->rp->path, subject);
    char score[32];
    snprintf(score, sizeof(score), "%.6g", j->score);
    json_t *choices = choices_of(score, NULL, 1);
    json_t *ext = json_pack("{s:{s:s, s:s}}", "replay", "task", t->id, "model", rm->recorded);
    *out = choices ? completion(m, request, "replay-verify", choices, -1, -1, ext) : NULL;
    if (!choices)
        json_decref(ext);
    if (!*out)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    res->cost_usd = j->cost_usd;
    res->latency_us = j->latency_us > 0 ? j->latency_us : -1;
    return BELT_OK;
}

static belt_status replay_answer(const struct belt__model *m, const json_t *request, json_t **out,
                                 struct belt__inproc_result *res, struct belt_error *err)
{
    const struct replay_model *rm = m->replay;
    *out = NULL;
    if (!rm)
        return belt__error_set(err, BELT_ERR_UNSUPPORTED, 0,
                               "model %s (replay) has no 'path': give it the outcomes file to "
                               "answer live",
                               m->name);
    const json_t *verify = json_object_get(json_object_get(request, "belt"), "verify");
    if (verify)
        return answer_verify(m, rm, request, verify, out, res, err);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (!belt__request_user_text(request, &b)) {
        belt_buf_deinit(&b);
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "model %s: the request has no user message", m->name);
    }
    const struct belt__replay_task *t = index_find(rm->file, b.data ? b.data : "", b.len);
    belt_buf_deinit(&b);
    const struct belt__replay_outcome *o = t ? &t->out[rm->model] : NULL;
    if (!o || !o->present)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0,
                               "model %s: %s has no recorded outcome of %s for this input%s%s",
                               m->name, rm->file->rp->path, rm->recorded, t ? " (task " : "",
                               t ? t->id : "");
    if (o->ans.status != BELT_OK)
        return belt__error_set(err, BELT_ERR_UPSTREAM, 0, "model %s: recorded error: %s", m->name,
                               o->error ? o->error : "failed");
    int64_t n = belt_json_int(request, "n", 1);
    char id[80];
    snprintf(id, sizeof(id), "replay-%.60s", t->id);
    json_t *choices = choices_of(o->ans.text, o, n < 1 ? 1 : n);
    json_t *ext = choices ? extension(rm, t, o) : NULL;
    *out = ext ? completion(m, request, id, choices, o->input_tokens, o->output_tokens, ext) : NULL;
    if (!ext)
        json_decref(choices);
    if (!*out)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    res->cost_usd = o->ans.cost_usd;
    res->latency_us = o->ans.latency_us > 0 ? o->ans.latency_us : -1;
    return BELT_OK;
}

const struct belt_provider_ops belt__provider_replay = {
    "replay", "belt.replay", 0, NULL, NULL, NULL, NULL, NULL, NULL, replay_answer, 0,
};
