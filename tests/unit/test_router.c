/* Unit tests for the learned router (src/learn/router*.c, src/route/router_data.c): it learns
 * which texts a cheap tier gets wrong, chooses the cheapest tier reaching a target, survives a
 * save/load round trip bit for bit, and refuses truncated, corrupt or foreign files; its shape
 * features measure a text's layout (not its words) and let it learn what n-grams cannot see;
 * its search keeps the candidate with the best dev AUC. */
#include "testutil.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "learn/router.h"
#include "route/policy.h"
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
        d->ex[i] = (struct belt_router_example){
            d->text[i], strlen(d->text[i]), d->correct[i], d->cost[i], NULL, 0};
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
    p.shape = 1; /* the shape features too (the version-1 test below saves without) */
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
    for (p.search = 0; p.search <= 1; p.search++) { /* with search: 100 examples, a dev split */
        long n = 1;
        for (; n < 20000; n++) {
            struct belt_router *r = NULL;
            struct belt_error err = {0};
            belt__alloc_fail_after(n, 1);
            belt_status st = belt_router_train(&p, tiers, 2, d.ex, p.search ? 100 : 40, &r, &err);
            long injected = belt__alloc_n_injected();
            belt__alloc_fail_after(0, 0);
            belt_router_free(r);
            if (st == BELT_OK && injected == 0)
                break;
            if (st != BELT_OK && st != BELT_ERR_NOMEM)
                fail_msg("allocation %ld: unexpected %s (%s)", n, belt_status_name(st), err.msg);
        }
        if (n == 20000)
            fail_msg("training never completed (search %d)", p.search);
    }
}

/* ---- shape features ------------------------------------------------------------------------- */

struct shapes {
    uint64_t h[BELT__ROUTER_N_SHAPE + 4];
    size_t n;
};

static void shape_collect(void *ud, uint64_t hash)
{
    struct shapes *s = ud;
    if (s->n < BELT__ROUTER_N_SHAPE + 4)
        s->h[s->n] = hash;
    s->n++;
}

static struct shapes shapes_of(const char *text)
{
    struct shapes s;
    memset(&s, 0, sizeof(s));
    belt__router_shape_each(text, strlen(text), shape_collect, &s);
    assert_int_equal(s.n, BELT__ROUTER_N_SHAPE);
    for (size_t i = 0; i < s.n; i++)
        assert_true(s.h[i] != 0);
    return s;
}

/* Indices of the measures (see belt__router_shape_each). */
enum {
    SH_WORDS,
    SH_NUMBERS,
    SH_OPS,
    SH_OPTIONS,
    SH_STEM,
    SH_OPTION_WORDS,
    SH_NUMERIC_OPTIONS,
    SH_QUESTIONS,
    SH_LINES,
    SH_STEM_X_NUMBERS,
    SH_FIRST,
    SH_LAST,
    SH_LAST2
};

static void router_shape_features_measure_layout_not_words(void **state)
{
    (void)state;
    const char *a = "What is 12 + 30?\nA. 40\nB. 42\nC. 44\nD. 46\nAnswer:";
    struct shapes sa = shapes_of(a);
    /* other words and other numbers, the same layout: every feature is the same */
    struct shapes sb = shapes_of("what is 7 * 915?\nA. 1\nB. 8\nC. 3\nD. 2\nanswer:");
    for (int i = 0; i < BELT__ROUTER_N_SHAPE; i++)
        if (sa.h[i] != sb.h[i])
            fail_msg("measure %d differs between texts of one layout", i);
    /* two options fewer: the option count changes, the first token does not */
    struct shapes sc = shapes_of("What is 12 + 30?\nA. 40\nB. 42\nAnswer:");
    assert_true(sc.h[SH_OPTIONS] != sa.h[SH_OPTIONS]);
    assert_true(sc.h[SH_FIRST] == sa.h[SH_FIRST]);
    assert_true(sc.h[SH_LINES] == sa.h[SH_LINES]); /* 4 and 6 lines: one bucket (3-6) */
    struct shapes sl = shapes_of("What is 12 + 30? Answer:");
    assert_true(sl.h[SH_LINES] != sa.h[SH_LINES]);
    assert_true(sl.h[SH_OPTIONS] != sa.h[SH_OPTIONS]);
    assert_true(sc.h[SH_STEM] == sa.h[SH_STEM]);
    /* options that are words, not numbers */
    struct shapes sd = shapes_of("What is 12 + 30?\nA. red\nB. blue\nC. green\nD. 46\nAnswer:");
    assert_true(sd.h[SH_NUMERIC_OPTIONS] != sa.h[SH_NUMERIC_OPTIONS]);
    assert_true(sd.h[SH_OPTIONS] == sa.h[SH_OPTIONS]);
    /* no operator, no question mark, one number */
    struct shapes se =
        shapes_of("Name the 3 primary colours.\nA. 40\nB. 42\nC. 44\nD. 46\nAnswer:");
    assert_true(se.h[SH_OPS] != sa.h[SH_OPS]);
    assert_true(se.h[SH_QUESTIONS] != sa.h[SH_QUESTIONS]);
    assert_true(se.h[SH_FIRST] != sa.h[SH_FIRST]);
    /* the last tokens: a final "#### N" is one shape whatever N; a cut-off answer is another */
    struct shapes f1 = shapes_of("She pays 3 * 4 = 12 dollars.\n#### 12\n");
    struct shapes f2 = shapes_of("Total: 40 + 24 = 64.\n#### 64");
    struct shapes f3 = shapes_of("Total: 40 + 24 = <<40+2");
    assert_true(f1.h[SH_LAST2] == f2.h[SH_LAST2]);
    assert_true(f1.h[SH_LAST] == f2.h[SH_LAST]);
    assert_true(f3.h[SH_LAST2] != f2.h[SH_LAST2]);
    /* the measures live in separate hash spaces: no two features of a text are equal */
    for (int i = 0; i < BELT__ROUTER_N_SHAPE; i++)
        for (int j = i + 1; j < BELT__ROUTER_N_SHAPE; j++)
            assert_true(sa.h[i] != sa.h[j]);
    /* any bytes, and the empty text, are measured without complaint */
    shapes_of("");
    shapes_of("\xff\xfe\n\n");
}

/* The small tier fails when the text holds many numbers; the numbers are random (each one a
 * new token) and the words are drawn alike for both kinds, so the n-grams see it only faintly
 * (through the text's length: a gap of about 0.19), the shape features plainly (about 0.77). */
#define N_SHAPE_EX 600

static double shape_gap(int shape)
{
    static const char *const pool[] = {"apples", "trains", "boxes", "lamps", "coins",
                                       "birds",  "pens",   "cups",  "hats",  "keys"};
    static char text[N_SHAPE_EX][160];
    static int correct[N_SHAPE_EX][2];
    static struct belt_router_example ex[N_SHAPE_EX];
    struct belt_rng rng;
    belt_rng_seed(&rng, 11);
    for (int i = 0; i < N_SHAPE_EX; i++) {
        int many = i % 2, len = 0;
        for (int w = 0; w < 5; w++)
            len += snprintf(text[i] + len, sizeof(text[i]) - (size_t)len, "%s ",
                            pool[belt_rng_below(&rng, 10)]);
        for (int k = 0; k < (many ? 6 : 1); k++)
            len += snprintf(text[i] + len, sizeof(text[i]) - (size_t)len, "%u ",
                            (unsigned)belt_rng_below(&rng, 1000000));
        correct[i][0] = many ? belt_rng_uniform(&rng) < 0.1 : belt_rng_uniform(&rng) < 0.9;
        correct[i][1] = 1;
        ex[i] = (struct belt_router_example){text[i], (size_t)len, correct[i], NULL, NULL, 0};
    }
    struct belt_router_params p = belt_router_default_params();
    p.char_min = p.char_max = 0;
    p.bucket_bits = 14;
    p.ensemble = 1;
    p.shape = shape;
    struct belt_router *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_train(&p, tiers, 2, ex, N_SHAPE_EX, &r, &err), &err);
    BELT_ASSERT_CONTAINS(belt_router_metrics_json(r), shape ? "\"shape\":true" : "\"shape\":false");
    double few = p_small(r, "keys cups hats birds pens 314159");
    double lots = p_small(r, "keys cups hats birds pens 271828 161803 141421 173205 223606 244948");
    belt_router_free(r);
    return few - lots;
}

static void router_shape_features_learn_what_ngrams_cannot_see(void **state)
{
    (void)state;
    double with = shape_gap(1), without = shape_gap(0);
    if (!(with > 0.5 && with > without + 0.3))
        fail_msg("P(small right) few numbers - many numbers: %.3f with shape features, %.3f "
                 "without",
                 with, without);
}

/* Rewrite a router file's format version and fix its checksum, as a writer of that version
 * would have sealed it; with drop_shape, META loses its features.shape (which version 1 did
 * not have) — blanked out, so offsets stay. */
static void reseal(const char *path, unsigned version, int drop_shape)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)n);
    assert_non_null(d);
    assert_int_equal(fread(d, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    d[8] = (unsigned char)version;
    if (drop_shape) {
        static const char key[] = ",\"shape\":false";
        unsigned char *k = NULL;
        for (long i = 0; !k && i + (long)sizeof(key) - 1 <= n; i++)
            if (memcmp(d + i, key, sizeof(key) - 1) == 0)
                k = d + i;
        assert_non_null(k);
        memset(k, ' ', sizeof(key) - 1);
    }
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    crypto_generichash_update(&hs, d, 32);
    crypto_generichash_update(&hs, d + 64, (size_t)n - 64);
    crypto_generichash_final(&hs, d + 32, 32);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(d, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    free(d);
}

/* Files of format version 1 (before the shape features) still load, as routers without them;
 * a version from the future is refused by name; shape must be 0 or 1. */
static void router_reads_version_1_files_and_refuses_newer(void **state)
{
    (void)state;
    static struct data d;
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 10;
    p.ensemble = 1;
    p.shape = 0;
    struct belt_router *r = train(&d, &p);
    char dir[256], path[320];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/v.belt", dir);
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_router_save(r, path, &err));
    struct belt_router *l = NULL;
    BELT_ASSERT_OK_ERR(belt_router_load(path, &l, &err), &err); /* shape off round-trips */
    BELT_ASSERT_CONTAINS(belt_router_metrics_json(l), "\"shape\":false");
    belt_router_free(l);
    reseal(path, 1, 1);
    BELT_ASSERT_OK_ERR(belt_router_load(path, &l, &err), &err);
    double a[2], b[2];
    BELT_ASSERT_OK(belt_router_predict(r, d.text[3], strlen(d.text[3]), a, 2, &err));
    BELT_ASSERT_OK(belt_router_predict(l, d.text[3], strlen(d.text[3]), b, 2, &err));
    assert_true(a[0] == b[0] && a[1] == b[1]);
    belt_router_free(l);
    l = NULL;
    reseal(path, 3, 0); /* version 3 must say whether it reads tags */
    BELT_ASSERT_STATUS(belt_router_load(path, &l, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "META has bad fields");
    reseal(path, 4, 0);
    BELT_ASSERT_STATUS(belt_router_load(path, &l, &err), BELT_ERR_VERSION);
    BELT_ASSERT_CONTAINS(err.msg, "router format version 4, this build reads versions 1 to 3");
    assert_null(l);
    p.shape = 2;
    BELT_ASSERT_STATUS(belt_router_train(&p, tiers, 2, d.ex, N_EX, &l, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "shape, tags and search must be 0 or 1");
    belt_router_free(r);
    belt_test_rmrf(dir);
}

/* Tags as features: the same texts, the small tier right under one tag and wrong under the
 * other. A router trained with tags tells them apart, saves as version 3 and loads with them; one
 * trained without cannot, and ignores tags given to it. */
static void router_reads_tags_when_trained_with_them(void **state)
{
    (void)state;
    static struct data d;
    static const char *const easy_tag[] = {"billing"}, *const hard_tag[] = {"legal", "legal"};
    make_data(&d);
    for (int i = 0; i < N_EX; i++) {
        snprintf(d.text[i], sizeof(d.text[i]), "a question about my account %d", i % 7);
        int legal = i % 2 == 0;
        d.correct[i][0] = legal ? i % 10 == 0 : i % 10 != 1;
        d.ex[i].len = strlen(d.text[i]);
        d.ex[i].tags = legal ? hard_tag : easy_tag;
        d.ex[i].n_tags = legal ? 2 : 1;
    }
    const char *text = "a question about my account 3";
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 12;
    p.tags = 1;
    struct belt_router *r = NULL, *plain = NULL, *l = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_train(&p, tiers, 2, d.ex, N_EX, &r, &err), &err);
    p.tags = 0;
    BELT_ASSERT_OK_ERR(belt_router_train(&p, tiers, 2, d.ex, N_EX, &plain, &err), &err);
    assert_true(belt_router_uses_tags(r) && !belt_router_uses_tags(plain));
    double e[2], h[2], none[2], pe[2], ph[2];
    BELT_ASSERT_OK(belt_router_predict_tagged(r, text, strlen(text), easy_tag, 1, e, 2, &err));
    BELT_ASSERT_OK(belt_router_predict_tagged(r, text, strlen(text), hard_tag, 2, h, 2, &err));
    BELT_ASSERT_OK(belt_router_predict(r, text, strlen(text), none, 2, &err));
    if (!(e[0] > 0.7 && h[0] < 0.3))
        fail_msg("P(small right): %.3f under 'billing', %.3f under 'legal'", e[0], h[0]);
    assert_true(none[0] > h[0] && none[0] < e[0]); /* no tag: in between */
    BELT_ASSERT_OK(belt_router_predict_tagged(plain, text, strlen(text), easy_tag, 1, pe, 2, &err));
    BELT_ASSERT_OK(belt_router_predict_tagged(plain, text, strlen(text), hard_tag, 2, ph, 2, &err));
    assert_true(pe[0] == ph[0] && fabs(pe[0] - 0.5) < 0.15);
    char dir[256], path[320];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/t.belt", dir);
    BELT_ASSERT_OK(belt_router_save(r, path, &err));
    BELT_ASSERT_OK_ERR(belt_router_load(path, &l, &err), &err);
    double le[2];
    BELT_ASSERT_OK(belt_router_predict_tagged(l, text, strlen(text), easy_tag, 1, le, 2, &err));
    assert_true(belt_router_uses_tags(l) && le[0] == e[0] && le[1] == e[1]);
    FILE *fp = fopen(path, "rb");
    unsigned char head[12];
    assert_int_equal(fread(head, 1, sizeof(head), fp), sizeof(head));
    fclose(fp);
    assert_int_equal(head[8], 3);
    belt_router_free(l);
    belt_router_free(r);
    belt_router_free(plain);
    belt_test_rmrf(dir);
}

/* Weights go on an 8-bit grid per tier: integers in [-127, 127] times a power of two, the
 * largest at the top of the range, the grid idempotent, and packing keeps every value. */
static void router_weights_are_8_bit_times_a_power_of_two(void **state)
{
    (void)state;
    struct belt_router *r = belt__router_alloc(2, 10);
    assert_non_null(r);
    size_t nb = (size_t)r->mask + 1;
    struct belt_rng rng;
    belt_rng_seed(&rng, 3);
    for (size_t b = 0; b < nb; b++) {
        r->w[b * 2] = (float)((belt_rng_uniform(&rng) - 0.5) * 3.7);      /* max ~1.85 */
        r->w[b * 2 + 1] = (float)((belt_rng_uniform(&rng) - 0.5) * 1e-3); /* tiny */
    }
    float before[2 * 1024];
    memcpy(before, r->w, sizeof(before));
    for (size_t t = 0; t < 2; t++)
        belt__router_quantize_tier(r, t);
    for (size_t t = 0; t < 2; t++) {
        int e = 0;
        double m = frexp((double)r->qscale[t], &e);
        assert_true(m == 0.5); /* a power of two */
        double top = 0, worst = 0;
        for (size_t b = 0; b < nb; b++) {
            double k = (double)r->w[b * 2 + t] / r->qscale[t];
            assert_true(k == nearbyint(k) && fabs(k) <= 127);
            top = fmax(top, fabs(k));
            worst = fmax(worst, fabs((double)r->w[b * 2 + t] - before[b * 2 + t]));
        }
        assert_true(top >= 64); /* the grid is no coarser than it must be */
        assert_true(worst <= r->qscale[t] / 2 + 1e-12);
    }
    float on_grid[2 * 1024];
    memcpy(on_grid, r->w, sizeof(on_grid));
    float scales[2] = {r->qscale[0], r->qscale[1]};
    for (size_t t = 0; t < 2; t++)
        belt__router_quantize_tier(r, t);
    assert_memory_equal(on_grid, r->w, sizeof(on_grid)); /* idempotent */
    assert_true(scales[0] == r->qscale[0] && scales[1] == r->qscale[1]);
    BELT_ASSERT_OK(belt__router_pack(r));
    assert_null(r->w);
    for (size_t i = 0; i < 2 * nb; i++)
        assert_true((double)r->q[i] * r->qscale[i % 2] == (double)on_grid[i]);
    belt_router_free(r);
}

/* A learned route with cost_weight needs the router's mean tier costs: a router trained without
 * costs is refused when the routes load, naming the route, the key, the file and the tier. */
static void router_cost_weight_needs_tier_costs(void **state)
{
    (void)state;
    static struct data d;
    char dir[256], with[320], without[320], yaml[1024];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(with, sizeof(with), "%s/with.belt", dir);
    snprintf(without, sizeof(without), "%s/without.belt", dir);
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 10;
    p.ensemble = 1;
    struct belt_router *r = train(&d, &p);
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_router_save(r, with, &err), &err);
    belt_router_free(r);
    for (int i = 0; i < N_EX; i++)
        d.cost[i][0] = d.cost[i][1] = NAN; /* outcomes without cost_usd */
    r = NULL;
    BELT_ASSERT_OK_ERR(belt_router_train(&p, tiers, 2, d.ex, N_EX, &r, &err), &err);
    assert_true(isnan(belt_router_tier_cost(r, 0)));
    BELT_ASSERT_OK_ERR(belt_router_save(r, without, &err), &err);
    belt_router_free(r);
    for (int k = 0; k < 3; k++) {
        snprintf(yaml, sizeof(yaml),
                 "models:\n  small: { provider: replay }\n  large: { provider: replay }\n"
                 "routes:\n  r: { learned: { router: %s, cost_weight: %s, tiers: [small, large] "
                 "} }\n",
                 k == 1 ? with : without, k == 2 ? "0" : "0.5");
        struct belt_config *cfg = NULL;
        BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "r.yaml", dir, &cfg, &err), &err);
        struct belt_router **routers = NULL;
        belt_status st = belt__route_routers_load(cfg, NULL, &routers, &err);
        if (k == 0) { /* weighted, no costs */
            assert_int_equal(st, BELT_ERR_CONFIG);
            BELT_ASSERT_CONTAINS(err.msg, "routes.r.cost_weight: the router");
            BELT_ASSERT_CONTAINS(err.msg, "without.belt has no mean cost for tier 1 (small)");
            assert_null(routers);
        } else { /* weighted with costs, or unweighted without */
            BELT_ASSERT_OK_ERR(st, &err);
            assert_non_null(routers[0]);
            belt__route_routers_free(routers, cfg->routes.n);
        }
        belt_config_free(cfg);
    }
}

/* ---- the search ----------------------------------------------------------------------------- */

/* The router's metrics as JSON (owned by the caller). */
static json_t *metrics_of(const struct belt_router *r)
{
    json_t *m = json_loads(belt_router_metrics_json(r), 0, NULL);
    assert_non_null(m);
    return m;
}

/* With search, every candidate (char n-grams as given or none, times l2 × 1, 10, 30) is in the
 * metrics with its dev AUC, the one kept has the best (the first of equals), and it is the very
 * router a training with the chosen values gives. Without a dev split the given values are kept;
 * without an L2 penalty only the features vary. */
static void router_search_keeps_the_candidate_with_the_best_dev_auc(void **state)
{
    (void)state;
    static struct data d;
    struct belt_router_params p = belt_router_default_params();
    p.bucket_bits = 12;
    p.ensemble = 2;
    p.search = 1;
    struct belt_router *r = train(&d, &p);
    json_t *m = metrics_of(r), *c, *search = json_object_get(m, "search");
    assert_int_equal(json_array_size(search), 6);
    size_t i, chosen = 99, n_chosen = 0;
    double best = -1, auc_min = 2;
    json_array_foreach(search, i, c)
    {
        double auc = json_real_value(json_object_get(c, "dev_auc"));
        assert_true(auc > 0.5 && auc <= 1);
        auc_min = BELT_MIN(auc_min, auc);
        if (json_is_true(json_object_get(c, "chosen"))) {
            chosen = i;
            n_chosen++;
        }
        if (auc > best)
            best = auc;
    }
    assert_int_equal(n_chosen, 1);
    assert_true(auc_min < best); /* the candidates differ: the choice means something */
    json_t *ch = json_array_get(search, chosen);
    assert_true(json_real_value(json_object_get(ch, "dev_auc")) == best);
    for (i = 0; i < chosen; i++) /* the first of equals */
        assert_true(json_real_value(json_object_get(json_array_get(search, i), "dev_auc")) < best);
    struct belt_router_params q = p;
    q.search = 0;
    q.char_min = (int)json_integer_value(json_object_get(ch, "char_min"));
    q.char_max = (int)json_integer_value(json_object_get(ch, "char_max"));
    q.l2 = json_real_value(json_object_get(ch, "l2"));
    assert_true(json_real_value(json_object_get(m, "l2")) == q.l2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(m, "features"), "char_min")),
        q.char_min);
    struct belt_router *direct = train(&d, &q);
    for (int k = 0; k < 8; k++)
        assert_true(p_small(r, d.text[k]) == p_small(direct, d.text[k]));
    belt_router_free(direct);
    belt_router_free(r);
    json_decref(m);

    p.dev_fraction = 0; /* nothing to compare on */
    r = train(&d, &p);
    m = metrics_of(r);
    search = json_object_get(m, "search");
    assert_int_equal(json_array_size(search), 1);
    assert_true(json_is_null(json_object_get(json_array_get(search, 0), "dev_auc")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(m, "features"), "char_min")), 3);
    belt_router_free(r);
    json_decref(m);

    p.dev_fraction = 0.2;
    p.l2 = 0;
    r = train(&d, &p);
    m = metrics_of(r);
    assert_int_equal(json_array_size(json_object_get(m, "search")), 2);
    belt_router_free(r);
    json_decref(m);

    p.search = 2;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_router_train(&p, tiers, 2, d.ex, N_EX, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "shape, tags and search must be 0 or 1");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(router_learns_which_texts_the_cheap_tier_fails),
    cmocka_unit_test(router_sufficient_objective_makes_last_tier_certain),
    cmocka_unit_test(router_save_load_round_trip_is_exact),
    cmocka_unit_test(router_refuses_corrupt_truncated_and_foreign_files),
    cmocka_unit_test(router_train_rejects_bad_input),
    cmocka_unit_test(router_trains_from_outcomes_file_with_tiers_by_cost),
    cmocka_unit_test(router_train_survives_every_allocation_failure),
    cmocka_unit_test(router_shape_features_measure_layout_not_words),
    cmocka_unit_test(router_shape_features_learn_what_ngrams_cannot_see),
    cmocka_unit_test(router_reads_version_1_files_and_refuses_newer),
    cmocka_unit_test(router_reads_tags_when_trained_with_them),
    cmocka_unit_test(router_weights_are_8_bit_times_a_power_of_two),
    cmocka_unit_test(router_cost_weight_needs_tier_costs),
    cmocka_unit_test(router_search_keeps_the_candidate_with_the_best_dev_auc),
};

BELT_TEST_MAIN(tests)
