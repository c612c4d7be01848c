/*
 * summary.c — the summary of a line run (belt_line_summary_*): counts, cost per item, latency
 * quantiles per station, share answered per tier, escalations, review and drop reasons and
 * accuracy per gold spec, as JSON and as an aligned text report.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "line/run.h"
#include "util/buf.h"
#include "util/json.h"

const char *belt_line_outcome_name(int outcome)
{
    static const char *const names[] = {"ok", "needs_review", "dropped", "error"};
    return outcome >= 0 && outcome < 4 ? names[outcome] : "?";
}

struct belt_line_summary *belt__summary_new(const struct belt_cfg_line *line,
                                            const char *const *gold, size_t n_gold)
{
    struct belt_line_summary *s = belt_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    size_t n = line->n_stations + line->n_tools;
    s->n_stations = n;
    s->line = belt_strdup(line->name);
    s->stations = belt_calloc(n, sizeof(char *));
    s->kinds = belt_calloc(n, sizeof(int));
    s->is_tool = belt_calloc(n, sizeof(int));
    s->gold = belt_calloc(n_gold ? n_gold : 1, sizeof(char *));
    int ok = s->line && s->stations && s->kinds && s->is_tool && s->gold &&
             belt__line_stats_init(&s->stats, n, n_gold) == BELT_OK;
    for (size_t i = 0; ok && i < n; i++) {
        const struct belt_cfg_station *st =
            i < line->n_stations ? &line->stations[i] : &line->tools[i - line->n_stations];
        s->kinds[i] = st->kind;
        s->is_tool[i] = st->is_tool;
        ok = (s->stations[i] = belt_strdup(st->name)) != NULL;
    }
    for (size_t i = 0; ok && i < n_gold; i++) {
        ok = (s->gold[i] = belt_strdup(gold[i])) != NULL;
        s->n_gold = i + 1;
    }
    if (!ok) {
        belt_line_summary_free(s);
        return NULL;
    }
    return s;
}

void belt_line_summary_free(struct belt_line_summary *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->stations && i < s->n_stations; i++)
        belt_free(s->stations[i]);
    for (size_t i = 0; i < s->n_gold; i++)
        belt_free(s->gold[i]);
    belt_free(s->stations);
    belt_free(s->kinds);
    belt_free(s->is_tool);
    belt_free(s->gold);
    belt__line_stats_deinit(&s->stats);
    belt_free(s->line);
    belt_free(s->stopped);
    belt_free(s);
}

void belt_line_summary_counts(const struct belt_line_summary *s, struct belt_line_counts *out)
{
    memset(out, 0, sizeof(*out));
    const struct belt__line_stats *t = &s->stats;
    out->run_id = s->run_id;
    out->line = s->line;
    out->complete = s->complete;
    out->items = (int64_t)t->items;
    out->ok = (int64_t)t->ok;
    out->reviews = (int64_t)t->review;
    out->dropped = (int64_t)t->dropped;
    out->errors = (int64_t)t->errors;
    out->bad_input = (int64_t)t->bad_input;
    out->escalations = (int64_t)t->escalations;
    out->cost_usd = t->cost_usd;
    out->seconds = s->seconds;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *quantiles(const struct belt__hist *h)
{
    return json_pack("{sf sf sf sf}", "p50", belt__hist_quantile(h, 0.50), "p95",
                     belt__hist_quantile(h, 0.95), "p99", belt__hist_quantile(h, 0.99), "mean",
                     h->n ? h->sum_us / (double)h->n : 0.0);
}

static json_t *station_summary(const struct belt_line_summary *s, size_t i)
{
    const struct belt__station_stats *ss = &s->stats.st[i];
    json_t *tiers = json_object();
    for (size_t t = 0; tiers && t < ss->n_tiers; t++)
        json_object_set_new(tiers, ss->tiers[t].label,
                            json_pack("{sI sf}", "n", (json_int_t)ss->tiers[t].n, "share",
                                      ss->ok ? (double)ss->tiers[t].n / (double)ss->ok : 0.0));
    return json_pack("{ss ss sb sI sI sI sI sI sI sI sI sf so so}", "name", s->stations[i], "kind",
                     belt__station_kind_names[s->kinds[i]], "tool", s->is_tool[i], "runs",
                     (json_int_t)ss->runs, "ok", (json_int_t)ss->ok, "skipped",
                     (json_int_t)ss->skipped, "failed", (json_int_t)ss->failed, "cached",
                     (json_int_t)ss->cached, "parked", (json_int_t)ss->parked, "retried",
                     (json_int_t)ss->retried, "escalated", (json_int_t)ss->escalated, "cost_usd",
                     ss->cost_usd, "latency_us", quantiles(&ss->lat), "tiers", tiers);
}

static json_t *summary_obj(const struct belt_line_summary *s)
{
    const struct belt__line_stats *t = &s->stats;
    json_t *stations = json_array(), *reasons = json_object(), *acc = json_array();
    for (size_t i = 0; stations && i < s->n_stations; i++)
        json_array_append_new(stations, station_summary(s, i));
    for (size_t i = 0; reasons && i < t->n_reasons; i++)
        json_object_set_new(reasons, t->reasons[i].key, json_integer((json_int_t)t->reasons[i].n));
    for (size_t g = 0; acc && g < s->n_gold; g++) {
        const struct belt__gold_stats *gs = &t->gold[g];
        json_array_append_new(
            acc,
            json_pack(
                "{ss sI sI sI so so}", "gold", s->gold[g], "n", (json_int_t)gs->n, "answered",
                (json_int_t)gs->answered, "correct", (json_int_t)gs->correct, "accuracy",
                gs->answered ? json_real((double)gs->correct / (double)gs->answered) : json_null(),
                "coverage", gs->n ? json_real((double)gs->answered / (double)gs->n) : json_null()));
    }
    double items = (double)t->items;
    return json_pack(
        "{ss ss sb ss* sf sI sf sI s{sI sI sI sI} sI sf sf sI sf so so so so}", "run_id", s->run_id,
        "line", s->line, "complete", s->complete, "stopped", s->stopped, "seconds", s->seconds,
        "items_this_run", (json_int_t)s->items_this_time, "items_per_s",
        s->seconds > 0 ? (double)s->items_this_time / s->seconds : 0.0, "items",
        (json_int_t)t->items, "outcomes", "ok", (json_int_t)t->ok, "needs_review",
        (json_int_t)t->review, "dropped", (json_int_t)t->dropped, "error", (json_int_t)t->errors,
        "bad_input", (json_int_t)t->bad_input, "cost_usd", t->cost_usd, "cost_per_item_usd",
        items > 0 ? t->cost_usd / items : 0.0, "escalations", (json_int_t)t->escalations,
        "escalation_rate", items > 0 ? (double)t->escalations / items : 0.0, "latency_us",
        quantiles(&t->lat), "stations", stations, "reasons", reasons, "accuracy", acc);
}

char *belt_line_summary_json(const struct belt_line_summary *s)
{
    json_t *o = summary_obj(s);
    char *out = o ? belt_json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return out;
}

/* ---- text ------------------------------------------------------------------------------------ */

static const char *dur(double us, char *buf, size_t cap)
{
    if (us < 1000)
        snprintf(buf, cap, "%.0fµs", us);
    else if (us < 1e6)
        snprintf(buf, cap, "%.1fms", us / 1e3);
    else
        snprintf(buf, cap, "%.2fs", us / 1e6);
    return buf;
}

static void station_line(struct belt_buf *b, const struct belt_line_summary *s, size_t i)
{
    const struct belt__station_stats *ss = &s->stats.st[i];
    char p50[16], p95[16], p99[16];
    belt_buf_printf(b, "  %-16.16s %-9s %7llu %7llu %6llu %6llu %6llu  %8s %8s %8s  $%-9.4f",
                    s->stations[i], belt__station_kind_names[s->kinds[i]],
                    (unsigned long long)ss->runs, (unsigned long long)ss->ok,
                    (unsigned long long)ss->skipped, (unsigned long long)ss->failed,
                    (unsigned long long)ss->cached, dur(belt__hist_quantile(&ss->lat, .5), p50, 16),
                    dur(belt__hist_quantile(&ss->lat, .95), p95, 16),
                    dur(belt__hist_quantile(&ss->lat, .99), p99, 16), ss->cost_usd);
    for (size_t t = 0; t < ss->n_tiers; t++)
        belt_buf_printf(b, "%s%s %.0f%%", t ? ", " : " ", ss->tiers[t].label,
                        ss->ok ? 100.0 * (double)ss->tiers[t].n / (double)ss->ok : 0.0);
    belt_buf_putc(b, '\n');
}

char *belt_line_summary_text(const struct belt_line_summary *s)
{
    const struct belt__line_stats *t = &s->stats;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    double items = (double)t->items;
    char a[16], c[16], d[16];
    belt_buf_printf(&b, "line %s, run %s: %s\n", s->line, s->run_id,
                    s->complete  ? "complete"
                    : s->stopped ? s->stopped
                                 : "incomplete");
    belt_buf_printf(&b, "  items       %llu (this time %lld in %.1f s, %.0f items/s)\n",
                    (unsigned long long)t->items, (long long)s->items_this_time, s->seconds,
                    s->seconds > 0 ? (double)s->items_this_time / s->seconds : 0.0);
    belt_buf_printf(&b,
                    "  outcomes    ok %llu, needs review %llu, dropped %llu, errors %llu; bad "
                    "input %llu\n",
                    (unsigned long long)t->ok, (unsigned long long)t->review,
                    (unsigned long long)t->dropped, (unsigned long long)t->errors,
                    (unsigned long long)t->bad_input);
    belt_buf_printf(&b, "  cost        $%.4f total, $%.6f per item\n", t->cost_usd,
                    items > 0 ? t->cost_usd / items : 0.0);
    belt_buf_printf(&b, "  escalations %llu (%.1f%% of items)\n",
                    (unsigned long long)t->escalations,
                    items > 0 ? 100.0 * (double)t->escalations / items : 0.0);
    belt_buf_printf(&b, "  latency     p50 %s, p95 %s, p99 %s per item\n\n",
                    dur(belt__hist_quantile(&t->lat, .5), a, 16),
                    dur(belt__hist_quantile(&t->lat, .95), c, 16),
                    dur(belt__hist_quantile(&t->lat, .99), d, 16));
    belt_buf_printf(&b, "  %-16s %-9s %7s %7s %6s %6s %6s  %8s %8s %8s  %-10s answered by\n",
                    "station", "kind", "runs", "ok", "skip", "fail", "cache", "p50", "p95", "p99",
                    "cost");
    for (size_t i = 0; i < s->n_stations; i++)
        station_line(&b, s, i);
    if (t->n_reasons) {
        belt_buf_printf(&b, "\n  reviews and drops by reason:\n");
        for (size_t i = 0; i < t->n_reasons; i++)
            belt_buf_printf(&b, "  %7llu  %s\n", (unsigned long long)t->reasons[i].n,
                            t->reasons[i].key);
    }
    if (s->n_gold) {
        belt_buf_printf(&b, "\n  accuracy against gold fields:\n");
        for (size_t g = 0; g < s->n_gold; g++) {
            const struct belt__gold_stats *gs = &t->gold[g];
            belt_buf_printf(
                &b, "  %-34s %6.1f%%  (%llu correct of %llu answered; %.1f%% coverage)\n",
                s->gold[g], gs->answered ? 100.0 * (double)gs->correct / (double)gs->answered : 0.0,
                (unsigned long long)gs->correct, (unsigned long long)gs->answered,
                gs->n ? 100.0 * (double)gs->answered / (double)gs->n : 0.0);
        }
    }
    return belt_buf_detach(&b, NULL);
}
