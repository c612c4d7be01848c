/*
 * run.h — internals of batch runs (belt_line_run): the run row and its checkpoints (table
 * runs, run_items; run_db.c) and the summary (summary.c). The runner itself is run.c.
 *
 * Thread rule: everything here runs on the thread that called belt_line_run, with its own
 * store connection.
 */
#ifndef BELT_LINE_RUN_H
#define BELT_LINE_RUN_H

#include <stdint.h>

#include "belt.h"
#include "config/cfg_lines.h"
#include "line/stats.h"

/* The persistent state of a run. */
struct belt__run_row {
    char id[32];  /* "run_" + 20 hex */
    char *line;   /* owned */
    char *input;  /* absolute input path or "reviews" (owned) */
    char *output; /* absolute output path (owned) */
    char config_hash[65];
    char *input_fp;     /* "LEN:SHA256" of the input's first bytes (owned) or NULL */
    char *status;       /* owned */
    int64_t next_item;  /* items before it are in the output */
    int64_t in_offset;  /* input byte offset where next_item starts */
    int64_t in_lineno;  /* input lines before in_offset */
    int64_t out_offset; /* committed output bytes */
    char *stats;        /* JSON (owned) or NULL */
};

void belt__run_row_free(struct belt__run_row *r);
/* The newest run of (line, output) whose status is running, stopped or failed: 1 found (r
 * filled), 0 none, -1 store error (err). */
int belt__run_find_unfinished(struct belt_store *st, const char *line, const char *output,
                              struct belt__run_row *r, struct belt_error *err);
/* Insert a new run (r->id is generated). */
belt_status belt__run_insert(struct belt_store *st, struct belt__run_row *r,
                             struct belt_error *err);
/* Mark every unfinished run of (line, output) abandoned (a fresh start with --overwrite). */
belt_status belt__run_abandon(struct belt_store *st, const char *line, const char *output,
                              struct belt_error *err);

/* One item that did not end ok, recorded with the checkpoint that covers it. */
struct belt__run_item {
    int64_t item, lineno;
    const char *status;   /* static */
    char *reason;         /* owned or NULL */
    char review_id[40];   /* "" when none */
    char *resumed_review; /* reviewed runs: the review this item continued (owned) or NULL */
};

/* One transaction: the run's position and statistics, the non-ok items, reviews continued. */
belt_status belt__run_checkpoint(struct belt_store *st, const struct belt__run_row *r,
                                 const char *status, const struct belt__run_item *items,
                                 size_t n_items, struct belt_error *err);

/* The summary handed to the caller. */
struct belt_line_summary {
    char run_id[32];
    char *line;      /* owned */
    char **stations; /* station then tool names (owned) */
    int *kinds;      /* their enum belt_station_kind (owned) */
    int *is_tool;    /* 1 for tools (owned) */
    size_t n_stations;
    struct belt__line_stats stats; /* all invocations of the run */
    char **gold;                   /* specs (owned) */
    size_t n_gold;
    int complete;            /* every input record is in the output */
    int reviewed;            /* a run continuing decided reviews */
    double seconds;          /* this invocation */
    int64_t items_this_time; /* items written by this invocation */
    char *stopped;           /* why it stopped early (owned) or NULL */
};

/* A summary of `line` (names copied) with empty statistics for n_gold specs. */
struct belt_line_summary *belt__summary_new(const struct belt_cfg_line *line,
                                            const char *const *gold, size_t n_gold);

#endif
