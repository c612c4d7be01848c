/*
 * template.h — prompt templates over a record: text with {{tags}} whose values come from the
 * record through the expression language of expr.h.
 *
 *   Customer {{customer.name}} wrote about order {{items[0].sku}}:
 *   {{#each items}}
 *   - {{@index}}: {{this.title}} ({{json this.tags}})
 *   {{else}}
 *   (no items)
 *   {{/each}}
 *   {{#if fields.refund_usd > 100}}Escalate.{{else if urgent}}Hurry.{{else}}Routine.{{/if}}
 *
 * Tags: {{expr}} (a value: strings raw, numbers as written, arrays/objects as JSON, null and
 * missing as nothing), {{json expr}} (JSON text of the value), {{#if expr}} / {{else if expr}} /
 * {{else}} / {{/if}}, {{#each expr [as name]}} / {{else}} / {{/each}} binding `this`, `@index`,
 * `@first`, `@last` (and `@key` over an object), {{! comment }}; `\{{` writes a literal `{{`;
 * `{{~` and `~}}` trim the whitespace before / after a tag; a block tag alone on its line takes
 * the line with it. The full rules are in docs/lines-kit.md.
 *
 * Compile once, render many times into a caller's bounded belt_buf. Rendering allocates only
 * when the output buffer grows. Templates cannot run code, and output is bounded.
 *
 * Thread rule: a compiled template is immutable; any number of threads may render it at once
 * into their own buffers. Ownership: the template owns copies of everything it needs.
 */
#ifndef BELT_LINE_TEMPLATE_H
#define BELT_LINE_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "belt.h"
#include "line/expr.h"
#include "util/buf.h"

struct belt_template;

struct belt_template_params {
    int strict;        /* 1: a missing value in {{x}} / {{json x}} / {{#each x}} is an error */
    size_t max_output; /* bytes one render may write (0: 1 MiB) */
    const char *name;  /* prefix for messages ("station fields prompt"); NULL: none; copied */
};

#define BELT_TEMPLATE_MAX_LEN   ((size_t)1 << 20) /* longest template text */
#define BELT_TEMPLATE_MAX_DEPTH 32                /* deepest nesting of #if / #each */

/* Defaults: not strict, max_output 1 MiB, no name. */
struct belt_template_params belt__template_default_params(void);

/* Compile src[0..len). A syntax error gives BELT_ERR_INVALID with err->msg
 * "[NAME: ]line L, column C: why" + the offending line + a caret under the character, and
 * err->sub = C. *out is owned by the caller (belt__template_free). */
belt_status belt__template_compile(const char *src, size_t len,
                                   const struct belt_template_params *p, struct belt_template **out,
                                   struct belt_error *err);
void belt__template_free(struct belt_template *t);

/* Render against `record` with optional extra bindings (may be NULL), appending to `out`.
 * Errors: BELT_ERR_INVALID (strict mode: "line L, column C: {{x}}: 'x' is missing"),
 * BELT_ERR_TOOBIG (max_output or out's own limit), BELT_ERR_NOMEM. On error `out` is restored
 * to its length before the call: nothing half-rendered is left behind. */
belt_status belt__template_render(const struct belt_template *t, const json_t *record,
                                  const struct belt_expr_binding *locals, struct belt_buf *out,
                                  struct belt_error *err);

#endif
