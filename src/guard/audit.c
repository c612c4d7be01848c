/*
 * audit.c — the tamper-evident audit log (table `audit`, schema v3).
 *
 * Every row stores prev_hash and hash = SHA-256(prev_hash || content), where content is the
 * canonical JSON of {seq, ts, kind, actor, subject, data} (compact, sorted keys, ASCII), so the
 * rows form a chain: editing, deleting, inserting or reordering a row breaks it at that row.
 * A chain alone can be recomputed by whoever edits the file, so the writer also MACs
 * (HMAC-SHA256, key outside the database) a checkpoint every N rows (`audit_checkpoints`) and
 * the head — the last (seq, hash) — after every append (`audit_head`, one row, same
 * transaction). Verification then catches a rewritten chain (checkpoint/head hash differs), a
 * truncated tail (head beyond the last row), rows appended without the key (head before the
 * last row) and forged checkpoints (bad MAC).
 *
 * Appends run in one IMMEDIATE transaction that reads the current tail first, so several
 * processes can append to one store: SQLite's write lock serialises them.
 */
#include "belt_config.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "config/config.h"
#include "guard/audit.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/log.h"

#define HASH_LEN 32
#define MAC_LEN  crypto_auth_hmacsha256_BYTES
#define MAX_KEY  128

/* The append path's statements, prepared once per handle (a batch runs all five). */
enum { Q_TAIL, Q_INSERT, Q_HEAD, Q_LAST_CP, Q_CHECKPOINT, Q_N };

static const char *const q_sql[Q_N] = {
    [Q_TAIL] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [Q_INSERT] = "INSERT INTO audit(seq, ts_ms, kind, actor, subject, content, prev_hash, hash)"
                 " VALUES(?,?,?,?,?,?,?,?)",
    [Q_HEAD] = "INSERT OR REPLACE INTO audit_head(id, seq, ts_ms, hash, mac) VALUES(1,?,?,?,?)",
    [Q_LAST_CP] = "SELECT coalesce(max(seq), 0) FROM audit_checkpoints",
    [Q_CHECKPOINT] =
        "INSERT OR IGNORE INTO audit_checkpoints(seq, ts_ms, hash, mac) VALUES(?,?,?,?)",
};

struct belt_audit {
    struct belt_store *st;      /* borrowed */
    sqlite3_stmt *q[Q_N];       /* prepared on first use; finalized by belt_audit_close */
    unsigned char key[MAX_KEY]; /* MAC key; wiped on close */
    size_t key_len;             /* its length */
    uint32_t every;             /* rows between checkpoints */
};

/* Statement k of the handle, reset and ready to bind. */
static belt_status stmt(struct belt_audit *a, int k, sqlite3_stmt **out, struct belt_error *err)
{
    if (!a->q[k]) {
        belt_status s = belt__store_prepare(a->st, q_sql[k], &a->q[k], err);
        if (s != BELT_OK)
            return s;
    }
    sqlite3_reset(a->q[k]);
    sqlite3_clear_bindings(a->q[k]);
    *out = a->q[k];
    return BELT_OK;
}

struct belt_audit_params belt_audit_default_params(void)
{
    struct belt_audit_params p;
    memset(&p, 0, sizeof(p));
    p.checkpoint_every = 1000;
    return p;
}

belt_status belt_audit_open(const struct belt_audit_params *p, struct belt_audit **out,
                            struct belt_error *err)
{
    *out = NULL;
    if (!p || !p->store || !p->key || p->key_len < 16 || p->key_len > MAX_KEY)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "audit: needs a store and a MAC key of 16..%d bytes", MAX_KEY);
    if (p->store->read_only)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "audit: the store is read-only");
    struct belt_audit *a = belt_calloc(1, sizeof(*a));
    if (!a)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    a->st = p->store;
    memcpy(a->key, p->key, p->key_len);
    a->key_len = p->key_len;
    a->every = p->checkpoint_every ? p->checkpoint_every : 1000;
    *out = a;
    return BELT_OK;
}

belt_status belt_audit_open_config(const struct belt_config *cfg, struct belt_store *st,
                                   struct belt_audit **out, struct belt_error *err)
{
    unsigned char key[32];
    belt_status s = belt_guard_secret(cfg, BELT_SECRET_AUDIT, 1, key, err);
    if (s != BELT_OK)
        return belt__error_prefix(err, "audit key: ");
    struct belt_cfg_guard_view v;
    belt__cfg_guard_view(&cfg->guard, cfg->dir, cfg->store.path, &v);
    struct belt_audit_params p = belt_audit_default_params();
    p.store = st;
    p.key = key;
    p.key_len = sizeof(key);
    p.checkpoint_every = (uint32_t)v.checkpoint_every;
    s = belt_audit_open(&p, out, err);
    sodium_memzero(key, sizeof(key));
    return s;
}

/* HMAC-SHA256(key, "belt-audit-v1" || what || seq (8 bytes, big-endian) || hash). */
static void mac_of(const unsigned char *key, size_t key_len, const char *what, int64_t seq,
                   const unsigned char *hash, unsigned char out[MAC_LEN])
{
    crypto_auth_hmacsha256_state s;
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)((uint64_t)seq >> (56 - 8 * i));
    crypto_auth_hmacsha256_init(&s, key, key_len);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *)"belt-audit-v1", 13);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *)what, strlen(what));
    crypto_auth_hmacsha256_update(&s, be, sizeof(be));
    crypto_auth_hmacsha256_update(&s, hash, HASH_LEN);
    crypto_auth_hmacsha256_final(&s, out);
}

/* Whether `mac` is the MAC of (what, seq, hash) under key; always 1 without a key (NULL). */
static int mac_verifies(const unsigned char *key, size_t key_len, const char *what, int64_t seq,
                        const unsigned char *hash, const void *mac)
{
    if (!key)
        return 1;
    unsigned char want[MAC_LEN];
    mac_of(key, key_len, what, seq, hash, want);
    return sodium_memcmp(want, mac, MAC_LEN) == 0;
}

static void chain_hash(const unsigned char *prev, const char *content, size_t n,
                       unsigned char out[HASH_LEN])
{
    crypto_hash_sha256_state s;
    crypto_hash_sha256_init(&s);
    crypto_hash_sha256_update(&s, prev, HASH_LEN);
    crypto_hash_sha256_update(&s, (const unsigned char *)content, n);
    crypto_hash_sha256_final(&s, out);
}

size_t belt__audit_real(char out[BELT__AUDIT_REAL_MAX], double v)
{
    int n = snprintf(out, BELT__AUDIT_REAL_MAX, "%.17g", v);
    if (n < 0 || n >= BELT__AUDIT_REAL_MAX - 2)
        n = 0;
    out[n] = '\0';
    char *e = strchr(out, 'e');
    if (!e && !strchr(out, '.')) {
        memcpy(out + n, ".0", 3);
        return (size_t)n + 2;
    }
    if (e) { /* "1e+20" -> "1e20", "2.5e-06" -> "2.5e-6" */
        char *d = e + 1, *src = e + 1;
        if (*src == '-')
            d = ++src;
        else if (*src == '+')
            src++;
        while (*src == '0' && src[1])
            src++;
        memmove(d, src, strlen(src) + 1);
        n = (int)strlen(out);
    }
    return (size_t)n;
}

/* Every byte printable ASCII (then JSON escapes only '"' and '\\', the same in any writer). */
static int printable(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static belt_status put_str_or_null(struct belt_buf *b, const char *key, const char *v)
{
    belt_status st = belt_buf_puts(b, key);
    if (st == BELT_OK)
        st = v ? belt_buf_append_json_string(b, v, strlen(v)) : belt_buf_puts(b, "null");
    return st;
}

/* The envelope around data that is already canonical (see belt__audit_append_canonical). */
static belt_status canonical_concat(const struct belt_audit_event *ev, int64_t seq, int64_t ts,
                                    char **out, struct belt_error *err)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    const char *data = ev->data_json && *ev->data_json ? ev->data_json : "{}";
    belt_status st = belt_buf_reserve(&b, strlen(data) + 128);
    if (st == BELT_OK)
        st = put_str_or_null(&b, "{\"actor\":", ev->actor);
    if (st == BELT_OK)
        st = belt_buf_puts(&b, ",\"data\":");
    if (st == BELT_OK)
        st = belt_buf_puts(&b, data);
    if (st == BELT_OK)
        st = put_str_or_null(&b, ",\"kind\":", ev->kind);
    if (st == BELT_OK)
        st = belt_buf_printf(&b, ",\"seq\":%lld", (long long)seq);
    if (st == BELT_OK)
        st = put_str_or_null(&b, ",\"subject\":", ev->subject);
    if (st == BELT_OK)
        st = belt_buf_printf(&b, ",\"ts\":%lld}", (long long)ts);
    if (st != BELT_OK) {
        belt_buf_deinit(&b);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    *out = belt_buf_detach(&b, NULL);
    return BELT_OK;
}

/* The canonical content of one event (caller frees). data_canonical: the caller promises
 * data_json is canonical already (belt__audit_append_canonical). */
static belt_status canonical(const struct belt_audit_event *ev, int data_canonical, int64_t seq,
                             int64_t ts, char **out, struct belt_error *err)
{
    *out = NULL;
    if (data_canonical && printable(ev->kind) && printable(ev->actor) && printable(ev->subject) &&
        printable(ev->data_json))
        return canonical_concat(ev, seq, ts, out, err);
    json_t *data = NULL;
    if (ev->data_json && *ev->data_json) {
        belt_status st =
            belt_json_parse(ev->data_json, strlen(ev->data_json), "audit data", 0, &data, err);
        if (st != BELT_OK)
            return st == BELT_ERR_NOMEM
                       ? st
                       : belt__error_set(err, BELT_ERR_INVALID, 0, "audit: event data is not JSON");
        if (!json_is_object(data)) {
            json_decref(data);
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "audit: event data must be a JSON object");
        }
    } else {
        data = json_object();
    }
    json_t *o =
        json_pack("{s:I, s:I, s:s, s:s?, s:s?, s:o}", "seq", (json_int_t)seq, "ts", (json_int_t)ts,
                  "kind", ev->kind, "actor", ev->actor, "subject", ev->subject, "data", data);
    if (!o)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "audit: out of memory (or bad UTF-8)");
    *out = belt_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                  JSON_REAL_PRECISION(17));
    json_decref(o);
    return *out ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
}

/* The last row's (seq, hash), or (0, zeros) for an empty log. */
static belt_status read_tail(struct belt_audit *a, int64_t *seq, unsigned char hash[HASH_LEN],
                             struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = stmt(a, Q_TAIL, &q, err);
    if (s != BELT_OK)
        return s;
    *seq = 0;
    memset(hash, 0, HASH_LEN);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(q, 0);
        if (sqlite3_column_bytes(q, 1) == HASH_LEN)
            memcpy(hash, sqlite3_column_blob(q, 1), HASH_LEN);
    } else if (rc != SQLITE_DONE) {
        s = belt__store_error(a->st, rc, err, "audit tail");
    }
    sqlite3_reset(q);
    return s;
}

static belt_status step_done(struct belt_store *st, sqlite3_stmt *q, struct belt_error *err,
                             const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? BELT_OK : belt__store_error(st, rc, err, what);
}

static belt_status insert_rows(struct belt_audit *a, const struct belt_audit_event *ev, size_t n,
                               int data_canonical, int64_t *seq, unsigned char hash[HASH_LEN],
                               int64_t *ts_last, struct belt_error *err)
{
    sqlite3_stmt *ins = NULL;
    belt_status s = stmt(a, Q_INSERT, &ins, err);
    for (size_t i = 0; i < n && s == BELT_OK; i++) {
        if (!ev[i].kind || !*ev[i].kind) {
            s = belt__error_set(err, BELT_ERR_INVALID, 0, "audit: event %zu has no kind", i);
            break;
        }
        int64_t ts = ev[i].ts_ms ? ev[i].ts_ms : belt_wall_ms();
        char *content = NULL;
        s = canonical(&ev[i], data_canonical, *seq + 1, ts, &content, err);
        if (s != BELT_OK)
            break;
        unsigned char h[HASH_LEN];
        chain_hash(hash, content, strlen(content), h);
        sqlite3_bind_int64(ins, 1, *seq + 1);
        sqlite3_bind_int64(ins, 2, ts);
        sqlite3_bind_text(ins, 3, ev[i].kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, ev[i].actor, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, ev[i].subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 6, content, -1, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 7, hash, HASH_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 8, h, HASH_LEN, SQLITE_STATIC);
        s = step_done(a->st, ins, err, "audit insert");
        belt_free(content);
        if (s == BELT_OK) {
            (*seq)++;
            memcpy(hash, h, HASH_LEN);
            *ts_last = ts;
        }
    }
    return s;
}

/* Rewrite the MACed head to (seq, hash). */
static belt_status write_head(struct belt_audit *a, int64_t seq, int64_t ts,
                              const unsigned char *hash, struct belt_error *err)
{
    unsigned char mac[MAC_LEN];
    mac_of(a->key, a->key_len, "head", seq, hash, mac);
    sqlite3_stmt *q = NULL;
    belt_status s = stmt(a, Q_HEAD, &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, seq);
    sqlite3_bind_int64(q, 2, ts);
    sqlite3_bind_blob(q, 3, hash, HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, mac, MAC_LEN, SQLITE_STATIC);
    return step_done(a->st, q, err, "audit head");
}

static belt_status last_checkpoint(struct belt_audit *a, int64_t *seq, struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = stmt(a, Q_LAST_CP, &q, err);
    if (s != BELT_OK)
        return s;
    int rc = sqlite3_step(q);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    if (rc != SQLITE_ROW)
        s = belt__store_error(a->st, rc, err, "audit checkpoints");
    sqlite3_reset(q);
    return s;
}

static belt_status write_checkpoint(struct belt_audit *a, int64_t seq, int64_t ts,
                                    const unsigned char *hash, struct belt_error *err)
{
    unsigned char mac[MAC_LEN];
    mac_of(a->key, a->key_len, "checkpoint", seq, hash, mac);
    sqlite3_stmt *q = NULL;
    belt_status s = stmt(a, Q_CHECKPOINT, &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, seq);
    sqlite3_bind_int64(q, 2, ts);
    sqlite3_bind_blob(q, 3, hash, HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, mac, MAC_LEN, SQLITE_STATIC);
    return step_done(a->st, q, err, "audit checkpoint");
}

/* Inside a transaction: append, then head, then a checkpoint when due (or forced). */
static belt_status append_locked(struct belt_audit *a, const struct belt_audit_event *ev, size_t n,
                                 int data_canonical, int force_checkpoint, int64_t *last_seq,
                                 struct belt_error *err)
{
    int64_t seq = 0, cp = 0, ts = belt_wall_ms();
    unsigned char hash[HASH_LEN];
    belt_status s = read_tail(a, &seq, hash, err);
    if (s == BELT_OK)
        s = insert_rows(a, ev, n, data_canonical, &seq, hash, &ts, err);
    if (s == BELT_OK && seq > 0)
        s = write_head(a, seq, ts, hash, err);
    if (s == BELT_OK && seq > 0)
        s = last_checkpoint(a, &cp, err);
    if (s == BELT_OK && seq > cp && (force_checkpoint || seq - cp >= (int64_t)a->every))
        s = write_checkpoint(a, seq, ts, hash, err);
    if (last_seq)
        *last_seq = seq;
    return s;
}

static belt_status append_txn(struct belt_audit *a, const struct belt_audit_event *ev, size_t n,
                              int data_canonical, int force_checkpoint, int64_t *last_seq,
                              struct belt_error *err)
{
    sqlite3 *db = belt__store_db(a->st);
    int own = sqlite3_get_autocommit(db);
    belt_status s = own ? belt__store_begin(a->st, err) : BELT_OK;
    if (s != BELT_OK)
        return s;
    s = append_locked(a, ev, n, data_canonical, force_checkpoint, last_seq, err);
    if (own) {
        if (s == BELT_OK)
            s = belt__store_commit(a->st, err);
        if (s != BELT_OK)
            belt__store_rollback(a->st);
    }
    return s;
}

belt_status belt_audit_append(struct belt_audit *a, const struct belt_audit_event *ev,
                              int64_t *seq_out, struct belt_error *err)
{
    return append_txn(a, ev, 1, 0, 0, seq_out, err);
}

belt_status belt_audit_append_batch(struct belt_audit *a, const struct belt_audit_event *ev,
                                    size_t n, int64_t *last_seq, struct belt_error *err)
{
    if (n == 0) {
        if (last_seq)
            *last_seq = 0;
        return BELT_OK;
    }
    return append_txn(a, ev, n, 0, 0, last_seq, err);
}

belt_status belt__audit_append_canonical(struct belt_audit *a, const struct belt_audit_event *ev,
                                         size_t n, int64_t *last_seq, struct belt_error *err)
{
    if (n == 0) {
        if (last_seq)
            *last_seq = 0;
        return BELT_OK;
    }
    return append_txn(a, ev, n, 1, 0, last_seq, err);
}

belt_status belt_audit_checkpoint(struct belt_audit *a, struct belt_error *err)
{
    return append_txn(a, NULL, 0, 0, 1, NULL, err);
}

void belt_audit_close(struct belt_audit *a)
{
    if (!a)
        return;
    struct belt_error err = {0};
    if (belt_audit_checkpoint(a, &err) != BELT_OK)
        BELT_LOG_W("audit: final checkpoint failed: %s", err.msg);
    for (int k = 0; k < Q_N; k++)
        sqlite3_finalize(a->q[k]);
    sodium_memzero(a->key, sizeof(a->key));
    belt_free(a);
}

/* ---- verification ------------------------------------------------------------------------ */

struct verifier {
    struct belt_audit_report *rep; /* being filled */
    const unsigned char *key;      /* NULL: MACs not checked */
    size_t key_len;
};

static void problem(struct verifier *v, enum belt_audit_problem p, int64_t seq, const char *fmt,
                    ...) BELT_PRINTF(4, 5);

static void problem(struct verifier *v, enum belt_audit_problem p, int64_t seq, const char *fmt,
                    ...)
{
    v->rep->n_problems++;
    if (v->rep->problem != BELT_AUDIT_OK && v->rep->bad_seq <= seq)
        return; /* keep the first bad row */
    v->rep->problem = p;
    v->rep->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->rep->detail, sizeof(v->rep->detail), fmt, ap);
    va_end(ap);
}

static int col_eq(sqlite3_stmt *q, int col, const json_t *content, const char *key)
{
    const char *a = (const char *)sqlite3_column_text(q, col);
    const json_t *j = json_object_get(content, key);
    const char *b = json_is_string(j) ? json_string_value(j) : NULL;
    if (!a || !b)
        return !a && (!j || json_is_null(j));
    return strcmp(a, b) == 0;
}

/* Check one row against its content, its hash and the previous row. */
static void verify_row(struct verifier *v, sqlite3_stmt *q, int64_t *expected,
                       unsigned char prev[HASH_LEN])
{
    int64_t seq = sqlite3_column_int64(q, 0);
    const char *content = (const char *)sqlite3_column_text(q, 5);
    int clen = sqlite3_column_bytes(q, 5);
    const void *ph = sqlite3_column_blob(q, 6), *hh = sqlite3_column_blob(q, 7);
    int ok_blobs = sqlite3_column_bytes(q, 6) == HASH_LEN && sqlite3_column_bytes(q, 7) == HASH_LEN;
    v->rep->n_rows++;
    v->rep->last_seq = seq;
    if (seq > *expected) {
        problem(v, BELT_AUDIT_DELETED, *expected, "row %lld is missing (deleted%s)",
                (long long)*expected, seq > *expected + 1 ? " with the rows after it" : "");
        if (ok_blobs)
            memcpy(prev, ph, HASH_LEN); /* resynchronise after the gap */
    } else if (seq < *expected) {
        problem(v, BELT_AUDIT_INSERTED, seq, "row %lld is out of sequence (inserted)",
                (long long)seq);
    }
    json_t *c = content ? json_loadb(content, (size_t)clen, 0, NULL) : NULL;
    json_int_t cseq = c ? json_integer_value(json_object_get(c, "seq")) : -1;
    unsigned char h[HASH_LEN];
    if (ok_blobs)
        chain_hash(ph, content ? content : "", (size_t)clen, h);
    if (!c || !ok_blobs || memcmp(h, hh, HASH_LEN) != 0) {
        problem(v, BELT_AUDIT_EDITED, seq, "row %lld: content does not match its hash (edited)",
                (long long)seq);
    } else if (cseq != seq) {
        problem(v, BELT_AUDIT_REORDERED, seq,
                "row %lld holds the content written as row %lld (reordered)", (long long)seq,
                (long long)cseq);
    } else if (json_integer_value(json_object_get(c, "ts")) != sqlite3_column_int64(q, 1) ||
               !col_eq(q, 2, c, "kind") || !col_eq(q, 3, c, "actor") ||
               !col_eq(q, 4, c, "subject")) {
        problem(v, BELT_AUDIT_EDITED, seq,
                "row %lld: columns differ from its hashed content "
                "(edited)",
                (long long)seq);
    } else if (memcmp(ph, prev, HASH_LEN) != 0 && seq <= *expected) {
        problem(v, BELT_AUDIT_INSERTED, seq,
                "row %lld does not chain to row %lld (inserted, or the rows before it were "
                "rewritten)",
                (long long)seq, (long long)(seq - 1));
    }
    json_decref(c);
    if (ok_blobs)
        memcpy(prev, hh, HASH_LEN);
    if (seq >= *expected)
        *expected = seq + 1;
}

/* The stored hash of row seq into out; 0 if there is no such row. */
static int row_hash(struct belt_store *st, int64_t seq, unsigned char out[HASH_LEN])
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(belt__store_db(st), "SELECT hash FROM audit WHERE seq = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(q, 1, seq);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == HASH_LEN) {
        memcpy(out, sqlite3_column_blob(q, 0), HASH_LEN);
        found = 1;
    }
    sqlite3_finalize(q);
    return found;
}

/* A MACed (seq, hash) pair — a checkpoint or the head — against the rows. */
static void verify_anchor(struct verifier *v, struct belt_store *st, const char *what,
                          sqlite3_stmt *q)
{
    int64_t seq = sqlite3_column_int64(q, 0);
    const void *hash = sqlite3_column_blob(q, 1), *mac = sqlite3_column_blob(q, 2);
    if (sqlite3_column_bytes(q, 1) != HASH_LEN || sqlite3_column_bytes(q, 2) != MAC_LEN) {
        problem(v, BELT_AUDIT_BAD_CHECKPOINT, seq, "%s at row %lld is malformed", what,
                (long long)seq);
        return;
    }
    if (!mac_verifies(v->key, v->key_len, what, seq, hash, mac)) {
        problem(v, BELT_AUDIT_BAD_CHECKPOINT, seq,
                "%s at row %lld: MAC does not verify (forged, or the wrong key)", what,
                (long long)seq);
        return;
    }
    unsigned char h[HASH_LEN];
    if (!row_hash(st, seq, h)) {
        if (seq > v->rep->last_seq)
            problem(v, BELT_AUDIT_TRUNCATED, v->rep->last_seq + 1,
                    "rows %lld..%lld are gone: the %s covers them (truncated tail)",
                    (long long)(v->rep->last_seq + 1), (long long)seq, what);
        else
            problem(v, BELT_AUDIT_DELETED, seq, "row %lld is missing: the %s covers it",
                    (long long)seq, what);
    } else if (memcmp(h, hash, HASH_LEN) != 0) {
        problem(v, BELT_AUDIT_EDITED, seq,
                "row %lld differs from the %s made when it was written (rows up to it rewritten)",
                (long long)seq, what);
    }
}

static belt_status verify_anchors(struct verifier *v, struct belt_store *st, struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st, "SELECT seq, hash, mac FROM audit_checkpoints ORDER BY seq", &q, err);
    if (s != BELT_OK)
        return s;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        v->rep->n_checkpoints++;
        v->rep->last_checkpoint_seq = sqlite3_column_int64(q, 0);
        verify_anchor(v, st, "checkpoint", q);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return belt__store_error(st, rc, err, "audit checkpoints");
    s = belt__store_prepare(st, "SELECT seq, hash, mac FROM audit_head WHERE id = 1", &q, err);
    if (s != BELT_OK)
        return s;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int64_t hseq = sqlite3_column_int64(q, 0);
        verify_anchor(v, st, "head", q);
        if (hseq < v->rep->last_seq)
            problem(v, BELT_AUDIT_UNCHECKPOINTED, hseq + 1,
                    "rows %lld..%lld were added without the audit key (head is at %lld)",
                    (long long)(hseq + 1), (long long)v->rep->last_seq, (long long)hseq);
    } else if (rc == SQLITE_DONE && v->rep->n_rows > 0) {
        problem(v, BELT_AUDIT_UNCHECKPOINTED, v->rep->last_seq + 1,
                "the audit head is missing (deleted): rows after the last checkpoint (%lld) "
                "cannot be vouched for",
                (long long)v->rep->last_checkpoint_seq);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? BELT_OK
                                                 : belt__store_error(st, rc, err, "audit head");
}

/* The archive anchors, oldest first: each MAC (with the key), and where the chain in the table
 * resumes — after the last one, from its hash (expected row and prev hash). */
static belt_status verify_archived(struct verifier *v, struct belt_store *st, int64_t *expected,
                                   unsigned char prev[HASH_LEN], struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s =
        belt__store_prepare(st, "SELECT seq, hash, mac FROM audit_archived ORDER BY seq", &q, err);
    if (s != BELT_OK)
        return s;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(q, 0);
        const void *hash = sqlite3_column_blob(q, 1), *mac = sqlite3_column_blob(q, 2);
        if (sqlite3_column_bytes(q, 1) != HASH_LEN || sqlite3_column_bytes(q, 2) != MAC_LEN) {
            problem(v, BELT_AUDIT_BAD_CHECKPOINT, seq, "archive anchor at row %lld is malformed",
                    (long long)seq);
            continue;
        }
        if (!mac_verifies(v->key, v->key_len, "archive", seq, hash, mac))
            problem(v, BELT_AUDIT_BAD_CHECKPOINT, seq,
                    "archive anchor at row %lld: MAC does not verify (forged, or the wrong key)",
                    (long long)seq);
        v->rep->archived_through = seq;
        *expected = seq + 1;
        memcpy(prev, hash, HASH_LEN);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? BELT_OK : belt__store_error(st, rc, err, "audit archive anchors");
}

belt_status belt_audit_verify(struct belt_store *st, const unsigned char *key, size_t key_len,
                              struct belt_audit_report *rep, struct belt_error *err)
{
    memset(rep, 0, sizeof(*rep));
    struct verifier v = {rep, key, key_len};
    rep->key_checked = key != NULL;
    int64_t expected = 1;
    unsigned char prev[HASH_LEN] = {0};
    belt_status s = verify_archived(&v, st, &expected, prev, err);
    if (s != BELT_OK)
        return s;
    sqlite3_stmt *q = NULL;
    s = belt__store_prepare(st,
                            "SELECT seq, ts_ms, kind, actor, subject, content, "
                            "prev_hash, hash FROM audit ORDER BY seq",
                            &q, err);
    if (s != BELT_OK)
        return s;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        verify_row(&v, q, &expected, prev);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return belt__store_error(st, rc, err, "audit");
    s = verify_anchors(&v, st, err);
    if (s != BELT_OK)
        return s;
    if (rep->problem != BELT_AUDIT_OK)
        return belt__error_set(err, BELT_ERR_CHECKSUM, 0, "audit log tampered: %s", rep->detail);
    return BELT_OK;
}

/* ---- listing ----------------------------------------------------------------------------- */

belt_status belt_audit_list(struct belt_store *st, int64_t from_seq, int64_t to_seq,
                            const char *kind, belt_audit_row_fn *fn, void *ud,
                            struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st,
        "SELECT seq, ts_ms, kind, actor, subject, content, prev_hash, hash FROM audit "
        "WHERE (CASE WHEN ?1 < 0 THEN seq > (SELECT coalesce(max(seq), 0) FROM audit) + ?1 "
        "ELSE seq >= ?1 END) AND (?2 <= 0 OR seq <= ?2) AND (?3 IS NULL OR substr(kind, 1, "
        "length(?3)) = ?3) ORDER BY seq",
        &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, from_seq);
    sqlite3_bind_int64(q, 2, to_seq);
    sqlite3_bind_text(q, 3, kind, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct belt_audit_row r;
        memset(&r, 0, sizeof(r));
        r.seq = sqlite3_column_int64(q, 0);
        r.ts_ms = sqlite3_column_int64(q, 1);
        r.kind = (const char *)sqlite3_column_text(q, 2);
        r.actor = (const char *)sqlite3_column_text(q, 3);
        r.subject = (const char *)sqlite3_column_text(q, 4);
        r.content = (const char *)sqlite3_column_text(q, 5);
        if (sqlite3_column_bytes(q, 6) == HASH_LEN)
            sodium_bin2hex(r.prev_hash, sizeof(r.prev_hash), sqlite3_column_blob(q, 6), HASH_LEN);
        if (sqlite3_column_bytes(q, 7) == HASH_LEN)
            sodium_bin2hex(r.hash, sizeof(r.hash), sqlite3_column_blob(q, 7), HASH_LEN);
        if (fn(ud, &r) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        s = belt__store_error(st, rc, err, "audit list");
    sqlite3_finalize(q);
    return s;
}

int belt_audit_row_write_json(const struct belt_audit_row *r, FILE *fp)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    int bad = belt_buf_printf(&b, "{\"seq\":%lld,\"ts_ms\":%lld,\"kind\":", (long long)r->seq,
                              (long long)r->ts_ms) != BELT_OK;
    bad |= belt_buf_append_json_string(&b, r->kind, strlen(r->kind)) != BELT_OK;
    bad |= belt_buf_puts(&b, ",\"content\":") != BELT_OK;
    bad |= belt_buf_append_json_string(&b, r->content, strlen(r->content)) != BELT_OK;
    bad |= belt_buf_printf(&b, ",\"prev_hash\":\"%s\",\"hash\":\"%s\"}\n", r->prev_hash, r->hash) !=
           BELT_OK;
    bad = bad || fwrite(b.data, 1, b.len, fp) != b.len;
    belt_buf_deinit(&b);
    return bad || ferror(fp) ? -1 : 0;
}

/* ---- archiving ---------------------------------------------------------------------------- */

/* The last row started before before_ms (0: none). */
static belt_status last_row_before(struct belt_store *st, int64_t before_ms, int64_t *out,
                                   struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status s =
        belt__store_prepare(st, "SELECT coalesce(max(seq), 0) FROM audit WHERE ts_ms < ?", &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, before_ms);
    int rc = sqlite3_step(q);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? BELT_OK
                                                 : belt__store_error(st, rc, err, "audit archive");
}

struct archive_out {
    FILE *fp;
    int64_t n;
    int failed;
};

static int archive_row(void *ud, const struct belt_audit_row *r)
{
    struct archive_out *o = ud;
    if (belt_audit_row_write_json(r, o->fp) != 0) {
        o->failed = 1;
        return 1;
    }
    o->n++;
    return 0;
}

/* Inside a transaction: anchor the chain at row `to`, then delete the rows and checkpoints it
 * covers (the delete trigger allows exactly those). */
static belt_status anchor_and_delete(struct belt_audit *a, int64_t to, const char *path,
                                     struct belt_error *err)
{
    unsigned char hash[HASH_LEN], mac[MAC_LEN];
    if (!row_hash(a->st, to, hash))
        return belt__error_set(err, BELT_ERR_STORE, 0, "audit row %lld vanished while archiving",
                               (long long)to);
    mac_of(a->key, a->key_len, "archive", to, hash, mac);
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        a->st, "INSERT INTO audit_archived(seq, ts_ms, hash, mac, file) VALUES(?,?,?,?,?)", &q,
        err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_int64(q, 1, to);
    sqlite3_bind_int64(q, 2, belt_wall_ms());
    sqlite3_bind_blob(q, 3, hash, HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, mac, MAC_LEN, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, path, -1, SQLITE_STATIC);
    s = step_done(a->st, q, err, "audit archive anchor");
    sqlite3_finalize(q);
    static const char *const del[] = {"DELETE FROM audit WHERE seq <= ?",
                                      "DELETE FROM audit_checkpoints WHERE seq <= ?"};
    for (size_t i = 0; s == BELT_OK && i < BELT_ARRAY_LEN(del); i++) {
        s = belt__store_prepare(a->st, del[i], &q, err);
        if (s != BELT_OK)
            break;
        sqlite3_bind_int64(q, 1, to);
        s = step_done(a->st, q, err, "audit archive delete");
        sqlite3_finalize(q);
    }
    return s;
}

belt_status belt_audit_archive(struct belt_audit *a, int64_t through_seq, int64_t before_ms,
                               const char *path, int64_t *from, int64_t *to, struct belt_error *err)
{
    *from = *to = 0;
    if (!path || !*path || (through_seq <= 0 && before_ms <= 0))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "audit archive: a file and a last row or a time are required");
    if (a->key_len == 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "audit archive needs the audit key");
    struct belt_audit_report rep;
    belt_status s = belt_audit_verify(a->st, a->key, a->key_len, &rep, err);
    if (s == BELT_ERR_CHECKSUM)
        return belt__error_set(err, s, 0, "refusing to archive a tampered audit log: %s",
                               rep.detail);
    if (s != BELT_OK)
        return s;
    int64_t cut = rep.last_seq - 1; /* the newest row stays: the head points at it */
    if (through_seq > 0 && through_seq < cut)
        cut = through_seq;
    if (before_ms > 0) {
        int64_t by_time = 0;
        s = last_row_before(a->st, before_ms, &by_time, err);
        if (s != BELT_OK)
            return s;
        if (by_time < cut)
            cut = by_time;
    }
    int64_t first = rep.archived_through + 1;
    if (cut < first)
        return BELT_OK; /* nothing to archive */
    struct belt_atomic_file af = {0};
    s = belt_atomic_file_open(&af, path, err);
    if (s != BELT_OK)
        return s;
    struct archive_out o = {af.fp, 0, 0};
    s = belt_audit_list(a->st, first, cut, NULL, archive_row, &o, err);
    if (s == BELT_OK && (o.failed || o.n != cut - first + 1))
        s = belt__error_set(err, o.failed ? BELT_ERR_IO : BELT_ERR_STORE, 0,
                            o.failed ? "%s: write failed" : "%s: rows changed while archiving",
                            path);
    int existed = 0;
    if (s == BELT_OK)
        s = belt_atomic_file_commit_new(&af, &existed, err);
    else
        belt_atomic_file_abort(&af);
    if (s == BELT_OK && existed)
        s = belt__error_set(err, BELT_ERR_INVALID, 0,
                            "%s already exists: archives are never overwritten", path);
    if (s != BELT_OK)
        return s;
    s = belt__store_begin(a->st, err); /* the file is on disk: now the rows may go */
    if (s == BELT_OK) {
        s = anchor_and_delete(a, cut, path, err);
        if (s == BELT_OK)
            s = belt__store_commit(a->st, err);
        else
            belt__store_rollback(a->st);
    }
    if (s != BELT_OK)
        return s;
    *from = first;
    *to = cut;
    return BELT_OK;
}

/* ---- verifying an archive file -------------------------------------------------------------- */

/* The anchor of row seq: its hash, and whether its MAC verifies (always 1 without a key).
 * Returns 0 when there is no anchor at seq. */
static int anchor_at(struct belt_store *st, const unsigned char *key, size_t key_len, int64_t seq,
                     unsigned char hash[HASH_LEN], int *mac_ok)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(belt__store_db(st), "SELECT hash, mac FROM audit_archived WHERE seq = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(q, 1, seq);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == HASH_LEN &&
        sqlite3_column_bytes(q, 1) == MAC_LEN) {
        memcpy(hash, sqlite3_column_blob(q, 0), HASH_LEN);
        *mac_ok = mac_verifies(key, key_len, "archive", seq, hash, sqlite3_column_blob(q, 1));
        found = 1;
    }
    sqlite3_finalize(q);
    return found;
}

/* One line of the file: its row's seq, content and both hashes; 0 when malformed. */
static int parse_archive_line(const char *line, int64_t *seq, json_t **doc, const char **content,
                              unsigned char prev[HASH_LEN], unsigned char hash[HASH_LEN])
{
    *doc = json_loads(line, 0, NULL);
    json_t *s = json_object_get(*doc, "seq"), *c = json_object_get(*doc, "content");
    const char *ph = json_string_value(json_object_get(*doc, "prev_hash"));
    const char *hh = json_string_value(json_object_get(*doc, "hash"));
    if (!json_is_integer(s) || !json_is_string(c) || !ph || !hh ||
        sodium_hex2bin(prev, HASH_LEN, ph, strlen(ph), NULL, NULL, NULL) != 0 ||
        sodium_hex2bin(hash, HASH_LEN, hh, strlen(hh), NULL, NULL, NULL) != 0)
        return 0;
    *seq = json_integer_value(s);
    *content = json_string_value(c);
    return 1;
}

belt_status belt_audit_verify_archive(struct belt_store *st, const unsigned char *key,
                                      size_t key_len, const char *path,
                                      struct belt_audit_report *rep, struct belt_error *err)
{
    memset(rep, 0, sizeof(*rep));
    struct verifier v = {rep, key, key_len};
    rep->key_checked = key != NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return belt__error_set(err, BELT_ERR_IO, errno, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    unsigned char prev[HASH_LEN] = {0}, last[HASH_LEN] = {0};
    int64_t expected = 0;
    int malformed = 0;
    while (!malformed && getline(&line, &cap, fp) > 0) {
        int64_t seq = 0;
        json_t *doc = NULL;
        const char *content = NULL;
        unsigned char ph[HASH_LEN], hh[HASH_LEN], h[HASH_LEN];
        int ok = parse_archive_line(line, &seq, &doc, &content, ph, hh);
        if (!ok) { /* the file cannot be read further: no verdict on its end */
            problem(&v, BELT_AUDIT_EDITED, expected ? expected : 1,
                    "%s: line %lld is not an audit row", path, (long long)rep->n_rows + 1);
            json_decref(doc);
            malformed = 1;
            break;
        }
        if (rep->n_rows == 0) { /* the first row chains to zeros or to the anchor before it */
            int mac_ok = 1;
            if (seq > 1 && !anchor_at(st, key, key_len, seq - 1, prev, &mac_ok))
                problem(&v, BELT_AUDIT_DELETED, seq,
                        "row %lld: no anchor of row %lld in the store to chain to", (long long)seq,
                        (long long)(seq - 1));
            else if (!mac_ok)
                problem(&v, BELT_AUDIT_BAD_CHECKPOINT, seq - 1,
                        "archive anchor at row %lld: MAC does not verify (forged, or the wrong "
                        "key)",
                        (long long)(seq - 1));
            expected = seq;
        }
        rep->n_rows++;
        rep->last_seq = seq;
        json_t *c = json_loads(content, 0, NULL);
        chain_hash(ph, content, strlen(content), h);
        if (seq != expected)
            problem(&v, seq > expected ? BELT_AUDIT_DELETED : BELT_AUDIT_INSERTED, expected,
                    "row %lld: expected row %lld (rows %s)", (long long)seq, (long long)expected,
                    seq > expected ? "missing" : "out of sequence");
        else if (memcmp(h, hh, HASH_LEN) != 0)
            problem(&v, BELT_AUDIT_EDITED, seq,
                    "row %lld: content does not match its hash (edited)", (long long)seq);
        else if (json_integer_value(json_object_get(c, "seq")) != seq)
            problem(&v, BELT_AUDIT_REORDERED, seq,
                    "row %lld holds the content written as another row (reordered)",
                    (long long)seq);
        else if (memcmp(ph, prev, HASH_LEN) != 0)
            problem(&v, BELT_AUDIT_INSERTED, seq,
                    "row %lld does not chain to the row before it (inserted, or rewritten)",
                    (long long)seq);
        json_decref(c);
        json_decref(doc);
        memcpy(prev, hh, HASH_LEN);
        memcpy(last, hh, HASH_LEN);
        expected = seq + 1;
    }
    free(line); /* getline's buffer */
    int read_error = ferror(fp);
    fclose(fp);
    if (read_error)
        return belt__error_set(err, BELT_ERR_IO, 0, "%s: read error", path);
    if (rep->n_rows == 0 && rep->problem == BELT_AUDIT_OK)
        problem(&v, BELT_AUDIT_TRUNCATED, 1, "%s holds no rows", path);
    if (rep->n_rows > 0 &&
        !malformed) { /* the last row is an anchor: the store vouches for the file's end */
        unsigned char ah[HASH_LEN];
        int mac_ok = 1;
        if (!anchor_at(st, key, key_len, rep->last_seq, ah, &mac_ok))
            problem(&v, BELT_AUDIT_TRUNCATED, rep->last_seq,
                    "row %lld is not where an archive ended (rows cut from the end of the "
                    "file?)",
                    (long long)rep->last_seq);
        else if (!mac_ok)
            problem(&v, BELT_AUDIT_BAD_CHECKPOINT, rep->last_seq,
                    "archive anchor at row %lld: MAC does not verify (forged, or the wrong key)",
                    (long long)rep->last_seq);
        else if (memcmp(ah, last, HASH_LEN) != 0)
            problem(&v, BELT_AUDIT_EDITED, rep->last_seq,
                    "row %lld differs from the anchor stored when it was archived",
                    (long long)rep->last_seq);
        rep->archived_through = rep->last_seq;
    }
    if (rep->problem != BELT_AUDIT_OK)
        return belt__error_set(err, BELT_ERR_CHECKSUM, 0, "audit archive tampered: %s",
                               rep->detail);
    return BELT_OK;
}
