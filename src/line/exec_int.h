/*
 * exec_int.h — internals shared by the executor's files: exec.c (lane, item life, the DAG
 * drive, failure paths, parking, finishing, traces), stations.c (the station table and the
 * local stations), model_st.c (model-backed stations: requests, answers, cache), plan.c (the
 * planner: safe view, plan validation). Not for use outside src/line/.
 */
#ifndef BELT_LINE_EXEC_INT_H
#define BELT_LINE_EXEC_INT_H

#include <jansson.h>
#include <sqlite3.h>

#include "config/cfg_lines.h"
#include "line/call.h"
#include "line/exec.h"
#include "line/stats.h"
#include "util/buf.h"

struct belt_engine;
struct belt_store;
struct belt_audit;
struct belt_retriever;
struct belt_pii_map;

/* Station states within an item. */
enum { ST_PENDING = 0, ST_RUNNING = 1, ST_DONE = 2, ST_SKIPPED = 3 };

/* What one station run produced. */
enum sres_kind {
    SR_OK = 0,   /* output (may be NULL: nothing to merge) */
    SR_FAIL = 1, /* failed with `why`; `candidate` is the best unaccepted answer, if any */
    SR_PARK = 2, /* a person must look (`why`) */
    SR_SKIP = 3, /* `when:` did not hold */
    SR_ASYNC = 4 /* a model call is in flight; the result comes later */
};

struct sres {
    int kind;             /* enum sres_kind */
    json_t *out;          /* SR_OK: the output (owned), NULL: nothing to merge */
    json_t *candidate;    /* SR_FAIL: unaccepted answer for the reviewer (owned) or NULL */
    char why[400];        /* SR_FAIL / SR_PARK: the reason */
    char tier[64];        /* who answered: "rules", "cache", "local", "tier 1: small", ... */
    const char *model;    /* model that answered (borrowed from the config) or NULL */
    double confidence;    /* -1: none */
    double cost_usd;      /* spent */
    int64_t input_tokens; /* usage of the station's model calls */
    int64_t output_tokens;
    int cached;        /* 1: from the station cache */
    int n_escalations; /* escalations inside the route */
    json_t *route;     /* the route's path (owned) or NULL */
    json_t *info;      /* extra facts for the path step (owned) or NULL */
    const char *park;  /* SR_PARK: "review" (a review station) or "sensitive" (approval
                          before a sensitive station runs) */
    int64_t t0_us;     /* when the station started (set by the executor) */
};

/* What a route's answers depend on besides the request: the reachable models' identities. */
struct route_fp {
    const char *route; /* borrowed from the configuration */
    char fp[65];       /* SHA-256 hex */
};

/* Recent station-cache entries of a lane (direct-mapped by key): duplicates within a run are
 * answered before the store writer has committed them. */
#define BELT__MCACHE_SLOTS 2048
struct mcache_slot {
    char key[65]; /* "" when empty */
    char *value;  /* JSON (owned) */
};

struct retr_slot {
    char *corpus;             /* owned */
    struct belt_retriever *r; /* owned */
};

struct belt__lane {
    struct belt_engine *e;         /* borrowed */
    struct belt_loop *loop;        /* borrowed */
    const struct belt_config *cfg; /* borrowed from the engine */
    char *run_id;                  /* owned or NULL */
    struct belt_store *st;         /* own connection or NULL */
    sqlite3_stmt *cache_get;       /* prepared lazily */
    sqlite3_stmt *cache_put;       /* used when the engine has no writer */
    sqlite3_stmt *review_find;     /* existing review of (run_id, item_id) */
    struct belt_audit *audit;      /* review.add events (opened at the first park) or NULL */
    int audit_failed;              /* it could not be opened: logged once, parks go on */
    int cache;                     /* -1 / 0 */
    int trace;                     /* -1 / 0 */
    const struct belt__gold *gold; /* borrowed */
    size_t n_gold;
    struct retr_slot *retr; /* owned array */
    size_t n_retr;
    struct mcache_slot *mcache; /* BELT__MCACHE_SLOTS entries (owned, lazy) */
    struct route_fp *fps;       /* route fingerprints (owned array) */
    size_t n_fps;
    struct belt__item *items; /* in flight (doubly linked) */
    size_t n_items;
    struct belt_buf scratch; /* rendering */
    int closing;             /* belt__lane_free: cancelled items end, no retries */
};

struct job;

struct belt__item {
    struct belt__lane *ln;            /* owner */
    const struct belt_cfg_line *line; /* borrowed */
    struct belt__item_delta delta;    /* what the item adds to the statistics */
    struct belt__item *prev, *next;   /* lane list */
    json_t *rec;                      /* the record (owned reference) */
    json_t *path;                     /* array of step objects (owned) */
    int64_t seq, lineno;
    size_t n_st;              /* stations + tools */
    unsigned char *state;     /* ST_* per station (tools: unused) */
    unsigned char *tries;     /* retries used per station */
    unsigned char *escalated; /* escalate route used per station */
    unsigned char *approved;  /* a person approved a run of this station/tool */
    char **feedback;          /* why the last answer was refused (owned) */
    struct job *jobs;         /* model calls in flight */
    size_t n_running;         /* stations running (jobs + plan in progress) */
    int outcome;              /* enum belt__outcome; -1 while running */
    char *reason;             /* owned, "" when none */
    char review_id[40];
    int park_idx;             /* station that parked the item, -1 */
    const char *park_kind;    /* "review", "sensitive", "failed", "step" (static) */
    json_t *park_answer;      /* best answer for the reviewer (owned) or NULL */
    json_t *park_info;        /* plan step being approved, or NULL (owned) */
    struct belt_pii_map *pii; /* placeholder ↔ value map (owned, lazy) */
    double cost;
    int64_t t0_us, latency_us;
    /* plan in progress */
    int plan_idx;     /* plan station running its steps, -1 */
    json_t *plan;     /* its steps (owned) */
    size_t plan_pos;  /* next step */
    int step_running; /* a tool step is in flight */
    /* life */
    belt__item_done_fn *done;
    void *ud;
    int in_drive, redrive, finished;
};

/* A model call in flight for a station. */
struct job {
    struct belt__item *it;            /* owner */
    struct job *next;                 /* item's list */
    size_t idx;                       /* station */
    const struct belt_cfg_station *s; /* borrowed */
    struct belt__lcall *call;         /* in flight */
    json_t *request;                  /* what was sent (owned) */
    json_t *args;                     /* plan step arguments (owned) or NULL */
    json_t *rules_out;                /* extract: what the rules found (owned) or NULL */
    const char *route;                /* route called (borrowed from the config) */
    char cache_key[65];               /* "" when not cached */
    int attempt;                      /* 0, then 1 for the retry with the validation error */
    int64_t t0_us;
};

/* The station at index i (stations first, then tools). */
const struct belt_cfg_station *belt__line_station_at(const struct belt_cfg_line *l, size_t i);
/* i of a station. */
size_t belt__station_idx(const struct belt_cfg_line *l, const struct belt_cfg_station *s);

/* Field access by path (NULL when missing) and assignment (creating objects on the way;
 * the value's reference is stolen). */
json_t *belt__rec_get(const json_t *rec, const struct belt_cfg_path *p);
belt_status belt__rec_set(json_t *rec, const struct belt_cfg_path *p, json_t *v);
/* The text of a value for stations that read text: strings as they are, numbers and others
 * as JSON; NULL for missing/null. Owned. */
char *belt__value_text(const json_t *v);

/* Run a local station now, or start a model station (SR_ASYNC; the job calls
 * belt__station_finished later). `args` are plan step arguments (borrowed) or NULL. */
void belt__station_run(struct belt__item *it, size_t idx, const json_t *args, struct sres *r);
/* A model station's result arrived (from model_st.c). Takes over r's owned parts. */
void belt__station_finished(struct belt__item *it, size_t idx, struct sres *r);
/* Model stations (model_st.c). */
void belt__model_station_start(struct belt__item *it, size_t idx, const json_t *args,
                               const char *route, struct sres *r);
void belt__jobs_cancel(struct belt__item *it);
/* Plan stations (plan.c): the planner's request (safe view only) and checking its answer. */
belt_status belt__plan_request(struct belt__item *it, const struct belt_cfg_station *s,
                               json_t *msgs, struct belt_error *err);
int belt__plan_check(const struct belt__item *it, const struct belt_cfg_station *s,
                     const char *content, size_t len, json_t **plan, char *why, size_t cap);

/* Render a template against the record (args bound as `args` when given) into the lane's
 * scratch buffer; returns its text or NULL with why. */
const char *belt__render(struct belt__item *it, const struct belt_template *t, const json_t *rec,
                         const json_t *args, char *why, size_t cap);
/* Bindings for `args`. */
int belt__when_holds(const struct belt_cfg_station *s, const json_t *rec, const json_t *args);

/* Lane helpers (exec.c). */
struct belt_retriever *belt__lane_retriever(struct belt__lane *ln, const char *corpus,
                                            struct belt_error *err);
belt_status belt__lane_pii_map(struct belt__item *it, struct belt_error *err);
/* Station cache: look up (1 hit with *out owned, 0 miss) and store. */
int belt__scache_get(struct belt__lane *ln, const char *key, json_t **out);
void belt__scache_put(struct belt__lane *ln, const char *key, const char *station,
                      const json_t *value);

#endif
