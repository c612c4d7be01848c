/*
 * cmd_models.c — `belt models`: list the model registry.
 */
#include "belt_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"

struct list_state {
    int json;     /* --json */
    size_t count; /* rows printed */
};

static int print_model(void *ud, const struct belt_model_record *r)
{
    struct list_state *ls = ud;
    ls->count++;
    if (ls->json) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_puts(&b, "{\"name\":");
        belt_buf_append_json_string(&b, r->name, strlen(r->name));
        belt_buf_puts(&b, ",\"kind\":");
        belt_buf_append_json_string(&b, r->kind, strlen(r->kind));
        belt_buf_puts(&b, ",\"path\":");
        belt_buf_append_json_string(&b, r->path, strlen(r->path));
        belt_buf_printf(&b, ",\"checksum\":\"%s\",\"created_ms\":%lld,\"metrics\":%s}", r->checksum,
                        (long long)r->created_ms, r->metrics_json ? r->metrics_json : "null");
        puts(belt_buf_cstr(&b));
        belt_buf_deinit(&b);
    } else {
        printf("%-20s %-10s %.12s  %s\n", r->name, r->kind, r->checksum, r->path);
    }
    return 0;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    struct list_state ls = {0};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        if (c == 'j')
            ls.json = 1;
        else
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    if (s == BELT_OK)
        s = belt_store_list_models(st, print_model, &ls, &err);
    belt_store_close(st);
    belt_config_free(cfg);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (!ls.json && ls.count == 0)
        fprintf(stderr, "no models registered (train one with 'belt train')\n");
    return CLI_EXIT_OK;
}

const struct cli_command cli_models_cmd = {
    "models", run, "list the models in the registry",
    "usage: belt [-c FILE] models [--json]\n"
    "\n"
    "List the models registered in the store (by belt train and belt router train):\n"
    "name, kind, path, checksum and metrics.\n"
    "\n"
    "  --json   one JSON object per model"};
