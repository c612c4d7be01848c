/*
 * gov_metrics.c — the gateway's own metrics in the Prometheus text format, appended to the
 * engine's on GET /metrics: key refusals, guard decisions (injection by source and action, PII,
 * canary leaks), the review queue and audit events, and per-route counters (requests, outcomes,
 * escalations, budget skips, the tier that answered, calls, cost, latency). Each loop writes
 * its own counters; a scrape sums them.
 */
#include "belt_config.h"

#include <stddef.h>

#include "server/server.h"

#define GC(f)      offsetof(struct srv_gov_counters, f)
#define RC(f)      offsetof(struct srv_route_counters, f)
#define AT(p, off) ((const belt_counter *)((const char *)(p) + (off)))

static uint64_t sum_gov(const struct belt_server *s, size_t off)
{
    uint64_t v = 0;
    for (int i = 0; i < s->n_loops; i++)
        v += BELT_METRIC_GET(*AT(&s->loops[i].gc, off));
    return v;
}

static uint64_t sum_route(const struct belt_server *s, size_t route, size_t off)
{
    uint64_t v = 0;
    for (int i = 0; i < s->n_loops; i++)
        if (s->loops[i].routes)
            v += BELT_METRIC_GET(*AT(&s->loops[i].routes[route], off));
    return v;
}

static void header(struct belt_buf *b, const char *name, const char *type, const char *help)
{
    belt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label(struct belt_buf *b, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            belt_buf_putc(b, '\\');
        if (*v == '\n')
            belt_buf_puts(b, "\\n");
        else
            belt_buf_putc(b, *v);
    }
}

static void governance(const struct belt_server *s, struct belt_buf *b)
{
    static const char *const refused[] = {"invalid_key", "forbidden", "rate_limit", "budget"};
    header(b, "belt_auth_refused_total", "counter", "Requests refused by the API-key check.");
    for (size_t i = 0; i < 4; i++)
        belt_buf_printf(
            b, "belt_auth_refused_total{reason=\"%s\"} %llu\n", refused[i],
            (unsigned long long)sum_gov(s, GC(auth_refused) + i * sizeof(belt_counter)));
    header(b, "belt_guard_injection_total", "counter",
           "Prompt-injection detections, by source and action taken.");
    for (int src = 0; src < 2; src++)
        for (int a = 0; a < 4; a++)
            belt_buf_printf(
                b, "belt_guard_injection_total{source=\"%s\",action=\"%s\"} %llu\n",
                src ? "third_party" : "user", belt_guard_action_name((enum belt_guard_action)a),
                (unsigned long long)sum_gov(s, GC(injection) + ((size_t)src * 5 + (size_t)a) *
                                                                   sizeof(belt_counter)));
    header(b, "belt_pii_requests_total", "counter",
           "Requests with PII bound for a model that is not trusted, by action.");
    static const int pii_actions[] = {BELT_GUARD_ACTION_REDACT, BELT_GUARD_ACTION_BLOCK,
                                      BELT_GUARD_ACTION_FLAG};
    for (size_t i = 0; i < 3; i++)
        belt_buf_printf(b, "belt_pii_requests_total{action=\"%s\"} %llu\n",
                        belt_guard_action_name((enum belt_guard_action)pii_actions[i]),
                        (unsigned long long)sum_gov(
                            s, GC(pii_requests) + (size_t)pii_actions[i] * sizeof(belt_counter)));
    header(b, "belt_pii_redacted_values_total", "counter", "Values replaced by placeholders.");
    belt_buf_printf(b, "belt_pii_redacted_values_total %llu\n",
                    (unsigned long long)sum_gov(s, GC(pii_values)));
    header(b, "belt_canary_leaks_total", "counter",
           "Answers that revealed the system prompt's canary token, by action.");
    for (size_t a = 1; a < 3; a++)
        belt_buf_printf(
            b, "belt_canary_leaks_total{action=\"%s\"} %llu\n",
            belt_guard_action_name((enum belt_guard_action)a),
            (unsigned long long)sum_gov(s, GC(canary_leaks) + a * sizeof(belt_counter)));
    header(b, "belt_reviews_created_total", "counter", "Requests parked for a person (202).");
    belt_buf_printf(b, "belt_reviews_created_total %llu\n",
                    (unsigned long long)sum_gov(s, GC(reviews_created)));
    header(b, "belt_reviews_decided_total", "counter", "Review decisions taken over HTTP.");
    belt_buf_printf(b, "belt_reviews_decided_total %llu\n",
                    (unsigned long long)sum_gov(s, GC(reviews_decided)));
    header(b, "belt_audit_events_total", "counter", "Events queued to the audit log.");
    belt_buf_printf(b, "belt_audit_events_total %llu\n",
                    (unsigned long long)sum_gov(s, GC(audit_events)));
}

static void route_counter(const struct belt_server *s, struct belt_buf *b, const char *name,
                          const char *help, size_t off, double scale)
{
    const struct belt_cfg_routes *rs = &belt_engine_config(s->e)->routes;
    header(b, name, "counter", help);
    for (size_t i = 0; i < rs->n; i++) {
        belt_buf_printf(b, "%s{route=\"", name);
        label(b, rs->v[i].name);
        uint64_t v = sum_route(s, i, off);
        if (scale == 1)
            belt_buf_printf(b, "\"} %llu\n", (unsigned long long)v);
        else
            belt_buf_printf(b, "\"} %.9f\n", (double)v * scale);
    }
}

static void route_histogram(const struct belt_server *s, struct belt_buf *b)
{
    const struct belt_cfg_routes *rs = &belt_engine_config(s->e)->routes;
    const char *name = "belt_route_duration_seconds";
    header(b, name, "histogram", "End-to-end latency of route requests.");
    for (size_t i = 0; i < rs->n; i++) {
        uint64_t cum = 0;
        for (int k = 0; k <= BELT_METRICS_N_BUCKETS; k++) {
            cum += sum_route(s, i, RC(latency.buckets) + (size_t)k * sizeof(belt_counter));
            belt_buf_printf(b, "%s_bucket{route=\"", name);
            label(b, rs->v[i].name);
            if (k < BELT_METRICS_N_BUCKETS)
                belt_buf_printf(b, "\",le=\"%g\"} %llu\n", belt__metrics_bounds_s[k],
                                (unsigned long long)cum);
            else
                belt_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        belt_buf_printf(b, "%s_sum{route=\"", name);
        label(b, rs->v[i].name);
        belt_buf_printf(b, "\"} %.6f\n%s_count{route=\"",
                        (double)sum_route(s, i, RC(latency.sum_us)) / 1e6, name);
        label(b, rs->v[i].name);
        belt_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
}

static void routes(const struct belt_server *s, struct belt_buf *b)
{
    const struct belt_cfg_routes *rs = &belt_engine_config(s->e)->routes;
    if (rs->n == 0)
        return;
    route_counter(s, b, "belt_route_requests_total", "Requests by route.", RC(requests), 1);
    route_counter(s, b, "belt_route_errors_total", "Route requests that ended in an error.",
                  RC(errors), 1);
    route_counter(s, b, "belt_route_streams_total", "Streamed route requests.", RC(streams), 1);
    route_counter(s, b, "belt_route_escalations_total",
                  "Tiers whose answer was not accepted (escalated).", RC(escalations), 1);
    route_counter(s, b, "belt_route_budget_skips_total", "Tiers skipped to keep within budget.",
                  RC(budget_skips), 1);
    route_counter(s, b, "belt_route_calls_total", "Model calls made by routes.", RC(calls), 1);
    route_counter(s, b, "belt_route_cost_usd_total", "Cost of route requests in USD.",
                  RC(cost_nusd), 1e-9);
    header(b, "belt_route_outcomes_total", "counter", "How route requests ended.");
    for (size_t i = 0; i < rs->n; i++)
        for (int o = 0; o < 4; o++) {
            belt_buf_puts(b, "belt_route_outcomes_total{route=\"");
            label(b, rs->v[i].name);
            belt_buf_printf(b, "\",outcome=\"%s\"} %llu\n",
                            belt_route_outcome_name((enum belt_route_outcome)o),
                            (unsigned long long)sum_route(
                                s, i, RC(outcomes) + (size_t)o * sizeof(belt_counter)));
        }
    header(b, "belt_route_answered_total", "counter", "Answers accepted, by route and tier.");
    for (size_t i = 0; i < rs->n; i++)
        for (size_t t = 0; t < SRV_ROUTE_TIERS && t < BELT_MAX(rs->v[i].n_tiers, 1); t++) {
            belt_buf_puts(b, "belt_route_answered_total{route=\"");
            label(b, rs->v[i].name);
            belt_buf_printf(
                b, "\",tier=\"%zu\"} %llu\n", t + 1,
                (unsigned long long)sum_route(s, i, RC(answered_at) + t * sizeof(belt_counter)));
        }
    route_histogram(s, b);
}

void belt__srv_gov_metrics(const struct belt_server *s, struct belt_buf *b)
{
    governance(s, b);
    routes(s, b);
}
