/*
 * cli.h — what every `belt <command>` handler shares: the command table entry, the context
 * (global options, terminal detection), and helpers to report errors with the right exit code.
 * Only cli/ prints and picks exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
#ifndef BELT_CLI_H
#define BELT_CLI_H

#include <stdio.h>

#include "belt.h"

enum {
    CLI_EXIT_OK = 0,      /* success */
    CLI_EXIT_FAILURE = 1, /* runtime failure (bad data, I/O, upstream, ...) */
    CLI_EXIT_USAGE = 2    /* bad command line */
};

struct cli_ctx {
    const char *config_path; /* -c/--config or $BELT_CONFIG; NULL: ./belt.yaml if present */
    int stdout_tty;          /* stdout is a terminal */
    int stderr_tty;          /* stderr is a terminal (progress lines go there) */
    int verbose;             /* -v count: library log level */
};

struct cli_command;
/* A command handler: argv[0] is the command name; options follow (getopt_long). */
typedef int cli_cmd_fn(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);

struct cli_command {
    const char *name;    /* subcommand */
    cli_cmd_fn *fn;      /* handler */
    const char *summary; /* one line for `belt help` */
    const char *usage;   /* full usage text for `belt <command> --help` */
};

/* The table (cli/main.c). */
extern const struct cli_command *const cli_commands[];
extern const size_t cli_n_commands;

/* Print "belt: MESSAGE" from err (or belt_strerror(code)) to stderr; returns CLI_EXIT_FAILURE. */
int cli_fail(const struct belt_error *err, belt_status code);
/* Print "belt CMD: MESSAGE" and "Try 'belt CMD --help'" to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Print the command's usage text to fp. */
void cli_print_usage(const struct cli_command *cmd, FILE *fp);

/* Load the configuration named by ctx (or the default one when there is none). */
belt_status cli_load_config(const struct cli_ctx *ctx, struct belt_config **cfg,
                            struct belt_error *err);
/* Open the store the configuration names. */
belt_status cli_open_store(const struct belt_config *cfg, struct belt_store **st,
                           struct belt_error *err);
/* Parse a number option strictly; on failure prints a usage error and returns -1. */
int cli_parse_double(const struct cli_command *cmd, const char *opt, const char *s, double *out);
int cli_parse_long(const struct cli_command *cmd, const char *opt, const char *s, long *out);
/* A point in time for option `opt`: a duration back from now ("15m", "30d") or Unix ms; on
 * failure prints a usage error and returns -1. */
int cli_parse_time_back(const struct cli_command *cmd, const char *opt, const char *s,
                        int64_t *out);

#endif
