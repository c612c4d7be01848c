/*
 * model_st.c — model-backed stations (classify through a route, extract's model path,
 * generate, plan): the OpenAI request built from the station's templates and the record, PII
 * redacted before it leaves for a model that is not trusted, the station cache, the route call
 * (line/call.h), and the answer checked per kind — a label of the set, a JSON object valid
 * against the schema (retried once with the validation error), a plan within its allow-list.
 */
#include "belt_config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/engine.h"
#include "line/exec_int.h"
#include "line/template.h"
#include "model/model.h"
#include "store/store.h"
#include "trace/writer.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/jsonschema.h"

/* ---- requests -------------------------------------------------------------------------------- */

static int add_msg(json_t *msgs, const char *role, const char *content)
{
    return json_array_append_new(msgs, json_pack("{ss ss}", "role", role, "content", content));
}

static char *labels_list(const struct belt_cfg_station *s)
{
    struct belt_buf b;
    belt_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < s->labels.n; i++)
        belt_buf_printf(&b, "%s%s", i ? ", " : "", s->labels.v[i]);
    return belt_buf_detach(&b, NULL);
}

/* The system message of a station without its own `system:`. Owned. */
static char *default_system(const struct belt_cfg_station *s, const json_t *rules_out)
{
    struct belt_buf b;
    belt_buf_init(&b, 1 << 20);
    if (s->kind == BELT_STATION_CLASSIFY) {
        char *l = labels_list(s);
        if (l && *l)
            belt_buf_printf(&b,
                            "You are a text classifier. Reply with exactly one label from "
                            "this list and nothing else: %s.",
                            l);
        else
            belt_buf_puts(&b, "You are a text classifier. Reply with one short label and "
                              "nothing else.");
        belt_free(l);
    } else if (s->kind == BELT_STATION_EXTRACT) {
        belt_buf_puts(&b, "Extract information from the user's text. Reply with one JSON "
                          "object and nothing else.");
    }
    if ((s->kind == BELT_STATION_EXTRACT || s->json) && s->schema_json) {
        belt_buf_puts(&b, " The object must be valid against this JSON schema: ");
        belt_json_dump_buf(s->schema_json, JSON_COMPACT | JSON_SORT_KEYS, &b);
    }
    if (json_object_size(rules_out) > 0) {
        belt_buf_puts(&b, " These fields were already found; keep them: ");
        belt_json_dump_buf(rules_out, JSON_COMPACT | JSON_SORT_KEYS, &b);
    }
    return belt_buf_detach(&b, NULL);
}

/* The user message: the prompt template, or the input field's text. Owned. */
static char *user_text(struct belt__item *it, const struct belt_cfg_station *s, const json_t *args,
                       char *why, size_t cap)
{
    if (s->prompt) {
        const char *t = belt__render(it, s->prompt, it->rec, args, why, cap);
        return t ? belt_strdup(t) : NULL;
    }
    const json_t *v = s->n_inputs ? belt__rec_get(it->rec, &s->inputs[0]) : NULL;
    char *text = belt__value_text(v);
    if (!text)
        snprintf(why, cap, "input field '%s' is missing", s->n_inputs ? s->inputs[0].text : "?");
    return text;
}

static belt_status build_messages(struct belt__item *it, struct job *j, json_t *msgs, char *why,
                                  size_t cap)
{
    const struct belt_cfg_station *s = j->s;
    if (s->kind == BELT_STATION_PLAN) {
        struct belt_error e;
        belt_error_clear(&e);
        belt_status st = belt__plan_request(it, s, msgs, &e);
        if (st != BELT_OK)
            snprintf(why, cap, "%s", e.msg);
        return st;
    }
    char *sys = NULL;
    if (s->system) {
        const char *t = belt__render(it, s->system, it->rec, j->args, why, cap);
        if (!t)
            return BELT_ERR_INVALID;
        sys = belt_strdup(t);
    } else if (s->kind != BELT_STATION_GENERATE || (s->json && s->schema_json)) {
        sys = default_system(s, j->rules_out);
    }
    if (sys && *sys)
        add_msg(msgs, "system", sys);
    belt_free(sys);
    char *user = user_text(it, s, j->args, why, cap);
    if (!user)
        return BELT_ERR_INVALID;
    add_msg(msgs, "user", user);
    belt_free(user);
    return BELT_OK;
}

/* Replace PII in every message's content by the item's placeholders. */
static belt_status redact_messages(struct belt__item *it, json_t *msgs, char *why, size_t cap)
{
    const struct belt_pii *pii = it->line->outbound_pii;
    struct belt_error e;
    belt_error_clear(&e);
    if (!pii)
        return BELT_OK;
    if (belt__lane_pii_map(it, &e) != BELT_OK) {
        snprintf(why, cap, "%s", e.msg);
        return e.code;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        json_t *c = json_object_get(m, "content");
        if (!json_is_string(c))
            continue;
        char *out = NULL;
        size_t len = 0;
        if (belt_pii_redact(pii, it->pii, json_string_value(c), json_string_length(c), &out, &len,
                            &e) != BELT_OK) {
            snprintf(why, cap, "redaction: %s", e.msg);
            return e.code;
        }
        json_object_set_new(m, "content", json_stringn(out, len));
        belt_free(out);
    }
    return BELT_OK;
}

static json_t *build_request(struct belt__item *it, struct job *j, char *why, size_t cap)
{
    const struct belt_cfg_station *s = j->s;
    json_t *req = json_object(), *msgs = json_array();
    if (!req || !msgs || json_object_set(req, "messages", msgs) != 0) {
        snprintf(why, cap, "out of memory");
        goto fail;
    }
    if (build_messages(it, j, msgs, why, cap) != BELT_OK)
        goto fail;
    if (it->feedback[j->idx]) {
        char fb[600];
        snprintf(fb, sizeof(fb),
                 "Your previous answer was not accepted: %s. Answer again, following the "
                 "instructions exactly.",
                 it->feedback[j->idx]);
        add_msg(msgs, "user", fb);
    }
    if (s->route_untrusted && redact_messages(it, msgs, why, cap) != BELT_OK)
        goto fail;
    if (s->kind == BELT_STATION_EXTRACT || s->kind == BELT_STATION_PLAN || s->json)
        json_object_set_new(req, "response_format", json_pack("{ss}", "type", "json_object"));
    if (s->temperature >= 0)
        json_object_set_new(req, "temperature", json_real(s->temperature));
    if (s->max_tokens > 0)
        json_object_set_new(req, "max_tokens", json_integer(s->max_tokens));
    json_decref(msgs);
    return req;
fail:
    json_decref(msgs);
    json_decref(req);
    return NULL;
}

/* ---- answers --------------------------------------------------------------------------------- */

/* The JSON object inside a model's answer (code fences and prose around it are tolerated). */
static json_t *answer_object(const char *s, size_t n, char *why, size_t cap)
{
    const char *a = memchr(s, '{', n);
    const char *b = NULL;
    for (size_t i = n; i-- > 0;)
        if (s[i] == '}') {
            b = s + i;
            break;
        }
    if (!a || !b || b < a) {
        snprintf(why, cap, "the answer is not a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(a, (size_t)(b - a) + 1, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        snprintf(why, cap, "the answer is not a valid JSON object: %s", je.text);
        return NULL;
    }
    return o;
}

/* Put PII back into every string of v (answers to redacted prompts). */
static void restore_json(const struct belt_pii_map *map, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (!json_is_string(x)) {
                restore_json(map, x);
                continue;
            }
            char *out = NULL;
            size_t len = 0;
            if (belt_pii_restore(map, json_string_value(x), json_string_length(x), &out, &len,
                                 NULL) == BELT_OK)
                json_object_set_new(v, k, json_stringn(out, len));
            belt_free(out);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (json_is_string(x)) {
                char *out = NULL;
                size_t len = 0;
                if (belt_pii_restore(map, json_string_value(x), json_string_length(x), &out, &len,
                                     NULL) == BELT_OK)
                    json_array_set_new(v, i, json_stringn(out, len));
                belt_free(out);
            } else {
                restore_json(map, x);
            }
        }
    }
}

static int as_label(const struct belt_cfg_station *s, const char *content, size_t n, char *out,
                    size_t cap)
{
    while (n && isspace((unsigned char)*content))
        content++, n--;
    while (n && (isspace((unsigned char)content[n - 1]) || content[n - 1] == '.'))
        n--;
    while (n >= 2 && strchr("\"'`*", content[0]) && content[n - 1] == content[0])
        content++, n -= 2;
    if (n == 0 || n >= cap || memchr(content, '\n', n))
        return 0;
    memcpy(out, content, n);
    out[n] = '\0';
    if (!s->labels.n)
        return 1;
    for (size_t i = 0; i < s->labels.n; i++)
        if (strcasecmp(s->labels.v[i], out) == 0) {
            snprintf(out, cap, "%s", s->labels.v[i]);
            return 1;
        }
    return 0;
}

/* Check a model's answer for the station's kind. 1: accepted with *out; 0: not, with why (a
 * retry with that reason may help). */
static int interpret(struct belt__item *it, struct job *j, const char *content, size_t len,
                     const char *label, json_t **out, char *why, size_t cap)
{
    const struct belt_cfg_station *s = j->s;
    int restore = it->pii && belt_pii_map_count(it->pii) > 0;
    struct belt_error e;
    belt_error_clear(&e);
    if (s->kind == BELT_STATION_CLASSIFY) {
        char lab[256];
        if (label && strcmp(label, BELT_CLASSIFIER_ABSTAIN) != 0 &&
            as_label(s, label, strlen(label), lab, sizeof(lab)))
            return (*out = json_string(lab)) != NULL;
        if (!label && as_label(s, content, len, lab, sizeof(lab)))
            return (*out = json_string(lab)) != NULL;
        snprintf(why, cap, "'%.60s' is not one of the labels", label ? label : content);
        return 0;
    }
    if (s->kind == BELT_STATION_PLAN)
        return belt__plan_check(it, s, content, len, out, why, cap);
    if (s->kind == BELT_STATION_GENERATE && !s->json) {
        char *txt = NULL;
        size_t n = 0;
        if (restore && s->restore &&
            belt_pii_restore(it->pii, content, len, &txt, &n, NULL) == BELT_OK)
            *out = json_stringn(txt, n);
        else
            *out = json_stringn(content, len);
        belt_free(txt);
        return *out != NULL;
    }
    json_t *o = answer_object(content, len, why, cap);
    if (!o)
        return 0;
    if (j->rules_out)
        json_object_update(o, j->rules_out);
    if (restore && (s->kind == BELT_STATION_EXTRACT || s->restore))
        restore_json(it->pii, o);
    if (s->schema && belt_jsonschema_validate(s->schema, o, &e) != BELT_OK) {
        snprintf(why, cap, "the answer does not match the schema: %s", e.msg);
        json_decref(o);
        return 0;
    }
    *out = o;
    return 1;
}

/* ---- the station cache ----------------------------------------------------------------------- */

struct cache_job {
    struct belt_write_job job; /* writer link (first member) */
    char key[65];
    char *station; /* "line/station" (owned) */
    char *value;   /* JSON (owned) */
};

static const char sql_cache_put[] =
    "INSERT OR REPLACE INTO station_cache(key, station, output, created_ms) VALUES(?,?,?,?)";

static belt_status cache_job_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    struct cache_job *cj = (struct cache_job *)job;
    sqlite3_stmt *q = belt__writer_stmt(ctx, sql_cache_put);
    if (!q)
        return BELT_ERR_STORE;
    sqlite3_bind_text(q, 1, cj->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, cj->station, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, cj->value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, belt_wall_ms());
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? BELT_OK : BELT_ERR_STORE;
}

static void cache_job_release(struct belt_write_job *job)
{
    struct cache_job *cj = (struct cache_job *)job;
    belt_free(cj->station);
    belt_free(cj->value);
    belt_free(cj);
}

static struct mcache_slot *mcache_slot(struct belt__lane *ln, const char *key)
{
    if (!ln->mcache) {
        ln->mcache = belt_calloc(BELT__MCACHE_SLOTS, sizeof(*ln->mcache));
        if (!ln->mcache)
            return NULL;
    }
    uint64_t h = belt_fnv1a(0xcbf29ce484222325ULL, key, strlen(key));
    return &ln->mcache[h % BELT__MCACHE_SLOTS];
}

static void mcache_put(struct belt__lane *ln, const char *key, const char *value)
{
    struct mcache_slot *s = mcache_slot(ln, key);
    char *v = s ? belt_strdup(value) : NULL;
    if (!v)
        return;
    belt_free(s->value);
    s->value = v;
    snprintf(s->key, sizeof(s->key), "%s", key);
}

int belt__scache_get(struct belt__lane *ln, const char *key, json_t **out)
{
    *out = NULL;
    struct mcache_slot *ms = mcache_slot(ln, key);
    if (ms && ms->value && strcmp(ms->key, key) == 0) {
        *out = json_loads(ms->value, 0, NULL);
        if (*out)
            return 1;
    }
    if (!ln->st)
        return 0;
    if (!ln->cache_get &&
        belt__store_prepare(ln->st, "SELECT output FROM station_cache WHERE key = ?",
                            &ln->cache_get, NULL) != BELT_OK)
        return 0;
    sqlite3_bind_text(ln->cache_get, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(ln->cache_get) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(ln->cache_get, 0);
        *out = v ? json_loads(v, 0, NULL) : NULL;
    }
    sqlite3_reset(ln->cache_get);
    return *out != NULL;
}

void belt__scache_put(struct belt__lane *ln, const char *key, const char *station,
                      const json_t *value)
{
    char *v = belt_json_dumps(value, JSON_COMPACT);
    if (!v)
        return;
    mcache_put(ln, key, v);
    if (ln->e->writer) {
        struct cache_job *cj = belt_calloc(1, sizeof(*cj));
        if (cj && (cj->station = belt_strdup(station)) != NULL) {
            cj->job.run = cache_job_run;
            cj->job.release = cache_job_release;
            snprintf(cj->key, sizeof(cj->key), "%s", key);
            cj->value = v;
            belt__writer_submit(ln->e->writer, &cj->job);
            return;
        }
        belt_free(cj);
    } else if (ln->st && (ln->cache_put || belt__store_prepare(ln->st, sql_cache_put,
                                                               &ln->cache_put, NULL) == BELT_OK)) {
        sqlite3_bind_text(ln->cache_put, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ln->cache_put, 2, station, -1, SQLITE_STATIC);
        sqlite3_bind_text(ln->cache_put, 3, v, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ln->cache_put, 4, belt_wall_ms());
        sqlite3_step(ln->cache_put);
        sqlite3_reset(ln->cache_put);
    }
    belt_free(v);
}

static int cache_on(const struct belt__item *it, const struct belt_cfg_station *s)
{
    if (it->ln->cache == 0 || !it->ln->st)
        return 0;
    return s->cache >= 0 ? s->cache : it->line->cache;
}

struct fp_ctx {
    struct belt__lane *ln;
    struct belt_buf *b;
};

/* One reachable model into the fingerprint: provider, endpoint, model id, and for a local
 * classifier a hash of its metadata (labels, training metrics: a retrained model differs). */
static void fp_model(void *ud, const struct belt_cfg_model *m)
{
    struct fp_ctx *c = ud;
    belt_buf_printf(c->b, "%s|%d|%s|%s|%s|%g|", m->name, m->provider,
                    m->base_url ? m->base_url : "", m->model ? m->model : "",
                    m->path ? m->path : "", m->threshold);
    const struct belt__model *rm = belt__models_find(&c->ln->e->models, m->name);
    const char *meta = rm && rm->local ? belt_classifier_metadata_json(rm->local) : NULL;
    if (meta) {
        char h[65];
        belt_sha256_hex(meta, strlen(meta), h);
        belt_buf_puts(c->b, h);
    }
    belt_buf_putc(c->b, '\n');
}

/* The fingerprint of a route (computed once per lane). */
static const char *route_fp(struct belt__lane *ln, const char *route)
{
    for (size_t i = 0; i < ln->n_fps; i++)
        if (ln->fps[i].route == route)
            return ln->fps[i].fp;
    struct route_fp *v = belt_realloc(ln->fps, (ln->n_fps + 1) * sizeof(*v));
    if (!v)
        return NULL;
    ln->fps = v;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    struct fp_ctx c = {ln, &b};
    belt_buf_printf(&b, "%s\n", route);
    belt__cfg_route_models(ln->cfg, route, fp_model, &c);
    v[ln->n_fps].route = route;
    belt_sha256_hex(b.data ? b.data : "", b.len, v[ln->n_fps].fp);
    belt_buf_deinit(&b);
    return v[ln->n_fps++].fp;
}

static void cache_key(const struct job *j, char out[65])
{
    const char *fp = route_fp(j->it->ln, j->route);
    out[0] = '\0';
    if (!fp)
        return;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_buf_printf(&b, "%s\n%s\n%s\n", j->s->hash, j->route, fp);
    if (belt_json_dump_buf(j->request, JSON_COMPACT | JSON_SORT_KEYS, &b) == BELT_OK)
        belt_sha256_hex(b.data, b.len, out);
    else
        out[0] = '\0';
    belt_buf_deinit(&b);
}

/* ---- calls ----------------------------------------------------------------------------------- */

static void job_free(struct job *j)
{
    json_decref(j->request);
    json_decref(j->args);
    json_decref(j->rules_out);
    belt_free(j);
}

static void job_unlink(struct job *j)
{
    struct job **pp = &j->it->jobs;
    while (*pp && *pp != j)
        pp = &(*pp)->next;
    if (*pp)
        *pp = j->next;
}

static const char *tier_label(const struct belt_config *cfg, const char *route, int tier,
                              const char *model, char *out, size_t cap)
{
    if (belt__cfg_routes_find(&cfg->routes, route, NULL) && tier >= 0)
        snprintf(out, cap, "tier %d: %s", tier + 1, model ? model : "?");
    else
        snprintf(out, cap, "%s", model ? model : route);
    return out;
}

static const char *config_model(const struct belt_config *cfg, const char *name)
{
    const struct belt_cfg_model *m = name ? belt__cfg_models_find(&cfg->models, name) : NULL;
    return m ? m->name : NULL;
}

static void on_answer(void *ud, const struct belt__lcall_result *a);

static belt_status job_call(struct job *j, struct belt_error *err)
{
    const json_t *msgs = json_object_get(j->request, "messages");
    const char *text = json_string_value(
        json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
    return belt__lcall_start(j->it->ln->loop, j->route, j->request, text, on_answer, j, &j->call,
                             err);
}

/* The answer checked and turned into the station's result; 1 when the job goes on (retry). */
static int settle(struct job *j, const char *content, size_t len, const char *label, struct sres *r,
                  double cost_so_far)
{
    struct belt__item *it = j->it;
    json_t *out = NULL;
    char why[400];
    if (interpret(it, j, content, len, label, &out, why, sizeof(why))) {
        r->kind = SR_OK;
        r->out = out;
        return 0;
    }
    if (j->attempt == 0 && !r->cached) { /* once more, with the reason */
        j->attempt = 1;
        json_t *msgs = json_object_get(j->request, "messages");
        char fb[600];
        snprintf(fb, sizeof(fb),
                 "Your answer was not accepted: %s. Answer again, following the instructions "
                 "exactly.",
                 why);
        json_t *copy = json_deep_copy(j->request);
        if (copy) {
            json_t *cm = json_object_get(copy, "messages");
            json_array_append_new(
                cm, json_pack("{ss ss%}", "role", "assistant", "content", content, len));
            json_array_append_new(cm, json_pack("{ss ss}", "role", "user", "content", fb));
            json_decref(j->request);
            j->request = copy;
            (void)msgs;
            if (job_call(j, NULL) == BELT_OK) {
                belt__item_delta_event(&j->it->delta, j->idx, BELT__SC_RETRIED, 1, 0, NULL);
                belt__item_delta_event(&j->it->delta, j->idx, BELT__SC_COST, 0, cost_so_far, NULL);
                j->it->cost += cost_so_far; /* the first call's cost, kept on the item */
                return 1;
            }
        }
    }
    r->kind = SR_FAIL;
    snprintf(r->why, sizeof(r->why), "%s", why);
    r->candidate = label ? json_string(label) : json_stringn(content, len);
    return 0;
}

static void on_answer(void *ud, const struct belt__lcall_result *a)
{
    struct job *j = ud;
    struct belt__item *it = j->it;
    const struct belt_config *cfg = it->ln->cfg;
    j->call = NULL;
    struct sres r;
    memset(&r, 0, sizeof(r));
    r.t0_us = j->t0_us;
    r.confidence = a->confidence;
    r.cost_usd = a->cost_usd;
    r.input_tokens = a->input_tokens;
    r.output_tokens = a->output_tokens;
    r.n_escalations = a->n_escalations;
    r.model = config_model(cfg, a->model);
    r.route = a->steps ? json_deep_copy(a->steps) : NULL;
    tier_label(cfg, j->route, a->tier, r.model, r.tier, sizeof(r.tier));
    if (a->status != BELT_OK || !a->resolved) {
        r.kind = SR_FAIL;
        if (a->status == BELT_ERR_CANCELLED)
            snprintf(r.why, sizeof(r.why), "cancelled");
        else
            snprintf(r.why, sizeof(r.why), "%s %s: %s", j->route,
                     a->status == BELT_OK ? a->outcome : "failed",
                     *a->why     ? a->why
                     : *a->error ? a->error
                                 : "no answer");
        if (a->content_len)
            r.candidate = json_stringn(a->content, a->content_len);
    } else {
        if (settle(j, a->content, a->content_len, a->label, &r, a->cost_usd)) {
            json_decref(r.route);
            return; /* retrying with the validation error */
        }
        if (r.kind == SR_OK && j->cache_key[0]) {
            json_t *v =
                json_pack("{ss% ss* sf ss* ss}", "content", a->content, a->content_len, "label",
                          a->label, "confidence", a->confidence, "model", r.model, "tier", r.tier);
            if (v)
                belt__scache_put(it->ln, j->cache_key, j->s->name, v);
            json_decref(v);
        }
    }
    job_unlink(j);
    size_t idx = j->idx;
    job_free(j);
    belt__station_finished(it, idx, &r);
}

/* A cached answer: checked like a fresh one (placeholders are restored per item). */
static int from_cache(struct job *j, struct sres *r)
{
    json_t *v = NULL;
    if (!belt__scache_get(j->it->ln, j->cache_key, &v))
        return 0;
    const json_t *c = json_object_get(v, "content");
    r->cached = 1;
    r->confidence = json_is_number(json_object_get(v, "confidence"))
                        ? json_number_value(json_object_get(v, "confidence"))
                        : -1;
    r->model = config_model(j->it->ln->cfg, json_string_value(json_object_get(v, "model")));
    snprintf(r->tier, sizeof(r->tier), "cache");
    settle(j, json_string_value(c) ? json_string_value(c) : "", json_string_length(c),
           json_string_value(json_object_get(v, "label")), r, 0);
    json_decref(v);
    return 1;
}

void belt__model_station_start(struct belt__item *it, size_t idx, const json_t *args,
                               const char *route, struct sres *r)
{
    const struct belt_cfg_station *s = belt__line_station_at(it->line, idx);
    struct job *j = belt_calloc(1, sizeof(*j));
    json_t *rules_out = s->kind == BELT_STATION_EXTRACT ? r->info : NULL;
    if (rules_out)
        r->info = NULL;
    if (!j) {
        json_decref(rules_out);
        snprintf(r->why, sizeof(r->why), "out of memory");
        r->kind = SR_FAIL;
        return;
    }
    j->it = it;
    j->idx = idx;
    j->s = s;
    j->route = route;
    j->rules_out = rules_out;
    j->args = args ? json_deep_copy(args) : NULL;
    j->t0_us = r->t0_us;
    j->request = build_request(it, j, r->why, sizeof(r->why));
    if (!j->request) {
        r->candidate = json_incref(rules_out);
        job_free(j);
        r->kind = SR_FAIL;
        return;
    }
    if (cache_on(it, s))
        cache_key(j, j->cache_key);
    if (j->cache_key[0] && from_cache(j, r)) {
        job_free(j);
        return;
    }
    struct belt_error e;
    belt_error_clear(&e);
    if (job_call(j, &e) != BELT_OK) {
        snprintf(r->why, sizeof(r->why), "%s: %s", route, e.msg);
        r->kind = SR_FAIL;
        job_free(j);
        return;
    }
    j->next = it->jobs;
    it->jobs = j;
    r->kind = SR_ASYNC;
}

void belt__jobs_cancel(struct belt__item *it)
{
    while (it->jobs) {
        struct job *j = it->jobs;
        struct belt__lcall *c = j->call;
        if (!c) { /* between calls: cannot happen, but never loop forever */
            it->jobs = j->next;
            continue;
        }
        belt__lcall_cancel(c); /* on_answer unlinks the job */
        if (it->jobs == j)
            break; /* the cancellation is deferred to the loop */
    }
}
