/*
 * limits_local.c — the in-process limits backend (see keys.h): per-key token buckets for
 * requests and tokens per minute, spend per UTC day and month, and in-flight reservations,
 * all under one mutex so that check-and-reserve is atomic. Spend is charged in memory at
 * settle time and written to `key_spend` by flush (as increments, so several processes'
 * flushes add up); reload re-reads the totals so spend by other processes is seen.
 */
#include "belt_config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "guard/keys.h"
#include "store/store.h"
#include "util/error.h"
#include "util/hash.h"

struct kstate {
    char id[BELT_KEY_ID_MAX];    /* key id ("" = empty slot) */
    double req;                  /* request bucket level */
    int64_t req_ms;              /* last refill; 0 = full */
    double tok;                  /* token bucket level */
    int64_t tok_ms;              /* last refill; 0 = full */
    char day[16], month[16];     /* periods the spend below belongs to */
    double db_day, db_month;     /* spend in the store at the last reload / flush */
    double pend_day, pend_month; /* charged here since, not yet flushed */
    double reserved;             /* in-flight reservations (USD) */
};

struct pending {
    char id[BELT_KEY_ID_MAX]; /* key */
    char day[16], month[16];  /* periods */
    double usd;               /* amount */
};

struct local {
    pthread_mutex_t mu; /* guards everything below except st */
    struct kstate *v;   /* open-addressing table by id */
    size_t n, cap;      /* used / slots (power of two) */
    struct pending *pv; /* charges not yet flushed */
    size_t pn, pcap;
    pthread_mutex_t io;    /* guards st */
    struct belt_store *st; /* own connection for spend */
};

static struct kstate *find(struct local *l, const char *id, int add)
{
    if (add && (l->n + 1) * 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct kstate *v = belt_calloc(cap, sizeof(*v));
        if (!v)
            return NULL;
        for (size_t i = 0; i < l->cap; i++) {
            if (!l->v[i].id[0])
                continue;
            size_t j = belt_fnv1a(BELT_FNV_OFFSET, l->v[i].id, strlen(l->v[i].id)) & (cap - 1);
            while (v[j].id[0])
                j = (j + 1) & (cap - 1);
            v[j] = l->v[i];
        }
        belt_free(l->v);
        l->v = v;
        l->cap = cap;
    }
    if (!l->cap)
        return NULL;
    size_t j = belt_fnv1a(BELT_FNV_OFFSET, id, strlen(id)) & (l->cap - 1);
    while (l->v[j].id[0]) {
        if (strcmp(l->v[j].id, id) == 0)
            return &l->v[j];
        j = (j + 1) & (l->cap - 1);
    }
    if (!add)
        return NULL;
    snprintf(l->v[j].id, sizeof(l->v[j].id), "%s", id);
    l->n++;
    return &l->v[j];
}

/* Move the state to the periods of now; a new period starts with no spend. */
static void roll(struct kstate *s, int64_t now_ms)
{
    char day[16], month[16];
    belt__key_period(now_ms, day, month);
    if (strcmp(day, s->day) != 0) {
        memcpy(s->day, day, sizeof(day));
        s->db_day = s->pend_day = 0;
    }
    if (strcmp(month, s->month) != 0) {
        memcpy(s->month, month, sizeof(month));
        s->db_month = s->pend_month = 0;
    }
}

/* Refill a bucket of capacity cap filling at per_min per minute. */
static void refill(double *level, int64_t *last_ms, double cap, double per_min, int64_t now)
{
    if (*last_ms == 0) {
        *level = cap;
    } else if (now > *last_ms) {
        *level = fmin(cap, *level + (double)(now - *last_ms) * per_min / 60000.0);
    }
    *last_ms = now;
}

static int64_t secs_until(double missing, double per_min)
{
    double s = missing * 60.0 / per_min;
    int64_t r = (int64_t)ceil(s);
    return r < 1 ? 1 : r;
}

/* Seconds until the next UTC day (month = 0) or month (month = 1). */
static int64_t secs_to_period_end(int64_t now_ms, int month)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (month) {
        tm.tm_mday = 1;
        tm.tm_mon += 1;
    } else {
        tm.tm_mday += 1;
    }
    time_t next = timegm(&tm);
    int64_t d = (int64_t)next - (int64_t)t;
    return d < 1 ? 1 : d;
}

static void local_admit(void *impl, const struct belt__limit_req *r, struct belt__limit_res *out)
{
    struct local *l = impl;
    memset(out, 0, sizeof(*out));
    out->remaining_day = out->remaining_month = -1;
    pthread_mutex_lock(&l->mu);
    struct kstate *s = find(l, r->key_id, 1);
    if (!s) {
        pthread_mutex_unlock(&l->mu);
        out->status = BELT_ERR_NOMEM;
        return;
    }
    roll(s, r->now_ms);
    double rcap = (double)(r->burst > 0 ? r->burst : r->rpm);
    if (r->rpm > 0)
        refill(&s->req, &s->req_ms, rcap, (double)r->rpm, r->now_ms);
    if (r->tpm > 0)
        refill(&s->tok, &s->tok_ms, (double)r->tpm, (double)r->tpm, r->now_ms);
    double need = r->tpm > 0 ? fmin((double)r->tokens, (double)r->tpm) : 0;
    double spent_d = s->db_day + s->pend_day + s->reserved;
    double spent_m = s->db_month + s->pend_month + s->reserved;
    const double eps = 1e-9;
    if (r->rpm > 0 && s->req < 1.0) {
        out->status = BELT_ERR_RATELIMIT;
        out->which = "requests per minute";
        out->retry_after_s = secs_until(1.0 - s->req, (double)r->rpm);
    } else if (r->tpm > 0 && s->tok < need) {
        out->status = BELT_ERR_RATELIMIT;
        out->which = "tokens per minute";
        out->retry_after_s = secs_until(need - s->tok, (double)r->tpm);
    } else if (r->budget_day >= 0 &&
               (spent_d >= r->budget_day - eps || spent_d + r->usd > r->budget_day + eps)) {
        out->status = BELT_ERR_BUDGET;
        out->which = "daily budget";
        out->retry_after_s = secs_to_period_end(r->now_ms, 0);
    } else if (r->budget_month >= 0 &&
               (spent_m >= r->budget_month - eps || spent_m + r->usd > r->budget_month + eps)) {
        out->status = BELT_ERR_BUDGET;
        out->which = "monthly budget";
        out->retry_after_s = secs_to_period_end(r->now_ms, 1);
    } else {
        out->status = BELT_OK;
        if (r->rpm > 0)
            s->req -= 1.0;
        s->tok -= need;
        s->reserved += r->usd;
    }
    if (r->budget_day >= 0)
        out->remaining_day = fmax(0, r->budget_day - (s->db_day + s->pend_day + s->reserved));
    if (r->budget_month >= 0)
        out->remaining_month =
            fmax(0, r->budget_month - (s->db_month + s->pend_month + s->reserved));
    pthread_mutex_unlock(&l->mu);
}

static void local_settle(void *impl, const char *key_id, int64_t now_ms, int64_t reserved_tokens,
                         double reserved_usd, int64_t tokens, double cost_usd)
{
    struct local *l = impl;
    pthread_mutex_lock(&l->mu);
    struct kstate *s = find(l, key_id, 1);
    if (s) {
        roll(s, now_ms);
        s->reserved = fmax(0, s->reserved - reserved_usd);
        if (s->tok_ms)
            s->tok += (double)reserved_tokens - (double)(tokens > 0 ? tokens : 0);
        if (cost_usd > 0) {
            s->pend_day += cost_usd;
            s->pend_month += cost_usd;
            if (l->pn == l->pcap) {
                size_t cap = l->pcap ? l->pcap * 2 : 64;
                struct pending *pv = belt_realloc(l->pv, cap * sizeof(*pv));
                if (pv) {
                    l->pv = pv;
                    l->pcap = cap;
                }
            }
            if (l->pn < l->pcap) { /* on OOM the charge stays in memory only */
                struct pending *p = &l->pv[l->pn++];
                memcpy(p->id, s->id, sizeof(p->id));
                memcpy(p->day, s->day, sizeof(p->day));
                memcpy(p->month, s->month, sizeof(p->month));
                p->usd = cost_usd;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
}

static belt_status upsert(struct belt_store *st, sqlite3_stmt *q, const char *id,
                          const char *period, double usd, struct belt_error *err)
{
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, period, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 3, usd);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? BELT_OK : belt__store_error(st, rc, err, "key spend");
}

static belt_status write_pending(struct belt_store *st, const struct pending *pv, size_t n,
                                 struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_begin(st, err);
    if (s == BELT_OK)
        s = belt__store_prepare(st,
                                "INSERT INTO key_spend(key_id, period, spent_usd) VALUES(?,?,?) "
                                "ON CONFLICT(key_id, period) DO UPDATE SET "
                                "spent_usd = spent_usd + excluded.spent_usd",
                                &q, err);
    for (size_t i = 0; i < n && s == BELT_OK; i++) {
        s = upsert(st, q, pv[i].id, pv[i].day, pv[i].usd, err);
        if (s == BELT_OK)
            s = upsert(st, q, pv[i].id, pv[i].month, pv[i].usd, err);
    }
    sqlite3_finalize(q);
    if (s == BELT_OK)
        s = belt__store_commit(st, err);
    if (s != BELT_OK)
        belt__store_rollback(st);
    return s;
}

static belt_status local_flush(void *impl, struct belt_error *err)
{
    struct local *l = impl;
    pthread_mutex_lock(&l->io);
    pthread_mutex_lock(&l->mu);
    struct pending *pv = l->pv;
    size_t pn = l->pn;
    l->pv = NULL;
    l->pn = l->pcap = 0;
    pthread_mutex_unlock(&l->mu);
    belt_status s = pn ? write_pending(l->st, pv, pn, err) : BELT_OK;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < pn; i++) {
        struct kstate *k = find(l, pv[i].id, 0);
        if (s != BELT_OK || !k)
            continue;
        if (strcmp(k->day, pv[i].day) == 0) {
            k->db_day += pv[i].usd;
            k->pend_day -= pv[i].usd;
        }
        if (strcmp(k->month, pv[i].month) == 0) {
            k->db_month += pv[i].usd;
            k->pend_month -= pv[i].usd;
        }
    }
    if (s != BELT_OK && pn) { /* keep the charges for the next flush */
        struct pending *v = belt_realloc(pv, (pn + l->pn) * sizeof(*pv));
        if (v) {
            memcpy(v + pn, l->pv, l->pn * sizeof(*pv));
            belt_free(l->pv);
            l->pv = v;
            l->pn += pn;
            l->pcap = l->pn;
            pv = NULL;
        }
    }
    pthread_mutex_unlock(&l->mu);
    belt_free(pv);
    pthread_mutex_unlock(&l->io);
    return s;
}

static belt_status local_reload(void *impl, int64_t now_ms, struct belt_error *err)
{
    struct local *l = impl;
    char day[16], month[16];
    belt__key_period(now_ms, day, month);
    pthread_mutex_lock(&l->io);
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        l->st, "SELECT key_id, period, spent_usd FROM key_spend WHERE period IN (?1, ?2)", &q, err);
    if (s == BELT_OK) {
        sqlite3_bind_text(q, 1, day, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, month, -1, SQLITE_STATIC);
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < l->cap; i++) { /* a key without rows has spent nothing */
            if (!l->v[i].id[0])
                continue;
            roll(&l->v[i], now_ms);
            l->v[i].db_day = l->v[i].db_month = 0;
        }
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            struct kstate *k = find(l, (const char *)sqlite3_column_text(q, 0), 1);
            if (!k)
                continue;
            roll(k, now_ms);
            const char *period = (const char *)sqlite3_column_text(q, 1);
            if (strcmp(period, day) == 0)
                k->db_day = sqlite3_column_double(q, 2);
            else
                k->db_month = sqlite3_column_double(q, 2);
        }
        pthread_mutex_unlock(&l->mu);
        if (rc != SQLITE_DONE)
            s = belt__store_error(l->st, rc, err, "key spend");
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&l->io);
    return s;
}

static void local_destroy(void *impl)
{
    struct local *l = impl;
    if (!l)
        return;
    belt_store_close(l->st);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->io);
    belt_free(l->v);
    belt_free(l->pv);
    belt_free(l);
}

static const struct belt__limits_ops local_ops = {local_admit, local_settle, local_flush,
                                                  local_reload, local_destroy};

belt_status belt__limits_local_new(const char *store_path, const struct belt__limits_ops **ops,
                                   void **impl, struct belt_error *err)
{
    struct local *l = belt_calloc(1, sizeof(*l));
    if (!l)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->io, NULL);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = store_path;
    belt_status s = belt_store_open(&sp, &l->st, err);
    if (s != BELT_OK) {
        local_destroy(l);
        return s;
    }
    *ops = &local_ops;
    *impl = l;
    return BELT_OK;
}
