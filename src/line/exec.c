/*
 * exec.c — the line executor (see exec.h): lanes, the life of an item (the DAG drive, plan
 * steps, failure paths), parking for review, resuming a decided review, finishing (stats,
 * gold accuracy, trace) and the output line.
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "line/exec_int.h"
#include "line/expr.h"
#include "line/retrieve.h"
#include "line/rules.h"
#include "line/template.h"
#include "store/store.h"
#include "trace/trace.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

static const char *const outcome_names[] = {"ok", "needs_review", "dropped", "error"};

const char *belt__item_outcome_name(int outcome)
{
    return outcome >= 0 && outcome < 4 ? outcome_names[outcome] : "running";
}

/* ---- records --------------------------------------------------------------------------------- */

json_t *belt__rec_get(const json_t *rec, const struct belt_cfg_path *p)
{
    const json_t *v = rec;
    for (size_t i = 0; v && i < p->n_seg; i++)
        v = json_is_object(v) ? json_object_get(v, p->seg[i]) : NULL;
    return (json_t *)v;
}

belt_status belt__rec_set(json_t *rec, const struct belt_cfg_path *p, json_t *v)
{
    json_t *o = rec;
    for (size_t i = 0; i + 1 < p->n_seg; i++) {
        json_t *next = json_object_get(o, p->seg[i]);
        if (!json_is_object(next)) {
            next = json_object();
            if (!next || json_object_set_new(o, p->seg[i], next) != 0) {
                json_decref(v);
                return BELT_ERR_NOMEM;
            }
        }
        o = next;
    }
    return json_object_set_new(o, p->seg[p->n_seg - 1], v) == 0 ? BELT_OK : BELT_ERR_NOMEM;
}

char *belt__value_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return belt_strndup(json_string_value(v), json_string_length(v));
    return belt_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

const struct belt_cfg_station *belt__line_station_at(const struct belt_cfg_line *l, size_t i)
{
    return i < l->n_stations ? &l->stations[i] : &l->tools[i - l->n_stations];
}

size_t belt__station_idx(const struct belt_cfg_line *l, const struct belt_cfg_station *s)
{
    return s->is_tool ? l->n_stations + s->index : s->index;
}

/* ---- lanes ----------------------------------------------------------------------------------- */

belt_status belt__lane_new(const struct belt__lane_params *p, struct belt__lane **out,
                           struct belt_error *err)
{
    *out = NULL;
    if (!p->engine || !p->loop)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "a lane needs an engine and a loop");
    struct belt__lane *ln = belt_calloc(1, sizeof(*ln));
    if (!ln)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    ln->e = p->engine;
    ln->loop = p->loop;
    ln->cfg = belt_engine_config(p->engine);
    ln->cache = p->cache;
    ln->trace = p->trace;
    ln->gold = p->gold;
    ln->n_gold = p->n_gold;
    belt_buf_init(&ln->scratch, (size_t)8 << 20);
    if (p->run_id && !(ln->run_id = belt_strdup(p->run_id))) {
        belt__lane_free(ln);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    if (p->open_store && ln->e->store_path) {
        struct belt_store_params sp = belt_store_default_params();
        sp.path = ln->e->store_path;
        belt_status st = belt_store_open(&sp, &ln->st, err);
        if (st != BELT_OK) {
            belt__lane_free(ln);
            return st;
        }
    }
    *out = ln;
    return BELT_OK;
}

void belt__lane_free(struct belt__lane *ln)
{
    if (!ln)
        return;
    ln->closing = 1;
    while (ln->items) {
        struct belt__item *it = ln->items;
        belt__jobs_cancel(it);
        if (ln->items == it) /* still there: unlink without a callback */
            belt__item_free(it);
    }
    for (size_t i = 0; i < ln->n_retr; i++) {
        belt_free(ln->retr[i].corpus);
        belt_retriever_free(ln->retr[i].r);
    }
    belt_free(ln->retr);
    belt_free(ln->fps);
    for (size_t i = 0; ln->mcache && i < BELT__MCACHE_SLOTS; i++)
        belt_free(ln->mcache[i].value);
    belt_free(ln->mcache);
    sqlite3_finalize(ln->cache_get);
    sqlite3_finalize(ln->cache_put);
    sqlite3_finalize(ln->review_find);
    belt_audit_close(ln->audit);
    belt_store_close(ln->st);
    belt_buf_deinit(&ln->scratch);
    belt_free(ln->run_id);
    belt_free(ln);
}

size_t belt__lane_n_items(const struct belt__lane *ln)
{
    return ln->n_items;
}

struct belt_retriever *belt__lane_retriever(struct belt__lane *ln, const char *corpus,
                                            struct belt_error *err)
{
    for (size_t i = 0; i < ln->n_retr; i++)
        if (strcmp(ln->retr[i].corpus, corpus) == 0)
            return ln->retr[i].r;
    if (!ln->st) {
        belt__error_set(err, BELT_ERR_INVALID, 0, "retrieval needs a store (store.path)");
        return NULL;
    }
    struct retr_slot *v = belt_realloc(ln->retr, (ln->n_retr + 1) * sizeof(*v));
    if (!v) {
        belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    ln->retr = v;
    struct belt_retriever_params rp = belt_retriever_default_params();
    rp.corpus = corpus;
    struct belt_retriever *r = NULL;
    if (belt_retriever_new(ln->st, &rp, &r, err) != BELT_OK)
        return NULL;
    v[ln->n_retr].corpus = belt_strdup(corpus);
    if (!v[ln->n_retr].corpus) {
        belt_retriever_free(r);
        belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    v[ln->n_retr++].r = r;
    return r;
}

belt_status belt__lane_pii_map(struct belt__item *it, struct belt_error *err)
{
    if (it->pii)
        return BELT_OK;
    return belt_pii_map_new(&it->pii, err);
}

/* ---- items: life ----------------------------------------------------------------------------- */

static void drive(struct belt__item *it);

static void set_outcome(struct belt__item *it, int outcome, int idx, const char *why)
{
    if (it->outcome >= 0)
        return; /* the first terminal event wins */
    it->outcome = outcome;
    it->park_idx = idx;
    belt_free(it->reason);
    it->reason = belt_strdup(why ? why : "");
}

void belt__item_free(struct belt__item *it)
{
    if (!it)
        return;
    struct belt__lane *ln = it->ln;
    if (!it->finished && ln) {
        if (it->prev)
            it->prev->next = it->next;
        else if (ln->items == it)
            ln->items = it->next;
        if (it->next)
            it->next->prev = it->prev;
        ln->n_items--;
    }
    for (size_t i = 0; it->feedback && i < it->n_st; i++)
        belt_free(it->feedback[i]);
    belt_free(it->feedback);
    belt_free(it->state);
    json_decref(it->rec);
    json_decref(it->path);
    json_decref(it->park_answer);
    json_decref(it->park_info);
    json_decref(it->plan);
    belt_pii_map_free(it->pii);
    belt_free(it->reason);
    belt__item_delta_deinit(&it->delta);
    belt_free(it);
}

static belt_status item_alloc(struct belt__lane *ln, const struct belt__item_params *p,
                              struct belt__item **out)
{
    struct belt__item *it = belt_calloc(1, sizeof(*it));
    if (!it)
        return BELT_ERR_NOMEM;
    it->ln = ln;
    it->line = p->line;
    it->n_st = p->line->n_stations + p->line->n_tools;
    it->state = belt_calloc(it->n_st, 4); /* state, tries, escalated, approved */
    it->feedback = belt_calloc(it->n_st, sizeof(char *));
    it->path = json_array();
    it->delta.n_gold = ln->n_gold;
    it->delta.gold = ln->n_gold ? belt_calloc(ln->n_gold, 3) : NULL;
    if (!it->state || !it->feedback || !it->path || (ln->n_gold && !it->delta.gold)) {
        it->finished = 1;
        belt__item_free(it);
        return BELT_ERR_NOMEM;
    }
    it->tries = it->state + it->n_st;
    it->escalated = it->tries + it->n_st;
    it->approved = it->escalated + it->n_st;
    it->rec = json_incref(p->record);
    it->seq = p->seq;
    it->lineno = p->lineno;
    it->outcome = -1;
    it->park_idx = -1;
    it->plan_idx = -1;
    it->done = p->done;
    it->ud = p->ud;
    it->t0_us = belt_now_us();
    it->next = ln->items;
    if (ln->items)
        ln->items->prev = it;
    ln->items = it;
    ln->n_items++;
    *out = it;
    return BELT_OK;
}

static belt_status apply_resume(struct belt__item *it, const struct belt_review_record *r,
                                struct belt_error *err);

belt_status belt__item_start(struct belt__lane *ln, const struct belt__item_params *p,
                             struct belt__item **out, struct belt_error *err)
{
    if (out)
        *out = NULL;
    if (!p->line || !p->done || (!p->record && !p->resume) ||
        (p->record && !json_is_object(p->record)))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "an item needs a line, a record (JSON object) and a callback");
    struct belt__item *it = NULL;
    if (item_alloc(ln, p, &it) != BELT_OK)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (p->resume) {
        belt_status st = apply_resume(it, p->resume, err);
        if (st != BELT_OK) {
            belt__item_free(it);
            return st;
        }
    }
    if (out)
        *out = it;
    drive(it);
    return BELT_OK;
}

/* The first pending station whose needs are all done or skipped, in the line's order. */
static size_t next_ready(const struct belt__item *it)
{
    const struct belt_cfg_line *l = it->line;
    for (size_t k = 0; k < l->n_stations; k++) {
        size_t i = l->order[k];
        if (it->state[i] != ST_PENDING)
            continue;
        const struct belt_cfg_station *s = &l->stations[i];
        size_t j = 0;
        while (j < s->n_need && it->state[s->need_idx[j]] >= ST_DONE)
            j++;
        if (j == s->n_need)
            return i;
    }
    return SIZE_MAX;
}

static void start(struct belt__item *it, size_t idx, const json_t *args)
{
    struct sres r;
    memset(&r, 0, sizeof(r));
    r.confidence = -1;
    if (idx < it->line->n_stations)
        it->state[idx] = ST_RUNNING;
    it->n_running++;
    r.t0_us = belt_now_us();
    belt__station_run(it, idx, args, &r);
    if (r.kind != SR_ASYNC)
        belt__station_finished(it, idx, &r);
}

static void finish(struct belt__item *it);
static void plan_advance(struct belt__item *it);

static void drive(struct belt__item *it)
{
    if (it->in_drive) {
        it->redrive = 1;
        return;
    }
    it->in_drive = 1;
    do {
        it->redrive = 0;
        for (;;) {
            if (it->outcome >= 0) {
                if (it->plan_idx >= 0 && !it->step_running) {
                    it->plan_idx = -1; /* the plan stops with the item */
                    it->n_running--;
                }
                break;
            }
            if (it->plan_idx >= 0) {
                if (!it->step_running)
                    plan_advance(it);
                if (it->outcome >= 0)
                    continue; /* parked or dropped: the top of the loop ends the plan */
                if (it->step_running)
                    break; /* one plan step at a time; the DAG waits for the plan */
                continue;  /* the step finished inline, or the plan is done */
            }
            size_t idx = next_ready(it);
            if (idx == SIZE_MAX)
                break;
            start(it, idx, NULL);
        }
    } while (it->redrive);
    it->in_drive = 0;
    if (it->n_running == 0 && !it->finished)
        finish(it);
}

/* ---- plan steps ------------------------------------------------------------------------------ */

static void plan_park(struct belt__item *it, size_t tidx, const json_t *step)
{
    const struct belt_cfg_station *t = belt__line_station_at(it->line, tidx);
    char *args = belt_json_dumps(json_object_get(step, "args"), JSON_COMPACT | JSON_ENCODE_ANY);
    char why[400];
    snprintf(why, sizeof(why), "sensitive step %zu of the plan: %s %s", it->plan_pos + 1, t->name,
             args ? args : "{}");
    belt_free(args);
    json_decref(it->park_info);
    it->park_info = json_pack("{sI sI sO}", "plan_pos", (json_int_t)it->plan_pos, "plan_idx",
                              (json_int_t)it->plan_idx, "step", step);
    json_array_append_new(it->path, json_pack("{ss ss ss ss}", "station", t->name, "kind",
                                              belt__station_kind_names[t->kind], "status", "parked",
                                              "reason", why));
    belt__item_delta_event(&it->delta, tidx, BELT__SC_PARKED, 1, 0, NULL);
    if (it->outcome < 0)
        it->park_kind = "step";
    set_outcome(it, BELT__ITEM_NEEDS_REVIEW, (int)tidx, why);
}

static void plan_advance(struct belt__item *it)
{
    if (it->plan_pos >= json_array_size(it->plan)) {
        it->state[it->plan_idx] = ST_DONE;
        it->plan_idx = -1;
        it->n_running--;
        return;
    }
    const json_t *step = json_array_get(it->plan, it->plan_pos);
    const struct belt_cfg_station *t =
        belt__cfg_line_station(it->line, json_string_value(json_object_get(step, "station")));
    if (!t || !t->is_tool) { /* plans are checked before they run: a bug */
        set_outcome(it, BELT__ITEM_ERROR, it->plan_idx, "internal: a plan step names no tool");
        return;
    }
    size_t tidx = belt__station_idx(it->line, t);
    if (t->sensitive && !it->approved[tidx]) {
        plan_park(it, tidx, step);
        return;
    }
    it->approved[tidx] = 0; /* an approval covers one run */
    it->step_running = 1;
    start(it, tidx, json_object_get(step, "args"));
}

/* ---- results and failure paths --------------------------------------------------------------- */

/* Stations that (transitively) need `root`, and root itself, go back to pending. */
static void reset_from(struct belt__item *it, size_t root)
{
    const struct belt_cfg_line *l = it->line;
    it->state[root] = ST_PENDING;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < l->n_stations; i++) {
            if (it->state[i] == ST_PENDING && i != root)
                continue;
            if (it->state[i] == ST_RUNNING || i == root)
                continue;
            for (size_t j = 0; j < l->stations[i].n_need; j++) {
                size_t n = l->stations[i].need_idx[j];
                if (it->state[n] == ST_PENDING && (n == root || it->state[n] == ST_PENDING)) {
                    it->state[i] = ST_PENDING;
                    changed = 1;
                    break;
                }
            }
        }
    }
}

static void set_feedback(struct belt__item *it, size_t idx, const char *why)
{
    belt_free(it->feedback[idx]);
    it->feedback[idx] = belt_strdup(why);
}

/* The failure path of station idx (see cfg_lines.h: enum belt_on_fail). */
static void on_fail(struct belt__item *it, size_t idx, const char *why, json_t *candidate)
{
    const struct belt_cfg_station *s = belt__line_station_at(it->line, idx);
    int action = s->on_fail >= 0 ? s->on_fail : it->line->on_fail;
    int64_t retries = s->retries >= 0 ? s->retries : it->line->retries;
    int is_tool = s->is_tool;
    size_t target = idx;
    if (s->kind == BELT_STATION_VALIDATE && !is_tool)
        target = s->retry_idx;
    const struct belt_cfg_station *ts =
        target != SIZE_MAX ? belt__line_station_at(it->line, target) : NULL;
    int can_rerun = ts && ts->route; /* a local station would give the same answer again */
    char full[480];
    snprintf(full, sizeof(full), "%s: %s", s->name, why);
    if (it->ln->closing) {
        json_decref(candidate);
        set_outcome(it, BELT__ITEM_ERROR, (int)idx, full);
        return;
    }
    if (action == BELT_ON_FAIL_DROP) {
        json_decref(candidate);
        set_outcome(it, BELT__ITEM_DROPPED, (int)idx, full);
        return;
    }
    if (action == BELT_ON_FAIL_RETRY && can_rerun && it->tries[target] < retries) {
        it->tries[target]++;
        belt__item_delta_event(&it->delta, idx, BELT__SC_RETRIED, 1, 0, NULL);
        set_feedback(it, target, why);
        json_decref(candidate);
        if (!is_tool) /* a tool step is simply run again: its plan position stays */
            reset_from(it, target);
        return;
    }
    if ((action == BELT_ON_FAIL_RETRY || action == BELT_ON_FAIL_ESCALATE) && ts && ts->escalate &&
        !it->escalated[target]) {
        it->escalated[target] = 1;
        belt__item_delta_event(&it->delta, idx, BELT__SC_ESCALATED, 1, 0, NULL);
        it->delta.escalations++;
        set_feedback(it, target, why);
        json_decref(candidate);
        if (!is_tool) /* a tool step is simply run again: its plan position stays */
            reset_from(it, target);
        return;
    }
    if (action != BELT_ON_FAIL_REVIEW)
        it->delta.escalations++; /* escalated to a person */
    json_decref(it->park_answer);
    it->park_answer = candidate;
    belt__item_delta_event(&it->delta, idx, BELT__SC_PARKED, 1, 0, NULL);
    if (it->outcome < 0)
        it->park_kind = "failed";
    set_outcome(it, BELT__ITEM_NEEDS_REVIEW, (int)idx, full);
}

static void path_step(struct belt__item *it, const struct belt_cfg_station *s, const char *status,
                      const struct sres *r, int64_t lat_us)
{
    json_t *o = json_pack("{ss ss ss}", "station", s->name, "kind",
                          belt__station_kind_names[s->kind], "status", status);
    if (!o)
        return;
    if (r->tier[0])
        json_object_set_new(o, "tier", json_string(r->tier));
    if (r->model)
        json_object_set_new(o, "model", json_string(r->model));
    if (r->confidence >= 0)
        json_object_set_new(o, "confidence", json_real(round(r->confidence * 1e4) / 1e4));
    if (r->cost_usd > 0)
        json_object_set_new(o, "cost_usd", json_real(r->cost_usd));
    if (r->input_tokens > 0 || r->output_tokens > 0) {
        json_object_set_new(o, "input_tokens", json_integer(r->input_tokens));
        json_object_set_new(o, "output_tokens", json_integer(r->output_tokens));
    }
    json_object_set_new(o, "latency_us", json_integer(lat_us));
    if (r->why[0])
        json_object_set_new(o, "reason", json_string(r->why));
    if (r->route && json_array_size(r->route) > 0)
        json_object_set(o, "route", r->route);
    if (r->info)
        json_object_update(o, r->info);
    json_array_append_new(it->path, o);
}

static void count_station(struct belt__item *it, size_t idx, const struct sres *r, int64_t lat)
{
    struct belt__item_delta *d = &it->delta;
    if (r->kind == SR_SKIP) {
        belt__item_delta_event(d, idx, BELT__SC_SKIPPED, 1, 0, NULL);
        return;
    }
    belt__item_delta_event(d, idx, BELT__SC_RUNS, 1, 0, NULL);
    belt__item_delta_event(d, idx, BELT__SC_LATENCY, lat, 0, NULL);
    if (r->cost_usd > 0)
        belt__item_delta_event(d, idx, BELT__SC_COST, 0, r->cost_usd, NULL);
    if (r->n_escalations > 0) {
        belt__item_delta_event(d, idx, BELT__SC_ESCALATED, r->n_escalations, 0, NULL);
        d->escalations += (uint64_t)r->n_escalations;
    }
    if (r->kind == SR_OK) {
        belt__item_delta_event(d, idx, BELT__SC_OK, 1, 0, NULL);
        if (r->cached)
            belt__item_delta_event(d, idx, BELT__SC_CACHED, 1, 0, NULL);
        if (r->tier[0])
            belt__item_delta_event(d, idx, BELT__SC_TIER, 1, 0, r->tier);
    } else if (r->kind == SR_FAIL) {
        belt__item_delta_event(d, idx, BELT__SC_FAILED, 1, 0, NULL);
    }
}

static void plan_started(struct belt__item *it, size_t idx, json_t *out)
{
    json_decref(it->plan);
    it->plan = json_incref(json_object_get(out, "steps"));
    it->plan_idx = (int)idx;
    it->plan_pos = 0;
    it->n_running++; /* the plan runs until its last step */
}

void belt__station_finished(struct belt__item *it, size_t idx, struct sres *r)
{
    const struct belt_cfg_station *s = belt__line_station_at(it->line, idx);
    int is_step = idx >= it->line->n_stations;
    int64_t lat = r->kind == SR_SKIP ? 0 : belt_now_us() - r->t0_us;
    it->n_running--;
    it->cost += r->cost_usd;
    static const char *const status[] = {"ok", "failed", "parked", "skipped", "ok"};
    const char *word = r->cached && r->kind == SR_OK ? "cached" : status[r->kind];
    count_station(it, idx, r, lat);
    path_step(it, s, word, r, lat);
    if (is_step)
        it->step_running = 0;
    switch (r->kind) {
    case SR_SKIP:
        if (is_step)
            it->plan_pos++;
        else
            it->state[idx] = ST_SKIPPED;
        break;
    case SR_OK:
        if (r->out && belt__rec_set(it->rec, &s->output, json_incref(r->out)) != BELT_OK)
            set_outcome(it, BELT__ITEM_ERROR, (int)idx, "out of memory");
        if (is_step) {
            it->plan_pos++;
        } else if (s->kind == BELT_STATION_PLAN && r->out) {
            plan_started(it, idx, r->out);
        } else {
            it->state[idx] = ST_DONE;
        }
        break;
    case SR_FAIL:
        if (!is_step)
            it->state[idx] = ST_DONE; /* until on_fail resets it */
        on_fail(it, idx, r->why, r->candidate);
        r->candidate = NULL;
        break;
    case SR_PARK:
        belt__item_delta_event(&it->delta, idx, BELT__SC_PARKED, 1, 0, NULL);
        if (it->outcome < 0)
            it->park_kind = r->park ? r->park : "review";
        set_outcome(it, BELT__ITEM_NEEDS_REVIEW, (int)idx, r->why);
        break;
    default:
        break;
    }
    json_decref(r->out);
    json_decref(r->candidate);
    json_decref(r->route);
    json_decref(r->info);
    memset(r, 0, sizeof(*r));
    drive(it); /* inside a drive (an inline station) this only asks it to look again */
}

/* ---- parking --------------------------------------------------------------------------------- */

static json_t *park_payload(const struct belt__item *it)
{
    const struct belt_cfg_line *l = it->line;
    json_t *done = json_array();
    for (size_t i = 0; done && i < l->n_stations; i++)
        if (it->state[i] >= ST_DONE && (int)i != it->park_idx)
            json_array_append_new(done, json_string(l->stations[i].name));
    const struct belt_cfg_station *ps =
        it->park_idx >= 0 ? belt__line_station_at(l, (size_t)it->park_idx) : NULL;
    json_t *p = json_pack("{ss sI sI sO ss* ss so* sO}", "line", l->name, "item",
                          (json_int_t)it->seq, "lineno", (json_int_t)it->lineno, "record", it->rec,
                          "station", ps ? ps->name : NULL, "park",
                          it->park_kind ? it->park_kind : "failed", "done", done, "path", it->path);
    if (p && it->park_info && it->plan) {
        json_int_t pi = json_integer_value(json_object_get(it->park_info, "plan_idx"));
        json_object_set(p, "plan", it->plan);
        json_object_set(p, "plan_pos", json_object_get(it->park_info, "plan_pos"));
        if (pi >= 0 && (size_t)pi < l->n_stations)
            json_object_set_new(p, "plan_station", json_string(l->stations[pi].name));
    }
    return p;
}

/* The audit writer on the lane's store connection, opened at the first park: a parked item is
 * an event the audit log must show ("review.add"), as it is for the gateway. NULL (logged once)
 * when it cannot be opened; the item is parked all the same. */
static struct belt_audit *lane_audit(struct belt__lane *ln)
{
    if (ln->audit || ln->audit_failed)
        return ln->audit;
    struct belt_error e;
    belt_error_clear(&e);
    if (belt_audit_open_config(ln->cfg, ln->st, &ln->audit, &e) != BELT_OK) {
        BELT_LOG_W("lines: parked items will not be audited: %s", e.msg);
        ln->audit_failed = 1;
        ln->audit = NULL;
    }
    return ln->audit;
}

static int find_review(struct belt__lane *ln, const char *item_id, char out[40])
{
    if (!ln->review_find &&
        belt__store_prepare(ln->st, "SELECT id FROM reviews WHERE run_id = ? AND item_id = ?",
                            &ln->review_find, NULL) != BELT_OK)
        return 0;
    sqlite3_reset(ln->review_find);
    sqlite3_bind_text(ln->review_find, 1, ln->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ln->review_find, 2, item_id, -1, SQLITE_TRANSIENT);
    int found = 0;
    if (sqlite3_step(ln->review_find) == SQLITE_ROW) {
        snprintf(out, 40, "%s", (const char *)sqlite3_column_text(ln->review_find, 0));
        found = 1;
    }
    sqlite3_reset(ln->review_find);
    return found;
}

/* Park a finished needs_review item in the review queue (once per run item: a run resumed
 * after a crash finds the review it added before). */
static void park(struct belt__item *it)
{
    struct belt__lane *ln = it->ln;
    if (!ln->st)
        return;
    char item_id[32] = "";
    if (it->seq >= 0)
        snprintf(item_id, sizeof(item_id), "%lld", (long long)it->seq);
    if (ln->run_id && item_id[0] && find_review(ln, item_id, it->review_id))
        return;
    json_t *payload = park_payload(it);
    char *pj = payload ? belt_json_dumps(payload, JSON_COMPACT) : NULL;
    char *aj =
        it->park_answer ? belt_json_dumps(it->park_answer, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const struct belt_cfg_station *ps =
        it->park_idx >= 0 ? belt__line_station_at(it->line, (size_t)it->park_idx) : NULL;
    struct belt_review_item ri = {"line",
                                  it->reason[0] ? it->reason : "review",
                                  pj,
                                  aj,
                                  it->line->name,
                                  ln->run_id,
                                  item_id[0] ? item_id : NULL,
                                  ps ? ps->name : NULL,
                                  ps ? ps->route : NULL};
    struct belt_error e;
    belt_error_clear(&e);
    if (!pj || belt_review_add(ln->st, lane_audit(ln), &ri, it->review_id, &e) != BELT_OK) {
        BELT_LOG_W("line %s: item %lld: cannot park it for review: %s", it->line->name,
                   (long long)it->seq, pj ? e.msg : "out of memory");
        it->review_id[0] = '\0';
    }
    belt_free(pj);
    belt_free(aj);
    json_decref(payload);
}

/* ---- resuming a decided review --------------------------------------------------------------- */

static int station_by_name(const struct belt_cfg_line *l, const char *name)
{
    const struct belt_cfg_station *s = belt__cfg_line_station(l, name);
    return s ? (int)belt__station_idx(l, s) : -1;
}

/* Continue the plan a sensitive step parked: same steps, same position, the step approved
 * (an edited answer replaces the step's arguments). */
static belt_status resume_step(struct belt__item *it, const json_t *p, int pidx, json_t *answer)
{
    int plan_idx = station_by_name(it->line, json_string_value(json_object_get(p, "plan_station")));
    const json_t *plan = json_object_get(p, "plan");
    json_int_t pos = json_integer_value(json_object_get(p, "plan_pos"));
    if (plan_idx < 0 || (size_t)plan_idx >= it->line->n_stations || !json_is_array(plan) ||
        pos < 0 || (size_t)pos >= json_array_size(plan))
        return BELT_ERR_FORMAT;
    it->plan = json_deep_copy(plan);
    if (!it->plan)
        return BELT_ERR_NOMEM;
    if (json_is_object(answer))
        json_object_set(json_array_get(it->plan, (size_t)pos), "args", answer);
    it->plan_idx = plan_idx;
    it->plan_pos = (size_t)pos;
    it->state[plan_idx] = ST_RUNNING;
    it->n_running++;
    it->approved[pidx] = 1;
    return BELT_OK;
}

/* Apply the person's decision to the parked station. */
static belt_status resume_decision(struct belt__item *it, const json_t *p, int pidx,
                                   const struct belt_review_record *r, json_t *answer)
{
    const struct belt_cfg_station *ps = belt__line_station_at(it->line, (size_t)pidx);
    const char *kind = json_string_value(json_object_get(p, "park"));
    int edited = r->status == BELT_REVIEW_EDITED;
    if (kind && strcmp(kind, "step") == 0)
        return resume_step(it, p, pidx, edited ? answer : NULL);
    if (kind && strcmp(kind, "review") == 0) {
        if (edited && json_is_object(answer))
            json_object_update(it->rec, answer);
        it->state[pidx] = ST_DONE;
        return belt__rec_set(it->rec, &ps->output,
                             json_pack("{ss ss* sb}", "decision",
                                       belt_review_status_name(r->status), "by", r->decided_by,
                                       "edited", edited));
    }
    if (kind && strcmp(kind, "sensitive") == 0) {
        if (edited && json_is_object(answer))
            json_object_update(it->rec, answer);
        it->approved[pidx] = 1;
        it->state[pidx] = ST_PENDING;
        return BELT_OK;
    }
    /* failed: the person's answer (edited) or the candidate they approved stands */
    it->state[pidx] = ST_DONE;
    json_t *v = edited ? answer : NULL;
    if (!edited && r->answer_json)
        v = json_loads(r->answer_json, JSON_DECODE_ANY, NULL);
    else
        json_incref(v);
    if (!v || json_is_null(v)) {
        json_decref(v);
        return BELT_OK;
    }
    if (ps->kind == BELT_STATION_VALIDATE)
        return ps->n_inputs ? belt__rec_set(it->rec, &ps->inputs[0], v) : (json_decref(v), BELT_OK);
    return belt__rec_set(it->rec, &ps->output, v);
}

static belt_status apply_resume(struct belt__item *it, const struct belt_review_record *r,
                                struct belt_error *err)
{
    json_t *p = NULL, *dec = NULL;
    belt_status st =
        belt_json_parse(r->payload_json, strlen(r->payload_json), "review payload", 0, &p, err);
    if (st != BELT_OK)
        return st;
    const json_t *rec = json_object_get(p, "record"), *done = json_object_get(p, "done");
    int pidx = station_by_name(it->line, json_string_value(json_object_get(p, "station")));
    if (!json_is_object(rec) || !json_is_array(done) || pidx < 0) {
        json_decref(p);
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "review %s: its payload is not a parked item of line %s", r->id,
                               it->line->name);
    }
    json_decref(it->rec);
    it->rec = json_deep_copy(rec);
    it->seq = json_integer_value(json_object_get(p, "item"));
    it->lineno = json_integer_value(json_object_get(p, "lineno"));
    const json_t *path = json_object_get(p, "path");
    if (json_is_array(path))
        json_array_extend(it->path, (json_t *)path);
    size_t i;
    const json_t *name;
    json_array_foreach(done, i, name)
    {
        int k = station_by_name(it->line, json_string_value(name));
        if (k >= 0 && (size_t)k < it->line->n_stations)
            it->state[k] = ST_DONE;
    }
    snprintf(it->review_id, sizeof(it->review_id), "%s", r->id);
    if (r->decision_json)
        dec = json_loads(r->decision_json, 0, NULL);
    const char *note = json_string_value(json_object_get(dec, "note"));
    const struct belt_cfg_station *ps = belt__line_station_at(it->line, (size_t)pidx);
    json_array_append_new(it->path, json_pack("{ss ss ss ss* ss* ss}", "station", ps->name, "kind",
                                              belt__station_kind_names[ps->kind], "status",
                                              belt_review_status_name(r->status), "by",
                                              r->decided_by, "note", note, "review_id", r->id));
    if (r->status == BELT_REVIEW_REJECTED) {
        char why[300];
        snprintf(why, sizeof(why), "rejected by %s%s%s", r->decided_by ? r->decided_by : "a person",
                 note ? ": " : "", note ? note : "");
        set_outcome(it, BELT__ITEM_DROPPED, pidx, why);
        st = BELT_OK;
    } else {
        st = resume_decision(it, p, pidx, r, json_object_get(dec, "answer"));
        if (st != BELT_OK)
            belt__error_set(err, st, 0, "review %s: cannot continue the item", r->id);
    }
    if (!it->rec && st == BELT_OK)
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    json_decref(dec);
    json_decref(p);
    return st;
}

/* ---- finishing ------------------------------------------------------------------------------- */

static int values_equal(const json_t *a, const json_t *b)
{
    double x, y;
    if (json_is_number(a) && json_is_string(b))
        return belt__rules_parse_amount(json_string_value(b), json_string_length(b), &y) == 0 &&
               fabs(json_number_value(a) - y) <= 1e-6 * fmax(1.0, fabs(y));
    if (json_is_string(a) && json_is_number(b))
        return values_equal(b, a);
    if (json_is_number(a) && json_is_number(b)) {
        x = json_number_value(a);
        y = json_number_value(b);
        return fabs(x - y) <= 1e-6 * fmax(1.0, fabs(x));
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static void count_gold(struct belt__item *it)
{
    struct belt__lane *ln = it->ln;
    for (size_t g = 0; g < ln->n_gold && g < it->delta.n_gold; g++) {
        unsigned char *c = &it->delta.gold[3 * g];
        const json_t *gold = belt__rec_get(it->rec, &ln->gold[g].gold);
        if (!gold || json_is_null(gold))
            continue;
        c[0] = 1;
        const json_t *pred = belt__rec_get(it->rec, &ln->gold[g].pred);
        if (!pred || json_is_null(pred))
            continue;
        c[1] = 1;
        c[2] = values_equal(gold, pred) != 0;
    }
}

static const char *model_name(const struct belt_config *cfg, const char *name)
{
    const struct belt_cfg_model *m = name ? belt__cfg_models_find(&cfg->models, name) : NULL;
    return m ? m->name : NULL;
}

/* One trace per item: kind "line", route = the line, one step per station run. */
static void trace_item(struct belt__item *it)
{
    struct belt__lane *ln = it->ln;
    struct belt_engine *e = ln->e;
    if (ln->trace == 0 || !it->line->trace || !e->trace_on || !e->writer)
        return;
    size_t n = json_array_size(it->path);
    if (n > 64)
        n = 64;
    struct belt_trace_rec *tr = belt__trace_rec_new(n);
    if (!tr)
        return;
    belt__loop_trace_id(ln->loop, tr->id);
    tr->ts_ms = belt_wall_ms() - it->latency_us / 1000;
    tr->kind = "line";
    tr->route = it->line->name;
    tr->status = belt__item_outcome_name(it->outcome);
    tr->http_status = it->outcome == BELT__ITEM_OK             ? 200
                      : it->outcome == BELT__ITEM_NEEDS_REVIEW ? 202
                                                               : 422;
    tr->error = it->reason && it->reason[0] ? belt_strdup(it->reason) : NULL;
    tr->cost_usd = it->cost;
    tr->latency_us = it->latency_us;
    json_t *attrs =
        json_pack("{ss ss* sI ss*}", "line", it->line->name, "run_id", ln->run_id, "item",
                  (json_int_t)it->seq, "review_id", it->review_id[0] ? it->review_id : NULL);
    tr->attrs = attrs ? belt_json_dumps(attrs, JSON_COMPACT) : NULL;
    json_decref(attrs);
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(it->path, i);
        const struct belt_cfg_station *s =
            belt__cfg_line_station(it->line, json_string_value(json_object_get(o, "station")));
        struct belt_trace_step_rec *st = &tr->steps[tr->n_steps++];
        const char *status = json_string_value(json_object_get(o, "status"));
        st->seq = (int)i;
        st->model = model_name(ln->cfg, json_string_value(json_object_get(o, "model")));
        if (st->model)
            tr->model = st->model;
        const json_t *route = json_object_get(o, "route");
        const json_t *last = json_array_get(route, json_array_size(route) - 1);
        st->tier = last ? (int)json_integer_value(json_object_get(last, "tier")) : -1;
        static const char *const words[] = {"ok",     "cached",   "failed",   "skipped",
                                            "parked", "approved", "rejected", "edited"};
        st->status = "ok";
        for (size_t w = 0; status && w < BELT_ARRAY_LEN(words); w++)
            if (strcmp(words[w], status) == 0)
                st->status = words[w];
        const char *why = json_string_value(json_object_get(o, "reason"));
        st->error = why ? belt_strdup(why) : NULL;
        st->reason = s ? s->name : "station";
        st->confidence = json_is_number(json_object_get(o, "confidence"))
                             ? json_number_value(json_object_get(o, "confidence"))
                             : -1;
        st->cost_usd = json_number_value(json_object_get(o, "cost_usd"));
        st->input_tokens = json_integer_value(json_object_get(o, "input_tokens"));
        st->output_tokens = json_integer_value(json_object_get(o, "output_tokens"));
        tr->input_tokens += st->input_tokens;
        tr->output_tokens += st->output_tokens;
        st->latency_us = json_integer_value(json_object_get(o, "latency_us"));
    }
    belt__trace_submit(e->writer, tr);
}

static void finish(struct belt__item *it)
{
    struct belt__lane *ln = it->ln;
    it->finished = 1;
    it->latency_us = belt_now_us() - it->t0_us;
    if (it->outcome < 0)
        it->outcome = BELT__ITEM_OK;
    if (it->prev)
        it->prev->next = it->next;
    else
        ln->items = it->next;
    if (it->next)
        it->next->prev = it->prev;
    it->prev = it->next = NULL;
    ln->n_items--;
    struct belt__item_delta *d = &it->delta;
    d->outcome = it->outcome;
    d->latency_us = it->latency_us;
    d->cost_usd = it->cost;
    if (it->park_idx >= 0)
        snprintf(d->reason_station, sizeof(d->reason_station), "%s",
                 belt__line_station_at(it->line, (size_t)it->park_idx)->name);
    if (it->reason && it->reason[0]) {
        /* review stations are counted by their condition, not by each rendered reason */
        const struct belt_cfg_station *ps =
            it->park_idx >= 0 ? belt__line_station_at(it->line, (size_t)it->park_idx) : NULL;
        if (ps && ps->kind == BELT_STATION_REVIEW && ps->when && it->park_kind &&
            strcmp(it->park_kind, "review") == 0) {
            struct belt_buf rb;
            belt_buf_init(&rb, 1024);
            belt_buf_printf(&rb, "when %s", belt__expr_source(ps->when));
            d->reason = belt_buf_detach(&rb, NULL);
        } else {
            d->reason = belt_strdup(it->reason);
        }
    }
    count_gold(it);
    if (it->outcome == BELT__ITEM_NEEDS_REVIEW && !it->review_id[0])
        park(it);
    trace_item(it);
    it->done(it->ud, it);
}

/* ---- accessors and output ------------------------------------------------------------------- */

int belt__item_outcome(const struct belt__item *it)
{
    return it->outcome;
}
int64_t belt__item_seq(const struct belt__item *it)
{
    return it->seq;
}
const char *belt__item_reason(const struct belt__item *it)
{
    return it->reason ? it->reason : "";
}
const char *belt__item_review_id(const struct belt__item *it)
{
    return it->review_id;
}
json_t *belt__item_record(const struct belt__item *it)
{
    return it->rec;
}
const json_t *belt__item_path(const struct belt__item *it)
{
    return it->path;
}
double belt__item_cost(const struct belt__item *it)
{
    return it->cost;
}
int64_t belt__item_latency_us(const struct belt__item *it)
{
    return it->latency_us;
}

belt_status belt__item_dump(const struct belt__item *it, struct belt_buf *out)
{
    json_t *meta =
        json_pack("{so* ss ss* ss* sf sI sO}", "item", it->seq >= 0 ? json_integer(it->seq) : NULL,
                  "status", belt__item_outcome_name(it->outcome), "reason",
                  it->reason && it->reason[0] ? it->reason : NULL, "review_id",
                  it->review_id[0] ? it->review_id : NULL, "cost_usd", it->cost, "latency_us",
                  (json_int_t)it->latency_us, "path", it->path);
    if (!meta || json_object_set_new(it->rec, "_belt", meta) != 0)
        return BELT_ERR_NOMEM;
    belt_status st = belt_json_dump_buf(it->rec, JSON_COMPACT | JSON_REAL_PRECISION(10), out);
    json_object_del(it->rec, "_belt");
    if (st == BELT_OK)
        st = belt_buf_putc(out, '\n');
    return st;
}

const struct belt__item_delta *belt__item_delta(const struct belt__item *it)
{
    return &it->delta;
}

void belt__item_take_delta(struct belt__item *it, struct belt__item_delta *out)
{
    *out = it->delta;
    memset(&it->delta, 0, sizeof(it->delta));
}
