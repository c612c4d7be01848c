/*
 * test_gateway_store.c — the gateway's stored state: the store writer (batches, flush, drop
 * when full), trace records written and read back through belt_store_list_traces /
 * belt_store_trace_steps, and the response cache (LRU by bytes, TTL, references that outlive
 * eviction, persistence and warming).
 */
#include "testutil.h"

#include <string.h>

#include "cache/cache.h"
#include "store/store.h"
#include "trace/trace.h"
#include "trace/writer.h"
#include "util/clock.h"

struct tmp {
    char dir[256];
    char db[300];
};

static void tmp_open(struct tmp *t)
{
    belt_test_tmpdir(t->dir, sizeof(t->dir));
    snprintf(t->db, sizeof(t->db), "%s/belt.db", t->dir);
}

static struct belt_writer *writer_open(const char *db, size_t max_queue)
{
    struct belt_writer_params p = belt__writer_default_params();
    p.path = db;
    p.max_queue = max_queue;
    p.max_delay_ms = 5;
    struct belt_writer *w = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt__writer_new(&p, &w, &err), &err);
    return w;
}

static struct belt_trace_rec *make_trace(int i, size_t n_steps)
{
    struct belt_trace_rec *r = belt__trace_rec_new(n_steps);
    assert_non_null(r);
    snprintf(r->id, sizeof(r->id), "%032x", i + 1);
    r->ts_ms = 1000 + i;
    r->kind = "chat";
    r->route = i % 2 ? "odd" : "even";
    r->model = "m1";
    r->status = "ok";
    r->http_status = 200;
    r->input_tokens = 9;
    r->output_tokens = 6;
    r->cost_usd = 0.5;
    r->latency_us = 1234;
    r->attrs = belt_strdup("{\"gen_ai.request.model\":\"m1\"}");
    for (size_t s = 0; s < n_steps; s++) {
        struct belt_trace_step_rec *st = &r->steps[r->n_steps++];
        st->seq = (int)s;
        st->model = s ? "m1" : "m0";
        st->deployment = "d";
        st->tier = -1;
        st->status = s ? "ok" : "timeout";
        st->reason = s ? "fallback" : "first";
        st->error = s ? NULL : belt_strdup("slow");
        st->confidence = -1;
        st->latency_us = 10;
    }
    return r;
}

static int count_trace(void *ud, const struct belt_trace_info *t)
{
    int *n = ud;
    (*n)++;
    assert_string_equal(t->model, "m1");
    assert_int_equal(t->input_tokens, 9);
    return 0;
}

struct steps_seen {
    int n;
    char first_status[16];
};

static int note_step(void *ud, const struct belt_trace_step_info *s)
{
    struct steps_seen *ss = ud;
    if (ss->n++ == 0)
        snprintf(ss->first_status, sizeof(ss->first_status), "%s", s->status);
    assert_int_equal(s->tier, -1);
    assert_true(s->confidence < 0);
    return 0;
}

static void trace_writer_batches_and_reads_back(void **state)
{
    (void)state;
    struct tmp t;
    tmp_open(&t);
    struct belt_writer *w = writer_open(t.db, 1000);
    for (int i = 0; i < 250; i++)
        assert_int_equal(belt__trace_submit(w, make_trace(i, 2)), 0);
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt__writer_flush(w, 10000, &err), &err);
    struct belt_writer_stats ws;
    belt__writer_stats(w, &ws);
    assert_int_equal(ws.written, 250);
    assert_true(ws.batches >= 1 && ws.batches < 250); /* batched, not one per row */
    belt__writer_free(w);

    struct belt_store_params sp = belt_store_default_params();
    sp.path = t.db;
    struct belt_store *st = NULL;
    BELT_ASSERT_OK(belt_store_open(&sp, &st, &err));
    int n = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, NULL, count_trace, &n, &err));
    assert_int_equal(n, 250);
    struct belt_trace_query q = {0};
    q.route = "odd";
    q.limit = 10;
    q.newest_first = 1;
    n = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, &q, count_trace, &n, &err));
    assert_int_equal(n, 10);
    q = (struct belt_trace_query){0};
    q.since_ms = 1100;
    q.until_ms = 1150;
    n = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, &q, count_trace, &n, &err));
    assert_int_equal(n, 50);
    struct steps_seen ss = {0, ""};
    char id[33];
    snprintf(id, sizeof(id), "%032x", 7);
    BELT_ASSERT_OK(belt_store_trace_steps(st, id, note_step, &ss, &err));
    assert_int_equal(ss.n, 2);
    assert_string_equal(ss.first_status, "timeout");
    belt_store_close(st);
    belt_test_rmrf(t.dir);
}

static void trace_writer_drops_when_full_and_never_blocks(void **state)
{
    (void)state;
    struct tmp t;
    tmp_open(&t);
    struct belt_writer *w = writer_open(t.db, 5);
    int dropped = 0;
    for (int i = 0; i < 2000; i++)
        dropped += belt__trace_submit(w, make_trace(i, 0)) != 0;
    struct belt_error err;
    BELT_ASSERT_OK(belt__writer_flush(w, 10000, &err));
    struct belt_writer_stats ws;
    belt__writer_stats(w, &ws);
    assert_int_equal(ws.dropped, (uint64_t)dropped);
    assert_int_equal(ws.written + ws.dropped, 2000);
    belt__writer_free(w);
    belt_test_rmrf(t.dir);
}

/* ---- retention ---------------------------------------------------------------------------- */

static int note_ts(void *ud, const struct belt_trace_info *t)
{
    int64_t *min_ts = ud;
    if (*min_ts < 0 || t->ts_ms < *min_ts)
        *min_ts = t->ts_ms;
    return 0;
}

static struct belt_store *store_open(const char *db)
{
    struct belt_store_params sp = belt_store_default_params();
    sp.path = db;
    struct belt_store *st = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_store_open(&sp, &st, &err), &err);
    return st;
}

static int steps_of(struct belt_store *st, int i)
{
    char id[33];
    snprintf(id, sizeof(id), "%032x", i + 1);
    struct steps_seen ss = {0, ""};
    struct belt_error err;
    BELT_ASSERT_OK(belt_store_trace_steps(st, id, note_step, &ss, &err));
    return ss.n;
}

static void trace_prune_deletes_the_oldest_with_their_steps(void **state)
{
    (void)state;
    struct tmp t;
    tmp_open(&t);
    struct belt_writer *w = writer_open(t.db, 100000);
    for (int i = 0; i < 100; i++) /* started at 1000 .. 1099 ms, two steps each */
        assert_int_equal(belt__trace_submit(w, make_trace(i, 2)), 0);
    for (int i = 100; i < 20100; i++) /* 1100 .. 21099: more than two chunks of 10,000 */
        assert_int_equal(belt__trace_submit(w, make_trace(i, 0)), 0);
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt__writer_flush(w, 30000, &err), &err);
    belt__writer_free(w);

    struct belt_store *st = store_open(t.db);
    int64_t n = -1;
    BELT_ASSERT_OK_ERR(belt_store_prune_traces(st, 1060, &n, &err), &err);
    assert_int_equal(n, 60); /* 1000 .. 1059 */
    int left = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, NULL, count_trace, &left, &err));
    assert_int_equal(left, 20040);
    int64_t min_ts = -1;
    BELT_ASSERT_OK(belt_store_list_traces(st, NULL, note_ts, &min_ts, &err));
    assert_int_equal(min_ts, 1060);
    assert_int_equal(steps_of(st, 59), 0); /* deleted with its trace */
    assert_int_equal(steps_of(st, 60), 2); /* kept */
    BELT_ASSERT_OK(belt_store_prune_traces(st, 1060, &n, &err));
    assert_int_equal(n, 0); /* nothing older left */

    BELT_ASSERT_OK_ERR(belt_store_prune_traces(st, 21000, &n, &err), &err);
    assert_int_equal(n, 19940); /* over two full chunks and a partial one */
    left = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, NULL, count_trace, &left, &err));
    assert_int_equal(left, 100);
    assert_int_equal(steps_of(st, 99), 0);
    belt_store_close(st);
    belt_test_rmrf(t.dir);
}

struct upkeep_probe {
    int64_t before_ms; /* prune what started before this */
    int64_t limit;     /* per run */
    int64_t deleted;   /* all runs */
    int runs;
    int runs_with_more;
};

static int probe_upkeep(struct belt_writer_ctx *ctx, void *ud)
{
    struct upkeep_probe *p = ud;
    int64_t n = 0;
    int more = belt__trace_prune(ctx, p->before_ms, p->limit, &n);
    p->deleted += n;
    p->runs++;
    p->runs_with_more += more > 0;
    return more;
}

static void writer_upkeep_runs_while_idle_and_again_when_work_is_left(void **state)
{
    (void)state;
    struct tmp t;
    tmp_open(&t);
    struct belt_writer *w = writer_open(t.db, 1000); /* no upkeep */
    for (int i = 0; i < 50; i++)                     /* 1000 .. 1049 ms */
        assert_int_equal(belt__trace_submit(w, make_trace(i, 1)), 0);
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt__writer_flush(w, 10000, &err), &err);
    belt__writer_free(w);

    /* Due at start; no job comes. The first run finds a full chunk (10 of the 35 older than
     * 1035), so the writer runs it again at once instead of waiting a minute, until a run
     * leaves less than a chunk. */
    struct upkeep_probe probe = {1035, 10, 0, 0, 0};
    struct belt_writer_params p = belt__writer_default_params();
    p.path = t.db;
    p.upkeep = probe_upkeep;
    p.upkeep_ud = &probe;
    p.upkeep_every_ms = 60000;
    BELT_ASSERT_OK_ERR(belt__writer_new(&p, &w, &err), &err);
    struct belt_store *st = store_open(t.db);
    int64_t min_ts = -1;
    for (int waited = 0; waited < 10000 && min_ts != 1035; waited += 10) {
        belt_sleep_ms(10);
        min_ts = -1;
        BELT_ASSERT_OK(belt_store_list_traces(st, NULL, note_ts, &min_ts, &err));
    }
    belt_sleep_ms(50); /* a fifth run would come now if the fourth had said "more" */
    struct belt_writer_stats ws;
    belt__writer_stats(w, &ws);
    belt__writer_free(w); /* joins the thread: probe is ours again */
    assert_int_equal(min_ts, 1035);
    assert_int_equal(probe.deleted, 35);
    assert_int_equal(probe.runs, 4); /* 10, 10, 10, 5 */
    assert_int_equal(probe.runs_with_more, 3);
    assert_int_equal(ws.upkeeps, 4);

    /* Idle with nothing to delete: it runs again every upkeep_every_ms. */
    probe = (struct upkeep_probe){1035, 10, 0, 0, 0};
    p.upkeep_every_ms = 100;
    BELT_ASSERT_OK_ERR(belt__writer_new(&p, &w, &err), &err);
    belt_sleep_ms(500);
    belt__writer_free(w);
    assert_int_equal(probe.deleted, 0);
    assert_true(probe.runs >= 2); /* at start and at least once 100 ms later */
    assert_int_equal(probe.runs_with_more, 0);
    int left = 0;
    BELT_ASSERT_OK(belt_store_list_traces(st, NULL, count_trace, &left, &err));
    assert_int_equal(left, 15);
    belt_store_close(st);
    belt_test_rmrf(t.dir);
}

static long file_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    return n;
}

static void writer_checkpoints_on_its_own_thread(void **state)
{
    (void)state;
    struct tmp t;
    tmp_open(&t);
    struct belt_writer *w = writer_open(t.db, 100000);
    /* ~20 MB of traces: five times the WAL length that triggers a checkpoint (1000 pages) */
    char wal[320];
    snprintf(wal, sizeof(wal), "%s-wal", t.db);
    long wal_max = 0;
    for (int i = 0; i < 30000; i++) {
        assert_int_equal(belt__trace_submit(w, make_trace(i, 2)), 0);
        if (i % 1000 == 999) {
            struct belt_error err;
            BELT_ASSERT_OK_ERR(belt__writer_flush(w, 30000, &err), &err);
            long n = file_size(wal);
            wal_max = n > wal_max ? n : wal_max;
        }
    }
    struct belt_writer_stats ws;
    belt__writer_stats(w, &ws);
    assert_int_equal(ws.written, 30000);
    assert_true(ws.checkpoints >= 2);
    /* without checkpoints the WAL would hold everything written (tens of MB) */
    assert_true(wal_max < 16L << 20);
    belt__writer_free(w);
    struct belt_store *st = store_open(t.db);
    int n = 0;
    struct belt_error err;
    BELT_ASSERT_OK(belt_store_list_traces(st, NULL, count_trace, &n, &err));
    assert_int_equal(n, 30000);
    belt_store_close(st);
    belt_test_rmrf(t.dir);
}

/* ---- cache -------------------------------------------------------------------------------- */

static void key_of(int i, unsigned char key[BELT_CACHE_KEY_LEN])
{
    memset(key, 0, BELT_CACHE_KEY_LEN);
    memcpy(key, &i, sizeof(i));
    key[15] = (unsigned char)(i * 7);
}

static void cache_lru_bound_and_ttl(void **state)
{
    (void)state;
    struct belt_cache_params p = belt__cache_default_params();
    p.max_bytes = 16 * 4096; /* one 4 KiB share per shard */
    p.max_entry = 2000;
    p.ttl_ms = 1000;
    struct belt_cache *c = NULL;
    BELT_ASSERT_OK(belt__cache_new(&p, &c, NULL));
    char body[1500];
    memset(body, 'x', sizeof(body));
    unsigned char k[BELT_CACHE_KEY_LEN];
    for (int i = 0; i < 400; i++) {
        key_of(i, k);
        belt__cache_put(c, k, "m", body, sizeof(body), NULL, 0, 0.01, 0, 0);
    }
    struct belt_cache_stats cs;
    belt__cache_stats(c, &cs);
    assert_true(cs.bytes <= p.max_bytes);
    assert_true(cs.evictions > 300);
    key_of(399, k);
    const struct belt_cache_entry *e = belt__cache_get(c, k, 10);
    assert_non_null(e);
    assert_int_equal(e->response_len, sizeof(body));
    assert_true(e->cost_usd == 0.01);
    belt__cache_release(e);
    assert_null(belt__cache_get(c, k, 2000));                 /* expired */
    belt__cache_put(c, k, "m", body, 2001, NULL, 0, 0, 0, 0); /* over max_entry */
    assert_null(belt__cache_get(c, k, 10));
    belt__cache_free(c);
}

static void cache_entry_outlives_eviction(void **state)
{
    (void)state;
    struct belt_cache_params p = belt__cache_default_params();
    struct belt_cache *c = NULL;
    BELT_ASSERT_OK(belt__cache_new(&p, &c, NULL));
    unsigned char k[BELT_CACHE_KEY_LEN];
    key_of(1, k);
    belt__cache_put(c, k, "m", "{\"a\":1}", 7, "data: x\n\n", 9, 0, 0, 0);
    const struct belt_cache_entry *e = belt__cache_get(c, k, 1);
    assert_non_null(e);
    belt__cache_put(c, k, "m", "{\"a\":2}", 7, NULL, 0, 0, 0, 0); /* replaces it */
    assert_string_equal(e->response, "{\"a\":1}");                /* still readable */
    assert_string_equal(e->stream, "data: x\n\n");
    belt__cache_release(e);
    e = belt__cache_get(c, k, 1);
    assert_string_equal(e->response, "{\"a\":2}");
    assert_null(e->stream);
    belt__cache_release(e);
    belt__cache_free(c);
}

static void cache_persists_and_warms(void **state)
{
    (void)state;
    struct tmp t;
    tmp_open(&t);
    struct belt_writer *w = writer_open(t.db, 1000);
    struct belt_cache_params p = belt__cache_default_params();
    p.writer = w;
    p.ttl_ms = 60000;
    struct belt_cache *c = NULL;
    BELT_ASSERT_OK(belt__cache_new(&p, &c, NULL));
    unsigned char k[BELT_CACHE_KEY_LEN];
    for (int i = 0; i < 20; i++) {
        key_of(i, k);
        belt__cache_put(c, k, "m", "{\"ok\":true}", 11, i % 2 ? "data: [DONE]\n\n" : NULL,
                        i % 2 ? 14 : 0, 0.25, 1000, 1);
    }
    belt__cache_free(c);
    struct belt_error err;
    BELT_ASSERT_OK(belt__writer_flush(w, 10000, &err));
    belt__writer_free(w);

    struct belt_store_params sp = belt_store_default_params();
    sp.path = t.db;
    struct belt_store *st = NULL;
    BELT_ASSERT_OK(belt_store_open(&sp, &st, &err));
    p.writer = NULL;
    BELT_ASSERT_OK(belt__cache_new(&p, &c, NULL));
    size_t n = 0;
    BELT_ASSERT_OK_ERR(belt__cache_warm(c, st, 2000, &n, &err), &err);
    assert_int_equal(n, 20);
    key_of(3, k);
    const struct belt_cache_entry *e = belt__cache_get(c, k, 2000);
    assert_non_null(e);
    assert_string_equal(e->stream, "data: [DONE]\n\n");
    assert_true(e->cost_usd == 0.25);
    assert_int_equal(e->expires_ms, 61000); /* the stored expiry, not a fresh TTL */
    belt__cache_release(e);
    belt__cache_free(c);
    /* nothing is loaded once every row expired */
    BELT_ASSERT_OK(belt__cache_new(&p, &c, NULL));
    BELT_ASSERT_OK(belt__cache_warm(c, st, 70000, &n, &err));
    assert_int_equal(n, 0);
    belt__cache_free(c);
    belt_store_close(st);
    belt_test_rmrf(t.dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(trace_writer_batches_and_reads_back),
    cmocka_unit_test(trace_writer_drops_when_full_and_never_blocks),
    cmocka_unit_test(writer_checkpoints_on_its_own_thread),
    cmocka_unit_test(trace_prune_deletes_the_oldest_with_their_steps),
    cmocka_unit_test(writer_upkeep_runs_while_idle_and_again_when_work_is_left),
    cmocka_unit_test(cache_lru_bound_and_ttl),
    cmocka_unit_test(cache_entry_outlives_eviction),
    cmocka_unit_test(cache_persists_and_warms),
};

BELT_TEST_MAIN(tests)
