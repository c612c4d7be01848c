/*
 * accept_schema.c — the `schema` accept signal: the answer's content must be JSON that a JSON
 * schema (util/jsonschema.h) accepts. Kept apart from accept.c so the validator is the only
 * dependency of this one signal.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "route/accept.h"
#include "util/jsonschema.h"

belt_status belt__accept_compile_schema(struct belt__accept *c, char *msg, size_t cap)
{
    struct belt_error err = {0};
    struct belt_jsonschema *js = NULL;
    belt_status st = belt_jsonschema_compile(c->schema, NULL, &js, &err);
    if (st != BELT_OK) {
        snprintf(msg, cap, "%s", err.msg[0] ? err.msg : belt_strerror(st));
        return st;
    }
    c->compiled = js;
    return BELT_OK;
}

void belt__accept_schema_release(struct belt__accept *c)
{
    belt_jsonschema_free(c->compiled);
    c->compiled = NULL;
}

enum belt__verdict belt__accept_eval_schema(const struct belt__accept *c,
                                            const struct belt__answer *a, char *reason, size_t cap)
{
    json_t *parsed = NULL;
    const json_t *v = a->json;
    if (!v) {
        json_error_t je;
        parsed = json_loadb(a->text ? a->text : "", a->text ? a->len : 0, JSON_DECODE_ANY, &je);
        if (!parsed) {
            snprintf(reason, cap, "schema %s: the answer is not JSON (%s)", c->schema_name,
                     je.text);
            return BELT__VERDICT_ESCALATE;
        }
        v = parsed;
    }
    struct belt_error err = {0};
    belt_status st = belt_jsonschema_validate(c->compiled, v, &err);
    json_decref(parsed);
    if (st == BELT_OK) {
        snprintf(reason, cap, "schema %s: valid", c->schema_name);
        return BELT__VERDICT_ACCEPT;
    }
    snprintf(reason, cap, "schema %s: %s", c->schema_name,
             err.msg[0] ? err.msg : belt_strerror(st));
    return BELT__VERDICT_ESCALATE;
}
