/*
 * exec_calls.c — the model calls behind one policy action of a route call: the request each
 * needs (the task as sent; more samples at a sampling temperature, as one `n` call where the
 * provider offers it; a peer's answer; a verifier prompt), starting them on the loop, and
 * turning their answers into the policy's answer structs (text, label, confidence, logprobs,
 * verifier score, cost, latency). Recorded values of replay answers (the `belt` extension)
 * stand in for live ones.
 */
#include "belt_config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model/model.h"
#include "model/replay.h"
#include "route/exec_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

/* Samples are drawn at least this hot: agreement of near-greedy samples says little. */
#define SAMPLE_MIN_TEMPERATURE 0.7
/* Output tokens a verifier may use for its score. */
#define VERIFY_MAX_TOKENS 16

static const char VERIFY_SYSTEM[] =
    "You check answers. Reply with one number between 0 and 1: the probability that the "
    "proposed answer to the task is correct. No other text.";
static const char VERIFY_USER[] = "Task:\n{task}\n\nProposed answer:\n{answer}";

static const struct belt_cfg_model *cfg_model(const struct belt_route_call *rc, size_t m)
{
    return &rc->env.cfg->models.v[m];
}

/* ---- the accept condition of the tier being judged -------------------------------------- */

/* The accept condition of the top frame's current tier (NULL: none / not tiered). */
static const struct belt__accept *tier_accept(const struct belt_route_call *rc)
{
    if (rc->is_model || !rc->run.depth)
        return NULL;
    const struct belt__route_frame *f = &rc->run.frames[rc->run.depth - 1];
    const struct belt_cfg_route *r = &rc->env.cfg->routes.v[f->route];
    if ((r->kind != BELT_ROUTE_CASCADE && r->kind != BELT_ROUTE_LEARNED) || f->pos >= r->n_tiers)
        return NULL;
    return r->tiers[f->pos].accept;
}

struct find_node {
    enum belt__accept_kind kind; /* wanted */
    size_t model;                /* PEER: the peer model; else ignored */
    const struct belt__accept *found;
};

static void visit_find(void *ud, const struct belt__accept *node)
{
    struct find_node *fn = ud;
    if (!fn->found && node->kind == fn->kind &&
        (fn->kind != BELT__ACCEPT_PEER || node->model == fn->model))
        fn->found = node;
}

const struct belt__accept *belt__rc_find_accept(const struct belt__accept *c,
                                                enum belt__accept_kind kind, size_t model)
{
    struct find_node fn = {kind, model, NULL};
    if (c)
        belt__accept_visit(c, visit_find, &fn);
    return fn.found;
}

/* Does a successful answer of this call become the route's answer whatever it says? Then it
 * may stream live: every frame on the stack passes it up unconditionally. */
static int answer_is_final(const struct belt_route_call *rc)
{
    if (rc->is_model)
        return 1;
    for (size_t i = 0; i < rc->run.depth; i++) {
        const struct belt__route_frame *f = &rc->run.frames[i];
        const struct belt_cfg_route *r = &rc->env.cfg->routes.v[f->route];
        if ((r->kind == BELT_ROUTE_CASCADE || r->kind == BELT_ROUTE_LEARNED) &&
            (f->pos >= r->n_tiers || r->tiers[f->pos].accept))
            return 0;
    }
    return 1;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* A shallow copy of the task's request without "stream" (NULL on OOM). */
static json_t *task_request(const struct belt_route_call *rc)
{
    json_t *r = json_copy(rc->req);
    if (r) {
        json_object_del(r, "stream");
        json_object_del(r, "stream_options");
    }
    return r;
}

/* Replace {task} and {answer} in tpl. */
static belt_status fill_template(const char *tpl, const char *task, size_t task_len,
                                 const char *answer, size_t answer_len, struct belt_buf *out)
{
    belt_status st = BELT_OK;
    for (const char *p = tpl; *p && st == BELT_OK;) {
        if (strncmp(p, "{task}", 6) == 0) {
            st = belt_buf_append(out, task, task_len);
            p += 6;
        } else if (strncmp(p, "{answer}", 8) == 0) {
            st = belt_buf_append(out, answer, answer_len);
            p += 8;
        } else {
            st = belt_buf_putc(out, *p++);
        }
    }
    return st;
}

/* The request asking verifier model m to score `subject` (the tier's answer). */
static json_t *verify_request(const struct belt_route_call *rc, size_t m,
                              const struct belt__answer *subject, size_t subject_model)
{
    const struct belt__accept *node =
        belt__rc_find_accept(tier_accept(rc), BELT__ACCEPT_VERIFIER, 0);
    struct belt_buf user;
    belt_buf_init(&user, 0);
    const char *ans = subject && subject->text ? subject->text : "";
    size_t ans_len = subject && subject->text ? subject->len : 0;
    json_t *r = NULL;
    if (fill_template(node && node->prompt ? node->prompt : VERIFY_USER, rc->text, rc->text_len,
                      ans, ans_len, &user) != BELT_OK)
        goto done;
    json_t *msgs = json_array();
    if (!node || !node->prompt)
        json_array_append_new(msgs,
                              json_pack("{s:s, s:s}", "role", "system", "content", VERIFY_SYSTEM));
    json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", "user", "content",
                                          user.data ? user.data : "", user.len));
    r = json_pack("{s:o, s:i, s:i}", "messages", msgs, "temperature", 0, "max_tokens",
                  VERIFY_MAX_TOKENS);
    const struct belt_cfg_model *vm = cfg_model(rc, m);
    if (r && vm->provider == BELT_PROVIDER_REPLAY && subject_model < rc->env.cfg->models.n) {
        /* a replayed judge answers with its recorded score of the subject's recorded answer */
        const struct belt_cfg_model *sm = cfg_model(rc, subject_model);
        const char *rec = sm->provider == BELT_PROVIDER_REPLAY && sm->model ? sm->model : sm->name;
        json_object_set_new(
            r, "belt",
            json_pack("{s:{s:s%, s:s}}", "verify", "task", rc->text, rc->text_len, "model", rec));
    }
done:
    belt_buf_deinit(&user);
    return r;
}

/* The task request for a sample call: at least SAMPLE_MIN_TEMPERATURE; n choices if n > 1. */
static json_t *sample_request(const struct belt_route_call *rc, int n)
{
    json_t *r = task_request(rc);
    if (!r)
        return NULL;
    const json_t *t = json_object_get(r, "temperature");
    if (t && json_is_number(t) && json_number_value(t) < SAMPLE_MIN_TEMPERATURE)
        json_object_set_new(r, "temperature", json_real(SAMPLE_MIN_TEMPERATURE));
    if (n > 1)
        json_object_set_new(r, "n", json_integer(n));
    else
        json_object_del(r, "n");
    return r;
}

/* ---- answers ------------------------------------------------------------------------------ */

static double num_or_nan(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Answer slot i of g from model answer a (choice `choice` of it, cost shared by `share`). */
static void fill_answer(struct rc_group *g, int i, const struct belt_answer *a, int choice,
                        int share)
{
    struct belt__answer *x = &g->ans[i];
    *x = belt__answer_empty();
    g->src[i] = (struct belt_answer *)a;
    x->status = a->status;
    x->error = a->status == BELT_OK ? NULL : a->error;
    x->cost_usd = share > 0 ? a->cost_usd / share : a->cost_usd;
    x->latency_us = a->latency_us;
    if (a->status != BELT_OK)
        return;
    if (choice == 0) {
        x->text = a->content;
        x->len = a->content_len;
        x->label = a->label;
        x->abstained = a->abstained;
        x->confidence = a->label && a->confidence >= 0 ? a->confidence : NAN;
        x->logprob_mean = a->n_logprobs ? a->logprob_mean : NAN;
        x->logprob_min = a->n_logprobs ? a->logprob_min : NAN;
    } else {
        const json_t *ch = json_array_get(json_object_get(a->response, "choices"), (size_t)choice);
        const json_t *c = json_object_get(json_object_get(ch, "message"), "content");
        x->text = json_is_string(c) ? json_string_value(c) : "";
        x->len = json_is_string(c) ? json_string_length(c) : 0;
    }
    const json_t *ext = json_object_get(a->response, "belt"); /* recorded signals (replay) */
    if (choice == 0 && json_object_get(ext, "replay")) {
        const char *label = belt_json_str(ext, "label");
        if (label)
            x->label = label;
        x->confidence = num_or_nan(ext, "confidence");
        x->logprob_mean = num_or_nan(ext, "logprob_mean");
        x->logprob_min = num_or_nan(ext, "logprob_min");
    }
}

/* Answer slot i as a failure with message msg (copied into g->notes). */
static void fill_failure(struct rc_group *g, int i, belt_status st, const char *msg)
{
    g->ans[i] = belt__answer_empty();
    g->ans[i].status = st;
    g->ans[i].cost_usd = 0;
    g->src[i] = NULL;
    belt_free(g->notes[i]);
    g->notes[i] = belt_strdup(msg);
    g->ans[i].error = g->notes[i] ? g->notes[i] : "out of memory";
}

static const char *const YES[] = {"yes",    "true", "correct", "right", "pass",
                                  "accept", "good", "1",       NULL};
static const char *const NO[] = {"no",     "false", "incorrect", "wrong", "fail",
                                 "reject", "bad",   "0",         NULL};

static int word_in(const char *w, size_t n, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && strncasecmp(w, list[i], n) == 0)
            return 1;
    return 0;
}

double belt__rc_parse_score(const struct belt_answer *a)
{
    if (!a || a->status != BELT_OK)
        return NAN;
    if (a->label && a->confidence >= 0) { /* a classifier as judge */
        size_t n = strlen(a->label);
        if (word_in(a->label, n, YES))
            return a->confidence;
        if (word_in(a->label, n, NO))
            return 1 - a->confidence;
        return NAN;
    }
    const char *s = a->content;
    size_t i = 0, n = a->content_len;
    while (i < n && !isdigit((unsigned char)s[i]) && s[i] != '.' && !isalpha((unsigned char)s[i]))
        i++;
    if (i < n && isalpha((unsigned char)s[i])) { /* a leading word: yes / no */
        size_t j = i;
        while (j < n && isalpha((unsigned char)s[j]))
            j++;
        if (word_in(s + i, j - i, YES))
            return 1;
        if (word_in(s + i, j - i, NO))
            return 0;
        while (i < n && !isdigit((unsigned char)s[i]))
            i++;
    }
    if (i >= n)
        return NAN;
    char num[40];
    size_t k = 0;
    while (i < n && k + 1 < sizeof(num) && (isdigit((unsigned char)s[i]) || s[i] == '.'))
        num[k++] = s[i++];
    num[k] = '\0';
    char *end = NULL;
    double v = strtod(num, &end);
    if (!end || end == num)
        return NAN;
    while (i < n && s[i] == ' ')
        i++;
    if (i < n && s[i] == '%')
        v /= 100;
    else if (i + 1 < n && s[i] == '/' && isdigit((unsigned char)s[i + 1]))
        v /= strtod(s + i + 1, NULL) > 0 ? strtod(s + i + 1, NULL) : 1;
    return v >= 0 && v <= 1 ? v : NAN;
}

/* ---- slots -------------------------------------------------------------------------------- */

static void slot_unlink(struct belt_route_call *rc, struct rc_slot *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        rc->slots = s->next;
    if (s->next)
        s->next->prev = s->prev;
    rc->n_slots--;
}

static int keep_copy(struct rc_group *g, struct belt_answer *copy)
{
    if (g->n_copies == g->cap_copies) {
        int cap = g->cap_copies ? g->cap_copies * 2 : 4;
        struct belt_answer **v = belt_realloc(g->copies, (size_t)cap * sizeof(*v));
        if (!v)
            return 0;
        g->copies = v;
        g->cap_copies = cap;
    }
    g->copies[g->n_copies++] = copy;
    return 1;
}

static void start_one(struct belt_route_call *rc, struct rc_group *g, json_t *req, int first,
                      int want, int choices, int skip_first);

/* Account one model answer: totals, the tier accumulator, the model's statistics. */
static void account(struct belt_route_call *rc, struct rc_group *g, const struct belt_answer *a)
{
    rc->cost_usd += a->cost_usd;
    rc->input_tokens += a->input_tokens;
    rc->output_tokens += a->output_tokens;
    rc->n_calls++;
    struct rc_acc *acc = &rc->acc;
    acc->cost_usd += a->cost_usd;
    acc->calls++;
    acc->attempts += (int)a->n_attempts;
    acc->input_tokens += a->input_tokens;
    acc->output_tokens += a->output_tokens;
    if (a->status != BELT_ERR_CANCELLED)
        belt__route_observe(rc->l->e->routes, g->model, a->latency_us, a->output_tokens,
                            a->status == BELT_OK);
}

/* Fill the slot's answers from a (a copy owned by g) and top up missing choices. */
static void slot_fill(struct belt_route_call *rc, struct rc_slot *s, struct belt_answer *a)
{
    struct rc_group *g = s->g;
    if (!s->choices || a->status != BELT_OK) {
        for (int i = 0; i < s->want; i++)
            fill_answer(g, s->first + i, a, 0, s->want);
        return;
    }
    int have = (int)json_array_size(json_object_get(a->response, "choices")) - s->skip_first;
    int got = BELT_MAX(0, BELT_MIN(have, s->want));
    for (int i = 0; i < got; i++)
        fill_answer(g, s->first + i, a, i + s->skip_first, got);
    if (got == s->want)
        return;
    if (s->skip_first) { /* replay: only so many samples were recorded */
        for (int i = got; i < s->want; i++)
            fill_failure(g, s->first + i, BELT_ERR_NOTFOUND, "no further sample was recorded");
        return;
    }
    /* the upstream ignored "n": ask for the rest one by one */
    BELT_LOG_D("route %s: %s returned %d of %d samples; asking for the rest", rc->name,
               cfg_model(rc, g->model)->name, got, s->want);
    for (int i = got; i < s->want; i++) {
        json_t *req = sample_request(rc, 1);
        if (req)
            start_one(rc, g, req, s->first + i, 1, 0, 0);
        else
            fill_failure(g, s->first + i, BELT_ERR_NOMEM, "out of memory");
        json_decref(req);
    }
}

static void on_slot_answer(void *ud, struct belt_call *call, const struct belt_answer *a)
{
    struct rc_slot *s = ud;
    struct belt_route_call *rc = s->rc;
    struct rc_group *g = s->g;
    (void)call;
    slot_unlink(rc, s);
    g->pending--;
    g->latency_us = BELT_MAX(g->latency_us, a->latency_us);
    struct belt_answer *copy = belt_answer_copy(a);
    if (!copy || !keep_copy(g, copy)) {
        belt_answer_free(copy);
        for (int i = 0; i < s->want; i++)
            fill_failure(g, s->first + i, BELT_ERR_NOMEM, "out of memory keeping an answer");
    } else {
        account(rc, g, copy);
        if (!rc->cancelling)
            slot_fill(rc, s, copy);
    }
    int live_broken = g->live && a->status != BELT_OK && rc->n_live_chunks > 0;
    belt_free(s);
    if (rc->cancelling || rc->concluded) {
        if (rc->concluded && !rc->in_abort && rc->n_slots == 0)
            belt__rc_finish_up(rc); /* the last call of an aborted route call is back */
        return;
    }
    if (a->status == BELT_ERR_CANCELLED) { /* someone cancelled the model call: stop the route */
        belt__rc_abort(rc, BELT_ERR_CANCELLED, 499, "cancelled");
        return;
    }
    if (live_broken) {
        rc->stream_broken = 1;
        belt__rc_abort(rc, a->status, a->http_status, a->error);
        return;
    }
    if (g->pending == 0)
        belt__rc_group_done(rc, g);
}

static void on_slot_chunk(void *ud, struct belt_call *call, const struct belt_chunk *ck)
{
    struct rc_slot *s = ud;
    (void)call;
    belt__rc_live_chunk(s->rc, ck);
}

/* Start one call of g's model with req (borrowed) for answers [first, first + want). A call
 * that cannot start fills its answers as failures. */
static void start_one(struct belt_route_call *rc, struct rc_group *g, json_t *req, int first,
                      int want, int choices, int skip_first)
{
    struct belt_error err = {0};
    struct rc_slot *s = belt_calloc(1, sizeof(*s));
    if (!s) {
        for (int i = 0; i < want; i++)
            fill_failure(g, first + i, BELT_ERR_NOMEM, "out of memory");
        return;
    }
    s->rc = rc;
    s->g = g;
    s->first = first;
    s->want = want;
    s->choices = choices;
    s->skip_first = skip_first;
    struct belt_call_params p = belt_call_default_params();
    p.model = cfg_model(rc, g->model)->name;
    p.request = req;
    if (req == rc->req && rc->req_json) { /* unchanged: the upstream gets the client's bytes */
        p.request_json = rc->req_json;
        p.request_len = rc->req_len;
    }
    p.stream = g->live;
    p.on_chunk = g->live ? on_slot_chunk : NULL;
    p.on_answer = on_slot_answer;
    p.ud = s;
    p.trace_id = rc->trace_id;
    if (rc->timeout_ms > 0) {
        /* The route's own timer ends the route call at its deadline (504, "deadline"); the
         * call's timeout is a backstop a little later, so that when both are due in the same
         * loop turn the call does not fail first and the route answer "unresolved" instead. */
        int64_t left = rc->timeout_ms - (belt_now_us() - rc->start_us) / 1000;
        p.timeout_ms = (left > 1 ? left : 1) + 250;
    }
    s->next = rc->slots; /* linked first: a start failure unlinks it again */
    if (rc->slots)
        rc->slots->prev = s;
    rc->slots = s;
    rc->n_slots++;
    belt_status st = belt_call_start(rc->l, &p, &s->call, &err);
    if (st != BELT_OK) {
        slot_unlink(rc, s);
        belt_free(s);
        for (int i = 0; i < want; i++)
            fill_failure(g, first + i, st, err.msg);
        return;
    }
    g->pending++;
}

/* ---- actions ------------------------------------------------------------------------------ */

static struct rc_group *group_new(struct belt_route_call *rc, const struct belt__route_action *act)
{
    struct rc_group *g = belt_calloc(1, sizeof(*g));
    int n = act->n > 0 ? act->n : 1;
    if (!g)
        return NULL;
    g->ans = belt_calloc((size_t)n, sizeof(*g->ans));
    g->src = belt_calloc((size_t)n, sizeof(*g->src));
    g->notes = belt_calloc((size_t)n, sizeof(*g->notes));
    if (!g->ans || !g->src || !g->notes) {
        belt__rc_groups_free(g);
        return NULL;
    }
    g->purpose = act->purpose;
    g->model = act->model;
    g->n = n;
    for (int i = 0; i < n; i++)
        fill_failure(g, i, BELT_ERR_INTERNAL, "no answer"); /* until a call fills it */
    g->next = rc->groups;
    rc->groups = g;
    return g;
}

/* The task request for a purpose-0 call: logprobs asked for when the tier's condition tests
 * them and the provider offers them. Returns rc->req itself when nothing changes. */
static json_t *answer_request(struct belt_route_call *rc, size_t m)
{
    const struct belt__accept *acc = tier_accept(rc);
    int lp = cfg_model(rc, m)->provider == BELT_PROVIDER_OPENAI &&
             belt__rc_find_accept(acc, BELT__ACCEPT_LOGPROBS, 0) &&
             !json_is_true(json_object_get(rc->req, "logprobs"));
    if (!lp && !json_object_get(rc->req, "stream"))
        return json_incref(rc->req);
    json_t *r = task_request(rc);
    if (r && lp)
        json_object_set_new(r, "logprobs", json_true());
    return r;
}

static void start_samples(struct belt_route_call *rc, struct rc_group *g)
{
    int provider = cfg_model(rc, g->model)->provider;
    if (provider == BELT_PROVIDER_REPLAY || (provider == BELT_PROVIDER_OPENAI && g->n > 1)) {
        int replay = provider == BELT_PROVIDER_REPLAY;
        json_t *req = sample_request(rc, g->n + replay);
        if (req)
            start_one(rc, g, req, 0, g->n, 1, replay);
        else
            fill_failure(g, 0, BELT_ERR_NOMEM, "out of memory");
        json_decref(req);
        return;
    }
    for (int i = 0; i < g->n; i++) { /* providers without "n": one call per sample */
        json_t *req = sample_request(rc, 1);
        if (req)
            start_one(rc, g, req, i, 1, 0, 0);
        else
            fill_failure(g, i, BELT_ERR_NOMEM, "out of memory");
        json_decref(req);
    }
}

int belt__rc_start_action(struct belt_route_call *rc, const struct belt__route_action *act,
                          struct rc_group **out)
{
    struct rc_group *g = group_new(rc, act);
    *out = g;
    if (!g)
        return 0;
    json_t *req = NULL;
    switch (act->purpose) {
    case 0:
        g->live = rc->stream && answer_is_final(rc);
        req = answer_request(rc, act->model);
        break;
    case BELT__NEED_SAMPLES:
        start_samples(rc, g);
        return g->pending > 0;
    case BELT__NEED_PEER:
        req = task_request(rc);
        break;
    case BELT__NEED_VERIFY:
        req = verify_request(rc, act->model, act->subject,
                             rc->run.depth ? rc->run.frames[rc->run.depth - 1].ans_model
                                           : BELT__ROUTE_NONE);
        break;
    default:
        fill_failure(g, 0, BELT_ERR_INTERNAL, "unknown action");
        return 0;
    }
    if (req)
        start_one(rc, g, req, 0, 1, 0, 0);
    else
        fill_failure(g, 0, BELT_ERR_NOMEM, "out of memory");
    json_decref(req);
    return g->pending > 0;
}

void belt__rc_cancel_slots(struct belt_route_call *rc)
{
    rc->cancelling = 1;
    /* Each cancel normally runs on_slot_answer at once, which unlinks the slot; a call whose
     * own callback is running answers after it returns, so it is only marked. */
    for (struct rc_slot *s = rc->slots; s;) {
        if (s->cancel_sent) {
            s = s->next;
            continue;
        }
        s->cancel_sent = 1;
        belt_call_cancel(s->call);
        s = rc->slots; /* the list changed */
    }
}

void belt__rc_groups_free(struct rc_group *g)
{
    while (g) {
        struct rc_group *next = g->next;
        for (int i = 0; i < g->n_copies; i++)
            belt_answer_free(g->copies[i]);
        for (int i = 0; g->notes && i < g->n; i++)
            belt_free(g->notes[i]);
        belt_free(g->copies);
        belt_free(g->notes);
        belt_free(g->ans);
        belt_free(g->src);
        belt_free(g);
        g = next;
    }
}
