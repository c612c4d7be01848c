/*
 * cmd_train.c — `belt train`: train a text classifier on a JSONL file, write the model file
 * atomically and register it in the store. A progress line (epoch, loss, dev accuracy, ETA) is
 * drawn on stderr when it is a terminal; Ctrl-C stops training cleanly (no file is written).
 */
#include "belt_config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dataset.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

static volatile sig_atomic_t interrupted; /* set by SIGINT/SIGTERM during training */

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct train_opts {
    const char *data, *dev, *out, *name;  /* files and registry name */
    const char *text_field, *label_field; /* JSONL fields */
    int quantize;                         /* --quantize */
    int quiet;                            /* --quiet: no summary line */
    struct belt_classifier_params p;      /* hyper-parameters */
};

/* Numeric options map onto fields of belt_classifier_params. */
enum num_kind { NUM_INT, NUM_U32, NUM_U64, NUM_DOUBLE };
struct num_opt {
    int code;           /* getopt code */
    const char *name;   /* option name */
    enum num_kind kind; /* field type */
    size_t off;         /* offsetof(struct belt_classifier_params, field) */
};

#define P(f) offsetof(struct belt_classifier_params, f)
static const struct num_opt num_opts[] = {
    {1001, "epochs", NUM_INT, P(epochs)},
    {1002, "lr", NUM_DOUBLE, P(lr)},
    {1003, "word-ngrams", NUM_INT, P(word_ngrams)},
    {1004, "char-min", NUM_INT, P(char_min)},
    {1005, "char-max", NUM_INT, P(char_max)},
    {1006, "char-weight", NUM_DOUBLE, P(char_weight)},
    {1007, "min-count", NUM_INT, P(min_count)},
    {1008, "max-features", NUM_U32, P(max_features)},
    {1009, "patience", NUM_INT, P(patience)},
    {1010, "l2", NUM_DOUBLE, P(l2)},
    {1011, "seed", NUM_U64, P(seed)},
    {1012, "dev-fraction", NUM_DOUBLE, P(dev_fraction)},
    {1013, "target", NUM_DOUBLE, P(target_accuracy)},
    {1014, "threshold-z", NUM_DOUBLE, P(threshold_z)},
    {'t', "threads", NUM_INT, P(threads)},
};
#undef P

static int set_num(const struct cli_command *cmd, const struct num_opt *o, const char *arg,
                   struct belt_classifier_params *p)
{
    char opt[64];
    snprintf(opt, sizeof(opt), "--%s", o->name);
    char *field = (char *)p + o->off;
    if (o->kind == NUM_DOUBLE)
        return cli_parse_double(cmd, opt, arg, (double *)(void *)field);
    long v;
    if (cli_parse_long(cmd, opt, arg, &v) != 0)
        return -1;
    if (v < 0) {
        cli_usage_error(cmd, "%s must not be negative", opt);
        return -1;
    }
    if (o->kind == NUM_INT)
        *(int *)(void *)field = (int)v;
    else if (o->kind == NUM_U32)
        *(uint32_t *)(void *)field = (uint32_t)v;
    else
        *(uint64_t *)(void *)field = (uint64_t)v;
    return 0;
}

static int parse_args(const struct cli_command *cmd, int argc, char **argv, struct train_opts *o)
{
    struct option opts[BELT_ARRAY_LEN(num_opts) + 12] = {
        {"data", required_argument, NULL, 'd'},
        {"dev", required_argument, NULL, 'D'},
        {"output", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'n'},
        {"text-field", required_argument, NULL, 'T'},
        {"label-field", required_argument, NULL, 'L'},
        {"quantize", no_argument, NULL, 'q'},
        {"no-calibrate", no_argument, NULL, 'C'},
        {"quiet", no_argument, NULL, 'Q'},
    };
    size_t k = 9;
    for (size_t i = 0; i < BELT_ARRAY_LEN(num_opts); i++)
        opts[k++] = (struct option){num_opts[i].name, required_argument, NULL, num_opts[i].code};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "d:o:n:t:", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'd':
            o->data = optarg;
            continue;
        case 'D':
            o->dev = optarg;
            continue;
        case 'o':
            o->out = optarg;
            continue;
        case 'n':
            o->name = optarg;
            continue;
        case 'T':
            o->text_field = optarg;
            continue;
        case 'L':
            o->label_field = optarg;
            continue;
        case 'q':
            o->quantize = 1;
            continue;
        case 'C':
            o->p.calibrate = 0;
            continue;
        case 'Q':
            o->quiet = 1;
            continue;
        default:
            break;
        }
        size_t i = 0;
        while (i < BELT_ARRAY_LEN(num_opts) && num_opts[i].code != c)
            i++;
        if (i == BELT_ARRAY_LEN(num_opts))
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        if (set_num(cmd, &num_opts[i], optarg, &o->p) != 0)
            return CLI_EXIT_USAGE;
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->data)
        return cli_usage_error(cmd, "--data FILE is required");
    if (!o->out)
        return cli_usage_error(cmd, "-o FILE (the model to write) is required");
    return CLI_EXIT_OK;
}

static void fmt_secs(char *buf, size_t cap, int64_t us)
{
    int64_t s = (us + 500000) / 1000000;
    if (s >= 60)
        snprintf(buf, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(buf, cap, "%llds", (long long)s);
}

static int progress(void *ud, const struct belt_classifier_progress *p)
{
    const struct cli_ctx *ctx = ud;
    if (ctx->stderr_tty) {
        char eta[32];
        fmt_secs(eta, sizeof(eta), p->eta_us);
        fprintf(stderr,
                "\r\033[Kepoch %d/%d  loss %.4f  dev acc %.2f%%  best %.2f%% (epoch %d)  ETA %s",
                p->epoch, p->max_epochs, p->loss, 100 * p->dev_accuracy, 100 * p->best_dev_accuracy,
                p->best_epoch, eta);
        fflush(stderr);
    }
    return interrupted ? 1 : 0;
}

/* The registry name: --name, else the output file's base name without its extension. */
static void default_name(const char *out, char *buf, size_t cap)
{
    const char *b = strrchr(out, '/');
    b = b ? b + 1 : out;
    snprintf(buf, cap, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
}

/* Register the saved model with its dev metrics. */
static belt_status register_model(const struct cli_ctx *ctx, const struct train_opts *o,
                                  const struct belt_classifier *c, struct belt_error *err)
{
    char sum[65], name[256];
    belt_status st = belt_file_sha256_hex(o->out, sum, err);
    if (st != BELT_OK)
        return st;
    default_name(o->out, name, sizeof(name));
    struct belt_config *cfg = NULL;
    struct belt_store *store = NULL;
    st = cli_load_config(ctx, &cfg, err);
    if (st == BELT_OK)
        st = cli_open_store(cfg, &store, err);
    if (st == BELT_OK) {
        struct belt_model_record rec = {o->name ? o->name : name,
                                        "classifier",
                                        o->out,
                                        sum,
                                        belt_classifier_metadata_json(c),
                                        0};
        st = belt_store_register_model(store, &rec, err);
    }
    belt_store_close(store);
    belt_config_free(cfg);
    return st;
}

static void print_summary(const struct train_opts *o, const struct belt_classifier *c)
{
    const char *m = belt_classifier_metadata_json(c);
    json_t *meta = NULL;
    if (belt_json_parse(m, strlen(m), "metadata", 0, &meta, NULL) != BELT_OK)
        return;
    const json_t *dev = json_object_get(meta, "dev");
    const json_t *tr = json_object_get(meta, "training");
    printf("%s: %zu labels, %lld features, dev accuracy %.2f%%, ECE %.4f, T=%.3f", o->out,
           belt_classifier_n_labels(c), (long long)belt_json_int(meta, "n_features", 0),
           100 * belt_json_num(dev, "accuracy", 0), belt_json_num(dev, "ece", 0),
           belt_classifier_temperature(c));
    if (belt_classifier_dev_threshold(c) >= 0)
        printf(", accept >= %.3f answers %.1f%% of dev at >= %.0f%% accuracy",
               belt_classifier_dev_threshold(c),
               100 * belt_json_num(dev, "coverage_at_threshold", 0), 100 * o->p.target_accuracy);
    printf(", %lld epochs, %.1fs%s\n", (long long)belt_json_int(tr, "epochs_run", 0),
           belt_json_num(tr, "seconds", 0), belt_classifier_quantized(c) ? ", 8-bit" : "");
    json_decref(meta);
}

static belt_status train_and_save(struct cli_ctx *ctx, struct train_opts *o,
                                  struct belt_classifier **c, struct belt_error *err)
{
    struct cli_dataset tr, dv;
    memset(&dv, 0, sizeof(dv));
    belt_status st = cli_dataset_load(o->data, o->text_field, o->label_field, 1, &tr, err);
    if (st == BELT_OK && o->dev)
        st = cli_dataset_load(o->dev, o->text_field, o->label_field, 1, &dv, err);
    if (st == BELT_OK) {
        o->p.progress_fn = progress;
        o->p.progress_ud = ctx;
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        st = belt_classifier_train(&o->p, tr.ex, tr.n, dv.ex, dv.n, c, err);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (ctx->stderr_tty)
            fputs("\r\033[K", stderr);
        if (st == BELT_ERR_INVALID)
            belt__error_prefix(err, "%s: ", tr.path);
        if (st == BELT_ERR_CANCELLED)
            belt__error_set(err, st, 0, "interrupted: no model written");
    }
    cli_dataset_free(&tr);
    cli_dataset_free(&dv);
    if (st == BELT_OK)
        st = belt_classifier_save(*c, o->out, o->quantize ? BELT_CLASSIFIER_SAVE_Q8 : 0, err);
    return st;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct train_opts o;
    memset(&o, 0, sizeof(o));
    o.text_field = "text";
    o.label_field = "label";
    o.p = belt_classifier_default_params();
    int rc = parse_args(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct belt_error err = {0};
    struct belt_classifier *c = NULL;
    belt_status st = train_and_save(ctx, &o, &c, &err);
    if (st == BELT_OK && o.quantize) { /* report on the model as stored */
        belt_classifier_free(c);
        c = NULL;
        st = belt_classifier_load(o.out, &c, &err);
    }
    if (st == BELT_OK)
        st = register_model(ctx, &o, c, &err);
    if (st == BELT_OK && !o.quiet)
        print_summary(&o, c);
    belt_classifier_free(c);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

const struct cli_command cli_train_cmd = {
    "train", run, "train a text classifier on labelled JSONL",
    "usage: belt [-c FILE] train --data TRAIN.jsonl -o MODEL.belt [options]\n"
    "\n"
    "Train a text classifier (hashed word and character n-grams, linear softmax, early\n"
    "stopping and temperature calibration on dev), write MODEL.belt atomically and register\n"
    "it in the store. See docs/cli/train.md.\n"
    "\n"
    "  --data FILE          training data: JSONL objects with a text and a label field\n"
    "  --dev FILE           dev data (default: a stratified 10% carved from --data)\n"
    "  --text-field NAME    field holding the text (default: text)\n"
    "  --label-field NAME   field holding the label (default: label)\n"
    "  -o, --output FILE    model file to write\n"
    "  --name NAME          registry name (default: the output file name without extension)\n"
    "  -t, --threads N      training threads (default: number of CPUs)\n"
    "  --quantize           store 8-bit weights (about 4x smaller)\n"
    "  --quiet              do not print the summary line\n"
    "\n"
    "Hyper-parameters (defaults in brackets):\n"
    "  --epochs N [12]  --patience N [3]  --lr X [1.0]  --l2 X [1e-6]\n"
    "  --word-ngrams N [2]  --char-min N [2]  --char-max N [5]  --char-weight X [1]\n"
    "  --min-count N [2]  --max-features N [500000]  --seed N [1]  --dev-fraction X [0.1]\n"
    "  --target X [0.95]   dev accuracy the stored accept threshold aims at\n"
    "  --threshold-z X [1] ... reached by the Wilson lower bound at X standard deviations\n"
    "  --no-calibrate      keep temperature 1"};
