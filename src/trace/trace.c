/*
 * trace.c — trace records: build, queue to the writer, insert (writer thread), and the read
 * side for `belt traces` (see trace.h and belt.h "Traces").
 */
#include "belt_config.h"

#include <string.h>

#include "store/store.h"
#include "trace/trace.h"
#include "util/error.h"
#include "util/log.h"

struct belt_trace_rec *belt__trace_rec_new(size_t n_steps)
{
    return belt_calloc(1, sizeof(struct belt_trace_rec) +
                              n_steps * sizeof(struct belt_trace_step_rec));
}

void belt__trace_rec_free(struct belt_trace_rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_steps; i++) {
        belt_free(r->steps[i].error);
        belt_free(r->steps[i].note);
    }
    belt_free(r->error);
    belt_free(r->attrs);
    belt_free(r);
}

const char *belt__trace_step_status(belt_status st)
{
    switch (st) {
    case BELT_OK:
        return "ok";
    case BELT_ERR_TIMEOUT:
        return "timeout";
    case BELT_ERR_RATELIMIT:
        return "ratelimited";
    case BELT_ERR_BUSY:
        return "skipped";
    case BELT_ERR_CANCELLED:
        return "cancelled";
    default:
        return "error";
    }
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static const char sql_trace[] =
    "INSERT OR REPLACE INTO traces(id, ts_ms, kind, route, model, key_id, status, http_status,"
    " error, input_tokens, output_tokens, cost_usd, latency_us, cache_hit, stream, attrs)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)";
static const char sql_step[] =
    "INSERT OR REPLACE INTO trace_steps(trace_id, seq, model, deployment, tier, status,"
    " http_status, error, reason, confidence, input_tokens, output_tokens, cost_usd,"
    " latency_us) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)";

static belt_status insert_steps(struct belt_writer_ctx *ctx, const struct belt_trace_rec *r)
{
    for (size_t i = 0; i < r->n_steps; i++) {
        const struct belt_trace_step_rec *s = &r->steps[i];
        sqlite3_stmt *q = belt__writer_stmt(ctx, sql_step);
        if (!q)
            return BELT_ERR_STORE;
        sqlite3_bind_text(q, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, s->seq);
        bind_text(q, 3, s->model ? s->model : "");
        bind_text(q, 4, s->deployment);
        if (s->tier >= 0)
            sqlite3_bind_int(q, 5, s->tier);
        bind_text(q, 6, s->status ? s->status : "error");
        if (s->http_status)
            sqlite3_bind_int(q, 7, s->http_status);
        bind_text(q, 8, s->error);
        bind_text(q, 9, s->note ? s->note : s->reason);
        if (s->confidence >= 0)
            sqlite3_bind_double(q, 10, s->confidence);
        sqlite3_bind_int64(q, 11, s->input_tokens);
        sqlite3_bind_int64(q, 12, s->output_tokens);
        sqlite3_bind_double(q, 13, s->cost_usd);
        sqlite3_bind_int64(q, 14, s->latency_us);
        if (sqlite3_step(q) != SQLITE_DONE)
            return BELT_ERR_STORE;
    }
    return BELT_OK;
}

static belt_status trace_run(struct belt_writer_ctx *ctx, struct belt_write_job *job)
{
    const struct belt_trace_rec *r = (const struct belt_trace_rec *)job;
    sqlite3_stmt *q = belt__writer_stmt(ctx, sql_trace);
    if (!q)
        return BELT_ERR_STORE;
    sqlite3_bind_text(q, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, r->ts_ms);
    bind_text(q, 3, r->kind ? r->kind : "chat");
    bind_text(q, 4, r->route);
    bind_text(q, 5, r->model);
    bind_text(q, 6, r->key_id);
    bind_text(q, 7, r->status ? r->status : "error");
    if (r->http_status)
        sqlite3_bind_int(q, 8, r->http_status);
    bind_text(q, 9, r->error);
    sqlite3_bind_int64(q, 10, r->input_tokens);
    sqlite3_bind_int64(q, 11, r->output_tokens);
    sqlite3_bind_double(q, 12, r->cost_usd);
    sqlite3_bind_int64(q, 13, r->latency_us);
    sqlite3_bind_int(q, 14, r->cache_hit);
    sqlite3_bind_int(q, 15, r->stream);
    bind_text(q, 16, r->attrs);
    if (sqlite3_step(q) != SQLITE_DONE)
        return BELT_ERR_STORE;
    return insert_steps(ctx, r);
}

/* ---- retention ------------------------------------------------------------------------------ */

/* The oldest traces started before ?1, at most ?2 of them, found through the ts_ms index (so a
 * store with nothing to delete costs one index probe); their steps first, then the traces. The
 * two statements run in one transaction and pick the same rows. */
static const char sql_prune_steps[] =
    "DELETE FROM trace_steps WHERE trace_id IN"
    " (SELECT id FROM traces WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)";
static const char sql_prune_traces[] =
    "DELETE FROM traces WHERE rowid IN"
    " (SELECT rowid FROM traces WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)";

static int prune_step(sqlite3 *db, sqlite3_stmt *q, int64_t before_ms, int64_t limit,
                      int64_t *changed /* may be NULL */)
{
    sqlite3_bind_int64(q, 1, before_ms);
    sqlite3_bind_int64(q, 2, limit);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return rc;
    if (changed)
        *changed = sqlite3_changes64(db);
    return SQLITE_OK;
}

static int prune_with(sqlite3 *db, sqlite3_stmt *steps, sqlite3_stmt *traces, int64_t before_ms,
                      int64_t limit, int64_t *n_traces)
{
    int rc = prune_step(db, steps, before_ms, limit, NULL);
    if (rc == SQLITE_OK)
        rc = prune_step(db, traces, before_ms, limit, n_traces);
    return rc;
}

int belt__trace_prune(struct belt_writer_ctx *ctx, int64_t before_ms, int64_t limit,
                      int64_t *n_traces)
{
    *n_traces = 0;
    sqlite3_stmt *steps = belt__writer_stmt(ctx, sql_prune_steps);
    sqlite3_stmt *traces = steps ? belt__writer_stmt(ctx, sql_prune_traces) : NULL;
    if (!traces)
        return -1;
    int rc = prune_with(ctx->db, steps, traces, before_ms, limit, n_traces);
    if (rc != SQLITE_OK) {
        BELT_LOG_E("trace retention: %s", sqlite3_errmsg(ctx->db));
        return -1;
    }
    return *n_traces >= limit ? 1 : 0;
}

belt_status belt_store_prune_traces(struct belt_store *st, int64_t before_ms, int64_t *n_out,
                                    struct belt_error *err)
{
    const int64_t chunk = 10000; /* rows per transaction: a running gateway's writer waits at
                                    most one chunk for the lock */
    int64_t total = 0;
    sqlite3_stmt *steps = NULL, *traces = NULL;
    belt_status s = belt__store_prepare(st, sql_prune_steps, &steps, err);
    if (s == BELT_OK)
        s = belt__store_prepare(st, sql_prune_traces, &traces, err);
    for (int64_t n = chunk; s == BELT_OK && n >= chunk;) {
        s = belt__store_begin(st, err);
        if (s != BELT_OK)
            break;
        int rc = prune_with(belt__store_db(st), steps, traces, before_ms, chunk, &n);
        if (rc != SQLITE_OK) {
            s = belt__store_error(st, rc, err, "deleting old traces");
            belt__store_rollback(st);
            break;
        }
        s = belt__store_commit(st, err);
        if (s == BELT_OK)
            total += n;
    }
    sqlite3_finalize(steps);
    sqlite3_finalize(traces);
    if (n_out)
        *n_out = total;
    return s;
}

static void trace_release(struct belt_write_job *job)
{
    belt__trace_rec_free((struct belt_trace_rec *)job);
}

int belt__trace_submit(struct belt_writer *w, struct belt_trace_rec *r)
{
    r->job.run = trace_run;
    r->job.release = trace_release;
    return belt__writer_submit(w, &r->job);
}

/* ---- read side ---------------------------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* Build the WHERE clause of a query into b and bind later in the same order. */
static void where_clause(const struct belt_trace_query *q, struct belt_buf *b)
{
    belt_buf_puts(b, " WHERE rowid > ?1");
    if (q->id)
        belt_buf_puts(b, " AND id = ?2");
    if (q->since_ms)
        belt_buf_puts(b, " AND ts_ms >= ?3");
    if (q->until_ms)
        belt_buf_puts(b, " AND ts_ms < ?4");
    if (q->model)
        belt_buf_puts(b, " AND model = ?5");
    if (q->route)
        belt_buf_puts(b, " AND route = ?6");
    belt_buf_puts(b, q->newest_first ? " ORDER BY rowid DESC" : " ORDER BY rowid ASC");
    if (q->limit > 0)
        belt_buf_puts(b, " LIMIT ?7");
}

static void read_trace(sqlite3_stmt *s, struct belt_trace_info *t)
{
    memset(t, 0, sizeof(*t));
    t->rowid = sqlite3_column_int64(s, 0);
    t->id = col_text(s, 1);
    t->ts_ms = sqlite3_column_int64(s, 2);
    t->kind = col_text(s, 3);
    t->route = col_text(s, 4);
    t->model = col_text(s, 5);
    t->key_id = col_text(s, 6);
    t->status = col_text(s, 7);
    t->http_status = sqlite3_column_int(s, 8);
    t->error = col_text(s, 9);
    t->input_tokens = sqlite3_column_int64(s, 10);
    t->output_tokens = sqlite3_column_int64(s, 11);
    t->cost_usd = sqlite3_column_double(s, 12);
    t->latency_us = sqlite3_column_int64(s, 13);
    t->cache_hit = sqlite3_column_int(s, 14);
    t->stream = sqlite3_column_int(s, 15);
    t->attrs_json = col_text(s, 16);
}

belt_status belt_store_list_traces(struct belt_store *st, const struct belt_trace_query *q,
                                   belt_trace_fn *fn, void *ud, struct belt_error *err)
{
    struct belt_trace_query all;
    memset(&all, 0, sizeof(all));
    if (!q)
        q = &all;
    struct belt_buf sql;
    belt_buf_init(&sql, 4096);
    belt_buf_puts(&sql, "SELECT rowid, id, ts_ms, kind, route, model, key_id, status, "
                        "http_status, error, input_tokens, output_tokens, cost_usd, latency_us, "
                        "cache_hit, stream, attrs FROM traces");
    where_clause(q, &sql);
    sqlite3_stmt *s = NULL;
    belt_status rc = belt__store_prepare(st, belt_buf_cstr(&sql), &s, err);
    belt_buf_deinit(&sql);
    if (rc != BELT_OK)
        return rc;
    sqlite3_bind_int64(s, 1, q->after_rowid);
    if (q->id)
        sqlite3_bind_text(s, 2, q->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, q->since_ms);
    sqlite3_bind_int64(s, 4, q->until_ms);
    if (q->model)
        sqlite3_bind_text(s, 5, q->model, -1, SQLITE_STATIC);
    if (q->route)
        sqlite3_bind_text(s, 6, q->route, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, q->limit);
    int r;
    for (;;) {
        r = sqlite3_step(s);
        if (r != SQLITE_ROW)
            break;
        struct belt_trace_info t;
        read_trace(s, &t);
        if (fn(ud, &t) != 0) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE)
        return belt__store_error(st, r, err, "reading traces");
    return BELT_OK;
}

belt_status belt_store_trace_steps(struct belt_store *st, const char *id, belt_trace_step_fn *fn,
                                   void *ud, struct belt_error *err)
{
    sqlite3_stmt *s = NULL;
    belt_status rc = belt__store_prepare(
        st,
        "SELECT seq, model, deployment, tier, status, http_status, error, reason, confidence,"
        " input_tokens, output_tokens, cost_usd, latency_us FROM trace_steps"
        " WHERE trace_id = ?1 ORDER BY seq",
        &s, err);
    if (rc != BELT_OK)
        return rc;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int r;
    for (;;) {
        r = sqlite3_step(s);
        if (r != SQLITE_ROW)
            break;
        struct belt_trace_step_info t;
        t.seq = sqlite3_column_int(s, 0);
        t.model = col_text(s, 1);
        t.deployment = col_text(s, 2);
        t.tier = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
        t.status = col_text(s, 4);
        t.http_status = sqlite3_column_int(s, 5);
        t.error = col_text(s, 6);
        t.reason = col_text(s, 7);
        t.confidence = sqlite3_column_type(s, 8) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 8);
        t.input_tokens = sqlite3_column_int64(s, 9);
        t.output_tokens = sqlite3_column_int64(s, 10);
        t.cost_usd = sqlite3_column_double(s, 11);
        t.latency_us = sqlite3_column_int64(s, 12);
        if (fn(ud, &t) != 0) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE)
        return belt__store_error(st, r, err, "reading trace steps");
    return BELT_OK;
}
