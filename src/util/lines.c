/*
 * lines.c — buffered line reader; see lines.h. Reads 64 KiB chunks and scans them with memchr,
 * so long files stream at disk speed without one allocation per line.
 */
#include "belt_config.h"

#include <errno.h>
#include <string.h>

#include "util/error.h"
#include "util/lines.h"

#define CHUNK_SIZE 65536

belt_status belt_line_reader_open(struct belt_line_reader *r, const char *path, size_t max_line,
                                  struct belt_error *err)
{
    memset(r, 0, sizeof(*r));
    belt_buf_init(&r->line, max_line ? max_line : (size_t)16 << 20);
    if (strcmp(path, "-") == 0) {
        r->fp = stdin;
        r->name = belt_strdup("<stdin>");
    } else {
        r->fp = fopen(path, "rb");
        if (!r->fp)
            return belt__error_set(err, errno == ENOENT ? BELT_ERR_NOTFOUND : BELT_ERR_IO, errno,
                                   "%s: %s", path, strerror(errno));
        r->owns_fp = 1;
        r->name = belt_strdup(path);
    }
    r->chunk = belt_malloc(CHUNK_SIZE);
    if (!r->name || !r->chunk) {
        belt_line_reader_deinit(r);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    return BELT_OK;
}

static belt_status fill(struct belt_line_reader *r, struct belt_error *err)
{
    r->chunk_pos = 0;
    r->chunk_len = fread(r->chunk, 1, CHUNK_SIZE, r->fp);
    if (r->chunk_len == 0) {
        if (ferror(r->fp))
            return belt__error_set(err, BELT_ERR_IO, 0, "%s: read error", r->name);
        r->eof = 1;
    }
    return BELT_OK;
}

belt_status belt_line_reader_next(struct belt_line_reader *r, int *got, struct belt_error *err)
{
    *got = 0;
    belt_buf_reset(&r->line);
    int any = 0; /* saw at least one byte of this line */
    for (;;) {
        if (r->chunk_pos == r->chunk_len) {
            if (r->eof)
                break;
            belt_status st = fill(r, err);
            if (st != BELT_OK)
                return st;
            if (r->eof)
                break;
        }
        const char *start = r->chunk + r->chunk_pos;
        size_t avail = r->chunk_len - r->chunk_pos;
        const char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        any = 1;
        belt_status st = belt_buf_append(&r->line, start, take);
        if (st == BELT_ERR_TOOBIG)
            return belt__error_set(err, BELT_ERR_TOOBIG, 0, "%s:%lld: line longer than %zu bytes",
                                   r->name, (long long)r->lineno + 1, r->line.max);
        if (st != BELT_OK)
            return belt__error_set(err, st, 0, "%s:%lld: %s", r->name, (long long)r->lineno + 1,
                                   belt_strerror(st));
        r->chunk_pos += take + (nl ? 1 : 0);
        r->offset += (int64_t)(take + (nl ? 1 : 0));
        if (nl)
            break;
    }
    if (!any)
        return BELT_OK;
    if (r->line.len && r->line.data[r->line.len - 1] == '\r')
        r->line.data[--r->line.len] = '\0';
    if (!r->line.data && belt_buf_reserve(&r->line, 0) != BELT_OK)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    r->lineno++;
    *got = 1;
    return BELT_OK;
}

belt_status belt_line_reader_seek(struct belt_line_reader *r, int64_t offset, int64_t lineno,
                                  struct belt_error *err)
{
    if (!r->owns_fp || fseeko(r->fp, (off_t)offset, SEEK_SET) != 0)
        return belt__error_set(err, BELT_ERR_IO, errno, "%s: cannot seek to byte %lld", r->name,
                               (long long)offset);
    r->chunk_len = r->chunk_pos = 0;
    r->eof = 0;
    r->offset = offset;
    r->lineno = lineno;
    return BELT_OK;
}

void belt_line_reader_deinit(struct belt_line_reader *r)
{
    if (!r)
        return;
    if (r->fp && r->owns_fp)
        fclose(r->fp);
    r->fp = NULL;
    belt_buf_deinit(&r->line);
    BELT_FREE(r->chunk);
    BELT_FREE(r->name);
}
