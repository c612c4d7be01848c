/*
 * cmd_audit.c — `belt audit verify|export|log|archive`: check the hash chain and MACed
 * checkpoints of the audit log, export it as JSONL, list recent events, or move old rows out.
 */
#include "belt_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/clock.h"
#include "util/str.h"

static const char *const problem_names[] = {
    "ok",        "edited",    "deleted",        "inserted",
    "reordered", "truncated", "bad_checkpoint", "uncheckpointed"};

struct export_state {
    FILE *fp;   /* output */
    int pretty; /* `log`: one readable line per event */
    long n;     /* rows written */
};

static int export_row(void *ud, const struct belt_audit_row *r)
{
    struct export_state *es = ud;
    es->n++;
    if (es->pretty) {
        char ts[40];
        belt_format_rfc3339(r->ts_ms, ts, sizeof(ts));
        fprintf(es->fp, "%6lld %s %-16s %-20s %s\n", (long long)r->seq, ts, r->kind,
                r->actor ? r->actor : "-", r->subject ? r->subject : "-");
        return 0;
    }
    return belt_audit_row_write_json(r, es->fp) != 0;
}

static int run_verify(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"no-key", no_argument, NULL, 'n'},
                                         {"archive", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, no_key = 0;
    const char *archive = NULL;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == 'j')
            json = 1;
        else if (c == 'n')
            no_key = 1;
        else if (c == 'a')
            archive = optarg;
        else
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage_error(cmd, "verify takes no arguments");
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    unsigned char key[32];
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK && !no_key)
        s = belt_guard_secret(cfg, BELT_SECRET_AUDIT, 0, key, &err);
    struct belt_audit_report rep;
    memset(&rep, 0, sizeof(rep));
    belt_status v = s;
    if (s == BELT_OK && archive)
        v = belt_audit_verify_archive(st, no_key ? NULL : key, no_key ? 0 : sizeof(key), archive,
                                      &rep, &err);
    else if (s == BELT_OK)
        v = belt_audit_verify(st, no_key ? NULL : key, no_key ? 0 : sizeof(key), &rep, &err);
    memset(key, 0, sizeof(key));
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK || (v != BELT_OK && v != BELT_ERR_CHECKSUM))
        return cli_fail(&err, s != BELT_OK ? s : v);
    if (json)
        printf("{\"ok\":%s,\"rows\":%lld,\"last_seq\":%lld,\"checkpoints\":%lld,"
               "\"last_checkpoint\":%lld,\"key_checked\":%s,\"problem\":\"%s\",\"bad_seq\":%lld,"
               "\"problems\":%lld,\"detail\":\"%s\",\"archived_through\":%lld}\n",
               v == BELT_OK ? "true" : "false", (long long)rep.n_rows, (long long)rep.last_seq,
               (long long)rep.n_checkpoints, (long long)rep.last_checkpoint_seq,
               rep.key_checked ? "true" : "false", problem_names[rep.problem],
               (long long)rep.bad_seq, (long long)rep.n_problems, rep.detail,
               (long long)rep.archived_through);
    else if (v == BELT_OK && archive)
        printf("ok: %s holds rows %lld..%lld; its chain recomputes and ends at the anchor of row "
               "%lld, MAC %s\n",
               archive, (long long)(rep.last_seq - rep.n_rows + 1), (long long)rep.last_seq,
               (long long)rep.last_seq, rep.key_checked ? "verified" : "not checked");
    else if (v == BELT_OK && rep.archived_through > 0)
        printf("ok: %lld rows (rows up to %lld archived), %lld checkpoints (last at row %lld), "
               "MACs %s\n",
               (long long)rep.n_rows, (long long)rep.archived_through, (long long)rep.n_checkpoints,
               (long long)rep.last_checkpoint_seq, rep.key_checked ? "verified" : "not checked");
    else if (v == BELT_OK)
        printf("ok: %lld rows, %lld checkpoints (last at row %lld), MACs %s\n",
               (long long)rep.n_rows, (long long)rep.n_checkpoints,
               (long long)rep.last_checkpoint_seq, rep.key_checked ? "verified" : "not checked");
    else
        fprintf(stderr, "belt: audit log TAMPERED: first bad row %lld (%s): %s (%lld problems)\n",
                (long long)rep.bad_seq, problem_names[rep.problem], rep.detail,
                (long long)rep.n_problems);
    return v == BELT_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int run_export(struct cli_ctx *ctx, const struct cli_command *cmd, int pretty, int argc,
                      char **argv)
{
    enum { O_FROM = 256, O_TO, O_KIND, O_OUT, O_LAST };
    static const struct option opts[] = {
        {"from", required_argument, NULL, O_FROM}, {"to", required_argument, NULL, O_TO},
        {"kind", required_argument, NULL, O_KIND}, {"out", required_argument, NULL, O_OUT},
        {"last", required_argument, NULL, O_LAST}, {NULL, 0, NULL, 0}};
    long from = 1, to = 0, last = 0;
    const char *kind = NULL, *out = NULL;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == O_FROM || c == O_TO || c == O_LAST) {
            long *dst = c == O_FROM ? &from : c == O_TO ? &to : &last;
            const char *name = c == O_FROM ? "--from" : c == O_TO ? "--to" : "--last";
            if (cli_parse_long(cmd, name, optarg, dst) != 0)
                return CLI_EXIT_USAGE;
        } else if (c == O_KIND) {
            kind = optarg;
        } else if (c == O_OUT) {
            out = optarg;
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
    struct export_state es = {stdout, pretty, 0};
    if (s == BELT_OK && out) {
        es.fp = fopen(out, "w");
        if (!es.fp) {
            belt_store_close(st);
            belt_config_free(cfg);
            fprintf(stderr, "belt: %s: cannot write\n", out);
            return CLI_EXIT_FAILURE;
        }
    }
    if (last > 0)
        from = -last;
    if (s == BELT_OK)
        s = belt_audit_list(st, from, to, kind, export_row, &es, &err);
    if (es.fp != stdout && es.fp && fclose(es.fp) != 0 && s == BELT_OK) {
        fprintf(stderr, "belt: %s: write failed\n", out);
        s = BELT_ERR_IO;
    }
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK)
        return err.msg[0] ? cli_fail(&err, s) : CLI_EXIT_FAILURE;
    if (!pretty)
        fprintf(stderr, "exported %ld rows\n", es.n);
    return CLI_EXIT_OK;
}

static int run_archive(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    enum { O_OUT = 256, O_THROUGH, O_OLDER };
    static const struct option opts[] = {{"out", required_argument, NULL, O_OUT},
                                         {"through", required_argument, NULL, O_THROUGH},
                                         {"older-than", required_argument, NULL, O_OLDER},
                                         {NULL, 0, NULL, 0}};
    long through = 0;
    int64_t before = 0;
    const char *out = NULL;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == O_OUT) {
            out = optarg;
        } else if (c == O_THROUGH) {
            if (cli_parse_long(cmd, "--through", optarg, &through) != 0 || through < 1)
                return through < 1 ? cli_usage_error(cmd, "--through: expected a row >= 1")
                                   : CLI_EXIT_USAGE;
        } else if (c == O_OLDER) {
            if (cli_parse_time_back(cmd, "--older-than", optarg, &before) != 0)
                return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out || (!through && !before))
        return cli_usage_error(cmd, "archive needs --out FILE and --through SEQ or --older-than T");
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    struct belt_audit *a = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK)
        s = belt_audit_open_config(cfg, st, &a, &err);
    int64_t from = 0, to = 0;
    if (s == BELT_OK)
        s = belt_audit_archive(a, through, before, out, &from, &to, &err);
    belt_audit_close(a);
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (to == 0)
        printf("nothing to archive: no row in range (the newest row always stays)\n");
    else
        printf("archived rows %lld..%lld (%lld row%s) to %s; the log now starts at row %lld\n",
               (long long)from, (long long)to, (long long)(to - from + 1), to > from ? "s" : "",
               out, (long long)(to + 1));
    return CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "expected verify, export, log or archive");
    optind = 1;
    opterr = 0;
    if (strcmp(argv[1], "verify") == 0)
        return run_verify(ctx, cmd, argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0)
        return run_export(ctx, cmd, 0, argc - 1, argv + 1);
    if (strcmp(argv[1], "log") == 0)
        return run_export(ctx, cmd, 1, argc - 1, argv + 1);
    if (strcmp(argv[1], "archive") == 0)
        return run_archive(ctx, cmd, argc - 1, argv + 1);
    return cli_usage_error(cmd, "unknown subcommand '%s'", argv[1]);
}

const struct cli_command cli_audit_cmd = {
    "audit", run, "verify the tamper-evident audit log; export it as JSONL",
    "usage: belt [-c FILE] audit verify [--json] [--no-key] [--archive FILE]\n"
    "       belt [-c FILE] audit export [--from SEQ] [--to SEQ] [--kind PREFIX] [--out FILE]\n"
    "       belt [-c FILE] audit log [--last N] [--kind PREFIX]\n"
    "       belt [-c FILE] audit archive --out FILE (--through SEQ | --older-than T)\n"
    "\n"
    "verify  recompute the hash chain and check every MACed checkpoint and the head with the\n"
    "        audit key (guard.audit); exit 1 naming the first bad row if a row was edited,\n"
    "        deleted, inserted or reordered, the tail was truncated, or a checkpoint forged.\n"
    "        --no-key checks the chain alone. --archive FILE checks a file written by\n"
    "        `audit archive` instead: its chain, and that it ends at a MACed anchor.\n"
    "export  one JSON object per row: seq, ts_ms, kind, content (the hashed canonical JSON),\n"
    "        prev_hash and hash (hex), so that anyone can recompute the chain\n"
    "log     recent events, one line each\n"
    "archive verify the log, write the rows up to SEQ (or older than T: 30d) to FILE in the\n"
    "        export format (never over an existing file), then delete them from the store,\n"
    "        keeping the MACed hash of the last one so that verify still checks the rest; the\n"
    "        newest row always stays"};
