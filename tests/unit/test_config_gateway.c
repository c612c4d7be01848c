/*
 * test_config_gateway.c — the gateway's configuration: remote model keys (deployments,
 * headers, breaker, fallbacks, trusted), the `server:` section and sizes, and the errors that
 * name file:line:col and the key.
 */
#include "testutil.h"

#include <string.h>

#include "config/config.h"

static struct belt_config *parse_ok(const char *yaml)
{
    struct belt_config *cfg = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "t.yaml", "/base", &cfg, &err), &err);
    return cfg;
}

static void parse_fails(const char *yaml, const char *needle)
{
    struct belt_config *cfg = NULL;
    struct belt_error err;
    BELT_ASSERT_STATUS(belt_config_parse(yaml, strlen(yaml), "t.yaml", "/base", &cfg, &err),
                       BELT_ERR_CONFIG);
    assert_null(cfg);
    BELT_ASSERT_CONTAINS(err.msg, needle);
}

static void config_remote_model_defaults(void **state)
{
    (void)state;
    struct belt_config *cfg = parse_ok("models:\n  a: { provider: openai }\n"
                                       "  l: { provider: local, path: x.belt }\n");
    const struct belt_cfg_model *a = belt__cfg_models_find(&cfg->models, "a");
    assert_int_equal(a->timeout_ms, 60000);
    assert_int_equal(a->retries, 2);
    assert_int_equal(a->breaker.failures, 5);
    assert_int_equal(a->breaker.cooldown_ms, 30000);
    assert_false(a->trusted);
    assert_true(belt__cfg_models_find(&cfg->models, "l")->trusted);
    assert_int_equal(cfg->server.max_body, 4 << 20);
    assert_string_equal(cfg->server.listen, "127.0.0.1:8080");
    assert_true(cfg->server.cache.enabled);
    belt_config_free(cfg);
}

static void config_remote_model_full(void **state)
{
    (void)state;
    struct belt_config *cfg = parse_ok(
        "models:\n"
        "  big:\n"
        "    provider: anthropic\n"
        "    model: claude-x\n"
        "    api_key_env: ANTHROPIC_API_KEY\n"
        "    api_version: '2024-01-01'\n"
        "    max_tokens: 1000\n"
        "    headers: { X-A: '1' }\n"
        "    timeout: 5s\n"
        "    retries: 4\n"
        "    backoff: 100ms\n"
        "    backoff_max: 2s\n"
        "    trusted: true\n"
        "    fallbacks: [small]\n"
        "    breaker: { failures: 3, cooldown: 10s }\n"
        "    price: { input: 3, output: 15 }\n"
        "    deployments:\n"
        "      - { base_url: 'http://a/v1', weight: 2 }\n"
        "      - { name: b, base_url: 'http://b/v1', model: other, headers: { X-B: '2' } }\n"
        "  small: { provider: openai, base_url: 'http://s/v1' }\n"
        "server:\n"
        "  listen: '[::1]:0'\n"
        "  threads: 3\n"
        "  max_body: 1MiB\n"
        "  max_headers: 16KiB\n"
        "  idle_timeout: 20s\n"
        "  cache: { ttl: 10m, max_bytes: 8MB, persist: false }\n");
    const struct belt_cfg_model *m = belt__cfg_models_find(&cfg->models, "big");
    assert_string_equal(m->model, "claude-x");
    assert_string_equal(m->api_key_env, "ANTHROPIC_API_KEY");
    assert_int_equal(m->max_tokens, 1000);
    assert_int_equal(m->timeout_ms, 5000);
    assert_int_equal(m->retries, 4);
    assert_int_equal(m->backoff_max_ms, 2000);
    assert_true(m->trusted);
    assert_int_equal(m->fallbacks.n, 1);
    assert_int_equal(m->breaker.failures, 3);
    assert_int_equal(m->n_deployments, 2);
    assert_true(m->deployments[0].weight == 2);
    assert_true(m->deployments[1].weight == 1);
    assert_string_equal(m->deployments[1].name, "b");
    assert_string_equal(json_string_value(json_object_get(m->headers, "X-A")), "1");
    assert_int_equal(cfg->server.threads, 3);
    assert_int_equal(cfg->server.max_body, 1 << 20);
    assert_int_equal(cfg->server.max_headers, 16 << 10);
    assert_int_equal(cfg->server.cache.ttl_ms, 600000);
    assert_int_equal(cfg->server.cache.max_bytes, 8000000);
    assert_false(cfg->server.cache.persist);
    belt_config_free(cfg);
}

static void config_fallback_errors(void **state)
{
    (void)state;
    parse_fails("models:\n  a: { provider: openai, fallbacks: [zz] }\n",
                "fallback 'zz' is not a model");
    parse_fails("models:\n  a: { provider: openai, fallbacks: [a] }\n", "own fallback");
    parse_fails("models:\n  a: { provider: openai, fallbacks: [b] }\n"
                "  b: { provider: openai, fallbacks: [a] }\n",
                "fallbacks form a cycle");
}

static void config_remote_errors_name_the_key(void **state)
{
    (void)state;
    parse_fails("models:\n  a: { provider: openai, timeout: soon }\n", "t.yaml:2:");
    parse_fails("models:\n  a: { provider: openai, timeout: soon }\n", "models.a.timeout");
    parse_fails("models:\n  a: { provider: openai, retries: 99 }\n", "models.a.retries");
    parse_fails("models:\n  a: { provider: openai, headers: { 'Bad Name': x } }\n",
                "not a valid header name");
    parse_fails("models:\n  a: { provider: openai, headers: { X: \"a\\nb\" } }\n",
                "one-line string");
    parse_fails("models:\n  a: { provider: openai, deployments: [] }\n", "non-empty list");
    parse_fails("models:\n  a: { provider: openai, deployments: [{ weight: 0 }] }\n",
                "weight above 0");
    parse_fails("models:\n  a: { provider: openai, deployments: [{ wat: 1 }] }\n",
                "models.a.deployments[0].wat");
    parse_fails("models:\n  a: { provider: openai, breaker: { failures: -1 } }\n",
                "models.a.breaker.failures");
    parse_fails("models:\n  a: { provider: openai, path: x.belt }\n", "models.a.path");
    parse_fails("models:\n  a: { provider: local, path: x.belt, base_url: 'http://x' }\n",
                "models.a.base_url");
    parse_fails("models:\n  a: { provider: openai, max_tokens: 5 }\n", "models.a.max_tokens");
}

static void config_server_errors(void **state)
{
    (void)state;
    parse_fails("server: { listen: nowhere }\n", "server.listen");
    parse_fails("server: { listen: 'h:99999' }\n", "HOST:PORT");
    parse_fails("server: { max_body: lots }\n", "server.max_body");
    parse_fails("server: { max_body: 12 }\n", "out of range");
    parse_fails("server: { cache: { ttl: 0 } }\n", "server.cache.ttl");
    parse_fails("server: { bogus: 1 }\n", "server.bogus");
    parse_fails("server: { threads: 1000 }\n", "server.threads");
}

static void config_sizes(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(belt__parse_size("1048576", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(belt__parse_size("4MiB", &v), 0);
    assert_int_equal(v, 4 << 20);
    assert_int_equal(belt__parse_size("1.5 KB", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(belt__parse_size("2GiB", &v), 0);
    assert_int_equal(v, (int64_t)2 << 30);
    assert_int_equal(belt__parse_size("12 parsecs", &v), -1);
    assert_int_equal(belt__parse_size("-1", &v), -1);
    assert_int_equal(belt__parse_size("", &v), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(config_remote_model_defaults),
    cmocka_unit_test(config_remote_model_full),
    cmocka_unit_test(config_fallback_errors),
    cmocka_unit_test(config_remote_errors_name_the_key),
    cmocka_unit_test(config_server_errors),
    cmocka_unit_test(config_sizes),
};

BELT_TEST_MAIN(tests)
