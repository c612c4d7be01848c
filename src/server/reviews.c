/*
 * reviews.c — the human review queue over HTTP (issue 6): parking a gateway request for a
 * person (HTTP 202 with the review id and a URL to poll), the JSON endpoints
 *   GET  /v1/reviews[?status=pending|approved|rejected|edited|all&limit=N]   (reviewers)
 *   GET  /v1/reviews/ID                      (reviewers, or the key that sent the request)
 *   POST /v1/reviews/ID/approve|reject|edit  {"note": "...", "answer": ...}  (reviewers)
 * and the one-time clearance of a request a guard escalated (x-belt-review: ID). Store work runs
 * on the writer thread (gov.h tasks); decisions are audited by belt_review_decide with the
 * deciding key's name as `who`.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000

/* ---- a review as JSON ---------------------------------------------------------------------- */

static json_t *parse_or_null(const char *s)
{
    json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

/* The answer a decision leaves: the edited one, the parked one when approved, else null. */
static json_t *final_answer(const json_t *doc)
{
    const char *st = belt_json_str(doc, "status");
    if (st && strcmp(st, "edited") == 0)
        return json_incref(json_object_get(json_object_get(doc, "decision"), "answer"));
    if (st && strcmp(st, "approved") == 0)
        return json_incref(json_object_get(doc, "answer"));
    return NULL;
}

/* A chat.completion carrying a decided answer (content: the answer, or its JSON text). */
static json_t *completion_of(const json_t *doc, const json_t *answer)
{
    char *text = json_is_string(answer) ? NULL : belt_json_dumps(answer, JSON_COMPACT);
    const char *route = belt_json_str(doc, "route");
    char id[64];
    snprintf(id, sizeof(id), "chatcmpl-%s", belt_json_str(doc, "id"));
    json_t *c = json_pack("{s:s, s:s, s:I, s:s?, s:[{s:i, s:{s:s, s:s}, s:s}]}", "id", id, "object",
                          "chat.completion", "created",
                          (json_int_t)(belt_json_int(doc, "decided_ms", 0) / 1000), "model", route,
                          "choices", "index", 0, "message", "role", "assistant", "content",
                          text ? text : json_string_value(answer), "finish_reason", "stop");
    belt_free(text);
    return c;
}

json_t *belt__srv_review_json(const struct belt_review_record *rv)
{
    char url[96];
    snprintf(url, sizeof(url), "/v1/reviews/%s", rv->id);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:s?, "
        "s:I, s:o, s:I, s:s}",
        "id", rv->id, "object", "belt.review", "status", belt_review_status_name(rv->status),
        "created", (json_int_t)(rv->created_ms / 1000), "created_ms", (json_int_t)rv->created_ms,
        "source", rv->source, "reason", rv->reason, "route", rv->route, "line", rv->line, "run_id",
        rv->run_id, "item_id", rv->item_id, "station", rv->station, "payload",
        parse_or_null(rv->payload_json), "answer", parse_or_null(rv->answer_json), "decided_by",
        rv->decided_by, "decided_ms", (json_int_t)rv->decided_ms, "decision",
        parse_or_null(rv->decision_json), "resumed_ms", (json_int_t)rv->resumed_ms, "url", url);
    if (!doc)
        return NULL;
    json_t *ans = final_answer(doc);
    if (ans && !json_is_null(ans))
        json_object_set_new(doc, "completion", completion_of(doc, ans));
    json_decref(ans);
    return doc;
}

/* ---- tasks ---------------------------------------------------------------------------------- */

enum rv_op { RV_ADD, RV_LIST, RV_GET, RV_DECIDE, RV_CLEAR };

struct rv_task {
    struct srv_task t;           /* first */
    struct srv_req *r;           /* the request waiting */
    enum rv_op op;               /* what to do */
    srv_review_cont_fn *cont;    /* RV_ADD, RV_CLEAR: what comes next for a chat request */
    char id[BELT_REVIEW_ID_MAX]; /* review id (in: GET/DECIDE/CLEAR; out: ADD) */
    int status_filter;           /* RV_LIST: -1 all */
    int64_t limit;               /* RV_LIST */
    char *source, *reason, *payload, *answer, *route; /* RV_ADD (owned) */
    struct belt_review_decision d;                    /* RV_DECIDE (strings owned below) */
    char *who, *note, *d_answer;                      /* owned */
    char *clear_hash;             /* RV_CLEAR: hash of the request it must match (owned) */
    json_t *result;               /* a review or a list, built on the writer */
    srv_review_render_fn *render; /* how to answer (NULL: JSON) */
};

static int collect(void *ud, const struct belt_review_record *rv)
{
    json_t *arr = ud;
    json_array_append_new(arr, belt__srv_review_json(rv));
    return 0;
}

/* RV_CLEAR: the review must be a decided guard escalation of this very request, not used yet. */
static belt_status clear_check(struct rv_task *k, struct belt_store *st, struct belt_error *err)
{
    const json_t *doc = json_array_get(k->result, 0);
    const char *status = belt_json_str(doc, "status");
    const char *source = belt_json_str(doc, "source");
    const char *hash = belt_json_str(json_object_get(doc, "payload"), "request_sha256");
    if (!status || strcmp(status, "pending") == 0)
        return belt__error_set(err, BELT_ERR_BUSY, 0, "review %s is still pending", k->id);
    if (strcmp(status, "rejected") == 0)
        return belt__error_set(err, BELT_ERR_FORBIDDEN, 0, "review %s was rejected", k->id);
    if (!source || strcmp(source, "guard") != 0 || !hash || strcmp(hash, k->clear_hash) != 0)
        return belt__error_set(err, BELT_ERR_FORBIDDEN, 0, "review %s does not clear this request",
                               k->id);
    if (belt_json_int(doc, "resumed_ms", 0) > 0)
        return belt__error_set(err, BELT_ERR_FORBIDDEN, 0, "review %s was already used", k->id);
    return belt_review_mark_resumed(st, k->id, err);
}

static belt_status rv_run(struct srv_task *t, struct belt_store *st, struct belt_audit *audit,
                          struct belt_error *err)
{
    struct rv_task *k = (struct rv_task *)t;
    k->result = json_array();
    if (!k->result)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    switch (k->op) {
    case RV_ADD: {
        struct belt_review_item it = {k->source, k->reason, k->payload, k->answer, NULL,
                                      NULL,      NULL,      NULL,       k->route};
        return belt_review_add(st, audit, &it, k->id, err);
    }
    case RV_LIST:
        return belt_review_list(st, k->status_filter, k->limit, collect, k->result, err);
    case RV_GET:
        return belt_review_get(st, k->id, collect, k->result, err);
    case RV_DECIDE: {
        belt_status s = belt_review_decide(st, audit, k->id, &k->d, NULL, NULL, err);
        return s == BELT_OK ? belt_review_get(st, k->id, collect, k->result, err) : s;
    }
    case RV_CLEAR: {
        belt_status s = belt_review_get(st, k->id, collect, k->result, err);
        return s == BELT_OK ? clear_check(k, st, err) : s;
    }
    }
    return BELT_ERR_INTERNAL;
}

static void rv_free(struct rv_task *k)
{
    belt_free(k->source);
    belt_free(k->reason);
    belt_free(k->payload);
    belt_free(k->answer);
    belt_free(k->route);
    belt_free(k->who);
    belt_free(k->note);
    belt_free(k->d_answer);
    belt_free(k->clear_hash);
    json_decref(k->result);
    belt_free(k);
}

static int status_of(belt_status st)
{
    switch (st) {
    case BELT_ERR_NOTFOUND:
        return 404;
    case BELT_ERR_INVALID:
        return 409; /* not pending */
    case BELT_ERR_FORBIDDEN:
        return 403;
    case BELT_ERR_BUSY:
        return 409;
    case BELT_ERR_UNSUPPORTED:
        return 501;
    default:
        return 500;
    }
}

/* The request may see review doc: reviewers, the key that sent it, or anyone for a review of an
 * anonymous request (its id is 80 random bits). */
static int may_read(const struct srv_req *r, const json_t *doc)
{
    if (belt__srv_is_reviewer(r->sl->s, &r->auth))
        return 1;
    const char *owner = belt_json_str(json_object_get(doc, "payload"), "key_id");
    if (!owner)
        return 1;
    return strcmp(owner, r->auth.grant.key_id) == 0;
}

static void reply_json(struct srv_req *r, int status, const json_t *doc)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_json_dump_buf(doc, JSON_COMPACT, &b);
    belt__srv_req_unwatch(r);
    belt__srv_send_body(r->sl, r->hr, status, "application/json", belt_buf_cstr(&b), b.len);
    belt__srv_count_response(r->sl, r->endpoint, status);
    belt_buf_deinit(&b);
}

static void rv_done(struct srv_task *t, int alive)
{
    struct rv_task *k = (struct rv_task *)t;
    struct srv_req *r = k->r;
    if (k->op == RV_ADD || k->op == RV_CLEAR) {
        if (k->op == RV_ADD && t->status == BELT_OK)
            snprintf(r->review_id, sizeof(r->review_id), "%s", k->id);
        k->cont(r, alive, t->status, t->err.msg);
        rv_free(k);
        return;
    }
    if (!alive || r->client_gone || !r->hr) {
        rv_free(k);
        belt__srv_req_free(r);
        return;
    }
    const json_t *doc = json_array_get(k->result, 0);
    if (k->op == RV_GET && t->status == BELT_OK && (!doc || !may_read(r, doc))) {
        t->status = belt__error_set(&t->err, BELT_ERR_NOTFOUND, 0, "no review %s", k->id);
        doc = NULL;
    }
    if (k->op == RV_DECIDE && t->status == BELT_OK)
        BELT_METRIC_ADD(r->sl->gc.reviews_decided, 1);
    if (k->render) {
        belt__srv_req_unwatch(r);
        k->render(r, status_of(t->status), t->status == BELT_OK ? NULL : t->err.msg,
                  k->op == RV_LIST ? k->result : doc);
    } else if (t->status != BELT_OK) {
        belt__srv_req_unwatch(r);
        belt__srv_send_error(r->sl, r->hr, r->endpoint, status_of(t->status), NULL, "%s",
                             t->err.msg);
    } else if (k->op == RV_LIST) {
        json_t *list = json_pack("{s:s, s:O}", "object", "list", "data", k->result);
        reply_json(r, 200, list);
        json_decref(list);
    } else {
        reply_json(r, 200, doc);
    }
    rv_free(k);
    belt__srv_req_free(r);
}

static struct rv_task *rv_new(struct srv_req *r, enum rv_op op)
{
    struct rv_task *k = belt_calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->r = r;
    k->op = op;
    k->t.run = rv_run;
    k->t.done = rv_done;
    k->t.needs_audit = op == RV_ADD || op == RV_DECIDE;
    return k;
}

/* ---- parking a chat request ---------------------------------------------------------------- */

int belt__srv_park(struct srv_req *r, const char *source, const char *reason, const json_t *payload,
                   const json_t *answer, srv_review_cont_fn *cont)
{
    struct rv_task *k = r->sl->torn_down ? NULL : rv_new(r, RV_ADD);
    if (!k)
        return -1;
    k->cont = cont;
    k->source = belt_strdup(source);
    k->reason = belt_strdup(reason && *reason ? reason : source);
    k->payload = belt_json_dumps(payload, JSON_COMPACT);
    k->answer = answer ? belt_json_dumps(answer, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    k->route = belt_strdup(r->route);
    if (!k->source || !k->reason || !k->payload || !k->route || (answer && !k->answer)) {
        rv_free(k);
        return -1;
    }
    belt__srv_task_submit(r->sl, &k->t);
    return 0;
}

int belt__srv_clear(struct srv_req *r, const char *id, const char *request_sha256,
                    srv_review_cont_fn *cont)
{
    struct rv_task *k = r->sl->torn_down ? NULL : rv_new(r, RV_CLEAR);
    if (!k)
        return -1;
    k->cont = cont;
    snprintf(k->id, sizeof(k->id), "%s", id);
    k->clear_hash = belt_strdup(request_sha256);
    if (!k->clear_hash) {
        rv_free(k);
        return -1;
    }
    belt__srv_task_submit(r->sl, &k->t);
    return 0;
}

void belt__srv_send_parked(struct srv_req *r, const json_t *extra)
{
    char url[96];
    snprintf(url, sizeof(url), "/v1/reviews/%s", r->review_id);
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", r->review_id, "object", "belt.review",
                  "status", "pending", "url", url, "trace_id", r->trace_id);
    if (doc && extra)
        json_object_update(doc, (json_t *)extra);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->hr);
    evhttp_add_header(h, "Location", url);
    evhttp_add_header(h, "Retry-After", "5");
    evhttp_add_header(h, "x-belt-review-id", r->review_id);
    evhttp_add_header(h, "x-belt-trace-id", r->trace_id);
    BELT_METRIC_ADD(r->sl->gc.reviews_created, 1);
    reply_json(r, 202, doc);
    json_decref(doc);
}

/* ---- HTTP endpoints -------------------------------------------------------------------------- */

int belt__srv_review_path(const char *uri, size_t prefix_len, char *id, size_t idcap, char *act,
                          size_t actcap)
{
    const char *p = uri + prefix_len;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= idcap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
            return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    act[0] = '\0';
    if (p[n] == '/') {
        size_t m = strcspn(p + n + 1, "?#");
        if (m >= actcap)
            return -1;
        memcpy(act, p + n + 1, m);
        act[m] = '\0';
    }
    return 0;
}

/* Authorise a review request and take it over as a srv_req; NULL after answering. */
struct srv_req *belt__srv_review_request(struct srv_loop *sl, struct evhttp_request *hr, int ep,
                                         int basic)
{
    if (sl->draining) {
        belt__srv_send_error(sl, hr, ep, 503, NULL, "the server is shutting down");
        return NULL;
    }
    struct srv_req *r = belt__srv_req_new(sl, hr, -1, ep);
    if (!r) {
        belt__srv_send_error(sl, hr, ep, 500, NULL, "out of memory");
        return NULL;
    }
    struct belt_auth_request ar = {0};
    if (belt__srv_auth(sl, hr, ep, &ar, &r->auth, basic) != 0) {
        belt__srv_req_free(r);
        return NULL;
    }
    belt__srv_settle(sl, &r->auth, 0, 0); /* nothing to charge; keeps the key's name */
    belt__srv_req_watch(r);
    return r;
}

static int refuse_non_reviewer(struct srv_req *r)
{
    if (belt__srv_is_reviewer(r->sl->s, &r->auth))
        return 0;
    belt__srv_req_unwatch(r);
    belt__srv_send_error_code(
        r->sl, r->hr, r->endpoint, 403, "permission_denied", "%s",
        r->sl->s->cfg->reviewers.n == 0
            ? "no key may decide reviews: list reviewer key names in server.reviewers"
            : "this key is not a reviewer (server.reviewers)");
    belt__srv_req_free(r);
    return -1;
}

/* The query parameter `name` of the request URI into out; 1 if present. */
int belt__srv_query(struct evhttp_request *hr, const char *name, char *out, size_t cap)
{
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(hr));
    out[0] = '\0';
    if (!query || evhttp_parse_query_str(query, &q) != 0)
        return 0;
    const char *v = evhttp_find_header(&q, name);
    if (v)
        snprintf(out, cap, "%s", v);
    evhttp_clear_headers(&q);
    return v != NULL;
}

void belt__srv_review_list(struct srv_req *r, int status, int64_t limit,
                           srv_review_render_fn *render)
{
    struct rv_task *k = rv_new(r, RV_LIST);
    if (!k) {
        belt__srv_req_free(r);
        return;
    }
    k->status_filter = status;
    k->limit = limit;
    k->render = render;
    belt__srv_task_submit(r->sl, &k->t);
}

static void handle_list(struct srv_req *r)
{
    if (refuse_non_reviewer(r))
        return;
    char status[32], limit[32];
    belt__srv_query(r->hr, "status", status, sizeof(status));
    belt__srv_query(r->hr, "limit", limit, sizeof(limit));
    int sf = !status[0]                   ? BELT_REVIEW_PENDING
             : strcmp(status, "all") == 0 ? -1
                                          : belt_review_status_parse(status);
    char *end = NULL;
    long lim = limit[0] ? strtol(limit, &end, 10) : LIST_DEFAULT;
    if ((status[0] && strcmp(status, "all") != 0 && sf < 0) || (limit[0] && *end) || lim < 1 ||
        lim > LIST_MAX) {
        belt__srv_req_unwatch(r);
        belt__srv_send_error(r->sl, r->hr, r->endpoint, 400, status[0] ? "status" : "limit",
                             "status is pending, approved, rejected, edited or all; limit is "
                             "1..%d",
                             LIST_MAX);
        belt__srv_req_free(r);
        return;
    }
    belt__srv_review_list(r, sf, lim, NULL);
}

int belt__srv_review_decide(struct srv_req *r, const char *id, int status, const char *note,
                            const char *answer_json, srv_review_render_fn *render)
{
    if (refuse_non_reviewer(r))
        return -1;
    struct rv_task *k = rv_new(r, RV_DECIDE);
    if (!k) {
        belt__srv_req_free(r);
        return -1;
    }
    snprintf(k->id, sizeof(k->id), "%s", id);
    k->render = render;
    k->d.status = (enum belt_review_status)status;
    k->who = belt_strdup(r->auth.grant.key_name);
    k->note = note && *note ? belt_strdup(note) : NULL;
    k->d_answer = answer_json ? belt_strdup(answer_json) : NULL;
    k->d.who = k->who;
    k->d.note = k->note;
    k->d.answer_json = k->d_answer;
    belt__srv_task_submit(r->sl, &k->t);
    return 0;
}

int belt__srv_review_action(const char *act)
{
    if (strcmp(act, "approve") == 0)
        return BELT_REVIEW_APPROVED;
    if (strcmp(act, "reject") == 0)
        return BELT_REVIEW_REJECTED;
    if (strcmp(act, "edit") == 0)
        return BELT_REVIEW_EDITED;
    return -1;
}

/* POST .../approve|reject|edit with JSON {"note", "answer"} (edit needs the answer). */
static void handle_decide(struct srv_req *r, const char *id, const char *act)
{
    int status = belt__srv_review_action(act);
    struct evbuffer *in = evhttp_request_get_input_buffer(r->hr);
    size_t len = evbuffer_get_length(in);
    json_t *body = NULL;
    struct belt_error err = {0};
    const char *problem = NULL;
    if (len && (belt_json_parse((const char *)evbuffer_pullup(in, -1), len, "request body", 0,
                                &body, &err) != BELT_OK ||
                !json_is_object(body)))
        problem = err.msg[0] ? err.msg : "the body must be a JSON object";
    const json_t *note = json_object_get(body, "note");
    const json_t *ans = json_object_get(body, "answer");
    if (!problem && note && !json_is_string(note))
        problem = "'note' must be a string";
    if (!problem && status == BELT_REVIEW_EDITED && !ans)
        problem = "edit needs {\"answer\": ...} (the corrected answer)";
    if (problem) {
        belt__srv_req_unwatch(r);
        belt__srv_send_error(r->sl, r->hr, r->endpoint, 400, NULL, "%s", problem);
        json_decref(body);
        belt__srv_req_free(r);
        return;
    }
    char *answer = ans ? belt_json_dumps(ans, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    belt__srv_review_decide(r, id, status, json_string_value(note), answer, NULL);
    belt_free(answer);
    json_decref(body);
}

void belt__srv_review_get(struct srv_req *r, const char *id, srv_review_render_fn *render)
{
    struct rv_task *k = rv_new(r, RV_GET);
    if (!k) {
        belt__srv_req_free(r);
        return;
    }
    snprintf(k->id, sizeof(k->id), "%s", id);
    k->render = render;
    belt__srv_task_submit(r->sl, &k->t);
}

void belt__srv_handle_reviews(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    const char *uri = evhttp_request_get_uri(hr);
    int method = (int)evhttp_request_get_command(hr);
    char id[BELT_REVIEW_ID_MAX], act[16];
    int is_list = strncmp(uri, "/v1/reviews/", 12) != 0;
    if (!is_list && belt__srv_review_path(uri, 12, id, sizeof(id), act, sizeof(act)) != 0) {
        belt__srv_send_error(sl, hr, ep, 404, NULL, "no such review");
        return;
    }
    int want_post = !is_list && act[0];
    if (want_post && belt__srv_review_action(act) < 0) {
        belt__srv_send_error(sl, hr, ep, 404, NULL, "no such action: %s (approve, reject, edit)",
                             act);
        return;
    }
    if (want_post != (method == EVHTTP_REQ_POST)) {
        evhttp_add_header(evhttp_request_get_output_headers(hr), "Allow",
                          want_post ? "POST" : "GET, HEAD");
        belt__srv_send_error(sl, hr, ep, 405, NULL, "this review endpoint takes %s",
                             want_post ? "POST" : "GET");
        return;
    }
    struct srv_req *r = belt__srv_review_request(sl, hr, ep, 0);
    if (!r)
        return;
    if (is_list)
        handle_list(r);
    else if (want_post)
        handle_decide(r, id, act);
    else
        belt__srv_review_get(r, id, NULL);
}
