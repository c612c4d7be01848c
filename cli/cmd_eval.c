/*
 * cmd_eval.c — `belt eval`: measure a model on labelled data: accuracy, macro-F1, ECE,
 * coverage and accuracy at confidence thresholds, the threshold reaching a target accuracy,
 * coverage at the threshold chosen on dev at training time, and the most confused label pairs.
 * The run is recorded in the store (belt_store_add_eval_run).
 *
 * Modes: the handler dispatches on its options. Today there is one mode, a classifier model
 * file (-m MODEL DATA.jsonl); an evaluation mode for routes (--route NAME --replay FILE) plugs
 * in as another branch of eval_mode() with its own handler, sharing report printing
 * (print_report / report_json), which works on any struct belt_eval_report.
 */
#include "belt_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dataset.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"

struct eval_opts {
    const char *model;          /* -m */
    const char *data;           /* positional */
    const char *name;           /* --name: model name in the store */
    const char *text_field;     /* --text-field */
    const char *label_field;    /* --label-field */
    int json;                   /* --json */
    int no_record;              /* --no-record */
    struct belt_eval_params ep; /* thresholds, target */
};

/* Label names of a report (index → name). */
typedef const char *label_name_fn(const void *ud, int index);

static const char *clf_label(const void *ud, int index)
{
    const char *s = belt_classifier_label(ud, (size_t)index);
    return s ? s : "?";
}

static int parse_args(const struct cli_command *cmd, int argc, char **argv, struct eval_opts *o)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},      {"json", no_argument, NULL, 'j'},
        {"target", required_argument, NULL, 'g'},     {"name", required_argument, NULL, 'n'},
        {"text-field", required_argument, NULL, 'T'}, {"label-field", required_argument, NULL, 'L'},
        {"no-record", no_argument, NULL, 'R'},        {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "m:", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'T':
            o->text_field = optarg;
            break;
        case 'L':
            o->label_field = optarg;
            break;
        case 'R':
            o->no_record = 1;
            break;
        case 'g':
            if (cli_parse_double(cmd, "--target", optarg, &o->ep.target_accuracy) != 0)
                return CLI_EXIT_USAGE;
            if (!(o->ep.target_accuracy > 0 && o->ep.target_accuracy <= 1))
                return cli_usage_error(cmd, "--target must be in (0, 1]");
            break;
        default:
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        o->data = argv[optind++];
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->model)
        return cli_usage_error(cmd, "-m MODEL is required");
    if (!o->data)
        return cli_usage_error(cmd, "the evaluation data file is required");
    return CLI_EXIT_OK;
}

static void cov_json(struct belt_buf *b, const char *key, const struct belt_eval_coverage *c)
{
    belt_buf_printf(b, "%s{\"threshold\":%.6g,\"n\":%zu,\"coverage\":%.6g,\"accuracy\":%.6g}", key,
                    c->threshold, c->n, c->coverage, c->accuracy);
}

/* The report as one JSON object (the form stored with the eval run and printed by --json). */
static void report_json(struct belt_buf *b, const struct belt_eval_report *r, label_name_fn *nm,
                        const void *ud, const char *model, const char *data)
{
    belt_buf_puts(b, "{\"model\":");
    belt_buf_append_json_string(b, model, strlen(model));
    belt_buf_puts(b, ",\"dataset\":");
    belt_buf_append_json_string(b, data, strlen(data));
    belt_buf_printf(b,
                    ",\"n\":%zu,\"accuracy\":%.6g,\"macro_f1\":%.6g,\"ece\":%.6g,"
                    "\"mean_confidence\":%.6g,\"coverage\":[",
                    r->n, r->accuracy, r->macro_f1, r->ece, r->mean_confidence);
    for (size_t i = 0; i < r->n_coverage; i++)
        cov_json(b, i ? "," : "", &r->coverage[i]);
    belt_buf_printf(b, "],\"target\":{\"accuracy\":%.6g,\"reached\":%s", r->target_accuracy,
                    r->target_reached ? "true" : "false");
    if (r->target_reached)
        cov_json(b, ",\"at\":", &r->at_target);
    belt_buf_puts(b, "}");
    if (r->has_fixed)
        cov_json(b, ",\"dev_threshold\":", &r->at_fixed);
    belt_buf_puts(b, ",\"confusions\":[");
    for (size_t i = 0; i < r->n_confusions; i++) {
        const char *g = nm(ud, r->confusions[i].gold), *p = nm(ud, r->confusions[i].pred);
        belt_buf_puts(b, i ? ",{\"gold\":" : "{\"gold\":");
        belt_buf_append_json_string(b, g, strlen(g));
        belt_buf_puts(b, ",\"pred\":");
        belt_buf_append_json_string(b, p, strlen(p));
        belt_buf_printf(b, ",\"count\":%zu}", r->confusions[i].count);
    }
    belt_buf_puts(b, "]}");
}

static void print_report(const struct belt_eval_report *r, label_name_fn *nm, const void *ud,
                         const char *model, const char *data)
{
    printf("model     %s\ndata      %s (%zu items)\n", model, data, r->n);
    printf("accuracy  %.2f%%\nmacro-F1  %.2f%%\nECE       %.4f (mean confidence %.3f)\n",
           100 * r->accuracy, 100 * r->macro_f1, r->ece, r->mean_confidence);
    printf("\nconfidence >=  coverage  accuracy\n");
    for (size_t i = 0; i < r->n_coverage; i++)
        printf("  %-12.2f  %6.1f%%   %6.2f%%\n", r->coverage[i].threshold,
               100 * r->coverage[i].coverage, 100 * r->coverage[i].accuracy);
    if (r->has_fixed)
        printf("  %-12.3f  %6.1f%%   %6.2f%%   (threshold chosen on dev at training)\n",
               r->at_fixed.threshold, 100 * r->at_fixed.coverage, 100 * r->at_fixed.accuracy);
    if (r->target_reached)
        printf("\ntarget %.0f%%: threshold %.3f answers %.1f%% at %.2f%% (chosen on this data)\n",
               100 * r->target_accuracy, r->at_target.threshold, 100 * r->at_target.coverage,
               100 * r->at_target.accuracy);
    else
        printf("\ntarget %.0f%%: not reached at any threshold\n", 100 * r->target_accuracy);
    if (r->n_confusions)
        printf("\nmost confused (gold -> predicted):\n");
    for (size_t i = 0; i < r->n_confusions; i++)
        printf("  %5zu  %s -> %s\n", r->confusions[i].count, nm(ud, r->confusions[i].gold),
               nm(ud, r->confusions[i].pred));
}

/* Predict every item of ds; items[i] gets gold, prediction and confidence. */
static belt_status score(const struct belt_classifier *c, const struct cli_dataset *ds,
                         struct belt_eval_item *items, struct belt_error *err)
{
    for (size_t i = 0; i < ds->n; i++) {
        struct belt_prediction p;
        const char *text = ds->ex[i].text;
        belt_status st = belt_classifier_predict(c, text, strlen(text), NULL, &p, err);
        if (st != BELT_OK)
            return belt__error_prefix(err, "%s:%lld: ", ds->path, (long long)ds->lineno[i]);
        items[i].gold = belt_classifier_label_index(c, ds->ex[i].label);
        items[i].pred = p.index;
        items[i].confidence = p.confidence;
    }
    return BELT_OK;
}

static void model_name(const struct eval_opts *o, char *buf, size_t cap)
{
    const char *b = strrchr(o->model, '/');
    snprintf(buf, cap, "%s", o->name ? o->name : b ? b + 1 : o->model);
    char *dot = o->name ? NULL : strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
}

static belt_status record(const struct cli_ctx *ctx, const char *model, const char *data,
                          const char *json, struct belt_error *err)
{
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, err);
    if (s == BELT_OK)
        s = belt_store_add_eval_run(st, model, data, json, NULL, err);
    belt_store_close(st);
    belt_config_free(cfg);
    return s;
}

/* Mode: a classifier model file on a labelled JSONL file. */
static int eval_classifier(struct cli_ctx *ctx, const struct cli_command *cmd, int argc,
                           char **argv)
{
    struct eval_opts o;
    memset(&o, 0, sizeof(o));
    o.text_field = "text";
    o.label_field = "label";
    o.ep = belt_eval_default_params();
    int rc = parse_args(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct belt_error err = {0};
    struct belt_classifier *c = NULL;
    struct cli_dataset ds;
    memset(&ds, 0, sizeof(ds));
    struct belt_eval_item *items = NULL;
    struct belt_eval_report r;
    struct belt_buf js;
    belt_buf_init(&js, 0);
    char name[256];
    model_name(&o, name, sizeof(name));
    belt_status st = belt_classifier_load(o.model, &c, &err);
    if (st == BELT_OK)
        st = cli_dataset_load(o.data, o.text_field, o.label_field, 1, &ds, &err);
    if (st == BELT_OK) {
        items = belt_calloc(ds.n, sizeof(*items));
        st = items ? score(c, &ds, items, &err) : BELT_ERR_NOMEM;
    }
    if (st == BELT_OK) {
        o.ep.fixed_threshold = belt_classifier_dev_threshold(c);
        st = belt_eval_compute(items, ds.n, belt_classifier_n_labels(c), &o.ep, &r, &err);
    }
    if (st == BELT_OK) {
        report_json(&js, &r, clf_label, c, name, o.data);
        if (!o.no_record)
            st = record(ctx, name, o.data, belt_buf_cstr(&js), &err);
    }
    if (st == BELT_OK && o.json)
        printf("%s\n", belt_buf_cstr(&js));
    else if (st == BELT_OK)
        print_report(&r, clf_label, c, name, o.data);
    belt_buf_deinit(&js);
    belt_free(items);
    cli_dataset_free(&ds);
    belt_classifier_free(c);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

/* Which evaluation the options ask for. New modes (e.g. --route NAME --replay FILE for
 * routes) add a branch here. */
static cli_cmd_fn *eval_mode(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--route") == 0 || strncmp(argv[i], "--route=", 8) == 0)
            return cli_eval_route; /* cmd_eval_route.c */
    return eval_classifier;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    return eval_mode(argc, argv)(ctx, cmd, argc, argv);
}

const struct cli_command cli_eval_cmd = {
    "eval", run, "measure a model on labelled data (accuracy, F1, calibration, coverage)",
    "usage: belt [-c FILE] eval -m MODEL.belt DATA.jsonl [--json] [--target ACC]\n"
    "                      [--text-field F] [--label-field F] [--name NAME] [--no-record]\n"
    "\n"
    "Classify every record of DATA.jsonl and report accuracy, macro-F1, expected calibration\n"
    "error, coverage and accuracy at confidence 0.5/0.7/0.8/0.9/0.95 and at the threshold\n"
    "chosen on dev at training time, the threshold that reaches --target accuracy on this\n"
    "data, and the most confused label pairs. The run is recorded in the store.\n"
    "See docs/cli/eval.md.\n"
    "\n"
    "  -m, --model FILE    model written by belt train\n"
    "  --json              print the report as one JSON object\n"
    "  --target ACC        accuracy the threshold search aims at (default 0.95)\n"
    "  --text-field F      field holding the text (default: text)\n"
    "  --label-field F     field holding the gold label (default: label)\n"
    "  --name NAME         model name for the store (default: file name without extension)\n"
    "  --no-record         do not record the run in the store\n"
    "\n"
    "usage: belt [-c FILE] eval --route NAME --replay OUTCOMES.jsonl [--json] [--html FILE]\n"
    "                      [--quality Q] [--points N] [--no-sweep] [--title T] [--no-record]\n"
    "\n"
    "Run route NAME of the configuration over recorded outcomes without calling a model:\n"
    "accuracy, cost, latency, share of tasks per tier, the threshold sweep (curve and convex\n"
    "hull), the saving against the best single model at its accuracy and at Q of it (default\n"
    "0.95), APGR and CPT(50%/80%) for two-tier routes, and AIQ. --html writes a self-contained\n"
    "page with the curve; --points caps the sweep (default 101)."};
