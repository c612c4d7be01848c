/*
 * cfg_lines.c — parsing of the `lines:` section (docs/config-lines.md): lines, their stations
 * and tools, with every condition, template, rule set, schema and regex compiled at load and
 * errors located in the file. Cross-checks (routes, needs, allow lists, cycles) are in
 * cfg_lines_check.c.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "config/cfg_lines.h"
#include "line/expr.h"
#include "line/rules.h"
#include "line/template.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/jsonschema.h"

const char *const belt__station_kind_names[] = {
    "classify", "extract", "redact", "retrieve", "generate", "validate", "review", "plan", NULL};
const char *const belt__on_fail_names[] = {"retry", "escalate", "review", "drop", NULL};

static const struct belt_cfg_mark no_mark = {0, 0};

#define NOMEM(rd) belt__error_set((rd)->err, BELT_ERR_NOMEM, 0, "out of memory")

/* ---- paths ----------------------------------------------------------------------------------- */

void belt__cfg_path_free(struct belt_cfg_path *p)
{
    for (size_t i = 0; i < p->n_seg; i++)
        belt_free(p->seg[i]);
    belt_free(p->seg);
    belt_free(p->text);
    memset(p, 0, sizeof(*p));
}

static int seg_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

belt_status belt__cfg_path_parse(const char *text, struct belt_cfg_path *out, char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    size_t n = 1, len = strlen(text);
    if (len == 0 || len > 256) {
        snprintf(why, cap, "a field path has 1 to 256 characters");
        return BELT_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.')
            n++;
        else if (!seg_char(text[i])) {
            snprintf(why, cap, "'%s': character %zu is not a letter, digit, '_', '-' or '.'", text,
                     i + 1);
            return BELT_ERR_INVALID;
        }
    }
    out->text = belt_strdup(text);
    out->seg = belt_calloc(n, sizeof(char *));
    if (!out->text || !out->seg) {
        belt__cfg_path_free(out);
        snprintf(why, cap, "out of memory");
        return BELT_ERR_NOMEM;
    }
    const char *s = text;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(s, '.');
        size_t sl = dot ? (size_t)(dot - s) : strlen(s);
        if (sl == 0) {
            belt__cfg_path_free(out);
            snprintf(why, cap, "'%s' has an empty segment", text);
            return BELT_ERR_INVALID;
        }
        out->seg[i] = belt_strndup(s, sl);
        if (!out->seg[i]) {
            belt__cfg_path_free(out);
            snprintf(why, cap, "out of memory");
            return BELT_ERR_NOMEM;
        }
        out->n_seg = i + 1;
        s = dot ? dot + 1 : s + sl;
    }
    return BELT_OK;
}

static belt_status read_path(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             struct belt_cfg_path *out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    char *s = fy_node_is_scalar(node) ? belt__cfg_scalar_dup(node) : NULL;
    if (!s)
        return belt__cfg_error(rd, m, where, "expected a field name such as ticket.text");
    char why[200];
    belt__cfg_path_free(out);
    belt_status st = belt__cfg_path_parse(s, out, why, sizeof(why));
    belt_free(s);
    if (st == BELT_ERR_NOMEM)
        return NOMEM(rd);
    if (st != BELT_OK)
        return belt__cfg_error(rd, m, where, "%s", why);
    return BELT_OK;
}

/* ---- positions inside scalars ---------------------------------------------------------------- */

/* Where the text of a scalar starts, and whether positions inside it map one to one onto the
 * file: one line, no escapes to undo. Block scalars start on the line after the indicator. */
struct scalar_pos {
    struct belt_cfg_mark start; /* first character of the value's text (block: line only) */
    int exact;                  /* 1: column C of the text is start.col + C - 1 */
    int block;                  /* 1: literal or folded block; text line L is start.line+L-1 */
};

static struct scalar_pos scalar_position(struct fy_node *node)
{
    struct scalar_pos p = {belt__cfg_node_mark(node, no_mark), 0, 0};
    struct fy_token *t = fy_node_get_scalar_token(node);
    const struct fy_mark *s = t ? fy_token_start_mark(t) : NULL;
    const struct fy_mark *e = t ? fy_token_end_mark(t) : NULL;
    enum fy_node_style style = fy_node_get_style(node);
    if (style == FYNS_LITERAL || style == FYNS_FOLDED) {
        p.block = style == FYNS_LITERAL;
        return p;
    }
    if (!s || !e || s->line != e->line)
        return p;
    if (style == FYNS_SINGLE_QUOTED || style == FYNS_DOUBLE_QUOTED) {
        /* the marks span the text between the quotes; escapes make it longer than the text */
        size_t raw = (size_t)(e->column - s->column), len = 0;
        fy_token_get_text(t, &len);
        p.exact = raw == len;
        return p;
    }
    p.exact = style == FYNS_PLAIN;
    return p;
}

/* Report an error found at byte `offset` (1-based `line`/`col` inside the text) of a scalar's
 * text: exact file position when the text maps onto the file, else the value's position plus
 * the position inside it. `msg` is the module's reason (and caret lines). */
static belt_status located_error(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, int line, int col, const char *msg)
{
    struct scalar_pos p = scalar_position(node);
    if (p.exact && line <= 1 && p.start.line > 0)
        return belt__cfg_error(rd, (struct belt_cfg_mark){p.start.line, p.start.col + col - 1},
                               where, "%s", msg);
    if (p.block && p.start.line > 0)
        return belt__error_set(rd->err, BELT_ERR_CONFIG, 0,
                               "%s:%d: %s: line %d of the text, column %d: %s", rd->file,
                               p.start.line + line - 1, where, line, col, msg);
    return belt__cfg_error(rd, p.start, where, "line %d, column %d of the value: %s", line, col,
                           msg);
}

/* ---- compiled values ----------------------------------------------------------------------- */

static belt_status read_expr(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             struct belt_expr **out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    size_t len = 0;
    struct fy_token *t = fy_node_is_scalar(node) ? fy_node_get_scalar_token(node) : NULL;
    const char *src = t ? fy_token_get_text(t, &len) : NULL;
    if (!src || len == 0)
        return belt__cfg_error(rd, m, where, "expected a condition such as intent == \"refund\"");
    struct belt_expr_syntax syn;
    memset(&syn, 0, sizeof(syn));
    belt__expr_free(*out);
    *out = NULL;
    belt_status st = belt__expr_parse(src, len, out, &syn);
    if (st == BELT_ERR_NOMEM)
        return NOMEM(rd);
    if (st != BELT_OK) {
        char caret[300], msg[420];
        belt__expr_caret(src, len, syn.offset, caret, sizeof(caret));
        snprintf(msg, sizeof(msg), "%s\n%s", syn.message, caret);
        return located_error(rd, node, where, 1, syn.column, msg);
    }
    return BELT_OK;
}

static belt_status read_template(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, struct belt_template **out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    size_t len = 0;
    struct fy_token *t = fy_node_is_scalar(node) ? fy_node_get_scalar_token(node) : NULL;
    const char *src = t ? fy_token_get_text(t, &len) : NULL;
    if (!src || len == 0)
        return belt__cfg_error(rd, m, where, "expected a template such as \"Reply to {{text}}\"");
    struct belt_template_params tp = belt__template_default_params();
    struct belt_error e;
    belt_error_clear(&e);
    belt__template_free(*out);
    *out = NULL;
    belt_status st = belt__template_compile(src, len, &tp, out, &e);
    if (st == BELT_ERR_NOMEM)
        return NOMEM(rd);
    if (st != BELT_OK) {
        int line = 1, col = 1, used = 0;
        const char *msg = e.msg;
        if (sscanf(e.msg, "line %d, column %d: %n", &line, &col, &used) >= 2 && used > 0)
            msg = e.msg + used;
        return located_error(rd, node, where, line, col, msg);
    }
    return BELT_OK;
}

/* The node the rules module names in "WHERE.field.key: why", for a precise position. */
static struct fy_node *rules_error_node(struct fy_node *spec, const char *where, const char *msg)
{
    size_t wl = strlen(where);
    if (strncmp(msg, where, wl) != 0 || msg[wl] != '.')
        return spec;
    const char *p = msg + wl + 1, *colon = strstr(p, ": ");
    if (!colon)
        return spec;
    char path[256] = "/";
    size_t n = (size_t)(colon - p);
    if (n + 2 > sizeof(path))
        return spec;
    memcpy(path + 1, p, n);
    path[n + 1] = '\0';
    for (char *c = path; *c; c++)
        if (*c == '.')
            *c = '/';
    while (strlen(path) > 1) {
        struct fy_node *found = fy_node_by_path(spec, path, (size_t)-1, FYNWF_DONT_FOLLOW);
        if (found)
            return found;
        char *slash = strrchr(path, '/');
        if (!slash || slash == path)
            break;
        *slash = '\0';
    }
    return spec;
}

static belt_status read_rules(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              struct belt_rules **out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where,
                               "expected a mapping of field names to rules, e.g. "
                               "{ order_id: { pattern: '#(\\d+)' } }");
    json_t *spec = NULL;
    belt_status st = belt__cfg_to_json(rd, node, where, &spec);
    if (st != BELT_OK)
        return st;
    struct belt_error e;
    belt_error_clear(&e);
    belt__rules_free(*out);
    *out = NULL;
    st = belt__rules_compile(spec, where, out, &e);
    json_decref(spec);
    if (st == BELT_ERR_NOMEM)
        return NOMEM(rd);
    if (st != BELT_OK) {
        struct fy_node *at = rules_error_node(node, where, e.msg);
        return belt__error_set(rd->err, BELT_ERR_CONFIG, 0, "%s:%d:%d: %s", rd->file,
                               belt__cfg_node_mark(at, m).line, belt__cfg_node_mark(at, m).col,
                               e.msg);
    }
    return BELT_OK;
}

/* A JSON schema: inline (a mapping) or a path to a JSON file. */
static belt_status read_schema(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                               json_t **json_out, struct belt_jsonschema **out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    json_t *schema = NULL;
    belt_status st;
    if (fy_node_is_scalar(node)) {
        char *rel = belt__cfg_scalar_dup(node);
        char *path = rel ? belt__cfg_resolve_path(rd, rel) : NULL;
        belt_free(rel);
        if (!path)
            return NOMEM(rd);
        char *text = NULL;
        size_t len = 0;
        struct belt_error e;
        belt_error_clear(&e);
        st = belt_file_read_all(path, (size_t)4 << 20, &text, &len, &e);
        if (st == BELT_OK)
            st = belt_json_parse(text, len, path, 0, &schema, &e);
        belt_free(text);
        belt_free(path);
        if (st != BELT_OK)
            return belt__cfg_error(rd, m, where, "cannot read the schema: %s", e.msg);
    } else {
        st = belt__cfg_to_json(rd, node, where, &schema);
        if (st != BELT_OK)
            return st;
    }
    struct belt_error e;
    belt_error_clear(&e);
    st = belt_jsonschema_compile(schema, NULL, out, &e);
    if (st != BELT_OK) {
        json_decref(schema);
        if (st == BELT_ERR_NOMEM)
            return NOMEM(rd);
        return belt__cfg_error(rd, m, where, "invalid JSON schema: %s", e.msg);
    }
    *json_out = schema;
    return BELT_OK;
}

/* ---- station fields ------------------------------------------------------------------------ */

static belt_status f_name(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                          const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_station *s = target;
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    char *name = fy_node_is_scalar(node) ? belt__cfg_scalar_dup(node) : NULL;
    int ok = name && *name && strlen(name) <= 64 && !(name[0] >= '0' && name[0] <= '9');
    for (const char *c = name; ok && *c; c++)
        ok = seg_char(*c) && *c != '-';
    if (!ok) {
        belt_free(name);
        return belt__cfg_error(rd, m, where,
                               "a station name has 1-64 letters, digits or '_' and does not "
                               "start with a digit");
    }
    belt_free(s->name);
    s->name = name;
    return BELT_OK;
}

static belt_status f_when(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                          const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_station *s = target;
    return read_expr(rd, node, where, strcmp(f->key, "when") == 0 ? &s->when : &s->condition);
}

static belt_status f_template(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_station *s = target;
    struct belt_template **dst = &s->prompt;
    if (strcmp(f->key, "system") == 0)
        dst = &s->system;
    else if (strcmp(f->key, "query") == 0)
        dst = &s->query;
    else if (strcmp(f->key, "reason") == 0)
        dst = &s->reason;
    else if (strcmp(f->key, "template") == 0 && s->prompt)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                               "give one of 'prompt' and 'template' (the same thing)");
    return read_template(rd, node, where, dst);
}

static belt_status f_rules(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                           const struct belt_cfg_field *f, void *target)
{
    (void)f;
    return read_rules(rd, node, where, &((struct belt_cfg_station *)target)->rules);
}

static belt_status f_schema(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                            const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_station *s = target;
    if (strcmp(f->key, "args") == 0)
        return read_schema(rd, node, where, &s->args_json, &s->args);
    return read_schema(rd, node, where, &s->schema_json, &s->schema);
}

static belt_status f_input(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                           const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_station *s = target;
    size_t n = fy_node_is_sequence(node) ? (size_t)fy_node_sequence_item_count(node) : 1;
    if (n == 0 || n > 64)
        return belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                               "expected a field name or a list of 1 to 64 field names");
    s->inputs = belt_calloc(n, sizeof(*s->inputs));
    if (!s->inputs)
        return NOMEM(rd);
    if (!fy_node_is_sequence(node)) {
        s->n_inputs = 1;
        return read_path(rd, node, where, &s->inputs[0]);
    }
    void *it = NULL;
    for (size_t i = 0; i < n; i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
        s->n_inputs = i + 1;
        belt_status st = read_path(rd, fy_node_sequence_iterate(node, &it), sub, &s->inputs[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status f_output(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                            const struct belt_cfg_field *f, void *target)
{
    (void)f;
    return read_path(rd, node, where, &((struct belt_cfg_station *)target)->output);
}

static belt_status f_pii(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                         const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_station *s = target;
    struct belt_cfg_strlist l = {NULL, 0};
    struct belt_cfg_field lf = {"pii", BELT_CFG_STRLIST, 0, 0, 0, 0, NULL, NULL};
    belt_status st = belt__cfg_read_value(rd, node, where, &lf, &l);
    for (size_t i = 0; st == BELT_OK && i < l.n; i++) {
        int e = belt_pii_entity_parse(l.v[i]);
        if (e < 0 && strcmp(l.v[i], "all") != 0) {
            char known[400] = "";
            size_t used = 0;
            for (size_t j = 0; j < belt_pii_n_entities(); j++) {
                int w = snprintf(known + used, sizeof(known) - used, "%s%s", j ? ", " : "",
                                 belt_pii_entity_name((enum belt_pii_entity)j));
                if (w > 0 && (size_t)w < sizeof(known) - used)
                    used += (size_t)w;
            }
            st = belt__cfg_error(rd, belt__cfg_node_mark(node, no_mark), where,
                                 "unknown PII entity '%s' (expected all or: %s)", l.v[i], known);
        } else if (e >= 0) {
            s->pii_entities |= 1u << (unsigned)e;
        }
    }
    belt__cfg_strlist_free(&l);
    return st;
}

static belt_status f_regex(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                           const struct belt_cfg_field *f, void *target)
{
    (void)f;
    struct belt_cfg_station *s = target;
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    belt_free(s->regex);
    s->regex = fy_node_is_scalar(node) ? belt__cfg_scalar_dup(node) : NULL;
    if (!s->regex || !*s->regex)
        return belt__cfg_error(rd, m, where, "expected a regular expression");
    char msg[200];
    belt_status st = belt__rx_compile(s->regex, strlen(s->regex), 0, 0, &s->re, msg, sizeof(msg));
    if (st == BELT_ERR_NOMEM)
        return NOMEM(rd);
    if (st != BELT_OK) {
        int off = 0;
        if (sscanf(msg, "at offset %d", &off) == 1)
            return located_error(rd, node, where, 1, off + 1, msg);
        return belt__cfg_error(rd, m, where, "invalid regular expression %s", msg);
    }
    s->rx_pool = belt_calloc(1, sizeof(*s->rx_pool));
    if (!s->rx_pool)
        return NOMEM(rd);
    belt__rx_pool_init(s->rx_pool);
    belt__rx_pool_size_for(s->rx_pool, s->re);
    return BELT_OK;
}

#define SOFF(f) offsetof(struct belt_cfg_station, f)

static const struct belt_cfg_field station_fields[] = {
    {"name", BELT_CFG_CUSTOM, 0, 1, 0, 0, NULL, f_name},
    {"kind", BELT_CFG_ENUM, SOFF(kind), 1, 0, 0, belt__station_kind_names, NULL},
    {"description", BELT_CFG_STR, SOFF(description), 0, 0, 0, NULL, NULL},
    {"when", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_when},
    {"needs", BELT_CFG_STRLIST, SOFF(needs), 0, 0, 0, NULL, NULL},
    {"input", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_input},
    {"output", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_output},
    {"route", BELT_CFG_STR, SOFF(route), 0, 0, 0, NULL, NULL},
    {"escalate", BELT_CFG_STR, SOFF(escalate), 0, 0, 0, NULL, NULL},
    {"prompt", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_template},
    {"template", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_template},
    {"system", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_template},
    {"temperature", BELT_CFG_DOUBLE, SOFF(temperature), 0, 0, 2, NULL, NULL},
    {"max_tokens", BELT_CFG_INT, SOFF(max_tokens), 0, 1, 1000000, NULL, NULL},
    {"json", BELT_CFG_BOOL, SOFF(json), 0, 0, 0, NULL, NULL},
    {"restore", BELT_CFG_BOOL, SOFF(restore), 0, 0, 0, NULL, NULL},
    {"schema", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_schema},
    {"rules", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_rules},
    {"labels", BELT_CFG_STRLIST, SOFF(labels), 0, 0, 0, NULL, NULL},
    {"regex", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_regex},
    {"condition", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_when},
    {"pii", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_pii},
    {"corpus", BELT_CFG_STR, SOFF(corpus), 0, 0, 0, NULL, NULL},
    {"k", BELT_CFG_INT, SOFF(k), 0, 1, 100, NULL, NULL},
    {"query", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_template},
    {"reason", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_template},
    {"on_fail", BELT_CFG_ENUM, SOFF(on_fail), 0, 0, 0, belt__on_fail_names, NULL},
    {"retries", BELT_CFG_INT, SOFF(retries), 0, 0, 10, NULL, NULL},
    {"retry", BELT_CFG_STR, SOFF(retry_station), 0, 0, 0, NULL, NULL},
    {"sensitive", BELT_CFG_BOOL, SOFF(sensitive), 0, 0, 0, NULL, NULL},
    {"cache", BELT_CFG_BOOL, SOFF(cache), 0, 0, 0, NULL, NULL},
    {"allow", BELT_CFG_STRLIST, SOFF(allow), 0, 0, 0, NULL, NULL},
    {"max_steps", BELT_CFG_INT, SOFF(max_steps), 0, 1, 50, NULL, NULL},
    {"trusted", BELT_CFG_STRLIST, SOFF(trusted), 0, 0, 0, NULL, NULL},
    {"args", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_schema},
};

/* Keys each kind accepts besides the common ones (name kind description when needs on_fail
 * retries sensitive output). "*" marks a required key; "a|b" requires one of them. */
static const char *const kind_keys[BELT_STATION_N_KINDS][16] = {
    [BELT_STATION_CLASSIFY] = {"*input", "*route", "labels", "escalate", "prompt", "template",
                               "system", "cache", "temperature", "max_tokens"},
    [BELT_STATION_EXTRACT] = {"*input", "*rules|route", "rules", "route", "schema", "escalate",
                              "prompt", "template", "system", "cache", "temperature", "max_tokens"},
    [BELT_STATION_REDACT] = {"*input", "pii"},
    [BELT_STATION_RETRIEVE] = {"*corpus", "*input|query", "input", "query", "k"},
    [BELT_STATION_GENERATE] = {"*route", "*prompt|template", "prompt", "template", "system",
                               "escalate", "json", "schema", "restore", "cache", "temperature",
                               "max_tokens"},
    [BELT_STATION_VALIDATE] = {"input", "*schema|labels|regex|condition", "schema", "labels",
                               "regex", "condition", "retry"},
    [BELT_STATION_REVIEW] = {"reason"},
    [BELT_STATION_PLAN] = {"*route", "*prompt|template", "prompt", "template", "system", "*allow",
                           "max_steps", "trusted", "escalate", "cache", "temperature",
                           "max_tokens"},
};
static const char *const common_keys[] = {"name",    "kind",    "description", "when",  "needs",
                                          "on_fail", "retries", "sensitive",   "output"};

static int has_key(struct fy_node *map, const char *key)
{
    return fy_node_mapping_lookup_by_string(map, key, (size_t)-1) != NULL;
}

/* Check the keys written against the station's kind: keys of other kinds are errors naming
 * the kind, required keys must be there. */
static belt_status check_kind_keys(struct belt_cfg_reader *rd, struct fy_node *map,
                                   const char *where, struct belt_cfg_station *s)
{
    const char *const *allowed = kind_keys[s->kind];
    const char *kind = belt__station_kind_names[s->kind];
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
        char *key = belt__cfg_scalar_dup(fy_node_pair_key(pair));
        if (!key)
            return NOMEM(rd);
        int ok = 0;
        for (size_t i = 0; !ok && i < BELT_ARRAY_LEN(common_keys); i++)
            ok = strcmp(common_keys[i], key) == 0;
        for (size_t i = 0; !ok && i < 16 && allowed[i]; i++)
            ok = strcmp(allowed[i] + (allowed[i][0] == '*'), key) == 0;
        if (!ok && s->is_tool && strcmp(key, "args") == 0)
            ok = 1;
        if (!ok) {
            char sub[256];
            belt__cfg_where(sub, sizeof(sub), where, key);
            int known = 0;
            for (size_t i = 0; i < BELT_ARRAY_LEN(station_fields); i++)
                known |= strcmp(station_fields[i].key, key) == 0;
            belt_status st = belt__cfg_error(
                rd, belt__cfg_key_mark(pair), sub,
                known ? "does not apply to a %s station" : "unknown key for a %s station", kind);
            belt_free(key);
            return st;
        }
        belt_free(key);
    }
    for (size_t i = 0; i < 16 && allowed[i]; i++) {
        if (allowed[i][0] != '*')
            continue;
        char alts[64];
        snprintf(alts, sizeof(alts), "%s", allowed[i] + 1);
        int found = 0;
        for (char *save = NULL, *a = strtok_r(alts, "|", &save); a && !found;
             a = strtok_r(NULL, "|", &save))
            found = has_key(map, a);
        if (!found) {
            const char *need = allowed[i] + 1;
            return belt__cfg_error(rd, belt__cfg_node_mark(map, no_mark), where,
                                   strchr(need, '|') ? "a %s station needs one of: %s"
                                                     : "a %s station needs '%s'",
                                   kind, need);
        }
    }
    return BELT_OK;
}

static void station_defaults(struct belt_cfg_station *s)
{
    s->kind = -1;
    s->on_fail = -1;
    s->retries = -1;
    s->cache = -1;
    s->temperature = -1;
    s->k = 3;
    s->max_steps = 5;
    s->restore = 1;
    s->retry_idx = SIZE_MAX;
}

/* Fingerprint of a configuration node (sorted-key JSON → SHA-256), plus extra JSON. */
static belt_status node_hash(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                             const json_t *extra, char out[65])
{
    json_t *j = NULL;
    belt_status st = belt__cfg_to_json(rd, node, where, &j);
    if (st != BELT_OK)
        return st;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    st = belt_json_dump_buf(j, JSON_COMPACT | JSON_SORT_KEYS, &b);
    if (st == BELT_OK && extra)
        st = belt_json_dump_buf(extra, JSON_COMPACT | JSON_SORT_KEYS, &b);
    if (st == BELT_OK)
        belt_sha256_hex(b.data ? b.data : "", b.len, out);
    belt_buf_deinit(&b);
    json_decref(j);
    return st == BELT_OK ? BELT_OK : NOMEM(rd);
}

static belt_status parse_station(struct belt_cfg_reader *rd, struct fy_node *node,
                                 const char *where, struct belt_cfg_station *s)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    s->mark = m;
    if (!node || !fy_node_is_mapping(node))
        return belt__cfg_error(rd, m, where,
                               "expected a station: { name: ..., kind: classify | extract | "
                               "redact | retrieve | generate | validate | review | plan, ... }");
    struct fy_node *kn = fy_node_mapping_lookup_by_string(node, "kind", (size_t)-1);
    if (!kn)
        return belt__cfg_error(rd, m, where, "a station needs 'kind'");
    char sub[256];
    belt_status st = belt__cfg_read_value(rd, kn, belt__cfg_where(sub, sizeof(sub), where, "kind"),
                                          &station_fields[1], s);
    if (st == BELT_OK)
        st = check_kind_keys(rd, node, where, s);
    if (st == BELT_OK)
        st = belt__cfg_read_map(rd, node, m, where, station_fields, BELT_ARRAY_LEN(station_fields),
                                s);
    if (st != BELT_OK)
        return st;
    s->needs_set = has_key(node, "needs");
    if (fy_node_mapping_lookup_by_string(node, "route", (size_t)-1))
        s->route_mark =
            belt__cfg_node_mark(fy_node_mapping_lookup_by_string(node, "route", (size_t)-1), m);
    if (fy_node_mapping_lookup_by_string(node, "escalate", (size_t)-1))
        s->escalate_mark =
            belt__cfg_node_mark(fy_node_mapping_lookup_by_string(node, "escalate", (size_t)-1), m);
    if (!s->output.n_seg) {
        char why[200];
        st = belt__cfg_path_parse(s->name, &s->output, why, sizeof(why));
        if (st != BELT_OK)
            return st == BELT_ERR_NOMEM ? NOMEM(rd) : belt__cfg_error(rd, m, where, "%s", why);
    }
    if (s->kind == BELT_STATION_REDACT) {
        struct belt_pii_params pp = belt_pii_default_params();
        pp.entities = s->pii_entities;
        struct belt_error e;
        belt_error_clear(&e);
        if (belt_pii_new(&pp, &s->pii, &e) != BELT_OK)
            return belt__cfg_error(rd, m, where, "cannot build the PII detectors: %s", e.msg);
        if (s->n_inputs > 1 && has_key(node, "output"))
            return belt__cfg_error(rd, m, where,
                                   "'output' needs a single input (several inputs are "
                                   "redacted in place)");
    }
    if (s->kind == BELT_STATION_CLASSIFY || s->kind == BELT_STATION_EXTRACT ||
        s->kind == BELT_STATION_REDACT)
        if (s->n_inputs != 1 && s->kind != BELT_STATION_REDACT)
            return belt__cfg_error(rd, m, where, "a %s station reads one input field",
                                   belt__station_kind_names[s->kind]);
    if (s->kind == BELT_STATION_VALIDATE && s->n_inputs > 1)
        return belt__cfg_error(rd, m, where, "a validate station reads one input field");
    if (s->sensitive && s->kind == BELT_STATION_REVIEW)
        return belt__cfg_error(rd, m, where,
                               "a review station is always reviewed; "
                               "'sensitive' does not apply");
    return node_hash(rd, node, where, s->schema_json, s->hash);
}

static void free_station(struct belt_cfg_station *s)
{
    belt_free(s->name);
    belt_free(s->description);
    belt__expr_free(s->when);
    belt__cfg_strlist_free(&s->needs);
    belt_free(s->need_idx);
    for (size_t i = 0; i < s->n_inputs; i++)
        belt__cfg_path_free(&s->inputs[i]);
    belt_free(s->inputs);
    belt__cfg_path_free(&s->output);
    belt_free(s->route);
    belt_free(s->escalate);
    belt__template_free(s->prompt);
    belt__template_free(s->system);
    json_decref(s->schema_json);
    belt_jsonschema_free(s->schema);
    belt__rules_free(s->rules);
    belt__cfg_strlist_free(&s->labels);
    belt_free(s->regex);
    if (s->re)
        pcre2_code_free(s->re);
    if (s->rx_pool) {
        belt__rx_pool_deinit(s->rx_pool);
        belt_free(s->rx_pool);
    }
    belt__expr_free(s->condition);
    belt_pii_free(s->pii);
    belt_free(s->corpus);
    belt__template_free(s->query);
    belt__template_free(s->reason);
    belt_free(s->retry_station);
    belt__cfg_strlist_free(&s->allow);
    belt_free(s->allow_idx);
    belt__cfg_strlist_free(&s->trusted);
    json_decref(s->args_json);
    belt_jsonschema_free(s->args);
}

/* ---- lines ----------------------------------------------------------------------------------- */

struct line_tmp {
    struct belt_cfg_line *line; /* being filled */
    struct belt_cfg_reader *rd;
};

static belt_status read_station_list(struct belt_cfg_reader *rd, struct fy_node *node,
                                     const char *where, int tools, struct belt_cfg_station **out,
                                     size_t *n_out)
{
    struct belt_cfg_mark m = belt__cfg_node_mark(node, no_mark);
    if (!node || !fy_node_is_sequence(node) || fy_node_sequence_item_count(node) < 1)
        return belt__cfg_error(rd, m, where, "expected a non-empty list of stations");
    size_t n = (size_t)fy_node_sequence_item_count(node);
    if (n > 256)
        return belt__cfg_error(rd, m, where, "at most 256 stations");
    *out = belt_calloc(n, sizeof(**out));
    if (!*out)
        return NOMEM(rd);
    void *it = NULL;
    for (size_t i = 0; i < n; i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
        struct belt_cfg_station *s = &(*out)[i];
        station_defaults(s);
        s->is_tool = tools;
        s->index = i;
        *n_out = i + 1;
        belt_status st = parse_station(rd, fy_node_sequence_iterate(node, &it), sub, s);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status f_stations(struct belt_cfg_reader *rd, struct fy_node *node, const char *where,
                              const struct belt_cfg_field *f, void *target)
{
    struct belt_cfg_line *l = target;
    if (strcmp(f->key, "tools") == 0)
        return read_station_list(rd, node, where, 1, &l->tools, &l->n_tools);
    return read_station_list(rd, node, where, 0, &l->stations, &l->n_stations);
}

#define LOFF(f) offsetof(struct belt_cfg_line, f)

static const struct belt_cfg_field line_fields[] = {
    {"description", BELT_CFG_STR, LOFF(description), 0, 0, 0, NULL, NULL},
    {"stations", BELT_CFG_CUSTOM, 0, 1, 0, 0, NULL, f_stations},
    {"tools", BELT_CFG_CUSTOM, 0, 0, 0, 0, NULL, f_stations},
    {"on_fail", BELT_CFG_ENUM, LOFF(on_fail), 0, 0, 0, belt__on_fail_names, NULL},
    {"retries", BELT_CFG_INT, LOFF(retries), 0, 0, 10, NULL, NULL},
    {"concurrency", BELT_CFG_INT, LOFF(concurrency), 0, 1, 100000, NULL, NULL},
    {"cache", BELT_CFG_BOOL, LOFF(cache), 0, 0, 0, NULL, NULL},
    {"trace", BELT_CFG_BOOL, LOFF(trace), 0, 0, 0, NULL, NULL},
};

static belt_status parse_line(struct belt_cfg_reader *rd, struct fy_node_pair *pair,
                              struct belt_cfg_line *l)
{
    struct belt_cfg_mark km = belt__cfg_key_mark(pair);
    l->mark = km;
    l->name = belt__cfg_scalar_dup(fy_node_pair_key(pair));
    if (!l->name)
        return belt__cfg_error(rd, km, "lines", "line names must be strings");
    char where[256];
    belt__cfg_where(where, sizeof(where), "lines", l->name);
    int ok = *l->name && strlen(l->name) <= 64;
    for (const char *c = l->name; ok && *c; c++)
        ok = seg_char(*c) || *c == '.';
    if (!ok)
        return belt__cfg_error(rd, km, where,
                               "a line name has 1-64 letters, digits, '_', '-' or '.'");
    l->on_fail = BELT_ON_FAIL_REVIEW;
    l->retries = 1;
    l->concurrency = 32;
    l->cache = 1;
    l->trace = 1;
    struct fy_node *v = fy_node_pair_value(pair);
    if (!v || !fy_node_is_mapping(v))
        return belt__cfg_error(rd, km, where, "expected a line: { stations: [...] }");
    belt_status st =
        belt__cfg_read_map(rd, v, km, where, line_fields, BELT_ARRAY_LEN(line_fields), l);
    if (st != BELT_OK)
        return st;
    return node_hash(rd, v, where, NULL, l->hash);
}

static belt_status parse_entry(struct belt_cfg_reader *rd, struct fy_node_pair *pair, void *l)
{
    return parse_line(rd, pair, l);
}

belt_status belt__cfg_lines_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, struct belt_cfg_lines *out)
{
    return belt__cfg_parse_named(rd, node, mark, "lines", "line names to lines", sizeof(*out->v),
                                 (void **)&out->v, &out->n, parse_entry);
}

void belt__cfg_lines_free(struct belt_cfg_lines *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        struct belt_cfg_line *l = &ls->v[i];
        for (size_t j = 0; j < l->n_stations; j++)
            free_station(&l->stations[j]);
        for (size_t j = 0; j < l->n_tools; j++)
            free_station(&l->tools[j]);
        belt_free(l->stations);
        belt_free(l->tools);
        belt_free(l->order);
        belt_pii_free(l->outbound_pii);
        belt_free(l->name);
        belt_free(l->description);
    }
    belt_free(ls->v);
    memset(ls, 0, sizeof(*ls));
}

const struct belt_cfg_line *belt__cfg_lines_find(const struct belt_cfg_lines *ls, const char *name)
{
    for (size_t i = 0; name && i < ls->n; i++)
        if (strcmp(ls->v[i].name, name) == 0)
            return &ls->v[i];
    return NULL;
}

const struct belt_cfg_station *belt__cfg_line_station(const struct belt_cfg_line *line,
                                                      const char *name)
{
    for (size_t i = 0; name && i < line->n_stations; i++)
        if (strcmp(line->stations[i].name, name) == 0)
            return &line->stations[i];
    for (size_t i = 0; name && i < line->n_tools; i++)
        if (strcmp(line->tools[i].name, name) == 0)
            return &line->tools[i];
    return NULL;
}
