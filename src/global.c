/*
 * global.c — once-per-process initialisation, and the list of all process-wide state in src/.
 *
 * libbelt keeps no global mutable state except, and only, the following:
 *  - the dependencies' own global init (curl_global_init, sqlite3_initialize, sodium_init,
 *    json_set_alloc_funcs), done here by belt_global_init();
 *  - the log sink (src/util/log.c), written here once before threads start, read-only after;
 *  - allocation counters and the fault-injection countdown (src/util/alloc.c), atomics;
 *  - read-only tables (`static const`), anywhere.
 * Everything else hangs off a handle passed explicitly.
 */
#include "belt_config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "belt.h"
#include "util/log.h"

#ifndef BELT_VERSION_STRING
#define BELT_VERSION_STRING "0.0.0"
#endif

static void *json_alloc(size_t n)
{
    return belt_malloc(n);
}

static void json_release(void *p)
{
    belt_free(p);
}

struct belt_global_params belt_global_default_params(void)
{
    struct belt_global_params p = {0};
    p.log_level = BELT_LOG_INFO;
    return p;
}

belt_status belt_global_init(const struct belt_global_params *p)
{
    struct belt_global_params d = belt_global_default_params();
    if (!p)
        p = &d;
    belt__log_install(p->log_fn, p->log_ud, p->log_level);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return BELT_ERR_INTERNAL;
    if (sqlite3_initialize() != SQLITE_OK)
        return BELT_ERR_INTERNAL;
    if (sodium_init() < 0)
        return BELT_ERR_INTERNAL;
    json_set_alloc_funcs(json_alloc, json_release);
    return BELT_OK;
}

void belt_global_cleanup(void)
{
    curl_global_cleanup();
    sqlite3_shutdown();
    belt__log_install(NULL, NULL, BELT_LOG_OFF);
}

const char *belt_version(void)
{
    return BELT_VERSION_STRING;
}
