/*
 * jsonschema.h — JSON Schema validation of jansson values: compile a schema once, validate many
 * values. Supports the part of draft 2020-12 that extraction schemas use (draft-07 spellings are
 * accepted too); see docs/lines-kit.md for the full keyword list and what is refused.
 *
 *   struct belt_jsonschema *js;
 *   belt_jsonschema_compile(schema, NULL, &js, &err);       // invalid schema: error names its path
 *   if (belt_jsonschema_validate(js, value, &err) != BELT_OK)
 *       ... err.msg: "2 problems: /items/3/price: must be >= 0 (got -5); ..."
 *   belt_jsonschema_free(js);
 *
 * Every problem carries the instance path (JSON pointer, "/items/3/price"), the schema path of
 * the keyword that failed ("#/properties/items/items/properties/price/minimum") and a message
 * written for a person or a model to act on.
 *
 * Thread rule: a compiled schema is immutable; any number of threads may validate with it at
 * once. Validation allocates nothing in the steady state (PCRE2 match data is pooled), except
 * that `propertyNames` wraps each key in a JSON string.
 * Ownership: compile copies what it needs from the schema value; the caller keeps its own.
 */
#ifndef BELT_UTIL_JSONSCHEMA_H
#define BELT_UTIL_JSONSCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "belt.h"

struct belt_jsonschema;

struct belt_jsonschema_params {
    int format_assert; /* 1: `format` (date, date-time, time, email, uuid, ipv4) is checked */
    int max_depth;     /* deepest nesting of schema evaluation (guards $ref recursion) */
    size_t max_issues; /* problems listed by belt_jsonschema_validate's message */
};

/* Defaults: format_assert 1, max_depth 128, max_issues 5. */
struct belt_jsonschema_params belt_jsonschema_default_params(void);

/* Compile `schema` (an object or a boolean). p may be NULL (defaults). An invalid schema gives
 * BELT_ERR_INVALID with the schema path in err ("schema #/properties/a/minimum: must be a
 * number"); unsupported keywords (unevaluatedProperties, $dynamicRef, non-local $ref) are
 * refused the same way rather than silently ignored. *out is owned by the caller. */
belt_status belt_jsonschema_compile(const json_t *schema, const struct belt_jsonschema_params *p,
                                    struct belt_jsonschema **out, struct belt_error *err);
/* Parse JSON text text[0..len) (`name` is used in parse errors) and compile it. */
belt_status belt_jsonschema_compile_text(const char *text, size_t len, const char *name,
                                         const struct belt_jsonschema_params *p,
                                         struct belt_jsonschema **out, struct belt_error *err);
/* Read and compile the JSON file at `path`. */
belt_status belt_jsonschema_compile_file(const char *path, const struct belt_jsonschema_params *p,
                                         struct belt_jsonschema **out, struct belt_error *err);
void belt_jsonschema_free(struct belt_jsonschema *js);

/* Validate v. BELT_OK when valid; BELT_ERR_INVALID with up to params.max_issues problems in
 * err->msg ("N problem(s): PATH: message; ...", "(root)" for the top level) and the total
 * count in err->sub; BELT_ERR_NOMEM if match data could not be allocated. */
belt_status belt_jsonschema_validate(const struct belt_jsonschema *js, const json_t *v,
                                     struct belt_error *err);

/* Receives one problem. instance_path is a JSON pointer ("" = the value itself); all strings
 * are borrowed for the call. Return non-zero to stop validating. */
typedef int belt_jsonschema_issue_fn(void *ud, const char *instance_path, const char *schema_path,
                                     const char *message);
/* Validate v calling fn for each of the first max_issues problems (0: no limit). Returns like
 * belt_jsonschema_validate; err->sub holds the number of problems found (counting stops once
 * max_issues is reached). */
belt_status belt_jsonschema_validate_each(const struct belt_jsonschema *js, const json_t *v,
                                          size_t max_issues, belt_jsonschema_issue_fn *fn, void *ud,
                                          struct belt_error *err);

#endif
