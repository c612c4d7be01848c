/*
 * secret.c — the 32-byte secrets that must live outside the store: the audit checkpoint MAC key
 * and the API-key hashing secret. A secret comes from an environment variable or a file, as 64
 * hex digits or as a passphrase (>= 16 bytes, hashed with BLAKE2b); a missing file can be
 * created with fresh random bytes (mode 0600, written atomically, never over one that a
 * concurrent creator wrote first, so every process and thread reads the same secret).
 */
#include "belt_config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "belt.h"
#include "config/config.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/str.h"

/* Turn the text of a secret into 32 bytes. `what` names the source for messages. */
static belt_status decode_secret(const char *s, size_t n, const char *what, unsigned char out[32],
                                 struct belt_error *err)
{
    size_t tn = 0;
    const char *t = belt_str_trim(s, n, &tn);
    size_t bin_len = 0;
    if (tn == 64 && sodium_hex2bin(out, 32, t, tn, NULL, &bin_len, NULL) == 0 && bin_len == 32)
        return BELT_OK;
    if (tn < 16)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "%s: a secret needs 64 hex digits or at least 16 characters", what);
    crypto_generichash(out, 32, (const unsigned char *)t, tn, NULL, 0);
    return BELT_OK;
}

/* Create `path` with 32 random bytes as hex, readable by the owner only. */
static belt_status create_secret_file(const char *path, struct belt_error *err)
{
    unsigned char raw[32];
    char hex[65];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    struct belt_atomic_file af;
    belt_status st = belt_atomic_file_open(&af, path, err);
    if (st != BELT_OK)
        return st;
    if (fchmod(fileno(af.fp), 0600) != 0 || fprintf(af.fp, "%s\n", hex) < 0) {
        int e = errno;
        belt_atomic_file_abort(&af);
        sodium_memzero(hex, sizeof(hex));
        return belt__error_set(err, BELT_ERR_IO, e, "%s: %s", path, strerror(e));
    }
    sodium_memzero(hex, sizeof(hex));
    int existed; /* another process or thread created it first: read theirs */
    return belt_atomic_file_commit_new(&af, &existed, err);
}

static belt_status load_secret(const char *file, const char *env, int create, unsigned char out[32],
                               struct belt_error *err)
{
    const char *ev = env && *env ? getenv(env) : NULL;
    if (ev && *ev) {
        char what[128];
        snprintf(what, sizeof(what), "$%s", env);
        return decode_secret(ev, strlen(ev), what, out, err);
    }
    if (!file || !*file)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no secret configured");
    if (!belt_file_exists(file)) {
        if (!create)
            return belt__error_set(err, BELT_ERR_NOTFOUND, 0,
                                   "%s: no such secret file (and $%s is not set)", file,
                                   env ? env : "");
        belt_status st = create_secret_file(file, err);
        if (st != BELT_OK)
            return st;
    }
    char *text = NULL;
    size_t len = 0;
    belt_status st = belt_file_read_all(file, 4096, &text, &len, err);
    if (st != BELT_OK)
        return st;
    st = decode_secret(text, len, file, out, err);
    sodium_memzero(text, len);
    belt_free(text);
    return st;
}

belt_status belt_guard_secret(const struct belt_config *cfg, enum belt_secret_kind kind, int create,
                              unsigned char out[32], struct belt_error *err)
{
    struct belt_cfg_guard_view v;
    belt__cfg_guard_view(&cfg->guard, cfg->dir, cfg->store.path, &v);
    if (kind == BELT_SECRET_AUDIT)
        return load_secret(v.audit_key_file, v.audit_key_env, create, out, err);
    if (kind == BELT_SECRET_KEYS)
        return load_secret(v.keys_secret_file, v.keys_secret_env, create, out, err);
    return belt__error_set(err, BELT_ERR_INVALID, 0, "unknown secret kind %d", (int)kind);
}
