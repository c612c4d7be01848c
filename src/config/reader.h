/*
 * reader.h — typed, table-driven reading of YAML nodes (libfyaml) with errors that name file,
 * line, column and the dotted path of the key ("belt.yaml:12:5: models.intent.provider: ...").
 * Every section parser (cfg_<section>.c) uses it; see docs/config.md for the keys.
 */
#ifndef BELT_CONFIG_READER_H
#define BELT_CONFIG_READER_H

#include <jansson.h>
#include <libfyaml.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"

/* A position in the config file, 1-based (0 = unknown). */
struct belt_cfg_mark {
    int line;
    int col;
};

/* State shared by every reader call during one load. */
struct belt_cfg_reader {
    const char *file;       /* file name for messages; borrowed */
    const char *dir;        /* directory relative paths resolve against; borrowed */
    struct belt_error *err; /* where the first error goes; may be NULL */
};

/* A list of strings from a YAML sequence (or a single scalar). */
struct belt_cfg_strlist {
    char **v; /* owned strings */
    size_t n; /* count */
};

enum belt_cfg_type {
    BELT_CFG_STR,      /* char * (owned) */
    BELT_CFG_PATH,     /* char * resolved against the config directory (owned) */
    BELT_CFG_INT,      /* int64_t, range [min, max] when max > min */
    BELT_CFG_DOUBLE,   /* double, range [min, max] when max > min */
    BELT_CFG_BOOL,     /* int (0/1) */
    BELT_CFG_DURATION, /* int64_t milliseconds: 250ms, 30s, 5m, 1h or a number of ms */
    BELT_CFG_ENUM,     /* int index into enum_names */
    BELT_CFG_STRLIST,  /* struct belt_cfg_strlist */
    BELT_CFG_JSON,     /* json_t * (owned; any YAML value converted to JSON) */
    BELT_CFG_CUSTOM    /* parsed by `custom` */
};

struct belt_cfg_field;
/* Parse `node` (the value of field->key) into (char *)target + field->offset. `where` is the
 * dotted path of the value. */
typedef belt_status belt_cfg_custom_fn(struct belt_cfg_reader *rd, struct fy_node *node,
                                       const char *where, const struct belt_cfg_field *field,
                                       void *target);

struct belt_cfg_field {
    const char *key;               /* YAML key */
    enum belt_cfg_type type;       /* how to read the value */
    size_t offset;                 /* offsetof() in the target struct */
    int required;                  /* 1: a missing key is an error */
    double min, max;               /* numeric range when max > min */
    const char *const *enum_names; /* BELT_CFG_ENUM: NULL-terminated names */
    belt_cfg_custom_fn *custom;    /* BELT_CFG_CUSTOM */
};

/* Read a mapping with a field table: unknown keys, wrong types, out-of-range values and
 * missing required keys are errors. `mark` is used when `map` is NULL or empty.
 * Fields not present keep whatever the target already holds (set defaults first). */
belt_status belt__cfg_read_map(struct belt_cfg_reader *rd, struct fy_node *map,
                               struct belt_cfg_mark mark, const char *where,
                               const struct belt_cfg_field *fields, size_t n_fields, void *target);
/* Read one value of a given type (used by custom parsers for list items and the like). */
belt_status belt__cfg_read_value(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, const struct belt_cfg_field *field,
                                 void *target);
/* Free what a field table allocated in target (strings, lists, JSON). */
void belt__cfg_free_fields(const struct belt_cfg_field *fields, size_t n_fields, void *target);

/* Position of a node: its own token for scalars, its first key/item for collections. */
struct belt_cfg_mark belt__cfg_node_mark(struct fy_node *node, struct belt_cfg_mark fallback);
/* Position of the key of `pair`. */
struct belt_cfg_mark belt__cfg_key_mark(struct fy_node_pair *pair);
/* Set rd->err to "FILE:LINE:COL: WHERE: message" and return BELT_ERR_CONFIG. */
belt_status belt__cfg_error(struct belt_cfg_reader *rd, struct belt_cfg_mark mark,
                            const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* The scalar text of a node, NUL-terminated copy owned by the caller (belt_free); NULL if the
 * node is not a scalar. */
char *belt__cfg_scalar_dup(struct fy_node *node);
/* Resolve a path against the config directory (absolute paths are kept). Caller frees. */
char *belt__cfg_resolve_path(const struct belt_cfg_reader *rd, const char *path);
/* Convert any YAML node to JSON (scalars keep their YAML type: numbers, booleans, null). */
belt_status belt__cfg_to_json(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              json_t **out);
/* Join "a" + "." + "b" into buf (for `where` paths of nested values). */
const char *belt__cfg_where(char *buf, size_t cap, const char *parent, const char *key);
/* Free a string list. */
void belt__cfg_strlist_free(struct belt_cfg_strlist *l);

/* Parse one entry of a named section into `elem` (zeroed) from its key/value pair. */
typedef belt_status belt__cfg_entry_fn(struct belt_cfg_reader *rd, struct fy_node_pair *pair,
                                       void *elem);
/* A section that maps names to entries (models, routes, lines): allocate one element of
 * elem_size per key into *v (owned; counted in *n as they are parsed, so a partly parsed
 * section frees like a whole one) and parse each with fn. `expected` completes "expected a
 * mapping of ..." when the node is not a mapping. Duplicate names are refused by the YAML
 * parser itself. */
belt_status belt__cfg_parse_named(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, const char *section,
                                  const char *expected, size_t elem_size, void **v, size_t *n,
                                  belt__cfg_entry_fn *fn);

#endif
