/*
 * registry.c — the model registry (table `models`) and evaluation runs (table `eval_runs`).
 */
#include "belt_config.h"

#include <jansson.h>
#include <string.h>

#include "store/store.h"
#include "util/clock.h"
#include "util/error.h"

/* 1 if s parses as a JSON object. */
static int is_json_object(const char *s)
{
    json_t *v = json_loads(s, 0, NULL);
    int ok = json_is_object(v);
    json_decref(v);
    return ok;
}

belt_status belt_store_register_model(struct belt_store *st, const struct belt_model_record *rec,
                                      struct belt_error *err)
{
    if (!rec || !rec->name || !*rec->name || !rec->kind || !rec->path || !rec->checksum)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "model record needs name, kind, path and checksum");
    if (rec->metrics_json && !is_json_object(rec->metrics_json))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "model metrics must be a JSON object");
    sqlite3_stmt *s = NULL;
    belt_status r = belt__store_prepare(st,
                                        "INSERT OR REPLACE INTO models(name, kind, path, checksum,"
                                        " metrics, created_ms) VALUES(?,?,?,?,?,?)",
                                        &s, err);
    if (r != BELT_OK)
        return r;
    sqlite3_bind_text(s, 1, rec->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rec->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rec->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, rec->checksum, -1, SQLITE_STATIC);
    if (rec->metrics_json)
        sqlite3_bind_text(s, 5, rec->metrics_json, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 5);
    sqlite3_bind_int64(s, 6, rec->created_ms ? rec->created_ms : belt_wall_ms());
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        r = belt__store_error(st, rc, err, "registering model");
    sqlite3_finalize(s);
    return r;
}

belt_status belt_store_list_models(struct belt_store *st, belt_model_record_fn *fn, void *ud,
                                   struct belt_error *err)
{
    sqlite3_stmt *s = NULL;
    belt_status r = belt__store_prepare(st,
                                        "SELECT name, kind, path, checksum, metrics, created_ms"
                                        " FROM models ORDER BY created_ms DESC, name",
                                        &s, err);
    if (r != BELT_OK)
        return r;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            r = belt__store_error(st, rc, err, "listing models");
            break;
        }
        struct belt_model_record rec = {
            (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
            (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
            (const char *)sqlite3_column_text(s, 4), sqlite3_column_int64(s, 5)};
        if (fn(ud, &rec) != 0)
            break;
    }
    sqlite3_finalize(s);
    return r;
}

belt_status belt_store_add_eval_run(struct belt_store *st, const char *model, const char *dataset,
                                    const char *metrics_json, int64_t *id_out,
                                    struct belt_error *err)
{
    if (!model || !dataset || !metrics_json || !is_json_object(metrics_json))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "an evaluation run needs a model, a dataset and a metrics object");
    sqlite3_stmt *s = NULL;
    belt_status r = belt__store_prepare(st,
                                        "INSERT INTO eval_runs(model, dataset, metrics, created_ms)"
                                        " VALUES(?,?,?,?)",
                                        &s, err);
    if (r != BELT_OK)
        return r;
    sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, dataset, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, metrics_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, belt_wall_ms());
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        r = belt__store_error(st, rc, err, "recording evaluation run");
    else if (id_out)
        *id_out = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    return r;
}
