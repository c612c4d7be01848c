/*
 * jsonschema.c — JSON Schema compiler and validator; see jsonschema.h.
 *
 * Compilation turns each (sub)schema object into a `struct node` with the keywords decoded
 * (bounds, regexes, child nodes); `$ref` targets are compiled once (memoised by the JSON value
 * they point to, which also makes recursive schemas finite). Validation walks nodes and value
 * together, building the instance path on a fixed buffer, and reports problems through a
 * callback; sub-validations whose failures do not count on their own (anyOf, oneOf, not, if,
 * contains) run "quiet": they stop at the first failure and keep only its message.
 */
#include "belt_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/jsonschema.h"
#include "util/rx.h"

/* ==== Compiled form ======================================================================== */

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64
};

enum format { FMT_NONE = 0, FMT_DATE, FMT_DATE_TIME, FMT_TIME, FMT_EMAIL, FMT_UUID, FMT_IPV4 };

struct node;

struct prop {
    const char *name;    /* property name (borrowed from the schema copy) */
    struct node *schema; /* its schema */
};

struct pprop {
    pcre2_code *re;      /* compiled patternProperties key; owned */
    const char *src;     /* the pattern text (borrowed) */
    struct node *schema; /* schema for matching properties */
};

struct dep {
    const char *name;     /* property that triggers the dependency (borrowed) */
    const json_t *needed; /* array of property names required with it (borrowed) */
};

struct list {
    struct node **v; /* owned array of borrowed nodes */
    size_t n;        /* count */
};

struct node {
    char *path;              /* schema path "#/properties/a"; owned */
    int boolean;             /* -1: object schema; 0: `false`; 1: `true` */
    uint32_t types;          /* T_* mask from `type`; 0 = any */
    const json_t *enum_vals; /* `enum` array or NULL (borrowed) */
    const json_t *const_val; /* `const` value or NULL (borrowed) */
    struct prop *props;      /* `properties`, sorted by name; owned */
    size_t n_props;          /* count */
    const json_t *required;  /* `required` array or NULL (borrowed) */
    struct node *additional; /* `additionalProperties` or NULL */
    struct pprop *pprops;    /* `patternProperties`; owned */
    size_t n_pprops;         /* count */
    struct node *prop_names; /* `propertyNames` or NULL */
    struct dep *deps;        /* `dependentRequired`; owned */
    size_t n_deps;           /* count */
    int64_t min_props;       /* `minProperties`, -1 if absent */
    int64_t max_props;       /* `maxProperties`, -1 if absent */
    struct node *items;      /* `items` (or draft-07 `additionalItems`) or NULL */
    struct list prefix;      /* `prefixItems` (or draft-07 array `items`) */
    struct node *contains;   /* `contains` or NULL */
    int64_t min_contains;    /* `minContains` (default 1) */
    int64_t max_contains;    /* `maxContains`, -1 if absent */
    int64_t min_items;       /* `minItems`, -1 if absent */
    int64_t max_items;       /* `maxItems`, -1 if absent */
    int unique;              /* `uniqueItems` */
    const json_t *minimum;   /* `minimum` or NULL (borrowed) */
    const json_t *maximum;   /* `maximum` or NULL */
    const json_t *xminimum;  /* `exclusiveMinimum` (number) or NULL */
    const json_t *xmaximum;  /* `exclusiveMaximum` (number) or NULL */
    const json_t *multiple;  /* `multipleOf` or NULL */
    int64_t min_len;         /* `minLength` in code points, -1 if absent */
    int64_t max_len;         /* `maxLength` in code points, -1 if absent */
    pcre2_code *pattern;     /* `pattern`; owned */
    const char *pattern_src; /* its text (borrowed) */
    enum format format;      /* `format` when asserted */
    struct list all_of;      /* `allOf` */
    struct list any_of;      /* `anyOf` */
    struct list one_of;      /* `oneOf` */
    struct node *not_;       /* `not` or NULL */
    struct node *if_;        /* `if` or NULL */
    struct node *then_;      /* `then` or NULL */
    struct node *else_;      /* `else` or NULL */
    struct node *ref;        /* `$ref` target or NULL */
};

struct belt_jsonschema {
    json_t *doc;                          /* deep copy of the schema; everything borrows it */
    struct node *root;                    /* compiled root */
    struct node **nodes;                  /* every node, for freeing; owned */
    size_t n_nodes;                       /* count */
    size_t cap_nodes;                     /* allocated */
    struct belt_rx_pool pool;             /* match data for pattern / patternProperties */
    struct belt_jsonschema_params params; /* effective parameters */
};

/* ==== Compilation ========================================================================== */

struct memo {
    const json_t *json; /* schema value */
    struct node *node;  /* its compiled node */
};

struct cctx {
    struct belt_jsonschema *js; /* being built */
    struct memo *memo;          /* compiled $ref / $defs targets; owned */
    size_t n_memo;              /* count */
    size_t cap_memo;            /* allocated */
    int depth;                  /* current nesting */
    struct belt_error *err;     /* first error */
};

#define MAX_COMPILE_DEPTH 64

static belt_status nomem(struct cctx *c)
{
    return belt__error_set(c->err, BELT_ERR_NOMEM, 0, "out of memory compiling a JSON schema");
}

static belt_status bad(struct cctx *c, const struct node *n, const char *kw, const char *fmt, ...)
    BELT_PRINTF(4, 5);

/* Report an invalid schema at n->path/kw. */
static belt_status bad(struct cctx *c, const struct node *n, const char *kw, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return belt__error_set(c->err, BELT_ERR_INVALID, 0, "schema %s%s%s: %s", n->path, kw ? "/" : "",
                           kw ? kw : "", why);
}

/* Append a JSON pointer segment (escaping ~ and /) to b. */
static belt_status pointer_append(struct belt_buf *b, const char *seg)
{
    belt_status st = belt_buf_putc(b, '/');
    for (const char *p = seg; st == BELT_OK && *p; p++) {
        if (*p == '~')
            st = belt_buf_puts(b, "~0");
        else if (*p == '/')
            st = belt_buf_puts(b, "~1");
        else
            st = belt_buf_putc(b, *p);
    }
    return st;
}

/* New node with path base[/seg1[/seg2]]; registered in js->nodes. NULL when out of memory. */
static struct node *node_new(struct cctx *c, const char *base, const char *seg1, const char *seg2)
{
    struct belt_jsonschema *js = c->js;
    if (js->n_nodes == js->cap_nodes) {
        size_t cap = js->cap_nodes ? js->cap_nodes * 2 : 16;
        struct node **v = belt_realloc(js->nodes, cap * sizeof(*v));
        if (!v)
            return NULL;
        js->nodes = v;
        js->cap_nodes = cap;
    }
    struct node *n = belt_calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_status st = belt_buf_puts(&b, base);
    if (st == BELT_OK && seg1)
        st = pointer_append(&b, seg1);
    if (st == BELT_OK && seg2)
        st = pointer_append(&b, seg2);
    if (st != BELT_OK) {
        belt_buf_deinit(&b);
        belt_free(n);
        return NULL;
    }
    n->path = belt_buf_detach(&b, NULL);
    n->boolean = -1;
    n->min_props = n->max_props = n->min_items = n->max_items = -1;
    n->min_len = n->max_len = n->max_contains = -1;
    n->min_contains = 1;
    js->nodes[js->n_nodes++] = n;
    return n;
}

static belt_status compile_into(struct cctx *c, struct node *n, const json_t *j);

/* Compile subschema j at path base/seg1[/seg2] into a new node. */
static belt_status sub(struct cctx *c, const struct node *parent, const json_t *j, const char *seg1,
                       const char *seg2, struct node **out)
{
    struct node *n = node_new(c, parent->path, seg1, seg2);
    if (!n)
        return nomem(c);
    *out = n;
    return compile_into(c, n, j);
}

static struct node *memo_find(const struct cctx *c, const json_t *j)
{
    for (size_t i = 0; i < c->n_memo; i++)
        if (c->memo[i].json == j)
            return c->memo[i].node;
    return NULL;
}

/* Compile j once (memoised): $ref targets and $defs entries. `path` names it. */
static belt_status compile_memo(struct cctx *c, const json_t *j, const char *path,
                                struct node **out)
{
    struct node *n = memo_find(c, j);
    if (n) {
        *out = n;
        return BELT_OK;
    }
    if (c->n_memo == c->cap_memo) {
        size_t cap = c->cap_memo ? c->cap_memo * 2 : 8;
        struct memo *m = belt_realloc(c->memo, cap * sizeof(*m));
        if (!m)
            return nomem(c);
        c->memo = m;
        c->cap_memo = cap;
    }
    n = node_new(c, path, NULL, NULL);
    if (!n)
        return nomem(c);
    c->memo[c->n_memo].json = j;
    c->memo[c->n_memo].node = n;
    c->n_memo++;
    *out = n;
    return compile_into(c, n, j);
}

/* ---- keyword handlers ---------------------------------------------------------------------- */

typedef belt_status kw_fn(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                          const json_t *schema);

static belt_status get_count(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                             int64_t *out)
{
    double d = json_is_number(v) ? json_number_value(v) : -1;
    if (!json_is_number(v) || d < 0 || d != floor(d) || d > 9e15)
        return bad(c, n, kw, "must be a non-negative integer");
    *out = (int64_t)d;
    return BELT_OK;
}

static belt_status kw_count(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                            const json_t *schema)
{
    (void)schema;
    static const struct {
        const char *name;
        size_t off;
    } map[] = {{"minProperties", offsetof(struct node, min_props)},
               {"maxProperties", offsetof(struct node, max_props)},
               {"minItems", offsetof(struct node, min_items)},
               {"maxItems", offsetof(struct node, max_items)},
               {"minLength", offsetof(struct node, min_len)},
               {"maxLength", offsetof(struct node, max_len)},
               {"minContains", offsetof(struct node, min_contains)},
               {"maxContains", offsetof(struct node, max_contains)}};
    for (size_t i = 0; i < BELT_ARRAY_LEN(map); i++)
        if (strcmp(map[i].name, kw) == 0)
            return get_count(c, n, kw, v, (int64_t *)(void *)((char *)n + map[i].off));
    return BELT_ERR_INTERNAL;
}

static belt_status kw_type_one(struct cctx *c, struct node *n, const json_t *t)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    const char *s = json_string_value(t);
    for (size_t i = 0; s && i < BELT_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            n->types |= 1u << i;
            return BELT_OK;
        }
    }
    return bad(c, n, "type",
               "unknown type %s%s%s (expected null, boolean, object, array, number, string or "
               "integer)",
               s ? "\"" : "", s ? s : "(not a string)", s ? "\"" : "");
}

static belt_status kw_type(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                           const json_t *schema)
{
    (void)kw;
    (void)schema;
    if (!json_is_array(v))
        return kw_type_one(c, n, v);
    if (json_array_size(v) == 0)
        return bad(c, n, "type", "must not be an empty array");
    size_t i;
    const json_t *t;
    json_array_foreach(v, i, t)
    {
        belt_status st = kw_type_one(c, n, t);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status kw_enum(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                           const json_t *schema)
{
    (void)schema;
    if (strcmp(kw, "const") == 0) {
        n->const_val = v;
        return BELT_OK;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(c, n, kw, "must be a non-empty array");
    n->enum_vals = v;
    return BELT_OK;
}

static belt_status kw_number(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                             const json_t *schema)
{
    (void)schema;
    int is_x = strncmp(kw, "exclusive", 9) == 0;
    if (is_x && json_is_boolean(v)) { /* draft-04: a flag on minimum/maximum */
        if (json_is_true(v)) {
            const json_t *bound =
                json_object_get(schema, kw[9] == 'M' && kw[10] == 'i' ? "minimum" : "maximum");
            if (!json_is_number(bound))
                return bad(c, n, kw, "true needs a numeric %s beside it",
                           kw[10] == 'i' ? "minimum" : "maximum");
            if (kw[10] == 'i')
                n->xminimum = bound;
            else
                n->xmaximum = bound;
        }
        return BELT_OK;
    }
    if (!json_is_number(v))
        return bad(c, n, kw, "must be a number");
    if (strcmp(kw, "multipleOf") == 0) {
        if (json_number_value(v) <= 0)
            return bad(c, n, kw, "must be greater than 0");
        n->multiple = v;
    } else if (strcmp(kw, "minimum") == 0) {
        n->minimum = v;
    } else if (strcmp(kw, "maximum") == 0) {
        n->maximum = v;
    } else if (strcmp(kw, "exclusiveMinimum") == 0) {
        n->xminimum = v;
    } else {
        n->xmaximum = v;
    }
    return BELT_OK;
}

/* Minimum/maximum with draft-04 boolean exclusives are handled by kw_number; a plain minimum
 * that a boolean exclusiveMinimum turned exclusive must not also count as inclusive. */
static void fix_draft4_bounds(struct node *n)
{
    if (n->minimum && n->xminimum == n->minimum)
        n->minimum = NULL;
    if (n->maximum && n->xmaximum == n->maximum)
        n->maximum = NULL;
}

static belt_status compile_re(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                              pcre2_code **out)
{
    if (!json_is_string(v))
        return bad(c, n, kw, "must be a string (a regular expression)");
    char msg[200];
    belt_status st =
        belt__rx_compile(json_string_value(v), json_string_length(v), 0, 0, out, msg, sizeof(msg));
    if (st == BELT_ERR_NOMEM)
        return nomem(c);
    if (st != BELT_OK)
        return bad(c, n, kw, "invalid regular expression %s", msg);
    belt__rx_pool_size_for(&c->js->pool, *out);
    return BELT_OK;
}

static belt_status kw_pattern(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                              const json_t *schema)
{
    (void)schema;
    belt_status st = compile_re(c, n, kw, v, &n->pattern);
    if (st == BELT_OK)
        n->pattern_src = json_string_value(v);
    return st;
}

static belt_status kw_format(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                             const json_t *schema)
{
    (void)schema;
    static const struct {
        const char *name;
        enum format f;
    } fmts[] = {{"date", FMT_DATE},   {"date-time", FMT_DATE_TIME}, {"time", FMT_TIME},
                {"email", FMT_EMAIL}, {"uuid", FMT_UUID},           {"ipv4", FMT_IPV4}};
    if (!json_is_string(v))
        return bad(c, n, kw, "must be a string");
    if (!c->js->params.format_assert)
        return BELT_OK;
    for (size_t i = 0; i < BELT_ARRAY_LEN(fmts); i++)
        if (strcmp(json_string_value(v), fmts[i].name) == 0)
            n->format = fmts[i].f;
    return BELT_OK; /* other formats are annotations, as the specification allows */
}

static belt_status kw_bool(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                           const json_t *schema)
{
    (void)schema;
    if (!json_is_boolean(v))
        return bad(c, n, kw, "must be true or false");
    n->unique = json_is_true(v);
    return BELT_OK;
}

static belt_status kw_required(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                               const json_t *schema)
{
    (void)schema;
    size_t i;
    const json_t *e;
    if (!json_is_array(v))
        return bad(c, n, kw, "must be an array of property names");
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return bad(c, n, kw, "item %zu must be a string", i);
    }
    n->required = v;
    return BELT_OK;
}

static int prop_cmp(const void *a, const void *b)
{
    return strcmp(((const struct prop *)a)->name, ((const struct prop *)b)->name);
}

static belt_status kw_properties(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                                 const json_t *schema)
{
    (void)schema;
    if (!json_is_object(v))
        return bad(c, n, kw, "must be an object of schemas");
    size_t cnt = json_object_size(v);
    n->props = belt_calloc(cnt ? cnt : 1, sizeof(*n->props));
    if (!n->props)
        return nomem(c);
    const char *key;
    const json_t *s;
    json_object_foreach((json_t *)v, key, s)
    {
        struct prop *p = &n->props[n->n_props++];
        p->name = key;
        belt_status st = sub(c, n, s, kw, key, &p->schema);
        if (st != BELT_OK)
            return st;
    }
    qsort(n->props, n->n_props, sizeof(*n->props), prop_cmp);
    return BELT_OK;
}

static belt_status kw_pattern_properties(struct cctx *c, struct node *n, const char *kw,
                                         const json_t *v, const json_t *schema)
{
    (void)schema;
    if (!json_is_object(v))
        return bad(c, n, kw, "must be an object of regular expressions to schemas");
    size_t cnt = json_object_size(v);
    n->pprops = belt_calloc(cnt ? cnt : 1, sizeof(*n->pprops));
    if (!n->pprops)
        return nomem(c);
    const char *key;
    json_t *s;
    json_object_foreach((json_t *)v, key, s)
    {
        struct pprop *p = &n->pprops[n->n_pprops++];
        p->src = key;
        json_t *keyj = json_string(key);
        if (!keyj)
            return nomem(c);
        belt_status st = compile_re(c, n, kw, keyj, &p->re);
        json_decref(keyj);
        if (st == BELT_OK)
            st = sub(c, n, s, kw, key, &p->schema);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status kw_dependent_required(struct cctx *c, struct node *n, const char *kw,
                                         const json_t *v, const json_t *schema)
{
    (void)schema;
    if (!json_is_object(v))
        return bad(c, n, kw, "must be an object of property-name arrays");
    size_t cnt = json_object_size(v);
    n->deps = belt_calloc(cnt ? cnt : 1, sizeof(*n->deps));
    if (!n->deps)
        return nomem(c);
    const char *key;
    const json_t *arr;
    json_object_foreach((json_t *)v, key, arr)
    {
        size_t i;
        const json_t *e;
        if (!json_is_array(arr))
            return bad(c, n, kw, "\"%s\" must be an array of property names", key);
        json_array_foreach(arr, i, e)
        {
            if (!json_is_string(e))
                return bad(c, n, kw, "\"%s\" item %zu must be a string", key, i);
        }
        n->deps[n->n_deps].name = key;
        n->deps[n->n_deps].needed = arr;
        n->n_deps++;
    }
    return BELT_OK;
}

static belt_status compile_list(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                                struct list *out)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(c, n, kw, "must be a non-empty array of schemas");
    out->v = belt_calloc(json_array_size(v), sizeof(*out->v));
    if (!out->v)
        return nomem(c);
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s)
    {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        belt_status st = sub(c, n, s, kw, idx, &out->v[i]);
        out->n = i + 1;
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status kw_list(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                           const json_t *schema)
{
    (void)schema;
    if (strcmp(kw, "allOf") == 0)
        return compile_list(c, n, kw, v, &n->all_of);
    if (strcmp(kw, "anyOf") == 0)
        return compile_list(c, n, kw, v, &n->any_of);
    if (strcmp(kw, "oneOf") == 0)
        return compile_list(c, n, kw, v, &n->one_of);
    /* prefixItems, or draft-07 `items` as an array (tuple validation) */
    return compile_list(c, n, kw, v, &n->prefix);
}

static belt_status kw_subschema(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                                const json_t *schema)
{
    static const struct {
        const char *name;
        size_t off;
    } map[] = {{"additionalProperties", offsetof(struct node, additional)},
               {"propertyNames", offsetof(struct node, prop_names)},
               {"items", offsetof(struct node, items)},
               {"additionalItems", offsetof(struct node, items)},
               {"contains", offsetof(struct node, contains)},
               {"not", offsetof(struct node, not_)},
               {"if", offsetof(struct node, if_)},
               {"then", offsetof(struct node, then_)},
               {"else", offsetof(struct node, else_)}};
    if (strcmp(kw, "items") == 0 && json_is_array(v))
        return kw_list(c, n, kw, v, schema);
    /* draft-07: additionalItems only means something beside an array `items` */
    if (strcmp(kw, "additionalItems") == 0 && !json_is_array(json_object_get(schema, "items")))
        return BELT_OK;
    for (size_t i = 0; i < BELT_ARRAY_LEN(map); i++)
        if (strcmp(map[i].name, kw) == 0)
            return sub(c, n, v, kw, NULL, (struct node **)(void *)((char *)n + map[i].off));
    return BELT_ERR_INTERNAL;
}

static belt_status kw_defs(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                           const json_t *schema)
{
    (void)schema;
    if (!json_is_object(v))
        return bad(c, n, kw, "must be an object of schemas");
    const char *key;
    const json_t *s;
    json_object_foreach((json_t *)v, key, s)
    {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_status st = belt_buf_puts(&b, n->path);
        if (st == BELT_OK)
            st = pointer_append(&b, kw);
        if (st == BELT_OK)
            st = pointer_append(&b, key);
        struct node *d = NULL;
        if (st == BELT_OK)
            st = compile_memo(c, s, belt_buf_cstr(&b), &d);
        else
            st = nomem(c);
        belt_buf_deinit(&b);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

/* Decode one JSON pointer segment s[0..n) (~0, ~1, %XX) into out[0..cap). */
static int pointer_segment(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            ch = s[++i] == '0' ? '~' : '/';
        } else if (ch == '%' && i + 2 < n) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end = NULL;
            long x = strtol(hex, &end, 16);
            if (end != hex + 2)
                return -1;
            ch = (char)x;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

/* Resolve "#/a/b/0" in doc; NULL if it names nothing. */
static const json_t *resolve_pointer(const json_t *doc, const char *ref)
{
    const json_t *cur = doc;
    const char *p = ref + 1; /* after '#' */
    while (*p == '/') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        char key[256];
        if (pointer_segment(seg, n, key, sizeof(key)) != 0)
            return NULL;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, key);
        } else if (json_is_array(cur)) {
            char *e = NULL;
            unsigned long idx = strtoul(key, &e, 10);
            cur = (*key && *e == '\0') ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        if (!cur)
            return NULL;
        p = seg + n;
    }
    return *p == '\0' ? cur : NULL;
}

static belt_status kw_ref(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                          const json_t *schema)
{
    (void)schema;
    const char *ref = json_string_value(v);
    if (!ref)
        return bad(c, n, kw, "must be a string");
    if (ref[0] != '#' || (ref[1] != '\0' && ref[1] != '/'))
        return bad(c, n, kw,
                   "\"%s\": only references inside this schema are supported (\"#\", "
                   "\"#/$defs/NAME\", \"#/definitions/NAME\")",
                   ref);
    const json_t *target = resolve_pointer(c->js->doc, ref);
    if (!target)
        return bad(c, n, kw, "\"%s\" does not point at anything in this schema", ref);
    return compile_memo(c, target, ref, &n->ref);
}

static belt_status kw_refused(struct cctx *c, struct node *n, const char *kw, const json_t *v,
                              const json_t *schema)
{
    (void)v;
    (void)schema;
    return bad(c, n, kw, "keyword not supported by this validator");
}

static const struct {
    const char *name;
    kw_fn *fn;
} keywords[] = {
    {"type", kw_type},
    {"enum", kw_enum},
    {"const", kw_enum},
    {"properties", kw_properties},
    {"required", kw_required},
    {"additionalProperties", kw_subschema},
    {"patternProperties", kw_pattern_properties},
    {"propertyNames", kw_subschema},
    {"dependentRequired", kw_dependent_required},
    {"minProperties", kw_count},
    {"maxProperties", kw_count},
    {"items", kw_subschema},
    {"additionalItems", kw_subschema},
    {"prefixItems", kw_list},
    {"contains", kw_subschema},
    {"minContains", kw_count},
    {"maxContains", kw_count},
    {"minItems", kw_count},
    {"maxItems", kw_count},
    {"uniqueItems", kw_bool},
    {"minimum", kw_number},
    {"maximum", kw_number},
    {"exclusiveMinimum", kw_number},
    {"exclusiveMaximum", kw_number},
    {"multipleOf", kw_number},
    {"minLength", kw_count},
    {"maxLength", kw_count},
    {"pattern", kw_pattern},
    {"format", kw_format},
    {"allOf", kw_list},
    {"anyOf", kw_list},
    {"oneOf", kw_list},
    {"not", kw_subschema},
    {"if", kw_subschema},
    {"then", kw_subschema},
    {"else", kw_subschema},
    {"$ref", kw_ref},
    {"$defs", kw_defs},
    {"definitions", kw_defs},
    {"unevaluatedProperties", kw_refused},
    {"unevaluatedItems", kw_refused},
    {"dependentSchemas", kw_refused},
    {"dependencies", kw_refused},
    {"$dynamicRef", kw_refused},
    {"$recursiveRef", kw_refused},
};

static belt_status compile_into(struct cctx *c, struct node *n, const json_t *j)
{
    if (json_is_boolean(j)) {
        n->boolean = json_is_true(j);
        return BELT_OK;
    }
    if (!json_is_object(j))
        return bad(c, n, NULL, "a schema must be an object or a boolean");
    if (++c->depth > MAX_COMPILE_DEPTH)
        return bad(c, n, NULL, "nested deeper than %d levels", MAX_COMPILE_DEPTH);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        for (size_t i = 0; i < BELT_ARRAY_LEN(keywords); i++) {
            if (strcmp(keywords[i].name, key) != 0)
                continue;
            belt_status st = keywords[i].fn(c, n, key, v, j);
            if (st != BELT_OK)
                return st;
            break;
        }
    }
    fix_draft4_bounds(n);
    if ((n->then_ || n->else_) && !n->if_)
        n->then_ = n->else_ = NULL; /* then/else without if are ignored (specification) */
    c->depth--;
    return BELT_OK;
}

/* ==== Public: compile / free =============================================================== */

struct belt_jsonschema_params belt_jsonschema_default_params(void)
{
    struct belt_jsonschema_params p = {1, 128, 5};
    return p;
}

static void node_free(struct node *n)
{
    belt_free(n->path);
    belt_free(n->props);
    for (size_t i = 0; i < n->n_pprops; i++)
        pcre2_code_free(n->pprops[i].re);
    belt_free(n->pprops);
    belt_free(n->deps);
    belt_free(n->prefix.v);
    belt_free(n->all_of.v);
    belt_free(n->any_of.v);
    belt_free(n->one_of.v);
    pcre2_code_free(n->pattern);
    belt_free(n);
}

void belt_jsonschema_free(struct belt_jsonschema *js)
{
    if (!js)
        return;
    belt__rx_pool_deinit(&js->pool);
    for (size_t i = 0; i < js->n_nodes; i++)
        node_free(js->nodes[i]);
    belt_free(js->nodes);
    json_decref(js->doc);
    belt_free(js);
}

belt_status belt_jsonschema_compile(const json_t *schema, const struct belt_jsonschema_params *p,
                                    struct belt_jsonschema **out, struct belt_error *err)
{
    *out = NULL;
    struct cctx c = {0};
    c.err = err;
    c.js = belt_calloc(1, sizeof(*c.js));
    if (!c.js)
        return nomem(&c);
    c.js->params = p ? *p : belt_jsonschema_default_params();
    if (c.js->params.max_depth <= 0)
        c.js->params.max_depth = 128;
    belt__rx_pool_init(&c.js->pool);
    belt_status st = BELT_OK;
    c.js->doc = schema ? json_deep_copy(schema) : NULL;
    if (!schema) {
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "schema: missing");
        goto fail;
    }
    if (!c.js->doc) {
        st = nomem(&c);
        goto fail;
    }
    st = compile_memo(&c, c.js->doc, "#", &c.js->root);
    if (st != BELT_OK)
        goto fail;
    belt_free(c.memo);
    *out = c.js;
    return BELT_OK;
fail:
    belt_free(c.memo);
    belt_jsonschema_free(c.js);
    return st;
}

belt_status belt_jsonschema_compile_text(const char *text, size_t len, const char *name,
                                         const struct belt_jsonschema_params *p,
                                         struct belt_jsonschema **out, struct belt_error *err)
{
    *out = NULL;
    json_t *doc = NULL;
    belt_status st = belt_json_parse(text, len, name, 0, &doc, err);
    if (st != BELT_OK)
        return st;
    st = belt_jsonschema_compile(doc, p, out, err);
    json_decref(doc);
    if (st != BELT_OK && st != BELT_ERR_NOMEM)
        belt__error_prefix(err, "%s: ", name);
    return st;
}

belt_status belt_jsonschema_compile_file(const char *path, const struct belt_jsonschema_params *p,
                                         struct belt_jsonschema **out, struct belt_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    belt_status st = belt_file_read_all(path, (size_t)64 << 20, &text, &len, err);
    if (st != BELT_OK)
        return st;
    st = belt_jsonschema_compile_text(text, len, path, p, out, err);
    belt_free(text);
    return st;
}

/* ==== Validation =========================================================================== */

#define IPATH_CAP 512

struct vctx {
    const struct belt_jsonschema *js; /* schema */
    char *ipath;                      /* instance path buffer (shared with quiet children) */
    size_t ilen;                      /* bytes used in ipath */
    int depth;                        /* evaluation nesting */
    int quiet;                        /* 1: stop at the first failure, keep its message only */
    size_t base;                      /* quiet: ipath length where this sub-validation began */
    char *first;                      /* quiet: first failure's message (may be NULL) */
    size_t first_cap;                 /* its capacity */
    size_t n_issues;                  /* problems found (not quiet) */
    size_t max_report;                /* fn receives the first max_report (0: all) */
    size_t max_issues;                /* stop after this many (0: no limit) */
    belt_jsonschema_issue_fn *fn;     /* receives problems (not quiet) */
    void *ud;                         /* for fn */
    int stop;                         /* 1: stop validating (limit, fn asked, or fatal) */
    belt_status fatal;                /* BELT_ERR_NOMEM when match data could not be made */
    pcre2_match_data **md;            /* lazily acquired match data (shared) */
};

static int v_node(struct vctx *c, const struct node *n, const json_t *v);

static size_t ipath_push(struct vctx *c, const char *seg)
{
    size_t mark = c->ilen;
    char *p = c->ipath;
    size_t i = c->ilen;
    if (i + 1 < IPATH_CAP)
        p[i++] = '/';
    for (const char *s = seg; *s && i + 2 < IPATH_CAP; s++) {
        if (*s == '~' || *s == '/') {
            p[i++] = '~';
            p[i++] = *s == '~' ? '0' : '1';
        } else {
            p[i++] = *s;
        }
    }
    p[i] = '\0';
    c->ilen = i;
    return mark;
}

static size_t ipath_push_index(struct vctx *c, size_t idx)
{
    char s[24];
    snprintf(s, sizeof(s), "%zu", idx);
    return ipath_push(c, s);
}

static void ipath_pop(struct vctx *c, size_t mark)
{
    c->ilen = mark;
    c->ipath[mark] = '\0';
}

/* Short description of a value for messages: "got" part. */
static void preview(const json_t *v, char *out, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        size_t n = json_string_length(v);
        size_t show = n > 40 ? 40 : n;
        const char *s = json_string_value(v);
        while (show > 0 && show < n && ((unsigned char)s[show] & 0xC0) == 0x80)
            show--; /* do not cut a UTF-8 sequence */
        snprintf(out, cap, "\"%.*s%s\"", (int)show, s, show < n ? "..." : "");
        break;
    }
    case JSON_INTEGER:
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, cap, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(out, cap, "true");
        break;
    case JSON_FALSE:
        snprintf(out, cap, "false");
        break;
    case JSON_NULL:
        snprintf(out, cap, "null");
        break;
    case JSON_ARRAY:
        snprintf(out, cap, "an array of %zu item%s", json_array_size(v),
                 json_array_size(v) == 1 ? "" : "s");
        break;
    default:
        snprintf(out, cap, "an object");
        break;
    }
}

/* Format a number as it was written (integers without a fraction). */
static void num_str(const json_t *v, char *out, size_t cap)
{
    if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        return;
    }
    snprintf(out, cap, "%.15g", json_number_value(v));
    double back = strtod(out, NULL);
    if (back != json_number_value(v))
        snprintf(out, cap, "%.17g", json_number_value(v));
}

static void issue(struct vctx *c, const struct node *n, const char *kw, const char *fmt, ...)
    BELT_PRINTF(4, 5);

/* Record one problem at the current instance path for keyword kw of node n. */
static void issue(struct vctx *c, const struct node *n, const char *kw, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->quiet) {
        if (c->first && c->first[0] == '\0') {
            if (c->ilen > c->base)
                snprintf(c->first, c->first_cap, "%s: %s", c->ipath + c->base, msg);
            else
                snprintf(c->first, c->first_cap, "%s", msg);
        }
        c->stop = 1;
        return;
    }
    c->n_issues++;
    char spath[400];
    snprintf(spath, sizeof(spath), "%s%s%s", n->path, kw ? "/" : "", kw ? kw : "");
    if (c->fn && (!c->max_report || c->n_issues <= c->max_report) &&
        c->fn(c->ud, c->ipath, spath, msg) != 0)
        c->stop = 1;
    if (c->max_issues && c->n_issues >= c->max_issues)
        c->stop = 1;
}

/* Numeric equality across integer/real; deep equality otherwise (JSON Schema semantics). */
static int json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        const json_t *va;
        json_object_foreach((json_t *)a, k, va)
        {
            const json_t *vb = json_object_get(b, k);
            if (!vb || !json_eq(va, vb))
                return 0;
        }
        return 1;
    }
    return json_equal(a, b);
}

/* -1, 0, 1 comparing two numbers exactly when both are integers. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
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
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int type_ok(uint32_t types, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return (types & T_OBJECT) != 0;
    case JSON_ARRAY:
        return (types & T_ARRAY) != 0;
    case JSON_STRING:
        return (types & T_STRING) != 0;
    case JSON_INTEGER:
        return (types & (T_INTEGER | T_NUMBER)) != 0;
    case JSON_REAL: {
        double d = json_real_value(v);
        return (types & T_NUMBER) || ((types & T_INTEGER) && d == floor(d) && isfinite(d));
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return (types & T_BOOLEAN) != 0;
    default:
        return (types & T_NULL) != 0;
    }
}

static int check_type(struct vctx *c, const struct node *n, const json_t *v)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    if (!n->types || type_ok(n->types, v))
        return 1;
    char want[120] = "", got[80];
    size_t o = 0;
    int n_types = 0;
    for (size_t i = 0; i < BELT_ARRAY_LEN(names); i++) {
        if (!(n->types & (1u << i)))
            continue;
        o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s", n_types ? " or " : "", names[i]);
        n_types++;
        if (o >= sizeof(want))
            break;
    }
    preview(v, got, sizeof(got));
    issue(c, n, "type", "must be %s%s, got %s %s", n_types > 1 ? "" : "of type ", want,
          type_name(v), got);
    return 0;
}

static int check_enum_const(struct vctx *c, const struct node *n, const json_t *v)
{
    int ok = 1;
    char got[80];
    if (n->const_val && !json_eq(n->const_val, v)) {
        char want[80];
        preview(n->const_val, want, sizeof(want));
        preview(v, got, sizeof(got));
        issue(c, n, "const", "must be exactly %s, got %s", want, got);
        ok = 0;
    }
    if (n->enum_vals && (ok || !c->quiet)) {
        size_t i;
        const json_t *e;
        json_array_foreach(n->enum_vals, i, e)
        {
            if (json_eq(e, v))
                return ok;
        }
        char list[240] = "";
        size_t o = 0;
        json_array_foreach(n->enum_vals, i, e)
        {
            char one[80];
            preview(e, one, sizeof(one));
            int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", one);
            if (w < 0 || (size_t)w >= sizeof(list) - o) {
                snprintf(list + (o < sizeof(list) - 5 ? o : sizeof(list) - 5),
                         sizeof(list) - (o < sizeof(list) - 5 ? o : sizeof(list) - 5), ", ...");
                break;
            }
            o += (size_t)w;
        }
        preview(v, got, sizeof(got));
        issue(c, n, "enum", "must be one of %s; got %s", list, got);
        ok = 0;
    }
    return ok;
}

static int check_number(struct vctx *c, const struct node *n, const json_t *v)
{
    int ok = 1;
    char b[40], g[40];
    num_str(v, g, sizeof(g));
    if (n->minimum && num_cmp(v, n->minimum) < 0) {
        num_str(n->minimum, b, sizeof(b));
        issue(c, n, "minimum", "must be >= %s, got %s", b, g);
        ok = 0;
    }
    if (n->maximum && num_cmp(v, n->maximum) > 0 && !c->stop) {
        num_str(n->maximum, b, sizeof(b));
        issue(c, n, "maximum", "must be <= %s, got %s", b, g);
        ok = 0;
    }
    if (n->xminimum && num_cmp(v, n->xminimum) <= 0 && !c->stop) {
        num_str(n->xminimum, b, sizeof(b));
        issue(c, n, "exclusiveMinimum", "must be > %s, got %s", b, g);
        ok = 0;
    }
    if (n->xmaximum && num_cmp(v, n->xmaximum) >= 0 && !c->stop) {
        num_str(n->xmaximum, b, sizeof(b));
        issue(c, n, "exclusiveMaximum", "must be < %s, got %s", b, g);
        ok = 0;
    }
    if (n->multiple && !c->stop) {
        int multiple;
        if (json_is_integer(v) && json_is_integer(n->multiple)) {
            multiple = json_integer_value(v) % json_integer_value(n->multiple) == 0;
        } else {
            double q = json_number_value(v) / json_number_value(n->multiple);
            multiple = isfinite(q) && fabs(q - nearbyint(q)) <= 1e-9 * BELT_MAX(1.0, fabs(q));
        }
        if (!multiple) {
            num_str(n->multiple, b, sizeof(b));
            issue(c, n, "multipleOf", "must be a multiple of %s, got %s", b, g);
            ok = 0;
        }
    }
    return ok;
}

/* ---- formats ------------------------------------------------------------------------------- */

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int is_date(const char *s, size_t n)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2))
        return 0;
    int y = num2(s) * 100 + num2(s + 2), m = num2(s + 5), d = num2(s + 8);
    if (m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* RFC 3339 full-time: hh:mm:ss[.frac](Z|+hh:mm|-hh:mm). */
static int is_time(const char *s, size_t n)
{
    if (n < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 2) || !digits(s + 3, 2) ||
        !digits(s + 6, 2))
        return 0;
    if (num2(s) > 23 || num2(s + 3) > 59 || num2(s + 6) > 60)
        return 0;
    size_t i = 8;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
        return 1;
    if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':' || !digits(s + i + 1, 2) ||
        !digits(s + i + 4, 2))
        return 0;
    return num2(s + i + 1) <= 23 && num2(s + i + 4) <= 59;
}

static int is_email_local_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch >= 0x80 || strchr("!#$%&'*+/=?^_`{|}~-", ch) != NULL;
}

static int is_email(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || (size_t)(at - s) > 64 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return 0;
    for (const char *p = s; p < at; p++) {
        if (*p == '.') {
            if (p == s || p + 1 == at || p[1] == '.')
                return 0;
        } else if (!is_email_local_char((unsigned char)*p)) {
            return 0;
        }
    }
    const char *d = at + 1, *end = s + n;
    size_t dn = (size_t)(end - d), label = 0, dots = 0;
    if (dn == 0 || dn > 253)
        return 0;
    for (const char *p = d; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '.') {
            if (label == 0 || p[-1] == '-')
                return 0;
            label = 0;
            dots++;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch >= 0x80 || (ch == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return dots > 0 && label > 0 && end[-1] != '-';
}

static int is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        char ch = s[i];
        int hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
        if (dash ? ch != '-' : !hex)
            return 0;
    }
    return 1;
}

static int is_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        int val = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            val = val * 10 + (s[i++] - '0');
        if (i == start || val > 255 || (s[start] == '0' && i - start > 1))
            return 0;
        if (part < 3 && (i >= n || s[i++] != '.'))
            return 0;
    }
    return i == n;
}

static int check_format(struct vctx *c, const struct node *n, const char *s, size_t len,
                        const json_t *v)
{
    static const char *const what[] = {"",
                                       "a date (YYYY-MM-DD)",
                                       "a date-time (RFC 3339, e.g. 2024-05-01T12:00:00Z)",
                                       "a time (hh:mm:ss with a zone, e.g. 12:00:00Z)",
                                       "an email address",
                                       "a UUID",
                                       "an IPv4 address"};
    int ok = 1;
    switch (n->format) {
    case FMT_DATE:
        ok = is_date(s, len);
        break;
    case FMT_DATE_TIME:
        ok = len > 11 && (s[10] == 'T' || s[10] == 't') && is_date(s, 10) &&
             is_time(s + 11, len - 11);
        break;
    case FMT_TIME:
        ok = is_time(s, len);
        break;
    case FMT_EMAIL:
        ok = is_email(s, len);
        break;
    case FMT_UUID:
        ok = is_uuid(s, len);
        break;
    case FMT_IPV4:
        ok = is_ipv4(s, len);
        break;
    default:
        break;
    }
    if (!ok) {
        char got[80];
        preview(v, got, sizeof(got));
        issue(c, n, "format", "must be %s, got %s", what[n->format], got);
    }
    return ok;
}

static size_t utf8_count(const char *s, size_t n)
{
    size_t cp = 0;
    for (size_t i = 0; i < n; i++)
        cp += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cp;
}

/* Unanchored regex search; -1 when match data cannot be allocated. */
static int re_search(struct vctx *c, const pcre2_code *re, const char *s, size_t n)
{
    if (!*c->md) {
        *c->md = belt__rx_pool_acquire((struct belt_rx_pool *)&c->js->pool);
        if (!*c->md) {
            c->fatal = BELT_ERR_NOMEM;
            c->stop = 1;
            return -1;
        }
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, *c->md, NULL);
    return rc >= 0 || rc == PCRE2_ERROR_NOMATCH ? rc >= 0 : 0;
}

static int check_string(struct vctx *c, const struct node *n, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    int ok = 1;
    if (n->min_len >= 0 || n->max_len >= 0) {
        size_t cp = utf8_count(s, len);
        if (n->min_len >= 0 && cp < (size_t)n->min_len) {
            issue(c, n, "minLength", "must be at least %lld character%s long, got %zu",
                  (long long)n->min_len, n->min_len == 1 ? "" : "s", cp);
            ok = 0;
        }
        if (n->max_len >= 0 && cp > (size_t)n->max_len && !c->stop) {
            issue(c, n, "maxLength", "must be at most %lld character%s long, got %zu",
                  (long long)n->max_len, n->max_len == 1 ? "" : "s", cp);
            ok = 0;
        }
    }
    if (n->pattern && !c->stop) {
        int m = re_search(c, n->pattern, s, len);
        if (m == 0) {
            char got[80];
            preview(v, got, sizeof(got));
            issue(c, n, "pattern", "must match the pattern %s, got %s", n->pattern_src, got);
        }
        if (m <= 0)
            ok = 0;
    }
    if (n->format != FMT_NONE && !c->stop && !check_format(c, n, s, len, v))
        ok = 0;
    return ok;
}

/* Run n on v as a quiet sub-validation; returns 1 if valid. msg (may be NULL) gets the first
 * failure. */
static int v_quiet(struct vctx *c, const struct node *n, const json_t *v, char *msg, size_t cap)
{
    struct vctx q = *c;
    q.quiet = 1;
    q.stop = 0;
    q.base = c->ilen;
    q.first = msg;
    q.first_cap = cap;
    if (msg && cap)
        msg[0] = '\0';
    int ok = v_node(&q, n, v);
    if (q.fatal != BELT_OK) {
        c->fatal = q.fatal;
        c->stop = 1;
        return 0;
    }
    return ok;
}

static int check_contains(struct vctx *c, const struct node *n, const json_t *v)
{
    int64_t hits = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        size_t mark = ipath_push_index(c, i);
        hits += v_quiet(c, n->contains, e, NULL, 0);
        ipath_pop(c, mark);
        if (c->stop)
            return 0;
    }
    if (hits < n->min_contains) {
        issue(
            c, n, "contains", "must contain at least %lld item%s matching %s/contains, found %lld",
            (long long)n->min_contains, n->min_contains == 1 ? "" : "s", n->path, (long long)hits);
        return 0;
    }
    if (n->max_contains >= 0 && hits > n->max_contains) {
        issue(c, n, "maxContains",
              "must contain at most %lld items matching %s/contains, found %lld",
              (long long)n->max_contains, n->path, (long long)hits);
        return 0;
    }
    return 1;
}

static int check_array(struct vctx *c, const struct node *n, const json_t *v)
{
    size_t len = json_array_size(v);
    int ok = 1;
    if (n->min_items >= 0 && len < (size_t)n->min_items) {
        issue(c, n, "minItems", "must have at least %lld item%s, got %zu", (long long)n->min_items,
              n->min_items == 1 ? "" : "s", len);
        ok = 0;
    }
    if (n->max_items >= 0 && len > (size_t)n->max_items && !c->stop) {
        issue(c, n, "maxItems", "must have at most %lld item%s, got %zu", (long long)n->max_items,
              n->max_items == 1 ? "" : "s", len);
        ok = 0;
    }
    for (size_t i = 0; n->unique && i < len && !c->stop; i++) {
        for (size_t j = i + 1; j < len; j++) {
            if (json_eq(json_array_get(v, i), json_array_get(v, j))) {
                issue(c, n, "uniqueItems", "items must be unique, but items %zu and %zu are equal",
                      i, j);
                ok = 0;
                i = len;
                break;
            }
        }
    }
    for (size_t i = 0; i < len && !c->stop; i++) {
        const struct node *s = i < n->prefix.n ? n->prefix.v[i] : n->items;
        if (!s)
            continue;
        size_t mark = ipath_push_index(c, i);
        ok &= v_node(c, s, json_array_get(v, i));
        ipath_pop(c, mark);
    }
    if (n->contains && !c->stop)
        ok &= check_contains(c, n, v);
    return ok;
}

static const struct node *find_prop(const struct node *n, const char *key)
{
    size_t lo = 0, hi = n->n_props;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(key, n->props[mid].name);
        if (r == 0)
            return n->props[mid].schema;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Validate one property value against properties / patternProperties / additionalProperties. */
static int check_one_prop(struct vctx *c, const struct node *n, const char *key, const json_t *pv)
{
    int ok = 1, matched = 0;
    size_t mark = ipath_push(c, key);
    const struct node *ps = find_prop(n, key);
    if (ps) {
        matched = 1;
        ok &= v_node(c, ps, pv);
    }
    for (size_t i = 0; i < n->n_pprops && !c->stop; i++) {
        int m = re_search(c, n->pprops[i].re, key, strlen(key));
        if (m > 0) {
            matched = 1;
            ok &= v_node(c, n->pprops[i].schema, pv);
        }
    }
    ipath_pop(c, mark);
    if (!matched && n->additional && !c->stop) {
        if (n->additional->boolean == 0) {
            issue(c, n, "additionalProperties", "property \"%s\" is not allowed", key);
            ok = 0;
        } else {
            mark = ipath_push(c, key);
            ok &= v_node(c, n->additional, pv);
            ipath_pop(c, mark);
        }
    }
    return ok;
}

static int check_object_keys(struct vctx *c, const struct node *n, const json_t *v)
{
    int ok = 1;
    size_t i;
    const json_t *e;
    if (n->required) {
        json_array_foreach(n->required, i, e)
        {
            if (c->stop)
                break;
            if (!json_object_get(v, json_string_value(e))) {
                issue(c, n, "required", "missing required property \"%s\"", json_string_value(e));
                ok = 0;
            }
        }
    }
    for (size_t d = 0; d < n->n_deps && !c->stop; d++) {
        if (!json_object_get(v, n->deps[d].name))
            continue;
        json_array_foreach(n->deps[d].needed, i, e)
        {
            if (!json_object_get(v, json_string_value(e)) && !c->stop) {
                issue(c, n, "dependentRequired",
                      "property \"%s\" is required when \"%s\" is present", json_string_value(e),
                      n->deps[d].name);
                ok = 0;
            }
        }
    }
    size_t cnt = json_object_size(v);
    if (n->min_props >= 0 && cnt < (size_t)n->min_props && !c->stop) {
        issue(c, n, "minProperties", "must have at least %lld properties, got %zu",
              (long long)n->min_props, cnt);
        ok = 0;
    }
    if (n->max_props >= 0 && cnt > (size_t)n->max_props && !c->stop) {
        issue(c, n, "maxProperties", "must have at most %lld properties, got %zu",
              (long long)n->max_props, cnt);
        ok = 0;
    }
    return ok;
}

static int check_object(struct vctx *c, const struct node *n, const json_t *v)
{
    int ok = check_object_keys(c, n, v);
    int per_prop = n->n_props || n->n_pprops || n->additional || n->prop_names;
    const char *key;
    const json_t *pv;
    json_object_foreach((json_t *)v, key, pv)
    {
        if (!per_prop || c->stop)
            break;
        if (n->prop_names) {
            char why[300];
            json_t *kj = json_string(key);
            if (!kj) {
                c->fatal = BELT_ERR_NOMEM;
                c->stop = 1;
                return 0;
            }
            if (!v_quiet(c, n->prop_names, kj, why, sizeof(why)) && !c->stop) {
                issue(c, n, "propertyNames", "property name \"%s\" is not allowed: %s", key, why);
                ok = 0;
            }
            json_decref(kj);
        }
        ok &= check_one_prop(c, n, key, pv);
    }
    return ok;
}

/* anyOf / oneOf: count matching alternatives, describing the failures of the others. */
static int check_alternatives(struct vctx *c, const struct node *n, const struct list *l,
                              const char *kw, const json_t *v)
{
    char why[400] = "", one[200];
    size_t o = 0, n_ok = 0, first_ok = 0, second_ok = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (v_quiet(c, l->v[i], v, one, sizeof(one))) {
            if (n_ok == 0)
                first_ok = i;
            else if (n_ok == 1)
                second_ok = i;
            n_ok++;
            if (kw[0] == 'a')
                return 1; /* anyOf: one is enough */
        } else if (o < sizeof(why)) {
            int w = snprintf(why + o, sizeof(why) - o, "%s[%zu] %s", o ? "; " : "", i, one);
            o += w > 0 ? (size_t)w : 0;
        }
        if (c->stop)
            return 0;
    }
    if (n_ok == 1)
        return 1;
    if (n_ok == 0)
        issue(c, n, kw, "must match %s of the %s alternatives: %s",
              kw[0] == 'a' ? "at least one" : "exactly one", kw, why);
    else
        issue(c, n, kw,
              "must match exactly one of the oneOf alternatives, but matches [%zu] and "
              "[%zu]",
              first_ok, second_ok);
    return 0;
}

static int check_combinators(struct vctx *c, const struct node *n, const json_t *v)
{
    int ok = 1;
    for (size_t i = 0; i < n->all_of.n && !c->stop; i++)
        ok &= v_node(c, n->all_of.v[i], v);
    if (n->any_of.n && !c->stop)
        ok &= check_alternatives(c, n, &n->any_of, "anyOf", v);
    if (n->one_of.n && !c->stop)
        ok &= check_alternatives(c, n, &n->one_of, "oneOf", v);
    if (n->not_ && !c->stop && v_quiet(c, n->not_, v, NULL, 0)) {
        if (!c->stop) {
            issue(c, n, "not", "must not match the schema at %s/not", n->path);
            ok = 0;
        }
    }
    if (n->if_ && !c->stop) {
        const struct node *branch = v_quiet(c, n->if_, v, NULL, 0) ? n->then_ : n->else_;
        if (branch && !c->stop)
            ok &= v_node(c, branch, v);
    }
    return ok;
}

static int v_node(struct vctx *c, const struct node *n, const json_t *v)
{
    if (n->boolean == 1)
        return 1;
    if (n->boolean == 0) {
        issue(c, n, NULL, "no value is allowed here");
        return 0;
    }
    if (++c->depth > c->js->params.max_depth) {
        issue(c, n, NULL, "schema evaluation nested deeper than %d levels (recursive $ref?)",
              c->js->params.max_depth);
        c->stop = 1;
        c->depth--;
        return 0;
    }
    int ok = 1;
    if (n->ref)
        ok &= v_node(c, n->ref, v);
    if (!c->stop)
        ok &= check_type(c, n, v);
    if ((n->enum_vals || n->const_val) && !c->stop)
        ok &= check_enum_const(c, n, v);
    if (!c->stop) {
        if (json_is_number(v))
            ok &= check_number(c, n, v);
        else if (json_is_string(v))
            ok &= check_string(c, n, v);
        else if (json_is_array(v))
            ok &= check_array(c, n, v);
        else if (json_is_object(v))
            ok &= check_object(c, n, v);
    }
    if (!c->stop)
        ok &= check_combinators(c, n, v);
    c->depth--;
    return ok;
}

/* ==== Public: validate ===================================================================== */

/* Validate v; fn receives the first max_report problems; counting stops after max_count
 * (0: no limit). *n_issues receives the count. */
static belt_status validate(const struct belt_jsonschema *js, const json_t *v, size_t max_report,
                            size_t max_count, belt_jsonschema_issue_fn *fn, void *ud,
                            size_t *n_issues)
{
    char ipath[IPATH_CAP];
    pcre2_match_data *md = NULL;
    struct vctx c = {0};
    c.js = js;
    c.ipath = ipath;
    ipath[0] = '\0';
    c.max_report = max_report;
    c.max_issues = max_count;
    c.fn = fn;
    c.ud = ud;
    c.md = &md;
    c.fatal = BELT_OK;
    int ok = v_node(&c, js->root, v);
    belt__rx_pool_release((struct belt_rx_pool *)&js->pool, md);
    *n_issues = c.n_issues;
    if (c.fatal != BELT_OK)
        return c.fatal;
    return ok && c.n_issues == 0 ? BELT_OK : BELT_ERR_INVALID;
}

belt_status belt_jsonschema_validate_each(const struct belt_jsonschema *js, const json_t *v,
                                          size_t max_issues, belt_jsonschema_issue_fn *fn, void *ud,
                                          struct belt_error *err)
{
    size_t n = 0;
    belt_status st = validate(js, v, max_issues, max_issues, fn, ud, &n);
    if (st == BELT_ERR_NOMEM)
        return belt__error_set(err, st, 0, "out of memory validating against a JSON schema");
    if (st == BELT_OK) {
        belt_error_clear(err);
        return BELT_OK;
    }
    return belt__error_set(err, BELT_ERR_INVALID, (int)n, "%zu problem%s", n, n == 1 ? "" : "s");
}

struct collect {
    char text[sizeof(((struct belt_error *)0)->msg)]; /* "; PATH: message" pieces */
    size_t len;                                       /* bytes used */
};

static int collect_issue(void *ud, const char *ipath, const char *spath, const char *message)
{
    (void)spath;
    struct collect *cl = ud;
    if (cl->len + 1 >= sizeof(cl->text))
        return 0;
    int w = snprintf(cl->text + cl->len, sizeof(cl->text) - cl->len, "; %s: %s",
                     ipath[0] ? ipath : "(root)", message);
    if (w > 0)
        cl->len = BELT_MIN(cl->len + (size_t)w, sizeof(cl->text) - 1);
    return 0;
}

#define MAX_COUNTED_ISSUES 1000

belt_status belt_jsonschema_validate(const struct belt_jsonschema *js, const json_t *v,
                                     struct belt_error *err)
{
    struct collect cl;
    cl.text[0] = '\0';
    cl.len = 0;
    size_t n = 0;
    belt_status st =
        validate(js, v, js->params.max_issues, MAX_COUNTED_ISSUES, collect_issue, &cl, &n);
    if (st == BELT_ERR_NOMEM)
        return belt__error_set(err, st, 0, "out of memory validating against a JSON schema");
    if (st == BELT_OK) {
        belt_error_clear(err);
        return BELT_OK;
    }
    return belt__error_set(err, BELT_ERR_INVALID, (int)n, "%zu%s problem%s%s: %s", n,
                           n >= MAX_COUNTED_ISSUES ? "+" : "", n == 1 ? "" : "s",
                           n > js->params.max_issues ? ", the first ones" : "",
                           cl.len > 2 ? cl.text + 2 : "");
}
