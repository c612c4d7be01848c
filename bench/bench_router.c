/*
 * bench_router.c — decision time of the learned router: for every query of an outcomes (or any
 * JSONL) file, belt_router_predict() + belt_router_choose(), timed per query, repeated.
 *
 *   bench_router ROUTER.belt QUERIES.jsonl [REPS] [FIELD]
 *
 * Prints, per repetition, the mean µs per decision over all queries, then the median and the
 * spread (min–max) over repetitions, and the per-query p50 / p99 of the last repetition. Texts
 * (and each record's `tags`, for a router trained with them) are loaded into memory first: only
 * the decision is timed (feature extraction included).
 */
#include "belt_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "belt.h"
#include "util/clock.h"
#include "util/json.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One query: its text and, for a router that reads them, its tags. */
struct query {
    char *text;
    char *tags[BELT_ROUTER_MAX_TAGS];
    size_t n_tags;
};

/* Read every record's `field` string and its `tags`. */
static struct query *load_queries(const char *path, const char *field, size_t *n_out)
{
    struct belt_jsonl_reader r;
    struct belt_error err = {0};
    if (belt_jsonl_open(&r, path, &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    size_t n = 0, cap = 1024;
    struct query *v = malloc(cap * sizeof(*v));
    for (;;) {
        json_t *o = NULL, *tag;
        size_t i;
        if (belt_jsonl_next(&r, &o, &err) != BELT_OK || !o)
            break;
        const char *s = belt_json_str(o, field);
        if (s) {
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof(*v));
            v[n].text = strdup(s);
            v[n].n_tags = 0;
            json_array_foreach(json_object_get(o, "tags"), i, tag)
            {
                if (json_is_string(tag) && v[n].n_tags < BELT_ROUTER_MAX_TAGS)
                    v[n].tags[v[n].n_tags++] = strdup(json_string_value(tag));
            }
            n++;
        }
        json_decref(o);
    }
    belt_jsonl_close(&r);
    *n_out = n;
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_router ROUTER.belt QUERIES.jsonl [REPS] [FIELD]\n");
        return 2;
    }
    int reps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    const char *field = argc > 4 ? argv[4] : "query";
    if (reps < 1 || reps > 1000 || belt_global_init(NULL) != BELT_OK)
        return 2;
    struct belt_router *r = NULL;
    struct belt_error err = {0};
    if (belt_router_load(argv[1], &r, &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t n = 0;
    struct query *q = load_queries(argv[2], field, &n);
    if (!q || n == 0) {
        fprintf(stderr, "no '%s' strings in %s\n", field, argv[2]);
        return 1;
    }
    size_t nt = belt_router_n_tiers(r), chosen = 0, len_sum = 0;
    int64_t *per = malloc(n * sizeof(int64_t));
    double *mean_us = malloc((size_t)reps * sizeof(double));
    for (size_t i = 0; i < n; i++)
        len_sum += strlen(q[i].text);
    for (int k = 0; k < reps; k++) {
        int64_t t0 = belt_now_us();
        for (size_t i = 0; i < n; i++) {
            double p[16];
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (belt_router_predict_tagged(r, q[i].text, strlen(q[i].text),
                                           (const char *const *)q[i].tags, q[i].n_tags, p, nt,
                                           &err) != BELT_OK) {
                fprintf(stderr, "query %zu: %s\n", i + 1, err.msg);
                return 1;
            }
            chosen += belt_router_choose(r, p, 0.8);
            clock_gettime(CLOCK_MONOTONIC, &b);
            per[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
        }
        mean_us[k] = (double)(belt_now_us() - t0) / (double)n;
        printf("rep %d: %.2f us per decision\n", k + 1, mean_us[k]);
    }
    qsort(mean_us, (size_t)reps, sizeof(double), cmp_d);
    qsort(per, n, sizeof(int64_t), cmp_i64);
    printf("router %s, %zu tiers%s, %zu queries (mean %.0f bytes), %d reps\n", argv[1], nt,
           belt_router_uses_tags(r) ? " (reads tags)" : "", n, (double)len_sum / (double)n, reps);
    printf("decision: median %.2f us (min %.2f, max %.2f); last rep p50 %.2f us, p99 %.2f us "
           "(checksum %zu)\n",
           mean_us[reps / 2], mean_us[0], mean_us[reps - 1], (double)per[n / 2] / 1000.0,
           (double)per[(size_t)((double)(n - 1) * 0.99)] / 1000.0, chosen);
    for (size_t i = 0; i < n; i++) {
        free(q[i].text);
        for (size_t t = 0; t < q[i].n_tags; t++)
            free(q[i].tags[t]);
    }
    free(q);
    free(per);
    free(mean_us);
    belt_router_free(r);
    belt_global_cleanup();
    return 0;
}
