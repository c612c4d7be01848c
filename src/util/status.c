/*
 * status.c — names and descriptions of belt_status values, and struct belt_error helpers.
 */
#include "belt_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "util/error.h"

struct status_info {
    const char *name; /* enum constant name */
    const char *text; /* short description */
};

/* Indexed by belt_status; append-only like the enum. */
static const struct status_info status_table[] = {
    {"BELT_OK", "success"},
    {"BELT_ERR_NOMEM", "out of memory"},
    {"BELT_ERR_INVALID", "invalid argument or input"},
    {"BELT_ERR_IO", "input/output error"},
    {"BELT_ERR_TIMEOUT", "timed out"},
    {"BELT_ERR_UPSTREAM", "upstream model error"},
    {"BELT_ERR_STORE", "store error"},
    {"BELT_ERR_TOOBIG", "size limit exceeded"},
    {"BELT_ERR_NOTFOUND", "not found"},
    {"BELT_ERR_CONFIG", "configuration error"},
    {"BELT_ERR_FORMAT", "malformed or corrupt data"},
    {"BELT_ERR_VERSION", "unsupported version"},
    {"BELT_ERR_CHECKSUM", "checksum mismatch"},
    {"BELT_ERR_UNSUPPORTED", "operation not supported"},
    {"BELT_ERR_CANCELLED", "cancelled"},
    {"BELT_ERR_BUSY", "resource busy"},
    {"BELT_ERR_AUTH", "authentication failed"},
    {"BELT_ERR_FORBIDDEN", "forbidden"},
    {"BELT_ERR_RATELIMIT", "rate limit exceeded"},
    {"BELT_ERR_BUDGET", "budget exceeded"},
    {"BELT_ERR_EXISTS", "already exists"},
    {"BELT_ERR_BLOCKED", "blocked by a guard"},
    {"BELT_ERR_INTERNAL", "internal error"},
};

const char *belt_status_name(belt_status s)
{
    if ((unsigned)s < BELT_ARRAY_LEN(status_table))
        return status_table[s].name;
    return "BELT_ERR_UNKNOWN";
}

const char *belt_strerror(belt_status s)
{
    if ((unsigned)s < BELT_ARRAY_LEN(status_table))
        return status_table[s].text;
    return "unknown status";
}

void belt_error_clear(struct belt_error *err)
{
    if (!err)
        return;
    err->code = BELT_OK;
    err->sub = 0;
    err->msg[0] = '\0';
}

belt_status belt__error_set(struct belt_error *err, belt_status code, int sub, const char *fmt,
                            ...)
{
    if (!err)
        return code;
    err->code = code;
    err->sub = sub;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    } else {
        snprintf(err->msg, sizeof(err->msg), "%s", belt_strerror(code));
    }
    return code;
}

belt_status belt__error_prefix(struct belt_error *err, const char *fmt, ...)
{
    if (!err)
        return BELT_OK;
    char head[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    char old[sizeof(err->msg)];
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s%s", head, old[0] ? old : belt_strerror(err->code));
    return err->code;
}

belt_status belt__error_default(struct belt_error *err, belt_status code)
{
    if (!err)
        return code;
    if (err->code != code || !err->msg[0]) {
        err->code = code;
        snprintf(err->msg, sizeof(err->msg), "%s", belt_strerror(code));
    }
    return code;
}
