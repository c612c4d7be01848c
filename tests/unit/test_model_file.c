/*
 * test_model_file.c — belt_classifier_save / _load: round trips (float and 8-bit), atomic
 * replacement, and every kind of damage (truncation, flipped bytes, wrong magic, newer
 * version) is a clear error and never a crash.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "learn_data.h"
#include "util/fileio.h"

struct fixture {
    char dir[256];             /* temporary directory */
    char path[512];            /* model file */
    struct belt_classifier *c; /* trained model */
};

static int setup(void **state)
{
    struct fixture *f = belt_calloc(1, sizeof(*f));
    belt_test_tmpdir(f->dir, sizeof(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/m.belt", f->dir);
    struct learn_data d;
    learn_data_make(&d, 200, 1);
    struct belt_classifier_params p = learn_params();
    BELT_ASSERT_OK(belt_classifier_train(&p, d.ex, d.n, NULL, 0, &f->c, NULL));
    learn_data_free(&d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_classifier_free(f->c);
    belt_test_rmrf(f->dir);
    belt_free(f);
    return 0;
}

static void expect_same_predictions(const struct belt_classifier *a,
                                    const struct belt_classifier *b, double tol)
{
    static const char *const texts[] = {"refund my money", "where is my package",
                                        "reset password please", "cancel it", "xyzzy"};
    for (size_t i = 0; i < BELT_ARRAY_LEN(texts); i++) {
        struct belt_prediction pa, pb;
        BELT_ASSERT_OK(belt_classifier_predict(a, texts[i], strlen(texts[i]), NULL, &pa, NULL));
        BELT_ASSERT_OK(belt_classifier_predict(b, texts[i], strlen(texts[i]), NULL, &pb, NULL));
        assert_int_equal(pa.index, pb.index);
        assert_true(pa.confidence - pb.confidence <= tol && pb.confidence - pa.confidence <= tol);
    }
}

static void model_file_round_trips(void **state)
{
    struct fixture *f = *state;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_classifier_save(f->c, f->path, 0, &err), &err);
    struct belt_classifier *m = NULL;
    BELT_ASSERT_OK_ERR(belt_classifier_load(f->path, &m, &err), &err);
    expect_same_predictions(f->c, m, 0.0);
    assert_int_equal(belt_classifier_n_labels(m), 4);
    assert_string_equal(belt_classifier_metadata_json(m), belt_classifier_metadata_json(f->c));
    assert_true(belt_classifier_temperature(m) == belt_classifier_temperature(f->c));
    assert_false(belt_classifier_quantized(m));
    belt_classifier_free(m);
}

static void model_file_q8_is_smaller_and_close(void **state)
{
    struct fixture *f = *state;
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/q.belt", f->dir);
    BELT_ASSERT_OK(belt_classifier_save(f->c, f->path, 0, NULL));
    BELT_ASSERT_OK(belt_classifier_save(f->c, p2, BELT_CLASSIFIER_SAVE_Q8, NULL));
    struct belt_mapped_file a, b;
    BELT_ASSERT_OK(belt_file_map(f->path, &a, NULL));
    BELT_ASSERT_OK(belt_file_map(p2, &b, NULL));
    assert_true(b.len < a.len);
    belt_file_unmap(&a);
    belt_file_unmap(&b);
    struct belt_classifier *m = NULL;
    BELT_ASSERT_OK(belt_classifier_load(p2, &m, NULL));
    assert_true(belt_classifier_quantized(m));
    expect_same_predictions(f->c, m, 0.02);
    /* an 8-bit model saves as 8-bit */
    BELT_ASSERT_OK(belt_classifier_save(m, f->path, 0, NULL));
    struct belt_classifier *m2 = NULL;
    BELT_ASSERT_OK(belt_classifier_load(f->path, &m2, NULL));
    assert_true(belt_classifier_quantized(m2));
    expect_same_predictions(m, m2, 0.0);
    belt_classifier_free(m);
    belt_classifier_free(m2);
}

static void model_file_sections_are_aligned(void **state)
{
    struct fixture *f = *state;
    BELT_ASSERT_OK(belt_classifier_save(f->c, f->path, 0, NULL));
    struct belt_mapped_file mf;
    BELT_ASSERT_OK(belt_file_map(f->path, &mf, NULL));
    assert_memory_equal(mf.data, "BELTCLF\x1a", 8);
    assert_int_equal(mf.len % 64, 0);
    uint32_t n_sec = mf.data[24];
    for (uint32_t i = 0; i < n_sec; i++) {
        uint64_t off = 0;
        memcpy(&off, mf.data + 64 + 32 * i + 8, 8);
        assert_int_equal(off % 64, 0);
    }
    belt_file_unmap(&mf);
}

static void write_bytes(const char *path, const unsigned char *d, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(d, 1, n, fp), n);
    fclose(fp);
}

static belt_status load_status(const char *path, struct belt_error *err)
{
    struct belt_classifier *m = NULL;
    belt_status st = belt_classifier_load(path, &m, err);
    if (st == BELT_OK)
        belt_classifier_free(m);
    else
        assert_null(m);
    return st;
}

static void model_file_truncated_is_format_error(void **state)
{
    struct fixture *f = *state;
    BELT_ASSERT_OK(belt_classifier_save(f->c, f->path, 0, NULL));
    size_t len = 0;
    char *d = NULL;
    BELT_ASSERT_OK(belt_file_read_all(f->path, 1 << 26, &d, &len, NULL));
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/bad.belt", f->dir);
    const size_t cuts[] = {0, 4, 8, 40, 63, 64, 100, len / 2, len - 1};
    for (size_t i = 0; i < BELT_ARRAY_LEN(cuts); i++) {
        struct belt_error err = {0};
        write_bytes(bad, (unsigned char *)d, cuts[i]);
        BELT_ASSERT_STATUS(load_status(bad, &err), BELT_ERR_FORMAT);
        assert_true(strlen(err.msg) > 0);
    }
    belt_free(d);
}

static void model_file_flipped_bytes_are_detected(void **state)
{
    struct fixture *f = *state;
    BELT_ASSERT_OK(belt_classifier_save(f->c, f->path, BELT_CLASSIFIER_SAVE_Q8, NULL));
    size_t len = 0;
    char *d = NULL;
    BELT_ASSERT_OK(belt_file_read_all(f->path, 1 << 26, &d, &len, NULL));
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/bad.belt", f->dir);
    struct belt_rng r;
    belt_rng_seed(&r, 1234);
    for (int k = 0; k < 300; k++) {
        size_t at = k < 64 ? (size_t)k : (size_t)belt_rng_below(&r, len);
        unsigned char bit = (unsigned char)(1u << belt_rng_below(&r, 8));
        d[at] ^= (char)bit;
        write_bytes(bad, (unsigned char *)d, len);
        struct belt_error err = {0};
        belt_status st = load_status(bad, &err);
        d[at] ^= (char)bit;
        if (at >= 32 && at < 64) {
            BELT_ASSERT_STATUS(st, BELT_ERR_CHECKSUM); /* the stored checksum itself */
            continue;
        }
        assert_true(st == BELT_ERR_FORMAT || st == BELT_ERR_CHECKSUM || st == BELT_ERR_VERSION);
    }
    belt_free(d);
}

static void model_file_newer_version_is_version_error(void **state)
{
    struct fixture *f = *state;
    BELT_ASSERT_OK(belt_classifier_save(f->c, f->path, 0, NULL));
    size_t len = 0;
    char *d = NULL;
    BELT_ASSERT_OK(belt_file_read_all(f->path, 1 << 26, &d, &len, NULL));
    d[8] = 2; /* format version 2 */
    write_bytes(f->path, (unsigned char *)d, len);
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(load_status(f->path, &err), BELT_ERR_VERSION);
    BELT_ASSERT_CONTAINS(err.msg, "version 2");
    memcpy(d, "GGUF\0\0\0\0", 8);
    write_bytes(f->path, (unsigned char *)d, len);
    BELT_ASSERT_STATUS(load_status(f->path, &err), BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "not a belt classifier model");
    belt_free(d);
}

static void model_file_missing_is_notfound(void **state)
{
    struct fixture *f = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/none.belt", f->dir);
    BELT_ASSERT_STATUS(load_status(p, NULL), BELT_ERR_NOTFOUND);
}

static void model_file_save_replaces_atomically(void **state)
{
    struct fixture *f = *state;
    belt_test_write_file(f->path, "old contents");
    BELT_ASSERT_OK(belt_classifier_save(f->c, f->path, 0, NULL));
    BELT_ASSERT_OK(load_status(f->path, NULL));
    /* a save into a directory that does not exist fails and leaves nothing behind */
    char p[600];
    snprintf(p, sizeof(p), "%s/no/such/dir/m.belt", f->dir);
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_classifier_save(f->c, p, 0, &err), BELT_ERR_IO);
    assert_false(belt_file_exists(p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(model_file_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_q8_is_smaller_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_sections_are_aligned, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_truncated_is_format_error, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_flipped_bytes_are_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_newer_version_is_version_error, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_missing_is_notfound, setup, teardown),
        cmocka_unit_test_setup_teardown(model_file_save_replaces_atomically, setup, teardown),
    };
    return belt_test_run("model_file", tests, BELT_ARRAY_LEN(tests));
}
