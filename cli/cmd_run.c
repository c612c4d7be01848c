/*
 * cmd_run.c — `belt run LINE`: run a line over a JSONL or CSV file with a progress bar on a
 * terminal and a summary at the end (text on stdout, JSON with --summary-json). Crash-safe:
 * `--resume` continues an interrupted run with every input record in the output exactly once.
 * `--reviewed` continues the items whose review was decided. See docs/cli/run.md.
 */
#include "belt_config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "util/fileio.h"

#define MAX_GOLD      32
#define MAX_BAD_SHOWN 20

struct run_opts {
    const char *line;
    const char *input;
    const char *output;
    const char *summary_json;
    const char *gold[MAX_GOLD];
    size_t n_gold;
    long concurrency, threads, limit, ckpt_items;
    int format;
    int resume, overwrite, stop_on_bad, reviewed, no_cache, no_trace, quiet;
};

struct progress_ctx {
    int tty;    /* draw the bar */
    int drawn;  /* a bar is on screen (erase it before other output) */
    long n_bad; /* bad records reported */
};

static volatile int g_stop;

static void on_signal(int sig)
{
    g_stop = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process; the checkpoint stays valid */
}

static void fmt_eta(double s, char *buf, size_t cap)
{
    if (s < 0)
        snprintf(buf, cap, "--");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void on_progress(void *ud, const struct belt_line_progress *p)
{
    struct progress_ctx *pc = ud;
    if (!pc->tty)
        return;
    char bar[26], eta[16];
    int fill = p->fraction >= 0 ? (int)(p->fraction * 24 + 0.5) : 0;
    for (int i = 0; i < 24; i++)
        bar[i] = i < fill ? '=' : (i == fill && p->fraction >= 0 ? '>' : ' ');
    bar[24] = '\0';
    fmt_eta(p->eta_s, eta, sizeof(eta));
    double esc = p->items > 0 ? 100.0 * (double)p->escalations / (double)p->items : 0;
    fprintf(stderr,
            "\r\033[K[%s] %3.0f%% %lld items %.0f/s ETA %s  $%.4f  esc %.1f%%  review %lld  "
            "err %lld",
            bar, p->fraction >= 0 ? p->fraction * 100 : 0.0, (long long)p->items, p->items_per_s,
            eta, p->cost_usd, esc, (long long)p->reviews, (long long)(p->errors + p->bad_input));
    fflush(stderr);
    pc->drawn = 1;
}

static void on_bad(void *ud, int64_t lineno, const char *msg)
{
    struct progress_ctx *pc = ud;
    (void)lineno;
    pc->n_bad++;
    if (pc->n_bad > MAX_BAD_SHOWN)
        return;
    if (pc->drawn)
        fprintf(stderr, "\r\033[K");
    pc->drawn = 0;
    fprintf(stderr, "belt run: bad input: %s\n", msg);
    if (pc->n_bad == MAX_BAD_SHOWN)
        fprintf(stderr, "belt run: (further bad input is counted, not shown)\n");
}

enum {
    OPT_SUMMARY = 256,
    OPT_BAD,
    OPT_NO_CACHE,
    OPT_NO_TRACE,
    OPT_FORMAT,
    OPT_OVERWRITE,
    OPT_CKPT
};

static int parse(const struct cli_command *cmd, int argc, char **argv, struct run_opts *o)
{
    static const struct option longs[] = {{"input", required_argument, NULL, 'i'},
                                          {"output", required_argument, NULL, 'o'},
                                          {"concurrency", required_argument, NULL, 'n'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"limit", required_argument, NULL, 'l'},
                                          {"resume", no_argument, NULL, 'r'},
                                          {"overwrite", no_argument, NULL, OPT_OVERWRITE},
                                          {"reviewed", no_argument, NULL, 'R'},
                                          {"gold", required_argument, NULL, 'g'},
                                          {"on-bad-input", required_argument, NULL, OPT_BAD},
                                          {"summary-json", required_argument, NULL, OPT_SUMMARY},
                                          {"format", required_argument, NULL, OPT_FORMAT},
                                          {"no-cache", no_argument, NULL, OPT_NO_CACHE},
                                          {"no-trace", no_argument, NULL, OPT_NO_TRACE},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"checkpoint-every", required_argument, NULL, OPT_CKPT},
                                          {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "i:o:n:t:l:rRg:q", longs, NULL)) != -1) {
        switch (c) {
        case 'i':
            o->input = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'n':
            if (cli_parse_long(cmd, "--concurrency", optarg, &o->concurrency) != 0)
                return -1;
            if (o->concurrency < 1 || o->concurrency > 100000)
                return cli_usage_error(cmd, "--concurrency must be 1..100000"), -1;
            break;
        case 't':
            if (cli_parse_long(cmd, "--threads", optarg, &o->threads) != 0)
                return -1;
            if (o->threads < 1 || o->threads > 16)
                return cli_usage_error(cmd, "--threads must be 1..16"), -1;
            break;
        case 'l':
            if (cli_parse_long(cmd, "--limit", optarg, &o->limit) != 0)
                return -1;
            if (o->limit < 1)
                return cli_usage_error(cmd, "--limit must be at least 1"), -1;
            break;
        case 'r':
            o->resume = 1;
            break;
        case OPT_OVERWRITE:
            o->overwrite = 1;
            break;
        case 'R':
            o->reviewed = 1;
            break;
        case 'g':
            if (o->n_gold == MAX_GOLD)
                return cli_usage_error(cmd, "at most %d --gold specs", MAX_GOLD), -1;
            o->gold[o->n_gold++] = optarg;
            break;
        case OPT_BAD:
            if (strcmp(optarg, "skip") == 0)
                o->stop_on_bad = 0;
            else if (strcmp(optarg, "stop") == 0)
                o->stop_on_bad = 1;
            else
                return cli_usage_error(cmd, "--on-bad-input is skip or stop"), -1;
            break;
        case OPT_SUMMARY:
            o->summary_json = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "jsonl") == 0)
                o->format = BELT_LINE_INPUT_JSONL;
            else if (strcmp(optarg, "csv") == 0)
                o->format = BELT_LINE_INPUT_CSV;
            else
                return cli_usage_error(cmd, "--format is jsonl or csv"), -1;
            break;
        case OPT_NO_CACHE:
            o->no_cache = 1;
            break;
        case OPT_NO_TRACE:
            o->no_trace = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case OPT_CKPT:
            if (cli_parse_long(cmd, "--checkpoint-every", optarg, &o->ckpt_items) != 0)
                return -1;
            if (o->ckpt_items < 1)
                return cli_usage_error(cmd, "--checkpoint-every must be at least 1"), -1;
            break;
        default:
            return cli_usage_error(cmd, "unknown option"), -1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, "expected one LINE"), -1;
    o->line = argv[optind];
    if (!o->output)
        return cli_usage_error(cmd, "--output is required"), -1;
    if (!o->input && !o->reviewed)
        return cli_usage_error(cmd, "--input is required (or --reviewed)"), -1;
    if (o->input && o->reviewed)
        return cli_usage_error(cmd, "--reviewed reads the review queue, not --input"), -1;
    if (o->resume && o->overwrite)
        return cli_usage_error(cmd, "--resume and --overwrite exclude each other"), -1;
    return 0;
}

static int write_summary_json(const char *path, const char *json, struct belt_error *err)
{
    struct belt_atomic_file af;
    belt_status st = belt_atomic_file_open(&af, path, err);
    if (st != BELT_OK)
        return -1;
    fputs(json, af.fp);
    fputc('\n', af.fp);
    return belt_atomic_file_commit(&af, err) == BELT_OK ? 0 : -1;
}

static belt_status run_line(struct belt_engine *e, const struct run_opts *o,
                            struct progress_ctx *pc, struct belt_line_summary **sum,
                            struct belt_error *err)
{
    struct belt_line_run_params p = belt_line_run_default_params();
    p.line = o->line;
    p.input = o->input;
    p.input_format = o->format;
    p.output = o->output;
    p.concurrency = o->concurrency;
    p.threads = (int)o->threads;
    p.limit = o->limit;
    p.resume = o->resume;
    p.overwrite = o->overwrite;
    p.reviewed = o->reviewed;
    p.stop_on_bad_input = o->stop_on_bad;
    p.gold = o->gold;
    p.n_gold = o->n_gold;
    p.cache = o->no_cache ? 0 : -1;
    p.trace = o->no_trace ? 0 : -1;
    p.checkpoint_items = o->ckpt_items > 0 ? o->ckpt_items : p.checkpoint_items;
    p.progress = on_progress;
    p.progress_ud = pc;
    p.on_bad_input = on_bad;
    p.bad_input_ud = pc;
    p.stop = &g_stop;
    return belt_line_run(e, &p, sum, err);
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct run_opts o = {0};
    if (parse(cmd, argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_engine *e = NULL;
    struct belt_line_summary *sum = NULL;
    struct progress_ctx pc = {ctx->stderr_tty && !o.quiet, 0, 0};
    belt_status st = cli_load_config(ctx, &cfg, &err);
    if (st == BELT_OK) {
        struct belt_engine_params ep = belt_engine_default_params();
        ep.config = cfg;
        ep.trace = o.no_trace ? 0 : 1;
        st = belt_engine_new(&ep, &e, &err);
    }
    if (st == BELT_OK) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        st = run_line(e, &o, &pc, &sum, &err);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    if (pc.drawn)
        fprintf(stderr, "\r\033[K");
    int rc = st == BELT_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    if (sum) {
        char *text = o.quiet ? NULL : belt_line_summary_text(sum);
        if (text)
            fputs(text, stdout);
        belt_free(text);
        char *json = o.summary_json ? belt_line_summary_json(sum) : NULL;
        struct belt_error jerr = {0};
        if (o.summary_json && (!json || write_summary_json(o.summary_json, json, &jerr) != 0)) {
            fprintf(stderr, "belt run: cannot write %s: %s\n", o.summary_json, jerr.msg);
            rc = CLI_EXIT_FAILURE;
        }
        belt_free(json);
        belt_line_summary_free(sum);
    }
    belt_engine_free(e);
    belt_config_free(cfg);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    return rc;
}

const struct cli_command cli_run_cmd = {
    "run", run, "run a line over a JSONL or CSV file (crash-safe, resumable)",
    "usage: belt [-c FILE] run LINE --input FILE --output FILE [options]\n"
    "       belt [-c FILE] run LINE --reviewed --output FILE\n"
    "\n"
    "Moves every record of the input through the stations of LINE (the `lines:` section of the\n"
    "configuration) and writes one JSON line per record, in input order: the record with each\n"
    "station's output, plus `_belt` {item, status, reason, review_id, cost_usd, latency_us,\n"
    "path}. Model calls run concurrently; local stations inline. A summary follows.\n"
    "\n"
    "  -i, --input FILE         JSONL (one object per line) or CSV/TSV (header row); - = stdin\n"
    "  -o, --output FILE        JSONL output\n"
    "  -n, --concurrency N      items in flight (default: the line's concurrency)\n"
    "  -t, --threads N          event loops (default: one per CPU)\n"
    "  -l, --limit N            process at most N input records in all\n"
    "  -r, --resume             continue the interrupted run that writes FILE (exactly once)\n"
    "      --overwrite          start afresh even though the output exists\n"
    "  -R, --reviewed           continue the items whose review was decided (appends)\n"
    "  -g, --gold FIELD=STATION[.SUB]  accuracy of a station against a gold field (repeat)\n"
    "      --on-bad-input skip|stop    a bad record is reported and skipped (default) or\n"
    "                           stops the run\n"
    "      --summary-json FILE  also write the summary as JSON\n"
    "      --format jsonl|csv   input format (default: by extension)\n"
    "      --no-cache           do not use the per-station cache\n"
    "      --no-trace           do not write traces\n"
    "      --checkpoint-every N commit a checkpoint at least every N items (default 10000;\n"
    "                           also every second)\n"
    "  -q, --quiet              no progress bar and no text summary\n"
    "\n"
    "Ctrl-C stops gracefully (items in flight finish, a checkpoint is written); continue with\n"
    "--resume. Exit status: 0 complete, 1 stopped or failed, 2 usage error.\n"};
