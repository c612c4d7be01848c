/*
 * cmd_predict.c — `belt predict`: classify JSONL records with a model file. Each input object
 * comes out with "label", "confidence" and "top_k" added (and "abstained": true when the
 * confidence is below --threshold); every other field is kept as it was.
 *
 * Fast path: when the object has none of the output keys, the input line is copied and the new
 * members are spliced in before its closing brace, so nothing but the text field is decoded
 * from JSON and nothing is re-encoded. Otherwise the object is edited with jansson.
 */
#include "belt_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/json.h"
#include "util/lines.h"
#include "util/str.h"

struct predict_opts {
    const char *model;             /* -m */
    const char *input;             /* file or "-" */
    const char *text_field;        /* --text-field */
    struct belt_predict_params pp; /* threshold, top_k */
    int threshold_from_dev;        /* --threshold dev */
};

static int parse_args(const struct cli_command *cmd, int argc, char **argv, struct predict_opts *o)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"threshold", required_argument, NULL, 'T'},
                                         {"top-k", required_argument, NULL, 'k'},
                                         {"text-field", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "m:k:", opts, NULL);
        if (c == -1)
            break;
        long k;
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'T':
            if (strcmp(optarg, "dev") == 0)
                o->threshold_from_dev = 1;
            else if (cli_parse_double(cmd, "--threshold", optarg, &o->pp.threshold) != 0)
                return CLI_EXIT_USAGE;
            else if (o->pp.threshold < 0 || o->pp.threshold > 1)
                return cli_usage_error(cmd, "--threshold must be in [0, 1] or 'dev'");
            break;
        case 'k':
            if (cli_parse_long(cmd, "--top-k", optarg, &k) != 0)
                return CLI_EXIT_USAGE;
            if (k < 0 || k > BELT_CLASSIFIER_MAX_TOP_K)
                return cli_usage_error(cmd, "--top-k must be 0..%d", BELT_CLASSIFIER_MAX_TOP_K);
            o->pp.top_k = (int)k;
            break;
        case 'f':
            o->text_field = optarg;
            break;
        default:
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        o->input = argv[optind++];
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->model)
        return cli_usage_error(cmd, "-m MODEL is required");
    return CLI_EXIT_OK;
}

/* Append the output members (without braces) for prediction p. */
static belt_status put_members(struct belt_buf *b, const struct belt_prediction *p)
{
    belt_status st = belt_buf_puts(b, "\"label\":");
    if (st == BELT_OK)
        st = belt_buf_append_json_string(b, p->label, strlen(p->label));
    if (st == BELT_OK)
        st = belt_buf_printf(b, ",\"confidence\":%.6g", p->confidence);
    if (st == BELT_OK && p->abstained)
        st = belt_buf_puts(b, ",\"abstained\":true");
    if (st == BELT_OK && p->n_top > 0)
        st = belt_buf_puts(b, ",\"top_k\":[");
    for (int i = 0; st == BELT_OK && i < p->n_top; i++) {
        st = belt_buf_puts(b, i ? ",{\"label\":" : "{\"label\":");
        if (st == BELT_OK)
            st = belt_buf_append_json_string(b, p->top[i].label, strlen(p->top[i].label));
        if (st == BELT_OK)
            st = belt_buf_printf(b, ",\"prob\":%.6g}", p->top[i].prob);
    }
    if (st == BELT_OK && p->n_top > 0)
        st = belt_buf_putc(b, ']');
    return st;
}

static int has_output_keys(const json_t *o)
{
    return json_object_get(o, "label") || json_object_get(o, "confidence") ||
           json_object_get(o, "top_k") || json_object_get(o, "abstained");
}

/* Append `obj_text` (a serialised object) with the output members spliced in before its
 * closing brace, and a newline. */
static belt_status splice(const char *obj_text, size_t n, const struct belt_prediction *p,
                          struct belt_buf *out)
{
    size_t close = n;
    while (close > 0 && obj_text[close - 1] != '}')
        close--;
    size_t open = 1;
    while (open < close - 1 && strchr(" \t\r\n", obj_text[open]))
        open++;
    belt_status st = belt_buf_append(out, obj_text, close - 1);
    if (st == BELT_OK && open < close - 1)
        st = belt_buf_putc(out, ',');
    if (st == BELT_OK)
        st = put_members(out, p);
    return st == BELT_OK ? belt_buf_puts(out, "}\n") : st;
}

/* Write the output line for input `line` (trimmed, an object) into out. Without output keys
 * in the input, the line itself is spliced; else those keys are removed and the object is
 * re-serialised first (tmp is scratch). */
static belt_status render(const char *line, size_t n, json_t *obj, const struct belt_prediction *p,
                          struct belt_buf *out, struct belt_buf *tmp)
{
    if (!has_output_keys(obj))
        return splice(line, n, p, out);
    static const char *const keys[] = {"label", "confidence", "top_k", "abstained"};
    for (size_t i = 0; i < BELT_ARRAY_LEN(keys); i++)
        json_object_del(obj, keys[i]);
    belt_buf_reset(tmp);
    belt_status st = belt_json_dump_buf(obj, JSON_COMPACT, tmp);
    return st == BELT_OK ? splice(tmp->data, tmp->len, p, out) : st;
}

/* Classify one trimmed line into out. */
static belt_status predict_line(const struct belt_classifier *c, const struct predict_opts *o,
                                const struct belt_line_reader *lr, const char *t, size_t n,
                                struct belt_buf *out, struct belt_buf *tmp, struct belt_error *err)
{
    json_t *obj = NULL;
    belt_status st = belt_json_parse(t, n, lr->name, lr->lineno, &obj, err);
    if (st != BELT_OK)
        return st;
    const json_t *tv = json_object_get(obj, o->text_field);
    struct belt_prediction p;
    if (!json_is_object(obj))
        st = belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: expected a JSON object", lr->name,
                             (long long)lr->lineno);
    else if (!json_is_string(tv))
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "%s:%lld: %s string field \"%s\"", lr->name,
                             (long long)lr->lineno, tv ? "expected a" : "missing", o->text_field);
    else
        st = belt_classifier_predict(c, json_string_value(tv), json_string_length(tv), &o->pp, &p,
                                     err);
    if (st == BELT_OK)
        st = render(t, n, obj, &p, out, tmp);
    json_decref(obj);
    return st;
}

static belt_status predict_stream(const struct belt_classifier *c, const struct predict_opts *o,
                                  struct belt_error *err)
{
    struct belt_line_reader lr;
    belt_status st = belt_line_reader_open(&lr, o->input, 0, err);
    if (st != BELT_OK)
        return st;
    struct belt_buf out, tmp;
    belt_buf_init(&out, 0);
    belt_buf_init(&tmp, 0);
    for (;;) {
        int got = 0;
        st = belt_line_reader_next(&lr, &got, err);
        if (st != BELT_OK || !got)
            break;
        size_t n = 0;
        const char *t = belt_str_trim(lr.line.data ? lr.line.data : "", lr.line.len, &n);
        if (n == 0)
            continue;
        st = predict_line(c, o, &lr, t, n, &out, &tmp, err);
        if (st != BELT_OK)
            break;
        if (out.len >= (1u << 16)) {
            fwrite(out.data, 1, out.len, stdout);
            belt_buf_reset(&out);
        }
    }
    if (out.len)
        fwrite(out.data, 1, out.len, stdout);
    if (fflush(stdout) != 0 && st == BELT_OK)
        st = belt__error_set(err, BELT_ERR_IO, 0, "writing the output failed");
    belt_buf_deinit(&out);
    belt_buf_deinit(&tmp);
    belt_line_reader_deinit(&lr);
    return st;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    (void)ctx;
    struct predict_opts o;
    memset(&o, 0, sizeof(o));
    o.input = "-";
    o.text_field = "text";
    o.pp = belt_predict_default_params();
    o.pp.top_k = 3;
    int rc = parse_args(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct belt_error err = {0};
    struct belt_classifier *c = NULL;
    belt_status st = belt_classifier_load(o.model, &c, &err);
    if (st == BELT_OK && o.threshold_from_dev) {
        double t = belt_classifier_dev_threshold(c);
        o.pp.threshold = t >= 0 ? t : 1.0;
    }
    if (st == BELT_OK)
        st = predict_stream(c, &o, &err);
    belt_classifier_free(c);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

const struct cli_command cli_predict_cmd = {
    "predict", run, "classify JSONL records with a trained model",
    "usage: belt predict -m MODEL.belt [--threshold T|dev] [--top-k K] [--text-field F]\n"
    "                    [IN.jsonl] > OUT.jsonl\n"
    "\n"
    "Read JSONL objects (from IN.jsonl or stdin), classify the text field and write each\n"
    "object with \"label\", \"confidence\" and \"top_k\" added (other fields kept). Below the\n"
    "threshold the label is \"abstain\" and \"abstained\": true is added. See\n"
    "docs/cli/predict.md.\n"
    "\n"
    "  -m, --model FILE    model written by belt train\n"
    "  --threshold T|dev   abstain below confidence T (default 0: never); 'dev' uses the\n"
    "                      threshold chosen on dev at training time (belt train --target)\n"
    "  -k, --top-k K       alternatives in top_k, 0..16 (default 3)\n"
    "  --text-field F      field holding the text (default: text)"};
