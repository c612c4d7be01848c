/*
 * record.c — what a finished request leaves behind: its trace (row + one step per upstream
 * attempt, OpenTelemetry GenAI attributes) queued to the store writer, and its metrics.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "engine/fmt.h"
#include "server/server.h"
#include "util/clock.h"
#include "util/json.h"

/* ---- traces and metrics ------------------------------------------------------------------- */

/* ,"key": before a value (keys are literals that need no escaping). */
static void attr_key(struct belt_buf *b, const char *key)
{
    if (b->len > 1)
        belt_buf_putc(b, ',');
    belt_buf_putc(b, '"');
    belt_buf_puts(b, key);
    belt_buf_puts(b, "\":");
}

static void attr_str(struct belt_buf *b, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    attr_key(b, key);
    belt_buf_append_json_string(b, v, strlen(v));
}

static void attr_i64(struct belt_buf *b, const char *key, int64_t v)
{
    char num[BELT__FMT_I64_MAX];
    attr_key(b, key);
    belt_buf_append(b, num, belt__fmt_i64(num, v));
}

/* OpenTelemetry GenAI attributes of the request and answer, as a JSON object. */
static char *trace_attrs(const struct srv_req *r, const struct belt_answer *a)
{
    struct belt_buf b;
    belt_buf_init(&b, 65536);
    belt_buf_putc(&b, '{');
    attr_str(&b, "gen_ai.operation.name", r->kind == BELT_CALL_EMBEDDINGS ? "embeddings" : "chat");
    attr_str(&b, "gen_ai.request.model", r->route);
    if (a) {
        attr_str(&b, "gen_ai.system", a->provider);
        attr_str(&b, "gen_ai.response.model", a->response_model);
        attr_str(&b, "gen_ai.response.id", a->response_id);
        if (a->finish_reason && *a->finish_reason) {
            belt_buf_puts(&b, ",\"gen_ai.response.finish_reasons\":[");
            belt_buf_append_json_string(&b, a->finish_reason, strlen(a->finish_reason));
            belt_buf_putc(&b, ']');
        }
        attr_str(&b, "belt.deployment", a->deployment);
        if (a->usage_estimated)
            belt_buf_puts(&b, ",\"belt.usage_estimated\":true");
        if (a->ttft_us)
            attr_i64(&b, "belt.ttft_us", a->ttft_us);
        if (a->n_logprobs)
            belt_buf_printf(&b, ",\"belt.logprob_mean\":%.6g,\"belt.logprob_min\":%.6g",
                            a->logprob_mean, a->logprob_min);
        if (a->label)
            belt_buf_printf(&b, ",\"belt.confidence\":%.6g", a->confidence);
    }
    const json_t *t = json_object_get(r->body, "temperature");
    if (json_is_number(t))
        belt_buf_printf(&b, ",\"gen_ai.request.temperature\":%g", json_number_value(t));
    const json_t *mt = json_object_get(r->body, "max_tokens");
    if (json_is_integer(mt))
        attr_i64(&b, "gen_ai.request.max_tokens", (int64_t)json_integer_value(mt));
    attr_str(&b, "belt.key_name", r->auth.grant.key_name);
    attr_str(&b, "belt.review_id", r->review_id);
    if (r->pii)
        attr_i64(&b, "belt.pii_redacted", (int64_t)belt_pii_map_count(r->pii));
    if (r->guard_attrs && json_array_size(r->guard_attrs)) {
        belt_buf_puts(&b, ",\"belt.guard\":");
        belt_json_dump_buf(r->guard_attrs, JSON_COMPACT | JSON_SORT_KEYS, &b);
    }
    if (r->route_json) {
        belt_buf_puts(&b, ",\"belt.route\":");
        belt_buf_puts(&b, r->route_json);
    }
    belt_buf_putc(&b, '}');
    return belt_buf_detach(&b, NULL);
}

/* The static spelling of an attempt's reason (the answer copy's string dies first). */
static const char *static_why(const char *why)
{
    static const char *const words[] = {"first", "retry", "fallback"};
    for (size_t i = 0; why && i < BELT_ARRAY_LEN(words); i++)
        if (strcmp(why, words[i]) == 0)
            return words[i];
    return "other";
}

/* The engine-owned copy of a model name (traces borrow names that must outlive the writer;
 * the answer's strings belong to a copy freed before the writer runs). */
static const struct belt__model *engine_model(const struct srv_req *r, const char *name)
{
    return name ? belt__models_find(&r->sl->s->e->models, name) : NULL;
}

static const char *engine_deployment(const struct belt__model *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_deps; i++)
        if (strcmp(m->deps[i].name, name) == 0)
            return m->deps[i].name;
    return m ? m->name : NULL;
}

void belt__srv_submit_trace(struct srv_req *r, const struct belt_answer *a, belt_status st,
                            int http_status, const char *error, double cost, int64_t in,
                            int64_t out)
{
    struct belt_engine *e = r->sl->s->e;
    if (!e->trace_on)
        return;
    struct belt_trace_rec *t = belt__trace_rec_new(a ? a->n_attempts : 0);
    if (!t)
        return;
    memcpy(t->id, r->trace_id, sizeof(t->id));
    t->ts_ms = r->ts_ms;
    t->kind = r->kind == BELT_CALL_EMBEDDINGS ? "embeddings" : "chat";
    t->route = r->route; /* a model's or route's name, engine-owned: outlives the writer */
    const struct belt__model *am = a ? engine_model(r, a->model) : NULL;
    t->model = am ? am->name : NULL;
    t->status = r->trace_status            ? r->trace_status
                : st == BELT_OK            ? "ok"
                : st == BELT_ERR_CANCELLED ? "cancelled"
                                           : "error";
    if (r->auth.grant.key_id[0]) {
        size_t n = strnlen(r->auth.grant.key_id, sizeof(t->key_buf) - 1);
        memcpy(t->key_buf, r->auth.grant.key_id, n);
        t->key_buf[n] = '\0';
        t->key_id = t->key_buf;
    }
    t->http_status = http_status;
    t->error = error && *error ? belt_strdup(error) : NULL;
    t->input_tokens = in;
    t->output_tokens = out;
    t->cost_usd = cost;
    t->latency_us = belt_now_us() - r->start_us;
    t->cache_hit = r->cache_state == CACHE_HIT;
    t->stream = r->stream;
    t->attrs = trace_attrs(r, a);
    for (size_t i = 0; a && i < a->n_attempts; i++) {
        const struct belt_attempt *at = &a->attempts[i];
        struct belt_trace_step_rec *s = &t->steps[t->n_steps++];
        s->seq = at->seq;
        const struct belt__model *sm = engine_model(r, at->model);
        s->model = sm ? sm->name : r->sl->s->e->models.v[r->model_index].name;
        s->deployment = engine_deployment(sm, at->deployment);
        s->tier = -1;
        s->status = belt__trace_step_status(at->status);
        s->http_status = at->http_status;
        s->error = at->error && *at->error ? belt_strdup(at->error) : NULL;
        s->reason = static_why(at->why);
        s->confidence = i + 1 == a->n_attempts && a->label ? a->confidence : -1;
        s->input_tokens = at->input_tokens;
        s->output_tokens = at->output_tokens;
        s->cost_usd = at->cost_usd;
        s->latency_us = at->latency_us;
    }
    belt__trace_submit(e->writer, t);
}

void belt__srv_count_request(struct srv_req *r, int status, int64_t in, int64_t out, double cost)
{
    (void)in;
    (void)out;
    (void)cost;
    if (r->rcfg && r->sl->routes) { /* a route: its own counters (models count their calls) */
        struct srv_route_counters *rc = &r->sl->routes[r->route_index];
        BELT_METRIC_ADD(rc->requests, 1);
        if (status >= 400)
            BELT_METRIC_ADD(rc->errors, 1);
        if (r->stream)
            BELT_METRIC_ADD(rc->streams, 1);
        belt__histogram_observe(&rc->latency, belt_now_us() - r->start_us);
        belt__srv_count_response(r->sl, r->endpoint, status);
        return;
    }
    if (r->kind < 0) { /* not a model request (reviews) */
        belt__srv_count_response(r->sl, r->endpoint, status);
        return;
    }
    struct belt_model_counters *mc = &r->sl->loop->shard->models[r->model_index];
    BELT_METRIC_ADD(mc->requests, 1);
    if (status >= 400)
        BELT_METRIC_ADD(mc->errors, 1);
    if (r->stream)
        BELT_METRIC_ADD(mc->streams, 1);
    belt__histogram_observe(&mc->latency, belt_now_us() - r->start_us);
    belt__srv_count_response(r->sl, r->endpoint, status);
}
