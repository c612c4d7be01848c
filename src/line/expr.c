/*
 * expr.c — the condition language; see expr.h and docs/lines-kit.md.
 *
 * A hand-written lexer and recursive-descent parser build a flat array of nodes (children by
 * index; `and`/`or` chains and lists are n-ary). Decoded string literals and path keys live in
 * one owned byte buffer. Evaluation walks the nodes with values borrowed from the record, so it
 * allocates nothing and cannot fail.
 */
#include "belt_config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line/expr.h"
#include "util/error.h"
#include "util/utf8.h"

/* ==== Compiled form ======================================================================== */

enum nkind {
    N_LIT,   /* literal: lit */
    N_LIST,  /* list literal: kids [a, a+b) */
    N_PATH,  /* field path: steps [a, a+b), root */
    N_NOT,   /* not a */
    N_AND,   /* kids [a, a+b) */
    N_OR,    /* kids [a, a+b) */
    N_CMP,   /* a op b */
    N_IN,    /* a in b */
    N_NOTIN, /* a not in b */
    N_CALL   /* fn(a) */
};

enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum fn_id { FN_EXISTS, FN_LEN, FN_NUM };
enum path_root { ROOT_NAME, ROOT_RECORD };

struct xnode {
    uint8_t kind;               /* enum nkind */
    uint8_t op;                 /* enum cmp_op or enum fn_id */
    uint8_t root;               /* N_PATH: enum path_root */
    int32_t a;                  /* first child / first step / first kid */
    int32_t b;                  /* second child / count */
    struct belt_expr_value lit; /* N_LIT value (str fixed up after parsing) */
    size_t str_off;             /* N_LIT string / N_PATH first name: offset in strs */
    size_t str_len;             /* its length */
};

struct step {
    int is_index;   /* 1: [index], 0: .key or ["key"] */
    int64_t index;  /* array index; negative counts from the end */
    size_t key_off; /* key offset in strs */
    size_t key_len; /* key length */
};

struct belt_expr {
    char *src;           /* source copy, NUL-terminated; owned */
    size_t src_len;      /* its length */
    struct xnode *nodes; /* owned */
    size_t n_nodes;      /* count */
    size_t cap_nodes;    /* allocated */
    struct step *steps;  /* owned */
    size_t n_steps;      /* count */
    size_t cap_steps;    /* allocated */
    int32_t *kids;       /* n-ary children, by node index; owned */
    size_t n_kids;       /* count */
    size_t cap_kids;     /* allocated */
    char *strs;          /* decoded strings and keys; owned */
    size_t strs_len;     /* bytes used */
    size_t strs_cap;     /* allocated */
    int32_t root;        /* root node */
};

/* ==== Lexer ================================================================================ */

enum tok_type {
    T_EOF,
    T_NUM,
    T_STR,
    T_IDENT,
    T_AT,
    T_DOLLAR,
    T_LP,
    T_RP,
    T_LB,
    T_RB,
    T_COMMA,
    T_DOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_AND,
    T_OR,
    T_NOT,
    T_IN,
    T_TRUE,
    T_FALSE,
    T_NULL
};

struct tok {
    enum tok_type type; /* kind */
    size_t start;       /* byte offset in the source */
    size_t end;         /* one past the last byte */
    double num;         /* T_NUM */
    size_t str_off;     /* T_STR decoded text in strs */
    size_t str_len;     /* its length */
};

struct parser {
    const char *s;                /* source */
    size_t n;                     /* its length */
    size_t pos;                   /* next unread byte */
    struct tok cur;               /* current token */
    struct tok prev;              /* previous token (for messages) */
    int depth;                    /* nesting */
    struct belt_expr *e;          /* being built */
    struct belt_expr_syntax *syn; /* first syntax error */
    belt_status st;               /* first error status */
};

static void syntax(struct parser *p, size_t off, const char *fmt, ...) BELT_PRINTF(3, 4);

/* Record the first error at byte off. */
static void syntax(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->st != BELT_OK)
        return;
    p->st = BELT_ERR_INVALID;
    if (!p->syn)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->syn->message, sizeof(p->syn->message), fmt, ap);
    va_end(ap);
    p->syn->offset = off;
    p->syn->column = belt__expr_column(p->s, off);
}

static void oom(struct parser *p)
{
    if (p->st == BELT_OK)
        p->st = BELT_ERR_NOMEM;
    if (p->syn) {
        snprintf(p->syn->message, sizeof(p->syn->message), "out of memory");
        p->syn->column = 0;
    }
}

/* Grow an array of elements of size `sz` so that one more fits. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = belt_realloc(*v, ncap * sz);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

static int strs_add(struct parser *p, const char *s, size_t n, size_t *off)
{
    struct belt_expr *e = p->e;
    while (e->strs_len + n + 1 > e->strs_cap) {
        size_t ncap = e->strs_cap ? e->strs_cap * 2 : 64;
        char *ns = belt_realloc(e->strs, ncap);
        if (!ns) {
            oom(p);
            return -1;
        }
        e->strs = ns;
        e->strs_cap = ncap;
    }
    memcpy(e->strs + e->strs_len, s, n);
    *off = e->strs_len;
    e->strs_len += n;
    e->strs[e->strs_len] = '\0';
    return 0;
}

/* Strict JSON number syntax for s[0..n); 0 and *out on success. */
static int parse_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d0 || (s[d0] == '0' && i - d0 > 1))
        return -1;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f0)
            return -1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return -1;
    }
    if (i != n || n > 63)
        return -1;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return isfinite(*out) ? 0 : -1;
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Decode the escape at s[*i] (after the backslash) into out; -1 on a bad escape. */
static int lex_escape(struct parser *p, size_t *i, char *out, size_t *n_out)
{
    static const char from[] = "\\'\"/nrtb f";
    static const char to[] = "\\'\"/\n\r\t\b \f";
    char c = p->s[*i];
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit && c != ' ') {
        out[0] = to[hit - from];
        *n_out = 1;
        (*i)++;
        return 0;
    }
    uint32_t cp = 0, lo = 0;
    if (c != 'u' || *i + 5 > p->n || hex4(p->s + *i + 1, &cp) != 0)
        return -1;
    *i += 5;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* surrogate pair */
        if (*i + 6 > p->n || p->s[*i] != '\\' || p->s[*i + 1] != 'u' ||
            hex4(p->s + *i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        *i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return -1;
    }
    *n_out = belt_utf8_encode((int32_t)cp, out);
    return *n_out ? 0 : -1;
}

static void lex_string(struct parser *p, struct tok *t)
{
    char q = p->s[p->pos];
    size_t i = p->pos + 1;
    size_t first = p->e->strs_len; /* decoded text is appended piece by piece */
    t->type = T_STR;
    while (i < p->n && p->s[i] != q) {
        size_t run = i;
        while (i < p->n && p->s[i] != q && p->s[i] != '\\')
            i++;
        size_t off;
        if (i > run && strs_add(p, p->s + run, i - run, &off) != 0)
            return;
        if (i < p->n && p->s[i] == '\\') {
            size_t esc = i++;
            char buf[4];
            size_t nb = 0;
            if (lex_escape(p, &i, buf, &nb) != 0) {
                syntax(p, esc,
                       "invalid escape sequence in string (use \\\\, \\', \\\", \\n, \\t "
                       "or \\uXXXX)");
                return;
            }
            if (strs_add(p, buf, nb, &off) != 0)
                return;
        }
    }
    if (i >= p->n) {
        syntax(p, p->pos, "unterminated string: no closing %c", q);
        return;
    }
    t->str_off = first;
    t->str_len = p->e->strs_len - first;
    p->pos = i + 1;
}

static const struct {
    const char *word;
    enum tok_type type;
} words[] = {{"and", T_AND},   {"or", T_OR},       {"not", T_NOT},  {"in", T_IN},
             {"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL}};

static void lex_word(struct parser *p, struct tok *t)
{
    size_t i = p->pos + (p->s[p->pos] == '@');
    while (i < p->n && is_ident_char(p->s[i]))
        i++;
    t->type = p->s[p->pos] == '@' ? T_AT : T_IDENT;
    if (t->type == T_AT && i == p->pos + 1) {
        syntax(p, p->pos, "'@' must be followed by a name, as in @index");
        return;
    }
    for (size_t k = 0; t->type == T_IDENT && k < BELT_ARRAY_LEN(words); k++)
        if (i - p->pos == strlen(words[k].word) &&
            memcmp(p->s + p->pos, words[k].word, i - p->pos) == 0)
            t->type = words[k].type;
    p->pos = i;
}

static void lex_number(struct parser *p, struct tok *t)
{
    size_t i = p->pos;
    while (i < p->n &&
           (is_ident_char(p->s[i]) || p->s[i] == '.' || p->s[i] == '-' || p->s[i] == '+')) {
        if ((p->s[i] == '-' || p->s[i] == '+') && i > p->pos && p->s[i - 1] != 'e' &&
            p->s[i - 1] != 'E')
            break;
        i++;
    }
    t->type = T_NUM;
    if (parse_number(p->s + p->pos, i - p->pos, &t->num) != 0) {
        syntax(p, p->pos, "invalid number '%.*s'", (int)BELT_MIN(i - p->pos, 40), p->s + p->pos);
        return;
    }
    p->pos = i;
}

/* Two-character and one-character operators; friendly errors for foreign spellings. */
static void lex_operator(struct parser *p, struct tok *t)
{
    char c = p->s[p->pos], d = p->pos + 1 < p->n ? p->s[p->pos + 1] : '\0';
    static const struct {
        char c, d;
        enum tok_type type;
    } ops[] = {{'=', '=', T_EQ},  {'!', '=', T_NE}, {'<', '=', T_LE},  {'>', '=', T_GE},
               {'<', 0, T_LT},    {'>', 0, T_GT},   {'(', 0, T_LP},    {')', 0, T_RP},
               {'[', 0, T_LB},    {']', 0, T_RB},   {',', 0, T_COMMA}, {'.', 0, T_DOT},
               {'$', 0, T_DOLLAR}};
    for (size_t k = 0; k < BELT_ARRAY_LEN(ops); k++) {
        if (ops[k].c == c && (!ops[k].d || ops[k].d == d)) {
            t->type = ops[k].type;
            p->pos += ops[k].d ? 2 : 1;
            return;
        }
    }
    if (c == '=')
        syntax(p, p->pos, "use '==' to compare ('=' alone is not an operator)");
    else if (c == '&' && d == '&')
        syntax(p, p->pos, "use 'and' instead of '&&'");
    else if (c == '|' && d == '|')
        syntax(p, p->pos, "use 'or' instead of '||'");
    else if (c == '!')
        syntax(p, p->pos, "use 'not' instead of '!'");
    else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
        syntax(p, p->pos, "unexpected character (byte 0x%02x)", (unsigned char)c);
    else
        syntax(p, p->pos, "unexpected character '%c'", c);
}

/* Read the next token into p->cur (keeps the previous one in p->prev). */
static void next(struct parser *p)
{
    p->prev = p->cur;
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
    struct tok *t = &p->cur;
    memset(t, 0, sizeof(*t));
    t->start = p->pos;
    if (p->st != BELT_OK || p->pos >= p->n) {
        t->type = T_EOF;
        t->end = t->start;
        return;
    }
    char c = p->s[p->pos];
    if (c == '"' || c == '\'')
        lex_string(p, t);
    else if (is_ident_start(c) || c == '@')
        lex_word(p, t);
    else if ((c >= '0' && c <= '9') ||
             (c == '-' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9'))
        lex_number(p, t);
    else
        lex_operator(p, t);
    t->end = p->pos;
    if (p->st != BELT_OK)
        t->type = T_EOF;
}

/* The type of the token after the current one, without consuming anything. */
static enum tok_type peek(struct parser *p)
{
    size_t pos = p->pos, strs = p->e->strs_len;
    struct tok cur = p->cur, prev = p->prev;
    belt_status st = p->st;
    struct belt_expr_syntax *syn = p->syn;
    p->syn = NULL;
    next(p);
    enum tok_type t = p->st == BELT_OK ? p->cur.type : T_EOF;
    p->pos = pos;
    p->e->strs_len = strs;
    p->cur = cur;
    p->prev = prev;
    p->st = st;
    p->syn = syn;
    return t;
}

/* ==== Parser =============================================================================== */

static int32_t add_node(struct parser *p, enum nkind kind, int32_t a, int32_t b)
{
    struct belt_expr *e = p->e;
    if (p->st != BELT_OK)
        return -1;
    if (grow((void **)&e->nodes, &e->cap_nodes, e->n_nodes, sizeof(*e->nodes)) != 0) {
        oom(p);
        return -1;
    }
    struct xnode *x = &e->nodes[e->n_nodes];
    memset(x, 0, sizeof(*x));
    x->kind = (uint8_t)kind;
    x->a = a;
    x->b = b;
    return (int32_t)e->n_nodes++;
}

/* Describe the current token for messages: "'>'", "the end of the expression". */
static void tok_desc(const struct parser *p, const struct tok *t, char *out, size_t cap)
{
    if (t->type == T_EOF)
        snprintf(out, cap, "the end of the expression");
    else
        snprintf(out, cap, "'%.*s'", (int)BELT_MIN(t->end - t->start, 30), p->s + t->start);
}

static int enter(struct parser *p)
{
    if (++p->depth > BELT_EXPR_MAX_DEPTH) {
        syntax(p, p->cur.start, "nested deeper than %d levels", BELT_EXPR_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static int32_t parse_or(struct parser *p);

/* n-ary node from a temporary list of children. */
static int32_t add_nary(struct parser *p, enum nkind kind, const int32_t *items, size_t n)
{
    struct belt_expr *e = p->e;
    if (p->st != BELT_OK)
        return -1;
    size_t first = e->n_kids;
    for (size_t i = 0; i < n; i++) {
        if (grow((void **)&e->kids, &e->cap_kids, e->n_kids, sizeof(*e->kids)) != 0) {
            oom(p);
            return -1;
        }
        e->kids[e->n_kids++] = items[i];
    }
    return add_node(p, kind, (int32_t)first, (int32_t)n);
}

#define MAX_ITEMS 256 /* list elements / and-or operands in one group */

static int32_t parse_list(struct parser *p)
{
    int32_t items[MAX_ITEMS];
    size_t n = 0;
    size_t open = p->cur.start;
    if (enter(p) != 0)
        return -1;
    next(p); /* '[' */
    while (p->st == BELT_OK && p->cur.type != T_RB) {
        if (n == MAX_ITEMS) {
            syntax(p, p->cur.start, "a list may have at most %d items", MAX_ITEMS);
            return -1;
        }
        size_t at = p->cur.start;
        items[n++] = parse_or(p);
        if (p->st == BELT_OK && p->e->nodes[items[n - 1]].kind == N_LIST) {
            syntax(p, at, "a list cannot contain a list");
            return -1;
        }
        if (p->cur.type == T_COMMA) {
            next(p);
        } else if (p->cur.type != T_RB && p->st == BELT_OK) {
            char d[48];
            tok_desc(p, &p->cur, d, sizeof(d));
            if (p->cur.type == T_EOF)
                syntax(p, open, "unclosed list: no ']' for this '['");
            else
                syntax(p, p->cur.start, "expected ',' or ']' in the list, got %s", d);
        }
    }
    next(p); /* ']' */
    p->depth--;
    return add_nary(p, N_LIST, items, n);
}

static int32_t add_step(struct parser *p, int is_index, int64_t index, size_t off, size_t len)
{
    struct belt_expr *e = p->e;
    if (grow((void **)&e->steps, &e->cap_steps, e->n_steps, sizeof(*e->steps)) != 0) {
        oom(p);
        return -1;
    }
    struct step *s = &e->steps[e->n_steps++];
    s->is_index = is_index;
    s->index = index;
    s->key_off = off;
    s->key_len = len;
    return 0;
}

/* One `.key`, `[index]` or `["key"]` step after a path root. */
static int parse_step(struct parser *p)
{
    size_t off;
    if (p->cur.type == T_DOT) {
        next(p);
        const struct tok *t = &p->cur;
        int word = t->type == T_IDENT || (t->type >= T_AND && t->type <= T_NULL);
        if (!word) {
            syntax(p, t->start, "expected a field name after '.'");
            return -1;
        }
        if (strs_add(p, p->s + t->start, t->end - t->start, &off) != 0 ||
            add_step(p, 0, 0, off, t->end - t->start) != 0)
            return -1;
        next(p);
        return 0;
    }
    next(p); /* '[' */
    const struct tok t = p->cur;
    int ok_index = t.type == T_NUM && t.num == floor(t.num) && fabs(t.num) < 1e15;
    if (t.type == T_STR) {
        if (add_step(p, 0, 0, t.str_off, t.str_len) != 0)
            return -1;
    } else if (ok_index) {
        if (add_step(p, 1, (int64_t)t.num, 0, 0) != 0)
            return -1;
    } else {
        syntax(p, t.start, "expected an integer index or a quoted key inside [ ]");
        return -1;
    }
    next(p);
    if (p->cur.type != T_RB) {
        syntax(p, p->cur.start, "expected ']'");
        return -1;
    }
    next(p);
    return 0;
}

static int32_t parse_path(struct parser *p)
{
    int32_t x = add_node(p, N_PATH, (int32_t)p->e->n_steps, 0);
    if (x < 0)
        return -1;
    struct xnode *n = &p->e->nodes[x];
    if (p->cur.type == T_DOLLAR) {
        n->root = ROOT_RECORD;
    } else {
        size_t off;
        n->root = ROOT_NAME;
        if (strs_add(p, p->s + p->cur.start, p->cur.end - p->cur.start, &off) != 0)
            return -1;
        p->e->nodes[x].str_off = off;
        p->e->nodes[x].str_len = p->cur.end - p->cur.start;
    }
    next(p);
    while (p->st == BELT_OK && (p->cur.type == T_DOT || p->cur.type == T_LB)) {
        if (p->e->n_steps - (size_t)p->e->nodes[x].a >= 64) {
            syntax(p, p->cur.start, "a path may have at most 64 steps");
            return -1;
        }
        if (parse_step(p) != 0)
            return -1;
    }
    p->e->nodes[x].b = (int32_t)(p->e->n_steps - (size_t)p->e->nodes[x].a);
    return p->st == BELT_OK ? x : -1;
}

static int32_t parse_call(struct parser *p)
{
    static const char *const names[] = {"exists", "len", "num"};
    const struct tok name = p->cur;
    int fn = -1;
    for (size_t k = 0; k < BELT_ARRAY_LEN(names); k++)
        if (name.end - name.start == strlen(names[k]) &&
            memcmp(p->s + name.start, names[k], name.end - name.start) == 0)
            fn = (int)k;
    if (fn < 0) {
        syntax(p, name.start, "unknown function '%.*s' (known: exists, len, num)",
               (int)BELT_MIN(name.end - name.start, 40), p->s + name.start);
        return -1;
    }
    if (enter(p) != 0)
        return -1;
    next(p); /* name */
    size_t open = p->cur.start;
    next(p); /* '(' */
    int32_t arg = parse_or(p);
    if (p->st == BELT_OK && p->cur.type != T_RP) {
        if (p->cur.type == T_COMMA)
            syntax(p, p->cur.start, "%s() takes exactly one argument", names[fn]);
        else
            syntax(p, open, "unclosed '(': expected ')'");
    }
    next(p);
    p->depth--;
    int32_t x = add_node(p, N_CALL, arg, 0);
    if (x >= 0)
        p->e->nodes[x].op = (uint8_t)fn;
    return x;
}

static int32_t parse_literal(struct parser *p)
{
    int32_t x = add_node(p, N_LIT, 0, 0);
    if (x < 0)
        return -1;
    struct belt_expr_value *v = &p->e->nodes[x].lit;
    memset(v, 0, sizeof(*v));
    switch (p->cur.type) {
    case T_NUM:
        v->type = BELT_EXPR_NUMBER;
        v->number = p->cur.num;
        break;
    case T_STR:
        v->type = BELT_EXPR_STRING;
        p->e->nodes[x].str_off = p->cur.str_off;
        p->e->nodes[x].str_len = p->cur.str_len;
        break;
    case T_TRUE:
    case T_FALSE:
        v->type = BELT_EXPR_BOOL;
        v->boolean = p->cur.type == T_TRUE;
        break;
    default:
        v->type = BELT_EXPR_NULL;
        break;
    }
    next(p);
    return x;
}

static int32_t parse_primary(struct parser *p)
{
    switch (p->cur.type) {
    case T_NUM:
    case T_STR:
    case T_TRUE:
    case T_FALSE:
    case T_NULL:
        return parse_literal(p);
    case T_LB:
        return parse_list(p);
    case T_IDENT:
        if (peek(p) == T_LP)
            return parse_call(p);
        return parse_path(p);
    case T_AT:
    case T_DOLLAR:
        return parse_path(p);
    case T_LP: {
        size_t open = p->cur.start;
        if (enter(p) != 0)
            return -1;
        next(p);
        int32_t x = parse_or(p);
        if (p->st == BELT_OK && p->cur.type != T_RP)
            syntax(p, p->cur.type == T_EOF ? open : p->cur.start,
                   p->cur.type == T_EOF ? "unclosed '(': expected ')'"
                                        : "expected ')' or an operator");
        next(p);
        p->depth--;
        return x;
    }
    default: {
        char d[48];
        tok_desc(p, &p->cur, d, sizeof(d));
        if (p->prev.end > 0 && p->prev.type != T_EOF) {
            char pd[48];
            tok_desc(p, &p->prev, pd, sizeof(pd));
            syntax(p, p->cur.start, "expected a value after %s, got %s", pd, d);
        } else {
            syntax(p, p->cur.start, "expected a value (number, string, field, list or '('), got %s",
                   d);
        }
        return -1;
    }
    }
}

static int is_cmp(enum tok_type t)
{
    return t >= T_EQ && t <= T_GE;
}

static int32_t parse_cmp(struct parser *p)
{
    int32_t l = parse_primary(p);
    if (p->st != BELT_OK)
        return -1;
    enum tok_type t = p->cur.type;
    enum nkind kind = N_CMP;
    if (t == T_NOT) {
        if (peek(p) != T_IN) {
            syntax(p, p->cur.start, "'not' after a value: did you mean 'not in' or 'and not'?");
            return -1;
        }
        next(p);
        kind = N_NOTIN;
    } else if (t == T_IN) {
        kind = N_IN;
    } else if (!is_cmp(t)) {
        return l;
    }
    next(p);
    int32_t r = parse_primary(p);
    if (p->st == BELT_OK && (is_cmp(p->cur.type) || p->cur.type == T_IN)) {
        syntax(p, p->cur.start, "comparisons cannot be chained; combine them with 'and'");
        return -1;
    }
    int32_t x = add_node(p, kind, l, r);
    if (x >= 0 && kind == N_CMP)
        p->e->nodes[x].op = (uint8_t)(t - T_EQ);
    return x;
}

static int32_t parse_not(struct parser *p)
{
    if (p->cur.type != T_NOT)
        return parse_cmp(p);
    if (enter(p) != 0)
        return -1;
    next(p);
    int32_t x = parse_not(p);
    p->depth--;
    return add_node(p, N_NOT, x, 0);
}

/* a (op a)* for op = and / or, as one n-ary node. */
static int32_t parse_chain(struct parser *p, enum tok_type op, enum nkind kind,
                           int32_t (*sub_fn)(struct parser *))
{
    int32_t items[MAX_ITEMS];
    size_t n = 0;
    items[n++] = sub_fn(p);
    while (p->st == BELT_OK && p->cur.type == op) {
        if (n == MAX_ITEMS) {
            syntax(p, p->cur.start, "more than %d operands in a row; use parentheses", MAX_ITEMS);
            return -1;
        }
        next(p);
        items[n++] = sub_fn(p);
    }
    if (n == 1)
        return items[0];
    return add_nary(p, kind, items, n);
}

static int32_t parse_and(struct parser *p)
{
    return parse_chain(p, T_AND, N_AND, parse_not);
}

static int32_t parse_or(struct parser *p)
{
    return parse_chain(p, T_OR, N_OR, parse_and);
}

/* ==== Public: compile ====================================================================== */

void belt__expr_free(struct belt_expr *e)
{
    if (!e)
        return;
    belt_free(e->src);
    belt_free(e->nodes);
    belt_free(e->steps);
    belt_free(e->kids);
    belt_free(e->strs);
    belt_free(e);
}

const char *belt__expr_source(const struct belt_expr *e)
{
    return e->src;
}

belt_status belt__expr_parse(const char *src, size_t len, struct belt_expr **out,
                             struct belt_expr_syntax *syn)
{
    *out = NULL;
    struct parser p = {0};
    p.s = src;
    p.n = len;
    p.syn = syn;
    p.st = BELT_OK;
    if (len > BELT_EXPR_MAX_LEN) {
        syntax(&p, BELT_EXPR_MAX_LEN, "expression longer than %d bytes", BELT_EXPR_MAX_LEN);
        return p.st;
    }
    p.e = belt_calloc(1, sizeof(*p.e));
    if (p.e)
        p.e->src = belt_strndup(src, len);
    if (!p.e || !p.e->src) {
        oom(&p);
        belt__expr_free(p.e);
        return p.st;
    }
    p.e->src_len = len;
    next(&p);
    if (p.st == BELT_OK && p.cur.type == T_EOF)
        syntax(&p, 0, "empty expression");
    p.e->root = parse_or(&p);
    if (p.st == BELT_OK && p.cur.type != T_EOF) {
        char d[48];
        tok_desc(&p, &p.cur, d, sizeof(d));
        syntax(&p, p.cur.start, "unexpected %s: expected 'and', 'or' or the end", d);
    }
    if (p.st != BELT_OK) {
        belt__expr_free(p.e);
        return p.st;
    }
    for (size_t i = 0; i < p.e->n_nodes; i++) { /* strings are final now: fix pointers */
        struct xnode *x = &p.e->nodes[i];
        if (x->kind == N_LIT && x->lit.type == BELT_EXPR_STRING) {
            x->lit.str = p.e->strs + x->str_off;
            x->lit.len = x->str_len;
        }
    }
    *out = p.e;
    return BELT_OK;
}

belt_status belt__expr_compile(const char *src, size_t len, struct belt_expr **out,
                               struct belt_error *err)
{
    struct belt_expr_syntax syn = {0};
    belt_status st = belt__expr_parse(src, len, out, &syn);
    if (st == BELT_ERR_NOMEM)
        return belt__error_set(err, st, 0, "out of memory compiling an expression");
    if (st != BELT_OK) {
        char caret[300];
        belt__expr_caret(src, len, syn.offset, caret, sizeof(caret));
        return belt__error_set(err, st, syn.column, "column %d: %s\n%s", syn.column, syn.message,
                               caret);
    }
    return BELT_OK;
}

int belt__expr_column(const char *src, size_t offset)
{
    int col = 1;
    for (size_t i = 0; i < offset; i++)
        col += ((unsigned char)src[i] & 0xC0) != 0x80;
    return col;
}

void belt__expr_caret(const char *src, size_t len, size_t offset, char *out, size_t cap)
{
    if (offset > len)
        offset = len;
    size_t start = offset > 40 ? offset - 40 : 0;
    while (start > 0 && ((unsigned char)src[start] & 0xC0) == 0x80)
        start--;
    size_t end = len - offset > 40 ? offset + 40 : len;
    while (end < len && ((unsigned char)src[end] & 0xC0) == 0x80)
        end++;
    size_t o = 0;
    o += (size_t)snprintf(out, cap, "  %s", start > 0 ? "..." : "");
    for (size_t i = start; i < end && o + 1 < cap; i++) {
        char c = src[i];
        out[o++] = (c == '\n' || c == '\t' || c == '\r') ? ' ' : c;
    }
    if (o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%s\n  %s", end < len ? "..." : "",
                              start > 0 ? "   " : "");
    int pad = belt__expr_column(src + start, offset - start) - 1;
    for (int i = 0; i < pad && o + 1 < cap; i++)
        out[o++] = ' ';
    if (o + 1 < cap)
        out[o++] = '^';
    out[o < cap ? o : cap - 1] = '\0';
}

/* ==== Evaluation =========================================================================== */

static const struct belt_expr_value missing = {BELT_EXPR_MISSING, 0, 0, NULL, 0, NULL, NULL};

struct belt_expr_value belt__expr_from_json(const json_t *j)
{
    struct belt_expr_value v = missing;
    if (!j)
        return v;
    v.json = j;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v.type = BELT_EXPR_OBJECT;
        break;
    case JSON_ARRAY:
        v.type = BELT_EXPR_ARRAY;
        break;
    case JSON_STRING:
        v.type = BELT_EXPR_STRING;
        v.str = json_string_value(j);
        v.len = json_string_length(j);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        v.type = BELT_EXPR_NUMBER;
        v.number = json_number_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v.type = BELT_EXPR_BOOL;
        v.boolean = json_is_true(j);
        break;
    default:
        v.type = BELT_EXPR_NULL;
        break;
    }
    return v;
}

/* List literals carry their expression and node so elements can be evaluated lazily. */
struct list_ref {
    const struct belt_expr *e;           /* expression */
    int32_t node;                        /* N_LIST node */
    const json_t *rec;                   /* record for element evaluation */
    const struct belt_expr_binding *loc; /* bindings */
};

static struct belt_expr_value ev(const struct belt_expr *e, int32_t i, const json_t *rec,
                                 const struct belt_expr_binding *loc, struct list_ref *lr);

size_t belt__expr_array_size(const struct belt_expr_value *v)
{
    if (v->type != BELT_EXPR_ARRAY)
        return 0;
    if (v->json)
        return json_array_size(v->json);
    const struct list_ref *lr = v->list;
    return (size_t)lr->e->nodes[lr->node].b;
}

struct belt_expr_value belt__expr_array_get(const struct belt_expr_value *v, size_t i)
{
    if (v->type != BELT_EXPR_ARRAY || i >= belt__expr_array_size(v))
        return missing;
    if (v->json)
        return belt__expr_from_json(json_array_get(v->json, i));
    const struct list_ref *lr = v->list;
    const struct xnode *x = &lr->e->nodes[lr->node];
    /* Elements are never list literals (the parser refuses nested lists). */
    return ev(lr->e, lr->e->kids[(size_t)x->a + i], lr->rec, lr->loc, NULL);
}

static struct belt_expr_value path_value(const struct belt_expr *e, const struct xnode *x,
                                         const json_t *rec, const struct belt_expr_binding *loc)
{
    struct belt_expr_value cur = missing;
    if (x->root == ROOT_RECORD) {
        cur = belt__expr_from_json(rec);
    } else {
        const char *name = e->strs + x->str_off;
        const struct belt_expr_binding *b = loc;
        while (b && !(strlen(b->name) == x->str_len && memcmp(b->name, name, x->str_len) == 0))
            b = b->next;
        if (b)
            cur = b->value;
        else if (json_is_object(rec) && name[0] != '@')
            cur = belt__expr_from_json(json_object_getn(rec, name, x->str_len));
    }
    for (size_t k = 0; k < (size_t)x->b; k++) {
        const struct step *s = &e->steps[(size_t)x->a + k];
        const json_t *j = cur.json;
        if (!j)
            return missing;
        if (s->is_index) {
            int64_t idx = s->index;
            if (!json_is_array(j))
                return missing;
            if (idx < 0)
                idx += (int64_t)json_array_size(j);
            cur = idx < 0 ? missing : belt__expr_from_json(json_array_get(j, (size_t)idx));
        } else {
            if (!json_is_object(j))
                return missing;
            cur = belt__expr_from_json(json_object_getn(j, e->strs + s->key_off, s->key_len));
        }
    }
    return cur;
}

static struct belt_expr_value boolean(int b)
{
    struct belt_expr_value v = missing;
    v.type = BELT_EXPR_BOOL;
    v.boolean = b != 0;
    return v;
}

int belt__expr_truthy(const struct belt_expr_value *v)
{
    switch (v->type) {
    case BELT_EXPR_BOOL:
        return v->boolean;
    case BELT_EXPR_NUMBER:
        return v->number != 0 && !isnan(v->number);
    case BELT_EXPR_STRING:
        return v->len > 0;
    case BELT_EXPR_ARRAY:
        return belt__expr_array_size(v) > 0;
    case BELT_EXPR_OBJECT:
        return json_object_size(v->json) > 0;
    default:
        return 0;
    }
}

static int values_equal(const struct belt_expr_value *a, const struct belt_expr_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case BELT_EXPR_NULL:
        return 1;
    case BELT_EXPR_BOOL:
        return a->boolean == b->boolean;
    case BELT_EXPR_NUMBER:
        if (a->json && b->json && json_is_integer(a->json) && json_is_integer(b->json))
            return json_integer_value(a->json) == json_integer_value(b->json);
        return a->number == b->number;
    case BELT_EXPR_STRING:
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case BELT_EXPR_OBJECT:
        return json_equal(a->json, b->json);
    case BELT_EXPR_ARRAY: {
        size_t n = belt__expr_array_size(a);
        if (n != belt__expr_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++) {
            struct belt_expr_value x = belt__expr_array_get(a, i), y = belt__expr_array_get(b, i);
            if (!values_equal(&x, &y))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* -2 if not ordered (different or unordered types), else -1/0/1. */
static int values_order(const struct belt_expr_value *a, const struct belt_expr_value *b)
{
    if (a->type == BELT_EXPR_NUMBER && b->type == BELT_EXPR_NUMBER) {
        if (isnan(a->number) || isnan(b->number))
            return -2;
        return a->number < b->number ? -1 : a->number > b->number;
    }
    if (a->type == BELT_EXPR_STRING && b->type == BELT_EXPR_STRING) {
        int r = memcmp(a->str, b->str, BELT_MIN(a->len, b->len));
        if (r == 0)
            r = a->len < b->len ? -1 : a->len > b->len;
        return r < 0 ? -1 : r > 0;
    }
    return -2;
}

static int compare(enum cmp_op op, const struct belt_expr_value *a, const struct belt_expr_value *b)
{
    if (a->type == BELT_EXPR_MISSING || b->type == BELT_EXPR_MISSING)
        return 0;
    if (op == OP_EQ)
        return values_equal(a, b);
    if (op == OP_NE)
        return !values_equal(a, b);
    int r = values_order(a, b);
    if (r == -2)
        return 0;
    switch (op) {
    case OP_LT:
        return r < 0;
    case OP_LE:
        return r <= 0;
    case OP_GT:
        return r > 0;
    default:
        return r >= 0;
    }
}

static int contains_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0)
        return 1;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0)
            return 1;
    return 0;
}

/* `a in b`: -1 when not applicable (missing operand), else 0/1. */
static int membership(const struct belt_expr_value *a, const struct belt_expr_value *b)
{
    if (a->type == BELT_EXPR_MISSING || b->type == BELT_EXPR_MISSING)
        return -1;
    if (b->type == BELT_EXPR_ARRAY) {
        size_t n = belt__expr_array_size(b);
        for (size_t i = 0; i < n; i++) {
            struct belt_expr_value x = belt__expr_array_get(b, i);
            if (values_equal(a, &x))
                return 1;
        }
        return 0;
    }
    if (b->type == BELT_EXPR_STRING && a->type == BELT_EXPR_STRING)
        return contains_bytes(b->str, b->len, a->str, a->len);
    if (b->type == BELT_EXPR_OBJECT && a->type == BELT_EXPR_STRING)
        return json_object_getn(b->json, a->str, a->len) != NULL;
    return 0;
}

static struct belt_expr_value call(enum fn_id fn, const struct belt_expr_value *a)
{
    struct belt_expr_value v = missing;
    switch (fn) {
    case FN_EXISTS:
        return boolean(a->type != BELT_EXPR_MISSING);
    case FN_LEN:
        v.type = BELT_EXPR_NUMBER;
        if (a->type == BELT_EXPR_STRING) {
            size_t cp = 0;
            for (size_t i = 0; i < a->len; i++)
                cp += ((unsigned char)a->str[i] & 0xC0) != 0x80;
            v.number = (double)cp;
        } else if (a->type == BELT_EXPR_ARRAY) {
            v.number = (double)belt__expr_array_size(a);
        } else if (a->type == BELT_EXPR_OBJECT) {
            v.number = (double)json_object_size(a->json);
        } else {
            return missing;
        }
        return v;
    default: /* FN_NUM */
        if (a->type == BELT_EXPR_NUMBER)
            return *a;
        if (a->type == BELT_EXPR_STRING) {
            size_t n = a->len;
            const char *s = a->str;
            while (n && (*s == ' ' || *s == '\t')) {
                s++;
                n--;
            }
            while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
            if (parse_number(s, n, &v.number) == 0) {
                v.type = BELT_EXPR_NUMBER;
                return v;
            }
        }
        return missing;
    }
}

static struct belt_expr_value ev(const struct belt_expr *e, int32_t i, const json_t *rec,
                                 const struct belt_expr_binding *loc, struct list_ref *lr)
{
    const struct xnode *x = &e->nodes[i];
    switch ((enum nkind)x->kind) {
    case N_LIT:
        return x->lit;
    case N_LIST: {
        struct belt_expr_value v = missing;
        if (!lr)
            return missing;
        lr->e = e;
        lr->node = i;
        lr->rec = rec;
        lr->loc = loc;
        v.type = BELT_EXPR_ARRAY;
        v.list = lr;
        return v;
    }
    case N_PATH:
        return path_value(e, x, rec, loc);
    case N_NOT: {
        struct list_ref l;
        struct belt_expr_value a = ev(e, x->a, rec, loc, &l);
        return boolean(!belt__expr_truthy(&a));
    }
    case N_AND:
    case N_OR: {
        int want = x->kind == N_OR;
        for (int32_t k = 0; k < x->b; k++) {
            struct list_ref l;
            struct belt_expr_value a = ev(e, e->kids[x->a + k], rec, loc, &l);
            if (belt__expr_truthy(&a) == want)
                return boolean(want);
        }
        return boolean(!want);
    }
    case N_CALL: {
        struct list_ref l;
        struct belt_expr_value a = ev(e, x->a, rec, loc, &l);
        return call((enum fn_id)x->op, &a);
    }
    default: {
        struct list_ref la, lb;
        struct belt_expr_value a = ev(e, x->a, rec, loc, &la);
        struct belt_expr_value b = ev(e, x->b, rec, loc, &lb);
        if (x->kind == N_CMP)
            return boolean(compare((enum cmp_op)x->op, &a, &b));
        int m = membership(&a, &b);
        if (m < 0)
            return boolean(0);
        return boolean(x->kind == N_IN ? m : !m);
    }
    }
}

struct belt_expr_value belt__expr_eval(const struct belt_expr *e, const json_t *record,
                                       const struct belt_expr_binding *locals)
{
    /* A list literal at the top has no storage that outlives this call: report it as missing
     * (lists are meant as the right side of `in` / `==`). */
    return ev(e, e->root, record, locals, NULL);
}

int belt__expr_test(const struct belt_expr *e, const json_t *record,
                    const struct belt_expr_binding *locals)
{
    struct list_ref l;
    struct belt_expr_value v = ev(e, e->root, record, locals, &l);
    return belt__expr_truthy(&v);
}
