/*
 * commands.h — the subcommands listed in cli_commands[] (cli/main.c). Each cli/cmd_<name>.c
 * defines `const struct cli_command cli_<name>_cmd` with its handler, summary and usage text.
 * Adding a command: write cli/cmd_<name>.c, add one extern line here and one row to
 * cli_commands[], and document it in docs/cli/<name>.md (tools/check_docs.py checks).
 */
#ifndef BELT_CLI_COMMANDS_H
#define BELT_CLI_COMMANDS_H

#include "cli.h"

extern const struct cli_command cli_config_cmd; /* cmd_config.c */
extern const struct cli_command cli_models_cmd; /* cmd_models.c */

#endif
