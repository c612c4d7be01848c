/*
 * config.h — the loaded configuration: one typed struct per top-level section of the YAML file.
 * Sections are parsed by src/config/cfg_<section>.c; this module reads the file, dispatches the
 * top-level keys through `sections[]` in config.c, and runs the cross-section checks.
 *
 * Adding a section: write cfg_<name>.{c,h} with parse/free (and optional defaults/check),
 * add its struct to belt_config below and one row to sections[] in config.c, and document its
 * keys in docs/config.md (tools/check_docs.py fails otherwise).
 */
#ifndef BELT_CONFIG_CONFIG_H
#define BELT_CONFIG_CONFIG_H

#include "belt.h"
#include "config/cfg_guard.h"
#include "config/cfg_lines.h"
#include "config/cfg_models.h"
#include "config/cfg_routes.h"
#include "config/cfg_server.h"
#include "config/cfg_store.h"
#include "config/reader.h"

struct belt_config {
    char *file;                    /* path as given, or "<default>" */
    char *dir;                     /* directory relative paths resolve against */
    struct belt_cfg_store store;   /* store: */
    struct belt_cfg_models models; /* models: */
    struct belt_cfg_guard guard;   /* guard: */
    struct belt_cfg_routes routes; /* routes: */
    struct belt_cfg_server server; /* server: */
    struct belt_cfg_lines lines;   /* lines: */
};

#endif
