/* Unit tests for src/route/offline*.c: the curve metrics (hull, AIQ, APGR, CPT, cost at an
 * accuracy) on hand-computed examples, and a whole evaluation of a cascade over a small replay
 * file whose every figure is worked out by hand in the comments. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "route/offline.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* (cost, accuracy, strong share) */
static const struct belt__curve_point pts[] = {
    {0, 1, 0.60, 0.00}, {0, 2, 0.70, 0.25}, {0, 3, 0.72, 0.50},
    {0, 4, 0.80, 0.75}, {0, 5, 0.80, 1.00}, {0, 2.5, 0.65, 0.40},
};

static void offline_hull_keeps_upper_left_vertices(void **state)
{
    (void)state;
    struct belt__curve_point hull[6];
    size_t n = belt__curve_hull(pts, 6, hull);
    /* (2.5, .65) is below the chord; (3, .72) below (2, .7)–(4, .8); (5, .8) adds nothing */
    assert_int_equal(n, 3);
    NEAR(hull[0].cost, 1);
    NEAR(hull[1].cost, 2);
    NEAR(hull[2].cost, 4);
    NEAR(belt__hull_at(hull, n, 3), 0.75);
    NEAR(belt__hull_at(hull, n, 0.5), 0);
    NEAR(belt__hull_at(hull, n, 6), 0.80);
}

static void offline_aiq_is_area_under_hull_over_cost_range(void **state)
{
    (void)state;
    struct belt__curve_point hull[6];
    size_t n = belt__curve_hull(pts, 6, hull);
    /* ∫1..2 = .65, ∫2..4 = 1.5, ∫4..5 = .8: 2.95 over a range of 4 */
    NEAR(belt__curve_aiq(hull, n, 1, 5), 2.95 / 4);
    /* nothing is reachable below cost 1 */
    NEAR(belt__curve_aiq(hull, n, 0, 5), 2.95 / 5);
    assert_true(isnan(belt__curve_aiq(hull, n, 5, 5)));
}

static void offline_apgr_follows_routellm(void **state)
{
    (void)state;
    /* trapezoids over strong share: .1625 + .10125 + .0685 + .19 + .2 = .72225;
     * (AUC − weak·span) / ((strong − weak)·span) = (.72225 − .6) / .2 */
    NEAR(belt__curve_apgr(pts, 6, 0.6, 0.8), 0.61125);
    /* one point at share .5, joined to (0, .6) and (1, .8) */
    struct belt__curve_point mid = {0, 3, 0.72, 0.50};
    NEAR(belt__curve_apgr(&mid, 1, 0.6, 0.8), ((0.6 + 0.72) / 4 + (0.72 + 0.8) / 4 - 0.6) / 0.2);
    /* a curve from share .25 up: the missing [0, .25] is the line from (0, .6) to (.25, .7),
     * not left out of the span (which would give (.5675 − .45) / .15 = 0.783) */
    NEAR(belt__curve_apgr(pts + 1, 4, 0.6, 0.8), 0.65);
    assert_true(isnan(belt__curve_apgr(pts, 0, 0.6, 0.8)));
    assert_true(isnan(belt__curve_apgr(pts, 6, 0.7, 0.7)));
}

static void offline_cpt_is_first_crossing(void **state)
{
    (void)state;
    NEAR(belt__curve_cpt(pts, 6, 0.6, 0.8, 0.5), 0.25);  /* .7 reached at share .25 */
    NEAR(belt__curve_cpt(pts, 6, 0.6, 0.8, 0.8), 0.625); /* .76 halfway from .5 to .75 */
    assert_true(isnan(belt__curve_cpt(pts, 6, 0.6, 0.8, 1.5)));
}

static void offline_cost_at_accuracy_on_points_and_hull(void **state)
{
    (void)state;
    struct belt__curve_point hull[6];
    size_t n = belt__curve_hull(pts, 6, hull);
    NEAR(belt__curve_cost_at(pts, 6, 0.72), 3);
    NEAR(belt__hull_cost_at(hull, n, 0.72), 2.4); /* mixing the 2 and 4 points */
    assert_true(isnan(belt__curve_cost_at(pts, 6, 0.9)));
    assert_true(isnan(belt__hull_cost_at(hull, n, 0.9)));
}

/* ---- a whole evaluation ----------------------------------------------------------------- */

/* Four tasks; small answers with a confidence, large is sent what small does not keep.
 *   t1: small .90 right ($1)  large right ($10)
 *   t2: small .50 wrong        large right
 *   t3: small .95 wrong        large right
 *   t4: small .30 wrong        large wrong
 * At confidence 0.8: t1, t3 kept at small; t2, t4 escalated: accuracy 2/4, cost (1+11+1+11)/4.
 * Sweep (threshold → accuracy, cost, strong share): 0 and .3 → .25, 1, 0; .5 → .25, 3.5, .25;
 * .9 → .5, 6, .5; .95 → .5, 8.5, .75; above 1 → .75, 11, 1. */
static const char replay[] =
    "{\"id\":\"t1\",\"query\":\"q1\",\"models\":{\"small\":{\"correct\":true,\"cost_usd\":1,"
    "\"confidence\":0.9,\"latency_ms\":10},\"large\":{\"correct\":true,\"cost_usd\":10,"
    "\"latency_ms\":100}}}\n"
    "{\"id\":\"t2\",\"query\":\"q2\",\"models\":{\"small\":{\"correct\":false,\"cost_usd\":1,"
    "\"confidence\":0.5,\"latency_ms\":10},\"large\":{\"correct\":true,\"cost_usd\":10,"
    "\"latency_ms\":100}}}\n"
    "\n"
    "{\"id\":\"t3\",\"query\":\"q3\",\"models\":{\"small\":{\"correct\":false,\"cost_usd\":1,"
    "\"confidence\":0.95,\"latency_ms\":10},\"large\":{\"correct\":true,\"cost_usd\":10,"
    "\"latency_ms\":100}}}\n"
    "{\"id\":\"t4\",\"query\":\"q4\",\"models\":{\"small\":{\"correct\":false,\"cost_usd\":1,"
    "\"confidence\":0.3,\"latency_ms\":10},\"large\":{\"correct\":false,\"cost_usd\":10,"
    "\"latency_ms\":100}}}\n";

static const char yaml[] = "models:\n  small: { provider: replay }\n  large: { provider: replay }\n"
                           "routes:\n  c: { cascade: [ { model: small, accept: { confidence: 0.8 "
                           "} }, large ] }\n  big: { fixed: large }\n";

struct fixture {
    char dir[256];           /* temporary directory */
    char path[320];          /* the replay file */
    struct belt_config *cfg; /* the configuration */
};

static void setup(struct fixture *fx, const char *data)
{
    belt_test_tmpdir(fx->dir, sizeof(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/outcomes.jsonl", fx->dir);
    belt_test_write_file(fx->path, data);
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "o.yaml", ".", &fx->cfg, &err), &err);
}

static void teardown(struct fixture *fx)
{
    belt_config_free(fx->cfg);
    belt_test_rmrf(fx->dir);
}

static void offline_cascade_figures_match_hand_computation(void **state)
{
    (void)state;
    struct fixture fx;
    setup(&fx, replay);
    struct belt_route_report *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_route_eval(fx.cfg, "c", fx.path, NULL, &r, &err), &err);
    NEAR(belt_route_report_accuracy(r), 0.5);
    NEAR(belt_route_report_cost_per_task(r), 6);
    assert_int_equal(r->n_pts, 6);
    assert_int_equal(r->n_shares, 2);
    assert_int_equal(r->shares[0].n, 2);
    NEAR(r->latency_mean_ms, 60); /* (10 + 110 + 10 + 110) / 4 */
    /* best single model: large, .75 at $10; the cascade needs $11 to match it */
    assert_string_equal(r->singles[r->best].name, "large");
    NEAR(r->cost_best, 11);
    NEAR(belt_route_report_saving(r), -0.1);
    /* APGR: AUC .4375 over share [0, 1]; (.4375 − .25) / .5 */
    NEAR(belt_route_report_apgr(r), 0.375);
    NEAR(r->cpt50, 0.5);
    NEAR(r->oracle_accuracy, 0.75);
    NEAR(r->oracle_cost, 5.5); /* t1 small $1, t2 and t3 large $10, t4 the cheapest $1 */
    char *json = belt_route_report_json(r);
    BELT_ASSERT_CONTAINS(json, "\"apgr\":0.375");
    BELT_ASSERT_CONTAINS(json, "\"accuracy\":0.5");
    BELT_ASSERT_CONTAINS(json, "\"reason\":\"confidence 0.9 >= 0.8\"");
    char *html = belt_route_report_html(r);
    BELT_ASSERT_CONTAINS(html, "<svg");
    BELT_ASSERT_CONTAINS(html, "class=\"hull\"");
    char *text = belt_route_report_text(r);
    BELT_ASSERT_CONTAINS(text, "APGR 0.3750");
    belt_free(json);
    belt_free(html);
    belt_free(text);
    belt_route_report_free(r);
    teardown(&fx);
}

static void offline_fixed_route_has_no_sweep(void **state)
{
    (void)state;
    struct fixture fx;
    setup(&fx, replay);
    struct belt_route_report *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_route_eval(fx.cfg, "big", fx.path, NULL, &r, &err), &err);
    NEAR(belt_route_report_accuracy(r), 0.75);
    assert_int_equal(r->swept, 0);
    assert_true(isnan(belt_route_report_apgr(r)));
    NEAR(belt_route_report_saving(r), 0);
    belt_route_report_free(r);
    teardown(&fx);
}

static void offline_errors_name_route_file_and_line(void **state)
{
    (void)state;
    struct fixture fx;
    setup(&fx, "{\"query\":\"q\",\"models\":{\"small\":{\"correct\":true,\"cost_usd\":1,"
               "\"confidence\":0.1}}}\n");
    struct belt_route_report *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_route_eval(fx.cfg, "nope", fx.path, NULL, &r, &err), BELT_ERR_NOTFOUND);
    BELT_ASSERT_CONTAINS(err.msg, "no route 'nope'");
    BELT_ASSERT_STATUS(belt_route_eval(fx.cfg, "c", fx.path, NULL, &r, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "model 'large', which has no outcomes");
    assert_null(r);
    teardown(&fx);
    setup(&fx, "{\"query\":\"q\",\"models\":{\"small\":{\"correct\":true,\"confidence\":0.1},"
               "\"large\":{\"correct\":true}}}\n"
               "{\"query\":\"q2\",\"models\":{\"small\":{\"correct\":true,\"confidence\":0.1}}}\n");
    BELT_ASSERT_STATUS(belt_route_eval(fx.cfg, "c", fx.path, NULL, &r, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "outcomes.jsonl:2: no outcome for model 'large'");
    teardown(&fx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(offline_hull_keeps_upper_left_vertices),
    cmocka_unit_test(offline_aiq_is_area_under_hull_over_cost_range),
    cmocka_unit_test(offline_apgr_follows_routellm),
    cmocka_unit_test(offline_cpt_is_first_crossing),
    cmocka_unit_test(offline_cost_at_accuracy_on_points_and_hull),
    cmocka_unit_test(offline_cascade_figures_match_hand_computation),
    cmocka_unit_test(offline_fixed_route_has_no_sweep),
    cmocka_unit_test(offline_errors_name_route_file_and_line),
};

BELT_TEST_MAIN(tests)
