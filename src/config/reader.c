/*
 * reader.c — table-driven reading of YAML nodes; see reader.h.
 */
#include "belt_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/reader.h"
#include "util/error.h"
#include "util/str.h"

struct belt_cfg_mark belt__cfg_node_mark(struct fy_node *node, struct belt_cfg_mark fallback)
{
    if (!node)
        return fallback;
    if (fy_node_is_scalar(node)) {
        struct fy_token *t = fy_node_get_scalar_token(node);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        if (m)
            return (struct belt_cfg_mark){m->line + 1, m->column + 1};
        return fallback;
    }
    void *it = NULL;
    if (fy_node_is_mapping(node)) {
        struct fy_node_pair *p = fy_node_mapping_iterate(node, &it);
        return p ? belt__cfg_node_mark(fy_node_pair_key(p), fallback) : fallback;
    }
    if (fy_node_is_sequence(node)) {
        struct fy_node *item = fy_node_sequence_iterate(node, &it);
        return belt__cfg_node_mark(item, fallback);
    }
    return fallback;
}

struct belt_cfg_mark belt__cfg_key_mark(struct fy_node_pair *pair)
{
    struct belt_cfg_mark none = {0, 0};
    return belt__cfg_node_mark(fy_node_pair_key(pair), none);
}

belt_status belt__cfg_error(struct belt_cfg_reader *rd, struct belt_cfg_mark mark,
                            const char *where, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *sep = where && *where ? ": " : "";
    if (mark.line > 0)
        return belt__error_set(rd->err, BELT_ERR_CONFIG, 0, "%s:%d:%d: %s%s%s", rd->file, mark.line,
                               mark.col, where ? where : "", sep, msg);
    return belt__error_set(rd->err, BELT_ERR_CONFIG, 0, "%s: %s%s%s", rd->file, where ? where : "",
                           sep, msg);
}

char *belt__cfg_scalar_dup(struct fy_node *node)
{
    if (!node || !fy_node_is_scalar(node))
        return NULL;
    size_t len = 0;
    const char *s = fy_node_get_scalar(node, &len);
    return belt_strndup(s ? s : "", s ? len : 0);
}

const char *belt__cfg_where(char *buf, size_t cap, const char *parent, const char *key)
{
    if (parent && *parent)
        snprintf(buf, cap, "%s.%s", parent, key);
    else
        snprintf(buf, cap, "%s", key);
    return buf;
}

char *belt__cfg_resolve_path(const struct belt_cfg_reader *rd, const char *path)
{
    if (!path)
        return NULL;
    if (path[0] == '/' || !rd->dir || !*rd->dir || strcmp(rd->dir, ".") == 0)
        return belt_strdup(path);
    size_t n = strlen(rd->dir) + strlen(path) + 2;
    char *out = belt_malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", rd->dir, path);
    return out;
}

void belt__cfg_strlist_free(struct belt_cfg_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        belt_free(l->v[i]);
    BELT_FREE(l->v);
    l->n = 0;
}

/* 1 if the scalar is a YAML null (~, null, empty plain). */
static int scalar_is_null(struct fy_node *node)
{
    if (!node)
        return 1;
    if (!fy_node_is_scalar(node) || fy_node_get_style(node) != FYNS_PLAIN)
        return 0;
    size_t len = 0;
    const char *s = fy_node_get_scalar(node, &len);
    return len == 0 || (len == 1 && s[0] == '~') || (len == 4 && memcmp(s, "null", 4) == 0);
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "False", "FALSE", "No"};
    for (size_t i = 0; i < BELT_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static const char *type_name(enum belt_cfg_type t)
{
    switch (t) {
    case BELT_CFG_STR:
        return "a string";
    case BELT_CFG_PATH:
        return "a path";
    case BELT_CFG_INT:
        return "an integer";
    case BELT_CFG_DOUBLE:
        return "a number";
    case BELT_CFG_BOOL:
        return "true or false";
    case BELT_CFG_DURATION:
        return "a duration (e.g. 250ms, 30s, 5m)";
    case BELT_CFG_ENUM:
        return "one of the listed names";
    case BELT_CFG_STRLIST:
        return "a list of strings";
    case BELT_CFG_JSON:
        return "a value";
    case BELT_CFG_CUSTOM:
        return "a value";
    }
    return "a value";
}

static belt_status check_range(struct belt_cfg_reader *rd, struct belt_cfg_mark m,
                               const char *where, const struct belt_cfg_field *f, double v)
{
    if (f->max > f->min && (v < f->min || v > f->max))
        return belt__cfg_error(rd, m, where, "%g is out of range [%g, %g]", v, f->min, f->max);
    return BELT_OK;
}

static belt_status read_strlist(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                                struct belt_cfg_strlist *out)
{
    struct belt_cfg_mark none = {0, 0};
    belt__cfg_strlist_free(out);
    if (fy_node_is_scalar(node)) {
        out->v = belt_calloc(1, sizeof(char *));
        if (!out->v || !(out->v[0] = belt__cfg_scalar_dup(node)))
            return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
        out->n = 1;
        return BELT_OK;
    }
    if (!fy_node_is_sequence(node))
        return belt__cfg_error(rd, belt__cfg_node_mark(node, none), where,
                               "expected a list of strings");
    int n = fy_node_sequence_item_count(node);
    out->v = belt_calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (!out->v)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    void *it = NULL;
    struct fy_node *item;
    for (;;) {
        item = fy_node_sequence_iterate(node, &it);
        if (!item)
            break;
        if (!fy_node_is_scalar(item))
            return belt__cfg_error(rd, belt__cfg_node_mark(item, none), where,
                                   "list items must be strings");
        out->v[out->n] = belt__cfg_scalar_dup(item);
        if (!out->v[out->n])
            return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
        out->n++;
    }
    return BELT_OK;
}

/* Read a scalar-typed field. */
static belt_status read_scalar(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               const struct belt_cfg_field *f, void *dst)
{
    struct belt_cfg_mark none = {0, 0};
    struct belt_cfg_mark m = belt__cfg_node_mark(node, none);
    if (!fy_node_is_scalar(node))
        return belt__cfg_error(rd, m, where, "expected %s", type_name(f->type));
    char *s = belt__cfg_scalar_dup(node);
    if (!s)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_status st = BELT_OK;
    int64_t iv;
    double dv;
    int bv;
    switch (f->type) {
    case BELT_CFG_STR:
        belt_free(*(char **)dst);
        *(char **)dst = s;
        return BELT_OK;
    case BELT_CFG_PATH:
        belt_free(*(char **)dst);
        *(char **)dst = belt__cfg_resolve_path(rd, s);
        belt_free(s);
        return *(char **)dst ? BELT_OK : belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "oom");
    case BELT_CFG_INT:
        if (belt_parse_i64(s, &iv) != 0)
            st = belt__cfg_error(rd, m, where, "expected an integer, got '%s'", s);
        else if ((st = check_range(rd, m, where, f, (double)iv)) == BELT_OK)
            *(int64_t *)dst = iv;
        break;
    case BELT_CFG_DOUBLE:
        if (belt_parse_double(s, &dv) != 0)
            st = belt__cfg_error(rd, m, where, "expected a number, got '%s'", s);
        else if ((st = check_range(rd, m, where, f, dv)) == BELT_OK)
            *(double *)dst = dv;
        break;
    case BELT_CFG_BOOL:
        if (parse_bool(s, &bv) != 0)
            st = belt__cfg_error(rd, m, where, "expected true or false, got '%s'", s);
        else
            *(int *)dst = bv;
        break;
    case BELT_CFG_DURATION:
        if (belt_parse_duration_ms(s, &iv) != 0)
            st = belt__cfg_error(rd, m, where,
                                 "expected a duration like 250ms, 30s, 5m or 30d, got '%s'", s);
        else if ((st = check_range(rd, m, where, f, (double)iv)) == BELT_OK)
            *(int64_t *)dst = iv;
        break;
    case BELT_CFG_ENUM: {
        int found = -1;
        char names[256] = "";
        size_t used = 0;
        for (int i = 0; f->enum_names[i]; i++) {
            if (strcmp(s, f->enum_names[i]) == 0)
                found = i;
            int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                             f->enum_names[i]);
            if (w > 0 && (size_t)w < sizeof(names) - used)
                used += (size_t)w;
        }
        if (found < 0)
            st = belt__cfg_error(rd, m, where, "'%s' is not one of: %s", s, names);
        else
            *(int *)dst = found;
        break;
    }
    default:
        st = belt__cfg_error(rd, m, where, "internal: field type %d is not a scalar", f->type);
    }
    belt_free(s);
    return st;
}

belt_status belt__cfg_read_value(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *f, void *target)
{
    void *dst = (char *)target + f->offset;
    switch (f->type) {
    case BELT_CFG_STRLIST:
        return read_strlist(rd, node, where, dst);
    case BELT_CFG_JSON:
        json_decref(*(json_t **)dst);
        *(json_t **)dst = NULL;
        return belt__cfg_to_json(rd, node, where, (json_t **)dst);
    case BELT_CFG_CUSTOM:
        return f->custom(rd, node, where, f, target);
    default:
        return read_scalar(rd, node, where, f, dst);
    }
}

belt_status belt__cfg_read_map(struct belt_cfg_reader *rd, struct fy_node *map,
                               struct belt_cfg_mark mark, const char *where,
                               const struct belt_cfg_field *fields, size_t n_fields, void *target)
{
    char sub[256];
    if (map && !fy_node_is_mapping(map) && !scalar_is_null(map))
        return belt__cfg_error(rd, belt__cfg_node_mark(map, mark), where,
                               "expected a mapping of keys to values");
    if (map && !fy_node_is_mapping(map))
        map = NULL;
    unsigned char seen[64] = {0};
    if (n_fields > sizeof(seen))
        return belt__cfg_error(rd, mark, where, "internal: too many fields");
    void *it = NULL;
    struct fy_node_pair *pair;
    for (;;) {
        pair = map ? fy_node_mapping_iterate(map, &it) : NULL;
        if (!pair)
            break;
        struct fy_node *k = fy_node_pair_key(pair);
        struct belt_cfg_mark km = belt__cfg_node_mark(k, mark);
        char *key = belt__cfg_scalar_dup(k);
        if (!key)
            return belt__cfg_error(rd, km, where, "keys must be strings");
        size_t i;
        for (i = 0; i < n_fields; i++)
            if (strcmp(fields[i].key, key) == 0)
                break;
        if (i == n_fields) {
            char known[300] = "";
            size_t used = 0;
            for (size_t j = 0; j < n_fields; j++) {
                int w = snprintf(known + used, sizeof(known) - used, "%s%s", j ? ", " : "",
                                 fields[j].key);
                if (w > 0 && (size_t)w < sizeof(known) - used)
                    used += (size_t)w;
            }
            belt_status st = belt__cfg_error(rd, km, belt__cfg_where(sub, sizeof(sub), where, key),
                                             "unknown key (expected one of: %s)", known);
            belt_free(key);
            return st;
        }
        belt__cfg_where(sub, sizeof(sub), where, key);
        belt_free(key);
        seen[i] = 1;
        struct fy_node *v = fy_node_pair_value(pair);
        if (scalar_is_null(v) && fields[i].type != BELT_CFG_CUSTOM) {
            if (fields[i].required)
                return belt__cfg_error(rd, km, sub, "a value is required");
            continue;
        }
        belt_status st = belt__cfg_read_value(rd, v, sub, &fields[i], target);
        if (st != BELT_OK)
            return st;
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (fields[i].required && !seen[i])
            return belt__cfg_error(rd, mark.line > 0 ? mark : belt__cfg_node_mark(map, mark), where,
                                   "missing required key '%s'", fields[i].key);
    }
    return BELT_OK;
}

void belt__cfg_free_fields(const struct belt_cfg_field *fields, size_t n_fields, void *target)
{
    for (size_t i = 0; i < n_fields; i++) {
        void *dst = (char *)target + fields[i].offset;
        switch (fields[i].type) {
        case BELT_CFG_STR:
        case BELT_CFG_PATH:
            BELT_FREE(*(char **)dst);
            break;
        case BELT_CFG_STRLIST:
            belt__cfg_strlist_free(dst);
            break;
        case BELT_CFG_JSON:
            json_decref(*(json_t **)dst);
            *(json_t **)dst = NULL;
            break;
        default:
            break;
        }
    }
}

/* Convert a plain scalar to the JSON value YAML's core schema gives it. */
static json_t *scalar_to_json(struct fy_node *node)
{
    size_t len = 0;
    const char *s = fy_node_get_scalar(node, &len);
    char *copy = belt_strndup(s ? s : "", s ? len : 0);
    if (!copy)
        return NULL;
    json_t *v = NULL;
    if (fy_node_get_style(node) == FYNS_PLAIN) {
        int64_t iv;
        double dv;
        int bv;
        if (scalar_is_null(node))
            v = json_null();
        else if (parse_bool(copy, &bv) == 0)
            v = json_boolean(bv);
        else if (belt_parse_i64(copy, &iv) == 0)
            v = json_integer((json_int_t)iv);
        else if (belt_parse_double(copy, &dv) == 0)
            v = json_real(dv);
    }
    if (!v)
        v = json_stringn(copy, strlen(copy));
    belt_free(copy);
    return v;
}

belt_status belt__cfg_to_json(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              json_t **out)
{
    struct belt_cfg_mark none = {0, 0};
    *out = NULL;
    if (!node) {
        *out = json_null();
        return BELT_OK;
    }
    if (fy_node_is_scalar(node)) {
        *out = scalar_to_json(node);
        return *out ? BELT_OK : belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    void *it = NULL;
    if (fy_node_is_sequence(node)) {
        json_t *arr = json_array();
        if (!arr)
            return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
        for (;;) {
            struct fy_node *item = fy_node_sequence_iterate(node, &it);
            if (!item)
                break;
            json_t *v = NULL;
            belt_status st = belt__cfg_to_json(rd, item, where, &v);
            if (st != BELT_OK || json_array_append_new(arr, v) != 0) {
                json_decref(arr);
                return st != BELT_OK ? st : belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "oom");
            }
        }
        *out = arr;
        return BELT_OK;
    }
    if (fy_node_is_mapping(node)) {
        json_t *obj = json_object();
        if (!obj)
            return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
        for (;;) {
            struct fy_node_pair *p = fy_node_mapping_iterate(node, &it);
            if (!p)
                break;
            char *key = belt__cfg_scalar_dup(fy_node_pair_key(p));
            if (!key) {
                json_decref(obj);
                return belt__cfg_error(rd, belt__cfg_key_mark(p), where, "keys must be strings");
            }
            char sub[256];
            json_t *v = NULL;
            belt_status st = belt__cfg_to_json(rd, fy_node_pair_value(p),
                                               belt__cfg_where(sub, sizeof(sub), where, key), &v);
            if (st == BELT_OK && json_object_set_new(obj, key, v) != 0)
                st = belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
            belt_free(key);
            if (st != BELT_OK) {
                json_decref(obj);
                return st;
            }
        }
        *out = obj;
        return BELT_OK;
    }
    return belt__cfg_error(rd, belt__cfg_node_mark(node, none), where, "unsupported YAML node");
}

belt_status belt__cfg_parse_named(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, const char *section,
                                  const char *expected, size_t elem_size, void **v, size_t *n,
                                  belt__cfg_entry_fn *fn)
{
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, belt__cfg_node_mark(node, mark), section,
                               "expected a mapping of %s", expected);
    int count = fy_node_mapping_item_count(node);
    *v = belt_calloc((size_t)(count > 0 ? count : 1), elem_size);
    if (!*v)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    void *it = NULL;
    for (struct fy_node_pair *pair; (pair = fy_node_mapping_iterate(node, &it));) {
        belt_status st = fn(rd, pair, (char *)*v + (*n)++ * elem_size);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}
