/*
 * csv.h — RFC 4180 CSV reader producing one jansson object per record, on top of util/lines.
 *
 *   struct belt_csv_reader *r;
 *   belt_csv_open("in.csv", NULL, &r, &err);            // reads the header row
 *   for (;;) {
 *       json_t *rec;
 *       st = belt_csv_next(r, &rec, &err);
 *       if (st == BELT_ERR_FORMAT) { report(err.msg); continue; }   // "in.csv:17: ..."
 *       if (st != BELT_OK || !rec) break;
 *       ... json_decref(rec);
 *   }
 *   belt_csv_close(r);
 *
 * Rules: fields separated by the delimiter; a field that starts with `"` is quoted and may hold
 * delimiters, `""` (an escaped quote) and line breaks (kept as they are in the file: LF or
 * CRLF); records end at LF or CRLF; a UTF-8 byte order mark before the header is skipped; blank
 * lines between records are skipped; a quote inside an unquoted field is kept literally; any
 * character other than a delimiter or the end of the line after a closing quote is an error.
 * Every value is a string unless `infer_numbers` is set (then an unquoted field written as a JSON
 * number becomes a number; "007" stays a string).
 *
 * A bad record is reported as BELT_ERR_FORMAT naming file, line and field, and the reader stays
 * usable: the next call continues after the bad record (after an unterminated quote, from the
 * line after the one where the quote opened, when the input can seek).
 *
 * Thread rule: a reader is used by one thread at a time. Ownership: records returned are owned
 * by the caller (json_decref).
 */
#ifndef BELT_UTIL_CSV_H
#define BELT_UTIL_CSV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"

struct belt_csv_reader;

struct belt_csv_params {
    char delimiter;    /* field separator: ',' (default), ';', '\t', '|' ... */
    int header;        /* 1 (default): the first record names the columns; 0: col1, col2, ... */
    int infer_numbers; /* 1: unquoted JSON-number fields become numbers (default 0) */
    int allow_ragged;  /* 1: a record with fewer fields than columns omits the missing keys */
    size_t max_record; /* longest record in bytes, quotes and line breaks included (0: 16 MiB) */
    size_t max_fields; /* most fields in one record (0: 4096) */
};

struct belt_csv_params belt_csv_default_params(void);

/* Open `path` ("-" = stdin) and read the header row when params->header is set. A header with
 * an empty or duplicate column name is BELT_ERR_FORMAT. p may be NULL (defaults). *out is owned
 * by the caller (belt_csv_close). An empty file gives a reader with no columns and no records. */
belt_status belt_csv_open(const char *path, const struct belt_csv_params *p,
                          struct belt_csv_reader **out, struct belt_error *err);
/* Next record as an object (column name -> value, in column order), or *obj = NULL at the end.
 * BELT_ERR_FORMAT for a bad record (skipped; call again to continue), BELT_ERR_IO,
 * BELT_ERR_NOMEM. */
belt_status belt_csv_next(struct belt_csv_reader *r, json_t **obj, struct belt_error *err);
/* First line of the record last returned or rejected (1-based). */
int64_t belt_csv_lineno(const struct belt_csv_reader *r);
/* Byte offset in the file just after the record last returned (for checkpoints). */
int64_t belt_csv_offset(const struct belt_csv_reader *r);
/* The columns (borrowed). */
size_t belt_csv_n_columns(const struct belt_csv_reader *r);
const char *belt_csv_column(const struct belt_csv_reader *r, size_t i);
void belt_csv_close(struct belt_csv_reader *r);

#endif
