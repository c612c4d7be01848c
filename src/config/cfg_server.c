/*
 * cfg_server.c — the `server:` section (docs/config-server.md) and the `size` value type.
 */
#include "belt_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_server.h"
#include "util/error.h"
#include "util/str.h"

#define S(f) offsetof(struct belt_cfg_server, f)
#define C(f) offsetof(struct belt_cfg_cache, f)

static belt_status read_cache(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target);

static belt_status read_metrics(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target);

static const struct belt_cfg_field cache_fields[] = {
    {"enabled", BELT_CFG_BOOL, C(enabled), 0, 0, 0, NULL, NULL},
    {"ttl", BELT_CFG_DURATION, C(ttl_ms), 0, 1000, 365.0 * 86400000, NULL, NULL},
    {"max_bytes", BELT_CFG_CUSTOM, C(max_bytes), 0, 0, 1e12, NULL, belt__cfg_read_size},
    {"max_entry", BELT_CFG_CUSTOM, C(max_entry), 0, 1, 1e9, NULL, belt__cfg_read_size},
    {"persist", BELT_CFG_BOOL, C(persist), 0, 0, 0, NULL, NULL},
};

static const struct belt_cfg_field server_fields[] = {
    {"listen", BELT_CFG_STR, S(listen), 0, 0, 0, NULL, NULL},
    {"threads", BELT_CFG_INT, S(threads), 0, 0, 256, NULL, NULL},
    {"max_body", BELT_CFG_CUSTOM, S(max_body), 0, 1024, 1e9, NULL, belt__cfg_read_size},
    {"max_headers", BELT_CFG_CUSTOM, S(max_headers), 0, 1024, 1e8, NULL, belt__cfg_read_size},
    {"max_inflight", BELT_CFG_INT, S(max_inflight), 0, 1, 1e7, NULL, NULL},
    {"max_response", BELT_CFG_CUSTOM, S(max_response), 0, 1024, 1e10, NULL, belt__cfg_read_size},
    {"idle_timeout", BELT_CFG_DURATION, S(idle_timeout_ms), 0, 1000, 86400000, NULL, NULL},
    {"request_timeout", BELT_CFG_DURATION, S(request_timeout_ms), 0, 100, 86400000, NULL, NULL},
    {"shutdown_timeout", BELT_CFG_DURATION, S(shutdown_timeout_ms), 0, 0, 3600000, NULL, NULL},
    {"reuseport", BELT_CFG_BOOL, S(reuseport), 0, 0, 0, NULL, NULL},
    {"metrics", BELT_CFG_CUSTOM, S(metrics), 0, 0, 0, NULL, read_metrics},
    {"reviewers", BELT_CFG_STRLIST, S(reviewers), 0, 0, 0, NULL, NULL},
    {"trace", BELT_CFG_BOOL, S(trace), 0, 0, 0, NULL, NULL},
    {"trace_retention", BELT_CFG_DURATION, S(trace_retention_ms), 0, 0, 3.2e12, NULL, NULL},
    {"cache", BELT_CFG_CUSTOM, S(cache), 0, 0, 0, NULL, read_cache},
};

int belt__parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},     {"B", 1},        {"KB", 1e3},        {"MB", 1e6},
                 {"GB", 1e9}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < BELT_ARRAY_LEN(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double b = v * units[i].mult;
            if (b > 9.0e18)
                return -1;
            *out = (int64_t)b;
            return 0;
        }
    }
    return -1;
}

belt_status belt__cfg_read_size(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_mark none = {0, 0};
    struct belt_cfg_mark m = belt__cfg_node_mark(node, none);
    char *s = node && fy_node_is_scalar(node) ? belt__cfg_scalar_dup(node) : NULL;
    if (!s)
        return belt__cfg_error(rd, m, where, "expected a size like 4MiB, 512KiB or 1048576");
    int64_t v = 0;
    belt_status st = BELT_OK;
    if (belt__parse_size(s, &v) != 0)
        st = belt__cfg_error(rd, m, where, "expected a size like 4MiB, 512KiB or 1048576, got '%s'",
                             s);
    else if (f->max > f->min && ((double)v < f->min || (double)v > f->max))
        st = belt__cfg_error(rd, m, where, "%s is out of range [%.0f, %.0f] bytes", s, f->min,
                             f->max);
    else
        *(int64_t *)((char *)target + f->offset) = v;
    belt_free(s);
    return st;
}

static belt_status read_cache(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_mark none = {0, 0};
    return belt__cfg_read_map(rd, node, belt__cfg_node_mark(node, none), where, cache_fields,
                              BELT_ARRAY_LEN(cache_fields), (char *)target + f->offset);
}

/* server.metrics: true, false or public (no API key needed). */
static belt_status read_metrics(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_mark none = {0, 0};
    char *s = node && fy_node_is_scalar(node) ? belt__cfg_scalar_dup(node) : NULL;
    static const char *const on[] = {"true", "yes", "on", "True", "TRUE", "Yes"};
    static const char *const off[] = {"false", "no", "off", "False", "FALSE", "No"};
    int v = s && strcmp(s, "public") == 0 ? BELT_CFG_METRICS_PUBLIC : -1;
    for (size_t i = 0; s && v < 0 && i < BELT_ARRAY_LEN(on); i++)
        v = strcmp(s, on[i]) == 0 ? 1 : strcmp(s, off[i]) == 0 ? 0 : -1;
    belt_free(s);
    if (v < 0)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, none), where,
                               "expected true, false or public");
    *(int *)((char *)target + f->offset) = v;
    return BELT_OK;
}

belt_status belt__cfg_server_defaults(struct belt_cfg_reader *rd, struct belt_cfg_server *out)
{
    memset(out, 0, sizeof(*out));
    out->listen = belt_strdup("127.0.0.1:8080");
    out->threads = 0;
    out->max_body = (int64_t)4 << 20;
    out->max_headers = (int64_t)64 << 10;
    out->max_inflight = 10000;
    out->max_response = (int64_t)32 << 20;
    out->idle_timeout_ms = 60000;
    out->request_timeout_ms = 600000;
    out->shutdown_timeout_ms = 30000;
    out->reuseport = 1;
    out->metrics = 1;
    out->trace = 1;
    out->cache.enabled = 1;
    out->cache.ttl_ms = 3600000;
    out->cache.max_bytes = (int64_t)32 << 20;
    out->cache.max_entry = (int64_t)1 << 20;
    out->cache.persist = 1;
    if (!out->listen)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    return BELT_OK;
}

/* "HOST:PORT" or "[V6]:PORT" with a port in [0, 65535] (0: any free port). */
static int listen_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return 0;
    if (s[0] == '[' && colon[-1] != ']')
        return 0;
    int64_t port;
    if (belt_parse_i64(colon + 1, &port) != 0 || port < 0 || port > 65535)
        return 0;
    return 1;
}

belt_status belt__cfg_server_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                   struct belt_cfg_mark mark, struct belt_cfg_server *out)
{
    out->mark = mark;
    belt_status st = belt__cfg_read_map(rd, node, mark, "server", server_fields,
                                        BELT_ARRAY_LEN(server_fields), out);
    if (st != BELT_OK)
        return st;
    if (!listen_valid(out->listen)) {
        struct fy_node *ln = fy_node_mapping_lookup_by_string(node, "listen", (size_t)-1);
        return belt__cfg_error(rd, belt__cfg_node_mark(ln, mark), "server.listen",
                               "expected HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), got '%s'",
                               out->listen);
    }
    if (out->cache.max_entry > out->cache.max_bytes && out->cache.max_bytes > 0)
        out->cache.max_entry = out->cache.max_bytes;
    return BELT_OK;
}

void belt__cfg_server_free(struct belt_cfg_server *s)
{
    if (!s)
        return;
    belt__cfg_free_fields(server_fields, BELT_ARRAY_LEN(server_fields), s);
}
