/*
 * auth.c — API keys in the gateway: reading the presented key (Authorization: Bearer, Basic
 * with the key as password for the review page, or x-api-key), asking the key service for a
 * grant (allow lists, rate limits, budget reservation), answering 401 / 403 / 429 with
 * OpenAI-style bodies and Retry-After, and settling a grant exactly once. The key itself is
 * never logged, stored or echoed: only its id and name travel further.
 */
#include "belt_config.h"

#include <event2/http.h>
#include <fnmatch.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"
#include "util/log.h"

#define KEY_PREFIX "belt_" /* what every belt key starts with (src/guard/keys.h) */

/* Decode standard base64 src into out (cap bytes, NUL-terminated); -1 when malformed. */
static int b64_decode(const char *src, char *out, size_t cap)
{
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)out, cap - 1, src, strlen(src), " ", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    out[n] = '\0';
    return 0;
}

int belt__srv_presented_key(struct evhttp_request *hr, char *out, size_t cap)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(hr);
    const char *auth = evhttp_find_header(in, "Authorization");
    out[0] = '\0';
    if (auth) {
        while (*auth == ' ')
            auth++;
        if (strncasecmp(auth, "Bearer ", 7) == 0) {
            const char *k = auth + 7;
            while (*k == ' ')
                k++;
            snprintf(out, cap, "%s", k);
        } else if (strncasecmp(auth, "Basic ", 6) == 0) {
            char dec[256];
            const char *colon =
                b64_decode(auth + 6, dec, sizeof(dec)) == 0 ? strchr(dec, ':') : NULL;
            if (colon)
                snprintf(out, cap, "%s", colon + 1);
            sodium_memzero(dec, sizeof(dec));
        }
    }
    const char *xk = out[0] ? NULL : evhttp_find_header(in, "x-api-key");
    if (xk)
        snprintf(out, cap, "%s", xk);
    size_t n = strlen(out);
    while (n && (out[n - 1] == ' ' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return n > 0;
}

/* The OpenAI error code of a refused authorisation. */
static const char *refusal_code(belt_status st)
{
    switch (st) {
    case BELT_ERR_AUTH:
        return "invalid_api_key";
    case BELT_ERR_FORBIDDEN:
        return "permission_denied";
    case BELT_ERR_BUDGET:
        return "insufficient_quota";
    default:
        return "rate_limit_exceeded";
    }
}

static void count_refusal(struct srv_loop *sl, belt_status st)
{
    struct srv_gov_counters *c = &sl->gc;
    if (st == BELT_ERR_AUTH)
        BELT_METRIC_ADD(c->auth_refused[0], 1);
    else if (st == BELT_ERR_FORBIDDEN)
        BELT_METRIC_ADD(c->auth_refused[1], 1);
    else if (st == BELT_ERR_BUDGET)
        BELT_METRIC_ADD(c->auth_refused[3], 1);
    else
        BELT_METRIC_ADD(c->auth_refused[2], 1);
}

int belt__srv_auth(struct srv_loop *sl, struct evhttp_request *hr, int ep,
                   struct belt_auth_request *req, struct srv_auth *out, int basic_realm)
{
    struct srv_gov *g = &sl->s->gov;
    memset(out, 0, sizeof(*out));
    char key[BELT_KEY_TEXT_MAX + 64];
    int have = belt__srv_presented_key(hr, key, sizeof(key));
    /* Without required keys a request may stay anonymous; a belt key is still checked (its
     * limits and allow lists apply, and the request is attributed to it). */
    if (!g->keys || (!g->keys_required && (!have || strncmp(key, KEY_PREFIX, 5) != 0))) {
        sodium_memzero(key, sizeof(key));
        return 0;
    }
    req->key = have ? key : NULL;
    struct belt_error err = {0};
    belt_status st = belt_keys_authorize(g->keys, req, &out->grant, &err);
    sodium_memzero(key, sizeof(key));
    req->key = NULL;
    if (st == BELT_OK) {
        out->granted = 1;
        return 0;
    }
    count_refusal(sl, st);
    int status = out->grant.http_status >= 400 ? out->grant.http_status : 401;
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr);
    if (status == 429) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%lld",
                 (long long)(out->grant.retry_after_s > 0 ? out->grant.retry_after_s : 1));
        evhttp_add_header(h, "Retry-After", ra);
    }
    if (status == 401)
        evhttp_add_header(h, "WWW-Authenticate",
                          basic_realm ? "Basic realm=\"belt review\", charset=\"UTF-8\""
                                      : "Bearer realm=\"belt\"");
    belt__srv_send_error_code(sl, hr, ep, status, refusal_code(st), "%s", err.msg);
    return -1;
}

void belt__srv_settle(struct srv_loop *sl, struct srv_auth *a, double cost_usd, int64_t tokens)
{
    if (!a->granted)
        return;
    a->granted = 0;
    belt_keys_settle(sl->s->gov.keys, &a->grant, cost_usd > 0 ? cost_usd : 0,
                     tokens > 0 ? tokens : 0);
}

int belt__srv_is_reviewer(const struct belt_server *s, const struct srv_auth *a)
{
    const struct belt_cfg_strlist *l = &s->cfg->reviewers;
    if (!a->grant.key_name[0])
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (fnmatch(l->v[i], a->grant.key_name, 0) == 0)
            return 1;
    return 0;
}
