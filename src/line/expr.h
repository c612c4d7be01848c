/*
 * expr.h — the `when:` condition language: a small, safe expression language over a record
 * (a jansson object). No code execution, no loops, no assignment; bounded length and nesting.
 *
 *   fields.refund_usd > 100 and intent in ["refund", "chargeback"]
 *   not exists(fields.order_id) or len(items) >= 3
 *   "urgent" in meta.tags and num(amount) >= 1e3
 *
 * Grammar, operators and the typed semantics (a missing field makes every comparison false;
 * values of different types are never equal; no implicit conversion) are in docs/lines-kit.md.
 *
 * Compile once, evaluate many times. Evaluation cannot fail: it allocates nothing and returns
 * a value borrowed from the record or from the compiled expression.
 *
 * Thread rule: a compiled belt_expr is immutable; any number of threads may evaluate it at once
 * (each with its own record). Ownership: the compiled expression owns a copy of its text.
 */
#ifndef BELT_LINE_EXPR_H
#define BELT_LINE_EXPR_H

#include <jansson.h>
#include <stddef.h>

#include "belt.h"

struct belt_expr;

enum belt_expr_type {
    BELT_EXPR_MISSING = 0, /* a path that names nothing */
    BELT_EXPR_NULL = 1,
    BELT_EXPR_BOOL = 2,
    BELT_EXPR_NUMBER = 3,
    BELT_EXPR_STRING = 4,
    BELT_EXPR_ARRAY = 5, /* a record array (json) or a list literal (list) */
    BELT_EXPR_OBJECT = 6 /* a record object (json) */
};

/* A value produced by evaluation. Every pointer is borrowed from the record, the bindings or
 * the compiled expression, and valid as long as those are. */
struct belt_expr_value {
    enum belt_expr_type type; /* kind of value */
    int boolean;              /* BOOL */
    double number;            /* NUMBER */
    const char *str;          /* STRING bytes (not NUL-terminated when from a literal) */
    size_t len;               /* STRING length in bytes */
    const json_t *json;       /* the record value this came from, NULL for literals/computed */
    const void *list;         /* ARRAY from a list literal (internal), else NULL */
};

/* A local name visible to expressions (templates bind `this`, `@index`, loop aliases). Bindings
 * form a list, innermost first; names are compared exactly. All borrowed. */
struct belt_expr_binding {
    const char *name;                     /* "this", "@index", ... */
    struct belt_expr_value value;         /* its value */
    const struct belt_expr_binding *next; /* enclosing binding or NULL */
};

/* A syntax error: 1-based column in code points and the reason, without location. */
struct belt_expr_syntax {
    int column;        /* 1-based column of the offending character */
    size_t offset;     /* its byte offset in the source */
    char message[200]; /* what is wrong */
};

#define BELT_EXPR_MAX_LEN   4096 /* longest expression in bytes */
#define BELT_EXPR_MAX_DEPTH 64   /* deepest nesting of parentheses, lists, not, calls */

/* Compile src[0..len). BELT_ERR_INVALID on a syntax error with err->msg
 * "column C: why" + a line with the (windowed) expression + a line with a caret under the
 * offending character, and err->sub = C; BELT_ERR_NOMEM when out of memory. *out is owned by
 * the caller (belt__expr_free). */
belt_status belt__expr_compile(const char *src, size_t len, struct belt_expr **out,
                               struct belt_error *err);
/* Same, reporting a syntax error into *syn (may be NULL) instead of formatting it; for callers
 * that embed expressions in a larger text (templates). */
belt_status belt__expr_parse(const char *src, size_t len, struct belt_expr **out,
                             struct belt_expr_syntax *syn);
void belt__expr_free(struct belt_expr *e);
/* The source text (NUL-terminated copy). */
const char *belt__expr_source(const struct belt_expr *e);

/* Evaluate against `record` (any JSON value; paths start at it) and `locals` (may be NULL). */
struct belt_expr_value belt__expr_eval(const struct belt_expr *e, const json_t *record,
                                       const struct belt_expr_binding *locals);
/* Evaluate and apply truthiness: 1 or 0. */
int belt__expr_test(const struct belt_expr *e, const json_t *record,
                    const struct belt_expr_binding *locals);
/* Truthiness: missing, null, false, 0, NaN, "", [] and {} are false; everything else true. */
int belt__expr_truthy(const struct belt_expr_value *v);
/* The value of a JSON value (json borrowed). */
struct belt_expr_value belt__expr_from_json(const json_t *j);
/* Number of elements of an ARRAY value, and its i-th element. */
size_t belt__expr_array_size(const struct belt_expr_value *v);
struct belt_expr_value belt__expr_array_get(const struct belt_expr_value *v, size_t i);

/* Write "  <text around offset>\n  <spaces>^" for src[0..len) into out[0..cap): at most ~80
 * characters of context, with "..." where cut, tabs and newlines shown as spaces. */
void belt__expr_caret(const char *src, size_t len, size_t offset, char *out, size_t cap);
/* 1-based column (in code points) of byte `offset` in src. */
int belt__expr_column(const char *src, size_t offset);

#endif
