/*
 * lines.h — a line reader over a file or stdin with line numbers and a bounded line length:
 * the base of every JSONL/CSV input. Caller-embedded; not thread-safe.
 */
#ifndef BELT_UTIL_LINES_H
#define BELT_UTIL_LINES_H

#include <stdint.h>
#include <stdio.h>

#include "belt.h"
#include "util/buf.h"

struct belt_line_reader {
    FILE *fp;             /* source; closed at deinit unless it is stdin */
    int owns_fp;          /* 1 if we opened fp */
    char *name;           /* file name for messages ("<stdin>"); owned */
    char *chunk;          /* read buffer; owned */
    size_t chunk_len;     /* bytes valid in chunk */
    size_t chunk_pos;     /* next unread byte */
    struct belt_buf line; /* current line (without the newline) */
    int64_t lineno;       /* 1-based number of the current line; 0 before the first */
    int64_t offset;       /* byte offset of the start of the next line */
    int eof;              /* source exhausted */
};

/* Open `path` ("-" = stdin). max_line: longest accepted line in bytes (0: 16 MiB). */
belt_status belt_line_reader_open(struct belt_line_reader *r, const char *path, size_t max_line,
                                  struct belt_error *err);
/* Read the next line into r->line (without "\n" or "\r\n"). Returns BELT_OK and sets *got to 1,
 * or BELT_OK with *got = 0 at end of input; BELT_ERR_TOOBIG names the line number. */
belt_status belt_line_reader_next(struct belt_line_reader *r, int *got, struct belt_error *err);
/* Reposition to byte `offset` of a regular file, counting lines from `lineno` (resume). */
belt_status belt_line_reader_seek(struct belt_line_reader *r, int64_t offset, int64_t lineno,
                                  struct belt_error *err);
void belt_line_reader_deinit(struct belt_line_reader *r);

#endif
