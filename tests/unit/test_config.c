/* Unit tests for src/config: typed sections, and errors that name file, line, column, key. */
#include "testutil.h"

#include <string.h>

#include "config/config.h"
#include "util/alloc.h"

static belt_status parse(const char *yaml, struct belt_config **cfg, struct belt_error *err)
{
    return belt_config_parse(yaml, strlen(yaml), "t.yaml", "/etc/belt", cfg, err);
}

static void config_reads_store_and_local_models(void **state)
{
    (void)state;
    const char *y = "store: { path: data/belt.db, busy_timeout: 2s }\n"
                    "models:\n"
                    "  intent:\n"
                    "    provider: local\n"
                    "    path: models/intent.belt\n"
                    "    threshold: 0.9\n"
                    "    top_k: 3\n"
                    "  abs: { provider: local, path: /m/a.belt }\n";
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(parse(y, &cfg, &err), &err);
    assert_string_equal(belt_config_store_path(cfg), "/etc/belt/data/belt.db");
    assert_int_equal(cfg->store.busy_timeout_ms, 2000);
    assert_int_equal(belt_config_n_models(cfg), 2);
    const struct belt_cfg_model *m = belt__cfg_models_find(&cfg->models, "intent");
    assert_non_null(m);
    assert_int_equal(m->provider, BELT_PROVIDER_LOCAL);
    assert_string_equal(m->path, "/etc/belt/models/intent.belt");
    assert_true(m->threshold == 0.9);
    assert_int_equal(m->top_k, 3);
    assert_string_equal(belt__cfg_models_find(&cfg->models, "abs")->path, "/m/a.belt");
    assert_string_equal(belt_config_model_provider(cfg, 1), "local");
    belt_config_free(cfg);
}

static void config_defaults_when_empty(void **state)
{
    (void)state;
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_config_default(&cfg, &err));
    assert_string_equal(belt_config_store_path(cfg), "belt.db");
    assert_int_equal(belt_config_n_models(cfg), 0);
    belt_config_free(cfg);
    BELT_ASSERT_OK(parse("# only a comment\n", &cfg, &err));
    belt_config_free(cfg);
}

/* Each case: YAML, and a fragment the error message must contain. */
static const char *const bad_cases[][2] = {
    {"stor: {}\n", "t.yaml:1:1: stor: unknown section (expected one of: store, models"},
    {"store: { path: a.db, size: 3 }\n", "t.yaml:1:22: store.size: unknown key"},
    {"models:\n  m: { provider: local }\n", "t.yaml:2:3: models.m: missing required key 'path'"},
    {"models:\n  m: { path: x }\n", "models.m: missing required key 'provider'"},
    {"models:\n  m: { provider: bogus, path: x }\n",
     "t.yaml:2:18: models.m.provider: 'bogus' is not one of: local, openai"},
    {"models:\n  m: { provider: local, path: x, threshold: high }\n",
     "t.yaml:2:45: models.m.threshold: expected a number, got 'high'"},
    {"models:\n  m: { provider: local, path: x, threshold: 1.5 }\n",
     "models.m.threshold: 1.5 is out of range [0, 1]"},
    {"models:\n  m: { provider: local, path: [a, b] }\n", "models.m.path: expected a path"},
    {"store: { busy_timeout: soon }\n", "store.busy_timeout: expected a duration"},
    {"models: [a, b]\n", "models: expected a mapping of model names"},
    {"store: {path: a\n", "t.yaml:"},
    {"- just\n- a list\n", "must be a mapping of sections"},
    {"models:\n  m: { provider: local, path: x, price: { input: -1 } }\n",
     "models.m.price.input: -1 is out of range"},
    {"lines:\n  a: { stations: [] }\n  a: { stations: [] }\n", "invalid YAML: duplicate key"},
    {"models:\n  m: { provider: openai, base_url: 5 }\n",
     "t.yaml:2:36: models.m.base_url: '5' is not an http:// or https:// URL"},
    {"models:\n  m:\n    provider: openai\n    deployments:\n      - { base_url: 'ftp://x' }\n",
     "t.yaml:5:22: models.m.deployments[0].base_url: 'ftp://x' is not an http"},
};

static void config_errors_name_file_line_column_and_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct belt_config *cfg = NULL;
        struct belt_error err = {0};
        belt_status st = parse(bad_cases[i][0], &cfg, &err);
        if (st != BELT_ERR_CONFIG)
            fail_msg("case %zu: expected BELT_ERR_CONFIG, got %s (%s)", i, belt_status_name(st),
                     err.msg);
        assert_null(cfg);
        if (!strstr(err.msg, bad_cases[i][1]))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, bad_cases[i][1]);
    }
}

static void config_load_reports_missing_file(void **state)
{
    (void)state;
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_config_load("/nonexistent/belt.yaml", &cfg, &err), BELT_ERR_IO);
    BELT_ASSERT_CONTAINS(err.msg, "/nonexistent/belt.yaml");
}

static void config_load_resolves_paths_against_its_directory(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/belt.yaml", dir);
    belt_test_write_file(path, "store: { path: s.db }\n");
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_load(path, &cfg, &err), &err);
    char want[320];
    snprintf(want, sizeof(want), "%s/s.db", dir);
    assert_string_equal(belt_config_store_path(cfg), want);
    belt_config_free(cfg);
    belt_test_rmrf(dir);
}

/* Fail every allocation of a parse in turn: each must give NOMEM (or succeed) and leak
 * nothing (LeakSanitizer checks the latter in the sanitizer build). */
static void config_parse_survives_every_allocation_failure(void **state)
{
    (void)state;
    const char *y = "store: { path: a.db }\nmodels:\n  m: { provider: local, path: x,"
                    " price: { input: 1, output: 2 } }\n";
    long live_before = belt__alloc_n_live();
    for (long n = 1; n < 400; n++) {
        struct belt_config *cfg = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = parse(y, &cfg, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK) {
            belt_config_free(cfg);
            if (injected == 0)
                break; /* no allocation left to fail */
            continue;
        }
        if (st != BELT_ERR_NOMEM && st != BELT_ERR_CONFIG)
            fail_msg("allocation %ld: unexpected %s (%s)", n, belt_status_name(st), err.msg);
    }
    assert_int_equal(belt__alloc_n_live(), live_before);
}

static void config_lists_routes_and_lines(void **state)
{
    (void)state;
    const char *y = "models:\n"
                    "  m: { provider: local, path: m.belt }\n"
                    "routes:\n"
                    "  r: { cascade: [ { model: m } ] }\n"
                    "lines:\n"
                    "  l:\n"
                    "    stations:\n"
                    "      - { name: v, kind: validate, when: \"x > 1\", labels: [a, b],"
                    " input: x }\n";
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(parse(y, &cfg, &err), &err);
    assert_int_equal(belt_config_n_routes(cfg), 1);
    assert_string_equal(belt_config_route_name(cfg, 0), "r");
    assert_string_equal(belt_config_route_policy(cfg, 0), "cascade");
    assert_null(belt_config_route_name(cfg, 1));
    assert_int_equal(belt_config_n_lines(cfg), 1);
    assert_string_equal(belt_config_line_name(cfg, 0), "l");
    assert_int_equal(belt_config_line_n_stations(cfg, 0), 1);
    assert_int_equal(belt_config_line_n_stations(cfg, 5), 0);
    belt_config_free(cfg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(config_lists_routes_and_lines),
    cmocka_unit_test(config_reads_store_and_local_models),
    cmocka_unit_test(config_defaults_when_empty),
    cmocka_unit_test(config_errors_name_file_line_column_and_key),
    cmocka_unit_test(config_load_reports_missing_file),
    cmocka_unit_test(config_load_resolves_paths_against_its_directory),
    cmocka_unit_test(config_parse_survives_every_allocation_failure),
};
BELT_TEST_MAIN(tests)
