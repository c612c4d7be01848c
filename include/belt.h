/*
 * belt.h — the one public header of libbelt, the runtime for AI factories.
 *
 * Conventions (see docs/api.md):
 *  - Every fallible function returns a belt_status; detail goes into an optional
 *    `struct belt_error *err` out-parameter (NULL is allowed everywhere).
 *  - Long-lived objects are opaque handles made by belt_x_new()/_open()/_load() and released by
 *    the matching _free()/_close(), which accept NULL.
 *  - Ownership is stated on every pointer: parameters are borrowed for the duration of the call
 *    unless a comment says otherwise; returned const pointers are borrowed; returned non-const
 *    pointers are owned by the caller and released with belt_free() unless stated.
 *  - Every public enum is append-only: values are never renumbered or reused.
 *  - Call belt_global_init() once before anything else.
 */
#ifndef BELT_H
#define BELT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define BELT_API __attribute__((visibility("default")))
#else
#define BELT_API
#endif

#if defined(__GNUC__)
#define BELT_DEPRECATED(hint) __attribute__((deprecated(hint)))
#else
#define BELT_DEPRECATED(hint)
#endif

#define BELT_VERSION_MAJOR 0
#define BELT_VERSION_MINOR 1
#define BELT_VERSION_PATCH 0

/* ==== Status and errors =================================================================== */

/* The one status vocabulary of libbelt. Append-only: never renumber. */
typedef enum belt_status {
    BELT_OK = 0,
    BELT_ERR_NOMEM = 1,        /* an allocation failed */
    BELT_ERR_INVALID = 2,      /* bad argument or bad input data */
    BELT_ERR_IO = 3,           /* a file or socket operation failed (errno in belt_error.sub) */
    BELT_ERR_TIMEOUT = 4,      /* a deadline passed */
    BELT_ERR_UPSTREAM = 5,     /* an upstream model failed or answered garbage */
    BELT_ERR_STORE = 6,        /* the store (SQLite, Redis) failed (its code in .sub) */
    BELT_ERR_TOOBIG = 7,       /* a size limit was reached */
    BELT_ERR_NOTFOUND = 8,     /* no such object */
    BELT_ERR_CONFIG = 9,       /* the configuration is wrong (file:line:col in the message) */
    BELT_ERR_FORMAT = 10,      /* a file is malformed, truncated or corrupt */
    BELT_ERR_VERSION = 11,     /* a file or schema has a version this build cannot read */
    BELT_ERR_CHECKSUM = 12,    /* a checksum did not match */
    BELT_ERR_UNSUPPORTED = 13, /* the operation is not supported by this object */
    BELT_ERR_CANCELLED = 14,   /* the operation was cancelled */
    BELT_ERR_BUSY = 15,        /* a resource is busy; try again */
    BELT_ERR_AUTH = 16,        /* missing or invalid credentials */
    BELT_ERR_FORBIDDEN = 17,   /* credentials valid but not allowed */
    BELT_ERR_RATELIMIT = 18,   /* a rate limit was hit */
    BELT_ERR_BUDGET = 19,      /* a cost or latency budget would be exceeded */
    BELT_ERR_EXISTS = 20,      /* the object already exists */
    BELT_ERR_BLOCKED = 21,     /* a guard refused the input or output */
    BELT_ERR_INTERNAL = 22     /* a bug: an invariant did not hold */
} belt_status;

/* Error detail filled by functions that take a `struct belt_error *err`. `sub` is the foreign
 * code the status was mapped from (errno, CURLcode, SQLite extended code, HTTP status) or 0. */
struct belt_error {
    belt_status code; /* same value the function returned */
    int sub;          /* foreign code or 0 */
    char msg[512];    /* human-readable, names what is wrong and where; "" when none */
};

/* Short English description of a status ("out of memory"). Never NULL; static storage. */
BELT_API const char *belt_strerror(belt_status s);
/* The enum constant's name ("BELT_ERR_NOMEM"). Never NULL; static storage. */
BELT_API const char *belt_status_name(belt_status s);
/* Reset `err` to BELT_OK / "" (NULL is a no-op). */
BELT_API void belt_error_clear(struct belt_error *err);

/* ==== Allocation ========================================================================== */

/* All memory libbelt hands out or takes over goes through these wrappers (fault injection and
 * counting in tests). Memory returned by belt_* functions is released with belt_free().
 * belt_free(NULL) is a no-op. Thread-safe. */
BELT_API void *belt_malloc(size_t size);
BELT_API void *belt_calloc(size_t n, size_t size);
BELT_API void *belt_realloc(void *p, size_t size);
BELT_API void belt_free(void *p);
BELT_API char *belt_strdup(const char *s);
BELT_API char *belt_strndup(const char *s, size_t n);
#define BELT_FREE(p)                                                                               \
    do {                                                                                           \
        belt_free(p);                                                                              \
        (p) = NULL;                                                                                \
    } while (0)

/* ==== Global initialisation and logging =================================================== */

enum belt_log_level {
    BELT_LOG_DEBUG = 0,
    BELT_LOG_INFO = 1,
    BELT_LOG_WARN = 2,
    BELT_LOG_ERROR = 3,
    BELT_LOG_OFF = 4
};

/* Receives every log line of the library. `msg` is borrowed for the call. Must be thread-safe:
 * it is called from any thread that runs library code. */
typedef void belt_log_fn(void *ud, enum belt_log_level level, const char *msg);

struct belt_global_params {
    belt_log_fn *log_fn;           /* NULL: the library logs nothing */
    void *log_ud;                  /* passed to log_fn */
    enum belt_log_level log_level; /* lines below this level are dropped */
};

/* Defaults: no log callback, level INFO. */
BELT_API struct belt_global_params belt_global_default_params(void);
/* Once per process, before any other call and before threads start: initialises libcurl,
 * SQLite, libsodium and jansson's allocator, and installs the log callback (p may be NULL).
 * Returns BELT_ERR_INTERNAL if a dependency fails to initialise. Not thread-safe. */
BELT_API belt_status belt_global_init(const struct belt_global_params *p);
/* Release what belt_global_init() set up. Call last; not thread-safe. */
BELT_API void belt_global_cleanup(void);
/* "0.1.0" */
BELT_API const char *belt_version(void);

/* ==== Configuration (src/config) ========================================================== */

/* The one YAML configuration file, validated at load. Read-only after load and therefore safe
 * to share between threads. See docs/config.md for every key. */
struct belt_config;

/* Load and validate the file at `path`. Errors name file, line and column in err->msg and return
 * BELT_ERR_CONFIG (BELT_ERR_IO if the file cannot be read). On success *out is owned by the
 * caller (belt_config_free). */
BELT_API belt_status belt_config_load(const char *path, struct belt_config **out,
                                      struct belt_error *err);
/* Same from memory; `name` is used in error messages and relative paths resolve against
 * `base_dir` (NULL: the current directory). `text` need not be NUL-terminated. */
BELT_API belt_status belt_config_parse(const char *text, size_t len, const char *name,
                                       const char *base_dir, struct belt_config **out,
                                       struct belt_error *err);
/* The configuration used when no file is given: store belt.db, nothing else. */
BELT_API belt_status belt_config_default(struct belt_config **out, struct belt_error *err);
BELT_API void belt_config_free(struct belt_config *cfg);
/* The file the configuration was loaded from ("<default>" when none). Borrowed. */
BELT_API const char *belt_config_file(const struct belt_config *cfg);
/* Path of the SQLite store file (resolved against the config file's directory). Borrowed. */
BELT_API const char *belt_config_store_path(const struct belt_config *cfg);
/* server.trace_retention in ms (0: traces are kept). */
BELT_API int64_t belt_config_trace_retention_ms(const struct belt_config *cfg);
/* Number of configured models, and the name / provider name of the i-th (borrowed). */
BELT_API size_t belt_config_n_models(const struct belt_config *cfg);
BELT_API const char *belt_config_model_name(const struct belt_config *cfg, size_t i);
BELT_API const char *belt_config_model_provider(const struct belt_config *cfg, size_t i);
/* Number of configured routes, and the name / policy ("cascade", "rules", ...) of the i-th
 * (borrowed; NULL when out of range). */
BELT_API size_t belt_config_n_routes(const struct belt_config *cfg);
BELT_API const char *belt_config_route_name(const struct belt_config *cfg, size_t i);
BELT_API const char *belt_config_route_policy(const struct belt_config *cfg, size_t i);
/* Number of configured lines, the name of the i-th (borrowed; NULL when out of range) and its
 * number of stations. */
BELT_API size_t belt_config_n_lines(const struct belt_config *cfg);
BELT_API const char *belt_config_line_name(const struct belt_config *cfg, size_t i);
BELT_API size_t belt_config_line_n_stations(const struct belt_config *cfg, size_t i);

/* ==== Store (src/store) =================================================================== */

/* The embedded store: one SQLite file in WAL mode with versioned migrations. A belt_store is
 * used by one thread at a time; open one per thread (WAL lets readers and one writer share the
 * file). */
struct belt_store;

struct belt_store_params {
    const char *path;    /* SQLite file; ":memory:" for a private in-memory store */
    int read_only;       /* 1: open read-only and do not migrate */
    int busy_timeout_ms; /* how long to wait on a locked database (default 5000) */
};

BELT_API struct belt_store_params belt_store_default_params(void);
/* Open (creating if needed) and migrate to the current schema version. A store whose schema is
 * newer than this build is refused with BELT_ERR_VERSION. *out is owned by the caller. */
BELT_API belt_status belt_store_open(const struct belt_store_params *p, struct belt_store **out,
                                     struct belt_error *err);
BELT_API void belt_store_close(struct belt_store *st);
/* The schema version of the open store (PRAGMA user_version). */
BELT_API int belt_store_schema_version(const struct belt_store *st);
/* The schema version this build migrates to. */
BELT_API int belt_store_schema_latest(void);

/* One entry of the model registry. All strings borrowed. */
struct belt_model_record {
    const char *name;         /* registry name (unique) */
    const char *kind;         /* "classifier", "router", ... */
    const char *path;         /* file path as given */
    const char *checksum;     /* hex SHA-256 of the file */
    const char *metrics_json; /* JSON object of evaluation metrics, or NULL */
    int64_t created_ms;       /* Unix time in ms; 0 = now (on insert) */
};

/* Insert or replace the registry entry with rec->name. */
BELT_API belt_status belt_store_register_model(struct belt_store *st,
                                               const struct belt_model_record *rec,
                                               struct belt_error *err);
/* Callback for listings: return 0 to continue, non-zero to stop. `rec` is valid for the call. */
typedef int belt_model_record_fn(void *ud, const struct belt_model_record *rec);
/* Call fn for every registered model, newest first. */
BELT_API belt_status belt_store_list_models(struct belt_store *st, belt_model_record_fn *fn,
                                            void *ud, struct belt_error *err);
/* Record an evaluation run of `model` on `dataset`; metrics_json must be a JSON object.
 * *id_out (may be NULL) receives the run id. */
BELT_API belt_status belt_store_add_eval_run(struct belt_store *st, const char *model,
                                             const char *dataset, const char *metrics_json,
                                             int64_t *id_out, struct belt_error *err);

/* ==== Small models: text classifier (src/learn) =========================================== */

/* A supervised text classifier: hashed word n-grams and character n-grams, a linear softmax
 * trained multi-threaded with early stopping on a dev split, and temperature scaling on dev so
 * `confidence` is calibrated. See docs/classifier.md.
 *
 * Thread rule: a belt_classifier is immutable once trained or loaded; belt_classifier_predict()
 * and every accessor are thread-safe on a shared model. Training uses its own threads and
 * returns only when they have finished. */
struct belt_classifier;

/* The label a prediction carries when its confidence is below the threshold. */
#define BELT_CLASSIFIER_ABSTAIN "abstain"
/* Most alternatives a prediction reports (top_k is clamped to this). */
#define BELT_CLASSIFIER_MAX_TOP_K 16

/* One training or evaluation example. Both strings are borrowed, UTF-8, NUL-terminated. */
struct belt_example {
    const char *text;  /* input text */
    const char *label; /* gold label (non-empty) */
};

/* Reported once per epoch to belt_classifier_params.progress_fn, on the training thread. */
struct belt_classifier_progress {
    int epoch;                /* 1-based epoch just finished */
    int max_epochs;           /* params.epochs */
    double loss;              /* mean training cross-entropy of this epoch */
    double dev_accuracy;      /* accuracy on the dev split after this epoch */
    double best_dev_accuracy; /* best so far (the weights that will be kept) */
    int best_epoch;           /* epoch of best_dev_accuracy */
    int64_t elapsed_us;       /* since training started */
    int64_t eta_us;           /* estimate of the time left, assuming all epochs run */
};
/* Return 0 to go on, non-zero to cancel (belt_classifier_train returns BELT_ERR_CANCELLED).
 * `p` is borrowed for the call. */
typedef int belt_classifier_progress_fn(void *ud, const struct belt_classifier_progress *p);

struct belt_classifier_params {
    /* Features (see docs/classifier.md "Features"). */
    int word_ngrams;       /* longest word n-gram, 1..4 (default 2) */
    int char_min;          /* shortest character n-gram, 0 = no character n-grams (default 2) */
    int char_max;          /* longest character n-gram, <= 8 (default 5) */
    double char_weight;    /* weight of the character-n-gram block vs the word block (default 1) */
    int min_count;         /* keep a feature seen in at least this many training texts (2) */
    uint32_t max_features; /* keep at most this many features, most frequent first (500000) */
    /* Training. */
    int epochs;             /* maximum number of passes over the training set (default 12) */
    int patience;           /* stop after this many epochs without a better dev accuracy (3) */
    double lr;              /* initial learning rate (default 1.0), decays linearly to 0 */
    double l2;              /* L2 penalty per example on touched weights (default 1e-6) */
    int threads;            /* training threads, 0 = number of CPUs (default 0) */
    uint64_t seed;          /* shuffles, dev carving and initialisation (default 1) */
    double dev_fraction;    /* share of train carved as dev when no dev set is given (0.1) */
    int calibrate;          /* 1: fit the softmax temperature on dev (default 1) */
    double target_accuracy; /* dev accuracy the stored abstain threshold aims at (0.95) */
    double threshold_z;     /* the threshold must reach target_accuracy with the Wilson lower
                               bound at z standard deviations on dev (default 1.0; 0 = point
                               estimate, 1.645 = one-sided 95% confidence) */
    belt_classifier_progress_fn *progress_fn; /* NULL: no progress reports */
    void *progress_ud;                        /* passed to progress_fn */
};

/* Defaults as documented on each field. */
BELT_API struct belt_classifier_params belt_classifier_default_params(void);

/* Train a classifier on train[0..n_train) and, when n_dev > 0, select the epoch and fit the
 * temperature on dev[0..n_dev) (else a stratified dev split of params->dev_fraction is carved
 * from train with params->seed). Errors: BELT_ERR_INVALID for an empty training set, fewer than
 * two labels, an empty label, text that is not UTF-8 or bad params (message names the example
 * index); BELT_ERR_CANCELLED when progress_fn asked to stop; BELT_ERR_NOMEM. Examples are
 * borrowed for the call. On success *out is owned by the caller (belt_classifier_free).
 * Not thread-safe with respect to `params->progress_fn`'s state; uses params->threads threads. */
BELT_API belt_status belt_classifier_train(const struct belt_classifier_params *params,
                                           const struct belt_example *train, size_t n_train,
                                           const struct belt_example *dev, size_t n_dev,
                                           struct belt_classifier **out, struct belt_error *err);

/* belt_classifier_save flags. */
#define BELT_CLASSIFIER_SAVE_Q8 1u /* store weights as 8-bit integers with a scale per row */

/* Write the model to `path` atomically (temporary file + fsync + rename: an interrupted save
 * leaves the previous file or none). flags: BELT_CLASSIFIER_SAVE_*. A model loaded from an 8-bit
 * file stays 8-bit. Errors: BELT_ERR_IO (errno in err->sub), BELT_ERR_NOMEM. */
BELT_API belt_status belt_classifier_save(const struct belt_classifier *c, const char *path,
                                          unsigned flags, struct belt_error *err);

/* Map the model file at `path` read-only and check it: magic, format version, sizes, section
 * bounds and the BLAKE2b checksum over the content. Weights are used in place from the mapping.
 * Errors: BELT_ERR_NOTFOUND (no such file), BELT_ERR_IO (cannot open/map), BELT_ERR_FORMAT
 * (not a belt model, truncated or malformed), BELT_ERR_VERSION (written by a newer format),
 * BELT_ERR_CHECKSUM (corrupted), BELT_ERR_NOMEM. On success *out is owned by the caller
 * (belt_classifier_free). */
BELT_API belt_status belt_classifier_load(const char *path, struct belt_classifier **out,
                                          struct belt_error *err);

/* Release the model (and its mapping). NULL is a no-op. */
BELT_API void belt_classifier_free(struct belt_classifier *c);

struct belt_predict_params {
    double threshold; /* answer BELT_CLASSIFIER_ABSTAIN below this confidence (default 0) */
    int top_k;        /* alternatives to report, 0..BELT_CLASSIFIER_MAX_TOP_K (default 1) */
};
BELT_API struct belt_predict_params belt_predict_default_params(void);

/* One alternative of a prediction. `label` is borrowed from the model (valid until it is
 * freed). */
struct belt_label_prob {
    const char *label; /* label name */
    int index;         /* label index, 0..n_labels-1 */
    double prob;       /* calibrated probability */
};

/* A prediction. Filled by belt_classifier_predict; caller-embedded, nothing to release. */
struct belt_prediction {
    const char *label; /* best label, or BELT_CLASSIFIER_ABSTAIN when abstained; borrowed */
    int index;         /* index of the best label (also when abstained) */
    double confidence; /* calibrated probability of the best label */
    int abstained;     /* 1 if confidence < threshold */
    int n_top;         /* entries used in top[] (min(top_k, n_labels)) */
    struct belt_label_prob top[BELT_CLASSIFIER_MAX_TOP_K]; /* best first */
};

/* Classify text[0..len) (UTF-8; need not be NUL-terminated). pp NULL = defaults. Does not
 * allocate for models of up to 4096 labels. Errors: BELT_ERR_INVALID for text that is not
 * UTF-8 (offset of the bad byte in the message). Thread-safe on a shared model. */
BELT_API belt_status belt_classifier_predict(const struct belt_classifier *c, const char *text,
                                             size_t len, const struct belt_predict_params *pp,
                                             struct belt_prediction *out, struct belt_error *err);

/* Number of labels, the name of label i (borrowed; NULL if out of range), and the index of a
 * label by name (-1 if unknown). */
BELT_API size_t belt_classifier_n_labels(const struct belt_classifier *c);
BELT_API const char *belt_classifier_label(const struct belt_classifier *c, size_t i);
BELT_API int belt_classifier_label_index(const struct belt_classifier *c, const char *label);
/* The model's metadata as a JSON object (borrowed, valid until the model is freed): format
 * version, feature config, hyper-parameters, label list, temperature, the dev metrics measured
 * at training time (accuracy, macro_f1, ece, threshold for target_accuracy, ...), sizes. */
BELT_API const char *belt_classifier_metadata_json(const struct belt_classifier *c);
/* The softmax temperature fitted on dev (1 when not calibrated). */
BELT_API double belt_classifier_temperature(const struct belt_classifier *c);
/* The confidence threshold chosen on dev to reach params.target_accuracy (the cascade accept
 * threshold), or a negative value when dev could not reach it. */
BELT_API double belt_classifier_dev_threshold(const struct belt_classifier *c);
/* 1 if the weights are 8-bit. */
BELT_API int belt_classifier_quantized(const struct belt_classifier *c);

/* ---- Evaluation of any labeller (classifier, route, model) ---------------------------------
 * Pure functions over (gold, predicted, confidence) triples, so the classifier CLI, route
 * replays and model promotion share one definition of every metric. */

/* One scored item. Labels are indices into the caller's label list of n_labels names. */
struct belt_eval_item {
    int gold;          /* gold label index, or -1 for a label the labeller does not know */
    int pred;          /* predicted label index (-1: no answer, counts as wrong) */
    double confidence; /* confidence of pred in [0,1] */
};

/* Coverage and accuracy of the items whose confidence >= threshold. */
struct belt_eval_coverage {
    double threshold; /* confidence cut */
    size_t n;         /* items at or above it */
    double coverage;  /* n / total */
    double accuracy;  /* accuracy on those items (0 when n == 0) */
};

/* A (gold, predicted) pair and how often it happened. */
struct belt_eval_confusion {
    int gold;     /* gold label index */
    int pred;     /* predicted label index */
    size_t count; /* occurrences */
};

#define BELT_EVAL_MAX_THRESHOLDS 16
#define BELT_EVAL_MAX_CONFUSIONS 32

struct belt_eval_params {
    size_t n_thresholds;                         /* used entries of thresholds[] */
    double thresholds[BELT_EVAL_MAX_THRESHOLDS]; /* default 0.5 0.7 0.8 0.9 0.95 */
    double target_accuracy;                      /* default 0.95 */
    double target_z; /* the target counts as reached when the Wilson lower bound at z standard
                        deviations of the covered accuracy reaches it (0 = point estimate, the
                        default; 1.645 = one-sided 95% confidence) */
    double fixed_threshold; /* also report coverage here (<0: none) */
    size_t n_bins;          /* ECE bins, equal width (default 15) */
    size_t n_confusions;    /* most confused pairs to list (default 10) */
};
BELT_API struct belt_eval_params belt_eval_default_params(void);

/* Everything belt_eval_compute() measures. Caller-embedded, no pointers to release. */
struct belt_eval_report {
    size_t n;         /* items */
    size_t n_correct; /* pred == gold */
    double accuracy;  /* n_correct / n */
    double macro_f1;  /* unweighted mean of per-label F1 over labels present in gold or pred */
    double ece;       /* expected calibration error (n_bins equal-width bins) */
    double mean_confidence; /* average confidence */
    size_t n_coverage;      /* entries of coverage[] (= params.n_thresholds) */
    struct belt_eval_coverage coverage[BELT_EVAL_MAX_THRESHOLDS];
    double target_accuracy;              /* params.target_accuracy */
    int target_reached;                  /* 1 if some threshold reaches the target */
    struct belt_eval_coverage at_target; /* lowest threshold reaching it (max coverage) */
    double at_target_lower;              /* Wilson lower bound of at_target.accuracy (target_z) */
    int has_fixed;                       /* params.fixed_threshold >= 0 */
    struct belt_eval_coverage at_fixed;  /* coverage at params.fixed_threshold */
    size_t n_confusions;                 /* entries of confusions[] */
    struct belt_eval_confusion confusions[BELT_EVAL_MAX_CONFUSIONS]; /* most frequent first */
};

/* Measure items[0..n) (n > 0; labels < n_labels). p NULL = defaults. Errors: BELT_ERR_INVALID
 * (n == 0, a label index out of range, a confidence outside [0,1] or NaN), BELT_ERR_NOMEM.
 * Thread-safe (no shared state). */
BELT_API belt_status belt_eval_compute(const struct belt_eval_item *items, size_t n,
                                       size_t n_labels, const struct belt_eval_params *p,
                                       struct belt_eval_report *out, struct belt_error *err);

/* ==== Gateway: engine, models, server (src/model, src/server) ============================= */

/* The engine is what `belt serve`, `belt run` and an embedding program share: the
 * configuration, the runtime models (with their circuit breakers), the trace writer, the
 * response cache and the metrics. A belt_loop is the engine on one libevent event_base (one per
 * thread): it owns that thread's pooled upstream connections. Model calls are asynchronous on
 * a loop; belt_call_sync() wraps one in a private loop for programs without one.
 * See docs/gateway.md ("Calling models from C") for a complete example.
 *
 * Thread rules: a belt_engine is shared by all threads (every function taking a const engine,
 * and belt_loop_new/belt_engine_flush, are thread-safe). A belt_loop, its calls and their
 * callbacks belong to the thread that runs its event_base. */
struct belt_engine;
struct belt_loop;
struct belt_call;
struct belt_server;
struct event_base; /* libevent */
struct json_t;     /* jansson; pass a json_t * */

struct belt_engine_params {
    const struct belt_config *config; /* required; borrowed, must outlive the engine */
    const char *store_path;           /* SQLite file for traces and the persistent cache; NULL: the
                                         config's store.path; "" : no store (nothing is written) */
    int trace;                        /* -1: server.trace of the config; 0: off; 1: write traces */
    int cache;                        /* -1: server.cache.enabled of the config; 0: off; 1: on */
};

/* Defaults: config NULL (must be set), store_path NULL, trace -1, cache -1. */
BELT_API struct belt_engine_params belt_engine_default_params(void);
/* Build the runtime models (reading API keys from the environment variables the config
 * names, loading local classifier files), start the trace writer thread and warm the cache
 * from the store. Errors: BELT_ERR_INVALID (no config), BELT_ERR_CONFIG, BELT_ERR_STORE,
 * BELT_ERR_IO / BELT_ERR_FORMAT (a local model file), BELT_ERR_NOMEM. *out is owned by the
 * caller (belt_engine_free). */
BELT_API belt_status belt_engine_new(const struct belt_engine_params *p, struct belt_engine **out,
                                     struct belt_error *err);
/* Write every queued trace and cache entry, stop the writer and release. Free every loop and
 * server first. NULL is a no-op. */
BELT_API void belt_engine_free(struct belt_engine *e);
/* Block until everything queued before this call is committed to the store, or timeout_ms
 * passed (BELT_ERR_TIMEOUT). BELT_OK at once when the engine has no store. Thread-safe; never
 * call it on a loop thread while that loop has work (it would stall the loop). */
BELT_API belt_status belt_engine_flush(struct belt_engine *e, int64_t timeout_ms,
                                       struct belt_error *err);
/* The configuration (borrowed). */
BELT_API const struct belt_config *belt_engine_config(const struct belt_engine *e);
/* The metrics of the engine in the Prometheus text exposition format (what GET /metrics
 * serves); owned by the caller (belt_free); NULL when out of memory. Thread-safe. */
BELT_API char *belt_engine_metrics_text(const struct belt_engine *e);

/* Attach the engine to `base` (borrowed; must outlive the loop). Thread-safe with respect to
 * the engine. *out belongs to the thread that runs base. */
BELT_API belt_status belt_loop_new(struct belt_engine *e, struct event_base *base,
                                   struct belt_loop **out, struct belt_error *err);
/* Cancel the calls still running on the loop (each gets its answer callback with
 * BELT_ERR_CANCELLED, synchronously) and release. On the loop's thread, outside callbacks.
 * NULL is a no-op. */
BELT_API void belt_loop_free(struct belt_loop *l);
/* Calls in progress on the loop. */
BELT_API size_t belt_loop_n_calls(const struct belt_loop *l);

/* ---- One model call ------------------------------------------------------------------------
 * A call sends one OpenAI-form request to a configured model and delivers exactly one answer.
 * Reliability is inside: per-attempt timeout, retries with exponential backoff and jitter that
 * honour Retry-After, weighted choice among the model's deployments skipping those whose
 * circuit breaker is open, then the model's `fallbacks` in order. Every attempt is reported
 * (belt_attempt) so a caller can trace "models tried". A streamed call delivers OpenAI
 * chat.completion.chunk objects as they arrive; once a chunk was delivered the call can no
 * longer retry or fall back, and a broken stream ends with an error answer. */

/* Append-only. */
enum belt_call_kind {
    BELT_CALL_CHAT = 0,      /* chat completion: request is an OpenAI chat request */
    BELT_CALL_EMBEDDINGS = 1 /* embeddings: request is an OpenAI embeddings request */
};

/* One attempt of a call. Strings are borrowed for the duration of the callback that shows the
 * attempt (on_attempt, or on_answer through belt_answer.attempts). */
struct belt_attempt {
    int seq;                /* 0-based order within the call */
    const char *model;      /* configured model tried */
    const char *deployment; /* its deployment (name) */
    const char *why;        /* "first", "retry" (same model again) or "fallback" (next model) */
    belt_status status;     /* BELT_OK, or BELT_ERR_TIMEOUT, BELT_ERR_IO (connection failed or
                               reset), BELT_ERR_UPSTREAM (error status or garbage),
                               BELT_ERR_RATELIMIT (429), BELT_ERR_AUTH (key missing/refused),
                               BELT_ERR_BUSY (skipped: circuit open), BELT_ERR_CANCELLED */
    int http_status;        /* upstream HTTP status, 0 when no response arrived */
    const char *error;      /* what went wrong ("" when ok); never contains secrets */
    int64_t backoff_ms;     /* waited before this attempt */
    int64_t latency_us;     /* this attempt's duration */
    int64_t input_tokens;   /* usage of this attempt (0 when it failed before any answer) */
    int64_t output_tokens;
    double cost_usd; /* what this attempt cost */
};

/* One streamed chunk, in OpenAI form whatever the provider. Borrowed for the callback. */
struct belt_chunk {
    const struct json_t *chunk; /* the chat.completion.chunk object */
    const char *data;           /* its JSON text (one SSE data payload, no "data: " prefix) */
    size_t len;                 /* bytes of data */
    const char *delta;          /* text added to choices[0].delta.content ("" when none) */
    size_t delta_len;           /* bytes of delta */
    int usage_only;             /* 1: the final usage chunk (empty choices) that the call asked
                                   the upstream for; forward it only if your client asked */
    int64_t index;              /* 0-based chunk counter */
    const char *model;          /* configured model producing the stream (after fallbacks) */
};

/* The final answer. Everything is borrowed for the duration of on_answer (copy it with
 * belt_answer_copy to keep it). On error, content is "" and response may be NULL. */
struct belt_answer {
    belt_status status;              /* BELT_OK or why the call failed */
    int http_status;                 /* the status an HTTP gateway answers with: 200, the upstream's
                                        4xx for a request it refused, 429, 502 (upstream failed or
                                        garbage), 503 (no deployment available), 504 (timeout),
                                        499 (cancelled) */
    const char *error;               /* message ("" when ok) */
    const char *error_body;          /* the upstream's own error body (JSON) when it sent one, or
                                        NULL */
    const char *model;               /* configured model that answered (or failed last) */
    const char *deployment;          /* its deployment */
    const char *provider;            /* "openai", "anthropic", "local" */
    const char *response_model;      /* model name the upstream reported ("" when none) */
    const char *response_id;         /* id of the upstream response ("" when none) */
    const char *content;             /* choices[0].message.content ("" when none) */
    size_t content_len;              /* bytes of content */
    const char *finish_reason;       /* "stop", "length", "tool_calls", ... ("" when unknown) */
    const struct json_t *tool_calls; /* choices[0].message.tool_calls (array) or NULL */
    const struct json_t *response;   /* the whole OpenAI-form answer (chat.completion, or the
                                        embeddings list); json_incref it to keep it */
    const char *body;                /* the same answer serialised (for OpenAI-compatible upstreams
                                        the upstream's bytes verbatim) */
    size_t body_len;                 /* bytes of body */
    /* local (classifier) models; label NULL otherwise */
    const char *label; /* predicted label (BELT_CLASSIFIER_ABSTAIN when abstained) */
    double confidence; /* calibrated confidence of label; -1 when not a classifier */
    int abstained;     /* 1: confidence below the model's threshold */
    const struct belt_label_prob *top_k; /* best first; NULL when not a classifier */
    size_t n_top_k;                      /* entries of top_k */
    /* token logprobs of choices[0] when the upstream returned them (request logprobs: true) */
    int64_t n_logprobs;  /* answer tokens with a logprob (0: none returned) */
    double logprob_mean; /* mean logprob over them (0 when n_logprobs is 0) */
    double logprob_min;  /* smallest one (0 when n_logprobs is 0) */
    /* usage and cost */
    int64_t input_tokens; /* of the answering attempt */
    int64_t output_tokens;
    int usage_estimated; /* 1: the upstream reported no usage; tokens were estimated */
    double cost_usd;     /* total over all attempts (failed attempts usually cost 0) */
    int64_t latency_us;  /* start of the call to the answer */
    int64_t ttft_us;     /* start to the first streamed chunk (0 when not streamed) */
    int stream;          /* 1: the answer was streamed */
    const struct belt_attempt *attempts; /* every attempt in order */
    size_t n_attempts;                   /* entries of attempts */
};

/* Callbacks run on the loop's thread. `call` is valid until on_answer returns. */
typedef void belt_chunk_fn(void *ud, struct belt_call *call, const struct belt_chunk *chunk);
typedef void belt_attempt_fn(void *ud, struct belt_call *call, const struct belt_attempt *a);
typedef void belt_answer_fn(void *ud, struct belt_call *call, const struct belt_answer *answer);

struct belt_call_params {
    const char *model;        /* configured model name; required; copied */
    int kind;                 /* enum belt_call_kind (default BELT_CALL_CHAT) */
    struct json_t *request;   /* the OpenAI-form request object; the call holds a
                                 reference (json_incref) until on_answer returns: do not
                                 modify it meanwhile. Its "model" and "stream" fields are
                                 ignored (the call sets them per deployment). */
    const char *request_json; /* alternative to request: JSON text (len bytes), copied.
                                 When request is set too, this must be its serialisation:
                                 an OpenAI-compatible upstream then gets these bytes
                                 unchanged whenever nothing needs rewriting (same model
                                 id, no stream option to add), saving a re-serialisation */
    size_t request_len;
    int stream;                  /* 1: stream; chunks go to on_chunk */
    int64_t timeout_ms;          /* deadline of the whole call, retries and fallbacks
                                    included; 0: none beyond each attempt's own */
    int retries;                 /* -1: each model's `retries`; else this many per model */
    int fallbacks;               /* 1: follow the model's fallbacks (default); 0: not */
    const char *trace_id;        /* shown in log lines; may be NULL; copied */
    int no_response_tree;        /* 1: the caller reads the answer's body, content, usage and
                                    other summary fields, never `response`: an answer an
                                    OpenAI-compatible upstream sent that can be passed on as
                                    it is is then only validated, not parsed into a tree
                                    (answer.response NULL); 0 (default): always a tree */
    belt_chunk_fn *on_chunk;     /* required when stream */
    belt_attempt_fn *on_attempt; /* may be NULL: called when each attempt ends */
    belt_answer_fn *on_answer;   /* required: called exactly once */
    void *ud;                    /* passed to the callbacks */
};

/* Defaults: kind chat, stream 0, timeout 0, retries -1, fallbacks 1, everything else NULL. */
BELT_API struct belt_call_params belt_call_default_params(void);
/* Start a call on loop `l`. On error (BELT_ERR_NOTFOUND unknown model, BELT_ERR_INVALID bad
 * params or request, BELT_ERR_NOMEM) no callback is ever called. On success on_answer is
 * called exactly once, always later from the loop (never from inside belt_call_start), and
 * *out (may be NULL) is valid until then. */
BELT_API belt_status belt_call_start(struct belt_loop *l, const struct belt_call_params *p,
                                     struct belt_call **out, struct belt_error *err);
/* Stop a call: the upstream transfer is aborted (no more tokens billed) and on_answer runs
 * with BELT_ERR_CANCELLED before belt_call_cancel returns — or, when cancel is called from
 * inside one of this call's own callbacks, right after that callback returns. Not after
 * on_answer. */
BELT_API void belt_call_cancel(struct belt_call *c);
/* Run one call to completion on a private event loop (for programs without one) and return
 * its answer: *out is owned by the caller (belt_answer_free) and is set for every completed
 * call, failed ones included (the return value is then answer->status). p->on_answer is
 * ignored; on_chunk/on_attempt are called as usual. Not on a loop thread. */
BELT_API belt_status belt_call_sync(struct belt_engine *e, const struct belt_call_params *p,
                                    struct belt_answer **out, struct belt_error *err);
/* Deep copy of an answer that outlives the callback (holds a reference to response).
 * NULL when out of memory. Free with belt_answer_free. */
BELT_API struct belt_answer *belt_answer_copy(const struct belt_answer *a);
/* NULL is a no-op. */
BELT_API void belt_answer_free(struct belt_answer *a);

/* ---- The HTTP gateway (`belt serve`) --------------------------------------------------------
 * An OpenAI-compatible server on the engine: POST /v1/chat/completions (JSON and SSE),
 * GET /v1/models, POST /v1/embeddings, GET /healthz, GET /metrics. docs/gateway.md. */

struct belt_server_params {
    const char *listen; /* "HOST:PORT"; NULL: server.listen of the config */
    int threads;        /* event loops; 0: server.threads of the config (0 = CPUs) */
};

BELT_API struct belt_server_params belt_server_default_params(void);
/* Bind the listening socket(s) (so the port is known and errors show at once) and create the
 * loops; serving starts with belt_server_run. Errors: BELT_ERR_IO (cannot bind: errno in sub),
 * BELT_ERR_INVALID (bad listen address). *out is owned by the caller (belt_server_free). */
BELT_API belt_status belt_server_new(struct belt_engine *e, const struct belt_server_params *p,
                                     struct belt_server **out, struct belt_error *err);
/* The bound port (useful with port 0) and the number of loops. */
BELT_API int belt_server_port(const struct belt_server *s);
BELT_API int belt_server_n_threads(const struct belt_server *s);
/* Serve until belt_server_stop; then stop accepting, let requests in flight finish (at most
 * server.shutdown_timeout, then they are cancelled) and return. Runs loop 0 on the calling
 * thread and the others on threads of its own. */
BELT_API belt_status belt_server_run(struct belt_server *s, struct belt_error *err);
/* Ask a running server to stop gracefully. Async-signal-safe and thread-safe. */
BELT_API void belt_server_stop(struct belt_server *s);
/* NULL is a no-op. Not while belt_server_run is running. */
BELT_API void belt_server_free(struct belt_server *s);

/* ---- Traces (stored by the engine's writer; read with these) -------------------------------- */

/* One stored trace. Strings borrowed for the callback; optional ones may be NULL. */
struct belt_trace_info {
    int64_t rowid;        /* insertion order (for following new traces) */
    const char *id;       /* 32 hex digits (the W3C trace id) */
    int64_t ts_ms;        /* start, Unix ms */
    const char *kind;     /* "chat", "embeddings", ... */
    const char *route;    /* requested model or route */
    const char *model;    /* model that answered */
    const char *key_id;   /* API key id, or NULL */
    const char *status;   /* "ok", "error", ... */
    int http_status;      /* status sent to the client */
    const char *error;    /* or NULL */
    int64_t input_tokens; /* usage */
    int64_t output_tokens;
    double cost_usd;        /* total cost */
    int64_t latency_us;     /* end to end */
    int cache_hit;          /* 1: answered from the cache */
    int stream;             /* 1: streamed */
    const char *attrs_json; /* JSON object of further attributes, or NULL */
};

/* One step (attempt) of a trace. Strings borrowed; optional ones may be NULL. */
struct belt_trace_step_info {
    int seq;           /* order within the trace */
    const char *model; /* model tried */
    const char *deployment;
    int tier;           /* route tier, -1 when none */
    const char *status; /* "ok", "error", "timeout", "skipped", ... */
    int http_status;    /* upstream status, 0 when none */
    const char *error;
    const char *reason; /* why this step was taken ("first", "retry", "fallback", ...) */
    double confidence;  /* -1 when none */
    int64_t input_tokens;
    int64_t output_tokens;
    double cost_usd;
    int64_t latency_us;
};

struct belt_trace_query {
    const char *id;      /* one trace (NULL: any) */
    int64_t after_rowid; /* only rowid > this (following) */
    int64_t since_ms;    /* only ts_ms >= this (0: any) */
    int64_t until_ms;    /* only ts_ms < this (0: any) */
    const char *model;   /* only this answering model (NULL: any) */
    const char *route;   /* only this route (NULL: any) */
    int64_t limit;       /* at most this many (0: no limit) */
    int newest_first;    /* 1: newest first; 0: oldest first */
};

typedef int belt_trace_fn(void *ud, const struct belt_trace_info *t);
typedef int belt_trace_step_fn(void *ud, const struct belt_trace_step_info *s);

/* Call fn for every trace matching q (NULL: all, oldest first); fn returns non-zero to stop. */
BELT_API belt_status belt_store_list_traces(struct belt_store *st, const struct belt_trace_query *q,
                                            belt_trace_fn *fn, void *ud, struct belt_error *err);
/* Call fn for every step of trace `id`, in order (none: BELT_OK without calls). */
BELT_API belt_status belt_store_trace_steps(struct belt_store *st, const char *id,
                                            belt_trace_step_fn *fn, void *ud,
                                            struct belt_error *err);
/* Delete the traces started before before_ms (Unix ms) with their steps, oldest first, in
 * transactions of 10,000 so that a running gateway's writer is never held up for long; the
 * audit log keeps its rows. *n_deleted (may be NULL) gets the number of traces deleted, also
 * those of the chunks committed before an error. The gateway does the same on its own with
 * server.trace_retention. */
BELT_API belt_status belt_store_prune_traces(struct belt_store *st, int64_t before_ms,
                                             int64_t *n_deleted, struct belt_error *err);

/* ==== Routes (src/route) ================================================================== */

/* ---- The learned router (src/learn/router.c) ---------------------------------------------- */

/* A router predicts, from the text of a task alone, the probability that each of N tiers
 * (models, cheapest first) answers it correctly; a `learned` route then sends the task to the
 * cheapest tier whose predicted success reaches a target. Features are computed in-process
 * (hashed word and character n-grams, as the classifier's, optionally plus a few shape features:
 * bucketed counts and the first and last tokens); one calibrated logistic model per tier. See
 * docs/routes.md.
 *
 * Thread rule: a belt_router is immutable once trained or loaded; belt_router_predict() and the
 * accessors are thread-safe on a shared router. */
struct belt_router;

/* One training example: the task's text and, per tier, whether the tier answered it correctly
 * and what that cost. Arrays have n_tiers entries; all borrowed for the call. */
struct belt_router_example {
    const char *text;        /* the task's input text (UTF-8) */
    size_t len;              /* its bytes */
    const int *correct;      /* 1 if tier i answered correctly, 0 if not */
    const double *cost_usd;  /* what tier i's answer cost (may be NULL: unknown) */
    const char *const *tags; /* the task's tags (request metadata; may be NULL) */
    size_t n_tags;           /* count (at most BELT_ROUTER_MAX_TAGS are used) */
};

/* Tags of one task that a router trained with `tags` reads; further ones are ignored. */
#define BELT_ROUTER_MAX_TAGS 16

enum belt_router_calibration {
    BELT_ROUTER_CALIB_PLATT = 0,   /* logistic fit of the scores on the dev split */
    BELT_ROUTER_CALIB_ISOTONIC = 1 /* monotone step fit (pool-adjacent-violators) on dev */
};

/* What each tier's model predicts. */
enum belt_router_objective {
    BELT_ROUTER_CORRECT = 0,   /* P(the tier answers correctly) */
    BELT_ROUTER_SUFFICIENT = 1 /* P(the tier answers correctly, or no costlier tier does):
                                  "escalating would not help" — a cost-aware target */
};

/* Progress of training: tier being trained, epoch, dev log-loss. Return non-zero to cancel
 * (training then fails with BELT_ERR_CANCELLED). */
typedef int belt_router_progress_fn(void *ud, size_t tier, int epoch, double dev_logloss);

struct belt_router_params {
    int word_ngrams;        /* longest word n-gram (1..4) */
    int char_min, char_max; /* character n-grams (char_min 0: none) */
    int shape;              /* 1: also the router's shape features (counts of words, numbers,
                               operators, answer options; first and last tokens); 0: none */
    int tags;               /* 1: also the task's tags (request metadata: a subject, queue or
                               product known before the call), one feature each; 0: none */
    int bucket_bits;        /* hashed feature table of 2^bucket_bits rows per tier */
    int epochs;             /* maximum passes over the training split */
    int ensemble;           /* fits averaged per tier (different shuffles), 1..100 */
    double learning_rate;   /* initial AdaGrad step */
    double l2;              /* L2 penalty per example */
    double dev_fraction;    /* share held out (by hash of the text) for early stopping and
                               calibration */
    uint64_t seed;          /* shuffling */
    enum belt_router_calibration calibration; /* how scores become probabilities */
    enum belt_router_objective objective;     /* what is predicted per tier */
    belt_router_progress_fn *progress;        /* may be NULL */
    void *progress_ud;                        /* passed to progress */
    int search; /* 1: choose the character n-grams (as given, or none) and the L2 penalty
                   (l2 × 1, 10, 30) by the mean dev AUC of the fitted tiers (the given values
                   win ties); 0: as given. Skipped without a dev split. */
};

/* Defaults: word 1-2 grams, char 3-5 grams, no shape features, 2^18 buckets, 12 epochs,
 * ensemble 5, learning rate 0.2, l2 1e-4, dev 0.2, seed 1, isotonic calibration, objective
 * BELT_ROUTER_CORRECT, no search. */
BELT_API struct belt_router_params belt_router_default_params(void);

/* Train a router for n_tiers tiers named tier_names (cheapest first; at least 2) from n
 * examples. Errors: BELT_ERR_INVALID (fewer than 20 examples, a tier that is always or never
 * correct in the data is allowed but reported in the metrics, non-UTF-8 text names the example),
 * BELT_ERR_NOMEM, BELT_ERR_CANCELLED. *out is owned by the caller (belt_router_free). */
BELT_API belt_status belt_router_train(const struct belt_router_params *p,
                                       const char *const *tier_names, size_t n_tiers,
                                       const struct belt_router_example *ex, size_t n,
                                       struct belt_router **out, struct belt_error *err);

/* Train from an outcomes JSONL file (docs/routes.md#outcomes): tiers are `tiers` (n_tiers
 * names, cheapest first) or, when tiers is NULL, every model of the file ordered by mean cost.
 * Errors name FILE:LINE. */
BELT_API belt_status belt_router_train_file(const struct belt_router_params *p,
                                            const char *outcomes_path, const char *const *tiers,
                                            size_t n_tiers, struct belt_router **out,
                                            struct belt_error *err);

/* Write the router to `path` atomically (versioned, checksummed format). */
BELT_API belt_status belt_router_save(const struct belt_router *r, const char *path,
                                      struct belt_error *err);
/* Load a router file. A truncated or corrupt file is BELT_ERR_FORMAT / BELT_ERR_CHECKSUM, a
 * file of another format version BELT_ERR_VERSION. *out is owned by the caller. */
BELT_API belt_status belt_router_load(const char *path, struct belt_router **out,
                                      struct belt_error *err);
/* NULL is a no-op. */
BELT_API void belt_router_free(struct belt_router *r);

/* Number of tiers; name of tier i (borrowed, NULL if out of range); its mean cost per task in
 * the training data (NAN if unknown). */
BELT_API size_t belt_router_n_tiers(const struct belt_router *r);
BELT_API const char *belt_router_tier_name(const struct belt_router *r, size_t i);
BELT_API double belt_router_tier_cost(const struct belt_router *r, size_t i);
/* Training and dev figures as a JSON object (borrowed, valid while r lives). */
BELT_API const char *belt_router_metrics_json(const struct belt_router *r);

/* Predicted probability that each tier answers text[0..len) correctly, into p[0..n) (n must
 * be belt_router_n_tiers). No allocation; thread-safe. BELT_ERR_INVALID for non-UTF-8 text. */
BELT_API belt_status belt_router_predict(const struct belt_router *r, const char *text, size_t len,
                                         double *p, size_t n, struct belt_error *err);
/* belt_router_predict() for a task with tags (request metadata). A router trained with `tags`
 * reads them (belt_router_uses_tags); other routers ignore them. */
BELT_API belt_status belt_router_predict_tagged(const struct belt_router *r, const char *text,
                                                size_t len, const char *const *tags, size_t n_tags,
                                                double *p, size_t n, struct belt_error *err);
/* 1 if the router was trained with the tasks' tags as features. */
BELT_API int belt_router_uses_tags(const struct belt_router *r);
/* The cheapest tier whose p[i] >= target; the last tier when none reaches it. */
BELT_API size_t belt_router_choose(const struct belt_router *r, const double *p, double target);

/* ---- Offline evaluation of a route against recorded outcomes (src/route/offline.c) ------- */

/* The result of running a route over a replay file: accuracy, cost, latency, share per tier,
 * the threshold sweep with its cost–accuracy curve and convex hull, savings, APGR, CPT and
 * AIQ. Immutable; render it as JSON, text or HTML. */
struct belt_route_report;

struct belt_route_eval_params {
    int sweep;         /* 1: sweep the route's thresholds (curve, hull, APGR, AIQ) */
    size_t max_points; /* sweep points at most (≥ 3) */
    double quality;    /* also report the cost at this fraction of the best single model's
                          accuracy (the saving at "95% of the strong model") */
    const char *title; /* shown in the HTML report; NULL: the route name */
};

/* Defaults: sweep 1, max_points 101, quality 0.95, title NULL. */
BELT_API struct belt_route_eval_params belt_route_eval_default_params(void);

/* Run route `route` of cfg over every task of the outcomes file at `replay_path` (the models the
 * route calls must have outcomes there under the same names). Errors: BELT_ERR_NOTFOUND for an
 * unknown route, BELT_ERR_FORMAT naming FILE:LINE for bad records or a missing outcome,
 * BELT_ERR_CONFIG when a learned route's router does not fit its tiers. *out is owned by the
 * caller (belt_route_report_free). cfg is only read: several evaluations may share it. */
BELT_API belt_status belt_route_eval(const struct belt_config *cfg, const char *route,
                                     const char *replay_path,
                                     const struct belt_route_eval_params *p,
                                     struct belt_route_report **out, struct belt_error *err);

/* Renderings, each a new NUL-terminated string owned by the caller (belt_free); NULL when out
 * of memory. JSON: one object (docs/cli/eval.md lists the fields). HTML: a self-contained page
 * with the curve drawn in inline SVG. Text: a summary for a terminal. */
BELT_API char *belt_route_report_json(const struct belt_route_report *r);
BELT_API char *belt_route_report_html(const struct belt_route_report *r);
BELT_API char *belt_route_report_text(const struct belt_route_report *r);
/* Headline figures (NAN when not defined for this route): accuracy, mean cost per task, APGR,
 * AIQ, and the cost saving against the best single model at the `quality` level. */
BELT_API double belt_route_report_accuracy(const struct belt_route_report *r);
BELT_API double belt_route_report_cost_per_task(const struct belt_route_report *r);
BELT_API double belt_route_report_apgr(const struct belt_route_report *r);
BELT_API double belt_route_report_aiq(const struct belt_route_report *r);
BELT_API double belt_route_report_saving(const struct belt_route_report *r);
/* NULL is a no-op. */
BELT_API void belt_route_report_free(struct belt_route_report *r);

/* ---- Running a route live (src/route/exec.c) --------------------------------------------------
 * One entry point for every front end (the gateway, lines, `belt route`, an embedding program):
 * a *name* is a route of the `routes:` section or a plain model of `models:` (routes first;
 * a model behaves as a `fixed` route of itself). The executor drives the same decision core as
 * the offline evaluator with real model calls (belt_call_start) on a belt_loop: cascades that
 * escalate on doubt, fallback on errors, weighted / least-latency balance, rules on request
 * metadata, the learned router, budgets per request and per route, routes nested in routes,
 * and a final person tier. Every decision lands in the answer's path (belt_route_step) and, on
 * request, in the trace. docs/routes.md ("Live execution").
 *
 * Async rule (as belt_call_start): an error from belt_route_call_start means no callback is
 * ever called; otherwise on_answer is called exactly once, always later from the loop.
 *
 * Streaming (stream = 1): a call whose successful answer the route takes unconditionally (a
 * model, fixed / fallback / balance / rules targets, a tier without `accept`) streams live,
 * chunk by chunk; tiers with an accept condition are called without streaming, judged, and the
 * accepted answer is then delivered as a short synthesised stream (a role + content chunk, a
 * finish chunk, the usage chunk). An unresolved or over-budget outcome is never streamed: its
 * best answer comes only with on_answer, for the front end to present as such. A live stream
 * that breaks after its first chunk cannot escalate: the route ends with the error. */
struct belt_route_call;

/* Append-only. How a route call ended. */
enum belt_route_outcome {
    BELT_ROUTE_ANSWERED = 0,   /* an answer was accepted (or a non-tiered target answered) */
    BELT_ROUTE_UNRESOLVED = 1, /* handed to a person, or no tier accepted: escalated-unresolved,
                                  with the best answer so far when there is one */
    BELT_ROUTE_BUDGET = 2,     /* every remaining tier would break the budget: best answer so far
                                  when there is one */
    BELT_ROUTE_FAILED = 3      /* no answer: every call failed, or cancelled */
};
/* "answered", "unresolved", "budget", "failed" (static; "?" when out of range). */
BELT_API const char *belt_route_outcome_name(enum belt_route_outcome o);

/* The confidence signals seen for one step. Absent numbers are NAN, absent counts -1. */
struct belt_route_signals {
    double confidence;   /* calibrated confidence (local classifiers, recorded answers) */
    double logprob_mean; /* mean token logprob of the answer */
    double logprob_min;  /* smallest token logprob */
    double score;        /* the verifier's score of the answer */
    int agree;           /* agreement: answers equal to this one (this one included) */
    int compared;        /* agreement: answers compared (this one included) */
    int peer_agree;      /* a peer model gave the same answer: 1 / 0 */
};

/* One line of the path: a tier tried or skipped, or a decision (rule, router, balance).
 * Strings are borrowed from the answer that holds the step. */
struct belt_route_step {
    const char *event;  /* tiers: "answered" (a non-tiered target answered), "accepted",
                           "escalated", "failed", "skipped" (budget), "human" (handed to a
                           person), "unresolved" (nothing left); decisions: "rule", "router",
                           "balance" */
    const char *route;  /* the route this step belongs to (its own name for a plain model) */
    int depth;          /* 0: the route called; 1: a route named by one of its tiers; ... */
    int tier;           /* 0-based tier (cascade, learned) or target position (fixed, fallback,
                           balance); -1 for decisions and "unresolved" */
    const char *model;  /* model tried or skipped; NULL for a person, a nested route or none */
    const char *target; /* what the tier names: a model, a route, "human"; NULL for decisions */
    const char *reason; /* why, e.g. "confidence 0.62 < 0.9", "budget: big would cost ~$0.03,
                           $0.01 of $0.02 left", "rule 1 matched: a person" */
    struct belt_route_signals sig; /* signal values for a judged answer */
    double cost_usd;      /* spent by this step's model calls (answer, samples, peer, verifier) */
    int64_t latency_us;   /* time of those calls (parallel samples count once) */
    int calls;            /* model calls made for this step */
    int attempts;         /* model-layer attempts over those calls (retries, fallbacks) */
    int64_t input_tokens; /* usage over those calls */
    int64_t output_tokens;
};

/* The result of a route call. Everything is borrowed for the duration of on_answer (copy it
 * with belt_route_answer_copy to keep it). */
struct belt_route_answer {
    belt_status status; /* BELT_OK when the route ended as designed (answered, unresolved,
                           budget; also without an answer), else why it failed:
                           BELT_ERR_CANCELLED, BELT_ERR_TIMEOUT, the last call's status */
    int http_status;    /* what an HTTP gateway answers with: 200 answered, 202
                           unresolved (a person will look), 402 budget without an answer,
                           else the failed call's status (502, 504, 499, ...) */
    const char *error;  /* message ("" when status is BELT_OK) */
    enum belt_route_outcome outcome; /* how it ended */
    int resolved;                    /* 1: outcome answered; 0: the answer (if any) is NOT accepted:
                                        escalated-unresolved or over budget, show it as such */
    const char *route;               /* the name called (route or model) */
    int is_model;                    /* 1: the name was a plain model */
    const char *trace_id;            /* 32 hex digits: the params' trace_id or a new one */
    const struct belt_answer
        *answer;       /* the answer returned (the accepted one, or the best so
                          far), NULL when none; its cost/latency are its own call's */
    const char *model; /* model whose answer is returned, or NULL */
    int final_tier;    /* tier of the route called that produced the outcome, -1 none */
    const struct belt_route_step *steps; /* the path, in order */
    size_t n_steps;                      /* entries of steps (at most 64 kept; see n_steps_total) */
    size_t n_steps_total;                /* steps taken */
    double cost_usd;                     /* total over every call of the route */
    int64_t latency_us;                  /* start to answer (wall clock) */
    int64_t input_tokens;                /* usage over every call */
    int64_t output_tokens;
    int n_calls;       /* model calls made */
    int stream;        /* 1: delivered through on_chunk */
    int streamed_live; /* 1: the chunks came live from the model; 0: synthesised after
                          judging (or not streamed) */
};

/* Callbacks run on the loop's thread. `rc` is valid until on_answer returns. Chunks are
 * OpenAI chat.completion.chunk objects (belt_chunk as for a model call). */
typedef void belt_route_chunk_fn(void *ud, struct belt_route_call *rc,
                                 const struct belt_chunk *chunk);
typedef void belt_route_answer_fn(void *ud, struct belt_route_call *rc,
                                  const struct belt_route_answer *answer);

struct belt_route_call_params {
    const char *name;         /* route or model name; required; copied */
    struct json_t *request;   /* OpenAI chat request object (held by reference until
                                 on_answer returns; do not modify meanwhile) ... */
    const char *request_json; /* ... or its JSON text (len bytes), copied */
    size_t request_len;
    const char *text;        /* the task's text for rules (regex, length) and the learned
                                router; NULL: the last user message of the request; copied */
    size_t text_len;         /* bytes of text */
    const char *stakes;      /* request metadata for `rules`: "high", ... or NULL; copied */
    const char *const *tags; /* tags (n_tags, copied) */
    size_t n_tags;
    const char *key_name;            /* name of the API key that sent it, or NULL; copied */
    double max_cost_usd;             /* the request's own budget on top of the routes'; 0: none */
    int64_t max_latency_ms;          /* the request's own latency budget; 0: none */
    int64_t timeout_ms;              /* hard deadline of the whole route call (calls in flight are
                                        cancelled and it ends with BELT_ERR_TIMEOUT); 0: none */
    uint64_t seed;                   /* drives weighted `balance`; 0: random per call */
    int stream;                      /* 1: deliver the answer through on_chunk (see above) */
    const char *trace_id;            /* 32 hex digits, copied; NULL: a new one */
    int trace;                       /* 1: write the trace record (route, path as steps) through the
                                        engine's writer when done (needs an engine with traces on);
                                        0: the caller records it (the gateway adds its own fields) */
    const char *key_id;              /* API key id stored with the trace (trace = 1), or NULL */
    int escalated;                   /* 1: a guard escalated the request: a cascade or learned
                                        route starts at its strongest model tier (the last that
                                        is not a person); other routes are unaffected */
    belt_route_chunk_fn *on_chunk;   /* required when stream */
    belt_route_answer_fn *on_answer; /* required: called exactly once */
    void *ud;                        /* passed to the callbacks */
};

/* Defaults: everything 0 / NULL. */
BELT_API struct belt_route_call_params belt_route_call_default_params(void);
/* Start a route call on loop `l`. Errors (no callback follows): BELT_ERR_NOTFOUND (no route or
 * model of that name), BELT_ERR_INVALID (missing name / request / on_answer, a request that is
 * not a chat request, stream without on_chunk, tags not UTF-8), BELT_ERR_NOMEM. *out (may be
 * NULL) is valid until on_answer returns. */
BELT_API belt_status belt_route_call_start(struct belt_loop *l,
                                           const struct belt_route_call_params *p,
                                           struct belt_route_call **out, struct belt_error *err);
/* Stop a route call: model calls in flight are cancelled and on_answer runs with
 * BELT_ERR_CANCELLED (http 499) before belt_route_call_cancel returns — or right after the
 * current callback when called from inside one of this route call's callbacks. The path keeps
 * what was done until then. Not after on_answer. */
BELT_API void belt_route_call_cancel(struct belt_route_call *rc);
/* Run one route call on a private event loop (for programs without one). *out is owned by the
 * caller (belt_route_answer_free) and is set for every completed call; the return value is
 * then out->status. p->on_answer is ignored; on_chunk is called as usual. Not on a loop
 * thread. */
BELT_API belt_status belt_route_call_sync(struct belt_engine *e,
                                          const struct belt_route_call_params *p,
                                          struct belt_route_answer **out, struct belt_error *err);
/* Deep copy that outlives the callback (NULL when out of memory); free with
 * belt_route_answer_free (NULL is a no-op). */
BELT_API struct belt_route_answer *belt_route_answer_copy(const struct belt_route_answer *a);
BELT_API void belt_route_answer_free(struct belt_route_answer *a);
/* The path and totals as one JSON object (docs/routes.md#the-path), owned by the caller
 * (belt_free); NULL when out of memory. The gateway puts it in the response's `belt.route`. */
BELT_API char *belt_route_answer_json(const struct belt_route_answer *a);
/* The compact tier summary for the `x-belt-tiers` response header: one
 * "TIER:MODEL:CONFIDENCE:DECISION" per tier step of the outermost route with tiers,
 * ";"-separated, e.g. "1:small:0.412:escalated;2:large:-:accepted" (1-based tiers; CONFIDENCE is
 * the deciding signal with 3 decimals — calibrated confidence, verifier score or exp(mean
 * logprob) — or "-" when the tier was not judged; person = "human"). Written NUL-terminated into
 * out[0..cap), truncated at a step boundary; printable ASCII only. Returns the bytes written
 * (without the NUL). */
BELT_API size_t belt_route_answer_tiers(const struct belt_route_answer *a, char *out, size_t cap);
/* 1 if `name` is a route or a model of the engine's configuration. */
BELT_API int belt_route_exists(const struct belt_engine *e, const char *name);

/* ==== Lines (src/line) ==================================================================== */

/* ---- Retrieval: corpora of passages in the store, full-text indexed (SQLite FTS5, BM25) ---- */

/* Writes documents into a corpus: each document is split into passages (or kept whole) and
 * replaces any earlier version with the same id. Writes go in one transaction per batch of
 * documents. One thread at a time, like its store; the store must not be used for other writes
 * while an indexer has uncommitted documents. */
struct belt_indexer;

struct belt_indexer_params {
    const char *corpus;   /* corpus name: 1-64 of A-Z a-z 0-9 _ - . (copied) */
    size_t chunk_words;   /* 0: one passage per document; else at most this many words each */
    size_t chunk_overlap; /* words repeated from the end of one passage at the start of the next */
    size_t batch_size;    /* documents per transaction (default 500) */
};

BELT_API struct belt_indexer_params belt_indexer_default_params(void);
/* Start indexing into p->corpus. Bad parameters are BELT_ERR_INVALID. *out is owned by the
 * caller (belt_indexer_free). The store is borrowed and must outlive the indexer. */
BELT_API belt_status belt_indexer_new(struct belt_store *st, const struct belt_indexer_params *p,
                                      struct belt_indexer **out, struct belt_error *err);
/* Add document `doc_id` with text[0..len) (UTF-8), replacing an earlier document with that id.
 * An empty text, an invalid id or invalid UTF-8 is BELT_ERR_INVALID and changes nothing. */
BELT_API belt_status belt_indexer_add(struct belt_indexer *ix, const char *doc_id, const char *text,
                                      size_t len, struct belt_error *err);
/* Commit the documents added since the last batch. */
BELT_API belt_status belt_indexer_commit(struct belt_indexer *ix, struct belt_error *err);
/* Documents and passages written (committed or pending) by this indexer. */
BELT_API int64_t belt_indexer_n_documents(const struct belt_indexer *ix);
BELT_API int64_t belt_indexer_n_passages(const struct belt_indexer *ix);
/* Roll back anything not committed and release the indexer. NULL is a no-op. */
BELT_API void belt_indexer_free(struct belt_indexer *ix);

/* One retrieved passage; strings borrowed for the duration of the callback. */
struct belt_passage {
    const char *doc_id; /* document id given at indexing */
    int64_t chunk;      /* passage number within the document (0-based) */
    const char *text;   /* passage text */
    double score;       /* BM25 relevance, higher is better (FTS5 bm25() negated) */
};
/* Receives passages best first; return non-zero to stop. */
typedef int belt_passage_fn(void *ud, const struct belt_passage *p);

/* Queries one corpus. One thread at a time, like its store. */
struct belt_retriever;

struct belt_retriever_params {
    const char *corpus; /* corpus to search (copied) */
    size_t k;           /* passages per query (default 5, at most 1000) */
    int match_all;      /* 1: a passage must contain every query word; 0 (default): any word */
    size_t max_terms;   /* query words used, the first ones (default 32) */
    int keep_stopwords; /* 1: search English stop words too; 0 (default): drop them from a
                           query that has other words ("how do I reset my router": reset,
                           router) */
};

BELT_API struct belt_retriever_params belt_retriever_default_params(void);
BELT_API belt_status belt_retriever_new(struct belt_store *st,
                                        const struct belt_retriever_params *p,
                                        struct belt_retriever **out, struct belt_error *err);
/* Top passages for query[0..len) by BM25. The query is plain text: its words are quoted one by
 * one, so quotes, operators (AND, OR, NOT, NEAR, *, ^, column:) in it are searched as words and
 * never change the search. A query without words yields nothing. k = 0: the params' k. */
BELT_API belt_status belt_retriever_query(struct belt_retriever *r, const char *query, size_t len,
                                          size_t k, belt_passage_fn *fn, void *ud,
                                          struct belt_error *err);
BELT_API void belt_retriever_free(struct belt_retriever *r);

/* Size of one corpus. */
struct belt_corpus_stats {
    const char *corpus;  /* name (borrowed for the callback) */
    int64_t n_documents; /* distinct document ids */
    int64_t n_passages;  /* passages */
    int64_t n_bytes;     /* bytes of passage text */
};
typedef int belt_corpus_stats_fn(void *ud, const struct belt_corpus_stats *s);
/* Call fn for every corpus (by name), or only `corpus` when it is not NULL. */
BELT_API belt_status belt_corpus_stats(struct belt_store *st, const char *corpus,
                                       belt_corpus_stats_fn *fn, void *ud, struct belt_error *err);
/* Delete a corpus; *n_passages (may be NULL) receives how many passages went. */
BELT_API belt_status belt_corpus_drop(struct belt_store *st, const char *corpus,
                                      int64_t *n_passages, struct belt_error *err);

/* ---- Running lines (src/line): batch runs and single records ---------------------------------
 * A line (the `lines:` section, docs/config-lines.md) moves each record through its stations;
 * docs/lines.md explains stations, failure paths, review, the planner and the output format.
 *
 * belt_line_run() runs a line over a JSONL or CSV file with many items in flight (model calls
 * asynchronous on one event loop per thread, local stations inline, one thread per CPU by
 * default) and writes one JSON line per input record, in input order: the record with each
 * station's output merged in, plus a `_belt` object (item, status, reason, review_id, cost_usd,
 * latency_us, path). Checkpoints in the store (tables runs, run_items) make it crash-safe: a
 * run killed at any moment and started again with `resume` finishes with every input record in
 * the output exactly once. */

/* Append-only. How an item left the line. */
enum belt_line_outcome {
    BELT_LINE_OK = 0,           /* every station done or skipped */
    BELT_LINE_NEEDS_REVIEW = 1, /* parked for a person (a review id when the store is there) */
    BELT_LINE_DROPPED = 2,      /* on_fail drop, or a reviewer rejected it */
    BELT_LINE_ERROR = 3         /* bad input or an internal failure */
};
/* "ok", "needs_review", "dropped", "error" (static; "?" when out of range). */
BELT_API const char *belt_line_outcome_name(int outcome);

/* Append-only. */
enum belt_line_input {
    BELT_LINE_INPUT_AUTO = 0,  /* by extension: .csv/.tsv → CSV, anything else → JSONL */
    BELT_LINE_INPUT_JSONL = 1, /* one JSON object per line */
    BELT_LINE_INPUT_CSV = 2    /* RFC 4180 with a header row (.tsv: tab-separated) */
};

/* A snapshot for progress displays. */
struct belt_line_progress {
    int64_t items;       /* items written to the output (this run and the ones resumed) */
    int64_t in_flight;   /* items being processed */
    int64_t bad_input;   /* input records rejected */
    int64_t reviews;     /* items parked for review */
    int64_t dropped;     /* items dropped */
    int64_t errors;      /* items that ended in error */
    int64_t escalations; /* escalations (route tiers, on_fail escalate, to a person) */
    double cost_usd;     /* spent so far */
    double items_per_s;  /* recent throughput */
    double fraction;     /* share of the input read (by bytes), -1 when unknown (stdin) */
    double eta_s;        /* estimated seconds left, -1 when unknown */
    int64_t elapsed_ms;  /* since this invocation started */
};
/* Called on the thread running belt_line_run. */
typedef void belt_line_progress_fn(void *ud, const struct belt_line_progress *p);
/* A rejected input record: its line and what is wrong ("in.jsonl:17: invalid JSON: ..."). */
typedef void belt_line_bad_input_fn(void *ud, int64_t lineno, const char *message);

struct belt_line_run_params {
    const char *line;        /* required: a line of the engine's configuration */
    const char *input;       /* required: JSONL or CSV file ("-": stdin, cannot resume); or
                                NULL with reviewed = 1 */
    int input_format;        /* enum belt_line_input */
    const char *output;      /* required: the JSONL output file */
    int64_t concurrency;     /* items in flight; 0: the line's `concurrency` */
    int threads;             /* event loops; 0: one per CPU (at most 16) */
    int64_t limit;           /* process at most this many input records in all; 0: all */
    int resume;              /* 1: continue the unfinished run of this line and output */
    int overwrite;           /* 1: start afresh even when the output exists */
    int stop_on_bad_input;   /* 1: a bad record stops the run (0: it is reported and skipped) */
    int reviewed;            /* 1: instead of reading input, continue the items of this line
                                whose review was decided (approved/edited → the rest of the
                                line; rejected → dropped); output appended */
    const char *const *gold; /* accuracy specs "FIELD=STATION[.SUB]" (n_gold) */
    size_t n_gold;
    int cache;                       /* -1: the line's; 0: off */
    int trace;                       /* -1: the line's; 0: off */
    int64_t checkpoint_ms;           /* commit at least this often (default 1000) */
    int64_t checkpoint_items;        /* ... or after this many items (default 10000) */
    belt_line_progress_fn *progress; /* may be NULL */
    void *progress_ud;
    int64_t progress_ms;                  /* between progress calls (default 250) */
    belt_line_bad_input_fn *on_bad_input; /* may be NULL */
    void *bad_input_ud;
    volatile int *stop; /* may be NULL; set non-zero (e.g. from a signal handler) to stop:
                           no new items start, items in flight finish, and the run is
                           checkpointed so `resume` continues it */
};

/* Defaults: format auto, concurrency/threads/limit 0, cache/trace -1, checkpoints every 1 s or
 * 10000 items, progress every 250 ms, everything else 0 / NULL. */
BELT_API struct belt_line_run_params belt_line_run_default_params(void);

struct belt_line_summary;

/* Run a line over a file (see above). Errors before the run starts (no such line, bad params,
 * output exists without resume/overwrite, a changed configuration or input on resume, store
 * or I/O errors) return without a summary. Once it started, *out (owned by the caller,
 * belt_line_summary_free) is set whatever happens, and the status is BELT_OK (finished),
 * BELT_ERR_CANCELLED (stopped through p->stop), BELT_ERR_FORMAT (a bad record stopped it), or
 * the I/O / store error that ended it. Must not be called on a loop thread. */
BELT_API belt_status belt_line_run(struct belt_engine *e, const struct belt_line_run_params *p,
                                   struct belt_line_summary **out, struct belt_error *err);

/* Counts of a summary. Strings borrowed from the summary. */
struct belt_line_counts {
    const char *run_id; /* "run_" + 20 hex */
    const char *line;   /* line name */
    int complete;       /* 1: every input record is in the output */
    int64_t items;      /* items in the output (all invocations of the run) */
    int64_t ok, reviews, dropped, errors, bad_input, escalations;
    double cost_usd; /* total */
    double seconds;  /* wall time of this invocation */
};
BELT_API void belt_line_summary_counts(const struct belt_line_summary *s,
                                       struct belt_line_counts *out);
/* The summary as JSON (docs/cli/run.md#summary): items, outcomes, cost per item, latency
 * p50/p95/p99 per station, share answered per tier, escalations, review reasons, accuracy per
 * gold spec. Owned by the caller (belt_free); NULL when out of memory. */
BELT_API char *belt_line_summary_json(const struct belt_line_summary *s);
/* The same as an aligned text report for a terminal. Owned by the caller. */
BELT_API char *belt_line_summary_text(const struct belt_line_summary *s);
BELT_API void belt_line_summary_free(struct belt_line_summary *s);

/* Run one record (a JSON object, record_json[0..len)) through `line` on a private event loop
 * and return its output line (the record with the stations' outputs and `_belt`, no newline)
 * in *out_json (owned by the caller), and the outcome. An item parked for review is stored in
 * the review queue when the engine has a store. Errors: BELT_ERR_NOTFOUND (no such line),
 * BELT_ERR_INVALID (not a JSON object), BELT_ERR_NOMEM. Not on a loop thread. */
BELT_API belt_status belt_line_process(struct belt_engine *e, const char *line,
                                       const char *record_json, size_t len, char **out_json,
                                       int *outcome, struct belt_error *err);

/* ==== Governance: keys, guards, audit, review (src/guard) ================================= */

/* Governance is on by default where it is safe: see docs/governance.md. Thread rules: a
 * belt_pii, belt_guard and belt_keys are shared by all threads; a belt_pii_map, restorer and
 * belt_audit belong to one thread at a time; store-level functions use the caller's store. */

/* ---- Secrets (the audit MAC key and the API-key hashing secret live outside the store) ---- */

enum belt_secret_kind {
    BELT_SECRET_AUDIT = 0, /* guard.audit.key_file / key_env: MACs audit checkpoints */
    BELT_SECRET_KEYS = 1   /* guard.keys.secret_file / secret_env: hashes API keys */
};

/* Load the 32-byte secret the configuration names: the environment variable if it is set (64
 * hex digits, or any passphrase of at least 16 bytes, which is hashed), else the file (same
 * forms). With `create` set, a missing file is created (mode 0600, 32 random bytes as hex).
 * BELT_ERR_NOTFOUND if neither exists; BELT_ERR_FORMAT if the value is too short. */
BELT_API belt_status belt_guard_secret(const struct belt_config *cfg, enum belt_secret_kind kind,
                                       int create, unsigned char out[32], struct belt_error *err);

/* ---- PII: detection and reversible redaction ----------------------------------------------- */

/* Append-only. Names: belt_pii_entity_name() (config), _tag() (placeholder), _presidio(). */
enum belt_pii_entity {
    BELT_PII_EMAIL = 0,
    BELT_PII_PHONE = 1,
    BELT_PII_CREDIT_CARD = 2,
    BELT_PII_IBAN = 3,
    BELT_PII_US_SSN = 4,
    BELT_PII_US_ITIN = 5,
    BELT_PII_ABA_ROUTING = 6,
    BELT_PII_US_BANK_NUMBER = 7,
    BELT_PII_IP_ADDRESS = 8,
    BELT_PII_MAC_ADDRESS = 9,
    BELT_PII_URL = 10,
    BELT_PII_CRYPTO = 11,
    BELT_PII_UK_NHS = 12,
    BELT_PII_US_PASSPORT = 13,
    BELT_PII_US_DRIVER_LICENSE = 14
};

/* Number of entities this build knows (entities are 0 .. n-1). */
BELT_API size_t belt_pii_n_entities(void);
/* "email", "card", ... as written in the configuration; NULL when out of range. Static. */
BELT_API const char *belt_pii_entity_name(enum belt_pii_entity e);
/* "EMAIL", "CARD", ... as used in placeholders ([EMAIL_1]); NULL when out of range. Static. */
BELT_API const char *belt_pii_entity_tag(enum belt_pii_entity e);
/* Presidio's name ("EMAIL_ADDRESS"); NULL when out of range. Static. */
BELT_API const char *belt_pii_entity_presidio(enum belt_pii_entity e);
/* Any of the three spellings, case-insensitive → entity, or -1. */
BELT_API int belt_pii_entity_parse(const char *name);

struct belt_pii_params {
    uint32_t entities;  /* bit (1u << entity) per detector to run; 0 = all of them */
    double min_score;   /* matches scoring below are dropped (default 0.5; 0 keeps all) */
    size_t max_matches; /* more matches than this in one text is BELT_ERR_TOOBIG (10000) */
};

/* One detected value. */
struct belt_pii_match {
    enum belt_pii_entity entity; /* what it is */
    size_t start;                /* byte offset of the first byte */
    size_t end;                  /* byte offset past the last byte */
    double score;                /* [0, 1]: pattern, checksum and context words */
};

/* The compiled detectors (PCRE2, JIT): immutable after creation, shared by all threads. */
struct belt_pii;

BELT_API struct belt_pii_params belt_pii_default_params(void);
/* Compile the detectors. *out is owned by the caller (belt_pii_free). */
BELT_API belt_status belt_pii_new(const struct belt_pii_params *p, struct belt_pii **out,
                                  struct belt_error *err);
BELT_API void belt_pii_free(struct belt_pii *pii);
/* Find PII in text[0..len): validated matches at or above min_score, overlaps resolved (higher
 * score, then longer, wins), sorted by start. *out (NULL when none) is owned by the caller
 * (belt_free). Thread-safe on a shared belt_pii. */
BELT_API belt_status belt_pii_scan(const struct belt_pii *pii, const char *text, size_t len,
                                   struct belt_pii_match **out, size_t *n_out,
                                   struct belt_error *err);

/* Evaluation against recognizer test cases (JSONL: {"entity", "text", "expected_count",
 * "spans": [[start, end], ...] | null}), e.g. ../shared/data/pii/presidio_recognizer_cases.jsonl.
 * Each case runs only its own entity's detectors with min_score 0 (a single recognizer before
 * any threshold); a case is a hit when the number of matches equals expected_count and every
 * expected span is found exactly. */
#define BELT_PII_MAX_ENTITIES 32

struct belt_pii_eval_report {
    size_t n_cases;                         /* cases read */
    size_t n_hits;                          /* count and spans right */
    size_t n_count_ok;                      /* count right (spans may differ) */
    size_t cases[BELT_PII_MAX_ENTITIES];    /* per entity: cases */
    size_t hits[BELT_PII_MAX_ENTITIES];     /* per entity: hits */
    size_t count_ok[BELT_PII_MAX_ENTITIES]; /* per entity: count right */
};
/* Called for every miss (for reports); `text` and `entity` borrowed for the call. */
typedef void belt_pii_miss_fn(void *ud, int64_t lineno, const char *entity, const char *text,
                              size_t expected, size_t found);
BELT_API belt_status belt_pii_evaluate(const char *path, struct belt_pii_eval_report *out,
                                       belt_pii_miss_fn *on_miss, void *ud, struct belt_error *err);

/* Placeholder ↔ value table of one request (or one line item): the same value always gets the
 * same placeholder ([EMAIL_1], [PHONE_2], ...) across every text redacted with the same map.
 * Values are wiped from memory on free. One thread at a time. */
struct belt_pii_map;

struct belt_pii_map_entry {
    enum belt_pii_entity entity; /* what the value is */
    const char *placeholder;     /* "[EMAIL_1]"; borrowed from the map */
    const char *value;           /* the original text; borrowed from the map */
    size_t value_len;            /* its length in bytes */
};

BELT_API belt_status belt_pii_map_new(struct belt_pii_map **out, struct belt_error *err);
BELT_API void belt_pii_map_free(struct belt_pii_map *map);
BELT_API size_t belt_pii_map_count(const struct belt_pii_map *map);
/* The i-th entry (in order of first appearance); BELT_ERR_NOTFOUND when i is out of range. */
BELT_API belt_status belt_pii_map_get(const struct belt_pii_map *map, size_t i,
                                      struct belt_pii_map_entry *out);
/* Replace every match of belt_pii_scan() by its placeholder, adding new values to `map`. A
 * placeholder that already occurs literally in the text is skipped, so restoring never changes
 * text the user wrote. *out (NUL-terminated, *out_len bytes) is owned by the caller. */
BELT_API belt_status belt_pii_redact(const struct belt_pii *pii, struct belt_pii_map *map,
                                     const char *text, size_t len, char **out, size_t *out_len,
                                     struct belt_error *err);
/* Put the original values back for every placeholder of `map` found in text (an answer).
 * Unknown placeholders are left as they are. *out is owned by the caller. */
BELT_API belt_status belt_pii_restore(const struct belt_pii_map *map, const char *text, size_t len,
                                      char **out, size_t *out_len, struct belt_error *err);

/* Streaming restore: feed answer chunks as they arrive; a placeholder split across chunks
 * ("[EMA" + "IL_1]") is held back until it is complete. `map` is borrowed and must outlive the
 * restorer. One thread at a time. */
struct belt_pii_restorer;

BELT_API belt_status belt_pii_restorer_new(const struct belt_pii_map *map,
                                           struct belt_pii_restorer **out, struct belt_error *err);
/* Restored text that is safe to emit now (possibly empty); *out is owned by the caller. */
BELT_API belt_status belt_pii_restorer_push(struct belt_pii_restorer *r, const char *chunk,
                                            size_t len, char **out, size_t *out_len,
                                            struct belt_error *err);
/* The held-back rest at the end of the stream; the restorer may then be reused. */
BELT_API belt_status belt_pii_restorer_finish(struct belt_pii_restorer *r, char **out,
                                              size_t *out_len, struct belt_error *err);
BELT_API void belt_pii_restorer_free(struct belt_pii_restorer *r);

/* ---- Prompt-injection and jailbreak guard, canary tokens ----------------------------------- */

/* Where a text comes from. Third-party text (retrieved passages, tool outputs, e-mails) is
 * judged more strictly: any instruction hidden in data is suspicious there. */
enum belt_guard_source { BELT_GUARD_SOURCE_USER = 0, BELT_GUARD_SOURCE_THIRD_PARTY = 1 };

/* What the caller should do. Append-only. */
enum belt_guard_action {
    BELT_GUARD_ACTION_NONE = 0,     /* let it through */
    BELT_GUARD_ACTION_FLAG = 1,     /* let it through, record it (trace + metric + audit) */
    BELT_GUARD_ACTION_BLOCK = 2,    /* refuse (HTTP 400 with the reason) */
    BELT_GUARD_ACTION_ESCALATE = 3, /* send to a stronger tier or to human review */
    BELT_GUARD_ACTION_REDACT = 4    /* PII only: replace values by placeholders */
};

/* "none", "flag", "block", "escalate", "redact"; NULL when out of range. Static. */
BELT_API const char *belt_guard_action_name(enum belt_guard_action a);
/* Inverse of belt_guard_action_name, or -1. */
BELT_API int belt_guard_action_parse(const char *name);

/* The outcome of one check. */
struct belt_guard_verdict {
    int detected;                  /* score >= the threshold of the source */
    enum belt_guard_action action; /* the configured action when detected, else NONE */
    double score;                  /* combined score in [0, 1] */
    double rule_score;             /* rules alone, [0, 1] */
    double model_score;            /* classifier alone, [0, 1]; -1 without a classifier */
    double threshold;              /* the threshold that applied */
    char reason[192];              /* strongest evidence ("rule override.ignore_previous
                                      (base64)"), safe to show the caller; "" when none */
    double block_threshold;        /* score from which the configured action applies; between
                                      threshold and this, a detection is only flagged */
};

struct belt_guard_params {
    const char *model_user;        /* classifier for user input (belt_classifier file); NULL:
                                      rules only */
    const char *model_third_party; /* classifier for third-party text; NULL: rules only */
    int use_rules;                 /* 1: run the rule table (default 1) */
    double threshold_user;         /* score at which user text is an injection; < 0: default */
    double threshold_third_party;  /* same for third-party text (lower = stricter); < 0: default */
    enum belt_guard_action action_user;        /* default BLOCK */
    enum belt_guard_action action_third_party; /* default BLOCK */
    double block_threshold_user;               /* action_user (block / escalate) applies from this
                                                  score; detections below it are FLAGged (the grey
                                                  zone); <= threshold: always; < 0: default */
    double block_threshold_third_party;        /* same for third-party text; < 0: default */
    struct belt_pii_params pii;                /* PII detectors (belt_pii_default_params()) */
    enum belt_guard_action pii_action; /* for untrusted models: REDACT (default), BLOCK, FLAG,
                                          NONE */
    size_t max_check_len; /* longer texts are checked in overlapping windows (default 1 MiB) */
};

/* The guard: injection rules + classifier + PII detectors + policy. Immutable after creation,
 * shared by all threads. */
struct belt_guard;

BELT_API struct belt_guard_params belt_guard_default_params(void);
/* *out is owned by the caller (belt_guard_free). A model file that cannot be loaded is an
 * error (never silently rules-only). */
BELT_API belt_status belt_guard_new(const struct belt_guard_params *p, struct belt_guard **out,
                                    struct belt_error *err);
/* The same from the `guard:` section of a configuration. */
BELT_API belt_status belt_guard_new_from_config(const struct belt_config *cfg,
                                                struct belt_guard **out, struct belt_error *err);
BELT_API void belt_guard_free(struct belt_guard *g);
/* Judge text[0..len) (any size; UTF-8 expected, other bytes are tolerated). Fills *out.
 * Thread-safe. */
BELT_API belt_status belt_guard_check(const struct belt_guard *g, enum belt_guard_source src,
                                      const char *text, size_t len, struct belt_guard_verdict *out,
                                      struct belt_error *err);
/* The guard's PII detectors (borrowed, lives as long as g). */
BELT_API const struct belt_pii *belt_guard_pii(const struct belt_guard *g);
/* What to do with PII in text bound for a model: NONE for trusted models, else the configured
 * pii_action (REDACT by default). */
BELT_API enum belt_guard_action belt_guard_pii_action(const struct belt_guard *g,
                                                      int model_trusted);

/* Training and measuring the injection classifier. Examples use the classifier's
 * struct belt_example; label "injection" is the positive class, any other label is benign. */

/* Train on ex[0..n) after the guard's normalisation (what belt_guard_check() feeds the model).
 * p NULL = belt_classifier_default_params(). Save with belt_classifier_save(). */
BELT_API belt_status belt_guard_train(const struct belt_example *ex, size_t n,
                                      const struct belt_classifier_params *p,
                                      struct belt_classifier **out, struct belt_error *err);

/* Confusion counts at one threshold. */
struct belt_guard_counts {
    double threshold; /* score cut (for tuned results: mean over folds) */
    size_t tp, fp, tn, fn;
    double precision; /* tp / (tp + fp) */
    double recall;    /* tp / (tp + fn) */
    double fpr;       /* fp / (fp + tn) */
    double f1;
};

struct belt_guard_cv_params {
    size_t folds;                  /* outer folds (default 5) */
    size_t inner_folds;            /* folds inside each training part for the tuned threshold (3) */
    uint64_t seed;                 /* fold assignment (default 1) */
    enum belt_guard_source source; /* weights and default threshold of this source */
    double max_fpr;                /* the tuned threshold keeps FPR at or below this (0.05) */
    struct belt_classifier_params cls; /* trainer settings */
    /* Called once per example with its out-of-fold scores (may be NULL). */
    void (*on_score)(void *ud, size_t i, double rule, double model, double combined);
    void *score_ud; /* passed to on_score */
};

/* Out-of-fold results for rules alone, the classifier alone and both combined, at the guard's
 * default threshold and at a threshold tuned inside each training part (nested CV). */
struct belt_guard_cv_report {
    size_t n, n_pos;                                 /* examples evaluated / positives */
    struct belt_guard_counts rules, model, combined; /* default threshold */
    struct belt_guard_counts rules_tuned, model_tuned, combined_tuned; /* nested threshold */
    double auc_rules, auc_model, auc_combined; /* ROC AUC of the pooled scores */
    struct belt_guard_counts sweep[9];         /* combined score at thresholds 0.1, 0.2, ... 0.9 */
};

BELT_API struct belt_guard_cv_params belt_guard_cv_default_params(void);
/* Stratified k-fold cross-validation on ex[0..n); extra[0..n_extra) (may be 0) is added to
 * every training part but never evaluated (e.g. the other data set of the shipped model). */
BELT_API belt_status belt_guard_cross_validate(const struct belt_example *ex, size_t n,
                                               const struct belt_example *extra, size_t n_extra,
                                               const struct belt_guard_cv_params *p,
                                               struct belt_guard_cv_report *out,
                                               struct belt_error *err);
/* Canary tokens (OWASP LLM07): put a fresh canary in a system prompt; if it shows up in an
 * output, the prompt leaked. Writes "belt-canary-" + 20 hex digits + NUL into out (cap >= 33). */
BELT_API belt_status belt_canary_new(char *out, size_t cap, struct belt_error *err);
/* 1 if text contains the canary: verbatim, in other case, with separators or zero-width
 * characters between its characters, reversed, or base64/hex encoded; else 0. */
BELT_API int belt_canary_leaked(const char *canary, const char *text, size_t len);

/* ---- Audit log: append-only, hash-chained, MACed checkpoints ------------------------------- */

/* One event. kind: "model.call", "route.decision", "guard.decision", "key.create",
 * "key.revoke", "review.add", "review.approve", ... (free-form, dotted). All borrowed. */
struct belt_audit_event {
    const char *kind;      /* required */
    const char *actor;     /* who: key id, user name, "system"; NULL */
    const char *subject;   /* about what: trace id, key id, review id; NULL */
    const char *data_json; /* a JSON object with the details; NULL = {} */
    int64_t ts_ms;         /* Unix ms; 0 = now */
};

/* The writer. Appends are serialised by the store's write lock, so several processes may
 * append to one store. One thread at a time (the gateway's writer thread). */
struct belt_audit;

struct belt_audit_params {
    struct belt_store *store;  /* borrowed; must outlive the writer; same thread only */
    const unsigned char *key;  /* checkpoint MAC key, copied (>= 16 bytes); required */
    size_t key_len;            /* its length */
    uint32_t checkpoint_every; /* rows between checkpoints (default 1000; >= 1) */
};

BELT_API struct belt_audit_params belt_audit_default_params(void);
BELT_API belt_status belt_audit_open(const struct belt_audit_params *p, struct belt_audit **out,
                                     struct belt_error *err);
/* Open with the key and settings of the `guard.audit` section (the key file is created when
 * missing). */
BELT_API belt_status belt_audit_open_config(const struct belt_config *cfg, struct belt_store *st,
                                            struct belt_audit **out, struct belt_error *err);
/* Append one event in its own transaction (or in the caller's open transaction); *seq_out (may
 * be NULL) receives its sequence number. data_json must be a JSON object. */
BELT_API belt_status belt_audit_append(struct belt_audit *a, const struct belt_audit_event *ev,
                                       int64_t *seq_out, struct belt_error *err);
/* Append n events in one transaction (all or nothing): what a writer thread does with a queue. */
BELT_API belt_status belt_audit_append_batch(struct belt_audit *a,
                                             const struct belt_audit_event *ev, size_t n,
                                             int64_t *last_seq, struct belt_error *err);
/* Write a checkpoint now (no-op when the last row is already checkpointed). */
BELT_API belt_status belt_audit_checkpoint(struct belt_audit *a, struct belt_error *err);
/* Checkpoint (best effort, failures are logged) and release. NULL is a no-op. */
BELT_API void belt_audit_close(struct belt_audit *a);

/* What verification found first. Append-only. */
enum belt_audit_problem {
    BELT_AUDIT_OK = 0,
    BELT_AUDIT_EDITED = 1,         /* a row's content or columns do not match its hash */
    BELT_AUDIT_DELETED = 2,        /* a sequence number is missing */
    BELT_AUDIT_INSERTED = 3,       /* a row does not chain to its predecessor */
    BELT_AUDIT_REORDERED = 4,      /* a row sits at another sequence number than it was written */
    BELT_AUDIT_TRUNCATED = 5,      /* rows the last checkpoint/head covered are gone */
    BELT_AUDIT_BAD_CHECKPOINT = 6, /* a checkpoint's MAC is wrong (forged, or wrong key) */
    BELT_AUDIT_UNCHECKPOINTED = 7  /* rows after the head that no MAC covers (appended by hand) */
};

struct belt_audit_report {
    int64_t n_rows;                  /* rows read */
    int64_t last_seq;                /* highest sequence number */
    int64_t n_checkpoints;           /* checkpoints read */
    int64_t last_checkpoint_seq;     /* highest checkpointed row (0: none) */
    int key_checked;                 /* 1: MACs verified with the key; 0: no key given */
    enum belt_audit_problem problem; /* first problem, BELT_AUDIT_OK when none */
    int64_t bad_seq;                 /* the first bad row (or checkpoint) */
    int64_t n_problems;              /* how many rows/checkpoints are bad in all */
    char detail[256];                /* "row 42: content does not match its hash (edited)" */
    int64_t archived_through;        /* rows up to this one were archived (0: none) */
};

/* Check the whole log: hashes, chain, sequence, checkpoints and head (MACs need the key; pass
 * NULL to check only the chain). Returns BELT_OK when intact, BELT_ERR_CHECKSUM when tampering
 * was found (err->msg = rep->detail); *rep is filled in both cases. */
BELT_API belt_status belt_audit_verify(struct belt_store *st, const unsigned char *key,
                                       size_t key_len, struct belt_audit_report *rep,
                                       struct belt_error *err);

/* A stored row, for listings and export. Strings borrowed for the callback. */
struct belt_audit_row {
    int64_t seq;         /* sequence number, from 1 */
    int64_t ts_ms;       /* Unix ms */
    const char *kind;    /* event kind */
    const char *actor;   /* or NULL */
    const char *subject; /* or NULL */
    const char *content; /* the hashed canonical JSON */
    char prev_hash[65];  /* hex SHA-256 of the previous row's hash chain value */
    char hash[65];       /* hex SHA-256(prev_hash || content) */
};
typedef int belt_audit_row_fn(void *ud, const struct belt_audit_row *row);
/* Call fn for rows with from_seq <= seq <= to_seq (to_seq <= 0: to the end; from_seq < 0: the
 * last -from_seq rows), in order; fn returns non-zero to stop. `kind` (NULL: all) keeps only
 * rows whose kind starts with it. */
BELT_API belt_status belt_audit_list(struct belt_store *st, int64_t from_seq, int64_t to_seq,
                                     const char *kind, belt_audit_row_fn *fn, void *ud,
                                     struct belt_error *err);
/* Write one row as a JSON line (seq, ts_ms, kind, content, prev_hash, hash: what anyone needs to
 * recompute the chain): the format of `belt audit export` and of archives. 0, or -1 when fp
 * reports a write error. */
BELT_API int belt_audit_row_write_json(const struct belt_audit_row *r, FILE *fp);

/* Move old rows out of the store into a file, keeping the log verifiable. The whole log is
 * verified first (with the handle's key) and a tampered log is refused. The rows up to
 * through_seq (> 0) and started before before_ms (> 0; at least one of the two is given) go
 * to `path` as JSON lines, written atomically and never over an existing file; then, in one
 * transaction, the last archived row's hash is stored MACed (table audit_archived: the chain
 * in the table resumes from it) and the rows and their checkpoints are deleted. The newest row
 * always stays (the MACed head points at it). *from / *to get the rows archived (both 0 when
 * there was nothing to archive; no file is written then). */
BELT_API belt_status belt_audit_archive(struct belt_audit *a, int64_t through_seq,
                                        int64_t before_ms, const char *path, int64_t *from,
                                        int64_t *to, struct belt_error *err);
/* Check an archive file against the store: every line's hash recomputes from its prev_hash and
 * content, the rows are consecutive, the first chains to the anchor before it (or to zeros for
 * row 1) and the last is an anchor of table audit_archived whose MAC verifies (with the key;
 * NULL checks the chain and the anchor's hash only). rep->n_rows / last_seq describe the file;
 * BELT_ERR_CHECKSUM with rep->detail naming the first bad row when it does not hold. */
BELT_API belt_status belt_audit_verify_archive(struct belt_store *st, const unsigned char *key,
                                               size_t key_len, const char *path,
                                               struct belt_audit_report *rep,
                                               struct belt_error *err);

/* ---- API keys, budgets, rate limits -------------------------------------------------------- */

/* A key's rules. Strings and lists borrowed. */
struct belt_key_spec {
    const char *name;          /* unique, 1..63 bytes of [A-Za-z0-9._-] */
    const char *const *models; /* allowed models; n_models 0 = any */
    size_t n_models;
    const char *const *routes; /* allowed routes; 0 = any */
    size_t n_routes;
    const char *const *lines; /* allowed lines; 0 = any */
    size_t n_lines;
    double budget_day_usd;   /* < 0: no daily budget (UTC days) */
    double budget_month_usd; /* < 0: no monthly budget (UTC months) */
    int64_t rpm;             /* requests per minute; 0: unlimited */
    int64_t tpm;             /* tokens per minute; 0: unlimited */
    int64_t burst;           /* request bucket size; 0: rpm */
    int64_t expires_ms;      /* Unix ms after which the key is refused; 0: never */
};

#define BELT_KEY_TEXT_MAX 64 /* room for a key's text + NUL */
#define BELT_KEY_ID_MAX   32 /* room for a key id + NUL */

BELT_API struct belt_key_spec belt_key_default_spec(void);
/* Create a key: *key_out receives the secret text (shown once; only a keyed BLAKE2b hash of it
 * is stored), id_out its public id. The change is audited when `audit` is given. */
BELT_API belt_status belt_key_create(struct belt_store *st, struct belt_audit *audit,
                                     const unsigned char secret[32],
                                     const struct belt_key_spec *spec, const char *actor,
                                     char key_out[BELT_KEY_TEXT_MAX], char id_out[BELT_KEY_ID_MAX],
                                     struct belt_error *err);
/* Revoke by id or name (BELT_ERR_NOTFOUND; revoking twice is BELT_ERR_INVALID). Audited. */
BELT_API belt_status belt_key_revoke(struct belt_store *st, struct belt_audit *audit,
                                     const char *id_or_name, const char *actor,
                                     struct belt_error *err);

/* A stored key (never its secret). Strings borrowed for the callback. */
struct belt_key_info {
    const char *id;          /* public id */
    const char *name;        /* unique name */
    const char *prefix;      /* first characters of the key, to recognise it */
    int64_t created_ms;      /* Unix ms */
    int64_t revoked_ms;      /* 0: active */
    int64_t expires_ms;      /* 0: never */
    const char *allow_json;  /* {"models":[...],"routes":[...],"lines":[...]} (empty = any) */
    double budget_day_usd;   /* < 0: none */
    double budget_month_usd; /* < 0: none */
    int64_t rpm, tpm, burst; /* 0: unlimited */
    double spent_day_usd;    /* spend recorded for the current UTC day */
    double spent_month_usd;  /* and month */
};
typedef int belt_key_info_fn(void *ud, const struct belt_key_info *k);
/* Every key, oldest first. */
BELT_API belt_status belt_key_list(struct belt_store *st, belt_key_info_fn *fn, void *ud,
                                   struct belt_error *err);
/* One key by id or name (BELT_ERR_NOTFOUND). */
BELT_API belt_status belt_key_show(struct belt_store *st, const char *id_or_name,
                                   belt_key_info_fn *fn, void *ud, struct belt_error *err);

/* The gateway's authorisation service: key lookup (cached, refreshed from the store), allow
 * lists, token-bucket rate limits and budget reservations. Thread-safe; share one. */
struct belt_keys;

typedef int64_t belt_clock_ms_fn(void *ud); /* returns Unix ms */

struct belt_keys_params {
    const char *store_path;      /* SQLite file (the service opens its own connection) */
    const unsigned char *secret; /* 32-byte hashing secret (copied); required */
    int64_t refresh_ms;          /* reload keys/spend at most this often (default 5000) */
    belt_clock_ms_fn *clock;     /* NULL: the wall clock (tests inject time) */
    void *clock_ud;              /* passed to clock */
};

BELT_API struct belt_keys_params belt_keys_default_params(void);
BELT_API belt_status belt_keys_new(const struct belt_keys_params *p, struct belt_keys **out,
                                   struct belt_error *err);
/* From the configuration (store path, guard.keys secret and refresh). */
BELT_API belt_status belt_keys_new_from_config(const struct belt_config *cfg,
                                               struct belt_keys **out, struct belt_error *err);
/* Flush recorded spend and release. NULL is a no-op. */
BELT_API void belt_keys_free(struct belt_keys *k);

/* What a request asks for. Strings borrowed. */
struct belt_auth_request {
    const char *key;     /* presented key (the Bearer token); NULL or "" = none */
    const char *model;   /* requested model, or NULL */
    const char *route;   /* requested route, or NULL */
    const char *line;    /* requested line, or NULL */
    int64_t est_tokens;  /* tokens to reserve against tokens/min (input + max output) */
    double est_cost_usd; /* upper bound of the call's cost, reserved against budgets */
};

/* The decision. On success it is the reservation to settle exactly once. */
struct belt_auth_grant {
    int http_status;              /* 200, 401, 403 or 429 */
    int64_t retry_after_s;        /* 429: seconds until a retry can succeed */
    char key_id[BELT_KEY_ID_MAX]; /* the key's id ("" when unknown) */
    char key_name[64];            /* the key's name ("" when unknown) */
    double remaining_day_usd;     /* budget left after the reservation (< 0: no budget) */
    double remaining_month_usd;   /* same for the month */
    int64_t reserved_tokens;      /* private: what settle gives back */
    double reserved_usd;          /* private */
    int64_t slot;                 /* private */
};

/* Decide: BELT_OK (200, reservation made), BELT_ERR_AUTH (401: missing, unknown, revoked or
 * expired key), BELT_ERR_FORBIDDEN (403: model/route/line not allowed), BELT_ERR_RATELIMIT
 * (429 + retry_after_s), BELT_ERR_BUDGET (429 + retry_after_s until the budget period ends).
 * err->msg is safe to return to the client (never contains the key). A reservation is taken
 * only on BELT_OK. Budgets are never overrun while actual costs stay within the estimates
 * (the check and the reservation are one atomic step). */
BELT_API belt_status belt_keys_authorize(struct belt_keys *k, const struct belt_auth_request *req,
                                         struct belt_auth_grant *out, struct belt_error *err);
/* Charge real usage and release the reservation of a BELT_OK grant (exactly once; cost 0
 * cancels). Spend is persisted by belt_keys_flush (the writer thread) and on free. */
BELT_API void belt_keys_settle(struct belt_keys *k, const struct belt_auth_grant *g,
                               double cost_usd, int64_t tokens);
/* Write recorded spend to the store (one transaction). */
BELT_API belt_status belt_keys_flush(struct belt_keys *k, struct belt_error *err);
/* Reload keys (new, revoked) and spend from the store now. */
BELT_API belt_status belt_keys_refresh(struct belt_keys *k, struct belt_error *err);

/* ---- Human review queue -------------------------------------------------------------------- */

/* Append-only. */
enum belt_review_status {
    BELT_REVIEW_PENDING = 0,
    BELT_REVIEW_APPROVED = 1,
    BELT_REVIEW_REJECTED = 2,
    BELT_REVIEW_EDITED = 3 /* approved with a corrected answer */
};

/* "pending", "approved", "rejected", "edited"; NULL when out of range. */
BELT_API const char *belt_review_status_name(enum belt_review_status s);
/* Inverse, or -1. */
BELT_API int belt_review_status_parse(const char *name);

/* An item to park. All borrowed. */
struct belt_review_item {
    const char *source;       /* "line", "route" or "guard" */
    const char *reason;       /* why a person must look ("refund_usd > 100"); required */
    const char *payload_json; /* JSON object: the parked item (input, record, request) */
    const char *answer_json;  /* JSON value: the best answer so far, or NULL */
    const char *line;         /* line name, or NULL */
    const char *run_id;       /* line run, or NULL */
    const char *item_id;      /* item within the run, or NULL */
    const char *station;      /* station that parked it, or NULL */
    const char *route;        /* route that parked it, or NULL */
};

/* A stored review. Strings borrowed for the callback; optional ones may be NULL. */
struct belt_review_record {
    const char *id;                 /* "rv_" + 20 hex */
    int64_t created_ms;             /* Unix ms */
    const char *source;             /* line | route | guard */
    enum belt_review_status status; /* where it stands */
    const char *reason;
    const char *payload_json;
    const char *answer_json;
    const char *line, *run_id, *item_id, *station, *route;
    const char *decided_by;    /* who decided */
    int64_t decided_ms;        /* when (0: pending) */
    const char *decision_json; /* {"answer":...,"note":...} */
    int64_t resumed_ms;        /* when its line continued it (0: not yet) */
};
typedef int belt_review_fn(void *ud, const struct belt_review_record *r);

#define BELT_REVIEW_ID_MAX 32 /* room for a review id + NUL */

/* Park an item; id_out receives its id. Audited ("review.add") when `audit` is given. */
BELT_API belt_status belt_review_add(struct belt_store *st, struct belt_audit *audit,
                                     const struct belt_review_item *item,
                                     char id_out[BELT_REVIEW_ID_MAX], struct belt_error *err);
/* Reviews with the given status (-1: all), newest first, at most `limit` (0: no limit). */
BELT_API belt_status belt_review_list(struct belt_store *st, int status, int64_t limit,
                                      belt_review_fn *fn, void *ud, struct belt_error *err);
/* One review (BELT_ERR_NOTFOUND). */
BELT_API belt_status belt_review_get(struct belt_store *st, const char *id, belt_review_fn *fn,
                                     void *ud, struct belt_error *err);

/* A person's decision. Strings borrowed. */
struct belt_review_decision {
    enum belt_review_status status; /* APPROVED, REJECTED or EDITED */
    const char *who;                /* required: the person (recorded and audited) */
    const char *answer_json;        /* EDITED: the corrected answer (JSON value) */
    const char *note;               /* optional comment or rejection reason */
};

/* Decide a pending review in one transaction: status, who, when, the audit row, and for EDITED
 * a labelled example (table `examples`) for training. A review that is not pending is
 * BELT_ERR_INVALID. After commit, `on_decided` (may be NULL) is called with the decided record:
 * the resume hook of an in-process line or gateway. */
BELT_API belt_status belt_review_decide(struct belt_store *st, struct belt_audit *audit,
                                        const char *id, const struct belt_review_decision *d,
                                        belt_review_fn *on_decided, void *ud,
                                        struct belt_error *err);
/* Decided reviews whose line has not continued them yet (line NULL: any), oldest first: what
 * a line runner resumes at start. Mark each with belt_review_mark_resumed once continued. */
BELT_API belt_status belt_review_resumable(struct belt_store *st, const char *line,
                                           belt_review_fn *fn, void *ud, struct belt_error *err);
BELT_API belt_status belt_review_mark_resumed(struct belt_store *st, const char *id,
                                              struct belt_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BELT_H */
