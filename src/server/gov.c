/*
 * gov.c — governance plumbing of the gateway (see gov.h): the guard and key service, store work
 * on the engine's writer thread (audit batches, tasks), mailboxes that bring results back to a
 * loop's thread, and the periodic key spend flush.
 */
#include "belt_config.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/fmt.h"
#include "guard/audit.h"
#include "server/gov.h"
#include "server/server.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

#define SPEND_FLUSH_MS 1000 /* how often recorded key spend is written to the store */

/* ---- the writer's audit handle ------------------------------------------------------------- */

/* The audit handle on the writer's connection, opened on first use (writer thread only). */
static struct belt_audit *writer_audit(struct srv_gov *g, struct belt_store *st)
{
    if (g->audit || g->audit_failed)
        return g->audit;
    struct belt_error err = {0};
    if (belt_audit_open_config(g->cfg, st, &g->audit, &err) != BELT_OK) {
        BELT_LOG_E("audit: cannot open the audit log: %s; gateway events are not audited", err.msg);
        g->audit_failed = 1;
        g->audit = NULL;
    }
    return g->audit;
}

/* ---- audit events --------------------------------------------------------------------------- */

/* Events wait in one queue (gov->aq); at most one flush job is in the writer's queue at a time,
 * so that under load the events of many requests go in one belt_audit_append_batch (one tail
 * read, one head rewrite) inside the writer's batch transaction. */
struct audit_job {
    struct belt_write_job job; /* first */
    struct srv_gov *gov;       /* owner */
};

#define AUDIT_CHUNK 512 /* events per belt_audit_append_batch */

/* Append a decimal integer. */
static belt_status put_i64(struct belt_buf *b, int64_t v)
{
    char num[BELT__FMT_I64_MAX];
    return belt_buf_append(b, num, belt__fmt_i64(num, v));
}

/* The data object of a model.call event in the audit log's canonical form (keys sorted, the
 * cost as belt__audit_real prints it), NUL-terminated, so that belt__audit_append_canonical
 * can store it as it is. Runs on the writer thread. */
static belt_status render_call(const struct srv_audit_ev *e, struct belt_buf *b)
{
    char num[BELT__AUDIT_REAL_MAX];
    double cost = isfinite(e->call.cost_usd) ? e->call.cost_usd : 0.0;
    size_t n = belt__audit_real(num, cost);
    int bad = belt_buf_puts(b, "{\"cost_usd\":") != BELT_OK;
    bad |= belt_buf_append(b, num, n) != BELT_OK;
    bad |= belt_buf_puts(b, ",\"http_status\":") != BELT_OK;
    bad |= put_i64(b, e->call.http_status) != BELT_OK;
    bad |= belt_buf_puts(b, ",\"input_tokens\":") != BELT_OK;
    bad |= put_i64(b, e->call.input_tokens) != BELT_OK;
    bad |= belt_buf_puts(b, ",\"key_name\":") != BELT_OK;
    bad |= belt_buf_append_json_string(b, e->call.key_name, strlen(e->call.key_name)) != BELT_OK;
    if (e->call.model) {
        bad |= belt_buf_puts(b, ",\"model\":") != BELT_OK;
        bad |= belt_buf_append_json_string(b, e->call.model, strlen(e->call.model)) != BELT_OK;
    }
    bad |= belt_buf_puts(b, ",\"output_tokens\":") != BELT_OK;
    bad |= put_i64(b, e->call.output_tokens) != BELT_OK;
    bad |= belt_buf_puts(b, ",\"route\":") != BELT_OK;
    bad |= belt_buf_append_json_string(b, e->call.route, strlen(e->call.route)) != BELT_OK;
    bad |= belt_buf_puts(b, e->call.stream ? ",\"stream\":true}" : ",\"stream\":false}") != BELT_OK;
    bad |= belt_buf_append(b, "", 1) != BELT_OK;
    return bad ? BELT_ERR_NOMEM : BELT_OK;
}

/* Run one statement without a result through the writer's statement cache (sql: a literal). */
static belt_status exec_cached(struct belt_writer_ctx *ctx, const char *sql, struct belt_error *err)
{
    sqlite3_stmt *q = belt__writer_stmt(ctx, sql);
    if (!q)
        return belt__error_set(err, BELT_ERR_STORE, 0, "cannot prepare %s", sql);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? BELT_OK : belt__store_error(ctx->st, rc, err, sql);
}

/* Append the n events from *first in a savepoint, so that a failure leaves neither half a
 * batch nor a head out of step with the rows; *first moves past them. */
static belt_status append_chunk(struct belt_audit *a, struct belt_writer_ctx *ctx,
                                struct srv_audit_ev **first, size_t n)
{
    struct belt_audit_event ev[AUDIT_CHUNK];
    size_t off[AUDIT_CHUNK];
    struct belt_buf rendered;
    belt_buf_init(&rendered, 0);
    belt_status s = BELT_OK;
    struct srv_audit_ev *e = *first;
    for (size_t i = 0; i < n; i++, e = e->next) {
        ev[i].kind = e->kind;
        ev[i].actor = e->actor;
        ev[i].subject = e->subject;
        ev[i].data_json = e->data_json;
        ev[i].ts_ms = e->ts_ms;
        off[i] = SIZE_MAX;
        if (!e->data_json) {
            off[i] = rendered.len;
            if (render_call(e, &rendered) != BELT_OK)
                s = BELT_ERR_NOMEM;
        }
    }
    *first = e;
    struct belt_error err = {0};
    if (s != BELT_OK)
        belt__error_set(&err, s, 0, "out of memory");
    for (size_t i = 0; s == BELT_OK && i < n; i++)
        if (off[i] != SIZE_MAX)
            ev[i].data_json = rendered.data + off[i];
    if (s == BELT_OK)
        s = exec_cached(ctx, "SAVEPOINT srv_audit", &err);
    if (s == BELT_OK) {
        s = belt__audit_append_canonical(a, ev, n, NULL, &err);
        if (s == BELT_OK)
            s = exec_cached(ctx, "RELEASE srv_audit", &err);
        else
            belt__store_exec(ctx->st, "ROLLBACK TO srv_audit; RELEASE srv_audit", NULL);
    }
    if (s != BELT_OK)
        BELT_LOG_E("audit: %zu event(s) not appended: %s", n, err.msg);
    belt_buf_deinit(&rendered);
    return s;
}

void belt__srv_audit_clear(struct srv_audit_list *events)
{
    struct srv_audit_ev *e = events->head;
    while (e) {
        struct srv_audit_ev *next = e->next;
        belt_free(e);
        e = next;
    }
    memset(events, 0, sizeof(*events));
}

static belt_status audit_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    struct srv_gov *g = ((struct audit_job *)job)->gov;
    pthread_mutex_lock(&g->aq_lock);
    struct srv_audit_list events = g->aq;
    memset(&g->aq, 0, sizeof(g->aq));
    g->aq_job = 0;
    pthread_mutex_unlock(&g->aq_lock);
    struct belt_audit *a = writer_audit(g, ctx->st);
    belt_status s = a ? BELT_OK : BELT_ERR_UNSUPPORTED;
    struct srv_audit_ev *e = events.head;
    for (size_t i = 0; a && i < events.n; i += AUDIT_CHUNK) {
        belt_status c = append_chunk(a, ctx, &e, BELT_MIN(events.n - i, (size_t)AUDIT_CHUNK));
        if (c != BELT_OK)
            s = c;
    }
    belt__srv_audit_clear(&events);
    return s;
}

static void audit_release(struct belt_write_job *job)
{
    belt_free(job);
}

static void list_push(struct srv_audit_list *l, struct srv_audit_ev *e)
{
    e->next = NULL;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
}

/* Copy s (may be NULL) to *o, NUL-terminated; returns the copy. */
static const char *put_str(char **o, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = *o;
    memcpy(d, s, n);
    d[n] = '\0';
    *o += n + 1;
    return d;
}

static int utf8_ok(const char *s, size_t n)
{
    size_t bad;
    return !s || belt_utf8_valid(s, n, &bad);
}

/* A new event with room for the strings strs[0..n) (NULL entries allowed) and extra bytes. */
static struct srv_audit_ev *ev_new(const char *const *strs, size_t *lens, size_t n_strs,
                                   size_t extra)
{
    size_t total = extra;
    for (size_t i = 0; i < n_strs; i++) {
        lens[i] = strs[i] ? strlen(strs[i]) : 0;
        if (!utf8_ok(strs[i], lens[i])) {
            BELT_LOG_E("audit: event dropped: a field is not valid UTF-8");
            return NULL;
        }
        total += lens[i] + 1;
    }
    struct srv_audit_ev *e = belt_malloc(sizeof(*e) + total);
    if (!e) {
        BELT_LOG_E("audit: event dropped: out of memory");
        return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->ts_ms = belt_wall_ms();
    return e;
}

void belt__srv_audit_add(struct srv_audit_list *events, const char *kind, const char *actor,
                         const char *subject, json_t *data)
{
    char *text = data ? belt_json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(data);
    if (data && !text) {
        BELT_LOG_E("audit: event dropped: out of memory");
        return;
    }
    const char *strs[4] = {kind, actor, subject, text ? text : "{}"};
    size_t lens[4];
    struct srv_audit_ev *e = ev_new(strs, lens, 4, 0);
    if (e) {
        char *o = e->text;
        e->kind = put_str(&o, kind, lens[0]);
        e->actor = put_str(&o, actor, lens[1]);
        e->subject = put_str(&o, subject, lens[2]);
        e->data_json = put_str(&o, strs[3], lens[3]);
        list_push(events, e);
    }
    belt_free(text);
}

void belt__srv_audit_add_call(struct srv_audit_list *events, const char *actor, const char *subject,
                              const char *route, const char *model, int http_status,
                              double cost_usd, int64_t input_tokens, int64_t output_tokens,
                              int stream, const char *key_name)
{
    if (!isfinite(cost_usd)) { /* JSON has no such number */
        BELT_LOG_E("audit: model.call event dropped: the cost is not a number");
        return;
    }
    const char *strs[6] = {"model.call",       actor, subject,
                           route ? route : "", model, key_name ? key_name : ""};
    size_t lens[6];
    struct srv_audit_ev *e = ev_new(strs, lens, 6, 0);
    if (!e)
        return;
    char *o = e->text;
    e->kind = put_str(&o, strs[0], lens[0]);
    e->actor = put_str(&o, actor, lens[1]);
    e->subject = put_str(&o, subject, lens[2]);
    e->call.route = put_str(&o, strs[3], lens[3]);
    e->call.model = put_str(&o, model, lens[4]);
    e->call.key_name = put_str(&o, strs[5], lens[5]);
    e->call.http_status = http_status;
    e->call.cost_usd = cost_usd;
    e->call.input_tokens = input_tokens;
    e->call.output_tokens = output_tokens;
    e->call.stream = stream;
    list_push(events, e);
}

/* Queue events (taken; NULL: none, only retry the flush) and make sure a flush job is on its
 * way when events wait. */
static void audit_queue(struct srv_gov *g, struct srv_audit_list *events)
{
    struct audit_job *j = NULL;
    pthread_mutex_lock(&g->aq_lock);
    if (events && events->n) {
        if (g->aq.tail)
            g->aq.tail->next = events->head;
        else
            g->aq.head = events->head;
        g->aq.tail = events->tail;
        g->aq.n += events->n;
    }
    if (g->aq.n && !g->aq_job) {
        j = belt_calloc(1, sizeof(*j));
        g->aq_job = j != NULL;
    }
    pthread_mutex_unlock(&g->aq_lock);
    if (events)
        memset(events, 0, sizeof(*events));
    if (!j)
        return; /* a flush job is already queued: it takes these too */
    j->job.run = audit_run;
    j->job.release = audit_release;
    j->gov = g;
    if (belt__writer_submit(g->writer, &j->job) != 0) {
        BELT_LOG_E("audit: the store writer is full; events wait for the next flush");
        pthread_mutex_lock(&g->aq_lock);
        g->aq_job = 0;
        pthread_mutex_unlock(&g->aq_lock);
    }
}

void belt__srv_audit_submit(struct srv_gov *g, struct srv_audit_list *events)
{
    if (!g->writer || events->n == 0) {
        belt__srv_audit_clear(events);
        return;
    }
    audit_queue(g, events);
}

/* ---- tasks and mailboxes -------------------------------------------------------------------- */

static void mailbox_post(struct srv_mailbox *mb, struct srv_task *t)
{
    t->mb_next = NULL;
    pthread_mutex_lock(&mb->lock);
    if (mb->tail)
        mb->tail->mb_next = t;
    else
        mb->head = t;
    mb->tail = t;
    pthread_mutex_unlock(&mb->lock);
    uint64_t one = 1;
    ssize_t w = write(mb->fd, &one, sizeof(one));
    (void)w; /* a saturated eventfd is already readable */
}

static belt_status task_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    struct srv_task *t = (struct srv_task *)job;
    struct belt_audit *a = t->needs_audit ? writer_audit(t->gov, ctx->st) : NULL;
    t->status = t->run(t, ctx->st, a, &t->err);
    return t->status;
}

/* After run, or when the writer drops the job: hand it back to the loop. */
static void task_release(struct belt_write_job *job)
{
    struct srv_task *t = (struct srv_task *)job;
    struct srv_gov *g = t->gov;
    mailbox_post(t->mb, t);
    atomic_fetch_sub(&g->n_pending, 1);
}

int belt__srv_task_submit(struct srv_loop *sl, struct srv_task *t)
{
    struct srv_gov *g = &sl->s->gov;
    t->gov = g;
    t->mb = &sl->mb;
    t->job.run = task_run;
    t->job.release = task_release;
    t->job.flags = BELT_WRITE_OWN_TX | BELT_WRITE_URGENT;
    t->status = BELT_ERR_BUSY; /* what a dropped job reports */
    belt__error_set(&t->err, BELT_ERR_BUSY, 0, "the store writer is overloaded; try again");
    atomic_fetch_add(&g->n_pending, 1);
    if (!g->writer) {
        t->status = belt__error_set(&t->err, BELT_ERR_UNSUPPORTED, 0,
                                    "the gateway has no store (store.path)");
        task_release(&t->job);
        return 0;
    }
    belt__writer_submit(g->writer, &t->job); /* a dropped job is released: it comes back too */
    return 0;
}

static void on_mailbox(evutil_socket_t fd, short what, void *arg)
{
    struct srv_loop *sl = arg;
    struct srv_mailbox *mb = &sl->mb;
    (void)what;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof(n));
    (void)r;
    pthread_mutex_lock(&mb->lock);
    struct srv_task *t = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    while (t) {
        struct srv_task *next = t->mb_next;
        t->done(t, 1);
        t = next;
    }
}

belt_status belt__srv_mailbox_init(struct srv_loop *sl, struct belt_error *err)
{
    struct srv_mailbox *mb = &sl->mb;
    mb->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->fd < 0)
        return belt__error_set(err, BELT_ERR_IO, errno, "cannot create an eventfd");
    pthread_mutex_init(&mb->lock, NULL);
    mb->ev = event_new(sl->base, mb->fd, EV_READ | EV_PERSIST, on_mailbox, sl);
    if (!mb->ev || event_add(mb->ev, NULL) != 0)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot watch the mailbox");
    return BELT_OK;
}

void belt__srv_mailbox_deinit(struct srv_loop *sl)
{
    struct srv_mailbox *mb = &sl->mb;
    if (mb->fd < 0)
        return; /* never initialised */
    pthread_mutex_lock(&mb->lock);
    struct srv_task *t = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    while (t) {
        struct srv_task *next = t->mb_next;
        t->done(t, 0);
        t = next;
    }
    if (mb->ev)
        event_free(mb->ev);
    mb->ev = NULL;
    close(mb->fd);
    mb->fd = -1;
    pthread_mutex_destroy(&mb->lock);
}

/* ---- key spend flush ------------------------------------------------------------------------ */

struct flush_job {
    struct belt_write_job job; /* first */
    struct belt_keys *keys;    /* borrowed */
};

static belt_status flush_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    (void)ctx;
    struct belt_error err = {0};
    belt_status s = belt_keys_flush(((struct flush_job *)job)->keys, &err);
    if (s != BELT_OK)
        BELT_LOG_W("keys: spend not written yet: %s", err.msg);
    return s;
}

static void flush_release(struct belt_write_job *job)
{
    belt_free(job);
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    struct srv_gov *g = arg;
    (void)fd;
    (void)what;
    struct flush_job *j = belt_calloc(1, sizeof(*j));
    if (!j)
        return;
    j->job.run = flush_run;
    j->job.release = flush_release;
    j->job.flags = BELT_WRITE_OWN_TX; /* belt_keys writes through its own connection */
    j->keys = g->keys;
    belt__writer_submit(g->writer, &j->job);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

belt_status belt__srv_gov_init(struct belt_server *s, struct srv_gov *g, struct belt_error *err)
{
    const struct belt_config *cfg = belt_engine_config(s->e);
    struct belt_cfg_guard_view v;
    belt__cfg_guard_view(&cfg->guard, cfg->dir, cfg->store.path, &v);
    g->cfg = cfg;
    g->writer = s->e->writer;
    g->keys_required = v.keys_required;
    pthread_mutex_init(&g->aq_lock, NULL);
    g->aq_inited = 1;
    randombytes_buf(g->csrf_key, sizeof(g->csrf_key));
    atomic_init(&g->n_pending, 0);
    belt_status st = belt_guard_new_from_config(cfg, &g->guard, err);
    if (st != BELT_OK)
        return st;
    if (!g->writer) {
        if (g->keys_required)
            return belt__error_set(err, BELT_ERR_CONFIG, 0,
                                   "guard.keys.required is true but the gateway has no store: "
                                   "set store.path, or guard.keys.required: false");
        BELT_LOG_W("gateway without a store: no API keys, no audit log, no review queue");
        return BELT_OK;
    }
    unsigned char key[32];
    st = belt_guard_secret(cfg, BELT_SECRET_AUDIT, 1, key, err); /* fail now, not on first use */
    memset(key, 0, sizeof(key));
    if (st != BELT_OK)
        return belt__error_prefix(err, "audit key: ");
    st = belt_keys_new_from_config(cfg, &g->keys, err);
    return st;
}

belt_status belt__srv_gov_start(struct belt_server *s, struct belt_error *err)
{
    struct srv_gov *g = &s->gov;
    if (!g->keys || !g->writer)
        return BELT_OK;
    g->flush_ev = event_new(s->loops[0].base, -1, EV_PERSIST, on_flush_timer, g);
    struct timeval tv = {SPEND_FLUSH_MS / 1000, (SPEND_FLUSH_MS % 1000) * 1000};
    if (!g->flush_ev || event_add(g->flush_ev, &tv) != 0)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot start the spend flush timer");
    return BELT_OK;
}

int belt__srv_gov_quiesce(struct srv_gov *g, int64_t timeout_ms)
{
    if (g->flush_ev) /* on loop 0's base, which is freed before belt__srv_gov_free */
        event_free(g->flush_ev);
    g->flush_ev = NULL;
    if (!g->writer)
        return 0;
    struct belt_error err = {0};
    for (int64_t waited = 0; atomic_load(&g->n_pending) > 0 && waited < timeout_ms; waited += 10) {
        belt__writer_flush(g->writer, 10, &err);
    }
    return atomic_load(&g->n_pending) > 0;
}

struct close_job {
    struct belt_write_job job; /* first */
    struct srv_gov *gov;       /* owner */
};

static belt_status close_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    (void)ctx;
    struct srv_gov *g = ((struct close_job *)job)->gov;
    belt_audit_close(g->audit); /* writes the final checkpoint */
    g->audit = NULL;
    return BELT_OK;
}

static void close_release(struct belt_write_job *job)
{
    belt_free(job);
}

void belt__srv_gov_free(struct srv_gov *g)
{
    if (g->writer) {
        audit_queue(g, NULL); /* events whose flush job was refused: one more try */
        struct close_job *j = belt_calloc(1, sizeof(*j));
        if (j) {
            j->job.run = close_run;
            j->job.release = close_release;
            j->job.flags = BELT_WRITE_OWN_TX;
            j->gov = g;
            belt__writer_submit(g->writer, &j->job);
        }
        struct belt_error err = {0};
        if (belt__writer_flush(g->writer, 30000, &err) != BELT_OK)
            BELT_LOG_E("audit: the final checkpoint was not written: %s", err.msg);
    }
    if (g->aq_inited) {
        belt__srv_audit_clear(&g->aq); /* only left when the writer refused every flush */
        pthread_mutex_destroy(&g->aq_lock);
        g->aq_inited = 0;
    }
    belt_keys_free(g->keys); /* flushes recorded spend */
    sodium_memzero(g->csrf_key, sizeof(g->csrf_key));
    belt_guard_free(g->guard);
    g->keys = NULL;
    g->guard = NULL;
}
