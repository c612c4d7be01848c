/*
 * stats.c — line run statistics: histograms, per-station counters, tiers, reasons, accuracy
 * specs, and their JSON form for checkpoints (see stats.h).
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "line/stats.h"
#include "util/error.h"

/* ---- histograms ------------------------------------------------------------------------------ */

static size_t bucket_of(int64_t us)
{
    uint64_t v = us < 0 ? 0 : (uint64_t)us;
    if (v < 8)
        return (size_t)v;
    int k = 63 - __builtin_clzll(v);
    size_t idx = (size_t)(8 * (k - 2)) + (size_t)((v >> (k - 3)) & 7);
    return idx < BELT__HIST_BUCKETS ? idx : BELT__HIST_BUCKETS - 1;
}

/* Geometric middle of bucket idx in µs. */
static double bucket_mid(size_t idx)
{
    if (idx < 8)
        return (double)idx;
    int k = (int)(idx / 8) + 2;
    double lo = (double)((8 + idx % 8) << 0) * ldexp(1.0, k - 3);
    double hi = lo + ldexp(1.0, k - 3);
    return sqrt(lo * hi);
}

void belt__hist_add(struct belt__hist *h, int64_t us)
{
    h->n++;
    h->sum_us += (double)(us < 0 ? 0 : us);
    h->b[bucket_of(us)]++;
}

void belt__hist_merge(struct belt__hist *dst, const struct belt__hist *src)
{
    dst->n += src->n;
    dst->sum_us += src->sum_us;
    for (size_t i = 0; i < BELT__HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
}

double belt__hist_quantile(const struct belt__hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BELT__HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return bucket_mid(i);
    }
    return bucket_mid(BELT__HIST_BUCKETS - 1);
}

/* ---- counters -------------------------------------------------------------------------------- */

belt_status belt__line_stats_init(struct belt__line_stats *s, size_t n_stations, size_t n_gold)
{
    memset(s, 0, sizeof(*s));
    s->n_stations = n_stations;
    s->n_gold = n_gold;
    s->st = belt_calloc(n_stations ? n_stations : 1, sizeof(*s->st));
    s->gold = belt_calloc(n_gold ? n_gold : 1, sizeof(*s->gold));
    if (!s->st || !s->gold) {
        belt__line_stats_deinit(s);
        return BELT_ERR_NOMEM;
    }
    return BELT_OK;
}

void belt__line_stats_deinit(struct belt__line_stats *s)
{
    belt_free(s->st);
    belt_free(s->gold);
    s->st = NULL;
    s->gold = NULL;
}

static void tier_add(struct belt__station_stats *s, const char *label, uint64_t n)
{
    for (size_t i = 0; i < s->n_tiers; i++) {
        if (strcmp(s->tiers[i].label, label) == 0) {
            s->tiers[i].n += n;
            return;
        }
    }
    size_t i = s->n_tiers < BELT__MAX_TIERS ? s->n_tiers++ : BELT__MAX_TIERS - 1;
    if (i == BELT__MAX_TIERS - 1 && s->n_tiers == BELT__MAX_TIERS &&
        strcmp(s->tiers[i].label, "other") != 0 && s->tiers[i].n) {
        snprintf(s->tiers[i].label, sizeof(s->tiers[i].label), "other");
        s->tiers[i].n += n;
        return;
    }
    snprintf(s->tiers[i].label, sizeof(s->tiers[i].label), "%s", label);
    s->tiers[i].n += n;
}

void belt__line_stats_tier(struct belt__station_stats *s, const char *label)
{
    tier_add(s, label, 1);
}

static void reason_add(struct belt__line_stats *s, const char *key, uint64_t n)
{
    for (size_t i = 0; i < s->n_reasons; i++) {
        if (strcmp(s->reasons[i].key, key) == 0) {
            s->reasons[i].n += n;
            return;
        }
    }
    if (s->n_reasons == BELT__MAX_REASONS) {
        struct belt__reason_count *last = &s->reasons[BELT__MAX_REASONS - 1];
        snprintf(last->key, sizeof(last->key), "other reasons");
        last->n += n;
        return;
    }
    snprintf(s->reasons[s->n_reasons].key, sizeof(s->reasons[0].key), "%s", key);
    s->reasons[s->n_reasons++].n = n;
}

/* Group alike reasons: digits become '#', the text is cut at the first '(' or newline. */
void belt__line_stats_reason(struct belt__line_stats *s, const char *station, const char *why)
{
    char key[128];
    int w = station ? snprintf(key, sizeof(key), "%s: ", station) : 0;
    size_t o = w > 0 && (size_t)w < sizeof(key) ? (size_t)w : 0;
    for (const char *c = why ? why : ""; *c && o + 1 < sizeof(key); c++) {
        if (*c == '\n' || *c == '(')
            break;
        char ch = *c >= '0' && *c <= '9' ? '#' : *c;
        if (ch == '#' && o > 0 && key[o - 1] == '#')
            continue;
        key[o++] = ch;
    }
    while (o > 0 && (key[o - 1] == ' ' || key[o - 1] == ':'))
        o--;
    key[o] = '\0';
    reason_add(s, key, 1);
}

static void station_merge(struct belt__station_stats *d, const struct belt__station_stats *s)
{
    d->runs += s->runs;
    d->ok += s->ok;
    d->skipped += s->skipped;
    d->failed += s->failed;
    d->cached += s->cached;
    d->parked += s->parked;
    d->retried += s->retried;
    d->escalated += s->escalated;
    d->cost_usd += s->cost_usd;
    belt__hist_merge(&d->lat, &s->lat);
    for (size_t i = 0; i < s->n_tiers; i++)
        tier_add(d, s->tiers[i].label, s->tiers[i].n);
}

void belt__line_stats_merge(struct belt__line_stats *dst, const struct belt__line_stats *src)
{
    dst->items += src->items;
    dst->ok += src->ok;
    dst->review += src->review;
    dst->dropped += src->dropped;
    dst->errors += src->errors;
    dst->bad_input += src->bad_input;
    dst->escalations += src->escalations;
    dst->cost_usd += src->cost_usd;
    belt__hist_merge(&dst->lat, &src->lat);
    for (size_t i = 0; i < dst->n_stations && i < src->n_stations; i++)
        station_merge(&dst->st[i], &src->st[i]);
    for (size_t i = 0; i < dst->n_gold && i < src->n_gold; i++) {
        dst->gold[i].n += src->gold[i].n;
        dst->gold[i].answered += src->gold[i].answered;
        dst->gold[i].correct += src->gold[i].correct;
    }
    for (size_t i = 0; i < src->n_reasons; i++)
        reason_add(dst, src->reasons[i].key, src->reasons[i].n);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *hist_json(const struct belt__hist *h)
{
    json_t *b = json_array();
    for (size_t i = 0; b && i < BELT__HIST_BUCKETS; i++)
        if (h->b[i])
            json_array_append_new(b, json_pack("[II]", (json_int_t)i, (json_int_t)h->b[i]));
    return json_pack("{sI sf so*}", "n", (json_int_t)h->n, "sum_us", h->sum_us, "b", b);
}

static int hist_load(struct belt__hist *h, const json_t *j)
{
    const json_t *b = json_object_get(j, "b");
    if (!json_is_object(j) || !json_is_array(b))
        return -1;
    h->n += (uint64_t)json_integer_value(json_object_get(j, "n"));
    h->sum_us += json_number_value(json_object_get(j, "sum_us"));
    size_t i;
    const json_t *pair;
    json_array_foreach(b, i, pair)
    {
        json_int_t idx = json_integer_value(json_array_get(pair, 0));
        if (idx < 0 || idx >= BELT__HIST_BUCKETS)
            return -1;
        h->b[idx] += (uint64_t)json_integer_value(json_array_get(pair, 1));
    }
    return 0;
}

#define U(x) ((json_int_t)(x))

static json_t *station_json(const struct belt__station_stats *s)
{
    json_t *tiers = json_object();
    for (size_t i = 0; tiers && i < s->n_tiers; i++)
        json_object_set_new(tiers, s->tiers[i].label, json_integer(U(s->tiers[i].n)));
    return json_pack("{sI sI sI sI sI sI sI sI sf so* so*}", "runs", U(s->runs), "ok", U(s->ok),
                     "skipped", U(s->skipped), "failed", U(s->failed), "cached", U(s->cached),
                     "parked", U(s->parked), "retried", U(s->retried), "escalated", U(s->escalated),
                     "cost_usd", s->cost_usd, "latency", hist_json(&s->lat), "tiers", tiers);
}

json_t *belt__line_stats_to_json(const struct belt__line_stats *s)
{
    json_t *st = json_array(), *gold = json_array(), *reasons = json_object();
    for (size_t i = 0; st && i < s->n_stations; i++)
        json_array_append_new(st, station_json(&s->st[i]));
    for (size_t i = 0; gold && i < s->n_gold; i++)
        json_array_append_new(gold,
                              json_pack("{sI sI sI}", "n", U(s->gold[i].n), "answered",
                                        U(s->gold[i].answered), "correct", U(s->gold[i].correct)));
    for (size_t i = 0; reasons && i < s->n_reasons; i++)
        json_object_set_new(reasons, s->reasons[i].key, json_integer(U(s->reasons[i].n)));
    return json_pack("{sI sI sI sI sI sI sI sf so* so* so* so*}", "items", U(s->items), "ok",
                     U(s->ok), "review", U(s->review), "dropped", U(s->dropped), "errors",
                     U(s->errors), "bad_input", U(s->bad_input), "escalations", U(s->escalations),
                     "cost_usd", s->cost_usd, "latency", hist_json(&s->lat), "stations", st, "gold",
                     gold, "reasons", reasons);
}

static uint64_t ju(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

static int station_load(struct belt__station_stats *d, const json_t *j)
{
    struct belt__station_stats s;
    memset(&s, 0, sizeof(s));
    s.runs = ju(j, "runs");
    s.ok = ju(j, "ok");
    s.skipped = ju(j, "skipped");
    s.failed = ju(j, "failed");
    s.cached = ju(j, "cached");
    s.parked = ju(j, "parked");
    s.retried = ju(j, "retried");
    s.escalated = ju(j, "escalated");
    s.cost_usd = json_number_value(json_object_get(j, "cost_usd"));
    if (hist_load(&s.lat, json_object_get(j, "latency")) != 0)
        return -1;
    station_merge(d, &s);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(j, "tiers"), k, v)
        tier_add(d, k, (uint64_t)json_integer_value(v));
    return 0;
}

belt_status belt__line_stats_from_json(struct belt__line_stats *s, const json_t *j,
                                       struct belt_error *err)
{
    const json_t *st = json_object_get(j, "stations"), *gold = json_object_get(j, "gold");
    if (!json_is_object(j) || json_array_size(st) != s->n_stations)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "the checkpoint's statistics do not match the line");
    s->items += ju(j, "items");
    s->ok += ju(j, "ok");
    s->review += ju(j, "review");
    s->dropped += ju(j, "dropped");
    s->errors += ju(j, "errors");
    s->bad_input += ju(j, "bad_input");
    s->escalations += ju(j, "escalations");
    s->cost_usd += json_number_value(json_object_get(j, "cost_usd"));
    int bad = hist_load(&s->lat, json_object_get(j, "latency"));
    for (size_t i = 0; !bad && i < s->n_stations; i++)
        bad = station_load(&s->st[i], json_array_get(st, i));
    for (size_t i = 0; !bad && i < s->n_gold && i < json_array_size(gold); i++) {
        const json_t *g = json_array_get(gold, i);
        s->gold[i].n += ju(g, "n");
        s->gold[i].answered += ju(g, "answered");
        s->gold[i].correct += ju(g, "correct");
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(j, "reasons"), k, v)
        reason_add(s, k, (uint64_t)json_integer_value(v));
    if (bad)
        return belt__error_set(err, BELT_ERR_FORMAT, 0, "the checkpoint's statistics are corrupt");
    return BELT_OK;
}

/* ---- gold specs ------------------------------------------------------------------------------ */

void belt__gold_free(struct belt__gold *g)
{
    belt_free(g->spec);
    belt__cfg_path_free(&g->gold);
    belt__cfg_path_free(&g->pred);
    memset(g, 0, sizeof(*g));
}

belt_status belt__gold_parse(const struct belt_cfg_line *line, const char *spec,
                             struct belt__gold *out, struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "--gold '%s': expected FIELD=STATION[.SUBFIELD]", spec);
    char field[300], rhs[300], why[200];
    snprintf(field, sizeof(field), "%.*s", (int)(eq - spec), spec);
    snprintf(rhs, sizeof(rhs), "%s", eq + 1);
    char *dot = strchr(rhs, '.');
    if (dot)
        *dot = '\0';
    const struct belt_cfg_station *s = belt__cfg_line_station(line, rhs);
    if (!s)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "--gold '%s': line %s has no station '%s'",
                               spec, line->name, rhs);
    out->station = s->is_tool ? line->n_stations + s->index : s->index;
    char pred[600];
    snprintf(pred, sizeof(pred), "%s%s%s", s->output.text, dot ? "." : "", dot ? dot + 1 : "");
    belt_status st = belt__cfg_path_parse(field, &out->gold, why, sizeof(why));
    if (st == BELT_OK)
        st = belt__cfg_path_parse(pred, &out->pred, why, sizeof(why));
    if (st == BELT_OK && !(out->spec = belt_strdup(spec)))
        st = BELT_ERR_NOMEM;
    if (st != BELT_OK) {
        belt__gold_free(out);
        return belt__error_set(err, st, 0, "--gold '%s': %s", spec,
                               st == BELT_ERR_NOMEM ? "out of memory" : why);
    }
    return BELT_OK;
}

/* ---- item deltas ----------------------------------------------------------------------------- */

void belt__item_delta_event(struct belt__item_delta *d, size_t station, int what, int64_t n,
                            double cost, const char *tier)
{
    if (d->n_ev == d->cap_ev) {
        size_t cap = d->cap_ev ? d->cap_ev * 2 : 16;
        struct belt__stat_event *v = belt_realloc(d->ev, cap * sizeof(*v));
        if (!v)
            return; /* statistics are best effort under memory pressure */
        d->ev = v;
        d->cap_ev = cap;
    }
    struct belt__stat_event *e = &d->ev[d->n_ev++];
    e->station = (uint32_t)station;
    e->what = (uint32_t)what;
    e->n = n;
    e->cost = cost;
    snprintf(e->tier, sizeof(e->tier), "%s", tier ? tier : "");
}

void belt__item_delta_deinit(struct belt__item_delta *d)
{
    belt_free(d->ev);
    belt_free(d->reason);
    belt_free(d->gold);
    memset(d, 0, sizeof(*d));
}

static void apply_event(struct belt__station_stats *ss, const struct belt__stat_event *e)
{
    uint64_t n = e->n > 0 ? (uint64_t)e->n : 0;
    switch (e->what) {
    case BELT__SC_RUNS:
        ss->runs += n;
        break;
    case BELT__SC_OK:
        ss->ok += n;
        break;
    case BELT__SC_SKIPPED:
        ss->skipped += n;
        break;
    case BELT__SC_FAILED:
        ss->failed += n;
        break;
    case BELT__SC_CACHED:
        ss->cached += n;
        break;
    case BELT__SC_PARKED:
        ss->parked += n;
        break;
    case BELT__SC_RETRIED:
        ss->retried += n;
        break;
    case BELT__SC_ESCALATED:
        ss->escalated += n;
        break;
    case BELT__SC_LATENCY:
        belt__hist_add(&ss->lat, e->n);
        break;
    case BELT__SC_COST:
        ss->cost_usd += e->cost;
        break;
    case BELT__SC_TIER:
        tier_add(ss, e->tier, 1);
        break;
    default:
        break;
    }
}

void belt__line_stats_apply(struct belt__line_stats *s, const struct belt__item_delta *d)
{
    for (size_t i = 0; i < d->n_ev; i++)
        if (d->ev[i].station < s->n_stations)
            apply_event(&s->st[d->ev[i].station], &d->ev[i]);
    s->items++;
    s->cost_usd += d->cost_usd;
    s->escalations += d->escalations;
    belt__hist_add(&s->lat, d->latency_us);
    switch (d->outcome) {
    case 0:
        s->ok++;
        break;
    case 1:
        s->review++;
        break;
    case 2:
        s->dropped++;
        break;
    default:
        s->errors++;
        break;
    }
    if (d->reason && (d->outcome == 1 || d->outcome == 2)) {
        size_t n = strlen(d->reason_station);
        int prefixed = n && strncmp(d->reason, d->reason_station, n) == 0 && d->reason[n] == ':';
        belt__line_stats_reason(s, n && !prefixed ? d->reason_station : NULL, d->reason);
    }
    for (size_t g = 0; d->gold && g < d->n_gold && g < s->n_gold; g++) {
        s->gold[g].n += d->gold[3 * g];
        s->gold[g].answered += d->gold[3 * g + 1];
        s->gold[g].correct += d->gold[3 * g + 2];
    }
}
