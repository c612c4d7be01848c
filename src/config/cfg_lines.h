/*
 * cfg_lines.h — the `lines:` section: named lines of stations that records move through
 * (docs/config-lines.md). A line is an ordered list of stations (or a DAG through `needs:`),
 * an optional list of `tools` (stations only a `plan` station's steps may run), and defaults
 * for the failure path, concurrency, the per-station cache and traces.
 *
 * Everything that can be compiled is compiled at load, so a bad condition, template, rule,
 * schema or regex is reported with its position: "belt.yaml:LINE:COL: lines.L.stations[2].when:
 * column 7: ..." where the position points at the offending character when the value is a
 * one-line scalar (and at the value's start plus the position inside it otherwise).
 *
 * The structs are read-only after load and shared by every thread that runs a line.
 */
#ifndef BELT_CFG_LINES_H
#define BELT_CFG_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "config/reader.h"
#include "util/rx.h"

struct belt_expr;
struct belt_template;
struct belt_rules;
struct belt_jsonschema;
struct belt_pii;
struct belt_config;
struct belt_cfg_model;

/* Append-only; the names are the config values of `kind:`. */
enum belt_station_kind {
    BELT_STATION_CLASSIFY = 0, /* a label from a route (local classifier, cascade, LLM) */
    BELT_STATION_EXTRACT = 1,  /* fields into an object: rules first, a model second */
    BELT_STATION_REDACT = 2,   /* PII masked in fields before anything leaves */
    BELT_STATION_RETRIEVE = 3, /* top-k passages of a corpus (FTS5, BM25) */
    BELT_STATION_GENERATE = 4, /* a prompt template answered through a route */
    BELT_STATION_VALIDATE = 5, /* schema, labels, regex or a condition; failure → on_fail */
    BELT_STATION_REVIEW = 6,   /* park the item for a person when `when:` holds */
    BELT_STATION_PLAN = 7      /* a model plans steps over allowed tools (dual-LLM pattern) */
};
#define BELT_STATION_N_KINDS 8
/* Names indexed by enum belt_station_kind, NULL-terminated. */
extern const char *const belt__station_kind_names[];

/* Append-only; the names are the config values of `on_fail:`. */
enum belt_on_fail {
    BELT_ON_FAIL_RETRY = 0,    /* run the failing station again with the error as feedback
                                  (`retries` times), then escalate */
    BELT_ON_FAIL_ESCALATE = 1, /* run it on the `escalate:` route; without one, or when that
                                  fails too, review */
    BELT_ON_FAIL_REVIEW = 2,   /* park the item for a person */
    BELT_ON_FAIL_DROP = 3      /* the item leaves the line with status "dropped" and the reason */
};
extern const char *const belt__on_fail_names[];

/* A dotted field path ("fields.order_id"), parsed into segments. */
struct belt_cfg_path {
    char *text;   /* as written (owned) */
    char **seg;   /* segments (owned) */
    size_t n_seg; /* count, >= 1 */
};

struct belt_cfg_station {
    char *name;                /* unique within the line (stations and tools); owned */
    int kind;                  /* enum belt_station_kind */
    struct belt_cfg_mark mark; /* position of the station */
    char *description;         /* free text (tools: shown to the planner); owned or NULL */
    int is_tool;               /* 1: listed under `tools:` (runs only as a plan step) */
    size_t index;              /* position in the line's stations or tools */
    struct belt_expr *when;    /* run only when it holds; NULL: always */
    /* DAG */
    struct belt_cfg_strlist needs; /* names of stations that must finish first */
    int needs_set;                 /* 1: `needs:` was written (else: the previous station) */
    size_t *need_idx;              /* resolved indices (owned) */
    size_t n_need;                 /* count */
    /* data */
    struct belt_cfg_path *inputs; /* fields read (owned array); redact: several */
    size_t n_inputs;              /* count (0: the whole record, validate only) */
    struct belt_cfg_path output;  /* where the result goes (default: the station's name) */
    /* model */
    char *route;    /* route or model that answers (owned) or NULL */
    char *escalate; /* route for on_fail escalate (owned) or NULL */
    struct belt_cfg_mark route_mark, escalate_mark; /* positions for cross-check errors */
    int route_local;              /* 1: route is a plain `local` model (called inline) */
    int route_untrusted;          /* 1: route (or escalate) reaches a model that is not trusted:
                                     prompts are PII-redacted before they leave */
    struct belt_template *prompt; /* user message template (generate, plan, model paths) */
    struct belt_template *system; /* system message template, or NULL */
    double temperature;           /* < 0: not sent */
    int64_t max_tokens;           /* 0: not sent */
    int json;                     /* generate: the answer must be a JSON object */
    int restore;                  /* generate: put redacted PII back into the answer */
    /* checks and extraction */
    json_t *schema_json;            /* JSON schema (owned) or NULL */
    struct belt_jsonschema *schema; /* compiled (owned) or NULL */
    struct belt_rules *rules;       /* extraction rules (owned) or NULL */
    struct belt_cfg_strlist labels; /* allowed labels (classify, validate) */
    char *regex;                    /* validate: pattern (owned) or NULL */
    pcre2_code *re;                 /* compiled (owned) */
    struct belt_rx_pool *rx_pool;   /* its match data (owned) */
    struct belt_expr *condition;    /* validate: must hold (owned) or NULL */
    /* redact */
    uint32_t pii_entities; /* bit per enum belt_pii_entity; 0 = all */
    struct belt_pii *pii;  /* compiled detectors (owned) */
    /* retrieve */
    char *corpus;                /* corpus name (owned) */
    int64_t k;                   /* passages (default 3) */
    struct belt_template *query; /* query template, or NULL (the input field) */
    /* review */
    struct belt_template *reason; /* why a person must look (default: the `when:` text) */
    /* failure path */
    int on_fail;         /* enum belt_on_fail; -1: the line's */
    int64_t retries;     /* for retry; -1: the line's */
    char *retry_station; /* validate: station re-run by `retry` (owned) or NULL (auto) */
    size_t retry_idx;    /* resolved station index; SIZE_MAX: none */
    int sensitive;       /* 1: every run passes through review first */
    int cache;           /* -1: the line's; 0/1 */
    /* plan */
    struct belt_cfg_strlist allow;   /* tools the plan may name */
    size_t *allow_idx;               /* resolved tool indices (owned) */
    int64_t max_steps;               /* most steps in a plan (default 5) */
    struct belt_cfg_strlist trusted; /* fields whose values (numbers, booleans, short
                                        identifiers) the planner may see */
    /* tools */
    json_t *args_json;            /* argument schema (owned) or NULL: no arguments */
    struct belt_jsonschema *args; /* compiled */
    char hash[65];                /* SHA-256 hex of the station's configuration */
};

struct belt_cfg_line {
    char *name;                        /* the key under lines: (owned) */
    struct belt_cfg_mark mark;         /* position of the name */
    char *description;                 /* owned or NULL */
    struct belt_cfg_station *stations; /* owned array */
    size_t n_stations;                 /* count, >= 1 */
    struct belt_cfg_station *tools;    /* owned array (may be empty) */
    size_t n_tools;                    /* count */
    size_t *order;                     /* stations in a topological order (owned) */
    int on_fail;                       /* default failure path (default review) */
    int64_t retries;                   /* default retries (default 1) */
    int64_t concurrency;               /* items in flight by default (default 32) */
    int cache;                         /* per-station cache of model answers (default 1) */
    int trace;                         /* one trace per item (default 1) */
    struct belt_pii *outbound_pii;     /* detectors for prompts sent to untrusted models
                                          (owned; NULL when no station needs them) */
    char hash[65];                     /* SHA-256 hex of the whole line's configuration */
};

struct belt_cfg_lines {
    struct belt_cfg_line *v; /* owned array */
    size_t n;                /* count */
};

belt_status belt__cfg_lines_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, struct belt_cfg_lines *out);
/* Cross-checks after every section is read: routes exist, needs/allow/retry name stations,
 * the graph has no cycle (order computed here), trust of the routes' models. */
belt_status belt__cfg_lines_check(struct belt_cfg_reader *rd, struct belt_config *cfg);
void belt__cfg_lines_free(struct belt_cfg_lines *l);
/* The line called `name`, or NULL. */
const struct belt_cfg_line *belt__cfg_lines_find(const struct belt_cfg_lines *l, const char *name);
/* A station or tool of `line` by name, or NULL. */
const struct belt_cfg_station *belt__cfg_line_station(const struct belt_cfg_line *line,
                                                      const char *name);

/* Call fn for every model the route or model `name` can reach (routes followed through
 * their targets, tiers, rules and default; a model reached twice is reported twice). */
typedef void belt__cfg_model_fn(void *ud, const struct belt_cfg_model *m);
void belt__cfg_route_models(const struct belt_config *cfg, const char *name, belt__cfg_model_fn *fn,
                            void *ud);

/* Path helpers (also used by the executor). Parse "a.b.c" (segments: letters, digits, _ and -;
 * non-empty) into *out; BELT_ERR_INVALID with a reason in why[0..cap). */
belt_status belt__cfg_path_parse(const char *text, struct belt_cfg_path *out, char *why,
                                 size_t cap);
void belt__cfg_path_free(struct belt_cfg_path *p);

#endif
