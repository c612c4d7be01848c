/*
 * cmd_traces.c — `belt traces tail|export|show|prune` (docs/cli/traces.md): read the traces the
 * gateway wrote. `tail` prints the latest traces and follows new ones; `export` writes JSONL
 * spans with OpenTelemetry GenAI attribute names; `show` prints one trace's path step by step;
 * `prune` deletes old ones.
 */
#include "belt_config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/str.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- tail --------------------------------------------------------------------------------- */

struct tail_state {
    int64_t last_rowid; /* highest rowid printed */
    int quiet;          /* track rowids without printing */
};

static int print_line(void *ud, const struct belt_trace_info *t)
{
    struct tail_state *s = ud;
    if (t->rowid > s->last_rowid)
        s->last_rowid = t->rowid;
    if (s->quiet)
        return 0;
    char when[40];
    belt_format_rfc3339(t->ts_ms, when, sizeof(when));
    printf("%s  %s  %-16s %-16s %3d %-9s %6.1f ms  in %-6lld out %-6lld $%.6f%s%s%s%s\n", when,
           t->id, t->route ? t->route : "-", t->model ? t->model : "-", t->http_status,
           t->status ? t->status : "-", (double)t->latency_us / 1000.0, (long long)t->input_tokens,
           (long long)t->output_tokens, t->cost_usd, t->cache_hit ? "  cache" : "",
           t->stream ? "  stream" : "", t->error ? "  " : "", t->error ? t->error : "");
    return 0;
}

static int note_min(void *ud, const struct belt_trace_info *t)
{
    int64_t *min = ud;
    if (*min == 0 || t->rowid < *min)
        *min = t->rowid;
    return 0;
}

static int run_tail(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"lines", required_argument, NULL, 'n'},
                                         {"once", no_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    long lines = 20;
    int once = 0;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "n:", opts, NULL);
        if (c == -1)
            break;
        if (c == 'n') {
            if (cli_parse_long(cmd, "--lines", optarg, &lines) != 0 || lines < 0)
                return CLI_EXIT_USAGE;
        } else if (c == 'o') {
            once = 1;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    struct tail_state ts = {0, 0};
    if (s == BELT_OK) {
        /* the newest `lines` traces, printed oldest first; then everything after them */
        struct belt_trace_query q = {0};
        q.newest_first = 1;
        q.limit = lines > 0 ? lines : 1;
        int64_t min = 0;
        s = belt_store_list_traces(st, &q, note_min, &min, &err);
        struct belt_trace_query from = {0};
        from.after_rowid = min > 0 ? min - 1 : 0;
        if (s == BELT_OK && lines > 0)
            s = belt_store_list_traces(st, &from, print_line, &ts, &err);
        else
            ts.last_rowid = min;
    }
    fflush(stdout);
    if (s == BELT_OK && !once) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!g_stop && s == BELT_OK) {
            belt_sleep_ms(250);
            struct belt_trace_query q = {0};
            q.after_rowid = ts.last_rowid;
            s = belt_store_list_traces(st, &q, print_line, &ts, &err);
            fflush(stdout);
        }
    }
    belt_store_close(st);
    belt_config_free(cfg);
    return s == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, s);
}

/* ---- export ------------------------------------------------------------------------------- */

struct export_state {
    struct belt_store *st; /* to read steps */
    FILE *out;             /* destination */
    int64_t n;             /* lines written */
    belt_status status;    /* first error while reading steps */
    struct belt_error *err;
};

static void kv_str(struct belt_buf *b, const char *key, const char *v, int *first)
{
    if (!v)
        return;
    belt_buf_printf(b, "%s\"%s\":", *first ? "" : ",", key);
    belt_buf_append_json_string(b, v, strlen(v));
    *first = 0;
}

static void kv_num(struct belt_buf *b, const char *key, const char *fmt_value, int *first)
{
    belt_buf_printf(b, "%s\"%s\":%s", *first ? "" : ",", key, fmt_value);
    *first = 0;
}

static int step_event(void *ud, const struct belt_trace_step_info *s)
{
    struct belt_buf *b = ud;
    char v[64];
    int first = 1;
    if (b->data && b->data[b->len - 1] != '[')
        belt_buf_putc(b, ',');
    belt_buf_puts(b, "{\"name\":\"belt.attempt\",\"attributes\":{");
    snprintf(v, sizeof(v), "%d", s->seq);
    kv_num(b, "belt.step.seq", v, &first);
    kv_str(b, "gen_ai.request.model", s->model, &first);
    kv_str(b, "belt.deployment", s->deployment, &first);
    kv_str(b, "belt.step.status", s->status, &first);
    kv_str(b, "belt.step.reason", s->reason, &first);
    if (s->http_status) {
        snprintf(v, sizeof(v), "%d", s->http_status);
        kv_num(b, "http.response.status_code", v, &first);
    }
    kv_str(b, "error.type", s->error, &first);
    snprintf(v, sizeof(v), "%lld", (long long)s->input_tokens);
    kv_num(b, "gen_ai.usage.input_tokens", v, &first);
    snprintf(v, sizeof(v), "%lld", (long long)s->output_tokens);
    kv_num(b, "gen_ai.usage.output_tokens", v, &first);
    snprintf(v, sizeof(v), "%.8f", s->cost_usd);
    kv_num(b, "belt.cost_usd", v, &first);
    snprintf(v, sizeof(v), "%lld", (long long)s->latency_us);
    kv_num(b, "belt.latency_us", v, &first);
    if (s->confidence >= 0) {
        snprintf(v, sizeof(v), "%.6g", s->confidence);
        kv_num(b, "belt.confidence", v, &first);
    }
    belt_buf_puts(b, "}}");
    return 0;
}

/* Copy the stored attrs object's members (already OTel-named) into the attributes object. */
static void merge_attrs(struct belt_buf *b, const char *attrs_json, int *first)
{
    json_t *a = attrs_json ? json_loads(attrs_json, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        belt_buf_printf(b, "%s", *first ? "" : ",");
        belt_buf_append_json_string(b, k, strlen(k));
        belt_buf_putc(b, ':');
        belt_json_dump_buf(v, JSON_COMPACT | JSON_ENCODE_ANY, b);
        *first = 0;
    }
    json_decref(a);
}

/* One trace as an OpenTelemetry-style span with GenAI attributes and one event per attempt. */
static int export_one(void *ud, const struct belt_trace_info *t)
{
    struct export_state *es = ud;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    char v[64];
    long long start_ns = (long long)t->ts_ms * 1000000LL;
    belt_buf_printf(&b, "{\"trace_id\":\"%s\",\"span_id\":\"%.16s\",\"name\":", t->id, t->id);
    char name[300];
    snprintf(name, sizeof(name), "%s %s", t->kind ? t->kind : "chat", t->route ? t->route : "");
    belt_buf_append_json_string(&b, name, strlen(name));
    belt_buf_printf(&b,
                    ",\"kind\":\"SERVER\",\"start_time_unix_nano\":%lld,"
                    "\"end_time_unix_nano\":%lld,\"status\":{\"code\":\"%s\"",
                    start_ns, start_ns + (long long)t->latency_us * 1000LL,
                    t->status && strcmp(t->status, "ok") == 0 ? "OK" : "ERROR");
    if (t->error) {
        belt_buf_puts(&b, ",\"message\":");
        belt_buf_append_json_string(&b, t->error, strlen(t->error));
    }
    belt_buf_puts(&b, "},\"attributes\":{");
    int first = 1;
    merge_attrs(&b, t->attrs_json, &first);
    kv_str(&b, "gen_ai.operation.name", first ? t->kind : NULL, &first);
    kv_str(&b, "belt.route", t->route, &first);
    kv_str(&b, "belt.model", t->model, &first);
    snprintf(v, sizeof(v), "%lld", (long long)t->input_tokens);
    kv_num(&b, "gen_ai.usage.input_tokens", v, &first);
    snprintf(v, sizeof(v), "%lld", (long long)t->output_tokens);
    kv_num(&b, "gen_ai.usage.output_tokens", v, &first);
    snprintf(v, sizeof(v), "%.8f", t->cost_usd);
    kv_num(&b, "belt.cost_usd", v, &first);
    kv_num(&b, "belt.cache_hit", t->cache_hit ? "true" : "false", &first);
    kv_num(&b, "belt.stream", t->stream ? "true" : "false", &first);
    snprintf(v, sizeof(v), "%d", t->http_status);
    kv_num(&b, "http.response.status_code", v, &first);
    kv_str(&b, "belt.key_id", t->key_id, &first);
    if (t->status && strcmp(t->status, "ok") != 0)
        kv_str(&b, "error.type", t->status, &first);
    belt_buf_puts(&b, "},\"events\":[");
    belt_status s = belt_store_trace_steps(es->st, t->id, step_event, &b, es->err);
    belt_buf_puts(&b, "]}\n");
    if (s != BELT_OK) {
        es->status = s;
        belt_buf_deinit(&b);
        return 1;
    }
    fwrite(b.data, 1, b.len, es->out);
    es->n++;
    belt_buf_deinit(&b);
    return 0;
}

static int run_export(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"route", required_argument, NULL, 'r'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"output", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    struct belt_trace_query q = {0};
    const char *outpath = NULL;
    long limit = 0;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "o:n:", opts, NULL);
        if (c == -1)
            break;
        int bad = 0;
        switch (c) {
        case 's':
            bad = cli_parse_time_back(cmd, "--since", optarg, &q.since_ms);
            break;
        case 'u':
            bad = cli_parse_time_back(cmd, "--until", optarg, &q.until_ms);
            break;
        case 'm':
            q.model = optarg;
            break;
        case 'r':
            q.route = optarg;
            break;
        case 'n':
            bad = cli_parse_long(cmd, "--limit", optarg, &limit) != 0 || limit < 0;
            break;
        case 'o':
            outpath = optarg;
            break;
        default:
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
        if (bad)
            return CLI_EXIT_USAGE;
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    q.limit = limit;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    struct belt_atomic_file af = {0};
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK && outpath)
        s = belt_atomic_file_open(&af, outpath, &err);
    struct export_state es = {st, outpath ? af.fp : stdout, 0, BELT_OK, &err};
    if (s == BELT_OK)
        s = belt_store_list_traces(st, &q, export_one, &es, &err);
    if (s == BELT_OK)
        s = es.status;
    if (outpath && s == BELT_OK)
        s = belt_atomic_file_commit(&af, &err);
    else if (outpath)
        belt_atomic_file_abort(&af);
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (outpath)
        fprintf(stderr, "belt traces: %lld traces written to %s\n", (long long)es.n, outpath);
    return CLI_EXIT_OK;
}

/* ---- show --------------------------------------------------------------------------------- */

static int show_trace(void *ud, const struct belt_trace_info *t)
{
    int *found = ud;
    char when[40];
    *found = 1;
    belt_format_rfc3339(t->ts_ms, when, sizeof(when));
    printf("trace   %s\ntime    %s\nkind    %s\nroute   %s\nmodel   %s\nstatus  %s (HTTP %d)%s%s\n"
           "tokens  %lld in, %lld out\ncost    $%.8f\nlatency %.3f ms\ncache   %s\nstream  %s\n",
           t->id, when, t->kind ? t->kind : "-", t->route ? t->route : "-",
           t->model ? t->model : "-", t->status ? t->status : "-", t->http_status,
           t->error ? ": " : "", t->error ? t->error : "", (long long)t->input_tokens,
           (long long)t->output_tokens, t->cost_usd, (double)t->latency_us / 1000.0,
           t->cache_hit ? "hit" : "no", t->stream ? "yes" : "no");
    if (t->attrs_json)
        printf("attrs   %s\n", t->attrs_json);
    return 1;
}

static int show_step(void *ud, const struct belt_trace_step_info *s)
{
    int *n = ud;
    if ((*n)++ == 0)
        printf("\npath:\n  %-3s %-4s %-18s %-18s %-11s %5s %4s %10s %8s %8s %11s  %s\n", "#",
               "tier", "model", "deployment", "status", "conf", "http", "latency", "in", "out",
               "cost", "why / error");
    char tier[16] = "-", conf[16] = "-";
    if (s->tier >= 0)
        snprintf(tier, sizeof(tier), "%d", s->tier + 1);
    if (s->confidence >= 0)
        snprintf(conf, sizeof(conf), "%.3f", s->confidence);
    printf("  %-3d %-4s %-18s %-18s %-11s %5s %4d %7.2f ms %8lld %8lld $%.8f  %s%s%s\n", s->seq,
           tier, s->model, s->deployment ? s->deployment : "-", s->status ? s->status : "-", conf,
           s->http_status, (double)s->latency_us / 1000.0, (long long)s->input_tokens,
           (long long)s->output_tokens, s->cost_usd, s->reason ? s->reason : "-",
           s->error ? "; " : "", s->error ? s->error : "");
    return 0;
}

static int run_show(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(cmd, "show needs exactly one trace id");
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    int found = 0, n = 0;
    struct belt_trace_query q = {0};
    q.id = argv[1];
    if (s == BELT_OK)
        s = belt_store_list_traces(st, &q, show_trace, &found, &err);
    if (s == BELT_OK && found)
        s = belt_store_trace_steps(st, argv[1], show_step, &n, &err);
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (!found) {
        fprintf(stderr, "belt traces: no trace with id '%s'\n", argv[1]);
        return CLI_EXIT_FAILURE;
    }
    if (n == 0)
        printf("\npath: (no model was called: answered from the cache or refused)\n");
    return CLI_EXIT_OK;
}

/* ---- prune -------------------------------------------------------------------------------- */

static int run_prune(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"older-than", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    const char *older = NULL;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == 'o')
            older = optarg;
        else
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    int64_t before = 0;
    if (older && cli_parse_time_back(cmd, "--older-than", older, &before) != 0)
        return CLI_EXIT_USAGE;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (!older) {
        int64_t keep = belt_config_trace_retention_ms(cfg);
        if (keep <= 0) {
            belt_config_free(cfg);
            return cli_usage_error(cmd, "prune needs --older-than T (the configuration sets no "
                                        "server.trace_retention)");
        }
        before = belt_wall_ms() - keep;
    }
    int64_t n = 0;
    s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK)
        s = belt_store_prune_traces(st, before, &n, &err);
    belt_store_close(st);
    belt_config_free(cfg);
    char when[40];
    belt_format_rfc3339(before, when, sizeof(when));
    if (s != BELT_OK) {
        if (n > 0)
            fprintf(stderr, "belt traces: deleted %lld traces started before %s, then failed\n",
                    (long long)n, when);
        return cli_fail(&err, s);
    }
    printf(
        "deleted %lld traces started before %s (and their steps; the audit log keeps its rows)\n",
        (long long)n, when);
    return CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "expected a subcommand: tail, export, show or prune");
    const char *sub = argv[1];
    if (strcmp(sub, "tail") == 0)
        return run_tail(ctx, cmd, argc - 1, argv + 1);
    if (strcmp(sub, "export") == 0)
        return run_export(ctx, cmd, argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return run_show(ctx, cmd, argc - 1, argv + 1);
    if (strcmp(sub, "prune") == 0)
        return run_prune(ctx, cmd, argc - 1, argv + 1);
    return cli_usage_error(cmd, "unknown subcommand '%s' (expected tail, export, show or prune)",
                           sub);
}

const struct cli_command cli_traces_cmd = {
    "traces", run, "follow, export, show or prune the traces of model calls",
    "usage: belt [-c FILE] traces tail [-n N] [--once]\n"
    "       belt [-c FILE] traces export [--since T] [--until T] [--model M] [--route R]\n"
    "                                   [--limit N] [-o FILE]\n"
    "       belt [-c FILE] traces show TRACE_ID\n"
    "       belt [-c FILE] traces prune [--older-than T]\n"
    "\n"
    "tail    print the newest N traces (default 20), then follow new ones until interrupted\n"
    "        (--once: print and exit)\n"
    "export  write traces as JSONL spans with OpenTelemetry GenAI attribute names\n"
    "        (gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens, ...),\n"
    "        one event per model attempt; T is a duration back from now (15m, 2h) or Unix ms;\n"
    "        -o writes FILE atomically (default: standard output)\n"
    "show    print one trace and its path: every model tried, why, status, latency, cost\n"
    "prune   delete the traces started before T (7d: older than seven days; default: the\n"
    "        configuration's server.trace_retention) and their steps; the audit log keeps its\n"
    "        rows; safe while belt serve runs\n"
    "\n"
    "See docs/cli/traces.md."};
