/*
 * stats.h — statistics of line runs: per item outcome counts, cost, latency histograms per
 * station (log-bucketed: 8 buckets per power of two, so quantiles are within ~9%), the share
 * answered per tier, review reasons and accuracy against gold fields. Stats are kept per lane
 * (no locks), merged by the runner, saved in the run's checkpoint as JSON and loaded again on
 * --resume so the final summary covers the whole run.
 *
 * Thread rule: a belt__line_stats belongs to one thread at a time.
 */
#ifndef BELT_LINE_STATS_H
#define BELT_LINE_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "config/cfg_lines.h"

#define BELT__HIST_BUCKETS 288 /* 8 per power of two over 1 µs .. ~2^36 µs */
#define BELT__MAX_TIERS    16  /* distinct tier labels kept per station */
#define BELT__MAX_REASONS  24  /* distinct review / drop reasons kept */

struct belt__hist {
    uint64_t n;                     /* samples */
    double sum_us;                  /* their sum */
    uint64_t b[BELT__HIST_BUCKETS]; /* counts per bucket */
};

void belt__hist_add(struct belt__hist *h, int64_t us);
void belt__hist_merge(struct belt__hist *dst, const struct belt__hist *src);
/* The q-quantile (0..1) in µs (geometric middle of its bucket); 0 when empty. */
double belt__hist_quantile(const struct belt__hist *h, double q);

struct belt__tier_count {
    char label[64]; /* "rules", "cache", "local:intent", "tier 1: small", "person" */
    uint64_t n;     /* answers given by it */
};

struct belt__station_stats {
    uint64_t runs;         /* times the station ran (retries included) */
    uint64_t ok;           /* runs that produced an output */
    uint64_t skipped;      /* `when:` did not hold */
    uint64_t failed;       /* runs that failed (then on_fail) */
    uint64_t cached;       /* answers from the station cache */
    uint64_t parked;       /* items parked at this station */
    uint64_t retried;      /* retries ordered by on_fail */
    uint64_t escalated;    /* escalations (on_fail escalate, route tiers escalated) */
    double cost_usd;       /* spent by this station */
    struct belt__hist lat; /* run latency */
    struct belt__tier_count tiers[BELT__MAX_TIERS]; /* who answered */
    size_t n_tiers;
};

/* One accuracy spec: compare the input's gold field with a station's output. */
struct belt__gold {
    char *spec;                /* "field=station[.sub]" as given (owned) */
    struct belt_cfg_path gold; /* path of the gold value in the input record */
    struct belt_cfg_path pred; /* path of the prediction in the finished record */
    size_t station;            /* index into the stats' stations */
};

struct belt__gold_stats {
    uint64_t n;        /* items with a gold value */
    uint64_t answered; /* ... where the station produced a value */
    uint64_t correct;  /* ... equal to the gold value */
};

struct belt__reason_count {
    char key[128]; /* "station: reason" (numbers stripped to group alike reasons) */
    uint64_t n;
};

struct belt__line_stats {
    size_t n_stations; /* stations then tools of the line */
    uint64_t items;    /* items finished */
    uint64_t ok, review, dropped, errors;
    uint64_t bad_input;             /* input lines or records rejected */
    uint64_t escalations;           /* on_fail escalations + route escalations */
    double cost_usd;                /* total */
    struct belt__hist lat;          /* item latency */
    struct belt__station_stats *st; /* n_stations entries (owned) */
    struct belt__gold_stats *gold;  /* n_gold entries (owned) */
    size_t n_gold;
    struct belt__reason_count reasons[BELT__MAX_REASONS]; /* reviews and drops by reason */
    size_t n_reasons;
};

/* What one item adds to the statistics, collected while it runs and applied by whoever owns
 * the statistics (the batch runner applies it when the item's output line is committed, so a
 * checkpoint's statistics cover exactly the items in the output). */
enum belt__stat_what {
    BELT__SC_RUNS = 0,
    BELT__SC_OK,
    BELT__SC_SKIPPED,
    BELT__SC_FAILED,
    BELT__SC_CACHED,
    BELT__SC_PARKED,
    BELT__SC_RETRIED,
    BELT__SC_ESCALATED,
    BELT__SC_LATENCY, /* n = µs */
    BELT__SC_COST,    /* cost = USD */
    BELT__SC_TIER     /* tier = label */
};

struct belt__stat_event {
    uint32_t station; /* index (stations, then tools) */
    uint32_t what;    /* enum belt__stat_what */
    int64_t n;        /* counter increment or µs */
    double cost;      /* BELT__SC_COST */
    char tier[48];    /* BELT__SC_TIER */
};

struct belt__item_delta {
    struct belt__stat_event *ev; /* owned array */
    size_t n_ev, cap_ev;
    int outcome; /* enum belt__outcome */
    int64_t latency_us;
    double cost_usd;
    uint64_t escalations;
    char *reason;            /* review / drop reason (owned) or NULL */
    char reason_station[65]; /* station that parked or dropped it */
    unsigned char *gold;     /* n_gold × {has, answered, correct} (owned) or NULL */
    size_t n_gold;
};

void belt__item_delta_event(struct belt__item_delta *d, size_t station, int what, int64_t n,
                            double cost, const char *tier);
void belt__item_delta_deinit(struct belt__item_delta *d);
/* Add an item's delta (bad input lines: belt__line_stats.bad_input directly). */
void belt__line_stats_apply(struct belt__line_stats *s, const struct belt__item_delta *d);

belt_status belt__line_stats_init(struct belt__line_stats *s, size_t n_stations, size_t n_gold);
void belt__line_stats_deinit(struct belt__line_stats *s);
void belt__line_stats_merge(struct belt__line_stats *dst, const struct belt__line_stats *src);
void belt__line_stats_tier(struct belt__station_stats *s, const char *label);
void belt__line_stats_reason(struct belt__line_stats *s, const char *station, const char *why);
/* Everything as JSON (the checkpoint form, also the base of the summary); owned. */
json_t *belt__line_stats_to_json(const struct belt__line_stats *s);
/* Add a checkpoint JSON back into s (same line). BELT_ERR_FORMAT when it does not fit. */
belt_status belt__line_stats_from_json(struct belt__line_stats *s, const json_t *j,
                                       struct belt_error *err);

/* Parse "--gold field=station[.sub]" against the line; BELT_ERR_INVALID naming what is wrong. */
belt_status belt__gold_parse(const struct belt_cfg_line *line, const char *spec,
                             struct belt__gold *out, struct belt_error *err);
void belt__gold_free(struct belt__gold *g);

#endif
