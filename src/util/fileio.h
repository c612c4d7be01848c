/*
 * fileio.h — whole-file reads, crash-safe writes (temporary file + fsync + rename, so a reader
 * sees either the old file or the complete new one, never half of it), read-only mappings,
 * and file hashing.
 */
#ifndef BELT_UTIL_FILEIO_H
#define BELT_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "belt.h"

/* Read the whole file (at most max bytes, else BELT_ERR_TOOBIG) into a NUL-terminated buffer
 * owned by the caller (belt_free). */
belt_status belt_file_read_all(const char *path, size_t max, char **data, size_t *len,
                               struct belt_error *err);

/* A file being written atomically. Caller-embedded; open → write through fp → commit or abort. */
struct belt_atomic_file {
    char *path; /* final path; owned */
    char *tmp;  /* temporary path in the same directory; owned */
    FILE *fp;   /* write here; NULL when closed */
};

/* Create a temporary file next to `path` (same directory, so rename is atomic). */
belt_status belt_atomic_file_open(struct belt_atomic_file *af, const char *path,
                                  struct belt_error *err);
/* Flush, fsync, rename over the final path, fsync the directory. On error the temporary file is
 * removed and the final path is untouched. Always releases af. */
belt_status belt_atomic_file_commit(struct belt_atomic_file *af, struct belt_error *err);
/* Like belt_atomic_file_commit, but never replaces an existing file: when `path` appeared
 * meanwhile, *existed is set, the temporary file is removed and BELT_OK returned. For files
 * that several processes may create at once (secrets): all of them then read the same one. */
belt_status belt_atomic_file_commit_new(struct belt_atomic_file *af, int *existed,
                                        struct belt_error *err);
/* Remove the temporary file and release af (safe to call after commit; NULL-safe). */
void belt_atomic_file_abort(struct belt_atomic_file *af);

/* A read-only memory mapping of a whole file. Caller-embedded. */
struct belt_mapped_file {
    const unsigned char *data; /* NULL for an empty file */
    size_t len;                /* file size in bytes */
};

belt_status belt_file_map(const char *path, struct belt_mapped_file *m, struct belt_error *err);
void belt_file_unmap(struct belt_mapped_file *m);

/* SHA-256 of a byte range / of a whole file, as 64 lowercase hex digits + NUL. */
void belt_sha256_hex(const void *data, size_t len, char out[65]);
belt_status belt_file_sha256_hex(const char *path, char out[65], struct belt_error *err);

/* 1 if path exists (any type). */
int belt_file_exists(const char *path);

#endif
