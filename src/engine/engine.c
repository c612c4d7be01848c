/*
 * engine.c — the engine and its loops (see engine.h, belt.h "Gateway"), and the Prometheus
 * rendering of the metrics.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "route/exec.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* ---- engine ------------------------------------------------------------------------------- */

struct belt_engine_params belt_engine_default_params(void)
{
    struct belt_engine_params p;
    memset(&p, 0, sizeof(p));
    p.trace = -1;
    p.cache = -1;
    return p;
}

static belt_status open_cache(struct belt_engine *e, struct belt_error *err)
{
    const struct belt_cfg_cache *cc = &e->cfg->server.cache;
    struct belt_cache_params cp = belt__cache_default_params();
    cp.max_bytes = (size_t)cc->max_bytes;
    cp.max_entry = (size_t)cc->max_entry;
    cp.ttl_ms = cc->ttl_ms;
    cp.writer = cc->persist ? e->writer : NULL;
    belt_status st = belt__cache_new(&cp, &e->cache, err);
    if (st != BELT_OK || !cp.writer)
        return st;
    struct belt_store_params sp = belt_store_default_params();
    sp.path = e->store_path;
    struct belt_store *rd = NULL;
    st = belt_store_open(&sp, &rd, err);
    if (st != BELT_OK)
        return st;
    size_t n = 0;
    int64_t now = belt_wall_ms();
    st = belt__cache_warm(e->cache, rd, now, &n, err);
    belt_store_close(rd);
    if (st == BELT_OK) {
        BELT_LOG_I("cache: %zu entries loaded from %s", n, e->store_path);
        belt__cache_purge_store(e->cache, now);
    }
    return st;
}

/* Writer upkeep (server.trace_retention): delete the oldest expired traces, a chunk per run. */
static int trace_retention(struct belt_writer_ctx *ctx, void *ud)
{
    struct belt_engine *e = ud;
    int64_t n = 0;
    int more = belt__trace_prune(ctx, belt_wall_ms() - e->cfg->server.trace_retention_ms, 5000, &n);
    if (more >= 0) /* counted before the writer commits; a failed COMMIT is logged */
        e->traces_pruned += (uint64_t)n;
    return more;
}

/* How often retention runs: a tenth of the retention, between 100 ms and a minute. */
static int64_t upkeep_every_ms(int64_t retention_ms)
{
    int64_t every = retention_ms / 10;
    return every < 100 ? 100 : every > 60000 ? 60000 : every;
}

belt_status belt_engine_new(const struct belt_engine_params *p, struct belt_engine **out,
                            struct belt_error *err)
{
    *out = NULL;
    if (!p || !p->config)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "belt_engine_new: config is required");
    struct belt_engine *e = belt_calloc(1, sizeof(*e));
    if (!e)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    e->cfg = p->config;
    belt__metrics_init(&e->metrics, p->config->models.n);
    belt_status st = belt__models_build(p->config, &e->models, err);
    if (st == BELT_OK) /* the route executor's state: learned routers, model statistics */
        st = belt__route_engine_new(p->config, &e->models, &e->routes, err);
    const char *path = p->store_path ? p->store_path : belt_config_store_path(p->config);
    e->trace_on = p->trace < 0 ? p->config->server.trace : p->trace;
    int cache_on = p->cache < 0 ? p->config->server.cache.enabled : p->cache;
    int need_store = e->trace_on || (cache_on && p->config->server.cache.persist);
    if (st == BELT_OK && path && *path && need_store) {
        e->store_path = belt_strdup(path);
        struct belt_writer_params wp = belt__writer_default_params();
        wp.path = path;
        wp.busy_timeout_ms = (int)p->config->store.busy_timeout_ms;
        if (p->config->server.trace_retention_ms > 0) {
            wp.upkeep = trace_retention;
            wp.upkeep_ud = e;
            wp.upkeep_every_ms = upkeep_every_ms(p->config->server.trace_retention_ms);
        }
        st = e->store_path ? belt__writer_new(&wp, &e->writer, err)
                           : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    if (!e->writer)
        e->trace_on = 0;
    if (st == BELT_OK && cache_on)
        st = open_cache(e, err);
    if (st != BELT_OK) {
        belt_engine_free(e);
        return st;
    }
    *out = e;
    return BELT_OK;
}

void belt_engine_free(struct belt_engine *e)
{
    if (!e)
        return;
    belt__cache_free(e->cache);
    belt__writer_free(e->writer);
    belt__route_engine_free(e->routes);
    belt__models_free(&e->models);
    belt__metrics_deinit(&e->metrics);
    belt_free(e->store_path);
    belt_free(e);
}

belt_status belt_engine_flush(struct belt_engine *e, int64_t timeout_ms, struct belt_error *err)
{
    if (!e->writer)
        return BELT_OK;
    return belt__writer_flush(e->writer, timeout_ms, err);
}

const struct belt_config *belt_engine_config(const struct belt_engine *e)
{
    return e->cfg;
}

/* ---- loops -------------------------------------------------------------------------------- */

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    belt__calls_run_deferred(arg);
}

belt_status belt_loop_new(struct belt_engine *e, struct event_base *base, struct belt_loop **out,
                          struct belt_error *err)
{
    *out = NULL;
    struct belt_loop *l = belt_calloc(1, sizeof(*l));
    if (!l)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    l->e = e;
    l->base = base;
    uint64_t seed;
    randombytes_buf(&seed, sizeof(seed));
    belt_rng_seed(&l->rng, seed);
    l->shard = belt__metrics_acquire(&e->metrics);
    l->defer_ev = event_new(base, -1, 0, on_defer, l);
    belt_status st =
        l->shard && l->defer_ev ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "oom");
    if (st == BELT_OK)
        st = belt__upstream_new(base, NULL, &l->up, err);
    if (st != BELT_OK) {
        belt_loop_free(l);
        return st;
    }
    *out = l;
    return BELT_OK;
}

void belt_loop_free(struct belt_loop *l)
{
    if (!l)
        return;
    belt__route_calls_cancel_all(l); /* route calls first: they own model calls */
    belt__calls_cancel_all(l);
    belt__calls_pool_clear(l);
    belt__upstream_free(l->up);
    if (l->defer_ev)
        event_free(l->defer_ev);
    belt__metrics_release(&l->e->metrics, l->shard);
    belt_free(l);
}

size_t belt_loop_n_calls(const struct belt_loop *l)
{
    return l->n_calls;
}

/* Time-ordered ids (like UUIDv7): 48 bits of Unix ms, then 80 random bits. Still valid W3C
 * trace ids, and they keep the store's id index append-only (random ids scatter its pages). */
void belt__loop_trace_id(struct belt_loop *l, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t t = (uint64_t)belt_wall_ms();
    uint64_t a = belt_rng_next(&l->rng), b = belt_rng_next(&l->rng);
    for (int i = 0; i < 12; i++)
        out[i] = hex[(t >> (44 - 4 * i)) & 15];
    for (int i = 0; i < 16; i++)
        out[12 + i] = hex[(a >> (60 - 4 * i)) & 15];
    for (int i = 0; i < 4; i++)
        out[28 + i] = hex[(b >> (60 - 4 * i)) & 15];
    out[32] = '\0';
}

/* ---- Prometheus rendering ----------------------------------------------------------------- */

/* Append a label value with \, " and newline escaped. */
static void put_label(struct belt_buf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            belt_buf_putc(b, '\\');
        if (*p == '\n') {
            belt_buf_puts(b, "\\n");
            continue;
        }
        belt_buf_putc(b, *p);
    }
}

static void header(struct belt_buf *b, const char *name, const char *type, const char *help)
{
    belt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sum a per-model counter (at byte offset `off` of belt_model_counters) over all shards. */
static uint64_t sum_model(const struct belt_engine *e, size_t model, size_t off)
{
    uint64_t t = 0;
    for (size_t i = 0; i < e->metrics.n_shards; i++) {
        const struct belt_model_counters *mc = &e->metrics.shards[i]->models[model];
        t += BELT_METRIC_GET(*(const belt_counter *)((const char *)mc + off));
    }
    return t;
}

#define OFF(f) offsetof(struct belt_model_counters, f)

static void model_counter(const struct belt_engine *e, struct belt_buf *b, const char *name,
                          const char *help, size_t off, double scale, const char *extra)
{
    header(b, name, "counter", help);
    for (size_t m = 0; m < e->models.n; m++) {
        belt_buf_printf(b, "%s{model=\"", name);
        put_label(b, e->models.v[m].name);
        uint64_t v = sum_model(e, m, off);
        if (scale == 1)
            belt_buf_printf(b, "\"%s} %llu\n", extra ? extra : "", (unsigned long long)v);
        else
            belt_buf_printf(b, "\"%s} %.9f\n", extra ? extra : "", (double)v * scale);
    }
}

static void model_histogram(const struct belt_engine *e, struct belt_buf *b, const char *name,
                            const char *help, size_t off)
{
    header(b, name, "histogram", help);
    for (size_t m = 0; m < e->models.n; m++) {
        uint64_t cum = 0;
        for (size_t k = 0; k <= BELT_METRICS_N_BUCKETS; k++) {
            cum += sum_model(
                e, m, off + offsetof(struct belt_histogram, buckets) + k * sizeof(belt_counter));
            belt_buf_printf(b, "%s_bucket{model=\"", name);
            put_label(b, e->models.v[m].name);
            if (k < BELT_METRICS_N_BUCKETS)
                belt_buf_printf(b, "\",le=\"%g\"} %llu\n", belt__metrics_bounds_s[k],
                                (unsigned long long)cum);
            else
                belt_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        uint64_t sum = sum_model(e, m, off + offsetof(struct belt_histogram, sum_us));
        belt_buf_printf(b, "%s_sum{model=\"", name);
        put_label(b, e->models.v[m].name);
        belt_buf_printf(b, "\"} %.6f\n%s_count{model=\"", (double)sum / 1e6, name);
        put_label(b, e->models.v[m].name);
        belt_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
}

static void render_models(const struct belt_engine *e, struct belt_buf *b)
{
    model_counter(e, b, "belt_requests_total", "Requests by requested model (route).",
                  OFF(requests), 1, NULL);
    model_counter(e, b, "belt_request_errors_total", "Requests that ended in an error.",
                  OFF(errors), 1, NULL);
    model_counter(e, b, "belt_stream_requests_total", "Streamed requests.", OFF(streams), 1, NULL);
    model_counter(e, b, "belt_cache_hits_total", "Requests answered from the cache.",
                  OFF(cache_hits), 1, NULL);
    model_counter(e, b, "belt_cache_misses_total", "Cacheable requests not in the cache.",
                  OFF(cache_misses), 1, NULL);
    model_counter(e, b, "belt_cache_saved_usd_total", "Upstream cost avoided by cache hits.",
                  OFF(saved_nusd), 1e-9, NULL);
    header(b, "belt_tokens_total", "counter", "Tokens billed, by direction.");
    for (size_t m = 0; m < e->models.n; m++) {
        for (int d = 0; d < 2; d++) {
            belt_buf_puts(b, "belt_tokens_total{model=\"");
            put_label(b, e->models.v[m].name);
            belt_buf_printf(
                b, "\",type=\"%s\"} %llu\n", d ? "output" : "input",
                (unsigned long long)sum_model(e, m, d ? OFF(output_tokens) : OFF(input_tokens)));
        }
    }
    model_counter(e, b, "belt_cost_usd_total", "Cost of answers in USD.", OFF(cost_nusd), 1e-9,
                  NULL);
    model_histogram(e, b, "belt_request_duration_seconds", "End-to-end request latency.",
                    OFF(latency));
    model_counter(e, b, "belt_upstream_attempts_total", "Upstream attempts by model tried.",
                  OFF(attempts), 1, NULL);
    model_counter(e, b, "belt_upstream_errors_total", "Upstream attempts that failed.",
                  OFF(attempt_errors), 1, NULL);
    model_counter(e, b, "belt_upstream_timeouts_total", "Upstream attempts that timed out.",
                  OFF(timeouts), 1, NULL);
    model_counter(e, b, "belt_upstream_ratelimited_total", "Upstream attempts answered 429.",
                  OFF(ratelimited), 1, NULL);
    model_counter(e, b, "belt_retries_total", "Attempts that retried the same model.", OFF(retries),
                  1, NULL);
    model_counter(e, b, "belt_fallbacks_total", "Attempts that fell back to this model.",
                  OFF(fallbacks), 1, NULL);
    model_counter(e, b, "belt_upstream_skipped_total",
                  "Attempts skipped because every deployment's circuit was open.", OFF(skipped), 1,
                  NULL);
    model_histogram(e, b, "belt_upstream_duration_seconds", "Upstream attempt latency.",
                    OFF(upstream));
}

static void render_health(const struct belt_engine *e, struct belt_buf *b)
{
    header(b, "belt_upstream_up", "gauge",
           "1 when the deployment's circuit breaker lets traffic through (closed), else 0.");
    for (size_t m = 0; m < e->models.n; m++) {
        for (size_t d = 0; d < e->models.v[m].n_deps; d++) {
            struct belt__deployment *dep = &e->models.v[m].deps[d];
            int s = belt__deployment_state(dep, NULL);
            belt_buf_puts(b, "belt_upstream_up{model=\"");
            put_label(b, e->models.v[m].name);
            belt_buf_puts(b, "\",deployment=\"");
            put_label(b, dep->name);
            belt_buf_printf(b, "\",state=\"%s\"} %d\n",
                            s == BELT_BREAKER_OPEN        ? "open"
                            : s == BELT_BREAKER_HALF_OPEN ? "half_open"
                                                          : "closed",
                            s == BELT_BREAKER_CLOSED);
        }
    }
    header(b, "belt_breaker_opened_total", "counter", "Times a deployment's circuit opened.");
    for (size_t m = 0; m < e->models.n; m++) {
        for (size_t d = 0; d < e->models.v[m].n_deps; d++) {
            struct belt__deployment *dep = &e->models.v[m].deps[d];
            int64_t n = 0;
            belt__deployment_state(dep, &n);
            belt_buf_puts(b, "belt_breaker_opened_total{model=\"");
            put_label(b, e->models.v[m].name);
            belt_buf_puts(b, "\",deployment=\"");
            put_label(b, dep->name);
            belt_buf_printf(b, "\"} %lld\n", (long long)n);
        }
    }
}

static void render_http(const struct belt_engine *e, struct belt_buf *b)
{
    header(b, "belt_http_responses_total", "counter", "HTTP responses by endpoint and status.");
    uint64_t disc = 0, serr = 0, unk = 0;
    int64_t inflight = 0;
    for (size_t ep = 0; ep < BELT_EP_COUNT_; ep++) {
        for (size_t c = 0; c < BELT_METRICS_N_CODES; c++) {
            uint64_t t = 0;
            for (size_t i = 0; i < e->metrics.n_shards; i++)
                t += BELT_METRIC_GET(e->metrics.shards[i]->http[ep][c]);
            if (!t)
                continue;
            if (belt__metrics_codes[c])
                belt_buf_printf(b, "belt_http_responses_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
                                belt__metrics_endpoints[ep], belt__metrics_codes[c],
                                (unsigned long long)t);
            else
                belt_buf_printf(b,
                                "belt_http_responses_total{endpoint=\"%s\",code=\"other\"} %llu\n",
                                belt__metrics_endpoints[ep], (unsigned long long)t);
        }
    }
    for (size_t i = 0; i < e->metrics.n_shards; i++) {
        const struct belt_metrics_shard *s = e->metrics.shards[i];
        disc += BELT_METRIC_GET(s->disconnects);
        serr += BELT_METRIC_GET(s->stream_errors);
        unk += BELT_METRIC_GET(s->unknown_model);
        inflight += atomic_load_explicit(&s->inflight, memory_order_relaxed);
    }
    header(b, "belt_client_disconnects_total", "counter",
           "Clients that went away before their answer (upstream cancelled).");
    belt_buf_printf(b, "belt_client_disconnects_total %llu\n", (unsigned long long)disc);
    header(b, "belt_stream_errors_total", "counter", "Streams that ended with an error event.");
    belt_buf_printf(b, "belt_stream_errors_total %llu\n", (unsigned long long)serr);
    header(b, "belt_unknown_model_total", "counter", "Requests for a model that does not exist.");
    belt_buf_printf(b, "belt_unknown_model_total %llu\n", (unsigned long long)unk);
    header(b, "belt_inflight_requests", "gauge", "Requests in progress.");
    belt_buf_printf(b, "belt_inflight_requests %lld\n", (long long)inflight);
}

static void render_stores(const struct belt_engine *e, struct belt_buf *b)
{
    if (e->cache) {
        struct belt_cache_stats cs;
        belt__cache_stats(e->cache, &cs);
        header(b, "belt_cache_entries", "gauge", "Entries in the response cache.");
        belt_buf_printf(b, "belt_cache_entries %llu\n", (unsigned long long)cs.entries);
        header(b, "belt_cache_bytes", "gauge", "Bytes held by the response cache.");
        belt_buf_printf(b, "belt_cache_bytes %llu\n", (unsigned long long)cs.bytes);
        header(b, "belt_cache_evictions_total", "counter", "Entries evicted or expired.");
        belt_buf_printf(b, "belt_cache_evictions_total %llu\n", (unsigned long long)cs.evictions);
    }
    if (e->writer) {
        struct belt_writer_stats ws;
        belt__writer_stats(e->writer, &ws);
        header(b, "belt_store_writes_total", "counter", "Rows written by the store writer.");
        belt_buf_printf(b, "belt_store_writes_total %llu\n", (unsigned long long)ws.written);
        header(b, "belt_store_write_failures_total", "counter", "Writes that failed.");
        belt_buf_printf(b, "belt_store_write_failures_total %llu\n", (unsigned long long)ws.failed);
        header(b, "belt_store_writes_dropped_total", "counter",
               "Writes dropped because the queue was full.");
        belt_buf_printf(b, "belt_store_writes_dropped_total %llu\n",
                        (unsigned long long)ws.dropped);
        header(b, "belt_store_queue_depth", "gauge", "Writes waiting for the writer thread.");
        belt_buf_printf(b, "belt_store_queue_depth %llu\n", (unsigned long long)ws.depth);
        if (e->cfg->server.trace_retention_ms > 0) {
            header(b, "belt_traces_pruned_total", "counter",
                   "Traces deleted by server.trace_retention.");
            belt_buf_printf(b, "belt_traces_pruned_total %llu\n",
                            (unsigned long long)e->traces_pruned);
        }
    }
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    header(b, "belt_process_resident_memory_bytes", "gauge", "Resident memory of the process.");
    belt_buf_printf(b, "belt_process_resident_memory_bytes %lld\n",
                    (long long)rss * (long long)sysconf(_SC_PAGESIZE));
    header(b, "belt_process_start_time_seconds", "gauge", "Start time, Unix seconds.");
    belt_buf_printf(b, "belt_process_start_time_seconds %.3f\n",
                    (double)e->metrics.start_ms / 1000.0);
}

char *belt_engine_metrics_text(const struct belt_engine *e)
{
    struct belt_buf b;
    belt_buf_init(&b, (size_t)64 << 20);
    pthread_mutex_lock((pthread_mutex_t *)&e->metrics.lock);
    render_models(e, &b);
    render_health(e, &b);
    render_http(e, &b);
    pthread_mutex_unlock((pthread_mutex_t *)&e->metrics.lock);
    render_stores(e, &b);
    return belt_buf_detach(&b, NULL);
}
