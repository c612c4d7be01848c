/*
 * test_server_gov.c — pure pieces of the gateway's governance (src/server): the cost bound a
 * key's budget reserves (a model with its fallbacks, a fallback route, a cascade with samples,
 * a verifier and a person, balance and rules routes), the trust of what a route can reach,
 * and HTML escaping for the review page.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "server/server.h"

struct fixture {
    char dir[256];
    struct belt_config *cfg;
    struct belt_engine *e;
    struct belt_server *s;
};

static const char YAML[] =
    "store: { path: '%s/belt.db' }\n"
    "models:\n"
    "  cheap: { provider: openai, base_url: 'http://127.0.0.1:1/v1', price: { input: 1, output: 2 "
    "},\n"
    "           fallbacks: [dear] }\n"
    "  dear: { provider: openai, base_url: 'http://127.0.0.1:1/v1', price: { input: 10, output: 20 "
    "} }\n"
    "  judge: { provider: openai, base_url: 'http://127.0.0.1:1/v1', price: { input: 1, output: 1 "
    "},\n"
    "           trusted: true }\n"
    "  safe: { provider: openai, base_url: 'http://127.0.0.1:1/v1', price: { input: 1, output: 1 "
    "},\n"
    "          trusted: true }\n"
    "routes:\n"
    "  fb: { fallback: [safe, judge] }\n"
    "  casc:\n"
    "    cascade:\n"
    "      - { model: safe, accept: { agree: { samples: 3 } } }\n"
    "      - { model: judge, accept: { verifier: { model: judge, score: 0.5 } } }\n"
    "      - { human: true }\n"
    "  bal: { balance: { models: [safe, dear] } }\n"
    "  rul:\n"
    "    rules:\n"
    "      - { when: { stakes: [high] }, model: dear }\n"
    "    default: safe\n"
    "guard: { keys: { required: false } }\n";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    belt_test_tmpdir(f->dir, sizeof(f->dir));
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), YAML, f->dir);
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "belt.yaml", f->dir, &f->cfg, &err),
                       &err);
    struct belt_engine_params ep = belt_engine_default_params();
    ep.config = f->cfg;
    BELT_ASSERT_OK_ERR(belt_engine_new(&ep, &f->e, &err), &err);
    struct belt_server_params sp = belt_server_default_params();
    sp.listen = "127.0.0.1:0";
    sp.threads = 1;
    BELT_ASSERT_OK_ERR(belt_server_new(f->e, &sp, &f->s, &err), &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_server_free(f->s);
    belt_engine_free(f->e);
    belt_config_free(f->cfg);
    belt_test_rmrf(f->dir);
    free(f);
    return 0;
}

static const struct belt_cfg_route *route(struct fixture *f, const char *name)
{
    return belt__cfg_routes_find(&f->cfg->routes, name, NULL);
}

/* USD of in/out tokens at $p_in / $p_out per 1M. */
static double usd(double p_in, double p_out, double in, double out)
{
    return (p_in * in + p_out * out) / 1e6;
}

static void server_cost_bound_takes_a_models_dearest_fallback(void **state)
{
    struct fixture *f = *state;
    const struct belt__model *m = belt__models_find(&f->e->models, "cheap");
    int trusted = 1;
    double c = belt__srv_cost_bound(f->s, NULL, m->index, 100, 50, &trusted);
    assert_true(fabs(c - usd(10, 20, 100, 50)) < 1e-12);
    assert_int_equal(trusted, 0);
}

static void server_cost_bound_adds_every_fallback_target(void **state)
{
    struct fixture *f = *state;
    int trusted = 0;
    double c = belt__srv_cost_bound(f->s, route(f, "fb"), 0, 100, 50, &trusted);
    assert_true(fabs(c - 2 * usd(1, 1, 100, 50)) < 1e-12);
    assert_int_equal(trusted, 1); /* both targets are trusted */
}

static void server_cost_bound_counts_samples_and_the_verifier(void **state)
{
    struct fixture *f = *state;
    double c = belt__srv_cost_bound(f->s, route(f, "casc"), 0, 100, 50, NULL);
    double tier1 = 3 * usd(1, 1, 100, 50);                            /* the answer + 2 samples */
    double tier2 = usd(1, 1, 100, 50) + usd(1, 1, 100 + 50 + 64, 50); /* + the verifier */
    assert_true(fabs(c - (tier1 + tier2)) < 1e-12);                   /* the person costs nothing */
}

static void server_cost_bound_takes_the_dearest_choice(void **state)
{
    struct fixture *f = *state;
    int trusted = 1;
    assert_true(fabs(belt__srv_cost_bound(f->s, route(f, "bal"), 0, 100, 50, &trusted) -
                     usd(10, 20, 100, 50)) < 1e-12);
    assert_int_equal(trusted, 0); /* dear is not trusted */
    assert_true(fabs(belt__srv_cost_bound(f->s, route(f, "rul"), 0, 100, 50, NULL) -
                     usd(10, 20, 100, 50)) < 1e-12);
}

static void server_input_bound_overestimates(void **state)
{
    (void)state;
    json_t *req = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content",
                            "The quick brown fox jumps over the lazy dog.");
    int64_t b = belt__srv_input_bound(req, BELT_CALL_CHAT);
    assert_true(b >= 16 + 3 * 12 / 2); /* 1.5 x an estimate of about a dozen tokens, + 16 */
    json_decref(req);
}

static void server_html_escape_neutralises_markup(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    const char s[] = "<script>alert('x')</script> & \"q\"";
    belt__srv_html_escape(&b, s, sizeof(s) - 1);
    assert_string_equal(belt_buf_cstr(&b), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
                                           "&amp; &quot;q&quot;");
    belt_buf_deinit(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(server_cost_bound_takes_a_models_dearest_fallback, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(server_cost_bound_adds_every_fallback_target, setup, teardown),
    cmocka_unit_test_setup_teardown(server_cost_bound_counts_samples_and_the_verifier, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(server_cost_bound_takes_the_dearest_choice, setup, teardown),
    cmocka_unit_test(server_input_bound_overestimates),
    cmocka_unit_test(server_html_escape_neutralises_markup),
};

BELT_TEST_MAIN(tests)
