/*
 * bench_arith.c — cost of the `arithmetic` accept check (src/route/arith.c) per answer: for every
 * task of an outcomes file, the check of one model's answer and the task's unused numbers.
 *
 *   bench_arith OUTCOMES.jsonl MODEL [REPS]
 *
 * Prints, per repetition, the mean µs per answer over all tasks, then the median and the spread
 * (min–max) over repetitions, the mean answer length, and how many answers the check flags (a
 * calculation wrong, or a task number unused). Texts are loaded first: only the check is timed.
 */
#include "belt_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"
#include "route/arith.h"
#include "util/clock.h"
#include "util/json.h"

struct item {
    char *task, *answer;
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_arith OUTCOMES.jsonl MODEL [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 7;
    if (reps < 1 || reps > 100)
        reps = 7;
    struct belt_jsonl_reader r;
    struct belt_error err = {0};
    if (belt_jsonl_open(&r, argv[1], &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t n = 0, cap = 1024, bytes = 0;
    struct item *v = malloc(cap * sizeof(*v));
    for (;;) {
        json_t *o = NULL;
        if (belt_jsonl_next(&r, &o, &err) != BELT_OK || !o)
            break;
        const json_t *m = json_object_get(json_object_get(o, "models"), argv[2]);
        const char *q = belt_json_str(o, "query"), *a = belt_json_str(m, "answer");
        if (q && a) {
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof(*v));
            v[n].task = strdup(q);
            v[n].answer = strdup(a);
            bytes += strlen(a);
            n++;
        }
        json_decref(o);
    }
    belt_jsonl_close(&r);
    if (!n) {
        fprintf(stderr, "no task has an answer of model '%s'\n", argv[2]);
        return 1;
    }
    double per[100];
    size_t flagged = 0;
    for (int rep = 0; rep < reps; rep++) {
        flagged = 0;
        int64_t t0 = belt_now_us();
        for (size_t i = 0; i < n; i++) {
            struct belt__arith ar;
            char first[40];
            size_t al = strlen(v[i].answer);
            belt__arith_check(v[i].answer, al, &ar);
            int unused = belt__arith_unused(v[i].task, strlen(v[i].task), v[i].answer, al, &ar,
                                            first, sizeof(first));
            flagged += ar.wrong > 0 || unused > 0;
        }
        per[rep] = (double)(belt_now_us() - t0) / (double)n;
        printf("rep %d: %.3f us per answer\n", rep + 1, per[rep]);
    }
    double sorted[100];
    memcpy(sorted, per, (size_t)reps * sizeof(double));
    qsort(sorted, (size_t)reps, sizeof(double), cmp_d);
    printf("check: median %.3f us per answer (min %.3f, max %.3f) over %zu answers of %zu bytes "
           "on average; flagged %zu\n",
           sorted[reps / 2], sorted[0], sorted[reps - 1], n, bytes / n, flagged);
    for (size_t i = 0; i < n; i++) {
        free(v[i].task);
        free(v[i].answer);
    }
    free(v);
    return 0;
}
