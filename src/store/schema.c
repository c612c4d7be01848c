/*
 * schema.c — the store's schema as an ordered list of migrations. PRAGMA user_version holds the
 * number of migrations applied; opening a store applies the missing ones, each in its own
 * transaction. Released migrations are never edited: change the schema by appending one.
 *
 * Ownership of tables: v1 learn (registry), v2 gateway (traces, cache), v3 governance (keys,
 * audit, reviews, examples), v4 lines (runs, items, station cache, passages).
 */
#include "belt_config.h"

#include <stdio.h>

#include "store/store.h"
#include "util/error.h"

struct migration {
    int version;     /* user_version after this step */
    const char *sql; /* statements to run */
};

static const struct migration migrations[] = {
    {1, "CREATE TABLE models("
        "  name TEXT PRIMARY KEY,"  /* registry name */
        "  kind TEXT NOT NULL,"     /* classifier | router | ... */
        "  path TEXT NOT NULL,"     /* model file */
        "  checksum TEXT NOT NULL," /* hex SHA-256 of the file */
        "  metrics TEXT,"           /* JSON object */
        "  created_ms INTEGER NOT NULL);"
        "CREATE TABLE eval_runs("
        "  id INTEGER PRIMARY KEY,"
        "  model TEXT NOT NULL,"
        "  dataset TEXT NOT NULL,"
        "  metrics TEXT NOT NULL," /* JSON object */
        "  created_ms INTEGER NOT NULL);"
        "CREATE INDEX eval_runs_model ON eval_runs(model, created_ms);"},
    {2, "CREATE TABLE traces("
        "  id TEXT PRIMARY KEY,"    /* trace id, 32 hex digits */
        "  ts_ms INTEGER NOT NULL," /* start, Unix ms */
        "  kind TEXT NOT NULL,"     /* chat | embeddings | line | ... */
        "  route TEXT,"             /* requested model or route name */
        "  model TEXT,"             /* model that produced the answer */
        "  key_id TEXT,"            /* API key id (never the key) */
        "  status TEXT NOT NULL,"   /* ok | error | escalated | review | blocked */
        "  http_status INTEGER,"
        "  error TEXT,"
        "  input_tokens INTEGER NOT NULL DEFAULT 0,"
        "  output_tokens INTEGER NOT NULL DEFAULT 0,"
        "  cost_usd REAL NOT NULL DEFAULT 0,"
        "  latency_us INTEGER NOT NULL DEFAULT 0,"
        "  cache_hit INTEGER NOT NULL DEFAULT 0,"
        "  stream INTEGER NOT NULL DEFAULT 0,"
        "  attrs TEXT);" /* JSON: further attributes and the decision path */
        "CREATE INDEX traces_ts ON traces(ts_ms);"
        "CREATE TABLE trace_steps("
        "  trace_id TEXT NOT NULL,"
        "  seq INTEGER NOT NULL," /* order of the attempt within the trace */
        "  model TEXT NOT NULL,"
        "  deployment TEXT,"
        "  tier INTEGER,"
        "  status TEXT NOT NULL," /* ok | error | timeout | rejected | skipped */
        "  http_status INTEGER,"
        "  error TEXT,"
        "  reason TEXT," /* why this step ended the way it did */
        "  confidence REAL,"
        "  input_tokens INTEGER NOT NULL DEFAULT 0,"
        "  output_tokens INTEGER NOT NULL DEFAULT 0,"
        "  cost_usd REAL NOT NULL DEFAULT 0,"
        "  latency_us INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY(trace_id, seq)) WITHOUT ROWID;"
        "CREATE TABLE cache("
        "  key TEXT PRIMARY KEY," /* hex hash of normalized request + model */
        "  model TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  expires_ms INTEGER NOT NULL,"
        "  response BLOB NOT NULL," /* the complete response body */
        "  stream BLOB,"            /* the SSE body when the answer was streamed */
        "  cost_usd REAL NOT NULL DEFAULT 0,"
        "  hits INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX cache_expires ON cache(expires_ms);"},
    {3, "CREATE TABLE keys("
        "  id TEXT PRIMARY KEY," /* public key id */
        "  name TEXT NOT NULL UNIQUE,"
        "  hash BLOB NOT NULL UNIQUE," /* keyed hash of the secret; the secret is not stored */
        "  prefix TEXT NOT NULL,"      /* first characters, to recognise a key */
        "  created_ms INTEGER NOT NULL,"
        "  revoked_ms INTEGER,"
        "  allow TEXT," /* JSON: allowed models, routes, lines */
        "  budget_day_usd REAL,"
        "  budget_month_usd REAL," /* NULL: no budget */
        "  rpm INTEGER,"           /* NULL: unlimited */
        "  tpm INTEGER,"
        "  burst INTEGER," /* request bucket size; NULL: rpm */
        "  expires_ms INTEGER);"
        "CREATE TABLE key_spend("
        "  key_id TEXT NOT NULL,"
        "  period TEXT NOT NULL," /* d:2026-11-28 or m:2026-11 */
        "  spent_usd REAL NOT NULL DEFAULT 0,"
        "  PRIMARY KEY(key_id, period)) WITHOUT ROWID;"
        "CREATE TABLE audit("
        "  seq INTEGER PRIMARY KEY,"
        "  ts_ms INTEGER NOT NULL,"
        "  kind TEXT NOT NULL,"
        "  actor TEXT,"
        "  subject TEXT,"
        "  content TEXT NOT NULL," /* canonical JSON */
        "  prev_hash BLOB NOT NULL,"
        "  hash BLOB NOT NULL);"
        /* Append-only by construction; the hash chain catches whoever drops these. */
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        "CREATE TABLE audit_checkpoints("
        "  seq INTEGER PRIMARY KEY," /* audit row the checkpoint covers up to */
        "  ts_ms INTEGER NOT NULL,"
        "  hash BLOB NOT NULL,"
        "  mac BLOB NOT NULL);"    /* HMAC-SHA256(key, seq || hash) */
        "CREATE TABLE audit_head(" /* the MACed tail, rewritten by every append */
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  seq INTEGER NOT NULL,"
        "  ts_ms INTEGER NOT NULL,"
        "  hash BLOB NOT NULL,"
        "  mac BLOB NOT NULL);"
        "CREATE TABLE reviews("
        "  id TEXT PRIMARY KEY,"
        "  created_ms INTEGER NOT NULL,"
        "  source TEXT NOT NULL," /* line | route | guard */
        "  status TEXT NOT NULL," /* pending | approved | rejected | edited */
        "  line TEXT, run_id TEXT, item_id TEXT, station TEXT, route TEXT,"
        "  reason TEXT NOT NULL,"
        "  payload TEXT NOT NULL," /* JSON: the parked item */
        "  answer TEXT,"           /* JSON: best answer so far */
        "  decided_by TEXT, decided_ms INTEGER,"
        "  decision TEXT,"       /* JSON: edit or rejection reason */
        "  resumed_ms INTEGER);" /* when its line continued it */
        "CREATE INDEX reviews_status ON reviews(status, created_ms);"
        "CREATE TABLE examples("
        "  id INTEGER PRIMARY KEY,"
        "  created_ms INTEGER NOT NULL,"
        "  source TEXT NOT NULL," /* review-edit | flywheel | ... */
        "  task TEXT,"            /* line/station or route it belongs to */
        "  text TEXT NOT NULL,"
        "  label TEXT,"
        "  output TEXT,"
        "  review_id TEXT);"},
    /* Line runs (src/line/run.c): one row per `belt run`, its checkpoint updated in the same
     * transaction as the run_items of the items it covers. The output file holds exactly the
     * items before next_item: on --resume it is cut back to out_offset and the input continues
     * at in_offset. */
    {4, "CREATE TABLE runs("
        "  id TEXT PRIMARY KEY,"
        "  line TEXT NOT NULL,"
        "  input TEXT NOT NULL,"       /* input file (absolute) or 'reviews' */
        "  output TEXT NOT NULL,"      /* output file (absolute) */
        "  config_hash TEXT NOT NULL," /* SHA-256 of the line's configuration */
        "  input_fp TEXT,"             /* LEN:SHA-256 of the input's first bytes */
        "  created_ms INTEGER NOT NULL,"
        "  updated_ms INTEGER,"
        "  finished_ms INTEGER,"
        "  status TEXT NOT NULL," /* running | done | stopped | failed | abandoned */
        "  next_item INTEGER NOT NULL DEFAULT 0,"  /* items before this one are in the output */
        "  in_offset INTEGER NOT NULL DEFAULT 0,"  /* input byte offset of next_item */
        "  in_lineno INTEGER NOT NULL DEFAULT 0,"  /* input lines before in_offset */
        "  out_offset INTEGER NOT NULL DEFAULT 0," /* output bytes committed */
        "  stats TEXT);"                           /* JSON statistics of the committed items */
        "CREATE INDEX runs_output ON runs(line, output, created_ms);"
        "CREATE TABLE run_items(" /* items that did not end ok, for follow-up */
        "  run_id TEXT NOT NULL,"
        "  item INTEGER NOT NULL," /* 0-based index of the input record */
        "  lineno INTEGER,"        /* its input line */
        "  status TEXT NOT NULL,"  /* needs_review | dropped | error | bad_input */
        "  reason TEXT,"
        "  review_id TEXT,"
        "  PRIMARY KEY(run_id, item)) WITHOUT ROWID;"
        "CREATE INDEX reviews_run_item ON reviews(run_id, item_id);" /* parking is idempotent */
        "CREATE TABLE station_cache(" /* answers of model stations by request */
        "  key TEXT PRIMARY KEY,"     /* SHA-256 of station config + route + request */
        "  station TEXT,"
        "  output TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL);"
        /* Retrieval (src/line/retrieve.c): passages of documents, full-text indexed by FTS5 as
         * an external-content table kept in sync by triggers. The FTS `corpus` column holds one
         * token, hex(corpus) || '0' (a digit last, so the porter stemmer leaves it alone), so
         * that a corpus filter in a MATCH expression is exact. */
        "CREATE TABLE passages("
        "  id INTEGER PRIMARY KEY,"
        "  corpus TEXT NOT NULL,"
        "  doc_id TEXT NOT NULL,"   /* document id from the input */
        "  chunk INTEGER NOT NULL," /* 0-based passage number within the document */
        "  text TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  UNIQUE(corpus, doc_id, chunk));"
        "CREATE VIRTUAL TABLE passages_fts USING fts5(corpus, text, content='passages',"
        "  content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');"
        "CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN"
        "  INSERT INTO passages_fts(rowid, corpus, text)"
        "    VALUES (new.id, hex(new.corpus) || '0', new.text);"
        "  END;"
        "CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN"
        "  INSERT INTO passages_fts(passages_fts, rowid, corpus, text)"
        "    VALUES ('delete', old.id, hex(old.corpus) || '0', old.text);"
        "  END;"
        "CREATE TRIGGER passages_au AFTER UPDATE ON passages BEGIN"
        "  INSERT INTO passages_fts(passages_fts, rowid, corpus, text)"
        "    VALUES ('delete', old.id, hex(old.corpus) || '0', old.text);"
        "  INSERT INTO passages_fts(rowid, corpus, text)"
        "    VALUES (new.id, hex(new.corpus) || '0', new.text);"
        "  END;"},
    /* Archived audit rows (src/guard/audit.c, `belt audit archive`): the rows up to `seq` went
     * to a file; the MACed hash of that last row is where the chain in the table resumes. The
     * delete trigger now lets the archiver remove rows an anchor covers, and nothing else. */
    {5, "CREATE TABLE audit_archived("
        "  seq INTEGER PRIMARY KEY," /* the last row moved out */
        "  ts_ms INTEGER NOT NULL,"  /* when */
        "  hash BLOB NOT NULL,"      /* that row's hash: the next row's prev_hash */
        "  mac BLOB NOT NULL,"       /* HMAC-SHA256(key, "archive" || seq || hash) */
        "  file TEXT);"              /* where the rows went, as given */
        "DROP TRIGGER audit_no_delete;"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
        "  WHEN OLD.seq > (SELECT coalesce(max(seq), 0) FROM audit_archived)"
        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"},
};

int belt_store_schema_latest(void)
{
    return migrations[BELT_ARRAY_LEN(migrations) - 1].version;
}

static int read_version(struct belt_store *st)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

belt_status belt__store_migrate(struct belt_store *st, struct belt_error *err)
{
    int v = read_version(st);
    if (v < 0)
        return belt__error_set(err, BELT_ERR_STORE, 0, "%s: cannot read the schema version",
                               st->path);
    int latest = belt_store_schema_latest();
    if (v > latest)
        return belt__error_set(err, BELT_ERR_VERSION, 0,
                               "%s: schema version %d is newer than this build (%d); upgrade belt",
                               st->path, v, latest);
    for (size_t i = 0; i < BELT_ARRAY_LEN(migrations); i++) {
        const struct migration *m = &migrations[i];
        if (BELT_NEVER(m->version != (int)i + 1))
            return belt__error_set(err, BELT_ERR_INTERNAL, 0, "migration %zu out of order", i);
        if (m->version <= v)
            continue;
        belt_status s = belt__store_begin(st, err);
        if (s != BELT_OK)
            return s;
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
        s = belt__store_exec(st, m->sql, err);
        if (s == BELT_OK)
            s = belt__store_exec(st, pragma, err);
        if (s == BELT_OK)
            s = belt__store_commit(st, err);
        if (s != BELT_OK) {
            belt__store_rollback(st);
            return belt__error_prefix(err, "%s: migration to version %d: ", st->path, m->version);
        }
        v = m->version;
    }
    st->version = v;
    return BELT_OK;
}
