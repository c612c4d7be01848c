/*
 * dataset.c — see dataset.h.
 */
#include "belt_config.h"

#include <string.h>

#include "dataset.h"
#include "util/error.h"
#include "util/json.h"

static belt_status push(struct cli_dataset *ds, const char *text, const char *label, int64_t lineno)
{
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 1024;
        struct belt_example *ex = belt_realloc(ds->ex, cap * sizeof(*ex));
        if (!ex)
            return BELT_ERR_NOMEM;
        ds->ex = ex;
        int64_t *ln = belt_realloc(ds->lineno, cap * sizeof(*ln));
        if (!ln)
            return BELT_ERR_NOMEM;
        ds->lineno = ln;
        ds->cap = cap;
    }
    char *t = belt_strdup(text);
    char *l = label ? belt_strdup(label) : NULL;
    if (!t || (label && !l)) {
        belt_free(t);
        belt_free(l);
        return BELT_ERR_NOMEM;
    }
    ds->ex[ds->n].text = t;
    ds->ex[ds->n].label = l;
    ds->lineno[ds->n] = lineno;
    ds->n++;
    return BELT_OK;
}

/* Check one parsed line and add it. */
static belt_status take(struct cli_dataset *ds, const json_t *o, int64_t ln, const char *tf,
                        const char *lf, int require_label, struct belt_error *err)
{
    const json_t *tv = json_object_get(o, tf), *lv = json_object_get(o, lf);
    if (!json_is_string(tv))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s:%lld: %s string field \"%s\"",
                               ds->path, (long long)ln, tv ? "expected a" : "missing", tf);
    if (lv && !json_is_string(lv))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s:%lld: field \"%s\" must be a string",
                               ds->path, (long long)ln, lf);
    if (require_label && !lv)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s:%lld: missing string field \"%s\"",
                               ds->path, (long long)ln, lf);
    const char *label = lv ? json_string_value(lv) : NULL;
    if (label && !*label)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s:%lld: empty label", ds->path,
                               (long long)ln);
    if (strlen(json_string_value(tv)) != json_string_length(tv) ||
        (label && strlen(label) != json_string_length(lv)))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s:%lld: NUL character in a string",
                               ds->path, (long long)ln);
    if (push(ds, json_string_value(tv), label, ln) != BELT_OK)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "%s: out of memory", ds->path);
    return BELT_OK;
}

belt_status cli_dataset_load(const char *path, const char *text_field, const char *label_field,
                             int require_label, struct cli_dataset *ds, struct belt_error *err)
{
    memset(ds, 0, sizeof(*ds));
    ds->path = belt_strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
    if (!ds->path)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    struct belt_jsonl_reader r;
    belt_status st = belt_jsonl_open(&r, path, err);
    if (st != BELT_OK)
        return st;
    for (;;) {
        json_t *o = NULL;
        st = belt_jsonl_next(&r, &o, err);
        if (st != BELT_OK || !o)
            break;
        st = take(ds, o, belt_jsonl_lineno(&r), text_field, label_field, require_label, err);
        json_decref(o);
        if (st != BELT_OK)
            break;
    }
    belt_jsonl_close(&r);
    if (st == BELT_OK && ds->n == 0)
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "%s: no examples (the file is empty)",
                             ds->path);
    return st;
}

void cli_dataset_free(struct cli_dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n; i++) {
        belt_free((char *)ds->ex[i].text);
        belt_free((char *)ds->ex[i].label);
    }
    belt_free(ds->ex);
    belt_free(ds->lineno);
    belt_free(ds->path);
    memset(ds, 0, sizeof(*ds));
}
