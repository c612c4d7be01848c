/*
 * review.c — the human review queue (table `reviews`) and the labelled examples an edit
 * produces (table `examples`). Items are parked by `review` stations, a cascade's `human`
 * tier or a guard's `escalate` action; a person approves, rejects or edits; every step is
 * audited in the same transaction; a decided item is handed to the caller's resume hook (in
 * process) or found later by belt_review_resumable() (a line runner resuming a run).
 */
#include "belt_config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"

static const char *const status_names[] = {"pending", "approved", "rejected", "edited"};

const char *belt_review_status_name(enum belt_review_status s)
{
    return (size_t)s < BELT_ARRAY_LEN(status_names) ? status_names[s] : NULL;
}

int belt_review_status_parse(const char *name)
{
    for (size_t i = 0; name && i < BELT_ARRAY_LEN(status_names); i++)
        if (strcmp(name, status_names[i]) == 0)
            return (int)i;
    return -1;
}

/* s must be JSON: an object (must_be_object) or any value. */
static belt_status check_json(const char *what, const char *s, int must_be_object,
                              struct belt_error *err)
{
    json_error_t je;
    json_t *v = json_loadb(s, strlen(s), JSON_DECODE_ANY, &je);
    if (!v)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s: invalid JSON at %d:%d: %s", what,
                               je.line, je.column, je.text);
    int ok = !must_be_object || json_is_object(v);
    json_decref(v);
    return ok ? BELT_OK
              : belt__error_set(err, BELT_ERR_INVALID, 0, "%s must be a JSON object", what);
}

static const char *const columns =
    "id, created_ms, source, status, reason, payload, answer, line, run_id, item_id, station, "
    "route, decided_by, coalesce(decided_ms, 0), decision, coalesce(resumed_ms, 0)";

static void read_record(sqlite3_stmt *q, struct belt_review_record *r)
{
    r->id = (const char *)sqlite3_column_text(q, 0);
    r->created_ms = sqlite3_column_int64(q, 1);
    r->source = (const char *)sqlite3_column_text(q, 2);
    int s = belt_review_status_parse((const char *)sqlite3_column_text(q, 3));
    r->status = s < 0 ? BELT_REVIEW_PENDING : (enum belt_review_status)s;
    r->reason = (const char *)sqlite3_column_text(q, 4);
    r->payload_json = (const char *)sqlite3_column_text(q, 5);
    r->answer_json = (const char *)sqlite3_column_text(q, 6);
    r->line = (const char *)sqlite3_column_text(q, 7);
    r->run_id = (const char *)sqlite3_column_text(q, 8);
    r->item_id = (const char *)sqlite3_column_text(q, 9);
    r->station = (const char *)sqlite3_column_text(q, 10);
    r->route = (const char *)sqlite3_column_text(q, 11);
    r->decided_by = (const char *)sqlite3_column_text(q, 12);
    r->decided_ms = sqlite3_column_int64(q, 13);
    r->decision_json = (const char *)sqlite3_column_text(q, 14);
    r->resumed_ms = sqlite3_column_int64(q, 15);
}

/* Run a SELECT of `columns` + `tail`, calling fn per row; *n gets the row count. */
static belt_status query(struct belt_store *st, const char *tail, const char *a, const char *b,
                         int64_t limit, belt_review_fn *fn, void *ud, int *n,
                         struct belt_error *err)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM reviews %s", columns, tail);
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(st, sql, &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_text(q, 1, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct belt_review_record r;
        read_record(q, &r);
        (*n)++;
        if (fn && fn(ud, &r) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        s = belt__store_error(st, rc, err, "reviews");
    sqlite3_finalize(q);
    return s;
}

belt_status belt_review_add(struct belt_store *st, struct belt_audit *audit,
                            const struct belt_review_item *item, char id_out[BELT_REVIEW_ID_MAX],
                            struct belt_error *err)
{
    id_out[0] = '\0';
    if (!item->source || (strcmp(item->source, "line") && strcmp(item->source, "route") &&
                          strcmp(item->source, "guard")))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "review source must be line, route or guard");
    if (!item->reason || !*item->reason || !item->payload_json)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "a review needs a reason and a payload");
    belt_status s = check_json("review payload", item->payload_json, 1, err);
    if (s == BELT_OK && item->answer_json)
        s = check_json("review answer", item->answer_json, 0, err);
    if (s != BELT_OK)
        return s;
    unsigned char raw[10];
    char hex[21], id[BELT_REVIEW_ID_MAX];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    snprintf(id, sizeof(id), "rv_%s", hex);
    s = belt__store_begin(st, err);
    sqlite3_stmt *q = NULL;
    if (s == BELT_OK)
        s = belt__store_prepare(st,
                                "INSERT INTO reviews(id, created_ms, source, status, line, run_id,"
                                " item_id, station, route, reason, payload, answer) "
                                "VALUES(?,?,?,'pending',?,?,?,?,?,?,?,?)",
                                &q, err);
    if (s == BELT_OK) {
        const char *v[] = {item->source,  item->line,         item->run_id,
                           item->item_id, item->station,      item->route,
                           item->reason,  item->payload_json, item->answer_json};
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, belt_wall_ms());
        for (int i = 0; i < 9; i++)
            sqlite3_bind_text(q, 3 + i, v[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            s = belt__store_error(st, rc, err, "add review");
        sqlite3_finalize(q);
    }
    if (s == BELT_OK && audit) {
        struct belt_buf d;
        belt_buf_init(&d, 0);
        belt_buf_printf(&d, "{\"source\":\"%s\",\"reason\":", item->source);
        belt_buf_append_json_string(&d, item->reason, strlen(item->reason));
        const char *k[] = {"line", "run_id", "item_id", "station", "route"};
        const char *v[] = {item->line, item->run_id, item->item_id, item->station, item->route};
        for (size_t i = 0; i < BELT_ARRAY_LEN(k); i++) {
            if (!v[i])
                continue;
            belt_buf_printf(&d, ",\"%s\":", k[i]);
            belt_buf_append_json_string(&d, v[i], strlen(v[i]));
        }
        belt_buf_putc(&d, '}');
        struct belt_audit_event ev = {"review.add", item->source, id, belt_buf_cstr(&d), 0};
        s = belt_audit_append(audit, &ev, NULL, err);
        belt_buf_deinit(&d);
    }
    if (s == BELT_OK)
        s = belt__store_commit(st, err);
    if (s != BELT_OK) {
        belt__store_rollback(st);
        return s;
    }
    memcpy(id_out, id, sizeof(id));
    return BELT_OK;
}

belt_status belt_review_list(struct belt_store *st, int status, int64_t limit, belt_review_fn *fn,
                             void *ud, struct belt_error *err)
{
    if (status >= (int)BELT_ARRAY_LEN(status_names))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "unknown review status %d", status);
    int n = 0;
    return query(st, "WHERE ?1 IS NULL OR status = ?1 ORDER BY created_ms DESC, id LIMIT ?3",
                 status >= 0 ? status_names[status] : NULL, NULL, limit, fn, ud, &n, err);
}

belt_status belt_review_get(struct belt_store *st, const char *id, belt_review_fn *fn, void *ud,
                            struct belt_error *err)
{
    int n = 0;
    belt_status s = query(st, "WHERE id = ?1 LIMIT ?3", id, NULL, 1, fn, ud, &n, err);
    if (s == BELT_OK && n == 0)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no review '%s'", id);
    return s;
}

/* The text an example is made of: the payload's "text" or "input" field if it is a string,
 * else the payload itself. Caller frees. */
static char *example_text(const char *payload)
{
    json_t *p = json_loads(payload, 0, NULL);
    const char *t = p ? belt_json_str(p, "text") : NULL;
    if (!t && p)
        t = belt_json_str(p, "input");
    char *out = belt_strdup(t ? t : payload);
    json_decref(p);
    return out;
}

/* The label of an answer when it is one: a JSON string, or an object's "label" string. */
static char *answer_label(const char *answer)
{
    json_t *a = json_loads(answer, JSON_DECODE_ANY, NULL);
    const char *l = json_is_string(a) ? json_string_value(a) : a ? belt_json_str(a, "label") : NULL;
    char *out = l ? belt_strdup(l) : NULL;
    json_decref(a);
    return out;
}

static belt_status add_example(struct belt_store *st, const char *id, const char *task,
                               const char *payload, const char *answer, struct belt_error *err)
{
    char *text = example_text(payload);
    char *label = answer_label(answer);
    sqlite3_stmt *q = NULL;
    belt_status s = text ? belt__store_prepare(st,
                                               "INSERT INTO examples(created_ms, source, task, "
                                               "text, label, output, review_id) "
                                               "VALUES(?,'review-edit',?,?,?,?,?)",
                                               &q, err)
                         : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (s == BELT_OK) {
        sqlite3_bind_int64(q, 1, belt_wall_ms());
        sqlite3_bind_text(q, 2, task, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, label, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, answer, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 6, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            s = belt__store_error(st, rc, err, "add example");
        sqlite3_finalize(q);
    }
    belt_free(text);
    belt_free(label);
    return s;
}

struct pending_info {
    int found; /* the review exists */
    enum belt_review_status status;
    char task[256]; /* line/station or route */
    char *payload;  /* owned */
};

static int grab_pending(void *ud, const struct belt_review_record *r)
{
    struct pending_info *pi = ud;
    pi->found = 1;
    pi->status = r->status;
    if (r->line)
        snprintf(pi->task, sizeof(pi->task), "%s/%s", r->line, r->station ? r->station : "");
    else if (r->route)
        snprintf(pi->task, sizeof(pi->task), "%s", r->route);
    pi->payload = belt_strdup(r->payload_json ? r->payload_json : "{}");
    return 1;
}

static belt_status decision_json(const struct belt_review_decision *d, char **out)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_status s = belt_buf_putc(&b, '{');
    int first = 1;
    if (s == BELT_OK && d->answer_json) {
        s = belt_buf_printf(&b, "\"answer\":%s", d->answer_json);
        first = 0;
    }
    if (s == BELT_OK && d->note) {
        s = belt_buf_puts(&b, first ? "\"note\":" : ",\"note\":");
        if (s == BELT_OK)
            s = belt_buf_append_json_string(&b, d->note, strlen(d->note));
    }
    if (s == BELT_OK)
        s = belt_buf_putc(&b, '}');
    *out = s == BELT_OK ? belt_buf_detach(&b, NULL) : NULL;
    belt_buf_deinit(&b);
    return *out ? BELT_OK : BELT_ERR_NOMEM;
}

static belt_status check_decision(const struct belt_review_decision *d, struct belt_error *err)
{
    if (d->status != BELT_REVIEW_APPROVED && d->status != BELT_REVIEW_REJECTED &&
        d->status != BELT_REVIEW_EDITED)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "a decision is approved, rejected or edited");
    if (!d->who || !*d->who)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "a decision needs the reviewer's name");
    if (d->status == BELT_REVIEW_EDITED && !d->answer_json)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "an edit needs the corrected answer");
    if (d->answer_json)
        return check_json("edited answer", d->answer_json, 0, err);
    return BELT_OK;
}

/* Inside the transaction: status, example, audit row. */
static belt_status decide_locked(struct belt_store *st, struct belt_audit *audit, const char *id,
                                 const struct belt_review_decision *d,
                                 const struct pending_info *pi, const char *dj,
                                 struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st,
        "UPDATE reviews SET status = ?1, decided_by = ?2, decided_ms = ?3, decision = ?4, "
        "answer = coalesce(?5, answer) WHERE id = ?6 AND status = 'pending'",
        &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_text(q, 1, status_names[d->status], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, d->who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, belt_wall_ms());
    sqlite3_bind_text(q, 4, dj, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, d->status == BELT_REVIEW_EDITED ? d->answer_json : NULL, -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(q, 6, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return belt__store_error(st, rc, err, "decide review");
    if (sqlite3_changes(belt__store_db(st)) != 1)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "review '%s' is no longer pending", id);
    if (d->status == BELT_REVIEW_EDITED)
        s = add_example(st, id, pi->task[0] ? pi->task : NULL, pi->payload, d->answer_json, err);
    if (s == BELT_OK && audit) {
        char kind[32];
        snprintf(kind, sizeof(kind), "review.%s",
                 d->status == BELT_REVIEW_APPROVED   ? "approve"
                 : d->status == BELT_REVIEW_REJECTED ? "reject"
                                                     : "edit");
        struct belt_audit_event ev = {kind, d->who, id, dj, 0};
        s = belt_audit_append(audit, &ev, NULL, err);
    }
    return s;
}

belt_status belt_review_decide(struct belt_store *st, struct belt_audit *audit, const char *id,
                               const struct belt_review_decision *d, belt_review_fn *on_decided,
                               void *ud, struct belt_error *err)
{
    belt_status s = check_decision(d, err);
    if (s != BELT_OK)
        return s;
    char *dj = NULL;
    if (decision_json(d, &dj) != BELT_OK)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    struct pending_info pi;
    memset(&pi, 0, sizeof(pi));
    s = belt__store_begin(st, err);
    if (s == BELT_OK)
        s = belt_review_get(st, id, grab_pending, &pi, err);
    if (s == BELT_OK && pi.status != BELT_REVIEW_PENDING)
        s = belt__error_set(err, BELT_ERR_INVALID, 0, "review '%s' was already %s", id,
                            status_names[pi.status]);
    if (s == BELT_OK)
        s = decide_locked(st, audit, id, d, &pi, dj, err);
    if (s == BELT_OK)
        s = belt__store_commit(st, err);
    if (s != BELT_OK)
        belt__store_rollback(st);
    belt_free(pi.payload);
    belt_free(dj);
    if (s == BELT_OK && on_decided)
        s = belt_review_get(st, id, on_decided, ud, err);
    return s;
}

belt_status belt_review_resumable(struct belt_store *st, const char *line, belt_review_fn *fn,
                                  void *ud, struct belt_error *err)
{
    int n = 0;
    return query(st,
                 "WHERE status <> 'pending' AND resumed_ms IS NULL AND (?1 IS NULL OR line = ?1)"
                 " ORDER BY decided_ms, id LIMIT ?3",
                 line, NULL, 0, fn, ud, &n, err);
}

belt_status belt_review_mark_resumed(struct belt_store *st, const char *id, struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st, "UPDATE reviews SET resumed_ms = ? WHERE id = ? AND status <> 'pending'", &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, belt_wall_ms());
    sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return belt__store_error(st, rc, err, "resume review");
    if (sqlite3_changes(belt__store_db(st)) != 1)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no decided review '%s'", id);
    return BELT_OK;
}
