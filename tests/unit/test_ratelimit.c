/*
 * test_ratelimit.c — OWASP LLM10 (unbounded consumption) at library level: token-bucket rate
 * limits with Retry-After, tokens per minute, daily and monthly budgets with reservations,
 * no overrun under concurrent requests, spend persisted and shared, period roll-over.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"

static const unsigned char secret[32] = "keys-secret-keys-secret-keys-sec";

struct fixture {
    char dir[256];
    char path[512];
    struct belt_store *st;
    int64_t now; /* fake clock, Unix ms */
    char key[BELT_KEY_TEXT_MAX];
    char id[BELT_KEY_ID_MAX];
};

static int64_t fake_clock(void *ud)
{
    return __atomic_load_n(&((struct fixture *)ud)->now, __ATOMIC_SEQ_CST);
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    belt_test_tmpdir(f.dir, sizeof(f.dir));
    snprintf(f.path, sizeof(f.path), "%s/belt.db", f.dir);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = f.path;
    if (belt_store_open(&sp, &f.st, NULL) != BELT_OK)
        fail_msg("store");
    f.now = belt_wall_ms(); /* `belt keys show` reads the spend of the real current day */
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_store_close(f->st);
    belt_test_rmrf(f->dir);
    return 0;
}

static void make_key(struct fixture *f, const struct belt_key_spec *spec)
{
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_key_create(f->st, NULL, secret, spec, "t", f->key, f->id, &err), &err);
}

static struct belt_keys *service(struct fixture *f)
{
    struct belt_keys_params p = belt_keys_default_params();
    p.store_path = f->path;
    p.secret = secret;
    p.clock = fake_clock;
    p.clock_ud = f;
    p.refresh_ms = 3600000;
    struct belt_keys *k = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_keys_new(&p, &k, &err), &err);
    return k;
}

static belt_status ask(struct belt_keys *k, const struct fixture *f, int64_t tokens, double usd,
                       struct belt_auth_grant *g)
{
    struct belt_auth_request r = {f->key, "m", NULL, NULL, tokens, usd};
    return belt_keys_authorize(k, &r, g, NULL);
}

static void ratelimit_requests_per_minute_with_retry_after(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "rpm";
    spec.rpm = 6; /* one every 10 s, bucket of 6 */
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g;
    for (int i = 0; i < 6; i++) {
        BELT_ASSERT_OK(ask(k, f, 0, 0, &g));
        belt_keys_settle(k, &g, 0, 0);
    }
    BELT_ASSERT_STATUS(ask(k, f, 0, 0, &g), BELT_ERR_RATELIMIT);
    assert_int_equal(g.http_status, 429);
    assert_int_equal(g.retry_after_s, 10);
    f->now += 9000;
    BELT_ASSERT_STATUS(ask(k, f, 0, 0, &g), BELT_ERR_RATELIMIT);
    assert_int_equal(g.retry_after_s, 1);
    f->now += 1000;
    BELT_ASSERT_OK(ask(k, f, 0, 0, &g));
    belt_keys_settle(k, &g, 0, 0);
    belt_keys_free(k);
}

static void ratelimit_burst_sets_bucket_size(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "burst";
    spec.rpm = 60;
    spec.burst = 2;
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g;
    BELT_ASSERT_OK(ask(k, f, 0, 0, &g));
    BELT_ASSERT_OK(ask(k, f, 0, 0, &g));
    BELT_ASSERT_STATUS(ask(k, f, 0, 0, &g), BELT_ERR_RATELIMIT);
    assert_int_equal(g.retry_after_s, 1);
    belt_keys_free(k);
}

static void ratelimit_tokens_per_minute_refund_on_settle(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "tpm";
    spec.tpm = 1000;
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g1, g2;
    BELT_ASSERT_OK(ask(k, f, 800, 0, &g1));
    BELT_ASSERT_STATUS(ask(k, f, 800, 0, &g2), BELT_ERR_RATELIMIT);
    assert_int_equal(g2.retry_after_s, 36); /* 600 missing tokens at 1000/min */
    belt_keys_settle(k, &g1, 0, 100);       /* used 100 of the 800 reserved: 700 come back */
    BELT_ASSERT_OK(ask(k, f, 800, 0, &g2));
    belt_keys_settle(k, &g2, 0, 800);
    belt_keys_free(k);
}

static void ratelimit_daily_budget_with_reservations(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "budget";
    spec.budget_day_usd = 1.0;
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g[4];
    BELT_ASSERT_OK(ask(k, f, 0, 0.4, &g[0]));
    BELT_ASSERT_OK(ask(k, f, 0, 0.4, &g[1]));
    assert_true(g[1].remaining_day_usd > 0.19 && g[1].remaining_day_usd < 0.21);
    BELT_ASSERT_STATUS(ask(k, f, 0, 0.4, &g[2]), BELT_ERR_BUDGET); /* 0.8 reserved + 0.4 */
    assert_int_equal(g[2].http_status, 429);
    assert_true(g[2].retry_after_s > 0 && g[2].retry_after_s <= 86400);
    belt_keys_settle(k, &g[0], 0.1, 10);      /* cheaper than estimated */
    BELT_ASSERT_OK(ask(k, f, 0, 0.4, &g[2])); /* 0.1 spent + 0.8 reserved */
    belt_keys_settle(k, &g[1], 0.4, 10);
    belt_keys_settle(k, &g[2], 0.5, 10); /* the estimate was low: real usage is charged */
    BELT_ASSERT_STATUS(ask(k, f, 0, 0.0, &g[3]), BELT_ERR_BUDGET); /* 1.0 spent: exhausted */
    /* The next UTC day starts afresh. */
    f->now += 86400000;
    BELT_ASSERT_OK(ask(k, f, 0, 0.4, &g[3]));
    belt_keys_settle(k, &g[3], 0.4, 0);
    belt_keys_free(k);
}

static void ratelimit_monthly_budget(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "month";
    spec.budget_month_usd = 0.5;
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g;
    BELT_ASSERT_OK(ask(k, f, 0, 0.5, &g));
    belt_keys_settle(k, &g, 0.5, 0);
    f->now += 60000; /* a minute later: still this month (unless run in its last minute) */
    struct belt_error err = {0};
    struct belt_auth_request r = {f->key, "m", NULL, NULL, 0, 0.01};
    BELT_ASSERT_STATUS(belt_keys_authorize(k, &r, &g, &err), BELT_ERR_BUDGET);
    BELT_ASSERT_CONTAINS(err.msg, "monthly budget");
    assert_true(g.retry_after_s > 0 && g.retry_after_s <= 31 * 86400);
    belt_keys_free(k);
}

static void ratelimit_spend_is_persisted_and_shared(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "persist";
    spec.budget_day_usd = 1.0;
    make_key(f, &spec);
    struct belt_keys *k1 = service(f);
    struct belt_auth_grant g;
    BELT_ASSERT_OK(ask(k1, f, 0, 0.6, &g));
    belt_keys_settle(k1, &g, 0.6, 0);
    BELT_ASSERT_OK(belt_keys_flush(k1, NULL));
    /* A second gateway process sees the spend after loading. */
    struct belt_keys *k2 = service(f);
    BELT_ASSERT_STATUS(ask(k2, f, 0, 0.5, &g), BELT_ERR_BUDGET);
    BELT_ASSERT_OK(ask(k2, f, 0, 0.3, &g));
    belt_keys_settle(k2, &g, 0.3, 0);
    belt_keys_free(k2); /* flushes */
    BELT_ASSERT_OK(belt_keys_refresh(k1, NULL));
    BELT_ASSERT_STATUS(ask(k1, f, 0, 0.2, &g), BELT_ERR_BUDGET);
    belt_keys_free(k1);
    /* And `belt keys show` reads the same figure. */
    double spent = 0;
    extern int belt_test_spent_cb(void *, const struct belt_key_info *);
    BELT_ASSERT_OK(belt_key_show(f->st, "persist", belt_test_spent_cb, &spent, NULL));
    assert_true(spent > 0.899 && spent < 0.901);
}

int belt_test_spent_cb(void *ud, const struct belt_key_info *k);
int belt_test_spent_cb(void *ud, const struct belt_key_info *k)
{
    *(double *)ud = k->spent_day_usd;
    return 0;
}

struct worker {
    struct belt_keys *k;
    struct fixture *f;
    int admitted;
    double charged;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 400; i++) {
        struct belt_auth_grant g;
        struct belt_auth_request r = {w->f->key, "m", NULL, NULL, 10, 0.01};
        if (belt_keys_authorize(w->k, &r, &g, NULL) == BELT_OK) {
            w->admitted++;
            /* Real cost at or below the estimate, varying. */
            double cost = 0.005 + 0.005 * (double)(i % 2);
            w->charged += cost;
            belt_keys_settle(w->k, &g, cost, 10);
        }
    }
    return NULL;
}

static void ratelimit_concurrent_requests_never_overrun_budget(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "race";
    spec.budget_day_usd = 2.0;
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    enum { N = 8 };
    pthread_t t[N];
    struct worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){k, f, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    double total = 0;
    int admitted = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        total += w[i].charged;
        admitted += w[i].admitted;
    }
    /* Never more than the budget when costs stay within estimates, and the budget was used:
     * admission stops only when less than one estimate (0.01) is left. */
    if (total > 2.0 + 1e-9)
        fail_msg("overrun: %.4f USD charged on a 2.00 budget", total);
    assert_true(total > 2.0 - 0.01 - 1e-9);
    assert_true(admitted < N * 400);
    BELT_ASSERT_OK(belt_keys_flush(k, NULL));
    belt_keys_free(k);
    double spent = 0;
    BELT_ASSERT_OK(belt_key_show(f->st, "race", belt_test_spent_cb, &spent, NULL));
    assert_true(spent > total - 1e-6 && spent < total + 1e-6);
}

static void ratelimit_unlimited_key_is_not_limited(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "free";
    make_key(f, &spec);
    struct belt_keys *k = service(f);
    for (int i = 0; i < 1000; i++) {
        struct belt_auth_grant g;
        BELT_ASSERT_OK(ask(k, f, 100000, 5.0, &g));
        assert_true(g.remaining_day_usd < 0);
        belt_keys_settle(k, &g, 5.0, 100000);
    }
    belt_keys_free(k);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(ratelimit_requests_per_minute_with_retry_after),
        T(ratelimit_burst_sets_bucket_size),
        T(ratelimit_tokens_per_minute_refund_on_settle),
        T(ratelimit_daily_budget_with_reservations),
        T(ratelimit_monthly_budget),
        T(ratelimit_spend_is_persisted_and_shared),
        T(ratelimit_concurrent_requests_never_overrun_budget),
        T(ratelimit_unlimited_key_is_not_limited),
    };
    return belt_test_run("ratelimit", tests, BELT_ARRAY_LEN(tests));
}
