/*
 * config.c — loading the YAML configuration (libfyaml) into struct belt_config: parse errors
 * from libfyaml are collected and reported with their position; every top-level key goes
 * through the sections[] table; every section's keys are validated by its own field tables.
 */
#include "belt_config.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "util/error.h"
#include "util/fileio.h"

/* ---- sections ------------------------------------------------------------------------------ */

typedef belt_status section_parse_fn(struct belt_cfg_reader *rd, struct fy_node *node,
                                     struct belt_cfg_mark mark, struct belt_config *cfg);
typedef void section_free_fn(struct belt_config *cfg);
typedef belt_status section_check_fn(struct belt_cfg_reader *rd, struct belt_config *cfg);

struct section {
    const char *key;          /* top-level YAML key */
    section_parse_fn *parse;  /* reads the section */
    section_free_fn *release; /* frees what parse (or defaults) allocated */
    section_check_fn *check;  /* cross-section validation after all are read; may be NULL */
};

static belt_status store_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                               struct belt_cfg_mark mark, struct belt_config *cfg)
{
    return belt__cfg_store_parse(rd, node, mark, &cfg->store);
}

static void store_free(struct belt_config *cfg)
{
    belt__cfg_store_free(&cfg->store);
}

static belt_status models_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                struct belt_cfg_mark mark, struct belt_config *cfg)
{
    return belt__cfg_models_parse(rd, node, mark, &cfg->models);
}

static void models_free(struct belt_config *cfg)
{
    belt__cfg_models_free(&cfg->models);
}

static belt_status models_check(struct belt_cfg_reader *rd, struct belt_config *cfg)
{
    return belt__cfg_models_check(rd, &cfg->models);
}

static belt_status server_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                struct belt_cfg_mark mark, struct belt_config *cfg)
{
    return belt__cfg_server_parse(rd, node, mark, &cfg->server);
}

static void server_free(struct belt_config *cfg)
{
    belt__cfg_server_free(&cfg->server);
}

static belt_status routes_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                struct belt_cfg_mark mark, struct belt_config *cfg)
{
    return belt__cfg_routes_parse(rd, node, mark, &cfg->routes);
}

static void routes_free(struct belt_config *cfg)
{
    belt__cfg_routes_free(&cfg->routes);
}

static belt_status routes_check(struct belt_cfg_reader *rd, struct belt_config *cfg)
{
    return belt__cfg_routes_check(rd, &cfg->routes, &cfg->models);
}

static belt_status guard_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                               struct belt_cfg_mark mark, struct belt_config *cfg)
{
    return belt__cfg_guard_parse(rd, node, mark, &cfg->guard);
}

static void guard_free(struct belt_config *cfg)
{
    belt__cfg_guard_free(&cfg->guard);
}

static belt_status lines_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                               struct belt_cfg_mark mark, struct belt_config *cfg)
{
    return belt__cfg_lines_parse(rd, node, mark, &cfg->lines);
}

static void lines_free(struct belt_config *cfg)
{
    belt__cfg_lines_free(&cfg->lines);
}

static const struct section sections[] = {
    {"store", store_parse, store_free, NULL},
    {"models", models_parse, models_free, models_check},
    {"server", server_parse, server_free, NULL},
    {"routes", routes_parse, routes_free, routes_check},
    {"guard", guard_parse, guard_free, NULL},
    {"lines", lines_parse, lines_free, belt__cfg_lines_check},
};

/* ---- loading ------------------------------------------------------------------------------- */

static void config_release(struct belt_config *cfg)
{
    for (size_t i = 0; i < BELT_ARRAY_LEN(sections); i++)
        sections[i].release(cfg);
    belt_free(cfg->file);
    belt_free(cfg->dir);
    belt_free(cfg);
}

void belt_config_free(struct belt_config *cfg)
{
    if (cfg)
        config_release(cfg);
}

/* Report the first error libfyaml collected while parsing. */
static belt_status yaml_error(struct belt_cfg_reader *rd, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e = diag ? fy_diag_errors_iterate(diag, &it) : NULL;
    if (e) {
        struct belt_cfg_mark m = {e->line + 1, e->column + 1};
        return belt__cfg_error(rd, m, NULL, "invalid YAML: %s", e->msg ? e->msg : "syntax error");
    }
    return BELT_OK; /* no error and no document: only comments, i.e. all defaults */
}

static belt_status read_top(struct belt_cfg_reader *rd, struct fy_node *root,
                            struct belt_config *cfg)
{
    struct belt_cfg_mark start = {1, 1};
    if (!root)
        return BELT_OK; /* empty file: defaults */
    if (!fy_node_is_mapping(root))
        return belt__cfg_error(rd, belt__cfg_node_mark(root, start), NULL,
                               "the configuration must be a mapping of sections");
    void *it = NULL;
    for (;;) {
        struct fy_node_pair *pair = fy_node_mapping_iterate(root, &it);
        if (!pair)
            break;
        struct belt_cfg_mark km = belt__cfg_key_mark(pair);
        char *key = belt__cfg_scalar_dup(fy_node_pair_key(pair));
        if (!key)
            return belt__cfg_error(rd, km, NULL, "section names must be strings");
        size_t i;
        for (i = 0; i < BELT_ARRAY_LEN(sections); i++)
            if (strcmp(sections[i].key, key) == 0)
                break;
        if (i == BELT_ARRAY_LEN(sections)) {
            char known[200] = "";
            size_t used = 0;
            for (size_t j = 0; j < BELT_ARRAY_LEN(sections); j++) {
                int w = snprintf(known + used, sizeof(known) - used, "%s%s", j ? ", " : "",
                                 sections[j].key);
                if (w > 0 && (size_t)w < sizeof(known) - used)
                    used += (size_t)w;
            }
            belt_status st =
                belt__cfg_error(rd, km, key, "unknown section (expected one of: %s)", known);
            belt_free(key);
            return st;
        }
        belt_free(key);
        belt_status st = sections[i].parse(rd, fy_node_pair_value(pair), km, cfg);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status parse_doc(struct belt_cfg_reader *rd, const char *text, size_t len,
                             struct belt_config *cfg)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = {0};
    pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
    pcfg.diag = diag;
    struct fy_document *doc = len ? fy_document_build_from_string(&pcfg, text, len) : NULL;
    belt_status st;
    if (!len) {
        st = BELT_OK; /* an empty file means all defaults */
    } else if (!doc) {
        st = yaml_error(rd, diag);
    } else {
        st = read_top(rd, fy_document_root(doc), cfg);
        for (size_t i = 0; st == BELT_OK && i < BELT_ARRAY_LEN(sections); i++)
            if (sections[i].check)
                st = sections[i].check(rd, cfg);
        fy_document_destroy(doc);
    }
    fy_diag_destroy(diag);
    return st;
}

belt_status belt_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                              struct belt_config **out, struct belt_error *err)
{
    *out = NULL;
    struct belt_config *cfg = belt_calloc(1, sizeof(*cfg));
    if (!cfg)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    cfg->file = belt_strdup(name ? name : "<config>");
    cfg->dir = belt_strdup(base_dir ? base_dir : ".");
    if (!cfg->file || !cfg->dir) {
        config_release(cfg);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    struct belt_cfg_reader rd = {cfg->file, cfg->dir, err};
    belt_status st = belt__cfg_store_defaults(&rd, &cfg->store);
    if (st == BELT_OK)
        st = belt__cfg_server_defaults(&rd, &cfg->server);
    if (st == BELT_OK)
        st = parse_doc(&rd, text, len, cfg);
    if (st != BELT_OK) {
        config_release(cfg);
        return st;
    }
    *out = cfg;
    return BELT_OK;
}

belt_status belt_config_load(const char *path, struct belt_config **out, struct belt_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    belt_status st = belt_file_read_all(path, (size_t)16 << 20, &text, &len, err);
    if (st != BELT_OK)
        return st;
    char *copy = belt_strdup(path);
    if (!copy) {
        belt_free(text);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    st = belt_config_parse(text, len, path, dirname(copy), out, err);
    belt_free(copy);
    belt_free(text);
    return st;
}

belt_status belt_config_default(struct belt_config **out, struct belt_error *err)
{
    return belt_config_parse("", 0, "<default>", ".", out, err);
}

const char *belt_config_file(const struct belt_config *cfg)
{
    return cfg->file;
}

const char *belt_config_store_path(const struct belt_config *cfg)
{
    return cfg->store.path;
}

int64_t belt_config_trace_retention_ms(const struct belt_config *cfg)
{
    return cfg->server.trace_retention_ms;
}

size_t belt_config_n_models(const struct belt_config *cfg)
{
    return cfg->models.n;
}

const char *belt_config_model_name(const struct belt_config *cfg, size_t i)
{
    return i < cfg->models.n ? cfg->models.v[i].name : NULL;
}

const char *belt_config_model_provider(const struct belt_config *cfg, size_t i)
{
    return i < cfg->models.n ? belt__provider_names[cfg->models.v[i].provider] : NULL;
}

size_t belt_config_n_routes(const struct belt_config *cfg)
{
    return cfg->routes.n;
}

const char *belt_config_route_name(const struct belt_config *cfg, size_t i)
{
    return i < cfg->routes.n ? cfg->routes.v[i].name : NULL;
}

const char *belt_config_route_policy(const struct belt_config *cfg, size_t i)
{
    return i < cfg->routes.n ? belt__route_kind_names[cfg->routes.v[i].kind] : NULL;
}

size_t belt_config_n_lines(const struct belt_config *cfg)
{
    return cfg->lines.n;
}

const char *belt_config_line_name(const struct belt_config *cfg, size_t i)
{
    return i < cfg->lines.n ? cfg->lines.v[i].name : NULL;
}

size_t belt_config_line_n_stations(const struct belt_config *cfg, size_t i)
{
    return i < cfg->lines.n ? cfg->lines.v[i].n_stations : 0;
}
