/*
 * redact.c — reversible redaction: a per-request map from values to placeholders ([EMAIL_1]),
 * redaction of text through the detectors, restoration of placeholders in answers, and a
 * streaming restorer that holds back a placeholder split across chunks.
 *
 * The map is a small array (a request rarely holds more than a few dozen values) with a
 * 64-bit hash per value for quick rejection; values are wiped (sodium_memzero) when freed.
 */
#include "belt_config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/hash.h"

#define PLACEHOLDER_MAX 40 /* "[DRIVER_LICENSE_4294967295]" fits */

struct map_entry {
    enum belt_pii_entity entity;       /* what the value is */
    char placeholder[PLACEHOLDER_MAX]; /* "[EMAIL_1]" */
    size_t ph_len;                     /* its length */
    char *value;                       /* original bytes + NUL; owned, wiped on free */
    size_t value_len;                  /* length in bytes */
    uint64_t hash;                     /* FNV-1a of the value */
};

struct belt_pii_map {
    struct map_entry *v; /* entries, in order of first appearance; owned */
    size_t n, cap;       /* used / allocated */
    uint32_t next[32];   /* next number per entity */
    size_t max_ph_len;   /* longest placeholder (restorer hold-back bound) */
};

belt_status belt_pii_map_new(struct belt_pii_map **out, struct belt_error *err)
{
    *out = belt_calloc(1, sizeof(**out));
    if (!*out)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    return BELT_OK;
}

void belt_pii_map_free(struct belt_pii_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->n; i++) {
        sodium_memzero(map->v[i].value, map->v[i].value_len);
        belt_free(map->v[i].value);
    }
    belt_free(map->v);
    belt_free(map);
}

size_t belt_pii_map_count(const struct belt_pii_map *map)
{
    return map->n;
}

belt_status belt_pii_map_get(const struct belt_pii_map *map, size_t i,
                             struct belt_pii_map_entry *out)
{
    if (i >= map->n)
        return BELT_ERR_NOTFOUND;
    const struct map_entry *e = &map->v[i];
    out->entity = e->entity;
    out->placeholder = e->placeholder;
    out->value = e->value;
    out->value_len = e->value_len;
    return BELT_OK;
}

/* 1 if needle[0..m) occurs in hay[0..n) (memmem is a GNU extension). */
static int contains(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return m == 0;
    for (const char *p = memchr(hay, needle[0], n - m + 1); p;
         p = memchr(p + 1, needle[0], (size_t)(hay + n - m - p))) {
        if (memcmp(p, needle, m) == 0)
            return 1;
        if (p == hay + n - m)
            break;
    }
    return 0;
}

static const struct map_entry *find_value(const struct belt_pii_map *map, const char *s, size_t n,
                                          uint64_t h)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct map_entry *e = &map->v[i];
        if (e->hash == h && e->value_len == n && memcmp(e->value, s, n) == 0)
            return e;
    }
    return NULL;
}

static const struct map_entry *find_placeholder(const struct belt_pii_map *map, const char *s,
                                                size_t n)
{
    for (size_t i = 0; i < map->n; i++)
        if (map->v[i].ph_len == n && memcmp(map->v[i].placeholder, s, n) == 0)
            return &map->v[i];
    return NULL;
}

/* The placeholder of value s[0..n) (entity e), adding it when new. A candidate placeholder
 * that occurs literally in `text` is skipped so that restoring cannot alter the user's text. */
static belt_status map_add(struct belt_pii_map *map, enum belt_pii_entity e, const char *s,
                           size_t n, const char *text, size_t text_len,
                           const struct map_entry **out, struct belt_error *err)
{
    uint64_t h = belt_fnv1a(BELT_FNV_OFFSET, s, n);
    *out = find_value(map, s, n, h);
    if (*out)
        return BELT_OK;
    if (map->n == map->cap) {
        size_t cap = map->cap ? map->cap * 2 : 8;
        struct map_entry *v = belt_realloc(map->v, cap * sizeof(*v));
        if (!v)
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        map->v = v;
        map->cap = cap;
    }
    struct map_entry *me = &map->v[map->n];
    me->value = belt_strndup(s, n);
    if (!me->value)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    me->entity = e;
    me->value_len = n;
    me->hash = h;
    for (;;) {
        uint32_t k = ++map->next[e % 32];
        int w = snprintf(me->placeholder, sizeof(me->placeholder), "[%s_%u]",
                         belt_pii_entity_tag(e), k);
        me->ph_len = (size_t)w;
        if (!contains(text, text_len, me->placeholder, me->ph_len) &&
            !find_placeholder(map, me->placeholder, me->ph_len))
            break;
    }
    map->max_ph_len = BELT_MAX(map->max_ph_len, me->ph_len);
    map->n++;
    *out = me;
    return BELT_OK;
}

belt_status belt_pii_redact(const struct belt_pii *pii, struct belt_pii_map *map, const char *text,
                            size_t len, char **out, size_t *out_len, struct belt_error *err)
{
    *out = NULL;
    struct belt_pii_match *m = NULL;
    size_t n = 0;
    belt_status st = belt_pii_scan(pii, text, len, &m, &n, err);
    if (st != BELT_OK)
        return st;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    size_t pos = 0;
    for (size_t i = 0; i < n && st == BELT_OK; i++) {
        const struct map_entry *e = NULL;
        st =
            map_add(map, m[i].entity, text + m[i].start, m[i].end - m[i].start, text, len, &e, err);
        if (st == BELT_OK)
            st = belt_buf_append(&b, text + pos, m[i].start - pos);
        if (st == BELT_OK)
            st = belt_buf_append(&b, e->placeholder, e->ph_len);
        pos = m[i].end;
    }
    if (st == BELT_OK)
        st = belt_buf_append(&b, text + pos, len - pos);
    if (st == BELT_OK)
        st = belt_buf_reserve(&b, 0); /* an empty text still yields "" */
    belt_free(m);
    if (st != BELT_OK) {
        belt_buf_deinit(&b);
        return st == BELT_ERR_NOMEM ? belt__error_set(err, st, 0, "out of memory")
                                    : belt__error_default(err, st);
    }
    *out = belt_buf_detach(&b, out_len);
    return BELT_OK;
}

/* Append text[0..len) to b with every known placeholder replaced by its value. */
static belt_status restore_into(const struct belt_pii_map *map, const char *text, size_t len,
                                struct belt_buf *b)
{
    size_t pos = 0, i = 0;
    belt_status st = BELT_OK;
    while (i < len && st == BELT_OK) {
        const char *open = memchr(text + i, '[', len - i);
        if (!open)
            break;
        i = (size_t)(open - text);
        const char *close = memchr(open, ']', BELT_MIN(len - i, (size_t)PLACEHOLDER_MAX));
        const struct map_entry *e =
            close ? find_placeholder(map, open, (size_t)(close - open) + 1) : NULL;
        if (!e) {
            i++;
            continue;
        }
        st = belt_buf_append(b, text + pos, i - pos);
        if (st == BELT_OK)
            st = belt_buf_append(b, e->value, e->value_len);
        i += e->ph_len;
        pos = i;
    }
    if (st == BELT_OK)
        st = belt_buf_append(b, text + pos, len - pos);
    if (st == BELT_OK)
        st = belt_buf_reserve(b, 0);
    return st;
}

static belt_status finish_buf(struct belt_buf *b, belt_status st, char **out, size_t *out_len,
                              struct belt_error *err)
{
    if (st != BELT_OK) {
        belt_buf_deinit(b);
        return st == BELT_ERR_NOMEM ? belt__error_set(err, st, 0, "out of memory")
                                    : belt__error_default(err, st);
    }
    *out = belt_buf_detach(b, out_len);
    return BELT_OK;
}

belt_status belt_pii_restore(const struct belt_pii_map *map, const char *text, size_t len,
                             char **out, size_t *out_len, struct belt_error *err)
{
    *out = NULL;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    return finish_buf(&b, restore_into(map, text, len, &b), out, out_len, err);
}

/* ---- streaming --------------------------------------------------------------------------- */

struct belt_pii_restorer {
    const struct belt_pii_map *map; /* borrowed */
    struct belt_buf held;           /* tail that may be the start of a placeholder */
};

belt_status belt_pii_restorer_new(const struct belt_pii_map *map, struct belt_pii_restorer **out,
                                  struct belt_error *err)
{
    *out = belt_calloc(1, sizeof(**out));
    if (!*out)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    (*out)->map = map;
    belt_buf_init(&(*out)->held, 0);
    return BELT_OK;
}

void belt_pii_restorer_free(struct belt_pii_restorer *r)
{
    if (!r)
        return;
    belt_buf_deinit(&r->held);
    belt_free(r);
}

/* Where the held-back tail of s[0..n) starts: the last '[' whose rest is a proper prefix of
 * some placeholder of the map; n when nothing needs holding. */
static size_t hold_point(const struct belt_pii_map *map, const char *s, size_t n)
{
    size_t lo = n > map->max_ph_len ? n - map->max_ph_len : 0;
    for (size_t i = n; i > lo; i--) {
        if (s[i - 1] != '[')
            continue;
        size_t k = n - (i - 1);
        for (size_t j = 0; j < map->n; j++)
            if (k < map->v[j].ph_len && memcmp(map->v[j].placeholder, s + i - 1, k) == 0)
                return i - 1;
        return n; /* the last '[' cannot start a placeholder: nothing to hold */
    }
    return n;
}

belt_status belt_pii_restorer_push(struct belt_pii_restorer *r, const char *chunk, size_t len,
                                   char **out, size_t *out_len, struct belt_error *err)
{
    *out = NULL;
    belt_status st = belt_buf_append(&r->held, chunk, len);
    if (st != BELT_OK)
        return belt__error_set(err, st, 0, "pii restorer: %s", belt_strerror(st));
    const char *s = r->held.data ? r->held.data : "";
    size_t n = r->held.len;
    size_t cut = hold_point(r->map, s, n);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    st = restore_into(r->map, s, cut, &b);
    if (st == BELT_OK && r->held.data) {
        memmove(r->held.data, s + cut, n - cut);
        r->held.len = n - cut;
        r->held.data[r->held.len] = '\0';
    }
    return finish_buf(&b, st, out, out_len, err);
}

belt_status belt_pii_restorer_finish(struct belt_pii_restorer *r, char **out, size_t *out_len,
                                     struct belt_error *err)
{
    *out = NULL;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_status st = restore_into(r->map, r->held.data ? r->held.data : "", r->held.len, &b);
    belt_buf_reset(&r->held);
    return finish_buf(&b, st, out, out_len, err);
}
