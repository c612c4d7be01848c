/*
 * cmd_guard.c — `belt guard`: try the detectors on text and data sets, and build the injection
 * model. Subcommands: scan (injection verdict + PII), redact, eval-pii, eval (cross-validation
 * of rules / classifier / combined), train (the shipped model), canary.
 */
#include "belt_config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/lines.h"

struct guard_opts {
    int json;                      /* --json */
    enum belt_guard_source source; /* --source */
    const char *text_field;        /* --text-field */
    const char *model;             /* --model PATH|none */
    const char *out;               /* --out */
    const char *scores;            /* --scores */
    const char *extra_label;       /* --extra-label */
    const char *data[8];           /* --data (repeatable) */
    size_t n_data;
    const char *extra[8]; /* --extra (repeatable) */
    size_t n_extra;
    long folds, seed;                  /* --folds, --seed */
    double max_fpr;                    /* --max-fpr */
    int q8;                            /* --q8 */
    int misses;                        /* --misses */
    struct belt_classifier_params cls; /* trainer options */
};

enum {
    OPT_SOURCE = 256,
    OPT_TEXT_FIELD,
    OPT_MODEL,
    OPT_DATA,
    OPT_EXTRA,
    OPT_FOLDS,
    OPT_SEED,
    OPT_MAX_FPR,
    OPT_Q8,
    OPT_MISSES,
    OPT_WORD_NGRAMS,
    OPT_CHAR_MIN,
    OPT_CHAR_MAX,
    OPT_EPOCHS,
    OPT_MIN_COUNT,
    OPT_LR,
    OPT_OUT,
    OPT_THREADS,
    OPT_SCORES,
    OPT_EXTRA_LABEL
};

/* The integer options; returns 0, or non-zero after printing a usage error. */
static int set_number(const struct cli_command *cmd, int c, const char *name, struct guard_opts *o)
{
    long v = 0;
    char opt[40];
    snprintf(opt, sizeof(opt), "--%s", name);
    if (cli_parse_long(cmd, opt, optarg, &v) != 0)
        return -1;
    if (v < 0) {
        cli_usage_error(cmd, "%s must not be negative", opt);
        return -1;
    }
    if (c == OPT_FOLDS)
        o->folds = v;
    else if (c == OPT_SEED)
        o->seed = v, o->cls.seed = (uint64_t)v;
    else if (c == OPT_WORD_NGRAMS)
        o->cls.word_ngrams = (int)v;
    else if (c == OPT_CHAR_MIN)
        o->cls.char_min = (int)v;
    else if (c == OPT_CHAR_MAX)
        o->cls.char_max = (int)v;
    else if (c == OPT_EPOCHS)
        o->cls.epochs = (int)v;
    else if (c == OPT_MIN_COUNT)
        o->cls.min_count = (int)v;
    else
        o->cls.threads = (int)v;
    return 0;
}

static int parse_opts(const struct cli_command *cmd, int argc, char **argv, struct guard_opts *o)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"source", required_argument, NULL, OPT_SOURCE},
                                         {"text-field", required_argument, NULL, OPT_TEXT_FIELD},
                                         {"model", required_argument, NULL, OPT_MODEL},
                                         {"data", required_argument, NULL, OPT_DATA},
                                         {"extra", required_argument, NULL, OPT_EXTRA},
                                         {"folds", required_argument, NULL, OPT_FOLDS},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"max-fpr", required_argument, NULL, OPT_MAX_FPR},
                                         {"q8", no_argument, NULL, OPT_Q8},
                                         {"misses", no_argument, NULL, OPT_MISSES},
                                         {"word-ngrams", required_argument, NULL, OPT_WORD_NGRAMS},
                                         {"char-min", required_argument, NULL, OPT_CHAR_MIN},
                                         {"char-max", required_argument, NULL, OPT_CHAR_MAX},
                                         {"epochs", required_argument, NULL, OPT_EPOCHS},
                                         {"min-count", required_argument, NULL, OPT_MIN_COUNT},
                                         {"lr", required_argument, NULL, OPT_LR},
                                         {"threads", required_argument, NULL, OPT_THREADS},
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"scores", required_argument, NULL, OPT_SCORES},
                                         {"extra-label", required_argument, NULL, OPT_EXTRA_LABEL},
                                         {NULL, 0, NULL, 0}};
    for (;;) {
        int li = -1;
        int c = getopt_long(argc, argv, "", opts, &li);
        if (c == -1)
            return 0;
        switch (c) {
        case 'j':
            o->json = 1;
            break;
        case OPT_SOURCE:
            if (strcmp(optarg, "user") == 0)
                o->source = BELT_GUARD_SOURCE_USER;
            else if (strcmp(optarg, "third_party") == 0 || strcmp(optarg, "third-party") == 0)
                o->source = BELT_GUARD_SOURCE_THIRD_PARTY;
            else
                return cli_usage_error(cmd, "--source is user or third_party, not '%s'", optarg);
            break;
        case OPT_TEXT_FIELD:
            o->text_field = optarg;
            break;
        case OPT_MODEL:
            o->model = optarg;
            break;
        case OPT_OUT:
            o->out = optarg;
            break;
        case OPT_SCORES:
            o->scores = optarg;
            break;
        case OPT_EXTRA_LABEL:
            o->extra_label = optarg;
            break;
        case OPT_DATA:
            if (o->n_data == BELT_ARRAY_LEN(o->data))
                return cli_usage_error(cmd, "too many --data files");
            o->data[o->n_data++] = optarg;
            break;
        case OPT_EXTRA:
            if (o->n_extra == BELT_ARRAY_LEN(o->extra))
                return cli_usage_error(cmd, "too many --extra files");
            o->extra[o->n_extra++] = optarg;
            break;
        case OPT_Q8:
            o->q8 = 1;
            break;
        case OPT_MISSES:
            o->misses = 1;
            break;
        case OPT_MAX_FPR:
            if (cli_parse_double(cmd, "--max-fpr", optarg, &o->max_fpr) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_LR:
            if (cli_parse_double(cmd, "--lr", optarg, &o->cls.lr) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_FOLDS:
        case OPT_SEED:
        case OPT_WORD_NGRAMS:
        case OPT_CHAR_MIN:
        case OPT_CHAR_MAX:
        case OPT_EPOCHS:
        case OPT_MIN_COUNT:
        case OPT_THREADS:
            if (set_number(cmd, c, li >= 0 ? opts[li].name : "option", o) != 0)
                return CLI_EXIT_USAGE;
            break;
        default:
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
}

/* ---- building the guard ------------------------------------------------------------------ */

static belt_status make_guard(struct cli_ctx *ctx, const struct guard_opts *o,
                              struct belt_guard **g, struct belt_error *err)
{
    struct belt_config *cfg = NULL;
    belt_status st = cli_load_config(ctx, &cfg, err);
    if (st != BELT_OK)
        return st;
    if (!o->model) {
        st = belt_guard_new_from_config(cfg, g, err);
    } else {
        struct belt_guard_params p = belt_guard_default_params();
        const char *m = strcmp(o->model, "none") == 0 ? NULL : o->model;
        if (o->source == BELT_GUARD_SOURCE_USER)
            p.model_user = m;
        else
            p.model_third_party = m;
        st = belt_guard_new(&p, g, err);
    }
    belt_config_free(cfg);
    return st;
}

/* Texts come from the arguments, else from stdin: JSONL with --text-field, else plain lines. */
typedef belt_status text_fn(void *ud, const char *text, size_t len, struct belt_error *err);

static belt_status for_each_text(const struct guard_opts *o, int argc, char **argv, text_fn *fn,
                                 void *ud, struct belt_error *err)
{
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            belt_status st = fn(ud, argv[i], strlen(argv[i]), err);
            if (st != BELT_OK)
                return st;
        }
        return BELT_OK;
    }
    struct belt_line_reader lr;
    belt_status st = belt_line_reader_open(&lr, "-", 0, err);
    while (st == BELT_OK) {
        int got = 0;
        st = belt_line_reader_next(&lr, &got, err);
        if (st != BELT_OK || !got)
            break;
        const char *line = belt_buf_cstr(&lr.line);
        if (!o->text_field) {
            st = fn(ud, line, lr.line.len, err);
            continue;
        }
        json_t *obj = NULL;
        st = belt_json_parse(line, lr.line.len, "<stdin>", lr.lineno, &obj, err);
        const char *t = st == BELT_OK ? belt_json_str(obj, o->text_field) : NULL;
        if (st == BELT_OK && !t) {
            fprintf(stderr, "belt: <stdin>:%lld: no string field \"%s\"\n", (long long)lr.lineno,
                    o->text_field);
            st = BELT_ERR_FORMAT;
            err->code = st;
            snprintf(err->msg, sizeof(err->msg), "<stdin>:%lld: no string field \"%s\"",
                     (long long)lr.lineno, o->text_field);
        }
        if (st == BELT_OK)
            st = fn(ud, t, strlen(t), err);
        json_decref(obj);
    }
    belt_line_reader_deinit(&lr);
    return st;
}

/* ---- scan ---------------------------------------------------------------------------------- */

struct scan_state {
    const struct belt_guard *g;
    const struct guard_opts *o;
};

static belt_status scan_one(void *ud, const char *text, size_t len, struct belt_error *err)
{
    struct scan_state *s = ud;
    struct belt_guard_verdict v;
    belt_status st = belt_guard_check(s->g, s->o->source, text, len, &v, err);
    struct belt_pii_match *m = NULL;
    size_t n = 0;
    if (st == BELT_OK)
        st = belt_pii_scan(belt_guard_pii(s->g), text, len, &m, &n, err);
    if (st != BELT_OK)
        return st;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (s->o->json) {
        belt_buf_printf(&b,
                        "{\"detected\":%s,\"action\":\"%s\",\"score\":%.4f,"
                        "\"rule_score\":%.4f,\"model_score\":%.4f,\"threshold\":%.2f,"
                        "\"block_threshold\":%.2f,\"reason\":",
                        v.detected ? "true" : "false", belt_guard_action_name(v.action), v.score,
                        v.rule_score, v.model_score, v.threshold, v.block_threshold);
        belt_buf_append_json_string(&b, v.reason, strlen(v.reason));
        belt_buf_puts(&b, ",\"pii\":[");
        for (size_t i = 0; i < n; i++)
            belt_buf_printf(&b, "%s{\"entity\":\"%s\",\"start\":%zu,\"end\":%zu,\"score\":%.2f}",
                            i ? "," : "", belt_pii_entity_name(m[i].entity), m[i].start, m[i].end,
                            m[i].score);
        belt_buf_puts(&b, "]}");
    } else {
        belt_buf_printf(&b, "%s score=%.3f (rules %.3f, model %.3f) %s",
                        v.detected ? belt_guard_action_name(v.action) : "ok", v.score, v.rule_score,
                        v.model_score, v.reason);
        for (size_t i = 0; i < n; i++)
            belt_buf_printf(&b, "%s%s@%zu", i ? " " : "  pii: ", belt_pii_entity_name(m[i].entity),
                            m[i].start);
    }
    puts(belt_buf_cstr(&b));
    belt_buf_deinit(&b);
    belt_free(m);
    return BELT_OK;
}

static int run_scan(struct cli_ctx *ctx, const struct cli_command *cmd, struct guard_opts *o,
                    int argc, char **argv)
{
    (void)cmd;
    struct belt_error err = {0};
    struct belt_guard *g = NULL;
    belt_status st = make_guard(ctx, o, &g, &err);
    struct scan_state s = {g, o};
    if (st == BELT_OK)
        st = for_each_text(o, argc, argv, scan_one, &s, &err);
    belt_guard_free(g);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

/* ---- redact -------------------------------------------------------------------------------- */

static belt_status redact_one(void *ud, const char *text, size_t len, struct belt_error *err)
{
    struct scan_state *s = ud;
    struct belt_pii_map *map = NULL;
    char *out = NULL;
    size_t n = 0;
    belt_status st = belt_pii_map_new(&map, err);
    if (st == BELT_OK)
        st = belt_pii_redact(belt_guard_pii(s->g), map, text, len, &out, &n, err);
    if (st == BELT_OK && s->o->json) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_puts(&b, "{\"text\":");
        belt_buf_append_json_string(&b, out, n);
        belt_buf_puts(&b, ",\"map\":{");
        for (size_t i = 0; i < belt_pii_map_count(map); i++) {
            struct belt_pii_map_entry e;
            belt_pii_map_get(map, i, &e);
            if (i)
                belt_buf_putc(&b, ',');
            belt_buf_append_json_string(&b, e.placeholder, strlen(e.placeholder));
            belt_buf_putc(&b, ':');
            belt_buf_append_json_string(&b, e.value, e.value_len);
        }
        belt_buf_puts(&b, "}}");
        puts(belt_buf_cstr(&b));
        belt_buf_deinit(&b);
    } else if (st == BELT_OK) {
        puts(out);
    }
    belt_free(out);
    belt_pii_map_free(map);
    return st;
}

static int run_redact(struct cli_ctx *ctx, const struct cli_command *cmd, struct guard_opts *o,
                      int argc, char **argv)
{
    (void)cmd;
    struct belt_error err = {0};
    struct belt_guard *g = NULL;
    struct guard_opts ro = *o;
    ro.model = "none"; /* redaction needs no classifier */
    belt_status st = BELT_OK;
    if (o->model)
        st = make_guard(ctx, o, &g, &err);
    else {
        struct belt_config *cfg = NULL;
        st = cli_load_config(ctx, &cfg, &err);
        if (st == BELT_OK)
            st = belt_guard_new_from_config(cfg, &g, &err);
        belt_config_free(cfg);
    }
    (void)ro;
    struct scan_state s = {g, o};
    if (st == BELT_OK)
        st = for_each_text(o, argc, argv, redact_one, &s, &err);
    belt_guard_free(g);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

/* ---- eval-pii ------------------------------------------------------------------------------ */

static void print_miss(void *ud, int64_t lineno, const char *entity, const char *text,
                       size_t expected, size_t found)
{
    (void)ud;
    fprintf(stderr, "miss line %lld %s: expected %zu, found %zu: %s\n", (long long)lineno, entity,
            expected, found, text);
}

static int run_eval_pii(const struct cli_command *cmd, struct guard_opts *o)
{
    if (o->n_data != 1)
        return cli_usage_error(cmd, "eval-pii needs exactly one --data FILE");
    struct belt_error err = {0};
    struct belt_pii_eval_report r;
    belt_status st = belt_pii_evaluate(o->data[0], &r, o->misses ? print_miss : NULL, NULL, &err);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    double overall = r.n_cases ? (double)r.n_hits / (double)r.n_cases : 0;
    if (o->json)
        belt_buf_printf(&b,
                        "{\"cases\":%zu,\"hits\":%zu,\"hit_rate\":%.4f,\"count_ok\":%zu,"
                        "\"entities\":{",
                        r.n_cases, r.n_hits, overall, r.n_count_ok);
    else
        belt_buf_printf(&b, "%-20s %6s %6s %8s %9s\n", "entity", "cases", "hits", "hit_rate",
                        "count_ok");
    int first = 1;
    for (size_t e = 0; e < belt_pii_n_entities(); e++) {
        if (!r.cases[e])
            continue;
        double rate = (double)r.hits[e] / (double)r.cases[e];
        const char *name = belt_pii_entity_presidio((enum belt_pii_entity)e);
        if (o->json)
            belt_buf_printf(&b, "%s\"%s\":{\"cases\":%zu,\"hits\":%zu,\"hit_rate\":%.4f}",
                            first ? "" : ",", name, r.cases[e], r.hits[e], rate);
        else
            belt_buf_printf(&b, "%-20s %6zu %6zu %7.1f%% %9zu\n", name, r.cases[e], r.hits[e],
                            100 * rate, r.count_ok[e]);
        first = 0;
    }
    if (o->json)
        belt_buf_puts(&b, "}}\n");
    else
        belt_buf_printf(&b, "%-20s %6zu %6zu %7.2f%% %9zu\n", "overall", r.n_cases, r.n_hits,
                        100 * overall, r.n_count_ok);
    fputs(belt_buf_cstr(&b), stdout);
    belt_buf_deinit(&b);
    return CLI_EXIT_OK;
}

/* ---- data sets ----------------------------------------------------------------------------- */

struct dataset {
    struct belt_example *v; /* examples; text and label owned */
    size_t n, cap;
};

static void dataset_free(struct dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        belt_free((char *)d->v[i].text);
        belt_free((char *)d->v[i].label);
    }
    belt_free(d->v);
    memset(d, 0, sizeof(*d));
}

static belt_status dataset_read(const char *path, const char *text_field, const char *only_label,
                                struct dataset *d, struct belt_error *err)
{
    struct belt_jsonl_reader r;
    belt_status st = belt_jsonl_open(&r, path, err);
    while (st == BELT_OK) {
        json_t *obj = NULL;
        st = belt_jsonl_next(&r, &obj, err);
        if (st != BELT_OK || !obj)
            break;
        const char *t = belt_json_str(obj, text_field ? text_field : "text");
        const char *l = belt_json_str(obj, "label");
        if (!t || !l) {
            st = BELT_ERR_FORMAT;
            snprintf(err->msg, sizeof(err->msg),
                     "%s:%lld: needs string fields \"%s\" and "
                     "\"label\"",
                     path, (long long)belt_jsonl_lineno(&r), text_field ? text_field : "text");
            err->code = st;
        } else if (only_label && strcmp(l, only_label) != 0) {
            json_decref(obj);
            continue;
        } else if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 256;
            struct belt_example *v = belt_realloc(d->v, cap * sizeof(*v));
            if (!v)
                st = BELT_ERR_NOMEM;
            else
                d->v = v, d->cap = cap;
        }
        if (st == BELT_OK) {
            d->v[d->n].text = belt_strdup(t);
            d->v[d->n].label = belt_strdup(l);
            d->n++;
            if (!d->v[d->n - 1].text || !d->v[d->n - 1].label)
                st = BELT_ERR_NOMEM;
        }
        json_decref(obj);
    }
    belt_jsonl_close(&r);
    return st;
}

static void print_counts(struct belt_buf *b, const char *name, const struct belt_guard_counts *c,
                         int json, int last)
{
    if (json)
        belt_buf_printf(b,
                        "\"%s\":{\"threshold\":%.4f,\"precision\":%.4f,\"recall\":%.4f,"
                        "\"fpr\":%.4f,\"f1\":%.4f,\"tp\":%zu,\"fp\":%zu,\"tn\":%zu,\"fn\":%zu}%s",
                        name, c->threshold, c->precision, c->recall, c->fpr, c->f1, c->tp, c->fp,
                        c->tn, c->fn, last ? "" : ",");
    else
        belt_buf_printf(b, "%-16s %9.3f %9.1f%% %7.1f%% %6.1f%% %6.3f  %4zu %4zu %4zu %4zu\n", name,
                        c->threshold, 100 * c->precision, 100 * c->recall, 100 * c->fpr, c->f1,
                        c->tp, c->fp, c->tn, c->fn);
}

/* Print a cross-validation report as a table or (--json) one object. */
static void print_report(const struct guard_opts *o, const struct belt_guard_cv_params *pp,
                         const struct belt_guard_cv_report *rp)
{
    const struct belt_guard_cv_params p = *pp;
    const struct belt_guard_cv_report r = *rp;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (o->json)
        belt_buf_printf(&b,
                        "{\"n\":%zu,\"positives\":%zu,\"folds\":%zu,\"max_fpr\":%.3f,"
                        "\"auc\":{\"rules\":%.4f,\"model\":%.4f,\"combined\":%.4f},",
                        r.n, r.n_pos, p.folds, p.max_fpr, r.auc_rules, r.auc_model, r.auc_combined);
    else
        belt_buf_printf(&b,
                        "%zu examples (%zu injections), %zu-fold CV, source %s\n"
                        "%-16s %9s %10s %8s %7s %6s  %4s %4s %4s %4s\n",
                        r.n, r.n_pos, p.folds, o->source ? "third_party" : "user", "scorer",
                        "threshold", "precision", "recall", "fpr", "f1", "tp", "fp", "tn", "fn");
    print_counts(&b, "rules", &r.rules, o->json, 0);
    print_counts(&b, "model", &r.model, o->json, 0);
    print_counts(&b, "combined", &r.combined, o->json, 0);
    print_counts(&b, "rules_tuned", &r.rules_tuned, o->json, 0);
    print_counts(&b, "model_tuned", &r.model_tuned, o->json, 0);
    print_counts(&b, "combined_tuned", &r.combined_tuned, o->json, 1);
    if (o->json) {
        belt_buf_puts(&b, ",\"sweep\":{");
        for (int k = 0; k < 9; k++) {
            char name[16];
            snprintf(name, sizeof(name), "%.1f", r.sweep[k].threshold);
            print_counts(&b, name, &r.sweep[k], 1, k == 8);
        }
        belt_buf_puts(&b, "}}\n");
    } else {
        belt_buf_printf(&b, "AUC: rules %.3f, model %.3f, combined %.3f\n", r.auc_rules,
                        r.auc_model, r.auc_combined);
        belt_buf_puts(&b, "combined score at fixed thresholds (pooled out-of-fold):\n");
        for (int k = 0; k < 9; k++) {
            char name[32];
            snprintf(name, sizeof(name), "  t=%.1f", r.sweep[k].threshold);
            print_counts(&b, name, &r.sweep[k], 0, 0);
        }
    }
    fputs(belt_buf_cstr(&b), stdout);
    belt_buf_deinit(&b);
}

static void write_score(void *ud, size_t i, double rule, double model, double combined)
{
    fprintf(ud, "{\"i\":%zu,\"rule\":%.4f,\"model\":%.4f,\"combined\":%.4f}\n", i, rule, model,
            combined);
}

static int run_eval(const struct cli_command *cmd, struct guard_opts *o)
{
    if (o->n_data == 0)
        return cli_usage_error(cmd, "eval needs --data FILE");
    struct belt_error err = {0};
    struct dataset d = {0}, x = {0};
    belt_status st = BELT_OK;
    for (size_t i = 0; i < o->n_data && st == BELT_OK; i++)
        st = dataset_read(o->data[i], o->text_field, NULL, &d, &err);
    for (size_t i = 0; i < o->n_extra && st == BELT_OK; i++)
        st = dataset_read(o->extra[i], o->text_field, o->extra_label, &x, &err);
    struct belt_guard_cv_params p = belt_guard_cv_default_params();
    p.source = o->source;
    p.cls = o->cls;
    if (o->folds)
        p.folds = (size_t)o->folds;
    if (o->seed)
        p.seed = (uint64_t)o->seed;
    if (o->max_fpr > 0)
        p.max_fpr = o->max_fpr;
    FILE *sf = NULL;
    if (o->scores) {
        sf = fopen(o->scores, "w");
        if (!sf) {
            dataset_free(&d);
            dataset_free(&x);
            fprintf(stderr, "belt: %s: cannot write\n", o->scores);
            return CLI_EXIT_FAILURE;
        }
        p.on_score = write_score;
        p.score_ud = sf;
    }
    struct belt_guard_cv_report r;
    if (st == BELT_OK)
        st = belt_guard_cross_validate(d.v, d.n, x.v, x.n, &p, &r, &err);
    if (sf)
        fclose(sf);
    dataset_free(&d);
    dataset_free(&x);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    print_report(o, &p, &r);
    return CLI_EXIT_OK;
}

/* ---- train --------------------------------------------------------------------------------- */

static int run_train(const struct cli_command *cmd, struct guard_opts *o)
{
    if (o->n_data == 0 || !o->out)
        return cli_usage_error(cmd, "train needs --data FILE and --out PATH");
    struct belt_error err = {0};
    struct dataset d = {0};
    belt_status st = BELT_OK;
    for (size_t i = 0; i < o->n_data && st == BELT_OK; i++)
        st = dataset_read(o->data[i], o->text_field, NULL, &d, &err);
    for (size_t i = 0; i < o->n_extra && st == BELT_OK; i++)
        st = dataset_read(o->extra[i], o->text_field, o->extra_label, &d, &err);
    struct belt_classifier *c = NULL;
    if (st == BELT_OK)
        st = belt_guard_train(d.v, d.n, &o->cls, &c, &err);
    if (st == BELT_OK)
        st = belt_classifier_save(c, o->out, o->q8 ? BELT_CLASSIFIER_SAVE_Q8 : 0, &err);
    if (st == BELT_OK && !o->json)
        fprintf(stderr, "trained on %zu examples; wrote %s\n", d.n, o->out);
    if (st == BELT_OK && o->json)
        printf("{\"examples\":%zu,\"out\":\"%s\",\"metadata\":%s}\n", d.n, o->out,
               belt_classifier_metadata_json(c));
    belt_classifier_free(c);
    dataset_free(&d);
    return st == BELT_OK ? CLI_EXIT_OK : cli_fail(&err, st);
}

/* ---- canary -------------------------------------------------------------------------------- */

static int run_canary(const struct cli_command *cmd, int argc, char **argv)
{
    if (optind == argc) {
        char c[64];
        struct belt_error err = {0};
        belt_status st = belt_canary_new(c, sizeof(c), &err);
        if (st != BELT_OK)
            return cli_fail(&err, st);
        puts(c);
        return CLI_EXIT_OK;
    }
    if (argc - optind != 2)
        return cli_usage_error(cmd, "canary takes no argument (make one) or CANARY TEXT (check)");
    int leaked = belt_canary_leaked(argv[optind], argv[optind + 1], strlen(argv[optind + 1]));
    puts(leaked ? "leaked" : "clean");
    return leaked ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "expected a subcommand: scan, redact, eval-pii, eval, "
                                    "train or canary");
    const char *sub = argv[1];
    struct guard_opts o;
    memset(&o, 0, sizeof(o));
    o.cls = belt_classifier_default_params();
    o.cls.threads = 1; /* reproducible training */
    optind = 1;
    opterr = 0;
    int rc = parse_opts(cmd, argc - 1, argv + 1, &o);
    if (rc != 0)
        return rc;
    argc -= 1;
    argv += 1;
    if (strcmp(sub, "scan") == 0)
        return run_scan(ctx, cmd, &o, argc, argv);
    if (strcmp(sub, "redact") == 0)
        return run_redact(ctx, cmd, &o, argc, argv);
    if (optind < argc && strcmp(sub, "canary") != 0)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (strcmp(sub, "eval-pii") == 0)
        return run_eval_pii(cmd, &o);
    if (strcmp(sub, "eval") == 0)
        return run_eval(cmd, &o);
    if (strcmp(sub, "train") == 0)
        return run_train(cmd, &o);
    if (strcmp(sub, "canary") == 0)
        return run_canary(cmd, argc, argv);
    return cli_usage_error(cmd, "unknown subcommand '%s'", sub);
}

const struct cli_command cli_guard_cmd = {
    "guard", run, "try the injection guard and PII detectors; train the injection model",
    "usage: belt [-c FILE] guard scan [--source user|third_party] [--model PATH|none] [--json]\n"
    "                                 [--text-field F] [TEXT...]\n"
    "       belt [-c FILE] guard redact [--json] [--text-field F] [TEXT...]\n"
    "       belt guard eval-pii --data CASES.jsonl [--json] [--misses]\n"
    "       belt guard eval --data FILE.jsonl [--data ...] [--extra FILE.jsonl ...]\n"
    "                       [--extra-label LABEL] [--scores OUT.jsonl]\n"
    "                       [--source user|third_party] [--folds K] [--seed N] [--max-fpr R]\n"
    "                       [TRAINER OPTIONS] [--json]\n"
    "       belt guard train --data FILE.jsonl [--data ...] [--extra FILE.jsonl [--extra-label "
    "L]]\n"
    "                        --out MODEL [--q8] [TRAINER OPTIONS]\n"
    "       belt guard canary [CANARY TEXT]\n"
    "\n"
    "scan      judge each TEXT (or each stdin line; JSONL with --text-field) for prompt\n"
    "          injection and list the PII found; the guard comes from the configuration\n"
    "redact    print each text with PII replaced by placeholders ([EMAIL_1]); --json adds\n"
    "          the placeholder map\n"
    "eval-pii  hit rate per entity on recognizer cases ({entity, text, expected_count, spans})\n"
    "eval      nested stratified k-fold cross-validation of rules, classifier and both on\n"
    "          JSONL {text, label} (label \"injection\" is positive); --extra data is added to\n"
    "          every training part but never scored (--extra-label keeps only that label's\n"
    "          examples of the --extra files); --scores writes each example's out-of-fold\n"
    "          rule, model and combined scores\n"
    "train     train an injection classifier on all --data (+ --extra) and write it to --out;\n"
    "          the guard has one for user input and one for third-party text\n"
    "canary    print a new canary token; with CANARY TEXT, exit 1 and print \"leaked\" if\n"
    "          TEXT contains the canary\n"
    "\n"
    "Trainer options: --word-ngrams N --char-min N --char-max N --epochs N --min-count N\n"
    "                 --lr X --threads N (default 1: reproducible)"};
