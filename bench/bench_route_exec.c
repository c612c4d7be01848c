/*
 * bench_route_exec.c — CPU cost of the live route executor, without any network: tasks go to
 * `replay` models (answers from a generated outcomes file), so what is measured is the executor
 * (policy stepping, model-layer calls, answer copies, path building) and the replay lookup.
 *
 *   bench_route_exec [N_TASKS] [IN_FLIGHT] [ROUNDS]     (defaults 20000 64 5)
 *
 * Prints, per mode, the median and spread over ROUNDS of µs per task on one loop thread:
 *   model    — a plain replay model called by name through belt_route_call_start
 *   cascade  — a two-tier cascade (confidence accept; ~30% of tasks escalate)
 *   verify   — a cascade whose first tier is judged by a replayed verifier (2-3 calls a task)
 * and, for reference, the same plain model through belt_call_start directly.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "belt.h"
#include "util/clock.h"

struct runner {
    struct belt_loop *l;
    json_t **reqs;
    size_t n, next, done, in_flight, max_in_flight;
    const char *name;
    int direct;
    long escalated;
};

static void start_next(struct runner *r);

static void on_route(void *ud, struct belt_route_call *rc, const struct belt_route_answer *a)
{
    struct runner *r = ud;
    (void)rc;
    r->escalated += a->final_tier > 0;
    r->done++;
    r->in_flight--;
}

static void on_call(void *ud, struct belt_call *c, const struct belt_answer *a)
{
    struct runner *r = ud;
    (void)c;
    (void)a;
    r->done++;
    r->in_flight--;
}

static void start_next(struct runner *r)
{
    while (r->next < r->n && r->in_flight < r->max_in_flight) {
        json_t *req = r->reqs[r->next++];
        belt_status st;
        if (r->direct) {
            struct belt_call_params p = belt_call_default_params();
            p.model = r->name;
            p.request = req;
            p.on_answer = on_call;
            p.ud = r;
            st = belt_call_start(r->l, &p, NULL, NULL);
        } else {
            struct belt_route_call_params p = belt_route_call_default_params();
            p.name = r->name;
            p.request = req;
            p.on_answer = on_route;
            p.ud = r;
            st = belt_route_call_start(r->l, &p, NULL, NULL);
        }
        if (st != BELT_OK) {
            fprintf(stderr, "start failed: %s\n", belt_status_name(st));
            exit(1);
        }
        r->in_flight++;
    }
}

static double run_once(struct belt_engine *e, json_t **reqs, size_t n, size_t in_flight,
                       const char *name, int direct, long *escalated)
{
    struct event_base *base = event_base_new();
    struct runner r = {NULL, reqs, n, 0, 0, 0, in_flight, name, direct, 0};
    if (belt_loop_new(e, base, &r.l, NULL) != BELT_OK)
        exit(1);
    int64_t t0 = belt_now_us();
    start_next(&r);
    while (r.done < n) {
        event_base_loop(base, EVLOOP_ONCE);
        start_next(&r);
    }
    int64_t t1 = belt_now_us();
    belt_loop_free(r.l);
    event_base_free(base);
    *escalated = r.escalated;
    return (double)(t1 - t0) / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_outcomes(const char *path, size_t n)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        exit(1);
    srand(7);
    for (size_t i = 0; i < n; i++) {
        double conf = (rand() % 1000) / 1000.0;
        fprintf(fp,
                "{\"id\":\"t%zu\",\"query\":\"task %zu: what is the answer to question %zu?\","
                "\"models\":{\"small\":{\"answer\":\"A%zu\",\"confidence\":%.3f,\"correct\":%s,"
                "\"cost_usd\":0.00001,\"latency_ms\":30,\"verify\":{\"judge\":%.3f}},"
                "\"large\":{\"answer\":\"A%zu\",\"correct\":true,\"cost_usd\":0.001,"
                "\"latency_ms\":800},\"judge\":{\"answer\":\"1\",\"cost_usd\":0.00002}}}\n",
                i, i, i, i, conf, conf > 0.3 ? "true" : "false", conf, i);
    }
    fclose(fp);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000;
    size_t in_flight = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 64;
    int rounds = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    if (n == 0 || in_flight == 0 || rounds < 1 || rounds > 100)
        return 2;
    belt_global_init(NULL);
    char dir[] = "/tmp/belt-bench-route-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char outcomes[128], cfgpath[128], yaml[1024];
    snprintf(outcomes, sizeof(outcomes), "%s/outcomes.jsonl", dir);
    snprintf(cfgpath, sizeof(cfgpath), "%s/belt.yaml", dir);
    write_outcomes(outcomes, n);
    snprintf(yaml, sizeof(yaml),
             "models:\n"
             "  small: {provider: replay, path: '%s'}\n"
             "  large: {provider: replay, path: '%s'}\n"
             "  judge: {provider: replay, path: '%s'}\n"
             "routes:\n"
             "  cascade: {cascade: [{model: small, accept: {confidence: 0.3}}, large]}\n"
             "  verify: {cascade: [{model: small, accept: {verifier: {model: judge, score: "
             "0.3}}}, large]}\n",
             outcomes, outcomes, outcomes);
    FILE *fp = fopen(cfgpath, "w");
    if (!fp || fputs(yaml, fp) < 0)
        return 1;
    fclose(fp);
    struct belt_config *cfg = NULL;
    struct belt_engine *e = NULL;
    struct belt_error err = {0};
    struct belt_engine_params ep = belt_engine_default_params();
    if (belt_config_load(cfgpath, &cfg, &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ep.config = cfg;
    ep.store_path = "";
    ep.trace = 0;
    ep.cache = 0;
    if (belt_engine_new(&ep, &e, &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    json_t **reqs = calloc(n, sizeof(*reqs));
    for (size_t i = 0; i < n; i++) {
        char q[96];
        snprintf(q, sizeof(q), "task %zu: what is the answer to question %zu?", i, i);
        reqs[i] = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", q);
    }
    struct {
        const char *label, *name;
        int direct;
    } modes[] = {{"call (direct)", "small", 1},
                 {"model", "small", 0},
                 {"cascade", "cascade", 0},
                 {"verify", "verify", 0}};
    printf("tasks %zu, in flight %zu, rounds %d, one loop thread\n", n, in_flight, rounds);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        double us[100];
        long esc = 0;
        for (int k = 0; k < rounds; k++)
            us[k] = run_once(e, reqs, n, in_flight, modes[m].name, modes[m].direct, &esc);
        qsort(us, (size_t)rounds, sizeof(double), cmp_double);
        printf("%-14s median %7.2f us/task  (min %.2f, max %.2f)  escalated %.1f%%\n",
               modes[m].label, us[rounds / 2], us[0], us[rounds - 1], 100.0 * (double)esc / n);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(reqs[i]);
    free(reqs);
    belt_engine_free(e);
    belt_config_free(cfg);
    unlink(outcomes);
    unlink(cfgpath);
    rmdir(dir);
    belt_global_cleanup();
    return 0;
}
