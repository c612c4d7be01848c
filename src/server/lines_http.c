/*
 * lines_http.c — POST /v1/lines/NAME on `belt serve`: one record (the JSON object body) runs
 * through line NAME on the request's loop and comes back with its path (docs/gateway.md#lines):
 *
 *   200  the record with every station's output and `_belt` {item, status, reason, cost_usd,
 *        latency_us, path}; status is "ok" or "dropped" (with the reason)
 *   202  parked for review: the same document plus {id, object: "belt.review", url} of the
 *        review (GET /v1/reviews/ID; once decided, `belt run NAME --reviewed` continues it)
 *   400  the body is not a JSON object;  404  no such line;  413  body too large;
 *   401/403/429  keys (a key's `lines:` allow-list applies);  500  the item ended in error
 *
 * Each loop thread keeps one lane (line/exec.h) for the requests it serves, with its own store
 * connection for retrieval, the station cache and review parking; it is made on the first
 * request and released when the thread ends (or when the thread serves another engine/loop).
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "line/exec.h"
#include "server/lines_http.h"
#include "server/server.h"
#include "util/json.h"

#define LINES_PREFIX "/v1/lines/"

/* ---- the lane of this thread ---------------------------------------------------------------- */

struct tl_lane {
    struct belt_engine *e;   /* the engine it was made for */
    struct belt_loop *loop;  /* the loop it was made for */
    struct belt__lane *lane; /* owned */
};

static _Thread_local struct tl_lane tl;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_release(void *p)
{
    struct tl_lane *t = p;
    belt__lane_free(t->lane);
    memset(t, 0, sizeof(*t));
}

static void tl_init(void)
{
    pthread_key_create(&tl_key, tl_release);
}

/* The lane for loop `sl`: this thread's, made (or remade for a new engine/loop) on demand. */
static struct belt__lane *thread_lane(struct srv_loop *sl, struct belt_error *err)
{
    struct belt_engine *e = sl->s->e;
    if (tl.lane && tl.e == e && tl.loop == sl->loop)
        return tl.lane;
    if (tl.lane && belt__lane_n_items(tl.lane) > 0)
        return NULL; /* a lane of another server still has items on this thread */
    tl_release(&tl);
    pthread_once(&tl_once, tl_init);
    struct belt__lane_params lp = {e, sl->loop, NULL, 1, -1, -1, NULL, 0};
    if (belt__lane_new(&lp, &tl.lane, err) != BELT_OK)
        return NULL;
    tl.e = e;
    tl.loop = sl->loop;
    pthread_setspecific(tl_key, &tl);
    return tl.lane;
}

/* ---- the request ------------------------------------------------------------------------------
 */

struct line_req {
    struct srv_req *r; /* the tracked request (auth, draining, client gone) */
    char line[72];     /* line name */
};

static void respond(struct line_req *lr, struct belt__item *it)
{
    struct srv_req *r = lr->r;
    struct srv_loop *sl = r->sl;
    int outcome = belt__item_outcome(it);
    int status = outcome == BELT__ITEM_NEEDS_REVIEW ? 202 : outcome == BELT__ITEM_ERROR ? 500 : 200;
    belt__srv_settle(sl, &r->auth, belt__item_cost(it), 0);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_status st = belt__item_dump(it, &b);
    char url[96] = "";
    if (st == BELT_OK && status == 202 && belt__item_review_id(it)[0]) {
        /* add the review's handle to the document (before the final "}\n") */
        char extra[200];
        const char *id = belt__item_review_id(it);
        snprintf(url, sizeof(url), "/v1/reviews/%s", id);
        snprintf(extra, sizeof(extra), ",\"id\":\"%s\",\"object\":\"belt.review\",\"url\":\"%s\"}",
                 id, url);
        b.len -= 2; /* "}\n" */
        st = belt_buf_puts(&b, extra);
    }
    if (r->hr && !sl->torn_down) {
        belt__srv_req_unwatch(r);
        if (st == BELT_OK) {
            if (url[0])
                evhttp_add_header(evhttp_request_get_output_headers(r->hr), "Location", url);
            belt__srv_send_body(sl, r->hr, status, "application/json", b.data, b.len);
            belt__srv_count_response(sl, r->endpoint, status);
        } else {
            belt__srv_send_error(sl, r->hr, r->endpoint, 500, NULL, "out of memory");
        }
    }
    belt_buf_deinit(&b);
}

static void item_done(void *ud, struct belt__item *it)
{
    struct line_req *lr = ud;
    respond(lr, it);
    belt__item_free(it);
    belt__srv_req_free(lr->r);
    belt_free(lr);
}

/* The line name after the prefix: 1-64 of letters, digits, '_', '-', '.'. */
static int line_name(const char *uri, char *out, size_t cap)
{
    const char *s = uri + strlen(LINES_PREFIX);
    size_t n = strcspn(s, "?#");
    if (n == 0 || n > 64 || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

/* The body: one JSON object within server.max_body; NULL after answering 400 / 413. */
static json_t *read_record(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(hr);
    size_t len = evbuffer_get_length(in);
    if ((int64_t)len > sl->s->cfg->max_body) {
        belt__srv_send_error(sl, hr, ep, 413, NULL,
                             "request body of %zu bytes exceeds the limit of %lld", len,
                             (long long)sl->s->cfg->max_body);
        return NULL;
    }
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *rec = NULL;
    struct belt_error err = {0};
    if (belt_json_parse(data, len, "request body", 0, &rec, &err) != BELT_OK) {
        belt__srv_send_error(sl, hr, ep, 400, NULL, "%s", err.msg);
        return NULL;
    }
    if (!json_is_object(rec)) {
        json_decref(rec);
        belt__srv_send_error(sl, hr, ep, 400, NULL, "the body must be a JSON object (the record)");
        return NULL;
    }
    return rec;
}

void belt__srv_handle_lines(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    char name[72];
    if (!line_name(evhttp_request_get_uri(hr), name, sizeof(name))) {
        belt__srv_send_error(sl, hr, ep, 404, NULL, "expected /v1/lines/NAME with a line name");
        return;
    }
    const struct belt_cfg_line *line =
        belt__cfg_lines_find(&belt_engine_config(sl->s->e)->lines, name);
    if (!line) {
        belt__srv_send_error(sl, hr, ep, 404, NULL, "no line '%s'", name);
        return;
    }
    if (sl->draining) {
        belt__srv_send_error(sl, hr, ep, 503, NULL, "the server is shutting down");
        return;
    }
    struct line_req *lr = belt_calloc(1, sizeof(*lr));
    struct srv_req *r = lr ? belt__srv_req_new(sl, hr, -1, ep) : NULL;
    if (!r) {
        belt_free(lr);
        belt__srv_send_error(sl, hr, ep, 500, NULL, "out of memory");
        return;
    }
    lr->r = r;
    snprintf(lr->line, sizeof(lr->line), "%s", name);
    struct belt_auth_request ar = {0};
    ar.line = lr->line;
    if (belt__srv_auth(sl, hr, ep, &ar, &r->auth, 0) != 0) {
        belt__srv_req_free(r);
        belt_free(lr);
        return;
    }
    json_t *rec = read_record(sl, hr, ep);
    struct belt_error err = {0};
    struct belt__lane *lane = rec ? thread_lane(sl, &err) : NULL;
    if (!lane) {
        if (rec)
            belt__srv_send_error(sl, hr, ep, 500, NULL, "%s",
                                 err.msg[0] ? err.msg : "the line runtime is busy");
        belt__srv_settle(sl, &r->auth, 0, 0);
        json_decref(rec);
        belt__srv_req_free(r);
        belt_free(lr);
        return;
    }
    belt__srv_req_watch(r);
    struct belt__item_params ip = {line, rec, -1, 0, NULL, item_done, lr};
    if (belt__item_start(lane, &ip, NULL, &err) != BELT_OK) {
        belt__srv_req_unwatch(r);
        belt__srv_send_error(sl, hr, ep, 500, NULL, "%s", err.msg);
        belt__srv_settle(sl, &r->auth, 0, 0);
        belt__srv_req_free(r);
        belt_free(lr);
    }
    json_decref(rec);
}
