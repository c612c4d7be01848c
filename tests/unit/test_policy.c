/* Unit tests for src/route/policy.c, the route decision core: every policy, escalation with
 * reasons, human tiers, budgets, rules, nesting, signal calls and the learned router's choice.
 * Model calls are answered from a table of fake answers. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "config/config.h"
#include "learn/router.h"
#include "route/policy.h"

static const char yaml[] =
    "models:\n"
    "  a: { provider: replay }\n  b: { provider: replay }\n  c: { provider: replay }\n"
    "  judge: { provider: replay }\n"
    "routes:\n"
    "  one: { fixed: a }\n"
    "  safe: { fallback: [a, b, c] }\n"
    "  spread: { balance: { models: [a, b], weights: [1000, 1] } }\n"
    "  quick: { balance: { models: [a, b, c], strategy: least_latency } }\n"
    "  tiers:\n"
    "    cascade:\n"
    "      - { model: a, accept: { confidence: 0.8 } }\n"
    "      - { model: b, accept: { confidence: 0.8 } }\n"
    "      - { human: true }\n"
    "  pricey:\n"
    "    cascade: [ { model: a, accept: { confidence: 0.8 } }, c ]\n"
    "    budget: { max_cost_usd: 0.01 }\n"
    "  nested: { cascade: [ { route: safe, accept: { confidence: 0.5 } }, c ] }\n"
    "  checked:\n"
    "    cascade:\n"
    "      - model: a\n"
    "        accept: { all: [ { agree: { samples: 3, min: 2 } }, { verifier: { model: judge, "
    "score: 0.6 } } ] }\n"
    "      - b\n"
    "  front:\n"
    "    rules:\n"
    "      - { when: { stakes: high }, human: true }\n"
    "      - { when: { tags: [vip] }, route: tiers, min_tier: 2 }\n"
    "      - { when: { key: 'partner-*', max_input_chars: 10 }, model: c }\n"
    "    default: tiers\n"
    "  smart: { learned: { router: r.belt, target: 0.8, tiers: [a, b, c] } }\n"
    "  thrifty: { learned: { router: r.belt, target: 0.8, cost_weight: 1, tiers: [a, c] } }\n";

/* The answer each model gives. */
struct fake {
    struct belt__answer ans[5];     /* by model index (a, b, c, judge) */
    struct belt__answer samples[4]; /* extra samples of any model */
    char log[256];                  /* "a b(2) judge(v) ..." */
};

static struct belt_config *load(void)
{
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "p.yaml", ".", &cfg, &err), &err);
    return cfg;
}

static size_t route_index(const struct belt_config *cfg, const char *name)
{
    size_t i = 0;
    if (!belt__cfg_routes_find(&cfg->routes, name, &i))
        fail_msg("no route %s", name);
    return i;
}

static struct belt__answer ans(const char *text, double conf, double cost)
{
    struct belt__answer a = belt__answer_empty();
    a.text = text;
    a.len = strlen(text);
    a.confidence = conf;
    a.cost_usd = cost;
    a.latency_us = 1000;
    return a;
}

static void init_fake(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->ans[0] = ans("from a", 0.9, 0.001);
    f->ans[1] = ans("from b", 0.9, 0.002);
    f->ans[2] = ans("from c", 0.9, 0.02);
    f->ans[3] = belt__answer_empty();
    f->ans[3].score = 0.9;
    for (int i = 0; i < 4; i++)
        f->samples[i] = ans("from a", NAN, 0.001);
}

/* Run route `name` to the end, answering from f; returns the outcome. */
static enum belt__route_outcome drive(const struct belt_config *cfg, const char *name,
                                      const struct belt__route_env *env,
                                      const struct belt__route_request *req, struct fake *f,
                                      struct belt__route_run *run)
{
    belt__route_run_init(run, env, route_index(cfg, name), req);
    for (int guard = 0; guard < 50; guard++) {
        struct belt__route_action act;
        belt__route_next(run, &act);
        if (act.kind == BELT__ACT_DONE) {
            assert_string_equal(run->error, "");
            return act.outcome;
        }
        size_t used = strlen(f->log);
        const char *mn = cfg->models.v[act.model].name;
        if (act.purpose == BELT__NEED_SAMPLES) {
            snprintf(f->log + used, sizeof(f->log) - used, "%s(%d) ", mn, act.n);
            belt__route_feed(run, f->samples, (size_t)act.n);
        } else if (act.purpose == BELT__NEED_VERIFY) {
            assert_non_null(act.subject);
            snprintf(f->log + used, sizeof(f->log) - used, "%s(v) ", mn);
            belt__route_feed(run, &f->ans[act.model], 1);
        } else {
            snprintf(f->log + used, sizeof(f->log) - used, "%s ", mn);
            belt__route_feed(run, &f->ans[act.model], 1);
        }
    }
    fail_msg("the route did not finish");
    return BELT__OUT_FAILED;
}

/* The reasons of all steps, joined. */
static const char *reasons(const struct belt__route_run *run, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < run->n_steps; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "[%s] %s | ", belt__step_event_names[run->steps[i].event],
                 run->steps[i].reason);
    }
    return buf;
}

#define SETUP()                                                                                    \
    struct belt_config *cfg = load();                                                              \
    struct belt__route_env env = {cfg, NULL, NULL, NAN, 0};                                        \
    struct belt__route_request req;                                                                \
    memset(&req, 0, sizeof(req));                                                                  \
    req.text = "hello";                                                                            \
    req.len = 5;                                                                                   \
    struct fake f;                                                                                 \
    init_fake(&f);                                                                                 \
    struct belt__route_run *run = belt_malloc(sizeof(*run));                                       \
    char why[4096];                                                                                \
    (void)why;                                                                                     \
    (void)env

#define TEARDOWN()                                                                                 \
    belt_free(run);                                                                                \
    belt_config_free(cfg)

static void policy_fixed_calls_its_model(void **state)
{
    (void)state;
    SETUP();
    assert_int_equal(drive(cfg, "one", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a ");
    assert_string_equal(run->answer->text, "from a");
    assert_int_equal(run->answer_model, 0);
    assert_true(fabs(run->cost_usd - 0.001) < 1e-12);
    TEARDOWN();
}

static void policy_fallback_moves_on_after_errors(void **state)
{
    (void)state;
    SETUP();
    f.ans[0].status = BELT_ERR_TIMEOUT;
    f.ans[0].error = "timed out after 30 s";
    assert_int_equal(drive(cfg, "safe", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a b ");
    assert_string_equal(run->answer->text, "from b");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "[failed] a: timed out after 30 s");
    TEARDOWN();
}

static void policy_every_failure_is_failed(void **state)
{
    (void)state;
    SETUP();
    for (int i = 0; i < 3; i++)
        f.ans[i].status = BELT_ERR_UPSTREAM;
    assert_int_equal(drive(cfg, "safe", &env, &req, &f, run), BELT__OUT_FAILED);
    assert_null(run->answer);
    assert_string_equal(f.log, "a b c ");
    TEARDOWN();
}

static void policy_balance_follows_weights_and_latency(void **state)
{
    (void)state;
    SETUP();
    size_t to_a = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        req.seed = seed * 0x9E3779B97F4A7C15ULL;
        f.log[0] = '\0';
        assert_int_equal(drive(cfg, "spread", &env, &req, &f, run), BELT__OUT_ANSWERED);
        to_a += run->answer_model == 0;
    }
    assert_true(to_a >= 195); /* weights 1000:1 */
    struct belt__model_estimate est[4] = {{NAN, 900}, {NAN, 300}, {NAN, 500}, {NAN, -1}};
    env.est = est;
    f.log[0] = '\0';
    assert_int_equal(drive(cfg, "quick", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "b ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "least latency chose b");
    TEARDOWN();
}

static void policy_cascade_accepts_at_first_confident_tier(void **state)
{
    (void)state;
    SETUP();
    assert_int_equal(drive(cfg, "tiers", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a ");
    assert_int_equal(run->final_tier, 0);
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "[accepted] confidence 0.9 >= 0.8");
    TEARDOWN();
}

static void policy_cascade_escalates_with_reason_and_cost(void **state)
{
    (void)state;
    SETUP();
    f.ans[0].confidence = 0.4;
    assert_int_equal(drive(cfg, "tiers", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a b ");
    assert_int_equal(run->final_tier, 1);
    assert_string_equal(run->answer->text, "from b");
    assert_true(fabs(run->cost_usd - 0.003) < 1e-12);
    assert_int_equal(run->latency_us, 2000);
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "[escalated] confidence 0.4 < 0.8");
    TEARDOWN();
}

static void policy_human_tier_returns_unresolved_with_best_answer(void **state)
{
    (void)state;
    SETUP();
    f.ans[0].confidence = 0.4;
    f.ans[1].confidence = 0.5;
    assert_int_equal(drive(cfg, "tiers", &env, &req, &f, run), BELT__OUT_UNRESOLVED);
    assert_string_equal(run->answer->text, "from b");
    assert_int_equal(run->final_tier, 2);
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "[human] escalated to a person");
    TEARDOWN();
}

static void policy_budget_skips_tiers_that_would_break_it(void **state)
{
    (void)state;
    SETUP();
    struct belt__model_estimate est[4] = {{0.001, 1000}, {0.002, 1000}, {0.05, 1000}, {0, -1}};
    env.est = est;
    f.ans[0].confidence = 0.3;
    assert_int_equal(drive(cfg, "pricey", &env, &req, &f, run), BELT__OUT_BUDGET);
    assert_string_equal(f.log, "a ");
    assert_string_equal(run->answer->text, "from a"); /* best so far, marked by the outcome */
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)),
                         "[skipped] budget: c would cost ~$0.05, $0.009 of $0.01 left");
    /* a request budget tighter than the route's applies too */
    f.log[0] = '\0';
    req.max_cost_usd = 0.0005;
    assert_int_equal(drive(cfg, "pricey", &env, &req, &f, run), BELT__OUT_BUDGET);
    assert_string_equal(f.log, "");
    assert_null(run->answer);
    TEARDOWN();
}

static void policy_latency_budget_skips_slow_tiers(void **state)
{
    (void)state;
    SETUP();
    struct belt__model_estimate est[4] = {{NAN, 200000}, {NAN, 900000}, {NAN, 100}, {NAN, -1}};
    env.est = est;
    req.max_latency_ms = 500;
    f.ans[0].confidence = 0.3;
    f.ans[0].latency_us = 200000;
    /* b is skipped; the person at the last tier costs no model budget */
    assert_int_equal(drive(cfg, "tiers", &env, &req, &f, run), BELT__OUT_UNRESOLVED);
    assert_string_equal(f.log, "a ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "budget: b would take ~900 ms");
    BELT_ASSERT_CONTAINS(why, "[human]");
    TEARDOWN();
}

static void policy_rules_send_high_stakes_to_a_person(void **state)
{
    (void)state;
    SETUP();
    req.stakes = "high";
    assert_int_equal(drive(cfg, "front", &env, &req, &f, run), BELT__OUT_UNRESOLVED);
    assert_string_equal(f.log, "");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "rule 1 matched: a person");
    TEARDOWN();
}

static void policy_rules_min_tier_starts_higher(void **state)
{
    (void)state;
    SETUP();
    const char *tags[] = {"vip"};
    req.tags = tags;
    req.n_tags = 1;
    assert_int_equal(drive(cfg, "front", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "b ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "rule 2 matched: tiers, from tier 2");
    /* no rule: the default route from its first tier */
    f.log[0] = '\0';
    req.n_tags = 0;
    assert_int_equal(drive(cfg, "front", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "no rule matched: default tiers");
    TEARDOWN();
}

static void policy_rule_conditions_all_must_hold(void **state)
{
    (void)state;
    SETUP();
    const struct belt_cfg_rule *rule = &cfg->routes.v[route_index(cfg, "front")].rules[2];
    req.key_name = "partner-acme";
    req.text = "héllo";
    req.len = strlen(req.text); /* 5 code points, 6 bytes */
    assert_true(belt__route_rule_matches(rule, &req));
    req.key_name = "internal";
    assert_false(belt__route_rule_matches(rule, &req));
    req.key_name = "partner-acme";
    req.text = "a much longer input";
    req.len = strlen(req.text);
    assert_false(belt__route_rule_matches(rule, &req));
    TEARDOWN();
}

static void policy_nested_route_answers_a_tier(void **state)
{
    (void)state;
    SETUP();
    f.ans[0].status = BELT_ERR_UPSTREAM; /* the fallback group moves on to b */
    assert_int_equal(drive(cfg, "nested", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a b ");
    assert_string_equal(run->answer->text, "from b");
    assert_int_equal(run->final_tier, 0);
    TEARDOWN();
}

static void policy_signals_become_calls(void **state)
{
    (void)state;
    SETUP();
    assert_int_equal(drive(cfg, "checked", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a a(2) judge(v) ");
    assert_true(fabs(run->cost_usd - 0.003) < 1e-12); /* a + 2 samples; the judge is free */
    f.log[0] = '\0';
    f.ans[3].score = 0.1; /* the verifier rejects: escalate to b */
    assert_int_equal(drive(cfg, "checked", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a a(2) judge(v) b ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "verifier judge score 0.1 < 0.6");
    TEARDOWN();
}

static void policy_learned_picks_cheapest_tier_reaching_target(void **state)
{
    (void)state;
    SETUP();
    size_t ri = route_index(cfg, "smart");
    double p[3] = {0.55, 0.85, 0.97};
    req.router_p = p;
    req.router_p_route = ri;
    assert_int_equal(drive(cfg, "smart", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "b ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "target 0.800: tier 2");
    f.log[0] = '\0';
    env.sweep = 0.5; /* the sweep replaces the target */
    assert_int_equal(drive(cfg, "smart", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a ");
    f.log[0] = '\0';
    env.sweep = 0.99; /* nothing reaches it: the last tier */
    assert_int_equal(drive(cfg, "smart", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "c ");
    TEARDOWN();
}

static void policy_learned_without_router_starts_at_first_tier(void **state)
{
    (void)state;
    SETUP();
    assert_int_equal(drive(cfg, "smart", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "router unavailable");
    TEARDOWN();
}

/* cost_weight: the same prediction keeps a task whose escalation is dear on the cheap tier and
 * escalates one whose escalation is cheap; without estimates or weight, p decides alone. */
static void policy_learned_cost_weight_weighs_what_escalating_costs(void **state)
{
    (void)state;
    SETUP();
    size_t ri = route_index(cfg, "thrifty");
    struct belt_router *router = belt__router_alloc(2, 4); /* only its tier costs are read */
    assert_non_null(router);
    router->cost[0] = 0.001;
    router->cost[1] = 0.021; /* escalating costs $0.02 on the training data */
    const struct belt_router *routers[16] = {0};
    routers[ri] = router;
    env.routers = routers;
    struct belt__model_estimate est[4] = {{0.001, 1000}, {0.002, 1000}, {0.081, 1000}, {0, 0}};
    env.est = est;
    double p[2] = {0.6, 0.99};
    req.router_p = p;
    req.router_p_route = ri;
    /* 4× the usual price: odds 1.5 × 4 = 6, s = 0.857 ≥ 0.8 — stay on a */
    assert_int_equal(drive(cfg, "thrifty", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "a ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)),
                         "p(correct) = [0.600 0.990], cost-weighted [0.857 0.990], target 0.800: "
                         "tier 1");
    double s[2];
    belt__route_learned_scores(&env, &cfg->routes.v[ri], router, p, s, 2);
    assert_true(fabs(s[0] - 6.0 / 7.0) < 1e-12);
    assert_true(s[1] == p[1]); /* the last tier is never weighted */
    /* a quarter of the usual price: odds 1.5 / 4, s = 0.273 — escalate to c */
    est[2].cost_usd = 0.006;
    f.log[0] = '\0';
    assert_int_equal(drive(cfg, "thrifty", &env, &req, &f, run), BELT__OUT_ANSWERED);
    assert_string_equal(f.log, "c ");
    BELT_ASSERT_CONTAINS(reasons(run, why, sizeof(why)), "cost-weighted [0.273 0.990]");
    /* the usual price: s = p */
    est[2].cost_usd = 0.021;
    belt__route_learned_scores(&env, &cfg->routes.v[ri], router, p, s, 2);
    assert_true(fabs(s[0] - 0.6) < 1e-12);
    /* no estimates (the price unknown): p alone, c */
    est[2].cost_usd = NAN;
    belt__route_learned_scores(&env, &cfg->routes.v[ri], router, p, s, 2);
    assert_true(s[0] == 0.6);
    /* a route without cost_weight ignores the price */
    est[2].cost_usd = 0.081;
    size_t plain = route_index(cfg, "smart");
    double p3[3] = {0.6, 0.6, 0.99}, s3[3];
    belt__route_learned_scores(&env, &cfg->routes.v[plain], router, p3, s3, 3);
    assert_true(s3[0] == 0.6 && s3[1] == 0.6);
    belt_router_free(router);
    TEARDOWN();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(policy_fixed_calls_its_model),
    cmocka_unit_test(policy_fallback_moves_on_after_errors),
    cmocka_unit_test(policy_every_failure_is_failed),
    cmocka_unit_test(policy_balance_follows_weights_and_latency),
    cmocka_unit_test(policy_cascade_accepts_at_first_confident_tier),
    cmocka_unit_test(policy_cascade_escalates_with_reason_and_cost),
    cmocka_unit_test(policy_human_tier_returns_unresolved_with_best_answer),
    cmocka_unit_test(policy_budget_skips_tiers_that_would_break_it),
    cmocka_unit_test(policy_latency_budget_skips_slow_tiers),
    cmocka_unit_test(policy_rules_send_high_stakes_to_a_person),
    cmocka_unit_test(policy_rules_min_tier_starts_higher),
    cmocka_unit_test(policy_rule_conditions_all_must_hold),
    cmocka_unit_test(policy_nested_route_answers_a_tier),
    cmocka_unit_test(policy_signals_become_calls),
    cmocka_unit_test(policy_learned_picks_cheapest_tier_reaching_target),
    cmocka_unit_test(policy_learned_without_router_starts_at_first_tier),
    cmocka_unit_test(policy_learned_cost_weight_weighs_what_escalating_costs),
};

BELT_TEST_MAIN(tests)
