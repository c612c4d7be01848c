/*
 * cmd_eval_route.c — `belt eval --route NAME --replay FILE`: offline evaluation of a route of
 * the configuration against recorded outcomes (belt_route_eval): accuracy, cost, latency, share
 * per tier, the threshold sweep with its curve and hull, savings, APGR, CPT and AIQ; as text,
 * JSON (--json) and a self-contained HTML page (--html FILE). The run is recorded in the store.
 * Reached through the mode dispatch of cmd_eval.c.
 */
#include "belt_config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/fileio.h"

struct route_opts {
    const char *route;                /* --route */
    const char *replay;               /* --replay */
    const char *html;                 /* --html FILE */
    int json;                         /* --json */
    int no_record;                    /* --no-record */
    struct belt_route_eval_params ep; /* sweep, points, quality, title */
};

static int parse_args(const struct cli_command *cmd, int argc, char **argv, struct route_opts *o)
{
    static const struct option opts[] = {
        {"route", required_argument, NULL, 'r'},   {"replay", required_argument, NULL, 'p'},
        {"html", required_argument, NULL, 'H'},    {"json", no_argument, NULL, 'j'},
        {"quality", required_argument, NULL, 'q'}, {"points", required_argument, NULL, 'n'},
        {"no-sweep", no_argument, NULL, 'S'},      {"title", required_argument, NULL, 't'},
        {"no-record", no_argument, NULL, 'R'},     {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        long n;
        switch (c) {
        case 'r':
            o->route = optarg;
            break;
        case 'p':
            o->replay = optarg;
            break;
        case 'H':
            o->html = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'S':
            o->ep.sweep = 0;
            break;
        case 't':
            o->ep.title = optarg;
            break;
        case 'R':
            o->no_record = 1;
            break;
        case 'q':
            if (cli_parse_double(cmd, "--quality", optarg, &o->ep.quality) != 0)
                return CLI_EXIT_USAGE;
            if (!(o->ep.quality > 0 && o->ep.quality <= 1))
                return cli_usage_error(cmd, "--quality must be in (0, 1]");
            break;
        case 'n':
            if (cli_parse_long(cmd, "--points", optarg, &n) != 0)
                return CLI_EXIT_USAGE;
            if (n < 3 || n > 100000)
                return cli_usage_error(cmd, "--points must be in [3, 100000]");
            o->ep.max_points = (size_t)n;
            break;
        default:
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->route || !o->replay)
        return cli_usage_error(cmd, "--route NAME and --replay FILE go together");
    return CLI_EXIT_OK;
}

static belt_status write_html(const char *path, const char *html, struct belt_error *err)
{
    struct belt_atomic_file af;
    belt_status st = belt_atomic_file_open(&af, path, err);
    if (st != BELT_OK)
        return st;
    if (fputs(html, af.fp) == EOF) {
        belt_atomic_file_abort(&af);
        snprintf(err->msg, sizeof(err->msg), "%s: write failed", path);
        err->code = BELT_ERR_IO;
        return BELT_ERR_IO;
    }
    return belt_atomic_file_commit(&af, err);
}

/* A JSON number or null. */
static void jnum(struct belt_buf *b, const char *k, double v, int comma)
{
    belt_buf_printf(b, isfinite(v) ? "%s\"%s\":%.10g" : "%s\"%s\":null", comma ? "," : "", k,
                    isfinite(v) ? v : 0.0);
}

/* Headline figures recorded with the run. */
static belt_status record(const struct cli_ctx *ctx, const struct route_opts *o,
                          const struct belt_route_report *r, struct belt_error *err)
{
    struct belt_buf m;
    belt_buf_init(&m, 0);
    belt_buf_putc(&m, '{');
    jnum(&m, "accuracy", belt_route_report_accuracy(r), 0);
    jnum(&m, "cost_usd_per_task", belt_route_report_cost_per_task(r), 1);
    jnum(&m, "saving", belt_route_report_saving(r), 1);
    jnum(&m, "quality", o->ep.quality, 1);
    jnum(&m, "apgr", belt_route_report_apgr(r), 1);
    jnum(&m, "aiq", belt_route_report_aiq(r), 1);
    belt_status st = belt_buf_putc(&m, '}');
    char model[300];
    snprintf(model, sizeof(model), "route:%s", o->route);
    struct belt_config *cfg = NULL;
    struct belt_store *store = NULL;
    if (st == BELT_OK)
        st = cli_load_config(ctx, &cfg, err);
    if (st == BELT_OK)
        st = cli_open_store(cfg, &store, err);
    if (st == BELT_OK)
        st = belt_store_add_eval_run(store, model, o->replay, belt_buf_cstr(&m), NULL, err);
    belt_store_close(store);
    belt_config_free(cfg);
    belt_buf_deinit(&m);
    return st;
}

int cli_eval_route(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct route_opts o;
    memset(&o, 0, sizeof(o));
    o.ep = belt_route_eval_default_params();
    int rc = parse_args(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_route_report *r = NULL;
    belt_status st = cli_load_config(ctx, &cfg, &err);
    if (st == BELT_OK)
        st = belt_route_eval(cfg, o.route, o.replay, &o.ep, &r, &err);
    belt_config_free(cfg);
    char *text = NULL, *html = NULL;
    if (st == BELT_OK) {
        text = o.json ? belt_route_report_json(r) : belt_route_report_text(r);
        html = o.html ? belt_route_report_html(r) : NULL;
        if (!text || (o.html && !html))
            st = BELT_ERR_NOMEM;
    }
    if (st == BELT_OK && o.html)
        st = write_html(o.html, html, &err);
    if (st == BELT_OK && !o.no_record)
        st = record(ctx, &o, r, &err);
    if (st == BELT_OK)
        fputs(text, stdout);
    if (st == BELT_OK && o.html && !o.json)
        printf("report written to %s\n", o.html);
    belt_free(text);
    belt_free(html);
    belt_route_report_free(r);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}
