/*
 * store.h — internal side of the SQLite store: the connection, errors, statements and
 * transactions other modules build their tables' code on. Schema and migrations live in
 * schema.c; each table's queries live with the module that owns the table.
 *
 * Thread rule: a belt_store (one sqlite3 connection) is used by one thread at a time.
 */
#ifndef BELT_STORE_STORE_H
#define BELT_STORE_STORE_H

#include <sqlite3.h>

#include "belt.h"

struct belt_store {
    sqlite3 *db;  /* the connection; owned */
    char *path;   /* file path; owned */
    int version;  /* schema version after migration */
    int read_only; /* opened read-only */
};

/* The raw connection, for modules that run their own SQL. Borrowed. */
sqlite3 *belt__store_db(struct belt_store *st);
/* Map SQLite result `rc` to a status, with "what: sqlite message (code)" in err. */
belt_status belt__store_error(struct belt_store *st, int rc, struct belt_error *err,
                              const char *what);
/* Run one or more statements without results. */
belt_status belt__store_exec(struct belt_store *st, const char *sql, struct belt_error *err);
/* Prepare one statement (caller finalizes). */
belt_status belt__store_prepare(struct belt_store *st, const char *sql, sqlite3_stmt **out,
                                struct belt_error *err);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. rollback never fails visibly. */
belt_status belt__store_begin(struct belt_store *st, struct belt_error *err);
belt_status belt__store_commit(struct belt_store *st, struct belt_error *err);
void belt__store_rollback(struct belt_store *st);

/* Migrations (schema.c): bring the database to the latest version inside one transaction per
 * step. Refuses a database newer than this build. */
belt_status belt__store_migrate(struct belt_store *st, struct belt_error *err);

#endif
