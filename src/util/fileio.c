/*
 * fileio.c — see fileio.h.
 */
#include "belt_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fileio.h"

belt_status belt_file_read_all(const char *path, size_t max, char **data, size_t *len,
                               struct belt_error *err)
{
    *data = NULL;
    if (len)
        *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = belt_malloc(cap);
    if (!buf) {
        fclose(fp);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                belt_free(buf);
                fclose(fp);
                return belt__error_set(err, BELT_ERR_TOOBIG, 0, "%s: larger than %zu bytes", path,
                                       max);
            }
            char *nb = belt_realloc(buf, cap * 2);
            if (!nb) {
                belt_free(buf);
                fclose(fp);
                return belt__error_set(err, BELT_ERR_NOMEM, 0, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        belt_free(buf);
        return belt__error_set(err, BELT_ERR_IO, 0, "%s: read error", path);
    }
    if (n > max) {
        belt_free(buf);
        return belt__error_set(err, BELT_ERR_TOOBIG, 0, "%s: larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return BELT_OK;
}

belt_status belt_atomic_file_open(struct belt_atomic_file *af, const char *path,
                                  struct belt_error *err)
{
    memset(af, 0, sizeof(*af));
    size_t n = strlen(path) + 32;
    af->path = belt_strdup(path);
    af->tmp = belt_malloc(n);
    if (!af->path || !af->tmp) {
        belt_atomic_file_abort(af);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    snprintf(af->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        belt__error_set(err, BELT_ERR_IO, e, "%s: cannot create temporary file: %s", path,
                        strerror(e));
        BELT_FREE(af->tmp);
        belt_atomic_file_abort(af);
        return BELT_ERR_IO;
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        belt_atomic_file_abort(af);
        return belt__error_set(err, BELT_ERR_IO, e, "%s: %s", path, strerror(e));
    }
    return BELT_OK;
}

/* fsync the directory holding path, so the rename itself is durable. */
static void sync_dir_of(const char *path)
{
    char *copy = belt_strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    belt_free(copy);
}

static belt_status commit(struct belt_atomic_file *af, int *existed, struct belt_error *err);

belt_status belt_atomic_file_commit(struct belt_atomic_file *af, struct belt_error *err)
{
    return commit(af, NULL, err);
}

belt_status belt_atomic_file_commit_new(struct belt_atomic_file *af, int *existed,
                                        struct belt_error *err)
{
    *existed = 0;
    return commit(af, existed, err);
}

/* Publish the temporary file: rename over the path, or (existed != NULL) link it there only
 * if nothing is there yet — link(2) fails with EEXIST instead of replacing. */
static belt_status commit(struct belt_atomic_file *af, int *existed, struct belt_error *err)
{
    belt_status st = BELT_OK;
    if (!af->fp) {
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "atomic file is not open");
        goto fail;
    }
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        int e = errno;
        st = belt__error_set(err, BELT_ERR_IO, e, "%s: write failed: %s", af->path, strerror(e));
        goto fail;
    }
    FILE *fp = af->fp;
    af->fp = NULL;
    if (fclose(fp) != 0) {
        int e = errno;
        st = belt__error_set(err, BELT_ERR_IO, e, "%s: close failed: %s", af->path, strerror(e));
        goto fail;
    }
    if (existed) {
        if (link(af->tmp, af->path) != 0) {
            int e = errno;
            if (e == EEXIST) { /* someone else created it first: theirs stands */
                *existed = 1;
                belt_atomic_file_abort(af);
                return BELT_OK;
            }
            st = belt__error_set(err, BELT_ERR_IO, e, "%s: link failed: %s", af->path, strerror(e));
            goto fail;
        }
        unlink(af->tmp);
    } else if (rename(af->tmp, af->path) != 0) {
        int e = errno;
        st = belt__error_set(err, BELT_ERR_IO, e, "%s: rename failed: %s", af->path, strerror(e));
        goto fail;
    }
    sync_dir_of(af->path);
    BELT_FREE(af->tmp); /* renamed or linked and unlinked: nothing to remove */
    belt_atomic_file_abort(af);
    return BELT_OK;
fail:
    belt_atomic_file_abort(af);
    return st;
}

void belt_atomic_file_abort(struct belt_atomic_file *af)
{
    if (!af)
        return;
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp) {
        unlink(af->tmp);
        BELT_FREE(af->tmp);
    }
    BELT_FREE(af->path);
}

belt_status belt_file_map(const char *path, struct belt_mapped_file *m, struct belt_error *err)
{
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return belt__error_set(err, errno == ENOENT ? BELT_ERR_NOTFOUND : BELT_ERR_IO, errno,
                               "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return belt__error_set(err, BELT_ERR_IO, e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s: not a regular file", path);
    }
    if (sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return belt__error_set(err, BELT_ERR_IO, e, "%s: mmap: %s", path, strerror(e));
        }
        m->data = p;
        m->len = (size_t)sb.st_size;
    }
    close(fd);
    return BELT_OK;
}

void belt_file_unmap(struct belt_mapped_file *m)
{
    if (!m)
        return;
    if (m->data)
        munmap((void *)m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void belt_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    to_hex(h, sizeof(h), out);
}

belt_status belt_file_sha256_hex(const char *path, char out[65], struct belt_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", path, strerror(errno));
    crypto_hash_sha256_state s;
    crypto_hash_sha256_init(&s);
    unsigned char buf[65536];
    for (;;) {
        size_t n = fread(buf, 1, sizeof(buf), fp);
        if (n == 0)
            break;
        crypto_hash_sha256_update(&s, buf, n);
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr)
        return belt__error_set(err, BELT_ERR_IO, 0, "%s: read error", path);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&s, h);
    to_hex(h, sizeof(h), out);
    return BELT_OK;
}

int belt_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}
