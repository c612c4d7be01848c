/*
 * test_keys.c — API keys: creation (shown once, stored as a keyed hash), listing, revocation,
 * and the gateway's authorisation decision (401 / 403), with secrets kept out of every
 * message. Rate limits and budgets: test_ratelimit.c.
 */
#include "testutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

static const unsigned char secret[32] = "keys-secret-keys-secret-keys-sec";

struct fixture {
    char dir[256];
    char path[512];
    struct belt_store *st;
    struct belt_audit *audit;
    int64_t now;
};

static int64_t fake_clock(void *ud)
{
    return ((struct fixture *)ud)->now;
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
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = f.st;
    ap.key = secret;
    ap.key_len = sizeof(secret);
    if (belt_audit_open(&ap, &f.audit, NULL) != BELT_OK)
        fail_msg("audit");
    f.now = 1795000000000LL;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_audit_close(f->audit);
    belt_store_close(f->st);
    belt_test_rmrf(f->dir);
    return 0;
}

static void create(struct fixture *f, const struct belt_key_spec *spec, char *key, char *id)
{
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_key_create(f->st, f->audit, secret, spec, "test", key, id, &err), &err);
}

static struct belt_keys *service(struct fixture *f)
{
    struct belt_keys_params p = belt_keys_default_params();
    p.store_path = f->path;
    p.secret = secret;
    p.clock = fake_clock;
    p.clock_ud = f;
    struct belt_keys *k = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_keys_new(&p, &k, &err), &err);
    return k;
}

/* Authorize and check status, HTTP code, and that the message never echoes the key. */
static struct belt_auth_grant authorize(struct belt_keys *k, const char *key, const char *model,
                                        belt_status want, int http)
{
    struct belt_auth_request r = {key, model, NULL, NULL, 0, 0};
    struct belt_auth_grant g;
    struct belt_error err = {0};
    belt_status s = belt_keys_authorize(k, &r, &g, &err);
    if (s != want)
        fail_msg("authorize returned %s (%s), expected %s", belt_status_name(s), err.msg,
                 belt_status_name(want));
    assert_int_equal(g.http_status, http);
    if (key && *key && strlen(key) > 8)
        assert_null(strstr(err.msg, key + 5));
    return g;
}

static void keys_create_stores_only_a_hash(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "alice";
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    assert_int_equal(strncmp(key, "belt_", 5), 0);
    assert_true(strlen(key) >= 45);
    assert_int_equal(strncmp(id, "key_", 4), 0);
    /* Nothing in the database file contains the key's secret part. */
    belt_audit_close(f->audit);
    belt_store_close(f->st);
    f->st = NULL;
    char *db = NULL;
    size_t n = 0;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_file_read_all(f->path, (size_t)1 << 26, &db, &n, &err));
    for (size_t i = 0; i + 20 <= n; i++)
        if (memcmp(db + i, key + 12, 20) == 0)
            fail_msg("the key's secret part is stored at byte %zu", i);
    belt_free(db);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = f->path;
    BELT_ASSERT_OK(belt_store_open(&sp, &f->st, NULL));
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = f->st;
    ap.key = secret;
    ap.key_len = sizeof(secret);
    BELT_ASSERT_OK(belt_audit_open(&ap, &f->audit, NULL));
}

static int count_key(void *ud, const struct belt_key_info *k)
{
    int *n = ud;
    (*n)++;
    assert_non_null(k->prefix);
    assert_int_equal(strlen(k->prefix), 12);
    return 0;
}

struct shown {
    int n;
    int64_t revoked;
    double budget_day;
    char allow[256];
};

static int show_key(void *ud, const struct belt_key_info *k)
{
    struct shown *s = ud;
    s->n++;
    s->revoked = k->revoked_ms;
    s->budget_day = k->budget_day_usd;
    snprintf(s->allow, sizeof(s->allow), "%s", k->allow_json);
    return 0;
}

static void keys_list_show_revoke(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    const char *models[] = {"gpt-*", "small"};
    spec.name = "bob";
    spec.models = models;
    spec.n_models = 2;
    spec.budget_day_usd = 2.5;
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    spec.name = "carol";
    spec.n_models = 0;
    create(f, &spec, key, id);
    int n = 0;
    BELT_ASSERT_OK(belt_key_list(f->st, count_key, &n, NULL));
    assert_int_equal(n, 2);
    struct shown s = {0};
    BELT_ASSERT_OK(belt_key_show(f->st, "bob", show_key, &s, NULL));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.allow, "{\"models\":[\"gpt-*\",\"small\"]}");
    assert_true(s.budget_day > 2.49 && s.budget_day < 2.51);
    BELT_ASSERT_OK(belt_key_revoke(f->st, f->audit, id, "test", NULL)); /* carol by id */
    memset(&s, 0, sizeof(s));
    BELT_ASSERT_OK(belt_key_show(f->st, "carol", show_key, &s, NULL));
    assert_true(s.revoked > 0);
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_key_revoke(f->st, f->audit, "carol", "test", &err), BELT_ERR_INVALID);
    BELT_ASSERT_STATUS(belt_key_show(f->st, "dave", show_key, &s, &err), BELT_ERR_NOTFOUND);
    BELT_ASSERT_STATUS(belt_key_create(f->st, f->audit, secret, &spec, "t", key, id, &err),
                       BELT_ERR_EXISTS); /* carol again */
    spec.name = "bad name!";
    BELT_ASSERT_STATUS(belt_key_create(f->st, f->audit, secret, &spec, "t", key, id, &err),
                       BELT_ERR_INVALID);
    /* Each change is in the audit log, which still verifies. */
    struct belt_audit_report r;
    BELT_ASSERT_OK(belt_audit_verify(f->st, secret, sizeof(secret), &r, NULL));
    assert_int_equal(r.n_rows, 3);
}

static void keys_authorize_401_cases(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "erin";
    spec.expires_ms = f->now + 60000;
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g = authorize(k, key, "m", BELT_OK, 200);
    assert_string_equal(g.key_id, id);
    assert_string_equal(g.key_name, "erin");
    belt_keys_settle(k, &g, 0, 0);
    authorize(k, NULL, "m", BELT_ERR_AUTH, 401);
    authorize(k, "", "m", BELT_ERR_AUTH, 401);
    char wrong[BELT_KEY_TEXT_MAX];
    snprintf(wrong, sizeof(wrong), "%s", key);
    wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
    authorize(k, wrong, "m", BELT_ERR_AUTH, 401);
    f->now += 61000; /* expired */
    authorize(k, key, "m", BELT_ERR_AUTH, 401);
    belt_keys_free(k);
}

static void keys_revocation_reaches_the_service(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "frank";
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g = authorize(k, key, NULL, BELT_OK, 200);
    belt_keys_settle(k, &g, 0, 0);
    BELT_ASSERT_OK(belt_key_revoke(f->st, f->audit, "frank", "test", NULL));
    f->now += 1000; /* within refresh_ms: still cached */
    g = authorize(k, key, NULL, BELT_OK, 200);
    belt_keys_settle(k, &g, 0, 0);
    f->now += 5000; /* refresh period passed */
    authorize(k, key, NULL, BELT_ERR_AUTH, 401);
    belt_keys_free(k);
}

static void keys_new_key_is_found_without_waiting(void **state)
{
    struct fixture *f = *state;
    struct belt_keys *k = service(f);
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "gina";
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    f->now += 1500; /* an unknown key triggers a reload at most once a second */
    struct belt_auth_grant g = authorize(k, key, NULL, BELT_OK, 200);
    belt_keys_settle(k, &g, 0, 0);
    belt_keys_free(k);
}

static void keys_allow_lists_give_403(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    const char *models[] = {"gpt-*", "small"};
    const char *lines[] = {"tickets"};
    spec.name = "hank";
    spec.models = models;
    spec.n_models = 2;
    spec.lines = lines;
    spec.n_lines = 1;
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    struct belt_keys *k = service(f);
    struct belt_auth_grant g = authorize(k, key, "gpt-4o", BELT_OK, 200);
    belt_keys_settle(k, &g, 0, 0);
    g = authorize(k, key, "small", BELT_OK, 200);
    belt_keys_settle(k, &g, 0, 0);
    authorize(k, key, "frontier", BELT_ERR_FORBIDDEN, 403);
    struct belt_auth_request r = {key, NULL, NULL, "refunds", 0, 0};
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_keys_authorize(k, &r, &g, &err), BELT_ERR_FORBIDDEN);
    BELT_ASSERT_CONTAINS(err.msg, "line 'refunds'");
    r.line = "tickets";
    BELT_ASSERT_OK(belt_keys_authorize(k, &r, &g, &err));
    belt_keys_settle(k, &g, 0, 0);
    belt_keys_free(k);
}

static void keys_secret_decides_the_hash(void **state)
{
    struct fixture *f = *state;
    struct belt_key_spec spec = belt_key_default_spec();
    spec.name = "ivy";
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    create(f, &spec, key, id);
    static const unsigned char other[32] = "another-secret-another-secret-an";
    struct belt_keys_params p = belt_keys_default_params();
    p.store_path = f->path;
    p.secret = other;
    struct belt_keys *k = NULL;
    BELT_ASSERT_OK(belt_keys_new(&p, &k, NULL));
    authorize(k, key, NULL, BELT_ERR_AUTH, 401); /* a stolen database + wrong secret: useless */
    belt_keys_free(k);
}

static void keys_secret_sources(void **state)
{
    struct fixture *f = *state;
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "store: { path: %s/s.db }\n"
             "guard:\n  keys: { secret_file: %s/k.secret, secret_env: BELT_TEST_SECRET }\n",
             f->dir, f->dir);
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "t.yaml", f->dir, &cfg, &err), &err);
    unsigned char a[32], b[32];
    unsetenv("BELT_TEST_SECRET");
    BELT_ASSERT_STATUS(belt_guard_secret(cfg, BELT_SECRET_KEYS, 0, a, &err), BELT_ERR_NOTFOUND);
    BELT_ASSERT_OK_ERR(belt_guard_secret(cfg, BELT_SECRET_KEYS, 1, a, &err), &err); /* created */
    BELT_ASSERT_OK(belt_guard_secret(cfg, BELT_SECRET_KEYS, 0, b, &err));
    assert_memory_equal(a, b, 32); /* stable */
    char path[512];
    snprintf(path, sizeof(path), "%s/k.secret", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* The environment wins: 64 hex digits are the key itself, other text is hashed. */
    setenv("BELT_TEST_SECRET", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
           1);
    BELT_ASSERT_OK(belt_guard_secret(cfg, BELT_SECRET_KEYS, 0, b, &err));
    assert_int_equal(b[1], 0x11);
    setenv("BELT_TEST_SECRET", "a passphrase of some length", 1);
    BELT_ASSERT_OK(belt_guard_secret(cfg, BELT_SECRET_KEYS, 0, b, &err));
    assert_memory_not_equal(a, b, 32);
    setenv("BELT_TEST_SECRET", "short", 1);
    BELT_ASSERT_STATUS(belt_guard_secret(cfg, BELT_SECRET_KEYS, 0, b, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "$BELT_TEST_SECRET");
    assert_null(strstr(err.msg, "short"));
    unsetenv("BELT_TEST_SECRET");
    belt_config_free(cfg);
}

struct secret_race {
    const struct belt_config *cfg;
    unsigned char key[32];
    belt_status st;
};

static void *secret_racer(void *arg)
{
    struct secret_race *r = arg;
    struct belt_error err = {0};
    r->st = belt_guard_secret(r->cfg, BELT_SECRET_AUDIT, 1, r->key, &err);
    return NULL;
}

/* Several creators of a missing secret at once (two lanes of a line, a gateway and `belt run`)
 * must all end with the same secret: the first file written stands. */
static void keys_secret_created_once_under_a_race(void **state)
{
    struct fixture *f = *state;
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "store: { path: %s/s.db }\nguard:\n  audit: { key_file: %s/audit.key }\n", f->dir,
             f->dir);
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "t.yaml", f->dir, &cfg, &err), &err);
    for (int round = 0; round < 20; round++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/audit.key", f->dir);
        unlink(path);
        enum { N = 6 };
        struct secret_race r[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            r[i].cfg = cfg;
            assert_int_equal(pthread_create(&t[i], NULL, secret_racer, &r[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(t[i], NULL);
        unsigned char disk[32];
        BELT_ASSERT_OK(belt_guard_secret(cfg, BELT_SECRET_AUDIT, 0, disk, &err));
        for (int i = 0; i < N; i++) {
            BELT_ASSERT_OK(r[i].st);
            assert_memory_equal(r[i].key, disk, 32);
        }
    }
    belt_config_free(cfg);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(keys_create_stores_only_a_hash),
        T(keys_secret_created_once_under_a_race),
        T(keys_list_show_revoke),
        T(keys_authorize_401_cases),
        T(keys_revocation_reaches_the_service),
        T(keys_new_key_is_found_without_waiting),
        T(keys_allow_lists_give_403),
        T(keys_secret_decides_the_hash),
        T(keys_secret_sources),
    };
    return belt_test_run("keys", tests, BELT_ARRAY_LEN(tests));
}
