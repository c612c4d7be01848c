/*
 * call.c — a station's route call (see call.h): one belt_route_call reduced to a
 * belt__lcall_result, with the route's path turned into JSON steps.
 */
#include "belt_config.h"

#include <math.h>
#include <string.h>

#include "line/call.h"
#include "util/error.h"

struct belt__lcall {
    struct belt_route_call *rc; /* the route call in flight */
    belt__lcall_fn *cb;         /* the station's callback */
    void *ud;
};

static json_t *steps_json(const struct belt_route_answer *a, int *n_esc)
{
    json_t *arr = json_array();
    *n_esc = 0;
    for (size_t i = 0; arr && i < a->n_steps; i++) {
        const struct belt_route_step *s = &a->steps[i];
        json_t *o = json_object();
        if (!o)
            break;
        json_object_set_new(o, "event", json_string(s->event ? s->event : ""));
        if (s->depth > 0)
            json_object_set_new(o, "route", json_string(s->route ? s->route : ""));
        json_object_set_new(o, "tier", json_integer(s->tier));
        if (s->model)
            json_object_set_new(o, "model", json_string(s->model));
        if (s->reason && *s->reason)
            json_object_set_new(o, "reason", json_string(s->reason));
        if (!isnan(s->sig.confidence))
            json_object_set_new(o, "confidence", json_real(s->sig.confidence));
        if (s->cost_usd > 0)
            json_object_set_new(o, "cost_usd", json_real(s->cost_usd));
        if (s->latency_us > 0)
            json_object_set_new(o, "latency_us", json_integer(s->latency_us));
        json_array_append_new(arr, o);
        if (s->event && strcmp(s->event, "escalated") == 0 && s->depth == 0)
            (*n_esc)++;
    }
    return arr;
}

/* Why a route ended without an accepted answer, tier by tier: "tier 1 intent escalated:
 * confidence 0.52 < 0.75; tier 2 small failed: ..." (top-level tier steps only). */
static void explain(const struct belt_route_answer *a, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->n_steps && o + 1 < cap; i++) {
        const struct belt_route_step *s = &a->steps[i];
        if (s->depth != 0 || !s->event || !s->reason || !*s->reason)
            continue;
        int w;
        if (s->tier >= 0)
            w = snprintf(out + o, cap - o, "%stier %d %s %s: %s", o ? "; " : "", s->tier + 1,
                         s->model ? s->model : "", s->event, s->reason);
        else
            w = snprintf(out + o, cap - o, "%s%s", o ? "; " : "", s->reason);
        if (w < 0)
            break;
        o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
    }
}

static void on_route_answer(void *ud, struct belt_route_call *rc, const struct belt_route_answer *a)
{
    (void)rc;
    struct belt__lcall *c = ud;
    const struct belt_answer *ans = a->answer;
    struct belt__lcall_result r;
    memset(&r, 0, sizeof(r));
    r.status = a->status;
    r.error = a->error ? a->error : "";
    r.resolved = a->status == BELT_OK && a->resolved && ans && ans->status == BELT_OK;
    r.outcome = belt_route_outcome_name(a->outcome);
    r.content = ans && ans->content ? ans->content : "";
    r.content_len = ans && ans->content ? ans->content_len : 0;
    r.label = ans ? ans->label : NULL;
    r.confidence = ans && ans->label ? ans->confidence : -1;
    r.model = a->model;
    r.tier = a->final_tier;
    r.cost_usd = a->cost_usd;
    r.latency_us = a->latency_us;
    r.input_tokens = a->input_tokens;
    r.output_tokens = a->output_tokens;
    char why[360];
    explain(a, why, sizeof(why));
    r.why = why[0] ? why : a->status != BELT_OK ? r.error : "";
    if (!*r.why && ans && ans->status != BELT_OK)
        r.why = ans->error ? ans->error : "";
    json_t *steps = steps_json(a, &r.n_escalations);
    r.steps = steps;
    c->cb(c->ud, &r);
    json_decref(steps);
    belt_free(c);
}

belt_status belt__lcall_start(struct belt_loop *l, const char *name, json_t *request,
                              const char *text, belt__lcall_fn *cb, void *ud,
                              struct belt__lcall **out, struct belt_error *err)
{
    struct belt__lcall *c = belt_calloc(1, sizeof(*c));
    if (!c)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    c->cb = cb;
    c->ud = ud;
    struct belt_route_call_params p = belt_route_call_default_params();
    p.name = name;
    p.request = request;
    p.text = text;
    p.text_len = text ? strlen(text) : 0;
    p.on_answer = on_route_answer;
    p.ud = c;
    belt_status st = belt_route_call_start(l, &p, &c->rc, err);
    if (st != BELT_OK) {
        belt_free(c);
        return st;
    }
    if (out)
        *out = c;
    return BELT_OK;
}

void belt__lcall_cancel(struct belt__lcall *c)
{
    if (c && c->rc)
        belt_route_call_cancel(c->rc);
}
