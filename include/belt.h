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
/* Number of configured models, and the name / provider name of the i-th (borrowed). */
BELT_API size_t belt_config_n_models(const struct belt_config *cfg);
BELT_API const char *belt_config_model_name(const struct belt_config *cfg, size_t i);
BELT_API const char *belt_config_model_provider(const struct belt_config *cfg, size_t i);

/* ==== Store (src/store) =================================================================== */

/* The embedded store: one SQLite file in WAL mode with versioned migrations. A belt_store is
 * used by one thread at a time; open one per thread (WAL lets readers and one writer share the
 * file). */
struct belt_store;

struct belt_store_params {
    const char *path;       /* SQLite file; ":memory:" for a private in-memory store */
    int read_only;          /* 1: open read-only and do not migrate */
    int busy_timeout_ms;    /* how long to wait on a locked database (default 5000) */
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

/* ==== Gateway: engine, models, server (src/model, src/server) ============================= */

/* ==== Routes (src/route) ================================================================== */

/* ==== Lines (src/line) ==================================================================== */

/* ==== Governance: keys, guards, audit, review (src/guard) ================================= */

#ifdef __cplusplus
}
#endif

#endif /* BELT_H */
