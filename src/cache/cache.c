/*
 * cache.c — the gateway's exact-match response cache (see cache.h): canonical request keys,
 * a sharded in-memory LRU of reference-counted immutable entries, persistence through the
 * store writer and warming from the store.
 */
#include "belt_config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "cache/cache.h"
#include "store/store.h"
#include "trace/writer.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

#define N_SHARDS 16

struct entry {
    struct belt_cache_entry pub; /* what callers see (first member) */
    atomic_int refs;             /* one for the cache while linked + one per hit in use */
    struct entry *hnext;         /* hash chain */
    struct entry *lprev, *lnext; /* LRU list: head = most recent */
    uint64_t h;                  /* hash of the key */
    size_t bytes;                /* accounted size */
    char data[];                 /* model, response, stream */
};

struct shard {
    pthread_mutex_t lock;   /* guards the shard */
    struct entry **buckets; /* hash table */
    size_t n_buckets;       /* power of two */
    size_t n;               /* entries */
    size_t bytes;           /* their size */
    struct entry *head;     /* most recently used */
    struct entry *tail;     /* least recently used */
};

struct belt_cache {
    struct belt_cache_params p;    /* copy */
    struct shard shards[N_SHARDS]; /* by key hash */
    atomic_uint_fast64_t hits, misses, inserts, evictions;
    atomic_uint_fast64_t n_puts; /* to schedule store purges */
};

/* ---- keys --------------------------------------------------------------------------------- */

int belt__cache_cacheable(const json_t *request)
{
    const json_t *seed = json_object_get(request, "seed");
    if (json_is_integer(seed))
        return 1;
    const json_t *t = json_object_get(request, "temperature");
    return json_is_number(t) && json_number_value(t) == 0.0;
}

/* A canonical copy of v (new reference; NULL on OOM). top: the request object itself. */
static json_t *canonical(const json_t *v, int top, int in_message)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(json_int_t)d && d > -9.0e15 && d < 9.0e15)
            return json_integer((json_int_t)d);
        return json_incref((json_t *)v);
    }
    if (json_is_array(v)) {
        if (in_message && json_array_size(v) == 1) { /* [{"type":"text","text":s}] -> s */
            const json_t *p0 = json_array_get(v, 0);
            const char *type = belt_json_str(p0, "type");
            const json_t *text = json_object_get(p0, "text");
            if (type && strcmp(type, "text") == 0 && json_is_string(text) &&
                json_object_size(p0) == 2)
                return json_incref((json_t *)text);
        }
        json_t *a = json_array();
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            if (!a || json_array_append_new(a, canonical(x, 0, 0)) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (!json_is_object(v))
        return json_incref((json_t *)v);
    static const char *const dropped[] = {"stream", "stream_options", "user", "model"};
    json_t *o = json_object();
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        int skip = 0;
        for (size_t i = 0; top && i < BELT_ARRAY_LEN(dropped); i++)
            skip |= strcmp(k, dropped[i]) == 0;
        if (skip)
            continue;
        json_t *c;
        if (top && strcmp(k, "messages") == 0 && json_is_array(x)) {
            c = json_array();
            size_t i;
            const json_t *m;
            json_array_foreach(x, i, m)
            {
                json_t *cm = json_is_object(m) ? json_object() : canonical(m, 0, 0);
                const char *mk;
                const json_t *mv;
                json_object_foreach((json_t *)m, mk, mv)
                {
                    json_object_set_new(cm, mk, canonical(mv, 0, strcmp(mk, "content") == 0));
                }
                json_array_append_new(c, cm);
            }
        } else {
            c = canonical(x, 0, 0);
        }
        if (!o || !c || json_object_set_new(o, k, c) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

belt_status belt__cache_key(const char *model, const json_t *request,
                            unsigned char key[BELT_CACHE_KEY_LEN])
{
    json_t *c = canonical(request, 1, 0);
    char *text = c ? belt_json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    if (!text)
        return BELT_ERR_NOMEM;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, BELT_CACHE_KEY_LEN);
    crypto_generichash_update(&st, (const unsigned char *)model, strlen(model));
    crypto_generichash_update(&st, (const unsigned char *)"\n", 1);
    crypto_generichash_update(&st, (const unsigned char *)text, strlen(text));
    crypto_generichash_final(&st, key, BELT_CACHE_KEY_LEN);
    belt_free(text);
    return BELT_OK;
}

void belt__cache_key_hex(const unsigned char key[BELT_CACHE_KEY_LEN], char *out)
{
    sodium_bin2hex(out, 2 * BELT_CACHE_KEY_LEN + 1, key, BELT_CACHE_KEY_LEN);
}

static uint64_t key_hash(const unsigned char *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return h;
}

/* ---- entries and shards ------------------------------------------------------------------- */

static void entry_unref(struct entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        belt_free(e);
}

void belt__cache_release(const struct belt_cache_entry *pub)
{
    if (pub)
        entry_unref((struct entry *)pub);
}

static void lru_unlink(struct shard *s, struct entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        s->head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        s->tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push_front(struct shard *s, struct entry *e)
{
    e->lprev = NULL;
    e->lnext = s->head;
    if (s->head)
        s->head->lprev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

/* Remove e from the shard (hash chain and LRU) and drop the cache's reference. */
static void shard_remove(struct belt_cache *c, struct shard *s, struct entry *e)
{
    struct entry **pp = &s->buckets[e->h & (s->n_buckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(s, e);
    s->n--;
    s->bytes -= e->bytes;
    atomic_fetch_add(&c->evictions, 1);
    entry_unref(e);
}

static void shard_grow(struct shard *s)
{
    size_t nb = s->n_buckets * 2;
    struct entry **b = belt_calloc(nb, sizeof(*b));
    if (!b)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < s->n_buckets; i++) {
        struct entry *e = s->buckets[i];
        while (e) {
            struct entry *next = e->hnext;
            e->hnext = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
            e = next;
        }
    }
    belt_free(s->buckets);
    s->buckets = b;
    s->n_buckets = nb;
}

static struct entry *shard_find(struct shard *s, const unsigned char *key, uint64_t h)
{
    for (struct entry *e = s->buckets[h & (s->n_buckets - 1)]; e; e = e->hnext)
        if (e->h == h && memcmp(e->pub.key, key, BELT_CACHE_KEY_LEN) == 0)
            return e;
    return NULL;
}

const struct belt_cache_entry *
belt__cache_get(struct belt_cache *c, const unsigned char key[BELT_CACHE_KEY_LEN], int64_t now_ms)
{
    uint64_t h = key_hash(key);
    struct shard *s = &c->shards[h % N_SHARDS];
    pthread_mutex_lock(&s->lock);
    struct entry *e = shard_find(s, key, h);
    if (e && e->pub.expires_ms <= now_ms) {
        shard_remove(c, s, e);
        e = NULL;
    }
    if (e) {
        lru_unlink(s, e);
        lru_push_front(s, e);
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(e ? &c->hits : &c->misses, 1);
    return e ? &e->pub : NULL;
}

/* ---- persistence -------------------------------------------------------------------------- */

struct put_job {
    struct belt_write_job job; /* first member */
    struct entry *e;           /* referenced entry */
};

static const char sql_put[] =
    "INSERT OR REPLACE INTO cache(key, model, created_ms, expires_ms, response, stream, cost_usd,"
    " hits) VALUES(?1,?2,?3,?4,?5,?6,?7,0)";
static const char sql_purge[] = "DELETE FROM cache WHERE expires_ms <= ?1";

static belt_status put_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    const struct belt_cache_entry *e = &((struct put_job *)job)->e->pub;
    sqlite3_stmt *q = belt__writer_stmt(ctx, sql_put);
    if (!q)
        return BELT_ERR_STORE;
    char hex[2 * BELT_CACHE_KEY_LEN + 1];
    belt__cache_key_hex(e->key, hex);
    sqlite3_bind_text(q, 1, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, e->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, e->created_ms);
    sqlite3_bind_int64(q, 4, e->expires_ms);
    sqlite3_bind_blob(q, 5, e->response, (int)e->response_len, SQLITE_STATIC);
    if (e->stream)
        sqlite3_bind_blob(q, 6, e->stream, (int)e->stream_len, SQLITE_STATIC);
    sqlite3_bind_double(q, 7, e->cost_usd);
    return sqlite3_step(q) == SQLITE_DONE ? BELT_OK : BELT_ERR_STORE;
}

static void put_release(struct belt_write_job *job)
{
    entry_unref(((struct put_job *)job)->e);
    belt_free(job);
}

struct purge_job {
    struct belt_write_job job; /* first member */
    int64_t now_ms;            /* delete rows expired by then */
};

static belt_status purge_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    sqlite3_stmt *q = belt__writer_stmt(ctx, sql_purge);
    if (!q)
        return BELT_ERR_STORE;
    sqlite3_bind_int64(q, 1, ((struct purge_job *)job)->now_ms);
    return sqlite3_step(q) == SQLITE_DONE ? BELT_OK : BELT_ERR_STORE;
}

static void purge_release(struct belt_write_job *job)
{
    belt_free(job);
}

void belt__cache_purge_store(struct belt_cache *c, int64_t now_ms)
{
    if (!c->p.writer)
        return;
    struct purge_job *j = belt_calloc(1, sizeof(*j));
    if (!j)
        return;
    j->job.run = purge_run;
    j->job.release = purge_release;
    j->now_ms = now_ms;
    belt__writer_submit(c->p.writer, &j->job);
}

/* ---- insertion ---------------------------------------------------------------------------- */

static struct entry *entry_new(const unsigned char *key, const char *model, const char *response,
                               size_t response_len, const char *stream, size_t stream_len)
{
    size_t ml = strlen(model);
    size_t need = ml + 1 + response_len + 1 + (stream ? stream_len + 1 : 0);
    struct entry *e = belt_malloc(sizeof(*e) + need);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    memcpy(e->pub.key, key, BELT_CACHE_KEY_LEN);
    char *p = e->data;
    memcpy(p, model, ml + 1);
    e->pub.model = p;
    p += ml + 1;
    memcpy(p, response, response_len);
    p[response_len] = '\0';
    e->pub.response = p;
    e->pub.response_len = response_len;
    p += response_len + 1;
    if (stream) {
        memcpy(p, stream, stream_len);
        p[stream_len] = '\0';
        e->pub.stream = p;
        e->pub.stream_len = stream_len;
    }
    e->bytes = sizeof(*e) + need;
    e->h = key_hash(key);
    atomic_init(&e->refs, 1);
    return e;
}

/* Insert (replacing an entry with the same key), evicting least recently used entries of the
 * shard for room; queue the store write when persist. Returns 1 when inserted. */
static int cache_insert(struct belt_cache *c, const unsigned char *key, const char *model,
                        const char *response, size_t response_len, const char *stream,
                        size_t stream_len, double cost_usd, int64_t created_ms, int64_t expires_ms,
                        int persist)
{
    if (response_len + stream_len > c->p.max_entry)
        return 0;
    struct entry *e = entry_new(key, model, response, response_len, stream, stream_len);
    if (!e)
        return 0;
    e->pub.cost_usd = cost_usd;
    e->pub.created_ms = created_ms;
    e->pub.expires_ms = expires_ms;
    struct shard *s = &c->shards[e->h % N_SHARDS];
    size_t budget = c->p.max_bytes / N_SHARDS;
    pthread_mutex_lock(&s->lock);
    struct entry *old = shard_find(s, key, e->h);
    if (old)
        shard_remove(c, s, old);
    while (s->tail && s->bytes + e->bytes > budget)
        shard_remove(c, s, s->tail);
    if (s->n >= s->n_buckets * 2)
        shard_grow(s);
    size_t b = e->h & (s->n_buckets - 1);
    e->hnext = s->buckets[b];
    s->buckets[b] = e;
    lru_push_front(s, e);
    s->n++;
    s->bytes += e->bytes;
    if (persist && c->p.writer)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); /* for the job */
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&c->inserts, 1);
    if (!persist || !c->p.writer)
        return 1;
    struct put_job *j = belt_calloc(1, sizeof(*j));
    if (!j) {
        entry_unref(e);
        return 1;
    }
    j->job.run = put_run;
    j->job.release = put_release;
    j->e = e;
    belt__writer_submit(c->p.writer, &j->job);
    if (atomic_fetch_add(&c->n_puts, 1) % 1000 == 999)
        belt__cache_purge_store(c, created_ms);
    return 1;
}

void belt__cache_put(struct belt_cache *c, const unsigned char key[BELT_CACHE_KEY_LEN],
                     const char *model, const char *response, size_t response_len,
                     const char *stream, size_t stream_len, double cost_usd, int64_t now_ms,
                     int persist)
{
    cache_insert(c, key, model, response, response_len, stream, stream_len, cost_usd, now_ms,
                 now_ms + c->p.ttl_ms, persist);
}

belt_status belt__cache_warm(struct belt_cache *c, struct belt_store *st, int64_t now_ms,
                             size_t *n_loaded, struct belt_error *err)
{
    *n_loaded = 0;
    sqlite3_stmt *q = NULL;
    belt_status rc = belt__store_prepare(
        st,
        "SELECT key, model, created_ms, expires_ms, response, stream, cost_usd FROM"
        " (SELECT * FROM cache WHERE expires_ms > ?1 ORDER BY created_ms DESC LIMIT 200000)"
        " ORDER BY created_ms ASC",
        &q, err);
    if (rc != BELT_OK)
        return rc;
    sqlite3_bind_int64(q, 1, now_ms);
    int r;
    for (;;) {
        r = sqlite3_step(q);
        if (r != SQLITE_ROW)
            break;
        const char *hex = (const char *)sqlite3_column_text(q, 0);
        unsigned char key[BELT_CACHE_KEY_LEN];
        size_t klen = 0;
        if (!hex || sodium_hex2bin(key, sizeof(key), hex, strlen(hex), NULL, &klen, NULL) != 0 ||
            klen != sizeof(key))
            continue;
        const char *model = (const char *)sqlite3_column_text(q, 1);
        const char *resp = sqlite3_column_blob(q, 4);
        size_t resp_len = (size_t)sqlite3_column_bytes(q, 4);
        const char *stream = sqlite3_column_blob(q, 5);
        size_t stream_len = (size_t)sqlite3_column_bytes(q, 5);
        int64_t created = sqlite3_column_int64(q, 2);
        if (!model || !resp)
            continue;
        *n_loaded += (size_t)cache_insert(c, key, model, resp, resp_len, stream,
                                          stream ? stream_len : 0, sqlite3_column_double(q, 6),
                                          created, sqlite3_column_int64(q, 3), 0);
    }
    sqlite3_finalize(q);
    atomic_store(&c->inserts, 0);
    if (r != SQLITE_DONE)
        return belt__store_error(st, r, err, "warming the cache");
    return BELT_OK;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

struct belt_cache_params belt__cache_default_params(void)
{
    struct belt_cache_params p;
    p.max_bytes = (size_t)32 << 20;
    p.max_entry = (size_t)1 << 20;
    p.ttl_ms = 3600000;
    p.writer = NULL;
    return p;
}

belt_status belt__cache_new(const struct belt_cache_params *p, struct belt_cache **out,
                            struct belt_error *err)
{
    struct belt_cache *c = belt_calloc(1, sizeof(*c));
    if (!c)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    c->p = *p;
    for (size_t i = 0; i < N_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->n_buckets = 64;
        s->buckets = belt_calloc(s->n_buckets, sizeof(*s->buckets));
        if (!s->buckets) {
            belt__cache_free(c);
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        }
    }
    *out = c;
    return BELT_OK;
}

void belt__cache_free(struct belt_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        while (s->head)
            shard_remove(c, s, s->head);
        belt_free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    belt_free(c);
}

void belt__cache_stats(struct belt_cache *c, struct belt_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < N_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->entries += s->n;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->lock);
    }
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->inserts = atomic_load(&c->inserts);
    out->evictions = atomic_load(&c->evictions);
}
