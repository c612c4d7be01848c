/*
 * dataset.h — labelled text datasets for `belt train` and `belt eval`: a JSONL file with one
 * object per line holding a text field and a label field. Every problem is reported as
 * "FILE:LINE: what" (malformed JSON, a missing or non-string field, an empty label, text that
 * is not UTF-8), and an empty file is an error. Not thread-safe.
 */
#ifndef BELT_CLI_DATASET_H
#define BELT_CLI_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

struct cli_dataset {
    struct belt_example *ex; /* examples; strings owned by the dataset */
    int64_t *lineno;         /* line of each example in the file */
    size_t n;                /* examples */
    size_t cap;              /* allocated entries */
    char *path;              /* file name for messages; owned */
};

/* Read `path` ("-" = stdin). require_label: the label field must be there. */
belt_status cli_dataset_load(const char *path, const char *text_field, const char *label_field,
                             int require_label, struct cli_dataset *ds, struct belt_error *err);
/* Release everything (NULL-safe; the dataset may be loaded again). */
void cli_dataset_free(struct cli_dataset *ds);

#endif
