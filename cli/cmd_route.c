/*
 * cmd_route.c — `belt route NAME [options] [TEXT]`: run a route (or a plain model) live, without
 * the server, and print the answer and the path every decision took. With TEXT one task is run;
 * without, tasks are read as JSONL from stdin (several in flight) and one JSON result per line
 * is printed, in input order. docs/cli/route.md.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/json.h"
#include "util/str.h"

#define MAX_TAGS 32
#define MAX_LINE (16 << 20)

struct route_opts {
    const char *name; /* route or model */
    const char *text; /* one task, or NULL: stdin */
    const char *stakes, *key, *system;
    const char *tags[MAX_TAGS];
    size_t n_tags;
    double max_cost;
    int64_t max_latency_ms, timeout_ms;
    long parallel;
    int stream, json, trace;
};

static int parse_duration(const struct cli_command *cmd, const char *opt, const char *s,
                          int64_t *out)
{
    if (belt_parse_duration_ms(s, out) != 0 || *out < 0) {
        cli_usage_error(cmd, "%s: '%s' is not a duration (e.g. 500ms, 2s, 1m)", opt, s);
        return -1;
    }
    return 0;
}

static int parse_one(const struct cli_command *cmd, int c, struct route_opts *o)
{
    switch (c) {
    case 's':
        o->stakes = optarg;
        return 0;
    case 't':
        if (o->n_tags == MAX_TAGS)
            return cli_usage_error(cmd, "at most %d --tag options", MAX_TAGS), -1;
        o->tags[o->n_tags++] = optarg;
        return 0;
    case 'k':
        o->key = optarg;
        return 0;
    case 'S':
        o->system = optarg;
        return 0;
    case 'C':
        if (cli_parse_double(cmd, "--max-cost", optarg, &o->max_cost) != 0)
            return -1;
        return o->max_cost < 0 ? (cli_usage_error(cmd, "--max-cost must be >= 0"), -1) : 0;
    case 'L':
        return parse_duration(cmd, "--max-latency", optarg, &o->max_latency_ms);
    case 'T':
        return parse_duration(cmd, "--timeout", optarg, &o->timeout_ms);
    case 'j':
        if (cli_parse_long(cmd, "--parallel", optarg, &o->parallel) != 0)
            return -1;
        return o->parallel < 1 || o->parallel > 256
                   ? (cli_usage_error(cmd, "--parallel must be between 1 and 256"), -1)
                   : 0;
    case 'x':
        o->stream = 1;
        return 0;
    case 'J':
        o->json = 1;
        return 0;
    case 'R':
        o->trace = 1;
        return 0;
    default:
        cli_usage_error(cmd, "unknown option '%s'", optarg ? optarg : "");
        return -1;
    }
}

static int parse(const struct cli_command *cmd, int argc, char **argv, struct route_opts *o)
{
    static const struct option opts[] = {
        {"stakes", required_argument, NULL, 's'},   {"tag", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},      {"system", required_argument, NULL, 'S'},
        {"max-cost", required_argument, NULL, 'C'}, {"max-latency", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 'T'},  {"parallel", required_argument, NULL, 'j'},
        {"stream", no_argument, NULL, 'x'},         {"json", no_argument, NULL, 'J'},
        {"trace", no_argument, NULL, 'R'},          {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    o->parallel = 4;
    for (;;) {
        int c = getopt_long(argc, argv, "s:t:k:j:", opts, NULL);
        if (c == -1)
            break;
        if (c == '?')
            return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]), -1;
        if (parse_one(cmd, c, o) != 0)
            return -1;
    }
    if (optind >= argc)
        return cli_usage_error(cmd, "a route or model name is required"), -1;
    o->name = argv[optind++];
    if (optind < argc)
        o->text = argv[optind++];
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' (quote the text)", argv[optind]), -1;
    if (o->stream && !o->text)
        return cli_usage_error(cmd, "--stream needs a TEXT argument"), -1;
    return 0;
}

/* ---- one task ------------------------------------------------------------------------------ */

/* A task: its request and metadata (from the command line or one JSONL line). */
struct task {
    json_t *line;    /* the input line (owned), or NULL */
    json_t *request; /* OpenAI chat request (owned) */
    const char *id;  /* from the line, or NULL */
    const char *stakes, *key;
    const char *tags[MAX_TAGS];
    size_t n_tags;
    double max_cost;
    int64_t max_latency_ms;
    int64_t lineno;
    char *error;  /* a bad input line: why (owned) */
    char *result; /* the output line (owned) once done */
    int done, failed;
    struct belt_route_call *rc;
    struct runner *run;
};

static json_t *chat_request(const char *system, const char *text)
{
    json_t *msgs = json_array();
    if (system)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", text));
    return json_pack("{s:o}", "messages", msgs);
}

static void print_step(const struct belt_route_step *s)
{
    char where[200] = "";
    if (s->tier >= 0)
        snprintf(where, sizeof(where), "%s tier %d %s: ", s->route, s->tier + 1,
                 s->target  ? s->target
                 : s->model ? s->model
                            : "?");
    else if (s->target)
        snprintf(where, sizeof(where), "%s -> %s: ", s->route, s->target);
    else
        snprintf(where, sizeof(where), "%s: ", s->route);
    char tag[24];
    snprintf(tag, sizeof(tag), "[%s]", s->event);
    printf("  %*s%-12s %s%s", 2 * s->depth, "", tag, where, s->reason);
    if (s->calls)
        printf("  ($%.6g, %.0f ms, %d call%s)", s->cost_usd, (double)s->latency_us / 1000.0,
               s->calls, s->calls == 1 ? "" : "s");
    printf("\n");
}

static void print_text(const struct belt_route_answer *a, int streamed)
{
    const struct belt_answer *ans = a->answer;
    if (ans && !streamed) {
        if (a->resolved)
            printf("answer (%s):\n", ans->model);
        else
            printf("%s — best answer so far, NOT accepted (%s):\n",
                   a->outcome == BELT_ROUTE_BUDGET ? "OVER BUDGET" : "UNRESOLVED", ans->model);
        printf("%.*s\n", (int)ans->content_len, ans->content);
    } else if (!ans && a->status == BELT_OK) {
        printf("%s: escalated to a person, no answer to show\n",
               a->outcome == BELT_ROUTE_BUDGET ? "OVER BUDGET" : "UNRESOLVED");
    }
    printf("%s %s: %s%s%s — $%.6g, %.0f ms, %d call%s\n", a->is_model ? "model" : "route", a->route,
           belt_route_outcome_name(a->outcome), a->status == BELT_OK ? "" : " — ",
           a->status == BELT_OK ? "" : a->error, a->cost_usd, (double)a->latency_us / 1000.0,
           a->n_calls, a->n_calls == 1 ? "" : "s");
    for (size_t i = 0; i < a->n_steps; i++)
        print_step(&a->steps[i]);
    if (a->n_steps_total > a->n_steps)
        printf("  (%zu more steps not kept)\n", a->n_steps_total - a->n_steps);
}

/* {"id", "line", "answer", "model", "resolved", "route": {...}} */
static char *result_json(const struct task *t, const struct belt_route_answer *a)
{
    json_t *o = json_object();
    if (t->id)
        json_object_set_new(o, "id", json_string(t->id));
    if (t->lineno)
        json_object_set_new(o, "line", json_integer(t->lineno));
    if (t->error) {
        json_object_set_new(o, "error", json_string(t->error));
    } else {
        const struct belt_answer *ans = a->answer;
        json_object_set_new(o, "answer",
                            ans ? json_stringn(ans->content, ans->content_len) : json_null());
        char *path = belt_route_answer_json(a);
        json_t *p = path ? json_loads(path, 0, NULL) : NULL;
        belt_free(path);
        json_object_set_new(o, "route", p ? p : json_null());
    }
    char *s = belt_json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void on_chunk(void *ud, struct belt_route_call *rc, const struct belt_chunk *ck)
{
    (void)ud;
    (void)rc;
    if (ck->delta_len) {
        fwrite(ck->delta, 1, ck->delta_len, stdout);
        fflush(stdout);
    }
}

static void fill_params(const struct route_opts *o, const struct task *t,
                        struct belt_route_call_params *p)
{
    *p = belt_route_call_default_params();
    p->name = o->name;
    p->request = t->request;
    p->stakes = t->stakes;
    p->tags = t->tags;
    p->n_tags = t->n_tags;
    p->key_name = t->key;
    p->max_cost_usd = t->max_cost;
    p->max_latency_ms = t->max_latency_ms;
    p->timeout_ms = o->timeout_ms;
    p->trace = o->trace;
}

static int run_one(struct belt_engine *e, const struct route_opts *o)
{
    struct task t;
    memset(&t, 0, sizeof(t));
    t.request = chat_request(o->system, o->text);
    t.stakes = o->stakes;
    t.key = o->key;
    memcpy(t.tags, o->tags, sizeof(t.tags));
    t.n_tags = o->n_tags;
    t.max_cost = o->max_cost;
    t.max_latency_ms = o->max_latency_ms;
    struct belt_route_call_params p;
    fill_params(o, &t, &p);
    if (o->stream)
        p.on_chunk = on_chunk;
    p.stream = o->stream;
    struct belt_route_answer *a = NULL;
    struct belt_error err = {0};
    belt_status st = belt_route_call_sync(e, &p, &a, &err);
    json_decref(t.request);
    if (!a)
        return cli_fail(&err, st);
    int streamed = o->stream && a->status == BELT_OK && a->outcome == BELT_ROUTE_ANSWERED;
    if (streamed)
        printf("\n");
    if (o->json) {
        char *s = result_json(&t, a);
        printf("%s\n", s ? s : "{}");
        belt_free(s);
    } else {
        print_text(a, streamed);
    }
    int rc = a->status == BELT_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    if (a->status != BELT_OK)
        fprintf(stderr, "belt route: %s\n", a->error);
    belt_route_answer_free(a);
    return rc;
}

/* ---- JSONL on stdin ------------------------------------------------------------------------ */

struct runner {
    const struct route_opts *o;
    struct belt_loop *loop;
    struct task *ring; /* o->parallel slots, in input order */
    size_t head, n;    /* oldest task, tasks in the ring */
    int any_failed;
    long n_tasks;
};

/* A task from one input line; t->error is set for a bad line. */
static void task_from_line(const struct route_opts *o, struct task *t, const char *line, size_t len,
                           int64_t lineno)
{
    memset(t, 0, sizeof(*t));
    t->lineno = lineno;
    struct belt_error err = {0};
    char msg[600];
    if (belt_json_parse(line, len, "stdin", lineno, &t->line, &err) != BELT_OK ||
        !json_is_object(t->line)) {
        snprintf(msg, sizeof(msg), "%s", err.msg[0] ? err.msg : "expected a JSON object");
        t->error = strdup(msg);
        return;
    }
    const json_t *v = t->line;
    t->id = belt_json_str(v, "id");
    t->stakes = belt_json_str(v, "stakes") ? belt_json_str(v, "stakes") : o->stakes;
    t->key = belt_json_str(v, "key") ? belt_json_str(v, "key") : o->key;
    const json_t *tags = json_object_get(v, "tags"), *tag;
    size_t i;
    json_array_foreach(tags, i, tag)
    {
        if (json_is_string(tag) && t->n_tags < MAX_TAGS)
            t->tags[t->n_tags++] = json_string_value(tag);
    }
    if (!tags)
        for (i = 0; i < o->n_tags; i++)
            t->tags[t->n_tags++] = o->tags[i];
    const json_t *mc = json_object_get(v, "max_cost_usd");
    t->max_cost = json_is_number(mc) ? json_number_value(mc) : o->max_cost;
    t->max_latency_ms = belt_json_int(v, "max_latency_ms", o->max_latency_ms);
    const json_t *msgs = json_object_get(v, "messages");
    const char *text = belt_json_str(v, "text");
    if (!text)
        text = belt_json_str(v, "query"); /* an outcomes file's line */
    if (json_is_array(msgs))
        t->request = json_pack("{s:O}", "messages", msgs);
    else if (text)
        t->request = chat_request(o->system, text);
    if (!t->request) {
        snprintf(msg, sizeof(msg), "stdin:%lld: a task needs \"text\", \"query\" or \"messages\"",
                 (long long)lineno);
        t->error = strdup(msg);
    }
}

static void task_clear(struct task *t)
{
    json_decref(t->line);
    json_decref(t->request);
    free(t->error);
    belt_free(t->result);
    memset(t, 0, sizeof(*t));
}

static void on_task_answer(void *ud, struct belt_route_call *rc, const struct belt_route_answer *a)
{
    struct task *t = ud;
    (void)rc;
    t->result = result_json(t, a);
    t->failed = a->status != BELT_OK;
    t->done = 1;
}

/* Print finished tasks at the head of the ring, in input order. */
static void flush_done(struct runner *r)
{
    while (r->n && r->ring[r->head].done) {
        struct task *t = &r->ring[r->head];
        printf("%s\n", t->result ? t->result : "{\"error\":\"out of memory\"}");
        r->any_failed |= t->failed;
        task_clear(t);
        r->head = (r->head + 1) % (size_t)r->o->parallel;
        r->n--;
    }
    fflush(stdout);
}

static void start_task(struct runner *r, struct task *t)
{
    t->run = r;
    if (t->error) {
        t->result = result_json(t, NULL);
        t->failed = 1;
        t->done = 1;
        return;
    }
    struct belt_route_call_params p;
    fill_params(r->o, t, &p);
    p.on_answer = on_task_answer;
    p.ud = t;
    struct belt_error err = {0};
    if (belt_route_call_start(r->loop, &p, &t->rc, &err) != BELT_OK) {
        t->error = strdup(err.msg);
        t->result = result_json(t, NULL);
        t->failed = 1;
        t->done = 1;
    }
}

static int run_stdin(struct belt_engine *e, const struct route_opts *o)
{
    struct event_base *base = event_base_new();
    struct runner r = {o, NULL, calloc((size_t)o->parallel, sizeof(struct task)), 0, 0, 0, 0};
    struct belt_error err = {0};
    belt_status st = base && r.ring ? belt_loop_new(e, base, &r.loop, &err) : BELT_ERR_NOMEM;
    char *line = NULL;
    size_t cap = 0;
    int64_t lineno = 0;
    while (st == BELT_OK) {
        if (r.n == (size_t)o->parallel) { /* full: wait for the oldest */
            event_base_loop(base, EVLOOP_ONCE);
            flush_done(&r);
            continue;
        }
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0)
            break;
        lineno++;
        size_t n = 0;
        const char *s = belt_str_trim(line, (size_t)len, &n);
        if (n == 0)
            continue;
        if (n > MAX_LINE) {
            fprintf(stderr, "belt route: stdin:%lld: line longer than %d bytes\n",
                    (long long)lineno, MAX_LINE);
            r.any_failed = 1;
            continue;
        }
        struct task *t = &r.ring[(r.head + r.n) % (size_t)o->parallel];
        task_from_line(o, t, s, n, lineno);
        r.n++;
        r.n_tasks++;
        start_task(&r, t);
        flush_done(&r);
    }
    while (st == BELT_OK && r.n) {
        event_base_loop(base, EVLOOP_ONCE);
        flush_done(&r);
    }
    free(line);
    belt_loop_free(r.loop);
    if (base)
        event_base_free(base);
    free(r.ring);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    if (r.n_tasks == 0)
        fprintf(stderr, "belt route: no tasks on stdin (give TEXT, or JSONL lines)\n");
    return r.any_failed || r.n_tasks == 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct route_opts o;
    memset(&o, 0, sizeof(o));
    if (parse(cmd, argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    belt_status st = cli_load_config(ctx, &cfg, &err);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    struct belt_engine *e = NULL;
    struct belt_engine_params ep = belt_engine_default_params();
    ep.config = cfg;
    ep.trace = o.trace ? 1 : 0;
    ep.cache = 0;
    st = belt_engine_new(&ep, &e, &err);
    int rc;
    if (st != BELT_OK) {
        rc = cli_fail(&err, st);
    } else if (!belt_route_exists(e, o.name)) {
        fprintf(stderr, "belt route: no route or model is called '%s'\n", o.name);
        rc = CLI_EXIT_FAILURE;
    } else {
        rc = o.text ? run_one(e, &o) : run_stdin(e, &o);
    }
    if (e && o.trace && belt_engine_flush(e, 30000, NULL) != BELT_OK)
        fprintf(stderr, "belt route: some traces could not be written in time\n");
    belt_engine_free(e);
    belt_config_free(cfg);
    return rc;
}

const struct cli_command cli_route_cmd = {
    "route", run, "run a route (or a model) live on one task or JSONL tasks and show its path",
    "usage: belt [-c FILE] route NAME [options] [TEXT]\n"
    "\n"
    "Run route NAME (or model NAME) live — real model calls, no server — and print the answer\n"
    "and the path: every tier tried or skipped, its confidence signals, why it was accepted or\n"
    "escalated, its cost and latency. With TEXT, one task; without, JSONL tasks on stdin (one\n"
    "JSON result per line, in input order): {\"text\" | \"query\" | \"messages\", \"id\",\n"
    "\"stakes\", \"tags\", \"key\", \"max_cost_usd\", \"max_latency_ms\"}.\n"
    "\n"
    "  -s, --stakes S          the request's stakes for `rules` (e.g. high)\n"
    "  -t, --tag T             a tag for `rules` (repeatable)\n"
    "  -k, --key NAME          the API key name for `rules`\n"
    "      --system TEXT       a system message before the task\n"
    "      --max-cost USD      the request's own cost budget (on top of the routes')\n"
    "      --max-latency DUR   the request's own latency budget (500ms, 2s)\n"
    "      --timeout DUR       deadline of the whole route call\n"
    "      --stream            stream the answer to stdout as it comes (TEXT only)\n"
    "      --json              print the result as one JSON object\n"
    "      --trace             write the trace (route path as steps) to the store\n"
    "  -j, --parallel N        stdin: tasks in flight at once (default 4)\n"
    "\n"
    "Exit status: 0 when every task ended as the route intends (answered, or handed to a\n"
    "person / over budget with the best answer marked), 1 when one failed, 2 usage error."};
