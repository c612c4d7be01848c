/*
 * store.c — opening the SQLite store (WAL, busy timeout, foreign keys), error mapping,
 * statements and transactions. See store.h; the schema is in schema.c.
 */
#include "belt_config.h"

#include <string.h>

#include "store/store.h"
#include "util/error.h"

struct belt_store_params belt_store_default_params(void)
{
    struct belt_store_params p = {0};
    p.path = "belt.db";
    p.busy_timeout_ms = 5000;
    return p;
}

belt_status belt__store_error(struct belt_store *st, int rc, struct belt_error *err,
                              const char *what)
{
    belt_status code = BELT_ERR_STORE;
    int prim = rc & 0xff;
    if (prim == SQLITE_NOMEM)
        code = BELT_ERR_NOMEM;
    else if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        code = BELT_ERR_BUSY;
    else if (prim == SQLITE_CONSTRAINT)
        code = BELT_ERR_EXISTS;
    else if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
        code = BELT_ERR_FORMAT;
    const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    return belt__error_set(err, code, rc, "%s: %s (%s)", what, msg, sqlite3_errstr(rc));
}

sqlite3 *belt__store_db(struct belt_store *st)
{
    return st->db;
}

belt_status belt__store_exec(struct belt_store *st, const char *sql, struct belt_error *err)
{
    char *emsg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &emsg);
    if (rc != SQLITE_OK) {
        belt_status s = belt__store_error(st, rc, err, st->path);
        sqlite3_free(emsg);
        return s;
    }
    return BELT_OK;
}

belt_status belt__store_prepare(struct belt_store *st, const char *sql, sqlite3_stmt **out,
                                struct belt_error *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK)
        return belt__store_error(st, rc, err, "prepare");
    return BELT_OK;
}

belt_status belt__store_begin(struct belt_store *st, struct belt_error *err)
{
    return belt__store_exec(st, "BEGIN IMMEDIATE", err);
}

belt_status belt__store_commit(struct belt_store *st, struct belt_error *err)
{
    return belt__store_exec(st, "COMMIT", err);
}

void belt__store_rollback(struct belt_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

belt_status belt_store_open(const struct belt_store_params *p, struct belt_store **out,
                            struct belt_error *err)
{
    *out = NULL;
    struct belt_store_params d = belt_store_default_params();
    if (!p)
        p = &d;
    struct belt_store *st = belt_calloc(1, sizeof(*st));
    if (!st)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    st->path = belt_strdup(p->path ? p->path : d.path);
    st->read_only = p->read_only;
    if (!st->path) {
        belt_free(st);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    int flags = (p->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
    belt_status s = BELT_OK;
    if (rc != SQLITE_OK) {
        s = belt__store_error(st, rc, err, st->path);
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, p->busy_timeout_ms > 0 ? p->busy_timeout_ms : 5000);
    if (!p->read_only) {
        s = belt__store_exec(st,
                             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                             "PRAGMA foreign_keys=ON;",
                             err);
        if (s != BELT_OK)
            goto fail;
        s = belt__store_migrate(st, err);
        if (s != BELT_OK)
            goto fail;
    } else {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            st->version = sqlite3_column_int(q, 0);
        else
            s = belt__store_error(st, sqlite3_errcode(st->db), err, st->path);
        sqlite3_finalize(q);
        if (s != BELT_OK)
            goto fail;
        if (st->version > belt_store_schema_latest()) {
            s = belt__error_set(err, BELT_ERR_VERSION, 0,
                                "%s: schema version %d is newer than this build (%d)", st->path,
                                st->version, belt_store_schema_latest());
            goto fail;
        }
    }
    *out = st;
    return BELT_OK;
fail:
    belt_store_close(st);
    return s;
}

void belt_store_close(struct belt_store *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    belt_free(st->path);
    belt_free(st);
}

int belt_store_schema_version(const struct belt_store *st)
{
    return st->version;
}
