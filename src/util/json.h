/*
 * json.h — glue over jansson: parsing with located errors, JSONL input, typed field access,
 * serialisation into a belt_buf. jansson allocates through belt_malloc (set by
 * belt_global_init).
 */
#ifndef BELT_UTIL_JSON_H
#define BELT_UTIL_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "belt.h"
#include "util/buf.h"
#include "util/lines.h"

/* Parse s[0..n) as one JSON value. Errors: "NAME:LINE:COL: invalid JSON: why" (lineno > 0
 * gives the line of a JSONL file; the column is jansson's), or invalid UTF-8 with its byte. */
belt_status belt_json_parse(const char *s, size_t n, const char *name, int64_t lineno,
                            json_t **out, struct belt_error *err);

/* JSONL reader: one JSON object per non-blank line. */
struct belt_jsonl_reader {
    struct belt_line_reader lr; /* underlying lines */
};

belt_status belt_jsonl_open(struct belt_jsonl_reader *r, const char *path,
                            struct belt_error *err);
/* Next object (owned by the caller: json_decref), or *obj = NULL at the end. Blank lines are
 * skipped. A line that is not valid JSON or not an object is BELT_ERR_FORMAT naming the line;
 * the reader stays usable, so callers may skip bad lines and continue. */
belt_status belt_jsonl_next(struct belt_jsonl_reader *r, json_t **obj, struct belt_error *err);
/* Line number of the object last returned. */
int64_t belt_jsonl_lineno(const struct belt_jsonl_reader *r);
void belt_jsonl_close(struct belt_jsonl_reader *r);

/* Field access: NULL / the default when absent or of another type. Results are borrowed. */
const char *belt_json_str(const json_t *obj, const char *key);
double belt_json_num(const json_t *obj, const char *key, double dflt);
int64_t belt_json_int(const json_t *obj, const char *key, int64_t dflt);
int belt_json_bool(const json_t *obj, const char *key, int dflt);

/* Append the compact serialisation of v to b (jansson flags, e.g. JSON_COMPACT|JSON_SORT_KEYS). */
belt_status belt_json_dump_buf(const json_t *v, size_t flags, struct belt_buf *b);
/* Serialise to a new NUL-terminated string (caller frees with belt_free); NULL on OOM. */
char *belt_json_dumps(const json_t *v, size_t flags);

#endif
