/*
 * test_review.c — the human review queue: parking items, listing, deciding (approve, reject,
 * edit) with who/when and an audit row, edited answers kept as labelled examples, the resume
 * hook and the resumable listing a line runner uses (OWASP LLM06: sensitive actions reviewed).
 */
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const unsigned char key[32] = "audit-key-audit-key-audit-key-au";

struct fixture {
    char dir[256];
    char path[512];
    struct belt_store *st;
    struct belt_audit *audit;
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    belt_test_tmpdir(f.dir, sizeof(f.dir));
    snprintf(f.path, sizeof(f.path), "%s/belt.db", f.dir);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = f.path;
    if (belt_store_open(&sp, &f.st, NULL) != BELT_OK)
        fail_msg("store");
    struct belt_audit_params ap = belt_audit_default_params();
    ap.store = f.st;
    ap.key = key;
    ap.key_len = sizeof(key);
    if (belt_audit_open(&ap, &f.audit, NULL) != BELT_OK)
        fail_msg("audit");
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_audit_close(f->audit);
    belt_store_close(f->st);
    belt_test_rmrf(f->dir);
    return 0;
}

static void park(struct fixture *f, const char *line, const char *payload, char *id)
{
    struct belt_review_item it = {
        "line", "refund_usd > 100", payload, "{\"label\":\"refund\"}", line, "run_1",
        "7",    "approve",          NULL};
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_review_add(f->st, f->audit, &it, id, &err), &err);
}

struct seen {
    int n;
    char id[BELT_REVIEW_ID_MAX];
    enum belt_review_status status;
    char who[64];
    char answer[128];
    int64_t decided_ms;
};

static int remember(void *ud, const struct belt_review_record *r)
{
    struct seen *s = ud;
    s->n++;
    snprintf(s->id, sizeof(s->id), "%s", r->id);
    s->status = r->status;
    snprintf(s->who, sizeof(s->who), "%s", r->decided_by ? r->decided_by : "");
    snprintf(s->answer, sizeof(s->answer), "%s", r->answer_json ? r->answer_json : "");
    s->decided_ms = r->decided_ms;
    return 0;
}

static void review_add_list_get(void **state)
{
    struct fixture *f = *state;
    char a[BELT_REVIEW_ID_MAX], b[BELT_REVIEW_ID_MAX];
    park(f, "tickets", "{\"text\":\"refund me $250\"}", a);
    park(f, "tickets", "{\"text\":\"refund me $900\"}", b);
    assert_int_equal(strncmp(a, "rv_", 3), 0);
    assert_string_not_equal(a, b);
    struct seen s = {0};
    BELT_ASSERT_OK(belt_review_list(f->st, BELT_REVIEW_PENDING, 0, remember, &s, NULL));
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof(s));
    BELT_ASSERT_OK(belt_review_list(f->st, BELT_REVIEW_PENDING, 1, remember, &s, NULL));
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof(s));
    BELT_ASSERT_OK(belt_review_get(f->st, a, remember, &s, NULL));
    assert_string_equal(s.id, a);
    assert_int_equal(s.status, BELT_REVIEW_PENDING);
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_review_get(f->st, "rv_nope", remember, &s, &err), BELT_ERR_NOTFOUND);
    struct belt_review_item bad = {"robot", "x", "{}", NULL, NULL, NULL, NULL, NULL, NULL};
    BELT_ASSERT_STATUS(belt_review_add(f->st, NULL, &bad, a, &err), BELT_ERR_INVALID);
    bad.source = "guard";
    bad.payload_json = "[1]";
    BELT_ASSERT_STATUS(belt_review_add(f->st, NULL, &bad, a, &err), BELT_ERR_INVALID);
}

static void review_approve_records_who_when_and_audits(void **state)
{
    struct fixture *f = *state;
    char id[BELT_REVIEW_ID_MAX];
    park(f, "tickets", "{\"text\":\"refund me $250\"}", id);
    struct belt_review_decision d = {BELT_REVIEW_APPROVED, "maria", NULL, "ok by policy"};
    struct seen hook = {0};
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_review_decide(f->st, f->audit, id, &d, remember, &hook, &err), &err);
    /* The resume hook saw the decided record. */
    assert_int_equal(hook.n, 1);
    assert_int_equal(hook.status, BELT_REVIEW_APPROVED);
    assert_string_equal(hook.who, "maria");
    assert_true(hook.decided_ms > 0);
    /* Deciding twice is refused. */
    d.status = BELT_REVIEW_REJECTED;
    BELT_ASSERT_STATUS(belt_review_decide(f->st, f->audit, id, &d, NULL, NULL, &err),
                       BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "already approved");
    /* The audit log holds review.add and review.approve by maria, and verifies. */
    struct belt_audit_report r;
    BELT_ASSERT_OK(belt_audit_verify(f->st, key, sizeof(key), &r, NULL));
    assert_int_equal(r.n_rows, 2);
}

static int count_rows(struct fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int n = -1;
    sqlite3_open(f->path, &db);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void review_edit_stores_labelled_example(void **state)
{
    struct fixture *f = *state;
    char id[BELT_REVIEW_ID_MAX];
    park(f, "tickets", "{\"text\":\"where is my parcel\"}", id);
    struct belt_review_decision d = {BELT_REVIEW_EDITED, "li", "{\"label\":\"shipping\"}", NULL};
    BELT_ASSERT_OK(belt_review_decide(f->st, f->audit, id, &d, NULL, NULL, NULL));
    struct seen s = {0};
    BELT_ASSERT_OK(belt_review_get(f->st, id, remember, &s, NULL));
    assert_int_equal(s.status, BELT_REVIEW_EDITED);
    assert_string_equal(s.answer, "{\"label\":\"shipping\"}");
    assert_int_equal(count_rows(f, "SELECT count(*) FROM examples WHERE source = 'review-edit' "
                                   "AND text = 'where is my parcel' AND label = 'shipping' "
                                   "AND task = 'tickets/approve'"),
                     1);
    /* An edit needs an answer, and a valid one. */
    park(f, "tickets", "{\"text\":\"x\"}", id);
    d.answer_json = NULL;
    BELT_ASSERT_STATUS(belt_review_decide(f->st, f->audit, id, &d, NULL, NULL, NULL),
                       BELT_ERR_INVALID);
    d.answer_json = "{oops";
    assert_int_not_equal(belt_review_decide(f->st, f->audit, id, &d, NULL, NULL, NULL), BELT_OK);
    d.answer_json = "\"refund\"";
    d.who = NULL;
    BELT_ASSERT_STATUS(belt_review_decide(f->st, f->audit, id, &d, NULL, NULL, NULL),
                       BELT_ERR_INVALID);
}

static void review_reject_and_resumable_listing(void **state)
{
    struct fixture *f = *state;
    char a[BELT_REVIEW_ID_MAX], b[BELT_REVIEW_ID_MAX], c[BELT_REVIEW_ID_MAX];
    park(f, "tickets", "{\"text\":\"a\"}", a);
    park(f, "tickets", "{\"text\":\"b\"}", b);
    park(f, "invoices", "{\"text\":\"c\"}", c);
    struct belt_review_decision d = {BELT_REVIEW_REJECTED, "sam", NULL, "fraud"};
    BELT_ASSERT_OK(belt_review_decide(f->st, f->audit, a, &d, NULL, NULL, NULL));
    d.status = BELT_REVIEW_APPROVED;
    BELT_ASSERT_OK(belt_review_decide(f->st, f->audit, c, &d, NULL, NULL, NULL));
    struct seen s = {0};
    BELT_ASSERT_OK(belt_review_resumable(f->st, "tickets", remember, &s, NULL));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.id, a);
    assert_int_equal(s.status, BELT_REVIEW_REJECTED);
    BELT_ASSERT_OK(belt_review_mark_resumed(f->st, a, NULL));
    memset(&s, 0, sizeof(s));
    BELT_ASSERT_OK(belt_review_resumable(f->st, NULL, remember, &s, NULL));
    assert_int_equal(s.n, 1); /* only the invoices one is left */
    assert_string_equal(s.id, c);
    BELT_ASSERT_STATUS(belt_review_mark_resumed(f->st, b, NULL), BELT_ERR_NOTFOUND); /* pending */
    memset(&s, 0, sizeof(s));
    BELT_ASSERT_OK(belt_review_list(f->st, -1, 0, remember, &s, NULL));
    assert_int_equal(s.n, 3);
    assert_string_equal(belt_review_status_name(BELT_REVIEW_EDITED), "edited");
    assert_int_equal(belt_review_status_parse("rejected"), BELT_REVIEW_REJECTED);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(review_add_list_get),
        T(review_approve_records_who_when_and_audits),
        T(review_edit_stores_labelled_example),
        T(review_reject_and_resumable_listing),
    };
    return belt_test_run("review", tests, BELT_ARRAY_LEN(tests));
}
