/*
 * guard.c — the guard object: injection rules + one injection classifier per source (user
 * input, third-party text; belt_classifier files trained on normalised text, see
 * inject_train.c) + the PII detectors + the policy (thresholds
 * and actions per source). belt_guard_check() computes the rule score and the classifier's
 * probability of "injection" and combines them by noisy-or; the caller acts on the verdict.
 *
 * Long texts are judged in windows: the rules see the whole text in chunks of max_check_len,
 * the classifier sees overlapping windows of about WINDOW bytes (an instruction hidden in a long
 * e-mail is otherwise drowned by the e-mail's own words). The score is the maximum over windows.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "belt.h"
#include "config/config.h"
#include "guard/guard.h"
#include "guard/inject.h"
#include "guard/pii.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/log.h"

struct belt_guard {
    struct belt_guard_params p;       /* effective parameters (model_path not kept) */
    struct belt__inject_rules *rules; /* NULL when use_rules is 0 */
    struct belt_classifier *model[2]; /* per source; NULL: rules only for that source */
    int model_label[2];               /* index of label "injection" in each */
    struct belt_pii *pii;             /* PII detectors */
};

static const char *const action_names[] = {"none", "flag", "block", "escalate", "redact"};

const char *belt_guard_action_name(enum belt_guard_action a)
{
    return (size_t)a < BELT_ARRAY_LEN(action_names) ? action_names[a] : NULL;
}

int belt_guard_action_parse(const char *name)
{
    for (size_t i = 0; name && i < BELT_ARRAY_LEN(action_names); i++)
        if (strcmp(name, action_names[i]) == 0)
            return (int)i;
    return -1;
}

struct belt_guard_params belt_guard_default_params(void)
{
    struct belt_guard_params p;
    memset(&p, 0, sizeof(p));
    p.model_user = NULL;
    p.model_third_party = NULL;
    p.use_rules = 1;
    p.threshold_user = -1;
    p.threshold_third_party = -1;
    p.action_user = BELT_GUARD_ACTION_BLOCK;
    p.action_third_party = BELT_GUARD_ACTION_BLOCK;
    p.block_threshold_user = -1;
    p.block_threshold_third_party = -1;
    p.pii = belt_pii_default_params();
    p.pii.entities = belt__pii_default_mask();
    p.pii_action = BELT_GUARD_ACTION_REDACT;
    p.max_check_len = (size_t)1 << 20;
    return p;
}

void belt_guard_free(struct belt_guard *g)
{
    if (!g)
        return;
    belt__inject_rules_free(g->rules);
    belt_classifier_free(g->model[0]);
    belt_classifier_free(g->model[1]);
    belt_pii_free(g->pii);
    belt_free(g);
}

static belt_status load_model(struct belt_guard *g, int src, const char *path,
                              struct belt_error *err)
{
    belt_status st = belt_classifier_load(path, &g->model[src], err);
    if (st != BELT_OK)
        return belt__error_prefix(err, "injection model: ");
    g->model_label[src] = belt_classifier_label_index(g->model[src], BELT__GUARD_POSITIVE);
    if (g->model_label[src] < 0)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "injection model %s has no label \"%s\" (not an injection model)",
                               path, BELT__GUARD_POSITIVE);
    return BELT_OK;
}

belt_status belt_guard_new(const struct belt_guard_params *p, struct belt_guard **out,
                           struct belt_error *err)
{
    *out = NULL;
    struct belt_guard_params d = belt_guard_default_params();
    if (!p)
        p = &d;
    if (p->threshold_user > 1 || p->threshold_third_party > 1 || p->block_threshold_user > 1 ||
        p->block_threshold_third_party > 1 ||
        (unsigned)p->action_user > BELT_GUARD_ACTION_ESCALATE ||
        (unsigned)p->action_third_party > BELT_GUARD_ACTION_ESCALATE ||
        p->pii_action == BELT_GUARD_ACTION_ESCALATE || (unsigned)p->pii_action > 4)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "guard: thresholds must be <= 1 and actions valid for their use");
    struct belt_guard *g = belt_calloc(1, sizeof(*g));
    if (!g)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    g->p = *p;
    g->p.model_user = g->p.model_third_party = NULL;
    if (!g->p.max_check_len)
        g->p.max_check_len = d.max_check_len;
    g->p.max_check_len = BELT_MAX(g->p.max_check_len, (size_t)4096);
    belt_status st = BELT_OK;
    if (p->use_rules)
        st = belt__inject_rules_new(&g->rules, err);
    if (st == BELT_OK && p->model_user && *p->model_user)
        st = load_model(g, BELT_GUARD_SOURCE_USER, p->model_user, err);
    if (st == BELT_OK && p->model_third_party && *p->model_third_party)
        st = load_model(g, BELT_GUARD_SOURCE_THIRD_PARTY, p->model_third_party, err);
    if (st == BELT_OK)
        st = belt_pii_new(&p->pii, &g->pii, err);
    if (st != BELT_OK) {
        belt_guard_free(g);
        return st;
    }
    double du = g->model[0] ? BELT__GUARD_THRESHOLD_USER_MODEL : BELT__GUARD_THRESHOLD_USER_RULES;
    double dt = g->model[1] ? BELT__GUARD_THRESHOLD_THIRD_MODEL : BELT__GUARD_THRESHOLD_THIRD_RULES;
    if (g->p.threshold_user < 0)
        g->p.threshold_user = du;
    if (g->p.threshold_third_party < 0)
        g->p.threshold_third_party = dt;
    double bu = g->model[0] ? BELT__GUARD_BLOCK_USER_MODEL : BELT__GUARD_BLOCK_USER_RULES;
    double bt = g->model[1] ? BELT__GUARD_BLOCK_THIRD_MODEL : BELT__GUARD_BLOCK_THIRD_RULES;
    if (g->p.block_threshold_user < 0)
        g->p.block_threshold_user = bu;
    if (g->p.block_threshold_third_party < 0)
        g->p.block_threshold_third_party = bt;
    *out = g;
    return BELT_OK;
}

belt_status belt_guard_new_from_config(const struct belt_config *cfg, struct belt_guard **out,
                                       struct belt_error *err)
{
    struct belt_cfg_guard_view v;
    belt__cfg_guard_view(&cfg->guard, cfg->dir, cfg->store.path, &v);
    struct belt_guard_params p = belt_guard_default_params();
    p.use_rules = v.rules;
    p.threshold_user = v.threshold_user;
    p.threshold_third_party = v.threshold_third_party;
    p.action_user = v.action_user;
    p.action_third_party = v.action_third_party;
    p.block_threshold_user = v.block_threshold_user;
    p.block_threshold_third_party = v.block_threshold_third_party;
    p.pii.entities = v.pii_mask;
    p.pii.min_score = v.pii_min_score;
    p.pii_action = v.pii_action;
    p.max_check_len = (size_t)v.max_check_len;
    const char *paths[2] = {v.model_user, v.model_third_party};
    const int explicit_[2] = {v.model_user_explicit, v.model_third_party_explicit};
    const char **dst[2] = {&p.model_user, &p.model_third_party};
    /* A default that is not beside the config falls back to the installed models. */
#ifndef BELT_DATADIR
#define BELT_DATADIR "/usr/local/share/belt"
#endif
    static const char *const installed[2] = {BELT_DATADIR "/models/injection-user.belt",
                                             BELT_DATADIR "/models/injection-third-party.belt"};
    for (int i = 0; i < 2; i++) {
        if (paths[i][0] && (explicit_[i] || belt_file_exists(paths[i])))
            *dst[i] = paths[i];
        else if (paths[i][0] && belt_file_exists(installed[i]))
            *dst[i] = installed[i];
        else if (paths[i][0])
            BELT_LOG_W("guard: no injection model at %s (nor at %s); %s text is judged by rules "
                       "alone",
                       paths[i], installed[i], i ? "third-party" : "user");
    }
    belt_status st = belt_guard_new(&p, out, err);
    if (st != BELT_OK && st != BELT_ERR_NOMEM)
        belt__error_prefix(err, "%s: guard: ", cfg->file);
    return st;
}

const struct belt_pii *belt_guard_pii(const struct belt_guard *g)
{
    return g->pii;
}

enum belt_guard_action belt_guard_pii_action(const struct belt_guard *g, int model_trusted)
{
    return model_trusted ? BELT_GUARD_ACTION_NONE : g->p.pii_action;
}

/* ---- scoring ------------------------------------------------------------------------------- */

size_t belt__guard_segments(const char *s, size_t n, size_t *starts, size_t *ends, size_t cap)
{
    size_t k = 0, a = 0;
    for (size_t i = 0; i <= n && k < cap; i++) {
        int cut = i == n || s[i] == '\n' || s[i] == '|' ||
                  (strchr(".!?;", s[i]) && (i + 1 == n || s[i + 1] == ' ' || s[i + 1] == '\n'));
        if (!cut && i - a < BELT__GUARD_WINDOW)
            continue;
        size_t e = i < n && s[i] != '\n' && s[i] != '|' ? i + 1 : i;
        while (a < e && (s[a] == ' ' || s[a] == '\n'))
            a++;
        while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\n'))
            e--;
        while (e < n && ((unsigned char)s[e] & 0xC0) == 0x80)
            e++;
        if (e > a + 1) {
            starts[k] = a;
            ends[k] = e;
            k++;
        }
        a = e < i + 1 ? i + 1 : e;
        while (a < n && ((unsigned char)s[a] & 0xC0) == 0x80)
            a++;
    }
    return k;
}

static double prob_of(const struct belt_classifier *model, int label, const char *s, size_t n)
{
    struct belt_predict_params pp = belt_predict_default_params();
    pp.top_k = 2;
    struct belt_prediction pr;
    if (belt_classifier_predict(model, s, n, &pp, &pr, NULL) != BELT_OK)
        return 0;
    for (int i = 0; i < pr.n_top; i++)
        if (pr.top[i].index == label)
            return pr.top[i].prob;
    return 0;
}

double belt__guard_model_prob(const struct belt_classifier *model, int label, const char *norm,
                              size_t n)
{
    double best = 0;
    /* The whole text in windows of about BELT__GUARD_WINDOW bytes, half-overlapping. */
    size_t start = 0;
    for (;;) {
        size_t end = n;
        if (n - start > BELT__GUARD_WINDOW) {
            end = start + BELT__GUARD_WINDOW;
            while (end > start + BELT__GUARD_WINDOW / 2 && norm[end] != ' ' && norm[end] != '\n')
                end--;
            while (end < n && ((unsigned char)norm[end] & 0xC0) == 0x80)
                end++;
        }
        best = BELT_MAX(best, prob_of(model, label, norm + start, end - start));
        if (end >= n)
            break;
        size_t next = start + (end - start) / 2;
        while (next < n && norm[next] != ' ' && norm[next] != '\n')
            next++;
        while (next < n && ((unsigned char)norm[next] & 0xC0) == 0x80)
            next++;
        start = next < end ? next : end;
    }
    /* And each sentence: an instruction hidden in a document is one sentence among many. */
    size_t a[256], e[256];
    size_t k = belt__guard_segments(norm, n, a, e, BELT_ARRAY_LEN(a));
    for (size_t i = 0; k > 1 && i < k; i++)
        best = BELT_MAX(best, prob_of(model, label, norm + a[i], e[i] - a[i]));
    return best;
}

/* Judge one chunk (<= max_check_len bytes): the text is normalised once, for the rules and
 * the classifier. */
static belt_status check_chunk(const struct belt_guard *g, enum belt_guard_source src,
                               const char *text, size_t len, double *rule_score,
                               double *model_score, char *reason, size_t cap,
                               struct belt_error *err)
{
    struct belt__inject_result rr;
    memset(&rr, 0, sizeof(rr));
    struct belt_buf norm;
    belt_buf_init(&norm, 0);
    int inv = 0, tags = 0;
    belt_status st = belt_buf_reserve(&norm, len); /* normalising never grows a text */
    if (st == BELT_OK)
        st = belt__inject_normalize(text, len, &norm, &inv, &tags);
    if (st != BELT_OK) {
        belt_buf_deinit(&norm);
        return belt__error_set(err, st, 0, "guard: %s", belt_strerror(st));
    }
    const char *ns = norm.data ? norm.data : "";
    if (g->rules)
        st = belt__inject_rules_score_normalized(g->rules, src, text, len, ns, norm.len, inv, tags,
                                                 &rr, err);
    double p = -1;
    if (st == BELT_OK && g->model[src])
        p = belt__guard_model_prob(g->model[src], g->model_label[src], ns, norm.len);
    belt_buf_deinit(&norm);
    if (st != BELT_OK)
        return st;
    if (rr.score > *rule_score) {
        *rule_score = rr.score;
        if (rr.best_id[0] && rr.score >= p)
            snprintf(reason, cap, "rule %s%s%s%s", rr.best_id, rr.best_via[0] ? " (" : "",
                     rr.best_via, rr.best_via[0] ? ")" : "");
    }
    if (p > *model_score) {
        *model_score = p;
        if (p > rr.score)
            snprintf(reason, cap, "classifier p=%.2f", p);
    }
    return BELT_OK;
}

belt_status belt_guard_check(const struct belt_guard *g, enum belt_guard_source src,
                             const char *text, size_t len, struct belt_guard_verdict *out,
                             struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    if ((unsigned)src > BELT_GUARD_SOURCE_THIRD_PARTY)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "guard: unknown source %d", (int)src);
    out->model_score = g->model[src] ? 0 : -1;
    const size_t chunk = g->p.max_check_len, overlap = 2048;
    size_t pos = 0;
    do {
        size_t n = BELT_MIN(len - pos, chunk);
        belt_status st = check_chunk(g, src, text + pos, n, &out->rule_score, &out->model_score,
                                     out->reason, sizeof(out->reason), err);
        if (st != BELT_OK)
            return st;
        if (pos + n >= len)
            break;
        pos += n - overlap;
    } while (pos < len);
    double m = out->model_score > 0 ? out->model_score : 0;
    out->score = 1 - (1 - out->rule_score) * (1 - m);
    out->threshold =
        src == BELT_GUARD_SOURCE_USER ? g->p.threshold_user : g->p.threshold_third_party;
    out->block_threshold = src == BELT_GUARD_SOURCE_USER ? g->p.block_threshold_user
                                                         : g->p.block_threshold_third_party;
    out->detected = out->score >= out->threshold;
    enum belt_guard_action act =
        src == BELT_GUARD_SOURCE_USER ? g->p.action_user : g->p.action_third_party;
    /* The grey zone: detected, but not with the confidence a refusal needs. */
    if (act != BELT_GUARD_ACTION_NONE && out->score < out->block_threshold)
        act = BELT_GUARD_ACTION_FLAG;
    out->action = out->detected ? act : BELT_GUARD_ACTION_NONE;
    if (!out->detected)
        out->reason[0] = '\0';
    return BELT_OK;
}
