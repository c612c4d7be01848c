/* Unit tests for the `routes:` config section (src/config/cfg_routes*.c): every policy is read
 * into its struct, names resolve to models and routes, and mistakes are errors that name
 * file:line:col and the key. */
#include "testutil.h"

#include <string.h>

#include "config/config.h"
#include "util/alloc.h"

#define MODELS                                                                                     \
    "models:\n"                                                                                    \
    "  small: { provider: replay, price: { input: 0.1, output: 0.2 } }\n"                          \
    "  large: { provider: replay, price: { input: 5, output: 15 } }\n"                             \
    "  judge: { provider: replay }\n"                                                              \
    "  intent: { provider: local, path: intent.belt }\n"

static belt_status parse(const char *yaml, struct belt_config **cfg, struct belt_error *err)
{
    return belt_config_parse(yaml, strlen(yaml), "r.yaml", "/cfg", cfg, err);
}

static const struct belt_cfg_route *route(const struct belt_config *cfg, const char *name)
{
    const struct belt_cfg_route *r = belt__cfg_routes_find(&cfg->routes, name, NULL);
    if (!r)
        fail_msg("no route %s", name);
    return r;
}

static void routes_config_reads_every_policy(void **state)
{
    (void)state;
    const char *y =
        MODELS "routes:\n"
               "  one: { fixed: small }\n"
               "  safe: { fallback: [small, large], budget: { max_cost_usd: 0.01, "
               "max_latency: 2s } }\n"
               "  spread: { balance: { models: [small, large], weights: [3, 1] } }\n"
               "  fast: { balance: { models: [small, safe], strategy: least_latency } }\n"
               "  triage:\n"
               "    cascade:\n"
               "      - { model: intent, accept: { confidence: 0.9 } }\n"
               "      - { route: safe, accept: { any: [ { logprobs: { mean: -0.3 } },"
               " { verifier: { model: judge, score: 0.7 } } ] } }\n"
               "      - large\n"
               "      - { human: true }\n"
               "  smart: { learned: { router: r.belt, target: 0.75, tiers: [small, "
               "large] } }\n"
               "  front:\n"
               "    rules:\n"
               "      - { when: { stakes: high }, human: true }\n"
               "      - { when: { tags: [legal, tax], key: 'partner-*' }, route: "
               "triage, min_tier: large }\n"
               "      - { when: { max_input_chars: 40, regex: '^hi' }, model: small }\n"
               "    default: triage\n";
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(parse(y, &cfg, &err), &err);
    assert_int_equal(cfg->routes.n, 7);
    const struct belt_cfg_route *r = route(cfg, "one");
    assert_int_equal(r->kind, BELT_ROUTE_FIXED);
    assert_int_equal(r->targets[0].kind, BELT_TARGET_MODEL);
    r = route(cfg, "safe");
    assert_int_equal(r->kind, BELT_ROUTE_FALLBACK);
    assert_int_equal(r->n_targets, 2);
    assert_true(r->max_cost_usd == 0.01);
    assert_int_equal(r->max_latency_ms, 2000);
    r = route(cfg, "spread");
    assert_true(r->weights[0] == 3 && r->weights[1] == 1);
    r = route(cfg, "fast");
    assert_int_equal(r->strategy, BELT_BALANCE_LEAST_LATENCY);
    assert_int_equal(r->targets[1].kind, BELT_TARGET_ROUTE);
    assert_true(r->weights[0] == 1 && r->weights[1] == 1);
    r = route(cfg, "triage");
    assert_int_equal(r->n_tiers, 4);
    assert_int_equal(r->tiers[0].accept->kind, BELT__ACCEPT_CONFIDENCE);
    assert_true(r->tiers[0].accept->threshold == 0.9);
    assert_int_equal(r->tiers[1].target.kind, BELT_TARGET_ROUTE);
    assert_int_equal(r->tiers[1].accept->kind, BELT__ACCEPT_ANY);
    assert_int_equal(r->tiers[1].accept->kids[1].kind, BELT__ACCEPT_VERIFIER);
    assert_int_equal(r->tiers[1].accept->kids[1].model, 2); /* judge */
    assert_int_equal(r->tiers[2].target.kind, BELT_TARGET_MODEL);
    assert_null(r->tiers[2].accept);
    assert_int_equal(r->tiers[3].target.kind, BELT_TARGET_HUMAN);
    r = route(cfg, "smart");
    assert_int_equal(r->kind, BELT_ROUTE_LEARNED);
    assert_string_equal(r->router_path, "/cfg/r.belt");
    assert_true(r->target == 0.75);
    r = route(cfg, "front");
    assert_int_equal(r->n_rules, 3);
    assert_int_equal(r->rules[0].target.kind, BELT_TARGET_HUMAN);
    assert_int_equal(r->rules[1].start_tier, 2); /* "large" is tier 3 of triage */
    assert_int_equal(r->rules[2].max_input_chars, 40);
    assert_non_null(r->rules[2].re);
    assert_int_equal(r->dflt.kind, BELT_TARGET_ROUTE);
    belt_config_free(cfg);
}

static void routes_config_reads_accept_signals(void **state)
{
    (void)state;
    const char *y = MODELS "routes:\n"
                           "  c:\n"
                           "    cascade:\n"
                           "      - model: small\n"
                           "        accept:\n"
                           "          logprobs: { over: min, a: 2.5, b: 1, p: 0.8 }\n"
                           "          agree: { samples: 3, min: 2, normalize: [case, number] }\n"
                           "          labels: [refund, cancel]\n"
                           "          regex: '^[a-z]+$'\n"
                           "          schema: { type: object, required: [a] }\n"
                           "          arithmetic: { final: '#### (\\d+)', max_unused: 1 }\n"
                           "      - { model: large, accept: { agree: { model: small } } }\n"
                           "      - { model: intent, accept: { labels: from_model } }\n";
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(parse(y, &cfg, &err), &err);
    const struct belt__accept *a = route(cfg, "c")->tiers[0].accept;
    assert_int_equal(a->kind, BELT__ACCEPT_ALL);
    assert_int_equal(a->n_kids, 6);
    assert_int_equal(a->kids[0].kind, BELT__ACCEPT_LOGPROBS);
    assert_true(a->kids[0].lp_calibrated && a->kids[0].lp_min && a->kids[0].swept);
    assert_true(a->kids[0].lp_a == 2.5 && a->kids[0].threshold == 0.8);
    assert_int_equal(a->kids[1].kind, BELT__ACCEPT_SAMPLES);
    assert_int_equal(a->kids[1].n_samples, 3);
    assert_int_equal(a->kids[1].min_agree, 2);
    assert_int_equal(a->kids[1].normalize, BELT__NORM_CASE | BELT__NORM_NUMBER);
    assert_int_equal(a->kids[2].n_labels, 2);
    assert_non_null(a->kids[3].re);
    assert_non_null(a->kids[4].compiled);
    assert_int_equal(a->kids[5].kind, BELT__ACCEPT_ARITHMETIC);
    assert_non_null(a->kids[5].re);
    assert_int_equal(a->kids[5].max_unused, 1);
    a = route(cfg, "c")->tiers[1].accept;
    assert_int_equal(a->kind, BELT__ACCEPT_PEER);
    assert_int_equal(a->model, 0);
    assert_true(route(cfg, "c")->tiers[2].accept->from_model);
    belt_config_free(cfg);
}

/* Each case: YAML after the models, and a fragment the error must contain. */
static const char *const bad[][2] = {
    {"routes:\n  r: { fixed: nope }\n", "r.yaml:7:15: routes.r: unknown model or route 'nope'"},
    {"routes:\n  r: { cascade: [ { model: nope } ] }\n", "r.yaml:7:28: routes.r.cascade[0]: "
                                                         "unknown model 'nope'"},
    {"routes:\n  a: { fixed: b }\n  b: { fallback: [small, a] }\n", "route cycle: a -> b -> a"},
    {"routes:\n  r: { fixed: small, cascade: [large] }\n", "exactly one policy"},
    {"routes:\n  r: { budget: { max_cost_usd: 1 } }\n", "missing a policy"},
    {"routes:\n  r: { cascade: [ { human: true }, small ] }\n", "a human tier must be the last"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { confidence: 1.5 } } ] }\n",
     "routes.r.cascade[0].accept.confidence: 1.5 is out of range [0, 1]"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { confidense: 0.5 } } ] }\n",
     "unknown accept condition"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { regex: '(' } } ] }\n",
     "invalid regular expression"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { arithmetic: false } } ] }\n",
     "routes.r.cascade[0].accept.arithmetic: expected true or { final: REGEX, max_unused: N }"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { arithmetic: { final: '(a)(b)' } } } ] "
     "}\n",
     "routes.r.cascade[0].accept.arithmetic.final: the pattern has 2 capture groups"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { arithmetic: { final: '(' } } } ] }\n",
     "routes.r.cascade[0].accept.arithmetic.final: invalid regular expression"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { arithmetic: { max_unused: -1 } } } ] "
     "}\n",
     "routes.r.cascade[0].accept.arithmetic.max_unused"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { schema: { type: 12 } } } ] }\n",
     "invalid JSON schema"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { logprobs: { p: 0.5 } } } ] }\n",
     "needs 'a' (non-zero) and 'b'"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { agree: { samples: 2, min: 3 } } } ] }\n",
     "'min' (3) cannot exceed 'samples' (2)"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { agree: { samples: 3, model: large } } "
     "} ] }\n",
     "give either 'samples'"},
    {"routes:\n  s: { fixed: small }\n  r: { cascade: [ { route: s, accept: { agree: { samples: 3 "
     "} } } ] }\n",
     "agree.samples needs a model tier"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { labels: from_model } } ] }\n",
     "labels: from_model needs a local"},
    {"routes:\n  r: { cascade: [ { model: small, accept: { verifier: { model: nobody, score: 0.5 "
     "} } } ] }\n",
     "unknown model 'nobody'"},
    {"routes:\n  r: { balance: { models: [small, large], weights: [1] } }\n",
     "balance has 2 models but 1 weights"},
    {"routes:\n  r: { rules: [ { when: { stakes: high }, human: true } ] }\n",
     "a rules route needs 'default'"},
    {"routes:\n  r: { rules: [ { when: { stakes: high } } ], default: small }\n",
     "a rule needs an action"},
    {"routes:\n  r: { rules: [ { when: { tags: [a] }, min_tier: 2 } ], default: small }\n",
     "min_tier needs a cascade or learned route"},
    {"routes:\n  c: { cascade: [small, large] }\n  r: { rules: [ { when: { tags: [a] }, min_tier: "
     "5 } ], default: c }\n",
     "min_tier 5 is past the last tier of 'c'"},
    {"routes:\n  c: { cascade: [small, large] }\n  r: { rules: [ { when: { tags: [a] }, min_tier: "
     "huge } ], default: c }\n",
     "route 'c' has no tier 'huge'"},
    {"routes:\n  r: { rules: [ { when: { colour: red }, model: small } ], default: small }\n",
     "routes.r.rules[0].when.colour: unknown key"},
    {"routes:\n  r: { learned: { router: x.belt, tiers: [small] } }\n", "at least 2 tiers"},
    {"routes:\n  r: { learned: { router: x.belt, cost_weight: 5, tiers: [small, large] } }\n",
     "routes.r.learned.cost_weight"},
    {"routes:\n  small: { fixed: large }\n", "'small' is also a model name"},
    {"routes:\n  r: { fixed: small, default: large }\n", "'default' belongs to rules routes"},
    {"routes:\n  r: { cascade: [ { model: small, route: x } ] }\n",
     "a tier has one of 'model', 'route' or 'human'"},
};

static void routes_config_errors_name_position_and_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < BELT_ARRAY_LEN(bad); i++) {
        char y[2048];
        snprintf(y, sizeof(y), "%s%s", MODELS, bad[i][0]);
        struct belt_config *cfg = NULL;
        struct belt_error err = {0};
        belt_status st = parse(y, &cfg, &err);
        if (st != BELT_ERR_CONFIG)
            fail_msg("case %zu: expected BELT_ERR_CONFIG, got %s (%s)", i, belt_status_name(st),
                     err.msg);
        assert_null(cfg);
        if (!strstr(err.msg, bad[i][1]))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, bad[i][1]);
    }
}

static void routes_config_survives_every_allocation_failure(void **state)
{
    (void)state;
    const char *y =
        MODELS "routes:\n"
               "  safe: { fallback: [small, large] }\n"
               "  c: { cascade: [ { model: small, accept: { all: [ { confidence: 0.8 "
               "}, { regex: 'x' }, { labels: [a, b] }, { arithmetic: { final: '=(.*)' } } ] } }, "
               "{ route: safe } ] }\n"
               "  f: { rules: [ { when: { tags: [t], regex: 'y' }, route: c, "
               "min_tier: 2 } ], default: c }\n";
    for (long n = 1; n < 2000; n++) {
        struct belt_config *cfg = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = parse(y, &cfg, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        belt_config_free(cfg);
        if (st == BELT_OK && injected == 0)
            return;
        if (st != BELT_OK && st != BELT_ERR_NOMEM && st != BELT_ERR_CONFIG)
            fail_msg("allocation %ld: unexpected %s (%s)", n, belt_status_name(st), err.msg);
    }
    fail_msg("the parse never completed");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(routes_config_reads_every_policy),
    cmocka_unit_test(routes_config_reads_accept_signals),
    cmocka_unit_test(routes_config_errors_name_position_and_key),
    cmocka_unit_test(routes_config_survives_every_allocation_failure),
};

BELT_TEST_MAIN(tests)
