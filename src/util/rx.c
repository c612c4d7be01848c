/*
 * rx.c — PCRE2 glue; see rx.h.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "util/rx.h"

static void *rx_malloc(PCRE2_SIZE n, void *ud)
{
    (void)ud;
    return belt_malloc(n);
}

static void rx_free(void *p, void *ud)
{
    (void)ud;
    belt_free(p);
}

belt_status belt__rx_compile(const char *pat, size_t len, uint32_t options, uint32_t extra_nest,
                             pcre2_code **out, char *msg, size_t cap)
{
    *out = NULL;
    if (cap)
        msg[0] = '\0';
    belt_status st = BELT_ERR_NOMEM;
    pcre2_compile_context *cc = NULL;
    pcre2_general_context *gc = pcre2_general_context_create(rx_malloc, rx_free, NULL);
    if (!gc)
        goto fail;
    cc = pcre2_compile_context_create(gc);
    if (!cc)
        goto fail;
    if (extra_nest)
        pcre2_set_parens_nest_limit(cc, extra_nest);
    int ecode = 0;
    PCRE2_SIZE eoff = 0;
    pcre2_code *code = pcre2_compile(
        (PCRE2_SPTR)pat, len, options | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, cc);
    if (!code) {
        if (ecode == PCRE2_ERROR_HEAP_FAILED) {
            snprintf(msg, cap, "out of memory");
            goto fail;
        }
        char why[160];
        if (pcre2_get_error_message(ecode, (PCRE2_UCHAR *)why, sizeof(why)) < 0)
            snprintf(why, sizeof(why), "error %d", ecode);
        snprintf(msg, cap, "at offset %zu: %s", (size_t)eoff, why);
        st = BELT_ERR_INVALID;
        goto fail;
    }
    /* JIT is an optimisation: when it is unavailable or fails, the interpreter runs. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    *out = code;
    st = BELT_OK;
fail:
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(gc);
    return st;
}

uint32_t belt__rx_n_groups(const pcre2_code *code)
{
    uint32_t n = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    return n;
}

void belt__rx_pool_init(struct belt_rx_pool *p)
{
    p->sizer = NULL;
    p->n_pairs = 0;
    for (size_t i = 0; i < BELT_RX_POOL_SLOTS; i++)
        atomic_init(&p->slot[i], NULL);
}

void belt__rx_pool_size_for(struct belt_rx_pool *p, const pcre2_code *code)
{
    uint32_t pairs = belt__rx_n_groups(code) + 1;
    if (!p->sizer || pairs > p->n_pairs) {
        p->sizer = code;
        p->n_pairs = pairs;
    }
}

pcre2_match_data *belt__rx_pool_acquire(struct belt_rx_pool *p)
{
    for (size_t i = 0; i < BELT_RX_POOL_SLOTS; i++) {
        if (atomic_load_explicit(&p->slot[i], memory_order_relaxed) == NULL)
            continue;
        pcre2_match_data *md = atomic_exchange(&p->slot[i], NULL);
        if (md)
            return md;
    }
    if (BELT_NEVER(!p->sizer))
        return NULL;
    /* Allocates through the sizer's allocator, i.e. belt_malloc. */
    return pcre2_match_data_create_from_pattern(p->sizer, NULL);
}

void belt__rx_pool_release(struct belt_rx_pool *p, pcre2_match_data *md)
{
    if (!md)
        return;
    for (size_t i = 0; i < BELT_RX_POOL_SLOTS; i++) {
        pcre2_match_data *expected = NULL;
        if (atomic_compare_exchange_strong(&p->slot[i], &expected, md))
            return;
    }
    pcre2_match_data_free(md);
}

void belt__rx_pool_deinit(struct belt_rx_pool *p)
{
    for (size_t i = 0; i < BELT_RX_POOL_SLOTS; i++) {
        pcre2_match_data *md = atomic_exchange(&p->slot[i], NULL);
        pcre2_match_data_free(md);
    }
}
