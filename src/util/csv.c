/*
 * csv.c — RFC 4180 CSV reader; see csv.h.
 *
 * Records are parsed line by line (util/lines) with a four-state machine; field bytes go into
 * one reusable buffer with (offset, length) per field, so a record costs no allocation beyond
 * the JSON object it becomes. A quoted field that spans lines gets the line's own terminator
 * back (LF or CRLF, recovered from the reader's byte offsets).
 */
#include "belt_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/csv.h"
#include "util/error.h"
#include "util/lines.h"
#include "util/utf8.h"

struct field {
    size_t off; /* start in data */
    size_t len; /* bytes */
    int quoted; /* the field was quoted */
};

struct belt_csv_reader {
    struct belt_line_reader lr; /* physical lines */
    struct belt_csv_params p;   /* effective parameters */
    char **cols;                /* column names; owned */
    size_t n_cols;              /* count */
    struct belt_buf data;       /* field bytes of the current record */
    struct field *f;            /* fields of the current record; owned */
    size_t n_f;                 /* count */
    size_t cap_f;               /* allocated */
    int64_t rec_line;           /* first line of the current record */
    int64_t after_first;        /* byte offset after the record's first line (resync point) */
    int64_t end_offset;         /* byte offset after the last record returned */
    int seekable;               /* the input is a regular file */
    int started;                /* the first line was read (BOM handled) */
    int term;                   /* bytes of the current line's terminator (0, 1 or 2) */
};

enum { S_START, S_UNQUOTED, S_QUOTED, S_QUOTE };

struct belt_csv_params belt_csv_default_params(void)
{
    struct belt_csv_params p = {',', 1, 0, 0, (size_t)16 << 20, 4096};
    return p;
}

static int cp_column(const char *s, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off; i++)
        col += ((unsigned char)s[i] & 0xC0) != 0x80;
    return col;
}

static belt_status nomem(struct belt_error *err)
{
    return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory reading CSV");
}

static belt_status field_begin(struct belt_csv_reader *r, int quoted, struct belt_error *err)
{
    if (r->n_f == r->p.max_fields)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: more than %zu fields", r->lr.name,
                               (long long)r->lr.lineno, r->p.max_fields);
    if (r->n_f == r->cap_f) {
        size_t cap = r->cap_f ? r->cap_f * 2 : 16;
        struct field *f = belt_realloc(r->f, cap * sizeof(*f));
        if (!f)
            return nomem(err);
        r->f = f;
        r->cap_f = cap;
    }
    r->f[r->n_f].off = r->data.len;
    r->f[r->n_f].len = 0;
    r->f[r->n_f].quoted = quoted;
    r->n_f++;
    return BELT_OK;
}

static belt_status put(struct belt_csv_reader *r, const char *s, size_t n, struct belt_error *err)
{
    if (n == 0)
        return BELT_OK;
    belt_status st = belt_buf_append(&r->data, s, n);
    if (st == BELT_ERR_TOOBIG)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "%s:%lld: record longer than %zu bytes (an unterminated quote?)",
                               r->lr.name, (long long)r->rec_line, r->p.max_record);
    if (st != BELT_OK)
        return nomem(err);
    r->f[r->n_f - 1].len += n;
    return BELT_OK;
}

/* Feed one physical line s[0..n) to the state machine. */
static belt_status parse_line(struct belt_csv_reader *r, const char *s, size_t n, int *state,
                              struct belt_error *err)
{
    const char delim = r->p.delimiter;
    size_t i = 0;
    belt_status st = BELT_OK;
    while (i < n && st == BELT_OK) {
        switch (*state) {
        case S_START:
            st = field_begin(r, s[i] == '"', err);
            *state = s[i] == '"' ? S_QUOTED : S_UNQUOTED;
            i += s[i] == '"';
            break;
        case S_UNQUOTED: {
            const char *d = memchr(s + i, delim, n - i);
            size_t e = d ? (size_t)(d - s) : n;
            st = put(r, s + i, e - i, err);
            i = e;
            if (d && st == BELT_OK) {
                i++;
                *state = S_START;
                if (i == n) /* a delimiter at the end: one more, empty field */
                    st = field_begin(r, 0, err);
            }
            break;
        }
        case S_QUOTED: {
            const char *q = memchr(s + i, '"', n - i);
            size_t e = q ? (size_t)(q - s) : n;
            st = put(r, s + i, e - i, err);
            i = e + (q != NULL);
            if (q)
                *state = S_QUOTE;
            break;
        }
        default: /* S_QUOTE: after a quote inside a quoted field */
            if (s[i] == '"') {
                st = put(r, "\"", 1, err);
                *state = S_QUOTED;
                i++;
            } else if (s[i] == delim) {
                i++;
                *state = S_START;
                if (i == n)
                    st = field_begin(r, 0, err);
            } else {
                return belt__error_set(
                    err, BELT_ERR_FORMAT, 0,
                    "%s:%lld: column %d: unexpected character '%c' after the closing quote of "
                    "field %zu (a quote inside a quoted field must be doubled: \"\")",
                    r->lr.name, (long long)r->lr.lineno, cp_column(s, i),
                    (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?', r->n_f);
            }
            break;
        }
    }
    return st;
}

/* After a record that ran away (unterminated quote), continue from the line after the one
 * where it started, when the input allows seeking. */
static void resync(struct belt_csv_reader *r)
{
    if (r->seekable && r->after_first > 0)
        belt_line_reader_seek(&r->lr, r->after_first, r->rec_line, NULL);
}

/* Next physical line, noting its terminator length (LF: 1, CRLF: 2, none: 0). */
static belt_status next_line(struct belt_csv_reader *r, int *got, struct belt_error *err)
{
    int64_t begin = r->lr.offset;
    belt_status st = belt_line_reader_next(&r->lr, got, err);
    if (st == BELT_OK && *got)
        r->term = (int)(r->lr.offset - begin - (int64_t)r->lr.line.len);
    /* The reader's limit exceeds any single read chunk, so a genuine over-long line always
     * consumes input first; a "too long" that consumed nothing was an allocation failure. */
    if (st == BELT_ERR_TOOBIG && r->lr.offset == begin)
        return nomem(err);
    return st;
}

/* Read the next non-blank line; *got = 0 at the end. Over-long lines are skipped with an
 * error. */
static belt_status first_line(struct belt_csv_reader *r, int *got, struct belt_error *err)
{
    for (;;) {
        belt_status st = next_line(r, got, err);
        if (st == BELT_ERR_TOOBIG) {
            int64_t line = r->lr.lineno + 1;
            int more = 1;
            do /* drop the rest of the line */
                st = next_line(r, &more, err);
            while (st == BELT_ERR_TOOBIG);
            if (st == BELT_ERR_NOMEM)
                return st;
            r->rec_line = line;
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: record longer than %zu bytes",
                                   r->lr.name, (long long)line, r->p.max_record);
        }
        if (st != BELT_OK || !*got)
            return st;
        struct belt_buf *l = &r->lr.line;
        if (!r->started) {
            r->started = 1;
            if (l->len >= 3 && memcmp(l->data, "\xEF\xBB\xBF", 3) == 0) {
                memmove(l->data, l->data + 3, l->len - 2);
                l->len -= 3;
            }
        }
        if (l->len > 0)
            return BELT_OK;
    }
}

/* Read one record into r->f / r->data; *got = 0 at the end of input. */
static belt_status read_record(struct belt_csv_reader *r, int *got, struct belt_error *err)
{
    belt_buf_reset(&r->data);
    r->n_f = 0;
    belt_status st = first_line(r, got, err);
    if (st != BELT_OK || !*got)
        return st;
    r->rec_line = r->lr.lineno;
    r->after_first = r->lr.offset;
    int state = S_START;
    for (;;) {
        st = parse_line(r, r->lr.line.data, r->lr.line.len, &state, err);
        if (st != BELT_OK || state != S_QUOTED)
            break;
        /* The quoted field goes on: put back the line break the reader removed. */
        st = put(r, r->term == 2 ? "\r\n" : "\n", r->term == 2 ? 2 : 1, err);
        int more = 0;
        if (st == BELT_OK)
            st = next_line(r, &more, err);
        if (st == BELT_ERR_TOOBIG)
            st = belt__error_set(err, BELT_ERR_FORMAT, 0,
                                 "%s:%lld: record longer than %zu bytes (an unterminated quote?)",
                                 r->lr.name, (long long)r->rec_line, r->p.max_record);
        if (st == BELT_OK && !more)
            st = belt__error_set(err, BELT_ERR_FORMAT, 0,
                                 "%s:%lld: unterminated quoted field: field %zu never closes",
                                 r->lr.name, (long long)r->rec_line, r->n_f);
        if (st != BELT_OK)
            break;
    }
    if (st == BELT_ERR_FORMAT && state == S_QUOTED)
        resync(r);
    return st;
}

/* Strict JSON number syntax (no leading zeros); 1 if s[0..n) is one, *is_int when integral. */
static int json_number_syntax(const char *s, size_t n, int *is_int)
{
    size_t i = 0;
    *is_int = 1;
    if (i < n && s[i] == '-')
        i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d0 || (s[d0] == '0' && i - d0 > 1))
        return 0;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        *is_int = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f0)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        *is_int = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return 0;
    }
    return i == n && n < 64;
}

/* The JSON value of one field: a string, or a number when inferred. NULL when out of memory. */
static json_t *field_value(const struct belt_csv_reader *r, const struct field *f)
{
    const char *s = r->data.data ? r->data.data + f->off : "";
    int is_int = 0;
    if (r->p.infer_numbers && !f->quoted && json_number_syntax(s, f->len, &is_int)) {
        char buf[64];
        memcpy(buf, s, f->len);
        buf[f->len] = '\0';
        errno = 0;
        if (is_int) {
            long long v = strtoll(buf, NULL, 10);
            if (errno == 0)
                return json_integer(v);
            errno = 0;
        }
        double d = strtod(buf, NULL);
        if (errno == 0)
            return json_real(d);
    }
    return json_stringn_nocheck(s, f->len);
}

static belt_status make_columns(struct belt_csv_reader *r, int from_header, struct belt_error *err)
{
    r->cols = belt_calloc(r->n_f ? r->n_f : 1, sizeof(*r->cols));
    if (!r->cols)
        return nomem(err);
    for (size_t i = 0; i < r->n_f; i++) {
        const struct field *f = &r->f[i];
        char gen[32];
        const char *name = gen;
        size_t len;
        if (from_header) {
            name = r->data.data ? r->data.data + f->off : "";
            len = f->len;
        } else {
            len = (size_t)snprintf(gen, sizeof(gen), "col%zu", i + 1);
        }
        if (len == 0 || memchr(name, '\0', len))
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: column %zu has %s name",
                                   r->lr.name, (long long)r->rec_line, i + 1,
                                   len ? "an invalid (NUL byte)" : "an empty");
        if (!belt_utf8_valid(name, len, NULL))
            return belt__error_set(err, BELT_ERR_FORMAT, 0,
                                   "%s:%lld: column %zu: name is not "
                                   "valid UTF-8",
                                   r->lr.name, (long long)r->rec_line, i + 1);
        for (size_t j = 0; j < r->n_cols; j++)
            if (strlen(r->cols[j]) == len && memcmp(r->cols[j], name, len) == 0)
                return belt__error_set(err, BELT_ERR_FORMAT, 0,
                                       "%s:%lld: columns %zu and %zu have the same name \"%s\"",
                                       r->lr.name, (long long)r->rec_line, j + 1, i + 1,
                                       r->cols[j]);
        r->cols[i] = belt_strndup(name, len);
        if (!r->cols[i])
            return nomem(err);
        r->n_cols = i + 1;
    }
    return BELT_OK;
}

/* Turn the parsed fields into an object. */
static belt_status build(struct belt_csv_reader *r, json_t **out, struct belt_error *err)
{
    if (r->n_f > r->n_cols || (r->n_f < r->n_cols && !r->p.allow_ragged))
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: %zu field%s, expected %zu",
                               r->lr.name, (long long)r->rec_line, r->n_f, r->n_f == 1 ? "" : "s",
                               r->n_cols);
    for (size_t i = 0; i < r->n_f; i++) {
        size_t bad = 0;
        if (!belt_utf8_valid(r->data.data ? r->data.data + r->f[i].off : "", r->f[i].len, &bad))
            return belt__error_set(err, BELT_ERR_FORMAT, 0,
                                   "%s:%lld: field %zu (%s): invalid UTF-8 at byte %zu", r->lr.name,
                                   (long long)r->rec_line, i + 1, r->cols[i], bad + 1);
    }
    json_t *obj = json_object();
    if (!obj)
        return nomem(err);
    for (size_t i = 0; i < r->n_f; i++) {
        json_t *v = field_value(r, &r->f[i]);
        if (!v || json_object_set_new_nocheck(obj, r->cols[i], v) != 0) {
            json_decref(obj);
            return nomem(err);
        }
    }
    *out = obj;
    return BELT_OK;
}

/* ==== Public =============================================================================== */

belt_status belt_csv_open(const char *path, const struct belt_csv_params *p,
                          struct belt_csv_reader **out, struct belt_error *err)
{
    *out = NULL;
    struct belt_csv_reader *r = belt_calloc(1, sizeof(*r));
    if (!r)
        return nomem(err);
    r->p = p ? *p : belt_csv_default_params();
    if (!r->p.delimiter)
        r->p.delimiter = ',';
    if (!r->p.max_record)
        r->p.max_record = (size_t)16 << 20;
    if (!r->p.max_fields)
        r->p.max_fields = 4096;
    belt_buf_init(&r->data, r->p.max_record);
    belt_status st = BELT_OK;
    if (r->p.delimiter == '"' || r->p.delimiter == '\n' || r->p.delimiter == '\r') {
        st = belt__error_set(err, BELT_ERR_INVALID, 0,
                             "CSV delimiter cannot be a quote or a line "
                             "break");
        goto fail;
    }
    /* The line reader may hold a little more than one record so that it always progresses. */
    st = belt_line_reader_open(&r->lr, path, r->p.max_record + 65536, err);
    if (st != BELT_OK)
        goto fail;
    struct stat sb;
    r->seekable = r->lr.owns_fp && fstat(fileno(r->lr.fp), &sb) == 0 && S_ISREG(sb.st_mode);
    if (r->p.header) {
        int got = 0;
        st = read_record(r, &got, err);
        if (st == BELT_OK && got)
            st = make_columns(r, 1, err);
        if (st != BELT_OK) {
            belt__error_prefix(err, "%s", "header: ");
            goto fail;
        }
        r->end_offset = r->lr.offset;
    }
    *out = r;
    return BELT_OK;
fail:
    belt_csv_close(r);
    return st;
}

belt_status belt_csv_next(struct belt_csv_reader *r, json_t **obj, struct belt_error *err)
{
    *obj = NULL;
    int got = 0;
    belt_status st = read_record(r, &got, err);
    if (st != BELT_OK || !got)
        return st;
    if (!r->cols && !r->p.header) {
        st = make_columns(r, 0, err);
        if (st != BELT_OK)
            return st;
    }
    st = build(r, obj, err);
    if (st == BELT_OK)
        r->end_offset = r->lr.offset;
    return st;
}

int64_t belt_csv_lineno(const struct belt_csv_reader *r)
{
    return r->rec_line;
}

int64_t belt_csv_offset(const struct belt_csv_reader *r)
{
    return r->end_offset;
}

size_t belt_csv_n_columns(const struct belt_csv_reader *r)
{
    return r->n_cols;
}

const char *belt_csv_column(const struct belt_csv_reader *r, size_t i)
{
    return i < r->n_cols ? r->cols[i] : NULL;
}

void belt_csv_close(struct belt_csv_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_cols; i++)
        belt_free(r->cols[i]);
    belt_free(r->cols);
    belt_free(r->f);
    belt_buf_deinit(&r->data);
    belt_line_reader_deinit(&r->lr);
    belt_free(r);
}
