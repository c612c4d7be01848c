/*
 * template.c — prompt templates; see template.h and docs/lines-kit.md.
 *
 * Compilation scans the text for tags, turns it into a flat array of nodes (text, value, json,
 * if, each) where a block node records where its else-part starts (`mid`) and where it ends
 * (`end`), so rendering is a loop over index ranges with recursion only into blocks. Text with
 * escapes and trimming already applied lives in one owned buffer.
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "line/template.h"
#include "util/error.h"

/* ==== Compiled form ======================================================================== */

enum tkind {
    K_TEXT,  /* literal text: strs[off, off+len) */
    K_VALUE, /* {{expr}} */
    K_JSON,  /* {{json expr}} */
    K_IF,    /* {{#if expr}}: then [i+1, mid), else [mid, end) */
    K_EACH   /* {{#each expr}}: body [i+1, mid), else [mid, end) */
};

struct tnode {
    uint8_t kind;           /* enum tkind */
    uint8_t chained;        /* K_IF made by {{else if}} (closed by its parent's {{/if}}) */
    int line;               /* tag position, for render errors */
    int col;                /* column of the tag's first '{' */
    size_t off;             /* K_TEXT: text in strs; else: expression source in strs */
    size_t len;             /* its length */
    size_t alias_off;       /* K_EACH: `as NAME` in strs (alias_len 0: none) */
    size_t alias_len;       /* its length */
    struct belt_expr *expr; /* value / condition / list; owned */
    size_t mid;             /* block: first node of the else part */
    size_t end;             /* block: first node after the block */
};

struct belt_template {
    struct tnode *nodes;                /* owned */
    size_t n_nodes;                     /* count */
    size_t cap_nodes;                   /* allocated */
    char *strs;                         /* text and names; owned */
    size_t strs_len;                    /* bytes used */
    size_t strs_cap;                    /* allocated */
    struct belt_template_params params; /* effective; name owned */
};

/* ==== Compilation ========================================================================== */

struct open_block {
    size_t node;    /* index of the K_IF / K_EACH node */
    size_t tag_off; /* byte offset of its opening tag */
    int saw_else;   /* {{else}} seen */
};

struct tparser {
    const char *s;                                        /* template text */
    size_t n;                                             /* its length */
    struct belt_template *t;                              /* being built */
    struct open_block stack[BELT_TEMPLATE_MAX_DEPTH * 2]; /* open blocks (else-if adds one) */
    size_t depth;                                         /* entries in stack */
    size_t n_blocks;                                      /* real nesting (without chained) */
    size_t mergeable;                                     /* text node new text may join, or -1 */
    struct belt_error *err;                               /* first error */
    belt_status st;                                       /* its status */
};

/* Line and column (1-based, code points) of byte off. */
static void locate(const char *s, size_t off, int *line, int *col, size_t *line_start)
{
    int l = 1;
    size_t ls = 0;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            l++;
            ls = i + 1;
        }
    }
    *line = l;
    *col = belt__expr_column(s + ls, off - ls);
    if (line_start)
        *line_start = ls;
}

static void terr(struct tparser *p, size_t off, const char *fmt, ...) BELT_PRINTF(3, 4);

/* Report a syntax error at byte off with the line and a caret. */
static void terr(struct tparser *p, size_t off, const char *fmt, ...)
{
    if (p->st != BELT_OK)
        return;
    p->st = BELT_ERR_INVALID;
    char why[240], caret[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    int line, col;
    size_t ls;
    locate(p->s, off, &line, &col, &ls);
    const char *nl = memchr(p->s + ls, '\n', p->n - ls);
    size_t le = nl ? (size_t)(nl - p->s) : p->n;
    belt__expr_caret(p->s + ls, le - ls, off - ls, caret, sizeof(caret));
    const char *name = p->t->params.name;
    belt__error_set(p->err, BELT_ERR_INVALID, col, "%s%sline %d, column %d: %s\n%s",
                    name ? name : "", name ? ": " : "", line, col, why, caret);
}

static void toom(struct tparser *p)
{
    if (p->st == BELT_OK)
        p->st = belt__error_set(p->err, BELT_ERR_NOMEM, 0, "out of memory compiling a template");
}

static int tstrs_add(struct tparser *p, const char *s, size_t n, size_t *off)
{
    struct belt_template *t = p->t;
    while (t->strs_len + n + 1 > t->strs_cap) {
        size_t ncap = t->strs_cap ? t->strs_cap * 2 : 256;
        char *ns = belt_realloc(t->strs, ncap);
        if (!ns) {
            toom(p);
            return -1;
        }
        t->strs = ns;
        t->strs_cap = ncap;
    }
    memcpy(t->strs + t->strs_len, s, n);
    *off = t->strs_len;
    t->strs_len += n;
    t->strs[t->strs_len] = '\0';
    return 0;
}

static struct tnode *add_tnode(struct tparser *p, enum tkind kind, size_t tag_off)
{
    struct belt_template *t = p->t;
    if (t->n_nodes == t->cap_nodes) {
        size_t cap = t->cap_nodes ? t->cap_nodes * 2 : 16;
        struct tnode *v = belt_realloc(t->nodes, cap * sizeof(*v));
        if (!v) {
            toom(p);
            return NULL;
        }
        t->nodes = v;
        t->cap_nodes = cap;
    }
    struct tnode *x = &t->nodes[t->n_nodes++];
    memset(x, 0, sizeof(*x));
    x->kind = (uint8_t)kind;
    locate(p->s, tag_off, &x->line, &x->col, NULL);
    return x;
}

/* Append literal text s[0..n), merging with a preceding text node. */
static void emit_text(struct tparser *p, const char *s, size_t n)
{
    if (n == 0 || p->st != BELT_OK)
        return;
    struct belt_template *t = p->t;
    size_t off;
    if (tstrs_add(p, s, n, &off) != 0)
        return;
    if (p->mergeable != (size_t)-1 && p->mergeable + 1 == t->n_nodes) { /* text after text */
        struct tnode *last = &t->nodes[p->mergeable];
        if (last->off + last->len == off) {
            last->len += n;
            return;
        }
    }
    struct tnode *x = add_tnode(p, K_TEXT, 0);
    if (x) {
        x->off = off;
        x->len = n;
        p->mergeable = t->n_nodes - 1;
    }
}

/* Compile the expression src[a..b) of the template into *out, mapping errors to the template. */
static int compile_expr(struct tparser *p, size_t a, size_t b, struct belt_expr **out)
{
    struct belt_expr_syntax syn = {0};
    belt_status st = belt__expr_parse(p->s + a, b - a, out, &syn);
    if (st == BELT_ERR_NOMEM) {
        toom(p);
        return -1;
    }
    if (st != BELT_OK) {
        terr(p, a + syn.offset, "%s", syn.message);
        return -1;
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trim spaces from both ends of [*a, *b). */
static void trim(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && is_space(s[*a]))
        (*a)++;
    while (*b > *a && is_space(s[*b - 1]))
        (*b)--;
}

/* Does [a, b) start with word `w` followed by a space or the end? Sets *rest past it. */
static int starts_word(const char *s, size_t a, size_t b, const char *w, size_t *rest)
{
    size_t n = strlen(w);
    if (b - a < n || memcmp(s + a, w, n) != 0)
        return 0;
    if (a + n < b && !is_space(s[a + n]))
        return 0;
    *rest = a + n;
    return 1;
}

static void open_block(struct tparser *p, enum tkind kind, size_t tag, size_t a, size_t b,
                       int chained)
{
    if (a >= b) {
        terr(p, tag, "{{%s}} needs an expression", kind == K_IF ? "#if" : "#each");
        return;
    }
    if (!chained && p->n_blocks >= BELT_TEMPLATE_MAX_DEPTH) {
        terr(p, tag, "blocks nested deeper than %d levels", BELT_TEMPLATE_MAX_DEPTH);
        return;
    }
    size_t alias_a = 0, alias_b = 0;
    if (kind == K_EACH) { /* `LIST as NAME` */
        for (size_t i = a; i + 4 <= b; i++) {
            if (memcmp(p->s + i, " as ", 4) == 0) {
                alias_a = i + 4;
                alias_b = b;
                trim(p->s, &alias_a, &alias_b);
                b = i;
                break;
            }
        }
        for (size_t i = alias_a; i < alias_b; i++) {
            char c = p->s[i];
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (i > alias_a && c >= '0' && c <= '9');
            if (!ok) {
                terr(p, i, "the name after 'as' must be a plain identifier");
                return;
            }
        }
        if (alias_a && alias_a == alias_b) {
            terr(p, alias_a, "expected a name after 'as'");
            return;
        }
    }
    struct belt_expr *e = NULL;
    if (compile_expr(p, a, b, &e) != 0)
        return;
    struct tnode *x = add_tnode(p, kind, tag);
    if (!x) {
        belt__expr_free(e);
        return;
    }
    x->expr = e;
    x->chained = (uint8_t)chained;
    if (tstrs_add(p, p->s + a, b - a, &x->off) != 0)
        return;
    x->len = b - a;
    if (alias_a && tstrs_add(p, p->s + alias_a, alias_b - alias_a, &x->alias_off) == 0)
        x->alias_len = alias_b - alias_a;
    p->stack[p->depth].node = p->t->n_nodes - 1;
    p->stack[p->depth].tag_off = tag;
    p->stack[p->depth].saw_else = 0;
    p->depth++;
    if (!chained)
        p->n_blocks++;
}

static void tag_else(struct tparser *p, size_t tag, size_t a, size_t b)
{
    if (p->depth == 0) {
        terr(p, tag, "{{else}} outside of {{#if}} or {{#each}}");
        return;
    }
    struct open_block *top = &p->stack[p->depth - 1];
    struct tnode *blk = &p->t->nodes[top->node];
    if (top->saw_else) {
        terr(p, tag, "a second {{else}} in the same block");
        return;
    }
    top->saw_else = 1;
    blk->mid = p->t->n_nodes;
    size_t rest;
    if (a < b) {
        if (!starts_word(p->s, a, b, "if", &rest) || blk->kind != K_IF) {
            terr(p, a, "{{else}} takes nothing after it except 'if CONDITION' inside {{#if}}");
            return;
        }
        trim(p->s, &rest, &b);
        open_block(p, K_IF, tag, rest, b, 1);
    }
}

static void close_block(struct tparser *p, size_t tag, enum tkind kind)
{
    const char *name = kind == K_IF ? "if" : "each";
    if (p->depth == 0) {
        terr(p, tag, "{{/%s}} without an open {{#%s}}", name, name);
        return;
    }
    for (;;) {
        struct open_block *top = &p->stack[p->depth - 1];
        struct tnode *blk = &p->t->nodes[top->node];
        if (blk->kind != kind) {
            terr(p, tag, "{{/%s}} closes {{#%s}} opened at line %d, column %d", name,
                 blk->kind == K_IF ? "if" : "each", blk->line, blk->col);
            return;
        }
        blk->end = p->t->n_nodes;
        if (!top->saw_else)
            blk->mid = blk->end;
        p->depth--;
        if (!blk->chained)
            break;
    }
    p->n_blocks--;
}

/* Handle one tag whose content (without braces and ~) is s[a..b); tag = offset of "{{". */
static void tag(struct tparser *p, size_t tag_off, size_t a, size_t b)
{
    size_t rest;
    trim(p->s, &a, &b);
    if (a < b && p->s[a] == '!')
        return; /* comment */
    if (a < b && p->s[a] == '#') {
        if (starts_word(p->s, a + 1, b, "if", &rest) ||
            starts_word(p->s, a + 1, b, "each", &rest)) {
            enum tkind kind = p->s[a + 1] == 'i' ? K_IF : K_EACH;
            trim(p->s, &rest, &b);
            open_block(p, kind, tag_off, rest, b, 0);
        } else {
            terr(p, a, "unknown block '%.*s' (known: #if, #each)", (int)BELT_MIN(b - a, 20),
                 p->s + a);
        }
        return;
    }
    if (a < b && p->s[a] == '/') {
        size_t x = a + 1, y = b;
        trim(p->s, &x, &y);
        if (y - x == 2 && memcmp(p->s + x, "if", 2) == 0)
            close_block(p, tag_off, K_IF);
        else if (y - x == 4 && memcmp(p->s + x, "each", 4) == 0)
            close_block(p, tag_off, K_EACH);
        else
            terr(p, a, "unknown closing tag '%.*s' (known: /if, /each)", (int)BELT_MIN(b - a, 20),
                 p->s + a);
        return;
    }
    if (starts_word(p->s, a, b, "else", &rest)) {
        trim(p->s, &rest, &b);
        tag_else(p, tag_off, rest, b);
        return;
    }
    enum tkind kind = K_VALUE;
    if (starts_word(p->s, a, b, "json", &rest) && rest < b) {
        kind = K_JSON;
        a = rest;
        trim(p->s, &a, &b);
    }
    if (a >= b) {
        terr(p, tag_off, "empty tag {{}}");
        return;
    }
    struct belt_expr *e = NULL;
    if (compile_expr(p, a, b, &e) != 0)
        return;
    struct tnode *x = add_tnode(p, kind, tag_off);
    if (!x) {
        belt__expr_free(e);
        return;
    }
    x->expr = e;
    if (tstrs_add(p, p->s + a, b - a, &x->off) == 0)
        x->len = b - a;
}

/* Offset of the "}}" closing the tag whose content starts at i (quotes respected), or n. */
static size_t find_close(const char *s, size_t i, size_t n)
{
    char q = 0;
    for (; i + 1 < n; i++) {
        char c = s[i];
        if (q) {
            if (c == '\\')
                i++;
            else if (c == q)
                q = 0;
        } else if (c == '"' || c == '\'') {
            q = c;
        } else if (c == '}' && s[i + 1] == '}') {
            return i;
        }
    }
    return n;
}

/* Is the tag a block/comment tag (candidate for standalone-line removal)? */
static int is_block_tag(const char *s, size_t a, size_t b)
{
    trim(s, &a, &b);
    size_t rest;
    return a < b &&
           (s[a] == '#' || s[a] == '/' || s[a] == '!' || starts_word(s, a, b, "else", &rest));
}

struct seg {
    size_t text_a;     /* pending text start */
    int at_line_start; /* text_a is at the start of a line */
    int trim_next;     /* previous tag ended with ~}} */
};

/* Emit the pending text [g->text_a, text_b) before a tag, applying trimming rules; returns the
 * offset where scanning continues after the tag (standalone lines swallow their newline). */
static size_t before_tag(struct tparser *p, struct seg *g, size_t text_b, size_t close,
                         int trim_left, int block)
{
    size_t ta = g->text_a, tb = text_b, after = close + 2;
    if (g->trim_next)
        while (ta < tb && is_space(p->s[ta]))
            ta++;
    if (trim_left)
        while (tb > ta && is_space(p->s[tb - 1]))
            tb--;
    if (block && !trim_left) { /* standalone: only blanks before on its line and after it */
        size_t ls = tb;
        while (ls > ta && (p->s[ls - 1] == ' ' || p->s[ls - 1] == '\t'))
            ls--;
        int line_start = (ls > ta && p->s[ls - 1] == '\n') || (ls == ta && g->at_line_start);
        size_t j = after;
        while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t' || p->s[j] == '\r'))
            j++;
        if (line_start && (j == p->n || p->s[j] == '\n')) {
            tb = ls;
            after = j < p->n ? j + 1 : j;
        }
    }
    emit_text(p, p->s + ta, tb - ta);
    return after;
}

static void parse_template(struct tparser *p)
{
    struct seg g = {0, 1, 0};
    size_t i = 0;
    while (i < p->n && p->st == BELT_OK) {
        const char *hit = memchr(p->s + i, '{', p->n - i);
        size_t o = hit ? (size_t)(hit - p->s) : p->n;
        if (o + 1 >= p->n || p->s[o + 1] != '{') {
            i = o + 1 <= p->n ? o + 1 : p->n;
            if (!hit)
                break;
            continue;
        }
        if (o > 0 && p->s[o - 1] == '\\') { /* \{{ is a literal {{ */
            before_tag(p, &g, o - 1, o, 0, 0);
            g.trim_next = 0;
            g.at_line_start = 0;
            g.text_a = o; /* the "{{" stays as text */
            i = o + 2;
            continue;
        }
        size_t ca = o + 2;
        int trim_left = ca < p->n && p->s[ca] == '~';
        ca += (size_t)trim_left;
        size_t close = find_close(p->s, ca, p->n);
        if (close >= p->n) {
            terr(p, o, "unclosed tag: no '}}' after this '{{'");
            return;
        }
        size_t cb = close;
        int trim_right = cb > ca && p->s[cb - 1] == '~';
        cb -= (size_t)trim_right;
        int block = is_block_tag(p->s, ca, cb);
        size_t after = before_tag(p, &g, o, close, trim_left, block);
        p->mergeable = (size_t)-1;
        tag(p, o, ca, cb);
        g.text_a = after;
        g.at_line_start = after > 0 && p->s[after - 1] == '\n';
        g.trim_next = trim_right;
        i = after;
    }
    if (p->st == BELT_OK)
        before_tag(p, &g, p->n, p->n, 0, 0);
    if (p->st == BELT_OK && p->depth > 0) {
        size_t k = p->depth - 1;
        while (k > 0 && p->t->nodes[p->stack[k].node].chained)
            k--;
        const struct tnode *blk = &p->t->nodes[p->stack[k].node];
        const char *name = blk->kind == K_IF ? "if" : "each";
        terr(p, p->stack[k].tag_off, "{{#%s}} is never closed (missing {{/%s}})", name, name);
    }
}

/* ==== Public: compile / free =============================================================== */

struct belt_template_params belt__template_default_params(void)
{
    struct belt_template_params p = {0, (size_t)1 << 20, NULL};
    return p;
}

void belt__template_free(struct belt_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_nodes; i++)
        belt__expr_free(t->nodes[i].expr);
    belt_free(t->nodes);
    belt_free(t->strs);
    belt_free((char *)t->params.name);
    belt_free(t);
}

belt_status belt__template_compile(const char *src, size_t len,
                                   const struct belt_template_params *params,
                                   struct belt_template **out, struct belt_error *err)
{
    *out = NULL;
    struct tparser p = {0};
    p.s = src;
    p.n = len;
    p.err = err;
    p.st = BELT_OK;
    p.mergeable = (size_t)-1;
    p.t = belt_calloc(1, sizeof(*p.t));
    if (!p.t)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory compiling a template");
    p.t->params = params ? *params : belt__template_default_params();
    if (!p.t->params.max_output)
        p.t->params.max_output = (size_t)1 << 20;
    if (p.t->params.name) {
        p.t->params.name = belt_strdup(p.t->params.name);
        if (!p.t->params.name) {
            belt_free(p.t);
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory compiling a template");
        }
    }
    if (len > BELT_TEMPLATE_MAX_LEN)
        terr(&p, 0, "template longer than %zu bytes", BELT_TEMPLATE_MAX_LEN);
    else
        parse_template(&p);
    if (p.st != BELT_OK) {
        belt__template_free(p.t);
        return p.st;
    }
    *out = p.t;
    return BELT_OK;
}

/* ==== Rendering ============================================================================ */

struct rctx {
    const struct belt_template *t; /* template */
    struct belt_buf *out;          /* output */
    size_t start;                  /* out->len before the render */
    struct belt_error *err;        /* error detail */
};

static belt_status put(struct rctx *r, const char *s, size_t n)
{
    if (r->out->len - r->start + n > r->t->params.max_output)
        return belt__error_set(r->err, BELT_ERR_TOOBIG, 0, "template output exceeds %zu bytes",
                               r->t->params.max_output);
    belt_status st = belt_buf_append(r->out, s, n);
    if (st == BELT_ERR_TOOBIG)
        return belt__error_set(r->err, st, 0,
                               "template output exceeds the buffer limit of %zu "
                               "bytes",
                               r->out->max);
    if (st != BELT_OK)
        return belt__error_set(r->err, st, 0, "out of memory rendering a template");
    return BELT_OK;
}

static void fmt_number(const struct belt_expr_value *v, char *buf, size_t cap)
{
    if (v->json && json_is_integer(v->json)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v->json));
        return;
    }
    double d = v->number;
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, cap, "%.0f", d);
        return;
    }
    snprintf(buf, cap, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, cap, "%.17g", d);
}

static belt_status put_json(struct rctx *r, const struct belt_expr_value *v);

static belt_status put_json_string(struct rctx *r, const char *s, size_t n)
{
    size_t before = r->out->len;
    belt_status st = belt_buf_append_json_string(r->out, s, n);
    if (st == BELT_OK && r->out->len - r->start > r->t->params.max_output)
        st = BELT_ERR_TOOBIG;
    if (st == BELT_OK)
        return BELT_OK;
    r->out->len = before;
    if (r->out->data)
        r->out->data[before] = '\0';
    if (st == BELT_ERR_TOOBIG)
        return belt__error_set(r->err, st, 0, "template output exceeds %zu bytes",
                               r->t->params.max_output);
    return belt__error_set(r->err, st, 0, "out of memory rendering a template");
}

/* Serialise a record value as compact JSON without allocating (jansson's dumper allocates a
 * loop-detection table for every container). */
static belt_status put_json_tree(struct rctx *r, const json_t *j)
{
    struct belt_expr_value v = belt__expr_from_json(j);
    belt_status st = BELT_OK;
    if (json_is_array(j)) {
        st = put(r, "[", 1);
        for (size_t i = 0; i < json_array_size(j) && st == BELT_OK; i++) {
            st = i ? put(r, ",", 1) : BELT_OK;
            if (st == BELT_OK)
                st = put_json_tree(r, json_array_get(j, i));
        }
        return st == BELT_OK ? put(r, "]", 1) : st;
    }
    if (json_is_object(j)) {
        const char *key;
        const json_t *val;
        int first = 1;
        st = put(r, "{", 1);
        json_object_foreach((json_t *)j, key, val)
        {
            if (st == BELT_OK && !first)
                st = put(r, ",", 1);
            first = 0;
            if (st == BELT_OK)
                st = put_json_string(r, key, strlen(key));
            if (st == BELT_OK)
                st = put(r, ":", 1);
            if (st == BELT_OK)
                st = put_json_tree(r, val);
        }
        return st == BELT_OK ? put(r, "}", 1) : st;
    }
    return put_json(r, &v);
}

static belt_status put_json(struct rctx *r, const struct belt_expr_value *v)
{
    char num[40];
    belt_status st = BELT_OK;
    switch (v->type) {
    case BELT_EXPR_STRING:
        return put_json_string(r, v->str, v->len);
    case BELT_EXPR_NUMBER:
        fmt_number(v, num, sizeof(num));
        return put(r, num, strlen(num));
    case BELT_EXPR_BOOL:
        return put(r, v->boolean ? "true" : "false", v->boolean ? 4 : 5);
    case BELT_EXPR_ARRAY:
        if (!v->json) { /* list literal */
            size_t n = belt__expr_array_size(v);
            st = put(r, "[", 1);
            for (size_t i = 0; i < n && st == BELT_OK; i++) {
                struct belt_expr_value e = belt__expr_array_get(v, i);
                st = i ? put(r, ",", 1) : BELT_OK;
                if (st == BELT_OK)
                    st = put_json(r, &e);
            }
            return st == BELT_OK ? put(r, "]", 1) : st;
        }
        return put_json_tree(r, v->json);
    case BELT_EXPR_OBJECT:
        return put_json_tree(r, v->json);
    default:
        return put(r, "null", 4);
    }
}

static belt_status put_value(struct rctx *r, const struct belt_expr_value *v)
{
    char num[40];
    switch (v->type) {
    case BELT_EXPR_STRING:
        return put(r, v->str, v->len);
    case BELT_EXPR_NUMBER:
        fmt_number(v, num, sizeof(num));
        return put(r, num, strlen(num));
    case BELT_EXPR_BOOL:
        return put(r, v->boolean ? "true" : "false", v->boolean ? 4 : 5);
    case BELT_EXPR_ARRAY:
    case BELT_EXPR_OBJECT:
        return put_json(r, v);
    default:
        return BELT_OK; /* null and missing render as nothing */
    }
}

static belt_status missing_error(struct rctx *r, const struct tnode *x)
{
    const char *name = r->t->params.name;
    return belt__error_set(r->err, BELT_ERR_INVALID, x->col,
                           "%s%sline %d, column %d: '%.*s' is "
                           "missing",
                           name ? name : "", name ? ": " : "", x->line, x->col,
                           (int)BELT_MIN(x->len, 100), r->t->strs + x->off);
}

static belt_status render_range(struct rctx *r, size_t from, size_t to, const json_t *rec,
                                const struct belt_expr_binding *loc);

static belt_status render_each(struct rctx *r, const struct tnode *x, size_t i, const json_t *rec,
                               const struct belt_expr_binding *loc)
{
    struct belt_expr_value list = belt__expr_eval(x->expr, rec, loc);
    if (list.type == BELT_EXPR_MISSING && r->t->params.strict)
        return missing_error(r, x);
    int is_obj = list.type == BELT_EXPR_OBJECT;
    size_t n = is_obj ? json_object_size(list.json) : belt__expr_array_size(&list);
    if (n == 0)
        return render_range(r, x->mid, x->end, rec, loc);
    struct belt_expr_binding b_alias, b_this, b_index, b_first, b_last, b_key;
    const char *alias = NULL;
    char alias_buf[64];
    if (x->alias_len) {
        snprintf(alias_buf, sizeof(alias_buf), "%.*s", (int)x->alias_len,
                 r->t->strs + x->alias_off);
        alias = alias_buf;
    }
    void *it = is_obj ? json_object_iter((json_t *)list.json) : NULL;
    for (size_t k = 0; k < n; k++) {
        struct belt_expr_value item = belt__expr_array_get(&list, k);
        struct belt_expr_value key = {BELT_EXPR_MISSING, 0, 0, NULL, 0, NULL, NULL};
        if (is_obj) {
            item = belt__expr_from_json(json_object_iter_value(it));
            key.type = BELT_EXPR_STRING;
            key.str = json_object_iter_key(it);
            key.len = json_object_iter_key_len(it);
            it = json_object_iter_next((json_t *)list.json, it);
        }
        b_key = (struct belt_expr_binding){"@key", key, loc};
        b_last = (struct belt_expr_binding){
            "@last", {BELT_EXPR_BOOL, k + 1 == n, 0, NULL, 0, NULL, NULL}, &b_key};
        b_first = (struct belt_expr_binding){
            "@first", {BELT_EXPR_BOOL, k == 0, 0, NULL, 0, NULL, NULL}, &b_last};
        b_index = (struct belt_expr_binding){
            "@index", {BELT_EXPR_NUMBER, 0, (double)k, NULL, 0, NULL, NULL}, &b_first};
        b_this = (struct belt_expr_binding){"this", item, &b_index};
        b_alias = (struct belt_expr_binding){alias, item, &b_this};
        belt_status st = render_range(r, i + 1, x->mid, rec, alias ? &b_alias : &b_this);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status render_range(struct rctx *r, size_t from, size_t to, const json_t *rec,
                                const struct belt_expr_binding *loc)
{
    const struct belt_template *t = r->t;
    size_t i = from;
    while (i < to) {
        const struct tnode *x = &t->nodes[i];
        belt_status st = BELT_OK;
        switch ((enum tkind)x->kind) {
        case K_TEXT:
            st = put(r, t->strs + x->off, x->len);
            i++;
            break;
        case K_VALUE:
        case K_JSON: {
            struct belt_expr_value v = belt__expr_eval(x->expr, rec, loc);
            if (v.type == BELT_EXPR_MISSING && t->params.strict)
                return missing_error(r, x);
            st = x->kind == K_JSON ? put_json(r, &v) : put_value(r, &v);
            i++;
            break;
        }
        case K_IF:
            if (belt__expr_test(x->expr, rec, loc))
                st = render_range(r, i + 1, x->mid, rec, loc);
            else
                st = render_range(r, x->mid, x->end, rec, loc);
            i = x->end;
            break;
        default:
            st = render_each(r, x, i, rec, loc);
            i = x->end;
            break;
        }
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

belt_status belt__template_render(const struct belt_template *t, const json_t *record,
                                  const struct belt_expr_binding *locals, struct belt_buf *out,
                                  struct belt_error *err)
{
    struct rctx r = {t, out, out->len, err};
    belt_status st = render_range(&r, 0, t->n_nodes, record, locals);
    if (st != BELT_OK) {
        out->len = r.start;
        if (out->data)
            out->data[r.start] = '\0';
        return st;
    }
    if (!out->data) { /* an empty render still yields a valid C string */
        st = belt_buf_reserve(out, 0);
        if (st != BELT_OK)
            return belt__error_set(err, st, 0, "out of memory rendering a template");
        out->data[0] = '\0';
    }
    return BELT_OK;
}
