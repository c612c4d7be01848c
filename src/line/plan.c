/*
 * plan.c — the planner station, built on the dual-LLM pattern: the planning model never sees
 * the record's contents. Its prompt is made from trusted configuration (the line's tools, their
 * descriptions and argument schemas, the station's own prompt) and a *safe view* of the record:
 * field names and shapes, plus the values of fields the configuration marks `trusted:` — and
 * only when such a value is a number, a boolean or a short identifier-like string. Retrieved
 * passages, earlier stations' outputs and free text therefore never reach the planner; tools
 * (executor stations) read them by name when a step runs.
 *
 * The plan the model returns is checked before anything runs: a JSON object {"steps": [...]},
 * at most max_steps steps, each naming a tool of the station's allow-list, with arguments valid
 * against that tool's `args:` schema. A plan that fails is rejected with the reason (the model
 * is asked once more with it; then the station's on_fail path takes over).
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "line/exec_int.h"
#include "line/template.h"
#include "util/error.h"
#include "util/json.h"
#include "util/jsonschema.h"

/* A string safe to show the planner: 1-64 of letters, digits and _ . : - (no spaces, so no
 * sentences and no instructions). */
static int safe_word(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* {"fields": [{name, type, chars|items}], "trusted": {path: value}, "withheld": n}. */
static json_t *safe_view(const struct belt__item *it, const struct belt_cfg_station *s)
{
    json_t *fields = json_array(), *trusted = json_object();
    json_int_t withheld = 0;
    const char *k;
    const json_t *v;
    json_object_foreach(it->rec, k, v)
    {
        if (!safe_word(k, strlen(k))) {
            withheld++;
            continue;
        }
        json_t *f = json_pack("{ss ss}", "name", k, "type", type_name(v));
        if (json_is_string(v))
            json_object_set_new(f, "chars", json_integer((json_int_t)json_string_length(v)));
        else if (json_is_array(v))
            json_object_set_new(f, "items", json_integer((json_int_t)json_array_size(v)));
        json_array_append_new(fields, f);
    }
    for (size_t i = 0; i < s->trusted.n; i++) {
        struct belt_cfg_path p;
        char why[100];
        if (belt__cfg_path_parse(s->trusted.v[i], &p, why, sizeof(why)) != BELT_OK)
            continue;
        const json_t *tv = belt__rec_get(it->rec, &p);
        belt__cfg_path_free(&p);
        if (!tv)
            continue;
        if (json_is_number(tv) || json_is_boolean(tv) || json_is_null(tv) ||
            (json_is_string(tv) && safe_word(json_string_value(tv), json_string_length(tv))))
            json_object_set(trusted, s->trusted.v[i], (json_t *)tv);
        else
            json_object_set_new(trusted, s->trusted.v[i], json_string("<withheld>"));
    }
    return json_pack("{so so sI}", "fields", fields, "trusted", trusted, "withheld", withheld);
}

static void tool_catalog(const struct belt_cfg_line *l, const struct belt_cfg_station *s,
                         struct belt_buf *b)
{
    for (size_t i = 0; i < s->allow.n; i++) {
        const struct belt_cfg_station *t = &l->tools[s->allow_idx[i]];
        belt_buf_printf(b, "- %s (%s): %s; arguments: ", t->name, belt__station_kind_names[t->kind],
                        t->description ? t->description : "no description");
        if (t->args_json)
            belt_json_dump_buf(t->args_json, JSON_COMPACT | JSON_SORT_KEYS, b);
        else
            belt_buf_puts(b, "none ({})");
        belt_buf_putc(b, '\n');
    }
}

belt_status belt__plan_request(struct belt__item *it, const struct belt_cfg_station *s,
                               json_t *msgs, struct belt_error *err)
{
    json_t *view = safe_view(it, s);
    if (!view)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    struct belt_buf b;
    belt_buf_init(&b, 1 << 20);
    belt_buf_printf(&b,
                    "You plan how one record is handled by choosing steps from a fixed list of "
                    "tools. You never see the record's contents: only its field names and a few "
                    "trusted values. The tools read the data themselves when they run.\n"
                    "Reply with one JSON object and nothing else: {\"steps\": [{\"station\": "
                    "TOOL, \"args\": {...}}]} with at most %lld steps, each naming one of these "
                    "tools with arguments valid against its argument schema:\n",
                    (long long)s->max_steps);
    tool_catalog(it->line, s, &b);
    char why[300];
    belt_status st = BELT_OK;
    if (s->system) {
        const char *t = belt__render(it, s->system, view, NULL, why, sizeof(why));
        if (!t)
            st = belt__error_set(err, BELT_ERR_INVALID, 0, "system %s", why);
        else
            belt_buf_puts(&b, t);
    }
    if (st == BELT_OK)
        st = json_array_append_new(
                 msgs, json_pack("{ss ss}", "role", "system", "content", belt_buf_cstr(&b))) == 0
                 ? BELT_OK
                 : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_buf_reset(&b);
    if (st == BELT_OK) {
        const char *t = belt__render(it, s->prompt, view, NULL, why, sizeof(why));
        if (!t)
            st = belt__error_set(err, BELT_ERR_INVALID, 0, "prompt %s", why);
        else {
            belt_buf_puts(&b, t);
            belt_buf_puts(&b, "\n\nRecord (names and trusted values only): ");
            belt_json_dump_buf(view, JSON_COMPACT, &b);
            if (json_array_append_new(
                    msgs, json_pack("{ss ss}", "role", "user", "content", belt_buf_cstr(&b))) != 0)
                st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        }
    }
    belt_buf_deinit(&b);
    json_decref(view);
    return st;
}

static int allowed_tool(const struct belt_cfg_line *l, const struct belt_cfg_station *s,
                        const char *name)
{
    for (size_t i = 0; name && i < s->allow.n; i++)
        if (strcmp(l->tools[s->allow_idx[i]].name, name) == 0)
            return (int)s->allow_idx[i];
    return -1;
}

/* Check one step; on success append its normal form {"station", "args"} to steps. */
static int check_step(const struct belt__item *it, const struct belt_cfg_station *s, size_t i,
                      const json_t *step, json_t *steps, char *why, size_t cap)
{
    const struct belt_cfg_line *l = it->line;
    const json_t *name = json_object_get(step, "station");
    if (!name)
        name = json_object_get(step, "tool");
    if (!json_is_object(step) || !json_is_string(name)) {
        snprintf(why, cap, "plan rejected: step %zu does not name a station", i + 1);
        return 0;
    }
    int t = allowed_tool(l, s, json_string_value(name));
    if (t < 0) {
        snprintf(why, cap, "plan rejected: step %zu names '%.80s', which is not allowed", i + 1,
                 json_string_value(name));
        return 0;
    }
    const struct belt_cfg_station *tool = &l->tools[t];
    const json_t *args = json_object_get(step, "args");
    if (args && !json_is_object(args) && !json_is_null(args)) {
        snprintf(why, cap, "plan rejected: step %zu (%s): args must be an object", i + 1,
                 tool->name);
        return 0;
    }
    json_t *a = json_is_object(args) ? json_deep_copy(args) : json_object();
    struct belt_error e;
    belt_error_clear(&e);
    if (!a) {
        snprintf(why, cap, "out of memory");
        return 0;
    }
    if (tool->args ? belt_jsonschema_validate(tool->args, a, &e) != BELT_OK
                   : json_object_size(a) > 0) {
        snprintf(why, cap, "plan rejected: step %zu (%s): %s", i + 1, tool->name,
                 tool->args ? e.msg : "it takes no arguments");
        json_decref(a);
        return 0;
    }
    json_array_append_new(steps, json_pack("{ss so}", "station", tool->name, "args", a));
    return 1;
}

int belt__plan_check(const struct belt__item *it, const struct belt_cfg_station *s,
                     const char *content, size_t len, json_t **plan, char *why, size_t cap)
{
    *plan = NULL;
    const char *a = memchr(content, '{', len);
    json_error_t je;
    json_t *o = a ? json_loadb(a, len - (size_t)(a - content), JSON_DISABLE_EOF_CHECK, &je) : NULL;
    const json_t *steps = json_object_get(o, "steps");
    if (!json_is_array(steps)) {
        snprintf(why, cap, "plan rejected: the answer is not a JSON object with a steps array");
        json_decref(o);
        return 0;
    }
    if ((int64_t)json_array_size(steps) > s->max_steps) {
        snprintf(why, cap, "plan rejected: %zu steps, at most %lld are allowed",
                 json_array_size(steps), (long long)s->max_steps);
        json_decref(o);
        return 0;
    }
    json_t *norm = json_array();
    int good = norm != NULL;
    for (size_t i = 0; good && i < json_array_size(steps); i++)
        good = check_step(it, s, i, json_array_get(steps, i), norm, why, cap);
    json_decref(o);
    if (!good) {
        json_decref(norm);
        return 0;
    }
    *plan = json_pack("{so}", "steps", norm);
    return *plan != NULL;
}
