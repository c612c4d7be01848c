/*
 * bench_linekit.c — per-call cost of the line kit's hot paths, as a station would call them:
 * `when:` evaluation, prompt rendering, rules extraction (patterns + a dictionary), JSON Schema
 * validation, the phrase dictionary alone, CSV parsing and FTS5 retrieval; plus rules + schema +
 * condition per item on 1 and 2 threads (the extract/validate share of the line target).
 *
 *   bench_linekit [ROUNDS]      (default 5; each round runs every case for ~0.2 s)
 *
 * Prints, per case, the median time per call over rounds and the spread (min–max), and the
 * implied calls per second. Inputs are built in memory (CSV and the retrieval store in a
 * temporary directory), so only the call is timed.
 */
#include "belt_config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "belt.h"
#include "line/dict.h"
#include "line/expr.h"
#include "line/retrieve.h"
#include "line/rules.h"
#include "line/template.h"
#include "util/csv.h"
#include "util/jsonschema.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void bench_fn(void *ud, long n);

static int rounds = 5;

/* Run fn in batches until ~0.2 s per round; print median ns/call and the spread. */
static void measure(const char *name, bench_fn *fn, void *ud, long items_per_call)
{
    double ns[64];
    long n = 1;
    for (;;) { /* calibrate */
        double t0 = now_ns();
        fn(ud, n);
        double dt = now_ns() - t0;
        if (dt > 2e7 || n > (1L << 28))
            break;
        n *= 4;
    }
    long per_round = (long)((double)n * 2e8 / 2e7);
    if (per_round < 1)
        per_round = 1;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        fn(ud, per_round);
        ns[r] = (now_ns() - t0) / (double)per_round / (double)items_per_call;
    }
    qsort(ns, (size_t)rounds, sizeof(double), cmp_d);
    double med = ns[rounds / 2];
    printf("%-44s %10.0f ns  (%.0f-%.0f)  %12.0f /s\n", name, med, ns[0], ns[rounds - 1],
           1e9 / med);
}

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v) {
        fprintf(stderr, "bad JSON: %s\n", je.text);
        exit(1);
    }
    return v;
}

/* ---- inputs -------------------------------------------------------------------------------- */

static const char ticket_text[] =
    "Hi, this is Ana Silva <ana.silva@example.org>. My order #AB123456 arrived broken: the "
    "wi-fi box does not power on. I paid $1,234.50 on 2024-05-01 for SKU-1042 and SKU-2210. "
    "Please refund me ASAP, this is urgent. Phone: (555) 123-4567.";

static const char rules_spec[] =
    "{\"order_id\":{\"pattern\":\"(?i)\\\\border\\\\s*#?\\\\s*([A-Z]{2}\\\\d{6})\\\\b\"},"
    "\"amount\":{\"pattern\":\"[$\\u20ac\\u00a3]\\\\s?\\\\d[\\\\d,]*(?:\\\\.\\\\d+)?\","
    "\"normalize\":\"currency\"},"
    "\"customer\":{\"pattern\":\"(?<name>[A-Z][a-z]+ [A-Z][a-z]+) <(?<email>[^>\\\\s]+)>\"},"
    "\"skus\":{\"pattern\":\"\\\\bSKU-\\\\d+\\\\b\",\"match\":\"all\"},"
    "\"date\":{\"pattern\":\"\\\\b\\\\d{4}-\\\\d{2}-\\\\d{2}\\\\b\"},"
    "\"phone\":{\"pattern\":\"\\\\(?\\\\d{3}\\\\)?[ "
    "-]?\\\\d{3}-\\\\d{4}\",\"normalize\":\"digits\"},"
    "\"urgent\":{\"pattern\":\"\\\\b(urgent|asap|immediately)\\\\b\",\"ignore_case\":true,"
    "\"value\":true,\"default\":false},"
    "\"intent\":{\"dictionary\":{\"refund\":[\"refund\",\"money back\",\"reimburse\"],"
    "\"cancel\":[\"cancel\",\"terminate\"],\"repair\":[\"repair\",\"fix\"],"
    "\"shipping\":[\"delivery\",\"shipping\",\"arrived\"]},\"match\":\"all\"},"
    "\"product\":{\"dictionary\":{\"router\":[\"router\",\"modem\",\"wi-fi box\"],"
    "\"phone\":[\"phone\",\"mobile\"],\"laptop\":[\"laptop\",\"notebook\"]}}}";

static const char schema_text[] =
    "{\"type\":\"object\",\"required\":[\"order_id\",\"amount\",\"customer\"],"
    "\"properties\":{\"order_id\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}\\\\d{6}$\"},"
    "\"amount\":{\"type\":\"number\",\"minimum\":0},"
    "\"customer\":{\"type\":\"object\",\"required\":[\"name\",\"email\"],\"properties\":{"
    "\"name\":{\"type\":\"string\",\"minLength\":1},\"email\":{\"type\":\"string\","
    "\"format\":\"email\"}}},\"skus\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"uniqueItems\":true},\"date\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"urgent\":{\"type\":\"boolean\"},\"intent\":{\"type\":\"array\",\"items\":{\"enum\":["
    "\"refund\",\"cancel\",\"repair\",\"shipping\"]}},\"product\":{\"enum\":[\"router\","
    "\"phone\",\"laptop\"]},\"phone\":{\"type\":\"string\"}}}";

static const char when_src[] =
    "fields.amount > 100 and 'refund' in fields.intent and not exists(fields.flag) and "
    "fields.product in ['router', 'phone']";

static const char prompt_src[] =
    "You are a support agent. Customer: {{fields.customer.name}} ({{fields.customer.email}}).\n"
    "Order {{fields.order_id}}, amount {{fields.amount}} USD.\n"
    "{{#each fields.skus}}\n- item {{@index}}: {{this}}\n{{/each}}\n"
    "{{#if fields.urgent}}The customer says it is urgent.{{else}}Routine.{{/if}}\n"
    "Ticket:\n{{text}}\n";

/* ---- cases --------------------------------------------------------------------------------- */

struct kit {
    struct belt_rules *rules;
    struct belt_jsonschema *schema;
    struct belt_expr *when;
    struct belt_template *prompt;
    json_t *record;         /* {"text": ..., "fields": <extracted>} */
    json_t *invalid;        /* fields that violate the schema */
    struct belt_buf out;    /* render buffer */
    struct belt_dict *dict; /* big dictionary */
    struct belt_retriever *retriever;
};

static void b_when(void *ud, long n)
{
    struct kit *k = ud;
    int acc = 0;
    for (long i = 0; i < n; i++)
        acc += belt__expr_test(k->when, k->record, NULL);
    if (acc < 0)
        puts("");
}

static void b_render(void *ud, long n)
{
    struct kit *k = ud;
    for (long i = 0; i < n; i++) {
        belt_buf_reset(&k->out);
        belt__template_render(k->prompt, k->record, NULL, &k->out, NULL);
    }
}

static void b_rules(void *ud, long n)
{
    struct kit *k = ud;
    for (long i = 0; i < n; i++) {
        json_t *o = json_object();
        belt__rules_apply(k->rules, ticket_text, sizeof(ticket_text) - 1, o, NULL);
        json_decref(o);
    }
}

static void b_validate(void *ud, long n)
{
    struct kit *k = ud;
    const json_t *fields = json_object_get(k->record, "fields");
    for (long i = 0; i < n; i++)
        belt_jsonschema_validate(k->schema, fields, NULL);
}

static void b_validate_bad(void *ud, long n)
{
    struct kit *k = ud;
    struct belt_error err;
    for (long i = 0; i < n; i++)
        belt_jsonschema_validate(k->schema, k->invalid, &err);
}

/* One item through extract (rules) + validate + when, as a local line would do it. */
static void b_item(void *ud, long n)
{
    struct kit *k = ud;
    for (long i = 0; i < n; i++) {
        json_t *rec = json_pack("{s:s}", "text", ticket_text);
        json_t *fields = json_object();
        belt__rules_apply(k->rules, ticket_text, sizeof(ticket_text) - 1, fields, NULL);
        belt_jsonschema_validate(k->schema, fields, NULL);
        json_object_set_new(rec, "fields", fields);
        belt__expr_test(k->when, rec, NULL);
        json_decref(rec);
    }
}

struct thread_arg {
    struct kit *k;
    long n;
};

static void *item_thread(void *p)
{
    struct thread_arg *a = p;
    b_item(a->k, a->n);
    return NULL;
}

static void b_item_2threads(void *ud, long n)
{
    pthread_t t[2];
    struct thread_arg a[2] = {{ud, n}, {ud, n}};
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, item_thread, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
}

static char dict_text[2048];

static void b_dict(void *ud, long n)
{
    struct kit *k = ud;
    size_t found = 0;
    for (long i = 0; i < n; i++) {
        size_t from = 0, s, e;
        int32_t v;
        while (belt__dict_find(k->dict, dict_text, strlen(dict_text), from, &s, &e, &v)) {
            found++;
            from = e;
        }
    }
    if (found == 1)
        puts("");
}

static void b_retrieve(void *ud, long n)
{
    struct kit *k = ud;
    for (long i = 0; i < n; i++) {
        json_t *arr = NULL;
        belt__retriever_query_json(k->retriever, "why has my router no power? refund w4321", 40, 5,
                                   &arr, NULL);
        json_decref(arr);
    }
}

static char csv_path[512];

static void b_csv(void *ud, long n)
{
    (void)ud;
    for (long i = 0; i < n; i++) {
        struct belt_csv_reader *r = NULL;
        if (belt_csv_open(csv_path, NULL, &r, NULL) != BELT_OK)
            exit(1);
        for (;;) {
            json_t *rec = NULL;
            if (belt_csv_next(r, &rec, NULL) != BELT_OK || !rec)
                break;
            json_decref(rec);
        }
        belt_csv_close(r);
    }
}

/* ---- setup --------------------------------------------------------------------------------- */

static void setup_big_dict(struct kit *k)
{
    belt__dict_new(1, &k->dict);
    char ph[64];
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(ph, sizeof(ph), "product %d model %c", i, 'a' + i % 26);
        belt__dict_add(k->dict, ph, (size_t)len, i, NULL);
    }
    belt__dict_freeze(k->dict);
    size_t o = 0;
    while (o + sizeof(ticket_text) < sizeof(dict_text)) {
        memcpy(dict_text + o, ticket_text, sizeof(ticket_text) - 1);
        o += sizeof(ticket_text) - 1;
        dict_text[o++] = ' ';
    }
    memcpy(dict_text + o - 25, " product 4321 model f", 21);
    dict_text[o] = '\0';
}

static struct belt_store *setup_retrieval(struct kit *k, const char *dir)
{
    char db[600];
    snprintf(db, sizeof(db), "%s/bench.db", dir);
    struct belt_store_params sp = belt_store_default_params();
    sp.path = db;
    struct belt_store *st = NULL;
    struct belt_error err = {0};
    if (belt_store_open(&sp, &st, &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    struct belt_indexer_params ip = belt_indexer_default_params();
    ip.corpus = "bench";
    struct belt_indexer *ix = NULL;
    belt_indexer_new(st, &ip, &ix, NULL);
    /* A Zipf-like vocabulary of 5,000 words ("w0" most frequent) plus topic words. */
    static const char *const topics[] = {"router", "power",   "refund",  "shipping", "password",
                                         "screen", "battery", "invoice", "account",  "delivery"};
    char text[1024], id[32];
    unsigned seed = 7;
    for (int d = 0; d < 10000; d++) {
        size_t o = 0;
        for (int w = 0; w < 60 && o < sizeof(text) - 32; w++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 8) % 10000;
            unsigned rank = (unsigned)(5000.0 / (1.0 + (double)r * 0.5)); /* skewed to small */
            if (w % 30 == 0 && (seed >> 12) % 4 == 0)
                o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", w ? " " : "",
                                      topics[(seed >> 20) % BELT_ARRAY_LEN(topics)]);
            else
                o += (size_t)snprintf(text + o, sizeof(text) - o, " w%u", 5000 - rank);
        }
        snprintf(id, sizeof(id), "doc-%d", d);
        belt_indexer_add(ix, id, text, o, NULL);
    }
    belt_indexer_commit(ix, NULL);
    belt_indexer_free(ix);
    struct belt_retriever_params rp = belt_retriever_default_params();
    rp.corpus = "bench";
    belt_retriever_new(st, &rp, &k->retriever, NULL);
    json_t *all = NULL;
    belt__retriever_query_json(k->retriever, "why has my router no power? refund w4321", 40, 1000,
                               &all, NULL);
    printf("retrieval corpus: 10,000 passages of 60 words; the query matches %zu%s of them\n",
           json_array_size(all), json_array_size(all) == 1000 ? "+" : "");
    json_decref(all);
    return st;
}

static void setup_csv(const char *dir)
{
    snprintf(csv_path, sizeof(csv_path), "%s/bench.csv", dir);
    FILE *fp = fopen(csv_path, "w");
    fputs("id,customer,email,amount,text\n", fp);
    for (int i = 0; i < 10000; i++)
        fprintf(fp,
                "%d,Customer %d,c%d@example.org,%d.50,\"Order #AB%06d, \"\"broken\"\", "
                "please refund\"\n",
                i, i, i, i % 900, i);
    fclose(fp);
}

static void setup(struct kit *k)
{
    json_t *spec = J(rules_spec);
    struct belt_error err = {0};
    if (belt__rules_compile(spec, NULL, &k->rules, &err) != BELT_OK ||
        belt_jsonschema_compile_text(schema_text, sizeof(schema_text) - 1, "schema", NULL,
                                     &k->schema, &err) != BELT_OK ||
        belt__expr_compile(when_src, sizeof(when_src) - 1, &k->when, &err) != BELT_OK ||
        belt__template_compile(prompt_src, sizeof(prompt_src) - 1, NULL, &k->prompt, &err) !=
            BELT_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        exit(1);
    }
    json_decref(spec);
    json_t *fields = json_object();
    belt__rules_apply(k->rules, ticket_text, sizeof(ticket_text) - 1, fields, NULL);
    k->record = json_pack("{s:s,s:o}", "text", ticket_text, "fields", fields);
    if (belt_jsonschema_validate(k->schema, fields, &err) != BELT_OK ||
        !belt__expr_test(k->when, k->record, NULL)) {
        fprintf(stderr, "setup: the sample does not pass: %s\n", err.msg);
        exit(1);
    }
    k->invalid = J("{\"order_id\":\"x1\",\"amount\":-3,\"customer\":{\"name\":\"\","
                   "\"email\":\"nope\"},\"skus\":[\"a\",\"a\"],\"product\":\"tv\"}");
    belt_buf_init(&k->out, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = BELT_MAX(1, BELT_MIN(64, (int)strtol(argv[1], NULL, 10)));
    belt_global_init(NULL);
    struct kit k;
    memset(&k, 0, sizeof(k));
    setup(&k);
    setup_big_dict(&k);
    char dir[] = "/tmp/belt-bench-linekit-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct belt_store *st = setup_retrieval(&k, dir);
    setup_csv(dir);
    printf("bench_linekit: %d rounds, median (min-max) per call\n", rounds);
    measure("when: 4 comparisons (eval)", b_when, &k, 1);
    measure("template: 7-line prompt with a loop (render)", b_render, &k, 1);
    measure("rules: 9 fields, 240-byte ticket (apply)", b_rules, &k, 1);
    measure("schema: 10 properties, valid (validate)", b_validate, &k, 1);
    measure("schema: invalid, 6 problems (validate+msg)", b_validate_bad, &k, 1);
    measure("dict: 20k phrases over 2 KB (all matches)", b_dict, &k, 1);
    measure("csv: 10k records x 5 fields (per record)", b_csv, &k, 10000);
    measure("retrieve: top-5 of 10k passages (query)", b_retrieve, &k, 1);
    measure("item: rules + schema + when, 1 thread", b_item, &k, 1);
    measure("item: rules + schema + when, 2 threads", b_item_2threads, &k, 2);
    belt_retriever_free(k.retriever);
    belt_store_close(st);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    belt__rules_free(k.rules);
    belt_jsonschema_free(k.schema);
    belt__expr_free(k.when);
    belt__template_free(k.prompt);
    belt__dict_free(k.dict);
    json_decref(k.record);
    json_decref(k.invalid);
    belt_buf_deinit(&k.out);
    belt_global_cleanup();
    return 0;
}
