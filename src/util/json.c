/*
 * json.c — see json.h.
 */
#include "belt_config.h"

#include <string.h>

#include "util/error.h"
#include "util/json.h"
#include "util/str.h"
#include "util/utf8.h"

belt_status belt_json_parse(const char *s, size_t n, const char *name, int64_t lineno,
                            json_t **out, struct belt_error *err)
{
    *out = NULL;
    size_t bad = 0;
    char where[300];
    if (lineno > 0)
        snprintf(where, sizeof(where), "%s:%lld", name, (long long)lineno);
    else
        snprintf(where, sizeof(where), "%s", name);
    if (!belt_utf8_valid(s, n, &bad))
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: invalid UTF-8 at byte %zu", where,
                               bad + 1);
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "%s: out of memory", where);
        if (lineno > 0)
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%d: invalid JSON: %s", where,
                                   je.column, je.text);
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%d:%d: invalid JSON: %s", where,
                               je.line, je.column, je.text);
    }
    *out = v;
    return BELT_OK;
}

belt_status belt_jsonl_open(struct belt_jsonl_reader *r, const char *path,
                            struct belt_error *err)
{
    return belt_line_reader_open(&r->lr, path, 0, err);
}

belt_status belt_jsonl_next(struct belt_jsonl_reader *r, json_t **obj, struct belt_error *err)
{
    *obj = NULL;
    for (;;) {
        int got = 0;
        belt_status st = belt_line_reader_next(&r->lr, &got, err);
        if (st != BELT_OK || !got)
            return st;
        size_t tn;
        const char *t = belt_str_trim(r->lr.line.data, r->lr.line.len, &tn);
        if (tn == 0)
            continue;
        json_t *v = NULL;
        st = belt_json_parse(t, tn, r->lr.name, r->lr.lineno, &v, err);
        if (st != BELT_OK)
            return st;
        if (!json_is_object(v)) {
            json_decref(v);
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: expected a JSON object",
                                   r->lr.name, (long long)r->lr.lineno);
        }
        *obj = v;
        return BELT_OK;
    }
}

int64_t belt_jsonl_lineno(const struct belt_jsonl_reader *r)
{
    return r->lr.lineno;
}

void belt_jsonl_close(struct belt_jsonl_reader *r)
{
    if (r)
        belt_line_reader_deinit(&r->lr);
}

const char *belt_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

double belt_json_num(const json_t *obj, const char *key, double dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

int64_t belt_json_int(const json_t *obj, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return dflt;
}

int belt_json_bool(const json_t *obj, const char *key, int dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return belt_buf_append(data, buffer, size) == BELT_OK ? 0 : -1;
}

belt_status belt_json_dump_buf(const json_t *v, size_t flags, struct belt_buf *b)
{
    size_t before = b->len;
    if (json_dump_callback(v, dump_cb, b, flags | JSON_ENCODE_ANY) != 0) {
        b->len = before;
        if (b->data)
            b->data[before] = '\0';
        return b->max - before < 64 ? BELT_ERR_TOOBIG : BELT_ERR_NOMEM;
    }
    return BELT_OK;
}

char *belt_json_dumps(const json_t *v, size_t flags)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (belt_json_dump_buf(v, flags, &b) != BELT_OK) {
        belt_buf_deinit(&b);
        return NULL;
    }
    return belt_buf_detach(&b, NULL);
}
