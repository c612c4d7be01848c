/*
 * review_page.c — a minimal, self-contained web page to work the review queue (GET /review,
 * GET /review/ID, POST /review/ID/approve|reject|edit), served by `belt serve`. Server-rendered
 * HTML without scripts or external assets; every value from the store (model answers, requests,
 * reasons, notes) is HTML-escaped, and the Content-Security-Policy forbids scripts altogether,
 * so an answer carrying markup or script is shown as text (OWASP LLM05). The browser
 * authenticates with HTTP Basic (any user name, the belt key as password), so the key never
 * appears in a URL; forms carry a CSRF token (HMAC of the key id and the review id under a
 * per-process secret) and cross-site posts are refused. Only server.reviewers may use it.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"
#include "util/clock.h"
#include "util/json.h"

#define PREFIX     "/review/"
#define PREFIX_LEN 8

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'";

static const char STYLE[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em;"
    "text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap;"
    "word-break:break-word}textarea{width:100%;min-height:6em}form{margin:.6em 0}"
    ".st{font-weight:bold}.err{color:#a00}";

/* ---- escaping ------------------------------------------------------------------------------- */

void belt__srv_html_escape(struct belt_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        switch (s[i]) {
        case '&':
            belt_buf_puts(b, "&amp;");
            break;
        case '<':
            belt_buf_puts(b, "&lt;");
            break;
        case '>':
            belt_buf_puts(b, "&gt;");
            break;
        case '"':
            belt_buf_puts(b, "&quot;");
            break;
        case '\'':
            belt_buf_puts(b, "&#39;");
            break;
        case '\0':
            belt_buf_puts(b, "&#xfffd;");
            break;
        default:
            belt_buf_putc(b, s[i]);
        }
    }
}

static void esc(struct belt_buf *b, const char *s)
{
    if (s)
        belt__srv_html_escape(b, s, strlen(s));
}

/* A JSON value shown as text: strings as they are, anything else pretty-printed. */
static void esc_json(struct belt_buf *b, const json_t *v)
{
    if (json_is_string(v)) {
        belt__srv_html_escape(b, json_string_value(v), json_string_length(v));
        return;
    }
    char *s = belt_json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    esc(b, s ? s : "");
    belt_free(s);
}

/* ---- CSRF ----------------------------------------------------------------------------------- */

static void csrf_token(const struct srv_req *r, const char *review_id, char out[65])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "%s|%s", r->auth.grant.key_id, review_id);
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (unsigned long long)n,
                           r->sl->s->gov.csrf_key);
    sodium_bin2hex(out, 65, mac, sizeof(mac));
}

/* A post from another site (the browser says so) is refused whatever its token. */
static int cross_site(struct evhttp_request *hr)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(hr);
    const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
    return site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0;
}

/* ---- pages ---------------------------------------------------------------------------------- */

static void page_start(struct belt_buf *b, const char *title)
{
    belt_buf_puts(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"referrer\" content=\"no-referrer\"><title>");
    esc(b, title);
    belt_buf_printf(b,
                    "</title><style>%s</style></head><body><p><a href=\"/review\">pending</a>"
                    " · <a href=\"/review?status=all\">all</a></p><h1>",
                    STYLE);
    esc(b, title);
    belt_buf_puts(b, "</h1>");
}

static void send_page(struct srv_req *r, int status, struct belt_buf *b)
{
    belt_buf_puts(b, "</body></html>\n");
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->hr);
    evhttp_add_header(h, "Content-Security-Policy", CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-store");
    belt__srv_send_body(r->sl, r->hr, status, "text/html; charset=utf-8", belt_buf_cstr(b), b->len);
    belt__srv_count_response(r->sl, r->endpoint, status);
}

static void render_error(struct srv_req *r, int status, const char *msg)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    page_start(&b, "Review");
    belt_buf_puts(&b, "<p class=\"err\">");
    esc(&b, msg);
    belt_buf_puts(&b, "</p>");
    send_page(r, status, &b);
    belt_buf_deinit(&b);
}

static void time_cell(struct belt_buf *b, int64_t ms)
{
    char t[40] = "";
    if (ms > 0)
        belt_format_rfc3339(ms, t, sizeof(t));
    esc(b, t);
}

static void render_list(struct srv_req *r, int status, const char *msg, const json_t *list)
{
    if (msg) {
        render_error(r, status, msg);
        return;
    }
    struct belt_buf b;
    belt_buf_init(&b, 0);
    page_start(&b, "Review queue");
    belt_buf_printf(&b,
                    "<p>%zu item(s)</p><table><tr><th>id</th><th>created</th><th>status</th>"
                    "<th>source</th><th>route</th><th>reason</th></tr>",
                    json_array_size(list));
    size_t i;
    const json_t *rv;
    json_array_foreach(list, i, rv)
    {
        belt_buf_puts(&b, "<tr><td><a href=\"/review/");
        esc(&b, belt_json_str(rv, "id")); /* ids are [a-z0-9_] but escape anyway */
        belt_buf_puts(&b, "\">");
        esc(&b, belt_json_str(rv, "id"));
        belt_buf_puts(&b, "</a></td><td>");
        time_cell(&b, belt_json_int(rv, "created_ms", 0));
        belt_buf_puts(&b, "</td><td class=\"st\">");
        esc(&b, belt_json_str(rv, "status"));
        belt_buf_puts(&b, "</td><td>");
        esc(&b, belt_json_str(rv, "source"));
        belt_buf_puts(&b, "</td><td>");
        esc(&b, belt_json_str(rv, "route"));
        belt_buf_puts(&b, "</td><td>");
        esc(&b, belt_json_str(rv, "reason"));
        belt_buf_puts(&b, "</td></tr>");
    }
    belt_buf_puts(&b, "</table>");
    send_page(r, 200, &b);
    belt_buf_deinit(&b);
}

static void decision_form(struct belt_buf *b, const char *id, const char *act, const char *csrf,
                          const char *label, const json_t *answer)
{
    belt_buf_puts(b, "<form method=\"post\" action=\"/review/");
    esc(b, id);
    belt_buf_printf(b, "/%s\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">", act, csrf);
    if (answer) {
        belt_buf_puts(b, "<label>answer<textarea name=\"answer\">");
        if (!json_is_null(answer))
            esc_json(b, answer);
        belt_buf_puts(b, "</textarea></label>");
    }
    belt_buf_printf(b,
                    "<label>note <input name=\"note\" size=\"60\"></label> "
                    "<button type=\"submit\">%s</button></form>",
                    label);
}

static void field_row(struct belt_buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    belt_buf_printf(b, "<tr><th>%s</th><td>", name);
    esc(b, value);
    belt_buf_puts(b, "</td></tr>");
}

static void render_one(struct srv_req *r, int status, const char *msg, const json_t *rv)
{
    if (msg || !rv) {
        render_error(r, status, msg ? msg : "no such review");
        return;
    }
    const char *id = belt_json_str(rv, "id");
    struct belt_buf b;
    belt_buf_init(&b, 0);
    page_start(&b, id);
    belt_buf_puts(&b, "<table>");
    field_row(&b, "status", belt_json_str(rv, "status"));
    field_row(&b, "source", belt_json_str(rv, "source"));
    field_row(&b, "route", belt_json_str(rv, "route"));
    field_row(&b, "line", belt_json_str(rv, "line"));
    field_row(&b, "reason", belt_json_str(rv, "reason"));
    field_row(&b, "decided by", belt_json_str(rv, "decided_by"));
    belt_buf_puts(&b, "<tr><th>created</th><td>");
    time_cell(&b, belt_json_int(rv, "created_ms", 0));
    belt_buf_puts(&b, "</td></tr></table><h2>Request</h2><pre>");
    esc_json(&b, json_object_get(rv, "payload"));
    belt_buf_puts(&b, "</pre><h2>Answer so far</h2><pre>");
    esc_json(&b, json_object_get(rv, "answer"));
    belt_buf_puts(&b, "</pre>");
    const json_t *dec = json_object_get(rv, "decision");
    if (!json_is_null(dec)) {
        belt_buf_puts(&b, "<h2>Decision</h2><pre>");
        esc_json(&b, dec);
        belt_buf_puts(&b, "</pre>");
    }
    const char *st = belt_json_str(rv, "status");
    if (st && strcmp(st, "pending") == 0) {
        char csrf[65];
        csrf_token(r, id, csrf);
        belt_buf_puts(&b, "<h2>Decide</h2>");
        decision_form(&b, id, "approve", csrf, "Approve", NULL);
        decision_form(&b, id, "reject", csrf, "Reject", NULL);
        const json_t *ans = json_object_get(rv, "answer");
        decision_form(&b, id, "edit", csrf, "Save edited answer", ans ? ans : json_null());
    }
    send_page(r, 200, &b);
    belt_buf_deinit(&b);
}

/* After a decision: back to the item (303), or the error as a page. */
static void render_decided(struct srv_req *r, int status, const char *msg, const json_t *rv)
{
    if (msg || !rv) {
        render_error(r, status, msg ? msg : "no such review");
        return;
    }
    char loc[96];
    snprintf(loc, sizeof(loc), "/review/%s", belt_json_str(rv, "id"));
    evhttp_add_header(evhttp_request_get_output_headers(r->hr), "Location", loc);
    belt__srv_send_body(r->sl, r->hr, 303, "text/plain; charset=utf-8", "decided\n", 8);
    belt__srv_count_response(r->sl, r->endpoint, 303);
}

/* ---- handlers ------------------------------------------------------------------------------- */

static void post_decision(struct srv_req *r, const char *id, const char *act)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->hr);
    size_t len = evbuffer_get_length(in);
    struct belt_buf body;
    belt_buf_init(&body, 0);
    belt_buf_append(&body, len ? evbuffer_pullup(in, -1) : (const unsigned char *)"", len);
    struct evkeyvalq form;
    memset(&form, 0, sizeof(form)); /* evhttp_parse_query_str initialises it */
    int parsed = evhttp_parse_query_str(belt_buf_cstr(&body), &form) == 0;
    belt_buf_deinit(&body);
    const char *token = parsed ? evhttp_find_header(&form, "csrf") : NULL;
    char want[65];
    csrf_token(r, id, want);
    int status = belt__srv_review_action(act);
    const char *answer = parsed ? evhttp_find_header(&form, "answer") : NULL;
    const char *problem = NULL;
    if (cross_site(r->hr) || !token || strlen(token) != 64 || sodium_memcmp(token, want, 64) != 0)
        problem = "the form is stale or came from another site (CSRF check failed)";
    else if (status == BELT_REVIEW_EDITED && (!answer || !*answer))
        problem = "an edit needs the corrected answer";
    if (problem) {
        belt__srv_req_unwatch(r);
        render_error(r, 403, problem);
        evhttp_clear_headers(&form);
        belt__srv_req_free(r);
        return;
    }
    json_t *a = answer ? json_string(answer) : NULL;
    char *aj = a ? belt_json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(a);
    belt__srv_review_decide(r, id, status, evhttp_find_header(&form, "note"), aj, render_decided);
    belt_free(aj);
    evhttp_clear_headers(&form);
}

void belt__srv_handle_review_page(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    const char *uri = evhttp_request_get_uri(hr);
    int method = (int)evhttp_request_get_command(hr);
    char id[BELT_REVIEW_ID_MAX] = "", act[16] = "";
    int is_list = strncmp(uri, PREFIX, PREFIX_LEN) != 0;
    if (!is_list && belt__srv_review_path(uri, PREFIX_LEN, id, sizeof(id), act, sizeof(act)) != 0) {
        belt__srv_send_error(sl, hr, ep, 404, NULL, "no such review");
        return;
    }
    int want_post = act[0] != 0;
    if ((want_post && belt__srv_review_action(act) < 0) ||
        want_post != (method == EVHTTP_REQ_POST)) {
        belt__srv_send_error(sl, hr, ep, want_post ? 404 : 405, NULL, "no such page");
        return;
    }
    struct srv_req *r = belt__srv_review_request(sl, hr, ep, 1);
    if (!r)
        return;
    if (!belt__srv_is_reviewer(sl->s, &r->auth)) {
        belt__srv_req_unwatch(r);
        render_error(r, 403,
                     sl->s->cfg->reviewers.n ? "this key is not a reviewer (server.reviewers)"
                                             : "no reviewers are configured (server.reviewers)");
        belt__srv_req_free(r);
        return;
    }
    if (want_post) {
        post_decision(r, id, act);
    } else if (!is_list) {
        belt__srv_review_get(r, id, render_one);
    } else {
        char status[16];
        belt__srv_query(hr, "status", status, sizeof(status));
        int sf = BELT_REVIEW_PENDING;
        if (strcmp(status, "all") == 0)
            sf = -1;
        else if (status[0] && belt_review_status_parse(status) >= 0)
            sf = belt_review_status_parse(status);
        belt__srv_review_list(r, sf, 200, render_list);
    }
}
