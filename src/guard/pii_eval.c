/*
 * pii_eval.c — measuring the detectors against recognizer test cases (Presidio's parametrised
 * test tables as JSONL): per-entity hit rates. Used by `belt guard eval-pii` and by the unit
 * test that keeps the overall rate from regressing.
 */
#include "belt_config.h"

#include <string.h>

#include "belt.h"
#include "util/error.h"
#include "util/json.h"

/* 1 if every expected span of `spans` (a JSON array of [start, end]) is among the matches. */
static int spans_match(const json_t *spans, const struct belt_pii_match *m, size_t n)
{
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp)
    {
        json_int_t a = json_integer_value(json_array_get(sp, 0));
        json_int_t b = json_integer_value(json_array_get(sp, 1));
        int found = 0;
        for (size_t j = 0; j < n && !found; j++)
            found = (json_int_t)m[j].start == a && (json_int_t)m[j].end == b;
        if (!found)
            return 0;
    }
    return 1;
}

static belt_status eval_case(struct belt_pii *const *dets, const json_t *obj, int64_t lineno,
                             struct belt_pii_eval_report *rep, belt_pii_miss_fn *on_miss, void *ud,
                             struct belt_error *err)
{
    const char *ent = belt_json_str(obj, "entity");
    const char *text = belt_json_str(obj, "text");
    int64_t want = belt_json_int(obj, "expected_count", -1);
    int e = belt_pii_entity_parse(ent);
    if (e < 0 || !text || want < 0)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "line %lld: needs a known \"entity\", \"text\" and "
                               "\"expected_count\"",
                               (long long)lineno);
    struct belt_pii_match *m = NULL;
    size_t n = 0;
    belt_status st = belt_pii_scan(dets[e], text, strlen(text), &m, &n, err);
    if (st != BELT_OK)
        return st;
    const json_t *spans = json_object_get(obj, "spans");
    int count_ok = n == (size_t)want;
    int hit = count_ok && (!json_is_array(spans) || spans_match(spans, m, n));
    belt_free(m);
    rep->n_cases++;
    rep->cases[e]++;
    rep->n_count_ok += (size_t)count_ok;
    rep->count_ok[e] += (size_t)count_ok;
    rep->n_hits += (size_t)hit;
    rep->hits[e] += (size_t)hit;
    if (!hit && on_miss)
        on_miss(ud, lineno, ent, text, (size_t)want, n);
    return BELT_OK;
}

belt_status belt_pii_evaluate(const char *path, struct belt_pii_eval_report *out,
                              belt_pii_miss_fn *on_miss, void *ud, struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    struct belt_pii *dets[BELT_PII_MAX_ENTITIES] = {0};
    struct belt_jsonl_reader r;
    belt_status st = belt_jsonl_open(&r, path, err);
    if (st != BELT_OK)
        return st;
    for (size_t e = 0; e < belt_pii_n_entities() && st == BELT_OK; e++) {
        struct belt_pii_params p = belt_pii_default_params();
        p.entities = 1u << e;
        p.min_score = 0;
        st = belt_pii_new(&p, &dets[e], err);
    }
    while (st == BELT_OK) {
        json_t *obj = NULL;
        st = belt_jsonl_next(&r, &obj, err);
        if (st != BELT_OK || !obj)
            break;
        st = eval_case(dets, obj, belt_jsonl_lineno(&r), out, on_miss, ud, err);
        json_decref(obj);
    }
    if (st != BELT_OK)
        belt__error_prefix(err, "%s: ", path);
    belt_jsonl_close(&r);
    for (size_t e = 0; e < BELT_PII_MAX_ENTITIES; e++)
        belt_pii_free(dets[e]);
    return st;
}
