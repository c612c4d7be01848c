/*
 * arith.c — the arithmetic an answer states, checked (see arith.h).
 *
 * A small lexer turns text into numbers, operators and "other" tokens, one line at a time; the
 * calculations are the operator runs on both sides of each `=`, evaluated by a recursive-descent
 * parser over the tokens (usual precedence, unary minus, parentheses nested at most 32 deep).
 */
#include "belt_config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/arith.h"

#define MAX_LINE_TOKENS  256 /* a longer line is checked in pieces of this many tokens */
#define MAX_TASK_NUMBERS 64
#define MAX_DEPTH        32

enum tok_kind {
    T_NUM = 0,  /* a number (v, pct) */
    T_OP = 1,   /* + - * / ( ) = */
    T_X = 2,    /* a lone x or X: multiplication between numbers, else a word */
    T_WORD = 3, /* anything else: words, punctuation */
    T_BREAK = 4 /* end of a line */
};

struct tok {
    enum tok_kind kind;
    char op;       /* T_OP: the operator, ASCII */
    int pct;       /* T_NUM: followed by % */
    double v;      /* T_NUM: value */
    const char *s; /* source text */
    size_t n;      /* its bytes */
};

struct lexer {
    const char *s;
    size_t i, n;
    int skip_notes; /* 1: calculator annotations <<...>> are skipped like spaces */
};

/* Length of a <<...>> annotation starting at s[i] (no <, > or newline inside), 0 if none. */
static size_t note_len(const char *s, size_t n, size_t i)
{
    if (i + 1 >= n || s[i] != '<' || s[i + 1] != '<')
        return 0;
    for (size_t j = i + 2; j + 1 < n; j++) {
        if (s[j] == '>' && s[j + 1] == '>')
            return j + 2 - i;
        if (s[j] == '<' || s[j] == '>' || s[j] == '\n')
            return 0;
    }
    return 0;
}

size_t belt__arith_scan_digits(const char *s, size_t n, size_t i, char *num, size_t cap)
{
    size_t j = i, k = 0;
    if (cap < 2 || j >= n || !isdigit((unsigned char)s[j])) {
        if (cap)
            num[0] = '\0';
        return 0;
    }
    while (j < n && k + 2 < cap) {
        if (isdigit((unsigned char)s[j])) {
            num[k++] = s[j++];
        } else if (s[j] == ',' && j + 3 < n && isdigit((unsigned char)s[j + 1]) &&
                   isdigit((unsigned char)s[j + 2]) && isdigit((unsigned char)s[j + 3]) &&
                   (j + 4 >= n || !isdigit((unsigned char)s[j + 4]))) {
            j++; /* thousands separator */
        } else {
            break;
        }
    }
    if (j + 1 < n && s[j] == '.' && isdigit((unsigned char)s[j + 1]) && k + 2 < cap) {
        num[k++] = s[j++];
        while (j < n && isdigit((unsigned char)s[j]) && k + 1 < cap)
            num[k++] = s[j++];
    }
    num[k] = '\0';
    return j - i;
}

/* A number from s[i] (a digit): its length and value. Digits beyond a sane length are read but
 * not counted in the value's precision. */
static size_t lex_number(const char *s, size_t n, size_t i, double *v)
{
    char buf[64];
    size_t j = i + belt__arith_scan_digits(s, n, i, buf, sizeof(buf));
    while (j < n && isdigit((unsigned char)s[j]))
        j++;
    *v = strtod(buf, NULL);
    return j - i;
}

/* The next token; 0 at the end. */
static int lex_next(struct lexer *lx, struct tok *t)
{
    const char *s = lx->s;
    size_t n = lx->n;
    for (;;) {
        if (lx->i >= n)
            return 0;
        unsigned char c = (unsigned char)s[lx->i];
        size_t note = lx->skip_notes ? note_len(s, n, lx->i) : 0;
        if (note) {
            lx->i += note;
            continue;
        }
        if (c == '\n') {
            *t = (struct tok){.kind = T_BREAK, .s = s + lx->i, .n = 1};
            lx->i++;
            return 1;
        }
        if (isspace(c)) {
            lx->i++;
            continue;
        }
        break;
    }
    size_t i = lx->i;
    unsigned char c = (unsigned char)s[i];
    memset(t, 0, sizeof(*t));
    t->s = s + i;
    if (c == '$' && i + 1 < n && isdigit((unsigned char)s[i + 1])) {
        i++;
        c = (unsigned char)s[i];
    }
    if (isdigit(c)) {
        t->kind = T_NUM;
        i += lex_number(s, n, i, &t->v);
        if (i < n && s[i] == '%') {
            t->pct = 1;
            i++;
        }
    } else if (strchr("+-*/()=", c) && c) {
        t->kind = T_OP;
        t->op = (char)c;
        i++;
    } else if (c == 0xC3 && i + 1 < n &&
               ((unsigned char)s[i + 1] == 0x97 || (unsigned char)s[i + 1] == 0xB7)) { /* × ÷ */
        t->kind = T_OP;
        t->op = (unsigned char)s[i + 1] == 0x97 ? '*' : '/';
        i += 2;
    } else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x88 &&
               (unsigned char)s[i + 2] == 0x92) { /* − */
        t->kind = T_OP;
        t->op = '-';
        i += 3;
    } else if (isalpha(c)) {
        size_t j = i;
        while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_'))
            j++;
        t->kind = j - i == 1 && (c == 'x' || c == 'X') ? T_X : T_WORD;
        i = j;
    } else if (c >= 0x80) { /* one UTF-8 sequence */
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        t->kind = T_WORD;
    } else {
        t->kind = T_WORD;
        i++;
    }
    t->n = (size_t)(s + i - t->s);
    lx->i = i;
    return 1;
}

/* ---- evaluation ----------------------------------------------------------------------------- */

struct parser {
    const struct tok *t;
    size_t i, n;
    int depth;
};

static int is_op(const struct parser *p, char op)
{
    return p->i < p->n && p->t[p->i].kind == T_OP && p->t[p->i].op == op;
}

static double p_sum(struct parser *p);

static double p_unary(struct parser *p)
{
    if (p->i >= p->n || p->depth > MAX_DEPTH)
        return NAN;
    const struct tok *t = &p->t[p->i];
    if (is_op(p, '-')) {
        p->i++;
        p->depth++;
        double v = -p_unary(p);
        p->depth--;
        return v;
    }
    if (is_op(p, '(')) {
        p->i++;
        p->depth++;
        double v = p_sum(p);
        p->depth--;
        if (!is_op(p, ')'))
            return NAN;
        p->i++;
        return v;
    }
    if (t->kind == T_NUM) {
        p->i++;
        return t->pct ? t->v / 100 : t->v;
    }
    return NAN;
}

/* A left-associative chain of one precedence level: level 1 is * and / over unary operands,
 * level 0 is + and - over level 1. */
static double p_level(struct parser *p, int level)
{
    const char *ops = level ? "*/" : "+-";
    double v = level ? p_unary(p) : p_level(p, 1);
    while (!isnan(v) && (is_op(p, ops[0]) || is_op(p, ops[1]))) {
        char op = p->t[p->i++].op;
        double r = level ? p_unary(p) : p_level(p, 1);
        if (isnan(r) || (op == '/' && r == 0))
            return NAN;
        v = op == '*' ? v * r : op == '/' ? v / r : op == '+' ? v + r : v - r;
    }
    return v;
}

static double p_sum(struct parser *p)
{
    return p_level(p, 0);
}

/* The value of t[0..n) as one whole expression, NAN if it is not one. */
static double evaluate(const struct tok *t, size_t n)
{
    struct parser p = {t, 0, n, 0};
    double v = p_sum(&p);
    return p.i == n && isfinite(v) ? v : NAN;
}

static int close_to(double v, double c)
{
    return fabs(v - c) <= fmax(0.011, 0.001 * fabs(c));
}

static int in_expr(const struct tok *t)
{
    return t->kind == T_NUM || (t->kind == T_OP && t->op != '=');
}

static int has_pct(const struct tok *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].kind == T_NUM && t[i].pct)
            return 1;
    return 0;
}

/* x multiplies between a number or ')' and a number or '('; elsewhere it is a word. */
static void resolve_x(struct tok *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].kind != T_X)
            continue;
        int after =
            i > 0 && (t[i - 1].kind == T_NUM || (t[i - 1].kind == T_OP && t[i - 1].op == ')'));
        int before =
            i + 1 < n && (t[i + 1].kind == T_NUM || (t[i + 1].kind == T_OP && t[i + 1].op == '('));
        if (after && before) {
            t[i].kind = T_OP;
            t[i].op = '*';
        } else {
            t[i].kind = T_WORD;
        }
    }
}

/* The calculations around each `=` of one line's tokens. */
static void check_tokens(struct tok *t, size_t n, struct belt__arith *out)
{
    resolve_x(t, n);
    for (size_t k = 0; k < n; k++) {
        if (t[k].kind != T_OP || t[k].op != '=')
            continue;
        size_t la = k, rb = k + 1;
        while (la > 0 && in_expr(&t[la - 1]))
            la--;
        while (rb < n && in_expr(&t[rb]))
            rb++;
        size_t lb = k, ra = k + 1;
        while (la < lb && t[la].kind == T_OP && strchr("+*/)", t[la].op))
            la++; /* a run that starts mid-expression ("... of 3 + 4 = 7" keeps "3 + 4") */
        while (rb > ra && t[rb - 1].kind == T_OP && strchr("+-*/(", t[rb - 1].op))
            rb--; /* "= 12 -" at a line's end */
        if (la == lb || ra == rb)
            continue;
        int pct = has_pct(t + ra, rb - ra);
        double c = evaluate(t + ra, rb - ra);
        if (!isnan(c) && !pct && out->n_results < BELT__ARITH_MAX_RESULTS)
            out->results[out->n_results++] = c;
        if ((lb - la == 1 && rb - ra == 1) || pct || has_pct(t + la, lb - la))
            continue;
        double v = evaluate(t + la, lb - la);
        if (isnan(v) || isnan(c))
            continue;
        out->checked++;
        if (close_to(v, c))
            continue;
        if (!out->wrong++) {
            const char *from = t[la].s, *to = t[rb - 1].s + t[rb - 1].n;
            snprintf(out->first_wrong, sizeof(out->first_wrong), "%.*s (is %.10g)",
                     (int)BELT_MIN((size_t)(to - from), (size_t)64), from, v);
        }
    }
}

/* Lex s[0..n) and check it line by line. */
static void check_text(const char *s, size_t n, int skip_notes, struct belt__arith *out)
{
    struct lexer lx = {s, 0, n, skip_notes};
    struct tok line[MAX_LINE_TOKENS];
    size_t k = 0;
    struct tok t;
    for (;;) {
        int more = lex_next(&lx, &t);
        if (more && t.kind != T_BREAK)
            line[k++] = t;
        if (!more || t.kind == T_BREAK || k == MAX_LINE_TOKENS) {
            check_tokens(line, k, out);
            k = 0;
        }
        if (!more)
            return;
    }
}

void belt__arith_check(const char *text, size_t len, struct belt__arith *out)
{
    memset(out, 0, sizeof(*out));
    if (!text)
        return;
    for (size_t i = 0; i < len; i++) { /* calculator annotations, each on its own */
        size_t note = note_len(text, len, i);
        if (note) {
            check_text(text + i + 2, note - 4, 0, out);
            i += note - 1;
        }
    }
    check_text(text, len, 1, out);
}

int belt__arith_is_result(const struct belt__arith *a, double v)
{
    for (size_t i = 0; i < a->n_results; i++)
        if (close_to(v, a->results[i]))
            return 1;
    return 0;
}

int belt__arith_unused(const char *task, size_t task_len, const char *answer, size_t answer_len,
                       const struct belt__arith *a, char *first, size_t cap)
{
    struct {
        double v;
        const char *s;
        size_t n;
        int used;
    } num[MAX_TASK_NUMBERS];
    size_t n_num = 0;
    struct tok t;
    struct lexer lx = {task ? task : "", 0, task ? task_len : 0, 0};
    while (lex_next(&lx, &t) && n_num < MAX_TASK_NUMBERS) {
        if (t.kind != T_NUM)
            continue;
        size_t i = 0;
        while (i < n_num && num[i].v != t.v)
            i++;
        if (i == n_num) {
            num[n_num].v = t.v;
            num[n_num].s = t.s;
            num[n_num].n = t.n;
            num[n_num].used = 0;
            n_num++;
        }
    }
    for (size_t i = 0; a && i < n_num; i++)
        for (size_t j = 0; j < a->n_results && !num[i].used; j++)
            num[i].used = a->results[j] == num[i].v;
    struct lexer la = {answer ? answer : "", 0, answer ? answer_len : 0, 0};
    while (lex_next(&la, &t))
        if (t.kind == T_NUM)
            for (size_t i = 0; i < n_num; i++)
                num[i].used |= num[i].v == t.v;
    int unused = 0;
    if (cap)
        first[0] = '\0';
    for (size_t i = 0; i < n_num; i++) {
        if (num[i].used)
            continue;
        if (!unused++ && cap)
            snprintf(first, cap, "%.*s", (int)BELT_MIN(num[i].n, (size_t)32), num[i].s);
    }
    return unused;
}

int belt__arith_number(const char *s, size_t len, double *out)
{
    size_t i = 0, e = len;
    while (i < e && isspace((unsigned char)s[i]))
        i++;
    while (e > i && isspace((unsigned char)s[e - 1]))
        e--;
    int neg = 0;
    if (i < e && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i < e && s[i] == '$')
        i++;
    if (i >= e || !isdigit((unsigned char)s[i]))
        return 0;
    double v;
    size_t w = lex_number(s, e, i, &v);
    if (i + w != e)
        return 0;
    *out = neg ? -v : v;
    return 1;
}
