/*
 * replay.c — loading recorded outcomes (see replay.h). Strict: a record that does not follow the
 * format is an error naming FILE:LINE and the field, because a silently skipped task would bias
 * every figure computed from the file.
 */
#include "belt_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "route/replay.h"
#include "util/error.h"
#include "util/json.h"

struct ctx {
    struct belt__replay *rp; /* being filled */
    int64_t line;            /* current line */
    struct belt_error *err;  /* where errors go */
};

#define BAD(c, ...) bad((c), __VA_ARGS__)

static belt_status bad(struct ctx *c, const char *fmt, ...) BELT_PRINTF(2, 3);

static belt_status bad(struct ctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return belt__error_set(c->err, BELT_ERR_FORMAT, 0, "%s:%lld: %s", c->rp->path,
                           (long long)c->line, msg);
}

static belt_status nomem(struct ctx *c)
{
    return belt__error_set(c->err, BELT_ERR_NOMEM, 0, "out of memory");
}

/* Optional string field → owned copy (NULL when absent or null). */
static belt_status get_str(struct ctx *c, const json_t *o, const char *key, const char *where,
                           char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return BELT_OK;
    if (!json_is_string(v))
        return BAD(c, "%s%s: expected a string", where, key);
    *out = belt_strndup(json_string_value(v), json_string_length(v));
    return *out ? BELT_OK : nomem(c);
}

/* Optional number field (NAN when absent or null). */
static belt_status get_num(struct ctx *c, const json_t *o, const char *key, const char *where,
                           double *out)
{
    const json_t *v = json_object_get(o, key);
    *out = NAN;
    if (!v || json_is_null(v))
        return BELT_OK;
    if (!json_is_number(v))
        return BAD(c, "%s%s: expected a number", where, key);
    *out = json_number_value(v);
    return BELT_OK;
}

/* cost_usd / latency_ms / answer of a sample or judgement object into a. */
static belt_status read_call(struct ctx *c, const json_t *o, const char *where,
                             struct belt__answer *a)
{
    double lat;
    belt_status st = get_num(c, o, "cost_usd", where, &a->cost_usd);
    if (st == BELT_OK)
        st = get_num(c, o, "latency_ms", where, &lat);
    if (st == BELT_OK && !isnan(a->cost_usd) && a->cost_usd < 0)
        st = BAD(c, "%scost_usd: must be >= 0", where);
    if (st == BELT_OK && !isnan(lat))
        a->latency_us = (int64_t)(lat * 1000.0);
    return st;
}

static belt_status read_samples(struct ctx *c, const json_t *v, const char *where,
                                struct belt__replay_outcome *o)
{
    if (!json_is_array(v))
        return BAD(c, "%ssamples: expected a list of answers", where);
    size_t n = json_array_size(v);
    o->samples = belt_calloc(n ? n : 1, sizeof(*o->samples));
    if (!o->samples)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(v, i);
        struct belt__answer *a = &o->samples[o->n_samples];
        *a = belt__answer_empty();
        a->cost_usd = o->ans.cost_usd;
        a->latency_us = o->ans.latency_us;
        const json_t *text = json_is_object(s) ? json_object_get(s, "answer") : s;
        if (!json_is_string(text))
            return BAD(c, "%ssamples[%zu]: expected a string or {answer, cost_usd}", where, i);
        char *t = belt_strndup(json_string_value(text), json_string_length(text));
        if (!t)
            return nomem(c);
        a->text = t;
        a->len = json_string_length(text);
        o->n_samples++;
        if (json_is_object(s)) {
            char w[160];
            snprintf(w, sizeof(w), "%ssamples[%zu].", where, i);
            belt_status st = read_call(c, s, w, a);
            if (st != BELT_OK)
                return st;
        }
    }
    return BELT_OK;
}

static belt_status read_verify(struct ctx *c, const json_t *v, const char *where,
                               struct belt__replay_outcome *o)
{
    if (!json_is_object(v))
        return BAD(c, "%sverify: expected {\"judge-model\": score, ...}", where);
    o->verify = belt_calloc(json_object_size(v) + 1, sizeof(*o->verify));
    if (!o->verify)
        return nomem(c);
    const char *judge;
    json_t *j;
    json_object_foreach((json_t *)v, judge, j)
    {
        struct belt__replay_verify *rv = &o->verify[o->n_verify];
        rv->ans = belt__answer_empty();
        rv->judge = belt_strdup(judge);
        if (!rv->judge)
            return nomem(c);
        o->n_verify++;
        char w[200];
        snprintf(w, sizeof(w), "%sverify.%s", where, judge);
        if (json_is_number(j)) {
            rv->ans.score = json_number_value(j);
            continue;
        }
        if (!json_is_object(j) || !json_is_number(json_object_get(j, "score")))
            return BAD(c, "%s: expected a score or {score, cost_usd, latency_ms}", w);
        rv->ans.score = json_number_value(json_object_get(j, "score"));
        char w2[210];
        snprintf(w2, sizeof(w2), "%s.", w);
        belt_status st = read_call(c, j, w2, &rv->ans);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status read_signals(struct ctx *c, const json_t *v, const char *where,
                                struct belt__replay_outcome *o)
{
    double conf;
    belt_status st = get_num(c, v, "confidence", where, &conf);
    if (st == BELT_OK && !isnan(conf) && (conf < 0 || conf > 1))
        st = BAD(c, "%sconfidence: must be in [0, 1]", where);
    o->ans.confidence = conf;
    if (st == BELT_OK)
        st = get_num(c, v, "logprob_mean", where, &o->ans.logprob_mean);
    if (st == BELT_OK)
        st = get_num(c, v, "logprob_min", where, &o->ans.logprob_min);
    if (st == BELT_OK)
        st = get_num(c, v, "score", where, &o->ans.score);
    const json_t *ab = json_object_get(v, "abstained");
    if (st == BELT_OK && ab && !json_is_boolean(ab) && !json_is_null(ab))
        st = BAD(c, "%sabstained: expected true or false", where);
    o->ans.abstained = ab && json_is_true(ab);
    const json_t *s = json_object_get(v, "samples");
    if (st == BELT_OK && s && !json_is_null(s))
        st = read_samples(c, s, where, o);
    const json_t *vf = json_object_get(v, "verify");
    if (st == BELT_OK && vf && !json_is_null(vf))
        st = read_verify(c, vf, where, o);
    return st;
}

static belt_status read_outcome(struct ctx *c, const char *model, const json_t *v,
                                struct belt__replay_outcome *o)
{
    char where[200];
    snprintf(where, sizeof(where), "models.%s.", model);
    if (!json_is_object(v))
        return BAD(c, "models.%s: expected an object", model);
    o->present = 1;
    o->ans = belt__answer_empty();
    const json_t *cor = json_object_get(v, "correct");
    if (cor && !json_is_null(cor) && !json_is_boolean(cor) && !json_is_integer(cor))
        return BAD(c, "%scorrect: expected true or false", where);
    o->correct = !cor || json_is_null(cor) ? -1
                 : json_is_boolean(cor)    ? json_is_true(cor)
                                           : json_integer_value(cor) != 0;
    belt_status st = get_str(c, v, "answer", where, &o->text);
    if (st == BELT_OK)
        st = get_str(c, v, "label", where, &o->label);
    if (st == BELT_OK)
        st = get_str(c, v, "error", where, &o->error);
    if (st == BELT_OK)
        st = read_call(c, v, where, &o->ans);
    o->ans.text = o->text ? o->text : o->label;
    o->ans.len = o->ans.text ? strlen(o->ans.text) : 0;
    o->ans.label = o->label;
    o->ans.error = o->error;
    o->ans.status = o->error ? BELT_ERR_UPSTREAM : BELT_OK;
    o->input_tokens = belt_json_int(v, "input_tokens", -1);
    o->output_tokens = belt_json_int(v, "output_tokens", -1);
    return st == BELT_OK ? read_signals(c, v, where, o) : st;
}

/* The index of model `name`, adding it (and a slot in every task read so far) if new. */
static belt_status model_slot(struct ctx *c, const char *name, size_t *out)
{
    struct belt__replay *rp = c->rp;
    *out = belt__replay_model(rp, name);
    if (*out != BELT__REPLAY_NONE)
        return BELT_OK;
    /* grow every task's outcome array first: a failure then leaves nothing half-added */
    for (size_t t = 0; t < rp->n_tasks; t++) {
        struct belt__replay_outcome *o =
            belt_realloc(rp->tasks[t].out, (rp->n_models + 1) * sizeof(*o));
        if (!o)
            return nomem(c);
        memset(&o[rp->n_models], 0, sizeof(*o));
        rp->tasks[t].out = o;
    }
    char **m = belt_realloc(rp->models, (rp->n_models + 1) * sizeof(*m));
    if (!m)
        return nomem(c);
    rp->models = m;
    m[rp->n_models] = belt_strdup(name);
    if (!m[rp->n_models])
        return nomem(c);
    *out = rp->n_models++;
    return BELT_OK;
}

static belt_status read_tags(struct ctx *c, const json_t *obj, struct belt__replay_task *t)
{
    const json_t *tags = json_object_get(obj, "tags");
    if (!tags || json_is_null(tags))
        return BELT_OK;
    if (!json_is_array(tags))
        return BAD(c, "tags: expected a list of strings");
    t->tags = belt_calloc(json_array_size(tags) + 1, sizeof(char *));
    if (!t->tags)
        return nomem(c);
    for (size_t i = 0; i < json_array_size(tags); i++) {
        const json_t *s = json_array_get(tags, i);
        if (!json_is_string(s))
            return BAD(c, "tags[%zu]: expected a string", i);
        t->tags[t->n_tags] = belt_strdup(json_string_value(s));
        if (!t->tags[t->n_tags])
            return nomem(c);
        t->n_tags++;
    }
    return BELT_OK;
}

static belt_status read_task(struct ctx *c, const json_t *obj, struct belt__replay_task *t)
{
    t->line = c->line;
    const json_t *q = json_object_get(obj, "query");
    if (!json_is_string(q))
        return BAD(c, "query: missing or not a string");
    t->query = belt_strndup(json_string_value(q), json_string_length(q));
    t->query_len = json_string_length(q);
    if (!t->query)
        return nomem(c);
    belt_status st = get_str(c, obj, "id", "", &t->id);
    if (st == BELT_OK && !t->id) {
        char buf[32];
        snprintf(buf, sizeof(buf), "line %lld", (long long)c->line);
        t->id = belt_strdup(buf);
        if (!t->id)
            return nomem(c);
    }
    if (st == BELT_OK)
        st = get_str(c, obj, "expected", "", &t->expected);
    if (st == BELT_OK)
        st = get_str(c, obj, "stakes", "", &t->stakes);
    if (st == BELT_OK)
        st = get_str(c, obj, "key", "", &t->key);
    return st == BELT_OK ? read_tags(c, obj, t) : st;
}

static belt_status read_models(struct ctx *c, const json_t *obj, struct belt__replay_task *t)
{
    const json_t *models = json_object_get(obj, "models");
    if (!json_is_object(models) || json_object_size(models) == 0)
        return BAD(c, "models: missing or not an object of model outcomes");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)models, name, v)
    {
        size_t m;
        belt_status st = model_slot(c, name, &m);
        if (st != BELT_OK)
            return st;
        st = read_outcome(c, name, v, &t->out[m]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status add_task(struct ctx *c, const json_t *obj, size_t *cap)
{
    struct belt__replay *rp = c->rp;
    if (rp->n_tasks == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct belt__replay_task *v = belt_realloc(rp->tasks, ncap * sizeof(*v));
        if (!v)
            return nomem(c);
        rp->tasks = v;
        *cap = ncap;
    }
    struct belt__replay_task *t = &rp->tasks[rp->n_tasks];
    memset(t, 0, sizeof(*t));
    t->out = belt_calloc(rp->n_models ? rp->n_models : 1, sizeof(*t->out));
    if (!t->out)
        return nomem(c);
    rp->n_tasks++;
    belt_status st = read_task(c, obj, t);
    return st == BELT_OK ? read_models(c, obj, t) : st;
}

belt_status belt__replay_load(const char *path, struct belt__replay **out, struct belt_error *err)
{
    *out = NULL;
    struct belt__replay *rp = belt_calloc(1, sizeof(*rp));
    if (!rp || !(rp->path = belt_strdup(path))) {
        belt_free(rp);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    struct ctx c = {rp, 0, err};
    struct belt_jsonl_reader r;
    belt_status st = belt_jsonl_open(&r, path, err);
    int opened = st == BELT_OK;
    size_t cap = 0;
    while (st == BELT_OK) {
        json_t *obj = NULL;
        st = belt_jsonl_next(&r, &obj, err);
        if (st != BELT_OK || !obj)
            break;
        c.line = belt_jsonl_lineno(&r);
        st = add_task(&c, obj, &cap);
        json_decref(obj);
    }
    if (opened)
        belt_jsonl_close(&r);
    if (st == BELT_OK && rp->n_tasks == 0)
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "%s: no tasks", path);
    if (st != BELT_OK) {
        belt__replay_free(rp);
        return st;
    }
    *out = rp;
    return BELT_OK;
}

static void free_outcome(struct belt__replay_outcome *o)
{
    belt_free(o->text);
    belt_free(o->label);
    belt_free(o->error);
    for (size_t i = 0; i < o->n_samples; i++)
        belt_free((char *)o->samples[i].text);
    belt_free(o->samples);
    for (size_t i = 0; i < o->n_verify; i++)
        belt_free(o->verify[i].judge);
    belt_free(o->verify);
}

void belt__replay_free(struct belt__replay *rp)
{
    if (!rp)
        return;
    for (size_t t = 0; t < rp->n_tasks; t++) {
        struct belt__replay_task *task = &rp->tasks[t];
        for (size_t m = 0; task->out && m < rp->n_models; m++)
            free_outcome(&task->out[m]);
        belt_free(task->out);
        belt_free(task->id);
        belt_free(task->query);
        belt_free(task->expected);
        belt_free(task->stakes);
        belt_free(task->key);
        for (size_t i = 0; i < task->n_tags; i++)
            belt_free(task->tags[i]);
        belt_free(task->tags);
    }
    belt_free(rp->tasks);
    for (size_t m = 0; m < rp->n_models; m++)
        belt_free(rp->models[m]);
    belt_free(rp->models);
    belt_free(rp->path);
    belt_free(rp);
}

size_t belt__replay_model(const struct belt__replay *rp, const char *name)
{
    for (size_t i = 0; i < rp->n_models; i++)
        if (strcmp(rp->models[i], name) == 0)
            return i;
    return BELT__REPLAY_NONE;
}

const struct belt__answer *belt__replay_verdict(const struct belt__replay_outcome *o,
                                                const char *judge)
{
    for (size_t i = 0; i < o->n_verify; i++)
        if (strcmp(o->verify[i].judge, judge) == 0)
            return &o->verify[i].ans;
    return NULL;
}

double belt__replay_mean_cost(const struct belt__replay *rp, size_t m)
{
    double sum = 0;
    size_t n = 0;
    for (size_t t = 0; t < rp->n_tasks; t++) {
        const struct belt__replay_outcome *o = &rp->tasks[t].out[m];
        if (o->present && !isnan(o->ans.cost_usd)) {
            sum += o->ans.cost_usd;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

int64_t belt__replay_mean_latency_us(const struct belt__replay *rp, size_t m)
{
    double sum = 0;
    size_t n = 0;
    for (size_t t = 0; t < rp->n_tasks; t++) {
        const struct belt__replay_outcome *o = &rp->tasks[t].out[m];
        if (o->present && o->ans.latency_us > 0) {
            sum += (double)o->ans.latency_us;
            n++;
        }
    }
    return n ? (int64_t)(sum / (double)n) : -1;
}
