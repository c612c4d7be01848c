/*
 * accept.c — accept conditions: normalisation for agreement, and the evaluator over
 * `struct belt__answer` (see accept.h). No I/O; allocation only for scratch buffers.
 */
#include "belt_config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/accept.h"
#include "route/arith.h"
#include "util/json.h"
#include "util/str.h"

const char *const belt__norm_names[] = {"json",   "case",        "space", "punct",
                                        "number", "last_number", NULL};

struct belt__answer belt__answer_empty(void)
{
    struct belt__answer a;
    memset(&a, 0, sizeof(a));
    a.status = BELT_OK;
    a.confidence = NAN;
    a.logprob_mean = NAN;
    a.logprob_min = NAN;
    a.score = NAN;
    return a;
}

/* ---- normalisation -------------------------------------------------------------------------- */

/* Length of the number starting at s[i] (optional sign, then belt__arith_scan_digits), 0 if
 * there is none. Writes the number without separators into num. */
static size_t scan_number(const char *s, size_t n, size_t i, char *num, size_t cap)
{
    size_t sign =
        i < n && (s[i] == '-' || s[i] == '+') && i + 1 < n && isdigit((unsigned char)s[i + 1]);
    if (sign)
        num[0] = s[i];
    size_t w = belt__arith_scan_digits(s, n, i + sign, num + sign, cap - sign);
    return w ? sign + w : 0;
}

/* Append the canonical form of the decimal number in num ("18.50" → "18.5", "-0" → "0"). */
static belt_status put_number(struct belt_buf *out, const char *num)
{
    char *end = NULL;
    double v = strtod(num, &end);
    if (!end || *end || !isfinite(v))
        return belt_buf_puts(out, num);
    if (v == 0)
        v = 0; /* -0 → 0 */
    return belt_buf_printf(out, "%.15g", v);
}

/* The last number of s, canonical, into out; 0 if s has none. */
static int last_number(const char *s, size_t n, struct belt_buf *out, belt_status *st)
{
    char num[64], best[64] = "";
    for (size_t i = 0; i < n;) {
        size_t w = scan_number(s, n, i, num, sizeof(num));
        int starts = w && (i == 0 || !isalnum((unsigned char)s[i - 1]) || s[i] == '-');
        if (w && starts) {
            memcpy(best, num, sizeof(best));
            i += w;
        } else {
            i++;
        }
    }
    if (!best[0])
        return 0;
    *st = put_number(out, best);
    return 1;
}

/* Canonical JSON of s when it parses as a JSON object, array or string; 0 otherwise. */
static int json_form(const char *s, size_t n, struct belt_buf *out, belt_status *st)
{
    size_t tn;
    const char *t = belt_str_trim(s, n, &tn);
    if (!tn || (t[0] != '{' && t[0] != '[' && t[0] != '"'))
        return 0;
    json_t *v = json_loadb(t, tn, JSON_DECODE_ANY, NULL);
    if (!v)
        return 0;
    *st = belt_json_dump_buf(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY, out);
    json_decref(v);
    return 1;
}

belt_status belt__normalize(const char *s, size_t n, unsigned flags, struct belt_buf *out)
{
    belt_status st = BELT_OK;
    if (!s)
        return BELT_OK;
    if ((flags & BELT__NORM_JSON) && json_form(s, n, out, &st))
        return st;
    if ((flags & BELT__NORM_LAST_NUMBER) && last_number(s, n, out, &st))
        return st;
    int pending_space = 0;
    size_t start_len = out->len;
    char num[64];
    for (size_t i = 0; i < n && st == BELT_OK;) {
        unsigned char c = (unsigned char)s[i];
        size_t w = (flags & BELT__NORM_NUMBER) ? scan_number(s, n, i, num, sizeof(num)) : 0;
        if (w && i > 0 && isalnum((unsigned char)s[i - 1]) && s[i] != '-')
            w = 0; /* digits glued to a word ("mp3") stay text */
        if ((flags & BELT__NORM_SPACE) && isspace(c)) {
            pending_space = 1;
            i++;
            continue;
        }
        if (!w && (flags & BELT__NORM_PUNCT) && c < 128 && ispunct(c)) {
            i++;
            continue;
        }
        if (pending_space && out->len > start_len)
            st = belt_buf_putc(out, ' ');
        pending_space = 0;
        if (st != BELT_OK)
            break;
        if (w) {
            st = put_number(out, num);
            i += w;
        } else {
            st = belt_buf_putc(out,
                               (flags & BELT__NORM_CASE) && c < 128 ? (char)tolower(c) : (char)c);
            i++;
        }
    }
    return st;
}

int belt__normalized_equal(const char *a, size_t na, const char *b, size_t nb, unsigned flags)
{
    struct belt_buf x, y;
    belt_buf_init(&x, 0);
    belt_buf_init(&y, 0);
    int eq = 0;
    if (belt__normalize(a, na, flags, &x) == BELT_OK &&
        belt__normalize(b, nb, flags, &y) == BELT_OK)
        eq = x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    belt_buf_deinit(&x);
    belt_buf_deinit(&y);
    return eq;
}

/* ---- condition lifetime --------------------------------------------------------------------- */

void belt__accept_deinit(struct belt__accept *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_kids; i++)
        belt__accept_deinit(&c->kids[i]);
    BELT_FREE(c->kids);
    c->n_kids = 0;
    for (size_t i = 0; i < c->n_labels; i++)
        belt_free(c->labels[i]);
    BELT_FREE(c->labels);
    c->n_labels = 0;
    BELT_FREE(c->model_name);
    BELT_FREE(c->prompt);
    BELT_FREE(c->pattern);
    if (c->re)
        pcre2_code_free(c->re);
    c->re = NULL;
    if (c->rx_pool) {
        belt__rx_pool_deinit(c->rx_pool);
        BELT_FREE(c->rx_pool);
    }
    json_decref(c->schema);
    c->schema = NULL;
    belt__accept_schema_release(c);
    BELT_FREE(c->schema_name);
}

void belt__accept_free(struct belt__accept *c)
{
    if (!c)
        return;
    belt__accept_deinit(c);
    belt_free(c);
}

belt_status belt__accept_compile_regex(struct belt__accept *c, char *msg, size_t cap)
{
    belt_status st = belt__rx_compile(c->pattern, strlen(c->pattern), 0, 0, &c->re, msg, cap);
    if (st != BELT_OK)
        return st;
    c->rx_pool = belt_calloc(1, sizeof(*c->rx_pool));
    if (!c->rx_pool) {
        snprintf(msg, cap, "out of memory");
        return BELT_ERR_NOMEM;
    }
    belt__rx_pool_init(c->rx_pool);
    belt__rx_pool_size_for(c->rx_pool, c->re);
    return BELT_OK;
}

/* ---- evaluation ----------------------------------------------------------------------------- */

static const struct belt__signal *find_signal(const struct belt__signal *sig, size_t n_sig,
                                              enum belt__need_kind kind, size_t model)
{
    for (size_t i = 0; i < n_sig; i++)
        if (sig[i].kind == kind && (kind == BELT__NEED_SAMPLES || sig[i].model == model))
            return &sig[i];
    return NULL;
}

static double lp_value(const struct belt__accept *c, const struct belt__answer *a)
{
    double x = c->lp_min ? a->logprob_min : a->logprob_mean;
    if (isnan(x) || !c->lp_calibrated)
        return x;
    return 1.0 / (1.0 + exp(-(c->lp_a * x + c->lp_b)));
}

double belt__accept_swept_value(const struct belt__accept *c, const struct belt__answer *a,
                                const struct belt__signal *sig, size_t n_sig)
{
    if (!c->swept)
        return NAN;
    switch (c->kind) {
    case BELT__ACCEPT_CONFIDENCE:
        return a->confidence;
    case BELT__ACCEPT_LOGPROBS:
        return lp_value(c, a);
    case BELT__ACCEPT_VERIFIER: {
        const struct belt__signal *s = find_signal(sig, n_sig, BELT__NEED_VERIFY, c->model);
        return s && s->n ? s->answers[0].score : NAN;
    }
    default:
        return NAN;
    }
}

/* Compare value with the (possibly swept) threshold; the verdict and reason for `what`. */
static enum belt__verdict at_least(const char *what, double v, double min, char *reason, size_t cap)
{
    if (isnan(v)) {
        snprintf(reason, cap, "%s not reported", what);
        return BELT__VERDICT_ESCALATE;
    }
    int ok = v >= min;
    snprintf(reason, cap, "%s %.4g %s %.4g", what, v, ok ? ">=" : "<", min);
    return ok ? BELT__VERDICT_ACCEPT : BELT__VERDICT_ESCALATE;
}

static double threshold_of(const struct belt__accept *c, double sweep)
{
    return c->swept && !isnan(sweep) ? sweep : c->threshold;
}

static enum belt__verdict eval_samples(const struct belt__accept *c, const struct belt__answer *a,
                                       const struct belt__signal *sig, size_t n_sig,
                                       struct belt__accept_need *need, char *reason, size_t cap)
{
    const struct belt__signal *s = find_signal(sig, n_sig, BELT__NEED_SAMPLES, 0);
    int have = s ? (int)s->n : 0;
    if (have < c->n_samples - 1) {
        need->kind = BELT__NEED_SAMPLES;
        need->model = 0;
        need->n = c->n_samples - 1 - have;
        snprintf(reason, cap, "needs %d more samples", need->n);
        return BELT__VERDICT_NEED;
    }
    int agree = 1, valid = 1;
    for (int i = 0; i < c->n_samples - 1; i++) {
        const struct belt__answer *x = &s->answers[i];
        if (x->status != BELT_OK)
            continue;
        valid++;
        agree += belt__normalized_equal(a->text, a->len, x->text, x->len, c->normalize);
    }
    int ok = agree >= c->min_agree;
    snprintf(reason, cap, "agreement %d/%d %s %d (of %d answers)", agree, c->n_samples,
             ok ? ">=" : "<", c->min_agree, valid);
    return ok ? BELT__VERDICT_ACCEPT : BELT__VERDICT_ESCALATE;
}

static enum belt__verdict eval_peer(const struct belt__accept *c, const struct belt__answer *a,
                                    const struct belt__signal *sig, size_t n_sig,
                                    struct belt__accept_need *need, char *reason, size_t cap)
{
    const struct belt__signal *s = find_signal(sig, n_sig, BELT__NEED_PEER, c->model);
    if (!s || !s->n) {
        need->kind = BELT__NEED_PEER;
        need->model = c->model;
        need->n = 1;
        snprintf(reason, cap, "needs the answer of %s", c->model_name);
        return BELT__VERDICT_NEED;
    }
    if (s->answers[0].status != BELT_OK) {
        snprintf(reason, cap, "%s failed: no agreement", c->model_name);
        return BELT__VERDICT_ESCALATE;
    }
    int ok = belt__normalized_equal(a->text, a->len, s->answers[0].text, s->answers[0].len,
                                    c->normalize);
    snprintf(reason, cap, "%s %s", c->model_name, ok ? "agrees" : "disagrees");
    return ok ? BELT__VERDICT_ACCEPT : BELT__VERDICT_ESCALATE;
}

static enum belt__verdict eval_verifier(const struct belt__accept *c,
                                        const struct belt__signal *sig, size_t n_sig, double sweep,
                                        struct belt__accept_need *need, char *reason, size_t cap)
{
    const struct belt__signal *s = find_signal(sig, n_sig, BELT__NEED_VERIFY, c->model);
    if (!s || !s->n) {
        need->kind = BELT__NEED_VERIFY;
        need->model = c->model;
        need->n = 1;
        snprintf(reason, cap, "needs a score from %s", c->model_name);
        return BELT__VERDICT_NEED;
    }
    if (s->answers[0].status != BELT_OK) {
        snprintf(reason, cap, "verifier %s failed", c->model_name);
        return BELT__VERDICT_ESCALATE;
    }
    char what[160];
    snprintf(what, sizeof(what), "verifier %s score", c->model_name);
    return at_least(what, s->answers[0].score, threshold_of(c, sweep), reason, cap);
}

static enum belt__verdict eval_labels(const struct belt__accept *c, const struct belt__answer *a,
                                      char *reason, size_t cap)
{
    if (a->abstained) {
        snprintf(reason, cap, "the model abstained");
        return BELT__VERDICT_ESCALATE;
    }
    const char *v = a->label ? a->label : a->text;
    size_t vn = a->label ? strlen(a->label) : a->len;
    if (c->from_model && !c->n_labels) {
        int ok = a->label != NULL;
        snprintf(reason, cap, ok ? "label '%s' from the model" : "no label from the model",
                 ok ? a->label : "");
        return ok ? BELT__VERDICT_ACCEPT : BELT__VERDICT_ESCALATE;
    }
    for (size_t i = 0; i < c->n_labels; i++) {
        if (belt__normalized_equal(v, vn, c->labels[i], strlen(c->labels[i]), c->normalize)) {
            snprintf(reason, cap, "label '%s' in the label set", c->labels[i]);
            return BELT__VERDICT_ACCEPT;
        }
    }
    snprintf(reason, cap, "'%.*s' not in the label set", (int)BELT_MIN(vn, (size_t)60), v ? v : "");
    return BELT__VERDICT_ESCALATE;
}

static enum belt__verdict eval_regex(const struct belt__accept *c, const struct belt__answer *a,
                                     char *reason, size_t cap)
{
    pcre2_match_data *md = belt__rx_pool_acquire(c->rx_pool);
    if (!md) {
        snprintf(reason, cap, "out of memory");
        return BELT__VERDICT_ESCALATE;
    }
    int rc = pcre2_match(c->re, (PCRE2_SPTR)(a->text ? a->text : ""), a->text ? a->len : 0, 0, 0,
                         md, NULL);
    belt__rx_pool_release(c->rx_pool, md);
    int ok = rc >= 0;
    snprintf(reason, cap, "regex /%.80s/ %s", c->pattern, ok ? "matched" : "did not match");
    return ok ? BELT__VERDICT_ACCEPT : BELT__VERDICT_ESCALATE;
}

/* The number a `final` pattern picks out of the answer (group 1, else the whole match):
 * 1 found, 0 no match (why in reason), -1 out of memory. */
static int final_number(const struct belt__accept *c, const char *text, size_t len, double *v,
                        char *shown, size_t shown_cap, char *reason, size_t cap)
{
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    pcre2_match_data *md = belt__rx_pool_acquire(c->rx_pool);
    if (!md) {
        snprintf(reason, cap, "out of memory");
        return -1;
    }
    int rc = pcre2_match(c->re, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t from = 0, to = 0;
    if (rc >= 0) {
        int g = rc >= 2 && ov[2] != PCRE2_UNSET ? 1 : 0;
        from = ov[2 * g];
        to = ov[2 * g + 1];
    }
    belt__rx_pool_release(c->rx_pool, md);
    if (rc < 0) {
        snprintf(reason, cap, "no final answer matching /%.80s/", c->pattern);
        return 0;
    }
    snprintf(shown, shown_cap, "%.*s", (int)BELT_MIN(to - from, (size_t)40), text + from);
    if (!belt__arith_number(text + from, to - from, v)) {
        snprintf(reason, cap, "the final answer '%s' is not a number", shown);
        return 0;
    }
    return 1;
}

/* The calculations the answer states hold; its final answer (if `final`) is one of their
 * results; it uses the task's numbers (if `max_unused`). */
static enum belt__verdict eval_arith(const struct belt__accept *c, const struct belt__answer *a,
                                     const char *task, size_t task_len, char *reason, size_t cap)
{
    struct belt__arith ar;
    const char *text = a->text ? a->text : "";
    size_t len = a->text ? a->len : 0;
    belt__arith_check(text, len, &ar);
    if (ar.wrong) {
        snprintf(reason, cap, "%d of %d stated calculations wrong: %s", ar.wrong, ar.checked,
                 ar.first_wrong);
        return BELT__VERDICT_ESCALATE;
    }
    char shown[48] = "";
    if (c->re) {
        double v;
        if (final_number(c, text, len, &v, shown, sizeof(shown), reason, cap) != 1)
            return BELT__VERDICT_ESCALATE;
        if (ar.n_results && !belt__arith_is_result(&ar, v)) {
            snprintf(reason, cap, "the final answer %s is no result of the stated calculations",
                     shown);
            return BELT__VERDICT_ESCALATE;
        }
    }
    if (c->max_unused >= 0 && task) {
        char first[40];
        int u = belt__arith_unused(task, task_len, text, len, &ar, first, sizeof(first));
        if (u > c->max_unused) {
            snprintf(reason, cap, "%d number%s of the task unused (at most %d), first %s", u,
                     u == 1 ? "" : "s", c->max_unused, first);
            return BELT__VERDICT_ESCALATE;
        }
    }
    snprintf(reason, cap, "%d stated calculation%s hold%s%s%s", ar.checked,
             ar.checked == 1 ? "" : "s", ar.checked == 1 ? "s" : "", shown[0] ? ", final " : "",
             shown);
    return BELT__VERDICT_ACCEPT;
}

static enum belt__verdict eval_node(const struct belt__accept *c, const struct belt__answer *a,
                                    const char *task, size_t task_len,
                                    const struct belt__signal *sig, size_t n_sig, double sweep,
                                    struct belt__accept_need *need, char *reason, size_t cap);

/* all / any: definite answers first, so no call is made for a signal that cannot change the
 * verdict; the reason names the deciding child. */
static enum belt__verdict eval_combo(const struct belt__accept *c, const struct belt__answer *a,
                                     const char *task, size_t task_len,
                                     const struct belt__signal *sig, size_t n_sig, double sweep,
                                     struct belt__accept_need *need, char *reason, size_t cap)
{
    int is_all = c->kind == BELT__ACCEPT_ALL;
    enum belt__verdict decisive = is_all ? BELT__VERDICT_ESCALATE : BELT__VERDICT_ACCEPT;
    int needed = 0;
    struct belt__accept_need first_need = {0};
    char sub[256], first_reason[256] = "", last[256] = "";
    for (size_t i = 0; i < c->n_kids; i++) {
        struct belt__accept_need nd = {0};
        enum belt__verdict v =
            eval_node(&c->kids[i], a, task, task_len, sig, n_sig, sweep, &nd, sub, sizeof(sub));
        if (v == decisive) {
            snprintf(reason, cap, "%s", sub);
            return v;
        }
        if (v == BELT__VERDICT_NEED && !needed) {
            needed = 1;
            first_need = nd;
            snprintf(first_reason, sizeof(first_reason), "%s", sub);
        }
        if (v != BELT__VERDICT_NEED) {
            if (last[0])
                snprintf(last + strlen(last), sizeof(last) - strlen(last), is_all ? "; " : ", ");
            snprintf(last + strlen(last), sizeof(last) - strlen(last), "%s", sub);
        }
    }
    if (needed) {
        *need = first_need;
        snprintf(reason, cap, "%s", first_reason);
        return BELT__VERDICT_NEED;
    }
    if (is_all)
        snprintf(reason, cap, "%s", c->n_kids ? last : "no conditions");
    else
        snprintf(reason, cap, "none held: %s", last);
    return is_all ? BELT__VERDICT_ACCEPT : BELT__VERDICT_ESCALATE;
}

static enum belt__verdict eval_node(const struct belt__accept *c, const struct belt__answer *a,
                                    const char *task, size_t task_len,
                                    const struct belt__signal *sig, size_t n_sig, double sweep,
                                    struct belt__accept_need *need, char *reason, size_t cap)
{
    switch (c->kind) {
    case BELT__ACCEPT_ALL:
    case BELT__ACCEPT_ANY:
        return eval_combo(c, a, task, task_len, sig, n_sig, sweep, need, reason, cap);
    case BELT__ACCEPT_CONFIDENCE:
        return at_least("confidence", a->confidence, threshold_of(c, sweep), reason, cap);
    case BELT__ACCEPT_LOGPROBS:
        return at_least(c->lp_calibrated ? (c->lp_min ? "p(logprob min)" : "p(logprob mean)")
                                         : (c->lp_min ? "logprob min" : "logprob mean"),
                        lp_value(c, a), threshold_of(c, sweep), reason, cap);
    case BELT__ACCEPT_SAMPLES:
        return eval_samples(c, a, sig, n_sig, need, reason, cap);
    case BELT__ACCEPT_PEER:
        return eval_peer(c, a, sig, n_sig, need, reason, cap);
    case BELT__ACCEPT_VERIFIER:
        return eval_verifier(c, sig, n_sig, sweep, need, reason, cap);
    case BELT__ACCEPT_SCHEMA:
        return belt__accept_eval_schema(c, a, reason, cap);
    case BELT__ACCEPT_LABELS:
        return eval_labels(c, a, reason, cap);
    case BELT__ACCEPT_REGEX:
        return eval_regex(c, a, reason, cap);
    case BELT__ACCEPT_ARITHMETIC:
        return eval_arith(c, a, task, task_len, reason, cap);
    }
    snprintf(reason, cap, "unknown condition");
    return BELT__VERDICT_ESCALATE;
}

enum belt__verdict belt__accept_eval(const struct belt__accept *c, const struct belt__answer *a,
                                     const char *task, size_t task_len,
                                     const struct belt__signal *sig, size_t n_sig, double sweep,
                                     struct belt__accept_need *need, char *reason, size_t cap)
{
    struct belt__accept_need dummy;
    if (!need)
        need = &dummy;
    memset(need, 0, sizeof(*need));
    if (!c) {
        snprintf(reason, cap, "no accept condition");
        return BELT__VERDICT_ACCEPT;
    }
    return eval_node(c, a, task, task_len, sig, n_sig, sweep, need, reason, cap);
}

void belt__accept_visit(const struct belt__accept *c, belt__accept_visit_fn *fn, void *ud)
{
    if (!c)
        return;
    fn(ud, c);
    for (size_t i = 0; i < c->n_kids; i++)
        belt__accept_visit(&c->kids[i], fn, ud);
}
