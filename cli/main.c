/*
 * main.c — the `belt` program: global options, the subcommand table, and dispatch.
 * Each subcommand lives in cli/cmd_<name>.c and is one row of cli_commands[]; `belt help` and
 * docs/cli.md are generated from / checked against this table.
 */
#include "belt_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

static int cmd_help(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);
static int cmd_version(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);

static const struct cli_command cli_help_cmd = {
    "help", cmd_help, "show help for belt or for one command", "usage: belt help [COMMAND]"};
static const struct cli_command cli_version_cmd = {"version", cmd_version, "print the version",
                                                   "usage: belt version"};

/* The subcommands, in the order `belt help` lists them. One row per cli/cmd_<name>.c. */
const struct cli_command *const cli_commands[] = {
    &cli_help_cmd,   &cli_version_cmd, &cli_config_cmd, &cli_models_cmd, &cli_serve_cmd,
    &cli_traces_cmd, &cli_guard_cmd,   &cli_keys_cmd,   &cli_audit_cmd,  &cli_review_cmd,
    &cli_train_cmd,  &cli_predict_cmd, &cli_eval_cmd,   &cli_router_cmd, &cli_route_cmd,
    &cli_index_cmd,  &cli_run_cmd,
};
const size_t cli_n_commands = BELT_ARRAY_LEN(cli_commands);

static const char main_usage[] =
    "usage: belt [-c FILE] [-v] COMMAND [ARGS...]\n"
    "\n"
    "belt — the runtime for AI factories: small models first, large models when needed.\n"
    "\n"
    "Global options:\n"
    "  -c, --config FILE   configuration file (default: $BELT_CONFIG, else ./belt.yaml if "
    "present)\n"
    "  -v, --verbose       log library messages to stderr (repeat for debug)\n"
    "  -h, --help          show this help\n"
    "      --version       print the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

static void print_main_help(FILE *fp)
{
    fputs(main_usage, fp);
    fputs("\nCommands:\n", fp);
    for (size_t i = 0; i < cli_n_commands; i++)
        fprintf(fp, "  %-10s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    fputs("\nRun 'belt COMMAND --help' for the options of one command.\n", fp);
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < cli_n_commands; i++)
        if (strcmp(cli_commands[i]->name, name) == 0)
            return cli_commands[i];
    return NULL;
}

static int cmd_help(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    (void)ctx;
    if (argc > 2)
        return cli_usage_error(cmd, "expected at most one command name");
    if (argc == 2) {
        const struct cli_command *c = find_command(argv[1]);
        if (!c)
            return cli_usage_error(cmd, "unknown command '%s'", argv[1]);
        cli_print_usage(c, stdout);
        return CLI_EXIT_OK;
    }
    print_main_help(stdout);
    return CLI_EXIT_OK;
}

static int cmd_version(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    (void)ctx;
    (void)argv;
    if (argc > 1)
        return cli_usage_error(cmd, "takes no arguments");
    printf("belt %s\n", belt_version());
    return CLI_EXIT_OK;
}

static void log_to_stderr(void *ud, enum belt_log_level level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    (void)ud;
    fprintf(stderr, "belt[%s]: %s\n", names[level < 4 ? level : 3], msg);
}

/* belt uses no GnuTLS, but Debian's libcurl links it (through librtmp and libldap) and its
 * library constructor initialises it eagerly: about 0.8 MB resident that a long-running
 * gateway never uses. The constructor runs before main() and reads GNUTLS_NO_IMPLICIT_INIT,
 * so `belt serve` sets the variable and executes itself once more (same pid,
 * arguments and descriptors); libraries that do use GnuTLS initialise it explicitly. Skipped
 * when the variable is set already (also the way to run `belt serve` under valgrind, which
 * would not follow the exec), and harmless when the exec fails. */
static void reexec_lean(char **argv)
{
    if (getenv("GNUTLS_NO_IMPLICIT_INIT") || setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    struct cli_ctx ctx = {0};
    ctx.config_path = getenv("BELT_CONFIG");
    if (ctx.config_path && !*ctx.config_path)
        ctx.config_path = NULL;
    ctx.stdout_tty = isatty(STDOUT_FILENO);
    ctx.stderr_tty = isatty(STDERR_FILENO);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "belt: %s needs a file name\n", a);
                return CLI_EXIT_USAGE;
            }
            ctx.config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            ctx.config_path = a + 9;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            ctx.verbose++;
        } else if (strcmp(a, "-vv") == 0) {
            ctx.verbose += 2;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_main_help(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("belt %s\n", belt_version());
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "belt: unknown option '%s'\nTry 'belt --help'.\n", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_main_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const struct cli_command *cmd = find_command(argv[i]);
    if (!cmd) {
        fprintf(stderr, "belt: unknown command '%s'\nTry 'belt help'.\n", argv[i]);
        return CLI_EXIT_USAGE;
    }
    for (int j = i + 1; j < argc; j++) {
        if (strcmp(argv[j], "--") == 0)
            break;
        if (strcmp(argv[j], "--help") == 0 || (strcmp(argv[j], "-h") == 0 && j == i + 1)) {
            cli_print_usage(cmd, stdout);
            return CLI_EXIT_OK;
        }
    }
    if (cmd == &cli_serve_cmd)
        reexec_lean(argv);
    struct belt_global_params gp = belt_global_default_params();
    if (ctx.verbose) {
        gp.log_fn = log_to_stderr;
        gp.log_level = ctx.verbose > 1 ? BELT_LOG_DEBUG : BELT_LOG_INFO;
    } else {
        gp.log_fn = log_to_stderr;
        gp.log_level = BELT_LOG_WARN;
    }
    if (belt_global_init(&gp) != BELT_OK) {
        fprintf(stderr, "belt: library initialisation failed\n");
        return CLI_EXIT_FAILURE;
    }
    int rc = cmd->fn(&ctx, cmd, argc - i, argv + i);
    belt_global_cleanup();
    return rc;
}
