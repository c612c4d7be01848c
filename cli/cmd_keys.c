/*
 * cmd_keys.c — `belt keys create|list|show|revoke`: API keys with allow lists, budgets and rate
 * limits. A key's secret is printed once, at creation; the store keeps only a keyed hash.
 * Every change is written to the audit log.
 */
#include "belt_config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/str.h"

#define MAX_LIST 64

struct list {
    char *buf;               /* owned copy of the comma-separated text */
    const char *v[MAX_LIST]; /* pointers into buf */
    size_t n;
};

/* Split "a,b,c" into l (empty items are an error). Returns 0 or -1. */
static int split_list(const char *s, struct list *l)
{
    belt_free(l->buf);
    memset(l, 0, sizeof(*l));
    l->buf = belt_strdup(s);
    if (!l->buf)
        return -1;
    char *p = l->buf;
    for (;;) {
        char *c = strchr(p, ',');
        if (c)
            *c = '\0';
        if (!*p || l->n == MAX_LIST)
            return -1;
        l->v[l->n++] = p;
        if (!c)
            return 0;
        p = c + 1;
    }
}

static const char *actor(void)
{
    static char buf[80];
    const char *u = getenv("USER");
    snprintf(buf, sizeof(buf), "cli:%s", u && *u ? u : "unknown");
    return buf;
}

/* ---- printing ---------------------------------------------------------------------------- */

static void fmt_time(int64_t ms, char *out, size_t cap)
{
    if (ms <= 0)
        snprintf(out, cap, "-");
    else
        belt_format_rfc3339(ms, out, cap);
}

static void fmt_money(double v, char *out, size_t cap)
{
    if (v < 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2f", v);
}

static int print_json(void *ud, const struct belt_key_info *k)
{
    (void)ud;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_buf_printf(&b, "{\"id\":\"%s\",\"name\":", k->id);
    belt_buf_append_json_string(&b, k->name, strlen(k->name));
    belt_buf_printf(&b,
                    ",\"prefix\":\"%s\",\"created_ms\":%lld,\"revoked_ms\":%lld,"
                    "\"expires_ms\":%lld,\"allow\":%s,",
                    k->prefix, (long long)k->created_ms, (long long)k->revoked_ms,
                    (long long)k->expires_ms, k->allow_json);
    if (k->budget_day_usd >= 0)
        belt_buf_printf(&b, "\"budget_day_usd\":%.6g,", k->budget_day_usd);
    else
        belt_buf_puts(&b, "\"budget_day_usd\":null,");
    if (k->budget_month_usd >= 0)
        belt_buf_printf(&b, "\"budget_month_usd\":%.6g,", k->budget_month_usd);
    else
        belt_buf_puts(&b, "\"budget_month_usd\":null,");
    belt_buf_printf(&b,
                    "\"rpm\":%lld,\"tpm\":%lld,\"burst\":%lld,\"spent_day_usd\":%.6f,"
                    "\"spent_month_usd\":%.6f}",
                    (long long)k->rpm, (long long)k->tpm, (long long)k->burst, k->spent_day_usd,
                    k->spent_month_usd);
    puts(belt_buf_cstr(&b));
    belt_buf_deinit(&b);
    return 0;
}

static int print_row(void *ud, const struct belt_key_info *k)
{
    int *n = ud;
    char bd[32], bm[32];
    fmt_money(k->budget_day_usd, bd, sizeof(bd));
    fmt_money(k->budget_month_usd, bm, sizeof(bm));
    if ((*n)++ == 0)
        printf("%-22s %-20s %-13s %-8s %9s %9s %6s %8s\n", "id", "name", "prefix", "state",
               "day_usd", "month_usd", "rpm", "tpm");
    printf("%-22s %-20s %-13s %-8s %9s %9s %6lld %8lld\n", k->id, k->name, k->prefix,
           k->revoked_ms ? "revoked" : "active", bd, bm, (long long)k->rpm, (long long)k->tpm);
    return 0;
}

static int print_detail(void *ud, const struct belt_key_info *k)
{
    (void)ud;
    char created[40], revoked[40], expires[40], bd[32], bm[32];
    fmt_time(k->created_ms, created, sizeof(created));
    fmt_time(k->revoked_ms, revoked, sizeof(revoked));
    fmt_time(k->expires_ms, expires, sizeof(expires));
    fmt_money(k->budget_day_usd, bd, sizeof(bd));
    fmt_money(k->budget_month_usd, bm, sizeof(bm));
    printf("id:            %s\nname:          %s\nprefix:        %s...\ncreated:       %s\n"
           "revoked:       %s\nexpires:       %s\nallow:         %s\n"
           "budget/day:    %s USD (spent today %.4f)\nbudget/month:  %s USD (spent %.4f)\n"
           "requests/min:  %lld%s\ntokens/min:    %lld%s\nburst:         %lld\n",
           k->id, k->name, k->prefix, created, revoked, expires, k->allow_json, bd,
           k->spent_day_usd, bm, k->spent_month_usd, (long long)k->rpm,
           k->rpm ? "" : " (unlimited)", (long long)k->tpm, k->tpm ? "" : " (unlimited)",
           (long long)k->burst);
    return 0;
}

/* ---- subcommands ------------------------------------------------------------------------- */

struct keys_opts {
    int json;
    struct belt_key_spec spec;
    struct list models, routes, lines;
};

static int parse_create(const struct cli_command *cmd, int argc, char **argv, struct keys_opts *o)
{
    enum { O_MODELS = 256, O_ROUTES, O_LINES, O_BDAY, O_BMONTH, O_RPM, O_TPM, O_BURST, O_EXP };
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"models", required_argument, NULL, O_MODELS},
                                         {"routes", required_argument, NULL, O_ROUTES},
                                         {"lines", required_argument, NULL, O_LINES},
                                         {"budget-day", required_argument, NULL, O_BDAY},
                                         {"budget-month", required_argument, NULL, O_BMONTH},
                                         {"rpm", required_argument, NULL, O_RPM},
                                         {"tpm", required_argument, NULL, O_TPM},
                                         {"burst", required_argument, NULL, O_BURST},
                                         {"expires-in", required_argument, NULL, O_EXP},
                                         {NULL, 0, NULL, 0}};
    long v = 0;
    int64_t ms = 0;
    for (;;) {
        int li = -1;
        int c = getopt_long(argc, argv, "", opts, &li);
        char name[32];
        snprintf(name, sizeof(name), "--%s", li >= 0 ? opts[li].name : "option");
        if (c == -1)
            return 0;
        struct list *l = c == O_MODELS   ? &o->models
                         : c == O_ROUTES ? &o->routes
                         : c == O_LINES  ? &o->lines
                                         : NULL;
        if (c == 'j') {
            o->json = 1;
        } else if (l) {
            if (split_list(optarg, l) != 0)
                return cli_usage_error(cmd, "%s: a comma-separated list of at most %d names", name,
                                       MAX_LIST);
        } else if (c == O_BDAY || c == O_BMONTH) {
            double d;
            if (cli_parse_double(cmd, name, optarg, &d) != 0)
                return CLI_EXIT_USAGE;
            if (d < 0)
                return cli_usage_error(cmd, "%s must not be negative", name);
            *(c == O_BDAY ? &o->spec.budget_day_usd : &o->spec.budget_month_usd) = d;
        } else if (c == O_RPM || c == O_TPM || c == O_BURST) {
            if (cli_parse_long(cmd, name, optarg, &v) != 0)
                return CLI_EXIT_USAGE;
            if (v < 0)
                return cli_usage_error(cmd, "%s must not be negative", name);
            *(c == O_RPM ? &o->spec.rpm : c == O_TPM ? &o->spec.tpm : &o->spec.burst) = v;
        } else if (c == O_EXP) {
            if (belt_parse_duration_ms(optarg, &ms) != 0 || ms <= 0)
                return cli_usage_error(cmd, "--expires-in expects a duration like 720h, got '%s'",
                                       optarg);
            o->spec.expires_ms = belt_wall_ms() + ms;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
}

/* Open config, store and audit writer (audit only when `audited`). */
static belt_status open_all(struct cli_ctx *ctx, int audited, struct belt_config **cfg,
                            struct belt_store **st, struct belt_audit **au, struct belt_error *err)
{
    belt_status s = cli_load_config(ctx, cfg, err);
    if (s == BELT_OK)
        s = cli_open_store(*cfg, st, err);
    if (s == BELT_OK && audited)
        s = belt_audit_open_config(*cfg, *st, au, err);
    return s;
}

static void close_all(struct belt_config *cfg, struct belt_store *st, struct belt_audit *au)
{
    belt_audit_close(au);
    belt_store_close(st);
    belt_config_free(cfg);
}

static int run_create(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct keys_opts o;
    memset(&o, 0, sizeof(o));
    o.spec = belt_key_default_spec();
    int rc = parse_create(cmd, argc, argv, &o);
    if (rc == 0 && optind + 1 != argc)
        rc = cli_usage_error(cmd, "create takes exactly one NAME");
    if (rc != 0)
        goto done;
    o.spec.name = argv[optind];
    o.spec.models = o.models.v;
    o.spec.n_models = o.models.n;
    o.spec.routes = o.routes.v;
    o.spec.n_routes = o.routes.n;
    o.spec.lines = o.lines.v;
    o.spec.n_lines = o.lines.n;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    struct belt_audit *au = NULL;
    unsigned char secret[32];
    char key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    belt_status s = open_all(ctx, 1, &cfg, &st, &au, &err);
    if (s == BELT_OK)
        s = belt_guard_secret(cfg, BELT_SECRET_KEYS, 1, secret, &err);
    if (s == BELT_OK)
        s = belt_key_create(st, au, secret, &o.spec, actor(), key, id, &err);
    close_all(cfg, st, au);
    memset(secret, 0, sizeof(secret));
    if (s != BELT_OK) {
        rc = cli_fail(&err, s);
        goto done;
    }
    if (o.json)
        printf("{\"id\":\"%s\",\"name\":\"%s\",\"key\":\"%s\"}\n", id, o.spec.name, key);
    else
        printf("%s\n", key);
    if (!o.json)
        fprintf(stderr, "created key %s (%s); the key above is shown only once\n", id, o.spec.name);
    memset(key, 0, sizeof(key));
done:
    belt_free(o.models.buf);
    belt_free(o.routes.buf);
    belt_free(o.lines.buf);
    return rc;
}

static int run_query(struct cli_ctx *ctx, const struct cli_command *cmd, const char *sub, int argc,
                     char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int json = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c != 'j')
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        json = 1;
    }
    int want = strcmp(sub, "list") == 0 ? 0 : 1;
    if (argc - optind != want)
        return cli_usage_error(cmd, want ? "%s takes one ID or NAME" : "%s takes no arguments",
                               sub);
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    struct belt_audit *au = NULL;
    int revoke = strcmp(sub, "revoke") == 0;
    belt_status s = open_all(ctx, revoke, &cfg, &st, &au, &err);
    int n = 0;
    if (s == BELT_OK && revoke)
        s = belt_key_revoke(st, au, argv[optind], actor(), &err);
    else if (s == BELT_OK && want)
        s = belt_key_show(st, argv[optind], json ? print_json : print_detail, &n, &err);
    else if (s == BELT_OK)
        s = belt_key_list(st, json ? print_json : print_row, &n, &err);
    close_all(cfg, st, au);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (revoke)
        fprintf(stderr, "revoked %s\n", argv[optind]);
    else if (!want && !json && n == 0)
        fprintf(stderr, "no keys (create one with 'belt keys create NAME')\n");
    return CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "expected create, list, show or revoke");
    const char *sub = argv[1];
    optind = 1;
    opterr = 0;
    if (strcmp(sub, "create") == 0)
        return run_create(ctx, cmd, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "revoke") == 0)
        return run_query(ctx, cmd, sub, argc - 1, argv + 1);
    return cli_usage_error(cmd, "unknown subcommand '%s'", sub);
}

const struct cli_command cli_keys_cmd = {
    "keys", run, "create, list, show and revoke API keys (budgets, rate limits, allow lists)",
    "usage: belt [-c FILE] keys create NAME [--models M,...] [--routes R,...] [--lines L,...]\n"
    "                                [--budget-day USD] [--budget-month USD] [--rpm N]\n"
    "                                [--tpm N] [--burst N] [--expires-in DURATION] [--json]\n"
    "       belt [-c FILE] keys list [--json]\n"
    "       belt [-c FILE] keys show ID|NAME [--json]\n"
    "       belt [-c FILE] keys revoke ID|NAME\n"
    "\n"
    "create  make a key and print it once (the store keeps only a keyed hash). Allow lists\n"
    "        restrict the models, routes and lines the key may use (an entry ending in '*'\n"
    "        matches by prefix; no list = any). Budgets are USD per UTC day / month; --rpm\n"
    "        and --tpm are requests and tokens per minute (token buckets; --burst sets the\n"
    "        request bucket size, default rpm). --expires-in 720h makes it expire.\n"
    "list    every key: id, name, prefix, state, budgets, limits\n"
    "show    one key with today's and this month's spend\n"
    "revoke  refuse the key from now on (the gateway notices within guard.keys.refresh)\n"
    "\n"
    "The hashing secret comes from guard.keys (created next to the store when missing).\n"
    "Every create and revoke is written to the audit log."};
