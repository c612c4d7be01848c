/*
 * writer.c — the store writer thread (see writer.h). A FIFO of jobs under one mutex; the thread
 * sleeps on a condition variable, takes up to max_batch jobs (after waiting up to max_delay_ms
 * for a batch to fill), runs them inside BEGIN IMMEDIATE ... COMMIT and releases them. flush()
 * waits on a second condition until the committed sequence number reaches the one it saw.
 * With an upkeep hook the idle wait has a deadline, so upkeep runs while no job arrives too.
 *
 * WAL checkpoints run on a second thread with its own connection: the writer's connection has
 * SQLite's auto-checkpoint replaced by a WAL hook that wakes the checkpointer once the log holds
 * CHECKPOINT_PAGES frames. A checkpoint ends in an fsync of the database file (under load here:
 * p50 2 ms, max 140 ms); done by the writer, every job queued meanwhile waits in memory.
 */
#include "belt_config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "store/store.h"
#include "trace/writer.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#define STMT_CACHE       32
#define CHECKPOINT_PAGES 1000 /* WAL frames that trigger a checkpoint (SQLite's default) */

struct belt_writer {
    struct belt_writer_params p; /* copy (path not used after open) */
    struct belt_store *st;       /* the writer's connection; used by the thread only */
    pthread_t thread;            /* the writer */
    int started;                 /* thread running */
    pthread_mutex_t lock;        /* guards everything below */
    pthread_cond_t wake;         /* work arrived or stop */
    pthread_cond_t done;         /* a batch committed */
    struct belt_write_job *head; /* queue */
    struct belt_write_job *tail;
    size_t depth;                    /* jobs queued */
    int stop;                        /* stop after draining */
    int urgent;                      /* a flush waits: do not wait for the batch to fill */
    uint64_t seq_queued;             /* jobs ever queued */
    uint64_t seq_done;               /* jobs ever finished (applied or failed) */
    int64_t next_upkeep_us;          /* belt_now_us() when upkeep is due (thread only) */
    struct belt_writer_stats stats;  /* counters */
    struct belt_store *ckpt_st;      /* the checkpointer's connection (its thread only) */
    pthread_t ckpt_thread;           /* the checkpointer */
    int ckpt_started;                /* thread running */
    pthread_cond_t ckpt_wake;        /* a checkpoint is due, or stop (under lock) */
    int ckpt_due;                    /* the WAL reached CHECKPOINT_PAGES */
    const char *sql_key[STMT_CACHE]; /* statement cache (thread only) */
    sqlite3_stmt *sql_stmt[STMT_CACHE];
    size_t n_stmt;
};

struct belt_writer_params belt__writer_default_params(void)
{
    struct belt_writer_params p;
    memset(&p, 0, sizeof(p));
    p.max_queue = 100000;
    p.max_batch = 1000;
    p.max_delay_ms = 10;
    p.busy_timeout_ms = 5000;
    return p;
}

sqlite3_stmt *belt__writer_stmt(struct belt_writer_ctx *ctx, const char *sql)
{
    struct belt_writer *w = ctx->w;
    for (size_t i = 0; i < w->n_stmt; i++) {
        if (w->sql_key[i] == sql) {
            sqlite3_reset(w->sql_stmt[i]);
            sqlite3_clear_bindings(w->sql_stmt[i]);
            return w->sql_stmt[i];
        }
    }
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v3(ctx->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        BELT_LOG_E("store writer: cannot prepare statement: %s", sqlite3_errmsg(ctx->db));
        return NULL;
    }
    if (w->n_stmt < STMT_CACHE) {
        w->sql_key[w->n_stmt] = sql;
        w->sql_stmt[w->n_stmt++] = s;
    } else {
        BELT_LOG_W("store writer: statement cache full");
        sqlite3_finalize(w->sql_stmt[STMT_CACHE - 1]);
        w->sql_key[STMT_CACHE - 1] = sql;
        w->sql_stmt[STMT_CACHE - 1] = s;
    }
    return s;
}

static void deadline_after_us(struct timespec *ts, int64_t us)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(us / 1000000);
    ts->tv_nsec += (long)(us % 1000000) * 1000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    deadline_after_us(ts, ms * 1000);
}

/* Take up to max_batch jobs off the queue (caller holds the lock). */
static struct belt_write_job *take_batch(struct belt_writer *w, size_t *n_out)
{
    struct belt_write_job *first = w->head, *last = NULL, *j = w->head;
    size_t n = 0;
    while (j && n < w->p.max_batch) {
        last = j;
        j = j->next;
        n++;
    }
    if (last)
        last->next = NULL;
    w->head = j;
    if (!j)
        w->tail = NULL;
    w->depth -= n;
    *n_out = n;
    return first;
}

/* Run one batch in a transaction; returns how many jobs failed. */
static size_t run_batch(struct belt_writer *w, struct belt_write_job *jobs)
{
    struct belt_writer_ctx ctx = {w, belt__store_db(w->st), w->st};
    struct belt_error err;
    size_t failed = 0;
    int in_tx = belt__store_begin(w->st, &err) == BELT_OK;
    if (!in_tx)
        BELT_LOG_E("store writer: %s", err.msg);
    for (struct belt_write_job *j = jobs; j;) {
        struct belt_write_job *next = j->next;
        if (j->flags & BELT_WRITE_OWN_TX) { /* outside the batch: commit, run, begin again */
            if (in_tx && belt__store_commit(w->st, &err) != BELT_OK) {
                BELT_LOG_E("store writer: commit failed: %s", err.msg);
                belt__store_rollback(w->st);
            }
            if (j->run(&ctx, j) != BELT_OK)
                failed++;
            in_tx = belt__store_begin(w->st, &err) == BELT_OK;
            if (!in_tx)
                BELT_LOG_E("store writer: %s", err.msg);
        } else if (in_tx && j->run(&ctx, j) != BELT_OK)
            failed++;
        else if (!in_tx)
            failed++;
        j->release(j);
        j = next;
    }
    if (in_tx && belt__store_commit(w->st, &err) != BELT_OK) {
        BELT_LOG_E("store writer: commit failed: %s", err.msg);
        belt__store_rollback(w->st);
    }
    return failed;
}

/* Run the upkeep hook in its own transaction and schedule the next run (thread, unlocked). */
static void run_upkeep(struct belt_writer *w)
{
    struct belt_writer_ctx ctx = {w, belt__store_db(w->st), w->st};
    struct belt_error err;
    int more = 0;
    if (belt__store_begin(w->st, &err) != BELT_OK) {
        BELT_LOG_E("store writer: upkeep: %s", err.msg);
    } else {
        more = w->p.upkeep(&ctx, w->p.upkeep_ud);
        if (more < 0)
            belt__store_rollback(w->st);
        else if (belt__store_commit(w->st, &err) != BELT_OK) {
            BELT_LOG_E("store writer: upkeep: commit failed: %s", err.msg);
            belt__store_rollback(w->st);
        }
    }
    int64_t now = belt_now_us();
    w->next_upkeep_us = more > 0 ? now : now + w->p.upkeep_every_ms * 1000;
    pthread_mutex_lock(&w->lock);
    w->stats.upkeeps++;
    pthread_mutex_unlock(&w->lock);
}

/* Wait (lock held) until a job arrives or stop; with an upkeep hook, run it when due. */
static void wait_for_work(struct belt_writer *w)
{
    while (!w->head && !w->stop) {
        if (!w->p.upkeep) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        int64_t left = w->next_upkeep_us - belt_now_us();
        if (left <= 0) {
            pthread_mutex_unlock(&w->lock);
            run_upkeep(w);
            pthread_mutex_lock(&w->lock);
            continue;
        }
        struct timespec ts;
        deadline_after_us(&ts, left);
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
    }
}

static void *writer_main(void *arg)
{
    struct belt_writer *w = arg;
    prctl(PR_SET_NAME, "belt-writer", 0, 0, 0); /* shows in top -H, perf, gdb */
    pthread_mutex_lock(&w->lock);
    for (;;) {
        wait_for_work(w);
        if (!w->head && w->stop)
            break;
        if (w->depth < w->p.max_batch && !w->stop && w->p.max_delay_ms > 0) {
            struct timespec ts; /* let the batch fill a little */
            deadline_after(&ts, w->p.max_delay_ms);
            int rc = 0;
            while (w->depth < w->p.max_batch && !w->stop && !w->urgent && rc != ETIMEDOUT)
                rc = pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        }
        w->urgent = 0;
        size_t n = 0;
        struct belt_write_job *batch = take_batch(w, &n);
        pthread_mutex_unlock(&w->lock);
        size_t failed = run_batch(w, batch);
        pthread_mutex_lock(&w->lock);
        w->stats.written += n - failed;
        w->stats.failed += failed;
        w->stats.batches++;
        w->seq_done += n;
        pthread_cond_broadcast(&w->done);
        if (w->p.upkeep && !w->stop && belt_now_us() >= w->next_upkeep_us) {
            pthread_mutex_unlock(&w->lock); /* after `done`: nobody waits for the upkeep */
            run_upkeep(w);
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* After each commit on the writer's connection (writer thread): wake the checkpointer when the
 * log is long enough. Replaces SQLite's auto-checkpoint on this connection. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int n_frames)
{
    struct belt_writer *w = ud;
    (void)db;
    (void)name;
    if (n_frames >= CHECKPOINT_PAGES) {
        pthread_mutex_lock(&w->lock);
        w->ckpt_due = 1;
        pthread_cond_signal(&w->ckpt_wake);
        pthread_mutex_unlock(&w->lock);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct belt_writer *w = arg;
    prctl(PR_SET_NAME, "belt-checkpoint", 0, 0, 0);
    sqlite3 *db = belt__store_db(w->ckpt_st);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->ckpt_due && !w->stop)
            pthread_cond_wait(&w->ckpt_wake, &w->lock);
        if (w->stop)
            break; /* what is left is checkpointed when the last connection closes */
        w->ckpt_due = 0;
        pthread_mutex_unlock(&w->lock);
        /* PASSIVE: copies what no reader still needs, never waits for the writer */
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            BELT_LOG_W("store checkpointer: %s", sqlite3_errmsg(db));
        pthread_mutex_lock(&w->lock);
        w->stats.checkpoints++;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

belt_status belt__writer_new(const struct belt_writer_params *p, struct belt_writer **out,
                             struct belt_error *err)
{
    struct belt_writer *w = belt_calloc(1, sizeof(*w));
    if (!w)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    w->p = *p;
    w->p.path = NULL;
    if (!w->p.max_batch)
        w->p.max_batch = 1000;
    if (!w->p.max_queue)
        w->p.max_queue = 100000;
    if (w->p.upkeep_every_ms <= 0)
        w->p.upkeep_every_ms = 60000;
    w->next_upkeep_us = belt_now_us(); /* the first upkeep runs at start */
    struct belt_store_params sp = belt_store_default_params();
    sp.path = p->path;
    sp.busy_timeout_ms = p->busy_timeout_ms;
    belt_status st = belt_store_open(&sp, &w->st, err);
    if (st != BELT_OK) {
        belt_free(w);
        return st;
    }
    /* the writer appends: a small page cache is enough and keeps the gateway's RSS low */
    belt__store_exec(w->st, "PRAGMA cache_size=-512", NULL);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
    pthread_cond_init(&w->ckpt_wake, NULL);
    st = belt_store_open(&sp, &w->ckpt_st, err);
    if (st != BELT_OK) {
        belt__writer_free(w);
        return st;
    }
    belt__store_exec(w->ckpt_st, "PRAGMA cache_size=-64", NULL);
    if (pthread_create(&w->ckpt_thread, NULL, checkpointer_main, w) != 0) {
        belt__writer_free(w);
        return belt__error_set(err, BELT_ERR_INTERNAL, errno, "cannot start the checkpointer");
    }
    w->ckpt_started = 1;
    sqlite3_wal_hook(belt__store_db(w->st), wal_hook, w); /* before the writer thread starts */
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        belt__writer_free(w);
        return belt__error_set(err, BELT_ERR_INTERNAL, errno, "cannot start the writer thread");
    }
    w->started = 1;
    *out = w;
    return BELT_OK;
}

void belt__writer_free(struct belt_writer *w)
{
    if (!w)
        return;
    if (w->started || w->ckpt_started) {
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_signal(&w->wake);
        pthread_cond_signal(&w->ckpt_wake);
        pthread_mutex_unlock(&w->lock);
    }
    if (w->started)
        pthread_join(w->thread, NULL);
    if (w->ckpt_started)
        pthread_join(w->ckpt_thread, NULL);
    for (size_t i = 0; i < w->n_stmt; i++)
        sqlite3_finalize(w->sql_stmt[i]);
    belt_store_close(w->ckpt_st);
    belt_store_close(w->st); /* SQLite checkpoints the rest when the last connection closes */
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->ckpt_wake);
    belt_free(w);
}

int belt__writer_submit(struct belt_writer *w, struct belt_write_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->stop || w->depth >= w->p.max_queue) {
        w->stats.dropped++;
        pthread_mutex_unlock(&w->lock);
        job->release(job);
        return -1;
    }
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->depth++;
    w->seq_queued++;
    w->stats.queued++;
    if (job->flags & BELT_WRITE_URGENT) {
        w->urgent = 1;
        pthread_cond_signal(&w->wake);
    } else if (w->depth == 1 || w->depth == w->p.max_batch)
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

belt_status belt__writer_flush(struct belt_writer *w, int64_t timeout_ms, struct belt_error *err)
{
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&w->lock);
    uint64_t target = w->seq_queued;
    w->urgent = 1;
    pthread_cond_signal(&w->wake);
    int rc = 0;
    while (w->seq_done < target && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->done, &w->lock, &ts);
    int ok = w->seq_done >= target;
    pthread_mutex_unlock(&w->lock);
    if (!ok)
        return belt__error_set(err, BELT_ERR_TIMEOUT, 0,
                               "the store writer did not catch up within %lld ms",
                               (long long)timeout_ms);
    return BELT_OK;
}

void belt__writer_stats(struct belt_writer *w, struct belt_writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    out->depth = w->depth;
    pthread_mutex_unlock(&w->lock);
}
