/*
 * writer.h — the store writer: one thread that owns a SQLite connection and applies queued
 * write jobs in batched transactions (up to max_batch jobs or max_delay_ms per transaction),
 * so that event-loop threads never wait on the disk. Used for traces and cache entries; any
 * module can queue its own job kind (a struct that starts with `struct belt_write_job`). A
 * second thread with its own connection runs the WAL checkpoints (and their fsync), so that the
 * writer itself never waits on them.
 *
 * Thread rule: belt__writer_submit/flush/stats are thread-safe and never block on I/O
 * (submit takes a mutex held for a few instructions). When the queue is full a job is dropped
 * (released and counted), never waited for. Jobs run on the writer thread only.
 */
#ifndef BELT_TRACE_WRITER_H
#define BELT_TRACE_WRITER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"

struct belt_writer;
struct belt_write_job;

/* Statements cached by the writer for jobs: prepared once (persistent) per SQL text pointer. */
struct belt_writer_ctx {
    struct belt_writer *w; /* the writer */
    sqlite3 *db;           /* its connection */
    struct belt_store *st; /* the same connection as a store (for modules' store functions) */
};
/* The cached, reset statement for `sql` (a string with static storage: the pointer is the
 * key). NULL on a prepare error (logged). */
sqlite3_stmt *belt__writer_stmt(struct belt_writer_ctx *ctx, const char *sql);

/* Apply the job inside the open batch transaction. Non-OK is logged and counted; the batch
 * goes on (one bad row never loses the others). */
typedef belt_status belt_write_run_fn(struct belt_writer_ctx *ctx, struct belt_write_job *job);
/* Release the job (after it ran, or when it is dropped). */
typedef void belt_write_release_fn(struct belt_write_job *job);

/* Job flags. */
enum {
    /* Run outside the batch transaction (the writer commits what came before, runs the job in
     * autocommit mode, then opens a new transaction): for jobs that open their own
     * transactions or write through another connection. */
    BELT_WRITE_OWN_TX = 1u << 0,
    /* Someone waits for this job (a request): start the batch now instead of letting it fill. */
    BELT_WRITE_URGENT = 1u << 1
};

struct belt_write_job {
    struct belt_write_job *next;    /* queue link (the writer's) */
    belt_write_run_fn *run;         /* what to do */
    belt_write_release_fn *release; /* how to free */
    unsigned flags;                 /* BELT_WRITE_* (0 for a plain job) */
};

struct belt_writer_params {
    const char *path;     /* SQLite file (migrated on open) */
    size_t max_queue;     /* jobs queued at most; beyond, jobs are dropped (default 100000) */
    size_t max_batch;     /* jobs per transaction at most (default 1000) */
    int64_t max_delay_ms; /* how long a job may wait for its batch to fill (default 10) */
    int busy_timeout_ms;  /* SQLite busy timeout (default 5000) */
    /* Upkeep on the writer thread (trace retention): run between batches and while idle, at
     * most every upkeep_every_ms, inside its own transaction (rolled back when it fails).
     * Returns 1 when it stopped with work left (it runs again after the next batch instead of
     * waiting), 0 when done, -1 on error (after logging it). NULL: none. */
    int (*upkeep)(struct belt_writer_ctx *ctx, void *ud);
    void *upkeep_ud;
    int64_t upkeep_every_ms; /* default 60000 */
};

struct belt_writer_stats {
    uint64_t queued;      /* jobs accepted */
    uint64_t written;     /* jobs applied */
    uint64_t failed;      /* jobs whose run failed */
    uint64_t dropped;     /* jobs refused because the queue was full or the writer stopped */
    uint64_t batches;     /* transactions committed */
    uint64_t upkeeps;     /* upkeep runs (committed or not) */
    uint64_t checkpoints; /* WAL checkpoints run by the checkpointer thread */
    uint64_t depth;       /* jobs waiting now */
};

struct belt_writer_params belt__writer_default_params(void);
/* Open the store (on the calling thread, so errors are reported here) and start the thread. */
belt_status belt__writer_new(const struct belt_writer_params *p, struct belt_writer **out,
                             struct belt_error *err);
/* Apply everything queued, stop the thread, close. NULL is a no-op. */
void belt__writer_free(struct belt_writer *w);
/* Queue a job (ownership passes to the writer in every case). Returns 0 when queued, -1 when
 * dropped (already released). */
int belt__writer_submit(struct belt_writer *w, struct belt_write_job *job);
/* Wait until every job queued before the call is committed, at most timeout_ms
 * (BELT_ERR_TIMEOUT). */
belt_status belt__writer_flush(struct belt_writer *w, int64_t timeout_ms, struct belt_error *err);
void belt__writer_stats(struct belt_writer *w, struct belt_writer_stats *out);

#endif
