/*
 * cmd_config.c — `belt config check`: load and validate the configuration file.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "check") != 0)
        return cli_usage_error(cmd, "expected 'check'");
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    belt_status st = cli_load_config(ctx, &cfg, &err);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    printf("%s: ok\n", belt_config_file(cfg));
    printf("store: %s\n", belt_config_store_path(cfg));
    size_t n = belt_config_n_models(cfg);
    printf("models: %zu\n", n);
    for (size_t i = 0; i < n; i++)
        printf("  %s (%s)\n", belt_config_model_name(cfg, i), belt_config_model_provider(cfg, i));
    n = belt_config_n_routes(cfg);
    printf("routes: %zu\n", n);
    for (size_t i = 0; i < n; i++)
        printf("  %s (%s)\n", belt_config_route_name(cfg, i), belt_config_route_policy(cfg, i));
    n = belt_config_n_lines(cfg);
    printf("lines: %zu\n", n);
    for (size_t i = 0; i < n; i++)
        printf("  %s (%zu stations)\n", belt_config_line_name(cfg, i),
               belt_config_line_n_stations(cfg, i));
    belt_config_free(cfg);
    return CLI_EXIT_OK;
}

const struct cli_command cli_config_cmd = {
    "config", run, "check the configuration file and print what it defines",
    "usage: belt [-c FILE] config check\n"
    "\n"
    "Load and validate the configuration file; print its models, routes and lines.\n"
    "Errors name file, line and column. Exit 1 when the file is invalid."};
