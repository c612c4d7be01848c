/*
 * keys.c — belt_keys, the gateway's authorisation service: a cached table of keys (sorted by
 * keyed hash, reloaded from the store every refresh_ms and on an unknown key at most once a
 * second), allow-list checks, and the limits backend (keys.h) for rate limits and budget
 * reservations. The table is swapped under a mutex; lookups copy what they need while holding
 * it, so a refresh never frees an entry in use.
 */
#include "belt_config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"
#include "config/config.h"
#include "guard/keys.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

struct key_entry {
    unsigned char hash[BELT__KEY_HASH_LEN]; /* keyed hash of the secret */
    char id[BELT_KEY_ID_MAX];               /* public id */
    char name[64];                          /* name */
    int64_t revoked_ms, expires_ms;         /* 0: not revoked / never expires */
    double budget_day, budget_month;        /* < 0: none */
    int64_t rpm, tpm, burst;                /* 0: unlimited */
    json_t *allow;                          /* {"models":[...],...}; owned */
};

struct key_table {
    struct key_entry *v; /* sorted by hash */
    size_t n;
};

struct belt_keys {
    pthread_mutex_t mu;       /* guards table, last_refresh, refreshing */
    struct key_table *table;  /* current table; owned */
    int64_t last_refresh_ms;  /* when the table was loaded */
    int refreshing;           /* a thread is reloading */
    int64_t refresh_ms;       /* reload period */
    unsigned char secret[32]; /* hashing secret; wiped on free */
    belt_clock_ms_fn *clock;  /* time source */
    void *clock_ud;
    pthread_mutex_t io;                 /* guards st */
    struct belt_store *st;              /* own connection for key reads */
    const struct belt__limits_ops *ops; /* limits backend */
    void *impl;
};

static int64_t now_ms(const struct belt_keys *k)
{
    return k->clock ? k->clock(k->clock_ud) : belt_wall_ms();
}

static void table_free(struct key_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        json_decref(t->v[i].allow);
    belt_free(t->v);
    belt_free(t);
}

static int by_hash(const void *a, const void *b)
{
    return memcmp(((const struct key_entry *)a)->hash, ((const struct key_entry *)b)->hash,
                  BELT__KEY_HASH_LEN);
}

static double opt_double(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? -1 : sqlite3_column_double(q, i);
}

static belt_status read_entry(sqlite3_stmt *q, struct key_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (sqlite3_column_bytes(q, 0) != BELT__KEY_HASH_LEN)
        return BELT_ERR_FORMAT;
    memcpy(e->hash, sqlite3_column_blob(q, 0), BELT__KEY_HASH_LEN);
    snprintf(e->id, sizeof(e->id), "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(e->name, sizeof(e->name), "%s", (const char *)sqlite3_column_text(q, 2));
    e->revoked_ms = sqlite3_column_int64(q, 3);
    e->expires_ms = sqlite3_column_int64(q, 4);
    e->budget_day = opt_double(q, 5);
    e->budget_month = opt_double(q, 6);
    e->rpm = sqlite3_column_int64(q, 7);
    e->tpm = sqlite3_column_int64(q, 8);
    e->burst = sqlite3_column_int64(q, 9);
    const char *allow = (const char *)sqlite3_column_text(q, 10);
    e->allow = allow ? json_loads(allow, 0, NULL) : NULL;
    if (allow && !e->allow)
        return BELT_ERR_FORMAT;
    return BELT_OK;
}

/* Read every key into a new table. */
static belt_status load_table(struct belt_keys *k, struct key_table **out, struct belt_error *err)
{
    struct key_table *t = belt_calloc(1, sizeof(*t));
    if (!t)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    sqlite3_stmt *q = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&k->io);
    belt_status s = belt__store_prepare(
        k->st,
        "SELECT hash, id, name, coalesce(revoked_ms, 0), coalesce(expires_ms, 0), "
        "budget_day_usd, budget_month_usd, coalesce(rpm, 0), coalesce(tpm, 0), "
        "coalesce(burst, 0), allow FROM keys",
        &q, err);
    int rc = SQLITE_DONE;
    while (s == BELT_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (t->n == cap) {
            cap = cap ? cap * 2 : 64;
            struct key_entry *v = belt_realloc(t->v, cap * sizeof(*v));
            if (!v) {
                s = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
                break;
            }
            t->v = v;
        }
        if (read_entry(q, &t->v[t->n]) != BELT_OK) {
            BELT_LOG_W("keys: key %s is malformed in the store; skipped",
                       (const char *)sqlite3_column_text(q, 1));
            json_decref(t->v[t->n].allow);
            continue;
        }
        t->n++;
    }
    if (s == BELT_OK && rc != SQLITE_DONE)
        s = belt__store_error(k->st, rc, err, "load keys");
    sqlite3_finalize(q);
    pthread_mutex_unlock(&k->io);
    if (s != BELT_OK) {
        table_free(t);
        return s;
    }
    if (t->n > 1)
        qsort(t->v, t->n, sizeof(*t->v), by_hash);
    *out = t;
    return BELT_OK;
}

belt_status belt_keys_refresh(struct belt_keys *k, struct belt_error *err)
{
    pthread_mutex_lock(&k->mu);
    if (k->refreshing) {
        pthread_mutex_unlock(&k->mu);
        return BELT_OK; /* another thread is on it */
    }
    k->refreshing = 1;
    pthread_mutex_unlock(&k->mu);
    int64_t now = now_ms(k);
    struct key_table *t = NULL;
    belt_status s = k->ops->flush(k->impl, err);
    if (s == BELT_OK)
        s = k->ops->reload(k->impl, now, err);
    if (s == BELT_OK)
        s = load_table(k, &t, err);
    pthread_mutex_lock(&k->mu);
    if (s == BELT_OK) {
        struct key_table *old = k->table;
        k->table = t;
        t = old;
    }
    k->last_refresh_ms = now; /* also after a failure: retry at the next period */
    k->refreshing = 0;
    pthread_mutex_unlock(&k->mu);
    table_free(t);
    return s;
}

belt_status belt_keys_flush(struct belt_keys *k, struct belt_error *err)
{
    return k->ops->flush(k->impl, err);
}

struct belt_keys_params belt_keys_default_params(void)
{
    struct belt_keys_params p;
    memset(&p, 0, sizeof(p));
    p.store_path = "belt.db";
    p.refresh_ms = 5000;
    return p;
}

void belt_keys_free(struct belt_keys *k)
{
    if (!k)
        return;
    if (k->ops) {
        struct belt_error err = {0};
        if (k->ops->flush(k->impl, &err) != BELT_OK)
            BELT_LOG_E("keys: spend not saved: %s", err.msg);
        k->ops->destroy(k->impl);
    }
    table_free(k->table);
    belt_store_close(k->st);
    pthread_mutex_destroy(&k->mu);
    pthread_mutex_destroy(&k->io);
    sodium_memzero(k->secret, sizeof(k->secret));
    belt_free(k);
}

belt_status belt_keys_new(const struct belt_keys_params *p, struct belt_keys **out,
                          struct belt_error *err)
{
    *out = NULL;
    if (!p || !p->secret || !p->store_path)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "keys: needs a store path and a secret");
    struct belt_keys *k = belt_calloc(1, sizeof(*k));
    if (!k)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->io, NULL);
    memcpy(k->secret, p->secret, sizeof(k->secret));
    k->refresh_ms = p->refresh_ms > 0 ? p->refresh_ms : 5000;
    k->clock = p->clock;
    k->clock_ud = p->clock_ud;
    struct belt_store_params sp = belt_store_default_params();
    sp.path = p->store_path;
    belt_status s = belt_store_open(&sp, &k->st, err);
    if (s == BELT_OK)
        s = belt__limits_local_new(p->store_path, &k->ops, &k->impl, err);
    if (s == BELT_OK)
        s = belt_keys_refresh(k, err);
    if (s != BELT_OK) {
        belt_keys_free(k);
        return s;
    }
    *out = k;
    return BELT_OK;
}

belt_status belt_keys_new_from_config(const struct belt_config *cfg, struct belt_keys **out,
                                      struct belt_error *err)
{
    unsigned char secret[32];
    belt_status s = belt_guard_secret(cfg, BELT_SECRET_KEYS, 1, secret, err);
    if (s != BELT_OK)
        return belt__error_prefix(err, "keys secret: ");
    struct belt_cfg_guard_view v;
    belt__cfg_guard_view(&cfg->guard, cfg->dir, cfg->store.path, &v);
    struct belt_keys_params p = belt_keys_default_params();
    p.store_path = cfg->store.path;
    p.secret = secret;
    p.refresh_ms = v.refresh_ms;
    s = belt_keys_new(&p, out, err);
    sodium_memzero(secret, sizeof(secret));
    return s;
}

/* ---- authorisation ------------------------------------------------------------------------- */

/* 1 if `name` is allowed by list `what` of the allow object (absent or empty list: any; an
 * entry ending in '*' matches by prefix). */
static int allowed(const json_t *allow, const char *what, const char *name)
{
    const json_t *l = allow ? json_object_get(allow, what) : NULL;
    if (!name || !json_is_array(l) || json_array_size(l) == 0)
        return 1;
    size_t i;
    const json_t *v;
    json_array_foreach(l, i, v)
    {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        if (!s)
            continue;
        if (strcmp(s, name) == 0 || strcmp(s, "*") == 0)
            return 1;
        if (n > 1 && s[n - 1] == '*' && strncmp(s, name, n - 1) == 0)
            return 1;
    }
    return 0;
}

static const struct key_entry *lookup(const struct key_table *t, const unsigned char *h)
{
    if (!t || t->n == 0)
        return NULL;
    struct key_entry probe;
    memcpy(probe.hash, h, BELT__KEY_HASH_LEN);
    return bsearch(&probe, t->v, t->n, sizeof(*t->v), by_hash);
}

/* Under k->mu: check the key and fill the limit request. Returns the status to answer. */
static belt_status check_key(const struct belt_keys *k, const unsigned char *h,
                             const struct belt_auth_request *req, int64_t now,
                             struct belt__limit_req *lr, struct belt_auth_grant *g,
                             struct belt_error *err)
{
    const struct key_entry *e = lookup(k->table, h);
    if (!e)
        return belt__error_set(err, BELT_ERR_AUTH, 401, "invalid API key");
    snprintf(g->key_id, sizeof(g->key_id), "%s", e->id);
    snprintf(g->key_name, sizeof(g->key_name), "%s", e->name);
    if (e->revoked_ms)
        return belt__error_set(err, BELT_ERR_AUTH, 401, "API key '%s' has been revoked", e->name);
    if (e->expires_ms && now >= e->expires_ms)
        return belt__error_set(err, BELT_ERR_AUTH, 401, "API key '%s' has expired", e->name);
    static const char *const kinds[3] = {"models", "routes", "lines"};
    const char *names[3] = {req->model, req->route, req->line};
    for (int i = 0; i < 3; i++)
        if (!allowed(e->allow, kinds[i], names[i]))
            return belt__error_set(err, BELT_ERR_FORBIDDEN, 403,
                                   "API key '%s' may not use %.*s '%s'", e->name,
                                   (int)strlen(kinds[i]) - 1, kinds[i], names[i]);
    lr->rpm = e->rpm;
    lr->tpm = e->tpm;
    lr->burst = e->burst;
    lr->budget_day = e->budget_day;
    lr->budget_month = e->budget_month;
    return BELT_OK;
}

/* Refresh when the table is stale, or (at most once a second) when a key was not found. */
static void maybe_refresh(struct belt_keys *k, int64_t now, int missed)
{
    pthread_mutex_lock(&k->mu);
    int64_t age = now - k->last_refresh_ms;
    int due = !k->refreshing && (age >= k->refresh_ms || (missed && age >= 1000));
    pthread_mutex_unlock(&k->mu);
    if (!due)
        return;
    struct belt_error err = {0};
    if (belt_keys_refresh(k, &err) != BELT_OK)
        BELT_LOG_W("keys: refresh failed: %s", err.msg);
}

belt_status belt_keys_authorize(struct belt_keys *k, const struct belt_auth_request *req,
                                struct belt_auth_grant *out, struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    out->http_status = 401;
    out->remaining_day_usd = out->remaining_month_usd = -1;
    if (!req->key || !*req->key)
        return belt__error_set(err, BELT_ERR_AUTH, 401,
                               "missing API key (send Authorization: Bearer KEY)");
    if (req->est_tokens < 0 || req->est_cost_usd < 0)
        return belt__error_set(err, BELT_ERR_INVALID, 400, "negative estimate");
    unsigned char h[BELT__KEY_HASH_LEN];
    belt__key_hash(k->secret, req->key, strlen(req->key), h);
    int64_t now = now_ms(k);
    maybe_refresh(k, now, 0);
    struct belt__limit_req lr;
    memset(&lr, 0, sizeof(lr));
    pthread_mutex_lock(&k->mu);
    belt_status s = check_key(k, h, req, now, &lr, out, err);
    pthread_mutex_unlock(&k->mu);
    if (s == BELT_ERR_AUTH && !out->key_id[0]) {
        maybe_refresh(k, now, 1); /* a key created since the last load */
        pthread_mutex_lock(&k->mu);
        s = check_key(k, h, req, now, &lr, out, err);
        pthread_mutex_unlock(&k->mu);
    }
    sodium_memzero(h, sizeof(h));
    if (s != BELT_OK) {
        out->http_status = s == BELT_ERR_FORBIDDEN ? 403 : 401;
        return s;
    }
    lr.key_id = out->key_id;
    lr.now_ms = now;
    lr.tokens = req->est_tokens;
    lr.usd = req->est_cost_usd;
    struct belt__limit_res res;
    k->ops->admit(k->impl, &lr, &res);
    out->remaining_day_usd = res.remaining_day;
    out->remaining_month_usd = res.remaining_month;
    if (res.status == BELT_ERR_NOMEM)
        return belt__error_set(err, BELT_ERR_NOMEM, 500, "out of memory");
    if (res.status != BELT_OK) {
        out->http_status = 429;
        out->retry_after_s = res.retry_after_s;
        return belt__error_set(
            err, res.status, 429, "API key '%s': %s %s; retry in %lld s", out->key_name, res.which,
            res.status == BELT_ERR_BUDGET ? "exhausted" : "exceeded", (long long)res.retry_after_s);
    }
    out->http_status = 200;
    out->reserved_tokens = lr.tpm > 0 ? (req->est_tokens < lr.tpm ? req->est_tokens : lr.tpm) : 0;
    out->reserved_usd = req->est_cost_usd;
    out->slot = 1;
    return BELT_OK;
}

void belt_keys_settle(struct belt_keys *k, const struct belt_auth_grant *g, double cost_usd,
                      int64_t tokens)
{
    if (!g || g->slot != 1 || !g->key_id[0])
        return; /* not a granted reservation */
    k->ops->settle(k->impl, g->key_id, now_ms(k), g->reserved_tokens, g->reserved_usd, tokens,
                   cost_usd > 0 ? cost_usd : 0);
}
