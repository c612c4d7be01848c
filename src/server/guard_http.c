/*
 * guard_http.c — the guards of a chat request in the gateway (issue 6, OWASP LLM01/02/07):
 *   in:  the injection check of user text (USER) and of tool/function results (THIRD_PARTY,
 *        stricter), PII redaction with reversible placeholders before text goes to a model that
 *        is not trusted (or a refusal, or a flag), and a canary token put in the system prompt;
 *   out: placeholders restored in the answer (JSON, or chunk by chunk with a streaming restorer
 *        that holds back a placeholder split across chunks) and the canary looked for in the
 *        answer (leaked → blocked or flagged).
 * Every decision becomes an audit event, a trace attribute and a metric. Values of PII never
 * leave this file: events and attributes carry entity names and counts only.
 */
#include "belt_config.h"

#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"
#include "util/json.h"
#include "util/log.h"

#define MAX_SLOTS     72   /* streaming restorers: 8 choices × (content + 8 tool calls) */
#define CANARY_WINDOW 4096 /* streamed text re-checked for the canary on every chunk */
#define CANARY_HEADER "x-belt-canary"

/* ---- walking the texts of a request ---------------------------------------------------------- */

/* Called for each string slot holder[key] of a message; return non-zero to stop. */
typedef int slot_fn(void *ud, json_t *holder, const char *key, size_t msg_index);

/* The texts of message m: string content, text parts, and (with args) tool call arguments. */
static int message_slots(json_t *m, size_t mi, int args, slot_fn *fn, void *ud)
{
    json_t *c = json_object_get(m, "content");
    if (json_is_string(c) && fn(ud, m, "content", mi))
        return 1;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        if (json_is_string(json_object_get(part, "text")) && fn(ud, part, "text", mi))
            return 1;
    }
    json_t *tc;
    json_array_foreach(args ? json_object_get(m, "tool_calls") : NULL, i, tc)
    {
        json_t *f = json_object_get(tc, "function");
        if (json_is_string(json_object_get(f, "arguments")) && fn(ud, f, "arguments", mi))
            return 1;
    }
    return 0;
}

/* Where a message's text comes from, or -1 for text the guard does not judge (system and
 * developer prompts are the operator's; assistant turns are the model's own). */
static int message_source(const json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role)
        return -1;
    if (strcmp(role, "user") == 0)
        return BELT_GUARD_SOURCE_USER;
    if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0)
        return BELT_GUARD_SOURCE_THIRD_PARTY;
    return -1;
}

/* ---- recording decisions ----------------------------------------------------------------------
 */

static json_t *attrs_of(struct srv_req *r)
{
    if (!r->guard_attrs)
        r->guard_attrs = json_array();
    return r->guard_attrs;
}

void belt__srv_guard_record(struct srv_req *r, const char *what, const char *action, json_t *data)
{
    if (!data)
        data = json_object();
    json_object_set_new(data, "check", json_string(what));
    json_object_set_new(data, "action", json_string(action));
    json_object_set_new(data, "route", json_string(r->route));
    json_array_append(attrs_of(r), data);
    belt__srv_audit_add(&r->events, "guard.decision",
                        r->auth.grant.key_id[0] ? r->auth.grant.key_id : NULL, r->trace_id, data);
}

/* ---- injection --------------------------------------------------------------------------------
 */

/* How serious an action is: block > escalate > flag > none. */
static int severity(int action)
{
    static const int sev[] = {0, 1, 3, 2, 0}; /* none, flag, block, escalate, redact */
    return action >= 0 && action < (int)BELT_ARRAY_LEN(sev) ? sev[action] : 0;
}

struct inj_ctx {
    struct srv_req *r;
    int worst;          /* most serious action so far */
    char reason[256];   /* its reason */
    belt_status status; /* a guard error */
    struct belt_error err;
};

/* The action a route prescribes for source src, or -1 to keep the guard's. */
static int route_action(const struct srv_req *r, int src)
{
    const struct belt_cfg_route_guard *g = r->rcfg ? &r->rcfg->guard : NULL;
    if (!g || !g->set)
        return -1;
    return src == BELT_GUARD_SOURCE_USER ? g->user : g->third_party;
}

static int inj_slot(void *ud, json_t *holder, const char *key, size_t mi)
{
    struct inj_ctx *c = ud;
    struct srv_req *r = c->r;
    json_t *m = json_array_get(json_object_get(r->body, "messages"), mi);
    int src = message_source(m);
    if (src < 0)
        return 0;
    const json_t *t = json_object_get(holder, key);
    struct belt_guard_verdict v;
    c->status = belt_guard_check(r->sl->s->gov.guard, (enum belt_guard_source)src,
                                 json_string_value(t), json_string_length(t), &v, &c->err);
    if (c->status != BELT_OK)
        return 1;
    if (!v.detected)
        return 0;
    int ov = route_action(r, src);
    int action = ov >= 0 ? ov : (int)v.action;
    /* A route's own action obeys the guard's grey zone: below block_threshold a detection that
     * would block or escalate is only flagged, as it is for the guard's configured action. */
    if (ov >= 0 && v.score < v.block_threshold &&
        (action == BELT_GUARD_ACTION_BLOCK || action == BELT_GUARD_ACTION_ESCALATE))
        action = BELT_GUARD_ACTION_FLAG;
    BELT_METRIC_ADD(r->sl->gc.injection[src][action < 5 ? action : 0], 1);
    json_t *d =
        json_pack("{s:s, s:I, s:f, s:f, s:s}", "source",
                  src == BELT_GUARD_SOURCE_USER ? "user" : "third_party", "message", (json_int_t)mi,
                  "score", v.score, "threshold", v.threshold, "reason", v.reason);
    belt__srv_guard_record(r, "injection", belt_guard_action_name((enum belt_guard_action)action),
                           d);
    if (severity(action) > severity(c->worst)) {
        c->worst = action;
        snprintf(c->reason, sizeof(c->reason), "%s (%s text, message %zu, score %.2f)",
                 v.reason[0] ? v.reason : "injection pattern",
                 src == BELT_GUARD_SOURCE_USER ? "user" : "third-party", mi, v.score);
    }
    return 0;
}

int belt__srv_guard_injection(struct srv_req *r, char *reason, size_t cap)
{
    struct inj_ctx c = {.r = r, .worst = BELT_GUARD_ACTION_NONE};
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r->body, "messages"), i, m)
    {
        if (message_slots(m, i, 0, inj_slot, &c))
            break;
    }
    if (c.status != BELT_OK) {
        BELT_LOG_E("guard: %s", c.err.msg);
        snprintf(reason, cap, "the injection guard failed: %s", c.err.msg);
        return BELT_GUARD_ACTION_BLOCK; /* fail closed */
    }
    size_t n = cap ? strnlen(c.reason, cap - 1) : 0;
    if (cap) {
        memcpy(reason, c.reason, n);
        reason[n] = '\0';
    }
    return c.worst;
}

/* ---- PII ----------------------------------------------------------------------------------------
 */

struct pii_ctx {
    struct srv_req *r;
    int action;                           /* REDACT, BLOCK or FLAG */
    size_t counts[BELT_PII_MAX_ENTITIES]; /* matches per entity */
    size_t total;
    belt_status status;
    struct belt_error err;
};

static int pii_slot(void *ud, json_t *holder, const char *key, size_t mi)
{
    struct pii_ctx *c = ud;
    (void)mi;
    const json_t *t = json_object_get(holder, key);
    const char *text = json_string_value(t);
    size_t len = json_string_length(t);
    const struct belt_pii *pii = belt_guard_pii(c->r->sl->s->gov.guard);
    struct belt_pii_match *ms = NULL;
    size_t n = 0;
    c->status = belt_pii_scan(pii, text, len, &ms, &n, &c->err);
    if (c->status != BELT_OK)
        return 1;
    for (size_t i = 0; i < n; i++)
        if ((size_t)ms[i].entity < BELT_PII_MAX_ENTITIES)
            c->counts[ms[i].entity]++;
    c->total += n;
    belt_free(ms);
    if (n == 0 || c->action != BELT_GUARD_ACTION_REDACT)
        return 0;
    char *out = NULL;
    size_t out_len = 0;
    c->status = belt_pii_redact(pii, c->r->pii, text, len, &out, &out_len, &c->err);
    if (c->status != BELT_OK)
        return 1;
    json_object_set_new(holder, key, json_stringn(out, out_len));
    belt_free(out);
    c->r->body_changed = 1;
    return 0;
}

/* The texts bound upstream: chat messages, or the embeddings input. */
static void pii_walk(struct pii_ctx *c, json_t *body)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m)
    {
        if (message_slots(m, i, 1, pii_slot, c))
            return;
    }
    json_t *in = json_object_get(body, "input");
    if (json_is_string(in)) {
        pii_slot(c, body, "input", 0);
        return;
    }
    json_array_foreach(in, i, m)
    {
        if (!json_is_string(m))
            continue;
        json_t *holder = json_pack("{s:O}", "v", m);
        if (!holder)
            return;
        int stop = pii_slot(c, holder, "v", i);
        json_array_set(in, i, json_object_get(holder, "v"));
        json_decref(holder);
        if (stop)
            return;
    }
}

static void entity_summary(const struct pii_ctx *c, char *out, size_t cap, json_t *obj)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t e = 0; e < belt_pii_n_entities() && e < BELT_PII_MAX_ENTITIES; e++) {
        if (!c->counts[e])
            continue;
        const char *name = belt_pii_entity_name((enum belt_pii_entity)e);
        json_object_set_new(obj, name, json_integer((json_int_t)c->counts[e]));
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", name);
    }
}

int belt__srv_guard_pii(struct srv_req *r, char *reason, size_t cap)
{
    struct srv_gov *g = &r->sl->s->gov;
    int action = belt_guard_pii_action(g->guard, r->trusted);
    const struct belt_cfg_route_guard *rg = r->rcfg ? &r->rcfg->guard : NULL;
    if (!r->trusted && rg && rg->set && rg->pii >= 0)
        action = rg->pii;
    if (action == BELT_GUARD_ACTION_NONE)
        return 0;
    struct pii_ctx c = {.r = r, .action = action};
    if (action == BELT_GUARD_ACTION_REDACT && belt_pii_map_new(&r->pii, &c.err) != BELT_OK) {
        snprintf(reason, cap, "%s", c.err.msg);
        return -1;
    }
    pii_walk(&c, r->body);
    if (c.status != BELT_OK) {
        BELT_LOG_E("guard: PII: %s", c.err.msg);
        snprintf(reason, cap, "the PII guard failed: %s", c.err.msg);
        return -1; /* fail closed: nothing goes upstream unredacted */
    }
    if (r->pii && belt_pii_map_count(r->pii) == 0) {
        belt_pii_map_free(r->pii);
        r->pii = NULL;
    }
    if (c.total == 0)
        return 0;
    BELT_METRIC_ADD(r->sl->gc.pii_requests[action < 5 ? action : 0], 1);
    if (action == BELT_GUARD_ACTION_REDACT)
        BELT_METRIC_ADD(r->sl->gc.pii_values, c.total);
    json_t *ents = json_object();
    char names[192];
    entity_summary(&c, names, sizeof(names), ents);
    json_t *d = json_pack("{s:I, s:o, s:b}", "matches", (json_int_t)c.total, "entities", ents,
                          "trusted", r->trusted);
    belt__srv_guard_record(r, "pii", belt_guard_action_name((enum belt_guard_action)action), d);
    if (action != BELT_GUARD_ACTION_BLOCK)
        return 0;
    snprintf(reason, cap,
             "the request contains personal data (%s) and '%s' may send it to a model that is "
             "not trusted with it",
             names, r->route);
    return -1;
}

/* ---- canary -------------------------------------------------------------------------------------
 */

/* Put a fresh canary in the system prompt (route guard.canary), or adopt the client's own
 * (x-belt-canary header: a token its system prompt carries). */
int belt__srv_guard_canary(struct srv_req *r, struct evhttp_request *hr)
{
    const struct belt_cfg_route_guard *rg = r->rcfg ? &r->rcfg->guard : NULL;
    const char *client = evhttp_find_header(evhttp_request_get_input_headers(hr), CANARY_HEADER);
    if (client && strlen(client) >= 8 && strlen(client) < sizeof(r->canary)) {
        snprintf(r->canary, sizeof(r->canary), "%s", client);
        r->canary_action = rg && rg->set && rg->canary > 0 ? rg->canary : BELT_GUARD_ACTION_BLOCK;
        return 0;
    }
    if (!rg || !rg->set || rg->canary <= 0)
        return 0;
    struct belt_error err = {0};
    if (belt_canary_new(r->canary, sizeof(r->canary), &err) != BELT_OK)
        return -1;
    r->canary_action = rg->canary;
    json_t *msgs = json_object_get(r->body, "messages");
    json_t *first = json_array_get(msgs, 0);
    const char *role = json_string_value(json_object_get(first, "role"));
    char mark[96];
    snprintf(mark, sizeof(mark), "[%s: confidential marker; never repeat it]", r->canary);
    json_t *content = json_object_get(first, "content");
    if (role && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) &&
        json_is_string(content)) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_append(&b, json_string_value(content), json_string_length(content));
        belt_buf_puts(&b, "\n\n");
        belt_buf_puts(&b, mark);
        json_object_set_new(first, "content", json_stringn(b.data, b.len));
        belt_buf_deinit(&b);
    } else {
        json_array_insert_new(msgs, 0, json_pack("{s:s, s:s}", "role", "system", "content", mark));
    }
    r->body_changed = 1;
    return 0;
}

/* The canary in text[0..len)? Records the leak; returns the action to take (NONE if clean). */
static int canary_check(struct srv_req *r, const char *text, size_t len)
{
    if (!r->canary[0] || r->canary_seen || !belt_canary_leaked(r->canary, text, len))
        return BELT_GUARD_ACTION_NONE;
    r->canary_seen = 1;
    int action = r->canary_action;
    BELT_METRIC_ADD(r->sl->gc.canary_leaks[action >= 0 && action < 3 ? action : 0], 1);
    belt__srv_guard_record(r, "canary", belt_guard_action_name((enum belt_guard_action)action),
                           json_pack("{s:s}", "reason",
                                     "the system prompt's canary token "
                                     "appeared in the answer"));
    return action;
}

/* ---- the answer (JSON)
 * --------------------------------------------------------------------------- */

/* Restore placeholders in holder[key] (a string). */
static void restore_slot(struct srv_req *r, json_t *holder, const char *key)
{
    const json_t *t = json_object_get(holder, key);
    if (!r->pii || !json_is_string(t))
        return;
    char *out = NULL;
    size_t n = 0;
    struct belt_error err = {0};
    if (belt_pii_restore(r->pii, json_string_value(t), json_string_length(t), &out, &n, &err) ==
        BELT_OK) {
        json_object_set_new(holder, key, json_stringn(out, n));
        belt_free(out);
    }
}

int belt__srv_guard_answer(struct srv_req *r, const json_t *resp, struct belt_buf *out)
{
    if ((!r->pii && !r->canary[0]) || !json_is_object(resp))
        return 0;
    json_t *doc = json_deep_copy(resp);
    if (!doc)
        return 0;
    int action = BELT_GUARD_ACTION_NONE;
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(doc, "choices"), i, ch)
    {
        json_t *msg = json_object_get(ch, "message");
        restore_slot(r, msg, "content");
        size_t k;
        json_t *tc;
        json_array_foreach(json_object_get(msg, "tool_calls"), k, tc)
        {
            json_t *f = json_object_get(tc, "function");
            restore_slot(r, f, "arguments");
            const json_t *args = json_object_get(f, "arguments");
            if (action == BELT_GUARD_ACTION_NONE && json_is_string(args))
                action = canary_check(r, json_string_value(args), json_string_length(args));
        }
        const json_t *c = json_object_get(msg, "content");
        if (action == BELT_GUARD_ACTION_NONE && json_is_string(c))
            action = canary_check(r, json_string_value(c), json_string_length(c));
    }
    if (action == BELT_GUARD_ACTION_BLOCK) {
        json_decref(doc);
        return -1;
    }
    belt_buf_reset(out);
    belt_status st = belt_json_dump_buf(doc, JSON_COMPACT, out);
    json_decref(doc);
    return st == BELT_OK ? 1 : 0;
}

/* ---- the answer (SSE)
 * ----------------------------------------------------------------------------- */

struct srv_out {
    struct belt_pii_restorer *rs[MAX_SLOTS]; /* per choice and text slot, created on demand */
    struct belt_buf text;                    /* content streamed so far (canary window) */
};

void belt__srv_guard_out_free(struct srv_req *r)
{
    if (!r->out)
        return;
    for (size_t i = 0; i < MAX_SLOTS; i++)
        belt_pii_restorer_free(r->out->rs[i]);
    belt_buf_deinit(&r->out->text);
    belt_free(r->out);
    r->out = NULL;
}

static struct belt_pii_restorer *slot_restorer(struct srv_req *r, size_t slot)
{
    if (!r->pii || slot >= MAX_SLOTS)
        return NULL;
    if (!r->out->rs[slot]) {
        struct belt_error err = {0};
        if (belt_pii_restorer_new(r->pii, &r->out->rs[slot], &err) != BELT_OK)
            return NULL;
    }
    return r->out->rs[slot];
}

/* Push holder[key] through the slot's restorer (and flush it when `last`). */
static void stream_slot(struct srv_req *r, json_t *holder, const char *key, size_t slot, int last)
{
    struct belt_pii_restorer *rs = slot_restorer(r, slot);
    const json_t *t = json_object_get(holder, key);
    if (!rs || (!json_is_string(t) && !last))
        return;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    char *piece = NULL;
    size_t n = 0;
    struct belt_error err = {0};
    if (json_is_string(t) && belt_pii_restorer_push(rs, json_string_value(t), json_string_length(t),
                                                    &piece, &n, &err) == BELT_OK) {
        belt_buf_append(&b, piece, n);
        belt_free(piece);
    }
    if (last && belt_pii_restorer_finish(rs, &piece, &n, &err) == BELT_OK) {
        belt_buf_append(&b, piece, n);
        belt_free(piece);
    }
    if (json_is_string(t) || b.len)
        json_object_set_new(holder, key, json_stringn(b.data ? b.data : "", b.len));
    belt_buf_deinit(&b);
}

/* Restore one choice of a chunk; returns its content after restoring (borrowed) or NULL. */
static const json_t *stream_choice(struct srv_req *r, json_t *ch)
{
    json_int_t idx = json_integer_value(json_object_get(ch, "index"));
    size_t base = (size_t)(idx >= 0 && idx < 8 ? idx : 7) * 9;
    int last = !json_is_null(json_object_get(ch, "finish_reason")) &&
               json_object_get(ch, "finish_reason") != NULL;
    json_t *delta = json_object_get(ch, "delta");
    if (!json_is_object(delta))
        return NULL;
    if (r->pii) {
        stream_slot(r, delta, "content", base, last);
        size_t k;
        json_t *tc;
        json_array_foreach(json_object_get(delta, "tool_calls"), k, tc)
        {
            json_int_t ti = json_integer_value(json_object_get(tc, "index"));
            stream_slot(r, json_object_get(tc, "function"), "arguments",
                        base + 1 + (size_t)(ti >= 0 && ti < 8 ? ti : 7), last);
        }
    }
    return json_object_get(delta, "content");
}

int belt__srv_guard_chunk(struct srv_req *r, const json_t *chunk, struct belt_buf *out)
{
    if (!r->pii && !r->canary[0])
        return 0;
    if (!r->out) {
        r->out = belt_calloc(1, sizeof(*r->out));
        if (!r->out)
            return 0;
        belt_buf_init(&r->out->text, 0);
    }
    json_t *doc = json_deep_copy(chunk);
    if (!doc)
        return 0;
    size_t i;
    json_t *ch;
    int action = BELT_GUARD_ACTION_NONE;
    json_array_foreach(json_object_get(doc, "choices"), i, ch)
    {
        const json_t *c = stream_choice(r, ch);
        if (!json_is_string(c) || !r->canary[0])
            continue;
        belt_buf_append(&r->out->text, json_string_value(c), json_string_length(c));
        size_t len = r->out->text.len;
        size_t from = len > CANARY_WINDOW ? len - CANARY_WINDOW : 0;
        int a = canary_check(r, r->out->text.data + from, len - from);
        if (a != BELT_GUARD_ACTION_NONE)
            action = a;
    }
    if (action == BELT_GUARD_ACTION_BLOCK) {
        json_decref(doc);
        return -1;
    }
    belt_buf_reset(out);
    belt_status st = belt_json_dump_buf(doc, JSON_COMPACT, out);
    json_decref(doc);
    return st == BELT_OK ? 1 : 0;
}

int belt__srv_guard_stream_rest(struct srv_req *r, struct belt_buf *out)
{
    belt_buf_reset(out);
    if (!r->out || !r->pii)
        return 0;
    for (size_t s = 0; s < MAX_SLOTS; s++) {
        if (!r->out->rs[s])
            continue;
        char *piece = NULL;
        size_t n = 0;
        struct belt_error err = {0};
        if (belt_pii_restorer_finish(r->out->rs[s], &piece, &n, &err) == BELT_OK && n &&
            s % 9 == 0) {
            json_t *ck = json_pack("{s:s, s:[{s:I, s:{s:s%}, s:n}]}", "object",
                                   "chat.completion.chunk", "choices", "index", (json_int_t)(s / 9),
                                   "delta", "content", piece, n, "finish_reason");
            if (ck) {
                belt_buf_puts(out, "data: ");
                belt_json_dump_buf(ck, JSON_COMPACT, out);
                belt_buf_puts(out, "\n\n");
                json_decref(ck);
            }
        }
        belt_free(piece);
    }
    return out->len > 0;
}
