/*
 * keys_store.c — API key management in the store (table `keys`, `key_spend`): create (the
 * secret is shown once and stored only as a keyed BLAKE2b hash), revoke, list, show. Every
 * change is audited when an audit writer is given, in the same transaction.
 *
 * Why keyed BLAKE2b and not a password hash: keys are 256 random bits, so a slow hash adds no
 * protection against guessing, while the lookup runs on every request (BLAKE2b: ~1 µs; Argon2
 * at a safe cost: tens of ms). The server secret keeps a stolen database from confirming keys.
 */
#include "belt_config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "belt.h"
#include "guard/keys.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"

struct belt_key_spec belt_key_default_spec(void)
{
    struct belt_key_spec s;
    memset(&s, 0, sizeof(s));
    s.budget_day_usd = -1;
    s.budget_month_usd = -1;
    return s;
}

void belt__key_hash(const unsigned char secret[32], const char *key, size_t len,
                    unsigned char out[BELT__KEY_HASH_LEN])
{
    crypto_generichash(out, BELT__KEY_HASH_LEN, (const unsigned char *)key, len, secret, 32);
}

void belt__key_period(int64_t now_ms, char day[16], char month[16])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(day, 16, "d:%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(month, 16, "m:%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static belt_status put_list(struct belt_buf *b, const char *name, const char *const *v, size_t n,
                            int *first)
{
    if (n == 0)
        return BELT_OK;
    belt_status st = belt_buf_printf(b, "%s\"%s\":[", *first ? "" : ",", name);
    *first = 0;
    for (size_t i = 0; i < n && st == BELT_OK; i++) {
        if (i)
            st = belt_buf_putc(b, ',');
        if (st == BELT_OK)
            st = belt_buf_append_json_string(b, v[i], strlen(v[i]));
    }
    return st == BELT_OK ? belt_buf_putc(b, ']') : st;
}

static belt_status allow_json(const struct belt_key_spec *s, char **out)
{
    struct belt_buf b;
    belt_buf_init(&b, 1 << 20);
    int first = 1;
    belt_status st = belt_buf_putc(&b, '{');
    if (st == BELT_OK)
        st = put_list(&b, "models", s->models, s->n_models, &first);
    if (st == BELT_OK)
        st = put_list(&b, "routes", s->routes, s->n_routes, &first);
    if (st == BELT_OK)
        st = put_list(&b, "lines", s->lines, s->n_lines, &first);
    if (st == BELT_OK)
        st = belt_buf_putc(&b, '}');
    if (st != BELT_OK) {
        belt_buf_deinit(&b);
        return st;
    }
    *out = belt_buf_detach(&b, NULL);
    return *out ? BELT_OK : BELT_ERR_NOMEM;
}

static belt_status check_spec(const struct belt_key_spec *s, struct belt_error *err)
{
    if (!valid_name(s->name))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "key name must be 1-63 characters of A-Z a-z 0-9 . _ -");
    if (s->rpm < 0 || s->tpm < 0 || s->burst < 0 || s->expires_ms < 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "key limits (rpm, tpm, burst, expiry) must not be negative");
    if (s->burst > 0 && s->rpm == 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "a burst needs a requests/minute limit");
    const char *const *lists[3] = {s->models, s->routes, s->lines};
    size_t ns[3] = {s->n_models, s->n_routes, s->n_lines};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < ns[l]; i++)
            if (!lists[l][i] || !*lists[l][i])
                return belt__error_set(err, BELT_ERR_INVALID, 0, "allow lists need names");
    return BELT_OK;
}

static void bind_opt_double(sqlite3_stmt *q, int i, double v)
{
    if (v < 0)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_double(q, i, v);
}

static void bind_opt_int(sqlite3_stmt *q, int i, int64_t v)
{
    if (v <= 0)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_int64(q, i, v);
}

static belt_status insert_key(struct belt_store *st, const struct belt_key_spec *s, const char *id,
                              const unsigned char *hash, const char *prefix, const char *allow,
                              struct belt_error *err)
{
    sqlite3_stmt *q = NULL;
    belt_status r = belt__store_prepare(
        st,
        "INSERT INTO keys(id, name, hash, prefix, created_ms, allow, budget_day_usd, "
        "budget_month_usd, rpm, tpm, burst, expires_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
        &q, err);
    if (r != BELT_OK)
        return r;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 3, hash, BELT__KEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, belt_wall_ms());
    sqlite3_bind_text(q, 6, allow, -1, SQLITE_STATIC);
    bind_opt_double(q, 7, s->budget_day_usd);
    bind_opt_double(q, 8, s->budget_month_usd);
    bind_opt_int(q, 9, s->rpm);
    bind_opt_int(q, 10, s->tpm);
    bind_opt_int(q, 11, s->burst);
    bind_opt_int(q, 12, s->expires_ms);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE)
        return BELT_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return belt__error_set(err, BELT_ERR_EXISTS, rc, "a key named '%s' already exists",
                               s->name);
    return belt__store_error(st, rc, err, "create key");
}

/* Run fn inside a transaction together with its audit row. */
static belt_status audited(struct belt_store *st, struct belt_audit *audit,
                           const struct belt_audit_event *ev, belt_status st_body,
                           struct belt_error *err)
{
    belt_status s = st_body;
    if (s == BELT_OK && audit)
        s = belt_audit_append(audit, ev, NULL, err);
    if (s == BELT_OK)
        s = belt__store_commit(st, err);
    if (s != BELT_OK)
        belt__store_rollback(st);
    return s;
}

belt_status belt_key_create(struct belt_store *st, struct belt_audit *audit,
                            const unsigned char secret[32], const struct belt_key_spec *spec,
                            const char *actor, char key_out[BELT_KEY_TEXT_MAX],
                            char id_out[BELT_KEY_ID_MAX], struct belt_error *err)
{
    key_out[0] = id_out[0] = '\0';
    belt_status s = check_spec(spec, err);
    if (s != BELT_OK)
        return s;
    unsigned char raw[32], idr[8], hash[BELT__KEY_HASH_LEN];
    char b64[64], idhex[17], prefix[16], key[BELT_KEY_TEXT_MAX], id[BELT_KEY_ID_MAX];
    randombytes_buf(raw, sizeof(raw));
    randombytes_buf(idr, sizeof(idr));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2hex(idhex, sizeof(idhex), idr, sizeof(idr));
    snprintf(key, sizeof(key), "%s%s", BELT__KEY_PREFIX, b64);
    snprintf(id, sizeof(id), "key_%s", idhex);
    snprintf(prefix, sizeof(prefix), "%.12s", key);
    belt__key_hash(secret, key, strlen(key), hash);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(b64, sizeof(b64));
    char *allow = NULL;
    if (allow_json(spec, &allow) != BELT_OK) {
        sodium_memzero(key, sizeof(key));
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    char data[1024];
    snprintf(data, sizeof(data),
             "{\"name\":\"%s\",\"prefix\":\"%s\",\"allow\":%s,\"budget_day_usd\":%.6g,"
             "\"budget_month_usd\":%.6g,\"rpm\":%lld,\"tpm\":%lld,\"burst\":%lld,"
             "\"expires_ms\":%lld}",
             spec->name, prefix, strlen(allow) < 700 ? allow : "{}", spec->budget_day_usd,
             spec->budget_month_usd, (long long)spec->rpm, (long long)spec->tpm,
             (long long)spec->burst, (long long)spec->expires_ms);
    struct belt_audit_event ev = {"key.create", actor ? actor : "cli", id, data, 0};
    s = belt__store_begin(st, err);
    if (s == BELT_OK)
        s = audited(st, audit, &ev, insert_key(st, spec, id, hash, prefix, allow, err), err);
    belt_free(allow);
    if (s == BELT_OK) {
        memcpy(key_out, key, sizeof(key));
        memcpy(id_out, id, sizeof(id));
    }
    sodium_memzero(key, sizeof(key));
    return s;
}

belt_status belt_key_revoke(struct belt_store *st, struct belt_audit *audit, const char *id_or_name,
                            const char *actor, struct belt_error *err)
{
    belt_status s = belt__store_begin(st, err);
    if (s != BELT_OK)
        return s;
    sqlite3_stmt *q = NULL;
    char id[BELT_KEY_ID_MAX] = "";
    int64_t revoked = 0;
    int found = 0;
    s = belt__store_prepare(st,
                            "SELECT id, coalesce(revoked_ms, 0) FROM keys WHERE id = ?1 OR "
                            "name = ?1",
                            &q, err);
    if (s == BELT_OK) {
        sqlite3_bind_text(q, 1, id_or_name, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            found = 1;
            snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(q, 0));
            revoked = sqlite3_column_int64(q, 1);
        }
        sqlite3_finalize(q);
    }
    if (s == BELT_OK && !found)
        s = belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no key with id or name '%s'", id_or_name);
    else if (s == BELT_OK && revoked)
        s = belt__error_set(err, BELT_ERR_INVALID, 0, "key '%s' is already revoked", id_or_name);
    if (s == BELT_OK)
        s = belt__store_prepare(st, "UPDATE keys SET revoked_ms = ? WHERE id = ?", &q, err);
    if (s == BELT_OK) {
        sqlite3_bind_int64(q, 1, belt_wall_ms());
        sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            s = belt__store_error(st, rc, err, "revoke key");
    }
    if (s != BELT_OK) {
        belt__store_rollback(st);
        return s;
    }
    struct belt_audit_event ev = {"key.revoke", actor ? actor : "cli", id, NULL, 0};
    return audited(st, audit, &ev, BELT_OK, err);
}

/* ---- listing ----------------------------------------------------------------------------- */

static double col_opt_double(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? -1 : sqlite3_column_double(q, i);
}

static belt_status list_keys(struct belt_store *st, const char *id_or_name, belt_key_info_fn *fn,
                             void *ud, int *n_found, struct belt_error *err)
{
    char day[16], month[16];
    belt__key_period(belt_wall_ms(), day, month);
    sqlite3_stmt *q = NULL;
    belt_status s = belt__store_prepare(
        st,
        "SELECT k.id, k.name, k.prefix, k.created_ms, coalesce(k.revoked_ms, 0), "
        "coalesce(k.expires_ms, 0), coalesce(k.allow, '{}'), k.budget_day_usd, "
        "k.budget_month_usd, coalesce(k.rpm, 0), coalesce(k.tpm, 0), coalesce(k.burst, 0), "
        "coalesce((SELECT spent_usd FROM key_spend WHERE key_id = k.id AND period = ?2), 0), "
        "coalesce((SELECT spent_usd FROM key_spend WHERE key_id = k.id AND period = ?3), 0) "
        "FROM keys k WHERE ?1 IS NULL OR k.id = ?1 OR k.name = ?1 ORDER BY k.created_ms, k.id",
        &q, err);
    if (s != BELT_OK)
        return s;
    sqlite3_bind_text(q, 1, id_or_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, month, -1, SQLITE_TRANSIENT);
    int rc;
    *n_found = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct belt_key_info k;
        k.id = (const char *)sqlite3_column_text(q, 0);
        k.name = (const char *)sqlite3_column_text(q, 1);
        k.prefix = (const char *)sqlite3_column_text(q, 2);
        k.created_ms = sqlite3_column_int64(q, 3);
        k.revoked_ms = sqlite3_column_int64(q, 4);
        k.expires_ms = sqlite3_column_int64(q, 5);
        k.allow_json = (const char *)sqlite3_column_text(q, 6);
        k.budget_day_usd = col_opt_double(q, 7);
        k.budget_month_usd = col_opt_double(q, 8);
        k.rpm = sqlite3_column_int64(q, 9);
        k.tpm = sqlite3_column_int64(q, 10);
        k.burst = sqlite3_column_int64(q, 11);
        k.spent_day_usd = sqlite3_column_double(q, 12);
        k.spent_month_usd = sqlite3_column_double(q, 13);
        (*n_found)++;
        if (fn(ud, &k) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        s = belt__store_error(st, rc, err, "list keys");
    sqlite3_finalize(q);
    return s;
}

belt_status belt_key_list(struct belt_store *st, belt_key_info_fn *fn, void *ud,
                          struct belt_error *err)
{
    int n = 0;
    return list_keys(st, NULL, fn, ud, &n, err);
}

belt_status belt_key_show(struct belt_store *st, const char *id_or_name, belt_key_info_fn *fn,
                          void *ud, struct belt_error *err)
{
    int n = 0;
    belt_status s = list_keys(st, id_or_name, fn, ud, &n, err);
    if (s == BELT_OK && n == 0)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no key with id or name '%s'",
                               id_or_name);
    return s;
}
