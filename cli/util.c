/*
 * util.c — helpers shared by the command handlers (errors, config and store opening, numbers).
 */
#include "belt_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "util/clock.h"
#include "util/str.h"

int cli_fail(const struct belt_error *err, belt_status code)
{
    if (err && err->msg[0])
        fprintf(stderr, "belt: %s\n", err->msg);
    else
        fprintf(stderr, "belt: %s\n", belt_strerror(code));
    return CLI_EXIT_FAILURE;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "belt %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'belt %s --help'.\n", cmd->name);
    return CLI_EXIT_USAGE;
}

void cli_print_usage(const struct cli_command *cmd, FILE *fp)
{
    fprintf(fp, "%s\n", cmd->usage);
}

belt_status cli_load_config(const struct cli_ctx *ctx, struct belt_config **cfg,
                            struct belt_error *err)
{
    if (ctx->config_path)
        return belt_config_load(ctx->config_path, cfg, err);
    if (access("belt.yaml", R_OK) == 0)
        return belt_config_load("belt.yaml", cfg, err);
    return belt_config_default(cfg, err);
}

belt_status cli_open_store(const struct belt_config *cfg, struct belt_store **st,
                           struct belt_error *err)
{
    struct belt_store_params p = belt_store_default_params();
    p.path = belt_config_store_path(cfg);
    return belt_store_open(&p, st, err);
}

int cli_parse_double(const struct cli_command *cmd, const char *opt, const char *s, double *out)
{
    if (belt_parse_double(s, out) != 0) {
        cli_usage_error(cmd, "%s expects a number, got '%s'", opt, s);
        return -1;
    }
    return 0;
}

int cli_parse_time_back(const struct cli_command *cmd, const char *opt, const char *s, int64_t *out)
{
    int64_t v;
    if (belt_parse_i64(s, &v) == 0 && v >= 0) {
        *out = v;
        return 0;
    }
    if (belt_parse_duration_ms(s, &v) == 0) {
        *out = belt_wall_ms() - v;
        return 0;
    }
    cli_usage_error(cmd, "%s: expected a duration back from now (15m, 2h, 7d) or Unix ms, got '%s'",
                    opt, s);
    return -1;
}

int cli_parse_long(const struct cli_command *cmd, const char *opt, const char *s, long *out)
{
    int64_t v;
    if (belt_parse_i64(s, &v) != 0 || v < -2147483647L || v > 2147483647L) {
        cli_usage_error(cmd, "%s expects an integer, got '%s'", opt, s);
        return -1;
    }
    *out = (long)v;
    return 0;
}
