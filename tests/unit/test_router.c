/* Unit tests for the learned router (src/learn/router*.c, src/route/router_data.c): it learns
 * which texts a cheap tier gets wrong, chooses the cheapest tier reaching a target, survives a
 * save/load round trip bit for bit, and refuses truncated, corrupt or foreign files. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/rng.h"

#define N_EX 400

static const char *const easy[] = {"reset my password", "where is my order", "track parcel",
                                   "change my address", "cancel the order"};
static const char *const hard[] = {"integral of the contour around the pole",
                                   "prove the lemma about eigenvalues",
                                   "derive the gradient of the tensor contraction"};

/* Synthetic data: the small tier is right on easy texts (95%) and wrong on hard ones (90%);
 * the large tier is right on 95% of everything. */
struct data {
    char text[N_EX][96];                 /* texts */
    int correct[N_EX][2];                /* per tier */
    double cost[N_EX][2];                /* per tier */
    struct belt_router_example ex[N_EX]; /* views */
};

static void make_data(struct data *d)
{
    struct belt_rng rng;
    belt_rng_seed(&rng, 7);
    for (int i = 0; i < N_EX; i++) {
        int is_hard = i % 3 == 0;
        const char *base = is_hard ? hard[belt_rng_below(&rng, 3)] : easy[belt_rng_below(&rng, 5)];
        snprintf(d->text[i], sizeof(d->text[i]), "%s please %d", base, i);
        d->correct[i][0] = is_hard ? belt_rng_uniform(&rng) < 0.1 : belt_rng_uniform(&rng) < 0.95;
        d->correct[i][1] = belt_rng_uniform(&rng) < 0.95;
        d->cost[i][0] = 0.001;
        d->cost[i][1] = 0.03;
        d->ex[i] =
            (struct belt_router_example){d->text[i], strlen(d->text[i]), d->correct[i], d->cost[i]};
    }
}

static const char *const tiers[] = {"small", "large"};

static struct belt_router *train(struct data *d, struct belt_router_params *p)
{
    make_data(d);
    struct belt_router *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_train(p, tiers, 2, d->ex, N_EX, &r, &err), &err);
    return r;
}

static double p_small(const struct belt_router *r, const char *text)
{
    double p[2];
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_predict(r, text, strlen(text), p, 2, &err), &err);
    assert_true(p[0] >= 0 && p[0] <= 1 && p[1] >= 0 && p[1] <= 1);
    return p[0];
}

static void router_learns_which_texts_the_cheap_tier_fails(void **state)
{
    (void)state;
    static struct data d;
    struct belt_router_params p = belt_router_default_params();
    struct belt_router *r = train(&d, &p);
    assert_int_equal(belt_router_n_tiers(r), 2);
    assert_string_equal(belt_router_tier_name(r, 1), "large");
    assert_true(fabs(belt_router_tier_cost(r, 0) - 0.001) < 1e-12);
    double pe = p_small(r, "where is my order please");
    double ph = p_small(r, "prove the lemma about eigenvalues please");
    assert_true(pe > 0.7);
    assert_true(ph < 0.4);
    double pp[2] = {pe, 0.95};
    assert_int_equal(belt_router_choose(r, pp, 0.6), 0);
    pp[0] = ph;
    assert_int_equal(belt_router_choose(r, pp, 0.6), 1);
    assert_int_equal(belt_router_choose(r, pp, 0.99), 1); /* none reaches it: the last */
    BELT_ASSERT_CONTAINS(belt_router_metrics_json(r), "\"dev_auc\"");
    belt_router_free(r);
}

static void router_sufficient_objective_makes_last_tier_certain(void **state)
{
    (void)state;
    static struct data d;
    struct belt_router_params p = belt_router_default_params();
    p.objective = BELT_ROUTER_SUFFICIENT;
    p.calibration = BELT_ROUTER_CALIB_PLATT;
    p.ensemble = 2;
    struct belt_router *r = train(&d, &p);
    double pr[2];
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_router_predict(r, "track parcel please", 19, pr, 2, &err));
    assert_true(pr[1] > 0.99); /* nothing costlier exists: always sufficient */
    BELT_ASSERT_CONTAINS(belt_router_metrics_json(r), "\"objective\":\"sufficient\"");
    belt_router_free(r);
}

static void router_save_load_round_trip_is_exact(void **state)
{
    (void)state;
    static struct data d;
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 12;
    struct belt_router *r = train(&d, &p);
    char dir[256], path[320];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/r.belt", dir);
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_save(r, path, &err), &err);
    struct belt_router *l = NULL;
    BELT_ASSERT_OK_ERR(belt_router_load(path, &l, &err), &err);
    for (int i = 0; i < N_EX; i += 7) {
        double a[2], b[2];
        BELT_ASSERT_OK(belt_router_predict(r, d.text[i], strlen(d.text[i]), a, 2, &err));
        BELT_ASSERT_OK(belt_router_predict(l, d.text[i], strlen(d.text[i]), b, 2, &err));
        assert_true(a[0] == b[0] && a[1] == b[1]);
    }
    assert_string_equal(belt_router_tier_name(l, 0), "small");
    assert_true(belt_router_tier_cost(l, 1) == belt_router_tier_cost(r, 1));
    belt_router_free(l);
    belt_router_free(r);
    belt_test_rmrf(dir);
}

/* Write r, flip byte `at` (mode 0; negative counts from the end) or truncate the file to
 * `at` bytes (mode 1), and expect `want` from loading it. */
static void corrupt_case(const struct belt_router *r, const char *dir, long at, int mode,
                         belt_status want)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/c.belt", dir);
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_router_save(r, path, &err));
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    if (mode == 0) { /* flip one byte */
        fseek(fp, at < 0 ? len + at : at, SEEK_SET);
        int c = fgetc(fp);
        fseek(fp, at < 0 ? len + at : at, SEEK_SET);
        fputc(c ^ 0x5a, fp);
        fclose(fp);
    } else { /* truncate to `at` bytes */
        fclose(fp);
        assert_int_equal(truncate(path, at), 0);
    }
    struct belt_router *l = NULL;
    belt_status st = belt_router_load(path, &l, &err);
    if (st != want)
        fail_msg("at %ld mode %d: expected %s, got %s (%s)", at, mode, belt_status_name(want),
                 belt_status_name(st), err.msg);
    assert_null(l);
}

/* What loading says after byte `at` of the header or section table is altered. */
static belt_status flip_status(long at)
{
    if (at < 8 || (at >= 12 && at < 28))
        return BELT_ERR_FORMAT; /* magic, header size, file size, section count */
    if (at < 12)
        return BELT_ERR_VERSION;
    return BELT_ERR_CHECKSUM; /* flags, the checksum itself, the section table */
}

static void router_refuses_corrupt_truncated_and_foreign_files(void **state)
{
    (void)state;
    static struct data d;
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 10;
    p.ensemble = 1;
    struct belt_router *r = train(&d, &p);
    char dir[256];
    belt_test_tmpdir(dir, sizeof(dir));
    corrupt_case(r, dir, 0, 0, BELT_ERR_FORMAT);     /* magic */
    corrupt_case(r, dir, 8, 0, BELT_ERR_VERSION);    /* version */
    corrupt_case(r, dir, 200, 0, BELT_ERR_CHECKSUM); /* metadata */
    corrupt_case(r, dir, -3, 0, BELT_ERR_CHECKSUM);  /* calibration */
    corrupt_case(r, dir, 100, 1, BELT_ERR_FORMAT);   /* truncated */
    corrupt_case(r, dir, 10, 1, BELT_ERR_FORMAT);    /* truncated inside the header */
    /* every single-byte flip of the header and table is refused without a crash */
    for (long at = 0; at < 160; at++)
        corrupt_case(r, dir, at, 0, flip_status(at));
    belt_router_free(r);
    belt_test_rmrf(dir);
}

static void router_train_rejects_bad_input(void **state)
{
    (void)state;
    static struct data d;
    make_data(&d);
    struct belt_router *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_router_train(NULL, tiers, 2, d.ex, 10, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "at least 20 examples");
    BELT_ASSERT_STATUS(belt_router_train(NULL, tiers, 1, d.ex, N_EX, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "2 to 16 tiers");
    d.ex[30].text = "bad \xff utf-8";
    d.ex[30].len = 11;
    BELT_ASSERT_STATUS(belt_router_train(NULL, tiers, 2, d.ex, N_EX, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "example 31");
    assert_null(r);
}

static void router_trains_from_outcomes_file_with_tiers_by_cost(void **state)
{
    (void)state;
    char dir[256], path[320];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/o.jsonl", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 60; i++)
        fprintf(fp,
                "{\"query\":\"%s %d\",\"models\":{\"big\":{\"correct\":true,\"cost_usd\":0.02},"
                "\"tiny\":{\"correct\":%s,\"cost_usd\":0.001}}}\n",
                i % 2 ? "easy thing" : "hard thing", i, i % 2 ? "true" : "false");
    fclose(fp);
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 12;
    struct belt_router *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_train_file(&p, path, NULL, 0, &r, &err), &err);
    assert_string_equal(belt_router_tier_name(r, 0), "tiny"); /* cheapest first */
    belt_router_free(r);
    const char *named[] = {"tiny", "missing"};
    BELT_ASSERT_STATUS(belt_router_train_file(&p, path, named, 2, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "no model 'missing'");
    belt_test_write_file(path, "{\"query\":\"q\",\"models\":{\"a\":{\"correct\":true},"
                               "\"b\":{\"cost_usd\":1}}}\n");
    BELT_ASSERT_STATUS(belt_router_train_file(&p, path, NULL, 0, &r, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "o.jsonl:1: model 'b' has no 'correct' field");
    belt_test_rmrf(dir);
}

/* Training fails cleanly at every allocation. (Loading is not looped: jansson 2.14 asserts in
 * its lexer when an allocation fails mid-parse, see docs/routes.md "Known limits".) */
static void router_train_survives_every_allocation_failure(void **state)
{
    (void)state;
    static struct data d;
    make_data(&d);
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 10;
    p.ensemble = 2;
    p.epochs = 2;
    for (long n = 1; n < 2000; n++) {
        struct belt_router *r = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = belt_router_train(&p, tiers, 2, d.ex, 40, &r, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        belt_router_free(r);
        if (st == BELT_OK && injected == 0)
            return;
        if (st != BELT_OK && st != BELT_ERR_NOMEM)
            fail_msg("allocation %ld: unexpected %s (%s)", n, belt_status_name(st), err.msg);
    }
    fail_msg("training never completed");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(router_learns_which_texts_the_cheap_tier_fails),
    cmocka_unit_test(router_sufficient_objective_makes_last_tier_certain),
    cmocka_unit_test(router_save_load_round_trip_is_exact),
    cmocka_unit_test(router_refuses_corrupt_truncated_and_foreign_files),
    cmocka_unit_test(router_train_rejects_bad_input),
    cmocka_unit_test(router_trains_from_outcomes_file_with_tiers_by_cost),
    cmocka_unit_test(router_train_survives_every_allocation_failure),
};

BELT_TEST_MAIN(tests)
