/*
 * policy.h — the route decision core: given a route of the configuration, the request's
 * metadata and the answers so far, what to do next. Shared by the offline evaluator
 * (route/offline.c, answers from a replay file) and the live executor (answers from the model
 * layer), so both take exactly the same decisions.
 *
 * The core is a step machine over a `struct belt__route_run` (caller-embedded, no allocation,
 * no I/O):
 *
 *     belt__route_run_init(&run, &env, route_index, &request);
 *     for (;;) {
 *         struct belt__route_action act;
 *         belt__route_next(&run, &act);
 *         if (act.kind == BELT__ACT_DONE) break;          // act.outcome, act.answer
 *         ... call model act.model (act.n answers; act.purpose says why) ...
 *         belt__route_feed(&run, answers, act.n);
 *     }
 *
 * It handles every policy (fixed, fallback, balance, cascade, rules, learned), nested routes,
 * accept conditions that need further calls (samples, a peer model, a verifier), budgets
 * (a tier whose estimated cost or latency would break the budget is skipped, and the trace says
 * so), and human tiers — `human: true`, or a model whose provider is `human` — (the task stops
 * as escalated-unresolved with the best answer so far).
 * Every decision is appended to run.steps with its reason — what traces record.
 *
 * Thread rule: a run is used by one thread; the configuration and routers it reads are shared
 * read-only. Answers fed to a run are borrowed until the run is finished.
 */
#ifndef BELT_ROUTE_POLICY_H
#define BELT_ROUTE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "config/config.h"
#include "route/accept.h"

#define BELT__ROUTE_MAX_DEPTH 8  /* nesting of routes within routes */
#define BELT__ROUTE_MAX_STEPS 48 /* trace lines kept per task (more are counted, not kept) */
#define BELT__ROUTE_MAX_SIG   6  /* signals gathered for one tier */
#define BELT__ROUTE_NONE      ((size_t)-1)

/* What the request says about itself. Strings borrowed for the run. */
struct belt__route_request {
    const char *text;        /* the input text (rules' regex and length, learned router) */
    size_t len;              /* its bytes */
    const char *stakes;      /* "high", "low", ... or NULL */
    const char *const *tags; /* tags of the request */
    size_t n_tags;           /* count */
    const char *key_name;    /* name of the API key that sent it, or NULL */
    double max_cost_usd;     /* the request's own budget; 0 = none */
    int64_t max_latency_ms;  /* the request's own latency budget; 0 = none */
    uint64_t seed;           /* drives `balance` choices (e.g. a hash of the task id) */
    const double *router_p;  /* predictions already made for route router_p_route (one per
                                tier), used instead of calling its router; NULL: none */
    size_t router_p_route;   /* the learned route router_p belongs to */
    int escalated;           /* a guard escalated the request: a cascade or learned entry route
                                starts at its strongest model tier (belt__route_strongest_tier) */
};

/* What the caller expects a model call to cost and take (budgets, least-latency balance).
 * NAN cost / negative latency: unknown (never skipped for budget). */
struct belt__model_estimate {
    double cost_usd;    /* expected cost of one call */
    int64_t latency_us; /* expected latency of one call */
};

/* Everything the core reads besides the request. All borrowed, read-only. */
struct belt__route_env {
    const struct belt_config *cfg;            /* models and routes */
    const struct belt__model_estimate *est;   /* per model (cfg->models order), or NULL */
    const struct belt_router *const *routers; /* per route: the learned router or NULL */
    double sweep;                             /* NAN, or a threshold replacing every swept
                                                 accept threshold and every learned target */
    int no_trace;                             /* 1: count steps but do not format them */
};

enum belt__step_event {
    BELT__EV_ACCEPTED = 0,  /* a tier's answer was accepted */
    BELT__EV_ESCALATED = 1, /* a tier's answer was not accepted: next tier */
    BELT__EV_FAILED = 2,    /* a call failed */
    BELT__EV_SKIPPED = 3,   /* a tier was skipped (budget) */
    BELT__EV_RULE = 4,      /* a rule matched (or the default was taken) */
    BELT__EV_ROUTER = 5,    /* the learned router chose a tier */
    BELT__EV_BALANCE = 6,   /* balance chose a model or route */
    BELT__EV_HUMAN = 7,     /* handed to a person: escalated-unresolved */
    BELT__EV_SIGNAL = 8,    /* an accept condition asked for a further call */
    BELT__EV_UNRESOLVED = 9 /* no tier accepted and none is left */
};
extern const char *const belt__step_event_names[];

/* One line of the decision trace. */
struct belt__route_step {
    enum belt__step_event event; /* what happened */
    size_t route;                /* route index */
    int depth;                   /* frame depth of that route (0: the entry route) */
    size_t tier;                 /* tier / position within the route, or BELT__ROUTE_NONE */
    size_t model;                /* model involved, or BELT__ROUTE_NONE */
    double confidence;           /* the answer's confidence, NAN if none */
    double cost_usd;             /* spent by this step */
    char reason[176];            /* why */
};

enum belt__route_outcome {
    BELT__OUT_ANSWERED = 0,   /* an answer was accepted */
    BELT__OUT_UNRESOLVED = 1, /* escalated to a person or past the last tier: best answer kept */
    BELT__OUT_BUDGET = 2,     /* every remaining tier would break the budget */
    BELT__OUT_FAILED = 3      /* every call failed; no answer */
};
extern const char *const belt__route_outcome_names[];

enum belt__action_kind {
    BELT__ACT_CALL = 0, /* call a model, then belt__route_feed() */
    BELT__ACT_DONE = 1  /* finished: see outcome/answer */
};

/* What to do next. */
struct belt__route_action {
    enum belt__action_kind kind;        /* call or done */
    size_t model;                       /* CALL: which model (cfg->models index) */
    int n;                              /* CALL: how many answers (samples) */
    int purpose;                        /* CALL: 0 = answer the task, else enum belt__need_kind */
    const struct belt__answer *subject; /* CALL VERIFY: the answer to judge */
    enum belt__route_outcome outcome;   /* DONE: how it ended */
    const struct belt__answer *answer;  /* DONE: final (or best-so-far) answer, may be NULL */
};

/* A route being run inside a run (private to policy.c; here for the size). */
struct belt__route_frame {
    size_t route;                                 /* route index */
    size_t pos;                                   /* tier or target position */
    size_t n_pos;                                 /* tiers or targets */
    uint8_t order[16];                            /* balance: targets in the order they are tried */
    const struct belt_cfg_target *rule_target;    /* rules: where the matching rule sends */
    size_t rule_start;                            /* rules: first tier in the target route */
    int state;                                    /* where the frame's step machine is (policy.c) */
    const struct belt__answer *ans;               /* the current tier's answer (borrowed) */
    size_t ans_model;                             /* model that gave it */
    struct belt__signal sig[BELT__ROUTE_MAX_SIG]; /* signals gathered for the current tier */
    size_t n_sig;                                 /* count */
    const struct belt__answer *fed;               /* answers of the last call (borrowed) */
    size_t n_fed;                                 /* their count */
    enum belt__route_outcome child_outcome;       /* result of a child route */
    const struct belt__answer *best;              /* the latest successful answer in this frame */
    size_t best_model;                            /* its model */
    int budget_skips;                             /* calls skipped for budget */
};

/* One task going through one route. Caller-embedded; belt__route_run_init() sets it up. */
struct belt__route_run {
    const struct belt__route_env *env;                      /* borrowed */
    struct belt__route_request req;                         /* copy (strings borrowed) */
    struct belt__route_frame frames[BELT__ROUTE_MAX_DEPTH]; /* the stack of active routes */
    size_t depth;                                           /* frames in use */
    struct belt__route_action last;                         /* the action being served */
    double cost_usd;                                        /* spent so far */
    int64_t latency_us;                /* elapsed so far (sequential calls add up) */
    uint64_t models_called;            /* bit i: model i was called (i < 64) */
    size_t n_calls;                    /* model calls made */
    size_t entry_route;                /* the route the run started in */
    size_t final_tier;                 /* tier of the entry route it ended at */
    size_t answer_model;               /* model whose answer was returned, or NONE */
    int done;                          /* 1 once DONE was returned */
    enum belt__route_outcome outcome;  /* when done */
    const struct belt__answer *answer; /* when done */
    struct belt__route_step steps[BELT__ROUTE_MAX_STEPS]; /* the decision trace */
    size_t n_steps;                                       /* steps recorded (≤ MAX_STEPS) */
    size_t n_steps_total;                                 /* steps taken (may exceed MAX_STEPS) */
    char error[160]; /* set when a run cannot continue (a bug) */
};

/* The strongest model tier of a cascade or learned route (its last tier that is not a person),
 * or BELT__ROUTE_NONE when the route has no tiers or none stronger than its first. Where a
 * guard's `escalate` sends a request when the route has one; otherwise it goes to review. */
size_t belt__route_strongest_tier(const struct belt_config *cfg, const struct belt_cfg_route *r);

/* Start `route` (index into env->cfg->routes) for a request. */
void belt__route_run_init(struct belt__route_run *run, const struct belt__route_env *env,
                          size_t route, const struct belt__route_request *req);
/* The next action. After DONE, keeps returning DONE. */
void belt__route_next(struct belt__route_run *run, struct belt__route_action *act);
/* Give the answers of the last CALL (act.n of them, or fewer if some were not made; each
 * may carry a failure status). Borrowed until the run is finished. */
void belt__route_feed(struct belt__route_run *run, const struct belt__answer *answers, size_t n);

/* Load the router of every learned route of cfg (only those with only[i] != 0 when `only` is
 * not NULL): *out is an array of cfg->routes.n pointers (NULL for other routes), released with
 * belt__route_routers_free(). A router whose tier count differs from the route's tiers is
 * BELT_ERR_CONFIG naming the route. */
belt_status belt__route_routers_load(const struct belt_config *cfg, const unsigned char *only,
                                     struct belt_router ***out, struct belt_error *err);
void belt__route_routers_free(struct belt_router **routers, size_t n);

/* The scores a learned route compares with its target, tier by tier (s[0..r->n_tiers)), from
 * the router's predictions p (n = r->n_tiers, at most 16). Without `cost_weight` (w = 0) s = p.
 * With w > 0, each tier but the last is weighted by what escalating from it would cost this task
 * against what it cost on the router's training data (belt_router_tier_cost): odds(s_i) = odds(p_i)
 * · (Δc_i / Δc̄_i)^w,   Δc_i = est[last].cost − est[i].cost, so a task whose escalation is dear
 * stays on a cheaper tier at a lower predicted success, and a cheap one escalates sooner; w = 1
 * ranks tasks by odds of failure per dollar. Tiers without a cost estimate (a route, a person,
 * unknown prices) keep p. */
void belt__route_learned_scores(const struct belt__route_env *env, const struct belt_cfg_route *r,
                                const struct belt_router *router, const double *p, double *s,
                                size_t n);

/* Does rule `rule` match the request? (1/0) Exposed for tests and `belt route explain`. */
int belt__route_rule_matches(const struct belt_cfg_rule *rule,
                             const struct belt__route_request *req);

#endif
