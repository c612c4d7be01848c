/*
 * accept.h — accept conditions of cascade tiers, as data, and their pure evaluator.
 *
 * A condition is a tree of `struct belt__accept` nodes: leaves test one confidence signal of an
 * answer (calibrated confidence, token logprobs, agreement of k samples or of two models,
 * a verifier's score, validation by JSON schema / label set / regex, the answer's own stated
 * arithmetic — route/arith.h) and `all` / `any` nodes
 * combine them. belt__accept_eval() returns ACCEPT, ESCALATE, or NEED when the verdict depends
 * on a signal that costs a further model call (more samples, a second model's answer, a
 * verifier's score) — the policy core (policy.h) turns a NEED into that call and evaluates
 * again. Every verdict comes with the reason string recorded in traces.
 *
 * Conditions are built by the `routes:` config reader (config/cfg_routes.c) and are immutable
 * afterwards: belt__accept_eval() may run on one condition from any number of threads.
 * Answers are plain structs (`struct belt__answer`) that borrow their strings, so the live
 * executor (answers from the model layer) and the offline evaluator (answers from a replay
 * file) feed the same evaluator.
 */
#ifndef BELT_ROUTE_ACCEPT_H
#define BELT_ROUTE_ACCEPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "util/buf.h"
#include "util/rx.h"

/* ---- answers -------------------------------------------------------------------------------- */

/* What the route layer needs to know about one model answer. Absent numbers are NAN. All
 * pointers are borrowed from the caller and must stay valid while the answer is in use. */
struct belt__answer {
    belt_status status;  /* BELT_OK, or why the call failed */
    const char *error;   /* failure text when status != BELT_OK (NULL otherwise) */
    const char *text;    /* content (a classifier's label); NULL = none */
    size_t len;          /* bytes of text */
    const char *label;   /* a classifier's label, NULL for generative models */
    int abstained;       /* 1: a classifier abstained (confidence below its threshold) */
    double confidence;   /* calibrated probability the answer is right, NAN if unknown */
    double logprob_mean; /* mean token logprob over the answer, NAN if unknown */
    double logprob_min;  /* minimum token logprob over the answer, NAN if unknown */
    double score;        /* a verifier's score of the answer it judged, NAN if unknown */
    const json_t *json;  /* the content parsed as JSON when the caller has it, else NULL */
    double cost_usd;     /* what the call cost */
    int64_t latency_us;  /* how long it took */
};

/* An answer with every number absent and status BELT_OK. */
struct belt__answer belt__answer_empty(void);

/* ---- normalisation (agreement, label sets) -------------------------------------------------- */

/* Steps of belt__normalize(), combinable. */
enum {
    BELT__NORM_JSON = 1 << 0,        /* text that parses as JSON → canonical JSON (sorted keys,
                                        compact); the other steps then do not apply */
    BELT__NORM_CASE = 1 << 1,        /* ASCII letters to lower case */
    BELT__NORM_SPACE = 1 << 2,       /* trim, collapse whitespace runs to one space */
    BELT__NORM_PUNCT = 1 << 3,       /* drop ASCII punctuation (not inside numbers) */
    BELT__NORM_NUMBER = 1 << 4,      /* numbers canonical: 1,000.50 → 1000.5, 18.0 → 18 */
    BELT__NORM_LAST_NUMBER = 1 << 5, /* the answer is its last number (math answers) */
    BELT__NORM_DEFAULT =
        BELT__NORM_JSON | BELT__NORM_CASE | BELT__NORM_SPACE | BELT__NORM_PUNCT | BELT__NORM_NUMBER
};

/* Names of the steps as written in config (`normalize: [case, space]`), indexed by bit
 * position; NULL-terminated. */
extern const char *const belt__norm_names[];

/* Append the normalised form of s[0..n) to out. BELT_ERR_NOMEM / BELT_ERR_TOOBIG from the
 * buffer only; any byte string is accepted. */
belt_status belt__normalize(const char *s, size_t n, unsigned flags, struct belt_buf *out);

/* 1 if a and b are equal after normalisation with `flags` (0 on allocation failure). */
int belt__normalized_equal(const char *a, size_t na, const char *b, size_t nb, unsigned flags);

/* ---- conditions ----------------------------------------------------------------------------- */

enum belt__accept_kind {
    BELT__ACCEPT_ALL = 0,        /* every child holds */
    BELT__ACCEPT_ANY = 1,        /* at least one child holds */
    BELT__ACCEPT_CONFIDENCE = 2, /* answer.confidence >= threshold */
    BELT__ACCEPT_LOGPROBS = 3,   /* mean/min token logprob (raw, or calibrated to p) */
    BELT__ACCEPT_SAMPLES = 4,    /* k samples of the same model agree */
    BELT__ACCEPT_PEER = 5,       /* another model gives the same answer */
    BELT__ACCEPT_VERIFIER = 6,   /* a verifier model's score >= threshold */
    BELT__ACCEPT_SCHEMA = 7,     /* the content is JSON valid against a JSON schema */
    BELT__ACCEPT_LABELS = 8,     /* the answer is one of a label set */
    BELT__ACCEPT_REGEX = 9,      /* the content matches a regular expression */
    BELT__ACCEPT_ARITHMETIC = 10 /* the calculations the answer states hold (route/arith.h) */
};

/* The signals that cost a further call, named in a NEED verdict. */
enum belt__need_kind {
    BELT__NEED_SAMPLES = 1, /* `n` more answers of the tier's own model */
    BELT__NEED_PEER = 2,    /* the answer of model `model` to the same task */
    BELT__NEED_VERIFY = 3   /* model `model` scoring the tier's answer */
};

enum belt__verdict {
    BELT__VERDICT_ACCEPT = 0,   /* keep this answer */
    BELT__VERDICT_ESCALATE = 1, /* try the next tier */
    BELT__VERDICT_NEED = 2      /* get *need first, then evaluate again */
};

/* One condition node. Built by the config reader; immutable afterwards. */
struct belt__accept {
    enum belt__accept_kind kind; /* what this node tests */
    double threshold;            /* CONFIDENCE, VERIFIER: min score; LOGPROBS: min logprob, or min p
                                    when calibrated */
    int swept;          /* 1: threshold is a probability that an offline sweep may replace */
    int lp_min;         /* LOGPROBS: 1 tests the minimum token logprob, 0 the mean */
    int lp_calibrated;  /* LOGPROBS: 1 maps x to p = 1 / (1 + exp(-(a x + b))) first */
    double lp_a, lp_b;  /* LOGPROBS: calibration parameters (Platt scaling) */
    int n_samples;      /* SAMPLES: answers compared, the tier's own included (>= 2) */
    int min_agree;      /* SAMPLES: how many must equal the tier's answer */
    unsigned normalize; /* SAMPLES, PEER, LABELS: BELT__NORM_* flags */
    char *model_name;   /* PEER, VERIFIER: the other model's name (owned) */
    char *prompt;       /* VERIFIER: prompt template with {task} and {answer}, or NULL for the
                           built-in one (route/exec_calls.c) (owned) */
    size_t model;       /* PEER, VERIFIER: its index in the models: section (resolved) */
    char **labels;      /* LABELS: the allowed labels, normalised (owned) */
    size_t n_labels;    /* LABELS: count; 0 with from_model = the model's own label set */
    int from_model;     /* LABELS: 1 = any non-abstained label of a classifier */
    char *pattern;      /* REGEX, ARITHMETIC's `final` (NULL: none): the pattern (owned) */
    pcre2_code *re;     /* REGEX, ARITHMETIC: compiled (owned) */
    struct belt_rx_pool *rx_pool; /* REGEX, ARITHMETIC: match data (owned) */
    int max_unused;            /* ARITHMETIC: most numbers of the task the answer may leave unused;
                                  -1 = not checked */
    json_t *schema;            /* SCHEMA: the schema document (owned) */
    void *compiled;            /* SCHEMA: compiled validator (owned; see accept.c) */
    char *schema_name;         /* SCHEMA: file name or "inline" for messages (owned) */
    struct belt__accept *kids; /* ALL, ANY: children (owned array) */
    size_t n_kids;             /* ALL, ANY: count */
};

/* Release what a node owns (recursively), not the node itself. NULL is a no-op. */
void belt__accept_deinit(struct belt__accept *c);
/* Release a heap node made by the config reader (deinit + free). NULL is a no-op. */
void belt__accept_free(struct belt__accept *c);

/* Compile a SCHEMA node's schema (takes nothing; c->schema stays owned by c). On error
 * returns BELT_ERR_INVALID with the schema path in msg. Called by the config reader. */
belt_status belt__accept_compile_schema(struct belt__accept *c, char *msg, size_t cap);
/* Release a SCHEMA node's compiled validator (part of belt__accept_deinit). */
void belt__accept_schema_release(struct belt__accept *c);
/* Evaluate a SCHEMA node: the content (a->json, else a->text parsed) must be valid JSON that the
 * schema accepts; the reason names the first problems. */
enum belt__verdict belt__accept_eval_schema(const struct belt__accept *c,
                                            const struct belt__answer *a, char *reason, size_t cap);
/* Compile a REGEX node's pattern. On error returns BELT_ERR_INVALID with the offset in msg. */
belt_status belt__accept_compile_regex(struct belt__accept *c, char *msg, size_t cap);

/* Results of further calls, given back to the evaluator. */
struct belt__signal {
    enum belt__need_kind kind;          /* which need this answers */
    size_t model;                       /* PEER/VERIFY: the model; SAMPLES: the tier's model */
    const struct belt__answer *answers; /* SAMPLES: n extra answers; PEER/VERIFY: one */
    size_t n;                           /* count of answers */
};

/* A signal the verdict is waiting for. */
struct belt__accept_need {
    enum belt__need_kind kind; /* what to get */
    size_t model;              /* PEER/VERIFY: which model (SAMPLES: the tier's own) */
    int n;                     /* SAMPLES: how many more answers */
};

/* Evaluate condition c (NULL: accept any answer) on answer a (status must be BELT_OK) to the
 * task text task[0..task_len) (the request's input; NULL when unknown) with the signals gathered
 * so far. `sweep` (NAN: none) replaces the threshold of every swept node.
 * Writes a one-line reason ("confidence 0.62 < 0.90") into reason[0..cap). Pure and
 * thread-safe; allocates only for JSON parsing, schema validation and normalisation. An
 * allocation failure escalates with reason "out of memory". */
enum belt__verdict belt__accept_eval(const struct belt__accept *c, const struct belt__answer *a,
                                     const char *task, size_t task_len,
                                     const struct belt__signal *sig, size_t n_sig, double sweep,
                                     struct belt__accept_need *need, char *reason, size_t cap);

/* Call fn for every node of the tree (pre-order). */
typedef void belt__accept_visit_fn(void *ud, const struct belt__accept *node);
void belt__accept_visit(const struct belt__accept *c, belt__accept_visit_fn *fn, void *ud);

/* The probability a swept node compares with its threshold for answer a (confidence, the
 * calibrated logprob p, or a verifier's score from sig), NAN if not available. Used by the
 * offline evaluator to choose sweep points. */
double belt__accept_swept_value(const struct belt__accept *node, const struct belt__answer *a,
                                const struct belt__signal *sig, size_t n_sig);

#endif
