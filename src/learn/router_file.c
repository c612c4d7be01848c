/*
 * router_file.c — the router file: belt_router_save() and belt_router_load().
 *
 * Layout (integers and floats little-endian, whatever the host):
 *   0   8  magic "BELTRTR\x1a"
 *   8   4  format version: 3 for a router that reads tags (features.tags in META), else
 *            2 (no features.tags), so that a build that cannot read tags refuses such a
 *            file instead of ignoring them; version 1, read too, had no shape features
 *            and no features.shape
 *   12  4  header size (64)
 *   16  8  file size in bytes
 *   24  4  number of sections (4)
 *   28  4  flags (0)
 *   32 32  BLAKE2b-256 of bytes [0, 32) followed by bytes [64, file size)
 *   64     section table: per section {u32 id, u32 0, u64 offset, u64 size}
 *   ...    sections, each on a 64-byte boundary:
 *            META     JSON: format, tiers [{name, cost_usd}], features {word_ngrams,
 *                     char_min, char_max, shape, tags (version 3)}, bucket_bits,
 *                     objective, calibration, metrics
 *            WEIGHTS  2^bucket_bits × n_tiers float32, interleaved by bucket
 *            BIAS     n_tiers float32
 *            CALIB    per tier: f64 a, f64 b, u64 n, then n × (f64 x, f64 y)
 * Everything is checked before use: a truncated, corrupted or foreign file is an error.
 */
#include "belt_config.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "learn/router.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#define MAGIC       "BELTRTR\x1a"
#define VERSION     3u /* newest read; written for routers that read tags */
#define VERSION_2   2u /* written for the others, so older builds still read them */
#define VERSION_MIN 1u /* oldest read */
#define HEADER      64u
#define N_SECTIONS  4u
#define SECTION_ENT 24u

enum { SEC_META = 1, SEC_WEIGHTS = 2, SEC_BIAS = 3, SEC_CALIB = 4 };

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* ---- save ----------------------------------------------------------------------------------- */

static char *meta_json(const struct belt_router *r)
{
    json_t *tiers = json_array();
    for (size_t t = 0; tiers && t < r->n_tiers; t++) {
        json_t *o = json_pack("{s:s, s:o}", "name", r->names[t], "cost_usd",
                              isnan(r->cost[t]) ? json_null() : json_real(r->cost[t]));
        if (!o || json_array_append_new(tiers, o) != 0) {
            json_decref(tiers);
            tiers = NULL;
        }
    }
    json_error_t je;
    json_t *metrics = json_loads(r->metrics_json ? r->metrics_json : "{}", 0, &je);
    json_t *m =
        tiers && metrics
            ? json_pack("{s:s, s:o, s:{s:i, s:i, s:i, s:b}, s:i, s:s, s:s, s:o}", "format",
                        r->tags ? "belt-router-3" : "belt-router-2", "tiers", tiers, "features",
                        "word_ngrams", r->fc.word_ngrams, "char_min", r->fc.char_min, "char_max",
                        r->fc.char_max, "shape", r->shape, "bucket_bits", r->bucket_bits,
                        "objective", belt__router_objective_names[r->objective], "calibration",
                        r->calibration == BELT_ROUTER_CALIB_PLATT ? "platt" : "isotonic", "metrics",
                        metrics)
            : NULL;
    if (!m) {
        json_decref(tiers);
        json_decref(metrics);
        return NULL;
    }
    if (r->tags && json_object_set_new(json_object_get(m, "features"), "tags", json_true()) != 0) {
        json_decref(m);
        return NULL;
    }
    char *s = belt_json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    return s;
}

static belt_status put_u32(struct belt_buf *b, uint32_t v)
{
    unsigned char x[4];
    put32(x, v);
    return belt_buf_append(b, x, 4);
}

static belt_status put_u64(struct belt_buf *b, uint64_t v)
{
    unsigned char x[8];
    put64(x, v);
    return belt_buf_append(b, x, 8);
}

static belt_status pad64(struct belt_buf *b)
{
    static const char zero[64] = {0};
    return belt_buf_append(b, zero, (64 - b->len % 64) % 64);
}

/* Fill the header and section table of a built file, then its checksum. */
static void finish_header(unsigned char *h, uint32_t version, size_t len, const uint64_t *off,
                          const uint64_t *size)
{
    memcpy(h, MAGIC, 8);
    put32(h + 8, version);
    put32(h + 12, HEADER);
    put64(h + 16, len);
    put32(h + 24, N_SECTIONS);
    put32(h + 28, 0);
    for (uint32_t i = 0; i < N_SECTIONS; i++) {
        unsigned char *e = h + HEADER + i * SECTION_ENT;
        put32(e, i + 1);
        put64(e + 8, off[i]);
        put64(e + 16, size[i]);
    }
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    crypto_generichash_update(&hs, h, 32);
    crypto_generichash_update(&hs, h + HEADER, len - HEADER);
    crypto_generichash_final(&hs, h + 32, 32);
}

/* The whole file in memory: header, table, sections. */
static belt_status build(const struct belt_router *r, const char *meta, struct belt_buf *b)
{
    uint64_t off[N_SECTIONS], size[N_SECTIONS];
    size_t nb = (size_t)r->mask + 1;
    belt_status st = belt_buf_reserve(b, HEADER + 128 + strlen(meta) + nb * r->n_tiers * 4 + 4096);
    static const unsigned char zero[HEADER + N_SECTIONS * SECTION_ENT] = {0};
    if (st == BELT_OK)
        st = belt_buf_append(b, zero, sizeof(zero));
    if (st == BELT_OK)
        st = pad64(b);
    off[0] = b->len;
    if (st == BELT_OK)
        st = belt_buf_puts(b, meta);
    size[0] = b->len - off[0];
    if (st == BELT_OK)
        st = pad64(b);
    off[1] = b->len;
    for (size_t i = 0; st == BELT_OK && i < nb * r->n_tiers; i++) /* on the 8-bit grid */
        st = put_u32(b, f32_bits((float)(r->q[i] * (double)r->qscale[i % r->n_tiers])));
    size[1] = b->len - off[1];
    if (st == BELT_OK)
        st = pad64(b);
    off[2] = b->len;
    for (size_t t = 0; st == BELT_OK && t < r->n_tiers; t++)
        st = put_u32(b, f32_bits(r->bias[t]));
    size[2] = b->len - off[2];
    if (st == BELT_OK)
        st = pad64(b);
    off[3] = b->len;
    for (size_t t = 0; st == BELT_OK && t < r->n_tiers; t++) {
        const struct belt__router_calib *c = &r->calib[t];
        st = put_u64(b, f64_bits(c->a));
        if (st == BELT_OK)
            st = put_u64(b, f64_bits(c->b));
        if (st == BELT_OK)
            st = put_u64(b, c->n);
        for (size_t i = 0; st == BELT_OK && i < c->n; i++) {
            st = put_u64(b, f64_bits(c->x[i]));
            if (st == BELT_OK)
                st = put_u64(b, f64_bits(c->y[i]));
        }
    }
    size[3] = b->len - off[3];
    if (st != BELT_OK)
        return st;
    finish_header((unsigned char *)b->data, r->tags ? VERSION : VERSION_2, b->len, off, size);
    return BELT_OK;
}

belt_status belt_router_save(const struct belt_router *r, const char *path, struct belt_error *err)
{
    char *meta = meta_json(r);
    if (!meta)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_status st = build(r, meta, &b);
    belt_free(meta);
    if (st != BELT_OK) {
        belt_buf_deinit(&b);
        return belt__error_set(err, st, 0, "%s: %s", path, belt_strerror(st));
    }
    struct belt_atomic_file af;
    st = belt_atomic_file_open(&af, path, err);
    if (st == BELT_OK) {
        if (fwrite(b.data, 1, b.len, af.fp) != b.len) {
            belt_atomic_file_abort(&af);
            st = belt__error_set(err, BELT_ERR_IO, 0, "%s: write failed", path);
        } else {
            st = belt_atomic_file_commit(&af, err);
        }
    }
    belt_buf_deinit(&b);
    return st;
}

/* ---- load ----------------------------------------------------------------------------------- */

struct loader {
    const char *path;             /* for messages */
    const unsigned char *d;       /* file contents */
    size_t len;                   /* bytes */
    uint64_t off[N_SECTIONS + 1]; /* by section id */
    uint64_t size[N_SECTIONS + 1];
    struct belt_error *err; /* errors */
    uint32_t version;       /* the file's format version */
};

static belt_status corrupt(struct loader *l, const char *what)
{
    return belt__error_set(l->err, BELT_ERR_FORMAT, 0, "%s: corrupt router file: %s", l->path,
                           what);
}

static belt_status check_header(struct loader *l)
{
    const unsigned char *d = l->d;
    if (l->len < HEADER || memcmp(d, MAGIC, 8) != 0)
        return belt__error_set(l->err, BELT_ERR_FORMAT, 0, "%s: not a belt router file", l->path);
    l->version = get32(d + 8);
    if (l->version < VERSION_MIN || l->version > VERSION)
        return belt__error_set(l->err, BELT_ERR_VERSION, 0,
                               "%s: router format version %u, this build reads versions %u to %u",
                               l->path, l->version, VERSION_MIN, VERSION);
    if (get32(d + 12) != HEADER || get32(d + 24) != N_SECTIONS)
        return corrupt(l, "bad header");
    if (get64(d + 16) != l->len)
        return belt__error_set(l->err, BELT_ERR_FORMAT, 0,
                               "%s: truncated router file (%zu of %llu bytes)", l->path, l->len,
                               (unsigned long long)get64(d + 16));
    unsigned char sum[32];
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    crypto_generichash_update(&hs, d, 32);
    crypto_generichash_update(&hs, d + HEADER, l->len - HEADER);
    crypto_generichash_final(&hs, sum, 32);
    if (sodium_memcmp(sum, d + 32, 32) != 0)
        return belt__error_set(l->err, BELT_ERR_CHECKSUM, 0,
                               "%s: checksum mismatch: the router file is corrupt", l->path);
    uint64_t table_end = HEADER + N_SECTIONS * SECTION_ENT;
    if (l->len < table_end)
        return corrupt(l, "section table truncated");
    for (uint32_t i = 0; i < N_SECTIONS; i++) {
        const unsigned char *e = d + HEADER + i * SECTION_ENT;
        uint32_t id = get32(e);
        uint64_t off = get64(e + 8), size = get64(e + 16);
        if (id < 1 || id > N_SECTIONS || l->off[id] || off < table_end || off > l->len ||
            size > l->len - off || off % 64)
            return corrupt(l, "bad section table");
        l->off[id] = off;
        l->size[id] = size;
    }
    return BELT_OK;
}

static belt_status read_tiers(struct loader *l, const json_t *tiers, struct belt_router *r)
{
    for (size_t t = 0; t < r->n_tiers; t++) {
        const json_t *o = json_array_get(tiers, t);
        const char *name = belt_json_str(o, "name");
        if (!name || !*name)
            return corrupt(l, "a tier has no name");
        r->names[t] = belt_strdup(name);
        if (!r->names[t])
            return belt__error_set(l->err, BELT_ERR_NOMEM, 0, "out of memory");
        r->cost[t] = belt_json_num(o, "cost_usd", NAN);
    }
    return BELT_OK;
}

static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; s && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* META → a router with its arrays allocated. */
static belt_status read_meta(struct loader *l, struct belt_router **out)
{
    json_t *m = NULL;
    belt_status st = belt_json_parse((const char *)l->d + l->off[SEC_META], l->size[SEC_META],
                                     l->path, 0, &m, l->err);
    if (st != BELT_OK)
        return st == BELT_ERR_NOMEM ? st : corrupt(l, "META is not JSON");
    const json_t *tiers = json_object_get(m, "tiers"), *f = json_object_get(m, "features");
    static const char *const calib_names[] = {"platt", "isotonic", NULL};
    struct belt__feature_config fc = {(int)belt_json_int(f, "word_ngrams", 0),
                                      (int)belt_json_int(f, "char_min", -1),
                                      (int)belt_json_int(f, "char_max", -1)};
    int64_t bits = belt_json_int(m, "bucket_bits", 0);
    int obj = name_index(belt__router_objective_names, belt_json_str(m, "objective"));
    int cal = name_index(calib_names, belt_json_str(m, "calibration"));
    const json_t *shape = json_object_get(f, "shape"); /* absent in version 1: off */
    if (!shape && l->version == 1)
        shape = json_false();
    const json_t *tags = json_object_get(f, "tags"); /* from version 3 */
    if (!tags && l->version < 3)
        tags = json_false();
    size_t nt = json_is_array(tiers) ? json_array_size(tiers) : 0;
    struct belt_error fe = {0};
    if (nt < 2 || nt > BELT__ROUTER_MAX_TIERS || bits < 10 || bits > 24 || obj < 0 || cal < 0 ||
        !json_is_boolean(shape) || !json_is_boolean(tags) ||
        belt__features_check_config(&fc, &fe) != BELT_OK) {
        json_decref(m);
        return corrupt(l, "META has bad fields");
    }
    struct belt_router *r = belt__router_alloc(nt, (int)bits);
    st = r ? read_tiers(l, tiers, r) : belt__error_set(l->err, BELT_ERR_NOMEM, 0, "oom");
    if (st == BELT_OK) {
        r->fc = fc;
        r->shape = json_is_true(shape);
        r->tags = json_is_true(tags);
        r->objective = obj;
        r->calibration = cal;
        const json_t *mt = json_object_get(m, "metrics");
        r->metrics_json = belt_json_dumps(mt ? mt : json_object_get(m, "format"), JSON_COMPACT);
        if (!r->metrics_json)
            st = belt__error_set(l->err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    json_decref(m);
    if (st != BELT_OK) {
        belt_router_free(r);
        return st;
    }
    *out = r;
    return BELT_OK;
}

static belt_status read_calib(struct loader *l, struct belt_router *r)
{
    const unsigned char *p = l->d + l->off[SEC_CALIB];
    uint64_t left = l->size[SEC_CALIB];
    for (size_t t = 0; t < r->n_tiers; t++) {
        struct belt__router_calib *c = &r->calib[t];
        if (left < 24)
            return corrupt(l, "CALIB truncated");
        c->a = bits_f64(get64(p));
        c->b = bits_f64(get64(p + 8));
        uint64_t n = get64(p + 16);
        p += 24;
        left -= 24;
        if (!isfinite(c->a) || !isfinite(c->b) || n > left / 16)
            return corrupt(l, "CALIB has bad values");
        c->x = belt_malloc((n ? n : 1) * sizeof(double));
        c->y = belt_malloc((n ? n : 1) * sizeof(double));
        if (!c->x || !c->y)
            return belt__error_set(l->err, BELT_ERR_NOMEM, 0, "out of memory");
        c->n = (size_t)n;
        for (size_t i = 0; i < c->n; i++, p += 16, left -= 16) {
            c->x[i] = bits_f64(get64(p));
            c->y[i] = bits_f64(get64(p + 8));
            if (!isfinite(c->x[i]) || !(c->y[i] >= 0 && c->y[i] <= 1) ||
                (i && !(c->x[i] > c->x[i - 1] && c->y[i] >= c->y[i - 1])))
                return corrupt(l, "CALIB is not monotone");
        }
    }
    return left == 0 ? BELT_OK : corrupt(l, "CALIB has trailing bytes");
}

static belt_status read_arrays(struct loader *l, struct belt_router *r)
{
    size_t nw = ((size_t)r->mask + 1) * r->n_tiers;
    if (l->size[SEC_WEIGHTS] != (uint64_t)nw * 4 || l->size[SEC_BIAS] != r->n_tiers * 4)
        return corrupt(l, "weights do not match the header");
    const unsigned char *w = l->d + l->off[SEC_WEIGHTS];
    for (size_t i = 0; i < nw; i++) {
        r->w[i] = bits_f32(get32(w + 4 * i));
        if (!isfinite(r->w[i]))
            return corrupt(l, "a weight is not finite");
    }
    for (size_t t = 0; t < r->n_tiers; t++) /* a no-op for files of this build */
        belt__router_quantize_tier(r, t);
    if (belt__router_pack(r) != BELT_OK)
        return belt__error_set(l->err, BELT_ERR_NOMEM, 0, "out of memory");
    const unsigned char *b = l->d + l->off[SEC_BIAS];
    for (size_t t = 0; t < r->n_tiers; t++)
        r->bias[t] = bits_f32(get32(b + 4 * t));
    return read_calib(l, r);
}

belt_status belt_router_load(const char *path, struct belt_router **out, struct belt_error *err)
{
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    belt_status st = belt_file_read_all(path, (size_t)1 << 30, &data, &len, err);
    if (st != BELT_OK)
        return st;
    struct loader l;
    memset(&l, 0, sizeof(l));
    l.path = path;
    l.d = (const unsigned char *)data;
    l.len = len;
    l.err = err;
    struct belt_router *r = NULL;
    st = check_header(&l);
    if (st == BELT_OK)
        st = read_meta(&l, &r);
    if (st == BELT_OK)
        st = read_arrays(&l, r);
    belt_free(data);
    if (st != BELT_OK) {
        belt_router_free(r);
        return st;
    }
    *out = r;
    return BELT_OK;
}
