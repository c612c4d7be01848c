/*
 * exec.h — the line executor: moves one record (an item) through the stations of a line on
 * one event loop. A *lane* is the executor bound to a belt_loop (one thread): it holds that
 * thread's store connection (retrieval, station cache, review parking) and its statistics.
 * Any number of items may be in flight on a lane; local stations run inline, model stations
 * run asynchronously through the model layer, so one lane keeps many model calls in flight.
 *
 * An item's life: stations run in the line's topological order as soon as the stations they
 * need are done (or skipped: `when:` false); each station's output is merged into the record
 * under its output path; a failure takes the station's `on_fail` path (retry with feedback →
 * escalate route → review, or drop); a review station or a sensitive station parks the item.
 * When nothing is left to run the item is finished: ok, needs_review, dropped or error. The
 * item's path (one step per station run: status, tier, model, confidence, cost, latency) is
 * kept for the output, the trace and the statistics.
 *
 * Thread rule: a lane and its items belong to the thread running the lane's loop. The
 * configuration they read is immutable and shared.
 */
#ifndef BELT_LINE_EXEC_H
#define BELT_LINE_EXEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "config/cfg_lines.h"
#include "line/stats.h"
#include "util/buf.h"

struct belt__lane;
struct belt__item;

/* Append-only: how an item left the line. Names: belt__item_outcome_name. */
enum belt__outcome {
    BELT__ITEM_OK = 0,           /* every station done or skipped */
    BELT__ITEM_NEEDS_REVIEW = 1, /* parked for a person (review id when a store is there) */
    BELT__ITEM_DROPPED = 2,      /* on_fail: drop, or a reviewer rejected it */
    BELT__ITEM_ERROR = 3,        /* bad input or an internal failure */
};
const char *belt__item_outcome_name(int outcome);

/* Called once when the item is finished, on the lane's thread (possibly from inside
 * belt__item_start when every station is local). The item is valid during the call; it is
 * released by belt__item_free (the callback may do that itself). */
typedef void belt__item_done_fn(void *ud, struct belt__item *it);

struct belt__lane_params {
    struct belt_engine *engine;    /* required; borrowed */
    struct belt_loop *loop;        /* required; borrowed (its thread runs the lane) */
    const char *run_id;            /* batch run the items belong to (reviews, traces), or NULL */
    int open_store;                /* 1: open a store connection (retrieve, cache, reviews) */
    int cache;                     /* -1: each line's setting; 0: off */
    int trace;                     /* -1: each line's setting; 0: off */
    const struct belt__gold *gold; /* accuracy specs (borrowed), may be NULL */
    size_t n_gold;
};

belt_status belt__lane_new(const struct belt__lane_params *p, struct belt__lane **out,
                           struct belt_error *err);
/* Items still in flight are cancelled first (their done callbacks run). */
void belt__lane_free(struct belt__lane *ln);
size_t belt__lane_n_items(const struct belt__lane *ln);

/* How an item is started. */
struct belt__item_params {
    const struct belt_cfg_line *line;        /* required; borrowed from the config */
    json_t *record;                          /* the record (a reference is taken) */
    int64_t seq;                             /* item number within the run (or -1) */
    int64_t lineno;                          /* input line (for messages), 0 when none */
    const struct belt_review_record *resume; /* continue a decided review (payload, decision),
                                                or NULL for a new item */
    belt__item_done_fn *done;                /* required */
    void *ud;
};

/* Start an item on the lane. BELT_OK: done will be called exactly once (maybe before this
 * returns). An error means done is never called. */
belt_status belt__item_start(struct belt__lane *ln, const struct belt__item_params *p,
                             struct belt__item **out, struct belt_error *err);
void belt__item_free(struct belt__item *it);

/* Results of a finished item (borrowed from the item). */
int belt__item_outcome(const struct belt__item *it);
int64_t belt__item_seq(const struct belt__item *it);
const char *belt__item_reason(const struct belt__item *it);    /* "" when none */
const char *belt__item_review_id(const struct belt__item *it); /* "" when none */
json_t *belt__item_record(const struct belt__item *it);        /* record with station outputs */
const json_t *belt__item_path(const struct belt__item *it);    /* array of step objects */
double belt__item_cost(const struct belt__item *it);
int64_t belt__item_latency_us(const struct belt__item *it);
/* What the item adds to its line's statistics (belt__line_stats_apply). */
const struct belt__item_delta *belt__item_delta(const struct belt__item *it);
/* Move the delta out of the item (the item keeps an empty one). */
void belt__item_take_delta(struct belt__item *it, struct belt__item_delta *out);
/* Serialise the output line of an item: the record plus a `_belt` object {item, status,
 * reason, review_id, cost_usd, latency_us, path}, compact, with a final "\n". */
belt_status belt__item_dump(const struct belt__item *it, struct belt_buf *out);

#endif
