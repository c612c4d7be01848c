/*
 * model_file.c — the classifier model file: belt_classifier_save() and belt_classifier_load().
 *
 * Layout (all integers little-endian; the format refuses big-endian hosts):
 *   0   8  magic "BELTCLF\x1a"
 *   8   4  format version (1)
 *   12  4  header size (64)
 *   16  8  file size in bytes
 *   24  4  number of sections
 *   28  4  flags (bit 0: 8-bit weights)
 *   32 32  BLAKE2b-256 of bytes [0, 32) followed by bytes [64, file size)
 *   64     section table: per section {u32 id, u32 reserved, u64 offset, u64 size, u64 count}
 *   ...    sections, each starting on a 64-byte boundary (so arrays are usable in place from a
 *          read-only mapping):
 *            META    JSON object: format, features, labels, n_features, n_slots, temperature,
 *                    dev_threshold, params, training, dev metrics
 *            SLOTS   n_slots x {u64 feature hash, u32 row, u32 0}
 *            W_F32   n_features x n_labels float32, row-major     (flags bit 0 clear)
 *            W_Q8    n_features x n_labels int8, row-major         (flags bit 0 set)
 *            SCALES  n_features float32 (weight = int8 * scale)    (flags bit 0 set)
 *            BIAS    n_labels float32
 * Loading checks everything before the model is used: a truncated, corrupted or foreign file
 * is an error, never a crash.
 */
#include "belt_config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "learn/classifier.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#define MAGIC          "BELTCLF\x1a"
#define FORMAT_VERSION 1u
#define HEADER_SIZE    64u
#define SECTION_SIZE   32u
#define MAX_SECTIONS   16u
#define FLAG_Q8        1u

enum section_id {
    SEC_META = 1,
    SEC_SLOTS = 2,
    SEC_W_F32 = 3,
    SEC_W_Q8 = 4,
    SEC_SCALES = 5,
    SEC_BIAS = 6
};

/* One entry of the section table. */
struct section {
    uint32_t id;    /* enum section_id */
    uint64_t off;   /* byte offset (64-aligned) */
    uint64_t size;  /* bytes */
    uint64_t count; /* elements */
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

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

static uint64_t align64(uint64_t x)
{
    return (x + 63) & ~(uint64_t)63;
}

/* ---- Save ------------------------------------------------------------------------------ */

/* A writer that hashes everything after the header and tracks the offset. */
struct writer {
    FILE *fp;                    /* destination */
    crypto_generichash_state hs; /* running BLAKE2b */
    uint64_t off;                /* bytes written */
    int failed;                  /* a write failed (errno saved) */
    int err_no;                  /* errno of the failure */
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->fp) != n) {
        w->failed = 1;
        w->err_no = errno;
        return;
    }
    crypto_generichash_update(&w->hs, p, n);
    w->off += n;
}

static void w_pad(struct writer *w, uint64_t to)
{
    static const unsigned char zero[64];
    while (!w->failed && w->off < to)
        w_bytes(w, zero, (size_t)BELT_MIN(to - w->off, (uint64_t)sizeof(zero)));
}

/* The 8-bit scale of a weight row: max|w| / 127 (1 for an all-zero row). */
static float row_scale(const float *row, size_t n)
{
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++)
        mx = fabsf(row[i]) > mx ? fabsf(row[i]) : mx;
    return mx > 0 ? mx / 127.0f : 1.0f;
}

/* Plan the sections of model c. Returns the number of sections; the file size in *total. */
static uint32_t plan(const struct belt_classifier *c, int q8, struct section *s, uint64_t *total)
{
    const uint64_t L = c->n_labels, R = c->n_rows;
    uint32_t n = 0;
    s[n++] = (struct section){SEC_META, 0, strlen(c->meta_json), 1};
    s[n++] = (struct section){SEC_SLOTS, 0, (uint64_t)c->n_slots * 16, c->n_slots};
    if (q8) {
        s[n++] = (struct section){SEC_W_Q8, 0, R * L, R * L};
        s[n++] = (struct section){SEC_SCALES, 0, R * 4, R};
    } else {
        s[n++] = (struct section){SEC_W_F32, 0, R * L * 4, R * L};
    }
    s[n++] = (struct section){SEC_BIAS, 0, L * 4, L};
    uint64_t off = align64(HEADER_SIZE + (uint64_t)n * SECTION_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        s[i].off = off;
        off = align64(off + s[i].size);
    }
    *total = off;
    return n;
}

static void write_weights(struct writer *w, const struct belt_classifier *c, int q8)
{
    const size_t L = c->n_labels;
    if (!q8) {
        w_bytes(w, c->w, (size_t)c->n_rows * L * sizeof(float));
        return;
    }
    if (c->q8) {
        w_bytes(w, c->wq, (size_t)c->n_rows * L);
        return;
    }
    int8_t q[4096];
    for (uint32_t r = 0; r < c->n_rows; r++) {
        const float *row = c->w + (size_t)r * L;
        const float inv = 1.0f / row_scale(row, L);
        for (size_t a = 0; a < L; a += sizeof(q)) {
            size_t m = BELT_MIN(L - a, sizeof(q));
            for (size_t i = 0; i < m; i++)
                q[i] = (int8_t)lrintf(row[a + i] * inv);
            w_bytes(w, q, m);
        }
    }
}

static void write_scales(struct writer *w, const struct belt_classifier *c)
{
    if (c->q8) {
        w_bytes(w, c->wscale, (size_t)c->n_rows * sizeof(float));
        return;
    }
    for (uint32_t r = 0; r < c->n_rows; r++) {
        float scale = row_scale(c->w + (size_t)r * c->n_labels, c->n_labels);
        w_bytes(w, &scale, sizeof(scale));
    }
}

static void header_start(unsigned char *h, uint64_t total, uint32_t n_sec, uint32_t flags)
{
    memset(h, 0, HEADER_SIZE);
    memcpy(h, MAGIC, 8);
    put32(h + 8, FORMAT_VERSION);
    put32(h + 12, HEADER_SIZE);
    put64(h + 16, total);
    put32(h + 24, n_sec);
    put32(h + 28, flags);
}

/* Write the body (section table and sections) after the header. */
static void write_body(struct writer *w, const struct belt_classifier *c, int q8,
                       const struct section *s, uint32_t n)
{
    unsigned char e[SECTION_SIZE];
    for (uint32_t i = 0; i < n; i++) {
        memset(e, 0, sizeof(e));
        put32(e, s[i].id);
        put64(e + 8, s[i].off);
        put64(e + 16, s[i].size);
        put64(e + 24, s[i].count);
        w_bytes(w, e, sizeof(e));
    }
    for (uint32_t i = 0; i < n; i++) {
        w_pad(w, s[i].off);
        switch (s[i].id) {
        case SEC_META:
            w_bytes(w, c->meta_json, s[i].size);
            break;
        case SEC_SLOTS:
            w_bytes(w, c->slots, s[i].size);
            break;
        case SEC_W_F32:
        case SEC_W_Q8:
            write_weights(w, c, q8);
            break;
        case SEC_SCALES:
            write_scales(w, c);
            break;
        default:
            w_bytes(w, c->bias, s[i].size);
        }
    }
}

belt_status belt_classifier_save(const struct belt_classifier *c, const char *path, unsigned flags,
                                 struct belt_error *err)
{
    if (HOST_BIG_ENDIAN)
        return belt__error_set(err, BELT_ERR_UNSUPPORTED, 0,
                               "model files are little-endian; this host is big-endian");
    const int q8 = c->q8 || (flags & BELT_CLASSIFIER_SAVE_Q8);
    struct section s[MAX_SECTIONS];
    uint64_t total = 0;
    uint32_t n = plan(c, q8, s, &total);
    unsigned char h[HEADER_SIZE];
    header_start(h, total, n, q8 ? FLAG_Q8 : 0);
    struct belt_atomic_file af;
    belt_status st = belt_atomic_file_open(&af, path, err);
    if (st != BELT_OK)
        return st;
    struct writer w;
    memset(&w, 0, sizeof(w));
    crypto_generichash_init(&w.hs, NULL, 0, 32);
    crypto_generichash_update(&w.hs, h, 32);
    w.fp = af.fp;
    if (fwrite(h, 1, HEADER_SIZE, af.fp) != HEADER_SIZE) {
        w.failed = 1;
        w.err_no = errno;
    }
    w.off = HEADER_SIZE;
    write_body(&w, c, q8, s, n);
    w_pad(&w, total);
    crypto_generichash_final(&w.hs, h + 32, 32);
    if (!w.failed && (fseek(af.fp, 32, SEEK_SET) != 0 || fwrite(h + 32, 1, 32, af.fp) != 32)) {
        w.failed = 1;
        w.err_no = errno;
    }
    if (w.failed) {
        belt_atomic_file_abort(&af);
        return belt__error_set(err, BELT_ERR_IO, w.err_no, "writing %s: %s", path,
                               strerror(w.err_no));
    }
    return belt_atomic_file_commit(&af, err);
}

/* ---- Load ------------------------------------------------------------------------------ */

/* Check the header and checksum; fill the section table. */
static belt_status check_header(const unsigned char *d, size_t len, const char *path,
                                struct section *s, uint32_t *n_sec, uint32_t *flags,
                                struct belt_error *err)
{
    if (len < 8 || memcmp(d, MAGIC, 8) != 0)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: not a belt classifier model file",
                               path);
    if (len < HEADER_SIZE)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: truncated header (%zu bytes)", path,
                               len);
    uint32_t version = get32(d + 8);
    if (version > FORMAT_VERSION)
        return belt__error_set(err, BELT_ERR_VERSION, 0,
                               "%s: model format version %u is newer than this build reads (%u)",
                               path, version, FORMAT_VERSION);
    if (version == 0 || get32(d + 12) != HEADER_SIZE)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: malformed header", path);
    uint64_t size = get64(d + 16);
    if (size != len)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "%s: truncated or padded: header says %llu bytes, file has %zu",
                               path, (unsigned long long)size, len);
    unsigned char sum[32];
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    crypto_generichash_update(&hs, d, 32);
    crypto_generichash_update(&hs, d + HEADER_SIZE, len - HEADER_SIZE);
    crypto_generichash_final(&hs, sum, 32);
    if (sodium_memcmp(sum, d + 32, 32) != 0)
        return belt__error_set(err, BELT_ERR_CHECKSUM, 0,
                               "%s: checksum mismatch: the file is corrupted", path);
    *n_sec = get32(d + 24);
    *flags = get32(d + 28);
    if (*n_sec == 0 || *n_sec > MAX_SECTIONS ||
        HEADER_SIZE + (uint64_t)*n_sec * SECTION_SIZE > len || (*flags & ~FLAG_Q8))
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: malformed header", path);
    for (uint32_t i = 0; i < *n_sec; i++) {
        const unsigned char *e = d + HEADER_SIZE + (size_t)i * SECTION_SIZE;
        s[i] = (struct section){get32(e), get64(e + 8), get64(e + 16), get64(e + 24)};
        if (s[i].off % 64 || s[i].off > len || s[i].size > len - s[i].off)
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: section %u out of bounds", path,
                                   s[i].id);
    }
    return BELT_OK;
}

static const struct section *find_section(const struct section *s, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (s[i].id == id)
            return &s[i];
    return NULL;
}

/* Read the metadata fields prediction needs. */
static belt_status read_meta(struct belt_classifier *c, const json_t *m, const char *path,
                             struct belt_error *err)
{
    const json_t *f = json_object_get(m, "features");
    const json_t *bw = json_object_get(f, "block_weights");
    const json_t *labels = json_object_get(m, "labels");
    c->fc.word_ngrams = (int)belt_json_int(f, "word_ngrams", -1);
    c->fc.char_min = (int)belt_json_int(f, "char_min", -1);
    c->fc.char_max = (int)belt_json_int(f, "char_max", -1);
    int64_t n_rows = belt_json_int(m, "n_features", -1), n_slots = belt_json_int(m, "n_slots", -1);
    c->temperature = belt_json_num(m, "temperature", -1);
    c->dev_threshold = belt_json_num(m, "dev_threshold", -1);
    if (belt__features_check_config(&c->fc, err) != BELT_OK || !json_is_array(bw) ||
        json_array_size(bw) != 2 || !json_is_array(labels) || json_array_size(labels) < 2 ||
        json_array_size(labels) > 65535 || n_rows < 0 || n_rows > 0x7FFFFFFF || n_slots < 16 ||
        n_slots > 0x40000000 || (n_slots & (n_slots - 1)) || n_slots <= n_rows ||
        !(c->temperature > 0) || !isfinite(c->temperature))
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: malformed metadata", path);
    for (int k = 0; k < 2; k++)
        c->block_weight[k] = (float)json_number_value(json_array_get(bw, (size_t)k));
    c->n_labels = (uint32_t)json_array_size(labels);
    c->n_rows = (uint32_t)n_rows;
    c->n_slots = (uint32_t)n_slots;
    size_t blob = 0;
    for (size_t i = 0; i < c->n_labels; i++) {
        const char *s = json_string_value(json_array_get(labels, i));
        if (!s || !*s)
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: malformed label %zu", path, i);
        blob += strlen(s) + 1;
    }
    char *p = belt_malloc(blob);
    c->labels = belt_malloc(c->n_labels * sizeof(char *));
    c->label_blob = p;
    if (!p || !c->labels)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < c->n_labels; i++) {
        const char *s = json_string_value(json_array_get(labels, i));
        size_t n = strlen(s) + 1;
        memcpy(p, s, n);
        c->labels[i] = p;
        p += n;
    }
    return belt__clf_index_labels(c) == BELT_OK
               ? BELT_OK
               : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
}

/* Point the model's arrays into the mapping, checking every size. */
static belt_status bind_sections(struct belt_classifier *c, const unsigned char *d,
                                 const struct section *s, uint32_t n, int q8, const char *path,
                                 struct belt_error *err)
{
    const uint64_t L = c->n_labels, R = c->n_rows;
    const struct section *sl = find_section(s, n, SEC_SLOTS);
    const struct section *w = find_section(s, n, q8 ? SEC_W_Q8 : SEC_W_F32);
    const struct section *sc = q8 ? find_section(s, n, SEC_SCALES) : NULL;
    const struct section *b = find_section(s, n, SEC_BIAS);
    if (!sl || !w || !b || (q8 && !sc) || sl->size != (uint64_t)c->n_slots * 16 ||
        w->size != R * L * (q8 ? 1 : 4) || (q8 && sc->size != R * 4) || b->size != L * 4)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: missing or mis-sized section", path);
    c->slots = (const struct belt__clf_slot *)(const void *)(d + sl->off);
    uint32_t used = 0;
    for (uint32_t i = 0; i < c->n_slots; i++) {
        if (!c->slots[i].key)
            continue;
        used++;
        if (c->slots[i].row >= c->n_rows)
            return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: feature table out of range", path);
    }
    if (used >= c->n_slots)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: feature table full", path);
    c->q8 = q8;
    if (q8) {
        c->wq = (const int8_t *)(const void *)(d + w->off);
        c->wscale = (const float *)(const void *)(d + sc->off);
    } else {
        c->w = (const float *)(const void *)(d + w->off);
    }
    c->bias = (const float *)(const void *)(d + b->off);
    return BELT_OK;
}

static belt_status load_mapped(struct belt_classifier *c, const char *path, struct belt_error *err)
{
    const unsigned char *d = c->map.data;
    const size_t len = c->map.len;
    struct section s[MAX_SECTIONS];
    uint32_t n = 0, flags = 0;
    belt_status st =
        check_header(d ? d : (const unsigned char *)"", d ? len : 0, path, s, &n, &flags, err);
    if (st != BELT_OK)
        return st;
    const struct section *ms = find_section(s, n, SEC_META);
    if (!ms)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: no metadata section", path);
    c->meta_json = belt_strndup((const char *)d + ms->off, (size_t)ms->size);
    if (!c->meta_json)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    json_t *m = NULL;
    st = belt_json_parse(c->meta_json, strlen(c->meta_json), path, 0, &m, err);
    if (st != BELT_OK)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: malformed metadata", path);
    st = json_is_object(m)
             ? read_meta(c, m, path, err)
             : belt__error_set(err, BELT_ERR_FORMAT, 0, "%s: malformed metadata", path);
    json_decref(m);
    if (st == BELT_OK)
        st = bind_sections(c, d, s, n, (flags & FLAG_Q8) != 0, path, err);
    return st;
}

belt_status belt_classifier_load(const char *path, struct belt_classifier **out,
                                 struct belt_error *err)
{
    *out = NULL;
    if (HOST_BIG_ENDIAN)
        return belt__error_set(err, BELT_ERR_UNSUPPORTED, 0,
                               "model files are little-endian; this host is big-endian");
    struct belt_classifier *c = belt_calloc(1, sizeof(*c));
    if (!c)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_status st = belt_file_map(path, &c->map, err);
    if (st != BELT_OK) {
        belt_free(c);
        return st;
    }
    c->mapped = 1;
    st = load_mapped(c, path, err);
    if (st != BELT_OK) {
        belt_classifier_free(c);
        return st;
    }
    *out = c;
    return BELT_OK;
}
