/*
 * cfg_server.h — the `server:` section: how `belt serve` listens, its limits and timeouts, the
 * response cache and the metrics/trace switches (docs/config-server.md). Also the `size` value
 * type ("4MiB", "512KiB", "1048576") shared by other sections.
 */
#ifndef BELT_CFG_SERVER_H
#define BELT_CFG_SERVER_H

#include <stdint.h>

#include "config/reader.h"

struct belt_cfg_cache {
    int enabled;       /* cache deterministic chat requests (default 1) */
    int64_t ttl_ms;    /* lifetime of an entry (default 1h) */
    int64_t max_bytes; /* memory bound of the in-process cache (default 32 MiB) */
    int64_t max_entry; /* largest response that is cached (default 1 MiB) */
    int persist;       /* write entries to the store and warm from it at start (default 1) */
};

#define BELT_CFG_METRICS_PUBLIC 2 /* server.metrics: public */

struct belt_cfg_server {
    char *listen;                /* "HOST:PORT" (default 127.0.0.1:8080) */
    int64_t threads;             /* event loops; 0 = one per online CPU */
    int64_t max_body;            /* request body limit in bytes (default 4 MiB) */
    int64_t max_headers;         /* request header block limit in bytes (default 64 KiB) */
    int64_t max_inflight;        /* requests in progress per process before 503 (default 10000) */
    int64_t max_response;        /* upstream response body limit in bytes (default 32 MiB) */
    int64_t idle_timeout_ms;     /* client read/write idle timeout (default 60s) */
    int64_t request_timeout_ms;  /* overall deadline of one request (default 10m) */
    int64_t shutdown_timeout_ms; /* how long a graceful stop waits for in-flight requests */
    int reuseport;               /* one listening socket per loop with SO_REUSEPORT (default 1) */
    int metrics;                 /* GET /metrics: 0 off, 1 on (needs a key when keys are
                                    required; default), 2 public (BELT_CFG_METRICS_PUBLIC) */
    struct belt_cfg_strlist reviewers; /* key names (fnmatch patterns) that may decide reviews
                                          over HTTP; empty: nobody */
    int trace;                         /* write a trace per request (default 1) */
    int64_t trace_retention_ms;        /* delete traces older than this (0: keep all, default) */
    struct belt_cfg_cache cache;       /* cache: */
    struct belt_cfg_mark mark;         /* where the section starts */
};

/* Defaults for every key (also used when the section is absent). */
belt_status belt__cfg_server_defaults(struct belt_cfg_reader *rd, struct belt_cfg_server *out);
belt_status belt__cfg_server_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_server *out);
void belt__cfg_server_free(struct belt_cfg_server *s);

/* Custom field reader for sizes into an int64_t: a number of bytes or a number with a unit
 * B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024). field->min/max bound the
 * value in bytes when max > min. */
belt_status belt__cfg_read_size(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *field, void *target);
/* Parse a size string as above; 0 on success, -1 on a malformed or overflowing value. */
int belt__parse_size(const char *s, int64_t *out);

#endif
