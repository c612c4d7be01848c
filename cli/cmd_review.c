/*
 * cmd_review.c — `belt review list|show|approve|reject|edit`: work the human review queue.
 * Decisions are recorded with who and when, audited, and an edit is kept as a labelled example.
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
#include "util/fileio.h"

struct show_state {
    int json; /* --json */
    int full; /* show: every field */
    long n;   /* rows printed */
};

static void put_str(struct belt_buf *b, const char *key, const char *v, int raw)
{
    belt_buf_printf(b, ",\"%s\":", key);
    if (!v)
        belt_buf_puts(b, "null");
    else if (raw)
        belt_buf_puts(b, v);
    else
        belt_buf_append_json_string(b, v, strlen(v));
}

static int print_review(void *ud, const struct belt_review_record *r)
{
    struct show_state *ss = ud;
    ss->n++;
    if (ss->json) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_printf(&b, "{\"id\":\"%s\",\"created_ms\":%lld,\"status\":\"%s\"", r->id,
                        (long long)r->created_ms, belt_review_status_name(r->status));
        put_str(&b, "source", r->source, 0);
        put_str(&b, "reason", r->reason, 0);
        put_str(&b, "line", r->line, 0);
        put_str(&b, "run_id", r->run_id, 0);
        put_str(&b, "item_id", r->item_id, 0);
        put_str(&b, "station", r->station, 0);
        put_str(&b, "route", r->route, 0);
        put_str(&b, "payload", r->payload_json, 1);
        put_str(&b, "answer", r->answer_json, 1);
        put_str(&b, "decided_by", r->decided_by, 0);
        belt_buf_printf(&b, ",\"decided_ms\":%lld", (long long)r->decided_ms);
        put_str(&b, "decision", r->decision_json, 1);
        belt_buf_printf(&b, ",\"resumed_ms\":%lld}", (long long)r->resumed_ms);
        puts(belt_buf_cstr(&b));
        belt_buf_deinit(&b);
        return 0;
    }
    char ts[40];
    belt_format_rfc3339(r->created_ms, ts, sizeof(ts));
    const char *where = r->line ? r->line : r->route ? r->route : "-";
    if (!ss->full) {
        if (ss->n == 1)
            printf("%-24s %-9s %-6s %-16s %-24s %s\n", "id", "status", "source", "line/route",
                   "created", "reason");
        printf("%-24s %-9s %-6s %-16s %-24s %s\n", r->id, belt_review_status_name(r->status),
               r->source, where, ts, r->reason);
        return 0;
    }
    printf("id:        %s\nstatus:    %s\nsource:    %s\ncreated:   %s\nreason:    %s\n", r->id,
           belt_review_status_name(r->status), r->source, ts, r->reason);
    if (r->line)
        printf("line:      %s (run %s, item %s, station %s)\n", r->line,
               r->run_id ? r->run_id : "-", r->item_id ? r->item_id : "-",
               r->station ? r->station : "-");
    if (r->route)
        printf("route:     %s\n", r->route);
    printf("payload:   %s\nanswer:    %s\n", r->payload_json,
           r->answer_json ? r->answer_json : "-");
    if (r->decided_ms) {
        belt_format_rfc3339(r->decided_ms, ts, sizeof(ts));
        printf("decided:   %s by %s\ndecision:  %s\n", ts, r->decided_by ? r->decided_by : "?",
               r->decision_json ? r->decision_json : "{}");
    }
    return 0;
}

static int run_list(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv,
                    int show)
{
    enum { O_STATUS = 256, O_LIMIT };
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"status", required_argument, NULL, O_STATUS},
                                         {"limit", required_argument, NULL, O_LIMIT},
                                         {NULL, 0, NULL, 0}};
    struct show_state ss = {0, show, 0};
    int status = BELT_REVIEW_PENDING;
    long limit = 100;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == 'j') {
            ss.json = 1;
        } else if (c == O_STATUS && !show) {
            status = strcmp(optarg, "all") == 0 ? -1 : belt_review_status_parse(optarg);
            if (status < 0 && strcmp(optarg, "all") != 0)
                return cli_usage_error(cmd, "--status is pending, approved, rejected, edited "
                                            "or all");
        } else if (c == O_LIMIT && !show) {
            if (cli_parse_long(cmd, "--limit", optarg, &limit) != 0)
                return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != show)
        return cli_usage_error(cmd, show ? "show takes one review ID" : "list takes no arguments");
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK && show)
        s = belt_review_get(st, argv[optind], print_review, &ss, &err);
    else if (s == BELT_OK)
        s = belt_review_list(st, status, limit, print_review, &ss, &err);
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (!show && !ss.json && ss.n == 0)
        fprintf(stderr, "no %s reviews\n", status >= 0 ? belt_review_status_name(status) : "");
    return CLI_EXIT_OK;
}

/* approve / reject / edit ID [--by NAME] [--note TEXT] [--answer JSON | --answer-file F] */
static int run_decide(struct cli_ctx *ctx, const struct cli_command *cmd,
                      enum belt_review_status status, int argc, char **argv)
{
    enum { O_BY = 256, O_NOTE, O_ANSWER, O_ANSWER_FILE };
    static const struct option opts[] = {{"by", required_argument, NULL, O_BY},
                                         {"note", required_argument, NULL, O_NOTE},
                                         {"answer", required_argument, NULL, O_ANSWER},
                                         {"answer-file", required_argument, NULL, O_ANSWER_FILE},
                                         {NULL, 0, NULL, 0}};
    struct belt_review_decision d = {status, NULL, NULL, NULL};
    const char *answer_file = NULL;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == O_BY)
            d.who = optarg;
        else if (c == O_NOTE)
            d.note = optarg;
        else if (c == O_ANSWER && status == BELT_REVIEW_EDITED)
            d.answer_json = optarg;
        else if (c == O_ANSWER_FILE && status == BELT_REVIEW_EDITED)
            answer_file = optarg;
        else
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return cli_usage_error(cmd, "expected one review ID");
    if (!d.who) {
        const char *u = getenv("USER");
        d.who = u && *u ? u : NULL;
    }
    if (!d.who)
        return cli_usage_error(cmd, "say who decides with --by NAME");
    if (status == BELT_REVIEW_EDITED && !d.answer_json && !answer_file)
        return cli_usage_error(cmd, "edit needs --answer JSON or --answer-file FILE");
    struct belt_error err = {0};
    char *text = NULL;
    size_t len = 0;
    belt_status s = BELT_OK;
    if (answer_file) {
        s = belt_file_read_all(answer_file, (size_t)16 << 20, &text, &len, &err);
        d.answer_json = text;
    }
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    struct belt_audit *au = NULL;
    if (s == BELT_OK)
        s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK)
        s = belt_audit_open_config(cfg, st, &au, &err);
    if (s == BELT_OK)
        s = belt_review_decide(st, au, argv[optind], &d, NULL, NULL, &err);
    belt_audit_close(au);
    belt_store_close(st);
    belt_config_free(cfg);
    belt_free(text);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    fprintf(stderr, "%s %s (by %s)\n", argv[optind], belt_review_status_name(status), d.who);
    return CLI_EXIT_OK;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "expected list, show, approve, reject or edit");
    const char *sub = argv[1];
    optind = 1;
    opterr = 0;
    if (strcmp(sub, "list") == 0)
        return run_list(ctx, cmd, argc - 1, argv + 1, 0);
    if (strcmp(sub, "show") == 0)
        return run_list(ctx, cmd, argc - 1, argv + 1, 1);
    if (strcmp(sub, "approve") == 0)
        return run_decide(ctx, cmd, BELT_REVIEW_APPROVED, argc - 1, argv + 1);
    if (strcmp(sub, "reject") == 0)
        return run_decide(ctx, cmd, BELT_REVIEW_REJECTED, argc - 1, argv + 1);
    if (strcmp(sub, "edit") == 0)
        return run_decide(ctx, cmd, BELT_REVIEW_EDITED, argc - 1, argv + 1);
    return cli_usage_error(cmd, "unknown subcommand '%s'", sub);
}

const struct cli_command cli_review_cmd = {
    "review", run, "work the human review queue: list, show, approve, reject, edit",
    "usage: belt [-c FILE] review list [--status pending|approved|rejected|edited|all]\n"
    "                                  [--limit N] [--json]\n"
    "       belt [-c FILE] review show ID [--json]\n"
    "       belt [-c FILE] review approve ID [--by NAME] [--note TEXT]\n"
    "       belt [-c FILE] review reject ID [--by NAME] [--note TEXT]\n"
    "       belt [-c FILE] review edit ID (--answer JSON | --answer-file FILE) [--by NAME]\n"
    "                                  [--note TEXT]\n"
    "\n"
    "Items are parked by review stations, a cascade's human tier or a guard's escalate\n"
    "action. A decision records who (--by, default $USER) and when, is written to the audit\n"
    "log, and lets the item's line continue. An edited answer is also stored as a labelled\n"
    "example (table examples) for training."};
