/*
 * endpoints.c — the gateway's endpoint table (docs/gateway.md), the dispatcher that routes a
 * request to its handler (exact paths, and prefixes for paths carrying a name or an id), and
 * the small endpoints: /healthz, /metrics, /v1/models.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/lines_http.h" /* POST /v1/lines/NAME */
#include "server/server.h"

static belt__srv_handler_fn handle_models, handle_healthz, handle_metrics;

/* One row per path. A path ending in '/' with EP_PREFIX matches any longer path below it (the
 * rest is a name or an id the handler reads from the URI). First match wins. */
static const struct belt__srv_endpoint endpoints[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, BELT_EP_CHAT, 0, belt__srv_handle_chat},
    {"/chat/completions", EVHTTP_REQ_POST, BELT_EP_CHAT, 0, belt__srv_handle_chat},
    {"/v1/embeddings", EVHTTP_REQ_POST, BELT_EP_EMBEDDINGS, 0, belt__srv_handle_embeddings},
    {"/embeddings", EVHTTP_REQ_POST, BELT_EP_EMBEDDINGS, 0, belt__srv_handle_embeddings},
    {"/v1/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_MODELS, 0, handle_models},
    {"/v1/models/", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_MODELS, BELT_SRV_EP_PREFIX,
     handle_models},
    {"/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_MODELS, 0, handle_models},
    {"/healthz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_HEALTHZ, BELT_SRV_EP_PUBLIC,
     handle_healthz},
    {"/metrics", EVHTTP_REQ_GET, BELT_EP_METRICS, 0, handle_metrics},
    {"/v1/reviews", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_REVIEWS, 0, belt__srv_handle_reviews},
    {"/v1/reviews/", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST, BELT_EP_REVIEWS,
     BELT_SRV_EP_PREFIX, belt__srv_handle_reviews},
    {"/review", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_REVIEW_PAGE, 0,
     belt__srv_handle_review_page},
    {"/review/", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST, BELT_EP_REVIEW_PAGE,
     BELT_SRV_EP_PREFIX, belt__srv_handle_review_page},
    {"/v1/lines/", EVHTTP_REQ_POST, BELT_EP_OTHER, BELT_SRV_EP_PREFIX, belt__srv_handle_lines},
};

/* The API-key check of an endpoint without a model (nothing is reserved or charged). Returns
 * -1 after answering 401 / 403 / 429. */
static int plain_auth(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    struct srv_auth a;
    struct belt_auth_request ar = {0};
    if (belt__srv_auth(sl, hr, ep, &ar, &a, 0) != 0)
        return -1;
    belt__srv_settle(sl, &a, 0, 0);
    return 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

/* Does row e match the path uri[0..plen)? */
static int path_matches(const struct belt__srv_endpoint *e, const char *uri, size_t plen)
{
    size_t n = strlen(e->path);
    if (e->flags & BELT_SRV_EP_PREFIX)
        return plen > n && strncmp(e->path, uri, n) == 0;
    return n == plen && strncmp(e->path, uri, plen) == 0;
}

static const char *allow_of(unsigned methods)
{
    if ((methods & EVHTTP_REQ_POST) && (methods & EVHTTP_REQ_GET))
        return "GET, HEAD, POST";
    return methods & EVHTTP_REQ_POST ? "POST" : "GET, HEAD";
}

void belt__srv_dispatch(struct evhttp_request *hr, void *arg)
{
    struct srv_loop *sl = arg;
    const char *uri = evhttp_request_get_uri(hr);
    size_t plen = strcspn(uri, "?#");
    int method = (int)evhttp_request_get_command(hr);
    evhttp_add_header(evhttp_request_get_output_headers(hr), "Server", sl->s->server_header);
    for (size_t i = 0; i < BELT_ARRAY_LEN(endpoints); i++) {
        const struct belt__srv_endpoint *e = &endpoints[i];
        if (!path_matches(e, uri, plen))
            continue;
        if (!(e->methods & (unsigned)method)) {
            evhttp_add_header(evhttp_request_get_output_headers(hr), "Allow", allow_of(e->methods));
            belt__srv_send_error(sl, hr, e->ep, 405, NULL, "%s does not accept this method",
                                 e->path);
            return;
        }
        e->fn(sl, hr, e->ep);
        return;
    }
    belt__srv_send_error(sl, hr, BELT_EP_OTHER, 404, NULL, "no such endpoint: %.*s",
                         (int)BELT_MIN(plen, 200), uri);
}

/* ---- small endpoints ---------------------------------------------------------------------- */

static void handle_healthz(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    const char *body = sl->draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}";
    int status = sl->draining ? 503 : 200;
    belt__srv_send_body(sl, hr, status, "application/json", body, strlen(body));
    belt__srv_count_response(sl, ep, status);
}

static void handle_metrics(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    if (!sl->s->cfg->metrics) {
        belt__srv_send_error(sl, hr, ep, 404, NULL, "metrics are disabled (server.metrics: false)");
        return;
    }
    if (sl->s->cfg->metrics != BELT_CFG_METRICS_PUBLIC && plain_auth(sl, hr, ep) != 0)
        return;
    char *text = belt_engine_metrics_text(sl->s->e);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (text)
        belt_buf_puts(&b, text);
    belt__srv_gov_metrics(sl->s, &b);
    belt_free(text);
    if (!text || !b.data) {
        belt_buf_deinit(&b);
        belt__srv_send_error(sl, hr, ep, 500, NULL, "out of memory");
        return;
    }
    belt__srv_send_body(sl, hr, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    belt_buf_deinit(&b);
    belt__srv_count_response(sl, ep, 200);
}

static void model_object(struct belt_buf *b, const struct belt__model *m, int64_t created)
{
    belt_buf_puts(b, "{\"id\":");
    belt_buf_append_json_string(b, m->name, strlen(m->name));
    belt_buf_printf(b,
                    ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"belt\","
                    "\"belt\":{\"provider\":\"%s\",\"trusted\":%s,\"price\":{\"input\":%g,"
                    "\"output\":%g}}}",
                    (long long)created, belt__provider_names[m->cfg->provider],
                    m->cfg->trusted ? "true" : "false", m->cfg->price.input_per_m,
                    m->cfg->price.output_per_m);
}

/* A route listed as a model (clients name it in `model`). */
static void route_object(struct belt_buf *b, const struct belt_cfg_route *r, int64_t created)
{
    belt_buf_puts(b, "{\"id\":");
    belt_buf_append_json_string(b, r->name, strlen(r->name));
    belt_buf_printf(b,
                    ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"belt\","
                    "\"belt\":{\"route\":\"%s\"",
                    (long long)created, belt__route_kind_names[r->kind]);
    if (r->description) {
        belt_buf_puts(b, ",\"description\":");
        belt_buf_append_json_string(b, r->description, strlen(r->description));
    }
    belt_buf_puts(b, "}}");
}

static void handle_models(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    if (plain_auth(sl, hr, ep) != 0)
        return;
    const struct belt__models *ms = &sl->s->e->models;
    const struct belt_cfg_routes *routes = &belt_engine_config(sl->s->e)->routes;
    int64_t created = sl->s->e->metrics.start_ms / 1000;
    const char *uri = evhttp_request_get_uri(hr);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (strncmp(uri, "/v1/models/", 11) == 0) {
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(uri + 11, "?#"), uri + 11);
        char *dec = evhttp_decode_uri(name);
        const struct belt__model *m = belt__models_find(ms, dec ? dec : name);
        const struct belt_cfg_route *rc =
            m ? NULL : belt__cfg_routes_find(routes, dec ? dec : name, NULL);
        if (!m && !rc) {
            belt__srv_send_error(sl, hr, ep, 404, "model", "The model '%s' does not exist",
                                 dec ? dec : name);
            free(dec);
            belt_buf_deinit(&b);
            return;
        }
        free(dec);
        if (m)
            model_object(&b, m, created);
        else
            route_object(&b, rc, created);
    } else {
        belt_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i < ms->n; i++) {
            if (i)
                belt_buf_putc(&b, ',');
            model_object(&b, &ms->v[i], created);
        }
        for (size_t i = 0; i < routes->n; i++) {
            if (i || ms->n)
                belt_buf_putc(&b, ',');
            route_object(&b, &routes->v[i], created);
        }
        belt_buf_puts(&b, "]}");
    }
    belt__srv_send_body(sl, hr, 200, "application/json", belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
    belt__srv_count_response(sl, ep, 200);
}
