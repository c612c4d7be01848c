/*
 * rules.c — extraction by rules; see rules.h and docs/lines-kit.md.
 *
 * Each field holds one or more compiled patterns, or a phrase dictionary (line/dict.h: a trie
 * matched in one pass, phrase values index the canonical names). Applying the rules runs each
 * field's patterns over the text with pooled match data, picks the group(s), normalises,
 * converts and adds JSON values to the output object.
 */
#include "belt_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line/dict.h"
#include "line/rules.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/rx.h"
#include "util/str.h"
#include "util/utf8.h"

/* ==== Compiled form ======================================================================== */

enum norm { NORM_TRIM, NORM_LOWER, NORM_UPPER, NORM_COLLAPSE, NORM_DIGITS, NORM_CURRENCY };
static const char *const norm_names[] = {"trim",           "lower",  "upper",
                                         "collapse_space", "digits", "currency"};

enum vtype { VT_STRING, VT_NUMBER, VT_INTEGER, VT_BOOL };
static const char *const type_names[] = {"string", "number", "integer", "bool"};

#define MAX_NORMS 8

struct name_entry {
    uint32_t group;   /* capture group number */
    const char *name; /* its name (borrowed from PCRE2's name table) */
};

struct pat {
    pcre2_code *re;           /* compiled; owned */
    int group;                /* group that gives a scalar, -1: object of named groups */
    struct name_entry *names; /* object mode: named groups; owned */
    size_t n_names;           /* count */
};

struct field {
    char *name;                 /* output key; owned */
    struct pat *pats;           /* patterns, tried in order; owned */
    size_t n_pats;              /* count */
    struct belt_dict *dict;     /* dictionary matcher or NULL; owned */
    char **canon;               /* dictionary: canonical values by phrase value; owned */
    size_t n_canon;             /* count (0: not a dictionary) */
    int all;                    /* match: all */
    int unique;                 /* drop repeated values (match: all) */
    size_t max_matches;         /* cap for match: all */
    enum norm norms[MAX_NORMS]; /* normalisers in order */
    size_t n_norms;             /* count */
    enum vtype type;            /* conversion */
    json_t *value;              /* constant output on a match, or NULL; owned */
    json_t *dflt;               /* output when nothing matched, or NULL; owned */
};

struct belt_rules {
    struct field *f;          /* fields in configuration order; owned */
    size_t n;                 /* count */
    struct belt_rx_pool pool; /* match data */
};

/* ==== Compilation: errors and small readers ================================================ */

struct cctx {
    const char *where;      /* prefix of key paths */
    const char *field;      /* current field name */
    struct belt_error *err; /* first error */
};

static belt_status cfg_err(const struct cctx *c, const char *key, const char *fmt, ...)
    BELT_PRINTF(3, 4);

/* "WHERE.field.key: why" as BELT_ERR_CONFIG. */
static belt_status cfg_err(const struct cctx *c, const char *key, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return belt__error_set(c->err, BELT_ERR_CONFIG, 0, "%s%s%s%s%s: %s", c->where,
                           c->field ? "." : "", c->field ? c->field : "", key ? "." : "",
                           key ? key : "", why);
}

static belt_status nomem(const struct cctx *c)
{
    return belt__error_set(c->err, BELT_ERR_NOMEM, 0, "out of memory compiling rules");
}

/* A bool key (absent: dflt). */
static belt_status get_bool(const struct cctx *c, const json_t *spec, const char *key, int dflt,
                            int *out)
{
    const json_t *v = json_object_get(spec, key);
    *out = dflt;
    if (!v)
        return BELT_OK;
    if (!json_is_boolean(v))
        return cfg_err(c, key, "must be true or false");
    *out = json_is_true(v);
    return BELT_OK;
}

/* A key whose value is one name from `names`. */
static belt_status get_enum(const struct cctx *c, const json_t *v, const char *key,
                            const char *const *names, size_t n, int *out)
{
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return BELT_OK;
        }
    }
    char list[200] = "";
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
    return cfg_err(c, key, "%s%s%s is not one of: %s", s ? "\"" : "", s ? s : "(not a string)",
                   s ? "\"" : "", list);
}

/* ==== Compilation: patterns ================================================================ */

static int name_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct name_entry *)a)->group, y = ((const struct name_entry *)b)->group;
    return x < y ? -1 : x > y;
}

/* Decide which groups a pattern's matches produce (see rules.h). */
static belt_status pick_groups(const struct cctx *c, struct pat *p, const json_t *group,
                               size_t index)
{
    uint32_t n_caps = belt__rx_n_groups(p->re), n_named = 0, entry = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(p->re, PCRE2_INFO_NAMECOUNT, &n_named);
    pcre2_pattern_info(p->re, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(p->re, PCRE2_INFO_NAMETABLE, &table);
    if (group) {
        if (json_is_integer(group)) {
            json_int_t g = json_integer_value(group);
            if (g < 0 || g > (json_int_t)n_caps)
                return cfg_err(c, "group", "pattern %zu has no group %lld (it has %u)", index + 1,
                               (long long)g, n_caps);
            p->group = (int)g;
            return BELT_OK;
        }
        int g = json_is_string(group)
                    ? pcre2_substring_number_from_name(p->re, (PCRE2_SPTR)json_string_value(group))
                    : PCRE2_ERROR_NOSUBSTRING;
        if (g < 0)
            return cfg_err(c, "group", "pattern %zu has no group named \"%s\"", index + 1,
                           json_is_string(group) ? json_string_value(group) : "?");
        p->group = g;
        return BELT_OK;
    }
    if (n_named >= 2) {
        p->group = -1;
        p->names = belt_calloc(n_named, sizeof(*p->names));
        if (!p->names)
            return nomem(c);
        for (uint32_t i = 0; i < n_named; i++) {
            const unsigned char *e = table + (size_t)i * entry;
            p->names[i].group = ((uint32_t)e[0] << 8) | e[1];
            p->names[i].name = (const char *)e + 2;
        }
        p->n_names = n_named;
        qsort(p->names, n_named, sizeof(*p->names), name_cmp); /* pattern order, not a-z */
        return BELT_OK;
    }
    if (n_named == 1)
        p->group = (int)(((uint32_t)table[0] << 8) | table[1]);
    else
        p->group = n_caps >= 1 ? 1 : 0;
    return BELT_OK;
}

static belt_status add_pattern(const struct cctx *c, struct belt_rules *r, struct field *f,
                               const char *src, size_t len, uint32_t opts, const json_t *group,
                               const char *key)
{
    struct pat *p = &f->pats[f->n_pats];
    memset(p, 0, sizeof(*p));
    char msg[200];
    belt_status st = belt__rx_compile(src, len, opts, 0, &p->re, msg, sizeof(msg));
    if (st == BELT_ERR_NOMEM)
        return nomem(c);
    if (st != BELT_OK)
        return cfg_err(c, key, "invalid regular expression %s", msg);
    f->n_pats++;
    belt__rx_pool_size_for(&r->pool, p->re);
    return pick_groups(c, p, group, f->n_pats - 1);
}

/* ==== Compilation: dictionaries ============================================================ */

/* Add one canonical value and its phrases (a string or a list of strings). */
static belt_status dict_phrase(const struct cctx *c, struct field *f, const json_t *ph,
                               int32_t mark)
{
    int32_t other = -1;
    const char *s = json_string_value(ph);
    size_t n = json_string_length(ph);
    belt_status st = belt__dict_add(f->dict, s, n, mark, &other);
    if (st == BELT_ERR_NOMEM)
        return nomem(c);
    if (st == BELT_ERR_EXISTS)
        return cfg_err(c, "dictionary", "phrase \"%.*s\" maps to both \"%s\" and \"%s\"",
                       (int)BELT_MIN(n, 80), s, f->canon[other], f->canon[mark]);
    if (st != BELT_OK)
        return cfg_err(c, "dictionary",
                       "phrase \"%.*s\" is empty, not UTF-8 or longer than %d "
                       "characters",
                       (int)BELT_MIN(n, 40), s, BELT_DICT_MAX_PHRASE);
    return BELT_OK;
}

static belt_status dict_entry(const struct cctx *c, struct field *f, const char *canon,
                              const json_t *phrases)
{
    int32_t mark = (int32_t)f->n_canon;
    f->canon[f->n_canon] = belt_strdup(canon);
    if (!f->canon[f->n_canon])
        return nomem(c);
    f->n_canon++;
    if (json_is_string(phrases))
        return dict_phrase(c, f, phrases, mark);
    if (!json_is_array(phrases) || json_array_size(phrases) == 0)
        return cfg_err(c, "dictionary",
                       "\"%s\" must map to a phrase or a non-empty list of "
                       "phrases",
                       canon);
    size_t i;
    const json_t *ph;
    json_array_foreach(phrases, i, ph)
    {
        if (!json_is_string(ph))
            return cfg_err(c, "dictionary", "\"%s\" item %zu must be a string", canon, i + 1);
        belt_status st = dict_phrase(c, f, ph, mark);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status compile_dictionary(const struct cctx *c, struct field *f, const json_t *dict,
                                      int caseless)
{
    size_t n = json_is_object(dict) ? json_object_size(dict) : json_array_size(dict);
    if ((!json_is_object(dict) && !json_is_array(dict)) || n == 0)
        return cfg_err(c, "dictionary",
                       "must be a non-empty map (canonical value: phrases) or "
                       "list of phrases");
    f->canon = belt_calloc(n, sizeof(*f->canon));
    if (!f->canon || belt__dict_new(caseless, &f->dict) != BELT_OK)
        return nomem(c);
    belt_status st = BELT_OK;
    if (json_is_object(dict)) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)dict, key, v)
        {
            if (st == BELT_OK)
                st = dict_entry(c, f, key, v);
        }
    } else {
        size_t i;
        const json_t *v;
        json_array_foreach(dict, i, v)
        {
            if (st == BELT_OK && !json_is_string(v))
                st = cfg_err(c, "dictionary", "item %zu must be a string", i + 1);
            if (st == BELT_OK)
                st = dict_entry(c, f, json_string_value(v), v);
        }
    }
    if (st == BELT_OK && belt__dict_freeze(f->dict) != BELT_OK)
        st = nomem(c);
    return st;
}

/* ==== Compilation: one field =============================================================== */

static const char *const field_keys[] = {"pattern", "dictionary", "ignore_case", "group",
                                         "match",   "unique",     "max_matches", "normalize",
                                         "type",    "value",      "default"};

static belt_status check_keys(const struct cctx *c, const json_t *spec)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        size_t k = 0;
        while (k < BELT_ARRAY_LEN(field_keys) && strcmp(field_keys[k], key) != 0)
            k++;
        if (k == BELT_ARRAY_LEN(field_keys))
            return cfg_err(c, key,
                           "unknown key (known: pattern, dictionary, ignore_case, group, "
                           "match, unique, max_matches, normalize, type, value, default)");
    }
    return BELT_OK;
}

static belt_status read_norms(const struct cctx *c, struct field *f, const json_t *v)
{
    if (!v)
        return BELT_OK;
    const json_t *one = v;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n > MAX_NORMS)
        return cfg_err(c, "normalize", "at most %d normalisers", MAX_NORMS);
    for (size_t i = 0; i < n; i++) {
        if (json_is_array(v))
            one = json_array_get(v, i);
        int k = 0;
        belt_status st = get_enum(c, one, "normalize", norm_names, BELT_ARRAY_LEN(norm_names), &k);
        if (st != BELT_OK)
            return st;
        f->norms[f->n_norms++] = (enum norm)k;
    }
    return BELT_OK;
}

static belt_status read_options(const struct cctx *c, struct field *f, const json_t *spec)
{
    const json_t *v = json_object_get(spec, "match");
    int k = 0;
    belt_status st = BELT_OK;
    if (v) {
        static const char *const modes[] = {"first", "all"};
        st = get_enum(c, v, "match", modes, 2, &k);
        f->all = k == 1;
    }
    if (st == BELT_OK)
        st = get_bool(c, spec, "unique", f->n_canon > 0, &f->unique);
    v = json_object_get(spec, "max_matches");
    f->max_matches = 100;
    if (st == BELT_OK && v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000)
            return cfg_err(c, "max_matches", "must be an integer from 1 to 100000");
        f->max_matches = (size_t)json_integer_value(v);
    }
    if (st == BELT_OK)
        st = read_norms(c, f, json_object_get(spec, "normalize"));
    for (size_t i = 0; i < f->n_norms; i++)
        if (f->norms[i] == NORM_CURRENCY)
            f->type = VT_NUMBER; /* an amount is a number unless `type` says otherwise */
    v = json_object_get(spec, "type");
    if (st == BELT_OK && v) {
        st = get_enum(c, v, "type", type_names, BELT_ARRAY_LEN(type_names), &k);
        f->type = (enum vtype)k;
    }
    const json_t *value = json_object_get(spec, "value");
    const json_t *dflt = json_object_get(spec, "default");
    if (st == BELT_OK && value) {
        f->value = json_deep_copy(value);
        st = f->value ? BELT_OK : nomem(c);
    }
    if (st == BELT_OK && dflt) {
        f->dflt = json_deep_copy(dflt);
        st = f->dflt ? BELT_OK : nomem(c);
    }
    return st;
}

static belt_status compile_patterns(const struct cctx *c, struct belt_rules *r, struct field *f,
                                    const json_t *pat, const json_t *spec)
{
    int caseless = 0;
    belt_status st = get_bool(c, spec, "ignore_case", 0, &caseless);
    size_t n = json_is_array(pat) ? json_array_size(pat) : 1;
    if (st != BELT_OK)
        return st;
    if ((!json_is_string(pat) && !json_is_array(pat)) || n == 0)
        return cfg_err(c, "pattern", "must be a regular expression or a non-empty list of them");
    f->pats = belt_calloc(n, sizeof(*f->pats));
    if (!f->pats)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        const json_t *one = json_is_array(pat) ? json_array_get(pat, i) : pat;
        if (!json_is_string(one))
            return cfg_err(c, "pattern", "item %zu must be a string", i + 1);
        st = add_pattern(c, r, f, json_string_value(one), json_string_length(one),
                         caseless ? PCRE2_CASELESS : 0, json_object_get(spec, "group"), "pattern");
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status compile_field(struct cctx *c, struct belt_rules *r, const char *name,
                                 const json_t *spec)
{
    struct field *f = &r->f[r->n];
    memset(f, 0, sizeof(*f));
    f->name = belt_strdup(name);
    if (!f->name)
        return nomem(c);
    r->n++;
    c->field = name;
    if (!json_is_object(spec))
        return cfg_err(c, NULL, "must be a map with a pattern or a dictionary");
    belt_status st = check_keys(c, spec);
    const json_t *pat = json_object_get(spec, "pattern");
    const json_t *dict = json_object_get(spec, "dictionary");
    if (st == BELT_OK && !pat == !dict)
        return cfg_err(c, NULL, "needs exactly one of 'pattern' or 'dictionary'");
    if (st == BELT_OK && dict && json_object_get(spec, "group"))
        return cfg_err(c, "group", "applies to patterns, not to dictionaries");
    if (st == BELT_OK && pat)
        st = compile_patterns(c, r, f, pat, spec);
    if (st == BELT_OK && dict) {
        int caseless = 1;
        st = get_bool(c, spec, "ignore_case", 1, &caseless);
        if (st == BELT_OK)
            st = compile_dictionary(c, f, dict, caseless);
    }
    if (st == BELT_OK)
        st = read_options(c, f, spec);
    return st;
}

/* ==== Public: compile / free =============================================================== */

void belt__rules_free(struct belt_rules *r)
{
    if (!r)
        return;
    belt__rx_pool_deinit(&r->pool);
    for (size_t i = 0; i < r->n; i++) {
        struct field *f = &r->f[i];
        for (size_t k = 0; k < f->n_pats; k++) {
            pcre2_code_free(f->pats[k].re);
            belt_free(f->pats[k].names);
        }
        belt_free(f->pats);
        belt__dict_free(f->dict);
        for (size_t k = 0; k < f->n_canon; k++)
            belt_free(f->canon[k]);
        belt_free(f->canon);
        json_decref(f->value);
        json_decref(f->dflt);
        belt_free(f->name);
    }
    belt_free(r->f);
    belt_free(r);
}

belt_status belt__rules_compile(const json_t *spec, const char *where, struct belt_rules **out,
                                struct belt_error *err)
{
    *out = NULL;
    struct cctx c = {where ? where : "rules", NULL, err};
    if (!json_is_object(spec) || json_object_size(spec) == 0)
        return cfg_err(&c, NULL, "must be a non-empty map of field names to rules");
    struct belt_rules *r = belt_calloc(1, sizeof(*r));
    if (!r)
        return nomem(&c);
    belt__rx_pool_init(&r->pool);
    r->f = belt_calloc(json_object_size(spec), sizeof(*r->f));
    belt_status st = r->f ? BELT_OK : nomem(&c);
    const char *name;
    const json_t *fs;
    json_object_foreach((json_t *)spec, name, fs)
    {
        if (st == BELT_OK)
            st = compile_field(&c, r, name, fs);
    }
    if (st != BELT_OK) {
        belt__rules_free(r);
        return st;
    }
    *out = r;
    return BELT_OK;
}

size_t belt__rules_n_fields(const struct belt_rules *r)
{
    return r->n;
}

const char *belt__rules_field_name(const struct belt_rules *r, size_t i)
{
    return i < r->n ? r->f[i].name : NULL;
}

/* ==== Normalisers and conversions ========================================================== */

int belt__rules_parse_amount(const char *s, size_t n, double *out)
{
    char digits[80];
    size_t o = 0, n_dot = 0, n_comma = 0, last_sep = 0, after = 0;
    int neg = 0, seen_digit = 0;
    char last = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            if (o + 1 >= sizeof(digits))
                return -1;
            digits[o++] = ch;
            seen_digit = 1;
            after++;
        } else if ((ch == '.' || ch == ',') && seen_digit) {
            n_dot += ch == '.';
            n_comma += ch == ',';
            last = ch;
            last_sep = o;
            after = 0;
            if (o + 1 >= sizeof(digits))
                return -1;
            digits[o++] = ch;
        } else if ((ch == '-' || ch == '(') && !seen_digit) {
            neg = 1;
        }
    }
    if (!seen_digit)
        return -1;
    /* Which separator is the decimal point? The last one, unless it groups thousands. */
    char dec = 0;
    if (n_dot && n_comma)
        dec = last;
    else if (last && (last == '.' ? n_dot : n_comma) == 1 && after != 3)
        dec = last;
    char clean[80];
    size_t k = 0;
    for (size_t i = 0; i < o; i++) {
        if (digits[i] >= '0' && digits[i] <= '9')
            clean[k++] = digits[i];
        else if (digits[i] == dec && i == last_sep)
            clean[k++] = '.';
    }
    clean[k] = '\0';
    if (k && clean[k - 1] == '.')
        clean[--k] = '\0';
    double v = strtod(clean, NULL);
    *out = neg ? -v : v;
    return 0;
}

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Apply one normaliser to b in place (b has room for at least 64 bytes). */
static void normalise(struct belt_buf *b, enum norm nm)
{
    size_t o = 0;
    char *d = b->data;
    if (!d)
        return;
    if (nm == NORM_CURRENCY) { /* the amount as plain number text, or nothing */
        double v = 0;
        int n = belt__rules_parse_amount(d, b->len, &v) == 0 ? snprintf(d, 64, "%.15g", v) : 0;
        b->len = n > 0 ? (size_t)n : 0;
        d[b->len] = '\0';
        return;
    }
    for (size_t i = 0; i < b->len; i++) {
        char ch = d[i];
        switch (nm) {
        case NORM_LOWER:
            d[o++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            break;
        case NORM_UPPER:
            d[o++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
            break;
        case NORM_DIGITS:
            if (ch >= '0' && ch <= '9')
                d[o++] = ch;
            break;
        case NORM_COLLAPSE:
            if (!is_ws(ch))
                d[o++] = ch;
            else if (o == 0 || d[o - 1] != ' ')
                d[o++] = ' ';
            break;
        default: /* trim */
            d[o++] = ch;
            break;
        }
    }
    b->len = o;
    if (nm == NORM_TRIM || nm == NORM_COLLAPSE) {
        size_t a = 0, z = b->len;
        while (a < z && is_ws(d[a]))
            a++;
        while (z > a && is_ws(d[z - 1]))
            z--;
        memmove(d, d + a, z - a);
        b->len = z - a;
    }
    d[b->len] = '\0';
}

static json_t *number_value(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* Convert normalised text to the field's type. *skip when the text does not convert. */
static json_t *convert(const struct field *f, struct belt_buf *b, int *skip)
{
    const char *s = b->data ? b->data : "";
    double d = 0;
    *skip = 0;
    switch (f->type) {
    case VT_NUMBER:
        if (belt_parse_double(s, &d) != 0)
            break;
        return number_value(d);
    case VT_INTEGER: {
        int64_t i = 0;
        if (belt_parse_i64(s, &i) != 0)
            break;
        return json_integer((json_int_t)i);
    }
    case VT_BOOL: {
        static const char *const yes[] = {"true", "yes", "y", "1", "on"};
        static const char *const no[] = {"false", "no", "n", "0", "off"};
        for (size_t i = 0; i < BELT_ARRAY_LEN(yes); i++) {
            if (belt_str_eq_nocase(s, yes[i]))
                return json_true();
            if (belt_str_eq_nocase(s, no[i]))
                return json_false();
        }
        break;
    }
    default:
        if (b->len == 0 || !belt_utf8_valid(s, b->len, NULL))
            break;
        return json_stringn_nocheck(s, b->len);
    }
    *skip = 1;
    return NULL;
}

/* ==== Applying ============================================================================= */

struct actx {
    const char *text;     /* input */
    size_t len;           /* its length */
    struct belt_buf tmp;  /* scratch for normalising */
    pcre2_match_data *md; /* match data */
};

/* The value of group g of the current match, normalised and converted; NULL with *skip set
 * when the group is unset or does not convert; NULL without *skip when out of memory. */
static json_t *group_value(struct actx *a, const struct field *f, uint32_t g, int *skip)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(a->md);
    *skip = 1;
    if (g >= pcre2_get_ovector_count(a->md) || ov[2 * g] == PCRE2_UNSET)
        return NULL;
    belt_buf_reset(&a->tmp);
    if (belt_buf_append(&a->tmp, a->text + ov[2 * g], ov[2 * g + 1] - ov[2 * g]) != BELT_OK ||
        belt_buf_reserve(&a->tmp, 64) != BELT_OK) {
        *skip = 0;
        return NULL;
    }
    a->tmp.data[a->tmp.len] = '\0';
    for (size_t i = 0; i < f->n_norms; i++)
        normalise(&a->tmp, f->norms[i]);
    json_t *v = convert(f, &a->tmp, skip);
    return v;
}

/* The value of the current match for field f and pattern p (see group_value for NULL). */
static json_t *match_value(struct actx *a, const struct field *f, const struct pat *p, int *skip)
{
    *skip = 0;
    if (f->value) {
        json_t *v = json_deep_copy(f->value);
        return v;
    }
    if (p->group >= 0)
        return group_value(a, f, (uint32_t)p->group, skip);
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < p->n_names; i++) {
        int s = 0;
        json_t *v = group_value(a, f, p->names[i].group, &s);
        if (!v && !s) {
            json_decref(obj);
            return NULL;
        }
        if (v && json_object_set_new(obj, p->names[i].name, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    *skip = obj && json_object_size(obj) == 0;
    if (*skip) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Add v to the list (match: all), honouring unique. Returns -1 when out of memory. */
static int list_add(json_t *list, json_t *v, int unique)
{
    if (unique) {
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            if (json_equal(e, v)) {
                json_decref(v);
                return 0;
            }
        }
    }
    return json_array_append_new(list, v);
}

/* Run a dictionary field: canonical values (or `value`) of the phrases found. */
static belt_status apply_dict(struct actx *a, const struct field *f, json_t *list, json_t **result)
{
    size_t from = 0, start, end;
    int32_t k;
    while (belt__dict_find(f->dict, a->text, a->len, from, &start, &end, &k)) {
        json_t *v = f->value ? json_deep_copy(f->value) : json_string(f->canon[k]);
        if (!v) {
            json_decref(list);
            return BELT_ERR_NOMEM;
        }
        if (!list) {
            *result = v;
            return BELT_OK;
        }
        if (list_add(list, v, f->unique) != 0) {
            json_decref(list);
            return BELT_ERR_NOMEM;
        }
        if (json_array_size(list) >= f->max_matches)
            break;
        from = end;
    }
    if (list && json_array_size(list) > 0)
        *result = list;
    else
        json_decref(list);
    return BELT_OK;
}

/* Run field f; *result receives the value (first) or the list (all), NULL when none. */
static belt_status apply_field(struct actx *a, const struct field *f, json_t **result)
{
    json_t *list = f->all ? json_array() : NULL;
    *result = NULL;
    if (f->all && !list)
        return BELT_ERR_NOMEM;
    if (f->dict)
        return apply_dict(a, f, list, result);
    for (size_t k = 0; k < f->n_pats; k++) {
        const struct pat *p = &f->pats[k];
        PCRE2_SIZE off = 0;
        while (off <= a->len) {
            int rc = pcre2_match(p->re, (PCRE2_SPTR)a->text, a->len, off, 0, a->md, NULL);
            if (rc < 0)
                break; /* no (more) matches; match-limit errors end the search too */
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(a->md);
            int skip = 0;
            json_t *v = match_value(a, f, p, &skip);
            if (!v && !skip) {
                json_decref(list);
                return BELT_ERR_NOMEM;
            }
            if (v && !f->all) {
                *result = v;
                return BELT_OK;
            }
            if (v && list_add(list, v, f->unique) != 0) {
                json_decref(list);
                return BELT_ERR_NOMEM;
            }
            if (list && json_array_size(list) >= f->max_matches)
                break;
            off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
            while (off < a->len && ((unsigned char)a->text[off] & 0xC0) == 0x80)
                off++; /* never restart inside a UTF-8 sequence */
        }
    }
    if (list && json_array_size(list) > 0)
        *result = list;
    else
        json_decref(list);
    return BELT_OK;
}

belt_status belt__rules_apply(const struct belt_rules *r, const char *text, size_t len, json_t *out,
                              struct belt_error *err)
{
    struct actx a = {text ? text : "", text ? len : 0, {0}, NULL};
    belt_buf_init(&a.tmp, 0);
    belt_status st = BELT_OK;
    if (r->pool.sizer) { /* some field has patterns */
        a.md = belt__rx_pool_acquire((struct belt_rx_pool *)&r->pool);
        st = a.md ? BELT_OK : BELT_ERR_NOMEM;
    }
    for (size_t i = 0; i < r->n && st == BELT_OK; i++) {
        const struct field *f = &r->f[i];
        json_t *v = NULL;
        st = apply_field(&a, f, &v);
        if (st == BELT_OK && !v && f->dflt) {
            v = json_deep_copy(f->dflt);
            st = v ? BELT_OK : BELT_ERR_NOMEM;
        }
        if (st == BELT_OK && v && json_object_set_new(out, f->name, v) != 0)
            st = BELT_ERR_NOMEM;
    }
    belt__rx_pool_release((struct belt_rx_pool *)&r->pool, a.md);
    belt_buf_deinit(&a.tmp);
    if (st != BELT_OK)
        return belt__error_set(err, st, 0, "out of memory applying rules");
    return BELT_OK;
}
