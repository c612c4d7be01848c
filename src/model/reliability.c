/*
 * reliability.c — backoff, Retry-After, outcome classification, circuit breaker and weighted
 * choice (see reliability.h). Pure functions over plain structs.
 */
#include "belt_config.h"

#include <string.h>
#include <time.h>

#include "model/reliability.h"
#include "util/str.h"

/* ---- backoff ------------------------------------------------------------------------------ */

int64_t belt__backoff_ms(int retry, int64_t base_ms, int64_t max_ms, double u)
{
    if (base_ms <= 0)
        return 0;
    if (retry < 0)
        retry = 0;
    double d = (double)base_ms;
    for (int i = 0; i < retry && d < (double)max_ms; i++)
        d *= 2;
    if (max_ms > 0 && d > (double)max_ms)
        d = (double)max_ms;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return (int64_t)(d / 2 + u * d / 2);
}

int belt__retry_after_parse(const char *value, int64_t now_wall_ms, int64_t *out_ms)
{
    if (!value)
        return -1;
    size_t n;
    const char *v = belt_str_trim(value, strlen(value), &n);
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    double secs;
    if (belt_parse_double(tmp, &secs) == 0) {
        if (secs < 0 || secs > 86400.0 * 365)
            return -1;
        *out_ms = (int64_t)(secs * 1000.0 + 0.5);
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    int64_t at_ms = (int64_t)timegm(&tm) * 1000;
    *out_ms = at_ms > now_wall_ms ? at_ms - now_wall_ms : 0;
    return 0;
}

int64_t belt__retry_delay_ms(int retry, int64_t base_ms, int64_t max_ms, double u,
                             int64_t retry_after_ms, int64_t max_wait_ms)
{
    if (retry_after_ms >= 0) {
        if (max_wait_ms >= 0 && retry_after_ms > max_wait_ms)
            return -1;
        return retry_after_ms;
    }
    int64_t d = belt__backoff_ms(retry, base_ms, max_ms, u);
    if (max_wait_ms >= 0 && d > max_wait_ms)
        return -1;
    return d;
}

/* ---- outcomes ----------------------------------------------------------------------------- */

enum belt_outcome belt__outcome_classify(belt_status st, int http_status)
{
    if (st == BELT_ERR_CANCELLED)
        return BELT_OUTCOME_FATAL;
    if (http_status >= 200 && http_status < 300)
        return st == BELT_OK ? BELT_OUTCOME_OK : BELT_OUTCOME_RETRY; /* 2xx with garbage */
    if (http_status == 0)
        return st == BELT_OK ? BELT_OUTCOME_OK : BELT_OUTCOME_RETRY; /* network, timeout */
    if (http_status == 408 || http_status == 409 || http_status == 429 || http_status >= 500)
        return BELT_OUTCOME_RETRY;
    if (http_status == 401 || http_status == 403 || http_status == 404)
        return BELT_OUTCOME_FALLBACK;
    return BELT_OUTCOME_FATAL;
}

int belt__outcome_is_failure(belt_status st, int http_status)
{
    if (st == BELT_ERR_CANCELLED)
        return 0;
    if (http_status == 0)
        return st != BELT_OK;
    if (http_status >= 200 && http_status < 300)
        return st != BELT_OK;
    return http_status == 408 || http_status == 429 || http_status >= 500;
}

/* ---- circuit breaker ---------------------------------------------------------------------- */

void belt__breaker_init(struct belt_breaker *b, int64_t threshold, int64_t cooldown_ms)
{
    memset(b, 0, sizeof(*b));
    b->state = BELT_BREAKER_CLOSED;
    b->threshold = threshold;
    b->cooldown_us = cooldown_ms * 1000;
}

int belt__breaker_would_allow(const struct belt_breaker *b, int64_t now_us)
{
    switch (b->state) {
    case BELT_BREAKER_OPEN:
        return now_us - b->opened_us >= b->cooldown_us;
    case BELT_BREAKER_HALF_OPEN:
        return b->probe_us == 0 || now_us - b->probe_us >= b->cooldown_us;
    default:
        return 1;
    }
}

int belt__breaker_allow(struct belt_breaker *b, int64_t now_us, int *is_probe)
{
    if (is_probe)
        *is_probe = 0;
    if (b->state == BELT_BREAKER_CLOSED)
        return 1;
    if (!belt__breaker_would_allow(b, now_us))
        return 0;
    b->state = BELT_BREAKER_HALF_OPEN;
    b->probe_us = now_us ? now_us : 1;
    if (is_probe)
        *is_probe = 1;
    return 1;
}

void belt__breaker_record(struct belt_breaker *b, int failed, int64_t now_us)
{
    if (!failed) {
        /* any success closes: the deployment answers again */
        b->state = BELT_BREAKER_CLOSED;
        b->failures = 0;
        b->probe_us = 0;
        return;
    }
    if (b->state == BELT_BREAKER_HALF_OPEN) {
        b->state = BELT_BREAKER_OPEN;
        b->opened_us = now_us;
        b->probe_us = 0;
        b->n_opened++;
        return;
    }
    if (b->state == BELT_BREAKER_OPEN)
        return; /* a request that started before it opened */
    b->failures++;
    if (b->threshold > 0 && b->failures >= b->threshold) {
        b->state = BELT_BREAKER_OPEN;
        b->opened_us = now_us;
        b->n_opened++;
    }
}

void belt__breaker_release(struct belt_breaker *b, int was_probe)
{
    if (was_probe && b->state == BELT_BREAKER_HALF_OPEN)
        b->probe_us = 0;
}

/* ---- weighted choice ---------------------------------------------------------------------- */

int belt__weighted_pick(const double *weights, const unsigned char *eligible, size_t n, double u)
{
    double total = 0;
    int last = -1;
    for (size_t i = 0; i < n; i++) {
        if ((eligible && !eligible[i]) || !(weights[i] > 0))
            continue;
        total += weights[i];
        last = (int)i;
    }
    if (last < 0)
        return -1;
    double x = u * total;
    for (size_t i = 0; i < n; i++) {
        if ((eligible && !eligible[i]) || !(weights[i] > 0))
            continue;
        if (x < weights[i])
            return (int)i;
        x -= weights[i];
    }
    return last; /* rounding at u close to 1 */
}
