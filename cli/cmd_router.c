/*
 * cmd_router.c — `belt router`: the learned router.
 *   belt router train --data OUTCOMES.jsonl -o ROUTER.belt [options]   train, save, register
 *   belt router predict -m ROUTER.belt [--target T] [IN.jsonl]         p(correct) per tier
 *   belt router show -m ROUTER.belt                                    tiers and metrics
 */
#include "belt_config.h"

#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/lines.h"

struct train_opts {
    const char *data;            /* --data */
    const char *out;             /* -o */
    const char *name;            /* --name */
    char *tiers_buf;             /* --tiers copy (owned) */
    const char *tiers[16];       /* split --tiers */
    size_t n_tiers;              /* 0: all models by cost */
    int no_record, quiet;        /* --no-record, --quiet */
    struct belt_router_params p; /* training parameters */
    int tty;                     /* progress on stderr */
};

/* --char-ngrams 3-5 | 0 */
static int parse_char(const struct cli_command *cmd, const char *s, struct belt_router_params *p)
{
    long a, b;
    char lo[16], hi[16];
    const char *dash = strchr(s, '-');
    if (strcmp(s, "0") == 0) {
        p->char_min = p->char_max = 0;
        return 0;
    }
    if (!dash || (size_t)(dash - s) >= sizeof(lo) || strlen(dash + 1) >= sizeof(hi))
        return cli_usage_error(cmd, "--char-ngrams expects MIN-MAX (e.g. 3-5) or 0"), -1;
    memcpy(lo, s, (size_t)(dash - s));
    lo[dash - s] = '\0';
    snprintf(hi, sizeof(hi), "%s", dash + 1);
    if (cli_parse_long(cmd, "--char-ngrams", lo, &a) ||
        cli_parse_long(cmd, "--char-ngrams", hi, &b))
        return -1;
    p->char_min = (int)a;
    p->char_max = (int)b;
    return 0;
}

static int split_tiers(const struct cli_command *cmd, const char *s, struct train_opts *o)
{
    o->tiers_buf = belt_strdup(s);
    if (!o->tiers_buf)
        return cli_usage_error(cmd, "out of memory"), -1;
    char *save = NULL;
    for (char *t = strtok_r(o->tiers_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->n_tiers == 16)
            return cli_usage_error(cmd, "--tiers takes at most 16 names"), -1;
        o->tiers[o->n_tiers++] = t;
    }
    if (o->n_tiers < 2)
        return cli_usage_error(cmd, "--tiers needs at least 2 names, cheapest first"), -1;
    return 0;
}

/* --epochs, --ensemble, --buckets, --word-ngrams, --seed (ranges are checked by training). */
static void int_option(struct train_opts *o, int c, long n)
{
    if (c == 'e')
        o->p.epochs = (int)n;
    else if (c == 'E')
        o->p.ensemble = (int)n;
    else if (c == 'b')
        o->p.bucket_bits = (int)n;
    else if (c == 'w')
        o->p.word_ngrams = (int)n;
    else
        o->p.seed = (uint64_t)n;
}

static int train_option(const struct cli_command *cmd, int c, struct train_opts *o)
{
    long n;
    switch (c) {
    case 'd':
        o->data = optarg;
        return 0;
    case 'o':
        o->out = optarg;
        return 0;
    case 'N':
        o->name = optarg;
        return 0;
    case 'R':
        o->no_record = 1;
        return 0;
    case 'Q':
        o->quiet = 1;
        return 0;
    case 'S':
        o->p.shape = 1;
        return 0;
    case 'g':
        o->p.tags = 1;
        return 0;
    case 'A':
        o->p.search = 1;
        return 0;
    case 't':
        return split_tiers(cmd, optarg, o);
    case 'c':
        return parse_char(cmd, optarg, &o->p);
    case 'O':
        if (strcmp(optarg, "correct") && strcmp(optarg, "sufficient"))
            return cli_usage_error(cmd, "--objective is correct or sufficient"), -1;
        o->p.objective = strcmp(optarg, "correct") ? BELT_ROUTER_SUFFICIENT : BELT_ROUTER_CORRECT;
        return 0;
    case 'C':
        if (strcmp(optarg, "isotonic") && strcmp(optarg, "platt"))
            return cli_usage_error(cmd, "--calibration is isotonic or platt"), -1;
        o->p.calibration =
            strcmp(optarg, "platt") ? BELT_ROUTER_CALIB_ISOTONIC : BELT_ROUTER_CALIB_PLATT;
        return 0;
    case 'l':
        return cli_parse_double(cmd, "--lr", optarg, &o->p.learning_rate);
    case '2':
        return cli_parse_double(cmd, "--l2", optarg, &o->p.l2);
    case 'D':
        return cli_parse_double(cmd, "--dev-fraction", optarg, &o->p.dev_fraction);
    default: /* the integer options */
        if (cli_parse_long(cmd, "option", optarg, &n))
            return -1;
        int_option(o, c, n);
        return 0;
    }
}

static int parse_train(const struct cli_command *cmd, int argc, char **argv, struct train_opts *o)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"name", required_argument, NULL, 'N'},
                                         {"tiers", required_argument, NULL, 't'},
                                         {"objective", required_argument, NULL, 'O'},
                                         {"calibration", required_argument, NULL, 'C'},
                                         {"epochs", required_argument, NULL, 'e'},
                                         {"lr", required_argument, NULL, 'l'},
                                         {"l2", required_argument, NULL, '2'},
                                         {"dev-fraction", required_argument, NULL, 'D'},
                                         {"buckets", required_argument, NULL, 'b'},
                                         {"word-ngrams", required_argument, NULL, 'w'},
                                         {"char-ngrams", required_argument, NULL, 'c'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"ensemble", required_argument, NULL, 'E'},
                                         {"shape", no_argument, NULL, 'S'},
                                         {"tags", no_argument, NULL, 'g'},
                                         {"search", no_argument, NULL, 'A'},
                                         {"no-record", no_argument, NULL, 'R'},
                                         {"quiet", no_argument, NULL, 'Q'},
                                         {NULL, 0, NULL, 0}};
    optind = 2; /* argv[1] is "train" */
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "o:", opts, NULL);
        if (c == -1)
            break;
        if (c == '?' || c == ':')
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        if (train_option(cmd, c, o) != 0)
            return CLI_EXIT_USAGE;
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->data || !o->out)
        return cli_usage_error(cmd, "router train needs --data OUTCOMES.jsonl and -o ROUTER.belt");
    return CLI_EXIT_OK;
}

static int progress(void *ud, size_t tier, int ep, double ll)
{
    const struct train_opts *o = ud;
    if (o->tty)
        fprintf(stderr, "\rtier %zu epoch %d dev log-loss %.4f   ", tier + 1, ep, ll);
    return 0;
}

static belt_status register_router(const struct cli_ctx *ctx, const struct train_opts *o,
                                   const struct belt_router *r, struct belt_error *err)
{
    char sum[65], name[256];
    belt_status st = belt_file_sha256_hex(o->out, sum, err);
    if (st != BELT_OK)
        return st;
    if (o->name) {
        snprintf(name, sizeof(name), "%s", o->name);
    } else {
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", o->out);
        snprintf(name, sizeof(name), "%s", basename(copy));
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
    }
    struct belt_config *cfg = NULL;
    struct belt_store *store = NULL;
    st = cli_load_config(ctx, &cfg, err);
    if (st == BELT_OK)
        st = cli_open_store(cfg, &store, err);
    if (st == BELT_OK) {
        struct belt_model_record rec = {name, "router", o->out, sum, belt_router_metrics_json(r),
                                        0};
        st = belt_store_register_model(store, &rec, err);
    }
    belt_store_close(store);
    belt_config_free(cfg);
    return st;
}

/* After a search, one line on what it kept and against what: "search: kept char n-grams none,
 * l2 0.003 (dev AUC 0.645; the given values 0.609; 6 candidates)". */
static void print_search(const struct belt_router *r)
{
    json_t *m = json_loads(belt_router_metrics_json(r), 0, NULL), *c;
    json_t *search = json_object_get(m, "search");
    size_t i;
    json_array_foreach(search, i, c)
    {
        if (!json_is_true(json_object_get(c, "chosen")))
            continue;
        int cmin = (int)json_integer_value(json_object_get(c, "char_min"));
        int cmax = (int)json_integer_value(json_object_get(c, "char_max"));
        char chars[32] = "none";
        if (cmin > 0)
            snprintf(chars, sizeof(chars), "%d-%d", cmin, cmax);
        const json_t *auc = json_object_get(c, "dev_auc"),
                     *given = json_object_get(json_array_get(search, 0), "dev_auc");
        if (!json_is_number(auc)) {
            printf("search: no dev split to compare on; kept the given values\n");
            break;
        }
        printf("search: kept char n-grams %s, l2 %g (dev AUC %.3f; the given values %.3f; %zu "
               "candidates)\n",
               chars, json_real_value(json_object_get(c, "l2")), json_number_value(auc),
               json_number_value(given), json_array_size(search));
    }
    json_decref(m);
}

static int cmd_train(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct train_opts o;
    memset(&o, 0, sizeof(o));
    o.p = belt_router_default_params();
    int rc = parse_train(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK) {
        belt_free(o.tiers_buf);
        return rc;
    }
    o.tty = ctx->stderr_tty && !o.quiet;
    o.p.progress = progress;
    o.p.progress_ud = &o;
    struct belt_error err = {0};
    struct belt_router *r = NULL;
    int64_t t0 = belt_now_us();
    belt_status st =
        belt_router_train_file(&o.p, o.data, o.n_tiers ? o.tiers : NULL, o.n_tiers, &r, &err);
    if (o.tty)
        fputc('\n', stderr);
    if (st == BELT_OK)
        st = belt_router_save(r, o.out, &err);
    if (st == BELT_OK && !o.no_record)
        st = register_router(ctx, &o, r, &err);
    if (st == BELT_OK && !o.quiet) {
        printf("router %s: %zu tiers (", o.out, belt_router_n_tiers(r));
        for (size_t t = 0; t < belt_router_n_tiers(r); t++)
            printf("%s%s", t ? ", " : "", belt_router_tier_name(r, t));
        printf(") trained in %.2f s\n%s\n", (double)(belt_now_us() - t0) / 1e6,
               belt_router_metrics_json(r));
        if (o.p.search)
            print_search(r);
    }
    belt_router_free(r);
    belt_free(o.tiers_buf);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

/* ---- predict / show ------------------------------------------------------------------------- */

struct use_opts {
    const char *model;      /* -m */
    const char *input;      /* positional or "-" */
    const char *text_field; /* --text-field (default: query, else text) */
    double target;          /* --target (NAN: no decision) */
};

static int parse_use(const struct cli_command *cmd, int argc, char **argv, struct use_opts *o)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"target", required_argument, NULL, 'g'},
                                         {"text-field", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    optind = 2;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "m:", opts, NULL);
        if (c == -1)
            break;
        if (c == 'm')
            o->model = optarg;
        else if (c == 'f')
            o->text_field = optarg;
        else if (c == 'g' && cli_parse_double(cmd, "--target", optarg, &o->target) != 0)
            return CLI_EXIT_USAGE;
        else if (c != 'g')
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        o->input = argv[optind++];
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->model)
        return cli_usage_error(cmd, "-m ROUTER.belt is required");
    return CLI_EXIT_OK;
}

/* One JSONL record in, the same record with "router": {...} out. */
static belt_status predict_line(const struct belt_router *r, const struct use_opts *o, json_t *obj,
                                struct belt_buf *out, struct belt_error *err)
{
    const char *f = o->text_field                   ? o->text_field
                    : json_object_get(obj, "query") ? "query"
                                                    : "text";
    const json_t *tv = json_object_get(obj, f);
    if (!json_is_string(tv))
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "no string field '%s'", f);
    const char *tags[BELT_ROUTER_MAX_TAGS];
    size_t n_tags = 0;
    const json_t *tv_tags = json_object_get(obj, "tags"), *tag;
    size_t i;
    if (tv_tags && !json_is_array(tv_tags))
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "'tags' must be an array of strings");
    json_array_foreach(tv_tags, i, tag)
    {
        if (!json_is_string(tag))
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "'tags' must be an array of strings");
        if (n_tags < BELT_ROUTER_MAX_TAGS)
            tags[n_tags++] = json_string_value(tag);
    }
    double p[16];
    size_t n = belt_router_n_tiers(r);
    belt_status st = belt_router_predict_tagged(r, json_string_value(tv), json_string_length(tv),
                                                tags, n_tags, p, n, err);
    if (st != BELT_OK)
        return st;
    json_t *ps = json_object(), *res = json_object();
    for (size_t t = 0; ps && t < n; t++)
        json_object_set_new(ps, belt_router_tier_name(r, t), json_real(p[t]));
    json_object_set_new(res, "p_correct", ps);
    if (!isnan(o->target))
        json_object_set_new(
            res, "tier",
            json_string(belt_router_tier_name(r, belt_router_choose(r, p, o->target))));
    json_object_set_new(obj, "router", res);
    belt_buf_reset(out);
    st = belt_json_dump_buf(obj, JSON_COMPACT, out);
    return st;
}

static int cmd_predict(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    (void)ctx;
    struct use_opts o = {NULL, "-", NULL, NAN};
    int rc = parse_use(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct belt_error err = {0};
    struct belt_router *r = NULL;
    struct belt_jsonl_reader in;
    int opened = 0;
    belt_status st = belt_router_load(o.model, &r, &err);
    if (st == BELT_OK)
        st = belt_jsonl_open(&in, o.input, &err);
    opened = st == BELT_OK;
    struct belt_buf out;
    belt_buf_init(&out, 0);
    while (st == BELT_OK) {
        json_t *obj = NULL;
        st = belt_jsonl_next(&in, &obj, &err);
        if (st != BELT_OK || !obj)
            break;
        st = predict_line(r, &o, obj, &out, &err);
        json_decref(obj);
        if (st != BELT_OK)
            belt__error_prefix(&err, "%s:%lld: ", o.input, (long long)belt_jsonl_lineno(&in));
        else
            puts(belt_buf_cstr(&out));
    }
    if (opened)
        belt_jsonl_close(&in);
    belt_buf_deinit(&out);
    belt_router_free(r);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

static int cmd_show(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    (void)ctx;
    struct use_opts o = {NULL, NULL, NULL, NAN};
    int rc = parse_use(cmd, argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (o.input)
        return cli_usage_error(cmd, "router show takes no data file");
    struct belt_error err = {0};
    struct belt_router *r = NULL;
    belt_status st = belt_router_load(o.model, &r, &err);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    printf("router %s: %zu tiers, cheapest first\n", o.model, belt_router_n_tiers(r));
    for (size_t t = 0; t < belt_router_n_tiers(r); t++)
        printf("  %zu: %-24s mean cost $%.6g per task\n", t + 1, belt_router_tier_name(r, t),
               belt_router_tier_cost(r, t));
    printf("%s\n", belt_router_metrics_json(r));
    belt_router_free(r);
    return CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "expected a subcommand: train, predict or show");
    if (strcmp(argv[1], "train") == 0)
        return cmd_train(ctx, cmd, argc, argv);
    if (strcmp(argv[1], "predict") == 0)
        return cmd_predict(ctx, cmd, argc, argv);
    if (strcmp(argv[1], "show") == 0)
        return cmd_show(ctx, cmd, argc, argv);
    return cli_usage_error(cmd, "unknown subcommand '%s' (train, predict, show)", argv[1]);
}

const struct cli_command cli_router_cmd = {
    "router", run, "train and use the learned router of `learned` routes",
    "usage: belt [-c FILE] router train --data OUTCOMES.jsonl -o ROUTER.belt [options]\n"
    "       belt router predict -m ROUTER.belt [--target T] [--text-field F] [IN.jsonl]\n"
    "       belt router show -m ROUTER.belt\n"
    "\n"
    "train: learn, per tier (model, cheapest first), the probability that it answers a task\n"
    "correctly from the task's text alone; save the router and register it in the store\n"
    "(kind \"router\"). See docs/cli/router.md and docs/routes.md.\n"
    "  --data FILE           outcomes JSONL (query + per-model correct and cost)\n"
    "  -o, --output FILE     router file to write\n"
    "  --tiers A,B,...       tiers, cheapest first (default: every model by mean cost)\n"
    "  --objective O         correct (default) or sufficient (right, or no costlier tier is)\n"
    "  --calibration C       isotonic (default) or platt, fitted on the dev split\n"
    "  --epochs N --lr X --l2 X --dev-fraction X --seed N\n"
    "  --ensemble K          fits averaged per tier (default 5)\n"
    "  --buckets BITS        2^BITS hashed features per tier (default 18)\n"
    "  --word-ngrams N       longest word n-gram (default 2)\n"
    "  --char-ngrams MIN-MAX character n-grams (default 3-5; 0 = none)\n"
    "  --shape               add shape features: counts of words, numbers, operators, answer\n"
    "                        options; first and last tokens (helps verifiers: query + answer)\n"
    "  --tags                add the tasks' tags (request metadata: subject, queue, product)\n"
    "  --search              choose char n-grams (as given or none) and l2 (x1, x10, x30) by\n"
    "                        dev AUC; the candidates are in the metrics (`router show`)\n"
    "  --name NAME           registry name (default: file name)   --no-record   --quiet\n"
    "\n"
    "predict: add \"router\": {\"p_correct\": {tier: p}, \"tier\": ...} to each JSONL record\n"
    "(text from --text-field, else \"query\", else \"text\"; \"tags\" when the router reads\n"
    "them); --target picks the tier.\n"
    "show: the tiers, their mean training cost and the training metrics."};
