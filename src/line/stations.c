/*
 * stations.c — the station table: one run function per kind. Local work runs inline here
 * (a local classifier answered in-process, extraction by rules, redaction, retrieval,
 * validation, review); model work goes to model_st.c, which answers later (SR_ASYNC).
 *
 * Every run function fills a struct sres: SR_OK with the output to merge (or NULL), SR_FAIL with
 * the reason (the executor then takes the station's on_fail path), SR_PARK, SR_SKIP or SR_ASYNC.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "line/exec_int.h"
#include "line/expr.h"
#include "line/retrieve.h"
#include "line/rules.h"
#include "line/template.h"
#include "model/model.h"
#include "util/error.h"
#include "util/json.h"
#include "util/jsonschema.h"

static void fail(struct sres *r, const char *fmt, ...) BELT_PRINTF(2, 3);

static void fail(struct sres *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    r->kind = SR_FAIL;
}

static void ok(struct sres *r, json_t *out, const char *tier)
{
    r->kind = SR_OK;
    r->out = out;
    snprintf(r->tier, sizeof(r->tier), "%s", tier ? tier : "");
}

/* ---- templates and conditions ------------------------------------------------------------------
 */

static const struct belt_expr_binding *args_binding(const json_t *args, struct belt_expr_binding *b)
{
    if (!args)
        return NULL;
    b->name = "args";
    b->value = belt__expr_from_json(args);
    b->next = NULL;
    return b;
}

const char *belt__render(struct belt__item *it, const struct belt_template *t, const json_t *rec,
                         const json_t *args, char *why, size_t cap)
{
    struct belt_buf *b = &it->ln->scratch;
    struct belt_expr_binding bind;
    struct belt_error e;
    belt_error_clear(&e);
    belt_buf_reset(b);
    if (belt__template_render(t, rec, args_binding(args, &bind), b, &e) != BELT_OK) {
        snprintf(why, cap, "template: %s", e.msg);
        return NULL;
    }
    return b->data ? b->data : "";
}

int belt__when_holds(const struct belt_cfg_station *s, const json_t *rec, const json_t *args)
{
    struct belt_expr_binding bind;
    return belt__expr_test(s->when, rec, args_binding(args, &bind));
}

/* The text of the station's (single) input field; NULL with a failure when it is missing. */
static char *input_text(struct belt__item *it, const struct belt_cfg_station *s, struct sres *r)
{
    const json_t *v = s->n_inputs ? belt__rec_get(it->rec, &s->inputs[0]) : NULL;
    char *text = belt__value_text(v);
    if (!text)
        fail(r, "input field '%s' is missing", s->n_inputs ? s->inputs[0].text : "?");
    return text;
}

/* ---- classify with a local model, inline --------------------------------------------------- */

static int label_allowed(const struct belt_cfg_station *s, const char *label)
{
    if (!s->labels.n)
        return 1;
    for (size_t i = 0; i < s->labels.n; i++)
        if (strcmp(s->labels.v[i], label) == 0)
            return 1;
    return 0;
}

static void classify_local(struct belt__item *it, const struct belt_cfg_station *s, struct sres *r)
{
    const struct belt__model *m = belt__models_find(&it->ln->e->models, s->route);
    if (!m || !m->local) {
        fail(r, "model '%s' is not a loaded local classifier", s->route);
        return;
    }
    char *text = input_text(it, s, r);
    if (!text)
        return;
    struct belt_predict_params pp = belt_predict_default_params();
    pp.threshold = m->cfg->threshold;
    struct belt_prediction pred;
    struct belt_error e;
    belt_error_clear(&e);
    belt_status st = belt_classifier_predict(m->local, text, strlen(text), &pp, &pred, &e);
    belt_free(text);
    r->model = m->name;
    if (st != BELT_OK) {
        fail(r, "%s", e.msg);
        return;
    }
    r->confidence = pred.confidence;
    const char *best = pred.top[0].label ? pred.top[0].label : pred.label;
    if (pred.abstained) {
        fail(r, "local model %s is not sure: confidence %.2f < %.2f", m->name, pred.confidence,
             pp.threshold);
        r->candidate = json_string(best);
        return;
    }
    if (!label_allowed(s, pred.label)) {
        fail(r, "label '%s' is not one of the station's labels", pred.label);
        r->candidate = json_string(pred.label);
        return;
    }
    char tier[64];
    snprintf(tier, sizeof(tier), "local: %s", m->name);
    ok(r, json_string(pred.label), tier);
}

/* ---- extract by rules ---------------------------------------------------------------------------
 */

/* Rules first: an answer that validates (or, without a schema, any field found) is final;
 * otherwise a model takes over when the station has a route. */
static void extract(struct belt__item *it, size_t idx, const struct belt_cfg_station *s,
                    const json_t *args, const char *route, struct sres *r)
{
    json_t *found = NULL;
    if (s->rules) {
        char *text = input_text(it, s, r);
        if (!text)
            return;
        found = json_object();
        struct belt_error e;
        belt_error_clear(&e);
        belt_status st =
            found ? belt__rules_apply(s->rules, text, strlen(text), found, &e) : BELT_ERR_NOMEM;
        belt_free(text);
        if (st != BELT_OK) {
            json_decref(found);
            fail(r, "rules: %s", st == BELT_ERR_NOMEM ? "out of memory" : e.msg);
            return;
        }
        belt_error_clear(&e);
        int valid = s->schema ? belt_jsonschema_validate(s->schema, found, &e) == BELT_OK
                              : json_object_size(found) > 0;
        if (valid && !it->feedback[idx]) { /* a retry asks the model */
            ok(r, found, "rules");
            return;
        }
        if (!route) {
            r->candidate = found;
            if (s->schema)
                fail(r, "the rules' answer is not valid: %s", e.msg);
            else
                fail(r, "no rule matched");
            return;
        }
    }
    if (!route) {
        fail(r, "no rules and no route");
        json_decref(found);
        return;
    }
    json_decref(r->info);
    r->info = found; /* handed to the model station: merged over the model's answer */
    belt__model_station_start(it, idx, args, route, r);
}

/* ---- redact ------------------------------------------------------------------------------------
 */

static void redact(struct belt__item *it, const struct belt_cfg_station *s, struct sres *r)
{
    struct belt_error e;
    belt_error_clear(&e);
    if (belt__lane_pii_map(it, &e) != BELT_OK) {
        fail(r, "%s", e.msg);
        return;
    }
    size_t before = belt_pii_map_count(it->pii);
    int to_output = s->n_inputs == 1 && strcmp(s->output.text, s->name) != 0;
    int64_t n_fields = 0;
    for (size_t i = 0; i < s->n_inputs; i++) {
        const json_t *v = belt__rec_get(it->rec, &s->inputs[i]);
        if (!json_is_string(v))
            continue;
        char *out = NULL;
        size_t len = 0;
        if (belt_pii_redact(s->pii, it->pii, json_string_value(v), json_string_length(v), &out,
                            &len, &e) != BELT_OK) {
            fail(r, "%s: %s", s->inputs[i].text, e.msg);
            return;
        }
        int changed = len != json_string_length(v) || memcmp(out, json_string_value(v), len) != 0;
        n_fields += changed;
        json_t *nv = changed || to_output ? json_stringn(out, len) : NULL;
        belt_free(out);
        if (nv && belt__rec_set(it->rec, to_output ? &s->output : &s->inputs[i], nv) != BELT_OK) {
            fail(r, "out of memory");
            return;
        }
    }
    r->info = json_pack("{sI sI}", "fields_redacted", (json_int_t)n_fields, "values",
                        (json_int_t)(belt_pii_map_count(it->pii) - before));
    ok(r, NULL, "local");
}

/* ---- retrieve ----------------------------------------------------------------------------------
 */

static void retrieve(struct belt__item *it, const struct belt_cfg_station *s, const json_t *args,
                     struct sres *r)
{
    char why[300];
    char *q = NULL;
    if (s->query) {
        const char *t = belt__render(it, s->query, it->rec, args, why, sizeof(why));
        if (!t) {
            fail(r, "query %s", why);
            return;
        }
        q = belt_strdup(t);
    } else {
        q = input_text(it, s, r);
        if (!q)
            return;
    }
    struct belt_error e;
    belt_error_clear(&e);
    json_t *passages = NULL;
    struct belt_retriever *rt = q ? belt__lane_retriever(it->ln, s->corpus, &e) : NULL;
    if (!q)
        fail(r, "out of memory");
    else if (!rt ||
             belt__retriever_query_json(rt, q, strlen(q), (size_t)s->k, &passages, &e) != BELT_OK)
        fail(r, "corpus %s: %s", s->corpus, e.msg);
    else {
        r->info = json_pack("{sI}", "passages", (json_int_t)json_array_size(passages));
        ok(r, passages, "bm25");
    }
    belt_free(q);
}

/* ---- validate ----------------------------------------------------------------------------------
 */

static int regex_matches(const struct belt_cfg_station *s, const char *text, size_t len)
{
    pcre2_match_data *md = belt__rx_pool_acquire(s->rx_pool);
    if (!md)
        return -1;
    int rc = pcre2_match(s->re, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
    belt__rx_pool_release(s->rx_pool, md);
    return rc >= 0;
}

static void validate(struct belt__item *it, const struct belt_cfg_station *s, struct sres *r)
{
    const json_t *v = s->n_inputs ? belt__rec_get(it->rec, &s->inputs[0]) : it->rec;
    const char *what = s->n_inputs ? s->inputs[0].text : "the record";
    struct belt_error e;
    belt_error_clear(&e);
    if (s->schema && belt_jsonschema_validate(s->schema, v ? v : json_null(), &e) != BELT_OK) {
        fail(r, "%s does not match the schema: %s", what, v ? e.msg : "it is missing");
        return;
    }
    if (s->labels.n && (!json_is_string(v) || !label_allowed(s, json_string_value(v)))) {
        fail(r, "%s is not one of the labels", what);
        return;
    }
    if (s->re) {
        if (!json_is_string(v)) {
            fail(r, "%s is not a string", what);
            return;
        }
        if (regex_matches(s, json_string_value(v), json_string_length(v)) != 1) {
            fail(r, "%s does not match /%s/", what, s->regex);
            return;
        }
    }
    if (s->condition) {
        struct belt_expr_binding b = {"value", belt__expr_from_json(v), NULL};
        if (!v)
            b.value.type = BELT_EXPR_MISSING;
        if (!belt__expr_test(s->condition, it->rec, &b)) {
            fail(r, "condition does not hold: %s", belt__expr_source(s->condition));
            return;
        }
    }
    ok(r, NULL, "");
}

/* ---- review ------------------------------------------------------------------------------------
 */

static void review(struct belt__item *it, const struct belt_cfg_station *s, const json_t *args,
                   struct sres *r)
{
    char why[300];
    if (s->reason) {
        const char *t = belt__render(it, s->reason, it->rec, args, why, sizeof(why));
        snprintf(r->why, sizeof(r->why), "%s", t ? t : why);
    } else if (s->when) {
        snprintf(r->why, sizeof(r->why), "%s: %s", s->name, belt__expr_source(s->when));
    } else {
        snprintf(r->why, sizeof(r->why), "%s: every item is reviewed", s->name);
    }
    r->kind = SR_PARK;
    r->park = "review";
}

/* ---- dispatch ----------------------------------------------------------------------------------
 */

void belt__station_run(struct belt__item *it, size_t idx, const json_t *args, struct sres *r)
{
    const struct belt_cfg_station *s = belt__line_station_at(it->line, idx);
    if (s->when && !belt__when_holds(s, it->rec, args)) {
        r->kind = SR_SKIP;
        return;
    }
    if (s->sensitive && !s->is_tool && !it->approved[idx]) {
        snprintf(r->why, sizeof(r->why), "sensitive station %s: a person approves every run",
                 s->name);
        r->kind = SR_PARK;
        r->park = "sensitive";
        return;
    }
    const char *route = it->escalated[idx] && s->escalate ? s->escalate : s->route;
    switch (s->kind) {
    case BELT_STATION_CLASSIFY:
        if (s->route_local && route == s->route)
            classify_local(it, s, r);
        else
            belt__model_station_start(it, idx, args, route, r);
        break;
    case BELT_STATION_EXTRACT:
        extract(it, idx, s, args, route, r);
        break;
    case BELT_STATION_REDACT:
        redact(it, s, r);
        break;
    case BELT_STATION_RETRIEVE:
        retrieve(it, s, args, r);
        break;
    case BELT_STATION_VALIDATE:
        validate(it, s, r);
        break;
    case BELT_STATION_REVIEW:
        review(it, s, args, r);
        break;
    case BELT_STATION_GENERATE:
    case BELT_STATION_PLAN:
        belt__model_station_start(it, idx, args, route, r);
        break;
    default:
        fail(r, "internal: unknown station kind %d", s->kind);
        break;
    }
}
