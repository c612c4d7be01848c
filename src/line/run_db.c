/*
 * run_db.c — the run rows and checkpoints of batch runs (tables runs and run_items of schema
 * v4; see run.h). A checkpoint is one transaction: the position in input and output, the
 * statistics of the committed items, the items that need follow-up, and the reviews a
 * reviewed run continued — so the store and the output file never disagree about what is done.
 */
#include "belt_config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "line/run.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/error.h"

void belt__run_row_free(struct belt__run_row *r)
{
    belt_free(r->line);
    belt_free(r->input);
    belt_free(r->output);
    belt_free(r->input_fp);
    belt_free(r->status);
    belt_free(r->stats);
    memset(r, 0, sizeof(*r));
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? belt_strdup((const char *)t) : NULL;
}

int belt__run_find_unfinished(struct belt_store *st, const char *line, const char *output,
                              struct belt__run_row *r, struct belt_error *err)
{
    memset(r, 0, sizeof(*r));
    sqlite3_stmt *q = NULL;
    if (belt__store_prepare(st,
                            "SELECT id, line, input, output, config_hash, input_fp, status,"
                            " next_item, in_offset, in_lineno, out_offset, stats FROM runs"
                            " WHERE line = ? AND output = ? AND status IN"
                            " ('running', 'stopped', 'failed')"
                            " ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                            &q, err) != BELT_OK)
        return -1;
    sqlite3_bind_text(q, 1, line, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, output, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(r->id, sizeof(r->id), "%s", (const char *)sqlite3_column_text(q, 0));
        r->line = col_dup(q, 1);
        r->input = col_dup(q, 2);
        r->output = col_dup(q, 3);
        snprintf(r->config_hash, sizeof(r->config_hash), "%s",
                 sqlite3_column_text(q, 4) ? (const char *)sqlite3_column_text(q, 4) : "");
        r->input_fp = col_dup(q, 5);
        r->status = col_dup(q, 6);
        r->next_item = sqlite3_column_int64(q, 7);
        r->in_offset = sqlite3_column_int64(q, 8);
        r->in_lineno = sqlite3_column_int64(q, 9);
        r->out_offset = sqlite3_column_int64(q, 10);
        r->stats = col_dup(q, 11);
        found = r->line && r->input && r->output && r->status ? 1 : -1;
        if (found < 0)
            belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    } else if (rc != SQLITE_DONE) {
        found = -1;
        belt__store_error(st, rc, err, "runs");
    }
    sqlite3_finalize(q);
    return found;
}

belt_status belt__run_insert(struct belt_store *st, struct belt__run_row *r, struct belt_error *err)
{
    unsigned char raw[10];
    char hex[21];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    snprintf(r->id, sizeof(r->id), "run_%s", hex);
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st,
        "INSERT INTO runs(id, line, input, output, config_hash, input_fp, created_ms, updated_ms,"
        " status, next_item, in_offset, in_lineno, out_offset) VALUES(?,?,?,?,?,?,?,?,?,0,0,0,0)",
        &q, err);
    if (s != BELT_OK)
        return s;
    int64_t now = belt_wall_ms();
    sqlite3_bind_text(q, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->line, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, r->input, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, r->output, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, r->config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, r->input_fp, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, now);
    sqlite3_bind_int64(q, 8, now);
    sqlite3_bind_text(q, 9, "running", -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? BELT_OK : belt__store_error(st, rc, err, "insert run");
}

belt_status belt__run_abandon(struct belt_store *st, const char *line, const char *output,
                              struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(st,
                                        "UPDATE runs SET status = 'abandoned', updated_ms = ?"
                                        " WHERE line = ? AND output = ? AND status IN"
                                        " ('running', 'stopped', 'failed')",
                                        &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, belt_wall_ms());
    sqlite3_bind_text(q, 2, line, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, output, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? BELT_OK : belt__store_error(st, rc, err, "abandon runs");
}

static belt_status put_items(struct belt_store *st, const char *run_id,
                             const struct belt__run_item *items, size_t n, struct belt_error *err)
{
    if (n == 0)
        return BELT_OK;
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(st,
                                        "INSERT OR REPLACE INTO run_items(run_id, item, lineno,"
                                        " status, reason, review_id) VALUES(?,?,?,?,?,?)",
                                        &q, err);
    for (size_t i = 0; s == BELT_OK && i < n; i++) {
        const struct belt__run_item *it = &items[i];
        sqlite3_bind_text(q, 1, run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, it->item);
        sqlite3_bind_int64(q, 3, it->lineno);
        sqlite3_bind_text(q, 4, it->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, it->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 6, it->review_id[0] ? it->review_id : NULL, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            s = belt__store_error(st, rc, err, "run_items");
        if (s == BELT_OK && it->resumed_review) {
            struct belt_error e;
            belt_error_clear(&e);
            belt_status ms = belt_review_mark_resumed(st, it->resumed_review, &e);
            if (ms != BELT_OK && ms != BELT_ERR_NOTFOUND)
                s = belt__error_set(err, ms, e.sub, "%s", e.msg);
        }
    }
    sqlite3_finalize(q);
    return s;
}

belt_status belt__run_checkpoint(struct belt_store *st, const struct belt__run_row *r,
                                 const char *status, const struct belt__run_item *items,
                                 size_t n_items, struct belt_error *err)
{
    belt_status s = belt__store_begin(st, err);
    if (s != BELT_OK)
        return s;
    sqlite3_stmt *q = NULL;
    s = belt__store_prepare(st,
                            "UPDATE runs SET status = ?, next_item = ?, in_offset = ?,"
                            " in_lineno = ?, out_offset = ?, stats = ?, updated_ms = ?,"
                            " finished_ms = CASE WHEN ? = 'done' THEN ? ELSE finished_ms END,"
                            " input_fp = ? WHERE id = ?",
                            &q, err);
    if (s == BELT_OK) {
        int64_t now = belt_wall_ms();
        sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, r->next_item);
        sqlite3_bind_int64(q, 3, r->in_offset);
        sqlite3_bind_int64(q, 4, r->in_lineno);
        sqlite3_bind_int64(q, 5, r->out_offset);
        sqlite3_bind_text(q, 6, r->stats, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 7, now);
        sqlite3_bind_text(q, 8, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 9, now);
        sqlite3_bind_text(q, 10, r->input_fp, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 11, r->id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            s = belt__store_error(st, rc, err, "checkpoint");
        else if (sqlite3_changes(belt__store_db(st)) != 1)
            s = belt__error_set(err, BELT_ERR_NOTFOUND, 0, "run %s is gone from the store", r->id);
        sqlite3_finalize(q);
    }
    if (s == BELT_OK)
        s = put_items(st, r->id, items, n_items, err);
    if (s == BELT_OK)
        s = belt__store_commit(st, err);
    if (s != BELT_OK)
        belt__store_rollback(st);
    return s;
}
