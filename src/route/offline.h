/*
 * offline.h — offline evaluation of a route against recorded outcomes (replay.h): every task is
 * run through the decision core (policy.h) with answers taken from the file, at the configured
 * thresholds and along a threshold sweep. The report (struct belt_route_report, opaque in
 * belt.h) carries the operating point, the single-model baselines, the cost–accuracy curve, its
 * convex hull and the routing metrics:
 *
 *   saving   1 − cost(route at ≥ q·best accuracy) / cost(best single model), over the sweep
 *            points (achievable with one threshold) and over the hull (achievable by mixing two);
 *   APGR     RouteLLM's average performance gap recovered (two model tiers): the area under
 *            accuracy vs share of tasks that reached the strong model, between the weak and the
 *            strong model's areas over the same span (Ong et al. 2024, routellm/evals);
 *   CPT(x)   the smallest share of strong-model calls at which the curve recovers x of the gap;
 *   AIQ      RouterBench's average improvement in quality: the area under the non-decreasing
 *            convex hull of (cost, accuracy) divided by the cost range (Hu et al. 2024, §3.2).
 *
 * The math helpers are exposed for unit tests on hand-computed examples.
 */
#ifndef BELT_ROUTE_OFFLINE_H
#define BELT_ROUTE_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

/* One point of the cost–accuracy plane. */
struct belt__curve_point {
    double threshold;    /* sweep value (NAN: the configured thresholds) */
    double cost;         /* mean cost per task, USD */
    double accuracy;     /* share of tasks answered correctly */
    double strong_share; /* share of tasks that called the strongest tier's model */
};

/* A single model sent every task (a baseline of the report). */
struct belt__single {
    char *name;      /* model name (owned) */
    double accuracy; /* share correct */
    double cost;     /* mean cost per task */
    int in_route;    /* 1: the route can call this model */
};

/* Tasks that ended at one tier (cascade / learned) or were answered by one model. */
struct belt__share_row {
    char *name;  /* tier label or model name (owned) */
    size_t n;    /* tasks */
    size_t n_ok; /* of which answered correctly */
};

/* Aggregates of one evaluation pass. */
struct belt__eval_stats {
    size_t n_correct;   /* tasks whose final answer is correct */
    size_t outcomes[4]; /* per enum belt__route_outcome */
    size_t n_strong;    /* tasks that called the strongest tier's model */
    double cost_total;  /* USD over all tasks */
    size_t n_calls;     /* model calls over all tasks */
};

struct belt_route_report {
    char *route;                           /* route name (owned) */
    char *kind;                            /* policy name (owned) */
    char *replay;                          /* replay file (owned) */
    char *title;                           /* page title (owned) */
    size_t n_tasks;                        /* tasks evaluated */
    struct belt__eval_stats op;            /* the configured operating point */
    double accuracy, cost_per_task;        /* op figures */
    int has_latency;                       /* latencies were recorded */
    double latency_mean_ms;                /* per task, sequential calls added */
    double latency_p50_ms, latency_p95_ms; /* percentiles over tasks */
    struct belt__share_row *shares;        /* per tier / per model (owned) */
    size_t n_shares;                       /* rows */
    int shares_by_tier;                    /* 1: rows are tiers, 0: answering models */
    struct belt__single *singles;          /* baselines (owned) */
    size_t n_singles;                      /* count */
    size_t best;                           /* index of the best single model of the route, or -1 */
    double oracle_accuracy;                /* cheapest correct model of the route per task */
    double oracle_cost;                    /* its mean cost */
    int swept;                             /* the route has a threshold to sweep */
    char *sweep_what;                      /* what the sweep varies (owned) */
    struct belt__curve_point *pts;         /* sweep points (owned) */
    size_t n_pts;                          /* count */
    struct belt__curve_point *hull;        /* their hull (owned) */
    size_t n_hull;                         /* count */
    int two_tier;                          /* APGR / CPT are defined */
    char *weak, *strong;                   /* the two tiers' models (owned) */
    double weak_acc, strong_acc;           /* their accuracies */
    double apgr, cpt50, cpt80;             /* RouteLLM metrics (NAN when undefined) */
    double aiq, aiq_cmin, aiq_cmax;        /* RouterBench AIQ and its cost range */
    double quality;                        /* the q of the quality-level figures */
    double cost_best, cost_best_hull;      /* cost to match the best single model (NAN: never) */
    double cost_q, cost_q_hull;            /* cost to reach q of its accuracy */
    char *traces; /* JSON array: decision traces of the first tasks (owned) */
};

/* The upper-left, non-decreasing convex hull of pts (any order). Writes the hull's vertices by
 * increasing cost into hull (capacity n) and returns their count. */
size_t belt__curve_hull(const struct belt__curve_point *pts, size_t n,
                        struct belt__curve_point *hull);

/* The hull's accuracy at cost c: linear between vertices, flat after the last, 0 before the
 * first. */
double belt__hull_at(const struct belt__curve_point *hull, size_t n, double c);

/* RouterBench's AIQ of a hull over [c_min, c_max] (NAN if c_max <= c_min). */
double belt__curve_aiq(const struct belt__curve_point *hull, size_t n, double c_min, double c_max);

/* RouteLLM's APGR of pts over strong_share 0..1, given the weak and strong models' accuracies.
 * A curve that stops short of share 0 or 1 (an accept condition that always escalates some
 * tasks, say) is joined by a line to (0, weak) or (1, strong) — mixing it at random with the
 * weak-only or strong-only policy reaches every point of that line — so that a policy is not
 * scored over the part of the range it happens to cover. NAN when strong == weak. */
double belt__curve_apgr(const struct belt__curve_point *pts, size_t n, double weak_acc,
                        double strong_acc);

/* CPT: the smallest strong_share at which the piecewise-linear curve (points sorted by share)
 * reaches weak + frac·(strong − weak); NAN if it never does. */
double belt__curve_cpt(const struct belt__curve_point *pts, size_t n, double weak_acc,
                       double strong_acc, double frac);

/* The lowest cost among pts with accuracy ≥ target (NAN if none). */
double belt__curve_cost_at(const struct belt__curve_point *pts, size_t n, double target);

/* The lowest cost at which the hull reaches accuracy target (NAN if it never does). */
double belt__hull_cost_at(const struct belt__curve_point *hull, size_t n, double target);

#endif
