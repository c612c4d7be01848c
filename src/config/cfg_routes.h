/*
 * cfg_routes.h — the `routes:` section: named policies that pick the model(s) for a task
 * (docs/config-routes.md). A route is one of
 *   fixed     one model or route;
 *   fallback  an ordered list, the next one on errors;
 *   balance   a weighted or least-latency choice among several;
 *   cascade   ordered tiers, each `{ model | route | human: true, accept: {...} }`, escalating
 *             until a tier's answer is accepted;
 *   rules     request metadata (stakes, tags, API key, input length, regex) → a route, a model,
 *             a person, or the minimum tier of a cascade;
 *   learned   a router model picks the cheapest tier whose predicted success ≥ target (with
 *             `cost_weight`, success weighted by what escalating would cost the task), then
 *             escalates like a cascade;
 * plus an optional budget (max cost, max latency). Routes compose: wherever a model name is
 * expected, a route name may stand. Cross-checks run after every section is read: each
 * referenced model/route exists, no route reaches itself, rule tiers exist.
 *
 * The structs are read-only after load and shared by the offline evaluator and the executor.
 */
#ifndef BELT_CFG_ROUTES_H
#define BELT_CFG_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "config/reader.h"
#include "route/accept.h"

struct belt_cfg_models;

/* Append-only; the names are the config keys. */
enum belt_route_kind {
    BELT_ROUTE_FIXED = 0,
    BELT_ROUTE_FALLBACK = 1,
    BELT_ROUTE_BALANCE = 2,
    BELT_ROUTE_CASCADE = 3,
    BELT_ROUTE_RULES = 4,
    BELT_ROUTE_LEARNED = 5
};
/* Names indexed by enum belt_route_kind, NULL-terminated. */
extern const char *const belt__route_kind_names[];

enum belt_target_kind {
    BELT_TARGET_NONE = 0,  /* not set */
    BELT_TARGET_MODEL = 1, /* a model of the models: section */
    BELT_TARGET_ROUTE = 2, /* another route */
    BELT_TARGET_HUMAN = 3  /* a person (the review queue) */
};

/* Where a task can be sent: a model, a route or a person. */
struct belt_cfg_target {
    enum belt_target_kind kind; /* what `name` names */
    char *name;                 /* model or route name (owned); NULL for a person */
    size_t index;               /* resolved index into models or routes */
    struct belt_cfg_mark mark;  /* where it was written */
};

/* One tier of a cascade (or of a learned route). */
struct belt_cfg_tier {
    struct belt_cfg_target target; /* who answers at this tier */
    struct belt__accept *accept;   /* when its answer is kept; NULL = any successful answer */
};

enum belt_balance_strategy {
    BELT_BALANCE_WEIGHTED = 0,     /* pick at random in proportion to weights */
    BELT_BALANCE_LEAST_LATENCY = 1 /* the one with the lowest recent latency */
};

/* One rule of a `rules` route: if every given condition holds, take the action. */
struct belt_cfg_rule {
    struct belt_cfg_strlist stakes; /* when.stakes: the request's stakes is one of these */
    struct belt_cfg_strlist tags;   /* when.tags: the request has at least one of these */
    struct belt_cfg_strlist keys;   /* when.key: API key name matches one (fnmatch patterns) */
    int64_t min_input_chars;        /* when.min_input_chars: input ≥ this many code points */
    int64_t max_input_chars;        /* when.max_input_chars: ≤ this many; -1 = unset */
    char *regex;                    /* when.regex: the input matches (owned) */
    pcre2_code *re;                 /* compiled regex (owned) */
    struct belt_rx_pool *rx_pool;   /* its match data (owned) */
    struct belt_cfg_target target;  /* route/model/human; NONE = the rules' default route */
    char *min_tier_name;            /* min_tier given as a tier name (owned), else NULL */
    int64_t min_tier;               /* min_tier as written, 1-based; 0 = none */
    size_t start_tier;              /* resolved 0-based first tier of the target cascade */
    struct belt_cfg_mark mark;      /* position of the rule */
};

/* A route's own guard settings (`guard:`), overriding the `guard:` section for requests sent to
 * the route. Actions are enum belt_guard_action values; -1 (or set 0) keeps the section's. */
struct belt_cfg_route_guard {
    int set;         /* 1: the route has a guard: key */
    int user;        /* injection in user text: block, flag, escalate, none */
    int third_party; /* injection in third-party text (tool results): same */
    int pii;         /* PII bound for untrusted models: redact, block, flag, none */
    int canary;      /* canary token in the system prompt, leaked in the answer: block, flag,
                        none (the default: no canary) */
};

struct belt_cfg_route {
    char *name;                /* the key under routes: (owned) */
    enum belt_route_kind kind; /* the policy */
    int kind_set;              /* 1 once a policy key was read */
    struct belt_cfg_mark mark; /* position of the name */
    char *description;         /* free text (owned) or NULL */
    /* fixed (1), fallback (n), balance (n) */
    struct belt_cfg_target *targets; /* owned array */
    size_t n_targets;                /* count */
    double *weights;                 /* balance: one per target (owned; all 1 when not given) */
    size_t n_weights;                /* balance: count of weights */
    int strategy;                    /* balance: enum belt_balance_strategy */
    /* cascade and learned */
    struct belt_cfg_tier *tiers; /* owned array */
    size_t n_tiers;              /* count */
    /* rules */
    struct belt_cfg_rule *rules; /* owned array */
    size_t n_rules;              /* count */
    struct belt_cfg_target dflt; /* `default:` route or model (required) */
    /* learned */
    char *router_path;  /* router model file (resolved; owned) */
    double target;      /* predicted success a tier must reach */
    double cost_weight; /* weight of what escalating would cost this task (0: ignored) */
    /* budget */
    double max_cost_usd;               /* per task; 0 = no limit */
    int64_t max_latency_ms;            /* per task; 0 = no limit */
    struct belt_cfg_route_guard guard; /* guard overrides (the gateway's) */
};

struct belt_cfg_routes {
    struct belt_cfg_route *v; /* owned array */
    size_t n;                 /* count */
};

belt_status belt__cfg_routes_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_routes *out);
/* Resolve every name against `models` and the routes, check tiers and cycles. */
belt_status belt__cfg_routes_check(struct belt_cfg_reader *rd, struct belt_cfg_routes *routes,
                                   const struct belt_cfg_models *models);
void belt__cfg_routes_free(struct belt_cfg_routes *r);
/* The route called `name`, or NULL; *index_out (may be NULL) receives its index. */
const struct belt_cfg_route *belt__cfg_routes_find(const struct belt_cfg_routes *r,
                                                   const char *name, size_t *index_out);

#endif
