/*
 * cfg_store.c — the `store:` section (docs/config.md#store).
 */
#include "belt_config.h"

#include <stddef.h>

#include "config/cfg_store.h"
#include "util/error.h"

static const struct belt_cfg_field store_fields[] = {
    {"path", BELT_CFG_PATH, offsetof(struct belt_cfg_store, path), 0, 0, 0, NULL, NULL},
    {"redis", BELT_CFG_STR, offsetof(struct belt_cfg_store, redis), 0, 0, 0, NULL, NULL},
    {"busy_timeout", BELT_CFG_DURATION, offsetof(struct belt_cfg_store, busy_timeout_ms), 0, 0,
     600000, NULL, NULL},
};

belt_status belt__cfg_store_defaults(struct belt_cfg_reader *rd, struct belt_cfg_store *out)
{
    out->path = belt__cfg_resolve_path(rd, "belt.db");
    out->redis = NULL;
    out->busy_timeout_ms = 5000;
    if (!out->path)
        return belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    return BELT_OK;
}

belt_status belt__cfg_store_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, struct belt_cfg_store *out)
{
    out->mark = mark;
    return belt__cfg_read_map(rd, node, mark, "store", store_fields,
                              BELT_ARRAY_LEN(store_fields), out);
}

void belt__cfg_store_free(struct belt_cfg_store *s)
{
    belt__cfg_free_fields(store_fields, BELT_ARRAY_LEN(store_fields), s);
}
