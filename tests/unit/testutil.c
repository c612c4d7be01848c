/*
 * testutil.c — see testutil.h.
 */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/fileio.h"

int belt_test_run(const char *group, const struct CMUnitTest *tests, size_t n)
{
    belt__alloc_set_counting(1);
    if (belt_global_init(NULL) != BELT_OK) {
        fprintf(stderr, "belt_global_init failed\n");
        return 1;
    }
    int rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    belt_global_cleanup();
    return rc;
}

const char *belt_test_tmpdir(char *buf, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, cap, "%s/belt-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf))
        fail_msg("mkdtemp(%s): %s", buf, strerror(errno));
    return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void belt_test_rmrf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void belt_test_write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        fail_msg("fopen(%s): %s", path, strerror(errno));
    fputs(content, fp);
    fclose(fp);
}

char *belt_test_read_file(const char *path)
{
    char *data = NULL;
    struct belt_error err = {0};
    if (belt_file_read_all(path, (size_t)1 << 30, &data, NULL, &err) != BELT_OK)
        fail_msg("reading %s: %s", path, err.msg);
    return data;
}

const char *belt_test_shared_path(const char *rel, char *buf, size_t cap)
{
    const char *d = getenv("BELT_SHARED_DIR");
    if (!d || !*d)
        return NULL;
    snprintf(buf, cap, "%s/%s", d, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}
