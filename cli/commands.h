/*
 * commands.h — the subcommands listed in cli_commands[] (cli/main.c). Each cli/cmd_<name>.c
 * defines `const struct cli_command cli_<name>_cmd` with its handler, summary and usage text.
 * Adding a command: write cli/cmd_<name>.c, add one extern line here and one row to
 * cli_commands[], and document it in docs/cli/<name>.md (tools/check_docs.py checks).
 */
#ifndef BELT_CLI_COMMANDS_H
#define BELT_CLI_COMMANDS_H

#include "cli.h"

extern const struct cli_command cli_config_cmd;  /* cmd_config.c */
extern const struct cli_command cli_models_cmd;  /* cmd_models.c */
extern const struct cli_command cli_serve_cmd;   /* cmd_serve.c */
extern const struct cli_command cli_traces_cmd;  /* cmd_traces.c */
extern const struct cli_command cli_guard_cmd;   /* cmd_guard.c */
extern const struct cli_command cli_keys_cmd;    /* cmd_keys.c */
extern const struct cli_command cli_audit_cmd;   /* cmd_audit.c */
extern const struct cli_command cli_review_cmd;  /* cmd_review.c */
extern const struct cli_command cli_train_cmd;   /* cmd_train.c */
extern const struct cli_command cli_predict_cmd; /* cmd_predict.c */
extern const struct cli_command cli_eval_cmd;    /* cmd_eval.c */
extern const struct cli_command cli_router_cmd;  /* cmd_router.c */
extern const struct cli_command cli_index_cmd;   /* cmd_index.c */
extern const struct cli_command cli_run_cmd;     /* cmd_run.c */
extern const struct cli_command cli_route_cmd;   /* cmd_route.c */
extern cli_cmd_fn cli_eval_route;                /* cmd_eval_route.c: belt eval --route */

#endif
