/*
 * test_route_exec.c — the live route executor against the C fake upstream (started here on an
 * ephemeral loopback port; scripted by model name): every policy and accept signal live,
 * budgets, rules, composition, the learned router, the replay and human providers,
 * cancellation, the deadline, streaming, the path format and the trace record.
 * Skipped when the fake upstream program is not built (BELT_FIXTURE_DIR).
 */
#include "testutil.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct env {
    pid_t pid; /* fake upstream */
    int port;
    char dir[256]; /* temporary directory */
    struct belt_config *cfg;
    struct belt_engine *e;
    char store[300]; /* trace store */
};
static struct env g_env;

/* ---- fixture ------------------------------------------------------------------------------ */

static int spawn_fake(struct env *v)
{
    const char *dir = getenv("BELT_FIXTURE_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/fake_upstream", dir ? dir : ".");
    if (access(path, X_OK) != 0)
        return -1;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {path, "--port", "0", "--quiet", NULL};
    int rc = posix_spawn(&v->pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    FILE *fp = fdopen(fds[0], "r");
    char line[64] = "";
    if (!fp || !fgets(line, sizeof(line), fp) || sscanf(line, "PORT %d", &v->port) != 1)
        v->port = 0;
    if (fp)
        fclose(fp);
    return v->port > 0 ? 0 : -1;
}

static void write_outcomes(const char *path)
{
    belt_test_write_file(
        path, "{\"id\": \"q1\", \"query\": \"What is 2+2?\", \"models\": {"
              "\"small\": {\"answer\": \"4\", \"correct\": true, \"confidence\": 0.95, "
              "\"cost_usd\": 0.00001, \"latency_ms\": 40, \"samples\": [\"4\", \"4\"]},"
              "\"large\": {\"answer\": \"4\", \"correct\": true, \"cost_usd\": 0.001, "
              "\"latency_ms\": 900}}}\n"
              "{\"id\": \"q2\", \"query\": \"Prove the Riemann hypothesis.\", \"models\": {"
              "\"small\": {\"answer\": \"5\", \"correct\": false, \"confidence\": 0.30, "
              "\"cost_usd\": 0.00002, \"latency_ms\": 50, \"verify\": {\"judge\": 0.2}},"
              "\"large\": {\"answer\": \"7\", \"correct\": true, \"cost_usd\": 0.002, "
              "\"latency_ms\": 1200}, \"judge\": {\"answer\": \"0\", \"cost_usd\": 0.0001}}}\n");
}

/* A router for tiers [small-sure, big]: "easy" texts are answered by the small model. With
 * cost (per tier), the training outcomes record it; without, the router has no tier costs.
 * With tagged, the texts are all alike and the tag decides: "basic" tasks are answered by the
 * small model, "expert" ones are not (a router trained with tags). */
static void train_router(const char *path, const double *cost, int tagged)
{
    static const char *const basic[] = {"basic"}, *const expert[] = {"expert"};
    enum { N = 80 };
    static char text[N][64];
    int correct[N][2];
    struct belt_router_example ex[N];
    for (int i = 0; i < N; i++) {
        int easy = i % 2 == 0;
        if (tagged)
            snprintf(text[i], sizeof(text[i]), "a question number %d", i % 5);
        else
            snprintf(text[i], sizeof(text[i]), "%s question number %d %s", easy ? "easy" : "hard",
                     i, easy ? "simple sum" : "deep proof theorem");
        ex[i].tags = !tagged ? NULL : easy ? basic : expert;
        ex[i].n_tags = tagged ? 1 : 0;
        correct[i][0] = easy;
        correct[i][1] = 1;
        ex[i].text = text[i];
        ex[i].len = strlen(text[i]);
        ex[i].correct = correct[i];
        ex[i].cost_usd = cost;
    }
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 12;
    p.ensemble = 1;
    p.epochs = 20;
    p.char_min = 0;
    p.tags = tagged;
    const char *tiers[] = {"small-sure", "big"};
    struct belt_router *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_train(&p, tiers, 2, ex, N, &r, &err), &err);
    BELT_ASSERT_OK_ERR(belt_router_save(r, path, &err), &err);
    belt_router_free(r);
}

static const char CONFIG[] =
    "models:\n"
    "  small-sure:  {provider: openai, base_url: '@URL@', model: 'fake+say=Paris+lp=5', "
    "retries: 0, price: {input: 1, output: 2}}\n"
    "  small-doubt: {provider: openai, base_url: '@URL@', model: 'fake+say=Lyon+lp=300', "
    "retries: 0, price: {input: 1, output: 2}}\n"
    "  big:         {provider: openai, base_url: '@URL@', model: 'fake+say=Paris', retries: 0, "
    "price: {input: 10, output: 30}}\n"
    "  vary:        {provider: openai, base_url: '@URL@', model: 'fake+vary', retries: 0}\n"
    "  judge-yes:   {provider: openai, base_url: '@URL@', model: 'fake+say=0.95', retries: 0}\n"
    "  judge-no:    {provider: openai, base_url: '@URL@', model: 'fake+say=10%', retries: 0}\n"
    "  broken:      {provider: openai, base_url: '@URL@', model: 'fake+status=500', retries: 0}\n"
    "  slow:        {provider: openai, base_url: '@URL@', model: 'fake+slow=250+say=Paris', "
    "retries: 0}\n"
    "  hang:        {provider: openai, base_url: '@URL@', model: 'fake+hang', retries: 0}\n"
    "  reviewer:    {provider: human}\n"
    "  rec-small:   {provider: replay, path: '@DIR@/outcomes.jsonl', model: small}\n"
    "  rec-large:   {provider: replay, path: '@DIR@/outcomes.jsonl', model: large}\n"
    "  rec-judge:   {provider: replay, path: '@DIR@/outcomes.jsonl', model: judge}\n"
    "routes:\n"
    "  lp-sure:   {cascade: [{model: small-sure, accept: {logprobs: {mean: -0.5}}}, big]}\n"
    "  lp-doubt:  {cascade: [{model: small-doubt, accept: {logprobs: {mean: -0.5}}}, big]}\n"
    "  agree-yes: {cascade: [{model: small-sure, accept: {agree: {samples: 3}}}, big]}\n"
    "  agree-no:  {cascade: [{model: vary, accept: {agree: {samples: 3}}}, big]}\n"
    "  peer:      {cascade: [{model: small-doubt, accept: {agree: {model: big}}}, big]}\n"
    "  verify-yes: {cascade: [{model: small-doubt, accept: {verifier: {model: judge-yes, "
    "score: 0.7}}}, big]}\n"
    "  verify-no: {cascade: [{model: small-doubt, accept: {verifier: {model: judge-no, "
    "score: 0.7}}}, big]}\n"
    "  budget-cost:\n"
    "    cascade: [{model: small-doubt, accept: {logprobs: {mean: -0.5}}}, big]\n"
    "    budget: {max_cost_usd: 0.0001}\n"
    "  budget-latency:\n"
    "    cascade: [{model: small-doubt, accept: {logprobs: {mean: -0.5}}}, slow]\n"
    "    budget: {max_latency: 100ms}\n"
    "  to-person: {cascade: [{model: small-doubt, accept: {logprobs: {mean: -0.5}}}, "
    "{human: true}]}\n"
    "  to-reviewer: {cascade: [{model: small-doubt, accept: {logprobs: {mean: -0.5}}}, "
    "{model: reviewer}]}\n"
    "  safe: {fallback: [broken, big]}\n"
    "  composed: {cascade: [{route: safe, accept: {regex: '^Paris$'}}, {human: true}]}\n"
    "  fastest: {balance: {models: [slow, small-sure], strategy: least_latency}}\n"
    "  front:\n"
    "    rules:\n"
    "      - {when: {stakes: high}, human: true}\n"
    "      - {when: {tags: [legal]}, route: lp-doubt, min_tier: big}\n"
    "    default: lp-doubt\n"
    "  guarded: {cascade: [small-sure, {model: big, accept: {regex: '^Paris$'}}, "
    "{human: true}]}\n"
    "  front-budget: {rules: [{when: {stakes: high}, human: true}], default: budget-cost}\n"
    "  smart: {learned: {router: '@DIR@/router.belt', target: 0.6, tiers: [{model: small-sure, "
    "accept: {logprobs: {mean: -0.5}}}, big]}}\n"
    "  tagged: {learned: {router: '@DIR@/tagged.belt', target: 0.6, tiers: [small-sure, big]}}\n"
    "  thrifty: {learned: {router: '@DIR@/priced.belt', target: 0.6, cost_weight: 1, "
    "tiers: [small-sure, big]}}\n"
    "  wait-forever: {cascade: [{model: small-doubt, accept: {logprobs: {mean: -0.5}}}, hang]}\n"
    "  replayed: {cascade: [{model: rec-small, accept: {confidence: 0.8}}, rec-large]}\n"
    "  replayed-verify: {cascade: [{model: rec-small, accept: {verifier: {model: rec-judge, "
    "score: 0.5}}}, rec-large]}\n"
    "  replayed-agree: {cascade: [{model: rec-small, accept: {agree: {samples: 3}}}, rec-large]}\n";

/* CONFIG with @URL@ and @DIR@ replaced (malloc'd). */
static char *expand(const char *tpl, const char *url, const char *dir)
{
    size_t cap = strlen(tpl) + 64 * (strlen(url) + strlen(dir)) + 1, n = 0;
    char *out = malloc(cap);
    for (const char *p = tpl; *p && n + 1 < cap;) {
        const char *with = !strncmp(p, "@URL@", 5) ? url : !strncmp(p, "@DIR@", 5) ? dir : NULL;
        if (with) {
            size_t k = strlen(with);
            memcpy(out + n, with, k);
            n += k;
            p += 5;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static int setup(void **state)
{
    struct env *v = &g_env;
    memset(v, 0, sizeof(*v));
    signal(SIGPIPE, SIG_IGN);
    if (spawn_fake(v) != 0) {
        *state = NULL;
        return 0; /* tests skip */
    }
    belt_test_tmpdir(v->dir, sizeof(v->dir));
    char path[512], url[128], *yaml = NULL;
    snprintf(path, sizeof(path), "%s/outcomes.jsonl", v->dir);
    write_outcomes(path);
    snprintf(path, sizeof(path), "%s/router.belt", v->dir);
    train_router(path, NULL, 0);
    snprintf(path, sizeof(path), "%s/tagged.belt", v->dir);
    train_router(path, NULL, 1);
    /* escalating cost $1e-7 in training: any live price is thousands of times that */
    static const double tiny[2] = {1e-7, 2e-7};
    snprintf(path, sizeof(path), "%s/priced.belt", v->dir);
    train_router(path, tiny, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", v->port);
    yaml = expand(CONFIG, url, v->dir);
    snprintf(path, sizeof(path), "%s/belt.yaml", v->dir);
    belt_test_write_file(path, yaml);
    free(yaml);
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_load(path, &v->cfg, &err), &err);
    snprintf(v->store, sizeof(v->store), "%s/traces.db", v->dir);
    struct belt_engine_params ep = belt_engine_default_params();
    ep.config = v->cfg;
    ep.store_path = v->store;
    ep.trace = 1;
    ep.cache = 0;
    BELT_ASSERT_OK_ERR(belt_engine_new(&ep, &v->e, &err), &err);
    *state = v;
    return 0;
}

static int teardown(void **state)
{
    struct env *v = *state;
    if (!v)
        return 0;
    belt_engine_free(v->e);
    belt_config_free(v->cfg);
    kill(v->pid, SIGTERM);
    waitpid(v->pid, NULL, 0);
    belt_test_rmrf(v->dir);
    return 0;
}

#define NEED_FAKE(state)                                                                           \
    do {                                                                                           \
        if (!*(state))                                                                             \
            skip();                                                                                \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *request_for(const char *text)
{
    return json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", text);
}

/* Run `name` on text with optional metadata; the answer is owned by the caller. */
static struct belt_route_answer *run_full(const char *name, const char *text,
                                          const struct belt_route_call_params *extra)
{
    struct belt_route_call_params p = extra ? *extra : belt_route_call_default_params();
    json_t *req = request_for(text);
    p.name = name;
    p.request = req;
    struct belt_route_answer *a = NULL;
    struct belt_error err = {0};
    belt_route_call_sync(g_env.e, &p, &a, &err);
    json_decref(req);
    if (!a)
        fail_msg("route %s: no answer: %s", name, err.msg);
    for (size_t i = 0; i < a->n_steps; i++) { /* every decision says why */
        const struct belt_route_step *s = &a->steps[i];
        if (!s->reason || !*s->reason || !s->route)
            fail_msg("route %s: step %zu (%s) has no reason", name, i, s->event);
    }
    return a;
}

static struct belt_route_answer *run(const char *name, const char *text)
{
    return run_full(name, text, NULL);
}

/* The first step with this event (and tier when tier >= 0), or NULL. */
static const struct belt_route_step *step(const struct belt_route_answer *a, const char *event,
                                          int tier)
{
    for (size_t i = 0; i < a->n_steps; i++)
        if (strcmp(a->steps[i].event, event) == 0 && (tier < 0 || a->steps[i].tier == tier))
            return &a->steps[i];
    return NULL;
}

static const struct belt_route_step *need_step(const struct belt_route_answer *a, const char *event,
                                               int tier)
{
    const struct belt_route_step *s = step(a, event, tier);
    if (!s) {
        char *j = belt_route_answer_json(a);
        fail_msg("no '%s' step at tier %d in %s", event, tier, j ? j : "?");
    }
    return s;
}

static void assert_content(const struct belt_route_answer *a, const char *want)
{
    assert_non_null(a->answer);
    assert_string_equal(a->answer->content, want);
}

/* ---- policies and signals ------------------------------------------------------------------ */

static void route_exec_confident_answer_accepted_at_tier_1(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("lp-sure", "Capital of France?");
    BELT_ASSERT_OK(a->status);
    assert_int_equal(a->outcome, BELT_ROUTE_ANSWERED);
    assert_true(a->resolved);
    assert_int_equal(a->http_status, 200);
    assert_content(a, "Paris");
    assert_string_equal(a->model, "small-sure");
    assert_int_equal(a->final_tier, 0);
    const struct belt_route_step *s = need_step(a, "accepted", 0);
    BELT_ASSERT_CONTAINS(s->reason, "logprob mean");
    assert_true(fabs(s->sig.logprob_mean - -0.05) < 1e-9);
    assert_int_equal(s->calls, 1);
    assert_true(fabs(s->cost_usd - (9 * 1 + 6 * 2) / 1e6) < 1e-12); /* fake usage: 9 in, 6 out */
    assert_null(step(a, "escalated", -1));
    assert_int_equal(a->n_calls, 1);
    belt_route_answer_free(a);
}

static void route_exec_doubtful_answer_escalates_with_reason(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("lp-doubt", "Capital of France?");
    BELT_ASSERT_OK(a->status);
    assert_int_equal(a->outcome, BELT_ROUTE_ANSWERED);
    assert_content(a, "Paris");
    assert_string_equal(a->model, "big");
    const struct belt_route_step *e = need_step(a, "escalated", 0);
    BELT_ASSERT_CONTAINS(e->reason, "logprob mean -3 < -0.5");
    assert_string_equal(e->model, "small-doubt");
    assert_true(fabs(e->sig.logprob_mean - -3.0) < 1e-9);
    const struct belt_route_step *acc = need_step(a, "accepted", 1);
    assert_string_equal(acc->model, "big");
    assert_true(fabs(a->cost_usd - (e->cost_usd + acc->cost_usd)) < 1e-12);
    assert_true(fabs(acc->cost_usd - (9 * 10 + 6 * 30) / 1e6) < 1e-12);
    belt_route_answer_free(a);
}

static void route_exec_logprobs_are_requested_for_a_logprob_tier(void **state)
{
    NEED_FAKE(state);
    /* the fake only returns logprobs for "lp=": what matters is that the signal arrived and
     * the request carried logprobs (checked through the signal value being present) */
    struct belt_route_answer *a = run("lp-sure", "logprobs please");
    const struct belt_route_step *s = need_step(a, "accepted", 0);
    assert_false(isnan(s->sig.logprob_min));
    belt_route_answer_free(a);
}

static void route_exec_samples_agree_accepts(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("agree-yes", "Capital of France?");
    assert_int_equal(a->outcome, BELT_ROUTE_ANSWERED);
    const struct belt_route_step *s = need_step(a, "accepted", 0);
    assert_int_equal(s->sig.agree, 3);
    assert_int_equal(s->sig.compared, 3);
    assert_int_equal(s->calls, 2); /* the answer, then one call with n = 2 */
    assert_string_equal(a->model, "small-sure");
    belt_route_answer_free(a);
}

static void route_exec_samples_disagree_escalate(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("agree-no", "Anything?");
    const struct belt_route_step *s = need_step(a, "escalated", 0);
    assert_int_equal(s->sig.agree, 1);
    assert_int_equal(s->sig.compared, 3);
    BELT_ASSERT_CONTAINS(s->reason, "agree");
    assert_string_equal(a->model, "big");
    belt_route_answer_free(a);
}

static void route_exec_peer_disagreement_escalates(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("peer", "Capital of France?");
    const struct belt_route_step *s = need_step(a, "escalated", 0);
    assert_int_equal(s->sig.peer_agree, 0); /* Lyon vs Paris */
    BELT_ASSERT_CONTAINS(s->reason, "big disagrees");
    assert_int_equal(s->calls, 2);
    belt_route_answer_free(a);
}

static void route_exec_verifier_score_accepts(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("verify-yes", "Capital of France?");
    const struct belt_route_step *s = need_step(a, "accepted", 0);
    assert_true(fabs(s->sig.score - 0.95) < 1e-9);
    BELT_ASSERT_CONTAINS(s->reason, "verifier judge-yes score 0.95 >= 0.7");
    assert_content(a, "Lyon");
    belt_route_answer_free(a);
}

static void route_exec_verifier_low_score_escalates(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("verify-no", "Capital of France?");
    const struct belt_route_step *s = need_step(a, "escalated", 0);
    assert_true(fabs(s->sig.score - 0.10) < 1e-9); /* "10%" */
    assert_content(a, "Paris");
    belt_route_answer_free(a);
}

static void route_exec_fallback_on_error(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("safe", "hello");
    BELT_ASSERT_OK(a->status);
    const struct belt_route_step *f = need_step(a, "failed", 0);
    assert_string_equal(f->model, "broken");
    BELT_ASSERT_CONTAINS(f->reason, "broken");
    need_step(a, "answered", 1);
    assert_string_equal(a->model, "big");
    belt_route_answer_free(a);
}

static void route_exec_every_target_failing_fails(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("broken", "hello");
    assert_int_not_equal(a->status, BELT_OK);
    assert_int_equal(a->outcome, BELT_ROUTE_FAILED);
    assert_null(a->answer);
    assert_int_equal(a->http_status, 502);
    assert_true(a->is_model);
    need_step(a, "failed", 0);
    belt_route_answer_free(a);
}

static void route_exec_composition_runs_nested_route(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("composed", "hello");
    assert_int_equal(a->outcome, BELT_ROUTE_ANSWERED);
    const struct belt_route_step *inner = need_step(a, "answered", 1);
    assert_int_equal(inner->depth, 1);
    assert_string_equal(inner->route, "safe");
    const struct belt_route_step *outer = need_step(a, "accepted", 0);
    assert_int_equal(outer->depth, 0);
    assert_string_equal(outer->target, "safe");
    assert_string_equal(outer->route, "composed");
    BELT_ASSERT_CONTAINS(outer->reason, "matched");
    belt_route_answer_free(a);
}

static void route_exec_least_latency_balance_prefers_fast_model(void **state)
{
    NEED_FAKE(state);
    belt_route_answer_free(run("slow", "warm up"));       /* ~250 ms observed */
    belt_route_answer_free(run("small-sure", "warm up")); /* a few ms */
    struct belt_route_answer *a = run("fastest", "hello");
    const struct belt_route_step *b = need_step(a, "balance", -1);
    BELT_ASSERT_CONTAINS(b->reason, "least latency chose small-sure");
    assert_string_equal(a->model, "small-sure");
    belt_route_answer_free(a);
}

/* ---- budgets -------------------------------------------------------------------------------- */

static void route_exec_cost_budget_skips_expensive_tier(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("budget-cost", "Capital of France?");
    BELT_ASSERT_OK(a->status);
    assert_int_equal(a->outcome, BELT_ROUTE_BUDGET);
    assert_false(a->resolved);
    const struct belt_route_step *s = need_step(a, "skipped", 1);
    BELT_ASSERT_CONTAINS(s->reason, "budget: big would cost");
    assert_int_equal(s->calls, 0);
    assert_content(a, "Lyon"); /* the best answer so far, marked unresolved */
    assert_int_equal(a->n_calls, 1);
    belt_route_answer_free(a);
}

static void route_exec_request_budget_applies_too(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    p.max_cost_usd = 0.00005;
    struct belt_route_answer *a = run_full("lp-doubt", "Capital of France?", &p);
    assert_int_equal(a->outcome, BELT_ROUTE_BUDGET);
    need_step(a, "skipped", 1);
    belt_route_answer_free(a);
}

static void route_exec_budget_outcome_passes_through_rules(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("front-budget", "Capital of France?");
    BELT_ASSERT_OK(a->status);
    assert_int_equal(a->outcome, BELT_ROUTE_BUDGET); /* not "failed": nothing failed */
    assert_content(a, "Lyon");
    assert_null(step(a, "failed", -1));
    char hdr[128];
    belt_route_answer_tiers(a, hdr, sizeof(hdr)); /* the cascade the rules sent to */
    BELT_ASSERT_CONTAINS(hdr, "1:small-doubt:");
    BELT_ASSERT_CONTAINS(hdr, ":escalated;2:big:-:skipped");
    belt_route_answer_free(a);
}

static void route_exec_latency_budget_skips_slow_tier(void **state)
{
    NEED_FAKE(state);
    belt_route_answer_free(run("slow", "warm up"));
    struct belt_route_answer *a = run("budget-latency", "Capital of France?");
    assert_int_equal(a->outcome, BELT_ROUTE_BUDGET);
    const struct belt_route_step *s = need_step(a, "skipped", 1);
    BELT_ASSERT_CONTAINS(s->reason, "budget: slow would take");
    belt_route_answer_free(a);
}

/* ---- rules, people, learned ----------------------------------------------------------------- */

static void route_exec_high_stakes_go_to_a_person(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    p.stakes = "high";
    struct belt_route_answer *a = run_full("front", "Sign this contract", &p);
    BELT_ASSERT_OK(a->status);
    assert_int_equal(a->outcome, BELT_ROUTE_UNRESOLVED);
    assert_int_equal(a->http_status, 202);
    assert_null(a->answer);
    assert_int_equal(a->n_calls, 0);
    BELT_ASSERT_CONTAINS(need_step(a, "rule", -1)->reason, "rule 1 matched: a person");
    belt_route_answer_free(a);
}

static void route_exec_rule_min_tier_skips_small_model(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    const char *tags[] = {"legal"};
    p.tags = tags;
    p.n_tags = 1;
    struct belt_route_answer *a = run_full("front", "Capital of France?", &p);
    assert_string_equal(a->model, "big");
    assert_null(step(a, "escalated", -1)); /* the small tier was never tried */
    need_step(a, "accepted", 1);
    assert_int_equal(a->n_calls, 1);
    belt_route_answer_free(a);
}

static void route_exec_guard_escalation_starts_at_the_strongest_model(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    p.escalated = 1;
    struct belt_route_answer *a = run_full("guarded", "Capital of France?", &p);
    assert_string_equal(a->model, "big"); /* the cheap tier, which accepts anything, is skipped */
    assert_int_equal(a->n_calls, 1);
    need_step(a, "accepted", 1);
    const struct belt_route_step *r = need_step(a, "rule", -1);
    BELT_ASSERT_CONTAINS(r->reason, "escalated by the guard");
    belt_route_answer_free(a);
    /* without the flag the first tier answers; a route without a stronger tier is unchanged */
    a = run("guarded", "Capital of France?");
    assert_string_equal(a->model, "small-sure");
    belt_route_answer_free(a);
    a = run_full("to-person", "Capital of France?", &p);
    need_step(a, "escalated", 0);
    assert_null(step(a, "rule", -1));
    belt_route_answer_free(a);
}

static void route_exec_human_tier_returns_best_answer_unresolved(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("to-person", "Capital of France?");
    BELT_ASSERT_OK(a->status);
    assert_int_equal(a->outcome, BELT_ROUTE_UNRESOLVED);
    assert_false(a->resolved);
    assert_int_equal(a->http_status, 202);
    assert_content(a, "Lyon");
    const struct belt_route_step *h = need_step(a, "human", 1);
    assert_string_equal(h->target, "human");
    belt_route_answer_free(a);
}

static void route_exec_human_provider_model_is_a_person(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("to-reviewer", "Capital of France?");
    assert_int_equal(a->outcome, BELT_ROUTE_UNRESOLVED);
    const struct belt_route_step *h = need_step(a, "human", 1);
    assert_string_equal(h->model, "reviewer");
    BELT_ASSERT_CONTAINS(h->reason, "via reviewer");
    assert_int_equal(a->n_calls, 1);
    belt_route_answer_free(a);
    a = run("reviewer", "directly");
    assert_int_equal(a->outcome, BELT_ROUTE_UNRESOLVED);
    assert_int_equal(a->n_calls, 0);
    belt_route_answer_free(a);
}

static void route_exec_learned_router_picks_tier(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("smart", "easy question number 7 simple sum");
    const struct belt_route_step *r = need_step(a, "router", -1);
    BELT_ASSERT_CONTAINS(r->reason, "tier 1");
    assert_string_equal(a->model, "small-sure");
    belt_route_answer_free(a);
    a = run("smart", "hard question number 8 deep proof theorem");
    r = need_step(a, "router", -1);
    BELT_ASSERT_CONTAINS(r->reason, "tier 2");
    assert_string_equal(a->model, "big");
    assert_null(step(a, "escalated", -1));
    belt_route_answer_free(a);
}

/* A router trained with tags reads the request's tags: the same text goes to the small model
 * under "basic" and to the big one under "expert". */
static void route_exec_learned_router_reads_request_tags(void **state)
{
    NEED_FAKE(state);
    static const char *const want[] = {"small-sure", "big"};
    const char *tag[] = {"basic", "expert"};
    for (int i = 0; i < 2; i++) {
        struct belt_route_call_params p = belt_route_call_default_params();
        p.tags = &tag[i];
        p.n_tags = 1;
        struct belt_route_answer *a = run_full("tagged", "a question number 3", &p);
        BELT_ASSERT_CONTAINS(need_step(a, "router", -1)->reason, i ? "tier 2" : "tier 1");
        assert_string_equal(a->model, want[i]);
        belt_route_answer_free(a);
    }
}

/* cost_weight live: the executor's per-request estimates (prices × the request's tokens) make
 * escalating the hard text far dearer than on the router's training data, so it stays on the
 * small tier with the weighted score shown. */
static void route_exec_learned_cost_weight_keeps_dear_task_cheap(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("thrifty", "hard question number 8 deep proof theorem");
    const struct belt_route_step *r = need_step(a, "router", -1);
    BELT_ASSERT_CONTAINS(r->reason, "cost-weighted [");
    BELT_ASSERT_CONTAINS(r->reason, "tier 1");
    assert_string_equal(a->model, "small-sure");
    belt_route_answer_free(a);
}

/* ---- replay provider ------------------------------------------------------------------------ */

static void route_exec_replay_answers_with_recorded_cost(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("replayed", "What is 2+2?");
    assert_int_equal(a->outcome, BELT_ROUTE_ANSWERED);
    assert_content(a, "4");
    const struct belt_route_step *s = need_step(a, "accepted", 0);
    assert_true(fabs(s->sig.confidence - 0.95) < 1e-9);
    assert_true(fabs(a->cost_usd - 0.00001) < 1e-12);
    assert_int_equal(a->answer->latency_us, 40000);
    const json_t *rec = json_object_get(json_object_get(a->answer->response, "belt"), "replay");
    assert_true(json_is_true(json_object_get(rec, "correct")));
    belt_route_answer_free(a);
}

static void route_exec_replay_escalates_on_recorded_doubt(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("replayed", "  Prove the Riemann hypothesis.\n");
    assert_content(a, "7");
    const struct belt_route_step *e = need_step(a, "escalated", 0);
    BELT_ASSERT_CONTAINS(e->reason, "confidence 0.3 < 0.8");
    assert_true(fabs(a->cost_usd - 0.00202) < 1e-12);
    belt_route_answer_free(a);
}

static void route_exec_replay_verifier_and_samples(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("replayed-verify", "Prove the Riemann hypothesis.");
    const struct belt_route_step *e = need_step(a, "escalated", 0);
    assert_true(fabs(e->sig.score - 0.2) < 1e-9);
    belt_route_answer_free(a);
    a = run("replayed-agree", "What is 2+2?");
    const struct belt_route_step *s = need_step(a, "accepted", 0);
    assert_int_equal(s->sig.agree, 3);
    belt_route_answer_free(a);
}

static void route_exec_replay_unknown_task_fails_clearly(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("rec-small", "never recorded");
    assert_int_equal(a->status, BELT_ERR_NOTFOUND);
    BELT_ASSERT_CONTAINS(a->error, "no recorded outcome");
    belt_route_answer_free(a);
}

/* ---- async: cancel, deadline, streaming ------------------------------------------------------ */

struct async_ctx {
    struct belt_route_call *rc;
    struct belt_route_answer *answer;
    int n_answers;
    int n_chunks;
    char text[256];
    size_t len;
};

static void async_answer(void *ud, struct belt_route_call *rc, const struct belt_route_answer *a)
{
    struct async_ctx *c = ud;
    (void)rc;
    c->n_answers++;
    c->answer = belt_route_answer_copy(a);
}

static void async_chunk(void *ud, struct belt_route_call *rc, const struct belt_chunk *ck)
{
    struct async_ctx *c = ud;
    (void)rc;
    c->n_chunks++;
    if (c->len + ck->delta_len < sizeof(c->text)) {
        memcpy(c->text + c->len, ck->delta, ck->delta_len);
        c->len += ck->delta_len;
    }
}

static void on_cancel_timer(evutil_socket_t fd, short what, void *arg)
{
    struct async_ctx *c = arg;
    (void)fd;
    (void)what;
    if (!c->n_answers)
        belt_route_call_cancel(c->rc);
}

static void route_exec_cancel_mid_cascade(void **state)
{
    NEED_FAKE(state);
    struct event_base *base = event_base_new();
    struct belt_loop *l = NULL;
    BELT_ASSERT_OK(belt_loop_new(g_env.e, base, &l, NULL));
    struct async_ctx c = {0};
    json_t *req = request_for("Capital of France?");
    struct belt_route_call_params p = belt_route_call_default_params();
    p.name = "wait-forever";
    p.request = req;
    p.on_answer = async_answer;
    p.ud = &c;
    BELT_ASSERT_OK(belt_route_call_start(l, &p, &c.rc, NULL));
    assert_int_equal(c.n_answers, 0); /* never from inside start */
    struct event *t = evtimer_new(base, on_cancel_timer, &c);
    struct timeval tv = {0, 300000};
    evtimer_add(t, &tv);
    while (!c.n_answers)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(c.n_answers, 1);
    assert_int_equal(c.answer->status, BELT_ERR_CANCELLED);
    assert_int_equal(c.answer->http_status, 499);
    need_step(c.answer, "escalated", 0); /* what happened before the cancel is kept */
    assert_int_equal(belt_loop_n_calls(l), 0);
    belt_route_answer_free(c.answer);
    event_free(t);
    json_decref(req);
    belt_loop_free(l);
    event_base_free(base);
}

static void route_exec_deadline_ends_with_timeout(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    p.timeout_ms = 300;
    int64_t t0 = 0;
    struct belt_route_answer *a = run_full("wait-forever", "Capital of France?", &p);
    (void)t0;
    assert_int_equal(a->status, BELT_ERR_TIMEOUT);
    assert_int_equal(a->http_status, 504);
    BELT_ASSERT_CONTAINS(a->error, "deadline");
    assert_true(a->latency_us < 5000000);
    belt_route_answer_free(a);
}

static void route_exec_loop_free_cancels_route_calls(void **state)
{
    NEED_FAKE(state);
    struct event_base *base = event_base_new();
    struct belt_loop *l = NULL;
    BELT_ASSERT_OK(belt_loop_new(g_env.e, base, &l, NULL));
    struct async_ctx c = {0};
    json_t *req = request_for("hello");
    struct belt_route_call_params p = belt_route_call_default_params();
    p.name = "hang";
    p.request = req;
    p.on_answer = async_answer;
    p.ud = &c;
    BELT_ASSERT_OK(belt_route_call_start(l, &p, &c.rc, NULL));
    for (int i = 0; i < 5; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    belt_loop_free(l);
    assert_int_equal(c.n_answers, 1);
    assert_int_equal(c.answer->status, BELT_ERR_CANCELLED);
    belt_route_answer_free(c.answer);
    json_decref(req);
    event_base_free(base);
}

static struct async_ctx run_stream(const char *name)
{
    struct async_ctx c = {0};
    json_t *req = request_for("Capital of France?");
    struct belt_route_call_params p = belt_route_call_default_params();
    p.name = name;
    p.request = req;
    p.stream = 1;
    p.on_chunk = async_chunk;
    p.ud = &c;
    struct belt_error err = {0};
    belt_route_call_sync(g_env.e, &p, &c.answer, &err);
    json_decref(req);
    return c;
}

static void route_exec_stream_single_model_is_live(void **state)
{
    NEED_FAKE(state);
    struct async_ctx c = run_stream("big");
    assert_non_null(c.answer);
    assert_true(c.answer->streamed_live);
    assert_true(c.n_chunks >= 3);
    assert_int_equal((int)c.len, 5);
    assert_memory_equal(c.text, "Paris", 5);
    belt_route_answer_free(c.answer);
}

static void route_exec_stream_judged_tier_is_replayed_after_judging(void **state)
{
    NEED_FAKE(state);
    struct async_ctx c = run_stream("verify-yes");
    assert_non_null(c.answer);
    assert_int_equal(c.answer->outcome, BELT_ROUTE_ANSWERED);
    assert_false(c.answer->streamed_live);
    assert_int_equal(c.n_chunks, 3); /* content, finish, usage */
    assert_int_equal((int)c.len, 4);
    assert_memory_equal(c.text, "Lyon", 4);
    belt_route_answer_free(c.answer);
}

static void route_exec_stream_unresolved_is_not_streamed(void **state)
{
    NEED_FAKE(state);
    struct async_ctx c = run_stream("to-person");
    assert_non_null(c.answer);
    assert_int_equal(c.answer->outcome, BELT_ROUTE_UNRESOLVED);
    assert_int_equal(c.n_chunks, 0); /* the best answer is not the route's answer */
    assert_string_equal(c.answer->answer->content, "Lyon");
    belt_route_answer_free(c.answer);
}

static void route_exec_stream_escalated_tier_never_reaches_client(void **state)
{
    NEED_FAKE(state);
    struct async_ctx c = run_stream("lp-doubt");
    assert_non_null(c.answer);
    assert_true(c.answer->streamed_live); /* the last tier takes any answer: live */
    assert_int_equal((int)c.len, 5);
    assert_memory_equal(c.text, "Paris", 5); /* nothing of the escalated "Lyon" */
    belt_route_answer_free(c.answer);
}

/* ---- API, path format, trace ----------------------------------------------------------------- */

static void route_exec_unknown_name_is_an_error_without_callback(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    json_t *req = request_for("x");
    p.name = "nope";
    p.request = req;
    struct belt_route_answer *a = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_route_call_sync(g_env.e, &p, &a, &err), BELT_ERR_NOTFOUND);
    assert_null(a);
    BELT_ASSERT_CONTAINS(err.msg, "'nope'");
    assert_false(belt_route_exists(g_env.e, "nope"));
    assert_true(belt_route_exists(g_env.e, "lp-sure"));
    assert_true(belt_route_exists(g_env.e, "big"));
    json_decref(req);
}

static void route_exec_tiers_header_and_json(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("lp-doubt", "Capital of France?");
    char hdr[256];
    size_t n = belt_route_answer_tiers(a, hdr, sizeof(hdr));
    BELT_ASSERT_CONTAINS(hdr, "1:small-doubt:");
    BELT_ASSERT_CONTAINS(hdr, ":escalated;2:big:-:accepted");
    assert_int_equal(n, strlen(hdr));
    char small[40];                                   /* room for the first step, not the second */
    belt_route_answer_tiers(a, small, sizeof(small)); /* whole steps only */
    BELT_ASSERT_CONTAINS(small, ":escalated");
    assert_null(strstr(small, "2:big"));
    char *js = belt_route_answer_json(a);
    json_t *o = json_loads(js, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "answered");
    json_t *s0 = json_array_get(json_object_get(o, "steps"), 0);
    assert_int_equal(json_integer_value(json_object_get(s0, "tier")), 1);
    assert_string_equal(json_string_value(json_object_get(s0, "event")), "escalated");
    assert_non_null(json_object_get(json_object_get(s0, "signals"), "logprob_mean"));
    json_decref(o);
    belt_free(js);
    belt_route_answer_free(a);
}

struct steps_seen {
    int n;
    int escalated_with_reason;
    int accepted_tier;
};

static int on_trace_step(void *ud, const struct belt_trace_step_info *s)
{
    struct steps_seen *v = ud;
    v->n++;
    if (strcmp(s->status, "escalated") == 0 && s->reason && strstr(s->reason, "logprob mean"))
        v->escalated_with_reason = 1;
    if (strcmp(s->status, "accepted") == 0)
        v->accepted_tier = s->tier;
    return 0;
}

static int on_trace(void *ud, const struct belt_trace_info *t)
{
    int *found = ud;
    *found = t->route && strcmp(t->route, "lp-doubt") == 0 && strcmp(t->status, "ok") == 0 &&
             t->model && strcmp(t->model, "big") == 0 && t->attrs_json &&
             strstr(t->attrs_json, "\"escalated\"");
    return 0;
}

static void route_exec_trace_records_the_path(void **state)
{
    NEED_FAKE(state);
    struct belt_route_call_params p = belt_route_call_default_params();
    p.trace = 1;
    struct belt_route_answer *a = run_full("lp-doubt", "Capital of France?", &p);
    char id[40];
    snprintf(id, sizeof(id), "%s", a->trace_id);
    belt_route_answer_free(a);
    BELT_ASSERT_OK(belt_engine_flush(g_env.e, 10000, NULL));
    struct belt_store_params sp = belt_store_default_params();
    sp.path = g_env.store;
    struct belt_store *st = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_store_open(&sp, &st, &err), &err);
    struct belt_trace_query q = {0};
    q.id = id;
    int found = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, &q, on_trace, &found, NULL));
    assert_true(found);
    struct steps_seen v = {0, 0, -1};
    BELT_ASSERT_OK(belt_store_trace_steps(st, id, on_trace_step, &v, NULL));
    assert_int_equal(v.n, 2);
    assert_true(v.escalated_with_reason);
    assert_int_equal(v.accepted_tier, 1);
    belt_store_close(st);
}

static void route_exec_answer_copy_outlives_call(void **state)
{
    NEED_FAKE(state);
    struct belt_route_answer *a = run("lp-doubt", "Capital of France?");
    struct belt_route_answer *b = belt_route_answer_copy(a);
    belt_route_answer_free(a);
    assert_non_null(b);
    assert_string_equal(b->route, "lp-doubt");
    assert_string_equal(b->steps[0].reason, "logprob mean -3 < -0.5");
    assert_string_equal(b->answer->content, "Paris");
    belt_route_answer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_exec_confident_answer_accepted_at_tier_1),
        cmocka_unit_test(route_exec_doubtful_answer_escalates_with_reason),
        cmocka_unit_test(route_exec_logprobs_are_requested_for_a_logprob_tier),
        cmocka_unit_test(route_exec_samples_agree_accepts),
        cmocka_unit_test(route_exec_samples_disagree_escalate),
        cmocka_unit_test(route_exec_peer_disagreement_escalates),
        cmocka_unit_test(route_exec_verifier_score_accepts),
        cmocka_unit_test(route_exec_verifier_low_score_escalates),
        cmocka_unit_test(route_exec_fallback_on_error),
        cmocka_unit_test(route_exec_every_target_failing_fails),
        cmocka_unit_test(route_exec_composition_runs_nested_route),
        cmocka_unit_test(route_exec_least_latency_balance_prefers_fast_model),
        cmocka_unit_test(route_exec_cost_budget_skips_expensive_tier),
        cmocka_unit_test(route_exec_request_budget_applies_too),
        cmocka_unit_test(route_exec_budget_outcome_passes_through_rules),
        cmocka_unit_test(route_exec_latency_budget_skips_slow_tier),
        cmocka_unit_test(route_exec_high_stakes_go_to_a_person),
        cmocka_unit_test(route_exec_rule_min_tier_skips_small_model),
        cmocka_unit_test(route_exec_guard_escalation_starts_at_the_strongest_model),
        cmocka_unit_test(route_exec_human_tier_returns_best_answer_unresolved),
        cmocka_unit_test(route_exec_human_provider_model_is_a_person),
        cmocka_unit_test(route_exec_learned_router_picks_tier),
        cmocka_unit_test(route_exec_learned_cost_weight_keeps_dear_task_cheap),
        cmocka_unit_test(route_exec_learned_router_reads_request_tags),
        cmocka_unit_test(route_exec_replay_answers_with_recorded_cost),
        cmocka_unit_test(route_exec_replay_escalates_on_recorded_doubt),
        cmocka_unit_test(route_exec_replay_verifier_and_samples),
        cmocka_unit_test(route_exec_replay_unknown_task_fails_clearly),
        cmocka_unit_test(route_exec_cancel_mid_cascade),
        cmocka_unit_test(route_exec_deadline_ends_with_timeout),
        cmocka_unit_test(route_exec_loop_free_cancels_route_calls),
        cmocka_unit_test(route_exec_stream_single_model_is_live),
        cmocka_unit_test(route_exec_stream_judged_tier_is_replayed_after_judging),
        cmocka_unit_test(route_exec_stream_escalated_tier_never_reaches_client),
        cmocka_unit_test(route_exec_stream_unresolved_is_not_streamed),
        cmocka_unit_test(route_exec_unknown_name_is_an_error_without_callback),
        cmocka_unit_test(route_exec_tiers_header_and_json),
        cmocka_unit_test(route_exec_trace_records_the_path),
        cmocka_unit_test(route_exec_answer_copy_outlives_call),
    };
    if (belt_global_init(NULL) != BELT_OK)
        return 1;
    int rc = cmocka_run_group_tests_name("route_exec", tests, setup, teardown);
    belt_global_cleanup();
    return rc;
}
