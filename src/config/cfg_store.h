/*
 * cfg_store.h — the `store:` section: where state lives.
 */
#ifndef BELT_CFG_STORE_H
#define BELT_CFG_STORE_H

#include <stdint.h>

#include "config/reader.h"

struct belt_cfg_store {
    char *path;              /* SQLite file (resolved against the config directory) */
    char *redis;             /* redis://host:port/db for shared state, or NULL */
    int64_t busy_timeout_ms; /* wait on a locked database */
    struct belt_cfg_mark mark; /* where the section starts */
};

belt_status belt__cfg_store_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, struct belt_cfg_store *out);
belt_status belt__cfg_store_defaults(struct belt_cfg_reader *rd, struct belt_cfg_store *out);
void belt__cfg_store_free(struct belt_cfg_store *s);

#endif
