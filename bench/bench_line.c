/*
 * bench_line.c — the line executor's own cost: items moved through lines of K stations that do
 * nothing (validate stations whose condition is the literal `true`), on one event loop in one
 * thread, with no input or output files. The difference between K = 33 and K = 1, divided by 32,
 * is the executor's overhead per station run (state, DAG step, condition, path step, stats);
 * K = 1 alone is the per-item overhead (item, record, finish, output line).
 *
 *   bench_line [ROUNDS] [ITEMS]      (defaults 5 and 200000)
 *
 * Prints the median over rounds and the spread (min–max).
 */
#include "belt_config.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "belt.h"
#include "config/config.h"
#include "engine/engine.h"
#include "line/exec.h"
#include "util/buf.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct ctx {
    struct belt_buf out; /* output lines (reset now and then) */
    long done;
    int dump; /* serialise each item like belt run does */
};

static void item_done(void *ud, struct belt__item *it)
{
    struct ctx *c = ud;
    if (c->dump) {
        belt__item_dump(it, &c->out);
        if (c->out.len > (1u << 20))
            belt_buf_reset(&c->out);
    }
    c->done++;
    belt__item_free(it);
}

static char *config_text(int k)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_buf_puts(&b, "store: { path: \":memory:\" }\nlines:\n  nop:\n    trace: false\n"
                      "    cache: false\n    stations:\n");
    for (int i = 0; i < k; i++)
        belt_buf_printf(&b, "      - { name: s%d, kind: validate, condition: \"true\" }\n", i);
    return belt_buf_detach(&b, NULL);
}

/* ns per item through a line of k no-op stations. */
static double run_line(int k, long items, int dump)
{
    char *text = config_text(k);
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    if (belt_config_parse(text, strlen(text), "bench.yaml", ".", &cfg, &err) != BELT_OK) {
        fprintf(stderr, "config: %s\n", err.msg);
        exit(1);
    }
    belt_free(text);
    struct belt_engine_params ep = belt_engine_default_params();
    ep.config = cfg;
    ep.store_path = "";
    struct belt_engine *e = NULL;
    struct event_base *base = event_base_new();
    struct belt_loop *loop = NULL;
    struct belt__lane *lane = NULL;
    if (belt_engine_new(&ep, &e, &err) != BELT_OK ||
        belt_loop_new(e, base, &loop, &err) != BELT_OK) {
        fprintf(stderr, "engine: %s\n", err.msg);
        exit(1);
    }
    struct belt__lane_params lp = {e, loop, NULL, 0, 0, 0, NULL, 0};
    if (belt__lane_new(&lp, &lane, &err) != BELT_OK) {
        fprintf(stderr, "lane: %s\n", err.msg);
        exit(1);
    }
    const struct belt_cfg_line *line = &cfg->lines.v[0];
    json_t *rec = json_pack("{ss si}", "text", "order #48213 refund $120 please", "n", 7);
    struct ctx c;
    memset(&c, 0, sizeof(c));
    belt_buf_init(&c.out, 0);
    c.dump = dump;
    double t0 = now_ns();
    for (long i = 0; i < items; i++) {
        json_t *r = json_copy(rec); /* each item owns its record, as when parsed from input */
        struct belt__item_params ip = {line, r, i, 0, NULL, item_done, &c};
        if (belt__item_start(lane, &ip, NULL, &err) != BELT_OK) {
            fprintf(stderr, "item: %s\n", err.msg);
            exit(1);
        }
        json_decref(r);
    }
    double dt = now_ns() - t0;
    if (c.done != items) {
        fprintf(stderr, "only %ld of %ld items finished\n", c.done, items);
        exit(1);
    }
    json_decref(rec);
    belt_buf_deinit(&c.out);
    belt__lane_free(lane);
    belt_loop_free(loop);
    event_base_free(base);
    belt_engine_free(e);
    belt_config_free(cfg);
    return dt / (double)items;
}

static void report(const char *what, double *v, int n, const char *unit)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    printf("%-46s %9.3f %s  (%.3f–%.3f)\n", what, v[n / 2], unit, v[0], v[n - 1]);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 5;
    long items = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
    if (rounds < 1 || rounds > 64 || items < 1000) {
        fprintf(stderr, "usage: bench_line [ROUNDS 1..64] [ITEMS >= 1000]\n");
        return 2;
    }
    if (belt_global_init(NULL) != BELT_OK)
        return 1;
    double one[64], many[64], per[64], one_dump[64], rate[64];
    for (int r = 0; r < rounds; r++) {
        one[r] = run_line(1, items, 0) / 1e3;
        many[r] = run_line(33, items / 4, 0) / 1e3;
        per[r] = (many[r] - one[r]) / 32.0;
        one_dump[r] = run_line(1, items, 1) / 1e3;
        rate[r] = 1e6 / one_dump[r];
    }
    printf("line executor, %ld items per round, %d rounds, one thread (median, min–max)\n", items,
           rounds);
    report("item through 1 no-op station", one, rounds, "µs");
    report("item through 33 no-op stations", many, rounds, "µs");
    report("overhead per station run", per, rounds, "µs");
    report("item through 1 station + output line", one_dump, rounds, "µs");
    report("items/s through 1 station + output line", rate, rounds, "/s");
    belt_global_cleanup();
    return 0;
}
