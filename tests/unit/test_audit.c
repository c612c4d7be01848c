/*
 * test_audit.c — the tamper-evident audit log: appends, batches, checkpoints, export, and
 * every kind of tampering done directly on the SQLite file (the way an attacker with write
 * access would), each caught with the right row named.
 */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "guard/audit.h"
#include "util/rng.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";

struct fixture {
    char dir[256];
    char path[512];
    struct belt_store *st;
    struct belt_audit *a;
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    belt_test_tmpdir(f.dir, sizeof(f.dir));
    snprintf(f.path, sizeof(f.path), "%s/belt.db", f.dir);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = f.path;
    struct belt_error err = {0};
    if (belt_store_open(&sp, &f.st, &err) != BELT_OK)
        fail_msg("%s", err.msg);
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = f.st;
    ap.key = key;
    ap.key_len = sizeof(key);
    ap.checkpoint_every = 4;
    if (belt_audit_open(&ap, &f.a, &err) != BELT_OK)
        fail_msg("%s", err.msg);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_audit_close(f->a);
    belt_store_close(f->st);
    belt_test_rmrf(f->dir);
    return 0;
}

/* Ten events: rows 1..10, checkpoints at 4 and 8 (every 4), head at 10. */
static void fill(struct fixture *f)
{
    char data[64];
    for (int i = 1; i <= 10; i++) {
        snprintf(data, sizeof(data), "{\"n\":%d,\"cost_usd\":0.0%d}", i, i);
        struct belt_audit_event ev = {"model.call", "key_test", "trace", data, 1000 + i};
        int64_t seq = 0;
        struct belt_error err = {0};
        BELT_ASSERT_OK_ERR(belt_audit_append(f->a, &ev, &seq, &err), &err);
        assert_int_equal(seq, i);
    }
}

/* Run SQL directly on the file, as an attacker would (dropping the append-only triggers). */
static void tamper(const struct fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db,
                          "DROP TRIGGER IF EXISTS audit_no_update;"
                          "DROP TRIGGER IF EXISTS audit_no_delete;",
                          NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("tamper: %s", msg);
    sqlite3_close(db);
}

static struct belt_audit_report verify(const struct fixture *f, belt_status want)
{
    struct belt_audit_report r;
    struct belt_error err = {0};
    belt_status s = belt_audit_verify(f->st, key, sizeof(key), &r, &err);
    if (s != want)
        fail_msg("verify returned %s (%s), expected %s", belt_status_name(s), err.msg,
                 belt_status_name(want));
    if (want == BELT_ERR_CHECKSUM)
        BELT_ASSERT_CONTAINS(err.msg, r.detail);
    return r;
}

static void audit_intact_log_verifies(void **state)
{
    struct fixture *f = *state;
    fill(f);
    struct belt_audit_report r = verify(f, BELT_OK);
    assert_int_equal(r.n_rows, 10);
    assert_int_equal(r.last_seq, 10);
    assert_int_equal(r.n_checkpoints, 2);
    assert_int_equal(r.last_checkpoint_seq, 8);
    assert_true(r.key_checked);
    assert_int_equal(r.problem, BELT_AUDIT_OK);
}

static void audit_append_only_triggers_refuse_edits(void **state)
{
    struct fixture *f = *state;
    fill(f);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE audit SET kind='x' WHERE seq=1", NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq=1", NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);
}

static void audit_detects_edited_content(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "UPDATE audit SET content = replace(content, '\"n\":6', '\"n\":66') WHERE seq = 6");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_EDITED);
    assert_int_equal(r.bad_seq, 6);
}

static void audit_detects_edited_columns(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "UPDATE audit SET actor = 'someone_else' WHERE seq = 3");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_EDITED);
    assert_int_equal(r.bad_seq, 3);
}

static void audit_detects_deleted_middle_row(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "DELETE FROM audit WHERE seq = 5");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_DELETED);
    assert_int_equal(r.bad_seq, 5);
}

static void audit_detects_inserted_forged_row(void **state)
{
    struct fixture *f = *state;
    fill(f);
    /* A forged row at the end with a correctly computed chain hash: SHA-256 has no key, so
     * only the MACed head can tell. */
    tamper(f, "INSERT INTO audit(seq, ts_ms, kind, actor, subject, content, prev_hash, hash) "
              "SELECT 11, 2000, 'key.create', 'attacker', NULL, 'x', hash, hash FROM audit "
              "WHERE seq = 10");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.bad_seq, 11);
    assert_true(r.problem == BELT_AUDIT_EDITED || r.problem == BELT_AUDIT_UNCHECKPOINTED);
}

static void audit_detects_rows_appended_without_key(void **state)
{
    struct fixture *f = *state;
    fill(f);
    /* Append through a writer with a different key: the chain is valid, the MACs are not. */
    struct belt_audit *other = NULL;
    static const unsigned char wrong[32] = "ffffffffffffffffffffffffffffffff";
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = f->st;
    ap.key = wrong;
    ap.key_len = sizeof(wrong);
    BELT_ASSERT_OK(belt_audit_open(&ap, &other, NULL));
    struct belt_audit_event ev = {"key.create", "attacker", NULL, NULL, 0};
    BELT_ASSERT_OK(belt_audit_append(other, &ev, NULL, NULL));
    belt_audit_close(other);
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_BAD_CHECKPOINT);
    assert_int_equal(r.bad_seq, 11);
}

static void audit_detects_swapped_rows(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "UPDATE audit SET seq = -3 WHERE seq = 3;"
              "UPDATE audit SET seq = 3 WHERE seq = 7;"
              "UPDATE audit SET seq = 7 WHERE seq = -3;");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_REORDERED);
    assert_int_equal(r.bad_seq, 3);
}

static void audit_detects_truncated_tail(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "DELETE FROM audit WHERE seq > 8");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_TRUNCATED);
    assert_int_equal(r.bad_seq, 9);
    /* Also when the head row goes too. */
    tamper(f, "DELETE FROM audit_head");
    r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.bad_seq, 9);
    assert_int_equal(r.problem, BELT_AUDIT_UNCHECKPOINTED);
}

static void audit_detects_truncation_past_a_checkpoint(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "DELETE FROM audit WHERE seq > 6; DELETE FROM audit_head;");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_TRUNCATED);
    assert_int_equal(r.bad_seq, 7); /* checkpoint 8 covers rows that are gone */
}

static void audit_detects_forged_checkpoint(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "INSERT INTO audit_checkpoints(seq, ts_ms, hash, mac) "
              "SELECT 6, 0, hash, zeroblob(32) FROM audit WHERE seq = 6");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_BAD_CHECKPOINT);
    assert_int_equal(r.bad_seq, 6);
}

static void audit_detects_rewritten_chain(void **state)
{
    struct fixture *f = *state;
    fill(f);
    /* Rewrite row 2's content and recompute its hash and every later row's chain link
     * without the key: the checkpoints still hold the old hashes. */
    tamper(f, "UPDATE audit SET content = replace(content, '\"n\":2', '\"n\":22'),"
              " hash = zeroblob(32) WHERE seq = 2");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.bad_seq, 2);
    assert_true(r.n_problems >= 2); /* the row, the next link and checkpoint 4 */
}

static void audit_wrong_key_fails_and_no_key_checks_chain(void **state)
{
    struct fixture *f = *state;
    fill(f);
    static const unsigned char wrong[32] = "ffffffffffffffffffffffffffffffff";
    struct belt_audit_report r;
    BELT_ASSERT_STATUS(belt_audit_verify(f->st, wrong, sizeof(wrong), &r, NULL), BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_BAD_CHECKPOINT);
    BELT_ASSERT_OK(belt_audit_verify(f->st, NULL, 0, &r, NULL));
    assert_false(r.key_checked);
}

static void audit_batch_is_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    struct belt_audit_event ev[3] = {{"a.one", NULL, NULL, "{\"x\":1}", 0},
                                     {"a.two", NULL, NULL, "[1,2]", 0}, /* not an object */
                                     {"a.three", NULL, NULL, NULL, 0}};
    int64_t last = 0;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_audit_append_batch(f->a, ev, 3, &last, &err), BELT_ERR_INVALID);
    struct belt_audit_report r = verify(f, BELT_OK);
    assert_int_equal(r.n_rows, 0);
    ev[1].data_json = "{}";
    BELT_ASSERT_OK(belt_audit_append_batch(f->a, ev, 3, &last, &err));
    assert_int_equal(last, 3);
    r = verify(f, BELT_OK);
    assert_int_equal(r.n_rows, 3);
}

static void audit_two_writers_share_one_chain(void **state)
{
    struct fixture *f = *state;
    struct belt_store *st2 = NULL;
    struct belt_store_params sp = belt_store_default_params();
    sp.path = f->path;
    BELT_ASSERT_OK(belt_store_open(&sp, &st2, NULL));
    struct belt_audit *a2 = NULL;
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = st2;
    ap.key = key;
    ap.key_len = sizeof(key);
    BELT_ASSERT_OK(belt_audit_open(&ap, &a2, NULL));
    for (int i = 0; i < 5; i++) {
        struct belt_audit_event ev = {i % 2 ? "w.one" : "w.two", NULL, NULL, NULL, 0};
        BELT_ASSERT_OK(belt_audit_append(i % 2 ? f->a : a2, &ev, NULL, NULL));
    }
    belt_audit_close(a2);
    belt_store_close(st2);
    struct belt_audit_report r = verify(f, BELT_OK);
    assert_int_equal(r.n_rows, 5);
}

struct collect {
    int n;
    char last_kind[32];
    char first_prev[65];
};

static int collect_row(void *ud, const struct belt_audit_row *row)
{
    struct collect *c = ud;
    if (c->n++ == 0)
        snprintf(c->first_prev, sizeof(c->first_prev), "%s", row->prev_hash);
    snprintf(c->last_kind, sizeof(c->last_kind), "%s", row->kind);
    assert_non_null(strstr(row->content, "\"seq\":"));
    return 0;
}

static void audit_list_filters_by_range_and_kind(void **state)
{
    struct fixture *f = *state;
    fill(f);
    struct belt_audit_event ev = {"key.revoke", "cli", "key_1", NULL, 0};
    BELT_ASSERT_OK(belt_audit_append(f->a, &ev, NULL, NULL));
    struct collect c = {0};
    BELT_ASSERT_OK(belt_audit_list(f->st, 1, 0, NULL, collect_row, &c, NULL));
    assert_int_equal(c.n, 11);
    assert_string_equal(c.first_prev,
                        "0000000000000000000000000000000000000000000000000000000000000000");
    memset(&c, 0, sizeof(c));
    BELT_ASSERT_OK(belt_audit_list(f->st, 1, 0, "key.", collect_row, &c, NULL));
    assert_int_equal(c.n, 1);
    memset(&c, 0, sizeof(c));
    BELT_ASSERT_OK(belt_audit_list(f->st, 3, 5, NULL, collect_row, &c, NULL));
    assert_int_equal(c.n, 3);
    memset(&c, 0, sizeof(c));
    BELT_ASSERT_OK(belt_audit_list(f->st, -2, 0, NULL, collect_row, &c, NULL));
    assert_int_equal(c.n, 2);
    assert_string_equal(c.last_kind, "key.revoke");
}

static void audit_rejects_bad_params(void **state)
{
    struct fixture *f = *state;
    struct belt_audit *a = NULL;
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = f->st;
    ap.key = key;
    ap.key_len = 8;
    BELT_ASSERT_STATUS(belt_audit_open(&ap, &a, NULL), BELT_ERR_INVALID);
    struct belt_audit_event ev = {NULL, NULL, NULL, NULL, 0};
    BELT_ASSERT_STATUS(belt_audit_append(f->a, &ev, NULL, NULL), BELT_ERR_INVALID);
    ev.kind = "x";
    ev.data_json = "{broken";
    BELT_ASSERT_STATUS(belt_audit_append(f->a, &ev, NULL, NULL), BELT_ERR_INVALID);
}

/* belt__audit_real prints a real byte for byte as jansson does in the canonical form. */
static void audit_real_matches_jansson(void **state)
{
    (void)state;
    double fixed[] = {
        0.0,   -0.0,   1.0,    0.1, 1e-7,    2.25e-6,   1.5e20, 123456789.0,
        1e100, 1e-300, 5e-324, 0.6, 3.0e-05, 1.0 / 3.0, -42.5,  1.7976931348623157e308,
        1e16,  1e17,   12e-3,  7e22};
    struct belt_rng rng;
    belt_rng_seed(&rng, 7);
    for (size_t i = 0; i < 20000; i++) {
        double v;
        if (i < BELT_ARRAY_LEN(fixed)) {
            v = fixed[i];
        } else { /* any finite bit pattern, and prices-like magnitudes */
            uint64_t bits = belt_rng_next(&rng);
            memcpy(&v, &bits, sizeof(v));
            if (!isfinite(v) || (i & 1))
                v = (double)(bits >> 11) * 0x1.0p-53 * pow(10.0, (double)(i % 13) - 9.0);
        }
        char mine[BELT__AUDIT_REAL_MAX];
        size_t n = belt__audit_real(mine, v);
        json_t *j = json_real(v);
        char *ref = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        assert_non_null(ref);
        if (strcmp(mine, ref) != 0)
            fail_msg("value %a: belt__audit_real \"%s\", jansson \"%s\"", v, mine, ref);
        assert_int_equal(n, strlen(ref));
        free(ref);
        json_decref(j);
    }
}

struct rows {
    int n;
    char content[8][512];
    char hash[8][65];
};

static int keep_row(void *ud, const struct belt_audit_row *row)
{
    struct rows *r = ud;
    if (r->n < 8) {
        snprintf(r->content[r->n], sizeof(r->content[0]), "%s", row->content);
        snprintf(r->hash[r->n], sizeof(r->hash[0]), "%s", row->hash);
    }
    r->n++;
    return 0;
}

/* Appending pre-rendered canonical data stores exactly what the general path (parse and
 * re-print) stores: same content, same chain — including events that the fast path must hand
 * to the general one (non-ASCII or control characters, NULL actor and data). */
static void audit_canonical_append_matches_general_path(void **state)
{
    struct fixture *f = *state;
    char cost[BELT__AUDIT_REAL_MAX], data[3][256];
    belt__audit_real(cost, 2.25e-6);
    snprintf(data[0], sizeof(data[0]),
             "{\"cost_usd\":%s,\"http_status\":200,\"key_name\":\"ops \\\"a\\\\b\\\"\","
             "\"model\":\"gpt-4o-mini\",\"route\":\"r\",\"stream\":false}",
             cost);
    belt__audit_real(cost, 1e20);
    snprintf(data[1], sizeof(data[1]),
             "{\"cost_usd\":%s,\"key_name\":\"caf\xc3\xa9\",\"stream\":true}", cost);
    snprintf(data[2], sizeof(data[2]), "{\"nested\":{\"a\":[1,-2],\"b\":null},\"z\":\"tab\\t\"}");
    struct belt_audit_event ev[] = {
        {"model.call", "key_1", "trace-1", data[0], 1001},
        {"model.call", "k\x01y", "trace-2", data[1], 1002}, /* control char and UTF-8 */
        {"model.call", NULL, NULL, data[2], 1003},
        {"guard.block", "key_2", "trace-4", NULL, 1004},
    };
    int64_t last = 0;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt__audit_append_canonical(f->a, ev, BELT_ARRAY_LEN(ev), &last, &err),
                       &err);
    assert_int_equal(last, 4);

    /* the same events through the public (general) path, in a second store */
    char path2[600];
    snprintf(path2, sizeof(path2), "%s/general.db", f->dir);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = path2;
    struct belt_store *st2 = NULL;
    BELT_ASSERT_OK_ERR(belt_store_open(&sp, &st2, &err), &err);
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = st2;
    ap.key = key;
    ap.key_len = sizeof(key);
    ap.checkpoint_every = 4;
    struct belt_audit *a2 = NULL;
    BELT_ASSERT_OK_ERR(belt_audit_open(&ap, &a2, &err), &err);
    BELT_ASSERT_OK_ERR(belt_audit_append_batch(a2, ev, BELT_ARRAY_LEN(ev), &last, &err), &err);

    struct rows fast = {0}, general = {0};
    BELT_ASSERT_OK(belt_audit_list(f->st, 1, 0, NULL, keep_row, &fast, NULL));
    BELT_ASSERT_OK(belt_audit_list(st2, 1, 0, NULL, keep_row, &general, NULL));
    assert_int_equal(fast.n, 4);
    assert_int_equal(general.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(fast.content[i], general.content[i]);
        assert_string_equal(fast.hash[i], general.hash[i]);
    }
    assert_non_null(strstr(fast.content[0], "\"cost_usd\":2.2500000000000001e-6,"));
    assert_non_null(strstr(fast.content[1], "caf\\u00E9")); /* jansson: upper-case hex */
    verify(f, BELT_OK);
    belt_audit_close(a2);
    belt_store_close(st2);
}

/* ---- archiving ------------------------------------------------------------------------- */

/* Read an archive file back and recompute its chain from `prev_hex` (64 zeros for the first
 * archive): every line's hash is SHA-256(prev_hash || content) and its prev_hash the line
 * before's hash. Returns the rows read; *last_hex gets the last hash. */
static int check_archive(const char *path, int64_t first_seq, const char *prev_hex,
                         char last_hex[65])
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[4096], prev[65];
    snprintf(prev, sizeof(prev), "%s", prev_hex);
    int n = 0;
    while (fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "seq")), first_seq + n);
        assert_string_equal(json_string_value(json_object_get(j, "prev_hash")), prev);
        unsigned char ph[32], h[32];
        assert_int_equal(sodium_hex2bin(ph, 32, prev, 64, NULL, NULL, NULL), 0);
        const char *content = json_string_value(json_object_get(j, "content"));
        crypto_hash_sha256_state s;
        crypto_hash_sha256_init(&s);
        crypto_hash_sha256_update(&s, ph, 32);
        crypto_hash_sha256_update(&s, (const unsigned char *)content, strlen(content));
        crypto_hash_sha256_final(&s, h);
        sodium_bin2hex(prev, sizeof(prev), h, 32);
        assert_string_equal(json_string_value(json_object_get(j, "hash")), prev);
        json_decref(j);
        n++;
    }
    fclose(fp);
    snprintf(last_hex, 65, "%s", prev);
    return n;
}

static void anchor_hex(const struct fixture *f, int64_t seq, char out[65])
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT hash FROM audit_archived WHERE seq = ?", -1, &q, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(q, 1, seq);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    sodium_bin2hex(out, 65, sqlite3_column_blob(q, 0), 32);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void audit_archive_moves_rows_out_and_the_rest_still_verifies(void **state)
{
    struct fixture *f = *state;
    fill(f); /* rows 1..10, checkpoints at 4 and 8 */
    char out1[600], out2[600], out3[600];
    snprintf(out1, sizeof(out1), "%s/audit-1.jsonl", f->dir);
    snprintf(out2, sizeof(out2), "%s/audit-2.jsonl", f->dir);
    snprintf(out3, sizeof(out3), "%s/audit-3.jsonl", f->dir);
    int64_t from = -1, to = -1;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_audit_archive(f->a, 6, 0, out1, &from, &to, &err), &err);
    assert_int_equal(from, 1);
    assert_int_equal(to, 6);
    struct belt_audit_report r = verify(f, BELT_OK);
    assert_int_equal(r.archived_through, 6);
    assert_int_equal(r.n_rows, 4);
    assert_int_equal(r.last_seq, 10);
    assert_int_equal(r.n_checkpoints, 1); /* the one at 4 went with its rows */
    char zeros[65], last[65], anchor[65];
    memset(zeros, '0', 64);
    zeros[64] = 0;
    assert_int_equal(check_archive(out1, 1, zeros, last), 6);
    anchor_hex(f, 6, anchor);
    assert_string_equal(last, anchor); /* the file ends where the table's chain resumes */

    /* By time: rows started before 1009 ms are 1..8; 7 and 8 are left to move. */
    BELT_ASSERT_OK_ERR(belt_audit_archive(f->a, 0, 1009, out2, &from, &to, &err), &err);
    assert_int_equal(from, 7);
    assert_int_equal(to, 8);
    char last2[65];
    assert_int_equal(check_archive(out2, 7, anchor, last2), 2); /* chains on from the first */
    r = verify(f, BELT_OK);
    assert_int_equal(r.archived_through, 8);
    assert_int_equal(r.n_rows, 2);

    /* The newest row always stays; nothing left to move writes no file. */
    BELT_ASSERT_OK_ERR(belt_audit_archive(f->a, 10, 0, out3, &from, &to, &err), &err);
    assert_int_equal(from, 9);
    assert_int_equal(to, 9);
    BELT_ASSERT_OK_ERR(belt_audit_archive(f->a, 10, 0, out3, &from, &to, &err), &err);
    assert_int_equal(to, 0);

    /* Appends go on; the chain continues from row 10. */
    struct belt_audit_event ev = {"model.call", NULL, "t", "{}", 2000};
    int64_t seq = 0;
    BELT_ASSERT_OK_ERR(belt_audit_append(f->a, &ev, &seq, &err), &err);
    assert_int_equal(seq, 11);
    r = verify(f, BELT_OK);
    assert_int_equal(r.n_rows, 2);
    assert_int_equal(r.archived_through, 9);
    /* An existing file is never overwritten, and then nothing is deleted. */
    assert_int_equal(belt_audit_archive(f->a, 10, 0, out1, &from, &to, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "never overwritten");
    r = verify(f, BELT_OK);
    assert_int_equal(r.archived_through, 9);
    assert_int_equal(r.n_rows, 2);
    assert_int_equal(check_archive(out1, 1, zeros, last), 6); /* the first archive, intact */
}

static void audit_archive_refuses_a_tampered_log(void **state)
{
    struct fixture *f = *state;
    fill(f);
    tamper(f, "UPDATE audit SET content = replace(content, '\"n\":3', '\"n\":33') WHERE seq = 3");
    char out[600];
    snprintf(out, sizeof(out), "%s/audit.jsonl", f->dir);
    int64_t from, to;
    struct belt_error err = {0};
    assert_int_equal(belt_audit_archive(f->a, 5, 0, out, &from, &to, &err), BELT_ERR_CHECKSUM);
    BELT_ASSERT_CONTAINS(err.msg, "refusing to archive");
    BELT_ASSERT_CONTAINS(err.msg, "row 3");
    FILE *fp = fopen(out, "r");
    assert_null(fp); /* no file */
    assert_int_equal(belt_audit_archive(f->a, 0, 0, out, &from, &to, &err), BELT_ERR_INVALID);
}

/* fill(), then rows 1..5 archived to DIR/audit.jsonl. */
static void fill_and_archive_through_5(struct fixture *f)
{
    fill(f);
    char out[600];
    snprintf(out, sizeof(out), "%s/audit.jsonl", f->dir);
    int64_t from, to;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_audit_archive(f->a, 5, 0, out, &from, &to, &err), &err);
    assert_int_equal(to, 5);
}

static void audit_archive_anchor_cannot_hide_tampering(void **state)
{
    struct fixture *f = *state;
    fill_and_archive_through_5(f);
    /* The trigger still refuses deleting rows no anchor covers. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq=6", NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);
    /* Deleting the first row after the anchor is seen as a deletion. */
    tamper(f, "DELETE FROM audit WHERE seq = 6");
    struct belt_audit_report r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_DELETED);
    assert_int_equal(r.bad_seq, 6);
}

static void audit_archive_forged_anchor_fails_its_mac(void **state)
{
    struct fixture *f = *state;
    fill_and_archive_through_5(f);
    /* Without the key, one can move the anchor forward over rows 6..7 and drop them... */
    tamper(f, "INSERT INTO audit_archived(seq, ts_ms, hash, mac, file)"
              " SELECT 7, 0, hash, zeroblob(32), 'x' FROM audit WHERE seq = 7;"
              "DELETE FROM audit WHERE seq IN (6, 7)");
    /* ...which the chain alone accepts, but not the MAC. */
    struct belt_audit_report r;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt_audit_verify(f->st, NULL, 0, &r, &err));
    r = verify(f, BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_BAD_CHECKPOINT);
    assert_int_equal(r.bad_seq, 7);
    BELT_ASSERT_CONTAINS(r.detail, "archive anchor at row 7");
}

/* Rewrite line `n` (1-based) of a file with `with` (NULL: drop it). */
static void edit_line(const char *path, int n, const char *with)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char lines[16][1024];
    int k = 0;
    while (k < 16 && fgets(lines[k], sizeof(lines[k]), fp))
        k++;
    fclose(fp);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < k; i++)
        if (i + 1 != n)
            fputs(lines[i], fp);
        else if (with)
            fputs(with, fp);
    fclose(fp);
}

static belt_status verify_file(const struct fixture *f, const char *path,
                               struct belt_audit_report *r)
{
    struct belt_error err = {0};
    belt_status s = belt_audit_verify_archive(f->st, key, sizeof(key), path, r, &err);
    if (s == BELT_ERR_CHECKSUM)
        BELT_ASSERT_CONTAINS(err.msg, r->detail);
    return s;
}

static void audit_archive_files_verify_and_tampering_is_caught(void **state)
{
    struct fixture *f = *state;
    fill_and_archive_through_5(f); /* rows 1..5 in DIR/audit.jsonl */
    char one[600], two[600], copy[700];
    snprintf(one, sizeof(one), "%s/audit.jsonl", f->dir);
    snprintf(two, sizeof(two), "%s/audit-2.jsonl", f->dir);
    int64_t from, to;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_audit_archive(f->a, 8, 0, two, &from, &to, &err), &err);
    struct belt_audit_report r;
    assert_int_equal(verify_file(f, one, &r), BELT_OK);
    assert_int_equal(r.n_rows, 5);
    assert_int_equal(r.last_seq, 5);
    assert_int_equal(verify_file(f, two, &r), BELT_OK); /* chains to the first file's anchor */
    assert_int_equal(r.n_rows, 3);
    assert_int_equal(r.last_seq, 8);
    assert_int_equal(belt_audit_verify_archive(f->st, key, 16, two, &r, &err), BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_BAD_CHECKPOINT); /* a wrong key */

    /* Each change to a copy of the first file, checked on its own. */
    snprintf(copy, sizeof(copy), "%s/copy.jsonl", f->dir);
    static const struct {
        int line;                  /* 1-based line to change */
        const char *with;          /* NULL: drop the line */
        enum belt_audit_problem p; /* expected */
        int64_t bad;               /* expected first bad row */
    } cases[] = {
        {3, NULL, BELT_AUDIT_DELETED, 3},   /* a row cut out */
        {5, NULL, BELT_AUDIT_TRUNCATED, 4}, /* the tail cut off: row 4 is no anchor */
        {2, "{\"seq\":2}\n", BELT_AUDIT_EDITED, 2},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        char cmd[1500];
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", one, copy);
        assert_int_equal(system(cmd), 0);
        edit_line(copy, cases[i].line, cases[i].with);
        assert_int_equal(verify_file(f, copy, &r), BELT_ERR_CHECKSUM);
        assert_int_equal(r.problem, cases[i].p);
        assert_int_equal(r.bad_seq, cases[i].bad);
    }
    /* A value changed inside row 3's content (its hash left as it was). */
    char cmd[1500], line[1024];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", one, copy);
    assert_int_equal(system(cmd), 0);
    FILE *fp = fopen(copy, "r");
    assert_non_null(fp);
    for (int i = 0; i < 3; i++)
        assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    char *at = strstr(line, "\\\"n\\\":3");
    assert_non_null(at);
    char edited[1100];
    snprintf(edited, sizeof(edited), "%.*s\\\"n\\\":33%s", (int)(at - line), line,
             at + strlen("\\\"n\\\":3"));
    edit_line(copy, 3, edited);
    assert_int_equal(verify_file(f, copy, &r), BELT_ERR_CHECKSUM);
    assert_int_equal(r.problem, BELT_AUDIT_EDITED);
    assert_int_equal(r.bad_seq, 3);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(audit_intact_log_verifies),
        T(audit_append_only_triggers_refuse_edits),
        T(audit_detects_edited_content),
        T(audit_detects_edited_columns),
        T(audit_detects_deleted_middle_row),
        T(audit_detects_inserted_forged_row),
        T(audit_detects_rows_appended_without_key),
        T(audit_detects_swapped_rows),
        T(audit_detects_truncated_tail),
        T(audit_detects_truncation_past_a_checkpoint),
        T(audit_detects_forged_checkpoint),
        T(audit_detects_rewritten_chain),
        T(audit_wrong_key_fails_and_no_key_checks_chain),
        T(audit_batch_is_all_or_nothing),
        T(audit_two_writers_share_one_chain),
        T(audit_list_filters_by_range_and_kind),
        T(audit_rejects_bad_params),
        cmocka_unit_test(audit_real_matches_jansson),
        T(audit_canonical_append_matches_general_path),
        T(audit_archive_moves_rows_out_and_the_rest_still_verifies),
        T(audit_archive_refuses_a_tampered_log),
        T(audit_archive_anchor_cannot_hide_tampering),
        T(audit_archive_forged_anchor_fails_its_mac),
        T(audit_archive_files_verify_and_tampering_is_caught),
    };
    return belt_test_run("audit", tests, BELT_ARRAY_LEN(tests));
}
